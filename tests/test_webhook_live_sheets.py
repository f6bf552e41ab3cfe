"""The webhook worker's re-check of a Google Sheet: a notice naming a row costs one ``values:batchGet``.

The Apps Script trigger (``recipes/google-sheets/coprod_trigger.gs``) names the spreadsheet, the tab
and the row of a form response. The worker holds the sheet it last read (kept up to date with what
it wrote) and the dataset mapped from it; the re-check reads, in ONE request, the tab's header row,
its ID column, the named row and the whole Flags tab, maps the row on top of what is held, and
writes only the difference. What it cannot take alone (rows moved, a header changed, a tab it does
not read, no notice body) is read whole, as a sync. Every test ends with a whole sync of the same
sheet and state finding nothing to write: the re-check wrote and saved what a sync would have.
"""

from __future__ import annotations

import csv
import tomllib
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext, Delivery
from coprod.connectors.sheets import SheetsConnector, SheetsOptions
from coprod.connectors.sheets_notice import describe, notice_in
from coprod.live import LiveRecipe, Outcome
from coprod.state import StateStore
from coprod.sync import ExitCode, run
from coprod_core.lifecycle import FlagStatus
from coprod_core.live import NeedsWholeRead
from coprod_core.recipe import Recipe, parse_recipe
from fakes import ROOT
from fakes.sheets import FakeSpreadsheet

DAY = date(2026, 6, 1)
RECIPE_DIR = ROOT / "recipes" / "google-sheets"
PEOPLE = "Form responses 1"


def header(name: str) -> list[str]:
    with (RECIPE_DIR / "templates" / name).open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def load() -> LoadedRecipe:
    path = RECIPE_DIR / "recipe.toml"
    recipe, problems = parse_recipe(tomllib.loads(path.read_text(encoding="utf-8")), str(path))
    assert recipe is not None, problems
    return LoadedRecipe(recipe=recipe, path=path, dir=RECIPE_DIR, env={})


def connector(recipe: Recipe) -> SheetsConnector:
    options = SheetsOptions.model_validate({**recipe.sources["sheet"].options, "backoff": 0, "retries": 0})
    return SheetsConnector(
        "sheet",
        options,
        ConnectorContext(recipe, RECIPE_DIR, env={}),
        session=AuthorizedSession(Credentials("x")),
    )


def person(pid: str, pay: str = "Payment", when: str = "03/02/2026 10:00:00") -> list[str]:
    by_heading = {
        "Timestamp": when,
        "Your name": f"Person {pid}",
        "Which of these describe you?": "I use or have used the service",
        "How would you like to be thanked for your time?": pay,
        "Would you like us to warn you if payments might affect your benefits?": "No",
        "What is your ethnic group?": "White",
        "What is your age?": "25 to 49",
        "Do you consider yourself to be disabled?": "No",
        "Participant ID": pid,
    }
    return [by_heading.get(h, "") for h in header("people-form-responses.csv")]


def fake_sheet(recipe: Recipe) -> FakeSpreadsheet:
    """Four people (rows 2-5 of the form's tab); 1 and 4 attended a paid workshop and only 1 was
    paid, so person 4 is owed; the budget meeting decided with nobody in a voice role there."""
    sheet = FakeSpreadsheet(connector(recipe).key)
    people = [header("people-form-responses.csv"), *(person(p) for p in "1234")]
    people[3][3] = "I would rather not be paid"
    sheet.add_tab(PEOPLE, people)
    sheet.add_tab("Sessions", [
        header("sessions.csv"),
        ["S1", "03/03/2026", "2", "Decision meeting", "Planning", "Budget meeting", "Yes", "the budget"],
        ["S2", "01/04/2026", "2", "Co-design workshop", "Design", "Workshop", "No", ""],
    ])  # fmt: skip
    sheet.add_tab(
        "Attendance", [header("attendance.csv"), ["3", "S1"], ["1", "S2", "", "1"], ["4", "S2", "", "1"]]
    )
    sheet.add_tab("Payments", [header("payments.csv"), ["PAY1", "1", "75.00", "10/04/2026", "Fee", "S2"]])
    sheet.add_tab("Notes", [["Anything staff keep for themselves"]])
    sheet.register()
    return sheet


def notice(sheet: FakeSpreadsheet, row: int, tab: str = PEOPLE, *, apart: bool = False) -> Delivery:
    """A delivery as the app's own worker thread gets it (the notice in memory), or, ``apart``, as
    ``coprod worker`` running apart gets it from the inbox: the subject the app recorded, no body."""
    body = {"type": "sheets.form_submit", "spreadsheet_id": sheet.key, "sheet": tab, "row": row}
    return Delivery("sheets", describe(sheet.key, tab, row), None if apart else body)


class Held:
    """A recipe held by a worker, after its first (whole) re-check of the fake sheet."""

    def __init__(self) -> None:
        self.loaded = load()
        self.sheet = fake_sheet(self.loaded.recipe)
        self.state = StateStore.open(":memory:")
        self.live = LiveRecipe(self.loaded)
        self.live.connectors = {"sheet": connector(self.loaded.recipe)}
        first = self.live.recheck(self.state, [], DAY)
        assert first.whole and first.exit_code == ExitCode.OK, first.messages

    def deliver(self, *deliveries: Delivery) -> tuple[Outcome, list[tuple[str, str]]]:
        n = len(self.sheet.calls)
        out = self.live.recheck(self.state, list(deliveries), DAY)
        assert out.exit_code == ExitCode.OK, out.messages
        return out, self.sheet.calls[n:]

    def flags_row(self, check_id: str, subject: str) -> list[str]:
        return next(r for r in self.sheet.tabs["Flags"].values[1:] if r[3] == check_id and r[4] == subject)

    def column(self, row: int) -> str:
        return self.sheet.tabs[PEOPLE].cell(
            row, header("people-form-responses.csv").index("coprod flags") + 1
        )

    def assert_a_sync_finds_nothing_to_write(self) -> None:
        """A whole sync of the same sheet and state: no request but its two reads, no change, the
        state as the re-check saved it (so the re-check wrote and saved what a sync would)."""
        known = self.state.known_flags(self.loaded.recipe.name)
        n = len(self.sheet.calls)
        result = run(
            self.loaded, run_date=DAY, state=self.state, connectors={"sheet": connector(self.loaded.recipe)}
        )
        assert result.exit_code == ExitCode.OK, result.messages
        assert [kind for kind, _ in self.sheet.calls[n:]] == ["meta", "batchGet"]
        assert result.diff is not None and result.diff.changes == []
        assert self.state.known_flags(self.loaded.recipe.name) == known


def batch_get(url: str) -> tuple[list[str], dict[str, list[str]]]:
    query = parse_qs(urlsplit(url).query)
    return query.pop("ranges"), query


def written(sheet: FakeSpreadsheet) -> list[str]:
    """The ranges of the last values:batchUpdate, which must be RAW."""
    body = sheet.bodies[-1]
    assert body["valueInputOption"] == "RAW"
    return [vr["range"] for vr in body["data"]]


@pytest.mark.parametrize("apart", [False, True], ids=["worker thread of the app", "worker running apart"])
@responses.activate
def test_a_new_form_response_costs_one_batchget_of_its_row_and_writes_what_a_sync_would(apart: bool) -> None:
    held = Held()
    whole_read = next(url for kind, url in held.sheet.calls if kind == "batchGet")
    held.sheet.tabs[PEOPLE].values.append(person("5", pay="Cash please", when="02/06/2026 09:30:00"))

    out, calls = held.deliver(notice(held.sheet, 6, apart=apart))

    assert not out.whole
    assert [kind for kind, _ in calls] == ["batchGet", "values:batchUpdate"]
    ranges, params = batch_get(calls[0][1])
    assert ranges == [f"'{PEOPLE}'!1:1", f"'{PEOPLE}'!J:J", f"'{PEOPLE}'!6:6", "'Flags'"]
    assert (
        params
        == batch_get(whole_read)[1]
        == {"valueRenderOption": ["FORMATTED_VALUE"], "majorDimension": ["ROWS"]}
    )
    flags_rows = len(held.sheet.tabs["Flags"].trimmed())
    assert written(held.sheet) == [f"'Flags'!A{flags_rows}:J{flags_rows}", f"'{PEOPLE}'!K6"]
    assert held.column(6) == "Value not understood"
    assert held.sheet.tabs["Flags"].values[-1][4] == "record people:6"
    held.assert_a_sync_finds_nothing_to_write()
    expected = run(
        held.loaded, mode="check", run_date=DAY, connectors={"sheet": connector(held.loaded.recipe)}
    )
    open_now = {k.fingerprint for k in held.state.known_flags("our-coproduction-group").values()
                if k.status is FlagStatus.OPEN}  # fmt: skip
    assert open_now == {f.fingerprint for f in expected.flags}


@responses.activate
def test_an_edited_response_costs_one_batchget_and_resolves_what_it_answers() -> None:
    held = Held()
    assert held.column(5) == "Payment overdue"  # person 4, row 5: attended the workshop, not paid
    held.sheet.tabs[PEOPLE].values[4][3] = "I would rather not be paid"  # they edit their response

    out, calls = held.deliver(notice(held.sheet, 5))

    assert not out.whole
    assert [kind for kind, _ in calls] == ["batchGet", "values:batchUpdate"]
    assert batch_get(calls[0][1])[0] == [f"'{PEOPLE}'!1:1", f"'{PEOPLE}'!J:J", f"'{PEOPLE}'!5:5", "'Flags'"]
    assert held.column(5) == ""
    assert held.flags_row("payments.overdue", "person 4")[1] == "resolved"
    assert f"'{PEOPLE}'!K5" in written(held.sheet)
    held.assert_a_sync_finds_nothing_to_write()


@responses.activate
def test_a_staff_acknowledgement_made_before_the_notice_is_kept_as_a_sync_keeps_it() -> None:
    held = Held()
    row = held.flags_row("payments.overdue", "person 4")
    row[1] = "acknowledged"  # staff answer the flag in the Flags tab, then someone fills the form
    held.sheet.tabs[PEOPLE].values.append(person("5", when="02/06/2026 09:30:00"))

    out, calls = held.deliver(notice(held.sheet, 6))

    assert not out.whole and [kind for kind, _ in calls] == ["batchGet", "values:batchUpdate"]
    known = held.state.known_flags("our-coproduction-group")[row[0]]
    assert known.status is FlagStatus.ACKNOWLEDGED
    assert held.flags_row("payments.overdue", "person 4")[1] == "acknowledged"
    assert held.column(5) == ""  # the flags column follows what staff answered
    assert written(held.sheet) == [f"'{PEOPLE}'!K5"]
    held.assert_a_sync_finds_nothing_to_write()


@responses.activate
def test_a_burst_of_responses_is_read_in_one_batchget() -> None:
    held = Held()
    tab = held.sheet.tabs[PEOPLE]
    tab.values += [
        person("5", when="02/06/2026 09:30:00"),
        person("6", pay="Cash", when="02/06/2026 09:31:00"),
    ]

    out, calls = held.deliver(notice(held.sheet, 6), notice(held.sheet, 7))

    assert not out.whole and [kind for kind, _ in calls] == ["batchGet", "values:batchUpdate"]
    assert batch_get(calls[0][1])[0] == [
        f"'{PEOPLE}'!1:1", f"'{PEOPLE}'!J:J", f"'{PEOPLE}'!6:6", f"'{PEOPLE}'!7:7", "'Flags'",
    ]  # fmt: skip
    held.assert_a_sync_finds_nothing_to_write()


def _delete_a_row(sheet: FakeSpreadsheet) -> Delivery:
    tab = sheet.tabs[PEOPLE]
    del tab.values[2]  # person 2's response deleted: every row below moves up
    tab.values.append(person("5", when="02/06/2026 09:30:00"))
    return notice(sheet, len(tab.values))


def _insert_a_row(sheet: FakeSpreadsheet) -> Delivery:
    tab = sheet.tabs[PEOPLE]
    tab.values.insert(2, person("7"))  # staff insert a response by hand, and a new one arrives
    tab.row_count += 1
    tab.values.append(person("5", when="02/06/2026 09:30:00"))
    return notice(sheet, len(tab.values))


def _change_a_heading(sheet: FakeSpreadsheet) -> Delivery:
    sheet.tabs[PEOPLE].values[0].append("Staff notes")  # a column staff added for themselves
    sheet.tabs[PEOPLE].values.append(person("5", when="02/06/2026 09:30:00"))
    return notice(sheet, 6)


def _add_a_row_without_a_notice(sheet: FakeSpreadsheet) -> Delivery:
    tab = sheet.tabs[PEOPLE]
    tab.values += [person("5", when="02/06/2026 09:30:00"), person("6", when="02/06/2026 09:31:00")]
    return notice(sheet, 7)  # row 6's notice never came (the script's retries gave up)


@pytest.mark.parametrize(
    "change", [_delete_a_row, _insert_a_row, _change_a_heading, _add_a_row_without_a_notice]
)
@responses.activate
def test_rows_that_moved_or_a_changed_header_make_the_recheck_read_everything(change: Any) -> None:
    held = Held()
    delivery = change(held.sheet)

    out, calls = held.deliver(delivery)

    assert out.whole
    assert [kind for kind, _ in calls][:3] == ["batchGet", "meta", "batchGet"]  # the try, then the whole read
    held.assert_a_sync_finds_nothing_to_write()


@pytest.mark.parametrize(
    "delivery",
    [
        Delivery("sheets", "row 3"),  # recorded (before subjects named the tab) for a worker running apart
        Delivery("sheets", describe("another", PEOPLE, 2)),  # the same, for a notice about another sheet
        Delivery(
            "sheets",
            "row 3",
            {"type": "sheets.form_submit", "spreadsheet_id": "", "sheet": "Flags", "row": 3},
        ),
        Delivery(
            "sheets",
            "row 2",
            {"type": "sheets.form_submit", "spreadsheet_id": "", "sheet": "Notes", "row": 2},
        ),
        Delivery(
            "sheets",
            "row 2",
            {"type": "sheets.rows_removed", "spreadsheet_id": "", "sheet": PEOPLE, "row": 2},
        ),
        Delivery(
            "sheets",
            "row 2",
            {"type": "sheets.form_submit", "spreadsheet_id": "another", "sheet": PEOPLE, "row": 2},
        ),
    ],
    ids=[
        "a subject naming no tab",
        "a subject naming another sheet",
        "the Flags tab",
        "a tab the recipe does not read",
        "another kind of notice",
        "another sheet",
    ],
)
@responses.activate
def test_a_notice_it_cannot_take_alone_is_read_whole_without_a_try(delivery: Delivery) -> None:
    held = Held()
    if delivery.notice is not None and not delivery.notice["spreadsheet_id"]:
        delivery = delivery._replace(notice={**delivery.notice, "spreadsheet_id": held.sheet.key})

    out, calls = held.deliver(delivery)

    assert out.whole and [kind for kind, _ in calls][:2] == ["meta", "batchGet"]


@responses.activate
def test_a_cron_sync_keeps_nothing_it_read_after_its_write() -> None:
    loaded = load()
    sheet = fake_sheet(loaded.recipe)
    sheets = connector(loaded.recipe)
    result = run(loaded, run_date=DAY, state=StateStore.open(":memory:"), connectors={"sheet": sheets})
    assert result.exit_code == ExitCode.OK and sheet.writes == 1
    with pytest.raises(NeedsWholeRead, match="no sheet is held"):
        sheets.changes_for_all([notice(sheet, 3)])


def test_the_inbox_subject_names_row_and_tab_and_only_a_digest_of_the_spreadsheet() -> None:
    """What ``coprod worker`` running apart reads back; a tab name with quotes survives the trip."""
    key = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF"
    subject = describe(key, 'Form "responses" 1', 12)
    assert key not in subject and subject.startswith('row 12 of "Form \\"responses\\" 1" in spreadsheet ')
    assert notice_in(subject, key) == {
        "type": "sheets.form_submit",
        "spreadsheet_id": key,
        "sheet": 'Form "responses" 1',
        "row": 12,
    }
    assert notice_in(subject, "another")["spreadsheet_id"] == ""  # type: ignore[index]
    assert notice_in("row 12", key) is None
