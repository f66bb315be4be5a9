"""assignGroupPolicy, removeGroupPolicy and groupPolicyAssignments (issue 18 item 4: Teams's
group policy assignment with a rank)."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx, decode_id
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import to_global_id
from commcredits.schema.group_policies import (
    AssignGroupPolicyPayload,
    GroupPolicyAssignment,
    PolicyType,
    RankChange,
    RemoveGroupPolicyPayload,
)
from commcredits.schema.input_limits import limited_arg
from commcredits.services import group_policies
from commcredits.services.access import Permission

GroupId = Annotated[strawberry.ID, limited_arg(100, description="The group's global id.")]


@strawberry.type
class GroupPolicyQuery:
    @strawberry.field(
        description="The tenant's group policy assignments (Get-CsGroupPolicyAssignment), "
        "DIAL_OUT then CALLING, each by rank; at most 250 per type."
    )
    @permission(Permission.READ, tenant=True)
    def group_policy_assignments(
        self, info: Info, policy_type: PolicyType | None = None
    ) -> list[GroupPolicyAssignment]:
        kind = policy_type.value if policy_type is not None else None
        return [
            GroupPolicyAssignment.of(a) for a in group_policies.assignments(ctx(info).tenant, kind)
        ]


@strawberry.type
class GroupPolicyMutation:
    @strawberry.mutation(
        description="New-CsGroupPolicyAssignment: grant a policy to a group at a rank (1: the "
        "highest; a taken rank moves that assignment and the ones after it down; null or past "
        "the end: last, or the group's current rank). Replaces the group's assignment of that "
        "type. whatIf checks everything and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def assign_group_policy(
        self,
        info: Info,
        group_id: GroupId,
        policy_type: PolicyType,
        policy_name: Annotated[
            str,
            limited_arg(64, description="One of dialOutPolicies' or callingPolicies' names."),
        ],
        rank: int | None = None,
        what_if: bool = False,
    ) -> AssignGroupPolicyPayload:
        c = ctx(info)
        result = group_policies.assign_group_policy(
            c.tenant,
            c.principal,
            decode_id(group_id, "Group", field="groupId"),
            policy_type.value,
            policy_name,
            rank,
            now=c.now,
            what_if=what_if,
        )
        return AssignGroupPolicyPayload(
            assignment=GroupPolicyAssignment.of(result.assignment),
            shifted=[
                RankChange(group_id=to_global_id("Group", g), rank=r)
                for g, r in sorted(result.shifted.items(), key=lambda x: x[1])
            ],
            what_if=result.what_if,
        )

    @strawberry.mutation(
        description="Remove-CsGroupPolicyAssignment: the group's assignment of that type goes; "
        "the ones ranked after it move up. whatIf checks and writes nothing."
    )
    @permission(Permission.MANAGE_CALLING_POLICIES, tenant=True)
    def remove_group_policy(
        self, info: Info, group_id: GroupId, policy_type: PolicyType, what_if: bool = False
    ) -> RemoveGroupPolicyPayload:
        c = ctx(info)
        removed = group_policies.remove_group_policy(
            c.tenant,
            c.principal,
            decode_id(group_id, "Group", field="groupId"),
            policy_type.value,
            now=c.now,
            what_if=what_if,
        )
        return RemoveGroupPolicyPayload(
            assignment=GroupPolicyAssignment.of(removed), what_if=what_if
        )
