"""What a rating batch's users' policies say (issues 17, 18): their dial-out policy, their
monthly spend limit and whether they are blocked from PSTN calls, loaded once per batch with
no more statements than the tenant's configuration needs.

The rules and the reads are the owning services' (dial_out.effective_for_users,
calling_policies.effective_for_users, pstn_blocks.blocked_user_ids, group_policy_lookup);
this is only which of them a batch needs:

- one statement first asks which of these the tenant has at all: dial-out grants (own or
  global), dial-out grants to groups, calling policies that set a limit, PSTN blocks;
- what it lacks is not looked up. No dial-out grant anywhere: everyone has Teams's default,
  which restricts nothing. No calling policy with a limit: no grant can give anyone a limit
  (the built-in Global sets none). No block: nobody is blocked;
- what it has is read for the batch's users in one statement per 1,000 users, the group
  grants of both types together.

A tenant with none of them (most) costs one statement a batch; one with all of them five.
authorizeCall reads a user's policies the same way (`for_users`, a batch of one), asking the
first question with its user row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from commcredits.db import db
from commcredits.models import Tenant
from commcredits.services import calling_policies, dial_out, pstn_blocks
from commcredits.services.group_policy_lookup import CALLING, DIAL_OUT, Effective, best_by_type


@dataclass
class BatchPolicies:
    """A batch's users' policies, as rating asks for them."""

    # A user's effective dial-out policy; absent: the default, which restricts nothing.
    dial_out: dict[int, Effective[dial_out.DialOutPolicy]] = field(default_factory=dict)
    # A user's monthly spend limit in force (minor units); absent: not limited.
    limits: dict[int, int] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)  # users blocked from PSTN calls


@dataclass(frozen=True)
class Presence:
    """Which policies the tenant has at all (what is absent is not looked up)."""

    own_dial: bool  # dial-out grants to users or the global one
    group_dial: bool  # dial-out grants to groups
    limited: bool  # calling policies that set a spend limit
    blocks: bool  # PSTN blocks

    @property
    def none(self) -> bool:
        return not (self.own_dial or self.group_dial or self.limited or self.blocks)


def presence_columns(tenant_id: int) -> tuple[str, list]:
    """The four questions as select-list expressions, and their parameters: `presence` asks
    them alone, authorizeCall with its user row (one statement fewer a request)."""
    p = db.obj.param
    sql = (
        f"EXISTS (SELECT 1 FROM dial_out_grant WHERE tenant_id = {p}), "
        f"EXISTS (SELECT 1 FROM group_policy_grant WHERE tenant_id = {p} "
        f"AND policy_type = {p}), "
        f"EXISTS (SELECT 1 FROM calling_policy WHERE tenant_id = {p} "
        "AND enable_spend_limits AND spend_limit_minor IS NOT NULL), "
        f"EXISTS (SELECT 1 FROM pstn_block WHERE tenant_id = {p})"
    )
    return sql, [tenant_id, tenant_id, DIAL_OUT, tenant_id, tenant_id]


def presence_of(values: Iterable) -> Presence:
    """A Presence from the four columns `presence_columns` selects (0/1 on SQLite)."""
    return Presence(*(bool(v) for v in values))


def presence(tenant_id: int) -> Presence:
    """Which policies the tenant has: one statement."""
    sql, params = presence_columns(tenant_id)
    return presence_of(db.execute_sql(f"SELECT {sql}", params).fetchone())


def for_batch(tenant: Tenant, user_ids: Iterable[int]) -> BatchPolicies:
    """The policies of these users of the tenant (none written)."""
    ids = sorted(set(user_ids))
    if not ids:
        return BatchPolicies()
    return for_users(tenant, ids, presence(tenant.id))


def for_users(tenant: Tenant, user_ids: Iterable[int], present: Presence) -> BatchPolicies:
    """The policies of these users, reading only those `present` says the tenant has: no
    statement when it has none, else one per kind present (both group kinds in one), each
    through the service that owns the rule."""
    ids = sorted(set(user_ids))
    found = BatchPolicies()
    if not ids or present.none:
        return found
    wanted = ((DIAL_OUT, present.group_dial), (CALLING, present.limited))
    types = [t for t, want in wanted if want]
    groups = best_by_type(types, ids, tenant_id=tenant.id) if types else {}
    if present.own_dial or present.group_dial:
        found.dial_out = dial_out.effective_for_users(
            tenant.id, ids, inherited=groups.get(DIAL_OUT, {}), own=present.own_dial
        )
    if present.limited:
        policies = calling_policies.effective_for_users(
            tenant, ids, inherited=groups.get(CALLING, {})
        )
        found.limits = {
            u: limit
            for u, e in policies.items()
            if (limit := e.policy.applied_limit_minor) is not None
        }
    if present.blocks:
        found.blocked = pstn_blocks.blocked_user_ids(tenant.id, ids)
    return found
