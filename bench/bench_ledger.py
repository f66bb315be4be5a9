"""Ledger speed: 50,000 debits on one tenant through the service layer with auto-recharge on,
the balance read for a tenant with 10,000 lots, and one debit there beside one on a tenant
with a single lot.

    .venv/bin/python bench/bench_ledger.py                 # SQLite file in a temp directory
    .venv/bin/python bench/bench_ledger.py --database-url postgresql://postgres@127.0.0.1/test

Prints debits/s for single-debit transactions (`credits.debit`: lock, open, expiry due, debit,
flush, commit each) and for the batched path call rating uses (one `Ledger` per batch of
1,000, debits the balance cannot cover held until the recharge they started is charged
outside the lock, then tried again), and the balance read time (materialized: two indexed
queries, never a ledger scan). Then `credits.debit` on the tenant with 10,000 live lots and on
a tenant with one lot, timed in turns (median of `--samples`), with the SQL statements and the
lot rows one such debit reads: a ledger loads live lots in pages of `store.LOT_PAGE`, only as
far as the amount reaches; the same again after `ANALYZE` (planner statistics, which
autovacuum gathers on PostgreSQL by itself). On PostgreSQL the URL names the server: the
script creates a throwaway database there and drops it at the end; each commit waits for its
WAL flush there (about 6 ms a single debit), so `--debits 10000` keeps the run near a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import create_database  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import Invoice, Tenant  # noqa: E402
from commcredits.money import Money  # noqa: E402
from commcredits.services import credits  # noqa: E402
from commcredits.services.access import SYSTEM  # noqa: E402
from commcredits.services.credits import store  # noqa: E402
from commcredits.services.errors import DomainError  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
FUND_CHUNK = 500  # lots funded per unit of work when building the many-lot tenant


def tenant_with_recharge(name: str) -> Tenant:
    tenant = create_tenant(
        SYSTEM, name=name, country="DE", currency="EUR", agreement_type="MOSA", now=T0
    )
    credits.purchase_credits(tenant, SYSTEM, Decimal("100"), idempotency_key="start", now=T0)
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("500"),
        trigger_balance=Decimal("50"),
        max_recharges_per_day=100,
        now=T0,
    )
    return tenant


def recharges_of(tenant: Tenant) -> int:
    return (
        Invoice.select()
        .where((Invoice.tenant == tenant.id) & (Invoice.reason == "AUTO_RECHARGE"))
        .count()
    )


def bench_single(n: int) -> float:
    tenant = tenant_with_recharge("single")
    price = Money(Decimal("0.07"), "EUR")
    start = time.perf_counter()
    for i in range(n):
        now = T0 + dt.timedelta(seconds=i)
        credits.debit(tenant, SYSTEM, price, reference=f"c{i}", idempotency_key=None, now=now)
    elapsed = time.perf_counter() - start
    print(
        f"single-debit transactions: {n:,} debits in {elapsed:.1f} s = {n / elapsed:,.0f} "
        f"debits/s ({recharges_of(tenant)} auto-recharges, balance "
        f"{credits.current_balance(tenant, now=T0 + dt.timedelta(days=1))})"
    )
    return elapsed


def batch_of_debits(tenant: Tenant, price: Money, refs: list[str], now: dt.datetime) -> list:
    """One unit of work of debits, as call rating does it: refs the balance could not cover
    are returned (held), after the recharges the batch started were charged, unlocked."""
    held = []
    with database.tenant_lock(tenant.id):
        ledger = credits.open_for_write(tenant, SYSTEM, now=now)
        for ref in refs:
            try:
                ledger.debit(price, reference=ref)
            except DomainError as refused:
                if refused.code != "INSUFFICIENT_BALANCE":
                    raise
                held.append(ref)
        ledger.flush()
    started = [i.id for i in ledger.started]
    if held:
        started = sorted({*started, *credits.charges.pending_recharge_ids(tenant)})
    if started:
        credits.settle_recharges(tenant, SYSTEM, started, now=now)
    return held


def bench_batched(n: int, batch: int) -> float:
    tenant = tenant_with_recharge("batched")
    price = Money(Decimal("0.07"), "EUR")
    start = time.perf_counter()
    done = held_total = 0
    while done < n:
        now = T0 + dt.timedelta(seconds=done)
        refs = [f"c{i}" for i in range(done, min(done + batch, n))]
        held = batch_of_debits(tenant, price, refs, now)
        held_total += len(held)
        if held and batch_of_debits(tenant, price, held, now):
            raise SystemExit("held debits refused again after the recharge")
        done += batch
    elapsed = time.perf_counter() - start
    print(
        f"batched Ledger ({batch:,} per transaction): {n:,} debits in {elapsed:.1f} s = "
        f"{n / elapsed:,.0f} debits/s ({recharges_of(tenant)} auto-recharges, "
        f"{held_total:,} debits held for one)"
    )
    return elapsed


def tenant_with_lots(name: str, lots: int, minor_each: int) -> Tenant:
    """A tenant holding `lots` live lots (operator adjustments: no invoices, one entry each),
    funded through the ledger a chunk per unit of work."""
    tenant = create_tenant(
        SYSTEM, name=name, country="DE", currency="EUR", agreement_type="MOSA", now=T0
    )
    for first in range(0, lots, FUND_CHUNK):
        with database.tenant_lock(tenant.id):
            ledger = credits.open_for_write(tenant, SYSTEM, now=T0)
            for i in range(first, min(first + FUND_CHUNK, lots)):
                ledger.fund(minor_each, source="ADJUSTMENT", invoice_id=None, reference=f"lot{i}")
            ledger.flush()
    return tenant


@contextmanager
def lot_rows_loaded() -> Iterator[list[int]]:
    """The rows each `store.load_lots` call returned while the block ran (one per page)."""
    original = store.load_lots
    pages: list[int] = []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        page = original(*args, **kwargs)
        pages.append(len(page[0]))
        return page

    store.load_lots = counted
    try:
        yield pages
    finally:
        store.load_lots = original


@contextmanager
def lot_select_time() -> Iterator[list[float]]:
    """Seconds each SELECT on the lot table took to execute while the block ran."""
    real = database.db.obj
    original = real.execute_sql
    spent: list[float] = []

    def timed(sql, params=None, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        start = time.perf_counter()
        cursor = original(sql, params, *args, **kwargs)
        if store.LOT in sql and sql.lstrip().upper().startswith("SELECT"):
            spent.append(time.perf_counter() - start)
        return cursor

    real.execute_sql = timed
    try:
        yield spent
    finally:
        del real.execute_sql


def one_debit_cost(tenant: Tenant, now: dt.datetime) -> str:
    cent = Money(Decimal("0.01"), "EUR")
    with (
        database.count_statements() as sql,
        lot_rows_loaded() as pages,
        lot_select_time() as spent,
    ):
        credits.debit(tenant, SYSTEM, cent, reference="counted", idempotency_key=None, now=now)
    on_lots = [s for s in sql if store.LOT in s]
    return (
        f"{len(sql)} SQL statements, {len(on_lots)} on {store.LOT} ({len(spent)} SELECT, "
        f"{sum(spent) * 1000:.2f} ms); lot rows loaded: {sum(pages)} in {len(pages)} page(s) "
        f"of at most {store.LOT_PAGE}"
    )


def debit_round(
    label: str, many: Tenant, one: Tenant, lots: int, samples: int, now: dt.datetime
) -> None:
    cent = Money(Decimal("0.01"), "EUR")
    timed: dict[str, list[float]] = {"many": [], "one": []}
    for i in range(-3, samples):  # three warm-up rounds, then in turns
        for name, tenant in (("many", many), ("one", one)):
            start = time.perf_counter()
            credits.debit(tenant, SYSTEM, cent, reference=f"d{i}", idempotency_key=None, now=now)
            if i >= 0:
                timed[name].append(time.perf_counter() - start)
    m_many, m_one = (statistics.median(timed[k]) * 1000 for k in ("many", "one"))
    print(
        f"  {label}: {m_many:.2f} ms against {m_one:.2f} ms, ratio {m_many / m_one:.2f}\n"
        f"    one debit, {lots:,} lots: {one_debit_cost(many, now)}\n"
        f"    one debit, 1 lot: {' ' * (len(f'{lots:,}') - 1)}{one_debit_cost(one, now)}"
    )


def bench_balance(lots: int, samples: int) -> None:
    start = time.perf_counter()
    many = tenant_with_lots("many-lots", lots, 100)  # 1.00 EUR each
    one = tenant_with_lots("one-lot", 1, lots * 100)  # the same money in one lot
    print(f"setup: {lots:,} lots funded in {time.perf_counter() - start:.1f} s")
    now = T0 + dt.timedelta(days=30)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        balance = credits.current_balance(many, now=now)
        times.append(time.perf_counter() - start)
    print(
        f"balance read, tenant with {lots:,} lots: median {statistics.median(times) * 1000:.3f} "
        f"ms, p95 {sorted(times)[int(len(times) * 0.95)] * 1000:.3f} ms (balance {balance})"
    )
    print(f"credits.debit of 0.01 EUR, median of {samples} (in turns), {lots:,} lots against 1:")
    debit_round("as loaded (no planner statistics)", many, one, lots, samples, now)
    database.db.execute_sql("ANALYZE")  # what autovacuum (PostgreSQL) would do by itself
    debit_round("after ANALYZE", many, one, lots, samples, now)
    start = time.perf_counter()
    rows = credits.audit_balances()
    print(
        f"commcredits audit over {len(rows)} tenants: "
        f"{(time.perf_counter() - start) * 1000:.0f} ms,"
        f" {'all ok' if all(r.ok for r in rows) else 'DIFFERENCES'}"
    )


@contextmanager
def throwaway_database(url: str | None, tmp: str) -> Iterator[str]:
    """A SQLite file in `tmp`, or a new database on the PostgreSQL server `url` names."""
    if url is None or urlparse(url).scheme == "sqlite":
        yield url or f"sqlite:///{tmp}/bench.db"
        return
    new_url, admin, name = create_database(url)
    try:
        yield new_url
    finally:
        database.close()
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--debits", type=int, default=50_000)
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=50, help="debits timed per tenant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(args.database_url, tmp) as url:
        database.bind(url)
        print(f"database: {url.split('?')[0]}")
        with database.db.connection_context():
            migrate()
            bench_single(args.debits)
            bench_batched(args.debits, args.batch)
            bench_balance(args.lots, args.samples)
        database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
