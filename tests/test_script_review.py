"""Invoke-Script review findings: native lines under the script's -WhatIf and target, values
per row from nested pipelines, nested pipelines checked before anything runs, bounds on what a
script may build, positions for runtime value errors, and what script output writes."""

from __future__ import annotations

import polars as pl
import pytest

from commcredits.bulk.powershell import parse
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


NESTED = [
    (
        "Set-MgUserLicense -UserId (Bogus-Command -X 1) -RemoveLicenses @()",
        "1:28",
        "'Bogus-Command' is not supported",
    ),
    (
        "Set-MgUserLicense -UserId a@b.example -AddLicenses @{SkuId = (Get-MgUser -Nope 1)}",
        "1:74",
        "Get-MgUser has no parameter -Nope",
    ),
    (
        "Import-Csv u.csv | % { Update-MgUser -UserId $_.U -UsageLocation (Get-Foo) }",
        "1:67",
        "'Get-Foo' is not supported",
    ),
    (
        "$x = @((Set-UserLicense -Path u.csv -AddLicenses MCOPSTNC))",
        "1:9",
        "Set-UserLicense is a native command",
    ),
    (
        "foreach ($u in (Bogus)) { Update-MgUser -UserId $u.U -UsageLocation DE }",
        "1:17",
        "'Bogus' is not supported",
    ),
    ("Get-MgUser -All | Where-Object { $_.Id -eq (Bogus) }", "1:45", "'Bogus' is not supported"),
    ("Set-UserLicense -Path (Bogus) -AddLicenses MCOPSTNC", "1:24", "'Bogus' is not supported"),
    ("Invoke-Script other.ps1", "1:1", "Invoke-Script inside a script is not supported"),
    (
        "commcredits Invoke-Script other.ps1 -WhatIf",
        "1:13",
        "Invoke-Script inside a script is not supported",
    ),
]


@pytest.mark.parametrize(("script", "where", "what"), NESTED)
def test_nested_pipelines_and_invoke_script_are_checked_before_anything_runs(
    tenant, clock, tmp_path, script, where, what
):
    make_users(tenant, clock, ["adele@contoso.example"], location=None)
    path = tmp_path / "script.ps1"
    path.write_text(
        "Update-MgUser -UserId adele@contoso.example -UsageLocation DE\n" + script + "\n"
    )
    before = counts()
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    line, col = where.split(":")
    assert code == 2 and f"{path}:{int(line) + 1}:{col}: " in err and what in err, err
    assert "supported:" in err and "unexpected" not in err and out == ""
    assert counts() == before  # the first line did not run either


GROWING = [
    ("$a = 1, 2\n" + "$a = $a, $a\n" * 40, "this array would hold more than 16,777,216 items", 6),
    (
        "$a = @(1)\n" + "$a = @($a; $a)\n" * 40,
        "this array would hold more than 16,777,216 items",
        6,
    ),
    (
        '$s = "ab"\n' + '$s = "$s$s"\n' * 40,
        "this string would be longer than 16,777,216 characters",
        9,
    ),
    (
        "$h = @{k = 'abcdefgh'}\n" + "$h = @{a = $h; b = $h}\n" * 60 + '$s = "x $h"\n',
        "this string would be longer than 16,777,216 characters",
        9,
    ),
]


@pytest.mark.parametrize(("script", "what", "col"), GROWING)
def test_arrays_and_strings_are_bounded_while_a_script_runs(tmp_path, script, what, col):
    path = tmp_path / "grow.ps1"
    path.write_text(script)
    code, _, err = run("Invoke-Script", str(path))
    assert code == 2 and what in err and "Traceback" not in err, err
    line = int(err.split(f"{path}:", 1)[1].split(":", 1)[0])
    assert 2 <= line <= 62 and f"{path}:{line}:{col}: " in err, err


class _Scanned(str):
    """A script text that tallies the characters its searches (count, find, rfind, index)
    look through: the parser's work, counted, not timed."""

    scanned = 0

    def _tally(self, start, end) -> None:
        start = 0 if start is None else start
        end = len(self) if end is None else end
        type(self).scanned += max(0, min(end, len(self)) - max(start, 0))

    def count(self, sub, start=None, end=None):
        self._tally(start, end)
        return str.count(self, sub, start, end)

    def find(self, sub, start=None, end=None):
        self._tally(start, end)
        return str.find(self, sub, start, end)

    def rfind(self, sub, start=None, end=None):
        self._tally(start, end)
        return str.rfind(self, sub, start, end)

    def index(self, sub, start=None, end=None):
        self._tally(start, end)
        return str.index(self, sub, start, end)


def test_variables_in_a_long_double_quoted_string_are_read_in_linear_time():
    def scanned(n: int) -> int:
        _Scanned.scanned = 0
        (_, st) = parse(_Scanned('$s = 1\n$x = "' + "$s" * n + '"\n'))
        assert len(st.value.stages[0].parts) == n
        assert st.value.stages[0].parts[-1].pos == (2, 6 + 2 * (n - 1) + 1)
        return _Scanned.scanned

    small, large = scanned(2_000), scanned(8_000)
    assert large <= 8 * small, (small, large)  # 4 times the text; quadratic would be 16


@pytest.mark.parametrize(
    ("line", "col", "what"),
    [
        ("Get-MgUser -Top abc", 17, "-Top takes a whole number, 0 or more, not 'abc'"),
        ("Get-MgUser -All -Top 1e400", 22, "-Top takes a whole number, 0 or more, not 'inf'"),
        ("Get-MgUser -Top 2.5", 17, "-Top takes a whole number, 0 or more, not '2.5'"),
        (
            "Get-MgUser | Select-Object -First x",
            35,
            "-First takes a whole number, 0 or more, not 'x'",
        ),
        ("Get-MgUser | Select -First -1", 28, "-First takes a whole number, 0 or more, not '-1'"),
    ],
)
def test_counts_are_whole_numbers_with_their_place(tenant, clock, tmp_path, line, col, what):
    path = tmp_path / "n.ps1"
    path.write_text(line + "\n")
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    assert code == 2 and f"{path}:1:{col}: {what}" in err and "unexpected" not in err, err


def test_counts_as_text_and_zero(tenant, clock, tmp_path):
    make_users(tenant, clock, [f"u{n}@contoso.example" for n in range(3)])
    path = tmp_path / "n.ps1"
    path.write_text(
        "$n = '2'\n"
        "Get-MgUser -Top $n | Select-Object -ExpandProperty UserPrincipalName\n"
        "Get-MgUser -All | Select-Object -First 0\n"
    )
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    assert code == 0, err
    assert out == "u0@contoso.example\nu1@contoso.example\n"


def test_a_switch_given_false_is_off(tenant, clock, tmp_path):
    make_users(tenant, clock, ["adele@contoso.example"], location=None)
    path = tmp_path / "wf.ps1"
    path.write_text(
        "$dry = $false\n"
        "Update-MgUser -UserId adele@contoso.example -UsageLocation DE -WhatIf:$dry\n"
        "Get-MgUser -All:$false -Filter \"usageLocation eq 'DE'\" "
        "| Select -ExpandProperty UsageLocation\n"
    )
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    assert code == 0, err
    assert "Updated" in out and out.endswith("DE\n")
    # the script's -WhatIf still wins
    path.write_text(path.read_text().replace("-UsageLocation DE", "-UsageLocation AT"))
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam", "-WhatIf")
    assert code == 0 and "WouldUpdate" in out and out.endswith("DE\n"), err


def test_select_between_import_csv_and_the_loop_keeps_the_sheet_s_rows(tenant, clock, tmp_path):
    make_users(tenant, clock, [f"u{n}@contoso.example" for n in range(4)], location=None)
    sheet = write_csv(
        tmp_path / "sel.csv",
        "UserPrincipalName,Country",
        ["u0@contoso.example,AT", ",", "u1@contoso.example,FR", "u1@contoso.example,FR"]
        + ["u2@contoso.example,DE", "u3@contoso.example,IT"],
    )
    path = tmp_path / "sel.ps1"
    path.write_text(
        f"Import-Csv '{sheet}' | Select-Object -Unique -First 3 | ForEach-Object {{\n"
        "  Update-MgUser -UserId $_.UserPrincipalName -UsageLocation $_.Country }\n"
    )
    code, _, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam", "-WhatIf")
    assert code == 0, err
    report = pl.read_csv(tmp_path / "sel.whatif.result.csv", infer_schema=False)
    assert report.select("Row", "Key").rows() == [
        ("2", "u0@contoso.example"),
        ("4", "u1@contoso.example"),
        ("6", "u2@contoso.example"),
    ]


def test_script_output_neutralizes_formulas(tenant, clock, tmp_path):
    out_csv = tmp_path / "out.csv"
    path = tmp_path / "exp.ps1"
    path.write_text(
        "$objs = @(@{Name = 'x'; Note = '@SUM(A1)'}, @{Name = 'y'; Note = '-2+3'})\n"
        f"$objs | Export-Csv -Path '{out_csv}' -NoTypeInformation\n"
        "$objs | Select-Object -Property Name, Note\n"
    )
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    assert code == 0, err
    written = out_csv.read_text()
    assert "'@SUM(A1)" in written and "'-2+3" in written, written
    assert "'@SUM(A1)" in out and "'-2+3" in out, out
