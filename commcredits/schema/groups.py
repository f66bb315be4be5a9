"""Groups and group-based licensing (issue 18): Group, its licenses and members, and a
user's licenseAssignmentStates.

`User` comes lazily: schema/users.py imports `LicenseAssignmentState` from here.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from commcredits.models import Group as GroupRow
from commcredits.models import GroupMember as GroupMemberRow
from commcredits.models.groups import DESCRIPTION_MAX, NAME_MAX
from commcredits.schema.common import CappedConnection, Node, UserError, to_global_id
from commcredits.schema.group_policies import GroupPolicyAssignment, policy_assignments
from commcredits.schema.input_limits import PLAN_ID, SKU_ID, SKU_REF, limited_field
from commcredits.schema.pages import paginate
from commcredits.services import group_assign, group_summary, groups
from commcredits.services.list_counts import exact_count

if TYPE_CHECKING:
    from commcredits.schema.users import User

LazyUser = Annotated["User", strawberry.lazy("commcredits.schema.users")]


# Typed codes in Graph's own spelling (licenseAssignmentState, group.licenseProcessingState):
# what admins read in Entra and Graph PowerShell is what a frontend switches on.
@strawberry.enum(description="Graph's licenseAssignmentState.state.")
class LicenseAssignmentStatus(enum.Enum):
    Active = "Active"
    ActiveWithError = "ActiveWithError"
    Error = "Error"
    Disabled = "Disabled"


@strawberry.enum(description="Entra's group-based licensing error (licenseAssignmentState.error).")
class LicenseAssignmentError(enum.Enum):
    CountViolation = "CountViolation"
    MutuallyExclusiveViolation = "MutuallyExclusiveViolation"
    DependencyViolation = "DependencyViolation"
    ProhibitedInUsageLocationViolation = "ProhibitedInUsageLocationViolation"
    UniquenessViolation = "UniquenessViolation"
    Other = "Other"


@strawberry.enum(description="Graph's group licenseProcessingState.")
class LicenseProcessingState(enum.Enum):
    ProcessingInProgress = "ProcessingInProgress"
    ProcessingComplete = "ProcessingComplete"


@strawberry.type(description="A SKU a group holds (Graph's group.assignedLicenses).")
class GroupAssignedLicense:
    sku_id: strawberry.ID
    sku_part_number: str
    disabled_plans: list[strawberry.ID]


@strawberry.type(description="Members in error for one Entra code.")
class LicenseErrorCount:
    error: LicenseAssignmentError
    count: int


@strawberry.type(description="A group's licensing at a glance.")
class GroupLicenseSummary:
    members: int
    licensed: int = strawberry.field(description="Members holding every license of the group.")
    in_error: int = strawberry.field(description="Members with an Error state for the group.")
    errors: list[LicenseErrorCount] = strawberry.field(description="Members in error per code.")


def _user(row: GroupMemberRow) -> User:
    from commcredits.schema.users import User

    return User.from_row(row.user)


@strawberry.type(description="A group of users (Entra): its members inherit its licenses.")
class Group(Node):
    display_name: str
    description: str
    member_count: int
    license_processing_state: LicenseProcessingState = strawberry.field(
        description="Graph's licenseProcessingState: ProcessingInProgress while members are "
        "still being processed in batches, else ProcessingComplete."
    )
    created_at: dt.datetime
    pk: strawberry.Private[int]
    row: strawberry.Private[GroupRow]

    @classmethod
    def from_row(cls, row: GroupRow) -> Group:
        return cls(
            id=to_global_id("Group", row.id),
            pk=row.id,
            row=row,
            display_name=row.display_name,
            description=row.description,
            member_count=row.member_count,
            license_processing_state=LicenseProcessingState(row.processing_state),
            created_at=row.created_at,
        )

    @strawberry.field(description="Members, in the order they were added.")
    def members(
        self, first: int | None = None, after: str | None = None
    ) -> CappedConnection[LazyUser]:
        return paginate(
            groups.members_query(self.row),
            key=GroupMemberRow.id,
            first=first,
            after=after,
            to_node=_user,
            # The users' connection type is the capped one (users list): an exact count here.
            count=lambda: exact_count(self.row.member_count),
        )

    @strawberry.field(description="The group's SKUs (Graph's assignedLicenses).")
    def assigned_licenses(self, info: Info) -> list[GroupAssignedLicense]:
        catalog = info.context.catalog()
        return [
            GroupAssignedLicense(
                sku_id=strawberry.ID(catalog.by_pk[sku].sku_id),
                sku_part_number=catalog.by_pk[sku].part_number,
                disabled_plans=[strawberry.ID(p) for p in plans],
            )
            for sku, plans in group_assign.group_licenses(self.pk).items()
        ]

    @strawberry.field(
        description="The policies granted to the group, at most one per type "
        "(Get-CsGroupPolicyAssignment -GroupId)."
    )
    async def policy_assignments(self, info: Info) -> list[GroupPolicyAssignment]:
        return await policy_assignments(info, self.pk)

    @strawberry.field(description="Members, licensed members, members in error by code.")
    def license_summary(self) -> GroupLicenseSummary:
        found = group_summary.license_summary(self.row)
        return GroupLicenseSummary(
            members=found.members,
            licensed=found.licensed,
            in_error=found.in_error,
            errors=[
                LicenseErrorCount(error=LicenseAssignmentError(k), count=v)
                for k, v in found.errors.items()
            ],
        )


@strawberry.type(
    description="One license assignment of a user (Graph's licenseAssignmentState): direct "
    "(assignedByGroup null) or inherited from a group."
)
class LicenseAssignmentState:
    sku_id: strawberry.ID
    sku_part_number: str
    assigned_by_group: strawberry.ID | None = strawberry.field(
        description="The group's global id; null for a direct assignment."
    )
    state: LicenseAssignmentStatus = strawberry.field(
        description="Active, or Error when the group's licenses could not be assigned."
    )
    error: LicenseAssignmentError | None = strawberry.field(
        description="Entra's code when state is Error; null otherwise."
    )
    disabled_plans: list[strawberry.ID]
    last_updated_date_time: dt.datetime


def state_loader(info: Info) -> DataLoader[int, list]:
    """Per request, one IN query per page of users for their group states (kept on the
    request's loaders object, as the loaders it declares are)."""
    loaders = info.context.loaders
    loader = getattr(loaders, "group_license_states", None)
    if loader is None:

        async def load(user_ids: list[int]) -> list[list]:
            found = group_assign.states_for_users(list(user_ids))
            return [found[u] for u in user_ids]

        loader = DataLoader(load_fn=load)
        loaders.group_license_states = loader
    return loader


async def license_assignment_states(info: Info, user_pk: int) -> list[LicenseAssignmentState]:
    """A user's direct assignments, then its group states (group, then SKU order)."""
    rows = await info.context.loaders.licenses_by_user.load(user_pk)
    states = await state_loader(info).load(user_pk)
    return assignment_states(info, rows, states)


def assignment_states(info: Info, rows: list, states: list) -> list[LicenseAssignmentState]:
    """licenseAssignmentStates from a user's license rows and group states (as stored, or as
    a whatIf would leave them)."""
    from commcredits.services.group_license_rules import direct_plans_of

    catalog = info.context.catalog()
    found = []
    for r in rows:
        plans = direct_plans_of(r)
        if plans is None:
            continue
        sku = catalog.by_pk[r.sku_id]
        found.append(
            LicenseAssignmentState(
                sku_id=strawberry.ID(sku.sku_id),
                sku_part_number=sku.part_number,
                assigned_by_group=None,
                state=LicenseAssignmentStatus.Active,
                error=None,
                disabled_plans=[strawberry.ID(p) for p in plans],
                last_updated_date_time=r.assigned_at,
            )
        )
    for st in states:
        sku = catalog.by_pk[st.sku_id]
        found.append(
            LicenseAssignmentState(
                sku_id=strawberry.ID(sku.sku_id),
                sku_part_number=sku.part_number,
                assigned_by_group=to_global_id("Group", st.group_id),
                state=LicenseAssignmentStatus(st.state),
                error=LicenseAssignmentError(st.error) if st.error else None,
                disabled_plans=[strawberry.ID(p) for p in st.disabled_plans],
                last_updated_date_time=st.updated_at,
            )
        )
    return found


@strawberry.input
class GroupFilter:
    search: str | None = limited_field(
        NAME_MAX,
        default=None,
        description=(
            'Part of the display name, case and accents aside ("anderung" finds "Änderung").'
        ),
    )


@strawberry.input
class CreateGroupInput:
    display_name: str = limited_field(NAME_MAX)
    description: str | None = limited_field(DESCRIPTION_MAX, default=None)


@strawberry.input(description="A group's writable properties; null leaves one as it is.")
class UpdateGroupInput:
    id: strawberry.ID = limited_field(100, description="The group's global id.")
    display_name: str | None = limited_field(NAME_MAX, default=None)
    description: str | None = limited_field(DESCRIPTION_MAX, default=None)


@strawberry.input
class GroupLicenseInput:
    sku_id: strawberry.ID = limited_field(SKU_REF, description=SKU_ID)
    disabled_plans: list[strawberry.ID] = limited_field(
        SKU_REF, default_factory=list, description=PLAN_ID
    )


@strawberry.type
class GroupPayload:
    group: Group | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteGroupPayload:
    deleted_group_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReprocessUserPayload:
    user: LazyUser | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
