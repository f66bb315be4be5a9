"""Pure credit rules (SPEC §4, §6): months and expiry, the FIFO plan, amount checks.

Nothing here reads or writes the database; every function is a value in, a value out.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from commcredits.clock import utc_instant
from commcredits.models import Tenant
from commcredits.money import Money, minor_unit
from commcredits.services.errors import DomainError

MAX_AMOUNT = Decimal("1000000")  # per purchase, recharge, trigger, adjustment, credit limit
LOT_LIFETIME_MONTHS = 12
DECLINE_PAUSE = dt.timedelta(hours=1)
DEFAULT_MAX_RECHARGES_PER_DAY = 5
MAX_RECHARGES_PER_DAY = 100
FORECAST_DAYS = 30


def add_months(at: dt.datetime, months: int) -> dt.datetime:
    """`at` plus calendar months; the day is clamped to the month's last (Feb 29 → Feb 28)."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def lot_expiry(purchased_at: dt.datetime) -> dt.datetime:
    """Credits not used within 12 months of purchase expire (seed: "Überlegungen")."""
    return add_months(purchased_at, LOT_LIFETIME_MONTHS)


def is_expired(expires_at: dt.datetime, now: dt.datetime) -> bool:
    return expires_at <= now


def period_of(at: dt.datetime) -> str:
    """The MCA billing period (a UTC calendar month) `at` falls in."""
    return f"{at.year:04d}-{at.month:02d}"


def day_of(at: dt.datetime) -> str:
    """The UTC day the daily recharge cap counts in."""
    return at.date().isoformat()


class HasRemaining(Protocol):
    remaining: int


def fifo_plan(
    lots: Sequence[HasRemaining], amount: int, *, start: int = 0
) -> list[tuple[int, int]]:
    """Take `amount` from `lots` (oldest first), beginning at position `start`.

    Returns `(position, taken)` pairs and changes nothing; all or nothing: ValueError if the
    lots cannot cover it. It reads only as many lots as the amount needs.
    """
    if amount <= 0:
        raise ValueError("a debit takes a positive amount")
    plan: list[tuple[int, int]] = []
    left = amount
    for position in range(start, len(lots)):
        remaining = lots[position].remaining
        if remaining > 0:
            take = remaining if remaining < left else left
            plan.append((position, take))
            left -= take
            if not left:
                return plan
    raise ValueError("insufficient")


def currency_mismatch(expected: str, got: str, field: str | None = "amount") -> DomainError:
    return DomainError(
        "CURRENCY_MISMATCH", f"This tenant is billed in {expected}, not {got}.", field
    )


def check_currency(tenant: Tenant, currency: str | None, field: str = "currency") -> None:
    """An explicitly given currency must be the tenant's; None means the tenant's own."""
    if currency is not None and currency.strip().upper() != tenant.currency:
        raise currency_mismatch(tenant.currency, repr(currency.strip()[:3]), field)


def insufficient(balance: Money, needed: Money) -> DomainError:
    return DomainError(
        "INSUFFICIENT_BALANCE",
        f"The credit balance {balance} cannot cover {needed}.",
        "amount",
    )


def check_amount(
    tenant: Tenant,
    value: Decimal | Money | None,
    *,
    field: str = "amount",
    allow_zero: bool = False,
    allow_negative: bool = False,
    invalid_code: str = "INVALID_AMOUNT",
) -> Money:
    """A client amount as tenant-currency Money, or a DomainError naming what is wrong."""
    if value is None:
        raise DomainError(invalid_code, "An amount is required.", field)
    if isinstance(value, Money):
        if value.currency != tenant.currency:
            raise currency_mismatch(tenant.currency, value.currency, field)
        amount = value.amount
    else:
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise DomainError(invalid_code, "Amounts are decimal strings, never floats.", field)
        amount = Decimal(value)
    if not amount.is_finite():
        raise DomainError(invalid_code, "An amount must be a finite number.", field)
    if amount and (amount.adjusted() > 18 or len(amount.as_tuple().digits) > 40):
        # Checked before any arithmetic: abs() or a comparison of "1e999999999" overflows
        # the decimal context, and no amount column holds more than 18 digits anyway.
        raise DomainError(
            "AMOUNT_TOO_LARGE",
            f"An amount is at most {MAX_AMOUNT:,} {tenant.currency}; got {str(amount)[:40]}.",
            field,
        )
    if (amount < 0 and not allow_negative) or (amount == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "above 0"
        raise DomainError(invalid_code, f"The amount must be {bound}; got {amount}.", field)
    if abs(amount) > MAX_AMOUNT:
        raise DomainError(
            "AMOUNT_TOO_LARGE",
            f"An amount is at most {MAX_AMOUNT:,} {tenant.currency}; got {amount}.",
            field,
        )
    money = Money(amount, tenant.currency)
    if not money.is_exact:
        raise DomainError(
            "INVALID_PRECISION",
            f"{tenant.currency} amounts have at most {minor_unit(tenant.currency)} decimals; "
            f"got {amount}.",
            field,
        )
    return money


def positive_minor(amount: Money, currency: str) -> int:
    """An internal amount (a rated call's charge) as positive minor units of `currency`."""
    if amount.currency != currency:
        raise currency_mismatch(currency, amount.currency)
    if not amount.is_exact:
        raise DomainError(
            "INVALID_PRECISION",
            f"{currency} amounts have at most {minor_unit(currency)} decimals.",
            "amount",
        )
    cents = amount.minor
    if cents <= 0:
        raise DomainError("INVALID_AMOUNT", "The amount must be above 0.", "amount")
    return cents


def check_as_of(as_of: dt.datetime | None, *, now: dt.datetime) -> dt.datetime:
    """The moment a write acts at: `now`, or an earlier `as_of` (SPEC §4: nothing is ever
    dated after the server's clock, so a later one is refused rather than clamped: the caller
    asked for something else than what would happen)."""
    if as_of is None:
        return now
    when = utc_instant(as_of, "asOf")
    if when > now:
        raise DomainError(
            "AS_OF_IN_FUTURE",
            f"asOf {when.isoformat()} is after the server's clock ({now.isoformat()}): nothing "
            "is ever dated in the future.",
            "asOf",
        )
    return when


def check_idempotency_key(key: str | None) -> str:
    clean = (key or "").strip()
    if not clean or len(clean) > 200:
        raise DomainError(
            "INVALID_IDEMPOTENCY_KEY",
            "An idempotency key has 1 to 200 characters.",
            "idempotencyKey",
        )
    return clean
