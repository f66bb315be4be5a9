"""Where a report is written, and how: never over an earlier report, never as a formula.

A report is the only record of what a run did, so a run never overwrites one it did not
name itself: without -ResultPath the report goes to `<input>.result.csv`, a -WhatIf run's to
`<input>.whatif.result.csv`, and when that file exists already, to the first free numbered
name (`<input>.result.2.csv`, `.3`, …). -ResultPath is taken as given.

Cells hold what users and sheets wrote (keys, server messages that quote values), and Excel
runs a CSV cell that begins with `=`, `+`, `-` or `@` (and, after a tab or carriage return,
what follows) as a formula (OWASP "CSV injection"). In a CSV report (a file, or stdout) such a
cell gets a leading `'`, which Excel reads as "this is text". An XLSX report needs no change:
every cell in it is a text cell, which Excel never runs (a test checks the workbook holds no
formula). Parquet and JSON reports keep the values exactly: programs read them, not Excel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import polars as pl

from commcredits.bulk.csv_input import FORMULA_START
from commcredits.bulk.errors import UsageError
from commcredits.bulk.sheets import default_result_path, write_frame
from commcredits.sheet_stream import SheetSink, SheetTooLarge, sheet_sink

_FORMULA_PRONE = (".csv",)  # what Excel parses cell by cell on opening


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that a spreadsheet would run as a formula, prefixed with `'`."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def report_target(explicit: str | None, source: str | None, what_if: bool) -> str | None:
    """The file a run's report goes to: -ResultPath as given, else the first free name next
    to the input; None (stdout) for stdin, a DataFrame, or a command without a sheet."""
    if explicit:
        return explicit
    base = default_result_path(source) if source is not None else None
    if base is None:
        return None
    stem = base.name.removesuffix(".result.csv")
    kind = ".whatif.result" if what_if else ".result"
    candidate = base.with_name(f"{stem}{kind}.csv")
    number = 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{stem}{kind}.{number}.csv")
    return str(candidate)


def write_report(frame: pl.DataFrame, target: str | Path | TextIO) -> None:
    """Write a report or a Get-* sheet: in CSV (a file or a stream), formulas neutralized
    (reading a CSV back restores them: csv_input.restore_formula_text)."""
    if not isinstance(target, str | Path) or Path(target).suffix.lower() in _FORMULA_PRONE:
        frame = neutralize_formulas(frame)
    write_frame(frame, target)


@contextmanager
def open_output(target: str | Path | TextIO, schema: pl.Schema) -> Iterator[SheetSink]:
    """A Get-* sheet written a page at a time (see `commcredits.sheet_stream`), as
    `write_report` writes it whole: in CSV, formulas neutralized."""
    formula_prone = not isinstance(target, str | Path) or (
        Path(target).suffix.lower() in _FORMULA_PRONE
    )
    try:
        with sheet_sink(
            target, schema, prepare=neutralize_formulas if formula_prone else None
        ) as sink:
            yield sink
    except SheetTooLarge as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"{target}: cannot write: {error.strerror or error}") from None
