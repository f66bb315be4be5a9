"""The group grant each user inherits (issue 18 item 4): the read side of group policy
assignments, apart from services/group_policies.py so the effective-policy lookups
(services/dial_out.py, calling_policies.py, spend_limits.py) can use it without importing
the granting code that imports them.

Teams's precedence: a user's own grant, else the best-ranked (lowest rank) group grant of that
type among the groups they belong to, else the global grant, else the default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from commcredits.db import db, execute_in

DIAL_OUT, CALLING = "DIAL_OUT", "CALLING"
USER, GROUP, GLOBAL, DEFAULT = "USER", "GROUP", "GLOBAL", "DEFAULT"  # where a policy comes from
POLICY_TYPES = (DIAL_OUT, CALLING)
CHUNK = 1000  # a rating batch's users in one statement (well under both databases' limits)


@dataclass(frozen=True)
class GrantingGroup:
    """The group whose grant a user inherits, and that grant's rank."""

    id: int
    display_name: str
    rank: int


@dataclass(frozen=True)
class InheritedGrant:
    group: GrantingGroup
    policy_name: str | None  # DIAL_OUT: the instance's name
    # CALLING: (id, name, description, enable_spend_limits, spend_limit_minor)
    calling: tuple[int, str, str, bool, int | None] | None


P = TypeVar("P")
K = TypeVar("K")


@dataclass(frozen=True)
class Effective(Generic[P]):
    """A user's policy of one type, and where it comes from."""

    granted: P | None  # the user's own grant, a group's, or the global one
    policy: P  # what applies
    source: str  # USER, GROUP, GLOBAL or DEFAULT
    group: GrantingGroup | None = None  # source GROUP: the group whose grant applies


def effective(
    own: P | None, inherited: tuple[P, GrantingGroup] | None, glob: P | None, default: P
) -> Effective[P]:
    """Teams's precedence, for every policy type: the user's own grant, else the best-ranked
    group's, else the global grant, else the type's default."""
    if own is not None:
        return Effective(own, own, USER)
    if inherited is not None:
        return Effective(inherited[0], inherited[0], GROUP, inherited[1])
    if glob is not None:
        return Effective(glob, glob, GLOBAL)
    return Effective(None, default, DEFAULT)


def own_and_global(grants: Iterable[tuple[K, int | None, P]]) -> tuple[dict[int, P], dict[K, P]]:
    """Grant rows as (key, user granted to, policy), the user None for the tenant's global
    grant (`-Global`): each user's own grant by user, and the global grants by key — the
    tenant for one tenant's users (rating), the user the row was read for when a page of
    users of any tenants reads one row per user and grant. Dial-out and calling policies
    alike: which grant applies is group_policy_lookup.effective's."""
    own: dict[int, P] = {}
    glob: dict[K, P] = {}
    for key, user_id, policy in grants:
        if user_id is None:
            glob[key] = policy
        else:
            own[user_id] = policy
    return own, glob


def best_for_users(
    policy_type: str, user_ids: Iterable[int], *, tenant_id: int | None = None
) -> dict[int, InheritedGrant]:
    """Each user's best-ranked group grant of `policy_type` (users in no granted group are
    absent): one statement per 1,000 users whatever their number of groups, from the tenant's
    few grants of the type into group_member's (group_id, user_id) index."""
    return best_by_type((policy_type,), user_ids, tenant_id=tenant_id)[policy_type]


# One row per (member, grant of a wanted type); hand-built: peewee rendered the id list value
# by value, which cost more than the lookup.
_GRANTS_SQL = (
    "SELECT m.user_id, g.policy_type, g.rank, gr.id, gr.display_name, g.policy_name, "
    "p.id, p.name, p.description, p.enable_spend_limits, p.spend_limit_minor "
    "FROM group_policy_grant g "
    "JOIN group_member m ON m.group_id = g.group_id "
    "JOIN directory_group gr ON gr.id = g.group_id "
    "LEFT JOIN calling_policy p ON p.id = g.calling_policy_id "
    "WHERE g.policy_type IN ({types}){tenant} AND m.user_id IN {{in}}"
)


def best_by_type(
    policy_types: Iterable[str], user_ids: Iterable[int], *, tenant_id: int | None = None
) -> dict[str, dict[int, InheritedGrant]]:
    """`best_for_users` for several policy types at once (rating wants both): one statement
    per 1,000 users for all of them."""
    types = tuple(policy_types)
    found: dict[str, dict[int, InheritedGrant]] = {t: {} for t in types}
    ids = sorted(set(user_ids))
    if not ids:
        return found
    param = db.obj.param
    sql = _GRANTS_SQL.format(
        types=", ".join([param] * len(types)),
        tenant=f" AND g.tenant_id = {param}" if tenant_id is not None else "",
    )
    params = [*types, *([tenant_id] if tenant_id is not None else [])]
    rows = execute_in(sql, ids, params=params, chunk=CHUNK)
    for uid, ptype, rank, gid, gname, pname, cid, cname, ctext, enabled, limit in rows:
        of_type = found[ptype]
        best = of_type.get(uid)
        if best is not None and best.group.rank <= rank:
            continue
        calling = (cid, cname, ctext, bool(enabled), limit) if cid is not None else None
        of_type[uid] = InheritedGrant(GrantingGroup(gid, gname, rank), pname, calling)
    return found
