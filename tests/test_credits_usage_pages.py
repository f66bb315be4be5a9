"""`communicationCreditsUsage` on large tenants (issue 16, services/credits_usage_report.py):
a page costs the same statements doing the same work whatever the month's users, first page
or deep, before any ANALYZE; `totalCount` stops at COUNT_CAP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from commcredits import db as database
from commcredits.models import CallRecord, Tenant, User
from commcredits.services import credits_usage_report, list_counts
from commcredits.services.list_counts import Count
from tests.helpers import numbered_upn, other_tenant, rows_read, sqlite_steps, statements_sent

MONTH = "2026-11"
AT = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


def _calls(tenant: Tenant, users: int, domain: str) -> list[int]:
    """`users` users with three calls each in MONTH (one blocked), in bulk; their ids."""
    upns = [numbered_upn(i, domain) for i in range(users)]
    rows = [
        {"tenant": tenant.id, "user_principal_name": u, "upn_key": u, "search_text": u,
         "created_at": AT, "updated_at": AT}
        for u in upns
    ]  # fmt: skip
    with database.db.atomic():
        for start in range(0, users, 500):
            User.insert_many(rows[start : start + 500]).execute()
    query = User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)
    ids = [u for (u,) in query.tuples()]
    calls = [
        {"tenant": tenant.id, "call_id": f"{domain}-{uid}-{k}", "user": uid,
         "user_principal_name": upns[n], "started_at": AT, "month": MONTH,
         "duration_seconds": 60, "destination": "+4930123456", "call_type": "DOMESTIC",
         "status": "BLOCKED" if k == 2 else "RATED",
         "reason": "USER_BLOCKED" if k == 2 else None, "currency": "EUR", "rated_at": AT}
        for n, uid in enumerate(ids)
        for k in range(3)
    ]  # fmt: skip
    with database.db.atomic():
        for start in range(0, len(calls), 500):
            CallRecord.insert_many(calls[start : start + 500]).execute()
    return ids


def _work(read: Callable[[], Any], *, as_if_large: bool = False) -> list[tuple[str, int]]:
    """Each statement `read` sent and the work it did: SQLite's steps, PostgreSQL's rows read
    (no ANALYZE has run: the plans are those of a database right after an import).
    `as_if_large` (PostgreSQL): sequential scans and hash and merge joins off, as a planner
    weighs them against index lookups on tables far larger than a test's, where reading a
    small table whole is its cheapest plan: what is measured is whether the statement lets
    a page's rows be found by index at all."""
    done = []
    for sql, params in statements_sent(read):
        if database.is_sqlite():
            done.append((sql, sqlite_steps(sql, params)))
            continue
        with database.db.atomic():
            if as_if_large:
                for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                    database.db.execute_sql(f"SET LOCAL {setting} = off")
            plan = database.db.execute_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = plan.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        done.append((sql, rows_read(plan[0]["Plan"])))
    return done


def _page(tenant: Tenant, after: int | None) -> Callable[[], Any]:
    return lambda: credits_usage_report.usage_page(tenant, MONTH, after=after, size=20)


def test_a_page_costs_the_same_for_twenty_times_the_users(tenant, clock):
    small_ids = _calls(tenant, 50, "small")
    large_tenant = other_tenant(clock())
    large_ids = _calls(large_tenant, 1000, "large")
    page = credits_usage_report.usage_page(large_tenant, MONTH, after=None, size=20)
    assert [r.id for r in page] == large_ids[:21] and page[0].calls == 3
    assert page[0].blocked_by_reason == [("USER_BLOCKED", 1)]
    for after in (None, 30):  # the first page, and a page after the 30th user
        small = _work(_page(tenant, after and small_ids[after]))
        large = _work(_page(large_tenant, after and large_ids[after]))
        assert [sql[:40] for sql, _ in small] == [sql[:40] for sql, _ in large]
        assert len(small) == 4  # users, their calls, their spend and policies, group grants
        for (sql, a), (_, b) in zip(small, large, strict=True):
            # The same rows each (SQLite's steps differ by a tenth between the first tenant
            # and the next, the same from 1,000 to 4,000 users), where a walk of the month
            # would read 20 times more.
            assert b <= a + a // 5 + 5, (sql, a, b)


def test_total_count_stops_at_the_cap(tenant, monkeypatch):
    _calls(tenant, 12, "few")
    assert credits_usage_report.count_users(tenant, MONTH) == Count(12, False)
    monkeypatch.setattr(list_counts, "COUNT_CAP", 5)
    assert credits_usage_report.count_users(tenant, MONTH) == Count(5, True)
    assert credits_usage_report.count_users(tenant, "2026-10") == Count(0, False)


def _grant_each(tenant: Tenant, ids: list[int], now) -> None:
    """A calling policy and a dial-out policy granted to each user, and global ones."""
    from commcredits.services import calling_policies, calling_policy_grants, dial_out
    from commcredits.services.access import SYSTEM
    from commcredits.services.calling_policy_input import PolicyInput

    for name in ("Capped", "Everyone"):
        policy = PolicyInput(name=name, enable_spend_limits=True, calling_spend_user_limit=5)
        calling_policies.create_calling_policy(tenant, SYSTEM, policy, now=now)
    calling_policy_grants.grant_calling_policy(tenant, SYSTEM, None, "Everyone", now=now)
    dial_out.grant_dial_out_policy(tenant, SYSTEM, None, "DialoutCPCandPSTNDomestic", now=now)
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        calling_policy_grants.grant_calling_policy(tenant, SYSTEM, part, "Capped", now=now)
        dial_out.grant_dial_out_policy(tenant, SYSTEM, part, "DialoutCPCDisabledPSTNDomestic",
                                       now=now)  # fmt: skip


def test_a_page_of_users_policies_costs_the_same_for_twenty_times_the_grants(tenant, clock):
    """The users pages' and the report's policy reads (a page of users: their own grant and
    their tenant's global one) read the page's grants, not every grant of the tenant (or of
    the database): a page costs the same before and after another tenant grants 20 times
    as many, and that tenant's page the same again."""
    from commcredits.services import dial_out, spend_limits

    small_ids = _calls(tenant, 50, "small")
    _grant_each(tenant, small_ids, clock())
    reads = (
        lambda ids: spend_limits.spend_by_user_ids(ids[:20], month=MONTH),
        lambda ids: dial_out.effective_by_user_ids(ids[:20]),
    )
    before = [_work(lambda r=read: r(small_ids), as_if_large=True) for read in reads]
    large_tenant = other_tenant(clock())
    large_ids = _calls(large_tenant, 1000, "large")
    _grant_each(large_tenant, large_ids, clock())
    found = spend_limits.spend_by_user_ids(large_ids[:20], month=MONTH)
    assert {s.effective.policy.name for s in found.values()} == {"Capped"}
    assert {p.policy.name for p in dial_out.effective_by_user_ids(large_ids[:20]).values()} == {
        "DialoutCPCDisabledPSTNDomestic"
    }
    for read, first in zip(reads, before, strict=True):
        for ids in (small_ids, large_ids):
            again = _work(lambda r=read, i=ids: r(i), as_if_large=True)
            for (sql, a), (_, b) in zip(first, again, strict=True):
                assert b <= a + a // 5 + 5, (sql, a, b)


def test_users_of_several_statements_each_get_their_spend_and_policy(tenant, clock, monkeypatch):
    """More users than one statement reads (CHUNK): every one answered, each with its own
    grant or else the global one."""
    from commcredits.services import spend_limits

    ids = _calls(tenant, 7, "chunks")
    _grant_each(tenant, ids[:4], clock())
    monkeypatch.setattr(spend_limits, "CHUNK", 3)
    found = spend_limits.spend_by_user_ids(ids, month=MONTH)
    assert sorted(found) == ids
    assert [found[u].effective.policy.name for u in ids] == ["Capped"] * 4 + ["Everyone"] * 3
