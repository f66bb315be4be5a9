"""authorizeCall answers what rating then does for the same call (review findings): a charge
is rounded the same way in both (half up to the minor unit), and an MCA tenant's lots, which
a postpaid debit takes first, count in both."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from commcredits.services import authorization, credits, licenses, rate_queries, rates, rating
from commcredits.services.access import SYSTEM
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.services.prices import charge_for, minutes_affordable
from commcredits.services.tenants import create_tenant
from tests.helpers import add_users, buy, upn

PAYG = ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC")


def _payg_user(tenant, now, alias: str, location: str) -> None:
    add_users(tenant, now, [(alias, location)])
    buy(tenant, now, **{sku: 1 for sku in PAYG})
    plan = tuple(AddLicense(s) for s in PAYG)
    licenses.assign_licenses(tenant, SYSTEM, [LicenseRequest(upn(alias), plan)], now=now)


def _both(tenant, now, alias: str, destination: str, seconds: int):
    allowed = authorization.authorize_call(
        tenant, SYSTEM, upn(alias), destination, "DOMESTIC", now=now
    )
    call = rating.CallInput("c1", upn(alias), now, seconds, destination, "DOMESTIC")
    return allowed, rating.record_call(tenant, SYSTEM, call, now=now).call


@pytest.mark.parametrize(
    ("price", "spendable", "currency"),
    [(14_000, "0.01", "EUR"), (18_000, "1.00", "EUR"), (2_240_000, "2", "JPY"),
     (18_000, "0", "EUR"), (4_000, "0", "USD"), (10_000, "0.05", "EUR")],
)  # fmt: skip
def test_minutes_affordable_is_the_most_minutes_whose_charge_fits(price, spendable, currency):
    n = minutes_affordable(price, Decimal(spendable), currency)
    assert charge_for(price, n, currency) <= Decimal(spendable)
    assert charge_for(price, n + 1, currency) > Decimal(spendable)


def test_a_minute_whose_charge_rounds_into_the_balance_is_allowed(tenant, clock):
    """0.014 a minute with 0.01 left: rating charges 0.01 (half up), so authorizeCall allows it."""
    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    _payg_user(tenant, now, "pay", "US")
    credits.purchase_credits(tenant, SYSTEM, Decimal("0.01"), idempotency_key="k", now=now)
    allowed, call = _both(tenant, now, "pay", "+12125550100", 60)
    assert (allowed.allowed, allowed.max_minutes_affordable) == (True, 1)
    assert (call.status, call.charge_minor) == ("RATED", 1)


def test_an_mca_tenants_lots_count_as_rating_spends_them(db_url, clock):
    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    mca = create_tenant(
        SYSTEM, name="Contoso MCA", country="DE", currency="EUR", agreement_type="MCA", now=now
    )
    _payg_user(mca, now, "m", "GB")
    credits.adjust_credits(
        mca, SYSTEM, Decimal("1.00"), reason="goodwill", idempotency_key="a", now=now
    )
    allowed, call = _both(mca, now, "m", "+442071234567", 600)  # no credit limit at all
    assert (allowed.allowed, allowed.max_minutes_affordable) == (True, 55)  # 1.00 / 0.018
    assert (call.status, call.charge_minor) == ("RATED", 18)
    later = now + dt.timedelta(minutes=1)
    credits.set_credit_limit(mca, SYSTEM, Decimal("1.00"), now=later)
    allowed = authorization.authorize_call(
        mca, SYSTEM, upn("m"), "+442071234567", "DOMESTIC", now=later
    )
    # 0.82 left in the lot and the whole limit: 101 minutes (1.818, which rounds to 1.82).
    assert allowed.max_minutes_affordable == 101


# --- the card: the row that prices a call, and the card of the tenant's currency -----------


def _dial_out_user(tenant, now) -> None:
    add_users(tenant, now, [("ac", "DE")])
    buy(tenant, now, MCOMEETADV=1, MCOPSTNC=1)
    plan = (AddLicense("MCOMEETADV"), AddLicense("MCOPSTNC"))
    licenses.assign_licenses(tenant, SYSTEM, [LicenseRequest(upn("ac"), plan)], now=now)
    credits.purchase_credits(tenant, SYSTEM, Decimal("20.00"), idempotency_key="k", now=now)


def _card(now, rows, currency="EUR", name="carrier"):
    rates.import_rates(
        SYSTEM,
        [
            {"call_type": t, "prefix": p, "country": c, "price_per_minute": price,
             "currency": currency, "zone": z}
            for t, p, c, price, z in rows
        ],
        name=name,
        effective_from=now - dt.timedelta(days=30),
        now=now,
    )  # fmt: skip


def _dial_out(tenant, now, call_id: str, destination: str):
    allowed = authorization.authorize_call(
        tenant, SYSTEM, upn("ac"), destination, "CONFERENCE_DIAL_OUT", now=now
    )
    call = rating.CallInput(call_id, upn("ac"), now, 600, destination, "CONFERENCE_DIAL_OUT")
    return allowed, rating.record_call(tenant, SYSTEM, call, now=now).call


def test_a_dial_out_takes_its_zone_from_the_row_that_prices_it(tenant, clock):
    """+49 dial-out is zone A; a longer DOMESTIC row for German mobiles names no zone: a
    dial-out to a mobile is priced by the +49 dial-out row, and its zone A with it."""
    now = clock()
    _dial_out_user(tenant, now)
    _card(
        now,
        [
            ("CONFERENCE_DIAL_OUT", "49", "DE", "0.0300", "A"),
            ("DOMESTIC", "49", "DE", "0.0200", "A"),
            ("DOMESTIC", "4915", "DE", "0.0600", ""),
        ],
    )
    allowed, call = _dial_out(tenant, now, "c1", "+4915123456789")
    assert allowed.pool_minutes_left == 60
    assert (call.pool_minutes, call.charge_minor) == (10, 0)


def test_a_card_of_another_currency_leaves_the_tenants_card_in_force(tenant, clock):
    """A newer card pricing only USD calls does not take an EUR tenant's rates away."""
    now = clock()
    _dial_out_user(tenant, now)
    rates.ensure_sample_card(SYSTEM, now=now - dt.timedelta(days=60))
    _card(now, [("CONFERENCE_DIAL_OUT", "1", "US", "0.0200", "A")], currency="USD")
    allowed, call = _dial_out(tenant, now, "c1", "+493012345678")
    assert allowed.allowed and allowed.price_per_minute == Decimal("0.0240")  # the sample card
    assert call.status == "RATED"
    # and the rates list of a currency shows that currency's card in force by default
    eur = rate_queries.with_card(rate_queries.RateFilter(currency="EUR"), now=now)
    usd = rate_queries.with_card(rate_queries.RateFilter(currency="usd"), now=now)
    assert eur.card.name != usd.card.name == "carrier"
