"""`coprod report` given several recipes, or a folder of recipe folders.

A server's data officer makes the month's reports for every recipe at once: `coprod report
/srv/coprod/recipes --share --out reports` writes one file per recipe into the folder, each named
from its recipe's name and the kind of report, under the several-recipe runner's rules (one broken
recipe named and the others still written, the first problem's exit code), and says which files it
wrote. With one recipe, `report` is as it always was (tests/test_report.py).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.report.command import report_file_name
from coprod.report.render import ReportKind
from fakes import demo_copy, demo_recipes

DATE = ["--date", "2026-11-20"]


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/srv/coprod/recipes in small: three copies of the demo, each forum named after its recipe."""
    folder = demo_recipes(tmp_path, monkeypatch)
    for name in ("alpha", "beta", "gamma"):
        recipe = folder / name / "recipe.toml"
        text = recipe.read_text(encoding="utf-8").replace("Riverside Forum", f"{name.title()} Forum", 1)
        recipe.write_text(text, encoding="utf-8")  # each report says whose it is
    return folder


def test_a_folder_of_recipes_makes_one_report_per_recipe_named_from_the_recipe_and_says_which(
    recipes, tmp_path, capsys
):
    reports = tmp_path / "reports"  # not there yet: made

    assert main(["report", str(recipes), "--out", str(reports), *DATE]) == 0

    assert sorted(p.name for p in reports.iterdir()) == ["alpha.html", "beta.html", "gamma.html"]
    for name in ("alpha", "beta", "gamma"):
        text = (reports / f"{name}.html").read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and f"{name.title()} Forum" in text
        assert all(
            f"{other.title()} Forum" not in text for other in ("alpha", "beta", "gamma") if other != name
        )
        assert "Sam Carter" in text  # the staff report, as without --share
    captured = capsys.readouterr()
    # off a terminal nothing but the line saying what was written (no heading: nothing went wrong),
    # with no blank line above it to start a cron mail
    assert captured.out == f"coprod: 3 report(s) written in {reports}: alpha.html, beta.html, gamma.html\n"
    assert captured.err == ""


@pytest.mark.parametrize(
    ("options", "files"),
    [
        (["--share"], ["alpha-shared.html", "beta-shared.html"]),
        (["--easy-read"], ["alpha-easy-read.html", "beta-easy-read.html"]),
        (["--format", "md"], ["alpha.md", "beta.md"]),
        (["--share", "--format", "md"], ["alpha-shared.md", "beta-shared.md"]),
    ],
)
def test_share_easy_read_and_format_keep_their_meaning_and_name_the_files(
    recipes, tmp_path, capsys, options, files
):
    reports = tmp_path / "reports"

    assert (
        main(
            ["report", str(recipes / "alpha"), str(recipes / "beta"), *options, "--out", str(reports), *DATE]
        )
        == 0
    )

    assert sorted(p.name for p in reports.iterdir()) == files
    text = (reports / files[0]).read_text(encoding="utf-8")
    if "--share" in options or "--easy-read" in options:
        assert "Sam Carter" not in text  # hidden for sharing, as with one recipe
    else:
        assert "Sam Carter" in text
    assert capsys.readouterr().out.endswith(f"written in {reports}: {', '.join(files)}\n")


def test_a_report_for_sharing_never_overwrites_the_staff_report_in_the_same_folder(recipes, tmp_path):
    reports = tmp_path / "reports"
    assert main(["report", str(recipes), "--out", str(reports), *DATE]) == 0
    staff = (reports / "alpha.html").read_text(encoding="utf-8")

    assert main(["report", str(recipes), "--share", "--out", str(reports), *DATE]) == 0

    assert (reports / "alpha.html").read_text(encoding="utf-8") == staff
    assert "Sam Carter" not in (reports / "alpha-shared.html").read_text(encoding="utf-8")


def test_an_existing_file_as_out_is_refused_before_anything_is_read(recipes, tmp_path, capsys):
    out = tmp_path / "report.html"
    out.write_text("last month's report", encoding="utf-8")

    assert main(["report", str(recipes), "--out", str(out), *DATE]) == 2

    said = capsys.readouterr().out
    assert said.startswith(f"coprod: --out {out} is a file, and with several recipes --out names a folder")
    assert "Nothing was read or written" in said
    assert out.read_text(encoding="utf-8") == "last month's report"
    assert not (tmp_path / "state").exists()  # no recipe was run


@pytest.mark.parametrize("name", ["all.html", "reports.HTM", "summary.md"])
def test_a_report_files_name_as_out_is_refused_with_several_recipes_not_made_a_folder(
    recipes, tmp_path, capsys, name
):
    """`coprod report recipes --out all.html`, typed by someone who wants one page, made a folder
    called all.html holding alpha.html, beta.html and gamma.html: opened in a browser, a listing."""
    out = tmp_path / name

    assert main(["report", str(recipes), "--out", str(out), *DATE]) == 2

    said = capsys.readouterr().out
    assert said.startswith(f"coprod: --out {out} is a file's name, and with several recipes --out names")
    assert f"report {recipes} --out reports`" in said and "Nothing was read or written" in said
    assert not out.exists() and not (tmp_path / "state").exists()


def test_an_existing_folder_whose_name_ends_html_still_takes_the_reports(recipes, tmp_path):
    out = tmp_path / "site.html"
    out.mkdir()

    assert main(["report", str(recipes), "--out", str(out), *DATE]) == 0

    assert sorted(p.name for p in out.iterdir()) == ["alpha.html", "beta.html", "gamma.html"]


def test_a_folder_whose_name_ends_md_takes_web_pages_unless_md_is_asked_for(recipes, tmp_path):
    # `--out report.md` asks one recipe's report in Markdown by its name; with several recipes --out
    # is a folder, whose name asks nothing: `notes.md` made every report Markdown.
    out = tmp_path / "notes.md"
    out.mkdir()

    assert main(["report", str(recipes), "--out", str(out), *DATE]) == 0

    assert sorted(p.name for p in out.iterdir()) == ["alpha.html", "beta.html", "gamma.html"]
    assert main(["report", str(recipes), "--out", str(out), "--format", "md", *DATE]) == 0
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".md") == ["alpha.md", "beta.md", "gamma.md"]


@pytest.mark.parametrize("out", [[], ["--out", "-"]])
def test_several_reports_are_never_printed_one_after_another(recipes, tmp_path, capsys, out):
    assert main(["report", str(recipes), *out, *DATE]) == 2

    said = capsys.readouterr().out
    assert said.startswith("coprod: with several recipes, each report is a file of its own in a folder")
    assert f"report {recipes} --out reports`" in said
    assert "<!DOCTYPE" not in said and not (tmp_path / "-").exists()


def test_share_with_easy_read_is_refused_once_not_once_per_recipe(recipes, tmp_path, capsys):
    assert main(["report", str(recipes), "--share", "--easy-read", "--out", str(tmp_path / "r"), *DATE]) == 2

    said = capsys.readouterr().out
    assert said.count("coprod: ") == 1 and "leave out --share" in said
    assert not (tmp_path / "r").exists()


def test_a_broken_recipe_is_named_the_others_are_written_and_its_code_is_the_exit_code(
    recipes, tmp_path, capsys
):
    (recipes / "beta" / "recipe.toml").write_text("", encoding="utf-8")  # exit 2
    (recipes / "gamma" / "data" / "sessions.csv").unlink()  # exit 3
    reports = tmp_path / "reports"

    assert main(["report", str(recipes), "--out", str(reports), *DATE]) == 2

    assert sorted(p.name for p in reports.iterdir()) == ["alpha.html"]
    lines = capsys.readouterr().out.splitlines()
    assert f"== {recipes / 'beta'}" in lines and f"== gamma ({recipes / 'gamma'})" in lines
    assert lines[-3:] == [
        f"coprod: 1 report(s) written in {reports}: alpha.html",
        "",
        f"coprod: 2 of 3 recipes ended with a problem (above): {recipes / 'beta'} (exit 2), gamma (exit 3); "
        "the exit code is 2, the first one's",
    ]


def test_what_a_report_says_on_stderr_comes_under_its_recipes_heading(recipes, tmp_path, monkeypatch):
    # On a terminal each report says where it went: under its recipe's name, in the order run.
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err, out = Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    reports = tmp_path / "reports"

    assert main(["report", str(recipes / "gamma"), str(recipes / "alpha"), "--out", str(reports), *DATE]) == 0

    assert [line for line in out.getvalue().splitlines() if line.startswith("== ")] == [
        f"== gamma ({recipes / 'gamma'})",
        f"== alpha ({recipes / 'alpha'})",
    ]
    written = re.findall(r"Report written to (\S+) \(", err.getvalue())  # after the spinner's codes
    assert written == [str(reports / "gamma.html"), str(reports / "alpha.html")]


def test_two_recipe_names_that_differ_only_in_capitals_never_share_a_report_file(recipes, tmp_path, capsys):
    # On Windows and macOS Alpha.html and alpha.html are one file: the second would overwrite the first.
    demo_copy(recipes / "zeta", "Alpha")
    reports = tmp_path / "reports"

    assert main(["report", str(recipes / "alpha"), str(recipes / "zeta"), "--out", str(reports), *DATE]) == 2

    assert [p.name for p in reports.iterdir()] == ["alpha.html"]
    said = capsys.readouterr().out
    assert "recipe 'Alpha''s report would be" in said and "the file of recipe 'alpha''s" in said


@pytest.mark.parametrize(
    ("name", "kind", "file"),
    [
        ("youth-panel", ReportKind(), "youth-panel.html"),
        ("youth-panel", ReportKind(share=True), "youth-panel-shared.html"),
        ("youth-panel", ReportKind(easy_read=True), "youth-panel-easy-read.html"),
        ("youth_panel.v2", ReportKind(format="md"), "youth_panel.v2.md"),
        ("con", ReportKind(), "con_.html"),  # a device name on Windows, with any extension
        ("NUL", ReportKind(share=True), "NUL_-shared.html"),
        ("lpt1", ReportKind(format="md"), "lpt1_.md"),
        ("console", ReportKind(), "console.html"),
        ("a b/c", ReportKind(), "a_b_c.html"),  # never a path, whatever the name holds
    ],
)
def test_a_report_file_is_named_from_its_recipe_and_kind_and_is_a_safe_file_name(name, kind, file):
    assert report_file_name(name, kind) == file
