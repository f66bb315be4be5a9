"""The Starlette app: GraphQL (GraphiQL on GET) at /graphql, health probes.

Each GraphQL request runs on a worker thread with its own pooled database connection, so
peewee's blocking calls never stall the event loop and requests proceed side by side.

Every response carries `x-request-id` (the client's, if it sent a well-formed one) and every
request writes one structured log line (`commcredits.logs`). Hostile input gets a 4xx: bodies
over COMMCREDITS_MAX_BODY_BYTES 413, anything that is not a JSON GraphQL request 400/415, and
refused keys 401 — or 429 with Retry-After once too many failed from one address or with one
key prefix (`services.auth_failures`; valid keys are never slowed down).
Anything unexpected is masked: the client sees the request id, the log has the traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from commcredits import db as database
from commcredits import events, web_auth
from commcredits.clock import Clock, utcnow
from commcredits.config import Settings
from commcredits.cors import cors_middleware
from commcredits.execution import execute
from commcredits.graphiql import graphiql_page
from commcredits.logs import request_line
from commcredits.services import auth_failures, jwt_auth
from commcredits.services.access import AuthenticationError, act_in_tenant, authenticate
from commcredits.services.auth_failures import AuthLimits, RateLimited
from commcredits.services.errors import DomainError
from commcredits.websocket import graphql_websocket

log = logging.getLogger("commcredits.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_OPERATION_NAME = re.compile(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def _error(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> JSONResponse:
    extensions = {"code": code} | ({"reason": reason} if reason else {})
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        headers={"x-request-id": request_id, **(headers or {})},
    )


TENANT_HEADER = "x-commcredits-tenant"  # an operator key's choice of tenant to look into


class TenantScopeError(Exception):
    """The tenant header could not be honoured (403 for a tenant key, 404 for no such tenant)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class BadRequest(Exception):
    """The body parsed but is not a GraphQL request this server can run (HTTP 400)."""


class RequestContext:
    """Pure ASGI middleware: request id, the per-request log line, and a last-resort 500.

    Handlers put `tenant`, `key`, `operation` and `errors` into `scope["state"]` for the line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if status == 0:  # nothing sent yet: answer in our format, not a bare 500 page
                await _error(
                    500,
                    "INTERNAL_ERROR",
                    f"Internal error; quote request id {request_id}.",
                    request_id,
                )(scope, receive, send_with_id)
            status = status or 500
        finally:
            client = scope.get("client")
            request_line(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
                tenant=state.get("tenant"),
                key=state.get("key"),
                operation=state.get("operation"),
                errors=state.get("errors"),
            )


def operation_label(body: dict[str, Any]) -> str | None:
    """The operation's name for logs: `operationName`, else the first named operation."""
    name = body.get("operationName")
    if isinstance(name, str) and name:
        return name[:100]
    found = _OPERATION_NAME.match(body["query"])
    return found.group(1) if found else None


MAX_JSON_DEPTH = 64  # far past any real variables; the cost estimator recurses through them
_NUL_ESCAPE = re.compile(r"\\u(?:0000|\{0+\})")
# JSON may escape half a UTF-16 pair ("\\ud800"); json.loads keeps it as a code point no UTF-8
# encoder takes: PostgreSQL, the log line and the JSON answer that echoes it would each fail.
_SURROGATE = re.compile("[\ud800-\udfff]")


def screen_body(body: object) -> str | None:
    """Why a decoded request body is refused before anything runs, or None: JSON nested past
    MAX_JSON_DEPTH, or a NUL character in any text (PostgreSQL cannot store one, and no name,
    key or reference has one), in the variables or as an escape in the query, or a lone
    surrogate (not Unicode text at all; GraphQL's own escapes refuse one in the query)."""
    stack: list[tuple[object, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
        if isinstance(value, str):
            if "\x00" in value:
                return "NUL characters are not accepted in any text."
            if _SURROGATE.search(value):
                return "A lone surrogate (a \\ud800-\\udfff escape outside a pair) is not text."
        elif isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    query = body.get("query") if isinstance(body, dict) else None
    if isinstance(query, str) and _NUL_ESCAPE.search(query):
        return "NUL characters are not accepted in any text."
    return None


def create_app(
    *,
    settings: Settings | None = None,
    clock: Clock = utcnow,
    bind_database: bool = True,
    auth_limits: AuthLimits | None = None,
) -> Starlette:
    """The ASGI app. `clock` gives every request its `now` (tests pass a fixed one)."""
    settings = settings or Settings.from_env()
    auth_limits = auth_limits or AuthLimits.from_env()
    # One verifier per app: it holds the identity provider's cached signing keys.
    verifier = jwt_auth.JwtVerifier(settings.jwt) if settings.jwt else None
    if bind_database:
        database.bind(settings.database_url)
    graphiql = graphiql_page()

    def run_operation(
        body: dict[str, Any],
        authorization: str | None,
        address: str,
        state: dict[str, Any],
        tenant_header: str | None = None,
        cookie: web_auth.CookieCredential | None = None,
    ) -> dict[str, Any]:
        with database.db.connection_context():
            now = clock()
            principal = None
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                try:
                    if scheme.lower() != "bearer" or not token.strip():
                        raise AuthenticationError("use 'Authorization: Bearer <key>'")
                    if verifier is not None and jwt_auth.looks_like_jwt(token.strip()):
                        principal = verifier.verify(token.strip(), now=now)
                    else:
                        principal = authenticate(token, now=now)
                except jwt_auth.JwtError as error:
                    # Counted like a bad key, so the same limits apply (429 past them).
                    auth_failures.record_failure(
                        jwt_auth.failure_label(token.strip()),
                        address,
                        auth_limits,
                        reason=f"jwt {error.reason}",
                        now=now,
                    )
                    raise
                except AuthenticationError:
                    reason = "unknown" if scheme.lower() == "bearer" else "malformed"
                    auth_failures.record_failure(
                        token or authorization, address, auth_limits, reason=reason, now=now
                    )
                    raise
            elif cookie is not None:
                # A browser session (web_auth): CSRF and origin checked before any query; an
                # ended session is a 401 of its own, not a failed key (nothing to count).
                principal = cookie.principal(settings.sessions, now=now)
            if principal is not None:
                if tenant_header:
                    try:
                        principal = act_in_tenant(principal, tenant_header)
                    except DomainError as error:
                        raise TenantScopeError(error.code, str(error)) from error
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

    async def graphql(request: Request) -> Response:
        state = request.scope["state"]
        request_id = state["request_id"]
        if request.method == "GET":
            return graphiql.page(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json.", request_id)
        declared = request.headers.get("content-length")
        if (
            declared
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > settings.max_body_bytes
        ):
            return _error(413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # chunked bodies have no content-length to trust
            size += len(chunk)
            if size > settings.max_body_bytes:
                return _error(
                    413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id
                )
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        # ValueError: also a number of more than 4,300 digits (int's conversion limit).
        except (ValueError, RecursionError):
            return _error(400, "BAD_REQUEST", "The body is not valid JSON.", request_id)
        refused = screen_body(body)
        if refused:
            return _error(400, "BAD_REQUEST", refused, request_id)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not isinstance(body.get("variables") or {}, dict)
            or not isinstance(body.get("operationName") or "", str)
        ):
            return _error(
                400,
                "BAD_REQUEST",
                'Send {"query": "...", "variables": {...}, "operationName": "..."}.',
                request_id,
            )
        state["operation"] = operation_label(body)
        client = request.client
        try:
            result = await anyio.to_thread.run_sync(
                run_operation,
                body,
                request.headers.get("authorization"),
                client.host if client else "unknown",
                state,
                request.headers.get(TENANT_HEADER),
                web_auth.cookie_credential(request, settings.cors_origins),
            )
        except web_auth.CookieRefused as error:
            return web_auth.refused_response(error, request_id)
        except RateLimited as limited:
            return _error(
                429,
                "RATE_LIMITED",
                f"Too many failed authentications from this {limited.scope}; "
                f"retry after {limited.retry_after} s.",
                request_id,
                headers={"retry-after": str(limited.retry_after)},
            )
        except jwt_auth.JwtError as error:
            # RFC 6750: the challenge says why; only characters its grammar allows.
            said = "".join(c for c in error.description if " " <= c <= "~" and c not in '"\\')
            challenge = f'Bearer error="invalid_token", error_description="{said}"'
            return _error(
                401,
                "UNAUTHENTICATED",
                error.description,
                request_id,
                headers={"www-authenticate": challenge},
                reason=error.reason,
            )
        except jwt_auth.JwksUnavailable as error:
            return _error(
                503,
                "JWKS_UNAVAILABLE",
                "The identity provider's signing keys cannot be fetched; retry later "
                "(API keys are not affected).",
                request_id,
                headers={"retry-after": str(error.retry_after)},
            )
        except AuthenticationError:
            return _error(
                401,
                "UNAUTHENTICATED",
                "Invalid or revoked API key.",
                request_id,
                headers={"www-authenticate": 'Bearer error="invalid_token"'},
            )
        except TenantScopeError as error:
            status = 403 if error.code == "FORBIDDEN" else 404
            return _error(status, error.code, error.message, request_id)
        except BadRequest as error:
            return _error(400, "BAD_REQUEST", str(error), request_id)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id})
            return _error(
                500, "INTERNAL_ERROR", f"Internal error; quote request id {request_id}.", request_id
            )
        if result.get("errors"):
            state["errors"] = [e.get("extensions", {}).get("code") for e in result["errors"]]
        return JSONResponse(result)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        from commcredits.migrate import pending

        try:
            waiting = await anyio.to_thread.run_sync(pending)
        except Exception as exc:  # the probe reports, it does not crash
            log.warning(
                "readiness check failed: %s",
                type(exc).__name__,
                extra={"request_id": request.scope["state"]["request_id"]},
            )
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
        if waiting:
            return JSONResponse({"status": "migrations pending", "pending": waiting}, 503)
        return JSONResponse({"status": "ready"})

    def deliver_once() -> None:
        from commcredits.services import webhooks

        with database.db.connection_context():
            webhooks.deliver_due(now=clock())

    async def deliver_forever() -> None:
        # The outbox: notifications are written with the money, delivered here after commit.
        # Rows are claimed with a lease (SKIP LOCKED on PostgreSQL), so every worker may run it.
        while True:
            try:
                await anyio.to_thread.run_sync(deliver_once)
            except Exception:  # a bad run is logged; the next one tries again
                log.exception("webhook delivery run failed")
            await asyncio.sleep(settings.webhook_interval)

    def sweep_once() -> None:
        from commcredits.services import credits

        with database.db.connection_context():
            credits.reconcile_payments(
                now=clock(), older_than=dt.timedelta(seconds=settings.payment_sweep_age)
            )

    async def sweep_forever() -> None:
        # Charges a crash or a gateway timeout left PENDING are finished by asking the gateway
        # again with the invoice's key; settling is idempotent, so every worker may run it.
        while True:
            try:
                await anyio.to_thread.run_sync(sweep_once)
            except Exception:
                log.exception("payment sweep failed")
            await asyncio.sleep(settings.payment_sweep_interval)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = []
        if settings.webhook_interval > 0:
            tasks.append(asyncio.create_task(deliver_forever()))
        if settings.payment_sweep_interval > 0:
            tasks.append(asyncio.create_task(sweep_forever()))
        try:
            # Subscriptions' events: this process's broker, and its LISTEN on PostgreSQL.
            async with events.serving():
                yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            # graphql-transport-ws: subscriptions (and queries, mutations) over a websocket.
            WebSocketRoute(
                "/graphql",
                graphql_websocket(
                    settings=settings, clock=clock, verifier=verifier, auth_limits=auth_limits
                ),
            ),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *graphiql.routes(),
            *web_auth.routes(settings, clock, auth_limits),
        ],
        # RequestContext outermost: preflights get a request id and a log line too.
        middleware=[Middleware(RequestContext), *cors_middleware(settings.cors_origins)],
    )
