from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.catalog import Sku
from commcredits.models.tenants import Tenant


class User(BaseModel):
    # No index of its own: (tenant, upn_key) serves lookups by tenant (migration 0007).
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    user_principal_name = peewee.CharField(max_length=113)
    # UPNs are unique per tenant, case-insensitively: the lower-cased copy carries the index.
    upn_key = peewee.CharField(max_length=113)
    display_name = peewee.CharField(max_length=256, default="")
    given_name = peewee.CharField(max_length=64, default="")
    surname = peewee.CharField(max_length=64, default="")
    job_title = peewee.CharField(max_length=128, default="")
    department = peewee.CharField(max_length=64, default="")
    office_location = peewee.CharField(max_length=128, default="")
    mobile_phone = peewee.CharField(max_length=64, default="")
    # Graph's multi-valued properties, as JSON lists on the row (migration 0011): a page of
    # users reads them with the users, no query per user.
    business_phones = JSONField(default=list)
    fax_number = peewee.CharField(max_length=64, default="")
    other_mails = JSONField(default=list)
    street_address = peewee.CharField(max_length=1024, default="")
    city = peewee.CharField(max_length=128, default="")
    state = peewee.CharField(max_length=128, default="")
    postal_code = peewee.CharField(max_length=40, default="")
    country = peewee.CharField(max_length=128, default="")
    usage_location = peewee.CharField(max_length=2, null=True)
    account_enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    # What a search matches (services/user_search.py), written with the row on every write;
    # indexed by FTS5 on SQLite and pg_trgm on PostgreSQL (migration 0012).
    search_text = peewee.TextField(default="")

    class Meta:
        table_name = "directory_user"
        # Each filter's index ends in id: a filtered page is read in id order (migration 0012).
        indexes = (
            (("tenant", "upn_key"), True),
            (("tenant", "id"), False),
            (("tenant", "usage_location", "id"), False),
            (("tenant", "department", "id"), False),
            (("tenant", "account_enabled", "id"), False),
        )


class TenantUserCount(BaseModel):
    """Users per tenant, kept by triggers on directory_user in the writing transaction
    (migration 0012): `users { totalCount }` reads it instead of counting the users."""

    tenant = peewee.ForeignKeyField(Tenant, primary_key=True, on_delete="CASCADE")
    users = peewee.IntegerField(default=0)

    class Meta:
        table_name = "tenant_user_count"


class LicenseAssignment(BaseModel):
    # No indexes of their own: (tenant, sku) and (user, sku) serve them, and SKUs are never
    # deleted (migration 0007).
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    sku = peewee.ForeignKeyField(Sku, index=False)
    disabled_plans = JSONField(default=list)  # service plan ids switched off
    assigned_at = UTCDateTimeField()
    # Where the seat comes from (migration 0019): a direct assignment, groups, or both.
    # `inherited_plans` (NULL: no Active group assignment) is the intersection of the groups'
    # disabled plans; `direct_plans` the direct assignment's, set only when both exist.
    # `disabled_plans` is what the user has: the intersection over every source (Entra: the
    # union of enabled plans wins). Rows that are only direct keep the two NULL, so the
    # direct path (services/licenses) writes them as it always has.
    direct = peewee.BooleanField(default=True)
    direct_plans = JSONField(null=True)
    inherited_plans = JSONField(null=True)

    class Meta:
        table_name = "license_assignment"
        indexes = (
            (("user", "sku"), True),
            (("tenant", "sku"), False),
        )
