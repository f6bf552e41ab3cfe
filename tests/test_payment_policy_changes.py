"""A payment policy that changes over time (``[[policy.changes]]``): each session is judged by the
policy in force on its date, so raising the rates from April neither re-prices March's sessions (a
flood of false "short" flags) nor drops them from the checks (real overdue payments gone silent)."""

from __future__ import annotations

import json
import shutil
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coprod.cli import main
from coprod.report.blocks import Paragraph
from coprod.report.disclosure import Disclosure
from coprod.report.facts import Payments, gather
from coprod.report.render import ReportKind, render
from coprod.report.views import build_page
from coprod_core.checks import payments
from coprod_core.flags import Flag
from coprod_core.model import (
    Attendance,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Role,
    Session,
    SessionKind,
)
from coprod_core.settings import CheckSettings
from fakes import ROOT

SETTINGS = CheckSettings()
MEETING = SessionKind.DECISION_MEETING
SURVEY = SessionKind.SURVEY
STEERING = SessionKind.STEERING_GROUP
V3 = "Involvement payment policy v3"
V4 = "Involvement payment policy v4"


def policy(*changes: dict[str, Any], **base: Any) -> PaymentPolicy:
    """The recipe's ``[policy]`` as TOML gives it: rates of £20 from January, and ``changes``."""
    values: dict[str, Any] = {
        "rates": {"decision_meeting": 20, "steering_group": 20},
        "effective": date(2026, 1, 1),
        "source": V3,
        "changes": list(changes),
    }
    values.update(base)
    return PaymentPolicy.model_validate(values)


APRIL_RISE = {"from": date(2026, 4, 1), "source": V4, "rates": {"decision_meeting": 27, "steering_group": 27}}


def sam(pid: str = "17") -> Person:
    return Person(
        id=pid,
        name="Sam",
        roles=frozenset({Role.LIVED_EXPERIENCE}),
        payment_preference=PaymentPreference.PAID,
    )


def session(sid: str, on: date, kind: SessionKind = MEETING, hours: str = "6") -> Session:
    return Session(id=sid, project_id="p1", date=on, hours=Decimal(hours), kind=kind)


def att(sid: str, pid: str = "17") -> Attendance:
    return Attendance(
        person_id=pid, session_id=sid, hours=None, prep_hours=Decimal(0), expenses_claimed=Decimal(0)
    )


def paid(pay_id: str, amount: str, on: date, sid: str | None = None) -> Payment:
    return Payment(
        id=pay_id, person_id="17", amount=Decimal(amount), date=on, kind=PaymentKind.FEE, session_id=sid
    )


def run(pol: PaymentPolicy, sessions: list[Session], pays: list[Payment], on: date) -> list[Flag]:
    ds = Dataset(
        people=(sam(),),
        sessions=tuple(sessions),
        attendance=tuple(att(s.id) for s in sessions),
        payments=tuple(pays),
        policy=pol,
    )
    return payments.run(ds, SETTINGS, on)


def owed_by(flag: Flag) -> dict[str, str]:
    """What the flag says is still owed, by session."""
    return {line["session_id"]: line["owed"] for line in flag.evidence["sessions"]}


def named(flags: list[Flag], rule: str) -> list[Flag]:
    return [f for f in flags if f.check_id == f"payments.{rule}"]


def test_a_rate_rise_in_april_leaves_march_sessions_paid_at_the_old_rate_unflagged() -> None:
    march = [session("m1", date(2026, 3, 5)), session("m2", date(2026, 3, 19))]
    april = session("a1", date(2026, 4, 9))
    pays = [paid("P1", "120", date(2026, 3, 20), "m1"), paid("P2", "120", date(2026, 3, 31))]
    flags = run(policy(APRIL_RISE), [*march, april], pays, date(2026, 4, 20))
    assert [f.check_id for f in flags] == ["payments.owed"]
    owed = flags[0]
    assert owed.evidence["total_owed"] == "162.00"  # 6 hours at the new £27, not at £20
    assert owed_by(owed) == {"a1": "162.00"}
    assert "(6 hours at £27.00 an hour)" in owed.message
    assert owed.evidence["sessions"][0]["rate"] == "27.00"
    assert owed.evidence["sessions"][0]["policy_source"] == V4
    assert not named(flags, "overpaid")


def test_a_march_session_unpaid_after_the_rise_is_owed_at_the_rate_of_its_day_and_still_overdue() -> None:
    sessions = [session("m1", date(2026, 3, 5)), session("a1", date(2026, 4, 9))]
    flags = run(policy(APRIL_RISE), sessions, [], date(2026, 5, 1))
    overdue = named(flags, "overdue")
    owed = named(flags, "owed")
    assert len(overdue) == 1 and len(owed) == 1
    assert overdue[0].evidence["total_owed"] == "120.00"
    assert "(6 hours at £20.00 an hour)" in overdue[0].message
    assert overdue[0].evidence["policy_source"] == V3
    assert owed[0].evidence["total_owed"] == "162.00"
    assert "(6 hours at £27.00 an hour)" in owed[0].message


def test_a_kind_first_covered_from_a_date_is_unresourced_before_it_and_paid_from_it() -> None:
    surveys_from_may = {"from": date(2026, 5, 1), "rates": {"survey": 10}}
    sessions = [
        session("s-apr", date(2026, 4, 10), SURVEY, "1"),
        session("s-may", date(2026, 5, 8), SURVEY, "1"),
    ]
    flags = run(policy(surveys_from_may), sessions, [], date(2026, 5, 20))
    unresourced = named(flags, "unresourced")
    assert [f.subject.id for f in unresourced] == ["s-apr"]
    assert unresourced[0].evidence["rated_kinds"] == ["decision_meeting", "steering_group"]
    assert unresourced[0].evidence["covered_from"] == "2026-05-01"
    assert "has no rate for a survey on its date (a later change covers it from 1 May 2026)" in (
        unresourced[0].message
    )
    owed = named(flags, "owed")
    assert len(owed) == 1
    assert owed_by(owed[0]) == {"s-may": "10.00"}


def test_a_kind_a_change_says_is_not_covered_is_paid_before_it_and_unresourced_from_it() -> None:
    no_steering = {"from": date(2026, 4, 1), "rates": {"steering_group": "not covered"}}
    sessions = [
        session("g-mar", date(2026, 3, 20), STEERING, "2"),
        session("g-apr", date(2026, 4, 9), STEERING, "2"),
    ]
    flags = run(policy(no_steering), sessions, [], date(2026, 4, 10))
    assert [f.subject.id for f in named(flags, "unresourced")] == ["g-apr"]
    assert [owed_by(f) for f in named(flags, "owed")] == [{"g-mar": "40.00"}]


def test_a_payment_naming_a_session_before_its_kind_was_covered_is_left_aside() -> None:
    surveys_from_may = {"from": date(2026, 5, 1), "rates": {"survey": 10}}
    sessions = [
        session("s-apr", date(2026, 4, 10), SURVEY, "1"),
        session("s-may", date(2026, 5, 8), SURVEY, "1"),
    ]
    # Paid for April's survey (not covered then): it neither pays May's nor counts as overpaid.
    flags = run(
        policy(surveys_from_may), sessions, [paid("P1", "10", date(2026, 5, 2), "s-apr")], date(2026, 5, 20)
    )
    assert [owed_by(f) for f in named(flags, "owed")] == [{"s-may": "10.00"}]
    assert not named(flags, "overpaid")


def test_a_minimum_hours_change_applies_from_its_date_only() -> None:
    longer_minimum = {"from": date(2026, 4, 1), "minimum_hours": 3}
    sessions = [session("m1", date(2026, 3, 25), hours="2"), session("a1", date(2026, 4, 2), hours="2")]
    flags = run(policy(longer_minimum, minimum_hours=1), sessions, [], date(2026, 4, 10))
    owed = named(flags, "owed")
    assert len(owed) == 1
    assert owed_by(owed[0]) == {"m1": "40.00", "a1": "60.00"}
    lines = {line["session_id"]: line for line in owed[0].evidence["sessions"]}
    assert (lines["m1"]["minimum_hours"], lines["m1"]["paid_hours"]) == ("1", "2")
    assert (lines["a1"]["minimum_hours"], lines["a1"]["paid_hours"]) == ("3", "3")
    april_only = named(
        run(policy(longer_minimum, minimum_hours=1), sessions[1:], [], date(2026, 4, 10)), "owed"
    )
    assert "(2 hours, paid as the minimum of 3 hours, at £20.00 an hour)" in april_only[0].message


def test_each_session_is_due_within_the_days_of_its_own_policy() -> None:
    quicker = {"from": date(2026, 4, 1), "pay_within_days": 14}
    march = session("m1", date(2026, 3, 25))  # 26 days on the run date: within March's 30
    april = session("a1", date(2026, 4, 2))  # 18 days: past April's 14
    flags = run(policy(quicker, pay_within_days=30), [march, april], [], date(2026, 4, 20))
    owed, overdue = named(flags, "owed"), named(flags, "overdue")
    assert [owed_by(f) for f in owed] == [{"m1": "120.00"}]
    assert [owed_by(f) for f in overdue] == [{"a1": "120.00"}]
    assert owed[0].evidence["pay_within_days"] == 30
    assert "please pay by 24 April 2026" in owed[0].message
    assert overdue[0].evidence["pay_within_days"] == 14
    assert "your policy promises payment within 14 days" in overdue[0].message


def test_a_payment_due_names_the_days_of_the_session_that_falls_due_first() -> None:
    """March's session has 30 days, April's 14: April's falls due first (19 April). The message said
    "within 30 days, so please pay by 19 April", a date 30 days from neither session."""
    pol = policy({"from": date(2026, 4, 1), "pay_within_days": 14}, pay_within_days=30)
    sessions = [session("m1", date(2026, 3, 25)), session("a1", date(2026, 4, 5))]
    (owed,) = named(run(pol, sessions, [], date(2026, 4, 10)), "owed")
    assert owed.message.endswith(
        "Your policy promises payment within 14 days for the decision meeting on 5 April 2026, "
        "so please pay by 19 April 2026."
    )
    same = policy(pay_within_days=30)  # every session with the same days: said as before
    (owed,) = named(run(same, sessions, [], date(2026, 4, 10)), "owed")
    assert owed.message.endswith(
        "Your policy promises payment within 30 days, so please pay by 24 April 2026."
    )


def test_overdue_becomes_critical_after_twice_the_days_of_the_sessions_own_policy() -> None:
    slower = {"from": date(2026, 4, 1), "pay_within_days": 60}
    # 70 days unpaid: more than twice March's 30, so critical, though April's policy allows 60.
    flags = run(policy(slower, pay_within_days=30), [session("m1", date(2026, 3, 1))], [], date(2026, 5, 10))
    assert [f.severity.value for f in named(flags, "overdue")] == ["critical"]


def test_a_change_not_yet_in_force_changes_no_fingerprint_and_no_facts_digest() -> None:
    sessions = [session("m1", date(2026, 3, 5)), session("m2", date(2026, 3, 19))]
    pays = [paid("P1", "100", date(2026, 3, 20), "m1")]
    on = date(2026, 5, 1)
    without = run(policy(), sessions, pays, on)
    later = {"from": date(2026, 9, 1), "rates": {"decision_meeting": 30}}
    with_later = run(policy(later), sessions, pays, on)
    assert without
    assert [(f.fingerprint, f.facts_digest, f.message) for f in with_later] == [
        (f.fingerprint, f.facts_digest, f.message) for f in without
    ]


def test_policy_at_finds_the_policy_in_force_on_a_date() -> None:
    pol = policy(
        APRIL_RISE, {"from": date(2026, 10, 1), "rates": {"decision_meeting": 30}, "prep_counts": False}
    )
    assert pol.at(date(2025, 12, 31)) is None
    assert pol.at(date(2026, 3, 31)).rates[MEETING] == 20  # type: ignore[union-attr]
    assert pol.at(date(2026, 4, 1)).rates[MEETING] == 27  # type: ignore[union-attr]
    october = pol.at(date(2026, 10, 1))
    assert october is not None
    assert (october.rates[MEETING], october.rates[STEERING], october.prep_counts) == (30, 27, False)
    assert october.source == V4  # a change without a source keeps the one before it
    plain = policy()
    assert plain.at(date(2026, 3, 1)) is plain  # without changes, no look-up at all


# ---------------------------------------------------------------------------------------------
# The recipe: written as [[policy.changes]], refused clearly when wrong


DEMO = ROOT / "recipes" / "demo"


def demo_with(tmp_path: Path, changes: str) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv", "*.py"))
    file = target / "recipe.toml"
    file.write_text(file.read_text(encoding="utf-8") + changes, encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        (
            "\n[[policy.changes]]\nfrom = 2026-04-01\n[[policy.changes]]\nfrom = 2026-03-01\n",
            "[policy]: changes[2].from (2026-03-01) must be after changes[1].from (2026-04-01)",
        ),
        (
            "\n[[policy.changes]]\nfrom = 2025-12-01\n",
            "[policy]: changes[1].from (2025-12-01) must be after effective (2026-01-01)",
        ),
        (
            '\n[[policy.changes]]\nfrom = 2026-04-01\n[[policy.changes]]\nfrom = "first of May"\n',
            "[policy.changes[2]] from: Input should be a valid date",
        ),
        (
            '\n[[policy.changes]]\nfrom = 2026-04-01\ncurrency = "EUR"\n',
            "[policy.changes[1]] currency: the currency cannot change within a policy",
        ),
        (
            '\n[[policy.changes]]\nfrom = 2026-04-01\nrates = { survey = "free" }\n',
            "[policy.changes[1]] rates: survey = 'free': a rate is a number per hour, or \"not covered\"",
        ),
        (
            "\n[policy.changes]\nfrom = 2026-04-01\n",
            "[policy] changes: write each change as [[policy.changes]] (two square brackets)",
        ),
        (
            "\n[[policy.changes]]\nfrom = 2026-04-01\npay_within_days = -1\n",
            "[policy.changes[1]] pay_within_days: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "\n[[policy.changes]]\nrates = { survey = 12 }\n",
            "[policy.changes[1]] from: required key is missing",
        ),
    ],
)
def test_validate_names_the_change_that_is_wrong(
    tmp_path: Path, changes: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = demo_with(tmp_path, changes)
    assert main(["validate", str(recipe)]) == 2
    out = capsys.readouterr()
    assert f"{recipe / 'recipe.toml'}: {said}" in out.out
    assert "Traceback" not in out.out + out.err


def test_a_recipe_with_changes_in_order_is_valid_and_checked_by_the_policy_of_each_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = demo_with(
        tmp_path,
        '\n[[policy.changes]]\nfrom = 2026-04-01\nsource = "v4"\nrates = { decision_meeting = 27 }\n'
        "minimum_hours = 2\n",
    )
    assert main(["validate", str(recipe)]) == 0
    capsys.readouterr()
    assert main(["check", str(recipe), "--json", "--date", "2026-07-01"]) in (0, 1)
    out = json.loads(capsys.readouterr().out)
    rates = {
        (line["session_date"] >= "2026-04-01", line["session_kind"], line["rate"])
        for flag in out["flags"]
        if flag["check_id"] in ("payments.owed", "payments.overdue")
        for line in flag["evidence"]["sessions"]
        if "rate" in line
    }
    meetings = {(after, rate) for after, kind, rate in rates if kind == "decision_meeting"}
    assert meetings and all(rate == ("27.00" if after else "25.00") for after, rate in meetings)


def payments_paragraph(ds: Dataset, on: date) -> tuple[Payments, str]:
    flags = payments.run(ds, SETTINGS, on)
    facts = gather(ds, flags, {}, SETTINGS, on, recipe_name="rates")
    page = build_page(facts, Disclosure(shared=False))
    section = next(s for s in page.sections if s.id == "payments")
    first = section.blocks[0]
    assert isinstance(first, Paragraph)
    return facts.payments, first.text


def test_the_report_shows_the_policy_in_force_now_and_says_it_replaced_an_earlier_one() -> None:
    later = {
        "from": date(2026, 12, 1),
        "rates": {"decision_meeting": 35},
        "source": "v5",
        "pay_within_days": 7,
    }
    pol = policy(APRIL_RISE, later, pay_within_days=30)
    ds = Dataset(
        people=(sam(),), sessions=(session("m1", date(2026, 3, 5)),), attendance=(att("m1"),), policy=pol
    )
    pay, text = payments_paragraph(ds, date(2026, 6, 1))
    assert (pay.policy_source, pay.policy_since, pay.earlier_policies, pay.pay_within_days) == (
        V4,
        date(2026, 4, 1),
        1,
        30,
    )
    assert V4 in text and V3 not in text
    assert "in force since 1 April 2026; it replaced an earlier policy" in text
    pay, text = payments_paragraph(ds.model_copy(update={"policy": policy()}), date(2026, 6, 1))
    assert (pay.policy_source, pay.policy_since, pay.earlier_policies) == (V3, None, 0)
    assert "replaced" not in text


def test_a_report_dated_before_the_policy_took_effect_shows_it_as_written_not_a_traceback() -> None:
    """A run date before ``effective`` (``coprod report --date`` of last year, or a policy written
    ahead of the month it starts) had no period in force: the report ended in an IndexError."""
    ds = Dataset(
        people=(sam(),),
        sessions=(session("m1", date(2026, 3, 5)),),
        attendance=(att("m1"),),
        policy=policy(APRIL_RISE),
    )
    pay, text = payments_paragraph(ds, date(2025, 12, 1))
    assert (pay.policy_source, pay.policy_since, pay.earlier_policies) == (V3, None, 0)
    assert "replaced" not in text


FASTER = {"from": date(2026, 4, 1), "source": V4, "pay_within_days": 14}
"""April's policy pays within 14 days, where March's paid within 30."""


def reports(ds: Dataset, on: date) -> dict[str, str]:
    """Each report as coprod report writes it: staff, shared, Markdown and Easy Read."""
    facts = gather(ds, payments.run(ds, SETTINGS, on), {}, SETTINGS, on, recipe_name="rates")
    kinds = {
        "staff": ReportKind(),
        "shared": ReportKind(share=True),
        "markdown": ReportKind(format="md"),
        "easy": ReportKind(easy_read=True),
    }
    return {name: render(facts, kind) for name, kind in kinds.items()}


def test_reports_say_the_days_to_pay_for_sessions_before_the_days_changed_too() -> None:
    """Each session is due within the days of its own policy: a March session within 30 after
    April's policy says 14. The reports said only the days in force on the run date ("within 14
    days"), untrue for every March session they covered; now they say both, with the date."""
    ds = Dataset(
        people=(sam(),),
        sessions=(session("m1", date(2026, 3, 5)), session("m2", date(2026, 4, 9))),
        attendance=(att("m1"), att("m2")),
        policy=policy(FASTER, pay_within_days=30),
    )
    out = reports(ds, date(2026, 6, 1))
    both = (
        "within 14 days for sessions from 1 April 2026 and within 30 days for sessions before 1 April 2026."
    )
    for name in ("staff", "shared", "markdown"):
        assert f"The policy promises payment {both}" in out[name], name
    easy = out["easy"]
    assert "The rules say people are paid within 14 days." not in easy
    lines = [
        "The rules about how soon people are paid have changed.",
        "People who took part from 1 April 2026 are paid within 14 days.",
        "People who took part before 1 April 2026 are paid within 30 days.",
    ]
    assert all(line in easy for line in lines)
    assert [easy.index(line) for line in lines] == sorted(easy.index(line) for line in lines)


def test_reports_name_each_stretch_of_days_but_not_days_before_the_first_session_or_a_rates_change() -> None:
    """Three stretches read latest first, the middle one from its first to its last day; a change of
    rates alone (December's, days unchanged) starts no stretch, and the days of a policy that ended
    before the first session are not said: nobody took part under it."""
    slower = {"from": date(2025, 6, 1), "pay_within_days": 45}
    middle = {"from": date(2025, 10, 1), "pay_within_days": 21}
    rise = {"from": date(2025, 12, 1), "rates": {"decision_meeting": 25}}
    pol = policy(slower, middle, rise, FASTER, pay_within_days=30, effective=date(2025, 1, 1))
    sessions = (
        session("m1", date(2025, 7, 5)),
        session("m2", date(2025, 11, 5)),
        session("m3", date(2026, 4, 9)),
    )
    ds = Dataset(
        people=(sam(),), sessions=sessions, attendance=tuple(att(s.id) for s in sessions), policy=pol
    )
    out = reports(ds, date(2026, 6, 1))
    assert (
        "The policy promises payment within 14 days for sessions from 1 April 2026, within 21 days for "
        "sessions from 1 October 2025 to 31 March 2026 and within 45 days for sessions before 1 October "
        "2025."
    ) in out["staff"]
    assert "30 days" not in out["staff"] and "30 days" not in out["easy"]
    assert "People who took part from 1 October 2025 to 31 March 2026 are paid within 21 days." in out["easy"]
    assert "People who took part before 1 October 2025 are paid within 45 days." in out["easy"]
    # The days never changed over the sessions held: one sentence, as for a policy never changed.
    late = ds.model_copy(update={"sessions": sessions[2:], "attendance": (att("m3"),)})
    out = reports(late, date(2026, 6, 1))
    assert "The policy promises payment within 14 days. " in out["staff"]
    assert "The rules say people are paid within 14 days." in out["easy"]
    assert "have changed" not in out["easy"]


def uncommented_example(text: str) -> str:
    """The ``# [[policy.changes]]`` example a shipped recipe gives, with its ``#`` taken off."""
    lines = text.splitlines()
    start = lines.index("# [[policy.changes]]")
    example = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        example.append(line[2:])
    return "\n".join(example) + "\n"


@pytest.mark.parametrize("folder", ["demo", "civicrm", "google-sheets", "kobotoolbox"])
def test_each_shipped_recipes_example_change_is_valid_as_written_once_uncommented(folder: str) -> None:
    text = (ROOT / "recipes" / folder / "recipe.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text + "\n" + uncommented_example(text))
    pol = PaymentPolicy.model_validate(data["policy"])
    before, after = pol.at(date(2026, 3, 31)), pol.at(date(2026, 4, 1))
    assert before is not None and after is not None
    assert after.rates[MEETING] == 27 and after.minimum_hours == 2 and SURVEY not in after.rates
    assert before.rates == PaymentPolicy.model_validate({**data["policy"], "changes": []}).rates


def test_the_readme_example_is_valid_in_the_demo_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### The payment policy, and when its rates change") :]
    example = section[
        section.index("```toml\n") + len("```toml\n") : section.index("```\n", section.index("```toml"))
    ]
    assert "[[policy.changes]]" in example
    recipe = demo_with(tmp_path, "\n" + example)
    assert main(["validate", str(recipe)]) == 0
    assert "problem" not in capsys.readouterr().out


def test_hours_over_a_session_name_the_minimum_in_force_on_the_sessions_date() -> None:
    longer_minimum = {"from": date(2026, 4, 1), "minimum_hours": 3}
    sessions = [session("m1", date(2026, 3, 25), hours="2"), session("a1", date(2026, 4, 2), hours="2")]
    rows = [att("m1")._replace(hours=Decimal("2.5")), att("a1")._replace(hours=Decimal("2.5"))]
    ds = Dataset(
        people=(sam(),), sessions=tuple(sessions), attendance=tuple(rows), policy=policy(longer_minimum)
    )
    flags = {
        f.subject.id: f for f in payments.run(ds, SETTINGS, date(2026, 4, 10)) if "hours_over" in f.check_id
    }
    assert "Their fee is worked out from the 2.5 hours recorded." in flags["m1"].message
    assert "Their fee does not change: it is paid as the minimum of 3 hours." in flags["a1"].message
    assert (flags["m1"].evidence["minimum_hours"], flags["a1"].evidence["minimum_hours"]) == ("0", "3")


def test_a_copy_of_a_policy_looked_up_given_other_rates_is_judged_by_its_own_rates() -> None:
    """The periods are kept in the policy's ``__dict__``, which pydantic's model_copy copies whole: a
    copy given other rates (its changes the same) was judged by the original's periods."""
    looked_up = policy(APRIL_RISE)
    assert looked_up.at(date(2026, 3, 5)).rates[MEETING] == 20  # type: ignore[union-attr]
    raised = looked_up.model_copy(update={"rates": {MEETING: Decimal(22), STEERING: Decimal(22)}})
    march = raised.at(date(2026, 3, 5))
    assert march is not None and march.rates[MEETING] == 22
    assert [p.policy.rates[MEETING] for p in raised.periods()] == [22, 27]
    assert raised.model_copy(deep=True).at(date(2026, 3, 5)).rates[MEETING] == 22  # type: ignore[union-attr]


@pytest.mark.parametrize("changes", [(), (APRIL_RISE,)])
def test_a_policy_looked_up_by_date_still_equals_and_dumps_as_the_same_policy_freshly_loaded(
    changes: tuple[dict[str, Any], ...],
) -> None:
    """The webhook worker compares the recipe it holds with the file's: the periods worked out for
    the look-ups are not part of the policy."""
    looked_up, fresh = policy(*changes), policy(*changes)
    assert looked_up.at(date(2026, 4, 9)) is not None
    looked_up.periods()
    assert looked_up == fresh
    assert looked_up.model_dump_json() == fresh.model_dump_json()
    assert repr(looked_up) == repr(fresh)
