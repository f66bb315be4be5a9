"""Groups (issue 18): create, update, delete, members, and the group's licenses (Graph's
group.assignLicense). What membership and licenses do to seats is group_licensing's.

Small groups (at most SMALL_GROUP members) are processed in the request's own transaction;
larger ones in committed batches of BATCH members (`process_group`), the group's
licenseProcessingState saying ProcessingInProgress until the last batch.

Adding and removing members take `what_if`: the change is made in a savepoint (every rule,
the seats and the group licensing run exactly as for real), what it would leave is read, and
the savepoint is rolled back. No audit entry or notification is written for it, and the
rollback drops anything else it queued (db._Savepoint; PostgreSQL discards a rolled-back
savepoint's NOTIFYs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import peewee

from commcredits.db import contains, db, directory_lock
from commcredits.models import (
    Group,
    GroupLicense,
    GroupLicenseState,
    GroupMember,
    LicenseAssignment,
    Tenant,
    User,
)
from commcredits.models.groups import (
    DESCRIPTION_MAX,
    NAME_MAX,
)
from commcredits.services import audit
from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError, check_batch_size, not_found
from commcredits.services.group_licensing import Processor, member_ids
from commcredits.services.group_policies import forget_group
from commcredits.services.licenses.prior_seats import prior_seat_units
from commcredits.services.principal import Principal
from commcredits.services.user_list import licenses_for_users
from commcredits.services.user_search import normalize
from commcredits.services.users import find_named_users

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
    """The tenant's groups, or those whose name holds `search`, case and accents aside
    ("anderung" finds "Änderung Team"), as a user search matches."""
    query = Group.select().where(Group.tenant == tenant.id)
    term = normalize(search or "")
    if term:
        query = query.where(contains(Group.search_name, term))
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
            tenant=tenant.id,
            display_name=name,
            search_name=normalize(name),
            description=text,
            created_at=now,
            updated_at=now,
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
            group.search_name = normalize(name)
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
    licenses first (processed in batches), as Entra asks before deleting a licensed group, and
    delete it once that run is over."""
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id, field="id")
        has_licenses = GroupLicense.select().where(GroupLicense.group == group.id).exists()
        # A group whose licenses are still being removed (a run in progress) has none left
        # but its members still hold what it gave them: they leave it as from a licensed one,
        # or their inherited assignments would outlive it, seats taken.
        licensed = (
            has_licenses
            or GroupLicenseState.select().where(GroupLicenseState.group == group.id).exists()
        )
        if licensed and group.member_count > SMALL_GROUP:
            first = (
                "remove its licenses first (assignGroupLicense removeLicenses), then delete it"
                if has_licenses
                else "its licenses are still being removed (licenseProcessingState "
                "ProcessingInProgress): delete it once that run is over"
            )
            raise DomainError(
                "GROUP_HAS_LICENSES",
                f"The group has {group.member_count:,} members and licenses: {first}.",
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


@dataclass(frozen=True)
class MemberOutcome:
    """One user a membership change named (each once, at the first entry naming it)."""

    index: int
    user_id: int
    changed: bool  # added (removed), or with what_if would be; False: it already was (not)
    # what_if only: the user's licenses and group states as the change would leave them, read
    # before the rollback (a real change's are read as stored, after it).
    licenses: list[LicenseAssignment] | None = None
    states: list[GroupLicenseState] | None = None


@dataclass(frozen=True)
class MembersResult:
    group: Group  # as stored once the call is over (with what_if: as it was)
    outcomes: list[MemberOutcome]  # in input order
    seat_changes: dict[int, int]  # SKU pk -> seats taken (+) or given back (-); none at 0
    what_if: bool = False
    adding: bool = True  # addGroupMembers' result (False: removeGroupMembers')

    @property
    def changed(self) -> int:
        return sum(o.changed for o in self.outcomes)


def _tenant_users(tenant: Tenant, refs: list[int | str], field: str) -> list[tuple[int, int]]:
    """(index, user id) of the users named, in input order, each once at the first entry
    naming it (users.find_named_users' refusals)."""
    check_batch_size(len(refs), field)
    return [(i, user.id) for i, user in find_named_users(tenant, refs, field=field)]


def _processor(tenant: Tenant, prior: dict[int, int], now: dt.datetime) -> Processor:
    proc = Processor(tenant, now=now)
    for sku, units in prior.items():
        proc.seats.available[sku] = proc.seats.available.get(sku, 0) - units
    return proc


def _settled(proc: Processor, *, what_if: bool) -> dict[int, int]:
    """Settle and write the run; the seats it took (+) or gave back (-) per SKU."""
    proc.settle()
    taken = {sku: units for sku, units in proc.seats.delta.items() if units}
    proc.flush()
    if not what_if:  # a dry run notifies no one (its rows are rolled back anyway)
        proc.notify(proc.in_error)
    return taken


@contextmanager
def _dry_run(what_if: bool) -> Iterator[None]:
    """With what_if, a savepoint undone at the end of the block (see the module docstring)."""
    if not what_if:
        yield
        return
    with db.savepoint() as savepoint:
        yield
        savepoint.rollback(begin=False)


def _outcomes(
    named: list[tuple[int, int]], changed: set[int], *, what_if: bool
) -> list[MemberOutcome]:
    """One outcome per user named; with what_if, each with what the change would leave (read
    inside the savepoint: one statement per 500 users for states, per 1,000 for licenses)."""
    if not what_if:
        return [MemberOutcome(i, u, u in changed) for i, u in named]
    ids = [u for _, u in named]
    held = licenses_for_users(ids)
    states: dict[int, list[GroupLicenseState]] = {u: [] for u in ids}
    for start in range(0, len(ids), 500):
        for st in (
            GroupLicenseState.select()
            .where(GroupLicenseState.user.in_(ids[start : start + 500]))
            .order_by(GroupLicenseState.group, GroupLicenseState.sku)
        ):
            states[st.user_id].append(st)
    return [MemberOutcome(i, u, u in changed, held[u], states[u]) for i, u in named]


# A membership change: the users it changed, and the processor holding their group licensing
# to settle (None: no seat moves); given a maker, so a batch that changes nothing builds none.
_Make = Callable[[], Processor]
_Changed = tuple[list[int], Processor | None]


class _Change(Enum):
    """A membership change, by the audit action it records."""

    ADD = "addGroupMembers"
    REMOVE = "removeGroupMembers"

    def audited(self, ids: list[int]) -> tuple[dict | None, dict | None]:
        """The entry's before and after: the users it removed, or those it added."""
        if self is _Change.ADD:
            return None, {"added": ids}
        return {"removed": ids}, None


def add_members(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    user_ids: list[int | str],
    *,
    now: dt.datetime,
    what_if: bool = False,
    prior_seats: Sequence[tuple[str, int]] = (),
) -> MembersResult:
    """Add users (members already in the group are left as they are); each new member gets
    the group's licenses, in input order. With `what_if` everything runs as for real and
    nothing is kept (see the module docstring); `prior_seats` (what_if only) are the seats
    the earlier batches of the same dry run would take (licenses.assign_licenses')."""

    def add(group: Group, wanted: list[int], members: list[int], processor: _Make) -> _Changed:
        present = set(members)
        new = [u for u in wanted if u not in present]
        if not new:
            return new, None
        GroupMember.insert_many(
            [{"group": group.id, "user": u, "added_at": now} for u in new]
        ).execute()
        proc = processor()
        if not proc.licenses_of(group.id):
            return new, None  # a group without licenses: no seat moves
        proc.load_users(new)
        for uid in new:
            proc.apply(uid, group.id)
        return new, proc

    return _change_members(
        tenant, principal, group_id, user_ids, add, _Change.ADD,
        now=now, what_if=what_if, prior_seats=prior_seats,
    )  # fmt: skip


def remove_members(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    user_ids: list[int | str],
    *,
    now: dt.datetime,
    what_if: bool = False,
    prior_seats: Sequence[tuple[str, int]] = (),
) -> MembersResult:
    """Remove users (non-members are ignored): they lose what the group gave them, freeing
    seats they hold from no other source, in membership order. `what_if` and `prior_seats`
    as add_members'."""

    def remove(group: Group, wanted: list[int], members: list[int], processor: _Make) -> _Changed:
        if not members:
            return members, None
        proc = processor()
        proc.load_users(members)
        for uid in members:
            proc.leave(uid, group.id)
        GroupMember.delete().where(
            (GroupMember.group == group.id) & GroupMember.user.in_(members)
        ).execute()
        return members, proc

    return _change_members(
        tenant, principal, group_id, user_ids, remove, _Change.REMOVE,
        now=now, what_if=what_if, prior_seats=prior_seats,
    )  # fmt: skip


def _change_members(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    user_ids: list[int | str],
    change: Callable[[Group, list[int], list[int], _Make], _Changed],
    kind: _Change,
    *,
    now: dt.datetime,
    what_if: bool,
    prior_seats: Sequence[tuple[str, int]],
) -> MembersResult:
    """What adding and removing share: under the directory lock (with what_if, in a savepoint
    rolled back), the group and the users named, those of them already members (in
    membership order), `change` (the users it changed, and their group licensing), the seats
    settled, and one audit entry — none when no membership changed, as an unchanged license
    batch leaves none."""
    prior = prior_seat_units(Catalog.load(), prior_seats, what_if=what_if) if prior_seats else {}
    with directory_lock(tenant.id):
        with _dry_run(what_if):
            group = get_group(tenant, group_id)
            named = _tenant_users(tenant, user_ids, "userIds")
            wanted = [u for _, u in named]
            members = [
                u
                for (u,) in GroupMember.select(GroupMember.user)
                .where((GroupMember.group == group.id) & GroupMember.user.in_(wanted))
                .order_by(GroupMember.id)
                .tuples()
            ]
            changed, proc = change(group, wanted, members, lambda: _processor(tenant, prior, now))
            taken = _settled(proc, what_if=what_if) if proc is not None else {}
            outcomes = _outcomes(named, set(changed), what_if=what_if)
            if changed and not what_if:
                before, after = kind.audited(changed)
                audit.record(
                    principal, kind.value, group, tenant_id=tenant.id,
                    before=before, after=after, now=now,
                )  # fmt: skip
        adding = kind is _Change.ADD
        return MembersResult(Group.get_by_id(group.id), outcomes, taken, what_if, adding)
