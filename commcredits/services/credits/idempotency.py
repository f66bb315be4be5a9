"""Idempotency keys of money writes (SPEC §4): a retry with the same key and arguments returns
the first result; the same key with other arguments is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from commcredits.models import IdempotencyRecord, Tenant
from commcredits.money import Money
from commcredits.services.errors import DomainError


def request_hash(operation: str, args: dict[str, Any]) -> str:
    raw = json.dumps({"op": operation, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def money_args(money: Money, **more: Any) -> dict[str, Any]:
    """A money write's arguments as a key remembers them: the amount in minor units, so the
    same amount however written ("10", "10.0", "10.00") is the same request."""
    if not money.is_exact:  # refused by the write's own checks: any stable form will do
        return {"amount": str(money.amount), "currency": money.currency, **more}
    return {"amount_minor": money.minor, "currency": money.currency, **more}


def _legacy_args(args: dict[str, Any]) -> dict[str, Any] | None:
    """The same arguments as keys remembered them before `money_args` (the amount as the
    client wrote it, 2 decimals as the console and the bulk layer write it): a retry of a
    request made before the change still replays."""
    if "amount_minor" not in args:
        return None
    money = Money.from_minor(args["amount_minor"], args["currency"])
    rest = {k: v for k, v in args.items() if k not in ("amount_minor", "currency")}
    return {"amount": str(money.amount), "currency": money.currency, **rest}


def replay(tenant: Tenant, key: str, operation: str, args: dict[str, Any]) -> dict | None:
    """The stored result for a repeated key, None for a new one; refuses a reused key."""
    record = IdempotencyRecord.get_or_none(
        (IdempotencyRecord.tenant == tenant.id) & (IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    legacy = _legacy_args(args)
    same = record.request_hash == request_hash(operation, args) or (
        legacy is not None and record.request_hash == request_hash(operation, legacy)
    )
    if record.operation != operation or not same:
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
