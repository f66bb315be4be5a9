"""Funding adds Communication Credits seats so every user can hold one (seed 2.4.2)."""

from __future__ import annotations

import datetime as dt

from commcredits.models import Sku, Subscription, Tenant, User
from commcredits.services import audit, seats
from commcredits.services.catalog import CREDITS_SKU
from commcredits.services.principal import Principal


def ensure_credit_seats(tenant: Tenant, principal: Principal, *, now: dt.datetime) -> None:
    """Enough `MCOPSTNC` seats for all the tenant's users; called by a flush that funded."""
    users = User.select().where(User.tenant == tenant.id).count()
    before = (
        Subscription.select(Subscription.enabled_units)
        .join(Sku)
        .where((Subscription.tenant == tenant.id) & (Sku.part_number == CREDITS_SKU))
        .scalar()
    )
    if before is not None and before >= users:
        return
    sub = seats.ensure_seats(tenant, CREDITS_SKU, users, now=now)
    audit.record(
        principal,
        "addCreditSeats",
        sub,
        tenant_id=tenant.id,
        before=None if before is None else {"sku": CREDITS_SKU, "enabled": before},
        after={"sku": CREDITS_SKU, "enabled": sub.enabled_units},
        now=now,
    )
