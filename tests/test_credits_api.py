"""Credits through the real ASGI app: the seed's step 2, roles, operator mutations, reads."""

from __future__ import annotations

import pytest

from commcredits.models import AuditEntry, CreditLot, Invoice
from commcredits.schema.common import to_global_id
from commcredits.services.access import SYSTEM, Role, create_api_key
from tests.conftest import Api
from tests.helpers import add_users, other_tenant

PURCHASE = """
mutation($amount: Decimal!, $key: String!, $whatIf: Boolean, $currency: String) {
  purchaseCredits(amount: $amount, idempotencyKey: $key, whatIf: $whatIf, currency: $currency) {
    whatIf
    lot { id amount { amount currency } remaining { amount } expiresAt source }
    invoice { number amount { amount currency } status reason billedTo }
    balance { amount currency }
    userErrors { field code message }
  }
}
"""

CONFIGURE = """
mutation($enabled: Boolean!, $amount: Decimal, $trigger: Decimal, $perDay: Int) {
  configureAutoRecharge(enabled: $enabled, rechargeAmount: $amount, triggerBalance: $trigger,
                        maxRechargesPerDay: $perDay) {
    autoRecharge { enabled rechargeAmount triggerBalance maxRechargesPerDay currency }
    recharges { number amount { amount } }
    userErrors { field code message }
  }
}
"""

BILLING = """
mutation($input: BillingProfileInput!) {
  updateBillingProfile(input: $input) {
    billingProfile { companyName city country vatId contactEmail paymentMethod cardTokenHint }
    userErrors { field code message }
  }
}
"""

TENANT_CREDITS = """
{
  tenant {
    balance {
      amount currency asOf
      lots(first: 10) { nodes { amount { amount } remaining { amount } source expired } }
      expiringWithin(days: 400) { amount { amount currency } lots }
      forecast { dailyBurn { amount } daysLeft }
    }
    autoRecharge { enabled rechargeAmount triggerBalance maxRechargesPerDay }
    creditTransactions(first: 10) {
      nodes { sequence kind amount { amount } balanceAfter { amount } reference
              splits { lotId amount { amount } } }
    }
    invoices(first: 10) { nodes { number amount { amount } status reason lot { id } } }
    subscribedSkus: billingProfile { companyName paymentMethod }
  }
}
"""

ADJUST = """
mutation($tenant: ID!, $amount: Decimal!, $reason: String!, $key: String!) {
  adjustCredits(tenantId: $tenant, amount: $amount, reason: $reason, idempotencyKey: $key) {
    transaction { kind amount { amount } reason }
    balance { amount }
    userErrors { code field }
  }
}
"""


def errors_of(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


def test_seed_step_2_end_to_end(api, tenant, clock, client):
    """Billing details, auto-recharge ("add this amount", "when the balance falls below"),
    save, review and place the order, see the invoice and the Communication Credits seats."""
    add_users(tenant, clock(), [("adele", "DE"), ("alex", "DE"), ("lee", None)])
    profile = api(
        BILLING,
        {
            "input": {
                "companyName": "Fabrikam GmbH",
                "addressLine1": "Hauptstraße 1",
                "postalCode": "10115",
                "city": "Berlin",
                "country": "DE",
                "vatId": "DE 123 456 789",
                "contactEmail": "billing@fabrikam.example",
                "paymentMethod": "CARD",
                "cardToken": "tok_visa",
            }
        },
    )["updateBillingProfile"]
    assert profile["userErrors"] == []
    assert profile["billingProfile"]["vatId"] == "DE123456789"
    assert profile["billingProfile"]["cardTokenHint"] == "…visa"

    review = api(PURCHASE, {"amount": "100.00", "key": "order-1", "whatIf": True})
    review = review["purchaseCredits"]
    assert review["whatIf"] and review["lot"] is None
    assert review["invoice"]["status"] == "DRAFT" and review["invoice"]["number"] == 1
    assert review["invoice"]["billedTo"]["companyName"] == "Fabrikam GmbH"
    assert review["balance"] == {"amount": "100.00", "currency": "EUR"}
    assert Invoice.select().count() == 0

    settings = api(CONFIGURE, {"enabled": True, "amount": "50", "trigger": "10"})
    settings = settings["configureAutoRecharge"]
    assert settings["userErrors"] == []
    # Saving with the balance (0) below the trigger recharges at once (SPEC §6).
    assert settings["recharges"] == [{"number": 1, "amount": {"amount": "50.00"}}]
    data = api(TENANT_CREDITS)["tenant"]
    assert data["balance"]["amount"] == "50.00"
    assert data["autoRecharge"] == {
        "enabled": True,
        "rechargeAmount": "50.00",
        "triggerBalance": "10.00",
        "maxRechargesPerDay": 5,
    }

    order = api(PURCHASE, {"amount": "100.00", "key": "order-1"})["purchaseCredits"]
    assert order["userErrors"] == []
    assert order["invoice"] == {
        "number": 2,
        "amount": {"amount": "100.00", "currency": "EUR"},
        "status": "PAID",
        "reason": "PURCHASE",
        "billedTo": order["invoice"]["billedTo"],
    }
    assert order["lot"]["expiresAt"].startswith("2027-11-25T10:00:00")
    assert order["balance"] == {"amount": "150.00", "currency": "EUR"}

    data = api(TENANT_CREDITS)["tenant"]
    assert [i["number"] for i in data["invoices"]["nodes"]] == [2, 1]
    assert all(i["lot"] for i in data["invoices"]["nodes"])
    assert data["balance"]["expiringWithin"] == {
        "amount": {"amount": "150.00", "currency": "EUR"},
        "lots": 2,
    }
    assert [t["kind"] for t in data["creditTransactions"]["nodes"]] == ["FUNDED", "FUNDED"]
    seats = api("{ subscribedSkus { skuPartNumber prepaidUnits { enabled } } }")
    credits_sku = [s for s in seats["subscribedSkus"] if s["skuPartNumber"] == "MCOPSTNC"]
    assert credits_sku and credits_sku[0]["prepaidUnits"]["enabled"] == 3


def test_purchase_refusals_are_user_errors(api, tenant):
    cases = [
        ({"amount": "0", "key": "a"}, "INVALID_AMOUNT"),
        ({"amount": "-1", "key": "a"}, "INVALID_AMOUNT"),
        ({"amount": "1000000.01", "key": "a"}, "AMOUNT_TOO_LARGE"),
        # Exponents ("1e999999999" overflowed abs() once) never get this far: the Decimal
        # scalar refuses them (tests/test_input_limits.py); the largest plain amounts do.
        ({"amount": "99999999999999999", "key": "a"}, "AMOUNT_TOO_LARGE"),
        ({"amount": "0.000000000000000001", "key": "a"}, "INVALID_PRECISION"),
        ({"amount": "1.001", "key": "a"}, "INVALID_PRECISION"),
        ({"amount": "10", "key": "a", "currency": "USD"}, "CURRENCY_MISMATCH"),
        ({"amount": "10", "key": ""}, "INVALID_IDEMPOTENCY_KEY"),
    ]
    for variables, code in cases:
        payload = api(PURCHASE, variables)["purchaseCredits"]
        assert errors_of(payload) == [code], variables
        assert payload["invoice"] is None
    assert Invoice.select().count() == 0


def test_configure_refusals_are_user_errors(api, tenant):
    for variables, code in [
        ({"enabled": True, "amount": "0", "trigger": "5"}, "INVALID_RECHARGE_AMOUNT"),
        ({"enabled": True, "amount": "10", "trigger": "-1"}, "INVALID_TRIGGER_BALANCE"),
        ({"enabled": True, "amount": "999999999999999999", "trigger": "5"}, "AMOUNT_TOO_LARGE"),
        ({"enabled": True, "amount": "10", "trigger": "99999999999999999"}, "AMOUNT_TOO_LARGE"),
        ({"enabled": True}, "RECHARGE_SETTINGS_INCOMPLETE"),
    ]:
        assert errors_of(api(CONFIGURE, variables)["configureAutoRecharge"]) == [code]


@pytest.mark.parametrize("role", ["READER", "LICENSE_ADMIN"])
def test_readers_and_license_admins_cannot_write_money(api_as, tenant, role):
    who = api_as(role)
    assert errors_of(who(PURCHASE, {"amount": "10", "key": "k"})["purchaseCredits"]) == [
        "FORBIDDEN"
    ]
    payload = who(CONFIGURE, {"enabled": True, "amount": "10", "trigger": "5"})
    assert errors_of(payload["configureAutoRecharge"]) == ["FORBIDDEN"]
    assert errors_of(who(BILLING, {"input": {"city": "X"}})["updateBillingProfile"]) == [
        "FORBIDDEN"
    ]
    assert who("{ tenant { balance { amount } } }")["tenant"]["balance"]["amount"] == "0.00"
    assert Invoice.select().count() == 0


def test_billing_admin_writes_money(api_as, tenant):
    payload = api_as("BILLING_ADMIN")(PURCHASE, {"amount": "10", "key": "k"})["purchaseCredits"]
    assert payload["userErrors"] == [] and payload["invoice"]["number"] == 1


def test_another_tenants_key_sees_nothing(api, client, tenant, clock):
    api(PURCHASE, {"amount": "10", "key": "k"})
    north = other_tenant(clock())
    _, secret = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=north, now=clock())
    other = Api(client, secret)
    assert other("{ invoice(number: 1) { number } }")["invoice"] is None
    data = other("{ tenant { balance { amount currency } invoices { nodes { number } } } }")
    assert data["tenant"]["balance"] == {"amount": "0.00", "currency": "USD"}
    assert data["tenant"]["invoices"]["nodes"] == []
    gid = to_global_id("Tenant", tenant.id)
    payload = other(ADJUST, {"tenant": gid, "amount": "5", "reason": "x", "key": "k"})
    assert errors_of(payload["adjustCredits"]) == ["FORBIDDEN"]  # tenant keys never adjust


def test_operator_adjusts_and_expires(client, keys, tenant, api, clock):
    operator = Api(client, keys["OPERATOR"])
    gid = to_global_id("Tenant", tenant.id)
    payload = operator(ADJUST, {"tenant": gid, "amount": "7.50", "reason": "goodwill", "key": "a"})
    assert payload["adjustCredits"]["transaction"] == {
        "kind": "ADJUSTED",
        "amount": {"amount": "7.50"},
        "reason": "goodwill",
    }
    missing = operator(
        ADJUST, {"tenant": to_global_id("Tenant", 999), "amount": "1", "reason": "x", "key": "b"}
    )
    assert errors_of(missing["adjustCredits"]) == ["NOT_FOUND"]
    assert AuditEntry.select().where(AuditEntry.action == "adjustCredits").count() == 1

    clock.advance(days=366)
    expired = operator(
        "mutation { expireCredits { expired { tenantName amount { amount currency } lots } } }"
    )
    assert expired["expireCredits"]["expired"] == [
        {"tenantName": "Fabrikam", "amount": {"amount": "7.50", "currency": "EUR"}, "lots": 1}
    ]
    assert api("{ tenant { balance { amount } } }")["tenant"]["balance"]["amount"] == "0.00"
    lots = api("{ tenant { balance { lots(includeExpired: true) { nodes { expired } } } } }")
    assert lots["tenant"]["balance"]["lots"]["nodes"] == [{"expired": True}]
    assert CreditLot.select().count() == 1


def test_mca_through_the_api(client, keys, clock):
    from commcredits.services.tenants import create_tenant

    mca = create_tenant(
        SYSTEM, name="Contoso", country="DE", currency="EUR", agreement_type="MCA", now=clock()
    )
    _, secret = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=mca, now=clock())
    admin, operator = Api(client, secret), Api(client, keys["OPERATOR"])
    assert errors_of(admin(PURCHASE, {"amount": "10", "key": "k"})["purchaseCredits"]) == [
        "MCA_NO_PURCHASE_NEEDED"
    ]
    payload = admin(CONFIGURE, {"enabled": True, "amount": "10", "trigger": "5"})
    assert errors_of(payload["configureAutoRecharge"]) == ["MCA_AUTO_RECHARGE_NOT_SUPPORTED"]

    gid = to_global_id("Tenant", mca.id)
    limit = operator(
        'mutation($t: ID!) { setCreditLimit(tenantId: $t, limit: "250") '
        "{ creditLimit { period limit { amount } used { amount } available { amount } } "
        "userErrors { code } } }",
        {"t": gid},
    )["setCreditLimit"]
    assert limit["creditLimit"] == {
        "period": "2026-11",
        "limit": {"amount": "250.00"},
        "used": {"amount": "0.00"},
        "available": {"amount": "250.00"},
    }
    from commcredits.money import Money
    from commcredits.services import credits

    credits.debit(
        mca, SYSTEM, Money.parse("80", "EUR"), reference="c", idempotency_key=None, now=clock()
    )
    clock.advance(days=6)  # December
    close = """mutation($t: ID!, $m: String!) { closeBillingPeriod(tenantId: $t, month: $m) {
        period alreadyClosed invoice { number amount { amount } reason status }
        userErrors { code } } }"""
    first = operator(close, {"t": gid, "m": "2026-11"})["closeBillingPeriod"]
    assert first["invoice"] == {
        "number": 1,
        "amount": {"amount": "80.00"},
        "reason": "POSTPAID",
        "status": "ISSUED",
    }
    second = operator(close, {"t": gid, "m": "2026-11"})["closeBillingPeriod"]
    assert second["alreadyClosed"] and second["invoice"]["number"] == 1
    bad = operator(close, {"t": gid, "m": "November"})["closeBillingPeriod"]
    assert errors_of(bad) == ["INVALID_MONTH"]
    data = admin("{ tenant { creditLimit { used { amount } } invoices { nodes { number } } } }")
    assert data["tenant"]["invoices"]["nodes"] == [{"number": 1}]


def test_transactions_show_their_splits_without_n_plus_one(api, tenant, clock):
    from commcredits import db as database
    from commcredits.money import Money
    from commcredits.services import credits

    for i in range(3):
        api(PURCHASE, {"amount": "10", "key": f"k{i}"})
    for i in range(6):
        credits.debit(
            tenant,
            SYSTEM,
            Money.parse("4.50", "EUR"),
            reference=f"call-{i}",
            idempotency_key=None,
            now=clock(),
        )
    query = """{ tenant { creditTransactions(first: 20, filter: {kinds: [CONSUMED]}) {
        nodes { reference splits { amount { amount } } } } } }"""
    with database.count_statements() as statements:
        nodes = api(query)["tenant"]["creditTransactions"]["nodes"]
    assert len(nodes) == 6
    assert [s["amount"]["amount"] for s in nodes[3]["splits"]] == ["1.00", "3.50"]  # call-2
    split_queries = [s for s in statements if "debit_split" in s]
    assert len(split_queries) == 1


def test_notifications_and_invoice_lookup(api, tenant, clock):
    api(CONFIGURE, {"enabled": True, "amount": "20", "trigger": "5"})
    data = api(
        "{ notifications(first: 5) { nodes { kind payload } } invoice(number: 1) "
        "{ reason amount { amount } lot { remaining { amount } } } }"
    )
    assert [n["kind"] for n in data["notifications"]["nodes"]] == ["RECHARGE_SUCCEEDED"]
    assert data["invoice"]["reason"] == "AUTO_RECHARGE"
    assert data["invoice"]["lot"]["remaining"]["amount"] == "20.00"


def test_card_numbers_are_refused(api, tenant):
    payload = api(BILLING, {"input": {"paymentMethod": "CARD", "cardToken": "4242 4242 4242 4242"}})
    assert errors_of(payload["updateBillingProfile"]) == ["CARD_NUMBER_NOT_ALLOWED"]
    payload = api(BILLING, {"input": {"paymentMethod": "CARD"}})
    assert errors_of(payload["updateBillingProfile"]) == ["CARD_TOKEN_REQUIRED"]


def test_expire_credits_refuses_an_as_of_after_the_clock(client, keys, tenant, api, clock):
    """SPEC §4: nothing is dated after the server's clock (it once wrote off unexpired credit
    and a recharge invoice dated 2099)."""
    api(PURCHASE, {"amount": "10.00", "key": "k"})
    operator = Api(client, keys["OPERATOR"])
    expire = """mutation($at: DateTime) {
      expireCredits(asOf: $at) { expired { lots } userErrors { field code } } }"""
    for at, code in [
        ("2099-06-01T00:00:00Z", "AS_OF_IN_FUTURE"),
        ("0001-01-01T00:00:00+01:00", "INVALID_DATETIME"),  # no UTC instant: an overflow once
    ]:
        payload = operator(expire, {"at": at})["expireCredits"]
        assert payload["userErrors"] == [{"field": "asOf", "code": code}], at
    assert CreditLot.get().remaining_minor == 1000
    assert Invoice.select().count() == 1
    past = operator(expire, {"at": "2026-11-01T00:00:00Z"})["expireCredits"]
    assert past == {"expired": [], "userErrors": []}
