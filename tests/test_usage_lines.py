"""usageSummary reads the month's usage lines, kept as calls are rated (migration 0028): the
lines always equal the month's calls summed, and the summary never reads the calls (both
databases)."""

from __future__ import annotations

import peewee

from commcredits import db as database
from commcredits.migrate import migrate, runner
from commcredits.models import CallRecord, Tenant, UsageMonthLine
from commcredits.services import usage_report
from tests.test_migration_call_record_indexes import _call
from tests.test_migrations_with_rows import _old_tenant
from tests.test_rating import call, office, record  # noqa: F401 - the fixture
from tests.test_rating_usage import SUMMARY


def summed_calls() -> dict[tuple, tuple]:
    """Every tenant's calls summed by month, call type and country, from the calls themselves
    (what usageSummary computed before 0028): the oracle."""
    rated = CallRecord.status == "RATED"
    query = (
        CallRecord.select(
            CallRecord.tenant,
            CallRecord.month,
            CallRecord.call_type,
            CallRecord.destination_country,
            peewee.fn.COUNT(CallRecord.id),
            peewee.fn.SUM(peewee.Case(None, [(rated, 0)], 1)),
            peewee.fn.SUM(peewee.Case(None, [(rated, CallRecord.minutes)], 0)),
            peewee.fn.SUM(CallRecord.pool_minutes),
            peewee.fn.SUM(CallRecord.charged_minutes),
            peewee.fn.SUM(CallRecord.charge_minor),
        )
        .group_by(
            CallRecord.tenant,
            CallRecord.month,
            CallRecord.call_type,
            CallRecord.destination_country,
        )
        .tuples()
    )
    return {tuple(row[:4]): tuple(int(v) for v in row[4:]) for row in query}


def kept_lines() -> dict[tuple, tuple]:
    line = UsageMonthLine
    query = line.select(
        line.tenant, line.month, line.call_type, line.destination_country, line.calls,
        line.blocked_calls, line.minutes, line.pool_minutes, line.charged_minutes,
        line.charge_minor,
    ).tuples()  # fmt: skip
    return {tuple(row[:4]): tuple(row[4:]) for row in query}


def test_the_lines_are_the_calls_summed_after_every_batch(api, office):  # noqa: F811
    batches = [
        [
            call("a1", "e5a", "+4989123456", seconds=100 * 60),  # pool
            call("a2", "e5a", "+4989123456", seconds=30 * 60),  # pool, then charged
            call("a3", "de1", "+498001234567", "TOLL_FREE_INBOUND", 150),
            call("a4", "nolic", "+493012345678", seconds=60),  # BLOCKED
            call("a5", "us1", "+442071234567", "INTERNATIONAL", 60),
        ],
        [
            call("a1", "e5a", "+4989123456", seconds=100 * 60),  # a repeat: added once
            call("b1", "payg", "+442071234567", "DOMESTIC", 300),
            call("b2", "de2", "+4930123456", at="2026-10-31T23:59:59Z"),  # another month
            call("b3", "nocred", "+442071234567", "INTERNATIONAL", 60),  # BLOCKED, no credits
        ],
        [call(f"c{i}", ("de1", "de2", "us1")[i % 3], "+4930123456", seconds=61) for i in range(40)],
    ]
    for batch in batches:
        record(api, *batch)
        lines = kept_lines()
        assert lines == summed_calls()
    assert sum(v[0] for v in lines.values()) == 5 + 3 + 40  # the repeat not counted again
    assert {key[1] for key in lines} == {"2026-10", "2026-11"}
    assert sum(blocked for _, blocked, *_ in lines.values()) >= 2
    # The summary shows the lines, the totals their sums.
    summary = api(SUMMARY, {"m": "2026-11"})["usageSummary"]
    nov = {k: v for k, v in lines.items() if k[1] == "2026-11"}
    assert summary["calls"] == sum(v[0] for v in nov.values())
    assert summary["blockedCalls"] == sum(v[1] for v in nov.values())
    assert summary["minutes"] == sum(v[2] for v in nov.values())
    assert [(x["callType"], x["country"]) for x in summary["lines"]] == sorted(
        (k[2], k[3]) for k in nov
    )


def test_the_summary_reads_the_lines_and_never_the_calls(api, office):  # noqa: F811
    record(api, *[call(f"s{i}", "de1", "+4930123456", seconds=90) for i in range(30)])
    tenant = Tenant.get_by_id(office.id)
    with database.count_statements() as statements:
        summary = usage_report.usage_summary(tenant, "2026-11")
    assert summary.calls == 30
    assert len(statements) == 1, statements
    assert "usage_month_line" in statements[0] and "call_record" not in statements[0]


def test_migration_0028_sums_the_calls_already_recorded(blank_url):
    database.bind(blank_url)
    names = [m.name for m in runner().status()]
    before = names[names.index("0028_usage_month_lines") - 1]
    migrate(before)
    with database.db.connection_context():
        first, second = _old_tenant("Fabrikam"), _old_tenant("Contoso")
        for n, (tenant_id, month) in enumerate(
            [(first, "2026-11"), (first, "2026-11"), (first, "2026-12"), (second, "2026-11")]
        ):
            _call(tenant_id, n, month)
    assert "0028_usage_month_lines" in migrate()
    with database.db.connection_context():
        lines = kept_lines()
        assert lines == summed_calls()
        assert lines[(first, "2026-11", "DOMESTIC", "DE")] == (2, 0, 2, 2, 0, 0)
        assert set(lines) == {
            (first, "2026-11", "DOMESTIC", "DE"),
            (first, "2026-12", "DOMESTIC", "DE"),
            (second, "2026-11", "DOMESTIC", "DE"),
        }
