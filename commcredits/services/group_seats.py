"""Where group licensing meets the rest (issue 18): the direct path's users with group
states, and seats bought or freed outside group processing (CountViolation members get them).

Tenants that license no group pay one cheap query per license batch (`tenant_uses_groups`)
and one per seat purchase (`settle_seats`), nothing more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from commcredits.db import db, execute_in
from commcredits.models import GroupLicenseState, LicenseAssignment, Tenant
from commcredits.services.group_license_rules import COUNT, Plans, direct_plans_of
from commcredits.services.group_licensing import Processor

_ANY_STATE_SQL = (
    f'SELECT 1 FROM "{GroupLicenseState._meta.table_name}" WHERE tenant_id = {{p}} LIMIT 1'
)
_INVOLVED_SQL = (
    f'SELECT DISTINCT user_id FROM "{GroupLicenseState._meta.table_name}" '
    "WHERE tenant_id = {p} AND user_id IN {{in}}"
)


def tenant_uses_groups(tenant_id: int) -> bool:
    """Whether any member of the tenant has a group license state: the direct path asks this
    once per batch and, for tenants that license no group, does nothing more."""
    return bool(db.execute_sql(_ANY_STATE_SQL.format(p=db.obj.param), (tenant_id,)).fetchall())


def users_with_states(tenant_id: int, user_ids: list[int]) -> set[int]:
    sql = _INVOLVED_SQL.format(p=db.obj.param)
    return {r[0] for r in execute_in(sql, user_ids, params=(tenant_id,))}


def settle_seats(tenant: Tenant, *, now: dt.datetime) -> None:
    """After seats were bought or freed outside group processing: CountViolation members get
    the free seats, in member order. In the caller's directory lock; cheap when none wait."""
    waiting = (
        GroupLicenseState.select(GroupLicenseState.id)
        .where((GroupLicenseState.tenant == tenant.id) & (GroupLicenseState.error == COUNT))
        .limit(1)
    )
    if not waiting.exists():
        return
    proc = Processor(tenant, now=now)
    proc.retry_count_violations()
    proc.settle()
    proc.flush()
    proc.notify(proc.in_error)


def apply_direct(
    tenant: Tenant,
    changes: Mapping[int, tuple[Mapping[int, Plans], Mapping[int, Plans]]],
    *,
    now: dt.datetime,
) -> None:
    """The direct path's net changes (initial, final) for users with group states."""
    proc = Processor(tenant, now=now)
    proc.load_users(changes)
    for uid, (initial, final) in changes.items():
        for sku in proc.phone_last(set(initial) | set(final)):
            if initial.get(sku) != final.get(sku):
                proc.set_direct(uid, sku, final.get(sku))
    proc.settle()
    proc.flush()
    proc.notify(proc.in_error)


def inherited_view(tenant_id: int, user_ids: list[int]) -> dict[int, dict]:
    """For the direct path: each user's direct and inherited licenses as the rows say."""
    found: dict[int, dict] = {uid: {"direct": {}, "inherited": {}} for uid in user_ids}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        for row in LicenseAssignment.select().where(LicenseAssignment.user.in_(chunk)):
            view = found[row.user_id]
            direct = direct_plans_of(row)
            if direct is not None:
                view["direct"][row.sku_id] = direct
            if row.inherited_plans is not None:
                view["inherited"][row.sku_id] = tuple(row.inherited_plans)
    return found
