"""New-, Get- and Remove-CsGroupPolicyAssignment: policies granted to groups with a rank
(issue 18 item 4), as admins type the Teams cmdlets.

`-GroupId` takes the group's id or its display name (whole, any case: `group_lookup`); a
group that is not found, or a name two groups share, stops the command before anything is
sent (exit 2). `-PolicyType` takes Teams's names (TeamsCallingPolicy, CsOnlineDialOutPolicy)
or the API's (CALLING, DIAL_OUT). Each changing command is one mutation (assignGroupPolicy,
removeGroupPolicy) and a one-row report, as the calling-policy cmdlets: every rule is the
server's (the policy's name, the rank), -WhatIf is the mutation's whatIf. A refusal of the
caller (FORBIDDEN) stops the command (exit 2); any other refusal fails its row (exit 1) with
the server's code and message. Get- writes the assignments as Teams lists them, by type then
rank.
"""

from __future__ import annotations

import time

import polars as pl

from commcredits.bulk.calling_policy_cmdlets import refusal_of
from commcredits.bulk.errors import UsageError
from commcredits.bulk.group_lookup import GroupRef, find_group
from commcredits.bulk.params import SHEET_OUT, TARGET, Invocation, Param, command
from commcredits.bulk.reports import Report, status
from commcredits.bulk.runner import transport_for
from commcredits.bulk.runtime import Options
from commcredits.bulk.terminal import check_output, finish, write_output
from commcredits.bulk.transport import Transport
from commcredits.services.group_policies import TEAMS_NAME, TEAMS_TYPES
from commcredits.services.group_policy_lookup import POLICY_TYPES

ASSIGN_GROUP_POLICY = """
mutation BulkAssignGroupPolicy(
  $groupId: ID!, $policyType: PolicyType!, $policyName: String!, $rank: Int, $whatIf: Boolean!
) {
  assignGroupPolicy(groupId: $groupId, policyType: $policyType, policyName: $policyName,
                    rank: $rank, whatIf: $whatIf) {
    assignment { policyName rank }
    shifted { groupId rank }
    whatIf userErrors { field code message }
  }
}
"""
REMOVE_GROUP_POLICY = """
mutation BulkRemoveGroupPolicy($groupId: ID!, $policyType: PolicyType!, $whatIf: Boolean!) {
  removeGroupPolicy(groupId: $groupId, policyType: $policyType, whatIf: $whatIf) {
    assignment { policyName rank }
    whatIf userErrors { field code message }
  }
}
"""
GROUP_POLICY_ASSIGNMENTS = """
query BulkGroupPolicyAssignments($policyType: PolicyType) {
  groupPolicyAssignments(policyType: $policyType) {
    groupId groupDisplayName policyType policyName rank grantedAt
  }
}
"""
# Refusals of the caller, not of the assignment: the command stops (exit 2).
ASSIGNMENT_SCHEMA = pl.Schema(
    {
        "GroupId": pl.String,
        "GroupDisplayName": pl.String,
        "PolicyType": pl.String,
        "PolicyName": pl.String,
        "Rank": pl.Int64,
        "CreatedTime": pl.String,
    }
)


# -- what the command line gives ------------------------------------------------------------
def policy_type(value: str | None, *, required: bool = True) -> str | None:
    """-PolicyType as the API's enum value; an unknown one stops the command (exit 2)."""
    text = (value or "").strip()
    if not text:
        if required:
            raise UsageError("give -PolicyType TeamsCallingPolicy or CsOnlineDialOutPolicy")
        return None
    if text.upper() in POLICY_TYPES:
        return text.upper()
    found = TEAMS_TYPES.get(text.lower())
    if found is None:
        raise UsageError(
            f"-PolicyType {text!r}: the types are TeamsCallingPolicy and CsOnlineDialOutPolicy"
        )
    return found


def _group(transport: Transport, inv: Invocation) -> GroupRef:
    """-GroupId as the group's id, else as its display name."""
    ref = (inv.get("GroupId") or "").strip()
    if not ref or ref.startswith("-"):
        raise UsageError("give -GroupId ID (or the group's display name)")
    try:
        return find_group(transport, group_id=ref, name=None)
    except UsageError:
        return find_group(transport, group_id=None, name=ref)


# -- the work -------------------------------------------------------------------------------
def new_group_policy_assignment(
    transport: Transport,
    options: Options,
    *,
    group: GroupRef,
    kind: str,
    policy_name: str,
    rank: int | None,
) -> Report:
    """New-CsGroupPolicyAssignment: one report row, Assigned (WouldAssign) or Failed; the
    message says the rank and which other assignments moved."""
    report = Report(what_if=options.what_if)
    variables = {
        "groupId": group.id,
        "policyType": kind,
        "policyName": policy_name,
        "rank": rank,
        "whatIf": options.what_if,
    }
    payload = transport.execute(ASSIGN_GROUP_POLICY, variables)["assignGroupPolicy"]
    refused = refusal_of(payload)
    if refused:
        report.fail(1, group.name, "Assign", *refused)
    else:
        done = payload["assignment"]
        moved = len(payload["shifted"])
        message = f"{TEAMS_NAME[kind]} {done['policyName']} at rank {done['rank']}"
        message += f"; {moved} other assignment(s) moved down" if moved else ""
        report.add(1, group.name, "Assign", status("Assigned", options.what_if), "", message)
    options.advance(1)
    return report


def remove_group_policy_assignment(
    transport: Transport, options: Options, *, group: GroupRef, kind: str
) -> Report:
    """Remove-CsGroupPolicyAssignment: Removed (WouldRemove), or Failed (NOT_FOUND when the
    group has no assignment of the type)."""
    report = Report(what_if=options.what_if)
    variables = {"groupId": group.id, "policyType": kind, "whatIf": options.what_if}
    payload = transport.execute(REMOVE_GROUP_POLICY, variables)["removeGroupPolicy"]
    refused = refusal_of(payload)
    if refused:
        report.fail(1, group.name, "Remove", *refused)
    else:
        gone = payload["assignment"]
        would = "would be " if options.what_if else ""
        message = f"{TEAMS_NAME[kind]} {gone['policyName']} (rank {gone['rank']}) {would}removed"
        report.add(1, group.name, "Remove", status("Removed", options.what_if), "", message)
    options.advance(1)
    return report


def get_group_policy_assignments(transport: Transport, kind: str | None) -> pl.DataFrame:
    rows = transport.execute(GROUP_POLICY_ASSIGNMENTS, {"policyType": kind})
    return pl.DataFrame(
        [
            (
                a["groupId"],
                a["groupDisplayName"],
                TEAMS_NAME[a["policyType"]],
                a["policyName"],
                a["rank"],
                a["grantedAt"],
            )
            for a in rows["groupPolicyAssignments"]
        ],
        schema=ASSIGNMENT_SCHEMA,
        orient="row",
    )


# -- the commands ---------------------------------------------------------------------------
def _changing(inv: Invocation, work) -> int:  # noqa: ANN001 - (Transport, Options, GroupRef)
    started = time.perf_counter()
    check_output(inv.get("ResultPath"))
    transport = transport_for(inv)
    try:
        group = _group(transport, inv)
        report = work(transport, Options(what_if=bool(inv.get("WhatIf"))), group)
    finally:
        transport.close()
    return finish(inv, report, None, started)


def run_new(inv: Invocation) -> int:
    kind = policy_type(inv.get("PolicyType"))
    name = (inv.get("PolicyName") or "").strip()
    if not name:
        raise UsageError("give -PolicyName NAME")
    rank = inv.get("Rank")

    def work(t: Transport, options: Options, group: GroupRef) -> Report:
        return new_group_policy_assignment(
            t, options, group=group, kind=kind, policy_name=name, rank=rank
        )

    return _changing(inv, work)


def run_remove(inv: Invocation) -> int:
    kind = policy_type(inv.get("PolicyType"))

    def work(t: Transport, options: Options, group: GroupRef) -> Report:
        return remove_group_policy_assignment(t, options, group=group, kind=kind)

    return _changing(inv, work)


def run_get(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    kind = policy_type(inv.get("PolicyType"), required=False)
    transport = transport_for(inv)
    try:
        frame = get_group_policy_assignments(transport, kind)
        if inv.get("GroupId"):
            group = _group(transport, inv)
            frame = frame.filter(pl.col("GroupId") == group.id)
    finally:
        transport.close()
    return write_output(inv, frame, started, "group policy assignments")


GROUP_ID = Param("GroupId", help="the group's id, or its display name (whole)", value="ID")
POLICY_TYPE = Param("PolicyType", help="TeamsCallingPolicy or CsOnlineDialOutPolicy", value="TYPE")
CHANGE = (
    Param("ResultPath", help="report file (default: stdout)", value="FILE"),
    Param("WhatIf", "switch", "check everything on the server, write nothing"),
    *TARGET,
)
_ONE_ROW = (
    "One report row (Assigned, Removed; -WhatIf: WouldAssign, WouldRemove) on stdout or "
    "-ResultPath; a refused change fails its row with the server's code and message (exit "
    "1); a caller who may not change policies (FORBIDDEN), or a group not found, exits 2."
)

COMMANDS = (
    command(
        "New-CsGroupPolicyAssignment",
        "Grant a dial-out or calling policy to a group, with a rank among the groups.",
        (
            GROUP_ID,
            POLICY_TYPE,
            Param("PolicyName", help="the policy's name", value="NAME"),
            Param("Rank", "int", help="1 is the highest; default: last", value="N"),
            *CHANGE,
        ),
        'commcredits New-CsGroupPolicyAssignment -GroupId "Sales" -PolicyType '
        "TeamsCallingPolicy -PolicyName SalesLimit -Rank 1",
        run_new,
        positional=None,
        notes="Members without a policy of their own inherit the best-ranked (lowest Rank) "
        "assignment among their groups, before the global grant. A taken rank moves that "
        "assignment and the ones after it down; a rank past the end is the last. A group's "
        "assignment of the same type is replaced. " + _ONE_ROW,
    ),
    command(
        "Get-CsGroupPolicyAssignment",
        "Write the group policy assignments (by type, then rank) to a sheet, or CSV to stdout.",
        (GROUP_ID, POLICY_TYPE, *SHEET_OUT, *TARGET),
        "commcredits Get-CsGroupPolicyAssignment -PolicyType TeamsCallingPolicy -Path a.xlsx",
        run_get,
        positional=None,
        notes="Columns: GroupId, GroupDisplayName, PolicyType (Teams's name), PolicyName, "
        "Rank, CreatedTime. -PolicyType and -GroupId narrow the list.",
    ),
    command(
        "Remove-CsGroupPolicyAssignment",
        "Remove a group's dial-out or calling policy assignment; the ranks after it move up.",
        (GROUP_ID, POLICY_TYPE, *CHANGE),
        'commcredits Remove-CsGroupPolicyAssignment -GroupId "Sales" -PolicyType '
        "TeamsCallingPolicy -WhatIf",
        run_remove,
        positional=None,
        notes="Its members fall back to their next group's assignment, the global grant, or "
        "the default. " + _ONE_ROW,
    ),
)
