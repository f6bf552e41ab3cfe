"""A tab of a Google Sheet as a table: a header row, then rows of text.

Pure logic, no HTTP. The Sheets API hands back a tab as a list of rows of formatted text, with
trailing empty cells and rows left off; this module turns that into rows keyed by heading, and
says clearly (naming the tab and the column letter) when the header row cannot be trusted:
a heading used twice, or a column of values with no heading. It never turns text into numbers:
"007" stays "007" and "nan" stays "nan"; the mapping decides what a value means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gspread.utils import absolute_range_name, rowcol_to_a1

from coprod.connectors.base import ConfigError, names_a_mapped_column

MAX_CELL_CHARS = 50_000
"""Google Sheets refuses a cell longer than this; longer text is cut, with a mark."""


def column_letter(index: int) -> str:
    """``0`` -> ``A``, ``26`` -> ``AA``: how a person finds a column."""
    return rowcol_to_a1(1, index + 1).rstrip("0123456789")


def a1_range(title: str, row: int, first_col: int, last_col: int | None = None) -> str:
    """``'Tab name'!B12:D12`` with the tab name quoted as A1 notation wants (apostrophes doubled)."""
    start = rowcol_to_a1(row, first_col + 1)
    if last_col is None or last_col == first_col:
        return absolute_range_name(title, start)
    return absolute_range_name(title, f"{start}:{rowcol_to_a1(row, last_col + 1)}")


def tab_ref(title: str) -> str:
    return f"tab '{title}'"


def as_text(value: Any) -> str:
    """A cell as text. With FORMATTED_VALUE every cell is already a string; be sure of it."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def fit_cell(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 20] + " [cut: too long]"


@dataclass
class Table:
    """One tab read: its headings and its non-blank rows (sheet row number, heading -> text)."""

    title: str
    header: list[str]
    records: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    keep: list[tuple[int, str]] = field(default_factory=list)
    """(column index, heading) of each column a record holds."""
    aliases: list[tuple[str, int]] = field(default_factory=list)
    """(heading as the recipe spells it, column index) where that spelling is not the sheet's."""

    def unheaded(self, row: Sequence[str]) -> int | None:
        """The first column of ``row`` that holds a value but has no heading (None: there is none)."""
        return next((i for i, h in enumerate(self.header) if not h and i < len(row) and row[i].strip()), None)

    def record(self, row: Sequence[str]) -> dict[str, str] | None:
        """One body row (as text) as a record, heading -> text; None for a blank row (blank rows
        between entries are common in hand-kept sheets)."""
        if not any(c.strip() for c in row):
            return None
        cells = {h: (row[i] if i < len(row) else "") for i, h in self.keep}
        for alias, i in self.aliases:
            cells[alias] = row[i] if i < len(row) else ""
        return cells

    def column_index(self, heading: str) -> int | None:
        """Where a heading is (exact after trimming spaces, else ignoring case), or None."""
        wanted = heading.strip()
        for i, h in enumerate(self.header):
            if h == wanted:
                return i
        folded = wanted.casefold()
        for i, h in enumerate(self.header):
            if h.casefold() == folded:
                return i
        return None

    def rows_where(self, heading: str, value: str) -> list[int]:
        """Sheet row numbers whose cell under ``heading`` holds ``value`` (trimmed)."""
        wanted = value.strip()
        return [n for n, values in self.records if values.get(heading, "").strip() == wanted]


def parse_table(
    title: str,
    values: Sequence[Sequence[Any]] | None,
    *,
    required: Iterable[tuple[str, str]] = (),
    ignore: Iterable[str] = (),
) -> Table:
    """Read a tab's values (as the API returns them) into a :class:`Table`.

    ``required``: (column heading, what it is for) pairs that must be in the header row.
    ``ignore``: headings left out of the rows (coprod's own flags column).
    Raises ConfigError naming the tab and column when the header row is ambiguous or incomplete.
    """
    rows = [[as_text(c) for c in row] for row in (values or [])]
    where = tab_ref(title)
    if not rows or not any(c.strip() for c in rows[0]):
        needed = [c for c, _ in required]
        if needed:
            raise ConfigError(
                "the first row is empty: it must hold the column headings "
                f"({', '.join(repr(c) for c in needed)})",
                where=where,
            )
        return Table(title=title, header=[])
    header = [c.strip() for c in rows[0]]
    body = rows[1:]
    needed = [c for c, _ in required]
    if needed and not names_a_mapped_column(header, needed):
        raise ConfigError(
            f"row 1 names none of the columns the recipe maps ({', '.join(repr(c) for c in needed)}); it "
            "must be the header row. If the tab starts with data, insert the header row above it (row 1 "
            "is not shown here: it may be someone's details)",
            where=where,
        )

    first_seen: dict[str, int] = {}
    for i, heading in enumerate(header):
        if not heading:
            used = next((n for n, row in enumerate(body, start=2) if i < len(row) and row[i].strip()), None)
            if used is not None:
                raise ConfigError(
                    f"column {column_letter(i)} has no heading but holds values (from row {used}); "
                    "give it a heading in row 1, or delete the column",
                    where=where,
                )
            continue
        if heading in first_seen:
            raise ConfigError(
                f"columns {column_letter(first_seen[heading])} and {column_letter(i)} both have the "
                f"heading '{heading}'; give each column a different heading",
                where=where,
            )
        first_seen[heading] = i

    table = Table(title=title, header=header)
    missing = [(c, what) for c, what in required if table.column_index(c) is None]
    if missing:
        found = ", ".join(repr(h) for h in header if h) or "none"
        wanted = "; ".join(f"'{c}' ({what})" for c, what in missing)
        raise ConfigError(
            f"column {wanted} is not in the header row; the columns found are: {found}",
            where=where,
        )

    skip = {h.strip().casefold() for h in ignore}
    table.keep = [(i, h) for i, h in enumerate(header) if h and h.casefold() not in skip]
    # A recipe spelling a heading with other capitals or spaces still finds its values under its own
    # spelling, since the mapping looks columns up as the recipe names them.
    for c, _ in required:
        index = table.column_index(c)
        if index is not None and header[index] != c:
            table.aliases.append((c, index))
    for number, row in enumerate(body, start=2):
        cells = table.record(row)
        if cells is not None:
            table.records.append((number, cells))
    return table
