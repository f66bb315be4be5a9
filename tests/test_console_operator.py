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
        assert json.loads(driver.execute_script(STORED))["name"] == "Fabrikam"
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

        # The chosen tenant renamed meanwhile: the console says so and asks again.
        Tenant.update(name="Northwind AG").where(Tenant.id == northwind.id).execute()
        driver.find_element(By.LINK_TEXT, "Kommunikationsguthaben").click()
        refused = wait_for(lambda: text(driver, "main [role=alert]"), "no word of the tenant")
        assert "„Northwind“ ist nicht mehr verfügbar" in refused, refused
        assert heading(driver) == "Mandant wählen" and driver.execute_script(STORED) is None
        only_expected_404s(driver)
        button(driver, "Fabrikam").click()
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "no Fabrikam again")

        # Refused by a request that is not a page's first read (a pager, a form, a re-read):
        # the same, whichever request learns it.
        Tenant.update(name="Fabrikam GmbH").where(Tenant.id == tenant.id).execute()
        driver.execute_script(
            "const main = document.querySelector('script[type=module]').src;"
            "import(new URL('api.js', main).href)"
            ".then((api) => api.gql('query { tenant { name } }')).catch(() => {});"
        )
        refused = wait_for(lambda: text(driver, "main [role=alert]"), "no word of the refusal")
        assert "„Fabrikam“ ist nicht mehr verfügbar" in refused, refused
        assert heading(driver) == "Mandant wählen" and driver.execute_script(STORED) is None
        assert "Fabrikam · OPERATOR" not in text(driver, "header.top")
        only_expected_404s(driver)
        button(driver, "Fabrikam GmbH").click()
        wait_for(lambda: text(driver, "#balance") == "42,00 €", "no Fabrikam after the rename")
        Tenant.update(name="Fabrikam").where(Tenant.id == tenant.id).execute()

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
        assert driver.execute_script(STORED) is None
        assert not severe(driver.get_log("browser"))
