"""Live events for subscriptions: published with the change, delivered only after commit.

Writers call `publish` inside the transaction that makes the change (the ledger's flush, the
notification outbox, rated calls, key revocation). The event reaches subscribers only if that
transaction commits, and never blocks or slows the writer:

- PostgreSQL: `pg_notify('commcredits_events', <json>)` runs in the writer's transaction;
  PostgreSQL delivers a NOTIFY at commit and drops it on rollback (the outbox's semantics).
  Every server process keeps one extra connection that LISTENs (`PgListener`) and hands what
  arrives to its `Broker`, so an event committed by worker A reaches subscribers on worker B
  (and changes made by the CLI or the bulk layer reach every server).
- SQLite: the event is queued with peewee's `after_commit` and posted to this process's
  broker once the outermost transaction commits (a rolled-back savepoint drops what it
  queued, see `db.py`); it is also recorded in `event_log` in the same transaction, which
  every server process tails (`sqlite_events`), so changes made by the CLI, the bulk layer
  or another server reach its subscribers within 0.2 s.

Payloads are small JSON objects — the tenant id, a kind and ids or a balance — never secrets.
The broker routes an event only to subscriptions of its tenant. Each subscription has a bounded
queue filled with `put_nowait`: a subscriber that falls behind overflows, is dropped (its
connection closes with 4413) and never makes a writer wait or memory grow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from commcredits import db as database
from commcredits import sqlite_events

log = logging.getLogger("commcredits.events")

CHANNEL = "commcredits_events"
MAX_IDS = 500  # ids per NOTIFY: PostgreSQL takes payloads under 8,000 bytes
BALANCE, NOTIFICATION, CALLS, REVOKED = "balance", "notification", "calls", "revoked"
RECONNECT_SECONDS = 2.0


def publish(tenant_id: int | None, kind: str, **data: Any) -> None:
    """Publish an event with the current transaction (call it inside the write)."""
    payload = json.dumps({"t": tenant_id, "k": kind, **data}, separators=(",", ":"))
    if database.is_sqlite():
        sqlite_events.record(payload)  # for the other processes (sqlite_events)
        database.db.after_commit(lambda: broker.post(payload))
    else:
        database.db.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


def publish_ids(tenant_id: int, kind: str, ids: Iterable[int], **data: Any) -> None:
    """`publish` for many rows: one event per MAX_IDS ids."""
    ids = list(ids)
    for start in range(0, len(ids), MAX_IDS):
        publish(tenant_id, kind, ids=ids[start : start + MAX_IDS], **data)


def balance_changed(
    tenant_id: int, *, balance_minor: int, currency: str, seq: int, kind: str, at: dt.datetime
) -> None:
    """The balance after a money change: the value itself, so no subscriber reads it again."""
    publish(
        tenant_id, BALANCE, minor=balance_minor, cur=currency, seq=seq, why=kind, at=at.isoformat()
    )


def credential_revoked(ref: str) -> None:
    """A credential ("key:<id>", "session:<id>") no longer holds: its connections close.

    `ref` names the credential by its row id, never by its secret."""
    publish(None, REVOKED, ref=ref)


class Overflow(Exception):
    """A subscription's queue was full: the subscriber is too slow."""


@dataclass(eq=False)
class Subscription:
    """One subscribe operation's stake in the broker: a tenant, event kinds, a bounded queue."""

    tenant_id: int
    kinds: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]]
    on_overflow: Callable[[], None]
    dropped: bool = False


@dataclass
class Broker:
    """This process's fan-out of events to local subscribers; runs on the server's loop."""

    loop: asyncio.AbstractEventLoop | None = None
    _tenants: dict[int, set[Subscription]] = field(default_factory=lambda: defaultdict(set))
    _watchers: dict[str, set[Callable[[], None]]] = field(default_factory=lambda: defaultdict(set))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def stop(self) -> None:
        self.loop = None

    def post(self, payload: str) -> None:
        """From any thread: hand a payload to the loop (nothing happens without a server)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with suppress(RuntimeError):  # the loop closed meanwhile: nobody is listening
            loop.call_soon_threadsafe(self.dispatch, payload)

    def dispatch(self, payload: str) -> None:
        """On the loop: route one event to the subscriptions of its tenant (never blocks)."""
        try:
            event = json.loads(payload)
            tenant_id, kind = event["t"], event["k"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event payload")
            return
        if kind == REVOKED:
            for callback in list(self._watchers.get(str(event.get("ref")), ())):
                callback()
            return
        for sub in list(self._tenants.get(tenant_id, ())):
            if kind not in sub.kinds or sub.dropped:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped = True
                self.unsubscribe(sub)
                sub.on_overflow()

    def subscribe(
        self, tenant_id: int, kinds: Iterable[str], *, size: int, on_overflow: Callable[[], None]
    ) -> Subscription:
        sub = Subscription(tenant_id, frozenset(kinds), asyncio.Queue(size), on_overflow)
        self._tenants[tenant_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._tenants.get(sub.tenant_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._tenants[sub.tenant_id]

    def watch(self, ref: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when credential `ref` is revoked; returns the undo."""
        self._watchers[ref].add(callback)

        def unwatch() -> None:
            watchers = self._watchers.get(ref)
            if watchers is not None:
                watchers.discard(callback)
                if not watchers:
                    del self._watchers[ref]

        return unwatch

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._tenants.values())


broker = Broker()


class PgListener:
    """One LISTEN connection per server process, read by the event loop (no thread).

    psycopg2's asynchronous notification API: the socket is watched with `add_reader`, and
    `poll()` collects what arrived. A lost connection is reopened every RECONNECT_SECONDS;
    events committed while it was down are not replayed (subscribers see the next ones).
    """

    def __init__(self, params: dict[str, Any], target: Broker) -> None:
        self.params = params
        self.broker = target
        self.connected = asyncio.Event()

    def _connect(self) -> Any:
        import psycopg2

        # Keepalives: a silently dead network is noticed within about a minute.
        conn = psycopg2.connect(
            **self.params,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        conn.set_session(autocommit=True)
        with conn.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        return conn

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn = None
            lost = asyncio.Event()
            try:
                conn = await asyncio.to_thread(self._connect)
                loop.add_reader(conn.fileno(), self._readable, conn, lost)
                self.connected.set()
                await lost.wait()
                log.warning("event listener lost its PostgreSQL connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is down: retry, the server keeps going
                log.warning("event listener cannot connect: %s", type(error).__name__)
            finally:
                self.connected.clear()
                if conn is not None:
                    with suppress(Exception):
                        loop.remove_reader(conn.fileno())
                    with suppress(Exception):
                        conn.close()
            await asyncio.sleep(RECONNECT_SECONDS)

    def _readable(self, conn: Any, lost: asyncio.Event) -> None:
        try:
            conn.poll()
        except Exception:
            lost.set()
            return
        while conn.notifies:
            self.broker.dispatch(conn.notifies.pop(0).payload)


LISTEN_WAIT = 5.0  # seconds a starting server waits for its LISTEN before it reports ready


@asynccontextmanager
async def serving() -> AsyncIterator[None]:
    """While a server runs: the broker on its loop and this process's listener (PostgreSQL)
    or tail of event_log (SQLite), waited for, so that a server that answers /healthz already
    hears every event."""
    broker.start(asyncio.get_running_loop())
    if database.is_sqlite():
        tail = sqlite_events.SqliteTail(broker)
        task = asyncio.create_task(tail.run())
        ready = tail.ready
    else:
        bound = database.db.obj
        listener = PgListener({"dbname": bound.database, **bound.connect_params}, broker)
        task = asyncio.create_task(listener.run())
        ready = listener.connected
    with suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), LISTEN_WAIT)
    try:
        yield
    finally:
        broker.stop()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
