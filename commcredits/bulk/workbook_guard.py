"""A workbook is inspected before fastexcel (calamine) opens it, and refused with one line
(UsageError, exit 2) when reading it would cost more than the bounds in `limits`.

calamine trusts the file: a stray cell far away makes it allocate the whole grid up to it, a
zip entry inflates as far as it goes, `<sst uniqueCount>` is reserved as given, and its .xls
reader trusts sector chains and the DIMENSIONS record. What is checked, per format:

- .xlsx/.xlsm: the zip directory (entry count, no name twice), then every part calamine parses
  (package and workbook relationships, workbook, styles, shared strings, the worksheet read) is
  inflated in a stream with its real size and ratio bounded and no DTD; the shared strings'
  declared count must fit their size; the worksheet's grid is measured (`xml_extent`).
- .ods: the same zip checks; every table of content.xml is measured, repeats expanded.
- .xls (and an .xlsx that is an OLE container, such as a password-protected one): `xls_guard`.
- .xlsb: refused; its binary records would need a parser of their own (save as .xlsx).
"""

from __future__ import annotations

import copy
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

from commcredits.bulk import xls_guard
from commcredits.bulk.errors import UsageError
from commcredits.bulk.limits import (
    MAX_CELLS,
    MAX_PART_BYTES,
    MAX_RATIO,
    MAX_SHEETS,
    MAX_ZIP_ENTRIES,
    RATIO_FLOOR_BYTES,
    MiB,
    check_area,
    plural,
)
from commcredits.bulk.xml_extent import (
    Extent,
    Refused,
    aligned,
    ods_extents,
    worksheet_extent,
)

CHUNK = 16 * MiB
MAX_META_BYTES = 64 * MiB  # relationships, workbook.xml, styles.xml, the .ods manifest
_DTD = re.compile(rb"<!(?i:doctype|entity)")
_SST = re.compile(rb"<(?:[\w.\-]+:)?sst\b[^>]*?\buniqueCount\s*=\s*[\"']([^\"']*)[\"']")
_EOCD = b"PK\x05\x06"


@dataclass(frozen=True)
class Checked:
    """What checking a workbook found out about the sheet to load."""

    # .xlsx: the one sheet measured (-1: none has that name), which the caller must load and
    # no other; None: every sheet the reader builds was measured (.ods, .xls).
    index: int | None
    # The sheet's first row holding a value (.xlsx; 0: not known): where the reader's grid,
    # and the header, begin, blank rows above it skipped.
    first_row: int = 0


def check_workbook(path: Path, sheet_name: str | None) -> Checked:
    """Raise UsageError when `path` (a workbook) must not be handed to the reader; else what
    it found (`Checked`)."""
    ext = path.suffix.lower()
    with path.open("rb") as f:
        magic = f.read(8)
    try:
        if ext == ".xlsb":
            raise Refused(
                "binary workbooks (.xlsb) are not read; save it as .xlsx (Excel: File > Save As)"
            )
        if magic == xls_guard.OLE_MAGIC and ext != ".ods":
            # calamine parses an OLE header for .xls, and for .xlsx to spot an encrypted one
            xls_guard.check(path, ext == ".xls")
        if ext == ".xls":
            return Checked(None)
        # A zip, even behind other bytes (an OLE header, a stub): both zip readers find it
        # from the end, so it is checked whatever the file starts with.
        with _Archive(path) as archive:
            if ext == ".ods":
                archive.check_ods()
                return Checked(None)
            return archive.check_xlsx(sheet_name)
    except Refused as refused:
        raise UsageError(f"{path}: {refused}") from None


class _Archive:
    """The zip of an .xlsx/.ods, read the way calamine looks parts up (case-insensitively)."""

    def __init__(self, path: Path):
        self.path = path
        _check_directory(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
            # Unread here means unchecked: calamine must not read it either.
            raise Refused(
                "cannot read the workbook: not a readable workbook (password-protected or "
                f"damaged?): {error}"
            ) from None
        self.names: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            key = info.filename.replace("\\", "/").lower()
            if key in self.names:
                raise Refused(f"the archive lists {info.filename!r} twice")
            self.names[key] = info

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def find(self, name: str) -> zipfile.ZipInfo | None:
        info = self.names.get(name.lower())
        if info is None:
            try:
                info = self.zip.getinfo(name)
            except KeyError:
                return None
        return info

    def inflate(self, info: zipfile.ZipInfo, limit: int = MAX_PART_BYTES) -> Iterator[bytes]:
        """The part's bytes, in chunks, refused past `limit`, a zip-bomb ratio, or a DTD."""
        declared, packed = info.file_size, max(info.compress_size, 1)
        if declared > limit:
            raise Refused(_too_big(info.filename, declared, limit))
        if declared > RATIO_FLOOR_BYTES and declared > MAX_RATIO * packed:
            raise Refused(_bomb(info.filename, declared, packed))
        # Read what the entry holds, not what its header claims: the size fields can lie.
        opened = copy.copy(info)
        opened.file_size = limit + 1
        total = 0
        try:
            with self.zip.open(opened) as stream:
                while chunk := stream.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise Refused(_too_big(info.filename, total, limit, "at least "))
                    if total > RATIO_FLOOR_BYTES and total > MAX_RATIO * packed:
                        raise Refused(_bomb(info.filename, total, packed))
                    # A DTD can only open a document (its prolog): the first chunk holds it.
                    if total == len(chunk) and _DTD.search(chunk):
                        raise Refused(
                            f"{info.filename} declares a DTD (<!DOCTYPE> or <!ENTITY>), "
                            f"which no workbook has; entity expansion is not read"
                        )
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
            raise Refused(f"{info.filename} cannot be inflated: {error}") from None

    def drain(self, name: str, limit: int = MAX_META_BYTES) -> int:
        """Inflate a part calamine parses only to check it; its size (0 when absent)."""
        info = self.find(name)
        return sum(len(c) for c in self.inflate(info, limit)) if info else 0

    def check_xlsx(self, sheet_name: str | None) -> Checked:
        """The parts calamine reads when it opens the file, then the one sheet to be loaded
        (the first, or the first named `sheet_name`): its index, -1 when there is none, and
        its first row with a value."""
        self._declared_sizes()
        office = self._elements("_rels/.rels", "Relationship", _is_office_document)
        xl = _document_folder(office)
        sheets = self._elements(f"{xl}workbook.xml", "sheet")
        if len(sheets) > MAX_SHEETS:
            raise Refused(f"the workbook has more than {MAX_SHEETS:,} sheets")
        names = [s.get("name") for s in sheets]
        index = 0
        if sheet_name is not None:
            index = names.index(sheet_name) if sheet_name in names else -1
        wanted = sheets[index] if 0 <= index < len(sheets) else None
        ids = {_rel_id(wanted)} if wanted else set()
        rels = {  # the last relationship with an Id wins, as in calamine's map
            r.get("Id"): r.get("Target", "")
            for r in self._elements(
                f"{xl}_rels/workbook.xml.rels", "Relationship", lambda a: a.get("Id") in ids
            )
        }
        self.drain(f"{xl}styles.xml")
        self._check_shared_strings(f"{xl}sharedStrings.xml")
        first_row = 0
        if wanted is not None:
            target = rels.get(_rel_id(wanted), "")
            info = self.find(target[1:] if target.startswith("/") else xl + target)
            if info is not None:  # else calamine reports the missing part
                found = worksheet_extent(lambda: self.inflate(info), _fits)
                _refuse_area(f"the sheet {wanted.get('name', '')!r}", found)
                first_row = found.first_row
        return Checked(index, first_row)

    def check_ods(self) -> None:
        self._declared_sizes()
        self.drain("META-INF/manifest.xml")
        info = self.find("content.xml")
        if info is None:
            return
        try:
            tables = ods_extents(aligned(self.inflate(info)))
        except Refused as refused:
            raise Refused(f"content.xml: {refused}") from None
        if len(tables) > MAX_SHEETS:
            raise Refused(f"the workbook has more than {MAX_SHEETS:,} sheets")
        for table in tables:  # calamine expands every table when it opens the file
            _refuse_area(f"the sheet {table.name!r}", table)
        total = sum(t.rows * t.columns for t in tables)
        if total > MAX_CELLS:
            raise Refused(
                f"its sheets together reach {plural(total, 'cell')}, all read when the file is "
                f"opened; at most {MAX_CELLS:,} are read"
            )

    def _declared_sizes(self) -> None:
        """Parts calamine does not parse are not inflated here; a header that admits a bomb is
        refused all the same (it costs nothing to see)."""
        for info in self.names.values():
            if info.file_size > MAX_PART_BYTES:
                raise Refused(_too_big(info.filename, info.file_size, MAX_PART_BYTES))
            packed = max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * packed:
                raise Refused(_bomb(info.filename, info.file_size, packed))

    def _elements(
        self, name: str, local: str, keep: Callable[[dict[str, str]], bool] | None = None
    ) -> list[dict[str, str]]:
        """The attributes of the `local` elements of a small part that `keep` accepts (all by
        default, but never more than MAX_SHEETS + 1: past that the caller refuses)."""
        info = self.find(name)
        if info is None:
            return []
        found: list[dict[str, str]] = []

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag.rpartition(":")[2] == local and (
                keep(attrs) if keep else len(found) <= MAX_SHEETS
            ):
                found.append(attrs)

        parser = expat.ParserCreate()
        parser.StartElementHandler = start
        try:
            for chunk in self.inflate(info, MAX_META_BYTES):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise Refused(f"{info.filename} is not well-formed XML ({error})") from None
        return found

    def _check_shared_strings(self, name: str) -> None:
        """calamine reserves `<sst uniqueCount>` strings (24 bytes each) before reading one:
        the count may not exceed what the part could hold (an empty string is `<si/>`)."""
        info = self.find(name)
        if info is None:
            return
        declared, size = None, 0
        for chunk in self.inflate(info):
            if declared is None and (match := _SST.search(chunk[:65536])):
                digits = re.sub(rb"[^0-9]", b"", match.group(1))
                declared = int(digits) if digits else 0
            size += len(chunk)
        if declared is not None and declared > size // 5 + 1:
            raise Refused(
                f"{info.filename} declares {plural(declared, 'shared string')} in "
                f"{plural(size, 'byte')}; it cannot hold that many"
            )


def _check_directory(path: Path) -> None:
    """The zip's end record, before anything lists the entries: its entry count and directory
    size decide what both zip readers (Python's and calamine's) allocate."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - 65557))
        tail = f.read()
        at = tail.rfind(_EOCD)
        while at >= 0:
            if len(tail) - at >= 22:
                disk, total, cd_size, cd_offset = struct.unpack_from("<HHII", tail, at + 8)
                entries = max(disk, total)
                if (
                    0xFFFF in (disk, total)
                    and at >= 20
                    and tail[at - 20 : at - 16] == b"PK\x06\x07"
                ):
                    (zip64,) = struct.unpack_from("<Q", tail, at - 12)
                    if zip64 < size:
                        f.seek(zip64)
                        record = f.read(56)
                        if len(record) == 56 and record[:4] == b"PK\x06\x06":
                            d64, t64, cd_size, cd_offset = struct.unpack_from("<QQQQ", record, 24)
                            entries = max(d64, t64)
                if entries > MAX_ZIP_ENTRIES:
                    raise Refused(
                        f"the archive has {entries:,} entries; a workbook read here has at "
                        f"most {MAX_ZIP_ENTRIES:,}"
                    )
                if cd_size > size or (cd_size != 0xFFFFFFFF and cd_offset > size):
                    raise Refused("the archive's directory points past the end of the file")
            at = tail.rfind(_EOCD, 0, at)


def _is_office_document(rel: dict[str, str]) -> bool:
    return rel.get("Type", "").endswith("/relationships/officeDocument") and "Target" in rel


def _document_folder(office: list[dict[str, str]]) -> str:
    """`xl/`, from the package's (last) officeDocument relationship, as calamine resolves it."""
    if not office:
        return "xl/"
    target = office[-1]["Target"]
    return (target[: target.rfind("/") + 1] if "/" in target else "").removeprefix("/")


def _rel_id(sheet: dict[str, str]) -> str:
    """calamine takes the last attribute named `id` in any namespace (`r:id`)."""
    found = ""
    for key, value in sheet.items():
        if key.rpartition(":")[2] == "id":
            found = value
    return found


def _fits(found: Extent) -> bool:
    return check_area("", "", found.rows, found.columns, None) is None


def _refuse_area(what: str, found: Extent) -> None:
    reason = check_area("", what, found.rows, found.columns, found.corner)
    if reason is not None:
        raise Refused(reason.removeprefix(": "))


def _too_big(name: str, size: int, limit: int, prefix: str = "") -> str:
    return (
        f"{name} inflates to {prefix}{size / MiB:,.0f} MiB; at most {limit // MiB:,} MiB of a "
        f"part is read"
    )


def _bomb(name: str, size: int, packed: int) -> str:
    return (
        f"{name} inflates {size // packed:,} times its packed size ({size / MiB:,.0f} MiB from "
        f"{packed:,} bytes): a zip bomb; real sheets inflate less than {MAX_RATIO} times"
    )
