"""Outbound calling restrictions (issue 17): Teams's `CsOnlineDialOutPolicy`.

The nine instances are predefined and read-only, as in Teams: each fixes
`AllowPSTNConferencingDialOutType` (dial-out from the user's meetings, our CONFERENCE_DIAL_OUT
calls) and `AllowPSTNOutboundCallingType` (the user's own PSTN calls, DOMESTIC and
INTERNATIONAL). TOLL_FREE_INBOUND is not outbound and never restricted; an emergency number
(a card row flagged `emergency`) never is either.

A user's effective policy: their own grant, else the best-ranked grant to a group they belong
to (services/group_policies.py), else the tenant's global grant (`-Global`), else Teams's
default with nothing granted: both settings InternationalAndDomestic
(`DialoutCPCandPSTNInternational`). Domestic vs international is rating's rule (the caller's
usage location vs the destination's country; US, CA and PR are one area).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from commcredits.db import db, directory_lock, execute_in
from commcredits.models import DialOutGrant, Tenant, User
from commcredits.services import audit, table_stats
from commcredits.services.errors import DomainError, check_batch_size
from commcredits.services.group_policy_lookup import (
    DIAL_OUT,
    Effective,
    GrantingGroup,
    InheritedGrant,
    best_for_users,
    effective,
    own_and_global,
)
from commcredits.services.principal import Principal
from commcredits.services.users import find_users

INTERNATIONAL_AND_DOMESTIC = "InternationalAndDomestic"
DOMESTIC_ONLY = "DomesticOnly"
DISABLED = "Disabled"
SETTINGS = (INTERNATIONAL_AND_DOMESTIC, DOMESTIC_ONLY, DISABLED)

CONFERENCING_SETTING = "AllowPSTNConferencingDialOutType"
OUTBOUND_SETTING = "AllowPSTNOutboundCallingType"

DIAL_OUT_RESTRICTED = "DIAL_OUT_RESTRICTED"  # the BLOCKED reason (and authorizeCall's)


@dataclass(frozen=True)
class DialOutPolicy:
    name: str
    conferencing: str  # AllowPSTNConferencingDialOutType
    outbound: str  # AllowPSTNOutboundCallingType


def _policy(name: str, conferencing: str, outbound: str) -> DialOutPolicy:
    return DialOutPolicy(name, conferencing, outbound)


_I, _D, _X = INTERNATIONAL_AND_DOMESTIC, DOMESTIC_ONLY, DISABLED
# In the order Teams lists them (Get-CsOnlineDialOutPolicy).
CATALOG: tuple[DialOutPolicy, ...] = (
    _policy("DialoutCPCandPSTNInternational", _I, _I),
    _policy("DialoutCPCDomesticPSTNInternational", _D, _I),
    _policy("DialoutCPCDisabledPSTNInternational", _X, _I),
    _policy("DialoutCPCInternationalPSTNDomestic", _I, _D),
    _policy("DialoutCPCInternationalPSTNDisabled", _I, _X),
    _policy("DialoutCPCandPSTNDomestic", _D, _D),
    _policy("DialoutCPCDomesticPSTNDisabled", _D, _X),
    _policy("DialoutCPCDisabledPSTNDomestic", _X, _D),
    _policy("DialoutCPCandPSTNDisabled", _X, _X),
)
BY_NAME = {p.name.lower(): p for p in CATALOG}
# Teams's default with nothing granted: both settings InternationalAndDomestic.
DEFAULT_POLICY = BY_NAME["dialoutcpcandpstninternational"]


EffectivePolicy = Effective  # a user's dial-out policy (group_policy_lookup.effective)


def _resolve(
    own: DialOutPolicy | None,
    inherited: tuple[DialOutPolicy, GrantingGroup] | None,
    glob: DialOutPolicy | None,
) -> Effective[DialOutPolicy]:
    return effective(own, inherited, glob, DEFAULT_POLICY)


def _inherited(
    user_ids: list[int], tenant_id: int | None = None
) -> dict[int, tuple[DialOutPolicy, GrantingGroup]]:
    """Each user's best-ranked group grant: one more statement per 1,000 users."""
    return _of_groups(best_for_users(DIAL_OUT, user_ids, tenant_id=tenant_id))


def _of_groups(
    grants: Mapping[int, InheritedGrant],
) -> dict[int, tuple[DialOutPolicy, GrantingGroup]]:
    return {uid: (_named(g.policy_name or ""), g.group) for uid, g in grants.items()}


def _named(granted: str) -> DialOutPolicy:
    """The instance a grant names (a name no longer in the catalog: the default)."""
    return BY_NAME.get(granted.lower(), DEFAULT_POLICY)


def policy_named(name: str, *, field: str = "policyName") -> DialOutPolicy:
    """The instance of that name (case-insensitive, as PowerShell takes it); else UNKNOWN_POLICY."""
    found = BY_NAME.get((name or "").strip().lower())
    if found is None:
        raise DomainError(
            "UNKNOWN_POLICY",
            f"'{name}' is not a dial-out policy; the policies are "
            f"{', '.join(p.name for p in CATALOG)}.",
            field,
        )
    return found


def setting_for(call_type: str) -> str | None:
    """The setting that governs a call type (None: not outbound, never restricted)."""
    if call_type in ("DOMESTIC", "INTERNATIONAL"):
        return OUTBOUND_SETTING
    if call_type == "CONFERENCE_DIAL_OUT":
        return CONFERENCING_SETTING
    return None


def restricted(policy: DialOutPolicy, call_type: str, *, domestic: bool | None) -> str | None:
    """The setting that forbids this call (None: allowed). `domestic` None: not known (a
    destination the card does not place), which only a Disabled setting forbids here."""
    setting = setting_for(call_type)
    if setting is None:
        return None
    value = policy.outbound if setting == OUTBOUND_SETTING else policy.conferencing
    if value == DISABLED or (value == DOMESTIC_ONLY and domestic is False):
        return setting
    return None


# -- the read side ------------------------------------------------------------------------
CHUNK = 1000  # a rating batch's users in one statement


def effective_for_users(
    tenant_id: int,
    user_ids: Iterable[int],
    *,
    inherited: Mapping[int, InheritedGrant] | None = None,
    own: bool = True,
) -> dict[int, EffectivePolicy]:
    """Each user's effective policy, none written: their own grants with the global one (one
    statement per 1,000 users; none with `own` False, for a tenant known to have none) and
    their best group grants — `inherited` when the caller read them already (rating reads
    both policy types' at once: group_policy_lookup.best_by_type), else one more statement."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    mine: dict[int, DialOutPolicy] = {}
    global_grant: DialOutPolicy | None = None
    if own:
        p = db.obj.param
        # The global grant, then the users' own, each an index lookup (as one OR condition,
        # every grant of the tenant was read: calling_policies.effective_for_users says so).
        grants = (
            f"SELECT user_id, policy_name FROM {DialOutGrant._meta.table_name} "
            f"WHERE tenant_id = {p} AND "
        )
        sql = f"{grants}user_id IS NULL UNION ALL {grants}user_id IN {{in}}"
        rows = execute_in(sql, ids, params=[tenant_id, tenant_id], chunk=CHUNK)
        mine, glob = own_and_global((tenant_id, u, _named(name)) for u, name in rows)
        global_grant = glob.get(tenant_id)
    groups = _inherited(ids, tenant_id) if inherited is None else _of_groups(inherited)
    return {u: _resolve(mine.get(u), groups.get(u), global_grant) for u in ids}


def global_grant(tenant: Tenant) -> DialOutPolicy | None:
    row = DialOutGrant.get_or_none((DialOutGrant.tenant == tenant.id) & DialOutGrant.user.is_null())
    return BY_NAME.get(row.policy_name.lower()) if row else None


# -- granting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GrantResult:
    policy: DialOutPolicy | None  # None: the grant was removed
    user_ids: list[int]  # the users granted to ([] for the global grant)
    global_: bool
    what_if: bool = False  # nothing was written: what would be granted


def grant_dial_out_policy(
    tenant: Tenant,
    principal: Principal,
    user_refs: list[int | str] | None,
    policy_name: str | None,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> GrantResult:
    """`Grant-CsDialoutPolicy`: grant `policy_name` to the users (`user_refs` None: the global
    grant); `policy_name` None removes the grant(s). All or nothing; one audit entry per grant
    changed. Another tenant's user is not found. With `what_if` every check runs (the batch's
    size, the name, every user) and nothing is written: no grant, no audit entry."""
    if user_refs is not None:
        check_batch_size(len(user_refs), "userIds")
    policy = policy_named(policy_name) if policy_name is not None else None
    # The tenant's directory lock, as calling-policy grants take it: on PostgreSQL a plain
    # transaction let two grants for one user both delete and both insert (a unique
    # violation, an internal error, for one of them).
    with directory_lock(tenant.id):
        users: list[User] = []
        if user_refs is not None:
            users = find_users(tenant, user_refs)
        ids = [u.id for u in users]
        if what_if:
            return GrantResult(policy, ids, user_refs is None, what_if=True)
        scope = DialOutGrant.user.is_null() if user_refs is None else DialOutGrant.user.in_(ids)
        before = {
            uid: name
            for uid, name in DialOutGrant.select(DialOutGrant.user, DialOutGrant.policy_name)
            .where((DialOutGrant.tenant == tenant.id) & scope)
            .tuples()
        }
        if user_refs is not None and not ids:
            return GrantResult(policy, [], False)
        DialOutGrant.delete().where((DialOutGrant.tenant == tenant.id) & scope).execute()
        targets: list[int | None] = [None] if user_refs is None else ids
        if policy is not None:
            DialOutGrant.insert_many(
                [
                    {"tenant": tenant.id, "user": t, "policy_name": policy.name, "granted_at": now}
                    for t in targets
                ]
            ).execute()
        upns = {u.id: u.user_principal_name for u in users}
        entries = [
            {
                "action": "grantDialOutPolicy",
                "target": ("DialOutPolicyGrant", "global" if t is None else upns[t]),
                "tenant_id": tenant.id,
                "before": {"policyName": before[t]} if t in before else None,
                "after": {"policyName": policy.name} if policy is not None else None,
            }
            for t in targets
            if before.get(t) != (policy.name if policy else None)
        ]
        if entries:
            audit.record_many(principal, entries, now=now)
    if policy is not None:  # a batch of grants grows the table: planner figures after bulk loads
        table_stats.rows_inserted(DialOutGrant._meta.table_name, len(targets) - len(before))
    return GrantResult(policy, ids, user_refs is None)


def effective_by_user_ids(user_ids: Iterable[int]) -> dict[int, EffectivePolicy]:
    """As `effective_for_users` for users of any tenants (a page of `User`s): two statements
    per 1,000 users, each user's own grant and their tenant's global grant joined to them, then
    their group grants."""
    ids = sorted(set(user_ids))
    # The user's own grant and the global one as two joins, each an index lookup (one join
    # on `user_id = u.id OR user_id IS NULL` read every grant of the tenant per user).
    sql = (
        "SELECT u.id, mine.policy_name, everyone.policy_name FROM directory_user u "
        "LEFT JOIN dial_out_grant mine ON mine.tenant_id = u.tenant_id "
        "AND mine.user_id = u.id "
        "LEFT JOIN dial_out_grant everyone ON everyone.tenant_id = u.tenant_id "
        "AND everyone.user_id IS NULL "
        "WHERE u.id IN {in}"
    )
    rows = execute_in(sql, ids, chunk=CHUNK)
    own = {u: _named(name) for u, name, _ in rows if name is not None}
    glob = {u: _named(name) for u, _, name in rows if name is not None}
    groups = _inherited(ids)
    return {u: _resolve(own.get(u), groups.get(u), glob.get(u)) for u in ids}
