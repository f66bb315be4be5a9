"""MCA billing periods (SPEC §6): the operator's monthly credit limit, and closing an ended
month into one invoice of its postpaid usage, exactly once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from commcredits.db import tenant_lock
from commcredits.models import Invoice, PostpaidPeriod, Tenant
from commcredits.money import Money
from commcredits.services.credits.ledger import Ledger
from commcredits.services.credits.results import CloseResult
from commcredits.services.credits.rules import add_months, check_amount, period_of
from commcredits.services.errors import DomainError
from commcredits.services.principal import Principal


def _require_mca(tenant: Tenant, message: str) -> None:
    if tenant.agreement_type != "MCA":
        raise DomainError("NOT_MCA_TENANT", message, "tenantId")


def set_credit_limit(
    tenant: Tenant, principal: Principal, limit: Decimal | Money | None, *, now: dt.datetime
) -> Money | None:
    """Operator: an MCA tenant's monthly postpaid credit limit (None removes it: no usage)."""
    _require_mca(
        tenant,
        "Only Microsoft Customer Agreement tenants are billed in arrears; this tenant prepays.",
    )
    money = None if limit is None else check_amount(tenant, limit, field="limit", allow_zero=True)
    with tenant_lock(tenant.id):
        ledger = Ledger.open(tenant, now=now, principal=principal)
        before = ledger.credit_limit_minor
        ledger.set_credit_limit(None if money is None else money.minor)
        ledger.audit(
            "setCreditLimit",
            ("Tenant", tenant.id),
            before={"creditLimit": None if before is None else str(ledger.money(before).amount)},
            after={"creditLimit": None if money is None else str(money.amount)},
        )
        ledger.flush()
    return money


def close_billing_period(
    tenant: Tenant, principal: Principal, month: str, *, now: dt.datetime
) -> CloseResult:
    """Operator: invoice an MCA tenant's postpaid usage of an ended month, exactly once."""
    _require_mca(tenant, "Only Microsoft Customer Agreement tenants have billing periods.")
    try:
        start = dt.datetime.strptime((month or "").strip(), "%Y-%m").replace(tzinfo=dt.UTC)
    except ValueError:
        raise DomainError(
            "INVALID_MONTH", f"'{month}' is not a month (YYYY-MM).", "month"
        ) from None
    period = period_of(start)
    # December 9999 ends past the last datetime there is (its end cannot be computed): it has
    # not ended either.
    if (start.year, start.month) == (dt.MAXYEAR, 12) or add_months(start, 1) > now:
        raise DomainError(
            "PERIOD_NOT_ENDED", f"The billing period {period} has not ended yet.", "month"
        )
    with tenant_lock(tenant.id):
        row = PostpaidPeriod.get_or_none(
            (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period)
        )
        if row is not None and row.closed_at is not None:
            invoice = Invoice.get_by_id(row.invoice_id) if row.invoice_id else None
            return CloseResult(row, invoice, already_closed=True)
        if row is None:
            row = PostpaidPeriod(
                tenant=tenant.id, period=period, used_minor=0, currency=tenant.currency
            )
        ledger = Ledger.open(tenant, now=now, principal=principal)
        invoice = None
        if row.used_minor > 0:
            invoice = ledger.new_invoice(
                reason="POSTPAID", amount_minor=row.used_minor, status="ISSUED", period=period
            )
        row.closed_at = now
        ledger.save_period(row, invoice)
        ledger.audit(
            "closeBillingPeriod",
            ("PostpaidPeriod", period),
            before=None,
            after={
                "period": period,
                "used": str(ledger.money(row.used_minor).amount),
                "invoiceNumber": invoice.number if invoice else None,
            },
        )
        ledger.flush()
    return CloseResult(row, Invoice.get_by_id(invoice.id) if invoice else None, False)
