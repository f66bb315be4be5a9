"""Hostile input (issue 6 item 1) and keys, audit and auth-failure limits (item 4)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import pytest
from graphql import parse
from starlette.testclient import TestClient

from commcredits.app import create_app
from commcredits.config import Settings
from commcredits.models import ApiKey, AuditEntry
from commcredits.models.security import AuthFailure
from commcredits.schema.cost import MAX_COST, estimate_cost
from commcredits.schema.root import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, schema
from commcredits.services.auth_failures import AuthLimits
from tests.conftest import Api
from tests.helpers import add_users

VIEWER = "{ viewer { role } }"
EXPENSIVE_USERS = """query($n: Int) {
  %s
}"""
USERS_WITH_PLANS = (
    "users(first: $n) { nodes { licenseDetails { servicePlans { servicePlanId } } } }"
)
CREATE_KEY = """mutation($role: Role!) { createApiKey(role: $role, name: "ci") {
  key apiKey { id prefix lastUsedAt revokedAt } userErrors { code } } }"""
REVOKE_KEY = (
    "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }"
)
AUDIT_LOG = "{ auditLog(first: 100) { nodes { id action actor targetType targetId after } } }"


def post(client: TestClient, body, *, key: str | None = None, **headers: str):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("content-type", "application/json")
    return client.post("/graphql", content=content, headers=headers)


def messages(response) -> str:
    return " | ".join(e["message"] for e in response.json()["errors"])


# --- query limits -------------------------------------------------------------------------


def test_depth_limit_refuses_deep_documents_before_execution(client, keys):
    nested = "id"
    for _ in range(MAX_DEPTH + 2):
        nested = f'node(id: "x") {{ ... on User {{ {nested} }} }}'
    response = post(client, {"query": "{ " + nested + " }"}, key=keys["GLOBAL_ADMIN"])
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert "exceeds maximum operation depth" in messages(response)


def test_alias_limit(client, keys):
    many = " ".join(f"a{i}: viewer {{ role }}" for i in range(MAX_ALIASES + 1))
    response = post(client, {"query": "{ " + many + " }"}, key=keys["READER"])
    assert response.json()["data"] is None
    assert f"Allowed: {MAX_ALIASES}" in messages(response)
    within = " ".join(f"a{i}: viewer {{ role }}" for i in range(MAX_ALIASES))
    assert post(client, {"query": "{ " + within + " }"}, key=keys["READER"]).json()["data"]


def test_token_limit(client, keys):
    huge = "{ viewer { " + "role " * (MAX_TOKENS + 1) + "} }"
    response = post(client, {"query": huge}, key=keys["READER"])
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert "tokens" in messages(response)


def test_cost_limit_counts_first_and_nested_lists(client, keys):
    five = EXPENSIVE_USERS % " ".join(f"u{i}: {USERS_WITH_PLANS}" for i in range(5))
    refused = post(client, {"query": five, "variables": {"n": 100}}, key=keys["READER"])
    assert refused.status_code == 200
    assert refused.json()["data"] is None
    assert "limit is 50000" in messages(refused)
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    # The same document with a small page is cheap: the variables are costed, not the text.
    allowed = post(client, {"query": five, "variables": {"n": 5}}, key=keys["READER"])
    assert "errors" not in allowed.json(), allowed.json()


def test_a_text_is_validated_once_but_costed_with_every_request_s_variables(client, keys):
    five = EXPENSIVE_USERS % " ".join(f"u{i}: {USERS_WITH_PLANS}" for i in range(5))
    for n, refused in ((5, False), (100, True), (5, False), (100, True)):
        body = post(client, {"query": five, "variables": {"n": n}}, key=keys["READER"]).json()
        assert ("errors" in body) is refused, (n, body)
    nested = "id"
    for _ in range(MAX_DEPTH + 2):
        nested = f'node(id: "x") {{ ... on User {{ {nested} }} }}'
    for _ in range(2):  # a refused text stays refused, with the same message, from the cache
        response = post(client, {"query": "{ " + nested + " }"}, key=keys["GLOBAL_ADMIN"])
        assert response.json()["data"] is None
        assert "exceeds maximum operation depth" in messages(response)


def test_cyclic_introspection_is_costed_but_the_standard_query_passes(client):
    from graphql import get_introspection_query

    standard = post(client, {"query": get_introspection_query(descriptions=True)})
    assert "errors" not in standard.json()
    cycle = "{ __schema { types { interfaces { possibleTypes { interfaces { possibleTypes {"
    cycle += " interfaces { possibleTypes { name } } } } } } } } }"
    refused = post(client, {"query": cycle})
    assert refused.json()["data"] is None
    assert "costs about" in messages(refused)


def test_huge_list_inputs_are_refused_before_any_resolver_runs(client, keys, monkeypatch):
    from commcredits.resolvers import licenses

    called = []
    monkeypatch.setattr(licenses, "_per_user_changes", lambda *a: called.append(a))
    upns = [f"u{i}@fabrikam.example" for i in range(MAX_COST + 1)]
    query = """mutation($u: [String!]!) { setUserLicenses(userPrincipalNames: $u,
      removeLicenses: ["MCOEV"], whatIf: true) { results { index } } }"""
    response = post(client, {"query": query, "variables": {"u": upns}}, key=keys["GLOBAL_ADMIN"])
    assert response.json()["data"] is None
    assert "costs about" in messages(response)
    assert called == []


def test_a_full_batch_with_a_usual_selection_is_within_the_cost_limit(api, tenant, clock):
    add_users(tenant, clock(), [("ada", "DE")])
    items = [{"userId": "ada@fabrikam.example", "addLicenses": [{"skuId": "MCOEV"}]}] * 1000
    query = """mutation($items: [AssignLicenseItemInput!]!) {
      assignLicenses(items: $items, whatIf: true) {
        results { index status userErrors { field code message } changes { skuId action } }
        summary { total failed } userErrors { code } } }"""
    cost = estimate_cost(schema._schema, parse(query), {"items": items})
    assert cost < MAX_COST
    out = api(query, {"items": items})["assignLicenses"]
    assert out["summary"]["total"] == 1000


def test_first_over_100_is_refused(api):
    errors = api.errors("{ users(first: 101) { nodes { id } } }")
    assert errors[0]["extensions"]["code"] == "INVALID_FIRST"


# --- HTTP-level refusals: a clear 4xx, never a 500 ------------------------------------------


@pytest.fixture
def small_client(db_url, clock):
    settings = Settings(database_url=db_url, max_body_bytes=1000, log_level="INFO")
    with TestClient(create_app(settings=settings, clock=clock, bind_database=False)) as c:
        yield c


def test_body_over_the_limit_gets_413(small_client):
    big = {"query": "{ viewer { role } }", "variables": {"pad": "x" * 2000}}
    response = post(small_client, big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["x-request-id"]


def test_chunked_body_without_content_length_gets_413(small_client):
    def chunks():
        yield b'{"query": "{ viewer { role } }", "variables": {"pad": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}}'

    response = small_client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


BAD_REQUESTS = [
    ("not json", b"{query", "application/json", 400),
    ("not utf-8", b'{"query": "\xff\xfe"}', "application/json", 400),
    ("a list", b"[1, 2]", "application/json", 400),
    ("query not a string", b'{"query": 5}', "application/json", 400),
    ("no query", b'{"variables": {}}', "application/json", 400),
    ("variables a list", b'{"query": "{ viewer { role } }", "variables": [1]}', None, 400),
    ("operationName a number", b'{"query": "{ viewer { role } }", "operationName": 3}', None, 400),
    ("empty query", b'{"query": ""}', "application/json", 400),
    (
        "unknown operation",
        b'{"query": "query A { viewer { role } }", "operationName": "B"}',
        None,
        400,
    ),
    ("form post", b"query=%7B%7D", "application/x-www-form-urlencoded", 415),
    ("no content type", b'{"query": "{ skus { skuId } }"}', "", 415),
    ("text", b'{"query": "{ skus { skuId } }"}', "text/plain", 415),
]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_malformed_requests_get_a_clear_4xx(client, content, content_type, status):
    headers = {"content-type": content_type if content_type is not None else "application/json"}
    response = client.post("/graphql", content=content, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] in {"BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE"}
    assert error["message"]


def test_invalid_graphql_is_a_validation_error_not_a_500(client, keys):
    for query in (
        "{ nope }",
        '{ users(first: "x") { nodes { id } } }',
        "{ viewer { role }",
        "query($a: Int!) { viewer { role } }",
    ):
        response = post(client, {"query": query}, key=keys["READER"])
        assert response.status_code == 200, query
        assert response.json()["errors"], query
    # A subscription is for the websocket: by POST it is refused before anything runs, with
    # a 400 that says so (GraphQL over HTTP), never a 5xx.
    response = post(client, {"query": "subscription { a }"}, key=keys["READER"])
    assert response.status_code == 400 and "websocket" in response.text.lower(), response.text
    # Two operations and no operationName: strawberry runs the first; never a 5xx.
    both = "query A { viewer { role } } query B { viewer { role } }"
    assert post(client, {"query": both}, key=keys["READER"]).status_code == 200


def test_request_id_is_echoed_when_well_formed_and_replaced_otherwise(client):
    kept = client.get("/healthz", headers={"x-request-id": "abc-123.DEF_4"})
    assert kept.headers["x-request-id"] == "abc-123.DEF_4"
    replaced = client.get("/healthz", headers={"x-request-id": "bad id\twith space" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


# --- unexpected errors: masked for the client, logged with the request id ------------------


def test_an_unexpected_resolver_error_is_masked_and_logged(client, keys, monkeypatch, caplog):
    from commcredits.services import access

    def broken(tenant):
        raise RuntimeError("secret detail: password=hunter2")

    monkeypatch.setattr(access, "list_api_keys", broken)
    with caplog.at_level(logging.ERROR):
        response = post(client, {"query": "{ apiKeys { id } }"}, key=keys["GLOBAL_ADMIN"])
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": request_id}
    assert "hunter2" not in response.text and request_id in error["message"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info and "hunter2" in str(logged[0].exc_info[1])


def test_an_unexpected_error_outside_execution_is_a_masked_500(client, keys, monkeypatch, caplog):
    import commcredits.graphql_http

    def broken(*args, **kwargs):
        raise RuntimeError("db exploded: password=hunter2")

    monkeypatch.setattr(commcredits.graphql_http, "execute", broken)
    with caplog.at_level(logging.ERROR):
        response = post(client, {"query": VIEWER}, key=keys["READER"])
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    assert request_id in response.text and "hunter2" not in response.text
    assert any(getattr(r, "request_id", None) == request_id and r.exc_info for r in caplog.records)


# --- keys ----------------------------------------------------------------------------------


def test_a_key_is_shown_once_stored_hashed_and_revocable(api, client, clock):
    created = api(CREATE_KEY, {"role": "READER"})["createApiKey"]
    secret, key_id = created["key"], created["apiKey"]["id"]
    row = ApiKey.get(ApiKey.prefix == created["apiKey"]["prefix"])
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.__data__.values())
    # No field of the schema can show a secret again.
    fields = set(schema._schema.type_map["ApiKey"].fields)
    assert fields == {"id", "name", "role", "prefix", "createdAt", "revokedAt", "lastUsedAt"}
    listed = api("{ apiKeys { id prefix } }")["apiKeys"]
    assert secret not in json.dumps(listed)

    reader = Api(client, secret)
    assert reader(VIEWER)["viewer"]["role"] == "READER"
    assert api(REVOKE_KEY, {"id": key_id})["revokeApiKey"]["apiKey"]["revokedAt"]
    assert reader.raw(VIEWER).status_code == 401


def test_last_used_time_is_kept_to_the_minute(client, keys, clock):
    secret = keys["READER"]
    row = lambda: ApiKey.get(ApiKey.key_hash == hashlib.sha256(secret.encode()).hexdigest())  # noqa: E731
    assert row().last_used_at is None
    Api(client, secret)(VIEWER)
    first = row().last_used_at
    assert first == clock()
    clock.advance(seconds=30)
    Api(client, secret)(VIEWER)
    assert row().last_used_at == first  # one write a minute, not one a request
    clock.advance(minutes=2)
    Api(client, secret)(VIEWER)
    assert row().last_used_at == clock()


# --- the audit log is append-only ----------------------------------------------------------


def _named_types(type_) -> set[str]:
    while hasattr(type_, "of_type"):
        type_ = type_.of_type
    return {type_.name}


def test_no_mutation_can_touch_an_audit_entry():
    mutations = schema._schema.mutation_type.fields
    assert mutations, "the schema has mutations"
    for name, field in mutations.items():
        assert "audit" not in name.lower(), name
        # Nothing a mutation takes or returns is, or reaches, an audit entry.
        seen: set[str] = set()
        pending = set().union(*(_named_types(a.type) for a in field.args.values()))
        pending |= _named_types(field.type)
        while pending:
            type_name = pending.pop()
            if type_name in seen:
                continue
            seen.add(type_name)
            assert "audit" not in type_name.lower(), (name, type_name)
            type_ = schema._schema.type_map[type_name]
            for sub in getattr(type_, "fields", {}).values():
                pending |= _named_types(sub.type)
    # And no code path updates or deletes audit rows.
    source = Path(__file__).parents[1] / "commcredits"
    pattern = re.compile(r"AuditEntry(Row)?\s*\.\s*(update|delete|replace|bulk_update)\b")
    for path in source.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        assert not pattern.search(text), path
        assert "delete_instance" not in text or "AuditEntry" not in text, path


def test_audit_entries_survive_everything(api, tenant, clock):
    add_users(tenant, clock(), [("ada", "DE"), ("bob", "DE")])
    api('mutation { purchaseSeats(skuPartNumber: "MCOEV", quantity: 2) { userErrors { code } } }')
    api("""mutation { assignLicense(userId: "ada@fabrikam.example",
        addLicenses: [{skuId: "MCOEV"}], removeLicenses: []) { userErrors { code } } }""")
    before = {e.id: e.__data__ for e in AuditEntry.select()}
    assert before
    ada = api('{ user(userPrincipalName: "ada@fabrikam.example") { id } }')["user"]["id"]
    assert not api(
        "mutation($id: ID!) { deleteUser(id: $id) { userErrors { code } } }", {"id": ada}
    )["deleteUser"]["userErrors"]
    key = api(CREATE_KEY, {"role": "READER"})["createApiKey"]["apiKey"]["id"]
    api(REVOKE_KEY, {"id": key})
    after = {e.id: e.__data__ for e in AuditEntry.select()}
    assert {i: after[i] for i in before} == before  # every old entry, unchanged
    actions = [e["action"] for e in api(AUDIT_LOG)["auditLog"]["nodes"]]
    assert {"deleteUser", "createApiKey", "revokeApiKey"} <= set(actions)


# --- auth failures: audited and rate-limited ------------------------------------------------


def limited_client(clock, **limits) -> TestClient:
    app = create_app(
        settings=Settings.from_env(),
        clock=clock,
        bind_database=False,
        auth_limits=AuthLimits(**limits),
    )
    return TestClient(app)


def test_auth_failures_are_audited(client, keys, api, clock):
    unknown = "cck_" + "x" * 43
    assert Api(client, unknown).raw(VIEWER).status_code == 401
    assert (
        client.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic abc"}
        ).status_code
        == 401
    )
    created = api(CREATE_KEY, {"role": "READER"})["createApiKey"]
    api(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert Api(client, created["key"]).raw(VIEWER).status_code == 401

    operator = Api(client, keys["OPERATOR"])
    entries = [
        e for e in operator(AUDIT_LOG)["auditLog"]["nodes"] if e["action"] == "authenticationFailed"
    ]
    reasons = sorted(e["after"]["reason"] for e in entries)
    assert reasons == ["malformed", "revoked", "unknown"]
    assert all(e["after"]["address"] == "testclient" for e in entries)
    assert all(unknown not in json.dumps(e) for e in entries)  # the prefix only, never a secret
    # The revoked key's failure is in its tenant's own log.
    mine = [e for e in api(AUDIT_LOG)["auditLog"]["nodes"] if e["action"] == "authenticationFailed"]
    assert [e["after"]["reason"] for e in mine] == ["revoked"]


def test_failures_from_one_address_are_limited_until_the_window_passes(keys, clock):
    with limited_client(clock, per_address=3, per_key=100) as c:
        for i in range(3):
            assert Api(c, f"cck_guess{i}{'y' * 40}").raw(VIEWER).status_code == 401
        blocked = Api(c, "cck_guess9" + "y" * 40).raw(VIEWER)
        assert blocked.status_code == 429
        assert blocked.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(blocked.headers["retry-after"]) == 300
        # A valid key is never slowed down by the limiter (it costs it no statement either).
        assert Api(c, keys["READER"]).raw(VIEWER).status_code == 200
        clock.advance(seconds=120)
        later = Api(c, "cck_guessA" + "y" * 40).raw(VIEWER)
        assert later.status_code == 429 and int(later.headers["retry-after"]) == 180
        clock.advance(seconds=181)
        assert Api(c, "cck_guessB" + "y" * 40).raw(VIEWER).status_code == 401
    # Requests refused with 429 wrote nothing: 3 failures, then 1 after the window.
    assert AuthFailure.select().count() == 1  # the window's old rows were pruned
    assert AuditEntry.select().where(AuditEntry.action == "authenticationFailed").count() == 4


def test_failures_with_one_key_prefix_are_limited_but_never_lock_out_the_real_key(keys, clock):
    real = keys["GLOBAL_ADMIN"]
    forged = real[:10] + "z" * (len(real) - 10)  # the prefix is visible to the tenant's readers
    with limited_client(clock, per_address=100, per_key=2) as c:
        assert [Api(c, forged).raw(VIEWER).status_code for _ in range(4)] == [401, 401, 429, 429]
        assert Api(c, real).raw(VIEWER).status_code == 200
        assert Api(c, "cck_other" + "z" * 40).raw(VIEWER).status_code == 401
    assert AuthFailure.select().where(AuthFailure.key_prefix == real[:10]).count() == 2


@pytest.mark.backends("sqlite")
def test_a_real_server_refuses_big_and_chunked_bodies_with_413(db_url, backend, tmp_path):
    import httpx

    from tests.live_server import live_server

    env = {"COMMCREDITS_MAX_BODY_BYTES": "1000"}
    with (
        live_server(db_url, tmp_path, extra_env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        json_type = {"content-type": "application/json"}
        declared = http.post("/graphql", content=b"{" + b" " * 5000 + b"}", headers=json_type)
        assert declared.status_code == 413

        def chunks():
            for _ in range(100):
                yield b" " * 100

        chunked = http.post("/graphql", content=chunks(), headers=json_type)
        assert chunked.status_code == 413
        assert chunked.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in chunked.request.headers
        assert http.post("/graphql", content=b"{nope", headers=json_type).status_code == 400
        small = http.post("/graphql", json={"query": "{ __typename }"})
        assert small.status_code == 200 and small.json()["data"] == {"__typename": "Query"}


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("pk", ["²", "99999999999999999999999", "-1", "007", "1 "])
def test_crafted_ids_and_cursors_are_not_found_never_a_500(api, client, keys, tenant, pk):
    """One parser (`ids.parse_pk`) accepts exactly the keys we write: `"²".isdigit()` is true
    and `int()` refuses it; 23 digits overflow the database's integer."""
    node = api.raw("query($id: ID!) { node(id: $id) { id } }", {"id": _b64(f"User:{pk}")})
    assert node.status_code == 200 and node.json()["data"] == {"node": None}
    user = api.raw("query($id: ID) { user(id: $id) { id } }", {"id": _b64(f"User:{pk}")})
    codes = [e["extensions"]["code"] for e in user.json().get("errors", [])]
    assert user.status_code == 200 and codes in ([], ["NOT_FOUND"]), user.text
    page = api.raw(
        "query($after: String) { users(first: 1, after: $after) { nodes { id } } }",
        {"after": _b64(f"cursor:users:{pk}")},
    )
    assert [e["extensions"]["code"] for e in page.json()["errors"]] == ["INVALID_CURSOR"]
    operator = client.post(
        "/graphql",
        json={"query": "{ tenant { name } }"},
        headers={
            "Authorization": f"Bearer {keys['OPERATOR']}",
            "X-Commcredits-Tenant": pk.encode(),
        },
    )
    assert operator.status_code < 500, operator.text
    assert "INTERNAL_ERROR" not in operator.text


def test_a_card_token_of_unicode_digits_is_refused_not_a_500(api):
    query = """mutation($t: String) { updateBillingProfile(input: { paymentMethod: CARD,
      cardToken: $t }) { userErrors { code } } }"""
    payload = api(query, {"t": "²" * 16})["updateBillingProfile"]
    assert payload["userErrors"] and payload["userErrors"][0]["code"] != "INTERNAL_ERROR"


def test_nul_characters_and_deep_nesting_are_refused_before_anything_runs(client, keys):
    """PostgreSQL cannot store NUL (it was a 500 in every text argument); a body nested ~1,000
    deep raised RecursionError, variables 500 deep broke the cost estimator."""
    headers = {"Authorization": f"Bearer {keys['GLOBAL_ADMIN']}"}
    search = "query($s: String) { users(first: 1, filter: { search: $s }) { nodes { id } } }"
    literal = 'query { users(first: 1, filter: { search: "a\\u0000" }) { nodes { id } } }'
    deep_variables: dict = {}
    inner = deep_variables
    for _ in range(500):
        inner["x"] = {}
        inner = inner["x"]
    bodies = [
        json.dumps({"query": search, "variables": {"s": "a\x00b"}}),
        json.dumps({"query": literal}),
        json.dumps({"query": search, "variables": {"s": "ok", "deep": deep_variables}}),
        '{"query": "{ __typename }", "variables": ' + "[" * 1000 + "]" * 1000 + "}",
    ]
    for body in bodies:
        response = client.post(
            "/graphql",
            content=body,
            headers=headers | {"content-type": "application/json"},
        )
        assert response.status_code == 400, (body[:80], response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    fine = client.post("/graphql", json={"query": search, "variables": {"s": "a"}}, headers=headers)
    assert fine.status_code == 200 and "errors" not in fine.json()
