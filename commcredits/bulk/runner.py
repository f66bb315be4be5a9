"""The frame a command runs in from the command line: the target it talks to, and for sheet
commands the steps around the command's own work (read, confirm, progress, report)."""

from __future__ import annotations

import time
from collections.abc import Callable

from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import Invocation
from commcredits.bulk.reports import Report, RunStopped
from commcredits.bulk.runtime import DEFAULT_BATCH, Options, few_collections
from commcredits.bulk.sheets import Sheet, read_sheet
from commcredits.bulk.terminal import Progress, check_output, confirm, finish
from commcredits.bulk.transport import Transport, connect


def transport_for(inv: Invocation) -> Transport:
    return connect(
        endpoint=inv.get("Endpoint"), api_key=inv.get("ApiKey"), tenant=inv.get("Tenant")
    )


def sheet_command(inv: Invocation, body: Callable[[Transport, Sheet, Options], Report]) -> int:
    """Read -Path, ask if it is big, run `body` with a progress bar, write the report."""
    started = time.perf_counter()
    path = inv.get("Path")
    if not path:
        raise UsageError("give -Path FILE (or -Path - for CSV on stdin)")
    check_output(inv.get("ResultPath"))
    sheet = read_sheet(path, stdin=inv.stdin, sheet_name=inv.get("WorksheetName"), row_faults=True)
    return rows_command(
        inv, sheet, len(sheet), lambda t, options: body(t, sheet, options), started=started
    )


def rows_command(
    inv: Invocation,
    sheet: Sheet | None,
    rows: int,
    body: Callable[[Transport, Options], Report],
    *,
    started: float,
    unit: str = "row",
) -> int:
    """Ask if `rows` is many, run `body` with a progress bar, write its report; a run that
    stops part way still writes the report of every row (RunStopped), then exits 2."""
    transport = transport_for(inv)
    try:
        if not confirm(inv, rows):
            raise UsageError("cancelled; nothing was written")
        progress = Progress(inv, rows, unit)
        options = Options(
            what_if=bool(inv.get("WhatIf")),
            batch_size=inv.get("BatchSize", DEFAULT_BATCH),
            progress=progress,
        )
        try:
            with few_collections():
                report = body(transport, options)
        except RunStopped as stop:
            progress.close()
            finish(inv, stop.report, sheet, started)
            if stop.interrupted:
                raise KeyboardInterrupt from None
            raise UsageError(
                f"stopped part way: {stop}; the report above lists every row (NotSent: not "
                f"sent; Unknown: sent, no answer)"
            ) from None
        finally:
            progress.close()
    finally:
        transport.close()
    return finish(inv, report, sheet, started)
