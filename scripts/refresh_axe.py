#!/usr/bin/env python3
"""Refresh the vendored axe-core in tests/vendor/axe-core/ from the npm registry.

    python3 scripts/refresh_axe.py [--registry URL] [--check]

tests/test_console.py runs axe-core (Deque's accessibility engine, MPL-2.0) inside headless
Chromium on every console page and fails on serious or critical violations. The browser can
reach nothing but the test server, so the engine is a file in the repository, put there by this
script, which (like scripts/refresh_graphiql.py, whose download checks it reuses) needs neither
Node nor npm: it reads the pinned version's metadata, checks its `dist.integrity` against PIN,
downloads the tarball, checks its SHA-512 against the same pin and writes `axe.min.js`, the
license text and `manifest.json` (version, integrity, sha256 of the file). It is a test tool,
not shipped in the package. `--check` compares without writing (exit 1 when they differ).

To move to another version: set PIN's version and the integrity that
`npm view axe-core@<version> dist.integrity` prints, run this, then tests/test_console.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "tests" / "vendor" / "axe-core"


# The registry download and checks of refresh_graphiql.py, not a second copy of them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import refresh_graphiql as refresh  # noqa: E402

PIN = refresh.Pin(
    "axe-core",
    "4.14.1",
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    {"axe.min.js": "package/axe.min.js"},
    "package/LICENSE",
)


def build(registry: str) -> dict[str, bytes]:
    members = refresh.read_members(
        refresh.download(PIN, registry), set(PIN.files.values()) | {PIN.license}
    )
    body = members[PIN.files["axe.min.js"]]
    manifest = {
        "comment": "Written by scripts/refresh_axe.py; do not edit by hand.",
        "package": PIN.package,
        "version": PIN.version,
        "integrity": PIN.integrity,
        "license": "MPL-2.0",
        "file": "axe.min.js",
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
    }
    return {
        "axe.min.js": body,
        "LICENSE.txt": members[PIN.license],
        "manifest.json": (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default=refresh.DEFAULT_REGISTRY)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a change")
    args = parser.parse_args(argv)
    outputs = build(args.registry)
    changed = [
        name
        for name, body in outputs.items()
        if not (TARGET / name).is_file() or (TARGET / name).read_bytes() != body
    ]
    if args.check:
        for name in changed:
            print(f"differs: {name}")
        return 1 if changed else 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (TARGET / name).write_bytes(outputs[name])
        print(f"wrote {name}")
    print(f"axe-core {PIN.version}: {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
