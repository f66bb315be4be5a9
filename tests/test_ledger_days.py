"""The balance history reads `ledger_day`, kept as ledger entries are written (migration 0030):
the kept days always equal each day's last entry, the history draws exactly the points the
entries gave before (the old two-statement read over the entries is the oracle here), it reads
two statements over `ledger_day` and never the ledger whatever its size (a third over one day's
entries only when today's last entry is later than `now`), and the migration fills the days of
a database that already has entries. Both databases."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal as D

import peewee

from commcredits import db as database
from commcredits.migrate import migrate, runner
from commcredits.models import LedgerDay, LedgerEntry, Tenant
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from commcredits.services.credits.history import BalancePoint, check_days
from tests.test_migrations_with_rows import _insert, _old_tenant
from tests.test_rating import call, office, record  # noqa: F401 - the fixture

MIGRATION = "0030_ledger_days"
backfill = importlib.import_module(f"commcredits.migrations.{MIGRATION}").backfill


def old_history(tenant: Tenant, *, now: dt.datetime, days: int) -> list[BalancePoint]:
    """balance_history before 0030, over the entries themselves: the oracle."""
    days = check_days(days)
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    mine = LedgerEntry.tenant == tenant.id
    opening = (
        LedgerEntry.select(LedgerEntry.balance_after_minor)
        .where(mine & (LedgerEntry.created_at < start))
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
        .scalar()
    )
    day = peewee.fn.DATE(LedgerEntry.created_at)
    last_of_day = (
        LedgerEntry.select(peewee.fn.MAX(LedgerEntry.seq))
        .where(mine & (LedgerEntry.created_at >= start) & (LedgerEntry.created_at <= now))
        .group_by(day)
    )
    closing: dict[dt.date, int] = {}
    for created_at, minor in (
        LedgerEntry.select(LedgerEntry.created_at, LedgerEntry.balance_after_minor)
        .where(mine & LedgerEntry.seq.in_(last_of_day))
        .tuples()
    ):
        closing[LedgerEntry.created_at.python_value(created_at).date()] = minor
    points = []
    balance = int(opening or 0)
    for offset in range(days):
        when = first + dt.timedelta(days=offset)
        balance = closing.get(when, balance)
        points.append(BalancePoint(when, Money.from_minor(balance, tenant.currency)))
    return points


def days_from_entries() -> dict[tuple[int, str], tuple]:
    """Each tenant's last entry (highest seq) of each UTC day, from the ledger itself."""
    found: dict[tuple[int, str], tuple] = {}
    for e in LedgerEntry.select().order_by(LedgerEntry.seq):
        found[(e.tenant_id, e.created_at.date().isoformat())] = (
            e.seq,
            e.balance_after_minor,
            e.created_at,
        )
    return found


def kept_days() -> dict[tuple[int, str], tuple]:
    return {
        (d.tenant_id, d.day): (d.last_seq, d.balance_after_minor, d.last_at)
        for d in LedgerDay.select()
    }


def test_the_days_follow_the_ledger_and_the_history_is_the_old_one(api, office, clock):  # noqa: F811
    tenant = office  # funded 20.00 EUR at T0 (2026-11-25 10:00 UTC)

    def payg_call(call_id: str, minutes: int) -> None:  # GB, no pool: 0.0180 a minute
        at = (clock() - dt.timedelta(minutes=minutes + 1)).isoformat()
        record(api, call(call_id, "payg", "+442071234567", "DOMESTIC", minutes * 60, at=at))

    def debit(amount: str, ref: str) -> None:
        money = Money(D(amount), "EUR")
        credits.debit(tenant, SYSTEM, money, reference=ref, idempotency_key=None, now=clock())

    steps = [
        lambda: payg_call("c1", 30),
        lambda: debit("1.00", "d1"),
        lambda: clock.advance(hours=13, minutes=59, seconds=59),  # 23:59:59, the day's end
        lambda: debit("0.25", "d2"),
        lambda: clock.advance(seconds=1),  # 00:00:00 the next day
        lambda: payg_call("c2", 10),
        lambda: clock.advance(days=2, hours=7),
        lambda: credits.purchase_credits(
            tenant, SYSTEM, D("50.00"), idempotency_key="p2", now=clock()
        ),
        lambda: credits.adjust_credits(
            tenant, SYSTEM, D("5.00"), reason="goodwill", idempotency_key="a1", now=clock()
        ),
        lambda: credits.adjust_credits(
            tenant, SYSTEM, D("-2.00"), reason="correction", idempotency_key="a2", now=clock()
        ),
        lambda: credits.configure_auto_recharge(
            tenant,
            SYSTEM,
            enabled=True,
            recharge_amount=D("10.00"),
            trigger_balance=D("71.00"),
            now=clock(),
        ),
        lambda: payg_call("c3", 60),  # under 71.00: an automatic recharge of 10.00
        lambda: clock.advance(hours=-30),  # the clock goes back a day: a later seq, earlier
        lambda: debit("0.50", "back"),
        lambda: clock.advance(hours=48),  # the 29th: the 27th holds the highest seq before it
        lambda: debit("0.10", "d3"),
        lambda: clock.advance(days=370),  # every lot past its 12 months
        lambda: credits.expire_credits(now=clock(), tenant=tenant),
        lambda: credits.purchase_credits(
            tenant, SYSTEM, D("7.00"), idempotency_key="p3", now=clock()
        ),
    ]
    for step in steps:
        step()
        assert kept_days() == days_from_entries()
    entries = list(LedgerEntry.select().where(LedgerEntry.tenant == tenant.id))
    kinds = {e.kind for e in entries}
    assert {"FUNDED", "CONSUMED", "EXPIRED", "ADJUSTED"} <= kinds, kinds
    assert sum(e.kind == "FUNDED" for e in entries) >= 4  # 20.00, 50.00, the recharge, 7.00
    seqs = [e.seq for e in sorted(entries, key=lambda e: (e.created_at, e.seq))]
    assert seqs != sorted(seqs)  # the clock did go back

    # `now`s around every entry (before, at, after it), at day boundaries, and before entries
    # that exist (history read in the past), over windows of several lengths.
    moments = {clock()}
    for e in entries:
        start = dt.datetime.combine(e.created_at.date(), dt.time(), dt.UTC)
        moments |= {e.created_at, e.created_at - dt.timedelta(seconds=1)}
        moments |= {e.created_at + dt.timedelta(hours=1), start, start - dt.timedelta(seconds=1)}
    compared = fallbacks = 0
    for now in sorted(moments):
        today_last = LedgerDay.get_or_none(
            (LedgerDay.tenant == tenant.id) & (LedgerDay.day == now.date().isoformat())
        )
        fallbacks += today_last is not None and today_last.last_at > now
        for days in (1, 2, 3, 7, 90, 366):
            got = credits.balance_history(tenant, now=now, days=days)
            assert got == old_history(tenant, now=now, days=days), (now, days)
            compared += 1
    assert compared > 100 and fallbacks >= 3, (compared, fallbacks)
    final = credits.balance_history(tenant, now=clock(), days=1)[0].balance
    assert final == credits.current_balance(tenant, now=clock())


def _direct_entries(tenant_id: int, count: int, end: dt.datetime) -> None:
    """`count` entries over the 120 days before `end`, inserted around the ledger (the read's
    statements are measured, not the entries' realism), their days filled as 0030 fills them."""
    step = dt.timedelta(days=120) / count
    rows = [
        {
            "tenant": tenant_id,
            "seq": n + 1,
            "kind": "CONSUMED",
            "amount_minor": -1,
            "balance_after_minor": 1_000_000 - n,
            "currency": "EUR",
            "created_at": end - dt.timedelta(days=120) + step * n,
        }
        for n in range(count)
    ]
    for start in range(0, count, 200):
        LedgerEntry.insert_many(rows[start : start + 200]).execute()
    backfill(database.db, f"WHERE tenant_id = {int(tenant_id)}")


def test_history_reads_two_statements_of_days_never_the_ledger(tenant, clock):
    from tests.helpers import other_tenant

    now = clock()
    large = other_tenant(now)
    large.currency = "EUR"
    _direct_entries(tenant.id, 20, now - dt.timedelta(hours=1))
    _direct_entries(large.id, 3000, now - dt.timedelta(hours=1))
    assert kept_days() == days_from_entries()
    seen = {}
    for name, who in (("small", tenant), ("large", large)):
        with database.count_statements() as statements:
            points = credits.balance_history(who, now=now, days=90)
        assert points == old_history(who, now=now, days=90)
        seen[name] = statements
    assert len(seen["small"]) == len(seen["large"]) == 2, seen
    for sql in seen["large"]:
        assert sql.lstrip().upper().startswith("SELECT"), sql
        assert "ledger_day" in sql and "ledger_entry" not in sql, sql

    # Today's last entry later than `now`: today alone is read from the ledger, to `now`.
    earlier = now - dt.timedelta(hours=2)
    with database.count_statements() as statements:
        points = credits.balance_history(large, now=earlier, days=90)
    assert points == old_history(large, now=earlier, days=90)
    assert len(statements) == 3, statements
    assert all("ledger_entry" not in sql for sql in statements[:2]), statements
    assert "ledger_entry" in statements[2] and "created_at" in statements[2], statements


def test_a_flush_upserts_its_days_in_one_statement(tenant, clock):
    credits.purchase_credits(tenant, SYSTEM, D("10.00"), idempotency_key="k1", now=clock())
    money = Money(D("1.00"), "EUR")
    with database.count_statements() as statements:
        credits.debit(tenant, SYSTEM, money, reference="r", idempotency_key=None, now=clock())
    writes = [s for s in statements if "ledger_day" in s]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0].upper(), writes
    day = LedgerDay.get(LedgerDay.tenant == tenant.id)
    assert (day.day, day.last_seq, day.balance_after_minor) == (clock().date().isoformat(), 2, 900)


def test_migration_0030_fills_the_days_of_existing_entries(blank_url):
    database.bind(blank_url)
    names = [m.name for m in runner().status()]
    migrate(names[names.index(MIGRATION) - 1])
    base = dt.datetime(2026, 12, 1, 23, 0)  # naive UTC, as the column holds it
    with database.db.connection_context():
        first, second = _old_tenant("Fabrikam"), _old_tenant("Contoso")
        # (tenant, seq, balance after, hours after `base`): a day with three entries, the
        # highest seq on a day being an earlier time (a clock that went back), the midnight.
        rows = [(first, 1, 1000, 0), (first, 2, 900, 0.5), (first, 3, 800, 1), (first, 4, 700, 5),
                (first, 5, 600, 0.9), (first, 6, 500, 30), (second, 1, 42, 2)]  # fmt: skip
        for tenant_id, seq, minor, hours in rows:
            _insert(
                "ledger_entry",
                {"tenant_id": tenant_id, "seq": seq, "kind": "CONSUMED", "amount_minor": -1,
                 "postpaid_minor": 0, "balance_after_minor": minor, "currency": "EUR",
                 "reference": "", "usage_kind": "", "reason": "",
                 "created_at": base + dt.timedelta(hours=hours)},
            )  # fmt: skip
    assert MIGRATION in migrate()
    with database.db.connection_context():
        kept = kept_days()
        assert kept == days_from_entries()
        assert {k: v[:2] for k, v in kept.items()} == {
            (first, "2026-12-01"): (5, 600),  # 23:54, after seq 3 and 4 of the 2nd
            (first, "2026-12-02"): (4, 700),  # seq 3 at 00:00:00 is the 2nd's
            (first, "2026-12-03"): (6, 500),
            (second, "2026-12-02"): (1, 42),
        }
        tenant = Tenant.get_by_id(first)
        now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
        assert credits.balance_history(tenant, now=now, days=4) == old_history(
            tenant, now=now, days=4
        )
