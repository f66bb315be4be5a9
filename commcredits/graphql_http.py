"""POST /graphql (GraphiQL on GET): the body checked, the caller identified, the operation run.

Each operation runs on a worker thread with its own pooled database connection, so peewee's
blocking calls never stall the event loop and requests proceed side by side. Hostile input gets
a 4xx: bodies over COMMCREDITS_MAX_BODY_BYTES 413, anything that is not a JSON GraphQL request
400/415, and refused credentials 401 — or 429 with Retry-After once too many failed from one
address or with one key prefix (`services.auth_failures`; valid keys are never slowed down).
Anything unexpected is masked: the client sees the request id, the log has the traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from commcredits import db as database
from commcredits import web_auth
from commcredits.clock import Clock
from commcredits.config import Settings
from commcredits.credentials import (
    TENANT_HEADER,
    MalformedAuthorization,
    TenantScopeError,
    bearer_principal,
    header_text,
    in_tenant,
)
from commcredits.execution import execute
from commcredits.graphiql import GraphiQLPage
from commcredits.http_errors import error_response
from commcredits.request_screen import operation_label, screen_body
from commcredits.services import jwt_auth
from commcredits.services.access import AuthenticationError
from commcredits.services.auth_failures import AuthLimits, RateLimited

log = logging.getLogger("commcredits.http")


class BadRequest(Exception):
    """The body parsed but is not a GraphQL request this server can run (HTTP 400)."""


def graphql_endpoint(
    *,
    settings: Settings,
    clock: Clock,
    verifier: jwt_auth.JwtVerifier | None,
    auth_limits: AuthLimits,
    graphiql: GraphiQLPage,
) -> Callable[[Request], Awaitable[Response]]:
    """The /graphql HTTP handler of an app with these settings, clock, verifier and limits."""

    def run_operation(
        body: dict[str, Any],
        authorization: str | None,
        address: str,
        state: dict[str, Any],
        tenant_header: str | None = None,
        cookie: web_auth.CookieCredential | None = None,
    ) -> dict[str, Any]:
        statements = database.thread_statements()
        try:
            return _run(body, authorization, address, state, tenant_header, cookie)
        finally:
            state["statements"] = database.thread_statements() - statements

    def _run(
        body: dict[str, Any],
        authorization: str | None,
        address: str,
        state: dict[str, Any],
        tenant_header: str | None,
        cookie: web_auth.CookieCredential | None,
    ) -> dict[str, Any]:
        with database.db.connection_context():
            now = clock()
            principal = None
            if authorization is not None:
                principal = bearer_principal(
                    authorization, address, verifier=verifier, limits=auth_limits, now=now
                )
            elif cookie is not None:
                # A browser session (web_auth): CSRF and origin checked before any query; an
                # ended session is a 401 of its own, not a failed key (nothing to count).
                principal = cookie.principal(settings.sessions, now=now)
            if principal is not None:
                principal = in_tenant(principal, tenant_header)
                state["key"] = principal.key_prefix
                state["tenant"] = principal.tenant.id if principal.tenant else None
            try:
                return execute(
                    body["query"],
                    body.get("variables") or None,
                    body.get("operationName") or None,
                    principal=principal,
                    now=now,
                    request_id=state["request_id"],
                )
            except MissingQueryError as error:
                raise BadRequest("The query is empty.") from error
            except CannotGetOperationTypeError as error:
                raise BadRequest(error.as_http_error_reason()) from error
            except InvalidOperationTypeError as error:
                # Only a subscription gets here (queries and mutations are both allowed).
                raise BadRequest(
                    "A subscription streams: run it over the websocket at /graphql "
                    "(graphql-transport-ws), not by POST."
                ) from error

    async def read_body(request: Request, request_id: str) -> dict[str, Any] | Response:
        """The request's GraphQL body, or the 4xx that refuses it."""
        wrong_type = web_auth.not_json(request, request_id)
        if wrong_type is not None:
            return wrong_type

        def too_large() -> Response:  # built only when needed, not for every request
            return error_response(
                413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id
            )

        declared = request.headers.get("content-length")
        if (
            declared
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > settings.max_body_bytes
        ):
            return too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # chunked bodies have no content-length to trust
            size += len(chunk)
            if size > settings.max_body_bytes:
                return too_large()
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        # ValueError: also a number of more than 4,300 digits (int's conversion limit).
        except (ValueError, RecursionError):
            return error_response(400, "BAD_REQUEST", "The body is not valid JSON.", request_id)
        refused = screen_body(body)
        if refused:
            return error_response(400, "BAD_REQUEST", refused, request_id)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not isinstance(body.get("variables") or {}, dict)
            or not isinstance(body.get("operationName") or "", str)
        ):
            return error_response(
                400,
                "BAD_REQUEST",
                'Send {"query": "...", "variables": {...}, "operationName": "..."}.',
                request_id,
            )
        return body

    async def graphql(request: Request) -> Response:
        state = request.scope["state"]
        request_id = state["request_id"]
        if request.method in ("GET", "HEAD"):  # HEAD: the page's headers, never an operation
            return graphiql.page(request)
        body = await read_body(request, request_id)
        if isinstance(body, Response):
            state["errors"] = _codes(body)
            return body
        state["operation"] = operation_label(body)
        client = request.client
        try:
            result = await anyio.to_thread.run_sync(
                run_operation,
                body,
                request.headers.get("authorization"),
                client.host if client else "unknown",
                state,
                header_text(request.headers.get(TENANT_HEADER)),
                web_auth.cookie_credential(request, settings.cors_origins),
            )
        except Exception as error:  # noqa: BLE001 - refused() answers each kind, masks the rest
            answer = refused(error, request_id)
            state["errors"] = _codes(answer)
            return answer
        if result.get("errors"):
            state["errors"] = [e.get("extensions", {}).get("code") for e in result["errors"]]
        return JSONResponse(result)

    return graphql


def _codes(response: Response) -> list[str | None]:
    """The error codes of one of our error answers (for the log line and the metrics)."""
    try:
        return [e.get("extensions", {}).get("code") for e in json.loads(response.body)["errors"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def refused(error: Exception, request_id: str) -> Response:
    """The HTTP answer to an operation that did not run: 400/401/403/404/429/503, else 500."""
    if isinstance(error, web_auth.CookieRefused):
        return web_auth.refused_response(error, request_id)
    if isinstance(error, RateLimited):
        return web_auth.rate_limited_response(error, request_id)
    if isinstance(error, jwt_auth.JwtError):
        # RFC 6750: the challenge says why; only characters its grammar allows.
        said = "".join(c for c in error.description if " " <= c <= "~" and c not in '"\\')
        challenge = f'Bearer error="invalid_token", error_description="{said}"'
        return error_response(
            401,
            "UNAUTHENTICATED",
            error.description,
            request_id,
            headers={"www-authenticate": challenge},
            reason=error.reason,
        )
    if isinstance(error, jwt_auth.JwksUnavailable):
        return error_response(
            503,
            "JWKS_UNAVAILABLE",
            "The identity provider's signing keys cannot be fetched; retry later "
            "(API keys are not affected).",
            request_id,
            headers={"retry-after": str(error.retry_after)},
        )
    if isinstance(error, MalformedAuthorization):
        # RFC 6750 §3.1: a request that is not `Bearer <token>` is invalid_request.
        return error_response(
            401,
            "UNAUTHENTICATED",
            str(error),
            request_id,
            headers={"www-authenticate": 'Bearer error="invalid_request"'},
        )
    if isinstance(error, AuthenticationError):
        return error_response(
            401,
            "UNAUTHENTICATED",
            "Invalid or revoked API key.",
            request_id,
            headers={"www-authenticate": 'Bearer error="invalid_token"'},
        )
    if isinstance(error, TenantScopeError):
        status = 403 if error.code == "FORBIDDEN" else 404
        return error_response(status, error.code, error.message, request_id)
    if isinstance(error, BadRequest):
        return error_response(400, "BAD_REQUEST", str(error), request_id)
    log.error("request failed", exc_info=error, extra={"request_id": request_id})
    return error_response(
        500, "INTERNAL_ERROR", f"Internal error; quote request id {request_id}.", request_id
    )
