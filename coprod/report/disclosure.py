"""Disclosure control: what a report shared beyond staff may say about small numbers.

A board, a funder or the group itself may see the shared report (``--share``) and the Easy Read
one. In a group of a few dozen people, "2 carers of Black heritage" or "1 person paid though they
declined" points at someone. So a shared report shows no count from 1 to 7: it says "fewer than
8". Hiding the cell alone is not enough when the total and the other cells are shown (40 people,
20 and 17 in two groups: the third is 3), so a group of counts that add up to a total is protected
as a whole (*secondary suppression*): more cells are hidden, smallest first, until what is hidden
adds up to at least 8, or everything is. Zero is shown: "nobody" is the finding the report exists
to make, and it points at no one.

The staff report (no ``--share``) shows every number: it uses the same calls with nothing hidden,
so both reports are built by one code path and differ only here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

SMALL = 8
"""Counts from 1 to SMALL - 1 are hidden in a shared report."""
FEWER = f"fewer than {SMALL}"

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Count:
    """A count as a report may show it: its value, or ``None`` when hidden."""

    value: int | None

    @property
    def hidden(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        return FEWER if self.value is None else f"{self.value:,}"

    def of(self, singular: str, plural: str | None = None) -> str:
        """``3 people``, ``1 person``, ``fewer than 8 people``."""
        many = plural or singular + "s"
        if self.value is None:
            return f"{FEWER} {many}"
        return f"{self.value:,} {singular if self.value == 1 else many}"


@dataclass(frozen=True)
class Disclosure:
    """The rules for one report: ``shared`` hides small numbers; the staff report hides nothing."""

    shared: bool

    def is_small(self, n: int) -> bool:
        return self.shared and 0 < n < SMALL

    def count(self, n: int) -> Count:
        """One count standing alone (its total, if any, is not shown beside it)."""
        return Count(None if self.is_small(n) else n)

    def group(self, cells: Mapping[K, int]) -> dict[K, Count]:
        """Counts that add up to a total shown elsewhere: no hidden cell can be worked out by subtraction.

        The cells must be the whole of the total (every person in exactly one cell), or a cell
        left out would be the difference. The total itself goes through :meth:`count`.
        """
        hidden = {k for k, v in cells.items() if self.is_small(v)}
        if self.shared:
            while hidden and sum(cells[k] for k in hidden) < SMALL:
                visible = [k for k, v in cells.items() if k not in hidden and v > 0]
                if not visible:
                    break  # everything is hidden: then the total is small, and hidden too
                hidden.add(min(visible, key=lambda k: (cells[k], str(k))))
        return {k: Count(None if k in hidden else v) for k, v in cells.items()}

    def amount_for(self, people: int) -> bool:
        """Whether a sum of money about ``people`` people may be shown (it could identify a few)."""
        return not self.is_small(people)
