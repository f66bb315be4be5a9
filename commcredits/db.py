"""The database: one peewee proxy, bound from a URL, plus the per-tenant write lock.

SQLite (WAL, file) is the embedded default and PostgreSQL the scale-out database; the same
models and queries run on both.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

db = peewee.DatabaseProxy()

_recorders_lock = threading.Lock()
_recorders: list[list[str]] = []


class _Counting:
    """Lets tests count the SQL statements an operation costs (peewee's assertQueryCount idea)."""

    def execute_sql(self, sql, params=None):  # noqa: ANN001 - peewee's signature
        _record(sql)
        return super().execute_sql(sql, params)


class SqliteDatabase(_Counting, PooledSqliteDatabase):
    pass


class PostgresqlDatabase(_Counting, PooledPostgresqlDatabase):
    pass


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Collect every SQL statement executed (in any thread) while the block runs."""
    rec: list[str] = []
    with _recorders_lock:
        _recorders.append(rec)
    try:
        yield rec
    finally:
        with _recorders_lock:
            _recorders.remove(rec)


SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 30_000,
    "cache_size": -32_000,
}


def make_database(url: str) -> peewee.Database:
    """Build a pooled database from `sqlite:///path` or `postgresql://user@host:port/name`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path or path == ":memory:":
            raise ValueError("commcredits needs a SQLite *file* (WAL mode); got " + url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE: every write transaction takes the write lock at BEGIN, so two writers
        # never deadlock upgrading a read lock (SQLITE_BUSY mid-transaction).
        return SqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            check_same_thread=False,
            max_connections=64,
            stale_timeout=600,
            timeout=30,
        )
    if parsed.scheme in ("postgres", "postgresql"):
        return PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port or 5432,
            max_connections=64,
            stale_timeout=600,
            timeout=30,
        )
    raise ValueError(
        f"unsupported database URL scheme {parsed.scheme!r} (use sqlite or postgresql)"
    )


def bind(url: str) -> peewee.Database:
    """Point the proxy at the database named by `url` (closing any previous one)."""
    if db.obj is not None:
        close()
    database = make_database(url)
    db.initialize(database)
    return database


def close() -> None:
    if db.obj is not None:
        if isinstance(db.obj, PooledSqliteDatabase | PooledPostgresqlDatabase):
            db.obj.close_all()
        else:
            db.obj.close()


def is_sqlite() -> bool:
    return isinstance(db.obj, peewee.SqliteDatabase)


def insert_rows(model: type[peewee.Model], rows: list[dict]) -> None:
    """Insert many rows with one prepared statement (hot paths: license batches, audit, calls).

    peewee's `insert_many` builds SQL value by value, which costs more than the database does
    for large batches; this builds the statement once and lets the driver bind the rows.
    Every row must have the same keys (field names); fields left out take their defaults.
    """
    if not rows:
        return
    names = list(rows[0])
    # Like peewee's insert_many: fields left out take their Python-side default.
    defaults = {
        f.name: f.default
        for f in model._meta.sorted_fields
        if f.name not in rows[0] and f.default is not None and not f.primary_key
    }
    if defaults:
        names += list(defaults)
        rows = [row | {n: (d() if callable(d) else d) for n, d in defaults.items()} for row in rows]
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    sqlite = is_sqlite()

    def converter(field: peewee.Field):
        # Batches repeat values (the same `now`, tenant, action): convert each object once.
        last: list[object] = [object(), None]

        def convert(raw: object) -> object:
            if raw is last[0]:
                return last[1]
            converted = field.db_value(raw)
            if sqlite and isinstance(converted, dt.datetime):
                converted = converted.isoformat(" ")  # what sqlite3's default adapter stores
            last[0], last[1] = raw, converted
            return converted

        return convert

    converters = [converter(f) for f in fields]
    values = [
        tuple(conv(row[n]) for conv, n in zip(converters, names, strict=True)) for row in rows
    ]
    table = model._meta.table_name
    cursor = db.cursor()
    if sqlite:
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(fields))})'
        _record(sql)
        cursor.executemany(sql, values)
    else:
        from psycopg2.extras import execute_values

        sql = f'INSERT INTO "{table}" ({columns}) VALUES %s'
        _record(sql)
        execute_values(cursor, sql, values, page_size=1000)


def _record(sql: str) -> None:
    if _recorders:
        with _recorders_lock:
            for rec in _recorders:
                rec.append(sql)


@contextmanager
def tenant_lock(tenant_id: int) -> Iterator[None]:
    """One write transaction holding the tenant's lock (SPEC §4).

    PostgreSQL: `SELECT … FOR UPDATE` on the tenant row serializes writers of one tenant while
    other tenants proceed. SQLite: the database was opened with BEGIN IMMEDIATE, which already
    serializes all writers. Nested use joins the outer transaction (a savepoint).
    """
    from commcredits.models import Tenant  # local: models import this module

    with db.atomic():
        if not is_sqlite():
            list(Tenant.select(Tenant.id).where(Tenant.id == tenant_id).for_update())
        yield


@contextmanager
def write() -> Iterator[None]:
    """A write transaction with no tenant to lock (operator changes to shared tables)."""
    with db.atomic():
        yield
