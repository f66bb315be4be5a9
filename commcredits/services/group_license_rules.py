"""Entra's group-licensing rules (issue 18, SPEC §10) as functions of what a run has loaded:
the states of a member's group licenses, Entra's error codes, what keeps a member from a
group's licenses, and the disabled plans of an assignment. No queries and no writes:
services/group_licensing.py applies them. As README.md "Groups" states them:

- a member that cannot get the group's licenses gets an `Error` state with Entra's code
  (`blocking_error`: usage location, then exclusive calling plans, then a calling plan without
  Teams Phone, then seats);
- one assignment per user per SKU however many sources; its disabled plans are the
  intersection over sources (`intersect`: the union of enabled plans wins);
- losing the last source of a SKU frees its seat, unless a calling plan the user keeps
  depends on it (`needed_by_calling_plan`: Teams Phone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from commcredits.models import LicenseAssignment
from commcredits.services.catalog import TEAMS_PHONE_PLAN, Catalog

ACTIVE = "Active"
ERROR = "Error"
COUNT = "CountViolation"
EXCLUSIVE = "MutuallyExclusiveViolation"
DEPENDENCY = "DependencyViolation"
LOCATION = "ProhibitedInUsageLocationViolation"
ERROR_CODES = (COUNT, EXCLUSIVE, DEPENDENCY, LOCATION, "UniquenessViolation", "Other")

Plans = tuple[str, ...]


def intersect(sources: Iterable[Plans]) -> Plans | None:
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


def blocking_error(
    cat: Catalog,
    location: str | None,
    rows: Mapping[int, LicenseAssignment],
    lics: Mapping[int, Plans],
    pending: Sequence[int],
    free: Callable[[int], bool],
) -> str | None:
    """Why a member holding `rows` (by SKU) cannot get `pending`, the SKUs of a group
    licensing `lics` it does not have yet; None if it can. `location` is the one group
    licenses go by; `free` says whether a SKU has a seat left."""
    if any(not Catalog.sold_in(cat.by_pk[s], location) for s in pending):
        return LOCATION
    held = set(rows) | set(lics)
    if len(cat.calling_plans(held)) > 1:
        return EXCLUSIVE
    if cat.lacks_phone([*((s, r.disabled_plans) for s, r in rows.items()), *lics.items()]):
        return DEPENDENCY
    if any(not free(s) for s in pending if s not in rows):
        return COUNT
    return None


def needed_by_calling_plan(cat: Catalog, rows: Mapping[int, LicenseAssignment], sku: int) -> bool:
    """Whether the user's assignment of `sku` is the only one giving the Teams Phone that a
    calling plan among its others needs."""
    others = [(s, r.disabled_plans) for s, r in rows.items() if s != sku]
    mine = Catalog.plan_names(cat.by_pk[sku], rows[sku].disabled_plans)
    return cat.lacks_phone(others) and TEAMS_PHONE_PLAN in mine
