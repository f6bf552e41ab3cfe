"""The state store: ids, fingerprints, statuses, cursors, row counts and run history, nothing more.

It never holds names, answers or message text: the platforms stay the system of record. What it
holds is enough to write back only the difference and to notice a source that suddenly shrank.

One interface, two engines, chosen by where the state is (``COPROD_STATE``, the recipe's
``[state] path``, or ``.coprod/state.sqlite`` beside the recipe):

- a file path: SQLite (``coprod/state_sqlite.py``), the embedded default for one machine; the
  run lock is the system's file lock on a file beside it (``coprod/locking.py``);
- ``postgresql://...`` (or ``postgres://``): PostgreSQL (``coprod/state_postgres.py``), shared by
  several hosts; the run lock is an advisory lock held by a connection.

Either way the operating system or the server drops the lock when its holder dies, so a killed
run never blocks the next one. Anything else that looks like an address (``mysql://...``) is
refused with a clear message rather than taken for a folder name.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from coprod import schema
from coprod.schema import SchemaTooNew
from coprod_core.flags import Severity
from coprod_core.lifecycle import FlagStatus, KnownFlag

if TYPE_CHECKING:
    from coprod.config import LoadedRecipe
    from coprod.schema import Upgrade


class RunLocked(Exception):
    """Another run of the same recipe holds the lock."""

    exit_code = 6


class LockLost(RunLocked):
    """The connection holding the run's lock (PostgreSQL) was cut while the run went on: found
    before saving the flags, so the run saved nothing to the state (:mod:`coprod.state_postgres`)."""


class StoreUnavailable(Exception):
    """The state store could not be opened (a database server unreachable or refusing)."""

    exit_code = 3


class StateLocationInvalid(ValueError):
    """``COPROD_STATE`` (or ``[state] path``) is neither a path nor an address coprod understands."""

    exit_code = 2


ELSEWHERE = (
    "a sync run where a .env sets COPROD_STATE, as a server's cron line is from /srv/coprod, keeps its "
    "state there"
)
"""Said where a command looked for a recipe's state beside it and found none: the server's state is
where the ``.env`` of the folder the syncs run from says, seen only from that folder."""


class StoreNeedsUpgrade(Exception):
    """A store an older coprod left that a command which only reads cannot read as it is (a table it
    reads is not there): said, with what to run, and nothing changed."""

    exit_code = 2


STORE_PROBLEMS = (StateLocationInvalid, StoreUnavailable, SchemaTooNew, StoreNeedsUpgrade)
"""What opening a state store may refuse with, each with its ``exit_code`` and a message to show."""

SCHEME = r"^([A-Za-z][A-Za-z0-9+.-]*)://"
"""A state setting that is an address, not a path. This module's patterns are kept as text and
compiled where first used (``re``'s own cache keeps them): every start of ``coprod`` imports this
module, and a ``coprod check``, or a sync with its state in the recipe's folder, uses none of them."""
POSTGRES_SCHEMES = ("postgresql", "postgres")
_ADDRESS = r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)"
"""A database address: its scheme, its user, password and host (``netloc``), and its path."""
_QUERY = r"\?([^#]*)"


class StoreLocation(NamedTuple):
    """Where the state lives: a SQLite file (``path``) or a PostgreSQL database (``url``)."""

    engine: str
    """``sqlite`` or ``postgresql``."""
    path: Path | None = None
    url: str | None = None

    @property
    def memory(self) -> bool:
        return self.engine == "sqlite" and str(self.path) == ":memory:"

    def __str__(self) -> str:
        """Shown in messages and logs: a database address without its password or query (where
        libpq takes a ``password=`` too). Cut by hand, not by ``urlsplit``, which refuses some
        addresses staff may type (an unclosed ``[`` of an IPv6 host) with a ValueError."""
        if self.url is None:
            return str(self.path)
        parts = re.match(_ADDRESS, self.url)
        if parts is None:  # not scheme://...: parse_location never makes one
            return "the PostgreSQL address"
        scheme, netloc, path = parts.groups()
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}@{host}"
        return f"{scheme}://{netloc}{path}"

    def without_password(self, text: str) -> str:
        """``text`` (a database driver's message) with this address's password taken out, as
        typed and as decoded: libpq quotes a token it cannot read back ("invalid percent-encoded
        token: ...") from the password or a ``password=`` in the query alike."""
        for secret in self._passwords():
            text = text.replace(secret, "[password]")
        return text

    def _passwords(self) -> list[str]:
        parts = re.match(_ADDRESS, self.url or "")
        if parts is None:
            return []
        netloc, query = parts.group(2), re.search(_QUERY, self.url or "")
        typed = [netloc.rpartition("@")[0].partition(":")[2]] if "@" in netloc else []
        if query:
            for pair in query.group(1).split("&"):
                name, _, value = pair.partition("=")
                if unquote(name).strip() == "password":
                    typed.append(value)
        found = {form for value in typed if value for form in (value, unquote(value))}
        return sorted(found, key=len, reverse=True)  # the longest first: no part of one left behind


def parse_location(value: str | Path | StoreLocation, base: Path | None = None) -> StoreLocation:
    """Understand a state setting, or refuse it: a path, ``:memory:``, ``sqlite:///path`` or
    ``postgresql://user@host:port/db``. A relative path is taken from ``base`` when given."""
    if isinstance(value, StoreLocation):
        return value
    if isinstance(value, Path):
        return _sqlite_file(value if base is None or value.is_absolute() else base / value)
    text = value.strip()
    if text == ":memory:":
        return StoreLocation("sqlite", path=Path(":memory:"))
    scheme = re.match(SCHEME, text)
    if scheme is None:
        path = Path(text).expanduser()
        return _sqlite_file(path if base is None or path.is_absolute() else base / path)
    name = scheme.group(1).lower()
    if name in POSTGRES_SCHEMES:
        return StoreLocation("postgresql", url=text)
    if name == "sqlite":
        return _sqlite_file(Path(sqlite_address_path(text)))
    raise StateLocationInvalid(
        f"the state store '{scheme.group(0)}...' is not something coprod can use: give a file path "
        "(SQLite, for one machine) or a postgresql://user@host:port/database address (PostgreSQL, "
        "for several hosts)"
    )


def _sqlite_file(path: Path) -> StoreLocation:
    """A SQLite state file; a folder is refused. The deploy README makes ``/srv/coprod/state`` for
    the state, and ``COPROD_STATE`` set to that folder was said as a file that "could not be opened"
    (sync), or as no state yet (migrate, status), while the webhook app and the worker started
    with their inbox beside the folder, where a unit may not write."""
    if path.is_dir():
        raise StateLocationInvalid(
            f"the state store {path} is a folder, not a file: name a file in it, such as "
            f"{path / 'state.sqlite'}"
        )
    return StoreLocation("sqlite", path=path)


WINDOWS = os.name == "nt"
_DRIVE = r"/[A-Za-z]:[/\\]"
"""A drive-letter path after ``sqlite://``: the ``/C:/`` of ``sqlite:///C:/coprod/state.sqlite``."""


def sqlite_address_path(address: str, *, windows: bool = WINDOWS) -> str:
    """The file a ``sqlite:///...`` address names, as a path for this system.

    The address's path starts with ``/``; on Windows a drive letter follows it, as in
    ``sqlite:///C:/coprod/state.sqlite`` (the way SQLAlchemy and others write it). Taken whole, that
    ``/C:/coprod/...`` is read by Windows as ``\\C:\\coprod\\...``, a folder named ``C:`` on the
    current drive, where no state is: so the ``/`` before a drive letter is dropped there. Elsewhere
    the path is kept as typed (``/C:/...`` is an ordinary absolute path on Linux)."""
    rest = address.strip()[len("sqlite://") :]
    if not rest.startswith("/"):
        raise StateLocationInvalid(
            f"'{address}': a SQLite address needs an absolute path, as sqlite:///var/lib/coprod/state.sqlite "
            "(on Windows, sqlite:///C:/coprod/state.sqlite)"
        )
    return rest[1:] if windows and re.match(_DRIVE, rest) else rest


def now_text(at: datetime | None = None) -> str:
    """The time stamps the store keeps (run history, migrations): UTC, to the second (``at``, or
    now). Text of one form, so that they sort, and compare, as the times they are."""
    return (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


class RunsKept(NamedTuple):
    """How much run history each recipe keeps: every run of the last ``days`` days, and never fewer
    than its last ``at_least`` runs, however old (a recipe synced once a month still shows its
    last ones). Older runs go at the end of each sync (:meth:`StateStore.prune_runs`)."""

    days: int = 90
    at_least: int = 50

    def cutoff(self, now: datetime) -> str:
        """Runs started before this time stamp may go."""
        return now_text(now - timedelta(days=self.days))


RUNS_KEPT = RunsKept()
"""README "What it keeps": a webhook re-check adds a run too, so a busy recipe adds thousands a
month; without a bound the table grew for ever."""


class StateStore(ABC):
    """What a sync and the webhook worker need to remember between runs. Thread-safe.

    ``StateStore.open(location)`` gives the engine the location names, with its schema upgraded.
    """

    location: StoreLocation
    upgrades: list[Upgrade]
    """What opening did to the schema (``coprod migrate`` prints it)."""
    read_as: int | None = None
    """The schema version the store is read as, as it is (:func:`open_to_read` of an older store, or
    of a SQLite file this user may not write; :func:`open_source` of any); None for a store opened as
    a sync opens it. Such a store is not written to."""

    @classmethod
    def open(cls, location: str | Path | StoreLocation, *, read_as: int | None = None) -> StateStore:
        """The store, its schema upgraded; or, with ``read_as`` (the older version it holds), read as
        it is, on a connection that writes nothing (:func:`open_to_read`)."""
        where = parse_location(location)
        if where.engine == "postgresql":
            from coprod.state_postgres import PostgresStateStore

            return PostgresStateStore(where, read_as=read_as)
        from coprod.state_sqlite import SQLiteStateStore

        return SQLiteStateStore(where, read_as=read_as)

    @abstractmethod
    def close(self) -> None: ...

    # flags ---------------------------------------------------------------------------------------
    @abstractmethod
    def known_flags(self, recipe: str) -> dict[str, KnownFlag]: ...

    @abstractmethod
    def known_people(self, recipe: str) -> frozenset[str]:
        """The people the recipe's remembered flags know of: :func:`~coprod_core.lifecycle.people_known`
        of :meth:`known_flags`, read without making a record of every flag (``coprod check`` needs
        only these IDs)."""

    @abstractmethod
    def save_flags(self, recipe: str, flags: dict[str, KnownFlag]) -> None:
        """Replace the recipe's remembered flags with ``flags`` in one transaction."""

    @abstractmethod
    def update_flags(self, recipe: str, flags: dict[str, KnownFlag]) -> None:
        """Add or replace these of the recipe's flags, leaving the others as they are (a webhook
        re-check changes a few of many thousands), in one transaction."""

    # cursors, counts, meta -----------------------------------------------------------------------
    @abstractmethod
    def get_cursor(self, recipe: str, source: str, entity: str) -> str | None: ...

    @abstractmethod
    def set_cursor(self, recipe: str, source: str, entity: str, cursor: str | None) -> None: ...

    @abstractmethod
    def row_counts(self, recipe: str) -> dict[str, int]: ...

    @abstractmethod
    def set_row_counts(self, recipe: str, counts: dict[str, int]) -> None: ...

    @abstractmethod
    def get_meta(self, recipe: str, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, recipe: str, key: str, value: str | None) -> None: ...

    # runs ----------------------------------------------------------------------------------------
    @abstractmethod
    def start_run(self, recipe: str, mode: str) -> int: ...

    @abstractmethod
    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        """``summary`` holds counts only (rows, flags, writes): never names or answers."""

    @abstractmethod
    def runs(
        self,
        recipe: str,
        limit: int = 20,
        *,
        mode: str | None = None,
        exit_code: int | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """The recipe's latest runs, newest first; only those of ``mode``, of ``exit_code``, or with
        an id below ``before`` (the next page) when given."""

    @abstractmethod
    def prune_runs(self, recipe: str, kept: RunsKept = RUNS_KEPT, now: datetime | None = None) -> int:
        """Delete the recipe's runs ``kept`` lets go (as of ``now``); return how many went."""

    @abstractmethod
    def flag_counts(self, recipe: str) -> dict[tuple[Severity, FlagStatus], int]:
        """How many of the recipe's flags there are of each severity and status (``coprod status``)."""

    # lock ----------------------------------------------------------------------------------------
    @abstractmethod
    def lock(self, recipe: str, timeout: float = 10.0) -> AbstractContextManager[None]:
        """Hold the recipe's run lock; wait up to ``timeout`` seconds, then raise RunLocked.
        Released by the operating system or the server when the holder dies."""

    def run_going(self, recipe: str) -> bool | None:
        """Whether a run of the recipe holds its run lock right now, found without waiting and
        without keeping anyone out (``coprod status``, of a run whose end is not recorded): the
        lock goes with its holder however it ends, so a run not holding it was stopped. None: this
        process cannot tell (a lock file it may not open)."""
        return None

    # moving a store ------------------------------------------------------------------------------
    @abstractmethod
    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, for ``coprod state copy`` (identifiers and digests only)."""

    @abstractmethod
    def load(self, tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Add ``dump()``'s rows to an empty store; returns rows added per table."""

    def is_empty(self) -> bool:
        return not any(self.dump().get(t) for t in ("flags", "runs", "meta", "cursors", "row_counts"))


def locked_message(recipe: str, holder: str, waited: float) -> str:
    """What a run that gave up waiting says (``holder``: 'host pid started', or empty)."""
    host, _, rest = holder.partition(" ")
    pid, _, since = rest.partition(" ")
    who = f" (process {pid} on {host}, started {since})" if pid else ""
    return (
        f"another run of recipe '{recipe}' is still going{who}; this run waited {waited:g} seconds, "
        "then stopped without reading or writing anything. Run it again once that run has finished."
    )


def state_location(loaded: LoadedRecipe) -> StoreLocation:
    """``COPROD_STATE`` wins, then the recipe's ``[state] path``, then ``.coprod/state.sqlite`` beside it.

    Raises StateLocationInvalid for a setting that is neither a path nor a known address.
    """
    if loaded.env.get("COPROD_STATE"):
        return parse_location(loaded.env["COPROD_STATE"])
    configured = loaded.recipe.state.path
    if configured:
        return parse_location(configured, base=loaded.dir)
    return StoreLocation("sqlite", path=loaded.dir / ".coprod" / "state.sqlite")


def open_current_file(location: StoreLocation) -> StateStore | None:
    """The store, for a reader that must change nothing at all (``coprod check``): only a SQLite
    file that exists and is at this coprod's schema, looked at first through a read-only
    connection; None otherwise. A store of an older coprod would be upgraded by opening it (a
    write, after which going back needs the backup), and a PostgreSQL store is not tried: opening
    it could create its tables in an empty database, or wait seconds for a server that is away."""
    if location.engine != "sqlite" or location.memory or not (location.path and location.path.is_file()):
        return None
    # here, not at every start: a check finds no state file, or finds it here
    from coprod.state_sqlite import may_write, reader

    conn = reader(location.path)
    try:
        current = schema.up_to_date("state", "sqlite", lambda sql, args: conn.execute(sql, args).fetchall())
    finally:
        conn.close()
    if current is None:
        return None
    if may_write(location.path):
        return StateStore.open(location)
    return _read_only_store(location, current.after)


def open_to_read(location: StoreLocation) -> StateStore | None:
    """The store if there is one already, for commands that read it (``coprod status``, the report),
    without creating or upgrading anything: a SQLite file that exists, or a database holding the
    state's tables (an empty PostgreSQL database is no store: opening it would create them; the
    first ``coprod status`` did, a write by a command that only reads). A store an older coprod left
    is read as it is (:attr:`StateStore.read_as`), through a connection that writes nothing, rather
    than upgraded: an upgrade is a write, after which going back to that coprod needs the backup,
    and ``coprod migrate`` or the next sync makes it, not a command that only reads. A store that
    cannot be read as it is raises :class:`StoreNeedsUpgrade`, saying what to run."""
    if location.engine == "postgresql":
        from coprod.state_postgres import state_version

        version = state_version(location)
    elif location.memory:
        return StateStore.open(location)  # nothing kept to go back to
    elif location.path and location.path.is_file():
        version = _sqlite_state_version(location.path)
    else:
        version = None
    if version is None:
        return None
    if version > schema.latest("state"):  # refused by opening it, as ever
        return StateStore.open(location)
    if version == schema.latest("state") and (location.engine != "sqlite" or _may_write(location)):
        return StateStore.open(location)
    return _read_only_store(location, version)


def _may_write(location: StoreLocation) -> bool:
    from coprod.state_sqlite import may_write

    return location.path is not None and may_write(location.path)


def _read_only_store(location: StoreLocation, version: int) -> StateStore:
    """The store read as it is, through a connection that writes nothing (:attr:`StateStore.read_as`):
    one an older coprod left, or a SQLite file this user may read but not write, with its folder
    (:func:`~coprod.state_sqlite.reader`: a monitoring user's ``coprod status``, staff's report). A
    report then keeps no date for the next one's "since"."""
    return StateStore.open(location, read_as=version)


def _sqlite_state_version(path: Path) -> int | None:
    """The state file's schema version, read through a connection that writes nothing
    (:func:`~coprod.state_sqlite.read_only`); None where it holds no run history (an empty file: no
    state, as :func:`~coprod.state_postgres.state_version` asks)."""
    import sqlite3

    from coprod.state_sqlite import cannot_read, read_only

    reader = read_only(path)
    try:

        def rows(sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
            return reader.execute(sql, args).fetchall()

        if not rows(schema.TABLE_THERE["sqlite"], ("runs",)):
            return None
        return schema.stored_version("state", "sqlite", rows)
    except sqlite3.Error as exc:
        raise StoreUnavailable(cannot_read(path, exc)) from None
    finally:
        reader.close()


def open_source(location: StoreLocation) -> StateStore:
    """The store ``coprod state copy`` copies from, read as it is and changed in no way: not upgraded
    (a backup may be one the user may not write, and the store it came from may go back to the
    older coprod), no file made beside it (:func:`~coprod.state_sqlite.read_only`), no table made in
    an empty database. A store an older coprod left is read as it is (:attr:`StateStore.read_as`);
    :meth:`StateStore.dump` gives its rows as this coprod's schema holds them."""
    if location.engine == "postgresql":
        from coprod.state_postgres import state_version

        version = state_version(location)
    elif location.path is not None and location.path.is_file():
        version = _sqlite_state_version(location.path)
    else:
        raise StateLocationInvalid(f"there is no state file at {location}")
    if version is None:
        raise StateLocationInvalid(f"there is no coprod state at {location} (it holds no run history)")
    if version > schema.latest("state"):
        raise SchemaTooNew(
            f"the state store at {location} is at schema version {version}, newer than this coprod "
            f"knows ({schema.latest('state')}): it was written by a newer coprod. Upgrade coprod on "
            "this machine, then copy it"
        )
    return StateStore.open(location, read_as=version)


def needs_upgrade(location: StoreLocation, version: int, missing: list[str]) -> str:
    """Said where a store an older coprod left lacks a table a reading command reads."""
    return (
        f"the state store at {location} was left by an older coprod (schema version {version}; this "
        f"coprod's is {schema.latest('state')}) and has no {', '.join(missing)} table, so it cannot be "
        "read as it is. Nothing was changed. Run `coprod migrate` to upgrade it (the next `coprod sync` "
        "upgrades it too); back the state up first if you may go back to the older coprod."
    )
