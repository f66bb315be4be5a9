"""The PSTN reports of the Teams admin center as sheets: Get-CsPstnMinutePoolsReport,
Get-CsPstnBlockedUsersReport and Get-CsCommunicationCreditsUsageReport (issue 17).

Columns carry the admin center's names (Analytics & reports > Usage reports: *PSTN minute
and SMS pools*, *PSTN blocked users*; the per-user usage report takes the *PSTN usage*
report's names where it has them). The lists are streamed a page at a time to the sheet, as
Get-Users does, so an export holds one page, never the tenant. Amounts are written as the API
answers them, exact decimal text, never a float.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from commcredits.bulk.params import SHEET_OUT, TARGET, Invocation, Param, command
from commcredits.bulk.report_files import open_output
from commcredits.bulk.runner import transport_for
from commcredits.bulk.terminal import Progress, check_output, report_written, write_output
from commcredits.bulk.transport import Transport
from commcredits.sheet_stream import FrameSink, SheetSink

PAGE = 100  # the server's largest page (schema/pages.py MAX_PAGE)

MINUTE_POOLS = """
query BulkMinutePools($month: String) {
  minutePools(month: $month) { plan country type granted used left }
  skus { skuPartNumber displayName servicePlans { servicePlanName } }
}
"""

BLOCKED_USERS_PAGE = """
query BulkPstnBlockedUsers($first: Int!, $after: String) {
  pstnBlockedUsers(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        user { id userPrincipalName displayName businessPhones mobilePhone }
        reason blockedAt blockedBy remediationId
      }
    }
  }
}
"""

CREDITS_USAGE_PAGE = """
query BulkCommunicationCreditsUsage($month: String, $first: Int!, $after: String) {
  communicationCreditsUsage(month: $month, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        user { id userPrincipalName displayName usageLocation }
        spent { amount currency }
        limit { amount currency }
        calls blockedCalls
        blockedByReason { reason count }
      }
    }
  }
}
"""


def connection_pages(
    transport: Transport, query: str, field: str, variables: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """A connection's nodes, a page at a time, the next asked for only when taken."""
    after = None
    while True:
        page = transport.execute(query, {**variables, "first": PAGE, "after": after})[field]
        nodes = [edge["node"] for edge in page["edges"]]
        if nodes:
            yield nodes
        if not page["pageInfo"]["hasNextPage"] or not nodes:
            return
        after = page["pageInfo"]["endCursor"]


# -- PSTN minute pools --------------------------------------------------------------------

MINUTE_POOL_SCHEMA = pl.Schema(
    {
        "Country or region": pl.String,
        "Capability": pl.String,
        "Capability description": pl.String,
        "Call type": pl.String,
        "Total minutes": pl.Int64,
        "Minutes used": pl.Int64,
        "Minutes available": pl.Int64,
    }
)
_MINUTES_OF = {"DOMESTIC": "domestic", "INTERNATIONAL": "international"}


def _plan_names(skus: list[dict[str, Any]]) -> dict[str, str]:
    """Service plan -> the name of the SKU that carries it (its own SKU first)."""
    names: dict[str, str] = {}
    for sku in skus:
        names[sku["skuPartNumber"]] = sku["displayName"]
    for sku in skus:
        for plan in sku["servicePlans"]:
            names.setdefault(plan["servicePlanName"], sku["displayName"])
    return names


def get_minute_pools_report(transport: Transport, month: str | None = None) -> pl.DataFrame:
    """The month's pools by capability (license) and usage location, as the admin center's
    table: total, used and available minutes. The tenant-wide pools (audio conferencing
    dial-out) have no country."""
    data = transport.execute(MINUTE_POOLS, {"month": month})
    names = _plan_names(data["skus"])
    pools = sorted(data["minutePools"], key=lambda p: (p["country"], p["plan"], p["type"]))

    def description(pool: dict[str, Any]) -> str:
        # As the admin center writes it, less its per-license count of minutes: a pool here
        # sums every license's, and that total is the Total minutes column.
        kind = _MINUTES_OF.get(pool["type"], "dial-out")
        return f"{names.get(pool['plan'], pool['plan'])} ({kind} minutes)"

    return pl.DataFrame(
        {
            "Country or region": [p["country"] or None for p in pools],
            "Capability": [p["plan"] for p in pools],
            "Capability description": [description(p) for p in pools],
            "Call type": [p["type"] for p in pools],
            "Total minutes": [p["granted"] for p in pools],
            "Minutes used": [p["used"] for p in pools],
            "Minutes available": [p["left"] for p in pools],
        },
        schema=MINUTE_POOL_SCHEMA,
    )


# -- PSTN blocked users -------------------------------------------------------------------

BLOCKED_USERS_SCHEMA = pl.Schema(
    {
        "Display name": pl.String,
        "Username": pl.String,
        "Phone": pl.String,
        "Blocked reason": pl.String,
        "Blocked action": pl.String,
        "Blocked time": pl.String,
        "Blocked by": pl.String,
        "Remediation ID": pl.String,
    }
)


def _phone(user: dict[str, Any]) -> str | None:
    """The user's number, as the blocked users log takes it: the first business phone, else
    the mobile phone."""
    phones = user.get("businessPhones") or []
    return phones[0] if phones else user.get("mobilePhone") or None


def blocked_users_frame(nodes: list[dict[str, Any]]) -> pl.DataFrame:
    """One page of pstnBlockedUsers as the report's rows; the list holds users blocked now,
    so every row's action is Blocked (Teams's log also lists unblocking)."""
    return pl.DataFrame(
        {
            "Display name": [n["user"]["displayName"] for n in nodes],
            "Username": [n["user"]["userPrincipalName"] for n in nodes],
            "Phone": [_phone(n["user"]) for n in nodes],
            "Blocked reason": [n["reason"] for n in nodes],
            "Blocked action": ["Blocked"] * len(nodes),
            "Blocked time": [n["blockedAt"] for n in nodes],
            "Blocked by": [n["blockedBy"] for n in nodes],
            "Remediation ID": [n["remediationId"] for n in nodes],
        },
        schema=BLOCKED_USERS_SCHEMA,
    )


def stream_blocked_users(
    transport: Transport, sink: SheetSink, progress: Callable[[int], None] | None = None
) -> None:
    for nodes in connection_pages(transport, BLOCKED_USERS_PAGE, "pstnBlockedUsers", {}):
        sink.write(blocked_users_frame(nodes))
        if progress is not None:
            progress(len(nodes))


def get_blocked_users_report(transport: Transport) -> pl.DataFrame:
    sink = FrameSink(BLOCKED_USERS_SCHEMA)
    stream_blocked_users(transport, sink)
    return sink.frame()


# -- Communication Credits usage per user -------------------------------------------------

CREDITS_USAGE_SCHEMA = pl.Schema(
    {
        "Display name": pl.String,
        "Username": pl.String,
        "Country or region": pl.String,
        "Charge": pl.String,
        "Spend limit": pl.String,
        "Currency": pl.String,
        "Calls": pl.Int64,
        "Blocked calls": pl.Int64,
        "Blocked by reason": pl.String,
    }
)


def _by_reason(counts: list[dict[str, Any]]) -> str | None:
    """`SPEND_LIMIT_REACHED: 2; USER_BLOCKED: 1`: one column, whatever reasons the server
    has (a column per reason would change the sheet's shape with the data)."""
    shown = "; ".join(f"{c['reason']}: {c['count']}" for c in counts if c["count"])
    return shown or None


def credits_usage_frame(nodes: list[dict[str, Any]]) -> pl.DataFrame:
    def amount(money: dict[str, Any] | None) -> str | None:
        return None if money is None else str(money["amount"])

    return pl.DataFrame(
        {
            "Display name": [n["user"]["displayName"] for n in nodes],
            "Username": [n["user"]["userPrincipalName"] for n in nodes],
            "Country or region": [n["user"]["usageLocation"] for n in nodes],
            "Charge": [amount(n["spent"]) for n in nodes],
            "Spend limit": [amount(n["limit"]) for n in nodes],
            "Currency": [(n["spent"] or n["limit"] or {}).get("currency") for n in nodes],
            "Calls": [n["calls"] for n in nodes],
            "Blocked calls": [n["blockedCalls"] for n in nodes],
            "Blocked by reason": [_by_reason(n["blockedByReason"]) for n in nodes],
        },
        schema=CREDITS_USAGE_SCHEMA,
    )


def stream_credits_usage(
    transport: Transport,
    month: str | None,
    sink: SheetSink,
    progress: Callable[[int], None] | None = None,
) -> None:
    pages = connection_pages(
        transport, CREDITS_USAGE_PAGE, "communicationCreditsUsage", {"month": month}
    )
    for nodes in pages:
        sink.write(credits_usage_frame(nodes))
        if progress is not None:
            progress(len(nodes))


def get_credits_usage_report(transport: Transport, month: str | None = None) -> pl.DataFrame:
    sink = FrameSink(CREDITS_USAGE_SCHEMA)
    stream_credits_usage(transport, month, sink)
    return sink.frame()


# -- the commands -------------------------------------------------------------------------


def _streamed(
    inv: Invocation, schema: pl.Schema, stream: Callable[[Transport, SheetSink, Progress], None]
) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    transport = transport_for(inv)
    progress = Progress(inv, None, "user")
    path = inv.get("Path")
    try:
        with open_output(path if path and path != "-" else inv.stdout, schema) as sink:
            stream(transport, sink, progress)
    finally:
        progress.close()
        transport.close()
    return report_written(inv, sink.rows, started, "users")


def run_minute_pools(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    transport = transport_for(inv)
    try:
        frame = get_minute_pools_report(transport, inv.get("Month"))
    finally:
        transport.close()
    return write_output(inv, frame, started, "minute pools")


def run_blocked_users(inv: Invocation) -> int:
    return _streamed(inv, BLOCKED_USERS_SCHEMA, stream_blocked_users)


def run_credits_usage(inv: Invocation) -> int:
    month = inv.get("Month")
    return _streamed(
        inv, CREDITS_USAGE_SCHEMA, lambda t, sink, p: stream_credits_usage(t, month, sink, p)
    )


MONTH = Param("Month", help="YYYY-MM (default: this month, UTC)", value="YYYY-MM")

COMMANDS = (
    command(
        "Get-CsPstnMinutePoolsReport",
        "Write the PSTN minute pools report: by capability and country, total, used, left.",
        (*SHEET_OUT, MONTH, *TARGET),
        "commcredits Get-CsPstnMinutePoolsReport -Month 2026-11 -Path pools.xlsx",
        run_minute_pools,
        notes="Columns (the admin center's PSTN minute pools report): Country or region "
        "(empty for a tenant-wide pool: audio conferencing dial-out), Capability, Capability "
        "description, Call type (DOMESTIC, INTERNATIONAL, CONFERENCE_DIAL_OUT: a capability has "
        "a pool per type), Total minutes, Minutes used, Minutes available.",
    ),
    command(
        "Get-CsPstnBlockedUsersReport",
        "Write the PSTN blocked users report: users blocked from PSTN calls, with the reason.",
        (*SHEET_OUT, *TARGET),
        "commcredits Get-CsPstnBlockedUsersReport -Path blocked.csv",
        run_blocked_users,
        notes="Columns (the admin center's PSTN blocked users report): Display name, Username "
        "(user principal name), Phone (the first business phone, else the mobile phone), "
        "Blocked reason, Blocked action (Blocked: the report lists users blocked now), Blocked "
        "time (UTC), Blocked by, Remediation ID.",
    ),
    command(
        "Get-CsCommunicationCreditsUsageReport",
        "Write each user's Communication Credits use for a month: charge, limit, calls, blocks.",
        (*SHEET_OUT, MONTH, *TARGET),
        "commcredits Get-CsCommunicationCreditsUsageReport -Month 2026-11 -Path usage.xlsx",
        run_credits_usage,
        notes="Columns (the PSTN usage report's names where it has them): Display name, "
        "Username, Country or region (usage location), Charge (credits spent), Spend limit "
        "(the calling policy's CallingSpendUserLimit; empty: none), Currency, Calls, Blocked "
        "calls, Blocked by reason (`REASON: count; …`, one column whatever the reasons). "
        "Amounts are exact decimal text.",
    ),
)
