"""The balance over the last days, drawn from the ledger (the console's chart, issue 14).

One point per day, oldest first: the balance at the end of that day, i.e. the `balance_after`
of the day's last ledger entry (in commit order), or of the last entry before it on a day
without any, and 0 before the tenant's first entry. Days are UTC days (a tenant has no time
zone); today's point is the balance as of `now`, entries after `now` are not counted.

It reads in two statements whatever the ledger's size: the last entry before the first day
(the opening balance), and the last entry of each day in the window, grouped in SQL. Like every
read it opens no ledger, takes no lock and writes nothing. The ledger's balance is the one its
entries wrote: a lot past its expiry whose EXPIRED entry is not written yet still counts in it
until that entry is (`expire`, `expireCredits` or the tenant's next money write).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from commcredits.models import LedgerEntry, Tenant
from commcredits.money import Money
from commcredits.services.errors import DomainError

DEFAULT_DAYS = 90
MAX_DAYS = 366


@dataclass(frozen=True)
class BalancePoint:
    day: dt.date
    balance: Money  # at the end of `day` (as of `now` for today)


def check_days(days: int) -> int:
    """How many days are read: at least 1 (else INVALID_DAYS), at most MAX_DAYS (more is
    clamped rather than refused: a year of days is all a chart of the balance shows, and a
    caller asking for more, e.g. 400 days to see past a lot's 12 months, gets that year)."""
    if days < 1:
        raise DomainError(
            "INVALID_DAYS", f"days is at least 1 (at most {MAX_DAYS} are read).", "days"
        )
    return min(days, MAX_DAYS)


def balance_history(
    tenant: Tenant, *, now: dt.datetime, days: int = DEFAULT_DAYS
) -> list[BalancePoint]:
    """The balance at the end of each of the last `days` UTC days, today last."""
    days = check_days(days)
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    mine = LedgerEntry.tenant == tenant.id

    opening = (
        LedgerEntry.select(LedgerEntry.balance_after_minor)
        .where(mine & (LedgerEntry.created_at < start))
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
        .scalar()
    )
    # DATE() of the stored naive UTC timestamp is its UTC day on SQLite and PostgreSQL alike.
    day = peewee.fn.DATE(LedgerEntry.created_at)
    last_of_day = (
        LedgerEntry.select(peewee.fn.MAX(LedgerEntry.seq))
        .where(mine & (LedgerEntry.created_at >= start) & (LedgerEntry.created_at <= now))
        .group_by(day)
    )
    closing: dict[dt.date, int] = {}
    for created_at, minor in (
        LedgerEntry.select(LedgerEntry.created_at, LedgerEntry.balance_after_minor)
        .where(mine & LedgerEntry.seq.in_(last_of_day))
        .tuples()
    ):
        closing[LedgerEntry.created_at.python_value(created_at).date()] = minor

    points = []
    balance = int(opening or 0)
    for offset in range(days):
        when = first + dt.timedelta(days=offset)
        balance = closing.get(when, balance)
        points.append(BalancePoint(when, Money.from_minor(balance, tenant.currency)))
    return points
