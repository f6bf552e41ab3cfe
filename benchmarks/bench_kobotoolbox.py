"""How many requests a KoboToolbox sync costs on realistic data, against the distinct values it writes.

Drives the real sync (``coprod.sync.run``) with the shipped recipe (``recipes/kobotoolbox/recipe.toml``,
its forms' uids replaced) against the fake KPI server the tests use (``tests/fakes/kobo.py``, which
answers as a recorded kpi did), and counts the requests sent. The organisation is made the way a
charity's forms fill up, deterministic for a seed:

- registrations: people with lived experience, carers, both, staff, a few "Other" roles typed in
  (some coprod does not understand), equality answers sometimes left out or "Prefer not to say",
  most paid, some by voucher, some declining, some asking about benefits;
- session records over the last twelve months, of every kind in the form (some not in the payment
  policy), with decisions, and each attendee's hours, preparation and expenses; a few Participant
  IDs mistyped;
- no payments are recorded in KoboToolbox, so everyone eligible is owed, recently or long ago.

The real checks then raise what they raise: several flags on many records, with counts. A bulk edit
sets one value for many records, so its cost is the number of distinct ``coprod_flags`` values, not
the number of flags; each ``flags_text`` the recipe may choose is measured:
``lines`` (every open flag's severity and title, a repeated title counted), ``worst`` (the most
serious line, "and more") and ``severity`` (the most serious severity only).

Reads are counted two ways: by a connector kept between syncs, as the webhook worker keeps it (it
holds the answers, so it reads only what changed), and by a new one each sync, as cron runs a new
process (it holds nothing: the same day with nothing changed it stops after asking, otherwise it
reads each form whole). Request counts are exact; times are not: the machine is shared. Run:
``python benchmarks/bench_kobotoolbox.py [--people N --sessions N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
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

PEOPLE, SESSIONS = "aBenchRegistration", "aBenchSessionRecord"
RUN_DATE = date(2026, 6, 1)
MODES = ("lines", "worst", "severity")
ROLES = [
    ("lived_experience", 50),
    ("carer", 14),
    ("lived_experience carer", 8),
    ("frontline_staff", 14),
    ("manager", 5),
    ("volunteer", 4),
    ("other", 5),
]
OTHER_ROLES = ["peer supporter", "expert by experience", "carer", "trustee"]
PAYMENT = [("paid", 62), ("voucher", 15), ("declined", 10), ("not_eligible", 8), ("", 5)]
KINDS = [
    ("co_design_workshop", 22),
    ("decision_meeting", 14),
    ("steering_group", 12),
    ("co_delivery", 10),
    ("co_evaluation", 6),
    ("feedback_on_draft", 8),
    ("focus_group", 10),
    ("survey", 4),
    ("training", 6),
    ("information_event", 5),
    ("other", 3),
]
ETHNICITY = [("white", 60), ("asian", 14), ("black", 9), ("mixed", 5), ("other_ethnic_group", 3)]
ETHNICITY += [("prefer_not_to_say", 4), ("", 5)]


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def recipe(flags_text: str) -> Recipe:
    data = tomllib.loads((ROOT / "recipes" / "kobotoolbox" / "recipe.toml").read_text(encoding="utf-8"))
    data["sources"]["kobo"]["flags_text"] = flags_text
    data["sources"]["kobo"].pop("hook_endpoint", None)
    data.pop("webhook", None)
    data["entities"]["people"]["location"] = PEOPLE
    data["entities"]["sessions"]["location"] = SESSIONS
    data["entities"]["attendance"]["location"] = SESSIONS
    parsed, problems = parse_recipe(data, "recipes/kobotoolbox/recipe.toml")
    if parsed is None:
        raise SystemExit("; ".join(map(str, problems)))
    return parsed


def registrations(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(1, n + 1):
        roles = pick(rng, ROLES)
        answers: dict[str, Any] = {"about/person_id": f"P{i:04d}", "about/name": f"Person {i}"}
        answers["about/roles"] = roles
        if roles == "other":
            answers["about/roles_other"] = rng.choice(OTHER_ROLES)
        for key, value in (
            ("equality/ethnicity", pick(rng, ETHNICITY)),
            ("equality/age_band", rng.choice(["18_24", "25_34", "35_49", "50_64", "65_plus", ""])),
            ("equality/sex", rng.choice(["female", "male", "prefer_not_to_say", ""])),
            ("equality/disability", rng.choice(["yes_a_lot", "yes_a_little", "no", "no", ""])),
            ("payment/payment_preference", pick(rng, PAYMENT)),
        ):
            if value:  # KoboToolbox leaves an unanswered question out
                answers[key] = value
        if answers.get("payment/payment_preference") in ("paid", "voucher") and rng.random() < 0.2:
            answers["payment/benefits_opt_in"] = "yes"
        out.append(submission(100_000 + i, **answers))
    return out


def session_records(rng: random.Random, n: int, people: int) -> list[dict[str, Any]]:
    voices = [i for i in range(1, people + 1) if i % 100 < 77]  # roughly those with lived experience
    staff = [i for i in range(1, people + 1) if i % 100 >= 77]
    out = []
    for s in range(1, n + 1):
        when = RUN_DATE - timedelta(days=rng.randint(1, 365))
        decision = rng.random() < 0.3
        answers: dict[str, Any] = {
            "session/project": rng.choice(["day_service", "peer_support"]),
            "session/title": f"Session {s}",
            "session/session_date": when.isoformat(),
            "session/hours": rng.choice(["1", "1.5", "2", "2.5", "3"]),
            "session/kind": pick(rng, KINDS),
            "session/stage": rng.choice(["design", "planning", "delivery", "evaluation"]),
            "session/decision_taken": "yes" if decision else "no",
        }
        if decision:
            answers["session/decision"] = f"Decision {s}"
        chosen = rng.sample(voices, rng.randint(0 if decision and rng.random() < 0.2 else 2, 9))
        chosen += rng.sample(staff, rng.randint(1, 3))
        attendees = []
        for person in chosen:
            pid = f"P{person:04d}"
            if rng.random() < 0.01:
                pid = pid.replace("P0", "PO")  # a mistyped Participant ID
            entry: dict[str, Any] = {"attendees/person_id": pid}
            if rng.random() < 0.15:
                entry["attendees/hours_attended"] = rng.choice(["0.5", "1"])
            if rng.random() < 0.4:
                entry["attendees/prep_hours"] = rng.choice(["0.5", "1"])
            if rng.random() < 0.3:
                entry["attendees/expenses"] = rng.choice(["4.50", "7.20", "12", "30"])
            attendees.append(entry)
        out.append(submission(s, **answers, attendees=attendees))
    return out


@dataclass
class Sync:
    exit: int
    flags: int
    changes: int
    reads: int
    writes: int
    bulk_edits: int
    status_updates: int
    seconds: float
    messages: list[str]


def sync_once(fake: FakeKobo, loaded: LoadedRecipe, state: StateStore, kobo: KoboConnector) -> Sync:
    assert fake.rsps is not None
    fake.tick(600)  # syncs are minutes apart (the server's clock: history is read from its time)
    before = len(fake.rsps.calls)
    started = time.perf_counter()
    result = run(loaded, run_date=RUN_DATE, state=state, connectors={"kobo": kobo})
    seconds = time.perf_counter() - started
    calls = fake.rsps.calls[before:]
    methods = Counter(c.request.method for c in calls)
    return Sync(
        exit=int(result.exit_code),
        flags=len(result.flags),
        changes=len(result.diff.changes) if result.diff else 0,
        reads=methods["GET"],
        writes=sum(n for m, n in methods.items() if m != "GET"),
        bulk_edits=sum("/data/bulk/" in c.request.url for c in calls),
        status_updates=sum("/validation_statuses/" in c.request.url for c in calls),
        seconds=seconds,
        messages=list(result.messages),
    )


@dataclass
class Measured:
    mode: str
    submissions: int
    flagged: int
    distinct: int
    first: Sync
    second: Sync
    second_cron: Sync
    edit: Sync
    edit_cron: Sync
    night: Sync
    night_cron: Sync
    night_distinct: int


def written_values(fake: FakeKobo) -> list[tuple[str, str]]:
    """(form, value) of every record holding flags: a bulk edit is one form and one value."""
    return [
        (a, s["coprod_flags"]) for a in (PEOPLE, SESSIONS) for s in fake.assets[a] if s.get("coprod_flags")
    ]


def new_records(seed: int, first_id: int, people: int) -> list[dict[str, Any]]:
    """20 session records sent yesterday, with ``_id`` from ``first_id`` and their own root uuids."""
    fresh = session_records(random.Random(seed), 20, people)
    for n, sub in enumerate(fresh, start=first_id):
        ids = {
            k: v
            for k, v in submission(n).items()
            if k in ("_id", "_uuid", "meta/instanceID", "meta/rootUuid")
        }
        sub.update({**ids, "session/session_date": (RUN_DATE - timedelta(days=1)).isoformat()})
    return fresh


def measure(mode: str, people: int, sessions: int, seed: int) -> Measured:
    rng = random.Random(seed)
    rec = recipe(mode)
    env = {"KOBO_TOKEN": TOKEN}
    loaded = LoadedRecipe(recipe=rec, path=ROOT / "bench.toml", dir=ROOT, env=env)
    state = StateStore.open(":memory:")
    options = KoboOptions.model_validate(rec.sources["kobo"].options)

    def new_process() -> KoboConnector:
        return KoboConnector("kobo", options, ConnectorContext(recipe=rec, recipe_dir=ROOT, env=env))

    kobo = new_process()  # kept from sync to sync, as the webhook worker keeps it
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.assets[PEOPLE] = registrations(rng, people)
        fake.assets[SESSIONS] = session_records(rng, sessions, people)
        first = sync_once(fake, loaded, state, kobo)
        values = written_values(fake)
        second = sync_once(fake, loaded, state, kobo)
        second_cron = sync_once(fake, loaded, state, new_process())
        # Staff correct one registration (a new version, in the form's history), then another.
        fake.tick()
        fake.edit(PEOPLE, fake.assets[PEOPLE][10]["_id"], staff_note="checked")
        edit = sync_once(fake, loaded, state, kobo)
        fake.edit(PEOPLE, fake.assets[PEOPLE][11]["_id"], staff_note="checked")
        edit_cron = sync_once(fake, loaded, state, new_process())
        # A night later: 20 more session records came in yesterday.
        before = {
            (a, s["_id"]): s.get("coprod_flags") or "" for a in (PEOPLE, SESSIONS) for s in fake.assets[a]
        }
        fake.assets[SESSIONS] += new_records(seed + 1, sessions + 1, people)
        night = sync_once(fake, loaded, state, kobo)
        changed = {  # a value cleared ("") is written too
            (a, s.get("coprod_flags") or "")
            for a in (PEOPLE, SESSIONS)
            for s in fake.assets[a]
            if (s.get("coprod_flags") or "") != before.get((a, s["_id"]), "")
        }
        # A new process (cron) the same day, after 20 more came in.
        fake.assets[SESSIONS] += new_records(seed + 2, sessions + 21, people)
        night_cron = sync_once(fake, loaded, state, new_process())
    return Measured(
        mode=mode,
        submissions=people + sessions,
        flagged=len(values),
        distinct=len(set(values)),
        first=first,
        second=second,
        second_cron=second_cron,
        edit=edit,
        edit_cron=edit_cron,
        night=night,
        night_cron=night_cron,
        night_distinct=len(changed),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=3500)
    parser.add_argument("--sessions", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    results = [measure(mode, args.people, args.sessions, args.seed) for mode in MODES]
    r0 = results[0]
    print(
        f"KoboToolbox sync of {r0.submissions} submissions ({args.people} registrations, {args.sessions} "
        "session records) with the shipped recipe, against the fake KPI server"
    )
    print(
        f"{r0.first.flags} flags on {r0.flagged} records ({r0.first.flags / max(1, r0.flagged):.1f} per "
        "flagged record). Request counts are exact; times are not (a shared machine)."
    )
    print()
    print(
        "flags_text | distinct values | first sync: reads, writes (bulk edits + statuses), seconds |", end=""
    )
    print(" again: reads, writes | a night later (+20 records): values changed, writes")
    ok = True
    for m in results:
        f, s, n = m.first, m.second, m.night
        print(
            f"{m.mode:<10} | {m.distinct:>15} | {f.reads:>5}, {f.writes:>3} ({f.bulk_edits} + {f.status_updates}), "
            f"{f.seconds:5.2f} s{'':>20}| {s.reads:>5}, {s.writes:>3}{'':>10}| {m.night_distinct:>4}, "
            f"{n.writes:>3} ({n.bulk_edits} + {n.status_updates})"
        )
        for message in f.messages + s.messages + n.messages:
            print(f"    message: {message}")
        # The bound README states: a bulk edit per distinct (form, value) written, at most 4 status
        # requests per form (hold; restore none, approved, not approved), nothing when nothing changed.
        ok &= f.bulk_edits == m.distinct and n.bulk_edits == m.night_distinct
        ok &= f.status_updates <= 8 and n.status_updates <= 8 and s.writes == 0
        ok &= f.exit == 0 and s.exit == 0 and n.exit == 0 and f.flags == r0.first.flags
    print()
    print("reads by a connector kept between syncs (the webhook worker) | by a new process each sync (cron):")
    for m in results:
        print(
            f"{m.mode:<10} | the same again: {m.second.reads} | {m.second_cron.reads}   one registration edited: "
            f"{m.edit.reads} | {m.edit_cron.reads}   20 new records: {m.night.reads} | {m.night_cron.reads}"
        )
        ok &= m.second_cron.writes == 0 and m.edit.exit == 0 and m.edit_cron.exit == 0
    print()
    base = r0.first.writes
    for m in results[1:]:
        print(f'flags_text = "{m.mode}": {m.first.writes} writes on the first sync instead of {base}', end="")
        print(f", {m.night.writes} instead of {r0.night.writes} a night later")
    print(
        f"bound (bulk edits = distinct values written; at most 4 status requests per form): {'held' if ok else 'BROKEN'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
