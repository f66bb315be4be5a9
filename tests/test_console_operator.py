"""The admin console for an operator (README "Admin console"): an operator key belongs to no
tenant, so after sign-in the console asks which tenant to look into (the tenant picker: every
tenant by pages, or one by exact name), then sends `X-Commcredits-Tenant` with every request and
in the websocket's connection_init; the header names the tenant with a way to switch, the choice
survives a reload (sessionStorage) and ends at sign-out. In German, in Debian's headless
Chromium, every screenshot scanned with axe-core first (tests/console_browser.py).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By

from commcredits.models import Tenant
from commcredits.services import users
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.tenants import create_tenant
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

PURCHASE = """mutation($k: String!) { purchaseCredits(amount: "42.00", idempotencyKey: $k) {
  userErrors { code } } }"""
STORED = "return sessionStorage.getItem('commcredits.console.tenant')"
TENANT_ROWS = "#tenant-list tbody tr"
USER_NAMES = "#users-table tbody th a"
NAME_FIELD = "Name oder ID des Mandanten"


def add_user(tenant, now, alias: str, name: str, domain: str) -> None:
    fields = users.UserFields(
        user_principal_name=f"{alias}@{domain}", display_name=name, usage_location="DE"
    )
    users.create_user(tenant, SYSTEM, fields, now=now)


def names_shown(driver) -> list[str]:
    return sorted(a.text for a in driver.find_elements(By.CSS_SELECTOR, USER_NAMES))


def only_expected_404s(driver) -> None:
    """An unknown tenant is a 404 of POST /graphql, which Chromium logs as an error: that one
    is expected (and read off the log here, so the next screenshot's check starts clean)."""
    unexpected = [
        e
        for e in severe(driver.get_log("browser"))
        if not ("/graphql" in e["message"] and "404" in e["message"])
    ]
    assert not unexpected, unexpected


def tenants_logged(server, operation: str) -> set[int | None]:
    return {e.get("tenant") for e in server.log_lines() if e.get("operation") == operation}


@pytest.mark.backends("sqlite")
def test_an_operator_picks_a_tenant_switches_and_signs_out(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    admin, operator = keys["GLOBAL_ADMIN"], keys["OPERATOR"]
    add_user(tenant, clock(), "anna", "Anna Schmidt", "fabrikam.example")
    add_user(tenant, clock(), "ben", "Ben Weber", "fabrikam.example")
    # 22 tenants: the picker's list has two pages of 20 (oldest first: Fabrikam on page 1,
    # Northwind, the newest, on page 2).
    for n in range(1, 21):
        create_tenant(
            SYSTEM,
            name=f"Mandant {n:02d}",
            country="AT",
            currency="EUR",
            agreement_type="MOSA",
            now=clock(),
        )
    northwind = create_tenant(
        SYSTEM, name="Northwind", country="DE", currency="EUR", agreement_type="MOSA", now=clock()
    )
    add_user(northwind, clock(), "carl", "Carl Nord", "northwind.example")
    northwind_admin = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=northwind, now=clock())[
        1
    ]

    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # A deep link, signed out: sign in with the operator key, then the picker at that address.
        driver.get(server.url + "/users")
        sign_in(driver, operator)
        wait_for(lambda: heading(driver) == "Mandant wählen", "no tenant picker")
        assert urlsplit(driver.current_url).path == "/users"
        assert "Kein Mandant gewählt · OPERATOR" in text(driver, "header.top")
        assert not driver.find_elements(By.CSS_SELECTOR, "header nav a"), "no pages yet"
        assert not driver.find_elements(By.XPATH, "//button[normalize-space()='Mandant wechseln']")
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#tenant-list"), "no paged list")
        assert len(driver.find_elements(By.CSS_SELECTOR, TENANT_ROWS)) == 20
        assert "20 von 22 Mandanten" in text(driver, "#tenant-list caption")
        assert "Fabrikam" in text(driver, "#tenant-list") and "Northwind" not in text(
            driver, "#tenant-list"
        )
        shot(driver, "op-01-tenant-picker")

        button(driver, "Nächste Seite").click()
        wait_for(lambda: "Seite 2 von 2" in text(driver, "#tenant-list"), "no second page")
        assert len(driver.find_elements(By.CSS_SELECTOR, TENANT_ROWS)) == 2
        assert "Northwind" in text(driver, "#tenant-list")
        button(driver, "Vorherige Seite").click()
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#tenant-list"), "no way back")

        # Part of a name filters the list (the server's `search`); nothing found is said.
        search = by_label(driver, "Name enthält")
        search.send_keys("WIND")
        button(driver, "Suchen").click()
        wait_for(lambda: "mit „WIND“ im Namen" in text(driver, "#tenant-list caption"), "no filter")
        rows = driver.find_elements(By.CSS_SELECTOR, "#tenant-list tbody button")
        assert [e.text for e in rows] == ["Northwind"]
        assert "1 von 1 Mandanten" in text(driver, "#tenant-list caption")
        shot(driver, "op-02a-tenant-search")
        search.clear()
        search.send_keys("zz")
        button(driver, "Suchen").click()
        wait_for(lambda: "Kein Mandant hat „zz“ im Namen." in text(driver, "#tenant-list"), "none")
        search.clear()
        button(driver, "Suchen").click()
        wait_for(lambda: "20 von 22 Mandanten" in text(driver, "#tenant-list caption"), "not all")

        # By exact name, asked of the server: an unknown one is said at the field.
        field = by_label(driver, NAME_FIELD)
        field.send_keys("Contoso")
        button(driver, "Mandant öffnen").click()
        wait_for(lambda: field.get_attribute("aria-invalid") == "true", "unknown name accepted")
        assert "Kein Mandant heißt „Contoso“" in " ".join(described_by(driver, field))
        assert driver.switch_to.active_element == field
        only_expected_404s(driver)
        shot(driver, "op-02-tenant-unknown")

        # Fabrikam from the list: on to the users page that was asked for, for that tenant.
        button(driver, "Fabrikam").click()
        wait_for(lambda: heading(driver) == "Aktive Benutzer", "no users page after the choice")
        wait_for(lambda: names_shown(driver) == ["Anna Schmidt", "Ben Weber"], "not its users")
        assert "Fabrikam · OPERATOR" in text(driver, "header.top")
        # The header carries its id, not its name (a rename does not end the choice).
        assert json.loads(driver.execute_script(STORED)) == {
            "ref": str(tenant.id),
            "name": "Fabrikam",
        }
        shot(driver, "op-03-fabrikam-users")

        # Its credits, read-only for an operator, and live over the websocket.
        driver.find_element(By.LINK_TEXT, "Kommunikationsguthaben").click()
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "no balance of Fabrikam")
        assert "Als Betreiber" in text(driver, ".balance-card")
        driver.execute_script("window.notReloaded = true")
        api(server, admin, PURCHASE, {"k": "seen-by-the-operator"})
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "no live balance for the operator")
        assert driver.execute_script("return window.notReloaded") is True
        shot(driver, "op-04-fabrikam-credits-live")
        assert tenants_logged(server, "CreditsPage") == {tenant.id}  # every request named it

        # A reload keeps the tenant (sessionStorage) and the page.
        driver.refresh()
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "the reload lost the tenant")
        assert heading(driver) == "Kommunikationsguthaben"
        assert "Fabrikam · OPERATOR" in text(driver, "header.top")

        # Switch: the picker at the same address; Northwind by name; its credits, live too.
        button(driver, "Mandant wechseln").click()
        wait_for(lambda: heading(driver) == "Mandant wählen", "no picker after the switch")
        assert urlsplit(driver.current_url).path == "/credits"
        assert driver.execute_script(STORED) is None
        by_label(driver, NAME_FIELD).send_keys("Northwind")
        button(driver, "Mandant öffnen").click()
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "no page after the switch")
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "not Northwind's balance")
        assert "Northwind · OPERATOR" in text(driver, "header.top")
        api(server, northwind_admin, PURCHASE, {"k": "northwind"})
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "no live balance of Northwind")
        assert tenants_logged(server, "CreditsPage") == {tenant.id, northwind.id}
        driver.find_element(By.LINK_TEXT, "Aktive Benutzer").click()
        wait_for(lambda: names_shown(driver) == ["Carl Nord"], "not Northwind's users")
        shot(driver, "op-05-northwind-users")

        # The chosen tenant renamed meanwhile: still the same tenant (the header names its id).
        Tenant.update(name="Northwind AG").where(Tenant.id == northwind.id).execute()
        driver.find_element(By.LINK_TEXT, "Kommunikationsguthaben").click()
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "a rename refused the tenant")
        assert heading(driver) == "Kommunikationsguthaben"
        assert "nicht mehr verfügbar" not in text(driver, "main")
        # The header names it as it is now (read again with each page), and keeps the name
        # over a reload (the stored choice follows).
        wait_for(
            lambda: "Northwind AG · OPERATOR" in text(driver, "header.top"), "the old name shown"
        )
        assert json.loads(driver.execute_script(STORED))["name"] == "Northwind AG"

        # The chosen tenant gone meanwhile: the console says so and asks again.
        Tenant.delete().where(Tenant.id == northwind.id).execute()
        driver.find_element(By.LINK_TEXT, "Aktive Benutzer").click()
        refused = wait_for(lambda: text(driver, "main [role=alert]"), "no word of the tenant")
        assert "„Northwind AG“ ist nicht mehr verfügbar" in refused, refused
        assert heading(driver) == "Mandant wählen" and driver.execute_script(STORED) is None
        only_expected_404s(driver)
        button(driver, "Mandant 01").click()
        wait_for(lambda: heading(driver) == "Aktive Benutzer", "no users page of Mandant 01")
        assert "Mandant 01 · OPERATOR" in text(driver, "header.top")

        # Refused by a request that is not a page's first read (a pager, a form, a re-read):
        # the same, whichever request learns it.
        Tenant.delete().where(Tenant.name == "Mandant 01").execute()
        driver.execute_script(
            "const main = document.querySelector('script[type=module]').src;"
            "import(new URL('api.js', main).href)"
            ".then((api) => api.gql('query { tenant { name } }')).catch(() => {});"
        )
        refused = wait_for(lambda: text(driver, "main [role=alert]"), "no word of the refusal")
        assert "„Mandant 01“ ist nicht mehr verfügbar" in refused, refused
        assert heading(driver) == "Mandant wählen" and driver.execute_script(STORED) is None
        assert "Mandant 01 · OPERATOR" not in text(driver, "header.top")
        only_expected_404s(driver)
        button(driver, "Fabrikam").click()
        wait_for(lambda: names_shown(driver) == ["Anna Schmidt", "Ben Weber"], "no Fabrikam")

        # Sign-out ends the choice: signing in again asks anew.
        button(driver, "Abmelden").click()
        wait_for(lambda: heading(driver) == "Anmelden", "sign-out did not sign out")
        assert driver.execute_script(STORED) is None
        sign_in(driver, operator)
        wait_for(lambda: heading(driver) == "Mandant wählen", "the old choice came back")

        # A tenant's own admin in the same tab: no picker, no switch, as before.
        button(driver, "Abmelden").click()
        sign_in(driver, admin)
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "the admin's credits")
        assert "Fabrikam · GLOBAL_ADMIN" in text(driver, "header.top")
        assert not driver.find_elements(By.XPATH, "//button[normalize-space()='Mandant wechseln']")
        # Its tenant renamed meanwhile: the next page's header says so.
        Tenant.update(name="Fabrikam GmbH").where(Tenant.name == "Fabrikam").execute()
        driver.find_element(By.LINK_TEXT, "Aktive Benutzer").click()
        wait_for(
            lambda: "Fabrikam GmbH · GLOBAL_ADMIN" in text(driver, "header.top"),
            "the admin's header shows the old name",
        )
        assert driver.execute_script(STORED) is None
        assert not severe(driver.get_log("browser"))


@pytest.mark.backends("sqlite")
def test_the_live_socket_tells_a_refused_tenant_from_an_ended_session(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    """Both close the credits page's websocket with 4403; the console asks over HTTP which it
    was: a tenant gone returns to the picker with the HTTP refusal's message, an ended session
    to the sign-in page. Nothing but the socket learns it here: the page is left alone."""
    admin, operator = keys["GLOBAL_ADMIN"], keys["OPERATOR"]
    northwind = create_tenant(
        SYSTEM, name="Northwind", country="DE", currency="EUR", agreement_type="MOSA", now=clock()
    )
    northwind_admin = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=northwind, now=clock())[
        1
    ]
    # The server looks the socket's tenant up again this often (README "Live updates").
    monkeypatch.setenv("COMMCREDITS_WS_RECHECK_SECONDS", "0.5")
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/credits")
        sign_in(driver, operator)
        wait_for(lambda: heading(driver) == "Mandant wählen", "no tenant picker")
        by_label(driver, NAME_FIELD).send_keys("Northwind")
        button(driver, "Mandant öffnen").click()
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "no credits of Northwind")
        api(server, northwind_admin, PURCHASE, {"k": "live"})
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "the socket is not live")

        # Renamed while the socket is open: it stays (both sides name the tenant by its id).
        Tenant.update(name="Northwind AG").where(Tenant.id == northwind.id).execute()
        api(server, northwind_admin, PURCHASE.replace("42.00", "1.00"), {"k": "renamed"})
        wait_for(lambda: text(driver, "#balance") == "43,00 €", "a rename closed the socket")
        # The page then reads its lots and ledger again; done before the tenant goes, so that
        # the socket is what learns it.
        wait_for(
            lambda: (
                "1,00 €" in text(driver, "#ledger") and text(driver, "main").count("1,00 €") >= 3
            ),
            "the page did not read again after the event",
        )

        # Gone while the socket is open: the server's recheck closes it; back to the picker,
        # still signed in, with the message an HTTP refusal of the tenant shows.
        Tenant.delete().where(Tenant.id == northwind.id).execute()
        refused = wait_for(lambda: text(driver, "main [role=alert]"), "no word of the tenant")
        assert "„Northwind“ ist nicht mehr verfügbar" in refused, refused
        assert heading(driver) == "Mandant wählen" and driver.execute_script(STORED) is None
        assert "Kein Mandant gewählt · OPERATOR" in text(driver, "header.top")
        assert urlsplit(driver.current_url).path == "/credits"
        # Learnt by the socket's close and the console's question that followed.
        assert [e["status"] for e in server.log_lines() if e.get("operation") == "LiveCheck"] == [
            404
        ]
        only_expected_404s(driver)

        # The session ended elsewhere (signed out from another client): the socket closes at
        # once, and the console shows the sign-in page.
        button(driver, "Fabrikam").click()
        wait_for(lambda: text(driver, "#balance") == "0,00 €", "no credits of Fabrikam")
        api(server, admin, PURCHASE, {"k": "fabrikam"})
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "the socket is not live")
        session = driver.get_cookie("commcredits_session")["value"]
        csrf = driver.get_cookie("commcredits_csrf")["value"]
        out = httpx.delete(
            server.url + "/auth/session",
            headers={
                "Cookie": f"commcredits_session={session}; commcredits_csrf={csrf}",
                "X-CSRF-Token": csrf,
            },
            timeout=20,
        )
        assert out.status_code == 204, out.text
        wait_for(lambda: heading(driver) == "Anmelden", "an ended session did not sign out")
        assert "OPERATOR" not in text(driver, "header.top")
        assert not severe(driver.get_log("browser"))
        # Signing in again returns to the page (a new session asks for a tenant anew).
        sign_in(driver, operator)
        wait_for(lambda: heading(driver) == "Mandant wählen", "no picker after signing in")
        assert urlsplit(driver.current_url).path == "/credits"
