from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.tenants import Tenant


class ApiKey(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE")  # NULL: operator
    role = peewee.CharField(max_length=16)
    name = peewee.CharField(max_length=200, default="")
    prefix = peewee.CharField(max_length=16)  # shown in lists; the rest is never stored
    key_hash = peewee.CharField(max_length=64, unique=True)  # sha256 hex of the whole key
    created_at = UTCDateTimeField()
    revoked_at = UTCDateTimeField(null=True)
    last_used_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "api_key"


class AuditEntry(BaseModel):
    # No index of its own: (tenant, id) serves lookups by tenant (migration 0007).
    tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE", index=False)
    actor_key = peewee.ForeignKeyField(ApiKey, null=True, on_delete="SET NULL")
    actor = peewee.CharField(max_length=200)  # readable: "key cck_ab12… (GLOBAL_ADMIN)"
    action = peewee.CharField(max_length=64)
    target_type = peewee.CharField(max_length=64)
    target_id = peewee.CharField(max_length=200)
    before = JSONField(null=True)
    after = JSONField(null=True)
    at = UTCDateTimeField()

    class Meta:
        table_name = "audit_entry"
        # Each filter pages in id order (migration 0013).
        indexes = (
            (("tenant", "id"), False),
            (("tenant", "action", "id"), False),
            (("tenant", "target_type", "id"), False),
        )
