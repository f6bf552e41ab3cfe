"""The webhook inbox, on both engines: each delivery recorded once, each burst one claim, nothing
lost when a worker dies, and, on PostgreSQL, workers on several hosts never taking an event twice."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from coprod.state import parse_location
from coprod.webhook_app.inbox import Inbox, inbox_location


@pytest.fixture
def inbox_at(store_location: str):
    """``inbox_at()``: an Inbox on the test's engine (a second call is another process's view)."""
    opened: list[Inbox] = []

    def _open() -> Inbox:
        inbox = Inbox.open(inbox_location(parse_location(store_location)))
        opened.append(inbox)
        return inbox

    yield _open
    for inbox in opened:
        inbox.close()


def test_a_delivery_is_recorded_once_however_often_it_is_sent(inbox_at) -> None:
    inbox = inbox_at()
    first = inbox.record("kobotoolbox", "r", "uuid:a", "0" * 64, now=100.0)
    assert first is not None
    assert inbox.record("kobotoolbox", "r", "uuid:a", "0" * 64, now=101.0) is None
    assert inbox.record("sheets", "r", "uuid:a", "0" * 64, now=101.0) is not None  # another platform's id
    assert [e["delivery_id"] for e in inbox.events("r")] == ["uuid:a", "uuid:a"]


def test_a_burst_is_one_claim_and_a_live_claim_keeps_other_workers_out(inbox_at) -> None:
    inbox, other = inbox_at(), inbox_at()
    ids = [inbox.record("kobotoolbox", "r", f"uuid:{i}", "0" * 64, now=100.0) for i in range(5)]
    inbox.record("kobotoolbox", "s", "uuid:x", "0" * 64, now=100.0)
    assert inbox.due_recipes(now=100.0) == ["r", "s"]
    claim = inbox.claim("r", lease_seconds=60, now=100.0)
    assert claim is not None and claim.event_ids == ids
    assert other.claim("r", lease_seconds=60, now=101.0) is None
    assert other.due_recipes(now=101.0) == ["s"]
    inbox.record("kobotoolbox", "r", "uuid:late", "0" * 64, now=102.0)
    assert other.claim("r", lease_seconds=60, now=102.0) is None  # waits for the live claim
    assert inbox.complete(claim, now=103.0) == 5
    later = other.claim("r", lease_seconds=60, now=104.0)
    assert later is not None and len(later.event_ids) == 1


def test_a_failed_recheck_backs_off_then_is_claimed_again(inbox_at) -> None:
    inbox = inbox_at()
    inbox.record("kobotoolbox", "r", "uuid:a", "0" * 64, now=100.0)
    claim = inbox.claim("r", lease_seconds=60, now=100.0)
    assert claim is not None
    inbox.fail(claim, "exit 3", retry_in=30, now=101.0)
    assert inbox.claim("r", lease_seconds=60, now=120.0) is None
    assert inbox.backlog(now=120.0).retrying == 1
    again = inbox.claim("r", lease_seconds=60, now=131.0)
    assert again is not None and again.attempts == 1
    [event] = inbox.events()
    assert event["last_error"] == "exit 3"


def test_a_dead_workers_claim_is_taken_again_once_its_lease_runs_out(inbox_at) -> None:
    dead, alive = inbox_at(), inbox_at()
    dead.record("kobotoolbox", "r", "uuid:a", "0" * 64, now=100.0)
    stale = dead.claim("r", lease_seconds=60, now=100.0)
    assert stale is not None
    assert alive.claim("r", lease_seconds=60, now=159.0) is None
    taken = alive.claim("r", lease_seconds=60, now=161.0)
    assert taken is not None and taken.event_ids == stale.event_ids
    assert dead.complete(stale, now=162.0) == 0  # the dead worker's late answer changes nothing
    assert alive.complete(taken, now=163.0) == 1


def test_processed_events_are_purged_after_the_keep_period_and_the_backlog_says_what_waits(inbox_at) -> None:
    inbox = inbox_at()
    for delivery, now in (("old", 1000.0), ("new", 5000.0)):
        inbox.record("kobotoolbox", "r", delivery, "0" * 64, now=now)
        claim = inbox.claim("r", lease_seconds=60, now=now)
        assert claim is not None
        inbox.complete(claim, now=now)
    inbox.record("kobotoolbox", "r", "waiting", "0" * 64, now=5500.0)
    backlog = inbox.backlog(now=6000.0)
    assert (backlog.pending, backlog.retrying, backlog.oldest_pending_age) == (1, 0, 500.0)
    assert inbox.purge_done(older_than=3600, now=6000.0) == 1
    assert [e["delivery_id"] for e in inbox.events()] == ["new", "waiting"]


def test_workers_racing_for_the_same_events_take_each_one_once(inbox_at) -> None:
    """Four workers (each with its own connection, as on separate hosts) race over 400 events of 10
    recipes arriving while they work: every event is processed exactly once."""
    feeder = inbox_at()
    workers = [inbox_at() for _ in range(4)]
    processed: list[int] = []
    seen = threading.Lock()
    stop = threading.Event()

    def feed() -> None:
        for i in range(400):
            feeder.record("kobotoolbox", f"r{i % 10}", f"uuid:{i}", "0" * 64)
        stop.set()

    def work(inbox: Inbox) -> None:
        while True:
            fed = stop.is_set()  # read before looking: an event recorded after the look is seen next round
            due = inbox.due_recipes()
            if not due and fed:
                return
            for recipe in due:
                claim = inbox.claim(recipe, lease_seconds=60)
                if claim is None:
                    continue
                with seen:
                    processed.extend(claim.event_ids)
                inbox.complete(claim)

    threads = [threading.Thread(target=feed)] + [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(processed)
    assert len(counts) == 400 and set(counts.values()) == {1}
    assert {e["status"] for e in feeder.events()} == {"done"}


def test_the_sqlite_inbox_is_its_own_file_beside_the_state_file(tmp_path: Path) -> None:
    state = parse_location(tmp_path / "state.sqlite")
    assert inbox_location(state).path == tmp_path / "state-inbox.sqlite"
    pg = parse_location("postgresql://coprod@db/coprod")
    assert inbox_location(pg) == pg  # one database holds both


@pytest.mark.parametrize("fsync", [False, True])
def test_a_receipt_waits_for_the_disk_only_when_asked(store_location: str, fsync: bool) -> None:
    """By default a commit survives the app (and its host) being killed without waiting for an
    fsync, on both engines (SQLite: synchronous=NORMAL in WAL mode; PostgreSQL: synchronous_commit
    off, a few ms less per delivery); COPROD_WEBHOOK_FSYNC=1 makes every receipt wait for the disk."""
    inbox = Inbox.open(inbox_location(parse_location(store_location)), fsync_each_receipt=fsync)
    try:
        inbox.record("kobotoolbox", "r", "uuid:a", "0" * 64)
        with inbox._single() as sql:
            if store_location.startswith("postgresql"):
                setting = sql.rows("SHOW synchronous_commit")[0][0]
                assert setting == ("on" if fsync else "off")
            else:
                setting = sql.rows("PRAGMA synchronous")[0][0]
                assert setting == (2 if fsync else 1)  # FULL, NORMAL
    finally:
        inbox.close()
    if store_location.startswith("postgresql"):
        from coprod.state import StateStore

        store = StateStore.open(store_location)
        try:
            with store._read() as sql:  # type: ignore[attr-defined]
                assert sql.rows("SHOW synchronous_commit")[0][0] == "on", "flags' statuses always wait"
        finally:
            store.close()
