"""The Teams admin center's *Communication Credits usage per user* report (issue 17, item 4).

One row per user with a call record (rated or blocked) in the month, in user id order
(keyset pages): what the user's calls took from credits (`spent`, the spend limits' figure,
services/spend_limits.py), the limit their calling policy sets now (null: none), their calls
and their blocked calls by reason. Calls of users deleted since are not listed (their records
keep the names; the usage report, services/usage_report.py, still counts them).

Three statements per page (four with group policies), whatever its size and the tenant's:
the page's users (a range of the (tenant, month, user) index), their calls by status and
reason (the same range, up to the page's last user), then their names, spend and calling
policies (services/spend_limits.py). The users come first on their own: as one statement
with the counts (`user_id IN (SELECT DISTINCT … LIMIT n)`), PostgreSQL without statistics
ran the subquery again for each of the month's calls, 11 ms against 0.08 ms at 50,000 users
(bench_scale.py). `totalCount` counts the month's users up to COUNT_CAP.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.db import db
from commcredits.models import CallRecord, Tenant
from commcredits.money import Money
from commcredits.services.list_counts import Count, capped_count
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
    users = [
        user_id
        for (user_id,) in db.execute_sql(
            "SELECT DISTINCT user_id FROM call_record "
            f"WHERE tenant_id = {p} AND month = {p} AND user_id > {p} "
            f"ORDER BY user_id LIMIT {p}",
            (tenant.id, month, after or 0, size + 1),
        )
    ]
    if not users:
        return []
    # The page's calls are one range of the index: its users are the month's next ones, so
    # a range (never an IN list, which PostgreSQL without statistics read as a filter over
    # the whole month) reads theirs alone.
    rows = db.execute_sql(
        "SELECT user_id, status, reason, COUNT(*) FROM call_record "
        f"WHERE tenant_id = {p} AND month = {p} AND user_id > {p} AND user_id <= {p} "
        "GROUP BY user_id, status, reason",
        (tenant.id, month, after or 0, users[-1]),
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


def count_users(tenant: Tenant, month: str) -> Count:
    """The report's rows in all (totalCount, only when asked), up to COUNT_CAP: the month's
    distinct users through the (tenant, month, user) index."""
    return capped_count(
        CallRecord.select(CallRecord.user)
        .where(
            (CallRecord.tenant == tenant.id)
            & (CallRecord.month == month)
            & CallRecord.user.is_null(False)
        )
        .distinct()
    )
