"""The console when a session ends or a page is left while it loads, in German Chromium: the
sign-in page brings the visitor back to the address they wanted, query and all; a form sent
after the session ended leads to the sign-in page instead of a message with no way to sign
in; a page still waiting for its answer when the visitor moved on writes nothing into the
next page; a page whose first read got no answer says so in German and loads again (README
"Admin console")."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By

from tests.console_browser import (
    FAIL,
    button,
    by_label,
    console,
    heading,
    sign_in,
    text,
    wait_for,
)

# Ends the session as another tab's sign-out would (DELETE /auth/session): this page is not told.
END_SESSION = """
const done = arguments[arguments.length - 1];
const cookie = document.cookie.split("; ").find((c) => c.startsWith("commcredits_csrf="));
const token = cookie ? decodeURIComponent(cookie.split("=")[1]) : "";
fetch("/auth/session", { method: "DELETE", headers: { "x-csrf-token": token } })
  .then((r) => done(r.status));
"""

# Holds every GraphQL request naming `operation` back for `ms` before it is sent.
DELAY = """
const [operation, ms] = arguments;
const original = window.fetch;
window.fetch = async function (url, options) {
  if (String(options && options.body).includes(operation)) {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
  return original.apply(this, arguments);
};
"""


def address(driver) -> str:
    parts = urlsplit(driver.current_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.backends("sqlite")
def test_the_sign_in_page_brings_back_the_address_query_and_all(
    db_url, keys, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # A shared link to a filtered list, opened signed out.
        driver.get(server.url + "/users?search=niemand")
        sign_in(driver, admin, lands_on="Aktive Benutzer")
        assert address(driver) == "/users?search=niemand"

        # The session ends while the console shows another page; back to the filtered list,
        # which finds out, and the sign-in page brings the visitor back to it again.
        driver.find_element(By.LINK_TEXT, "Lizenzen").click()
        wait_for(lambda: heading(driver) == "Lizenzen", "no licenses page")
        assert driver.execute_async_script(END_SESSION) == 204
        driver.back()
        sign_in(driver, admin, lands_on="Aktive Benutzer")
        assert address(driver) == "/users?search=niemand"

        # The same list's nav link shows the whole list, not the filtered one again.
        driver.find_element(By.CSS_SELECTOR, "nav a[href='/users']").click()
        wait_for(lambda: address(driver) == "/users", "the nav link kept the old query")


@pytest.mark.backends("sqlite")
def test_a_form_sent_after_the_session_ended_leads_to_the_sign_in_page(
    db_url, keys, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/credits/auto-recharge")
        sign_in(driver, admin, lands_on="Automatisches Aufladen")
        assert driver.execute_async_script(END_SESSION) == 204
        amount = by_label(driver, "Diesen Betrag hinzufügen")
        amount.clear()
        amount.send_keys("50")
        button(driver, "Speichern").click()
        # The mutation's answer is a userError UNAUTHENTICATED: the sign-in page, not "⚠ An
        # API key is required" in English beside a form that cannot be sent.
        wait_for(lambda: heading(driver) == "Anmelden", "no sign-in page after the refusal")
        assert "API key" not in text(driver, "main")
        sign_in(driver, admin, lands_on="Automatisches Aufladen")
        assert address(driver) == "/credits/auto-recharge"


@pytest.mark.backends("sqlite")
def test_a_page_left_while_loading_writes_nothing_into_the_next(
    db_url, keys, tmp_path, monkeypatch
):
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["GLOBAL_ADMIN"], lands_on="Kommunikationsguthaben")
        driver.execute_script(DELAY, "AddCreditsPage", 1500)
        driver.find_element(By.CSS_SELECTOR, "nav a[href='/credits/add']").click()
        driver.find_element(By.CSS_SELECTOR, "nav a[href='/licenses']").click()
        wait_for(lambda: heading(driver) == "Lizenzen", "no licenses page")
        # The add-credits page's answer has come meanwhile: nothing of it on this page.
        driver.execute_async_script("setTimeout(arguments[arguments.length - 1], 2500)")
        headings = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "main h1")]
        assert headings == ["Lizenzen"], headings
        assert not driver.find_elements(By.NAME, "amount")


@pytest.mark.backends("sqlite")
def test_a_page_whose_first_read_got_no_answer_loads_again(db_url, keys, tmp_path, monkeypatch):
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["GLOBAL_ADMIN"], lands_on="Kommunikationsguthaben")
        driver.execute_script(FAIL, "LicensesPage")
        driver.find_element(By.LINK_TEXT, "Lizenzen").click()
        shown = wait_for(lambda: text(driver, "main [role=alert]"), "no failure shown")
        assert "Der Server hat nicht geantwortet" in shown and "Failed to fetch" not in shown
        assert heading(driver) == "Lizenzen"
        assert button(driver, "Erneut versuchen").is_enabled()
        # The request failed, so the banner's probe finds the server and says "restored": the
        # page tries again by itself (the fake network stays down until here).
        driver.execute_script("window.failing = false")
        wait_for(lambda: driver.find_elements(By.ID, "seats"), "the page did not load again")
        assert not driver.find_elements(By.CSS_SELECTOR, "main [role=alert]:not([hidden])")


# i18n.js's formatting and reading of amounts, in the browser's own Intl, per language.
AMOUNTS = """
const done = arguments[arguments.length - 1];
const base = document.querySelector("script[type=module]").src;
import(new URL("i18n.js", base).href).then((i18n) => {
  const out = {};
  for (const lang of ["de", "en"]) {
    i18n.setLanguage(lang);
    out[lang] = {
      money: ["0.0180", "42.00", "0.5", "1234.5"].map((a) => i18n.money(a, "EUR"))
        .concat([i18n.money("1234", "JPY")]),
      parsed: ["1.000", "1.234,56", "100.5", "0.500", "1.000.000", "1.5,00", "1,000",
        "1,000.50", "1,5", "100,"].map(i18n.parseAmount),
      precision: ["EUR", "JPY"].map((currency) =>
        i18n.errorText({ code: "INVALID_PRECISION", message: "API" }, { currency })),
      examples: ["EUR", "JPY"].map(i18n.amountExamples),
    };
  }
  i18n.setLanguage("de");
  done(out);
});
"""


@pytest.mark.backends("sqlite")
def test_amounts_are_shown_exactly_and_read_as_the_language_writes_them(
    db_url, tmp_path, monkeypatch
):
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        wait_for(lambda: heading(driver) == "Anmelden", "no sign-in page")
        found = driver.execute_async_script(AMOUNTS)
        plain = {
            lang: {k: [str(x).replace("\xa0", " ") if x else x for x in v] for k, v in d.items()}
            for lang, d in found.items()
        }
        de, en = plain["de"], plain["en"]
        # A per-minute price keeps its decimals, never rounded to cents; yen have none.
        assert de["money"] == ["0,018 €", "42,00 €", "0,50 €", "1.234,50 €", "1.234 ¥"]
        assert en["money"] == ["€0.018", "€42.00", "€0.50", "€1,234.50", "¥1,234"]
        # German: "1.000" is a thousand (dots before groups of three), "100.5" a decimal.
        assert de["parsed"] == [
            "1000", "1234.56", "100.5", "0.500", "1000000", None, "1.000", None, "1.5", "100",
        ]  # fmt: skip
        # English: commas group thousands only; "1,5" is no English number, not 15.
        assert en["parsed"] == [
            "1.000", None, "100.5", "0.500", None, None, "1000", "1000.50", None, None,
        ]  # fmt: skip
        # How many decimals the tenant's currency has, in the message and the hint's examples.
        assert de["precision"] == [
            "Höchstens 2 Nachkommastellen.",
            "JPY-Beträge haben keine Nachkommastellen: bitte eine ganze Zahl.",
        ]
        assert en["precision"][0] == "Use at most 2 decimals."
        assert de["examples"] == ["100 oder 100,50", "100"]
        assert en["examples"] == ["100 or 100.50", "100"]
