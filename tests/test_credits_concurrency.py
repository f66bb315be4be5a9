"""8 threads × 200 debits on one tenant with auto-recharge on, each thread on its own
connection: PostgreSQL (SELECT … FOR UPDATE; runs when COMMCREDITS_TEST_DATABASE_URL is set)
and a SQLite file (BEGIN IMMEDIATE). Afterwards the balance is the arithmetic, invoice numbers
have no gap or repeat, the recharges are exactly those the sequence needs, and
`commcredits audit` finds no difference."""

from __future__ import annotations

import threading
from decimal import Decimal as D

from commcredits import cli
from commcredits import db as database
from commcredits.models import Invoice, LedgerEntry
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM

THREADS = 8
DEBITS = 200
PRICE = 37  # cents per debit
START, RECHARGE, TRIGGER = 10_000, 2_500, 1_000


def expected_run(count: int) -> tuple[int, int]:
    """(final balance, recharges) for `count` equal debits in any order, done one at a time."""
    balance, recharges = START, 0
    for _ in range(count):
        while balance < PRICE:
            balance, recharges = balance + RECHARGE, recharges + 1
        balance -= PRICE
        if balance < TRIGGER:
            balance, recharges = balance + RECHARGE, recharges + 1
    return balance, recharges


def test_parallel_debits_are_exact(tenant, clock, db_url, monkeypatch, capsys):
    credits.purchase_credits(tenant, SYSTEM, D("100.00"), idempotency_key="start", now=clock())
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=D("25.00"),
        trigger_balance=D("10.00"),
        max_recharges_per_day=100,
        now=clock(),
    )
    database.close()  # every worker opens its own connection from the pool
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            with database.db.connection_context():
                barrier.wait()
                for i in range(DEBITS):
                    credits.debit(
                        tenant,
                        SYSTEM,
                        Money.from_minor(PRICE, "EUR"),
                        reference=f"t{n}-{i}",
                        idempotency_key=None,
                        now=clock(),
                    )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    with database.db.connection_context():
        final, recharges = expected_run(THREADS * DEBITS)
        assert credits.current_balance(tenant, now=clock()) == Money.from_minor(final, "EUR")
        numbers = sorted(i.number for i in Invoice.select(Invoice.number))
        assert numbers == list(range(1, len(numbers) + 1))  # no gap, no repeat
        assert Invoice.select().where(Invoice.reason == "AUTO_RECHARGE").count() == recharges
        seqs = [e.seq for e in LedgerEntry.select(LedgerEntry.seq).order_by(LedgerEntry.seq)]
        assert seqs == list(range(1, len(seqs) + 1))
        consumed = LedgerEntry.select().where(LedgerEntry.kind == "CONSUMED").count()
        assert consumed == THREADS * DEBITS
        # Each entry's balance_after follows from the one before: one debit at a time.
        running = 0
        for amount, after in (
            LedgerEntry.select(LedgerEntry.amount_minor, LedgerEntry.balance_after_minor)
            .order_by(LedgerEntry.seq)
            .tuples()
        ):
            running += amount
            assert after == running
        assert all(r.ok for r in credits.audit_balances())

    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    assert cli.main(["audit"]) == 0
    assert "0 with differences" in capsys.readouterr().out
