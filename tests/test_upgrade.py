"""Upgrading coprod keeps every status staff gave a flag.

Each folder of ``tests/fixtures/upgrade/`` is what an older coprod left behind (its README says
which commit made it, and how): the demo's recipe and data as that version shipped them, its
state store, and the flags file after staff marked flags acknowledged and won't fix in it (one of
them after the last sync, so only the file knows). Today's code runs over a copy as a charity's
first run after ``pip install -U`` would: ``coprod migrate``, then ``coprod sync`` as of the day
the old version judged, again, and on a later day. A changed fingerprint would close every flag
staff marked and open it again as new; a changed facts digest would re-open it; a Flags file
layout that did not find its old rows would write every flag twice. None of that may happen.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import tomllib
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
import responses
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from coprod.cli import main
from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext
from coprod.connectors.sheets import SheetsConnector, SheetsOptions
from coprod.schema import INBOX_V1_POSTGRESQL, latest
from coprod.state import StateStore
from coprod.sync import run
from coprod.webhook_app.inbox import Inbox
from coprod_core.recipe import parse_recipe
from fakes import ROOT
from fakes.sheets import FakeSpreadsheet

FIXTURES = ROOT / "tests" / "fixtures" / "upgrade"
JUDGED = "2026-11-20"
"""The demo's date: the day every old version judged its flags as of."""
NEXT_DAY = "2026-12-07"
STAFF = ("acknowledged", "wont_fix")
STATE_SCHEMA = latest("state")
"""The state schema this coprod writes: every old store upgrades to it."""
LATE_MARK = "40947e8184e6bc2f4bb4"
"""The flag staff marked 'Acknowledged' in the flags file after the old version's last sync."""


class Version(NamedTuple):
    commit: str
    schema: int
    """The state schema version it wrote (0: before the schema was versioned)."""
    new_rules: dict[str, int]
    """Flags today's code raises on its data by rules it did not have (check id -> how many): new
    flags, never re-opened ones."""
    reshown: tuple[str, ...] = ()
    """Fingerprints the lifecycle re-shows by design because the facts a rule lists changed
    between that version and today (an acknowledgement is lifted only then). None so far."""


VERSIONS = (
    # The first session's last commit (2026-11-22): no schema versions, the run lock a table, the
    # flags file in its first layout (a Subject column, no About). The support and recruitment rules
    # came later; its recipe records no support and no recruitment date, so they judge what they can.
    Version("d71ae1f", 0, {"support.no_training": 5, "recruitment.rushed": 1}),
    # Mid second session (2026-12-06): the versioned schema, PostgreSQL, the readable layout.
    Version("646c830", 2, {}),
    # The last stop before this one (2026-12-07).
    Version("efd841e", 2, {}),
)


@pytest.fixture(params=VERSIONS, ids=[v.commit for v in VERSIONS])
def version(request: pytest.FixtureRequest) -> Version:
    return request.param  # type: ignore[no-any-return]


def installed(version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of what the old version left (the fixture itself is never written)."""
    monkeypatch.delenv("COPROD_STATE", raising=False)
    target = tmp_path / "demo"
    shutil.copytree(FIXTURES / version.commit / "demo", target)
    return target


class FlagsFile(NamedTuple):
    headings: list[str]
    rows: list[dict[str, str]]

    def by_fingerprint(self) -> dict[str, dict[str, str]]:
        return {r["fingerprint"]: r for r in self.rows}


def installed_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> tuple[Version, Path]:
    """646c830's install (the first version to support PostgreSQL) with its state in PostgreSQL: the
    database as ``pg_dump`` gave it, restored into an empty one, and no SQLite state beside it."""
    (version,) = [v for v in VERSIONS if v.commit == "646c830"]
    folder = installed(version, tmp_path, monkeypatch)
    shutil.rmtree(folder / ".coprod")
    dump = (FIXTURES / version.commit / "state-postgresql.sql").read_text(encoding="utf-8")
    # psql's own commands (\restrict, \unrestrict) are not SQL; the rest runs as psql would run it
    script = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(script)  # type: ignore[arg-type]
    return version, folder


def flags_file(folder: Path) -> FlagsFile:
    """The flags file, its headings read as coprod reads them (any case, '_' or ' ')."""
    with (folder / "data" / "coprod-flags.csv").open(encoding="utf-8-sig", newline="") as f:
        records = list(csv.reader(f))
    keys = [" ".join(h.strip().casefold().replace("_", " ").split()) for h in records[0]]
    return FlagsFile(records[0], [dict(zip(keys, r, strict=True)) for r in records[1:]])


def sqlite_flags(folder: Path) -> dict[str, tuple[str, str]]:
    """fingerprint -> (status, facts digest), read from the state file as it is on disc."""
    with sqlite3.connect(folder / ".coprod" / "state.sqlite") as db:
        rows = db.execute("SELECT fingerprint, status, facts_digest FROM flags WHERE recipe = 'demo'")
        return {fp: (status, facts) for fp, status, facts in rows}


def postgres_flags(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT fingerprint, status, facts_digest FROM flags WHERE recipe = 'demo'")
        return {fp: (status, facts) for fp, status, facts in rows}


def sync(folder: Path, capsys: pytest.CaptureFixture[str], date: str = JUDGED) -> dict[str, Any]:
    assert main(["sync", str(folder), "--date", date, "--json"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    result: dict[str, Any] = json.loads(out)
    assert result["messages"] == [] and result["warnings"] == [], result
    return result


def assert_kept(
    version: Version, before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
) -> None:
    """Every flag the old version knew is still known, with the status staff gave it; the one
    marked only in the file is now acknowledged; the rest are the new rules' flags, open."""
    assert set(before) <= set(after)
    for fp, (status, facts) in before.items():
        expected = "acknowledged" if fp == LATE_MARK else status
        if fp in version.reshown:
            expected = "open"
        assert after[fp][0] == expected, (fp, status, after[fp])
        assert after[fp][1] == facts or fp in version.reshown, f"facts digest of {fp} changed"
    assert {after[fp][0] for fp in set(after) - set(before)} <= {"open"}


def assert_flags_file_kept(version: Version, before: FlagsFile, folder: Path) -> FlagsFile:
    """One row per flag; every row staff had is there with the status they typed and their own
    column's note; the new rules' flags are added once each."""
    after = flags_file(folder)
    counts = Counter(r["fingerprint"] for r in after.rows)
    assert [fp for fp, n in counts.items() if n > 1] == []
    rows = after.by_fingerprint()
    for fp, row in before.by_fingerprint().items():
        assert rows[fp]["status"] == row["status"], fp
        assert rows[fp]["staff notes"] == row["staff notes"], fp
    added = Counter(r["check"] for fp, r in rows.items() if fp not in before.by_fingerprint())
    assert added == Counter(version.new_rules)
    return after


def test_coprod_migrate_upgrades_an_old_state_file_and_says_so(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = installed(version, tmp_path, monkeypatch)
    before = sqlite_flags(folder)
    assert main(["migrate", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if version.schema == 0:
        assert f"state: schema upgraded from version 0 to {STATE_SCHEMA}" in out
        assert "inbox: schema upgraded from version 0 to 1" in out  # its webhook app's inbox
    else:
        assert f"state: schema upgraded from version {version.schema} to {STATE_SCHEMA}" in out
    assert sqlite_flags(folder) == before  # statuses and digests as the old version left them
    with sqlite3.connect(folder / ".coprod" / "state.sqlite") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "locks" not in tables  # the old run lock's table goes (the lock is the system's now)
    assert main(["migrate", str(folder)]) == 0
    assert f"state: schema version {STATE_SCHEMA}, up to date" in capsys.readouterr().out


def test_the_first_sync_after_upgrading_keeps_every_status_and_writes_no_row_twice(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = installed(version, tmp_path, monkeypatch)
    before, file_before = sqlite_flags(folder), flags_file(folder)
    marked = sum(1 for status, _ in before.values() if status in STAFF)
    assert marked >= 14 and before[LATE_MARK][0] == "open"  # the fixture is what its README says

    result = sync(folder, capsys)

    assert result["changes"] == {
        "new": sum(version.new_rules.values()),
        "changed": len(version.reshown),
        "reopened": 0,
        "resolved": 0,
        "removed": 0,
        "closed_as_removed": 0,
        "closed_as_named_removed": 0,
        "still_open": len(before) - marked - 1 - len(version.reshown),
        "kept_by_staff": marked + 1,
    }
    assert_kept(version, before, sqlite_flags(folder))
    assert_flags_file_kept(version, file_before, folder)


def test_syncs_after_the_first_change_nothing_that_day_or_the_next(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = installed(version, tmp_path, monkeypatch)
    before, file_before = sqlite_flags(folder), flags_file(folder)
    sync(folder, capsys)
    settled, file_settled = sqlite_flags(folder), flags_file(folder)

    for day in (JUDGED, NEXT_DAY):
        result = sync(folder, capsys, day)
        changes = {k: v for k, v in result["changes"].items() if k not in ("still_open", "kept_by_staff")}
        assert changes == NOTHING, day
        assert {fp: s for fp, (s, _) in sqlite_flags(folder).items()} == {
            fp: s for fp, (s, _) in settled.items()
        }
    assert flags_file(folder).rows == file_settled.rows  # nothing written to it again
    assert_kept(version, before, sqlite_flags(folder))
    assert_flags_file_kept(version, file_before, folder)


def test_webhook_deliveries_d71ae1f_received_are_worked_on_after_upgrading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox beside d71ae1f's state, as its webhook app and worker left it: one delivery
    re-checked, one claimed by a worker the upgrade stopped (its lease long run out), one waiting.
    Today's worker takes the two not done, and a re-send of the one done is known as such."""
    (version,) = [v for v in VERSIONS if v.commit == "d71ae1f"]
    folder = installed(version, tmp_path, monkeypatch)
    inbox = Inbox.open(folder / ".coprod" / "state-inbox.sqlite")
    try:
        assert [str(u) for u in inbox.migrate()] == ["inbox: schema upgraded from version 0 to 1"]
        statuses = {e["delivery_id"]: (e["status"], e["subject"]) for e in inbox.events()}
        assert statuses == {
            "uuid-1": ("done", "submission 5"),
            "uuid-2": ("claimed", "submission 6"),
            "uuid-3": ("pending", "submission 7"),
        }
        assert inbox.record("kobotoolbox", "demo", "uuid-1", "a" * 64, "submission 5") is None
        claim = inbox.claim("demo", 60, now=INBOX_RECEIVED + 3600)
        assert claim is not None and claim.event_ids == [2, 3]
        assert [e.subject for e in inbox.claimed_events(claim)] == ["submission 6", "submission 7"]
        assert inbox.complete(claim, now=INBOX_RECEIVED + 3601) == 2
    finally:
        inbox.close()


INBOX_RECEIVED = 1_795_000_000.0
"""When d71ae1f's app received the first of those deliveries (the fixture's clock: 2026-11-18)."""


def test_a_postgresql_store_written_by_646c830_upgrades_and_keeps_every_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    """The same install with its state in PostgreSQL (supported from that version on): the
    database as ``pg_dump`` gave it, restored into an empty one."""
    version, folder = installed_on_postgresql(tmp_path, monkeypatch, postgres_url)
    monkeypatch.setenv("COPROD_STATE", postgres_url)
    before, file_before = postgres_flags(postgres_url), flags_file(folder)

    assert main(["migrate", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"state: schema upgraded from version 2 to {STATE_SCHEMA}" in out
    assert "inbox: schema upgraded from version 0 to 1" in out
    assert postgres_flags(postgres_url) == before

    result = sync(folder, capsys)
    marked = sum(1 for status, _ in before.values() if status in STAFF)
    assert result["changes"]["kept_by_staff"] == marked + 1
    assert result["changes"]["new"] == result["changes"]["changed"] == result["changes"]["reopened"] == 0
    assert_kept(version, before, postgres_flags(postgres_url))
    assert_flags_file_kept(version, file_before, folder)


def test_a_google_sheet_synced_by_d71ae1f_keeps_its_flags_tab_rows_and_every_status(tmp_path: Path) -> None:
    """The Flags tab as d71ae1f wrote it and staff marked it (with a column of their own, and one
    flag marked after the last sync), its state file, and the Google Sheets recipe of that version,
    which the charity keeps: today's code finds every row by its fingerprint and adds only the new
    rule's flag."""
    folder = tmp_path / "google-sheets"
    shutil.copytree(FIXTURES / "d71ae1f" / "google-sheets", folder)
    path = folder / "recipe.toml"
    recipe, problems = parse_recipe(tomllib.loads(path.read_text(encoding="utf-8")), str(path))
    assert recipe is not None and not problems, problems
    loaded = LoadedRecipe(recipe=recipe, path=path, dir=folder, env={})
    options = SheetsOptions.model_validate({**recipe.sources["sheet"].options, "backoff": 0})

    def connector() -> SheetsConnector:
        context = ConnectorContext(recipe, folder, env={})
        return SheetsConnector("sheet", options, context, session=AuthorizedSession(Credentials("x")))

    sheet = FakeSpreadsheet(connector().key)
    tabs = json.loads((folder / "spreadsheet.json").read_text(encoding="utf-8"))
    for title, values in tabs.items():
        sheet.add_tab(title, values)
    old_tab = tabs["Flags"]
    state = StateStore.open(folder / ".coprod" / "state.sqlite")
    before = {fp: k.status.value for fp, k in state.known_flags(recipe.name).items()}
    assert sorted(before.values()) == ["acknowledged", "acknowledged", "open", "wont_fix"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sheet.register(rsps)
        results = [
            run(loaded, run_date=date(2026, 6, 1), state=state, connectors={"sheet": connector()})
            for _ in range(2)
        ]
        calls = [kind for kind, _ in sheet.calls]
    state.close()

    # one read and one write of the new flag, then reads only: nothing rewritten, nothing twice
    assert calls == ["meta", "batchGet", "values:batchUpdate", "meta", "batchGet"]
    first, second = (r.diff.counts() if r.diff else None for r in results)
    assert all(r.exit_code == 0 and not r.messages for r in results)
    assert first == {**NOTHING, "new": 1, "still_open": 0, "kept_by_staff": 4}  # recruitment.rushed
    assert second == {**NOTHING, "still_open": 1, "kept_by_staff": 4}
    tab = sheet.tabs["Flags"].trimmed()
    assert tab[0] == old_tab[0]  # the layout staff know, their column included
    assert tab[1 : len(old_tab)] == old_tab[1:]  # each row as it was: status, note and all
    [added] = tab[len(old_tab) :]
    assert added[3] == "recruitment.rushed" and added[1] == "open"
    fingerprints = [row[0] for row in tab[1:]]
    assert len(fingerprints) == len(set(fingerprints))
    after = StateStore.open(folder / ".coprod" / "state.sqlite")
    statuses = {fp: k.status.value for fp, k in after.known_flags(recipe.name).items()}
    after.close()
    assert {fp: statuses[fp] for fp in before} == {
        fp: "acknowledged" if fp == "84fb30d3d3663acd38fb" else status for fp, status in before.items()
    }


NOTHING = {
    "new": 0,
    "changed": 0,
    "reopened": 0,
    "resolved": 0,
    "removed": 0,
    "closed_as_removed": 0,
    "closed_as_named_removed": 0,
}


def state_file_bytes(folder: Path) -> bytes:
    return (folder / ".coprod" / "state.sqlite").read_bytes()


def status_and_report(folder: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``coprod status --json`` and ``coprod report``, as staff may run them after ``pip install -U``
    and before any sync: what status said."""
    main(["status", str(folder), "--json"])
    said, err = capsys.readouterr()
    assert "Traceback" not in said + err
    assert main(["report", str(folder), "--date", JUDGED, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    status: dict[str, Any] = json.loads(said)
    return status


def test_status_and_the_report_read_an_older_state_as_it_is_and_change_nothing(
    version: Version, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Commands that only read do not upgrade the state an older coprod left: an upgrade is a write,
    after which going back to that coprod needs the backup (``coprod migrate`` and the next sync make
    it). They read it as it is: the run history, and the flags staff marked."""
    folder = installed(version, tmp_path, monkeypatch)
    before = state_file_bytes(folder)

    status = status_and_report(folder, tmp_path / "report.md", capsys)

    assert state_file_bytes(folder) == before  # the report's date not remembered either
    assert status["last_sync"] is not None and status["last_sync"]["exit_code"] == 0
    marked = sum(1 for s, _ in sqlite_flags(folder).values() if s in STAFF)
    assert status["flags"]["acknowledged"] + status["flags"]["wont_fix"] == marked > 0
    assert main(["migrate", str(folder)]) == 0  # upgraded when asked
    assert f"schema upgraded from version {version.schema} to {STATE_SCHEMA}" in capsys.readouterr().out


def test_an_older_state_missing_a_table_status_reads_says_what_to_run_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store from before the schema had versions may lack a table (the first migration creates what
    is missing): status and the report say so, and what to run, rather than upgrade it themselves."""
    (version,) = [v for v in VERSIONS if v.commit == "d71ae1f"]
    folder = installed(version, tmp_path, monkeypatch)
    db = sqlite3.connect(folder / ".coprod" / "state.sqlite")
    with db:
        db.execute("DROP TABLE meta")
    db.close()
    before = state_file_bytes(folder)

    assert main(["status", str(folder)]) == 2
    said = capsys.readouterr().out
    assert "was left by an older coprod (schema version 0; this coprod's is" in said
    assert "has no meta table" in said and "Nothing was changed. Run `coprod migrate`" in said
    assert main(["report", str(folder), "--date", JUDGED, "--out", str(tmp_path / "r.md")]) == 2
    assert "Run `coprod migrate` to upgrade it" in capsys.readouterr().err
    assert state_file_bytes(folder) == before


def test_status_reads_an_older_webhook_inbox_as_it_is_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """d71ae1f's inbox (from before the schema had versions): status showed its backlog after
    upgrading it (adding schema_versions with the inbox at version 1), a write by a command that only
    reads; it reads it as it is, through a read-only connection."""
    (version,) = [v for v in VERSIONS if v.commit == "d71ae1f"]
    folder = installed(version, tmp_path, monkeypatch)
    inbox_file = folder / ".coprod" / "state-inbox.sqlite"
    before = inbox_file.read_bytes(), state_file_bytes(folder)

    main(["status", str(folder), "--json"])  # exit 8: its events have waited since 2026-11-18
    said = json.loads(capsys.readouterr().out)
    assert said["inbox"] == {"open": 2, "retrying": 0, "oldest_seconds": said["inbox"]["oldest_seconds"]}
    assert (inbox_file.read_bytes(), state_file_bytes(folder)) == before
    db = sqlite3.connect(inbox_file)
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_versions'").fetchall()
    db.close()


def test_an_older_webhook_inbox_status_cannot_read_as_it_is_shows_its_backlog_not_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older inbox that lacks a column status reads: the backlog is said to be not known, with
    what to run, and nothing is changed (no upgrade, no error)."""
    (version,) = [v for v in VERSIONS if v.commit == "d71ae1f"]
    folder = installed(version, tmp_path, monkeypatch)
    inbox_file = folder / ".coprod" / "state-inbox.sqlite"
    db = sqlite3.connect(inbox_file)
    with db:
        db.execute("ALTER TABLE webhook_inbox DROP COLUMN attempts")
    db.close()
    before = inbox_file.read_bytes(), state_file_bytes(folder)

    main(["status", str(folder)])
    out = capsys.readouterr().out
    line = [s for s in out.splitlines() if "webhook inbox" in s]
    assert line == [
        "  webhook inbox   not known: the webhook inbox at "
        f"{inbox_file} was left by an older coprod (schema version 0; this coprod's is 1) and "
        "cannot be read as it is. Nothing was changed. Run `coprod migrate` to upgrade it (the webhook "
        "app upgrades it too when it starts)"
    ]
    main(["status", str(folder), "--json"])
    inbox = json.loads(capsys.readouterr().out)["inbox"]
    assert inbox["open"] is None and "Run `coprod migrate`" in inbox["unknown"]
    assert (inbox_file.read_bytes(), state_file_bytes(folder)) == before


@pytest.mark.parametrize("lacking", [None, "attempts"])
def test_status_reads_an_older_postgresql_webhook_inbox_as_it_is(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    postgres_url: str,
    lacking: str | None,
) -> None:
    """The same on PostgreSQL: 646c830's state with an inbox table from before the inbox had a
    schema version (no 'inbox' row): status added that row; it reads the table as it is."""
    _, folder = installed_on_postgresql(tmp_path, monkeypatch, postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as db:  # the dump emptied the search path
        for statement in INBOX_V1_POSTGRESQL.split(";"):
            if statement.strip():
                db.execute(statement)  # type: ignore[arg-type]
        db.execute(
            "INSERT INTO webhook_inbox (platform, recipe, delivery_id, body_sha256, received_at, "
            "next_attempt_at) VALUES ('kobotoolbox', 'demo', 'uuid-3', %s, %s, %s)",
            ("a" * 64, INBOX_RECEIVED, INBOX_RECEIVED),
        )
        if lacking:
            db.execute(f"ALTER TABLE webhook_inbox DROP COLUMN {lacking}")
    monkeypatch.setenv("COPROD_STATE", postgres_url)

    def versions() -> list[tuple[Any, ...]]:
        with psycopg.connect(postgres_url) as db:
            return db.execute("SELECT component, version FROM schema_versions ORDER BY 1").fetchall()

    before = versions()
    main(["status", str(folder), "--json"])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    inbox = json.loads(printed.out)["inbox"]
    assert versions() == before == [("state", 2)]
    if lacking:
        assert inbox["open"] is None and "Nothing was changed. Run `coprod migrate`" in inbox["unknown"]
    else:
        assert inbox["open"] == 1 and inbox.get("unknown") is None


def test_status_and_the_report_read_an_older_postgresql_state_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    """The same on PostgreSQL: the schema stays at 646c830's version, its flags and meta as they were."""
    _, folder = installed_on_postgresql(tmp_path, monkeypatch, postgres_url)
    monkeypatch.setenv("COPROD_STATE", postgres_url)

    def database() -> list[object]:
        with psycopg.connect(postgres_url) as db:
            return [
                db.execute("SELECT version FROM schema_versions WHERE component = 'state'").fetchall(),
                db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'flags' ORDER BY 1"
                ).fetchall(),
                db.execute("SELECT * FROM meta ORDER BY 1, 2").fetchall(),
                db.execute("SELECT count(*) FROM runs").fetchall(),
                postgres_flags(postgres_url),
            ]

    before = database()
    status = status_and_report(folder, tmp_path / "report.md", capsys)
    assert database() == before and before[0] == [(2,)]
    marked = sum(1 for s, _ in postgres_flags(postgres_url).values() if s in STAFF)
    assert status["flags"]["acknowledged"] + status["flags"]["wont_fix"] == marked > 0
