"""Error bodies in the one format every HTTP answer of ours uses (GraphQL's `errors` list)."""

from __future__ import annotations

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
