"""Get-Users, Get-SubscribedSku, Get-LicenseReport: the tenant's state written as sheets (or
CSV on stdout, for the next command of a pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import polars as pl

from commcredits.bulk import operations as ops
from commcredits.bulk.params import SHEET_OUT, TARGET, Invocation, Param, command, parse_bool
from commcredits.bulk.report_files import open_output
from commcredits.bulk.runner import transport_for
from commcredits.bulk.terminal import Progress, check_output, report_written, write_output
from commcredits.bulk.transport import Transport
from commcredits.sheet_stream import FrameSink, SheetSink

PAGE = 100  # the server's largest page (schema/pages.py MAX_PAGE)
# Opens the sheet for a schema; Get-LicenseReport's columns are known only once it has begun.
OpenSink = Callable[[pl.Schema], AbstractContextManager[SheetSink]]

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


def user_pages(
    transport: Transport, filters: dict[str, Any], *, top: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The users matching `filters`, a page at a time: the next page is asked for only when
    the caller takes it, so a listing holds one page, never the tenant."""
    flt = {k: v for k, v in filters.items() if v is not None}
    seen = 0
    after = None
    while top is None or seen < top:
        first = PAGE if top is None else min(PAGE, top - seen)
        page = transport.execute(
            ops.USERS_PAGE, {"first": first, "after": after, "filter": flt or None}
        )["users"]
        seen += len(page["nodes"])
        if page["nodes"]:
            yield page["nodes"]
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            break
        after = page["pageInfo"]["endCursor"]


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


USER_SCHEMA = pl.Schema(
    {
        **{out: pl.String for out, _ in USER_OUTPUT},
        "AssignedLicenses": pl.String,
        "CreatedAt": pl.String,
    }
)


def users_frame(users: list[dict[str, Any]]) -> pl.DataFrame:
    """One page of users as Get-Users writes them."""
    data: dict[str, list[Any]] = {out: [u[key] for u in users] for out, key in USER_OUTPUT}
    data["AccountEnabled"] = [str(v).lower() for v in data["AccountEnabled"]]
    # Lists as Import-Users reads them back: one cell, ';' between items.
    for name in LIST_COLUMNS:
        data[name] = [";".join(v) for v in data[name]]
    data["AssignedLicenses"] = [
        ";".join(a["skuPartNumber"] for a in u["assignedLicenses"]) for u in users
    ]
    data["CreatedAt"] = [u["createdAt"] for u in users]
    return pl.DataFrame(data, schema=USER_SCHEMA)


def stream_users(
    transport: Transport,
    filters: dict[str, Any],
    sink: SheetSink,
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> None:
    """Get-Users into `sink`, page by page."""
    for users in user_pages(transport, filters, top=top):
        sink.write(users_frame(users))
        if progress is not None:
            progress(len(users))


def get_users(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    """Get-Users as one DataFrame (the Python API returns it whole)."""
    sink = FrameSink(USER_SCHEMA)
    stream_users(transport, filters, sink, top=top, progress=progress)
    return sink.frame()


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


REPORT_USER_COLUMNS = ("UserPrincipalName", "DisplayName", "Department", "UsageLocation")


class _NewSku(Exception):
    """A user holds a SKU that is not a column yet: the listing starts again with it."""


def _report_frame(users: list[dict[str, Any]], skus: list[str]) -> pl.DataFrame:
    held = [{a["skuPartNumber"]: a for a in u["assignedLicenses"]} for u in users]
    data: dict[str, list[Any]] = {
        "UserPrincipalName": [u["userPrincipalName"] for u in users],
        "DisplayName": [u["displayName"] for u in users],
        "Department": [u["department"] for u in users],
        "UsageLocation": [u["usageLocation"] for u in users],
    }
    for sku in skus:
        data[sku] = [1 if sku in h else 0 for h in held]
    data["DisabledPlans"] = [
        ";".join(f"{part}:{plan}" for part, a in h.items() for plan in a["disabledPlans"])
        for h in held
    ]
    return pl.DataFrame(data, schema=_report_schema(skus))


def _report_schema(skus: list[str]) -> pl.Schema:
    return pl.Schema(
        {
            **{name: pl.String for name in REPORT_USER_COLUMNS},
            **{sku: pl.Int64 for sku in skus},
            "DisabledPlans": pl.String,
        }
    )


def stream_license_report(
    transport: Transport,
    filters: dict[str, Any],
    open_sink: OpenSink,
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> int:
    """Users × SKUs into the sink `open_sink(schema)` gives, page by page; the row count.

    The columns are the tenant's SKUs, then any others held in the order first met. Those
    others are rare (a SKU no longer subscribed): when a page holds one, the sink is dropped
    and the listing starts again with the column added, so no page is ever held back."""
    skus = [s["skuPartNumber"] for s in transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]]
    while True:
        known = set(skus)
        try:
            with open_sink(_report_schema(skus)) as sink:
                for users in user_pages(transport, filters, top=top):
                    new = [
                        a["skuPartNumber"]
                        for u in users
                        for a in u["assignedLicenses"]
                        if a["skuPartNumber"] not in known
                    ]
                    if new:
                        skus.extend(dict.fromkeys(new))
                        raise _NewSku
                    sink.write(_report_frame(users, skus))
                    if progress is not None:
                        progress(len(users))
                return sink.rows
        except _NewSku:
            continue


def get_license_report(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    """Users × SKUs: 1 where the user holds the SKU (the tenant's SKUs, then any others held),
    as one DataFrame (the Python API returns it whole)."""
    sinks: list[FrameSink] = []

    @contextmanager
    def open_sink(schema: pl.Schema) -> Iterator[SheetSink]:
        sinks.append(FrameSink(schema))
        yield sinks[-1]

    stream_license_report(transport, filters, open_sink, top=top, progress=progress)
    return sinks[-1].frame()


def _filters(inv: Invocation) -> dict[str, Any]:
    enabled = inv.get("AccountEnabled")
    return {
        "search": inv.get("Search"),
        "usageLocation": inv.get("UsageLocation"),
        "department": inv.get("Department"),
        "hasLicense": inv.get("HasLicense"),
        "accountEnabled": None if enabled is None else parse_bool(enabled, "AccountEnabled"),
    }


def _run_user_listing(
    inv: Invocation,
    listing: Callable[[Transport, dict[str, Any], OpenSink, Progress], int],
) -> int:
    """Get-Users and Get-LicenseReport: the same filters and paging, streamed to the output."""
    started = time.perf_counter()
    check_output(inv.get("Path"))
    filters = _filters(inv)
    transport = transport_for(inv)
    progress = Progress(inv, inv.get("Top"), "user")
    path = inv.get("Path")
    target = path if path and path != "-" else inv.stdout

    def open_sink(schema: pl.Schema) -> AbstractContextManager[SheetSink]:
        return open_output(target, schema)

    try:
        rows = listing(transport, filters, open_sink, progress)
    finally:
        progress.close()
        transport.close()
    return report_written(inv, rows, started, "users")


def run_get_users(inv: Invocation) -> int:
    def listing(
        transport: Transport, filters: dict[str, Any], open_sink: OpenSink, progress: Progress
    ) -> int:
        with open_sink(USER_SCHEMA) as sink:
            stream_users(transport, filters, sink, top=inv.get("Top"), progress=progress)
        return sink.rows

    return _run_user_listing(inv, listing)


def run_get_license_report(inv: Invocation) -> int:
    def listing(
        transport: Transport, filters: dict[str, Any], open_sink: OpenSink, progress: Progress
    ) -> int:
        return stream_license_report(
            transport, filters, open_sink, top=inv.get("Top"), progress=progress
        )

    return _run_user_listing(inv, listing)


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
