"""Two-phase charges (SPEC §6) under faults: a crash before the charge, a crash after it, a
gateway timeout, a gateway 500 and a decline, for purchases and automatic recharges.

After the sweeper (`reconcile_payments`, as `serve` and `commcredits reconcile-payments` run
it) every invoice is PAID/ISSUED with exactly one lot or FAILED with none, the gateway saw one
charge per invoice, and `audit` is clean. The Stripe cases run the real adapter against the
fake Stripe server on a loopback port; the SIGKILL case kills a real process mid-charge.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal as D

import pytest

from commcredits.models import CreditLot, Invoice
from commcredits.money import Money
from commcredits.services import billing, credits, payments
from commcredits.services.access import SYSTEM
from commcredits.services.credits import charges
from commcredits.services.errors import DomainError
from commcredits.services.stripe_gateway import StripeGateway
from tests.stripe_stub import SECRET_KEY, StripeStub


class Crash(BaseException):
    """A process dying: not an exception any code path may handle."""


class Faulty:
    """The built-in gateway, crashing before or after the charge the first `times` calls."""

    name = "faulty"

    def __init__(self, where: str, times: int = 1):
        self.inner = payments.BuiltinGateway()
        self.where, self.left = where, times

    def charge(self, **kw):
        if self.left and self.where == "before":
            self.left -= 1
            raise Crash
        answer = self.inner.charge(**kw)
        if self.left and self.where == "after":
            self.left -= 1
            raise Crash  # charged, and the answer is lost with the process
        if self.left and self.where == "unavailable":
            self.left -= 1
            raise payments.GatewayUnavailable("timed out")
        return answer


@pytest.fixture
def gateway():
    installed = []

    def install(new):
        installed.append(new)
        payments.set_gateway(new)
        return new

    previous = payments.set_gateway(None)
    yield install
    payments.set_gateway(previous)


def assert_settled(*, gateway_charges: dict[str, int]) -> None:
    """Each charged invoice PAID/ISSUED with one lot or FAILED with none; one charge each."""
    for invoice in Invoice.select().where(Invoice.reason != "POSTPAID"):
        lots = CreditLot.select().where(CreditLot.invoice == invoice.id).count()
        assert invoice.status in ("PAID", "ISSUED", "FAILED"), invoice.status
        assert lots == (0 if invoice.status == "FAILED" else 1), (invoice.number, lots)
        assert gateway_charges.get(invoice.payment_key) == 1, invoice.number
    rows = credits.audit_balances()
    assert all(r.ok for r in rows), rows


def purchase(tenant, clock, key="buy-1", amount="25.00"):
    return credits.purchase_credits(tenant, SYSTEM, D(amount), idempotency_key=key, now=clock())


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_crash_around_the_charge_is_finished_by_the_sweeper(tenant, clock, gateway, where):
    faulty = gateway(Faulty(where))
    with pytest.raises(Crash):
        purchase(tenant, clock)
    [invoice] = Invoice.select()
    assert invoice.status == "PENDING" and invoice.payment_key
    assert CreditLot.select().count() == 0
    assert all(r.ok for r in credits.audit_balances())  # a pending invoice owes nothing yet
    assert faulty.inner.charges.get(invoice.payment_key, 0) == (1 if where == "after" else 0)

    clock.advance(minutes=5)
    [swept] = credits.reconcile_payments(now=clock())
    assert swept.status == "ISSUED"  # paid by invoice: billed, payable later
    assert credits.current_balance(tenant, now=clock()) == Money(D("25.00"), "EUR")
    assert_settled(gateway_charges=faulty.inner.charges)
    again = purchase(tenant, clock)  # the client's retry: the same outcome, nothing new
    assert again.replayed and again.invoice.id == invoice.id and again.lot is not None
    assert Invoice.select().count() == 1 and credits.reconcile_payments(now=clock()) == []


def test_a_gateway_without_answer_leaves_the_invoice_pending(tenant, clock, gateway):
    faulty = gateway(Faulty("unavailable"))
    with pytest.raises(DomainError) as excinfo:
        purchase(tenant, clock)
    assert excinfo.value.code == "PAYMENT_PENDING"
    assert Invoice.get().status == "PENDING" and CreditLot.select().count() == 0
    # Retrying with the same key asks the gateway again with the invoice's own key.
    done = purchase(tenant, clock)
    assert done.invoice.status == "ISSUED" and done.lot.amount_minor == 2500
    assert_settled(gateway_charges=faulty.inner.charges)


def test_a_declined_purchase_is_failed_with_no_lot_and_not_retried(tenant, clock, gateway):
    builtin = gateway(payments.BuiltinGateway())
    card = billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined")
    billing.update_billing_profile(tenant, SYSTEM, card, now=clock())
    with pytest.raises(DomainError) as excinfo:
        purchase(tenant, clock)
    assert excinfo.value.code == "PAYMENT_DECLINED"
    assert credits.reconcile_payments(now=clock()) == []
    assert_settled(gateway_charges=builtin.charges)
    assert Invoice.get().failure_reason == "card_declined"


def _recharging(tenant, clock):
    purchase(tenant, clock, key="start", amount="10.00")
    credits.configure_auto_recharge(
        tenant, SYSTEM, enabled=True, recharge_amount=D("20"), trigger_balance=D("5"), now=clock()
    )


def test_a_recharge_pending_after_a_crash_is_not_started_twice(tenant, clock, gateway):
    faulty = gateway(Faulty("after", times=0))
    _recharging(tenant, clock)
    faulty.left = 1

    def spend(amount: str, ref: str):
        return credits.debit(
            tenant,
            SYSTEM,
            Money(D(amount), "EUR"),
            reference=ref,
            idempotency_key=None,
            now=clock(),
        )

    with pytest.raises(Crash):
        spend("6.00", "call-1")  # 4.00 < 5.00: one recharge, charged, then the crash
    assert credits.current_balance(tenant, now=clock()) == Money(D("4.00"), "EUR")
    [pending] = Invoice.select().where(Invoice.status == "PENDING")
    # A later debit below the trigger starts no second recharge while one is pending, and one
    # the balance covers does not wait on the network for it either.
    later = spend("1.00", "call-2")
    assert later.recharges == [] and later.balance_after == Money(D("3.00"), "EUR")
    assert Invoice.select().where(Invoice.reason == "AUTO_RECHARGE").count() == 1
    [swept] = credits.reconcile_payments(now=clock())
    assert swept.id == pending.id and swept.status == "ISSUED"
    assert faulty.inner.charges[pending.payment_key] == 1  # asked twice, charged once
    assert credits.current_balance(tenant, now=clock()) == Money(D("23.00"), "EUR")
    assert_settled(gateway_charges=faulty.inner.charges)


def _long_call(tenant, clock):
    return credits.debit(
        tenant,
        SYSTEM,
        Money(D("25.00"), "EUR"),
        reference="long-call",
        idempotency_key=None,
        now=clock(),
    )


def test_a_held_debit_whose_recharge_another_worker_settled_is_tried_again(
    tenant, clock, gateway, monkeypatch
):
    """A debit refused in the lock while a recharge was pending, which another worker then
    settles before this one looks for it (the race test_parallel_debits_are_exact lost once):
    nothing is left to wait for, and the debit is tried again on the recharged balance."""
    faulty = gateway(Faulty("after", times=0))
    _recharging(tenant, clock)
    faulty.left = 1
    with pytest.raises(Crash):  # 10.00 - 6.00 = 4.00 < 5.00: a recharge started, then the crash
        credits.debit(
            tenant, SYSTEM, Money(D("6.00"), "EUR"), reference="a", idempotency_key=None,
            now=clock(),
        )  # fmt: skip
    [pending] = Invoice.select().where(Invoice.status == "PENDING")
    looked_for = charges.pending_recharge_ids

    def another_worker_settles_first(t):
        credits.reconcile_payments(now=clock())  # the other worker's settlement
        return looked_for(t)

    monkeypatch.setattr(charges, "pending_recharge_ids", another_worker_settles_first)
    result = credits.debit(
        tenant, SYSTEM, Money(D("10.00"), "EUR"), reference="b", idempotency_key=None,
        now=clock(),
    )  # fmt: skip
    assert result.held_for_recharge and result.recharges == []
    assert Invoice.get_by_id(pending.id).status == "ISSUED"
    assert credits.current_balance(tenant, now=clock()) == Money(D("14.00"), "EUR")


def test_a_debit_the_balance_cannot_cover_waits_for_the_recharge(tenant, clock, gateway):
    builtin = gateway(payments.BuiltinGateway())
    _recharging(tenant, clock)
    result = _long_call(tenant, clock)
    # 10.00 cannot pay 25.00: held, one recharge of 20.00 charged with no lock, then paid
    assert result.held_for_recharge and [r.ok for r in result.recharges] == [True]
    assert result.balance_after == Money(D("5.00"), "EUR")
    assert_settled(gateway_charges=builtin.charges)


def test_a_held_debit_whose_recharge_is_declined_is_refused_saying_why(tenant, clock, gateway):
    gateway(payments.BuiltinGateway())
    _recharging(tenant, clock)
    card = billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined")
    billing.update_billing_profile(tenant, SYSTEM, card, now=clock())
    with pytest.raises(DomainError) as excinfo:
        _long_call(tenant, clock)
    codes = [d.code for d in excinfo.value.details]
    assert codes == ["INSUFFICIENT_BALANCE", "RECHARGE_FAILED"]
    assert credits.current_balance(tenant, now=clock()) == Money(D("10.00"), "EUR")
    assert Invoice.get(Invoice.reason == "AUTO_RECHARGE").status == "FAILED"


# -- the Stripe adapter against the fake Stripe server -------------------------------------


@pytest.fixture
def stripe(tenant, clock, gateway):
    with StripeStub() as stub:
        gateway(StripeGateway(SECRET_KEY, api_base=stub.url, timeout=1.0, max_retries=0))
        card = billing.BillingFields(payment_method="CARD", card_token="pm_card_visa")
        billing.update_billing_profile(tenant, SYSTEM, card, now=clock())
        yield stub


def test_stripe_timeout_then_sweeper_charges_once(tenant, clock, stripe):
    stripe.timeout_next(1, delay=2.0, path="/v1/payment_intents")
    with pytest.raises(DomainError) as excinfo:
        purchase(tenant, clock)
    assert excinfo.value.code == "PAYMENT_PENDING"
    [invoice] = Invoice.select()
    assert stripe.created == {invoice.payment_key: 1}  # charged; the answer was lost
    [swept] = credits.reconcile_payments(now=clock())
    assert swept.status == "PAID" and swept.payment_reference.startswith("pi_")
    assert stripe.created == {invoice.payment_key: 1}  # asked again: a replay, no new charge
    assert_settled(gateway_charges=stripe.created)


def test_stripe_500_then_sweeper_charges_once(tenant, clock, stripe):
    stripe.error_next(1, status=500, path="/v1/payment_intents")
    with pytest.raises(DomainError) as excinfo:
        purchase(tenant, clock)
    assert excinfo.value.code == "PAYMENT_PENDING" and stripe.created == {}
    [swept] = credits.reconcile_payments(now=clock())
    assert swept.status == "PAID"
    assert_settled(gateway_charges=stripe.created)


def test_stripe_decline_fails_the_invoice_with_its_decline_code(tenant, clock, stripe):
    card = billing.BillingFields(card_token="pm_card_chargeDeclinedInsufficientFunds")
    billing.update_billing_profile(tenant, SYSTEM, card, now=clock())
    with pytest.raises(DomainError) as excinfo:
        purchase(tenant, clock)
    assert excinfo.value.code == "PAYMENT_DECLINED"
    invoice = Invoice.get()
    assert (invoice.status, invoice.failure_reason) == ("FAILED", "insufficient_funds")
    sent = stripe.seen("POST", "/v1/payment_intents")[0]
    assert sent.idempotency_key == invoice.payment_key
    assert (sent.params["amount"], sent.params["currency"]) == ("2500", "eur")
    assert_settled(gateway_charges=stripe.created)


_BUY_IN_A_CHILD = """
import datetime as dt, sys
from decimal import Decimal
from commcredits import db
from commcredits.models import Tenant
from commcredits.services import credits
from commcredits.services.access import SYSTEM
db.bind(sys.argv[1])
with db.db.connection_context():
    tenant = Tenant.get_by_id(int(sys.argv[2]))
    now = dt.datetime.fromisoformat(sys.argv[3])
    credits.purchase_credits(tenant, SYSTEM, Decimal("25.00"), idempotency_key="k", now=now)
print("not killed")
"""


@pytest.mark.parametrize("moment", ["before_intent", "after_intent"])
def test_a_process_killed_mid_charge_is_finished_by_the_sweeper(
    db_url, tenant, clock, stripe, moment
):
    """SIGKILL, not a simulation: the stub kills the buying process when the charge request
    arrives (before Stripe acts) or once Stripe has charged (the answer never read)."""
    child: dict = {}
    killed = threading.Event()

    def kill(seen) -> bool:
        os.kill(child["process"].pid, signal.SIGKILL)
        killed.set()
        return True  # before_intent: the request dies with its process, unprocessed

    setattr(stripe, moment, kill)
    env = os.environ | _stripe_env(stripe)
    args = [sys.executable, "-c", _BUY_IN_A_CHILD, db_url, str(tenant.id), clock().isoformat()]
    child["process"] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE)
    out, _ = child["process"].communicate(timeout=60)
    assert killed.is_set() and child["process"].returncode == -signal.SIGKILL, out
    setattr(stripe, moment, None)
    [invoice] = Invoice.select()
    assert invoice.status == "PENDING" and CreditLot.select().count() == 0
    assert stripe.created == ({invoice.payment_key: 1} if moment == "after_intent" else {})

    [swept] = credits.reconcile_payments(now=clock())
    assert swept.status == "PAID"
    assert stripe.created == {invoice.payment_key: 1}
    assert_settled(gateway_charges=stripe.created)


# -- the sweeper as operators run it: the CLI command and the loop in `serve` ------------------


def _stripe_env(stub) -> dict[str, str]:
    return {
        "COMMCREDITS_PAYMENT_GATEWAY": "stripe",
        "COMMCREDITS_STRIPE_SECRET_KEY": SECRET_KEY,
        "COMMCREDITS_STRIPE_API_BASE": stub.url,
        "COMMCREDITS_STRIPE_MAX_RETRIES": "0",
    }


def _lost_answer(tenant, clock, stripe, key: str) -> Invoice:
    """A purchase whose charge Stripe made but whose answer timed out: left PENDING."""
    stripe.timeout_next(1, delay=2.0, path="/v1/payment_intents")
    with pytest.raises(DomainError):
        purchase(tenant, clock, key=key)
    invoice = Invoice.get(Invoice.status == "PENDING")
    assert stripe.created == {invoice.payment_key: 1}
    return invoice


def test_reconcile_payments_command_finishes_a_pending_charge(db_url, tenant, clock, stripe):
    invoice = _lost_answer(tenant, clock, stripe, "buy-cli")
    command = [sys.executable, "-m", "commcredits.cli", "reconcile-payments"]
    env = os.environ | _stripe_env(stripe) | {"COMMCREDITS_DATABASE_URL": db_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"invoice {invoice.number}: PAID" in done.stdout
    assert "1 pending invoice(s) asked again, 0 still pending" in done.stdout
    assert stripe.created == {invoice.payment_key: 1}
    assert_settled(gateway_charges=stripe.created)


def test_serve_sweeps_pending_charges_by_itself(db_url, tenant, clock, stripe, tmp_path):
    import time

    from tests.live_server import live_server

    invoice = _lost_answer(tenant, clock, stripe, "buy-serve")
    sweeper = {"COMMCREDITS_PAYMENT_SWEEP_INTERVAL": "0.2", "COMMCREDITS_PAYMENT_SWEEP_AGE": "0"}
    with live_server(db_url, tmp_path, extra_env=_stripe_env(stripe) | sweeper):
        deadline = time.monotonic() + 30
        while Invoice.get_by_id(invoice.id).status == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert Invoice.get_by_id(invoice.id).status == "PAID"
    assert stripe.created == {invoice.payment_key: 1}
    assert_settled(gateway_charges=stripe.created)


def test_a_recharge_started_by_expiry_inside_a_purchase_is_charged_too(tenant, clock, gateway):
    """Every money write records the expiry that is due first; a recharge that expiry starts
    is charged with the rest, not left for the sweeper."""
    builtin = gateway(payments.BuiltinGateway())
    _recharging(tenant, clock)  # 10.00, recharge 20.00 below 5.00
    clock.advance(days=366)  # the 10.00 lot is past its expiry; nothing has expired it yet
    purchase(tenant, clock, key="later", amount="1.00")
    statuses = [(i.reason, i.status) for i in Invoice.select().order_by(Invoice.number)]
    assert statuses == [("PURCHASE", "ISSUED"), ("AUTO_RECHARGE", "ISSUED"), ("PURCHASE", "ISSUED")]
    assert credits.current_balance(tenant, now=clock()) == Money(D("21.00"), "EUR")
    assert_settled(gateway_charges=builtin.charges)


class Slow:
    """The built-in gateway, held until `release` is set: a payment provider taking its time."""

    name = "slow"

    def __init__(self):
        self.inner = payments.BuiltinGateway()
        self.entered, self.release = threading.Event(), threading.Event()

    def charge(self, **kw):
        self.entered.set()
        assert self.release.wait(30), "never released"
        return self.inner.charge(**kw)


def test_a_slow_gateway_stalls_no_debit_and_starts_no_second_recharge(
    db_url, tenant, clock, gateway
):
    builtin = gateway(payments.BuiltinGateway())
    _recharging(tenant, clock)  # 10.00; recharge 20.00 below 5.00
    slow = gateway(Slow())
    crossing: dict = {}

    def cross():
        crossing["result"] = credits.debit(
            tenant,
            SYSTEM,
            Money(D("6.00"), "EUR"),
            reference="c",
            idempotency_key=None,
            now=clock(),
        )  # 4.00 < 5.00: a recharge starts, and its charge waits in the gateway

    worker = threading.Thread(target=cross)
    worker.start()
    try:
        assert slow.entered.wait(30)
        # While that charge is in flight, no lock is held: other debits go through at once,
        # cross the trigger again, and start no second recharge.
        for i in range(3):
            later = credits.debit(
                tenant,
                SYSTEM,
                Money(D("1.00"), "EUR"),
                reference=f"d{i}",
                idempotency_key=None,
                now=clock(),
            )
            assert later.recharges == []
        assert Invoice.select().where(Invoice.reason == "AUTO_RECHARGE").count() == 1
        assert Invoice.get(Invoice.reason == "AUTO_RECHARGE").status == "PENDING"
    finally:
        slow.release.set()
        worker.join(timeout=30)
    assert [r.ok for r in crossing["result"].recharges] == [True]
    assert credits.current_balance(tenant, now=clock()) == Money(D("21.00"), "EUR")
    assert_settled(gateway_charges=builtin.charges | slow.inner.charges)
