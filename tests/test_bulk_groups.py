"""Add-GroupMember, Remove-GroupMember, New-MgGroupMember and Get-MgGroupMemberWithLicenseError,
in-process and over HTTP: sheets with the admin center's headers, -WhatIf, bad rows with their
row number, code and message, exit codes, re-runs, and a licensed group's errors."""

from __future__ import annotations

import io

import polars as pl
import pytest

from commcredits.bulk.transport import LocalTransport, NoAnswer
from commcredits.models import AuditEntry, GroupMember, LicenseAssignment, User
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, groups
from commcredits.services.access import SYSTEM
from commcredits.services.group_assign import GroupLicenseInput as GL
from tests.helpers import add_users, buy, upn
from tests.test_bulk import report_of, run, write_csv, write_xlsx
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture

DOMAIN = "fabrikam.example"
TENANT = ("-Tenant", "Fabrikam")


def members(name: str = "Sales") -> list[str]:
    """The group's members' UPNs, in member order."""
    query = (
        GroupMember.select(User.user_principal_name)
        .join(User)
        .switch(GroupMember)
        .join(groups.Group)
        .where(groups.Group.display_name == name)
        .order_by(GroupMember.id)
    )
    return [u for (u,) in query.tuples()]


def audit_count() -> int:
    return AuditEntry.select().count()


def gid(group) -> str:
    return to_global_id("Group", group.id)


@pytest.fixture
def staff(tenant, clock):
    add_users(
        tenant,
        clock(),
        [("anna", "DE"), ("ben", "DE"), ("cleo", "FR"), ("dan", None), ("eve", "DE")],
    )
    return tenant


@pytest.fixture
def sales(staff, clock):
    return groups.create_group(staff, SYSTEM, "Sales", now=clock())


def licensed(tenant, clock, group, **lics):
    """The group licensed with these SKUs, each with this many seats bought."""
    buy(tenant, clock(), **lics)
    group_assign.assign_group_license(
        tenant, SYSTEM, group.id, [GL(sku) for sku in lics], [], now=clock()
    )


def test_add_from_an_admin_center_export_then_rerun(sales, tmp_path):
    # The admin center's export as it is: BOM, ';', its header spelled its way.
    sheet = write_csv(
        tmp_path / "members.csv",
        "User principal name;Display name",
        [
            f"{upn('anna')};Anna",
            f"{upn('ghost')};Ghost",
            f"{upn('BEN')};Ben",
            ";Nobody",
            f"{upn('anna')};Anna again",
            f"{upn('cleo')};Cleo",
        ],
        sep=";",
        bom=True,
    )
    code, _, err = run("Add-GroupMember", "-GroupName", "sales", "-Path", str(sheet), *TENANT)
    assert code == 1, err
    assert members() == [upn("anna"), upn("ben"), upn("cleo")]
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Added", None),
        ("3", "Failed", "NOT_FOUND"),
        ("4", "Added", None),
        ("5", "Failed", "MissingKey"),
        ("6", "Failed", "DuplicateRow"),
        ("7", "Added", None),
    ]
    assert set(report["Action"].to_list()) == {"Add to Sales"}
    assert "ghost@fabrikam.example" in report["Message"][1]
    # Again: the server finds them members already: Unchanged, and nothing is written (no
    # audit entry).
    before = audit_count()
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), *TENANT)
    assert code == 1 and audit_count() == before
    statuses = report_of(err)["Status"].to_list()
    assert statuses == ["Unchanged", "Failed", "Unchanged", "Failed", "Failed", "Unchanged"]


def test_whatif_reads_and_writes_nothing(sales, staff, clock, tmp_path):
    groups.add_members(staff, SYSTEM, sales.id, [upn("ben")], now=clock())
    sheet = write_csv(
        tmp_path / "m.csv", "UserPrincipalName", [upn("anna"), upn("ben"), upn("nope")]
    )
    before = audit_count()
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", *TENANT)
    assert code == 1, err
    assert audit_count() == before and members() == [upn("ben")]
    assert report_of(err).select("Status", "Code").rows() == [
        ("WouldAdd", None),
        ("Unchanged", None),
        ("WouldFail", "NOT_FOUND"),
    ]
    assert "What if:" in err
    code, _, err = run("Remove-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", *TENANT)
    assert members() == [upn("ben")] and audit_count() == before
    assert report_of(err)["Status"].to_list() == ["Unchanged", "WouldRemove", "WouldFail"]


def test_batches_and_a_user_named_by_id_and_by_upn(sales, tmp_path):
    anna = User.get(User.upn_key == upn("anna"))
    sheet = write_csv(
        tmp_path / "m.csv",
        "Identity",
        [to_global_id("User", anna.id), upn("ben"), upn("anna"), upn("cleo"), upn("dan")],
    )
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-BatchSize", "2", *TENANT
    )
    assert code == 1, err
    assert members() == [upn("anna"), upn("ben"), upn("cleo"), upn("dan")]
    report = report_of(err)
    assert report["Status"].to_list() == ["Added", "Added", "Failed", "Added", "Added"]
    assert report["Message"][2] == f"{upn('anna')} already appears in row 2; this row was not sent."


def test_a_licensed_group_gives_seats_and_says_which_members_it_could_not_license(
    sales, staff, clock, tmp_path
):
    licensed(staff, clock, sales, SPE_E5=2)
    sheet = write_csv(tmp_path / "m.csv", "UPN", [upn("anna"), upn("ben"), upn("cleo")])
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), *TENANT)
    assert code == 0, err  # every member was added
    assert LicenseAssignment.select().count() == 2
    report = report_of(err)
    assert report.select("Status", "Code").rows() == [
        ("Added", None),
        ("Added", None),
        ("Added", "CountViolation"),
    ]
    assert report["Message"][2] == (
        f"{upn('cleo')} added; its group licenses are in error: SPE_E5 CountViolation"
    )
    assert "1 added members' group licenses in error" in err
    # The listing of those members (Graph PowerShell's cmdlet), by id and by name.
    code, out, err = run("Get-MgGroupMemberWithLicenseError", "-GroupId", gid(sales), *TENANT)
    assert code == 0, err
    listing = pl.read_csv(io.StringIO(out))
    assert listing.select("UserPrincipalName", "SkuPartNumber", "Error").rows() == [
        (upn("cleo"), "SPE_E5", "CountViolation")
    ]
    path = tmp_path / "errors.xlsx"
    code, _, err = run(
        "Get-MgGroupMemberWithLicenseError", "-GroupName", "Sales", "-Path", str(path), *TENANT
    )
    assert code == 0 and "1 members with license errors" in err
    assert pl.read_excel(path)["Id"].to_list() == [
        to_global_id("User", User.get(User.upn_key == upn("cleo")).id)
    ]
    # Removing a licensed member frees its seat for the member waiting: the listing empties.
    code, _, err = run(
        "Remove-GroupMember", "-GroupName", "Sales", "-Identity", upn("anna"), *TENANT
    )
    assert code == 0, err
    code, out, err = run("Get-MgGroupMemberWithLicenseError", "-GroupId", gid(sales), *TENANT)
    assert code == 0 and pl.read_csv(io.StringIO(out)).height == 0


def test_remove_from_a_workbook_with_headers_in_any_case(sales, staff, clock, tmp_path):
    licensed(staff, clock, sales, MCOMEETADV=5)
    groups.add_members(staff, SYSTEM, sales.id, [upn("anna"), upn("ben")], now=clock())
    assert LicenseAssignment.select().count() == 2
    book = write_xlsx(
        tmp_path / "leavers.xlsx",
        ["  USER PRINCIPAL NAME ", "Note"],
        [[upn("anna"), "x"], [upn("cleo"), "not a member"], ["sip:" + upn("ben"), ""]],
    )
    code, _, err = run("Remove-GroupMember", "-GroupName", "Sales", str(book), *TENANT)
    assert code == 0, err
    assert report_of(err).select("Status", "Message").rows() == [
        ("Removed", f"{upn('anna')} removed"),
        ("Unchanged", "Not a member."),
        ("Removed", f"{upn('ben')} removed"),
    ]
    assert members() == [] and LicenseAssignment.select().count() == 0


def test_graph_new_mg_group_member(sales, staff, tmp_path, monkeypatch):
    ben = to_global_id("User", User.get(User.upn_key == upn("ben")).id)
    code, out, err = run(
        "New-MgGroupMember", "-GroupId", gid(sales), "-DirectoryObjectId", ben, *TENANT
    )
    assert code == 0, err
    assert members() == [upn("ben")] and "Added" in out
    # Graph refuses a member already there; here it is Unchanged (safe to re-run).
    code, out, err = run(
        "new-mggroupmember", "-groupid", gid(sales), "-directoryobjectid", upn("ben"), *TENANT
    )
    assert code == 0 and "Unchanged" in out
    # The same line in a script, with a variable (Invoke-Script runs it as a native line).
    monkeypatch.setenv("COMMCREDITS_TENANT", "Fabrikam")
    script = tmp_path / "members.ps1"
    script.write_text(
        f"$g = '{gid(sales)}'\n"
        f"New-MgGroupMember -GroupId $g -DirectoryObjectId {upn('anna')}\n"
        f"New-MgGroupMember -GroupId $g -DirectoryObjectId {upn('cleo')},{upn('dan')}\n",
        encoding="utf-8",
    )
    code, _, err = run("Invoke-Script", str(script))
    assert code == 0, err
    assert members() == [upn("ben"), upn("anna"), upn("cleo"), upn("dan")]


def test_the_group_is_checked_before_anything_is_sent(sales, staff, clock, tmp_path):
    sheet = write_csv(tmp_path / "m.csv", "UserPrincipalName", [upn("anna")])
    before = audit_count()
    code, _, err = run("Add-GroupMember", "-GroupName", "Marketing", str(sheet), *TENANT)
    assert code == 2 and "no group named 'Marketing'" in err
    code, _, err = run("Add-GroupMember", "-GroupId", "R3JvdXA6OTk5", str(sheet), *TENANT)
    assert code == 2 and "no group with the id" in err
    code, _, err = run("Add-GroupMember", str(sheet), *TENANT)
    assert code == 2 and "-GroupName NAME or -GroupId ID" in err
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-Identity", upn("ben"), *TENANT
    )
    assert code == 2 and "not both" in err
    groups.create_group(staff, SYSTEM, "SALES", now=clock())
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), *TENANT)
    assert code == 2 and "2 groups are named 'Sales'" in err and gid(sales) in err
    # A name that only contains another's is not it ("Sales" is not "Sales EMEA").
    code, _, err = run("Add-GroupMember", "-GroupName", "Sale", str(sheet), *TENANT)
    assert code == 2 and "no group named 'Sale'" in err
    assert audit_count() == before + 1 and GroupMember.select().count() == 0  # the SALES group
    bad = write_csv(tmp_path / "bad.csv", "Name", ["x"])
    code, _, err = run("Add-GroupMember", "-GroupId", gid(sales), str(bad), *TENANT)
    assert code == 2 and "no user column" in err and "'Name'" in err


def test_over_http(sales, staff, clock, keys, server, tmp_path):  # noqa: F811
    licensed(staff, clock, sales, SPE_E5=1)
    target = ["-Endpoint", server, "-ApiKey", keys["LICENSE_ADMIN"]]
    sheet = write_csv(
        tmp_path / "m.csv", "UserPrincipalName", [upn("anna"), upn("ghost"), upn("ben")]
    )
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", *target)
    assert code == 1 and members() == []
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), *target)
    assert code == 1, err
    assert report_of(err).select("Status", "Code").rows() == [
        ("Added", None),
        ("Failed", "NOT_FOUND"),
        ("Added", "CountViolation"),
    ]
    code, out, err = run("Get-MgGroupMemberWithLicenseError", "-GroupName", "Sales", *target)
    assert code == 0, err
    assert pl.read_csv(io.StringIO(out))["UserPrincipalName"].to_list() == [upn("ben")]
    code, out, err = run(
        "New-MgGroupMember", "-GroupId", gid(sales), "-DirectoryObjectId", upn("cleo"), *target
    )
    assert code == 0 and members() == [upn("anna"), upn("ben"), upn("cleo")]
    # A reader may not: one line, exit 2, nothing written.
    reader = ["-Endpoint", server, "-ApiKey", keys["READER"]]
    code, _, err = run("Remove-GroupMember", "-GroupName", "Sales", str(sheet), *reader)
    assert code == 2 and "FORBIDDEN" in err and "Traceback" not in err
    assert members() == [upn("anna"), upn("ben"), upn("cleo")]
    code, _, err = run("Remove-GroupMember", "-GroupName", "Sales", str(sheet), *target)
    assert code == 1, err
    assert members() == [upn("cleo")]
    assert report_of(err)["Status"].to_list() == ["Removed", "Failed", "Removed"]


def test_requests_per_batch_and_a_run_stopped_part_way(sales, staff, clock, tmp_path, monkeypatch):
    add_users(staff, clock(), [(f"u{n}", "DE") for n in range(30)])
    groups.add_members(staff, SYSTEM, sales.id, [upn("u0")], now=clock())
    sheet = write_csv(tmp_path / "m.csv", "UserPrincipalName", [upn(f"u{n}") for n in range(30)])
    sent: list[str] = []
    real = LocalTransport.execute

    def failing(self, query, variables=None):
        name = query.split("(")[0].split()[-1]
        sent.append(name)
        if name == "BulkAddGroupMembers" and sent.count(name) == 2:
            raise NoAnswer("the connection was lost")
        return real(self, query, variables)

    monkeypatch.setattr(LocalTransport, "execute", failing)
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-BatchSize", "10", *TENANT
    )
    assert code == 2 and "stopped part way" in err
    # 30 users looked up 25 at a time, then batches of 10: the group's members are not read
    # ahead (u0, a member already, goes in the first batch and is Unchanged by its answer)
    assert sent == [
        "BulkGroupsByName",
        "BulkGroupUsers",
        "BulkGroupUsers",
        "BulkAddGroupMembers",
        "BulkAddGroupMembers",
    ]
    path = next(line for line in err.splitlines() if "; report: " in line).rsplit(": ", 1)[1]
    statuses = pl.read_csv(path, infer_schema=False)["Status"].to_list()
    assert statuses == ["Unchanged"] + ["Added"] * 9 + ["Unknown"] * 10 + ["NotSent"] * 10
    assert len(members()) == 10
    monkeypatch.setattr(LocalTransport, "execute", real)
    before = audit_count()
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-BatchSize", "10", *TENANT
    )
    assert code == 0, err
    assert report_of(err)["Status"].to_list() == ["Unchanged"] * 10 + ["Added"] * 20
    assert len(members()) == 30
    # the first batch changed nothing: only the two that added members are audited
    assert audit_count() == before + 2
