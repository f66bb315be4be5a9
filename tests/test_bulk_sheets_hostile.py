"""Hostile sheets (issue 11, item 3, and its siblings): each is refused with one line and exit
code 2, or read within the bounds of `commcredits.bulk.limits`; none costs more than time linear
in its size or memory past a fixed ceiling. Every file is built here by hand, byte by byte where
a writer would refuse to produce it.

Without the guards, these files made calamine (behind fastexcel) abort the process: the far cell
(23 GB), refless cells after a far row, a prefixed or lower-case reference, a shared-string count
of 999,999,999,999 (24 TB), an .xls DIMENSIONS record that wraps around (137 GB) and an OLE header
with a huge FAT count (17 GB), the .xlsx variant included.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from commcredits.bulk import cli, csv_input, sheets
from commcredits.bulk.errors import UsageError
from commcredits.bulk.limits import MAX_CELLS, MAX_COLUMNS
from commcredits.bulk.reports import Report
from commcredits.bulk.sheets import INVALID_CHARACTER, read_sheet, report_faults
from commcredits.models import User
from commcredits.services import seats
from commcredits.services.access import SYSTEM

ROOT = Path(__file__).resolve().parents[1]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_LOL = [f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10)]
LAUGHS = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(_LOL) + "]>"


def run(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def refused(source: Path | str, **kw) -> str:
    with pytest.raises(UsageError) as caught:
        read_sheet(source, **kw)
    return str(caught.value)


# --- Workbooks written by hand ------------------------------------------------------------------


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def row(number: int | None, *cells: str, extra: str = "") -> str:
    r = f' r="{number}"' if number is not None else ""
    return f"<row{r}{extra}>{''.join(cells)}</row>"


HEADER = row(1, cell("A1", "UserPrincipalName")) + row(2, cell("A2", "user0@fabrikam.example"))


def xlsx(
    path: Path,
    sheet_data: str = HEADER,
    *,
    dimension: str | None = None,
    shared: str | None = None,
    workbook: str | None = None,
    prolog: str = "",
    parts: dict[str, bytes | str] | None = None,
) -> Path:
    """A minimal .xlsx: one worksheet, inline strings (or `shared`), parts overridable."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    files: dict[str, bytes | str] = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types/>',
        "_rels/.rels": (
            f'<?xml version="1.0"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": workbook
        or (
            f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
            f'<sheet name="Users" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{MAIN}">{dim}'
            f"<sheetData>{sheet_data}</sheetData></worksheet>"
        ),
    }
    if shared is not None:
        files["xl/sharedStrings.xml"] = shared
    files.update(parts or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def lie_about_size(path: Path, name: str, size: int) -> None:
    """Rewrite the zip's central directory so that `name` claims to inflate to `size` bytes."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


# --- The far cell (the issue's own case) ---------------------------------------------------------


@pytest.fixture
def fabrikam(tenant, clock):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    return tenant


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_a_far_stray_cell_is_refused_under_a_memory_limit_and_quickly(fabrikam, tmp_path):
    only = xlsx(tmp_path / "only.xlsx", row(1048576, cell("ZZ1048576", "x")))
    stray = xlsx(tmp_path / "users.xlsx", HEADER + row(1048576, cell("ZZ1048576", "x")))
    trivial = xlsx(tmp_path / "trivial.xlsx")
    argv = ["Set-UserLicense", "-AddLicenses", "MCOPSTNC", "-Tenant", "Fabrikam", "-WhatIf"]

    def limited() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    # First in a child process with 2 GiB of address space: before the guard this was SIGABRT
    # ("memory allocation of 23555211264 bytes failed"), and in-process it would take pytest.
    for path in (only, stray):
        child = subprocess.run(
            [sys.executable, "-m", "commcredits.cli", *argv, "-Path", str(path)],
            cwd=ROOT,
            preexec_fn=limited,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == 2, child.stderr[-500:]
        assert "reaches cell ZZ1048576 (1,048,576 rows × 702 columns" in child.stderr

    code, _, err = run(*argv, "-Path", str(stray))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"Set-UserLicense: {stray}: the sheet 'Users' reaches cell ZZ1048576")
    assert f"at most 1,048,576 rows, {MAX_COLUMNS} columns and {MAX_CELLS:,} cells" in err
    assert "Delete the stray cells" in err

    # Refusing costs less than a trivial request of the same command in the same run.
    assert run(*argv, "-Path", str(trivial))[0] in (0, 1)
    hostile = best_of(3, lambda: run(*argv, "-Path", str(stray)))
    plain = best_of(3, lambda: run(*argv, "-Path", str(trivial)))
    assert hostile < 2 * plain, (hostile, plain)


_REFLESS = '<c t="inlineStr"><is><t>x</t></is></c>'
_PREFIXED = '<x:c xmlns:x="urn:x" r="ZZ100000" t="inlineStr"><x:is><x:t>x</x:t></x:is></x:c>'
SPREAD = [
    # (what, sheet XML): each puts a valued cell far away without spelling `<c r="ZZ1048576"`
    ("cells without r after a far row", HEADER + row(1048576, _REFLESS * 300)),
    ("a prefixed cell", HEADER + row(3, _PREFIXED)),
    ("a lower-case reference", HEADER + row(3, cell("zz900000", "x"))),
    ("a cell beyond its row tag", HEADER + row(3, cell("Z900000", "x"))),
    ("rows out of order", row(900000, cell("AZ900000", "x")) + HEADER),
    ("a reference with leading zeros", HEADER + row(3, cell("ZZ0900000", "x"))),
    ("attributes before r", HEADER + row(3, '<c t="inlineStr" r="ZZ90000"><is><t>x</t></is></c>')),
]


@pytest.mark.parametrize(("what", "data"), SPREAD, ids=[w for w, _ in SPREAD])
def test_far_cells_spelt_otherwise_are_refused_too(tmp_path, what, data):
    message = refused(xlsx(tmp_path / "users.xlsx", data))
    assert "reaches cell" in message and "Delete the stray cells" in message, (what, message)


def test_the_sheet_measured_is_the_sheet_read(tmp_path):
    workbook = (
        f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
        '<sheet name="Users" sheetId="1" r:id="rId1"/><sheet name="Far" sheetId="2" r:id="rId2"/>'
        "</sheets></workbook>"
    )
    rels = (
        f'<?xml version="1.0"?><Relationships xmlns="{RELS}">'
        f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{DOC}/worksheet" Target="/xl/worksheets/far.xml"/>'
        "</Relationships>"
    )
    far = f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER}{row(1048576, cell("ZZ1048576", "x"))}'
    parts = {
        "xl/_rels/workbook.xml.rels": rels,
        "xl/worksheets/far.xml": far + "</sheetData></worksheet>",
    }
    path = xlsx(tmp_path / "two.xlsx", workbook=workbook, parts=parts)
    assert len(read_sheet(path)) == 1 and len(read_sheet(path, sheet_name="Users")) == 1
    assert "the sheet 'Far' reaches cell ZZ1048576" in refused(path, sheet_name="Far")
    assert "no worksheet named 'Nope' (worksheets: Users, Far)" in refused(path, sheet_name="Nope")


def test_what_does_not_grow_the_grid_is_read(tmp_path):
    cases = {
        # a styled empty cell far away: calamine leaves it out of the grid
        "styled": HEADER + row(1048576, '<c r="ZZ1048576" s="1"/>'),
        # a far row tag with no cell (a custom height), and cell text that looks like a cell
        "row": HEADER + '<row r="1048576" ht="30" customHeight="1"/>',
        "cdata": row(1, cell("A1", "UserPrincipalName"))
        + row(2, cell("A2", '<![CDATA[<c r="ZZ99999">]]>')),
    }
    for name, data in cases.items():
        sheet = read_sheet(xlsx(tmp_path / f"{name}.xlsx", data))
        assert sheet.frame.width == 1 and len(sheet) == 1, name
    # A lying <dimension> is not trusted either way (calamine reserves at most 100,000 cells).
    lying = read_sheet(xlsx(tmp_path / "dim.xlsx", dimension="A1:XFD1048576"))
    assert lying.frame.rows() == [("user0@fabrikam.example",)]


def test_formulas_are_read_as_their_cached_value_never_evaluated(tmp_path):
    formula = '<c r="A2" t="str"><f>REPT("x",1000000)&amp;INDIRECT("ZZ1048576")</f><v>ok</v></c>'
    sheet = read_sheet(xlsx(tmp_path / "f.xlsx", row(1, cell("A1", "UPN")) + row(2, formula)))
    assert sheet.frame.rows() == [("ok",)]


# --- Zip bombs, entity expansion, counts taken on trust ------------------------------------------


def test_zip_bombs_are_refused_without_inflating_them(tmp_path):
    padding = " " * (40 << 20)  # 40 MiB that deflate to about 40 KB
    honest = xlsx(tmp_path / "bomb.xlsx", HEADER + padding)
    message = refused(honest)
    assert "xl/worksheets/sheet1.xml inflates" in message and "a zip bomb" in message
    # The same with its size field lying: refused while inflating, once past the ratio floor.
    liar = xlsx(tmp_path / "liar.xlsx", HEADER + padding)
    lie_about_size(liar, "xl/worksheets/sheet1.xml", 4096)
    message = refused(liar)
    assert "a zip bomb" in message and "inflates" in message
    # Shared strings are inflated when the file is opened, whichever sheet is read.
    shared = f'<?xml version="1.0"?><sst xmlns="{MAIN}">{padding}<si><t>x</t></si></sst>'
    strings = xlsx(tmp_path / "strings.xlsx", shared=shared)
    lie_about_size(strings, "xl/sharedStrings.xml", 4096)
    assert "xl/sharedStrings.xml inflates" in refused(strings)


def test_a_zip_behind_other_bytes_is_checked_all_the_same(tmp_path):
    """Both zip readers find the archive from its end, whatever comes before it."""
    stray = xlsx(tmp_path / "stray.xlsx", HEADER + row(1048576, cell("ZZ1048576", "x")))
    for prefix in (b"JUNK" * 25, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504):
        hidden = tmp_path / "hidden.xlsx"
        hidden.write_bytes(prefix + stray.read_bytes())
        message = refused(hidden)
        assert "reaches cell ZZ1048576" in message or "cannot read" in message, message


def test_zip_directories_that_list_too_much_are_refused(tmp_path):
    many = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(10_001):
            z.writestr(f"x/{i}", b"")
    assert "the archive has 10,001 entries" in refused(many)
    twice = xlsx(tmp_path / "twice.xlsx")  # calamine looks names up case-insensitively
    with zipfile.ZipFile(twice, "a") as z:
        z.writestr("XL/Worksheets/Sheet1.xml", "<worksheet/>")
    assert "twice" in refused(twice)


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/workbook.xml", "sheet"])
def test_a_dtd_billion_laughs_is_refused(tmp_path, part):
    shared = f'<?xml version="1.0"?>{LAUGHS}<sst xmlns="{MAIN}"><si><t>&lol9;</t></si></sst>'
    if part == "sheet":
        path = xlsx(tmp_path / "lol.xlsx", prolog=LAUGHS)
    elif part == "xl/workbook.xml":
        workbook = (
            f'<?xml version="1.0"?>{LAUGHS}<workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
            f'<sheet name="&lol9;" sheetId="1" r:id="rId1"/></sheets></workbook>'
        )
        path = xlsx(tmp_path / "lol.xlsx", workbook=workbook)
    else:
        path = xlsx(tmp_path / "lol.xlsx", shared=shared)
    assert "declares a DTD" in refused(path)


def test_a_shared_string_count_is_held_to_what_the_part_can_hold(tmp_path):
    shared = (
        f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="2" uniqueCount="999999999999">'
        "<si><t>UPN</t></si><si><t>a@b</t></si></sst>"
    )
    data = row(1, '<c r="A1" t="s"><v>0</v></c>') + row(2, '<c r="A2" t="s"><v>1</v></c>')
    message = refused(xlsx(tmp_path / "sst.xlsx", data, shared=shared))
    assert "declares 999,999,999,999 shared strings" in message


def test_a_workbook_with_too_many_sheets_is_refused(tmp_path):
    listed = "".join(f'<sheet name="S{i}" sheetId="{i}" r:id="rId1"/>' for i in range(1, 1002))
    workbook = f'<workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>{listed}</sheets></workbook>'
    assert "more than 1,000 sheets" in refused(xlsx(tmp_path / "s.xlsx", workbook=workbook))


# --- .ods, .xls, .xlsb ---------------------------------------------------------------------------


def ods(path: Path, rows: str) -> Path:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    content = (
        f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:spreadsheet>'
        f'<table:table table:name="Users">{rows}</table:table></office:spreadsheet></office:body>'
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
        'opendocument:xmlns:manifest:1.0"/>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def ods_cell(text: str, repeat: int = 1) -> str:
    rep = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    return (
        f'<table:table-cell office:value-type="string"{rep}><text:p>{text}</text:p>'
        "</table:table-cell>"
    )


def test_ods_repeats_are_counted_before_calamine_expands_them(tmp_path):
    head = f"<table:table-row>{ods_cell('UserPrincipalName')}</table:table-row>"
    body = f"<table:table-row>{ods_cell('user0@fabrikam.example')}</table:table-row>"
    empty = '<table:table-cell table:number-columns-repeated="16384"/>'
    # LibreOffice's own padding (empty repeats to the sheet's edge) is not data: read.
    padded = body.replace("</table:table-row>", f"{empty}</table:table-row>")
    tail = f'<table:table-row table:number-rows-repeated="1048570">{empty}</table:table-row>'
    sheet = read_sheet(ods(tmp_path / "ok.ods", head + padded + tail))
    assert sheet.frame.rows() == [("user0@fabrikam.example",)]
    # One repeated row of 300 valued cells: 300,000,300 cells once expanded.
    repeated = (
        f'<table:table-row table:number-rows-repeated="1000000">{ods_cell("x", 300)}'
        "</table:table-row>"
    )
    message = refused(ods(tmp_path / "bomb.ods", head + repeated))
    assert "the sheet 'Users' reaches cell KN1000001" in message


END, FREE = 0xFFFFFFFE, 0xFFFFFFFF


def biff_record(typ: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", typ, len(data)) + data


def biff8(
    cells: list[tuple[int, int, str]], dims: tuple[int, int, int, int] | None = None
) -> bytes:
    """A BIFF8 workbook stream: globals, then one sheet 'Users' of Label cells with DIMENSIONS."""
    bof = struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 6)
    sheet_bof = struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 6)

    def bound(pos: int) -> bytes:
        return biff_record(0x0085, struct.pack("<IBBBB", pos, 0, 0, 5, 0) + b"Users")

    start = len(biff_record(0x0809, bof) + bound(0) + biff_record(0x000A))
    rows = max(r for r, _, _ in cells) + 1
    cols = max(c for _, c, _ in cells) + 1
    sheet = biff_record(0x0809, sheet_bof)
    sheet += biff_record(0x0200, struct.pack("<IIHHH", *(dims or (0, rows, 0, cols)), 0))
    for r, c, text in cells:
        raw = text.encode("latin-1")
        sheet += biff_record(0x0204, struct.pack("<HHHHB", r, c, 0, len(raw), 0) + raw)
    return (
        biff_record(0x0809, bof) + bound(start) + biff_record(0x000A) + sheet + biff_record(0x000A)
    )


def ole(stream: bytes, *, fat_len: int = 1, size: int | None = None, loop: bool = False) -> bytes:
    """An OLE compound file (512-byte sectors) holding `stream` as "Workbook"."""
    stream += b"\x00" * max(0, 4096 - len(stream))  # past the mini-stream cutoff
    n = -(-len(stream) // 512)
    fat = [0xFFFFFFFD, END] + [3 + i for i in range(n - 1)] + [2 if loop else END]
    fat += [FREE] * (128 - len(fat))
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, fat_len, 1, 0, 4096, END, 0, END, 0)
    struct.pack_into("<109I", header, 76, 0, *([FREE] * 108))

    def entry(name: str, typ: int, child: int, start: int, length: int) -> bytes:
        e = bytearray(128)
        raw = name.encode("utf-16-le")
        e[: len(raw)] = raw
        struct.pack_into("<HBBIII", e, 64, len(raw) + 2, typ, 1, FREE, FREE, child)
        struct.pack_into("<II", e, 116, start, length)
        return bytes(e)

    directory = entry("Root Entry", 5, 1, END, 0) + entry(
        "Workbook", 2, FREE, 2, size or len(stream)
    )
    body = (
        struct.pack("<128I", *fat) + directory.ljust(512, b"\x00") + stream.ljust(n * 512, b"\x00")
    )
    return bytes(header) + body


def test_xls_files_are_walked_before_calamine_trusts_them(tmp_path):
    cells = [(0, 0, "UserPrincipalName"), (1, 0, "user0@fabrikam.example")]
    good = tmp_path / "ok.xls"
    good.write_bytes(ole(biff8(cells)))
    assert read_sheet(good).frame.rows() == [("user0@fabrikam.example",)]
    hostile = {
        # DIMENSIONS whose first row is past its last: calamine's u32 arithmetic wraps (137 GB)
        "wrap.xls": (ole(biff8(cells, dims=(5, 2, 0, 1))), "declares 4,294,967,293 rows"),
        "dims.xls": (ole(biff8(cells, dims=(0, 4_000_000, 0, 200))), "declares 4,000,000 rows"),
        "far.xls": (ole(biff8([*cells, (65535, 65534, "x")], dims=(0, 2, 0, 1))), "reaches cell"),
        # an allocation-table count no file could hold: calamine reserves it (17 GB)
        "fat.xls": (ole(biff8(cells), fat_len=0xFFFFFFF0), "allocation tables larger"),
        "fat.xlsx": (ole(biff8(cells), fat_len=0xFFFFFFF0), "allocation tables larger"),
        # a chain that loops, under a stream that claims 4 GB: calamine copies until 4 GB
        "loop.xls": (ole(biff8(cells), loop=True, size=0xF0000000), "chains loop"),
    }
    for name, (data, expected) in hostile.items():
        (tmp_path / name).write_bytes(data)
        assert expected in refused(tmp_path / name), name


def test_xlsb_is_refused_with_the_way_out(tmp_path):
    path = xlsx(tmp_path / "users.xlsb")
    assert "binary workbooks (.xlsb) are not read; save it as .xlsx" in refused(path)


# --- CSV, Parquet, JSON --------------------------------------------------------------------------


def test_a_csv_line_past_the_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "line.csv"
    path.write_bytes(b"UserPrincipalName\nuser0@x.example\n" + b"a" * (100 << 20) + b"\nz@x\n")
    assert "line 3 is 104,857,600 bytes long; a line may have at most 1 MiB" in refused(path)
    code, _, err = run(
        "Set-UserLicense",
        "-AddLicenses",
        "MCOPSTNC",
        "-Tenant",
        "X",
        "-Path",
        "-",
        stdin=b"UPN\n" + b"b" * (2 << 20) + b"\n",
    )
    assert code == 2 and "stdin: line 2 is 2,097,152 bytes long" in err


def test_csv_columns_past_the_limit_are_refused(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"C{i}" for i in range(300)) + "\n" + "x\n")
    assert "the header has 300 columns; at most 256 are read" in refused(wide)
    empties = tmp_path / "empties.csv"
    empties.write_bytes(b"UPN" + b"," * 5_000_000 + b"\nx\n")
    assert "the header line is longer than 64 KiB" in refused(empties)
    # Extra fields in a data line are cut at the header's width (the line bound holds them).
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(b"UPN\nuser0@x.example" + b"," * 500_000 + b"\n")
    assert read_sheet(ragged).frame.rows() == [("user0@x.example",)]


def test_csv_size_and_rows_are_bounded(tmp_path, monkeypatch):
    path = tmp_path / "users.csv"
    path.write_text("UPN\n" + "".join(f"u{i}@x.example\n" for i in range(20)))
    monkeypatch.setattr(csv_input, "MAX_ROWS", 10)
    assert "more than 10 rows of 1 column;" in refused(path)
    monkeypatch.setattr(sheets, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(csv_input, "MAX_FILE_BYTES", 100)
    assert "at most 100 bytes are read" in refused(path)
    assert "stdin: the file has" in refused("-", stdin=io.BytesIO(path.read_bytes()))


def test_parquet_and_json_past_the_column_limit_are_refused(tmp_path):
    frame = pl.DataFrame({f"c{i}": ["x"] for i in range(300)})
    frame.write_parquet(tmp_path / "wide.parquet")
    frame.write_json(tmp_path / "wide.json")
    for name in ("wide.parquet", "wide.json"):
        assert "(1 row × 300 columns = 300 cells)" in refused(tmp_path / name), name


# --- Control characters: NUL in a cell fails that row, in a header the sheet ---------------------


def nul_sheet(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    path.write_bytes(
        b"UserPrincipalName,DisplayName\n"
        b"good1@fabrikam.example,Good One\n"
        b"bad@fabrikam.example,Bad\x00Name\n"
        b'good2@fabrikam.example,"Tab\tand\r\nline breaks are fine"\n'
    )
    return path


def test_a_control_character_in_a_cell_fails_its_row_only(tmp_path):
    path = nul_sheet(tmp_path)
    sheet = read_sheet(path, row_faults=True)
    assert sheet.rows == [2, 4] and sheet.frame["UserPrincipalName"].to_list() == [
        "good1@fabrikam.example",
        "good2@fabrikam.example",
    ]
    [fault] = sheet.faults
    assert (fault.row, fault.code) == (3, INVALID_CHARACTER)
    assert fault.message == (
        "'DisplayName' has a control character (U+0000 NUL); no text may contain one. This row "
        "was not sent."
    )
    assert fault.cells["DisplayName"] == "Bad\\x00Name"  # shown, never the byte itself
    report = Report()
    report_faults(sheet, report, "UserPrincipalName", "CreateOrUpdate")
    assert report.frame().select("Row", "Key", "Status", "Code").rows() == [
        (3, "bad@fabrikam.example", "Failed", INVALID_CHARACTER)
    ]
    # Without row_faults (a caller that does not report them) the read stops, naming the row.
    message = refused(path)
    assert "row 3: 'DisplayName' has a control character (U+0000 NUL)" in message
    # An .xlsx cell written with a NUL (xlsxwriter stores it as _x0000_), and a BEL in a cell.
    book_path = tmp_path / "users.xlsx"
    book = xlsxwriter.Workbook(book_path)
    ws = book.add_worksheet("Users")
    for n, values in enumerate([["UPN", "Name"], ["a@x", "A\x00"], ["b@x", "B\x07"], ["c@x", "C"]]):
        ws.write_row(n, 0, values)
    book.close()
    sheet = read_sheet(book_path, row_faults=True)
    assert [(f.row, f.code) for f in sheet.faults] == [
        (2, INVALID_CHARACTER),
        (3, INVALID_CHARACTER),
    ]
    assert "U+0007" in sheet.faults[1].message and sheet.rows == [4]


def test_a_control_character_in_a_header_refuses_the_sheet(tenant, tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(b"UserPrincipalName,Display\x00Name\nx@fabrikam.example,X\n")
    code, _, err = run("Import-Users", "-Path", str(path), "-Tenant", "Fabrikam")
    assert code == 2 and err.count("\n") == 1
    assert "header 2 ('Display\\x00Name') has a control character (U+0000)" in err


def test_a_nul_row_never_reaches_the_database(tenant, tmp_path):
    """However the command reports it (exit 2 before anything is sent, or that row failed), the
    NUL never reaches the database: on PostgreSQL it was a crash mid-run."""
    code, _, err = run("Import-Users", "-Path", str(nul_sheet(tmp_path)), "-Tenant", "Fabrikam")
    assert code == 1 and "Traceback" not in err and "unexpected error" not in err
    assert not User.select().where(User.upn_key == "bad@fabrikam.example").exists()


def test_a_nul_row_is_reported_failed_and_the_others_are_imported(tenant, tmp_path):
    code, _, err = run("Import-Users", "-Path", str(nul_sheet(tmp_path)), "-Tenant", "Fabrikam")
    assert code == 1, err
    report = pl.read_csv(tmp_path / "users.result.csv", infer_schema=False)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Created", None),
        ("3", "Failed", INVALID_CHARACTER),
        ("4", "Created", None),
    ]


def test_a_nul_cell_fails_its_row_in_set_usage_location_too(tenant, tmp_path):
    users = tmp_path / "new.csv"
    users.write_text("UserPrincipalName\na@fabrikam.example\nb@fabrikam.example\n")
    assert run("Import-Users", "-Path", str(users), "-Tenant", "Fabrikam")[0] == 0
    path = tmp_path / "locations.csv"
    path.write_bytes(
        b"UserPrincipalName,UsageLocation\na@fabrikam.example,D\x00E\nb@fabrikam.example,DE\n"
    )
    code, _, err = run("Set-UsageLocation", "-Path", str(path), "-Tenant", "Fabrikam")
    assert code == 1, err
    report = pl.read_csv(tmp_path / "locations.result.csv", infer_schema=False)
    assert report.select("Row", "Key", "Status", "Code").rows() == [
        ("2", "a@fabrikam.example", "Failed", INVALID_CHARACTER),
        ("3", "b@fabrikam.example", "Updated", None),
    ]
    located = {u.upn_key: u.usage_location for u in User.select()}
    assert located == {"a@fabrikam.example": None, "b@fabrikam.example": "DE"}
