"""The Starlette app: GraphQL (GraphiQL on GET) at /graphql, health probes.

Each GraphQL request runs on a worker thread with its own pooled database connection, so
peewee's blocking calls never stall the event loop and requests proceed side by side.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from strawberry.http.ides import get_graphql_ide_html

from commcredits import db as database
from commcredits.clock import Clock, utcnow
from commcredits.config import Settings
from commcredits.execution import execute
from commcredits.services.access import AuthenticationError, authenticate

log = logging.getLogger("commcredits.http")


def _error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"x-request-id": request_id},
    )


def create_app(
    *, settings: Settings | None = None, clock: Clock = utcnow, bind_database: bool = True
) -> Starlette:
    """The ASGI app. `clock` gives every request its `now` (tests pass a fixed one)."""
    settings = settings or Settings.from_env()
    if bind_database:
        database.bind(settings.database_url)
    graphiql = get_graphql_ide_html("graphiql")

    def run_operation(body: dict[str, Any], authorization: str | None, request_id: str):
        with database.db.connection_context():
            now = clock()
            principal = None
            if authorization:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise AuthenticationError("use 'Authorization: Bearer <key>'")
                principal = authenticate(token, now=now)
            return execute(
                body["query"],
                body.get("variables") or None,
                body.get("operationName") or None,
                principal=principal,
                now=now,
                request_id=request_id,
            )

    async def graphql(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        if request.method == "GET":
            return HTMLResponse(graphiql, headers={"x-request-id": request_id})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json.", request_id)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _error(413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > settings.max_body_bytes:
                return _error(
                    413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id
                )
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "BAD_REQUEST", "The body is not valid JSON.", request_id)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not isinstance(body.get("variables") or {}, dict)
        ):
            return _error(
                400,
                "BAD_REQUEST",
                'Send {"query": "...", "variables": {...}, "operationName": "..."}.',
                request_id,
            )
        try:
            result = await anyio.to_thread.run_sync(
                run_operation, body, request.headers.get("authorization"), request_id
            )
        except AuthenticationError:
            return _error(401, "UNAUTHENTICATED", "Invalid or revoked API key.", request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return _error(
                500, "INTERNAL_ERROR", f"Internal error; quote request id {request_id}.", request_id
            )
        log.debug(
            "graphql %s in %.1f ms (request %s)",
            body.get("operationName") or "-",
            (time.perf_counter() - started) * 1000,
            request_id,
        )
        return JSONResponse(result, headers={"x-request-id": request_id})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        from commcredits.migrate import pending

        try:
            waiting = await anyio.to_thread.run_sync(pending)
        except Exception as exc:  # the probe reports, it does not crash
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
        if waiting:
            return JSONResponse({"status": "migrations pending", "pending": waiting}, 503)
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )
