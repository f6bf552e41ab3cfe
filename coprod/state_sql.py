"""The state store's queries, written once for both engines.

SQLite and PostgreSQL accept the same SQL for everything the store does (``ON CONFLICT ... DO
UPDATE`` upserts included); only placeholders (``?`` here, ``%s`` for psycopg), connections and
the run lock differ, and those live in ``state_sqlite.py`` and ``state_postgres.py``.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import Any, Protocol

from coprod.schema import NAMED_SINCE, TABLE_THERE, Upgrade, up_to_date, upgrade
from coprod.state import RUNS_KEPT, RunsKept, StateStore, StoreNeedsUpgrade, needs_upgrade, now_text
from coprod_core.flags import Severity, SubjectKind
from coprod_core.lifecycle import FlagStatus, KnownFlag

FLAG_COLUMNS = (
    "recipe",
    "fingerprint",
    "check_id",
    "severity",
    "subject_kind",
    "subject_id",
    "project_id",
    "facts_digest",
    "status",
    "first_seen",
    "last_seen",
    "named",
)
TABLES: dict[str, tuple[str, ...]] = {
    "flags": FLAG_COLUMNS,
    "cursors": ("recipe", "source", "entity", "cursor"),
    "row_counts": ("recipe", "entity", "rows"),
    "meta": ("recipe", "key", "value"),
    "runs": ("recipe", "mode", "started_at", "finished_at", "exit_code", "summary"),
}
"""What ``coprod state copy`` moves, column by column (run ids are made anew by the target)."""

READ_TABLES = ("flags", "runs", "meta")
"""What ``coprod status`` and the report read: a store an older coprod left is read as it is when
these are there."""


class Sql(Protocol):
    """One connection inside one transaction, with ``?`` placeholders."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; return the rows affected."""
        ...

    def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None: ...

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        """Execute an INSERT with ``RETURNING id``; return the id."""
        ...


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class SQLStateStore(StateStore):
    engine: str

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Sql]:
        """A write transaction (serialised with other writers)."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Sql]: ...

    def _single(self) -> AbstractContextManager[Sql]:
        """Where a write of one statement runs: a transaction, unless the engine makes a statement
        atomic by itself without one (PostgreSQL)."""
        return self._tx()

    def _migrate(self) -> list[Upgrade]:
        """Bring the state tables up to date, in one write transaction (none when they are)."""
        with self._read() as sql:
            current = up_to_date("state", self.engine, sql.rows)
        if current is not None:
            return [current]
        with self._tx() as sql:
            return [upgrade("state", self.engine, sql.rows, now_text())]

    def _read_as_it_is(self, version: int) -> list[Upgrade]:
        """Read a store an older coprod left as it is (``read_as``), without upgrading it: every
        table a reader reads must be there (a store from before versioning may lack one)."""
        with self._read() as sql:
            missing = [t for t in READ_TABLES if not sql.rows(TABLE_THERE[self.engine], (t,))]
        if missing:
            raise StoreNeedsUpgrade(needs_upgrade(self.location, version, missing))
        self.read_as = version
        return [Upgrade("state", version, version)]

    def _named(self) -> str:
        """The ``named`` column, or nothing named where an older schema has no such column."""
        return "''" if self.read_as is not None and self.read_as < NAMED_SINCE else "named"

    # flags ---------------------------------------------------------------------------------------

    def known_flags(self, recipe: str) -> dict[str, KnownFlag]:
        columns = ", ".join(self._named() if c == "named" else c for c in FLAG_COLUMNS)
        with self._read() as sql:
            rows = sql.rows(f"SELECT {columns} FROM flags WHERE recipe = ?", (recipe,))
        out = {}
        for r in rows:
            f = dict(zip(FLAG_COLUMNS, r, strict=True))
            out[f["fingerprint"]] = KnownFlag(
                fingerprint=f["fingerprint"],
                check_id=f["check_id"],
                severity=Severity(f["severity"]),
                subject_kind=SubjectKind(f["subject_kind"]),
                subject_id=f["subject_id"],
                project_id=f["project_id"],
                facts_digest=f["facts_digest"],
                status=FlagStatus(f["status"]),
                first_seen=_day(f["first_seen"]),
                last_seen=_day(f["last_seen"]),
                named=_named(f["named"]),
            )
        return out

    def known_people(self, recipe: str) -> frozenset[str]:
        # Three columns of each row, where known_flags builds a record of eleven (3,300 flags to
        # learn 1,500 IDs at the benchmark's 1x).
        with self._read() as sql:
            rows = sql.rows(
                f"SELECT subject_kind, subject_id, {self._named()} FROM flags WHERE recipe = ?", (recipe,)
            )
        person = SubjectKind.PERSON.value
        out: set[str] = set()
        for kind, subject_id, named in rows:
            if kind == person:
                out.add(subject_id)
            if named:
                out.update(_named(named))
        return frozenset(out)

    def save_flags(self, recipe: str, flags: dict[str, KnownFlag]) -> None:
        with self._tx() as sql:
            sql.run("DELETE FROM flags WHERE recipe = ?", (recipe,))
            sql.run_many(
                f"INSERT INTO flags ({', '.join(FLAG_COLUMNS)}) VALUES ({', '.join('?' * len(FLAG_COLUMNS))})",
                _flag_rows(recipe, flags),
            )

    def update_flags(self, recipe: str, flags: dict[str, KnownFlag]) -> None:
        if not flags:
            return
        rest = [c for c in FLAG_COLUMNS if c not in ("recipe", "fingerprint")]
        with self._tx() as sql:
            sql.run_many(
                f"INSERT INTO flags ({', '.join(FLAG_COLUMNS)}) VALUES ({', '.join('?' * len(FLAG_COLUMNS))}) "
                f"ON CONFLICT (recipe, fingerprint) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}",
                _flag_rows(recipe, flags),
            )

    # cursors, counts, meta -----------------------------------------------------------------------

    def get_cursor(self, recipe: str, source: str, entity: str) -> str | None:
        with self._read() as sql:
            rows = sql.rows(
                "SELECT cursor FROM cursors WHERE recipe = ? AND source = ? AND entity = ?",
                (recipe, source, entity),
            )
        return rows[0][0] if rows else None

    def set_cursor(self, recipe: str, source: str, entity: str, cursor: str | None) -> None:
        with self._tx() as sql:
            sql.run(
                "INSERT INTO cursors (recipe, source, entity, cursor) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (recipe, source, entity) DO UPDATE SET cursor = excluded.cursor",
                (recipe, source, entity, cursor),
            )

    def row_counts(self, recipe: str) -> dict[str, int]:
        with self._read() as sql:
            rows = sql.rows("SELECT entity, rows FROM row_counts WHERE recipe = ?", (recipe,))
        return {e: int(n) for e, n in rows}

    def set_row_counts(self, recipe: str, counts: dict[str, int]) -> None:
        with self._tx() as sql:
            sql.run_many(
                "INSERT INTO row_counts (recipe, entity, rows) VALUES (?, ?, ?) "
                "ON CONFLICT (recipe, entity) DO UPDATE SET rows = excluded.rows",
                [(recipe, e, n) for e, n in counts.items()],
            )

    def get_meta(self, recipe: str, key: str) -> str | None:
        with self._read() as sql:
            rows = sql.rows("SELECT value FROM meta WHERE recipe = ? AND key = ?", (recipe, key))
        return rows[0][0] if rows else None

    def set_meta(self, recipe: str, key: str, value: str | None) -> None:
        with self._tx() as sql:
            if value is None:
                sql.run("DELETE FROM meta WHERE recipe = ? AND key = ?", (recipe, key))
            else:
                sql.run(
                    "INSERT INTO meta (recipe, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (recipe, key) DO UPDATE SET value = excluded.value",
                    (recipe, key, value),
                )

    # runs ----------------------------------------------------------------------------------------

    def start_run(self, recipe: str, mode: str) -> int:
        with self._tx() as sql:
            return sql.insert_id(
                "INSERT INTO runs (recipe, mode, started_at) VALUES (?, ?, ?) RETURNING id",
                (recipe, mode, now_text()),
            )

    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        with self._tx() as sql:
            sql.run(
                "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
                (now_text(), exit_code, json.dumps(summary, sort_keys=True), run_id),
            )

    def runs(
        self,
        recipe: str,
        limit: int = 20,
        *,
        mode: str | None = None,
        exit_code: int | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        names = ["id", *TABLES["runs"]]
        where: list[str] = ["recipe = ?"]
        params: list[object] = [recipe]
        for condition, value in (("mode = ?", mode), ("exit_code = ?", exit_code), ("id < ?", before)):
            if value is not None:
                where.append(condition)
                params.append(value)
        with self._read() as sql:
            rows = sql.rows(
                f"SELECT {', '.join(names)} FROM runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        return [dict(zip(names, r, strict=True)) for r in rows]

    def prune_runs(self, recipe: str, kept: RunsKept = RUNS_KEPT, now: datetime | None = None) -> int:
        """One DELETE: runs started before the cutoff and older than the recipe's last
        ``kept.at_least`` (the inner query finds the oldest of those, walking the ``runs_recipe``
        index back from the newest; with fewer runs it finds none, and nothing goes)."""
        with self._single() as sql:
            return sql.run(
                "DELETE FROM runs WHERE recipe = ? AND started_at < ? AND id < "
                "(SELECT id FROM runs WHERE recipe = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (recipe, kept.cutoff(now or datetime.now(UTC)), recipe, max(kept.at_least, 1) - 1),
            )

    def flag_counts(self, recipe: str) -> dict[tuple[Severity, FlagStatus], int]:
        with self._read() as sql:
            rows = sql.rows(
                "SELECT severity, status, COUNT(*) FROM flags WHERE recipe = ? GROUP BY severity, status",
                (recipe,),
            )
        return {(Severity(sev), FlagStatus(status)): int(n) for sev, status, n in rows}

    # moving a store ------------------------------------------------------------------------------

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row, as this coprod's schema holds it, whatever version the store is read as: what
        an upgrade would add is added here (no ``named`` IDs, no rows of a table it never had), so
        an older store is copied without being upgraded (``coprod state copy``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._read() as sql:
            for table, columns in TABLES.items():
                if self.read_as is not None and not sql.rows(TABLE_THERE[self.engine], (table,)):
                    out[table] = []
                    continue
                chosen = ", ".join(self._named() if c == "named" else c for c in columns)
                order = " ORDER BY id" if table == "runs" else ""
                rows = sql.rows(f"SELECT {chosen} FROM {table}{order}")
                out[table] = [dict(zip(columns, _plain(r), strict=True)) for r in rows]
        return out

    def load(self, tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        added: dict[str, int] = {}
        with self._tx() as sql:
            for table, columns in TABLES.items():
                rows = tables.get(table) or []
                sql.run_many(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    [tuple(r.get(c) for c in columns) for r in rows],
                )
                added[table] = len(rows)
        return added


def _plain(row: Sequence[Any]) -> Iterator[Any]:
    """Values as both engines take them back: dates as ISO text."""
    for v in row:
        yield v.isoformat() if isinstance(v, date) else v


def _flag_rows(recipe: str, flags: dict[str, KnownFlag]) -> list[tuple[object, ...]]:
    return [
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
            json.dumps(sorted(k.named)) if k.named else "",
        )
        for k in flags.values()
    ]


def _named(text: str | None) -> frozenset[str]:
    """The ``named`` column: a JSON list of person IDs (an ID may hold any character), or empty."""
    return frozenset(str(i) for i in json.loads(text)) if text else frozenset()
