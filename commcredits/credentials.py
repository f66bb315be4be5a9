"""Who a bearer credential is: `Authorization: Bearer <API key or JWT>` → a Principal.

One function for both doors, so a key or a token is judged the same way on HTTP (`graphql_http`,
which answers 401/429/503) and on the websocket (`ws_auth`, which closes with 4403): the same
verification, the same failed-auth counting (services/auth_failures: past its limits a refusal
becomes RateLimited), and the same tenant choice for operator keys.
"""

from __future__ import annotations

import datetime as dt

from commcredits.services import auth_failures, jwt_auth
from commcredits.services.access import (
    KEY_PREFIX,
    AuthenticationError,
    act_in_tenant,
    authenticate,
)
from commcredits.services.auth_failures import AuthLimits
from commcredits.services.errors import DomainError
from commcredits.services.principal import Principal

TENANT_HEADER = "x-commcredits-tenant"  # an operator key's choice of tenant to look into


def header_text(value: str | None) -> str | None:
    """A header's text as the client wrote it: HTTP hands header bytes over as Latin-1, and a
    client naming a tenant "Zürich AG" sends UTF-8; bytes that are not UTF-8 stay as read."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


class MalformedAuthorization(AuthenticationError):
    """The Authorization header is not `Bearer <credential>`: its message says what to send."""


def malformed_message(authorization: str) -> str:
    """What the client is told about an Authorization header that is not `Bearer <it>`: a bare
    key or token (the usual slip) is told to add `Bearer `."""
    value = authorization.strip()
    if value.startswith(KEY_PREFIX):
        return "Add 'Bearer ' before the key: send 'Authorization: Bearer <key>'."
    if jwt_auth.looks_like_jwt(value):
        return "Add 'Bearer ' before the token: send 'Authorization: Bearer <token>'."
    credential = value.partition(" ")[2].strip()
    if credential.startswith(KEY_PREFIX) or jwt_auth.looks_like_jwt(credential):
        return "Use the Bearer scheme: send 'Authorization: Bearer <key>'."
    return "Send the key as 'Authorization: Bearer <key>'."


class TenantScopeError(Exception):
    """The tenant header could not be honoured (403 for a tenant key, 404 for no such tenant)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def bearer_token(authorization: str) -> str:
    """The credential of an `Authorization` value ("Bearer <it>"), stripped; "" if none."""
    return authorization.partition(" ")[2].strip()


def bearer_principal(
    authorization: str,
    address: str,
    *,
    verifier: jwt_auth.JwtVerifier | None,
    limits: AuthLimits,
    now: dt.datetime,
) -> Principal:
    """`Authorization: Bearer <key or JWT>` → its principal; call inside a database connection.

    A JWT is verified only when JWT sign-in is configured (`verifier`); otherwise a JWT is just
    an unknown key. Every refusal is recorded as a failed authentication from `address`.
    Raises AuthenticationError (a bad key or a malformed header), jwt_auth.JwtError (a refused
    token), jwt_auth.JwksUnavailable (the identity provider's keys cannot be had: not the
    caller's fault, so not counted), or RateLimited (too many failures from this address or
    key prefix).
    """
    scheme, _, _ = authorization.partition(" ")
    token = bearer_token(authorization)
    try:
        if scheme.lower() != "bearer" or not token:
            raise MalformedAuthorization(malformed_message(authorization))
        if verifier is not None and jwt_auth.looks_like_jwt(token):
            return verifier.verify(token, now=now)
        return authenticate(token, now=now)
    except jwt_auth.JwtError as error:
        # Counted like a bad key, so the same limits apply (429 / refusal past them).
        label = jwt_auth.failure_label(token)
        auth_failures.record_failure(label, address, limits, reason=f"jwt {error.reason}", now=now)
        raise
    except AuthenticationError:
        reason = "unknown" if scheme.lower() == "bearer" else "malformed"
        auth_failures.record_failure(
            token or authorization, address, limits, reason=reason, now=now
        )
        raise


def in_tenant(principal: Principal, tenant_ref: str | None) -> Principal:
    """The principal acting in the tenant an operator named (X-Commcredits-Tenant), or as it is
    when none was named. TenantScopeError when a tenant key names another tenant (FORBIDDEN) or
    the tenant does not exist."""
    if not tenant_ref:
        return principal
    try:
        return act_in_tenant(principal, tenant_ref)
    except DomainError as error:
        raise TenantScopeError(error.code, str(error)) from error
