"""``coprod status``: when each recipe last synced, and whether anything is stuck, from the state alone.

A nightly sync run by cron is silent when it fails and cron mail is not set up: nothing says so
for weeks. ``coprod status`` reads what the state store already keeps (the run history, the flags'
statuses, the webhook inbox) and says, per recipe, when it last ran and how that ended, when it
last synced successfully and last read everything, how many flags are open and how many staff
answered, and what waits in the webhook inbox. Its exit code is 0 only when every recipe had a
successful sync within ``--max-age`` and no webhook event waiting longer than ``--max-wait``, so it
is a monitoring check as it stands. A last sync that failed while an earlier success is still within
``--max-age`` is a warning: said (``--quiet`` too), exit 0, as "synced within the limit" promises; so
is a last run that never finished (killed, or the machine restarted, before it recorded its end).

It asks no platform anything, takes no run lock (a sync may be running: it is read beside it; only
of a run whose end is not recorded does it look whether the lock is held, :meth:`StateStore.run_going`) and
prints no names or answers (the state holds none). The time is the machine's clock,
:func:`coprod.clock.now`, which tests stand still.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coprod import clock
from coprod.config import LoadedRecipe
from coprod.state import (
    ELSEWHERE,
    RUNS_KEPT,
    StateStore,
    StoreLocation,
    StoreUnavailable,
    open_to_read,
    state_location,
)
from coprod.sync import MEANINGS, SYNC_SAVED, ExitCode
from coprod_core.flags import Severity
from coprod_core.lifecycle import STATUS_WORDS, FlagStatus
from coprod_core.text import count

INBOX_SLOW = timedelta(hours=1)
"""``--max-wait`` unless given: an event waiting longer is stuck (exit 8). A worker takes one within
seconds, and a re-check that fails is tried again within 15 minutes (the worker's longest back-off),
so an hour is a worker down or re-checks failing over and over, not a slow one."""
SYNC = "sync"
"""The run history's mode of ``coprod sync`` (cron's), the only runs that count as a sync here."""
MODE_WORDS = {
    "sync": "sync",
    "webhook": "webhook re-check",
    "webhook-read": "webhook re-check that read everything",
    "dry-run": "dry run",
}
PAGE = 20
"""Successful syncs looked at at a time for the last one that read everything."""
NEVER_FINISHED_AFTER = timedelta(hours=3)
"""A run whose end is not recorded, when whether it still holds its run lock cannot be told (a lock
file this user may not open), is taken for stopped once it started this long ago: far more than
any run takes (four first syncs of 10,000 people each take under a minute in all; a platform's
Retry-After is capped so that it never holds a run for hours), and less than the 5.5 hours from
the nightly sync at 02:30 to the morning check at 08:00 (recipes/deploy). Where the lock can be
looked at, it decides: held is running, however long; free is stopped, however recent."""

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


LENGTHS = {
    "--max-age": ("an age", "how long ago the last successful sync may be", "26h, 2d or 90m"),
    "--max-wait": ("a wait", "how long a webhook event may wait", "1h, 90m or 2h"),
}
"""Each option taking a length of time: what it is called, what it means and examples of its own,
so a wrong value is refused in the words of the option typed (``--max-wait x`` was told "not an
age ... such as 36h", the words and examples of ``--max-age``)."""


def parse_length(text: str, option: str) -> timedelta:
    """``36h``, ``2d``, ``90m``, or a number of hours, given to ``option`` (a key of
    :data:`LENGTHS`); ValueError, in that option's words, for anything else."""
    noun, meaning, examples = LENGTHS[option]
    found = _AGE.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(
            f"'{text}' is not {noun} ({option} is {meaning}): give a number and m, h or d, such as "
            f"{examples} (a number alone is hours)"
        )
    try:
        return timedelta(**{_UNITS[(found.group(2) or "h").lower()]: float(found.group(1))})
    except OverflowError:  # more days than a timedelta holds: said as any other wrong length
        raise ValueError(
            f"'{text}' is too long {noun} for {option}: give one of at most a few years, such as {examples}"
        ) from None


def parse_max_age(text: str) -> timedelta:
    """``--max-age``: ``36h``, ``2d``, ``90m``, or a number of hours."""
    return parse_length(text, "--max-age")


def span(seconds: float) -> str:
    """A length of time as people say it: '42 seconds', '5 minutes', '3 hours', '2 days' (each unit
    until the next one's count would reach 1 by rounding, hours up to 2 days)."""
    if seconds < 90:
        return count(round(seconds), "second")
    if (minutes := round(seconds / 60)) < 60:
        return count(minutes, "minute")
    if (hours := round(seconds / 3600)) < 48:
        return count(hours, "hour")
    return count(round(seconds / 86400), "day")


def ago(seconds: float) -> str:
    if seconds < 0:
        return "in the future (check this machine's clock)"
    return "just now" if seconds < 60 else f"{span(seconds)} ago"


@dataclass(frozen=True)
class RunSeen:
    """One row of the run history, as status reads it (counts only were ever kept)."""

    mode: str
    started: datetime
    finished: datetime | None
    exit_code: int | None
    id: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> RunSeen:
        finished = row["finished_at"]
        return cls(
            id=int(row["id"]),
            mode=str(row["mode"]),
            started=datetime.fromisoformat(row["started_at"]),
            finished=datetime.fromisoformat(finished) if finished else None,
            exit_code=None if row["exit_code"] is None else int(row["exit_code"]),
        )

    @property
    def ended(self) -> datetime:
        return self.finished or self.started

    def as_json(self, now: datetime) -> dict[str, object]:
        return {
            "mode": self.mode,
            "started_at": self.started.isoformat(),
            "finished_at": self.finished.isoformat() if self.finished else None,
            "seconds": (self.finished - self.started).total_seconds() if self.finished else None,
            "age_seconds": round((now - self.ended).total_seconds()),
            "exit_code": self.exit_code,
            "meaning": None if self.exit_code is None else meaning(self.exit_code),
        }


STOPPED = (
    "it was stopped before it could record its end (killed, or the machine restarted), and is not "
    "running now; nothing is lost (the state is saved only after the write-back, so the next run "
    "writes what it left), but if it happens again look at why the run was stopped"
)
"""What status says of a run that never finished (:attr:`RecipeStatus.never_finished`)."""
UNRECORDED = (
    "saved its flags but its end was not recorded in the run history (it was stopped after saving them: "
    "Ctrl-C, killed, or the machine restarted; or its state store failed at its last step, and then "
    "that sync's own output said why)"
)
"""What status says of a sync that saved its flags and whose end is not in the run history
(:attr:`RecipeStatus.last_sync_unrecorded`). Status cannot tell the two apart: a run stopped (Ctrl-C
after its flags were saved, :func:`coprod.sync.run`) records nothing and says nothing of it; one whose
store failed as it recorded its end logged an error saying why (:func:`coprod.sync.record_end`)."""


def meaning(code: int) -> str:
    return MEANINGS.get(code, "an exit code this coprod does not know")


@dataclass(frozen=True)
class InboxSeen:
    """The recipe's webhook events not yet done (waiting, being re-checked or backing off)."""

    open: int
    retrying: int
    oldest_seconds: float | None
    unknown: str | None = None
    """Why the backlog is not known (an older coprod's inbox that cannot be read as it is), and what
    to run; None where it was read."""


@dataclass
class RecipeStatus:
    recipe: str
    path: str
    state: str
    """Where the state is, as messages name it (a database address without its password)."""
    now: datetime
    max_age: timedelta
    zone: ZoneInfo | None
    has_state: bool = True
    state_set: bool = False
    """The store is the one ``COPROD_STATE`` names (environment or a ``.env`` read for the recipe)."""
    max_wait: timedelta = INBOX_SLOW
    last_run: RunSeen | None = None
    last_run_going: bool | None = None
    """Looked at only when the last run's end is not recorded: whether a run holds the recipe's run
    lock now (True: still running; False: not running, so it was stopped; None: cannot be told)."""
    last_sync: RunSeen | None = None
    last_sync_tried: RunSeen | None = None
    """The last ``coprod sync`` however it ended (``last_sync`` is the last one that ended 0)."""
    last_sync_unrecorded: bool = False
    """``last_sync`` is a sync whose end is not recorded (stopped after it saved its flags, or the
    state store failed as it finished): the recipe's ``SYNC_SAVED`` meta names it. It is taken as
    the last sync, not as a recipe never synced; its exit code is not known."""
    last_full_read: RunSeen | None = None
    history_pruned: bool = False
    """No successful sync is kept, but the run history holds as many runs as pruning keeps at least
    (:data:`~coprod.state.RUNS_KEPT`): an older success may have been deleted, so not "yet"."""
    flags: dict[tuple[Severity, FlagStatus], int] = field(default_factory=dict)
    inbox: InboxSeen | None = None
    """None: the store has no webhook inbox (the app never ran here)."""

    @property
    def synced(self) -> bool:
        return self.last_sync is not None and self.now - self.last_sync.ended <= self.max_age

    @property
    def exit_code(self) -> int:
        """7 before 8: a recipe not synced is the larger gap (its flags are not checked at all)."""
        if not self.synced:
            return ExitCode.NOT_SYNCED
        return ExitCode.INBOX_STUCK if self.stuck else ExitCode.OK

    @property
    def stuck(self) -> bool:
        """An event (waiting, being re-checked or being retried after a failure) has been in the inbox
        longer than ``--max-wait``: the worker is down, or its re-checks keep failing."""
        oldest = self.inbox.oldest_seconds if self.inbox else None
        return oldest is not None and oldest > self.max_wait.total_seconds()

    @property
    def last_sync_failed(self) -> RunSeen | None:
        """The last sync, when it ended other than 0 after the last successful one (which, still
        within ``--max-age``, keeps the exit code 0): last night failed, the night before did not."""
        tried = self.last_sync_tried
        if tried is None or tried.exit_code in (None, ExitCode.OK):  # None: running, or never ended
            return None
        return tried if self.last_sync is None or tried.started > self.last_sync.started else None

    @property
    def never_finished(self) -> RunSeen | None:
        """The last run, when it started, never recorded its end, and is not running: it was stopped
        (killed, the machine restarted) before it could. Not running: its run lock is free (the
        system or the server drops it with its holder), or, where that cannot be told, it started
        over :data:`NEVER_FINISHED_AFTER` ago. A run holding the lock is running, however long."""
        run = self.last_run
        if run is None or run.finished is not None or self.last_run_going:
            return None
        if self.last_sync_unrecorded and self.last_sync is not None and run.id == self.last_sync.id:
            return None  # not stopped: it ended, and only its record failed
        if self.last_run_going is False:
            return run
        return run if self.now - run.started > NEVER_FINISHED_AFTER else None

    @property
    def worth_saying(self) -> bool:
        """What ``--quiet`` still prints: a recipe not OK (not synced in time, or an event stuck), or
        one whose last sync failed or did not record its end, or whose last run never finished
        (warnings, exit 0)."""
        return (
            self.exit_code != ExitCode.OK
            or self.last_sync_failed is not None
            or self.last_sync_unrecorded
            or self.never_finished is not None
        )

    def open_flags(self) -> dict[Severity, int]:
        out = dict.fromkeys((Severity.CRITICAL, Severity.WARNING, Severity.INFO), 0)
        for (severity, status), n in self.flags.items():
            if status is not FlagStatus.RESOLVED:
                out[severity] += n
        return out

    def answered(self, status: FlagStatus) -> int:
        return sum(n for (_, s), n in self.flags.items() if s is status)

    # words ---------------------------------------------------------------------------------------

    def headline(self) -> str:
        limit = span(self.max_age.total_seconds())
        failed = self.last_sync_failed
        stopped = self.never_finished
        if self.synced and self.stuck:
            verdict = (
                f"WEBHOOK EVENTS STUCK: one has waited over {span(self.max_wait.total_seconds())} "
                "(--max-wait), so flags stop reaching the tools between nightly syncs (webhook inbox below)"
            )
        elif self.synced and failed is not None:
            assert self.last_sync is not None and failed.exit_code is not None
            verdict = (
                f"WARNING: the last sync failed {ago(self._age(failed))} (exit {failed.exit_code}, "
                f"{meaning(failed.exit_code)}); the last successful one, {ago(self._age(self.last_sync))}, "
                f"is within the limit ({limit}, --max-age)"
            )
        elif self.synced and self.last_sync_unrecorded:
            assert self.last_sync is not None
            verdict = (
                f"WARNING: the last sync, started {ago(self._age(self.last_sync))}, {UNRECORDED}; it is "
                f"taken as the last sync, within the limit ({limit}, --max-age)"
            )
        elif self.synced and stopped is not None:
            assert self.last_sync is not None
            verdict = (
                f"WARNING: the last run ({MODE_WORDS.get(stopped.mode, stopped.mode)}, started "
                f"{ago((self.now - stopped.started).total_seconds())}) never finished: {STOPPED}; the "
                f"last successful sync, {ago(self._age(self.last_sync))}, is within the limit ({limit}, --max-age)"
            )
        elif self.synced:
            assert self.last_sync is not None
            verdict = f"OK: last successful sync {ago(self._age(self.last_sync))}"
        elif self.last_sync is None and self.history_pruned:
            # a success within RUNS_KEPT.days would be kept: none in that time is what is known
            verdict = f"NOT SYNCED: no successful sync in the last {RUNS_KEPT.days} days"
        elif self.last_sync is None:
            verdict = "NOT SYNCED: no successful sync yet"
        else:
            verdict = (
                f"NOT SYNCED: no successful sync for {span(self._age(self.last_sync))} "
                f"(the limit is {limit}, --max-age)"
            )
        return f"recipe '{self.recipe}': {verdict}"

    def lines(self) -> list[str]:
        out = [self.headline()]
        if not self.has_state:
            out.append(f"  state           none yet at {self.state}: no sync has run for this recipe here")
            if not self.state_set:  # `coprod status /srv/coprod/recipes` typed away from /srv/coprod
                out.append(f"                  ({ELSEWHERE}: run coprod status from that folder too)")
        else:
            out.append(f"  last run        {self._last_run()}")
            unrecorded = " (its end not recorded)" if self.last_sync_unrecorded else ""
            out.append(
                f"  last sync       {self._when(self.last_sync, 'none kept in the run history')}{unrecorded}"
            )
            out.append(f"  last full read  {self._when(self.last_full_read, 'none kept in the run history')}")
            out.append(f"  flags           {self._flags()}")
        out.append(f"  webhook inbox   {self._inbox()}")
        return out

    def _age(self, run: RunSeen) -> float:
        return (self.now - run.ended).total_seconds()

    def _at(self, moment: datetime) -> str:
        return moment.astimezone(self.zone or UTC).strftime("%Y-%m-%d %H:%M %Z")

    def _when(self, run: RunSeen | None, none: str) -> str:
        return none if run is None else f"{self._at(run.ended)} ({ago(self._age(run))})"

    def _last_run(self) -> str:
        run = self.last_run
        if run is None:
            return "none kept in the run history"
        since = ago((self.now - run.started).total_seconds())
        started = f"{MODE_WORDS.get(run.mode, run.mode)}, started {self._at(run.started)} ({since})"
        if run.finished is None or run.exit_code is None:
            if self.last_run_going:
                return f"{started}, not finished: still running (it holds the recipe's run lock)"
            if self.last_sync_unrecorded and self.last_sync is not None and run.id == self.last_sync.id:
                return f"{started}, its end not recorded: {UNRECORDED}"
            if self.never_finished is not None:
                return f"{started}, never finished: {STOPPED}"
            return (
                f"{started}, not finished: still running, or stopped before it could record its end "
                "(killed, or the machine restarted)"
            )
        took = span((run.finished - run.started).total_seconds())
        return f"{started}, took {took}: exit {run.exit_code}, {meaning(run.exit_code)}"

    def _flags(self) -> str:
        counts = self.open_flags()
        total = sum(counts.values())
        if not total:
            return "none open"
        by_severity = ", ".join(f"{n} {severity.value}" for severity, n in counts.items())
        acknowledged, wont_fix = self.answered(FlagStatus.ACKNOWLEDGED), self.answered(FlagStatus.WONT_FIX)
        if not acknowledged and not wont_fix:
            return f"{total} open ({by_severity}); none acknowledged by staff yet"
        # The flags file's Status column says "open" only of the flags staff have not answered: the
        # total here is every flag not resolved, so it is not called open when some were answered.
        marked = f", marked {wont_fix} {STATUS_WORDS[FlagStatus.WONT_FIX]}" if wont_fix else ""
        still_open = total - acknowledged - wont_fix
        return (
            f"{total} not resolved ({by_severity}): {still_open} open, "
            f"staff acknowledged {acknowledged}{marked}"
        )

    def _inbox(self) -> str:
        inbox = self.inbox
        if inbox is None:
            return "none (the webhook app has not run with this state)"
        if inbox.unknown is not None:
            return f"not known: {inbox.unknown}"
        if not inbox.open:
            return "nothing waiting"
        retrying = f", {inbox.retrying} being retried after a failure" if inbox.retrying else ""
        words = f"{count(inbox.open, 'event')} not yet re-checked{retrying}"
        if inbox.oldest_seconds is None:
            return words
        words += f"; the oldest arrived {ago(inbox.oldest_seconds)}"
        if self.stuck:
            # /healthz answers "ok" whether or not any worker runs; the unit that runs the worker does not
            words += (
                ": is the worker running? (systemctl status coprod-worker, or coprod-webhook where the app "
                "runs its own worker)"
            )
            if inbox.retrying:  # the worker runs, and its re-checks keep failing: its log says why
                words += "; why re-checks failed: journalctl -u coprod-worker"
        return words

    # JSON ----------------------------------------------------------------------------------------

    def _inbox_json(self) -> dict[str, object] | None:
        """The backlog's counts; where it is not known, nulls and ``unknown`` saying why."""
        inbox = self.inbox
        if inbox is None:
            return None
        if inbox.unknown is not None:
            return {"open": None, "retrying": None, "oldest_seconds": None, "unknown": inbox.unknown}
        return {"open": inbox.open, "retrying": inbox.retrying, "oldest_seconds": inbox.oldest_seconds}

    def as_json(self) -> dict[str, object]:
        now = self.now
        counts = self.open_flags()
        return {
            "recipe": self.recipe,
            "path": self.path,
            "exit_code": self.exit_code,
            "synced": self.synced,
            "stuck": self.stuck,
            "last_sync_failed": self.last_sync_failed is not None,
            "last_run_never_finished": self.never_finished is not None,
            "last_sync_unrecorded": self.last_sync_unrecorded,
            "now": now.isoformat(timespec="seconds"),
            "max_age_seconds": self.max_age.total_seconds(),
            "max_wait_seconds": self.max_wait.total_seconds(),
            "state": self.state,
            "has_state": self.has_state,
            "last_run": self.last_run.as_json(now) if self.last_run else None,
            "last_sync": self.last_sync.as_json(now) if self.last_sync else None,
            "last_sync_tried": self.last_sync_tried.as_json(now) if self.last_sync_tried else None,
            "last_full_read": self.last_full_read.as_json(now) if self.last_full_read else None,
            "flags": self._flags_json(counts),
            "inbox": self._inbox_json(),
        }

    def _flags_json(self, counts: dict[Severity, int]) -> dict[str, object]:
        """As the text line counts them: ``open`` is what the flags file's Status column calls open
        (not answered by staff), so a dashboard and the file agree."""
        acknowledged, wont_fix = self.answered(FlagStatus.ACKNOWLEDGED), self.answered(FlagStatus.WONT_FIX)
        return {
            "not_resolved": {severity.value: n for severity, n in counts.items()},
            "open": sum(counts.values()) - acknowledged - wont_fix,
            "acknowledged": acknowledged,
            "wont_fix": wont_fix,
        }

    def json_line(self) -> str:
        return json.dumps(self.as_json())


def gather(loaded: LoadedRecipe, max_age: timedelta, max_wait: timedelta = INBOX_SLOW) -> RecipeStatus:
    """The recipe's status from its state store and webhook inbox, as of :func:`clock.now`.

    Raises what opening a store may raise (``STORE_PROBLEMS``). A SQLite state or inbox file that
    is not there is not made: the recipe is reported as never synced, or with no inbox.
    """
    name = loaded.recipe.name
    location = state_location(loaded)
    now = clock.now()
    status = RecipeStatus(
        recipe=name,
        path=str(loaded.path),
        state=str(location),
        now=now,
        max_age=max_age,
        max_wait=max_wait,
        zone=ZoneInfo(loaded.recipe.timezone) if loaded.recipe.timezone else None,
        state_set=bool(loaded.env.get("COPROD_STATE")),
    )
    status.inbox = _inbox(location, name, now)
    store = open_to_read(location)
    if store is None:
        status.has_state = False
        return status
    try:
        latest = store.runs(name, 1)
        status.last_run = RunSeen.of(latest[0]) if latest else None
        if status.last_run is not None and status.last_run.finished is None:
            status.last_run, status.last_run_going = _going(store, name, status.last_run)
        synced = store.runs(name, 1, mode=SYNC, exit_code=ExitCode.OK)
        status.last_sync = RunSeen.of(synced[0]) if synced else None
        tried = store.runs(name, 1, mode=SYNC)
        status.last_sync_tried = RunSeen.of(tried[0]) if tried else None
        if _unrecorded(status, store.get_meta(name, SYNC_SAVED)):
            status.last_sync, status.last_sync_unrecorded = status.last_sync_tried, True
        status.last_full_read = _last_full_read(store, name)
        if status.last_sync is None:  # fewer runs than pruning keeps: none was ever deleted
            status.history_pruned = len(store.runs(name, RUNS_KEPT.at_least)) >= RUNS_KEPT.at_least
        status.flags = store.flag_counts(name)
    finally:
        store.close()
    return status


def _going(store: StateStore, recipe: str, run: RunSeen) -> tuple[RunSeen | None, bool | None]:
    """The last run and whether it is still going, for a run whose end was not recorded. A run
    holds its lock from before it is recorded until after its end is: when the lock is free and the
    row, read again after, is still the same run with no end, that run is not going. A row that
    changed meanwhile (the run ended, or a newer one started) is taken as it is now."""
    going = store.run_going(recipe)
    if going is not False:
        return run, going
    again = store.runs(recipe, 1)
    now = RunSeen.of(again[0]) if again else None
    if now is not None and now.id == run.id and now.finished is None:
        return run, False
    return now, None


def _unrecorded(status: RecipeStatus, flags_saved_by: str | None) -> bool:
    """Whether the last sync saved its flags (``SYNC_SAVED`` names it: not ``GENERATION``, which
    the webhook worker's re-checks rewrite) and then did not record its end (stopped, or
    :func:`coprod.sync.record_end` failed), and is not running: a later run took the lock, or it is
    the last run and its lock is not seen held."""
    tried = status.last_sync_tried
    if tried is None or tried.finished is not None or str(tried.id) != flags_saved_by:
        return False
    last = status.last_run
    return last is None or last.id != tried.id or not status.last_run_going


def _inbox_needs_upgrade(at: StoreLocation, version: int) -> str:
    """Said where an older coprod's webhook inbox cannot be read as it is."""
    from coprod.schema import latest

    return (
        f"the webhook inbox at {at} was left by an older coprod (schema version {version}; this coprod's "
        f"is {latest('inbox')}) and cannot be read as it is. Nothing was changed. Run `coprod migrate` "
        "to upgrade it (the webhook app upgrades it too when it starts)"
    )


def _last_full_read(store: StateStore, recipe: str) -> RunSeen | None:
    """The last successful sync that read its sources (not one that stopped early because every
    source said nothing changed since the day's complete run): the first, or the second, as a rule."""
    before = None
    while page := store.runs(recipe, PAGE, mode=SYNC, exit_code=ExitCode.OK, before=before):
        for row in page:
            if not json.loads(row["summary"] or "{}").get("sources_unchanged"):
                return RunSeen.of(row)
        before = page[-1]["id"]
    return None


def _inbox(location: StoreLocation, recipe: str, now: datetime) -> InboxSeen | None:
    """The recipe's backlog, the inbox read as it is (never created or upgraded: a command that only
    reads writes nothing, as :func:`coprod.state.open_to_read` reads the state store)."""
    try:
        from coprod.webhook_app.inbox import InboxUnreadable, backlog_as_is, inbox_location
    except ImportError:  # an install without the webhook app
        return None
    at = inbox_location(location)
    try:
        backlog = backlog_as_is(at, now.timestamp(), recipe=recipe)
    except InboxUnreadable as old:
        return InboxSeen(0, 0, None, unknown=_inbox_needs_upgrade(at, old.version))
    except (OSError, sqlite3.Error) as exc:  # PostgreSQL's are said in words by the store already
        # An inbox file this user may not read, or not an inbox: said as the state file's would be
        # (exit 3, the file named), not as something unexpected in coprod.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreUnavailable(
            f"the webhook inbox {at.path} could not be read ({reason}): run coprod status as the user "
            "the webhook app runs as; if the file is not an inbox (restored from the wrong backup, "
            "say), move it away: the app makes a new one, and the nightly sync covers what it held"
        ) from None
    if backlog is None:
        return None  # no inbox: opening one would make it, and show "nothing waiting"
    return InboxSeen(backlog.pending, backlog.retrying, backlog.oldest_pending_age)
