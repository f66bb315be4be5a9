"""Groups and group-based licensing (issue 18): createGroup … assignGroupLicense, groups,
group, usersWithLicenseErrors, reprocessLicenseAssignment, reprocessGroupLicenses."""

import functools
from collections.abc import Callable
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import Group as GroupRow
from commcredits.resolvers.common import PriorSeats, ctx, decode_id, paginate, prior_seats, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import CappedConnection, Connection
from commcredits.schema.group_members import GroupMembersPayload
from commcredits.schema.groups import (
    CreateGroupInput,
    DeleteGroupPayload,
    Group,
    GroupFilter,
    GroupLicenseInput,
    GroupPayload,
    ReprocessUserPayload,
    UpdateGroupInput,
)
from commcredits.schema.input_limits import SKU_ID, SKU_REF, USER_ID, USER_REF, limited_arg
from commcredits.schema.pages import after_key, edges_of, page_info, page_size
from commcredits.schema.users import User
from commcredits.services import group_assign, group_errors, groups, users
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError

GROUP_ID = "The group's global id."
GroupId = Annotated[strawberry.ID, limited_arg(100, description=GROUP_ID)]
UserIds = Annotated[
    list[strawberry.ID],
    limited_arg(USER_REF, description=f"At most 1,000. Each: {USER_ID}"),
]


def _group_id(value: str, field: str = "groupId") -> int:
    return decode_id(value, "Group", field=field)


def _user_refs(values: list[str]) -> list[int | str]:
    """Each entry as a user id or UPN; one that is neither stays as given, for the service to
    report NOT_FOUND at its index with the others (the batch's size is the service's check)."""
    refs: list[int | str] = []
    for value in values:
        try:
            refs.append(user_ref(value))
        except DomainError:
            refs.append(value)
    return refs


def _members(
    info: Info,
    change: Callable[..., groups.MembersResult],
    group_id: str,
    user_ids: list[str],
    what_if: bool,
    prior_seat_changes: PriorSeats,
) -> GroupMembersPayload:
    """addGroupMembers / removeGroupMembers: the same arguments to their service function."""
    c = ctx(info)
    result = change(
        c.tenant,
        c.principal,
        _group_id(group_id),
        _user_refs(user_ids),
        now=c.now,
        what_if=what_if,
        prior_seats=prior_seats(prior_seat_changes),
    )
    return GroupMembersPayload.of(result, list(user_ids))


@strawberry.type
class GroupQuery:
    @strawberry.field(description="The tenant's groups, in the order they were created.")
    @permission(Permission.READ, tenant=True)
    def groups(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: GroupFilter | None = None,  # noqa: A002 - the API's name
    ) -> Connection[Group]:
        query = groups.groups_query(ctx(info).tenant, filter.search if filter else None)
        return paginate(
            query,
            key=GroupRow.id,
            first=first,
            after=after,
            to_node=Group.from_row,
            total=query.count,
        )

    @strawberry.field(description="One group; null if there is none with this id.")
    @permission(Permission.READ, tenant=True)
    def group(self, info: Info, id: GroupId) -> Group | None:  # noqa: A002 - the API's name
        try:
            return Group.from_row(groups.get_group(ctx(info).tenant, _group_id(id, "id")))
        except DomainError:
            return None

    @strawberry.field(
        description="Members with an Error state for the group's licenses, in member order "
        "(Graph PowerShell's Get-MgGroupMemberWithLicenseError)."
    )
    @permission(Permission.READ, tenant=True)
    def users_with_license_errors(
        self, info: Info, group_id: GroupId, first: int | None = None, after: str | None = None
    ) -> CappedConnection[User]:
        group = groups.get_group(ctx(info).tenant, _group_id(group_id))
        size = page_size(first)
        rows = group_errors.users_with_errors_page(
            group, after=after_key(after, "usersWithLicenseErrors"), limit=size + 1
        )
        edges = edges_of(rows[:size], lambda row: User.from_row(row.user), "usersWithLicenseErrors")
        return CappedConnection(
            edges=edges,
            page_info=page_info(edges, len(rows) > size, after),
            _count=functools.cache(functools.partial(group_errors.members_in_error, group)),
        )


@strawberry.type
class GroupMutation:
    @strawberry.mutation(description="A new group, without members.")
    @permission(Permission.MANAGE_USERS, tenant=True)
    def create_group(self, info: Info, input: CreateGroupInput) -> GroupPayload:  # noqa: A002
        c = ctx(info)
        row = groups.create_group(
            c.tenant, c.principal, input.display_name, input.description, now=c.now
        )
        return GroupPayload(group=Group.from_row(row))

    @strawberry.mutation(description="Change a group's name or description.")
    @permission(Permission.MANAGE_USERS, tenant=True)
    def update_group(self, info: Info, input: UpdateGroupInput) -> GroupPayload:  # noqa: A002
        c = ctx(info)
        row = groups.update_group(
            c.tenant,
            c.principal,
            _group_id(input.id, "id"),
            display_name=input.display_name,
            description=input.description,
            now=c.now,
        )
        return GroupPayload(group=Group.from_row(row))

    @strawberry.mutation(
        description="Delete a group: its members lose the licenses it gave them, and the "
        "seats they hold from no other source are freed."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def delete_group(self, info: Info, id: GroupId) -> DeleteGroupPayload:  # noqa: A002
        c = ctx(info)
        pk = groups.delete_group(c.tenant, c.principal, _group_id(id, "id"), now=c.now)
        return DeleteGroupPayload(deleted_group_id=strawberry.ID(id) if pk else None)

    @strawberry.mutation(
        description="Add up to 1,000 users (members already there are left as they are); "
        "each new member gets the group's licenses, or an Error state with Entra's code. "
        "whatIf checks and processes everything (role, users, licenses, seats) and keeps "
        "nothing."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def add_group_members(
        self,
        info: Info,
        group_id: GroupId,
        user_ids: UserIds,
        what_if: bool = False,
        prior_seat_changes: PriorSeats = None,
    ) -> GroupMembersPayload:
        return _members(info, groups.add_members, group_id, user_ids, what_if, prior_seat_changes)

    @strawberry.mutation(
        description="Remove up to 1,000 users: they lose the licenses the group gave them "
        "(seats they hold from no other source are freed). whatIf checks and processes "
        "everything and keeps nothing."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def remove_group_members(
        self,
        info: Info,
        group_id: GroupId,
        user_ids: UserIds,
        what_if: bool = False,
        prior_seat_changes: PriorSeats = None,
    ) -> GroupMembersPayload:
        return _members(
            info, groups.remove_members, group_id, user_ids, what_if, prior_seat_changes
        )

    @strawberry.mutation(
        description="Graph's group.assignLicense: the group's SKUs change and every member "
        "is processed (a large group in batches: licenseProcessingState)."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def assign_group_license(
        self,
        info: Info,
        group_id: GroupId,
        add_licenses: list[GroupLicenseInput],
        remove_licenses: Annotated[list[strawberry.ID], limited_arg(SKU_REF, description=SKU_ID)],
    ) -> GroupPayload:
        c = ctx(info)
        adds = [
            group_assign.GroupLicenseInput(a.sku_id, tuple(a.disabled_plans)) for a in add_licenses
        ]
        row = group_assign.assign_group_license(
            c.tenant, c.principal, _group_id(group_id), adds, list(remove_licenses), now=c.now
        )
        return GroupPayload(group=Group.from_row(row))

    @strawberry.mutation(
        description="Process every member of the group again (Entra's Reprocess): errors "
        "are retried, e.g. after seats were freed."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def reprocess_group_licenses(self, info: Info, group_id: GroupId) -> GroupPayload:
        c = ctx(info)
        row = group_assign.reprocess_group(c.tenant, c.principal, _group_id(group_id), now=c.now)
        return GroupPayload(group=Group.from_row(row))

    @strawberry.mutation(
        description="Graph's reprocessLicenseAssignment: every group-based assignment of the "
        "user again."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def reprocess_license_assignment(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, limited_arg(USER_REF, description=USER_ID)],
    ) -> ReprocessUserPayload:
        c = ctx(info)
        user = users.get_user(c.tenant, user_ref(user_id))
        group_assign.reprocess_user(c.tenant, c.principal, user.id, now=c.now)
        return ReprocessUserPayload(user=User.from_row(users.get_user(c.tenant, user.id)))
