"""CORS for the origins in COMMCREDITS_CORS_ORIGINS, and nothing for any other.

Starlette's CORSMiddleware does the protocol; this subclass narrows what an origin that is not
listed gets. Starlette answers such a preflight with the allowed methods and headers (only
`Access-Control-Allow-Origin` left out) and adds `Access-Control-Allow-Credentials` to every
response that has an `Origin`, listed or not. Here an unlisted origin gets no CORS header at
all (its preflight: 400 and `Vary: Origin`), so credentials are only ever allowed for listed
origins. With no origin listed the middleware is not installed: same origin only.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Send

ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")  # DELETE: sign-out (/auth/session)
ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-CSRF-Token",
    "X-Request-Id",
    "X-Commcredits-Tenant",
)
EXPOSE_HEADERS = ("X-Request-Id",)
MAX_AGE = 600  # seconds a browser may cache a preflight's answer


def _add_vary_origin(headers: MutableHeaders) -> None:
    vary = [v.strip() for value in headers.getlist("vary") for v in value.split(",")]
    if "origin" not in {v.lower() for v in vary}:
        headers["vary"] = ", ".join([*filter(None, vary), "Origin"])


class ListedOriginsCORS(CORSMiddleware):
    """CORSMiddleware that says nothing at all to origins it does not list."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            return PlainTextResponse(
                "Disallowed CORS origin", status_code=400, headers={"vary": "Origin"}
            )
        return super().preflight_response(request_headers)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        message.setdefault("headers", [])
        headers = MutableHeaders(scope=message)
        origin = request_headers.get("origin")
        if origin is not None and self.is_allowed_origin(origin=origin):
            headers.update(self.simple_headers)
            headers["access-control-allow-origin"] = origin
        # Always: a cache must not hand one origin's answer to another.
        _add_vary_origin(headers)
        await send(message)


def cors_middleware(origins: tuple[str, ...]) -> list[Middleware]:
    """The middleware for the app's list: none when no origin is listed."""
    if not origins:
        return []
    return [
        Middleware(
            ListedOriginsCORS,
            allow_origins=origins,
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=True,  # only ever sent to the listed origins (see above)
            expose_headers=EXPOSE_HEADERS,
            max_age=MAX_AGE,
        )
    ]
