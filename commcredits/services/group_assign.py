"""A group's licenses (issue 18): Graph's group.assignLicense, reprocessing, and the reports.

Small groups (at most SMALL_GROUP members) are processed in the request's own transaction;
larger ones in committed batches of BATCH members (`process_group`), the group's
licenseProcessingState saying ProcessingInProgress until the last batch is done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.db import directory_lock
from commcredits.models import Group, GroupLicense, GroupLicenseState, GroupMember, Tenant, User
from commcredits.models.groups import PROCESSING_COMPLETE, PROCESSING_IN_PROGRESS
from commcredits.services import audit, group_summary
from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError, ErrorDetail, not_found
from commcredits.services.group_licensing import Processor, member_ids, notify_errors
from commcredits.services.groups import BATCH, SMALL_GROUP, get_group
from commcredits.services.licenses import errors as graph
from commcredits.services.principal import Principal


@dataclass(frozen=True)
class GroupLicenseInput:
    sku: str
    disabled_plans: tuple[str, ...] = ()


def _resolve_licenses(
    cat: Catalog, adds: list[GroupLicenseInput], removes: list[str]
) -> tuple[dict[int, tuple[str, ...]], list[int]]:
    errors: list[ErrorDetail] = []
    resolved: dict[int, tuple[str, ...]] = {}
    for i, add in enumerate(adds):
        sku = cat.find(add.sku)
        if sku is None:
            errors.append(graph.invalid_sku(f"addLicenses.{i}.skuId"))
            continue
        by_key = {p["servicePlanId"].lower(): p["servicePlanId"] for p in sku.service_plans}
        by_key |= {p["servicePlanName"].lower(): p["servicePlanId"] for p in sku.service_plans}
        disabled = set()
        for j, plan in enumerate(add.disabled_plans):
            found = by_key.get(plan.strip().lower())
            if found is None:
                errors.append(
                    graph.invalid_service_plan(plan, sku, f"addLicenses.{i}.disabledPlans.{j}")
                )
            else:
                disabled.add(found)
        resolved[sku.id] = tuple(sorted(disabled))
    removed: list[int] = []
    for i, ref in enumerate(removes):
        sku = cat.find(ref)
        if sku is None:
            errors.append(graph.invalid_sku(f"removeLicenses.{i}"))
        else:
            removed.append(sku.id)
    both = set(resolved) & set(removed)
    if both:
        errors.append(
            graph.added_and_removed(", ".join(sorted(cat.by_pk[s].part_number for s in both)))
        )
    if errors:
        raise DomainError.many(errors)
    return resolved, removed


def _check_group_set(cat: Catalog, lics: dict[int, tuple[str, ...]]) -> None:
    """Entra's rules on the group's own set: an add-on's prerequisite must be in the same
    group (a calling plan needs Teams Phone enabled there), and no two exclusive plans."""
    calling = [cat.by_pk[s].part_number for s in cat.calling_plans(lics)]
    if len(calling) > 1:
        raise DomainError.many([graph.mutually_exclusive(calling, "addLicenses")])
    if cat.lacks_phone(lics.items()):
        raise DomainError.many([graph.missing_phone_plan(calling[0], "addLicenses")])


def assign_group_license(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    adds: list[GroupLicenseInput],
    removes: list[str],
    *,
    now: dt.datetime,
    batch_size: int = BATCH,
    max_batches: int | None = None,
) -> Group:
    """Graph's group.assignLicense: the group's SKUs change, then its members are processed
    (in this transaction for a small group, else in batches; `max_batches` stops early, the
    rest left to `process_group`, for tests)."""
    cat = Catalog.load()
    resolved, removed = _resolve_licenses(cat, adds, removes)
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id)
        current = {
            gl.sku_id: gl for gl in GroupLicense.select().where(GroupLicense.group == group.id)
        }
        after = {s: tuple(gl.disabled_plans) for s, gl in current.items() if s not in removed}
        after |= resolved
        _check_group_set(cat, after)
        before = sorted(cat.by_pk[s].part_number for s in current)
        for sku in removed:
            if sku in current:
                current[sku].delete_instance()
        for sku, plans in resolved.items():
            if sku in current:
                if tuple(current[sku].disabled_plans) != plans:
                    current[sku].disabled_plans = list(plans)
                    current[sku].save()
            else:
                GroupLicense.create(
                    group=group.id, sku=sku, disabled_plans=list(plans), assigned_at=now
                )
        group.processing_state = PROCESSING_IN_PROGRESS
        group.processed_through = 0
        group.updated_at = now
        group.save()
        audit.record(
            principal, "assignGroupLicense", group, tenant_id=tenant.id, before=before,
            after=sorted(cat.by_pk[s].part_number for s in after), now=now,
        )  # fmt: skip
        if group.member_count <= SMALL_GROUP:
            _process_batch(tenant, group, now=now, batch_size=max(SMALL_GROUP, batch_size) + 1)
            return group
    process_group(tenant, group.id, now=now, batch_size=batch_size, max_batches=max_batches)
    return Group.get_by_id(group.id)


def reprocess_group(
    tenant: Tenant,
    principal: Principal,
    group_id: int,
    *,
    now: dt.datetime,
    batch_size: int = BATCH,
    max_batches: int | None = None,
) -> Group:
    """Retry every member (Entra's Reprocess), or carry on a run in progress."""
    with directory_lock(tenant.id):
        group = get_group(tenant, group_id)
        if group.processing_state != PROCESSING_IN_PROGRESS:
            group.processing_state = PROCESSING_IN_PROGRESS
            group.processed_through = 0
            group.save()
        audit.record(
            principal, "reprocessGroupLicenses", group, tenant_id=tenant.id, before=None,
            after=None, now=now,
        )  # fmt: skip
        if group.member_count <= SMALL_GROUP:
            _process_batch(tenant, group, now=now, batch_size=SMALL_GROUP + 1)
            return group
    process_group(tenant, group.id, now=now, batch_size=batch_size, max_batches=max_batches)
    return Group.get_by_id(group.id)


def process_group(
    tenant: Tenant,
    group_id: int,
    *,
    now: dt.datetime,
    batch_size: int = BATCH,
    max_batches: int | None = None,
) -> None:
    """Process a group in progress, one committed transaction per batch of members, so that
    other writers of the tenant wait for one batch at most."""
    done = 0
    while max_batches is None or done < max_batches:
        with directory_lock(tenant.id):
            group = Group.get_or_none((Group.id == group_id) & (Group.tenant == tenant.id))
            if group is None or group.processing_state != PROCESSING_IN_PROGRESS:
                return
            if _process_batch(tenant, group, now=now, batch_size=batch_size):
                return
        done += 1


def _process_batch(tenant: Tenant, group: Group, *, now: dt.datetime, batch_size: int) -> bool:
    """The next batch of members; True when the group is done."""
    whole = group.processed_through == 0  # this batch starts the run: it may be all of it
    batch = member_ids(group.id, after=group.processed_through, limit=batch_size)
    proc = Processor(tenant, now=now)
    proc.load_users(u for _, u in batch)
    for _, uid in batch:
        proc.apply(uid, group.id)
    proc.settle()
    proc.flush()
    finished = len(batch) < batch_size
    if finished:
        group.processing_state = PROCESSING_COMPLETE
        group.processed_through = 0
    else:
        group.processed_through = batch[-1][0]
    group.save()
    # This group's errors are told once, when its run ends, all of them (one notice per batch,
    # each counting its own members, said less than the run did); others' as they come. A
    # run of one batch has them all in hand.
    if finished and whole:
        proc.notify(proc.in_error)
        return finished
    proc.notify(g for g in proc.in_error if g != group.id)
    if finished:
        _notify_run_errors(tenant, group, now=now)
    return finished


def _notify_run_errors(tenant: Tenant, group: Group, *, now: dt.datetime) -> None:
    """GROUP_LICENSE_ERRORS for a run in batches that ends with members in error: how many,
    and per code, from the counts kept with the states (group_summary)."""
    summary = group_summary.license_summary(group)
    if summary.in_error:
        notify_errors(tenant.id, group.id, summary.in_error, summary.errors, now=now)


def reprocess_user(tenant: Tenant, principal: Principal, user_id: int, *, now: dt.datetime) -> User:
    """Graph's reprocessLicenseAssignment: every group-based assignment of the user again."""
    with directory_lock(tenant.id):
        user = User.get_or_none((User.id == user_id) & (User.tenant == tenant.id))
        if user is None:
            raise not_found("User", user_id, "userId")
        proc = Processor(tenant, now=now)
        proc.load_users([user.id])
        groups = [
            g
            for (g,) in GroupMember.select(GroupMember.group)
            .where(GroupMember.user == user.id)
            .order_by(GroupMember.group)
            .tuples()
        ]
        for group_id in groups:
            proc.apply(user.id, group_id)
        proc.settle()
        proc.flush()
        proc.notify(proc.in_error)
        audit.record(
            principal, "reprocessLicenseAssignment", user, tenant_id=tenant.id, before=None,
            after=None, now=now,
        )  # fmt: skip
    return user


def group_licenses(group_id: int) -> dict[int, tuple[str, ...]]:
    return {
        gl.sku_id: tuple(gl.disabled_plans)
        for gl in GroupLicense.select()
        .where(GroupLicense.group == group_id)
        .order_by(GroupLicense.id)
    }


def states_for_users(user_ids: list[int]) -> dict[int, list[GroupLicenseState]]:
    found: dict[int, list[GroupLicenseState]] = {u: [] for u in user_ids}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        for st in (
            GroupLicenseState.select()
            .where(GroupLicenseState.user.in_(chunk))
            .order_by(GroupLicenseState.group, GroupLicenseState.sku)
        ):
            found[st.user_id].append(st)
    return found
