"""Calling policies granted to users (issue 17): Teams's outbound calling restrictions."""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField
from commcredits.models.tenants import Tenant
from commcredits.models.users import User


class DialOutGrant(BaseModel):
    """A `CsOnlineDialOutPolicy` instance granted to one user, or (user NULL) the tenant's
    global grant, which applies to every user who has none (`Grant-CsDialoutPolicy -Global`).
    No row: Teams's default (services/dial_out.py)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE")
    policy_name = peewee.CharField(max_length=64)
    granted_at = UTCDateTimeField()

    class Meta:
        table_name = "dial_out_grant"
        # One grant per user; one global grant per tenant (a partial unique index, migration
        # 0014, since NULLs are distinct in a plain one).
        indexes = ((("tenant", "user"), True),)
