"""A state store another user made: the run says whose it is and stops before anything is read.

A data officer following the CiviCRM README typed the first `coprod sync` on the server as root;
the state file and the recipe's run lock file were root's, and every night cron's run as `coprod`
ended "something unexpected went wrong (PermissionError)" (exit 1), or, with the lock file given
back, "(OperationalError)" from the first write to a store SQLite had opened read-only without a
word. README's exit code 3 promised "the state store could not be opened (... read-only ...)".

Tests run as root in CI, where file permissions do not bind, so the refusal of the system is
simulated where it happens (``os.access`` and ``os.open``); the last test has it for real.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from coprod.cli import main
from fakes import demo_copy
from fakes.other_user import readable_by_all, run_as_other_user, shared_folder, warm_up

DATE = ["--date", "2026-11-20"]


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo recipe synced once, then given a change, so a second sync would write a flag."""
    monkeypatch.chdir(tmp_path)
    folder = demo_copy(tmp_path / "panel", "panel")
    assert main(["sync", str(folder), *DATE]) == 0
    people = folder / "data" / "people.csv"
    people.write_text(people.read_text(encoding="utf-8").replace(",maybe,", ",sometimes,"), encoding="utf-8")
    return folder


def flags_of(recipe: Path) -> str:
    return (recipe / "data" / "coprod-flags.csv").read_text(encoding="utf-8")


def test_a_state_file_this_user_may_not_write_stops_the_sync_with_exit_3_saying_whose_it_is(
    recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = recipe / ".coprod" / "state.sqlite"
    before = flags_of(recipe)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if Path(p) == state else real_access(p, mode)
    )
    capsys.readouterr()

    assert main(["sync", str(recipe), *DATE]) == 3

    said = capsys.readouterr().out
    assert f"the state file {state} may not be written by the user running coprod" in said
    assert "sudo -u coprod" in said and f"chown -R coprod {state.parent}" in said
    assert "unexpected" not in said
    assert flags_of(recipe) == before  # nothing was written back


def test_a_run_lock_file_this_user_may_not_open_stops_the_sync_with_exit_3_not_an_unexpected_error(
    recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = recipe / ".coprod" / "state.sqlite.panel.lock"
    assert lock.exists()  # left by the first sync, as root's was on the server
    before = flags_of(recipe)
    real_open = os.open

    def refusing(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if Path(path) == lock:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", refusing)
    capsys.readouterr()

    assert main(["sync", str(recipe), *DATE]) == 3

    said = capsys.readouterr().out
    assert f"the run lock file {lock} may not be written by the user running coprod" in said
    assert "PermissionError" not in said and "unexpected" not in said
    assert flags_of(recipe) == before


def test_status_still_reads_a_state_this_user_may_not_write(
    recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`coprod status` only reads and takes no lock: a monitoring user may run it on coprod's state."""
    state = recipe / ".coprod" / "state.sqlite"
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if Path(p) == state else real_access(p, mode)
    )

    assert main(["status", str(recipe)]) == 0
    assert "OK: last successful sync" in capsys.readouterr().out


def test_a_state_file_the_system_refuses_to_this_user_stops_the_sync_with_exit_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the tests above, with the system refusing for real (:mod:`fakes.other_user`: as root, the
    sync runs as ``nobody``), where they pretend with ``os.access`` and ``os.open``."""
    with shared_folder() as shared:
        monkeypatch.chdir(shared)
        recipe = demo_copy(shared / "panel", "panel")
        command = ["sync", str(recipe), *DATE]
        assert main(command) == 0
        if os.geteuid() == 0:
            warm_up(command)
        readable_by_all(shared)
        state = recipe / ".coprod" / "state.sqlite"
        before = flags_of(recipe), state.read_bytes()

        code, said = run_as_other_user(recipe / ".coprod", command)

        assert code == 3, said
        assert f"the state file {state} may not be written by the user running coprod" in said
        assert "unexpected" not in said
        assert (flags_of(recipe), state.read_bytes()) == before
