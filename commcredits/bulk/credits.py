"""Add-Credits and Set-AutoRecharge: buying communication credits and configuring recharge.

Every purchase carries a reference, its idempotency key, so that running the same command or
sheet again buys nothing twice (SPEC §4: the server returns the first outcome for a repeated
key). The server says when it did (`replayed`): such a row is reported Unchanged with the
invoice it matched, never Purchased, and -WhatIf says the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from commcredits.bulk import operations as ops
from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import SHEET_IN, TARGET, Invocation, Param, command, parse_bool
from commcredits.bulk.reports import Outcome, Report, keeping_report, row_errors, status
from commcredits.bulk.rows import IDEMPOTENCY_KEY, cell_amount, command_amount, key_faults
from commcredits.bulk.runner import rows_command, transport_for
from commcredits.bulk.runtime import Options
from commcredits.bulk.sheets import Sheet, column, match_columns, read_sheet, report_faults
from commcredits.bulk.terminal import check_output, finish
from commcredits.bulk.transport import Transport

CREDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "amount": ("Amount", "Credits", "CreditAmount"),
    "reference": ("IdempotencyKey", "Reference", "PurchaseOrder", "PO", "Id"),
}


def _decimal(value: str | None, what: str, *, cell: bool = False) -> Decimal | None:
    """An amount from the command line (rows.command_amount) or, with `cell`, from a sheet's
    cell, which may carry its locale's separators (rows.cell_amount)."""
    if value is None or not str(value).strip():
        return None
    try:  # the API's own format, so a cell is refused here with its row, not by the server
        if cell:
            return cell_amount(str(value))
        return command_amount(str(value))
    except ValueError as error:
        raise UsageError(f"{what}: {error}") from None


def idempotency_key(parts: Sequence[str]) -> str:
    """A key derived from what identifies a purchase, so running a sheet twice buys once."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"bulk-{digest}"


def add_credits(
    transport: Transport,
    sheet: Sheet | None,
    options: Options,
    *,
    amount: str | None = None,
    reference: str | None = None,
    day: str,
) -> Report:
    """Buy credits: one purchase per sheet row (Amount, optional Reference), or `amount` once.

    Each purchase carries an idempotency key, its reference: the Reference cell (or
    -Reference) when given, else one derived from the row's content and number (a sheet), or
    from the amount and the UTC day (a single -Amount), so re-running the same command buys
    nothing twice. A purchase the server matched to an earlier one by its reference is
    reported Unchanged with the invoice it matched, never Purchased.
    """
    report = Report(
        what_if=options.what_if,
        blank_rows=sheet.blank_rows if sheet else 0,
        extra_columns=("Reference", "Invoice"),
    )
    purchases: list[tuple[int, str, Decimal, str]] = []
    if sheet is None:
        value = _decimal(amount, "-Amount")
        if value is None:
            raise UsageError("give -Amount N or -Path with an Amount column")
        key = reference or idempotency_key(["Add-Credits", str(value), day])
        purchases.append((1, key, value, f"Purchase {value}"))
    else:
        if reference is not None:
            raise UsageError("-Reference goes with -Amount; a sheet gives a Reference column")
        cols, _ = match_columns(sheet, CREDIT_COLUMNS, key="amount")
        report_faults(sheet, report, cols.get("reference"), "Purchase")
        amounts = column(sheet, cols["amount"])
        refs = column(sheet, cols.get("reference"))
        keys = [
            refs[i] or idempotency_key(["Add-Credits", str(row)] + [str(v) for v in values])
            for i, (row, values) in enumerate(zip(sheet.rows, sheet.frame.iter_rows(), strict=True))
        ]
        faults = key_faults(sheet.rows, keys, "reference", max_length=IDEMPOTENCY_KEY)
        for i, cell in enumerate(amounts):
            row, key = sheet.rows[i], keys[i]
            action = f"Purchase {cell}"
            if i in faults:
                report.fail(row, key, action, *faults[i], extra=(key,))
                continue
            try:
                value = _decimal(cell, f"row {row}", cell=True)
            except UsageError as error:
                report.fail(row, key, action, "InvalidAmount", str(error), extra=(key,))
                continue
            if value is None:
                report.fail(row, key, action, "MissingValue", "This row has no amount.", (key,))
                continue
            purchases.append((row, key, value, f"Purchase {value}"))

    def unsent(start: int, stop: int | None, outcome: Outcome) -> None:
        for row, key, _, action in purchases[start:stop]:
            report.add(row, key, action, *outcome, (key,))

    with keeping_report(report, unsent) as cursor:
        for row, key, value, action in purchases:
            cursor.batch(1)
            payload = transport.execute(
                ops.PURCHASE_CREDITS,
                {"amount": str(value), "key": key, "whatIf": options.what_if},
            )["purchaseCredits"]
            if payload.get("userErrors"):
                code, message = row_errors(payload)
                report.fail(row, key, action, code, message, extra=(key,))
            else:
                report.add(row, key, action, *_purchase_outcome(payload, options.what_if, key))
            cursor.answered()
            options.advance(1)
    return report


def _purchase_outcome(
    payload: dict[str, Any], what_if: bool, key: str
) -> tuple[str, str, str, tuple[str | None, ...]]:
    """(status, code, message, (Reference, Invoice)) of one purchase the server accepted."""
    invoice = payload.get("invoice") or {}
    balance = (payload.get("balance") or {}).get("remaining") or {}
    shown_balance = f"balance {balance.get('amount')} {balance.get('currency')}"
    number = str(invoice["number"]) if invoice.get("number") is not None else None
    if payload.get("replayed"):
        # The server matched the reference to an earlier purchase and bought nothing now.
        message = (
            f"already bought with reference {key}: invoice {number}; nothing "
            f"{'would be ' if what_if else ''}bought now; {shown_balance}"
        )
        return "Unchanged", "", message, (key, number)
    if what_if:
        # A -WhatIf row's own preview: no invoice number or balance, which depend on the rows
        # before it that a dry run does not buy.
        price = invoice.get("amount") or {}
        message = f"{price.get('amount')} {price.get('currency')} would be bought"
        return status("Purchased", True), "", message, (key, None)
    return "Purchased", "", f"invoice {number}; {shown_balance}", (key, number)


def set_auto_recharge(
    transport: Transport,
    options: Options,
    *,
    enabled: bool,
    recharge_amount: str | None,
    trigger_balance: str | None,
    max_recharges_per_day: int | None,
) -> Report:
    """Configure automatic recharge once; the report has one row. -WhatIf is the server's
    (configureAutoRecharge with whatIf): every check runs as for real, nothing is saved."""
    report = Report(what_if=options.what_if)
    variables = {
        "enabled": enabled,
        "amount": str(_decimal(recharge_amount, "-RechargeAmount"))
        if recharge_amount is not None
        else None,
        "trigger": str(_decimal(trigger_balance, "-TriggerBalance"))
        if trigger_balance is not None
        else None,
        "perDay": max_recharges_per_day,
        "whatIf": options.what_if,
    }
    action = "Enable" if enabled else "Disable"
    payload = transport.execute(ops.CONFIGURE_AUTO_RECHARGE, variables)["configureAutoRecharge"]
    if payload.get("userErrors"):
        code, message = row_errors(payload)
        report.fail(1, "autoRecharge", action, code, message)
    else:
        shown = ", ".join(f"{k}={v}" for k, v in _settings(payload["autoRecharge"]).items())
        report.add(1, "autoRecharge", action, status("Updated", options.what_if), "", shown)
    options.advance(1)
    return report


def _settings(ar: dict[str, Any] | None) -> dict[str, Any]:
    """The saved settings as the report shows them (by configureAutoRecharge's argument names),
    those that are set."""
    ar = ar or {}
    top_up, threshold = ar.get("topUp") or {}, ar.get("threshold") or {}
    shown = {
        "enabled": ar.get("enabled"),
        "rechargeAmount": top_up.get("amount"),
        "triggerBalance": threshold.get("amount"),
        "maxRechargesPerDay": ar.get("maxRechargesPerDay"),
        "currency": top_up.get("currency") or threshold.get("currency"),
    }
    return {k: v for k, v in shown.items() if v is not None}


def run_add_credits(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("ResultPath"))
    path = inv.get("Path")
    if path and inv.get("Amount") is not None:
        raise UsageError("give either -Amount or -Path, not both")
    sheet = (
        read_sheet(path, stdin=inv.stdin, sheet_name=inv.get("WorksheetName"), row_faults=True)
        if path
        else None
    )
    return rows_command(
        inv,
        sheet,
        len(sheet) if sheet else 1,
        lambda t, options: add_credits(
            t,
            sheet,
            options,
            amount=inv.get("Amount"),
            reference=inv.get("Reference"),
            day=dt.datetime.now(dt.UTC).date().isoformat(),
        ),
        started=started,
        unit="purchase",
    )


def run_set_auto_recharge(inv: Invocation) -> int:
    started = time.perf_counter()
    check_output(inv.get("ResultPath"))
    enabled = inv.get("Enabled")
    if enabled is None:
        raise UsageError("give -Enabled true or -Enabled false")
    transport = transport_for(inv)
    try:
        report = set_auto_recharge(
            transport,
            Options(what_if=bool(inv.get("WhatIf"))),
            enabled=parse_bool(enabled, "Enabled"),
            recharge_amount=inv.get("RechargeAmount"),
            trigger_balance=inv.get("TriggerBalance"),
            max_recharges_per_day=inv.get("MaxRechargesPerDay"),
        )
    finally:
        transport.close()
    return finish(inv, report, None, started)


COMMANDS = (
    command(
        "Add-Credits",
        "Buy communication credits: -Amount once, or one purchase per sheet row.",
        (
            Param("Amount", help="amount in the tenant's currency", value="N"),
            Param(
                "Reference",
                help="with -Amount: the purchase's reference, its idempotency key (default: "
                "the amount and the UTC day)",
                aliases=("IdempotencyKey",),
                value="REF",
            ),
            *SHEET_IN,
            *TARGET,
        ),
        "commcredits Add-Credits -Amount 500 -WhatIf",
        run_add_credits,
        notes="Sheet columns: Amount (required), Reference / IdempotencyKey (optional). "
        "Every purchase has a reference, its idempotency key (the Reference, else derived "
        "from the row, or for -Amount from the amount and the UTC day), so a re-run buys "
        "nothing twice: a purchase matched to an earlier one is reported Unchanged with the "
        "invoice it matched. To buy the same amount twice on one day, give each its own "
        "-Reference. The report's Reference and Invoice columns show both.",
    ),
    command(
        "Set-AutoRecharge",
        "Switch automatic recharge of credits on or off and set its amounts.",
        (
            Param("Enabled", help="true or false", value="BOOL"),
            Param("RechargeAmount", help="amount bought per recharge", value="N"),
            Param("TriggerBalance", help="recharge when the balance falls below this", value="N"),
            Param("MaxRechargesPerDay", "int", "at most this many recharges a day", value="N"),
            Param("ResultPath", help="report file (default: stdout)", value="FILE"),
            Param("WhatIf", "switch", "check the settings on the server, save nothing"),
            *TARGET,
        ),
        "commcredits Set-AutoRecharge -Enabled true -RechargeAmount 200 -TriggerBalance 50",
        run_set_auto_recharge,
        positional=None,
    ),
)
