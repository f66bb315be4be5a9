"""Grant-CsDialoutPolicy and Grant-CsTeamsCallingPolicy in-process: -Identity, -Global and
sheets (CSV and XLSX), -WhatIf, bad rows with their row number, code and message, exit codes
and re-runs."""

from __future__ import annotations

import pytest

from commcredits.bulk import policies
from commcredits.bulk.transport import LocalTransport
from commcredits.models import AuditEntry
from commcredits.models.policies import CallingPolicyGrant, DialOutGrant
from tests.helpers import add_users, other_tenant
from tests.test_bulk import report_of, run, write_csv, write_xlsx
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture

DOMAIN = "fabrikam.example"
TENANT = ("-Tenant", "Fabrikam")


def grants() -> dict[str | None, str]:
    """UPN (None: the global grant) -> policy name."""
    query = DialOutGrant.select(DialOutGrant.user, DialOutGrant.policy_name)
    found = {}
    for grant in query:
        found[grant.user.user_principal_name if grant.user_id else None] = grant.policy_name
    return found


def audit_count() -> int:
    return AuditEntry.select().count()


@pytest.fixture
def staff(tenant, clock):
    add_users(tenant, clock(), [("anna", "DE"), ("ben", "DE"), ("cleo", "FR"), ("dan", None)])
    return tenant


def test_identity_grant_then_rerun_then_remove(staff):
    code, out, err = run(
        "Grant-CsDialoutPolicy",
        "-Identity",
        f"anna@{DOMAIN}",
        "-PolicyName",
        "DialoutCPCandPSTNDomestic",
        *TENANT,
    )
    assert code == 0, err
    assert grants() == {f"anna@{DOMAIN}": "DialoutCPCandPSTNDomestic"}
    assert "Assigned" in out and "DialoutCPCandPSTNDomestic granted" in out
    # PowerShell spellings: the cmdlet's casing, parameter names in any case, a lower-case
    # policy name; the same grant again is Unchanged and writes nothing
    before = audit_count()
    code, out, err = run(
        "grant-csdialoutpolicy",
        "-identity",
        f"ANNA@{DOMAIN}",
        "-POLICYNAME",
        "dialoutcpcandpstndomestic",
        *TENANT,
    )
    assert code == 0, err
    assert "Unchanged" in out and audit_count() == before
    # -PolicyName:$null as bash passes it (`-PolicyName:`) removes the grant
    code, out, err = run(
        "Grant-CsDialOutPolicy", "-Identity", f"anna@{DOMAIN}", "-PolicyName:", *TENANT
    )
    assert code == 0, err
    assert grants() == {} and "Removed" in out
    code, out, err = run(
        "Grant-CsDialOutPolicy", "-Identity", f"anna@{DOMAIN}", "-PolicyName", "$null", *TENANT
    )
    assert code == 0 and "Unchanged" in out and "No grant to remove" in out


def test_identity_takes_an_id_and_a_sip_address(staff):
    from commcredits.models import User
    from commcredits.schema.common import to_global_id

    ben = User.get(User.upn_key == f"ben@{DOMAIN}")
    code, out, err = run(
        "Grant-CsDialoutPolicy",
        "-Identity",
        f"{to_global_id('User', ben.id)},sip:cleo@{DOMAIN}",
        "-PolicyName",
        "DialoutCPCDisabledPSTNDomestic",
        *TENANT,
    )
    assert code == 0, err
    assert grants() == {
        f"ben@{DOMAIN}": "DialoutCPCDisabledPSTNDomestic",
        f"cleo@{DOMAIN}": "DialoutCPCDisabledPSTNDomestic",
    }


def test_global_grant_whatif_then_apply_then_remove(staff):
    before = audit_count()
    code, out, err = run(
        "Grant-CsDialoutPolicy",
        "-PolicyName",
        "DialoutCPCandPSTNDomestic",
        "-Global",
        "-WhatIf",
        *TENANT,
    )
    assert code == 0, err
    assert grants() == {} and audit_count() == before and "WouldAssign" in out
    code, out, err = run(
        "Grant-CsDialoutPolicy", "-PolicyName", "DialoutCPCandPSTNDomestic", "-Global", *TENANT
    )
    assert code == 0, err
    assert grants() == {None: "DialoutCPCandPSTNDomestic"} and "granted globally" in out
    code, out, err = run("Grant-CsDialoutPolicy", "-PolicyName:", "-Global", "-WhatIf", *TENANT)
    assert code == 0 and "WouldRemove" in out and grants() == {None: "DialoutCPCandPSTNDomestic"}
    code, out, err = run("Grant-CsDialoutPolicy", "-PolicyName", "$null", "-Global", *TENANT)
    assert code == 0, err
    assert grants() == {} and "Removed" in out


def test_unknown_policy_name_fails_with_the_servers_message(staff):
    code, out, err = run(
        "Grant-CsDialoutPolicy", "-Identity", f"anna@{DOMAIN}", "-PolicyName", "NoSuch", *TENANT
    )
    assert code == 1, err
    assert grants() == {}
    assert "UNKNOWN_POLICY" in out and "DialoutCPCandPSTNDisabled" in out
    code, out, err = run("Grant-CsDialoutPolicy", "-PolicyName", "NoSuch", "-Global", *TENANT)
    assert code == 1 and "UNKNOWN_POLICY" in out and grants() == {}
    code, out, err = run(
        "Grant-CsDialoutPolicy", "-PolicyName", "NoSuch", "-Global", "-WhatIf", *TENANT
    )
    assert code == 1 and "WouldFail" in out and "UNKNOWN_POLICY" in out


SHEET_ROWS = [
    f"anna@{DOMAIN},DialoutCPCandPSTNDomestic",
    f"ghost@{DOMAIN},DialoutCPCandPSTNDomestic",
    f"BEN@{DOMAIN},dialoutcpcandpstndisabled",
    f"cleo@{DOMAIN},NoSuchPolicy",
    f"dan@{DOMAIN},",
    f"anna@{DOMAIN},DialoutCPCandPSTNDisabled",
    "ghost@northwind.example,DialoutCPCandPSTNDomestic",
]


def _expect_sheet_report(report, *, what_if: bool) -> None:
    fail = "WouldFail" if what_if else "Failed"
    rows = {int(r["Row"]): r for r in report.iter_rows(named=True)}
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8]
    assert rows[2]["Status"] == ("WouldAssign" if what_if else "Assigned")
    assert (rows[3]["Status"], rows[3]["Code"]) == (fail, "NOT_FOUND")
    assert f"ghost@{DOMAIN}" in rows[3]["Message"]
    assert rows[4]["Status"] == ("WouldAssign" if what_if else "Assigned")
    assert (rows[5]["Status"], rows[5]["Code"]) == (fail, "UNKNOWN_POLICY")
    assert "'NoSuchPolicy' is not a dial-out policy" in rows[5]["Message"]
    assert (rows[6]["Status"], rows[6]["Code"]) == (fail, "MissingValue")
    assert (rows[7]["Status"], rows[7]["Code"]) == (fail, "DuplicateRow")
    # another tenant's user is not found, as any unknown user
    assert (rows[8]["Status"], rows[8]["Code"]) == (fail, "NOT_FOUND")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_sheet_whatif_then_apply_then_rerun(staff, clock, tmp_path, kind):
    other = other_tenant(clock())
    add_users(other, clock(), [("ghost", "US")], domain="northwind.example")
    if kind == "csv":
        sheet = write_csv(tmp_path / "users.csv", "User principal name,Policy Name", SHEET_ROWS)
    else:
        sheet = write_xlsx(
            tmp_path / "users.xlsx",
            ["Identity", "PolicyName"],
            [row.split(",") for row in SHEET_ROWS],
        )
    before = audit_count()
    code, _, err = run("Grant-CsDialoutPolicy", "-Path", str(sheet), "-WhatIf", *TENANT)
    assert code == 1, err
    assert grants() == {} and audit_count() == before
    what_if = report_of(err)
    _expect_sheet_report(what_if, what_if=True)

    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), *TENANT)
    assert code == 1, err
    done = report_of(err)
    _expect_sheet_report(done, what_if=False)
    # -WhatIf said what the run then did: the same rows, codes and refusals, word for word
    would = {"WouldAssign": "Assigned", "WouldFail": "Failed"}
    assert [would[s] for s in what_if["Status"]] == done["Status"].to_list()
    assert (
        what_if.select("Row", "Key", "Action", "Code").rows()
        == done.select("Row", "Key", "Action", "Code").rows()
    )
    failed = done["Status"] == "Failed"
    assert what_if.filter(failed)["Message"].to_list() == done.filter(failed)["Message"].to_list()
    assert grants() == {
        f"anna@{DOMAIN}": "DialoutCPCandPSTNDomestic",
        f"ben@{DOMAIN}": "DialoutCPCandPSTNDisabled",
    }
    audited = audit_count()

    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), *TENANT)
    assert code == 1, err
    report = report_of(err)
    assert report.filter(report["Row"].is_in(["2", "4"]))["Status"].to_list() == ["Unchanged"] * 2
    assert audit_count() == audited  # a re-run writes nothing


def test_sheet_with_policy_name_parameter_for_every_row(staff, tmp_path):
    sheet = write_csv(
        tmp_path / "m365.csv",
        "User Name,First Name,Last Name,Display Name",
        [f"anna@{DOMAIN},Anna,A,Anna A", f"ben@{DOMAIN},Ben,B,Ben B"],
    )
    code, _, err = run(
        "Grant-CsDialoutPolicy",
        str(sheet),
        "-PolicyName",
        "DialoutCPCDomesticPSTNDisabled",
        *TENANT,
    )
    assert code == 0, err
    assert set(grants().values()) == {"DialoutCPCDomesticPSTNDisabled"} and len(grants()) == 2
    # a $null cell removes that user's grant
    removal = write_csv(tmp_path / "remove.csv", "UPN,PolicyName", [f"anna@{DOMAIN},$null"])
    code, _, err = run("Grant-CsDialoutPolicy", str(removal), *TENANT)
    assert code == 0, err
    assert grants() == {f"ben@{DOMAIN}": "DialoutCPCDomesticPSTNDisabled"}


def test_batches_and_a_user_gone_since_the_lookup(staff, tenant, tmp_path, monkeypatch):
    """Rows the server refuses (userIds.N) fail alone; the rest of their batch goes again."""
    sheet = write_csv(
        tmp_path / "u.csv",
        "UserPrincipalName,PolicyName",
        [f"{u}@{DOMAIN},DialoutCPCandPSTNDomestic" for u in ("anna", "ben", "cleo", "dan")],
    )
    from commcredits.models import User

    real = policies.lookup_users

    def stale(transport, kind, refs):
        found = real(transport, kind, refs)
        User.delete().where(User.upn_key == f"cleo@{DOMAIN}").execute()  # gone meanwhile
        return found

    monkeypatch.setattr(policies, "lookup_users", stale)
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), "-BatchSize", "3", *TENANT)
    assert code == 1, err
    report = report_of(err)
    assert report["Status"].to_list() == ["Assigned", "Assigned", "Failed", "Assigned"]
    assert report["Code"][2] == "NOT_FOUND"
    assert sorted(grants()) == [f"anna@{DOMAIN}", f"ben@{DOMAIN}", f"dan@{DOMAIN}"]


def test_one_mutation_per_batch_of_a_name_in_any_case(staff, tenant, clock, tmp_path, monkeypatch):
    add_users(tenant, clock(), [(f"u{n}", "DE") for n in range(30)])
    spelled = [
        "DialoutCPCandPSTNDomestic",
        "dialoutcpcandpstndomestic",
        "Tag:DIALOUTCPCANDPSTNDOMESTIC",
    ]
    sheet = write_csv(
        tmp_path / "many.csv",
        "UserPrincipalName,PolicyName",
        [f"u{n}@{DOMAIN},{spelled[n % 3]}" for n in range(30)],
    )
    sent: list[str] = []
    real = LocalTransport.execute

    def counting(self, query, variables=None):
        sent.append(query.split("(")[0].split()[-1])
        return real(self, query, variables)

    monkeypatch.setattr(LocalTransport, "execute", counting)
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), "-BatchSize", "20", *TENANT)
    assert code == 0, err
    # 30 users looked up 25 at a time, then one group of 30 in batches of 20
    assert sent == ["BulkDialOutPolicyUsers"] * 2 + ["BulkGrantDialOutPolicy"] * 2
    assert set(grants().values()) == {"DialoutCPCandPSTNDomestic"} and len(grants()) == 30
    assert report_of(err)["Message"].to_list() == ["DialoutCPCandPSTNDomestic granted"] * 30


def test_reader_is_refused_and_nothing_written(staff, keys):
    # -WhatIf too: the server checks the role as the run's first batch would meet it
    for what_if in ([], ["-WhatIf"]):
        code, _, err = run(
            "Grant-CsDialoutPolicy",
            "-Identity",
            f"anna@{DOMAIN}",
            "-PolicyName",
            "DialoutCPCandPSTNDomestic",
            *what_if,
            "-ApiKey",
            keys["READER"],
        )
        assert code == 2 and "FORBIDDEN" in err and grants() == {}
    code, _, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-PolicyName",
        "AnyLimit",
        "-Global",
        "-WhatIf",
        "-ApiKey",
        keys["LICENSE_ADMIN"],
    )
    assert code == 2 and "FORBIDDEN" in err  # the role, before the name


def test_usage_errors(staff, tmp_path):
    code, _, err = run("Grant-CsDialoutPolicy", "-PolicyName", "DialoutCPCandPSTNDomestic", *TENANT)
    assert code == 2 and "-Identity" in err
    code, _, err = run("Grant-CsDialoutPolicy", "-Identity", f"anna@{DOMAIN}", *TENANT)
    assert code == 2 and "-PolicyName" in err
    # bash drops an unquoted $null: `-PolicyName $null -Global` arrives as `-PolicyName -Global`
    code, _, err = run("Grant-CsDialoutPolicy", "-PolicyName", "-Global", *TENANT)
    assert code == 2 and "'$null'" in err
    sheet = write_csv(tmp_path / "u.csv", "UserPrincipalName", [f"anna@{DOMAIN}"])
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), *TENANT)
    assert code == 2 and "PolicyName column" in err
    code, out, _ = run("help", "Grant-CsDialoutPolicy")
    assert code == 0 and "-PolicyName" in out and "-Global" in out
    code, out, _ = run("help")
    assert "Grant-CsDialoutPolicy" in out and "Grant-CsTeamsCallingPolicy" in out


def test_invoke_script_passes_null(staff, tmp_path, monkeypatch):
    monkeypatch.setenv("COMMCREDITS_TENANT", "Fabrikam")  # the native lines' target
    script = tmp_path / "grants.ps1"
    script.write_text(
        f"Grant-CsDialoutPolicy -Identity anna@{DOMAIN} -PolicyName DialoutCPCandPSTNDomestic\n"
        f"Grant-CsDialoutPolicy -Identity ben@{DOMAIN} -PolicyName DialoutCPCandPSTNDomestic\n"
        f"Grant-CsDialoutPolicy -Identity anna@{DOMAIN} -PolicyName $null\n",
        encoding="utf-8",
    )
    code, _, err = run("Invoke-Script", str(script))
    assert code == 0, err
    assert grants() == {f"ben@{DOMAIN}": "DialoutCPCandPSTNDomestic"}


# -- Grant-CsTeamsCallingPolicy -----------------------------------------------------------

CREATE = """
mutation($name: String!, $limit: Decimal) {
  createCallingPolicy(input: {name: $name, enableSpendLimits: true,
                              callingSpendUserLimit: $limit}) {
    policy { name } userErrors { code message }
  }
}"""


def calling_grants() -> dict[str | None, str]:
    found = {}
    for grant in CallingPolicyGrant.select():
        upn = grant.user.user_principal_name if grant.user_id else None
        found[upn] = grant.policy.name
    return found


@pytest.fixture
def limits(staff, api):
    for name, limit in (("SalesLimit", "25.00"), ("NoCalls", "0.00")):
        payload = api(CREATE, {"name": name, "limit": limit})["createCallingPolicy"]
        assert payload["userErrors"] == [], payload
    return staff


def test_calling_policy_identity_global_and_null(limits):
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"anna@{DOMAIN}",
        "-PolicyName",
        "Tag:saleslimit",  # PowerShell's Tag: prefix, any case
        *TENANT,
    )
    assert code == 0, err
    assert calling_grants() == {f"anna@{DOMAIN}": "SalesLimit"} and "Assigned" in out
    audited = audit_count()
    code, out, err = run(
        "grant-csteamscallingpolicy",
        "-identity",
        f"anna@{DOMAIN}",
        "-policyname",
        "SalesLimit",
        *TENANT,
    )
    assert code == 0 and "Unchanged" in out and audit_count() == audited
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy", "-PolicyName", "NoCalls", "-Global", "-WhatIf", *TENANT
    )
    assert code == 0 and "WouldAssign" in out and None not in calling_grants()
    code, out, err = run("Grant-CsTeamsCallingPolicy", "-PolicyName", "NoCalls", "-Global", *TENANT)
    assert code == 0, err
    assert calling_grants() == {f"anna@{DOMAIN}": "SalesLimit", None: "NoCalls"}
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy", "-Identity", f"anna@{DOMAIN}", "-PolicyName:", *TENANT
    )
    assert code == 0 and "Removed" in out
    assert calling_grants() == {None: "NoCalls"}
    # the user now has the global grant, not one of their own: nothing to remove
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"anna@{DOMAIN}",
        "-PolicyName",
        "$null",
        *TENANT,
    )
    assert code == 0 and "Unchanged" in out


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_calling_policy_sheet_whatif_apply_rerun(limits, tmp_path, kind):
    rows = [
        [f"anna@{DOMAIN}", "SalesLimit"],
        [f"ghost@{DOMAIN}", "SalesLimit"],
        [f"ben@{DOMAIN}", "NoSuchLimit"],
        [f"cleo@{DOMAIN}", "nocalls"],
    ]
    if kind == "csv":
        sheet = write_csv(
            tmp_path / "c.csv", "UserPrincipalName,PolicyName", [",".join(r) for r in rows]
        )
    else:
        sheet = write_xlsx(tmp_path / "c.xlsx", ["User Name", "Policy name"], rows)
    audited = audit_count()
    code, _, err = run("Grant-CsTeamsCallingPolicy", str(sheet), "-WhatIf", *TENANT)
    assert code == 1, err
    assert calling_grants() == {} and audit_count() == audited
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "WouldAssign", None),
        ("3", "WouldFail", "NOT_FOUND"),
        ("4", "WouldFail", "UNKNOWN_POLICY"),
        ("5", "WouldAssign", None),
    ]
    code, _, err = run("Grant-CsTeamsCallingPolicy", str(sheet), *TENANT)
    assert code == 1, err
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Assigned", None),
        ("3", "Failed", "NOT_FOUND"),
        ("4", "Failed", "UNKNOWN_POLICY"),
        ("5", "Assigned", None),
    ]
    # the server's message, listing the tenant's policies
    assert "'NoSuchLimit' is not a calling policy" in report["Message"][2]
    assert "SalesLimit" in report["Message"][2]
    assert calling_grants() == {f"anna@{DOMAIN}": "SalesLimit", f"cleo@{DOMAIN}": "NoCalls"}
    audited = audit_count()
    code, _, err = run("Grant-CsTeamsCallingPolicy", str(sheet), *TENANT)
    assert code == 1 and audit_count() == audited
    assert report_of(err)["Status"].to_list() == ["Unchanged", "Failed", "Failed", "Unchanged"]


def test_grants_over_http(limits, keys, server, tmp_path):  # noqa: F811
    target = ["-Endpoint", server, "-ApiKey", keys["GLOBAL_ADMIN"]]
    sheet = write_csv(
        tmp_path / "grants.csv",
        "Identity,PolicyName",
        [
            f"anna@{DOMAIN},DialoutCPCandPSTNDomestic",
            f"ghost@{DOMAIN},DialoutCPCandPSTNDomestic",
            f"ben@{DOMAIN},Nope",
            f"cleo@{DOMAIN},DialoutCPCandPSTNDisabled",
        ],
    )
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), "-WhatIf", *target)
    assert code == 1 and grants() == {}
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), "-BatchSize", "1", *target)
    assert code == 1, err
    assert report_of(err).select("Row", "Status", "Code").rows() == [
        ("2", "Assigned", None),
        ("3", "Failed", "NOT_FOUND"),
        ("4", "Failed", "UNKNOWN_POLICY"),
        ("5", "Assigned", None),
    ]
    assert grants() == {
        f"anna@{DOMAIN}": "DialoutCPCandPSTNDomestic",
        f"cleo@{DOMAIN}": "DialoutCPCandPSTNDisabled",
    }
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"dan@{DOMAIN}",
        "-PolicyName",
        "SalesLimit",
        *target,
    )
    assert code == 0, err
    assert calling_grants() == {f"dan@{DOMAIN}": "SalesLimit"}
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy", "-PolicyName", "SalesLimit", "-Global", *target
    )
    assert code == 0 and calling_grants()[None] == "SalesLimit"
    # a reader may not: one line, exit 2, nothing written
    reader = ["-Endpoint", server, "-ApiKey", keys["READER"]]
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), *reader)
    assert code == 2 and "FORBIDDEN" in err and "Traceback" not in err
    code, _, err = run("Grant-CsTeamsCallingPolicy", "-PolicyName", "$null", "-Global", *reader)
    assert code == 2 and "FORBIDDEN" in err and calling_grants()[None] == "SalesLimit"


def test_get_users_piped_into_a_grant(staff):
    code, users, err = run("Get-Users", "-UsageLocation", "DE", *TENANT)
    assert code == 0, err
    code, out, err = run(
        "Grant-CsDialoutPolicy",
        "-Path",
        "-",
        "-PolicyName",
        "DialoutCPCandPSTNDisabled",
        *TENANT,
        stdin=users.encode(),
    )
    assert code == 0, err
    assert grants() == {
        f"anna@{DOMAIN}": "DialoutCPCandPSTNDisabled",
        f"ben@{DOMAIN}": "DialoutCPCandPSTNDisabled",
    }
    assert out.count("Assigned") == 2  # the report on stdout


# -- -WhatIf is the server's whatIf; -Global reads the grant in force ----------------------


def test_whatif_sends_the_rows_users_and_the_server_checks_each(staff, monkeypatch, tmp_path):
    """-WhatIf sends the run's batches with whatIf: true, so a user gone since the look-up
    fails its row as in the run, and nothing is written (grants and audit entries counted)."""
    from commcredits.models import User

    sheet = write_csv(
        tmp_path / "u.csv",
        "UserPrincipalName,PolicyName",
        [f"{u}@{DOMAIN},DialoutCPCandPSTNDomestic" for u in ("anna", "ben", "cleo")],
    )
    sent: list[tuple[str, dict]] = []
    real_execute = LocalTransport.execute

    def recording(self, query, variables=None):
        sent.append((query.split("(")[0].split()[-1], dict(variables or {})))
        return real_execute(self, query, variables)

    real_lookup = policies.lookup_users

    def stale(transport, kind, refs):
        found = real_lookup(transport, kind, refs)
        User.delete().where(User.upn_key == f"ben@{DOMAIN}").execute()  # gone meanwhile
        return found

    monkeypatch.setattr(LocalTransport, "execute", recording)
    monkeypatch.setattr(policies, "lookup_users", stale)
    before = (DialOutGrant.select().count(), audit_count())
    code, _, err = run("Grant-CsDialoutPolicy", str(sheet), "-WhatIf", *TENANT)
    assert code == 1, err
    assert (DialOutGrant.select().count(), audit_count()) == before
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "WouldAssign", None),
        ("3", "WouldFail", "NOT_FOUND"),
        ("4", "WouldAssign", None),
    ]
    assert report["Message"][0] == "DialoutCPCandPSTNDomestic would be granted"
    grants_sent = [v for name, v in sent if name == "BulkGrantDialOutPolicy"]
    # the batch with every row's user, then again without the one refused
    assert [len(v["userIds"]) for v in grants_sent] == [3, 2]
    assert all(v["whatIf"] is True for v in grants_sent)


def test_whatif_names_the_policy_as_the_server_spells_it_and_the_grant_it_replaces(limits):
    run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"anna@{DOMAIN}",
        "-PolicyName",
        "NoCalls",
        *TENANT,
    )
    before = (CallingPolicyGrant.select().count(), audit_count())
    code, out, err = run(
        "Grant-CsTeamsCallingPolicy",
        "-Identity",
        f"anna@{DOMAIN},ben@{DOMAIN}",
        "-PolicyName",
        "saleslimit",
        "-WhatIf",
        *TENANT,
    )
    assert code == 0, err
    assert (CallingPolicyGrant.select().count(), audit_count()) == before
    assert "SalesLimit would be granted (was NoCalls)" in out
    assert out.count("WouldAssign") == 2


@pytest.mark.parametrize(
    ("command", "name", "other", "stored"),
    [
        ("Grant-CsDialoutPolicy", "DialoutCPCandPSTNDomestic", "DialoutCPCandPSTNDisabled", grants),
        ("Grant-CsTeamsCallingPolicy", "SalesLimit", "NoCalls", calling_grants),
    ],
)
def test_a_global_rerun_is_unchanged(limits, monkeypatch, command, name, other, stored):
    code, out, err = run(command, "-PolicyName", name, "-Global", *TENANT)
    assert code == 0 and "Assigned" in out, err
    audited = audit_count()
    sent: list[str] = []
    real_execute = LocalTransport.execute

    def recording(self, query, variables=None):
        sent.append(query.split("(")[0].split("{")[0].split()[-1])
        return real_execute(self, query, variables)

    monkeypatch.setattr(LocalTransport, "execute", recording)
    # again, in another case and with -WhatIf too: Unchanged, nothing sent but the read
    for extra in ([], ["-WhatIf"]):
        sent.clear()
        code, out, err = run(command, "-PolicyName", name.upper(), "-Global", *extra, *TENANT)
        assert code == 0, err
        assert "Unchanged" in out and f"{name} already granted globally" in out
        assert sent == ["BulkGlobalPolicyGrants"]
    assert audit_count() == audited and stored()[None] == name
    # another policy: -WhatIf says what it replaces, and writes nothing
    code, out, err = run(command, "-PolicyName", other, "-Global", "-WhatIf", *TENANT)
    assert code == 0 and f"{other} would be granted globally (was {name})" in out
    assert audit_count() == audited and stored()[None] == name
    code, out, err = run(command, "-PolicyName:", "-Global", "-WhatIf", *TENANT)
    assert code == 0 and f"The global grant of {name} would be removed" in out
    code, out, err = run(command, "-PolicyName", "$null", "-Global", *TENANT)
    assert code == 0 and "Removed" in out and None not in stored()
    code, out, err = run(command, "-PolicyName", "$null", "-Global", *TENANT)
    assert code == 0 and "Unchanged" in out and "No global grant" in out
