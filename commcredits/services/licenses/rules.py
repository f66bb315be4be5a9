"""Graph's rules for one request against one user's licenses and usage location.

Everything but the seat count, which depends on the items before it in the batch: the rules
run once per distinct (change, licenses, location), and what they decide is shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from commcredits.models import Sku
from commcredits.services.catalog import Catalog
from commcredits.services.errors import ErrorDetail
from commcredits.services.licenses import errors as graph
from commcredits.services.licenses.requests import LicenseChange, LicenseRequest


@dataclass(frozen=True)
class Decision:
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
    delta: Delta | None = None
    # The request's entry each SKU came from (its pk → "addLicenses.1.skuId"): refusals name it.
    fields: Mapping[int, str] = field(default_factory=dict)

    def field_of(self, sku_pk: int) -> str:
        return self.fields.get(sku_pk, "addLicenses")


def decide(
    cat: Catalog,
    req: LicenseRequest,
    held: Mapping[int, tuple[str, ...]],
    location: str | None,
    inherited: Mapping[int, tuple[str, ...]] = MappingProxyType({}),
) -> Decision:
    """Graph's rules for one request against one user's licenses and usage location.

    Everything but the seat count, which depends on the items before it in the batch.
    `held` are the direct assignments; `inherited` what groups give the user (SKU ->
    disabled plans; services/licenses/inherited.py): the plan rules look at both.
    """
    errors: list[ErrorDetail] = []
    adds: list[tuple[Sku, tuple[str, ...]]] = []
    for i, add in enumerate(req.add):
        sku = cat.find(add.sku)
        if sku is None:
            errors.append(graph.invalid_sku(f"addLicenses.{i}.skuId"))
            continue
        plan_ids = {p["servicePlanId"].lower(): p["servicePlanId"] for p in sku.service_plans}
        plan_names = {p["servicePlanName"].lower(): p["servicePlanId"] for p in sku.service_plans}
        disabled: set[str] = set()
        for j, plan in enumerate(add.disabled_plans):
            key = plan.strip().lower()
            resolved = plan_ids.get(key) or plan_names.get(key)
            if resolved is None:
                errors.append(
                    graph.invalid_service_plan(plan, sku, f"addLicenses.{i}.disabledPlans.{j}")
                )
            else:
                disabled.add(resolved)
        adds.append((sku, tuple(sorted(disabled))))
    removes: list[Sku] = []
    for i, ref in enumerate(req.remove):
        sku = cat.find(ref)
        if sku is None:
            errors.append(graph.invalid_sku(f"removeLicenses.{i}"))
        else:
            removes.append(sku)
    both = {s.id for s, _ in adds} & {s.id for s in removes}
    if both:
        names = ", ".join(sorted(cat.by_pk[s].part_number for s in both))
        errors.append(graph.added_and_removed(names))
    if errors:
        return Decision(request_errors=tuple(errors))
    fields = {s.id: f"removeLicenses.{i}" for i, s in enumerate(removes)}
    fields |= {s.id: f"addLicenses.{i}.skuId" for i, (s, _) in enumerate(adds)}

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
        return Decision(changes=tuple(changes), new=new)

    gaining = [c.sku for c in changes if c.action in ("ASSIGNED", "UPDATED")]
    if gaining and not location:
        errors.append(graph.no_usage_location())
    elif gaining:
        for sku in gaining:
            if not Catalog.sold_in(sku, location):
                errors.append(graph.not_sold_in(sku, location, fields[sku.id]))
    calling_pks = cat.calling_plans(new.keys() | inherited.keys() if inherited else new)
    calling = [cat.by_pk[s].part_number for s in calling_pks]
    # The entry to blame: a calling plan this request adds, else what it removes (a Teams
    # Phone license taken away from under a calling plan), else the request as a whole.
    changed = [c.sku.id for c in changes if c.action != "UNCHANGED"]
    blamed = next((fields[s] for s in calling_pks if s in changed), None) or next(
        (fields[s] for s in changed if fields[s].startswith("removeLicenses")), "addLicenses"
    )
    if len(calling) > 1:
        errors.append(graph.mutually_exclusive(calling, blamed))
    elif cat.lacks_phone((*new.items(), *inherited.items())):
        errors.append(graph.missing_phone_plan(calling[0], blamed))
    return Decision(
        changes=tuple(changes),
        new=new,
        rule_errors=tuple(errors),
        delta=delta_between(cat, held, new),
        fields=fields,
    )


class Delta(NamedTuple):
    """What writing one user's change takes: rows to add, update and delete, and its audit."""

    inserts: tuple[tuple[int, tuple[str, ...]], ...]  # (sku pk, disabled plans) to add
    updates: tuple[tuple[int, tuple[str, ...]], ...]  # (sku pk, disabled plans) to change
    deletes: tuple[int, ...]  # sku pks to remove
    before: tuple[str, ...]  # part numbers, sorted
    after: tuple[str, ...]


def delta_between(
    cat: Catalog, initial: Mapping[int, tuple[str, ...]], final: Mapping[int, tuple[str, ...]]
) -> Delta:
    return Delta(
        inserts=tuple((pk, plans) for pk, plans in final.items() if pk not in initial),
        updates=tuple(
            (pk, plans) for pk, plans in final.items() if pk in initial and initial[pk] != plans
        ),
        deletes=tuple(pk for pk in initial if pk not in final),
        before=tuple(sorted(cat.by_pk[pk].part_number for pk in initial)),
        after=tuple(sorted(cat.by_pk[pk].part_number for pk in final)),
    )
