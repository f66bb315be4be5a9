"""Ledger speed: 50,000 debits on one tenant through the service layer with auto-recharge on,
and the balance read for a tenant with 10,000 lots.

    .venv/bin/python bench/bench_ledger.py                 # SQLite file in a temp directory
    .venv/bin/python bench/bench_ledger.py --database-url postgresql://postgres@127.0.0.1/bench

Prints debits/s for single-debit transactions (`credits.debit`: lock, open, debit, flush,
commit each) and for the batched path call rating uses (one `Ledger` per batch of 1,000), and
the balance read time (materialized: two indexed queries, never a ledger scan).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commcredits import db as database  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import Invoice  # noqa: E402
from commcredits.money import Money  # noqa: E402
from commcredits.services import credits  # noqa: E402
from commcredits.services.access import SYSTEM  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def tenant_with_recharge(name: str):
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


def bench_single(n: int) -> float:
    tenant = tenant_with_recharge("single")
    price = Money(Decimal("0.07"), "EUR")
    start = time.perf_counter()
    for i in range(n):
        now = T0 + dt.timedelta(seconds=i)
        credits.debit(tenant, SYSTEM, price, reference=f"c{i}", idempotency_key=None, now=now)
    elapsed = time.perf_counter() - start
    recharges = Invoice.select().where(
        (Invoice.tenant == tenant.id) & (Invoice.reason == "AUTO_RECHARGE")
    )
    print(
        f"single-debit transactions: {n:,} debits in {elapsed:.1f} s = {n / elapsed:,.0f} "
        f"debits/s ({recharges.count()} auto-recharges, balance "
        f"{credits.current_balance(tenant, now=T0 + dt.timedelta(days=1))})"
    )
    return elapsed


def bench_batched(n: int, batch: int) -> float:
    tenant = tenant_with_recharge("batched")
    price = Money(Decimal("0.07"), "EUR")
    start = time.perf_counter()
    done = 0
    while done < n:
        now = T0 + dt.timedelta(seconds=done)
        with database.tenant_lock(tenant.id):
            ledger = credits.Ledger.open(tenant, now=now, principal=SYSTEM)
            for i in range(done, min(done + batch, n)):
                ledger.debit(price, reference=f"c{i}")
            ledger.flush()
        done += batch
    elapsed = time.perf_counter() - start
    print(
        f"batched Ledger ({batch:,} per transaction): {n:,} debits in {elapsed:.1f} s = "
        f"{n / elapsed:,.0f} debits/s"
    )
    return elapsed


def bench_balance(lots: int) -> None:
    tenant = create_tenant(
        SYSTEM, name="many-lots", country="DE", currency="EUR", agreement_type="MOSA", now=T0
    )
    with database.tenant_lock(tenant.id):
        ledger = credits.Ledger.open(tenant, now=T0, principal=SYSTEM)
        for i in range(lots):
            ledger.adjust(Money(Decimal("1.00"), "EUR"), reason="bench", reference=f"lot{i}")
        ledger.flush()
    now = T0 + dt.timedelta(days=30)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        balance = credits.current_balance(tenant, now=now)
        times.append(time.perf_counter() - start)
    print(
        f"balance read, tenant with {lots:,} lots: median {statistics.median(times) * 1000:.3f} "
        f"ms, p95 {sorted(times)[int(len(times) * 0.95)] * 1000:.3f} ms (balance {balance})"
    )
    start = time.perf_counter()
    with database.tenant_lock(tenant.id):
        ledger = credits.Ledger.open(tenant, now=now, principal=SYSTEM)
        ledger.debit(Money(Decimal("0.01"), "EUR"), reference="one")
        ledger.flush()
    print(
        f"one debit on that tenant (opens all {lots:,} live lots): "
        f"{(time.perf_counter() - start) * 1000:.1f} ms"
    )
    start = time.perf_counter()
    rows = credits.audit_balances()
    print(
        f"commcredits audit over {len(rows)} tenants: "
        f"{(time.perf_counter() - start) * 1000:.0f} ms,"
        f" {'all ok' if all(r.ok for r in rows) else 'DIFFERENCES'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--debits", type=int, default=50_000)
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        database.bind(url)
        print(f"database: {url.split('?')[0]}")
        with database.db.connection_context():
            migrate()
            bench_single(args.debits)
            bench_batched(args.debits, args.batch)
            bench_balance(args.lots)
        database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
