"""What a rating batch's users' policies say (issues 17, 18): their dial-out policy, their
monthly spend limit and whether they are blocked from PSTN calls, loaded once per batch with
no more statements than the tenant's configuration needs.

The rules are the lookups' own (services/dial_out.py, calling_policy_values.py,
group_policy_lookup.py, pstn_blocks.py); this is only how rating reads them:

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

from commcredits.db import db, execute_in
from commcredits.services import dial_out
from commcredits.services.calling_policy_values import Policy, resolve
from commcredits.services.group_policy_lookup import (
    CALLING,
    DIAL_OUT,
    Effective,
    best_by_type,
    effective,
)

CHUNK = 1000  # a batch's users in one statement


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


def for_batch(tenant_id: int, currency: str, user_ids: Iterable[int]) -> BatchPolicies:
    """The policies of these users of the tenant (none written)."""
    ids = sorted(set(user_ids))
    if not ids:
        return BatchPolicies()
    return for_users(tenant_id, currency, ids, presence(tenant_id))


def for_users(
    tenant_id: int, currency: str, user_ids: Iterable[int], present: Presence
) -> BatchPolicies:
    """The policies of these users, reading only those `present` says the tenant has: no
    statement when it has none, else one per kind present (both group kinds in one)."""
    ids = sorted(set(user_ids))
    found = BatchPolicies()
    if not ids or present.none:
        return found
    p = db.obj.param
    wanted = ((DIAL_OUT, present.group_dial), (CALLING, present.limited))
    types = [t for t, want in wanted if want]
    groups = best_by_type(types, ids, tenant_id=tenant_id) if types else {}
    if present.own_dial or present.group_dial:
        found.dial_out = _dial_out(tenant_id, ids, groups.get(DIAL_OUT, {}), own=present.own_dial)
    if present.limited:
        found.limits = _limits(tenant_id, currency, ids, groups.get(CALLING, {}))
    if present.blocks:
        sql = f"SELECT user_id FROM pstn_block WHERE tenant_id = {p} AND user_id IN {{in}}"
        found.blocked = {uid for (uid,) in execute_in(sql, ids, params=[tenant_id], chunk=CHUNK)}
    return found


def _dial_out(
    tenant_id: int, ids: list[int], inherited: dict, *, own: bool
) -> dict[int, Effective[dial_out.DialOutPolicy]]:
    """Each user's effective dial-out policy (dial_out.effective_for_users' precedence)."""
    mine: dict[int, dial_out.DialOutPolicy] = {}
    glob: dial_out.DialOutPolicy | None = None
    if own:
        p = db.obj.param
        sql = (
            "SELECT user_id, policy_name FROM dial_out_grant WHERE tenant_id = "
            f"{p} AND (user_id IS NULL OR user_id IN {{in}})"
        )
        for user_id, name in execute_in(sql, ids, params=[tenant_id], chunk=CHUNK):
            policy = dial_out.BY_NAME.get(name.lower(), dial_out.DEFAULT_POLICY)
            if user_id is None:
                glob = policy
            else:
                mine[user_id] = policy
    groups = {
        uid: (dial_out.BY_NAME.get((g.policy_name or "").lower(), dial_out.DEFAULT_POLICY), g.group)
        for uid, g in inherited.items()
    }
    return {u: effective(mine.get(u), groups.get(u), glob, dial_out.DEFAULT_POLICY) for u in ids}


def _limits(tenant_id: int, currency: str, ids: list[int], inherited: dict) -> dict[int, int]:
    """Each limited user's monthly limit in force (calling_policies.effective_for_users'
    precedence: own grant, best-ranked group's, global, built-in)."""
    p = db.obj.param
    sql = (
        "SELECT g.user_id, c.id, c.name, c.description, c.enable_spend_limits, "
        "c.spend_limit_minor FROM calling_policy_grant g "
        f"JOIN calling_policy c ON c.id = g.policy_id WHERE g.tenant_id = {p} "
        "AND (g.user_id IS NULL OR g.user_id IN {in})"
    )
    mine: dict[int, Policy] = {}
    glob: Policy | None = None
    for user_id, pid, name, text, enabled, limit in execute_in(
        sql, ids, params=[tenant_id], chunk=CHUNK
    ):
        policy = Policy(pid, name, text, bool(enabled), limit, currency)
        if user_id is None:
            glob = policy
        else:
            mine[user_id] = policy
    limits: dict[int, int] = {}
    for u in ids:
        applied = resolve(mine.get(u), glob, currency, inherited.get(u)).policy.applied_limit_minor
        if applied is not None:
            limits[u] = applied
    return limits
