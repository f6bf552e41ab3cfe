"""A recipe held by the webhook worker: its connectors, its mapped dataset and its flags, in memory.

A re-check after a delivery costs what the delivery names: nothing for a KoboToolbox submission
(the delivery is the submission), one read for a CiviCRM notice (the record), one for a Google
Sheets notice (the rows it names, with the Flags tab: what staff answered there since is honoured
as a sync honours it). The change is mapped on top of the dataset held (:mod:`coprod_core.live`),
the checks run again for the projects and people it concerns, and only the difference is written
back, under the recipe's run lock as a sync is.

The whole dataset is read again (a sync run, writing what it finds) when the worker holds none
(first delivery, restart, a re-check that failed part-way), when another run saved the recipe's
flags since (the nightly sync stays the source of truth), when a delivery cannot be taken on its
own (a CiviCRM group membership; a Sheets notice when rows moved or a header changed), and when a
change cannot be mapped alone (``NeedsWholeRead``). A worker running apart from the app has no
KoboToolbox body: it asks each form what changed instead. A new day re-checks everything held (the
checks judge the date) without reading. Nothing held is ever written to disk.

A worker process holds at most ``COPROD_WORKER_HOLD`` recipes (:func:`held`; default :data:`HOLD`):
one more drops the least recently re-checked (its connectors closed, its dataset freed), never one
being re-checked, and that recipe's next delivery reads everything, as after a restart.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

from coprod.config import LoadedRecipe
from coprod.connectors.base import Connector, ConnectorError, Delivery
from coprod.state import RunLocked, StateStore
from coprod.sync import GENERATION, ExitCode, RunResult, build_connectors, run, write_back
from coprod_core.about import with_about
from coprod_core.flags import SubjectKind
from coprod_core.lifecycle import FlagStatus, KnownFlag, StaffStatuses, diff_flags
from coprod_core.live import CheckFlags, LiveDataset, NeedsWholeRead, Scope, UnitChange, scoped_check

log = logging.getLogger("coprod.live")

LOCK_TIMEOUT = 10.0
WHOLE_READ = "webhook-read"
"""The run history's mode for a re-check that read everything (a sync's work, but not the nightly
sync: ``coprod status`` keeps the two apart); a re-check of what changed is ``webhook``."""


@dataclass
class Outcome:
    """How one re-check went: its exit code, whether it read everything, and what it wrote."""

    exit_code: int
    whole: bool
    written: int = 0
    messages: list[str] = field(default_factory=list)
    why: str = ""
    """Why everything was read, when the worker's log should say (a recipe dropped to stay within
    ``COPROD_WORKER_HOLD``)."""


class LiveRecipe:
    """One recipe held in memory by a worker process (see the module's words)."""

    def __init__(self, loaded: LoadedRecipe) -> None:
        self.loaded = loaded
        self.connectors: dict[str, Connector] | None = None
        self.live: LiveDataset | None = None
        self.check_flags = CheckFlags()
        """The checks' flags (not the mapping's), each with its ``about``, as last worked out."""
        self.run_date: date | None = None
        self.generation: str | None = None
        """The run that saved the flags as this worker last saw them (``sync.GENERATION``)."""
        self.known: dict[str, KnownFlag] = {}
        """The state store's flags as this worker saved them (no other run has saved since)."""
        self.users = 0
        """Re-checks using it now (``held``): one in use is never closed under them."""
        self.dropped_earlier = False
        """This process held the recipe before and dropped it to stay within its bound (``held``)."""

    def close(self) -> None:
        for c in (self.connectors or {}).values():
            c.close()
        self.connectors = None
        self.live = None

    def recheck(self, store: StateStore, deliveries: Sequence[Delivery], today: date) -> Outcome:
        """Take these deliveries into the dataset held and write back what changed."""
        name = self.loaded.recipe.name
        if (
            self.live is None
            or self.connectors is None
            or store.get_meta(name, GENERATION) != self.generation
        ):
            return self.rebuild(store, today)
        changes = self._changes(deliveries)
        if changes is None:
            return self.rebuild(store, today)
        try:
            with store.lock(name, timeout=LOCK_TIMEOUT):
                if store.get_meta(name, GENERATION) != self.generation:
                    raise NeedsWholeRead("another run saved the flags since")
                return self._apply(store, changes, today)
        except NeedsWholeRead as exc:
            log.info("recipe %s: reading everything (%s)", name, exc)
        except RunLocked as exc:
            return Outcome(int(ExitCode.LOCKED), whole=False, messages=[str(exc)])
        except BaseException:
            # part-way through a change, what is held may no longer match what was saved: the
            # retry reads everything
            self.live = None
            raise
        return self.rebuild(store, today)

    def _changes(self, deliveries: Sequence[Delivery]) -> list[UnitChange] | None:
        """What the deliveries changed, from the connectors of their platforms; None: read all."""
        assert self.connectors is not None
        out: list[UnitChange] = []
        by_platform: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_platform.setdefault(delivery.platform, []).append(delivery)
        for platform, delivered in by_platform.items():
            mine = [c for c in self.connectors.values() if c.platform == platform]
            if not mine:
                return None
            for connector in mine:
                try:
                    found = connector.changes_for_all(delivered)
                except (ConnectorError, NeedsWholeRead) as exc:
                    log.info("recipe %s: %s; reading everything", self.loaded.recipe.name, exc)
                    return None
                if found is None:
                    return None
                out.extend(found)
        return out

    def rebuild(self, store: StateStore, today: date) -> Outcome:
        """Read, map, check and write everything (a sync run), keeping the mapping for later."""
        self.live = None
        if self.connectors is None:
            try:
                self.connectors = build_connectors(self.loaded)
            except ConnectorError as exc:
                return Outcome(exc.exit_code, whole=True, messages=[str(exc)])
        for connector in self.connectors.values():
            connector.keep_for_rechecks()
        why = ""
        if self.dropped_earlier:
            why = "it was dropped from memory earlier, to stay within COPROD_WORKER_HOLD"
        live = LiveDataset(self.loaded.recipe)
        result = run(self.loaded, run_date=today, state=store, connectors=self.connectors, mapper=live,
                     lock_timeout=LOCK_TIMEOUT, recorded_as=WHOLE_READ)  # fmt: skip
        if result.checked and result.exit_code in (ExitCode.OK, ExitCode.PARTIAL_WRITE):
            self.live = live
            self.check_flags = CheckFlags(f for f in result.flags if f.subject.kind is not SubjectKind.RECORD)
            self.run_date = today
            self.generation = store.get_meta(self.loaded.recipe.name, GENERATION)
            self.known = store.known_flags(self.loaded.recipe.name)
            self.dropped_earlier = False
        return Outcome(int(result.exit_code), whole=True, written=len(result.write.written),
                       messages=result.messages, why=why)  # fmt: skip

    def _staff_statuses(self) -> StaffStatuses:
        """What staff answered in the tools, as far as the re-check's reads brought it (the Sheets
        Flags tab comes with the rows a notice names; other tools' answers wait for the sync)."""
        assert self.connectors is not None
        staff = StaffStatuses()
        for name, c in self.connectors.items():
            if self.loaded.recipe.sources[name].write_back:
                staff.merge(c.statuses_read_with_changes())
        return staff

    def _answered(self, staff: StaffStatuses) -> set[str]:
        """The flags whose status a sync would now take from staff: acknowledged or won't fix where
        coprod holds them open, or opened again where coprod holds them answered."""
        out: set[str] = set()
        for fp, status in staff.items():
            known = self.known.get(fp)
            if known is None or known.status is FlagStatus.RESOLVED or status is known.status:
                continue
            if status.is_staff_decision or (status is FlagStatus.OPEN and known.status.is_staff_decision):
                out.add(fp)
        return out

    def _apply(self, store: StateStore, changes: list[UnitChange], today: date) -> Outcome:
        """Map the changes, check what they touch, write back and remember only the difference."""
        live = self.live
        assert live is not None and self.connectors is not None
        recipe = self.loaded.recipe
        scope = live.apply(changes) if changes else Scope()
        if today != self.run_date:
            scope = scope | Scope(whole=True)  # a new day: every flag judged again, nothing read
        rechecked = scoped_check(live, self.check_flags, scope, recipe.settings, today)
        dataset = live.current
        assert dataset is not None
        fresh = with_about(rechecked.fresh, dataset)
        self.check_flags.put(fresh)
        self.run_date = today
        added, removed = live.problems_changed
        current = [*fresh, *with_about(added, dataset)]
        touched = {f.fingerprint for f in (*rechecked.replaced, *removed, *current)}
        if scope.whole:
            touched |= set(self.known)
            current += with_about([f for f in live.problems.flags if f not in added], dataset)
        staff = self._staff_statuses()
        answered = self._answered(staff) - touched
        if answered:  # flags staff answered since, outside the change's scope: taken in as a sync does
            found = [f for f in (*self.check_flags.all(), *with_about(live.problems.flags, dataset))
                     if f.fingerprint in answered]  # fmt: skip
            current += found
            touched |= {f.fingerprint for f in found}
        before = {fp: self.known[fp] for fp in touched if fp in self.known}

        result = RunResult(run_date=today, dataset=dataset, checked=True)
        run_id = store.start_run(recipe.name, "webhook")
        try:
            diff = diff_flags(before, current, staff, today)
            result.diff = diff
            failed = write_back(recipe, self.connectors, diff.changes, result)
            after = diff.state_after(before, failed)
            saved = {fp: k for fp, k in after.items() if before.get(fp) != k}
            store.update_flags(recipe.name, saved)
            self.known.update(saved)
            self.generation = f"webhook {os.getpid()} {run_id}"
            store.set_meta(recipe.name, GENERATION, self.generation)
            if failed:
                result.exit_code = ExitCode.PARTIAL_WRITE
                result.messages.append(
                    f"{len(failed)} flag change(s) could not be written back; tried again later"
                )
            return Outcome(int(result.exit_code), whole=False, written=len(result.write.written),
                           messages=result.messages)  # fmt: skip
        finally:
            store.finish_run(run_id, int(result.exit_code), result.summary())


HOLD = 4
"""How many recipes a worker process holds unless ``COPROD_WORKER_HOLD`` says otherwise (see
``WebhookSettings.worker_hold`` for why a count and not a memory budget). A charity's few recipes
all stay held; a worker serving a council's hundreds holds the 4 it re-checked last: about 1.2 GiB
resident where every one is the size of the 1x benchmark (10,000 people, 200,000 attendances;
``benchmarks/bench_hold.py``: about 300 MiB each, 25 MiB at a tenth of that)."""

_HELD: dict[tuple[int, Path], LiveRecipe] = {}
"""(process, recipe file) -> the recipe held, the least recently re-checked first."""
_HELD_LOCK = threading.Lock()
_DROPPED: set[tuple[int, Path]] = set()
"""Recipes dropped to stay within the bound: the next re-check says why it reads everything."""
_limit = HOLD


def hold_at_most(limit: int) -> None:
    """Hold at most ``limit`` recipes in this process (the worker sets it from its settings; 0 keeps
    none between re-checks). Recipes over it are dropped at once, unless being re-checked."""
    global _limit
    with _HELD_LOCK:
        _limit = limit
        dropped = _over_the_bound()
    _drop(dropped)


@contextmanager
def held(loaded: LoadedRecipe) -> Iterator[LiveRecipe]:
    """The recipe as this process holds it, for one re-check (one per process and recipe file;
    made on first use, and again when the recipe or its environment changed, e.g. a token replaced
    in ``.env``).

    While the block runs the recipe is in use: it is never dropped or closed under its re-check
    (another thread making room, the recipe changed, the worker stopping); what was let go while in
    use is closed when the block ends. Entering the block makes it the most recently re-checked; if
    that puts the process over its bound, the least recently re-checked recipe not in use is
    dropped (its connectors closed, its dataset freed) before this one reads anything."""
    key = (os.getpid(), loaded.path.resolve())
    retired: list[LiveRecipe] = []
    with _HELD_LOCK:
        live = _HELD.pop(key, None)
        if live is None or live.loaded.recipe != loaded.recipe or live.loaded.env != loaded.env:
            if live is not None and not live.users:
                retired.append(live)  # one in use is closed by its own re-check's end
            live = LiveRecipe(loaded)
            live.dropped_earlier = key in _DROPPED
            _DROPPED.discard(key)
        _HELD[key] = live  # the most recently re-checked last
        live.users += 1
        dropped = _over_the_bound()
    for old in retired:
        old.close()
    _drop(dropped)
    try:
        yield live
    finally:
        with _HELD_LOCK:
            live.users -= 1
            let_go = not live.users and _HELD.get(key) is not live
            dropped = _over_the_bound()
        if let_go:
            live.close()
        _drop(dropped)


class _Dropped(NamedTuple):
    name: str
    live: LiveRecipe


def _over_the_bound() -> list[_Dropped]:
    """Take out of ``_HELD`` the least recently re-checked recipes not in use until this process
    holds no more than its bound (call with ``_HELD_LOCK`` held; close them after releasing it)."""
    mine = [key for key in _HELD if key[0] == os.getpid()]
    out: list[_Dropped] = []
    for key in mine:
        if len(mine) - len(out) <= _limit:
            break
        live = _HELD[key]
        if live.users:
            continue
        del _HELD[key]
        _DROPPED.add(key)
        out.append(_Dropped(live.loaded.recipe.name, live))
    return out


def _drop(dropped: list[_Dropped]) -> None:
    for d in dropped:
        log.info(
            "recipe %s: dropped from memory (this worker holds at most %d recipe(s), COPROD_WORKER_HOLD); "
            "its next re-check reads everything", d.name, _limit,
        )  # fmt: skip
        d.live.close()


def forget_all() -> None:
    """Drop what this process holds (when its worker stops): a restarted worker reads afresh. A
    recipe still being re-checked is closed when its re-check ends."""
    with _HELD_LOCK:
        mine = [(key, live) for key, live in _HELD.items() if key[0] == os.getpid()]
        for key, _ in mine:
            del _HELD[key]
            _DROPPED.discard(key)
        unused = [live for _, live in mine if not live.users]
    for live in unused:
        live.close()


__all__ = ["HOLD", "LiveRecipe", "Outcome", "forget_all", "held", "hold_at_most"]
