"""A run killed with ``kill -9`` leaves nothing behind that stops or leaks in the next run.

Each test starts a real process, lets it reach the point where it holds the recipe's lock (or is
writing the flags file), kills it with SIGKILL and runs again at once.
"""

from __future__ import annotations

import json
import os
import shutil
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
from coprod.state import RunLocked, StateStore, state_path
from coprod.sync import ExitCode, run
from coprod.webhook_app.inbox import Inbox
from coprod.webhook_app.settings import WebhookSettings
from coprod.webhook_app.worker import Worker
from fakes import ROOT

DAY = date(2026, 11, 20)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(ROOT / "recipes" / "demo", target, ignore=shutil.ignore_patterns(".coprod", "coprod-*"))
    monkeypatch.delenv("COPROD_STATE", raising=False)
    return target


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
    started = time.monotonic()
    with store.lock("demo", timeout=5):
        assert time.monotonic() - started < 1
    assert oct(store.lock_path("demo").stat().st_mode & 0o777) == "0o600"


STALLED_SYNC = """
import sys, time
from pathlib import Path
import coprod.sync
from coprod.cli import main

def stalled(*args, **kwargs):
    Path(sys.argv[1]).write_text("reading")
    time.sleep(600)  # killed here, holding the recipe's lock

coprod.sync.read_all = stalled
sys.exit(main(["sync", sys.argv[2], "--date", "2026-11-20"]))
"""


def test_a_sync_run_right_after_a_sync_killed_with_sigkill_proceeds(demo: Path) -> None:
    with killed_at(STALLED_SYNC, demo.parent / "reading", str(demo)):
        pass
    started = time.monotonic()
    result = run(load_recipe(demo, env={}), run_date=DAY, lock_timeout=3)
    assert result.exit_code == ExitCode.OK, result.messages
    assert result.diff is not None and result.diff.counts()["new"] == len(result.flags) > 0
    assert time.monotonic() - started < 3, "the run waited for a lock nobody held"


STALLED_WORKER = """
import json, sys, time
from pathlib import Path
import coprod.sync
from coprod.webhook_app import run_worker

def stalled(*args, **kwargs):
    Path(sys.argv[1]).write_text("re-checking")
    time.sleep(600)  # killed here, in the middle of the re-check's sync, holding the recipe's lock

coprod.sync.read_all = stalled
run_worker(json.loads(sys.argv[2]))
"""


def test_a_recheck_after_a_worker_killed_mid_recheck_proceeds(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = demo.parent / "state.sqlite"
    monkeypatch.setenv("COPROD_STATE", str(state))  # the re-check's sync, here and in the worker
    options = {"recipes": {"demo": str(demo)}, "state_path": str(state), "poll_interval": 0.05}
    settings = WebhookSettings.from_mapping({**options, "lease_seconds": 1.0})
    inbox = Inbox(settings.inbox_path)
    inbox.record("kobotoolbox", "demo", "uuid:a", "0" * 64)
    env = {**os.environ, "COPROD_STATE": str(state)}
    with killed_at(
        STALLED_WORKER, demo.parent / "re-checking", json.dumps(options | {"lease_seconds": 1.0}), env=env
    ):
        assert [e["status"] for e in inbox.events()] == ["claimed"]
    worker = Worker(settings, inbox)
    deadline = time.monotonic() + 10
    while worker.run_once() == 0:  # the killed worker's claim is taken again once its lease ends
        assert time.monotonic() < deadline, "the abandoned claim was never picked up"
        time.sleep(0.1)
    [event] = inbox.events()
    assert event["status"] == "done", event["last_error"]
    assert StateStore.open(state_path(load_recipe(demo))).known_flags("demo")
    inbox.close()
