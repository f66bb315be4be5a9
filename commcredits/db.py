"""The database: one peewee proxy, bound from a URL, plus the per-tenant write lock.

SQLite (WAL, file) is the embedded default and PostgreSQL the scale-out database; the same
models and queries run on both.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase


class _DatabaseProxy(peewee.DatabaseProxy):
    def savepoint(self):  # noqa: ANN201 - the bound database's (see _Savepoint)
        return self.obj.savepoint()


db = _DatabaseProxy()

_recorders_lock = threading.Lock()
_recorders: list[list[str]] = []
_thread = threading.local()


def thread_statements() -> int:
    """SQL statements this thread has executed so far (a request's count is the difference
    between two readings: the metrics' statements per request)."""
    return getattr(_thread, "statements", 0)


class _Counting:
    """Lets tests count the SQL statements an operation costs (peewee's assertQueryCount idea)."""

    def execute_sql(self, sql, params=None):  # noqa: ANN001 - peewee's signature
        _thread.statements = getattr(_thread, "statements", 0) + 1
        _record(sql)
        return super().execute_sql(sql, params)


class _Savepoint(peewee._savepoint):
    """A savepoint whose rollback also drops the `after_commit` callbacks queued inside it, so
    an event (events.py) is never published for a change a savepoint undid."""

    def _begin(self) -> None:
        super()._begin()
        self.mark = len(self.db._state.commit_callbacks)

    def rollback(self, begin: bool = True) -> None:
        del self.db._state.commit_callbacks[getattr(self, "mark", 0) :]
        super().rollback(begin)


class _Callbacks:
    def savepoint(self, sid=None):  # noqa: ANN001, ANN201 - peewee's signature
        return _Savepoint(self, sid)


class SqliteDatabase(_Counting, _Callbacks, PooledSqliteDatabase):
    pass


class PostgresqlDatabase(_Counting, _Callbacks, PooledPostgresqlDatabase):
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
    # 64 MiB of pages per connection, filled as read: a search's count on a 1,000,000-user
    # tenant reads ~10,000 scattered users (~40 MiB of pages), which 32 MiB could not keep
    # (24 ms a count, 8.6 ms with 64).
    "cache_size": -64_000,
    # The write-ahead log is copied into the database file (with an fsync) by the commit
    # that takes it past this many pages (SQLite's default: 1,000, ~4 MB): rarer copies
    # write each busy index page once for many commits. bench_rating: 5,097 -> 5,568 calls/s
    # (and less CPU) for a WAL of at most ~40 MB between copies.
    "wal_autocheckpoint": 10_000,
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


# How many `must_be_migrated()` blocks are open (the `commcredits` command opens one).
_ready_required = 0


@contextmanager
def must_be_migrated() -> Iterator[None]:
    """Within the block, `bind` refuses a database that is not there or lacks migrations.

    The `commcredits` command runs every command in one but `migrate` and the few that judge
    the database themselves (`cli._OWN_DATABASE_CHECK`), so no command, the in-process bulk
    ones included, creates an empty database by connecting to a missing path: peewee's SQLite
    connect would create the file. Library use and tests bind databases they then migrate.
    """
    global _ready_required
    _ready_required += 1
    try:
        yield
    finally:
        _ready_required -= 1


def bind(url: str, *, migrated: bool = False) -> peewee.Database:
    """Point the proxy at the database named by `url` (closing any previous one).

    With `migrated` (or inside `must_be_migrated()`): first check, without creating or writing
    anything, that the database exists and has every migration; `db_state.DatabaseNotReady`
    (a ConfigError naming the path and `commcredits migrate`) if not.
    """
    if migrated or _ready_required:
        from commcredits.db_state import require_ready  # late: it reads the migrations

        require_ready(url)
    if db.obj is not None:
        close()
    database = make_database(url)
    db.initialize(database)
    return database


def close() -> None:
    """Close this thread's connection and every idle pooled one.

    Connections another thread still has checked out are left to it: closing a connection
    under a running statement (the pool's `close_all`) can crash the sqlite3 module.
    """
    if db.obj is not None:
        db.obj.close()
        if isinstance(db.obj, PooledSqliteDatabase | PooledPostgresqlDatabase):
            db.obj.close_idle()


def is_sqlite() -> bool:
    return isinstance(db.obj, peewee.SqliteDatabase)


def sent_as(value: object) -> object:
    """A database-ready value as the driver sends it, for one that many rows share.

    sqlite3 turns a datetime into text for every parameter it appears in (`isoformat(" ")`,
    its default adapter); a batch converts its one timestamp once instead.
    """
    if isinstance(value, dt.datetime) and is_sqlite():
        return value.isoformat(" ")
    return value


def contains(expr: peewee.Node, term: str) -> peewee.Node:
    """`expr` contains `term` as written: LIKE with `%`, `_` and `\\` escaped and its ESCAPE
    clause together (both databases), so no caller can pair one without the other."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return peewee.NodeList((expr, peewee.SQL("LIKE"), f"%{escaped}%", peewee.SQL("ESCAPE '\\'")))


def execute_in(
    sql: str, values: Sequence, *, params: Sequence = (), chunk: int = 500
) -> list[tuple]:
    """Run `sql` for every value in `values`: one statement per chunk of them, `{in}` in the
    text standing for the chunk's parameter list and `params` coming before it. Returns the
    rows it selects (none for an UPDATE or DELETE).

    The hot paths' lookups and changes by many keys use this: peewee's `.in_()` renders each
    value through its query builder, which for 1,000 keys costs more than the database takes
    to answer.
    """
    rows: list[tuple] = []
    for start in range(0, len(values), chunk):
        part = list(values[start : start + chunk])
        marks = "(" + ", ".join([db.obj.param] * len(part)) + ")"
        cursor = db.execute_sql(sql.replace("{in}", marks), [*params, *part])
        if cursor.description is not None:  # psycopg2 refuses fetchall() after a DELETE
            rows += cursor.fetchall()
    return rows


def insert_values(
    table: str,
    columns: Sequence[str],
    rows: list[tuple],
    *,
    returning: Sequence[str] = (),
    on_conflict: str = "",
) -> list[tuple]:
    """Insert rows of database-ready values: one multi-row INSERT per chunk, the SQL text built
    once per chunk. With `returning`, those columns of the new rows (in no particular order);
    `on_conflict`, an `ON CONFLICT …` clause both databases take, makes it an upsert.

    The hot paths (license batches, ledger flushes, rated calls, audit) use this: peewee's
    `insert_many` builds its SQL value by value, which costs more than the database does.
    """
    if not rows:
        return []
    width = len(columns)
    per_chunk = max(1, min(500, 30_000 // width))  # under SQLite's variable limit
    one_row = "(" + ", ".join([db.obj.param] * width) + ")"
    head = f'INSERT INTO "{table}" (' + ", ".join(f'"{c}"' for c in columns) + ") VALUES "
    tail = f" {on_conflict}" if on_conflict else ""
    tail += " RETURNING " + ", ".join(f'"{c}"' for c in returning) if returning else ""
    found: list[tuple] = []
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        params = [value for row in chunk for value in row]
        cursor = db.execute_sql(head + ", ".join([one_row] * len(chunk)) + tail, params)
        if returning:
            found.extend(cursor.fetchall())
    return found


def insert_for_each(
    table: str, fixed: dict[str, object], column: str, values: Sequence[object]
) -> None:
    """One row per value, in `column`, with every other column as `fixed` gives it: one
    statement with a parameter per fixed column and one for all the values (a JSON array on
    SQLite, an array on PostgreSQL), instead of a parameter per cell.

    A license batch inserts a thousand rows that differ only in the user; binding the same
    tenant, SKU, plans and timestamp a thousand times cost more than inserting the rows.
    """
    if not values:
        return
    names = ", ".join(f'"{c}"' for c in (*fixed, column))
    marks = ", ".join([db.obj.param] * len(fixed))
    if is_sqlite():
        source, each = f"json_each({db.obj.param})", "value"
        many: object = json.dumps(list(values), default=str)
    else:
        source, each = f"unnest({db.obj.param}) AS v", "v"
        many = list(values)
    select = f"{marks}, {each}" if fixed else each
    db.execute_sql(
        f'INSERT INTO "{table}" ({names}) SELECT {select} FROM {source}', [*fixed.values(), many]
    )


def insert_rows(
    model: type[peewee.Model], rows: list[dict], *, returning: Sequence[str] = ()
) -> list[tuple]:
    """`insert_values` for model rows given as dicts of field name → Python value.

    Every row must have the same keys; fields left out take their defaults (as with
    `insert_many`), and values go through each field's `db_value`, as peewee would send them.
    """
    if not rows:
        return []
    names = list(rows[0])
    defaults = {
        f.name: f.default
        for f in model._meta.sorted_fields
        if f.name not in rows[0] and f.default is not None and not f.primary_key
    }
    if defaults:
        names += list(defaults)
        rows = [row | {n: (d() if callable(d) else d) for n, d in defaults.items()} for row in rows]
    fields = [model._meta.fields[name] for name in names]

    # Column by column: batches repeat values (the same `now`, tenant, action, the same few
    # JSON lists given as tuples), so each distinct value is converted once per call.
    columns = []
    for name, field in zip(names, fields, strict=True):
        convert, out = field.db_value, []
        last_raw: object = object()
        last: object = None
        seen: dict[tuple[type, object], object] = {}
        for row in rows:
            raw = row[name]
            if raw is not last_raw:
                try:
                    key = (type(raw), raw)  # the type too: True and 1 are equal keys
                    last = seen[key]
                except KeyError:
                    last = seen[key] = sent_as(convert(raw))
                except TypeError:  # unhashable (a list, a dict): convert each
                    last = convert(raw)
                last_raw = raw
            out.append(last)
        columns.append(out)
    values = list(zip(*columns, strict=True))
    return insert_values(
        model._meta.table_name, [f.column_name for f in fields], values, returning=returning
    )


def _record(sql: str) -> None:
    if _recorders:
        with _recorders_lock:
            for rec in _recorders:
                rec.append(sql)


# A tenant has two write locks on PostgreSQL, so license work never queues behind money work:
# - money (`tenant_lock`): the tenant's row, FOR NO KEY UPDATE — rows that merely reference
#   the tenant (license assignments, audit entries) still insert while it is held;
# - directory (`directory_lock`): users, seats and licenses, a transaction-scoped advisory lock.
# Whoever needs both takes money first, then directory (funding adds credit seats), never the
# other way, so they cannot deadlock. SQLite: BEGIN IMMEDIATE serializes every writer anyway.
DIRECTORY_LOCK_SPACE = 0x5EA7  # the advisory lock's first key; the second is the tenant id


@contextmanager
def tenant_lock(tenant_id: int) -> Iterator[None]:
    """One write transaction holding the tenant's money lock (SPEC §4).

    PostgreSQL: `SELECT … FOR NO KEY UPDATE` on the tenant row serializes the money writers of
    one tenant while other tenants proceed. SQLite: the database was opened with BEGIN
    IMMEDIATE, which already serializes all writers. Nested use joins the outer transaction.
    """
    from commcredits.models import Tenant  # local: models import this module

    with db.atomic():
        if not is_sqlite():
            query = Tenant.select(Tenant.id).where(Tenant.id == tenant_id)
            list(query.for_update("FOR NO KEY UPDATE"))
        yield


@contextmanager
def directory_lock(tenant_id: int) -> Iterator[None]:
    """One write transaction holding the tenant's directory lock: users, seats, licenses.

    Seats are counted under it, so two batches never sell the same seat. Inside a
    `tenant_lock` (money first) it may be taken too; never the other way round.
    """
    with db.atomic():
        if not is_sqlite():
            db.execute_sql(
                "SELECT pg_advisory_xact_lock(%s, %s)", (DIRECTORY_LOCK_SPACE, tenant_id)
            )
        yield


@contextmanager
def write() -> Iterator[None]:
    """A write transaction with no tenant to lock (operator changes to shared tables)."""
    with db.atomic():
        yield
