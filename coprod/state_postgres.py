"""The PostgreSQL state store: one database shared by several app hosts, workers and cron syncs.

Used as PostgreSQL is meant to be used rather than with coordination of our own: a connection
pool (psycopg_pool) for the store's short transactions, and for each recipe's run an advisory
lock held by a connection of its own. The server releases an advisory lock when the connection
that holds it ends, so a killed worker, a crashed host or a cut network never blocks a recipe:
with the keepalive settings below, the server notices a vanished client within about a minute.

Connection details come from the ``postgresql://user@host:port/database`` address; a password
is best kept out of it (``PGPASSWORD`` or ``~/.pgpass``, read by libpq), and it is never shown:
messages name the address without its password.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from coprod.postgres_words import connect_failure_in_words
from coprod.schema import Upgrade, stored_version, up_to_date, upgrade
from coprod.state import LockLost, RunLocked, StoreLocation, StoreUnavailable, locked_message, now_text
from coprod.state_sql import SQLStateStore

LOCK_POLL = 0.1
POOL_MAX = 4
POOL_WAIT = 30.0
"""Seconds a sync or a worker waits for a connection before saying the store is unavailable."""
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq keepalives: a client notices a server (or network) gone within about a minute."""
SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 30",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
)
"""Set on each lock connection, so the server drops a vanished client's locks within a minute."""


def advisory_key(kind: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the same on every host and version)."""
    digest = hashlib.blake2b(f"coprod:{kind}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def qmarks(sql: str) -> str:
    """The shared queries use ``?``; psycopg wants ``%s`` (no query here has a literal ``?`` or ``%``)."""
    return sql.replace("?", "%s")


class PgSql:
    """A psycopg connection inside a transaction, behind the interface the shared queries use."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(qmarks(sql), tuple(params))
        return list(cur.fetchall()) if cur.description else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(qmarks(sql), tuple(params)).rowcount

    def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            with self.conn.cursor() as cur:
                cur.executemany(qmarks(sql), params)

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        row = self.conn.execute(qmarks(sql), tuple(params)).fetchone()
        assert row is not None
        return int(row[0])


def unavailable(exc: Exception) -> bool:
    """The server cannot be reached or ended the session (restarted, shut down, connection cut):
    the store is unavailable, as opposed to a query the server refused."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    return not state or state.startswith(("08", "57P"))


class PgPool:
    """A connection pool made lazily in each process: a connection must not cross a fork
    (gunicorn forks workers from a process that may already have built the app).

    Each connection is checked as it is taken (``check_if_ended``), so connections a server restart
    or a network cut ended are replaced rather than handed out. When no connection can be had
    within ``wait`` seconds, or the server goes away mid-transaction, the caller gets
    StoreUnavailable, naming the store without its password.
    """

    def __init__(
        self, location: StoreLocation, name: str, wait: float = POOL_WAIT, synchronous_commit: bool = True
    ) -> None:
        assert location.url is not None
        self.location = location
        self.url = location.url
        self.name = name
        self.wait = wait
        self.synchronous_commit = synchronous_commit
        self._pool: ConnectionPool[Any] | None = None
        self._pid = 0
        self._mutex = threading.Lock()

    def get(self) -> ConnectionPool[Any]:
        with self._mutex:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=POOL_MAX,
                    kwargs={"autocommit": True, "application_name": self.name, **KEEPALIVE},
                    check=check_if_ended,
                    configure=None if self.synchronous_commit else _commit_without_waiting_for_disk,
                    open=True,
                    timeout=self.wait,
                )
                self._pid = os.getpid()
            return self._pool

    @contextmanager
    def transaction(self) -> Iterator[PgSql]:
        with self._translated(), self.get().connection() as conn, conn.transaction():
            yield PgSql(conn)

    @contextmanager
    def statements(self) -> Iterator[PgSql]:
        """A pooled connection with no transaction around it: each statement commits by itself.
        For reads, and for writes of one statement: one round trip each, where a transaction
        adds two (BEGIN, COMMIT), which a delivery's answer would wait for."""
        with self._translated(), self.get().connection() as conn:
            yield PgSql(conn)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.Error, PoolTimeout) as exc:
            if unavailable(exc):
                raise StoreUnavailable(connect_error(self.location, exc)) from None
            raise

    def close(self) -> None:
        with self._mutex:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None


def check_if_ended(conn: psycopg.Connection[Any]) -> None:
    """Raise if the server has ended this idle connection, so the pool replaces it.

    A server that ends a session (a restart, ``pg_terminate_backend``, a shutdown) sends it an
    error and closes the socket, so the idle connection's socket has something to read; a healthy
    idle connection has nothing. Only then is the server asked (one empty query, which fails on an
    ended connection): a delivery's answer no longer waits for a round trip to the server (and
    the server's CPU) before its own query, as it did with psycopg_pool's ``check_connection``.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    if _has_something_to_read(conn.fileno()):  # the server said something (most likely goodbye): ask it
        ConnectionPool.check_connection(conn)


def _has_something_to_read(fd: int) -> bool:
    """Whether a socket has something to read, without waiting: ``poll`` (any descriptor number),
    or ``select`` where there is no ``poll`` (Windows, where it takes sockets of any number)."""
    if hasattr(select, "poll"):
        waiting = select.poll()
        waiting.register(fd, select.POLLIN | select.POLLPRI)
        return bool(waiting.poll(0))
    readable, _, urgent = select.select([fd], [], [fd], 0)
    return bool(readable or urgent)


def _commit_without_waiting_for_disk(conn: psycopg.Connection[Any]) -> None:
    """A commit returns once the server has the change, before it reaches the disk (PostgreSQL
    writes it within a fraction of a second): it survives the client, or this host, dying; only a
    crash of the database server's machine in that fraction of a second loses it."""
    conn.execute("SET synchronous_commit = off")


def connect_error(location: StoreLocation, exc: Exception) -> str:
    """A connection failure in words, with the address but never a password: the driver's own
    words can quote it (libpq: 'invalid percent-encoded token: "<the password as typed>"'). The
    common failures are said in plain words, with what to check, and libpq's reason kept after them
    as a short detail: 'connection failed: connection to server at "10.0.0.5", port 5432 failed:
    Connection refused' told a data officer nothing they could act on."""
    first = _first_line(location, exc)
    plain = connect_failure_in_words(first)
    said = f"{plain.words} (detail: {plain.detail})" if plain is not None else first
    return f"cannot reach the PostgreSQL state store at {location}: {said}"


def _first_line(location: StoreLocation, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return location.without_password(first)


def read_error(location: StoreLocation, exc: Exception) -> str:
    """A database error after connecting in words, with the address but never a password."""
    return f"cannot read the PostgreSQL state store at {location}: {_first_line(location, exc)}"


def direct_connection(location: StoreLocation, **extra: Any) -> psycopg.Connection[Any]:
    """A connection of its own (not from the pool), or StoreUnavailable in words."""
    try:
        return psycopg.connect(
            make_conninfo(location.url or "", connect_timeout=10, **KEEPALIVE, **extra), autocommit=True
        )
    except psycopg.Error as exc:
        raise StoreUnavailable(connect_error(location, exc)) from None


def migrate(location: StoreLocation, component: str) -> Upgrade:
    """Bring one component's tables up to date. On a connection of its own, made at once, so an
    unreachable server is said in words when the store is opened (not after the pool's long
    wait); under an advisory lock, so of two hosts starting at once one migrates and the other
    waits, then finds nothing to do. A store already current is only read: no lock is waited for."""
    with direct_connection(location) as conn:
        sql = PgSql(conn)
        current = up_to_date(component, "postgresql", sql.rows)
        if current is not None:
            return current
        with conn.transaction():
            sql.rows("SELECT pg_advisory_xact_lock(?)", (advisory_key("migrate", "schema"),))
            return upgrade(component, "postgresql", sql.rows, now_text())


def state_version(location: StoreLocation) -> int | None:
    """The state's schema version, read on a connection of its own without creating anything; None
    where the database holds no state: the run history's table is in every state store, versioned or
    from before versioning, and a sync, ``coprod migrate`` or ``coprod state copy`` made it."""
    with direct_connection(location) as conn:
        sql = PgSql(conn)
        try:
            if not sql.rows("SELECT 1 WHERE to_regclass('runs') IS NOT NULL"):
                return None
            return stored_version("state", "postgresql", sql.rows)
        except psycopg.Error as exc:
            # Connected, then refused (a user who may not read the tables, a server shutting
            # down): said in words, as a failure to connect is, not as something unexpected.
            raise StoreUnavailable(read_error(location, exc)) from None


class PgTransactions:
    """Short transactions from the process's pool (the state store's and the inbox's alike)."""

    _pool: PgPool

    @contextmanager
    def _tx(self) -> Iterator[PgSql]:
        with self._pool.transaction() as sql:
            yield sql

    @contextmanager
    def _read(self) -> Iterator[PgSql]:
        """Reads need no transaction (as with SQLite, each statement sees the latest commits)."""
        with self._pool.statements() as sql:
            yield sql

    _single = _read
    """A write of one statement is atomic by itself."""

    def close(self) -> None:
        self._pool.close()


class PostgresStateStore(PgTransactions, SQLStateStore):
    engine = "postgresql"

    def __init__(self, location: StoreLocation, *, read_as: int | None = None) -> None:
        assert location.url is not None
        self.location = location
        self._pool = PgPool(location, "coprod state")
        self._lock_conns: dict[str, psycopg.Connection[Any]] = {}
        if read_as is None:
            self.upgrades = [migrate(location, "state")]
            return
        try:
            self.upgrades = self._read_as_it_is(read_as)  # reads only: nothing changed, no lock waited for
        except BaseException:
            self._pool.close()
            raise

    def save_flags(self, recipe: str, flags: dict[str, Any]) -> None:
        self._still_locked(recipe)
        super().save_flags(recipe, flags)

    # lock ----------------------------------------------------------------------------------------

    @contextmanager
    def lock(self, recipe: str, timeout: float = 10.0) -> Iterator[None]:
        """The recipe's advisory lock, on a connection of its own for as long as the run lasts."""
        started = now_text()
        name = f"coprod run {socket.gethostname()} {os.getpid()} {started}"
        conn = direct_connection(self.location, application_name=name[:63])
        try:
            for statement in SERVER_KEEPALIVE:
                conn.execute(statement)
            key = advisory_key("run", recipe)
            deadline = time.monotonic() + timeout
            while not PgSql(conn).rows("SELECT pg_try_advisory_lock(?)", (key,))[0][0]:
                if time.monotonic() >= deadline:
                    raise RunLocked(locked_message(recipe, _holder(conn, key), timeout))
                time.sleep(min(LOCK_POLL, max(0.0, deadline - time.monotonic())))
            self._lock_conns[recipe] = conn
            try:
                yield
            finally:
                self._lock_conns.pop(recipe, None)
        finally:
            conn.close()  # ending the session releases the advisory lock

    def run_going(self, recipe: str) -> bool | None:
        """Whether a session holds the recipe's advisory lock in this database, from ``pg_locks``
        (which any user may read): nothing is locked, or waited for, by asking."""
        key = advisory_key("run", recipe)
        with self._read() as sql:
            return bool(
                sql.rows(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                    "AND classid::bigint = ? AND objid::bigint = ? "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
                )
            )

    def _still_locked(self, recipe: str) -> None:
        """Before saving, prove the run still holds its lock: if its connection was cut, another
        run may have started, and saving now could undo that run's work."""
        conn = self._lock_conns.get(recipe)
        if conn is None:
            return
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            raise LockLost(
                f"the connection holding recipe '{recipe}''s run lock on the state database was cut, "
                "so another run may have started: nothing was saved to the state store. The flags "
                "written to the tools are kept (writes are matched by fingerprint); the next run "
                "finishes the job."
            ) from None


def _holder(conn: psycopg.Connection[Any], key: int) -> str:
    """'host pid started' of the session holding the advisory lock in this database, from its
    application name. pg_locks lists every database's locks, and advisory locks are the database's
    own: another coprod database on the same server, with a recipe of the same name, holds the same
    key, and its holder is not the one this run waits for."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    name = str(row[0]) if row and row[0] else ""
    return name.removeprefix("coprod run ") if name.startswith("coprod run ") else ""
