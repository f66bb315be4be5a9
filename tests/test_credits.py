"""Credits ledger through the service layer: lots, FIFO, expiry, recharge, MCA, idempotency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from commcredits import db as database
from commcredits.models import (
    AuditEntry,
    CreditAccount,
    CreditLot,
    DebitSplit,
    Invoice,
    LedgerEntry,
    Notification,
    Subscription,
)
from commcredits.money import CurrencyMismatch, Money
from commcredits.services import billing, credits
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from commcredits.services.tenants import create_tenant
from tests.helpers import add_users


def eur(value: str) -> Money:
    return Money(D(value), "EUR")


def buy(tenant, clock, amount: str, key: str | None = None):
    return credits.purchase_credits(
        tenant, SYSTEM, D(amount), idempotency_key=key or f"buy-{clock().isoformat()}", now=clock()
    )


def spend(tenant, clock, amount: str, ref: str = "call"):
    return credits.debit(
        tenant, SYSTEM, eur(amount), reference=ref, idempotency_key=None, now=clock()
    )


def balance(tenant, clock) -> D:
    return credits.current_balance(tenant, now=clock()).amount


def assert_consistent():
    rows = credits.audit_balances()
    assert rows and all(r.ok for r in rows), rows


def code_of(excinfo) -> str:
    return excinfo.value.code


@pytest.fixture
def mca(db_url, clock):
    return create_tenant(
        SYSTEM, name="Contoso MCA", country="DE", currency="EUR", agreement_type="MCA", now=clock()
    )


# -- Money ------------------------------------------------------------------------------------


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatch):
        eur("1") + Money(D("1"), "USD")
    assert Money.from_minor(1234, "EUR").amount == D("12.34")
    assert Money(D("5"), "JPY").minor == 5
    with pytest.raises(ValueError):
        _ = eur("0.001").minor
    assert eur("0.005").quantized().amount == D("0.00")  # half even


# -- lots, FIFO, expiry ------------------------------------------------------------------------


def test_fifo_across_three_lots_with_per_lot_split(tenant, clock):
    first = buy(tenant, clock, "10.00").lot
    clock.advance(hours=1)
    second = buy(tenant, clock, "20.00").lot
    clock.advance(hours=1)
    third = buy(tenant, clock, "30.00").lot
    clock.advance(hours=1)

    a = spend(tenant, clock, "4.00", "call-1")
    assert a.splits == [(first.id, eur("4.00"))]
    b = spend(tenant, clock, "15.50", "call-2")  # 6.00 of the first, 9.50 of the second
    assert b.splits == [(first.id, eur("6.00")), (second.id, eur("9.50"))]
    assert b.balance_after == eur("40.50")

    rows = list(
        DebitSplit.select().where(DebitSplit.entry_seq == b.entry_seq).order_by(DebitSplit.id)
    )
    assert [(r.lot_id, r.amount_minor) for r in rows] == [(first.id, 600), (second.id, 950)]
    remaining = {
        lot.id: lot.remaining_minor for lot in CreditLot.select().where(CreditLot.tenant == tenant)
    }
    assert remaining == {first.id: 0, second.id: 1050, third.id: 3000}
    entry = LedgerEntry.get(LedgerEntry.seq == b.entry_seq)
    assert (entry.kind, entry.amount_minor, entry.balance_after_minor) == ("CONSUMED", -1550, 4050)
    assert balance(tenant, clock) == D("40.50")
    assert_consistent()


def test_fifo_plan_is_all_or_nothing():
    from types import SimpleNamespace as Lot

    lots = [Lot(remaining=5), Lot(remaining=0), Lot(remaining=7)]
    assert credits.fifo_plan(lots, 9) == [(0, 5), (2, 4)]
    assert credits.fifo_plan(lots, 3, start=2) == [(2, 3)]
    assert [lot.remaining for lot in lots] == [5, 0, 7]  # a plan, not a change
    with pytest.raises(ValueError):
        credits.fifo_plan([Lot(remaining=5)], 6)


def test_lot_expires_at_exactly_purchase_plus_twelve_months(tenant, clock):
    lot = buy(tenant, clock, "25.00").lot
    assert lot.expires_at == clock() + (dt.datetime(2027, 11, 25) - dt.datetime(2026, 11, 25))

    just_before = lot.expires_at - dt.timedelta(seconds=1)
    assert credits.expire_credits(now=just_before) == []
    assert credits.current_balance(tenant, now=just_before) == eur("25.00")
    # Unexpired a second before: still spendable then.
    credits.debit(tenant, SYSTEM, eur("1.00"), reference="r", idempotency_key=None, now=just_before)

    assert credits.current_balance(tenant, now=lot.expires_at) == eur("0.00")  # before the job
    [result] = credits.expire_credits(now=lot.expires_at)
    assert result.expired == eur("24.00") and result.lots == 1
    entry = LedgerEntry.select().where(LedgerEntry.kind == "EXPIRED").get()
    assert (entry.amount_minor, entry.lot_id, entry.balance_after_minor) == (-2400, lot.id, 0)
    assert credits.expire_credits(now=lot.expires_at) == []  # nothing twice
    assert_consistent()


def test_twelve_calendar_months_clamp_the_day():
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert credits.lot_expiry(leap) == dt.datetime(2029, 2, 28, 12, tzinfo=dt.UTC)
    assert credits.add_months(dt.datetime(2026, 1, 31, tzinfo=dt.UTC), 1).day == 28


def test_expired_credit_is_never_spent(tenant, clock):
    old = buy(tenant, clock, "50.00").lot
    clock.advance(days=200)
    new = buy(tenant, clock, "10.00").lot
    clock.now = old.expires_at  # the expiry job has not run
    with pytest.raises(DomainError) as excinfo:
        spend(tenant, clock, "10.01")
    assert code_of(excinfo) == "INSUFFICIENT_BALANCE"
    result = spend(tenant, clock, "10.00")
    assert result.splits == [(new.id, eur("10.00"))]
    assert CreditLot.get_by_id(old.id).remaining_minor == 0  # expired by the debit's ledger
    kinds = [e.kind for e in LedgerEntry.select().order_by(LedgerEntry.seq)]
    assert kinds == ["FUNDED", "FUNDED", "EXPIRED", "CONSUMED"]
    assert_consistent()


def test_insufficient_balance_changes_nothing(tenant, clock):
    buy(tenant, clock, "5.00")
    before = (LedgerEntry.select().count(), DebitSplit.select().count())
    with pytest.raises(DomainError) as excinfo:
        spend(tenant, clock, "5.01")
    assert code_of(excinfo) == "INSUFFICIENT_BALANCE"
    assert (LedgerEntry.select().count(), DebitSplit.select().count()) == before
    assert balance(tenant, clock) == D("5.00")


def test_database_refuses_a_negative_remainder(tenant, clock):
    lot = buy(tenant, clock, "5.00").lot
    with pytest.raises(Exception), database.db.atomic():  # noqa: B017 - IntegrityError
        CreditLot.update(remaining_minor=-1).where(CreditLot.id == lot.id).execute()
    assert CreditLot.get_by_id(lot.id).remaining_minor == 500


# -- funding -----------------------------------------------------------------------------------


def test_purchase_issues_invoice_and_adds_credit_seats_for_every_user(tenant, clock):
    add_users(tenant, clock(), [("adele", "DE"), ("alex", "DE"), ("bianca", None)])
    result = buy(tenant, clock, "100.00")
    assert (result.invoice.number, result.invoice.reason) == (1, "PURCHASE")
    assert result.invoice.amount_minor == 10000 and result.invoice.status == "ISSUED"
    sub = Subscription.select().join_from(Subscription, Subscription.sku.rel_model).first()
    assert sub.sku.part_number == "MCOPSTNC" and sub.enabled_units == 3
    assert result.lot.invoice_id == result.invoice.id
    assert AuditEntry.select().where(AuditEntry.action == "purchaseCredits").count() == 1


def test_purchase_what_if_writes_nothing(tenant, clock):
    buy(tenant, clock, "10.00")
    counts = (Invoice.select().count(), CreditLot.select().count(), AuditEntry.select().count())
    preview = credits.purchase_credits(
        tenant, SYSTEM, D("40.00"), idempotency_key="k", now=clock(), what_if=True
    )
    assert preview.what_if and preview.invoice.number == 2 and preview.invoice.status == "DRAFT"
    assert preview.balance == eur("50.00")
    assert (
        Invoice.select().count(),
        CreditLot.select().count(),
        AuditEntry.select().count(),
    ) == counts


def test_idempotent_purchase(tenant, clock):
    first = buy(tenant, clock, "10.00", key="order-1")
    clock.advance(minutes=5)
    again = buy(tenant, clock, "10.00", key="order-1")
    assert again.replayed and again.invoice.id == first.invoice.id and again.lot.id == first.lot.id
    assert Invoice.select().count() == 1 and balance(tenant, clock) == D("10.00")
    with pytest.raises(DomainError) as excinfo:
        buy(tenant, clock, "11.00", key="order-1")
    assert code_of(excinfo) == "IDEMPOTENCY_KEY_REUSED"
    assert Invoice.select().count() == 1


def test_idempotent_debit(tenant, clock):
    buy(tenant, clock, "10.00")
    args = dict(reference="call-9", idempotency_key="call-9", now=clock())
    first = credits.debit(tenant, SYSTEM, eur("3.00"), **args)
    again = credits.debit(tenant, SYSTEM, eur("3.00"), **args)
    assert again.entry_seq == first.entry_seq and again.splits == first.splits
    assert balance(tenant, clock) == D("7.00")
    with pytest.raises(DomainError) as excinfo:
        credits.debit(tenant, SYSTEM, eur("4.00"), **args)
    assert code_of(excinfo) == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (D("0"), "INVALID_AMOUNT"),
        (D("-5"), "INVALID_AMOUNT"),
        (D("1000000.01"), "AMOUNT_TOO_LARGE"),
        (D("10.001"), "INVALID_PRECISION"),
        (Money(D("10"), "USD"), "CURRENCY_MISMATCH"),
    ],
)
def test_bad_purchase_amounts_are_refused_and_write_nothing(tenant, clock, amount, code):
    with pytest.raises(DomainError) as excinfo:
        credits.purchase_credits(tenant, SYSTEM, amount, idempotency_key="k", now=clock())
    assert code_of(excinfo) == code
    assert Invoice.select().count() == 0 and CreditLot.select().count() == 0
    assert AuditEntry.select().where(AuditEntry.action == "purchaseCredits").count() == 0


def test_jpy_has_no_minor_unit(db_url, clock):
    yen = create_tenant(
        SYSTEM, name="Kyoto", country="JP", currency="JPY", agreement_type="MOSA", now=clock()
    )
    with pytest.raises(DomainError) as excinfo:
        credits.purchase_credits(yen, SYSTEM, D("100.5"), idempotency_key="k", now=clock())
    assert code_of(excinfo) == "INVALID_PRECISION"
    assert credits.purchase_credits(yen, SYSTEM, D("1000"), idempotency_key="k", now=clock())


# -- auto-recharge -----------------------------------------------------------------------------


def configure(tenant, clock, *, recharge="20.00", trigger="5.00", per_day=None, enabled=True):
    return credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=enabled,
        recharge_amount=D(recharge) if recharge else None,
        trigger_balance=D(trigger) if trigger else None,
        max_recharges_per_day=per_day,
        now=clock(),
    )


def test_recharge_after_a_debit_crosses_the_trigger(tenant, clock):
    buy(tenant, clock, "10.00")
    configure(tenant, clock)
    assert spend(tenant, clock, "4.00").recharges == []  # 6.00: above the trigger
    result = spend(tenant, clock, "2.00")  # 4.00 < 5.00: one recharge
    assert [r.amount for r in result.recharges] == [eur("20.00")]
    assert result.balance_after == eur("24.00")
    invoice = Invoice.get(Invoice.number == 2)
    assert (invoice.reason, invoice.status, invoice.amount_minor) == (
        "AUTO_RECHARGE",
        "ISSUED",
        2000,
    )
    lot = CreditLot.get(CreditLot.invoice == invoice.id)
    assert lot.source == "AUTO_RECHARGE"
    kinds = [n.kind for n in Notification.select()]
    assert kinds == ["RECHARGE_SUCCEEDED"]
    assert AuditEntry.select().where(AuditEntry.action == "autoRecharge").count() == 1
    assert_consistent()


def test_saving_settings_below_the_trigger_recharges_once(tenant, clock):
    result = configure(tenant, clock, recharge="15.00", trigger="10.00")
    assert len(result.recharges) == 1 and balance(tenant, clock) == D("15.00")
    again = configure(tenant, clock, recharge="15.00", trigger="10.00")
    assert again.recharges == []  # 15.00 is not below 10.00


def test_a_debit_larger_than_the_balance_recharges_first(tenant, clock):
    buy(tenant, clock, "10.00")
    configure(tenant, clock, recharge="20.00", trigger="1.00")
    result = spend(tenant, clock, "45.00")  # needs two recharges of 20.00 first
    assert len(result.recharges) == 2
    assert result.balance_after == eur("5.00")
    assert_consistent()


def test_recharge_cap_is_reported_once_a_day(tenant, clock):
    buy(tenant, clock, "10.00")
    configure(tenant, clock, recharge="5.00", trigger="9.00", per_day=2)
    spend(tenant, clock, "2.00")  # 8 → recharge 1 → 13
    spend(tenant, clock, "5.00")  # 8 → recharge 2 → 13
    third = spend(tenant, clock, "5.00")  # 8 → capped
    assert third.recharges == [] and [w.code for w in third.warnings] == ["RECHARGE_CAPPED"]
    fourth = spend(tenant, clock, "1.00")
    assert [w.code for w in fourth.warnings] == ["RECHARGE_CAPPED"]
    assert [
        n.kind for n in Notification.select().where(Notification.kind == "RECHARGE_CAPPED")
    ] == ["RECHARGE_CAPPED"]
    assert AuditEntry.select().where(AuditEntry.action == "autoRechargeCapped").count() == 1
    # Over the cap a debit that needs a recharge is refused, saying why.
    with pytest.raises(DomainError) as excinfo:
        spend(tenant, clock, "50.00")
    assert [d.code for d in excinfo.value.details] == ["INSUFFICIENT_BALANCE", "RECHARGE_CAPPED"]
    clock.advance(days=1)  # a new UTC day
    assert len(spend(tenant, clock, "1.00").recharges) == 1
    assert_consistent()


def test_declined_recharge_creates_no_lot_and_waits_an_hour(tenant, clock):
    billing.update_billing_profile(
        tenant,
        SYSTEM,
        billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined"),
        now=clock(),
    )
    buy_invoice = credits.purchase_credits
    with pytest.raises(DomainError) as excinfo:
        buy_invoice(tenant, SYSTEM, D("10.00"), idempotency_key="k", now=clock())
    assert code_of(excinfo) == "PAYMENT_DECLINED"
    # Written PENDING before the gateway was asked, then marked FAILED: no lot, no credit.
    [declined] = Invoice.select()
    assert (declined.number, declined.status, declined.failure_reason) == (
        1,
        "FAILED",
        "card_declined",
    )
    assert CreditLot.select().count() == 0 and balance(tenant, clock) == D("0")
    with pytest.raises(DomainError) as excinfo:  # a retry with the same key: the same answer
        buy_invoice(tenant, SYSTEM, D("10.00"), idempotency_key="k", now=clock())
    assert code_of(excinfo) == "PAYMENT_DECLINED" and Invoice.select().count() == 1
    billing.update_billing_profile(
        tenant, SYSTEM, billing.BillingFields(payment_method="INVOICE"), now=clock()
    )
    buy(tenant, clock, "10.00")
    billing.update_billing_profile(
        tenant,
        SYSTEM,
        billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined"),
        now=clock(),
    )
    configure(tenant, clock, recharge="20.00", trigger="5.00")

    lots = CreditLot.select().count()
    result = spend(tenant, clock, "6.00")  # 4.00 < 5.00: recharge declined
    assert [(r.ok, r.lot_id) for r in result.recharges] == [(False, None)]
    assert [w.code for w in result.warnings] == ["RECHARGE_FAILED"]
    assert CreditLot.select().count() == lots
    failed = Invoice.get(Invoice.number == 3)
    assert (failed.status, failed.reason) == ("FAILED", "AUTO_RECHARGE")
    assert [n.kind for n in Notification.select()] == ["RECHARGE_FAILED"]

    clock.advance(minutes=59)
    assert spend(tenant, clock, "1.00").recharges == []  # no new try within the hour
    clock.advance(minutes=1)
    assert len(spend(tenant, clock, "1.00").recharges) == 1  # tried (and declined) again
    assert Invoice.select().where(Invoice.status == "FAILED").count() == 3
    assert_consistent()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"recharge": "0"}, "INVALID_RECHARGE_AMOUNT"),
        ({"recharge": "-1"}, "INVALID_RECHARGE_AMOUNT"),
        ({"trigger": "-0.01"}, "INVALID_TRIGGER_BALANCE"),
        ({"trigger": "1.001"}, "INVALID_PRECISION"),
        ({"per_day": 0}, "INVALID_MAX_RECHARGES_PER_DAY"),
    ],
)
def test_bad_recharge_settings_are_refused(tenant, clock, kwargs, code):
    with pytest.raises(DomainError) as excinfo:
        configure(tenant, clock, **kwargs)
    assert code_of(excinfo) == code
    assert AuditEntry.select().where(AuditEntry.action == "configureAutoRecharge").count() == 0


# -- MCA ---------------------------------------------------------------------------------------


def test_mca_tenant_neither_buys_nor_auto_recharges(mca, clock):
    with pytest.raises(DomainError) as excinfo:
        credits.purchase_credits(mca, SYSTEM, D("10"), idempotency_key="k", now=clock())
    assert code_of(excinfo) == "MCA_NO_PURCHASE_NEEDED"
    with pytest.raises(DomainError) as excinfo:
        configure(mca, clock)
    assert code_of(excinfo) == "MCA_AUTO_RECHARGE_NOT_SUPPORTED"
    configure(mca, clock, enabled=False)  # turning it off is what MCA customers do
    assert Invoice.select().count() == 0


def test_mca_usage_is_postpaid_up_to_the_credit_limit_and_invoiced_once(mca, clock):
    def use(amount: str):
        return credits.debit(
            mca, SYSTEM, eur(amount), reference="call", idempotency_key=None, now=clock()
        )

    with pytest.raises(DomainError) as excinfo:
        use("1.00")  # no limit set: nothing on credit
    assert code_of(excinfo) == "CREDIT_LIMIT_REACHED"
    credits.set_credit_limit(mca, SYSTEM, D("100.00"), now=clock())
    first = use("60.00")
    assert first.postpaid == eur("60.00") and first.splits == []
    with pytest.raises(DomainError) as excinfo:
        use("40.01")
    assert code_of(excinfo) == "CREDIT_LIMIT_REACHED"
    use("40.00")  # exactly the limit
    assert [n.kind for n in Notification.select()] == ["CREDIT_LIMIT_REACHED"]
    entries = list(LedgerEntry.select().order_by(LedgerEntry.seq))
    assert [(e.kind, e.amount_minor, e.postpaid_minor, e.period) for e in entries] == [
        ("POSTPAID", 0, 6000, "2026-11"),
        ("POSTPAID", 0, 4000, "2026-11"),
    ]

    with pytest.raises(DomainError) as excinfo:
        credits.close_billing_period(mca, SYSTEM, "2026-11", now=clock())
    assert code_of(excinfo) == "PERIOD_NOT_ENDED"
    clock.now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    closed = credits.close_billing_period(mca, SYSTEM, "2026-11", now=clock())
    assert (closed.invoice.number, closed.invoice.amount_minor) == (1, 10000)
    assert (closed.invoice.reason, closed.invoice.period) == ("POSTPAID", "2026-11")
    again = credits.close_billing_period(mca, SYSTEM, "2026-11", now=clock())
    assert again.already_closed and again.invoice.id == closed.invoice.id
    assert Invoice.select().count() == 1
    use("10.00")  # a new month, a fresh limit
    assert_consistent()


def test_credit_limit_is_for_mca_tenants_only(tenant, clock):
    with pytest.raises(DomainError) as excinfo:
        credits.set_credit_limit(tenant, SYSTEM, D("10"), now=clock())
    assert code_of(excinfo) == "NOT_MCA_TENANT"


# -- operator adjustments ------------------------------------------------------------------------


def test_adjust_credits_both_ways_with_reason(tenant, clock):
    buy(tenant, clock, "10.00")
    plus = credits.adjust_credits(
        tenant, SYSTEM, D("5.00"), reason="goodwill", idempotency_key="adj-1", now=clock()
    )
    assert plus.lot.source == "ADJUSTMENT" and plus.balance == eur("15.00")
    minus = credits.adjust_credits(
        tenant, SYSTEM, D("-12.00"), reason="refund", idempotency_key="adj-2", now=clock()
    )
    assert minus.entry.kind == "ADJUSTED" and minus.entry.amount_minor == -1200
    assert minus.balance == eur("3.00")
    assert DebitSplit.select().where(DebitSplit.entry_seq == minus.entry.seq).count() == 2
    with pytest.raises(DomainError) as excinfo:
        credits.adjust_credits(tenant, SYSTEM, D("1"), reason=" ", idempotency_key="x", now=clock())
    assert code_of(excinfo) == "REASON_REQUIRED"
    assert_consistent()


# -- the Ledger for call rating -----------------------------------------------------------------


def test_ledger_flush_is_a_bounded_number_of_statements(tenant, clock):
    for _ in range(3):
        buy(tenant, clock, "100.00")
        clock.advance(minutes=1)
    configure(tenant, clock, recharge="50.00", trigger="20.00", per_day=10)
    with database.count_statements() as few, database.tenant_lock(tenant.id):
        ledger = credits.open_for_write(tenant, SYSTEM, now=clock())
        ledger.debit(eur("0.10"), reference="call-0")
        ledger.flush()
    with database.count_statements() as many, database.tenant_lock(tenant.id):
        ledger = credits.open_for_write(tenant, SYSTEM, now=clock())
        results = [ledger.debit(eur("0.10"), reference=f"call-{i}") for i in range(1, 400)]
        ledger.flush()
    assert len(many) == len(few)  # 399 debits across lots, same statements as one
    assert results[-1].balance_after == eur("260.00")
    assert_consistent()


def test_audit_finds_a_tampered_balance(tenant, clock):
    from commcredits import cli

    buy(tenant, clock, "10.00")
    assert all(r.ok for r in credits.audit_balances())
    CreditAccount.update(balance_minor=999).execute()
    [row] = credits.audit_balances()
    assert not row.ok and (row.account, row.lots, row.ledger) == (999, 1000, 1000)
    del cli  # the CLI is exercised in the concurrency tests


# -- lots are loaded a page at a time ----------------------------------------------------------


@pytest.fixture
def many_lots(tenant, clock):
    """150 lots of 1.00 EUR, bought a minute apart (the oldest first)."""
    for i in range(150):
        buy(tenant, clock, "1.00", key=f"lot-{i}")
        clock.advance(minutes=1)
    return tenant


def _counting_lot_pages(monkeypatch) -> list[int]:
    from commcredits.services.credits import store

    pages: list[int] = []
    load = store.load_lots

    def counted(*args, **kwargs):
        page = load(*args, **kwargs)
        pages.append(len(page[0]))
        return page

    monkeypatch.setattr(store, "load_lots", counted)
    return pages


def test_a_debit_reads_only_the_lots_it_spends(many_lots, clock, monkeypatch):
    from commcredits.services.credits import store

    pages = _counting_lot_pages(monkeypatch)
    result = spend(many_lots, clock, "0.01")
    assert pages == [store.LOT_PAGE]  # one page of 64, not 150 lots
    first = CreditLot.select().order_by(CreditLot.purchased_at, CreditLot.id).first()
    assert [lot for lot, _ in result.splits] == [first.id]
    pages.clear()
    result = spend(many_lots, clock, "100.50")  # 0.99 + 99 lots + 0.51 of the next
    assert pages == [store.LOT_PAGE, store.LOT_PAGE]
    remaining = [
        lot.remaining_minor
        for lot in CreditLot.select().order_by(CreditLot.purchased_at, CreditLot.id)
    ]
    assert remaining == [0] * 100 + [49] + [100] * 49  # oldest first, to the cent
    assert balance(many_lots, clock) == D("49.49")
    assert_consistent()


def test_a_lot_funded_before_older_ones_are_loaded_keeps_purchase_order(
    many_lots, clock, monkeypatch
):
    """A clock set back dates a new lot before lots not loaded yet: it must be spent first."""
    clock.now = clock.now - dt.timedelta(days=1)
    with database.tenant_lock(many_lots.id):
        ledger = credits.open_for_write(many_lots, SYSTEM, now=clock())
        new = ledger.fund(500, source="ADJUSTMENT", invoice_id=None, reference="back-dated")
        ledger.debit(eur("5.50"), reference="call")
        ledger.flush()
    assert CreditLot.get_by_id(new.id).remaining_minor == 0
    oldest = CreditLot.select().where(CreditLot.id != new.id).order_by(CreditLot.purchased_at)
    assert oldest.first().remaining_minor == 50
    assert_consistent()


def test_a_page_full_of_expired_lots_is_passed_over(tenant, clock):
    """Expired lots come first in purchase order; the debit that expires them reads on."""
    for i in range(70):
        buy(tenant, clock, "1.00", key=f"old-{i}")
    clock.advance(days=366)
    for i in range(5):
        buy(tenant, clock, "1.00", key=f"new-{i}")
    result = spend(tenant, clock, "3.00")
    spent_from = {lot for lot, _ in result.splits}
    new = {lot.id for lot in CreditLot.select().where(CreditLot.purchased_at == clock())}
    assert spent_from <= new and len(spent_from) == 3
    assert balance(tenant, clock) == D("2.00")
    assert LedgerEntry.select().where(LedgerEntry.kind == "EXPIRED").count() == 70
    assert_consistent()
