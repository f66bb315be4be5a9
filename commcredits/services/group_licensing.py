"""Group-based licensing with Entra's semantics (issue 18, SPEC §10): how a member's inherited
assignments become seats.

A `Processor` works inside the tenant's directory lock on the users it loads: it applies a
group's licenses to a member (`apply`), drops a member's group (`leave`), sets a direct
assignment for the direct path (`set_direct`), and then `settle`s: users who lost a source
have their errors reprocessed, and CountViolation members get seats that freed up, in member
order. `flush` writes the seat counts. Entra's rules, as README.md "Groups" states them:

- one row of `license_assignment` (one seat) per user per SKU however many sources; its
  disabled plans are the intersection over sources (the union of enabled plans wins);
- a member that cannot get the group's licenses gets an `Error` state with Entra's code for
  every SKU of the group it does not have yet, and nothing else changes for it: Entra assigns
  a group's products all or nothing per member ("If Microsoft Entra ID can't assign one of
  the products ... it won't assign the other licenses in the group either");
- users without a usage location are given the tenant's country for group assignments;
- losing the last source of a SKU frees its seat, unless a calling plan the user keeps
  depends on it (Teams Phone): then the assignment is converted to a direct one, as Entra
  does when a licensed group is deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import peewee

from commcredits.models import (
    GroupLicense,
    GroupLicenseState,
    GroupMember,
    LicenseAssignment,
    Subscription,
    Tenant,
    User,
)
from commcredits.services import notifications
from commcredits.services.catalog import CALLING_PLAN_SKUS, TEAMS_PHONE_PLAN, Catalog

ACTIVE = "Active"
ERROR = "Error"
COUNT = "CountViolation"
EXCLUSIVE = "MutuallyExclusiveViolation"
DEPENDENCY = "DependencyViolation"
LOCATION = "ProhibitedInUsageLocationViolation"
ERROR_CODES = (COUNT, EXCLUSIVE, DEPENDENCY, LOCATION, "UniquenessViolation", "Other")

Plans = tuple[str, ...]


def _intersect(sources: Iterable[Plans]) -> Plans | None:
    result: set[str] | None = None
    for plans in sources:
        result = set(plans) if result is None else result & set(plans)
    return None if result is None else tuple(sorted(result))


def direct_plans_of(row: LicenseAssignment) -> Plans | None:
    """The direct assignment's disabled plans; None when the row has none."""
    if not row.direct:
        return None
    plans = row.direct_plans if row.inherited_plans is not None else row.disabled_plans
    return tuple(plans or ())


class Processor:
    """Group licensing for some users of one tenant, in the caller's directory lock."""

    def __init__(self, tenant: Tenant, *, now: dt.datetime):
        self.tenant = tenant
        self.now = now
        self.cat = Catalog.load()
        self.available: dict[int, int] = {
            s.sku_id: s.enabled_units - s.consumed_units
            for s in Subscription.select().where(Subscription.tenant == tenant.id)
        }
        self.seat_delta: dict[int, int] = {}
        self.location: dict[int, str | None] = {}
        self.rows: dict[int, dict[int, LicenseAssignment]] = {}
        self.states: dict[int, dict[tuple[int, int], GroupLicenseState]] = {}
        self.group_lics: dict[int, dict[int, Plans]] = {}
        self.lost: set[int] = set()  # users who lost a source: their errors are retried
        self.freed: set[int] = set()  # SKUs with a seat given back
        self.in_error: dict[int, dict[int, str]] = {}  # group -> {user: code} left in error
        self._pending: dict[int, peewee.Model] = {}  # id(row) -> new row, inserted by flush

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

    # -- Entra's rules ------------------------------------------------------------------------
    def inherited(self, uid: int, sku: int) -> Plans | None:
        return _intersect(
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
        by_pk = self.cat.by_pk
        if any(not Catalog.sold_in(by_pk[s], location) for s in pending):
            return LOCATION
        rows = self.rows[uid]
        held = set(rows) | set(lics)
        calling = [s for s in held if by_pk[s].part_number in CALLING_PLAN_SKUS]
        if len(calling) > 1:
            return EXCLUSIVE
        if calling:
            plans: set[str] = set()
            for s, row in rows.items():
                plans |= Catalog.plan_names(by_pk[s], row.disabled_plans)
            for s, disabled in lics.items():
                plans |= Catalog.plan_names(by_pk[s], disabled)
            if TEAMS_PHONE_PLAN not in plans:
                return DEPENDENCY
        if any(self.available.get(s, 0) < 1 for s in pending if s not in rows):
            return COUNT
        return None

    # -- changes ------------------------------------------------------------------------------
    def apply(self, uid: int, group_id: int) -> str | None:
        """Bring one member's states for the group in line with the group's licenses."""
        lics = self.licenses_of(group_id)
        states = self.states[uid]
        touched: set[int] = set()
        for key, st in list(states.items()):
            if key[0] == group_id and key[1] not in lics:
                self._delete(st)
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
                states[group_id, sku] = self._new(
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
                self._save(st)
            if state == ACTIVE or was_active:
                touched.add(sku)
        for sku in sorted(touched):
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
                self._delete(st)
                del states[key]
                if st.state == ACTIVE:
                    touched.append(key[1])
        for sku in sorted(touched):
            self.resync(uid, sku)
        self.in_error.get(group_id, {}).pop(uid, None)

    def set_direct(self, uid: int, sku: int, plans: Plans | None) -> None:
        """The direct path's change for a user with group states (it checked the seats)."""
        row = self.rows[uid].get(sku)
        if row is None:
            if plans is not None:
                self._take(sku)
                self.rows[uid][sku] = self._new(
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
                self._take(sku)
                self.rows[uid][sku] = self._new(
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
            if self._needed_by_calling_plan(uid, sku):
                # Entra converts the assignment to a direct one rather than take Teams Phone
                # from under a calling plan the user keeps.
                direct = tuple(row.disabled_plans)
            else:
                self._delete(row)
                del self.rows[uid][sku]
                self._give(sku)
                return
        row.direct = direct is not None
        row.inherited_plans = None if inherited is None else list(inherited)
        if direct is not None and inherited is not None:
            row.direct_plans = list(direct)
            row.disabled_plans = list(_intersect([direct, inherited]) or ())
        else:
            # One source: its plans are the row's, as the direct path reads them.
            row.direct_plans = None
            row.disabled_plans = list(direct if direct is not None else inherited or ())
        self._save(row)

    def _needed_by_calling_plan(self, uid: int, sku: int) -> bool:
        by_pk = self.cat.by_pk
        others = {s: r for s, r in self.rows[uid].items() if s != sku}
        if not any(by_pk[s].part_number in CALLING_PLAN_SKUS for s in others):
            return False
        plans: set[str] = set()
        for s, r in others.items():
            plans |= Catalog.plan_names(by_pk[s], r.disabled_plans)
        row = self.rows[uid][sku]
        return TEAMS_PHONE_PLAN not in plans and TEAMS_PHONE_PLAN in Catalog.plan_names(
            by_pk[sku], row.disabled_plans
        )

    def _take(self, sku: int) -> None:
        self.available[sku] = self.available.get(sku, 0) - 1
        self.seat_delta[sku] = self.seat_delta.get(sku, 0) + 1

    def _give(self, sku: int) -> None:
        self.available[sku] = self.available.get(sku, 0) + 1
        self.seat_delta[sku] = self.seat_delta.get(sku, 0) - 1
        self.freed.add(sku)

    # -- settling and writing -----------------------------------------------------------------
    def settle(self) -> None:
        """Retry the errors of users who lost a source, then give freed seats to
        CountViolation members, in member order, until nothing more changes."""
        while self.lost or self.freed:
            while self.lost:
                uid = min(self.lost)
                self.lost.discard(uid)
                groups = sorted({g for (g, _), st in self.states[uid].items() if st.state == ERROR})
                for group_id in groups:
                    self.apply(uid, group_id)
            if self.freed:
                skus, self.freed = sorted(self.freed), set()
                self.retry_count_violations(skus)

    def retry_count_violations(self, skus: Iterable[int] | None = None) -> None:
        """CountViolation members of groups licensing these SKUs (None: any SKU with a free
        seat), in group then member order, each given the seats while they last."""
        if skus is None:
            skus = [s for s, n in self.available.items() if n > 0]
        skus = [s for s in skus if self.available.get(s, 0) > 0]
        if not skus:
            return
        gls = GroupLicenseState
        found = list(
            gls.select(gls.group, GroupMember.id, gls.user)
            .join(GroupMember, on=(GroupMember.group == gls.group) & (GroupMember.user == gls.user))
            .where((gls.tenant == self.tenant.id) & (gls.error == COUNT) & gls.sku.in_(skus))
            .group_by(gls.group, gls.user, GroupMember.id)
            .tuples()
        )
        # This run's own new states are not written yet (flush): they wait too.
        waiting = {
            (st.group_id, st.user_id)
            for st in self._pending.values()
            if isinstance(st, GroupLicenseState) and st.error == COUNT and st.sku_id in skus
        }
        for uid in {u for _, u in waiting}:
            found += [
                (g, m, uid)
                for g, m in GroupMember.select(GroupMember.group, GroupMember.id)
                .where(GroupMember.user == uid)
                .tuples()
                if (g, uid) in waiting
            ]
        pairs = [(g, u) for g, _, u in sorted(set(found))]  # group, then member order
        self.load_users(u for _, u in pairs)
        for group_id, uid in pairs:
            if not any(self.available.get(s, 0) > 0 for s in skus):
                break
            states = self.states[uid]
            if any(st.error == COUNT for (g, _), st in states.items() if g == group_id):
                self.apply(uid, group_id)

    # New rows wait for `flush` and go in with one INSERT per table: a batch of a thousand
    # members makes a thousand states and rows, and a round trip each cost more than the rest.
    def _new(self, model: type[peewee.Model], **values: object) -> peewee.Model:
        obj = model(**values)
        self._pending[id(obj)] = obj
        return obj

    def _save(self, obj: peewee.Model) -> None:
        if id(obj) not in self._pending:
            obj.save()

    def _delete(self, obj: peewee.Model) -> None:
        if self._pending.pop(id(obj), None) is None:
            obj.delete_instance()

    def flush(self) -> None:
        """Insert the new rows, then write the seat counts (frees first: consumed <= enabled
        holds after each statement)."""
        by_model: dict[type[peewee.Model], list[dict]] = {}
        for obj in self._pending.values():
            by_model.setdefault(type(obj), []).append(
                # Raw values: a foreign key's attribute would fetch the row it names.
                {
                    f.name: obj.__data__.get(f.name)
                    for f in obj._meta.sorted_fields
                    if f.name != "id"
                }
            )
        self._pending = {}
        for model, rows in by_model.items():
            for start in range(0, len(rows), 1000):
                model.insert_many(rows[start : start + 1000]).execute()
        for sku, delta in sorted(self.seat_delta.items(), key=lambda kv: kv[1]):
            if delta:
                Subscription.update(
                    consumed_units=Subscription.consumed_units + delta, updated_at=self.now
                ).where(
                    (Subscription.tenant == self.tenant.id) & (Subscription.sku == sku)
                ).execute()
        self.seat_delta = {}

    def notify(self, group_ids: Iterable[int]) -> None:
        """GROUP_LICENSE_ERRORS for each group this run left members in error."""
        for group_id in sorted(set(group_ids)):
            left = self.in_error.get(group_id)
            if not left:
                continue
            by_code: dict[str, int] = {}
            for code in left.values():
                by_code[code] = by_code.get(code, 0) + 1
            notifications.emit(
                self.tenant.id,
                "GROUP_LICENSE_ERRORS",
                {"groupId": group_id, "membersInError": len(left), "errors": by_code},
                now=self.now,
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
