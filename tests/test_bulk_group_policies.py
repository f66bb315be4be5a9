"""New-, Get- and Remove-CsGroupPolicyAssignment in-process and over HTTP: the Teams
spellings, groups by id or display name, ranks, -WhatIf (nothing written), the server's
refusals with their codes, and exit codes."""

from __future__ import annotations

import io

import polars as pl
import pytest

from commcredits.models import AuditEntry, GroupPolicyGrant
from commcredits.schema.common import to_global_id
from commcredits.services import calling_policies, groups
from commcredits.services.access import SYSTEM
from tests.helpers import add_users
from tests.test_bulk import run
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture

TENANT = ("-Tenant", "Fabrikam")
DISABLED = "DialoutCPCandPSTNDisabled"
DOMESTIC = "DialoutCPCandPSTNDomestic"


def written() -> tuple[list, int]:
    return list(GroupPolicyGrant.select().order_by(GroupPolicyGrant.id).tuples()), (
        AuditEntry.select().count()
    )


def ranked(kind: str = "DIAL_OUT") -> list[tuple[str, int]]:
    from commcredits.models import Group

    return [
        (name, rank)
        for name, rank in GroupPolicyGrant.select(Group.display_name, GroupPolicyGrant.rank)
        .join(Group)
        .where(GroupPolicyGrant.policy_type == kind)
        .order_by(GroupPolicyGrant.rank)
        .tuples()
    ]


def one_row(out: str) -> dict[str, str | None]:
    rows = pl.read_csv(io.StringIO(out), infer_schema=False).to_dicts()
    assert len(rows) == 1, out
    return rows[0]


def sheet(out: str) -> list[dict[str, str | None]]:
    return pl.read_csv(io.StringIO(out), infer_schema=False).to_dicts()


@pytest.fixture
def staff(tenant, clock):
    add_users(tenant, clock(), [("anna", "DE"), ("ben", "DE")])
    for name in ("Sales", "Support"):
        groups.create_group(tenant, SYSTEM, name, now=clock())
    calling_policies.create_calling_policy(
        tenant,
        SYSTEM,
        calling_policies.PolicyInput(name="SalesLimit", enable_spend_limits=True,
                                     calling_spend_user_limit=50),
        now=clock(),
    )  # fmt: skip
    return tenant


def new(*args: str) -> tuple[int, str, str]:
    return run("New-CsGroupPolicyAssignment", *args)


def test_new_get_remove_by_name_and_id_with_whatif(staff):
    before = written()
    code, out, err = new(
        "-GroupId", "sales", "-PolicyType", "CsOnlineDialOutPolicy", "-PolicyName", DISABLED,
        "-Rank", "1", "-WhatIf", *TENANT,
    )  # fmt: skip
    assert code == 0, err
    row = one_row(out)
    assert (row["Key"], row["Action"], row["Status"]) == ("Sales", "Assign", "WouldAssign")
    assert row["Message"] == f"CsOnlineDialOutPolicy {DISABLED} at rank 1"
    assert written() == before
    code, out, err = new(
        "-GroupId", "Sales", "-PolicyType", "CsOnlineDialOutPolicy", "-PolicyName", DISABLED,
        "-Rank", "1", *TENANT,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Status"] == "Assigned", err
    support = to_global_id("Group", groups.groups_query(staff, "Support").get().id)
    code, out, err = new(
        "-GroupId", support, "-PolicyType", "OnlineDialOutPolicy", "-PolicyName", DOMESTIC,
        "-Rank", "1", *TENANT,
    )  # fmt: skip
    assert code == 0, err
    assert one_row(out)["Message"] == (
        f"CsOnlineDialOutPolicy {DOMESTIC} at rank 1; 1 other assignment(s) moved down"
    )
    assert ranked() == [("Support", 1), ("Sales", 2)]
    code, out, err = new(
        "-GroupId", "Sales", "-PolicyType", "TeamsCallingPolicy", "-PolicyName", "saleslimit",
        *TENANT,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Message"] == "TeamsCallingPolicy SalesLimit at rank 1"

    code, out, err = run("Get-CsGroupPolicyAssignment", *TENANT)
    assert code == 0, err
    assert [
        (r["GroupDisplayName"], r["PolicyType"], r["PolicyName"], r["Rank"]) for r in sheet(out)
    ] == [
        ("Support", "CsOnlineDialOutPolicy", DOMESTIC, "1"),
        ("Sales", "CsOnlineDialOutPolicy", DISABLED, "2"),
        ("Sales", "TeamsCallingPolicy", "SalesLimit", "1"),
    ]
    code, out, err = run(
        "Get-CsGroupPolicyAssignment", "-PolicyType", "TeamsCallingPolicy", *TENANT
    )
    assert [r["GroupDisplayName"] for r in sheet(out)] == ["Sales"]
    code, out, err = run("Get-CsGroupPolicyAssignment", "-GroupId", "Support", *TENANT)
    assert [r["PolicyName"] for r in sheet(out)] == [DOMESTIC]

    before = written()
    code, out, err = run(
        "Remove-CsGroupPolicyAssignment", "-GroupId", "Support", "-PolicyType",
        "CsOnlineDialOutPolicy", "-WhatIf", *TENANT,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Status"] == "WouldRemove" and written() == before
    code, out, err = run(
        "Remove-CsGroupPolicyAssignment", "-GroupId", "Support", "-PolicyType",
        "CsOnlineDialOutPolicy", *TENANT,
    )  # fmt: skip
    assert code == 0, err
    assert one_row(out)["Message"] == f"CsOnlineDialOutPolicy {DOMESTIC} (rank 1) removed"
    assert ranked() == [("Sales", 1)]


def test_refusals_fail_the_row_or_stop_the_command_and_write_nothing(staff, keys):
    before = written()
    # The server's refusals: the row fails (exit 1) with its code.
    for args, code_ in [
        (("-PolicyType", "CsOnlineDialOutPolicy", "-PolicyName", "Nope"), "UNKNOWN_POLICY"),
        (("-PolicyType", "TeamsCallingPolicy", "-PolicyName", "Nope"), "UNKNOWN_POLICY"),
        (("-PolicyType", "CsOnlineDialOutPolicy", "-PolicyName", DISABLED, "-Rank", "0"),
         "INVALID_RANK"),
    ]:  # fmt: skip
        code, out, err = new("-GroupId", "Sales", *args, *TENANT)
        row = one_row(out)
        assert (code, row["Status"], row["Code"]) == (1, "Failed", code_), (args, out, err)
    code, out, err = run(
        "Remove-CsGroupPolicyAssignment", "-GroupId", "Sales", "-PolicyType",
        "TeamsCallingPolicy", *TENANT,
    )  # fmt: skip
    assert code == 1 and one_row(out)["Code"] == "NOT_FOUND"
    # What the command line cannot mean stops it before anything is sent (exit 2).
    for args, says in [
        (("-GroupId", "Nobody", "-PolicyType", "TeamsCallingPolicy", "-PolicyName", "X"),
         "no group named"),
        (("-GroupId", "Sales", "-PolicyType", "TeamsMeetingPolicy", "-PolicyName", "X"),
         "-PolicyType"),
        (("-GroupId", "Sales", "-PolicyType", "TeamsCallingPolicy", "-PolicyName", "SalesLimit",
          "-Rank", "first"), "-Rank takes a whole number"),
        (("-GroupId", "Sales", "-PolicyType", "TeamsCallingPolicy"), "-PolicyName"),
    ]:  # fmt: skip
        code, out, err = new(*args, *TENANT)
        assert code == 2 and says in err and "Traceback" not in err, (args, err)
    # Roles that may not change policies stop (exit 2); readers may list.
    for role in ("READER", "LICENSE_ADMIN", "BILLING_ADMIN"):
        key = ("-ApiKey", keys[role])
        code, out, err = new(
            "-GroupId", "Sales", "-PolicyType", "TeamsCallingPolicy", "-PolicyName",
            "SalesLimit", *key,
        )  # fmt: skip
        assert code == 2 and "FORBIDDEN" in err, (role, err)
    code, out, err = run("Get-CsGroupPolicyAssignment", "-ApiKey", keys["READER"])
    assert code == 0 and sheet(out) == []
    assert written() == before
    code, out, _ = run("help")
    assert all(f"{v}-CsGroupPolicyAssignment" in out for v in ("New", "Get", "Remove"))


def test_over_http(staff, keys, server):  # noqa: F811
    target = ("-Endpoint", server, "-ApiKey", keys["GLOBAL_ADMIN"])
    code, out, err = new(
        "-GroupId", "Sales", "-PolicyType", "TeamsCallingPolicy", "-PolicyName", "SalesLimit",
        "-Rank", "1", *target,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Status"] == "Assigned", err
    code, out, err = new(
        "-GroupId", "Support", "-PolicyType", "TeamsCallingPolicy", "-PolicyName", "SalesLimit",
        "-Rank", "1", "-WhatIf", *target,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Status"] == "WouldAssign"
    assert ranked("CALLING") == [("Sales", 1)]
    code, out, err = run("Get-CsGroupPolicyAssignment", *target)
    assert code == 0 and [r["GroupDisplayName"] for r in sheet(out)] == ["Sales"]
    reader = ("-Endpoint", server, "-ApiKey", keys["READER"])
    code, out, err = run(
        "Remove-CsGroupPolicyAssignment", "-GroupId", "Sales", "-PolicyType",
        "TeamsCallingPolicy", *reader,
    )  # fmt: skip
    assert code == 2 and "FORBIDDEN" in err and "Traceback" not in err
    code, out, err = run(
        "Remove-CsGroupPolicyAssignment", "-GroupId", "Sales", "-PolicyType",
        "TeamsCallingPolicy", *target,
    )  # fmt: skip
    assert code == 0 and one_row(out)["Status"] == "Removed" and ranked("CALLING") == []
