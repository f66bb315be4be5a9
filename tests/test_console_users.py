"""The console's Active users pages (issue 14, item 5) in headless Chromium, in German: the
seed's three steps end to end (Audio Conferencing on the user pages' Licenses and apps tab, a
calling plan without Teams Phone refused at its checkbox; credits bought with the order review
and auto-recharge; the Communication Credits license for three users with the batch action's
what-if preview; a rated call moving the balance live), and a READER's read-only view with
search, filters in the URL, Relay cursor pages, reload and the back button. Helpers are in
tests/console_browser.py; screenshots go to var/screenshots/console/.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from commcredits.services import seats, users
from commcredits.services.access import SYSTEM
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

SEATS = """{ subscribedSkus { skuPartNumber consumedUnits availableUnits } }"""
HELD = """query($upn: String!) { user(userPrincipalName: $upn) {
  usageLocation assignedLicenses { skuPartNumber } } }"""
CALLS = """mutation($items: [CallRecordInput!]!) { recordCalls(items: $items) {
  results { status reason call { chargedMinutes cost { amount } } userErrors { code message } }
} }"""
ASSIGN = """mutation($u: ID!, $add: [AssignedLicenseInput!]!) {
  assignLicense(userId: $u, addLicenses: $add, removeLicenses: []) { userErrors { code } } }"""
ROWS = "#users-table tbody tr"
NAMES = "#users-table tbody th a"


def add_people(tenant, now, people: list[tuple[str, str, str | None, str]]) -> None:
    """(alias, display name, usage location, department) each, UPN alias@fabrikam.example."""
    for alias, name, location, department in people:
        users.create_user(
            tenant,
            SYSTEM,
            users.UserFields(
                user_principal_name=f"{alias}@fabrikam.example",
                display_name=name,
                usage_location=location,
                department=department,
            ),
            now=now,
        )


def held(server, key: str, alias: str) -> set[str]:
    found = api(server, key, HELD, {"upn": f"{alias}@fabrikam.example"})["user"]
    return {lic["skuPartNumber"] for lic in found["assignedLicenses"]}


def disabled_plans(server, key: str, alias: str) -> list[str]:
    query = """query($upn: String!) { user(userPrincipalName: $upn) {
      assignedLicenses { disabledPlans } } }"""
    found = api(server, key, query, {"upn": f"{alias}@fabrikam.example"})["user"]
    return [p for lic in found["assignedLicenses"] for p in lic["disabledPlans"]]


def consumed(server, key: str) -> dict[str, tuple[int, int]]:
    return {
        s["skuPartNumber"]: (s["consumedUnits"], s["availableUnits"])
        for s in api(server, key, SEATS)["subscribedSkus"]
    }


def sku_box(driver, part: str):
    return driver.find_element(By.CSS_SELECTOR, f"input[name='sku'][value='{part}']")


def names_shown(driver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, NAMES)]


def query_of(driver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query, keep_blank_values=True)


@pytest.mark.backends("sqlite")
def test_the_seed_steps_on_the_users_pages_in_german(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    for part, quantity in (("MCOMEETADV", 3), ("MCOPSTN1", 1), ("MCOPSTNC", 3)):
        seats.purchase_seats(tenant, SYSTEM, part, quantity, now=clock())
    people = [
        ("anna", "Anna Schmidt", "DE", "Vertrieb"),
        ("ben", "Ben Weber", "DE", "Vertrieb"),
        ("clara", "Clara Fischer", "DE", "Einkauf"),
        ("dieter", "Dieter Wolf", "DE", "Einkauf"),
        ("eva", "Eva Braun", None, "Einkauf"),
    ]
    add_people(tenant, clock(), people)
    three = ["anna", "ben", "clara"]

    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/users")
        sign_in(driver, admin)
        wait_for(lambda: heading(driver) == "Aktive Benutzer", "no Active users page")
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ROWS)) == 5, "no rows")
        assert text(driver, "#users-total") == "5"
        shown = text(driver, "#users-table")
        assert "Nicht lizenziert" in shown and "Deutschland (DE)" in shown
        assert "Kein Nutzungsstandort" in shown

        # Step 1: Audio Conferencing on each user's Licenses and apps tab.
        for left, (alias, name, *_) in zip((3, 2, 1), people[:3], strict=True):
            wait_for(lambda: driver.find_element(By.LINK_TEXT, name), "no link").click()  # noqa: B023
            wait_for(lambda: heading(driver) == name, f"no page of {name}")  # noqa: B023
            button(driver, "Lizenzen und Apps").click()
            assert query_of(driver)["tab"] == ["licenses"]
            box = wait_for(lambda: sku_box(driver, "MCOMEETADV"), "no checkbox")
            assert f"{left} von 3 Lizenzen verfügbar" in " ".join(described_by(driver, box))
            box.click()
            button(driver, "Änderungen speichern").click()
            wait_for(
                lambda: "Lizenzen gespeichert" in text(driver, ".licenses-form .form-message"),
                f"{name}: not saved",  # noqa: B023
            )
            assert sku_box(driver, "MCOMEETADV").is_selected()
            if alias == "clara":
                # An app (service plan) switched off: the license stays, its plan is disabled.
                app = by_label(driver, "MCOMEETADV")
                assert app.is_selected() and app.get_attribute("type") == "checkbox"
                app.click()
                button(driver, "Änderungen speichern").click()
                wait_for(lambda: disabled_plans(server, admin, "clara"), "the app stayed on")
                wait_for(lambda: not by_label(driver, "MCOMEETADV").is_selected(), "not shown")
            if alias == "anna":
                # A calling plan without Teams Phone: Graph's DependencyViolation, in German,
                # at the checkbox that caused it; nothing else changes.
                plan = sku_box(driver, "MCOPSTN1")
                plan.click()
                button(driver, "Änderungen speichern").click()
                wait_for(lambda: plan.get_attribute("aria-invalid") == "true", "no error")  # noqa: B023
                said = " ".join(described_by(driver, plan))
                assert (
                    "⚠ Um eine Lizenz zuzuweisen, die MCOPSTN1 enthält, müssen Sie auch einen "
                    "der folgenden Servicepläne zuweisen: MCOEV." in said
                ), said
                assert driver.switch_to.active_element == plan
                audio = sku_box(driver, "MCOMEETADV")
                assert audio.get_attribute("aria-invalid") != "true"
                assert audio.is_selected() and plan.is_selected()
                assert "Um eine Lizenz" not in " ".join(described_by(driver, audio))
                shot(driver, "20-user-dependency-violation")
                assert held(server, admin, "anna") == {"MCOMEETADV"}
            driver.back()
            wait_for(lambda: heading(driver) == "Aktive Benutzer", "back did not go back")
        assert all(held(server, admin, a) == {"MCOMEETADV"} for a in three)
        assert consumed(server, admin)["MCOMEETADV"] == (3, 0)

        # A user without a usage location gets no license (Graph's words at the checkbox and
        # at the location); once it is set, it shows.
        wait_for(lambda: driver.find_element(By.LINK_TEXT, "Eva Braun"), "no link").click()
        wait_for(lambda: heading(driver) == "Eva Braun", "no page of Eva")
        button(driver, "Lizenzen und Apps").click()
        assert "Legen Sie zuerst einen Nutzungsstandort fest" in text(driver, "main")
        credits_box = wait_for(lambda: sku_box(driver, "MCOPSTNC"), "no checkbox")
        credits_box.click()
        button(driver, "Änderungen speichern").click()
        wait_for(lambda: credits_box.get_attribute("aria-invalid") == "true", "no error")
        said = " ".join(described_by(driver, credits_box))
        assert "kein gültiger Nutzungsstandort" in said, said
        place = by_label(driver, "Standort auswählen")
        assert place.get_attribute("aria-invalid") == "true"
        place.send_keys("Deutschland")
        button(driver, "Standort speichern").click()
        wait_for(
            lambda: (
                text(driver, "#user-usage-location")
                == "Aktueller Nutzungsstandort: Deutschland (DE)"
            ),
            "the usage location was not saved",
        )
        assert "Nutzungsstandort gespeichert" in text(driver, ".location-form .form-message")
        found = api(server, admin, HELD, {"upn": "eva@fabrikam.example"})["user"]
        assert found == {"usageLocation": "DE", "assignedLicenses": []}
        driver.back()
        wait_for(lambda: heading(driver) == "Aktive Benutzer", "back did not go back")

        # Step 2: 100 € with the order review, auto-recharge 50 € below 20 €.
        driver.get(server.url + "/credits/add")
        wait_for(lambda: heading(driver) == "Guthaben hinzufügen", "no add-credits page")
        by_label(driver, "Betrag").send_keys("100")
        button(driver, "Bestellung überprüfen").click()
        wait_for(lambda: text(driver, "#review-heading"), "no order review")
        button(driver, "Bestellung aufgeben").click()
        result = wait_for(lambda: text(driver, "#order-result"), "the order never completed")
        assert "100,00 €" in result, result
        driver.get(server.url + "/credits/auto-recharge")
        wait_for(lambda: heading(driver) == "Automatisches Aufladen", "no auto-recharge page")
        enabled = by_label(driver, "Automatisches Aufladen anwenden")
        if not enabled.is_selected():
            enabled.click()
        for label, value in (("Diesen Betrag hinzufügen", "50"), ("Wenn der Saldo unten", "20")):
            by_label(driver, label).clear()
            by_label(driver, label).send_keys(value)
        button(driver, "Speichern").click()
        wait_for(lambda: "Gespeichert" in text(driver, ".form-message.success"), "not saved")

        # Step 3: the Communication Credits license for the three, with the what-if preview.
        driver.get(server.url + "/users")
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ROWS)) == 5, "no rows")
        for _, name, *_ in people[:3]:
            driver.find_element(By.CSS_SELECTOR, f"#users-table input[aria-label='{name}']").click()
        assert text(driver, "#users-selected") == "3 Benutzer ausgewählt"
        Select(by_label(driver, "Lizenz für die ausgewählten Benutzer")).select_by_value("MCOPSTNC")
        button(driver, "Vorschau anzeigen").click()
        preview = "#batch-preview-table tbody tr"
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, preview)) == 3, "no preview")
        outcomes = [r.text for r in driver.find_elements(By.CSS_SELECTOR, preview)]
        assert all("✓ Lizenz wird zugewiesen" in o for o in outcomes), outcomes
        assert "3 erfolgreich, 0 unverändert, 0 mit Fehler" in text(driver, "#batch-preview")
        assert consumed(server, admin)["MCOPSTNC"][0] == 0  # a preview writes nothing
        shot(driver, "21-users-batch-preview")
        button(driver, "Bestätigen").click()
        done = "#batch-result-table tbody tr"
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, done)) == 3, "not applied")
        outcomes = [r.text for r in driver.find_elements(By.CSS_SELECTOR, done)]
        assert all("✓ Lizenz zugewiesen" in o for o in outcomes), outcomes
        # The page re-read: the list shows the new license, the boxes are clear again.
        wait_for(
            lambda: text(driver, "#users-table").count("Communications Credits") == 3,
            "the list was not re-read",
        )
        assert not any(
            b.is_selected() for b in driver.find_elements(By.CSS_SELECTOR, f"{ROWS} input")
        )
        shot(driver, "22-users-batch-done")
        assert all(held(server, admin, a) == {"MCOMEETADV", "MCOPSTNC"} for a in three)
        assert held(server, admin, "dieter") == held(server, admin, "eva") == set()
        assert consumed(server, admin)["MCOPSTNC"][0] == 3

        # Calls rated elsewhere: the credits page's balance moves live, without a reload.
        driver.get(server.url + "/credits")
        wait_for(lambda: text(driver, "#balance") == "100,00 €", "no balance")
        driver.execute_script("window.notReloaded = true")
        started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
        call = {
            "callId": "dial-out-1",
            "userPrincipalName": "anna@fabrikam.example",
            "startedAt": started,
            "durationSeconds": 600,
            "destination": "+8613800000000",  # outside Zone A: paid by credits
            "callType": "CONFERENCE_DIAL_OUT",
        }
        rated = api(server, admin, CALLS, {"items": [call]})["recordCalls"]["results"][0]
        assert rated["status"] == "RATED" and rated["call"]["chargedMinutes"] == 10, rated
        wait_for(lambda: text(driver, "#balance") == "99,60 €", "the balance did not move live")
        assert driver.execute_script("return window.notReloaded") is True
        errors = severe(driver.get_log("browser"))
        assert not errors, "\n".join(e["message"] for e in errors)


@pytest.mark.backends("sqlite")
def test_a_reader_searches_and_pages_but_changes_nothing(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    seats.purchase_seats(tenant, SYSTEM, "MCOMEETADV", 5, now=clock())
    add_people(
        tenant,
        clock(),
        [
            (
                f"u{n:02d}",
                f"Nutzer {n:02d}",
                None if n > 40 else "DE",
                "Vertrieb" if n % 3 == 0 else "Einkauf",
            )
            for n in range(1, 46)
        ],
    )
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        api(
            server,
            keys["LICENSE_ADMIN"],
            ASSIGN,
            {"u": "u01@fabrikam.example", "add": [{"skuId": "MCOMEETADV"}]},
        )
        driver.get(server.url + "/users")
        sign_in(driver, keys["READER"])
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ROWS)) == 20, "no first page")
        assert text(driver, "#users-total") == "45"
        assert "Benutzer 1–20 von 45" in text(driver, "#users-table caption")
        assert names_shown(driver)[0] == "Nutzer 01"

        # Read only: the batch's controls and the selection are off, the reason tied to them.
        preview = button(driver, "Vorschau anzeigen")
        assert not preview.is_enabled()
        reasons = " ".join(described_by(driver, preview))
        assert "Nur Lesezugriff" in reasons and "READER" in reasons, reasons
        boxes = driver.find_elements(By.CSS_SELECTOR, "#users-table input[type='checkbox']")
        assert len(boxes) == 21 and not any(b.is_enabled() for b in boxes)
        assert "READER" in " ".join(described_by(driver, boxes[1]))
        assert not by_label(driver, "Lizenz für die ausgewählten Benutzer").is_enabled()
        shot(driver, "23-reader-users")

        # Relay cursor pages: forward by endCursor, the cursor in the URL.
        button(driver, "Nächste Seite").click()
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 21"], "no second page")
        assert "after" in query_of(driver) and "Seite 2" in text(driver, ".pager")
        button(driver, "Nächste Seite").click()
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 41"], "no third page")
        assert len(names_shown(driver)) == 5 and not button(driver, "Nächste Seite").is_enabled()
        assert "Benutzer 41–45 von 45" in text(driver, "#users-table caption")
        button(driver, "Vorherige Seite").click()
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 21"], "no way back")
        driver.back()  # the back button: the third page again
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 41"], "back did not go back")
        driver.back()
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 21"], "not back on page 2")
        driver.back()
        wait_for(lambda: names_shown(driver)[:1] == ["Nutzer 01"], "not back on page 1")

        # Filters go into the URL: a reload keeps them; back returns to the last search.
        by_label(driver, "Suchen").send_keys("Nutzer 4")
        button(driver, "Filter anwenden").click()
        wait_for(lambda: text(driver, "#users-total") == "6", "search not applied")
        assert query_of(driver)["search"] == ["Nutzer 4"]
        by_label(driver, "Nur Benutzer ohne Nutzungsstandort").click()
        button(driver, "Filter anwenden").click()
        wait_for(lambda: text(driver, "#users-total") == "5", "location filter not applied")
        assert query_of(driver)["usageLocation"] == [""]
        assert "Kein Nutzungsstandort" in text(driver, "#users-table")
        driver.refresh()
        wait_for(lambda: text(driver, "#users-total") == "5", "the reload lost the filter")
        assert by_label(driver, "Suchen").get_attribute("value") == "Nutzer 4"
        assert by_label(driver, "Nur Benutzer ohne Nutzungsstandort").is_selected()
        driver.back()
        wait_for(lambda: text(driver, "#users-total") == "6", "back lost the search")
        license_filter = Select(by_label(driver, "Lizenz"))
        license_filter.select_by_value("MCOMEETADV")
        by_label(driver, "Suchen").clear()
        button(driver, "Filter anwenden").click()
        wait_for(lambda: names_shown(driver) == ["Nutzer 01"], "license filter not applied")

        # The user page: everything shown, nothing changeable, the reason beside it.
        wait_for(lambda: driver.find_element(By.LINK_TEXT, "Nutzer 01"), "no link").click()
        wait_for(lambda: heading(driver) == "Nutzer 01", "no user page")
        button(driver, "Lizenzen und Apps").click()
        box = wait_for(lambda: sku_box(driver, "MCOMEETADV"), "no license checkbox")
        assert box.is_selected() and not box.is_enabled()
        assert any("READER" in r for r in described_by(driver, box))
        save = button(driver, "Änderungen speichern")
        assert not save.is_enabled()
        assert any("Nur Lesezugriff" in r for r in described_by(driver, save))
        assert not by_label(driver, "Standort auswählen").is_enabled()
        assert "Aktueller Nutzungsstandort: Deutschland (DE)" in text(driver, "main")
        driver.refresh()  # the tab is in the URL
        wait_for(lambda: sku_box(driver, "MCOMEETADV").is_displayed(), "the tab was lost")
        shot(driver, "24-reader-user-licenses")
        errors = severe(driver.get_log("browser"))
        assert not errors, "\n".join(e["message"] for e in errors)


@pytest.mark.backends("sqlite")
def test_a_users_count_that_stopped_at_the_cap_is_shown_as_more(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    """10,050 users in Sales: a department filter's count stops at 10,000 (no kept number for
    it), and the page says "10.000+", not 10,000 as if that were all."""
    from commcredits import db as database
    from commcredits.models import User

    rows = [
        {"tenant": tenant.id, "user_principal_name": f"s{i}@fabrikam.example",
         "upn_key": f"s{i}@fabrikam.example", "department": "Sales",
         "search_text": f"s{i}@fabrikam.example", "created_at": clock(), "updated_at": clock()}
        for i in range(10_050)
    ]  # fmt: skip
    with database.db.atomic():
        for start in range(0, len(rows), 1000):
            User.insert_many(rows[start : start + 1000]).execute()
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["READER"])
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "not signed in")
        driver.get(server.url + "/users?department=Sales")
        shown = wait_for(lambda: text(driver, "#users-total"), "no users count")
        assert shown == "10.000+", shown
        assert "10.000+" in text(driver, "main table caption")
        assert not severe(driver.get_log("browser"))
