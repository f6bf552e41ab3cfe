"""What a report page is made of: sections of paragraphs, tables and figures (a chart and its table).

The HTML and the Markdown renderers both read these, so the two say the same thing; a figure
always carries the table behind its chart (a screen reader, a printout in black and white and the
Markdown version read the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "Table"
    caption: str
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()
    """Columns of numbers (right-aligned)."""
    note: str = ""
    """Said under the table, e.g. how many rows were left out."""


@dataclass(frozen=True)
class ShareRow:
    """One bar: a group's share among participants against its share among people who use the service."""

    label: str
    baseline: float
    observed: float | None
    """None when hidden (shared report) or nobody answered."""
    lower: float | None
    upper: float | None
    value: str
    """What is written beside the bar: '12%', 'hidden: fewer than 8'."""
    marked: bool
    """Under-represented (drawn hatched and labelled, never by colour alone)."""
    data: dict[str, str] = field(default_factory=dict)
    """``data-*`` attributes: the numbers drawn, so a test can compare them with the flags' evidence."""


@dataclass(frozen=True)
class SharesChart:
    kind: Literal["shares"]
    rows: tuple[ShareRow, ...]


@dataclass(frozen=True)
class LadderChart:
    kind: Literal["ladder"]
    rungs: tuple[str, ...]
    """Lowest first."""
    label: int
    """Index of the rung the project calls itself."""
    evidence: int
    """Index of the rung the evidence places it on."""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MoneyRow:
    label: str
    amount: float | None
    """None when hidden."""
    value: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MoneyChart:
    kind: Literal["money"]
    rows: tuple[MoneyRow, ...]


Chart = SharesChart | LadderChart | MoneyChart


@dataclass(frozen=True)
class Figure:
    kind: ClassVar[str] = "Figure"
    id: str
    title: str
    summary: str
    """One or two sentences saying what the chart shows (its text alternative)."""
    chart: Chart
    table: Table


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "Paragraph"
    text: str
    strong: str = ""
    """A lead-in in bold ('Data gap:')."""


@dataclass(frozen=True)
class Notice:
    """A boxed paragraph that must not be missed (who the report is for, what is hidden)."""

    kind: ClassVar[str] = "Notice"

    title: str
    text: str


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "Heading"
    level: int
    text: str
    id: str = ""


@dataclass(frozen=True)
class Bullets:
    kind: ClassVar[str] = "Bullets"
    items: tuple[str, ...]


Block = Paragraph | Notice | Heading | Bullets | Table | Figure


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Page:
    title: str
    subtitle: str
    notice: Notice
    sections: tuple[Section, ...]
    shared: bool
