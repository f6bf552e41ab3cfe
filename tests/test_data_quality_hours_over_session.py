"""``data_quality.hours_over_session``: register rows giving more hours than the session lasted.

A fee is hours x rate from the row's own hours, so 5 hours recorded at a 2-hour session was paid
for silently; paid or not, the register is wrong (the consultation check counts the row only up to
the session's length: tests/test_consultation.py). The check flags the session
once (however many rows, whoever's), lists the rows in its evidence, says what the hours do to the
fees, and leaves the fees as recorded.
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from coprod.cli import main
from coprod.report.facts import gather
from coprod_core.checks import check_all, payments
from coprod_core.checks.payments.ledger import scan_attendance
from coprod_core.flags import Flag, Severity, SubjectKind
from coprod_core.live import project_flags
from coprod_core.mapping.cells import parser_for
from coprod_core.model import (
    Attendance,
    Dataset,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Project,
    Role,
    Session,
    SessionKind,
)
from coprod_core.recipe import parse_recipe
from coprod_core.settings import CheckSettings
from fakes import ROOT

RUN = date(2026, 7, 1)
WORKSHOP = SessionKind.CO_DESIGN_WORKSHOP
RULE = "data_quality.hours_over_session"
SETTINGS = CheckSettings()


def person(pid: str, name: str | None = None, pref: PaymentPreference = PaymentPreference.PAID) -> Person:
    return Person(
        id=pid,
        name=name or f"Person {pid}",
        roles=frozenset({Role.LIVED_EXPERIENCE}),
        payment_preference=pref,
    )


def session(sid: str = "s1", hours: str = "2", length_unknown: bool = False) -> Session:
    return Session(
        id=sid,
        project_id="p1",
        date=date(2026, 5, 1),
        hours=Decimal(hours),
        kind=WORKSHOP,
        title="Workshop",
        length_unknown=length_unknown,
    )


def att(pid: str, sid: str = "s1", hours: str | None = None, prep: str = "0") -> Attendance:
    return Attendance(pid, sid, None if hours is None else Decimal(hours), Decimal(prep))


def dataset(
    attendance: list[Attendance],
    sessions: list[Session] | None = None,
    people: list[Person] | None = None,
    minimum: str = "0",
    prep_counts: bool = True,
) -> Dataset:
    ids = sorted({a.person_id for a in attendance})
    return Dataset(
        people=tuple(people if people is not None else [person(pid) for pid in ids]),
        projects=(Project(id="p1", name="Day service redesign"),),
        sessions=tuple(sessions or [session()]),
        attendance=tuple(attendance),
        payments=(),
        policy=PaymentPolicy(
            rates={WORKSHOP: Decimal("25.00")},
            minimum_hours=Decimal(minimum),
            prep_counts=prep_counts,
            source="Payments policy 2026",
        ),
    )


def over(ds: Dataset, settings: CheckSettings = SETTINGS) -> list[Flag]:
    return [f for f in payments.run(ds, settings, RUN) if f.check_id == RULE]


def allowing(hours: str) -> CheckSettings:
    return CheckSettings.model_validate({"data_quality": {"hours_over_session_allowed": hours}})


def test_a_row_above_the_sessions_length_flags_the_session_saying_what_was_counted() -> None:
    ds = dataset([att("17", hours="5"), att("18", hours="2")], people=[person("17", "Sam"), person("18")])
    [flag] = over(ds)
    assert flag.subject.kind is SubjectKind.SESSION and flag.subject.id == "s1"
    assert flag.severity is Severity.WARNING and flag.project_id == "p1"
    assert flag.title == "Hours more than the session lasted"
    assert flag.message == (
        "Sam (ID 17) is recorded as attending the Workshop on 1 May 2026 for 5 hours, 3 hours more than "
        "the session lasted (2 hours). Their fee is worked out from the 5 hours recorded. Correct the "
        "hours on their register row, or the session's length if that is what is wrong."
    )
    assert flag.evidence["rows"] == [{"person_id": "17", "hours": "5", "over": "3", "fee": "hours"}]
    assert flag.evidence["session_hours"] == "2" and flag.evidence["most_over"] == "3"
    assert flag.evidence["people"] == 1


def test_many_rows_above_one_sessions_length_give_one_flag_listing_every_row() -> None:
    rows = [att(f"{n:02}", hours="5" if n % 2 else "4.5") for n in range(20)]
    [flag] = over(dataset(rows))
    assert [r["person_id"] for r in flag.evidence["rows"]] == [f"{n:02}" for n in range(20)]
    assert flag.evidence["people"] == 20 and flag.evidence["most_hours"] == "5"
    assert flag.message.startswith(
        "20 people are recorded as attending the Workshop on 1 May 2026 for more hours than the session "
        "lasted (2 hours): Person 00 (ID 00), Person 01 (ID 01), Person 02 (ID 02), Person 03 (ID 03), "
        "Person 04 (ID 04) and 15 more. The most is 5 hours, 3 hours more. Their fees are worked out "
        "from the hours recorded."
    )


def test_rows_at_the_sessions_length_or_within_the_allowance_are_not_flagged() -> None:
    assert over(dataset([att("1", hours="2"), att("2", hours="2.00"), att("3", hours="1.5")])) == []
    within = dataset([att("1", hours="2.5")])
    assert over(within, allowing("0.5")) == []
    [flag] = over(dataset([att("1", hours="2.75")]), allowing("0.5"))
    assert flag.message.startswith(
        "Person 1 (ID 1) is recorded as attending the Workshop on 1 May 2026 for 2.75 hours, 45 minutes "
        "more than the session lasted (2 hours, and your settings allow up to 0.5 hours more)."
    )
    assert flag.evidence["hours_over_session_allowed"] == "0.5"


def test_a_session_of_unknown_length_or_a_row_without_hours_is_not_compared() -> None:
    unknown = dataset([att("1", hours="5")], sessions=[session(hours="0", length_unknown=True)])
    assert over(unknown) == []
    whole_session = dataset([att("1"), att("2", prep="3")])
    assert over(whole_session) == []


def test_preparation_hours_are_never_compared_with_the_sessions_length() -> None:
    assert over(dataset([att("1", hours="2", prep="6")])) == []


def test_rows_no_fee_is_worked_out_from_are_flagged_too_without_words_about_a_fee() -> None:
    """A wrong register row is wrong whoever's it is: someone who declined payment, or at a kind of
    session without a rate (the consultation check counts it only up to the session's length, and
    staff need to know why). The flag says nothing of a fee where none is worked out."""
    declined = dataset([att("17", hours="5")], people=[person("17", "Sam", pref=PaymentPreference.DECLINED)])
    [flag] = over(declined)
    assert flag.message == (
        "Sam (ID 17) is recorded as attending the Workshop on 1 May 2026 for 5 hours, 3 hours more than "
        "the session lasted (2 hours). Correct the hours on their register row, or the session's length "
        "if that is what is wrong."
    )
    assert flag.evidence["rows"] == [{"person_id": "17", "hours": "5", "over": "3", "fee": "none"}]
    manager = Person(id="17", name="Sam", roles=frozenset({Role.MANAGER}))
    assert len(over(dataset([att("17", hours="5")], people=[manager]))) == 1
    unrated = session().model_copy(update={"kind": SessionKind.SURVEY})
    assert len(over(dataset([att("17", hours="5")], sessions=[unrated]))) == 1
    before_policy = dataset([att("17", hours="5")])
    before_policy = before_policy.model_copy(
        update={"policy": before_policy.policy.model_copy(update={"effective": date(2026, 6, 1)})}
    )
    assert len(over(before_policy)) == 1


def test_without_a_payment_policy_rows_over_the_sessions_length_are_flagged_all_the_same() -> None:
    ds = dataset([att("17", hours="5"), att("18", hours="2.5"), att("19", hours="2")]).model_copy(
        update={"policy": None}
    )
    [flag] = over(ds)
    assert flag.message == (
        "2 people are recorded as attending the Workshop on 1 May 2026 for more hours than the session "
        "lasted (2 hours): Person 17 (ID 17) and Person 18 (ID 18). The most is 5 hours, 3 hours more. "
        "Correct the hours on their register rows, or the session's length if that is what is wrong."
    )
    assert [r["fee"] for r in flag.evidence["rows"]] == ["none", "none"]
    assert flag.fingerprint == over(dataset([att("17", hours="5")]))[0].fingerprint
    whole = [f for f in check_all(ds, SETTINGS, RUN).flags if f.check_id == RULE]
    scoped = [f for f in project_flags(ds, SETTINGS, RUN) if f.check_id == RULE]
    assert [(f.fingerprint, f.facts_digest) for f in whole] == [(flag.fingerprint, flag.facts_digest)]
    assert [(f.fingerprint, f.facts_digest) for f in scoped] == [(flag.fingerprint, flag.facts_digest)]
    unknown = ds.model_copy(update={"sessions": (session(hours="0", length_unknown=True),)})
    assert over(unknown) == []


def test_a_session_held_after_the_run_date_is_not_compared() -> None:
    later = dataset([att("1", hours="5")], sessions=[session().model_copy(update={"date": date(2026, 8, 1)})])
    assert over(later) == []
    assert over(later.model_copy(update={"policy": None})) == []


def test_rows_with_and_without_a_fee_at_one_session_say_which_is_which() -> None:
    people = [person("1"), person("2", pref=PaymentPreference.DECLINED), person("3")]
    short = [session(hours="1")]
    rows = [att("1", hours="3"), att("2", hours="3"), att("3", hours="1.5")]
    [flag] = over(dataset(rows, sessions=short, people=people, minimum="2"))
    assert (
        "The most is 3 hours, 2 hours more. One of them has their fee worked out from the hours recorded, 1 "
        "is paid as the minimum of 2 hours and 1 is not paid a fee for it. Correct" in flag.message
    )
    assert [r["fee"] for r in flag.evidence["rows"]] == ["hours", "none", "minimum"]
    both_declined = [
        person("1", pref=PaymentPreference.DECLINED),
        person("2", pref=PaymentPreference.DECLINED),
    ]
    [flag] = over(dataset(rows[:2], sessions=short, people=both_declined))
    assert "2 hours more. Correct the hours on their register rows" in flag.message


def test_the_fee_stays_as_recorded() -> None:
    ds = dataset([att("17", hours="5")])
    scan = scan_attendance(ds, ds.policy, SETTINGS.voice_roles, RUN, ds.people_by_id(), ds.sessions_by_id())
    assert scan.total("17", payments.PaymentKind.FEE) == Decimal("125.00")  # 5 hours x £25
    owed = [f for f in payments.run(ds, SETTINGS, RUN) if f.check_id == "payments.overdue"]
    assert len(owed) == 1 and "£125.00" in owed[0].message


def test_a_rerun_gives_the_same_fingerprint_and_more_rows_change_only_the_facts() -> None:
    first = over(dataset([att("1", hours="5"), att("2", hours="2")]))
    again = over(dataset([att("1", hours="5"), att("2", hours="2")]))
    more = over(dataset([att("1", hours="5"), att("2", hours="4")]))
    assert [f.fingerprint for f in first] == [f.fingerprint for f in again] == [f.fingerprint for f in more]
    assert first[0].facts_digest == again[0].facts_digest != more[0].facts_digest
    # Pinned: the rule's id and the session (nothing else) make its identity; a change to either
    # would re-open every flag staff acknowledged.
    assert first[0].fingerprint == "1ef4b9b364d96b2609fe"


def test_each_session_gets_its_own_flag() -> None:
    ds = dataset(
        [att("1", "s1", hours="5"), att("1", "s2", hours="3"), att("2", "s2", hours="1")],
        sessions=[session("s1"), session("s2", hours="1")],
    )
    flags = over(ds)
    assert [f.subject.id for f in flags] == ["s1", "s2"]
    assert flags[0].fingerprint != flags[1].fingerprint


def test_the_whole_check_and_the_webhooks_recheck_of_a_project_raise_the_same_flag() -> None:
    ds = dataset([att("1", hours="5")])
    whole = [f for f in check_all(ds, SETTINGS, RUN).flags if f.check_id == RULE]
    scoped = [f for f in project_flags(ds, SETTINGS, RUN) if f.check_id == RULE]
    assert len(whole) == 1
    assert [(f.fingerprint, f.facts_digest) for f in whole] == [
        (f.fingerprint, f.facts_digest) for f in scoped
    ]


def test_the_allowance_must_be_a_number_of_hours_not_below_zero() -> None:
    assert CheckSettings().data_quality.hours_over_session_allowed == 0
    with pytest.raises(ValidationError, match="hours_over_session_allowed"):
        allowing("-1")
    data = tomllib.loads((ROOT / "recipes" / "demo" / "recipe.toml").read_text())
    data["settings"]["data_quality"]["hours_over_session_allowed"] = -0.5
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is None
    assert [str(p) for p in problems] == [
        "recipe.toml: [settings.data_quality] hours_over_session_allowed: Input should be greater than or "
        "equal to 0 (got -0.5)"
    ]
    data["settings"]["data_quality"]["hours_over_session_allowed"] = "half an hour"
    _, problems = parse_recipe(data, "recipe.toml")
    assert [p.section for p in problems] == ["[settings.data_quality] hours_over_session_allowed"]
    assert "'half an hour'" in str(problems[0])


def test_rules_lists_and_explain_explains_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    assert f"{RULE}" in capsys.readouterr().out
    assert main(["explain", RULE]) == 0
    page = capsys.readouterr().out
    assert page.startswith(f"{RULE}: Hours more than the session lasted\n")
    for part in ("hours_over_session_allowed", "Preparation hours are separate", "What you can do: Correct"):
        assert part in " ".join(page.split())


def test_the_readme_documents_the_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "hours_over_session_allowed" in readme


def test_the_report_lists_it_among_the_flags_not_among_rows_not_used() -> None:
    ds = dataset([att("1", hours="5")])
    flags = check_all(ds, SETTINGS, RUN).flags
    facts = gather(ds, flags, {}, SETTINGS, RUN, recipe_name="test")
    assert facts.reasons == ()
    assert [f.check_id for f in facts.flags].count(RULE) == 1


def test_a_row_copied_twice_is_one_person_at_the_larger_hours_as_their_fee_counts_it() -> None:
    """A register row copied (same person, same session) counts once towards the fee, the larger: the
    flag names that person once, with those hours, not as two people."""
    copied = dataset([att("17", hours="5"), att("17", hours="5"), att("18", hours="2")])
    [flag] = over(copied)
    assert flag.evidence["people"] == 1
    assert flag.evidence["rows"] == [{"person_id": "17", "hours": "5", "over": "3", "fee": "hours"}]
    assert flag.message.startswith(
        "Person 17 (ID 17) is recorded as attending the Workshop on 1 May 2026 for 5 hours"
    )
    twice = dataset([att("17", hours="5"), att("17", hours="6")])
    [flag] = over(twice)
    assert flag.evidence["rows"] == [{"person_id": "17", "hours": "6", "over": "4", "fee": "hours"}]
    assert "for 6 hours, 4 hours more" in flag.message
    scan = scan_attendance(
        twice, twice.policy, SETTINGS.voice_roles, RUN, twice.people_by_id(), twice.sessions_by_id()
    )
    assert scan.total("17", payments.PaymentKind.FEE) == Decimal("150.00")  # the fee counts the 6 hours


def test_a_session_recorded_as_lasting_no_time_is_not_compared() -> None:
    """A session whose length is 0 (a survey filled in at home, a length nobody entered) gives
    nothing to compare: every row giving hours would be 'more than the session lasted (0 hours)'."""
    survey = dataset([att("1", hours="1"), att("2", hours="0.5")], sessions=[session(hours="0")])
    assert over(survey) == []
    assert [f for f in project_flags(survey, SETTINGS, RUN) if f.check_id == RULE] == []


READ_HOURS = parser_for("hours", None, day_first=True)
"""A cell of hours read as the mapping reads it: 1:20, 1h20 and 80 min are 1.33 hours."""


def typed(session_hours: str, row_hours: str, settings: CheckSettings = SETTINGS) -> list[Flag]:
    """The flags for one session and one row, their hours typed as in a sheet."""
    length = str(READ_HOURS(session_hours))
    ds = dataset([att("1", hours=str(READ_HOURS(row_hours)))], sessions=[session(hours=length)])
    return over(ds, settings)


def test_the_same_time_typed_as_hours_and_minutes_or_as_a_number_is_the_same_length() -> None:
    """1:20 is read as 1.33 hours; the same time typed as a number may be 1.33 or 1.34 (rounded up):
    compared in whole minutes, both are 80 minutes, so nobody's row is '0.01 hours over'."""
    assert READ_HOURS("1:20") == READ_HOURS("1h20") == READ_HOURS("80 min") == Decimal("1.33")
    for clock in ("1:20", "1h20", "80 min", "1 hour 20"):
        for number in ("1.33", "1.34", "1.333"):
            assert typed(clock, number) == [], (clock, number)
            assert typed(number, clock) == [], (number, clock)
    assert typed("0:10", "0.17") == typed("2:40", "2.67") == typed("2.66", "2:40") == []
    # The allowance too: 0.33 hours is 20 minutes, as 2:20 is 2.33 hours (140 minutes).
    assert typed("2", "2.34", allowing("0.33")) == []
    # Never over when not over in hours: 1.0075 hours (60.45 minutes, 60) and an allowance of 0.0075
    # (0.45 minutes, 0) are 1.015 hours, which rounds to 61 minutes.
    assert typed("1.0075", "1.015", allowing("0.0075")) == []


def test_one_minute_over_the_sessions_length_is_flagged_however_the_hours_are_typed() -> None:
    [flag] = typed("1:20", "1:21")
    assert flag.evidence["session_hours"] == "1.33" and flag.evidence["most_hours"] == "1.35"
    assert len(typed("1.34", "1.35")) == 1  # 80 minutes (1.34 rounded up from 1.333...) and 81
    assert len(typed("2", "2h01")) == len(typed("2", "2.02")) == len(typed("2", "121 min")) == 1
    assert len(typed("2", "2:31", allowing("0.5"))) == 1
    assert typed("2", "2:30", allowing("0.5")) == []


def test_an_excess_under_an_hour_is_said_in_minutes_and_kept_in_hours_in_the_evidence() -> None:
    """A session typed 1.34 hours and a row typed 1.35 is a minute over: "0.01 hours more" read as a
    rounding slip, not as a minute."""
    [flag] = typed("1.34", "1.35")
    assert "for 1.35 hours, 1 minute more than the session lasted (1.34 hours)" in flag.message
    assert flag.evidence["most_over"] == "0.01"
    [flag] = typed("2", "2:20")
    assert "20 minutes more than the session lasted (2 hours)" in flag.message
    [flag] = typed("2", "3")
    assert "1 hour more than the session lasted" in flag.message


def test_where_the_policys_minimum_sets_the_fee_the_flag_says_the_fee_does_not_change() -> None:
    """Minimum 2 hours, a 1-hour session, a row of 1.5 hours: the fee is for 2 hours whatever the row
    says, so the message must not say it is worked out from the 1.5 hours."""
    ds = dataset([att("17", hours="1.5")], sessions=[session(hours="1")], minimum="2")
    [flag] = over(ds)
    assert flag.message == (
        "Person 17 (ID 17) is recorded as attending the Workshop on 1 May 2026 for 1.5 hours, 30 minutes "
        "more than the session lasted (1 hour). Their fee does not change: it is paid as the minimum of "
        "2 hours. Correct the hours on their register row, or the session's length if that is what is "
        "wrong."
    )
    assert flag.evidence["rows"] == [{"person_id": "17", "hours": "1.5", "over": "0.5", "fee": "minimum"}]
    assert flag.evidence["minimum_hours"] == "2"
    scan = scan_attendance(ds, ds.policy, SETTINGS.voice_roles, RUN, ds.people_by_id(), ds.sessions_by_id())
    assert scan.total("17", payments.PaymentKind.FEE) == Decimal("50.00")  # 2 hours x £25, as said
    # Exactly the minimum: corrected to the session's hour, the fee is still for 2 hours.
    [flag] = over(dataset([att("17", hours="2")], sessions=[session(hours="1")], minimum="2"))
    assert "Their fee does not change: it is paid as the minimum of 2 hours." in flag.message


def test_where_the_hours_and_preparation_are_above_the_minimum_the_fee_is_worked_out_from_them() -> None:
    [flag] = over(dataset([att("17", hours="3")], sessions=[session(hours="2")], minimum="2"))
    assert "Their fee is worked out from the 3 hours recorded." in flag.message
    assert flag.evidence["rows"][0]["fee"] == "hours"
    # 1.5 hours + 1 hour preparation is 2.5 hours, above the 2-hour minimum: the hours count...
    with_prep = dataset([att("17", hours="1.5", prep="1")], sessions=[session(hours="1")], minimum="2")
    [flag] = over(with_prep)
    assert "Their fee is worked out from the 1.5 hours recorded." in flag.message
    # ...unless the policy does not count preparation: then the minimum sets the fee.
    no_prep = dataset(
        [att("17", hours="1.5", prep="1")], sessions=[session(hours="1")], minimum="2", prep_counts=False
    )
    [flag] = over(no_prep)
    assert "Their fee does not change: it is paid as the minimum of 2 hours." in flag.message


def test_several_rows_say_how_many_fees_the_hours_set_and_how_many_the_minimum() -> None:
    short = [session(hours="1")]
    all_minimum = dataset([att("1", hours="1.5"), att("2", hours="1.75")], sessions=short, minimum="2")
    [flag] = over(all_minimum)
    assert "more. Their fees do not change: each is paid as the minimum of 2 hours. Correct" in flag.message
    all_hours = dataset([att("1", hours="2.5"), att("2", hours="3")], sessions=short, minimum="2")
    [flag] = over(all_hours)
    assert "more. Their fees are worked out from the hours recorded. Correct" in flag.message
    mixed = dataset(
        [att("1", hours="1.5"), att("2", hours="3"), att("3", hours="4")], sessions=short, minimum="2"
    )
    [flag] = over(mixed)
    assert (
        "The most is 4 hours, 3 hours more. 2 of them have their fees worked out from the hours recorded "
        "and 1 is paid as the minimum of 2 hours. Correct" in flag.message
    )
    [flag] = over(
        dataset([att("1", hours="1.5"), att("2", hours="1.75"), att("3", hours="3")], short, minimum="2")
    )
    assert (
        "One of them has their fee worked out from the hours recorded and 2 are paid as the minimum of 2 "
        "hours." in flag.message
    )
