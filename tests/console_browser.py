"""Driving the admin console in Debian's headless Chromium for tests/test_console.py: the
browser (resolving nothing but 127.0.0.1, as tests/test_graphiql.py), waiting, reading the page
by what a person sees (labels, button texts), screenshots with an axe-core scan first, and a
server restart on the same port (the lost-connection test).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "var" / "screenshots" / "console"
AXE_DIR = ROOT / "tests" / "vendor" / "axe-core"


def api(server: LiveServer, key: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def chromium(tmp_path: Path, lang: str):
    """Debian's headless Chromium in `lang`, resolving no name but 127.0.0.1 (as
    tests/test_graphiql.py), so anything from another origin would fail to load."""
    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.fail("Debian's chromium and chromium-driver are needed (apt-get install ...)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--lang={lang}",
        f"--user-data-dir={tmp_path / f'chromium-{lang}'}",
    ]:
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def wait_for(predicate: Callable[[], Any], message: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as error:  # a stale element while the page re-renders: try again
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    pytest.fail(f"{message} (last: {last!r})")


def described_by(driver, element) -> list[str]:
    """The texts an element's aria-describedby names (its hints and errors), in order."""
    ids = (element.get_attribute("aria-describedby") or "").split()
    return [driver.find_element(By.ID, i).text for i in ids]


def text(driver, selector: str) -> str:

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    # Intl puts a no-break space before "€"; compare with plain spaces.
    return found[0].text.replace("\xa0", " ").replace("\u202f", " ") if found else ""


def heading(driver) -> str:
    return text(driver, "main h1")


RUN_AXE = """
const done = arguments[arguments.length - 1];
// preload: false, or axe re-adds the page's stylesheets as <style> elements, which the
// page's CSP (style-src 'self') refuses and Chromium logs as errors.
axe.run(document, { resultTypes: ["violations"], preload: false })
  .then((r) => done(r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
  }))))
  .catch((e) => done("axe failed: " + e));
"""


def serious_violations(driver) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now (vendored by
    scripts/refresh_axe.py; injected over WebDriver, which the page's CSP does not govern)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script((AXE_DIR / "axe.min.js").read_text())
    found = driver.execute_async_script(RUN_AXE)
    assert isinstance(found, list), found
    return [v for v in found if v["impact"] in ("serious", "critical")]


def shot(driver, name: str, *, offline: bool = False) -> None:
    """A screenshot for people to look at, after checking the page shows no unfilled value
    and passes the accessibility scan."""
    shown = text(driver, "body")
    assert not re.search(r"\bnull\b|\bundefined\b|\bNaN\b|\{\w+\}", shown), (name, shown)
    # The page's console errors so far, and during the scan, fail the shot (unless the server
    # is away on purpose, `offline`, where failed requests are the expected errors).
    before = driver.get_log("browser")
    assert offline or not severe(before), (name, before)
    violations = serious_violations(driver)
    during = driver.get_log("browser")
    assert offline or not severe(during), (name, during)
    assert not violations, (name, violations)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page, not just the window: grown to the page's height for the shot.
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 4000))
    try:
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def by_label(driver, label: str):

    element = driver.find_element(By.XPATH, f"//label[starts-with(normalize-space(), '{label}')]")
    return driver.find_element(By.ID, element.get_attribute("for"))


def button(driver, label: str):

    return driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")


# Every GraphQL request naming `operation` fails as if the network were down, until undone.
FAIL = """
const [operation] = arguments;
const original = window.fetch;
window.failing = true;
window.fetch = function (url, options) {
  if (window.failing && String(options && options.body).includes(operation)) {
    return Promise.reject(new TypeError("Failed to fetch"));
  }
  return original.apply(this, arguments);
};
"""


def sign_in(driver, key: str, lands_on: str | None = None) -> None:
    """Sign in on the sign-in page; with `lands_on`, wait for the page of that heading."""
    wait_for(lambda: heading(driver) == "Anmelden", "the sign-in page did not show")
    field = by_label(driver, "API-Schlüssel")
    field.clear()
    field.send_keys(key)
    button(driver, "Anmelden").click()
    if lands_on is not None:
        wait_for(lambda: heading(driver) == lands_on, f"no page '{lands_on}' after sign-in")


def severe(logs: list[dict]) -> list[dict]:
    # The boot's GET /auth/session answers 401 before sign-in: expected, and logged by Chromium.
    return [e for e in logs if e["level"] == "SEVERE" and "auth/session" not in e["message"]]


@contextmanager
def console(db_url: str, tmp_path: Path, monkeypatch) -> Iterator[tuple[LiveServer, Any]]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager may download nothing
    with live_server(db_url, tmp_path) as server:
        driver = chromium(tmp_path, "de-DE")
        try:
            driver.set_page_load_timeout(30)
            driver.set_script_timeout(30)
            yield server, driver
        finally:
            driver.quit()


@contextmanager
def server_on(port: int, env: dict[str, str], log_dir: Path) -> Iterator[LiveServer]:
    """`commcredits serve` on a given port (the one a stopped server had): a restart."""
    log_path = log_dir / f"server-{port}-again.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "commcredits.cli", "serve", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(process, port, log_path, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
