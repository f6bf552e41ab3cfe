"""A burst through the real sync: each new submission's flag is written back exactly once, none lost.

A fake connector (the ``connectors.base.Connector`` interface over an in-memory platform) stands in
for KoboToolbox: each submission adds a session where a decision was taken with only staff present
(one "decision without voice" flag each), then its REST Service delivery arrives, sometimes twice.
The worker thread re-checks with ``coprod.sync.run`` while deliveries are still arriving.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from coprod.config import load_recipe
from coprod.connectors import registry
from coprod.connectors.base import Connector, ConnectorContext, Page, WriteReport
from coprod.sync import run
from coprod_core.lifecycle import ChangeKind, FlagChange
from coprod_core.recipe import Entity, EntitySpec
from coprod_core.rows import Row
from fakes.webhooks import (
    SECRET,
    SECRET_ENV,
    logs_show_no_secret,  # noqa: F401 - the fixture every test here uses
    make_app,
)

pytestmark = pytest.mark.usefixtures("logs_show_no_secret")


class Platform:
    """What the tool holds: rows per entity, and every flag written back to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[Entity, list[dict[str, str]]] = {
            Entity.PEOPLE: [{"ID": "1", "Role": "frontline_staff"}, {"ID": "2", "Role": "lived_experience"}],
            Entity.SESSIONS: [],
            Entity.ATTENDANCE: [],
        }
        self.writes: list[tuple[str, str, str, str, str]] = []
        """(fingerprint, change kind, facts digest, check, subject) of every change written."""

    def add_submission(self, n: int) -> None:
        session = {
            "ID": f"S{n}", "Project": "P1", "Date": f"{1 + n % 28:02d}/03/2026", "Hours": "2",
            "Kind": "decision_meeting", "Decision taken": "Yes", "Decision": f"budget line {n}",
        }  # fmt: skip
        with self.lock:
            self.rows[Entity.SESSIONS].append(session)
            self.rows[Entity.ATTENDANCE].append({"Person": "1", "Session": f"S{n}"})


class FakeConnector(Connector):
    kind = "fake"
    platform: Platform  # set by the test before a run

    snapshot: dict[Entity, list[dict[str, str]]] | None = None

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        # One snapshot per run, as the Sheets connector's single batchGet gives: otherwise a
        # submission landing between the sessions read and the attendance read shows up as
        # attendance of an unknown session (a data-quality flag raised, then resolved).
        if self.snapshot is None:
            with self.platform.lock:
                self.snapshot = {e: [dict(v) for v in rows] for e, rows in self.platform.rows.items()}
        rows = [Row(ref=f"{entity.value} row {i + 2}", values=v) for i, v in enumerate(self.snapshot[entity])]
        yield Page(rows=rows)

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        with self.platform.lock:
            self.platform.writes.extend(
                (c.fingerprint, c.kind.value, c.known.facts_digest, c.known.check_id, c.known.subject_id)
                for c in changes
            )
        return WriteReport(written=[c.fingerprint for c in changes], requests=1)


def test_200_deliveries_with_duplicates_write_each_new_flag_once_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.CONNECTORS, "fake", f"{__name__}:FakeConnector")
    platform = Platform()
    rechecks: list[int] = []

    def recheck(name: str, path: Path) -> int:
        loaded = load_recipe(path, env={SECRET_ENV: SECRET})  # the recipe names its webhook secret
        connector = FakeConnector(
            "platform", FakeConnector.Options(), ConnectorContext(loaded.recipe, loaded.dir, {})
        )
        connector.platform = platform
        result = run(loaded, mode="sync", connectors={"platform": connector})
        rechecks.append(int(result.exit_code))
        return int(result.exit_code)

    app = make_app(tmp_path, recheck, connector="fake", worker_thread=True, poll_interval=0.05)
    client = app.test_client()
    rng = random.Random(2026)
    resends = set(rng.sample(range(1, 200), 40))  # 20% of the deliveries are re-sends
    sent: list[int] = []
    codes: Counter[int] = Counter()
    try:
        for n in range(200):
            if n in resends:
                uuid = rng.choice(sent)  # KoboToolbox re-sending a submission already delivered
            else:
                uuid = len(sent)
                platform.add_submission(uuid)
                sent.append(uuid)
            body = {"meta/rootUuid": f"uuid:{uuid}", "_id": uuid}
            answer = client.post(
                "/hooks/kobotoolbox/youth-panel", json=body, headers={"X-Coprod-Secret": SECRET}
            )
            codes[answer.status_code] += 1
        deadline = time.monotonic() + 60
        while client.get("/readyz").json["backlog"]:
            assert time.monotonic() < deadline, "the inbox never drained"
            time.sleep(0.05)
    finally:
        app.extensions["coprod_webhook"].shutdown()

    unique = len(sent)
    assert unique == 160 and codes == {202: 160, 200: 40}
    events = app.extensions["coprod_webhook"].inbox.events()
    assert len(events) == unique and {e["status"] for e in events} == {"done"}
    assert rechecks and set(rechecks) == {0}
    assert len(rechecks) < unique, "a burst is coalesced into fewer re-checks than events"

    # each submission changed exactly one flag (its session's); each was written back exactly once
    assert sorted(subject for *_, subject in platform.writes) == sorted(f"S{n}" for n in sent)
    assert {(kind, check) for _, kind, _, check, _ in platform.writes} == {
        (ChangeKind.NEW.value, "representation.decision_without_voice")
    }
    assert len({fingerprint for fingerprint, *_ in platform.writes}) == unique

    before = len(platform.writes)
    assert recheck("youth-panel", tmp_path / "recipe" / "recipe.toml") == 0
    assert len(platform.writes) == before, "a further re-check finds nothing left to write"
