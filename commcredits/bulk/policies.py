"""Grant-CsDialoutPolicy and Grant-CsTeamsCallingPolicy: grant a policy to users (-Identity,
or the rows of a sheet with a PolicyName column each) or tenant-wide (-Global).

Every rule is the server's (SPEC §9, `services.dial_out` and the calling policies): this
module reads the users' state first (one aliased look-up per 25 users), so that an unknown
user fails its row before anything is sent and a user who already has the policy is reported
Unchanged and not sent again (a re-run changes nothing). -Global reads the tenant's global
grant first (`globalPolicyGrants`) for the same reason.

Rows go grouped by policy name, in batches: grantDialOutPolicy / grantCallingPolicy take many
users and are all or nothing, so a row the server refuses (`userIds.N`: a user gone since the
look-up) fails alone and the rest of its batch is sent again without it. A name the server
does not know fails every row asking for it, with the server's message. -WhatIf sends the
same batches with `whatIf: true`: the server checks the role, the name and every user as in
the run and writes nothing, so its report is the run's, row for row, in the Would… forms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import SHEET_IN, TARGET, Invocation, Param, command
from commcredits.bulk.policy_lookup import (
    CALLING,
    DIAL_OUT,
    IDENTITY_NAMES,
    Found,
    PolicyKind,
    global_grant,
    identity,
    lookup_users,
    not_found,
    policy_value,
)
from commcredits.bulk.reports import (
    Outcome,
    Report,
    keeping_report,
    status,
)
from commcredits.bulk.rows import USER_PRINCIPAL_NAME as MAX_REF
from commcredits.bulk.rows import key_faults
from commcredits.bulk.runner import rows_command, sheet_command
from commcredits.bulk.runtime import Options, slices
from commcredits.bulk.sheets import Sheet, column, match_columns, report_faults
from commcredits.bulk.transport import Transport


def _action(name: str | None) -> str:
    return f"Grant {name}" if name is not None else "Remove grant"


@dataclass
class _Row:
    index: int  # into the sheet's rows
    key: str
    policy: str | None  # the name as the row wrote it (sent, and the report's Action); None: remove
    user: Found


def grant_policy(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    kind: PolicyKind,
    *,
    policy_name: str | None = None,
    policy_given: bool = False,
) -> Report:
    """Grant each row's policy (or `policy_name` for every row, when `policy_given`)."""
    cols, _ = match_columns(
        sheet, {"user": IDENTITY_NAMES, "policy": kind.policy_columns}, key="user"
    )
    if not policy_given and "policy" not in cols:
        raise UsageError(
            f"give -PolicyName NAME (or -PolicyName $null to remove), or a PolicyName column; "
            f"headers found: {', '.join(repr(h) for h in sheet.headers)}"
        )
    keys = [identity(k) for k in column(sheet, cols["user"])]
    cells = column(sheet, cols.get("policy"))
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["user"], _action(policy_name) if policy_given else "Grant")
    faults = key_faults(sheet.rows, keys, "user", max_length=MAX_REF)
    wanted: dict[int, str | None] = {}
    for i, key in enumerate(keys):
        policy = policy_name if policy_given else policy_value(cells[i])
        if i in faults:
            report.fail(sheet.rows[i], key or "", _action(policy), *faults[i])
        elif not policy_given and cells[i] is None:
            report.fail(
                sheet.rows[i],
                key or "",
                "Grant",
                "MissingValue",
                "This row has no policy name; write $null to remove the user's grant.",
            )
        else:
            wanted[i] = policy
    users = lookup_users(transport, kind, [keys[i] for i in wanted])
    todo: dict[str | None, list[_Row]] = {}
    for i, policy in wanted.items():
        key = keys[i]
        assert key is not None
        user = users.get(key)
        if user is None:
            report.fail(sheet.rows[i], key, _action(policy), *not_found(key))
        elif (user.granted or "").lower() == (policy or "").lower():
            message = f"{user.granted} already granted." if policy else "No grant to remove."
            report.add(sheet.rows[i], key, _action(policy), "Unchanged", "", message)
        else:  # one group per name in any case: one mutation per batch of it
            row = _Row(i, key, policy, user)
            todo.setdefault(policy and policy.lower(), []).append(row)
    options.advance(len(sheet) - sum(len(rows) for rows in todo.values()))  # not to send
    _send(transport, kind, sheet, report, todo, options)
    return report


def _done(row: _Row, what_if: bool, name: str | None = None) -> Outcome:
    would = "would be " if what_if else ""
    if row.policy is None:
        return status("Removed", what_if), "", f"{row.user.granted} {would}removed"
    was = f" (was {row.user.granted})" if row.user.granted else ""
    return status("Assigned", what_if), "", f"{name or row.policy} {would}granted{was}"


def _send(
    transport: Transport,
    kind: PolicyKind,
    sheet: Sheet,
    report: Report,
    todo: dict[str | None, list[_Row]],
    options: Options,
) -> None:
    what_if = options.what_if
    order = [row for rows in todo.values() for row in rows]
    reported: set[int] = set()  # rows answered (a batch's refused rows before its retry)

    def add(row: _Row, outcome: Outcome) -> None:
        reported.add(row.index)
        report.add(sheet.rows[row.index], row.key, _action(row.policy), *outcome)

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for row in order[start:stop]:
            if row.index not in reported:
                add(row, outcome)

    with keeping_report(report, unsent) as cursor:
        for rows in todo.values():
            policy = rows[0].policy  # the group's name as its first row spells it
            refused: Outcome | None = None  # the server does not know this name
            for part in slices(rows, options.batch_size):
                cursor.batch(len(part))
                pending = list(part)
                while pending and refused is None:
                    payload = transport.execute(
                        kind.mutation,
                        {
                            "userIds": [r.user.id for r in pending],
                            "global": None,
                            "name": policy,
                            "whatIf": what_if,
                        },
                    )[kind.payload]
                    failed, refused = _row_failures(payload, len(pending), what_if)
                    if refused is None and not failed:
                        # the name as the server spells it, whatever case the sheet used
                        granted = (payload.get("policy") or {}).get("name", policy)
                        for row in pending:
                            add(row, _done(row, what_if, granted))
                        pending = []
                    elif refused is None:  # all or nothing: those rows fail, the rest go again
                        for n, outcome in failed.items():
                            add(pending[n], outcome)
                        pending = [r for n, r in enumerate(pending) if n not in failed]
                if refused is not None:
                    for row in pending:
                        add(row, refused)
                cursor.answered()
                options.advance(len(part))


def _row_failures(
    payload: dict[str, Any], items: int, what_if: bool
) -> tuple[dict[int, Outcome], Outcome | None]:
    """The rows the server refused (`userIds.N`), or the refusal of the name for every row;
    any other refusal (FORBIDDEN, …) stops the run."""
    errors = payload.get("userErrors") or []
    failed: dict[int, Outcome] = {}
    fail = status("Failed", what_if)
    for error in errors:
        field = error.get("field") or ""
        if error["code"] == "UNKNOWN_POLICY" or field == "policyName":
            return {}, (fail, error["code"], error["message"])
        head, _, index = field.partition(".")
        if head == "userIds" and index.isdigit() and int(index) < items:
            failed[int(index)] = (fail, error["code"], error["message"])
            continue
        raise UsageError(f"the server refused the batch: {error['code']}: {error['message']}")
    return failed, None


def grant_global(
    transport: Transport, options: Options, kind: PolicyKind, *, policy_name: str | None
) -> Report:
    """-Global: the tenant's grant, for every user without one of their own; one report row.
    The grant in force is read first: asking for it again is Unchanged and sends nothing, as
    for a user who has the policy. -WhatIf sends the grant with whatIf: true."""
    report = Report(what_if=options.what_if)
    key, action = "Global", _action(policy_name)
    what_if = options.what_if
    would = "would be " if what_if else ""
    current = global_grant(transport, kind)
    if (current or "").lower() == (policy_name or "").lower():
        message = (
            f"{current} already granted globally." if current else "No global grant to remove."
        )
        report.add(1, key, action, "Unchanged", "", message)
        options.advance(1)
        return report
    payload = transport.execute(
        kind.mutation,
        {"userIds": None, "global": True, "name": policy_name, "whatIf": what_if},
    )[kind.payload]
    _, refused = _row_failures(payload, 0, what_if)  # any refusal but the name's stops the run
    was = f" (was {current})" if current else ""
    if refused is not None:
        report.add(1, key, action, *refused)
    elif payload.get("policy"):
        name = payload["policy"]["name"]
        message = f"{name} {would}granted globally{was}"
        report.add(1, key, action, status("Assigned", what_if), "", message)
    else:
        message = f"The global grant of {current} {would}removed"
        report.add(1, key, action, status("Removed", what_if), "", message)
    options.advance(1)
    return report


def _users_sheet(refs: Sequence[str]) -> Sheet:
    """-Identity without a sheet: a sheet of those users (rows 1, 2, … as given)."""
    frame = pl.DataFrame({"Identity": list(refs)}, schema={"Identity": pl.String})
    return Sheet(frame=frame, rows=list(range(1, len(refs) + 1)), source="-Identity")


def _policy_param(inv: Invocation) -> tuple[str | None, bool]:
    """(-PolicyName's value, whether it was given); `$null` or "" removes."""
    if "PolicyName" not in inv.values:
        return None, False
    value = inv.get("PolicyName")
    if value.startswith("-"):
        # `-PolicyName $null -Global` from bash: the shell dropped the unquoted `$null`.
        raise UsageError(
            f"-PolicyName needs a value, not {value!r}; to remove the grant write "
            f"-PolicyName '$null' (quoted: the shell drops an unquoted $null) or -PolicyName:$null"
        )
    return policy_value(value), True


def run_grant(kind: PolicyKind) -> Callable[[Invocation], int]:
    def run(inv: Invocation) -> int:
        policy, given = _policy_param(inv)
        refs = [identity(r) or r for r in inv.get("Identity", [])]
        sources = [bool(refs), bool(inv.get("Path")), bool(inv.get("Global"))]
        if sum(sources) != 1:
            raise UsageError("give one of -Identity USER, -Path FILE or -Global")
        if inv.get("Global") or refs:
            if not given:
                raise UsageError("give -PolicyName NAME, or -PolicyName $null to remove the grant")
            started = time.perf_counter()
            if inv.get("Global"):

                def body(t: Transport, options: Options) -> Report:
                    return grant_global(t, options, kind, policy_name=policy)

                return rows_command(inv, None, 1, body, started=started)
            sheet = _users_sheet(refs)
            return rows_command(
                inv,
                None,
                len(refs),
                lambda t, options: grant_policy(
                    t, sheet, options, kind, policy_name=policy, policy_given=True
                ),
                started=started,
            )
        return sheet_command(
            inv,
            lambda t, sheet, options: grant_policy(
                t, sheet, options, kind, policy_name=policy, policy_given=given
            ),
        )

    return run


def _params(noun: str) -> tuple[Param, ...]:
    return (
        Param(
            "Identity",
            "list",
            "instead of -Path: user principal name, SIP address or id, comma-separated "
            "(report on stdout)",
            value="USER,...",
        ),
        Param(
            "PolicyName",
            help=f"the {noun} for every row; $null (quoted in a shell) removes the grant; "
            "else the PolicyName column",
            value="NAME",
        ),
        Param("Global", "switch", "grant tenant-wide: every user without a grant of their own"),
        *SHEET_IN,
        *TARGET,
    )


_NOTES = (
    "Users: -Identity, or a sheet whose key column is Identity (also UserPrincipalName, "
    "User principal name, User Name, ObjectId, SipAddress: the Microsoft 365 admin center's "
    "export as it is) with a PolicyName column per row, or -PolicyName for every row. A "
    "PolicyName cell $null removes that user's grant; a blank one fails its row. Users are "
    "looked up first: an unknown user fails its row (NOT_FOUND), a user who already has the "
    "policy is Unchanged (not sent), and so is -Global naming the global grant in force. An "
    "unknown policy name fails the rows asking for it (UNKNOWN_POLICY, listing the policies). "
    "-WhatIf sends the same requests with whatIf: the server checks the role, the name and "
    "every user, and writes nothing."
)

COMMANDS = (
    command(
        "Grant-CsDialoutPolicy",
        "Grant an outbound calling restriction (dial-out policy) to users, a sheet, or -Global.",
        _params("dial-out policy"),
        "commcredits Grant-CsDialoutPolicy -Identity anna@contoso.com "
        "-PolicyName DialoutCPCandPSTNDomestic",
        run_grant(DIAL_OUT),
        notes=_NOTES + " The policies: Get-CsOnlineDialOutPolicy's nine, "
        "DialoutCPCandPSTNInternational … DialoutCPCandPSTNDisabled.",
    ),
    command(
        "Grant-CsTeamsCallingPolicy",
        "Grant a Teams calling policy (spending limit) to users, a sheet, or -Global.",
        _params("calling policy"),
        "commcredits Grant-CsTeamsCallingPolicy -Path users.xlsx -PolicyName SalesLimit -WhatIf",
        run_grant(CALLING),
        notes=_NOTES,
    ),
)
