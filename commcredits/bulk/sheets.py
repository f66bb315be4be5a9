"""Sheets in and out: CSV/XLSX/Parquet/JSON/NDJSON with polars, every cell read as a string.

Row numbers are what the user sees: for CSV and workbooks the sheet's row (the header is row 1,
so the first data row is 2); for Parquet, JSON, NDJSON and DataFrames the record number (1-based).

A file is read within the bounds of `limits` (size, rows, columns, cells), each refused with one
line (UsageError, exit 2) before the costly step: workbooks are inspected by `workbook_guard`
before calamine allocates anything, CSV by `csv_input`. A cell with a control character (NUL
first: PostgreSQL cannot store it) is never sent: its row is refused (see `read_sheet`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import polars as pl

from commcredits.bulk.csv_input import first_line, read_csv_bytes, too_big_file
from commcredits.bulk.errors import UsageError
from commcredits.bulk.limits import MAX_FILE_BYTES, check_area
from commcredits.bulk.workbook_guard import check_workbook
from commcredits.sheet_stream import write_xlsx

CSV_EXTENSIONS = (".csv", ".txt", ".tsv")
WORKBOOK_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
READ_EXTENSIONS = CSV_EXTENSIONS + WORKBOOK_EXTENSIONS + (".parquet", ".json", ".ndjson", ".jsonl")
WRITE_EXTENSIONS = (".csv", ".xlsx", ".parquet", ".json", ".ndjson", ".jsonl")
REPORT_COLUMNS = ("Row", "Key", "Action", "Status", "Code", "Message")
# C0 control characters but tab, line feed and carriage return (which multi-line cells hold):
# PostgreSQL refuses NUL in text, and none belongs in a name, key or reference.
_CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
_CONTROL_RE = re.compile(_CONTROL)
INVALID_CHARACTER = "InvalidCharacter"


@dataclass(frozen=True)
class RowFault:
    """A row refused while reading (it holds a control character): never sent, reported."""

    row: int
    code: str
    message: str
    cells: dict[str, str]  # the row's cells, control characters shown as \xNN

    def key(self, column: str | None) -> str:
        return self.cells.get(column, "") if column else ""


@dataclass
class Sheet:
    """A sheet read as strings, blank rows removed, with each remaining row's number.

    `faults` are the rows left out because a cell cannot be sent (read_sheet(row_faults=True));
    a command reports them as failed rows with `report_faults`."""

    frame: pl.DataFrame
    rows: list[int]
    source: str
    blank_rows: int = 0
    headers: list[str] = field(default_factory=list)
    faults: list[RowFault] = field(default_factory=list)

    def __len__(self) -> int:
        return self.frame.height


def report_faults(sheet: Sheet, report: Any, key_column: str | None, action: str) -> None:
    """Add the rows refused while reading to a command's report (`report.fail`), once."""
    for fault in sheet.faults:
        report.fail(fault.row, fault.key(key_column), action, fault.code, fault.message)


def normalize_header(name: str) -> str:
    """`User principal name` = `UserPrincipalName` = `user_principal_name` = `userprincipalname`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _read_workbook(path: Path, sheet_name: str | None) -> tuple[pl.DataFrame, int]:
    """The sheet, and the sheet row of its first row after the header (the reader skips
    blank rows above the header: a report's rows are the sheet's, as Excel numbers them)."""
    import fastexcel

    checked = check_workbook(path, sheet_name)  # before calamine allocates what it asks for
    try:
        reader = fastexcel.read_excel(str(path))
        names = reader.sheet_names
        if sheet_name is not None and sheet_name not in names:
            listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise UsageError(f"{path}: no worksheet named {sheet_name!r} (worksheets: {listed})")
        index = 0 if sheet_name is None else names.index(sheet_name)
        if checked.index is not None and checked.index != index:  # load only what was measured
            raise UsageError(f"{path}: cannot read the workbook: its list of sheets is ambiguous")
        frame = reader.load_sheet(index, dtypes="string").to_polars()
        return frame, max(checked.first_row, 1) + 1
    except UsageError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    # calamine's errors have no common base class to name here, and a Rust panic arrives as
    # pyo3's PanicException, a BaseException: either is a damaged file, one line, exit 2.
    except BaseException as error:
        message = first_line(error)
        if "zip" in message.lower() or "cfb" in message.lower() or "encrypt" in message.lower():
            message = "not a readable workbook (password-protected or damaged?): " + message
        raise UsageError(f"{path}: cannot read the workbook: {message}") from None


def _read_other(path: Path, ext: str) -> pl.DataFrame:
    """Parquet, JSON or NDJSON; Parquet's size is checked from its metadata before reading."""
    try:
        if ext == ".parquet":
            columns = len(pl.read_parquet_schema(path))
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
            reason = check_area(str(path), "the file", rows, columns, None)
            if reason is not None:
                raise UsageError(reason)
            return pl.read_parquet(path)
        if ext == ".json":
            return pl.read_json(path)
        return pl.read_ndjson(path)
    except UsageError:
        raise
    except Exception as error:  # polars raises several unrelated types for bad files
        raise UsageError(f"{path}: cannot read the file: {first_line(error)}") from None


def _as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.String:
            exprs.append(col)
        elif isinstance(dtype, pl.List):
            exprs.append(col.cast(pl.List(pl.String)).list.join(";").alias(name))
        elif dtype == pl.Null:
            exprs.append(col.cast(pl.String))
        else:
            try:
                exprs.append(col.cast(pl.String))
            except pl.exceptions.PolarsError:
                exprs.append(col.map_elements(str, return_dtype=pl.String))
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError:
        return frame.select(
            pl.col(n).map_elements(lambda v: None if v is None else str(v), return_dtype=pl.String)
            for n in frame.columns
        )


def _visible(text: str) -> str:
    """A cell for a report or a message: control characters as \\xNN, never the bytes."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _check_headers(headers: list[str], name: str) -> None:
    for i, header in enumerate(headers, start=1):
        found = _CONTROL_RE.search(header)
        if found:
            raise UsageError(
                f"{name}: header {i} ('{_visible(header)}') has a control character "
                f"(U+{ord(found.group()):04X}); a header may not contain one"
            )


def _faults(rows: pl.DataFrame, name: str, refuse: bool) -> list[RowFault]:
    """The rows (of `rows`, numbered in `__row`) with a control character in a cell; with
    `refuse`, the first one stops the read instead (one line, exit 2)."""
    faults = []
    for values in rows.iter_rows(named=True):
        row = values.pop("__row")
        column, cell = next((c, v) for c, v in values.items() if v and _CONTROL_RE.search(v))
        char = ord(_CONTROL_RE.search(cell).group())
        what = f"{column!r} has a control character (U+{char:04X}{' NUL' if char == 0 else ''})"
        if refuse:
            more = f" (and {rows.height - 1:,} other rows)" if rows.height > 1 else ""
            raise UsageError(
                f"{name}: row {row:,}{more}: {what}; no text may contain one. Fix the row and "
                f"run again; nothing was sent"
            )
        cells = {c: _visible(v) for c, v in values.items() if v is not None}
        message = f"{what}; no text may contain one. This row was not sent."
        faults.append(RowFault(row, INVALID_CHARACTER, message, cells))
    return faults


def read_sheet(
    source: str | Path | pl.DataFrame,
    *,
    stdin: BinaryIO | None = None,
    sheet_name: str | None = None,
    row_faults: bool = False,
) -> Sheet:
    """Read a sheet (`-` is CSV on stdin); raises UsageError with one clear line on bad input.

    A row with a control character in a cell is never sent: with `row_faults` it is left out
    and listed in `Sheet.faults` (the command reports it, see `report_faults`); without, the
    read stops with exit 2 naming the row. A control character in a header always stops it.
    """
    offset = 1
    if isinstance(source, pl.DataFrame):
        frame, name = source, "DataFrame"
    elif str(source) == "-":
        name = "stdin"
        raw = (stdin or sys.stdin.buffer).read(MAX_FILE_BYTES + 1)
        frame, offset = read_csv_bytes(raw, name)
    else:
        path = Path(source)
        name = str(path)
        ext = path.suffix.lower()
        if ext not in READ_EXTENSIONS:
            raise UsageError(
                f"{path}: unsupported file type {ext or '(none)'!r}; use one of "
                f"{', '.join(READ_EXTENSIONS)} (or -Path - for CSV on stdin)"
            )
        if not path.is_file():
            raise UsageError(f"{path}: file not found")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise too_big_file(name, path.stat().st_size)
        if ext in CSV_EXTENSIONS:
            frame, offset = read_csv_bytes(path.read_bytes(), name)
        elif ext in WORKBOOK_EXTENSIONS:
            frame, offset = _read_workbook(path, sheet_name)
        else:
            frame = _read_other(path, ext)
    if name != "DataFrame":  # a caller's own DataFrame is not a file anyone else wrote
        reason = check_area(name, "the sheet", frame.height, frame.width, None)
        if reason is not None:
            raise UsageError(reason)
    frame = _as_strings(frame)
    headers = list(frame.columns)
    _check_headers(headers, name)
    if frame.width == 0 or frame.height == 0:
        raise UsageError(f"{name}: the sheet is empty")
    blank = pl.all_horizontal(
        [pl.col(c).str.strip_chars().fill_null("").eq("") for c in frame.columns]
    )
    numbered = frame.with_row_index("__row", offset=offset)
    kept = numbered.filter(~blank)
    blank_rows = frame.height - kept.height
    bad = pl.any_horizontal([pl.col(c).str.contains(_CONTROL).fill_null(False) for c in headers])
    flagged = kept.with_columns(__bad=bad)
    faulty = flagged.filter(pl.col("__bad")).drop("__bad")
    faults = _faults(faulty, name, refuse=not row_faults) if faulty.height else []
    if faults:
        kept = flagged.filter(~pl.col("__bad")).drop("__bad")
    if kept.height == 0 and not faults:
        raise UsageError(f"{name}: the sheet has no rows (only blank ones)")
    return Sheet(
        frame=kept.drop("__row"),
        rows=kept["__row"].to_list(),
        source=name,
        blank_rows=blank_rows,
        headers=headers,
        faults=faults,
    )


def match_columns(
    sheet: Sheet,
    accepted: Mapping[str, Iterable[str]],
    *,
    key: str | None,
) -> tuple[dict[str, str], list[str]]:
    """Map each field to the sheet's column named by one of its accepted names.

    Returns (field -> column, ignored columns). Without the `key` field's column, raises a
    UsageError listing the headers found and the names accepted.
    """
    by_norm: dict[str, str] = {}
    for column in sheet.frame.columns:
        by_norm.setdefault(normalize_header(column), column)
    found: dict[str, str] = {}
    for name, aliases in accepted.items():
        for alias in aliases:
            column = by_norm.get(normalize_header(alias))
            if column is not None and column not in found.values():
                found[name] = column
                break
    if key is not None and key not in found:
        raise UsageError(
            f"{sheet.source}: no {key} column; headers found: "
            f"{', '.join(repr(h) for h in sheet.headers)}; accepted: "
            f"{', '.join(repr(a) for a in accepted[key])}"
        )
    ignored = [c for c in sheet.frame.columns if c not in found.values()]
    return found, ignored


def column(sheet: Sheet, name: str | None) -> list[str | None]:
    """A column's cells, stripped, blank as None (a list of None if the sheet has no column)."""
    if name is None:
        return [None] * sheet.frame.height
    series = sheet.frame.get_column(name).str.strip_chars()
    return series.replace("", None).to_list()


def write_frame(frame: pl.DataFrame, target: str | Path | TextIO) -> None:
    """Write a frame to a path (its extension picks the format) or CSV to a text stream."""
    if not isinstance(target, str | Path):
        target.write(frame.write_csv())
        target.flush()
        return
    path = Path(target)
    ext = path.suffix.lower()
    if ext not in WRITE_EXTENSIONS:
        raise UsageError(
            f"{path}: cannot write {ext or '(none)'!r} files; use one of "
            f"{', '.join(WRITE_EXTENSIONS)}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if ext == ".csv":
            frame.write_csv(path)
        elif ext == ".xlsx":
            write_xlsx(frame, path, autofit=frame.height <= 10_000)
        elif ext == ".parquet":
            frame.write_parquet(path)
        elif ext == ".json":
            frame.write_json(path)
        else:
            frame.write_ndjson(path)
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error.strerror or error}") from None


def default_result_path(source: str) -> Path | None:
    """`<name>.result.csv` next to the input; None for stdin or a DataFrame."""
    if source in ("stdin", "DataFrame"):
        return None
    path = Path(source)
    return path.with_name(path.stem + ".result.csv")
