"""The inbox: every accepted delivery, recorded durably before it is answered.

A row holds identifiers and a SHA-256 digest of the body, never the body itself (it may carry a
person's answers). The platforms stay the system of record: a re-check re-reads them.

Life of an event: ``pending`` -> ``claimed`` by one worker (with a lease it keeps renewing) ->
``done``. A failed re-check puts the event back to ``pending`` with a later ``next_attempt_at``;
a worker that dies leaves a claim whose lease runs out, and the next worker takes it again. So a
crash between receipt and write-back loses nothing, and a re-send is recognised by its delivery
id (KoboToolbox ``meta/rootUuid``, Standard Webhooks ``webhook-id``) and not re-checked twice.

Two engines behind one interface, as for the state store (``coprod/state.py``):

- SQLite: the inbox has its own file beside the sync's state file. SQLite lets one writer at a
  time into a file, and a re-check's sync commits (each with an fsync) held receipts waiting for up
  to ~35 ms when the two shared one; apart, a receipt waits only for other receipts and the
  worker's short claims.
- PostgreSQL (``webhook_app/inbox_postgres.py``): the ``webhook_inbox`` table in the state
  database, shared by app hosts and workers; workers claim with ``FOR UPDATE SKIP LOCKED``.

The queries both engines share are written once here, with ``?`` placeholders.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from coprod.schema import (
    TABLE_THERE,
    Execute,
    SchemaTooNew,
    Upgrade,
    latest,
    stored_version,
    up_to_date,
    upgrade,
)
from coprod.state import StoreLocation, StoreNeedsUpgrade, StoreUnavailable, now_text
from coprod.state_sql import Sql
from coprod.state_sqlite import BUSY_SECONDS, _Sql, cannot_read, read_only, reader, use_wal

PENDING, CLAIMED, DONE = "pending", "claimed", "done"

RECEIPT_CHECKPOINT_PAGES = 10_000
"""About 40 MB of WAL: far more than a worker ever lets build up between its own checkpoints."""

COLUMNS = (
    "id",
    "platform",
    "recipe",
    "delivery_id",
    "subject",
    "body_sha256",
    "received_at",
    "status",
    "attempts",
    "next_attempt_at",
    "claim_token",
    "lease_until",
    "done_at",
    "last_error",
)
OPEN_EVENTS = "recipe = ? AND (status = ? OR (status = ? AND lease_until < ?))"
"""A recipe's events a claim takes: pending (due or backing off) or abandoned by a dead worker."""


@dataclass(frozen=True)
class Claim:
    """Events of one recipe taken by one worker for one re-check."""

    recipe: str
    token: str
    event_ids: list[int]
    attempts: int
    """The most attempts any of these events has had (drives the back-off)."""


class ClaimedEvent(NamedTuple):
    """One claimed event as a re-check sees it: its id, its platform and its subject (ids only)."""

    id: int
    platform: str
    subject: str


@dataclass(frozen=True)
class Backlog:
    pending: int
    retrying: int
    oldest_pending_age: float | None


class InboxUnreadable(Exception):
    """An inbox an older coprod left that cannot be read as it is (it lacks a column or table this
    coprod reads): a reading command says its backlog is not known rather than upgrade it."""

    def __init__(self, version: int) -> None:
        super().__init__(f"inbox schema version {version}")
        self.version = version


def count_backlog(rows: Execute, now: float, recipe: str | None = None) -> Backlog:
    """Open events (pending or claimed), how many are being retried, and the oldest one's age."""
    of_recipe = " AND recipe = ?" if recipe is not None else ""
    count, retrying, oldest = rows(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), MIN(received_at) "
        f"FROM webhook_inbox WHERE status != ?{of_recipe}",
        (DONE,) if recipe is None else (DONE, recipe),
    )[0]
    return Backlog(
        pending=int(count),  # type: ignore[call-overload]
        retrying=int(retrying),  # type: ignore[call-overload]
        oldest_pending_age=None if oldest is None else max(0.0, round(now - oldest, 3)),  # type: ignore[operator]
    )


def backlog_as_is(location: StoreLocation, now: float, recipe: str | None = None) -> Backlog | None:
    """The backlog of the inbox at ``location``, read without creating or upgrading anything (for
    ``coprod status``, as :func:`coprod.state.open_to_read` reads the state store): an upgrade is a
    write, after which going back to the older coprod needs the backup. None where there is no inbox
    (no file, or no inbox table); :class:`InboxUnreadable` where an older inbox cannot be read as
    it is; :class:`~coprod.schema.SchemaTooNew` for one a newer coprod left. A SQLite file is read
    through a read-only connection, a monitoring user's too (:func:`~coprod.state_sqlite.reader`);
    its errors (not an inbox, may not be read) go up as they are."""
    if location.engine == "postgresql":
        from coprod.webhook_app.inbox_postgres import postgres_backlog_as_is

        return postgres_backlog_as_is(location, now, recipe)
    if location.path is None or not location.path.is_file():
        return None
    conn = reader(location.path, "webhook inbox file")
    try:
        return read_backlog(
            lambda sql, args: conn.execute(sql, args).fetchall(), "sqlite", now, recipe, _sqlite_lacks
        )
    finally:
        conn.close()


def events_as_is(location: StoreLocation) -> list[dict[str, object]]:
    """Every event of the inbox at ``location``, read as it is, for the source of ``coprod state
    copy``: nothing upgraded and nothing made (opening an :class:`Inbox` makes its file, or its
    table, when there is none: an empty inbox file was left beside every copied backup). No inbox
    (no file, no table) has no events. A SQLite file is read as the state file beside it is
    (:func:`~coprod.state_sqlite.read_only`)."""
    if location.engine == "postgresql":
        from coprod.webhook_app.inbox_postgres import postgres_events_as_is

        return postgres_events_as_is(location)
    if location.path is None or not location.path.is_file():
        return []
    reader = read_only(location.path, "webhook inbox file")
    try:
        return read_events(
            lambda sql, args: reader.execute(sql, args).fetchall(), "sqlite", location, _sqlite_lacks
        )
    except sqlite3.Error as exc:
        raise StoreUnavailable(cannot_read(location.path, exc, "webhook inbox file")) from None
    finally:
        reader.close()


def _version_as_is(rows: Execute, engine: str, store: str) -> int | None:
    """The schema version of an inbox read as it is (None: no inbox table), refused when a newer
    coprod left it (``store``: how the refusal names it)."""
    if not rows(TABLE_THERE[engine], ("webhook_inbox",)):
        return None
    version = stored_version("inbox", engine, rows)
    if version > latest("inbox"):
        raise SchemaTooNew(
            f"{store} is at schema version {version}, newer than this coprod knows "
            f"({latest('inbox')}): it was written by a newer coprod. Upgrade coprod on this machine."
        )
    return version


def read_events(
    rows: Execute, engine: str, location: StoreLocation, lacks: Callable[[Exception], bool]
) -> list[dict[str, object]]:
    """The inbox's events read as it is, its schema version checked first (none: no inbox table)."""
    version = _version_as_is(rows, engine, f"the inbox store at {location}")
    if version is None:
        return []
    try:
        found = rows(f"SELECT {', '.join(COLUMNS)} FROM webhook_inbox ORDER BY id", ())
    except Exception as exc:
        if version < latest("inbox") and lacks(exc):
            raise StoreNeedsUpgrade(
                f"the webhook inbox at {location} was left by an older coprod (schema version {version}) "
                "and cannot be read as it is. Nothing was changed. Run `coprod migrate` on it, as the "
                "user who owns it, then copy again"
            ) from None
        raise
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def _sqlite_lacks(exc: Exception) -> bool:
    """Whether a read failed for a table or column the file does not have."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such ")


def read_backlog(
    rows: Execute, engine: str, now: float, recipe: str | None, lacks: Callable[[Exception], bool]
) -> Backlog | None:
    """The backlog read as the store is, its schema version checked first (None: no inbox table).
    ``lacks``: whether a read's error means the store lacks a table or column it reads."""
    version = _version_as_is(rows, engine, "the inbox store")
    if version is None:
        return None
    try:
        return count_backlog(rows, now, recipe)
    except Exception as exc:
        if version < latest("inbox") and lacks(exc):
            raise InboxUnreadable(version) from None
        raise


class Inbox(ABC):
    """The ``webhook_inbox`` table. One per process and role; safe across threads.

    ``Inbox.open(location, ...)`` gives the engine the state location names: for SQLite the
    location is the inbox file itself; for PostgreSQL, the state database.
    """

    location: StoreLocation
    upgrades: list[Upgrade]

    @classmethod
    def open(
        cls,
        location: StoreLocation | str | Path,
        fsync_each_receipt: bool = False,
        for_receipts: bool = False,
    ) -> Inbox:
        from coprod.state import parse_location

        where = parse_location(location)
        if where.engine == "postgresql":
            from coprod.webhook_app.inbox_postgres import PostgresInbox

            return PostgresInbox(where, fsync_each_receipt=fsync_each_receipt)
        return SQLiteInbox(where, fsync_each_receipt=fsync_each_receipt, for_receipts=for_receipts)

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Sql]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Sql]: ...

    def _single(self) -> AbstractContextManager[Sql]:
        """Where a write of one statement runs: a transaction, unless the engine makes a statement
        atomic by itself without one (PostgreSQL: a receipt is then one round trip, not three)."""
        return self._tx()

    @abstractmethod
    def close(self) -> None: ...

    def migrate(self) -> list[Upgrade]:
        """Bring the inbox's schema up to date now (it happens on first use anyway)."""
        with self._read():
            pass
        return self.upgrades

    @abstractmethod
    def checkpoint(self) -> None:
        """Engine housekeeping after a round of work (SQLite copies its WAL back)."""

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
        with self._single() as sql:
            rows = sql.rows(
                "INSERT INTO webhook_inbox "
                "(platform, recipe, delivery_id, subject, body_sha256, received_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, recipe, delivery_id) DO NOTHING RETURNING id",
                (platform, recipe, delivery_id, subject, body_sha256, now, now),
            )
        return int(rows[0][0]) if rows else None

    # work ----------------------------------------------------------------------------------------

    def due_recipes(self, now: float | None = None) -> list[str]:
        """Recipes with an event ready to work on and no live claim (one re-check at a time)."""
        now = time.time() if now is None else now
        with self._read() as sql:
            rows = sql.rows(
                "SELECT DISTINCT recipe FROM webhook_inbox WHERE "
                "(status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?)",
                (PENDING, now, CLAIMED, now),
            )
            live = {
                r[0]
                for r in sql.rows(
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
        with self._tx() as sql:
            if not self._may_claim(sql, recipe, now):
                return None
            rows = self._take(sql, recipe, token, now + lease_seconds, now)
        if not rows:
            return None
        return Claim(
            recipe=recipe, token=token, event_ids=sorted(r[0] for r in rows), attempts=max(r[1] for r in rows)
        )

    def _may_claim(self, sql: Sql, recipe: str, now: float) -> bool:
        """No live claim on the recipe, and at least one event due."""
        live = sql.rows(
            "SELECT 1 FROM webhook_inbox WHERE recipe = ? AND status = ? AND lease_until >= ? LIMIT 1",
            (recipe, CLAIMED, now),
        )
        due = sql.rows(
            "SELECT 1 FROM webhook_inbox WHERE recipe = ? AND "
            "((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?)) LIMIT 1",
            (recipe, PENDING, now, CLAIMED, now),
        )
        return not live and bool(due)

    def _take(
        self, sql: Sql, recipe: str, token: str, lease_until: float, now: float
    ) -> list[tuple[Any, ...]]:
        """Mark the recipe's open events claimed by ``token``; return their (id, attempts)."""
        return sql.rows(
            f"UPDATE webhook_inbox SET status = ?, claim_token = ?, lease_until = ? WHERE {OPEN_EVENTS} "
            "RETURNING id, attempts",
            (CLAIMED, token, lease_until, recipe, PENDING, CLAIMED, now),
        )

    def claimed_events(self, claim: Claim) -> list[ClaimedEvent]:
        """What the inbox keeps of a claim's events (ids only), oldest first, for the re-check."""
        with self._read() as sql:
            rows = sql.rows(
                "SELECT id, platform, subject FROM webhook_inbox WHERE claim_token = ? ORDER BY id",
                (claim.token,),
            )
        return [ClaimedEvent(int(r[0]), str(r[1]), str(r[2] or "")) for r in rows]

    def renew(self, claim: Claim, lease_seconds: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._single() as sql:
            sql.run(
                "UPDATE webhook_inbox SET lease_until = ? WHERE claim_token = ? AND status = ?",
                (now + lease_seconds, claim.token, CLAIMED),
            )

    def complete(self, claim: Claim, now: float | None = None) -> int:
        """Mark the claim's events done. Returns how many were still held by this claim."""
        now = time.time() if now is None else now
        with self._single() as sql:
            return sql.run(
                "UPDATE webhook_inbox SET status = ?, done_at = ?, claim_token = NULL, lease_until = NULL, "
                "last_error = NULL WHERE claim_token = ? AND status = ?",
                (DONE, now, claim.token, CLAIMED),
            )

    def fail(self, claim: Claim, reason: str, retry_in: float, now: float | None = None) -> None:
        """Put the claim's events back, to be tried again in ``retry_in`` seconds.

        ``reason`` is stored for the operator: an error kind or exit code, never personal data.
        """
        now = time.time() if now is None else now
        with self._single() as sql:
            sql.run(
                "UPDATE webhook_inbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "claim_token = NULL, lease_until = NULL, last_error = ? WHERE claim_token = ? AND status = ?",
                (PENDING, now + retry_in, reason[:200], claim.token, CLAIMED),
            )

    def purge_done(self, older_than: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._single() as sql:
            return sql.run(
                "DELETE FROM webhook_inbox WHERE status = ? AND done_at < ?", (DONE, now - older_than)
            )

    # health --------------------------------------------------------------------------------------

    def backlog(self, now: float | None = None, recipe: str | None = None) -> Backlog:
        """Open events (pending or claimed), how many are being retried, and the oldest one's age:
        of every recipe (``/healthz``), or of ``recipe`` (``coprod status``)."""
        now = time.time() if now is None else now
        with self._read() as sql:
            return count_backlog(sql.rows, now, recipe)

    def events(self, recipe: str | None = None) -> list[dict[str, object]]:
        """Every row (for tests and the operator): identifiers, statuses and digests only."""
        query = (
            f"SELECT {', '.join(COLUMNS)} FROM webhook_inbox"
            + (" WHERE recipe = ?" if recipe else "")
            + " ORDER BY id"
        )
        with self._read() as sql:
            rows = sql.rows(query, (recipe,) if recipe else ())
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]

    # moving an inbox (coprod state copy) ---------------------------------------------------------

    def load(self, events: Sequence[dict[str, object]]) -> int:
        """Add events from another inbox (their ids are made anew; delivery ids stay unique)."""
        columns = COLUMNS[1:]
        with self._tx() as sql:
            sql.run_many(
                f"INSERT INTO webhook_inbox ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                "ON CONFLICT (platform, recipe, delivery_id) DO NOTHING",
                [tuple(e.get(c) for c in columns) for e in events],
            )
        return len(events)


class SQLiteInbox(Inbox):
    """The inbox file. The connection is opened lazily and again after a fork, because gunicorn may
    fork a process that already built the app, and a SQLite connection must not cross a fork.

    ``for_receipts``: this connection answers deliveries, so it leaves WAL checkpoints (which fsync)
    to the worker's connection, which runs one after each round of work. It still checkpoints
    itself if the WAL grows past ``RECEIPT_CHECKPOINT_PAGES`` (no worker running), to bound the file.
    """

    def __init__(
        self, location: StoreLocation, fsync_each_receipt: bool = False, for_receipts: bool = False
    ) -> None:
        assert location.path is not None
        self.location = location
        self.path = location.path
        self.fsync_each_receipt = fsync_each_receipt
        self.for_receipts = for_receipts
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self.upgrades: list[Upgrade] = []

    def _conn(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_SECONDS, check_same_thread=False, isolation_level=None
            )
            use_wal(conn)
            # synchronous=NORMAL: a committed receipt survives the app being killed (the case that
            # matters here), and commits cost microseconds instead of an fsync each. After a power
            # cut the last receipts may be lost; the nightly sync covers them.
            conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync_each_receipt else 'NORMAL'}")
            if self.for_receipts:
                conn.execute(f"PRAGMA wal_autocheckpoint={RECEIPT_CHECKPOINT_PAGES}")
            current = up_to_date("inbox", "sqlite", _Sql(conn).rows)
            if current is not None:
                self.upgrades = [current]
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self.upgrades = [upgrade("inbox", "sqlite", _Sql(conn).rows, now_text())]
                except BaseException:
                    conn.execute("ROLLBACK")
                    conn.close()
                    raise
                conn.execute("COMMIT")
            self._db, self._pid = conn, os.getpid()
        return self._db

    @contextmanager
    def _tx(self) -> Iterator[Sql]:
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Sql(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Sql]:
        with self._lock:
            yield _Sql(self._conn())

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (a PASSIVE checkpoint: receipts carry on meanwhile)."""
        with self._read() as sql:
            sql.rows("PRAGMA wal_checkpoint(PASSIVE)")


def inbox_location(state: StoreLocation) -> StoreLocation:
    """Where the inbox lives for a state location: ``state.sqlite`` -> ``state-inbox.sqlite`` beside
    it (its own file, see above); a PostgreSQL state database holds the inbox table itself."""
    if state.engine != "sqlite" or state.path is None:
        return state
    path = state.path
    return StoreLocation("sqlite", path=path.with_name(f"{path.stem}-inbox{path.suffix or '.sqlite'}"))
