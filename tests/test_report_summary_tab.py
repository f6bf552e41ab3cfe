"""``summary_tab``: ``coprod report`` writes the shared report's summary into a tab of the sheet.

Against the fake Sheets API at the HTTP layer: the write is ONE request, every text a stringValue,
it replaces the tab's previous summary whole, and nothing in it is a count from 1 to 7 or a name
(the leak data of ``fakes.report_data``, and a sheet whose every name and free text is marked).
"""

from __future__ import annotations

import io
import json
import re
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import responses
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from coprod.cli import main
from coprod.config import LoadedRecipe, load_recipe
from coprod.connectors.base import ConnectorContext, Summary
from coprod.connectors.sheets import SheetsConnector, SheetsOptions
from coprod.report.command import make_report
from coprod.report.disclosure import FEWER
from coprod.report.render import ReportKind, render
from coprod.report.summary_tab import MARK, build_summary
from coprod.sync import ExitCode
from fakes import ROOT
from fakes import report_data as rd
from fakes.html_doc import small_counts
from fakes.sheets import TOKEN_URL, FakeSpreadsheet, FakeTab, service_account_key

KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
RUN = date(2026, 6, 1)
RECIPE_DIR = ROOT / "recipes" / "google-sheets"
ZQ = rd.MARK
"""In every name and free text of the sheet, and nowhere else."""


def header(name: str) -> list[str]:
    return (RECIPE_DIR / "templates" / name).read_text(encoding="utf-8").splitlines()[0].split(",")


def make_recipe(tmp_path: Path, *, summary: str | None = '"Summary"', extra: str = "") -> Path:
    """The google-sheets recipe as staff copy it, pointed at the fake sheet; ``summary``: the value of
    its commented ``summary_tab`` line with the # removed (None: left commented out)."""
    text = (RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace("PASTE-YOUR-SHEET-KEY-HERE", KEY)
    text = text.replace('flags_tab = "Flags"\n', f'flags_tab = "Flags"\nbackoff = 0\n{extra}')
    if summary is not None:
        assert '# summary_tab = "Summary"' in text
        text = text.replace('# summary_tab = "Summary"', f"summary_tab = {summary}")
    target = tmp_path / "our-group"
    target.mkdir()
    (target / "recipe.toml").write_text(text, encoding="utf-8")
    (target / "key.json").write_text(
        "{}", encoding="utf-8"
    )  # validation needs the file; tests sign in with a token
    (target / ".env").write_text("GOOGLE_APPLICATION_CREDENTIALS=key.json\n", encoding="utf-8")
    return target


def make_sheet(*, extra_tabs: dict[str, list[list[str]]] | None = None) -> FakeSpreadsheet:
    """Twelve people with lived experience (9 White, 3 Asian: a small group) and two staff; a decision
    meeting without them; a workshop with all twelve, paid but for one person (a small count)."""
    sheet = FakeSpreadsheet(KEY)
    people = header("people-form-responses.csv")
    rows = [people]
    for i in range(1, 15):
        staff = i > 12
        by_heading = {
            "Timestamp": "03/02/2026 10:00:00",
            "Your name": f"{ZQ}name{i}",
            "Which of these describe you?": "I work for the service"
            if staff
            else "I use or have used the service",
            "How would you like to be thanked for your time?": "" if staff else "Payment",
            "What is your ethnic group?": "Asian or Asian British" if i <= 3 else "White",
            "Do you consider yourself to be disabled?": "Yes" if i % 2 else "No",
            "Participant ID": str(i),
        }
        rows.append([by_heading.get(h, "") for h in people])
    sheet.add_tab("Form responses 1", rows)
    sheet.add_tab(
        "Sessions",
        [
            header("sessions.csv"),
            ["S1", "03/03/2026", "2", "Decision meeting", "Planning", f"{ZQ}title", "Yes", f"{ZQ}decided"],
            ["S2", "01/04/2026", "2", "Co-design workshop", "Design", f"{ZQ}workshop", "No", ""],
        ],
    )
    attendance = [header("attendance.csv"), ["13", "S1", "", "", ""], ["14", "S1", "", "", ""]]
    attendance += [[str(i), "S2", "", "", ""] for i in range(1, 13)]
    sheet.add_tab("Attendance", attendance)
    payments = [header("payments.csv")]
    payments += [[f"PAY{i}", str(i), "50.00", "10/04/2026", "Fee", "S2"] for i in range(2, 13)]
    sheet.add_tab("Payments", payments)
    sheet.add_tab("Our notes", [["Who", "What"], ["Jo", "ring the funder"]])
    for title, values in (extra_tabs or {}).items():
        sheet.add_tab(title, values)
    sheet.register()
    return sheet


def connector(loaded: LoadedRecipe) -> SheetsConnector:
    options = SheetsOptions.parse(loaded.recipe.sources["sheet"].options, ("sources", "sheet"))
    context = ConnectorContext(loaded.recipe, loaded.dir, env={})
    return SheetsConnector("sheet", options, context, session=AuthorizedSession(Credentials("x")))


class Made:
    def __init__(self, code: int, err: str, out: Path) -> None:
        self.code, self.err, self.out = code, err, out


STAFF = ReportKind()


def report(recipe: Path, kind: ReportKind = STAFF, *, tty: bool = False) -> Made:
    loaded = load_recipe(recipe, env={})
    stderr = io.StringIO()
    out = recipe / "report.html"
    code = make_report(
        loaded,
        kind,
        out_path=out,
        run_date=RUN,
        stdout=io.StringIO(),
        stderr=stderr,
        tty=tty,
        reading=nullcontext(),
        on_rows=lambda what, n: None,
        connectors={"sheet": connector(loaded)},
    )
    return Made(code, stderr.getvalue(), out)


def without_percentages(text: str) -> str:
    """The recipe's baseline has groups of 3% and 5% of the people who use the service: shares of
    the service's users, not counts of anyone. (The leak data's tests below search every number.)"""
    return re.sub(r"\b\d+%", "", text)


def kinds(sheet: FakeSpreadsheet) -> list[str]:
    return [kind for kind, _ in sheet.calls]


def cells(tab: FakeTab) -> list[str]:
    return [c for row in tab.values for c in row if c]


def user_values(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every userEnteredValue the request sets."""
    return [
        cell["userEnteredValue"]
        for req in body["requests"]
        if "updateCells" in req
        for row in req["updateCells"]["rows"]
        for cell in row.get("values", [])
        if "userEnteredValue" in cell
    ]


def texts(summary: Summary) -> list[list[str]]:
    """The summary as the tab shows it (trailing empty cells and rows left off)."""
    return FakeTab("x", 0, [list(r.cells) for r in summary.rows]).trimmed()


def sent(body: dict[str, Any]) -> list[list[str]]:
    """The rows a request writes over the whole tab, as the tab then shows them."""
    (write,) = [r["updateCells"] for r in body["requests"] if "updateCells" in r]
    rows = [
        [c.get("userEnteredValue", {}).get("stringValue", "") for c in row["values"]] for row in write["rows"]
    ]
    return FakeTab("x", 0, rows).trimmed()


# --- the command --------------------------------------------------------------------------------


@responses.activate
def test_report_writes_the_shared_summary_into_a_new_tab_in_one_request(tmp_path: Path) -> None:
    sheet = make_sheet()

    made = report(make_recipe(tmp_path))  # the staff report: the tab still gets the shared version

    assert made.code == ExitCode.OK, made.err
    assert made.err == ""  # not a terminal: quiet
    assert "Sam" not in made.out.read_text(encoding="utf-8") and made.out.stat().st_size > 0
    assert kinds(sheet) == ["meta", "batchGet", "batchUpdate"]  # the checks' two reads, then one write
    (body,) = sheet.bodies
    assert [next(iter(r)) for r in body["requests"]] == ["addSheet", "updateCells"]
    assert all(set(v) == {"stringValue"} for v in user_values(body))
    tab = sheet.tabs["Summary"]
    shown = tab.trimmed()
    assert (
        shown[0][0].startswith(MARK)
        and shown[0][0] == "Co-production report: Co-production group run from a Google Sheet"
    )
    text = " ".join(cells(tab))
    assert "Small numbers are hidden" in text and "fewer than 8" in text
    assert [
        "Group",
        "Participants",
        "Share",
        "95% interval",
        "People who use the service",
        "Under-represented",
    ] in shown
    assert ["Decisions taken, oldest first"] in shown and ["Payment totals"] in shown
    assert small_counts(without_percentages(text)) == [] and ZQ not in text
    assert ZQ not in json.dumps(body)


@responses.activate
def test_each_kind_of_report_writes_the_same_shared_summary(tmp_path: Path) -> None:
    sheet = make_sheet()
    recipe = make_recipe(tmp_path)
    written = []
    for kind in (ReportKind(), ReportKind(share=True), ReportKind(easy_read=True), ReportKind(format="md")):
        assert report(recipe, kind).code == ExitCode.OK
        written.append(sheet.tabs["Summary"].trimmed())
    assert all(w == written[0] for w in written)
    assert sheet.writes == 4 and sheet.count("batchUpdate") == 4


@responses.activate
def test_on_a_terminal_the_summary_written_is_said(tmp_path: Path) -> None:
    make_sheet()

    made = report(make_recipe(tmp_path), tty=True)

    assert made.code == ExitCode.OK
    assert "Summary written: the summary (" in made.err
    assert "rows) is in the tab 'Summary' of 'Co-production project'." in made.err


@responses.activate
def test_a_recipe_without_summary_tab_writes_nothing(tmp_path: Path) -> None:
    sheet = make_sheet()

    made = report(make_recipe(tmp_path, summary=None))

    assert made.code == ExitCode.OK and made.out.exists()
    assert kinds(sheet) == ["meta", "batchGet"] and sheet.writes == 0
    assert "Summary" not in sheet.tabs


@responses.activate
def test_rerunning_replaces_the_summary_and_leaves_nothing_of_a_longer_one(tmp_path: Path) -> None:
    sheet = make_sheet()
    recipe = make_recipe(tmp_path)
    assert report(recipe).code == ExitCode.OK
    first = sheet.tabs["Summary"].trimmed()
    # Half the sheet goes: the next summary is shorter (fewer decisions, no payments table rows).
    sheet.tabs["Sessions"].values = sheet.tabs["Sessions"].values[:1] + sheet.tabs["Sessions"].values[2:]
    sheet.tabs["Payments"].values = sheet.tabs["Payments"].values[:1]
    before = len(sheet.calls)

    assert report(recipe).code == ExitCode.OK

    assert kinds(sheet)[before:] == ["meta", "batchGet", "batchUpdate"]
    body = sheet.bodies[-1]
    assert [next(iter(r)) for r in body["requests"]] == ["updateCells"]  # the tab exists and is big enough
    grid = body["requests"][0]["updateCells"]["range"]
    tab = sheet.tabs["Summary"]
    assert (grid["endRowIndex"], grid["endColumnIndex"]) == (tab.row_count, tab.col_count)  # the whole grid
    second = tab.trimmed()
    assert len(second) < len(first)
    assert second == sent(body)  # exactly the new summary: nothing of the longer one is left
    assert list(sheet.tabs).count("Summary") == 1


@responses.activate
def test_a_summary_tab_too_small_is_grown_and_written_in_the_same_request(tmp_path: Path) -> None:
    old = [[f"{MARK}: an old one"], ["Summary"], ["x", "y"]]
    sheet = make_sheet(extra_tabs={"summary": old})  # capitals differ: the same tab
    sheet.tabs["summary"].row_count, sheet.tabs["summary"].col_count = 3, 2

    made = report(make_recipe(tmp_path))

    assert made.code == ExitCode.OK, made.err
    assert kinds(sheet) == ["meta", "batchGet", "batchUpdate"]
    (body,) = sheet.bodies
    assert [next(iter(r)) for r in body["requests"]] == ["appendDimension", "appendDimension", "updateCells"]
    tab = sheet.tabs["summary"]
    assert "Summary" not in sheet.tabs
    assert tab.trimmed()[0][0].startswith(MARK) and tab.trimmed()[0][0] != old[0][0]
    assert ["x", "y"] not in tab.trimmed()


@responses.activate
def test_staff_tabs_and_the_flags_tab_are_untouched(tmp_path: Path) -> None:
    flags = [
        header("flags.csv"),
        ["abc", "acknowledged", "warning", "payments.owed", "person 2", "t", "m", "", "", ""],
    ]
    sheet = make_sheet(extra_tabs={"Flags": flags})
    before = {t: [list(r) for r in tab.values] for t, tab in sheet.tabs.items()}

    assert report(make_recipe(tmp_path)).code == ExitCode.OK

    after = {t: tab.values for t, tab in sheet.tabs.items() if t != "Summary"}
    assert after == before


@responses.activate
def test_a_tab_of_that_name_holding_staff_work_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    ours = [["Summary of the year"], ["Jo's notes", "keep"]]
    sheet = make_sheet(extra_tabs={"Summary": ours})

    made = report(make_recipe(tmp_path))

    assert made.code == ExitCode.CONFIG
    assert made.out.exists()  # the report itself is made
    assert "the report was made, but its summary was not written to source 'sheet'" in made.err
    assert "[sources.sheet]: summary_tab: the tab 'Summary' holds something coprod did not write" in made.err
    assert sheet.writes == 0 and sheet.tabs["Summary"].values == ours


@responses.activate
def test_google_refusing_the_write_is_said_and_the_report_is_still_made(tmp_path: Path) -> None:
    sheet = make_sheet()
    sheet.fail("batchUpdate", 503, times=5)  # every try: retries = 4

    made = report(make_recipe(tmp_path))

    assert made.code == ExitCode.SOURCE_UNAVAILABLE
    assert made.out.exists()
    assert "Google Sheets answered 503" in made.err and "while writing the summary" in made.err
    assert sheet.count("batchUpdate") == 5 and "Summary" not in sheet.tabs


@responses.activate
def test_the_cli_signs_in_reads_twice_and_writes_the_summary_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    recipe = make_recipe(tmp_path)
    (recipe / "key.json").write_text(json.dumps(service_account_key()), encoding="utf-8")
    responses.add(responses.POST, TOKEN_URL, json={"access_token": "ya29.t", "expires_in": 3600})
    sheet = make_sheet()

    code = main(["report", str(recipe), "--out", str(tmp_path / "r.html"), "--date", "2026-06-01", "--share"])

    assert code == 0
    assert kinds(sheet) == ["meta", "batchGet", "batchUpdate"]
    assert sheet.tabs["Summary"].trimmed()[0][0].startswith(MARK)


# --- what the summary holds ---------------------------------------------------------------------


def leak_summary(variant: str) -> Summary:
    return build_summary(rd.facts(rd.check(rd.leak_dataset(variant), rd.leak_counts())))


@responses.activate
@pytest.mark.parametrize("variant", ["a", "b"])
def test_no_count_from_1_to_7_and_no_name_or_answer_in_any_cell(tmp_path: Path, variant: str) -> None:
    sheet = make_sheet()
    loaded = load_recipe(make_recipe(tmp_path), env={})
    conn = connector(loaded)

    done = conn.write_summary(leak_summary(variant))

    assert done and sheet.writes == 1
    text = " ".join(cells(sheet.tabs["Summary"]))
    assert small_counts(text) == []
    assert rd.MARK not in text and rd.MARK not in json.dumps(sheet.bodies)
    assert "fewer than 8" in text
    assert all(set(v) == {"stringValue"} for v in user_values(sheet.bodies[-1]))


def test_the_leak_data_really_holds_what_the_summary_must_hide() -> None:
    """The staff report of the same facts shows the small counts and the names the summary hides."""
    facts = rd.facts(rd.check(rd.leak_dataset(), rd.leak_counts()))
    staff = render(facts, ReportKind(format="md"))
    assert small_counts(staff) and rd.MARK in staff
    summary = " ".join(" ".join(r.cells) for r in build_summary(facts).rows)
    assert not small_counts(summary) and rd.MARK not in summary


def test_data_differing_only_in_what_is_hidden_gives_the_same_summary() -> None:
    assert texts(leak_summary("a")) == texts(leak_summary("b"))


@pytest.mark.parametrize(
    "make",
    [rd.single_participant, rd.all_unknown, rd.empty_project, rd.large_project],
    ids=lambda m: m.__name__,
)
def test_edge_cases_give_a_summary_with_no_small_count_or_name(make) -> None:
    summary = build_summary(rd.facts(rd.check(make())))
    text = " ".join(" ".join(r.cells) for r in summary.rows)
    assert summary.rows[0].cells[0].startswith(MARK) and summary.rows[0].heading
    assert small_counts(text) == [] and rd.MARK not in text


@responses.activate
def test_a_formula_in_a_project_name_is_written_as_text(tmp_path: Path) -> None:
    sheet = make_sheet()
    conn = connector(load_recipe(make_recipe(tmp_path), env={}))
    name = '=HYPERLINK("http://x.example","click")'

    conn.write_summary(build_summary(rd.facts(rd.check(rd.with_name(rd.leak_dataset(), name)))))

    assert name in cells(sheet.tabs["Summary"])
    assert {"stringValue": name} in user_values(sheet.bodies[-1])


def test_every_section_is_a_heading_followed_by_its_tables_with_headings() -> None:
    rows = leak_summary("a").rows
    headings = [r.cells[0] for r in rows if r.heading and len(r.cells) == 1]
    for section in (
        "Summary",
        "Representation",
        "Decisions",
        "The ladder",
        "Payments",
        "Data quality",
        "Flags",
    ):
        assert section in headings
    heads = [r.cells for r in rows if r.heading and len(r.cells) > 1]
    assert ("Data", "Rows read", "Used", "Not used") in heads
    assert ("Rule", "Open", "Acknowledged", "Resolved (no earlier report)") in heads
    assert all(c == " ".join(c.split()) for r in rows for c in r.cells)  # one line a cell


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('summary_tabs = "Summary"', "[sources.sheet] summary_tabs: unknown key"),
        ('summary_tab = "flags"', "'flags' is the Flags tab"),
        ('summary_tab = " Sessions "', "'Sessions' is a tab coprod reads"),
        ('summary_tab = "  "', "give the name of the tab for the summary"),
        ('summary_tab = "Summary"\nwrite_back = false', "write_back = false says coprod must not write"),
    ],
)
def test_validate_refuses_an_unknown_option_and_a_summary_tab_that_is_not_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    recipe = make_recipe(tmp_path, summary=None, extra=line + "\n")

    code = main(["validate", str(recipe)])

    err = capsys.readouterr()
    assert code == ExitCode.CONFIG
    assert says in err.out + err.err


def test_the_recipes_commented_line_switched_on_validates_and_is_off_as_shipped(tmp_path: Path) -> None:
    on = load_recipe(make_recipe(tmp_path), env={})
    (tmp_path / "off").mkdir()
    shipped = load_recipe(make_recipe(tmp_path / "off", summary=None), env={})

    assert SheetsOptions.parse(on.recipe.sources["sheet"].options, ()).summary_tab == "Summary"
    assert SheetsOptions.parse(shipped.recipe.sources["sheet"].options, ()).summary_tab is None


def test_the_staff_readmes_step_names_the_recipes_line_and_says_what_the_tab_hides() -> None:
    text = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    (step,) = [p for p in re.split(r"^## ", text, flags=re.M) if p.startswith("8. ")]
    line = re.search(r"`(# summary_tab = \"([^\"]+)\")`", step)

    assert line is not None and line[1] in (RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8")
    assert f"**{line[2]}** tab" in step
    assert f'"{FEWER}"' in step
    commands = [ln.strip() for ln in step.splitlines() if "coprod report" in ln and ln.startswith("   /")]
    assert commands == [
        "/home/coprod/venv/bin/coprod report /home/coprod/our-group --out /home/coprod/report.html"
    ]
