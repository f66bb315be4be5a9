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
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from commcredits import db as database
from commcredits.clock import Clock, utcnow
from commcredits.config import Settings
from commcredits.execution import execute
from commcredits.logs import request_line
from commcredits.services import auth_failures
from commcredits.services.access import AuthenticationError, act_in_tenant, authenticate
from commcredits.services.auth_failures import AuthLimits, RateLimited
from commcredits.services.errors import DomainError

log = logging.getLogger("commcredits.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_OPERATION_NAME = re.compile(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def _error(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
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


WELCOME_QUERY = """# commcredits — GraphQL API
#
# Put your key in the Headers tab: {"Authorization": "Bearer cck_…"}
# (`make run` prints a link that sets it). Ctrl-Enter runs; Ctrl-Space completes.
# The Docs and Explorer panes list every query and mutation.

query Overview {
  viewer { role tenant { name currency agreementType } }
  tenant {
    balance { amount currency lots(first: 5) { nodes { remaining { amount } expiresAt } } }
    autoRecharge { enabled rechargeAmount triggerBalance }
  }
  subscribedSkus { skuPartNumber consumedUnits availableUnits }
  users(first: 10) {
    totalCount
    nodes { userPrincipalName usageLocation assignedLicenses { skuPartNumber } }
  }
}
"""


def graphiql_page() -> str:
    """Strawberry's GraphiQL page, opening on a query about the caller's tenant."""
    html = get_graphql_ide_html("graphiql")
    start = html.find("const EXAMPLE_QUERY = `")
    end = html.find("`;", start)
    if start < 0 or end < 0:  # another Strawberry page layout: serve it as it is
        return html
    escaped = WELCOME_QUERY.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${")
    return html[:start] + "const EXAMPLE_QUERY = `" + escaped + html[end:]


MAX_JSON_DEPTH = 64  # far past any real variables; the cost estimator recurses through them
_NUL_ESCAPE = re.compile(r"\\u(?:0000|\{0+\})")


def screen_body(body: object) -> str | None:
    """Why a decoded request body is refused before anything runs, or None: JSON nested past
    MAX_JSON_DEPTH, or a NUL character in any text (PostgreSQL cannot store one, and no name,
    key or reference has one), in the variables or as an escape in the query."""
    stack: list[tuple[object, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
        if isinstance(value, str):
            if "\x00" in value:
                return "NUL characters are not accepted in any text."
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
    if bind_database:
        database.bind(settings.database_url)
    graphiql = graphiql_page()

    def run_operation(
        body: dict[str, Any],
        authorization: str | None,
        address: str,
        state: dict[str, Any],
        tenant_header: str | None = None,
    ) -> dict[str, Any]:
        with database.db.connection_context():
            now = clock()
            principal = None
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                try:
                    if scheme.lower() != "bearer" or not token.strip():
                        raise AuthenticationError("use 'Authorization: Bearer <key>'")
                    principal = authenticate(token, now=now)
                except AuthenticationError:
                    reason = "unknown" if scheme.lower() == "bearer" else "malformed"
                    auth_failures.record_failure(
                        token or authorization, address, auth_limits, reason=reason, now=now
                    )
                    raise
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
                raise BadRequest(error.as_http_error_reason("POST")) from error

    async def graphql(request: Request) -> Response:
        state = request.scope["state"]
        request_id = state["request_id"]
        if request.method == "GET":
            return HTMLResponse(graphiql)
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
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
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
            )
        except RateLimited as limited:
            return _error(
                429,
                "RATE_LIMITED",
                f"Too many failed authentications from this {limited.scope}; "
                f"retry after {limited.retry_after} s.",
                request_id,
                headers={"retry-after": str(limited.retry_after)},
            )
        except AuthenticationError:
            return _error(401, "UNAUTHENTICATED", "Invalid or revoked API key.", request_id)
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
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        middleware=[Middleware(RequestContext)],
    )
