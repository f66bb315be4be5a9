"""Planner statistics after bulk writes (PostgreSQL): ANALYZE a table that bulk inserts grew.

PostgreSQL's own advice for bulk loads is to ANALYZE afterwards; autovacuum does it on its own
schedule, and some installations run it seldom or not at all during loads. A table the planner
believes empty, or a tenth of its size, is how a location+license filter once ran for 55 s
(issue 16): so batches report the rows they insert, and once a process has inserted enough
into a table (ANALYZE_MIN_ROWS), it reads the planner's row count (pg_class.reltuples, from
the last analyse) and analyses the table when it was never analysed or the rows inserted since
are more than half of that figure (GROWTH).

Growth, not every change: an import of 100,000 users into an empty table analyses it about a
dozen times, the large ones far apart, each on a sample of at most 30,000 rows; updates and
deletes leave the row count, and the plans the list queries need, as they were (and the
queries are written so that stale figures cannot make them quadratic anyway).

SQLite keeps no statistics unless asked (sqlite_stat1); its plans here come from the indexes'
shapes, so nothing is done there.
"""

from __future__ import annotations

import threading

from commcredits.db import db, is_sqlite

ANALYZE_MIN_ROWS = 1000
GROWTH = 1.5  # rows over the planner's figure that make it stale

_lock = threading.Lock()
_inserted: dict[str, int] = {}  # rows this process inserted per table since it last analysed
_planned: dict[str, float] = {}  # the planner's row count when this process last looked


def rows_inserted(table: str, rows: int) -> bool:
    """Note `rows` inserted into `table` by a committed batch; ANALYZE it if that made its
    statistics stale. True if it was analysed. Call it after the batch's transaction: ANALYZE
    holds a lock on the table until its own transaction ends.

    One statement when it looks (the function analyze_if_grown, migration 0012, reads the
    planner's figure and analyses if needed), none otherwise. The rows counted are this
    process's own; another process's analyse is seen in pg_class when this one next looks."""
    if rows <= 0 or is_sqlite():
        return False
    with _lock:
        seen = _inserted[table] = _inserted.get(table, 0) + rows
        # Look no more often than the planner's figure could have gone stale.
        if seen < max(ANALYZE_MIN_ROWS, (GROWTH - 1) * _planned.get(table, 0)):
            return False
    analysed, planned = db.execute_sql(
        "SELECT * FROM analyze_if_grown(%s::regclass, %s, %s)", (f'"{table}"', seen, GROWTH)
    ).fetchone()
    with _lock:
        if analysed:
            _inserted[table] = 0
        _planned[table] = max(planned or 0, 0)
    return bool(analysed)
