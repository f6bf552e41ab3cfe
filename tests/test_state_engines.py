"""Choosing the state store's engine, upgrading its schema, and what PostgreSQL adds: a run lock
the server releases when its holder's connection ends, however it ends."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path, PureWindowsPath

import psycopg
import pytest

from coprod.cli import main
from coprod.schema import INBOX_V1_SQLITE, STATE_V1_SQLITE, SchemaTooNew, latest
from coprod.state import RunLocked, StateLocationInvalid, StateStore, parse_location, sqlite_address_path
from coprod.state_postgres import LockLost
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import FlagStatus, diff_flags
from fakes import ROOT
from fakes.postgres import wait_until_sessions_end


def _flags(n: int = 1) -> dict:
    flags = [
        make_flag(
            check_id="payments.owed",
            severity=Severity.WARNING,
            subject=Subject(kind=SubjectKind.PERSON, id=str(i)),
            title="Payment owed",
            message="owed",
            evidence={},
            identity={"i": i},
        )
        for i in range(n)
    ]
    return diff_flags({}, flags, {}, date(2026, 11, 1)).next_state


# where the state is --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "engine", "shown"),
    [
        ("/var/lib/coprod/state.sqlite", "sqlite", "/var/lib/coprod/state.sqlite"),
        (":memory:", "sqlite", ":memory:"),
        ("sqlite:///var/lib/coprod/state.sqlite", "sqlite", "/var/lib/coprod/state.sqlite"),
        (
            "postgresql://coprod@db.example:5432/coprod",
            "postgresql",
            "postgresql://coprod@db.example:5432/coprod",
        ),
        ("postgres://coprod:s3cret@db.example/coprod", "postgresql", "postgres://coprod@db.example/coprod"),
    ],
)
def test_a_state_setting_is_a_path_or_an_address_coprod_understands(
    value: str, engine: str, shown: str
) -> None:
    where = parse_location(value)
    assert where.engine == engine
    assert str(where) == shown  # never a password


@pytest.mark.parametrize("value", ["mysql://coprod@db/coprod", "redis://localhost", "sqlite://relative.db"])
def test_any_other_address_is_refused_not_taken_for_a_folder(value: str) -> None:
    with pytest.raises(StateLocationInvalid):
        parse_location(value)


@pytest.mark.parametrize(
    "address",
    [
        "sqlite:///C:/coprod/state.sqlite",
        "sqlite:///C:\\coprod\\state.sqlite",
        "sqlite:///c:/coprod/state.sqlite",
    ],
)
def test_a_sqlite_address_with_a_drive_letter_names_that_drive_on_windows(address: str) -> None:
    # Taken whole, '/C:/coprod/state.sqlite' is read by Windows as '\\C:\\coprod\\...' (a folder named
    # 'C:' on the current drive), where no state is: the state was started afresh and every flag
    # reported new again.
    path = PureWindowsPath(sqlite_address_path(address, windows=True))

    assert path.drive.upper() == "C:"
    assert path.is_absolute()
    assert path.parts[1:] == ("coprod", "state.sqlite")


def test_a_sqlite_address_without_a_drive_letter_is_kept_as_typed_on_windows_and_elsewhere() -> None:
    assert (
        sqlite_address_path("sqlite:///var/lib/coprod/state.sqlite", windows=True)
        == "/var/lib/coprod/state.sqlite"
    )
    assert sqlite_address_path("sqlite:///C:/coprod/state.sqlite", windows=False) == "/C:/coprod/state.sqlite"
    assert parse_location("sqlite:///C:/coprod/state.sqlite").path == Path(
        sqlite_address_path("sqlite:///C:/coprod/state.sqlite")
    )


def _demo(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "demo"
    shutil.copytree(ROOT / "recipes" / "demo", target, ignore=shutil.ignore_patterns(".coprod", "coprod-*"))
    return target


def test_sync_with_an_unknown_state_address_exits_2_and_makes_no_folder(
    tmp_path, monkeypatch, capsys
) -> None:
    demo = _demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_STATE", "mysql://coprod@db/coprod")
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 2
    assert "not something coprod can use" in capsys.readouterr().out
    assert not (tmp_path / "mysql:").exists()


@pytest.mark.parametrize("typed", ["{state}", "{state}/", "sqlite://{state}"])
def test_a_state_store_named_as_a_folder_is_refused_saying_to_name_a_file_in_it(
    typed: str, tmp_path, monkeypatch, capsys
) -> None:
    """The deploy README has a folder /srv/coprod/state made for the state, and COPROD_STATE set
    to a file in it: set to the folder itself, sync said the file "could not be opened", asking
    whether the user may write there; migrate and status that there was no state file yet (exit 2,
    exit 7); and the webhook app and the worker started, with their inbox beside the folder,
    where a unit cannot write."""
    from coprod.webhook_app.settings import SettingsError, WebhookSettings

    demo = _demo(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_STATE", typed.format(state=state))
    monkeypatch.setenv("COPROD_RECIPES", str(demo))
    said = f"the state store {state} is a folder, not a file: name a file in it, such as {state / 'state.sqlite'}"
    for command in (["sync", str(demo), "--date", "2026-11-20"], ["migrate"], ["status", str(demo)]):
        assert main(command) == 2, command
        assert said in capsys.readouterr().out, command
    with pytest.raises(SettingsError, match="COPROD_STATE: " + re.escape(said)):
        WebhookSettings.from_env()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "state"]
    assert list(state.iterdir()) == [] and not (demo / ".coprod").exists()


def test_sync_with_an_unreachable_postgresql_exits_3_naming_it_without_its_password(
    tmp_path, monkeypatch, capsys
) -> None:
    """Until now `COPROD_STATE=postgresql://...` quietly made a folder named 'postgresql:' here."""
    demo = _demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_STATE", f"postgresql://coprod:s3cret@/coprod?host={tmp_path}/nowhere&port=1")
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 3
    out = capsys.readouterr().out
    assert "cannot reach the PostgreSQL state store at postgresql://coprod@/coprod" in out
    assert "s3cret" not in out
    assert not (tmp_path / "postgresql:").exists()


# a versioned schema ------------------------------------------------------------------------------


def test_a_state_file_from_before_versioning_is_upgraded_keeping_every_flags_status(tmp_path: Path) -> None:
    """Today's files: the version-1 tables, the old lock table, no schema_versions."""
    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        STATE_V1_SQLITE + "CREATE TABLE locks (recipe TEXT PRIMARY KEY, holder TEXT, expires_at REAL);"
    )
    statuses = ["open", "acknowledged", "wont_fix", "resolved"]
    for i, status in enumerate(statuses):
        old.execute(
            "INSERT INTO flags VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                "demo",
                f"fp{i}",
                "payments.owed",
                "warning",
                "person",
                str(i),
                None,
                "d",
                status,
                "2026-01-01",
                "2026-02-01",
            ),
        )
    old.execute("INSERT INTO locks VALUES ('demo', 'host:1', 0)")
    old.commit()
    old.close()
    store = StateStore.open(path)
    assert [str(u) for u in store.upgrades] == [f"state: schema upgraded from version 0 to {latest('state')}"]
    assert {fp: f.status.value for fp, f in store.known_flags("demo").items()} == {
        f"fp{i}": s for i, s in enumerate(statuses)
    }
    tables = {
        r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert "locks" not in tables
    store.close()
    again = StateStore.open(path)
    assert [str(u) for u in again.upgrades] == [f"state: schema version {latest('state')}, up to date"]
    again.close()


def test_a_store_written_by_a_newer_coprod_is_refused(store_location: str) -> None:
    StateStore.open(store_location).close()
    if store_location.startswith("postgresql"):
        with psycopg.connect(store_location, autocommit=True) as conn:
            conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'state'")
    else:
        with sqlite3.connect(store_location) as conn:
            conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'state'")
    with pytest.raises(SchemaTooNew, match="version 99, newer than this coprod knows"):
        StateStore.open(store_location)


def test_coprod_migrate_says_what_it_upgraded(tmp_path, capsys) -> None:
    path = tmp_path / "state.sqlite"
    sqlite3.connect(path).executescript(STATE_V1_SQLITE)
    inbox = tmp_path / "state-inbox.sqlite"
    sqlite3.connect(inbox).executescript(INBOX_V1_SQLITE)
    assert main(["migrate", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"state: schema upgraded from version 0 to {latest('state')}" in out
    assert f"inbox: schema upgraded from version 0 to {latest('inbox')}" in out
    assert main(["migrate", "--state", str(path)]) == 0
    again = capsys.readouterr().out
    assert again.count("up to date") == 2, again


def test_coprod_migrate_of_a_cron_only_state_makes_no_inbox_file(tmp_path, capsys) -> None:
    """Only the webhook app uses the inbox beside a SQLite state, and it makes its own."""
    path = tmp_path / "state.sqlite"
    StateStore.open(path).close()
    assert main(["migrate", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    assert "state: schema version" in out and "up to date" in out
    assert f"inbox: none at {tmp_path / 'state-inbox.sqlite'}" in out
    assert sorted(p.name for p in tmp_path.iterdir() if "inbox" in p.name) == []


def test_coprod_state_copy_moves_a_sqlite_state_into_postgresql(tmp_path, postgres_url, capsys) -> None:
    from coprod.webhook_app.inbox import Inbox

    path = tmp_path / "state.sqlite"
    old = StateStore.open(path)
    [(fp, known)] = _flags().items()
    from dataclasses import replace

    old.save_flags("demo", {fp: replace(known, status=FlagStatus.ACKNOWLEDGED)})
    old.close()
    inbox = Inbox.open(tmp_path / "state-inbox.sqlite")
    inbox.record("kobotoolbox", "demo", "uuid:a", "0" * 64)
    inbox.close()
    assert main(["state", "copy", str(path), postgres_url]) == 0
    out = capsys.readouterr().out
    assert "flags          1 row\n" in out and "webhook_inbox  1 row\n" in out
    moved = StateStore.open(postgres_url)
    assert moved.known_flags("demo")[fp].status is FlagStatus.ACKNOWLEDGED
    moved.close()
    pg_inbox = Inbox.open(postgres_url)
    assert [e["delivery_id"] for e in pg_inbox.events()] == ["uuid:a"]
    pg_inbox.close()
    assert main(["state", "copy", str(path), postgres_url]) == 2  # never into a store that holds state
    assert "already holds state" in capsys.readouterr().out


# a new SQLite file, opened by two connections at once ------------------------------------------------


@pytest.mark.parametrize("opened", ["state store", "inbox"])
def test_a_new_sqlite_file_opened_during_another_connections_first_write_waits_for_it(
    tmp_path: Path, opened: str
) -> None:
    """Two connections opening a new file together (the app's receipts and its worker thread, two
    gunicorn processes): the one switching the file to WAL mode while the other was in its first
    write got "database is locked" at once (SQLite does not wait there), and the app's first
    delivery was answered 500 (seen in test_webhook_burst). Now it waits for the write to end."""
    from coprod.webhook_app.inbox import Inbox

    path = tmp_path / "new.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE first_write (x)")  # the file is new: not in WAL mode yet
    commit = threading.Timer(0.3, other.execute, ("COMMIT",))
    commit.start()
    try:
        if opened == "inbox":
            inbox = Inbox.open(parse_location(str(path)))
            assert inbox.record("kobotoolbox", "r", "uuid:a", "0" * 64) is not None
            inbox.close()
        else:
            StateStore.open(path).close()
    finally:
        commit.join()
        other.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    check.close()


# the PostgreSQL run lock --------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from coprod.state import StateStore

with StateStore.open(sys.argv[2]).lock("demo", timeout=1):
    Path(sys.argv[1]).write_text("held")
    time.sleep(600)
"""


def test_a_postgresql_lock_whose_holder_was_killed_with_sigkill_is_free_at_once(
    tmp_path, postgres_url
) -> None:
    store = StateStore.open(postgres_url)
    marker = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(marker), postgres_url])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        with (
            pytest.raises(RunLocked, match=f"process {proc.pid} on ") as refused,
            store.lock("demo", timeout=0.3),
        ):
            pass
        assert "waited 0.3 seconds" in str(refused.value)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    wait_until_sessions_end(postgres_url, proc.pid)
    with store.lock("demo", timeout=0):  # one try: the lock went with the session, no lease to run out
        pass
    store.close()


def test_a_cut_connection_releases_the_lock_and_its_run_saves_nothing(postgres_url) -> None:
    """A host whose connection is cut loses its lock at once; when it comes back to save, it
    finds out and stops, so two runs never both save."""
    holder, other = StateStore.open(postgres_url), StateStore.open(postgres_url)
    with holder.lock("demo", timeout=1):
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            cut = admin.execute(  # waits until the session has ended (up to 10 s; false if not)
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE application_name LIKE 'coprod run %'"
            ).fetchall()
        assert cut == [(True,)]
        with other.lock("demo", timeout=2):
            pass  # the server released the cut connection's lock
        with pytest.raises(LockLost, match="nothing was saved"):
            holder.save_flags("demo", _flags())
    assert other.known_flags("demo") == {}
    holder.close()
    other.close()


# when the server restarts or goes away --------------------------------------------------------------


def _cut_every_connection(url: str) -> int:
    """What a server restart does to the clients: every session of the database ends.

    pg_terminate_backend(pid, timeout) waits until each session has ended: without a timeout it
    only signals, and a session still ending after a fixed pause could be handed out as alive."""
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert all(ended for (ended,) in rows), "a session did not end within 10 s"
    return len(rows)


def test_connections_a_server_restart_ended_are_replaced_not_handed_out(postgres_url) -> None:
    """Until now the pools handed out their dead connections after a restart: the next receipt and
    the next read each failed once (the app answered 500) before the pool noticed."""
    from coprod.webhook_app.inbox import Inbox

    store, inbox = StateStore.open(postgres_url), Inbox.open(postgres_url)
    try:
        store.save_flags("demo", _flags())
        assert inbox.record("kobotoolbox", "demo", "uuid:a", "0" * 64) is not None
        assert _cut_every_connection(postgres_url) >= 2
        assert len(store.known_flags("demo")) == 1
        assert inbox.record("kobotoolbox", "demo", "uuid:b", "0" * 64) is not None
        assert [e["delivery_id"] for e in inbox.events()] == ["uuid:a", "uuid:b"]
    finally:
        store.close()
        inbox.close()


@pytest.mark.parametrize("waiting", ["poll", "select"])
def test_a_healthy_pooled_connection_is_handed_out_without_a_round_trip(
    postgres_url, monkeypatch, waiting
) -> None:
    """Taking a connection from the pool asked the server first (an empty query): a round trip, and
    the server's CPU, before every delivery's own insert. Now the server is asked only when the
    idle connection's socket has something to read, which is how an ended session shows. Seen
    with ``select.poll``, and with ``select.select`` where there is no ``poll`` (Windows)."""
    import select

    from psycopg_pool import ConnectionPool

    if waiting == "select":
        monkeypatch.delattr(select, "poll")

    from coprod.state_postgres import check_if_ended

    asked: list[object] = []
    real_check = ConnectionPool.check_connection
    monkeypatch.setattr(
        ConnectionPool, "check_connection", lambda conn: (asked.append(conn), real_check(conn))
    )
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        for _ in range(3):
            check_if_ended(conn)
        assert asked == []
        _cut_every_connection(postgres_url)
        with pytest.raises(psycopg.OperationalError):
            check_if_ended(conn)
        assert asked == [conn]


def test_a_database_gone_away_is_answered_503_within_seconds(tmp_path, postgres_server, monkeypatch) -> None:
    """Until now a delivery waited 30 s for a connection, then got a 500 'server error' (and /readyz
    the same): now the platform hears 503, send again later, within the receipt's wait."""
    from coprod.webhook_app import inbox_postgres
    from fakes.webhooks import delivery, make_app

    monkeypatch.setattr(inbox_postgres, "RECEIPT_WAIT", 1.0)
    name = postgres_server.create_database()
    app = make_app(tmp_path, state_path=postgres_server.url(name))
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        postgres_server.drop_database(name)
        started = time.monotonic()
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json["reason"]) == (503, "state store unreachable")
        sent = delivery("sheets")
        answer = client.post(sent.path, data=sent.body, headers=sent.headers)
        assert (answer.status_code, answer.json) == (
            503,
            {"error": "state store unavailable, send again later"},
        )
        assert time.monotonic() - started < 5
    finally:
        app.extensions["coprod_webhook"].inbox.close()


def test_a_sync_whose_database_went_away_says_so_and_exits_3(tmp_path, postgres_server) -> None:
    from coprod.config import load_recipe
    from coprod.sync import ExitCode, run

    name = postgres_server.create_database()
    store = StateStore.open(postgres_server.url(name))
    try:
        postgres_server.drop_database(name)
        result = run(load_recipe(_demo(tmp_path), env={}), run_date=date(2026, 11, 20), state=store)
    finally:
        store.close()
    assert result.exit_code == ExitCode.SOURCE_UNAVAILABLE
    assert f"cannot reach the PostgreSQL state store at postgresql://coprod@/{name}" in result.messages[0]


def test_coprod_migrate_of_a_recipe_with_no_state_beside_it_makes_none_and_says_where_to_look(
    tmp_path, monkeypatch, capsys
) -> None:
    """Typed away from /srv/coprod (whose .env sets COPROD_STATE), `coprod migrate RECIPE` made an
    empty state file beside the recipe and said `state: schema upgraded from version 0 to 2`: the
    very words README's Upgrading says to expect over a November store, for a store no sync uses."""
    from fakes import demo_copy

    monkeypatch.delenv("COPROD_STATE", raising=False)
    monkeypatch.chdir(tmp_path)
    recipe = demo_copy(tmp_path / "recipes" / "alpha", "alpha")

    assert main(["migrate", str(recipe)]) == 2

    out = capsys.readouterr().out
    assert f"there is no state file at {recipe / '.coprod' / 'state.sqlite'}: nothing to upgrade" in out
    assert "a .env sets COPROD_STATE" in out and "run coprod migrate from that folder" in out
    assert "upgraded" not in out
    assert not (recipe / ".coprod").exists()
    assert main(["migrate", "--state", str(tmp_path / "nowhere.sqlite")]) == 2
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_a_waiting_run_names_the_holder_in_its_own_database_not_another_on_the_same_server(
    postgres_server,
) -> None:
    """Two coprod databases on one server, a recipe of the same name in each: the advisory lock's
    key is the same, and pg_locks lists the server's locks of every database. The waiting run names
    the process holding its own database's lock, and none where only the other database's is held."""
    from coprod.state_postgres import _holder, advisory_key

    first, second = (postgres_server.create_database() for _ in range(2))
    key = advisory_key("run", "demo")
    other = psycopg.connect(
        postgres_server.url(first), autocommit=True, application_name="coprod run other-host 111 2026-12-07"
    )
    stores = [StateStore.open(postgres_server.url(second)) for _ in range(2)]
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        with psycopg.connect(postgres_server.url(second), autocommit=True) as asking:
            assert _holder(asking, key) == ""  # nobody holds it in this database
        with (
            stores[0].lock("demo", timeout=1),
            pytest.raises(RunLocked) as refused,
            stores[1].lock("demo", timeout=0.2),
        ):
            pass
        said = str(refused.value)
        assert f"(process {os.getpid()} on " in said and "other-host" not in said
    finally:
        for store in stores:
            store.close()
        other.close()
        postgres_server.drop_database(first)
        postgres_server.drop_database(second)


def test_coprod_state_copy_into_a_store_whose_inbox_has_deliveries_copies_nothing(tmp_path, capsys) -> None:
    """The inbox was looked at only after the state was copied: refused then (exit 2), the target kept
    the flags and run history, and the next try (with the app stopped) said it 'already holds state'
    (deploy README, moving to PostgreSQL, with an app already started on the new database)."""
    from coprod.webhook_app.inbox import Inbox

    source = StateStore.open(tmp_path / "state.sqlite")
    source.save_flags("demo", _flags())
    source.close()
    target = tmp_path / "new" / "state.sqlite"
    early = Inbox.open(tmp_path / "new" / "state-inbox.sqlite")
    early.record("sheets", "demo", "msg_early", "0" * 64)
    early.close()
    assert main(["state", "copy", str(tmp_path / "state.sqlite"), str(target)]) == 2
    after = StateStore.open(target)
    try:
        assert after.is_empty()
    finally:
        after.close()
    out = capsys.readouterr().out
    assert "webhook inbox is not empty" in out and "nothing was copied" in out
