"""One call from the facts to the text of a report: which page, which disclosure, which format."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from coprod.report.disclosure import Disclosure
from coprod.report.easy_read import build_easy_read
from coprod.report.facts import ReportFacts
from coprod.report.html import render_page, render_template
from coprod.report.markdown import render_markdown
from coprod.report.views import build_page
from coprod_core.text import money

Format = Literal["html", "md"]


@dataclass(frozen=True)
class ReportKind:
    """Which report: for staff (default), for sharing (``share``), or Easy Read (always shared)."""

    format: Format = "html"
    share: bool = False
    easy_read: bool = False

    @property
    def audience(self) -> str:
        """A short name for the state store's 'last report' date of this kind of report."""
        return "easy_read" if self.easy_read else "share" if self.share else "staff"

    def problem(self) -> str | None:
        """Why this combination cannot be made, in words, or None.

        ``--share`` with ``--easy-read`` is refused too, not taken silently: Easy Read is always the
        version for sharing, and a data officer who typed both should learn that ``--share`` changes
        nothing there rather than wonder what it did (README's synopsis has them as alternatives)."""
        if self.easy_read and self.share:
            return (
                "an Easy Read report is always the version for sharing (small numbers hidden, nobody "
                "named), so --share adds nothing to it; leave out --share"
            )
        if self.easy_read and self.format != "html":
            return (
                "an Easy Read report needs its pictures beside each point, so it is made as HTML only; "
                "leave out --format md (the HTML prints well on A4)"
            )
        return None


def render(facts: ReportFacts, kind: ReportKind) -> str:
    if kind.easy_read:
        problem = kind.problem()
        if problem:
            raise ValueError(problem)
        symbol = money(Decimal(0), facts.payments.currency)[:1]
        return render_template(
            "easy_read.html.j2", page=build_easy_read(facts), currency=symbol if not symbol.isdigit() else ""
        )
    page = build_page(facts, Disclosure(shared=kind.share))
    return render_markdown(page) if kind.format == "md" else render_page(page)
