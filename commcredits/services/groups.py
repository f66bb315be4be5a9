"""Groups (issue 18): create, update, delete, members, and the group's licenses (Graph's
group.assignLicense). What membership and licenses do to seats is group_licensing's.

Small groups (at most SMALL_GROUP members) are processed in the request's own transaction;
larger ones in committed batches of BATCH members (`process_group`), the group's
licenseProcessingState saying ProcessingInProgress until the last batch.
"""

from __future__ import annotations

import datetime as dt

import peewee

from commcredits.db import directory_lock
from commcredits.models import Group, GroupLicense, GroupLicenseState, GroupMember, Tenant, User
from commcredits.models.groups import (
    DESCRIPTION_MAX,
    NAME_MAX,
)
from commcredits.services import audit
from commcredits.services.errors import DomainError, check_batch_size, not_found
from commcredits.services.group_licensing import Processor, member_ids
from commcredits.services.group_policies import forget_group
from commcredits.services.principal import Principal
from commcredits.services.users import find_users

SMALL_GROUP = 1000  # members processed in the request's own transaction
BATCH = 1000  # members per committed transaction for larger groups


def describe(group: Group) -> dict:
    return {"displayName": group.display_name, "description": group.description}


def _text(value: str | None, field: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DomainError("INVALID_NAME", "A group needs a display name.", field)
    if len(text) > limit:
        raise DomainError("VALUE_TOO_LONG", f"{field} has at most {limit} characters.", field)
    return text


def get_group(tenant: Tenant, group_id: int, *, field: str = "groupId") -> Group:
    group = Group.get_or_none((Group.id == group_id) & (Group.tenant == tenant.id))
    if group is None:
        raise not_found("Group", group_id, field)
    return group


def groups_query(tenant: Tenant, search: str | None = None) -> peewee.ModelSelect:
    query = Group.select().where(Group.tenant == tenant.id)
    term = (search or "").strip().lower()
    if term:
        query = query.where(peewee.fn.LOWER(Group.display_name).contains(term))
    return query


def members_query(group: Group) -> peewee.ModelSelect:
    return GroupMember.select(GroupMember, User).join(User).where(GroupMember.group == group.id)


def create_group(
    tenant: Tenant,
    principal: Principal,
    display_name: str,
    description: str | None = None,
    *,
    now: dt.datetime,
) -> Group:
    name = _text(display_name, "displayName", NAME_MAX, required=True)
    text = _text(description, "description", DESCRIPTION_MAX, required=False)
    with directory_lock(tenant.id):
        group = Group.create(
            tenant=tenant.id, display_name=name, description=text, created_at=now, updated_at=now
        )
        audit.record(
            principal, "createGroup", group, tenant_id=tenant.id, before=None,
            after=describe(group), now=now,
        )  # fmt: skip
    return group


def update_group(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    *,
    display_name: str | None = None,
    description: str | None = None,
    now: dt.datetime,
) -> Group:
    name = (
        None
        if display_name is None
        else _text(display_name, "displayName", NAME_MAX, required=True)
    )
    text = (
        None
        if description is None
        else _text(description, "description", DESCRIPTION_MAX, required=False)
    )
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id, field="id")
        before = describe(group)
        if name is not None:
            group.display_name = name
        if text is not None:
            group.description = text
        group.updated_at = now
        group.save()
        audit.record(
            principal, "updateGroup", group, tenant_id=tenant.id, before=before,
            after=describe(group), now=now,
        )  # fmt: skip
    return group


def delete_group(tenant: Tenant, principal: Principal, group_id: int, *, now: dt.datetime) -> int:
    """Delete a group; its members lose what it gave them (seats they hold from no other
    source are freed). A licensed group too large for one transaction is refused: remove its
    licenses first (processed in batches), as Entra asks before deleting a licensed group."""
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id, field="id")
        licensed = GroupLicense.select().where(GroupLicense.group == group.id).exists()
        if licensed and group.member_count > SMALL_GROUP:
            raise DomainError(
                "GROUP_HAS_LICENSES",
                f"The group has {group.member_count:,} members and licenses: remove its "
                "licenses first (assignGroupLicense removeLicenses), then delete it.",
                "id",
            )
        before = describe(group) | {"memberCount": group.member_count}
        if licensed:
            proc = Processor(tenant, now=now)
            users = [u for _, u in member_ids(group.id)]
            proc.load_users(users)
            for uid in users:
                proc.leave(uid, group.id)
            GroupLicenseState.delete().where(GroupLicenseState.group == group.id).execute()
            GroupMember.delete().where(GroupMember.group == group.id).execute()
            proc.settle()
            proc.flush()
            proc.notify(g for g in proc.in_error if g != group.id)
        pk = group.id
        # Its policy assignments go first, so the ranks after them move up (audited).
        forget_group(tenant, principal, pk, now=now)
        group.delete_instance(recursive=False)  # members, licenses, states: ON DELETE CASCADE
        audit.record(
            principal, "deleteGroup", ("Group", pk), tenant_id=tenant.id, before=before,
            after=None, now=now,
        )  # fmt: skip
    return pk


def _tenant_users(tenant: Tenant, refs: list[int | str], field: str) -> list[int]:
    """The users' ids, in input order without repeats (users.find_users' refusals)."""
    check_batch_size(len(refs), field)
    return [u.id for u in find_users(tenant, refs, field=field)]


def add_members(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    user_ids: list[int | str],
    *,
    now: dt.datetime,
) -> tuple[Group, int]:
    """Add users (members already in the group are left as they are); each new member gets
    the group's licenses, in input order. Returns the group and the number added."""
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id)
        wanted = _tenant_users(tenant, user_ids, "userIds")
        present = {
            u
            for (u,) in GroupMember.select(GroupMember.user)
            .where((GroupMember.group == group.id) & GroupMember.user.in_(wanted))
            .tuples()
        }
        new = [u for u in wanted if u not in present]
        if new:
            GroupMember.insert_many(
                [{"group": group.id, "user": u, "added_at": now} for u in new]
            ).execute()
            proc = Processor(tenant, now=now)
            if proc.licenses_of(group.id):
                proc.load_users(new)
                for uid in new:
                    proc.apply(uid, group.id)
                proc.settle()
                proc.flush()
                proc.notify(proc.in_error)
        audit.record(
            principal, "addGroupMembers", group, tenant_id=tenant.id,
            before=None, after={"added": new}, now=now,
        )  # fmt: skip
    return Group.get_by_id(group.id), len(new)


def remove_members(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    user_ids: list[int | str],
    *,
    now: dt.datetime,
) -> tuple[Group, int]:
    """Remove users (non-members are ignored): they lose what the group gave them, freeing
    seats they hold from no other source. Returns the group and the number removed."""
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id)
        wanted = _tenant_users(tenant, user_ids, "userIds")
        present = [
            u
            for (u,) in GroupMember.select(GroupMember.user)
            .where((GroupMember.group == group.id) & GroupMember.user.in_(wanted))
            .order_by(GroupMember.id)
            .tuples()
        ]
        if present:
            proc = Processor(tenant, now=now)
            proc.load_users(present)
            for uid in present:
                proc.leave(uid, group.id)
            GroupMember.delete().where(
                (GroupMember.group == group.id) & GroupMember.user.in_(present)
            ).execute()
            proc.settle()
            proc.flush()
            proc.notify(proc.in_error)
        audit.record(
            principal, "removeGroupMembers", group, tenant_id=tenant.id,
            before={"removed": present}, after=None, now=now,
        )  # fmt: skip
    return Group.get_by_id(group.id), len(present)
