"""Browser sign-in with a session cookie (issue 13, item 3): sign-in with a key or a one-time
link, the cookie's attributes, CSRF, cross-site refusals, timeouts, sign-out and revocation —
against a real uvicorn server, and with a frozen clock over the ASGI app for the timeouts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from commcredits import db as database
from commcredits.app import create_app
from commcredits.config import ConfigError, SessionSettings, Settings
from commcredits.models import AuditEntry, User
from commcredits.models.security import AuthFailure, BrowserSession
from commcredits.services.access import SYSTEM, Role, create_api_key, revoke_api_key
from commcredits.services.sessions import LAST_SEEN_RESOLUTION, create_sign_in_link
from commcredits.web_auth import CSRF_COOKIE, SESSION_COOKIE, cookie_secure, set_session_cookies
from tests.live_server import LiveServer, live_server

VIEWER = "{ viewer { role tenant { name } } }"
CREATE_USER = """mutation($upn: String!) { createUser(input: {userPrincipalName: $upn,
  usageLocation: "DE"}) { user { id } userErrors { code } } }"""
LIVE_ENV = {"COMMCREDITS_AUTH_FAILURES_PER_ADDRESS": "1000"}
EVIL = "https://evil.example"


def wall_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, set[str]]]:
    """name -> (value, lower-cased attributes such as 'httponly', 'samesite=strict')."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = pair.partition("=")
        found[name] = (value.strip('"'), {a.lower() for a in attributes})
    return found


@dataclasses.dataclass
class Browser:
    """A browser's view of one session: its two cookies, sent by hand so replays are exact."""

    http: httpx.Client
    session: str = ""
    csrf: str = ""

    def sign_in(self, **credential: str) -> httpx.Response:
        response = self.http.post("/auth/session", json=credential)
        self.http.cookies.clear()  # cookies go by hand (`cookie()`), never from the client's jar
        if response.status_code == 200:
            cookies = set_cookies(response)
            self.session, self.csrf = cookies[SESSION_COOKIE][0], cookies[CSRF_COOKIE][0]
        return response

    def cookie(self) -> str:
        return f"{SESSION_COOKIE}={self.session}; {CSRF_COOKIE}={self.csrf}"

    def post(
        self, query: str, variables: dict | None = None, *, csrf: str | None = "same", **headers
    ) -> httpx.Response:
        sent = {"cookie": self.cookie(), **headers}
        if csrf is not None:
            sent["x-csrf-token"] = self.csrf if csrf == "same" else csrf
        body = {"query": query, "variables": variables or {}}
        return self.http.post("/graphql", json=body, headers=sent)

    def data(self, query: str, variables: dict | None = None) -> dict:
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        return response.json()["data"]


def error_of(response: httpx.Response) -> dict:
    return response.json()["errors"][0]["extensions"]


@contextmanager
def server(db_url: str, tmp_path, **env: str) -> Iterator[tuple[httpx.Client, LiveServer]]:
    with (
        live_server(db_url, tmp_path, extra_env={**LIVE_ENV, **env}) as running,
        httpx.Client(base_url=running.url, timeout=20) as http,
    ):
        yield http, running


def written() -> tuple[int, int]:
    """What a refused mutation must not have changed: users and audit entries."""
    return User.select().count(), AuditEntry.select().count()


# --- a real server ----------------------------------------------------------------------------


def test_a_key_signs_a_browser_in_and_mutations_need_the_csrf_token(db_url, keys, tmp_path):
    with server(db_url, tmp_path) as (http, running):
        browser = Browser(http)
        response = browser.sign_in(key=keys["GLOBAL_ADMIN"])
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "GLOBAL_ADMIN"
        assert response.json()["tenant"]["name"] == "Fabrikam"
        cookies = set_cookies(response)
        session_attrs, csrf_attrs = cookies[SESSION_COOKIE][1], cookies[CSRF_COOKIE][1]
        assert {"httponly", "samesite=strict", "path=/"} <= session_attrs
        assert "secure" not in session_attrs  # plain http on loopback (`make run`)
        assert {"samesite=strict", "path=/"} <= csrf_attrs and "httponly" not in csrf_attrs
        assert "max-age=43200" in session_attrs
        assert browser.session != browser.csrf and len(browser.session) >= 43
        assert BrowserSession.select().count() == 1
        assert BrowserSession.get().token_hash != browser.session  # only the hash is stored

        assert browser.data(VIEWER)["viewer"] == {
            "role": "GLOBAL_ADMIN",
            "tenant": {"name": "Fabrikam"},
        }
        who = http.get("/auth/session", headers={"cookie": browser.cookie()})
        assert who.status_code == 200 and who.json()["role"] == "GLOBAL_ADMIN"

        # Without the CSRF token, or with another one, nothing runs (queries neither).
        other = Browser(http)
        assert other.sign_in(key=keys["READER"]).status_code == 200
        before = written()
        upn = {"upn": "mallory@fabrikam.example"}
        for csrf in (None, "", "x" * 43, browser.session):
            refused = browser.post(CREATE_USER, upn, csrf=csrf)
            assert refused.status_code == 403, refused.text
            assert error_of(refused) == {"code": "CSRF_FAILED"}
        assert browser.post(VIEWER, csrf=None).status_code == 403
        # Another browser's (valid) token does not fit this session either.
        assert browser.post(CREATE_USER, upn, csrf=other.csrf).status_code == 403
        assert written() == before

        # A cross-site form post, and a cross-site request that even knew the token: refused.
        form = {"cookie": browser.cookie(), "origin": EVIL, "sec-fetch-site": "cross-site"}
        query = 'mutation { createUser(input: {userPrincipalName: "m@x.example"}) { user { id } } }'
        part = f'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{query}\r\n--x--\r\n'
        for content_type, body in (
            ("application/x-www-form-urlencoded", f"query={query}"),
            ("text/plain", '{"query": "' + query.replace('"', '\\"') + '"}'),
            ("multipart/form-data; boundary=x", part),
        ):
            sent = http.post(
                "/graphql", content=body, headers={**form, "content-type": content_type}
            )
            assert sent.status_code == 415, (content_type, sent.text)
        foreign = browser.post(CREATE_USER, upn, origin=EVIL)
        assert foreign.status_code == 403 and error_of(foreign) == {"code": "CSRF_FAILED"}
        assert browser.post(CREATE_USER, upn, **{"sec-fetch-site": "cross-site"}).status_code == 403
        assert browser.post(VIEWER, origin="null").status_code == 403
        assert written() == before

        # With the token, from this site: the mutation runs, attributed to the key.
        own_origin = running.url
        made = browser.post(
            CREATE_USER, upn, origin=own_origin, **{"sec-fetch-site": "same-origin"}
        )
        assert made.status_code == 200 and made.json()["data"]["createUser"]["userErrors"] == []
        entry = AuditEntry.get(AuditEntry.action == "createUser")
        assert entry.actor.startswith("key cck_") and entry.actor_key_id is not None

        # An Authorization header takes precedence over the cookie.
        as_reader = browser.post(VIEWER, authorization=f"Bearer {keys['READER']}", csrf=None)
        assert as_reader.json()["data"]["viewer"]["role"] == "READER"

        # Sign-out needs the token too; then the cookie's value is dead, even replayed.
        refused = http.delete("/auth/session", headers={"cookie": browser.cookie()})
        assert refused.status_code == 403
        out = http.delete(
            "/auth/session", headers={"cookie": browser.cookie(), "x-csrf-token": browser.csrf}
        )
        assert out.status_code == 204
        cleared = set_cookies(out)
        assert cleared[SESSION_COOKIE][0] == "" and "max-age=0" in cleared[SESSION_COOKIE][1]
        replayed = browser.post(VIEWER)
        assert replayed.status_code == 401, replayed.text
        assert error_of(replayed)["reason"] in ("SESSION_REVOKED", "SESSION_UNKNOWN")
        assert set_cookies(replayed)[SESSION_COOKIE][0] == ""  # the browser drops it too
        assert http.get("/auth/session", headers={"cookie": browser.cookie()}).status_code == 401
        assert other.data(VIEWER)["viewer"]["role"] == "READER"  # other sessions live on
        assert {"signIn", "signOut"} <= {e.action for e in AuditEntry.select()}

    # No secret in the request log: paths only, never a cookie or a token.
    log = running.log_path.read_text()
    assert browser.session not in log and browser.csrf not in log
    assert keys["GLOBAL_ADMIN"] not in log


def test_revoking_the_key_ends_its_sessions(db_url, tenant, clock, tmp_path):
    key, secret = create_api_key(SYSTEM, role=Role.BILLING_ADMIN, tenant=tenant, now=clock())
    with server(db_url, tmp_path) as (http, _):
        browser = Browser(http)
        assert browser.sign_in(key=secret).status_code == 200
        assert browser.data(VIEWER)["viewer"]["role"] == "BILLING_ADMIN"
        revoke_api_key(SYSTEM, key.id, now=wall_now())
        ended = browser.post(VIEWER)
        assert ended.status_code == 401 and error_of(ended)["reason"] == "SESSION_REVOKED"
        # A revoked key cannot sign in again either (and counts as a failure).
        assert browser.sign_in(key=secret).status_code == 401


def test_a_one_time_link_signs_in_once(db_url, keys, tmp_path):
    sessions = SessionSettings()
    link = create_sign_in_link(keys["LICENSE_ADMIN"], sessions, now=wall_now())
    two_hours_ago = wall_now() - dt.timedelta(hours=2)
    stale = create_sign_in_link(keys["LICENSE_ADMIN"], sessions, now=two_hours_ago)
    assert link.startswith("ccl_") and keys["LICENSE_ADMIN"] not in link
    with server(db_url, tmp_path) as (http, running):
        # The page: its token stays in the fragment, its script is its own (CSP 'self').
        page = http.get("/auth/link")
        assert page.status_code == 200 and '<script src="link.js">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        script = http.get("/auth/link.js")
        assert script.status_code == 200 and "location.hash" in script.text
        assert "history.replaceState" in script.text

        browser = Browser(http)
        first = browser.sign_in(token=link)
        assert first.status_code == 200, first.text
        assert browser.data(VIEWER)["viewer"]["role"] == "LICENSE_ADMIN"
        again = Browser(http).sign_in(token=link)
        assert again.status_code == 401 and error_of(again) == {"code": "UNAUTHENTICATED"}
        expired = Browser(http).sign_in(token=stale)
        assert expired.status_code == 401
        assert Browser(http).sign_in(token="ccl_" + "A" * 43).status_code == 401
        reasons = [
            e.after["reason"]
            for e in AuditEntry.select().where(AuditEntry.action == "authenticationFailed")
        ]
        assert reasons.count("sign-in link") == 3
    log = running.log_path.read_text()
    assert link not in log and stale not in log


def test_refused_sign_ins(db_url, keys, tmp_path):
    with server(db_url, tmp_path, COMMCREDITS_AUTH_FAILURES_PER_ADDRESS="3") as (http, _):
        before = AuthFailure.select().count()
        wrong = http.post("/auth/session", json={"key": "cck_" + "x" * 43})
        assert wrong.status_code == 401 and error_of(wrong) == {"code": "UNAUTHENTICATED"}
        assert "set-cookie" not in wrong.headers
        assert AuthFailure.select().count() == before + 1  # counted like a bad bearer key
        # Only JSON: a form cannot sign a browser in (login CSRF), nor can another site.
        for content_type in ("application/x-www-form-urlencoded", "text/plain", ""):
            form = http.post(
                "/auth/session",
                content=f"key={keys['READER']}",
                headers={"content-type": content_type},
            )
            assert form.status_code == 415, content_type
        foreign = http.post("/auth/session", json={"key": keys["READER"]}, headers={"origin": EVIL})
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        for body in ({}, {"key": 1}, {"key": ""}, {"key": "a", "token": "b"}, ["key"]):
            assert http.post("/auth/session", json=body).status_code == 400, body
        big = http.post("/auth/session", json={"key": "x" * 5000})
        assert big.status_code == 413
        assert http.post("/auth/session", json={"key": "cck_wrong2"}).status_code == 401
        assert http.post("/auth/session", json={"key": "cck_wrong3"}).status_code == 401
        limited = http.post("/auth/session", json={"key": "cck_wrong4"})
        assert limited.status_code == 429 and limited.headers["retry-after"]
        # Not signed in: the session endpoint says so; signing out is harmless.
        assert http.get("/auth/session").status_code == 401
        assert http.delete("/auth/session").status_code == 204


# --- the ASGI app with a frozen clock: timeouts ------------------------------------------------


@pytest.fixture
def frozen(db_url, clock) -> Iterator[TestClient]:
    settings = dataclasses.replace(
        Settings.from_env(), sessions=SessionSettings(idle=1800, lifetime=7200)
    )
    app = create_app(settings=settings, clock=clock, bind_database=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_idle_and_absolute_timeouts(frozen, keys, clock):
    browser = Browser(frozen)  # type: ignore[arg-type]
    assert browser.sign_in(key=keys["READER"]).status_code == 200
    for _ in range(2):  # used every 29 minutes: the idle timeout never strikes
        clock.advance(minutes=29)
        assert browser.data(VIEWER)["viewer"]["role"] == "READER"
    clock.advance(minutes=30, seconds=1)
    idle = browser.post(VIEWER)
    assert idle.status_code == 401 and error_of(idle)["reason"] == "SESSION_EXPIRED"

    assert browser.sign_in(key=keys["READER"]).status_code == 200
    for _ in range(4):  # in use all along, it still ends two hours after sign-in
        clock.advance(minutes=29)
        assert browser.data(VIEWER)["viewer"]["role"] == "READER"
    clock.advance(minutes=5)
    ended = browser.post(VIEWER)
    assert ended.status_code == 401 and error_of(ended)["reason"] == "SESSION_EXPIRED"


def test_an_open_live_page_does_not_keep_an_idle_session_alive(db_url, keys, clock, monkeypatch):
    """A console tab left open on a live page: its socket is re-checked every few seconds,
    which is not a use of the session, so the idle timeout still ends it."""
    monkeypatch.setenv("COMMCREDITS_WS_RECHECK_SECONDS", "0.1")
    settings = dataclasses.replace(
        Settings.from_env(), sessions=SessionSettings(idle=1800, lifetime=7200)
    )
    app = create_app(settings=settings, clock=clock, bind_database=False)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        browser = Browser(http)  # type: ignore[arg-type]
        assert browser.sign_in(key=keys["READER"]).status_code == 200
        headers = {"cookie": browser.cookie(), "origin": "http://testserver"}  # its ws host
        with http.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers=headers
        ) as socket:
            socket.send_json({"type": "connection_init", "payload": {}})
            assert socket.receive_json() == {"type": "connection_ack"}
            for _ in range(3):  # 30 minutes and a second, re-checked all along
                clock.advance(minutes=10, seconds=1)
                time.sleep(0.4)
            idle = browser.post(VIEWER)
        assert idle.status_code == 401 and error_of(idle)["reason"] == "SESSION_EXPIRED"


def test_an_operator_session_looks_into_a_tenant_with_the_header(frozen, keys, tenant):
    browser = Browser(frozen)  # type: ignore[arg-type]
    assert browser.sign_in(key=keys["OPERATOR"]).json()["tenant"] is None
    assert browser.data(VIEWER)["viewer"] == {"role": "OPERATOR", "tenant": None}
    looked = browser.post(VIEWER, **{"x-commcredits-tenant": tenant.name})
    assert looked.json()["data"]["viewer"]["tenant"] == {"name": "Fabrikam"}
    assert browser.post(VIEWER, **{"x-commcredits-tenant": "Nowhere"}).status_code == 404


def test_the_last_seen_stamp_is_written_once_a_minute_at_most(frozen, keys, clock):
    browser = Browser(frozen)  # type: ignore[arg-type]
    assert browser.sign_in(key=keys["READER"]).status_code == 200
    with database.count_statements() as statements:
        clock.advance(seconds=30)
        browser.data(VIEWER)
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    with database.count_statements() as statements:
        clock.advance(seconds=LAST_SEEN_RESOLUTION.total_seconds())
        browser.data(VIEWER)
    updates = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    assert len(updates) == 1 and 'UPDATE "browser_session"' in updates[0], updates


# --- cookie attributes and settings -----------------------------------------------------------


def _request(host: str, scheme: str = "http") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "path": "/auth/session",
            "query_string": b"",
            "headers": [(b"host", host.encode())],
            "server": (host.split(":")[0], 443),
        }
    )


def test_the_cookie_is_secure_except_over_http_on_loopback():
    assert not cookie_secure(_request("127.0.0.1:8000"))
    assert not cookie_secure(_request("localhost:8000"))
    assert not cookie_secure(_request("[::1]:8000"))
    assert cookie_secure(_request("credits.example"))
    assert cookie_secure(_request("credits.example", "https"))
    assert cookie_secure(_request("127.0.0.1:8443", "https"))
    response = Response()
    set_session_cookies(response, "token", secure=True, max_age=60)
    headers = response.headers.getlist("set-cookie")
    assert len(headers) == 2, headers  # the session and the CSRF cookie
    for header in headers:
        assert "; secure" in header.lower() and "samesite=strict" in header.lower()


def test_a_non_loopback_host_gets_a_secure_cookie(client, keys):
    response = client.post("/auth/session", json={"key": keys["READER"]})  # Host: testserver
    assert response.status_code == 200
    cookies = set_cookies(response)
    assert set(cookies) == {SESSION_COOKIE, CSRF_COOKIE}, cookies
    for _value, attributes in cookies.values():
        assert "secure" in attributes


def test_session_settings_are_checked(monkeypatch):
    monkeypatch.setenv("COMMCREDITS_SESSION_IDLE_SECONDS", "30")
    with pytest.raises(ConfigError, match="IDLE"):
        Settings.from_env()
    monkeypatch.setenv("COMMCREDITS_SESSION_IDLE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="not a number"):
        Settings.from_env()
    monkeypatch.setenv("COMMCREDITS_SESSION_IDLE_SECONDS", "600")
    monkeypatch.setenv("COMMCREDITS_SESSION_LIFETIME_SECONDS", "7200")
    monkeypatch.setenv("COMMCREDITS_SIGN_IN_LINK_SECONDS", "60")
    assert Settings.from_env().sessions == SessionSettings(idle=600, lifetime=7200, link_ttl=60)


# --- a real browser -----------------------------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_a_link_signs_chromium_in_and_graphiql_mutates_with_the_cookie(
    db_url, keys, tmp_path, monkeypatch
):
    """The `make run` path end to end: the link page signs in from the fragment, leaves no
    token in the address bar, and GraphiQL (empty Headers tab) sends the CSRF header itself."""
    from selenium.webdriver.common.by import By

    from tests.test_graphiql import RESULT, chromium, run_operation, wait_for

    monkeypatch.setenv("SE_OFFLINE", "true")
    link = create_sign_in_link(keys["GLOBAL_ADMIN"], SessionSettings(), now=wall_now())
    with live_server(db_url, tmp_path) as running:
        driver = chromium(tmp_path)
        try:
            driver.set_page_load_timeout(30)
            driver.get(f"{running.url}/auth/link#{link}")
            wait_for(
                lambda: driver.current_url == running.url + "/graphql",
                20,
                f"the link page did not go on to GraphiQL: {driver.current_url}",
            )
            wait_for(
                lambda: driver.find_elements(By.CSS_SELECTOR, ".graphiql-query-editor .CodeMirror"),
                20,
                "GraphiQL did not start",
            )
            cookies = {c["name"]: c for c in driver.get_cookies()}
            assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == (
                "Strict"
            )
            assert not cookies[CSRF_COOKIE]["httpOnly"]
            # The link's entry in history was replaced: going back shows no token.
            assert link not in driver.execute_script("return document.referrer + location.href")
            mutation = (
                'mutation Add { createUser(input: {userPrincipalName: "chromium@fabrikam.example"'
                ', usageLocation: "DE"}) { user { userPrincipalName } userErrors { code } } }'
            )
            run_operation(driver, "Add", mutation)
            text = wait_for(
                lambda: "userErrors" in (t := driver.execute_script(RESULT)) and t,
                20,
                "no result in the response pane",
            )
            assert json.loads(text)["data"]["createUser"]["userErrors"] == [], text
            assert User.get(User.user_principal_name == "chromium@fabrikam.example")
        finally:
            driver.quit()
    assert link not in running.log_path.read_text()
