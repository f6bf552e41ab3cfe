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

from coprod.config import load_recipe
from coprod.connectors.files import FLAG_HEADINGS
from coprod.sync import ExitCode, RunResult, run
from coprod_core.checks.payments.session_length import HOURS_OVER_SESSION
from coprod_core.flags import Flag, SubjectKind
from coprod_core.lifecycle import ChangeKind
from coprod_core.removed import NAMED_ROW_MESSAGE, REMOVED_ABOUT, ROW_MESSAGE

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
