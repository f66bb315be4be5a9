"""Import-Users and Set-UsageLocation: create or update the users of a sheet.

Rows go to importUsers / setUsageLocation in batches; the server decides each row (SPEC §2,
`services.user_import`) and this module reads its results into the report.
"""

from __future__ import annotations

import re
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
    DEFAULT_MAX_LENGTH,
    TEXT_LIMITS,
    UPN_NAMES,
    cell_bool,
    key_faults,
    too_long,
)
from commcredits.bulk.rows import USER_PRINCIPAL_NAME as MAX_UPN
from commcredits.bulk.runner import sheet_command
from commcredits.bulk.runtime import Options, slices
from commcredits.bulk.sheets import Sheet, column, match_columns, report_faults
from commcredits.bulk.transport import Transport

USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "userPrincipalName": UPN_NAMES,
    "displayName": ("DisplayName", "Display name", "Name"),
    "givenName": ("GivenName", "First name", "FirstName"),
    "surname": ("Surname", "Last name", "LastName"),
    "jobTitle": ("JobTitle", "Job title", "Title"),
    "department": ("Department",),
    "officeLocation": ("OfficeLocation", "Office Number", "Office"),
    "mobilePhone": ("MobilePhone", "Mobile Phone", "Mobile"),
    "city": ("City",),
    "country": ("Country", "Country or Region", "Country/Region", "CountryOrRegion"),
    "usageLocation": ("UsageLocation", "Usage location"),
    "accountEnabled": ("AccountEnabled", "Enabled"),
    "blockCredential": ("Block credential", "BlockCredential", "Block sign-in"),
}


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
    name = "Created" if result["action"] == "CREATED" else "Updated"
    return status(name, what_if), "", ""


def _limit(name: str) -> int:
    """The API's limit on a user property, by its GraphQL name (jobTitle -> job_title)."""
    return TEXT_LIMITS.get(re.sub(r"([A-Z])", r"_\1", name).lower(), DEFAULT_MAX_LENGTH)


def import_users(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    *,
    usage_location: str | None = None,
    update_only: bool = False,
) -> tuple[Report, list[str]]:
    """Create or update users from a sheet; returns the report and the ignored columns."""
    cols, ignored = match_columns(sheet, USER_COLUMNS, key="userPrincipalName")
    cells = {name: column(sheet, cols.get(name)) for name in USER_COLUMNS}
    action = "Update" if update_only else "CreateOrUpdate"
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    report_faults(sheet, report, cols["userPrincipalName"], action)
    faults = key_faults(
        sheet.rows, cells["userPrincipalName"], "user principal name", max_length=MAX_UPN
    )
    pending: list[tuple[int, str, dict[str, Any]]] = []
    for i, upn in enumerate(cells["userPrincipalName"]):
        row = sheet.rows[i]
        if i in faults:
            report.fail(row, upn or "", action, *faults[i])
            continue
        item: dict[str, Any] = {}
        bad = None
        for name in USER_COLUMNS:
            value = cells[name][i]
            if value is None or name == "blockCredential":
                continue
            if name == "accountEnabled":
                item[name] = cell_bool(value)
                bad = bad or (None if item[name] is not None else (name, value))
            else:
                item[name] = value
        block = cells["blockCredential"][i]
        if block is not None and "accountEnabled" not in item:
            flag = cell_bool(block)
            item["accountEnabled"] = None if flag is None else not flag
            bad = bad or (None if flag is not None else ("blockCredential", block))
        if usage_location is not None:
            item["usageLocation"] = usage_location
        if bad:
            report.fail(
                row, upn, action, "InvalidValue", f"{bad[0]}: {bad[1]!r} is not true/false."
            )
            continue
        long = next(
            (
                fault
                for name, value in item.items()
                if isinstance(value, str)
                and (fault := too_long(value, _limit(name), cols.get(name) or name))
            ),
            None,
        )
        if long:
            report.fail(row, upn, action, *long)
            continue
        pending.append((row, upn, item))

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for row, upn, _ in pending[start:stop]:
            report.add(row, upn, action, *outcome)

    with keeping_report(report, unsent) as cursor:
        for part in slices(pending, options.batch_size):
            cursor.batch(len(part))
            payload = transport.execute(
                ops.IMPORT_USERS,
                {
                    "users": [item for _, _, item in part],
                    "whatIf": options.what_if,
                    "create": not update_only,
                },
            )["importUsers"]
            batch_error(payload)
            for (row, upn, _), result in zip(part, payload["results"], strict=True):
                state, code, message = _user_outcome(result, options.what_if)
                report.add(row, upn, action, state, code, message)
            cursor.answered()
            options.advance(len(part))
    return report, ignored


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
    report_faults(sheet, report, cols["upn"], f"UsageLocation={(usage_location or '').upper()}")
    faults = key_faults(sheet.rows, upns, "user principal name", max_length=MAX_UPN)
    groups: dict[str, list[int]] = {}
    for i, upn in enumerate(upns):
        location = usage_location if usage_location is not None else cells[i]
        action = f"UsageLocation={(location or '').upper()}"
        if i in faults:
            report.fail(sheet.rows[i], upn or "", action, *faults[i])
            continue
        if location is None:
            report.fail(
                sheet.rows[i], upn, action, "MissingValue", "This row has no usage location."
            )
            continue
        long = too_long(location, DEFAULT_MAX_LENGTH, "usage location")
        if long:
            report.fail(sheet.rows[i], upn, action[:40], *long)
            continue
        groups.setdefault(location.strip().upper(), []).append(i)
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
                help="usage location for every row (overrides the column)",
                value="XX",
            ),
            Param("UpdateOnly", "switch", "only update existing users, create none"),
            *TARGET,
        ),
        "commcredits Import-Users -Path 'Add multiple users.csv' -UsageLocation DE",
        run_import_users,
        notes="Columns: User Name / UserPrincipalName (key), First Name, Last Name, Display "
        "Name, Job Title, Department, Office Number, Mobile Phone, City, Country or Region, "
        "UsageLocation, AccountEnabled (or Block credential). Blank cells leave a property "
        "as it is; other columns are listed and ignored.",
    ),
    command(
        "Set-UsageLocation",
        "Set the usage location of the users of a sheet.",
        (
            *SHEET_IN,
            Param(
                "UsageLocation",
                help='ISO code for every row ("" removes it); else the column',
                value="XX",
            ),
            *TARGET,
        ),
        "commcredits Get-Users -Department Sales | commcredits Set-UsageLocation -Path - "
        "-UsageLocation DE",
        run_set_usage_location,
    ),
)
