"""What a caller is told when a credential is sent the wrong way (issue 15, item 7): a key
without `Bearer`, and an operator key without `X-Commcredits-Tenant` on a tenant's field."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.conftest import Api

TENANT_FIELD = "{ tenant { name } }"
TENANTS = "{ tenants { totalCount nodes { name } } }"
JWT_SHAPED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"


def _post(client, query: str, headers: dict[str, str]):
    return client.post("/graphql", json={"query": query}, headers=headers)


# --- Authorization without Bearer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("{key}", "Add 'Bearer ' before the key"),
        ("  {key}  ", "Add 'Bearer ' before the key"),
        (JWT_SHAPED, "Add 'Bearer ' before the token"),
        ("Token {key}", "Use the Bearer scheme"),
        ("Basic YWRhOnNlY3JldA==", "Send the key as 'Authorization: Bearer <key>'"),
        ("Bearer", "Send the key as 'Authorization: Bearer <key>'"),
    ],
)
def test_a_key_without_bearer_is_told_to_add_it(client, keys, value, said):
    response = _post(
        client, "{ viewer { role } }", {"Authorization": value.format(key=keys["READER"])}
    )
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert said in error["message"]
    assert "Authorization: Bearer <" in error["message"]  # the whole header, as it is sent
    assert keys["READER"] not in response.text  # never echoed
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'


def test_a_wrong_key_with_bearer_still_reads_invalid_or_revoked(client):
    response = _post(client, "{ viewer { role } }", {"Authorization": "Bearer cck_" + "x" * 43})
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Invalid or revoked API key."


def test_the_same_key_with_bearer_works(client, keys):
    response = _post(client, "{ viewer { role } }", {"Authorization": f"Bearer {keys['READER']}"})
    assert response.json()["data"]["viewer"]["role"] == "READER"


def test_the_websocket_says_the_same(client, keys):
    with (
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": keys["READER"]}})
        ws.receive_json()
    assert closed.value.code == 4403
    assert "Add 'Bearer ' before the key" in closed.value.reason


# --- an operator key without X-Commcredits-Tenant -------------------------------------------------


def test_an_operator_without_the_tenant_header_is_told_to_send_it(client, keys):
    operator = Api(client, keys["OPERATOR"])
    for query in (TENANT_FIELD, "{ users { totalCount } }", "{ notifications { totalCount } }"):
        error = operator.errors(query)[0]
        assert error["extensions"]["code"] == "TENANT_REQUIRED"
        assert "X-Commcredits-Tenant" in error["message"], error
        assert "`tenants`" in error["message"]


def test_what_an_operator_may_read_without_the_header_still_answers(client, keys):
    operator = Api(client, keys["OPERATOR"])
    assert operator(TENANTS)["tenants"]["nodes"] == [{"name": "Fabrikam"}]
    assert operator("{ viewer { role tenant { name } } }")["viewer"] == {
        "role": "OPERATOR",
        "tenant": None,
    }
    assert operator("{ skus { skuId } }")["skus"]
    assert operator("{ rateCards { name } }")["rateCards"]
    # and with the header, the tenant's fields answer
    named = _post(
        client,
        TENANT_FIELD,
        {"Authorization": f"Bearer {keys['OPERATOR']}", "X-Commcredits-Tenant": "Fabrikam"},
    )
    assert named.json()["data"] == {"tenant": {"name": "Fabrikam"}}


def test_an_operator_changing_a_tenant_is_told_the_header_does_not_help(client, keys):
    operator = Api(client, keys["OPERATOR"])
    created = operator(
        'mutation { createUser(input: {userPrincipalName: "ada@fabrikam.example", '
        'displayName: "Ada"}) { userErrors { code message } } }'
    )["createUser"]["userErrors"]
    assert created[0]["code"] == "TENANT_REQUIRED"
    assert "Only a key of the tenant may manage users and licenses" in created[0]["message"]
    assert "X-Commcredits-Tenant" in created[0]["message"]


def test_a_tenant_key_naming_a_tenant_is_still_refused(client, keys):
    # The tenant header is for operator keys: a tenant key sending one is refused (403).
    response = _post(
        client,
        TENANT_FIELD,
        {"Authorization": f"Bearer {keys['READER']}", "X-Commcredits-Tenant": "Fabrikam"},
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
