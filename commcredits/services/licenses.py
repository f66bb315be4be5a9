"""License assignment with Microsoft Graph's `assignLicense` semantics (SPEC §3).

One request = one user's `addLicenses` + `removeLicenses`, applied all or nothing. A batch is
many independent requests evaluated in input order against one in-memory picture of the
tenant (seats, the users' licenses), so seats are counted in order and a later item sees the
effect of an earlier one; the net change is then written with a few bulk statements.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from commcredits.db import db, directory_lock, execute_in, insert_for_each
from commcredits.models import LicenseAssignment, Sku, Subscription, Tenant, User
from commcredits.services import audit
from commcredits.services.catalog import (
    CALLING_PLAN_SKUS,
    TEAMS_PHONE_PLAN,
    Catalog,
)
from commcredits.services.errors import DomainError, ErrorDetail, check_batch_size, not_found
from commcredits.services.principal import Principal


class AddLicense(NamedTuple):
    """A SKU to add (a tuple, so that a batch's shared change hashes cheaply)."""

    sku: str  # skuId (GUID) or skuPartNumber
    disabled_plans: tuple[str, ...] = ()  # servicePlanId or servicePlanName


class LicenseRequest(NamedTuple):
    """One user's change (a tuple: a batch builds a thousand of these)."""

    user: int | str  # user id, or user principal name
    add: tuple[AddLicense, ...] = ()
    remove: tuple[str, ...] = ()

    @classmethod
    def many(
        cls, users: Iterable[int | str], add: tuple[AddLicense, ...], remove: tuple[str, ...]
    ) -> list[LicenseRequest]:
        """The same change for each user. Built with tuple.__new__, which is what the named
        tuple's own constructor calls, minus a Python-level call per item."""
        new = tuple.__new__
        return [new(cls, (user, add, remove)) for user in users]


@dataclass(frozen=True)
class LicenseChange:
    sku: Sku
    action: str  # ASSIGNED, UPDATED, REMOVED, UNCHANGED
    disabled_plans: tuple[str, ...] = ()


class LicenseOutcome(NamedTuple):
    """What became of one request (a tuple, like the request: one per item of a batch)."""

    index: int
    request: LicenseRequest
    user: UserRef | None = None
    # Shared between the items a batch decided alike (never mutated).
    changes: tuple[LicenseChange, ...] = ()
    errors: Sequence[ErrorDetail] = ()
    changed: bool = False  # some change is more than UNCHANGED
    applied: bool = False  # written (never for whatIf or a failed item)

    @property
    def ok(self) -> bool:
        return not self.errors


def _err(code: str, message: str, field_: str | None) -> ErrorDetail:
    return ErrorDetail(code=code, message=message, field=field_)


def no_usage_location() -> ErrorDetail:
    return _err(
        "ProhibitedInUsageLocationViolation",
        "License assignment cannot be done for user with invalid usage location.",
        "userId",
    )


class UserRef(NamedTuple):
    """The few columns of a user that license rules read (cheaper than a model object)."""

    id: int
    user_principal_name: str
    upn_key: str
    usage_location: str | None


@dataclass(frozen=True)
class _Decision:
    """What the rules make of one change for one license state and usage location.

    `request_errors` are faults of the request itself (nothing else is checked then);
    `rule_errors` the refusals of the rules; the seat count is checked per item, in order.
    """

    changes: tuple[LicenseChange, ...] = ()
    new: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # never mutated: shared
    request_errors: tuple[ErrorDetail, ...] = ()
    rule_errors: tuple[ErrorDetail, ...] = ()
    # What writing it takes, when it changes anything (None: every change UNCHANGED); its
    # inserts take a seat each, its deletes give one back.
    delta: _Delta | None = None


# Users by id or by UPN key, each with its licenses (one row per license, or one with NULLs):
# built by hand, since rendering 1,000 keys through peewee costs more than the query itself.
# The UPN comes back only where it differs from its key (it is mostly stored in lower case):
# a thousand strings fewer to build per batch.
_USERS_SQL = (
    "SELECT u.id, NULLIF(u.user_principal_name, u.upn_key), u.upn_key, u.usage_location, "
    f'la.id, la.sku_id, la.disabled_plans FROM "{User._meta.table_name}" AS u '
    f'LEFT JOIN "{LicenseAssignment._meta.table_name}" AS la ON la.user_id = u.id '
    "WHERE u.tenant_id = {p} AND u.{column} IN {{in}}"
)


_SEATS_SQL = (
    "SELECT sku_id, enabled_units, consumed_units "
    f'FROM "{Subscription._meta.table_name}" WHERE tenant_id = {{p}}'
)


_COUNT_SEATS_SQL = (
    f'UPDATE "{Subscription._meta.table_name}" '
    "SET consumed_units = consumed_units + {p}, updated_at = {p} "
    "WHERE tenant_id = {p} AND sku_id = {p}"
)


_DELETE_SQL = f'DELETE FROM "{LicenseAssignment._meta.table_name}" WHERE id IN {{in}}'
_REPLAN_SQL = (
    f'UPDATE "{LicenseAssignment._meta.table_name}" '
    "SET disabled_plans = {p} WHERE id IN {{in}}"
)


# The licenses of every user who holds none: one shared mapping, never changed (a change
# gives a user a new mapping), so a batch of unlicensed users builds no dict per user.
_NO_LICENSES: Mapping[int, tuple[str, ...]] = MappingProxyType({})


class _TenantPicture:
    """What a batch needs, loaded once: users, their licenses, the seats left per SKU."""

    def __init__(self, tenant: Tenant, requests: list[LicenseRequest], *, applying: bool):
        self.catalog = Catalog.load()
        tenant_id = tenant.id
        by_id: dict[int, UserRef] = {}
        by_key: dict[int | str, UserRef] = {}  # UPN key (stripped, lower case) -> user
        # user id -> {sku pk: disabled plans}: `initial` as loaded, `held` as the batch leaves
        # it. A change replaces a user's mapping in `held` and never mutates one, so the two
        # share the loaded mappings.
        initial: dict[int, Mapping[int, tuple[str, ...]]] = {}
        licensed: dict[int, dict[int, tuple[str, ...]]] = {}  # filled while loading
        row_ids: dict[tuple[int, int], int] = {}  # (user, sku pk) -> license row id
        ids: dict[int, None] = {}
        keys: dict[str, None] = {}
        odd: dict[str, list[str]] = {}  # key -> the references that spell it otherwise
        for ref in dict.fromkeys(r.user for r in requests):
            if isinstance(ref, int):
                ids[ref] = None
                continue
            key = ref.strip().lower()
            keys[key] = None
            if key != ref:
                odd.setdefault(key, []).append(ref)
        plans: dict[str, tuple[str, ...]] = {}  # disabled_plans JSON -> tuple, decoded once
        new = tuple.__new__  # a user's tuple without the named tuple's Python-level call
        for column, values in (("id", list(ids)), ("upn_key", list(keys))):
            sql = _USERS_SQL.format(p=db.obj.param, column=column)
            for uid, upn, key, location, row_id, sku_id, disabled in execute_in(
                sql, values, params=(tenant_id,)
            ):
                if row_id is None:  # the join's one row for a user without licenses
                    by_id[uid] = by_key[key] = new(UserRef, (uid, upn or key, key, location))
                    initial[uid] = _NO_LICENSES
                    continue
                held = licensed.get(uid)
                if held is None:
                    by_id[uid] = by_key[key] = new(UserRef, (uid, upn or key, key, location))
                    held = licensed[uid] = {}
                    initial[uid] = held
                decoded = plans.get(disabled)
                if decoded is None:
                    decoded = plans[disabled] = tuple(json.loads(disabled))
                held[sku_id] = decoded
                row_ids[uid, sku_id] = row_id
        # Each reference as the requests give it: a key as is, an id, or a UPN spelt otherwise.
        users = by_key
        for key, refs in odd.items():
            if key in by_key:
                users.update(dict.fromkeys(refs, by_key[key]))
        users.update((i, by_id[i]) for i in ids if i in by_id)
        self.users: dict[int | str, UserRef] = users
        self.users_by_id = by_id
        self.initial: dict[int, Mapping[int, tuple[str, ...]]] = initial
        self.held: dict[int, Mapping[int, tuple[str, ...]]] = dict(initial)
        self.row_ids = row_ids
        # Users the batch changed, in order, with the (last) decision applied to each; those
        # changed more than once are in `retouched` too.
        self.touched: dict[int, _Decision] = {}
        self.retouched: set[int] = set()
        seats = db.execute_sql(_SEATS_SQL.format(p=db.obj.param), (tenant_id,))
        self.available: dict[int, int] = {sku: enabled - used for sku, enabled, used in seats}
        # A batch repeats the same change over users in the same few states (the bulk layer's
        # whole point), so the rules run once per distinct (change, licenses, location).
        self.decisions: dict[tuple, _Decision] = {}
        self.applying = applying  # outcomes that pass are written (False: whatIf)


def _evaluate(pic: _TenantPicture, requests: list[LicenseRequest]) -> list[LicenseOutcome]:
    """Decide each request against the picture, in order; each that passes updates it.

    Runs for every item of a batch, so it does little itself (and keeps what it reads in
    locals): the rules run in `_decide`, once per distinct (change, licenses, location), and
    the seats are counted here, in order.
    """
    users, held_by, decisions, available = pic.users, pic.held, pic.decisions, pic.available
    touched, applying = pic.touched, pic.applying
    outcomes: list[LicenseOutcome] = []
    append = outcomes.append
    new = tuple.__new__  # the outcome of an item that passes, without a Python-level call
    for index, req in enumerate(requests):
        user = users.get(req.user)
        if user is None:
            append(LicenseOutcome(index, req, errors=[_not_found(req.user)]))
            continue
        uid, location = user.id, user.usage_location
        held = held_by[uid]
        key = (req.add, req.remove, tuple(held.items()), location)
        decision = decisions.get(key)
        if decision is None:
            decision = decisions[key] = _decide(pic.catalog, req, held, location)
        if decision.request_errors:
            append(LicenseOutcome(index, req, user, (), decision.request_errors))
            continue
        delta = decision.delta
        if delta is None:
            append(LicenseOutcome(index, req, user, decision.changes))
            continue
        seats = True  # a loop, not any(): a generator per item costs more than the check
        for sku_pk, _ in delta.inserts:
            if available.get(sku_pk, 0) < 1:
                seats = False
                break
        if not seats or decision.rule_errors:
            short = [pk for pk, _ in delta.inserts if available.get(pk, 0) < 1]
            errors = [*decision.rule_errors, *(_no_seat(pic.catalog.by_pk[pk]) for pk in short)]
            append(LicenseOutcome(index, req, user, decision.changes, errors, True))
            continue
        for sku_pk, _ in delta.inserts:
            available[sku_pk] -= 1
        for sku_pk in delta.deletes:
            available[sku_pk] = available.get(sku_pk, 0) + 1
        held_by[uid] = decision.new
        if uid in touched:
            pic.retouched.add(uid)
        touched[uid] = decision
        append(new(LicenseOutcome, (index, req, user, decision.changes, (), True, applying)))
    return outcomes


def _not_found(ref: int | str) -> ErrorDetail:
    return not_found("User", ref, "userId").details[0]


def _no_seat(sku: Sku) -> ErrorDetail:
    return _err(
        "CountViolation",
        f"Subscription for SKU {sku.part_number} does not have any available licenses.",
        "addLicenses",
    )


def _decide(
    cat: Catalog, req: LicenseRequest, held: Mapping[int, tuple[str, ...]], location: str | None
) -> _Decision:
    """Graph's rules for one request against one user's licenses and usage location.

    Everything but the seat count, which depends on the items before it in the batch.
    """
    errors: list[ErrorDetail] = []
    adds: list[tuple[Sku, tuple[str, ...]]] = []
    for i, add in enumerate(req.add):
        sku = cat.find(add.sku)
        if sku is None:
            errors.append(_invalid_sku(f"addLicenses.{i}.skuId"))
            continue
        plan_ids = {p["servicePlanId"].lower(): p["servicePlanId"] for p in sku.service_plans}
        plan_names = {p["servicePlanName"].lower(): p["servicePlanId"] for p in sku.service_plans}
        disabled: set[str] = set()
        for j, plan in enumerate(add.disabled_plans):
            key = plan.strip().lower()
            resolved = plan_ids.get(key) or plan_names.get(key)
            if resolved is None:
                errors.append(
                    _err(
                        "InvalidServicePlan",
                        f"Service plan '{plan}' is not part of SKU {sku.part_number}.",
                        f"addLicenses.{i}.disabledPlans.{j}",
                    )
                )
            else:
                disabled.add(resolved)
        adds.append((sku, tuple(sorted(disabled))))
    removes: list[Sku] = []
    for i, ref in enumerate(req.remove):
        sku = cat.find(ref)
        if sku is None:
            errors.append(_invalid_sku(f"removeLicenses.{i}"))
        else:
            removes.append(sku)
    both = {s.id for s, _ in adds} & {s.id for s in removes}
    if both:
        names = ", ".join(sorted(cat.by_pk[s].part_number for s in both))
        errors.append(
            _err(
                "InvalidLicenseOperation",
                f"License {names} cannot be in both addLicenses and removeLicenses.",
                "removeLicenses",
            )
        )
    if errors:
        return _Decision(request_errors=tuple(errors))

    new = dict(held)
    changes: list[LicenseChange] = []
    for sku, disabled in adds:
        if sku.id not in held:
            action = "ASSIGNED"
        elif held[sku.id] != disabled:
            action = "UPDATED"
        else:
            action = "UNCHANGED"
        new[sku.id] = disabled
        changes.append(LicenseChange(sku, action, disabled))
    for sku in removes:
        action = "REMOVED" if sku.id in held else "UNCHANGED"
        new.pop(sku.id, None)
        changes.append(LicenseChange(sku, action))
    if all(c.action == "UNCHANGED" for c in changes):
        return _Decision(changes=tuple(changes), new=new)

    gaining = [c.sku for c in changes if c.action in ("ASSIGNED", "UPDATED")]
    if gaining and not location:
        errors.append(no_usage_location())
    elif gaining:
        for sku in gaining:
            if not Catalog.sold_in(sku, location):
                errors.append(
                    _err(
                        "ProhibitedInUsageLocationViolation",
                        f"License {sku.part_number} cannot be assigned to a user with usage "
                        f"location '{location}': it is not sold in that country or region.",
                        "userId",
                    )
                )
    calling = sorted(
        cat.by_pk[s].part_number for s in new if cat.by_pk[s].part_number in CALLING_PLAN_SKUS
    )
    if len(calling) > 1:
        errors.append(
            _err(
                "MutuallyExclusiveViolation",
                f"Licenses {' and '.join(calling)} cannot be assigned together: they contain "
                f"mutually exclusive service plans.",
                "addLicenses",
            )
        )
    elif calling:
        plans: set[str] = set()
        for sku_pk, disabled in new.items():
            plans |= Catalog.plan_names(cat.by_pk[sku_pk], disabled)
        if TEAMS_PHONE_PLAN not in plans:
            errors.append(
                _err(
                    "DependencyViolation",
                    f"To assign a license that contains {calling[0]}, you must also assign one of "
                    f"the following service plans: {TEAMS_PHONE_PLAN}.",
                    "addLicenses",
                )
            )
    return _Decision(
        changes=tuple(changes),
        new=new,
        rule_errors=tuple(errors),
        delta=_delta(cat, held, new),
    )


def _invalid_sku(field_: str) -> ErrorDetail:
    return _err(
        "InvalidSku",
        "Invalid value specified for property 'skuId' of resource 'AssignedLicense'.",
        field_,
    )


def assign_licenses(
    tenant: Tenant,
    principal: Principal,
    requests: list[LicenseRequest],
    *,
    now: dt.datetime,
    what_if: bool = False,
    prior_seats: Sequence[tuple[str, int]] = (),
) -> list[LicenseOutcome]:
    """Apply a batch of license requests, each all or nothing; one outcome per request, in order.

    With `what_if`, everything is checked exactly as for real and nothing is written.
    `prior_seats` (what_if only) are (SKU, units) that earlier batches of the same dry run
    would take (+) or give back (-), their `seat_changes` summed: a dry run of many batches
    then counts seats as the real run, whose earlier batches are written, will. Only seats
    carry over: a user an earlier batch would change is seen as stored.
    """
    check_batch_size(len(requests))
    if prior_seats and not what_if:
        raise DomainError(
            "WHAT_IF_REQUIRED",
            "priorSeatChanges describes the earlier batches of a dry run: it is taken with "
            "whatIf: true only (a real batch counts the seats as stored).",
            "priorSeatChanges",
        )
    if what_if:
        pic = _TenantPicture(tenant, requests, applying=False)
        for i, (ref, units) in enumerate(prior_seats):
            sku = pic.catalog.find(ref)
            if sku is None:
                raise DomainError.many([_invalid_sku(f"priorSeatChanges.{i}.skuId")])
            pic.available[sku.id] = pic.available.get(sku.id, 0) - units
        return _evaluate(pic, requests)
    with directory_lock(tenant.id):
        pic = _TenantPicture(tenant, requests, applying=True)
        outcomes = _evaluate(pic, requests)
        _write(tenant, principal, pic, now=now)  # raises, or every `applied` outcome is true
    return outcomes


def seat_changes(outcomes: Iterable[LicenseOutcome]) -> dict[Sku, int]:
    """The seats a batch took (+) or gave back (-) per SKU, as applied or, for whatIf, as it
    would: an item that passes takes a seat for each SKU it assigns and frees one for each it
    removes (exactly what `_evaluate` counts); SKUs whose count nets to zero are left out."""
    net: dict[Sku, int] = {}
    # Items decided alike share their changes: each distinct tuple is read once.
    seen: dict[int, tuple[set[Sku], set[Sku]]] = {}
    for out in outcomes:
        if out.errors or not out.changed:
            continue
        taken = seen.get(id(out.changes))
        if taken is None:
            # Sets: a request naming a SKU twice takes (or frees) its seat once.
            taken = seen[id(out.changes)] = (
                {c.sku for c in out.changes if c.action == "ASSIGNED"},
                {c.sku for c in out.changes if c.action == "REMOVED"},
            )
        for sku in taken[0]:
            net[sku] = net.get(sku, 0) + 1
        for sku in taken[1]:
            net[sku] = net.get(sku, 0) - 1
    return {sku: units for sku, units in net.items() if units}


def assign_license(
    tenant: Tenant, principal: Principal, request: LicenseRequest, *, now: dt.datetime
) -> LicenseOutcome:
    """One user's request (Graph's `assignLicense`)."""
    return assign_licenses(tenant, principal, [request], now=now)[0]


class _Delta(NamedTuple):
    """What writing one user's change takes: rows to add, update and delete, and its audit."""

    inserts: tuple[tuple[int, tuple[str, ...]], ...]  # (sku pk, disabled plans) to add
    updates: tuple[tuple[int, tuple[str, ...]], ...]  # (sku pk, disabled plans) to change
    deletes: tuple[int, ...]  # sku pks to remove
    before: tuple[str, ...]  # part numbers, sorted
    after: tuple[str, ...]


def _delta(
    cat: Catalog, initial: Mapping[int, tuple[str, ...]], final: Mapping[int, tuple[str, ...]]
) -> _Delta:
    return _Delta(
        inserts=tuple((pk, plans) for pk, plans in final.items() if pk not in initial),
        updates=tuple(
            (pk, plans) for pk, plans in final.items() if pk in initial and initial[pk] != plans
        ),
        deletes=tuple(pk for pk in initial if pk not in final),
        before=tuple(sorted(cat.by_pk[pk].part_number for pk in initial)),
        after=tuple(sorted(cat.by_pk[pk].part_number for pk in final)),
    )


def _write(tenant: Tenant, principal: Principal, pic: _TenantPicture, *, now: dt.datetime) -> None:
    """Write the net difference between the picture as loaded and as left by the batch."""
    la = LicenseAssignment
    tenant_id = tenant.id  # a peewee field read costs a Python call: once, not per row
    assigned_at = la.assigned_at.db_value(now)
    row_ids = pic.row_ids
    inserts: dict[tuple[int, str], list[int]] = {}  # (sku pk, plans JSON) -> users
    delete_ids: list[int] = []
    updates: dict[tuple[str, ...], list[int]] = {}  # new disabled plans -> license row ids
    changed: dict[int, tuple[_Delta, list[int]]] = {}  # id(delta) -> (delta, its users)
    plans_json: dict[tuple[str, ...], str] = {}  # one JSON text per distinct plan list
    for uid, decision in pic.touched.items():
        if uid in pic.retouched:  # changed twice or more: the net change, worked out for it
            initial, final = pic.initial[uid], pic.held[uid]
            if final == initial:
                continue
            delta = _delta(pic.catalog, initial, final)
        else:
            delta = decision.delta  # the decision's, worked out once for all its users
            assert delta is not None  # only changing decisions are applied
        for sku_pk, disabled in delta.inserts:
            text = plans_json.get(disabled)
            if text is None:
                text = plans_json[disabled] = la.disabled_plans.db_value(list(disabled))
            inserts.setdefault((sku_pk, text), []).append(uid)
        for sku_pk, disabled in delta.updates:
            updates.setdefault(disabled, []).append(row_ids[uid, sku_pk])
        for sku_pk in delta.deletes:
            delete_ids.append(row_ids[uid, sku_pk])
        group = changed.get(id(delta))
        if group is None:
            group = changed[id(delta)] = (delta, [])
        group[1].append(uid)
    seat_delta: dict[int, int] = {}
    for delta, uids in changed.values():
        for sku_pk, _ in delta.inserts:
            seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) + len(uids)
        for sku_pk in delta.deletes:
            seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) - len(uids)
    # Frees first, so the CHECK (consumed <= enabled) holds after every statement.
    execute_in(_DELETE_SQL, delete_ids)
    updated_at = Subscription.updated_at.db_value(now)
    for sku_pk, delta_units in sorted(seat_delta.items(), key=lambda kv: kv[1]):
        if delta_units:
            db.execute_sql(
                _COUNT_SEATS_SQL.format(p=db.obj.param),
                (delta_units, updated_at, tenant_id, sku_pk),
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


def _audit(
    tenant: Tenant,
    principal: Principal,
    pic: _TenantPicture,
    changed: list[tuple[_Delta, list[int]]],
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
            upns = [users[uid].user_principal_name for uid in uids]
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
