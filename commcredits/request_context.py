"""The outermost middleware: a request id on every answer, one log line per request, and a
last-resort 500 in our error format."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commcredits import metrics
from commcredits.http_errors import error_response
from commcredits.logs import request_line

log = logging.getLogger("commcredits.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestContext:
    """Pure ASGI middleware: request id, the per-request log line, and a last-resort 500.

    Handlers put `tenant`, `key`, `operation`, `errors` (and `statements`) into
    `scope["state"]` for the line and the metrics (`commcredits.metrics.observe_request`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        # A client's id is kept only if it is harmless in a header and a log line.
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
            with metrics.in_progress():
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if status == 0:  # nothing sent yet: answer in our format, not a bare 500 page
                await error_response(
                    500,
                    "INTERNAL_ERROR",
                    f"Internal error; quote request id {request_id}.",
                    request_id,
                )(scope, receive, send_with_id)
            status = status or 500
        finally:
            client = scope.get("client")
            seconds = time.perf_counter() - started
            metrics.observe_request(scope, status, seconds)
            request_line(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 2),
                client=client[0] if client else None,
                tenant=state.get("tenant"),
                key=state.get("key"),
                operation=state.get("operation"),
                errors=state.get("errors"),
            )
