"""The console after an answer that never came, in German Chromium: buying seats says trying
again is safe, and buying again sends the order with its idempotency key, so the seats are
bought once (a changed quantity is a new order); a ledger or audit page turn or filter that got
no answer leaves the numbering, the rows, the filter and the address as they were and says so
in German; focus stays on the pager when the last page turns Next off (README "Admin
console")."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.console_browser import FAIL, api, button, by_label, console, sign_in, text, wait_for

PURCHASE = """mutation($k: String!) { purchaseCredits(amount: "42.00", idempotencyKey: $k) {
  userErrors { code } } }"""
SEATS = "{ subscribedSkus { skuPartNumber prepaidUnits { enabled } } }"

# The next request naming `operation` reaches the server, but its answer is lost on the way
# back (`window.loseNext = true` loses one more).
LOSE_ANSWER = """
const [operation] = arguments;
const original = window.fetch;
window.loseNext = true;
window.fetch = async function (url, options) {
  const response = await original.apply(this, arguments);
  if (window.loseNext && String(options && options.body).includes(operation)) {
    window.loseNext = false;
    throw new TypeError("Failed to fetch");
  }
  return response;
};
"""


def purchased(server, key: str) -> dict[str, int]:
    found = api(server, key, SEATS)["subscribedSkus"]
    return {s["skuPartNumber"]: s["prepaidUnits"]["enabled"] for s in found}


@pytest.mark.backends("sqlite")
def test_seats_bought_again_after_a_lost_answer_are_bought_once(
    db_url, keys, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/licenses")
        sign_in(driver, admin, lands_on="Lizenzen")
        wait_for(lambda: driver.find_elements(By.ID, "buy-seats"), "no purchase form")
        sku = by_label(driver, "Produkt").get_attribute("value")
        message = "#buy-seats .form-message"
        driver.execute_script(LOSE_ANSWER, "PurchaseSeats")
        quantity = by_label(driver, "Anzahl")
        quantity.send_keys("5")
        button(driver, "Lizenzen kaufen").click()
        said = wait_for(lambda: text(driver, message), "nothing said")
        assert purchased(server, admin) == {sku: 5}  # the server bought them; the answer was lost
        assert "neuer Versuch ist sicher" in said and "nicht doppelt" in said, said
        assert quantity.get_attribute("value") == "5"  # the order stays, to be sent again

        # Buying again sends the same order with its key: answered, not bought twice.
        button(driver, "Lizenzen kaufen").click()
        done = wait_for(lambda: text(driver, message + ".success"), "no purchase message")
        assert purchased(server, admin) == {sku: 5}
        assert "bereits ausgeführt" in done and "einmal gekauft" in done, done
        assert "5 Lizenz(en)" in done and "Jetzt 5 erworben" in done, done
        assert quantity.get_attribute("value") == ""
        row = f"//table//tr[td//*[contains(., '{sku}')]]/td[2]"
        wait_for(lambda: text_at(driver, row) == "5", "table not re-read")

        # The order went through: the same product and quantity again is a new order.
        quantity.send_keys("5")
        button(driver, "Lizenzen kaufen").click()
        wait_for(lambda: "Jetzt 10 erworben" in text(driver, message), "not bought again")
        assert "hinzugefügt" in text(driver, message)
        assert purchased(server, admin) == {sku: 10}

        # After another lost answer, a changed quantity is a new order (not the key reused).
        driver.execute_script("window.loseNext = true")
        quantity.send_keys("2")
        button(driver, "Lizenzen kaufen").click()
        wait_for(lambda: "nicht doppelt" in text(driver, message), "no lost answer")
        assert purchased(server, admin) == {sku: 12}
        quantity.clear()
        quantity.send_keys("3")
        button(driver, "Lizenzen kaufen").click()
        wait_for(lambda: "Jetzt 15 erworben" in text(driver, message), "3 not bought")
        assert purchased(server, admin) == {sku: 15}
        wait_for(lambda: text_at(driver, row) == "15", "table not re-read")


def text_at(driver, xpath: str) -> str:
    found = driver.find_elements(By.XPATH, xpath)
    return found[0].text if found else ""


NO_ANSWER = "Der Server hat nicht geantwortet"


def focused_text(driver) -> str:
    return driver.switch_to.active_element.text


@pytest.mark.backends("sqlite")
def test_a_ledger_page_turn_without_an_answer_keeps_the_numbering(
    db_url, keys, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        for n in range(12):  # 12 ledger entries: two pages of 10
            api(server, admin, PURCHASE, {"k": f"ledger-{n}"})
        driver.get(server.url + "/sign-in")
        sign_in(driver, admin)
        wait_for(lambda: "Seite 1 von 2" in text(driver, "#ledger"), "no ledger")
        driver.execute_script(FAIL, "CreditsLedger")
        button(driver, "Nächste Seite").click()
        said = wait_for(lambda: text(driver, ".ledger-filter .form-message"), "nothing said")
        assert NO_ANSWER in said and "Failed to fetch" not in said, said
        assert "Seite 1 von 2" in text(driver, "#ledger")
        driver.execute_script("window.failing = false")
        button(driver, "Nächste Seite").click()
        wait_for(lambda: "Seite 2 von 2" in text(driver, "#ledger"), "no second page")
        # Next is off on the last page: focus on Previous, not lost to the page.
        assert focused_text(driver) == "Vorherige Seite"
        assert not driver.find_element(By.CSS_SELECTOR, ".ledger-filter .form-message").text

        # A filter that got no answer: the old rows, URL and numbering stay, and it says so.
        driver.execute_script("window.failing = true")
        by_label(driver, "Referenz").send_keys("nothing-like-this")
        button(driver, "Filter anwenden").click()
        wait_for(lambda: NO_ANSWER in text(driver, ".ledger-filter .form-message"), "no failure")
        assert "?" not in driver.current_url and "Seite 2 von 2" in text(driver, "#ledger")


@pytest.mark.backends("sqlite")
def test_an_audit_filter_or_page_turn_without_an_answer_changes_nothing(
    db_url, keys, tmp_path, monkeypatch
):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        for n in range(12):  # 12 audit entries at least: two pages of 10
            api(server, admin, PURCHASE, {"k": f"audit-{n}"})
        driver.get(server.url + "/activity")
        sign_in(driver, admin)
        wait_for(lambda: "Seite 1 von" in text(driver, "#audit-log"), "no audit log")
        driver.execute_script(FAIL, "ActivityAudit")
        by_label(driver, "Aktion").send_keys("configureAutoRecharge")
        button(driver, "Filter anwenden").click()
        said = wait_for(lambda: text(driver, ".audit-filter .form-message"), "nothing said")
        assert NO_ANSWER in said, said
        # Neither the address nor the status claims the old rows match the new filter.
        assert "?" not in driver.current_url
        assert "passen zum Filter" not in text(driver, ".activity-status")
        assert "Gefiltert" not in text(driver, "#audit-log")

        pages = text(driver, "#audit-log .pager span")
        assert pages == "Seite 1 von 2", pages
        driver.find_elements(By.CSS_SELECTOR, "#audit-log .pager button")[1].click()
        wait_for(lambda: NO_ANSWER in text(driver, "#audit-log [role=alert]"), "no failure")
        assert text(driver, "#audit-log .pager span") == pages  # still page 1

        driver.execute_script("window.failing = false")
        next_button = driver.find_elements(By.CSS_SELECTOR, "#audit-log .pager button")[1]
        next_button.click()
        wait_for(lambda: "Seite 2 von" in text(driver, "#audit-log .pager span"), "no page 2")
        assert focused_text(driver) == "Vorherige Seite"  # Next is off on the last page


@pytest.mark.backends("sqlite")
def test_a_saved_change_is_said_saved_when_only_the_read_after_it_failed(
    db_url, keys, tenant, clock, tmp_path, monkeypatch
):
    from commcredits.services import users
    from commcredits.services.access import SYSTEM

    fields = users.UserFields(user_principal_name="adele@fabrikam.example", display_name="Adele")
    users.create_user(tenant, SYSTEM, fields, now=clock())
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        found = api(server, admin, "{ users(first: 1) { nodes { id } } }")
        user_id = found["users"]["nodes"][0]["id"]
        driver.get(f"{server.url}/users/user?id={user_id}&tab=licenses")
        sign_in(driver, admin, lands_on="Adele")
        driver.execute_script(FAIL, "UserPage")  # the page's read after the save gets no answer
        by_label(driver, "Standort auswählen").send_keys("DE")
        button(driver, "Standort speichern").click()
        said = wait_for(lambda: text(driver, ".user-location [role=alert]"), "nothing said")
        assert "Nutzungsstandort gespeichert" in said and NO_ANSWER in said, said
        query = '{ user(userPrincipalName: "adele@fabrikam.example") { usageLocation } }'
        assert api(server, admin, query)["user"]["usageLocation"] == "DE"
