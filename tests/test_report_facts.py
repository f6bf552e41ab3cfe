"""The facts a report shows come from the checks: the same numbers as the flags' evidence, judged once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from coprod.config import load_recipe
from coprod.report.facts import DECLINED, OVERDUE, OWED, WITHOUT_VOICE, gather
from coprod.sync import run
from coprod_core.checks import representation
from coprod_core.flags import Flag
from coprod_core.model import (
    Attendance,
    BaselineDimension,
    Dataset,
    Person,
    Project,
    Role,
    Session,
    SessionKind,
)
from coprod_core.settings import CheckSettings

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATE = date(2026, 11, 20)


@pytest.fixture(scope="module")
def demo_run():
    loaded = load_recipe(ROOT / "recipes" / "demo")
    result = run(loaded, mode="check", run_date=DEMO_DATE)
    assert result.dataset is not None
    return loaded, result


def _under_dataset() -> Dataset:
    """30 people with lived experience, none of Asian heritage against 30% of service users."""
    people = [
        Person(id=f"p{i}", roles=frozenset({Role.LIVED_EXPERIENCE}), demographics={"ethnicity": eth})
        for i, eth in enumerate(["white"] * 24 + ["black"] * 4 + ["prefer not to say"] * 2)
    ]
    session = Session(
        id="s1", project_id="P", date=date(2026, 3, 1), hours=Decimal(2), kind=SessionKind.DECISION_MEETING
    )
    return Dataset(
        people=tuple(people),
        projects=(Project(id="P", name="Project"),),
        sessions=(session,),
        attendance=tuple(Attendance(person_id=p.id, session_id="s1") for p in people),
        baseline={
            "ethnicity": BaselineDimension(
                source="service records", as_of="2026", shares={"white": 0.5, "asian": 0.3, "black": 0.2}
            )
        },
    )


def test_profiles_carry_the_numbers_of_the_under_represented_flags_and_mark_the_same_groups() -> None:
    ds = _under_dataset()
    settings = CheckSettings()
    flags = [
        f
        for f in representation.run(ds, settings, date(2026, 6, 1))
        if f.check_id.endswith("under_represented")
    ]
    (profile,) = representation.profiles(ds, settings, date(2026, 6, 1))
    (dim,) = profile.dimensions
    marked = {c.category: c for c in dim.categories if c.under_represented}
    assert set(marked) == {f.evidence["category"] for f in flags} == {"asian"}
    ev = flags[0].evidence
    share = marked["asian"]
    assert (share.x, share.n) == (ev["x"], ev["n"]) == (0, 28)
    assert round(share.observed, 6) == ev["observed_share"]
    assert (round(share.lower, 6), round(share.upper, 6)) == (ev["wilson_lower"], ev["wilson_upper"])
    assert round(share.baseline_share, 6) == ev["baseline_share"]
    assert dim.answers.not_stated == 2 and dim.outside_baseline == 0 and len(profile.participants) == 30


def test_profiles_are_empty_when_no_voice_role_is_configured() -> None:
    assert (
        representation.profiles(_under_dataset(), CheckSettings(voice_roles=frozenset()), date(2026, 6, 1))
        == []
    )


def _of(flags: list[Flag], check_id: str) -> list[Flag]:
    return [f for f in flags if f.check_id == check_id]


def test_demo_facts_agree_with_the_flags(demo_run) -> None:
    loaded, result = demo_run
    facts = gather(
        result.dataset, result.flags, result.counts, loaded.recipe.settings, DEMO_DATE, recipe_name="demo"
    )
    assert {d.session_id for d in facts.decisions if d.without_voice} == {
        f.subject.id for f in _of(result.flags, WITHOUT_VOICE)
    }
    assert all(d.voice_attendees == 0 for d in facts.decisions if d.without_voice)
    assert all(d.voice_attendees > 0 for d in facts.decisions if not d.without_voice)
    pay = facts.payments
    assert pay.overdue.amount == sum(Decimal(f.evidence["total_owed"]) for f in _of(result.flags, OVERDUE))
    assert pay.owed.amount == sum(Decimal(f.evidence["total_owed"]) for f in _of(result.flags, OWED))
    assert pay.declined.amount == sum(Decimal(f.evidence["total_paid"]) for f in _of(result.flags, DECLINED))
    assert pay.oldest_unpaid is not None
    assert pay.oldest_unpaid.days_unpaid == max(
        int(f.evidence["days_unpaid"]) for f in _of(result.flags, OVERDUE)
    )
    placed = {p.project.id: p.assessment.rung.value for p in facts.projects}
    mislabelled = {f.subject.id: f.evidence["rung"] for f in _of(result.flags, "consultation.mislabelled")}
    assert placed == {"DSR": "consultation", "PSL": "co_production"} and mislabelled == {
        "DSR": "consultation"
    }
    assert facts.rows["attendance"].rejected == 1
    assert sum(r.rows for r in facts.reasons) == len(
        [f for f in result.flags if f.check_id.startswith("data_quality.")]
    )


def test_a_run_keeps_the_profiles_its_representation_check_judged_from() -> None:
    from coprod_core.checks import check_all

    ds = _under_dataset()
    found = check_all(ds, CheckSettings(), date(2026, 6, 1))
    assert found.profiles == representation.profiles(ds, CheckSettings(), date(2026, 6, 1))
    (profile,) = found.profiles
    assert {c.category for d in profile.dimensions for c in d.categories if c.under_represented} == {
        f.evidence["category"] for f in found.flags if f.check_id == "representation.under_represented"
    }
