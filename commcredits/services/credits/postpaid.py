"""MCA tenants (SPEC §6): usage billed in arrears up to a monthly credit limit. The rule a
ledger applies to an MCA tenant's debit; closing a month is in `billing_periods.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commcredits.models import PostpaidPeriod
from commcredits.services.credits.rules import period_of
from commcredits.services.errors import DomainError

if TYPE_CHECKING:  # the ledger calls this module; it only passes itself in
    from commcredits.services.credits.ledger import Ledger
    from commcredits.services.credits.results import DebitResult


def debit_postpaid(ledger: Ledger, cents: int, *, reference: str, kind: str) -> DebitResult:
    """Lots (operator adjustments) first, the rest as this month's postpaid usage."""
    from_lots = min(ledger.balance_minor, cents)
    rest = cents - from_lots
    period = period_of(ledger.now)
    row = ledger.period
    if rest:
        if row is not None and row.closed_at is not None:
            raise DomainError(
                "PERIOD_CLOSED", f"The billing period {period} is already invoiced.", "amount"
            )
        limit = ledger.credit_limit_minor or 0
        used = row.used_minor if row is not None else 0
        if used + rest > limit:
            _report_limit(ledger, period, limit)
            raise DomainError(
                "CREDIT_LIMIT_REACHED",
                f"This usage of {ledger.money(rest)} would take {period}'s postpaid usage past "
                f"the credit limit of {ledger.money(limit)} ({ledger.money(used)} used).",
                "amount",
            )
        row = _current_period(ledger, period)
        row.used_minor += rest
        ledger.save_period(row)
    splits = ledger.take(from_lots) if from_lots else []
    seq = ledger.entry(
        "POSTPAID" if rest else "CONSUMED",
        -from_lots,
        reference=reference,
        usage_kind=kind,
        postpaid=rest,
        period=period if rest else None,
    )
    ledger.record_splits(seq, splits)
    if rest and row.used_minor == (ledger.credit_limit_minor or 0):
        _report_limit(ledger, period, row.used_minor)
    return ledger.debit_result(cents, seq, splits, reference=reference, postpaid=rest)


def _current_period(ledger: Ledger, period: str) -> PostpaidPeriod:
    if ledger.period is None:
        ledger.period = PostpaidPeriod(
            tenant=ledger.tenant.id, period=period, used_minor=0, currency=ledger.currency
        )
    return ledger.period


def _report_limit(ledger: Ledger, period: str, limit: int) -> None:
    row = _current_period(ledger, period)
    if not row.limit_reported:
        row.limit_reported = True
        ledger.save_period(row)
        ledger.note(
            "CREDIT_LIMIT_REACHED",
            {"period": period, "creditLimit": str(ledger.money(limit).amount)},
        )
