"""Blocking users from PSTN calls (issue 17): the block, rating and authorizeCall obeying it, the
notification, the PSTN blocked users report and its log — through the real ASGI app, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from commcredits.db import count_statements
from commcredits.models import AuditEntry, Notification, PstnBlock, PstnBlockLog
from commcredits.services import credits, pstn_blocks, users, webhooks
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from tests.conftest import Api
from tests.helpers import add_users, other_tenant, upn
from tests.spend_fixtures import make_office
from tests.test_credits_webhooks import SET_WEBHOOK, Receiver

DOMAIN = "fabrikam.example"
BLOCK = """
mutation($u: ID!, $r: String!) {
  blockUserFromPstn(userId: $u, reason: $r) {
    user { userPrincipalName pstnBlocked }
    pstnBlock { reason blockedAt blockedBy remediationId }
    changed
    userErrors { field code message }
  }
}"""
UNBLOCK = """
mutation($u: ID!, $r: String) {
  unblockUserFromPstn(userId: $u, reason: $r) {
    user { userPrincipalName pstnBlocked }
    pstnBlock { reason }
    changed
    userErrors { field code message }
  }
}"""
USER_BLOCK = """
query($u: String!) {
  user(userPrincipalName: $u) { pstnBlocked pstnBlock { reason blockedAt blockedBy remediationId } }
}"""
USERS_PAGE = """
query($first: Int!) {
  users(first: $first) { nodes { userPrincipalName pstnBlocked pstnBlock { reason } } }
}"""
REPORT = """
query($first: Int, $after: String) {
  pstnBlockedUsers(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { user { id userPrincipalName displayName } reason blockedAt blockedBy remediationId }
  }
}"""
LOG = """
query($from: DateTime, $to: DateTime, $first: Int, $after: String) {
  pstnBlockedUsersLog(from: $from, to: $to, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { blockDateTime blockReason remediationId userBlockMode userDisplayName userId
            userPrincipalName userTelephoneNumber actor }
  }
}"""
NOTIFICATIONS = "{ notifications(first: 50) { nodes { kind payload } } }"
RECORD = """
mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    results { callId status reason call { callType poolMinutes chargedMinutes charge }
              userErrors { code message } }
  }
}"""
AUTHORIZE = """
query($u: ID!, $d: String!, $t: CallType!) {
  authorizeCall(userId: $u, destination: $d, callType: $t) { allowed reason maxMinutesAffordable }
}"""

# (kind, destination, call type, blocked while the user is?)
CALLS = [
    ("domestic", "+493012345678", "DOMESTIC", True),
    ("international", "+33142345678", "INTERNATIONAL", True),
    ("conference", "+493012345679", "CONFERENCE_DIAL_OUT", True),
    ("emergency", "+49112", "DOMESTIC", False),  # never blocked
    ("toll-free", "+498001234567", "TOLL_FREE_INBOUND", False),  # inbound: not the user's call
]


class TenantApi(Api):
    """An operator key acting in a tenant (X-Commcredits-Tenant)."""

    def __init__(self, client, key: str, tenant: str):  # noqa: ANN001
        super().__init__(client, key)
        self.tenant = tenant

    def raw(self, query: str, variables: dict | None = None):
        headers = {"Authorization": f"Bearer {self.key}", "X-Commcredits-Tenant": self.tenant}
        return self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )


@pytest.fixture
def office(tenant, clock):
    """Fabrikam (EUR): three DE users with calling plans (domestic and international), Audio
    Conferencing and credits."""
    return make_office(tenant, clock, calling_plan="MCOPSTN2")


def block(api, alias_or_upn: str, reason: str) -> dict:
    ref = alias_or_upn if "@" in alias_or_upn else upn(alias_or_upn)
    return api(BLOCK, {"u": ref, "r": reason})["blockUserFromPstn"]


def unblock(api, alias: str, reason: str | None = None) -> dict:
    return api(UNBLOCK, {"u": upn(alias), "r": reason})["unblockUserFromPstn"]


def record(api, alias: str, prefix: str) -> list[dict]:
    items = [
        {
            "callId": f"{prefix}-{kind}",
            "userPrincipalName": upn(alias),
            "startedAt": "2026-11-25T09:00:00Z",
            "durationSeconds": 120,
            "destination": dest,
            "callType": call_type,
        }
        for kind, dest, call_type, _ in CALLS
    ]
    return api(RECORD, {"items": items})["recordCalls"]["results"]


def written() -> tuple[int, int, int, int]:
    """Rows a block action writes: blocks, log rows, audit entries, notifications."""
    return (
        PstnBlock.select().count(),
        PstnBlockLog.select().count(),
        AuditEntry.select().count(),
        Notification.select().count(),
    )


def test_a_blocked_users_outgoing_calls_are_blocked_emergency_and_inbound_are_not(
    api, office, clock
):
    out = block(api, "ann", "Fraud: 400 calls to premium numbers overnight")
    assert (out["userErrors"], out["changed"], out["user"]["pstnBlocked"]) == ([], True, True)
    balance = credits.current_balance(office, now=clock()).amount

    results = record(api, "ann", "b")
    for (kind, dest, call_type, blocked), result in zip(CALLS, results, strict=True):
        assert result["userErrors"] == [], kind
        if blocked:
            assert (result["status"], result["reason"]) == ("BLOCKED", "USER_BLOCKED"), kind
            assert result["call"]["poolMinutes"] == result["call"]["chargedMinutes"] == 0, kind
        else:
            assert (result["status"], result["reason"]) == ("RATED", None), kind
        if kind == "emergency":
            assert result["call"]["charge"] == "0.00"
        answer = api(AUTHORIZE, {"u": upn("ann"), "d": dest, "t": call_type})["authorizeCall"]
        expected = (False, "USER_BLOCKED", 0) if blocked else (True, None)
        assert (answer["allowed"], answer["reason"], answer["maxMinutesAffordable"])[
            : len(expected)
        ] == expected, kind
    # Only the toll-free inbound call was charged (the emergency call is free).
    tf = dict(zip([c[0] for c in CALLS], results, strict=True))["toll-free"]
    assert credits.current_balance(office, now=clock()).amount == balance - Decimal(
        tf["call"]["charge"]
    )

    # Another user of the tenant is not blocked.
    assert {r["status"] for r in record(api, "bob", "o")} == {"RATED"}

    out = unblock(api, "ann", "Cleared by the fraud team")
    assert (out["userErrors"], out["changed"], out["pstnBlock"]) == ([], True, None)
    assert out["user"]["pstnBlocked"] is False
    assert {(r["status"], r["reason"]) for r in record(api, "ann", "u")} == {("RATED", None)}
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": "+493012345678", "t": "DOMESTIC"})
    assert answer["authorizeCall"]["allowed"] is True


def test_the_block_is_on_the_user_audited_and_notified_once_per_block(api, office, clock):
    first = block(api, "ann", "  Fraud suspected  ")
    assert first["pstnBlock"]["reason"] == "Fraud suspected"  # trimmed
    assert "GLOBAL_ADMIN" in first["pstnBlock"]["blockedBy"]
    guid = first["pstnBlock"]["remediationId"]
    assert len(guid) == 36 and guid.count("-") == 4
    assert api(USER_BLOCK, {"u": upn("ann")})["user"] == {
        "pstnBlocked": True,
        "pstnBlock": first["pstnBlock"],
    }
    assert api(USER_BLOCK, {"u": upn("bob")})["user"] == {"pstnBlocked": False, "pstnBlock": None}

    # Blocking again with the same reason changes nothing and writes nothing.
    before = written()
    clock.advance(minutes=5)
    again = block(api, "ann", "Fraud suspected")
    assert (again["changed"], again["pstnBlock"]) == (False, first["pstnBlock"])
    assert written() == before
    # With another reason: the same block, its reason updated (audited; no new notification).
    changed = block(api, "ann", "Fraud confirmed")
    assert changed["changed"] is True
    assert changed["pstnBlock"] == {**first["pstnBlock"], "reason": "Fraud confirmed"}
    assert written() == (before[0], before[1], before[2] + 1, before[3])

    unblock(api, "ann")
    assert written()[:2] == (0, 2)
    out = unblock(api, "ann")  # not blocked: nothing
    assert (out["changed"], out["userErrors"]) == (False, [])
    clock.advance(days=1)
    second = block(api, "ann", "Fraud again")
    assert second["pstnBlock"]["remediationId"] != guid

    kinds = api(NOTIFICATIONS)["notifications"]["nodes"]
    blocked = [n["payload"] for n in kinds if n["kind"] == "USER_PSTN_BLOCKED"]
    assert len(blocked) == 2  # once per block
    assert sorted(p["remediationId"] for p in blocked) == sorted(
        [guid, second["pstnBlock"]["remediationId"]]
    )
    first_payload = next(p for p in blocked if p["remediationId"] == guid)
    user_id = api(REPORT)["pstnBlockedUsers"]["nodes"][0]["user"]["id"]
    assert first_payload["userId"] == user_id
    assert first_payload["userPrincipalName"] == upn("ann")
    assert first_payload["reason"] == "Fraud suspected"
    assert first_payload["blockedAt"].startswith(first["pstnBlock"]["blockedAt"][:19])

    actions = [
        (e.action, e.target_id, e.before, e.after)
        for e in AuditEntry.select()
        .where(AuditEntry.action.contains("Pstn"))
        .order_by(AuditEntry.id)
    ]
    assert [(a, t) for a, t, _, _ in actions] == [
        ("blockUserFromPstn", upn("ann")),
        ("updatePstnBlockReason", upn("ann")),
        ("unblockUserFromPstn", upn("ann")),
        ("blockUserFromPstn", upn("ann")),
    ]
    assert actions[0][3] == {"reason": "Fraud suspected", "remediationId": guid}
    assert actions[2][2] == {"reason": "Fraud confirmed", "remediationId": guid}


def test_the_report_and_its_log(api, office, clock):
    users.update_user(
        office,
        SYSTEM,
        upn("bob"),
        users.UserFields(display_name="Bob Berg", business_phones=["+49 30 1234"]),
        now=clock(),
    )
    t0 = clock()
    block(api, "cem", "Fraud 1")
    clock.advance(hours=1)
    block(api, "ann", "Fraud 2")
    clock.advance(hours=1)
    block(api, "bob", "Fraud 3")

    page = api(REPORT, {"first": 2})["pstnBlockedUsers"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    assert [n["user"]["userPrincipalName"] for n in page["nodes"]] == [upn("cem"), upn("ann")]
    rest = api(REPORT, {"first": 2, "after": page["pageInfo"]["endCursor"]})["pstnBlockedUsers"]
    assert rest["pageInfo"]["hasNextPage"] is False
    (row,) = rest["nodes"]
    assert set(row) == {"user", "reason", "blockedAt", "blockedBy", "remediationId"}
    assert row["user"]["userPrincipalName"] == upn("bob")
    assert row["user"]["displayName"] == "Bob Berg"
    assert row["reason"] == "Fraud 3"
    assert row["blockedAt"].startswith(t0.replace(tzinfo=None).isoformat()[:11])
    assert "GLOBAL_ADMIN" in row["blockedBy"]

    clock.advance(hours=1)
    unblock(api, "ann", "False alarm")
    page = api(REPORT)["pstnBlockedUsers"]
    assert [n["user"]["userPrincipalName"] for n in page["nodes"]] == [upn("cem"), upn("bob")]

    log = api(LOG, {"first": 10})["pstnBlockedUsersLog"]
    assert [(n["userPrincipalName"], n["userBlockMode"]) for n in log["nodes"]] == [
        (upn("ann"), "UNBLOCKED"),
        (upn("bob"), "BLOCKED"),
        (upn("ann"), "BLOCKED"),
        (upn("cem"), "BLOCKED"),
    ]
    bob = log["nodes"][1]
    assert bob["userDisplayName"] == "Bob Berg" and bob["userTelephoneNumber"] == "+49 30 1234"
    assert bob["blockReason"] == "Fraud 3" and bob["userId"] == row["user"]["id"]
    assert bob["remediationId"] == row["remediationId"]
    assert log["nodes"][0]["blockReason"] == "False alarm"
    guids = {n["remediationId"] for n in log["nodes"]}
    assert len(guids) == 4  # one per action
    # from/to bound the action's time: [from, to).
    window = {"from": (t0 + (clock() - t0) / 3).isoformat(), "to": clock().isoformat()}
    window_log = api(LOG, window)["pstnBlockedUsersLog"]["nodes"]
    assert [n["userPrincipalName"] for n in window_log] == [upn("bob"), upn("ann")]
    first = api(LOG, {"first": 3})["pstnBlockedUsersLog"]
    more = api(LOG, {"first": 3, "after": first["pageInfo"]["endCursor"]})["pstnBlockedUsersLog"]
    assert [n["userPrincipalName"] for n in more["nodes"]] == [upn("cem")]

    # A deleted user leaves the report; the log keeps the name, without the id.
    users.delete_user(office, SYSTEM, upn("bob"), now=clock())
    page = api(REPORT)["pstnBlockedUsers"]
    assert [n["user"]["userPrincipalName"] for n in page["nodes"]] == [upn("cem")]
    log = api(LOG, {"first": 10})["pstnBlockedUsersLog"]["nodes"]
    assert (log[1]["userPrincipalName"], log[1]["userId"]) == (upn("bob"), None)


def test_who_may_block(api, api_as, client, keys, office):
    for role in ("READER", "LICENSE_ADMIN", "BILLING_ADMIN"):
        before = written()
        out = block(api_as(role), "ann", "Fraud")
        assert [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"], role
        out = api_as(role)(UNBLOCK, {"u": upn("ann"), "r": None})["unblockUserFromPstn"]
        assert [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"], role
        assert written() == before, role
    # Any role that reads the tenant reads the report.
    assert api_as("READER")(REPORT)["pstnBlockedUsers"]["totalCount"] == 0

    operator = TenantApi(client, keys["OPERATOR"], "Fabrikam")
    out = block(operator, "ann", "Fraud seen by the operator")
    assert (out["userErrors"], out["user"]["pstnBlocked"]) == ([], True)
    assert "OPERATOR" in out["pstnBlock"]["blockedBy"]
    assert operator(REPORT)["pstnBlockedUsers"]["totalCount"] == 1
    out = unblock(operator, "ann")
    assert (out["userErrors"], out["changed"]) == ([], True)
    # Without naming the tenant an operator key blocks nobody.
    out = block(Api(client, keys["OPERATOR"]), "ann", "Fraud")
    assert [e["code"] for e in out["userErrors"]] == ["TENANT_REQUIRED"]

    out = block(api, "bob", "Fraud")  # GLOBAL_ADMIN
    assert (out["userErrors"], out["changed"]) == ([], True)


def test_bad_input_writes_nothing(api, office, clock):
    north = other_tenant(clock())
    add_users(north, clock(), [("zoe", "US")], domain="northwind.example")
    before = written()
    for ref, reason, code, field in [
        (upn("ann"), "", "REASON_REQUIRED", "reason"),
        (upn("ann"), "   \t ", "REASON_REQUIRED", "reason"),
        ("zoe@northwind.example", "Fraud", "NOT_FOUND", "userId"),  # another tenant's user
        (upn("nobody"), "Fraud", "NOT_FOUND", "userId"),
        ("VXNlcjo5OTk5OTk=", "Fraud", "NOT_FOUND", "userId"),  # User:999999
    ]:
        out = block(api, ref, reason)
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)], ref
        assert (out["user"], out["pstnBlock"]) == (None, None)
    # Longer than 500 characters: refused before anything runs.
    errors = api.errors(BLOCK, {"u": upn("ann"), "r": "x" * 501})
    assert errors[0]["extensions"]["code"] == "VALUE_TOO_LONG"
    out = api(UNBLOCK, {"u": "zoe@northwind.example", "r": None})["unblockUserFromPstn"]
    assert [e["code"] for e in out["userErrors"]] == ["NOT_FOUND"]
    assert written() == before
    # The service refuses the same for callers that do not come through GraphQL.
    with pytest.raises(DomainError) as refused:
        pstn_blocks.block_user(office, SYSTEM, upn("ann"), "y" * 501, now=clock())
    assert (refused.value.code, refused.value.details[0].field) == ("VALUE_TOO_LONG", "reason")
    with pytest.raises(DomainError) as refused:
        pstn_blocks.unblock_user(office, SYSTEM, upn("ann"), "y" * 501, now=clock())
    assert refused.value.code == "VALUE_TOO_LONG"
    assert written() == before
    assert api(USER_BLOCK, {"u": upn("ann")})["user"]["pstnBlocked"] is False


def test_a_users_page_with_pstn_blocks_costs_the_same_statements(api, office, clock):
    add_users(office, clock(), [(f"u{i:02}", "DE") for i in range(30)], domain=DOMAIN)
    block(api, "u03", "Fraud")
    block(api, "u07", "Fraud")

    def cost(first: int) -> tuple[int, list]:
        with count_statements() as seen:
            nodes = api(USERS_PAGE, {"first": first})["users"]["nodes"]
        return len(seen), nodes

    small, _ = cost(2)
    large, nodes = cost(33)
    assert small == large, (small, large)
    blocked = {n["userPrincipalName"] for n in nodes if n["pstnBlocked"]}
    assert blocked == {upn("u03"), upn("u07")}
    assert all((n["pstnBlock"] is not None) == n["pstnBlocked"] for n in nodes)

    def report_cost(first: int) -> int:
        with count_statements() as seen:
            api(REPORT, {"first": first})
        return len(seen)

    assert report_cost(1) == report_cost(2)


def test_a_batch_loads_its_users_blocks_in_one_statement(api, office, clock):
    add_users(office, clock(), [(f"v{i:02}", "DE") for i in range(20)], domain=DOMAIN)
    block(api, "ann", "Fraud")

    def statements(aliases: list[str], prefix: str) -> int:
        items = [
            {
                "callId": f"{prefix}-{a}",
                "userPrincipalName": upn(a),
                "startedAt": "2026-11-25T09:00:00Z",
                "durationSeconds": 60,
                "destination": "+49112",
                "callType": "DOMESTIC",
            }
            for a in aliases
        ]
        with count_statements() as seen:
            api(RECORD, {"items": items})
        return sum(1 for s in seen if "pstn_block" in s)

    # The batch's one look at what the tenant has configured (rating_policies), then its
    # users' blocks: the same two statements for one user or twenty-two.
    assert statements(["ann"], "one") == 2
    assert statements(["ann", "bob", *(f"v{i:02}" for i in range(20))], "many") == 2


def test_a_block_reaches_the_webhook_once(api, office, clock):
    with Receiver() as receiver:
        api(SET_WEBHOOK, {"url": receiver.url})
        out = block(api, "ann", "Fraud")
        assert receiver.requests == []  # written with the block, delivered by the outbox
        assert webhooks.deliver_due(now=clock()).delivered == 1
        block(api, "ann", "Fraud")  # the same block: no second event
        block(api, "ann", "Fraud, confirmed")  # its reason changed: still the same block
        assert webhooks.deliver_due(now=clock()).delivered == 0
    ((headers, body),) = receiver.requests
    event = json.loads(body)
    assert headers[webhooks.EVENT_HEADER] == event["kind"] == "USER_PSTN_BLOCKED"
    assert event["payload"]["userPrincipalName"] == upn("ann")
    assert event["payload"]["reason"] == "Fraud"
    assert event["payload"]["remediationId"] == out["pstnBlock"]["remediationId"]
