"""The run history is bounded: each recipe keeps its runs of the last 90 days and never fewer than
its last 50; older ones go at the end of each sync (README "What it keeps"). Both engines."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coprod.cli import main
from coprod.state import RunsKept, StateStore, StoreUnavailable, now_text
from coprod.state_postgres import LockLost
from coprod.state_sql import SQLStateStore

START = datetime(2025, 1, 1, 2, 30, tzinfo=UTC)


def runs_of(recipe: str, first: datetime, count: int, every: timedelta) -> list[dict[str, Any]]:
    return [
        {
            "recipe": recipe,
            "mode": "webhook",
            "started_at": now_text(first + i * every),
            "finished_at": now_text(first + i * every + timedelta(seconds=3)),
            "exit_code": 0,
            "summary": '{"flags": 1}',
        }
        for i in range(count)
    ]


def started(store: StateStore, recipe: str) -> list[str]:
    return [r["started_at"] for r in store.runs(recipe, limit=100_000)]


def test_pruning_keeps_the_last_days_runs_and_at_least_the_last_runs_of_each_recipe(
    store_location: str, open_store: Any
) -> None:
    store: StateStore = open_store(store_location)
    now = START + timedelta(days=400)
    # a busy recipe: a run an hour for 200 days, the last 100 days of them within reach of 90
    store.load({"runs": runs_of("busy", now - timedelta(days=200), 200 * 24, timedelta(hours=1))})
    # a quiet one: a run a month for five years, all but three older than 90 days
    store.load({"runs": runs_of("quiet", now - timedelta(days=60 * 30), 61, timedelta(days=30))})
    # one with few runs, every one of them old
    store.load({"runs": runs_of("few", now - timedelta(days=1000), 10, timedelta(days=1))})

    gone = store.prune_runs("busy", now=now)
    busy = started(store, "busy")
    assert gone == 200 * 24 - len(busy)
    assert min(busy) >= now_text(now - timedelta(days=90)) > now_text(now - timedelta(days=90, hours=1))
    assert len(busy) == 90 * 24  # one an hour for 90 days: the oldest started exactly 90 days ago

    assert store.prune_runs("quiet", now=now) == 61 - 50
    assert len(started(store, "quiet")) == 50  # the last 50 kept, however old
    assert store.prune_runs("few", now=now) == 0
    assert len(started(store, "few")) == 10
    assert store.prune_runs("busy", now=now) == 0  # nothing more to go: the same DELETE twice is harmless

    # a shorter setting, for the record: 7 days, at least 5
    assert store.prune_runs("busy", RunsKept(days=7, at_least=5), now=now) == 83 * 24
    assert len(started(store, "busy")) == 7 * 24


def test_the_run_table_stays_bounded_over_a_year_of_busy_syncs(store_location: str, open_store: Any) -> None:
    """A year of a busy recipe (a nightly sync and 23 webhook re-checks a day), pruned at each
    night's sync: the table never holds more than 90 days and a day of runs, and ends at 90 days'."""
    store: StateStore = open_store(store_location)
    per_day = 24
    held = []
    for day in range(365):
        night = START + timedelta(days=day)
        store.load({"runs": runs_of("busy", night, per_day, timedelta(hours=1))})
        store.prune_runs("busy", now=night + timedelta(hours=23, minutes=59))
        if day % 30 == 29 or day == 364:
            held.append(len(started(store, "busy")))
    assert max(held) <= 91 * per_day
    assert held[-1] == 90 * per_day  # every run of the last 90 days, none older
    assert held[0] == 30 * per_day  # a young recipe loses nothing


def test_a_sync_prunes_the_run_history_at_its_end(
    demo: Path, store_location: str, open_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPROD_STATE", store_location)
    store: StateStore = open_store(store_location)
    old = datetime.now(UTC) - timedelta(days=300)
    store.load({"runs": runs_of("demo", old, 60, timedelta(days=1))})  # 60 runs, all older than 90 days
    store.load({"runs": runs_of("other", old, 60, timedelta(days=1))})
    assert main(["sync", str(demo)]) == 0
    runs = store.runs("demo", limit=1000)
    assert len(runs) == 50  # this sync and the 49 last of the old ones
    assert runs[0]["mode"] == "sync" and runs[0]["exit_code"] == 0
    assert runs[-1]["started_at"] == now_text(old + timedelta(days=11))  # the 11 oldest went
    assert len(store.runs("other", limit=1000)) == 60  # another recipe's history is its own sync's


@pytest.mark.parametrize("failing", ["finish_run", "prune_runs"])
def test_a_run_history_that_cannot_be_written_at_the_end_keeps_the_runs_exit_code(
    demo: Path,
    store_location: str,
    open_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    failing: str,
) -> None:
    """The state store failing at the very end (recording the run's end, or pruning the history),
    after the flags were written and saved, ended `coprod sync` with exit 1, "something unexpected",
    and no word of what: cron mailed a failure for a sync whose flags had landed. The run keeps its
    own exit code and an error says what could not be done; status takes the run as the last sync
    (it saved its flags), not the recipe as never synced."""
    monkeypatch.setenv("COPROD_STATE", store_location)
    if store_location.startswith("postgresql"):
        import psycopg

        problem: Exception = psycopg.OperationalError("server closed the connection unexpectedly")
    else:
        problem = sqlite3.OperationalError("database or disk is full")

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise problem

    monkeypatch.setattr(SQLStateStore, failing, broken)
    with caplog.at_level(logging.ERROR, logger="coprod"):
        assert main(["sync", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "something unexpected" not in out
    kind = type(problem).__name__
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if failing == "finish_run":
        assert errors == [
            "recipe demo: the run ended (exit 0, done) but its end could not be recorded in the state store's "
            f"run history ({kind}: {problem}); what it wrote to the tools and saved in the state store stays, "
            "and coprod status will show this run as not finished"
        ]
    else:
        assert errors == [
            "recipe demo: the run's end is recorded, but older runs could not be pruned from the run history "
            f"({kind}: {problem}); the next sync tries again"
        ]
    assert (demo / "data" / "coprod-flags.csv").is_file()
    store: StateStore = open_store(store_location)
    assert store.known_flags("demo")  # the flags were saved
    runs = store.runs("demo")
    assert len(runs) == 1 and runs[0]["exit_code"] == (None if failing == "finish_run" else 0)

    monkeypatch.undo()  # the store works again
    monkeypatch.setenv("COPROD_STATE", store_location)
    assert main(["status", str(demo), "--quiet"]) == 0
    said = capsys.readouterr().out.splitlines()
    if failing == "finish_run":
        assert said[0] == (
            f"recipe 'demo': WARNING: the last sync, started just now, {UNRECORDED_SAID}; it is taken as the "
            "last sync, within the limit (26 hours, --max-age)"
        )
        assert said[1].endswith(f", its end not recorded: {UNRECORDED_SAID}")
        assert said[2].endswith(" (its end not recorded)")
    else:
        assert said == []


UNRECORDED_SAID = (
    "saved its flags but its end was not recorded in the run history (it was stopped after saving them: "
    "Ctrl-C, killed, or the machine restarted; or its state store failed at its last step, and then "
    "that sync's own output said why)"
)


def test_a_sync_stopped_after_saving_its_flags_is_not_said_to_have_said_why(
    demo: Path,
    store_location: str,
    open_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sync stopped with Ctrl-C after it saved its flags records no end and says nothing of it
    ('coprod: stopped'); status said it 'could not record its end ... (that sync's own output said
    why)', sending staff to look for an error that was never written."""
    monkeypatch.setenv("COPROD_STATE", store_location)

    def ctrl_c(self: Any, *args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SQLStateStore, "set_row_counts", ctrl_c)  # just after the flags are saved
    assert main(["sync", str(demo)]) == 130
    out = capsys.readouterr().out
    assert "coprod: stopped" in out and "could not be recorded" not in out
    store: StateStore = open_store(store_location)
    assert store.known_flags("demo")
    assert [r["exit_code"] for r in store.runs("demo")] == [None]

    monkeypatch.undo()
    monkeypatch.setenv("COPROD_STATE", store_location)
    assert main(["status", str(demo), "--quiet"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == (
        f"recipe 'demo': WARNING: the last sync, started just now, {UNRECORDED_SAID}; it is taken as the "
        "last sync, within the limit (26 hours, --max-age)"
    )
    assert said[1].endswith(f", its end not recorded: {UNRECORDED_SAID}")
    assert "could not record its end" not in "\n".join(said)


@pytest.mark.parametrize(
    ("problem", "code"),
    [
        (StoreUnavailable("cannot reach the PostgreSQL state store at postgresql://coprod@db/coprod"), 3),
        (LockLost("the connection holding recipe 'demo''s run lock on the state database was cut"), 6),
        (KeyError("a fault in coprod"), 1),
    ],
)
def test_a_run_stopped_by_an_error_records_the_exit_code_it_ends_with(
    demo: Path,
    store_location: str,
    open_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    problem: Exception,
    code: int,
) -> None:
    """A run stopped by an error as it saved its flags (its lock lost, the database gone, a fault)
    recorded the exit code it held then, 0: `coprod status` called the recipe synced, OK, after a
    sync that had ended 6, 3 or 1."""
    monkeypatch.setenv("COPROD_STATE", store_location)

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise problem

    monkeypatch.setattr(SQLStateStore, "save_flags", broken)
    assert main(["sync", str(demo)]) == code
    runs = open_store(store_location).runs("demo")
    assert [(r["mode"], r["exit_code"], json.loads(r["summary"])["exit_code"]) for r in runs] == [
        ("sync", code, code)
    ]
    capsys.readouterr()
    monkeypatch.undo()
    monkeypatch.setenv("COPROD_STATE", store_location)
    assert main(["status", str(demo)]) == 7
    assert capsys.readouterr().out.splitlines()[0] == "recipe 'demo': NOT SYNCED: no successful sync yet"


def test_a_sync_whose_end_was_not_recorded_is_still_the_last_sync_after_a_webhook_re_check(
    demo: Path,
    store_location: str,
    open_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Status took a sync that saved its flags but could not record its end for the last sync by
    the recipe's GENERATION meta naming it; the webhook worker's next re-check writes its own there
    (coprod.live), and status then called the recipe never synced (NOT SYNCED, exit 7), the false
    alarm it was meant to spare, on a server with the webhook app as recipes/deploy sets it up."""
    from coprod.sync import GENERATION

    monkeypatch.setenv("COPROD_STATE", store_location)

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SQLStateStore, "finish_run", broken)
    assert main(["sync", str(demo)]) == 0
    monkeypatch.undo()
    monkeypatch.setenv("COPROD_STATE", store_location)
    store: StateStore = open_store(store_location)
    # a webhook re-check after it, as coprod.live records one and marks the flags it saved
    webhook = store.start_run("demo", "webhook")
    store.set_meta("demo", GENERATION, f"webhook 4242 {webhook}")
    store.finish_run(webhook, 0, {"exit_code": 0})
    capsys.readouterr()

    assert main(["status", str(demo), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["last_sync_unrecorded"] is True and report["last_sync"]["finished_at"] is None
    assert main(["status", str(demo), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(
        "recipe 'demo': WARNING: the last sync, started just now, saved its flags but its end was not recorded"
    )


def test_status_after_a_sync_that_lost_its_run_lock_does_not_say_another_run_was_going(
    demo: Path,
    store_location: str,
    open_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sync whose lock connection was cut is recorded with exit 6 (ff440e0), and status read exit
    6 as "another run of the recipe was still going": untrue of that night, when nothing else ran
    and the fix is idle_session_timeout or a firewall (recipes/deploy/README.md, "Keepalives")."""
    monkeypatch.setenv("COPROD_STATE", store_location)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    synced = {"recipe": "demo", "mode": "sync", "exit_code": 0, "summary": '{"flags": 1}'}
    synced |= {
        "started_at": now_text(an_hour_ago),
        "finished_at": now_text(an_hour_ago + timedelta(seconds=40)),
    }
    open_store(store_location).load({"runs": [synced]})  # last night's sync, which succeeded

    def cut(self: Any, *args: Any, **kwargs: Any) -> None:
        raise LockLost("the connection holding recipe 'demo''s run lock on the state database was cut")

    monkeypatch.setattr(SQLStateStore, "save_flags", cut)
    assert main(["sync", str(demo)]) == 6
    monkeypatch.undo()
    monkeypatch.setenv("COPROD_STATE", store_location)
    capsys.readouterr()
    assert main(["status", str(demo), "--quiet"]) == 0
    said = capsys.readouterr().out.splitlines()[0]
    assert said.startswith("recipe 'demo': WARNING: the last sync failed just now (exit 6, ")
    assert "another run of the recipe was still going, or its run lock was lost part-way" in said
