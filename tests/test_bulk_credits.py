"""Add-Credits and Set-AutoRecharge: purchases with derived idempotency keys, safe to re-run."""

from __future__ import annotations

import polars as pl

from commcredits.bulk import set_auto_recharge
from tests.test_bulk import run, write_csv


def test_add_credits_sheet_rerun_buys_nothing_twice(tenant, keys, tmp_path):
    sheet = write_csv(
        tmp_path / "buy.csv", "Amount,Reference", ["100.00,PO-1", "50,", "abc,", "25.5,"]
    )
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 1, err
    what_if = pl.read_csv(tmp_path / "buy.result.csv", infer_schema=False)
    assert what_if["Status"].to_list() == [
        "WouldPurchase",
        "WouldPurchase",
        "WouldFail",
        "WouldPurchase",
    ]
    code, _, err = run("Add-Credits", "-Path", str(sheet), "-ApiKey", keys["BILLING_ADMIN"])
    assert code == 1, err
    first = pl.read_csv(tmp_path / "buy.result.csv", infer_schema=False)
    assert first["Status"].to_list() == ["Purchased", "Purchased", "Failed", "Purchased"]
    assert first["Key"][0] == "PO-1" and first["Key"][1].startswith("bulk-")
    assert "balance 175.50 EUR" in first["Message"][3]
    code, _, _ = run("Add-Credits", "-Path", str(sheet), "-ApiKey", keys["BILLING_ADMIN"])
    again = pl.read_csv(tmp_path / "buy.result.csv", infer_schema=False)
    assert again["Key"].to_list() == first["Key"].to_list()
    assert "balance 175.50 EUR" in again["Message"][3]  # nothing bought twice
    code, out, err = run("Add-Credits", "-Amount", "10", "-Tenant", "Fabrikam")
    assert code == 0 and "Purchased" in out and "balance 185.50 EUR" in out, err
    code, out, _ = run("Add-Credits", "-Amount", "10", "-Tenant", "Fabrikam")
    assert code == 0 and "balance 185.50 EUR" in out  # same amount, same day: same key
    code, out, _ = run("Add-Credits", "-Amount", "10", "-ApiKey", keys["LICENSE_ADMIN"])
    assert code == 1 and "FORBIDDEN" in out


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
