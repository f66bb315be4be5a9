"""SQLite's channel for events between processes (migration 0024_sqlite_event_log).

PostgreSQL carries an event to every server by NOTIFY. On SQLite a writer also records it in
`event_log`, in the transaction that makes the change, and every server process tails that
table (`SqliteTail`): a change made by the CLI, a bulk run or another server reaches its
subscribers within POLL_SECONDS. The writer's own process still delivers at once, after
commit (events.publish); the tail skips the rows this process wrote.

The table keeps the last KEEP events: writers prune it every PRUNE_EVERY rows, by id (no
clock needed, ids only grow). A reader more than KEEP events behind misses the oldest, as a
PostgreSQL listener misses what was sent while it reconnected.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from commcredits import db as database

if TYPE_CHECKING:
    from commcredits.events import Broker

log = logging.getLogger("commcredits.events")

ORIGIN = uuid.uuid4().hex  # this process: its own rows were delivered already
POLL_SECONDS = 0.2
KEEP = 10_000
PRUNE_EVERY = 1_000
READ_LIMIT = 1_000  # rows per read; a burst is read in several


def record(payload: str) -> None:
    """Record an event in the current transaction (SQLite)."""
    cursor = database.db.execute_sql(
        'INSERT INTO "event_log" ("origin", "payload") VALUES (?, ?)', (ORIGIN, payload)
    )
    if cursor.lastrowid % PRUNE_EVERY == 0:
        database.db.execute_sql(
            'DELETE FROM "event_log" WHERE "id" <= ?', (cursor.lastrowid - KEEP,)
        )


class SqliteTail:
    """One server process's reader of `event_log`, on its event loop; the reads run in a
    thread (sqlite3 blocks). They go to the driver's connection directly, not through the
    counted execute_sql: they belong to no request, and statement counts stay the requests'."""

    def __init__(self, target: Broker) -> None:
        self.broker = target
        self.ready = asyncio.Event()
        self.after = 0

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with database.db.connection_context():
            return database.db.connection().execute(sql, params).fetchall()

    async def run(self) -> None:
        while not self.ready.is_set():  # a database not there yet: try again
            try:
                rows = await asyncio.to_thread(
                    self._query, 'SELECT coalesce(max("id"), 0) FROM "event_log"', ()
                )
                self.after = rows[0][0]
                self.ready.set()
            except Exception as error:  # noqa: BLE001 - the server keeps going without events
                log.warning("event tail cannot read event_log: %s", error)
                await asyncio.sleep(2.0)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.read_new()

    async def read_new(self) -> None:
        """Dispatch the events other processes recorded since the last read."""
        try:
            while True:
                rows = await asyncio.to_thread(
                    self._query,
                    'SELECT "id", "origin", "payload" FROM "event_log" WHERE "id" > ? '
                    'ORDER BY "id" LIMIT ?',
                    (self.after, READ_LIMIT),
                )
                for event_id, origin, payload in rows:
                    self.after = event_id
                    if origin != ORIGIN:
                        self.broker.dispatch(payload)
                if len(rows) < READ_LIMIT:
                    return
        except Exception as error:  # noqa: BLE001 - a busy or locked file: the next tick
            log.warning("event tail read failed: %s", error)
