"""Error bodies in the one format every HTTP answer of ours uses (GraphQL's `errors` list)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> JSONResponse:
    """`{"errors": [{"message", "extensions": {"code", "reason"?}}]}` with the request id.

    Clients read failures the same way whether GraphQL or the HTTP layer refused the request.
    """
    extensions = {"code": code} | ({"reason": reason} if reason else {})
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        headers={"x-request-id": request_id, **(headers or {})},
    )


async def method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's 405 (a method no route of the address takes) in our format, with `Allow`."""
    allow = (exc.headers or {}).get("Allow", "")
    state = request.scope.get("state") or {}
    return error_response(
        405,
        "METHOD_NOT_ALLOWED",
        f"{request.method} is not taken here" + (f"; use {allow}." if allow else "."),
        state.get("request_id", ""),
        headers={"Allow": allow} if allow else None,
    )
