"""The admin console: a single-page app at `/`, built only on the public GraphQL API (README
"Admin console").

Its browser code is plain ES modules and CSS under static/ in this package: no Node, no build
step. All of them are served under one versioned folder, `/console-assets/<version>/…`, where
the version is a hash of every file's path and bytes. The modules import each other by
relative URL ("./api.js"), which stays inside that folder, so hashing the folder instead of
each file keeps the imports untouched while every asset URL still changes whenever any byte
does, and can be cached for ever (immutable).

The index is the same HTML for every page path the console knows (PAGES), so deep links and
reloads work; it is `no-cache` with an ETag, names the current asset folder, and carries a
Content-Security-Policy of 'self' only (no inline script or style at all). The paths are
listed, not caught all, so the console never shadows an API route added later.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from commcredits.page_policy import content_security_policy

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PATH = "/console-assets"
IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_CHARS = 12

# The client-side routes (static/pages/registry.js lists the same paths; a test checks). A new
# page is one module under static/pages/, one entry there and one path here.
PAGES = (
    "/",
    "/sign-in",
    "/credits",
    "/credits/add",
    "/credits/auto-recharge",
    "/credits/billing",
    "/users",
    "/users/user",
    "/licenses",
    "/calls",
    "/activity",
)

MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}

INDEX = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>commcredits</title>
    <link rel="icon" type="image/svg+xml" href="{base}/favicon.svg">
    <link rel="stylesheet" href="{base}/console.css">
    <script type="module" src="{base}/main.js"></script>
  </head>
  <body>
    <div id="app"><p class="loading">Loading…</p></div>
    <noscript>The commcredits console needs JavaScript.</noscript>
  </body>
</html>
"""


# A Host header worth naming in the CSP (as commcredits/graphiql.py): a DNS name or an IP
# literal with an optional port; anything else leaves connect-src at 'self'.
class MissingAssets(RuntimeError):
    """The console's files are not in the package (a broken install)."""


@dataclass(frozen=True)
class ConsoleAssets:
    """The console's files, read once: bodies by relative path, and the folder's version."""

    files: dict[str, bytes]
    version: str

    @classmethod
    def from_directory(cls, directory: Path = STATIC_DIR) -> ConsoleAssets:
        files = {
            path.relative_to(directory).as_posix(): path.read_bytes()
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path.suffix.lstrip(".") in MEDIA_TYPES
        }
        if "main.js" not in files or "console.css" not in files:
            raise MissingAssets(f"the console's files in {directory} are missing")
        digest = hashlib.sha256()
        for name, body in files.items():
            # Length-prefixed, so no two different file sets hash alike.
            digest.update(f"{name}\0{len(body)}\0".encode())
            digest.update(body)
        return cls(files, digest.hexdigest()[:VERSION_CHARS])

    @property
    def base(self) -> str:
        return f"{ASSET_PATH}/{self.version}"

    @functools.cached_property
    def index_html(self) -> str:
        return INDEX.format(base=self.base)

    @functools.cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.index_html.encode()).hexdigest()[:16] + '"'

    async def index(self, request: Request) -> Response:
        """Every console path: the same page; the script picks the view from the URL."""
        headers = {
            "cache-control": "no-cache",
            "etag": self.etag,
            "content-security-policy": content_security_policy(request),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        }
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        return HTMLResponse(self.index_html, headers=headers)

    async def asset(self, request: Request) -> Response:
        """GET /console-assets/<version>/<path>: the current version's files only (a lookup
        by key, never a path on disk); an old version is 404, not stale bytes under an
        immutable header."""
        body = None
        if request.path_params["version"] == self.version:
            body = self.files.get(request.path_params["name"])
        if body is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        name = request.path_params["name"]
        return Response(
            body,
            media_type=MEDIA_TYPES[name.rpartition(".")[2]],
            headers={"cache-control": IMMUTABLE, "x-content-type-options": "nosniff"},
        )


@functools.cache
def console_assets(directory: Path = STATIC_DIR) -> ConsoleAssets:
    return ConsoleAssets.from_directory(directory)


def routes() -> list[Route]:
    """The console's routes for create_app: its pages and its assets."""
    assets = console_assets()
    return [
        *(Route(path, assets.index, methods=["GET"]) for path in PAGES),
        Route(ASSET_PATH + "/{version}/{name:path}", assets.asset, methods=["GET"]),
    ]
