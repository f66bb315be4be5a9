"""This release's shapes (CHANGELOG.md): Money fields, the new connections, "this month" as the
default month, and the deprecated fields still answering the same values for one release."""

from __future__ import annotations

from commcredits.services.access import SYSTEM, Role, create_api_key
from tests.test_rating import call, office, record, upn  # noqa: F401 - `office` is a fixture

CALLS = """
{
  callRecords(first: 5) { nodes { callId perMinute { amount currency } cost { amount currency }
                                  pricePerMinute charge currency } }
  usageSummary { month spent { amount currency } creditsSpent currency
                 lines { spent { amount currency } creditsSpent } }
  minutePools { month plan used }
  rates(first: 1, filter: { country: "DE", prefix: "49" }) {
    nodes { perMinute { amount currency } pricePerMinute currency } }
}"""

AUTHORIZE = """
query($u: ID!) {
  authorizeCall(userId: $u, destination: "+493012345678", callType: DOMESTIC) {
    creditsRemaining { amount currency } perMinute { amount currency }
    creditsLeft pricePerMinute currency
  }
}"""

CREDITS = """
mutation {
  configureAutoRecharge(enabled: true, rechargeAmount: "50", triggerBalance: "10") {
    autoRecharge { topUp { amount currency } threshold { amount currency }
                   rechargeAmount triggerBalance currency }
    userErrors { code }
  }
}"""

BALANCE = "{ tenant { balance { remaining { amount currency } amount currency } } }"


def test_calls_answer_money_and_the_old_fields_agree(api, office, clock):  # noqa: F811
    month = f"{clock():%Y-%m}"
    record(api, call("c-1", "payg", "+442071234567", seconds=150, at=clock().isoformat()))
    data = api(CALLS)
    c = data["callRecords"]["nodes"][0]
    assert c["perMinute"] == {"amount": "0.0180", "currency": "EUR"}  # the card's 4 digits
    assert c["cost"] == {"amount": "0.05", "currency": "EUR"}  # 3 started minutes
    assert (c["pricePerMinute"], c["charge"], c["currency"]) == ("0.0180", "0.05", "EUR")
    summary = data["usageSummary"]
    assert summary["month"] == month  # no month given: this month
    assert summary["spent"] == {"amount": "0.05", "currency": "EUR"}
    assert (summary["creditsSpent"], summary["currency"]) == ("0.05", "EUR")
    assert [x["spent"]["amount"] for x in summary["lines"]] == [
        x["creditsSpent"] for x in summary["lines"]
    ]
    assert {p["month"] for p in data["minutePools"]} == {month}
    rate = data["rates"]["nodes"][0]
    assert rate["perMinute"] == {"amount": rate["pricePerMinute"], "currency": rate["currency"]}


def test_authorization_answers_money(api, office):  # noqa: F811
    out = api(AUTHORIZE, {"u": upn("de1")})["authorizeCall"]
    assert out["creditsRemaining"] == {"amount": "20.00", "currency": "EUR"}
    assert out["perMinute"] == {"amount": "0.0190", "currency": "EUR"}
    assert (out["creditsLeft"], out["pricePerMinute"], out["currency"]) == (
        "20.00",
        "0.0190",
        "EUR",
    )


def test_balance_and_auto_recharge_answer_money(api, office):  # noqa: F811
    settings = api(CREDITS)["configureAutoRecharge"]
    assert settings["userErrors"] == []
    ar = settings["autoRecharge"]
    assert (ar["topUp"], ar["threshold"]) == (
        {"amount": "50.00", "currency": "EUR"},
        {"amount": "10.00", "currency": "EUR"},
    )
    assert (ar["rechargeAmount"], ar["triggerBalance"], ar["currency"]) == ("50.00", "10.00", "EUR")
    balance = api(BALANCE)["tenant"]["balance"]
    assert balance == {"remaining": {"amount": "20.00", "currency": "EUR"}, "amount": "20.00",
                       "currency": "EUR"}  # fmt: skip


def test_api_keys_and_rate_cards_are_connections(api, office, tenant, clock):  # noqa: F811
    for n in range(3):
        create_api_key(SYSTEM, role=Role.READER, tenant=tenant, name=f"k{n}", now=clock())
    first = api(
        "{ apiKeysConnection(first: 2) { totalCount nodes { name }"
        " pageInfo { endCursor hasNextPage } } }"
    )
    page = first["apiKeysConnection"]
    assert page["pageInfo"]["hasNextPage"] and len(page["nodes"]) == 2
    rest = api(
        "query($a: String) { apiKeysConnection(first: 100, after: $a) { nodes { name } } }",
        {"a": page["pageInfo"]["endCursor"]},
    )["apiKeysConnection"]["nodes"]
    names = [k["name"] for k in page["nodes"] + rest]
    assert len(names) == page["totalCount"] and {"k0", "k1", "k2"} <= set(names)
    assert names == [k["name"] for k in api("{ apiKeys { name } }")["apiKeys"]]  # deprecated twin
    cards = api("{ rateCardsConnection(first: 10) { totalCount nodes { id name } } }")
    old = api("{ rateCards { id } }")["rateCards"]
    assert cards["rateCardsConnection"]["totalCount"] == len(old) >= 1  # the sample card
    assert [c["id"] for c in cards["rateCardsConnection"]["nodes"]] == [c["id"] for c in old]
