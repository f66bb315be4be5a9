"""The Teams admin center's *Communication Credits usage per user* report (issue 17, item 4).

One row per user with a call record (rated or blocked) in the month, in user id order
(keyset pages): what the user's calls took from credits (`spent`, the spend limits' figure,
services/spend_limits.py), the limit their calling policy sets now (null: none), their calls
and their blocked calls by reason. Calls of users deleted since are not listed (their records
keep the names; the usage report, services/usage_report.py, still counts them).

Two statements per page, whatever its size: the page's users with their call counts by
status and reason, then their names, spend and calling policies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.db import db
from commcredits.models import CallRecord, Tenant
from commcredits.money import Money
from commcredits.services.pools import month_of
from commcredits.services.spend_limits import UserSpend, spend_by_user_ids
from commcredits.services.usage_report import parse_month


@dataclass(frozen=True)
class UsageRow:
    id: int  # the user's id: the page's sort key
    spend: UserSpend
    calls: int
    blocked_calls: int
    blocked_by_reason: list[tuple[str, int]]  # (reason, count), by reason

    @property
    def spent(self) -> Money:
        return self.spend.spent

    @property
    def limit(self) -> Money | None:
        return self.spend.effective.policy.limit if self.limited else None

    @property
    def limited(self) -> bool:
        return self.spend.effective.policy.applied_limit_minor is not None


def report_month(month: str | None, *, now: dt.datetime) -> str:
    return month_of(now) if month is None else parse_month(month)


def usage_page(tenant: Tenant, month: str, *, after: int | None, size: int) -> list[UsageRow]:
    """Up to `size` + 1 rows (the extra one says there is a next page) after user id `after`."""
    p = db.param
    rows = db.execute_sql(
        "SELECT c.user_id, c.status, c.reason, COUNT(*) FROM call_record c "
        f"WHERE c.tenant_id = {p} AND c.month = {p} AND c.user_id IN ("
        "SELECT DISTINCT d.user_id FROM call_record d "
        f"WHERE d.tenant_id = {p} AND d.month = {p} AND d.user_id > {p} "
        f"ORDER BY d.user_id LIMIT {p}) "
        "GROUP BY c.user_id, c.status, c.reason",
        (tenant.id, month, tenant.id, month, after or 0, size + 1),
    ).fetchall()
    calls: dict[int, int] = {}
    blocked: dict[int, dict[str, int]] = {}
    for user_id, status, reason, n in rows:
        calls[user_id] = calls.get(user_id, 0) + n
        if status == "BLOCKED":
            by_reason = blocked.setdefault(user_id, {})
            by_reason[reason or ""] = by_reason.get(reason or "", 0) + n
    spend = spend_by_user_ids(calls, month=month) if calls else {}
    page = []
    for user_id in sorted(calls):
        if user_id not in spend:  # deleted between the two statements
            continue
        reasons = sorted(blocked.get(user_id, {}).items())
        page.append(
            UsageRow(user_id, spend[user_id], calls[user_id], sum(n for _, n in reasons), reasons)
        )
    return page


def count_users(tenant: Tenant, month: str) -> int:
    """The report's rows in all (totalCount, only when asked)."""
    return (
        CallRecord.select(CallRecord.user)
        .where(
            (CallRecord.tenant == tenant.id)
            & (CallRecord.month == month)
            & CallRecord.user.is_null(False)
        )
        .distinct()
        .count()
    )
