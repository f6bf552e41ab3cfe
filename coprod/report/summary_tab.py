"""The report's summary as rows of text, for a tab of its own in the charity's tool (``summary_tab``).

A spreadsheet is usually shared with more people than a staff report is meant for, so the tab
always holds the version for sharing, whatever report was asked for: the very page ``--share``
renders (``build_page`` with ``Disclosure(shared=True)``), written as rows instead of HTML. The
numbers, the words and what is hidden are therefore the shared report's own, decided once in
``views``; nothing is counted or judged here. Each section is a heading, then its sentences and its
tables (caption, column headings, rows); charts go as the tables behind them.
"""

from __future__ import annotations

from coprod.connectors.base import Summary, SummaryRow
from coprod.report.blocks import Block, Bullets, Figure, Heading, Notice, Page, Paragraph, Table
from coprod.report.disclosure import Disclosure
from coprod.report.facts import ReportFacts
from coprod.report.isolate import plain
from coprod.report.views import build_page

MARK = "Co-production report"
"""The summary's first cell starts with this (the page's title): how coprod knows the tab is its own."""

BLANK = SummaryRow(())


def _text(text: str) -> str:
    """One line, as in the Markdown version (a cell holds the sentence, not the layout), without the
    isolation marks (:func:`~coprod.report.isolate.plain`: a cell would hide them)."""
    return " ".join(plain(str(text)).split())


def _one(text: str, heading: bool = False) -> SummaryRow:
    return SummaryRow((_text(text),), heading)


def _table(t: Table) -> list[SummaryRow]:
    rows = [_one(t.caption, heading=True), SummaryRow(tuple(_text(h) for h in t.head), heading=True)]
    rows += [SummaryRow(tuple(_text(c) for c in row)) for row in t.rows]
    if t.note:
        rows.append(_one(t.note))
    return [*rows, BLANK]


def _block(b: Block) -> list[SummaryRow]:
    if isinstance(b, Paragraph):
        return [_one(f"{b.strong} {b.text}" if b.strong else b.text)]
    if isinstance(b, Notice):
        return [_one(f"{b.title}. {b.text}")]
    if isinstance(b, Heading):
        return [_one(b.text, heading=True)]
    if isinstance(b, Bullets):
        return [_one(item) for item in b.items]
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Figure):
        return [_one(f"{b.title}. {b.summary}"), *_table(b.table)]
    raise TypeError(f"unknown block {type(b).__name__}")


def summary_rows(page: Page) -> list[SummaryRow]:
    """The page as rows: title, date, who it is for and what is hidden, then each section."""
    if not page.shared or not page.title.startswith(MARK):
        raise ValueError("the summary written to a tool is always the shared report's page")
    rows = [
        _one(page.title, heading=True),
        _one(
            f"{page.subtitle}. Written by coprod each time a report is made, replacing what was here: "
            "keep your own notes in another tab."
        ),
        _one(f"{page.notice.title}. {page.notice.text}"),
    ]
    for section in page.sections:
        if not section.blocks:
            continue
        if rows[-1] != BLANK:
            rows.append(BLANK)  # one empty row between sections (a table already ends with one)
        rows.append(_one(section.title, heading=True))
        for b in section.blocks:
            rows += _block(b)
    while rows and rows[-1] == BLANK:
        rows.pop()
    return rows


def build_summary(facts: ReportFacts) -> Summary:
    """The summary for a tool: the shared report, always (see the module's docstring)."""
    page = build_page(facts, Disclosure(shared=True))
    return Summary(rows=tuple(summary_rows(page)), mark=MARK)
