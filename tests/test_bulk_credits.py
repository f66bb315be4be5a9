"""Add-Credits and Set-AutoRecharge: purchases with derived idempotency keys, safe to re-run,
reported as what happened (a purchase matched by its reference is Unchanged), in-process and
against a real server."""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import pytest

from commcredits.bulk import set_auto_recharge
from commcredits.models import AutoRecharge, Invoice
from tests.live_server import live_server
from tests.test_bulk import report_of, run, write_csv


def test_add_credits_sheet_rerun_buys_nothing_twice(tenant, keys, tmp_path):
    sheet = write_csv(
        tmp_path / "buy.csv", "Amount,Reference", ["100.00,PO-1", "50,", "abc,", "25.5,"]
    )
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 1, err
    what_if = report_of(err)
    assert what_if["Status"].to_list() == [
        "WouldPurchase",
        "WouldPurchase",
        "WouldFail",
        "WouldPurchase",
    ]
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-ApiKey", keys["BILLING_ADMIN"])
    assert code == 1, err
    first = report_of(err)
    assert first["Status"].to_list() == ["Purchased", "Purchased", "Failed", "Purchased"]
    assert first["Key"][0] == "PO-1" and first["Key"][1].startswith("bulk-")
    assert "balance 175.50 EUR" in first["Message"][3]
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-ApiKey", keys["BILLING_ADMIN"])
    again = report_of(err)
    assert again["Key"].to_list() == first["Key"].to_list()
    assert "balance 175.50 EUR" in again["Message"][3]  # nothing bought twice
    code, out, err = run("Add-Credits", "-Amount", "10", "-Tenant", "Fabrikam")
    assert code == 0 and "Purchased" in out and "balance 185.50 EUR" in out, err
    code, out, _ = run("Add-Credits", "-Amount", "10", "-Tenant", "Fabrikam")
    assert code == 0 and "balance 185.50 EUR" in out  # same amount, same day: same key
    code, out, _ = run("Add-Credits", "-Amount", "10", "-ApiKey", keys["LICENSE_ADMIN"])
    assert code == 1 and "FORBIDDEN" in out


def test_amounts_with_thousands_separators_are_read_or_refused_never_guessed(tenant, tmp_path):
    """German Excel writes 1.000,50; English 1,000.50. "1.000" alone could be a thousand or
    one with three decimals: refused (its row fails), never bought as 1.00."""
    sheet = tmp_path / "buy.csv"
    sheet.write_text(
        "Amount;Reference\n"
        '"1.000,50";r1\n"1,000.50";r2\n"1.000.000";r3\n"0,50";r4\n"1.000";r5\n"1,000";r6\n'
    )
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 1, err
    report = report_of(err)
    assert report["Status"].to_list() == ["WouldPurchase"] * 4 + ["WouldFail"] * 2
    messages = report["Message"].to_list()
    for shown, message in zip(("1000.50", "1000.50", "1000000", "0.50"), messages, strict=False):
        assert shown in message, (shown, message)
    assert all("ambiguous" in m for m in messages[4:]), messages


def test_set_auto_recharge(tenant, keys):
    code, out, err = run(
        "Set-AutoRecharge",
        "-Enabled",
        "true",
        "-RechargeAmount",
        "200",
        "-TriggerBalance",
        "50",
        "-Tenant",
        "Fabrikam",
    )
    assert code == 0, err
    assert "Updated" in out and "rechargeAmount=200" in out
    code, out, _ = run(
        "Set-AutoRecharge", "-Enabled", "$true", "-RechargeAmount", "-5", "-Tenant", "Fabrikam"
    )
    assert code == 1 and "Failed" in out
    frame = set_auto_recharge(enabled=False, tenant="Fabrikam")
    assert frame["Status"].to_list() == ["Updated"]
    code, out, _ = run("Set-AutoRecharge", "-Enabled", "false", "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 0 and "WouldUpdate" in out


# -- issue 12, item 3: a purchase matched by its reference is never reported as bought ---------


@pytest.fixture(params=["in-process", "http"])
def billing(request, db_url, keys, tmp_path) -> Iterator[list[str]]:
    """A billing administrator's parameters, in this process or against a real server."""
    if request.param == "in-process":
        yield ["-ApiKey", keys["BILLING_ADMIN"]]
        return
    with live_server(db_url, tmp_path) as server:
        yield ["-Endpoint", server.url, "-ApiKey", keys["BILLING_ADMIN"]]


def _report(out: str) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(out), infer_schema=False)


def test_a_replayed_purchase_is_unchanged_with_the_invoice_it_matched(tenant, billing):
    code, out, err = run("Add-Credits", "-Amount", "10", *billing)
    assert code == 0, err
    first = _report(out)
    assert first.select("Status", "Invoice").rows() == [("Purchased", "1")]
    reference = first["Reference"][0]
    assert reference.startswith("bulk-") and first["Key"][0] == reference

    # The same amount on the same UTC day: the same reference, nothing bought.
    for what_if in ([], ["-WhatIf"]):
        code, out, err = run("Add-Credits", "-Amount", "10", *what_if, *billing)
        assert code == 0, err
        again = _report(out)
        assert again.select("Status", "Reference", "Invoice").rows() == [
            ("Unchanged", reference, "1")
        ]
        assert again["Message"][0].startswith(f"already bought with reference {reference}")
        assert "balance 10.00 EUR" in again["Message"][0]
    assert Invoice.select().count() == 1

    # Buying twice on one day: a reference of one's own for the second purchase.
    code, out, _ = run("Add-Credits", "-Amount", "10", "-Reference", "PO-2", "-WhatIf", *billing)
    assert _report(out).select("Status", "Reference", "Invoice").rows() == [
        ("WouldPurchase", "PO-2", None)
    ]
    code, out, _ = run("Add-Credits", "-Amount", "10", "-Reference", "PO-2", *billing)
    assert _report(out).select("Status", "Invoice").rows() == [("Purchased", "2")]
    assert "balance 20.00 EUR" in _report(out)["Message"][0]

    # A reference used for another amount is refused, by -WhatIf as by the real run.
    for what_if, status in ((["-WhatIf"], "WouldFail"), ([], "Failed")):
        code, out, _ = run("Add-Credits", "-Amount", "99", "-Reference", "PO-2", *what_if, *billing)
        assert code == 1
        assert _report(out).select("Status", "Code").rows() == [(status, "IDEMPOTENCY_KEY_REUSED")]
    assert Invoice.select().count() == 2


def test_a_sheet_re_run_reports_what_it_matched(tenant, billing, tmp_path):
    sheet = write_csv(tmp_path / "po.csv", "Amount,Reference", ["100,PO-7", "25,", "100,PO-8"])
    code, _, err = run("Add-Credits", "-Path", str(sheet), *billing)
    assert code == 0, err
    first = report_of(err)
    assert first.select("Status", "Reference", "Invoice").rows() == [
        ("Purchased", "PO-7", "1"),
        ("Purchased", first["Reference"][1], "2"),
        ("Purchased", "PO-8", "3"),
    ]
    sheet.write_text("Amount,Reference\n100,PO-7\n25,\n100,PO-8\n100,PO-9\n")  # one row more
    for what_if, new in ((["-WhatIf"], "WouldPurchase"), ([], "Purchased")):
        code, _, err = run("Add-Credits", "-Path", str(sheet), *what_if, *billing)
        assert code == 0, err
        again = report_of(err)
        assert again.select("Status", "Invoice").rows() == [
            ("Unchanged", "1"),
            ("Unchanged", "2"),
            ("Unchanged", "3"),
            (new, "4" if new == "Purchased" else None),
        ]
    assert Invoice.select().count() == 4


def test_set_auto_recharge_what_if_is_checked_by_the_server(tenant, billing):
    code, out, _ = run(
        "Set-AutoRecharge", "-Enabled", "true", "-RechargeAmount", "-5", "-WhatIf", *billing
    )
    assert code == 1 and _report(out).select("Status", "Code").rows() == [
        ("WouldFail", "INVALID_RECHARGE_AMOUNT")
    ]
    code, out, _ = run("Set-AutoRecharge", "-Enabled", "true", "-WhatIf", *billing)
    assert code == 1 and "RECHARGE_SETTINGS_INCOMPLETE" in out  # nothing saved to complete
    argv = [
        "Set-AutoRecharge",
        "-Enabled",
        "true",
        "-RechargeAmount",
        "200",
        "-TriggerBalance",
        "50",
    ]
    code, out, _ = run(*argv, "-WhatIf", *billing)
    assert code == 0 and _report(out)["Status"].to_list() == ["WouldUpdate"]
    assert AutoRecharge.select().count() == 0
    code, out, _ = run(*argv, *billing)
    assert code == 0 and _report(out)["Status"].to_list() == ["Updated"]
    assert AutoRecharge.get().enabled


PURCHASE = """
mutation($key: String!, $amount: Decimal!, $whatIf: Boolean) {
  purchaseCredits(amount: $amount, idempotencyKey: $key, whatIf: $whatIf) {
    replayed whatIf invoice { number } userErrors { code }
  }
}
"""


def test_purchase_credits_says_when_it_replayed(api_as, tenant):
    api = api_as("BILLING_ADMIN")
    buy = {"key": "k-1", "amount": "12.50"}
    preview = api(PURCHASE, {**buy, "whatIf": True})["purchaseCredits"]
    assert (preview["replayed"], preview["whatIf"]) == (False, True)
    first = api(PURCHASE, buy)["purchaseCredits"]
    assert (first["replayed"], first["invoice"]["number"]) == (False, 1)
    again = api(PURCHASE, buy)["purchaseCredits"]
    assert (again["replayed"], again["invoice"]["number"]) == (True, 1)
    review = api(PURCHASE, {**buy, "whatIf": True})["purchaseCredits"]
    assert (review["replayed"], review["whatIf"], review["invoice"]["number"]) == (True, True, 1)
    other = api(PURCHASE, {**buy, "amount": "13", "whatIf": True})["purchaseCredits"]
    assert other["userErrors"] == [{"code": "IDEMPOTENCY_KEY_REUSED"}]


def test_an_amount_cell_in_another_format_fails_its_row(tenant, tmp_path):
    """Exponents, Unicode digits and 19 digits are refused by the API's own amount format, in
    the cell's row, before anything is sent; the other rows buy."""
    sheet = write_csv(tmp_path / "buy.csv", "Amount", ["1e2", "\u0661\u0662", "1" * 19, "12.50"])
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-Tenant", "Fabrikam")
    assert code == 1, err
    report = report_of(err)
    assert report["Status"].to_list() == ["Failed", "Failed", "Failed", "Purchased"]
    assert "is not an amount" in report["Message"][0]
    assert "significant digits" in report["Message"][2]
    assert "balance 12.50 EUR" in report["Message"][3]
