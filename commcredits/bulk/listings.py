"""Get-Users, Get-SubscribedSku, Get-LicenseReport: the tenant's state written as sheets (or
CSV on stdout, for the next command of a pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import polars as pl

from commcredits.bulk import operations as ops
from commcredits.bulk.params import SHEET_OUT, TARGET, Invocation, Param, command, parse_bool
from commcredits.bulk.runner import transport_for
from commcredits.bulk.terminal import Progress, check_output, write_output
from commcredits.bulk.transport import Transport

PAGE = 100

FILTERS = (
    Param("Search", help="part of the user principal name or display name", value="TEXT"),
    Param(
        "UsageLocation",
        help='ISO code or English/German country name; "" finds users without one',
        value="XX",
    ),
    Param("Department", value="NAME"),
    Param("HasLicense", help="skuPartNumber or skuId held", value="SKU"),
    Param("AccountEnabled", help="true or false", value="BOOL"),
    Param("Top", "int", "at most this many users", value="N"),
)


def _users(
    transport: Transport, filters: dict[str, Any], *, top: int | None, progress: Callable | None
) -> list[dict[str, Any]]:
    flt = {k: v for k, v in filters.items() if v is not None}
    found: list[dict[str, Any]] = []
    after = None
    while top is None or len(found) < top:
        first = PAGE if top is None else min(PAGE, top - len(found))
        page = transport.execute(
            ops.USERS_PAGE, {"first": first, "after": after, "filter": flt or None}
        )["users"]
        found.extend(page["nodes"])
        if progress is not None:
            progress(len(page["nodes"]))
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found


USER_OUTPUT = (
    ("UserPrincipalName", "userPrincipalName"),
    ("DisplayName", "displayName"),
    ("GivenName", "givenName"),
    ("Surname", "surname"),
    ("JobTitle", "jobTitle"),
    ("Department", "department"),
    ("OfficeLocation", "officeLocation"),
    ("BusinessPhones", "businessPhones"),
    ("MobilePhone", "mobilePhone"),
    ("FaxNumber", "faxNumber"),
    ("OtherMails", "otherMails"),
    ("StreetAddress", "streetAddress"),
    ("City", "city"),
    ("State", "state"),
    ("PostalCode", "postalCode"),
    ("Country", "country"),
    ("UsageLocation", "usageLocation"),
    ("AccountEnabled", "accountEnabled"),
)

LIST_COLUMNS = ("BusinessPhones", "OtherMails")


def get_users(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    users = _users(transport, filters, top=top, progress=progress)
    data: dict[str, list[Any]] = {out: [u[key] for u in users] for out, key in USER_OUTPUT}
    data["AccountEnabled"] = [str(v).lower() for v in data["AccountEnabled"]]
    # Lists as Import-Users reads them back: one cell, ';' between items.
    for name in LIST_COLUMNS:
        data[name] = [";".join(v) for v in data[name]]
    data["AssignedLicenses"] = [
        ";".join(a["skuPartNumber"] for a in u["assignedLicenses"]) for u in users
    ]
    data["CreatedAt"] = [u["createdAt"] for u in users]
    return pl.DataFrame(data, schema={k: pl.String for k in data})


def get_subscribed_sku(transport: Transport) -> pl.DataFrame:
    skus = transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]
    return pl.DataFrame(
        {
            "SkuPartNumber": [s["skuPartNumber"] for s in skus],
            "SkuId": [s["skuId"] for s in skus],
            "CapabilityStatus": [s["capabilityStatus"] for s in skus],
            "EnabledUnits": [s["prepaidUnits"]["enabled"] for s in skus],
            "ConsumedUnits": [s["consumedUnits"] for s in skus],
            "AvailableUnits": [s["availableUnits"] for s in skus],
            "SuspendedUnits": [s["prepaidUnits"]["suspended"] for s in skus],
            "WarningUnits": [s["prepaidUnits"]["warning"] for s in skus],
        },
        schema={
            "SkuPartNumber": pl.String,
            "SkuId": pl.String,
            "CapabilityStatus": pl.String,
            "EnabledUnits": pl.Int64,
            "ConsumedUnits": pl.Int64,
            "AvailableUnits": pl.Int64,
            "SuspendedUnits": pl.Int64,
            "WarningUnits": pl.Int64,
        },
    )


def get_license_report(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    """Users × SKUs: 1 where the user holds the SKU (the tenant's SKUs, then any others held)."""
    skus = [s["skuPartNumber"] for s in transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]]
    users = _users(transport, filters, top=top, progress=progress)
    for u in users:
        for a in u["assignedLicenses"]:
            if a["skuPartNumber"] not in skus:
                skus.append(a["skuPartNumber"])
    held = [{a["skuPartNumber"]: a for a in u["assignedLicenses"]} for u in users]
    data: dict[str, list[Any]] = {
        "UserPrincipalName": [u["userPrincipalName"] for u in users],
        "DisplayName": [u["displayName"] for u in users],
        "Department": [u["department"] for u in users],
        "UsageLocation": [u["usageLocation"] for u in users],
    }
    schema: dict[str, Any] = {k: pl.String for k in data}
    for sku in skus:
        data[sku] = [1 if sku in h else 0 for h in held]
        schema[sku] = pl.Int64
    data["DisabledPlans"] = [
        ";".join(f"{part}:{plan}" for part, a in h.items() for plan in a["disabledPlans"])
        for h in held
    ]
    schema["DisabledPlans"] = pl.String
    return pl.DataFrame(data, schema=schema)


def _filters(inv: Invocation) -> dict[str, Any]:
    enabled = inv.get("AccountEnabled")
    return {
        "search": inv.get("Search"),
        "usageLocation": inv.get("UsageLocation"),
        "department": inv.get("Department"),
        "hasLicense": inv.get("HasLicense"),
        "accountEnabled": None if enabled is None else parse_bool(enabled, "AccountEnabled"),
    }


def _run_user_listing(inv: Invocation, listing: Callable[..., Any]) -> int:
    """Get-Users and Get-LicenseReport: the same filters, paging and output."""
    started = time.perf_counter()
    check_output(inv.get("Path"))
    filters = _filters(inv)
    transport = transport_for(inv)
    progress = Progress(inv, inv.get("Top"), "user")
    try:
        frame = listing(transport, filters, top=inv.get("Top"), progress=progress)
    finally:
        progress.close()
        transport.close()
    return write_output(inv, frame, started, "users")


def run_get_users(inv: Invocation) -> int:
    return _run_user_listing(inv, get_users)


def run_get_license_report(inv: Invocation) -> int:
    return _run_user_listing(inv, get_license_report)


def run_get_subscribed_sku(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    transport = transport_for(inv)
    try:
        frame = get_subscribed_sku(transport)
    finally:
        transport.close()
    return write_output(inv, frame, started, "SKUs")


COMMANDS = (
    command(
        "Get-Users",
        "Write the tenant's users (filtered) to a sheet, or CSV to stdout.",
        (*SHEET_OUT, *FILTERS, *TARGET),
        "commcredits Get-Users -UsageLocation DE -Path de-users.xlsx",
        run_get_users,
    ),
    command(
        "Get-SubscribedSku",
        "Write the tenant's seats per SKU (Graph's Get-MgSubscribedSku).",
        (*SHEET_OUT, *TARGET),
        "commcredits Get-SubscribedSku",
        run_get_subscribed_sku,
    ),
    command(
        "Get-LicenseReport",
        "Write users × SKUs (1 = held) with disabled plans.",
        (*SHEET_OUT, *FILTERS, *TARGET),
        "commcredits Get-LicenseReport -Path licenses.xlsx",
        run_get_license_report,
    ),
)
