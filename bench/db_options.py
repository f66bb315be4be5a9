"""The databases a bench runs on, side by side in one run: a new SQLite file, then a throwaway
PostgreSQL database on the server at `--pg` (or $COMMCREDITS_BENCH_PG_URL), created for the
bench and dropped after it; `--no-pg` and `--no-sqlite` leave one out."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pg_databases import throwaway_database  # noqa: E402

PG_URL = os.environ.get("COMMCREDITS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def add_options(parser: argparse.ArgumentParser, *, sqlite: bool = True) -> None:
    """--pg URL, and (unless the bench is PostgreSQL's only) --no-pg and --no-sqlite."""
    parser.add_argument(
        "--pg",
        default=PG_URL,
        help="a PostgreSQL server (URL of any database on it) to create a throwaway one on",
    )
    if sqlite:
        parser.add_argument("--no-pg", action="store_true", help="SQLite only")
        parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")


def each_database(args: argparse.Namespace, name: str) -> Iterator[tuple[str, str]]:
    """("SQLite" or "PostgreSQL", its URL) for each database the options leave in, SQLite
    first; each exists until the loop asks for the next one."""
    if not getattr(args, "no_sqlite", True):
        with tempfile.TemporaryDirectory() as tmp:
            yield "SQLite", f"sqlite:///{tmp}/{name}.db"
    if not getattr(args, "no_pg", False):
        with throwaway_database(args.pg, f"commcredits_{name}") as url:
            yield "PostgreSQL", url
