"""Sheets written a page at a time: CSV, NDJSON, JSON, Parquet and XLSX with bounded memory.

A listing of a million users or an export of a million calls must not be held whole before it
is written (issue 16: peak RSS under 500 MiB). A `SheetSink` takes one page (a DataFrame) at a
time and keeps at most a bounded buffer of them; the file has the columns, headers and cell
text that writing the whole frame with polars gives:

- CSV and NDJSON: each page appended as it comes (the header once, before the first page).
- JSON: the row objects of each page, joined into the one array polars writes.
- Parquet: polars writes a frame whole, and there is no pyarrow here, so pages are gathered
  into part files of `PARQUET_PART_ROWS` rows, then `sink_parquet` streams the parts into the
  file (the same values; row groups may differ).
- XLSX: up to `XLSX_BUFFER_ROWS` rows polars writes the workbook exactly as before (a table,
  columns fitted). Past that xlsxwriter writes rows in order in `constant_memory` mode, which
  allows no table and no autofit: the header row is bold with an autofilter instead; every
  cell keeps the value and number format polars would give it.

A file target is written beside itself under a temporary name and renamed at the end, so a
run that fails half way leaves no half-written sheet (nor overwrites the old one); CSV for a
stream (stdout) is spooled to a temporary file and copied out at the end, for the same reason.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

import polars as pl

XLSX_BUFFER_ROWS = 10_000
PARQUET_PART_ROWS = 25_000  # 1M calls: 232 MiB peak with parts this size, 299 with 100,000
XLSX_MAX_ROWS = 1_048_576  # header included: Excel's limit per worksheet

# What polars' write_excel gives a column of each type (no table style: red negatives).
_INT_FORMAT = "#,##0;[Red]-#,##0"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_DATE_FORMAT = "yyyy-mm-dd;@"


class SheetTooLarge(ValueError):
    """More rows than a worksheet holds."""


class SheetSink:
    """Pages in, one file out. `write` each page in order, then `close`; `rows` so far."""

    def __init__(self, schema: Mapping[str, pl.DataType], *, prepare: Callable | None = None):
        self.schema = pl.Schema(schema)
        self.rows = 0
        self._prepare = prepare  # e.g. formula neutralizing for CSV, per page

    def write(self, frame: pl.DataFrame) -> None:
        if frame.columns != list(self.schema):
            raise ValueError(f"page columns {frame.columns} differ from {list(self.schema)}")
        if self._prepare is not None:
            frame = self._prepare(frame)
        self.rows += frame.height
        self._write(frame)

    def _write(self, frame: pl.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (an empty sheet still has its header)."""

    def abort(self) -> None:
        """Give up on an error: release what the sink holds (its file is removed)."""

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


class FrameSink(SheetSink):
    """The pages gathered into one DataFrame, for an API that returns the sheet whole."""

    def __init__(self, schema: Mapping[str, pl.DataType], **kw: Any):
        super().__init__(schema, **kw)
        self.pages: list[pl.DataFrame] = []

    def _write(self, frame: pl.DataFrame) -> None:
        self.pages.append(frame)

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.pages) if self.pages else self.empty()


class _CsvSink(SheetSink):
    def __init__(self, out: IO[bytes] | TextIO, schema: Any, options: dict, **kw: Any):
        super().__init__(schema, **kw)
        self.out, self.options, self.header_written = out, options, False

    def _write(self, frame: pl.DataFrame) -> None:
        text = frame.write_csv(include_header=not self.header_written, **self.options)
        self.header_written = True
        self.out.write(text.encode() if "b" in getattr(self.out, "mode", "") else text)

    def close(self) -> None:
        if not self.header_written:
            self._write(self.empty())
        self.out.flush()


class _NdjsonSink(SheetSink):
    def __init__(self, out: IO[bytes], schema: Any, **kw: Any):
        super().__init__(schema, **kw)
        self.out = out

    def _write(self, frame: pl.DataFrame) -> None:
        if frame.height:
            frame.write_ndjson(self.out)


class _JsonSink(SheetSink):
    def __init__(self, out: IO[bytes], schema: Any, **kw: Any):
        super().__init__(schema, **kw)
        self.out, self.started = out, False

    def _write(self, frame: pl.DataFrame) -> None:
        if not frame.height:
            return
        body = frame.write_json()[1:-1]  # the page's objects, without the array's brackets
        self.out.write((("," if self.started else "[") + body).encode())
        self.started = True

    def close(self) -> None:
        self.out.write(b"]" if self.started else self.empty().write_json().encode())


class _ParquetSink(SheetSink):
    def __init__(self, path: Path, schema: Any, **kw: Any):
        super().__init__(schema, **kw)
        self.path = path
        self.parts_dir = tempfile.TemporaryDirectory(dir=path.parent, prefix=".parts-")
        self.parts: list[Path] = []
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0

    def _write(self, frame: pl.DataFrame) -> None:
        self.pending.append(frame)
        self.pending_rows += frame.height
        if self.pending_rows >= PARQUET_PART_ROWS:
            self._flush()

    def _flush(self) -> None:
        part = Path(self.parts_dir.name) / f"{len(self.parts):06}.parquet"
        pl.concat(self.pending).write_parquet(part)
        self.parts.append(part)
        self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        try:
            if not self.parts:  # it all fits one part: written as polars always wrote it
                frame = pl.concat(self.pending) if self.pending else self.empty()
                frame.write_parquet(self.path)
                return
            if self.pending:
                self._flush()
            pl.scan_parquet(self.parts).sink_parquet(self.path)
        finally:
            self.parts_dir.cleanup()

    def abort(self) -> None:
        self.parts_dir.cleanup()


class _XlsxSink(SheetSink):
    def __init__(self, path: Path, schema: Any, *, worksheet: str | None, **kw: Any):
        super().__init__(schema, **kw)
        self.path, self.worksheet = path, worksheet
        self.buffer: list[pl.DataFrame] | None = []  # None once streaming
        self.buffered = 0
        self.book: Any = None

    def _write(self, frame: pl.DataFrame) -> None:
        if self.rows >= XLSX_MAX_ROWS:
            raise SheetTooLarge(
                f"{self.path.name}: more than {XLSX_MAX_ROWS - 1:,} rows do not fit a worksheet; "
                f"write .csv or .parquet instead"
            )
        if self.buffer is not None:
            self.buffer.append(frame)
            self.buffered += frame.height
            if self.buffered <= XLSX_BUFFER_ROWS:
                return
            self._start_streaming()
            frames, self.buffer = self.buffer, None
        else:
            frames = [frame]
        for page in frames:
            self._stream(page)

    def _start_streaming(self) -> None:
        # Rows written out as they come.
        self.book = xlsx_workbook(self.path, constant_memory=True)
        self.sheet = self.book.add_worksheet(self.worksheet)
        formats: dict[str, Any] = {}

        def fmt(num_format: str | None) -> Any:
            key = num_format or ""
            if key not in formats:
                options = {"valign": "vcenter", **({"num_format": key} if key else {})}
                formats[key] = self.book.add_format(options)
            return formats[key]

        self.cell_formats = [fmt(_num_format(dtype)) for dtype in self.schema.values()]
        self.uniform = len({id(f) for f in self.cell_formats}) == 1
        bold = self.book.add_format({"bold": True, "valign": "vcenter"})
        self.sheet.write_row(0, 0, list(self.schema), bold)
        self.sheet.freeze_panes(1, 0)
        self.next_row = 1

    def _stream(self, frame: pl.DataFrame) -> None:
        sheet, row = self.sheet, self.next_row
        if self.uniform:
            first = self.cell_formats[0]
            for values in frame.iter_rows():
                sheet.write_row(row, 0, values, first)
                row += 1
        else:
            formats = self.cell_formats
            for values in frame.iter_rows():
                for col, value in enumerate(values):
                    sheet.write(row, col, value, formats[col])
                row += 1
        self.next_row = row

    def close(self) -> None:
        if self.buffer is not None:  # small enough: the workbook polars always wrote
            frame = pl.concat(self.buffer) if self.buffer else self.empty()
            write_xlsx(frame, self.path, worksheet=self.worksheet, autofit=True)
            return
        width = len(self.schema)
        self.sheet.autofilter(0, 0, self.next_row - 1, width - 1)
        self.book.close()

    def abort(self) -> None:
        if self.book is not None:
            self.book.fileclosed = True  # xlsxwriter would warn of a book never closed


def xlsx_workbook(path: Path, **options: Any) -> Any:
    """An xlsxwriter workbook with the options polars gives its own, and text kept as text:
    no cell becomes a formula or a hyperlink (xlsxwriter's default made "mailto:…" a link
    shown without its scheme, and dropped a URL longer than Excel's 2,079 characters — in a
    streamed row, with every cell after it)."""
    import xlsxwriter

    return xlsxwriter.Workbook(
        str(path),
        {
            "use_zip64": True,  # a million rows can pass 4 GiB uncompressed
            "nan_inf_to_errors": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "default_date_format": _DATE_FORMAT,
            **options,
        },
    )


def write_xlsx(
    frame: pl.DataFrame, path: Path, *, worksheet: str | None = None, autofit: bool
) -> None:
    """`frame` as an .xlsx file, as polars writes it, in an `xlsx_workbook`."""
    book = xlsx_workbook(path)
    try:
        frame.write_excel(book, worksheet=worksheet, autofit=autofit)
    finally:
        book.close()


def _num_format(dtype: pl.DataType) -> str | None:
    if dtype.is_integer():
        return _INT_FORMAT
    if isinstance(dtype, pl.Datetime):
        return _DATETIME_FORMAT
    if dtype == pl.Date:
        return _DATE_FORMAT
    return None


@contextmanager
def sheet_sink(
    target: str | Path | TextIO,
    schema: Mapping[str, pl.DataType],
    *,
    csv_options: dict | None = None,
    worksheet: str | None = None,
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> Iterator[SheetSink]:
    """A sink for `target`: a path (its extension picks the format) or a text stream (CSV).

    `prepare` runs on each page before it is written. A path's file appears, complete, only
    when the block ends without an error."""
    options = csv_options or {}
    if not isinstance(target, str | Path):
        # Spooled to a file and copied out at the end: a run that fails (or starts again,
        # as Get-LicenseReport may) sends nothing half-done to the next command of a pipe.
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
            sink = _CsvSink(spool, schema, options, prepare=prepare)
            yield sink
            sink.close()
            spool.seek(0)
            shutil.copyfileobj(spool, target)
            target.flush()
        return
    path = Path(target)
    ext = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=ext)
    os.close(fd)
    partial = Path(partial_name)
    sink: SheetSink | None = None
    try:
        with partial.open("wb") as out:
            if ext == ".csv":
                sink = _CsvSink(out, schema, options, prepare=prepare)
            elif ext in (".ndjson", ".jsonl"):
                sink = _NdjsonSink(out, schema, prepare=prepare)
            elif ext == ".json":
                sink = _JsonSink(out, schema, prepare=prepare)
            elif ext == ".parquet":
                sink = _ParquetSink(partial, schema, prepare=prepare)
            elif ext == ".xlsx":
                sink = _XlsxSink(partial, schema, worksheet=worksheet, prepare=prepare)
            else:
                raise ValueError(f"{path}: cannot write {ext or '(none)'!r} files")
            yield sink
            sink.close()
        os.replace(partial, path)
        sink = None
    finally:
        if sink is not None:
            sink.abort()
        partial.unlink(missing_ok=True)
