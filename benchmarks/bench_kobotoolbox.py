"""How many requests a KoboToolbox sync costs: 5,000 submissions, 600 flags, 4 distinct field values.

Drives the real sync (``coprod.sync.run``) against a fake KPI server (``responses``, the shapes in
platforms.md) and counts the requests sent. The data is built so the real checks raise exactly
600 flags whose ``coprod_flags`` texts take 4 distinct values:

- 4,000 registrations (400 people with lived experience, 3,600 staff) and 1,000 session records;
- 150 people owed for an old session (Payment overdue), 150 owed for a recent one (Payment due),
  100 owed for both (two flags each), and 100 decisions taken with no lived experience present.

Targets (issue 4): at most 5 reads and 7 writes; a second sync with nothing changed writes nothing.
Run: ``python benchmarks/bench_kobotoolbox.py``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import responses

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fakes the tests use

from coprod.config import LoadedRecipe  # noqa: E402
from coprod.connectors.base import ConnectorContext  # noqa: E402
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions  # noqa: E402
from coprod.state import StateStore  # noqa: E402
from coprod.sync import run  # noqa: E402
from coprod_core.recipe import Recipe, parse_recipe  # noqa: E402
from fakes.kobo import TOKEN, FakeKobo, submission  # noqa: E402

PEOPLE, SESSIONS = "aBenchPeople", "aBenchSessions"
RUN_DATE = date(2026, 6, 1)
OLD, RECENT = "2026-04-20", "2026-05-25"  # 42 days (overdue, a warning) and 7 days (due) before


def recipe() -> Recipe:
    data = {
        "name": "bench-kobo",
        "sources": {"kobo": {"connector": "kobotoolbox"}},
        "entities": {
            "people": {
                "source": "kobo",
                "location": PEOPLE,
                "fields": {"id": "person_id", "roles": "roles", "payment_preference": "payment_preference"},
            },
            "sessions": {
                "source": "kobo",
                "location": SESSIONS,
                "fields": {
                    "id": "_id",
                    "project_id": "project",
                    "date": "session_date",
                    "hours": "session/hours",
                    "kind": "kind",
                    "decision_taken": "decision_taken",
                },
            },
            "attendance": {
                "source": "kobo",
                "location": SESSIONS,
                "fields": {"person_id": "attendees/person_id", "session_id": "_id"},
                "options": {"repeat": "attendees"},
            },
        },
        "projects": [{"id": "p1", "name": "Bench project", "label": "consultation"}],
        "policy": {"rates": {"co_design_workshop": "25"}, "pay_within_days": 30},
    }
    parsed, problems = parse_recipe(data, "bench")
    if parsed is None:
        raise SystemExit("; ".join(map(str, problems)))
    return parsed


def people() -> list[dict[str, Any]]:
    out = []
    for i in range(1, 4001):
        voice = i <= 400
        out.append(
            submission(
                i,
                **{
                    "about/person_id": f"P{i}",
                    "about/roles": "lived_experience" if voice else "frontline_staff",
                    "about/payment_preference": "paid" if voice else "not_eligible",
                },
            )
        )
    return out


def sessions() -> list[dict[str, Any]]:
    attendees: dict[int, list[str]] = {s: ["P4000"] for s in range(1, 1001)}  # a member of staff at each
    for i in range(1, 151):
        attendees[i].append(f"P{i}")  # overdue only
    for i in range(151, 301):
        attendees[250 + i].append(f"P{i}")  # sessions 401-550: due only
    for i in range(301, 401):
        attendees[i].append(f"P{i}")  # old session 301-400 ...
        attendees[250 + i].append(f"P{i}")  # ... and recent session 551-650: both
    out = []
    for sid in range(1, 1001):
        out.append(
            submission(
                sid,
                **{
                    "session/project": "p1",
                    "session/session_date": OLD if sid <= 400 else RECENT,
                    "session/hours": "2",
                    "session/kind": "co_design_workshop",
                    "session/decision_taken": "yes" if sid > 900 else "no",
                },
                attendees=[{"attendees/person_id": p} for p in attendees[sid]],
            )
        )
    return out


def sync_once(fake: FakeKobo, loaded: LoadedRecipe, state: StateStore, kobo: KoboConnector) -> dict[str, Any]:
    before = len(fake.rsps.calls)
    started = time.perf_counter()
    result = run(loaded, run_date=RUN_DATE, state=state, connectors={"kobo": kobo})
    seconds = time.perf_counter() - started
    calls = fake.rsps.calls[before:]
    methods = Counter(c.request.method for c in calls)
    return {
        "exit": int(result.exit_code),
        "messages": result.messages,
        "flags": len(result.flags),
        "changes": len(result.diff.changes) if result.diff else 0,
        "reads": methods["GET"],
        "writes": sum(n for m, n in methods.items() if m != "GET"),
        "bulk_edits": sum("/data/bulk/" in c.request.url for c in calls),
        "status_updates": sum("/validation_statuses/" in c.request.url for c in calls),
        "seconds": seconds,
    }


def main() -> int:
    rec = recipe()
    loaded = LoadedRecipe(recipe=rec, path=ROOT / "bench.toml", dir=ROOT, env={"KOBO_TOKEN": TOKEN})
    state = StateStore.open(":memory:")
    context = ConnectorContext(recipe=rec, recipe_dir=ROOT, env={"KOBO_TOKEN": TOKEN})
    kobo = KoboConnector("kobo", KoboOptions(), context)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.assets[PEOPLE] = people()
        fake.assets[SESSIONS] = sessions()
        first = sync_once(fake, loaded, state, kobo)
        values = Counter(
            s.get("coprod_flags") for a in (PEOPLE, SESSIONS) for s in fake.assets[a] if s.get("coprod_flags")
        )
        second = sync_once(fake, loaded, state, kobo)
    submissions = len(people()) + len(sessions())
    print(f"KoboToolbox sync of {submissions} submissions (fake KPI server, requests counted)")
    print(f"  first sync : {first['flags']} flags, {len(values)} distinct coprod_flags values")
    print(
        f"               {first['reads']} reads, {first['writes']} writes "
        f"({first['bulk_edits']} bulk edits, {first['status_updates']} validation status updates), "
        f"{first['seconds']:.2f} s"
    )
    print(f"  second sync: {second['changes']} changes, {second['reads']} reads, {second['writes']} writes")
    for label, run_ in (("first", first), ("second", second)):
        for message in run_["messages"]:
            print(f"  {label} sync message: {message}")
    ok = (
        first["flags"] == 600
        and len(values) == 4
        and first["reads"] <= 5
        and first["writes"] <= 7
        and second["writes"] == 0
        and first["exit"] == 0
        and second["exit"] == 0
    )
    print(f"  targets (<= 5 reads, <= 7 writes, then 0 writes): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
