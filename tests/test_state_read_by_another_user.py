"""The commands that only read (``status``, ``report``, ``check``) work for a user who may read the
state but not write in its folder: a monitoring user running the daily check, or staff making a
report as themselves on the server where cron syncs as ``coprod``.

SQLite's read-only mode makes a ``-shm`` file beside a state in WAL mode when no run has the file
open, so for that user it failed: ``coprod status`` ended "the state file ... could not be opened
(attempt to write a readonly database)", exit 3, and a report likewise; ``coprod check`` went on
without the state and said "Fix the ID" of a person removed from the list. The test of this in
``test_state_permissions.py`` pretended with ``os.access`` and ran as root, where SQLite could still
write, so it passed all the same.

Here the user really may not write (:mod:`fakes.other_user`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from coprod.cli import main
from coprod.state import parse_location
from coprod.webhook_app.inbox import Inbox, inbox_location
from fakes import demo_copy
from fakes.other_user import NOBODY, readable_by_all, run_as_other_user, shared_folder, warm_up

DATE = ["--date", "2026-11-20"]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The demo synced by this user, as cron's user syncs it, in a folder anyone may read; the
    webhook app's inbox beside its state, holding a delivery not yet re-checked."""
    with shared_folder() as shared:
        monkeypatch.chdir(shared)
        recipe = demo_copy(shared / "panel", "panel")
        assert main(["sync", str(recipe), *DATE]) == 0
        state = recipe / ".coprod" / "state.sqlite"
        inbox = Inbox.open(inbox_location(parse_location(state)))
        try:
            inbox.record("sheets", "panel", "delivery-1", "0" * 64)  # waiting for the worker
        finally:
            inbox.close()
        assert (state.parent / "state-inbox.sqlite").is_file()
        readable_by_all(shared)
        yield recipe


class Read(NamedTuple):
    code: int
    said: str
    changed: list[str]
    """The files of the state's folder that the reader's run made or changed."""


def as_reader(folder: Path, command: list[str]) -> Read:
    """Run ``coprod COMMAND`` as a user who may read ``folder`` (the state's) but not write in it."""
    if os.geteuid() == 0:
        warm_up(command)
    before = files_of(folder)
    code, said = run_as_other_user(folder, command)
    after = files_of(folder)
    return Read(code, said, sorted(name for name in after if after[name] != before.get(name)))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_status_reads_a_state_and_inbox_the_user_may_not_write(synced: Path) -> None:
    read = as_reader(synced / ".coprod", ["status", str(synced)])

    assert read.code == 0, read.said
    assert "recipe 'panel': OK: last successful sync" in read.said
    assert "webhook inbox   1 event not yet re-checked; the oldest arrived just now" in read.said
    assert read.changed == []  # nothing made beside them, nothing changed in them


def test_a_report_is_made_by_a_user_who_may_not_write_the_state(synced: Path) -> None:
    out = synced.parent / "reports"
    out.mkdir()
    out.chmod(0o777)

    read = as_reader(synced / ".coprod", ["report", str(synced), *DATE, "--out", str(out / "panel.html")])

    assert read.code == 0, read.said
    report = out / "panel.html"
    assert report.stat().st_uid == (NOBODY if os.geteuid() == 0 else os.geteuid())  # the reader's
    assert "Day service redesign" in report.read_text(encoding="utf-8")
    # the state is only read: the report's date is not kept for the next report's "since"
    assert read.changed == []


def test_check_by_such_a_user_still_knows_who_was_removed_from_the_people_list(synced: Path) -> None:
    """The state remembers who was in the people list; without it, check says "Fix the ID" of the
    rows of someone who was removed, where the sync said what to do about them."""
    people = synced / "data" / "people.csv"
    with people.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    removed = rows.pop(1)[0]
    with people.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert main(["sync", str(synced), *DATE]) == 0
    readable_by_all(synced)

    read = as_reader(synced / ".coprod", ["check", str(synced), *DATE, "--json"])

    assert read.code == 0, read.said
    assert read.changed == []
    messages = [f["message"] for f in json.loads(read.said[read.said.index("{") :])["flags"]]
    theirs = [m for m in messages if f"person ID {removed} " in m]
    assert theirs and all("has been removed from the people list" in m for m in theirs), theirs
    assert not any("Fix the ID" in m for m in theirs)
