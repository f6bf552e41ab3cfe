"""The connector interface: what every adapter (files, Sheets, KoboToolbox, CiviCRM) provides.

A connector is built from one ``[sources.NAME]`` section of a recipe. It reads rows of an entity
(paged, with an optional cursor), writes a batch of flag changes back, and says exactly which
changes could not be written so the sync never records as written what was not. It may read the
statuses staff set on flags in their tool (acknowledged, won't fix).

Connectors do not map rows onto the model: they hand over raw rows (column -> value) and the
mapping in ``coprod_core.mapping`` does the rest, the same way for every platform.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from coprod_core.lifecycle import FlagChange, StaffStatuses
from coprod_core.mapping.references import DELETE_ROWS, DELETE_ROWS_NO_WRITE_BACK
from coprod_core.recipe import Entity, EntitySpec, Recipe, RecipeProblem, describe_errors
from coprod_core.rows import Row

if TYPE_CHECKING:  # only the webhook worker's re-check makes them: `coprod check` never loads it
    from coprod_core.live import UnitChange

__all__ = ["Row"]  # re-exported: connectors build them


class ConnectorError(Exception):
    """A problem a person must fix, said without secrets. ``exit_code`` tells cron what kind."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.where = where

    @property
    def message(self) -> str:
        """The message without ``where``."""
        return super().__str__()

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ConfigError(ConnectorError):
    """The recipe or the environment is wrong (a missing variable, an unknown option)."""

    exit_code = 2


class SourceUnavailable(ConnectorError):
    """The source could not be reached or refused us (network, 401/403/404, 5xx after retries)."""

    exit_code = 3


class SourceUnreadable(SourceUnavailable):
    """The source was there but its data cannot be read as it is: a file that is not CSV or Excel,
    in another encoding or delimiter, empty, or with a broken header row. Exit 3 like an
    unreachable source: the data needs fixing (or the recipe must say how to read it). A recipe
    that maps a column, tab or sheet the data does not have stays a ConfigError (2)."""


class Delivery(NamedTuple):
    """A webhook delivery, as the worker hands it to a connector: which platform sent it, what the
    inbox keeps of it (``subject``: ids only), and the notice or submission it carried when the
    worker got it in memory (None in a worker running apart: bodies are never written to disk)."""

    platform: str
    subject: str
    notice: Mapping[str, Any] | None = None


class Page(NamedTuple):
    """One page of a source's rows, and where the next read resumes."""

    rows: Sequence[Row]
    """The rows read: a list, or a :class:`RowBlock` from a connector that reads tables."""
    cursor: str | None = None
    """Where to resume after this page (an ``_id``, an id); None when the source has no cursor."""


@dataclass
class WriteReport:
    """What a write-back did. Every change passed in is in ``written`` or ``failed``."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """fingerprint -> reason, in words without secrets or personal data."""
    requests: int = 0

    def merge(self, other: WriteReport) -> None:
        self.written.extend(other.written)
        self.failed.update(other.failed)
        self.requests += other.requests


DATA_DIRS_VARIABLE = "COPROD_DATA_DIRS"
"""Folders outside a recipe's own that its paths may lead to, as the operator allows them."""


class Variable(NamedTuple):
    """An environment variable a recipe names, which must be set before anything runs."""

    option: str
    """The option naming it, e.g. ``token_env``."""
    name: str
    """The variable, e.g. ``KOBO_TOKEN``."""
    what: str
    """What it holds, as a sentence's subject: "The KoboToolbox API token"."""
    holds_file: bool = False
    """It holds the path of a file that must exist (a service-account key)."""
    file: str = "the file"
    """What that file is and where it comes from, for the message saying it is not there: a
    name alone left staff with a path and no idea what belonged at it."""
    optional_part: str = ""
    """The recipe's part that needs it, when the recipe works without that part (a webhook's
    ``hook_endpoint``): said beside "add it", so a recipe whose webhook was never wanted is not
    held up for its secret."""


def names_a_mapped_column(cells: Iterable[Any], mapped: Iterable[str]) -> bool:
    """Whether a first row names at least one of the columns the recipe maps (in any capitals or
    spacing). A row that names none is most likely data, the header row missing, and a message must
    then not quote it: its cells would be someone's name and answers, printed under cron and logged
    by the webhook worker."""
    wanted = {" ".join(m.split()).casefold() for m in mapped}
    return any(" ".join(str(c).split()).casefold() in wanted for c in cells if c is not None)


def missing_variable(variable: str, what: str, optional_part: str = "") -> str:
    """Said the same by ``coprod validate`` and by a connector finding the variable unset."""
    said = f"{what} is not set: add {variable}=... to .env (or the environment) and try again"
    if optional_part:
        said += (
            f", or delete {optional_part} from the recipe if you do not use the webhook app "
            "(the nightly sync works without it)"
        )
    return said


def key_file_problem(variable: str, value: str, path: Path, file: str = "the file") -> str | None:
    """Why the variable meant to hold a key file's path (``value``, found at ``path``) names no
    file, or None when it does; said the same by ``coprod validate`` and by a connector. The path
    is shown, so a typo can be seen, with what the file is (``file``: :attr:`Variable.file`) and
    what to do; but a value that is no path at all is most likely the key
    itself, pasted in (the JSON, or base64 of it), and is never shown: it would be printed under
    cron and logged by the webhook app (a name too long for a file was "something unexpected")."""
    try:
        if path.is_file():
            return None
    except OSError:  # a name too long for the file system, a component too long: not a path
        pass
    if len(value) <= MAX_SHOWN_PATH and not any(c in value for c in '{}"\n\r') and "PRIVATE KEY" not in value:
        return (
            f"{file} was not found: {variable} (in .env or the environment) gives its path as {path}, and "
            f"there is no file there. Put the file there, or change {variable} to the path where it is: in "
            ".env, or in the environment where it is set there (the environment wins over .env)"
        )
    return (
        f"{variable} holds the key itself (not shown), not the path of its file: save the JSON key as "
        f"a file coprod can read (e.g. /etc/coprod/service-account.json) and set {variable} to that path"
    )


MAX_SHOWN_PATH = 255
"""The longest value shown as a path that was not found: a folder and a file name fit, a key does not."""


class DataPath(NamedTuple):
    """A file or folder a recipe names: where it is named, and its parts, each relative to the one
    before it (the first to the recipe's folder), as ``directory`` then ``location``."""

    section: str
    """Where the recipe names it: ``[sources.exports] flags_file``."""
    parts: tuple[str, ...]


def confine(recipe_dir: Path, path: DataPath, allowed: Sequence[Path] = ()) -> Path:
    """The real path ``path`` names, or ConfigError when it leads outside the recipe's folder.

    A recipe reads and writes personal data, so its paths stay in its own folder: "../.." must
    not reach another recipe's people, nor "/etc" be read. A folder elsewhere is allowed only
    when the operator lists it in COPROD_DATA_DIRS. Symbolic links are followed before comparing,
    so a link inside the folder that points out of it is refused too.
    """
    joined = recipe_dir
    for part in path.parts:
        joined = joined / Path(part).expanduser()
    shown = " / ".join(f"'{p}'" for p in path.parts)
    try:
        real = joined.resolve()
    except (RuntimeError, OSError):  # Python 3.11 says a loop of symbolic links with RuntimeError
        raise ConfigError(
            f"{shown} ({joined}) is a symbolic link that leads back to itself: point it at the real "
            "file or folder",
            where=path.section,
        ) from None
    roots = [recipe_dir.resolve(), *(a.resolve() for a in allowed)]
    if any(real.is_relative_to(root) for root in roots):
        return real
    raise ConfigError(
        f"{shown} leads outside the recipe's folder (to {real}): keep the data inside {roots[0]}, "
        f"or let the operator list the folder in {DATA_DIRS_VARIABLE} (in the environment, or the .env of "
        "the folder coprod runs in; not the .env beside the recipe, which cannot widen its own reach)",
        where=path.section,
    )


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may use from outside: the recipe, its folder and the environment."""

    recipe: Recipe
    recipe_dir: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout: float = 30.0
    data_dirs: tuple[Path, ...] = ()
    """Folders outside the recipe's own that its paths may name (``COPROD_DATA_DIRS``)."""

    def secret(self, variable: str, *, what: str) -> str:
        """The value of a secret variable, or a ConfigError naming the variable (never a value)."""
        value = self.env.get(variable, "").strip()
        if not value:
            raise ConfigError(missing_variable(variable, what))
        return value

    def path(self, value: str) -> Path:
        """A path from the environment (a key file), relative to the recipe's folder. Paths the
        recipe names go through :meth:`data_path`, which keeps them inside the folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.recipe_dir / p

    def data_path(self, path: DataPath) -> Path:
        """A file or folder the recipe names, checked again each time it is opened (the recipe
        may have changed since it was validated), or ConfigError if it leads out of the folder."""
        return confine(self.recipe_dir, path, self.data_dirs)


class ConnectorOptions(BaseModel):
    """Base of each connector's options models: unknown options are errors.

    The same model checks a recipe in ``coprod validate`` (every problem at once, naming file,
    section and option) and gives the connector its settings, so the two can never disagree.
    Each connector's model is built when its options are first checked (``defer_build``): a run
    builds only those of the connectors its recipe uses.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def check(
        cls, values: Mapping[str, Any], within: Sequence[str], file: str = "", context: Any = None
    ) -> tuple[Self | None, list[RecipeProblem]]:
        """The options, or None and every problem, each placed under ``within`` in the recipe."""
        try:
            return cls.model_validate(dict(values), context=context), []
        except ValidationError as error:
            return None, describe_errors(error, file, within)

    @classmethod
    def parse(cls, values: Mapping[str, Any], within: Sequence[str], context: Any = None) -> Self:
        """The options, or ConfigError listing every problem (for a recipe not validated first)."""
        options, problems = cls.check(values, within, context=context)
        if options is None:
            raise ConfigError("; ".join(str(p) for p in problems))
        return options

    def variables(self) -> list[Variable]:
        """The environment variables these options name that must be set (none by default)."""
        return []

    def recipe_problems(self, recipe_name: str) -> list[tuple[str, str]]:
        """(option, what is wrong) for options that must agree with the recipe's own ``name``
        (none by default): an address that names the recipe, which ``check`` alone cannot see."""
        return []


class SourceContext(NamedTuple):
    """What a source's options may depend on besides themselves (pydantic validation context):
    whether the recipe lets coprod write to it, and where its entities are read from (their
    ``location``: a tab, a table, a file), so an option naming a place to write can be refused
    when it is a place coprod reads."""

    write_back: bool
    locations: tuple[str, ...]


class EntityContext(NamedTuple):
    """What an entity's options may depend on besides themselves (pydantic validation context)."""

    entity: Entity
    location: str | None


class ConnectorEntityOptions(ConnectorOptions):
    """Base of ``[entities.X.options]`` models; this base itself allows no option at all."""

    @classmethod
    def within(cls, entity: Entity) -> tuple[str, ...]:
        return ("entities", entity.value, "options")

    @classmethod
    def check_entity(
        cls, entity: Entity, spec: EntitySpec, file: str = ""
    ) -> tuple[Self | None, list[RecipeProblem]]:
        return cls.check(spec.options, cls.within(entity), file, EntityContext(entity, spec.location))

    @classmethod
    def of(cls, entity: Entity, spec: EntitySpec) -> Self:
        """The entity's options as the connector uses them, validated as ``coprod validate`` does."""
        return cls.parse(spec.options, cls.within(entity), EntityContext(entity, spec.location))


class SummaryRow(NamedTuple):
    """One row of a report's summary written into a tool: its cells' text, and whether it is a
    heading (a section's name, a table's caption or column headings)."""

    cells: tuple[str, ...]
    heading: bool = False


class Summary(NamedTuple):
    """A report's summary as rows of text, for a place in a tool that coprod keeps to itself."""

    rows: tuple[SummaryRow, ...]
    mark: str
    """What the first cell of every summary starts with: a place whose first cell does not was not
    written by coprod, and is never replaced."""


class Connector(ABC):
    """Subclass per platform; register it in ``connectors.registry``."""

    kind: ClassVar[str]
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions
    """``[sources.NAME]`` options (besides ``connector`` and ``write_back``)."""
    EntityOptions: ClassVar[type[ConnectorEntityOptions]] = ConnectorEntityOptions
    """``[entities.X.options]`` for an entity read from this connector (default: none allowed)."""

    @classmethod
    def data_paths(
        cls, name: str, options: ConnectorOptions, entities: Mapping[Entity, EntitySpec]
    ) -> list[DataPath]:
        """The files and folders a source and its entities name, to be kept inside the recipe's
        folder (default: none; connectors reading files override it)."""
        return []

    def __init__(self, name: str, options: ConnectorOptions, context: ConnectorContext) -> None:
        self.name = name
        self.options = options
        self.context = context
        self.state: Any = None
        """The run's StateStore, set by the sync before reading, for small non-personal memory
        (what value was last written to a submission); None outside a sync."""
        self.recipe_name: str = context.recipe.name

    @abstractmethod
    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        """Yield the entity's rows page by page, from ``cursor`` on (None: from the start)."""

    @abstractmethod
    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        """Write these changes back, batched. Idempotent: writing the same change twice is safe.

        Called once per sync run for each write-back source, with an empty batch when nothing of it
        changed (return at once then, unless the tool shows a view of the flags to bring up to date)."""

    platform: ClassVar[str | None] = None
    """The webhook deliveries this connector understands (``kobotoolbox``, ``civicrm``, ``sheets``)."""

    removed_rows_advice: ClassVar[str] = DELETE_ROWS
    """What staff do about an attendance or payment row naming someone removed from the people list
    at their request, in this tool's words, said in the flag on that row (which goes to this tool)
    after "If they asked for their data to be deleted, ": delete the rows, or keep them and close
    the flag the way this tool closes a flag nobody will act on. The default is for a tool with a
    "won't fix" status (a flags file, the Flags tab); CiviCRM and KoboToolbox say their own."""

    removed_rows_advice_no_write_back: ClassVar[str] = DELETE_ROWS_NO_WRITE_BACK
    """The same for a source with ``write_back = false``: coprod writes no flag to it, so there is
    no flag to mark won't fix (or Cancelled) and the advice is only what can be done to the data."""

    @classmethod
    def removed_rows_advice_for(cls, entity: Entity, spec: EntitySpec, written: bool) -> str:
        """The advice for one entity's rows (``written``: its source has ``write_back`` on), read as
        ``spec`` reads them: :attr:`removed_rows_advice` or :attr:`removed_rows_advice_no_write_back`.
        A tool whose rows are different things by entity words each: a KoboToolbox payment read from
        a form of its own is the whole submission, which cannot be edited to leave them out."""
        return cls.removed_rows_advice if written else cls.removed_rows_advice_no_write_back

    def changes_for(self, delivery: Delivery) -> list[UnitChange] | None:
        """What one webhook delivery changed, read as cheaply as the platform allows (a CiviCRM
        record, a Sheets row; nothing for a KoboToolbox submission, which is the body), for the
        webhook worker that holds the rest. None: it cannot tell, so everything is read."""
        return None

    def changes_for_all(self, deliveries: Sequence[Delivery]) -> list[UnitChange] | None:
        """What the deliveries a re-check claimed changed (each one's :meth:`changes_for`; the
        Sheets connector reads every row they name in one request). None, or NeedsWholeRead raised
        with the reason: everything is read."""
        out: list[UnitChange] = []
        for delivery in deliveries:
            found = self.changes_for(delivery)
            if found is None:
                return None
            out.extend(found)
        return out

    def keep_for_rechecks(self) -> None:  # noqa: B027 - optional hook
        """The webhook worker holds this connector between re-checks (a cron sync never asks): a
        connector may keep what it read past a write-back, to read less for the next delivery."""

    def statuses_read_with_changes(self) -> StaffStatuses:
        """Statuses staff set on flags, as read with the last :meth:`changes_for_all` in the same
        request (the Sheets Flags tab comes with the rows), for the re-check to honour as a sync
        does. Default: none (the nightly sync reads them)."""
        return StaffStatuses()

    tells_changes: ClassVar[bool] = False
    """The source can tell cheaply whether anything changed since its last whole read
    (:meth:`nothing_changed`); a run of a recipe whose every source can, and did not change, on the
    day of the last complete run, reads nothing more."""

    def begin_run(self, *, full: bool = False) -> None:  # noqa: B027 - optional hook
        """A run begins. A connector kept from an earlier run (the webhook worker keeps them) may
        read only what changed since; ``full``: read everything whole and trust nothing held."""

    def nothing_changed(self) -> bool:
        """Whether nothing changed since the last whole read (asked before a run that holds nothing;
        False sends the run on to read in full). Default: cannot tell."""
        return False

    def read_staff_statuses(self) -> StaffStatuses:
        """Statuses staff set on flags in the tool (fingerprint -> status), read with
        :meth:`StaffStatuses.read` so the words mean the same everywhere and those not understood
        are named. Default: none."""
        return StaffStatuses()

    def flags_gone(self) -> str | None:
        """When :meth:`read_staff_statuses` found none of coprod's flags where they are written (a
        flags file deleted or moved away, a Flags tab deleted or emptied), that, said of the place
        ("coprod-flags.csv held none of coprod's flags (deleted or moved away?)"); else None.

        A sync writes only what changed: without this, flags that stayed the same were never
        written again, and a flags file moved away came back holding only the next changes. The
        sync then writes every flag still raised there too. Default: None (the tool keeps them)."""
        return None

    def write_summary(self, summary: Summary) -> str | None:
        """Write a shared report's summary where the recipe asks (Sheets: ``summary_tab``), replacing
        the one written before. Returns what was done, in words, or None when this source was not
        asked (the default: most tools have no simple place for it)."""
        return None

    def install(self) -> list[str]:
        """Prepare the tool (tabs, fields, hooks), idempotently. Returns what was done or checked."""
        return [f"{self.kind}: nothing to install"]

    def close(self) -> None:  # noqa: B027 - optional hook: most connectors hold nothing to release
        """Release sessions and files."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
