"""A CSV chunk is kept whole only when every row is as wide as the header and none is blank.

``_plain`` decides it in a few passes in C (the widths counted, the first cells joined and searched
for whitespace once); these hold it to the plain definition, row by row, so a blank row or one of
another width is never kept as it is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coprod.connectors.files import _no_space, _plain

# Cells as an export holds them: ids, names with spaces, blanks, whitespace of several kinds.
cell = st.sampled_from(["7", "P12", "Sam Carter", "", " ", "  ", "\t", "\u00a0", " 7", "7 ", "S\u20031"])
row = st.lists(cell, min_size=0, max_size=4)


def plain_row_by_row(chunk: list[list[str]], width: int) -> bool:
    return bool(width) and all(len(cells) == width and "".join(cells).strip() for cells in chunk)


@settings(max_examples=300, deadline=None)
@given(st.lists(row, min_size=1, max_size=12), st.integers(0, 4))
def test_a_chunk_is_plain_exactly_when_each_row_is_as_wide_as_the_header_and_not_blank(
    chunk: list[list[str]], width: int
) -> None:
    assert _plain(chunk, width) == plain_row_by_row(chunk, width)


@settings(max_examples=300, deadline=None)
@given(st.lists(cell, max_size=6).map("".join))
def test_no_space_means_no_whitespace_character_at_all(text: str) -> None:
    assert _no_space(text) == (not any(c.isspace() for c in text))


def test_ids_are_told_from_blank_rows_by_their_first_cells_joined() -> None:
    assert _plain([["7", "Sam"], ["8", ""]], 2)
    assert not _plain([["7", "Sam"], [" ", ""]], 2)  # a blank row
    assert _plain([["7", "Sam"], [" ", "Carter"]], 2)  # a first cell blank, the row not
    assert not _plain([["7", "Sam"], ["8"]], 2)  # a row narrower than the header
    assert _no_space("P12S1") and not _no_space("P12 S1") and not _no_space("   ") and _no_space("")
