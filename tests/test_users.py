"""Users: create, update, delete (frees seats), look up, filter and page; bad input refused."""

import pytest

from commcredits.models import User
from tests.helpers import add_users, buy, other_tenant

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id userPrincipalName usageLocation displayName }
                              userErrors { field code message } }
}"""
UPDATE = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { usageLocation department } userErrors { field code message } }
}"""
DELETE = """
mutation($id: ID!) { deleteUser(id: $id) { deletedUserId userErrors { field code message } } }
"""
USERS = """
query($first: Int, $after: String, $filter: UserFilter) {
  users(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { userPrincipalName } }
  }
}"""
ASSIGN = """
mutation($user: ID!, $add: [AssignedLicenseInput!]!) {
  assignLicense(userId: $user, addLicenses: $add, removeLicenses: []) { userErrors { code } }
}"""


def create(api, **fields):
    return api(CREATE, {"input": fields})["createUser"]


def test_create_user_normalizes_and_returns_it(api):
    out = create(api, userPrincipalName="Ada.Lovelace@Fabrikam.example", usageLocation="de")
    assert out["userErrors"] == []
    assert out["user"]["usageLocation"] == "DE"
    assert out["user"]["displayName"] == "Ada.Lovelace"
    found = api(
        "query($u: String) { user(userPrincipalName: $u) { id } }",
        {"u": "ada.lovelace@fabrikam.example"},
    )
    assert found["user"]["id"] == out["user"]["id"]


@pytest.mark.parametrize(
    "upn",
    [
        "no-at-sign",
        "a@b",
        ".lead@fabrikam.example",
        "dou..ble@fabrikam.example",
        "sp ace@fabrikam.example",
        "x" * 65 + "@fabrikam.example",
        "",
    ],
)
def test_malformed_upn_is_refused(api, upn):
    out = create(api, userPrincipalName=upn)
    assert out["user"] is None
    assert out["userErrors"][0]["code"] == "INVALID_USER_PRINCIPAL_NAME"
    assert out["userErrors"][0]["field"] == "userPrincipalName"
    assert User.select().count() == 0


def test_duplicate_upn_is_refused_case_insensitively(api):
    create(api, userPrincipalName="ada@fabrikam.example")
    out = create(api, userPrincipalName="ADA@Fabrikam.Example")
    assert out["userErrors"][0]["code"] == "DUPLICATE_USER_PRINCIPAL_NAME"
    assert User.select().count() == 1


def test_same_upn_in_another_tenant_is_allowed_and_invisible(api, clock):
    create(api, userPrincipalName="ada@fabrikam.example")
    other = other_tenant(clock())
    add_users(other, clock(), [("ada", "US")], domain="fabrikam.example")
    assert api(USERS)["users"]["totalCount"] == 1


def test_unknown_usage_location_is_refused(api):
    out = create(api, userPrincipalName="ada@fabrikam.example", usageLocation="XZ")
    assert out["userErrors"] == [
        {
            "field": "usageLocation",
            "code": "INVALID_USAGE_LOCATION",
            "message": "'XZ' is not an ISO 3166-1 alpha-2 country code.",
        }
    ]
    assert User.select().count() == 0


def test_update_user_and_usage_location_rules_for_licensed_users(api, tenant, clock):
    buy(tenant, clock(), MCOEV=1, MCOPSTN1=1)
    uid = create(api, userPrincipalName="ada@fabrikam.example", usageLocation="DE")["user"]["id"]
    out = api(UPDATE, {"input": {"id": uid, "department": "Sales"}})["updateUser"]
    assert out["user"]["department"] == "Sales"
    api(ASSIGN, {"user": uid, "add": [{"skuId": "MCOEV"}, {"skuId": "MCOPSTN1"}]})
    # Calling plans are not sold in Brazil, and a licensed user keeps a usage location.
    out = api(UPDATE, {"input": {"id": uid, "usageLocation": "BR"}})["updateUser"]
    assert out["userErrors"][0]["code"] == "ProhibitedInUsageLocationViolation"
    out = api(UPDATE, {"input": {"id": uid, "usageLocation": ""}})["updateUser"]
    assert out["userErrors"][0]["code"] == "ProhibitedInUsageLocationViolation"
    out = api(UPDATE, {"input": {"id": uid, "usageLocation": "AT"}})["updateUser"]
    assert out["userErrors"] == [] and out["user"]["usageLocation"] == "AT"


def test_delete_user_frees_its_seats(api, tenant, clock):
    buy(tenant, clock(), MCOEV=1, MCOPSTN1=1)
    uid = create(api, userPrincipalName="ada@fabrikam.example", usageLocation="DE")["user"]["id"]
    api(ASSIGN, {"user": uid, "add": [{"skuId": "MCOEV"}, {"skuId": "MCOPSTN1"}]})
    out = api(DELETE, {"id": uid})["deleteUser"]
    assert out == {"deletedUserId": uid, "userErrors": []}
    subs = api("{ subscribedSkus { skuPartNumber consumedUnits availableUnits } }")
    assert {s["skuPartNumber"]: s["availableUnits"] for s in subs["subscribedSkus"]} == {
        "MCOEV": 1,
        "MCOPSTN1": 1,
    }
    assert api(DELETE, {"id": uid})["deleteUser"]["userErrors"][0]["code"] == "NOT_FOUND"


def test_filters_and_cursor_pages(api, tenant, clock):
    buy(tenant, clock(), MCOMEETADV=5)
    add_users(tenant, clock(), [(f"u{i:02d}", "DE" if i % 2 else None) for i in range(25)])
    api(ASSIGN, {"user": "u01@fabrikam.example", "add": [{"skuId": "MCOMEETADV"}]})
    assert api(USERS, {"filter": {"usageLocation": "DE"}})["users"]["totalCount"] == 12
    assert api(USERS, {"filter": {"usageLocation": ""}})["users"]["totalCount"] == 13
    assert api(USERS, {"filter": {"search": "U1"}})["users"]["totalCount"] == 10
    licensed = api(USERS, {"filter": {"hasLicense": "MCOMEETADV"}})["users"]
    assert [e["node"]["userPrincipalName"] for e in licensed["edges"]] == ["u01@fabrikam.example"]
    assert api(USERS, {"filter": {"hasLicense": "NOPE"}})["users"]["totalCount"] == 0
    seen, after = [], None
    while True:
        page = api(USERS, {"first": 10, "after": after})["users"]
        seen += [e["node"]["userPrincipalName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 25 and len(set(seen)) == 25


def test_page_size_and_cursor_are_checked(api):
    errors = api.errors(USERS, {"first": 101})
    assert errors[0]["extensions"]["code"] == "INVALID_FIRST"
    errors = api.errors(USERS, {"after": "garbage"})
    assert errors[0]["extensions"]["code"] == "INVALID_CURSOR"


def test_license_details_show_disabled_plans(api, tenant, clock):
    buy(tenant, clock(), SPE_E5=1)
    create(api, userPrincipalName="ada@fabrikam.example", usageLocation="DE")
    api(
        ASSIGN,
        {"user": "ada@fabrikam.example", "add": [{"skuId": "SPE_E5", "disabledPlans": ["TEAMS1"]}]},
    )
    user = api(
        '{ user(userPrincipalName: "ada@fabrikam.example") { assignedLicenses { skuId '
        "skuPartNumber disabledPlans } licenseDetails { skuPartNumber servicePlans { "
        "servicePlanName provisioningStatus } } } }"
    )["user"]
    assert user["assignedLicenses"][0]["skuId"] == "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
    plans = {
        p["servicePlanName"]: p["provisioningStatus"]
        for p in user["licenseDetails"][0]["servicePlans"]
    }
    assert plans["TEAMS1"] == "Disabled" and plans["MCOEV"] == "Success"


def test_search_takes_percent_and_underscore_literally_and_is_bounded(api, tenant, clock):
    from tests.helpers import add_users

    add_users(tenant, clock(), [("ann", "DE"), ("bob", "DE"), ("c_d", "DE")])
    query = """query($s: String) { users(first: 10, filter: { search: $s }) {
      nodes { userPrincipalName } } }"""

    def found(term: str) -> list[str]:
        return [n["userPrincipalName"] for n in api(query, {"s": term})["users"]["nodes"]]

    assert found("%") == [] and found("_") == ["c_d@fabrikam.example"]
    assert found("ANN") == ["ann@fabrikam.example"]
    assert found("a" * 256) == []  # the longest search there is
    response = api.raw(query, {"s": "a" * 100_000})  # "LIKE pattern too complex" once: a 500
    assert response.status_code == 200
    # The schema's limit (256, MAX_SEARCH) refuses it before the service's INVALID_SEARCH.
    errors = response.json()["errors"]
    assert [(e["extensions"]["code"], e["extensions"]["maxLength"]) for e in errors] == [
        ("VALUE_TOO_LONG", 256)
    ]
