"""A tenant's monthly usage by call type and destination country, kept as calls are rated.

`usageSummary` shows these sums; summing the month's call records instead grew with the
tenant (migration 0028). The one rule: a recorded call adds 1 to `calls`, 1 to
`blocked_calls` if it is not RATED, its minutes to `minutes` if it is, and its pool minutes,
charged minutes and charge (a BLOCKED call's are 0) to theirs — in the transaction that
inserts it (`add`, called by calls.insert_calls, the only writer of call records).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from commcredits.db import insert_values
from commcredits.models import UsageMonthLine

if TYPE_CHECKING:
    from commcredits.services.calls import RatedCall

_KEY = ("tenant_id", "month", "call_type", "destination_country")
_SUMS = ("calls", "blocked_calls", "minutes", "pool_minutes", "charged_minutes", "charge_minor")
_TABLE = UsageMonthLine._meta.table_name
_UPSERT = f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET " + ", ".join(
    f"{c} = {_TABLE}.{c} + excluded.{c}" for c in _SUMS
)


def add(tenant_id: int, calls: Iterable[RatedCall]) -> None:
    """Add newly recorded calls to their months' lines: one upsert for the batch."""
    lines: dict[tuple[str, str, str], list[int]] = {}
    for c in calls:
        key = (c.month, c.call_type, c.destination_country)
        sums = lines.get(key)
        if sums is None:
            sums = lines[key] = [0, 0, 0, 0, 0, 0]
        rated = c.status == "RATED"
        sums[0] += 1
        sums[1] += not rated
        sums[2] += c.minutes if rated else 0
        sums[3] += c.pool_minutes
        sums[4] += c.charged_minutes
        sums[5] += c.charge_minor
    rows = [(tenant_id, *key, *sums) for key, sums in sorted(lines.items())]
    insert_values(_TABLE, (*_KEY, *_SUMS), rows, on_conflict=_UPSERT)


def month_lines(tenant_id: int, month: str) -> list[UsageMonthLine]:
    """The month's lines, by call type then country."""
    line = UsageMonthLine
    return list(
        line.select()
        .where((line.tenant == tenant_id) & (line.month == month))
        .order_by(line.call_type, line.destination_country)
    )
