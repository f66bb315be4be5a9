"""Issue 11, item 9: money is parsed in one place (money.parse_amount, behind the Decimal
scalar), which refuses exponents, NaN/Infinity, signs, spaces, non-ASCII digits and more digits
than a column holds, as a clear GraphQL error: never INTERNAL_ERROR, never anything written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commcredits.models import AuditEntry, AutoRecharge, CreditLot, Invoice, LedgerEntry
from commcredits.money import Money, parse_amount
from commcredits.schema.common import to_global_id
from commcredits.schema.scalars import serialize
from commcredits.services.access import SYSTEM
from commcredits.services.tenants import create_tenant
from tests.conftest import Api

BAD_TEXT = [
    "1e999999999",
    "-1e999999999",
    "1e-999999999",
    "1e2",
    "1E+2",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "١٢",  # Arabic-Indic digits: Decimal() reads them as 12
    "１２",  # fullwidth digits
    "+5",
    " 5",
    "5 ",
    "1_000",
    "0x10",
    ".5",
    "5.",
    "1.2.3",
    "--5",
    "",
    "1234567890123456789",  # 19 digits: more than a 64-bit column of minor units holds
    "0.0000000000000000001",
    "9" * 41,
]
BAD_JSON = [12.5, 1e300, True, [], {"amount": "5"}]

PURCHASE = """mutation($a: Decimal!) { purchaseCredits(amount: $a, idempotencyKey: "k") {
  lot { id } userErrors { code } } }"""
RECHARGE = """mutation($a: Decimal) { configureAutoRecharge(enabled: true, rechargeAmount: $a,
  triggerBalance: "5") { autoRecharge { enabled } userErrors { code } } }"""
TRIGGER = """mutation($a: Decimal) { configureAutoRecharge(enabled: true, rechargeAmount: "10",
  triggerBalance: $a) { autoRecharge { enabled } userErrors { code } } }"""
ADJUST = """mutation($t: ID!, $a: Decimal!) { adjustCredits(tenantId: $t, amount: $a, reason: "r",
  idempotencyKey: "k") { transaction { kind } userErrors { code } } }"""
LIMIT = """mutation($t: ID!, $a: Decimal) { setCreditLimit(tenantId: $t, limit: $a) {
  creditLimit { limit { amount } } userErrors { code } } }"""


@pytest.fixture
def mca(db_url, clock):
    return create_tenant(
        SYSTEM, name="Contoso", country="DE", currency="EUR", agreement_type="MCA", now=clock()
    )


@pytest.fixture
def senders(client, keys, tenant, mca):
    """(name, send(value)) for each money argument, each with the key that may use it."""
    admin, operator = Api(client, keys["GLOBAL_ADMIN"]), Api(client, keys["OPERATOR"])
    tenant_id, mca_id = to_global_id("Tenant", tenant.id), to_global_id("Tenant", mca.id)
    return [
        ("purchaseCredits", lambda a: admin.raw(PURCHASE, {"a": a})),
        ("configureAutoRecharge.rechargeAmount", lambda a: admin.raw(RECHARGE, {"a": a})),
        ("configureAutoRecharge.triggerBalance", lambda a: admin.raw(TRIGGER, {"a": a})),
        ("adjustCredits", lambda a: operator.raw(ADJUST, {"t": tenant_id, "a": a})),
        ("setCreditLimit", lambda a: operator.raw(LIMIT, {"t": mca_id, "a": a})),
    ]


def written() -> tuple[int, ...]:
    tables = (AuditEntry, AutoRecharge, CreditLot, Invoice, LedgerEntry)
    return tuple(t.select().count() for t in tables)


def assert_refused(response, what: str) -> None:
    assert response.status_code == 200, (what, response.text)
    body = response.json()
    assert body["data"] is None, (what, body)
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert codes == ["INVALID_DECIMAL"], (what, body)
    assert len(body["errors"][0]["message"]) < 400, what  # the value is never echoed whole


def test_every_money_argument_refuses_what_is_not_a_plain_amount(senders):
    before = written()
    for name, send in senders:
        for value in [*BAD_TEXT, *BAD_JSON]:
            assert_refused(send(value), f"{name}: {str(value)[:30]!r}")
        # Past the length every string has, the length limit answers first.
        codes = [e["extensions"]["code"] for e in send("1" * 100_000).json()["errors"]]
        assert codes == ["VALUE_TOO_LONG"], name
    assert written() == before


def test_literals_are_refused_the_same_way(api, tenant):
    before = written()
    for literal in ("1e2", '"1e2"', "1E999999999", '"NaN"', '"١٢"', '" 5"', '"+5"', "-1.5e3"):
        query = (
            f'mutation {{ purchaseCredits(amount: {literal}, idempotencyKey: "k") '
            "{ lot { id } } }"
        )
        errors = api.errors(query)
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_DECIMAL"], literal
        assert errors[0]["locations"], literal
    assert written() == before


def test_plain_amounts_are_accepted_in_every_form(api):
    forms = [("12.50", "12.50"), ("12", "12.00"), (12, "12.00"), ("0012.5", "12.50")]
    for i, (value, shown) in enumerate(forms):
        query = """mutation($a: Decimal!, $k: String!) {
          purchaseCredits(amount: $a, idempotencyKey: $k) { lot { amount { amount } } } }"""
        lot = api(query, {"a": value, "k": f"k{i}"})["purchaseCredits"]["lot"]
        assert lot["amount"]["amount"] == shown, value
    # A number token in the query is exact as written, so it is read as written.
    literal = (
        'mutation { purchaseCredits(amount: 7.25, idempotencyKey: "lit") '
        "{ lot { amount { amount } } } }"
    )
    assert api(literal)["purchaseCredits"]["lot"]["amount"]["amount"] == "7.25"


def test_domain_rules_still_answer_in_user_errors(senders):
    """What parses but breaks a rule (too large, too precise, negative) stays a userError."""
    expected = {
        "purchaseCredits": ["AMOUNT_TOO_LARGE", "INVALID_PRECISION", "INVALID_AMOUNT"],
        "configureAutoRecharge.rechargeAmount": [
            "AMOUNT_TOO_LARGE",
            "INVALID_PRECISION",
            "INVALID_RECHARGE_AMOUNT",
        ],
        "configureAutoRecharge.triggerBalance": [
            "AMOUNT_TOO_LARGE",
            "INVALID_PRECISION",
            "INVALID_TRIGGER_BALANCE",
        ],
        "adjustCredits": ["AMOUNT_TOO_LARGE", "INVALID_PRECISION", "INSUFFICIENT_BALANCE"],
        "setCreditLimit": ["AMOUNT_TOO_LARGE", "INVALID_PRECISION", "INVALID_AMOUNT"],
    }
    for name, send in senders:
        codes = []
        for value in ("123456789012345678", "0.000000000000000001", "-0.5"):
            body = send(value).json()
            assert "errors" not in body, (name, value, body)
            payload = next(iter(body["data"].values()))
            codes.append(payload["userErrors"][0]["code"])
        assert codes == expected[name], name


@pytest.mark.parametrize(
    ("text", "amount"),
    [("12.50", Decimal("12.50")), ("-3", Decimal(-3)), ("0.5", Decimal("0.5")), ("007", 7)],
)
def test_parse_amount_reads_plain_amounts(text, amount):
    assert parse_amount(text) == amount


@pytest.mark.parametrize("text", BAD_TEXT)
def test_parse_amount_refuses_with_a_message(text):
    with pytest.raises(ValueError, match="amount|digits|characters"):
        parse_amount(text)
    with pytest.raises(ValueError):
        Money.parse(text, "EUR")


def test_decimal_output_is_always_a_valid_input():
    for value in (Decimal("0E-6"), Decimal("1E+2"), Decimal("12.50"), Decimal("-0.000001")):
        text = serialize(value)
        assert "E" not in text and parse_amount(text) == value
