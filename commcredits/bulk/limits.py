"""How much of a sheet the bulk layer reads, whatever its format.

Each bound keeps what a hostile file can cost (time and memory) linear in its size and under a
fixed ceiling, and is refused with one line and exit code 2 before the expensive step runs.
README.md's Limits table lists them; tests/test_bulk_sheets_hostile.py builds a file past each.
"""

from __future__ import annotations

MiB = 1 << 20

# Any input file on disk, and CSV on stdin. The largest sheets the bulk layer is meant for
# (1,000,000 users × 16 columns) are 55 MB as .xlsx and about 120 MB as .csv.
MAX_FILE_BYTES = 256 * MiB

# The area a reader allocates. calamine (the .xlsx/.xls/.ods reader behind fastexcel) builds a
# dense rows × columns grid of 32-byte cells from the top-left to the bottom-right cell it
# finds, so one stray cell at ZZ1048576 asks for 23 GB. A sheet may be as tall as Excel's own
# (1,048,576 rows), as wide as Excel 2003's (256 columns, IV), and hold at most MAX_CELLS in
# that grid: every row of a 16-column sheet (the Microsoft 365 user template's width), about
# 0.9 GB in the worst case (an almost empty grid), 1.6 GB for a full one.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 256
MAX_CELLS = MAX_ROWS * 16

# CSV: one physical line, and the header line (read character by character to find the
# delimiter and count the columns).
MAX_LINE_BYTES = 1 * MiB
MAX_HEADER_BYTES = 64 * 1024

# Workbooks (.xlsx/.xlsm/.ods are zip archives of XML parts).
MAX_ZIP_ENTRIES = 10_000
MAX_SHEETS = 1_000
# One decompressed XML part the reader parses: the worksheet read (1,000,000 × 16 cells of
# inline text is 0.9 GB) and, each, the workbook, relationships, styles and shared strings.
MAX_PART_BYTES = 1024 * MiB
# A part that inflates more than this many times its compressed size, once past
# RATIO_FLOOR_BYTES, is a zip bomb: real sheet XML compresses 15-25:1, a bomb about 1,000:1.
# Checked while inflating, so a bomb is refused after RATIO_FLOOR_BYTES, not MAX_PART_BYTES.
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 16 * MiB


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`, `1,048,576 rows`."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def column_letters(index: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA, 702 -> ZZ, 16384 -> XFD."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters or "A"


def too_large(source: str, what: str, rows: int, columns: int, corner: str | None) -> str:
    """The one line for a sheet whose area is past MAX_ROWS, MAX_COLUMNS or MAX_CELLS."""
    reach = f"reaches cell {corner} " if corner else "has "
    advice = (
        "Delete the stray cells (Ctrl+End in Excel goes to the last one) or copy the data to a "
        "new sheet."
        if corner
        else "Split it into smaller sheets."
    )
    return (
        f"{source}: {what} {reach}({plural(rows, 'row')} × {plural(columns, 'column')} = "
        f"{plural(rows * columns, 'cell')}); at most {MAX_ROWS:,} rows, {MAX_COLUMNS:,} "
        f"columns and {MAX_CELLS:,} cells are read. {advice}"
    )


def check_area(source: str, what: str, rows: int, columns: int, corner: str | None) -> str | None:
    """Why an area of rows × columns is refused, or None."""
    if rows > MAX_ROWS or columns > MAX_COLUMNS or rows * columns > MAX_CELLS:
        return too_large(source, what, rows, columns, corner)
    return None
