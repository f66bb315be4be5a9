"""New-, Set-, Remove- and Get-CsTeamsCallingPolicy in-process and over HTTP: the Teams
spellings, -WhatIf (the server's whatIf: nothing written, rows and audit entries counted),
Unchanged re-runs, the server's refusals with their codes and exit codes."""

from __future__ import annotations

import io

import polars as pl
import pytest

from commcredits.models import AuditEntry, CallingPolicy, CallingPolicyGrant
from tests.helpers import add_users
from tests.test_bulk import run
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture

DOMAIN = "fabrikam.example"
TENANT = ("-Tenant", "Fabrikam")


def stored() -> dict[str, tuple[bool, int | None, str]]:
    """name -> (EnableSpendLimits, limit in minor units, description)."""
    return {
        p.name: (p.enable_spend_limits, p.spend_limit_minor, p.description)
        for p in CallingPolicy.select()
    }


def written() -> tuple[int, int, int]:
    """What a -WhatIf must leave as it is: policies, grants, audit entries."""
    return (
        CallingPolicy.select().count(),
        CallingPolicyGrant.select().count(),
        AuditEntry.select().count(),
    )


def one_row(out: str) -> dict[str, str | None]:
    """The one-row report a changing command writes on stdout."""
    rows = pl.read_csv(io.StringIO(out), infer_schema=False).to_dicts()
    assert len(rows) == 1, out
    return rows[0]


def sheet(out: str) -> list[dict[str, str | None]]:
    return pl.read_csv(io.StringIO(out), infer_schema=False).to_dicts()


@pytest.fixture
def staff(tenant, clock):
    add_users(tenant, clock(), [("anna", "DE"), ("ben", "DE")])
    return tenant


def test_new_set_get_remove_with_whatif_and_reruns(staff):
    # -WhatIf first: the server checks it as for real and writes nothing
    before = written()
    code, out, err = run(
        "New-CsTeamsCallingPolicy",
        "-Identity",
        "SalesLimit",
        "-EnableSpendLimits",
        "$true",
        "-CallingSpendUserLimit",
        "50",
        "-WhatIf",
        *TENANT,
    )
    assert code == 0, err
    assert written() == before
    row = one_row(out)
    assert (row["Key"], row["Action"], row["Status"]) == ("SalesLimit", "Create", "WouldCreate")
    assert row["Message"] == "EnableSpendLimits True, CallingSpendUserLimit 50.00 EUR"

    code, out, err = run(
        "New-CsTeamsCallingPolicy",
        "-Identity",
        "SalesLimit",
        "-EnableSpendLimits",
        "$true",
        "-CallingSpendUserLimit",
        "50",
        "-Description",
        "Sales team",
        *TENANT,
    )
    assert code == 0, err
    assert one_row(out)["Status"] == "Created"
    assert stored() == {"SalesLimit": (True, 5000, "Sales team")}
    assert written()[2] == before[2] + 1  # one audit entry
    # the same name again, in another case: the server's refusal, its row failed
    code, out, err = run("New-CsTeamsCallingPolicy", "saleslimit", "-CallingSpendUserLimit", "1")
    assert code == 2  # no target: usage
    code, out, err = run(
        "New-CsTeamsCallingPolicy", "saleslimit", "-CallingSpendUserLimit", "1", *TENANT
    )
    assert code == 1, err
    row = one_row(out)
    assert (row["Status"], row["Code"]) == ("Failed", "POLICY_NAME_TAKEN")
    assert "already has a calling policy named 'saleslimit'" in row["Message"]

    # Set: only the parameters given change
    audited = written()
    code, out, err = run(
        "Set-CsTeamsCallingPolicy",
        "-Identity",
        "Tag:saleslimit",
        "-CallingSpendUserLimit",
        "80",
        "-WhatIf",
        *TENANT,
    )
    assert code == 0, err
    assert written() == audited and stored()["SalesLimit"][1] == 5000
    row = one_row(out)
    assert row["Status"] == "WouldUpdate"
    assert row["Message"] == (
        "EnableSpendLimits True, CallingSpendUserLimit 80.00 EUR "
        "(was EnableSpendLimits True, CallingSpendUserLimit 50.00 EUR)"
    )
    code, out, err = run(
        "Set-CsTeamsCallingPolicy",
        "-Identity",
        "SalesLimit",
        "-CallingSpendUserLimit",
        "80",
        *TENANT,
    )
    assert code == 0, err
    assert one_row(out)["Status"] == "Updated"
    assert stored() == {"SalesLimit": (True, 8000, "Sales team")}
    # again, the amount written otherwise: Unchanged, nothing sent, nothing written
    audited = written()
    code, out, err = run(
        "Set-CsTeamsCallingPolicy",
        "-Identity",
        "SalesLimit",
        "-CallingSpendUserLimit",
        "80.0",
        "-EnableSpendLimits:$true",
        *TENANT,
    )
    assert code == 0, err
    assert one_row(out)["Status"] == "Unchanged" and written() == audited
    # switching limits off keeps the limit, and says it is not in force
    code, out, err = run(
        "Set-CsTeamsCallingPolicy", "SalesLimit", "-EnableSpendLimits", "$false", *TENANT
    )
    assert code == 0, err
    assert "(not in force: EnableSpendLimits is False)" in one_row(out)["Message"]
    assert stored() == {"SalesLimit": (False, 8000, "Sales team")}

    # Get: the built-in Global first, as Teams lists it, then the tenant's
    code, out, err = run("Get-CsTeamsCallingPolicy", *TENANT)
    assert code == 0, err
    assert sheet(out) == [
        {
            "Identity": "Global",
            "Description": "Teams's built-in policy: no spending limit.",
            "EnableSpendLimits": "False",
            "CallingSpendUserLimit": None,
            "Currency": "EUR",
        },
        {
            "Identity": "Tag:SalesLimit",
            "Description": "Sales team",
            "EnableSpendLimits": "False",
            "CallingSpendUserLimit": "80.00",
            "Currency": "EUR",
        },
    ]
    assert "2 calling policies" in err

    # Remove: refused while granted, then -WhatIf, then for real
    code, _, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"anna@{DOMAIN}",
        "-PolicyName",
        "SalesLimit",
        *TENANT,
    )
    assert code == 0, err
    code, out, err = run("Remove-CsTeamsCallingPolicy", "-Identity", "SalesLimit", *TENANT)
    assert code == 1
    row = one_row(out)
    assert (row["Status"], row["Code"]) == ("Failed", "POLICY_IN_USE")
    assert "granted to 1 user(s)" in row["Message"]
    run("Grant-CsTeamsCallingPolicy", "-Identity", f"anna@{DOMAIN}", "-PolicyName:", *TENANT)
    audited = written()
    code, out, err = run("Remove-CsTeamsCallingPolicy", "SalesLimit", "-WhatIf", *TENANT)
    assert code == 0, err
    assert one_row(out)["Status"] == "WouldRemove" and written() == audited
    code, out, err = run("remove-csteamscallingpolicy", "-identity", "tag:SALESLIMIT", *TENANT)
    assert code == 0, err
    assert (one_row(out)["Status"], one_row(out)["Message"]) == ("Removed", "SalesLimit removed")
    assert stored() == {}
    code, out, err = run("Remove-CsTeamsCallingPolicy", "SalesLimit", *TENANT)
    assert code == 1 and one_row(out)["Code"] == "UNKNOWN_POLICY"


def test_get_one_policy_to_a_sheet_and_an_unknown_name(staff, tmp_path):
    for name, limit in (("SalesLimit", "50"), ("NoCalls", "0")):
        code, _, err = run(
            "New-CsTeamsCallingPolicy",
            name,
            "-EnableSpendLimits",
            "true",
            "-CallingSpendUserLimit",
            limit,
            *TENANT,
        )
        assert code == 0, err
    path = tmp_path / "policies.xlsx"
    code, out, err = run(
        "Get-CsTeamsCallingPolicy", "-Identity", "nocalls", "-Path", str(path), *TENANT
    )
    assert code == 0, err
    frame = pl.read_excel(path)
    assert frame["Identity"].to_list() == ["Tag:NoCalls"]
    assert frame["CallingSpendUserLimit"].cast(pl.String).to_list() == ["0.00"]
    code, out, err = run("Get-CsTeamsCallingPolicy", "-Identity", "Global", *TENANT)
    assert code == 0 and [r["Identity"] for r in sheet(out)] == ["Global"]
    code, out, err = run("Get-CsTeamsCallingPolicy", "-Identity", "Nope", *TENANT)
    assert code == 2
    assert "no calling policy named 'Nope'" in err and "Global, SalesLimit, NoCalls" in err


def test_bad_input_is_refused_and_writes_nothing(staff):
    before = written()
    cases = [
        # (arguments, exit code, code or message part)
        (("-CallingSpendUserLimit", "-5", "-EnableSpendLimits", "true"), 1, "INVALID_AMOUNT"),
        (("-CallingSpendUserLimit", "5.001", "-EnableSpendLimits", "true"), 1, "INVALID_PRECISION"),
        (("-EnableSpendLimits", "true"), 1, "INVALID_AMOUNT"),  # on needs a limit
        (("-CallingSpendUserLimit", "fifty"), 2, "-CallingSpendUserLimit"),
        (("-EnableSpendLimits", "maybe"), 2, "true or false"),
        # bash drops an unquoted $true: the value is missing
        (("-EnableSpendLimits", "-CallingSpendUserLimit", "5"), 2, "'$true'"),
        (("-EnableSpendLimits:",), 2, "'$true'"),
    ]
    for args, exit_code, expected in cases:
        code, out, err = run("New-CsTeamsCallingPolicy", "-Identity", "Bad", *args, *TENANT)
        assert code == exit_code, (args, out, err)
        assert expected in (out if exit_code == 1 else err), (args, out, err)
    # the built-in Global is not the tenant's to create, change or remove
    code, out, _ = run("New-CsTeamsCallingPolicy", "Global", "-CallingSpendUserLimit", "1", *TENANT)
    assert code == 1 and one_row(out)["Code"] == "INVALID_POLICY_NAME"
    for cmd, args in (
        ("Set-CsTeamsCallingPolicy", ("-CallingSpendUserLimit", "1")),
        ("Remove-CsTeamsCallingPolicy", ()),
    ):
        code, out, _ = run(cmd, "-Identity", "global", *args, *TENANT)
        assert code == 1 and one_row(out)["Code"] == "INVALID_POLICY_NAME", out
        assert "built-in" in one_row(out)["Message"]
    code, out, _ = run(
        "Set-CsTeamsCallingPolicy", "-Identity", "Nope", "-CallingSpendUserLimit", "1", *TENANT
    )
    assert code == 1 and one_row(out)["Code"] == "UNKNOWN_POLICY"
    # usage errors: exit 2
    code, _, err = run("Set-CsTeamsCallingPolicy", "-Identity", "Nope", *TENANT)
    assert code == 2 and "nothing to change" in err
    code, _, err = run("New-CsTeamsCallingPolicy", "-CallingSpendUserLimit", "1", *TENANT)
    assert code == 2 and "-Identity" in err
    code, _, err = run("Get-CsTeamsCallingPolicy", "-Path", "out.txt", *TENANT)
    assert code == 2 and "cannot write" in err
    assert written() == before
    code, out, _ = run("help", "New-CsTeamsCallingPolicy")
    assert code == 0 and "-EnableSpendLimits" in out and "-CallingSpendUserLimit" in out
    code, out, _ = run("help")
    assert all(f"{verb}-CsTeamsCallingPolicy" in out for verb in ("New", "Set", "Remove", "Get"))


def test_roles_that_may_not_change_policies_exit_2_and_readers_may_list(staff, keys):
    run("New-CsTeamsCallingPolicy", "SalesLimit", "-CallingSpendUserLimit", "5", *TENANT)
    before = written()
    for role in ("READER", "LICENSE_ADMIN"):
        key = ("-ApiKey", keys[role])
        for what_if in ((), ("-WhatIf",)):
            attempts = [
                ("New-CsTeamsCallingPolicy", "Other", "-CallingSpendUserLimit", "1"),
                ("Set-CsTeamsCallingPolicy", "SalesLimit", "-CallingSpendUserLimit", "9"),
                ("Remove-CsTeamsCallingPolicy", "SalesLimit"),
            ]
            for args in attempts:
                code, out, err = run(*args, *what_if, *key)
                assert code == 2 and "FORBIDDEN" in err, (role, args, out, err)
        code, out, err = run("Get-CsTeamsCallingPolicy", *key)
        assert code == 0 and [r["Identity"] for r in sheet(out)] == ["Global", "Tag:SalesLimit"]
    assert written() == before


def test_invoke_script_with_powershell_booleans(staff, tmp_path, monkeypatch):
    monkeypatch.setenv("COMMCREDITS_TENANT", "Fabrikam")
    script = tmp_path / "policies.ps1"
    script.write_text(
        "New-CsTeamsCallingPolicy -Identity SalesLimit -EnableSpendLimits $true "
        "-CallingSpendUserLimit 50 -Description 'Sales team'\n"
        "Set-CsTeamsCallingPolicy -Identity SalesLimit -CallingSpendUserLimit 80\n"
        f"Grant-CsTeamsCallingPolicy -Identity anna@{DOMAIN} -PolicyName SalesLimit\n",
        encoding="utf-8",
    )
    code, _, err = run("Invoke-Script", str(script))
    assert code == 0, err
    assert stored() == {"SalesLimit": (True, 8000, "Sales team")}
    assert CallingPolicyGrant.select().count() == 1


def test_over_http(staff, keys, server):  # noqa: F811
    target = ("-Endpoint", server, "-ApiKey", keys["GLOBAL_ADMIN"])
    code, out, err = run(
        "New-CsTeamsCallingPolicy",
        "-Identity",
        "SalesLimit",
        "-EnableSpendLimits",
        "$true",
        "-CallingSpendUserLimit",
        "50",
        *target,
    )
    assert code == 0, err
    assert one_row(out)["Status"] == "Created" and stored()["SalesLimit"][1] == 5000
    before = written()
    code, out, err = run(
        "Set-CsTeamsCallingPolicy", "SalesLimit", "-CallingSpendUserLimit", "80", "-WhatIf", *target
    )
    assert code == 0 and one_row(out)["Status"] == "WouldUpdate" and written() == before
    code, out, err = run(
        "Set-CsTeamsCallingPolicy", "SalesLimit", "-CallingSpendUserLimit", "80", *target
    )
    assert code == 0 and stored()["SalesLimit"][1] == 8000
    code, out, err = run("Get-CsTeamsCallingPolicy", *target)
    assert code == 0, err
    assert [(r["Identity"], r["CallingSpendUserLimit"]) for r in sheet(out)] == [
        ("Global", None),
        ("Tag:SalesLimit", "80.00"),
    ]
    code, out, err = run("Remove-CsTeamsCallingPolicy", "SalesLimit", "-WhatIf", *target)
    assert code == 0 and one_row(out)["Status"] == "WouldRemove" and stored()
    reader = ("-Endpoint", server, "-ApiKey", keys["READER"])
    code, out, err = run("Remove-CsTeamsCallingPolicy", "SalesLimit", *reader)
    assert code == 2 and "FORBIDDEN" in err and "Traceback" not in err and stored()
    code, out, err = run("Remove-CsTeamsCallingPolicy", "SalesLimit", *target)
    assert code == 0 and one_row(out)["Status"] == "Removed" and stored() == {}
