"""New-, Set-, Remove- and Get-CsTeamsCallingPolicy: a tenant's calling policies with spending
limits (issue 17), as admins type the Teams cmdlets.

Each changing command is one mutation (createCallingPolicy, updateCallingPolicy,
removeCallingPolicy) and a one-row report, as Set-AutoRecharge: every rule is the server's,
and -WhatIf is the mutation's whatIf (every check as for real, nothing written). Set- reads
the policy first, so that it can say what it was and report Unchanged, sending nothing, when
the values given are already the policy's (a re-run changes nothing). A refusal of the caller
(FORBIDDEN) stops the command (exit 2), as for the grants; any other refusal fails its row
(exit 1) with the server's code and message.

Get- writes the policies as Teams lists them (`calling_policy_list`): the built-in `Global`
first (no spending limit, what a user with nothing granted has), then the tenant's, each
`Tag:<name>`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from commcredits.bulk.calling_policy_list import find_policy, get_calling_policies
from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import SHEET_OUT, TARGET, Invocation, Param, command
from commcredits.bulk.reports import Report, row_errors, status
from commcredits.bulk.rows import command_amount
from commcredits.bulk.runner import transport_for
from commcredits.bulk.runtime import Options
from commcredits.bulk.terminal import check_output, finish, write_output
from commcredits.bulk.transport import Transport

CREATE_CALLING_POLICY = """
mutation BulkCreateCallingPolicy($input: CreateCallingPolicyInput!, $whatIf: Boolean!) {
  createCallingPolicy(input: $input, whatIf: $whatIf) {
    policy { name description enableSpendLimits callingSpendUserLimit { amount currency } }
    whatIf userErrors { field code message }
  }
}
"""
UPDATE_CALLING_POLICY = """
mutation BulkUpdateCallingPolicy(
  $name: String!, $input: UpdateCallingPolicyInput!, $whatIf: Boolean!
) {
  updateCallingPolicy(name: $name, input: $input, whatIf: $whatIf) {
    policy { name description enableSpendLimits callingSpendUserLimit { amount currency } }
    whatIf userErrors { field code message }
  }
}
"""
REMOVE_CALLING_POLICY = """
mutation BulkRemoveCallingPolicy($name: String!, $whatIf: Boolean!) {
  removeCallingPolicy(name: $name, whatIf: $whatIf) {
    policy { name } whatIf userErrors { field code message }
  }
}
"""
# Refusals of the caller, not of the policy: the command stops (exit 2).
_CALLER_REFUSALS = ("FORBIDDEN", "UNAUTHENTICATED")


# -- what the command line gives ------------------------------------------------------------
def _identity(inv: Invocation) -> str:
    """-Identity as Teams takes it: `SalesLimit` or `Tag:SalesLimit` (the server drops Tag:)."""
    name = (inv.get("Identity") or "").strip()
    if not name or name.startswith("-"):
        raise UsageError("give -Identity NAME, the calling policy's name (e.g. SalesLimit)")
    return name


def _limit(inv: Invocation) -> str | None:
    """-CallingSpendUserLimit as the API's exact decimal text (never a float)."""
    value = inv.get("CallingSpendUserLimit")
    if value is None:
        return None
    try:
        return str(command_amount(str(value)))
    except ValueError as error:
        raise UsageError(f"-CallingSpendUserLimit: {error}") from None


def _shown(policy: dict[str, Any]) -> str:
    """A policy's settings as the report's message shows them."""
    limit = policy.get("callingSpendUserLimit")
    shown = f"EnableSpendLimits {policy['enableSpendLimits']}"
    shown += f", CallingSpendUserLimit {limit['amount']} {limit['currency']}" if limit else ""
    if limit and not policy["enableSpendLimits"]:
        shown += " (not in force: EnableSpendLimits is False)"
    return shown


def refusal_of(payload: dict[str, Any]) -> tuple[str, str] | None:
    """The payload's (codes, messages), or None; a refusal of the caller stops the command."""
    errors = payload.get("userErrors") or []
    if not errors:
        return None
    for error in errors:
        if error["code"] in _CALLER_REFUSALS:
            raise UsageError(f"the server refused: {error['code']}: {error['message']}")
    return row_errors(payload)


# -- the work -------------------------------------------------------------------------------
def new_calling_policy(
    transport: Transport,
    options: Options,
    *,
    name: str,
    enable_spend_limits: bool | None,
    limit: str | None,
    description: str | None,
) -> Report:
    """New-CsTeamsCallingPolicy: one report row, Created (WouldCreate) or Failed."""
    report = Report(what_if=options.what_if)
    data = {
        "name": name,
        "enableSpendLimits": bool(enable_spend_limits),
        "callingSpendUserLimit": limit,
        "description": description,
    }
    payload = transport.execute(CREATE_CALLING_POLICY, {"input": data, "whatIf": options.what_if})
    payload = payload["createCallingPolicy"]
    refused = refusal_of(payload)
    if refused:
        report.fail(1, name, "Create", *refused)
    else:
        policy = payload["policy"]
        report.add(
            1, policy["name"], "Create", status("Created", options.what_if), "", _shown(policy)
        )
    options.advance(1)
    return report


def set_calling_policy(
    transport: Transport,
    options: Options,
    *,
    name: str,
    enable_spend_limits: bool | None,
    limit: str | None,
    description: str | None,
) -> Report:
    """Set-CsTeamsCallingPolicy: only the settings given change. Unchanged (nothing sent)
    when they are the policy's already; an unknown name is the server's refusal."""
    report = Report(what_if=options.what_if)
    change = {
        "enableSpendLimits": enable_spend_limits,
        "callingSpendUserLimit": limit,
        "description": description,
    }
    change = {k: v for k, v in change.items() if v is not None}
    if not change:
        raise UsageError(
            "nothing to change: give -EnableSpendLimits, -CallingSpendUserLimit or -Description"
        )
    before = find_policy(transport, name)
    if before is not None and _same(before, change):
        report.add(1, before["name"], "Update", "Unchanged", "", _shown(before))
        options.advance(1)
        return report
    payload = transport.execute(
        UPDATE_CALLING_POLICY, {"name": name, "input": change, "whatIf": options.what_if}
    )["updateCallingPolicy"]
    refused = refusal_of(payload)
    if refused:
        report.fail(1, name, "Update", *refused)
    else:
        policy = payload["policy"]
        was = f" (was {_shown(before)})" if before is not None else ""
        message = _shown(policy) + was
        report.add(1, policy["name"], "Update", status("Updated", options.what_if), "", message)
    options.advance(1)
    return report


def _same(policy: dict[str, Any], change: dict[str, Any]) -> bool:
    """Whether the settings given are the policy's already (amounts compared exactly)."""
    for key, value in change.items():
        if key == "callingSpendUserLimit":
            current = policy.get(key)
            if current is None or Decimal(current["amount"]) != Decimal(value):
                return False
        elif key == "description":
            if (policy.get(key) or "") != value.strip():
                return False
        elif policy.get(key) != value:
            return False
    return True


def remove_calling_policy(transport: Transport, options: Options, *, name: str) -> Report:
    """Remove-CsTeamsCallingPolicy: Removed (WouldRemove), or Failed (POLICY_IN_USE while
    granted, UNKNOWN_POLICY) with the server's message."""
    report = Report(what_if=options.what_if)
    payload = transport.execute(REMOVE_CALLING_POLICY, {"name": name, "whatIf": options.what_if})
    payload = payload["removeCallingPolicy"]
    refused = refusal_of(payload)
    if refused:
        report.fail(1, name, "Remove", *refused)
    else:
        removed = payload["policy"]["name"]
        would = "would be " if options.what_if else ""
        report.add(
            1,
            removed,
            "Remove",
            status("Removed", options.what_if),
            "",
            f"{removed} {would}removed",
        )
    options.advance(1)
    return report


# -- the commands ---------------------------------------------------------------------------
def _changing(inv: Invocation, work) -> int:  # noqa: ANN001 - (Transport, Options) -> Report
    started = time.perf_counter()
    check_output(inv.get("ResultPath"))
    transport = transport_for(inv)
    try:
        report = work(transport, Options(what_if=bool(inv.get("WhatIf"))))
    finally:
        transport.close()
    return finish(inv, report, None, started)


def _settings(inv: Invocation) -> dict[str, Any]:
    return {
        "name": _identity(inv),
        "enable_spend_limits": inv.get("EnableSpendLimits"),
        "limit": _limit(inv),
        "description": inv.get("Description"),
    }


def run_new(inv: Invocation) -> int:
    settings = _settings(inv)
    return _changing(inv, lambda t, options: new_calling_policy(t, options, **settings))


def run_set(inv: Invocation) -> int:
    settings = _settings(inv)
    return _changing(inv, lambda t, options: set_calling_policy(t, options, **settings))


def run_remove(inv: Invocation) -> int:
    name = _identity(inv)
    return _changing(inv, lambda t, options: remove_calling_policy(t, options, name=name))


def run_get(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("Path"))
    transport = transport_for(inv)
    try:
        frame = get_calling_policies(transport, inv.get("Identity"))
    finally:
        transport.close()
    return write_output(inv, frame, started, "calling policies")


IDENTITY = Param(
    "Identity", help="the policy's name (Tag:NAME too)", aliases=("Name",), value="NAME"
)
SETTINGS = (
    Param(
        "EnableSpendLimits",
        "bool",
        help="$true or $false (quote $true in a shell); the limit applies only while $true",
        value="BOOL",
    ),
    Param(
        "CallingSpendUserLimit",
        help="monthly cap per user, in the tenant's currency (0 or more)",
        value="N",
    ),
    Param("Description", help="free text", value="TEXT"),
)
CHANGE = (
    Param("ResultPath", help="report file (default: stdout)", value="FILE"),
    Param("WhatIf", "switch", "check everything on the server, write nothing"),
    *TARGET,
)
_ONE_ROW = (
    "One report row (Created, Updated, Unchanged, Removed; -WhatIf: the Would… forms) on "
    "stdout or -ResultPath; a refused change fails its row with the server's code and "
    "message (exit 1); a caller who may not change policies (FORBIDDEN) exits 2."
)

COMMANDS = (
    command(
        "New-CsTeamsCallingPolicy",
        "Create a Teams calling policy with a monthly spending limit per user.",
        (IDENTITY, *SETTINGS, *CHANGE),
        "commcredits New-CsTeamsCallingPolicy -Identity SalesLimit -EnableSpendLimits true "
        "-CallingSpendUserLimit 50",
        run_new,
        positional="Identity",
        notes="EnableSpendLimits $true needs a CallingSpendUserLimit; without -EnableSpendLimits "
        "the policy is created with spending limits off (Teams's default). Global is the "
        "built-in policy's name and is refused. " + _ONE_ROW,
    ),
    command(
        "Set-CsTeamsCallingPolicy",
        "Change a calling policy's spending limit or description; the rest stays.",
        (IDENTITY, *SETTINGS, *CHANGE),
        "commcredits Set-CsTeamsCallingPolicy -Identity SalesLimit -CallingSpendUserLimit 80",
        run_set,
        positional="Identity",
        notes="Only the parameters given change. Values the policy has already are Unchanged "
        "and nothing is sent. The built-in Global cannot be changed. " + _ONE_ROW,
    ),
    command(
        "Remove-CsTeamsCallingPolicy",
        "Remove a calling policy nobody is granted.",
        (IDENTITY, *CHANGE),
        "commcredits Remove-CsTeamsCallingPolicy -Identity SalesLimit -WhatIf",
        run_remove,
        positional="Identity",
        notes="Refused (POLICY_IN_USE) while a user or the global grant holds the policy: "
        "grant another (Grant-CsTeamsCallingPolicy, $null for none) first. " + _ONE_ROW,
    ),
    command(
        "Get-CsTeamsCallingPolicy",
        "Write the calling policies (the built-in Global first) to a sheet, or CSV to stdout.",
        (IDENTITY, *SHEET_OUT, *TARGET),
        "commcredits Get-CsTeamsCallingPolicy -Path policies.xlsx",
        run_get,
        positional=None,
        notes="Columns: Identity (Global, or Tag:NAME as Teams shows the tenant's), "
        "Description, EnableSpendLimits (True/False), CallingSpendUserLimit (exact decimal "
        "text; empty: none), Currency. -Identity NAME writes that policy alone; a name the "
        "tenant does not have is an error (exit 2) listing the names.",
    ),
)
