"""Seats: bought per SKU, never negative, never below what is assigned."""

import pytest

from commcredits.models import Subscription
from tests.helpers import add_users

PURCHASE = """
mutation($sku: String!, $q: Int!) { purchaseSeats(skuPartNumber: $sku, quantity: $q) {
  subscribedSku { skuId skuPartNumber consumedUnits availableUnits capabilityStatus appliesTo
                  prepaidUnits { enabled suspended warning lockedOut } }
  userErrors { field code message } } }"""
SET = """
mutation($sku: String!, $n: Int!) { setSeats(skuPartNumber: $sku, enabledUnits: $n) {
  subscribedSku { prepaidUnits { enabled } } userErrors { field code message } } }"""


def test_purchase_adds_units_and_shows_graph_shape(api):
    api(PURCHASE, {"sku": "MCOEV", "q": 3})
    out = api(PURCHASE, {"sku": "e43b5b99-8dfb-405f-9987-dc307f34bcbd", "q": 2})["purchaseSeats"]
    assert out["subscribedSku"] == {
        "skuId": "e43b5b99-8dfb-405f-9987-dc307f34bcbd",
        "skuPartNumber": "MCOEV",
        "consumedUnits": 0,
        "availableUnits": 5,
        "capabilityStatus": "Enabled",
        "appliesTo": "User",
        "prepaidUnits": {"enabled": 5, "suspended": 0, "warning": 0, "lockedOut": 0},
    }


ONCE = """
mutation($sku: String!, $q: Int!, $key: String) {
  purchaseSeats(skuPartNumber: $sku, quantity: $q, idempotencyKey: $key) {
    subscribedSku { prepaidUnits { enabled } } replayed userErrors { field code } } }"""


def test_a_purchase_retried_with_its_key_buys_once(api):
    """The answer was lost; the retry with the same key answers the first purchase."""
    first = api(ONCE, {"sku": "MCOEV", "q": 5, "key": "order-1"})["purchaseSeats"]
    again = api(ONCE, {"sku": "MCOEV", "q": 5, "key": "order-1"})["purchaseSeats"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["subscribedSku"]["prepaidUnits"]["enabled"] == 5
    assert Subscription.get().enabled_units == 5
    other = api(ONCE, {"sku": "MCOEV", "q": 6, "key": "order-1"})["purchaseSeats"]
    assert other["userErrors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    api(ONCE, {"sku": "MCOEV", "q": 5, "key": "order-2"})  # a new order: bought
    unkeyed = api(ONCE, {"sku": "MCOEV", "q": 1, "key": None})["purchaseSeats"]
    assert unkeyed["subscribedSku"]["prepaidUnits"]["enabled"] == 11
    assert Subscription.get().enabled_units == 11


@pytest.mark.parametrize("quantity", [0, -1])
def test_zero_or_negative_seats_are_refused(api, quantity):
    out = api(PURCHASE, {"sku": "MCOEV", "q": quantity})["purchaseSeats"]
    assert out["userErrors"][0]["code"] == "INVALID_QUANTITY"
    assert Subscription.select().count() == 0


def test_unknown_sku_is_refused(api):
    out = api(PURCHASE, {"sku": "NOPE", "q": 1})["purchaseSeats"]
    assert out["userErrors"][0]["code"] == "InvalidSku"


def test_lowering_below_consumed_is_refused(api, tenant, clock):
    api(PURCHASE, {"sku": "MCOMEETADV", "q": 3})
    add_users(tenant, clock(), [("a", "DE"), ("b", "DE")])
    api(
        'mutation { setUserLicenses(userPrincipalNames: ["a@fabrikam.example", '
        '"b@fabrikam.example"], addLicenses: [{skuId: "MCOMEETADV"}]) { summary { applied } } }'
    )
    out = api(SET, {"sku": "MCOMEETADV", "n": 1})["setSeats"]
    assert out["userErrors"][0]["code"] == "SEATS_BELOW_CONSUMED"
    assert "2 licenses assigned" in out["userErrors"][0]["message"]
    assert Subscription.get().enabled_units == 3
    assert api(SET, {"sku": "MCOMEETADV", "n": 2})["setSeats"]["userErrors"] == []
    assert api(SET, {"sku": "MCOMEETADV", "n": -5})["setSeats"]["userErrors"][0]["code"] == (
        "INVALID_QUANTITY"
    )
