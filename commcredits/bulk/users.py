"""Import-Users and Set-UsageLocation: create or update the users of a sheet.

Rows go to importUsers / setUsageLocation in batches; the server decides each row (SPEC §2,
`services.user_import`) and this module reads its results into the report. A usage location
is sent as written (a code, or an English or German country name): the API resolves it and
answers the stored code, so a name means the same here as in any other client.
"""

from __future__ import annotations

from typing import Any

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
from commcredits.bulk.rows import (
    UPN_NAMES,
    key_faults,
    too_long,
)
from commcredits.bulk.rows import USER_PRINCIPAL_NAME as MAX_UPN
from commcredits.bulk.runner import sheet_command
from commcredits.bulk.runtime import Options, slices
from commcredits.bulk.sheets import Sheet, column, match_columns, report_faults
from commcredits.bulk.transport import Transport
from commcredits.bulk.user_columns import (
    USAGE_LOCATION,
    USER_COLUMNS,
    as_columns,
    bad_cells,
    cell_fault,
    every_row_located,
    property_columns,
    row_results,
)

HINT = "use -UsageLocation, a UsageLocation column or -UsageLocationFromCountry"


LOCATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "upn": UPN_NAMES,
    "location": ("UsageLocation", "Usage location", "Location"),
}


def _user_outcome(result: dict[str, Any], what_if: bool) -> tuple[str, str, str]:
    if result["status"] == "FAILED":
        code, message = row_errors(result)
        return status("Failed", what_if), code, message
    if result["status"] == "UNCHANGED":
        return "Unchanged", "", "Already as given."
    if result["action"] == "CREATED":
        # The user is there, but no license can be assigned to it: say so on its row.
        message = "" if result.get("usageLocation") else "No usage location: cannot be licensed."
        return status("Created", what_if), "", message
    return status("Updated", what_if), "", ""


def no_location_note(count: int, what_if: bool) -> str:
    """The summary's warning about created users that no license can be assigned to."""
    users = "1 user" if count == 1 else f"{count:,} users"
    if what_if:
        return f"{users} would have no usage location and could not be licensed; {HINT}"
    verb = "has" if count == 1 else "have"
    return f"{users} {verb} no usage location and cannot be licensed; {HINT}"


def import_users(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    *,
    usage_location: str | None = None,
    update_only: bool = False,
    usage_location_from_country: bool = False,
) -> tuple[Report, list[str]]:
    """Create or update users from a sheet; returns the report and the ignored columns.

    A row's usage location is `usage_location` if given, else its UsageLocation cell, else
    (with `usage_location_from_country`) its Country or region cell, which the API maps to
    its code; a created user left without one is counted in the report's notes.
    """
    if usage_location is not None and usage_location_from_country:
        raise UsageError("give -UsageLocation or -UsageLocationFromCountry, not both")
    if usage_location is not None and len(usage_location) > USAGE_LOCATION:
        # Every row would carry it: one line, nothing sent (not the same fault on each row).
        raise UsageError(
            f"-UsageLocation has {len(usage_location):,} characters; the API takes at most "
            f"{USAGE_LOCATION} (a code such as DE, or a country's name)"
        )
    cols, ignored = match_columns(sheet, USER_COLUMNS, key="userPrincipalName")
    if usage_location_from_country and "country" not in cols:
        raise UsageError(
            f"{sheet.source}: -UsageLocationFromCountry needs a Country or region column; "
            f"headers found: {', '.join(repr(h) for h in sheet.headers)}"
        )
    cells = {name: column(sheet, cols.get(name)) for name in USER_COLUMNS}
    action = "Update" if update_only else "CreateOrUpdate"
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["userPrincipalName"], action)
    faults = key_faults(
        sheet.rows, cells["userPrincipalName"], "user principal name", max_length=MAX_UPN
    )
    values = property_columns(
        cells, usage_location=usage_location, from_country=usage_location_from_country
    )
    upns = cells["userPrincipalName"]
    # Rows whose cells cannot be sent fail alone, before anything is sent: the first such
    # cell of a row, in column order, names the fault.
    for name, col in values.items():
        for i in bad_cells(name, col, cells, cols):
            faults.setdefault(i, cell_fault(name, cells, cols, i))
    pending: list[tuple[int, str, int]] = []  # (sheet row, upn, index into the columns)
    for i, upn in enumerate(upns):
        if i in faults:
            report.fail(sheet.rows[i], upn or "", action, *faults[i])
        else:
            pending.append((sheet.rows[i], upn, i))

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for row, upn, _ in pending[start:stop]:
            report.add(row, upn, action, *outcome)

    unlocated = 0  # created (or, with -WhatIf, to be created) without a usage location
    with keeping_report(report, unsent) as cursor:
        for part in slices(pending, options.batch_size):
            cursor.batch(len(part))
            columns = as_columns(values, [i for _, _, i in part])
            sent = columns.get("usageLocation")
            located = every_row_located(sent)
            payload = transport.execute(
                ops.IMPORT_USER_COLUMNS,
                {
                    "columns": columns,
                    "whatIf": options.what_if,
                    "create": not update_only,
                    "locations": not located,
                },
            )["importUserColumns"]
            batch_error(payload)
            results = row_results(payload, sent if located else None)
            for (row, upn, _), result in zip(part, results, strict=True):
                state, code, message = _user_outcome(result, options.what_if)
                report.add(row, upn, action, state, code, message)
                if result["action"] == "CREATED" and result["status"] != "FAILED":
                    unlocated += not result["usageLocation"]
            cursor.answered()
            options.advance(len(part))
    if unlocated:
        report.notes.append(no_location_note(unlocated, options.what_if))
    return report, ignored


def _location_label(value: str | None) -> str:
    """How a usage location shows in the report's Action: a code upper-cased, as it is
    stored; a country name as written (the API resolves it; the message names the code)."""
    text = (value or "").strip()
    return text.upper() if len(text) <= 3 else text


def set_usage_location(
    transport: Transport, sheet: Sheet, options: Options, *, usage_location: str | None = None
) -> Report:
    """Set each row's usage location (the -UsageLocation value, if given, for every row)."""
    cols, _ = match_columns(sheet, LOCATION_COLUMNS, key="upn")
    if usage_location is None and "location" not in cols:
        raise UsageError("give -UsageLocation XX or a UsageLocation column")
    upns = column(sheet, cols["upn"])
    cells = column(sheet, cols.get("location"))
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["upn"], f"UsageLocation={_location_label(usage_location)}")
    faults = key_faults(sheet.rows, upns, "user principal name", max_length=MAX_UPN)
    groups: dict[str, list[int]] = {}
    for i, upn in enumerate(upns):
        location = usage_location if usage_location is not None else cells[i]
        action = f"UsageLocation={_location_label(location or '')}"
        if i in faults:
            report.fail(sheet.rows[i], upn or "", action, *faults[i])
            continue
        if location is None:
            report.fail(
                sheet.rows[i], upn, action, "MissingValue", "This row has no usage location."
            )
            continue
        long = too_long(location, USAGE_LOCATION, "usage location")
        if long:
            report.fail(sheet.rows[i], upn, action[:40], *long)
            continue
        groups.setdefault(_location_label(location), []).append(i)
    # Rows go one location at a time (each user on its own: no row depends on another).
    order = [(location, i) for location, idx in groups.items() for i in idx]

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for location, i in order[start:stop]:
            report.add(sheet.rows[i], upns[i], f"UsageLocation={location}", *outcome)

    with keeping_report(report, unsent) as cursor:
        for location, idx in groups.items():
            for part in slices(idx, options.batch_size):
                cursor.batch(len(part))
                payload = transport.execute(
                    ops.SET_USAGE_LOCATION,
                    {
                        "upns": [upns[i] for i in part],
                        "location": location,
                        "whatIf": options.what_if,
                    },
                )["setUsageLocation"]
                batch_error(payload)
                for i, result in zip(part, payload["results"], strict=True):
                    state, code, message = _user_outcome(result, options.what_if)
                    stored = result.get("usageLocation")
                    if stored and stored != location and not code:
                        message = message or f"Usage location {stored}."
                    report.add(
                        sheet.rows[i], upns[i], f"UsageLocation={location}", state, code, message
                    )
                cursor.answered()
                options.advance(len(part))
    return report


def run_import_users(inv: Invocation) -> int:
    def body(t: Transport, sheet: Sheet, options: Options) -> Report:
        report, ignored = import_users(
            t,
            sheet,
            options,
            usage_location=inv.get("UsageLocation"),
            update_only=bool(inv.get("UpdateOnly")),
            usage_location_from_country=bool(inv.get("UsageLocationFromCountry")),
        )
        if ignored:
            inv.stderr.write(f"{inv.command}: columns not imported: {', '.join(ignored)}\n")
        return report

    return sheet_command(inv, body)


def run_set_usage_location(inv: Invocation) -> int:
    return sheet_command(
        inv,
        lambda t, sheet, options: set_usage_location(
            t, sheet, options, usage_location=inv.get("UsageLocation")
        ),
    )


COMMANDS = (
    command(
        "Import-Users",
        "Create or update users from a sheet (also the Microsoft 365 admin center templates).",
        (
            *SHEET_IN,
            Param(
                "UsageLocation",
                help="usage location for every row (overrides the column): an ISO code or "
                "an English or German country name",
                value="XX",
            ),
            Param(
                "UsageLocationFromCountry",
                "switch",
                "a row without a UsageLocation cell takes its Country or region (DE, DEU, "
                "Germany, Deutschland, ...)",
            ),
            Param("UpdateOnly", "switch", "only update existing users, create none"),
            *TARGET,
        ),
        "commcredits Import-Users -Path 'Add multiple users.csv' -UsageLocation DE",
        run_import_users,
        notes="Columns: every column of the admin center's template and export, or Graph's "
        "names: User Name / UserPrincipalName (key), First name, Last name, Display name, Job "
        "title, Department, Office number, Office phone (businessPhones), Mobile phone, Fax, "
        "Alternate email address (otherMails), Address, City, State or province, ZIP or "
        "postal code, Country or region, UsageLocation, AccountEnabled (or Block credential). "
        "Several phones or e-mail addresses in a cell are separated by ';'. Blank cells leave "
        "a property as it is; other columns are listed and ignored. The summary counts the "
        "users created without a usage location (they cannot be licensed).",
    ),
    command(
        "Set-UsageLocation",
        "Set the usage location of the users of a sheet.",
        (
            *SHEET_IN,
            Param(
                "UsageLocation",
                help='ISO code or English/German country name for every row ("" removes '
                "it); else the column",
                value="XX",
            ),
            *TARGET,
        ),
        "commcredits Get-Users -Department Sales | commcredits Set-UsageLocation -Path - "
        "-UsageLocation DE",
        run_set_usage_location,
    ),
)
