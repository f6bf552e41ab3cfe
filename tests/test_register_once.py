"""One pass over the attendance register for every check.

The payments check's pass (``payments.read_register``) gathers, as it goes, who in a voice role
took part in each held session and for how long, which the representation, consultation, feedback,
support and recruitment checks read (``VoiceAttendance``); a run of all the checks makes no second
pass for them. Whatever the register holds (hours given or not, rows repeated, hours above a
session's length, sessions not held yet or of unknown length, people and sessions not on their
lists, a policy with changes or none), what that pass gives the other checks is what a check run on
its own works out for itself (``VoiceAttendance.for_run``), and so are the flags.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprod_core.checks import CHECKS, check_all, payments
from coprod_core.checks.attendance import VoiceAttendance
from coprod_core.flags import Flag, SubjectKind
from coprod_core.live import person_flags, project_flags
from coprod_core.model import (
    Attendance,
    Dataset,
    PaymentPolicy,
    PaymentPreference,
    Person,
    PolicyChange,
    Project,
    Role,
    Session,
    SessionKind,
)
from coprod_core.settings import CheckSettings

RUN = date(2026, 7, 1)
WORKSHOP = SessionKind.CO_DESIGN_WORKSHOP
SURVEY = SessionKind.SURVEY
"""A kind no policy below has a rate for: its voice-role attenders are unresourced."""
PEOPLE = [str(n) for n in range(1, 7)]
SESSIONS = [f"s{n}" for n in range(1, 6)]
HOURS = [None, None, None, "1", "2", "2.0", "3", "5", "1.34", "0"]


def _settings(allowed: str) -> CheckSettings:
    return CheckSettings.model_validate({"data_quality": {"hours_over_session_allowed": allowed}})


@st.composite
def datasets(draw: st.DrawFn) -> tuple[Dataset, CheckSettings]:
    roles = st.sampled_from([Role.LIVED_EXPERIENCE, Role.CARER, Role.FRONTLINE_STAFF, Role.MANAGER])
    people = [
        Person(
            id=pid,
            name=f"Person {pid}",
            roles=frozenset(draw(st.sets(roles, min_size=1, max_size=2))),
            payment_preference=draw(st.sampled_from(list(PaymentPreference))),
        )
        for pid in PEOPLE
    ]
    sessions = [
        Session(
            id=sid,
            project_id=draw(st.sampled_from(["p1", "p2"])),
            date=date(2026, draw(st.integers(3, 8)), draw(st.integers(1, 28))),
            hours=Decimal(draw(st.sampled_from(["0", "1", "1.33", "2"]))),
            kind=draw(st.sampled_from([WORKSHOP, WORKSHOP, SURVEY])),
            length_unknown=draw(st.booleans()),
        )
        for sid in SESSIONS
    ]
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from([*PEOPLE, "99"]),
                st.sampled_from([*SESSIONS, "s9"]),
                st.sampled_from(HOURS),
                st.sampled_from(["0", "1"]),
            ),
            max_size=30,
        )
    )
    attendance = [
        Attendance(pid, sid, None if hours is None else Decimal(hours), Decimal(prep))
        for pid, sid, hours, prep in rows
    ]
    policy = draw(
        st.sampled_from(
            [
                None,
                PaymentPolicy(rates={WORKSHOP: Decimal("25.00")}, source="Payments policy 2026"),
                PaymentPolicy(
                    rates={WORKSHOP: Decimal("20.00")},
                    effective=date(2026, 4, 1),
                    changes=(PolicyChange.model_validate({"from": "2026-06-01", "rates": {"survey": "10"}}),),
                ),
            ]
        )
    )
    dataset = Dataset(
        people=tuple(people),
        projects=(Project(id="p1", name="Day service"), Project(id="p2", name="Carers' forum")),
        sessions=tuple(sessions),
        attendance=tuple(attendance),
        policy=policy,
    )
    return dataset, _settings(draw(st.sampled_from(["0", "0.5"])))


def _said(flags: list[Flag]) -> list[tuple[str, str, str, object]]:
    return sorted((f.fingerprint, f.facts_digest, f.message, repr(f.evidence)) for f in flags)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_the_payments_pass_gives_the_other_checks_what_a_pass_of_their_own_gives(
    drawn: tuple[Dataset, CheckSettings],
) -> None:
    dataset, config = drawn
    register = payments.read_register(dataset, config, RUN)
    shared = VoiceAttendance.of_register(register, config, RUN)
    own = VoiceAttendance.for_run(dataset, config, RUN)
    assert shared == own
    # Capped in copies: the register keeps the hours as the rows gave them.
    assert payments.read_register(dataset, config, RUN).found.voice_hours == register.found.voice_hours


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_all_the_checks_in_one_run_flag_what_each_flags_on_its_own(
    drawn: tuple[Dataset, CheckSettings],
) -> None:
    dataset, config = drawn
    alone = [flag for check in CHECKS.values() for flag in check(dataset, config, RUN)]
    assert _said(check_all(dataset, config, RUN).flags) == _said(alone)
    # The webhook's re-check of a change splits the same checks into the flags about projects and
    # sessions and those about people (coprod_core.live.scoped_check keeps each side's own).
    about_projects = [
        f for f in project_flags(dataset, config, RUN) if f.subject.kind is not SubjectKind.PERSON
    ]
    about_people = [f for f in person_flags(dataset, config, RUN) if f.subject.kind is SubjectKind.PERSON]
    assert _said(about_projects + about_people) == _said(alone)


def test_hours_over_a_sessions_length_are_capped_for_the_other_checks_as_recorded_for_payments() -> None:
    # Sam's 5 hours at a 2-hour workshop: the consultation check counts 2 (the length), the payments
    # check works the fee out from the 5 recorded and flags the row; one pass found both.
    dataset = Dataset(
        people=(
            Person(id="17", name="Sam", roles=frozenset({Role.LIVED_EXPERIENCE})),
            Person(id="18", name="Ali", roles=frozenset({Role.CARER})),
            Person(id="19", name="Jo", roles=frozenset({Role.MANAGER})),
        ),
        projects=(Project(id="p1", name="Day service"),),
        sessions=(Session(id="s1", project_id="p1", date=date(2026, 5, 1), hours=Decimal(2), kind=WORKSHOP),),
        attendance=(
            Attendance("17", "s1", Decimal(5), Decimal(0)),
            Attendance("17", "s1", None, Decimal(0)),
            Attendance("18", "s1", None, Decimal(0)),
            Attendance("19", "s1", Decimal(9), Decimal(0)),
        ),
        policy=PaymentPolicy(rates={WORKSHOP: Decimal("25.00")}),
    )
    config = CheckSettings()
    register = payments.read_register(dataset, config, RUN)
    assert register.found.voice_hours == {"s1": {"17": Decimal(5), "18": Decimal(2)}}
    voice = VoiceAttendance.of_register(register, config, RUN)
    assert voice.voice_ids == frozenset({"17", "18"})
    assert voice.hours == {"s1": {"17": Decimal(2), "18": Decimal(2)}}
    assert voice.over == {"s1": {"17": Decimal(5)}}
    assert register.found.voice_hours["s1"]["17"] == Decimal(5)
    [over] = [f for f in payments.flags_from(dataset, config, RUN, register) if f.check_id.startswith("data")]
    assert [row["person_id"] for row in over.evidence["rows"]] == ["17", "19"]


@pytest.mark.parametrize("policy", [None, PaymentPolicy(rates={WORKSHOP: Decimal("25.00")})])
def test_a_session_not_held_yet_or_not_on_the_list_is_nobodys_attendance(
    policy: PaymentPolicy | None,
) -> None:
    dataset = Dataset(
        people=(Person(id="17", name="Sam", roles=frozenset({Role.LIVED_EXPERIENCE})),),
        projects=(Project(id="p1", name="Day service"),),
        sessions=(
            Session(id="s1", project_id="p1", date=date(2026, 5, 1), hours=Decimal(2), kind=WORKSHOP),
            Session(id="s2", project_id="p1", date=date(2026, 9, 1), hours=Decimal(2), kind=WORKSHOP),
        ),
        attendance=(
            Attendance("17", "s1", None, Decimal(0)),
            Attendance("17", "s2", None, Decimal(0)),
            Attendance("17", "s9", None, Decimal(0)),
        ),
        policy=policy,
    )
    register = payments.read_register(dataset, CheckSettings(), RUN)
    assert register.found.voice_hours == {"s1": {"17": Decimal(2)}}
