"""Browser sign-in over HTTP: /auth/session, the one-time link page, and the session cookie as
a credential of /graphql (README "Browser sign-in with a session cookie").

- `POST /auth/session` with `{"key": "cck_…"}` or `{"token": "ccl_…"}` (a one-time link's)
  sets two cookies: `commcredits_session` (the session token: HttpOnly, so no script reads it)
  and `commcredits_csrf` (readable by the page's own script, which copies it into the
  `X-CSRF-Token` header: double submit). Both `SameSite=Strict; Path=/`, and `Secure` unless
  the request came over plain http to a loopback host (`make run`). Only JSON is accepted:
  a cross-site HTML form can send neither that content type nor the header, so no other site
  can sign a browser in (login CSRF) or act with its cookie.
- `GET /auth/session`: who is signed in; `DELETE /auth/session`: sign out (server-side).
- `GET /auth/link#<token>`: a page whose script (`/auth/link.js`, CSP `script-src 'self'`)
  reads the token from the URL fragment, which browsers never send to a server (so it is in
  no request line and no log), removes it from the address bar and history, and signs in.

A cookie is a credential only without an `Authorization` header (which always wins), and only
with the CSRF header and from this site or a listed CORS origin: every POST /graphql by cookie
needs the header, query or mutation, so nothing depends on parsing the operation first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from commcredits import db as database
from commcredits import http_errors
from commcredits.config import SessionSettings, Settings
from commcredits.services import auth_failures, sessions
from commcredits.services.access import AuthenticationError
from commcredits.services.auth_failures import AuthLimits, RateLimited
from commcredits.services.principal import Principal

SESSION_COOKIE = "commcredits_session"
CSRF_COOKIE = "commcredits_csrf"
CSRF_HEADER = "x-csrf-token"
MAX_SIGN_IN_BYTES = 4096  # a key or a token is under 100 characters
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class CookieRefused(Exception):
    """The session cookie cannot be used: 403 (CSRF_FAILED) or 401 (the session is over)."""

    def __init__(self, status: int, code: str, message: str, reason: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.reason = status, code, message, reason


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
    clear_cookies: bool = False,
) -> JSONResponse:
    """An error in the app's format (`http_errors`), optionally dropping the session cookies."""
    response = http_errors.error_response(
        status, code, message, request_id, headers=headers, reason=reason
    )
    if clear_cookies:
        clear_session_cookies(response)
    return response


def refused_response(error: CookieRefused, request_id: str) -> JSONResponse:
    # A session that is over is dropped by the browser too: the next page load signs in anew.
    return error_response(
        error.status,
        error.code,
        error.message,
        request_id,
        reason=error.reason,
        clear_cookies=error.status == 401,
    )


def not_json(request: Request, request_id: str) -> JSONResponse | None:
    """The 415 for a body that is not `application/json` (POST /graphql, POST /auth/session)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return None
    return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json.", request_id)


def rate_limited_response(error: RateLimited, request_id: str) -> JSONResponse:
    """The 429 for too many failed authentications (services.auth_failures)."""
    return error_response(
        429,
        "RATE_LIMITED",
        f"Too many failed authentications from this {error.scope}; "
        f"retry after {error.retry_after} s.",
        request_id,
        headers={"retry-after": str(error.retry_after)},
    )


# --- cookies --------------------------------------------------------------------------------


def cookie_secure(request: Request) -> bool:
    """`Secure` everywhere but plain http to a loopback host: a browser keeps a Secure cookie
    set over http only for localhost, and `make run` serves http on 127.0.0.1."""
    return not (request.url.scheme == "http" and request.url.hostname in LOOPBACK_HOSTS)


def set_session_cookies(response: Response, token: str, *, secure: bool, max_age: int) -> None:
    for name, value, httponly in (
        (SESSION_COOKIE, token, True),
        # Readable by the page's script (to copy into X-CSRF-Token); useless without the
        # HttpOnly session cookie it is derived from.
        (CSRF_COOKIE, sessions.csrf_token(token), False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=httponly,
            samesite="strict",
        )


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")


def foreign_origin(request: HTTPConnection, cors_origins: tuple[str, ...]) -> bool:
    """Whether the request comes from another site: an `Origin` that is neither this host nor
    a listed CORS origin, or (without Origin) `Sec-Fetch-Site: cross-site`. Browsers send
    Origin with every POST and DELETE, and with every websocket handshake (which can carry no
    CSRF header: for a websocket this check is the one that counts)."""
    origin = request.headers.get("origin")
    if origin is not None:
        if origin in cors_origins:
            return False
        # Host, not scheme: behind a TLS proxy the app may see http for an https page.
        return origin == "null" or urlsplit(origin).netloc.lower() != (
            request.headers.get("host", "").lower()
        )
    return request.headers.get("sec-fetch-site") == "cross-site"


@dataclass(frozen=True)
class CookieCredential:
    """A session cookie sent to /graphql, with what the CSRF check needs (no database yet)."""

    token: str
    csrf_sent: str | None
    foreign: bool

    def principal(self, settings: SessionSettings, *, now: dt.datetime) -> Principal:
        """The session's principal; CookieRefused before any query when the request is
        cross-site or lacks the CSRF token (so such a request reads and writes nothing)."""
        if self.foreign:
            raise CookieRefused(
                403, "CSRF_FAILED", "A request from another site cannot use the session cookie."
            )
        if not sessions.csrf_matches(self.token, self.csrf_sent):
            raise CookieRefused(
                403,
                "CSRF_FAILED",
                "Requests signed in by cookie need the X-CSRF-Token header "
                f"(the value of the {CSRF_COOKIE} cookie).",
            )
        try:
            return sessions.session_principal(self.token, settings, now=now).principal
        except sessions.SessionRefused as error:
            raise web_refusal(error) from error


def web_refusal(error: sessions.SessionRefused) -> CookieRefused:
    return CookieRefused(401, "UNAUTHENTICATED", str(error), error.reason)


def cookie_credential(
    request: HTTPConnection, cors_origins: tuple[str, ...]
) -> CookieCredential | None:
    """The session cookie as the request's credential, or None: no cookie, or an
    Authorization header (which takes precedence)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or request.headers.get("authorization") is not None:
        return None
    return CookieCredential(
        token=token,
        csrf_sent=request.headers.get(CSRF_HEADER),
        foreign=foreign_origin(request, cors_origins),
    )


# --- /auth/* ----------------------------------------------------------------------------------

LINK_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>commcredits — signing in</title>
  </head>
  <body>
    <p id="status">Signing in…</p>
    <noscript>Signing in with a link needs JavaScript.</noscript>
    <script src="link.js"></script>
  </body>
</html>
"""

# Relative URLs ("session", "../graphql"), so the page works under a proxy's path prefix too.
LINK_SCRIPT = """// Signs in with the one-time token of this page's URL fragment.
(function () {
  "use strict";
  var token = decodeURIComponent(window.location.hash.slice(1));
  // Out of the address bar and the history entry before anything else happens.
  history.replaceState(null, "", window.location.pathname + window.location.search);
  // Where to go once signed in: ?to=console opens the admin console, anything else GraphiQL.
  var to = new URLSearchParams(window.location.search).get("to");
  var next = to === "console" ? "../" : "../graphql";
  var status = document.getElementById("status");
  if (!token) {
    status.textContent = "This link has no sign-in token: run `commcredits sign-in-link`.";
    return;
  }
  fetch("session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: token }),
  })
    .then(function (response) {
      if (response.ok) {
        window.location.replace(next);
        return null;
      }
      return response.json().then(function (body) {
        var error = body && body.errors && body.errors[0];
        status.textContent = (error && error.message) || "Sign-in failed: " + response.status;
      });
    })
    .catch(function (error) {
      status.textContent = "Sign-in failed: " + error.message;
    });
})();
"""

PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def _signed_in_body(principal: Principal, expires_at: dt.datetime, idle_until: dt.datetime):
    tenant = principal.tenant
    return {
        "role": principal.role.value,
        "tenant": {"id": tenant.id, "name": tenant.name} if tenant else None,
        "keyPrefix": principal.key_prefix,
        "expiresAt": expires_at.isoformat(),
        "idleExpiresAt": idle_until.isoformat(),
    }


def routes(
    settings: Settings, clock: Callable[[], dt.datetime], auth_limits: AuthLimits
) -> list[Route]:
    """The /auth/* routes of an app with these settings, clock and failure limits."""
    config = settings.sessions

    def sign_in(credential: dict[str, str], address: str) -> sessions.SignedIn:
        with database.db.connection_context():
            now = clock()
            kind, secret = next(iter(credential.items()))
            try:
                if kind == "key":
                    return sessions.sign_in_with_key(secret, config, now=now)
                return sessions.sign_in_with_link(secret, config, now=now)
            except AuthenticationError:
                # Counted like a bad bearer key: audited, and 429 past the limits.
                reason = "unknown" if kind == "key" else "sign-in link"
                auth_failures.record_failure(secret, address, auth_limits, reason=reason, now=now)
                raise

    async def post_session(request: Request, request_id: str) -> Response:
        wrong_type = not_json(request, request_id)
        if wrong_type is not None:
            return wrong_type
        if foreign_origin(request, settings.cors_origins):
            return error_response(
                403, "CSRF_FAILED", "Signing in from another site is refused.", request_id
            )
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SIGN_IN_BYTES:
                return error_response(
                    413, "PAYLOAD_TOO_LARGE", "The request body is too large.", request_id
                )
        try:
            parsed: Any = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None
        given = (
            {k: v for k, v in parsed.items() if k in ("key", "token")}
            if isinstance(parsed, dict)
            else {}
        )
        if len(given) != 1 or not all(isinstance(v, str) and v.strip() for v in given.values()):
            return error_response(
                400,
                "BAD_REQUEST",
                'Send {"key": "cck_…"} or {"token": "<link token>"}.',
                request_id,
            )
        client = request.client
        try:
            signed = await anyio.to_thread.run_sync(
                sign_in, given, client.host if client else "unknown"
            )
        except RateLimited as limited:
            return rate_limited_response(limited, request_id)
        except AuthenticationError:
            what = "API key" if "key" in given else "sign-in link (unknown, used or expired)"
            return error_response(401, "UNAUTHENTICATED", f"Invalid {what}.", request_id)
        principal = signed.principal
        state = request.scope["state"]
        state["key"] = principal.key_prefix
        state["tenant"] = principal.tenant.id if principal.tenant else None
        now = clock()
        idle_until = now + dt.timedelta(seconds=config.idle)
        response = JSONResponse(_signed_in_body(principal, signed.expires_at, idle_until))
        set_session_cookies(
            response, signed.token, secure=cookie_secure(request), max_age=int(config.lifetime)
        )
        response.headers["cache-control"] = "no-store"
        return response

    def current(token: str) -> sessions.ActiveSession:
        with database.db.connection_context():
            return sessions.session_principal(token, config, now=clock())

    async def get_session(request: Request, request_id: str) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return error_response(401, "UNAUTHENTICATED", "Not signed in.", request_id)
        if foreign_origin(request, settings.cors_origins):
            message = "A request from another site cannot use the session cookie."
            return error_response(403, "CSRF_FAILED", message, request_id)
        try:
            active = await anyio.to_thread.run_sync(current, token)
        except sessions.SessionRefused as error:
            refused = web_refusal(error)
            return refused_response(refused, request_id)
        body = _signed_in_body(active.principal, active.expires_at, active.idle_until)
        return JSONResponse(body, headers={"cache-control": "no-store"})

    def end(token: str) -> None:
        with database.db.connection_context():
            sessions.sign_out(token, now=clock())

    async def delete_session(request: Request, request_id: str) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            if foreign_origin(request, settings.cors_origins) or not sessions.csrf_matches(
                token, request.headers.get(CSRF_HEADER)
            ):
                return error_response(
                    403, "CSRF_FAILED", "Signing out needs the X-CSRF-Token header.", request_id
                )
            await anyio.to_thread.run_sync(end, token)
        response = Response(status_code=204)
        clear_session_cookies(response)
        return response

    async def session(request: Request) -> Response:
        request_id = request.scope["state"]["request_id"]
        handler = {
            "POST": post_session,
            "GET": get_session,
            "HEAD": get_session,
            "DELETE": delete_session,
        }
        return await handler[request.method](request, request_id)

    async def link_page(request: Request) -> Response:
        return HTMLResponse(LINK_PAGE, headers=PAGE_HEADERS)

    async def link_script(request: Request) -> Response:
        return Response(
            LINK_SCRIPT,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )

    return [
        Route("/auth/session", session, methods=["GET", "POST", "DELETE"]),
        Route("/auth/link", link_page, methods=["GET"]),
        Route("/auth/link.js", link_script, methods=["GET"]),
    ]
