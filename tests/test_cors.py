"""CORS (issue 13, item 2) against a real uvicorn server: listed origins get the protocol,
credentials included; any other origin gets no CORS header at all; no setting, no CORS."""

from __future__ import annotations

import httpx
import pytest

from commcredits import cli
from commcredits.config import ConfigError, Settings
from tests.live_server import live_server

CONSOLE = "https://console.example"
DEV = "http://localhost:5173"
EVIL = "https://evil.example"
VIEWER = {"query": "{ viewer { role } }"}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def varies_by_origin(response: httpx.Response) -> bool:
    values = ",".join(response.headers.get_list("vary"))
    return "origin" in {v.strip().lower() for v in values.split(",")}


def preflight(http: httpx.Client, origin: str, headers: str = "authorization, content-type"):
    return http.options(
        "/graphql",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": headers,
        },
    )


def test_listed_origins_get_cors_and_no_other_does(db_url, keys, tmp_path):
    env = {"COMMCREDITS_CORS_ORIGINS": f"{CONSOLE}, {DEV}"}
    with (
        live_server(db_url, tmp_path, extra_env=env) as server,
        httpx.Client(base_url=server.url, timeout=20) as http,
    ):
        for origin in (CONSOLE, DEV):
            answer = preflight(http, origin, "authorization, content-type, x-csrf-token")
            assert answer.status_code == 200, answer.text
            got = cors_headers(answer)
            assert got["access-control-allow-origin"] == origin
            assert got["access-control-allow-credentials"] == "true"
            methods = {m.strip() for m in got["access-control-allow-methods"].split(",")}
            assert {"GET", "POST", "OPTIONS"} <= methods
            allowed = {h.strip().lower() for h in got["access-control-allow-headers"].split(",")}
            assert {
                "authorization",
                "content-type",
                "x-csrf-token",
                "x-request-id",
                "x-commcredits-tenant",
            } <= allowed
            assert got["access-control-max-age"] == "600"
            assert varies_by_origin(answer)

        # An unlisted origin: not a single CORS header, so the browser blocks the request.
        for origin in (EVIL, "null", CONSOLE + ":8443", CONSOLE.replace("https", "http")):
            answer = preflight(http, origin)
            assert answer.status_code == 400 and cors_headers(answer) == {}, origin
            assert varies_by_origin(answer)
        # A listed origin asking for a header that is not allowed: refused as well.
        assert preflight(http, CONSOLE, "x-something-else").status_code == 400

        # Simple (actual) requests: the listed origin may read the answer, with credentials.
        bearer = {"authorization": f"Bearer {keys['READER']}"}
        listed = http.post("/graphql", json=VIEWER, headers={**bearer, "origin": CONSOLE})
        assert listed.status_code == 200 and listed.json()["data"]["viewer"]["role"] == "READER"
        got = cors_headers(listed)
        assert got["access-control-allow-origin"] == CONSOLE
        assert got["access-control-allow-credentials"] == "true"
        assert got["access-control-expose-headers"].lower() == "x-request-id"
        assert varies_by_origin(listed)
        unlisted = http.post("/graphql", json=VIEWER, headers={**bearer, "origin": EVIL})
        assert cors_headers(unlisted) == {} and varies_by_origin(unlisted)
        same = http.post("/graphql", json=VIEWER, headers=bearer)  # no Origin: same origin
        assert cors_headers(same) == {} and varies_by_origin(same)

        # A listed origin may use a session cookie (with the CSRF token); others may not.
        signed = http.post("/auth/session", json={"key": keys["READER"]})
        assert signed.status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        csrf = http.cookies["commcredits_csrf"]
        http.cookies.clear()
        with_cookie = {"cookie": cookie, "x-csrf-token": csrf}
        ok = http.post("/graphql", json=VIEWER, headers={**with_cookie, "origin": CONSOLE})
        assert ok.status_code == 200 and ok.json()["data"]["viewer"]["role"] == "READER"
        refused = http.post("/graphql", json=VIEWER, headers={**with_cookie, "origin": EVIL})
        assert refused.status_code == 403 and cors_headers(refused) == {}
    # Preflights are logged like any request (the request id comes first).
    assert any(line.get("method") == "OPTIONS" for line in server.log_lines())


def test_no_setting_means_same_origin_only(db_url, keys, tmp_path):
    with (
        live_server(db_url, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=20) as http,
    ):
        answer = preflight(http, CONSOLE)
        assert answer.status_code == 405 and cors_headers(answer) == {}
        bearer = {"authorization": f"Bearer {keys['READER']}"}
        simple = http.post("/graphql", json=VIEWER, headers={**bearer, "origin": CONSOLE})
        assert simple.status_code == 200 and cors_headers(simple) == {}


@pytest.mark.parametrize(
    "value",
    ["*", "https://console.example/", "console.example", "https://console.example/app", "ftp://x"],
)
def test_a_wildcard_or_a_non_origin_stops_the_server_at_start(value, monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_CORS_ORIGINS", value)
    with pytest.raises(ConfigError, match="COMMCREDITS_CORS_ORIGINS"):
        Settings.from_env()
    assert cli.main(["serve", "--port", "1"]) == 2  # the message, no traceback
    err = capsys.readouterr().err
    assert err.startswith("commcredits: COMMCREDITS_CORS_ORIGINS") and "Traceback" not in err


def test_origins_are_kept_as_browsers_send_them(monkeypatch):
    monkeypatch.setenv("COMMCREDITS_CORS_ORIGINS", " https://Console.Example:8443 ,, http://a.b ")
    assert Settings.from_env().cors_origins == ("https://console.example:8443", "http://a.b")
