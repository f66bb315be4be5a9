"""Invoke-Script review findings: native lines under the script's -WhatIf and target, values
per row from nested pipelines, nested pipelines checked before anything runs, bounds on what a
script may build, positions for runtime value errors, and what script output writes."""

from __future__ import annotations

import polars as pl

from commcredits.services import seats
from commcredits.services.access import SYSTEM
from tests.test_bulk import counts, make_users, run, write_csv
from tests.test_bulk_powershell import requests  # noqa: F401 - a fixture


def test_native_lines_inherit_the_script_s_whatif_and_target(
    tenant,
    clock,
    tmp_path,
    monkeypatch,
    requests,  # noqa: F811
):
    """A native line runs on the script's target with its -BatchSize, and the script's
    -WhatIf wins over the line's own -WhatIf:$false."""
    monkeypatch.delenv("COMMCREDITS_TENANT", raising=False)
    make_users(tenant, clock, [f"u{n}@contoso.example" for n in range(3)])
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 5, now=clock())
    sheet = write_csv(
        tmp_path / "one.csv", "UserPrincipalName", [f"u{n}@contoso.example" for n in range(3)]
    )
    script = tmp_path / "native.ps1"
    script.write_text(
        "$sku = 'MCOPSTNC'\n"
        f"Set-UserLicense -Path '{sheet}' -AddLicenses $sku -WhatIf:$false\n"
        f"commcredits Get-Users -UsageLocation DE | commcredits Set-UserLicense -Path - "
        "-AddLicenses MCOPSTNC\n"
    )
    before = counts()
    code, _, err = run(
        "Invoke-Script", str(script), "-WhatIf", "-BatchSize", "2", "-Tenant", "Fabrikam"
    )
    assert code == 0, err
    assert counts() == before  # nothing written
    what_if = pl.read_csv(tmp_path / "one.whatif.result.csv", infer_schema=False)
    assert what_if["Status"].to_list() == ["WouldAssign"] * 3
    assert not (tmp_path / "one.result.csv").exists()
    assert requests.count("BulkSetUserLicenses") == 4  # 3 rows, then 3 more, in batches of 2
    code, _, err = run("Invoke-Script", str(script), "-BatchSize", "2", "-Tenant", "Fabrikam")
    assert code == 0, err
    assert pl.read_csv(tmp_path / "one.result.csv")["Status"].to_list() == ["Assigned"] * 3


def test_a_nested_pipeline_using_the_row_is_evaluated_per_row(tenant, clock, tmp_path):
    make_users(tenant, clock, ["boss1@contoso.example"], location="AT")
    make_users(tenant, clock, ["boss2@contoso.example"], location="FR")
    make_users(tenant, clock, ["u1@contoso.example", "u2@contoso.example"], location=None)
    sheet = write_csv(
        tmp_path / "mgr.csv",
        "UserPrincipalName,Manager",
        ["u1@contoso.example,boss1@contoso.example", "u2@contoso.example,boss2@contoso.example"],
    )
    script = tmp_path / "mgr.ps1"
    script.write_text(
        f"Import-Csv '{sheet}' | ForEach-Object {{ Update-MgUser -UserId $_.UserPrincipalName "
        "-UsageLocation (Get-MgUser -UserId $_.Manager | Select-Object -ExpandProperty "
        "UsageLocation) }\n"
        f"$rows = Import-Csv '{sheet}'\n"
        "foreach ($r in $rows) { Update-MgUser -UserId $r.UserPrincipalName "
        "-UsageLocation (Get-MgUser -UserId:$r.Manager | Select -ExpandProperty UsageLocation) }\n"
    )
    code, _, err = run("Invoke-Script", str(script), "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 0, err
    for name in ("mgr.whatif.result.csv", "mgr.whatif.result.2.csv"):
        report = pl.read_csv(tmp_path / name, infer_schema=False)
        assert report["Action"].to_list() == ["UsageLocation=AT", "UsageLocation=FR"], name


def test_a_nested_pipeline_not_using_the_row_is_evaluated_once(
    tenant,
    clock,
    tmp_path,
    requests,  # noqa: F811
):
    """$_ inside a nested Where-Object block is that block's object, not the loop's row."""
    make_users(tenant, clock, [f"u{n}@contoso.example" for n in range(3)])
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 5, now=clock())
    sheet = write_csv(
        tmp_path / "u.csv", "UserPrincipalName", [f"u{n}@contoso.example" for n in range(3)]
    )
    script = tmp_path / "once.ps1"
    script.write_text(
        f"Import-Csv '{sheet}' | ForEach-Object {{ Set-MgUserLicense -UserId $_.UserPrincipalName "
        "-AddLicenses @{SkuId = (Get-MgSubscribedSku | Where-Object { $_.SkuPartNumber -eq "
        "'MCOPSTNC' } | Select-Object -ExpandProperty SkuId)} -RemoveLicenses @() }\n"
    )
    code, _, err = run("Invoke-Script", str(script), "-WhatIf", "-Tenant", "Fabrikam")
    assert code == 0, err
    assert requests.count("MgSubscribedSkus") == 1
