"""The SQLite state store: one file, the embedded default for one charity on one machine.

SQLite in WAL mode lets the webhook app and a cron sync share the file. The per-recipe run lock
is a lock file beside it, held with the system's file lock (``flock``; ``LockFileEx`` on Windows):
the operating system releases it when its holder ends, however it ends (even ``kill -9``), so a killed run never blocks the next one.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coprod.locking import HOLDER_OFFSET, try_flock
from coprod.state import RunLocked, StoreLocation, StoreUnavailable, locked_message, now_text
from coprod.state_sql import SQLStateStore

LOCK_POLL = 0.1
"""Seconds between tries while waiting for another run of the recipe to end."""

BUSY_SECONDS = 30.0
"""How long a connection waits for another one's write to end (sqlite3's busy timeout)."""


def use_wal(conn: sqlite3.Connection, timeout: float = BUSY_SECONDS) -> None:
    """Put the file in WAL mode (it stays so: later connections find it there at once).

    Two connections opening a new file together (the app's receipts and its worker thread, two
    gunicorn processes, a sync beside them) race here: the switch needs the file to itself, and
    SQLite answers "database is locked" at once, without waiting for the busy timeout, when the
    other connection is in its first write (waiting for it could deadlock). The first delivery was
    then answered 500. The other connection's write takes milliseconds: try again until it is
    done, for as long as a write would be waited for.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class _Sql:
    """sqlite3 behind the small interface the shared queries use (``?`` placeholders already)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, params)

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.conn.execute(sql, tuple(params)).fetchone()[0])


def cannot_open(path: Path, exc: OSError | sqlite3.Error) -> str:
    """Why the state file could not be opened, and what to do: the folder is not coprod's to write
    in, or the file is not a state file (SQLite's and the system's own words say which)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
        return (
            f"the state file {path} is not a coprod state file ({reason}): restore it from a backup, "
            "or move it away to start afresh (every flag is then new again)"
        )
    if path.exists() and not may_write(path):  # most often another user's: say whose, and the ways out
        return not_this_users(path, "state file")
    return (
        f"the state file {path} could not be opened ({reason}): check that the user running coprod "
        f"may write in {path.parent}, or set COPROD_STATE (or [state] path) to a file it may write"
    )


def cannot_read(path: Path, exc: OSError | sqlite3.Error, what: str = "state file") -> str:
    """Why a file that is only read (``coprod status``, the source of ``coprod state copy``) could
    not be: the advice is about reading it, not about writing where it is."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
        return f"the {what} {path} is not a coprod state file ({reason}): nothing in it was changed"
    return (
        f"the {what} {path} could not be read ({reason}): check that the user running coprod may read "
        f"it and its folder {path.parent}; nothing in it was changed"
    )


def read_only(path: Path, what: str = "state file") -> sqlite3.Connection:
    """A connection to ``path`` that writes nothing, not even beside it, or StoreUnavailable in words.

    SQLite's read-only mode (``mode=ro``) still makes ``-wal`` and ``-shm`` files beside a file in WAL
    mode, and where its folder is not this user's to write (a root-owned backup read by the
    ``coprod`` user) it fails: "attempt to write a readonly database". A file with no ``-wal`` or
    ``-journal`` beside it is whole by itself, so it is read as ``immutable`` (no locks, nothing
    made). One with writes still in a ``-wal`` beside it (a coprod using it now, or one stopped
    without closing it) is read through ``mode=ro``, which needs SQLite's ``-shm`` file beside it
    (there already, or made): the only way to read those writes. Used as the only reader of a file no
    coprod writes meanwhile (``coprod state copy`` asks that the app and the syncs are stopped)."""
    pending = [p for p in (_beside(path, "-wal"), _beside(path, "-journal")) if _has_bytes(p)]
    options = "mode=ro" if pending else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?{options}",
            uri=True,
            timeout=BUSY_SECONDS,
            check_same_thread=False,
            isolation_level=None,
        )
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opening is lazy: fail here
        return conn
    except (OSError, sqlite3.Error) as exc:
        said = cannot_read(path, exc, what)
        if pending:
            said += (
                f". {pending[0].name} beside it holds writes not yet in the file (a coprod using it now, "
                "or one stopped without closing it), and SQLite reads them only with a -shm file it makes "
                f"in {path.parent}: stop what uses it, then copy it as the user who owns it"
            )
        raise StoreUnavailable(said) from None


def may_write(path: Path) -> bool:
    """Whether this user may write ``path`` and make files in its folder, as SQLite's read-only mode
    makes its ``-shm`` (and ``-wal``) beside a file in WAL mode."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def reader(path: Path, what: str = "state file") -> sqlite3.Connection:
    """A connection for a command that only reads, beside runs that may be writing (``coprod status``,
    ``check``, a report).

    SQLite's read-only mode (``mode=ro``) reads through the writers' ``-shm`` file, so it sees each
    write whole, and makes that file when it is not there (no run has the file open). A user who may
    read the state but not write in its folder (a monitoring user, or staff making a report as
    themselves) cannot make it, and that mode fails: "attempt to write a readonly database", where
    the README promises a command that only reads. That user reads the file as :func:`read_only`
    does: through the ``-shm`` file of the run that has writes pending, or, when none has, the file
    as it is. Should a sync start and fold its writes into the file during that read (it takes
    milliseconds), the reader may see a mix or an error, and running the command again reads it
    whole."""
    if may_write(path):
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    return read_only(path, what)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _has_bytes(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def not_this_users(path: Path, what: str) -> str:
    """A state file this user may not write: most often made by a run as another user (a first sync
    typed as root on a server whose cron runs coprod as ``coprod``), so say whose it is and the two
    ways out."""
    try:
        owner = f" (it belongs to {path.owner()})"
    except (OSError, KeyError, ImportError, NotImplementedError):  # a user gone; no owner() on Windows
        owner = ""
    return (
        f"the {what} {path} may not be written by the user running coprod{owner}: run coprod as the "
        "user the nightly sync and the webhook app run as (for example `sudo -u coprod` before the "
        f"command), or give that user the state's files (`chown -R coprod {path.parent}`); nothing "
        "was read or written"
    )


class SQLiteStateStore(SQLStateStore):
    """The state file. One instance per process; thread-safe."""

    engine = "sqlite"

    def __init__(self, location: StoreLocation, *, read_as: int | None = None) -> None:
        assert location.path is not None
        self.location = location
        self.path = location.path
        self._mutex = threading.RLock()
        self._memory_locks: dict[str, threading.Lock] = {}
        if read_as is not None and not location.memory:
            self._open_to_read(read_as)
            return
        conn = None
        try:
            if not location.memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_SECONDS, check_same_thread=False, isolation_level=None
            )
            if not location.memory:
                use_wal(conn)
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
            self.upgrades = self._migrate()
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise StoreUnavailable(cannot_open(self.path, exc)) from None

    def _open_to_read(self, version: int) -> None:
        """A file an older coprod left, or one this user may not write, read as it is
        (:func:`coprod.state.open_to_read`): a read-only connection (:func:`read_only`), so nothing
        (not the journal mode, not a table) is changed."""
        conn = read_only(self.path)
        self._conn = conn
        try:
            self.upgrades = self._read_as_it_is(version)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(cannot_read(self.path, exc)) from None
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[_Sql]:
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Sql(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[_Sql]:
        with self._mutex:
            yield _Sql(self._conn)

    # lock ----------------------------------------------------------------------------------------

    def lock_path(self, recipe: str) -> Path:
        """The recipe's lock file: beside the state file, ``state.sqlite.RECIPE.lock``."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", recipe)
        return self.path.with_name(f"{self.path.name}.{safe}.lock")

    @contextmanager
    def lock(self, recipe: str, timeout: float = 10.0) -> Iterator[None]:
        """The system's lock on the recipe's lock file (:mod:`coprod.locking`), taken on an open file
        of its own, so it also keeps out another thread of this process. The system drops it when
        the holder's process ends, so a run killed with SIGKILL leaves nothing to wait for. The file stays (removing it
        would let a waiter lock a name that no longer exists); it holds the holder's host and
        process id, for the message a waiting run gives.
        """
        if self.location.memory:
            with self._memory_lock(recipe, timeout):
                yield
            return
        path = self.lock_path(recipe)
        # A run that will write checks it may, before it reads or writes anything: the store is opened
        # read-only without a word when its file is another user's (made by a run as root, say), and
        # the first write would fail part-way, after the platforms were written to.
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise StoreUnavailable(not_this_users(self.path, "state file"))
        try:
            # not inherited by a child process (Python's default for os.open); binary on Windows too
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except PermissionError:
            raise StoreUnavailable(not_this_users(path, "run lock file")) from None
        try:
            deadline = time.monotonic() + timeout
            while not try_flock(fd):
                if time.monotonic() >= deadline:
                    raise RunLocked(locked_message(recipe, _holder(fd), timeout))
                time.sleep(min(LOCK_POLL, max(0.0, deadline - time.monotonic())))
            os.ftruncate(fd, 0)
            words = f"{socket.gethostname()} {os.getpid()} {now_text()}\n".encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, b" " * HOLDER_OFFSET + words)
            yield
        finally:
            os.close(fd)  # closing the only description of the file releases the lock

    def run_going(self, recipe: str) -> bool | None:
        """The lock file tried for an instant through a read-only descriptor of its own, as the
        files connector tells a live write from a killed one's leftovers: held, a run is going;
        free, it is let go at once (closing the descriptor). A lock file that is not there was
        never locked (a run makes it before it locks it), and none is made here."""
        if self.location.memory:
            with self._mutex:
                held = self._memory_locks.get(recipe)
            return held is not None and held.locked()
        try:
            fd = os.open(self.lock_path(recipe), os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return False
        except OSError:  # another user's lock file (a sync run as root, say): cannot be told
            return None
        try:
            return not try_flock(fd)
        except OSError:
            return None
        finally:
            os.close(fd)  # lets go of the lock if it was taken

    @contextmanager
    def _memory_lock(self, recipe: str, timeout: float) -> Iterator[None]:
        """An in-memory store (tests) has no file beside it: a lock per recipe in this process."""
        with self._mutex:
            held = self._memory_locks.setdefault(recipe, threading.Lock())
        if not held.acquire(timeout=max(timeout, 0.0)):
            raise RunLocked(locked_message(recipe, "", timeout))
        try:
            yield
        finally:
            held.release()


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file: 'host pid started' (empty if not written yet)."""
    try:
        os.lseek(fd, HOLDER_OFFSET, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""
