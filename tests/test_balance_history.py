"""The balance history (issue 14, item 2): one point per UTC day from the ledger, in two SQL
statements whatever the ledger's size, read-only; `balance { history(days) }` in GraphQL; the
ledger's `from`/`to` filter; and the vendored uPlot the console draws it with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import importlib.util
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from commcredits import db as database
from commcredits.models import LedgerEntry
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError

ROOT = Path(__file__).resolve().parent.parent
UPLOT = ROOT / "commcredits" / "console" / "static" / "vendor" / "uplot"
UPLOT_LICENSE = ROOT / "commcredits" / "console" / "vendor-licenses" / "uplot"

HISTORY = """query($days: Int!) { tenant { balance {
  amount history(days: $days) { date balance { amount currency } } } } }"""
LEDGER = """query($f: CreditTransactionFilter) { tenant {
  creditTransactions(first: 50, filter: $f) { totalCount nodes { sequence kind reference } } } }"""


def buy(tenant, when: dt.datetime, amount: str, key: str):
    return credits.purchase_credits(tenant, SYSTEM, D(amount), idempotency_key=key, now=when)


def spend(tenant, when: dt.datetime, amount: str, ref: str = "call"):
    return credits.debit(
        tenant, SYSTEM, Money(D(amount), "EUR"), reference=ref, idempotency_key=None, now=when
    )


def at(day: str, time: str = "12:00:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}+00:00")


def by_day(points) -> dict[str, D]:
    return {p.day.isoformat(): p.balance.amount for p in points}


def test_no_ledger_is_ninety_days_of_zero(tenant, clock):
    points = credits.balance_history(tenant, now=clock())
    assert len(points) == 90
    assert points[-1].day == clock().date() and points[0].day == clock().date() - dt.timedelta(89)
    assert {p.balance for p in points} == {Money(D("0.00"), "EUR")}
    assert [p.day for p in points] == sorted(p.day for p in points)


def test_purchases_debits_and_expiry_by_utc_day(tenant):
    # Before the window: the opening balance. Day boundaries at 00:00:00 UTC.
    buy(tenant, at("2026-01-10"), "100.00", "old")  # expires 2027-01-10
    buy(tenant, at("2026-02-28", "23:59:59"), "50.00", "late")  # the last second of the day
    spend(tenant, at("2026-03-01", "00:00:00"), "30.00")  # the first second of the next
    spend(tenant, at("2026-03-01", "18:00:00"), "20.00")  # the day's last entry wins
    spend(tenant, at("2026-03-03", "09:00:00"), "0.10")
    results = credits.expire_credits(now=at("2026-03-04", "06:00:00"), tenant=tenant)
    assert results == []  # nothing is due yet
    points = credits.balance_history(tenant, now=at("2026-03-04", "08:00:00"), days=6)
    assert by_day(points) == {
        "2026-02-27": D("100.00"),  # before the window's first entry: the opening balance
        "2026-02-28": D("150.00"),
        "2026-03-01": D("100.00"),
        "2026-03-02": D("100.00"),  # no entry: the day before's
        "2026-03-03": D("99.90"),
        "2026-03-04": D("99.90"),  # today, as of now
    }
    assert {p.balance.currency for p in points} == {"EUR"}

    # Expiry a year on: the old lot's remainder leaves on the day its EXPIRED entry is made.
    expired = credits.expire_credits(now=at("2027-01-12", "03:00:00"), tenant=tenant)
    assert expired and expired[0].expired == Money(D("49.90"), "EUR")
    points = credits.balance_history(tenant, now=at("2027-01-12", "10:00:00"), days=3)
    assert by_day(points) == {
        "2027-01-10": D("99.90"),
        "2027-01-11": D("99.90"),
        "2027-01-12": D("50.00"),
    }
    # Entries after `now` are not seen: the same day read before the expiry ran.
    points = credits.balance_history(tenant, now=at("2027-01-12", "02:00:00"), days=1)
    assert by_day(points) == {"2027-01-12": D("99.90")}


def test_days_is_at_least_1_and_at_most_366_are_read(tenant, clock):
    assert len(credits.balance_history(tenant, now=clock(), days=1)) == 1
    assert len(credits.balance_history(tenant, now=clock(), days=366)) == 366
    assert len(credits.balance_history(tenant, now=clock(), days=5000)) == 366  # clamped
    for days in (0, -1):
        with pytest.raises(DomainError) as excinfo:
            credits.balance_history(tenant, now=clock(), days=days)
        assert excinfo.value.code == "INVALID_DAYS"


def _ledger_rows(tenant, count: int, end: dt.datetime) -> None:
    """`count` ledger entries spread over the 200 days before `end`, written directly (the
    statements of the read, not the realism of the entries, are what is measured)."""
    step = dt.timedelta(days=200) / count
    rows = [
        {
            "tenant": tenant.id,
            "seq": n + 1,
            "kind": "FUNDED" if n % 2 == 0 else "CONSUMED",
            "amount_minor": 100 if n % 2 == 0 else -50,
            "balance_after_minor": 100 * (n // 2 + 1) - (50 if n % 2 else 0),
            "currency": "EUR",
            "reference": f"r{n}",
            "created_at": end - dt.timedelta(days=200) + step * n,
        }
        for n in range(count)
    ]
    for start in range(0, count, 200):
        LedgerEntry.insert_many(rows[start : start + 200]).execute()
    # Written around the ledger: their days are filled in as migration 0030 fills a database's.
    importlib.import_module("commcredits.migrations.0030_ledger_days").backfill(
        database.db, f"WHERE tenant_id = {int(tenant.id)}"
    )


def test_two_statements_whatever_the_ledger_holds_and_no_write(tenant, clock):
    from tests.helpers import other_tenant

    now = clock()
    small, large = tenant, other_tenant(now)
    large.currency = "EUR"  # read as EUR; its rows are written directly below
    _ledger_rows(small, 10, now)
    _ledger_rows(large, 1000, now)
    measured = {}
    for name, who in (("small", small), ("large", large)):
        with database.count_statements() as seen:
            points = credits.balance_history(who, now=now, days=90)
        measured[name] = seen
        assert len(points) == 90
    assert len(measured["small"]) == len(measured["large"]) == 2, measured
    assert all(s.lstrip().upper().startswith("SELECT") for s in measured["large"])
    # The last point is the last entry's balance; the series is what the entries say.
    last = (
        LedgerEntry.select()
        .where(LedgerEntry.tenant == large.id)
        .order_by(LedgerEntry.seq.desc())[0]
    )
    assert points[-1].balance.minor == last.balance_after_minor
    first_day = now.date() - dt.timedelta(days=89)
    before = (
        LedgerEntry.select()
        .where(
            (LedgerEntry.tenant == large.id)
            & (LedgerEntry.created_at < dt.datetime.combine(first_day, dt.time(), dt.UTC))
        )
        .order_by(LedgerEntry.seq.desc())[0]
    )
    day_after_first = (
        LedgerEntry.select()
        .where(
            (LedgerEntry.tenant == large.id)
            & (
                LedgerEntry.created_at
                < dt.datetime.combine(first_day + dt.timedelta(days=1), dt.time(), dt.UTC)
            )
        )
        .order_by(LedgerEntry.seq.desc())[0]
    )
    assert before.seq < day_after_first.seq  # entries on the first day itself
    assert points[0].balance.minor == day_after_first.balance_after_minor


def test_history_and_the_ledger_dates_in_graphql(api, api_as, tenant, clock):
    buy(tenant, clock() - dt.timedelta(days=2), "40.00", "two-days-ago")
    spend(tenant, clock() - dt.timedelta(days=1), "2.50", "yesterday")
    buy(tenant, clock(), "10.00", "today")
    data = api_as("READER")(HISTORY, {"days": 3})["tenant"]["balance"]
    today = clock().date()
    assert data["history"] == [
        {
            "date": (today - dt.timedelta(days=2)).isoformat(),
            "balance": {"amount": "40.00", "currency": "EUR"},
        },
        {
            "date": (today - dt.timedelta(days=1)).isoformat(),
            "balance": {"amount": "37.50", "currency": "EUR"},
        },
        {"date": today.isoformat(), "balance": {"amount": "47.50", "currency": "EUR"}},
    ]
    assert data["amount"] == "47.50"
    default = api("{ tenant { balance { history { date } } } }")["tenant"]["balance"]["history"]
    assert len(default) == 90 and default[-1]["date"] == today.isoformat()
    errors = api.errors(HISTORY, {"days": 0})
    assert "days is at least 1" in errors[0]["message"], errors
    assert errors[0]["extensions"]["code"] == "INVALID_DAYS", errors
    year = api(HISTORY, {"days": 400})["tenant"]["balance"]["history"]
    assert len(year) == 366 and year[-1]["date"] == today.isoformat()

    # The ledger between two times: `from` included, `to` not.
    day_ago = (clock() - dt.timedelta(days=1)).isoformat()
    cases = [  # purchases are referenced by their invoice
        ({"from": day_ago}, ["invoice:2", "yesterday"]),
        ({"to": day_ago}, ["invoice:1"]),
        ({"from": day_ago, "to": clock().isoformat()}, ["yesterday"]),
        ({"from": day_ago, "kinds": ["FUNDED"]}, ["invoice:2"]),
        ({"to": day_ago, "kinds": ["CONSUMED"]}, []),
    ]
    for flt, refs in cases:
        found = api(LEDGER, {"f": flt})["tenant"]["creditTransactions"]
        got = [n["reference"] for n in found["nodes"]]
        assert got == refs and found["totalCount"] == len(refs), (flt, got)


def test_the_vendored_uplot_is_the_pinned_one():
    manifest = json.loads((UPLOT_LICENSE / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in UPLOT.iterdir()}
    for name, meta in manifest["files"].items():
        body = (UPLOT / name).read_bytes()
        assert hashlib.sha256(body).hexdigest() == meta["sha256"] and len(body) == meta["bytes"]
    assert (
        "MIT" in manifest["license"] and "Leon Sorokin" in (UPLOT_LICENSE / "LICENSE").read_text()
    )
    spec = importlib.util.spec_from_file_location(
        "refresh_uplot", ROOT / "scripts/refresh_uplot.py"
    )
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert (script.PIN.version, script.PIN.integrity) == (
        manifest["version"],
        manifest["integrity"],
    )
    module = (UPLOT / "uPlot.min.js").read_text()
    assert module.rstrip().endswith("export default uPlot;")
