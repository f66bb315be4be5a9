"""Checks of an OLE compound file (an .xls, or an .xlsx that is one: a password-protected
workbook) before calamine reads it.

calamine's compound-file reader reserves the table sizes its header states and follows sector
chains without noticing a loop, and its .xls reader reserves what each sheet's DIMENSIONS record
states, jumps to each BoundSheet8 offset unchecked, and builds every sheet's grid when the file
is opened. So: the header's counts are held against the file's size, chains against loops and
the allocation table, and the workbook stream is walked the way calamine walks it (record by
record, every sheet) to bound each grid and their sum. Raises `Refused`; returns quietly when
calamine would stop with an error of its own (a damaged file is its message to give).
"""

from __future__ import annotations

import struct
from pathlib import Path

from commcredits.bulk.limits import MAX_CELLS, MAX_SHEETS, check_area, column_letters, plural
from commcredits.bulk.xml_extent import Refused

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_END = 0xFFFFFFFE
_RESERVED = 0xFFFFFFFA  # ids from here on are markers, not sectors
_DIFSECT = 0xFFFFFFFC
_MAX_TABLE = 16 * 1024 * 1024  # entries of 4 bytes: 64 MiB reserved at most
_STREAMS = ("Workbook", "Book", "WORKBOOK", "BOOK")  # the names calamine tries, in order
# Records that put a cell at (row, column) = the first two 16-bit fields [MS-XLS 2.4]:
# Number, Label, RString, BoolErr, Rk, LabelSst, Formula (MulRk is handled on its own).
_CELLS = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006}


class _Stop(Exception):
    """calamine would fail here on its own: nothing more to check."""


def check(path: Path, is_xls: bool) -> None:
    data = path.read_bytes()  # at most MAX_FILE_BYTES: read_sheet checked the size
    try:
        cfb = _Compound(data)
        if is_xls:
            stream = next((s for s in map(cfb.stream, _STREAMS) if s is not None), None)
            if stream is not None:
                _check_workbook_stream(stream)
    except _Stop:
        return
    except (IndexError, struct.error):
        return  # truncated structures: calamine stops with an error too


def _u32s(data: bytes) -> list[int]:
    return list(struct.unpack_from(f"<{len(data) // 4}I", data))


class _Compound:
    """The directory, allocation tables and mini stream, as calamine's `Cfb::new` loads them."""

    def __init__(self, data: bytes):
        if len(data) < 512 or data[:8] != OLE_MAGIC:
            raise _Stop
        shift, mini_shift = struct.unpack_from("<HH", data, 30)
        if shift not in (9, 12) or mini_shift != 6:
            raise _Stop
        self.data = data
        self.size = 1 << shift
        self.offset = 512 if shift == 9 else 4096  # sectors start after the header sector
        self.maxid = len(data) // self.size
        version = struct.unpack_from("<H", data, 26)[0]
        fat_len, dir_start = struct.unpack_from("<II", data, 44)
        mini_fat_start, mini_fat_len, difat_start = struct.unpack_from("<III", data, 60)
        # calamine reserves the DIFAT from bytes 62..66 and the FAT from the header's count.
        (difat_len,) = struct.unpack_from("<I", data, 62)
        if difat_len > _MAX_TABLE or fat_len > self.maxid + 1:
            raise Refused(
                "its header declares allocation tables larger than the file could hold "
                "(a damaged or hostile file)"
            )
        difat = _u32s(data[76:512])
        seen: set[int] = set()
        sector_id = difat_start
        while sector_id < _RESERVED:
            self._visit(sector_id, seen)
            difat.extend(_u32s(self.sector(sector_id)))
            sector_id = difat.pop()
        fat_ids = [i for i in difat if i < _DIFSECT]
        if len(fat_ids) > self.maxid + 1:
            raise Refused("its allocation table is listed as larger than the file")
        self.fat: list[int] = []
        for i in fat_ids:
            if i > self.maxid:
                raise _Stop
            self.fat.extend(_u32s(self.sector(i)))
        raw = self.chain(dir_start, None)
        self.dirs = [self._entry(raw[i : i + 128]) for i in range(0, len(raw) - 127, 128)]
        if not self.dirs or (version != 3 and self.dirs[0][1] == _END):
            raise _Stop
        self.mini = b""
        self.mini_fat: list[int] = []
        if mini_fat_len > 0:
            self.mini = self.chain(self.dirs[0][1], self.dirs[0][2])
            self.mini_fat = _u32s(self.chain(mini_fat_start, mini_fat_len * self.size))

    def _visit(self, sector_id: int, seen: set[int]) -> None:
        if sector_id > self.maxid:
            raise _Stop
        if sector_id in seen:
            raise Refused("its sector chains loop (a damaged or hostile file)")
        seen.add(sector_id)

    def sector(self, sector_id: int) -> bytes:
        start = self.offset + sector_id * self.size
        return self.data[start : start + self.size]

    def chain(self, sector_id: int, length: int | None) -> bytes:
        """The sectors from `sector_id` on, up to `length` bytes (all, when None)."""
        out = bytearray()
        seen: set[int] = set()
        while sector_id != _END:
            self._visit(sector_id, seen)
            out += self.sector(sector_id)
            if length is not None and len(out) >= length:
                return bytes(out[:length])
            if sector_id >= len(self.fat):
                raise Refused("a sector chain points outside its allocation table")
            sector_id = self.fat[sector_id]
        return bytes(out)

    def _entry(self, raw: bytes) -> tuple[str, int, int]:
        name = raw[:64].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        start = struct.unpack_from("<I", raw, 116)[0]
        fmt = "<I" if self.size == 512 else "<Q"
        return name, start, struct.unpack_from(fmt, raw, 120)[0]

    def stream(self, name: str) -> bytes | None:
        entry = next((d for d in self.dirs if d[0] == name), None)
        if entry is None:
            return None
        _, start, length = entry
        if length >= 4096:
            return self.chain(start, length)
        out = bytearray()
        seen: set[int] = set()
        sector_id = start
        while sector_id != _END and len(out) < length:
            if sector_id > self.maxid * 8:
                raise _Stop
            if sector_id in seen:
                raise Refused("its sector chains loop (a damaged or hostile file)")
            seen.add(sector_id)
            if sector_id * 64 + 64 > len(self.mini):
                raise Refused("a stream lies outside its mini stream (a damaged or hostile file)")
            out += self.mini[sector_id * 64 : sector_id * 64 + 64]
            if sector_id >= len(self.mini_fat):
                raise Refused("a sector chain points outside its allocation table")
            sector_id = self.mini_fat[sector_id]
        return bytes(out[:length])


def _records(stream: bytes, pos: int):
    """(type, data, end) of each record from `pos`, Continue records folded in, as calamine's
    RecordIter reads them; stops (_Stop) where calamine would fail."""
    n = len(stream)
    while pos < n:
        if n - pos < 4:
            raise _Stop
        typ, length = struct.unpack_from("<HH", stream, pos)
        if n - pos < length + 4:
            raise _Stop
        data = stream[pos + 4 : pos + 4 + length]
        pos += 4 + length
        while n - pos > 4 and struct.unpack_from("<H", stream, pos)[0] == 0x003C:
            (length,) = struct.unpack_from("<H", stream, pos + 2)
            if n - pos < length + 4:
                raise _Stop
            pos += 4 + length
        yield typ, data, pos


def _check_workbook_stream(stream: bytes) -> None:
    positions: list[int] = []
    names: dict[int, str] = {}
    for typ, data, _ in _records(stream, 0):
        if typ == 0x002F and data[:2] != b"\x00\x00":
            return  # encrypted: calamine stops with "password protected"
        if typ == 0x0085 and len(data) >= 4:  # BoundSheet8: where the sheet's records start
            positions.append(struct.unpack_from("<I", data)[0])
            names.setdefault(positions[-1], _sheet_name(data, len(positions)))
        elif typ == 0x000A:
            break
    if len(positions) > MAX_SHEETS:
        raise Refused(f"the workbook has more than {MAX_SHEETS:,} sheets")
    if len(set(positions)) != len(positions):
        raise Refused("two sheets share one record stream (a hostile file)")
    if any(p > len(stream) for p in positions):
        raise Refused("a sheet starts past the end of the workbook stream (a damaged file)")
    ordered = sorted(positions)
    total = 0
    for n, pos in enumerate(ordered):
        limit = ordered[n + 1] if n + 1 < len(ordered) else len(stream)
        rows, columns = _walk_sheet(stream, pos, limit, names[pos])
        total += rows * columns
    if total > MAX_CELLS:
        raise Refused(
            f"its sheets together reach {plural(total, 'cell')}, all read when the file is "
            f"opened; at most {MAX_CELLS:,} are read"
        )


def _sheet_name(data: bytes, number: int) -> str:
    """The name in a BIFF8 BoundSheet8 (best effort: a label for messages only)."""
    if len(data) >= 8:
        count, high = data[6], data[7] & 1
        raw = data[8 : 8 + count * (2 if high else 1)]
        return raw.decode("utf-16-le" if high else "latin-1", errors="replace")
    return f"sheet {number}"


def _walk_sheet(stream: bytes, pos: int, limit: int, name: str) -> tuple[int, int]:
    """The grid (rows, columns from A1) of the sheet whose records start at `pos`; its records
    must end (EOF) before the next sheet's start, so every byte is walked once."""
    rows = columns = 0
    what = f"the sheet {name!r}"
    for typ, data, end in _records(stream, pos):
        if typ == 0x0200:  # Dimensions: calamine reserves rows × columns for it
            wanted_rows, wanted_columns = _dimensions(data)
            if check_area("", "", wanted_rows, wanted_columns, None) is not None:
                raise Refused(
                    f"{what} declares {plural(wanted_rows, 'row')} × "
                    f"{plural(wanted_columns, 'column')} (its DIMENSIONS record); at most "
                    f"{MAX_CELLS:,} cells are read (a damaged or hostile file)"
                )
        elif typ in _CELLS and len(data) >= 4:
            row, col = struct.unpack_from("<HH", data)
            rows, columns = max(rows, row + 1), max(columns, col + 1)
        elif typ == 0x00BD and len(data) >= 6:  # MulRk: a run of cells from col_first
            row, first = struct.unpack_from("<HH", data)
            last = struct.unpack_from("<H", data, len(data) - 2)[0]
            if len(data) == 6 + 6 * ((last - first + 1) & 0xFFFF):
                rows = max(rows, row + 1)
                columns = max(columns, first + (len(data) - 6) // 6)
        if typ == 0x000A:
            break
        if end > limit:
            raise Refused(f"{what} runs into the next one (a damaged or hostile file)")
    corner = f"{column_letters(columns)}{rows}" if rows else None
    reason = check_area("", what, rows, columns, corner)
    if reason is not None:
        raise Refused(reason.removeprefix(": "))
    return rows, columns


def _dimensions(data: bytes) -> tuple[int, int]:
    """The rows × columns calamine reserves for a DIMENSIONS record (its u32 arithmetic)."""
    if len(data) == 10:
        first_row, last_row, first_col, last_col = struct.unpack_from("<HHHH", data)
    elif len(data) == 14:
        first_row, last_row, first_col, last_col = struct.unpack_from("<IIHH", data)
    else:
        raise _Stop
    if first_col > 0xFF or last_col < first_col:
        first_col = 0
    if last_row >= 1 and last_col >= 1:
        rows = ((last_row - 1) - first_row + 1) & 0xFFFFFFFF
        cols = ((last_col - 1) - first_col + 1) & 0xFFFFFFFF
        return rows, cols
    return 1, 1
