"""Usage: the month's summary and the PSTN usage report export (SPEC §5).

The export has the columns of the Teams admin center's PSTN usage report, then ours. One row
per call; `Capability` names what paid for its minutes: the plan's part number for pool
minutes, `MCOPSTNPP` for minutes paid by Communication Credits, both ("MCOPSTN1, MCOPSTNPP")
for a call split at the end of its pool, empty for a BLOCKED call.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import peewee

from commcredits.clock import utc_instant
from commcredits.models import CallRecord, Tenant
from commcredits.services.errors import DomainError
from commcredits.services.prices import from_minor_units
from commcredits.services.rating import RatedCall

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
    """Minutes from pools, minutes charged and credits spent, by call type and country."""
    month = parse_month(month)
    rated = CallRecord.status == "RATED"
    query = (
        CallRecord.select(
            CallRecord.call_type,
            CallRecord.destination_country,
            peewee.fn.COUNT(CallRecord.id),
            peewee.fn.SUM(peewee.Case(None, [(rated, 0)], 1)),
            peewee.fn.SUM(peewee.Case(None, [(rated, CallRecord.minutes)], 0)),
            peewee.fn.SUM(CallRecord.pool_minutes),
            peewee.fn.SUM(CallRecord.charged_minutes),
            peewee.fn.SUM(CallRecord.charge_minor),
        )
        .where((CallRecord.tenant == tenant.id) & (CallRecord.month == month))
        .group_by(CallRecord.call_type, CallRecord.destination_country)
        .order_by(CallRecord.call_type, CallRecord.destination_country)
        .tuples()
    )
    cur = tenant.currency
    lines = [
        UsageLine(
            call_type=t,
            country=country,
            calls=int(n),
            blocked_calls=int(blocked or 0),
            minutes=int(minutes or 0),
            pool_minutes=int(pool or 0),
            charged_minutes=int(charged or 0),
            credits_spent=from_minor_units(int(charge or 0), cur),
        )
        for t, country, n, blocked, minutes, pool, charged, charge in query
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


def usage_rows(tenant: Tenant, month: str) -> list[dict]:
    """The month's export rows, oldest call first (read in pages of 5,000)."""
    month = parse_month(month)
    rows: list[dict] = []
    last_id = 0
    while True:
        page = list(
            CallRecord.select()
            .where(
                (CallRecord.tenant == tenant.id)
                & (CallRecord.month == month)
                & (CallRecord.id > last_id)
            )
            .order_by(CallRecord.id)
            .limit(5000)
        )
        if not page:
            break
        last_id = page[-1].id
        for row in page:
            call = RatedCall.from_row(row)
            rows.append(
                {
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
            )
    rows.sort(key=lambda r: (r["Time stamp (UTC)"], r["Call ID"]))
    return rows


def export_usage(tenant: Tenant, month: str, out: str | Path) -> int:
    """Write the month's PSTN usage report to .xlsx, .csv or .parquet; returns the row count."""
    import polars as pl

    from commcredits.money import minor_unit

    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv", ".parquet"):
        raise DomainError("UNSUPPORTED_FILE", f"{path.name}: use .xlsx, .csv or .parquet.", "out")
    rows = usage_rows(tenant, month)
    schema = {
        "Time stamp (UTC)": pl.Datetime("us"),
        "Display name": pl.Utf8,
        "Username": pl.Utf8,
        "Call type": pl.Utf8,
        "Called to": pl.Utf8,
        "To country or region": pl.Utf8,
        "Charge": pl.Decimal(18, minor_unit(tenant.currency)),
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
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    elif suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_excel(path, worksheet="PSTN usage", autofit=True)
    return frame.height


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
