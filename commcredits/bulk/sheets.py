"""Sheets in and out: CSV/XLSX/Parquet/JSON/NDJSON with polars, every cell read as a string.

Row numbers are what the user sees: for CSV and workbooks the sheet's row (the header is row 1,
so the first data row is 2); for Parquet, JSON, NDJSON and DataFrames the record number (1-based).
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import polars as pl

from commcredits.bulk.errors import UsageError

CSV_EXTENSIONS = (".csv", ".txt", ".tsv")
WORKBOOK_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
READ_EXTENSIONS = CSV_EXTENSIONS + WORKBOOK_EXTENSIONS + (".parquet", ".json", ".ndjson", ".jsonl")
WRITE_EXTENSIONS = (".csv", ".xlsx", ".parquet", ".json", ".ndjson", ".jsonl")
REPORT_COLUMNS = ("Row", "Key", "Action", "Status", "Code", "Message")


@dataclass
class Sheet:
    """A sheet read as strings, blank rows removed, with each remaining row's number."""

    frame: pl.DataFrame
    rows: list[int]
    source: str
    blank_rows: int = 0
    headers: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.frame.height


def normalize_header(name: str) -> str:
    """`User principal name` = `UserPrincipalName` = `user_principal_name` = `userprincipalname`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _delimiter(text: str) -> str:
    """The delimiter of the header line: `,`, `;` or tab, counted outside quotes."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if line.lower().startswith("sep=") and len(line) >= 5:
        return line[4]  # Excel's "sep=;" first line
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv_bytes(raw: bytes, source: str) -> pl.DataFrame:
    text = _decode(raw)
    if not text.strip():
        raise UsageError(f"{source}: the sheet is empty")
    separator = _delimiter(text)
    lines = text.split("\n", 1)
    if lines[0].lower().startswith("sep="):
        text = lines[1] if len(lines) > 1 else ""
    try:
        return pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=True,
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise UsageError(f"{source}: cannot read the CSV: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _read_workbook(path: Path, sheet_name: str | None) -> pl.DataFrame:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        sheet = sheet_name if sheet_name is not None else 0
        if sheet_name is not None and sheet_name not in reader.sheet_names:
            raise UsageError(
                f"{path}: no worksheet named {sheet_name!r} (worksheets: "
                f"{', '.join(reader.sheet_names)})"
            )
        return reader.load_sheet(sheet, dtypes="string").to_polars()
    except UsageError:
        raise
    except Exception as error:  # calamine's errors have no common base class to name here
        message = _first_line(error)
        if "zip" in message.lower() or "cfb" in message.lower() or "encrypt" in message.lower():
            message = "not a readable workbook (password-protected or damaged?): " + message
        raise UsageError(f"{path}: cannot read the workbook: {message}") from None


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


def read_sheet(
    source: str | Path | pl.DataFrame,
    *,
    stdin: BinaryIO | None = None,
    sheet_name: str | None = None,
) -> Sheet:
    """Read a sheet (`-` is CSV on stdin); raises UsageError with one clear line on bad input."""
    offset = 1
    if isinstance(source, pl.DataFrame):
        frame, name = source, "DataFrame"
    elif str(source) == "-":
        name = "stdin"
        raw = (stdin or sys.stdin.buffer).read()
        frame = read_csv_bytes(raw, name)
        offset = 2
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
        if ext in CSV_EXTENSIONS:
            frame, offset = read_csv_bytes(path.read_bytes(), name), 2
        elif ext in WORKBOOK_EXTENSIONS:
            frame, offset = _read_workbook(path, sheet_name), 2
        else:
            try:
                if ext == ".parquet":
                    frame = pl.read_parquet(path)
                elif ext == ".json":
                    frame = pl.read_json(path)
                else:
                    frame = pl.read_ndjson(path)
            except Exception as error:  # polars raises several unrelated types for bad files
                raise UsageError(f"{path}: cannot read the file: {_first_line(error)}") from None
    frame = _as_strings(frame)
    headers = list(frame.columns)
    if frame.width == 0 or frame.height == 0:
        raise UsageError(f"{name}: the sheet is empty")
    blank = pl.all_horizontal(
        [pl.col(c).str.strip_chars().fill_null("").eq("") for c in frame.columns]
    )
    numbered = frame.with_row_index("__row", offset=offset)
    kept = numbered.filter(~blank)
    blank_rows = frame.height - kept.height
    if kept.height == 0:
        raise UsageError(f"{name}: the sheet has no rows (only blank ones)")
    return Sheet(
        frame=kept.drop("__row"),
        rows=kept["__row"].to_list(),
        source=name,
        blank_rows=blank_rows,
        headers=headers,
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
            frame.write_excel(path, autofit=frame.height <= 10_000)
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
