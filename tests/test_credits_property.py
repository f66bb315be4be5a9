"""Property: random purchase / debit / expire / configure / clock-advance sequences keep
Σ ledger = Σ lot remainders = balance, never a remainder below 0, and spend lots in purchase
order — checked against a small reference model of SPEC §4 and §6 after every step."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commcredits.models import CreditLot, DebitSplit, Invoice, LedgerEntry
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from commcredits.services.tenants import create_tenant
from tests.conftest import T0

cents = st.integers(min_value=1, max_value=4_000)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("purchase"), cents),
        st.tuples(st.just("debit"), cents),
        st.tuples(st.just("debit"), st.integers(min_value=1, max_value=300)),
        st.tuples(st.just("expire")),
        st.tuples(
            st.just("configure"),
            st.booleans(),
            st.integers(min_value=1, max_value=3_000),
            st.integers(min_value=0, max_value=2_000),
            st.integers(min_value=1, max_value=3),
        ),
        st.tuples(
            st.just("advance"),
            st.integers(min_value=0, max_value=200),
            st.integers(min_value=0, max_value=23),
        ),
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class Model:
    """SPEC §4/§6 in a few lines: lots in purchase order, FIFO, expiry, recharge with a cap."""

    now: dt.datetime
    lots: list[list] = field(default_factory=list)  # [expires_at, remaining]
    enabled: bool = False
    recharge: int = 0
    trigger: int = 0
    cap: int = 5
    day: str = ""
    today: int = 0
    invoices: int = 0

    def balance(self) -> int:
        return sum(r for exp, r in self.lots if exp > self.now)

    def count_today(self) -> int:
        return self.today if self.day == self.now.date().isoformat() else 0

    def do_recharge(self) -> bool:
        if self.count_today() >= self.cap:
            return False
        self.today, self.day = self.count_today() + 1, self.now.date().isoformat()
        self.lots.append([credits.lot_expiry(self.now), self.recharge])
        self.invoices += 1
        return True

    def after_change(self) -> None:
        if self.enabled and self.balance() < self.trigger:
            self.do_recharge()

    def open(self) -> bool:
        expired = False
        for lot in self.lots:
            if lot[1] and lot[0] <= self.now:
                lot[1] = 0
                expired = True
        if expired:
            self.after_change()
        return expired

    def purchase(self, amount: int) -> None:
        self.open()
        self.lots.append([credits.lot_expiry(self.now), amount])
        self.invoices += 1

    def debit(self, amount: int) -> bool:
        self.open()
        if self.balance() < amount and self.enabled:
            needed = amount - self.balance()
            count = -(-needed // self.recharge)
            if self.count_today() + count <= self.cap:
                for _ in range(count):
                    self.do_recharge()
        if self.balance() < amount:
            return False
        left = amount
        for lot in self.lots:
            take = min(lot[1], left)
            lot[1] -= take
            left -= take
        self.after_change()
        return True

    def configure(self, enabled: bool, recharge: int, trigger: int, cap: int) -> None:
        # Saving settings is a money write: the expiry due is recorded first, under the new
        # settings; with none due, an enabled recharge is considered once.
        self.enabled, self.recharge, self.trigger, self.cap = enabled, recharge, trigger, cap
        if not self.open() and enabled:
            self.after_change()

    def expire(self) -> None:
        if any(r and exp <= self.now for exp, r in self.lots):
            self.open()


def check(tenant, model: Model) -> None:
    lots = list(
        CreditLot.select()
        .where(CreditLot.tenant == tenant.id)
        .order_by(CreditLot.purchased_at, CreditLot.id)
    )
    assert [lot.remaining_minor for lot in lots] == [r for _, r in model.lots]
    assert all(lot.remaining_minor >= 0 for lot in lots)
    balance = credits.current_balance(tenant, now=model.now)
    assert balance == Money.from_minor(model.balance(), "EUR")
    rows = [r for r in credits.audit_balances() if r.tenant_id == tenant.id]
    assert all(r.ok for r in rows), rows  # no row: nothing was ever written
    assert Invoice.select().where(Invoice.tenant == tenant.id).count() == model.invoices
    # Spend order = purchase order: within every debit, lots are taken oldest first.
    order = {lot.id: i for i, lot in enumerate(lots)}
    by_entry: dict[int, list[int]] = {}
    for split in DebitSplit.select().where(DebitSplit.tenant == tenant.id).order_by(DebitSplit.id):
        by_entry.setdefault(split.entry_seq, []).append(order[split.lot_id])
    assert all(seq == sorted(seq) for seq in by_entry.values())
    assert LedgerEntry.select().where(LedgerEntry.tenant == tenant.id).count() >= len(lots)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_ledger_invariants_hold_for_any_sequence(db_url, ops):
    now = T0
    tenant = create_tenant(
        SYSTEM,
        name=f"p-{uuid.uuid4().hex[:12]}",
        country="DE",
        currency="EUR",
        agreement_type="MOSA",
        now=now,
    )
    model = Model(now=now)
    for n, op in enumerate(ops):
        kind = op[0]
        if kind == "advance":
            now = now + dt.timedelta(days=op[1], hours=op[2])
            model.now = now
            continue
        if kind == "purchase":
            credits.purchase_credits(
                tenant, SYSTEM, Decimal(op[1]) / 100, idempotency_key=f"k{n}", now=now
            )
            model.purchase(op[1])
        elif kind == "debit":
            try:
                credits.debit(
                    tenant,
                    SYSTEM,
                    Money.from_minor(op[1], "EUR"),
                    reference=f"d{n}",
                    idempotency_key=None,
                    now=now,
                )
                ok = True
            except DomainError as error:
                assert error.code == "INSUFFICIENT_BALANCE"
                ok = False
            assert model.debit(op[1]) == ok
        elif kind == "expire":
            credits.expire_credits(now=now, tenant=tenant)
            model.expire()
        elif kind == "configure":
            _, enabled, recharge, trigger, cap = op
            credits.configure_auto_recharge(
                tenant,
                SYSTEM,
                enabled=enabled,
                recharge_amount=Decimal(recharge) / 100,
                trigger_balance=Decimal(trigger) / 100,
                max_recharges_per_day=cap,
                now=now,
            )
            model.configure(enabled, recharge, trigger, cap)
        check(tenant, model)
