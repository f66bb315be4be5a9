"""Tenant isolation and roles, for every query and mutation the schema has.

The fields are enumerated from the schema itself, so a field added later is covered without
anyone remembering to add it here. Arguments are generated from their types; every ID-like
argument is tried with each of tenant A's ids. Then:
- a key of tenant B sees nothing of tenant A and changes nothing of it;
- a READER key of tenant A changes nothing (every mutation says FORBIDDEN);
- no key at all gets UNAUTHENTICATED everywhere.
The first two run twice: with API keys, and with JWTs from a stand-in identity provider
(tests/jwks_server.py), so a token of tenant B is held to the same matrix as B's key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from commcredits.app import create_app
from commcredits.config import Settings
from commcredits.models import (
    ALL_MODELS,
    ApiKey,
    AuditEntry,
    CallRecord,
    CreditLot,
    Invoice,
    Subscription,
    Tenant,
    User,
)
from commcredits.schema.common import to_global_id
from commcredits.services import credits, rating
from commcredits.services.access import SYSTEM, Role, create_api_key
from tests.conftest import Api
from tests.helpers import add_users, buy, other_tenant
from tests.jwks_server import IdentityProvider, identity_provider, jwt_settings
from tests.schema_walk import root_fields as _fields
from tests.schema_walk import unwrap as _unwrap
from tests.schema_walk import value_for

MAX_DEPTH = 3


def selection(t, depth: int = 0) -> str:
    """Every scalar of an output type, and nested objects a few levels down."""
    t = _unwrap(t)
    if isinstance(t, GraphQLScalarType | GraphQLEnumType):
        return ""
    if isinstance(t, GraphQLInterfaceType | GraphQLUnionType):
        return "{ __typename ... on Node { id } }"
    assert isinstance(t, GraphQLObjectType)
    parts = ["__typename"]
    for name, field in t.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
            continue  # a field that needs arguments is reached through its own root field
        inner = _unwrap(field.type)
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
        elif depth < MAX_DEPTH:
            parts.append(f"{name} {selection(field.type, depth + 1)}")
    return "{ " + " ".join(parts) + " }"


def operation(kind: str, name: str, field, ids: list[Any], choice: int) -> tuple[str, dict]:
    variables, declared, passed = {}, [], []
    for arg_name, arg in field.args.items():
        if not isinstance(arg.type, GraphQLNonNull) and not arg_name.lower().endswith("id"):
            continue
        variables[arg_name] = value_for(arg_name, arg.type, ids, choice)
        declared.append(f"${arg_name}: {arg.type}")
        passed.append(f"{arg_name}: ${arg_name}")
    head = f"{kind} ({', '.join(declared)})" if declared else kind
    args = f"({', '.join(passed)})" if passed else ""
    return f"{head} {{ {name}{args} {selection(field.type)} }}", variables


def snapshot(tenant_id: int) -> str:
    """Everything stored for one tenant (key last-used stamps aside)."""
    rows: dict[str, list] = {}
    for model in ALL_MODELS:
        if "tenant" not in model._meta.fields:
            continue
        query = (
            model.select()
            .where(model._meta.fields["tenant"] == tenant_id)
            .order_by(model._meta.primary_key)
        )
        data = [row.__data__ for row in query]
        for item in data:
            item.pop("last_used_at", None)
        rows[model.__name__] = data
    rows["Tenant"] = [Tenant.get_by_id(tenant_id).__data__]

    def default(value: Any) -> str:
        if isinstance(value, dt.datetime | decimal.Decimal):
            return str(value)
        raise TypeError(type(value))

    return json.dumps(rows, sort_keys=True, default=default)


@pytest.fixture(params=["key", "jwt"])
def credential(request) -> str:
    """How the matrix signs in: API keys, or bearer JWTs."""
    return request.param


@pytest.fixture
def idp(credential) -> Iterator[IdentityProvider | None]:
    if credential == "key":
        yield None
        return
    with identity_provider() as provider:
        yield provider
        assert provider.requests >= 1  # the app did verify tokens against its keys


@pytest.fixture
def app(db_url, clock, idp):
    """conftest's app, trusting the stand-in identity provider when signing in with JWTs."""
    settings = Settings.from_env()
    if idp is not None:
        settings = dataclasses.replace(settings, jwt=jwt_settings(idp.url))
    return create_app(settings=settings, clock=clock, bind_database=False)


@pytest.fixture
def sign_in(idp, clock) -> Callable[[Tenant, str], str]:
    """A bearer credential for a role of a tenant: a new API key, or a token naming the
    tenant (by name and by id, in turn) that the stand-in IdP signs."""

    def make(tenant: Tenant, role: str) -> str:
        if idp is None:
            return create_api_key(SYSTEM, role=Role(role), tenant=tenant, now=clock())[1]
        ref = tenant.name if tenant.name == "Fabrikam" else tenant.id
        return idp.token(now=clock(), role=role, tenant=ref, sub=f"{role}@{tenant.name}")

    return make


@pytest.fixture
def world(tenant, clock, client, keys, sign_in):
    """Tenant A (Fabrikam) with users, licenses and keys; tenant B (Northwind) with its own."""
    now = clock()
    buy(tenant, now, MCOEV=5, MCOPSTN1=5, MCOMEETADV=5, MCOPSTNC=5)
    add_users(tenant, now, [("alpha", "DE"), ("beta", "DE"), ("gamma", None)])
    a = Api(client, sign_in(tenant, "GLOBAL_ADMIN"))
    a(
        'mutation { setUserLicenses(userPrincipalNames: ["alpha@fabrikam.example"], '
        'addLicenses: [{skuId: "MCOEV"}, {skuId: "MCOPSTN1"}]) { summary { applied } } }'
    )
    northwind = other_tenant(now)
    buy(northwind, now, MCOEV=5)
    add_users(northwind, now, [("zulu", "US")], domain="northwind.example")
    b_credential = sign_in(northwind, "GLOBAL_ADMIN")
    credits.purchase_credits(tenant, SYSTEM, Decimal("100"), idempotency_key="a-1", now=now)
    call = rating.CallInput(
        call_id="alpha-call-1",
        user="alpha@fabrikam.example",
        started_at=now,
        duration_seconds=90,
        destination="+33142345678",
        call_type="INTERNATIONAL",
    )
    rating.record_calls(tenant, SYSTEM, [call], now=now)
    alpha = User.get(User.user_principal_name == "alpha@fabrikam.example")
    ids = [
        str(to_global_id("User", alpha.id)),
        "alpha@fabrikam.example",
        str(to_global_id("Tenant", tenant.id)),
        str(to_global_id("ApiKey", ApiKey.get(ApiKey.tenant == tenant.id).id)),
        str(to_global_id("SubscribedSku", Subscription.get(Subscription.tenant == tenant.id).id)),
        str(to_global_id("AuditEntry", AuditEntry.get(AuditEntry.tenant == tenant.id).id)),
        "Fabrikam",
        str(to_global_id("Invoice", Invoice.get(Invoice.tenant == tenant.id).id)),
        str(to_global_id("CreditLot", CreditLot.get(CreditLot.tenant == tenant.id).id)),
        str(to_global_id("CallRecord", CallRecord.get(CallRecord.tenant == tenant.id).id)),
        "alpha-call-1",
    ]
    markers = [ids[0], *ids[2:6], *ids[7:]]  # and the name, case-insensitively
    return {
        "a": a,
        "b": Api(client, b_credential),
        "ids": ids,
        "markers": markers,
        "tenant": tenant,
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_schema_enumeration_covers_every_root_field():
    assert len(_fields("query")) >= 10 and len(_fields("mutation")) >= 12


def test_tenant_b_sees_and_changes_nothing_of_tenant_a(world):
    b, ids, markers = world["b"], world["ids"], world["markers"]
    before = snapshot(world["tenant"].id)
    for kind in ("query", "mutation"):
        for name, field in _fields(kind):
            for choice in range(len(ids)):
                text, variables = operation(kind, name, field, ids, choice)
                response = b.raw(text, variables)
                assert response.status_code < 500, (name, response.text)
                body = response.text
                for echoed in _strings(variables):  # an input echoed back is not a leak
                    body = re.sub(re.escape(echoed), "", body, flags=re.IGNORECASE)
                leaked = [m for m in markers if f'"{m}"' in body] + (
                    ["fabrikam"] if "fabrikam" in body.lower() else []
                )
                assert not leaked, f"{kind} {name} with {variables} leaked {leaked}: {body[:400]}"
    assert snapshot(world["tenant"].id) == before


def test_reader_changes_nothing_and_every_mutation_says_forbidden(world, client, sign_in):
    reader, ids = Api(client, sign_in(world["tenant"], "READER")), world["ids"]
    before = snapshot(world["tenant"].id)
    for name, field in _fields("mutation"):
        text, variables = operation("mutation", name, field, ids, 0)
        response = reader.raw(text, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        payload = (body.get("data") or {}).get(name)
        codes = {e["code"] for e in (payload or {}).get("userErrors", [])} | {
            e.get("extensions", {}).get("code") for e in body.get("errors", [])
        }
        assert "FORBIDDEN" in codes, (name, body)
    assert snapshot(world["tenant"].id) == before


@pytest.mark.parametrize("credential", ["key"], indirect=True)  # no credential: once is enough
def test_no_key_is_unauthenticated_everywhere(world, client):
    anonymous, ids = Api(client, None), world["ids"]
    before = snapshot(world["tenant"].id)
    for kind in ("query", "mutation"):
        for name, field in _fields(kind):
            text, variables = operation(kind, name, field, ids, 0)
            body = anonymous.raw(text, variables).json()
            payload = (body.get("data") or {}).get(name)
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
            if isinstance(payload, dict):
                codes |= {e["code"] for e in payload.get("userErrors", [])}
            assert "UNAUTHENTICATED" in codes, (kind, name, body)
    assert snapshot(world["tenant"].id) == before
