"""Idempotency keys of money writes (SPEC §4): a retry with the same key and arguments returns
the first result; the same key with other arguments is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from commcredits.models import IdempotencyRecord, Tenant
from commcredits.services.errors import DomainError


def request_hash(operation: str, args: dict[str, Any]) -> str:
    raw = json.dumps({"op": operation, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def replay(tenant: Tenant, key: str, operation: str, args: dict[str, Any]) -> dict | None:
    """The stored result for a repeated key, None for a new one; refuses a reused key."""
    record = IdempotencyRecord.get_or_none(
        (IdempotencyRecord.tenant == tenant.id) & (IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    if record.operation != operation or record.request_hash != request_hash(operation, args):
        raise DomainError(
            "IDEMPOTENCY_KEY_REUSED",
            f"The idempotency key '{key}' was used for a different request.",
            "idempotencyKey",
        )
    return record.result


def remember(
    tenant: Tenant,
    key: str,
    operation: str,
    args: dict[str, Any],
    result: dict,
    *,
    now: dt.datetime,
) -> None:
    IdempotencyRecord.create(
        tenant=tenant.id,
        key=key,
        operation=operation,
        request_hash=request_hash(operation, args),
        result=result,
        created_at=now,
    )
