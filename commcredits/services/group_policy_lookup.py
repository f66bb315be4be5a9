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

import peewee

from commcredits.models import CallingPolicy, Group, GroupMember, GroupPolicyGrant

DIAL_OUT, CALLING = "DIAL_OUT", "CALLING"
USER, GROUP, GLOBAL, DEFAULT = "USER", "GROUP", "GLOBAL", "DEFAULT"  # where a policy comes from
POLICY_TYPES = (DIAL_OUT, CALLING)
CHUNK = 500


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


def best_for_users(
    policy_type: str, user_ids: Iterable[int], *, tenant_id: int | None = None
) -> dict[int, InheritedGrant]:
    """Each user's best-ranked group grant of `policy_type` (users in no granted group are
    absent): one statement per 500 users whatever their number of groups, from the tenant's
    few grants of the type into group_member's (group_id, user_id) index."""
    ids = sorted(set(user_ids))
    found: dict[int, InheritedGrant] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        where = (GroupPolicyGrant.policy_type == policy_type) & GroupMember.user.in_(part)
        if tenant_id is not None:
            where &= GroupPolicyGrant.tenant == tenant_id
        query = (
            GroupPolicyGrant.select(
                GroupMember.user,
                GroupPolicyGrant.rank,
                Group.id,
                Group.display_name,
                GroupPolicyGrant.policy_name,
                CallingPolicy.id,
                CallingPolicy.name,
                CallingPolicy.description,
                CallingPolicy.enable_spend_limits,
                CallingPolicy.spend_limit_minor,
            )
            .join(GroupMember, on=GroupMember.group == GroupPolicyGrant.group)
            .switch(GroupPolicyGrant)
            .join(Group, on=Group.id == GroupPolicyGrant.group)
            .switch(GroupPolicyGrant)
            .join(
                CallingPolicy,
                peewee.JOIN.LEFT_OUTER,
                on=CallingPolicy.id == GroupPolicyGrant.calling_policy,
            )
            .where(where)
        )
        for uid, rank, gid, gname, pname, cid, cname, ctext, enabled, limit in query.tuples():
            best = found.get(uid)
            if best is not None and best.group.rank <= rank:
                continue
            calling = (cid, cname, ctext, bool(enabled), limit) if cid is not None else None
            found[uid] = InheritedGrant(GrantingGroup(gid, gname, rank), pname, calling)
    return found
