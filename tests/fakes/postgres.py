"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started in a temporary
data directory on a Unix socket (no TCP port at all), and stopped after the session.
``benchmarks/bench_postgres.py`` starts one too, durable and on 127.0.0.1.

``.ci/run`` installs the package when it is missing. Run as root (as CI is), the server runs as
the ``postgres`` system user, which PostgreSQL insists on; the tests connect as ``coprod`` with
trust authentication over the socket, which only this machine can reach.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


class PostgresMissing(RuntimeError):
    pass


def bindir() -> Path:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH, in /usr/lib/postgresql/N/bin)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresMissing(
        "PostgreSQL is not installed: the state-store tests run against a real server. "
        "Install Debian's package (apt-get install postgresql), as .ci/run does."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``durable``: fsync on, as a real server runs (the tests need no durability; a benchmark
    measures with it). ``tcp``: also listen on 127.0.0.1, as app hosts reach a real server, and
    ``url()`` names it so."""

    def __init__(self, durable: bool = False, tcp: bool = False) -> None:
        self.bin = bindir()
        self.tcp = tcp
        self.base = Path(tempfile.mkdtemp(prefix="coprod-pg-"))  # short: a socket path has a length limit
        self.data = self.base / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "coprod", "-A", "trust", "-E", "UTF8", "--no-sync")
        listen = "127.0.0.1" if tcp else ""
        options = f"-k {self.base} -c listen_addresses='{listen}' -p {self.port} -c max_connections=200"
        if not durable:
            options += " -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), "-w", "start")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        if self.tcp:
            return f"postgresql://coprod@127.0.0.1:{self.port}/{database}"
        return f"postgresql://coprod@/{database}?host={self.base}&port={self.port}"

    def pid(self) -> int:
        """The server's main process (its sessions are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def wait_until_sessions_end(url: str, pid: int, timeout: float = 10.0) -> None:
    """Wait until the server has ended the run-lock session of process ``pid``, killed by a test.

    The server ends a dead client's session, and with it the advisory lock, when it reads the
    closed socket: a moment after the process died, not at the moment its parent saw it die. A
    test then takes the lock in one try, proving the lock went with the session (no lease, no
    timeout), instead of timing how long the lock took to become free.
    """
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as admin:
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s", (f"coprod run % {pid} %",)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, f"the server kept process {pid}'s session for {timeout:g} s"
            time.sleep(0.02)
