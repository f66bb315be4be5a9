"""The console after an answer that never came, in German Chromium: buying seats (purchaseSeats
has no idempotency key) reads the seats again and says whether the order went through instead
of inviting a retry that would buy them twice (README "Admin console")."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.console_browser import api, button, by_label, console, heading, sign_in, text, wait_for

SEATS = "{ subscribedSkus { skuPartNumber prepaidUnits { enabled } } }"

# Requests naming `operation` reach the server, but their answer is lost on the way back.
LOSE_ANSWER = """
const [operation] = arguments;
const original = window.fetch;
window.fetch = async function (url, options) {
  const response = await original.apply(this, arguments);
  if (String(options && options.body).includes(operation)) {
    throw new TypeError("Failed to fetch");
  }
  return response;
};
"""


def purchased(server, key: str) -> dict[str, int]:
    found = api(server, key, SEATS)["subscribedSkus"]
    return {s["skuPartNumber"]: s["prepaidUnits"]["enabled"] for s in found}


@pytest.mark.backends("sqlite")
def test_seats_bought_whose_answer_was_lost_are_read_again(db_url, keys, tmp_path, monkeypatch):
    admin = keys["GLOBAL_ADMIN"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/licenses")
        sign_in(driver, admin)
        wait_for(lambda: heading(driver) == "Lizenzen", "no licenses page")
        wait_for(lambda: driver.find_elements(By.ID, "buy-seats"), "no purchase form")
        sku = by_label(driver, "Produkt").get_attribute("value")
        driver.execute_script(LOSE_ANSWER, "PurchaseSeats")
        by_label(driver, "Anzahl").send_keys("5")
        button(driver, "Lizenzen kaufen").click()
        said = wait_for(lambda: text(driver, "#buy-seats .form-message"), "nothing said")
        assert purchased(server, admin) == {sku: 5}
        # Not "try again": the order went through, and the table shows it.
        assert "erneut" not in said and "Kauf wurde aber ausgeführt" in said, said
        assert "5 erworbene" in said, said
        assert by_label(driver, "Anzahl").get_attribute("value") == ""
