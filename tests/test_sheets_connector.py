"""The Google Sheets connector against a fake Sheets API at the HTTP layer (``responses``).

Each test asserts on the requests sent (how many, their query and bodies), not only on results.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import urllib3
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from coprod.connectors.base import ConfigError, ConnectorContext, SourceUnavailable
from coprod.connectors.registry import build_connector
from coprod.connectors.sheets import SheetsConnector, SheetsOptions
from coprod.connectors.sheets_flags import FLAG_HEADINGS
from coprod_core.flags import Flag, Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import FlagStatus, KnownFlag, UnreadStatus, diff_flags, read_status
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes.sheets import TOKEN_URL, FakeSpreadsheet, service_account_key

KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
RUN = date(2026, 6, 1)
PEOPLE_TAB = "Sam's group – people"


def make_recipe(
    people_tab: str = PEOPLE_TAB,
    *,
    flags_column: str | None = None,
    retries: int = 2,
    extra: dict | None = None,
) -> Recipe:
    people: dict[str, Any] = {
        "source": "sheet",
        "location": people_tab,
        "fields": {"id": "Participant ID", "name": "Full name", "roles": "Role"},
        "demographics": {"ethnicity": "Ethnic group"},
    }
    if flags_column:
        people["options"] = {"flags_column": flags_column}
    data = {
        "name": "test-sheet",
        "sources": {
            "sheet": {
                "connector": "sheets",
                "spreadsheet": KEY,
                "retries": retries,
                "backoff": 0,
                **(extra or {}),
            }
        },
        "entities": {
            "people": people,
            "sessions": {
                "source": "sheet",
                "location": "Sessions",
                "fields": {"id": "Session ID", "date": "Date", "hours": "Hours", "kind": "Type"},
            },
            "attendance": {
                "source": "sheet",
                "location": "Attendance",
                "fields": {"person_id": "Participant ID", "session_id": "Session ID"},
            },
        },
        "projects": [{"id": "P1", "name": "Day service redesign"}],
    }
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert not problems, problems
    assert recipe is not None
    return recipe


def make_connector(
    recipe: Recipe, env: dict[str, str] | None = None, tmp: Path | None = None
) -> SheetsConnector:
    spec = recipe.sources["sheet"]
    context = ConnectorContext(recipe=recipe, recipe_dir=tmp or Path("."), env=env or {})
    options = SheetsOptions.model_validate(spec.options)
    return SheetsConnector("sheet", options, context, session=AuthorizedSession(Credentials(token="x")))


PEOPLE = [
    ["Timestamp", "Participant ID", "Full name", "Role", "Ethnic group"],
    ["03/04/2026 10:12:00", "007", "Amira Khan", "Service user", "Asian or Asian British"],
    [],
    ["04/04/2026 11:00:00", "17", "nan", "Carer", "White"],
    ["", "", "", "", ""],
    ["05/04/2026 09:30:00", "18", "Ben Okafor", "Staff"],
]
SESSIONS = [["Session ID", "Date", "Hours", "Type"], ["S1", "03/03/2026", "2", "Decision meeting"]]
ATTENDANCE = [["Participant ID", "Session ID"], ["007", "S1"], ["17", "S1"]]


def make_sheet(
    *, flags: list[list[str]] | None = None, people: list[list[str]] | None = None
) -> FakeSpreadsheet:
    sheet = FakeSpreadsheet(KEY)
    sheet.add_tab(PEOPLE_TAB, people if people is not None else PEOPLE)
    sheet.add_tab("Sessions", SESSIONS)
    sheet.add_tab("Attendance", ATTENDANCE)
    if flags is not None:
        sheet.add_tab("Flags", flags, cols=len(FLAG_HEADINGS))
    sheet.register()
    return sheet


def read_everything(conn: SheetsConnector, recipe: Recipe) -> dict[Entity, list]:
    """What a sync run does: read every entity, then the staff statuses once."""
    out = {}
    for entity, spec in recipe.entities.items():
        out[entity] = [row for page in conn.read(entity, spec) for row in page.rows]
    conn.read_staff_statuses()
    return out


def owed_flag(person: str, amount: str = "75.00", name: str = "Sam") -> Flag:
    return make_flag(
        check_id="payments.owed",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id=person),
        title=f"{name} is owed £{amount}",
        message=f"{name} (ID {person}) is owed £{amount} for the workshop on 1 May 2026.",
        evidence={"amount": amount, "session": "S1"},
        identity={"session": "S1"},
    )


def known(flag: Flag, status: FlagStatus = FlagStatus.OPEN) -> KnownFlag:
    return KnownFlag.from_flag(flag, status, date(2026, 5, 1), date(2026, 5, 1))


def flags_rows(*entries: tuple[Flag, str]) -> list[list[str]]:
    rows = [list(FLAG_HEADINGS)]
    for flag, status in entries:
        rows.append(
            [
                flag.fingerprint,
                status,
                flag.severity.value,
                flag.check_id,
                str(flag.subject),
                flag.title,
                flag.message,
                "",
                "2026-05-01",
                "2026-05-01",
            ]
        )
    return rows


def write_bodies(sheet: FakeSpreadsheet) -> list[dict[str, Any]]:
    return [b for b in sheet.bodies if "valueInputOption" in b]


# ------------------------------------------------------------------ reading


@responses.activate
def test_tab_named_with_spaces_and_apostrophe_is_read_with_a_percent_encoded_range() -> None:
    recipe = make_recipe()
    sheet = make_sheet()
    conn = make_connector(recipe)

    rows = [r for p in conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]) for r in p.rows]

    batch_url = next(url for kind, url in sheet.calls if kind == "batchGet")
    assert "ranges=%27Sam%27%27s%20group%20%E2%80%93%20people%27" in batch_url
    query = parse_qs(urlsplit(batch_url).query)
    assert query["ranges"][0] == "'Sam''s group – people'"
    assert query["valueRenderOption"] == ["FORMATTED_VALUE"]
    assert [r.ref for r in rows] == [
        "tab 'Sam's group – people' row 2",
        "tab 'Sam's group – people' row 4",
        "tab 'Sam's group – people' row 6",
    ]
    assert [r.key for r in rows] == ["2", "4", "6"]


@responses.activate
def test_values_stay_text_and_blank_rows_are_skipped() -> None:
    recipe = make_recipe()
    make_sheet()
    conn = make_connector(recipe)

    rows = [r for p in conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]) for r in p.rows]

    assert rows[0].values["Participant ID"] == "007"
    assert rows[1].values["Full name"] == "nan"
    assert rows[0].values["Timestamp"] == "03/04/2026 10:12:00"
    assert rows[2].values["Ethnic group"] == ""  # a short row is padded, not shifted


@responses.activate
def test_a_heading_row_pasted_into_a_tab_of_only_ids_and_names_is_one_problem_not_a_person() -> None:
    """A people tab read only for an id and a name (roles a default): a second export pasted below
    the first, heading row and all, is flagged once as that, not taken for a person 'Participant ID'
    called 'Full name', and the rows either side of it are read."""
    from coprod_core.mapping import EntityCount, map_dataset

    data = make_recipe().model_dump(mode="json")
    data["entities"]["people"]["fields"] = {"id": "Participant ID", "name": "Full name"}
    data["entities"]["people"]["demographics"] = {}
    data["entities"]["people"]["defaults"] = {"roles": "carer"}
    recipe = Recipe.model_validate(data)
    heading = ["Timestamp", "Participant ID", "Full name"]
    sheet = make_sheet(
        people=[
            heading,
            ["03/04/2026 10:12:00", "007", "Amira Khan"],
            heading,
            ["04/04/2026 11:00:00", "17", "Ben Okafor"],
        ]
    )
    conn = make_connector(recipe)

    mapped = map_dataset(recipe, read_everything(conn, recipe))

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet"]
    assert [p.message for p in mapped.problems] == [
        f"tab '{PEOPLE_TAB}' row 3 repeats the column headings: two exports pasted together? The row was "
        "skipped; delete it."
    ]
    assert [(p.id, p.name) for p in mapped.dataset.people] == [("007", "Amira Khan"), ("17", "Ben Okafor")]
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=3, used=2, rejected=1)


@responses.activate
def test_all_tabs_and_the_flags_tab_are_read_in_one_batch_get_after_one_metadata_request() -> None:
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)

    read_everything(conn, recipe)

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet"]
    query = parse_qs(urlsplit(sheet.calls[1][1]).query)
    assert query["ranges"] == ["'Sam''s group – people'", "'Sessions'", "'Attendance'", "'Flags'"]


@responses.activate
def test_a_5000_row_tab_is_read_in_one_request() -> None:
    recipe = make_recipe()
    people = [PEOPLE[0]] + [
        [f"01/04/2026 09:00:{i % 60:02d}", f"{i:05d}", f"Person {i}", "Carer", "White"] for i in range(5000)
    ]
    sheet = make_sheet(people=people)
    conn = make_connector(recipe)

    pages = list(conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]))

    assert sum(len(p.rows) for p in pages) == 5000
    assert pages[-1].rows[-1].ref == "tab 'Sam's group – people' row 5001"
    assert pages[-1].cursor == "5001"
    assert sheet.count("batchGet") == 1
    assert sheet.reads == 2


@responses.activate
def test_reading_from_a_cursor_resumes_after_that_row() -> None:
    recipe = make_recipe()
    make_sheet()
    conn = make_connector(recipe)

    rows = [r for p in conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE], cursor="4") for r in p.rows]

    assert [r.key for r in rows] == ["6"]


@responses.activate
def test_reading_an_entity_again_means_a_new_run_and_reads_the_sheet_again() -> None:
    recipe = make_recipe()
    sheet = make_sheet()
    conn = make_connector(recipe)

    read_everything(conn, recipe)
    read_everything(conn, recipe)

    assert sheet.count("batchGet") == 2


@responses.activate
def test_duplicate_header_is_an_error_naming_the_tab_and_columns() -> None:
    recipe = make_recipe()
    people = [["Timestamp", "Participant ID", "Full name", "Role", "Full name", "Ethnic group"], ["x", "1"]]
    make_sheet(people=people)
    conn = make_connector(recipe)

    with pytest.raises(ConfigError) as err:
        list(conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]))

    text = str(err.value)
    assert "tab 'Sam's group – people'" in text
    assert "columns C and E both have the heading 'Full name'" in text


@responses.activate
def test_blank_heading_over_values_is_an_error_naming_the_column() -> None:
    recipe = make_recipe()
    people = [["Timestamp", "Participant ID", "", "Full name", "Role", "Ethnic group"], ["t", "1", "note"]]
    make_sheet(people=people)
    conn = make_connector(recipe)

    with pytest.raises(ConfigError, match=r"column C has no heading but holds values \(from row 2\)"):
        list(conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]))


@responses.activate
def test_missing_mapped_column_lists_the_columns_found() -> None:
    recipe = make_recipe()
    people = [["Timestamp", "ID", "Full name", "Role", "Ethnic group"], ["t", "1", "A", "Carer", "White"]]
    make_sheet(people=people)
    conn = make_connector(recipe)

    with pytest.raises(ConfigError) as err:
        list(conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]))

    text = str(err.value)
    assert "'Participant ID' (id) is not in the header row" in text
    assert "'Timestamp', 'ID', 'Full name', 'Role', 'Ethnic group'" in text


@responses.activate
def test_missing_tab_is_an_error_listing_the_tabs_whichever_entity_is_read_first() -> None:
    """A sync stops at the first problem of a source, so every read of the sheet says them all
    (here the one): the sessions, read first, do not hide the people's missing tab."""
    recipe = make_recipe(people_tab="Form responses 1")
    sheet = make_sheet()
    conn = make_connector(recipe)

    for entity in (Entity.SESSIONS, Entity.PEOPLE):
        with pytest.raises(ConfigError) as err:
            list(conn.read(entity, recipe.entities[entity]))
        assert str(err.value).startswith(
            "[sources.sheet]: [entities.people]: tab 'Form responses 1' is not in the spreadsheet "
            "'Co-production project'; its tabs are: \"Sam's group – people\", 'Sessions', 'Attendance'"
        )

    assert sheet.count("batchGet") == 1  # what the tabs hold was read once, before the first problem


@responses.activate
def test_tab_name_differing_only_in_capitals_is_found() -> None:
    recipe = make_recipe(people_tab="sam's GROUP – people")
    make_sheet()
    conn = make_connector(recipe)

    rows = [r for p in conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]) for r in p.rows]

    assert len(rows) == 3


@responses.activate
def test_staff_statuses_are_read_back_from_the_flags_tab() -> None:
    a, b, c, d = owed_flag("1"), owed_flag("2"), owed_flag("3"), owed_flag("4")
    recipe = make_recipe()
    make_sheet(flags=flags_rows((a, "Acknowledged "), (b, "Won’t fix"), (c, "open"), (d, "maybe")))
    conn = make_connector(recipe)

    statuses = conn.read_staff_statuses()

    assert statuses == {
        a.fingerprint: FlagStatus.ACKNOWLEDGED,
        b.fingerprint: FlagStatus.WONT_FIX,
        c.fingerprint: FlagStatus.OPEN,
    }
    assert statuses.unread == [UnreadStatus("Flags tab row 5", "maybe")]  # named for the run's warning
    assert statuses.where[a.fingerprint] == "Flags tab row 2"


def test_status_words_staff_may_type() -> None:
    assert read_status("won't fix") is FlagStatus.WONT_FIX
    assert read_status("WONT FIX") is FlagStatus.WONT_FIX
    assert read_status("acknowledged") is FlagStatus.ACKNOWLEDGED
    assert read_status("") is None


# ------------------------------------------------------------------ writing


@responses.activate
def test_formula_looking_participant_name_is_written_raw() -> None:
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    flag = owed_flag("17", name='=HYPERLINK("http://evil.example","click")')
    diff = diff_flags({}, [flag], conn.read_staff_statuses(), RUN)

    report = conn.write_flags(diff.changes)

    (body,) = write_bodies(sheet)
    assert body["valueInputOption"] == "RAW"
    values = [v for vr in body["data"] for line in vr["values"] for v in line]
    assert '=HYPERLINK("http://evil.example","click") is owed £75.00' in values
    assert report.written == [flag.fingerprint]
    assert sheet.tabs["Flags"].cell(2, 6).startswith("=HYPERLINK(")


@responses.activate
def test_a_message_longer_than_a_cell_holds_is_written_cut_not_refused_by_google() -> None:
    """Google refuses a whole write with one cell over 50,000 characters (the fake does too)."""
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    flag = owed_flag("17", name="Sam " + "very " * 12_000)
    diff = diff_flags({}, [flag], conn.read_staff_statuses(), RUN)

    report = conn.write_flags(diff.changes)

    (body,) = write_bodies(sheet)
    longest = max((v for vr in body["data"] for line in vr["values"] for v in line), key=len)
    assert len(longest) <= 50_000 and longest.endswith("[cut: too long]")
    assert report.written == [flag.fingerprint]
    assert sheet.tabs["Flags"].cell(2, 6) == longest


def wordy_flag(i: int) -> Flag:
    """A flag of some 2,000 bytes as written (a long message): 6,000 of them pass Google's 10 MB."""
    return make_flag(
        check_id="data_quality.bad_value",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id=str(i)),
        title=f"A date not understood in row {i}",
        message=f"Row {i}: the date '31/02/2026' is not one coprod can read. "
        + "Correct it in the sheet. " * 60,
        evidence={"value": "31/02/2026", "row": i},
        identity={"row": i},
    )


@pytest.mark.parametrize("tab_exists", [True, False], ids=["Flags tab there", "Flags tab made"])
@responses.activate
def test_a_first_write_larger_than_google_takes_in_one_request_goes_in_several_under_the_limit(
    tab_exists: bool,
) -> None:
    """Google refuses a request body over 10,485,760 bytes (the fake too): one request for every
    flag of a first run with 6,000 of them was refused, run after run, and nothing was written."""
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows() if tab_exists else None)
    if tab_exists:
        sheet.tabs["Flags"].row_count = 7000  # room enough: the values alone, no change of the grid
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    flags = [wordy_flag(i) for i in range(6000)]
    diff = diff_flags({}, flags, conn.read_staff_statuses(), RUN)

    report = conn.write_flags(diff.changes)

    sent = [c.request for c in responses.calls if c.request.method == "POST"]
    assert len(sent) >= 2 and all(len(r.body) <= 10_485_760 for r in sent)
    assert report.requests == len(sent) and sorted(report.written) == sorted(f.fingerprint for f in flags)
    kinds = [kind for kind, _ in sheet.calls if kind != "meta" and kind != "batchGet"]
    if tab_exists:
        assert set(kinds) == {"values:batchUpdate"}
    else:
        assert set(kinds) == {"batchUpdate"}
        assert "addSheet" in sheet.bodies[0]["requests"][0]  # the tab is made before any cell of it
    fingerprints = [row[0] for row in sheet.tabs["Flags"].trimmed()[1:]]
    assert sorted(fingerprints) == sorted(f.fingerprint for f in flags)


@responses.activate
def test_a_write_in_several_requests_cut_short_is_finished_by_the_next_sync_with_no_row_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first of two requests written, the second refused: the run stops (the sync records none
    of it as written), and the next run, told of every flag again, updates the rows already there
    in place by fingerprint and adds only the rest."""
    written_once = FakeSpreadsheet._values_update

    def then_refuse(self: FakeSpreadsheet, request: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.count("values:batchUpdate") == 1:
            self.fail("values:batchUpdate", 400)  # the next one
        return written_once(self, request, body)

    monkeypatch.setattr(FakeSpreadsheet, "_values_update", then_refuse)
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    sheet.tabs["Flags"].row_count = 7000
    flags = [wordy_flag(i) for i in range(6000)]
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    with pytest.raises(SourceUnavailable):
        conn.write_flags(diff_flags({}, flags, conn.read_staff_statuses(), RUN).changes)
    first = [row[0] for row in sheet.tabs["Flags"].trimmed()[1:]]
    assert 0 < len(first) < len(flags)

    conn = make_connector(recipe)
    read_everything(conn, recipe)
    report = conn.write_flags(diff_flags({}, flags, conn.read_staff_statuses(), RUN).changes)

    fingerprints = [row[0] for row in sheet.tabs["Flags"].trimmed()[1:]]
    assert sorted(fingerprints) == sorted(f.fingerprint for f in flags)
    assert fingerprints[: len(first)] == first  # the rows written first kept their places
    assert sorted(report.written) == sorted(f.fingerprint for f in flags)


@responses.activate
def test_one_batch_update_per_run_for_new_changed_and_resolved_flags() -> None:
    old, changed, gone = owed_flag("1"), owed_flag("2", "50.00"), owed_flag("3")
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows((old, "open"), (changed, "open"), (gone, "open")))
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    previous = {f.fingerprint: known(f) for f in (old, changed, gone)}
    now = [old, owed_flag("2", "100.00"), owed_flag("4"), owed_flag("5")]
    diff = diff_flags(previous, now, conn.read_staff_statuses(), RUN)
    assert diff.counts()["new"] == 2 and diff.counts()["changed"] == 1 and diff.counts()["resolved"] == 1

    report = conn.write_flags(diff.changes)

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet", "values:batchUpdate"]
    assert report.requests == 1
    assert sorted(report.written) == sorted(c.fingerprint for c in diff.changes)
    flags_tab = sheet.tabs["Flags"]
    assert flags_tab.cell(3, 6) == "Sam is owed £100.00"  # changed in place
    assert flags_tab.cell(4, 2) == "resolved" and flags_tab.cell(4, 6) == "Sam is owed £75.00"
    assert flags_tab.cell(4, 10) == "2026-06-01"
    assert {flags_tab.cell(5, 1), flags_tab.cell(6, 1)} == {now[2].fingerprint, now[3].fingerprint}


@responses.activate
def test_acknowledged_flag_is_not_overwritten() -> None:
    acked, other = owed_flag("1"), owed_flag("2")
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows((acked, "acknowledged"), (other, "open")))
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    previous = {f.fingerprint: known(f) for f in (acked, other)}
    staff = conn.read_staff_statuses()
    diff = diff_flags(previous, [acked, owed_flag("2", "80.00"), owed_flag("9")], staff, RUN)
    assert diff.kept_by_staff == 1

    conn.write_flags(diff.changes)

    (body,) = write_bodies(sheet)
    touched_rows = {vr["range"].split("!")[1].lstrip("ABCDEFGHIJ").split(":")[0] for vr in body["data"]}
    assert "2" not in touched_rows  # the acknowledged flag's row
    assert sheet.tabs["Flags"].cell(2, 2) == "acknowledged"
    assert sheet.tabs["Flags"].cell(3, 6) == "Sam is owed £80.00"


@responses.activate
def test_acknowledged_flag_whose_facts_change_is_reopened_in_place() -> None:
    acked = owed_flag("1")
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows((acked, "acknowledged")))
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    previous = {acked.fingerprint: known(acked, FlagStatus.ACKNOWLEDGED)}
    more_owed = owed_flag("1", "150.00")
    diff = diff_flags(previous, [more_owed], conn.read_staff_statuses(), RUN)

    conn.write_flags(diff.changes)

    (body,) = write_bodies(sheet)
    assert body["data"][0]["range"] == "'Flags'!A2:J2"
    tab = sheet.tabs["Flags"]
    assert tab.cell(2, 1) == acked.fingerprint == more_owed.fingerprint
    assert tab.cell(2, 2) == "open" and tab.cell(2, 6) == "Sam is owed £150.00"
    assert len(tab.trimmed()) == 2  # rewritten in its own row, not added again


@responses.activate
def test_flag_new_to_coprod_keeps_the_status_staff_gave_its_row() -> None:
    flag = owed_flag("1")
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows((flag, "won't fix")))
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [flag], conn.read_staff_statuses(), RUN)  # the state store was lost

    conn.write_flags(diff.changes)

    assert sheet.tabs["Flags"].cell(2, 2) == "won't fix"


@responses.activate
def test_rows_staff_added_or_sorted_are_kept_and_their_columns_untouched() -> None:
    a, b = owed_flag("1"), owed_flag("2")
    rows = flags_rows((b, "open"), (a, "open"))  # staff sorted the tab
    rows.insert(2, ["", "", "", "", "", "Note: call Sam's carer first"])
    rows[0].insert(3, "Who is on it")  # a staff column between coprod's
    for r in rows[1:]:
        r.insert(3, "Priya" if r[0] else "")
    recipe = make_recipe()
    sheet = make_sheet(flags=rows)
    sheet.tabs["Flags"].col_count = 11
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags(
        {f.fingerprint: known(f) for f in (a, b)}, [b, owed_flag("7")], conn.read_staff_statuses(), RUN
    )

    conn.write_flags(diff.changes)

    tab = sheet.tabs["Flags"]
    assert tab.cell(3, 7) == "Note: call Sam's carer first"
    assert tab.cell(4, 1) == a.fingerprint and tab.cell(4, 2) == "resolved"
    assert tab.cell(5, 1) == owed_flag("7").fingerprint
    assert tab.cell(5, 4) == ""  # the staff column of the new row was not written
    assert tab.cell(2, 4) == "Priya" and tab.cell(4, 4) == "Priya"
    (body,) = write_bodies(sheet)
    assert all("!D" not in vr["range"] and ":D" not in vr["range"] for vr in body["data"])


@responses.activate
def test_flags_tab_is_created_and_filled_in_one_request_on_first_write_when_absent() -> None:
    recipe = make_recipe()
    sheet = make_sheet(flags=None)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag("1")], conn.read_staff_statuses(), RUN)

    report = conn.write_flags(diff.changes)

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet", "batchUpdate"]
    assert report.requests == 1
    requests_ = sheet.bodies[0]["requests"]
    add = requests_[0]["addSheet"]["properties"]
    assert add["title"] == "Flags" and add["gridProperties"]["frozenRowCount"] == 1
    flag_row = [
        r["updateCells"] for r in requests_ if "updateCells" in r and r["updateCells"]["start"]["rowIndex"]
    ]
    assert flag_row == [
        {
            "start": {"sheetId": add["sheetId"], "rowIndex": 1, "columnIndex": 0},
            "rows": [
                {"values": [{"userEnteredValue": {"stringValue": v}} for v in sheet.tabs["Flags"].values[1]]}
            ],
            "fields": "userEnteredValue",
        }
    ]
    assert sheet.tabs["Flags"].values[0] == FLAG_HEADINGS
    assert sheet.tabs["Flags"].cell(2, 2) == "open"


@responses.activate
def test_a_flags_tab_past_its_grid_grows_and_is_written_in_one_request() -> None:
    # A new tab has 1,000 rows; a values:batchUpdate past them is refused ("exceeds grid limits"),
    # so the rows are added and the cells written in one spreadsheet batchUpdate, in that order.
    recipe = make_recipe(flags_column="coprod flags")
    sheet = make_sheet(flags=flags_rows())
    sheet.tabs["Flags"].row_count = 3
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    formula = owed_flag("17", name="=1+1")
    diff = diff_flags({}, [owed_flag(str(i)) for i in range(4)] + [formula], {}, RUN)

    report = conn.write_flags(diff.changes)

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet", "batchUpdate"]
    assert report.requests == 1 and sorted(report.written) == sorted(c.fingerprint for c in diff.changes)
    (body,) = sheet.bodies
    kinds = [next(iter(r)) for r in body["requests"]]
    assert kinds[:2] == ["appendDimension", "setDataValidation"] and set(kinds[2:]) == {"updateCells"}
    grow, drop_down = body["requests"][0]["appendDimension"], body["requests"][1]["setDataValidation"]
    assert grow["dimension"] == "ROWS" and grow["length"] >= 3  # 6 rows needed, 3 in the grid
    assert (drop_down["range"]["startRowIndex"], drop_down["range"]["endRowIndex"]) == (3, 3 + grow["length"])
    assert drop_down["range"]["startColumnIndex"] == 1  # Status: the new rows get its drop-down too
    tab = sheet.tabs["Flags"]
    assert tab.cell(6, 2) == "open" and len(tab.trimmed()) == 6
    texts = [
        v["userEnteredValue"]
        for r in body["requests"][2:]
        for row in r["updateCells"]["rows"]
        for v in row["values"]
        if v
    ]
    assert all(set(t) == {"stringValue"} for t in texts)  # text, never a formula: like RAW
    assert "=1+1 is owed £75.00" in [t["stringValue"] for t in texts]
    assert sheet.tabs[PEOPLE_TAB].cell(4, 6) == "=1+1 is owed £75.00"  # the flags column too


@responses.activate
def test_a_refused_grow_and_write_leaves_the_sheet_as_it_was_and_nothing_written() -> None:
    recipe = make_recipe(retries=0)
    sheet = make_sheet(flags=flags_rows())
    sheet.tabs["Flags"].row_count = 3
    sheet.fail("batchUpdate", 503)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag(str(i)) for i in range(5)], {}, RUN)

    with pytest.raises(SourceUnavailable, match="while writing flags"):
        conn.write_flags(diff.changes)

    assert sheet.tabs["Flags"].row_count == 3 and sheet.tabs["Flags"].trimmed() == [FLAG_HEADINGS]


@responses.activate
def test_flags_column_in_the_people_tab_lists_each_persons_open_flags() -> None:
    recipe = make_recipe(flags_column="coprod flags")
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    first, second = (
        owed_flag("17"),
        make_flag(
            check_id="payments.overdue",
            severity=Severity.CRITICAL,
            subject=Subject(kind=SubjectKind.PERSON, id="17"),
            title="Payment to nan is overdue",
            message="...",
            evidence={},
        ),
    )
    diff = diff_flags({}, [first, second], {}, RUN)

    conn.write_flags(diff.changes)

    people = sheet.tabs[PEOPLE_TAB]
    assert people.cell(1, 6) == "coprod flags"  # the heading was added after the last column
    assert people.cell(4, 6) == "Payment to nan is overdue\nSam is owed £75.00"
    assert people.cell(2, 6) == ""
    assert len(write_bodies(sheet)) == 1


@responses.activate
def test_a_problem_with_a_row_is_shown_in_that_rows_flags_column() -> None:
    recipe = make_recipe(flags_column="coprod flags")
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    bad_row = make_flag(
        check_id="data_quality.bad_value",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.RECORD, id="people:6"),
        title="Role not understood",
        message="Row 6 of the people tab: the role 'Staff' is not one coprod knows.",
        evidence={"field": "roles"},
    )
    diff = diff_flags({}, [bad_row], {}, RUN)

    conn.write_flags(diff.changes)

    people = sheet.tabs[PEOPLE_TAB]
    assert people.cell(6, 6) == "Role not understood"
    assert [people.cell(r, 6) for r in (2, 4)] == ["", ""]
    ranges = [vr["range"] for vr in write_bodies(sheet)[0]["data"]]
    assert "'Sam''s group – people'!F6" in ranges and "'Sam''s group – people'!F1" in ranges


@responses.activate
def test_flags_column_is_cleared_when_a_persons_last_flag_resolves() -> None:
    flag = owed_flag("007")
    recipe = make_recipe(flags_column="coprod flags")
    people = [row + ["coprod flags"] if i == 0 else row for i, row in enumerate(PEOPLE)]
    people[1] = people[1] + ["Sam is owed £75.00"]
    sheet = make_sheet(flags=flags_rows((flag, "open")), people=people)
    conn = make_connector(recipe)
    rows = read_everything(conn, recipe)
    assert "coprod flags" not in rows[Entity.PEOPLE][0].values  # coprod's own column is not data
    diff = diff_flags({flag.fingerprint: known(flag)}, [], {}, RUN)

    conn.write_flags(diff.changes)

    assert sheet.tabs[PEOPLE_TAB].cell(2, 6) == ""
    assert sheet.tabs["Flags"].cell(2, 2) == "resolved"


@responses.activate
def test_flags_column_drops_a_flag_staff_acknowledged_though_coprod_changed_nothing() -> None:
    owed, overdue = owed_flag("007"), owed_flag("17", name="Ben")
    recipe = make_recipe(flags_column="coprod flags")
    people = [row + ["coprod flags"] if i == 0 else row for i, row in enumerate(PEOPLE)]
    people[1] = people[1] + ["Sam is owed £75.00"]
    people[3] = people[3] + ["Ben is owed £75.00"]
    sheet = make_sheet(flags=flags_rows((owed, "acknowledged"), (overdue, "open")), people=people)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    previous = {f.fingerprint: known(f) for f in (owed, overdue)}
    diff = diff_flags(previous, [owed, overdue], conn.read_staff_statuses(), RUN)
    assert diff.changes == [] and diff.kept_by_staff == 1  # nothing for the Flags tab

    report = conn.write_flags(diff.changes)

    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet", "values:batchUpdate"]
    (body,) = write_bodies(sheet)
    assert body["valueInputOption"] == "RAW"
    assert body["data"] == [
        {"range": "'Sam''s group – people'!F2", "majorDimension": "ROWS", "values": [[""]]}
    ]
    assert sheet.tabs[PEOPLE_TAB].cell(4, 6) == "Ben is owed £75.00"  # still open: left as it is
    assert report.requests == 1 and report.written == []

    sheet.tabs["Flags"].values[1][1] = "open"  # staff take the acknowledgement back
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    conn.write_flags([])
    assert sheet.tabs[PEOPLE_TAB].cell(2, 6) == "Sam is owed £75.00"

    before = len(sheet.calls)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    assert conn.write_flags([]).requests == 0  # the column shows what it should: nothing is sent
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]


@responses.activate
def test_a_rows_flags_column_lists_its_persons_and_its_own_open_flags_together() -> None:
    recipe = make_recipe(flags_column="coprod flags")
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    bad_role = make_flag(
        check_id="data_quality.bad_value",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.RECORD, id="people:4"),
        title="Value not understood",
        message="...",
        evidence={"field": "roles"},
    )
    diff = diff_flags({}, [owed_flag("17"), bad_role], {}, RUN)

    conn.write_flags(diff.changes)

    assert sheet.tabs[PEOPLE_TAB].cell(4, 6) == "Sam is owed £75.00\nValue not understood"


@responses.activate
def test_no_changes_means_no_request_at_all() -> None:
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)

    report = conn.write_flags([])

    assert report.requests == 0 and sheet.calls == []


# ------------------------------------------------------------------ retries and errors


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause urllib3's Retry takes between tries, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", taken.append)
    return taken


@responses.activate
def test_429_then_success_retries_and_reads() -> None:
    recipe = make_recipe()
    sheet = make_sheet()
    sheet.fail("batchGet", 429, times=1, retry_after="7")
    conn = make_connector(recipe)

    rows = [r for p in conn.read(Entity.SESSIONS, recipe.entities[Entity.SESSIONS]) for r in p.rows]

    assert len(rows) == 1
    assert [kind for kind, _ in sheet.calls] == ["meta", "batchGet", "batchGet"]


@responses.activate
def test_a_retry_is_logged_by_coprod_at_info_never_as_a_warning_and_never_with_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    recipe = make_recipe()
    sheet = make_sheet()
    sheet.fail("batchGet", 503, times=1)
    conn = make_connector(recipe)

    list(conn.read(Entity.SESSIONS, recipe.entities[Entity.SESSIONS]))

    assert sheet.count("batchGet") == 2
    retries = [r for r in caplog.records if r.name == "coprod.connectors.http"]
    assert [(r.levelno, r.getMessage()) for r in retries] == [
        (logging.INFO, "GET sheets.googleapis.com: HTTP 503; try 2 of 3 in 0 s")
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # cron mails nothing
    assert not [r for r in caplog.records if KEY in r.getMessage()]


@responses.activate
def test_503_on_write_is_retried_and_written_once() -> None:
    recipe = make_recipe()
    sheet = make_sheet(flags=flags_rows())
    sheet.fail("values:batchUpdate", 503, times=2)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag("1")], {}, RUN)

    report = conn.write_flags(diff.changes)

    assert sheet.count("values:batchUpdate") == 3
    assert report.written == [diff.changes[0].fingerprint]


@responses.activate
def test_permanent_429_ends_in_a_clear_error_after_the_bound() -> None:
    recipe = make_recipe(retries=2)
    sheet = make_sheet()
    sheet.fail("meta", 429, times=50)
    conn = make_connector(recipe)

    with pytest.raises(SourceUnavailable) as err:
        list(conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]))

    assert sheet.count("meta") == 3 and sheet.count("batchGet") == 0
    text = str(err.value)
    assert text.startswith("[sources.sheet]: Google Sheets answered 429")
    assert "3 times in a row" in text and "run again in a few minutes" in text
    assert err.value.exit_code == 3


@responses.activate
def test_google_down_past_the_bound_is_said_as_google_trouble_not_quota() -> None:
    recipe = make_recipe(retries=1)
    sheet = make_sheet()
    sheet.fail("meta", 503, times=50)
    conn = make_connector(recipe)

    with pytest.raises(SourceUnavailable) as err:
        conn.read_staff_statuses()

    assert sheet.count("meta") == 2
    text = str(err.value)
    assert "answered 503 (Google Sheets is unavailable) while opening the spreadsheet, 2 times" in text
    assert "the trouble is at Google's end" in text and "60 reads" not in text


@responses.activate
def test_permanent_429_on_write_raises_and_nothing_is_reported_written() -> None:
    recipe = make_recipe(retries=1)
    sheet = make_sheet(flags=flags_rows())
    sheet.fail("values:batchUpdate", 429, times=50)
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag("1")], {}, RUN)

    with pytest.raises(SourceUnavailable, match="while writing flags"):
        conn.write_flags(diff.changes)

    assert sheet.count("values:batchUpdate") == 2
    assert sheet.tabs["Flags"].cell(2, 1) == ""


def test_retries_are_bounded_and_honour_retry_after(sleeps: list[float]) -> None:
    # responses replays the adapter's Retry without pausing, so the pauses are pinned here, on the
    # very Retry mounted on the connector's session, as urllib3 calls it between real tries.
    recipe = make_recipe(retries=3, extra={"backoff": 2})
    conn = make_connector(recipe)
    url = "https://sheets.googleapis.com/v4/spreadsheets/x"

    retry = conn._http().session.get_adapter("https://sheets.googleapis.com/").max_retries

    assert {429, 500, 502, 503, 504} <= set(retry.status_forcelist)
    retry.sleep(urllib3.HTTPResponse(status=429, headers={"Retry-After": "7"}))
    retry.sleep(urllib3.HTTPResponse(status=429, headers={"Retry-After": "86400"}))
    assert sleeps == [7.0, 120.0]  # Google's Retry-After is waited, capped so cron is not held for a day
    busy = urllib3.HTTPResponse(status=503)
    for _ in range(2):
        retry = retry.increment("GET", url, response=busy)
    retry.sleep(busy)
    assert sleeps[-1] == 4.0  # no Retry-After: back-off of 2 s doubling
    retry = retry.increment("GET", url, response=busy)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        retry.increment("GET", url, response=busy)  # the fifth try is never made


@responses.activate
def test_refused_spreadsheet_names_the_service_account_to_share_with(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps({"type": "service_account", "client_email": "coprod@charity.iam.gserviceaccount.com"})
    )
    recipe = make_recipe()
    sheet = make_sheet()
    sheet.status_on_open = 403
    conn = make_connector(recipe, env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})

    with pytest.raises(SourceUnavailable) as err:
        conn.install()

    assert "share the spreadsheet with coprod@charity.iam.gserviceaccount.com as an Editor" in str(err.value)
    assert sheet.count("meta") == 1  # a 403 is not retried


def test_missing_key_variable_is_a_config_error_naming_it() -> None:
    recipe = make_recipe()
    spec = recipe.sources["sheet"]
    conn = build_connector("sheet", spec, ConnectorContext(recipe=recipe, recipe_dir=Path("."), env={}))

    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        conn.read_staff_statuses()


def test_spreadsheet_may_be_given_as_the_browser_address() -> None:
    url = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
    assert SheetsOptions(spreadsheet=url).key == KEY
    with pytest.raises(ValueError):
        SheetsOptions(spreadsheet="https://example.org/not-a-sheet")


def test_unknown_option_is_an_error_naming_the_source_section() -> None:
    recipe = make_recipe(extra={"flag_tab": "Flags"})
    with pytest.raises(ConfigError, match=r"\[sources.sheet\]"):
        build_connector(
            "sheet", recipe.sources["sheet"], ConnectorContext(recipe=recipe, recipe_dir=Path("."))
        )


# ------------------------------------------------------------------ install


@responses.activate
def test_install_creates_the_flags_tab_and_a_second_install_writes_nothing() -> None:
    recipe = make_recipe(flags_column="coprod flags")
    sheet = make_sheet(flags=None)
    conn = make_connector(recipe)

    first = conn.install()
    writes_after_first = sheet.writes
    second = conn.install()

    assert "sheets: created the tab 'Flags' with its header row" in first
    assert any("added the column 'coprod flags'" in line for line in first)
    assert sheet.tabs["Flags"].values[0] == FLAG_HEADINGS
    assert sheet.tabs[PEOPLE_TAB].cell(1, 6) == "coprod flags"
    assert writes_after_first == 1  # addSheet with its header and the new column heading, in one request
    assert sheet.writes == writes_after_first
    assert "sheets: the tab 'Flags' is ready (0 flags in it)" in second


@responses.activate
def test_install_lists_every_problem_with_the_columns_found() -> None:
    recipe = make_recipe()
    sheet = make_sheet(people=[["Timestamp", "Name", "Role"]], flags=flags_rows())
    sheet.tabs.pop("Attendance")
    conn = make_connector(recipe)

    with pytest.raises(ConfigError) as err:
        conn.install()

    text = str(err.value)
    assert "'Participant ID' (id)" in text and "the columns found are: 'Timestamp', 'Name', 'Role'" in text
    assert "tab 'Attendance' is not in the spreadsheet" in text
    # one problem to a line (they were joined by '; ' into one line of several hundred characters)
    problems = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2 and "the sheet needs attention before coprod can use it:" in text


@responses.activate
def test_a_tab_whose_header_row_is_missing_is_said_without_quoting_its_first_row() -> None:
    """Row 1 naming none of the mapped columns is someone's answers: printed under cron and logged
    by the webhook worker, they must not be quoted."""
    recipe = make_recipe()
    sheet = make_sheet(people=[["17", "Sam Jones", "Carer"]], flags=flags_rows())
    sheet.tabs.pop("Attendance")
    with pytest.raises(ConfigError) as err:
        make_connector(recipe).install()
    text = str(err.value)
    assert "row 1 names none of the columns the recipe maps ('Participant ID', 'Full name', 'Role'" in text
    assert "it must be the header row" in text
    assert "Sam Jones" not in text and "Carer" not in text


def write_service_account_key(path: Path, token_uri: str = TOKEN_URL) -> None:
    """A real (freshly made) service-account JSON key, signing in at ``token_uri``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**service_account_key(), "token_uri": token_uri}), encoding="utf-8")


def key_file_connector(folder: Path, retries: int = 2) -> SheetsConnector:
    """The connector as a recipe in ``folder`` builds it, signing in with ``folder/key.json``."""
    recipe = make_recipe(retries=retries)
    context = ConnectorContext(
        recipe=recipe, recipe_dir=folder, env={"GOOGLE_APPLICATION_CREDENTIALS": "key.json"}
    )
    conn = build_connector("sheet", recipe.sources["sheet"], context)
    assert isinstance(conn, SheetsConnector)
    return conn


@responses.activate
def test_service_account_key_file_signs_in_and_sends_the_bearer_token(tmp_path: Path) -> None:
    write_service_account_key(tmp_path / "keys" / "coprod.json")
    responses.add(
        responses.POST,
        "https://oauth2.googleapis.com/token",
        json={"access_token": "ya29.t", "expires_in": 3600},
    )
    recipe = make_recipe()
    sheet = make_sheet()
    context = ConnectorContext(
        recipe=recipe, recipe_dir=tmp_path, env={"GOOGLE_APPLICATION_CREDENTIALS": "keys/coprod.json"}
    )
    conn = build_connector("sheet", recipe.sources["sheet"], context)

    rows = [r for p in conn.read(Entity.SESSIONS, recipe.entities[Entity.SESSIONS]) for r in p.rows]

    assert len(rows) == 1
    sheets_calls = [c for c in responses.calls if c.request.url.startswith("https://sheets.googleapis.com/")]
    assert len(sheets_calls) == 2 == sheet.reads
    assert all(c.request.headers["Authorization"] == "Bearer ya29.t" for c in sheets_calls)


def test_no_network_at_sign_in_is_said_as_the_network_not_the_key_and_mails_no_urllib3_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found following the README on a machine that could not reach Google: the token request's
    # failure (a TransportError, which is a GoogleAuthError) was put down to the key, and google-auth's
    # own retries printed urllib3's "Retrying (...) ...: /token" warnings, which cron would mail.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed: a real refused connection
    write_service_account_key(tmp_path / "key.json", token_uri=f"http://127.0.0.1:{port}/token")
    conn = key_file_connector(tmp_path, retries=1)
    caplog.set_level(logging.INFO)

    with pytest.raises(SourceUnavailable) as err:
        conn.read_staff_statuses()

    assert "could not reach Google to sign in" in str(err.value) and "after 2 tries" in str(err.value)
    assert "did not accept" not in str(err.value)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    retried = [r.getMessage() for r in caplog.records if r.name == "coprod.connectors.http"]
    assert retried == [
        "POST 127.0.0.1: the connection failed (NewConnectionError); try 2 of 2 in 0 s",
        "POST 127.0.0.1: the connection failed (NewConnectionError); no tries left",
    ]


@responses.activate
def test_a_failing_sign_in_service_is_said_as_googles_trouble_not_a_refused_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("google.auth._exponential_backoff.time.sleep", lambda seconds: None)
    write_service_account_key(tmp_path / "key.json")
    responses.add(responses.POST, "https://oauth2.googleapis.com/token", status=503, json={"error": "busy"})
    conn = key_file_connector(tmp_path)

    with pytest.raises(SourceUnavailable) as err:
        conn.read_staff_statuses()

    assert "sign-in service kept failing" in str(err.value) and "did not accept" not in str(err.value)
    assert not [c for c in responses.calls if "sheets.googleapis.com" in c.request.url]


@responses.activate
def test_a_refused_key_is_still_said_as_the_key(tmp_path: Path) -> None:
    write_service_account_key(tmp_path / "key.json")
    responses.add(
        responses.POST,
        "https://oauth2.googleapis.com/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    conn = key_file_connector(tmp_path)

    with pytest.raises(SourceUnavailable, match="Google did not accept the service-account key"):
        conn.read_staff_statuses()
    assert len(responses.calls) == 1  # a refused key is not retried


def test_a_key_file_that_is_not_there_is_said_as_validate_says_it_with_what_to_do(tmp_path: Path) -> None:
    """A connector built without validate first (the webhook app's) says what the file is, which
    variable names it and what to do, as validate does, before any request is sent."""
    conn = key_file_connector(tmp_path)

    with responses.RequestsMock() as rsps, pytest.raises(ConfigError) as raised:
        conn.read_staff_statuses()
    assert len(rsps.calls) == 0
    said = str(raised.value)
    assert said.startswith(
        "the Google service-account key file (the JSON key made for coprod's service account"
    )
    assert (
        f"GOOGLE_APPLICATION_CREDENTIALS (in .env or the environment) gives its path as {tmp_path / 'key.json'}"
        in said
    )
    assert said.endswith(
        "Put the file there, or change GOOGLE_APPLICATION_CREDENTIALS to the path where it is: in .env, "
        "or in the environment where it is set there (the environment wins over .env)"
    )


def test_key_file_that_is_not_a_service_account_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "key.json").write_text(json.dumps({"installed": {"client_id": "x"}}))
    conn = key_file_connector(tmp_path)

    with pytest.raises(ConfigError, match="not a service-account JSON key"):
        conn.read_staff_statuses()


# ------------------------------------------------------------------ Google's 400s, said without values

SENTINEL = "Zorblax Quistenfeld"
"""A name in the flags written: Google's message quotes it back, coprod's never does."""


def refused_flag_write(message: str, field: str | None = None) -> tuple[FakeSpreadsheet, str]:
    """A flag about SENTINEL written to a sheet whose values:batchUpdate Google refuses with a 400 of
    ``message`` (and ``field``): the sheet, and what coprod said."""
    recipe = make_recipe(retries=0)
    sheet = make_sheet(flags=flags_rows())
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag("17", name=SENTINEL)], {}, RUN)
    sheet.refuse("values:batchUpdate", message, field=field)
    with pytest.raises(SourceUnavailable) as err:
        conn.write_flags(diff.changes)
    return sheet, str(err.value)


@responses.activate
def test_a_refused_value_write_names_googles_status_the_place_and_the_tab_never_a_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        sheet, text = refused_flag_write(
            f'Invalid data[0].values[0][5]: list_value {{ values {{ string_value: "{SENTINEL} is owed" }} }}',
            field="data[0].values[0][5]",
        )

    (sent,) = [c.request for c in responses.calls if c.request.url.endswith("values:batchUpdate")]
    assert SENTINEL in sent.body.decode()  # the value was in the request Google refused
    assert "refused the request while writing flags to the tab(s) 'Flags' (400, INVALID_ARGUMENT, " in text
    assert "at data[0].values[0][5]: the cells 'Flags'!A2:" in text
    assert "nothing of this request was written" in text and "run with -v" in text
    assert SENTINEL not in text and "string_value" not in text
    assert SENTINEL not in caplog.text
    assert sheet.tabs["Flags"].cell(2, 1) == ""


@responses.activate
def test_a_refused_spreadsheet_update_names_the_request_and_its_tab_and_what_to_do() -> None:
    recipe = make_recipe(retries=0)
    sheet = make_sheet(flags=flags_rows())
    sheet.tabs["Flags"].row_count = 3  # past the grid: the cells go in a spreadsheet batchUpdate
    conn = make_connector(recipe)
    read_everything(conn, recipe)
    diff = diff_flags({}, [owed_flag(str(i), name=SENTINEL) for i in range(5)], {}, RUN)
    sheet.refuse(
        "batchUpdate",
        f'Invalid requests[2].updateCells: "{SENTINEL}" This operation is not supported for this document',
        status="FAILED_PRECONDITION",
    )

    with pytest.raises(SourceUnavailable) as err:
        conn.write_flags(diff.changes)

    (sent,) = [c.request for c in responses.calls if c.request.url.endswith(":batchUpdate")]
    assert next(iter(json.loads(sent.body)["requests"][2])) == "updateCells"
    text = str(err.value)
    assert "(400, FAILED_PRECONDITION, at requests[2].updateCells: updateCells on the tab 'Flags')" in text
    assert "File > Save as Google Sheets" in text
    assert SENTINEL not in text and "not supported" not in text


@responses.activate
def test_a_protected_range_in_the_way_says_to_let_the_service_account_edit_it() -> None:
    _, text = refused_flag_write(
        "You are trying to edit a protected cell or object. Please contact the spreadsheet owner to "
        "remove protection if you need to edit."
    )

    assert "while writing flags to the tab(s) 'Flags' (400, INVALID_ARGUMENT):" in text
    assert "Protect sheets and ranges, let the service account edit it" in text


@responses.activate
def test_a_refused_read_names_the_tabs_read_and_googles_status() -> None:
    recipe = make_recipe(retries=0)
    sheet = make_sheet()
    conn = make_connector(recipe)
    sheet.refuse("batchGet", f"Unable to parse range: '{SENTINEL}'!A1", field="ranges[0]")

    with pytest.raises(ConfigError) as err:
        conn.read(Entity.PEOPLE, recipe.entities[Entity.PEOPLE]).__next__()

    text = str(err.value)
    assert (
        f"while reading the tabs '{PEOPLE_TAB}'" in text and "(400, INVALID_ARGUMENT, at ranges[0])" in text
    )
    assert "'Sessions', 'Attendance'" in text and "location = ..." in text
    assert SENTINEL not in text
    assert sheet.count("batchGet") == 1
