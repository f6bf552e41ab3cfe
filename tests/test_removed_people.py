"""A person deleted from the people list at their request (UK GDPR, the right to erasure): their
flags close, and the words that said who they were leave the flags file, once (a session's hours
flag that named them too); a person merely not read (a row whose ID cell is blank) is not taken as removed. The Sheets and CiviCRM sides are in
``test_sheets_recipe.py`` and ``test_civicrm_connector.py``."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.config import load_recipe
from coprod.connectors.files import FLAG_HEADINGS
from coprod.sync import ExitCode, RunResult, run
from coprod_core.checks.payments.session_length import HOURS_OVER_SESSION
from coprod_core.flags import Flag, SubjectKind
from coprod_core.lifecycle import ChangeKind
from coprod_core.removed import NAMED_ROW_MESSAGE, REMOVED_ABOUT, ROW_MESSAGE
from fakes import ROOT

DAY = date(2026, 11, 20)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def rewrite(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)


def people_rows(demo: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (demo / "data" / "people.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def sync(demo: Path) -> RunResult:
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.OK, result.messages
    return result


def most_flagged(result: RunResult, skip: frozenset[str] = frozenset()) -> str:
    counted: dict[str, int] = {}
    for f in result.flags:
        if f.subject.kind is SubjectKind.PERSON and f.subject.id not in skip:
            counted[f.subject.id] = counted.get(f.subject.id, 0) + 1
    return max(sorted(counted), key=lambda pid: counted[pid])


def test_a_person_deleted_from_the_people_list_leaves_only_a_closed_flag_without_their_name(
    demo: Path,
) -> None:
    first = sync(demo)
    pid = most_flagged(first)
    header, people = people_rows(demo)
    name = next(p["Name"] for p in people if p["Participant ID"] == pid)
    theirs = {
        f.fingerprint: f for f in first.flags if f.subject.kind is SubjectKind.PERSON and f.subject.id == pid
    }
    flags_file = demo / "data" / "coprod-flags.csv"
    rows = read(flags_file)
    for row in rows:  # a member of staff keeps notes of their own beside the flags
        row["Our notes"] = f"rang {name}" if row["Fingerprint"] in theirs else ""
    rewrite(flags_file, rows, [*FLAG_HEADINGS, "Our notes"])
    before = {r["Fingerprint"]: r for r in read(flags_file)}
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != pid], header)

    second = sync(demo)

    assert second.diff is not None
    removed = {c.fingerprint for c in second.diff.changes if c.kind is ChangeKind.REMOVED}
    assert removed == set(theirs)
    assert second.diff.counts()["removed"] == len(theirs)
    after = {r["Fingerprint"]: r for r in read(flags_file)}
    for fp in theirs:
        row, was = after[fp], before[fp]
        assert name in was["About"] and was["Message"]
        assert row["About"] == REMOVED_ABOUT and row["Message"] == ROW_MESSAGE and row["Evidence"] == "{}"
        assert row["Status"] == "resolved" and row["Last seen"] == DAY.isoformat()
        for kept in ("Title", "Severity", "First seen", "Check"):
            assert row[kept] == was[kept], kept
        assert row["Our notes"] == f"rang {name}"  # staff's own words are theirs to clear
    coprods = [row[c] for row in after.values() for c in FLAG_HEADINGS]
    assert not [cell for cell in coprods if name in cell or f"(ID {pid})" in cell]
    untouched = set(before) - set(theirs) - {c.fingerprint for c in second.diff.changes}
    assert all(after[fp] == before[fp] for fp in untouched)

    written = flags_file.read_bytes()
    third = sync(demo)
    assert third.diff is not None and third.diff.changes == [] and third.write.requests == 0
    assert flags_file.read_bytes() == written  # nothing written again


def test_a_row_whose_id_was_blanked_is_not_a_removal_and_holds_back_the_others_until_it_goes(
    demo: Path,
) -> None:
    first = sync(demo)
    gone = most_flagged(first)
    blanked = most_flagged(first, skip=frozenset({gone}))
    header, people = people_rows(demo)
    names = {p["Participant ID"]: p["Name"] for p in people}
    flagged = {f.fingerprint: f.subject.id for f in first.flags if f.subject.id in (gone, blanked)}
    flags_file = demo / "data" / "coprod-flags.csv"
    for p in people:
        if p["Participant ID"] == blanked:
            p["Participant ID"] = ""  # the row is still there: whose it is cannot be read
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != gone], header)

    second = sync(demo)

    assert second.diff is not None
    assert {c.kind for c in second.diff.changes if c.fingerprint in flagged} == {ChangeKind.RESOLVED}
    rows = {r["Fingerprint"]: r for r in read(flags_file)}
    for fp, pid in flagged.items():  # closed, and still saying who, for now
        assert rows[fp]["Status"] == "resolved" and names[pid] in rows[fp]["About"]

    rewrite(
        demo / "data" / "people.csv", [p for p in people if p["Participant ID"] not in ("", gone)], header
    )
    third = sync(demo)

    assert third.diff is not None
    assert {c.fingerprint: c.kind for c in third.diff.changes if c.fingerprint in flagged} == dict.fromkeys(
        flagged, ChangeKind.REMOVED
    )
    rows = {r["Fingerprint"]: r for r in read(flags_file)}
    for fp in flagged:
        assert rows[fp]["About"] == REMOVED_ABOUT and rows[fp]["Last seen"] == DAY.isoformat()
    fourth = sync(demo)
    assert fourth.diff is not None and fourth.diff.changes == [] and fourth.write.requests == 0


def set_hours(demo: Path, hours: dict[tuple[str, str], str]) -> None:
    """Give these (person ID, session ID) register rows these hours."""
    path = demo / "data" / "attendance.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        row["Hours"] = hours.get((row["Person ID"], row["Session ID"]), row["Hours"])
    rewrite(path, rows, header)


def hours_flag(result: RunResult, session: str) -> Flag:
    (flag,) = [f for f in result.flags if f.check_id == HOURS_OVER_SESSION.id and f.subject.id == session]
    return flag


def test_a_sessions_hours_flag_naming_only_a_removed_person_loses_their_name_and_keeps_the_session(
    demo: Path,
) -> None:
    """The hours flag is about the session, but its words name who gave it more hours than it
    lasted; once that person is deleted from the people list (their register rows kept, as a charity
    may keep them), the flag closes and its message and evidence go, as a flag about them would.
    What it is about (the session) names nobody and stays."""
    set_hours(demo, {("33", "S01"): "5"})
    first = sync(demo)
    flag = hours_flag(first, "S01")
    header, people = people_rows(demo)
    name = next(p["Name"] for p in people if p["Participant ID"] == "33")
    assert name in flag.message and flag.named == ("33",)
    flags_file = demo / "data" / "coprod-flags.csv"
    before = {r["Fingerprint"]: r for r in read(flags_file)}[flag.fingerprint]
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != "33"], header)

    second = sync(demo)

    assert second.diff is not None
    (change,) = [c for c in second.diff.changes if c.fingerprint == flag.fingerprint]
    assert change.kind is ChangeKind.REMOVED
    row = {r["Fingerprint"]: r for r in read(flags_file)}[flag.fingerprint]
    assert row["Message"] == NAMED_ROW_MESSAGE and row["Evidence"] == "{}" and row["Status"] == "resolved"
    assert row["About"] == before["About"] and "S01" in row["About"]  # the session, named by its ID
    for kept in ("Title", "Severity", "First seen", "Check"):
        assert row[kept] == before[kept], kept
    cells = [r[c] for r in read(flags_file) for c in FLAG_HEADINGS]
    assert not [cell for cell in cells if name in cell]
    third = sync(demo)
    assert third.diff is not None and third.diff.changes == [] and third.write.requests == 0


def test_a_sessions_hours_flag_resolved_before_its_person_left_loses_their_name_when_they_do(
    demo: Path,
) -> None:
    """Corrected first (the flag resolved with its words kept, for the record), then the person asks
    to be deleted: the state remembers whom the flag named (IDs only), so its words still go."""
    set_hours(demo, {("33", "S01"): "5"})
    flag = hours_flag(sync(demo), "S01")
    set_hours(demo, {("33", "S01"): "2"})
    corrected = sync(demo)
    assert corrected.diff is not None
    assert [c.kind for c in corrected.diff.changes if c.fingerprint == flag.fingerprint] == [
        ChangeKind.RESOLVED
    ]
    header, people = people_rows(demo)
    name = next(p["Name"] for p in people if p["Participant ID"] == "33")
    flags_file = demo / "data" / "coprod-flags.csv"
    assert name in {r["Fingerprint"]: r for r in read(flags_file)}[flag.fingerprint]["Message"]
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != "33"], header)

    removed = sync(demo)

    assert removed.diff is not None
    assert [c.kind for c in removed.diff.changes if c.fingerprint == flag.fingerprint] == [ChangeKind.REMOVED]
    row = {r["Fingerprint"]: r for r in read(flags_file)}[flag.fingerprint]
    assert row["Message"] == NAMED_ROW_MESSAGE and row["Evidence"] == "{}"


def test_a_sessions_hours_flag_naming_others_too_is_rewritten_without_the_removed_person(demo: Path) -> None:
    set_hours(demo, {("33", "S01"): "5", ("34", "S01"): "4"})
    flag = hours_flag(sync(demo), "S01")
    assert flag.named == ("33", "34")
    header, people = people_rows(demo)
    names = {p["Participant ID"]: p["Name"] for p in people}
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != "33"], header)

    second = sync(demo)

    assert second.diff is not None
    assert [c.kind for c in second.diff.changes if c.fingerprint == flag.fingerprint] == [ChangeKind.CHANGED]
    now = hours_flag(second, "S01")
    assert now.named == ("34",) and names["34"] in now.message and names["33"] not in now.message
    row = {r["Fingerprint"]: r for r in read(demo / "data" / "coprod-flags.csv")}[flag.fingerprint]
    assert row["Status"] == "open" and names["33"] not in row["Message"] and '"33"' not in row["Evidence"]


def test_rows_of_someone_removed_from_the_people_list_say_so_and_keep_an_unknown_ids_fingerprints(
    demo: Path,
) -> None:
    """Their attendance and payment rows stay (a charity may have to keep payment records), each
    flagged. coprod knew the person (its state holds the IDs of people it flagged), so the flag says
    the row belongs to someone removed from the list and what to do, not "fix the ID"; its
    fingerprint and facts are those of any unknown ID's, so a flag raised before keeps staff's
    answer. Never their name."""
    first = sync(demo)
    pid = most_flagged(first)
    header, people = people_rows(demo)
    name = next(p["Name"] for p in people if p["Participant ID"] == pid)
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != pid], header)

    second = sync(demo)

    def theirs(result: RunResult) -> dict[str, Flag]:
        return {
            f.fingerprint: f
            for f in result.flags
            if f.check_id == "data_quality.unknown_person" and f.evidence["found"] == pid
        }

    rows = theirs(second)
    for data in ("attendance", "payments"):
        with (demo / "data" / f"{data}.csv").open(encoding="utf-8", newline="") as handle:
            kept = [r for r in csv.DictReader(handle) if r["Person ID"] == pid]
        assert len([f for f in rows.values() if f.evidence["entity"] == data]) == len(kept) > 0, data
    for f in rows.values():
        assert f"person ID {pid} belongs to someone who has been removed from the people list" in f.message
        assert "delete their attendance and payment rows too" in f.message and name not in f.message
        assert "Fix the ID" not in f.message
    assert second.diff is not None
    assert {c.kind for c in second.diff.changes if c.fingerprint in rows} == {ChangeKind.NEW}
    written = {r["Fingerprint"]: r["Message"] for r in read(demo / "data" / "coprod-flags.csv")}
    assert all(written[fp] == f.message for fp, f in rows.items())

    # `coprod check` says what the sync wrote: it said "is not in the people list ... Fix the ID"
    # (walkthrough), and for KoboToolbox check is where staff read a flag's whole message.
    checked = theirs(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert {fp: f.message for fp, f in checked.items()} == {fp: f.message for fp, f in rows.items()}
    # a check writes nothing: a store an older coprod left is not upgraded for the words' sake
    # (going back to that coprod would then need the backup)
    state_file = demo / ".coprod" / "state.sqlite"
    with closing(sqlite3.connect(state_file)) as db, db:
        db.execute("ALTER TABLE flags DROP COLUMN named")  # as schema version 2 had it
        db.execute("UPDATE schema_versions SET version = 2 WHERE component = 'state'")
    before = state_file.read_bytes()
    older = theirs(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert state_file.read_bytes() == before
    assert older.keys() == rows.keys()
    assert all(f"person ID {pid} is not in the people list" in f.message for f in older.values())
    shutil.rmtree(demo / ".coprod")  # no state, no memory: the words of any unknown ID
    unknown = theirs(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert not (demo / ".coprod").exists()  # a check makes no state where there was none
    assert {fp: f.facts_digest for fp, f in unknown.items()} == {fp: f.facts_digest for fp, f in rows.items()}
    assert all(f"person ID {pid} is not in the people list" in f.message for f in unknown.values())


def test_a_check_with_a_postgresql_state_does_not_connect_to_it(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check reads a state only where that changes nothing and waits for nothing: a PostgreSQL
    store could be made in an empty database by opening it, or keep the check waiting seconds for a
    server that is away. Its rows of an unknown ID say what any unknown ID says."""
    from coprod import state_postgres

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("coprod check opened the PostgreSQL store")

    monkeypatch.setattr(state_postgres.PostgresStateStore, "__init__", refuse)
    result = run(
        load_recipe(demo, env={"COPROD_STATE": "postgresql://coprod@127.0.0.1:9/coprod"}),
        mode="check",
        run_date=DAY,
    )
    assert result.exit_code == 0


def test_a_row_naming_someone_coprod_never_flagged_reads_as_an_unknown_id(demo: Path) -> None:
    """coprod keeps no list of people: one it never flagged, deleted, leaves rows it cannot tell from
    a mistyped ID, so they say what any unknown ID says."""
    first = sync(demo)
    header, people = people_rows(demo)
    flagged = {f.subject.id for f in first.flags if f.subject.kind is SubjectKind.PERSON}
    with (demo / "data" / "attendance.csv").open(encoding="utf-8", newline="") as handle:
        attending = {r["Person ID"] for r in csv.DictReader(handle)}
    unflagged = sorted(attending - flagged)[0]
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != unflagged], header)

    second = sync(demo)

    mentions = [
        f
        for f in second.flags
        if f.check_id == "data_quality.unknown_person" and f.evidence["found"] == unflagged
    ]
    assert mentions and all("is not in the people list" in f.message for f in mentions)


def project_lists(result: RunResult) -> dict[str, Flag]:
    """The unknown-person flags on the projects' lists, by field (decision_group, co_chairs)."""
    return {
        f.evidence["field"]: f
        for f in result.flags
        if f.check_id == "data_quality.unknown_person" and f.evidence["entity"] == "projects"
    }


def test_a_projects_decision_group_and_co_chairs_naming_someone_removed_say_so_and_keep_their_fingerprints(
    demo: Path,
) -> None:
    """The decision group and co-chairs of a project are rows of the charity's too: once a person in
    them is deleted from the people list, they said "is not in the people list ... Fix the ID" (as
    of a mistyped ID) while the person's attendance and payment rows said they were removed. Their
    words change, not their facts: a flag raised before keeps staff's answer."""
    first = sync(demo)
    assert any(f.subject.kind is SubjectKind.PERSON and f.subject.id == "26" for f in first.flags)
    header, people = people_rows(demo)
    name = next(p["Name"] for p in people if p["Participant ID"] == "26")
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != "26"], header)

    second = sync(demo)

    lists = project_lists(second)
    assert set(lists) == {"decision_group", "co_chairs"}
    assert all(f.evidence["found"] == ["26"] for f in lists.values())
    assert lists["decision_group"].message == (
        "projects.csv row 2, column 'Decision group': person ID 26 in the decision-making group belongs "
        "to someone who has been removed from the people list. The project was used without that person "
        "in its group. If they asked for their data to be deleted, take their ID out of this list too; if "
        "they were removed by mistake, add them back to the people list."
    )
    assert lists["co_chairs"].message.startswith(
        "projects.csv row 2, column 'Co-chairs': person ID 26 among the co-chairs belongs to someone who "
        "has been removed from the people list. The project was used without that person as a co-chair. "
        "If they asked"
    )
    assert not [f for f in lists.values() if "Fix the ID" in f.message or name in f.message]
    written = {r["Fingerprint"]: r["Message"] for r in read(demo / "data" / "coprod-flags.csv")}
    assert all(written[f.fingerprint] == f.message for f in lists.values())
    checked = project_lists(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert {k: f.message for k, f in checked.items()} == {k: f.message for k, f in lists.items()}

    shutil.rmtree(demo / ".coprod")  # no memory of the person: any unknown ID's words, the same flags
    unknown = project_lists(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert {k: (f.fingerprint, f.facts_digest) for k, f in unknown.items()} == {
        k: (f.fingerprint, f.facts_digest) for k, f in lists.items()
    }
    assert all("person ID 26" in f.message and "Fix the ID" in f.message for f in unknown.values())


INLINE_PROJECTS = """
[[projects]]
id = "DSR"
name = "Day service redesign"
label = "co_production"
stages_reached = ["design", "planning"]
plan_drafted = 2026-02-12
co_chair_roles = ["carer"]
co_chairs = ["26"]
decision_group = ["33", "34", "35", "36", "26"]
recruitment_opened = 2026-02-10
values_agreed = 2026-03-01

[[projects]]
id = "PSL"
name = "Peer support line"
label = "co_production"
stages_reached = ["design", "planning", "delivery"]
plan_drafted = 2026-03-20
co_chair_roles = ["lived_experience"]
co_chairs = ["1"]
decision_group = ["31", "32", "1", "2", "3", "25"]
recruitment_opened = 2026-01-15
values_agreed = 2026-03-05
values_reviewed = 2026-10-08
"""
"""The demo's projects.csv, written in the recipe as the KoboToolbox recipe writes its projects."""


def with_projects_in_the_recipe(demo: Path) -> None:
    recipe = demo / "recipe.toml"
    text = recipe.read_text(encoding="utf-8")
    start, end = text.index("[entities.projects]"), text.index("[entities.sessions]")
    recipe.write_text(text[:start] + text[end:] + INLINE_PROJECTS, encoding="utf-8")


def without_person(demo: Path, pid: str) -> None:
    header, people = people_rows(demo)
    rewrite(demo / "data" / "people.csv", [p for p in people if p["Participant ID"] != pid], header)


def test_a_recipes_own_projects_naming_someone_removed_say_so_leave_them_out_and_are_written_back(
    demo: Path, tmp_path: Path
) -> None:
    """A [[projects]] of the recipe kept a removed person (or any unknown ID) in its decision group
    and co-chairs with no flag, and the checks counted them there. Now it is flagged as a projects
    table's row is, naming the recipe's entry, written back where the project's flags go (the flags
    file), and every other flag is what the same projects read from a table give."""
    table = tmp_path / "table"
    shutil.copytree(demo, table)
    with_projects_in_the_recipe(demo)
    results = {}
    for folder in (demo, table):
        sync(folder)
        without_person(folder, "26")
        results[folder] = sync(folder)
    inline, from_table = results[demo], results[table]

    lists = project_lists(inline)
    assert set(lists) == {"decision_group", "co_chairs"}
    at = 'the [[projects]] with id "DSR" in recipe.toml'
    assert lists["decision_group"].message == (
        f"{at}, decision_group: person ID 26 in the decision-making group belongs to someone who has been "
        "removed from the people list. The project was used without that person in its group. If they "
        "asked for their data to be deleted, take their ID out of this list too; if they were removed by "
        "mistake, add them back to the people list."
    )
    tables = project_lists(from_table)
    for field, flag in lists.items():
        assert flag.message.split(": ", 1)[1] == tables[field].message.split(": ", 1)[1]
        assert flag.about == at and flag.project_id == "DSR" and flag.evidence["found"] == ["26"]
    written = {r["Fingerprint"]: r for r in read(demo / "data" / "coprod-flags.csv")}
    assert all(written[f.fingerprint]["Message"] == f.message for f in lists.values())
    assert all(written[f.fingerprint]["About"] == at for f in lists.values())

    def others(result: RunResult) -> set[tuple[str, str, str]]:
        return {
            (f.check_id, str(f.subject), f.message)
            for f in result.flags
            if f.evidence.get("entity") != "projects"
        }

    assert others(inline) == others(from_table)  # 26 counted in neither project's group
    checked = project_lists(run(load_recipe(demo, env={}), mode="check", run_date=DAY))
    assert {k: f.message for k, f in checked.items()} == {k: f.message for k, f in lists.items()}


def test_a_source_coprod_writes_no_flags_to_is_not_told_to_mark_a_flag_wont_fix(demo: Path) -> None:
    """With write_back = false coprod writes no flag to the source, so there is no flag there to mark
    won't fix: a removed person's rows were told to all the same. They are told what can be done, to
    the data, and that the flag stays while a row names them."""
    recipe = demo / "recipe.toml"
    text = recipe.read_text(encoding="utf-8")
    recipe.write_text(text.replace('connector = "files"\n', 'connector = "files"\nwrite_back = false\n', 1))
    pid = most_flagged(sync(demo))
    without_person(demo, pid)

    second = sync(demo)

    rows = [
        f for f in second.flags if f.check_id == "data_quality.unknown_person" and f.evidence["found"] == pid
    ]
    assert {f.evidence["entity"] for f in rows} == {"attendance", "payments"}
    for f in rows:
        assert f"person ID {pid} belongs to someone who has been removed from the people list" in f.message
        assert (
            "If they asked for their data to be deleted, delete their attendance and payment rows too (the "
            "recipe's write_back = false keeps coprod's flags out of this source, so there is no won't fix "
            "to mark: while a row names them, this flag stays); if they were removed by mistake, add them "
            "back to the people list."
        ) in f.message
        assert "mark this flag won't fix" not in f.message
    assert not (demo / "data" / "coprod-flags.csv").exists()  # nothing written, as it says
    checked = run(load_recipe(demo, env={}), mode="check", run_date=DAY)
    by_fingerprint = {f.fingerprint: f.message for f in rows}
    assert {
        f.fingerprint: f.message for f in checked.flags if f.fingerprint in by_fingerprint
    } == by_fingerprint


def test_each_tools_advice_for_a_removed_persons_rows_without_write_back_is_what_can_be_done_there() -> None:
    """CiviCRM's "mark this flag's activity Cancelled" has no activity to mark either; KoboToolbox's
    advice is an edit of the submission, which needs no flag written: the same words."""
    from coprod.connectors.civicrm import CiviCRMConnector
    from coprod.connectors.files import FilesConnector
    from coprod.connectors.kobotoolbox import KoboConnector
    from coprod.sync import removed_rows_advice
    from coprod_core.recipe import Entity, Recipe

    def advice(write_back: bool) -> dict[Entity, str]:
        recipe = Recipe.model_validate(
            {
                "name": "t",
                "sources": {
                    "kobo": {"connector": "kobotoolbox", "write_back": write_back},
                    "civi": {"connector": "civicrm", "write_back": write_back},
                    "files": {"connector": "files", "write_back": write_back},
                },
                "entities": {
                    "people": {"source": "civi", "fields": {"id": "id", "roles": "r"}},
                    "sessions": {
                        "source": "files",
                        "fields": {"id": "i", "date": "d", "hours": "h", "kind": "k"},
                    },
                    "attendance": {  # a session record's attendees, as the KoboToolbox recipe reads them
                        "source": "kobo",
                        "fields": {"person_id": "p", "session_id": "s"},
                        "options": {"repeat": "attendees"},
                    },
                    "payments": {
                        "source": "civi",
                        "fields": {"person_id": "p", "amount": "a", "date": "d"},
                    },
                },
                "projects": [{"id": "P1", "name": "One"}],
            }
        )
        conns = {"kobo": KoboConnector, "civi": CiviCRMConnector, "files": FilesConnector}
        return removed_rows_advice(recipe, conns)  # type: ignore[arg-type]  # the words are the class's

    written, not_written = advice(True), advice(False)
    assert written[Entity.PAYMENTS] == CiviCRMConnector.removed_rows_advice
    assert "Cancelled" in written[Entity.PAYMENTS] and "won't fix" in written[Entity.SESSIONS]
    assert not_written[Entity.PAYMENTS] == (
        "delete their attendance and payment records too (the recipe's write_back = false keeps coprod's "
        "flags out of this site, so there is no flag activity to mark Cancelled: while a record names them, "
        "this flag stays)"
    )
    assert not_written[Entity.ATTENDANCE] == written[Entity.ATTENDANCE] == KoboConnector.removed_rows_advice
    assert "mark this flag won't fix" not in not_written[Entity.SESSIONS]


def test_the_reports_flag_list_names_a_recipes_own_project_as_the_project_in_the_recipe(
    demo: Path, tmp_path: Path
) -> None:
    """A [[projects]] of the recipe has no row: its flags' subject is ``projects:DSR``, the project's
    ID where a table's row has its number, and the staff report's list of open flags said "projects
    row DSR". It names the project, in the recipe; a projects table's row is said as before."""
    table = tmp_path / "table"
    shutil.copytree(demo, table)
    with_projects_in_the_recipe(demo)
    for listed, before, after in (
        (demo / "recipe.toml", '"36", "26"]', '"36", "26", "999"]'),
        (table / "data" / "projects.csv", "33; 34; 35; 36; 26,", "33; 34; 35; 36; 26; 999,"),
    ):
        text = listed.read_text(encoding="utf-8")
        assert text.count(before) == 1
        listed.write_text(text.replace(before, after), encoding="utf-8")

    def about_unknown(folder: Path) -> list[str]:
        out = tmp_path / f"{folder.name}.md"
        assert main(["report", str(folder), "--date", "2026-11-20", "--out", str(out)]) == 0
        lines = out.read_text(encoding="utf-8").splitlines()
        return sorted(
            line.rsplit("|", 2)[1].strip()
            for line in lines
            if line.startswith("| Warning | Unknown person |")
        )

    assert about_unknown(demo) == ["attendance row 128", "project DSR, in the recipe"]
    assert about_unknown(table) == ["attendance row 128", "projects row 2"]


def test_a_recruitment_flag_raised_after_a_deletion_says_coprod_cannot_count_the_person_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example files' group had exactly 3 people in a voice role by its first decision. One of
    them asks to be deleted: their people row and attendance rows go, as recipes/files/README.md says.
    coprod cannot know they had taken part (it keeps their ID only), so the recruitment flag that the
    count now raises must say that it may come from the deletion, not state a rushed start."""
    monkeypatch.delenv("COPROD_STATE", raising=False)
    folder = tmp_path / "files"
    shutil.copytree(ROOT / "recipes" / "files", folder, ignore=shutil.ignore_patterns(".coprod", "coprod-*"))
    data = folder / "example-data"

    def files_sync() -> RunResult:
        result = run(load_recipe(folder / "recipe.toml", env={}), run_date=DAY)
        assert result.exit_code == ExitCode.OK, result.messages
        return result

    first = files_sync()
    assert not [f for f in first.flags if f.check_id == "recruitment.rushed"]
    assert any(f.subject.id == "3" for f in first.flags)  # coprod knows them: it flagged them
    for name in ("people.csv", "attendance.csv"):
        with (data / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header, rows = list(reader.fieldnames or []), list(reader)
        rewrite(data / name, [r for r in rows if r["Participant ID"] != "3"], header)

    second = files_sync()

    [flag] = [f for f in second.flags if f.check_id == "recruitment.rushed"]
    assert flag.evidence["voice_joined"] == 2 and flag.evidence["removed_from_people_list"] == 1
    said = (
        "1 person coprod knew has been removed from the people list, and coprod keeps nothing about "
        "them, not their role nor when they took part, so it cannot count them: if that person took part "
        "by then and has lived experience or is a carer, there were enough, and this flag comes from the "
        "deletion, not from a rushed start."
    )
    assert said in flag.message
    [row] = [r for r in read(data / "coprod-flags.csv") if r["Fingerprint"] == flag.fingerprint]
    assert said in row["Message"] and "Cal Example" not in str(row)


@pytest.mark.parametrize("write_back", [True, False])
def test_kobotoolboxs_advice_for_a_removed_persons_rows_is_worded_for_what_each_row_is(
    write_back: bool,
) -> None:
    """A row that is an entry of a submission's repeat group is edited out of it; a row that is the
    whole submission (a payments form, an attendance form of one submission per attendance) can only
    be deleted. "edit that submission and remove them from it" was said of every KoboToolbox row."""
    from coprod.connectors.kobotoolbox import KoboConnector
    from coprod.sync import removed_rows_advice
    from coprod_core.recipe import Entity, Recipe

    def advice(repeat: bool) -> dict[Entity, str]:
        options = {"options": {"repeat": "attendees"}} if repeat else {}
        recipe = Recipe.model_validate(
            {
                "name": "t",
                "sources": {"kobo": {"connector": "kobotoolbox", "write_back": write_back}},
                "entities": {
                    "people": {"source": "kobo", "fields": {"id": "id", "roles": "r"}},
                    "sessions": {
                        "source": "kobo",
                        "fields": {"id": "i", "date": "d", "hours": "h", "kind": "k"},
                    },
                    "attendance": {
                        "source": "kobo",
                        "fields": {"person_id": "p", "session_id": "s"},
                        **options,
                    },
                    "payments": {
                        "source": "kobo",
                        "fields": {"person_id": "p", "amount": "a", "date": "d"},
                        **options,
                    },
                },
                "projects": [{"id": "P1", "name": "One"}],
            }
        )
        return removed_rows_advice(recipe, {"kobo": KoboConnector})  # type: ignore[dict-item]  # the words are the class's

    entries, submissions = advice(repeat=True), advice(repeat=False)
    assert entries[Entity.ATTENDANCE] == KoboConnector.removed_rows_advice
    assert entries[Entity.ATTENDANCE].startswith("edit that submission and remove them from it too")
    assert entries[Entity.PAYMENTS].startswith(
        "edit that submission and remove their payment from it too, unless the charity must keep the payment record"
    )
    assert submissions[Entity.ATTENDANCE].startswith(
        "delete that submission too (it is the attendance record"
    )
    assert submissions[Entity.PAYMENTS].startswith(
        "delete that submission too (it is the payment record), unless the charity must keep it"
    )
    assert all(
        "won't fix: while it names them, this flag stays" in said
        for said in [*entries.values(), *submissions.values()]
    )
