"""Group-based licensing with Entra's semantics (issue 18, SPEC §10): how a member's inherited
assignments become seats. Entra's rules themselves are in services/group_license_rules.py, the
seat count and who waits for a seat in services/group_license_seats.py.

A `Processor` works inside the tenant's directory lock on the users it loads: it applies a
group's licenses to a member (`apply`), drops a member's group (`leave`), sets a direct
assignment for the direct path (`set_direct`), and then `settle`s: users who lost a source
have their errors reprocessed, and CountViolation members get seats that freed up, in member
order. `flush` writes the new rows and the seat counts. As Entra:

- one row of `license_assignment` (one seat) per user per SKU however many sources;
- a member that cannot get the group's licenses gets an `Error` state for every SKU of the
  group it does not have yet, and nothing else changes for it: Entra assigns a group's
  products all or nothing per member ("If Microsoft Entra ID can't assign one of the
  products ... it won't assign the other licenses in the group either");
- users without a usage location are given the tenant's country for group assignments;
- losing the last source of a SKU frees its seat, unless a calling plan the user keeps
  depends on it: then the assignment is converted to a direct one, as Entra does when a
  licensed group is deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from commcredits.models import (
    GroupLicense,
    GroupLicenseState,
    GroupMember,
    LicenseAssignment,
    Tenant,
    User,
)
from commcredits.services import notifications
from commcredits.services.catalog import TEAMS_PHONE_PLAN, Catalog
from commcredits.services.group_license_rules import (
    ACTIVE,
    COUNT,
    ERROR,
    Plans,
    blocking_error,
    direct_plans_of,
    intersect,
    needed_by_calling_plan,
)
from commcredits.services.group_license_seats import Seats, waiting_for_seats
from commcredits.services.pending_rows import PendingRows


class Processor:
    """Group licensing for some users of one tenant, in the caller's directory lock."""

    def __init__(self, tenant: Tenant, *, now: dt.datetime):
        self.tenant = tenant
        self.now = now
        self.cat = Catalog.load()
        self.seats = Seats(tenant.id)
        self.location: dict[int, str | None] = {}
        self.rows: dict[int, dict[int, LicenseAssignment]] = {}
        self.states: dict[int, dict[tuple[int, int], GroupLicenseState]] = {}
        self.group_lics: dict[int, dict[int, Plans]] = {}
        self.lost: set[int] = set()  # users who lost a source: their errors are retried
        self.in_error: dict[int, dict[int, str]] = {}  # group -> {user: code} left in error
        self.pending = PendingRows()  # inserted by flush

    # -- loading ------------------------------------------------------------------------------
    def load_users(self, user_ids: Iterable[int]) -> None:
        ids = [u for u in dict.fromkeys(user_ids) if u not in self.location]
        if not ids:
            return
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for uid, location in (
                User.select(User.id, User.usage_location)
                .where((User.tenant == self.tenant.id) & User.id.in_(chunk))
                .tuples()
            ):
                self.location[uid] = location
                self.rows[uid] = {}
                self.states[uid] = {}
            for row in LicenseAssignment.select().where(LicenseAssignment.user.in_(chunk)):
                self.rows[row.user_id][row.sku_id] = row
            for st in GroupLicenseState.select().where(GroupLicenseState.user.in_(chunk)):
                self.states[st.user_id][st.group_id, st.sku_id] = st
                self.licenses_of(st.group_id)

    def licenses_of(self, group_id: int) -> dict[int, Plans]:
        lics = self.group_lics.get(group_id)
        if lics is None:
            lics = self.group_lics[group_id] = {
                gl.sku_id: tuple(gl.disabled_plans)
                for gl in GroupLicense.select()
                .where(GroupLicense.group == group_id)
                .order_by(GroupLicense.id)
            }
        return lics

    def forget_group(self, group_id: int) -> None:
        """Reload the group's licenses when next needed (they changed)."""
        self.group_lics.pop(group_id, None)

    # -- Entra's rules on what was loaded -----------------------------------------------------
    def inherited(self, uid: int, sku: int) -> Plans | None:
        return intersect(
            tuple(st.disabled_plans)
            for (_, s), st in self.states[uid].items()
            if s == sku and st.state == ACTIVE
        )

    def evaluate(self, uid: int, group_id: int) -> str | None:
        """Why the member cannot get the group's SKUs it does not have yet; None if it can."""
        lics = self.licenses_of(group_id)
        states = self.states[uid]
        pending = [
            s for s in lics if (st := states.get((group_id, s))) is None or st.state != ACTIVE
        ]
        if not pending:
            return None
        # Entra: users without a usage location inherit the directory's for group licenses.
        location = self.location[uid] or self.tenant.country
        return blocking_error(self.cat, location, self.rows[uid], lics, pending, self.seats.free)

    # -- changes ------------------------------------------------------------------------------
    def apply(self, uid: int, group_id: int) -> str | None:
        """Bring one member's states for the group in line with the group's licenses."""
        lics = self.licenses_of(group_id)
        states = self.states[uid]
        touched: set[int] = set()
        for key, st in list(states.items()):
            if key[0] == group_id and key[1] not in lics:
                self.pending.delete(st)
                del states[key]
                if st.state == ACTIVE:
                    touched.add(key[1])
        error = self.evaluate(uid, group_id)
        for sku, plans in lics.items():
            st = states.get((group_id, sku))
            was_active = st is not None and st.state == ACTIVE
            # Already active stays active (nothing else changes for the member); the rest all
            # or nothing.
            state, code = (ACTIVE, None) if error is None or was_active else (ERROR, error)
            if st is None:
                states[group_id, sku] = self.pending.new(
                    GroupLicenseState,
                    tenant=self.tenant.id,
                    group=group_id,
                    user=uid,
                    sku=sku,
                    state=state,
                    error=code,
                    disabled_plans=list(plans),
                    updated_at=self.now,
                )
            elif (st.state, st.error, tuple(st.disabled_plans)) != (state, code, plans):
                st.state, st.error, st.disabled_plans = state, code, list(plans)
                st.updated_at = self.now
                self.pending.save(st)
            if state == ACTIVE or was_active:
                touched.add(sku)
        for sku in self.phone_last(touched):
            self.resync(uid, sku)
        if error is not None:
            self.in_error.setdefault(group_id, {})[uid] = error
        else:
            self.in_error.get(group_id, {}).pop(uid, None)
        return error

    def leave(self, uid: int, group_id: int) -> None:
        """Drop every state the group gave the member."""
        states = self.states[uid]
        touched = []
        for key, st in list(states.items()):
            if key[0] == group_id:
                self.pending.delete(st)
                del states[key]
                if st.state == ACTIVE:
                    touched.append(key[1])
        for sku in self.phone_last(touched):
            self.resync(uid, sku)
        self.in_error.get(group_id, {}).pop(uid, None)

    def phone_last(self, skus: Iterable[int]) -> list[int]:
        """SKUs in pk order, those giving Teams Phone last: a calling plan leaving in the same
        change is settled first, so whether one still needs Teams Phone is asked of what the
        user keeps (settled earlier, Teams Phone stayed as a direct assignment, seat and all,
        for a calling plan that was going too)."""
        return sorted(
            skus,
            key=lambda sku: (TEAMS_PHONE_PLAN in Catalog.plan_names(self.cat.by_pk[sku]), sku),
        )

    def set_direct(self, uid: int, sku: int, plans: Plans | None) -> None:
        """The direct path's change for a user with group states (it checked the seats)."""
        row = self.rows[uid].get(sku)
        if row is None:
            if plans is not None:
                self.seats.take(sku)
                self.rows[uid][sku] = self.pending.new(
                    LicenseAssignment,
                    tenant=self.tenant.id,
                    user=uid,
                    sku=sku,
                    disabled_plans=list(plans),
                    assigned_at=self.now,
                    direct=True,
                )
            return
        if plans is None and row.direct:
            self.lost.add(uid)
        self._settle_row(uid, sku, row, plans, self.inherited(uid, sku))

    def resync(self, uid: int, sku: int) -> None:
        """The user's row for the SKU as its sources now say."""
        row = self.rows[uid].get(sku)
        inherited = self.inherited(uid, sku)
        if row is None:
            if inherited is not None:
                self.seats.take(sku)
                self.rows[uid][sku] = self.pending.new(
                    LicenseAssignment,
                    tenant=self.tenant.id,
                    user=uid,
                    sku=sku,
                    disabled_plans=list(inherited),
                    assigned_at=self.now,
                    direct=False,
                    inherited_plans=list(inherited),
                )
            return
        if row.inherited_plans is not None and inherited is None:
            self.lost.add(uid)
        self._settle_row(uid, sku, row, direct_plans_of(row), inherited)

    def _settle_row(
        self,
        uid: int,
        sku: int,
        row: LicenseAssignment,
        direct: Plans | None,
        inherited: Plans | None,
    ) -> None:
        if direct is None and inherited is None:
            if needed_by_calling_plan(self.cat, self.rows[uid], sku):
                # Entra converts the assignment to a direct one rather than take Teams Phone
                # from under a calling plan the user keeps.
                direct = tuple(row.disabled_plans)
            else:
                self.pending.delete(row)
                del self.rows[uid][sku]
                self.seats.give(sku)
                return
        row.direct = direct is not None
        row.inherited_plans = None if inherited is None else list(inherited)
        if direct is not None and inherited is not None:
            row.direct_plans = list(direct)
            row.disabled_plans = list(intersect([direct, inherited]) or ())
        else:
            # One source: its plans are the row's, as the direct path reads them.
            row.direct_plans = None
            row.disabled_plans = list(direct if direct is not None else inherited or ())
        self.pending.save(row)

    # -- settling and writing -----------------------------------------------------------------
    def settle(self) -> None:
        """Retry the errors of users who lost a source, then give freed seats to
        CountViolation members, in member order, until nothing more changes."""
        while self.lost or self.seats.freed:
            while self.lost:
                uid = min(self.lost)
                self.lost.discard(uid)
                groups = sorted({g for (g, _), st in self.states[uid].items() if st.state == ERROR})
                for group_id in groups:
                    self.apply(uid, group_id)
            if self.seats.freed:
                skus, self.seats.freed = sorted(self.seats.freed), set()
                self.retry_count_violations(skus)

    def retry_count_violations(self, skus: Iterable[int] | None = None) -> None:
        """CountViolation members of groups licensing these SKUs (None: any SKU with a free
        seat), in group then member order, each given the seats while they last."""
        if skus is None:
            skus = list(self.seats.available)
        skus = [s for s in skus if self.seats.free(s)]
        if not skus:
            return
        pairs = waiting_for_seats(self.tenant.id, skus, self.pending.of(GroupLicenseState))
        self.load_users(u for _, u in pairs)
        for group_id, uid in pairs:
            if not any(self.seats.free(s) for s in skus):
                break
            states = self.states[uid]
            if any(st.error == COUNT for (g, _), st in states.items() if g == group_id):
                self.apply(uid, group_id)

    def flush(self) -> None:
        """Insert the new rows, then write the seat counts."""
        self.pending.insert()
        self.seats.write(self.now)

    def notify(self, group_ids: Iterable[int]) -> None:
        """GROUP_LICENSE_ERRORS for each group this run left members in error."""
        for group_id in sorted(set(group_ids)):
            left = self.in_error.get(group_id)
            if not left:
                continue
            by_code: dict[str, int] = {}
            for code in left.values():
                by_code[code] = by_code.get(code, 0) + 1
            notify_errors(self.tenant.id, group_id, len(left), by_code, now=self.now)


def notify_errors(
    tenant_id: int, group_id: int, in_error: int, per_kind: dict[str, int], *, now: dt.datetime
) -> None:
    """GROUP_LICENSE_ERRORS: a run left `in_error` members of the group in error, `per_kind`
    of them by Entra's error."""
    notifications.emit(
        tenant_id,
        "GROUP_LICENSE_ERRORS",
        {"groupId": group_id, "membersInError": in_error, "errors": per_kind},
        now=now,
    )


def member_ids(group_id: int, *, after: int = 0, limit: int | None = None) -> list[tuple[int, int]]:
    """(member id, user id) in member order."""
    query = (
        GroupMember.select(GroupMember.id, GroupMember.user)
        .where((GroupMember.group == group_id) & (GroupMember.id > after))
        .order_by(GroupMember.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(query.tuples())
