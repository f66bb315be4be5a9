"""Auto-recharge policy (SPEC §6): when a recharge starts, how many, and what the cap allows.

Pure functions of the settings, the balance and the recharges already pending; the ledger
asks them and records the *intents* (PENDING invoices) they call for. Charging happens later,
outside the lock (`charges.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from commcredits.models import AutoRecharge
from commcredits.services.credits.rules import day_of


@dataclass(frozen=True)
class Pending:
    """The tenant's recharges written PENDING and not yet settled."""

    count: int = 0
    minor: int = 0


def active(s: AutoRecharge | None) -> bool:
    return bool(s is not None and s.enabled and s.recharge_minor and s.trigger_minor is not None)


def paused(s: AutoRecharge | None, now: dt.datetime) -> bool:
    """A declined charge pauses recharges for an hour (SPEC §6)."""
    return s is not None and s.retry_after is not None and now < s.retry_after


def settled_today(s: AutoRecharge | None, now: dt.datetime) -> int:
    """Recharges settled on `now`'s UTC day. A request whose clock was read before midnight
    may reach the lock after one of the new day: its day is over and counted no more, so it
    gets no room (as if the cap were reached) rather than a fresh count."""
    if s is None or s.count_day is None:
        return 0
    day = day_of(now)
    if day == s.count_day:
        return s.count_on_day
    return 0 if day > s.count_day else s.max_per_day


def room_today(s: AutoRecharge, pending: Pending, now: dt.datetime) -> int:
    """Recharges the daily cap still allows, counting the pending ones as spent."""
    return max(0, s.max_per_day - settled_today(s, now) - pending.count)


def for_trigger(
    s: AutoRecharge | None, balance: int, pending: Pending, now: dt.datetime
) -> int | None:
    """Recharges to start after a change left `balance`: 1 when it is below the trigger and
    none is pending, 0 when nothing is due, None when one is due but the cap forbids it."""
    if not active(s) or paused(s, now) or balance >= s.trigger_minor or pending.count:
        return 0
    return 1 if room_today(s, pending, now) else None


def to_cover(
    s: AutoRecharge | None, balance: int, needed: int, pending: Pending, now: dt.datetime
) -> int | None:
    """Recharges to start so that a debit of `needed` can be paid once they settle, beyond
    those already pending. 0 when none can help (off, paused), None when the cap forbids it:
    recharging part of the way would spend money on a debit that still fails."""
    if not active(s) or paused(s, now):
        return 0
    short = needed - balance - pending.minor
    if short <= 0:
        return 0
    count = -(-short // s.recharge_minor)
    room = room_today(s, pending, now)
    if count <= room:
        return count
    # More than the day still allows: None only when the cap has been reached (that is what
    # the tenant is told, RECHARGE_CAPPED); recharges the day allows would not cover it, so
    # none is started and the debit is refused for the balance alone.
    return None if room == 0 else 0


def spendable_extra(s: AutoRecharge | None, pending: Pending, now: dt.datetime) -> int:
    """What recharges could still add today: the pending ones plus those the cap allows."""
    if not active(s) or paused(s, now):
        return pending.minor
    return pending.minor + room_today(s, pending, now) * s.recharge_minor


def count_settled(s: AutoRecharge, now: dt.datetime) -> None:
    """One more successful recharge today (kept on the row: no debit counts invoices). The
    day only moves forward: a recharge settled at an earlier `now` (a request that read the
    clock before midnight) does not reset the new day's count."""
    day = day_of(now)
    if s.count_day is None or day > s.count_day:
        s.count_day, s.count_on_day = day, 1
    elif day == s.count_day:
        s.count_on_day += 1
