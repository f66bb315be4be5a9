"""Audit entries: who did what, when, with the state before and after (SPEC §7).

Called by the service that makes the change, inside its transaction, so an entry exists
exactly when the change does. There is no update or delete path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import peewee

from commcredits.db import insert_rows
from commcredits.models import AuditEntry, Tenant
from commcredits.services.principal import Principal


def _row(
    principal: Principal,
    action: str,
    target: peewee.Model | tuple[str, Any],
    *,
    tenant_id: int | None,
    before: Any,
    after: Any,
    now: dt.datetime,
) -> dict[str, Any]:
    if isinstance(target, tuple):
        target_type, target_id = target
    else:
        target_type, target_id = type(target).__name__, target.get_id()
    return {
        "tenant": tenant_id,
        "actor_key": principal.key_id,
        "actor": principal.label,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "before": before,
        "after": after,
        "at": now,
    }


def record(
    principal: Principal,
    action: str,
    target: peewee.Model | tuple[str, Any],
    *,
    tenant_id: int | None,
    before: Any,
    after: Any,
    now: dt.datetime,
) -> None:
    # insert_rows, not peewee's builder: every batch writes one of these, and building the
    # statement through peewee cost more than the rest of a small batch.
    insert_rows(
        AuditEntry,
        [_row(principal, action, target, tenant_id=tenant_id, before=before, after=after, now=now)],
    )


def record_many(
    principal: Principal, entries: Iterable[dict[str, Any]], *, now: dt.datetime
) -> None:
    """Many entries in one statement; each dict: action, target, tenant_id, before, after."""
    insert_rows(AuditEntry, [_row(principal, now=now, **e) for e in entries])


def entries_for(tenant: Tenant | None):
    query = AuditEntry.select()
    if tenant is not None:
        query = query.where(AuditEntry.tenant == tenant.id)
    return query
