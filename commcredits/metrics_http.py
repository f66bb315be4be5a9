"""GET /metrics (README "Metrics"): what a scrape reads and who may read it.

The metrics themselves, their bounded labels and the hooks that count are in
`commcredits.metrics`; this module adds what only a scrape needs: the webhook queue read from
the database, every worker's values summed (multiprocess mode), and the operator-only endpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from commcredits.metrics import CONTENT_TYPE, REGISTRY, multiprocess_mode

log = logging.getLogger("commcredits.metrics")


# -- scraping ------------------------------------------------------------------------------------
class WebhookQueue(Collector):
    """The outbox as the database has it now (read at scrape time)."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import peewee

        from commcredits import db as database
        from commcredits.models import Notification

        try:
            with database.db.connection_context():
                count, oldest = (
                    Notification.select(
                        peewee.fn.COUNT(Notification.id), peewee.fn.MIN(Notification.created_at)
                    )
                    .where(Notification.delivery_status == "PENDING")
                    .tuples()
                    .first()
                ) or (0, None)
        except Exception as error:  # the scrape still answers: the rest is worth having
            log.warning("webhook queue not read for metrics: %s", type(error).__name__)
            return
        if isinstance(oldest, str | dt.datetime):  # aggregates skip the field's conversion
            oldest = Notification.created_at.python_value(oldest)
        yield GaugeMetricFamily(
            "commcredits_webhook_queue_depth",
            "Notifications waiting for webhook delivery (PENDING), all tenants.",
            value=count or 0,
        )
        age = (self.clock() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "commcredits_webhook_queue_oldest_seconds",
            "Age of the oldest notification waiting for webhook delivery (0: none waiting).",
            value=max(0.0, age),
        )


class _Own(Collector):
    """This process's own registry, inside a scrape registry."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def scrape_registry(clock: Callable[[], dt.datetime] | None = None) -> CollectorRegistry:
    """What a scrape reads: every worker's files (multiprocess) or this process; the queue."""
    registry = CollectorRegistry()
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Own())
    registry.register(WebhookQueue(clock or (lambda: dt.datetime.now(dt.UTC))))
    return registry


def exposition(clock: Callable[[], dt.datetime] | None = None) -> bytes:
    """The text format of a scrape (call on a worker thread: it reads the database)."""
    return generate_latest(scrape_registry(clock))


# -- the endpoint --------------------------------------------------------------------------------
class _NotOperator(Exception):
    pass


def metrics_endpoint(
    *,
    clock: Callable[[], dt.datetime],
    verifier: Any,
    auth_limits: Any,
) -> Callable[[Any], Any]:
    """GET /metrics on the API's port: the text format, for an operator credential only."""
    import anyio
    from starlette.responses import Response

    from commcredits import db as database
    from commcredits.credentials import bearer_principal
    from commcredits.graphql_http import refused
    from commcredits.http_errors import error_response

    def scrape(authorization: str, address: str) -> bytes:
        with database.db.connection_context():
            principal = bearer_principal(
                authorization, address, verifier=verifier, limits=auth_limits, now=clock()
            )
        if not principal.is_operator:
            raise _NotOperator
        return exposition(clock)

    async def endpoint(request: Any) -> Any:
        request_id = request.scope["state"]["request_id"]
        authorization = request.headers.get("authorization")
        if not authorization:
            return error_response(
                401,
                "UNAUTHENTICATED",
                "Metrics need an operator key: send 'Authorization: Bearer <operator key>'.",
                request_id,
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
        address = request.client.host if request.client else "unknown"
        try:
            body = await anyio.to_thread.run_sync(scrape, authorization, address)
        except _NotOperator:
            return error_response(
                403, "FORBIDDEN", "Only an operator key may read the metrics.", request_id
            )
        except Exception as error:  # noqa: BLE001 - refused() answers each kind, masks the rest
            return refused(error, request_id)
        return Response(body, media_type=CONTENT_TYPE)

    return endpoint
