"""Names in any script: each piece of the charity's text in a report is isolated and shown as typed.

An Arabic project or person name must not pull "(ID p01)" or a count into its right-to-left run,
and a right-to-left override (U+202E) typed into a name must not print the rest of the line
backwards: in HTML each piece is in its own ``<bdi>``, with invisible characters shown as
``<U+202E>``; in Markdown and the summary tab they are shown, and nothing invisible is added.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from coprod.report.render import ReportKind, render
from coprod.report.summary_tab import build_summary
from fakes import report_data as rd
from fakes.html_doc import parse, tag

FSI, PDI = "\u2068", "\u2069"
"""Unicode's isolation marks: the views mark each piece with them, and only SVG and attributes keep them."""
SHOWN_PROJECT = "Youth <U+202E>forum"
SHOWN_PERSON = "Sam <U+202E>Carter"
SHOWN_TITLE = "Steering <U+202E>group"


@pytest.fixture(scope="module")
def facts():
    return rd.facts(rd.check(rd.bidi_dataset(), rd.leak_counts()))


def _isolated(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter() if tag(el) == "bdi"]


def _texts(root: ET.Element) -> set[str]:
    return {"".join(el.itertext()) for el in _isolated(root)}


def test_the_staff_report_puts_each_name_and_title_in_its_own_bdi(facts) -> None:
    page = render(facts, ReportKind())
    root = parse(page)  # still valid HTML, in html5lib's strict mode
    texts = _texts(root)
    assert {rd.ARABIC_PROJECT, SHOWN_PROJECT, rd.ARABIC_PERSON, SHOWN_PERSON, SHOWN_TITLE} <= texts
    assert {"p01", "p02"} <= texts  # the id beside the name is a piece of its own
    # Only the name is isolated: "(ID p01)" stays in the English sentence around it.
    assert not any("(ID" in t or t.startswith(" ") for t in texts)
    names = [el for el in _isolated(root) if el.text == rd.ARABIC_PERSON]
    assert names and all((el.tail or "").startswith(" (ID") for el in names)
    assert "\u202e" not in page
    assert FSI not in _html_text(root) and PDI not in _html_text(root)  # every mark became a <bdi>


def _html_text(root: ET.Element) -> str:
    """The text of the page's body outside its SVG (in SVG and the head's title the marks stay as characters)."""
    body = next(el for el in root.iter() if tag(el) == "body")
    svg = {el for top in body.iter() if tag(top) == "svg:svg" for el in top.iter() if el is not top}
    parts = []
    for el in body.iter():
        if el not in svg:
            parts.append("" if tag(el) == "svg:svg" else el.text or "")
            parts.append(el.tail or "")
    return "".join(parts)


def test_the_shared_and_easy_read_reports_isolate_the_project_names(facts) -> None:
    for kind in (ReportKind(share=True), ReportKind(easy_read=True)):
        page = render(facts, kind)
        texts = _texts(parse(page))
        assert {rd.ARABIC_PROJECT, SHOWN_PROJECT} <= texts, kind
        assert "\u202e" not in page
        assert rd.ARABIC_PERSON not in page and "Sam " not in page  # still nobody named


def test_the_arabic_name_is_written_as_typed_and_the_override_is_shown(facts) -> None:
    """The Arabic letters are not escaped, reordered or given marks of their own inside the name."""
    for kind in (ReportKind(), ReportKind(share=True), ReportKind(easy_read=True), ReportKind(format="md")):
        page = render(facts, kind)
        assert rd.ARABIC_PROJECT in page, kind
        assert "\u202e" not in page
    md = render(facts, ReportKind(format="md"))
    assert rd.ARABIC_PERSON in md
    assert "Youth \\<U+202E\\>forum" in md and "Sam \\<U+202E\\>Carter" in md  # Markdown's escaped < and >
    assert FSI not in md and PDI not in md  # nothing invisible added to a pasted document


def test_the_summary_tab_shows_the_override_and_adds_nothing_invisible(facts) -> None:
    cells = [c for row in build_summary(facts).rows for c in row.cells]
    text = "\n".join(cells)
    assert any(rd.ARABIC_PROJECT in c for c in cells) and any(SHOWN_PROJECT in c for c in cells)
    assert "\u202e" not in text and FSI not in text and PDI not in text


def test_the_reports_leave_the_facts_as_the_data_holds_them(facts) -> None:
    """Only the words of a page change: what the state store and fingerprints are made from does not."""
    render(facts, ReportKind())
    names = {p.project.id: p.project.name for p in facts.projects}
    assert names == {"P1": rd.ARABIC_PROJECT, "P2": rd.OVERRIDE_PROJECT}
    assert {u.name for u in facts.payments.unpaid} == {rd.ARABIC_PERSON, rd.OVERRIDE_PERSON}


def test_isolation_marks_typed_into_a_name_are_shown_not_taken_for_bdi() -> None:
    """A name holding U+2068/U+2069 or '<bdi>' cannot open or close an element: both are shown."""
    from coprod.report.isolate import html, isolated

    sentence = f"Project {isolated('a' + FSI + 'b' + PDI + '<bdi>')} (ID 7)"
    assert str(html(sentence)) == "Project <bdi>a&lt;U+2068&gt;b&lt;U+2069&gt;&lt;bdi&gt;</bdi> (ID 7)"
    parse(f"<!DOCTYPE html><html lang='en'><title>t</title><p>{html(sentence)}</p></html>")


ARABIC_DECISION = "اعتماد الميزانية"
"""What was decided at the session without a voice, in Arabic: quoted by the ladder's finding."""


def test_a_criterion_finding_isolates_each_decision_and_session_title_it_quotes_and_nothing_else() -> None:
    """'From the start' quotes the decisions taken before anyone with a voice took part, with their
    sessions' titles: in the staff report's ladder each is in its own <bdi> (the Arabic decision as
    typed, the title's U+202E shown), and the rest of the line is the finding's words, unchanged.
    The finding a flag's message takes has no mark; Markdown shows them, adding nothing."""
    from coprod_core.checks.consultation import FROM_THE_START
    from coprod_core.text import visible

    data = rd.bidi_dataset()
    sessions = tuple(
        s.model_copy(update={"decision": ARABIC_DECISION}) if s.id == "d0" else s for s in data.sessions
    )
    built = rd.check(data.model_copy(update={"sessions": sessions}), rd.leak_counts())
    facts = rd.facts(built)
    (criterion,) = [p.assessment.criteria[FROM_THE_START] for p in facts.projects if p.project.id == "P1"]
    assert f"{ARABIC_DECISION} ({rd.OVERRIDE_TITLE} on " in criterion.finding  # as the flag says it

    root = parse(render(facts, ReportKind()))
    rows = [
        row
        for row in root.iter()
        if tag(row) == "tr" and any(tag(c) == "th" and c.text == "From the start" for c in row)
    ]
    cells = [row[-1] for row in rows if any(el.text == ARABIC_DECISION for el in _isolated(row))]
    (cell,) = cells
    assert [el.text for el in _isolated(cell)] == [ARABIC_DECISION, SHOWN_TITLE]
    assert "".join(cell.itertext()) == visible(criterion.finding)
    assert (cell.text or "").startswith("1 decision was taken without them before they first took part: ")

    md = render(facts, ReportKind(format="md"))
    assert f"{ARABIC_DECISION} (Steering \\<U+202E\\>group on " in md
    assert FSI not in md and PDI not in md
    assert not any(FSI in f.message or PDI in f.message for f in built.flags)


ARABIC_SOURCE = "سجلات الخدمة"
"""Where the recipe says its baseline came from ('service records'), in Arabic."""


def test_the_baselines_source_is_isolated_where_the_representation_cites_it() -> None:
    """The recipe's words for where a baseline came from, cited after each comparison, are in their
    own <bdi>, as the payment policy's source is: the date after them stays in the English."""
    data = rd.bidi_dataset()
    baseline = {k: b.model_copy(update={"source": ARABIC_SOURCE}) for k, b in data.baseline.items()}
    facts = rd.facts(rd.check(data.model_copy(update={"baseline": baseline}), rd.leak_counts()))
    root = parse(render(facts, ReportKind()))
    notes = [el for el in root.iter() if tag(el) == "p" and el.get("class") == "note" and _isolated(el)]
    cited = [el for el in notes if (el.text or "").startswith("People who use the service: ")]
    assert cited
    for note in cited:
        (piece,) = _isolated(note)
        assert piece.text == ARABIC_SOURCE
        assert (piece.tail or "").startswith(", as of 31 March 2026; shares among")
    md = render(facts, ReportKind(format="md"))
    assert f"People who use the service: {ARABIC_SOURCE}, as of 31 March 2026" in md
    assert FSI not in md and PDI not in md


ARABIC_DIMENSION = "الإعاقة"
"""A dimension the recipe names in Arabic ('disability'): its baseline and people's answers."""


def test_a_dimension_the_recipe_names_is_isolated_in_the_representation() -> None:
    """The recipe's name for what it compares (a [baseline] and the people's answers under it) heads
    its comparison and opens the table's caption: in its own <bdi> in each, the project's name after
    it in another."""
    data = rd.bidi_dataset()
    rename = {"disability": ARABIC_DIMENSION}
    people = tuple(
        p.model_copy(update={"demographics": {rename.get(k, k): v for k, v in p.demographics.items()}})
        for p in data.people
    )
    baseline = {rename.get(k, k): b for k, b in data.baseline.items()}
    facts = rd.facts(
        rd.check(data.model_copy(update={"people": people, "baseline": baseline}), rd.leak_counts())
    )
    root = parse(render(facts, ReportKind()))
    headings = [el for el in root.iter() if tag(el) == "h4" and _texts(el) == {ARABIC_DIMENSION}]
    captions = [
        el
        for el in root.iter()
        if tag(el) == "caption" and [b.text for b in _isolated(el)][:1] == [ARABIC_DIMENSION]
    ]
    assert headings and captions
    assert all(not (h.text or "").strip() for h in headings)  # nothing but the name
    assert all((c.text or "") == "" and (_isolated(c)[0].tail or "") == ": " for c in captions)
    md = render(facts, ReportKind(format="md"))
    assert f"#### {ARABIC_DIMENSION}" in md and FSI not in md and PDI not in md
