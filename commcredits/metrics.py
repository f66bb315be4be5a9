"""Prometheus metrics (README "Metrics"): what to count, where it is counted, how it is served.

Counting is `prometheus-client`'s, exposition too; this module only names the metrics, keeps
their labels bounded and serves them:

- `/metrics` on the API's own port answers an **operator** credential only (`Authorization:
  Bearer <operator key>`, or an operator JWT where those are allowed): no key 401, a tenant
  key 403. Refused keys are counted and rate-limited like any other (`credentials`).
  `COMMCREDITS_METRICS_ADDRESS=host:port` adds a separate plain listener without a key, for a
  network only Prometheus reaches; it runs in `serve`'s own process.
- `serve` always runs prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, set
  by `metrics_serve.prepare_directory` before any worker starts, a fresh directory per start):
  each worker writes its values to files there and any worker answering a scrape sums them
  all, so counters add up across `--workers`; a worker that stops marks itself dead
  (`process_exit`).
  Embedded apps and tests without the variable count in this process only.
- Labels are bounded: operation names are the client's choice, so a name is a label only if it
  is a plain GraphQL name of at most 64 characters and one of the first 100 a process has seen
  (else `other`); error codes and auth-failure reasons likewise (first 200, else `other`).
- Money and recharges are counted when their transaction commits (`after_commit`): a rolled
  back unit of work moves no money in the metrics either.
- The webhook queue is a property of the database, not of a process: it is read at scrape
  time (one aggregate query), so every worker reports the same value.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger("commcredits.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_OPERATIONS = 100  # distinct operation names per process; more become "other"
MAX_CODES = 200  # distinct error codes / auth-failure reasons per process
OTHER, ANONYMOUS = "other", "anonymous"
OUTCOMES = ("ok", "error", "refused", "failed")


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class BoundedLabel:
    """A label's values: those matching `pattern`, at most `limit` distinct ones per process
    (the first seen), everything else `other`. A client choosing names cannot grow the number
    of series without bound."""

    def __init__(self, pattern: str, limit: int) -> None:
        self.pattern = re.compile(pattern)
        self.limit = limit
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None, *, missing: str = ANONYMOUS) -> str:
        if not value:
            return missing
        if value in self.seen:
            return value
        if not self.pattern.fullmatch(value):
            return OTHER
        with self._lock:
            if len(self.seen) >= self.limit:
                return OTHER
            self.seen.add(value)
        return value


operation_label = BoundedLabel(r"[_A-Za-z][_0-9A-Za-z]{0,63}", MAX_OPERATIONS)
code_label = BoundedLabel(r"[A-Za-z][A-Za-z0-9_]{0,63}", MAX_CODES)
reason_label = BoundedLabel(r"[a-z][a-z0-9_]{0,63}", MAX_CODES)

disable_created_metrics()  # no `_created` series beside every counter (as in multiprocess mode)

# Our own registry, not the library's global one: only our metrics (and, in one process, the
# process collector) are served, and tests that build many apps register nothing twice.
REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STATEMENTS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)

HTTP_REQUESTS = Counter(
    "commcredits_http_requests",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "code"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "commcredits_http_request_duration_seconds",
    "HTTP request latency by route template, from the first byte in to the last byte out.",
    ["route"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
HTTP_IN_PROGRESS = Gauge(
    "commcredits_http_requests_in_progress",
    "HTTP requests being served now (all live workers).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
GRAPHQL_REQUESTS = Counter(
    "commcredits_graphql_requests",
    "GraphQL operations POSTed to /graphql by operation name and outcome: ok, error (GraphQL "
    "errors in the answer), refused (HTTP 4xx), failed (HTTP 5xx or INTERNAL_ERROR).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_DURATION = Histogram(
    "commcredits_graphql_request_duration_seconds",
    "Latency of GraphQL operations POSTed to /graphql, by operation name.",
    ["operation"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
GRAPHQL_ERRORS = Counter(
    "commcredits_graphql_errors",
    "Errors in /graphql answers (GraphQL errors and HTTP refusals alike) by extensions.code.",
    ["code"],
    registry=REGISTRY,
)
SQL_STATEMENTS = Histogram(
    "commcredits_sql_statements_per_request",
    "SQL statements one GraphQL operation POSTed to /graphql executed, by operation name.",
    ["operation"],
    buckets=_STATEMENTS,
    registry=REGISTRY,
)
# In minor units (cents), whole numbers: a float sum of 0.40s drifts (5.999999999999999),
# a sum of 40s stays exact far beyond any tenant's lifetime (2**53 cents).
MONEY_MOVED = Counter(
    "commcredits_money_moved_minor_units",
    "Money moved by committed ledger entries, in the currency's minor units (cents; absolute "
    "values: credits bought, consumed, expired, adjusted, billed postpaid), by entry kind and "
    "currency.",
    ["kind", "currency"],
    registry=REGISTRY,
)
LEDGER_ENTRIES = Counter(
    "commcredits_ledger_entries",
    "Committed ledger entries by kind and currency.",
    ["kind", "currency"],
    registry=REGISTRY,
)
PAYMENTS = Counter(
    "commcredits_payments",
    "Payment gateway charges by invoice reason (PURCHASE, AUTO_RECHARGE) and outcome: paid, "
    "declined, no_answer (the gateway could not be reached; the sweeper asks again).",
    ["reason", "outcome"],
    registry=REGISTRY,
)
RECHARGES = Counter(
    "commcredits_recharges",
    "Automatic recharges by outcome: started, succeeded, declined, pending (no answer from "
    "the gateway yet), capped (the daily limit was reached; once a tenant and day).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "commcredits_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retrying (failed, tried again later), "
    "failed (gave up after the last attempt), skipped (the tenant has no webhook).",
    ["outcome"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "commcredits_auth_failures",
    "Refused credentials by reason (unknown, revoked, malformed, jwt_*, …), and refusals past "
    "the rate limit (reason rate_limited_address / rate_limited_key).",
    ["reason"],
    registry=REGISTRY,
)

# The series alerts watch exist from the start at 0, so increase() sees their first event.
for _outcome in OUTCOMES:
    GRAPHQL_REQUESTS.labels(ANONYMOUS, _outcome)
for _reason in ("PURCHASE", "AUTO_RECHARGE"):
    for _outcome in ("paid", "declined", "no_answer"):
        PAYMENTS.labels(_reason, _outcome)
for _outcome in ("started", "succeeded", "declined", "pending", "capped"):
    RECHARGES.labels(_outcome)
for _outcome in ("delivered", "retrying", "failed", "skipped"):
    WEBHOOK_DELIVERIES.labels(_outcome)
for _reason in ("unknown", "revoked", "malformed"):
    AUTH_FAILURES.labels(_reason)
GRAPHQL_ERRORS.labels("INTERNAL_ERROR")


# -- hooks ---------------------------------------------------------------------------------------
def _on_commit(count: Callable[[], None]) -> None:
    """Run `count` when the current transaction commits (now, outside one)."""
    from commcredits import db as database

    if database.db.obj is None:
        count()
    else:
        database.db.after_commit(count)


def _safely(count: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            count()
        except Exception:  # metrics never fail a request
            log.exception("counting a metric failed")

    return run


def observe_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    """One HTTP request done (RequestContext): by route, and for POST /graphql by operation."""
    try:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        method = method if method in ("GET", "POST", "DELETE", "OPTIONS", "HEAD") else OTHER
        HTTP_REQUESTS.labels(template, method, str(status)).inc()
        HTTP_DURATION.labels(template).observe(seconds)
        if template != "/graphql" or method != "POST":
            return
        state = scope.get("state") or {}
        operation = operation_label(state.get("operation"))
        codes = [c for c in state.get("errors") or () if c]
        if status >= 500 or "INTERNAL_ERROR" in codes:
            outcome = "failed"
        elif status >= 400:
            outcome = "refused"
        elif state.get("errors"):
            outcome = "error"
        else:
            outcome = "ok"
        GRAPHQL_REQUESTS.labels(operation, outcome).inc()
        GRAPHQL_DURATION.labels(operation).observe(seconds)
        for code in state.get("errors") or ():
            GRAPHQL_ERRORS.labels(code_label(code, missing="NONE")).inc()
        if state.get("statements") is not None:
            SQL_STATEMENTS.labels(operation).observe(state["statements"])
    except Exception:  # metrics never fail a request
        log.exception("counting a request failed")


def in_progress() -> Any:
    """A context manager around each HTTP request (the in-progress gauge)."""
    return HTTP_IN_PROGRESS.track_inprogress()


def ledger_flushed(
    entries: Iterable[list], invoices: Iterable[Any], notes: Iterable[dict], currency: str
) -> None:
    """A ledger unit of work wrote these entries, invoices and notifications: money moved by
    kind and currency, recharges started and capped; counted when the transaction commits."""
    moved: dict[tuple[str, str], list[int]] = {}  # (kind, currency) → [entries, minor units]
    for entry in entries:
        tally = moved.setdefault((entry[2], entry[6] or currency), [0, 0])
        tally[0] += 1
        tally[1] += abs(entry[3] or 0) + abs(entry[4] or 0)  # from lots, and billed postpaid
    started = sum(1 for i in invoices if i.values.get("reason") == "AUTO_RECHARGE")
    capped = sum(1 for n in notes if n.get("kind") == "RECHARGE_CAPPED")
    if not (moved or started or capped):
        return

    def count() -> None:
        for (kind, cur), (n, minor) in moved.items():
            LEDGER_ENTRIES.labels(kind, cur).inc(n)
            MONEY_MOVED.labels(kind, cur).inc(minor)
        if started:
            RECHARGES.labels("started").inc(started)
        if capped:
            RECHARGES.labels("capped").inc(capped)

    _on_commit(_safely(count))


def payment_settled(reason: str, ok: bool) -> None:
    """The gateway answered a charge (counted when the settling transaction commits)."""

    def count() -> None:
        PAYMENTS.labels(code_label(reason), "paid" if ok else "declined").inc()
        if reason == "AUTO_RECHARGE":
            RECHARGES.labels("succeeded" if ok else "declined").inc()

    _on_commit(_safely(count))


def payment_unanswered(reason: str) -> None:
    """The gateway could not be reached for a charge: it stays PENDING."""
    PAYMENTS.labels(code_label(reason), "no_answer").inc()
    if reason == "AUTO_RECHARGE":
        RECHARGES.labels("pending").inc()


def webhooks_delivered(report: Any) -> None:
    """One `deliver_due` run's report."""
    for outcome in ("delivered", "retrying", "failed", "skipped"):
        n = getattr(report, outcome, 0)
        if n:
            WEBHOOK_DELIVERIES.labels(outcome).inc(n)


def auth_failed(reason: str) -> None:
    """A refused credential (`services.auth_failures`), by reason ("jwt expired" → jwt_expired)."""
    clean = re.sub(r"[^a-z0-9_]+", "_", reason.strip().lower()).strip("_")
    AUTH_FAILURES.labels(reason_label(clean, missing="unknown")).inc()


if not multiprocess_mode():  # one process: its CPU, memory and files too
    ProcessCollector(registry=REGISTRY)


def process_exit() -> None:
    """A worker stops: its live gauges leave the sums (prometheus-client's bookkeeping)."""
    if multiprocess_mode():
        with contextlib.suppress(OSError):  # already gone
            multiprocess.mark_process_dead(os.getpid())
