"""Writing a batch: the net change in a few bulk statements, and one audit entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from operator import itemgetter
from typing import NamedTuple

from commcredits.db import db, execute_in, insert_for_each
from commcredits.models import LicenseAssignment, Subscription, Tenant
from commcredits.services import audit
from commcredits.services.licenses.picture import TenantPicture
from commcredits.services.licenses.rules import Decision, Delta, delta_between
from commcredits.services.principal import Principal

_COUNT_SEATS_SQL = (
    f'UPDATE "{Subscription._meta.table_name}" '
    "SET consumed_units = consumed_units + {p}, updated_at = {p} "
    "WHERE tenant_id = {p} AND sku_id = {p}"
)


_upn = itemgetter(1)  # UserRef.user_principal_name, for a list of users at C speed

_DELETE_SQL = f'DELETE FROM "{LicenseAssignment._meta.table_name}" WHERE id IN {{in}}'
_REPLAN_SQL = (
    f'UPDATE "{LicenseAssignment._meta.table_name}" '
    "SET disabled_plans = {p} WHERE id IN {{in}}"
)


def write_changes(
    tenant: Tenant,
    principal: Principal,
    pic: TenantPicture,
    *,
    now: dt.datetime,
    between: Callable[[], None] | None = None,
) -> int:
    """Write the net difference between the picture as loaded and as left by the batch;
    returns the number of license rows inserted (table_stats: statistics after bulk loads).

    `between` runs after this batch's frees and before its takes: the other writes of the
    same batch (users with group states), so a seat one of them frees is free before another
    user of the batch takes it, whichever path each is on."""
    la = LicenseAssignment
    tenant_id = tenant.id  # a peewee field read costs a Python call: once, not per row
    assigned_at = la.assigned_at.db_value(now)
    rows = _by_decision(pic) if not pic.retouched else None
    inserts, delete_ids, updates, changed = rows or _by_user(pic)
    seat_delta: dict[int, int] = {}
    for delta, uids in changed.values():
        for sku_pk, _ in delta.inserts:
            seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) + len(uids)
        for sku_pk in delta.deletes:
            seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) - len(uids)
    # Frees first, so the CHECK (consumed <= enabled) holds after every statement.
    execute_in(_DELETE_SQL, delete_ids)
    updated_at = Subscription.updated_at.db_value(now)
    frees = [(sku, units) for sku, units in seat_delta.items() if units < 0]
    takes = [(sku, units) for sku, units in seat_delta.items() if units > 0]
    for sku_pk, delta_units in frees:
        db.execute_sql(
            _COUNT_SEATS_SQL.format(p=db.obj.param), (delta_units, updated_at, tenant_id, sku_pk)
        )
    if between is not None:
        between()
    for sku_pk, delta_units in takes:
        db.execute_sql(
            _COUNT_SEATS_SQL.format(p=db.obj.param), (delta_units, updated_at, tenant_id, sku_pk)
        )
    # Rows that differ only in the user (all of a batch's, mostly) go in one statement.
    for (sku_pk, text), uids in inserts.items():
        fixed = {
            la.tenant.column_name: tenant_id,
            la.sku.column_name: sku_pk,
            la.disabled_plans.column_name: text,
            la.assigned_at.column_name: assigned_at,
        }
        insert_for_each(la._meta.table_name, fixed, la.user.column_name, uids)
    # One UPDATE per distinct set of disabled plans (a bulk change shares one), not per row.
    for disabled, ids in updates.items():
        text = la.disabled_plans.db_value(list(disabled))
        execute_in(_REPLAN_SQL.format(p=db.obj.param), ids, params=(text,))
    if changed:
        _audit(tenant, principal, pic, list(changed.values()), now=now)
    return sum(len(uids) for uids in inserts.values())


class _Rows(NamedTuple):
    """The net change of a batch, as rows to write and the audit's groups."""

    inserts: dict[tuple[int, str], list[int]]  # (sku pk, plans JSON) -> users
    delete_ids: list[int]
    updates: dict[tuple[str, ...], list[int]]  # new disabled plans -> license row ids
    changed: dict[int, tuple[Delta, list[int]]]  # id(delta) -> (delta, its users)


def _plans_text(disabled: tuple[str, ...], known: dict[tuple[str, ...], str]) -> str:
    """The disabled plans as stored (JSON), worked out once per distinct list."""
    text = known.get(disabled)
    if text is None:
        text = known[disabled] = LicenseAssignment.disabled_plans.db_value(list(disabled))
    return text


def _applied(touched: dict[int, Decision]) -> list[tuple[Decision, list[int]]]:
    """The users changed, by decision, in the order each decision was first applied, each
    group's users in the order they were changed."""
    groups: dict[int, tuple[Decision, list[int]]] = {}  # id(decision) -> group
    last, add = None, None
    for uid, decision in touched.items():
        if decision is not last:  # a batch's items come in runs of one decision
            group = groups.get(id(decision))
            if group is None:
                group = groups[id(decision)] = (decision, [])
            last, add = decision, group[1].append
        add(uid)  # type: ignore[misc]
    return list(groups.values())


def _by_decision(pic: TenantPicture) -> _Rows | None:
    """The rows decision by decision, when each user changed once (`touched` then holds the
    decision applied to each) and no two decisions insert the same (SKU, plans): then every
    row to insert comes from one group, its users in the order they were changed, as
    `_by_user` would list them. None otherwise."""
    groups = _applied(pic.touched)
    # (only changing decisions are applied: each has a delta)
    pairs = [pair for decision, _ in groups for pair in decision.delta.inserts]  # type: ignore
    if len(set(pairs)) != len(pairs):
        return None
    rows = _Rows({}, [], {}, {})
    row_ids, known = pic.row_ids, {}  # known: plans JSON by list
    for decision, uids in groups:
        delta = decision.delta
        assert delta is not None  # only changing decisions are applied
        for sku_pk, disabled in delta.inserts:
            rows.inserts[sku_pk, _plans_text(disabled, known)] = uids
        for sku_pk, disabled in delta.updates:
            rows.updates.setdefault(disabled, []).extend([row_ids[u, sku_pk] for u in uids])
        for sku_pk in delta.deletes:
            rows.delete_ids.extend([row_ids[u, sku_pk] for u in uids])
        rows.changed[id(delta)] = (delta, uids)
    return rows


def _by_user(pic: TenantPicture) -> _Rows:
    """The rows user by user, in the order they were changed; a user changed more than once
    gets the net change, worked out for them."""
    rows = _Rows({}, [], {}, {})
    row_ids, known = pic.row_ids, {}  # known: plans JSON by list
    for uid, decision in pic.touched.items():
        if uid in pic.retouched:
            initial, final = pic.initial[uid], pic.held[uid]
            if final == initial:
                continue
            delta = delta_between(pic.catalog, initial, final)
        else:
            delta = decision.delta  # the decision's, worked out once for all its users
            assert delta is not None  # only changing decisions are applied
        for sku_pk, disabled in delta.inserts:
            rows.inserts.setdefault((sku_pk, _plans_text(disabled, known)), []).append(uid)
        for sku_pk, disabled in delta.updates:
            rows.updates.setdefault(disabled, []).append(row_ids[uid, sku_pk])
        for sku_pk in delta.deletes:
            rows.delete_ids.append(row_ids[uid, sku_pk])
        group = rows.changed.get(id(delta))
        if group is None:
            group = rows.changed[id(delta)] = (delta, [])
        group[1].append(uid)
    return rows


def _audit(
    tenant: Tenant,
    principal: Principal,
    pic: TenantPicture,
    changed: list[tuple[Delta, list[int]]],
    *,
    now: dt.datetime,
) -> None:
    """One entry for the call: on the user when one user changed, else on the batch.

    A batch's entry (as `recordCalls` writes one per batch) lists, before and after, each set
    of SKUs with the UPNs of the changed users that held it: `[{"licenses": [...], "users":
    [...]}]`. Grouped, since a batch moves many users between the same few sets, and an entry
    per user would cost more than the change itself.
    """
    before: list[str] | list[dict[str, list[str]]]
    after: list[str] | list[dict[str, list[str]]]
    if len(changed) == 1 and len(changed[0][1]) == 1:
        delta, (uid,) = changed[0]
        target: tuple[str, object] = ("User", uid)
        action, before, after = "assignLicense", list(delta.before), list(delta.after)
    else:
        users = pic.users_by_id
        groups_before: dict[tuple[str, ...], list[str]] = {}
        groups_after: dict[tuple[str, ...], list[str]] = {}
        for delta, uids in changed:
            upns = list(map(_upn, map(users.__getitem__, uids)))
            groups_before.setdefault(delta.before, []).extend(upns)
            groups_after.setdefault(delta.after, []).extend(upns)
        first = users[changed[0][1][0]].user_principal_name
        last = users[changed[-1][1][-1]].user_principal_name
        target = ("UserBatch", f"{first}…{last}")
        action = "assignLicenses"
        before = [{"licenses": list(k), "users": v} for k, v in groups_before.items()]
        after = [{"licenses": list(k), "users": v} for k, v in groups_after.items()]
    audit.record(
        principal,
        action,
        target,
        tenant_id=tenant.id,
        before=before,
        after=after,
        now=now,
    )
