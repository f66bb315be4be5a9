"""StripeGateway against the fake Stripe server (tests/stripe_stub.py) over real HTTP.

No database: the gateway is a network adapter. Client timeouts are 0.5 s so the file runs in
a few seconds.
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import stripe

from commcredits.money import Money
from commcredits.services import payments
from commcredits.services.payments import Charge, GatewayUnavailable
from commcredits.services.stripe_gateway import StripeGateway
from tests.stripe_stub import CUSTOMER, SECRET_KEY, StripeStub

TIMEOUT = 0.5
SLOW = 1.2  # how long a "timed out" answer takes: past TIMEOUT
AMOUNT = Money.from_minor(2500, "EUR")
PI = "/v1/payment_intents"


@pytest.fixture
def stub():
    with StripeStub() as s:
        yield s


def gateway(stub: StripeStub, *, retries: int = 0, key: str = SECRET_KEY) -> StripeGateway:
    return StripeGateway(key, api_base=stub.url, timeout=TIMEOUT, max_retries=retries)


def card(gw: StripeGateway, token: str, key: str, amount: Money = AMOUNT, **kw) -> Charge:
    return gw.charge(
        tenant_id=7,
        method="CARD",
        token=token,
        amount=amount,
        idempotency_key=key,
        description=kw.pop("description", "Communication credits"),
        **kw,
    )


def test_success_sends_an_off_session_intent_with_our_idempotency_key(stub):
    charge = card(gateway(stub), "pm_card_visa", "inv-7-1")

    assert charge.ok and charge.reference.startswith("pi_") and not charge.decline_code
    get, post = stub.requests
    assert (get.method, get.path, get.idempotency_key) == (
        "GET",
        "/v1/payment_methods/pm_card_visa",
        None,
    )
    assert (post.method, post.path) == ("POST", PI)
    assert post.idempotency_key == "inv-7-1"
    assert post.authorization == f"Bearer {SECRET_KEY}" == get.authorization
    assert post.params == {
        "amount": "2500",
        "currency": "eur",
        "customer": CUSTOMER,
        "payment_method": "pm_card_visa",
        "payment_method_types[0]": "card",
        "confirm": "true",
        "off_session": "true",
        "description": "Communication credits",
        "metadata[tenant_id]": "7",
        "metadata[idempotency_key]": "inv-7-1",
    }
    intent = stub.payment_intents[charge.reference]
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 2500, "eur")
    assert stub.created == {"inv-7-1": 1}
    # No telemetry: no metrics header, no telemetry id in the client user agent.
    assert "x-stripe-client-telemetry" not in post.headers
    assert "telemetry_id" not in json.loads(post.headers["x-stripe-client-user-agent"])


def test_zero_decimal_currency_is_sent_in_its_minor_units(stub):
    charge = card(gateway(stub), "pm_card_visa", "jpy-1", Money.from_minor(1200, "JPY"))
    assert charge.ok
    assert stub.seen("POST")[0].params["amount"] == "1200"
    assert stub.seen("POST")[0].params["currency"] == "jpy"


def test_insufficient_funds_is_a_decline_with_stripes_decline_code(stub):
    charge = card(gateway(stub), "pm_card_chargeDeclinedInsufficientFunds", "d-1")
    assert charge == Charge(ok=False, reference=charge.reference, decline_code="insufficient_funds")
    assert charge.reference.startswith("pi_")  # the failed PaymentIntent, for support
    assert stub.seen("POST")[0].status == 402
    assert stub.payment_intents[charge.reference]["status"] == "requires_payment_method"
    # Asking again (the sweeper) gets Stripe's stored answer: the same decline, no new intent.
    assert card(gateway(stub), "pm_card_chargeDeclinedInsufficientFunds", "d-1") == charge
    assert stub.created == {"d-1": 1} and stub.seen("POST")[1].replayed


def test_generic_decline_uses_the_decline_code(stub):
    assert card(gateway(stub), "pm_card_chargeDeclined", "d-2").decline_code == "generic_decline"


def test_authentication_required_off_session_is_a_decline(stub):
    charge = card(gateway(stub), "pm_card_authenticationRequired", "a-1")
    assert not charge.ok and charge.decline_code == "authentication_required"
    assert stub.seen("POST")[0].status == 402


def test_requires_action_status_is_a_decline(stub):
    stub.add_payment_method("pm_card_threeDSecure2Required", "requires_action")
    charge = card(gateway(stub), "pm_card_threeDSecure2Required", "a-2")
    assert not charge.ok and charge.decline_code == "authentication_required"
    assert stub.seen("POST")[0].status == 200


def test_processing_counts_as_accepted(stub):
    stub.add_payment_method("pm_card_slow", "processing")
    charge = card(gateway(stub), "pm_card_slow", "p-1")
    assert charge.ok and stub.payment_intents[charge.reference]["status"] == "processing"


def test_unattached_unknown_or_one_time_tokens_decline_without_charging(stub):
    gw = gateway(stub)
    assert card(gw, "pm_card_unattached", "u-1").decline_code == "payment_method_not_attached"
    assert card(gw, "pm_does_not_exist", "u-2").decline_code == "resource_missing"
    assert card(gw, "tok_visa", "u-3").decline_code == "invalid_payment_method"
    assert not stub.seen("POST") and stub.created == {}


def test_timeout_is_unavailable_then_the_same_key_gets_the_one_intent(stub):
    gw = gateway(stub)
    stub.timeout_next(1, delay=SLOW, path=PI)  # Stripe charged, the answer is lost
    with pytest.raises(GatewayUnavailable):
        card(gw, "pm_card_visa", "t-1")
    assert stub.created == {"t-1": 1}

    again = card(gw, "pm_card_visa", "t-1")  # the sweeper, after the stub recovered
    assert again.ok
    assert stub.created == {"t-1": 1}
    first, second = stub.seen("POST")
    assert first.idempotency_key == second.idempotency_key == "t-1"
    assert second.replayed and again.reference in stub.payment_intents


def test_timeout_of_every_try_is_unavailable_even_with_sdk_retries(stub):
    stub.timeout_next(2, delay=SLOW, path=PI)
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub, retries=1), "pm_card_visa", "t-2")
    assert len(stub.seen("POST")) == 2 and stub.created == {"t-2": 1}
    assert card(gateway(stub), "pm_card_visa", "t-2").ok
    assert stub.created == {"t-2": 1}


def test_sdk_retry_after_a_timeout_gets_the_stored_answer(stub):
    stub.timeout_next(1, delay=SLOW, path=PI)
    charge = card(gateway(stub, retries=1), "pm_card_visa", "t-3")
    assert charge.ok
    first, second = stub.seen("POST")
    assert first.idempotency_key == second.idempotency_key == "t-3" and second.replayed
    assert stub.created == {"t-3": 1}


def test_timeout_retrieving_the_payment_method_is_unavailable(stub):
    stub.timeout_next(1, delay=SLOW, path="/v1/payment_methods/")
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub), "pm_card_visa", "t-4")
    assert not stub.seen("POST")


def test_500_without_retries_is_unavailable(stub):
    stub.error_next(1, status=500, path=PI)
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub, retries=0), "pm_card_visa", "e-1")
    assert stub.created == {} and len(stub.seen("POST")) == 1


def test_500_is_retried_by_the_sdk_with_the_same_key(stub):
    stub.error_next(1, status=500, path=PI)
    charge = card(gateway(stub, retries=2), "pm_card_visa", "e-2")
    assert charge.ok
    assert [r.status for r in stub.seen("POST")] == [500, 200]
    assert {r.idempotency_key for r in stub.seen("POST")} == {"e-2"}
    assert stub.created == {"e-2": 1}


def test_500s_past_the_sdk_retries_are_unavailable(stub):
    stub.error_next(3, status=503, path=PI)
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub, retries=1), "pm_card_visa", "e-3")
    assert len(stub.seen("POST")) == 2 and stub.created == {}


def test_rate_limit_is_unavailable(stub):
    stub.error_next(1, status=429, path=PI)
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub), "pm_card_visa", "e-4")


def test_connection_refused_is_unavailable():
    with StripeStub() as s:
        url = s.url
    gw = StripeGateway(SECRET_KEY, api_base=url, timeout=TIMEOUT, max_retries=0)
    with pytest.raises(GatewayUnavailable):
        card(gw, "pm_card_visa", "c-1")


def test_idempotent_replay_returns_the_same_intent(stub):
    gw = gateway(stub)
    first = card(gw, "pm_card_visa", "r-1")
    second = card(gw, "pm_card_visa", "r-1")
    assert first == second and first.ok
    assert stub.created == {"r-1": 1} and len(stub.payment_intents) == 1
    assert [r.replayed for r in stub.seen("POST")] == [False, True]


def test_same_key_with_other_parameters_is_refused(stub):
    gw = gateway(stub)
    assert card(gw, "pm_card_visa", "r-2").ok
    with pytest.raises(ValueError, match="idempotency key"):
        card(gw, "pm_card_visa", "r-2", Money.from_minor(9900, "EUR"))
    assert stub.created == {"r-2": 1}


def test_invoice_makes_no_request(stub):
    gw = gateway(stub)
    charge = gw.charge(
        tenant_id=7, method="INVOICE", token=None, amount=AMOUNT, idempotency_key="i-1"
    )
    assert charge.ok and charge.reference.startswith("inv_")
    again = gw.charge(
        tenant_id=7, method="INVOICE", token=None, amount=AMOUNT, idempotency_key="i-1"
    )
    assert again == charge
    assert stub.requests == []


def test_wrong_key_is_unavailable_and_never_shown(stub, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk_test_wrongWrongWrong1234"
    gw = gateway(stub, key=wrong)
    with pytest.raises(GatewayUnavailable) as raised:
        card(gw, "pm_card_visa", "w-1")
    assert stub.seen()[0].status == 401
    assert wrong not in str(raised.value) and wrong not in repr(raised.value.__cause__)
    assert wrong not in caplog.text


def test_secret_key_never_in_repr_nor_logs(stub, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="stripe")
    caplog.set_level(logging.DEBUG, logger="commcredits")
    monkeypatch.setattr(stripe, "log", "debug")  # the SDK also prints to stderr
    gw = gateway(stub, retries=1)
    assert SECRET_KEY not in repr(gw) and SECRET_KEY not in str(gw)
    assert card(gw, "pm_card_visa", "l-1").ok
    assert not card(gw, "pm_card_chargeDeclinedInsufficientFunds", "l-2").ok
    stub.error_next(1, path=PI)
    assert card(gw, "pm_card_visa", "l-3").ok
    stub.timeout_next(1, delay=SLOW, path=PI)
    with pytest.raises(GatewayUnavailable):
        card(gateway(stub), "pm_card_visa", "l-4")
    assert "Stripe API response" in caplog.text  # the SDK's debug logging was captured
    assert "pm_card_visa" in caplog.text
    assert SECRET_KEY not in caplog.text
    out, err = capsys.readouterr()
    assert SECRET_KEY not in out + err


def test_missing_secret_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("COMMCREDITS_STRIPE_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="COMMCREDITS_STRIPE_SECRET_KEY"):
        StripeGateway.from_env()
    monkeypatch.setenv("COMMCREDITS_STRIPE_SECRET_KEY", "  ")
    with pytest.raises(ValueError, match="COMMCREDITS_STRIPE_SECRET_KEY"):
        StripeGateway.from_env()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COMMCREDITS_STRIPE_TIMEOUT", "soon"),
        ("COMMCREDITS_STRIPE_TIMEOUT", "0"),
        ("COMMCREDITS_STRIPE_MAX_RETRIES", "-1"),
        ("COMMCREDITS_STRIPE_API_BASE", "api.stripe.com"),
    ],
)
def test_bad_settings_are_clear_errors(monkeypatch, name, value):
    monkeypatch.setenv("COMMCREDITS_STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        StripeGateway.from_env()


def test_defaults(monkeypatch):
    for name in ("API_BASE", "TIMEOUT", "MAX_RETRIES"):
        monkeypatch.delenv(f"COMMCREDITS_STRIPE_{name}", raising=False)
    monkeypatch.setenv("COMMCREDITS_STRIPE_SECRET_KEY", SECRET_KEY)
    gw = StripeGateway.from_env()
    assert (gw.api_base, gw.timeout, gw.max_retries) == ("https://api.stripe.com", 30.0, 2)
    assert gw.name == "stripe"


def test_gateway_from_env_builds_the_stripe_gateway(stub, monkeypatch):
    monkeypatch.setenv("COMMCREDITS_PAYMENT_GATEWAY", "stripe")
    monkeypatch.setenv("COMMCREDITS_STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("COMMCREDITS_STRIPE_API_BASE", stub.url)
    monkeypatch.setenv("COMMCREDITS_STRIPE_TIMEOUT", "1")
    monkeypatch.setenv("COMMCREDITS_STRIPE_MAX_RETRIES", "0")
    gw = payments.gateway_from_env()
    assert isinstance(gw, StripeGateway)
    assert (gw.api_base, gw.timeout, gw.max_retries) == (stub.url, 1.0, 0)
    assert card(gw, "pm_card_visa", "env-1").ok
    assert stub.created == {"env-1": 1}


# -- the stub itself answers like Stripe ----------------------------------------------------
def test_stub_idempotency_replay_and_mismatch(stub):
    auth = {"Authorization": f"Bearer {SECRET_KEY}", "Idempotency-Key": "s-1"}
    form = {
        "amount": "100",
        "currency": "usd",
        "customer": CUSTOMER,
        "payment_method": "pm_card_visa",
        "payment_method_types[0]": "card",
        "confirm": "true",
        "off_session": "true",
    }
    with httpx.Client(base_url=stub.url) as http:
        first = http.post(PI, data=form, headers=auth)
        second = http.post(PI, data=form, headers=auth)
        other = http.post(PI, data={**form, "amount": "200"}, headers=auth)
        unauthorized = http.post(PI, data=form, headers={"Authorization": "Bearer sk_test_no"})
        no_return_url = http.post(
            PI,
            data={k: v for k, v in form.items() if not k.startswith("payment_method_types")},
            headers={**auth, "Idempotency-Key": "s-2"},
        )
    assert first.status_code == 200 and first.json()["object"] == "payment_intent"
    assert "idempotent-replayed" not in first.headers
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert unauthorized.status_code == 401
    assert no_return_url.status_code == 400
    assert no_return_url.json()["error"]["param"] == "return_url"
    assert stub.created == {"s-1": 1}
