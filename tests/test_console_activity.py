"""The console's balance chart, ledger filter and activity page (issue 14, items 2 and 8), in
German in headless Chromium (tests/console_browser.py): the chart of the last 90 days with its
words and table in German money, drawn again when the balance changes live; the ledger filtered
by kind and dates, kept over a reload; notifications listed and a new one arriving live; the
audit log with its changes, filtered by action in the URL. Every screenshot is scanned with
axe-core first (var/screenshots/console/4x-*.png).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By

from commcredits import db as database
from commcredits.db import insert_values
from commcredits.models import AuditEntry
from commcredits.money import Money
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from tests.console_browser import (
    api,
    button,
    by_label,
    console,
    heading,
    severe,
    shot,
    sign_in,
    text,
    wait_for,
)

PURCHASE = """mutation($k: String!, $a: Decimal!) {
  purchaseCredits(amount: $a, idempotencyKey: $k) { userErrors { code } } }"""
CONFIGURE = """mutation { configureAutoRecharge(enabled: true, rechargeAmount: "50",
  triggerBalance: "20") { userErrors { code } } }"""
ADJUST = """mutation($t: ID!, $a: Decimal!, $k: String!) {
  adjustCredits(tenantId: $t, amount: $a, reason: "Korrektur im Test", idempotencyKey: $k) {
    userErrors { code } } }"""
CHART = "#balance-history canvas[role='img']"
ROWS = "#ledger tbody tr"


def kinds_shown(driver) -> list[str]:
    return [
        row.find_elements(By.TAG_NAME, "td")[2].text
        for row in driver.find_elements(By.CSS_SELECTOR, ROWS)
    ]


@pytest.mark.backends("sqlite")
def test_the_balance_chart_and_the_ledger_filter(db_url, keys, tenant, tmp_path, monkeypatch):
    # A history to draw: bought 12 days ago, spent 5 days ago (days are UTC days).
    now = dt.datetime.now(dt.UTC)
    bought, spent = now - dt.timedelta(days=12), now - dt.timedelta(days=5)
    credits.purchase_credits(tenant, SYSTEM, D("150"), idempotency_key="old", now=bought)
    for n in range(3):
        credits.debit(
            tenant, SYSTEM, Money(D("10"), "EUR"), reference=f"call-{n}", idempotency_key=None,
            now=spent + dt.timedelta(minutes=n),
        )  # fmt: skip
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["READER"])  # reading only: a READER sees and filters everything
        wait_for(lambda: text(driver, "#balance") == "120,00 €", "no credits page")
        canvas = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, CHART), "no chart")
        label = canvas.get_attribute("aria-label").replace("\xa0", " ")
        assert label.startswith("Saldo der letzten 90 Tage: Jetzt 120,00 €"), label
        assert "0,00 €" in label and "150,00 €" in label, label
        assert canvas.size["width"] > 300 and canvas.size["height"] > 100
        words = text(driver, "#balance-history .history-summary")
        assert "zwischen 0,00 €" in words and "150,00 €" in words, words
        driver.find_element(By.CSS_SELECTOR, "#balance-history summary").click()
        points = driver.find_elements(By.CSS_SELECTOR, "#balance-history details tbody tr")
        assert len(points) == 90
        first_day = points[0].text.replace("\xa0", " ")
        assert first_day == f"{now:%d.%m.%Y} 120,00 €", first_day  # newest first, de-DE
        assert points[12].text.replace("\xa0", " ").endswith(" 150,00 €")
        assert points[13].text.replace("\xa0", " ").endswith(" 0,00 €")
        driver.find_element(By.CSS_SELECTOR, "#balance-history summary").click()  # closed again
        shot(driver, "40-credits-balance-history")

        # Drawn again when the balance changes live.
        api(server, keys["GLOBAL_ADMIN"], PURCHASE, {"k": "live", "a": "30"})
        wait_for(
            lambda: (
                "Jetzt 150,00 €"
                in driver.find_element(By.CSS_SELECTOR, CHART)
                .get_attribute("aria-label")
                .replace("\xa0", " ")
            ),
            "the chart was not drawn again",
        )

        # The ledger by kind: only consumption, page 1, the filter in the URL. (The ledger is
        # read again beside the chart, not before it: wait for its new entry too.)
        wait_for(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, ROWS)) == 5, "ledger not re-read"
        )
        by_label(driver, "Verbraucht").click()
        button(driver, "Filter anwenden").click()
        wait_for(lambda: kinds_shown(driver) == ["Verbraucht"] * 3, "the kind filter")
        assert parse_qs(urlsplit(driver.current_url).query) == {"kind": ["CONSUMED"]}
        assert "3 Buchungen passen" in text(driver, ".ledger-status")
        assert "Seite 1 von 1" in text(driver, "#ledger")
        shot(driver, "41-ledger-filtered")
        driver.refresh()  # the filter survives a reload
        wait_for(lambda: kinds_shown(driver) == ["Verbraucht"] * 3, "the filter after a reload")
        assert by_label(driver, "Verbraucht").is_selected()
        assert not by_label(driver, "Aufgeladen").is_selected()

        # Dates: from the day of the spending to the day after it (both included), by URL.
        day = f"{spent:%Y-%m-%d}"
        driver.get(server.url + f"/credits?from={day}&to={day}")
        wait_for(lambda: kinds_shown(driver) == ["Verbraucht"] * 3, "the date filter")
        assert by_label(driver, "Von (Datum)").get_attribute("value") == day
        driver.get(server.url + f"/credits?kind=FUNDED&to={spent - dt.timedelta(days=1):%Y-%m-%d}")
        wait_for(lambda: kinds_shown(driver) == ["Aufgeladen"], "kind and date together")
        # An end before the start is refused at the field, before asking the API.
        to = by_label(driver, "Bis (Datum")
        driver.execute_script("arguments[0].value = '2020-01-01'", to)
        driver.execute_script("arguments[0].value = '2020-02-01'", by_label(driver, "Von (Datum)"))
        button(driver, "Filter anwenden").click()
        wait_for(lambda: to.get_attribute("aria-invalid") == "true", "no error at the field")
        button(driver, "Filter zurücksetzen").click()
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ROWS)) == 5, "no reset")
        assert urlsplit(driver.current_url).query == ""

        # Another language: the page is drawn anew, axes and words in its format.
        button(driver, "English").click()
        wait_for(
            lambda: (
                driver.find_element(By.CSS_SELECTOR, CHART)
                .get_attribute("aria-label")
                .startswith("Balance, last 90 days: Now €150.00.")
            ),
            "the chart in English",
        )
        assert len(driver.find_elements(By.CSS_SELECTOR, "#balance-history canvas")) == 1
        assert not severe(driver.get_log("browser"))


@pytest.mark.backends("sqlite")
def test_notifications_arrive_live_and_the_audit_log_filters(db_url, keys, tmp_path, monkeypatch):
    admin, operator = keys["GLOBAL_ADMIN"], keys["OPERATOR"]
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        # Auto-recharge on at a balance of 0: 50 € are recharged at once; a notification says so.
        api(server, admin, CONFIGURE)
        api(server, admin, PURCHASE, {"k": "first", "a": "42"})  # 92 €
        tenant_id = api(server, admin, "{ tenant { id } }")["tenant"]["id"]
        api(server, operator, ADJUST, {"t": tenant_id, "a": "-30", "k": "adjust-1"})  # 62 €
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["READER"])
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "not signed in")
        driver.find_element(By.LINK_TEXT, "Benachrichtigungen und Überwachung").click()
        wait_for(
            lambda: heading(driver) == "Benachrichtigungen und Überwachungsprotokoll",
            "no activity page",
        )
        notes = wait_for(lambda: text(driver, "#notifications tbody"), "no notifications")
        assert "Automatisch aufgeladen" in notes and "50,00 € hinzugefügt" in notes, notes
        assert "Kein Webhook" in notes or "Ausstehend" in notes, notes
        # The audit log is read beside the notes: its rows may come a moment later.
        wait_for(lambda: text(driver, "#audit-log tbody"), "no audit log rows")
        audit = text(driver, "#audit-log")
        for words in ("Guthaben gekauft", "Automatisches Aufladen geändert", "Guthaben korrigiert"):
            assert words in audit, (words, audit)
        assert "balance: 92.00 → 62.00" in audit and "reason: — → Korrektur im Test" in audit

        # Live: 62 − 45 = 17 is below the trigger of 20: another recharge, and its notification
        # comes on top, marked new, announced politely.
        driver.execute_script("window.notReloaded = true")
        api(server, operator, ADJUST, {"t": tenant_id, "a": "-45", "k": "adjust-2"})
        first = "#notifications tbody tr:first-child"
        wait_for(lambda: "Neu " in text(driver, first), "no live notification")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#notifications tbody tr")) == 2
        live = driver.find_element(By.ID, "notifications-live")
        assert live.get_attribute("aria-live") == "polite"
        assert "Neue Benachrichtigung: Automatisch aufgeladen" in live.text, live.text
        assert driver.execute_script("return window.notReloaded") is True
        shot(driver, "42-activity-live-notification")

        # The audit log by action, kept in the URL and over a reload.
        by_label(driver, "Aktion").send_keys("purchaseCredits")
        button(driver, "Filter anwenden").click()
        actions = "#audit-log tbody tr td:nth-child(3)"
        wait_for(
            lambda: (
                {e.text for e in driver.find_elements(By.CSS_SELECTOR, actions)}
                == {"Guthaben gekauft purchaseCredits"}
            ),
            "the action filter",
        )
        assert parse_qs(urlsplit(driver.current_url).query) == {"action": ["purchaseCredits"]}
        shot(driver, "43-activity-audit-filtered")
        driver.refresh()
        wait_for(lambda: "Gefiltert: 1 Änderungen" in text(driver, "#audit-log"), "after reload")
        assert by_label(driver, "Aktion").get_attribute("value") == "purchaseCredits"
        assert not severe(driver.get_log("browser"))


@pytest.mark.backends("sqlite")
def test_a_count_that_stopped_at_the_cap_is_shown_as_more(db_url, keys, tenant, clock, tmp_path,
                                                          monkeypatch):  # fmt: skip
    """A tenant with more than 10,000 audit entries: the caption and the pager say "10.000+"
    and "1.000+" pages (totalCountIsCapped), not 10,000 as if that were all."""
    at = AuditEntry.at.db_value(clock())
    rows = [(tenant.id, "key test", "updateUser", "User", f"u{i}", at) for i in range(10_050)]
    with database.db.atomic():
        for start in range(0, len(rows), 1000):
            insert_values(
                "audit_entry",
                ("tenant_id", "actor", "action", "target_type", "target_id", "at"),
                rows[start : start + 1000],
            )
    with console(db_url, tmp_path, monkeypatch) as (server, driver):
        driver.get(server.url + "/sign-in")
        sign_in(driver, keys["READER"])
        wait_for(lambda: heading(driver) == "Kommunikationsguthaben", "not signed in")
        driver.find_element(By.LINK_TEXT, "Benachrichtigungen und Überwachung").click()
        audit = wait_for(
            lambda: "10.000+" in text(driver, "#audit-log") and text(driver, "#audit-log"),
            "no capped count in the audit log",
        )
        assert "(10.000+ insgesamt)" in audit and "Seite 1 von 1.000+" in audit, audit
        assert not severe(driver.get_log("browser"))
