"""Calling policies granted to users (issue 17): Teams's outbound calling restrictions."""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField
from commcredits.models.groups import Group
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


class CallingPolicy(BaseModel):
    """A tenant's named Teams calling policy (`CsTeamsCallingPolicy`, the spend-limit subset).
    `name_key` is the lower-cased name: names are unique per tenant in any case, as
    PowerShell's `-Identity`. The limit is integer minor units of the tenant's currency; it
    applies while `enable_spend_limits` is true (`Policy.applied_limit_minor`,
    services/calling_policy_values.py)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    name = peewee.CharField(max_length=64)
    name_key = peewee.CharField(max_length=64)
    description = peewee.CharField(max_length=1024, default="")
    enable_spend_limits = peewee.BooleanField(default=False)
    spend_limit_minor = peewee.BigIntegerField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "calling_policy"
        indexes = ((("tenant", "name_key"), True),)
        constraints = [peewee.Check("spend_limit_minor IS NULL OR spend_limit_minor >= 0")]


class CallingPolicyGrant(BaseModel):
    """A calling policy granted to one user, or (user NULL) the tenant's global grant, which
    applies to every user without one (`Grant-CsTeamsCallingPolicy -Global`). No row: Teams's
    built-in Global instance, which sets no spend limit."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE")
    # RESTRICT: a policy is removed only once nobody holds it (removeCallingPolicy refuses).
    policy = peewee.ForeignKeyField(CallingPolicy, on_delete="RESTRICT")
    granted_at = UTCDateTimeField()

    class Meta:
        table_name = "calling_policy_grant"
        # One grant per user; one global grant per tenant (a partial unique index, 0015).
        indexes = ((("tenant", "user"), True),)


class UserMonthSpend(BaseModel):
    """What one user's calls took from credits in one calendar month (UTC), kept by rating in
    the transaction that writes the calls (services/spend_limits.py), so a spend limit reads
    one row instead of summing call records. `notified_*`: the month's limit notifications
    were sent (once per user per month)."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    month = peewee.CharField(max_length=7)
    spent_minor = peewee.BigIntegerField(default=0)
    notified_80 = peewee.BooleanField(default=False)
    notified_100 = peewee.BooleanField(default=False)
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "user_month_spend"
        indexes = ((("user", "month"), True),)
        constraints = [peewee.Check("spent_minor >= 0")]


class GroupPolicyGrant(BaseModel):
    """A policy granted to a group with a rank (Teams's group policy assignment,
    `New-CsGroupPolicyAssignment`): members without a grant of their own inherit the
    best-ranked (lowest `rank`) one among their groups' grants of that type. Ranks are 1..n
    per tenant and type, without gaps (services/group_policies.py).

    DIAL_OUT grants name one of the nine instances (`policy_name`); CALLING grants point at the
    tenant's calling policy (`calling_policy`, RESTRICT as the user grants: a rename keeps
    them, a removal is refused while one holds it), `policy_name` NULL."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
    policy_type = peewee.CharField(max_length=16)  # DIAL_OUT, CALLING
    policy_name = peewee.CharField(max_length=64, null=True)
    calling_policy = peewee.ForeignKeyField(CallingPolicy, null=True, on_delete="RESTRICT")
    rank = peewee.IntegerField()
    granted_at = UTCDateTimeField()

    class Meta:
        table_name = "group_policy_grant"
        indexes = (
            # One assignment per group and type; (group, type) is also the join from a
            # user's memberships in the effective lookups.
            (("group", "policy_type"), True),
            # Ranks unique per tenant and type; serves groupPolicyAssignments in rank order.
            (("tenant", "policy_type", "rank"), True),
        )
        constraints = [
            peewee.Check("rank >= 1"),
            peewee.Check(
                "(policy_type = 'DIAL_OUT' AND policy_name IS NOT NULL "
                "AND calling_policy_id IS NULL) OR (policy_type = 'CALLING' "
                "AND calling_policy_id IS NOT NULL AND policy_name IS NULL)"
            ),
        ]
