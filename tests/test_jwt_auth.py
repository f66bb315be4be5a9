"""Bearer JWTs from an identity provider (issue 13, item 3): real keys, a real JWKS server on
loopback (tests/jwks_server.py) and, for the HTTP behaviour, a real uvicorn server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from commcredits.app import create_app
from commcredits.config import JwtSettings, Settings
from commcredits.models import AuditEntry, User
from commcredits.services.auth_failures import AuthLimits
from commcredits.services.jwt_auth import REASONS, JwksUnavailable, JwtError, JwtVerifier, KeySet
from tests.conftest import Api
from tests.helpers import other_tenant
from tests.jwks_server import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    forged,
    identity_provider,
    jwt_env,
    jwt_settings,
)
from tests.live_server import free_port, live_server

VIEWER = "{ viewer { role tenant { name } apiKey { prefix } } }"
USERS = "{ users { totalCount } }"
CREATE_USER = """mutation($upn: String!) { createUser(input: {userPrincipalName: $upn,
  usageLocation: "DE"}) { user { id } userErrors { code } } }"""
PURCHASE = """mutation { purchaseSeats(skuPartNumber: "MCOEV", quantity: 1)
  { subscribedSku { skuPartNumber } userErrors { code } } }"""
CREATE_TENANT = """mutation { createTenant(input: {name: "Tailspin", country: "GB",
  currency: "GBP", agreementType: MCA}) { tenant { name } userErrors { code } } }"""
# Generous limits: these servers see many refused tokens from one address on purpose.
LIVE_ENV = {
    "COMMCREDITS_AUTH_FAILURES_PER_ADDRESS": "1000",
    "COMMCREDITS_AUTH_FAILURES_PER_KEY": "1000",
    "COMMCREDITS_JWT_JWKS_CACHE_SECONDS": "1",  # expire quickly: outages hit a stale cache
    "COMMCREDITS_JWT_JWKS_REFETCH_SECONDS": "0",  # rotation at once (rate limit: unit test)
}


def wall_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Client:
    """GraphQL over HTTP to a live server with one bearer credential per call."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20)

    def post(self, bearer: str | None, query: str, variables: dict | None = None):
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        body = {"query": query, "variables": variables or {}}
        return self.http.post("/graphql", json=body, headers=headers)

    def data(self, bearer: str, query: str, variables: dict | None = None) -> dict[str, Any]:
        response = self.post(bearer, query, variables)
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        return response.json()["data"]

    def refused(self, bearer: str, reason: str, query: str = VIEWER, variables=None) -> None:
        response = self.post(bearer, query, variables)
        assert response.status_code == 401, (reason, response.text)
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}, error
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@contextmanager
def jwt_server(db_url: str, tmp_path, url: str, **env: str) -> Iterator[Client]:
    with live_server(db_url, tmp_path, extra_env={**LIVE_ENV, **jwt_env(url), **env}) as server:
        client = Client(server.url)
        try:
            yield client
        finally:
            client.http.close()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


# --- a real server --------------------------------------------------------------------------


def test_valid_rs256_and_es256_tokens_act_in_their_role(db_url, tenant, tmp_path):
    allowed = {
        "GLOBAL_ADMIN": (CREATE_USER, "createUser", CREATE_TENANT, "createTenant"),
        "BILLING_ADMIN": (PURCHASE, "purchaseSeats", CREATE_USER, "createUser"),
        "LICENSE_ADMIN": (CREATE_USER, "createUser", PURCHASE, "purchaseSeats"),
        "READER": (None, None, CREATE_USER, "createUser"),
    }
    with identity_provider() as idp, jwt_server(db_url, tmp_path, idp.url) as api:
        for key in (idp.rsa, idp.ec):
            for role, (mutation, name, forbidden, forbidden_name) in allowed.items():
                # The tenant by name with RS256, by our numeric id with ES256.
                ref = "Fabrikam" if key is idp.rsa else tenant.id
                token = idp.token(now=wall_now(), role=role, tenant=ref, key=key, sub=role)
                viewer = api.data(token, VIEWER)["viewer"]
                assert viewer == {"role": role, "tenant": {"name": "Fabrikam"}, "apiKey": None}
                assert api.data(token, USERS)["users"]["totalCount"] >= 0
                upn = f"{role.lower()}-{key.alg.lower()}@fabrikam.example"
                if mutation:
                    out = api.data(token, mutation, {"upn": upn} if "upn" in mutation else None)
                    assert out[name]["userErrors"] == [], (role, out)
                out = api.data(token, forbidden, {"upn": upn} if "upn" in forbidden else None)
                assert out[forbidden_name]["userErrors"][0]["code"] == "FORBIDDEN", (role, out)
    # Changes made with a JWT are attributed to its subject in the audit log.
    entry = AuditEntry.get(AuditEntry.action == "createUser")
    assert entry.actor == "jwt:GLOBAL_ADMIN (GLOBAL_ADMIN)" and entry.actor_key_id is None


def test_every_bad_token_gets_401_with_its_reason_and_changes_nothing(db_url, tenant, tmp_path):
    with (
        identity_provider() as idp,
        identity_provider() as attacker,
        jwt_server(db_url, tmp_path, idp.url) as api,
    ):
        now = wall_now()
        good = _claims(idp.token(now=now))
        pem = idp.rsa.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        minute = dt.timedelta(minutes=1)
        cases = {
            "TOKEN_EXPIRED": idp.token(now=now - 12 * minute),  # 10 min lifetime, 60 s leeway
            "TOKEN_NOT_YET_VALID": idp.token(now=now, nbf=int((now + 5 * minute).timestamp())),
            "WRONG_AUDIENCE": idp.token(now=now, aud="someone-else"),
            "WRONG_ISSUER": idp.token(now=now, iss="https://evil.example/"),
            "MISSING_CLAIM": idp.token(now=now, exp=None),
            "UNKNOWN_TENANT": idp.token(now=now, tenant="Nowhere"),
            "UNKNOWN_ROLE": idp.token(now=now, role="SUPERUSER"),
            "ROLE_NOT_ALLOWED": idp.token(now=now, role="OPERATOR"),
            "BAD_SIGNATURE": idp.token(now=now)[:-8] + "AAAAAAAA",
            "UNKNOWN_KEY": attacker.token(now=now, headers={"kid": "attacker"}),
            "MALFORMED": "eyJub3QiOiJqc29u.eyJ9.c2ln",
        }
        # Unsigned, HS256 with the IdP's public key as the secret, and a key type mismatch.
        forgeries = [
            forged({"alg": "none", "typ": "JWT"}, good),
            forged({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, good, pem),
            idp.token(now=now, key=dataclasses.replace(idp.ec, kid="rsa-1")),
        ]
        # `jku` / `jwk` headers pointing at the attacker's keys are never followed or used.
        stolen_kid = dataclasses.replace(attacker.rsa, kid="rsa-1")
        misdirected = [
            (
                attacker.token(now=now, headers={"kid": "attacker", "jku": attacker.url}),
                "UNKNOWN_KEY",
            ),
            (
                attacker.token(now=now, key=stolen_kid, headers={"jku": attacker.url}),
                "BAD_SIGNATURE",
            ),
            (
                attacker.token(now=now, key=stolen_kid, headers={"jwk": attacker.rsa.jwk()}),
                "BAD_SIGNATURE",
            ),
        ]
        before = User.select().count()
        for reason, token in cases.items():
            api.refused(token, reason)
            api.refused(token, reason, CREATE_USER, {"upn": "mallory@fabrikam.example"})
        for token in forgeries:
            api.refused(token, "ALGORITHM_NOT_ALLOWED")
        for token, reason in misdirected:
            api.refused(token, reason)
        assert attacker.requests == 0
        for garbage in ("a.b.c", "e30.e30.", "e30.e30.e30", "x" * 9000 + ".a.b", "a..b", "."):
            response = api.post(garbage, VIEWER)
            assert response.status_code == 401, (garbage[:20], response.text)
        # A minute's leeway either side is accepted.
        slack = dt.timedelta(seconds=30)
        assert api.data(idp.token(now=now - 10 * minute - slack), VIEWER)["viewer"]
        assert api.data(idp.token(now=now, nbf=int((now + slack).timestamp())), VIEWER)
        assert User.select().count() == before
        failures = AuditEntry.select().where(AuditEntry.action == "authenticationFailed")
        reasons = {row.after["reason"] for row in failures}
        assert {"jwt TOKEN_EXPIRED", "jwt ALGORITHM_NOT_ALLOWED", "jwt UNKNOWN_KEY"} <= reasons


def test_rotated_keys_are_picked_up_and_cached_keys_outlive_an_outage(db_url, tenant, tmp_path):
    with identity_provider() as idp, jwt_server(db_url, tmp_path, idp.url) as api:
        assert api.data(idp.token(now=wall_now()), VIEWER)["viewer"]["role"] == "GLOBAL_ADMIN"
        rotated = idp.rotate("ES256")
        fetched = idp.requests
        assert api.data(idp.token(now=wall_now(), key=rotated), VIEWER)["viewer"]
        assert idp.requests == fetched + 1  # one refetch for the kid it had not seen
        idp.down = True
        time.sleep(1.2)  # past the 1 s cache: every request now tries the IdP and fails
        for key in (idp.rsa, idp.ec, rotated):
            assert api.data(idp.token(now=wall_now(), key=key), VIEWER)["viewer"]
        assert idp.requests > fetched + 1
        # A kid nobody knows is still an unknown key (401), not an outage (503).
        api.refused(idp.token(now=wall_now(), key=idp.rotate()), "UNKNOWN_KEY")


def test_jwks_down_from_the_start_gives_503_for_jwts_only(db_url, tenant, keys, tmp_path):
    with identity_provider() as idp, jwt_server(db_url, tmp_path, idp.url) as api:
        idp.down = True  # before the server's first fetch (it fetches on a JWT's first use)
        response = api.post(idp.token(now=wall_now()), VIEWER)
        assert response.status_code == 503, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "JWKS_UNAVAILABLE"
        assert int(response.headers["retry-after"]) >= 1
        assert api.data(keys["READER"], VIEWER)["viewer"]["role"] == "READER"
        # Refused before any key is needed: still 401, whatever the IdP's state.
        claims = _claims(idp.token(now=wall_now()))
        api.refused(forged({"alg": "none"}, claims), "ALGORITHM_NOT_ALLOWED")
        idp.down = False  # and once the IdP is back, tokens work
        assert api.data(idp.token(now=wall_now()), VIEWER)["viewer"]["role"] == "GLOBAL_ADMIN"


# --- in-process: the key cache, the clock, the limiter, configuration -------------------------


def test_unknown_kids_refetch_at_most_once_per_interval_and_outages_keep_keys():
    with identity_provider() as idp:
        clock = [0.0]
        keys = KeySet(jwt_settings(idp.url, jwks_refetch=30), monotonic=lambda: clock[0])
        assert keys.key_for("rsa-1").key_id == "rsa-1" and keys.key_for("ec-1")
        assert idp.requests == 1
        with pytest.raises(JwtError) as refused:
            keys.key_for("random-kid")  # within 30 s of the last fetch: no new request
        assert refused.value.reason == "UNKNOWN_KEY" and idp.requests == 1
        rotated = idp.rotate()
        clock[0] = 31
        assert keys.key_for(rotated.kid).key_id == rotated.kid and idp.requests == 2
        idp.down, clock[0] = True, 400  # stale, and the IdP fails: the cached keys serve on
        assert keys.key_for("rsa-1") and keys.key_for(rotated.kid) and idp.requests == 3
        clock[0] = 420
        assert keys.key_for("rsa-1") and idp.requests == 3  # no retry within 30 s
        idp.down, clock[0] = False, 431
        assert keys.key_for("rsa-1") and idp.requests == 4


def test_with_no_keys_cached_an_outage_is_unavailable_without_hammering_the_idp():
    with identity_provider() as idp:
        idp.down = True
        clock = [0.0]
        keys = KeySet(jwt_settings(idp.url, jwks_refetch=30), monotonic=lambda: clock[0])
        for at, retry_after in ((0, 30), (10, 20), (29.5, 1)):
            clock[0] = at
            with pytest.raises(JwksUnavailable) as unavailable:
                keys.key_for("rsa-1")
            assert unavailable.value.retry_after == retry_after
        assert idp.requests == 1
        idp.down, clock[0] = False, 30
        assert keys.key_for("rsa-1") and idp.requests == 2
    nowhere = KeySet(jwt_settings(f"http://127.0.0.1:{free_port()}/jwks"))  # refused
    with pytest.raises(JwksUnavailable):
        nowhere.key_for("rsa-1")


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    with identity_provider() as provider:
        yield provider


def jwt_app(idp: IdentityProvider, clock, **limits: Any) -> TestClient:
    settings = dataclasses.replace(Settings.from_env(), jwt=jwt_settings(idp.url))
    app = create_app(
        settings=settings, clock=clock, bind_database=False, auth_limits=AuthLimits(**limits)
    )
    return TestClient(app)


def test_time_is_the_request_clock_and_failures_count_like_bad_keys(idp, tenant, clock):
    with jwt_app(idp, clock, per_address=4, per_key=2) as client:
        token = idp.token(now=clock())  # at T0, whatever the wall clock says
        api = Api(client, token)
        out = api(CREATE_USER, {"upn": "zoe@fabrikam.example"})["createUser"]
        assert out["userErrors"] == []
        entry = AuditEntry.get(AuditEntry.action == "createUser")
        assert entry.actor == "jwt:ada@fabrikam.example (GLOBAL_ADMIN)"
        clock.advance(minutes=12)
        statuses = [Api(client, token).raw(VIEWER).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]  # per token, as per key prefix
        other = idp.token(now=clock() - dt.timedelta(hours=1))
        assert [Api(client, other).raw(VIEWER).status_code for _ in range(3)] == [401, 401, 429]
        fresh = Api(client, idp.token(now=clock()))
        assert fresh(VIEWER)["viewer"]["role"] == "GLOBAL_ADMIN"  # valid tokens never slowed
        failed = AuditEntry.select().where(AuditEntry.action == "authenticationFailed")
        assert [(r.after["reason"], r.after["keyPrefix"][:4]) for r in failed] == [
            ("jwt TOKEN_EXPIRED", "jwt_")
        ] * 4


def test_another_tenants_token_sees_nothing(idp, tenant, clock):
    northwind = other_tenant(clock())
    with jwt_app(idp, clock, per_address=100) as client:
        intruder = Api(client, idp.token(now=clock(), tenant=northwind.id))
        assert intruder(VIEWER)["viewer"]["tenant"] == {"name": "Northwind"}
        Api(client, idp.token(now=clock()))(CREATE_USER, {"upn": "ann@fabrikam.example"})
        assert intruder(USERS)["users"]["totalCount"] == 0
        # A tenant token may not switch tenant with the operator's header.
        response = intruder.client.post(
            "/graphql",
            json={"query": USERS},
            headers={"authorization": f"Bearer {intruder.key}", "x-commcredits-tenant": "1"},
        )
        assert response.status_code == 403


def test_without_jwt_settings_a_jwt_is_an_unknown_key(idp, client, tenant, clock):
    response = Api(client, idp.token(now=clock())).raw(VIEWER)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert idp.requests == 0


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1795600000}, "TOKEN_EXPIRED"),  # long before T0
        ({"iat": 1795600000 + 10**8}, "TOKEN_NOT_YET_VALID"),  # issued in the future
        ({"exp": "tomorrow"}, "MALFORMED"),
        ({"sub": None}, "MISSING_CLAIM"),
        ({"commcredits_role": None}, "MISSING_CLAIM"),
        ({"commcredits_tenant": None}, "MISSING_CLAIM"),
        ({"commcredits_tenant": 10**30}, "UNKNOWN_TENANT"),
        ({"commcredits_tenant": "²"}, "UNKNOWN_TENANT"),
        ({"commcredits_role": ["READER"]}, "UNKNOWN_ROLE"),
        ({"aud": ["other", AUDIENCE]}, None),  # one of several audiences is enough
    ],
)
def test_claims_against_the_request_clock(idp, tenant, clock, claims, reason):
    verifier = JwtVerifier(jwt_settings(idp.url))
    token = idp.token(now=clock(), **claims)
    if reason is None:
        assert verifier.verify(token, now=clock()).tenant.id == tenant.id
        return
    with pytest.raises(JwtError) as refused:
        verifier.verify(token, now=clock())
    assert refused.value.reason == reason


def test_operator_tokens_only_where_allowed(idp, tenant, clock):
    token = idp.token(now=clock(), role="OPERATOR", tenant=None)
    with pytest.raises(JwtError) as refused:
        JwtVerifier(jwt_settings(idp.url)).verify(token, now=clock())
    assert refused.value.reason == "ROLE_NOT_ALLOWED"
    allowed = JwtVerifier(jwt_settings(idp.url, allow_operator=True))
    principal = allowed.verify(token, now=clock())
    assert principal.is_operator and principal.tenant is None
    assert principal.label == "jwt:ada@fabrikam.example (OPERATOR)"


def test_settings_refuse_half_a_configuration_and_weak_choices(monkeypatch):
    monkeypatch.setenv("COMMCREDITS_JWT_ISSUER", ISSUER)
    with pytest.raises(ValueError, match="COMMCREDITS_JWT_AUDIENCE"):
        JwtSettings.from_env()
    monkeypatch.setenv("COMMCREDITS_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("COMMCREDITS_JWT_JWKS_URL", "http://idp.example/jwks")
    with pytest.raises(ValueError, match="https"):
        JwtSettings.from_env()
    monkeypatch.setenv("COMMCREDITS_JWT_JWKS_URL", "https://idp.example/jwks")
    monkeypatch.setenv("COMMCREDITS_JWT_ALGORITHMS", "RS256,HS256")
    with pytest.raises(ValueError, match="subset"):
        JwtSettings.from_env()
    monkeypatch.setenv("COMMCREDITS_JWT_ALGORITHMS", "es256")
    found = JwtSettings.from_env()
    assert found is not None and found.algorithms == ("ES256",)
    assert (found.tenant_claim, found.role_claim, found.leeway) == (
        "commcredits_tenant",
        "commcredits_role",
        60.0,
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
_CLAIMS = ("exp", "nbf", "iat", "iss", "aud", "sub", "commcredits_role", "commcredits_tenant")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.dictionaries(st.sampled_from(_CLAIMS), _JSON, max_size=4))
def test_any_claim_values_give_a_principal_or_a_reason_never_a_crash(idp, tenant, clock, changes):
    verifier = JwtVerifier(jwt_settings(idp.url))
    token = idp.token(now=clock(), **changes)
    try:
        principal = verifier.verify(token, now=clock())
    except JwtError as error:
        assert error.reason in REASONS
    else:
        assert principal.tenant is not None and principal.tenant.name == "Fabrikam"
        assert principal.key_prefix.startswith("jwt:")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(header=st.dictionaries(st.sampled_from(("alg", "kid", "typ", "crit", "jku")), _JSON))
def test_any_header_without_a_valid_signature_gives_a_reason(idp, tenant, clock, header):
    verifier = JwtVerifier(jwt_settings(idp.url))
    for token in (forged(header, {"sub": "x"}), forged(header, {"sub": "x"}) + "c2ln"):
        with pytest.raises(JwtError) as refused:
            verifier.verify(token, now=clock())
        assert refused.value.reason in REASONS
