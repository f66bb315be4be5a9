"""Policies granted to groups with a rank (issue 18 item 4): GroupPolicyAssignment, the
assign/remove payloads, and the group a user's policy is inherited from.

schema/groups.py imports `policy_assignments` from here for Group.policyAssignments.
"""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from commcredits.schema.common import UserError, to_global_id
from commcredits.services import group_policies
from commcredits.services.group_policy_lookup import CALLING, DIAL_OUT, GrantingGroup


@strawberry.enum(description="The policy types a group takes (Teams's PolicyType).")
class PolicyType(enum.Enum):
    DIAL_OUT = strawberry.enum_value(
        DIAL_OUT, description="CsOnlineDialOutPolicy: one of dialOutPolicies."
    )
    CALLING = strawberry.enum_value(
        CALLING, description="TeamsCallingPolicy: one of the tenant's callingPolicies."
    )


@strawberry.type(
    description="The group a user's policy is inherited from (source GROUP): the best-ranked "
    "of their groups' assignments of that type. node(id) gives the whole Group."
)
class PolicyGroup:
    id: strawberry.ID
    display_name: str
    rank: int = strawberry.field(description="The group's assignment's rank (1: the highest).")

    @classmethod
    def of(cls, group: GrantingGroup | None) -> PolicyGroup | None:
        if group is None:
            return None
        return cls(
            id=to_global_id("Group", group.id), display_name=group.display_name, rank=group.rank
        )


@strawberry.type(
    description="A policy granted to a group with a rank (New-CsGroupPolicyAssignment): "
    "members without a grant of their own inherit the best-ranked (lowest rank) assignment "
    "of each type among their groups; ranks are 1..n per type, without gaps."
)
class GroupPolicyAssignment:
    group_id: strawberry.ID = strawberry.field(description="The group's global id.")
    group_display_name: str
    policy_type: PolicyType
    policy_name: str
    rank: int = strawberry.field(description="1 is the highest.")
    granted_at: dt.datetime

    @classmethod
    def of(cls, a: group_policies.Assignment) -> GroupPolicyAssignment:
        return cls(
            group_id=to_global_id("Group", a.group_id),
            group_display_name=a.group_name,
            policy_type=PolicyType(a.policy_type),
            policy_name=a.policy_name,
            rank=a.rank,
            granted_at=a.granted_at,
        )


@strawberry.type(description="Another assignment whose rank moved.")
class RankChange:
    group_id: strawberry.ID
    rank: int = strawberry.field(description="Its rank now (with whatIf: would be).")


@strawberry.type
class AssignGroupPolicyPayload:
    assignment: GroupPolicyAssignment | None = strawberry.field(
        default=None, description="The group's assignment; with whatIf, as it would be."
    )
    shifted: list[RankChange] = strawberry.field(
        default_factory=list, description="The tenant's other assignments whose rank moved."
    )
    what_if: bool = strawberry.field(
        default=False, description="True: checked only, nothing was written."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveGroupPolicyPayload:
    assignment: GroupPolicyAssignment | None = strawberry.field(
        default=None, description="The assignment removed (with whatIf: that would be)."
    )
    what_if: bool = strawberry.field(
        default=False, description="True: checked only, nothing was removed."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def assignments_loader(info: Info) -> DataLoader[int, list]:
    """Per request, one query per page of groups for their assignments (kept on the
    request's loaders object, as schema/groups.py's state loader is)."""
    loaders = info.context.loaders
    loader = getattr(loaders, "group_policy_assignments", None)
    if loader is None:

        async def load(group_ids: list[int]) -> list[list]:
            found = group_policies.assignments_for_groups(list(group_ids))
            return [found[g] for g in group_ids]

        loader = DataLoader(load_fn=load)
        loaders.group_policy_assignments = loader
    return loader


async def policy_assignments(info: Info, group_pk: int) -> list[GroupPolicyAssignment]:
    rows = await assignments_loader(info).load(group_pk)
    return [GroupPolicyAssignment.of(a) for a in rows]
