"""The inbox: every accepted delivery, recorded durably before it is answered.

A row holds identifiers and a SHA-256 digest of the body, never the body itself (it may carry a
person's answers). The platforms stay the system of record: a re-check re-reads them.

Life of an event: ``pending`` -> ``claimed`` by one worker (with a lease it keeps renewing) ->
``done``. A failed re-check puts the event back to ``pending`` with a later ``next_attempt_at``;
a worker that dies leaves a claim whose lease runs out, and the next worker takes it again. So a
crash between receipt and write-back loses nothing, and a re-send is recognised by its delivery
id (KoboToolbox ``meta/rootUuid``, Standard Webhooks ``webhook-id``) and not re-checked twice.

The inbox has its own SQLite file beside the sync's state file. SQLite lets one writer at a time into
a file, and a re-check's sync commits (each with an fsync) held receipts waiting for up to ~35 ms
when the two shared one; apart, a receipt waits only for other receipts and the worker's short claims.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    recipe TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body_sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claim_token TEXT,
    lease_until REAL,
    done_at REAL,
    last_error TEXT,
    UNIQUE (platform, recipe, delivery_id)
);
CREATE INDEX IF NOT EXISTS webhook_inbox_open ON webhook_inbox (status, recipe);
CREATE INDEX IF NOT EXISTS webhook_inbox_claim ON webhook_inbox (claim_token);
"""

PENDING, CLAIMED, DONE = "pending", "claimed", "done"

RECEIPT_CHECKPOINT_PAGES = 10_000
"""About 40 MB of WAL: far more than a worker ever lets build up between its own checkpoints."""


@dataclass(frozen=True)
class Claim:
    """Events of one recipe taken by one worker for one re-check."""

    recipe: str
    token: str
    event_ids: list[int]
    attempts: int
    """The most attempts any of these events has had (drives the back-off)."""


@dataclass(frozen=True)
class Backlog:
    pending: int
    retrying: int
    oldest_pending_age: float | None


class Inbox:
    """The ``webhook_inbox`` table in the inbox file. One per process and role; safe across threads.

    The connection is opened lazily and again after a fork, because gunicorn may fork a process
    that already built the app, and a SQLite connection must not cross a fork.

    ``for_receipts``: this connection answers deliveries, so it leaves WAL checkpoints (which fsync)
    to the worker's connection, which runs one after each round of work. It still checkpoints
    itself if the WAL grows past ``RECEIPT_CHECKPOINT_PAGES`` (no worker running), to bound the file.
    """

    def __init__(
        self, path: str | Path, fsync_each_receipt: bool = False, for_receipts: bool = False
    ) -> None:
        self.path = Path(path)
        self.fsync_each_receipt = fsync_each_receipt
        self.for_receipts = for_receipts
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0

    def _conn(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # synchronous=NORMAL: a committed receipt survives the app being killed (the case that
            # matters here), and commits cost microseconds instead of an fsync each. After a power
            # cut the last receipts may be lost; the nightly sync covers them.
            conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync_each_receipt else 'NORMAL'}")
            if self.for_receipts:
                conn.execute(f"PRAGMA wal_autocheckpoint={RECEIPT_CHECKPOINT_PAGES}")
            conn.executescript(SCHEMA)
            self._db, self._pid = conn, os.getpid()
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn()

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (a PASSIVE checkpoint: receipts carry on meanwhile)."""
        with self._read() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    # receipt -------------------------------------------------------------------------------------

    def record(
        self,
        platform: str,
        recipe: str,
        delivery_id: str,
        body_sha256: str,
        subject: str = "",
        now: float | None = None,
    ) -> int | None:
        """Record a delivery. Returns its event id, or None when this delivery was already recorded."""
        now = time.time() if now is None else now
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO webhook_inbox "
                "(platform, recipe, delivery_id, subject, body_sha256, received_at, next_attempt_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (platform, recipe, delivery_id, subject, body_sha256, now, now),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None

    # work ----------------------------------------------------------------------------------------

    def due_recipes(self, now: float | None = None) -> list[str]:
        """Recipes with an event ready to work on and no live claim (one re-check at a time)."""
        now = time.time() if now is None else now
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT recipe FROM webhook_inbox WHERE "
                "(status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?)",
                (PENDING, now, CLAIMED, now),
            ).fetchall()
            live = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT recipe FROM webhook_inbox WHERE status = ? AND lease_until >= ?",
                    (CLAIMED, now),
                )
            }
        return sorted(r[0] for r in rows if r[0] not in live)

    def claim(self, recipe: str, lease_seconds: float, now: float | None = None) -> Claim | None:
        """Take every open event of ``recipe`` (pending, backing off, or abandoned) for one re-check.

        Nothing is claimed while another worker holds a live claim on the recipe, or when no event
        is due yet (all are backing off): then the recipe is left for later.
        """
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        open_events = "recipe = ? AND (status = ? OR (status = ? AND lease_until < ?))"
        with self._write() as conn:
            live = conn.execute(
                "SELECT 1 FROM webhook_inbox WHERE recipe = ? AND status = ? AND lease_until >= ? LIMIT 1",
                (recipe, CLAIMED, now),
            ).fetchone()
            due = conn.execute(
                "SELECT 1 FROM webhook_inbox WHERE recipe = ? AND "
                "((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?)) LIMIT 1",
                (recipe, PENDING, now, CLAIMED, now),
            ).fetchone()
            if live or not due:
                return None
            conn.execute(
                f"UPDATE webhook_inbox SET status = ?, claim_token = ?, lease_until = ? WHERE {open_events}",
                (CLAIMED, token, now + lease_seconds, recipe, PENDING, CLAIMED, now),
            )
            rows = conn.execute(
                "SELECT id, attempts FROM webhook_inbox WHERE claim_token = ? ORDER BY id", (token,)
            ).fetchall()
        if not rows:
            return None
        return Claim(
            recipe=recipe, token=token, event_ids=[r[0] for r in rows], attempts=max(r[1] for r in rows)
        )

    def renew(self, claim: Claim, lease_seconds: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._write() as conn:
            conn.execute(
                "UPDATE webhook_inbox SET lease_until = ? WHERE claim_token = ? AND status = ?",
                (now + lease_seconds, claim.token, CLAIMED),
            )

    def complete(self, claim: Claim, now: float | None = None) -> int:
        """Mark the claim's events done. Returns how many were still held by this claim."""
        now = time.time() if now is None else now
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE webhook_inbox SET status = ?, done_at = ?, claim_token = NULL, lease_until = NULL, "
                "last_error = NULL WHERE claim_token = ? AND status = ?",
                (DONE, now, claim.token, CLAIMED),
            )
            return cur.rowcount

    def fail(self, claim: Claim, reason: str, retry_in: float, now: float | None = None) -> None:
        """Put the claim's events back, to be tried again in ``retry_in`` seconds.

        ``reason`` is stored for the operator: an error kind or exit code, never personal data.
        """
        now = time.time() if now is None else now
        with self._write() as conn:
            conn.execute(
                "UPDATE webhook_inbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "claim_token = NULL, lease_until = NULL, last_error = ? WHERE claim_token = ? AND status = ?",
                (PENDING, now + retry_in, reason[:200], claim.token, CLAIMED),
            )

    def purge_done(self, older_than: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM webhook_inbox WHERE status = ? AND done_at < ?", (DONE, now - older_than)
            ).rowcount

    # health --------------------------------------------------------------------------------------

    def backlog(self, now: float | None = None) -> Backlog:
        """Open events (pending or claimed), how many are being retried, and the oldest one's age."""
        now = time.time() if now is None else now
        with self._read() as conn:
            count, retrying, oldest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(attempts > 0), 0), MIN(received_at) FROM webhook_inbox "
                "WHERE status != ?",
                (DONE,),
            ).fetchone()
        return Backlog(
            pending=int(count),
            retrying=int(retrying),
            oldest_pending_age=None if oldest is None else max(0.0, round(now - oldest, 3)),
        )

    def events(self, recipe: str | None = None) -> list[dict[str, object]]:
        """Every row (for tests and the operator): identifiers, statuses and digests only."""
        query = "SELECT * FROM webhook_inbox" + (" WHERE recipe = ?" if recipe else "") + " ORDER BY id"
        with self._read() as conn:
            cur = conn.execute(query, (recipe,) if recipe else ())
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
