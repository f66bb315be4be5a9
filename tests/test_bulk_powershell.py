"""Issue 12, item 4: the admin's Graph PowerShell lines run unchanged — the tokenizer and parser
of the subset, its refusals (file:line:col, exit 2, nothing sent), each Graph cmdlet in-process
and against a real server, the Import-Csv | ForEach-Object loop as one batched run, the native
`Set-UserLicense -UserId` without a sheet, and a script of Microsoft's documented examples that
reaches the same end state as the native commands."""

# ruff: noqa: E501 - Microsoft's examples and their addresses are kept as written

from __future__ import annotations

import gc
import io
import time
from collections.abc import Iterator

import polars as pl
import pytest

from commcredits.bulk import transport as transport_module
from commcredits.bulk.powershell import (
    Arr,
    Assign,
    Bare,
    Foreach,
    Hash,
    Param,
    ScriptError,
    Str,
    Var,
    parse,
)
from commcredits.models import LicenseAssignment, Sku, User
from commcredits.schema.common import to_global_id
from commcredits.services import seats
from commcredits.services.access import SYSTEM
from commcredits.services.catalog import BUILTIN_CATALOG
from tests.live_server import live_server
from tests.test_bulk import counts, make_users, run, write_csv

SKU_ID = {s.part_number: s.sku_id for s in BUILTIN_CATALOG}
CREDITS = SKU_ID["MCOPSTNC"]


def state(domain: str) -> dict[str, tuple]:
    """Each user of `domain` by local part: usage location and (SKU, disabled plans) held."""
    out = {}
    for user in User.select():
        local, _, dom = user.user_principal_name.partition("@")
        if dom != domain:
            continue
        held = sorted(
            (a.sku.part_number, tuple(sorted(a.disabled_plans)))
            for a in LicenseAssignment.select().join(Sku).where(LicenseAssignment.user == user)
        )
        out[local] = (user.usage_location, tuple(held))
    return out


@pytest.fixture(params=["in-process", "http"])
def target(request, db_url, keys, tmp_path) -> Iterator[list[str]]:
    """Where the commands run: this process, or a real server (as in test_bulk_order)."""
    if request.param == "in-process":
        yield ["-Tenant", "Fabrikam"]
        return
    with live_server(db_url, tmp_path) as server:
        yield ["-Endpoint", server.url, "-ApiKey", keys["GLOBAL_ADMIN"]]


@pytest.fixture
def requests(monkeypatch) -> list[str]:
    """Every GraphQL operation the bulk layer sends (in-process or over HTTP), by name."""
    sent: list[str] = []
    for cls in (transport_module.LocalTransport, transport_module.HttpTransport):
        original = cls.execute

        def execute(self, query, variables=None, _original=original):
            sent.append(query.split("(")[0].split("{")[0].split()[-1])
            return _original(self, query, variables)

        monkeypatch.setattr(cls, "execute", execute)
    return sent


# --- the tokenizer and parser ------------------------------------------------------------


def test_literals_parse_as_powershell_reads_them():
    (assign, call, loop) = parse(
        "$sku = \"a `\"q`\" ''x'' $name ${other}s `$no\"  # comment\n"
        "Set-MgUserLicense -UserId 'o''brien@contoso.example' `\n"
        "  -AddLicenses @{ SkuId = $e5.SkuId\n DisabledPlans = @('A', \"B\") } -RemoveLicenses @()\n"
        "<# a block\ncomment #> foreach ($u in $users) { Update-MgUser -UserId $u.UPN -UsageLocation DE }\n",
        "s.ps1",
    )
    assert isinstance(assign, Assign) and assign.name == "sku"
    parts = assign.value.stages[0].parts
    assert parts[0] == "a \"q\" ''x'' " and parts[1].name == "name" and parts[2] == " "
    assert parts[3].name == "other" and parts[4] == "s $no"
    cmd = call.stages[0]
    assert cmd.name == "Set-MgUserLicense" and cmd.pos == (2, 1)
    assert cmd.args[0] == Param("UserId", None, (2, 19))
    assert cmd.args[1] == Str(("o'brien@contoso.example",), (2, 27))
    table = cmd.args[3]
    assert isinstance(table, Hash) and [k for k, _ in table.items] == ["SkuId", "DisabledPlans"]
    assert table.items[0][1] == Var("e5", ("SkuId",), (3, 27), "$e5.SkuId")
    assert isinstance(table.items[1][1], Arr) and len(table.items[1][1].items) == 2
    assert cmd.args[5] == Arr((), (4, 48))
    assert isinstance(loop, Foreach) and loop.name == "u" and loop.pos == (6, 12)
    (lst,) = parse("Get-X -A MCOEV, MCOPSTN1 -B:$false")
    args = lst.stages[0].args
    assert args[1] == Arr((Bare("MCOEV", (1, 10)), Bare("MCOPSTN1", (1, 17))), (1, 10))
    assert args[2].name == "B" and args[2].value.name == "false"


REFUSED = [
    ('Get-MgUser -Filter "$(Get-Date)"', "1:21", "subexpressions $( … ) in strings"),
    ("$a = [int]5", "1:6", "type casts"),
    ("if ($a) { Get-MgUser }", "1:1", "'if' statements are not supported"),
    ("Get-MgUser -UserId $a[0]", "1:22", "indexing ($x[0]) is not supported"),
    ("Get-MgUser -UserId 'a'b", "1:23", "values written together"),
    ("Get-MgUser -UserId 'abc", "1:20", "a string that is never closed"),
    ("Get-MgUser |\n  $x", "2:3", "after | comes a command"),
    ("Get-MgUser -UserId @x", "1:20", "splatting"),
    ("$x = @{ SkuId = 1 ", "1:19", "expected ';', a line end or '}'"),
    ("Get-MgUser | Where-Object { $_.A -match 'x' }", "1:34", "the operator -match"),
    ("\n\n  Remove-MgUser -UserId a@b.example", "3:3", "'Remove-MgUser' is not supported"),
    ("Set-MgUserLicense -UserId a@b.example -AddLicense @()", "1:39", "no parameter -AddLicense"),
    ("Get-MgUser -Filter \"startswith(displayName,'A')\"", "1:21", "-Filter: 'startswith'"),
    ("Get-MgUser -Filter \"usageLocation eq 'DE' or city eq 'X'\"", "1:43", "only 'and'"),
    ("Import-Csv u.csv | ForEach-Object { Get-MgUser }", "1:37", "Get-MgUser inside a loop"),
]


@pytest.mark.parametrize(("script", "where", "what"), REFUSED)
def test_what_is_outside_the_subset_is_refused_with_line_and_column(
    tenant, tmp_path, script, where, what
):
    """A valid change on line 1 and a refused line after it: the script is checked whole
    first, so nothing is sent."""
    path = tmp_path / "script.ps1"
    path.write_text(
        "Set-MgUserLicense -UserId a@b.example -AddLicenses @() -RemoveLicenses @()\n" + script
    )
    before = counts()
    code, out, err = run("Invoke-Script", str(path), "-Tenant", "Fabrikam")
    line, col = where.split(":")
    line = str(int(line) + 1)
    assert code == 2 and f"{path}:{line}:{col}: " in err and what in err, err
    assert "supported:" in err and "Traceback" not in err and out == ""
    assert counts() == before  # nothing was sent


def test_input_is_bounded_and_read_in_linear_time(tmp_path):
    with pytest.raises(ScriptError, match="nesting deeper than 32"):
        parse("$x = " + "@(" * 40 + ")" * 40)
    big = tmp_path / "big.ps1"
    big.write_text("# x\n" * 300_000)
    code, _, err = run("Invoke-Script", str(big))
    assert code == 2 and "over 1,000,000 bytes" in err

    def script(n: int) -> str:
        return "".join(
            f"$v{i} = @{{ SkuId = 'x{i}'; DisabledPlans = @('a', 'b') }}\n" for i in range(n)
        )

    def fastest(text: str, count: int) -> float:
        # The best of three, with the garbage collector off: its full passes grow with what is
        # alive, which would make a linear parser look superlinear (and a busy machine noisy).
        times = []
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                started = time.perf_counter()
                assert len(parse(text)) == count
                times.append(time.perf_counter() - started)
        finally:
            gc.enable()
        return min(times)

    # 8 times the lines in about 8 times the time (~450 KB); a quadratic reader would take 64.
    small, large = fastest(script(1000), 1000), fastest(script(8000), 8000)
    assert large / small < 20, (small, large)


# --- the cmdlets, in-process and against a real server -------------------------------------

# Microsoft's documented examples, SKUs and users replaced by this tenant's. Sources:
# [1] "Assign Microsoft 365 licenses to user accounts with PowerShell", Microsoft Learn,
#     https://learn.microsoft.com/en-us/microsoft-365/enterprise/assign-licenses-to-user-accounts-with-microsoft-365-powershell
# [2] "Set-MgUserLicense", examples 1, 2, 3 and 6, Microsoft Learn,
#     https://learn.microsoft.com/en-us/powershell/module/microsoft.graph.users.actions/set-mguserlicense
# [3] "Get-MgUserLicenseDetail" and "Get-MgUser" (-Filter), Microsoft Learn,
#     https://learn.microsoft.com/en-us/powershell/module/microsoft.graph.users/get-mguserlicensedetail
DOCS_SCRIPT = """\
Connect-MgGraph -Scopes User.ReadWrite.All, Organization.Read.All

# [1] Set the usage location, then assign a license by its SKU id
$userUPN="belinda@{domain}"
$userLoc="DE"
Update-MgUser -UserId $userUPN -UsageLocation $userLoc
Set-MgUserLicense -UserId "belinda@{domain}" -AddLicenses @{SkuId = "{credits}"} -RemoveLicenses @()

# [1] Assign a license found by its part number
$e5Sku = Get-MgSubscribedSku -All | Where SkuPartNumber -eq 'SPE_E5'
Set-MgUserLicense -UserId "belinda@{domain}" -AddLicenses @{SkuId = $e5Sku.SkuId} -RemoveLicenses @()

# [2] Example 2: assign more than one license
$EmsSku = Get-MgSubscribedSku -All | Where SkuPartNumber -eq 'MCOEV'
$FlowSku = Get-MgSubscribedSku -All | Where SkuPartNumber -eq 'MCOMEETADV'
$addLicenses = @(
  @{SkuId = $EmsSku.SkuId},
  @{SkuId = $FlowSku.SkuId}
)
Set-MgUserLicense -UserId 'adele@{domain}' -AddLicenses $addLicenses -RemoveLicenses @()

# [2] Example 3: assign a license with some plans disabled
$E5Sku = Get-MgSubscribedSku -All | Where SkuPartNumber -eq 'SPE_E5'
$disabledPlans = $E5Sku.ServicePlans | where ServicePlanName -in ("TEAMS1", "SHAREPOINTENTERPRISE") | Select -ExpandProperty ServicePlanId
$addLicenses = @(
  @{SkuId = $E5Sku.SkuId
  DisabledPlans = $disabledPlans
  }
)
Set-MgUserLicense -UserId 'alex@{domain}' -AddLicenses $addLicenses -RemoveLicenses @()

# [2] Example 6: remove a license
Set-MgUserLicense -UserId 'adele@{domain}' -AddLicenses @() -RemoveLicenses @($FlowSku.SkuId)

# [3] Read back
Get-MgUserLicenseDetail -UserId 'alex@{domain}'
Get-MgUser -Filter "usageLocation eq 'DE'" -All

# The common loop over a sheet, with a variable
$sku = "{credits}"
Import-Csv {sheet} | ForEach-Object {
  Set-MgUserLicense -UserId $_.UserPrincipalName -AddLicenses @{SkuId = $sku} -RemoveLicenses @()
}
"""


def _people(tenant, clock, domain: str) -> None:
    make_users(tenant, clock, [f"belinda@{domain}"], location=None)
    make_users(tenant, clock, [f"{n}@{domain}" for n in ("adele", "alex", "u1", "u2", "u3")])


def test_microsoft_s_examples_reach_the_native_commands_end_state(
    tenant, clock, target, tmp_path, requests
):
    for sku in ("MCOPSTNC", "SPE_E5", "MCOEV", "MCOMEETADV"):
        seats.purchase_seats(tenant, SYSTEM, sku, 50, now=clock())
    for domain in ("graph.example", "native.example"):
        _people(tenant, clock, domain)
        write_csv(
            tmp_path / f"{domain}.csv",
            "UserPrincipalName,Department",
            [f"u{n}@{domain},Sales" for n in (1, 2, 3)],
        )

    script = tmp_path / "licenses.ps1"
    script.write_text(
        DOCS_SCRIPT.replace("{domain}", "graph.example")
        .replace("{credits}", CREDITS)
        .replace("{sheet}", str(tmp_path / "graph.example.csv"))
    )
    code, out, err = run("Invoke-Script", str(script), *target)
    assert code == 0, err
    assert "SkuPartNumber" in out and "TEAMS1" in out  # Get-MgUserLicenseDetail's table
    assert "belinda@graph.example" in out  # Get-MgUser -Filter's table
    # the loop is one run, one setUserLicenses request for its three rows
    assert requests.count("BulkSetUserLicenses") == 6
    loop = pl.read_csv(tmp_path / "graph.example.result.csv", infer_schema=False)
    assert loop.select("Row", "Key", "Status").rows() == [
        ("2", "u1@graph.example", "Assigned"),
        ("3", "u2@graph.example", "Assigned"),
        ("4", "u3@graph.example", "Assigned"),
    ]

    def native(*argv: str, stdin: bytes = b"") -> None:
        code, _, err = run(*argv, *target, stdin=stdin)
        assert code == 0, err

    n = "native.example"
    native(
        "Set-UsageLocation",
        "-Path",
        "-",
        "-UsageLocation",
        "DE",
        stdin=f"UPN\nbelinda@{n}\n".encode(),
    )
    native("Set-UserLicense", "-UserId", f"belinda@{n}", "-AddLicenses", "MCOPSTNC")
    native("Set-UserLicense", "-UserId", f"belinda@{n}", "-AddLicenses", "SPE_E5")
    native("Set-UserLicense", "-UserId", f"adele@{n}", "-AddLicenses", "MCOEV,MCOMEETADV")
    native(
        "Set-UserLicense",
        "-UserId",
        f"alex@{n}",
        "-AddLicenses",
        "SPE_E5",
        "-DisabledPlans",
        "TEAMS1,SHAREPOINTENTERPRISE",
    )
    native("Set-UserLicense", "-UserId", f"adele@{n}", "-RemoveLicenses", "MCOMEETADV")
    native("Set-UserLicense", "-Path", str(tmp_path / f"{n}.csv"), "-AddLicenses", "MCOPSTNC")

    graph, expected = state("graph.example"), state(n)
    assert graph == expected
    assert graph["alex"][1][0][0] == "SPE_E5" and len(graph["alex"][1][0][1]) == 2
    assert graph["belinda"][0] == "DE" and graph["adele"][1] == (("MCOEV", ()),)


def test_each_cmdlet_as_a_single_command_line(tenant, clock, target, requests):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 5, now=clock())
    make_users(tenant, clock, ["adele@contoso.example"], location=None)
    make_users(tenant, clock, ["megan@contoso.example"], location="AT")

    code, out, err = run(
        "Update-MgUser", "-UserId", "adele@contoso.example", "-UsageLocation", "DE", *target
    )
    assert code == 0, err
    assert pl.read_csv(io.StringIO(out))["Status"].to_list() == ["Updated"]
    code, out, err = run(
        "Set-MgUserLicense",
        "-UserId",
        "adele@contoso.example",
        "-AddLicenses",
        f'@{{SkuId = "{CREDITS}"; DisabledPlans = @()}}',
        "-RemoveLicenses",
        "@()",
        *target,
    )
    assert code == 0, err
    report = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert report.select("Row", "Key", "Status", "Message").rows() == [
        ("1", "adele@contoso.example", "Assigned", "MCOPSTNC assigned")
    ]
    assert "Set-MgUserLicense: 1 row: 1 Assigned" in err

    code, out, err = run(
        "Get-MgUser", "-Filter", "usageLocation eq 'DE' and accountEnabled eq true", "-All", *target
    )
    assert code == 0, err
    users = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert users["UserPrincipalName"].to_list() == ["adele@contoso.example"]
    assert users.columns[0] == "Id" and users["Licenses"].to_list() == ["MCOPSTNC"]
    code, out, _ = run(
        "Get-MgUser",
        "-UserId",
        "megan@contoso.example",
        "-Property",
        "UserPrincipalName,UsageLocation",
        *target,
    )
    assert code == 0 and pl.read_csv(io.StringIO(out)).columns == [
        "Id",
        "UserPrincipalName",
        "UsageLocation",
    ]
    code, out, _ = run("Get-MgUserLicenseDetail", "-UserId", "adele@contoso.example", *target)
    detail = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert code == 0 and detail.select("SkuId", "SkuPartNumber").rows() == [(CREDITS, "MCOPSTNC")]
    code, out, _ = run("Get-MgSubscribedSku", "-All", *target)
    skus = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert code == 0 and skus.filter(pl.col("SkuPartNumber") == "MCOPSTNC")[
        "ConsumedUnits"
    ].to_list() == ["1"]
    # -WhatIf on the line itself, as Graph's cmdlets take it
    before = counts()
    code, out, _ = run(
        "Update-MgUser",
        "-UserId",
        "megan@contoso.example",
        "-UsageLocation",
        "FR",
        "-WhatIf",
        *target,
    )
    assert code == 0 and "WouldUpdate" in out and counts() == before
    code, _, err = run("Get-MgUser", "-Filter", "city eq 'Graz'", *target)
    assert code == 2 and "<command line>:1:21: -Filter: 'city' is not a property" in err


def test_set_user_license_for_one_user_without_a_sheet(tenant, clock, target, tmp_path):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 1, now=clock())
    make_users(tenant, clock, ["adele@contoso.example", "megan@contoso.example"])
    code, out, err = run(
        "Set-UserLicense", "-UserId", "adele@contoso.example", "-AddLicenses", "MCOPSTNC", *target
    )
    assert code == 0, err
    report = pl.read_csv(io.StringIO(out), infer_schema=False)
    assert report.select("Row", "Key", "Status").rows() == [
        ("1", "adele@contoso.example", "Assigned")
    ]
    assert "report: stdout" in err and not list(tmp_path.glob("*.result.csv"))
    # by the user's global id too, and no seat left: the row fails, as in a sheet
    megan = User.get(User.upn_key == "megan@contoso.example")
    code, out, err = run(
        "Set-UserLicense",
        "-UserId",
        to_global_id("User", megan.id),
        "-AddLicenses",
        "MCOPSTNC",
        *target,
    )
    assert code == 1
    assert pl.read_csv(io.StringIO(out))["Code"].to_list() == ["CountViolation"]
    code, _, err = run(
        "Set-UserLicense",
        "-UserId",
        "a@contoso.example",
        "-Path",
        "x.csv",
        "-AddLicenses",
        "MCOPSTNC",
        *target,
    )
    assert code == 2 and "not both" in err


def test_the_loop_is_one_batched_run_in_sheet_order_with_the_per_row_report(
    tenant, clock, target, tmp_path, requests
):
    upns = [f"user{n:02d}@contoso.example" for n in range(30)]
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 20, now=clock())
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", 30, now=clock())
    rows = [f"{u},{'NOPE' if n == 4 else 'MCOEV'}" for n, u in enumerate(upns)]
    sheet = write_csv(tmp_path / "users.csv", "Mail,Sku", rows[:10] + [","] + rows[10:])
    script = tmp_path / "loop.ps1"
    script.write_text(
        f"$credits = '{CREDITS}'\n"
        f"$users = Import-Csv -Path '{sheet}'\n"
        "foreach ($user in $users) {\n"
        "  Set-MgUserLicense -UserId $user.Mail -AddLicenses @(@{SkuId = $credits}, @{SkuId = $user.Sku}) "
        "-RemoveLicenses @()\n"
        "}\n"
    )
    before = counts()
    code, _, err = run("Invoke-Script", str(script), "-WhatIf", "-BatchSize", "7", *target)
    assert code == 1 and counts() == before, err
    what_if = pl.read_csv(tmp_path / "users.whatif.result.csv", infer_schema=False)
    requests.clear()
    code, _, err = run("Invoke-Script", str(script), "-BatchSize", "7", *target)
    assert code == 1, err
    real = pl.read_csv(tmp_path / "users.result.csv", infer_schema=False)
    assert requests.count("BulkSetUserLicenses") == 5  # 30 rows in batches of 7
    assert real["Row"].to_list() == [str(r) for r in [*range(2, 12), *range(13, 33)]]
    statuses = real.select("Status", "Code").rows()
    assert statuses[4] == ("Failed", "InvalidSku")  # the one bad cell fails its row alone
    assert statuses[:4] + statuses[5:21] == [("Assigned", None)] * 20  # seats in sheet order
    assert statuses[21:] == [("Failed", "CountViolation")] * 9
    assert what_if.select("Row", "Code").rows() == real.select("Row", "Code").rows()
    assert "1 blank row skipped" in err


def test_a_constant_the_catalog_does_not_know_stops_before_anything_is_sent(
    tenant, clock, tmp_path
):
    make_users(tenant, clock, ["adele@contoso.example"])
    sheet = write_csv(tmp_path / "users.csv", "UserPrincipalName", ["adele@contoso.example"])
    script = tmp_path / "bad.ps1"
    script.write_text(
        "$sku = Get-MgSubscribedSku | Where-Object { $_.SkuPartNumber -eq 'NOPE' }\n"
        f"Import-Csv '{sheet}' | ForEach-Object {{ Set-MgUserLicense -UserId $_.UserPrincipalName "
        "-AddLicenses @{SkuId = $sku.SkuId} -RemoveLicenses @() }\n"
        f"Import-Csv '{sheet}' | % {{ Update-MgUser -UserId $_.Upn -UsageLocation DE }}\n"
    )
    before = counts()
    code, _, err = run("Invoke-Script", str(script), "-Tenant", "Fabrikam")
    assert code == 2 and counts() == before
    assert f"{script}:2:" in err and "-AddLicenses: $sku.SkuId is empty ($null)" in err
    script.write_text(script.read_text().split("\n", 2)[2])
    code, _, err = run("Invoke-Script", str(script), "-Tenant", "Fabrikam")
    assert code == 2 and f"{script}:1:" in err and "has no column 'Upn'" in err


def test_where_keeps_sheet_rows_and_objects_loop_by_id(tenant, clock, tmp_path, requests):
    make_users(tenant, clock, [f"u{n}@contoso.example" for n in range(4)], location=None)
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    sheet = write_csv(
        tmp_path / "people.csv",
        "UserPrincipalName,Country,Team",
        [
            f"u{n}@contoso.example,{'AT' if n % 2 else 'DE'},{'Sales' if n < 3 else 'IT'}"
            for n in range(4)
        ],
    )
    script = tmp_path / "s.ps1"
    script.write_text(
        f"Import-Csv '{sheet}' | Where-Object {{ $_.Team -eq 'sales' }} | ForEach-Object {{\n"
        "  Update-MgUser -UserId $_.UserPrincipalName -UsageLocation $_.Country\n"
        "}\n"
        "$located = Get-MgUser -All | Where-Object { $_.UsageLocation -ne $null }\n"
        "foreach ($user in $located) { Set-MgUserLicense -UserId $user.Id "
        "-AddLicenses @{SkuId = 'MCOPSTNC'} -RemoveLicenses @() }\n"
        "Get-MgUser -All | Select-Object -ExpandProperty UserPrincipalName -First 2\n"
    )
    code, out, err = run("Invoke-Script", str(script), "-Tenant", "Fabrikam")
    assert code == 0, err
    located = pl.read_csv(tmp_path / "people.result.csv", infer_schema=False)
    assert located.select("Row", "Action").rows() == [
        ("2", "UsageLocation=DE"),
        ("3", "UsageLocation=AT"),
        ("4", "UsageLocation=DE"),
    ]
    assert state("contoso.example") == {
        "u0": ("DE", (("MCOPSTNC", ()),)),
        "u1": ("AT", (("MCOPSTNC", ()),)),
        "u2": ("DE", (("MCOPSTNC", ()),)),
        "u3": (None, ()),
    }
    assert requests.count("BulkSetUserLicenses") == 1 and requests.count("BulkUserIds") == 1
    assert out.endswith("u0@contoso.example\nu1@contoso.example\n")
