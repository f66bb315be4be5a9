"""Entry point for `commcredits <Verb-Noun> ...` (the bulk layer is built in issue #5)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print(f"commcredits: unknown command {argv[0]!r}", file=sys.stderr)
    return 2
