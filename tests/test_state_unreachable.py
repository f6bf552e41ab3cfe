"""A PostgreSQL state store that cannot be reached, said in words a data officer can act on.

libpq's own words ('connection failed: connection to server at "127.0.0.1", port 5432 failed:
Connection refused') were all coprod said (newcomer walkthrough): they name neither what to check
nor where the address is set. Each common failure is said in plain words, with the address
without its password, and libpq's reason kept as a short detail.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import psycopg
import pytest

from coprod.cli import main
from coprod.state import StateStore, StoreUnavailable, parse_location
from coprod.state_postgres import connect_error
from fakes import ROOT
from fakes.postgres import PostgresServer

WHERE = "(COPROD_STATE in .env or the environment, the recipe's [state] path, or --state)"
PGPASS = "the .pgpass file of the user coprod runs as (recipes/deploy/README.md)"


def _demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(ROOT / "recipes" / "demo", target, ignore=shutil.ignore_patterns(".coprod", "coprod-*"))
    return target


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: taken from the system, then let go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refused(url: str) -> str:
    with pytest.raises(StoreUnavailable) as raised:
        StateStore.open(url).close()
    return str(raised.value)


def test_a_server_not_listening_is_said_in_words_by_sync_and_status_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    demo = _demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_STATE", f"postgresql://coprod:s3cret@127.0.0.1:{port}/coprod")
    said = (
        f"cannot reach the PostgreSQL state store at postgresql://coprod@127.0.0.1:{port}/coprod: the "
        f"PostgreSQL server at 127.0.0.1:{port} is not accepting connections: is PostgreSQL running there, "
        f"and is the address right (host and port, in {WHERE[1:-1]})? (detail: Connection refused)"
    )
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 3
    out = capsys.readouterr().out
    assert f"coprod: {said}\n" in out
    assert main(["status", str(demo)]) == 3
    out += capsys.readouterr().out
    assert f"coprod: recipe 'demo': {said}\n" in out
    assert "s3cret" not in out and "connection failed" not in out


def test_a_database_that_does_not_exist_is_said_with_what_to_do(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("t_not_made")
    said = _refused(url)
    assert said == (
        f"cannot reach the PostgreSQL state store at {parse_location(url)}: the PostgreSQL server at the "
        f"socket {postgres_server.base}/.s.PGSQL.{postgres_server.port} on this machine has no database "
        "named t_not_made: create it (recipes/deploy/README.md, 'Several hosts on one PostgreSQL', step 1), "
        f'or correct the name at the end of the address {WHERE} (detail: database "t_not_made" does not exist)'
    )


def test_a_user_that_does_not_exist_is_said_with_what_to_do(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("postgres").replace("postgresql://coprod@", "postgresql://nobody:s3cret@")
    said = _refused(url)
    assert "the PostgreSQL server at the socket " in said
    assert (
        f"has no user named nobody: create it (recipes/deploy/README.md, 'Several hosts on one PostgreSQL', step 1), or correct the user in the address {WHERE} (detail: role \"nobody\" does not exist)"
        in said
    )
    assert said.startswith("cannot reach the PostgreSQL state store at postgresql://nobody@/postgres: ")
    assert "s3cret" not in said


def test_a_host_name_not_found_is_said_with_what_to_check() -> None:
    said = _refused("postgresql://coprod:s3cret@db.coprod.invalid:5432/coprod")  # .invalid is never found
    assert said.startswith(
        "cannot reach the PostgreSQL state store at postgresql://coprod@db.coprod.invalid:5432/coprod: the "
        f"host name db.coprod.invalid could not be found: check how it is spelt in the address {WHERE}, and "
        "that this machine is on a network that knows it (detail: "
    )
    assert "s3cret" not in said


# libpq's words for a password refused (a server with scram-sha-256 in pg_hba.conf, which the
# suite's server, trusting every local connection, never asks), as PostgreSQL 15 and psycopg 3 said
# them to a wrong password and to an address without one.
@pytest.mark.parametrize(
    ("libpq", "words"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password '
            'authentication failed for user "coprod"',
            "the PostgreSQL server at 10.0.0.5:5432 did not accept the password for the user coprod: check the "
            f"user and password in the address {WHERE} or in {PGPASS}, or set that user's password in "
            'PostgreSQL (detail: password authentication failed for user "coprod")',
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: fe_sendauth: no '
            "password supplied",
            "the PostgreSQL server at 10.0.0.5:5432 asks for a password, and none was given: put it in the "
            f"address, postgresql://user:password@host:port/database {WHERE}, or in {PGPASS} (detail: "
            "fe_sendauth: no password supplied)",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: timeout expired',
            f"no answer from 10.0.0.5:5432: is the address right {WHERE}, is the machine up, and does a "
            "firewall let this one through to that port? (detail: timeout expired)",
        ),
        (  # not one of those: said as libpq says it
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: SSL error: bad record',
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: SSL error: bad record',
        ),
    ],
)
def test_a_password_refused_or_missing_and_no_answer_are_said_in_words(libpq: str, words: str) -> None:
    location = parse_location("postgresql://coprod:s3cret@10.0.0.5:5432/coprod")
    assert connect_error(location, psycopg.OperationalError(libpq)) == (
        f"cannot reach the PostgreSQL state store at postgresql://coprod@10.0.0.5:5432/coprod: {words}"
    )
