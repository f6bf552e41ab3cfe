"""The "you said, we did" rule: people who gave their views hear what was decided."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from coprod_core.checks import feedback
from coprod_core.flags import Severity, SubjectKind
from coprod_core.model import Attendance, Dataset, Person, Project, Role, Session, SessionKind
from coprod_core.settings import CheckSettings, FeedbackSettings

K = SessionKind
SETTINGS = CheckSettings()
DECIDED = date(2026, 3, 10)
RUN = DECIDED + timedelta(days=31)  # one day past the default 30


def session(
    sid: str, d: date, kind: SessionKind, *, decision: bool = False, fed_back: date | None = None
) -> Session:
    return Session(
        id=sid,
        project_id="p1",
        date=d,
        hours=Decimal(2),
        kind=kind,
        decision_taken=decision,
        decision="The opening hours" if decision else None,
        fed_back=fed_back,
    )


def dataset(
    *sessions: Session, attendance: dict[str, list[str]] | None = None, recorded: bool = True
) -> Dataset:
    people = (
        Person(id="le1", roles=frozenset({Role.LIVED_EXPERIENCE})),
        Person(id="c1", roles=frozenset({Role.CARER})),
        Person(id="m1", roles=frozenset({Role.MANAGER})),
    )
    att = attendance if attendance is not None else {"f1": ["le1", "c1"], "d1": ["m1"]}
    return Dataset(
        people=people,
        projects=(Project(id="p1", name="Day service redesign"),),
        sessions=sessions,
        attendance=tuple(Attendance(person_id=p, session_id=s) for s, ps in att.items() for p in ps),
        recorded=frozenset({"sessions.fed_back"}) if recorded else frozenset(),
    )


VIEWS = session("f1", date(2026, 2, 20), K.FOCUS_GROUP)
DECISION = session("d1", DECIDED, K.DECISION_MEETING, decision=True)


def test_decision_after_their_views_with_no_feedback_is_flagged_with_recomputable_evidence() -> None:
    [flag] = feedback.run(dataset(VIEWS, DECISION), SETTINGS, RUN)
    assert flag.check_id == "feedback.not_fed_back" and flag.severity is Severity.WARNING
    assert flag.subject.kind is SubjectKind.SESSION and flag.subject.id == "d1" and flag.project_id == "p1"
    assert flag.evidence == {
        "session_id": "d1",
        "session_date": "2026-03-10",
        "decision": "The opening hours",
        "people_with_input": 2,
        "input_session_ids": ["f1"],
        "days_since_decision": 31,
        "within_days": 30,
        "fed_back": None,
        "feedback_sessions_after": 0,
    }
    assert flag.message == (
        "A decision was taken at the decision meeting on 10 March 2026 ('The opening hours') after 2 people "
        "who have lived experience or are carers gave their views, but there is no record of telling them "
        "what was decided and how their views counted. It is 31 days since; your settings ask for feedback "
        'within 30 days. Tell them ("you said, we did"), then record it: a date in the session\'s "fed '
        'back on" field, or a feedback session.'
    )


def test_not_due_until_the_set_days_have_passed() -> None:
    ds = dataset(VIEWS, DECISION)
    assert feedback.run(ds, SETTINGS, DECIDED + timedelta(days=30)) == []
    assert len(feedback.run(ds, SETTINGS, DECIDED + timedelta(days=31))) == 1
    longer = CheckSettings(feedback=FeedbackSettings(within_days=60))
    assert feedback.run(ds, longer, RUN) == []


def test_a_fed_back_date_on_the_decision_session_is_feedback() -> None:
    fed = session("d1", DECIDED, K.DECISION_MEETING, decision=True, fed_back=DECIDED + timedelta(days=40))
    assert feedback.run(dataset(VIEWS, fed), SETTINGS, RUN + timedelta(days=30)) == []


def test_a_feedback_session_on_or_after_the_decision_is_feedback_and_one_before_is_not() -> None:
    after = session("y1", DECIDED, K.FEEDBACK_TO_PARTICIPANTS)
    assert feedback.run(dataset(VIEWS, DECISION, after), SETTINGS, RUN) == []
    before = session("y0", DECIDED - timedelta(days=1), K.FEEDBACK_TO_PARTICIPANTS)
    assert [f.subject.id for f in feedback.run(dataset(VIEWS, before, DECISION), SETTINGS, RUN)] == ["d1"]


def test_taking_part_in_the_decision_itself_is_input() -> None:
    ds = dataset(DECISION, attendance={"d1": ["le1", "m1"]})
    [flag] = feedback.run(ds, SETTINGS, RUN)
    assert flag.evidence["people_with_input"] == 1 and flag.evidence["input_session_ids"] == ["d1"]
    assert "after 1 person who has lived experience or is a carer gave their views" in flag.message


def test_no_voice_input_before_the_decision_is_not_this_rules_business() -> None:
    # A decision nobody in a voice role gave views to is representation's to flag, not this one's.
    assert feedback.run(dataset(DECISION, VIEWS, attendance={"d1": ["m1"]}), SETTINGS, RUN) == []
    later_views = session("f9", DECIDED + timedelta(days=1), K.FOCUS_GROUP)
    assert feedback.run(dataset(DECISION, later_views, attendance={"f9": ["le1"]}), SETTINGS, RUN) == []


def test_being_told_things_is_not_giving_input() -> None:
    told = session("i1", date(2026, 2, 20), K.INFORMATION_EVENT)
    assert feedback.run(dataset(told, DECISION, attendance={"i1": ["le1"]}), SETTINGS, RUN) == []


def test_silent_when_feedback_is_not_recorded_anywhere() -> None:
    ds = dataset(VIEWS, DECISION, recorded=False)
    assert feedback.run(ds, SETTINGS, RUN) == []
    # A feedback session anywhere in the data says feedback is recorded.
    other = Session(
        id="y9", project_id="p1", date=date(2025, 1, 1), hours=Decimal(1), kind=K.FEEDBACK_TO_PARTICIPANTS
    )
    assert len(feedback.run(dataset(VIEWS, DECISION, other, recorded=False), SETTINGS, RUN)) == 1


def test_sessions_after_the_run_date_do_not_count() -> None:
    future = session("d2", RUN + timedelta(days=5), K.DECISION_MEETING, decision=True)
    flags = feedback.run(dataset(VIEWS, DECISION, future), SETTINGS, RUN)
    assert [f.subject.id for f in flags] == ["d1"]


def test_each_decision_is_its_own_flag_and_renaming_keeps_the_fingerprint() -> None:
    second = session("d2", DECIDED + timedelta(days=1), K.STEERING_GROUP, decision=True)
    ds = dataset(VIEWS, DECISION, second)
    flags = feedback.run(ds, SETTINGS, RUN + timedelta(days=1))
    assert [f.subject.id for f in flags] == ["d1", "d2"]
    renamed = ds.model_copy(
        update={"sessions": tuple(s.model_copy(update={"title": "New name"}) for s in ds.sessions)}
    )
    again = feedback.run(renamed, SETTINGS, RUN + timedelta(days=1))
    assert [(f.fingerprint, f.facts_digest) for f in again] == [
        (f.fingerprint, f.facts_digest) for f in flags
    ]
    assert [f.message for f in again] != [f.message for f in flags]
    later = feedback.run(ds, SETTINGS, RUN + timedelta(days=40))
    assert [(f.fingerprint, f.facts_digest) for f in later] == [
        (f.fingerprint, f.facts_digest) for f in flags
    ]


def test_no_voice_roles_means_nothing_to_judge() -> None:
    assert feedback.run(dataset(VIEWS, DECISION), CheckSettings(voice_roles=frozenset()), RUN) == []
