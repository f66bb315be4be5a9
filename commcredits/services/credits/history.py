"""The balance over the last days, drawn from the ledger (the console's chart, issue 14).

One point per day, oldest first: the balance at the end of that day, i.e. the `balance_after`
of the day's last ledger entry (in commit order), or of the last entry before it on a day
without any, and 0 before the tenant's first entry. Days are UTC days (a tenant has no time
zone); today's point is the balance as of `now`, entries after `now` are not counted.

It reads each day's last entry from `ledger_day` (kept as entries are written, migration 0030),
never the entries themselves, in two statements of at most a row per day whatever the ledger's
size: the last day before the window (the opening balance), and the window's days. One
exception keeps "as of `now`" exact: if today's last entry is later than `now` (a clock that
went back, or a `now` in the past), a third statement reads today's entries up to `now`. Like
every read it opens no ledger, takes no lock and writes nothing. The ledger's balance is the
one its entries wrote: a lot past its expiry whose EXPIRED entry is not written yet still
counts in it until that entry is (`expire`, `expireCredits` or the tenant's next money write).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.models import LedgerDay, LedgerEntry, Tenant
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
    mine = LedgerDay.tenant == tenant.id

    # The last entry before the window in commit order: the highest seq of the days before it.
    opening = (
        LedgerDay.select(LedgerDay.balance_after_minor)
        .where(mine & (LedgerDay.day < first.isoformat()))
        .order_by(LedgerDay.last_seq.desc())
        .limit(1)
        .scalar()
    )
    closing: dict[dt.date, int] = {}
    for day, minor, last_at in (
        LedgerDay.select(LedgerDay.day, LedgerDay.balance_after_minor, LedgerDay.last_at)
        .where(mine & LedgerDay.day.between(first.isoformat(), today.isoformat()))
        .tuples()
    ):
        when = dt.date.fromisoformat(day)
        if last_at <= now:
            closing[when] = minor
        else:  # only today's can be: every earlier day ended before `now`
            minor = _last_balance_until(tenant, when, now)
            if minor is not None:
                closing[when] = minor

    points = []
    balance = int(opening or 0)
    for offset in range(days):
        when = first + dt.timedelta(days=offset)
        balance = closing.get(when, balance)
        points.append(BalancePoint(when, Money.from_minor(balance, tenant.currency)))
    return points


def _last_balance_until(tenant: Tenant, day: dt.date, now: dt.datetime) -> int | None:
    """The balance after `day`'s last entry (in commit order) made at or before `now`."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return (
        LedgerEntry.select(LedgerEntry.balance_after_minor)
        .where(
            (LedgerEntry.tenant == tenant.id)
            & (LedgerEntry.created_at >= start)
            & (LedgerEntry.created_at < start + dt.timedelta(days=1))
            & (LedgerEntry.created_at <= now)
        )
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
        .scalar()
    )
