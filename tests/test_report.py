"""``coprod report``: valid, self-contained pages whose charts say what the flags say."""

from __future__ import annotations

import csv
import io
import shutil
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.report.facts import (
    DECLINED,
    MISLABELLED,
    OVERDUE,
    OWED,
    UNDER_REPRESENTED,
    WITHOUT_VOICE,
    rule_title,
)
from coprod.report.isolate import plain
from coprod.report.markdown import escape
from coprod.report.render import ReportKind, render
from coprod_core.flags import Flag
from fakes import report_data as rd
from fakes.html_doc import by_class, parse, tag

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recipes" / "demo"
KINDS = (ReportKind(), ReportKind(share=True), ReportKind(easy_read=True))


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv", "*.py"))
    return target


DATASETS = {
    "demo": rd.demo,
    "empty project": lambda: rd.check(rd.empty_project()),
    "all answers unknown": lambda: rd.check(rd.all_unknown()),
    "single participant": lambda: rd.check(rd.single_participant()),
    "leak data": lambda: rd.check(rd.leak_dataset(), rd.leak_counts()),
    "5,000 people": lambda: rd.check(rd.large_project()),
}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def built(request: pytest.FixtureRequest) -> rd.Built:
    return DATASETS[request.param]()


def _of(flags: list[Flag], check_id: str) -> list[Flag]:
    return [f for f in flags if f.check_id == check_id]


# --- the command -------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as staff typing a command have."""

    def isatty(self) -> bool:
        return True


def test_report_writes_one_self_contained_html_file_and_says_nothing_under_cron(
    demo, tmp_path, capsys
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(demo), "--out", str(out), "--date", "2026-11-20"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # not a terminal: quiet when all went well
    text = out.read_text(encoding="utf-8")
    parse(text)
    lowered = text.lower()
    # Nothing fetched from anywhere: no script, no stylesheet link, no image, no font, no URL.
    for external in ("<script", "<link", "<img", "@import", "@font-face", "http://", "https://", "src="):
        assert external not in lowered
    assert "url(" not in lowered.replace("url(#hatch)", "")
    assert "Sam Carter" in text  # the staff report names people in the payments section
    assert "`" not in text  # Markdown's code marks would show as they are on a web page


def test_markdown_goes_to_stdout_with_the_same_sections(demo, capsys) -> None:
    assert main(["report", str(demo), "--format", "md", "--date", "2026-11-20"]) == 0
    text = capsys.readouterr().out
    for heading in (
        "## Representation",
        "## Decisions",
        "## The ladder",
        "## Payments",
        "## Data quality",
        "## Flags",
    ):
        assert heading in text
    assert "| Group | Participants | Share | 95% interval |" in text


def test_an_out_file_ending_in_md_gets_markdown_unless_a_format_is_given(demo, tmp_path, capsys) -> None:
    # `--out report.md` wrote the HTML page into report.md (walkthrough): a newcomer opening it in a
    # Markdown editor met a wall of markup. --format still decides when given.
    md, forced = tmp_path / "report.md", tmp_path / "page.md"
    assert main(["report", str(demo), "--out", str(md), "--date", "2026-11-20"]) == 0
    assert main(["report", str(demo), "--out", str(forced), "--format", "html", "--date", "2026-11-20"]) == 0
    assert "## Payments" in md.read_text(encoding="utf-8") and "<html" not in md.read_text(encoding="utf-8")
    assert forced.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    easy = tmp_path / "easy.md"  # Easy Read is HTML only: made as before, not refused for the name
    assert main(["report", str(demo), "--out", str(easy), "--easy-read", "--date", "2026-11-20"]) == 0
    assert easy.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert capsys.readouterr().out == ""


def test_easy_read_is_html_only_and_markdown_is_refused_with_a_sentence(demo, capsys) -> None:
    assert main(["report", str(demo), "--easy-read", "--format", "md"]) == 2
    err = capsys.readouterr().err
    assert "Easy Read" in err and "HTML" in err and "Traceback" not in err


def test_share_with_easy_read_is_refused_with_a_sentence_before_anything_is_read(
    demo, tmp_path, capsys
) -> None:
    """Easy Read is always the version for sharing: asking for both is refused as --format md is
    (exit 2, one sentence), not accepted silently as if --share changed something."""
    (demo / "data" / "sessions.csv").unlink()  # read first, this would exit 3
    out = tmp_path / "r.html"
    assert main(["report", str(demo), "--share", "--easy-read", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "Easy Read" in captured.err and "--share" in captured.err and "always" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists()


def test_an_invalid_recipe_exits_2_and_a_missing_export_exits_3(demo, tmp_path, capsys) -> None:
    (demo / "data" / "sessions.csv").unlink()
    assert main(["report", str(demo), "--out", str(tmp_path / "r.html")]) == 3
    assert "sessions.csv" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
    (demo / "recipe.toml").write_text("name = 'x'\n")
    assert main(["report", str(demo)]) == 2


def test_a_report_that_cannot_be_written_exits_2_with_a_sentence(demo, tmp_path, capsys) -> None:
    assert main(["report", str(demo), "--out", str(tmp_path / "no" / "such" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "could not write the report" in err and "Traceback" not in err


def test_a_report_into_a_folder_that_is_not_there_says_to_make_it(demo, tmp_path, capsys) -> None:
    """It said the system's words alone, "No such file or directory" (newcomer walkthrough: `--out
    reports/report.html` before making reports/)."""
    out = tmp_path / "reports" / "report.html"
    assert main(["report", str(demo), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"coprod: could not write the report to {out}: there is no folder {out.parent}: make it first, "
        "or give --out a file in a folder that exists"
    )
    assert not out.parent.exists()


def test_a_report_into_a_folder_this_user_may_not_look_in_says_so_not_a_traceback(
    demo, tmp_path, capsys, monkeypatch
) -> None:
    """--out in a folder inside one this user may not enter (another user's home): the write is
    refused, and so is the look at whether the folder is there (os.stat: Permission denied, which
    Path.exists raises), which went up as "something unexpected" (exit 1) from inside the sentence
    meant to say why. As root nothing is refused, so both refusals are made here."""
    import coprod.report.command as command

    out = tmp_path / "theirs" / "reports" / "report.html"

    def refused(path: Path, text: str) -> None:
        raise PermissionError(13, "Permission denied")

    real_exists = Path.exists

    def exists(self: Path) -> bool:
        if self in (out.parent, out.parent.parent):
            raise PermissionError(13, "Permission denied")
        return real_exists(self)

    monkeypatch.setattr(command, "write_atomically", refused)
    monkeypatch.setattr(Path, "exists", exists)
    assert main(["report", str(demo), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"coprod: could not write the report to {out}: coprod may not write there (Permission denied): "
        "give --out a file in a folder of yours"
    )


def _flags_csv(demo: Path) -> list[dict[str, str]]:
    with (demo / "data" / "coprod-flags.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_flags_section_counts_what_staff_acknowledged_and_what_was_resolved_since_the_last_report(
    demo, tmp_path, capsys
) -> None:
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 0
    assert main(["report", str(demo), "--format", "md", "--date", "2026-11-20"]) == 0
    first = capsys.readouterr().out
    assert "(no earlier report)" in first
    before = _flag_table(first)
    # Staff acknowledge the paid-though-declined flag in the flags file; the budget meeting's
    # register gains a carer, which resolves its "decision taken without lived experience".
    rows = _flags_csv(demo)
    fieldnames = list(rows[0])
    for row in rows:
        if row["Check"] == DECLINED:
            row["Status"] = "acknowledged"
    with (demo / "data" / "coprod-flags.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    with (demo / "data" / "attendance.csv").open("a", encoding="utf-8") as f:
        f.write("1,S01,,,\n")
    assert main(["sync", str(demo), "--date", "2026-11-27"]) == 0
    capsys.readouterr()
    assert main(["report", str(demo), "--format", "md", "--date", "2026-11-27"]) == 0
    text = capsys.readouterr().out
    assert "Resolved since the last report (20 November 2026)" in text
    after = _flag_table(text)
    without, declined = rule_title(WITHOUT_VOICE), rule_title(DECLINED)
    assert before[without][0] >= 1 and before[declined] == (1, 0, 0)
    assert after[without] == (before[without][0] - 1, 0, 1)
    assert after[declined] == (0, 1, 0)


def _flag_table(md: str) -> dict[str, tuple[int, ...]]:
    """The 'Flags by rule' table of a Markdown report: rule -> (open, acknowledged, resolved)."""
    start = md.index("**Flags by rule**")
    rows = {}
    for line in md[start:].splitlines()[4:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = tuple(int(c) for c in cells[1:])
    return rows


# --- every report of every dataset -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.audience)
def test_every_report_is_valid_html_and_every_chart_has_its_table(built, kind) -> None:
    text = render(rd.facts(built), kind)
    assert len(text.encode()) < 5_000_000
    root = parse(text)
    assert root.get("lang") == "en-GB"
    headings = [tag(el) for el in root.iter() if tag(el) in ("h1", "h2", "h3", "h4")]
    assert headings[0] == "h1" and headings.count("h1") == 1 and "h2" in headings
    figures = [el for el in root.iter() if tag(el) == "figure"]
    charts = [el for el in root.iter() if tag(el) == "svg:svg" and "chart" in el.get("class", "")]
    for fig in figures:
        inside = [tag(el) for el in fig.iter()]
        assert inside.count("svg:svg") == 1 and inside.count("table") == 1 and "figcaption" in inside
    assert len(charts) == len(figures)
    for svg in charts:
        assert svg.get("role") == "img" and len(svg.get("aria-labelledby", "").split()) == 2
        assert [tag(c) for c in svg][:2] == ["svg:title", "svg:desc"]
    for table in (el for el in root.iter() if tag(el) == "table"):
        assert [tag(c) for c in table][0] == "caption"
    if kind.easy_read:
        points = by_class(root, "point", "div")
        assert points and all(tag(p[0]) == "svg:svg" for p in points)  # a picture beside each point


def _bars(root) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (g.get("data-dimension"), g.get("data-category")): dict(g.attrib)
        for g in by_class(root, "bar")
        if g.get("data-dimension")
    }


def test_the_numbers_in_the_charts_are_those_in_the_flags_evidence(built) -> None:
    root = parse(render(rd.facts(built), ReportKind()))
    bars = _bars(root)
    marked = {k for k, b in bars.items() if b["data-under-represented"] == "yes"}
    flagged = {(f.evidence["dimension"], f.evidence["category"]) for f in _of(built.flags, UNDER_REPRESENTED)}
    assert marked == flagged
    for f in _of(built.flags, UNDER_REPRESENTED):
        bar = bars[(f.evidence["dimension"], f.evidence["category"])]
        assert (int(bar["data-x"]), int(bar["data-n"])) == (f.evidence["x"], f.evidence["n"])
        for attr, key in (
            ("observed", "observed_share"),
            ("lower", "wilson_lower"),
            ("upper", "wilson_upper"),
            ("baseline", "baseline_share"),
        ):
            assert float(bar[f"data-{attr}"]) == pytest.approx(f.evidence[key], abs=1e-6)
    money = {g.get("data-line"): g for g in by_class(root, "bar") if g.get("data-line")}
    for line, check_id, key in (
        ("overdue", OVERDUE, "total_owed"),
        ("owed", OWED, "total_owed"),
        ("declined", DECLINED, "total_paid"),
    ):
        if line in money:
            expected = sum((Decimal(f.evidence[key]) for f in _of(built.flags, check_id)), Decimal(0))
            assert Decimal(money[line].get("data-amount")) == expected
            assert int(money[line].get("data-people")) == len(
                {f.subject.id for f in _of(built.flags, check_id)}
            )
    ladders = {svg.get("data-project"): svg for svg in root.iter() if svg.get("data-chart") == "ladder"}
    for f in _of(built.flags, MISLABELLED):
        assert ladders[f.subject.id].get("data-rung") == f.evidence["rung"]
        assert ladders[f.subject.id].get("data-label") == f.evidence["label"]


def test_each_chart_and_its_table_show_the_same_numbers() -> None:
    built = rd.check(rd.leak_dataset(), rd.leak_counts())
    root = parse(render(rd.facts(built), ReportKind()))
    for fig in (el for el in root.iter() if tag(el) == "figure" and el.get("id", "").startswith("rep-")):
        rows = {  # a group's name is in <bdi>, and marked as isolated in the chart (U+2068, U+2069)
            "".join(r[0].itertext()): [c.text for c in r[1:]]
            for r in next(el for el in fig.iter() if tag(el) == "tbody")
        }
        for g in by_class(fig, "bar"):
            label = plain(
                " ".join(
                    t.text or ""
                    for t in g
                    if tag(t) == "svg:text" and t.get("x") == "0" and "under-" not in (t.text or "")
                )
            )
            row = next(v for k, v in rows.items() if k and " ".join(k.split()) == " ".join(label.split()))
            assert row[0] == f"{g.get('data-x')} of {g.get('data-n')}"
            assert row[3] == f"{round(float(g.get('data-baseline')) * 100)}%"


def test_the_charitys_text_is_escaped_in_html_and_in_markdown() -> None:
    hostile = 'Day <script>alert(1)</script> & "x" | [link](http://evil) *bold*'
    built = rd.check(rd.with_name(rd.single_participant(), hostile))
    for kind in KINDS:
        text = render(rd.facts(built), kind)
        parse(text)
        assert "<script>" not in text and "&lt;script&gt;" in text
    md = render(rd.facts(built), ReportKind(format="md"))
    assert escape(hostile) in md and "[link](" not in md and "<script>" not in md


def test_dates_and_money_are_written_the_uk_way_in_the_policys_currency() -> None:
    built = rd.check(rd.leak_dataset(), rd.leak_counts())
    text = render(rd.facts(built), ReportKind(format="md"))
    assert "As of 20 November 2026" in text and "£17,165.00" in text
    euro = rd.leak_dataset().model_copy(update={"policy": rd.POLICY.model_copy(update={"currency": "EUR"})})
    assert "€17,165.00" in render(rd.facts(rd.check(euro, rd.leak_counts())), ReportKind(format="md"))


def test_the_report_for_staff_without_any_sync_says_so() -> None:
    text = render(rd.facts(rd.demo()), ReportKind(format="md"))
    assert "No sync of this recipe is recorded" in text
    assert date(2026, 11, 20).strftime("%-d %B %Y") in text


def test_every_template_ships_in_the_wheel() -> None:
    """pyproject's package-data names the templates by pattern: a new kind of file must be added there."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "coprod.report"
    ]
    templates = ROOT / "coprod" / "report" / "templates"
    for path in templates.iterdir():
        assert any(path.relative_to(templates.parent).match(p) for p in patterns), path.name


def test_on_a_terminal_it_shows_progress_and_says_where_the_report_went(demo, tmp_path, monkeypatch) -> None:
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    out = tmp_path / "r.html"
    assert main(["report", str(demo), "--share", "--out", str(out), "--date", "2026-11-20"]) == 0
    assert f"Report written to {out}" in err.getvalue() and " KB)" in err.getvalue()
    assert "Building the report" in err.getvalue()  # the spinner while the report is built
    assert out.is_file()


def test_a_page_printed_to_a_terminal_ends_saying_how_to_write_it_to_a_file(demo, monkeypatch) -> None:
    # `coprod report R` typed without --out scrolled a whole HTML page past a newcomer (walkthrough),
    # ending in its last tags and nothing to open. Redirected (`> report.html`) or in Markdown, the
    # output is the document alone, as before.
    out, err = Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["report", str(demo), "--date", "2026-11-20"]) == 0
    assert out.getvalue().startswith("<!DOCTYPE html>")
    assert err.getvalue().endswith("run the same command with --out report.html added.\n")

    for argv, stdout in (([], io.StringIO()), (["--format", "md"], Terminal())):
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", err := io.StringIO())
        assert main(["report", str(demo), "--date", "2026-11-20", *argv]) == 0
        assert "--out report.html" not in err.getvalue() + stdout.getvalue()
