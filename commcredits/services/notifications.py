"""Notifications (SPEC §6): event rows the API lists and the webhook outbox delivers.

`emit` writes in the caller's transaction, so an event exists exactly when its cause does;
delivery (services/webhooks.py) happens after commit, never inside a money transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from commcredits import events
from commcredits.db import insert_rows
from commcredits.models import Notification

KINDS = (
    "RECHARGE_SUCCEEDED",
    "RECHARGE_FAILED",
    "RECHARGE_CAPPED",
    "BALANCE_ZERO",
    "CREDIT_LIMIT_REACHED",
    "POOL_80_PERCENT",
    "POOL_100_PERCENT",
    "USER_SPEND_LIMIT_80_PERCENT",  # services/spend_limits.py: once per user per month
    "USER_SPEND_LIMIT_REACHED",  # likewise
    "USER_PSTN_BLOCKED",  # services/pstn_blocks.py: once per block
    "GROUP_LICENSE_ERRORS",  # services/group_licensing.py: a run left group members in error
)


def row(tenant_id: int, kind: str, payload: dict[str, Any], *, now: dt.datetime) -> dict:
    """The row `emit` would insert (for callers that insert many at once)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    return {
        "tenant": tenant_id,
        "kind": kind,
        "payload": payload,
        "created_at": now,
        "delivery_status": "PENDING",
        "attempts": 0,
        "next_attempt_at": now,
    }


def emit(tenant_id: int, kind: str, payload: dict[str, Any], *, now: dt.datetime) -> None:
    """Record one event in the current transaction; the outbox delivers it after commit."""
    emit_many([row(tenant_id, kind, payload, now=now)])


def emit_many(rows: list[dict]) -> None:
    """Insert the rows; subscribers (notificationAdded) hear of them after commit."""
    if not rows:
        return
    by_tenant: dict[int, list[int]] = {}
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        for pk, tenant_id in insert_rows(Notification, chunk, returning=("id", "tenant_id")):
            by_tenant.setdefault(tenant_id, []).append(pk)
    for tenant_id, ids in by_tenant.items():
        events.publish_ids(tenant_id, events.NOTIFICATION, sorted(ids))


def notifications_query(tenant_id: int) -> peewee.ModelSelect:
    return Notification.select().where(Notification.tenant == tenant_id)
