"""The stores' versioned schema: each change is a numbered migration, applied once, in order.

Both engines keep a ``schema_versions`` table (one row per component: ``state`` for flags, cursors,
row counts, meta and run history; ``inbox`` for the webhook inbox). Opening a store upgrades it
to the newest version this coprod knows, inside one transaction (and, on PostgreSQL, under an
advisory lock, so two hosts starting at once do not both migrate); ``coprod migrate`` does the
same by hand and says what it did. A store written by a newer coprod is refused rather than
guessed at. Files from before versioning (no ``schema_versions`` table) start at version 0: the
first migration only creates what is missing, so their rows, and every flag's status, stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple


class SchemaTooNew(Exception):
    """The store was written by a newer coprod than this one."""

    exit_code = 2


class Migration(NamedTuple):
    """One step of a store's schema, in the SQL of each engine, with why it was made."""

    version: int
    why: str
    sqlite: str
    postgresql: str

    def sql(self, engine: str) -> str:
        return self.sqlite if engine == "sqlite" else self.postgresql


TYPES = {
    "sqlite": {"date": "TEXT", "real": "REAL", "id": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {
        "date": "DATE",
        "real": "DOUBLE PRECISION",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}
"""The only words the engines' tables differ in: dates, time stamps in seconds, made-up ids."""


def _for_each_engine(template: str) -> tuple[str, str]:
    return template.format(**TYPES["sqlite"]), template.format(**TYPES["postgresql"])


STATE_V1_SQLITE, STATE_V1_POSTGRESQL = _for_each_engine("""
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
    first_seen {date} NOT NULL,
    last_seen {date} NOT NULL,
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
    id {id},
    recipe TEXT NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_recipe ON runs (recipe, id);
""")

STATE: Sequence[Migration] = (
    Migration(1, "flags, cursors, row counts, meta and run history", STATE_V1_SQLITE, STATE_V1_POSTGRESQL),
    Migration(
        2,
        "the run lock is held by the operating system (flock) or the server (advisory lock): "
        "the lock rows of earlier versions go",
        "DROP TABLE IF EXISTS locks;",
        "DROP TABLE IF EXISTS locks;",
    ),
    Migration(
        3,
        "the IDs of people a flag's words name besides its subject (a session's hours flag lists them), "
        "so its words go when one of them leaves the people list",
        "ALTER TABLE flags ADD COLUMN named TEXT NOT NULL DEFAULT '';",
        "ALTER TABLE flags ADD COLUMN IF NOT EXISTS named TEXT NOT NULL DEFAULT '';",
    ),
)

INBOX_V1_SQLITE, INBOX_V1_POSTGRESQL = _for_each_engine("""
CREATE TABLE IF NOT EXISTS webhook_inbox (
    id {id},
    platform TEXT NOT NULL,
    recipe TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body_sha256 TEXT NOT NULL,
    received_at {real} NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {real} NOT NULL,
    claim_token TEXT,
    lease_until {real},
    done_at {real},
    last_error TEXT,
    UNIQUE (platform, recipe, delivery_id)
);
CREATE INDEX IF NOT EXISTS webhook_inbox_open ON webhook_inbox (status, recipe);
CREATE INDEX IF NOT EXISTS webhook_inbox_claim ON webhook_inbox (claim_token);
""")

INBOX: Sequence[Migration] = (
    Migration(
        1,
        "the webhook inbox: identifiers, digests and statuses of deliveries",
        INBOX_V1_SQLITE,
        INBOX_V1_POSTGRESQL,
    ),
)

COMPONENTS: dict[str, Sequence[Migration]] = {"state": STATE, "inbox": INBOX}

VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    upgraded_at TEXT NOT NULL
)
"""


class Upgrade(NamedTuple):
    """What opening a store did to its schema (``coprod migrate`` says it)."""

    component: str
    before: int
    after: int

    def __str__(self) -> str:
        if self.before == self.after:
            return f"{self.component}: schema version {self.after}, up to date"
        return f"{self.component}: schema upgraded from version {self.before} to {self.after}"


Execute = Callable[[str, tuple[object, ...]], list[tuple[object, ...]]]
"""Run one statement with parameters (``?`` placeholders) and return its rows, inside the caller's
transaction."""


def latest(component: str) -> int:
    return COMPONENTS[component][-1].version


VERSIONS_TABLE_THERE = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'",
    "postgresql": "SELECT 1 WHERE to_regclass('schema_versions') IS NOT NULL",
}


NAMED_SINCE = 3
"""The state's schema version that added ``flags.named``: a store of an older one is read as it is
(``coprod status``, the report) with no IDs named besides each flag's subject."""

TABLE_THERE = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    "postgresql": "SELECT 1 WHERE to_regclass(?) IS NOT NULL",
}


def stored_version(component: str, engine: str, execute: Execute) -> int:
    """The component's schema version as the store holds it, read only: 0 for a store from before
    versioning (no ``schema_versions`` table) or where the component has no row yet."""
    if not execute(VERSIONS_TABLE_THERE[engine], ()):
        return 0
    rows = execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def up_to_date(component: str, engine: str, execute: Execute) -> Upgrade | None:
    """The component as it is when it needs no upgrade (read only, before any write transaction or
    lock); None when :func:`upgrade` has something to do, or to refuse.

    Almost every open finds the store current: it then takes no write lock (SQLite) and waits for no
    other host's migration (PostgreSQL), so a reader such as ``coprod status`` opens a store while
    a sync holds it for writing. Versions only go up, so one that is the newest stays so."""
    if not execute(VERSIONS_TABLE_THERE[engine], ()):
        return None
    version = stored_version(component, engine, execute)
    return Upgrade(component, version, version) if version == latest(component) else None


def upgrade(component: str, engine: str, execute: Execute, now: str) -> Upgrade:
    """Apply the component's migrations newer than the store's version, in order.

    The caller holds a transaction (and, on PostgreSQL, the migration lock) around this call, so a
    failed migration leaves the store as it was.
    """
    execute(VERSIONS_TABLE, ())
    rows = execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
    before = int(rows[0][0]) if rows else 0  # type: ignore[call-overload]
    newest = latest(component)
    if before > newest:
        raise SchemaTooNew(
            f"the {component} store is at schema version {before}, newer than this coprod knows "
            f"({newest}): it was written by a newer coprod. Upgrade coprod on this machine."
        )
    for migration in COMPONENTS[component]:
        if migration.version > before:
            for statement in _statements(migration.sql(engine)):
                execute(statement, ())
    if before != newest:
        execute(
            "INSERT INTO schema_versions (component, version, upgraded_at) VALUES (?, ?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version, upgraded_at = excluded.upgraded_at",
            (component, newest, now),
        )
    return Upgrade(component, before, newest)


def _statements(script: str) -> list[str]:
    """A migration's statements, one at a time (neither driver runs a parameterless script in a
    transaction the same way; none of ours has a ';' inside a statement)."""
    return [s.strip() for s in script.split(";") if s.strip()]
