#!/usr/bin/env python3
"""Refresh the vendored uPlot (the console's chart library) from the npm registry.

    python3 scripts/refresh_uplot.py [--registry URL] [--check]

The console's credits page draws the balance of the last 90 days with uPlot (Leon Sorokin's
small canvas charting library, MIT). The console loads nothing from another origin, so the
library is shipped inside the Python package, put there by this script, which (like
scripts/refresh_axe.py) reuses the download checks of scripts/refresh_graphiql.py and needs
neither Node nor npm: it reads the pinned version's metadata, checks its `dist.integrity`
against PIN, downloads the tarball, checks its SHA-512 against the same pin, and writes

- commcredits/console/static/vendor/uplot/uPlot.min.js and uPlot.min.css: served by the app
  and loaded by the page (credits-chart.js imports the module, history.css @imports the
  stylesheet). The module is the package's minified IIFE build (`var uPlot=function(){…}();`,
  two lines) with `export default uPlot;` appended: the package's ES module build is not
  minified (6,000 lines; the console keeps every module under 400), and a top-level `var` in
  a module is the module's own, so nothing lands on `window`;
- commcredits/console/vendor-licenses/uplot/LICENSE and manifest.json (version, integrity,
  sha256 and size of each file written): shipped in the package but not under static/, which
  serves only what the page loads.

Besides that export line, two bytes-level changes may be made, and are recorded in the
manifest: a trailing `//# sourceMappingURL=` comment is dropped (the map is not shipped), and
the `https://` of web addresses in comment lines (the license banner's project address) is
dropped, so `github.com/leeoniya/uPlot` stays readable while the console's files carry no
absolute URL (tests/test_console.py checks; an address left in code stops the script).
`--check` compares without writing (exit 1 when they differ).

To move to another version: set PIN's version and the integrity that
`npm view uplot@<version> dist.integrity` prints, run this, then tests/test_balance_history.py
and tests/test_console_activity.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "commcredits" / "console"
TARGET = CONSOLE / "static" / "vendor" / "uplot"
LICENSES = CONSOLE / "vendor-licenses" / "uplot"
URL_SCHEME = re.compile(rb"https?://")
COMMENT_LINE = re.compile(rb"^\s*(?://|/?\*)")
MODULE_EXPORT = b"export default uPlot;\n"


# The registry download and checks of refresh_graphiql.py, not a second copy of them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import refresh_graphiql as refresh  # noqa: E402

PIN = refresh.Pin(
    "uplot",
    "1.6.32",
    "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
    {
        "uPlot.min.js": "package/dist/uPlot.iife.min.js",
        "uPlot.min.css": "package/dist/uPlot.min.css",
    },
    "package/LICENSE",
)


def cleaned(name: str, body: bytes) -> tuple[bytes, list[str]]:
    """The file as shipped, and what was changed from the tarball's bytes."""
    changes = []
    body, stripped = refresh.without_source_map(body)
    if stripped:
        changes.append("trailing sourceMappingURL comment removed")
    lines = body.split(b"\n")
    count = 0
    for i, line in enumerate(lines):
        if COMMENT_LINE.match(line):
            lines[i], n = URL_SCHEME.subn(b"", line)
            count += n
    body = b"\n".join(lines)
    if count:
        changes.append(f"the scheme of {count} web address(es) in comments dropped")
    if name.endswith(".js"):
        if not body.startswith(b"/*!") or b"\nvar uPlot=function(){" not in body:
            raise SystemExit(f"{name}: not the IIFE build this script knows how to wrap")
        body = body.rstrip(b"\n") + b"\n" + MODULE_EXPORT
        changes.append("`export default uPlot;` appended: the IIFE build as an ES module")
    if re.search(rb"https?://", body):
        raise SystemExit("an absolute URL is left in the file; the console's files carry none")
    return body, changes


def build(registry: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(files for static/vendor/uplot/, files for vendor-licenses/uplot/)."""
    members = refresh.read_members(
        refresh.download(PIN, registry), set(PIN.files.values()) | {PIN.license}
    )
    assets: dict[str, bytes] = {}
    files: dict[str, dict] = {}
    for name, path in PIN.files.items():
        body, changes = cleaned(name, members[path])
        assets[name] = body
        files[name] = {
            "source": path.removeprefix("package/"),
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            "changed": changes,
        }
    manifest = {
        "comment": "Written by scripts/refresh_uplot.py; do not edit by hand.",
        "package": PIN.package,
        "version": PIN.version,
        "integrity": PIN.integrity,
        "license": "MIT",
        "files": files,
    }
    return assets, {
        "LICENSE": members[PIN.license],
        "manifest.json": (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default=refresh.DEFAULT_REGISTRY)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a change")
    args = parser.parse_args(argv)
    assets, licenses = build(args.registry)
    outputs = {TARGET / n: b for n, b in assets.items()} | {
        LICENSES / n: b for n, b in licenses.items()
    }
    changed = [p for p, body in outputs.items() if not p.is_file() or p.read_bytes() != body]
    if args.check:
        for path in changed:
            print(f"differs: {path.relative_to(ROOT)}")
        return 1 if changed else 0
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(outputs[path])
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"uplot {PIN.version}: {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
