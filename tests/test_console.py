"""The admin console (issue 14, first slice): served by the app itself with versioned,
immutable assets and a no-cache index for every console path; and driven end to end in a real
headless Chromium (Debian's, resolving nothing but 127.0.0.1), in German: sign in, the live
balance, an order with its review bought once on a double click, auto-recharge with a field
error, billing details refusing a card number, back button and reload, the language switch; the
READER's read-only view; an MCA tenant; a lost connection shown and recovered. Every screenshot
is scanned with axe-core first; they go to var/screenshots/console/ (README "Admin console";
var/ is gitignored). The browser helpers are in tests/console_browser.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from commcredits.clock import utcnow
from commcredits.config import SessionSettings
from commcredits.console import ASSET_PATH, IMMUTABLE, PAGES, STATIC_DIR, console_assets
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.sessions import create_sign_in_link
from commcredits.services.tenants import create_tenant
from tests.console_browser import (
    AXE_DIR,
    api,
    button,
    by_label,
    console,
    heading,
    server_on,
    severe,
    shot,
    sign_in,
    text,
    wait_for,
)
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(
    r"""(?:^|\s)(?:import|export)\s[^"';]*?from\s+["']([^"']+)["']|import\(["']([^"']+)["']\)"""
)
# A string key the modules use: t("key"), section("key"), a page's title: or nav:.
USED_KEY = re.compile(
    r"""\bt\(\s*"([a-zA-Z.]+)"|section\(\s*"([a-zA-Z.]+)"|(?:title|nav): "([a-zA-Z.]+)\""""
)
CSS_IMPORT = re.compile(r'@import url\("([^"]+)"\)')
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
INVOICES = "{ tenant { invoices(first: 50) { totalCount nodes { amount { amount } reason } } } }"
BILLING = "{ tenant { billingProfile { companyName city paymentMethod cardTokenHint } } }"
AUTO = "{ tenant { autoRecharge { enabled topUp { amount } threshold { amount } } } }"
PURCHASE = """mutation($k: String!) { purchaseCredits(amount: "42.00", idempotencyKey: $k) {
  userErrors { code } } }"""


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        assert "style" not in found and not any(k.startswith("on") for k in found), (tag, found)
        assert tag not in ("style", "iframe", "object", "embed", "base"), tag
        self.urls += [found[a] or "" for a in ("src", "href") if found.get(a)]
        if tag == "script" and not found.get("src"):
            self.inline_scripts += 1


def same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


# --- served by the app ------------------------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_every_console_asset_is_served_by_the_app(db_url, tmp_path):
    with live_server(db_url, tmp_path) as server, httpx.Client(timeout=10) as http:
        index = http.get(server.url + "/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        policy = index.headers["content-security-policy"]
        csp = dict((d.split(" ", 1) + [""])[:2] for d in policy.split("; "))
        assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'"
        assert csp["style-src"] == "'self'" and "unsafe" not in policy
        assert f"ws://127.0.0.1:{server.port}" in csp["connect-src"].split()
        assert not re.search(r"https?://", index.text), "no absolute URL in the page"
        etag = index.headers["etag"]
        again = http.get(server.url + "/", headers={"if-none-match": etag})
        assert again.status_code == 304

        # Deep links (and a reload on them) get the same index; unknown paths stay 404.
        for path in PAGES:
            page = http.get(server.url + path)
            assert page.status_code == 200 and page.text == index.text, path
            assert page.headers["cache-control"] == "no-cache", path
        assert http.get(server.url + "/no-such-page").status_code == 404
        assert "graphiql" in http.get(server.url + "/graphql").text.lower()

        links = Links()
        links.feed(index.text)
        assert links.inline_scripts == 0
        # Every file the page loads, and every module those import, transitively.
        version = console_assets().version
        queue = [urljoin(server.url + "/credits/add", u) for u in links.urls]
        seen: set[str] = set()
        while queue:
            url = queue.pop()
            if url in seen:
                continue
            seen.add(url)
            assert same_origin(url, server.url), f"{url} is off-origin"
            assert urlsplit(url).path.startswith(f"{ASSET_PATH}/{version}/"), url
            response = http.get(url)
            assert response.status_code == 200, url
            suffix = Path(urlsplit(url).path).suffix
            assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
            assert response.headers["cache-control"] == IMMUTABLE, url
            assert response.headers["x-content-type-options"] == "nosniff"
            if suffix in (".js", ".css"):
                assert not re.search(r"https?://", response.text), f"an absolute URL in {url}"
            if suffix == ".js":
                for match in IMPORT.finditer(response.text):
                    queue.append(urljoin(url, match.group(1) or match.group(2)))
            if suffix == ".css":
                queue += [urljoin(url, u) for u in CSS_IMPORT.findall(response.text)]
        shipped = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.*")}
        loaded = {urlsplit(u).path.split(f"/{version}/", 1)[1] for u in seen}
        assert loaded == shipped, "every shipped file is loaded, and nothing else"

        # Only the current version's files, by name: no other path on disk is reachable.
        for path in [
            f"{ASSET_PATH}/{'0' * 12}/main.js",
            f"{ASSET_PATH}/{version}/",
            f"{ASSET_PATH}/{version}/../__init__.py",
            f"{ASSET_PATH}/{version}/..%2F__init__.py",
            f"{ASSET_PATH}/{version}/nope.js",
        ]:
            assert http.get(server.url + path, follow_redirects=True).status_code == 404, path


def test_the_server_serves_every_page_the_client_routes():
    # Adding a page: a module under pages/, an entry in registry.js, its path in PAGES.
    found = {"/"}  # registry.js's home entry
    for module in (STATIC_DIR / "pages").glob("*.js"):
        found |= set(re.findall(r'^  path: "([^"]+)"', module.read_text(), re.M))
    assert found == set(PAGES)
    for module in STATIC_DIR.rglob("*.js"):
        assert len(module.read_text().splitlines()) < 400, module


def test_the_vendored_axe_core_is_the_pinned_one():
    manifest = json.loads((AXE_DIR / "manifest.json").read_text())
    body = (AXE_DIR / "axe.min.js").read_bytes()
    assert hashlib.sha256(body).hexdigest() == manifest["sha256"] and len(body) == manifest["bytes"]
    assert "Mozilla Public License" in (AXE_DIR / "LICENSE.txt").read_text()
    spec = importlib.util.spec_from_file_location("refresh_axe", ROOT / "scripts/refresh_axe.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert (script.PIN.version, script.PIN.integrity) == (
        manifest["version"],
        manifest["integrity"],
    )


def test_both_languages_have_every_string():
    keys = {}
    for lang in ("en", "de"):
        # locales/<lang>.js and the area files it spreads in, locales/<lang>/*.js.
        files = [
            STATIC_DIR / "locales" / f"{lang}.js",
            *(STATIC_DIR / "locales" / lang).glob("*.js"),
        ]
        keys[lang] = set()
        for file in files:
            found = re.findall(r'^  "([^"]+)":', file.read_text(), re.M)
            assert not keys[lang] & set(found), (file, sorted(keys[lang] & set(found)))
            keys[lang] |= set(found)
    assert keys["en"] == keys["de"]
    used: set[str] = set()
    for module in STATIC_DIR.rglob("*.js"):
        for groups in USED_KEY.findall(module.read_text()):
            used |= {k for k in groups if k}
    assert used <= keys["en"], sorted(used - keys["en"])


# --- in Chromium ------------------------------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_the_seed_steps_in_german_in_chromium(db_url, keys, tmp_path, monkeypatch):
    from selenium.webdriver.common.action_chains import ActionChains

    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # Signed out, a deep link lands on the sign-in page; German from the browser.
        driver.get(server.url + "/credits")
        sign_in_seen = wait_for(lambda: heading(driver) == "Anmelden", "no sign-in page")
        assert (
            sign_in_seen and driver.execute_script("return document.documentElement.lang") == "de"
        )
        shot(driver, "01-sign-in")
        # Keyboard: a new page focuses its heading, so the next Tab is the page's first field;
        # the skip link comes first in the document, before the header.
        ActionChains(driver).send_keys(Keys.TAB).perform()
        assert driver.switch_to.active_element == by_label(driver, "API-Schlüssel")
        first = driver.execute_script("return document.querySelector('a, button').textContent")
        assert first == "Zum Inhalt springen"
        sign_in(driver, admin)
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "no credits page")
        assert urlsplit(driver.current_url).path == "/credits"  # back where it was going
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "balance not shown in de-DE")
        assert text(driver, "#balance-as-of").startswith("Stand: ")
        shot(driver, "02-credits-empty")

        # A purchase through the API elsewhere: the page shows it live, without a reload.
        driver.execute_script("window.notReloaded = true")
        api(server, admin, PURCHASE, {"k": "from-python"})
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "the live balance never came")
        assert driver.execute_script("return window.notReloaded") is True
        wait_for(lambda: "42,00 €" in text(driver, "#ledger"), "the ledger was not re-read")

        # Add 100 € with the order review; a double click on "Bestellung aufgeben" buys once.
        driver.find_element(By.LINK_TEXT, "Guthaben hinzufügen").click()
        wait_for(lambda: heading(driver) == "Guthaben hinzufügen", "no add-credits page")
        by_label(driver, "Betrag").send_keys("100")
        button(driver, "Bestellung überprüfen").click()
        wait_for(
            lambda: text(driver, "#review-heading") == "Bestellung überprüfen und aufgeben",
            "no order review",
        )
        review = text(driver, "main section")
        assert "Entwurf" in review and "100,00 €" in review, review
        shot(driver, "03-order-review")
        ActionChains(driver).double_click(button(driver, "Bestellung aufgeben")).perform()
        result = wait_for(lambda: text(driver, "#order-result"), "the order never completed")
        assert "100,00 €" in result and "142,00 €" in result, result
        shot(driver, "04-order-placed")
        invoices = api(server, admin, INVOICES)["tenant"]["invoices"]
        amounts = sorted(Decimal(n["amount"]["amount"]) for n in invoices["nodes"])
        assert amounts == [Decimal("42.00"), Decimal("100.00")], invoices  # one order, once
        assert "142,00 €" in text(driver, "#current-balance")
        # The second click never left the browser: the button was already disabled (and had
        # it gone, the same idempotency key would have replayed the first purchase).
        sent = [e for e in server.log_lines() if e.get("operation") == "PurchaseCredits"]
        assert len(sent) == 2, sent  # the review (whatIf) and the order

        # The back button returns to the credits page, which reads the new state.
        driver.back()
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "back did not go back")
        wait_for(lambda: text(driver, "#balance") == "142,00 €", "balance after the order")
        # Paid by invoice (the profile's default): issued, not paid.
        assert "✓ Ausgestellt" in text(driver, "main") and "Bezahlt" not in text(driver, "main")
        shot(driver, "05-credits-after-order")
        driver.forward()
        wait_for(lambda: heading(driver) == "Guthaben hinzufügen", "forward did not go forward")
        driver.refresh()  # a reload on /credits/add keeps the page
        wait_for(lambda: heading(driver) == "Guthaben hinzufügen", "reload lost the page")
        assert urlsplit(driver.current_url).path == "/credits/add"

        # Auto-recharge: add 50 € when the balance falls below 20 €.
        driver.find_element(By.LINK_TEXT, "Automatisches Aufladen").click()
        wait_for(lambda: heading(driver) == "Automatisches Aufladen", "no auto-recharge page")
        enabled = by_label(driver, "Automatisches Aufladen anwenden")
        if not enabled.is_selected():
            enabled.click()
        for label, value in (("Diesen Betrag hinzufügen", "50"), ("Wenn der Saldo unten", "20")):
            by_label(driver, label).clear()
            by_label(driver, label).send_keys(value)
        button(driver, "Speichern").click()
        saved = wait_for(lambda: text(driver, ".form-message.success"), "not saved")
        assert "Gespeichert" in saved and "50,00 €" in saved and "20,00 €" in saved, saved
        assert api(server, admin, AUTO)["tenant"]["autoRecharge"] == {
            "enabled": True,
            "topUp": {"amount": "50.00"},
            "threshold": {"amount": "20.00"},
        }
        shot(driver, "06-auto-recharge-saved")

        # A value the API refuses: its userError at the field, tied by aria-describedby.
        amount = by_label(driver, "Diesen Betrag hinzufügen")
        amount.clear()
        amount.send_keys("0")
        button(driver, "Speichern").click()
        wait_for(lambda: amount.get_attribute("aria-invalid") == "true", "no field error")
        described = amount.get_attribute("aria-describedby").split()
        messages = [driver.find_element(By.ID, i).text for i in described]
        assert any("Der hinzuzufügende Betrag muss über 0 liegen" in m for m in messages), messages
        assert driver.switch_to.active_element == amount, "focus moves to the field in error"
        shot(driver, "07-auto-recharge-field-error")

        # Billing details: a card number typed as the token is refused at that field.
        driver.find_element(By.LINK_TEXT, "Abrechnungsdetails").click()
        wait_for(lambda: heading(driver) == "Abrechnungsdetails", "no billing page")
        for label, value in (("Firma", "Fabrikam GmbH"), ("Ort", "Berlin"), ("Land", "DE")):
            by_label(driver, label).send_keys(value)
        Select(by_label(driver, "Zahlungsmethode")).select_by_value("CARD")
        token = by_label(driver, "Karten-Token")
        token.send_keys("4242 4242 4242 4242")
        button(driver, "Speichern").click()
        wait_for(lambda: token.get_attribute("aria-invalid") == "true", "card number accepted")
        messages = [
            driver.find_element(By.ID, i).text
            for i in token.get_attribute("aria-describedby").split()
        ]
        assert any("Kartennummer" in m for m in messages), messages
        shot(driver, "08-billing-card-number-refused")
        assert api(server, admin, BILLING)["tenant"]["billingProfile"]["companyName"] == ""
        token.clear()
        token.send_keys("tok_visa")
        button(driver, "Speichern").click()
        wait_for(lambda: "Gespeichert" in text(driver, ".form-message.success"), "not saved")
        assert api(server, admin, BILLING)["tenant"]["billingProfile"] == {
            "companyName": "Fabrikam GmbH",
            "city": "Berlin",
            "paymentMethod": "CARD",
            "cardTokenHint": "…visa",
        }

        # The language switch: lang attribute, texts, remembered over a reload.
        button(driver, "English").click()
        wait_for(lambda: heading(driver) == "Billing details", "no English")
        assert driver.execute_script("return document.documentElement.lang") == "en"
        driver.get(server.url + "/credits")
        wait_for(lambda: text(driver, "#balance") == "€142.00", "English money format")
        button(driver, "Deutsch").click()
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "back to German")

        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(u.startswith(server.url + "/") for u in loaded), loaded
        assert not severe(driver.get_log("browser"))

        # Sign-out ends the session; the console asks to sign in again.
        button(driver, "Abmelden").click()
        wait_for(lambda: heading(driver) == "Anmelden", "sign-out did not sign out")
        driver.get(server.url + "/credits/auto-recharge")
        wait_for(lambda: heading(driver) == "Anmelden", "a signed-out deep link showed data")


@pytest.mark.backends("sqlite")
def test_a_reader_sees_everything_and_can_change_nothing(db_url, keys, tmp_path, monkeypatch):

    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        for n in range(12):  # 12 ledger entries: two pages of 10
            api(server, keys["GLOBAL_ADMIN"], PURCHASE, {"k": f"for-the-reader-{n}"})
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["READER"])
        wait_for(lambda: text(driver, "#balance") == "504,00 €", "the reader sees the balance")
        assert "Nur Lesezugriff" in text(driver, ".balance-card")
        shot(driver, "09-reader-credits")

        # The ledger by Relay cursors: forward with endCursor, back with the cursors seen.
        rows = "#ledger tbody tr"
        assert "Seite 1 von 2" in text(driver, "#ledger")
        assert len(driver.find_elements(By.CSS_SELECTOR, rows)) == 10
        button(driver, "Nächste Seite").click()
        wait_for(lambda: "Seite 2 von 2" in text(driver, "#ledger"), "no second ledger page")
        assert len(driver.find_elements(By.CSS_SELECTOR, rows)) == 2
        assert not button(driver, "Nächste Seite").is_enabled()
        button(driver, "Vorherige Seite").click()
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#ledger"), "no way back")

        for path, labels in (
            ("/credits/add", ["Bestellung überprüfen"]),
            ("/credits/auto-recharge", ["Speichern"]),
            ("/credits/billing", ["Speichern"]),
        ):
            driver.get(server.url + path)
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".readonly-note"), path)
            for label in labels:
                control = button(driver, label)
                assert not control.is_enabled(), (path, label)
                reasons = [
                    driver.find_element(By.ID, i).text
                    for i in control.get_attribute("aria-describedby").split()
                ]
                assert any("Nur Lesezugriff" in r and "READER" in r for r in reasons), reasons
            inputs = driver.find_elements(By.CSS_SELECTOR, "main input")
            assert inputs and not any(i.is_enabled() for i in inputs), path
        shot(driver, "10-reader-auto-recharge")
        assert not severe(driver.get_log("browser"))


@pytest.mark.backends("sqlite")
def test_a_lost_connection_is_shown_and_recovered(db_url, keys, tmp_path, monkeypatch):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, admin)
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "no credits page")
        assert not driver.find_element(By.ID, "connection-banner").is_displayed()
        server.stop()  # the websocket drops: the banner says so and the client retries
        banner = wait_for(
            lambda: (
                driver.find_element(By.ID, "connection-banner").is_displayed()
                and text(driver, "#connection-banner")
            ),
            "no banner when the server went away",
        )
        assert "Verbindung unterbrochen" in banner, banner
        shot(driver, "11-connection-lost", offline=True)
        with server_on(server.port, server.env, tmp_path) as again:
            wait_for(
                lambda: not driver.find_element(By.ID, "connection-banner").is_displayed(),
                "the banner stayed after the server came back",
                timeout=30,
            )
            api(again, admin, PURCHASE, {"k": "after-the-restart"})
            wait_for(lambda: text(driver, "#balance") == "42,00 €", "no live update after it")


@pytest.mark.backends("sqlite")
def test_an_mca_tenant_sees_its_credit_limit_instead_of_buying(
    db_url, clock, tmp_path, monkeypatch
):
    mca = create_tenant(
        SYSTEM, name="Northwind", country="DE", currency="EUR", agreement_type="MCA", now=clock()
    )
    key = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=mca, now=clock())[1]
    link = create_sign_in_link(key, SessionSettings(), now=utcnow())
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # The one-time link `make run` prints: signed in, on to the console (not GraphiQL).
        driver.get(f"{server.url}/auth/link?to=console#{link}")
        wait_for(lambda: "Kreditlimit" in text(driver, "main"), "no credit limit for MCA")
        assert urlsplit(driver.current_url).path == "/credits" and link not in driver.current_url
        driver.get(server.url + "/")  # the console's root is the credits page
        wait_for(lambda: "Kreditlimit" in text(driver, "main"), "/ did not open the credits")
        assert driver.current_url == server.url + "/credits"
        buy = driver.find_elements(By.CSS_SELECTOR, "main a[href='/credits/add']")
        assert not buy, "nothing to buy on the page (the add page itself says why)"
        shot(driver, "12-mca-credits")
        driver.get(server.url + "/credits/add")
        wait_for(lambda: "nachträglich abgerechnet" in text(driver, "main"), "no MCA notice")
        assert not driver.find_elements(By.CSS_SELECTOR, "main input")


@pytest.mark.backends("sqlite")
def test_a_pages_own_reread_logs_only_faults_of_ours(db_url, tmp_path, monkeypatch):
    """A re-read a page starts after a live event or a reconnect (live.js `reread`): a refused
    tenant (announced by api.js) and a lost connection (the banner) are not logged as errors,
    an ended session signs out, and anything else is logged."""
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        wait_for(lambda: heading(driver) == "Anmelden", "no sign-in page")
        driver.get_log("browser")  # what the page logged before: not this test's
        outcome = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const base = document.querySelector("script[type=module]").src;
            Promise.all([
              import(new URL("api.js", base).href),
              import(new URL("live.js", base).href),
            ]).then(async ([api, live]) => {
              const signedOut = [];
              const failing = {
                refused: new api.TenantRefused("gone"),
                away: new api.ConnectionError("away"),
                ended: new api.SignedOut(),
                fault: new Error("a fault of ours"),
              };
              for (const [name, error] of Object.entries(failing)) {
                live.reread(Promise.reject(error), { onSignedOut: () => signedOut.push(name) });
              }
              await new Promise((resolve) => setTimeout(resolve, 50));
              done(signedOut);
            });
            """
        )
        assert outcome == ["ended"]
        logged = [e["message"] for e in severe(driver.get_log("browser"))]
        assert len(logged) == 1 and "a fault of ours" in logged[0], logged
