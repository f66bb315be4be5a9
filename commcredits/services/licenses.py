"""License assignment with Microsoft Graph's `assignLicense` semantics (SPEC §3).

One request = one user's `addLicenses` + `removeLicenses`, applied all or nothing. A batch is
many independent requests evaluated in input order against one in-memory picture of the
tenant (seats, the users' licenses), so seats are counted in order and a later item sees the
effect of an earlier one; the net change is then written with a few bulk statements.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from commcredits.db import directory_lock, insert_rows
from commcredits.models import LicenseAssignment, Sku, Subscription, Tenant, User
from commcredits.services import audit
from commcredits.services.access import Principal
from commcredits.services.catalog import (
    CALLING_PLAN_SKUS,
    TEAMS_PHONE_PLAN,
    Catalog,
)
from commcredits.services.errors import DomainError, ErrorDetail

MAX_BATCH = 1000
_CHUNK = 500


@dataclass(frozen=True)
class AddLicense:
    sku: str  # skuId (GUID) or skuPartNumber
    disabled_plans: tuple[str, ...] = ()  # servicePlanId or servicePlanName


@dataclass(frozen=True)
class LicenseRequest:
    user: int | str  # user id, or user principal name
    add: tuple[AddLicense, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class LicenseChange:
    sku: Sku
    action: str  # ASSIGNED, UPDATED, REMOVED, UNCHANGED
    disabled_plans: tuple[str, ...] = ()


@dataclass
class LicenseOutcome:
    index: int
    request: LicenseRequest
    user: UserRef | None = None
    changes: list[LicenseChange] = field(default_factory=list)
    errors: list[ErrorDetail] = field(default_factory=list)
    applied: bool = False  # True once written (never for whatIf or a failed item)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return any(c.action != "UNCHANGED" for c in self.changes)


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


@dataclass
class _Held:
    row_id: int
    disabled_plans: tuple[str, ...]


class _TenantPicture:
    """What a batch needs, loaded once: users, their licenses, the seats left per SKU."""

    def __init__(self, tenant: Tenant, requests: list[LicenseRequest]):
        self.catalog = Catalog.load()
        self.users_by_id: dict[int, UserRef] = {}
        self.users_by_upn: dict[str, UserRef] = {}
        ids = sorted({r.user for r in requests if isinstance(r.user, int)})
        upns = sorted({r.user.strip().lower() for r in requests if isinstance(r.user, str)})
        columns = (User.id, User.user_principal_name, User.upn_key, User.usage_location)
        for chunk_ids, chunk_upns in _zip_chunks(ids, upns):
            cond = User.id.in_(chunk_ids) if chunk_ids else None
            if chunk_upns:
                by_upn = User.upn_key.in_(chunk_upns)
                cond = by_upn if cond is None else (cond | by_upn)
            query = User.select(*columns).where((User.tenant == tenant.id) & cond).tuples()
            for row in query:
                user = UserRef(*row)
                self.users_by_id[user.id] = user
                self.users_by_upn[user.upn_key] = user
        # user id -> {sku pk: held row}, as loaded; `held` is what the batch has made of it.
        self.initial: dict[int, dict[int, _Held]] = {u: {} for u in self.users_by_id}
        user_ids = list(self.users_by_id)
        la = LicenseAssignment
        for start in range(0, len(user_ids), _CHUNK):
            query = (
                la.select(la.id, la.user, la.sku, la.disabled_plans)
                .where(la.user.in_(user_ids[start : start + _CHUNK]))
                .tuples()
            )
            for row_id, user_id, sku_id, disabled in query:
                self.initial[user_id][sku_id] = _Held(row_id, tuple(disabled))
        self.held: dict[int, dict[int, tuple[str, ...]]] = {
            uid: {sku: h.disabled_plans for sku, h in rows.items()}
            for uid, rows in self.initial.items()
        }
        self.available: dict[int, int] = {}
        for sku_id, enabled, consumed in (
            Subscription.select(
                Subscription.sku, Subscription.enabled_units, Subscription.consumed_units
            )
            .where(Subscription.tenant == tenant.id)
            .tuples()
        ):
            self.available[sku_id] = enabled - consumed

    def user(self, ref: int | str) -> UserRef | None:
        if isinstance(ref, int):
            return self.users_by_id.get(ref)
        return self.users_by_upn.get(ref.strip().lower())


def _zip_chunks(ids: list[int], upns: list[str]):
    n = max(len(ids), len(upns))
    for start in range(0, max(n, 1), _CHUNK):
        chunk_ids, chunk_upns = ids[start : start + _CHUNK], upns[start : start + _CHUNK]
        if chunk_ids or chunk_upns:
            yield chunk_ids, chunk_upns


def _evaluate(pic: _TenantPicture, index: int, req: LicenseRequest) -> LicenseOutcome:
    """Decide one request against the picture; on success, update the picture."""
    out = LicenseOutcome(index=index, request=req)
    user = pic.user(req.user)
    if user is None:
        out.errors.append(
            _err(
                "NOT_FOUND",
                f"Resource '{req.user}' does not exist or one of its queried reference-property "
                f"objects are not present.",
                "userId",
            )
        )
        return out
    out.user = user
    cat = pic.catalog

    adds: list[tuple[Sku, tuple[str, ...]]] = []
    for i, add in enumerate(req.add):
        sku = cat.find(add.sku)
        if sku is None:
            out.errors.append(_invalid_sku(f"addLicenses.{i}.skuId"))
            continue
        plan_ids = {p["servicePlanId"].lower(): p["servicePlanId"] for p in sku.service_plans}
        plan_names = {p["servicePlanName"].lower(): p["servicePlanId"] for p in sku.service_plans}
        disabled: set[str] = set()
        for j, plan in enumerate(add.disabled_plans):
            key = plan.strip().lower()
            resolved = plan_ids.get(key) or plan_names.get(key)
            if resolved is None:
                out.errors.append(
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
            out.errors.append(_invalid_sku(f"removeLicenses.{i}"))
        else:
            removes.append(sku)
    both = {s.id for s, _ in adds} & {s.id for s in removes}
    if both:
        names = ", ".join(sorted(cat.by_pk[s].part_number for s in both))
        out.errors.append(
            _err(
                "InvalidLicenseOperation",
                f"License {names} cannot be in both addLicenses and removeLicenses.",
                "removeLicenses",
            )
        )
    if out.errors:
        return out

    held = pic.held[user.id]
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
    out.changes = changes
    if not any(c.action != "UNCHANGED" for c in changes):
        return out

    gaining = [c.sku for c in changes if c.action in ("ASSIGNED", "UPDATED")]
    if gaining and not user.usage_location:
        out.errors.append(no_usage_location())
    elif gaining:
        for sku in gaining:
            if not Catalog.sold_in(sku, user.usage_location):
                out.errors.append(
                    _err(
                        "ProhibitedInUsageLocationViolation",
                        f"License {sku.part_number} cannot be assigned to a user with usage "
                        f"location '{user.usage_location}': it is not sold in that country or "
                        f"region.",
                        "userId",
                    )
                )
    calling = sorted(
        cat.by_pk[s].part_number for s in new if cat.by_pk[s].part_number in CALLING_PLAN_SKUS
    )
    if len(calling) > 1:
        out.errors.append(
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
            out.errors.append(
                _err(
                    "DependencyViolation",
                    f"To assign a license that contains {calling[0]}, you must also assign one of "
                    f"the following service plans: {TEAMS_PHONE_PLAN}.",
                    "addLicenses",
                )
            )
    for change in changes:
        if change.action == "ASSIGNED" and pic.available.get(change.sku.id, 0) < 1:
            out.errors.append(
                _err(
                    "CountViolation",
                    f"Subscription for SKU {change.sku.part_number} does not have any available "
                    f"licenses.",
                    "addLicenses",
                )
            )
    if out.errors:
        return out

    for change in changes:
        if change.action == "ASSIGNED":
            pic.available[change.sku.id] -= 1
        elif change.action == "REMOVED":
            pic.available[change.sku.id] = pic.available.get(change.sku.id, 0) + 1
    pic.held[user.id] = new
    return out


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
) -> list[LicenseOutcome]:
    """Apply a batch of license requests, each all or nothing; one outcome per request, in order.

    With `what_if`, everything is checked exactly as for real and nothing is written.
    """
    if len(requests) > MAX_BATCH:
        raise DomainError(
            "BATCH_TOO_LARGE",
            f"A batch takes at most {MAX_BATCH:,} items; this one has {len(requests):,}.",
            "items",
        )
    if what_if:
        pic = _TenantPicture(tenant, requests)
        return [_evaluate(pic, i, r) for i, r in enumerate(requests)]
    with directory_lock(tenant.id):
        pic = _TenantPicture(tenant, requests)
        outcomes = [_evaluate(pic, i, r) for i, r in enumerate(requests)]
        _write(tenant, principal, pic, now=now)
    for out in outcomes:
        out.applied = out.ok and out.changed
    return outcomes


def assign_license(
    tenant: Tenant, principal: Principal, request: LicenseRequest, *, now: dt.datetime
) -> LicenseOutcome:
    """One user's request (Graph's `assignLicense`)."""
    return assign_licenses(tenant, principal, [request], now=now)[0]


def _write(tenant: Tenant, principal: Principal, pic: _TenantPicture, *, now: dt.datetime) -> None:
    """Write the net difference between the picture as loaded and as left by the batch."""
    inserts: list[dict] = []
    delete_ids: list[int] = []
    updates: list[tuple[int, list[str]]] = []
    seat_delta: dict[int, int] = {}
    audits: list[dict] = []
    cat = pic.catalog
    for uid, final in pic.held.items():
        initial = pic.initial[uid]
        if {k: v.disabled_plans for k, v in initial.items()} == final:
            continue
        for sku_pk, disabled in final.items():
            row = initial.get(sku_pk)
            if row is None:
                inserts.append(
                    {
                        "tenant": tenant.id,
                        "user": uid,
                        "sku": sku_pk,
                        "disabled_plans": list(disabled),
                        "assigned_at": now,
                    }
                )
                seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) + 1
            elif row.disabled_plans != disabled:
                updates.append((row.row_id, list(disabled)))
        for sku_pk, row in initial.items():
            if sku_pk not in final:
                delete_ids.append(row.row_id)
                seat_delta[sku_pk] = seat_delta.get(sku_pk, 0) - 1
        audits.append(
            {
                "action": "assignLicense",
                "target": ("User", uid),
                "tenant_id": tenant.id,
                "before": sorted(cat.by_pk[s].part_number for s in initial),
                "after": sorted(cat.by_pk[s].part_number for s in final),
            }
        )
    # Frees first, so the CHECK (consumed <= enabled) holds after every statement.
    for start in range(0, len(delete_ids), _CHUNK):
        LicenseAssignment.delete().where(
            LicenseAssignment.id.in_(delete_ids[start : start + _CHUNK])
        ).execute()
    for sku_pk, delta in sorted(seat_delta.items(), key=lambda kv: kv[1]):
        if delta:
            Subscription.update(
                consumed_units=Subscription.consumed_units + delta, updated_at=now
            ).where((Subscription.tenant == tenant.id) & (Subscription.sku == sku_pk)).execute()
    insert_rows(LicenseAssignment, inserts)
    # One UPDATE per distinct set of disabled plans (a bulk change shares one), not per row.
    by_plans: dict[tuple[str, ...], list[int]] = {}
    for row_id, disabled in updates:
        by_plans.setdefault(tuple(disabled), []).append(row_id)
    for disabled, row_ids in by_plans.items():
        for start in range(0, len(row_ids), _CHUNK):
            LicenseAssignment.update(disabled_plans=list(disabled)).where(
                LicenseAssignment.id.in_(row_ids[start : start + _CHUNK])
            ).execute()
    if audits:
        audit.record_many(principal, audits, now=now)
