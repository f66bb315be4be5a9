"""What a person at a terminal sees: the progress bar, the confirmation, the summary line, and
where a report or a listing goes (a file, or CSV on stdout)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.limits import plural
from commcredits.bulk.params import Invocation
from commcredits.bulk.report_files import report_target, write_report
from commcredits.bulk.reports import Report
from commcredits.bulk.sheets import WRITE_EXTENSIONS, Sheet


class Progress:
    def __init__(self, inv: Invocation, total: int | None, unit: str):
        self.bar = None
        if not inv.get("NoProgress") and isatty(inv.stderr):
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=inv.stderr,
                unit=unit,
                unit_scale=True,
                leave=False,
                desc=inv.command,
                mininterval=0.2,
            )

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def check_output(path: str | None) -> None:
    """Refuse an output file type before anything is sent, not after the run."""
    if path and path != "-" and Path(path).suffix.lower() not in WRITE_EXTENSIONS:
        raise UsageError(
            f"{path}: cannot write {Path(path).suffix or '(none)'!r} files; use one of "
            f"{', '.join(WRITE_EXTENSIONS)}"
        )


def confirm(inv: Invocation, rows: int) -> bool:
    if inv.get("WhatIf") or inv.get("Force") or inv.get("Confirm") is False:
        return True
    threshold = inv.get("ConfirmThreshold", 0 if inv.get("Confirm") else 1000)
    if rows <= threshold or not inv.interactive:
        return True
    inv.stderr.write(f"{inv.command}: about to write {rows:,} rows. Continue? [y/N] ")
    inv.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes", "a")


def summary(
    inv: Invocation, report: Report, frame: pl.DataFrame, elapsed: float, where: str
) -> str:
    counts = frame["Status"].value_counts(sort=True).rows()
    parts = ", ".join(f"{n:,} {s}" for s, n in counts)
    blank = f"; {plural(report.blank_rows, 'blank row')} skipped" if report.blank_rows else ""
    blank += "".join(f"; {note}" for note in report.notes)
    prefix = "What if: " if report.what_if else ""
    return (
        f"{prefix}{inv.command}: {plural(frame.height, 'row')}: {parts or 'none'}{blank}; "
        f"{elapsed:.2f} s; report: {where}"
    )


def finish(inv: Invocation, report: Report, sheet: Sheet | None, started: float) -> int:
    """Write the report, say how it went on stderr; the exit code (1 if any row failed)."""
    frame = report.frame()
    target = report_target(inv.get("ResultPath"), sheet.source if sheet else None, report.what_if)
    if target and target != "-":
        write_report(frame, target)
        where = str(target)
    else:
        write_report(frame, inv.stdout)
        where = "stdout"
    inv.stderr.write(summary(inv, report, frame, time.perf_counter() - started, where) + "\n")
    failed = frame.filter(frame["Status"].is_in(["Failed", "WouldFail"])).height
    return 1 if failed else 0


def write_output(inv: Invocation, frame: pl.DataFrame, started: float, what: str) -> int:
    """A Get-* command's sheet: to -Path, else CSV on stdout (the next command's stdin)."""
    path = inv.get("Path")
    write_report(frame, path if path and path != "-" else inv.stdout)
    return report_written(inv, frame.height, started, what)


def report_written(inv: Invocation, rows: int, started: float, what: str) -> int:
    """The summary line of a Get-* command whose sheet was written (-Path, else stdout)."""
    path = inv.get("Path")
    where = path if path and path != "-" else "stdout"
    inv.stderr.write(
        f"{inv.command}: {rows:,} {what}; {time.perf_counter() - started:.2f} s; "
        f"written to {where}\n"
    )
    return 0
