"""Outbound calling restrictions (issue 17): the nine dial-out policies, grants, and rating and
authorizeCall obeying them — through the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from commcredits.db import count_statements
from commcredits.models import AuditEntry
from commcredits.services import dial_out, rates
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from tests.helpers import add_users, other_tenant, upn
from tests.spend_fixtures import make_office

DOMAIN = "fabrikam.example"
GRANT = """
mutation($users: [ID!], $global: Boolean, $name: String) {
  grantDialOutPolicy(userIds: $users, global: $global, policyName: $name) {
    policy { name conferencingDialOut pstnOutboundCalling }
    global userIds
    userErrors { field code message }
  }
}"""
CATALOG = "{ dialOutPolicies { name conferencingDialOut pstnOutboundCalling } }"
USER_POLICY = """
query($u: String!) {
  user(userPrincipalName: $u) {
    dialOutPolicy { name source effective { name conferencingDialOut pstnOutboundCalling } }
  }
}"""
USERS_PAGE = """
query($first: Int!) {
  users(first: $first) { nodes { userPrincipalName dialOutPolicy { name source
    effective { name pstnOutboundCalling } } } }
}"""
RECORD = """
mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    results { callId status reason call { callType poolMinutes chargedMinutes charge }
              userErrors { code message } }
  }
}"""
AUTHORIZE = """
query($u: ID!, $d: String!, $t: CallType!) {
  authorizeCall(userId: $u, destination: $d, callType: $t) {
    allowed reason callType maxMinutesAffordable
  }
}"""

# (kind, destination, call type, the setting that governs it, domestic?)
CALLS = [
    ("domestic", "+493012345678", "DOMESTIC", "outbound", True),
    ("international", "+33142345678", "INTERNATIONAL", "outbound", False),
    ("conference", "+493012345679", "CONFERENCE_DIAL_OUT", "conferencing", True),
    ("conference-intl", "+33142345679", "CONFERENCE_DIAL_OUT", "conferencing", False),
    ("emergency", "+49112", "DOMESTIC", None, True),
]
SETTING_ENUM = {
    "InternationalAndDomestic": "INTERNATIONAL_AND_DOMESTIC",
    "DomesticOnly": "DOMESTIC_ONLY",
    "Disabled": "DISABLED",
}


@pytest.fixture
def office(tenant, clock):
    """Fabrikam (EUR): three DE users with calling plans (domestic and international), Audio
    Conferencing and credits."""
    return make_office(tenant, clock, calling_plan="MCOPSTN2")


def grant(api, name, users=None, global_=None):
    return api(GRANT, {"users": users, "global": global_, "name": name})["grantDialOutPolicy"]


def expected_reason(policy: dial_out.DialOutPolicy, setting: str | None, domestic: bool):
    if setting is None:  # emergency: never restricted
        return None
    value = policy.outbound if setting == "outbound" else policy.conferencing
    if value == "Disabled" or (value == "DomesticOnly" and not domestic):
        return "DIAL_OUT_RESTRICTED"
    return None


def test_the_catalog_is_the_nine_teams_instances(api):
    got = api(CATALOG)["dialOutPolicies"]
    assert [p["name"] for p in got] == [
        "DialoutCPCandPSTNInternational",
        "DialoutCPCDomesticPSTNInternational",
        "DialoutCPCDisabledPSTNInternational",
        "DialoutCPCInternationalPSTNDomestic",
        "DialoutCPCInternationalPSTNDisabled",
        "DialoutCPCandPSTNDomestic",
        "DialoutCPCDomesticPSTNDisabled",
        "DialoutCPCDisabledPSTNDomestic",
        "DialoutCPCandPSTNDisabled",
    ]
    assert got[3] == {
        "name": "DialoutCPCInternationalPSTNDomestic",
        "conferencingDialOut": "INTERNATIONAL_AND_DOMESTIC",
        "pstnOutboundCalling": "DOMESTIC_ONLY",
    }


def test_every_policy_against_every_kind_of_call(api, office):
    """All nine × domestic, international, conference dial-out (domestic and international)
    and emergency, through recordCalls and authorizeCall."""
    for n, policy in enumerate(dial_out.CATALOG):
        assert grant(api, policy.name, users=[upn("ann")])["userErrors"] == []
        items = [
            {
                "callId": f"p{n}-{kind}",
                "userPrincipalName": upn("ann"),
                "startedAt": "2026-11-25T09:00:00Z",
                "durationSeconds": 60,
                "destination": dest,
                "callType": call_type,
            }
            for kind, dest, call_type, _, _ in CALLS
        ]
        results = api(RECORD, {"items": items})["recordCalls"]["results"]
        for (kind, dest, call_type, setting, domestic), result in zip(CALLS, results, strict=True):
            reason = expected_reason(policy, setting, domestic)
            where = (policy.name, kind)
            assert result["userErrors"] == [], where
            assert result["reason"] == reason, where
            assert result["status"] == ("BLOCKED" if reason else "RATED"), where
            if kind == "emergency":
                assert result["call"]["charge"] == "0.00", where
                assert result["call"]["poolMinutes"] == 0, where
                assert result["call"]["chargedMinutes"] == 0, where
            answer = api(AUTHORIZE, {"u": upn("ann"), "d": dest, "t": call_type})
            answer = answer["authorizeCall"]
            assert (answer["allowed"], answer["reason"]) == (reason is None, reason), where


def test_an_emergency_call_needs_no_credits_and_a_short_code_that_is_not_one_is_no_rate(
    api, office, clock
):
    grant(api, "DialoutCPCandPSTNDisabled", global_=True)
    items = [
        {
            "callId": cid,
            "userPrincipalName": upn("bob"),
            "startedAt": "2026-11-25T09:00:00Z",
            "durationSeconds": 600,
            "destination": dest,
            "callType": "DOMESTIC",
        }
        for cid, dest in (("e-1", "+49112"), ("e-2", "+49110"), ("x-1", "+49999"))
    ]
    results = api(RECORD, {"items": items})["recordCalls"]["results"]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("RATED", None),
        ("RATED", None),
        ("BLOCKED", "DIAL_OUT_RESTRICTED"),  # not DE's emergency number: an outbound call
    ]
    grant(api, None, global_=True)
    result = api(RECORD, {"items": [{**items[2], "callId": "x-2"}]})["recordCalls"]["results"]
    assert (result[0]["status"], result[0]["reason"]) == ("BLOCKED", "NO_RATE")
    # A number that merely starts with an emergency code is an ordinary call.
    answer = api(AUTHORIZE, {"u": upn("bob"), "d": "+4911234567", "t": "DOMESTIC"})
    assert answer["authorizeCall"]["allowed"] is True


def test_a_user_grant_wins_over_the_global_one_which_wins_over_the_default(api, office):
    def policy_of(alias):
        return api(USER_POLICY, {"u": upn(alias)})["user"]["dialOutPolicy"]

    assert policy_of("ann") == {
        "name": None,
        "source": "DEFAULT",
        "effective": {
            "name": "DialoutCPCandPSTNInternational",
            "conferencingDialOut": "INTERNATIONAL_AND_DOMESTIC",
            "pstnOutboundCalling": "INTERNATIONAL_AND_DOMESTIC",
        },
    }
    out = grant(api, "DialoutCPCandPSTNDomestic", global_=True)
    assert (out["global"], out["policy"]["name"], out["userErrors"]) == (
        True,
        "DialoutCPCandPSTNDomestic",
        [],
    )
    # PowerShell takes names in any case; the answer spells them as Teams does.
    grant(api, "dialoutcpcandpstndisabled", users=[upn("ann")])
    assert (policy_of("ann")["name"], policy_of("ann")["source"]) == (
        "DialoutCPCandPSTNDisabled",
        "USER",
    )
    assert (policy_of("bob")["name"], policy_of("bob")["source"]) == (
        "DialoutCPCandPSTNDomestic",
        "GLOBAL",
    )
    blocked = api(AUTHORIZE, {"u": upn("ann"), "d": "+493012345678", "t": "DOMESTIC"})
    assert blocked["authorizeCall"]["reason"] == "DIAL_OUT_RESTRICTED"
    intl = api(AUTHORIZE, {"u": upn("bob"), "d": "+33142345678", "t": "INTERNATIONAL"})
    assert intl["authorizeCall"]["reason"] == "DIAL_OUT_RESTRICTED"

    out = grant(api, None, users=[upn("ann")])  # removing the user's grant: the global applies
    assert (out["policy"], out["userErrors"]) == (None, [])
    assert policy_of("ann")["source"] == "GLOBAL"
    grant(api, None, global_=True)
    assert (policy_of("ann")["source"], policy_of("bob")["source"]) == ("DEFAULT", "DEFAULT")


def test_bad_grants_are_refused_and_write_nothing(api, api_as, office, clock):
    out = grant(api, "DialoutEverything", users=[upn("ann")])
    assert [e["code"] for e in out["userErrors"]] == ["UNKNOWN_POLICY"]
    assert all(p.name in out["userErrors"][0]["message"] for p in dial_out.CATALOG)

    north = other_tenant(clock())
    add_users(north, clock(), [("zoe", "US")], domain="northwind.example")
    out = grant(api, "DialoutCPCandPSTNDisabled", users=[upn("ann"), "zoe@northwind.example"])
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [("NOT_FOUND", "userIds.1")]

    out = grant(api, "DialoutCPCandPSTNDisabled")  # neither users nor global
    assert [e["code"] for e in out["userErrors"]] == ["INVALID_ARGUMENT"]
    for role in ("READER", "LICENSE_ADMIN", "BILLING_ADMIN"):
        out = grant(api_as(role), "DialoutCPCandPSTNDisabled", global_=True)
        assert [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"], role
    assert api(USER_POLICY, {"u": upn("ann")})["user"]["dialOutPolicy"]["source"] == "DEFAULT"
    assert not AuditEntry.select().where(AuditEntry.action == "grantDialOutPolicy").exists()


def test_grants_are_audited(api, office):
    grant(api, "DialoutCPCandPSTNDomestic", users=[upn("ann"), upn("bob")])
    grant(api, "DialoutCPCandPSTNDomestic", users=[upn("ann")])  # no change: no entry
    grant(api, "DialoutCPCandPSTNDisabled", global_=True)
    grant(api, None, users=[upn("bob")])
    entries = [
        (e.target_id, e.before, e.after)
        for e in AuditEntry.select()
        .where(AuditEntry.action == "grantDialOutPolicy")
        .order_by(AuditEntry.id)
    ]
    assert entries == [
        (upn("ann"), None, {"policyName": "DialoutCPCandPSTNDomestic"}),
        (upn("bob"), None, {"policyName": "DialoutCPCandPSTNDomestic"}),
        ("global", None, {"policyName": "DialoutCPCandPSTNDisabled"}),
        (upn("bob"), {"policyName": "DialoutCPCandPSTNDomestic"}, None),
    ]


def test_a_users_page_with_dial_out_policies_costs_the_same_statements(api, office, clock):
    add_users(office, clock(), [(f"u{i:02}", "DE") for i in range(30)], domain=DOMAIN)
    grant(api, "DialoutCPCandPSTNDomestic", global_=True)
    grant(api, "DialoutCPCandPSTNDisabled", users=[upn("u03"), upn("u07")])

    def cost(first: int) -> tuple[int, list]:
        with count_statements() as seen:
            nodes = api(USERS_PAGE, {"first": first})["users"]["nodes"]
        return len(seen), nodes

    small, _ = cost(2)
    large, nodes = cost(33)
    assert small == large, (small, large)
    sources = {n["userPrincipalName"]: n["dialOutPolicy"]["source"] for n in nodes}
    assert sources[upn("u03")] == "USER" and sources[upn("u04")] == "GLOBAL"


def test_a_rate_file_may_flag_emergency_numbers(db_url, clock, tmp_path):
    sheet = tmp_path / "card.csv"
    sheet.write_text(
        "callType,prefix,country,pricePerMinute,currency,emergency\n"
        "DOMESTIC,49,DE,0.02,EUR,\n"
        "DOMESTIC,49112,DE,0,EUR,true\n"
    )
    card = rates.import_rate_file(SYSTEM, sheet, now=clock())
    flagged = {r.prefix: r.emergency for r in card.rate_set}
    assert flagged == {"49": False, "49112": True}
    sheet.write_text(
        "callType,prefix,country,pricePerMinute,currency,emergency\n"
        "DOMESTIC,49110,DE,0.01,EUR,yes\n"
    )
    with pytest.raises(DomainError) as refused:
        rates.import_rate_file(SYSTEM, sheet, now=clock())
    assert refused.value.code == "INVALID_EMERGENCY"


GRANT_WHAT_IF = """
mutation($users: [ID!], $global: Boolean, $name: String) {
  grantDialOutPolicy(userIds: $users, global: $global, policyName: $name, whatIf: true) {
    policy { name } global userIds whatIf
    userErrors { field code message }
  }
}"""
GLOBAL_GRANTS = "{ globalPolicyGrants { dialOut { name pstnOutboundCalling } calling { name } } }"


def _written() -> tuple[int, int]:
    from commcredits.models import DialOutGrant

    return DialOutGrant.select().count(), AuditEntry.select().count()


def test_what_if_checks_everything_and_writes_nothing(api, api_as, office, clock):
    north = other_tenant(clock())
    add_users(north, clock(), [("zoe", "US")], domain="northwind.example")
    grant(api, "DialoutCPCandPSTNDomestic", users=[upn("bob")])
    before = _written()

    def what_if(name, users=None, global_=None, as_=api):
        return as_(GRANT_WHAT_IF, {"users": users, "global": global_, "name": name})[
            "grantDialOutPolicy"
        ]

    out = what_if("dialoutcpcandpstndisabled", users=[upn("ann"), upn("bob")])
    assert (out["policy"], out["whatIf"], out["global"], len(out["userIds"])) == (
        {"name": "DialoutCPCandPSTNDisabled"},
        True,
        False,
        2,
    )
    out = what_if("DialoutCPCandPSTNDisabled", global_=True)
    assert (out["whatIf"], out["global"], out["userErrors"]) == (True, True, [])
    out = what_if(None, users=[upn("bob")])  # a removal
    assert (out["policy"], out["whatIf"], out["userErrors"]) == (None, True, [])
    # the same refusals as for real: every user, the name, the role
    out = what_if("DialoutCPCandPSTNDisabled", users=[upn("ann"), "zoe@northwind.example"])
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [("NOT_FOUND", "userIds.1")]
    out = what_if("NoSuch", users=[upn("ann")])
    assert [e["code"] for e in out["userErrors"]] == ["UNKNOWN_POLICY"]
    out = what_if("DialoutCPCandPSTNDisabled", global_=True, as_=api_as("READER"))
    assert [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"]
    assert _written() == before
    assert api(USER_POLICY, {"u": upn("bob")})["user"]["dialOutPolicy"]["name"] == (
        "DialoutCPCandPSTNDomestic"
    )
    # the payload of a real grant says it is one
    assert (
        api(
            GRANT.replace("global userIds", "global userIds whatIf"),
            {"users": [upn("ann")], "global": None, "name": "DialoutCPCandPSTNDisabled"},
        )["grantDialOutPolicy"]["whatIf"]
        is False
    )


def test_global_policy_grants_reads_the_global_grants(api, api_as, office):
    assert api(GLOBAL_GRANTS)["globalPolicyGrants"] == {"dialOut": None, "calling": None}
    grant(api, "DialoutCPCandPSTNDomestic", users=[upn("ann")])  # a user's: not global
    assert api(GLOBAL_GRANTS)["globalPolicyGrants"]["dialOut"] is None
    grant(api, "dialoutcpcdomesticpstndisabled", global_=True)
    audited = AuditEntry.select().count()
    # every role may read it, and reading writes nothing
    got = api_as("READER")(GLOBAL_GRANTS)["globalPolicyGrants"]
    assert got == {
        "dialOut": {"name": "DialoutCPCDomesticPSTNDisabled", "pstnOutboundCalling": "DISABLED"},
        "calling": None,
    }
    assert AuditEntry.select().count() == audited
    grant(api, None, global_=True)
    assert api(GLOBAL_GRANTS)["globalPolicyGrants"]["dialOut"] is None
