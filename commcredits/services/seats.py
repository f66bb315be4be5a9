"""Seats (SPEC §2): a tenant's subscriptions, bought per SKU; never below what is assigned."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.db import directory_lock
from commcredits.models import Subscription, Tenant
from commcredits.services import audit, group_seats
from commcredits.services.catalog import find_sku
from commcredits.services.credits import idempotency
from commcredits.services.credits.rules import check_idempotency_key
from commcredits.services.errors import DomainError
from commcredits.services.principal import Principal

MAX_SEATS = 1_000_000


def describe(sub: Subscription) -> dict:
    return {"enabled": sub.enabled_units, "consumed": sub.consumed_units}


@dataclass(frozen=True)
class SeatPurchase:
    subscription: Subscription
    replayed: bool  # the key's first purchase, answered again: nothing bought this time


def purchase_seats(
    tenant: Tenant, principal: Principal, sku_ref: str, quantity: int, *, now: dt.datetime
) -> Subscription:
    """Add `quantity` seats of a SKU (creating the subscription on first purchase)."""
    return buy_seats(tenant, principal, sku_ref, quantity, now=now).subscription


def buy_seats(
    tenant: Tenant,
    principal: Principal,
    sku_ref: str,
    quantity: int,
    *,
    idempotency_key: str | None = None,
    now: dt.datetime,
) -> SeatPurchase:
    """`purchase_seats`, once per idempotency key when one is given: a retry after a lost
    answer (the same key, SKU and quantity) answers the first purchase instead of buying
    again; the key with another request is refused (IDEMPOTENCY_KEY_REUSED)."""
    if quantity <= 0:
        raise DomainError(
            "INVALID_QUANTITY", "Quantity must be a whole number above 0.", "quantity"
        )
    sku = find_sku(sku_ref)
    key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
    args = {"sku": sku.part_number, "quantity": quantity}
    with directory_lock(tenant.id):
        prior = idempotency.replay(tenant, key, "purchaseSeats", args) if key else None
        if prior is not None:
            return SeatPurchase(Subscription.get_by_id(prior["subscription"]), replayed=True)
        sub = _subscription(tenant, sku.id, now)
        before = describe(sub)
        if sub.enabled_units + quantity > MAX_SEATS:
            raise DomainError(
                "INVALID_QUANTITY", f"A subscription holds at most {MAX_SEATS:,} seats.", "quantity"
            )
        sub.enabled_units += quantity
        sub = _saved_and_settled(tenant, sub, now)
        audit.record(
            principal,
            "purchaseSeats",
            sub,
            tenant_id=tenant.id,
            before=before,
            after=describe(sub) | {"sku": sku.part_number},
            now=now,
        )
        if key:
            idempotency.remember(
                tenant, key, "purchaseSeats", args, {"subscription": sub.id}, now=now
            )
    return SeatPurchase(sub, replayed=False)


def set_seats(
    tenant: Tenant, principal: Principal, sku_ref: str, enabled_units: int, *, now: dt.datetime
) -> Subscription:
    """Set the number of seats; lowering below the seats assigned is refused."""
    if enabled_units < 0 or enabled_units > MAX_SEATS:
        raise DomainError(
            "INVALID_QUANTITY", f"Seats must be between 0 and {MAX_SEATS:,}.", "enabledUnits"
        )
    sku = find_sku(sku_ref)
    with directory_lock(tenant.id):
        sub = _subscription(tenant, sku.id, now)
        before = describe(sub)
        if enabled_units < sub.consumed_units:
            raise DomainError(
                "SEATS_BELOW_CONSUMED",
                f"Subscription for SKU {sku.part_number} has {sub.consumed_units} licenses "
                f"assigned; remove licenses before lowering its seats to {enabled_units}.",
                "enabledUnits",
            )
        sub.enabled_units = enabled_units
        sub = _saved_and_settled(tenant, sub, now)
        audit.record(
            principal,
            "setSeats",
            sub,
            tenant_id=tenant.id,
            before=before,
            after=describe(sub) | {"sku": sku.part_number},
            now=now,
        )
    return sub


def ensure_seats(tenant: Tenant, sku_ref: str, at_least: int, *, now: dt.datetime) -> Subscription:
    """Raise a subscription to `at_least` seats (free SKUs such as MCOPSTNC); callers holding
    the money lock (funding) may call it: it takes the directory lock after."""
    sku = find_sku(sku_ref)
    with directory_lock(tenant.id):
        sub = _subscription(tenant, sku.id, now)
        if sub.enabled_units < at_least:
            sub.enabled_units = at_least
            sub = _saved_and_settled(tenant, sub, now)
    return sub


def _saved_and_settled(tenant: Tenant, sub: Subscription, now: dt.datetime) -> Subscription:
    """Save a subscription's new seats (inside the directory lock): group members waiting for
    one (CountViolation) get them at once, in member order, whoever added the seats (a
    purchase, setSeats, or funding's Communication Credits seats). The row as it is then,
    their seats counted, for the answer and the audit entry."""
    sub.updated_at = now
    sub.save()
    group_seats.settle_seats(tenant, now=now)
    return Subscription.get_by_id(sub.id)


def _subscription(tenant: Tenant, sku_id: int, now: dt.datetime) -> Subscription:
    sub = (
        Subscription.select()
        .where((Subscription.tenant == tenant.id) & (Subscription.sku == sku_id))
        .first()
    )
    if sub is None:
        sub = Subscription.create(tenant=tenant.id, sku=sku_id, created_at=now, updated_at=now)
    return sub


def subscriptions(tenant: Tenant) -> list[Subscription]:
    return list(
        Subscription.select().where(Subscription.tenant == tenant.id).order_by(Subscription.id)
    )


def capability_status(sub: Subscription) -> str:
    """Graph's capabilityStatus: Enabled while seats are active, else the worst state held."""
    if sub.enabled_units > 0:
        return "Enabled"
    if sub.warning_units > 0:
        return "Warning"
    if sub.suspended_units > 0:
        return "Suspended"
    if sub.locked_out_units > 0:
        return "LockedOut"
    return "Enabled"
