"""Failed authentications: audited, and rate-limited per client address and per key prefix.

The counts live in the `auth_failure` table (migration 0006), not in process memory, so a
limit holds across `serve --workers N` and across restarts. The policy:

- every refused key (unknown, revoked, or a malformed Authorization header) writes an audit
  entry (`authenticationFailed`) and an `auth_failure` row, in one transaction;
- once an address has `per_address` failures inside the window, or a key prefix `per_key`,
  every further failing attempt from that address / with that prefix gets 429 with
  Retry-After (until the oldest counted failure leaves the window) instead of 401, and is no
  longer written: a flood costs one read per request, never a write.

The limiter works on the failure path only, so a valid key costs not one statement more and is
never locked out — neither by its prefix (prefixes are visible to a tenant's readers and must
not become a way to shut out an administrator's key) nor by a noisy neighbour behind the same
address. Keys are 256-bit random tokens, so there is no guessing to slow down; the limits keep
floods out of the audit log and tell misbehaving clients to back off.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass

import peewee

from commcredits import metrics
from commcredits.db import write
from commcredits.models import ApiKey, AuditEntry
from commcredits.models.security import AuthFailure
from commcredits.services.access import hash_key

PREFIX_LENGTH = 10  # as ApiKey.prefix: "cck_" and six characters


@dataclass(frozen=True)
class AuthLimits:
    window: dt.timedelta = dt.timedelta(minutes=5)
    per_address: int = 20
    per_key: int = 5

    @classmethod
    def from_env(cls) -> AuthLimits:
        env = os.environ
        return cls(
            window=dt.timedelta(seconds=int(env.get("COMMCREDITS_AUTH_WINDOW_SECONDS", 300))),
            per_address=int(env.get("COMMCREDITS_AUTH_FAILURES_PER_ADDRESS", 20)),
            per_key=int(env.get("COMMCREDITS_AUTH_FAILURES_PER_KEY", 5)),
        )


class RateLimited(Exception):
    """Too many failed authentications (HTTP 429); `retry_after` in whole seconds."""

    def __init__(self, retry_after: int, scope: str):
        super().__init__(f"too many failed authentications for this {scope}")
        self.retry_after = retry_after
        self.scope = scope


def key_prefix(token: str) -> str:
    """What identifies the attempted key in counts and audit entries (never the secret)."""
    return "".join(c for c in token.strip()[:PREFIX_LENGTH] if c.isalnum() or c in "_-")


def _retry_after(oldest: dt.datetime, limits: AuthLimits, now: dt.datetime) -> int:
    return max(1, math.ceil((oldest + limits.window - now).total_seconds()))


def _recent(
    where: peewee.Expression, limits: AuthLimits, now: dt.datetime
) -> tuple[int, dt.datetime | None]:
    row = (
        AuthFailure.select(peewee.fn.COUNT(AuthFailure.id), peewee.fn.MIN(AuthFailure.at))
        .where(where & (AuthFailure.at > now - limits.window))
        .tuples()
        .first()
    )
    count, oldest = row if row else (0, None)
    if isinstance(oldest, str | dt.datetime):  # aggregates skip the field's conversion
        oldest = AuthFailure.at.python_value(oldest)
    return count or 0, oldest


def record_failure(
    token: str, address: str, limits: AuthLimits, *, reason: str, now: dt.datetime
) -> None:
    """Audit a refused key and count it; raise RateLimited if its address or prefix is over
    the limit (and then write nothing)."""
    prefix = key_prefix(token)
    for scope, where, limit in (
        ("address", AuthFailure.address == address[:64], limits.per_address),
        ("key", AuthFailure.key_prefix == prefix, limits.per_key),
    ):
        count, oldest = _recent(where, limits, now)
        if count >= limit and oldest is not None:
            metrics.auth_failed(f"rate_limited_{scope}")
            raise RateLimited(_retry_after(oldest, limits, now), scope)
    known = (
        ApiKey.select(ApiKey.id, ApiKey.tenant, ApiKey.revoked_at)
        .where(ApiKey.key_hash == hash_key(token.strip()))
        .first()
        if token.strip()
        else None
    )
    if known is not None and known.revoked_at is not None:
        reason = "revoked"
    with write():
        AuthFailure.delete().where(AuthFailure.at <= now - limits.window).execute()
        AuthFailure.create(address=address[:64], key_prefix=prefix, at=now)
        # An anonymous actor has no Principal, so the row is written here rather than through
        # services.audit.record; a revoked key's failure shows in its tenant's audit log.
        AuditEntry.insert(
            tenant=known.tenant_id if known is not None else None,
            actor_key=None,
            actor=f"anonymous at {address[:64]}",
            action="authenticationFailed",
            target_type="ApiKey",
            target_id=str(known.id) if known is not None else prefix,
            before=None,
            after={"address": address[:64], "keyPrefix": prefix, "reason": reason},
            at=now,
        ).execute()
    metrics.auth_failed(reason)
