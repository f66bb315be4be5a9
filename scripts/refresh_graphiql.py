#!/usr/bin/env python3
"""Refresh GraphiQL's browser files in commcredits/static/graphiql/ from the npm registry.

    python3 scripts/refresh_graphiql.py [--registry URL] [--check]

GraphiQL's page (commcredits/graphiql.py) loads nothing from another origin: React, GraphiQL,
its explorer plugin and the graphql-ws client are shipped inside the Python package. This script
is how they get there, and the only step that talks to the npm registry (it needs neither Node
nor npm, only Python 3.11+ and HTTPS to the registry):

1. For each pinned package in PINS, read the version's metadata from the registry
   (`<registry>/<name>/<version>`), check its `dist.integrity` is the one pinned here, download
   `dist.tarball` and check the tarball's SHA-512 against the same pin. A registry that serves
   anything else makes the script stop before it writes a file.
2. Take the few files the page needs out of the tarball (read in memory, never extracted, so a
   hostile archive path cannot write anywhere), drop a trailing `//# sourceMappingURL=` comment
   (the maps are not shipped) and write each as `<logical>.<sha256[:12]>.<ext>`, so a changed
   file gets a new URL and browsers may cache every URL for ever.
3. Write each package's license text to LICENSES/ and `manifest.json` (logical name -> file,
   package, version, sha256, size), which the app reads to build the page. Files of the previous
   manifest that the new one does not list are removed.

The same pins give the same bytes, so running it twice changes nothing. `--check` downloads and
compares without writing (exit 1 when the tree differs).

To move to another version: set it in PINS with the integrity that
`npm view <package>@<version> dist.integrity` prints (or the registry's JSON shows), run the
script, open /graphql in a browser and run tests/test_graphiql.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "commcredits" / "static" / "graphiql"
MANIFEST = STATIC / "manifest.json"
LICENSES = "LICENSES"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
HASH_CHARS = 12
SOURCE_MAP = re.compile(rb"\n?//# sourceMappingURL=[^\n]*\s*\Z")


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    integrity: str  # dist.integrity from the registry: sha512, base64
    files: dict[str, str]  # logical name (what the page asks for) -> path inside the tarball
    license: str | None  # path of the license text inside the tarball


# graphiql 4.x is the last major that ships a UMD build (5.x is ESM-only, on Monaco), and it
# needs React 18 or 19; React 19 has no UMD build, so React is 18.3.1. The explorer plugin 4.x
# matches graphiql 4's @graphiql/react 0.34 (its UMD reads it from window.GraphiQL.React).
PINS = [
    Pin(
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {"react.js": "package/umd/react.production.min.js"},
        "package/LICENSE",
    ),
    Pin(
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {"react-dom.js": "package/umd/react-dom.production.min.js"},
        "package/LICENSE",
    ),
    Pin(
        "graphiql",
        "4.1.2",
        "sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==",
        {"graphiql.js": "package/graphiql.min.js", "graphiql.css": "package/graphiql.min.css"},
        "package/LICENSE",
    ),
    Pin(
        # Its tarball has no license file; it is published from the graphiql repository under
        # that repository's MIT license, which graphiql's LICENSE (above) is.
        "@graphiql/plugin-explorer",
        "4.0.6",
        "sha512-TppIi92YPER3v70nlF01KTQrq9AiYqkZicSd1hpU7aqGmbqw/pLwBNLUEcfENBoJtw574Qxjswb01+GaYK0Tzw==",
        {"explorer.js": "package/dist/index.umd.js", "explorer.css": "package/dist/style.css"},
        None,
    ),
    Pin(
        # Bundled into the plugin's UMD file: downloaded only for its license text.
        "graphiql-explorer",
        "0.9.0",
        "sha512-fZC/wsuatqiQDO2otchxriFO0LaWIo/ovF/CQJ1yOudmY0P7pzDiP+l9CEHUiWbizk3e99x6DQG4XG1VxA+d6A==",
        {},
        "package/LICENSE",
    ),
    Pin(
        "graphql-ws",
        "6.4.2",
        "sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ==",
        {"graphql-ws.js": "package/umd/graphql-ws.min.js"},
        "package/LICENSE.md",
    ),
]
LICENSE_FROM = {"@graphiql/plugin-explorer": "graphiql"}  # packages without their own file


def license_name(package: str) -> str:
    return f"{LICENSES}/{package.lstrip('@').replace('/', '-')}.txt"


def without_source_map(body: bytes) -> tuple[bytes, bool]:
    """The file without a trailing `//# sourceMappingURL=` comment: the map is not shipped, and
    the comment would make a browser's developer tools ask the app for it (a 404)."""
    match = SOURCE_MAP.search(body)
    return (body[: match.start()] + b"\n", True) if match else (body, False)


def hashed_name(logical: str, body: bytes) -> str:
    stem, _, ext = logical.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}.{ext}"


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def download(pin: Pin, registry: str) -> bytes:
    """The package's tarball, after checking the registry's metadata and bytes against the pin."""
    name = urllib.parse.quote(pin.package, safe="@")  # @scope/name -> @scope%2Fname
    meta = json.loads(fetch(f"{registry.rstrip('/')}/{name}/{pin.version}"))
    dist = meta.get("dist", {})
    if dist.get("integrity") != pin.integrity:
        raise SystemExit(
            f"{pin.package}@{pin.version}: the registry says integrity {dist.get('integrity')!r},"
            f" the pin says {pin.integrity!r}; refusing to continue"
        )
    tarball = fetch(dist["tarball"])
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != pin.integrity:
        raise SystemExit(f"{pin.package}@{pin.version}: the tarball's digest is {digest}")
    return tarball


def read_members(tarball: bytes, paths: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.name in paths and member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                found[member.name] = handle.read()
    missing = paths - found.keys()
    if missing:
        raise SystemExit(f"not in the tarball: {sorted(missing)}")
    return found


def build(registry: str) -> tuple[dict[str, bytes], dict]:
    """Every file to write (path relative to STATIC -> bytes) and the manifest."""
    outputs: dict[str, bytes] = {}
    packages: dict[str, dict] = {}
    assets: dict[str, dict] = {}
    licenses: dict[str, bytes] = {}
    for pin in PINS:
        print(f"{pin.package}@{pin.version}", file=sys.stderr)
        wanted = set(pin.files.values()) | ({pin.license} if pin.license else set())
        members = read_members(download(pin, registry), wanted)
        if pin.license:
            licenses[pin.package] = members[pin.license]
        for logical, path in pin.files.items():
            body, stripped = without_source_map(members[path])
            file = hashed_name(logical, body)
            outputs[file] = body
            assets[logical] = {
                "file": file,
                "package": pin.package,
                "source": path.removeprefix("package/"),
                "sha256": hashlib.sha256(body).hexdigest(),
                "bytes": len(body),
            }
            if stripped:
                assets[logical]["changed"] = "trailing sourceMappingURL comment removed"
        packages[pin.package] = {"version": pin.version, "integrity": pin.integrity}
    for pin in PINS:
        text = licenses[LICENSE_FROM.get(pin.package, pin.package)]
        outputs[license_name(pin.package)] = text
        packages[pin.package]["license"] = "MIT"
        packages[pin.package]["license_file"] = license_name(pin.package)
    manifest = {
        "comment": "Written by scripts/refresh_graphiql.py; do not edit by hand.",
        "packages": packages,
        "assets": assets,
    }
    return outputs, manifest


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def previous_files() -> set[str]:
    if not MANIFEST.exists():
        return set()
    old = json.loads(MANIFEST.read_text())
    return {a["file"] for a in old.get("assets", {}).values()} | {
        p["license_file"] for p in old.get("packages", {}).values() if "license_file" in p
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default=DEFAULT_REGISTRY)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a change")
    args = parser.parse_args(argv)
    outputs, manifest = build(args.registry)
    outputs["manifest.json"] = manifest_bytes(manifest)
    changed = sorted(
        path
        for path, body in outputs.items()
        if not (STATIC / path).is_file() or (STATIC / path).read_bytes() != body
    )
    stale = sorted(previous_files() - outputs.keys())
    if args.check:
        for path in changed + stale:
            print(f"differs: {path}")
        return 1 if changed or stale else 0
    (STATIC / LICENSES).mkdir(parents=True, exist_ok=True)
    for path in changed:
        (STATIC / path).write_bytes(outputs[path])
        print(f"wrote {path}")
    for path in stale:
        (STATIC / path).unlink(missing_ok=True)
        print(f"removed {path}")
    total = sum(a["bytes"] for a in manifest["assets"].values())
    print(f"{len(manifest['assets'])} assets, {total:,} bytes; {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
