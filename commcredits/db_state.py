"""Is the database a command is about to use there, and migrated? And what is in it.

Read with connections of its own that write nothing (SQLite opened read-only, PostgreSQL in a
read-only session), before peewee opens the database: peewee's SQLite connect creates a
missing file, so a mistyped path or a command run from the wrong place would otherwise start
an empty database and fail later on "no such table". `commcredits migrate` is the one command
that creates a database; every other refuses with the path and the way out
(`require_ready`), and `commcredits info` reports (`inspect`, `tenants`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from playhouse.migrations import Migration

from commcredits.config import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"  # as commcredits.migrate reads them
FIX = "run `commcredits migrate` (or set COMMCREDITS_DATABASE_URL)"


class DatabaseNotReady(ConfigError):
    """No database at the configured place, or one without this code's migrations (exit 2)."""


class DatabaseUnreachable(ConfigError):
    """The database server did not answer (or refused us): nothing can be said about it."""


def masked(url: str) -> str:
    """The URL with its password replaced by ***, fit for output and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_file(url: str) -> Path | None:
    """The absolute file of a `sqlite:///path` URL; None for any other database."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        return None
    return Path(unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)).absolute()


def place(url: str) -> str:
    """Where the database is, for messages: a SQLite file's absolute path, else the URL."""
    return str(sqlite_file(url) or masked(url))


@dataclass(frozen=True)
class DatabaseState:
    url: str  # password masked
    kind: str  # "sqlite" or "postgresql"
    path: str | None  # the SQLite file
    exists: bool  # False: a SQLite file that is not there (nothing else is known)
    applied: tuple[str, ...]  # migrations recorded in schema_migration, in order
    known: tuple[str, ...]  # this code's migrations, in order

    @property
    def where(self) -> str:
        return self.path or self.url

    @property
    def pending(self) -> tuple[str, ...]:
        done = set(self.applied)
        return tuple(name for name in self.known if name not in done)

    @property
    def level(self) -> str | None:
        """The newest applied migration this code knows (the database's schema level)."""
        known = [name for name in self.known if name in set(self.applied)]
        return known[-1] if known else (self.applied[-1] if self.applied else None)

    @property
    def latest(self) -> str | None:
        return self.known[-1] if self.known else None

    def problem(self) -> str | None:
        """Why commands must not use this database (the exit-2 line), or None."""
        if not self.exists:
            return f"no database at {self.where}; {FIX}"
        if not self.applied:
            return f"the database at {self.where} is not migrated (no schema); {FIX}"
        if self.pending:
            return (
                f"the database at {self.where} is at migration {self.level}, "
                f"{len(self.pending)} behind {self.latest}; {FIX}"
            )
        return None

    def as_json(self) -> dict[str, Any]:
        found = asdict(self) | {"level": self.level, "latest": self.latest}
        return found | {"pending": list(self.pending), "applied": list(self.applied)}


def known_migrations() -> tuple[str, ...]:
    return tuple(m.name for m in Migration.load_directory(str(MIGRATIONS_DIR)))


@contextmanager
def read_only(url: str) -> Iterator[Any]:
    """A DB-API cursor on the database at `url` that cannot write (the file must exist)."""
    path = sqlite_file(url)
    if path is not None:
        # mode=ro: SQLite neither creates the file nor writes to it.
        con = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=30)
        with closing(con), closing(con.cursor()) as cursor:
            yield cursor
        return
    import psycopg2  # only PostgreSQL needs it

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(
            f"unsupported database URL scheme {parts.scheme!r} (use sqlite or postgresql)"
        )
    try:
        con = psycopg2.connect(
            dbname=unquote(parts.path.lstrip("/")),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port or 5432,
            connect_timeout=10,
            options="-c default_transaction_read_only=on",
        )
    except psycopg2.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseUnreachable(f"cannot reach the database at {masked(url)}: {first}") from None
    with closing(con), closing(con.cursor()) as cursor:
        yield cursor


def _tables(cursor: Any, kind: str) -> set[str]:
    if kind == "sqlite":
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {row[0] for row in cursor.fetchall()}


def inspect(url: str) -> DatabaseState:
    """What is known of the database at `url` without writing to it (or creating it)."""
    path = sqlite_file(url)
    kind = "sqlite" if path is not None else "postgresql"
    known = known_migrations()
    if path is not None and not path.is_file():
        return DatabaseState(masked(url), kind, str(path), False, (), known)
    try:
        with read_only(url) as cursor:
            applied: tuple[str, ...] = ()
            if "schema_migration" in _tables(cursor, kind):
                cursor.execute("SELECT name FROM schema_migration ORDER BY id")
                applied = tuple(row[0] for row in cursor.fetchall())
    except sqlite3.DatabaseError as error:  # not a database, or a damaged one
        raise DatabaseNotReady(f"{path} is not a usable SQLite database: {error}") from None
    return DatabaseState(masked(url), kind, str(path) if path else None, True, applied, known)


def require_ready(url: str) -> DatabaseState:
    """The state of a database that exists and has every migration; DatabaseNotReady (its
    message names the place and `commcredits migrate`) otherwise."""
    state = inspect(url)
    problem = state.problem()
    if problem:
        raise DatabaseNotReady(problem)
    return state


@dataclass(frozen=True)
class TenantRow:
    id: int
    name: str
    country: str
    currency: str
    agreement_type: str
    users: int


def tenants(url: str) -> list[TenantRow]:
    """Every tenant with its user count, by name (read-only; a migrated database)."""
    from commcredits.models import Tenant, User  # late: the models import the db proxy

    # Plain SQL on the read-only connection; the names come from the models, so it follows
    # them (users live in "directory_user").
    users, tenant = User._meta.table_name, Tenant._meta.table_name
    with read_only(url) as cursor:
        cursor.execute(
            "SELECT t.id, t.name, t.country, t.currency, t.agreement_type, "
            f'(SELECT COUNT(*) FROM "{users}" u WHERE u.tenant_id = t.id) '
            f'FROM "{tenant}" t ORDER BY t.name, t.id'
        )
        return [TenantRow(*row) for row in cursor.fetchall()]
