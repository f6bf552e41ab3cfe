"""The worker: turns inbox events into re-checks, one per recipe however many events arrived.

A burst of deliveries for one recipe (a form filled in by a room of people) becomes one re-check:
the worker claims every open event of the recipe at once, re-checks, then marks them done. Events
that arrive during a re-check wait for the next one, because the re-check may have read before
they existed. The production re-check (``settings.LiveRecheck``) holds each recipe's dataset in
memory and takes in only what the deliveries changed (``coprod.live``): the app hands each
delivery's content to the worker thread of its own process in memory (:class:`Bodies`); a worker
running apart gets ids only from the inbox and reads what changed instead.

Runs as a thread in each app process, or alone as ``coprod worker`` (``run_worker``) when several
app processes share one state file; claims are atomic in SQLite, so any number of workers is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from coprod.connectors.base import Delivery
from coprod.live import forget_all, hold_at_most
from coprod.webhook_app.inbox import Claim, Inbox
from coprod.webhook_app.settings import WebhookSettings, close_kept_stores, coerce_settings

log = logging.getLogger("coprod.webhook_app.worker")

PURGE_EVERY = 600.0
"""Seconds between clean-ups of old processed events."""
BODIES_HELD = 10_000
"""Deliveries' contents held in memory for the worker at most (the oldest dropped: a re-check
without one reads what changed instead)."""


class Bodies:
    """What deliveries carried, by event id, from the app's receipts to the worker thread of the
    same process: in memory only (a submission holds a person's answers; the inbox keeps none)."""

    def __init__(self, limit: int = BODIES_HELD) -> None:
        self.limit = limit
        self._held: dict[int, Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, event: int, body: Mapping[str, Any]) -> None:
        with self._lock:
            self._held[event] = body
            while len(self._held) > self.limit:
                del self._held[next(iter(self._held))]

    def take(self, events: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        with self._lock:
            return {e: body for e in events if (body := self._held.pop(e, None)) is not None}


class Worker:
    def __init__(self, settings: WebhookSettings, inbox: Inbox, bodies: Bodies | None = None) -> None:
        self.settings = settings
        self.inbox = inbox
        self.bodies = bodies
        """What deliveries carried, by event id, handed over in memory by the app in this process
        (None for ``coprod worker`` running apart: the inbox keeps no bodies)."""
        self._last_purge = 0.0
        hold_at_most(settings.worker_hold)  # the recipes held are this process's, bounded for it

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure: doubling from the base, capped."""
        return min(self.settings.backoff_max, self.settings.backoff_base * 2 ** max(0, attempts - 1))

    def run_once(self) -> int:
        """Work through every recipe with due events once. Returns the number of re-checks run."""
        rechecks = 0
        for recipe in self.inbox.due_recipes():
            if recipe not in self.settings.recipes:
                continue  # a recipe this worker was not configured with: another worker's job
            claim = self.inbox.claim(recipe, self.settings.lease_seconds)
            if claim is None:
                continue
            self._recheck(claim)
            rechecks += 1
        now = time.time()
        if now - self._last_purge > PURGE_EVERY:
            self._last_purge = now
            self.inbox.purge_done(self.settings.keep_done_seconds)
        # the receipts' connection leaves checkpoints (and their fsync) to this one
        self.inbox.checkpoint()
        return rechecks

    def _recheck(self, claim: Claim) -> None:
        hook = self.settings.recipes[claim.recipe]
        started = time.monotonic()
        stop_renewing = threading.Event()
        renewer = threading.Thread(
            target=self._keep_lease, args=(claim, stop_renewing), name="coprod-lease", daemon=True
        )
        renewer.start()
        try:
            recheck = self.settings.recheck
            if getattr(recheck, "takes_deliveries", False):
                outcome = recheck(hook.name, hook.path, self._deliveries(claim))
            else:
                outcome = recheck(hook.name, hook.path)
        except Exception as exc:  # the re-check's own errors: retry later, say only what kind
            outcome = None
            reason = f"re-check raised {type(exc).__name__}"
        else:
            reason = "" if not outcome else f"re-check ended with exit code {outcome}"
        finally:
            stop_renewing.set()
            renewer.join()
        elapsed = time.monotonic() - started
        if reason:
            retry_in = self.backoff(claim.attempts + 1)
            self.inbox.fail(claim, reason, retry_in)
            log.warning(
                "recipe %s: %s after %.2fs; %d event(s) kept, next try in %.0fs",
                claim.recipe, reason, elapsed, len(claim.event_ids), retry_in,
            )  # fmt: skip
            return
        self.inbox.complete(claim)
        log.info(
            "recipe %s: re-checked for %d event(s) in %.2fs", claim.recipe, len(claim.event_ids), elapsed
        )

    def _deliveries(self, claim: Claim) -> list[Delivery]:
        """The claim's deliveries: what the inbox keeps (platform, subject), with what they carried
        when the app in this process handed it over."""
        held = self.bodies.take(claim.event_ids) if self.bodies is not None else {}
        return [Delivery(e.platform, e.subject, held.get(e.id)) for e in self.inbox.claimed_events(claim)]

    def _keep_lease(self, claim: Claim, stop: threading.Event) -> None:
        """Renew the claim while the re-check runs, so only a dead worker's claim ever expires."""
        interval = max(0.05, self.settings.lease_seconds / 3)
        while not stop.wait(interval):
            try:
                self.inbox.renew(claim, self.settings.lease_seconds)
            except Exception as exc:  # a busy database: the next renewal will do
                log.warning("recipe %s: lease not renewed (%s)", claim.recipe, type(exc).__name__)

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Loop until ``stop`` is set, waking on ``wake`` (a new delivery) or every poll interval."""
        wake = wake or threading.Event()
        while not stop.is_set():
            wake.clear()
            try:
                busy = self.run_once()
            except Exception as exc:  # the state file is locked or gone: keep the loop alive
                log.error("inbox unavailable (%s); trying again shortly", type(exc).__name__)
                busy = 0
            if not busy:
                wake.wait(self.settings.poll_interval)


def run_worker(
    settings: WebhookSettings | Mapping[str, Any] | None = None, stop_event: threading.Event | None = None
) -> None:
    """``coprod worker``: process the inbox until ``stop_event`` is set (or forever).

    Settings as for ``create_app`` (None: from the environment and ``.env``).
    """
    resolved = coerce_settings(settings)
    inbox = Inbox.open(resolved.inbox_location, resolved.fsync_each_receipt)
    log.info("worker started for %d recipe(s), inbox %s", len(resolved.recipes), resolved.inbox_location)
    try:
        Worker(resolved, inbox).run(stop_event or threading.Event())
    finally:
        inbox.close()
        close_kept_stores()
        forget_all()
