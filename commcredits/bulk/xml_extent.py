"""The area calamine will allocate for a worksheet, found by streaming its XML first.

calamine (behind fastexcel) turns a sheet into a dense grid from the top-left to the bottom-right
cell holding a value, 32 bytes a cell, so the grid's size, not the file's, is what a hostile
sheet controls. These scanners give an upper bound of that grid without building it.

.xlsx: a cell is at its `r` reference, else one column right of the previous cell (rows
likewise), as calamine's cell reader places it. Writers (Excel, LibreOffice, openpyxl,
xlsxwriter, Google Sheets) write every cell as `<c r="B2"...`: the fast path finds those with
C-speed regular expressions and falls back to the exact walk (expat, every element in Python)
for anything else: a cell without `r`, a namespace prefix, another encoding.
.ods: all tables are expanded when the file is opened, repeats included
(`table:number-rows-repeated`, `table:number-columns-repeated`), so every table is walked.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from xml.parsers import expat

from commcredits.bulk.limits import column_letters

# calamine's own caps when it expands .ods repeats (MAX_ROWS / MAX_COLUMNS in its ods.rs).
ODS_MAX_ROWS = 1_048_576
ODS_MAX_COLUMNS = 16_384
_MAX_TAIL = 1 << 20  # longest text or tag kept back to re-cut chunks at a '<'

# A cell as every mainstream writer spells it, `<c r="B2"`, and a row, `<row r="2"`; any other
# cell start tag (`<c\tr=`, `<c>`, `<c/>`) or a prefixed one (`<x:c `) sends the part to the
# exact walk.
_ROW = re.compile(rb'<row r="([1-9][0-9]{0,6})"')
_OTHER = re.compile(rb"<c[\t\n\r\f\v/>]")
_PREFIXED = re.compile(rb":c[\t\n\r\f\v />]")
_DECLARED = re.compile(rb'^<\?xml[^>]*?encoding\s*=\s*["\']([^"\']*)["\']')
_REF = re.compile(r"([A-Za-z]*)([0-9]+)")
_VALUE = re.compile(rb"<(?:v|is)[ >]")  # a cell's value or inline string (not a formula alone)


class Refused(Exception):
    """A part that cannot be measured (not well-formed, a DTD): the reason, one line."""


@dataclass
class Extent:
    """The grid a reader allocates, from A1: rows × columns (1-based; 0 when empty)."""

    rows: int = 0
    columns: int = 0
    name: str = ""
    # The first row holding a value (1-based; 0: none seen): calamine's grid, and so the
    # sheet's header, starts there, whatever blank rows come before it.
    first_row: int = 0

    @property
    def corner(self) -> str:
        return f"{column_letters(self.columns)}{self.rows}"


def aligned(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks cut again just before a '<', so no tag is split between two of them."""
    tail = b""
    for chunk in chunks:
        data = tail + chunk if tail else chunk
        cut = data.rfind(b"<")
        if cut > 0:
            yield data[:cut]
            tail = data[cut:]
        elif len(data) > _MAX_TAIL:  # a very long text or tag: its start is already in `data`
            yield data
            tail = b""
        else:
            tail = data
    if tail:
        yield tail


@lru_cache(maxsize=64)
def _cells_up_to(top: int) -> re.Pattern[bytes]:
    """Every `<c ` start tag; for those spelt `<c r="` + column + a row from 1 to `top` (no
    leading zero), the column captured, for any other b"" (so one pass both counts the cell
    starts and finds those that are not plain)."""
    digits = str(top)
    same = [digits]  # numbers of the same length, at most `top`
    for i, ch in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(ch) - 1 >= low:
            same.append(f"{digits[:i]}[{low}-{int(ch) - 1}][0-9]{{{len(digits) - i - 1}}}")
    shorter = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    rows = "|".join(same + shorter) if top > 0 else "(?!)"
    return re.compile(rb'<c (?:r="([A-Z]{1,3})(?:' + rows.encode() + rb')"|)')


def _column(letters: bytes | str) -> int:
    index = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.decode().upper():
        index = index * 26 + ord(ch) - 64
    return index


def _plain(first: bytes) -> bool:
    """True when tags are ASCII bytes in this part (UTF-8 or ASCII): what the fast path reads."""
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    if not first.startswith(b"<") or first[1:2] == b"\x00":
        return False  # UTF-16/32, with or without a byte order mark
    declared = _DECLARED.match(first)
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8", b"us-ascii")


def _regions(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, int, int]]:
    """(buffer, start, end) regions of the chunks that split no tag, without copying a chunk:
    a tag cut by a chunk boundary comes as a small buffer of its own."""
    tail = b""
    for chunk in chunks:
        first, last = chunk.find(b"<"), chunk.rfind(b"<")
        if first < 0:  # all text, or the inside of a very long tag
            tail += chunk
            if len(tail) > _MAX_TAIL:
                yield tail, 0, len(tail)
                tail = b""
            continue
        if tail:
            yield tail + chunk[:first], 0, len(tail) + first
        if last > first:
            yield chunk, first, last
        tail = chunk[last:]
    if tail:
        yield tail, 0, len(tail)


def _fast(chunks: Iterable[bytes]) -> Extent | None:
    """The extent when every cell is spelt `<c r="A1"` within a row seen so far, else None
    (the exact walk decides).

    One regular-expression pass per chunk finds every `<c ` and, for each, its column when its
    row is at most the highest `<row r=` seen so far (rows come before their cells): a cell
    without one (beyond those rows, or spelt otherwise) sends the part to the exact walk. It
    counts every cell, empty ones too (a styled empty cell is not in calamine's grid), and
    takes the rows from the row tags, so it can only over-estimate; the caller re-checks an
    over-limit answer exactly."""
    letters: set[bytes] = set()
    top = first = 0
    for n, (buf, start, end) in enumerate(_regions(chunks)):
        if n == 0 and not _plain(buf[start : start + 256]):
            return None
        if _OTHER.search(buf, start, end) or _PREFIXED.search(buf, start, end):
            return None
        if not first and (value := _VALUE.search(buf, start, end)):
            # Rows come in order, so the first value's row is the last row tag before it
            # (in this region, or the last one seen before it).
            tag = buf.rfind(b'<row r="', start, value.start())
            row = _ROW.match(buf, tag, end) if tag >= 0 else None
            first = int(row.group(1)) if row else top
        last = buf.rfind(b'<row r="', start, end)
        if last >= 0 and (row := _ROW.match(buf, last, end)):
            top = max(top, int(row.group(1)))
        letters.update(_cells_up_to(top).findall(buf, start, end))
        if b"" in letters:  # a cell past the rows seen, or spelt otherwise
            return None
    columns = max(map(_column, letters), default=0)
    return Extent(top if columns else 0, columns, first_row=first)


def _parser(refuse_dtd: Callable[..., None]) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    # Workbook XML never has a DTD; one here is an entity expansion attack ("billion laughs").
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    return parser


def _dtd(*_: object) -> None:
    raise Refused("its XML declares a DTD (<!DOCTYPE> or <!ENTITY>), which no workbook has")


def _feed(parser: expat.XMLParserType, chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise Refused(f"its XML is not well-formed ({error})") from None


def _ref(value: str | None) -> tuple[int, int | None] | None:
    """`B12` -> (12, 2), `12` -> (12, None), as calamine reads a reference; None if invalid."""
    match = _REF.fullmatch(value or "")
    if match is None:
        return None
    return int(match.group(2)), (_column(match.group(1)) if match.group(1) else None)


class _Past(Exception):
    """The walk found the extent past the limits: no need to read on."""


def _exact(chunks: Iterable[bytes], fits: Callable[[Extent], bool]) -> Extent:
    """The extent by calamine's rules for placing cells, as an upper bound: a reference that
    calamine might skip (an entity inside it) is taken with the running position, whichever
    is further. Only cells with a child element (a value, a string, a formula) count. Stops at
    the first cell that takes the extent past `fits`."""
    state = {"row": 0, "col": 0, "max_row": 0, "max_col": 0, "first_row": 0}
    cell: list[int] = []  # [row, col, has_value] while inside a <c>

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if cell:
            cell[2] = 1
        elif local == "row":
            ref = _ref(attrs.get("r"))
            if ref is not None:
                state["row"] = max(state["row"], ref[0] - 1)
        elif local == "c":
            row, col = state["row"], state["col"]
            ref = _ref(attrs.get("r"))
            if ref is not None and ref[1] is not None:
                row, col = max(row, ref[0] - 1), max(col, ref[1] - 1)
            state["col"] = col + 1
            cell.extend((row, col, 0))

    def end(name: str) -> None:
        local = name.rpartition(":")[2]
        if cell and local == "c":  # calamine ends a cell at the first </c>, nested or not
            if cell[2] and not state["first_row"]:
                state["first_row"] = cell[0] + 1
            if cell[2] and (cell[0] >= state["max_row"] or cell[1] >= state["max_col"]):
                state["max_row"] = max(state["max_row"], cell[0] + 1)
                state["max_col"] = max(state["max_col"], cell[1] + 1)
                if not fits(Extent(state["max_row"], state["max_col"])):
                    raise _Past
            cell.clear()
        elif not cell and local == "row":
            state["row"] += 1
            state["col"] = 0

    parser = _parser(_dtd)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    with contextlib.suppress(_Past):
        _feed(parser, chunks)
    return Extent(state["max_row"], state["max_col"], first_row=state["first_row"])


def worksheet_extent(
    open_part: Callable[[], Iterable[bytes]], fits: Callable[[Extent], bool]
) -> Extent:
    """The grid of one .xlsx worksheet part; `open_part` streams it (again, if the exact walk
    is needed); `fits` says whether an extent is within the limits."""
    found = _fast(open_part())
    if found is not None and fits(found):
        return found
    return _exact(open_part(), fits)


def ods_extents(chunks: Iterable[bytes]) -> list[Extent]:
    """Every table of an .ods content.xml: its grid once calamine expands repeats, rows ×
    columns from A1, and (in `columns`) the larger of that width and the cells it keeps per
    row before expanding, all rows summed, divided back by rows (so rows × columns bounds
    both)."""
    tables: list[Extent] = []
    table: dict[str, int] = {}
    row: dict[str, int] = {}
    cell: list[int] = []  # [repeats, depth, has_value] while inside a cell

    def start(name: str, attrs: dict[str, str]) -> None:
        if cell:
            cell[1] += 1
            cell[2] = 1
        elif name == "table:table":
            table.clear()
            table.update(rows=0, last_data_rows=0, max_col=0, kept=0)
            tables.append(Extent(name=attrs.get("table:name", "")))
        elif name == "table:table-row" and table:
            repeats = _count(attrs.get("table:number-rows-repeated"))
            repeats = min(repeats, ODS_MAX_ROWS - table["rows"])
            table["rows"] += repeats
            row.clear()
            row.update(pos=0, pending=0, last=-1)
        elif name in ("table:table-cell", "table:covered-table-cell") and row:
            repeats = _count(attrs.get("table:number-columns-repeated"))
            valued = any(a in attrs for a in _ODS_VALUES)
            cell.extend((repeats, 0, 1 if valued else 0))

    def end(name: str) -> None:
        if cell and cell[1]:
            cell[1] -= 1
            return
        if cell:
            repeats, _, valued = cell
            cell.clear()
            row["pos"] += min(row["pending"], ODS_MAX_COLUMNS - row["pos"])
            row["pending"] = 0
            repeats = min(repeats, ODS_MAX_COLUMNS - row["pos"])
            if valued:
                row["pos"] += repeats
                row["last"] = row["pos"] - 1
            else:
                row["pending"] = repeats
        elif name == "table:table-row" and row and table:
            table["kept"] += row["pos"]
            if row["last"] >= 0:
                table["last_data_rows"] = table["rows"]
                table["max_col"] = max(table["max_col"], row["last"] + 1)
            row.clear()
        elif name == "table:table" and table:
            rows, width = table["last_data_rows"], table["max_col"]
            if rows:
                width = max(width, -(-table["kept"] // rows))
            tables[-1].rows, tables[-1].columns = rows, width
            table.clear()

    parser = _parser(_dtd)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    _feed(parser, chunks)
    return tables


_ODS_VALUES = (
    "office:value",
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "office:boolean-value",
    "table:formula",
)


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 1
