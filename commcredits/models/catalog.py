from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.tenants import Tenant


class Sku(BaseModel):
    sku_id = peewee.CharField(max_length=36, unique=True)  # GUID, lower case
    part_number = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=200)
    # [{"servicePlanId": guid, "servicePlanName": name}, ...]
    service_plans = JSONField()
    # ISO alpha-2 codes where the SKU may be assigned; NULL means everywhere.
    countries = JSONField(null=True)
    builtin = peewee.BooleanField(default=False)

    class Meta:
        table_name = "sku"


class Subscription(BaseModel):
    """A tenant's seats of one SKU (Graph's subscribedSku)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    sku = peewee.ForeignKeyField(Sku)
    enabled_units = peewee.IntegerField(default=0)
    suspended_units = peewee.IntegerField(default=0)
    warning_units = peewee.IntegerField(default=0)
    locked_out_units = peewee.IntegerField(default=0)
    # Kept in step with license_assignment in the same transaction; audit recounts it.
    consumed_units = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "subscription"
        indexes = ((("tenant", "sku"), True),)
        constraints = [
            peewee.Check("consumed_units >= 0"),
            peewee.Check("consumed_units <= enabled_units"),
        ]
