"""PowerShell-style bulk commands over the GraphQL schema (spreadsheets in, reports out).

The Python API, for notebooks: each function takes a polars DataFrame or a path and returns a
DataFrame (the per-row report for changes, the sheet for Get-*). The target is chosen as on the
command line: `endpoint` + `api_key` for a server, else in-process on the local database
(`database_url`, COMMCREDITS_DATABASE_URL, or the one already bound) acting as `api_key`'s
principal or as the local GLOBAL_ADMIN of `tenant`. Errors raise `UsageError`; a run that
stops after some rows were sent raises its subclass `RunStopped`, whose `report` holds every
row (those not sent as `NotSent`, those of a request without an answer as `Unknown`).

    >>> from commcredits.bulk import set_user_license
    >>> report = set_user_license("users.xlsx", add_licenses=["MCOPSTNC"], tenant="Contoso")
    >>> report.filter(report["Status"] == "Failed")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from commcredits.bulk import credits as _credits
from commcredits.bulk import licensing as _licensing
from commcredits.bulk import listings as _listings
from commcredits.bulk import users as _users
from commcredits.bulk.errors import UsageError
from commcredits.bulk.report_files import write_report
from commcredits.bulk.reports import Report, RunStopped
from commcredits.bulk.runtime import DEFAULT_BATCH, Options, few_collections
from commcredits.bulk.sheets import read_sheet
from commcredits.bulk.transport import Transport, connect

__all__ = [
    "RunStopped",
    "UsageError",
    "add_credits",
    "connect",
    "get_license_report",
    "get_subscribed_sku",
    "get_users",
    "import_users",
    "set_auto_recharge",
    "set_usage_location",
    "set_user_license",
]

Source = pl.DataFrame | str | Path


def _target(kw: dict[str, Any]) -> Transport:
    transport = kw.pop("transport", None)
    if transport is not None:
        return transport
    return connect(
        endpoint=kw.pop("endpoint", None),
        api_key=kw.pop("api_key", None),
        tenant=kw.pop("tenant", None),
        database_url=kw.pop("database_url", None),
        clock=kw.pop("clock", None),
    )


def _run_sheet(
    source: Source,
    body: Callable[[Transport, Any, Options], Report],
    *,
    what_if: bool,
    batch_size: int,
    result_path: str | Path | None,
    worksheet_name: str | None,
    target: dict[str, Any],
) -> pl.DataFrame:
    sheet = read_sheet(source, sheet_name=worksheet_name, row_faults=True)
    return _reported(
        lambda t: body(t, sheet, Options(what_if=what_if, batch_size=batch_size)),
        result_path,
        target,
    )


def _reported(
    body: Callable[[Transport], Report], result_path: str | Path | None, target: dict[str, Any]
) -> pl.DataFrame:
    """Run a changing command; its report as a frame, written to `result_path` if given. A run
    that stops part way writes its report (every row, the unsent ones NotSent) before raising
    RunStopped, whose `report.frame()` is the same report."""
    transport = _target(target)
    try:
        with few_collections():
            report = body(transport)
    except RunStopped as stop:
        if result_path is not None:
            write_report(stop.report.frame(), result_path)
        raise
    finally:
        transport.close()
    frame = report.frame()
    if result_path is not None:
        write_report(frame, result_path)
    return frame


def set_user_license(
    source: Source,
    *,
    add_licenses: Sequence[str] = (),
    remove_licenses: Sequence[str] = (),
    disabled_plans: Sequence[str] = (),
    what_if: bool = False,
    batch_size: int = DEFAULT_BATCH,
    result_path: str | Path | None = None,
    worksheet_name: str | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Set-UserLicense: the per-row report (Row, Key, Action, Status, Code, Message)."""
    return _run_sheet(
        source,
        lambda t, sheet, o: _licensing.set_user_license(
            t,
            sheet,
            o,
            add_licenses=list(add_licenses),
            remove_licenses=list(remove_licenses),
            disabled_plans=list(disabled_plans),
        ),
        what_if=what_if,
        batch_size=batch_size,
        result_path=result_path,
        worksheet_name=worksheet_name,
        target=target,
    )


def import_users(
    source: Source,
    *,
    usage_location: str | None = None,
    update_only: bool = False,
    usage_location_from_country: bool = False,
    what_if: bool = False,
    batch_size: int = DEFAULT_BATCH,
    result_path: str | Path | None = None,
    worksheet_name: str | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Import-Users: create or update the sheet's users; the per-row report."""
    return _run_sheet(
        source,
        lambda t, sheet, o: _users.import_users(
            t,
            sheet,
            o,
            usage_location=usage_location,
            update_only=update_only,
            usage_location_from_country=usage_location_from_country,
        )[0],
        what_if=what_if,
        batch_size=batch_size,
        result_path=result_path,
        worksheet_name=worksheet_name,
        target=target,
    )


def set_usage_location(
    source: Source,
    *,
    usage_location: str | None = None,
    what_if: bool = False,
    batch_size: int = DEFAULT_BATCH,
    result_path: str | Path | None = None,
    worksheet_name: str | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Set-UsageLocation: `usage_location` for every row, else the UsageLocation column."""
    return _run_sheet(
        source,
        lambda t, sheet, o: _users.set_usage_location(t, sheet, o, usage_location=usage_location),
        what_if=what_if,
        batch_size=batch_size,
        result_path=result_path,
        worksheet_name=worksheet_name,
        target=target,
    )


def _get(fn: Callable[[Transport], pl.DataFrame], target: dict[str, Any]) -> pl.DataFrame:
    transport = _target(target)
    try:
        return fn(transport)
    finally:
        transport.close()


def get_users(
    *,
    search: str | None = None,
    usage_location: str | None = None,
    department: str | None = None,
    has_license: str | None = None,
    account_enabled: bool | None = None,
    top: int | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Get-Users: the tenant's users matching the filters, one row each."""
    filters = {
        "search": search,
        "usageLocation": usage_location,
        "department": department,
        "hasLicense": has_license,
        "accountEnabled": account_enabled,
    }
    return _get(lambda t: _listings.get_users(t, filters, top=top), target)


def get_subscribed_sku(**target: Any) -> pl.DataFrame:
    """Get-SubscribedSku: seats per SKU."""
    return _get(_listings.get_subscribed_sku, target)


def get_license_report(
    *,
    search: str | None = None,
    usage_location: str | None = None,
    department: str | None = None,
    has_license: str | None = None,
    account_enabled: bool | None = None,
    top: int | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Get-LicenseReport: users × SKUs (1 = held)."""
    filters = {
        "search": search,
        "usageLocation": usage_location,
        "department": department,
        "hasLicense": has_license,
        "accountEnabled": account_enabled,
    }
    return _get(lambda t: _listings.get_license_report(t, filters, top=top), target)


def add_credits(
    source: Source | None = None,
    *,
    amount: str | float | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
    what_if: bool = False,
    result_path: str | Path | None = None,
    **target: Any,
) -> pl.DataFrame:
    """Add-Credits: one purchase per row of `source` (Amount, Reference), or `amount` once
    (`reference`, or its older name `idempotency_key`: the purchase's idempotency key)."""
    sheet = read_sheet(source, row_faults=True) if source is not None else None
    return _reported(
        lambda t: _credits.add_credits(
            t,
            sheet,
            Options(what_if=what_if),
            amount=None if amount is None else str(amount),
            reference=reference if reference is not None else idempotency_key,
            day=dt.datetime.now(dt.UTC).date().isoformat(),
        ),
        result_path,
        target,
    )


def set_auto_recharge(
    *,
    enabled: bool,
    recharge_amount: str | float | None = None,
    trigger_balance: str | float | None = None,
    max_recharges_per_day: int | None = None,
    what_if: bool = False,
    **target: Any,
) -> pl.DataFrame:
    """Set-AutoRecharge: a one-row report."""
    return _get(
        lambda t: _credits.set_auto_recharge(
            t,
            Options(what_if=what_if),
            enabled=enabled,
            recharge_amount=None if recharge_amount is None else str(recharge_amount),
            trigger_balance=None if trigger_balance is None else str(trigger_balance),
            max_recharges_per_day=max_recharges_per_day,
        ).frame(),
        target,
    )
