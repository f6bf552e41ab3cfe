"""The shared and Easy Read reports leak no small count, no name and no answer.

The data is built so that a leak would show (``fakes.report_data``): two groups of 3 and 5 people,
3 people who gave no answer, one person owed, one paid though they declined, 3 rows rejected, and
a marker in every name, free text and answer. The whole text of each page is searched, attributes
included; and a second dataset that differs only in what must stay hidden (who is in which small
group, every name, answer and free text) must give the same page, byte for byte, which also
catches a leak through the drawing itself (a bar's length, an axis, a position).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from coprod.report.render import ReportKind, render
from fakes import report_data as rd
from fakes.html_doc import all_text, parse, small_counts

ROOT = Path(__file__).resolve().parent.parent
SHARED_KINDS = (ReportKind(share=True), ReportKind(easy_read=True), ReportKind(share=True, format="md"))


def _id(kind: ReportKind) -> str:
    return f"{kind.audience}-{kind.format}"


@pytest.fixture(scope="module")
def leak_pages() -> dict[str, dict[str, str]]:
    pages: dict[str, dict[str, str]] = {}
    for variant in "ab":
        facts = rd.facts(rd.check(rd.leak_dataset(variant), rd.leak_counts()))
        pages[variant] = {_id(k): render(facts, k) for k in (*SHARED_KINDS, ReportKind())}
    return pages


def _whole_text(page: str, kind: ReportKind) -> str:
    return page if kind.format == "md" else all_text(parse(page))


def test_the_staff_report_of_the_same_data_shows_what_the_others_must_hide(leak_pages) -> None:
    """The data really holds what a leak would show: the staff report shows it."""
    staff = leak_pages["a"]["staff-html"]
    text = all_text(parse(staff))
    assert rd.MARK + "namea1" in text  # the person owed, named in the payments section
    assert "3 of 40" in text and "5 of 40" in text and small_counts(text)
    assert rd.MARK + "decisiona" in text


@pytest.mark.parametrize("kind", SHARED_KINDS, ids=_id)
def test_no_count_from_1_to_7_and_no_name_or_answer_anywhere_in_the_page(leak_pages, kind) -> None:
    page = leak_pages["a"][_id(kind)]
    text = _whole_text(page, kind)
    assert small_counts(text) == []
    assert rd.MARK not in page  # no name, answer, session title or decision wording, even in markup
    assert "fewer than 8" in text.lower()


@pytest.mark.parametrize("kind", SHARED_KINDS, ids=_id)
def test_data_differing_only_in_what_is_hidden_gives_the_same_page(leak_pages, kind) -> None:
    assert leak_pages["a"][_id(kind)] == leak_pages["b"][_id(kind)]
    assert leak_pages["a"]["staff-html"] != leak_pages["b"]["staff-html"]


@pytest.mark.parametrize("kind", SHARED_KINDS, ids=_id)
@pytest.mark.parametrize(
    "make", [rd.single_participant, rd.all_unknown, rd.empty_project], ids=lambda m: m.__name__
)
def test_edge_cases_shared_show_no_small_count_or_name(make, kind) -> None:
    page = render(rd.facts(rd.check(make())), kind)
    assert small_counts(_whole_text(page, kind)) == []
    assert rd.MARK not in page


def _demo_people() -> list[dict[str, str]]:
    with (ROOT / "recipes" / "demo" / "data" / "people.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", SHARED_KINDS, ids=_id)
def test_the_demos_shared_reports_name_nobody(kind) -> None:
    built = rd.demo()
    page = render(rd.facts(built), kind)
    names = [row["Name"] for row in _demo_people() if row["Name"].strip()]
    assert names and not [n for n in names if n in page]
    decisions = [s.decision for s in built.dataset.sessions if s.decision]
    assert decisions and not [d for d in decisions if d in page]
