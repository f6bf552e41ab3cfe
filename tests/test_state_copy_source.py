"""``coprod state copy`` only reads its source: nothing upgraded, nothing made beside it.

A newcomer moving from SQLite to PostgreSQL (deploy README) copied from a root-owned backup of the
state file, as the ``coprod`` user: the copy opened the source as a sync does, to upgrade it and put
it in WAL mode, and SQLite said "attempt to write a readonly database", with advice about
COPROD_STATE that does not fit a copy's source. Where it could write, it upgraded an older source
in place and left an empty webhook inbox file beside one that had none.

Tests run as root here, where file permissions do not bind: the source's file and folder are made
immutable (``chattr +i``, which binds root too) where the file system allows it, and read-only
(``chmod``) always, which binds any other user (CI).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest

from coprod.cli import main
from coprod.schema import latest
from coprod.state import StateStore
from coprod.webhook_app.inbox import Inbox
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import FlagStatus, KnownFlag, diff_flags
from fakes import ROOT

OLD_STORES = ROOT / "tests" / "fixtures" / "upgrade"
VERSIONS = ("d71ae1f", "646c830", "efd841e")
"""What older coprods left (tests/test_upgrade.py): schema version 0 with an inbox file, then 2."""


def a_flag() -> KnownFlag:
    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id="7"),
        title="Payment owed",
        message="owed",
        evidence={},
        identity={"i": 7},
    )
    [known] = diff_flags({}, [flag], {}, date(2026, 11, 1)).next_state.values()
    return known


def files(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` and a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@contextmanager
def not_writable(folder: Path) -> Iterator[None]:
    """``folder`` and its files refused to writes, as a root-owned backup is to the coprod user."""
    paths = [*sorted(folder.iterdir()), folder]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    chattr = shutil.which("chattr")
    for path in paths if chattr is not None else []:
        subprocess.run([chattr, "+i", str(path)], capture_output=True)  # refused where not root: fine
    try:
        try:
            (folder / "probe").touch()
        except PermissionError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip("neither chattr nor file permissions refuse a write here")
        yield
    finally:
        if chattr is not None:
            for path in paths:
                subprocess.run([chattr, "-i", str(path)], capture_output=True)
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def sqlite_statuses(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)) as db:
        return dict(db.execute("SELECT fingerprint, status FROM flags WHERE recipe = 'demo'").fetchall())


@pytest.mark.parametrize("writable", [False, True], ids=["read-only", "writable"])
def test_a_source_is_copied_into_postgresql_and_left_as_it_was(
    writable: bool, tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A WAL-mode state file closed cleanly (no -wal beside it), with no webhook inbox, in a folder
    the user may not write, or may: copied whole, and not one byte or file beside it changed (an
    empty inbox file was made beside a source that had none)."""
    backup = tmp_path / "backup"
    source = StateStore.open(backup / "state.sqlite")
    known = a_flag()
    fp = known.fingerprint
    source.save_flags("demo", {fp: replace(known, status=FlagStatus.WONT_FIX)})
    source.close()
    with closing(sqlite3.connect(backup / "state.sqlite")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    before = files(backup)
    assert sorted(before) == ["state.sqlite"]

    with nullcontext() if writable else not_writable(backup):
        code = main(["state", "copy", str(backup / "state.sqlite"), postgres_url])
        said = capsys.readouterr().out
        assert code == 0, said
        assert files(backup) == before  # no -wal, -shm or inbox file made; the bytes as they were

    assert "flags          1 row\n" in said and "webhook_inbox  0 rows\n" in said
    moved = StateStore.open(postgres_url)
    try:
        assert moved.known_flags("demo")[fp].status is FlagStatus.WONT_FIX
    finally:
        moved.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_older_source_is_copied_keeping_every_flags_status_and_is_not_upgraded(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    shutil.copytree(OLD_STORES / version / "demo" / ".coprod", backup)
    statuses = sqlite_statuses(backup / "state.sqlite")
    assert {"open", "acknowledged", "wont_fix"} <= set(statuses.values())
    before = files(backup)
    target = tmp_path / "new" / "state.sqlite"

    with not_writable(backup):
        code = main(["state", "copy", str(backup / "state.sqlite"), str(target)])
        said = capsys.readouterr().out
        assert code == 0, said
        assert files(backup) == before  # not upgraded, nothing made beside it

    assert "read as it is; it was not changed" in said
    assert sqlite_statuses(target) == statuses
    copied = StateStore.open(target)
    try:
        assert [str(u) for u in copied.upgrades] == [f"state: schema version {latest('state')}, up to date"]
        assert {fp: f.status.value for fp, f in copied.known_flags("demo").items()} == statuses
    finally:
        copied.close()
    if "state-inbox.sqlite" in before:  # the oldest kept its inbox beside the state
        with closing(
            sqlite3.connect(f"{(backup / 'state-inbox.sqlite').as_uri()}?immutable=1", uri=True)
        ) as db:
            (n,) = db.execute("SELECT COUNT(*) FROM webhook_inbox").fetchone()
        inbox = Inbox.open(target.with_name("state-inbox.sqlite"))
        try:
            assert len(inbox.events()) == n
        finally:
            inbox.close()


def test_an_older_postgresql_source_is_copied_without_a_table_made_or_changed_in_it(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """646c830's state, restored from its pg_dump: schema version 2, no webhook inbox table."""
    dump = (OLD_STORES / "646c830" / "state-postgresql.sql").read_text(encoding="utf-8")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("\n".join(line for line in dump.splitlines() if not line.startswith("\\")))  # type: ignore[arg-type]

    def shape() -> tuple[object, ...]:
        with psycopg.connect(postgres_url) as db:
            return (
                db.execute("SELECT component, version FROM schema_versions ORDER BY component").fetchall(),
                db.execute(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY 1, 2"
                ).fetchall(),
                db.execute("SELECT fingerprint, status FROM flags ORDER BY 1").fetchall(),
            )

    before = shape()
    target = tmp_path / "new" / "state.sqlite"
    assert main(["state", "copy", postgres_url, str(target)]) == 0, capsys.readouterr().out
    assert shape() == before
    assert sorted(sqlite_statuses(target).items()) == [tuple(r) for r in before[2]]  # type: ignore[index]


def test_a_source_whose_unsaved_writes_cannot_be_read_says_which_file_and_nothing_was_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backup taken while a coprod had the file open: its last writes are in the -wal beside it,
    which SQLite reads only with a -shm file it must make there, and this user may not."""
    backup = tmp_path / "backup"
    backup.mkdir()
    script = (
        "import os, sys\n"
        "from coprod.state import StateStore\n"
        "s = StateStore.open(sys.argv[1])\n"
        "s.start_run('demo', 'sync')\n"
        "os._exit(0)\n"  # as a killed process: the -wal keeps the run, never copied into the file
    )
    subprocess.run([sys.executable, "-c", script, str(backup / "state.sqlite")], check=True)
    (backup / "state.sqlite-shm").unlink()
    assert (backup / "state.sqlite-wal").stat().st_size > 0
    before = files(backup)
    target = tmp_path / "new" / "state.sqlite"

    with not_writable(backup):
        code = main(["state", "copy", str(backup / "state.sqlite"), str(target)])
        said = capsys.readouterr().out
        assert files(backup) == before

    assert code == 3, said
    assert f"the state file {backup / 'state.sqlite'} could not be read" in said
    assert "state.sqlite-wal beside it holds writes not yet in the file" in said
    assert "nothing in it was changed" in said
    assert "COPROD_STATE" not in said and "Traceback" not in said
    assert not target.exists()  # the source is read before the target is made
