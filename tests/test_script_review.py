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
