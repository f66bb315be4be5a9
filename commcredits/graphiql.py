"""GraphiQL at GET /graphql, with every file it loads served by this app.

The browser code (React 18, GraphiQL 4 with the explorer plugin, the graphql-ws client) is
shipped in the package under static/graphiql/, put there by scripts/refresh_graphiql.py, which
names each file after its content hash and lists it in manifest.json. So the page works
without internet access and references no other origin, and each asset URL can be cached for
ever: a new version is a new URL. The page's own script and styles (page.js, page.css, the
icon) sit in the same folder under plain names and are hashed when the app loads them, so
editing them needs no refresh run.

The page itself is never cached (it names the current asset URLs) and carries a
Content-Security-Policy of 'self' only: it has no inline script (its per-page values travel in
a JSON block), and the one inline <style> GraphiQL adds at run time carries a per-response nonce.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from commcredits import page_policy

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
ASSET_PATH = "/graphiql-assets"
IMMUTABLE = "public, max-age=31536000, immutable"
HASH_CHARS = 12  # as scripts/refresh_graphiql.py names the vendor files

# In load order: the UMD builds set window globals the later files read (React, ReactDOM,
# GraphiQL, GraphiQLPluginExplorer, graphqlWs), and page.js starts GraphiQL with them.
SCRIPTS = ("react.js", "react-dom.js", "graphiql.js", "explorer.js", "graphql-ws.js", "page.js")
STYLES = ("graphiql.css", "explorer.css", "page.css")
OWN_FILES = ("page.js", "page.css", "favicon.svg")
MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
GZIP_MIN_BYTES = 1024

WELCOME_QUERY = """# commcredits — GraphQL API
#
# Put your key in the Headers tab: {"Authorization": "Bearer cck_…"}
# Ctrl-Enter runs; Ctrl-Space completes.
# The Docs and Explorer panes list every query and mutation.

query Overview {
  viewer { role tenant { name currency agreementType } }
  tenant {
    balance {
      remaining { amount currency }
      lots(first: 5) { nodes { remaining { amount } expiresAt } }
    }
    autoRecharge { enabled topUp { amount currency } threshold { amount currency } }
  }
  subscribedSkus { skuPartNumber consumedUnits availableUnits }
  users(first: 10) {
    totalCount
    nodes { userPrincipalName usageLocation assignedLicenses { skuPartNumber } }
  }
}
"""

PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>commcredits — GraphiQL</title>
    <link rel="icon" type="image/svg+xml" href="{icon}">
{styles}
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
    <script id="graphiql-config" type="application/json">{config}</script>
{scripts}
  </body>
</html>
"""

# A Host header worth naming in the CSP: a DNS name or an IP literal, an optional port. Anything
# else (absent, or crafted to smuggle a directive) leaves connect-src at 'self'.


class MissingAssets(RuntimeError):
    """GraphiQL's files are not in the package (a broken install or an unrun refresh)."""


@dataclass
class Asset:
    name: str  # the hashed name in the URL
    body: bytes
    media_type: str
    sha256: str
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def integrity(self) -> str:
        """The `integrity` attribute value (Subresource Integrity) of the tag that loads it."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.sha256)).decode()

    async def gzipped(self) -> bytes:
        # Compressed on first use, on a worker thread: graphiql.js (1 MB) takes tens of ms,
        # once per process, and apps that never serve the page never pay for it.
        if self._gzipped is None:
            self._gzipped = await anyio.to_thread.run_sync(
                functools.partial(gzip.compress, self.body, compresslevel=9, mtime=0)
            )
        return self._gzipped


def hashed_name(logical: str, body: bytes) -> str:
    stem, _, ext = logical.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}.{ext}"


def script_json(value: Any) -> str:
    """JSON that cannot end the <script> block it sits in, nor open a comment or CDATA."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def content_security_policy(request: HTTPConnection, style_nonce: str) -> str:
    """GraphiQL's policy: the app's own, plus this response's nonce for the one <style>
    element GraphiQL's dialogs add at run time, and its inline data: fonts."""
    return page_policy.content_security_policy(
        request, style=("'self'", f"'nonce-{style_nonce}'"), fonts=True
    )


@dataclass
class GraphiQLPage:
    """The page and its assets, read once from `directory`."""

    assets: dict[str, Asset]  # by hashed name: what /graphiql-assets/<name> serves
    by_logical: dict[str, Asset]  # by logical name ("graphiql.js"): what the page links
    manifest: dict[str, Any]

    @classmethod
    def from_directory(cls, directory: Path = STATIC_DIR) -> GraphiQLPage:
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            files = {
                logical: (entry["file"], (directory / entry["file"]).read_bytes())
                for logical, entry in manifest["assets"].items()
            }
            for logical in OWN_FILES:
                body = (directory / logical).read_bytes()
                files[logical] = (hashed_name(logical, body), body)
        except (OSError, ValueError, KeyError) as error:
            raise MissingAssets(
                f"GraphiQL's files in {directory} are missing or unreadable ({error}); "
                "reinstall the package, or run scripts/refresh_graphiql.py in a checkout"
            ) from error
        by_logical = {
            logical: Asset(
                name=name,
                body=body,
                media_type=MEDIA_TYPES[name.rpartition(".")[2]],
                sha256=hashlib.sha256(body).hexdigest(),
            )
            for logical, (name, body) in files.items()
        }
        missing = set(SCRIPTS + STYLES) - by_logical.keys()
        if missing:
            raise MissingAssets(f"manifest.json in {directory} lacks {sorted(missing)}")
        return cls({a.name: a for a in by_logical.values()}, by_logical, manifest)

    def url(self, logical: str) -> str:
        # Relative to the page (/graphql), so the page also works behind a proxy that mounts
        # the app under a path prefix.
        return f"{ASSET_PATH.lstrip('/')}/{self.by_logical[logical].name}"

    def html(self, style_nonce: str) -> str:
        styles = "\n".join(
            f'    <link rel="stylesheet" href="{self.url(n)}"'
            f' integrity="{self.by_logical[n].integrity}">'
            for n in STYLES
        )
        scripts = "\n".join(
            f'    <script defer src="{self.url(n)}"'
            f' integrity="{self.by_logical[n].integrity}"></script>'
            for n in SCRIPTS
        )
        config = {"query": WELCOME_QUERY, "styleNonce": style_nonce}
        return PAGE.format(
            icon=self.url("favicon.svg"), styles=styles, scripts=scripts, config=script_json(config)
        )

    def page(self, request: Request) -> Response:
        """GET /graphql: the page, fresh on every load (it names the current asset URLs)."""
        nonce = secrets.token_urlsafe(18)
        return HTMLResponse(
            self.html(nonce),
            headers={
                "cache-control": "no-cache",
                "content-security-policy": content_security_policy(request, nonce),
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    async def asset(self, request: Request) -> Response:
        """GET /graphiql-assets/<hashed name>: only names the page links; anything else 404.
        The name is a dictionary key, never a path, so nothing else on disk is reachable."""
        found = self.assets.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        headers = {
            "cache-control": IMMUTABLE,
            "x-content-type-options": "nosniff",
            "vary": "accept-encoding",
        }
        body = found.body
        if len(body) >= GZIP_MIN_BYTES and accepts_gzip(request):
            body = await found.gzipped()
            headers["content-encoding"] = "gzip"
        return Response(body, media_type=found.media_type, headers=headers)

    def routes(self) -> list[Route]:
        return [Route(ASSET_PATH + "/{name}", self.asset, methods=["GET"])]


@functools.cache
def graphiql_page(directory: Path = STATIC_DIR) -> GraphiQLPage:
    """The package's GraphiQL, read once per process (every app in it shares the bytes)."""
    return GraphiQLPage.from_directory(directory)
