"""The console's Licenses and Calls and minutes pages (issue 14, items 6 and 7), in German in
Debian's headless Chromium: seats per SKU and buying seats (a refused quantity at its field);
the month's minute pools as bars with their numbers, the usage summary, blocked calls with
their reasons, "can this user call this number?", a call rated through the API appearing live,
and the month in the URL surviving a reload and the back button; a READER sees it all, cannot
buy, and may still ask authorizeCall. The server runs on the real clock: the current month.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from commcredits.services import credits, licenses, rates, rating
from commcredits.services.access import SYSTEM
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.console_browser import (
    api,
    button,
    by_label,
    console,
    described_by,
    heading,
    severe,
    shot,
    sign_in,
    text,
    wait_for,
)
from tests.helpers import add_users, buy

DOMAIN = "fabrikam.example"
ANNA, BEN = f"anna@{DOMAIN}", f"ben@{DOMAIN}"
SEATS = """{ subscribedSkus { skuPartNumber consumedUnits availableUnits
  prepaidUnits { enabled } } }"""
RECORD = """mutation($items: [CallRecordInput!]!) { recordCalls(items: $items) {
  results { status reason } userErrors { code } } }"""


def month_of(at: dt.datetime) -> str:
    return f"{at:%Y-%m}"


def previous_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def office(tenant, blocked: int = 1) -> dt.datetime:
    """Anna (DE) with Teams Phone, a Domestic Calling Plan and Communication Credits; Ben (DE)
    with no license; 20 € of credits; a call of Anna's from the pool and one of Ben's blocked,
    both this month (the real clock, as the server's)."""
    now = dt.datetime.now(dt.UTC)
    rates.ensure_sample_card(SYSTEM, now=now)
    add_users(tenant, now, [("anna", "DE"), ("ben", "DE")], domain=DOMAIN)
    buy(tenant, now, MCOEV=5, MCOPSTN1=5, MCOPSTNC=5)
    skus = ("MCOEV", "MCOPSTN1", "MCOPSTNC")
    request = LicenseRequest(ANNA, tuple(AddLicense(s) for s in skus))
    licenses.assign_licenses(tenant, SYSTEM, [request], now=now)
    credits.purchase_credits(
        tenant, SYSTEM, Decimal("20.00"), idempotency_key="calls-page", now=now
    )
    start = max(now - dt.timedelta(minutes=2), now.replace(day=1, hour=0, minute=0, second=0))
    calls = [
        rating.CallInput("anna-1", ANNA, start, 290, "+4930123456", "DOMESTIC"),
    ] + [
        rating.CallInput(f"ben-{n}", BEN, start, 60, "+4930123456", "DOMESTIC")
        for n in range(blocked)
    ]
    outcomes = rating.record_calls(tenant, SYSTEM, calls, now=now)
    assert [o.call.status for o in outcomes] == ["RATED"] + ["BLOCKED"] * blocked
    return now


def ask(driver, user: str, destination: str) -> None:
    """Fills in "can this user call this number?" and asks (a domestic call)."""
    for label, value in (("Benutzer (", user), ("Rufnummer", destination)):
        field = by_label(driver, label)
        field.clear()
        field.send_keys(value)
    Select(by_label(driver, "Anruftyp")).select_by_value("DOMESTIC")
    driver.execute_script("document.getElementById('authorize-result').textContent = ''")
    button(driver, "Prüfen").click()


@pytest.mark.backends("sqlite")
def test_licenses_and_calls_in_german(db_url, keys, tenant, tmp_path, monkeypatch):
    now = office(tenant)
    month = month_of(now)
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # Licenses: seats per SKU, named by the catalog, with the status in words.
        driver.get(server.url + "/licenses")
        sign_in(driver, admin)
        wait_for(lambda: heading(driver) == "Lizenzen", "no licenses page")
        row = "//table//tr[td//*[contains(., 'MCOPSTN1')]]"
        cells = wait_for(lambda: driver.find_elements(By.XPATH, row + "/td"), "no MCOPSTN1 row")
        assert "Microsoft 365 Domestic Calling Plan" in cells[0].text
        # Purchased, in grace period, disabled, assigned, available, status.
        assert [c.text for c in cells[1:]] == ["5", "0", "0", "1", "4", "✓ Aktiv"]

        # Buying 5 seats: the table is read again and agrees with the API.
        Select(by_label(driver, "Produkt")).select_by_value("MCOPSTN1")
        quantity = by_label(driver, "Anzahl hinzuzufügender Lizenzen")
        quantity.send_keys("5")
        button(driver, "Lizenzen kaufen").click()
        done = wait_for(lambda: text(driver, ".form-message.success"), "no purchase message")
        assert "5 Lizenz(en)" in done and "10 erworben" in done and "9 verfügbar" in done, done
        wait_for(
            lambda: driver.find_element(By.XPATH, row + "/td[2]").text == "10", "table not re-read"
        )
        assert driver.find_element(By.XPATH, row + "/td[6]").text == "9"
        seats = {s["skuPartNumber"]: s for s in api(server, admin, SEATS)["subscribedSkus"]}
        assert seats["MCOPSTN1"]["prepaidUnits"]["enabled"] == 10
        assert seats["MCOPSTN1"]["availableUnits"] == 9

        # A quantity the API refuses: its userError at the field, focus there.
        quantity.clear()
        quantity.send_keys("0")
        button(driver, "Lizenzen kaufen").click()
        wait_for(lambda: quantity.get_attribute("aria-invalid") == "true", "no field error")
        assert any("über 0" in m for m in described_by(driver, quantity))
        assert driver.switch_to.active_element == quantity
        shot(driver, "32-licenses-quantity-refused")
        assert api(server, admin, SEATS)["subscribedSkus"] == list(seats.values())

        # Calls and minutes: the current month by default.
        driver.find_element(By.LINK_TEXT, "Anrufe und Minuten").click()
        wait_for(lambda: heading(driver) == "Anrufe und Minuten", "no calls page")
        pools = wait_for(lambda: text(driver, "#minute-pools"), "no pools")
        assert (
            Select(by_label(driver, "Monat")).first_selected_option.get_attribute("value") == month
        )
        # The pool as a bar (a <meter> named by its label) and its numbers in words.
        assert "Microsoft 365 Domestic Calling Plan · Inlandsanruf · Deutschland" in pools
        assert "5 von 1.200 Min. verwendet, 1.195 Min. übrig" in pools, pools
        meter = by_label(driver, "Microsoft 365 Domestic Calling Plan")
        assert meter.tag_name == "meter" and meter.get_attribute("value") == "5"
        assert meter.get_attribute("max") == "1200"
        summary = {
            k: text(driver, f"#usage-{k}")
            for k in ("calls", "blocked", "minutes", "pool", "charged", "credits")
        }
        assert summary == {
            "calls": "2",
            "blocked": "1",
            "minutes": "5 Min.",
            "pool": "5 Min.",
            "charged": "0 Min.",
            "credits": "0,00 €",
        }, summary
        blocked = wait_for(lambda: text(driver, "#blocked-calls"), "no blocked calls")
        assert "ben@fabrikam.example" in blocked and "anna@" not in blocked, blocked
        assert "✕ Keine Lizenz für diesen Anruftyp" in blocked, blocked
        recent = wait_for(lambda: text(driver, "#recent-calls"), "no recent calls")
        assert "✓ Abgerechnet" in recent and "✕ Blockiert: Keine Lizenz" in recent, recent

        # "Can this user call this number?": allowed, refused, and a number that is none.
        ask(driver, ANNA, "+4930123456")
        allowed = wait_for(lambda: text(driver, "#authorize-result"), "no answer")
        assert "✓ Erlaubt" in allowed and "1.195 Min." in allowed and "€" in allowed, allowed
        shot(driver, "33-calls")
        ask(driver, BEN, "+4930123456")
        refused = wait_for(lambda: text(driver, "#authorize-result"), "no answer")
        assert "✕ Nicht erlaubt: Keine Lizenz für diesen Anruftyp" in refused, refused
        ask(driver, ANNA, "030 123")
        destination = by_label(driver, "Rufnummer")
        wait_for(lambda: destination.get_attribute("aria-invalid") == "true", "no field error")
        assert any("internationalen Format" in m for m in described_by(driver, destination))
        shot(driver, "34-calls-authorize-error")

        # A call rated through the API appears at once, and the month's numbers follow.
        driver.execute_script("window.notReloaded = true")
        started = max(now, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
        item = {
            "callId": "anna-live",
            "userPrincipalName": ANNA,
            "startedAt": started.isoformat(),
            "durationSeconds": 120,
            "destination": "+4989123456",
            "callType": "DOMESTIC",
        }
        result = api(server, admin, RECORD, {"items": [item]})["recordCalls"]
        assert result["results"] == [{"status": "RATED", "reason": None}], result
        wait_for(lambda: "+4989123456" in text(driver, "#recent-calls"), "no live call")
        assert "+4989123456" in text(driver, "#recent-news")
        wait_for(lambda: text(driver, "#usage-calls") == "3", "summary not re-read")
        wait_for(lambda: "7 von 1.200" in text(driver, "#minute-pools"), "pools not re-read")
        assert driver.execute_script("return window.notReloaded") is True

        # Another month: in the URL, kept by a reload, undone by the back button.
        button(driver, "Vorheriger Monat").click()
        earlier = previous_month(month)
        wait_for(
            lambda: parse_qs(urlsplit(driver.current_url).query).get("month") == [earlier],
            "the month is not in the URL",
        )
        wait_for(lambda: text(driver, "#usage-calls") == "0", "the other month not read")
        driver.refresh()
        wait_for(lambda: heading(driver) == "Anrufe und Minuten", "reload lost the page")
        wait_for(lambda: text(driver, "#usage-calls") == "0", "the reload lost the month")
        selected = Select(by_label(driver, "Monat")).first_selected_option
        assert selected.get_attribute("value") == earlier
        driver.back()
        wait_for(lambda: text(driver, "#usage-calls") == "3", "back did not go back")
        assert urlsplit(driver.current_url).query == ""
        assert not severe(driver.get_log("browser"))


@pytest.mark.backends("sqlite")
def test_a_reader_cannot_buy_seats_but_may_ask(db_url, keys, tenant, tmp_path, monkeypatch):
    office(tenant, blocked=12)
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/licenses")
        sign_in(driver, keys["READER"])
        wait_for(lambda: heading(driver) == "Lizenzen", "no licenses page")
        wait_for(lambda: "MCOPSTN1" in text(driver, "#seats"), "the reader sees no seats")
        buy_button = button(driver, "Lizenzen kaufen")
        assert not buy_button.is_enabled()
        reasons = described_by(driver, buy_button)
        assert any("Nur Lesezugriff" in r and "READER" in r for r in reasons), reasons
        assert not any(
            i.is_enabled() for i in driver.find_elements(By.CSS_SELECTOR, "#buy-seats input")
        )
        shot(driver, "35-reader-licenses")

        # authorizeCall is a read: the reader may ask.
        driver.find_element(By.LINK_TEXT, "Anrufe und Minuten").click()
        # The month's blocked calls by Relay cursor pages of 10.
        rows = "#blocked-calls tbody tr"
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#blocked-calls"), "no pages")
        assert len(driver.find_elements(By.CSS_SELECTOR, rows)) == 10
        assert "(12 insgesamt)" in text(driver, "#blocked-calls")
        button(driver, "Nächste Seite").click()
        wait_for(lambda: "Seite 2 von 2" in text(driver, "#blocked-calls"), "no second page")
        assert len(driver.find_elements(By.CSS_SELECTOR, rows)) == 2
        assert not button(driver, "Nächste Seite").is_enabled()
        assert driver.switch_to.active_element == button(driver, "Vorherige Seite")
        button(driver, "Vorherige Seite").click()
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#blocked-calls"), "no way back")
        ask(driver, ANNA, "+4930123456")
        allowed = wait_for(lambda: text(driver, "#authorize-result"), "no answer")
        assert "✓ Erlaubt" in allowed, allowed
        shot(driver, "36-reader-calls")

        # In English too: every string there, nothing unfilled.
        button(driver, "English").click()
        wait_for(lambda: heading(driver) == "Calls and minutes", "no English")
        wait_for(lambda: "Page 1 of 2" in text(driver, "#blocked-calls"), "not re-rendered")
        shown = text(driver, "main")
        assert "1,200 min" in shown and "No license for this call type" in shown, shown
        assert not re.search(r"\bnull\b|\bundefined\b|\bNaN\b|\{\w+\}", shown), shown
        button(driver, "Deutsch").click()
        assert not severe(driver.get_log("browser"))
