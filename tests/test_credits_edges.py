"""Edges of expiry, the daily recharge cap and idempotency keys (review findings)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from commcredits.models import CreditLot, Invoice, Notification
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError


def _recharge(tenant, now, *, amount: str, below: str, per_day: int | None = None) -> None:
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=D(amount),
        trigger_balance=D(below),
        max_recharges_per_day=per_day,
        now=now,
    )


def _eur(value: str) -> Money:
    return Money(D(value), "EUR")


def test_an_expiry_as_of_an_earlier_time_charges_its_recharge_now(tenant, clock):
    """The lot expired a year ago; the operator expires it as of then, today: the recharge
    this starts is paid today, so its invoice and lot are dated today, with 12 months ahead."""
    t0 = clock()
    credits.purchase_credits(tenant, SYSTEM, D("10.00"), idempotency_key="p", now=t0)
    _recharge(tenant, t0, amount="20.00", below="5.00")
    now = clock.advance(days=365 + 330)
    as_of = dt.datetime(2027, 11, 26, tzinfo=dt.UTC)
    [expired] = credits.expire_credits(now=now, as_of=as_of, tenant=tenant)
    assert expired.expired == _eur("10.00")
    [lot] = CreditLot.select().where(CreditLot.source == "AUTO_RECHARGE")
    [invoice] = Invoice.select().where(Invoice.reason == "AUTO_RECHARGE")
    assert (lot.purchased_at, invoice.issued_at) == (now, now)
    assert lot.expires_at > now + dt.timedelta(days=360)
    assert credits.current_balance(tenant, now=now).amount == D("20.00")


def test_a_request_that_read_the_clock_before_midnight_does_not_reset_the_new_days_cap(
    tenant, clock
):
    """One recharge a day. The new day's first recharge is settled, then a request whose
    clock was read just before midnight reaches the lock: it gets no recharge dated in a day
    that is over, and the new day's count stands (a third request that day gets none)."""
    credits.purchase_credits(tenant, SYSTEM, D("100.00"), idempotency_key="p", now=clock())
    _recharge(tenant, clock(), amount="10.00", below="95.00", per_day=1)
    day_1 = dt.datetime(2026, 11, 25, 23, 59, 59, 900_000, tzinfo=dt.UTC)
    day_2 = dt.datetime(2026, 11, 26, 0, 0, 0, 100_000, tzinfo=dt.UTC)
    for reference, now in (("b", day_2), ("a", day_1), ("c", day_2 + dt.timedelta(seconds=1))):
        credits.debit(tenant, SYSTEM, _eur("10.00"), reference=reference, idempotency_key=None,
                      now=now)  # fmt: skip
    paid = [
        i.issued_at.date()
        for i in Invoice.select().where(Invoice.reason == "AUTO_RECHARGE")
        if i.status in ("PAID", "ISSUED")
    ]
    assert paid.count(day_2.date()) == 1, paid


def test_a_debit_the_days_recharges_cannot_cover_is_not_reported_as_capped(tenant, clock):
    """Two recharges a day, none yet: a debit needing three is refused for the balance, and
    neither a RECHARGE_CAPPED warning nor a "limit reached" notification claims otherwise."""
    now = clock()
    credits.purchase_credits(tenant, SYSTEM, D("14.50"), idempotency_key="p", now=now)
    _recharge(tenant, now, amount="10.00", below="5.00", per_day=2)
    with pytest.raises(DomainError) as refused:
        credits.debit(tenant, SYSTEM, _eur("40.00"), reference="big", idempotency_key=None,
                      now=now)  # fmt: skip
    codes = [d.code for d in refused.value.details]
    assert "INSUFFICIENT_BALANCE" in codes and "RECHARGE_CAPPED" not in codes, codes
    assert not [n for n in Notification.select() if "RECHARGE_CAPPED" in (n.kind or "")]
    # and the day's recharges are still there for a debit they can cover
    result = credits.debit(tenant, SYSTEM, _eur("20.00"), reference="fits",
                           idempotency_key=None, now=now)  # fmt: skip
    assert result.amount == _eur("20.00")


@pytest.mark.parametrize("again", ["10", "10.0", "10.00", 10])
def test_the_same_amount_written_otherwise_replays(tenant, clock, again):
    first = credits.purchase_credits(tenant, SYSTEM, D("10.00"), idempotency_key="k", now=clock())
    second = credits.purchase_credits(tenant, SYSTEM, D(again), idempotency_key="k", now=clock())
    assert second.replayed and second.invoice.id == first.invoice.id
    with pytest.raises(DomainError) as refused:
        credits.purchase_credits(tenant, SYSTEM, D("10.01"), idempotency_key="k", now=clock())
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
