"""What `serve` runs beside requests: the webhook outbox, the payment sweeper, the event broker;
and the health probes that say whether this process and its database can serve."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from commcredits import db as database
from commcredits import events, heap
from commcredits.clock import Clock
from commcredits.config import Settings

log = logging.getLogger("commcredits.http")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 until the database answers and has every migration (a load balancer waits)."""
    from commcredits.migrate import pending

    try:
        waiting = await anyio.to_thread.run_sync(pending)
    except Exception as exc:  # the probe reports, it does not crash
        log.warning(
            "readiness check failed: %s",
            type(exc).__name__,
            extra={"request_id": request.scope["state"]["request_id"]},
        )
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
    if waiting:
        return JSONResponse({"status": "migrations pending", "pending": waiting}, 503)
    return JSONResponse({"status": "ready"})


async def _every(seconds: float, run_once: Callable[[], None], what: str) -> None:
    """`run_once` on a worker thread, then a pause, for ever; a failed run is logged and the
    next one tries again."""
    while True:
        try:
            await anyio.to_thread.run_sync(run_once)
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


def lifespan(
    settings: Settings, clock: Clock
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: background loops started with it and cancelled when it stops."""

    def deliver_once() -> None:
        from commcredits.services import webhooks

        with database.db.connection_context():
            webhooks.deliver_due(now=clock())

    def sweep_once() -> None:
        from commcredits.services import credits

        with database.db.connection_context():
            credits.reconcile_payments(
                now=clock(), older_than=dt.timedelta(seconds=settings.payment_sweep_age)
            )

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        heap.settle()  # built and imported by now: frozen, and fewer collector passes
        tasks = []
        if settings.webhook_interval > 0:
            # The outbox: notifications are written with the money, delivered here after
            # commit. Rows are claimed with a lease (SKIP LOCKED on PostgreSQL), so every
            # worker may run it.
            loop = _every(settings.webhook_interval, deliver_once, "webhook delivery run")
            tasks.append(asyncio.create_task(loop))
        if settings.payment_sweep_interval > 0:
            # Charges a crash or a gateway timeout left PENDING are finished by asking the
            # gateway again with the invoice's key; settling is idempotent, so every worker
            # may run it.
            loop = _every(settings.payment_sweep_interval, sweep_once, "payment sweep")
            tasks.append(asyncio.create_task(loop))
        try:
            # Subscriptions' events: this process's broker, and its LISTEN on PostgreSQL.
            async with events.serving():
                yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            from commcredits import metrics

            metrics.process_exit()  # this worker's live gauges leave the sums

    return run
