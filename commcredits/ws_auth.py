"""Who a websocket connection acts as, and whether it still may (README "Live updates").

Authenticated as queries are: the `connection_init` payload's `Authorization` (an API key or
a JWT, `{"Authorization": "Bearer …"}` as GraphiQL's Headers tab sends it; the key's case does
not matter) and optional `X-Commcredits-Tenant` (an operator's choice of tenant), or else the
session cookie `commcredits_session`. A cookie is ambient: any site could open a websocket to
us with it, and browsers apply no CORS to websockets. So a cookie counts only when the
upgrade's `Origin` is this host or a listed COMMCREDITS_CORS_ORIGINS entry (cross-site
websocket hijacking); a bearer credential in the payload has no such problem.

A key or JWT is judged by `credentials.bearer_principal`, as on HTTP (refusals counted by the
same failed-auth limiter); here every refusal closes the connection with 4403.
`Credential.recheck` re-validates without writing (a session's recheck is not a use of it:
an idle session ends on time however long a live page stays open), and looks the operator's
chosen tenant up again (one read by id).

A refused tenant closes with the same 4403 as a refused credential: the protocol has one code
for "forbidden" (graphql-ws clients retry it, and give up on 4401). The reason says which
("Forbidden: tenant refused (NOT_FOUND): …", HTTP's code and message) for people reading it;
the admin console does not parse it but asks over HTTP (console/static/live.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from commcredits.config import Settings
from commcredits.credentials import (
    TENANT_HEADER,
    MalformedAuthorization,
    TenantScopeError,
    bearer_principal,
    bearer_token,
    in_tenant,
)
from commcredits.models import ApiKey
from commcredits.services import jwt_auth, sessions
from commcredits.services.access import AuthenticationError
from commcredits.services.auth_failures import AuthLimits, RateLimited
from commcredits.services.principal import Principal
from commcredits.web_auth import SESSION_COOKIE, foreign_origin

TENANT_KEY = TENANT_HEADER  # the same name as the HTTP header, in the payload


class Refused(Exception):
    """The connection may not (or no longer) act: closed with 4403 and this reason."""


@dataclass(frozen=True)
class Credential:
    principal: Principal
    refs: tuple[str, ...]  # what events.credential_revoked names when it ends ("key:<id>")
    recheck: Callable[[dt.datetime], None]  # raises Refused once it no longer holds


def init_value(payload: dict[str, Any], name: str) -> str | None:
    """A string from the connection_init payload, its key matched case-insensitively, at the
    top level or under "headers" (both shapes are in use by clients)."""
    for source in (payload, payload.get("headers")):
        if isinstance(source, dict):
            for key, value in source.items():
                if isinstance(key, str) and key.lower() == name and isinstance(value, str):
                    return value
    return None


def _key_check(key_id: int | None) -> Callable[[dt.datetime], None]:
    def recheck(now: dt.datetime) -> None:
        revoked = ApiKey.select(ApiKey.revoked_at).where(ApiKey.id == key_id).tuples().first()
        if revoked is None or revoked[0] is not None:
            raise Refused("Forbidden: the API key was revoked")

    return recheck


def session_from_cookie(
    token: str, settings: Settings, *, now: dt.datetime, use: bool = True
) -> sessions.ActiveSession:
    """The session a cookie signs in (services/sessions.py); Refused when it signs in no one.
    `use=False`: the periodic recheck, which is not a use of the session (no last-seen stamp)."""
    try:
        return sessions.session_principal(token, settings.sessions, now=now, use=use)
    except sessions.SessionRefused as error:
        raise Refused(f"Forbidden: {error}") from error


def authenticate_connection(
    payload: dict[str, Any],
    connection: HTTPConnection,
    *,
    settings: Settings,
    verifier: jwt_auth.JwtVerifier | None,
    limits: AuthLimits,
    now: dt.datetime,
) -> Credential:
    """The connection's credential (call inside a database connection); Refused otherwise."""
    address = connection.client.host if connection.client else "unknown"
    authorization = init_value(payload, "authorization")
    try:
        if authorization is not None:
            principal = bearer_principal(
                authorization, address, verifier=verifier, limits=limits, now=now
            )
            if principal.key_id is None:  # a JWT: valid until it expires
                token = bearer_token(authorization)
                assert verifier is not None

                def recheck(at: dt.datetime) -> None:
                    try:
                        verifier.verify(token, now=at)
                    except (jwt_auth.JwtError, jwt_auth.JwksUnavailable) as error:
                        raise Refused(f"Forbidden: {error}") from error

                credential = Credential(principal, (), recheck)
            else:
                refs = (f"key:{principal.key_id}",)
                credential = Credential(principal, refs, _key_check(principal.key_id))
        else:
            token = connection.cookies.get(SESSION_COOKIE)
            if not token:
                raise Refused(
                    'Forbidden: no credentials; send {"Authorization": "Bearer <key>"} as the '
                    "connection_init payload, or sign in (session cookie)"
                )
            # An upgrade from another site: its Origin is neither this host nor a listed one.
            if foreign_origin(connection, settings.cors_origins):
                raise Refused("Forbidden: a page of another site cannot use the session cookie")
            session = session_from_cookie(token, settings, now=now)
            principal = session.principal
            # Revoking the key ends its sessions, and signing out the session: both close at
            # once; an idle or absolute timeout is seen by the periodic recheck.
            refs = (f"key:{principal.key_id}", f"session:{session.session_id}")
            credential = Credential(
                principal,
                refs,
                lambda at: session_from_cookie(token, settings, now=at, use=False) and None,
            )
    except RateLimited as error:
        raise Refused(
            f"Forbidden: too many failed authentications; retry after {error.retry_after} s"
        ) from error
    except jwt_auth.JwtError as error:
        raise Refused(f"Forbidden: {error.description}") from error
    except jwt_auth.JwksUnavailable as error:
        raise Refused("Forbidden: the identity provider's keys cannot be fetched") from error
    except MalformedAuthorization as error:
        raise Refused(f"Forbidden: {error}") from error
    except AuthenticationError as error:
        raise Refused("Forbidden: invalid or revoked API key") from error
    tenant_ref = init_value(payload, TENANT_KEY)
    if tenant_ref:
        acting = _in_tenant(credential.principal, tenant_ref)
        assert acting.tenant is not None
        recheck = _tenant_check(credential.recheck, credential.principal, acting.tenant.id)
        credential = Credential(acting, credential.refs, recheck)
    return credential


def _in_tenant(principal: Principal, tenant_ref: str) -> Principal:
    """The principal in the tenant `tenant_ref` names; Refused, saying it is the tenant (and
    HTTP's code for it: NOT_FOUND gone, FORBIDDEN not an operator's), otherwise."""
    try:
        return in_tenant(principal, tenant_ref)
    except TenantScopeError as error:
        raise Refused(f"Forbidden: tenant refused ({error.code}): {error}") from error


def _tenant_check(
    recheck: Callable[[dt.datetime], None], principal: Principal, tenant_id: int
) -> Callable[[dt.datetime], None]:
    """`recheck`, and the operator's chosen tenant is still there: a tenant gone while the
    socket is open closes it (4403) as it refuses the next HTTP request. By the id it was
    resolved to at connection_init, so a rename does not: the socket acts for that tenant."""

    def check(now: dt.datetime) -> None:
        recheck(now)
        _in_tenant(principal, str(tenant_id))

    return check
