"""Time to recruit people easy to ignore before the first decision."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from coprod_core.checks import recruitment
from coprod_core.flags import Severity, SubjectKind
from coprod_core.model import Attendance, Dataset, Person, Project, Role, Rung, Session, SessionKind
from coprod_core.settings import CheckSettings, RecruitmentSettings

K = SessionKind
SETTINGS = CheckSettings()
RUN = date(2026, 6, 1)
OPENED = date(2026, 1, 1)
DECIDED = OPENED + timedelta(days=28)


def dataset(
    joined: int = 3,
    *,
    opened: date | None = OPENED,
    decided: date = DECIDED,
    label: Rung = Rung.CO_PRODUCTION,
    extra: tuple[Session, ...] = (),
) -> Dataset:
    people = tuple(Person(id=f"v{i}", roles=frozenset({Role.LIVED_EXPERIENCE})) for i in range(5))
    people += (Person(id="m1", roles=frozenset({Role.MANAGER})),)
    sessions = (
        Session(
            id="w1",
            project_id="p1",
            date=decided - timedelta(days=7),
            hours=Decimal(2),
            kind=K.CO_DESIGN_WORKSHOP,
        ),
        Session(
            id="d1",
            project_id="p1",
            date=decided,
            hours=Decimal(2),
            kind=K.DECISION_MEETING,
            decision_taken=True,
            decision="The budget",
        ),
        *extra,
    )
    attendance = [Attendance(person_id=f"v{i}", session_id="w1") for i in range(joined)]
    attendance.append(Attendance(person_id="m1", session_id="d1"))
    return Dataset(
        people=people,
        projects=(Project(id="p1", name="Day service redesign", label=label, recruitment_opened=opened),),
        sessions=sessions,
        attendance=tuple(attendance),
    )


def test_enough_time_and_enough_people_is_not_flagged() -> None:
    assert recruitment.run(dataset(), SETTINGS, RUN) == []


def test_first_decision_too_soon_after_recruitment_opened_is_flagged() -> None:
    [flag] = recruitment.run(dataset(decided=OPENED + timedelta(days=27)), SETTINGS, RUN)
    assert flag.check_id == "recruitment.rushed" and flag.severity is Severity.WARNING
    assert flag.subject.kind is SubjectKind.PROJECT and flag.subject.id == "p1"
    assert flag.evidence == {
        "first_decision_session_id": "d1",
        "first_decision_date": "2026-01-28",
        "recruitment_opened": "2026-01-01",
        "days_after_opening": 27,
        "min_days": 28,
        "voice_joined": 3,
        "min_voice_joined": 3,
        "voice_roles": ["carer", "lived_experience"],
    }
    assert flag.message == (
        "'Day service redesign' took its first decision at the decision meeting on 28 January 2026 ('The "
        "budget'). That was 27 days after recruitment opened on 1 January 2026; your settings allow at "
        "least 28 days. People easy to ignore are the first left out of a rushed start. Give recruitment "
        "time before deciding, reach people where they are, and take this decision back to the group once "
        "it has formed."
    )


def test_too_few_people_joined_by_the_first_decision_is_flagged_and_counts_the_day_itself() -> None:
    [flag] = recruitment.run(dataset(joined=2), SETTINGS, RUN)
    assert flag.evidence["voice_joined"] == 2
    assert (
        "Only 2 people who have lived experience or are carers had taken part by then; your settings ask for at least 3."
        in flag.message
    )
    [one] = recruitment.run(dataset(joined=1), SETTINGS, RUN)
    assert "Only 1 person who has lived experience or is a carer had taken part" in one.message
    [none] = recruitment.run(dataset(joined=0), SETTINGS, RUN)
    assert "Nobody with lived experience or a carer had taken part by then" in none.message
    # Someone at the decision meeting itself had joined by then.
    ds = dataset(joined=2)
    ds = ds.model_copy(update={"attendance": (*ds.attendance, Attendance(person_id="v4", session_id="d1"))})
    assert recruitment.run(ds, SETTINGS, RUN) == []


def test_both_findings_in_one_flag_with_both_in_its_facts() -> None:
    [flag] = recruitment.run(dataset(joined=0, decided=OPENED + timedelta(days=10)), SETTINGS, RUN)
    assert "That was 10 days after" in flag.message and "Nobody with lived experience" in flag.message
    [soon] = recruitment.run(dataset(decided=OPENED + timedelta(days=10)), SETTINGS, RUN)
    assert soon.fingerprint == flag.fingerprint and soon.facts_digest != flag.facts_digest


def test_recruitment_opening_after_the_first_decision_is_said_plainly() -> None:
    [flag] = recruitment.run(dataset(opened=DECIDED + timedelta(days=3)), SETTINGS, RUN)
    assert "Recruitment only opened afterwards, on 1 February 2026." in flag.message
    assert flag.evidence["days_after_opening"] == -3


def test_without_a_recruitment_date_only_the_count_is_judged() -> None:
    assert recruitment.run(dataset(opened=None, decided=date(2026, 1, 2)), SETTINGS, RUN) == []
    [flag] = recruitment.run(dataset(joined=1, opened=None), SETTINGS, RUN)
    assert flag.evidence["recruitment_opened"] is None and "recruitment opened" not in flag.message


def test_settings_change_the_thresholds() -> None:
    lenient = CheckSettings(recruitment=RecruitmentSettings(min_days=7, min_voice_joined=1))
    assert recruitment.run(dataset(joined=1, decided=OPENED + timedelta(days=7)), lenient, RUN) == []


def test_only_projects_claiming_shared_power_are_judged() -> None:
    assert recruitment.run(dataset(joined=0, label=Rung.CONSULTATION), SETTINGS, RUN) == []
    assert len(recruitment.run(dataset(joined=0, label=Rung.CO_DESIGN), SETTINGS, RUN)) == 1


def test_only_the_first_decision_held_by_the_run_date_counts() -> None:
    later = Session(
        id="d0",
        project_id="p1",
        date=date(2026, 1, 2),
        hours=Decimal(1),
        kind=K.STEERING_GROUP,
        decision_taken=True,
    )
    [flag] = recruitment.run(dataset(extra=(later,)), SETTINGS, RUN)
    assert flag.evidence["first_decision_session_id"] == "d0"
    assert recruitment.run(dataset(), SETTINGS, DECIDED - timedelta(days=1)) == []  # no decision yet


def test_too_few_joined_says_people_removed_from_the_list_may_be_missing_without_changing_its_facts() -> None:
    """A deletion request took someone out of the people list: coprod keeps nothing about them (not
    their role, not when they took part), so it cannot count them. Where they could have made up the
    difference the flag says so; its facts stay what they were, so an answered flag keeps its answer."""
    plain = recruitment.run(dataset(joined=2), SETTINGS, RUN)[0]
    [flag] = recruitment.run(
        dataset(joined=2).model_copy(update={"removed_people": frozenset({"v9"})}), SETTINGS, RUN
    )
    assert flag.message == plain.message.replace(
        "your settings ask for at least 3. ",
        "your settings ask for at least 3. 1 person coprod knew has been removed from the people list, "
        "and coprod keeps nothing about them, not their role nor when they took part, so it cannot "
        "count them: if that person took part by then and has lived experience or is a carer, there were "
        "enough, and this flag comes from the deletion, not from a rushed start. ",
    )
    assert flag.evidence == plain.evidence | {"removed_from_people_list": 1}
    assert (flag.fingerprint, flag.facts_digest) == (plain.fingerprint, plain.facts_digest)

    two_gone = dataset(joined=0).model_copy(update={"removed_people": frozenset({"v8", "v9"})})
    [flag] = recruitment.run(two_gone, SETTINGS, RUN)
    assert (
        "Nobody with lived experience or a carer had taken part by then; your settings ask for at least 3. "
        "2 people coprod knew have been removed from the people list; coprod keeps nothing about "
        "them, but even had all of them taken part by then there would not have been enough. "
    ) in flag.message

    three_gone = dataset(joined=1).model_copy(update={"removed_people": frozenset({"v7", "v8", "v9"})})
    [flag] = recruitment.run(three_gone, SETTINGS, RUN)
    assert (
        "if 2 of them took part by then and have lived experience or are carers, there were enough"
        in flag.message
    )

    one_short = dataset(joined=2).model_copy(update={"removed_people": frozenset({"v8", "v9"})})
    [flag] = recruitment.run(one_short, SETTINGS, RUN)
    assert (  # one of them has (it said "one of them ... have lived experience or are carers")
        "if one of them took part by then and has lived experience or is a carer, there were enough"
        in flag.message
    )


def test_people_removed_from_the_list_say_nothing_where_enough_joined_or_only_the_days_are_short() -> None:
    gone = frozenset({"v9"})
    assert recruitment.run(dataset().model_copy(update={"removed_people": gone}), SETTINGS, RUN) == []
    soon = dataset(decided=OPENED + timedelta(days=27))
    [flag] = recruitment.run(soon.model_copy(update={"removed_people": gone}), SETTINGS, RUN)
    assert flag == recruitment.run(soon, SETTINGS, RUN)[0]
