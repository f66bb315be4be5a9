"""Users blocked from PSTN calls (issue 17): the current blocks and the log of block actions."""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField
from commcredits.models.tenants import Tenant
from commcredits.models.users import User

BLOCKED, UNBLOCKED = "BLOCKED", "UNBLOCKED"  # PstnBlockLog.user_block_mode
REASON_MAX = 500  # a block's reason, like an adjustment's


class PstnBlock(BaseModel):
    """A user blocked from PSTN calls now: one row per blocked user, deleted on unblock (the
    log keeps the history). `remediation_id` is the block action's GUID in the log."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    user = peewee.ForeignKeyField(User, unique=True, on_delete="CASCADE")
    reason = peewee.CharField(max_length=REASON_MAX)
    blocked_at = UTCDateTimeField()
    blocked_by = peewee.CharField(max_length=200)  # the principal's label
    remediation_id = peewee.CharField(max_length=36)

    class Meta:
        table_name = "pstn_block"
        # The report pages a tenant's blocks by id.
        indexes = ((("tenant", "id"), False),)


class PstnBlockLog(BaseModel):
    """One block or unblock action (Graph's pstnBlockedUsersLogRow). The user's name and number
    are copied as they were: the row outlives the user (user NULL once deleted)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    user = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
    user_principal_name = peewee.CharField(max_length=113)
    user_display_name = peewee.CharField(max_length=256, default="")
    user_telephone_number = peewee.CharField(max_length=64, default="")
    user_block_mode = peewee.CharField(max_length=16)  # BLOCKED or UNBLOCKED
    reason = peewee.CharField(max_length=REASON_MAX, default="")
    at = UTCDateTimeField()
    actor = peewee.CharField(max_length=200)
    remediation_id = peewee.CharField(max_length=36, unique=True)

    class Meta:
        table_name = "pstn_block_log"
        # The log's pages: a tenant's actions by id, from/to by time.
        indexes = ((("tenant", "id"), False), (("tenant", "at"), False))
