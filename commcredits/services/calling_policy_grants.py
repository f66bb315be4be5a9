"""Granting Teams calling policies (issue 17): `Grant-CsTeamsCallingPolicy` to users, or with
`-Global` to every user who has none; the policies themselves are services/calling_policies.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.db import directory_lock
from commcredits.models import CallingPolicy, CallingPolicyGrant, Tenant, User
from commcredits.services import audit, table_stats
from commcredits.services.calling_policies import CHUNK, policy_named
from commcredits.services.calling_policy_values import Policy
from commcredits.services.errors import check_batch_size

# The user lookup of grantDialOutPolicy: the same refs, order, and NOT_FOUND field.
from commcredits.services.users import find_users


@dataclass(frozen=True)
class GrantResult:
    policy: Policy | None  # None: the grant was removed
    user_ids: list[int]  # the users granted to ([] for the global grant)
    global_: bool
    what_if: bool = False  # nothing was written: what would be granted


def grant_calling_policy(
    tenant: Tenant,
    principal,
    user_refs: list[int | str] | None,
    policy_name: str | None,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> GrantResult:
    """`Grant-CsTeamsCallingPolicy`: grant `policy_name` to the users (`user_refs` None: the
    global grant); `policy_name` None removes the grant(s). All or nothing; one audit entry per
    grant changed. Another tenant's user is not found. With `what_if` every check runs (the
    batch's size, the name, every user) and nothing is written: no grant, no audit entry."""
    if user_refs is not None:
        check_batch_size(len(user_refs), "userIds")
    with directory_lock(tenant.id):
        row = policy_named(tenant, policy_name) if policy_name is not None else None
        users: list[User] = find_users(tenant, user_refs) if user_refs is not None else []
        policy = Policy.of(row, tenant.currency) if row is not None else None
        ids = [u.id for u in users]
        if what_if:
            return GrantResult(policy, ids, user_refs is None, what_if=True)
        scope = (
            CallingPolicyGrant.user.is_null()
            if user_refs is None
            else CallingPolicyGrant.user.in_(ids)
        )
        before = {
            uid: name
            for uid, name in CallingPolicyGrant.select(CallingPolicyGrant.user, CallingPolicy.name)
            .join(CallingPolicy)
            .where((CallingPolicyGrant.tenant == tenant.id) & scope)
            .tuples()
        }
        if user_refs is not None and not ids:
            return GrantResult(policy, [], False)
        CallingPolicyGrant.delete().where(
            (CallingPolicyGrant.tenant == tenant.id) & scope
        ).execute()
        targets: list[int | None] = [None] if user_refs is None else ids
        if row is not None:
            for start in range(0, len(targets), CHUNK):
                CallingPolicyGrant.insert_many(
                    [
                        {"tenant": tenant.id, "user": t, "policy": row.id, "granted_at": now}
                        for t in targets[start : start + CHUNK]
                    ]
                ).execute()
        upns = {u.id: u.user_principal_name for u in users}
        after_name = row.name if row is not None else None
        entries = [
            {
                "action": "grantCallingPolicy",
                "target": ("CallingPolicyGrant", "global" if t is None else upns[t]),
                "tenant_id": tenant.id,
                "before": {"policyName": before[t]} if t in before else None,
                "after": {"policyName": after_name} if after_name is not None else None,
            }
            for t in targets
            if before.get(t) != after_name
        ]
        if entries:
            audit.record_many(principal, entries, now=now)
    if row is not None:  # a batch of grants grows the table: planner figures after bulk loads
        table_stats.rows_inserted(CallingPolicyGrant._meta.table_name, len(targets) - len(before))
    return GrantResult(policy, ids, user_refs is None)


def global_grant(tenant: Tenant) -> Policy | None:
    """The policy granted with -Global (None: none; users without a grant have the built-in)."""
    grant = (
        CallingPolicyGrant.select(CallingPolicyGrant, CallingPolicy)
        .join(CallingPolicy)
        .where((CallingPolicyGrant.tenant == tenant.id) & CallingPolicyGrant.user.is_null())
        .first()
    )
    return Policy.of(grant.policy, tenant.currency) if grant else None
