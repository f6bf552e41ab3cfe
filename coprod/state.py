"""The local state store: one SQLite file with ids, fingerprints, statuses, cursors and run history.

It never holds names, answers or message text: the platforms stay the system of record. What it
holds is enough to write back only the difference and to notice a source that suddenly shrank.

SQLite in WAL mode lets the webhook app and a cron sync share the file. The per-recipe run lock is
a lock file beside it, held with ``flock``: the operating system releases it when its holder ends,
however it ends (even ``kill -9``), so a killed run never blocks the next one. Callers only see
:meth:`StateStore.lock`; a store kept elsewhere (a database server) makes its lock its own way.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coprod.locking import try_flock
from coprod_core.flags import Severity, SubjectKind
from coprod_core.lifecycle import FlagStatus, KnownFlag

if TYPE_CHECKING:
    from coprod.config import LoadedRecipe

SCHEMA = """
CREATE TABLE IF NOT EXISTS flags (
    recipe TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    check_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    project_id TEXT,
    facts_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (recipe, fingerprint)
);
CREATE TABLE IF NOT EXISTS cursors (
    recipe TEXT NOT NULL, source TEXT NOT NULL, entity TEXT NOT NULL, cursor TEXT,
    PRIMARY KEY (recipe, source, entity)
);
CREATE TABLE IF NOT EXISTS row_counts (
    recipe TEXT NOT NULL, entity TEXT NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (recipe, entity)
);
CREATE TABLE IF NOT EXISTS meta (
    recipe TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
    PRIMARY KEY (recipe, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipe TEXT NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    summary TEXT
);
"""


class RunLocked(Exception):
    """Another run of the same recipe holds the lock."""

    exit_code = 6


LOCK_POLL = 0.1
"""Seconds between tries while waiting for another run of the recipe to end."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StateStore:
    """Thin, explicit access to the state file. One instance per process; thread-safe."""

    def __init__(self, conn: sqlite3.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path
        self._mutex = threading.RLock()
        self._memory_locks: dict[str, threading.Lock] = {}

    @classmethod
    def open(cls, path: str | Path) -> StateStore:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(SCHEMA)
        return cls(conn, path)

    def connection(self) -> sqlite3.Connection:
        """The raw connection, for modules with tables of their own (the webhook inbox)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # flags -------------------------------------------------------------------------------------

    def known_flags(self, recipe: str) -> dict[str, KnownFlag]:
        with self._mutex:
            rows = self._conn.execute("SELECT * FROM flags WHERE recipe = ?", (recipe,)).fetchall()
        return {
            r["fingerprint"]: KnownFlag(
                fingerprint=r["fingerprint"],
                check_id=r["check_id"],
                severity=Severity(r["severity"]),
                subject_kind=SubjectKind(r["subject_kind"]),
                subject_id=r["subject_id"],
                project_id=r["project_id"],
                facts_digest=r["facts_digest"],
                status=FlagStatus(r["status"]),
                first_seen=date.fromisoformat(r["first_seen"]),
                last_seen=date.fromisoformat(r["last_seen"]),
            )
            for r in rows
        }

    def save_flags(self, recipe: str, flags: dict[str, KnownFlag]) -> None:
        """Replace the recipe's remembered flags with ``flags`` in one transaction."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM flags WHERE recipe = ?", (recipe,))
            conn.executemany(
                "INSERT INTO flags VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        recipe,
                        k.fingerprint,
                        k.check_id,
                        k.severity.value,
                        k.subject_kind.value,
                        k.subject_id,
                        k.project_id,
                        k.facts_digest,
                        k.status.value,
                        k.first_seen.isoformat(),
                        k.last_seen.isoformat(),
                    )
                    for k in flags.values()
                ],
            )

    # cursors, counts, meta -----------------------------------------------------------------------

    def get_cursor(self, recipe: str, source: str, entity: str) -> str | None:
        with self._mutex:
            row = self._conn.execute(
                "SELECT cursor FROM cursors WHERE recipe=? AND source=? AND entity=?",
                (recipe, source, entity),
            ).fetchone()
        return row["cursor"] if row else None

    def set_cursor(self, recipe: str, source: str, entity: str, cursor: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cursors VALUES (?,?,?,?) ON CONFLICT(recipe, source, entity) "
                "DO UPDATE SET cursor=excluded.cursor",
                (recipe, source, entity, cursor),
            )

    def row_counts(self, recipe: str) -> dict[str, int]:
        with self._mutex:
            rows = self._conn.execute(
                "SELECT entity, rows FROM row_counts WHERE recipe=?", (recipe,)
            ).fetchall()
        return {r["entity"]: r["rows"] for r in rows}

    def set_row_counts(self, recipe: str, counts: dict[str, int]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO row_counts VALUES (?,?,?) ON CONFLICT(recipe, entity) DO UPDATE SET rows=excluded.rows",
                [(recipe, e, n) for e, n in counts.items()],
            )

    def get_meta(self, recipe: str, key: str) -> str | None:
        with self._mutex:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE recipe=? AND key=?", (recipe, key)
            ).fetchone()
        return row["value"] if row else None

    def set_meta(self, recipe: str, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            if value is None:
                conn.execute("DELETE FROM meta WHERE recipe=? AND key=?", (recipe, key))
            else:
                conn.execute(
                    "INSERT INTO meta VALUES (?,?,?) ON CONFLICT(recipe, key) DO UPDATE SET value=excluded.value",
                    (recipe, key, value),
                )

    # runs --------------------------------------------------------------------------------------

    def start_run(self, recipe: str, mode: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (recipe, mode, started_at) VALUES (?,?,?)", (recipe, mode, _now())
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        """``summary`` holds counts only (rows, flags, writes): never names or answers."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at=?, exit_code=?, summary=? WHERE id=?",
                (_now(), exit_code, json.dumps(summary, sort_keys=True), run_id),
            )

    def runs(self, recipe: str, limit: int = 20) -> list[dict[str, Any]]:
        with self._mutex:
            rows = self._conn.execute(
                "SELECT * FROM runs WHERE recipe=? ORDER BY id DESC LIMIT ?", (recipe, limit)
            ).fetchall()
        return [dict(r) for r in rows]

    # lock --------------------------------------------------------------------------------------

    def lock_path(self, recipe: str) -> Path:
        """The recipe's lock file: beside the state file, ``state.sqlite.RECIPE.lock``."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", recipe)
        state = Path(self.path)
        return state.with_name(f"{state.name}.{safe}.lock")

    @contextmanager
    def lock(self, recipe: str, timeout: float = 10.0) -> Iterator[None]:
        """Hold the recipe's run lock; wait up to ``timeout`` seconds, then raise RunLocked.

        An ``flock`` on the recipe's lock file, taken on a file description of its own, so it also
        keeps out another thread of this process. The kernel drops it when the holder's process
        ends, so a run killed with SIGKILL leaves nothing to wait for. The file stays (removing it
        would let a waiter lock a name that no longer exists); it holds the holder's host and
        process id, for the message a waiting run gives.
        """
        if str(self.path) == ":memory:":
            with self._memory_lock(recipe, timeout):
                yield
            return
        path = self.lock_path(recipe)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while not try_flock(fd):
                if time.monotonic() >= deadline:
                    raise RunLocked(_locked_message(recipe, _holder(fd), timeout))
                time.sleep(min(LOCK_POLL, max(0.0, deadline - time.monotonic())))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{socket.gethostname()} {os.getpid()} {_now()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the only description of the file releases the lock

    @contextmanager
    def _memory_lock(self, recipe: str, timeout: float) -> Iterator[None]:
        """An in-memory store (tests) has no file beside it: a lock per recipe in this process."""
        with self._mutex:
            held = self._memory_locks.setdefault(recipe, threading.Lock())
        if not held.acquire(timeout=max(timeout, 0.0)):
            raise RunLocked(_locked_message(recipe, "", timeout))
        try:
            yield
        finally:
            held.release()


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file: 'host pid started' (empty if not written yet)."""
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def _locked_message(recipe: str, holder: str, waited: float) -> str:
    host, _, rest = holder.partition(" ")
    pid, _, since = rest.partition(" ")
    who = f" (process {pid} on {host}, started {since})" if pid else ""
    return (
        f"another run of recipe '{recipe}' is still going{who}; this run waited {waited:g} seconds, "
        "then stopped without reading or writing anything. Run it again once that run has finished."
    )


def state_path(loaded: LoadedRecipe) -> Path:
    """``COPROD_STATE`` wins, then the recipe's ``[state] path``, then ``.coprod/state.sqlite`` beside it."""
    if loaded.env.get("COPROD_STATE"):
        return Path(loaded.env["COPROD_STATE"]).expanduser()
    configured = loaded.recipe.state.path
    if configured:
        p = Path(configured).expanduser()
        return p if p.is_absolute() else loaded.dir / p
    return loaded.dir / ".coprod" / "state.sqlite"
