"""Markdown rendering, for pasting the report into a document: the same page, charts as their tables.

The charity's text is escaped so that a project called ``*Day* | [service](x)`` reads as typed and
cannot break a table, make a link or inject HTML where the Markdown is rendered. It is shown
with its invisible characters made visible, as in the HTML, but not isolated: Markdown has no
isolation every renderer honours, and the Unicode isolate characters would be pasted, unseen, into
the documents the text goes to (:mod:`~coprod.report.isolate` says why).
"""

from __future__ import annotations

import re

from coprod.report.blocks import Block, Bullets, Figure, Heading, Notice, Page, Paragraph, Table
from coprod.report.isolate import plain

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")
_LINE_START = re.compile(r"^([#>+=-])")
_NUMBERED = re.compile(r"^(\d+)([.)])")


def escape(text: str) -> str:
    """Plain text that Markdown shows as written: one line, special characters backslashed.

    A line starting like a heading, quote, list item or numbered list item is escaped too.
    """
    one_line = _SPECIAL.sub(r"\\\1", " ".join(plain(str(text)).split()))
    return _NUMBERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", one_line))


def _table(t: Table) -> list[str]:
    lines = [f"**{escape(t.caption)}**", ""]
    lines.append("| " + " | ".join(escape(h) for h in t.head) + " |")
    lines.append("|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.head))) + "|")
    for row in t.rows:
        lines.append("| " + " | ".join(escape(c) for c in row) + " |")
    if t.note:
        lines += ["", escape(t.note)]
    return [*lines, ""]


def _block(b: Block) -> list[str]:
    if isinstance(b, Paragraph):
        lead = f"**{escape(b.strong)}** " if b.strong else ""
        return [lead + escape(b.text), ""]
    if isinstance(b, Notice):
        return [f"> **{escape(b.title)}.** {escape(b.text)}", ""]
    if isinstance(b, Heading):
        return [f"{'#' * b.level} {escape(b.text)}", ""]
    if isinstance(b, Bullets):
        return [*(f"- {escape(item)}" for item in b.items), ""]
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Figure):
        return [f"*{escape(b.title)}.* {escape(b.summary)}", "", *_table(b.table)]
    raise TypeError(f"unknown block {type(b).__name__}")


def render_markdown(page: Page) -> str:
    lines = [f"# {escape(page.title)}", "", escape(page.subtitle), ""]
    lines += _block(page.notice)
    for s in page.sections:
        lines += [f"## {escape(s.title)}", ""]
        for b in s.blocks:
            lines += _block(b)
    return "\n".join(lines).rstrip() + "\n"
