"""Charging the payment gateway in two phases (SPEC §6), and the sweeper that finishes them.

(a) Under the tenant lock a unit of work writes the invoice PENDING, with its own payment key,
    and commits. (b) With no lock held the gateway is charged with that key. (c) Under the lock
    again `settle` records the answer: PAID/ISSUED funds the lot, a decline marks the invoice
    FAILED. A crash between any two steps leaves a PENDING invoice, which `reconcile_payments`
    (run by `serve` and by `commcredits reconcile-payments`) finishes by asking the gateway again
    with the same key: a charge without an invoice, a lot without a paid invoice, or two charges
    for one invoice cannot happen.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from commcredits import metrics
from commcredits.db import tenant_lock
from commcredits.models import CreditLot, Invoice, Tenant
from commcredits.money import Money
from commcredits.services import payments
from commcredits.services.credits import idempotency, recharge
from commcredits.services.credits.ledger import Ledger, LotState
from commcredits.services.credits.reads import current_balance, purchase_preview
from commcredits.services.credits.results import PurchaseResult, RechargeOutcome
from commcredits.services.credits.rules import (
    DECLINE_PAUSE,
    check_amount,
    check_idempotency_key,
)
from commcredits.services.errors import DomainError
from commcredits.services.principal import SYSTEM, Principal

log = logging.getLogger("commcredits.payments")


def settle(ledger: Ledger, invoice: Invoice, charge: payments.Charge) -> LotState | None:
    """Step (c), inside the ledger's unit of work: PAID/ISSUED funds the invoice's lot, a
    decline marks it FAILED (a declined recharge pauses recharges for an hour)."""
    amount = ledger.money(invoice.amount_minor)
    is_recharge = invoice.reason == "AUTO_RECHARGE"
    metrics.payment_settled(invoice.reason, charge.ok)  # counted when this commits
    if is_recharge:
        p = ledger.pending
        ledger.pending = recharge.Pending(
            max(0, p.count - 1), max(0, p.minor - invoice.amount_minor)
        )
    payload: dict[str, Any] = {
        "invoiceNumber": invoice.number,
        "amount": str(amount.amount),
        "currency": ledger.currency,
    }
    if not charge.ok:
        ledger.update_invoice(
            invoice.id, status="FAILED", failure_reason=(charge.decline_code or "declined")[:200]
        )
        payload["reason"] = charge.decline_code
        if is_recharge and ledger.settings is not None:
            ledger.settings.retry_after = ledger.now + DECLINE_PAUSE
            ledger.mark_settings()
            payload["retryAfter"] = ledger.settings.retry_after.isoformat()
            ledger.note("RECHARGE_FAILED", payload)
        action = "autoRechargeFailed" if is_recharge else "purchaseDeclined"
        ledger.audit(action, ("Invoice", invoice.id), before=None, after=payload)
        return None
    status = "PAID" if invoice.payment_method == "CARD" else "ISSUED"
    ledger.update_invoice(invoice.id, status=status, payment_reference=charge.reference[:200])
    before = ledger.balance()
    lot = ledger.fund(
        invoice.amount_minor,
        source="AUTO_RECHARGE" if is_recharge else "PURCHASE",
        invoice_id=invoice.id,
        reference="auto-recharge" if is_recharge else f"invoice:{invoice.number}",
    )
    payload["balance"] = str(ledger.balance().amount)
    if is_recharge:
        if ledger.settings is not None:
            recharge.count_settled(ledger.settings, ledger.now)
            ledger.mark_settings()
        ledger.note("RECHARGE_SUCCEEDED", payload)
    ledger.audit(
        "autoRecharge" if is_recharge else "purchaseCredits",
        ("Invoice", invoice.id),
        before={"balance": str(before.amount)},
        after=payload | {"lot": lot},
    )
    return lot


def charge_and_settle(
    tenant: Tenant, principal: Principal, invoice: Invoice, *, now: dt.datetime
) -> Invoice:
    """Steps (b) and (c) for one PENDING invoice; returns it as it then stands (still PENDING
    when the gateway gave no answer). Call with no lock held."""
    # Everything sent comes from the invoice as written in step (a): asking again must send
    # the same request, whatever changed since (a provider refuses a key reused otherwise).
    try:
        charge = payments.gateway().charge(
            tenant_id=tenant.id,
            method=invoice.payment_method,
            token=invoice.payment_token,
            amount=Money.from_minor(invoice.amount_minor, invoice.currency),
            idempotency_key=invoice.payment_key,
            description=f"commcredits invoice {tenant.id}-{invoice.number} ({invoice.reason})",
        )
    except payments.GatewayUnavailable as error:
        log.warning("invoice %s stays PENDING: %s", invoice.id, error)
        metrics.payment_unanswered(invoice.reason)
        return invoice
    with tenant_lock(tenant.id):
        current = Invoice.get_by_id(invoice.id)
        if current.status != "PENDING":  # another worker or the sweeper settled it
            return current
        ledger = Ledger.open(tenant, now=now, principal=principal)
        ledger.expire_due()
        settle(ledger, current, charge)
        ledger.flush()
    _settle_started(tenant, principal, ledger, now=now)
    return Invoice.get_by_id(invoice.id)


def _settle_started(
    tenant: Tenant, principal: Principal, ledger: Ledger, *, now: dt.datetime
) -> None:
    """Expiry recorded by a unit of work may have started a recharge: charge it now too."""
    if ledger.started:
        settle_recharges(tenant, principal, [i.id for i in ledger.started], now=now)


def settle_recharges(
    tenant: Tenant, principal: Principal, invoice_ids: list[int], *, now: dt.datetime
) -> list[RechargeOutcome]:
    """Charge and settle recharge intents a unit of work started; one outcome each."""
    outcomes = []
    for invoice in Invoice.select().where(Invoice.id.in_(invoice_ids)).order_by(Invoice.number):
        if invoice.status == "PENDING":
            invoice = charge_and_settle(tenant, principal, invoice, now=now)
        lot = CreditLot.get_or_none(CreditLot.invoice == invoice.id)
        outcomes.append(
            RechargeOutcome(
                ok=invoice.status in ("PAID", "ISSUED"),
                amount=Money.from_minor(invoice.amount_minor, invoice.currency),
                invoice_id=invoice.id,
                invoice_number=invoice.number,
                lot_id=lot.id if lot else None,
                decline_reason=invoice.failure_reason,
                pending=invoice.status == "PENDING",
            )
        )
    return outcomes


def pending_recharge_ids(tenant: Tenant) -> list[int]:
    query = Invoice.select(Invoice.id).where(
        (Invoice.status == "PENDING")
        & (Invoice.tenant == tenant.id)
        & (Invoice.reason == "AUTO_RECHARGE")
    )
    return [row.id for row in query]


def purchase_credits(
    tenant: Tenant,
    principal: Principal,
    amount: Decimal | Money,
    *,
    idempotency_key: str,
    now: dt.datetime,
    what_if: bool = False,
) -> PurchaseResult:
    """Buy a lot of credits now (12-month expiry), invoiced; adds Communication Credits seats.

    `what_if` is the order review: the invoice it would issue, nothing written. A retry with
    the same key returns the first outcome (`replayed`), finishing it first if it was left
    pending; the order review of a retry says so too, with the invoice it matched, so that a
    dry run tells what the real call will do.
    """
    if tenant.agreement_type == "MCA":
        raise DomainError(
            "MCA_NO_PURCHASE_NEEDED",
            "Microsoft Customer Agreement tenants do not buy credits: usage is billed in "
            "arrears up to the credit limit.",
            "amount",
        )
    money = check_amount(tenant, amount)
    key = check_idempotency_key(idempotency_key)
    args = idempotency.money_args(money)
    if what_if:
        # Read only: a key used for another request is refused here as it would be for real.
        prior = idempotency.replay(tenant, key, "purchaseCredits", args)
        if prior is None:
            return purchase_preview(tenant, money, now=now)
        invoice = Invoice.get_by_id(prior["invoice"])
        if invoice.status == "FAILED":  # (a PENDING one the real call would charge again)
            _check_settled(invoice, money)
        return PurchaseResult(
            lot=CreditLot.get_or_none(CreditLot.invoice == invoice.id),
            invoice=invoice,
            balance=current_balance(tenant, now=now),
            what_if=True,
            replayed=True,
        )
    with tenant_lock(tenant.id):
        prior = idempotency.replay(tenant, key, "purchaseCredits", args)
        if prior is None:
            ledger = Ledger.open(tenant, now=now, principal=principal)
            ledger.expire_due()
            intent = ledger.new_invoice(reason="PURCHASE", amount_minor=money.minor)
            ledger.flush()
            idempotency.remember(
                tenant, key, "purchaseCredits", args, {"invoice": intent.id}, now=now
            )
            invoice_id = intent.id
        else:
            ledger, invoice_id = None, prior["invoice"]
    if ledger is not None:
        _settle_started(tenant, principal, ledger, now=now)
    invoice = Invoice.get_by_id(invoice_id)
    if invoice.status == "PENDING":
        invoice = charge_and_settle(tenant, principal, invoice, now=now)
    _check_settled(invoice, money)
    return PurchaseResult(
        lot=CreditLot.get_or_none(CreditLot.invoice == invoice.id),
        invoice=invoice,
        balance=current_balance(tenant, now=now),
        replayed=prior is not None,
    )


def _check_settled(invoice: Invoice, money: Money) -> None:
    """A purchase whose invoice failed or is still waiting for the provider is an error."""
    if invoice.status == "FAILED":
        raise DomainError(
            "PAYMENT_DECLINED",
            f"The payment method declined the charge of {money} ({invoice.failure_reason}); "
            f"invoice {invoice.number} is marked failed.",
            "paymentMethod",
        )
    if invoice.status == "PENDING":
        raise DomainError(
            "PAYMENT_PENDING",
            f"The payment provider has not answered for invoice {invoice.number}; it completes "
            "or fails on its own. Retry with the same idempotency key to see the outcome.",
            "paymentMethod",
        )


def reconcile_payments(
    *, now: dt.datetime, older_than: dt.timedelta = dt.timedelta(0), principal: Principal = SYSTEM
) -> list[Invoice]:
    """The sweeper: finish every invoice left PENDING (issued before `now - older_than`) by
    asking the gateway again with its key. Returns the invoices as they then stand."""
    cutoff = now - older_than
    found = list(
        Invoice.select()
        .where((Invoice.status == "PENDING") & (Invoice.issued_at <= cutoff))
        .order_by(Invoice.tenant, Invoice.number)
    )
    tenants = {t.id: t for t in Tenant.select().where(Tenant.id.in_({i.tenant_id for i in found}))}
    settled = []
    for invoice in found:
        try:
            settled.append(
                charge_and_settle(tenants[invoice.tenant_id], principal, invoice, now=now)
            )
        except Exception:  # one invoice's trouble must not stop the others being finished
            log.exception("invoice %s could not be reconciled; it stays PENDING", invoice.id)
            settled.append(invoice)
    return settled
