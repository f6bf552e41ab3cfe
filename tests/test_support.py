"""Support to take part as an equal: training or support for decision-makers, and co-chairs who
take part in the other meetings where decisions are taken."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from coprod_core.checks import support
from coprod_core.flags import Severity, SubjectKind
from coprod_core.model import Attendance, Dataset, Person, Project, Role, Session, SessionKind
from coprod_core.settings import CheckSettings, SupportSettings

K = SessionKind
SETTINGS = CheckSettings()
RUN = date(2026, 6, 1)


def person(pid: str, role: Role = Role.CARER, supported: bool | None = None) -> Person:
    return Person(id=pid, name=f"Name {pid}", roles=frozenset({role}), supported=supported)


def session(sid: str, d: date, kind: SessionKind, decision: bool = False) -> Session:
    return Session(id=sid, project_id="p1", date=d, hours=Decimal(2), kind=kind, decision_taken=decision)


def dataset(
    *,
    people: tuple[Person, ...] = (
        person("c1"),
        person("le1", Role.LIVED_EXPERIENCE),
        person("m1", Role.MANAGER),
    ),
    group: tuple[str, ...] = ("c1", "m1"),
    co_chairs: tuple[str, ...] = (),
    sessions: tuple[Session, ...] = (),
    attendance: dict[str, list[str]] | None = None,
    recorded: bool = True,
) -> Dataset:
    return Dataset(
        people=people,
        projects=(Project(id="p1", name="Carers strategy", decision_group=group, co_chairs=co_chairs),),
        sessions=sessions,
        attendance=tuple(
            Attendance(person_id=p, session_id=s) for s, ps in (attendance or {}).items() for p in ps
        ),
        recorded=frozenset({"people.supported"}) if recorded else frozenset(),
    )


# --- support.no_training ---------------------------------------------------------------------


def test_voice_member_of_the_decision_group_with_no_support_recorded_is_flagged() -> None:
    [flag] = support.run(dataset(), SETTINGS, RUN)
    assert flag.check_id == "support.no_training" and flag.severity is Severity.WARNING
    assert flag.subject.kind is SubjectKind.PERSON and flag.subject.id == "c1" and flag.project_id == "p1"
    assert flag.evidence == {
        "project_id": "p1",
        "in_project": ["decision_group"],
        "supported": None,
        "support_sessions_attended": 0,
        "support_kinds": ["peer_support", "training"],
    }
    assert flag.message == (
        "Name c1 (ID c1) is on the decision-making group of 'Carers strategy', but no training or support "
        "for that part is recorded: they have attended no training session or peer support session. People "
        "with lived experience or carers need the support, training and networks anyone needs to be an "
        "effective decision maker. Offer training, peer support or a mentor, and record it (a training or "
        'peer support session they attend, or "supported" on their record).'
    )


def test_supported_on_the_record_or_a_support_session_attended_passes() -> None:
    assert (
        support.run(dataset(people=(person("c1", supported=True), person("m1", Role.MANAGER))), SETTINGS, RUN)
        == []
    )
    for kind in (K.TRAINING, K.PEER_SUPPORT):
        ds = dataset(sessions=(session("t1", date(2026, 3, 1), kind),), attendance={"t1": ["c1"]})
        assert support.run(ds, SETTINGS, RUN) == [], kind


def test_a_support_session_after_the_run_date_does_not_count_yet() -> None:
    ds = dataset(sessions=(session("t1", date(2026, 7, 1), K.TRAINING),), attendance={"t1": ["c1"]})
    assert [f.subject.id for f in support.run(ds, SETTINGS, RUN)] == ["c1"]


def test_a_record_of_no_support_is_said_as_such_and_attendance_still_counts() -> None:
    ds = dataset(people=(person("c1", supported=False), person("m1", Role.MANAGER)))
    [flag] = support.run(ds, SETTINGS, RUN)
    assert "their record says they have none" in flag.message
    trained = dataset(
        people=(person("c1", supported=False), person("m1", Role.MANAGER)),
        sessions=(session("t1", date(2026, 3, 1), K.TRAINING),),
        attendance={"t1": ["c1"]},
    )
    assert support.run(trained, SETTINGS, RUN) == []


def test_support_kinds_are_a_setting() -> None:
    ds = dataset(sessions=(session("t1", date(2026, 3, 1), K.CO_DESIGN_WORKSHOP),), attendance={"t1": ["c1"]})
    assert len(support.run(ds, SETTINGS, RUN)) == 1
    workshops = CheckSettings(support=SupportSettings(support_kinds=frozenset({K.CO_DESIGN_WORKSHOP})))
    assert support.run(ds, workshops, RUN) == []


def test_silent_when_support_is_recorded_nowhere() -> None:
    assert support.run(dataset(recorded=False), SETTINGS, RUN) == []
    # A training session anywhere in the data is a record of support.
    ds = dataset(
        recorded=False, sessions=(session("t1", date(2026, 3, 1), K.TRAINING),), attendance={"t1": ["le1"]}
    )
    assert [f.subject.id for f in support.run(ds, SETTINGS, RUN)] == ["c1"]


def test_staff_on_the_group_and_people_off_it_are_not_this_rules_business() -> None:
    assert support.run(dataset(group=("m1",)), SETTINGS, RUN) == []
    assert support.run(dataset(group=()), SETTINGS, RUN) == []


def test_a_voice_co_chair_is_checked_too_and_one_flag_says_both_parts() -> None:
    [flag] = support.run(dataset(co_chairs=("c1",)), SETTINGS, RUN)
    assert flag.evidence["in_project"] == ["co_chair", "decision_group"]
    assert "is on the decision-making group of 'Carers strategy' and co-chairs it" in flag.message
    [only_chair] = support.run(dataset(group=("m1",), co_chairs=("le1",)), SETTINGS, RUN)
    assert only_chair.subject.id == "le1" and "is a co-chair of 'Carers strategy'" in only_chair.message


def test_one_flag_per_person_and_project() -> None:
    base = dataset()
    other = Project(id="p2", name="Second", decision_group=("c1",))
    ds = base.model_copy(update={"projects": (*base.projects, other)})
    flags = support.run(ds, SETTINGS, RUN)
    assert [(f.subject.id, f.project_id) for f in flags] == [("c1", "p1"), ("c1", "p2")]
    assert flags[0].fingerprint != flags[1].fingerprint


# --- support.co_chair_isolated --------------------------------------------------------------


def decisions() -> tuple[Session, ...]:
    return (
        session("sg1", date(2026, 2, 1), K.STEERING_GROUP, decision=True),
        session("sg2", date(2026, 3, 1), K.STEERING_GROUP, decision=True),
        session("dm1", date(2026, 4, 1), K.DECISION_MEETING, decision=True),
        session("ws1", date(2026, 4, 2), K.CO_DESIGN_WORKSHOP),
    )


def isolated(attendance: dict[str, list[str]], co_chairs: tuple[str, ...] = ("c1",)) -> list[support.Flag]:
    people = (
        person("c1", supported=True),
        person("le1", Role.LIVED_EXPERIENCE, True),
        person("m1", Role.MANAGER),
    )
    ds = dataset(people=people, co_chairs=co_chairs, sessions=decisions(), attendance=attendance)
    return [f for f in support.run(ds, SETTINGS, RUN) if f.check_id == "support.co_chair_isolated"]


def test_co_chair_in_only_their_own_group_while_decisions_are_taken_elsewhere_is_flagged() -> None:
    # The seed's carer: co-chairs the steering group, "not networked in to other strategic groups".
    [flag] = isolated({"sg1": ["c1", "m1"], "sg2": ["c1"], "dm1": ["m1"], "ws1": ["c1"]})
    assert flag.severity is Severity.WARNING and flag.subject.id == "c1" and flag.project_id == "p1"
    assert flag.evidence["their_decision_meetings"] == ["steering_group"]
    assert flag.evidence["other_decision_meetings"] == {
        "decision_meeting": {"decisions": 1, "session_ids": ["dm1"], "latest": "2026-04-01"}
    }
    assert flag.message == (
        "Name c1 (ID c1) co-chairs 'Carers strategy', but takes part in none of the other meetings where "
        "its decisions are taken: the decision meetings (1 decision, on 1 April 2026). A co-chair who is not "
        "part of those meetings relies on staff to take things forward. Invite them in, or bring those "
        "decisions to the group they co-chair, with the support to take part."
    )


def test_co_chair_in_none_of_the_decision_meetings_names_them_all() -> None:
    [flag] = isolated({"sg1": ["m1"], "dm1": ["m1"], "ws1": ["c1"]})
    assert (
        "takes part in none of the meetings where its decisions are taken: the decision meetings (1 "
        in flag.message
    )
    assert "the steering groups (2 decisions, the latest on 1 March 2026)" in flag.message


def test_co_chair_in_every_kind_of_decision_meeting_or_the_only_one_passes() -> None:
    assert isolated({"sg1": ["c1"], "dm1": ["c1"]}) == []
    people = (person("c1", supported=True), person("m1", Role.MANAGER))
    only_steering = (session("sg1", date(2026, 2, 1), K.STEERING_GROUP, decision=True),)
    ds = dataset(people=people, co_chairs=("c1",), sessions=only_steering, attendance={"sg1": ["c1"]})
    assert support.run(ds, SETTINGS, RUN) == []


def test_co_chair_in_two_kinds_of_decision_meeting_is_networked_even_if_a_third_is_missed() -> None:
    extra = session("cd1", date(2026, 5, 1), K.CO_DELIVERY, decision=True)
    people = (person("c1", supported=True), person("m1", Role.MANAGER))
    ds = dataset(
        people=people,
        co_chairs=("c1",),
        sessions=(*decisions(), extra),
        attendance={"sg1": ["c1"], "dm1": ["c1"]},
    )
    assert support.run(ds, SETTINGS, RUN) == []


def test_staff_co_chairs_projects_without_decisions_and_unrecorded_co_chairs_are_silent() -> None:
    assert isolated({"sg1": ["m1"]}, co_chairs=("m1",)) == []
    assert isolated({"sg1": ["m1"]}, co_chairs=()) == []
    people = (person("c1", supported=True), person("m1", Role.MANAGER))
    no_decisions = dataset(
        people=people, co_chairs=("c1",), sessions=(session("w", date(2026, 2, 1), K.CO_DESIGN_WORKSHOP),)
    )
    assert support.run(no_decisions, SETTINGS, RUN) == []


def test_decisions_after_the_run_date_do_not_count() -> None:
    people = (person("c1", supported=True), person("m1", Role.MANAGER))
    later = (
        session("sg1", date(2026, 2, 1), K.STEERING_GROUP, decision=True),
        session("dm1", date(2026, 7, 1), K.DECISION_MEETING, decision=True),
    )
    ds = dataset(people=people, co_chairs=("c1",), sessions=later, attendance={"sg1": ["c1"]})
    assert support.run(ds, SETTINGS, RUN) == []
