"""Policies granted to groups with a rank (issue 18 item 4): Teams's group policy assignment,
`New-CsGroupPolicyAssignment -GroupId -PolicyType -PolicyName -Rank`,
`Get-CsGroupPolicyAssignment`, `Remove-CsGroupPolicyAssignment`.

A group holds at most one assignment per policy type (DIAL_OUT: one of the nine dial-out
instances; CALLING: one of the tenant's calling policies). Each has a rank among the tenant's
assignments of that type: 1 is the highest. As in Teams, ranks are positions in one ordered
list, kept 1..n without gaps: assigning at a taken rank moves that assignment and the ones
after it down by one; a rank past the end is the last one; removing an assignment (or deleting
its group) moves the ones after it up. Assigning to a group that already has an assignment of
the type replaces it (policy and rank; no rank keeps its place), as `Set-CsGroupPolicyAssignment`
would — Teams's `New-` refuses a second one, which admins then remove and add again.

Members inherit the best-ranked assignment among their groups, unless they have a grant of
their own; the global grant comes after (the read side: services/group_policy_lookup.py).
Membership needs no processing: the lookups join it, so joining or leaving a group changes a
user's effective policy at once, and rating and authorizeCall apply it.

Changes hold the tenant's directory lock, as the calling policies' and their grants do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from commcredits.db import directory_lock
from commcredits.models import CallingPolicy, Group, GroupPolicyGrant, Tenant
from commcredits.services import audit, calling_policies, dial_out
from commcredits.services.errors import DomainError, not_found
from commcredits.services.group_policy_lookup import CALLING, DIAL_OUT, POLICY_TYPES
from commcredits.services.principal import Principal

# Assignments of one type per tenant (our bound: Teams documents none; a rank list admins
# order by hand stays far below it, and it bounds groupPolicyAssignments and a re-rank).
MAX_ASSIGNMENTS = 250
# Teams's PolicyType names, as New-CsGroupPolicyAssignment takes them (any case).
TEAMS_TYPES = {
    "csonlinedialoutpolicy": DIAL_OUT,
    "onlinedialoutpolicy": DIAL_OUT,
    "dialoutpolicy": DIAL_OUT,
    "teamscallingpolicy": CALLING,
    "csteamscallingpolicy": CALLING,
    "callingpolicy": CALLING,
}
TEAMS_NAME = {DIAL_OUT: "CsOnlineDialOutPolicy", CALLING: "TeamsCallingPolicy"}


@dataclass(frozen=True)
class Assignment:
    group_id: int
    group_name: str
    policy_type: str
    policy_name: str
    rank: int
    granted_at: dt.datetime


@dataclass(frozen=True)
class AssignResult:
    assignment: Assignment  # as it is (or, with what_if, would be)
    shifted: dict[int, int]  # group id → new rank, for the other assignments that moved
    what_if: bool = False


def policy_type_of(value: str, *, field: str = "policyType") -> str:
    """DIAL_OUT or CALLING, from ours or Teams's spelling; else INVALID_POLICY_TYPE."""
    text = (value or "").strip()
    if text.upper() in POLICY_TYPES:
        return text.upper()
    found = TEAMS_TYPES.get(text.lower())
    if found is None:
        raise DomainError(
            "INVALID_POLICY_TYPE",
            f"'{value}' is not a policy type; the types are TeamsCallingPolicy (CALLING) and "
            "CsOnlineDialOutPolicy (DIAL_OUT).",
            field,
        )
    return found


def check_rank(value: object, *, field: str = "rank") -> int | None:
    """A rank is a whole number ≥ 1 (None: after the others)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError(
            "INVALID_RANK", f"A rank is a whole number from 1 (the highest); not '{value}'.", field
        )
    return value


def _group(tenant: Tenant, group_id: int) -> Group:
    group = Group.get_or_none((Group.id == group_id) & (Group.tenant == tenant.id))
    if group is None:
        raise not_found("Group", group_id, "groupId")
    return group


def _ranked(tenant: Tenant, policy_type: str) -> list[GroupPolicyGrant]:
    return list(
        GroupPolicyGrant.select()
        .where(
            (GroupPolicyGrant.tenant == tenant.id) & (GroupPolicyGrant.policy_type == policy_type)
        )
        .order_by(GroupPolicyGrant.rank)
    )


def _rerank(rows: list[GroupPolicyGrant], order: list[int]) -> dict[int, int]:
    """Give the rows (by group id) the ranks of `order` (1..n); returns the changes made.

    Two steps so no statement meets the unique (tenant, type, rank) index half-way (PostgreSQL
    checks it row by row): the moving rows first go above every rank in use, then each takes
    its place. At most MAX_ASSIGNMENTS rows."""
    by_group = {r.group_id: r for r in rows}
    changes = {g: i + 1 for i, g in enumerate(order) if by_group[g].rank != i + 1}
    if not changes:
        return {}
    ids = [by_group[g].id for g in changes]
    GroupPolicyGrant.update(rank=GroupPolicyGrant.rank + MAX_ASSIGNMENTS * 2 + 1).where(
        GroupPolicyGrant.id.in_(ids)
    ).execute()
    # Then each its new rank, in one statement whatever the number moved.
    ranks = peewee.Case(GroupPolicyGrant.id, [(by_group[g].id, r) for g, r in changes.items()])
    GroupPolicyGrant.update(rank=ranks).where(GroupPolicyGrant.id.in_(ids)).execute()
    return changes


def _shift_entries(
    tenant: Tenant, rows: list[GroupPolicyGrant], changes: dict[int, int], action: str
) -> list[dict]:
    old = {r.group_id: r.rank for r in rows}
    return [
        {
            "action": action,
            "target": ("GroupPolicyAssignment", f"{g}:{rows[0].policy_type}"),
            "tenant_id": tenant.id,
            "before": {"rank": old[g]},
            "after": {"rank": rank},
        }
        for g, rank in changes.items()
    ]


def _describe(row: GroupPolicyGrant, name: str) -> dict:
    return {"policyName": name, "rank": row.rank}


def _name_of(row: GroupPolicyGrant) -> str:
    if row.policy_type == DIAL_OUT:
        return row.policy_name
    return CallingPolicy.get_by_id(row.calling_policy_id).name


def assign_group_policy(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    policy_type: str,
    policy_name: str,
    rank: int | None,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> AssignResult:
    """`New-CsGroupPolicyAssignment`: grant the policy to the group at `rank` (None: the
    group's current rank, else the last). Audited: one entry for the group's assignment, one
    per other assignment whose rank moved. With `what_if` every check runs and nothing is
    written."""
    kind = policy_type_of(policy_type)
    wanted = check_rank(rank)
    with directory_lock(tenant.id):
        group = _group(tenant, group_id)
        if kind == DIAL_OUT:
            name, calling_id = dial_out.policy_named(policy_name).name, None
        else:
            found = calling_policies.policy_named(tenant, policy_name)
            name, calling_id = found.name, found.id
        rows = _ranked(tenant, kind)
        mine = next((r for r in rows if r.group_id == group.id), None)
        others = [r.group_id for r in rows if r.group_id != group.id]
        if mine is None and len(rows) >= MAX_ASSIGNMENTS:
            raise DomainError(
                "TOO_MANY_VALUES",
                f"A tenant has at most {MAX_ASSIGNMENTS} group assignments of a policy type; "
                "remove one first.",
                "groupId",
            )
        if wanted is None:
            wanted = mine.rank if mine is not None else len(rows) + 1
        position = min(wanted, len(others) + 1)
        order = others[: position - 1] + [group.id] + others[position - 1 :]
        before = _describe(mine, _name_of(mine)) if mine is not None else None
        after = {"policyName": name, "rank": position}
        if what_if:
            shifted = {
                g: i + 1
                for i, g in enumerate(order)
                if g != group.id and next(r.rank for r in rows if r.group_id == g) != i + 1
            }
            assignment = Assignment(group.id, group.display_name, kind, name, position, now)
            return AssignResult(assignment, shifted, what_if=True)
        if mine is None:
            # Inserted above every rank in use, then put in its place with the others.
            mine = GroupPolicyGrant.create(
                tenant=tenant.id, group=group.id, policy_type=kind, rank=MAX_ASSIGNMENTS * 5,
                policy_name=name if kind == DIAL_OUT else None, calling_policy=calling_id,
                granted_at=now,
            )  # fmt: skip
            rows.append(mine)
        elif before != after:
            mine.policy_name = name if kind == DIAL_OUT else None
            mine.calling_policy = calling_id
            mine.granted_at = now
            mine.save()
        changes = _rerank(rows, order)
        entries = _shift_entries(
            tenant, rows, {g: r for g, r in changes.items() if g != group.id}, "assignGroupPolicy"
        )
        if before != after:
            entries.insert(0, {
                "action": "assignGroupPolicy",
                "target": ("GroupPolicyAssignment", f"{group.id}:{kind}"),
                "tenant_id": tenant.id, "before": before, "after": after,
            })  # fmt: skip
        if entries:
            audit.record_many(principal, entries, now=now)
        shifted = {g: r for g, r in changes.items() if g != group.id}
        granted = mine.granted_at
    return AssignResult(
        Assignment(group.id, group.display_name, kind, name, position, granted), shifted
    )


def remove_group_policy(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    policy_type: str,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> Assignment:
    """`Remove-CsGroupPolicyAssignment`: the group's assignment of the type goes, the ones
    ranked after it move up; its members fall back to their next group's, the global grant or
    the default. NOT_FOUND (policyType) when the group has none. Audited; `what_if` writes
    nothing."""
    kind = policy_type_of(policy_type)
    with directory_lock(tenant.id):
        group = _group(tenant, group_id)
        rows = _ranked(tenant, kind)
        mine = next((r for r in rows if r.group_id == group.id), None)
        if mine is None:
            raise DomainError(
                "NOT_FOUND",
                f"The group has no {TEAMS_NAME[kind]} assignment.",
                "policyType",
            )
        name = _name_of(mine)
        assignment = Assignment(
            group.id, group.display_name, kind, name, mine.rank, mine.granted_at
        )
        if what_if:
            return assignment
        _drop(tenant, principal, rows, mine, name, now=now)
    return assignment


def _drop(
    tenant: Tenant,
    principal: Principal,
    rows: list[GroupPolicyGrant],
    mine: GroupPolicyGrant,
    name: str,
    *,
    now: dt.datetime,
) -> None:
    mine.delete_instance()
    rest = [r for r in rows if r.id != mine.id]
    changes = _rerank(rest, [r.group_id for r in rest])
    entries = [
        {
            "action": "removeGroupPolicy",
            "target": ("GroupPolicyAssignment", f"{mine.group_id}:{mine.policy_type}"),
            "tenant_id": tenant.id,
            "before": _describe(mine, name),
            "after": None,
        },
        *(_shift_entries(tenant, rest, changes, "removeGroupPolicy") if rest else []),
    ]
    audit.record_many(principal, entries, now=now)


def forget_group(tenant: Tenant, principal: Principal, group_id: int, *, now: dt.datetime) -> None:
    """Before a group is deleted (inside its caller's directory lock): its assignments go
    as removeGroupPolicy would remove them, so the ranks after them move up."""
    for kind in POLICY_TYPES:
        rows = _ranked(tenant, kind)
        mine = next((r for r in rows if r.group_id == group_id), None)
        if mine is not None:
            _drop(tenant, principal, rows, mine, _name_of(mine), now=now)


# -- the read side ---------------------------------------------------------------------------
def assignments(tenant: Tenant, policy_type: str | None = None) -> list[Assignment]:
    """The tenant's assignments (of one type), by type then rank: one statement, at most
    MAX_ASSIGNMENTS per type."""
    where = GroupPolicyGrant.tenant == tenant.id
    if policy_type is not None:
        where &= GroupPolicyGrant.policy_type == policy_type_of(policy_type)
    return _select(where)


def assignments_for_groups(group_ids: list[int]) -> dict[int, list[Assignment]]:
    """A page of groups' assignments (at most one per type each): one statement."""
    found: dict[int, list[Assignment]] = {g: [] for g in group_ids}
    if group_ids:
        for a in _select(GroupPolicyGrant.group.in_(sorted(set(group_ids)))):
            found[a.group_id].append(a)
    return found


def _select(where) -> list[Assignment]:  # noqa: ANN001 - a peewee expression
    query = (
        GroupPolicyGrant.select(
            GroupPolicyGrant.group,
            Group.display_name,
            GroupPolicyGrant.policy_type,
            GroupPolicyGrant.policy_name,
            CallingPolicy.name,
            GroupPolicyGrant.rank,
            GroupPolicyGrant.granted_at,
        )
        .join(Group, on=Group.id == GroupPolicyGrant.group)
        .switch(GroupPolicyGrant)
        .join(
            CallingPolicy,
            peewee.JOIN.LEFT_OUTER,
            on=CallingPolicy.id == GroupPolicyGrant.calling_policy,
        )
        .where(where)
        # DIAL_OUT before CALLING (descending), then rank: Teams lists per type by rank.
        .order_by(GroupPolicyGrant.policy_type.desc(), GroupPolicyGrant.rank)
    )
    return [
        Assignment(gid, gname, kind, dname or cname, rank, at)
        for gid, gname, kind, dname, cname, rank, at in query.tuples()
    ]
