"""SQLite: events for the other processes on the same file (README "Live updates").

On PostgreSQL an event is a NOTIFY that every server LISTENs for. SQLite has no such channel,
so a server heard only the changes made in its own process: a purchase through the CLI, a bulk
run or a second server never reached its subscribers. `event_log` is that channel: a writer
inserts its event in the transaction that makes the change (so a rolled-back change leaves
none), and every server reads the rows after the last one it saw (events.SqliteTail).

AUTOINCREMENT: ids only grow, even after the oldest rows are pruned, so a reader's "after id
N" never misses a row; SQLite serializes writers, so ids are in commit order too.
Nothing on PostgreSQL.
"""

import peewee

_TABLE = """CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    payload TEXT NOT NULL
)"""


def _is_sqlite(db) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def up(migrator, db):
    if _is_sqlite(db):
        db.execute_sql(_TABLE)


def down(migrator, db):
    if _is_sqlite(db):
        db.execute_sql("DROP TABLE IF EXISTS event_log")
