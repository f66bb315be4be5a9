"""Set-UserLicense: add and remove licenses for the users of a sheet (Graph's Set-MgUserLicense).

Every rule is the server's (SPEC §3, `services.licenses`): this module turns names in the sheet
into the server's SKUs, sends the rows in batches and reads the results back into the report.

Rows go in sheet order, every batch in the one shape setUserLicenses takes (the names, the
command's change, and for rows with cells of their own an index into the batch's distinct
changes), so seats are counted in sheet order across batches as within one. A -WhatIf run
sends the same batches with whatIf and hands each batch the seats the earlier ones would
take (priorSeatChanges): the server counts them as it will when the earlier batches are
written, so -WhatIf reports what the real run then does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from commcredits.bulk import operations as ops
from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import SHEET_IN, TARGET, Invocation, Param, command
from commcredits.bulk.reports import (
    Outcome,
    Report,
    batch_error,
    keeping_report,
    row_errors,
    status,
)
from commcredits.bulk.rows import UPN_NAMES, key_faults, pick
from commcredits.bulk.rows import USER_PRINCIPAL_NAME as MAX_UPN
from commcredits.bulk.runner import rows_command, sheet_command
from commcredits.bulk.runtime import Options, slices
from commcredits.bulk.sheets import Sheet, column, match_columns, report_faults
from commcredits.bulk.skus import Change, RowFault, SkuCatalog, adds_with_plans, row_change
from commcredits.bulk.transport import Transport

LICENSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "upn": UPN_NAMES,
    "add": ("AddLicenses", "AddLicense", "Add", "LicensesToAdd", "SkuPartNumber", "Sku"),
    "remove": ("RemoveLicenses", "RemoveLicense", "Remove", "LicensesToRemove"),
    "disabled": ("DisabledPlans", "DisabledPlan", "DisabledServicePlans"),
}


def _license_runs(
    payload: dict[str, Any], what_if: bool, items: int
) -> list[tuple[int, tuple[str, str, str]]]:
    """(count, (status, code, message)) per run of the payload, in input order."""
    runs = []
    for run in payload["runs"]:
        if run["status"] == "FAILED":
            code, message = row_errors(run)
            result = (status("Failed", what_if), code, message)
        elif run["status"] == "UNCHANGED":
            result = ("Unchanged", "", "Already as requested.")
        else:
            result = _applied(run["changes"], what_if)
        runs.append((run["count"], result))
    if sum(count for count, _ in runs) != items:
        raise UsageError(f"the server answered for {sum(c for c, _ in runs):,} of {items:,} rows")
    return runs


def _applied(changes: list[dict[str, str]], what_if: bool) -> tuple[str, str, str]:
    done = [(c["skuPartNumber"], c["action"]) for c in changes if c["action"] != "UNCHANGED"]
    actions = {a for _, a in done}
    name = (
        "Assigned"
        if actions == {"ASSIGNED"}
        else "Removed"
        if actions == {"REMOVED"}
        else "Updated"
    )
    verb = "would be " if what_if else ""
    message = "; ".join(f"{sku} {verb}{action.lower()}" for sku, action in done)
    return (status(name, what_if), "", message)


def _variables(
    part: Sequence[int],
    upns: list[str | None],
    own: dict[int, Change],
    base: Change,
    base_adds: list[dict[str, Any]] | None,
    prior: dict[str, int],
    options: Options,
) -> dict[str, Any]:
    """One batch of rows, in sheet order: the names, the command's change, and where rows
    have changes of their own, the batch's distinct changes and each row's index into them."""
    variables: dict[str, Any] = {
        "upns": pick(upns, part),
        "add": base_adds,
        "remove": list(base.removes) or None,
        "whatIf": options.what_if,
        "changes": None,
        "indexes": None,
        "prior": [{"skuId": k, "units": v} for k, v in prior.items() if v] or None,
    }
    if own and any(i in own for i in part):
        distinct: dict[Change, int] = {}
        variables["indexes"] = [
            distinct.setdefault(own[i], len(distinct)) if i in own else None for i in part
        ]
        variables["changes"] = [change.as_input() for change in distinct]
    return variables


def set_user_license(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    *,
    add_licenses: Sequence[str] = (),
    remove_licenses: Sequence[str] = (),
    disabled_plans: Sequence[str] = (),
) -> Report:
    """Set-UserLicense on a sheet: the per-row report (see the module's docstring)."""
    cols, _ = match_columns(sheet, LICENSE_COLUMNS, key="upn")
    if not (add_licenses or remove_licenses or "add" in cols or "remove" in cols):
        raise UsageError(
            "nothing to do: give -AddLicenses and/or -RemoveLicenses, or AddLicenses / "
            "RemoveLicenses columns"
        )
    # Parameters are checked before anything is sent: a bad one stops the run (exit 2).
    catalog = SkuCatalog(transport)
    global_adds = catalog.resolve(add_licenses, "-AddLicenses")
    global_removes = catalog.resolve(remove_licenses, "-RemoveLicenses")
    if disabled_plans and not global_adds:
        raise UsageError("-DisabledPlans needs -AddLicenses (plans are switched off per SKU)")
    base = Change(
        adds_with_plans(catalog, global_adds, list(disabled_plans)), tuple(global_removes)
    )
    upns = column(sheet, cols["upn"])
    add_cells = column(sheet, cols.get("add"))
    remove_cells = column(sheet, cols.get("remove"))
    plan_cells = column(sheet, cols.get("disabled"))

    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["upn"], base.describe())
    actions: dict[Change, str] = {}

    def described(change: Change) -> str:
        return actions.get(change) or actions.setdefault(change, change.describe())

    # Rows with license cells of their own get their own change (or fail on a bad cell); all
    # others share the command's, without a look at each (a sheet is often 100,000 such rows).
    own: dict[int, Change] = {}
    bad_cells: dict[int, RowFault] = {}
    present = [cells for cells in (add_cells, remove_cells, plan_cells) if any(cells)]
    for i in sorted({i for cells in present for i, cell in enumerate(cells) if cell}):
        cells = (add_cells[i], remove_cells[i], plan_cells[i])
        try:
            change = row_change(catalog, cells, global_adds, global_removes, disabled_plans)
        except RowFault as fault:
            bad_cells[i] = fault
            continue
        if change != base:  # a cell that repeats the command's change is a plain row
            own[i] = change
    faults = key_faults(sheet.rows, upns, "user principal name", max_length=MAX_UPN)
    for i, (code, message) in faults.items():
        action = bad_cells[i].action if i in bad_cells else described(own.get(i, base))
        report.fail(sheet.rows[i], upns[i] or "", action, code, message)
    for i, fault in bad_cells.items():
        if i not in faults:
            report.fail(sheet.rows[i], upns[i], fault.action, fault.code, fault.message)
    # Nothing to add or remove: reported, not sent (and so no seat is at stake).
    idle = {i for i, change in own.items() if not change.adds and not change.removes}
    if not base.adds and not base.removes:
        idle |= {i for i in range(len(upns)) if i not in own}
    idle -= faults.keys() | bad_cells.keys()
    nothing = "No license to add or remove."
    for i in sorted(idle):
        report.add(sheet.rows[i], upns[i], described(own.get(i, base)), "Unchanged", "", nothing)
    skip = faults.keys() | bad_cells.keys() | idle
    sent: Sequence[int] = (
        [i for i in range(len(upns)) if i not in skip] if skip else range(len(upns))
    )
    base_adds = [{"skuId": a, "disabledPlans": list(p)} for a, p in base.adds] or None
    prior: dict[str, int] = {}  # -WhatIf: seats the earlier batches would take, per skuId

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for i in sent[start:stop]:
            report.add(sheet.rows[i], upns[i], described(own.get(i, base)), *outcome)

    with keeping_report(report, unsent) as cursor:
        for part in slices(sent, options.batch_size):
            cursor.batch(len(part))
            payload = transport.execute(
                ops.SET_USER_LICENSES, _variables(part, upns, own, base, base_adds, prior, options)
            )["setUserLicenses"]
            batch_error(payload)
            mixed = bool(own) and any(i in own for i in part)
            start = 0
            for count, result in _license_runs(payload, options.what_if, len(part)):
                run = part[start : start + count]
                start += count
                if mixed and any(i in own for i in run):
                    for i in run:  # rows of one outcome may still differ in what they asked
                        report.add(sheet.rows[i], upns[i], described(own.get(i, base)), *result)
                else:
                    rows, keys = pick(sheet.rows, run), pick(upns, run)
                    report.add_many(rows, keys, described(base), *result)
            if options.what_if:
                for seats in payload["seatChanges"]:
                    prior[seats["skuId"]] = prior.get(seats["skuId"], 0) + seats["units"]
            cursor.answered()
            options.advance(len(part))
    return report


_RESOLVE_CHUNK = 20  # aliased user(id:) lookups per request, well inside the query limits


def user_upns(transport: Transport, refs: Sequence[str]) -> dict[str, str]:
    """Global ids (what `-UserId` may hold, as Graph's object ids do) -> user principal names,
    a few aliased look-ups per request rather than one request per user; a ref no user has
    is left out (the row then fails on the server, naming it)."""
    found: dict[str, str] = {}
    distinct = list(dict.fromkeys(refs))
    for start in range(0, len(distinct), _RESOLVE_CHUNK):
        chunk = distinct[start : start + _RESOLVE_CHUNK]
        names = ", ".join(f"$i{n}: ID!" for n in range(len(chunk)))
        fields = " ".join(
            f"u{n}: user(id: $i{n}) {{ userPrincipalName }}" for n in range(len(chunk))
        )
        data = transport.execute(
            f"query BulkUserIds({names}) {{ {fields} }}", {f"i{n}": r for n, r in enumerate(chunk)}
        )
        for n, ref in enumerate(chunk):
            if data.get(f"u{n}"):
                found[ref] = data[f"u{n}"]["userPrincipalName"]
    return found


def users_sheet(refs: Sequence[str], transport: Transport) -> Sheet:
    """-UserId without a sheet: a sheet of those users (rows 1, 2, … as given)."""
    upns = user_upns(transport, [r for r in refs if "@" not in r])
    keys = [upns.get(r, r) for r in refs]
    frame = pl.DataFrame({"UserPrincipalName": keys}, schema={"UserPrincipalName": pl.String})
    return Sheet(frame=frame, rows=list(range(1, len(keys) + 1)), source="-UserId")


def run_set_user_license(inv: Invocation) -> int:
    def body(t: Transport, sheet: Sheet, options: Options) -> Report:
        return set_user_license(
            t,
            sheet,
            options,
            add_licenses=inv.get("AddLicenses", []),
            remove_licenses=inv.get("RemoveLicenses", []),
            disabled_plans=inv.get("DisabledPlans", []),
        )

    refs = inv.get("UserId")
    if not refs:
        return sheet_command(inv, body)
    if inv.get("Path"):
        raise UsageError("give -Path (a sheet) or -UserId (users without one), not both")
    started = time.perf_counter()
    holder: dict[str, Sheet] = {}

    def one(t: Transport, options: Options) -> Report:
        holder["sheet"] = users_sheet(refs, t)
        return body(t, holder["sheet"], options)

    # No sheet, so no file to put a report beside: it goes to stdout (or -ResultPath).
    return rows_command(inv, None, len(refs), one, started=started)


COMMANDS = (
    command(
        "Set-UserLicense",
        "Add and remove licenses for the users of a sheet or -UserId (Graph's Set-MgUserLicense).",
        (
            *SHEET_IN,
            Param(
                "UserId",
                "list",
                "instead of -Path: user principal name or id, comma-separated (report on stdout)",
                value="UPN,...",
            ),
            Param(
                "AddLicenses",
                "list",
                "skuPartNumber or skuId, comma-separated",
                value="SKU,...",
            ),
            Param(
                "RemoveLicenses",
                "list",
                "skuPartNumber or skuId, comma-separated",
                value="SKU,...",
            ),
            Param(
                "DisabledPlans",
                "list",
                "service plans to switch off in the added SKUs",
                value="PLAN,...",
            ),
            *TARGET,
        ),
        "commcredits Set-UserLicense -Path users.xlsx -AddLicenses MCOEV,MCOPSTN1 -WhatIf",
        run_set_user_license,
        notes="Key column: UserPrincipalName (also UPN, User Name). Optional per-row "
        "columns AddLicenses, RemoveLicenses, DisabledPlans (values separated by ; , or +; "
        "a plan as PLAN or SKU:PLAN) add to the parameters. Rows are sent in sheet order, so "
        "seats go to the earliest rows. An unknown SKU in a parameter stops the run before "
        "anything is sent; in a cell it fails that row (InvalidSku).",
    ),
)
