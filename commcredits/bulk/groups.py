"""Add-GroupMember, Remove-GroupMember (a sheet of users into or out of a group), Graph
PowerShell's New-MgGroupMember, and Get-MgGroupMemberWithLicenseError (a sheet of the
members whose group licenses are in error).

Every rule is the server's (SPEC §10, `services.groups`): this module reads first — the group
(by -GroupName or -GroupId) and the users named (25 per request) — so that an unknown user
fails its row before anything is sent (addGroupMembers refuses a whole batch for one). Whether
a user is already a member (or, removing, not one) is the server's answer, not read ahead: its
row is reported Unchanged from its result, and a batch that changes nothing writes nothing
(no audit entry), so a re-run changes nothing — and a run into a group of 100,000 members does
not first page through all of them. -WhatIf sends the very batches the
real run sends, with whatIf: the server checks the caller's role, processes the group's
licenses and keeps nothing, and each row reads its answer; each batch is handed the seats the
earlier ones would take (priorSeatChanges), as Set-UserLicense does. After a run into a
licensed group, the rows of members whose licenses the group could not give (Entra's Error
states: CountViolation, …) carry the code and say so, read from each user's result in the
batch's answer; the membership itself is done, so the row is not Failed (-WhatIf: WouldAdd,
with the code the run would give).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.group_lookup import (
    ERROR_SCHEMA,
    GroupRef,
    errors_frame,
    errors_of,
    find_group,
    license_errors,
    lookup_users,
)
from commcredits.bulk.operations import ADD_GROUP_MEMBERS, REMOVE_GROUP_MEMBERS
from commcredits.bulk.params import SHEET_IN, SHEET_OUT, TARGET, Invocation, Param, command
from commcredits.bulk.policy_lookup import IDENTITY_NAMES, identity, not_found
from commcredits.bulk.report_files import open_output
from commcredits.bulk.reports import Outcome, Report, RunStopped, keeping_report, status
from commcredits.bulk.rows import USER_PRINCIPAL_NAME as MAX_REF
from commcredits.bulk.rows import key_faults
from commcredits.bulk.runner import rows_command, sheet_command, transport_for
from commcredits.bulk.runtime import Options, slices
from commcredits.bulk.sheets import Sheet, column, match_columns, report_faults
from commcredits.bulk.terminal import Progress, check_output, report_written
from commcredits.bulk.transport import Transport

MEMBER_NAMES = (*IDENTITY_NAMES, "DirectoryObjectId", "MemberId", "Member")


@dataclass(frozen=True)
class Direction:
    """What differs between adding and removing."""

    verb: str  # the report's Action: "Add to Sales"
    mutation: str
    payload: str
    done: str  # the report's Status
    would: str  # -WhatIf's
    already: str  # the Unchanged message


ADD = Direction(
    "Add to",
    ADD_GROUP_MEMBERS,
    "addGroupMembers",
    "Added",
    "WouldAdd",
    "Already a member.",
)
REMOVE = Direction(
    "Remove from",
    REMOVE_GROUP_MEMBERS,
    "removeGroupMembers",
    "Removed",
    status("Removed", True),
    "Not a member.",
)


def change_members(
    transport: Transport, sheet: Sheet, options: Options, group: GroupRef, way: Direction
) -> Report:
    """Add the sheet's users to the group, or remove them (see the module's docstring)."""
    cols, _ = match_columns(sheet, {"user": MEMBER_NAMES}, key="user")
    keys = [identity(k) for k in column(sheet, cols["user"])]
    action = f"{way.verb} {group.name}"
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["user"], action)
    faults = key_faults(sheet.rows, keys, "user", max_length=MAX_REF)
    for i, (code, message) in faults.items():
        report.fail(sheet.rows[i], keys[i] or "", action, code, message)
    wanted = [i for i in range(len(keys)) if i not in faults]
    users = lookup_users(transport, [keys[i] or "" for i in wanted])
    todo: list[tuple[int, str]] = []  # (index, user id), in sheet order
    first_row: dict[str, int] = {}  # user id -> the row that named it first
    for i in wanted:
        key = keys[i]
        assert key is not None
        found = users.get(key)
        if found is None:
            report.fail(sheet.rows[i], key, action, *not_found(key))
            continue
        uid, upn = found
        if uid in first_row:  # the same user by UPN and by id
            report.fail(
                sheet.rows[i],
                key,
                action,
                "DuplicateRow",
                f"{upn} already appears in row {first_row[uid]}; this row was not sent.",
            )
            continue
        first_row[uid] = sheet.rows[i]
        todo.append((i, uid))
    done: dict[int, Outcome] = {}
    options.advance(len(sheet) - len(todo))
    _send(transport, sheet, report, keys, todo, group, way, action, options, done)
    for i, outcome in done.items():
        report.add(sheet.rows[i], keys[i] or "", action, *outcome)
    return report


def _send(
    transport: Transport,
    sheet: Sheet,
    report: Report,
    keys: list[str | None],
    todo: list[tuple[int, str]],
    group: GroupRef,
    way: Direction,
    action: str,
    options: Options,
    done: dict[int, Outcome],
) -> None:
    """The batches (with -WhatIf, the same with whatIf: each row from its result); answered
    rows go to `done`, reported at the end (with license notes) or, when the run stops part
    way, with the rows not done."""

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for i, _ in todo[start:stop]:
            done.setdefault(i, outcome)

    prior: dict[str, int] = {}  # -WhatIf: seats the earlier batches would take, per skuId
    in_error = 0
    try:
        with keeping_report(report, unsent) as cursor:
            for part in slices(todo, options.batch_size):
                cursor.batch(len(part))
                variables = {
                    "groupId": group.id,
                    "userIds": [u for _, u in part],
                    "whatIf": options.what_if,
                    "prior": [{"skuId": k, "units": v} for k, v in prior.items() if v] or None,
                    "states": way is ADD,
                }
                payload = transport.execute(way.mutation, variables)[way.payload]
                errors = payload.get("userErrors") or []
                if errors:  # rows were checked: a refusal now is of the batch (a role, a group)
                    first = errors[0]
                    raise UsageError(
                        f"the server refused the batch: {first['code']}: {first['message']}"
                    )
                in_error += _rows(payload, part, keys, group, way, options.what_if, done)
                for seats in payload.get("seatChanges") or ():
                    prior[seats["skuId"]] = prior.get(seats["skuId"], 0) + seats["units"]
                cursor.answered()
                options.advance(len(part))
    except RunStopped as stop:
        for i, outcome in done.items():
            stop.report.add(sheet.rows[i], keys[i] or "", action, *outcome)
        done.clear()
        raise
    if in_error and options.what_if:
        report.notes.append(
            f"{in_error:,} members would be added with their group licenses in error"
        )
    elif in_error:
        report.notes.append(
            f"{in_error:,} added members' group licenses in error "
            f"(Get-MgGroupMemberWithLicenseError -GroupId {group.id})"
        )


def _rows(
    payload: dict[str, Any],
    part: Sequence[tuple[int, str]],
    keys: list[str | None],
    group: GroupRef,
    way: Direction,
    what_if: bool,
    done: dict[int, Outcome],
) -> int:
    """Each row of the batch as the server's result says (a user sent once is one result, at
    its index), done (or, -WhatIf, would be) with the codes of the Error states the group
    leaves (would leave) it in: still Added, the membership is done. Unchanged when the server
    found nothing to do (already a member; removing, not one). Returns how many rows are in
    error."""
    count = 0
    state = way.would if what_if else way.done
    verb = f"would be {way.done.lower()}" if what_if else way.done.lower()
    for result in payload["results"]:
        i = part[result["index"]][0]
        if result["status"] == "UNCHANGED":
            done[i] = ("Unchanged", "", way.already)
            continue
        # Its licenseAssignmentStates, as a user node's: asked for when adding only.
        errors = errors_of(result, group) if "licenseAssignmentStates" in result else []
        message = f"{keys[i]} {verb}"
        if errors:
            codes = "; ".join(dict.fromkeys(code for _, code in errors))
            detail = ", ".join(f"{sku} {code}" for sku, code in errors)
            are = "would be" if what_if else "are"
            done[i] = (state, codes, f"{message}; its group licenses {are} in error: {detail}")
            count += 1
        else:
            done[i] = (state, "", message)
    return count


def get_license_errors(
    transport: Transport, group: GroupRef, *, progress: Callable | None = None
) -> pl.DataFrame:
    """Get-MgGroupMemberWithLicenseError as one DataFrame (the Python API returns it whole)."""
    frames = [pl.DataFrame(schema=ERROR_SCHEMA)]
    for nodes in license_errors(transport, group):
        frames.append(errors_frame(nodes, group))
        if progress is not None:
            progress(len(nodes))
    return pl.concat(frames)


def _group_of(inv: Invocation, transport: Transport) -> GroupRef:
    return find_group(transport, group_id=inv.get("GroupId"), name=inv.get("GroupName"))


def run_license_errors(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    transport = transport_for(inv)
    progress = Progress(inv, None, "user")
    path = inv.get("Path")
    try:
        group = _group_of(inv, transport)
        with open_output(path if path and path != "-" else inv.stdout, ERROR_SCHEMA) as sink:
            for nodes in license_errors(transport, group):
                sink.write(errors_frame(nodes, group))
                progress(len(nodes))
    finally:
        progress.close()
        transport.close()
    return report_written(inv, sink.rows, started, "members with license errors")


def _refs_sheet(refs: Sequence[str], source: str) -> Sheet:
    """Users named on the command line: a sheet of them (rows 1, 2, … as given)."""
    frame = pl.DataFrame({"Identity": list(refs)}, schema={"Identity": pl.String})
    return Sheet(frame=frame, rows=list(range(1, len(refs) + 1)), source=source)


def run_members(way: Direction, refs_param: str) -> Callable[[Invocation], int]:
    def run(inv: Invocation) -> int:
        refs = inv.get(refs_param, [])
        if bool(refs) == bool(inv.get("Path")):
            raise UsageError(f"give -Path FILE or -{refs_param} USER,... (not both)")

        def body(t: Transport, sheet: Sheet, options: Options) -> Report:
            return change_members(t, sheet, options, _group_of(inv, t), way)

        if inv.get("Path"):
            return sheet_command(inv, body)
        sheet = _refs_sheet(refs, f"-{refs_param}")
        return rows_command(
            inv,
            None,
            len(refs),
            lambda t, options: body(t, sheet, options),
            started=time.perf_counter(),
        )

    return run


_GROUP = (
    Param("GroupName", help="the group's display name (whole, any case)", value="NAME"),
    Param("GroupId", help="instead of -GroupName: the group's id", value="ID"),
)


def _members_params(refs: str, help_: str) -> tuple[Param, ...]:
    return (*_GROUP, Param(refs, "list", help_, value="USER,..."), *SHEET_IN, *TARGET)


_USERS = "instead of -Path: user principal name or id, comma-separated (report on stdout)"
_NOTES = (
    "Users: a sheet whose key column is UserPrincipalName (also Identity, User principal "
    "name, User Name, ObjectId, Id, DirectoryObjectId: the Microsoft 365 admin center's "
    "export as it is), or -Identity. Users are looked up first: an unknown user fails its "
    "row (NOT_FOUND); a user already a member (removing: not a member) is Unchanged, as "
    "the server answers, and nothing is written for it, so a re-run changes nothing. "
    "-WhatIf sends the same batches with whatIf: the server checks everything, processes "
    "the group's licenses and keeps nothing."
)

COMMANDS = (
    command(
        "Add-GroupMember",
        "Add the users of a sheet (or -Identity) to a group; they get its licenses.",
        _members_params("Identity", _USERS),
        'commcredits Add-GroupMember -GroupName "Sales" -Path members.csv -WhatIf',
        run_members(ADD, "Identity"),
        notes=_NOTES + " Members of a licensed group it could not license (Entra's "
        "CountViolation, …) are Added (-WhatIf: WouldAdd) with the code on their row.",
    ),
    command(
        "Remove-GroupMember",
        "Remove the users of a sheet (or -Identity) from a group; they lose its licenses.",
        _members_params("Identity", _USERS),
        'commcredits Remove-GroupMember -GroupName "Sales" -Path leavers.xlsx',
        run_members(REMOVE, "Identity"),
        notes=_NOTES,
    ),
    command(
        "New-MgGroupMember",
        "Graph's New-MgGroupMember: -GroupId ID -DirectoryObjectId USER (or a sheet: -Path).",
        _members_params("DirectoryObjectId", "user id or user principal name, comma-separated"),
        "commcredits New-MgGroupMember -GroupId R3JvdXA6MQ== -DirectoryObjectId "
        "adele@contoso.example",
        run_members(ADD, "DirectoryObjectId"),
        positional=None,
        notes="Add-GroupMember with Graph PowerShell's parameter names; a member already "
        "there is Unchanged (Graph refuses it). " + _NOTES,
    ),
    command(
        "Get-MgGroupMemberWithLicenseError",
        "Write the group's members whose group licenses are in error, with SKU and code.",
        (*_GROUP, *SHEET_OUT, *TARGET),
        "commcredits Get-MgGroupMemberWithLicenseError -GroupId R3JvdXA6MQ== -Path errors.xlsx",
        run_license_errors,
        notes="Graph PowerShell's cmdlet (from usersWithLicenseErrors): one row per member, "
        "its SKUs in error and Entra's codes (CountViolation, "
        "ProhibitedInUsageLocationViolation, …) ';'-joined in the same order; -GroupName "
        "works too.",
    ),
)
