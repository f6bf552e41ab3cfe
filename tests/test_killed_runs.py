"""A run killed with ``kill -9`` leaves nothing behind that stops or leaks in the next run.

Each test starts a real process, lets it reach the point where it holds the recipe's lock (or is
writing the flags file), kills it with SIGKILL and runs again at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from coprod.config import load_recipe
from coprod.locking import try_flock
from coprod.state import RunLocked, StateStore
from coprod.sync import ExitCode, run
from coprod.webhook_app.inbox import Inbox
from coprod.webhook_app.settings import WebhookSettings
from coprod.webhook_app.worker import Worker
from fakes.postgres import wait_until_sessions_end

DAY = date(2026, 11, 20)


@contextmanager
def killed_at(script: str, marker: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``script`` in a new Python process; once it writes ``marker``, yield its pid; kill -9 it."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(marker), *args], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the process ended before reaching the point to kill it at"
            assert time.monotonic() < deadline, "the process never reached the point to kill it at"
            time.sleep(0.02)
        yield proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL


HOLD_LOCK = """
import sys, time
from pathlib import Path
from coprod.state import StateStore

with StateStore.open(sys.argv[2]).lock("demo", timeout=1):
    Path(sys.argv[1]).write_text("held")
    time.sleep(600)
"""


def test_a_lock_whose_holder_was_killed_with_sigkill_is_free_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore.open(path)
    with killed_at(HOLD_LOCK, tmp_path / "held", str(path)) as pid:
        with pytest.raises(RunLocked, match=f"process {pid}") as refused, store.lock("demo", timeout=0.3):
            pass
        assert "hour" not in str(refused.value) and "waited 0.3 seconds" in str(refused.value)
    with store.lock("demo", timeout=0):  # one try: the kernel dropped the flock when the holder died
        pass
    assert oct(store.lock_path("demo").stat().st_mode & 0o777) == "0o600"


STALLED_SYNC = """
import sys, time
from pathlib import Path
import coprod.sync
from coprod.cli import main

def stalled(*args, **kwargs):
    Path(sys.argv[1]).write_text("reading")
    time.sleep(600)  # killed here, holding the recipe's lock

coprod.sync.Reading.entities = stalled
sys.exit(main(["sync", sys.argv[2], "--date", "2026-11-20"]))
"""


def test_a_sync_run_right_after_a_sync_killed_with_sigkill_proceeds(demo: Path) -> None:
    with killed_at(STALLED_SYNC, demo.parent / "reading", str(demo)):
        pass
    result = run(load_recipe(demo, env={}), run_date=DAY, lock_timeout=0)  # one try at the lock
    assert result.exit_code == ExitCode.OK, result.messages
    assert result.diff is not None and result.diff.counts()["new"] == len(result.flags) > 0


def test_status_says_a_sync_killed_with_sigkill_never_finished_and_one_running_is_running(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run history alone cannot tell a sync still going from one killed before it recorded its
    end; the recipe's run lock can: the system drops it with the process."""
    from coprod.cli import main

    with killed_at(STALLED_SYNC, demo.parent / "reading", str(demo)):
        assert main(["status", str(demo), "--json"]) == ExitCode.NOT_SYNCED
        running = json.loads(capsys.readouterr().out)
    assert main(["status", str(demo), "--json"]) == ExitCode.NOT_SYNCED
    killed = json.loads(capsys.readouterr().out)
    assert running["last_run"]["finished_at"] is None and running["last_run_never_finished"] is False
    assert killed["last_run"]["finished_at"] is None and killed["last_run_never_finished"] is True
    assert main(["status", str(demo)]) == ExitCode.NOT_SYNCED
    assert "sync, started" in (line := capsys.readouterr().out.splitlines()[1])
    assert "never finished: it was stopped before it could record its end" in line


STALLED_WORKER = """
import json, sys, time
from pathlib import Path
import coprod.sync
from coprod.webhook_app import run_worker

def stalled(*args, **kwargs):
    Path(sys.argv[1]).write_text("re-checking")
    time.sleep(600)  # killed here, in the middle of the re-check's sync, holding the recipe's lock

coprod.sync.Reading.entities = stalled
run_worker(json.loads(sys.argv[2]))
"""


def test_a_recheck_after_a_worker_killed_mid_recheck_proceeds(
    demo: Path, store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On either engine: the recipe's run lock is free the moment the worker dies (SQLite: the
    kernel drops its flock; PostgreSQL: the server ends its connection and the advisory lock), and
    the event it had claimed is re-checked once by another worker when the claim's lease runs out."""
    monkeypatch.setenv("COPROD_STATE", store_location)  # the re-check's sync, here and in the worker
    options = {"recipes": {"demo": str(demo)}, "state_path": store_location, "poll_interval": 0.05}
    settings = WebhookSettings.from_mapping({**options, "lease_seconds": 1.0})
    inbox = Inbox.open(settings.inbox_location)
    store = StateStore.open(store_location)
    try:
        inbox.record("kobotoolbox", "demo", "uuid:a", "0" * 64)
        env = {**os.environ, "COPROD_STATE": store_location}
        with killed_at(
            STALLED_WORKER, demo.parent / "re-checking", json.dumps(options | {"lease_seconds": 1.0}), env=env
        ) as pid:
            assert [e["status"] for e in inbox.events()] == ["claimed"]
            with pytest.raises(RunLocked), store.lock("demo", timeout=0.2):
                pass  # the worker about to be killed really holds the recipe
        if store_location.startswith("postgresql"):
            wait_until_sessions_end(store_location, pid)  # the server's part: it reads the dead socket
        with store.lock("demo", timeout=0):  # one try: free at once, not after a lease or a timeout
            pass
        worker = Worker(settings, inbox)
        deadline = time.monotonic() + 10
        while worker.run_once() == 0:  # the killed worker's claim is taken again once its lease ends
            assert time.monotonic() < deadline, "the abandoned claim was never picked up"
            time.sleep(0.1)
        [event] = inbox.events()
        assert event["status"] == "done", event["last_error"]
        assert event["attempts"] == 0, "the re-check after the kill succeeded at its first try"
        assert worker.run_once() == 0, "processed once: nothing left to re-check"
        runs = store.runs("demo")
        # the worker's re-checks read everything (it held nothing yet): recorded as such, not as syncs
        assert [(r["mode"], r["exit_code"]) for r in runs] == [("webhook-read", 0), ("webhook-read", None)]
        assert store.known_flags("demo")
    finally:
        inbox.close()
        store.close()


STALLED_WRITE = """
import os, sys, time
from pathlib import Path
from coprod.cli import main

real_replace = os.replace

def stalled(src, dst, *args, **kwargs):
    if str(src).endswith(".tmp"):
        Path(sys.argv[1]).write_text("writing")
        time.sleep(600)  # killed here: the whole flags file is in the temporary file, not yet swapped in
    return real_replace(src, dst, *args, **kwargs)

os.replace = stalled
sys.exit(main(["sync", sys.argv[2], "--date", "2026-11-20"]))
"""


def temp_files(demo: Path) -> list[Path]:
    return sorted((demo / "data").glob(".coprod-flags.csv.*.tmp"))


def test_a_sync_killed_while_writing_flags_leaves_a_private_temp_file_the_next_run_removes(
    demo: Path,
) -> None:
    with killed_at(STALLED_WRITE, demo.parent / "writing", str(demo)):
        pass
    [left] = temp_files(demo)
    assert oct(left.stat().st_mode & 0o777) == "0o600"
    assert "Day service redesign" in left.read_text(encoding="utf-8-sig")  # the flags, words and all
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.OK, result.messages
    assert temp_files(demo) == []
    again = run(load_recipe(demo, env={}), run_date=DAY)  # nothing to write: still clean, still quiet
    assert again.exit_code == ExitCode.OK and not again.changed and temp_files(demo) == []


def test_a_temp_file_another_run_is_writing_is_left_alone(demo: Path) -> None:
    writing = demo / "data" / ".coprod-flags.csv.live.tmp"
    killed = demo / "data" / ".coprod-flags.csv.dead.tmp"
    just_made = demo / "data" / ".coprod-flags.csv.new.tmp"
    for path in (writing, killed):
        path.write_text("Participant, names\n", encoding="utf-8")
    just_made.touch()  # empty and new: a run that created it may not have locked it yet
    fd = os.open(writing, os.O_RDONLY)
    try:
        assert try_flock(fd)  # a run that is writing it holds this lock
        result = run(load_recipe(demo, env={}), run_date=DAY)
        assert result.exit_code == ExitCode.OK, result.messages
        assert temp_files(demo) == sorted([writing, just_made])
    finally:
        os.close(fd)


def test_the_flags_file_keeps_the_permissions_staff_gave_it(demo: Path) -> None:
    loaded = load_recipe(demo, env={})
    run(loaded, run_date=DAY)
    flags = demo / "data" / "coprod-flags.csv"
    assert oct(flags.stat().st_mode & 0o777) == "0o600", "a new flags file (it holds names) is private"
    flags.chmod(0o640)  # shared with the team's group
    (demo / "data" / "payments.csv").open("a", encoding="utf-8").write("PAY900,9,60.00,19/11/2026,Fee,S13\n")
    result = run(loaded, run_date=DAY)
    assert result.changed and result.write.written
    assert oct(flags.stat().st_mode & 0o777) == "0o640"
