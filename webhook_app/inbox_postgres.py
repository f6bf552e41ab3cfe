"""The webhook inbox in PostgreSQL: one table shared by every app host and worker.

Receipts are single-row inserts from a connection pool. Workers on any host claim a recipe's
events in one transaction that first takes a transaction-scoped advisory lock on the recipe (two
workers seeing the same burst: one claims every event, the other finds the lock taken and moves
on, so a burst still makes one re-check), and then takes the rows with ``FOR UPDATE SKIP LOCKED``
(rows another transaction is changing are never waited for or taken twice). A claim's lease is
what a dead worker leaves behind; the next worker takes its events again once the lease runs out,
and the recipe's run lock (an advisory lock on the worker's connection) is released by the server
the moment that worker's connection ends.
"""

from __future__ import annotations

from typing import Any

import psycopg

from coprod.state import StoreLocation, StoreUnavailable
from coprod.state_postgres import (
    PgPool,
    PgSql,
    PgTransactions,
    advisory_key,
    direct_connection,
    migrate,
    read_error,
)
from coprod.state_sql import Sql
from coprod.webhook_app.inbox import (
    CLAIMED,
    OPEN_EVENTS,
    PENDING,
    Backlog,
    Inbox,
    read_backlog,
    read_events,
)

RECEIPT_WAIT = 5.0
"""Seconds a delivery waits for a connection to the database before it is answered 503 (the
platform sends it again later), rather than holding one of the app's threads for longer."""


def postgres_backlog_as_is(location: StoreLocation, now: float, recipe: str | None) -> Backlog | None:
    """:func:`~coprod.webhook_app.inbox.backlog_as_is` on PostgreSQL: on a connection of its own,
    without the migration opening :class:`PostgresInbox` makes."""
    with direct_connection(location) as conn:
        try:
            return read_backlog(PgSql(conn).rows, "postgresql", now, recipe, _lacks)
        except psycopg.Error as exc:
            raise StoreUnavailable(read_error(location, exc)) from None


def postgres_events_as_is(location: StoreLocation) -> list[dict[str, object]]:
    """:func:`~coprod.webhook_app.inbox.events_as_is` on PostgreSQL: on a connection of its own,
    without the migration opening :class:`PostgresInbox` makes (it would create the table)."""
    with direct_connection(location) as conn:
        try:
            return read_events(PgSql(conn).rows, "postgresql", location, _lacks)
        except psycopg.Error as exc:
            raise StoreUnavailable(read_error(location, exc)) from None


def _lacks(exc: Exception) -> bool:
    return isinstance(exc, psycopg.errors.UndefinedColumn | psycopg.errors.UndefinedTable)


class PostgresInbox(PgTransactions, Inbox):
    """``fsync_each_receipt`` (``COPROD_WEBHOOK_FSYNC=1``): every commit waits for the server's disk
    (a few ms each). By default, as with SQLite, it does not: a receipt survives the app and its host
    being killed, and the server's own restart; a crash of the database server's machine may lose
    the last fraction of a second of receipts, and the nightly sync covers them."""

    def __init__(self, location: StoreLocation, fsync_each_receipt: bool = False) -> None:
        assert location.url is not None
        self.location = location
        self._pool = PgPool(
            location, "coprod inbox", wait=RECEIPT_WAIT, synchronous_commit=fsync_each_receipt
        )
        self.upgrades = [migrate(location, "inbox")]

    def checkpoint(self) -> None:
        """Nothing to do: the server does its own checkpoints."""

    def _may_claim(self, sql: Sql, recipe: str, now: float) -> bool:
        got = sql.rows("SELECT pg_try_advisory_xact_lock(?)", (advisory_key("claim", recipe),))
        return bool(got[0][0]) and super()._may_claim(sql, recipe, now)

    def _take(
        self, sql: Sql, recipe: str, token: str, lease_until: float, now: float
    ) -> list[tuple[Any, ...]]:
        return sql.rows(
            "UPDATE webhook_inbox SET status = ?, claim_token = ?, lease_until = ? WHERE id IN "
            f"(SELECT id FROM webhook_inbox WHERE {OPEN_EVENTS} FOR UPDATE SKIP LOCKED) RETURNING id, attempts",
            (CLAIMED, token, lease_until, recipe, PENDING, CLAIMED, now),
        )
