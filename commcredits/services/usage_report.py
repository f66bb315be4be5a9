"""Usage: the month's summary and the PSTN usage report export (SPEC §5).

The export has the columns of the Teams admin center's PSTN usage report, then ours. One row
per call; `Capability` names what paid for its minutes: the plan's part number for pool
minutes, `MCOPSTNPP` for minutes paid by Communication Credits, both ("MCOPSTN1, MCOPSTNPP")
for a call split at the end of its pool, empty for a BLOCKED call.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import peewee

from commcredits.clock import utc_instant
from commcredits.db import is_sqlite
from commcredits.models import CallRecord, Tenant
from commcredits.services import usage_lines
from commcredits.services.errors import DomainError
from commcredits.services.prices import from_minor_units
from commcredits.services.rating import RatedCall

if TYPE_CHECKING:  # polars is imported by the export alone: the server never needs it
    import polars as pl

# ASCII digits only (\d also takes "٢٠٢٦"); fullmatch ('$' would also take a trailing newline).
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")

EXPORT_COLUMNS = (
    "Time stamp (UTC)",
    "Display name",
    "Username",
    "Call type",
    "Called to",
    "To country or region",
    "Charge",
    "Currency",
    "Duration",
    "Domestic/International",
    "Call ID",
    "Capability",
    "Pool minutes",
    "Charged minutes",
    "Status",
    "Reason",
)


def month_or_current(value: str | None, *, now: dt.datetime, field: str = "month") -> str:
    """A month argument that defaults to the UTC month of `now` ("this month")."""
    if value is None:
        return f"{now.astimezone(dt.UTC):%Y-%m}"
    return parse_month(value, field=field)


def parse_month(value: str, *, field: str = "month") -> str:
    """`YYYY-MM`, or INVALID_MONTH."""
    text = (value or "").strip()
    if not _MONTH.fullmatch(text):
        raise DomainError("INVALID_MONTH", f"'{value}' is not a month like 2026-11.", field)
    return text


@dataclass(frozen=True)
class UsageLine:
    call_type: str
    country: str
    calls: int
    blocked_calls: int
    minutes: int
    pool_minutes: int
    charged_minutes: int
    credits_spent: Decimal


@dataclass(frozen=True)
class UsageSummary:
    month: str
    currency: str
    calls: int
    blocked_calls: int
    minutes: int
    pool_minutes: int
    charged_minutes: int
    credits_spent: Decimal
    lines: list[UsageLine]


def usage_summary(tenant: Tenant, month: str) -> UsageSummary:
    """Minutes from pools, minutes charged and credits spent, by call type and country: the
    month's usage lines (usage_lines, kept as calls are rated), never its calls."""
    month = parse_month(month)
    cur = tenant.currency
    lines = [
        UsageLine(
            call_type=row.call_type,
            country=row.destination_country,
            calls=row.calls,
            blocked_calls=row.blocked_calls,
            minutes=row.minutes,
            pool_minutes=row.pool_minutes,
            charged_minutes=row.charged_minutes,
            credits_spent=from_minor_units(row.charge_minor, cur),
        )
        for row in usage_lines.month_lines(tenant.id, month)
    ]
    return UsageSummary(
        month=month,
        currency=cur,
        calls=sum(x.calls for x in lines),
        blocked_calls=sum(x.blocked_calls for x in lines),
        minutes=sum(x.minutes for x in lines),
        pool_minutes=sum(x.pool_minutes for x in lines),
        charged_minutes=sum(x.charged_minutes for x in lines),
        credits_spent=sum((x.credits_spent for x in lines), from_minor_units(0, cur)),
        lines=lines,
    )


EXPORT_PAGE = 10_000  # call records read and written at a time


def _export_row(row: CallRecord) -> dict:
    call = RatedCall.from_row(row)
    return {
        "Time stamp (UTC)": call.started_at.replace(tzinfo=None),
        "Display name": call.display_name,
        "Username": call.user_principal_name,
        "Call type": call.call_type,
        "Called to": call.destination,
        "To country or region": call.destination_country,
        "Charge": call.charge,
        "Currency": call.currency,
        "Duration": call.duration_seconds,
        "Domestic/International": "Domestic" if call.domestic else "International",
        "Call ID": call.call_id,
        "Capability": call.capability,
        "Pool minutes": call.pool_minutes,
        "Charged minutes": call.charged_minutes,
        "Status": call.status,
        "Reason": call.reason or "",
    }


def usage_pages(tenant: Tenant, month: str, *, size: int | None = None) -> Iterator[list[dict]]:
    """The month's export rows, oldest call first (call id between calls of one instant), in
    pages of `size`: one query whose rows are read as they are taken, so a month of a million
    calls is never held whole.

    Keyset pages would need an index on (tenant, month, started_at, call_id) to avoid sorting
    the month once per page; one ordered statement sorts it once (SQLite's sorter and
    PostgreSQL's work_mem spill to disk past their bounds). On SQLite the statement's cursor
    is stepped as rows are taken; on PostgreSQL psycopg2 would fetch the whole result, so the
    statement runs as a server-side cursor (DECLARE/FETCH) in a read-only transaction."""
    month = parse_month(month)
    size = size or EXPORT_PAGE
    query = (
        CallRecord.select()
        .where((CallRecord.tenant == tenant.id) & (CallRecord.month == month))
        # Python's order of call ids (code points): SQLite's BINARY, PostgreSQL's "C".
        .order_by(
            CallRecord.started_at,
            CallRecord.call_id if is_sqlite() else CallRecord.call_id.collate('"C"'),
        )
    )
    if is_sqlite():
        rows = query.iterator()
        while page := [_export_row(r) for r in itertools.islice(rows, size)]:
            yield page
        return
    yield from _server_side_pages(query, size)


def _server_side_pages(query: peewee.ModelSelect, size: int) -> Iterator[list[dict]]:
    database = query.model._meta.database
    sql, params = query.sql()
    with database.atomic():
        database.execute_sql("SET TRANSACTION READ ONLY")
        # The cursor ends with the transaction, however the caller stops taking pages.
        database.execute_sql(f"DECLARE usage_export NO SCROLL CURSOR FOR {sql}", params)
        while True:
            cursor = database.execute_sql(f"FETCH FORWARD {int(size)} FROM usage_export")
            # peewee's own wrapper turns the rows into models (as its ServerSide query does).
            page = [_export_row(r) for r in query._get_cursor_wrapper(cursor)]
            if not page:
                return
            yield page


def usage_rows(tenant: Tenant, month: str) -> list[dict]:
    """The month's export rows, oldest call first, all at once (small months, tests)."""
    return [row for page in usage_pages(tenant, month) for row in page]


def export_schema(currency: str) -> dict[str, pl.DataType]:
    import polars as pl

    from commcredits.money import minor_unit

    return {
        "Time stamp (UTC)": pl.Datetime("us"),
        "Display name": pl.Utf8,
        "Username": pl.Utf8,
        "Call type": pl.Utf8,
        "Called to": pl.Utf8,
        "To country or region": pl.Utf8,
        "Charge": pl.Decimal(18, minor_unit(currency)),
        "Currency": pl.Utf8,
        "Duration": pl.Int64,
        "Domestic/International": pl.Utf8,
        "Call ID": pl.Utf8,
        "Capability": pl.Utf8,
        "Pool minutes": pl.Int64,
        "Charged minutes": pl.Int64,
        "Status": pl.Utf8,
        "Reason": pl.Utf8,
    }


def export_usage(tenant: Tenant, month: str, out: str | Path) -> int:
    """Write the month's PSTN usage report to .xlsx, .csv or .parquet; returns the row count.

    Written a page at a time (`usage_pages`, `commcredits.sheet_stream`): memory stays
    bounded whatever the month holds. A month of more calls than a worksheet holds raises
    `sheet_stream.SheetTooLarge` for .xlsx (and leaves no file)."""
    import polars as pl

    from commcredits.sheet_stream import sheet_sink

    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv", ".parquet"):
        raise DomainError("UNSUPPORTED_FILE", f"{path.name}: use .xlsx, .csv or .parquet.", "out")
    month = parse_month(month)
    schema = export_schema(tenant.currency)
    with sheet_sink(
        path,
        schema,
        csv_options={"datetime_format": "%Y-%m-%dT%H:%M:%SZ"},
        worksheet="PSTN usage",
    ) as sink:
        for page in usage_pages(tenant, month):
            sink.write(pl.DataFrame(page, schema=schema, orient="row"))
    return sink.rows


def first_of_month(month: str) -> dt.datetime:
    year, mon = (int(p) for p in parse_month(month).split("-"))
    return dt.datetime(year, mon, 1, tzinfo=dt.UTC)


@dataclass
class CallFilter:
    user: int | str | None = None  # user id or user principal name
    started_from: dt.datetime | None = None
    started_to: dt.datetime | None = None
    status: str | None = None
    call_type: str | None = None


def call_records_query(tenant: Tenant, flt: CallFilter | None = None) -> peewee.ModelSelect:
    """The tenant's call records matching a filter, unordered (callers page it)."""
    flt = flt or CallFilter()
    query = CallRecord.select().where(CallRecord.tenant == tenant.id)
    if isinstance(flt.user, int):
        query = query.where(CallRecord.user == flt.user)
    elif isinstance(flt.user, str) and flt.user.strip():
        # By the name kept on the record, so calls of a deleted user still show.
        query = query.where(
            peewee.fn.LOWER(CallRecord.user_principal_name) == flt.user.strip().lower()
        )
    if flt.started_from is not None:
        query = query.where(CallRecord.started_at >= utc_instant(flt.started_from, "from"))
    if flt.started_to is not None:
        query = query.where(CallRecord.started_at < utc_instant(flt.started_to, "to"))
    if flt.status:
        query = query.where(CallRecord.status == flt.status)
    if flt.call_type:
        query = query.where(CallRecord.call_type == flt.call_type)
    return query
