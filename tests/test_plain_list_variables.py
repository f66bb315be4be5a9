"""Long `[String!]` variables are taken as given (execution.PlainListVariables): every request
answers exactly as with graphql-core's item by item coercion, valid or not."""

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from commcredits import execution
from commcredits.execution import PlainListVariables
from commcredits.schema.root import schema
from tests.helpers import add_users, buy

SET_MANY = """
mutation($upns: [String!]!, $add: [AssignedLicenseInput!], $whatIf: Boolean) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add, whatIf: $whatIf) {
    runs { start count status changes { skuPartNumber action } userErrors { code message } }
    summary { total applied unchanged failed }
  }
}"""

NAMES = [f"user{i:03d}@fabrikam.example" for i in range(40)]


@pytest.fixture
def org(tenant, clock, api):
    buy(tenant, clock(), MCOMEETADV=30)
    add_users(tenant, clock(), [(f"user{i:03d}", "DE") for i in range(35)])
    return api


def both(api, monkeypatch, upns) -> tuple[dict, dict]:
    """The response body with the shortcut, then with graphql-core's own coercion."""
    variables = {"upns": upns, "add": [{"skuId": "MCOMEETADV"}], "whatIf": True}
    assert schema.execution_context_class is PlainListVariables
    fast = api.raw(SET_MANY, variables).json()
    with monkeypatch.context() as m:
        m.setattr(schema, "execution_context_class", StrawberryGraphQLCoreExecutionContext)
        usual = api.raw(SET_MANY, variables).json()
    return fast, usual


@pytest.mark.parametrize(
    "upns",
    [
        NAMES,  # long, all strings: the shortcut
        NAMES[:5],  # short: graphql-core's way
        NAMES * 30,  # 1,200: refused by the batch size, either way
        [*NAMES, 7],  # a number among the strings
        [*NAMES, None],  # a null in a list of non-null strings
        [*NAMES, ["nested@fabrikam.example"]],
        [*NAMES, {"upn": "x"}],
        [*NAMES, True],
        [],
    ],
    ids=["long", "short", "too-many", "number", "null", "nested", "object", "bool", "empty"],
)
def test_answers_as_graphql_core_does(org, monkeypatch, upns):
    fast, usual = both(org, monkeypatch, upns)
    assert fast == usual


def test_a_long_list_is_decided_item_by_item_in_order(org, monkeypatch):
    fast, _ = both(org, monkeypatch, NAMES)
    batch = fast["data"]["setUserLicenses"]
    # 35 users exist, 30 seats: seats go in input order, then the 5 unknown names fail
    # (each naming its user).
    assert batch["summary"] == {"total": 40, "applied": 30, "unchanged": 0, "failed": 10}
    assert [(r["start"], r["count"], r["status"]) for r in batch["runs"]] == [
        (0, 30, "WOULD_APPLY"),
        (30, 5, "FAILED"),
        *((i, 1, "FAILED") for i in range(35, 40)),
    ]


def test_the_length_limit_still_refuses_a_long_name_in_a_long_list(org, monkeypatch):
    too_long = "x" * 200 + "@fabrikam.example"
    fast, usual = both(org, monkeypatch, [*NAMES, too_long])
    assert fast == usual
    assert fast["errors"][0]["extensions"]["code"] == "VALUE_TOO_LONG"
    assert fast["data"] is None


def test_the_shortcut_is_taken_for_a_long_list_of_strings_only(org, monkeypatch):
    """The tests above would pass with the shortcut never taken (a graphql-core upgrade that
    quietly disabled it): this one fails then."""
    taken: list[list[str]] = []
    real = execution._plain_string_lists

    def spy(*args):
        found = real(*args)
        taken.append(sorted(found))
        return found

    monkeypatch.setattr(execution, "_plain_string_lists", spy)
    for upns in (NAMES, NAMES[:5], [*NAMES, 7]):
        variables = {"upns": upns, "add": [{"skuId": "MCOMEETADV"}], "whatIf": True}
        org.raw(SET_MANY, variables)
    assert taken == [["upns"], [], []]
