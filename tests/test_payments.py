"""The participation payments check: who is owed what, since when, and what looks wrong."""

from __future__ import annotations

import gc
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from coprod_core.checks import payments
from coprod_core.checks.payments.ledger import ZERO, Entitlement, apply, counted_payments, scan_attendance
from coprod_core.flags import Flag, Severity, SubjectKind
from coprod_core.model import (
    Attendance,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Project,
    Role,
    Session,
    SessionKind,
)
from coprod_core.settings import CheckSettings, PaymentSettings

RUN = date(2026, 7, 1)
WORKSHOP = SessionKind.CO_DESIGN_WORKSHOP
SETTINGS = CheckSettings()
SOURCE = "Involvement payments policy 2026"


def policy(**overrides: Any) -> PaymentPolicy:
    values: dict[str, Any] = {
        "rates": {WORKSHOP: Decimal("25.00"), SessionKind.DECISION_MEETING: Decimal("25.00")},
        "source": SOURCE,
    }
    values.update(overrides)
    return PaymentPolicy(**values)


def person(
    pid: str = "17",
    name: str | None = "Sam",
    roles: tuple[Role, ...] = (Role.LIVED_EXPERIENCE,),
    pref: PaymentPreference | None = PaymentPreference.PAID,
    benefits: bool = False,
) -> Person:
    return Person(
        id=pid, name=name, roles=frozenset(roles), payment_preference=pref, benefits_opt_in=benefits
    )


def session(
    sid: str,
    on: date,
    kind: SessionKind = WORKSHOP,
    hours: str = "2",
    project: str = "p1",
    title: str | None = None,
) -> Session:
    return Session(id=sid, project_id=project, date=on, hours=Decimal(hours), kind=kind, title=title)


def att(pid: str, sid: str, hours: str | None = None, prep: str = "0", expenses: str = "0") -> Attendance:
    return Attendance(
        person_id=pid,
        session_id=sid,
        hours=None if hours is None else Decimal(hours),
        prep_hours=Decimal(prep),
        expenses_claimed=Decimal(expenses),
    )


def pay(
    pay_id: str,
    pid: str,
    amount: str,
    on: date,
    kind: PaymentKind = PaymentKind.FEE,
    sid: str | None = None,
) -> Payment:
    return Payment(id=pay_id, person_id=pid, amount=Decimal(amount), date=on, kind=kind, session_id=sid)


def dataset(
    people: list[Person] | None = None,
    sessions: list[Session] | None = None,
    attendance: list[Attendance] | None = None,
    paid: list[Payment] | None = None,
    pol: PaymentPolicy | None | str = "default",
    projects: list[Project] | None = None,
) -> Dataset:
    return Dataset(
        people=tuple(people or [person()]),
        projects=tuple(projects or []),
        sessions=tuple(sessions or []),
        attendance=tuple(attendance or []),
        payments=tuple(paid or []),
        policy=policy() if pol == "default" else pol,  # type: ignore[arg-type]
    )


def run(ds: Dataset, settings: CheckSettings = SETTINGS, on: date = RUN) -> list[Flag]:
    return payments.run(ds, settings, on)


def rule(flags: list[Flag], name: str) -> list[Flag]:
    return [f for f in flags if f.check_id == f"payments.{name}"]


def one(flags: list[Flag], name: str) -> Flag:
    found = rule(flags, name)
    assert len(found) == 1, [f.check_id for f in flags]
    return found[0]


def days_before(n: int) -> date:
    return RUN - timedelta(days=n)


# ---------------------------------------------------------------------------------------------
# Owed and overdue


def test_overdue_message_says_amount_session_working_and_days_unpaid_in_plain_words() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1), title="workshop")],
        attendance=[att("17", "s1", prep="1")],
    )
    flag = one(run(ds), "overdue")
    assert flag.message.startswith(
        "Sam (ID 17) is owed £75.00 for the workshop on 1 May 2026 (2 hours + 1 hour preparation at "
        "£25.00 an hour). It has been unpaid for 61 days; your policy promises payment within 30 days."
    )
    assert "pay them" in flag.message
    assert flag.title == "Payment overdue"
    assert flag.subject.kind is SubjectKind.PERSON and flag.subject.id == "17"
    assert flag.evidence["total_owed"] == "75.00"
    assert flag.evidence["days_unpaid"] == 61
    assert flag.evidence["pay_within_days"] == 30
    assert flag.evidence["policy_source"] == SOURCE
    assert flag.evidence["sessions"][0]["rate"] == "25.00"
    assert flag.evidence["sessions"][0]["prep_hours"] == "1"
    assert rule(run(ds), "owed") == []


def test_owed_within_pay_within_days_is_info_with_a_pay_by_date() -> None:
    ds = dataset(sessions=[session("s1", days_before(10))], attendance=[att("17", "s1")])
    flags = run(ds)
    flag = one(flags, "owed")
    assert flag.severity is Severity.INFO
    assert flag.evidence["total_owed"] == "50.00"
    assert "please pay by 21 July 2026" in flag.message
    assert rule(flags, "overdue") == []


def test_exactly_pay_within_days_is_still_owed_and_one_day_more_is_overdue() -> None:
    at_limit = dataset(sessions=[session("s1", days_before(30))], attendance=[att("17", "s1")])
    assert one(run(at_limit), "owed").evidence["days_unpaid"] == 30
    assert rule(run(at_limit), "overdue") == []

    past = dataset(sessions=[session("s1", days_before(31))], attendance=[att("17", "s1")])
    flag = one(run(past), "overdue")
    assert flag.severity is Severity.WARNING
    assert rule(run(past), "owed") == []


def test_overdue_becomes_critical_only_after_twice_pay_within_days() -> None:
    twice = dataset(sessions=[session("s1", days_before(60))], attendance=[att("17", "s1")])
    assert one(run(twice), "overdue").severity is Severity.WARNING
    beyond = dataset(sessions=[session("s1", days_before(61))], attendance=[att("17", "s1")])
    assert one(run(beyond), "overdue").severity is Severity.CRITICAL


def test_owed_and_overdue_sessions_are_split_into_two_flags_for_the_same_person() -> None:
    ds = dataset(
        sessions=[session("old", days_before(45)), session("new", days_before(5))],
        attendance=[att("17", "old"), att("17", "new")],
    )
    flags = run(ds)
    assert [s["session_id"] for s in one(flags, "overdue").evidence["sessions"]] == ["old"]
    assert [s["session_id"] for s in one(flags, "owed").evidence["sessions"]] == ["new"]


def test_several_overdue_sessions_give_one_flag_with_total_and_the_oldest() -> None:
    ds = dataset(
        sessions=[
            session("a", date(2026, 4, 1)),
            session("b", date(2026, 4, 15)),
            session("c", date(2026, 5, 1)),
        ],
        attendance=[att("17", "a"), att("17", "b"), att("17", "c")],
    )
    flag = one(run(ds), "overdue")
    assert flag.evidence["total_owed"] == "150.00"
    assert flag.evidence["oldest_session_id"] == "a"
    assert flag.evidence["days_unpaid"] == 91
    assert "£150.00" in flag.message and "3 sessions" in flag.message
    assert "1 April 2026" in flag.message and "unpaid for 91 days" in flag.message
    assert "15 April 2026 (£50.00)" in flag.message


# ---------------------------------------------------------------------------------------------
# Applying payments


def test_partial_payment_pays_the_oldest_session_first_and_leaves_the_newer_owed() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1)), session("s2", date(2026, 5, 8))],
        attendance=[att("17", "s2"), att("17", "s1")],
        paid=[pay("P1", "17", "70.00", date(2026, 5, 20))],
    )
    flag = one(run(ds), "overdue")
    (left,) = flag.evidence["sessions"]
    assert left["session_id"] == "s2"
    assert left["owed"] == "30.00"
    assert left["paid"] == "20.00"
    assert left["payments_applied"] == [{"payment_id": "P1", "amount": "20.00"}]
    assert flag.evidence["total_owed"] == "30.00"
    assert "£20.00 of £50.00 paid so far" in flag.message


def test_payment_naming_a_session_pays_that_session_before_the_oldest() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1)), session("s2", date(2026, 5, 8))],
        attendance=[att("17", "s1"), att("17", "s2")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 20), sid="s2")],
    )
    (left,) = one(run(ds), "overdue").evidence["sessions"]
    assert left["session_id"] == "s1"
    assert left["owed"] == "50.00"


def test_remainder_of_a_payment_naming_a_session_goes_to_the_oldest_unpaid() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1)), session("s2", date(2026, 5, 8))],
        attendance=[att("17", "s1"), att("17", "s2")],
        paid=[pay("P1", "17", "70.00", date(2026, 5, 20), sid="s2")],
    )
    (left,) = one(run(ds), "overdue").evidence["sessions"]
    assert left["session_id"] == "s1"
    assert left["owed"] == "30.00"
    assert left["payments_applied"] == [{"payment_id": "P1", "amount": "20.00"}]


def test_payments_naming_sessions_that_cover_everything_leave_nothing_owed_and_say_what_is_over() -> None:
    # 50 a session; P1 names s2 but pays 80 (30 goes to s1), P2 names s1 and pays 40: 120 for 100.
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1)), session("s2", date(2026, 5, 8))],
        attendance=[att("17", "s1"), att("17", "s2")],
        paid=[
            pay("P1", "17", "80.00", date(2026, 5, 20), sid="s2"),
            pay("P2", "17", "40.00", date(2026, 5, 21), sid="s1"),
        ],
    )
    flags = run(ds)
    assert rule(flags, "owed") == [] and rule(flags, "overdue") == []
    flag = one(flags, "overpaid")
    assert (flag.evidence["entitled"], flag.evidence["paid"], flag.evidence["overpaid"]) == (
        "100.00",
        "120.00",
        "20.00",
    )
    assert flag.evidence["session_ids"] == ["s1", "s2"]


def test_several_payments_fill_sessions_oldest_first_around_a_partly_paid_named_session() -> None:
    ds = dataset(
        sessions=[
            session("s1", date(2026, 4, 1)),
            session("s2", date(2026, 4, 8)),
            session("s3", date(2026, 4, 15)),
        ],
        attendance=[att("17", "s1"), att("17", "s2"), att("17", "s3")],
        paid=[
            pay("P0", "17", "20.00", date(2026, 4, 20), sid="s3"),
            pay("P1", "17", "30.00", date(2026, 4, 21)),
            pay("P2", "17", "40.00", date(2026, 4, 22)),
            pay("P3", "17", "50.00", date(2026, 4, 23)),
        ],
    )
    flags = run(ds)
    (left,) = one(flags, "overdue").evidence["sessions"]
    assert left["session_id"] == "s3"
    assert left["owed"] == "10.00"
    assert left["payments_applied"] == [
        {"payment_id": "P0", "amount": "20.00"},
        {"payment_id": "P3", "amount": "20.00"},
    ]
    assert rule(flags, "overpaid") == []


def test_hours_written_differently_give_the_same_amounts_and_evidence() -> None:
    ds = dataset(
        people=[person("1"), person("2")],
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("1", "s1", hours="2", prep="1"), att("2", "s1", hours="2.00", prep="1.0")],
    )
    first, second = rule(run(ds), "overdue")
    assert first.evidence["sessions"] == second.evidence["sessions"]
    assert (
        first.evidence["sessions"][0] | {"hours": "2", "prep_hours": "1", "owed": "75.00"}
        == (first.evidence["sessions"][0])
    )
    assert first.facts_digest == second.facts_digest


def test_the_cycle_collector_is_left_as_the_caller_had_it() -> None:
    ds = dataset(sessions=[session("s1", days_before(40))], attendance=[att("17", "s1")])
    was = gc.isenabled()
    try:
        gc.enable()
        run(ds)
        assert gc.isenabled()
        gc.disable()
        run(ds)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_fully_paid_person_has_no_flags() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 3))],
    )
    assert run(ds) == []


def test_voucher_preference_is_owed_and_a_voucher_payment_pays_it() -> None:
    voucher = person(pref=PaymentPreference.VOUCHER)
    base = {"people": [voucher], "sessions": [session("s1", days_before(3))], "attendance": [att("17", "s1")]}
    assert one(run(dataset(**base)), "owed").evidence["total_owed"] == "50.00"
    assert run(dataset(**base, paid=[pay("V1", "17", "50.00", days_before(1))])) == []


def test_unrecorded_preference_counts_as_eligible() -> None:
    ds = dataset(
        people=[person(pref=None)], sessions=[session("s1", days_before(3))], attendance=[att("17", "s1")]
    )
    assert one(run(ds), "owed").evidence["total_owed"] == "50.00"


# ---------------------------------------------------------------------------------------------
# Working out the entitlement


def test_minimum_paid_time_applies_when_attendance_is_shorter() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3), hours="1")],
        attendance=[att("17", "s1")],
        pol=policy(minimum_hours=Decimal("2")),
    )
    flag = one(run(ds), "owed")
    assert flag.evidence["total_owed"] == "50.00"
    assert flag.evidence["sessions"][0]["paid_hours"] == "2"
    assert "1 hour, paid as the minimum of 2 hours, at £25.00 an hour" in flag.message


def test_attendance_hours_override_session_hours() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3), hours="3")], attendance=[att("17", "s1", hours="1.5")]
    )
    flag = one(run(ds), "owed")
    assert flag.evidence["total_owed"] == "37.50"
    assert flag.evidence["sessions"][0]["hours"] == "1.5"


@pytest.mark.parametrize(("prep_counts", "owed"), [(True, "75.00"), (False, "50.00")])
def test_preparation_is_paid_only_when_the_policy_counts_it(prep_counts: bool, owed: str) -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "s1", prep="1")],
        pol=policy(prep_counts=prep_counts),
    )
    flag = one(run(ds), "owed")
    assert flag.evidence["total_owed"] == owed
    assert ("preparation" in flag.message) is prep_counts


def test_entitlement_is_rounded_half_up_to_the_penny() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3), hours="0.5")],
        attendance=[att("17", "s1")],
        pol=policy(rates={WORKSHOP: Decimal("12.25")}),
    )
    assert one(run(ds), "owed").evidence["total_owed"] == "6.13"


@pytest.mark.parametrize("roles", [(Role.FRONTLINE_STAFF,), (Role.MANAGER,), ()])
def test_people_not_in_an_eligible_role_are_owed_no_fee(roles: tuple[Role, ...]) -> None:
    ds = dataset(
        people=[person(roles=roles)], sessions=[session("s1", days_before(40))], attendance=[att("17", "s1")]
    )
    assert run(ds) == []


def test_not_eligible_preference_is_owed_no_fee() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.NOT_ELIGIBLE)],
        sessions=[session("s1", days_before(40))],
        attendance=[att("17", "s1")],
    )
    assert run(ds) == []


def test_sessions_before_the_policy_took_effect_are_not_owed_a_fee() -> None:
    ds = dataset(
        sessions=[session("old", date(2026, 1, 10)), session("new", date(2026, 3, 10))],
        attendance=[att("17", "old"), att("17", "new")],
        pol=policy(effective=date(2026, 2, 1)),
    )
    flag = one(run(ds), "overdue")
    assert [s["session_id"] for s in flag.evidence["sessions"]] == ["new"]


def test_a_repeated_attendance_row_is_owed_once() -> None:
    ds = dataset(sessions=[session("s1", days_before(3))], attendance=[att("17", "s1"), att("17", "s1")])
    assert one(run(ds), "owed").evidence["total_owed"] == "50.00"


def test_future_sessions_and_payments_for_them_are_ignored() -> None:
    ds = dataset(
        sessions=[session("later", RUN + timedelta(days=1))],
        attendance=[att("17", "later", expenses="9.00")],
        paid=[pay("P1", "17", "50.00", days_before(2), sid="later")],
    )
    assert run(ds) == []


def test_payments_dated_after_the_run_date_do_not_count_yet() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", RUN + timedelta(days=2))],
    )
    assert one(run(ds), "owed").evidence["total_owed"] == "50.00"


# ---------------------------------------------------------------------------------------------
# Expenses


def test_expenses_are_owed_separately_from_fees() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(40))],
        attendance=[att("17", "s1", expenses="12.40")],
        paid=[pay("P1", "17", "50.00", days_before(35))],
    )
    flag = one(run(ds), "overdue")
    assert flag.evidence["kind"] == "expenses"
    assert flag.evidence["total_owed"] == "12.40"
    assert flag.title == "Expenses overdue"
    assert "owed £12.40 in expenses" in flag.message
    # The fee payment does not spill over into the expenses, nor the other way round.
    assert rule(run(ds), "overpaid") == []


def test_expenses_payment_pays_expenses_not_fees() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "s1", expenses="12.40")],
        paid=[pay("E1", "17", "12.40", days_before(1), kind=PaymentKind.EXPENSES)],
    )
    flag = one(run(ds), "owed")
    assert flag.evidence["kind"] == "fee"
    assert flag.evidence["total_owed"] == "50.00"


def test_expenses_are_owed_to_someone_who_declined_fees() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.DECLINED)],
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "s1", expenses="8.50")],
    )
    flag = one(run(ds), "owed")
    assert flag.evidence["kind"] == "expenses"
    assert flag.evidence["total_owed"] == "8.50"
    assert flag.title == "Expenses due"


def test_expenses_are_not_owed_when_the_policy_does_not_reimburse_them() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.DECLINED)],
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "s1", expenses="8.50")],
        pol=policy(expenses_reimbursed=False),
    )
    assert run(ds) == []


def test_fee_and_expenses_flags_for_one_person_have_different_fingerprints() -> None:
    ds = dataset(sessions=[session("s1", days_before(3))], attendance=[att("17", "s1", expenses="5")])
    flags = rule(run(ds), "owed")
    assert {f.evidence["kind"] for f in flags} == {"fee", "expenses"}
    assert len({f.fingerprint for f in flags}) == 2


# ---------------------------------------------------------------------------------------------
# Overpaid and paid though declined


def test_overpaid_with_two_equal_payments_days_apart_is_a_possible_duplicate() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 3)), pay("P2", "17", "50.00", date(2026, 5, 6))],
    )
    flags = run(ds)
    flag = one(flags, "overpaid")
    assert flag.severity is Severity.WARNING
    assert flag.title == "Possible duplicate payment"
    assert flag.evidence["overpaid"] == "50.00"
    assert flag.evidence["paid"] == "100.00" and flag.evidence["entitled"] == "50.00"
    assert flag.evidence["possible_duplicates"] == [["P1", "P2"]]
    assert "possible duplicate" in flag.message
    assert "P1 on 3 May 2026 and P2 on 6 May 2026" in flag.message
    assert rule(flags, "overdue") == [] and rule(flags, "owed") == []


def test_overpaid_without_a_lookalike_payment_names_no_duplicate() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 3)), pay("P2", "17", "50.00", date(2026, 6, 20))],
    )
    flag = one(run(ds), "overpaid")
    assert flag.evidence["possible_duplicates"] == []
    assert flag.title == "Paid more than owed"
    assert "check the finance records" in flag.message


def test_overpayment_within_tolerance_is_not_flagged() -> None:
    ds = dataset(
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.03", date(2026, 5, 3))],
    )
    tolerant = CheckSettings(payments=PaymentSettings(overpaid_tolerance=Decimal("0.05")))
    assert run(ds, tolerant) == []
    assert one(run(ds), "overpaid").evidence["overpaid"] == "0.03"


def test_staff_paid_a_fee_is_flagged_as_paid_more_than_owed() -> None:
    ds = dataset(
        people=[person(roles=(Role.FRONTLINE_STAFF,))],
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 3))],
    )
    flag = one(run(ds), "overpaid")
    assert "no fee is due to them" in flag.message


def test_person_who_declined_and_was_paid_is_flagged_once_as_paid_though_declined() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.DECLINED)],
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1")],
        paid=[pay("P1", "17", "50.00", date(2026, 5, 3))],
    )
    flags = run(ds)
    flag = one(flags, "paid_though_declined")
    assert flag.severity is Severity.WARNING
    assert flag.evidence["total_paid"] == "50.00"
    assert flag.evidence["payments"][0]["payment_id"] == "P1"
    assert "benefits" in flag.message and "check with them" in flag.message
    assert "Sam" not in flag.title
    assert rule(flags, "overpaid") == [] and rule(flags, "owed") == []


def test_declined_person_paid_only_expenses_is_not_flagged() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.DECLINED)],
        sessions=[session("s1", date(2026, 5, 1))],
        attendance=[att("17", "s1", expenses="6.00")],
        paid=[pay("E1", "17", "6.00", date(2026, 5, 3), kind=PaymentKind.EXPENSES)],
    )
    assert run(ds) == []


# ---------------------------------------------------------------------------------------------
# Unresourced sessions and no policy


def test_voice_attendance_at_a_kind_without_a_rate_is_unresourced() -> None:
    ds = dataset(
        people=[
            person(),
            person("18", "Ali", roles=(Role.CARER,)),
            person("90", "Jo", roles=(Role.MANAGER,)),
        ],
        sessions=[session("fg", days_before(5), kind=SessionKind.FOCUS_GROUP, project="p9")],
        attendance=[att("17", "fg"), att("18", "fg"), att("90", "fg")],
    )
    flags = run(ds)
    flag = one(flags, "unresourced")
    assert flag.subject.kind is SubjectKind.SESSION and flag.subject.id == "fg"
    assert flag.project_id == "p9"
    assert flag.evidence["person_ids"] == ["17", "18"]
    assert flag.evidence["policy_source"] == SOURCE
    assert "no rate for a focus group" in flag.message
    assert "People with lived experience or carers took part" in flag.message
    assert "Add a rate" in flag.message
    assert rule(flags, "owed") == []


def test_unresourced_is_not_raised_when_every_voice_attender_declined_or_is_not_eligible() -> None:
    ds = dataset(
        people=[person(pref=PaymentPreference.DECLINED), person("18", pref=PaymentPreference.NOT_ELIGIBLE)],
        sessions=[session("fg", days_before(5), kind=SessionKind.FOCUS_GROUP)],
        attendance=[att("17", "fg"), att("18", "fg")],
    )
    assert run(ds) == []


def test_payment_for_an_unrated_session_is_not_an_overpayment() -> None:
    ds = dataset(
        sessions=[session("fg", days_before(5), kind=SessionKind.FOCUS_GROUP)],
        attendance=[att("17", "fg")],
        paid=[pay("P1", "17", "20.00", days_before(2), sid="fg")],
    )
    assert [f.check_id for f in run(ds)] == ["payments.unresourced"]


def test_no_policy_gives_one_flag_per_project_with_voice_attendance() -> None:
    ds = dataset(
        people=[person(), person("90", "Jo", roles=(Role.FRONTLINE_STAFF,))],
        projects=[Project(id="p1", name="Day service redesign"), Project(id="p2", name="Carers' hub")],
        sessions=[
            session("a", date(2026, 4, 2), project="p1"),
            session("b", date(2026, 5, 2), project="p1"),
            session("c", date(2026, 5, 9), project="p2"),
            session("d", date(2026, 5, 9), project="p3"),
        ],
        attendance=[att("17", "a"), att("17", "b"), att("90", "c"), att("17", "d")],
        pol=None,
    )
    flags = run(ds)
    assert [f.check_id for f in flags] == ["payments.no_policy"] * 2
    by_project = {f.subject.id: f for f in flags}
    assert set(by_project) == {"p1", "p3"}
    p1 = by_project["p1"]
    assert p1.subject.kind is SubjectKind.PROJECT and p1.project_id == "p1"
    assert p1.evidence["session_ids"] == ["a", "b"]
    assert "'Day service redesign' has no payment policy" in p1.message
    assert "1 person in 2 sessions since 2 April 2026" in p1.message
    assert "Project p3" in by_project["p3"].message


def test_no_policy_and_no_voice_attendance_gives_no_flag() -> None:
    ds = dataset(
        people=[person(roles=(Role.FRONTLINE_STAFF,))],
        sessions=[session("a", days_before(3))],
        attendance=[att("17", "a")],
        pol=None,
    )
    assert run(ds) == []


# ---------------------------------------------------------------------------------------------
# Benefits threshold


def test_benefits_threshold_is_per_calendar_month_and_only_above_it() -> None:
    opted = person(benefits=True)
    ds = dataset(
        people=[opted],
        sessions=[
            session("m1", date(2026, 3, 3), hours="3"),
            session("m2", date(2026, 3, 24), hours="2"),
            session("e1", date(2026, 4, 30), hours="3"),
            session("e2", date(2026, 5, 1), hours="3"),
        ],
        attendance=[att("17", s) for s in ("m1", "m2", "e1", "e2")],
        pol=policy(benefits_monthly_threshold=Decimal("100.00")),
    )
    flags = rule(run(ds), "benefits_threshold")
    assert [f.evidence["month"] for f in flags] == ["2026-03"]
    (flag,) = flags
    assert flag.severity is Severity.INFO
    assert flag.evidence["total_fees"] == "125.00"
    assert flag.evidence["threshold"] == "100.00"
    assert "March 2026" in flag.message and "Universal Credit" in flag.message
    assert "talk it through" in flag.message


def test_benefits_threshold_exactly_at_the_amount_is_not_flagged() -> None:
    ds = dataset(
        people=[person(benefits=True)],
        sessions=[session("m1", date(2026, 3, 3), hours="4")],
        attendance=[att("17", "m1")],
        pol=policy(benefits_monthly_threshold=Decimal("100.00")),
    )
    assert rule(run(ds), "benefits_threshold") == []


def test_benefits_threshold_only_for_people_who_opted_in_and_when_set() -> None:
    sessions = [session("m1", date(2026, 3, 3), hours="6")]
    attendance = [att("17", "m1")]
    not_opted = dataset(
        sessions=sessions, attendance=attendance, pol=policy(benefits_monthly_threshold=Decimal("100"))
    )
    no_threshold = dataset(people=[person(benefits=True)], sessions=sessions, attendance=attendance)
    assert rule(run(not_opted), "benefits_threshold") == []
    assert rule(run(no_threshold), "benefits_threshold") == []


def test_different_months_give_different_fingerprints() -> None:
    ds = dataset(
        people=[person(benefits=True)],
        sessions=[session("a", date(2026, 3, 3), hours="6"), session("b", date(2026, 4, 3), hours="6")],
        attendance=[att("17", "a"), att("17", "b")],
        pol=policy(benefits_monthly_threshold=Decimal("100")),
    )
    flags = rule(run(ds), "benefits_threshold")
    assert len({f.fingerprint for f in flags}) == 2


# ---------------------------------------------------------------------------------------------
# Projects, missing data, empty data


def test_project_id_is_set_only_when_all_the_persons_sessions_are_in_one_project() -> None:
    one_project = dataset(sessions=[session("s1", days_before(3))], attendance=[att("17", "s1")])
    assert one(run(one_project), "owed").project_id == "p1"
    two_projects = dataset(
        sessions=[session("s1", days_before(3)), session("s2", days_before(2), project="p2")],
        attendance=[att("17", "s1"), att("17", "s2")],
    )
    assert one(run(two_projects), "owed").project_id is None


@pytest.mark.parametrize("pol", [policy(), None])
def test_empty_dataset_gives_no_flags(pol: PaymentPolicy | None) -> None:
    assert payments.run(Dataset(policy=pol), SETTINGS, RUN) == []


def test_attendance_for_unknown_people_or_sessions_does_not_crash() -> None:
    ds = dataset(
        sessions=[session("s1", days_before(3))],
        attendance=[att("17", "missing"), att("nobody", "s1"), att("nobody", "s1", expenses="4")],
        paid=[pay("P1", "ghost", "10.00", days_before(1), sid="missing")],
    )
    flags = run(ds)
    assert {(f.check_id, f.subject.id) for f in flags} == {
        ("payments.owed", "nobody"),
        ("payments.overpaid", "ghost"),
    }
    assert one(flags, "owed").evidence["kind"] == "expenses"
    assert "Person ID nobody" in one(flags, "owed").message


def test_check_id_and_docstring_follow_the_check_contract() -> None:
    assert payments.CHECK_ID == "payments"
    doc = payments.__doc__ or ""
    for part in ("What it checks", "Why it matters", "What staff can do", "NIHR"):
        assert part in doc


# ---------------------------------------------------------------------------------------------
# Money never turns into float; fingerprints never depend on row order or wording


def rich_dataset() -> Dataset:
    return dataset(
        people=[
            person(benefits=True),
            person("18", "Ali", roles=(Role.CARER,), pref=PaymentPreference.DECLINED),
            person("19", None, roles=(Role.LIVED_EXPERIENCE,)),
        ],
        sessions=[
            session("a", date(2026, 3, 3), hours="4"),
            session("b", date(2026, 3, 20), hours="2.5"),
            session("c", days_before(5)),
            session("fg", days_before(5), kind=SessionKind.FOCUS_GROUP),
        ],
        attendance=[
            att("17", "a", prep="1", expenses="3.20"),
            att("17", "b"),
            att("17", "c"),
            att("18", "a", expenses="7"),
            att("19", "a"),
            att("19", "fg"),
        ],
        paid=[
            pay("P1", "18", "25.00", date(2026, 3, 10)),
            pay("P2", "19", "125.00", date(2026, 3, 10)),
            pay("P3", "19", "125.00", date(2026, 3, 12)),
            pay("P4", "17", "40.00", date(2026, 4, 1), sid="b"),
        ],
        pol=policy(minimum_hours=Decimal("1"), benefits_monthly_threshold=Decimal("100")),
    )


def _floats(value: Any) -> list[Any]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in _floats(v)]
    return []


def test_evidence_never_holds_a_float() -> None:
    flags = run(rich_dataset())
    assert {f.check_id for f in flags} >= {
        "payments.overdue",
        "payments.owed",
        "payments.overpaid",
        "payments.paid_though_declined",
        "payments.unresourced",
        "payments.benefits_threshold",
    }
    for flag in flags:
        assert _floats(flag.evidence) == [], flag.check_id


def test_rewording_messages_keeps_fingerprints_and_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    from coprod_core.checks.payments import benefits, overpaid, unpaid, unresourced, wording

    before = run(rich_dataset())
    reworded = 0
    for module in (wording, unpaid, overpaid, benefits, unresourced):  # each words its own flags
        for name, new in (
            ("money", lambda amount, currency="GBP": f"{amount} {currency} (reworded)"),
            ("day", lambda d: d.strftime("%d/%m/%Y")),
        ):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, new)
                reworded += 1
    assert reworded >= 5
    after = run(rich_dataset())
    assert [f.message for f in before] != [f.message for f in after]
    assert [(f.fingerprint, f.facts_digest) for f in before] == [
        (f.fingerprint, f.facts_digest) for f in after
    ]


def _key(flags: list[Flag]) -> list[tuple[str, str, str, str]]:
    return sorted((f.fingerprint, f.facts_digest, f.message, f.evidence_json) for f in flags)


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_flags_do_not_depend_on_row_order(rnd: Any) -> None:
    ds = rich_dataset()
    shuffled = {}
    for name in ("people", "sessions", "attendance", "payments"):
        rows = list(getattr(ds, name))
        rnd.shuffle(rows)
        shuffled[name] = tuple(rows)
    reordered = ds.model_copy(update=shuffled)
    assert _key(run(reordered)) == _key(run(ds))


money_st = st.decimals(min_value=0, max_value=200, places=2, allow_nan=False, allow_infinity=False)
hours_st = st.decimals(min_value=0, max_value=8, places=1, allow_nan=False, allow_infinity=False)
PEOPLE_IDS = ["1", "2", "3"]
SESSION_IDS = ["s1", "s2", "s3", "s4"]

attendance_st = st.builds(
    Attendance,
    person_id=st.sampled_from(PEOPLE_IDS),
    session_id=st.sampled_from(SESSION_IDS),
    hours=st.none() | hours_st,
    prep_hours=hours_st,
    expenses_claimed=money_st,
)
payment_st = st.builds(
    Payment,
    id=st.text(alphabet="PQ0123456789", min_size=1, max_size=3),
    person_id=st.sampled_from(PEOPLE_IDS),
    amount=money_st,
    date=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 8, 1)),
    kind=st.sampled_from(list(PaymentKind)),
    session_id=st.none() | st.sampled_from(SESSION_IDS),
)


def random_dataset(attendance: list[Attendance], paid: list[Payment], min_hours: Decimal) -> Dataset:
    return dataset(
        people=[
            person("1", "A", pref=PaymentPreference.PAID, benefits=True),
            person("2", "B", roles=(Role.CARER,), pref=PaymentPreference.DECLINED),
            person("3", None, roles=(Role.LIVED_EXPERIENCE, Role.FRONTLINE_STAFF), pref=None),
        ],
        sessions=[
            session("s1", date(2026, 2, 1)),
            session("s2", date(2026, 5, 20), hours="1.5"),
            session("s3", date(2026, 6, 25), kind=SessionKind.FOCUS_GROUP),
            session("s4", date(2026, 7, 20)),
        ],
        attendance=attendance,
        paid=paid,
        pol=policy(minimum_hours=min_hours, benefits_monthly_threshold=Decimal("60")),
    )


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(attendance_st, max_size=8),
    st.lists(payment_st, max_size=8),
    st.sampled_from([Decimal(0), Decimal(1), Decimal("2.5")]),
)
def test_owed_amounts_are_never_negative_and_never_exceed_what_is_due(
    attendance: list[Attendance], paid: list[Payment], min_hours: Decimal
) -> None:
    for flag in run(random_dataset(attendance, paid, min_hours)):
        assert _floats(flag.evidence) == []
        if flag.check_id in ("payments.owed", "payments.overdue"):
            assert Decimal(flag.evidence["total_owed"]) > 0
            for s in flag.evidence["sessions"]:
                assert Decimal(s["owed"]) > 0
                assert Decimal(s["owed"]) + Decimal(s["paid"]) == Decimal(s["entitled"])
        if flag.check_id == "payments.overpaid":
            assert Decimal(flag.evidence["overpaid"]) > 0


@hyp_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(attendance_st, max_size=8), st.lists(payment_st, max_size=8), st.randoms(use_true_random=False)
)
def test_arbitrary_data_gives_the_same_flags_in_any_row_order(
    attendance: list[Attendance], paid: list[Payment], rnd: Any
) -> None:
    ds = random_dataset(attendance, paid, Decimal(1))
    shuffled_att, shuffled_pay = list(attendance), list(paid)
    rnd.shuffle(shuffled_att)
    rnd.shuffle(shuffled_pay)
    assert _key(run(random_dataset(shuffled_att, shuffled_pay, Decimal(1)))) == _key(run(ds))


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(attendance_st, max_size=8), st.lists(payment_st, max_size=8), st.booleans())
def test_settling_leaves_unpaid_what_applying_payments_to_every_session_leaves_unpaid(
    attendance: list[Attendance], paid: list[Payment], unnamed: bool
) -> None:
    # Settling passes over the oldest sessions the payments pay in full (where no payment names a
    # session); what it leaves unpaid, what paid it and the surplus must be what applying the
    # same payments to an entitlement for every session gives.
    if unnamed:
        paid = [p._replace(session_id=None) for p in paid]
    ds = random_dataset(attendance, paid, Decimal(1))
    pol = ds.policy
    assert pol is not None
    people, sessions = ds.people_by_id(), ds.sessions_by_id()
    scan = scan_attendance(ds, pol, SETTINGS.voice_roles, RUN, people, sessions)
    counted = counted_payments(ds, pol, RUN, sessions)
    for pid, kind in scan.dues:
        pays = counted.get((pid, kind), [])
        # Added up in hundredths: the very Decimal (value and digits) adding the amounts gives.
        added = sum((due.amount for due in scan.dues[(pid, kind)].values()), ZERO)
        assert str(scan.total(pid, kind)) == str(added)
        fee = kind is PaymentKind.FEE
        every = []
        for order, due in scan.ranked(pid, kind):
            held, on = scan.held[order]
            rate = pol.rates[held.kind] if fee else None
            every.append(
                Entitlement(pid, kind, held, due.amount, rate, due, pol.minimum_hours if fee else ZERO, on)
            )
        surplus = apply(every, pays)
        settled = scan.settle(pid, kind, pol, pays)
        assert settled.surplus == surplus
        assert [e for e in settled.ents if e.amount > e.paid] == [e for e in every if e.amount > e.paid]
        if not any(p.session_id for p in pays):
            assert settled.ents == every[len(every) - len(settled.ents) :]


def test_payments_sorted_in_c_keep_payment_order_even_where_one_names_no_session() -> None:
    """in_payment_order sorts by the payment's fields in C; where that cannot compare two payments
    (same date, id and amount, one naming a session and one not) it falls back to payment_order,
    so the order is payment_order's everywhere."""
    from coprod_core.checks.payments.ledger import in_payment_order, payment_order

    day = date(2026, 3, 1)
    pays = [
        Payment("P2", "1", Decimal("10"), day, PaymentKind.FEE, None),
        Payment("P1", "1", Decimal("10"), day, PaymentKind.FEE, "S2"),
        Payment("P1", "1", Decimal("10"), day, PaymentKind.FEE, None),
        Payment("P1", "1", Decimal("5"), day, PaymentKind.FEE, "S1"),
        Payment("P0", "1", Decimal("10"), date(2026, 3, 2), PaymentKind.FEE, None),
    ]
    assert in_payment_order(pays) == sorted(pays, key=payment_order)
    assert in_payment_order(pays)[1:3] == [pays[2], pays[1]]  # no session sorts as "" does
    comparable = [p for p in pays if p.id != "P1" or p.session_id is not None]
    assert in_payment_order(comparable) == sorted(comparable, key=payment_order)
