"""The state store keeps identifiers and digests only, and one run of a recipe at a time."""

import threading
import time
from datetime import date

import pytest

from coprod.state import RunLocked, StateStore
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import diff_flags


def test_flags_round_trip_without_any_text(tmp_path):
    store = StateStore.open(tmp_path / "s.sqlite")
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
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and any WAL file
    assert b"Sam" not in raw and b"75.00" not in raw


def test_cursors_counts_and_meta_are_kept_per_recipe(tmp_path):
    store = StateStore.open(tmp_path / "s.sqlite")
    store.set_cursor("a", "kobo", "people", "345")
    store.set_row_counts("a", {"people": 40})
    store.set_meta("a", "k", "v")
    assert store.get_cursor("a", "kobo", "people") == "345"
    assert store.get_cursor("b", "kobo", "people") is None
    assert store.row_counts("a") == {"people": 40}
    assert store.get_meta("a", "k") == "v"
    store.set_meta("a", "k", None)
    assert store.get_meta("a", "k") is None


def test_a_second_run_waits_briefly_then_gives_up(tmp_path):
    path = tmp_path / "s.sqlite"
    first, second = StateStore.open(path), StateStore.open(path)
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


def test_run_history_holds_counts_only(tmp_path):
    store = StateStore.open(tmp_path / "s.sqlite")
    run_id = store.start_run("demo", "sync")
    store.finish_run(run_id, 0, {"flags": 3})
    [run] = store.runs("demo")
    assert run["exit_code"] == 0 and '"flags": 3' in run["summary"]
