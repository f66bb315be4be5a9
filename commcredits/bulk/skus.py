"""The SKUs names in a sheet or a parameter stand for, and the license change each row asks for.

The catalog is the server's own (the `skus` query), so a name it does not know is one the
server would refuse too. A bad *parameter* stops the run before anything is sent (exit 2); a
bad *cell* fails its row only (`RowFault`), and the other rows proceed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from commcredits.bulk import operations as ops
from commcredits.bulk.errors import UsageError
from commcredits.bulk.rows import split_list
from commcredits.bulk.transport import Transport

AddSpec = tuple[tuple[str, tuple[str, ...]], ...]  # (skuPartNumber, disabled plans) per SKU


class Change(NamedTuple):
    """What one row asks for: hashable, so rows asking the same share one entry per batch."""

    adds: AddSpec = ()
    removes: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"Add {a}" + (f" (disabled: {','.join(p)})" if p else "") for a, p in self.adds]
        parts += [f"Remove {r}" for r in self.removes]
        return "; ".join(parts) or "None"

    def as_input(self) -> dict[str, Any]:
        """The change as setUserLicenses' LicenseChangeInput."""
        return {
            "addLicenses": [{"skuId": a, "disabledPlans": list(p)} for a, p in self.adds],
            "removeLicenses": list(self.removes),
        }


class RowFault(Exception):
    """A cell that fails its row (code, message): the row is reported and not sent."""

    def __init__(self, code: str, message: str, action: str):
        super().__init__(message)
        self.code, self.message, self.action = code, message, action


class SkuCatalog:
    """The server's SKUs, to turn names in a sheet into canonical part numbers before sending."""

    def __init__(self, transport: Transport):
        self.by_ref: dict[str, dict[str, Any]] = {}
        for sku in transport.execute(ops.SKUS)["skus"]:
            self.by_ref[sku["skuPartNumber"].lower()] = sku
            self.by_ref[sku["skuId"].lower()] = sku

    def part(self, ref: str) -> str | None:
        sku = self.by_ref.get(ref.strip().lower())
        return sku["skuPartNumber"] if sku else None

    def plans(self, part: str) -> set[str]:
        sku = self.by_ref[part.lower()]
        names = {p["servicePlanName"].lower() for p in sku["servicePlans"]}
        return names | {p["servicePlanId"].lower() for p in sku["servicePlans"]}

    def resolve(self, refs: Iterable[str], where: str) -> list[str]:
        """Parameter values as part numbers; an unknown one stops the run (exit 2)."""
        parts, unknown = [], []
        for ref in refs:
            part = self.part(ref)
            (parts if part else unknown).append(part or ref)
        if unknown:
            raise UsageError(
                f"unknown SKU {', '.join(repr(u) for u in unknown)} in {where}; give a "
                f"skuPartNumber or skuId (Get-SubscribedSku lists them)"
            )
        return list(dict.fromkeys(parts))


def adds_with_plans(catalog: SkuCatalog, adds: list[str], plans: list[str]) -> AddSpec:
    """-DisabledPlans: each plan goes to the added SKUs that contain it (exit 2 if none does)."""
    per_sku: dict[str, list[str]] = {a: [] for a in adds}
    for plan in plans:
        owners = [a for a in adds if plan.lower() in catalog.plans(a)]
        if not owners:
            raise UsageError(
                f"service plan {plan!r} is not part of any SKU being added "
                f"({', '.join(adds) or 'none'})"
            )
        for owner in owners:
            per_sku[owner].append(plan)
    return tuple((a, tuple(sorted(set(per_sku[a])))) for a in adds)


def _unknown_sku(names: list[str], column: str, action: str) -> RowFault:
    shown = ", ".join(repr(n) for n in names)
    return RowFault(
        "InvalidSku",
        f"Unknown SKU {shown} in {column}: give a skuPartNumber or skuId (Get-SubscribedSku "
        f"lists them). This row was not sent.",
        action,
    )


def row_change(
    catalog: SkuCatalog,
    cells: tuple[str | None, str | None, str | None],
    global_adds: Sequence[str],
    global_removes: Sequence[str],
    global_plans: Sequence[str],
) -> Change:
    """A row's change: the parameters plus its AddLicenses, RemoveLicenses and DisabledPlans
    cells. Raises RowFault for a cell naming a SKU the catalog does not hold."""
    add_cell, remove_cell, plan_cell = cells
    add_refs, remove_refs = split_list(add_cell), split_list(remove_cell)
    # The Action column of a failed row shows the change as written.
    written = Change(
        tuple((r, ()) for r in dict.fromkeys([*global_adds, *add_refs])),
        tuple(dict.fromkeys([*global_removes, *remove_refs])),
    ).describe()
    for refs, name in ((add_refs, "AddLicenses"), (remove_refs, "RemoveLicenses")):
        unknown = [r for r in refs if catalog.part(r) is None]
        if unknown:
            raise _unknown_sku(unknown, name, written)
    adds = list(dict.fromkeys([*global_adds, *(catalog.part(r) or r for r in add_refs)]))
    removes = tuple(dict.fromkeys([*global_removes, *(catalog.part(r) or r for r in remove_refs)]))
    per_sku: dict[str, list[str]] = {a: [] for a in adds}
    for plan in global_plans:  # each to the SKUs that contain it, as adds_with_plans does
        for owner in (a for a in adds if plan.lower() in catalog.plans(a)):
            per_sku[owner].append(plan)
    # Get-LicenseReport writes a disabled plan as SKU:PLAN; a bare PLAN goes to the row's
    # added SKUs that contain it.
    for entry in (p.strip() for p in re.split(r"[;,+\s]+", plan_cell or "") if p.strip()):
        prefix, _, plan = entry.rpartition(":")
        if prefix:
            part = catalog.part(prefix)
            if part is None:
                raise _unknown_sku([prefix], "DisabledPlans", written)
            owners = [part] if part in per_sku and plan.lower() in catalog.plans(part) else []
        else:
            owners = [a for a in adds if plan.lower() in catalog.plans(a)]
        if not adds:
            raise RowFault(
                "InvalidServicePlan",
                f"Service plan '{plan}' is to be switched off, but this row adds no SKU. This "
                f"row was not sent.",
                written,
            )
        if not owners:
            # The server would refuse it too (InvalidServicePlan); said here, the row is not
            # sent, and no value the catalog does not know (of any length) reaches the API.
            if not prefix:
                where = f"any SKU this row adds ({', '.join(adds)})"
            elif part in per_sku:
                where = f"SKU {part}"
            else:
                where = f"{part}, which this row does not add"
            raise RowFault(
                "InvalidServicePlan",
                f"Service plan '{plan}' is not part of {where}. This row was not sent.",
                written,
            )
        for owner in owners:
            per_sku[owner].append(plan)
    spec = tuple((a, tuple(sorted(set(per_sku[a])))) for a in adds)
    return Change(spec, removes)
