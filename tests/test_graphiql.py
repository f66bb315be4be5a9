"""GraphiQL from the package: the page and every file it loads come from the app itself, with
content-hashed names and long-lived caching; and it works in a real headless Chromium that can
reach nothing but 127.0.0.1 (Debian's chromium and chromium-driver, installed by .ci/run).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import re
import shutil
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from commcredits.graphiql import (
    HASH_CHARS,
    IMMUTABLE,
    OWN_FILES,
    STATIC_DIR,
    WELCOME_QUERY,
    content_security_policy,
)
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parent.parent
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.S)
CHROMIUM_MISSING = (
    "Debian's Chromium and its driver are needed: apt-get install chromium chromium-driver "
    "(.ci/run installs them when missing; the test never downloads a browser)"
)


class PageLinks(HTMLParser):
    """Every URL the page makes a browser load, and the text of every inline <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, dict[str, str | None]]] = []
        self.inline_scripts: list[dict[str, str | None]] = []
        self._open_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        assert "style" not in found and not any(k.startswith("on") for k in found), (tag, found)
        for attr in ("src", "href", "srcset", "poster", "data"):
            if found.get(attr):
                self.urls.append((tag, found[attr] or "", found))
        if tag == "script" and not found.get("src"):
            self.inline_scripts.append(found)
        assert tag not in ("style", "iframe", "object", "embed", "base"), tag


def sri(body: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def check_asset(http: httpx.Client, url: str) -> httpx.Response:
    response = http.get(url)  # httpx asks for gzip and decodes it
    assert response.status_code == 200, url
    suffix = Path(urlsplit(url).path).suffix
    assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
    assert response.headers["cache-control"] == IMMUTABLE, url
    assert response.headers["x-content-type-options"] == "nosniff"
    name = Path(urlsplit(url).path).name
    assert hashlib.sha256(response.content).hexdigest()[:HASH_CHARS] in name, "hash in the name"
    return response


@pytest.mark.backends("sqlite")
def test_the_page_and_every_asset_it_loads_come_from_the_app(db_url, tmp_path):
    with live_server(db_url, tmp_path) as server, httpx.Client(timeout=10) as http:
        page_url = server.url + "/graphql"
        page = http.get(page_url, headers={"accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        csp = dict((d.split(" ", 1) + [""])[:2] for d in policy.split("; "))
        assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'"
        assert "unsafe" not in policy
        assert f"ws://127.0.0.1:{server.port}" in csp["connect-src"].split()
        assert not re.search(r"https?://", page.text), "no absolute URL at all in the page"

        links = PageLinks()
        links.feed(page.text)
        # The only inline script is data: the welcome query, read by page.js.
        assert [s.get("type") for s in links.inline_scripts] == ["application/json"]
        assert "query Overview" in page.text
        kinds = [(tag, Path(url).suffix) for tag, url, _ in links.urls]
        assert kinds.count(("script", ".js")) == 6 and kinds.count(("link", ".css")) == 3

        css_refs: list[tuple[str, str]] = []
        for tag, url, attrs in links.urls:
            absolute = urljoin(page_url, url)
            assert same_origin(absolute, server.url), f"{tag} loads {url} from another origin"
            response = check_asset(http, absolute)
            if tag != "link" or attrs.get("rel") != "icon":
                assert attrs.get("integrity") == sri(response.content), url
            if absolute.endswith(".css"):
                for match in CSS_URL.finditer(response.text):
                    css_refs.append((absolute, match.group(2) or match.group(4)))
                without_data = re.sub(r"url\(\s*['\"]?data:[^)]*\)", "", response.text)
                assert not re.search(r"https?://", without_data), f"an absolute URL in {url}"
        gzipped = http.get(urljoin(page_url, links.urls[-1][1]))
        assert gzipped.headers["content-encoding"] == "gzip", "sent compressed when asked"

        # GraphiQL's CSS draws icons and ships fonts as data: URIs; anything else must be ours.
        assert css_refs, "GraphiQL's CSS has url() references"
        for css_url, ref in css_refs:
            if not ref.startswith("data:"):
                target = urljoin(css_url, ref)
                assert same_origin(target, server.url), f"{css_url} loads {ref}"
                check_asset(http, target)


def test_the_manifest_matches_the_files_and_the_pins(monkeypatch):
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    listed = {"manifest.json", *OWN_FILES}
    total = 0
    for logical, entry in manifest["assets"].items():
        body = (STATIC_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], logical
        stem, ext = logical.rsplit(".", 1)
        assert entry["file"] == f"{stem}.{entry['sha256'][:HASH_CHARS]}.{ext}", logical
        assert len(body) == entry["bytes"] and entry["package"] in manifest["packages"]
        listed.add(entry["file"])
        total += len(body)
    assert total < 3_000_000, "a few MB at most"
    for package, entry in manifest["packages"].items():
        text = (STATIC_DIR / entry["license_file"]).read_text()
        assert entry["license"] == "MIT" and "Permission is hereby granted" in text, package
        listed.add(entry["license_file"])
    on_disk = {str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert on_disk == listed, "every shipped file is in the manifest, or is the page's own"

    # The manifest is what the refresh script's pins produce.
    spec = importlib.util.spec_from_file_location(
        "refresh_graphiql", ROOT / "scripts" / "refresh_graphiql.py"
    )
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclass looks itself up there
    spec.loader.exec_module(script)
    pins = {p.package: (p.version, p.integrity) for p in script.PINS}
    assert pins == {k: (v["version"], v["integrity"]) for k, v in manifest["packages"].items()}


@pytest.mark.backends("sqlite")
def test_only_the_listed_names_are_served(client):
    page = client.get("/graphql")
    name = re.search(r'src="graphiql-assets/(graphiql\.[0-9a-f]+\.js)"', page.text).group(1)
    assert client.get(f"/graphiql-assets/{name}").status_code == 200
    head = client.head(f"/graphiql-assets/{name}")
    assert head.status_code == 200 and head.headers["cache-control"] == IMMUTABLE
    for path in [
        "/graphiql-assets/",
        "/graphiql-assets",
        "/graphiql-assets/manifest.json",
        "/graphiql-assets/page.js",  # the page's own files only under their hashed names
        "/graphiql-assets/LICENSES",
        "/graphiql-assets/" + name.replace(".js", "0.js"),
        "/graphiql-assets/..%2F..%2Fgraphiql.py",
        "/graphiql-assets/%2e%2e/app.py",
        "/graphiql-assets/../app.py",
    ]:
        assert client.get(path).status_code == 404, path


def test_the_csp_names_only_a_well_formed_host():
    class FakeRequest:
        def __init__(self, host: str) -> None:
            self.headers = {"host": host}

    good = content_security_policy(FakeRequest("api.example.com:8443"), "n")  # type: ignore[arg-type]
    assert "connect-src 'self' ws://api.example.com:8443 wss://api.example.com:8443;" in good
    for host in ["evil; script-src *", "a b", "", "x:1/..", "[::1]:80;"]:
        policy = content_security_policy(FakeRequest(host), "n")  # type: ignore[arg-type]
        assert "connect-src 'self';" in policy and "script-src 'self';" in policy, host


def test_the_page_reads_no_url_parameters():
    # A key must never travel in a URL (logs, history): unlike Strawberry's page, ours takes
    # nothing from the query string, so no link can carry headers into it.
    script = (STATIC_DIR / "page.js").read_text()
    assert "location.search" not in script and "URLSearchParams" not in script
    assert "make run" not in WELCOME_QUERY and "Headers tab" in WELCOME_QUERY


def chromium(tmp_path: Path):
    """Headless Debian Chromium that resolves no name but 127.0.0.1: anything the page tried to
    load from elsewhere would fail."""
    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.fail(CHROMIUM_MISSING)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is a dev dependency: .venv/bin/pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in [
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager has nothing to find, and SE_OFFLINE (set by the
    # test) forbids it to download anything should it run anyway.
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def set_editor(driver, selector: str, text: str) -> None:
    driver.execute_script(
        "document.querySelector(arguments[0]).CodeMirror.setValue(arguments[1])", selector, text
    )


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(message)


def run_operation(driver, name: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    set_editor(driver, ".graphiql-query-editor .CodeMirror", text)
    # GraphiQL parses the editor's text after a short debounce; the tab's title shows the
    # operation's name once it has, and only then is Run sure to send this operation.
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, ".graphiql-tab-active").text == name,
        10,
        f"GraphiQL never took the operation {name}",
    )
    driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


PURCHASE = """mutation Buy($k: String!) {
  purchaseCredits(amount: "42.00", idempotencyKey: $k) { userErrors { code message } } }"""
RESULT = "return document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
WATCH_SOCKETS = """
window.openedSockets = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    window.openedSockets.push([url, protocols]);
  }
};
"""


@pytest.mark.backends("sqlite")
def test_graphiql_runs_a_query_in_headless_chromium_offline(db_url, keys, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("SE_OFFLINE", "true")
    with live_server(db_url, tmp_path) as server:
        driver = chromium(tmp_path)
        try:
            driver.set_page_load_timeout(30)
            driver.get(server.url + "/graphql")
            wait_for(
                lambda: driver.find_elements(By.CSS_SELECTOR, ".graphiql-query-editor .CodeMirror"),
                20,
                "GraphiQL did not start (still 'Loading…'?)",
            )
            assert "query Overview" in driver.execute_script(
                "return document.querySelector('.graphiql-query-editor .CodeMirror')"
                ".CodeMirror.getValue()"
            ), "it opens on the welcome query"

            driver.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
            key = keys["GLOBAL_ADMIN"]
            set_editor(
                driver,
                ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
                json.dumps({"Authorization": f"Bearer {key}"}),
            )
            run_operation(driver, "Probe", "query Probe { viewer { role tenant { name } } }")
            text = wait_for(
                lambda: "Fabrikam" in (t := driver.execute_script(RESULT)) and t,
                20,
                "no result in the response pane",
            )
            assert json.loads(text)["data"] == {
                "viewer": {"role": "GLOBAL_ADMIN", "tenant": {"name": "Fabrikam"}}
            }
            driver.save_screenshot("/tmp/graphiql.png")
            logs = driver.get_log("browser")  # read and cleared: what loading and a query logged
            assert not [e for e in logs if e["level"] == "SEVERE"], logs

            # Subscriptions go over graphql-transport-ws to this same host's /graphql.
            driver.execute_script(WATCH_SOCKETS)
            run_operation(
                driver, "Live", "subscription Live { balanceChanged { balance { amount } } }"
            )
            sockets = wait_for(
                lambda: driver.execute_script("return window.openedSockets"),
                10,
                "running a subscription opened no websocket",
            )
            assert sockets[0] == [f"ws://127.0.0.1:{server.port}/graphql", "graphql-transport-ws"]
            # A purchase made elsewhere (this test, over HTTP) shows up in the page as an event.
            # The socket being open does not mean the subscription is in place yet (the
            # protocol acknowledges none): a purchase made before it is not an event of it,
            # so one is made every few seconds until the page shows one.
            event = None
            for attempt in range(5):
                bought = httpx.post(
                    server.url + "/graphql",
                    json={"query": PURCHASE, "variables": {"k": f"graphiql-live-{attempt}"}},
                    headers={"Authorization": f"Bearer {key}"},
                ).json()
                assert bought["data"]["purchaseCredits"]["userErrors"] == [], bought
                with contextlib.suppress(pytest.fail.Exception):
                    event = wait_for(
                        lambda: "balanceChanged" in (t := driver.execute_script(RESULT)) and t,
                        3,
                        "no event yet",
                    )
                    break
            assert event, "the subscription's event never reached the page"
            amount = json.loads(event)["data"]["balanceChanged"]["balance"]["amount"]
            assert amount == f"{42 * (attempt + 1)}.00", (amount, attempt)

            loaded = driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
            assert len(loaded) >= 10 and all(u.startswith(server.url + "/") for u in loaded), loaded
            logs += driver.get_log("browser")
            assert not [e for e in logs if e["level"] == "SEVERE"], logs
        finally:
            driver.quit()


def test_head_is_the_pages_headers_and_never_runs_an_operation(client, keys):
    """Starlette answers HEAD where GET is routed; a HEAD with a body ran it as a POST."""
    from commcredits.models import Group

    body = {"query": 'mutation { createGroup(input: {displayName: "viaHEAD"}) { group { id } } }'}
    headers = {"Authorization": f"Bearer {keys['GLOBAL_ADMIN']}"}
    response = client.request("HEAD", "/graphql", json=body, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert Group.select().count() == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_another_method_is_refused_in_the_one_error_format(client, method):
    response = client.request(method, "/graphql")
    assert response.status_code == 405 and response.headers["allow"]
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED", error
    assert response.headers["x-request-id"]
