"""Calling policies (issue 17): create, update, remove, grant (user and global), a user's
policy and spend on users pages, the Communication Credits usage per user report, permissions
and bad input. Through the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib

import peewee
import pytest

from commcredits import db as database
from commcredits.db import count_statements
from commcredits.models import AuditEntry, CallingPolicy, CallingPolicyGrant, UserMonthSpend
from commcredits.services.spend_limits import spend_differences
from tests.helpers import add_users, other_tenant
from tests.spend_fixtures import (
    CREATE,
    DOMAIN,
    REMOVE,
    UPDATE,
    USER_SPEND,
    call,
    grant,
    make_office,
    policy,
    record,
    upn,
)

LIST = (
    "query($after: String) { callingPolicies(first: 2, after: $after) { nodes { name } "
    "pageInfo { hasNextPage endCursor } totalCount } }"
)
USERS_PAGE = """
query($first: Int!) {
  users(first: $first) { nodes { userPrincipalName
    callingPolicy { name source effective { name callingSpendUserLimit { amount } } }
    spendThisMonth { amount } spendLimitLeft { amount } } }
}"""
REPORT = """
query($month: String, $first: Int, $after: String) {
  communicationCreditsUsage(month: $month, first: $first, after: $after) {
    nodes { user { id userPrincipalName displayName usageLocation }
            spent { amount currency } limit { amount currency } calls blockedCalls
            blockedByReason { reason count } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}"""


@pytest.fixture
def office(tenant, clock):
    return make_office(tenant, clock)


def codes(out: dict) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in out["userErrors"]]


def user_policy(api, alias: str) -> dict:
    return api(USER_SPEND, {"u": upn(alias)})["user"]["callingPolicy"]


def test_create_update_and_list(api, office):
    out = policy(api, "Sales", "25.50", description="Sales team")
    assert out == {
        "policy": {
            "name": "Sales",
            "description": "Sales team",
            "enableSpendLimits": True,
            "callingSpendUserLimit": {"amount": "25.50", "currency": "EUR"},
        },
        "userErrors": [],
    }
    assert policy(api, "Tag:Support", None, enabled=False)["policy"]["name"] == "Support"
    assert policy(api, "Interns", "5", currency="eur")["userErrors"] == []
    # Only the given settings change (Set-CsTeamsCallingPolicy); names in any case.
    out = api(UPDATE, {"name": "sales", "input": {"callingSpendUserLimit": "30"}})
    assert out["updateCallingPolicy"]["policy"] == {
        "name": "Sales",
        "description": "Sales team",
        "enableSpendLimits": True,
        "callingSpendUserLimit": {"amount": "30.00", "currency": "EUR"},
    }
    out = api(UPDATE, {"name": "Support", "input": {"name": "Helpdesk", "description": "1st"}})
    assert out["updateCallingPolicy"]["policy"]["name"] == "Helpdesk"
    first = api(LIST)["callingPolicies"]
    assert [n["name"] for n in first["nodes"]] == ["Sales", "Helpdesk"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    rest = api(LIST, {"after": first["pageInfo"]["endCursor"]})["callingPolicies"]
    assert [n["name"] for n in rest["nodes"]] == ["Interns"]
    actions = [
        (e.action, e.target_id)
        for e in AuditEntry.select().where(AuditEntry.action.contains("CallingPolicy"))
    ]
    assert actions == [
        ("createCallingPolicy", "Sales"),
        ("createCallingPolicy", "Support"),
        ("createCallingPolicy", "Interns"),
        ("updateCallingPolicy", "Sales"),
        ("updateCallingPolicy", "Helpdesk"),
    ]


def test_bad_input_is_refused_and_writes_nothing(api, office, clock):
    cases = [
        (("Neg", "-1.00"), {}, [("INVALID_AMOUNT", "input.callingSpendUserLimit")]),
        (("Fine", "1.005"), {}, [("INVALID_PRECISION", "input.callingSpendUserLimit")]),
        (("Usd", "10"), {"currency": "USD"}, [("CURRENCY_MISMATCH", "input.currency")]),
        (("NoLimit", None), {}, [("INVALID_AMOUNT", "input.callingSpendUserLimit")]),
        (("global", "10"), {}, [("INVALID_POLICY_NAME", "input.name")]),
        (("  ", "10"), {}, [("INVALID_POLICY_NAME", "input.name")]),
    ]
    for (name, limit), more, expected in cases:
        assert codes(policy(api, name, limit, **more)) == expected, name
    assert CallingPolicy.select().count() == 0
    policy(api, "Sales", "10")
    assert codes(policy(api, "SALES", "20")) == [("POLICY_NAME_TAKEN", "input.name")]
    for data, expected in [
        ({"callingSpendUserLimit": "-5"}, ("INVALID_AMOUNT", "input.callingSpendUserLimit")),
        ({"callingSpendUserLimit": "5.001"}, ("INVALID_PRECISION", "input.callingSpendUserLimit")),
        (
            {"callingSpendUserLimit": "5", "currency": "GBP"},
            ("CURRENCY_MISMATCH", "input.currency"),
        ),
    ]:
        out = api(UPDATE, {"name": "Sales", "input": data})["updateCallingPolicy"]
        assert codes(out) == [expected], data
    out = api(UPDATE, {"name": "Nope", "input": {"description": "x"}})["updateCallingPolicy"]
    assert codes(out) == [("UNKNOWN_POLICY", "name")]
    assert "Sales" in out["userErrors"][0]["message"]  # the tenant's names are listed
    # Grants: an unknown name lists the tenant's policies; another tenant's user is not found.
    out = grant(api, "Marketing", users=[upn("ann")])
    assert codes(out) == [("UNKNOWN_POLICY", "policyName")]
    assert "Sales" in out["userErrors"][0]["message"]
    north = other_tenant(clock())
    add_users(north, clock(), [("zoe", "US")], domain="northwind.example")
    out = grant(api, "Sales", users=[upn("ann"), "zoe@northwind.example"])
    assert codes(out) == [("NOT_FOUND", "userIds.1")]
    assert codes(grant(api, "Sales")) == [("INVALID_ARGUMENT", "userIds")]
    assert CallingPolicyGrant.select().count() == 0
    row = CallingPolicy.get()
    assert (row.name, row.spend_limit_minor, row.enable_spend_limits) == ("Sales", 1000, True)
    assert AuditEntry.select().where(AuditEntry.action.contains("CallingPolicy")).count() == 1


def test_only_admins_who_manage_calling_policies_may_change_them(api, api_as, office):
    policy(api, "Sales", "10")
    for role in ("READER", "LICENSE_ADMIN", "BILLING_ADMIN"):
        as_role = api_as(role)
        out = as_role(CREATE, {"input": {"name": f"By{role}", "callingSpendUserLimit": "1"}})
        assert codes(out["createCallingPolicy"])[0][0] == "FORBIDDEN", role
        out = as_role(UPDATE, {"name": "Sales", "input": {"callingSpendUserLimit": "99"}})
        assert codes(out["updateCallingPolicy"])[0][0] == "FORBIDDEN", role
        assert codes(grant(as_role, "Sales", global_=True))[0][0] == "FORBIDDEN", role
        out = as_role(REMOVE, {"name": "Sales"})["removeCallingPolicy"]
        assert codes(out)[0][0] == "FORBIDDEN", role
        # Reading is every role's.
        assert [n["name"] for n in as_role(LIST)["callingPolicies"]["nodes"]] == ["Sales"]
    assert CallingPolicy.get().spend_limit_minor == 1000
    assert CallingPolicyGrant.select().count() == 0


def test_user_grant_wins_over_global_which_wins_over_the_builtin(api, office):
    assert user_policy(api, "ann") == {
        "name": None,
        "source": "DEFAULT",
        "effective": {"name": "Global", "enableSpendLimits": False, "callingSpendUserLimit": None},
    }
    policy(api, "Everyone", "50")
    policy(api, "Tight", "5")
    out = grant(api, "everyone", global_=True)
    assert (out["global"], out["userIds"], out["policy"]["name"], out["userErrors"]) == (
        True,
        [],
        "Everyone",
        [],
    )
    out = grant(api, "Tight", users=[upn("ann")])
    assert out["global"] is False and len(out["userIds"]) == 1
    assert (user_policy(api, "ann")["name"], user_policy(api, "ann")["source"]) == ("Tight", "USER")
    assert (user_policy(api, "bob")["name"], user_policy(api, "bob")["source"]) == (
        "Everyone",
        "GLOBAL",
    )
    spend = api(USER_SPEND, {"u": upn("bob")})["user"]
    assert spend["spendLimitLeft"] == {"amount": "50.00", "currency": "EUR"}
    assert grant(api, None, users=[upn("ann")])["policy"] is None  # back to the global grant
    assert user_policy(api, "ann")["source"] == "GLOBAL"
    grant(api, None, global_=True)
    assert user_policy(api, "bob")["source"] == "DEFAULT"
    entries = [
        (e.target_id, e.before, e.after)
        for e in AuditEntry.select()
        .where(AuditEntry.action == "grantCallingPolicy")
        .order_by(AuditEntry.id)
    ]
    assert entries == [
        ("global", None, {"policyName": "Everyone"}),
        (upn("ann"), None, {"policyName": "Tight"}),
        (upn("ann"), {"policyName": "Tight"}, None),
        ("global", {"policyName": "Everyone"}, None),
    ]


def test_a_granted_policy_cannot_be_removed(api, office):
    policy(api, "Sales", "10")
    grant(api, "Sales", users=[upn("ann"), upn("bob")])
    grant(api, "Sales", global_=True)
    out = api(REMOVE, {"name": "sales"})["removeCallingPolicy"]
    assert codes(out) == [("POLICY_IN_USE", "name")]
    assert "2 user(s) and the global grant" in out["userErrors"][0]["message"]
    grant(api, None, users=[upn("ann"), upn("bob")])
    grant(api, None, global_=True)
    out = api(REMOVE, {"name": "sales"})["removeCallingPolicy"]
    assert (out["policy"], out["userErrors"]) == ({"name": "Sales"}, [])
    assert CallingPolicy.select().count() == 0
    assert AuditEntry.select().where(AuditEntry.action == "removeCallingPolicy").count() == 1


def test_a_users_page_with_policies_and_spend_costs_the_same_statements(api, office, clock):
    add_users(office, clock(), [(f"u{i:02}", "DE") for i in range(30)], domain=DOMAIN)
    policy(api, "Everyone", "50")
    policy(api, "Tight", "1")
    grant(api, "Everyone", global_=True)
    grant(api, "Tight", users=[upn("ann"), upn("u07")])
    record(api, call("a1", "ann"), call("b1", "bob"))

    def cost(first: int) -> tuple[int, list]:
        with count_statements() as seen:
            nodes = api(USERS_PAGE, {"first": first})["users"]["nodes"]
        return len(seen), nodes

    small, _ = cost(2)
    large, nodes = cost(33)
    assert small == large, (small, large)
    by_upn = {n["userPrincipalName"]: n for n in nodes}
    assert by_upn[upn("ann")]["callingPolicy"]["source"] == "USER"
    assert by_upn[upn("ann")]["spendThisMonth"] == {"amount": "0.36"}
    assert by_upn[upn("ann")]["spendLimitLeft"] == {"amount": "0.64"}
    assert by_upn[upn("bob")]["spendLimitLeft"] == {"amount": "49.64"}
    assert by_upn[upn("u03")]["callingPolicy"]["source"] == "GLOBAL"
    assert by_upn[upn("u07")]["spendLimitLeft"] == {"amount": "1.00"}


def test_the_usage_per_user_report(api, api_as, office, clock):
    policy(api, "Tight", "0.50")
    grant(api, "Tight", users=[upn("ann")])
    record(
        api,
        call("a1", "ann"),  # 0.36
        call("a2", "ann"),  # 0.72: rated whole
        call("a3", "ann"),  # blocked: limit
        call("a4", "ann", "+49999", call_type="DOMESTIC"),  # blocked: no rate
        call("b1", "bob", minutes=10),  # 0.18
    )
    out = api_as("READER")(REPORT, {"first": 1})["communicationCreditsUsage"]
    assert out["totalCount"] == 2 and out["pageInfo"]["hasNextPage"] is True
    (ann,) = out["nodes"]
    assert ann["user"]["userPrincipalName"] == upn("ann")
    assert ann["user"]["usageLocation"] == "DE"
    assert ann["spent"] == {"amount": "0.72", "currency": "EUR"}
    assert ann["limit"] == {"amount": "0.50", "currency": "EUR"}
    assert (ann["calls"], ann["blockedCalls"]) == (4, 2)
    assert ann["blockedByReason"] == [
        {"reason": "NO_RATE", "count": 1},
        {"reason": "SPEND_LIMIT_REACHED", "count": 1},
    ]
    after = out["pageInfo"]["endCursor"]
    rest = api(REPORT, {"first": 5, "after": after})["communicationCreditsUsage"]
    (bob,) = rest["nodes"]
    assert (bob["user"]["userPrincipalName"], bob["spent"]["amount"], bob["limit"]) == (
        upn("bob"),
        "0.18",
        None,
    )
    assert (bob["calls"], bob["blockedCalls"], bob["blockedByReason"]) == (1, 0, [])
    assert rest["pageInfo"]["hasNextPage"] is False
    # Another month has nobody; a bad month is refused.
    assert api(REPORT, {"month": "2026-10"})["communicationCreditsUsage"]["nodes"] == []
    errors = api.errors(REPORT, {"month": "2026-13"})
    assert errors[0]["extensions"]["code"] == "INVALID_MONTH"


def test_the_report_costs_the_same_statements_for_any_page(api, office, clock):
    add_users(office, clock(), [(f"u{i:02}", "DE") for i in range(12)], domain=DOMAIN)
    record(api, *(call(f"c{i}", f"u{i:02}", minutes=1) for i in range(12)))
    query = REPORT.replace("totalCount", "")

    def cost(first: int) -> tuple[int, int]:
        with count_statements() as seen:
            nodes = api(query, {"first": first})["communicationCreditsUsage"]["nodes"]
        return len(seen), len(nodes)

    (small, two), (large, twelve) = cost(2), cost(20)
    assert (two, twelve) == (2, 12)
    assert small == large, (small, large)


def test_migration_0015_fills_the_spend_from_the_calls_rated_before(api, office):
    record(
        api,
        call("a1", "ann"),
        call("a2", "ann", minutes=10),
        call("b1", "bob", "+49800123456", call_type="TOLL_FREE_INBOUND"),  # not Bob's
        call("c1", "cem", "+493012345678", call_type="DOMESTIC"),  # from the pool
    )
    kept = sorted(UserMonthSpend.select(UserMonthSpend.spent_minor).tuples())
    assert kept == [(54,)]
    UserMonthSpend.delete().execute()
    step = importlib.import_module("commcredits.migrations.0015_calling_policies")
    step.backfill_spend(database.db.obj)
    assert sorted(UserMonthSpend.select(UserMonthSpend.spent_minor).tuples()) == kept
    assert spend_differences() == []


def test_one_global_grant_per_tenant_and_the_reports_index_exist(api, office, clock):
    policy(api, "Everyone", "5")
    grant(api, "Everyone", global_=True)
    row = CallingPolicy.get()
    with pytest.raises(peewee.IntegrityError), database.db.atomic():
        CallingPolicyGrant.create(tenant=office.id, user=None, policy=row.id, granted_at=clock())
    if database.is_sqlite():
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes"
    names = {r[0] for r in database.db.execute_sql(sql).fetchall()}
    assert {"calling_policy_grant_tenant_global", "call_record_tenant_id_month_user_id"} <= names


def _what_if(document: str) -> str:
    """The fixture's mutation with whatIf: true, and its payload's whatIf asked for."""
    head, brace, rest = document.partition(") {\n  ")
    call, paren, tail = rest.partition(")")
    return f"{head}{brace}{call}, whatIf: true{paren}{tail}".replace(
        "userErrors {", "whatIf userErrors {", 1
    )


CREATE_WHAT_IF = _what_if(CREATE)
UPDATE_WHAT_IF = _what_if(UPDATE)
REMOVE_WHAT_IF = _what_if(REMOVE)
GRANT_WHAT_IF = """
mutation($users: [ID!], $global: Boolean, $name: String) {
  grantCallingPolicy(userIds: $users, global: $global, policyName: $name, whatIf: true) {
    policy { name } global userIds whatIf userErrors { field code message }
  }
}"""


def _written() -> tuple[int, int, int, list]:
    policies = [
        (p.name, p.description, p.enable_spend_limits, p.spend_limit_minor, p.updated_at)
        for p in CallingPolicy.select().order_by(CallingPolicy.id)
    ]
    return (
        CallingPolicy.select().count(),
        CallingPolicyGrant.select().count(),
        (AuditEntry.select().count()),
        policies,
    )


def test_what_if_checks_everything_and_writes_nothing(api, api_as, office):
    assert "whatIf: true" in CREATE_WHAT_IF and "whatIf userErrors" in REMOVE_WHAT_IF
    policy(api, "Sales", "10")
    policy(api, "Held", "5")
    grant(api, "Held", users=[upn("bob")])
    before = _written()

    out = api(
        CREATE_WHAT_IF,
        {"input": {"name": "New", "enableSpendLimits": True, "callingSpendUserLimit": "7.5"}},
    )
    out = out["createCallingPolicy"]
    assert (out["whatIf"], out["userErrors"]) == (True, [])
    assert out["policy"]["callingSpendUserLimit"] == {"amount": "7.50", "currency": "EUR"}
    out = api(UPDATE_WHAT_IF, {"name": "sales", "input": {"callingSpendUserLimit": "80"}})
    out = out["updateCallingPolicy"]
    assert (out["whatIf"], out["policy"]["name"]) == (True, "Sales")
    assert out["policy"]["callingSpendUserLimit"]["amount"] == "80.00"
    out = api(REMOVE_WHAT_IF, {"name": "Sales"})["removeCallingPolicy"]
    assert (out["whatIf"], out["policy"]["name"], out["userErrors"]) == (True, "Sales", [])
    out = api(GRANT_WHAT_IF, {"users": [upn("ann"), upn("bob")], "global": None, "name": "SALES"})[
        "grantCallingPolicy"
    ]
    assert (out["policy"], out["whatIf"], len(out["userIds"])) == ({"name": "Sales"}, True, 2)
    out = api(GRANT_WHAT_IF, {"users": None, "global": True, "name": "Sales"})
    assert out["grantCallingPolicy"]["userErrors"] == []

    # the same refusals as for real
    out = api(CREATE_WHAT_IF, {"input": {"name": "held", "callingSpendUserLimit": "1"}})
    assert codes(out["createCallingPolicy"]) == [("POLICY_NAME_TAKEN", "input.name")]
    out = api(CREATE_WHAT_IF, {"input": {"name": "X", "callingSpendUserLimit": "-1"}})
    assert codes(out["createCallingPolicy"])[0][0] == "INVALID_AMOUNT"
    out = api(UPDATE_WHAT_IF, {"name": "Nope", "input": {"description": "x"}})
    assert codes(out["updateCallingPolicy"]) == [("UNKNOWN_POLICY", "name")]
    out = api(REMOVE_WHAT_IF, {"name": "Held"})["removeCallingPolicy"]
    assert codes(out) == [("POLICY_IN_USE", "name")]
    out = api(
        GRANT_WHAT_IF,
        {"users": [upn("ann"), "zoe@northwind.example"], "global": None, "name": "Sales"},
    )["grantCallingPolicy"]
    assert codes(out) == [("NOT_FOUND", "userIds.1")]
    out = api(GRANT_WHAT_IF, {"users": [upn("ann")], "global": None, "name": "Nope"})
    assert codes(out["grantCallingPolicy"])[0][0] == "UNKNOWN_POLICY"
    reader = api_as("READER")
    out = reader(GRANT_WHAT_IF, {"users": None, "global": True, "name": "Sales"})
    assert codes(out["grantCallingPolicy"])[0][0] == "FORBIDDEN"
    out = reader(REMOVE_WHAT_IF, {"name": "Sales"})["removeCallingPolicy"]
    assert codes(out)[0][0] == "FORBIDDEN"
    assert _written() == before


def test_global_policy_grants_shows_the_calling_policy_granted_globally(api, office):
    query = "{ globalPolicyGrants { calling { name callingSpendUserLimit { amount } } } }"
    assert api(query)["globalPolicyGrants"] == {"calling": None}
    policy(api, "Everyone", "50")
    grant(api, "Everyone", users=[upn("ann")])
    assert api(query)["globalPolicyGrants"] == {"calling": None}
    grant(api, "everyone", global_=True)
    assert api(query)["globalPolicyGrants"] == {
        "calling": {"name": "Everyone", "callingSpendUserLimit": {"amount": "50.00"}}
    }
