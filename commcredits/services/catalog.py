"""The SKU catalog (SPEC §1): built-in SKUs, their service plans and where they are sold."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from commcredits.db import db, write
from commcredits.models import Sku
from commcredits.services import audit
from commcredits.services.countries import (
    CALLING_PLAN_COUNTRIES,
    EVERYWHERE_BUT_EMBARGOED,
    PAYG_ZONE_1_COUNTRIES,
    normalize_country,
)
from commcredits.services.errors import DomainError

if TYPE_CHECKING:
    from commcredits.services.principal import Principal

# Fixed namespace: ids we generate are uuid5 under it, so they are the same everywhere, forever.
COMMCREDITS_NAMESPACE = uuid.UUID("5b0c6f0e-3f43-5a8e-9d1c-6c6f6d6d6372")

CREDITS_SKU = "MCOPSTNC"
CREDITS_CAPABILITY = "MCOPSTNPP"  # what usage reports call minutes paid by credits
TEAMS_PHONE_PLAN = "MCOEV"
AUDIO_CONFERENCING_PLAN = "MCOMEETADV"
CALLING_PLAN_SKUS: frozenset[str] = frozenset(
    {"MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN_PAYG_1"}
)


def generated_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(COMMCREDITS_NAMESPACE, f"{kind}:{name}"))


@dataclass(frozen=True)
class BuiltinSku:
    part_number: str
    sku_id: str
    name: str
    plans: tuple[str, ...]
    countries: tuple[str, ...]


BUILTIN_CATALOG: tuple[BuiltinSku, ...] = (
    BuiltinSku(
        "MCOPSTNC",
        "47794cd0-f0e5-45c5-9033-2eb6b5fc84e0",
        "Communications Credits",
        ("MCOPSTNC",),
        EVERYWHERE_BUT_EMBARGOED,
    ),
    BuiltinSku(
        "MCOMEETADV",
        "0c266dff-15dd-4b49-8397-2bb16070ed52",
        "Microsoft 365 Audio Conferencing",
        ("MCOMEETADV",),
        EVERYWHERE_BUT_EMBARGOED,
    ),
    BuiltinSku(
        "MCOEV",
        "e43b5b99-8dfb-405f-9987-dc307f34bcbd",
        "Microsoft Teams Phone Standard",
        ("MCOEV",),
        EVERYWHERE_BUT_EMBARGOED,
    ),
    BuiltinSku(
        "MCOPSTN1",
        "0dab259f-bf13-4952-b7f8-7db8f131b28d",
        "Microsoft 365 Domestic Calling Plan",
        ("MCOPSTN1",),
        CALLING_PLAN_COUNTRIES,
    ),
    BuiltinSku(
        "MCOPSTN2",
        "d3b4fe1f-9992-4930-8acb-ca6ec609365e",
        "Microsoft 365 Domestic and International Calling Plan",
        ("MCOPSTN2",),
        CALLING_PLAN_COUNTRIES,
    ),
    BuiltinSku(
        "MCOPSTN5",
        "54a152dc-90de-4996-93d2-bc47e670fc06",
        "Microsoft 365 Domestic Calling Plan (120 Minutes)",
        ("MCOPSTN5",),
        CALLING_PLAN_COUNTRIES,
    ),
    BuiltinSku(
        "MCOPSTN_PAYG_1",
        generated_id("sku", "MCOPSTN_PAYG_1"),
        "Teams Calling Plan pay-as-you-go (country zone 1)",
        ("MCOPSTN_PAYG_1",),
        PAYG_ZONE_1_COUNTRIES,
    ),
    BuiltinSku(
        "SPE_E5",
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        "Microsoft 365 E5",
        (
            "MCOMEETADV",
            "MCOEV",
            "TEAMS1",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE",
            "OFFICESUBSCRIPTION",
            "MCOSTANDARD",
        ),
        EVERYWHERE_BUT_EMBARGOED,
    ),
)


def plan_entry(name: str) -> dict[str, str]:
    return {"servicePlanId": generated_id("service-plan", name), "servicePlanName": name}


def ensure_builtin_catalog() -> int:
    """Insert the built-in SKUs that are missing; never overwrite operator edits. Returns count."""
    existing = {s.part_number for s in Sku.select(Sku.part_number)}
    rows = [
        {
            "sku_id": b.sku_id,
            "part_number": b.part_number,
            "name": b.name,
            "service_plans": [plan_entry(p) for p in b.plans],
            "countries": list(b.countries),
            "builtin": True,
        }
        for b in BUILTIN_CATALOG
        if b.part_number not in existing
    ]
    if rows:
        with write():
            Sku.insert_many(rows).execute()
    return len(rows)


def list_skus() -> list[Sku]:
    return list(Sku.select().order_by(Sku.part_number))


_RAW_SKUS = f'SELECT * FROM "{Sku._meta.table_name}" ORDER BY {Sku.part_number.column_name}'
_last: tuple[tuple, Catalog] | None = None  # (raw rows, the catalog built from them)


class Catalog:
    """The whole catalog in memory (a handful of rows): lookups by id or part number.

    Shared between requests (see `load`): read it, never change it.
    """

    def __init__(self, skus: list[Sku]):
        self.skus = skus
        self.by_pk = {s.id: s for s in skus}
        self.by_ref = {}
        for s in skus:
            self.by_ref[s.sku_id.lower()] = s
            self.by_ref[s.part_number.upper()] = s

    @classmethod
    def load(cls) -> Catalog:
        """The catalog as the database holds it now.

        Every batch and most requests need it, and building it (model rows, their JSON
        lists) costs more than reading it, so the last one built is kept with the raw rows it
        came from and reused while a read gives the same rows: an edit anywhere shows at once,
        in every process.
        """
        global _last
        raw = tuple(db.execute_sql(_RAW_SKUS).fetchall())
        last = _last
        if last is not None and last[0] == raw:
            return last[1]
        catalog = cls(list_skus())
        _last = (raw, catalog)
        return catalog

    def find(self, ref: str) -> Sku | None:
        """A SKU by skuId (GUID) or skuPartNumber, case-insensitively."""
        ref = (ref or "").strip()
        return self.by_ref.get(ref.lower()) or self.by_ref.get(ref.upper())

    @staticmethod
    def sold_in(sku: Sku, country: str | None) -> bool:
        """Whether a SKU may be assigned to a user with this usage location (SPEC §1)."""
        return sku.countries is None or country in sku.countries

    @staticmethod
    def plan_names(sku: Sku, disabled: list[str] | tuple[str, ...] = ()) -> set[str]:
        """Names of the plans a SKU grants, minus disabled ones (by id or name)."""
        off = {d.lower() for d in disabled}
        return {
            p["servicePlanName"]
            for p in sku.service_plans
            if p["servicePlanId"].lower() not in off and p["servicePlanName"].lower() not in off
        }

    # The two rules on a user's (or a group's) set of licenses, whatever their source
    # (SPEC §1): at most one calling plan, and a calling plan needs Teams Phone enabled.
    # Direct assignment (licenses/rules.py), group members (group_license_rules.py) and a
    # group's own set (group_assign.py) all ask these.

    def calling_plans(self, skus: Iterable[int]) -> list[int]:
        """The calling plans among these SKUs (by pk), in part-number order."""
        found = (s for s in skus if self.by_pk[s].part_number in CALLING_PLAN_SKUS)
        return sorted(found, key=lambda s: self.by_pk[s].part_number)

    def lacks_phone(self, held: Iterable[tuple[int, Sequence[str]]]) -> bool:
        """Whether these (SKU pk, disabled plans) hold a calling plan but no enabled Teams
        Phone, which a calling plan depends on."""
        held = list(held)
        if not self.calling_plans(s for s, _ in held):
            return False
        plans: set[str] = set()
        for s, disabled in held:
            plans |= Catalog.plan_names(self.by_pk[s], disabled)
        return TEAMS_PHONE_PLAN not in plans


def find_sku(ref: str, *, field: str = "skuPartNumber") -> Sku:
    sku = Catalog.load().find(ref)
    if sku is None:
        raise invalid_sku(field)
    return sku


def invalid_sku(field: str) -> DomainError:
    return DomainError(
        "InvalidSku",
        "Invalid value specified for property 'skuId' of resource 'AssignedLicense'.",
        field,
    )


def set_sku_countries(
    principal: Principal, sku_ref: str, countries: list[str], *, now: dt.datetime
) -> Sku:
    """Operator: replace the usage-location countries where a SKU may be assigned."""
    sku = Sku.get_by_id(find_sku(sku_ref).id)  # a row of its own: the loaded catalog is shared
    codes: list[str] = []
    for i, raw in enumerate(countries):
        try:
            code = normalize_country(raw)
        except ValueError:
            raise DomainError(
                "INVALID_COUNTRY", f"'{raw}' is not an ISO 3166-1 alpha-2 code.", f"countries.{i}"
            ) from None
        if code and code not in codes:
            codes.append(code)
    with write():
        before = sku.countries
        sku.countries = sorted(codes)
        sku.save()
        audit.record(
            principal,
            "setSkuCountries",
            sku,
            tenant_id=None,
            before=before,
            after=sku.countries,
            now=now,
        )
    return sku
