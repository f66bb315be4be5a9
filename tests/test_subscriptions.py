"""Subscriptions over graphql-transport-ws against real servers (README "Live updates"), events
only after commit, and extensions.cost on every response.

Two server processes on one database, either kind: an event committed through one reaches a
subscriber of the other (PostgreSQL: LISTEN/NOTIFY; SQLite: the event_log table each tails), as
does a change made by another process (the CLI, a bulk run).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal

import httpx
import psycopg2
import pytest
from graphql import parse

from commcredits import db as database
from commcredits import events
from commcredits.models import Tenant
from commcredits.schema.common import to_global_id
from commcredits.schema.cost import MAX_COST, estimate_cost
from commcredits.schema.root import schema
from commcredits.services import credits, licenses, rates
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.websocket import TOO_SLOW
from tests.helpers import add_users, buy, other_tenant
from tests.live_server import live_server
from tests.ws_client import WsClient

BALANCE = "subscription { balanceChanged { balance { amount currency } at reason sequence } }"
NOTIFICATIONS = "subscription { notificationAdded { id kind payload } }"
CALLS = """subscription($u: ID) { callRated(userId: $u) {
  id callId userId userPrincipalName displayName usageLocation startedAt durationSeconds
  destination destinationCountry callType domestic status reason minutes poolMinutes
  chargedMinutes capability pricePerMinute charge currency rated_at: ratedAt } }"""
PURCHASE = """mutation($a: Decimal!, $k: String!) {
  purchaseCredits(amount: $a, idempotencyKey: $k) { balance { amount } userErrors { code } } }"""
RECORD = """mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) { summary { total } userErrors { code } } }"""
RECHARGE = """mutation { configureAutoRecharge(enabled: true, rechargeAmount: "20",
  triggerBalance: "5") { userErrors { code } } }"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }"
DOMAIN = "fabrikam.example"
# websockets 17 prefers `with connect(...)`; WsClient holds its connection and closes it itself.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
FAST_ENV = {"COMMCREDITS_WS_RECHECK_SECONDS": "30", "COMMCREDITS_WS_INIT_TIMEOUT": "2"}


def gql(base: str, key: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        base + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body


def connect(base: str, key: str) -> WsClient:
    client = WsClient.open(base)
    assert client.init({"Authorization": f"Bearer {key}"}) == {"type": "connection_ack"}
    return client


def subscribed(client: WsClient, op_id: str, query: str, variables: dict | None = None) -> None:
    client.subscribe(op_id, query, variables)
    # graphql-transport-ws acknowledges no subscribe: give the server a moment to join.
    assert client.nothing_for(0.3)


def purchase(base: str, key: str, amount: str = "10") -> dict:
    return gql(base, key, PURCHASE, {"a": amount, "k": uuid.uuid4().hex})


@pytest.fixture
def other_key(db_url, clock) -> str:
    return create_api_key(
        SYSTEM, role=Role.GLOBAL_ADMIN, tenant=other_tenant(clock()), now=clock()
    )[1]


@pytest.fixture
def server(db_url, tmp_path, keys):
    with live_server(db_url, tmp_path, extra_env=FAST_ENV) as s:
        yield s.url


# --- SQLite: one server ----------------------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_balance_changed_reaches_its_tenant_only(server, keys, other_key):
    admin = keys["GLOBAL_ADMIN"]
    operator = WsClient.open(server)  # an operator looks into the tenant it names
    init = {"authorization": f"Bearer {keys['OPERATOR']}", "X-Commcredits-Tenant": "Fabrikam"}
    assert operator.init(init) == {"type": "connection_ack"}
    with connect(server, keys["READER"]) as mine, connect(server, other_key) as theirs, operator:
        subscribed(mine, "b", BALANCE)
        subscribed(theirs, "b", BALANCE)
        subscribed(operator, "o", BALANCE)
        purchase(server, admin, "12.5")
        seen = operator.receive()["payload"]["data"]["balanceChanged"]["balance"]["amount"]
        assert seen == "12.50"
        event = mine.receive()
        assert event["id"] == "b" and event["type"] == "next"
        changed = event["payload"]["data"]["balanceChanged"]
        assert changed["balance"] == {"amount": "12.50", "currency": "EUR"}
        assert changed["reason"] == "FUNDED" and changed["sequence"] == 1
        purchase(server, admin, "1")
        assert mine.receive()["payload"]["data"]["balanceChanged"]["balance"]["amount"] == "13.50"
        assert theirs.nothing_for(1.0)  # another tenant's money is not theirs to see
        mine.send({"id": "b", "type": "complete"})
        purchase(server, admin, "1")
        assert mine.nothing_for(0.5)  # completed: no more events


@pytest.mark.backends("sqlite")
def test_notification_added_on_recharge(server, keys):
    with connect(server, keys["READER"]) as client:
        subscribed(client, "n", NOTIFICATIONS)
        gql(server, keys["GLOBAL_ADMIN"], RECHARGE)  # balance 0 < 5: recharges at once
        note = client.receive()["payload"]["data"]["notificationAdded"]
        assert note["kind"] == "RECHARGE_SUCCEEDED" and note["payload"]["amount"] == "20.00"
        listed = gql(server, keys["READER"], "{ notifications(first: 5) { nodes { id } } }")
        assert note["id"] in [n["id"] for n in listed["data"]["notifications"]["nodes"]]


def calling_office(tenant, now) -> None:
    rates.ensure_sample_card(SYSTEM, now=now)
    add_users(tenant, now, [("a", "GB"), ("b", "GB")], domain=DOMAIN)
    buy(tenant, now, MCOEV=5, MCOPSTN_PAYG_1=5, MCOPSTNC=5)
    skus = ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC")
    requests = [LicenseRequest(f"{u}@{DOMAIN}", tuple(AddLicense(s) for s in skus)) for u in "ab"]
    licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
    credits.purchase_credits(tenant, SYSTEM, Decimal("500"), idempotency_key="fund", now=now)


def calls(prefix: str, who: str, count: int) -> list[dict]:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    return [
        {
            "callId": f"{prefix}-{i}",
            "userPrincipalName": f"{who}@{DOMAIN}",
            "startedAt": started,
            "durationSeconds": 60,
            "destination": "+442071234567",
            "callType": "DOMESTIC",
        }
        for i in range(count)
    ]


@pytest.mark.backends("sqlite")
def test_call_rated_with_and_without_user_filter(db_url, tenant, clock, keys, tmp_path):
    calling_office(tenant, clock())
    user_b = to_global_id("User", tenant_user_pk(tenant, "b"))
    with (
        live_server(db_url, tmp_path, extra_env=FAST_ENV) as live,
        connect(live.url, keys["READER"]) as every,
        connect(live.url, keys["READER"]) as only_b,
    ):
        subscribed(every, "all", CALLS)
        subscribed(only_b, "b", CALLS, {"u": user_b})
        gql(
            live.url,
            keys["GLOBAL_ADMIN"],
            RECORD,
            {"items": calls("x", "a", 2) + calls("y", "b", 1)},
        )
        seen = [every.receive()["payload"]["data"]["callRated"]["callId"] for _ in range(3)]
        assert seen == ["x-0", "x-1", "y-0"]
        only = only_b.receive()["payload"]["data"]["callRated"]
        assert (only["callId"], only["userId"], only["status"]) == ("y-0", user_b, "RATED")
        assert only_b.nothing_for(0.5)


def tenant_user_pk(tenant, alias: str) -> int:
    from commcredits.models import User

    return User.get(User.user_principal_name == f"{alias}@{DOMAIN}").id


@pytest.mark.backends("sqlite")
def test_protocol_refusals(server, keys):
    # Without credentials: refused as the protocol refuses a connection (4403).
    with WsClient.open(server) as client:
        client.send({"type": "connection_init"})
        code, reason = client.closed_with()
        assert code == 4403 and "no credentials" in reason
    with WsClient.open(server) as client:
        client.send({"type": "connection_init", "payload": {"authorization": "Bearer cck_nope"}})
        assert client.closed_with()[0] == 4403
    # Subscribe before connection_ack: 4401.
    with WsClient.open(server) as client:
        client.subscribe("1", BALANCE)
        assert client.closed_with()[0] == 4401
    # Not a message of the protocol: 4400.
    for bad in (
        "not json",
        json.dumps({"type": "wat"}),
        json.dumps({"id": 1, "type": "subscribe"}),
    ):
        with connect(server, keys["READER"]) as client:
            client.send(bad)
            assert client.closed_with()[0] == 4400
    with connect(server, keys["READER"]) as client:  # a document that does not parse
        client.subscribe("1", "subscription {")
        assert client.closed_with()[0] == 4400
    # A second connection_init: 4429; none within the init timeout: 4408.
    with connect(server, keys["READER"]) as client:
        client.send({"type": "connection_init"})
        assert client.closed_with()[0] == 4429
    with WsClient.open(server) as client:
        assert client.closed_with(timeout=5)[0] == 4408
    # Another subprotocol: 4406.
    with WsClient.open(server, subprotocols=["graphql-ws"]) as client:
        assert client.closed_with()[0] == 4406


@pytest.mark.backends("sqlite")
def test_validation_errors_are_error_messages_and_the_connection_stays(server, keys):
    with connect(server, keys["READER"]) as client:
        client.subscribe("1", "subscription { balanceChanged { nope } }")
        message = client.receive()
        assert message["type"] == "error" and message["id"] == "1"
        assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        client.subscribe("2", "subscription { unknownField }")
        assert client.receive()["type"] == "error"
        # Two operations with one id: 4409 (while the first runs).
        client.subscribe("3", BALANCE)
        client.subscribe("3", BALANCE)
        assert client.closed_with()[0] == 4409
    # An operator without a tenant: the resolver's refusal, as an error message.
    with connect(server, keys["OPERATOR"]) as client:
        client.subscribe("1", BALANCE)
        message = client.receive()
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "TENANT_REQUIRED"
        client.send({"type": "ping"})
        assert client.receive() == {"type": "pong"}
    # Queries run over the websocket too: next (with the cost), then complete.
    with connect(server, keys["READER"]) as client:
        client.subscribe("q", "{ viewer { role } }")
        result = client.receive()
        assert result["payload"]["data"] == {"viewer": {"role": "READER"}}
        assert result["payload"]["extensions"]["cost"]["maximumAvailable"] == MAX_COST
        assert client.receive() == {"id": "q", "type": "complete"}


@pytest.mark.backends("sqlite")
def test_revoked_key_closes_its_subscriptions(server, keys, tenant, clock):
    key, secret = create_api_key(SYSTEM, role=Role.READER, tenant=tenant, now=clock())
    with connect(server, secret) as client:
        subscribed(client, "b", BALANCE)
        started = time.monotonic()
        gql(server, keys["GLOBAL_ADMIN"], REVOKE, {"id": to_global_id("ApiKey", key.id)})
        code, _ = client.closed_with(timeout=5)
        assert code == 4403 and time.monotonic() - started < 5  # the event, not the 30 s recheck


@pytest.mark.backends("sqlite")
def test_session_cookie_needs_this_site(server, keys):
    signed_in = httpx.post(server + "/auth/session", json={"key": keys["READER"]})
    assert signed_in.status_code == 200, signed_in.text
    cookie = {"Cookie": f"commcredits_session={signed_in.cookies['commcredits_session']}"}
    with WsClient.open(server, headers={**cookie, "Origin": server}) as client:
        assert client.init() == {"type": "connection_ack"}
    with WsClient.open(server, headers={**cookie, "Origin": "https://evil.example"}) as client:
        client.send({"type": "connection_init"})
        code, reason = client.closed_with()
        assert code == 4403 and "another site" in reason


@pytest.mark.backends("sqlite")
def test_signing_out_closes_the_sessions_subscriptions_at_once(server, keys):
    signed_in = httpx.post(server + "/auth/session", json={"key": keys["READER"]})
    session, csrf = signed_in.cookies["commcredits_session"], signed_in.cookies["commcredits_csrf"]
    cookie = f"commcredits_session={session}; commcredits_csrf={csrf}"
    with WsClient.open(server, headers={"Cookie": cookie, "Origin": server}) as client:
        assert client.init() == {"type": "connection_ack"}
        subscribed(client, "b", BALANCE)
        started = time.monotonic()
        out = httpx.delete(
            server + "/auth/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf}
        )
        assert out.status_code == 204, out.text
        code, _ = client.closed_with(timeout=5)
        assert code == 4403 and time.monotonic() - started < 5  # the event, not the 30 s recheck


@pytest.mark.backends("sqlite")
def test_an_operators_tenant_that_is_gone_closes_its_socket(db_url, tmp_path, keys, clock):
    """Refused like an HTTP request naming it (404 NOT_FOUND): at connection_init, and while
    the socket is open, at the credential recheck. 4403 as for an ended credential (the
    protocol's Forbidden); the reason says it is the tenant."""
    northwind = other_tenant(clock())
    operator = {"Authorization": f"Bearer {keys['OPERATOR']}"}
    fast = {**FAST_ENV, "COMMCREDITS_WS_RECHECK_SECONDS": "0.3"}
    with live_server(db_url, tmp_path, extra_env=fast) as server:
        by_id = {**operator, "X-Commcredits-Tenant": str(northwind.id)}
        by_name = {**operator, "X-Commcredits-Tenant": "Northwind"}
        with WsClient.open(server.url) as named, WsClient.open(server.url) as client:
            assert named.init(by_name) == {"type": "connection_ack"}
            assert client.init(by_id) == {"type": "connection_ack"}
            subscribed(client, "b", BALANCE)
            # Renamed: the sockets act for the tenant they resolved, by its id (no refusal).
            Tenant.update(name="Northwind AG").where(Tenant.id == northwind.id).execute()
            assert client.nothing_for(1.0) and named.nothing_for(0.1)
            client.subscribe("v", "{ viewer { role } }")
            assert client.receive()["payload"]["data"] == {"viewer": {"role": "OPERATOR"}}
            assert client.receive() == {"id": "v", "type": "complete"}
            # Gone: both close at the next recheck.
            Tenant.delete().where(Tenant.id == northwind.id).execute()
            for socket in (client, named):
                code, reason = socket.closed_with(timeout=5)
                assert code == 4403, (code, reason)
                assert reason.startswith("Forbidden: tenant refused (NOT_FOUND): "), reason
        # A new connection naming it: refused at connection_init, the same way.
        with WsClient.open(server.url) as client:
            client.send({"type": "connection_init", "payload": by_id})
            code, reason = client.closed_with()
            assert code == 4403 and "tenant refused (NOT_FOUND)" in reason, (code, reason)
        # A tenant key naming a tenant: FORBIDDEN, as over HTTP.
        with WsClient.open(server.url) as client:
            own = {"Authorization": f"Bearer {keys['READER']}", "X-Commcredits-Tenant": "1"}
            client.send({"type": "connection_init", "payload": own})
            code, reason = client.closed_with()
            assert code == 4403 and "tenant refused (FORBIDDEN)" in reason, (code, reason)


@pytest.mark.backends("sqlite")
def test_slow_subscriber_is_dropped_and_writers_do_not_wait(db_url, tenant, clock, keys, tmp_path):
    calling_office(tenant, clock())
    env = {**FAST_ENV, "COMMCREDITS_SUBSCRIPTION_QUEUE": "3"}
    admin = keys["GLOBAL_ADMIN"]
    with live_server(db_url, tmp_path, extra_env=env) as live:
        started = time.monotonic()
        gql(live.url, admin, RECORD, {"items": calls("base", "a", 300)})
        baseline = time.monotonic() - started
        # Reads nothing (a small receive buffer, one message of client-side queue), with ten
        # subscriptions: a batch of 300 calls is 3,000 messages, about 2 MB, and the socket's
        # buffers (a few MB on loopback) fill within a few batches.
        slow = WsClient.open(live.url, receive_buffer=4096, max_queue=1, keepalive=False)
        assert slow.init({"Authorization": f"Bearer {keys['READER']}"})["type"] == "connection_ack"
        for n in range(10):
            slow.subscribe(f"c{n}", CALLS)
        time.sleep(0.3)
        durations = []
        for batch in range(10):
            started = time.monotonic()
            gql(live.url, admin, RECORD, {"items": calls(f"s{batch}", "a", 300)})
            durations.append(time.monotonic() - started)
        assert max(durations) < 5 * baseline + 2, (baseline, durations)
        code, reason = slow.closed_with(timeout=10)
        assert code == TOO_SLOW and "too slow" in reason, (code, reason, slow.skipped)
        assert slow.skipped < 10 * 3000  # dropped: not every event was sent
        slow.close()


# --- events only after commit (both backends, in process) -------------------------------------


class Undo(Exception):
    pass


def buy_then_undo(tenant, clock, amount: str, key: str) -> None:
    with pytest.raises(Undo), database.db.atomic():
        credits.purchase_credits(tenant, SYSTEM, Decimal(amount), idempotency_key=key, now=clock())
        raise Undo


def test_no_event_for_a_rolled_back_change(tenant, clock):
    """A purchase undone by its transaction, or by a savepoint inside a transaction that
    commits, publishes nothing; the committed one publishes its balance."""

    def changes() -> None:
        buy_then_undo(tenant, clock, "5", "rolled-back")
        with database.db.atomic():
            buy_then_undo(tenant, clock, "3", "savepoint")
        credits.purchase_credits(tenant, SYSTEM, Decimal("7"), idempotency_key="kept", now=clock())

    if database.is_sqlite():
        loop = asyncio.new_event_loop()
        events.broker.start(loop)
        try:
            sub = events.broker.subscribe(
                tenant.id, {events.BALANCE}, size=10, on_overflow=lambda: None
            )
            changes()
            loop.run_until_complete(asyncio.sleep(0.05))  # what was posted is dispatched
            seen = []
            while not sub.queue.empty():
                seen.append(sub.queue.get_nowait())
        finally:
            events.broker.stop()
            loop.close()
    else:
        bound = database.db.obj
        listener = psycopg2.connect(dbname=bound.database, **bound.connect_params)
        listener.set_session(autocommit=True)
        listener.cursor().execute(f"LISTEN {events.CHANNEL}")
        try:
            changes()
            time.sleep(0.2)
            listener.poll()
            seen = [json.loads(n.payload) for n in listener.notifies]
        finally:
            listener.close()
    assert [(e["minor"], e["why"]) for e in seen if e["k"] == events.BALANCE] == [(700, "FUNDED")]
    if database.is_sqlite():  # what other processes read: the committed purchase alone
        logged = database.db.execute_sql('SELECT "payload" FROM "event_log"').fetchall()
        kept = [json.loads(p) for (p,) in logged if json.loads(p)["k"] == events.BALANCE]
        assert [(e["minor"], e["why"]) for e in kept] == [(700, "FUNDED")]


@pytest.mark.backends("sqlite")
def test_a_change_made_by_another_process_reaches_the_server(server, keys, tenant, clock):
    """SQLite: a purchase made outside the server (here this test's process, as the CLI or a
    bulk run would) reaches the server's subscribers through event_log, within seconds."""
    with connect(server, keys["READER"]) as client:
        subscribed(client, "b", BALANCE)
        started = time.monotonic()
        credits.purchase_credits(tenant, SYSTEM, Decimal("4"), idempotency_key="cli", now=clock())
        changed = client.receive(timeout=10)["payload"]["data"]["balanceChanged"]
        assert changed["balance"]["amount"] == "4.00" and changed["reason"] == "FUNDED"
        # Polled every 0.2 s; a loaded CI is slower (receive itself waits up to 10 s, so
        # this bound is the test's own).
        assert time.monotonic() - started < 5
        assert client.nothing_for(0.5)  # once, not again on the next read


def test_event_log_keeps_the_last_events_only(monkeypatch, tenant, clock):
    """SQLite's event_log is pruned by its writers: at most KEEP + PRUNE_EVERY rows stay, the
    newest; ids only grow (a reader's "after id N" never misses one)."""
    if not database.is_sqlite():
        assert not database.db.table_exists("event_log")  # PostgreSQL has NOTIFY
        return
    from commcredits import sqlite_events

    monkeypatch.setattr(sqlite_events, "KEEP", 30)
    monkeypatch.setattr(sqlite_events, "PRUNE_EVERY", 10)
    for i in range(95):
        with database.db.atomic():
            events.publish(tenant.id, events.NOTIFICATION, n=i)
    ids = [i for (i,) in database.db.execute_sql('SELECT "id" FROM "event_log" ORDER BY "id"')]
    assert 30 <= len(ids) <= 40 and ids == list(range(ids[0], ids[0] + len(ids)))
    last = json.loads(
        database.db.execute_sql(
            'SELECT "payload" FROM "event_log" ORDER BY "id" DESC LIMIT 1'
        ).fetchone()[0]
    )
    assert last["n"] == 94


# --- Two servers, one database (PostgreSQL: NOTIFY; SQLite: event_log) ---------------------


def test_event_committed_by_one_worker_reaches_another(
    db_url, tmp_path, keys, other_key, tenant, clock
):
    reader, reader_secret = create_api_key(SYSTEM, role=Role.READER, tenant=tenant, now=clock())
    with (
        live_server(db_url, tmp_path, extra_env=FAST_ENV) as a,
        live_server(db_url, tmp_path, extra_env=FAST_ENV) as b,
        connect(b.url, reader_secret) as mine,
        connect(b.url, other_key) as theirs,
    ):
        subscribed(mine, "b", BALANCE)
        subscribed(theirs, "b", BALANCE)
        started = time.monotonic()
        purchase(a.url, keys["GLOBAL_ADMIN"], "9")
        changed = mine.receive(timeout=5)["payload"]["data"]["balanceChanged"]
        assert changed["balance"]["amount"] == "9.00" and time.monotonic() - started < 5
        assert theirs.nothing_for(1.0)
        # A key revoked through A closes its subscription on B.
        gql(a.url, keys["GLOBAL_ADMIN"], REVOKE, {"id": to_global_id("ApiKey", reader.id)})
        assert mine.closed_with(timeout=5)[0] == 4403


# --- extensions.cost -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { role } }",
        "{ users(first: 20) { nodes { userPrincipalName assignedLicenses { skuPartNumber } } } }",
    ],
)
def test_every_response_carries_its_cost(api, query):
    body = api.raw(query).json()
    expected = estimate_cost(schema._schema, parse(query))
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": expected,
        "maximumAvailable": MAX_COST,
    }


def test_cost_on_mutations_and_refusals(api):
    body = api.raw(PURCHASE, {"a": "1", "k": "cost"}).json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == estimate_cost(
        schema._schema, parse(PURCHASE), {"a": "1", "k": "cost"}
    )
    expensive = "{ users(first: 100000) { nodes { assignedLicenses { skuPartNumber } } } }"
    body = api.raw(expensive).json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] > cost["maximumAvailable"] == MAX_COST
    assert api.raw("{ nope }").json()["extensions"]["cost"]["maximumAvailable"] == MAX_COST
    # Subscriptions are for the websocket: POST refuses them before anything runs.
    response = api.raw(BALANCE)
    assert response.status_code == 400
