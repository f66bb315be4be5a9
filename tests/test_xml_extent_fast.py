"""The fast measure of a worksheet (xml_extent._fast): it answers only for cells spelt the
usual way within the rows seen, and leaves every other sheet to the exact walk (None)."""

import pytest

from commcredits.bulk.xml_extent import Extent, _exact, _fast


def sheet(rows: str) -> list[bytes]:
    head = '<?xml version="1.0" encoding="UTF-8"?><worksheet><sheetData>'
    text = f"{head}{rows}</sheetData></worksheet>"
    return [text.encode()]


def row(n: int, *cells: str) -> str:
    return f'<row r="{n}">' + "".join(f'<c r="{c}" t="s"><v>0</v></c>' for c in cells) + "</row>"


def test_plain_cells_are_measured():
    found = _fast(sheet(row(1, "A1", "B1") + row(2, "A2", "AB2") + row(3, "C3")))
    assert found == Extent(3, 28, first_row=1)


def test_a_sheet_in_chunks_is_measured_as_a_whole():
    text = sheet(row(1, "A1") + row(2, "A2", "B2") + row(10, "D10"))[0]
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]
    assert _fast(chunks) == Extent(10, 4, first_row=1)


@pytest.mark.parametrize(
    "rows",
    [
        row(1, "A1") + row(2, "A900000"),  # a cell past its row tag
        row(1, "A1") + '<row r="2"><c t="s"><v>0</v></c></row>',  # no r
        row(1, "A1") + row(2, "a2"),  # lower case
        row(1, "A1") + row(2, "A02"),  # a leading zero
        row(1, "A1") + row(2, "ABCD2"),  # four letters
        row(1, "A1") + '<row r="2"><c  r="A2"/></row>',  # two spaces
        row(1, "A1") + '<row r="2"><c s="1" r="ZZ2"/></row>',  # r not first
    ],
    ids=["past-row", "no-r", "lower", "zero", "four-letters", "spaces", "r-later"],
)
def test_any_other_cell_leaves_it_to_the_exact_walk(rows):
    assert _fast(sheet(rows)) is None


# Blank rows above the header: styled empty cells (no value), a blank row, then values.
ABOVE = '<row r="1"><c r="A1" s="1"/></row><row r="2"><c r="D2" s="1"/></row>'


@pytest.mark.parametrize("size", [7, 64, 10_000])
def test_the_first_row_with_a_value_is_found_in_chunks_of_any_size(size):
    """The reader's grid, and so the header, starts at the first row holding a value: a
    report numbers the rows below it as the sheet does (3 here, data from 4)."""
    text = sheet(ABOVE + row(3, "B3") + row(4, "B4"))[0]
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    assert _fast(chunks).first_row == 3
    assert _exact(iter(chunks), lambda _: True).first_row == 3
