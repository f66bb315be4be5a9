"""addGroupMembers / removeGroupMembers' payload: per user what the change did (with whatIf:
would do) and the licenseAssignmentStates it leaves, and the seats it took or gave back."""

from __future__ import annotations

import dataclasses
import enum

import strawberry
from strawberry.types import Info

from commcredits.schema.common import UserError
from commcredits.schema.directory import SeatChange
from commcredits.schema.groups import (
    Group,
    LicenseAssignmentState,
    assignment_states,
    license_assignment_states,
)
from commcredits.schema.users import User
from commcredits.services import groups


@strawberry.enum(description="What addGroupMembers or removeGroupMembers did to one user.")
class GroupMemberResultStatus(enum.Enum):
    ADDED = "ADDED"
    WOULD_ADD = "WOULD_ADD"
    REMOVED = "REMOVED"
    WOULD_REMOVE = "WOULD_REMOVE"
    UNCHANGED = strawberry.enum_value(
        "UNCHANGED", description="Already a member (removing: not a member); left as it is."
    )


@strawberry.type(description="The outcome of one user of addGroupMembers or removeGroupMembers.")
class GroupMemberResult:
    index: int = strawberry.field(description="The first entry of userIds naming the user.")
    user_id: strawberry.ID = strawberry.field(description="The user reference as given.")
    status: GroupMemberResultStatus
    user_pk: strawberry.Private[int]
    outcome: strawberry.Private[groups.MemberOutcome]

    @strawberry.field(description="The user (loaded in one query per batch).")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row is not None else None

    @strawberry.field(
        description="The user's licenseAssignmentStates once the change is made (with whatIf: "
        "as it would leave them): its direct assignments, then one per group and SKU, Active "
        "or Error with Entra's code (CountViolation, MutuallyExclusiveViolation, "
        "DependencyViolation, ProhibitedInUsageLocationViolation)."
    )
    async def license_assignment_states(self, info: Info) -> list[LicenseAssignmentState]:
        out = self.outcome
        if out.licenses is not None and out.states is not None:
            return assignment_states(info, out.licenses, out.states)
        return await license_assignment_states(info, self.user_pk)


def _member_status(changed: bool, *, adding: bool, what_if: bool) -> GroupMemberResultStatus:
    if not changed:
        return GroupMemberResultStatus.UNCHANGED
    if adding:
        return GroupMemberResultStatus.WOULD_ADD if what_if else GroupMemberResultStatus.ADDED
    return GroupMemberResultStatus.WOULD_REMOVE if what_if else GroupMemberResultStatus.REMOVED


@strawberry.type
class GroupMembersPayload:
    group: Group | None = strawberry.field(
        default=None, description="The group after the change (with whatIf: as it is)."
    )
    changed: int | None = strawberry.field(
        default=None,
        description="Members added (or removed), with whatIf that would be; those already so "
        "are left.",
    )
    what_if: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)
    given: strawberry.Private[list[str]] = dataclasses.field(default_factory=list)
    result: strawberry.Private[groups.MembersResult | None] = None
    adding: strawberry.Private[bool] = True

    @classmethod
    def of(cls, result: groups.MembersResult, given: list[str]) -> GroupMembersPayload:
        return cls(
            group=Group.from_row(result.group),
            changed=result.changed,
            what_if=result.what_if,
            given=given,
            result=result,
            adding=result.adding,
        )

    @strawberry.field(
        description="One per user named, in input order; a user named twice is one result, "
        "at its first entry."
    )
    def results(self) -> list[GroupMemberResult]:
        if self.result is None:
            return []
        return [
            GroupMemberResult(
                index=o.index,
                user_id=strawberry.ID(self.given[o.index]),
                status=_member_status(o.changed, adding=self.adding, what_if=self.what_if),
                user_pk=o.user_id,
                outcome=o,
            )
            for o in self.result.outcomes
        ]

    @strawberry.field(
        description="Seats per SKU the change took (positive) or gave back (negative), the "
        "group licensing of other waiting members included; with whatIf, would. A dry run "
        "of many batches passes the sum of the earlier batches' seatChanges as "
        "priorSeatChanges."
    )
    def seat_changes(self, info: Info) -> list[SeatChange]:
        if self.result is None:
            return []
        catalog = info.context.catalog()
        return [
            SeatChange(
                sku_id=strawberry.ID(catalog.by_pk[sku].sku_id),
                sku_part_number=catalog.by_pk[sku].part_number,
                units=units,
            )
            for sku, units in sorted(self.result.seat_changes.items())
        ]
