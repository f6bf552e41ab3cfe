"""recipes/deploy/README.md followed on a real PostgreSQL: the database and role it makes give coprod
every right it needs and no more, the move from SQLite keeps everything, and a dump restores."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import psycopg
import pytest

from coprod.cli import main
from coprod.config import load_recipe
from coprod.state import RunLocked, StateStore
from coprod.sync import run
from fakes import ROOT
from fakes.postgres import PostgresServer

README = ROOT / "recipes" / "deploy" / "README.md"
DAY = "2026-11-20"


def database_sql() -> list[str]:
    """The statements of the README's "1. The database", for a role and a database named ``app``
    rather than coprod (the test server's own superuser is called coprod)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### 1. The database") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line.split("--")[0].strip() for line in block.group(1).splitlines()]
    statements = [s.strip() for s in " ".join(lines).split(";") if s.strip()]
    return [re.sub(r"\bcoprod\b", "app", s).replace("'the password'", "'pw'") for s in statements]


@pytest.fixture
def app_database(postgres_server: PostgresServer):  # noqa: ANN201 - the address, as coprod's own role
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        for statement in database_sql():
            admin.execute(statement)
    try:
        yield f"postgresql://app@/app?host={postgres_server.base}&port={postgres_server.port}"
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
            admin.execute("DROP DATABASE IF EXISTS appcheck WITH (FORCE)")
            admin.execute("DROP ROLE IF EXISTS app")


def test_the_readme_makes_a_role_that_is_no_superuser_and_a_database_only_it_may_use(
    app_database: str, postgres_server: PostgresServer
) -> None:
    assert [s.split()[0:2] for s in database_sql()] == [
        ["CREATE", "ROLE"],
        ["CREATE", "DATABASE"],
        ["REVOKE", "CONNECT"],
        ["ALTER", "ROLE"],
    ]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        role = admin.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolconfig FROM pg_roles WHERE rolname = 'app'"
        ).fetchone()
        assert role == (False, False, False, ["idle_session_timeout=0"])
        admin.execute("CREATE ROLE other LOGIN")
        try:
            other = app_database.replace("app@", "other@")
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(other).close()
        finally:
            admin.execute("DROP ROLE other")


def test_moving_a_sqlite_state_into_the_readmes_database_keeps_everything(
    demo: Path, app_database: str, postgres_server: PostgresServer, tmp_path: Path, capsys
) -> None:
    """The README's steps 3 to 5 and its backup: copy, migrate (up to date), a sync that finds
    nothing to write, a run lock naming its holder, then pg_dump and pg_restore as it says."""
    assert main(["sync", str(demo), "--date", DAY]) == 0
    sqlite_state = demo / ".coprod" / "state.sqlite"
    before = StateStore.open(sqlite_state)
    flags = before.known_flags("demo")
    before.close()
    capsys.readouterr()

    assert main(["state", "copy", str(sqlite_state), app_database]) == 0  # step 3
    assert f"flags          {len(flags)} rows" in capsys.readouterr().out
    assert main(["migrate", "--state", app_database]) == 0  # step 5
    assert capsys.readouterr().out.count("up to date") == 2
    result = run(load_recipe(demo, env={"COPROD_STATE": app_database}), run_date=date(2026, 11, 20))
    assert result.exit_code == 0 and not result.changed, "the copy lost something: the sync wrote again"

    store = StateStore.open(app_database)
    try:
        assert store.known_flags("demo") == flags
        with store.lock("demo"), pytest.raises(RunLocked, match=r"\(process \d+ on "):
            other = StateStore.open(app_database)
            try:
                with other.lock("demo", timeout=0.2):
                    pass
            finally:
                other.close()
    finally:
        store.close()

    dump = tmp_path / "coprod.dump"
    server = _server_options(postgres_server)
    for command in (
        ["pg_dump", "--format=custom", f"--file={dump}", *server, "app"],
        ["createdb", *server, "--owner=app", "appcheck"],
        ["pg_restore", *server, "--dbname=appcheck", "--no-owner", "--role=app", str(dump)],
    ):
        subprocess.run([str(postgres_server.bin / command[0]), *command[1:]], check=True, capture_output=True)
    restored = app_database.replace("/app?", "/appcheck?")
    assert main(["migrate", "--state", restored]) == 0
    assert capsys.readouterr().out.count("up to date") == 2
    again = StateStore.open(restored)
    try:
        assert again.known_flags("demo") == flags
    finally:
        again.close()


def _server_options(postgres_server: PostgresServer) -> list[str]:
    """The options pg_dump, createdb and pg_restore reach the suite's server with, as coprod's role."""
    return ["--host", str(postgres_server.base), "--port", str(postgres_server.port), "--username", "coprod"]


def test_the_worker_template_runs_exactly_what_the_worker_unit_runs() -> None:
    """coprod-worker@.service (several workers on one host) must not drift from coprod-worker.service."""

    def settings(name: str) -> list[str]:
        text = (ROOT / "recipes" / "deploy" / name).read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line and not line.startswith(("#", "Description="))]

    assert settings("coprod-worker@.service") == settings("coprod-worker.service")


def restore_sql() -> list[str]:
    """The statements the README's backup section runs before pg_restore, after a mistake, for the
    database ``app`` (as :func:`database_sql`)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Backing up several hosts (PostgreSQL)") :]
    section = section[section.index("To restore") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None, "the README's restore makes the database with no SQL of its own"
    lines = [line.split("--")[0].strip() for line in block.group(1).splitlines()]
    statements = [s.strip() for s in " ".join(lines).split(";") if s.strip()]
    return [re.sub(r"\bcoprod\b", "app", s) for s in statements]


def test_a_database_restored_as_the_readme_says_is_still_closed_to_other_roles(
    demo: Path, app_database: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The README restored with `createdb --owner=coprod coprod` then pg_restore: a dump of one
    database holds its tables, not `REVOKE CONNECT ... FROM PUBLIC`, so the restored database let
    every role on the server connect (walkthrough: its datacl came back empty, the default)."""
    assert main(["sync", str(demo), "--date", DAY]) == 0
    assert main(["state", "copy", str(demo / ".coprod" / "state.sqlite"), app_database]) == 0
    before = StateStore.open(app_database)
    flags = before.known_flags("demo")
    before.close()
    dump = tmp_path / "coprod.dump"
    server = _server_options(postgres_server)
    subprocess.run(
        [str(postgres_server.bin / "pg_dump"), "--format=custom", f"--file={dump}", *server, "app"],
        check=True,
        capture_output=True,
    )
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        for statement in restore_sql():
            admin.execute(statement)
    subprocess.run(
        [
            str(postgres_server.bin / "pg_restore"),
            *server,
            "--dbname=app",
            "--no-owner",
            "--role=app",
            str(dump),
        ],
        check=True,
        capture_output=True,
    )
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute("CREATE ROLE other LOGIN")
        try:
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(app_database.replace("app@", "other@")).close()
        finally:
            admin.execute("DROP ROLE other")
    again = StateStore.open(app_database)
    try:
        assert again.known_flags("demo") == flags
    finally:
        again.close()
