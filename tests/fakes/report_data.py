"""Datasets for the report's tests: the edge cases the issue names, and data built so a leak shows.

Every name, free text and answer outside the baseline carries a marker (``ZQ...``) found nowhere
else, so "no name or answer in the shared report" is a plain search. Small counts are real small
counts (3 and 5 people in two groups, one person owed, one paid though they declined), so a shared
report that let one through would show a digit from 1 to 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from coprod.report.facts import ReportFacts, gather
from coprod_core.checks import check_all
from coprod_core.checks.consultation import Assessment
from coprod_core.checks.representation import ProjectProfile
from coprod_core.flags import Flag
from coprod_core.mapping import EntityCount
from coprod_core.model import (
    Attendance,
    BaselineDimension,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Project,
    Role,
    Rung,
    Session,
    SessionKind,
    Stage,
)
from coprod_core.settings import CheckSettings

RUN_DATE = date(2026, 11, 20)
SETTINGS = CheckSettings()
LE = frozenset({Role.LIVED_EXPERIENCE})
STAFF = frozenset({Role.FRONTLINE_STAFF})
MARK = "ZQ"
"""Every name, free text and off-baseline answer in the leak data contains this."""

POLICY = PaymentPolicy(
    rates={k: Decimal("20") for k in SessionKind},
    source="Leak test policy",
    pay_within_days=30,
    effective=date(2026, 1, 1),
)
BASELINE = {
    "ethnicity": BaselineDimension(
        source="service records",
        as_of="2026-03-31",
        shares={"white": 0.30, "asian": 0.35, "black": 0.35},
        labels={"white": "white people", "asian": "people of Asian heritage", "black": "Black people"},
    ),
    "disability": BaselineDimension(
        source="service records",
        as_of="2026-03-31",
        shares={"disabled": 0.5, "not_disabled": 0.5},
        labels={"disabled": "disabled people", "not_disabled": "people who are not disabled"},
    ),
}


@dataclass(frozen=True)
class Built:
    dataset: Dataset
    flags: list[Flag]
    counts: dict[str, EntityCount]
    placements: list[Assessment] | None = None
    """The run's ladder placements (None: the report works them out itself)."""
    profiles: list[ProjectProfile] | None = None


def check(
    dataset: Dataset, counts: dict[str, EntityCount] | None = None, extra: list[Flag] | None = None
) -> Built:
    found = check_all(dataset, SETTINGS, RUN_DATE)
    flags = [*(extra or []), *found.flags]
    if counts is None:
        counts = {
            "people": EntityCount(len(dataset.people), len(dataset.people), 0),
            "projects": EntityCount(len(dataset.projects), len(dataset.projects), 0),
            "sessions": EntityCount(len(dataset.sessions), len(dataset.sessions), 0),
            "attendance": EntityCount(len(dataset.attendance), len(dataset.attendance), 0),
            "payments": EntityCount(len(dataset.payments), len(dataset.payments), 0),
        }
    return Built(dataset, flags, counts, found.placements, found.profiles)


def demo() -> Built:
    """The bundled demo, checked as of its date, as `coprod report` sees it."""
    from coprod.config import load_recipe
    from coprod.sync import run
    from fakes import ROOT

    result = run(load_recipe(ROOT / "recipes" / "demo"), mode="check", run_date=RUN_DATE)
    assert result.dataset is not None
    return Built(result.dataset, result.flags, result.counts, result.placements, result.profiles)


def facts(built: Built, **kwargs: object) -> ReportFacts:
    return gather(
        built.dataset,
        built.flags,
        built.counts,
        SETTINGS,
        RUN_DATE,
        recipe_name="test",
        description="Test organisation",
        assessments=built.placements,
        profiles=built.profiles,
        **kwargs,  # type: ignore[arg-type]
    )


def _session(
    sid: str, d: date, kind: SessionKind, *, decision: str | None = None, title: str | None = None
) -> Session:
    return Session(
        id=sid,
        project_id="P1",
        date=d,
        hours=Decimal(2),
        kind=kind,
        stage=Stage.DESIGN,
        title=title,
        decision_taken=decision is not None,
        decision=decision,
    )


def leak_dataset(variant: str = "a") -> Dataset:
    """40 people with lived experience: 32 white, 3 and 5 in two groups (swapped in variant 'b').

    Variant 'b' also changes every name, free text and off-baseline answer, keeping every count a
    shared report may show: its shared output must be the same, byte for byte.
    """
    small_a, small_b = (3, 5) if variant == "a" else (5, 3)
    eth = ["white"] * 32 + ["asian"] * small_a + ["black"] * small_b
    # Disability: 27 and 10 stated, 3 not stated (a small gap: the shares' denominator is hidden).
    dis = ["disabled"] * 27 + ["not_disabled"] * 10 + ["prefer_not_to_say"] * 3
    people = [
        Person(
            id=f"p{i:02d}",
            name=f"{MARK}name{variant}{i}",
            roles=LE,
            demographics={"ethnicity": eth[i], "disability": dis[i], "religion": f"{MARK}answer{variant}{i}"},
            payment_preference=PaymentPreference.DECLINED if i == 0 else PaymentPreference.PAID,
        )
        for i in range(40)
    ]
    people += [Person(id=f"s{i}", name=f"{MARK}staff{variant}{i}", roles=STAFF) for i in range(12)]
    start = date(2026, 2, 2)
    sessions = [
        _session(
            "d0",
            start,
            SessionKind.DECISION_MEETING,
            decision=f"{MARK}decision{variant}",
            title=f"{MARK}title{variant}",
        ),
        *(
            _session(f"w{k}", start + timedelta(days=7 * (k + 1)), SessionKind.CO_DESIGN_WORKSHOP)
            for k in range(10)
        ),
        _session(
            "d1", start + timedelta(days=100), SessionKind.DECISION_MEETING, decision=f"{MARK}second{variant}"
        ),
    ]
    attendance = [Attendance(person_id=f"s{i}", session_id="d0") for i in range(12)]  # staff only: flagged
    attendance += [Attendance(person_id=f"s{i}", session_id="d1") for i in range(12)]
    attendance += [Attendance(person_id=f"p{i:02d}", session_id="d1") for i in range(40)]
    for k in range(10):
        attendance += [Attendance(person_id=f"p{i:02d}", session_id=f"w{k}") for i in range(40)]
    # Everyone is paid in full for every session, but one person (p01) is owed for the last
    # workshop (overdue) and p00, who declined, was paid anyway.
    payments = []
    last = sessions[10]
    amount = Decimal("40.00")
    for i in range(1, 40):
        for s in sessions[1:]:
            if i == 1 and s.id == last.id:
                continue
            payments.append(
                Payment(
                    id=f"pay{i}-{s.id}",
                    person_id=f"p{i:02d}",
                    amount=amount,
                    date=s.date + timedelta(days=3),
                    session_id=s.id,
                )
            )
    payments.append(
        Payment(
            id="declined",
            person_id="p00",
            amount=Decimal("45.00"),
            date=date(2026, 6, 1),
            kind=PaymentKind.FEE,
        )
    )
    return Dataset(
        people=tuple(people),
        projects=(
            Project(
                id="P1",
                name="Leak test project",
                label=Rung.CO_PRODUCTION,
                stages_reached=frozenset({Stage.DESIGN}),
            ),
        ),
        sessions=tuple(sessions),
        attendance=tuple(attendance),
        payments=tuple(payments),
        baseline=BASELINE,
        policy=POLICY,
    )


def leak_counts() -> dict[str, EntityCount]:
    """Rows as a mapping would count them, with 3 attendance rows rejected (a small count)."""
    return {
        "people": EntityCount(52, 52, 0),
        "projects": EntityCount(1, 1, 0),
        "sessions": EntityCount(12, 12, 0),
        "attendance": EntityCount(467, 464, 3),
        "payments": EntityCount(391, 391, 0),
    }


# --- the edge cases the issue names -------------------------------------------------------------


def empty_project() -> Dataset:
    """A project with no sessions, nobody, nothing paid."""
    return Dataset(projects=(Project(id="E", name="Empty project"),), baseline=BASELINE, policy=POLICY)


def all_unknown() -> Dataset:
    """Twelve participants, every answer unknown or prefer not to say."""
    people = tuple(
        Person(id=f"u{i}", roles=LE, demographics={"ethnicity": "unknown", "disability": "prefer not to say"})
        for i in range(12)
    )
    s = _session("s1", date(2026, 3, 3), SessionKind.STEERING_GROUP, decision="The plan")
    return Dataset(
        people=people,
        projects=(Project(id="P1", name="Unknown answers project"),),
        sessions=(s,),
        attendance=tuple(Attendance(person_id=p.id, session_id="s1") for p in people),
        baseline=BASELINE,
        policy=POLICY,
    )


def single_participant() -> Dataset:
    person = Person(id="only", name=f"{MARK}single", roles=LE, demographics={"ethnicity": "asian"})
    s = _session("s1", date(2026, 3, 3), SessionKind.CO_DESIGN_WORKSHOP)
    return Dataset(
        people=(person,),
        projects=(Project(id="P1", name="One person project"),),
        sessions=(s,),
        attendance=(Attendance(person_id="only", session_id="s1"),),
        baseline=BASELINE,
        policy=POLICY,
    )


def large_project(people: int = 5000, sessions: int = 40, per_session: int = 500) -> Dataset:
    """One project with 5,000 people, 40 sessions of 500 each (20,000 attendances), some unpaid."""
    cats = ["white", "asian", "black"]
    crowd = tuple(
        Person(
            id=f"L{i}",
            name=f"{MARK}large{i}",
            roles=LE,
            demographics={
                "ethnicity": cats[i % 7 % 3],
                "disability": "disabled" if i % 3 else "not_disabled",
            },
        )
        for i in range(people)
    )
    held = tuple(
        _session(
            f"S{k}",
            date(2026, 1, 5) + timedelta(days=7 * k),
            SessionKind.DECISION_MEETING if k % 5 == 0 else SessionKind.CO_DESIGN_WORKSHOP,
            decision=f"Decision {k}" if k % 5 == 0 else None,
        )
        for k in range(sessions)
    )
    attendance = tuple(
        Attendance(person_id=f"L{(k * per_session + j) % people}", session_id=f"S{k}")
        for k in range(sessions)
        for j in range(per_session)
    )
    payments = tuple(
        Payment(
            id=f"Y{k}-{j}",
            person_id=a.person_id,
            amount=Decimal("40.00"),
            date=s.date + timedelta(days=5),
            session_id=s.id,
        )
        for k, s in enumerate(held)
        for j, a in enumerate(attendance[k * per_session : (k + 1) * per_session])
        if j % 10
    )
    return Dataset(
        people=crowd,
        projects=(Project(id="P1", name="Large project"),),
        sessions=held,
        attendance=attendance,
        payments=payments,
        baseline=BASELINE,
        policy=POLICY,
    )


def with_name(dataset: Dataset, name: str) -> Dataset:
    """The same dataset with its one project renamed (untrusted text in titles and attributes)."""
    (project,) = dataset.projects
    return dataset.model_copy(update={"projects": (project.model_copy(update={"name": name}),)})


ARABIC_PROJECT = "مشروع الأمل 2026"
"""A right-to-left project name ending in digits: beside '(ID P1)' or a count it would jumble."""
ARABIC_PERSON = "سارة أحمد"
OVERRIDE_PROJECT = "Youth \u202eforum"
"""A right-to-left override typed into a name: unshown, it would print the rest of the line backwards."""
OVERRIDE_PERSON = "Sam \u202eCarter"
OVERRIDE_TITLE = "Steering \u202egroup"


def bidi_dataset() -> Dataset:
    """The leak data with an Arabic project (P1) and a second project (P2) whose name holds U+202E;
    p01, owed for the last workshop, has an Arabic name and p02, owed for it too, one with U+202E;
    the session without a voice has a title with U+202E."""
    base = leak_dataset()
    names = {"p01": ARABIC_PERSON, "p02": OVERRIDE_PERSON}
    people = tuple(p.model_copy(update={"name": names[p.id]}) if p.id in names else p for p in base.people)
    sessions = tuple(
        s.model_copy(update={"title": OVERRIDE_TITLE}) if s.id == "d0" else s for s in base.sessions
    )
    (project,) = base.projects
    return base.model_copy(
        update={
            "people": people,
            "sessions": sessions,
            "payments": tuple(p for p in base.payments if p.id != "pay2-w9"),
            "projects": (
                project.model_copy(update={"name": ARABIC_PROJECT}),
                Project(id="P2", name=OVERRIDE_PROJECT),
            ),
        }
    )
