"""Rate cards, minute pools and rated call records (SPEC §5)."""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField
from commcredits.models.tenants import Tenant
from commcredits.models.users import User


class RateCard(BaseModel):
    """One imported card: every row applies to calls started at or after `effective_from`,
    until a card with a later `effective_from` takes over. Cards are never edited."""

    name = peewee.CharField(max_length=200)
    effective_from = UTCDateTimeField()
    imported_at = UTCDateTimeField()
    source = peewee.CharField(max_length=300, default="")
    sample = peewee.BooleanField(default=False)
    row_count = peewee.IntegerField(default=0)

    class Meta:
        table_name = "rate_card"
        indexes = ((("effective_from", "id"), False),)


class Rate(BaseModel):
    card = peewee.ForeignKeyField(RateCard, on_delete="CASCADE")
    call_type = peewee.CharField(max_length=24)
    prefix = peewee.CharField(max_length=15)  # E.164 digits, no '+'
    country = peewee.CharField(max_length=2)  # the destination's country (the numbering plan)
    # Card prices go below the minor unit (0.019/min), so millionths of the major unit.
    price_micros = peewee.BigIntegerField()
    currency = peewee.CharField(max_length=3)
    zone = peewee.CharField(max_length=8, default="")  # "A": Audio Conferencing Zone A
    premium = peewee.BooleanField(default=False)  # premium-rate numbers: never from a pool
    description = peewee.CharField(max_length=200, default="")
    # An emergency number (112, 911, …), matched as the whole number: never restricted by a
    # dial-out policy, never charged (migration 0014). No Python default: a card imported
    # before the column exists (migration 0004) leaves it out, and the column's default holds.
    emergency = peewee.BooleanField(constraints=[peewee.SQL("DEFAULT FALSE")])

    class Meta:
        table_name = "rate"
        indexes = (
            (("card", "currency", "call_type", "prefix"), True),
            # Each filter pages in id order (migration 0013).
            (("card", "id"), False),
            (("card", "call_type", "id"), False),
            (("card", "country", "id"), False),
            (("card", "prefix", "id"), False),
        )
        constraints = [peewee.Check("price_micros >= 0")]


class MinutePool(BaseModel):
    """Pooled plan minutes of one tenant, calendar month (UTC), plan and usage-location country
    (country "" for the tenant-wide dial-out pool)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    month = peewee.CharField(max_length=7)  # YYYY-MM
    plan = peewee.CharField(max_length=32)  # MCOPSTN1, MCOPSTN2, MCOPSTN5, MCOMEETADV
    country = peewee.CharField(max_length=2)
    call_type = peewee.CharField(max_length=24)  # DOMESTIC, INTERNATIONAL, CONFERENCE_DIAL_OUT
    granted = peewee.IntegerField(default=0)
    used = peewee.IntegerField(default=0)
    notified_80 = peewee.BooleanField(default=False)
    notified_100 = peewee.BooleanField(default=False)
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "minute_pool"
        indexes = ((("tenant", "month", "plan", "country", "call_type"), True),)
        constraints = [peewee.Check("used >= 0"), peewee.Check("granted >= 0")]


class CallRecord(BaseModel):
    """A rated call. `call_id` is unique per tenant: a repeat returns this row unchanged."""

    # No index of its own: (tenant, call_id) and the other tenant-first indexes begin with it
    # (migration 0026 dropped the one 0004 made, with two more that others begin with).
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    call_id = peewee.CharField(max_length=128)
    user = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
    # Kept as at rating time, so the usage report survives user renames and deletions.
    user_principal_name = peewee.CharField(max_length=113)
    display_name = peewee.CharField(max_length=256, default="")
    usage_location = peewee.CharField(max_length=2, default="")
    started_at = UTCDateTimeField()
    month = peewee.CharField(max_length=7)
    duration_seconds = peewee.IntegerField()
    destination = peewee.CharField(max_length=16)  # +E.164
    destination_country = peewee.CharField(max_length=2, default="")
    call_type = peewee.CharField(max_length=24)
    domestic = peewee.BooleanField(default=False)
    status = peewee.CharField(max_length=8)  # RATED, BLOCKED
    reason = peewee.CharField(max_length=32, null=True)
    minutes = peewee.IntegerField(default=0)
    pool_minutes = peewee.IntegerField(default=0)
    charged_minutes = peewee.IntegerField(default=0)
    pool_plan = peewee.CharField(max_length=32, default="")  # whose pool gave the pool minutes
    rate = peewee.ForeignKeyField(Rate, null=True, on_delete="SET NULL")
    price_micros = peewee.BigIntegerField(null=True)
    charge_minor = peewee.BigIntegerField(default=0)
    currency = peewee.CharField(max_length=3)
    rated_at = UTCDateTimeField()

    class Meta:
        table_name = "call_record"
        indexes = (
            (("tenant", "call_id"), True),
            # (tenant, month, user) for the usage report: migration 0015.
            # Each filter pages in (started_at, id) order (migration 0018, which also
            # indexes the tenant and LOWER(user_principal_name), started_at, id).
            (("tenant", "started_at", "id"), False),
            (("tenant", "user", "started_at", "id"), False),
            (("tenant", "status", "started_at", "id"), False),
            (("tenant", "call_type", "started_at", "id"), False),
        )
        constraints = [peewee.Check("charge_minor >= 0")]


class UsageMonthLine(BaseModel):
    """A tenant's calls of one month, call type and destination country, summed as they are
    rated (services/usage_lines.py, in the transaction that inserts them; migration 0028):
    `usageSummary` reads these few rows, never the month's calls."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    month = peewee.CharField(max_length=7)
    call_type = peewee.CharField(max_length=24)
    destination_country = peewee.CharField(max_length=2)
    calls = peewee.BigIntegerField()
    blocked_calls = peewee.BigIntegerField()
    minutes = peewee.BigIntegerField()  # of RATED calls
    pool_minutes = peewee.BigIntegerField()
    charged_minutes = peewee.BigIntegerField()
    charge_minor = peewee.BigIntegerField()

    class Meta:
        table_name = "usage_month_line"
        indexes = ((("tenant", "month", "call_type", "destination_country"), True),)
