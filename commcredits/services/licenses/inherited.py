"""The direct path for users with group license states (issue 18): a few users of a batch,
decided apart from the rest and written through group_licensing.

Their `held` is their direct assignments; what groups give them (`pic.inherited`) takes no
seat again, is seen by the plan rules, and cannot be removed directly (Graph's refusal).
Tenants that license no group pay one query per batch (`tenant_uses_groups`).
"""

from __future__ import annotations

import datetime as dt

from commcredits.models import Tenant
from commcredits.services import audit, group_seats
from commcredits.services.licenses import errors as graph
from commcredits.services.licenses.picture import TenantPicture
from commcredits.services.licenses.requests import LicenseOutcome, LicenseRequest, UserRef
from commcredits.services.licenses.rules import decide
from commcredits.services.principal import Principal


def load(pic: TenantPicture, tenant: Tenant) -> bool:
    """Mark the batch's users with group states; False when the tenant licenses no group."""
    if not group_seats.tenant_uses_groups(tenant.id):
        return False
    involved = group_seats.users_with_states(tenant.id, list(pic.users_by_id))
    if involved:
        views = group_seats.inherited_view(tenant.id, sorted(involved))
        for uid, view in views.items():
            pic.initial[uid] = pic.held[uid] = view["direct"]
            pic.inherited[uid] = view["inherited"]
    return True


def evaluate(pic: TenantPicture, index: int, req: LicenseRequest, user: UserRef) -> LicenseOutcome:
    """One item for a user with group states (what `_evaluate` does, sources in mind)."""
    uid = user.id
    held, inherited = pic.held[uid], pic.inherited[uid]
    refused = []
    for i, ref in enumerate(req.remove):
        sku = pic.catalog.find(ref)
        if sku is not None and sku.id in inherited and sku.id not in held:
            refused.append(graph.inherited_removal(f"removeLicenses.{i}"))
    if refused:
        return LicenseOutcome(index, req, user, (), refused)
    decision = decide(pic.catalog, req, held, user.usage_location, inherited)
    if decision.request_errors:
        return LicenseOutcome(index, req, user, (), decision.request_errors)
    delta = decision.delta
    if delta is None:
        return LicenseOutcome(index, req, user, decision.changes)
    available = pic.available
    takes = [pk for pk, _ in delta.inserts if pk not in inherited]  # one seat per SKU
    gives = [pk for pk in delta.deletes if pk not in inherited]
    short = [pk for pk in takes if available.get(pk, 0) < 1]
    if short or decision.rule_errors:
        errors = [
            *decision.rule_errors,
            *(graph.no_seat(pic.catalog.by_pk[pk], decision.field_of(pk)) for pk in short),
        ]
        return LicenseOutcome(index, req, user, decision.changes, errors, True)
    for pk in takes:
        available[pk] -= 1
    for pk in gives:
        available[pk] = available.get(pk, 0) + 1
    pic.held[uid] = decision.new
    pic.inherited_touched[uid] = None
    by_pk = pic.catalog.by_pk
    seats = (frozenset(by_pk[pk] for pk in takes), frozenset(by_pk[pk] for pk in gives))
    return LicenseOutcome(index, req, user, decision.changes, (), True, pic.applying, seats)


def write(tenant: Tenant, principal: Principal, pic: TenantPicture, *, now: dt.datetime) -> None:
    """Write these users' direct changes (the seats they take and free counted as they go).
    The caller then gives seats the batch freed to CountViolation members (`settle_seats`,
    in member order), once every user of the batch has taken the seats it was counted."""
    changes = {
        uid: (pic.initial[uid], pic.held[uid])
        for uid in pic.inherited_touched
        if dict(pic.initial[uid]) != dict(pic.held[uid])
    }
    if changes:
        group_seats.apply_direct(tenant, changes, now=now)
        by_pk = pic.catalog.by_pk
        audit.record_many(
            principal,
            [
                {
                    "action": "assignLicense",
                    "target": ("User", uid),
                    "tenant_id": tenant.id,
                    "before": sorted(by_pk[s].part_number for s in initial),
                    "after": sorted(by_pk[s].part_number for s in final),
                }
                for uid, (initial, final) in changes.items()
            ],
            now=now,
        )
