"""Applying a batch: each request decided in input order against the picture, then written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from commcredits.db import directory_lock
from commcredits.models import LicenseAssignment, Sku, Tenant
from commcredits.services import group_seats, table_stats
from commcredits.services.catalog import Catalog
from commcredits.services.errors import check_batch_size
from commcredits.services.licenses import errors as graph
from commcredits.services.licenses import inherited as inherited_path
from commcredits.services.licenses.picture import NO_LICENSES, TenantPicture
from commcredits.services.licenses.prior_seats import prior_seat_units
from commcredits.services.licenses.requests import LicenseOutcome, LicenseRequest
from commcredits.services.licenses.rules import decide
from commcredits.services.licenses.write import write_changes
from commcredits.services.principal import Principal


def _evaluate(pic: TenantPicture, requests: list[LicenseRequest]) -> list[LicenseOutcome]:
    """Decide each request against the picture, in order; each that passes updates it.

    Runs for every item of a batch, so it does little itself (and keeps what it reads in
    locals): the rules run in `decide`, once per distinct (change, licenses, location), and
    the seats are counted here, in order. A batch is mostly runs of items alike (the same
    change objects, users holding the one shared empty mapping, one location): an item like
    the one before it takes that one's decision without building the key.
    """
    users, held_by, decisions, available = pic.users, pic.held, pic.decisions, pic.available
    touched, applying, inherited = pic.touched, pic.applying, pic.inherited
    outcomes: list[LicenseOutcome] = []
    append = outcomes.append
    new = tuple.__new__  # the outcome of an item that passes, without a Python-level call
    # What the item before was decided on, and its decision's parts (read once per change).
    seen_add = seen_remove = seen_held = None
    seen_location: object = _UNSEEN
    decision = delta = changes = request_errors = rule_errors = takes = gives = None
    new_held = None
    for index, req in enumerate(requests):
        ref, add, remove = req
        user = users.get(ref)
        if user is None:
            append(LicenseOutcome(index, req, errors=[graph.user_not_found(ref)]))
            continue
        uid, _, _, location = user
        if inherited and uid in inherited:  # a group gives the user licenses, or tried to
            append(inherited_path.evaluate(pic, index, req, user))
            continue
        held = held_by[uid]  # never mutated (a change replaces it): its identity is its state
        if (
            add is not seen_add
            or remove is not seen_remove
            or held is not seen_held
            or location != seen_location
        ):
            seen_add, seen_remove, seen_held, seen_location = add, remove, held, location
            # Most of a batch's users hold nothing yet: their one shared mapping, no tuple built.
            items = () if held is NO_LICENSES else tuple(held.items())
            key = (add, remove, items, location)
            decision = decisions.get(key)
            if decision is None:
                decision = decisions[key] = decide(pic.catalog, req, held, location)
            delta, changes = decision.delta, decision.changes
            request_errors, rule_errors = decision.request_errors, decision.rule_errors
            takes = [pk for pk, _ in delta.inserts] if delta is not None else ()
            gives, new_held = delta.deletes if delta is not None else (), decision.new
        if request_errors:
            append(LicenseOutcome(index, req, user, (), request_errors))
            continue
        if delta is None:
            append(LicenseOutcome(index, req, user, changes))
            continue
        # A loop, not any(): a generator per item costs more than the check.
        for sku_pk in takes:
            if available.get(sku_pk, 0) < 1:
                break
        else:
            if not rule_errors:
                for sku_pk in takes:
                    available[sku_pk] -= 1
                for sku_pk in gives:
                    available[sku_pk] = available.get(sku_pk, 0) + 1
                held_by[uid] = new_held
                if uid in touched:
                    pic.retouched.add(uid)
                touched[uid] = decision
                append(new(LicenseOutcome, (index, req, user, changes, (), True, applying, None)))
                continue
        short = [pk for pk in takes if available.get(pk, 0) < 1]
        errors = [
            *rule_errors,
            *(graph.no_seat(pic.catalog.by_pk[pk], decision.field_of(pk)) for pk in short),
        ]
        append(LicenseOutcome(index, req, user, changes, errors, True))
    return outcomes


# No usage location compares equal to it: the first item is never taken as like the one before.
_UNSEEN = object()


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
    # Refused without what_if; read only when given (the catalog is a statement).
    prior = prior_seat_units(Catalog.load(), prior_seats, what_if=what_if) if prior_seats else {}
    if what_if:
        pic = TenantPicture(tenant, requests, applying=False)
        inherited_path.load(pic, tenant)
        for sku, units in prior.items():
            pic.available[sku] = pic.available.get(sku, 0) - units
        return _evaluate(pic, requests)
    with directory_lock(tenant.id):
        pic = TenantPicture(tenant, requests, applying=True)
        groups = inherited_path.load(pic, tenant)
        outcomes = _evaluate(pic, requests)
        # raises, or every `applied` outcome is true; the users with group states are
        # written after the batch's frees and before its takes (write_changes says why)
        inserted = write_changes(
            tenant,
            principal,
            pic,
            now=now,
            between=(lambda: inherited_path.write(tenant, principal, pic, now=now))
            if groups
            else None,
        )
        if groups:
            group_seats.settle_seats(tenant, now=now)
    table_stats.rows_inserted(LicenseAssignment._meta.table_name, inserted)
    return outcomes


def seat_changes(outcomes: Iterable[LicenseOutcome]) -> dict[Sku, int]:
    """The seats a batch took (+) or gave back (-) per SKU, as applied or, for whatIf, as it
    would: an item that passes takes a seat for each SKU it assigns and frees one for each it
    removes (exactly what `_evaluate` counts), unless it says otherwise (`seats`: a user a
    group gives the SKU); SKUs whose count nets to zero are left out."""
    net: dict[Sku, int] = {}
    # Items decided alike share their changes: each distinct tuple is read once.
    seen: dict[int, tuple[set[Sku], set[Sku]]] = {}
    for out in outcomes:
        if out.errors or not out.changed:
            continue
        taken = out.seats or seen.get(id(out.changes))
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
