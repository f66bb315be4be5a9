"""Backup and restore of the SQLite database with SQLite's online backup API.

The backup API copies a consistent snapshot page by page while the service keeps running
(WAL readers and writers are not stopped), and restore copies a backup back the same way, so
every open connection sees either the old or the restored database, never a torn one.
PostgreSQL deployments use the database's own tools: `pg_dump_command` says which.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse


class BackupError(Exception):
    """A backup or restore that cannot be done (bad path, not a commcredits database, …)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL; None for any other database."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    return Path(unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path))


def _copy(source: Path, target: Path) -> int:
    """Copy `source` into `target` with the backup API; returns the pages copied."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            with dst:
                src.backup(dst, pages=1024)  # in steps, so writers are not held up for long
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    return pages


def _check_commcredits(path: Path) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is damaged (quick_check failed)")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite database: {error}") from error
    if not {"schema_migration", "tenant", "audit_entry"} <= tables:
        raise BackupError(f"{path} is not a commcredits database")


def backup_sqlite(url: str, target: Path) -> int:
    """Write an online, consistent copy of the database at `url` to `target` (a new file)."""
    source = sqlite_path(url)
    if source is None:
        raise BackupError("backup is built in for SQLite only; see pg_dump_command")
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists; give a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    pages = _copy(source, partial)
    # The copy keeps the source's WAL mode; a single-file backup is simpler to move around.
    con = sqlite3.connect(partial)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    partial.rename(target)
    return pages


def restore_sqlite(url: str, source: Path) -> int:
    """Replace the database at `url` with the backup `source`, online (backup API)."""
    target = sqlite_path(url)
    if target is None:
        raise BackupError("restore is built in for SQLite only; see pg_dump_command")
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    _check_commcredits(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    return _copy(source, target)


def pg_dump_command(url: str, target: str) -> tuple[str, str]:
    """The pg_dump and pg_restore commands for a PostgreSQL URL (custom format)."""
    parsed = urlparse(url)
    dsn = urlunparse(parsed._replace(scheme="postgresql"))
    dump = f"pg_dump --format=custom --no-owner --file={shlex.quote(target)} {shlex.quote(dsn)}"
    restore = (
        f"pg_restore --clean --if-exists --no-owner --dbname={shlex.quote(dsn)} "
        f"{shlex.quote(target)}"
    )
    return dump, restore
