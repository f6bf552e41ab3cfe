"""A raw row as a connector hands it over, before mapping onto the model; and a block of them.

A connector hands over rows one :class:`Row` at a time, or, when it reads a table (a CSV file, a
sheet), as a :class:`RowBlock`: the cells of many rows under one header, as the reader found them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload


class Row(NamedTuple):
    """One raw row as the source holds it. ``ref`` says where it is, for error messages.

    A named tuple: a 200,000-row export makes 200,000 of them, each read once by the mapping.
    """

    ref: str
    """Where a person finds the row: ``people.csv row 12``, ``tab 'People' row 12``, ``submission 345``."""
    values: Mapping[str, Any]
    """Column or field name -> value: text as the source shows it (lists for multi-valued fields)."""
    key: str | None = None
    """The source's own stable id for the row (a sheet row number, a KoboToolbox ``_id``)."""


class RowBlock(Sequence[Row]):
    """Rows of one table under one header, each row's cells in the header's order, numbered as the
    table shows them.

    Why: making each line of a 200,000-row export a :class:`Row` (a dict of its cells, a text saying
    where it is) cost as much as reading the file. The mapping reads a block column by column
    (``FieldReader.block``) and makes a Row only of a row it has something to say about; anything
    else that iterates or indexes a block gets the very Rows the reader would have made:
    ``{source} row {number}`` as ``ref``, the number as text as ``key``.
    """

    __slots__ = ("source", "header", "cells", "numbers")

    def __init__(
        self, source: str, header: Sequence[str], cells: Sequence[Sequence[Any]], numbers: Sequence[int]
    ) -> None:
        self.source = source
        """The table's name as a person finds it: ``people.csv``."""
        self.header = tuple(header)
        self.cells = cells
        """Each row's cells, as many as the header has columns."""
        self.numbers = numbers
        """Each row's number in the table (the header is row 1; blank rows have none)."""

    def ref(self, index: int) -> str:
        """Where the row at ``index`` is, as :attr:`Row.ref` says it."""
        return f"{self.source} row {self.numbers[index]}"

    def key(self, index: int) -> str:
        return str(self.numbers[index])

    def row(self, index: int) -> Row:
        number = self.numbers[index]
        return Row(
            f"{self.source} row {number}",
            dict(zip(self.header, self.cells[index], strict=False)),
            str(number),
        )

    def __len__(self) -> int:
        return len(self.cells)

    def __iter__(self) -> Iterator[Row]:
        return map(self.row, range(len(self.cells)))

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self.row(i) for i in range(*index.indices(len(self.cells)))]
        if index < 0:
            index += len(self.cells)
        if not 0 <= index < len(self.cells):
            raise IndexError("row index out of range")
        return self.row(index)

    def __repr__(self) -> str:
        return f"RowBlock({self.source!r}, {len(self.cells)} rows)"
