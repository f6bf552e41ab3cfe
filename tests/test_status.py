"""``coprod status``: each recipe's last runs, flags and webhook backlog, from the state alone.

Every test that reads a store runs against both engines (``store_location``). The clock is stood
still (``coprod.clock.now``) and the run history planted with ``StateStore.load``, so "how long
ago" is exact; one test syncs the demo for real.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import responses

from coprod import clock
from coprod.cli import main
from coprod.state import StateStore, now_text, parse_location
from coprod.state_postgres import advisory_key
from coprod.status import ago, parse_max_age, span
from coprod.webhook_app.inbox import Inbox, inbox_location
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import FlagStatus, diff_flags
from fakes import ROOT, demo_copy

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def at_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


def run_row(
    mode: str, hours_ago: float, exit_code: int | None = 0, *, unchanged: bool = False, recipe: str = "demo"
) -> dict[str, Any]:
    """A run as the history keeps it, started ``hours_ago`` before NOW and 40 seconds long
    (``exit_code`` None: never finished)."""
    started = NOW - timedelta(hours=hours_ago)
    finished = exit_code is not None
    return {
        "recipe": recipe,
        "mode": mode,
        "started_at": now_text(started),
        "finished_at": now_text(started + timedelta(seconds=40)) if finished else None,
        "exit_code": exit_code,
        "summary": json.dumps({"flags": 3, "sources_unchanged": unchanged}, sort_keys=True)
        if finished
        else None,
    }


def plant(location: str, *runs: dict[str, Any]) -> None:
    """Add these runs (oldest first) to the store at ``location``."""
    store = StateStore.open(location)
    try:
        store.load({"runs": list(runs)})
    finally:
        store.close()


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``coprod status ARGS`` with ``responses`` active and no address registered: any request to a
    platform would fail the command, and none may be made."""
    with responses.RequestsMock() as mock:
        code = main(["status", *args])
        assert len(mock.calls) == 0
    out, _ = capsys.readouterr()
    return code, out


@pytest.fixture
def demo_state(demo: Path, store_location: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COPROD_STATE", store_location)
    return store_location


def test_status_says_when_the_recipe_last_ran_synced_and_read_everything_and_exits_0(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(
        demo_state,
        run_row("sync", 30),
        run_row("sync", 6, unchanged=True),  # a same-day run whose sources said nothing changed
        run_row("webhook", 1),
    )
    code, out = status(capsys, str(demo))
    assert code == 0
    assert out.splitlines() == [
        "recipe 'demo': OK: last successful sync 6 hours ago",
        "  last run        webhook re-check, started 2026-12-07 07:00 UTC (1 hour ago), took 40 seconds: "
        "exit 0, done",
        "  last sync       2026-12-07 02:00 UTC (6 hours ago)",
        "  last full read  2026-12-06 02:00 UTC (30 hours ago)",
        "  flags           none open",
        "  webhook inbox   none (the webhook app has not run with this state)",
    ]
    code, out = status(capsys, str(demo), "--json")
    report = json.loads(out)
    assert code == 0 and report["exit_code"] == 0 and report["synced"] is True
    assert report["last_sync"]["age_seconds"] == 6 * 3600 - 40
    assert report["last_full_read"]["started_at"] == "2026-12-06T02:00:00+00:00"
    assert report["last_run"] | {"age_seconds": 0} == {
        "mode": "webhook",
        "started_at": "2026-12-07T07:00:00+00:00",
        "finished_at": "2026-12-07T07:00:40+00:00",
        "seconds": 40.0,
        "age_seconds": 0,
        "exit_code": 0,
        "meaning": "done",
    }


def test_a_nightly_sync_missed_once_exits_7_and_says_for_how_long(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(demo_state, run_row("sync", 40))
    code, out = status(capsys, str(demo))
    assert code == 7
    assert out.splitlines()[0] == (
        "recipe 'demo': NOT SYNCED: no successful sync for 40 hours (the limit is 26 hours, --max-age)"
    )
    assert status(capsys, str(demo), "--max-age", "2d")[0] == 0
    assert status(capsys, str(demo), "--max-age", "39h")[0] == 7


def test_the_deploy_morning_check_exits_7_the_morning_after_one_nights_sync_failed(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """recipes/deploy: the sync at 02:30 every night, `coprod status recipes --quiet` at 08:00 (NOW).
    With a default limit of 36 hours, a night whose sync failed left the last success 29.5 hours old
    at the check: exit 0 and nothing printed, until the second morning, where README promised that
    a nightly sync missed once shows the next morning."""
    plant(demo_state, run_row("sync", 53.5), run_row("sync", 29.5), run_row("sync", 5.5, exit_code=3))
    code, out = status(capsys, str(demo), "--quiet")
    assert code == 7
    assert out.splitlines()[0] == (
        "recipe 'demo': NOT SYNCED: no successful sync for 29 hours (the limit is 26 hours, --max-age)"
    )
    plant(demo_state, run_row("sync", 5.4))  # the night's sync run again by hand, or the next night's
    assert status(capsys, str(demo), "--quiet") == (0, "")


def test_a_last_sync_that_failed_after_a_success_within_max_age_is_a_warning_quiet_prints(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last night's sync failed, the night before's succeeded 30 hours ago, within --max-age 36h: it
    read OK and `--quiet` printed nothing, so the data officer learnt of it a night later. It is a
    warning now, printed under --quiet; the exit code keeps its meaning (synced within --max-age)."""
    plant(
        demo_state, run_row("sync", 30), run_row("webhook", 20, exit_code=3), run_row("sync", 6, exit_code=3)
    )

    code, out = status(capsys, str(demo), "--max-age", "36h", "--quiet")

    assert code == 0
    assert out.splitlines()[0] == (
        "recipe 'demo': WARNING: the last sync failed 6 hours ago (exit 3, a source or the state store "
        "could not be read); the last successful one, 30 hours ago, is within the limit (36 hours, --max-age)"
    )
    report = json.loads(status(capsys, str(demo), "--max-age", "36h", "--json")[1])
    assert report["exit_code"] == 0 and report["synced"] is True and report["last_sync_failed"] is True
    assert report["last_sync_tried"]["exit_code"] == 3
    plant(demo_state, run_row("webhook", 5, exit_code=3))  # a failed webhook re-check is no failed sync
    assert status(capsys, str(demo), "--max-age", "36h", "--quiet")[1] != ""
    plant(demo_state, run_row("sync", 2, exit_code=None))  # the next sync, still running: no news yet
    running = StateStore.open(demo_state)
    try:
        with running.lock("demo", timeout=1):
            assert status(capsys, str(demo), "--max-age", "36h", "--quiet") == (0, "")
    finally:
        running.close()
    plant(demo_state, run_row("sync", 1))  # run again by hand: nothing to say
    assert status(capsys, str(demo), "--max-age", "36h", "--quiet") == (0, "")


def test_failed_syncs_and_webhook_rechecks_are_not_a_successful_sync(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker's whole reads are not the nightly sync: a dead cron line still shows."""
    plant(demo_state, run_row("webhook-read", 3), run_row("webhook", 2), run_row("sync", 1, exit_code=3))
    code, out = status(capsys, str(demo))
    assert code == 7
    lines = out.splitlines()
    assert lines[0] == "recipe 'demo': NOT SYNCED: no successful sync yet"
    assert lines[1] == (
        "  last run        sync, started 2026-12-07 07:00 UTC (1 hour ago), took 40 seconds: exit 3, "
        "a source or the state store could not be read"
    )
    assert lines[2:4] == [
        "  last sync       none kept in the run history",
        "  last full read  none kept in the run history",
    ]


def test_a_last_success_pruned_from_the_history_is_not_called_no_sync_yet(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recipe whose syncs have failed every night for four months: pruning deleted its last
    success (120 days old, with 60 runs since), and status said "no successful sync yet", as of a
    recipe never synced. With fewer runs than pruning keeps, nothing was deleted: "yet" stays."""
    plant(
        demo_state,
        run_row("sync", 120 * 24),
        *(run_row("sync", d * 24, exit_code=3) for d in range(60, 0, -1)),
    )
    store = StateStore.open(demo_state)
    try:
        assert store.prune_runs("demo", now=NOW) == 1  # the success, older than 90 days
    finally:
        store.close()
    code, out = status(capsys, str(demo))
    assert code == 7
    assert out.splitlines()[0] == "recipe 'demo': NOT SYNCED: no successful sync in the last 90 days"


def test_status_reads_beside_a_running_sync_and_names_the_unfinished_run(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str], open_store: Any
) -> None:
    plant(demo_state, run_row("sync", 20), run_row("sync", 2, exit_code=None))
    running = open_store(demo_state)
    with running.lock("demo", timeout=1):  # as a sync holds it for as long as it runs
        code, out = status(capsys, str(demo))
        report = json.loads(status(capsys, str(demo), "--json")[1])
    assert code == 0
    assert out.splitlines()[1] == (
        "  last run        sync, started 2026-12-07 06:00 UTC (2 hours ago), not finished: still running "
        "(it holds the recipe's run lock)"
    )
    assert report["last_run_never_finished"] is False and report["last_run"]["finished_at"] is None


STOPPED_WORDS = (
    "it was stopped before it could record its end (killed, or the machine restarted), and is not "
    "running now; nothing is lost (the state is saved only after the write-back, so the next run "
    "writes what it left), but if it happens again look at why the run was stopped"
)


@pytest.mark.parametrize("mode", ["sync", "webhook"])
def test_a_run_stopped_before_it_recorded_its_end_is_a_warning_quiet_prints(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """A sync killed (or the machine restarted) before it recorded its end left a run started and
    never finished: status read OK, and `--quiet` printed nothing, where a sync that failed is a
    warning. Its run lock is free (the system or the server dropped it with the run): not running."""
    plant(demo_state, run_row("sync", 30), run_row(mode, 5, exit_code=None))

    code, out = status(capsys, str(demo), "--max-age", "36h", "--quiet")

    assert code == 0
    words = "sync" if mode == "sync" else "webhook re-check"
    assert out.splitlines()[:2] == [
        f"recipe 'demo': WARNING: the last run ({words}, started 5 hours ago) never finished: {STOPPED_WORDS}; "
        "the last successful sync, 30 hours ago, is within the limit (36 hours, --max-age)",
        f"  last run        {words}, started 2026-12-07 03:00 UTC (5 hours ago), never finished: {STOPPED_WORDS}",
    ]
    report = json.loads(status(capsys, str(demo), "--max-age", "36h", "--json")[1])
    assert report["exit_code"] == 0 and report["last_run_never_finished"] is True
    assert report["last_run"]["finished_at"] is None and report["last_sync_failed"] is False
    # not synced within --max-age: exit 7, and the last run says what became of it
    code, out = status(capsys, str(demo), "--quiet")
    assert code == 7 and f"never finished: {STOPPED_WORDS}" in out.splitlines()[1]
    plant(demo_state, run_row("sync", 1))  # the next run recorded its end: nothing to say
    assert status(capsys, str(demo), "--max-age", "36h", "--quiet") == (0, "")


def test_where_the_run_lock_cannot_be_looked_at_a_run_not_finished_is_stopped_after_three_hours(
    demo: Path,
    demo_state: str,
    at_now: datetime,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lock file this user may not open (the sync runs as another user): whether the run is still
    going cannot be told, so a run is taken for stopped only once it started longer ago than any
    run takes."""
    from coprod.state_postgres import PostgresStateStore
    from coprod.state_sqlite import SQLiteStateStore

    for engine in (SQLiteStateStore, PostgresStateStore):
        monkeypatch.setattr(engine, "run_going", lambda self, recipe: None)
    plant(demo_state, run_row("sync", 20), run_row("sync", 2.5, exit_code=None))
    code, out = status(capsys, str(demo), "--quiet")
    assert (code, out) == (0, "")
    assert (
        status(capsys, str(demo))[1]
        .splitlines()[1]
        .endswith(
            "not finished: still running, or stopped before it could record its end (killed, or the machine restarted)"
        )
    )
    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(minutes=31))
    code, out = status(capsys, str(demo), "--quiet")
    assert code == 0 and out.startswith(
        "recipe 'demo': WARNING: the last run (sync, started 3 hours ago) never"
    )


def test_status_takes_no_lock_and_makes_no_state_where_no_sync_ran(
    demo: Path, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(capsys, str(demo))
    assert code == 7
    assert out.splitlines() == [
        "recipe 'demo': NOT SYNCED: no successful sync yet",
        f"  state           none yet at {demo / '.coprod' / 'state.sqlite'}: no sync has run for this recipe here",
        "                  (a sync run where a .env sets COPROD_STATE, as a server's cron line is from "
        "/srv/coprod, keeps its state there: run coprod status from that folder too)",
        "  webhook inbox   none (the webhook app has not run with this state)",
    ]
    assert not (demo / ".coprod").exists()
    plant(str(demo / ".coprod" / "state.sqlite"), run_row("sync", 1))
    assert status(capsys, str(demo))[0] == 0
    assert sorted(p.name for p in (demo / ".coprod").iterdir() if "lock" in p.name) == []


def test_a_store_the_webhook_app_never_used_is_said_to_have_no_inbox_and_is_given_none(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """On PostgreSQL, status opened the inbox, which made its table (a write by a reader) and then
    said "nothing waiting" where a SQLite store says the webhook app has not run with it."""
    plant(demo_state, run_row("sync", 1))
    code, out = status(capsys, str(demo))
    assert code == 0
    assert out.splitlines()[-1] == "  webhook inbox   none (the webhook app has not run with this state)"
    assert json.loads(status(capsys, str(demo), "--json")[1])["inbox"] is None
    if demo_state.startswith("postgresql"):
        with psycopg.connect(demo_state) as conn:
            assert conn.execute("SELECT to_regclass('webhook_inbox')").fetchone() == (None,)
    else:
        assert not inbox_location(parse_location(demo_state)).path.exists()  # type: ignore[union-attr]


def test_flags_are_counted_by_severity_with_what_staff_answered(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = [
        (Severity.CRITICAL, FlagStatus.OPEN),
        (Severity.WARNING, FlagStatus.ACKNOWLEDGED),
        (Severity.WARNING, FlagStatus.WONT_FIX),
        (Severity.WARNING, FlagStatus.ACKNOWLEDGED),
        (Severity.INFO, FlagStatus.RESOLVED),
    ]
    flags = [
        make_flag(
            check_id="payments.owed",
            severity=severity,
            subject=Subject(kind=SubjectKind.PERSON, id=str(i)),
            title="Payment owed",
            message="owed",
            evidence={},
        )
        for i, (severity, _) in enumerate(answers)
    ]
    state = diff_flags({}, flags, {}, NOW.date()).next_state
    for (fp, known), (_, answer) in zip(state.items(), answers, strict=True):
        state[fp] = replace(known, status=answer)
    store = StateStore.open(demo_state)
    try:
        store.save_flags("demo", state)
        store.save_flags("other", state)  # another recipe's flags are not counted
        store.load({"runs": [run_row("sync", 1)]})
    finally:
        store.close()
    code, out = status(capsys, str(demo))
    assert code == 0
    assert (
        "  flags           4 not resolved (1 critical, 3 warning, 0 info): 1 open, staff acknowledged 2, "
        "marked 1 won't fix" in (out.splitlines())
    )
    report = json.loads(status(capsys, str(demo), "--json")[1])
    assert report["flags"] == {
        "not_resolved": {"critical": 1, "warning": 3, "info": 0},
        "open": 1,
        "acknowledged": 2,
        "wont_fix": 1,
    }


def test_the_webhook_inbox_of_the_recipe_alone_with_its_oldest_events_age(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(demo_state, run_row("sync", 1))
    inbox = Inbox.open(inbox_location(parse_location(demo_state)))
    earlier = NOW.timestamp() - 3 * 3600
    try:
        inbox.record("kobotoolbox", "demo", "d1", "0" * 64, now=earlier)
        claim = inbox.claim("demo", lease_seconds=60, now=earlier)
        assert claim is not None
        inbox.fail(claim, "exit 3", retry_in=60, now=earlier)  # tried once, waiting to be tried again
        inbox.record("kobotoolbox", "demo", "d2", "1" * 64, now=NOW.timestamp() - 60)
        done = inbox.record("kobotoolbox", "demo", "d3", "2" * 64, now=earlier - 3600)
        inbox.record("kobotoolbox", "other", "o1", "3" * 64, now=earlier - 7200)  # another recipe's
        assert done is not None
        finished = inbox.claim("demo", lease_seconds=60, now=NOW.timestamp() - 30)
        assert finished is not None
        inbox.complete(finished)
        inbox.record("kobotoolbox", "demo", "d4", "4" * 64, now=earlier)
        inbox.record("kobotoolbox", "demo", "d5", "5" * 64, now=NOW.timestamp() - 120)
    finally:
        inbox.close()
    code, out = status(capsys, str(demo))
    assert code == 8
    assert out.splitlines()[-1] == (
        "  webhook inbox   2 events not yet re-checked; the oldest arrived 3 hours ago: is the worker "
        "running? (systemctl status coprod-worker, or coprod-webhook where the app runs its own worker)"
    )
    report = json.loads(status(capsys, str(demo), "--json")[1])
    assert report["inbox"] == {"open": 2, "retrying": 0, "oldest_seconds": 3 * 3600}
    assert report["stuck"] is True and report["exit_code"] == 8 and report["max_wait_seconds"] == 3600
    code, out = status(capsys, str(demo), "--quiet")  # synced, but stuck: still said
    assert code == 8 and "is the worker running?" in out
    assert status(capsys, str(demo), "--quiet", "--max-wait", "4h") == (0, "")


def test_a_dead_worker_under_a_nightly_sync_that_succeeds_exits_8_and_quiet_says_so(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events waiting in the inbox were said in words only: the syncs still succeeding, status exited
    0, and a monitor never saw that flags had stopped reaching the tools between nights."""
    plant(demo_state, run_row("sync", 6))
    inbox = Inbox.open(inbox_location(parse_location(demo_state)))
    try:
        inbox.record("kobotoolbox", "demo", "d1", "0" * 64, now=NOW.timestamp() - 61 * 60)
    finally:
        inbox.close()

    code, out = status(capsys, str(demo), "--quiet")

    assert code == 8
    assert out.splitlines()[0] == (
        "recipe 'demo': WEBHOOK EVENTS STUCK: one has waited over 1 hour (--max-wait), so flags stop "
        "reaching the tools between nightly syncs (webhook inbox below)"
    )
    assert out.splitlines()[-1].startswith(
        "  webhook inbox   1 event not yet re-checked; the oldest arrived 1 hour ago"
    )
    assert status(capsys, str(demo), "--max-wait", "2h")[0] == 0
    assert status(capsys, str(demo), "--max-wait", "30m")[0] == 8
    plant(demo_state, run_row("sync", 40), run_row("sync", 30))  # older syncs only: not synced is said first
    assert status(capsys, str(demo), "--max-age", "5h")[0] == 7


def test_an_event_retried_for_over_the_max_wait_is_stuck_and_points_at_the_workers_log(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker runs, and its re-checks of the event keep failing (a platform refusing the key):
    retried every 15 minutes at most, so over an hour is a failure that does not go away."""
    plant(demo_state, run_row("sync", 6))
    inbox = Inbox.open(inbox_location(parse_location(demo_state)))
    try:
        inbox.record("kobotoolbox", "demo", "d1", "0" * 64, now=NOW.timestamp() - 2 * 3600)
        for minutes in (110, 90, 70, 50, 30, 10):
            claim = inbox.claim("demo", lease_seconds=60, now=NOW.timestamp() - minutes * 60)
            assert claim is not None
            inbox.fail(claim, "exit 3", retry_in=900, now=NOW.timestamp() - minutes * 60)
    finally:
        inbox.close()

    code, out = status(capsys, str(demo), "--json")
    report = json.loads(out)
    assert code == 8 and report["exit_code"] == 8 and report["stuck"] is True
    assert report["inbox"] == {"open": 1, "retrying": 1, "oldest_seconds": 2 * 3600}
    code, out = status(capsys, str(demo), "--quiet")
    assert code == 8
    assert out.splitlines()[-1] == (
        "  webhook inbox   1 event not yet re-checked, 1 being retried after a failure; the oldest arrived "
        "2 hours ago: is the worker running? (systemctl status coprod-worker, or coprod-webhook where the app "
        "runs its own worker); why "
        "re-checks failed: journalctl -u coprod-worker"
    )


def test_an_event_being_retried_is_counted_as_such(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(demo_state, run_row("sync", 1))
    inbox = Inbox.open(inbox_location(parse_location(demo_state)))
    try:
        inbox.record("kobotoolbox", "demo", "d1", "0" * 64, now=NOW.timestamp() - 300)
        claim = inbox.claim("demo", lease_seconds=60, now=NOW.timestamp() - 300)
        assert claim is not None
        inbox.fail(claim, "exit 3", retry_in=600, now=NOW.timestamp() - 240)
        inbox.record("kobotoolbox", "demo", "d2", "1" * 64, now=NOW.timestamp() - 30)
    finally:
        inbox.close()
    code, out = status(capsys, str(demo))
    assert out.splitlines()[-1] == (
        "  webhook inbox   2 events not yet re-checked, 1 being retried after a failure; the oldest "
        "arrived 5 minutes ago"
    )
    assert code == 0 and status(capsys, str(demo), "--quiet") == (0, "")


def test_with_no_recipe_named_status_takes_COPROD_RECIPES_or_refuses(
    tmp_path: Path, at_now: datetime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COPROD_RECIPES", raising=False)
    monkeypatch.delenv("COPROD_STATE", raising=False)
    code, out = status(capsys)
    assert code == 2
    assert "say which recipes" in out and "COPROD_RECIPES" in out
    recipes = tmp_path / "recipes"
    for name in ("alpha", "beta"):
        shutil.copytree(ROOT / "recipes" / "demo", recipes / name, ignore=shutil.ignore_patterns(".coprod"))
        toml = recipes / name / "recipe.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('name = "demo"', f'name = "{name}"'))
    plant(str(recipes / "beta" / ".coprod" / "state.sqlite"), run_row("sync", 2, recipe="beta"))
    (tmp_path / ".env").write_text(f"COPROD_RECIPES={recipes}\n")
    code, out = status(capsys, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["recipe"], r["exit_code"]) for r in lines] == [("alpha", 7), ("beta", 0)]
    assert code == 7  # the first recipe that did not end 0
    code, out = status(capsys)
    assert code == 7
    assert "== alpha (" in out and "== beta (" in out
    assert "recipe 'beta': OK: last successful sync 2 hours ago" in out
    assert "1 of 2 recipes ended with a problem (above): alpha (exit 7)" in out
    code, out = status(capsys, "--quiet")  # under cron: only what is wrong, so a mail only then
    assert code == 7
    assert "recipe 'alpha': NOT SYNCED" in out and "beta" not in out.replace("alpha (exit 7)", "")
    plant(str(recipes / "alpha" / ".coprod" / "state.sqlite"), run_row("sync", 2, recipe="alpha"))
    assert status(capsys, "--quiet") == (0, "")


def test_COPROD_RECIPES_naming_several_recipes_as_the_webhook_app_reads_it_gives_each_one(
    tmp_path: Path, at_now: datetime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook app takes COPROD_RECIPES as paths separated by os.pathsep (':' on Linux); status,
    which says it takes the variable as the app does, read the whole value as one path and exited 2
    (no such recipe file)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COPROD_STATE", raising=False)
    folders = []
    for name in ("alpha", "beta"):
        folder = tmp_path / "recipes" / name
        shutil.copytree(ROOT / "recipes" / "demo", folder, ignore=shutil.ignore_patterns(".coprod"))
        toml = folder / "recipe.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('name = "demo"', f'name = "{name}"'))
        plant(str(folder / ".coprod" / "state.sqlite"), run_row("sync", 2, recipe=name))
        folders.append(str(folder))
    # typed as a list is, a space after each ':', and one left at the end: read as the app reads it
    monkeypatch.setenv("COPROD_RECIPES", f"{folders[0]}{os.pathsep} {folders[1]} {os.pathsep}")

    code, out = status(capsys, "--json")

    assert code == 0, out
    assert [json.loads(line)["recipe"] for line in out.splitlines()] == ["alpha", "beta"]


def test_after_a_real_sync_status_prints_no_names_or_answers(
    demo: Path, demo_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(demo)]) == 0
    capsys.readouterr()
    code, text = status(capsys, str(demo))
    code_json, as_json = status(capsys, str(demo), "--json")
    assert code == code_json == 0
    assert "recipe 'demo': OK: last successful sync just now" in text
    assert "last full read" in text and "open (" in text
    people = (demo / "data" / "people.csv").read_text(encoding="utf-8").splitlines()[1:]
    names = {line.split(",")[1] for line in people}
    assert len(names) > 10
    for name in names:
        for word in name.split():
            assert word not in text and word not in as_json, word


def test_status_of_a_platform_recipe_sends_no_request(
    tmp_path: Path,
    store_location: str,
    at_now: datetime,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KoboToolbox recipe, its token set: status still asks the platform nothing."""
    recipe = tmp_path / "forum"
    shutil.copytree(ROOT / "recipes" / "kobotoolbox", recipe)
    monkeypatch.setenv("KOBO_TOKEN", "abcdefabcdef1234abcd")
    monkeypatch.setenv("COPROD_KOBO_HOOK_SECRET", "a-long-shared-secret-for-hooks")
    monkeypatch.setenv("COPROD_STATE", store_location)
    plant(store_location, run_row("sync", 5, recipe="kobotoolbox-example"))
    code, out = status(capsys, str(recipe))
    assert code == 0
    # the recipe's timezone is Europe/London: GMT in December
    assert "  last sync       2026-12-07 03:00 GMT (5 hours ago)" in out.splitlines()


def test_a_state_store_that_cannot_be_reached_exits_3_without_its_password(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPROD_STATE", f"postgresql://coprod:s3cret@/coprod?host={tmp_path}/nowhere&port=1")
    code, out = status(capsys, str(demo))
    assert code == 3
    assert "coprod: recipe 'demo': cannot reach the PostgreSQL state store" in out
    assert "s3cret" not in out


def test_a_state_store_this_user_may_not_read_exits_3_saying_so_without_its_password(
    demo: Path, postgres_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connected, then refused: a user who may connect but not read the state's tables is told so
    in words (exit 3, as for a store that cannot be reached), not shown a traceback."""
    plant(postgres_url, run_row("sync", 5))
    role = f"reader_{os.getpid()}_{threading.get_ident() % 10_000}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret'")
    try:
        address = postgres_url.replace("postgresql://coprod@", f"postgresql://{role}:s3cret@")
        monkeypatch.setenv("COPROD_STATE", address)
        code, out = status(capsys, str(demo))
        assert code == 3
        assert (
            f"coprod: recipe 'demo': cannot read the PostgreSQL state store at postgresql://{role}@/" in out
        )
        assert "permission denied" in out
        assert "s3cret" not in out and "Traceback" not in out
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_status_of_an_empty_postgresql_database_says_no_sync_ran_and_creates_nothing(
    demo: Path,
    postgres_url: str,
    at_now: datetime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first `coprod status` on a new database (COPROD_STATE set, no sync yet) opened the store
    as a sync does, which created the state's tables: a write by a command that only reads, and
    then "no successful sync yet" beside a run history that now existed. It says what it says of a
    SQLite file that is not there; `coprod report` (the same look at the state) creates nothing either."""
    monkeypatch.setenv("COPROD_STATE", postgres_url)

    def tables() -> list[tuple[str, ...]]:
        with psycopg.connect(postgres_url) as conn:
            return conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()

    code, out = status(capsys, str(demo))
    assert code == 7
    assert out.splitlines() == [
        "recipe 'demo': NOT SYNCED: no successful sync yet",
        f"  state           none yet at {parse_location(postgres_url)}: no sync has run for this recipe here",
        "  webhook inbox   none (the webhook app has not run with this state)",
    ]
    report = json.loads(status(capsys, str(demo), "--json")[1])
    assert report["has_state"] is False and report["last_run"] is None
    assert main(["report", str(demo), "--out", str(tmp_path / "report.html")]) == 0
    assert tables() == []
    plant(postgres_url, run_row("sync", 1))  # once a sync has made them, status reads them
    assert status(capsys, str(demo))[0] == 0


def test_max_age_and_time_words() -> None:
    assert parse_max_age("36h") == timedelta(hours=36)
    assert parse_max_age("2d") == parse_max_age("48") == timedelta(days=2)
    assert parse_max_age(" 90M ") == timedelta(minutes=90)
    for wrong in ("", "0h", "-3h", "36 hours", "h"):
        with pytest.raises(ValueError, match="is not an age"):
            parse_max_age(wrong)
    assert [span(s) for s in (1, 42, 89, 90, 3600, 5400, 47 * 3600, 48 * 3600, 30 * 86400)] == [
        "1 second",
        "42 seconds",
        "89 seconds",
        "2 minutes",
        "1 hour",
        "2 hours",
        "47 hours",
        "2 days",
        "30 days",
    ]
    assert ago(30) == "just now" and ago(-5).startswith("in the future")


def test_an_age_too_long_for_a_date_is_refused_in_words_not_a_traceback(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--max-age 99999999999d` (typed to mean "never mind the age") overflowed Python's timedelta:
    an OverflowError traceback from the argument parser."""
    with pytest.raises(ValueError, match="too long an age"):
        parse_max_age("99999999999d")
    with pytest.raises(SystemExit) as ended:
        main(["status", str(demo), "--max-age", "99999999999d"])
    assert ended.value.code == 2
    said = capsys.readouterr().err
    assert "argument --max-age: '99999999999d' is too long an age for --max-age" in said
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("option", "typed", "words"),
    [
        ("--max-wait", "x", "'x' is not a wait (--max-wait is how long a webhook event may wait): give a "
         "number and m, h or d, such as 1h, 90m or 2h (a number alone is hours)"),
        ("--max-wait", "99999999999d", "'99999999999d' is too long a wait for --max-wait: give one of at "
         "most a few years, such as 1h, 90m or 2h"),
        ("--max-age", "0", "'0' is not an age (--max-age is how long ago the last successful sync may be): "
         "give a number and m, h or d, such as 26h, 2d or 90m (a number alone is hours)"),
    ],
)  # fmt: skip
def test_a_wrong_length_is_refused_in_the_words_of_the_option_typed(
    demo: Path, capsys: pytest.CaptureFixture[str], option: str, typed: str, words: str
) -> None:
    """`--max-wait x` was refused as "'x' is not an age: ... such as 36h (hours), 2d or 90m", the
    words and examples of --max-age, for an option that is how long a webhook event may wait."""
    with pytest.raises(SystemExit) as ended:
        main(["status", str(demo), option, typed])
    assert ended.value.code == 2
    said = capsys.readouterr().err
    assert said.splitlines()[-1] == f"coprod status: error: argument {option}: {words}"


@contextmanager
def held_for_writing(location: str) -> Iterator[None]:
    """Another process's writer in the middle of a transaction: SQLite's write lock on the state
    file and on the inbox beside it; on PostgreSQL, the schema migration's advisory lock and the
    run history and flags locked against every write."""
    if location.endswith(".sqlite"):
        held = []
        for path in (location, str(inbox_location(parse_location(location)).path)):
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            held.append(conn)
        try:
            yield
        finally:
            for conn in held:
                conn.execute("ROLLBACK")
                conn.close()
        return
    with psycopg.connect(location, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key("migrate", "schema"),))
        with conn.transaction():
            conn.execute("LOCK TABLE runs, flags, webhook_inbox IN EXCLUSIVE MODE")
            yield


def test_status_reads_a_store_another_writer_holds_without_waiting_for_it(
    demo: Path, demo_state: str, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening a store that is up to date takes no write lock and waits for no migration: status
    answers while a sync is in the middle of a write (a writer would wait up to 30 s, or for ever
    behind a migration)."""
    plant(demo_state, run_row("sync", 3))
    inbox = Inbox.open(inbox_location(parse_location(demo_state)))
    inbox.migrate()  # the app has made its inbox
    inbox.close()
    answered: list[int] = []
    with held_for_writing(demo_state):
        reader = threading.Thread(target=lambda: answered.append(main(["status", str(demo)])), daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert answered == [0], "status waited for the writer"
    assert "recipe 'demo': OK: last successful sync 3 hours ago" in capsys.readouterr().out


def test_status_typed_away_from_the_folder_whose_env_names_the_state_says_to_run_it_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README showed `coprod status /srv/coprod/recipes`: typed from a home folder, without
    /srv/coprod/.env's COPROD_STATE, every recipe read NOT SYNCED (exit 7), each looking for a
    state beside it that the server's syncs never made, with nothing to say where the real one was."""
    monkeypatch.delenv("COPROD_STATE", raising=False)
    server = tmp_path / "srv"
    demo_copy(server / "recipes" / "alpha", "alpha")
    (server / ".env").write_text(f"COPROD_STATE={server / 'state' / 'state.sqlite'}\n", encoding="utf-8")
    monkeypatch.chdir(server)
    assert main(["sync", "recipes", "--date", "2026-11-20"]) == 0
    capsys.readouterr()
    assert main(["status", "recipes"]) == 0  # from the folder the cron line runs in
    assert "from that folder too" not in capsys.readouterr().out

    monkeypatch.chdir(tmp_path)
    assert main(["status", str(server / "recipes")]) == 7
    out = capsys.readouterr().out
    assert "no sync has run for this recipe here" in out
    assert "a .env sets COPROD_STATE" in out and "run coprod status from that folder too" in out

    monkeypatch.setenv("COPROD_STATE", str(tmp_path / "elsewhere.sqlite"))  # named, and empty: no hint
    assert main(["status", str(server / "recipes")]) == 7
    assert "COPROD_STATE" not in capsys.readouterr().out


def test_a_webhook_inbox_that_cannot_be_read_exits_3_naming_it_not_something_unexpected(
    demo: Path, at_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    """The inbox file beside the state, unreadable (another user's, or not an inbox at all): said as
    a store that cannot be opened is said, with its path, not "something unexpected (DatabaseError)"."""
    plant(str(demo / ".coprod" / "state.sqlite"), run_row("sync", 1))
    inbox = demo / ".coprod" / "state-inbox.sqlite"
    inbox.write_text("not an inbox, a note someone saved here\n", encoding="utf-8")

    code, out = status(capsys, str(demo))

    assert code == 3
    assert f"recipe 'demo': the webhook inbox {inbox} could not be read (" in out
    assert "unexpected" not in out and "Traceback" not in out
