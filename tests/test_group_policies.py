"""Policies granted to groups with a rank (issue 18 item 4): Teams's group policy assignment.
Precedence (own grant > best-ranked group > global > default) for dial-out and calling
policies, rank insertion and removal, membership changes, rating and authorizeCall applying a
group's grants, statement counts, bad input, permissions — through the real ASGI app, on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from commcredits.db import count_statements
from commcredits.models import AuditEntry, GroupPolicyGrant
from commcredits.schema.common import from_global_id, to_global_id
from commcredits.services import group_policies
from commcredits.services import groups as group_service
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from tests.helpers import add_users, other_tenant
from tests.spend_fixtures import (
    AUTHORIZE,
    DE,
    REMOVE,
    US,
    call,
    grant,
    make_office,
    policy,
    record,
    upn,
)

CREATE_GROUP = """
mutation($name: String!) { createGroup(input: {displayName: $name}) { group { id } } }"""
ADD = """
mutation($g: ID!, $users: [ID!]!) {
  addGroupMembers(groupId: $g, userIds: $users) { changed userErrors { code } }
}"""
LEAVE = """
mutation($g: ID!, $users: [ID!]!) {
  removeGroupMembers(groupId: $g, userIds: $users) { changed userErrors { code } }
}"""
DELETE_GROUP = "mutation($id: ID!) { deleteGroup(id: $id) { userErrors { code } } }"
ASSIGN = """
mutation($g: ID!, $t: PolicyType!, $name: String!, $rank: Int, $whatIf: Boolean! = false) {
  assignGroupPolicy(groupId: $g, policyType: $t, policyName: $name, rank: $rank,
                    whatIf: $whatIf) {
    assignment { groupId groupDisplayName policyType policyName rank }
    shifted { groupId rank }
    whatIf
    userErrors { field code message }
  }
}"""
UNASSIGN = """
mutation($g: ID!, $t: PolicyType!, $whatIf: Boolean! = false) {
  removeGroupPolicy(groupId: $g, policyType: $t, whatIf: $whatIf) {
    assignment { groupDisplayName policyName rank } whatIf userErrors { field code message }
  }
}"""
LIST = """
query($t: PolicyType) {
  groupPolicyAssignments(policyType: $t) { groupDisplayName policyType policyName rank }
}"""
GROUP_ASSIGNMENTS = """
query { groups(first: 10) { nodes { displayName
  policyAssignments { policyType policyName rank } } } }
"""
DIAL_GRANT = """
mutation($users: [ID!], $global: Boolean, $name: String) {
  grantDialOutPolicy(userIds: $users, global: $global, policyName: $name) { userErrors { code } }
}"""
POLICIES = """
query($u: String!) {
  user(userPrincipalName: $u) {
    dialOutPolicy { name source group { id displayName rank } }
    callingPolicy { name source group { displayName }
                    effective { callingSpendUserLimit { amount } } }
    spendLimitLeft { amount }
  }
}"""
USERS_PAGE = """
query($first: Int!) {
  users(first: $first) { nodes { userPrincipalName
    dialOutPolicy { name source group { displayName } }
    callingPolicy { name source group { displayName } } spendLimitLeft { amount } } }
}"""
DOMESTIC_ONLY = "DialoutCPCandPSTNDomestic"
DISABLED = "DialoutCPCandPSTNDisabled"
INTL_DOMESTIC = "DialoutCPCInternationalPSTNDomestic"


@pytest.fixture
def office(tenant, clock):
    return make_office(tenant, clock)


def codes(out: dict) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in out["userErrors"]]


def group(api, name: str, *members: str) -> str:
    gid = api(CREATE_GROUP, {"name": name})["createGroup"]["group"]["id"]
    if members:
        out = api(ADD, {"g": gid, "users": [upn(m) for m in members]})["addGroupMembers"]
        assert out["userErrors"] == []
    return gid


def assign(api, gid, name, rank=None, kind="DIAL_OUT", what_if=False) -> dict:
    variables = {"g": gid, "t": kind, "name": name, "rank": rank, "whatIf": what_if}
    return api(ASSIGN, variables)["assignGroupPolicy"]


def dial_grant(api, name, users=None, global_=None) -> None:
    out = api(DIAL_GRANT, {"users": users, "global": global_, "name": name})
    assert out["grantDialOutPolicy"]["userErrors"] == []


def policies(api, alias: str) -> dict:
    return api(POLICIES, {"u": upn(alias)})["user"]


def ranks(api, kind="DIAL_OUT") -> list[tuple[str, str, int]]:
    rows = api(LIST, {"t": kind})["groupPolicyAssignments"]
    return [(r["groupDisplayName"], r["policyName"], r["rank"]) for r in rows]


def test_dial_out_precedence_user_then_best_group_then_global_then_default(api, office):
    sales = group(api, "Sales", "ann", "bob")
    interns = group(api, "Interns", "ann")
    mine = policies(api, "cem")["dialOutPolicy"]
    assert (mine["source"], mine["name"], mine["group"]) == ("DEFAULT", None, None)
    dial_grant(api, INTL_DOMESTIC, global_=True)
    assert policies(api, "ann")["dialOutPolicy"]["source"] == "GLOBAL"
    assert assign(api, sales, DOMESTIC_ONLY, 1)["userErrors"] == []
    out = assign(api, interns, DISABLED, 1)  # takes rank 1: Sales moves to 2
    assert out["assignment"]["rank"] == 1
    assert out["shifted"] == [{"groupId": sales, "rank": 2}]
    ann, bob, cem = (policies(api, a)["dialOutPolicy"] for a in ("ann", "bob", "cem"))
    assert ann == {
        "name": DISABLED,
        "source": "GROUP",
        "group": {"id": interns, "displayName": "Interns", "rank": 1},
    }
    assert (bob["name"], bob["source"], bob["group"]["displayName"]) == (
        DOMESTIC_ONLY,
        "GROUP",
        "Sales",
    )
    assert (cem["name"], cem["source"], cem["group"]) == (INTL_DOMESTIC, "GLOBAL", None)
    # A user's own grant wins over every group's.
    dial_grant(api, "DialoutCPCandPSTNInternational", users=[upn("ann")])
    ann = policies(api, "ann")["dialOutPolicy"]
    assert (ann["source"], ann["group"]) == ("USER", None)
    # Moving Sales to rank 1 makes it bob's and (without her own grant) ann's.
    dial_grant(api, None, users=[upn("ann")])
    assign(api, sales, DOMESTIC_ONLY, 1)
    assert ranks(api) == [("Sales", DOMESTIC_ONLY, 1), ("Interns", DISABLED, 2)]
    assert policies(api, "ann")["dialOutPolicy"]["group"]["displayName"] == "Sales"


def test_calling_precedence_and_the_spend_limit_a_group_gives(api, office):
    policy(api, "Everyone", "50")
    policy(api, "Tight", "1")
    policy(api, "Loose", "10")
    sales = group(api, "Sales", "ann", "bob")
    grant(api, "Everyone", global_=True)
    assert assign(api, sales, "tight", 1, kind="CALLING")["assignment"]["policyName"] == "Tight"
    ann = policies(api, "ann")
    assert ann["callingPolicy"]["source"] == "GROUP"
    assert ann["callingPolicy"]["group"] == {"displayName": "Sales"}
    assert ann["spendLimitLeft"] == {"amount": "1.00"}
    assert policies(api, "cem")["callingPolicy"]["source"] == "GLOBAL"
    grant(api, "Loose", users=[upn("bob")])
    bob = policies(api, "bob")["callingPolicy"]
    assert (bob["name"], bob["source"]) == ("Loose", "USER")
    # Rating applies the group's limit: 20 minutes to the US cost 0.36, so the third call
    # starts at 0.72 (below 1.00, rated whole) and the fourth is blocked.
    results = record(api, *(call(f"a{i}", "ann") for i in range(4)))
    assert [r["status"] for r in results] == ["RATED", "RATED", "RATED", "BLOCKED"]
    assert results[3]["reason"] == "SPEND_LIMIT_REACHED"
    uid = api(f'{{ user(userPrincipalName: "{upn("ann")}") {{ id }} }}')["user"]["id"]
    out = api(AUTHORIZE, {"u": uid, "d": US, "t": "INTERNATIONAL"})["authorizeCall"]
    assert (out["allowed"], out["reason"]) == (False, "SPEND_LIMIT_REACHED")
    # A calling policy held by a group cannot be removed.
    out = api(REMOVE, {"name": "Tight"})["removeCallingPolicy"]
    assert codes(out) == [("POLICY_IN_USE", "name")]
    assert "1 group(s)" in out["userErrors"][0]["message"]


def test_rating_and_authorize_apply_a_groups_dial_out_restriction(api, office):
    sales = group(api, "Sales", "ann")
    assign(api, sales, DOMESTIC_ONLY, 1)
    results = record(api, call("a1", "ann"), call("a2", "ann", DE, call_type="DOMESTIC"),
                     call("b1", "bob"))  # fmt: skip
    assert [(r["status"], r["reason"]) for r in results] == [
        ("BLOCKED", "DIAL_OUT_RESTRICTED"),
        ("RATED", None),
        ("RATED", None),
    ]
    uid = api(f'{{ user(userPrincipalName: "{upn("ann")}") {{ id }} }}')["user"]["id"]
    out = api(AUTHORIZE, {"u": uid, "d": US, "t": "INTERNATIONAL"})["authorizeCall"]
    assert (out["allowed"], out["reason"]) == (False, "DIAL_OUT_RESTRICTED")
    # Leaving the group lifts it at once.
    assert api(LEAVE, {"g": sales, "users": [upn("ann")]})["removeGroupMembers"]["changed"] == 1
    assert policies(api, "ann")["dialOutPolicy"]["source"] == "DEFAULT"
    assert record(api, call("a3", "ann"))[0]["status"] == "RATED"


def test_leaving_a_group_falls_back_to_the_next_group_then_global(api, office):
    top = group(api, "Top", "ann")
    low = group(api, "Low", "ann")
    assign(api, top, DISABLED, 1)
    assign(api, low, DOMESTIC_ONLY, 2)
    dial_grant(api, INTL_DOMESTIC, global_=True)
    assert policies(api, "ann")["dialOutPolicy"]["name"] == DISABLED
    api(LEAVE, {"g": top, "users": [upn("ann")]})
    found = policies(api, "ann")["dialOutPolicy"]
    assert (found["name"], found["group"]["displayName"]) == (DOMESTIC_ONLY, "Low")
    api(LEAVE, {"g": low, "users": [upn("ann")]})
    assert policies(api, "ann")["dialOutPolicy"]["source"] == "GLOBAL"


def test_ranks_insert_shift_replace_and_close_up(api, office):
    a, b, c, d = (group(api, n) for n in ("A", "B", "C", "D"))
    assign(api, a, DISABLED, 1)
    assign(api, b, DISABLED, 1)  # B 1, A 2
    assign(api, c, DISABLED, 2)  # B 1, C 2, A 3
    out = assign(api, d, DOMESTIC_ONLY, 99)  # past the end: last
    assert out["assignment"]["rank"] == 4 and out["shifted"] == []
    assert [(g, r) for g, _, r in ranks(api)] == [("B", 1), ("C", 2), ("A", 3), ("D", 4)]
    # Re-assigning a group replaces its assignment; no rank keeps its place.
    out = assign(api, a, DOMESTIC_ONLY)
    assert (out["assignment"]["rank"], out["shifted"]) == (3, [])
    out = assign(api, a, DOMESTIC_ONLY, 1)
    assert out["shifted"] == [{"groupId": b, "rank": 2}, {"groupId": c, "rank": 3}]
    assert ranks(api) == [
        ("A", DOMESTIC_ONLY, 1),
        ("B", DISABLED, 2),
        ("C", DISABLED, 3),
        ("D", DOMESTIC_ONLY, 4),
    ]
    # Removing closes the gap; so does deleting a group.
    out = api(UNASSIGN, {"g": b, "t": "DIAL_OUT"})["removeGroupPolicy"]
    assert out["assignment"] == {"groupDisplayName": "B", "policyName": DISABLED, "rank": 2}
    assert api(DELETE_GROUP, {"id": a})["deleteGroup"]["userErrors"] == []
    assert [(g, r) for g, _, r in ranks(api)] == [("C", 1), ("D", 2)]
    # Ranks are per type: a calling assignment starts at 1.
    policy(api, "Tight", "1")
    assert assign(api, d, "Tight", 5, kind="CALLING")["assignment"]["rank"] == 1
    assert ranks(api, "CALLING") == [("D", "Tight", 1)]
    got = {
        n["displayName"]: n["policyAssignments"] for n in api(GROUP_ASSIGNMENTS)["groups"]["nodes"]
    }
    assert got["D"] == [
        {"policyType": "DIAL_OUT", "policyName": DOMESTIC_ONLY, "rank": 2},
        {"policyType": "CALLING", "policyName": "Tight", "rank": 1},
    ]
    assert got["C"] == [{"policyType": "DIAL_OUT", "policyName": DISABLED, "rank": 1}]
    # Every change is audited: the assignment itself, and each one whose rank moved.
    b_pk = from_global_id(b)[1]
    entries = [
        (e.action, e.before, e.after)
        for e in AuditEntry.select()
        .where(AuditEntry.target_id == f"{b_pk}:DIAL_OUT")
        .order_by(AuditEntry.id)
    ]
    assert entries == [
        ("assignGroupPolicy", None, {"policyName": DISABLED, "rank": 1}),
        ("assignGroupPolicy", {"rank": 1}, {"rank": 2}),
        ("removeGroupPolicy", {"policyName": DISABLED, "rank": 2}, None),
    ]


def test_what_if_and_bad_input_write_nothing(api, office, clock):
    sales = group(api, "Sales", "ann")
    assign(api, sales, DISABLED, 1)
    other = group(api, "Other")
    north = other_tenant(clock())
    theirs = group_service.create_group(north, SYSTEM, "Theirs", now=clock())
    before = (
        list(GroupPolicyGrant.select().tuples()),
        AuditEntry.select().count(),
    )
    out = assign(api, other, DOMESTIC_ONLY, 1, what_if=True)
    assert out["whatIf"] is True and out["assignment"]["rank"] == 1
    assert out["shifted"] == [{"groupId": sales, "rank": 2}]
    out = api(UNASSIGN, {"g": sales, "t": "DIAL_OUT", "whatIf": True})["removeGroupPolicy"]
    assert (out["whatIf"], out["assignment"]["rank"]) == (True, 1)
    cases = [
        (assign(api, other, "Nope", 1), [("UNKNOWN_POLICY", "policyName")]),
        (assign(api, other, "Nope", 1, kind="CALLING"), [("UNKNOWN_POLICY", "policyName")]),
        (assign(api, other, DISABLED, 0), [("INVALID_RANK", "rank")]),
        (assign(api, other, DISABLED, -3), [("INVALID_RANK", "rank")]),
        (assign(api, "nonsense", DISABLED, 1), [("NOT_FOUND", "groupId")]),
        (assign(api, to_global_id("Group", theirs.id), DISABLED, 1), [("NOT_FOUND", "groupId")]),
        (
            api(UNASSIGN, {"g": other, "t": "DIAL_OUT"})["removeGroupPolicy"],
            [("NOT_FOUND", "policyType")],
        ),
    ]
    for out, expected in cases:
        assert codes(out) == expected, out
    unknown = assign(api, other, "Nope", 1)["userErrors"][0]["message"]
    assert DISABLED in unknown and "DialoutCPCandPSTNInternational" in unknown
    assert (list(GroupPolicyGrant.select().tuples()), AuditEntry.select().count()) == before
    # The service refuses a rank that is not a whole number (the bulk layer passes text).
    with pytest.raises(DomainError) as refused:
        group_policies.check_rank("2")
    assert refused.value.code == "INVALID_RANK"
    with pytest.raises(DomainError) as refused:
        group_policies.policy_type_of("TeamsMeetingPolicy")
    assert refused.value.code == "INVALID_POLICY_TYPE"
    assert group_policies.policy_type_of("teamscallingpolicy") == "CALLING"


def test_only_policy_managers_assign(api, api_as, office):
    sales = group(api, "Sales", "ann")
    for role in ("READER", "LICENSE_ADMIN", "BILLING_ADMIN"):
        out = assign(api_as(role), sales, DISABLED, 1)
        assert codes(out)[0][0] == "FORBIDDEN", role
        out = api_as(role)(UNASSIGN, {"g": sales, "t": "DIAL_OUT"})["removeGroupPolicy"]
        assert codes(out)[0][0] == "FORBIDDEN", role
    assert GroupPolicyGrant.select().count() == 0
    assign(api, sales, DISABLED, 1)
    assert ranks(api_as("READER")) == [("Sales", DISABLED, 1)]


def test_pages_cost_the_same_statements_with_group_grants(api, office, clock):
    add_users(office, clock(), [(f"u{i:02}", "DE") for i in range(30)], domain="fabrikam.example")
    policy(api, "Tight", "1")
    policy(api, "Everyone", "50")
    grant(api, "Everyone", global_=True)
    dial_grant(api, INTL_DOMESTIC, global_=True)
    many = group(api, "Many", *(f"u{i:02}" for i in range(0, 30, 2)))
    few = group(api, "Few", "u04", "u08", "ann")
    assign(api, many, DOMESTIC_ONLY, 2)
    assign(api, few, DISABLED, 1)
    assign(api, few, "Tight", 1, kind="CALLING")
    dial_grant(api, "DialoutCPCandPSTNInternational", users=[upn("u06")])

    def cost(first: int) -> tuple[int, list]:
        with count_statements() as seen:
            nodes = api(USERS_PAGE, {"first": first})["users"]["nodes"]
        return len(seen), nodes

    small, _ = cost(2)
    large, nodes = cost(33)
    assert small == large, (small, large)
    by = {n["userPrincipalName"]: n for n in nodes}
    assert by[upn("u04")]["dialOutPolicy"] == {
        "name": DISABLED,
        "source": "GROUP",
        "group": {"displayName": "Few"},
    }
    assert by[upn("u02")]["dialOutPolicy"]["group"] == {"displayName": "Many"}
    assert by[upn("u06")]["dialOutPolicy"]["source"] == "USER"
    assert by[upn("u01")]["dialOutPolicy"]["source"] == "GLOBAL"
    assert by[upn("u08")]["callingPolicy"]["source"] == "GROUP"
    assert by[upn("u08")]["spendLimitLeft"] == {"amount": "1.00"}
    assert by[upn("u02")]["callingPolicy"]["source"] == "GLOBAL"

    # Rating a batch reads the policies in the same few statements whatever its size.
    def rating_cost(n: int, tag: str) -> int:
        calls = [call(f"{tag}{i}", f"u{i:02}", DE, 1, "DOMESTIC") for i in range(n)]
        with count_statements() as seen:
            record(api, *calls)
        return len([s for s in seen if "group_policy_grant" in s])

    assert rating_cost(2, "s") == rating_cost(30, "l") == 2  # dial-out, calling


def test_a_groups_page_with_assignments_costs_the_same_statements(api, office):
    for n in range(6):
        gid = group(api, f"G{n}")
        assign(api, gid, DISABLED, 1)
    page = """query($first: Int!) { groups(first: $first) { nodes { displayName
      policyAssignments { policyName rank } } } }"""

    def cost(first: int) -> tuple[int, list]:
        with count_statements() as seen:
            nodes = api(page, {"first": first})["groups"]["nodes"]
        return len(seen), nodes

    (small, _), (large, nodes) = cost(1), cost(6)
    assert small == large, (small, large)
    # The last assigned at rank 1 is first; the first assigned has moved to the end.
    assert nodes[0]["policyAssignments"] == [{"policyName": DISABLED, "rank": 6}]
    assert nodes[5]["policyAssignments"] == [{"policyName": DISABLED, "rank": 1}]


def test_a_tenant_holds_a_bounded_number_of_assignments_per_type(api, office, monkeypatch):
    monkeypatch.setattr(group_policies, "MAX_ASSIGNMENTS", 2)
    first, second, third = (group(api, n) for n in ("A", "B", "C"))
    assign(api, first, DISABLED, 1)
    assign(api, second, DISABLED, 1)
    out = assign(api, third, DISABLED, 1)
    assert codes(out) == [("TOO_MANY_VALUES", "groupId")]
    # Replacing one of the two is no new assignment; the other type has its own bound.
    assert assign(api, first, DOMESTIC_ONLY, 1)["userErrors"] == []
    policy(api, "Tight", "1")
    assert assign(api, third, "Tight", 1, kind="CALLING")["userErrors"] == []
    assert [(g, r) for g, _, r in ranks(api)] == [("A", 1), ("B", 2)]
