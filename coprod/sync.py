"""One run of a recipe: read every source, map, check, compare with the state, write the difference.

The order matters for "nothing lost": the state is saved only after the write-back, and only for
what was written, so a run that dies half-way leaves the next run the same difference to write.
Reads are complete every run (the checks need the whole dataset and the state keeps no personal
data), page by page as the mapping takes them; a source that suddenly returns far fewer rows stops
the run before any flag is resolved. Two exceptions: a run of the same day as the last complete one,
whose sources can all tell that nothing changed since (KoboToolbox), stops before reading; and a
connector kept from an earlier run in the same process (the webhook worker) reads only what changed.
``full`` (``coprod sync --full``) reads everything whole.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from functools import partial

from coprod import clock
from coprod.config import LoadedRecipe, as_typed
from coprod.connectors.base import ConfigError, Connector, ConnectorContext, ConnectorError, WriteReport
from coprod.connectors.registry import build_connector
from coprod.placeholders import examples_refused, platforms_read, sent_examples
from coprod.state import (
    STORE_PROBLEMS,
    LockLost,
    RunLocked,
    StateStore,
    StoreUnavailable,
    open_current_file,
    state_location,
)
from coprod_core.about import with_about
from coprod_core.alongside import Alongside, in_turn
from coprod_core.checks import check_all
from coprod_core.checks.consultation import Assessment
from coprod_core.checks.representation import ProjectProfile
from coprod_core.flags import Flag, SubjectKind, digest, sort_flags
from coprod_core.lifecycle import (
    ChangeKind,
    Diff,
    FlagChange,
    StaffStatuses,
    diff_flags,
    people_known,
    status_warnings,
)
from coprod_core.mapping import DatasetMapper, EntityCount, Mapped
from coprod_core.model import Dataset
from coprod_core.recipe import Entity, EntitySpec, Recipe
from coprod_core.rows import Row, RowBlock

log = logging.getLogger("coprod.sync")

SHRINK_RATIO = 0.5
"""A source returning under half the rows it had last time (or none at all) is suspicious."""
SHRINK_MIN_ROWS = 10
"""Below this many rows last time, a halving is ordinary life, not a broken export."""
LOCK_WAIT = 10.0
"""Seconds a sync waits for another run of the same recipe to end before it stops (exit 6), unless
told otherwise (``lock_timeout``): README "Under cron"."""
SHRINK_AGAIN = "run again with --allow-shrink"
"""How the shrink guard's message ends; ``coprod demo`` names its own folder there instead."""


class ExitCode(IntEnum):
    """What a run's exit status tells cron (documented in README)."""

    OK = 0
    INTERNAL = 1
    CONFIG = 2
    SOURCE_UNAVAILABLE = 3
    PARTIAL_WRITE = 4
    SHRINK_REFUSED = 5
    LOCKED = 6
    NOT_SYNCED = 7
    """``coprod status`` only: a recipe had no successful sync within ``--max-age``, or none yet."""
    INBOX_STUCK = 8
    """``coprod status`` only: synced in time, but a webhook event has waited longer than
    ``--max-wait`` (the worker is down, or its re-checks keep failing): flags stop reaching the
    tools between nightly syncs, which still succeed, so 0 would hide it."""


MEANINGS: dict[int, str] = {
    ExitCode.OK: "done",
    ExitCode.INTERNAL: "something unexpected went wrong inside coprod",
    ExitCode.CONFIG: "a problem with the recipe or its settings (run coprod validate)",
    ExitCode.SOURCE_UNAVAILABLE: "a source or the state store could not be read",
    ExitCode.PARTIAL_WRITE: "some flag changes were not written back (tried again next run)",
    ExitCode.SHRINK_REFUSED: "stopped: a source gave far fewer rows than last time",
    ExitCode.LOCKED: "another run of the recipe was still going, or its run lock was lost part-way "
    "(PostgreSQL: the connection holding it was cut)",
    ExitCode.NOT_SYNCED: "no successful sync recently",
    ExitCode.INBOX_STUCK: "a webhook event waiting too long (is the worker running?)",
}
"""Each exit code in a few words, as README "Exit codes" says it (``coprod status`` shows them)."""


ProgressFn = Callable[[str, int], None]
"""Called as rows arrive: (what is being read, rows read so far)."""


@dataclass
class RunResult:
    """What a run did and found: its flags, what it changed, its counts, its exit code and what to
    say."""

    flags: list[Flag] = field(default_factory=list)
    diff: Diff | None = None
    counts: dict[str, EntityCount] = field(default_factory=dict)
    write: WriteReport = field(default_factory=WriteReport)
    exit_code: int = ExitCode.OK
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Things staff should know that did not stop the run (status words not understood)."""
    dataset: Dataset | None = None
    dry_run: bool = False
    run_date: date | None = None
    checked: bool = False
    """The checks ran: ``flags`` is the run's answer (False when it stopped before them)."""
    lock_lost: bool = False
    """Ended 6 because its lock was lost part-way (the PostgreSQL connection holding it was cut), not
    because another run held it: found as it went to save its flags, after writing them to the
    tools, so it saved nothing to the state but the end in its run history."""
    unchanged: bool = False
    """Every source said nothing changed since the last complete run of the same day: nothing more
    was read, checked or written (the flags are as that run left them)."""
    placements: list[Assessment] = field(default_factory=list)
    """Where every project stands on the ladder, flagged or not (worked out once, with the flags)."""
    profiles: list[ProjectProfile] = field(default_factory=list)
    """Every project's representation profile, as the representation check judged it (for a report)."""
    written_again: int = 0
    """Flags written again though unchanged, where a tool's flags were gone (:func:`write_again`)."""

    @property
    def changed(self) -> bool:
        return bool(self.diff and self.diff.changes)

    def summary(self) -> dict[str, object]:
        """Counts only, safe for the run history and for --json: no names, no answers, no text."""
        return {
            "exit_code": int(self.exit_code),
            "run_date": self.run_date.isoformat() if self.run_date else None,
            "rows": {k: vars(v) for k, v in self.counts.items()},
            "flags": len(self.flags),
            "changes": self.diff.counts() if self.diff else None,
            "removed_people": len(self.diff.removed_people) if self.diff else 0,
            "written": len(self.write.written),
            "failed": len(self.write.failed),
            "requests": self.write.requests,
            "dry_run": self.dry_run,
            "sources_unchanged": self.unchanged,
        }


def source_for(recipe: Recipe, kind: SubjectKind, subject_id: str) -> str | None:
    """Which source a flag is written back to: the source its subject came from. A project the
    recipe declares (``[[projects]]``) came from none: its flags, those about its decision group's
    IDs too, go where its sessions came from."""
    if kind is SubjectKind.PERSON:
        return recipe.entity_source(Entity.PEOPLE)
    if kind is SubjectKind.SESSION:
        return recipe.entity_source(Entity.SESSIONS)
    if kind is SubjectKind.PROJECT:
        return recipe.entity_source(Entity.PROJECTS) or recipe.entity_source(Entity.SESSIONS)
    try:
        entity = Entity(subject_id.split(":", 1)[0])
    except ValueError:
        return recipe.entity_source(Entity.PEOPLE)
    if entity is Entity.PROJECTS:
        return recipe.entity_source(Entity.PROJECTS) or recipe.entity_source(Entity.SESSIONS)
    return recipe.entity_source(entity)


def build_connectors(loaded: LoadedRecipe) -> dict[str, Connector]:
    """One connector per source that an entity uses. Raises ConfigError naming the source, or
    listing the values still the example's that would be sent to a platform (every command that
    reads or writes a platform builds its connectors here, so none sends a request with them)."""
    refuse_platform_examples(loaded)
    context = ConnectorContext(
        recipe=loaded.recipe, recipe_dir=loaded.dir, env=loaded.env, data_dirs=loaded.data_dirs
    )
    used = {spec.source for spec in loaded.recipe.entities.values()}
    return {name: build_connector(name, loaded.recipe.sources[name], context) for name in sorted(used)}


def refuse_platform_examples(loaded: LoadedRecipe) -> None:
    """Stop before any request when a platform's setting is still the example recipe's (a form uid
    such as 'aRegistrationFormUid', the example spreadsheet key, a crm.example.org address): sent,
    each came back as the platform's "not found" (coprod.placeholders)."""
    left = sent_examples(loaded.recipe)
    if left:
        lines = examples_refused(loaded.path, as_typed(loaded.path), platforms_read(loaded.recipe), left)
        raise ConfigError("\n".join(lines))


def _shrink_advice(recipe: Recipe) -> str:
    """What to look at when the shrink guard stops a sync. KoboToolbox has no export or sheet to
    empty: there the rows go when submissions are deleted, or when a question the recipe names is
    renamed in the form builder (each row then reads without it, and none can be used)."""
    if any(recipe.sources[spec.source].connector == "kobotoolbox" for spec in recipe.entities.values()):
        return (
            "If submissions were deleted by mistake, or a question the recipe names was renamed or removed "
            "in a form (coprod install says which; coprod check says why each row could not be used), put "
            f"it right and run again; if the submissions really were deleted, {SHRINK_AGAIN}."
        )
    return (
        "If an export is broken or a sheet was emptied by mistake, fix it and run again; "
        f"if the rows really were removed, {SHRINK_AGAIN}."
    )


class Reading:
    """Every entity's rows, read from its source as the mapping asks for them, page by page.

    The mapping takes each entity in turn (people first, then what refers to them) and keeps only
    the records it builds, so a run never holds every raw row at once: at 200,000 attendance rows
    the raw rows were as large as the whole dataset. Every entity is read whole (a connector holding
    a source from an earlier run in this process may read only what changed to give it whole).
    """

    def __init__(
        self, recipe: Recipe, connectors: Mapping[str, Connector], progress: ProgressFn | None = None
    ) -> None:
        self.recipe = recipe
        self.connectors = connectors
        self.progress = progress
        self.cursors: dict[tuple[str, str], str | None] = {}
        """(source, entity) -> the cursor of the last page read, once the entity is read through."""

    def entities(self) -> dict[Entity, Iterator[Row | RowBlock]]:
        """Each entity of the recipe -> its rows, read when iterated (once)."""
        return {entity: self.rows(entity, spec) for entity, spec in self.recipe.entities.items()}

    def rows(self, entity: Entity, spec: EntitySpec) -> Iterator[Row | RowBlock]:
        """The entity's rows as they are read; a page that is a block of a table's rows is handed
        over whole, for the mapping to read column by column."""
        connector = self.connectors[spec.source]
        got = 0
        last: str | None = None
        for page in connector.read(entity, spec, None):
            if isinstance(page.rows, RowBlock):
                yield page.rows
            else:
                yield from page.rows
            got += len(page.rows)
            last = page.cursor if page.cursor is not None else last
            if self.progress:
                self.progress(entity.value, got)
        self.cursors[(spec.source, entity.value)] = last
        log.info("read %s: %d rows from source %s", entity.value, got, spec.source)


def shrunk(previous: Mapping[str, int], current: Mapping[str, EntityCount]) -> list[str]:
    """Entities whose usable rows came back empty or far fewer than last time, in words.

    Usable rows, not rows read: an export whose dates all changed format reads every row and
    uses none, and must not resolve every flag either.
    """
    out = []
    for entity, before in sorted(previous.items()):
        count = current.get(entity)
        if count is None or before <= 0:
            continue
        now = count.used
        if now == 0 or (before >= SHRINK_MIN_ROWS and now < before * SHRINK_RATIO):
            unusable = f" ({count.rejected} of {count.read} read could not be used)" if count.rejected else ""
            out.append(f"{entity}: {now} usable rows now{unusable}, {before} last time")
    return out


GENERATION = "sync:flags-saved-by"
"""Meta key: the run that last saved the recipe's flags (a webhook worker holding a dataset reads
it again when another run saved flags since it last looked)."""
SYNC_SAVED = "sync:last-sync-saved"
"""Meta key: the last ``coprod sync`` run (its id in the run history) that saved the recipe's
flags. ``coprod status`` takes such a sync whose end could not be recorded (:func:`record_end`) as
the last sync; :data:`GENERATION` cannot tell it, as the webhook worker's next re-check (of what
a delivery changed, or of everything) writes its own run there."""
SETTLED = "sync:settled"
"""Meta key: the day and recipe of the last sync that read, checked and wrote everything."""


def settled_mark(recipe: Recipe, today: date) -> str:
    """What a complete run leaves (the day judged, a digest of the recipe and which coprod judged):
    a later run of the same day, with the same recipe and the same coprod, whose sources all say
    nothing changed, would find the same. After an upgrade the checks may judge differently (a
    new rule), so the first run of the new coprod reads whole, even the same day."""
    # imported here: reading package metadata (importlib.metadata, with email and zipfile) cost every
    # start of coprod about 47 million instructions, and only a sync with a state file asks
    from coprod.version import installed_version

    return f"{today.isoformat()} {digest(recipe.model_dump(mode='json'), installed_version())}"


def write_again(
    recipe: Recipe,
    conns: Mapping[str, Connector],
    diff: Diff,
    result: RunResult,
    also: Collection[str] = frozenset(),
) -> set[str]:
    """Write every flag still raised, not only what changed, where a source's flags are gone
    (:meth:`Connector.flags_gone`: a flags file or tab deleted, moved away or emptied), and those
    of ``also`` wherever they are (a row whose Fingerprint a spreadsheet turned into a number:
    :meth:`StaffStatuses.restore_numbers`); return the fingerprints not written. Each is written as
    coprod knows it (the status staff set, first seen), so what staff decided is kept; a flag that
    changed was written already, with the changes."""
    gone = {
        name: where
        for name, c in conns.items()
        if recipe.sources[name].write_back and (where := c.flags_gone())
    }
    if not gone and not also:
        return set()
    written = {c.fingerprint for c in diff.changes}
    again = [
        FlagChange(ChangeKind.CHANGED, diff.next_state[f.fingerprint], f)
        for f in result.flags
        if f.fingerprint not in written
        and f.fingerprint in diff.next_state
        and (gone or f.fingerprint in also)
    ]
    failed: set[str] = set()
    for source, routed in sorted(route_changes(recipe, again).items()):
        share = routed if source in gone else [c for c in routed if c.fingerprint in also]
        if not share:
            continue
        fingerprints = [c.fingerprint for c in share]
        try:
            report = conns[source].write_flags(share)
        except ConnectorError as exc:
            report = WriteReport(failed=dict.fromkeys(fingerprints, str(exc)))
        report.failed.update(
            dict.fromkeys(set(fingerprints) - set(report.written) - set(report.failed), "not confirmed")
        )
        failed.update(report.failed)
        result.write.failed.update(report.failed)
        result.written_again += len(report.written)
        if source in gone:
            result.warnings.append(
                f"{gone[source]}: {len(report.written)} of the {len(share)} flag(s) still raised written to it again"
            )
    return failed


def route_changes(recipe: Recipe, changes: list[FlagChange]) -> dict[str, list[FlagChange]]:
    routed: dict[str, list[FlagChange]] = defaultdict(list)
    for change in changes:
        source = source_for(recipe, change.known.subject_kind, change.known.subject_id)
        if source is not None:
            routed[source].append(change)
    return routed


def run(
    loaded: LoadedRecipe,
    *,
    mode: str = "sync",
    run_date: date | None = None,
    dry_run: bool = False,
    allow_shrink: bool = False,
    state: StateStore | None = None,
    connectors: Mapping[str, Connector] | None = None,
    lock_timeout: float | None = None,
    progress: ProgressFn | None = None,
    full: bool = False,
    mapper: DatasetMapper | None = None,
    recorded_as: str | None = None,
    alongside: Alongside = in_turn,
) -> RunResult:
    """Run a recipe. ``mode="check"`` reads and checks only: no state of its own (it only reads which
    people an existing store remembers, so a row of someone removed says so), no write-back. ``full``: read
    every source whole, even one that could tell that nothing changed (``coprod sync --full``).
    ``mapper``: map with it (the webhook worker keeps it, to map later changes on top); such a run
    always reads, to give the mapper the whole dataset. ``recorded_as``: the mode the run history
    gives a writing run (default ``sync``): the webhook worker's reads of everything are
    ``webhook-read``, so ``coprod status`` never takes them for the nightly sync. ``alongside``: how
    the checks may work out pieces of their flags in another process (:mod:`coprod.alongside`, given
    by the command line); by default they do it all in this one.

    Never raises for problems a person must fix: they come back as ``exit_code`` and ``messages``.
    """
    if mode not in ("check", "sync"):
        raise ValueError(f"unknown mode {mode!r}")
    recipe = loaded.recipe
    today = run_date or clock.today(recipe.timezone)
    result = RunResult(dry_run=dry_run, run_date=today)
    owned_connectors = connectors is None
    try:
        conns = dict(connectors) if connectors is not None else build_connectors(loaded)
    except ConnectorError as exc:
        result.exit_code = exc.exit_code
        result.messages.append(str(exc))
        return result

    owned_state = False
    if mode == "sync" and state is None:
        try:
            state = StateStore.open(state_location(loaded))
        except STORE_PROBLEMS as exc:
            result.exit_code = exc.exit_code
            result.messages.append(str(exc))
            if owned_connectors:
                for c in conns.values():
                    c.close()
            return result
        owned_state = True
    steps = partial(
        _run_steps, loaded, result, conns, state, mode, today, dry_run, allow_shrink, progress, full, mapper,
        recorded_as, alongside,
    )  # fmt: skip
    try:
        if mode == "check" or dry_run or state is None:
            return steps()
        try:
            with state.lock(recipe.name, timeout=LOCK_WAIT if lock_timeout is None else lock_timeout):
                return steps()
        except RunLocked as exc:
            result.exit_code = ExitCode.LOCKED
            result.lock_lost = isinstance(exc, LockLost)
            result.messages.append(str(exc))
            return result
        except StoreUnavailable as exc:  # the database went away during the run: nothing more is saved
            result.exit_code = exc.exit_code
            result.messages.append(str(exc))
            return result
    finally:
        if owned_connectors:
            for c in conns.values():
                c.close()
        if owned_state and state is not None:
            state.close()


def _unreadable_state() -> tuple[type[Exception], ...]:
    """What a check's look at the state store gives up on (the words of any unknown ID are said
    then). Asked for only once something was raised (an ``except`` clause is evaluated then), so
    ``sqlite3`` is imported by a check that finds a state file, not at every start of ``coprod``."""
    import sqlite3

    return (*STORE_PROBLEMS, sqlite3.Error, OSError)


def _people_known_before(loaded: LoadedRecipe) -> frozenset[str]:
    """For a run without a state store of its own (``coprod check``, a report): the people the store
    remembers, if there is one it can read without changing anything (``open_current_file``: a
    SQLite file at this coprod's schema). `coprod check` said "person ID 17 is not in the people
    list ... Fix the ID" of a row the sync had flagged as belonging to someone removed from the
    list, and for KoboToolbox `check` is where staff read a flag's whole message. Any other store,
    or one that cannot be opened or read, leaves the words of any unknown ID: a check never fails,
    waits or writes for it."""
    try:
        state = open_current_file(state_location(loaded))
    except _unreadable_state():
        return frozenset()
    if state is None:
        return frozenset()
    try:
        return state.known_people(loaded.recipe.name)
    except _unreadable_state():
        return frozenset()
    finally:
        state.close()


def _map(mapper: DatasetMapper, former_people: frozenset[str], reading: Reading, recipe_file: str) -> Mapped:
    """The rows mapped, by a mapper that this run lets go of as soon as it is done (unless the
    webhook worker keeps it): its table of record keys, a tuple for each attendance row, kept
    through the checks made ``coprod check`` take 30 MB more at the benchmark's 1x and 150 MB more
    at 5x."""
    mapper.former_people = former_people
    mapper.recipe_file = recipe_file  # a [[projects]]'s flag names the file (no row to name)
    mapper.removed_rows_advice = removed_rows_advice(reading.recipe, reading.connectors)
    return mapper.map(reading.entities())


def removed_rows_advice(recipe: Recipe, conns: Mapping[str, Connector]) -> dict[Entity, str]:
    """What a row naming someone removed from the people list tells staff to do, by the entity of
    the row, in the words of the tool its flag goes to (:func:`source_for`: a row's flag goes to its
    entity's source). "Mark this flag won't fix" told KoboToolbox staff to do what KoboToolbox has
    no status for; CiviCRM calls it Cancelled. A source with ``write_back = false`` gets no flag, so
    nothing can be marked there: it was told to mark the flag won't fix all the same. Each entity
    is worded by its connector (:meth:`Connector.removed_rows_advice_for`): "edit that submission and
    remove them from it" was said of a KoboToolbox payment that is the submission itself."""
    out: dict[Entity, str] = {}
    for entity, spec in recipe.entities.items():
        connector = conns.get(spec.source)
        if connector is not None:
            out[entity] = connector.removed_rows_advice_for(
                entity, spec, recipe.sources[spec.source].write_back
            )
    return out


def _run_steps(
    loaded: LoadedRecipe,
    result: RunResult,
    conns: dict[str, Connector],
    state: StateStore | None,
    mode: str,
    today: date,
    dry_run: bool,
    allow_shrink: bool,
    progress: ProgressFn | None,
    full: bool = False,
    mapper: DatasetMapper | None = None,
    recorded_as: str | None = None,
    alongside: Alongside = in_turn,
) -> RunResult:
    recipe = loaded.recipe
    writing = mode == "sync" and not dry_run and state is not None
    run_id = state.start_run(recipe.name, recorded_as or mode) if writing and state else None
    ended_by: int | None = None  # the exit code an exception that stops the run ends it with
    try:
        for c in conns.values():
            c.state = state
            c.begin_run(full=full)
        if (
            state is not None
            and mode == "sync"
            and _unchanged(recipe, conns, state, today, writing and not full and mapper is None)
        ):
            result.unchanged = True
            return result
        reading = Reading(recipe, conns, progress)
        try:
            known = state.known_flags(recipe.name) if state is not None else {}
            # a row naming someone removed says so; a check (no state of its own) as the sync wrote it
            former = people_known(known) if state is not None else _people_known_before(loaded)
            mapped = _map(mapper or DatasetMapper(recipe), former, reading, loaded.path.name)
        except ConnectorError as exc:
            result.exit_code = exc.exit_code
            result.messages.append(str(exc))
            return result
        cursors = reading.cursors
        result.counts = {e.value: c for e, c in mapped.counts.items()}
        result.dataset = mapped.dataset
        if state is not None and mode == "sync":
            smaller = shrunk(state.row_counts(recipe.name), result.counts)
            if smaller and not allow_shrink:
                result.exit_code = ExitCode.SHRINK_REFUSED
                result.messages.append(
                    "stopped before changing anything: a source gave far fewer usable rows than last time ("
                    + "; ".join(smaller)
                    + "). "
                    + _shrink_advice(recipe)
                )
                return result

        found = check_all(mapped.dataset, recipe.settings, today, alongside)
        # The checks' flags come sorted: sorted again only with the mapping's among them.
        flags = sort_flags([*mapped.problems, *found.flags]) if mapped.problems else found.flags
        result.flags = with_about(flags, mapped.dataset)
        result.placements = found.placements
        result.profiles = found.profiles
        result.checked = True
        if mode == "check" or state is None:
            return result

        staff = StaffStatuses()
        for name, c in conns.items():
            if recipe.sources[name].write_back:
                staff.merge(c.read_staff_statuses())
        restored = staff.restore_numbers(known)
        diff = diff_flags(known, result.flags, staff, today, mapped.people_read)
        result.diff = diff
        result.warnings.extend(status_warnings(staff, diff))
        if staff.unread or diff.resolved_by_staff:
            places = [u.where for u in staff.unread] + [
                staff.where.get(fp, fp) for fp in diff.resolved_by_staff
            ]
            # INFO: the CLI prints the warning itself; a webhook re-check's log still has the places
            log.info("flag statuses not understood or not honoured at: %s", ", ".join(places))
        if dry_run:
            return result

        failed = write_back(recipe, conns, diff.changes, result)
        failed |= write_again(recipe, conns, diff, result, also=restored)
        state.save_flags(recipe.name, diff.state_after(known, failed))
        state.set_meta(recipe.name, GENERATION, str(run_id))
        if recorded_as is None:  # a coprod sync, not the webhook worker's re-check of everything
            state.set_meta(recipe.name, SYNC_SAVED, str(run_id))
        state.set_row_counts(recipe.name, {e: c.used for e, c in result.counts.items()})
        for (source, entity), cursor in cursors.items():
            state.set_cursor(recipe.name, source, entity, cursor)
        if not failed and result.exit_code == ExitCode.OK:
            state.set_meta(recipe.name, SETTLED, settled_mark(recipe, today))
        if failed and result.exit_code == ExitCode.OK:
            result.exit_code = ExitCode.PARTIAL_WRITE
            reasons = sorted(set(result.write.failed.values()))
            why = f" ({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''})" if reasons else ""
            result.messages.append(
                f"{len(failed)} flag change(s) could not be written back{why}; "
                "they will be tried again next run"
            )
        return result
    except ConnectorError as exc:  # a recipe problem, or a source failing after the reads (staff statuses)
        result.exit_code = exc.exit_code
        result.messages.append(str(exc))
        return result
    except Exception as exc:
        ended_by = exit_code_of(exc)
        raise
    except BaseException:  # Ctrl-C: stopped, its end left unrecorded (status: "never finished", or
        # once its flags are saved, taken as the last sync with its end not recorded: UNRECORDED)
        run_id = None
        raise
    finally:
        if run_id is not None and state is not None:
            record_end(state, recipe.name, run_id, result, ended_by)


def exit_code_of(exc: Exception) -> int:
    """The exit code a run stopped by ``exc`` ends with: its own (:func:`run` answers a lost lock
    with 6 and a store gone away with 3), else 1, which the command gives anything unexpected.
    Recorded as the run's: the run history had the code the run held when it stopped, 0 as a rule,
    so ``coprod status`` called a sync that failed that way successful."""
    code = getattr(exc, "exit_code", None)
    return code if isinstance(code, int) else int(ExitCode.INTERNAL)


def record_end(
    state: StateStore, recipe: str, run_id: int, result: RunResult, ended_by: int | None = None
) -> None:
    """Record the run's end in the run history, then prune it (RUNS_KEPT: README "What it keeps").
    ``ended_by``: the exit code of an exception that stopped the run, recorded instead of its own.

    Either failing (the database gone at the last moment, a full disk) changes nothing the run did:
    what it wrote to the tools and saved in the state stays, and its exit code stays its own (it
    ended the command with exit 1, "something unexpected", although the flags had landed). It is
    logged as an error naming what failed and why in the store's words (counts and ids are all the
    run history holds; a database address is shown without its password). A run whose end is not
    recorded shows in ``coprod status`` as not finished; one that saved its flags is still taken
    as the last sync (the recipe's ``SYNC_SAVED`` names it), not as a recipe never synced.
    """
    code = int(result.exit_code) if ended_by is None else ended_by
    try:
        state.finish_run(run_id, code, result.summary() | {"exit_code": code})
    except Exception as exc:
        log.error(
            "recipe %s: the run ended (exit %d, %s) but its end could not be recorded in the state "
            "store's run history (%s); what it wrote to the tools and saved in the state store "
            "stays, and coprod status will show this run as not finished",
            recipe, code, MEANINGS.get(code, "?"), store_error(state, exc),
        )  # fmt: skip
        return
    try:
        state.prune_runs(recipe)
    except Exception as exc:
        log.error(
            "recipe %s: the run's end is recorded, but older runs could not be pruned from the run "
            "history (%s); the next sync tries again",
            recipe, store_error(state, exc),
        )  # fmt: skip


def store_error(state: StateStore, exc: Exception) -> str:
    """What went wrong with the state store, for a log line: the kind of error and the first line
    of its words, with the store's password taken out (a driver may quote its address)."""
    words = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    words = state.location.without_password(words)
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def _unchanged(
    recipe: Recipe, conns: Mapping[str, Connector], state: StateStore, today: date, may_skip: bool
) -> bool:
    """Whether this run can stop before reading: the last run completed today with this recipe and
    this coprod, and every source says nothing changed since (KoboToolbox: two requests a form). Any
    run that goes on to read (a dry run too, which reads without writing) clears the mark first, so
    a run that dies half-way is never taken for a complete one. A coprod whose version names no
    commit (built from a copy of the files) could be another build with the same version: it never
    skips, since after an upgrade between two such builds the new one must judge the same day."""
    settled = state.get_meta(recipe.name, SETTLED)
    if settled is None:
        return False
    state.set_meta(recipe.name, SETTLED, None)
    mark = settled_mark(recipe, today)
    from coprod.version import installed_version, names_a_commit  # see settled_mark

    same_coprod = names_a_commit(installed_version())
    if not (
        may_skip
        and same_coprod
        and settled == mark
        and conns
        and all(c.tells_changes for c in conns.values())
    ):
        return False
    if all(c.nothing_changed() for c in conns.values()):
        state.set_meta(recipe.name, SETTLED, mark)
        log.info("recipe %s: no source changed since the last complete run today", recipe.name)
        return True
    return False


def write_back(
    recipe: Recipe, conns: Mapping[str, Connector], changes: list[FlagChange], result: RunResult
) -> set[str]:
    """Write each source's share of the changes in one call; return the fingerprints not written.

    Every write-back source is called, with an empty share when nothing of it changed: a connector
    that shows a view of its flags (the Sheets "coprod flags" column, which follows what staff
    answered in the Flags tab) brings it up to date; the others return at once.
    """
    failed: set[str] = set()
    routed = route_changes(recipe, changes)
    for source, spec in recipe.sources.items():
        if spec.write_back and source in conns:
            routed.setdefault(source, [])
    for source, share in sorted(routed.items()):
        if not recipe.sources[source].write_back:
            result.write.written.extend(c.fingerprint for c in share)
            continue
        connector = conns.get(source)
        if connector is None:
            report = WriteReport(failed=dict.fromkeys((c.fingerprint for c in share), "no connector"))
            result.write.merge(report)
            failed.update(report.failed)
            continue
        try:
            report = connector.write_flags(share)
        except ConnectorError as exc:
            result.messages.append(f"writing flags to source '{source}' failed: {exc}")
            if result.exit_code == ExitCode.OK:
                result.exit_code = ExitCode.PARTIAL_WRITE
            report = WriteReport(failed=dict.fromkeys((c.fingerprint for c in share), str(exc)))
            result.write.merge(report)
            failed.update(report.failed)
            continue
        accounted = set(report.written) | set(report.failed)
        missing = {c.fingerprint for c in share} - accounted
        report.failed.update(dict.fromkeys(missing, "the connector did not confirm the write"))
        result.write.merge(report)
        failed.update(report.failed)
        for fp, reason in sorted(report.failed.items()):
            log.warning("flag %s not written to source %s: %s", fp, source, reason)
    return failed
