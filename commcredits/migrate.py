"""Schema migrations: peewee's runner over the numbered scripts in `commcredits/migrations/`.

A history table (`schema_migration`) records each applied script, so every script runs once,
in numeric order, and an older database is brought forward by the scripts it has not seen.
"""

from __future__ import annotations

from pathlib import Path

from playhouse.migrations import Runner

from commcredits.db import db

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def runner() -> Runner:
    return Runner(db.obj, directory=str(MIGRATIONS_DIR))


def migrate(target: str | None = None) -> list[str]:
    """Apply pending migrations (up to `target` if given); returns the names applied."""
    with db.connection_context():
        return runner().up(target)


def pending() -> list[str]:
    with db.connection_context():
        return [m.name for m in runner().status() if m.path is not None and not m.applied]
