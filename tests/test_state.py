"""The state store keeps identifiers and digests only, and one run of a recipe at a time.

Every test here runs against both engines (``store_location``: a SQLite file, a PostgreSQL
database on a real server).
"""

import json
import threading
import time
from dataclasses import replace
from datetime import date

import pytest

from coprod.state import RunLocked, StateStore
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import FlagStatus, diff_flags, people_known


def everything_stored(store: StateStore, tmp_path) -> bytes:
    """All the store holds, as bytes: the SQLite files (database and WAL), or every row."""
    if store.location.engine == "sqlite":
        store.close()  # the WAL is copied back into the file
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    return json.dumps(store.dump()).encode()


def test_flags_round_trip_without_any_text(store_location, tmp_path, open_store):
    store = open_store(store_location)
    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PERSON, id="17"),
        title="Payment owed",
        message="Sam Carter is owed £75.00",
        evidence={"amount": "75.00"},
    )
    state = diff_flags({}, [flag], {}, date(2026, 11, 1)).next_state
    store.save_flags("demo", state)
    assert store.known_flags("demo") == state
    raw = everything_stored(store, tmp_path)
    assert b"Sam" not in raw and b"75.00" not in raw


def test_saving_flags_replaces_the_recipes_flags_and_keeps_other_recipes(store_location, open_store):
    store = open_store(store_location)
    flags = [
        make_flag(
            check_id="payments.owed",
            severity=Severity.INFO,
            subject=Subject(kind=SubjectKind.PERSON, id=str(i)),
            title="Payment owed",
            message="owed",
            evidence={},
            identity={"n": i},
        )
        for i in range(3)
    ]
    first = diff_flags({}, flags, {}, date(2026, 11, 1)).next_state
    store.save_flags("a", first)
    store.save_flags("b", first)
    fp = next(iter(first))
    acknowledged = {fp: replace(first[fp], status=FlagStatus.ACKNOWLEDGED)}
    store.save_flags("a", acknowledged)
    assert store.known_flags("a") == acknowledged
    assert store.known_flags("a")[fp].status is FlagStatus.ACKNOWLEDGED
    assert store.known_flags("b") == first


def test_the_people_known_are_read_as_people_known_reads_them_from_every_flag(store_location, open_store):
    """``coprod check`` reads only the people the remembered flags know (their subjects, and the
    people a session's flag names), not a record of every flag: the same IDs, of this recipe only."""
    store = open_store(store_location)

    def flag(kind: SubjectKind, subject: str, named: tuple[str, ...] = ()):
        return make_flag(
            check_id="payments.owed",
            severity=Severity.INFO,
            subject=Subject(kind=kind, id=subject),
            title="t",
            message="m",
            evidence={},
            named=named,
        )

    ours = [
        flag(SubjectKind.PERSON, "17"),
        flag(SubjectKind.SESSION, "S1", ("4", 'a "quoted", id')),
        flag(SubjectKind.PROJECT, "P1"),
        flag(SubjectKind.RECORD, "attendance:3"),
    ]
    state = diff_flags({}, ours, {}, date(2026, 11, 1)).next_state
    store.save_flags("a", state)
    store.save_flags("b", diff_flags({}, [flag(SubjectKind.PERSON, "99")], {}, date(2026, 11, 1)).next_state)
    assert store.known_people("a") == people_known(store.known_flags("a")) == {"17", "4", 'a "quoted", id'}
    assert store.known_people("b") == {"99"}
    assert store.known_people("none") == frozenset()


def test_cursors_counts_and_meta_are_kept_per_recipe(store_location, open_store):
    store = open_store(store_location)
    store.set_cursor("a", "kobo", "people", "345")
    store.set_cursor("a", "kobo", "people", "346")
    store.set_row_counts("a", {"people": 40})
    store.set_row_counts("a", {"people": 41, "sessions": 3})
    store.set_meta("a", "k", "v")
    assert store.get_cursor("a", "kobo", "people") == "346"
    assert store.get_cursor("b", "kobo", "people") is None
    assert store.row_counts("a") == {"people": 41, "sessions": 3}
    assert store.get_meta("a", "k") == "v"
    store.set_meta("a", "k", None)
    assert store.get_meta("a", "k") is None


def test_a_second_run_waits_briefly_then_gives_up(store_location, open_store):
    first, second = open_store(store_location), open_store(store_location)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.lock("demo", timeout=1):
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    started = time.monotonic()
    with pytest.raises(RunLocked, match="another run of recipe 'demo'"), second.lock("demo", timeout=0.5):
        pass
    assert 0.4 < time.monotonic() - started < 3
    with second.lock("other", timeout=0.5):
        pass  # another recipe is not held up
    release.set()
    t.join()
    with second.lock("demo", timeout=0.5):
        pass  # free again once the first run ended


def test_an_in_memory_store_locks_each_recipe_in_its_process():
    store = StateStore.open(":memory:")
    with store.lock("demo", timeout=0.1):
        with pytest.raises(RunLocked, match="'demo' is still going"), store.lock("demo", timeout=0.1):
            pass
        with store.lock("other", timeout=0.1):
            pass
    with store.lock("demo", timeout=0.1):
        pass


def test_run_history_holds_counts_only(store_location, open_store):
    store = open_store(store_location)
    run_id = store.start_run("demo", "sync")
    store.finish_run(run_id, 0, {"flags": 3})
    later = store.start_run("demo", "check")
    assert later > run_id
    [latest, run] = store.runs("demo")
    assert latest["id"] == later and latest["finished_at"] is None
    assert run["exit_code"] == 0 and '"flags": 3' in run["summary"]
    assert store.runs("other") == []


def test_a_store_copied_to_the_other_engine_keeps_every_flags_status(store_location, tmp_path, open_store):
    """``coprod state copy`` moves everything; the statuses staff set survive the move."""
    source = open_store(tmp_path / "old.sqlite")
    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id="17"),
        title="Payment owed",
        message="owed",
        evidence={},
    )
    [(fp, known)] = diff_flags({}, [flag], {}, date(2026, 11, 1)).next_state.items()
    source.save_flags("demo", {fp: replace(known, status=FlagStatus.ACKNOWLEDGED)})
    source.set_cursor("demo", "kobo", "people", "99")
    source.set_row_counts("demo", {"people": 40})
    source.set_meta("demo", "kobo:written:a:1", "digest")
    source.finish_run(source.start_run("demo", "sync"), 0, {"flags": 1})
    target = open_store(store_location if "postgresql" in store_location else tmp_path / "new.sqlite")
    assert target.is_empty()
    assert target.load(source.dump())["flags"] == 1
    assert target.known_flags("demo")[fp].status is FlagStatus.ACKNOWLEDGED
    assert target.get_cursor("demo", "kobo", "people") == "99"
    assert target.row_counts("demo") == {"people": 40}
    assert target.get_meta("demo", "kobo:written:a:1") == "digest"
    assert [r["exit_code"] for r in target.runs("demo")] == [0]
    assert not target.is_empty()
