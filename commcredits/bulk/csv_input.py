"""CSV in: bytes to a frame of strings, with the bounds that keep a hostile file linear.

The whole file is in memory (at most MAX_FILE_BYTES); it is converted to UTF-8 only when it is
not UTF-8 already, the header line is bounded (it is read character by character), no line may
be longer than MAX_LINE_BYTES, and polars reads at most the rows the cell budget allows.
"""

from __future__ import annotations

import io
import re

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_LINE_BYTES,
    MAX_ROWS,
    MiB,
    plural,
)


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")  # a transient copy, to validate
    except UnicodeDecodeError:
        return False
    return True


def _utf8(raw: bytes) -> bytes:
    """The CSV as UTF-8 bytes, BOM dropped; UTF-16 and Windows-1252 converted. UTF-8 input is
    passed on as it is: a copy of a large file costs as much as the file."""
    if raw.startswith(b"\xef\xbb\xbf"):
        body = raw[3:]
        return body if _is_utf8(body) else body.decode("utf-8", errors="replace").encode()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace").encode()
    return raw if _is_utf8(raw) else raw.decode("cp1252", errors="replace").encode()


def _delimiter(line: str) -> str:
    """The delimiter of the header line: `,`, `;` or tab, counted outside quotes."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _fields(line: str, separator: str) -> int:
    quoted, count = False, 1
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == separator:
            count += 1
    return count


def _header_line(data: bytes, source: str) -> tuple[str, int]:
    """The first line with content, at most MAX_HEADER_BYTES long (it is read char by char),
    and where it starts (after blank or whitespace-only lines)."""
    lead = re.match(rb"[ \t\r\n]*", data)
    start = data.rfind(b"\n", 0, lead.end() if lead else 0) + 1
    end = data.find(b"\n", start, start + MAX_HEADER_BYTES + 1)
    if end < 0:
        if len(data) - start > MAX_HEADER_BYTES:
            raise UsageError(
                f"{source}: the header line is longer than {MAX_HEADER_BYTES // 1024:,} KiB; "
                f"at most {MAX_COLUMNS:,} columns are read"
            )
        end = len(data)
    return data[start:end].rstrip(b"\r").decode("utf-8", errors="replace"), start


def _check_line_lengths(data: bytes, source: str) -> None:
    """Refuse a line longer than MAX_LINE_BYTES without splitting the file: each window of half
    that size must hold a newline (a longer line contains a whole window), and where one does
    not, the line around it is measured. C-speed finds, no copies."""
    half, pos, size = MAX_LINE_BYTES // 2, 0, len(data)
    while pos + half <= size:
        if data.find(b"\n", pos, pos + half) >= 0:
            pos += half
            continue
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        if end - start > MAX_LINE_BYTES:
            line = data.count(b"\n", 0, start) + 1
            raise UsageError(
                f"{source}: line {line:,} is {end - start:,} bytes long; a line may have at "
                f"most {MAX_LINE_BYTES // MiB} MiB"
            )
        pos = end + 1


def _amount(size: int) -> str:
    return f"{size / MiB:,.0f} MiB" if size >= MiB else plural(size, "byte")


def too_big_file(source: str, size: int) -> UsageError:
    return UsageError(
        f"{source}: the file has {_amount(size)}; at most {_amount(MAX_FILE_BYTES)} "
        f"{'is' if MiB <= MAX_FILE_BYTES else 'are'} read (split the sheet)"
    )


def read_csv_bytes(raw: bytes, source: str) -> tuple[pl.DataFrame, int]:
    """The CSV's rows, and the line number of its first row after the header (what a report
    calls that row: the lines before the header, an Excel `sep=` line or blank ones, count)."""
    if len(raw) > MAX_FILE_BYTES:
        raise too_big_file(source, len(raw))
    data = _utf8(raw)
    if not data or data.isspace():
        raise UsageError(f"{source}: the sheet is empty")
    separator, before = None, 0
    if data[:4].lower() == b"sep=":  # Excel's "sep=;" first line
        end = data.find(b"\n")
        first = data[: end if end >= 0 else len(data)].rstrip(b"\r").decode("utf-8", "replace")
        separator = first[4] if len(first) >= 5 else None
        data = data[end + 1 :] if end >= 0 else b""
        before = 1
        if not data or data.isspace():
            raise UsageError(f"{source}: the sheet is empty")
    header, start = _header_line(data, source)
    if start:  # blank or whitespace-only lines first: the reader would take one as the header
        before += data.count(b"\n", 0, start)
        data = data[start:]
    separator = separator or _delimiter(header)
    columns = _fields(header, separator)
    if columns > MAX_COLUMNS:
        raise UsageError(
            f"{source}: the header has {columns:,} columns; at most {MAX_COLUMNS:,} are read"
        )
    _check_line_lengths(data, source)
    allowed = min(MAX_ROWS, MAX_CELLS // columns)
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=True,
            n_rows=allowed + 1,
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise UsageError(f"{source}: cannot read the CSV: {first_line(error)}") from None
    if frame.height > allowed:
        raise UsageError(
            f"{source}: more than {plural(allowed, 'row')} of {plural(columns, 'column')}; at most "
            f"{MAX_ROWS:,} rows and {MAX_CELLS:,} cells are read (split the sheet)"
        )
    return restore_formula_text(frame), before + 2


# OWASP "CSV injection": a cell starting with one of these is run by spreadsheet programs, so
# the CSV files this layer writes prefix it with `'` (report_files.neutralize_formulas).
FORMULA_START = r"^[=+\-@\t\r]"
_NEUTRALIZED = r"^'[=+\-@\t\r]"


def restore_formula_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo that prefix on reading, so a Get-* export read back (Import-Users, a pipeline)
    holds the values it was written from. Only `'` before a formula character is dropped:
    that is exactly what the writer adds."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_NEUTRALIZED))
        .then(pl.col(name).str.slice(1))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def first_line(error: BaseException) -> str:
    """The first line of an exception's text (polars and calamine write several)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
