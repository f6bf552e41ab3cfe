"""A project with all the evidence present, and power really shared, is never flagged.

coprod's credibility rests on this: people who share power are never told they don't. Hypothesis
builds genuinely co-produced projects of every shape (plan dated, no plan before people, or no plan
recorded at all; one decision or many; co-chaired or not; supported through training or on the
record) and every rule about how a project shares power must stay silent.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from coprod_core.checks import check_all
from coprod_core.model import (
    Attendance,
    Dataset,
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

K = SessionKind
SETTINGS = CheckSettings()
POLICY = PaymentPolicy(rates={k: Decimal(25) for k in SessionKind})
DAY0 = date(2026, 1, 5)
SHARED_KINDS = [K.CO_DESIGN_WORKSHOP, K.DECISION_MEETING, K.STEERING_GROUP, K.CO_DELIVERY, K.CO_EVALUATION]
RECORDED = frozenset(
    {
        "people.supported",
        "projects.plan_drafted",
        "projects.co_chairs",
        "projects.recruitment_opened",
        "projects.values_agreed",
        "projects.values_reviewed",
        "sessions.fed_back",
    }
)
RULES_ABOUT_SHARING = (
    "consultation.",
    "feedback.",
    "support.",
    "recruitment.",
    "values.",
    "representation.decision_without_voice",
    "representation.decision_group",
)


@st.composite
def genuine(draw: st.DrawFn) -> tuple[Dataset, date]:
    n_voice = draw(st.integers(SETTINGS.recruitment.min_voice_joined, 6))
    trained_by_session = draw(st.booleans())
    voice = [
        Person(
            id=f"v{i}",
            name=f"Voice {i}",
            roles=frozenset({draw(st.sampled_from([Role.LIVED_EXPERIENCE, Role.CARER]))}),
            payment_preference=draw(st.sampled_from(list(PaymentPreference))),
            supported=None if trained_by_session else True,
        )
        for i in range(n_voice)
    ]
    staff = Person(id="m1", name="Manager", roles=frozenset({Role.MANAGER}))

    offsets = sorted(draw(st.lists(st.integers(1, 300), min_size=1, max_size=7, unique=True)))
    kinds = [draw(st.sampled_from(SHARED_KINDS)) for _ in offsets]
    decided = [draw(st.booleans()) for _ in offsets]
    decided[draw(st.integers(0, len(offsets) - 1))] = True  # at least one decision, shared
    first = DAY0
    sessions = [
        Session(
            id="s00",
            project_id="p1",
            date=first,
            hours=Decimal(3),
            kind=K.CO_DESIGN_WORKSHOP,
            stage=Stage.DESIGN,
        )
    ]
    for i, (offset, kind, decision) in enumerate(zip(offsets, kinds, decided, strict=True), start=1):
        when = first + timedelta(days=offset)
        sessions.append(
            Session(
                id=f"s{i:02d}",
                project_id="p1",
                date=when,
                hours=Decimal(draw(st.integers(1, 4))),
                kind=kind,
                stage=draw(st.sampled_from(list(Stage))),
                decision_taken=decision,
                decision="A decision" if decision else None,
                fed_back=when + timedelta(days=draw(st.integers(0, SETTINGS.feedback.within_days)))
                if decision
                else None,
            )
        )
    if trained_by_session:
        sessions.append(
            Session(
                id="t1",
                project_id="p1",
                date=first,
                hours=Decimal(2),
                kind=draw(st.sampled_from([K.TRAINING, K.PEER_SUPPORT])),
            )
        )
    last = max(s.date for s in sessions)
    run_date = last + timedelta(days=draw(st.integers(0, 60)))
    first_decision = min(s.date for s in sessions if s.decision_taken)

    plan = draw(st.sampled_from(["dated", "no_plan_before", "unrecorded"]))
    co_chair = draw(st.booleans())
    project = Project(
        id="p1",
        name="Genuinely co-produced",
        label=draw(st.sampled_from([Rung.CO_PRODUCTION, Rung.CO_DESIGN])),
        stages_reached=frozenset(s.stage for s in sessions if s.stage is not None),
        plan_drafted=first + timedelta(days=draw(st.integers(0, 30))) if plan == "dated" else None,
        no_plan_before=plan == "no_plan_before",
        co_chair_roles=voice[0].roles if co_chair else frozenset(),
        co_chairs=("v0",) if co_chair else (),
        decision_group=("m1", *(p.id for p in voice)),
        recruitment_opened=first - timedelta(days=draw(st.integers(SETTINGS.recruitment.min_days, 120))),
        values_agreed=first_decision - timedelta(days=draw(st.integers(0, 20))),
        values_reviewed=run_date - timedelta(days=draw(st.integers(0, SETTINGS.values.review_within_days))),
    )
    # Everyone in a voice role takes part in everything; staff join the decisions.
    attendance = [Attendance(person_id=p.id, session_id=s.id) for s in sessions for p in voice]
    attendance += [Attendance(person_id="m1", session_id=s.id) for s in sessions if s.decision_taken]
    ds = Dataset(
        people=(*voice, staff),
        projects=(project,),
        sessions=tuple(sessions),
        attendance=tuple(attendance),
        policy=POLICY,
        recorded=RECORDED,
    )
    return ds, run_date


@settings(max_examples=200, deadline=None)
@given(case=genuine())
def test_a_project_with_all_evidence_present_and_shared_is_never_flagged(case: tuple[Dataset, date]) -> None:
    ds, run_date = case
    checked = check_all(ds, SETTINGS, run_date)
    [placement] = checked.placements
    assert placement.rung is Rung.CO_PRODUCTION, placement.evidence()
    about_sharing = [f for f in checked.flags if f.check_id.startswith(RULES_ABOUT_SHARING)]
    assert about_sharing == [], [(f.check_id, f.message) for f in about_sharing]


@settings(max_examples=100, deadline=None)
@given(case=genuine())
def test_the_same_project_without_the_optional_records_is_still_never_flagged(
    case: tuple[Dataset, date],
) -> None:
    # A recipe that keeps none of the newer fields: the newer rules say nothing rather than guess.
    ds, run_date = case
    bare = ds.model_copy(
        update={
            "recorded": frozenset(),
            "people": tuple(p.model_copy(update={"supported": None}) for p in ds.people),
            "projects": tuple(
                p.model_copy(
                    update={
                        "co_chairs": (),
                        "recruitment_opened": None,
                        "values_agreed": None,
                        "values_reviewed": None,
                    }
                )
                for p in ds.projects
            ),
            "sessions": tuple(
                s.model_copy(update={"fed_back": None})
                for s in ds.sessions
                if s.kind not in SETTINGS.support.support_kinds
            ),
        }
    )
    checked = check_all(bare, SETTINGS, run_date)
    about_sharing = [f for f in checked.flags if f.check_id.startswith(RULES_ABOUT_SHARING)]
    assert about_sharing == [], [(f.check_id, f.message) for f in about_sharing]
