"""Groups and group-based licensing (issue 18, SPEC §10): Entra's groups, their licenses, and
each member's state per inherited license.

`license_assignment` stays "the user holds a seat of the SKU" (one row however many sources);
its `direct` and `inherited_plans` say where the seat comes from (models/users.py).
"""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.catalog import Sku
from commcredits.models.tenants import Tenant
from commcredits.models.users import User

NAME_MAX = 256
DESCRIPTION_MAX = 1024

PROCESSING_COMPLETE = "ProcessingComplete"
PROCESSING_IN_PROGRESS = "ProcessingInProgress"


class Group(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    display_name = peewee.CharField(max_length=NAME_MAX)
    # display_name as a search term is normalized (services/user_search.normalize), written
    # with it by the service: a search is a substring of it, case and accents aside (0035).
    search_name = peewee.TextField(default="")
    description = peewee.CharField(max_length=DESCRIPTION_MAX, default="")
    # Kept with every membership change in the same transaction: lists read it, never COUNT.
    member_count = peewee.IntegerField(default=0)
    # Graph's licenseProcessingState; while in progress, members after `processed_through`
    # (a group_member id) are still to be processed (services/group_licensing.py).
    processing_state = peewee.CharField(max_length=24, default=PROCESSING_COMPLETE)
    processed_through = peewee.BigIntegerField(default=0)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "directory_group"
        indexes = ((("tenant", "id"), False),)


class GroupMember(BaseModel):
    """A user in a group; its id is the member order (processing runs in it)."""

    group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    added_at = UTCDateTimeField()

    class Meta:
        table_name = "group_member"
        indexes = (
            (("group", "user"), True),
            (("group", "id"), False),
        )


class GroupLicense(BaseModel):
    """A SKU the group holds (Graph's group.assignedLicenses), with the plans it disables."""

    group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
    sku = peewee.ForeignKeyField(Sku, index=False)
    disabled_plans = JSONField(default=list)
    assigned_at = UTCDateTimeField()

    class Meta:
        table_name = "group_license"
        indexes = ((("group", "sku"), True),)


class GroupLicenseState(BaseModel):
    """One member's inherited assignment of one of the group's SKUs (Graph's
    licenseAssignmentState with assignedByGroup set): Active, or Error with Entra's code."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    sku = peewee.ForeignKeyField(Sku, index=False)
    state = peewee.CharField(max_length=16)  # Active, Error
    error = peewee.CharField(max_length=40, null=True)
    disabled_plans = JSONField(default=list)
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "group_license_state"
        indexes = (
            (("user", "group", "sku"), True),
            (("group", "state", "user"), False),
            (("tenant", "error", "sku"), False),
        )
