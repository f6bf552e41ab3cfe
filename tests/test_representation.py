"""The representation check: who has a voice, compared with who uses the service."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coprod_core.checks import representation
from coprod_core.flags import Flag, Severity, SubjectKind
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
from coprod_core.settings import CheckSettings, RepresentationSettings
from coprod_core.stats import wilson_interval

RUN = date(2026, 6, 1)
LE = Role.LIVED_EXPERIENCE
CARER = Role.CARER
STAFF = Role.FRONTLINE_STAFF

ETHNICITY = BaselineDimension(
    source="service records",
    as_of="2025/26",
    shares={"asian": 0.19, "white": 0.71, "black": 0.10},
    labels={"asian": "people of Asian heritage", "black": "Black people"},
)


# ---------------------------------------------------------------- builders


def person(pid: str, *roles: Role, name: str | None = None, **demographics: str) -> Person:
    return Person(id=pid, name=name, roles=frozenset(roles), demographics=demographics)


def meeting(
    sid: str,
    on: date = date(2026, 3, 3),
    project: str = "p1",
    decision: bool = False,
    what: str | None = None,
    title: str | None = None,
) -> Session:
    return Session(
        id=sid,
        project_id=project,
        date=on,
        hours=Decimal(2),
        kind=SessionKind.DECISION_MEETING,
        title=title,
        decision_taken=decision,
        decision=what,
    )


def build(
    people: list[Person],
    sessions: list[Session] | None = None,
    attended: list[tuple[str, str]] | None = None,
    baseline: dict[str, BaselineDimension] | None = None,
    group: tuple[str, ...] = (),
    project_name: str = "Day service redesign",
) -> Dataset:
    """A dataset with one project; by default everyone attends one meeting on 3 March 2026."""
    sessions = sessions if sessions is not None else [meeting("s1")]
    if attended is None:
        attended = [(p.id, sessions[0].id) for p in people]
    return Dataset(
        people=tuple(people),
        projects=(Project(id="p1", name=project_name, decision_group=group),),
        sessions=tuple(sessions),
        attendance=tuple(Attendance(person_id=p, session_id=s) for p, s in attended),
        baseline={"ethnicity": ETHNICITY} if baseline is None else baseline,
    )


def crowd(prefix: str, k: int, *roles: Role, **demographics: str) -> list[Person]:
    return [person(f"{prefix}{i}", *roles, **demographics) for i in range(k)]


def run(ds: Dataset, settings: CheckSettings | None = None, run_date: date = RUN) -> list[Flag]:
    return representation.run(ds, settings or CheckSettings(), run_date)


def of_rule(flags: list[Flag], rule: str) -> list[Flag]:
    return [f for f in flags if f.check_id == f"representation.{rule}"]


def under(flags: list[Flag]) -> dict[str, Flag]:
    return {f.evidence["category"]: f for f in of_rule(flags, "under_represented")}


# ---------------------------------------------------------------- nothing to judge


def test_empty_dataset_raises_no_flags() -> None:
    assert run(Dataset()) == []


def test_no_attendance_at_all_raises_no_representation_flags() -> None:
    ds = build(crowd("w", 30, LE, ethnicity="white"), attended=[])
    assert run(ds) == []


def test_no_baseline_judges_voice_but_not_representation() -> None:
    ds = build(crowd("w", 30, LE, ethnicity="white"), baseline={})
    assert run(ds) == []


def test_project_without_sessions_or_people_does_not_crash() -> None:
    ds = Dataset(projects=(Project(id="p1", name="Empty"),), baseline={"ethnicity": ETHNICITY})
    assert run(ds) == []


def test_no_voice_roles_configured_means_nothing_to_judge() -> None:
    ds = build(crowd("w", 30, STAFF, ethnicity="white"), sessions=[meeting("s1", decision=True)])
    assert run(ds, CheckSettings(voice_roles=frozenset())) == []


# ---------------------------------------------------------------- under-represented


def test_category_with_nobody_is_flagged_when_the_group_is_big_enough() -> None:
    people = crowd("w", 20, LE, ethnicity="white") + crowd("b", 4, CARER, ethnicity="black")
    flags = run(build(people))
    asian = under(flags)["asian"]
    assert asian.severity is Severity.WARNING
    assert asian.subject.kind is SubjectKind.PROJECT and asian.subject.id == "p1"
    assert asian.project_id == "p1"
    assert asian.evidence["x"] == 0 and asian.evidence["n"] == 24
    assert asian.evidence["observed_share"] == 0
    assert asian.evidence["wilson_lower"] == 0
    assert asian.evidence["wilson_upper"] == pytest.approx(wilson_interval(0, 24)[1], abs=1e-6)
    assert asian.evidence["wilson_upper"] < 0.19
    assert asian.evidence["baseline_source"] == "service records"
    assert asian.evidence["baseline_as_of"] == "2025/26"
    assert asian.evidence["confidence"] == 0.95
    assert asian.message.startswith(
        "People of Asian heritage are missing from 'Day service redesign': none of the 24 people with "
        "lived experience or carers who took part, against 19% of people who use the service "
        "(service records, 2025/26)."
    )
    assert "Who could reach them" in asian.message
    assert set(under(flags)) == {"asian"}


def test_category_with_nobody_is_not_flagged_when_the_group_is_too_small_to_tell() -> None:
    # With three people, an upper bound of 56% cannot rule out the 19% baseline.
    people = crowd("w", 3, LE, ethnicity="white")
    assert under(run(build(people))) == {}


@pytest.mark.parametrize(
    ("source", "as_of", "cited"),
    [
        ("service records 2025/26", "2026-03-31", "(service records 2025/26, as of 31 March 2026)"),
        ("Census", "2021", "(Census, 2021)"),
        ("Census 2021", "2021", "(Census 2021)"),
    ],
)
def test_baseline_is_cited_with_its_source_and_date(source: str, as_of: str, cited: str) -> None:
    baseline = ETHNICITY.model_copy(update={"source": source, "as_of": as_of})
    asian = under(run(build(crowd("w", 30, LE, ethnicity="white"), baseline={"ethnicity": baseline})))[
        "asian"
    ]
    assert f"against 19% of people who use the service {cited}." in asian.message
    assert (asian.evidence["baseline_source"], asian.evidence["baseline_as_of"]) == (source, as_of)


def test_few_but_not_none_is_flagged_as_under_represented_with_its_share() -> None:
    people = [person("a0", LE, ethnicity="asian")] + crowd("w", 35, LE, ethnicity="white")
    people += crowd("b", 4, LE, ethnicity="black")
    asian = under(run(build(people)))["asian"]
    assert (asian.evidence["x"], asian.evidence["n"]) == (1, 40)
    assert asian.evidence["ratio"] == pytest.approx((1 / 40) / 0.19, abs=1e-6)
    assert (
        "under-represented in 'Day service redesign': 1 of 40 people with lived experience" in asian.message
    )
    assert "(2%)" in asian.message


def test_four_fifths_breached_but_interval_reaching_the_baseline_is_not_flagged() -> None:
    # 1 of 24 (4%) is far below 19%, but the Wilson upper bound (20%) still reaches 19%.
    people = [person("a0", LE, ethnicity="asian")] + crowd("w", 20, LE, ethnicity="white")
    people += crowd("b", 3, LE, ethnicity="black")
    assert 1 / 24 < 0.8 * 0.19 and wilson_interval(1, 24)[1] >= 0.19
    assert "asian" not in under(run(build(people)))


def test_interval_below_baseline_but_four_fifths_met_is_not_flagged() -> None:
    # 450 of 1000 (45%) against 50%: statistically below, but above four-fifths of it (40%).
    baseline = {"sex": BaselineDimension(source="Census", as_of="2021", shares={"female": 0.5, "male": 0.5})}
    people = crowd("f", 450, LE, sex="female") + crowd("m", 550, LE, sex="male")
    assert wilson_interval(450, 1000)[1] < 0.5
    assert under(run(build(people, baseline=baseline))) == {}


def test_four_fifths_setting_is_respected() -> None:
    baseline = {"sex": BaselineDimension(source="Census", as_of="2021", shares={"female": 0.5, "male": 0.5})}
    people = crowd("f", 450, LE, sex="female") + crowd("m", 550, LE, sex="male")
    strict = CheckSettings(representation=RepresentationSettings(four_fifths=0.95))
    assert set(under(run(build(people, baseline=baseline), strict))) == {"female"}


def test_categories_the_baseline_lacks_are_counted_but_not_judged() -> None:
    people = crowd("w", 20, LE, ethnicity="white") + crowd("m", 4, LE, ethnicity="mixed")
    flags = under(run(build(people)))
    assert "mixed" not in flags
    assert flags["asian"].evidence["n"] == 24


def test_baseline_given_as_counts_is_compared_as_shares() -> None:
    counts = BaselineDimension(source="service records", as_of="2025/26", shares={"asian": 190, "white": 810})
    people = crowd("w", 30, LE, ethnicity="white")
    asian = under(run(build(people, baseline={"ethnicity": counts})))["asian"]
    assert asian.evidence["baseline_share"] == pytest.approx(0.19)
    assert "against 19% of people who use the service" in asian.message


def test_baseline_given_as_counts_field_is_normalised_by_the_model() -> None:
    counts = BaselineDimension(source="service records", as_of="2025/26", counts={"Asian": 38, "White": 162})
    people = crowd("w", 30, LE, ethnicity="white")
    asian = under(run(build(people, baseline={"ethnicity": counts})))["asian"]
    assert asian.evidence["baseline_share"] == pytest.approx(0.19)
    assert asian.evidence["n"] == 30 and asian.evidence["x"] == 0


def test_unknowns_in_the_baseline_are_left_out_of_the_comparison() -> None:
    with_unknown = BaselineDimension(
        source="service records", as_of="2025/26", shares={"asian": 0.18, "white": 0.72, "unknown": 0.10}
    )
    people = crowd("w", 30, LE, ethnicity="white")
    flags = under(run(build(people, baseline={"ethnicity": with_unknown})))
    assert flags["asian"].evidence["baseline_share"] == pytest.approx(0.2)
    assert flags["asian"].evidence["baseline_share_as_given"] == pytest.approx(0.18)
    assert "unknown" not in flags


def test_answers_are_matched_whatever_their_capitals_and_spaces() -> None:
    people = [person("a", LE, ethnicity="Asian ")] + crowd("w", 39, LE, ethnicity="White")
    people += crowd("x", 3, LE, ethnicity="Prefer not to say") + crowd("u", 2, LE, ethnicity="Unknown")
    flags = run(build(people))
    asian = under(flags)["asian"]
    assert (asian.evidence["x"], asian.evidence["n"]) == (1, 40)
    assert of_rule(flags, "data_gap") == []


def test_staff_are_not_counted_as_voice_participants() -> None:
    people = crowd("w", 24, LE, ethnicity="white") + crowd("s", 10, STAFF, ethnicity="asian")
    asian = under(run(build(people)))["asian"]
    assert (asian.evidence["x"], asian.evidence["n"]) == (0, 24)


def test_voice_roles_come_from_settings() -> None:
    people = crowd("c", 24, CARER, ethnicity="white") + crowd("l", 10, LE, ethnicity="asian")
    carers_only = CheckSettings(voice_roles=frozenset({CARER}))
    asian = under(run(build(people), carers_only))["asian"]
    assert asian.evidence["n"] == 24
    assert "none of the 24 carers who took part" in asian.message


def test_person_with_two_voice_roles_at_two_sessions_is_counted_once() -> None:
    people = crowd("w", 23, LE, ethnicity="white") + [person("both", LE, CARER, ethnicity="white")]
    sessions = [meeting("s1"), meeting("s2", on=date(2026, 4, 1))]
    attended = [(p.id, "s1") for p in people] + [("both", "s2"), ("both", "s2")]
    asian = under(run(build(people, sessions, attended)))["asian"]
    assert asian.evidence["n"] == 24


def test_attendance_of_unknown_people_is_ignored() -> None:
    people = crowd("w", 24, LE, ethnicity="white")
    attended = [(p.id, "s1") for p in people] + [("ghost", "s1")]
    assert under(run(build(people, attended=attended)))["asian"].evidence["n"] == 24


def test_only_attendance_in_the_period_counts() -> None:
    whites = crowd("w", 24, LE, ethnicity="white")
    asians = crowd("a", 10, LE, ethnicity="asian")
    sessions = [
        meeting("early", on=date(2025, 1, 10)),
        meeting("in", on=date(2025, 6, 1)),
        meeting("late", on=date(2026, 5, 1)),
    ]
    attended = [(p.id, "in") for p in whites] + [(p.id, "early") for p in asians]
    attended += [(p.id, "late") for p in asians]
    ds = build(whites + asians, sessions, attended)
    assert "asian" not in under(run(ds))  # everything up to the run date counts by default

    period = CheckSettings(
        representation=RepresentationSettings(period_start=date(2025, 4, 1), period_end=date(2026, 3, 31))
    )
    asian = under(run(ds, period))["asian"]
    assert (asian.evidence["x"], asian.evidence["n"]) == (0, 24)
    assert asian.evidence["period_start"] == "2025-04-01"
    assert asian.evidence["period_end"] == "2026-03-31"
    assert "who took part between 1 April 2025 and 31 March 2026" in asian.message


def test_sessions_after_the_run_date_do_not_count_yet() -> None:
    whites = crowd("w", 24, LE, ethnicity="white")
    asians = crowd("a", 10, LE, ethnicity="asian")
    sessions = [meeting("past", on=date(2026, 3, 1)), meeting("future", on=date(2026, 7, 1))]
    attended = [(p.id, "past") for p in whites] + [(p.id, "future") for p in asians]
    ds = build(whites + asians, sessions, attended)
    assert under(run(ds, run_date=date(2026, 6, 1)))["asian"].evidence["n"] == 24
    assert "asian" not in under(run(ds, run_date=date(2026, 7, 1)))


def test_period_end_after_the_run_date_still_stops_at_the_run_date() -> None:
    whites = crowd("w", 24, LE, ethnicity="white")
    asians = crowd("a", 10, LE, ethnicity="asian")
    sessions = [meeting("past", on=date(2026, 3, 1)), meeting("future", on=date(2026, 7, 1))]
    attended = [(p.id, "past") for p in whites] + [(p.id, "future") for p in asians]
    late_end = CheckSettings(representation=RepresentationSettings(period_end=date(2026, 12, 31)))
    asian = under(run(build(whites + asians, sessions, attended), late_end))["asian"]
    assert asian.evidence["period_end"] == RUN.isoformat()


def test_each_project_is_judged_on_its_own_participants() -> None:
    whites = crowd("w", 24, LE, ethnicity="white")
    asians = crowd("a", 24, LE, ethnicity="asian")
    ds = Dataset(
        people=tuple(whites + asians),
        projects=(Project(id="p1", name="One"), Project(id="p2", name="Two")),
        sessions=(meeting("s1", project="p1"), meeting("s2", project="p2")),
        attendance=tuple(Attendance(person_id=p.id, session_id="s1") for p in whites)
        + tuple(Attendance(person_id=p.id, session_id="s2") for p in asians),
        baseline={"ethnicity": ETHNICITY},
    )
    by_project = {(f.project_id, f.evidence["category"]) for f in of_rule(run(ds), "under_represented")}
    assert ("p1", "asian") in by_project
    assert ("p2", "white") in by_project and ("p2", "asian") not in by_project


# ---------------------------------------------------------------- data gap


def test_all_answers_unknown_is_a_data_gap_and_nothing_else() -> None:
    people = crowd("u", 10, LE, ethnicity="unknown") + crowd("p", 10, CARER, ethnicity="prefer_not_to_say")
    people += crowd("m", 10, LE)
    flags = run(build(people))
    assert under(flags) == {}
    (gap,) = of_rule(flags, "data_gap")
    assert gap.severity is Severity.WARNING
    assert gap.subject.id == "p1" and gap.project_id == "p1"
    assert gap.evidence["participants"] == 30
    assert gap.evidence["not_stated"] == 30
    assert (gap.evidence["missing"], gap.evidence["unknown"], gap.evidence["prefer_not_to_say"]) == (
        10,
        10,
        10,
    )
    assert (
        "We can't tell whether 'Day service redesign' reflects the people who use the service" in gap.message
    )
    assert "by ethnicity" in gap.message
    assert "30 (100%)" in gap.message
    assert "prefer not to say" in gap.message and "Ask the question again" in gap.message
    assert "prefer_not_to_say" not in gap.message


def test_data_gap_at_the_threshold_is_not_flagged_and_above_it_is() -> None:
    at = crowd("w", 7, LE, ethnicity="white") + crowd("u", 3, LE, ethnicity="unknown")
    assert of_rule(run(build(at)), "data_gap") == []
    above = crowd("w", 6, LE, ethnicity="white") + crowd("u", 4, LE, ethnicity="unknown")
    (gap,) = of_rule(run(build(above)), "data_gap")
    assert gap.evidence["not_stated_share"] == pytest.approx(0.4)


def test_data_gap_share_setting_is_respected() -> None:
    people = crowd("w", 6, LE, ethnicity="white") + crowd("u", 4, LE, ethnicity="unknown")
    lenient = CheckSettings(representation=RepresentationSettings(data_gap_share=0.5))
    assert of_rule(run(build(people), lenient), "data_gap") == []


def test_data_gap_is_judged_per_dimension() -> None:
    age = BaselineDimension(
        source="Census", as_of="2021", shares={"18_34": 0.3, "35_64": 0.5, "65_plus": 0.2}
    )
    people = crowd("w", 10, LE, ethnicity="white")
    gaps = of_rule(run(build(people, baseline={"ethnicity": ETHNICITY, "age_band": age})), "data_gap")
    assert [g.evidence["dimension"] for g in gaps] == ["age_band"]
    assert "by age band" in gaps[0].message


# ---------------------------------------------------------------- decisions without voice


def test_decision_with_only_staff_present_is_critical() -> None:
    staff = crowd("s", 3, STAFF)
    ds = build(staff, [meeting("s1", decision=True, what="the budget")], baseline={})
    (flag,) = run(ds)
    assert flag.check_id == "representation.decision_without_voice"
    assert flag.severity is Severity.CRITICAL
    assert flag.subject.kind is SubjectKind.SESSION and flag.subject.id == "s1"
    assert flag.project_id == "p1"
    assert flag.message.startswith(
        "A decision was taken at the decision meeting on 3 March 2026 ('the budget') with nobody in the "
        "room who has lived experience or is a carer."
    )
    assert "revisit it with them" in flag.message and "next decision meeting" in flag.message
    assert flag.evidence["attendees"] == 3 and flag.evidence["voice_attendees"] == 0
    assert flag.evidence["session_date"] == "2026-03-03"
    assert flag.title == "Decision taken without lived experience or carers"


def test_decision_with_a_carer_present_is_not_flagged() -> None:
    people = crowd("s", 3, STAFF) + [person("c", CARER)]
    ds = build(people, [meeting("s1", decision=True, what="the budget")], baseline={})
    assert run(ds) == []


def test_decision_in_the_future_is_ignored() -> None:
    ds = build(crowd("s", 3, STAFF), [meeting("s1", on=date(2026, 9, 1), decision=True)], baseline={})
    assert run(ds) == []


def test_decision_without_words_names_the_session() -> None:
    ds = build(crowd("s", 2, STAFF), [meeting("s1", decision=True, title="Steering group")], baseline={})
    (flag,) = run(ds)
    assert flag.message.startswith("A decision was taken at the Steering group on 3 March 2026 with nobody")


def test_decision_with_no_register_says_to_record_attendance() -> None:
    ds = build([], [meeting("s1", decision=True, what="the new opening hours")], baseline={})
    (flag,) = run(ds)
    assert flag.message.startswith(
        "A decision was taken at the decision meeting on 3 March 2026 ('the new opening hours') with nobody"
    )
    assert "No attendance is recorded for it" in flag.message
    assert flag.evidence["attendees"] == 0


def test_sessions_without_a_decision_are_not_judged_for_voice() -> None:
    ds = build(crowd("s", 3, STAFF), [meeting("s1", decision=False)], baseline={})
    assert run(ds) == []


# ---------------------------------------------------------------- decision group


def test_decision_group_below_the_minimum_is_flagged() -> None:
    people = [person("l1", LE)] + crowd("s", 6, STAFF)
    ds = build(people, group=("l1", "s0", "s1", "s2", "s3", "s4", "s5"), baseline={})
    (flag,) = of_rule(run(ds), "decision_group")
    assert flag.severity is Severity.WARNING
    assert flag.subject.kind is SubjectKind.PROJECT and flag.project_id == "p1"
    assert flag.evidence == {
        "group_size": 7,
        "voice_members": 1,
        "minimum": 2,
        "voice_roles": ["carer", "lived_experience"],
    }
    assert flag.message == (
        "Of the 7 members of the decision-making group of 'Day service redesign', only 1 has lived "
        "experience or is a carer; your settings ask for at least 2. Invite more people with lived "
        "experience or carers to join it, with support, training and payment for their time, or to co-chair it."
    )


def test_decision_group_with_nobody_in_a_voice_role_says_none() -> None:
    ds = build(crowd("s", 3, STAFF), group=("s0", "s1", "s2"), baseline={})
    (flag,) = of_rule(run(ds), "decision_group")
    assert "none of them have lived experience or are carers" in flag.message


def test_decision_group_meeting_the_minimum_is_not_flagged() -> None:
    people = [person("l1", LE), person("c1", CARER)] + crowd("s", 4, STAFF)
    ds = build(people, group=("l1", "c1", "s0", "s1"), baseline={})
    assert of_rule(run(ds), "decision_group") == []


def test_empty_decision_group_is_not_recorded_so_not_flagged() -> None:
    assert of_rule(run(build(crowd("s", 3, STAFF), baseline={})), "decision_group") == []


def test_decision_group_minimum_comes_from_settings() -> None:
    people = [person("l1", LE)] + crowd("s", 4, STAFF)
    ds = build(people, group=("l1", "s0"), baseline={})
    one = CheckSettings(representation=RepresentationSettings(min_voice_in_decision_group=1))
    assert of_rule(run(ds, one), "decision_group") == []


# ---------------------------------------------------------------- words


def test_messages_and_titles_carry_no_code_words_and_titles_no_names() -> None:
    people = crowd("u", 5, LE, name="Sam", ethnicity="prefer_not_to_say") + [
        person(f"w{i}", LE, name="Alex", ethnicity="white") for i in range(30)
    ]
    ds = build(
        people + [person("s", STAFF, name="Jo")],
        [meeting("s1"), meeting("s2", decision=True)],
        attended=[(p.id, "s1") for p in people] + [("s", "s2")],
        group=("s",),
    )
    flags = run(ds)
    assert {f.check_id for f in flags} == {
        "representation.under_represented",
        "representation.decision_without_voice",
        "representation.decision_group",
    }
    for flag in flags:
        for code in ("lived_experience", "decision_taken", "prefer_not_to_say", "voice_role", "_"):
            assert code not in flag.message
            assert code not in flag.title
        for name in ("Sam", "Alex", "Jo"):
            assert name not in flag.title


# ---------------------------------------------------------------- stability


CATEGORIES = ["asian", "white", "black", "mixed", "unknown", "prefer_not_to_say", None]


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n_people = draw(st.integers(0, 40))
    people = []
    for i in range(n_people):
        roles = draw(st.frozensets(st.sampled_from([LE, CARER, STAFF]), max_size=2))
        value = draw(st.sampled_from(CATEGORIES))
        people.append(
            Person(id=f"p{i}", roles=roles, demographics={"ethnicity": value} if value is not None else {})
        )
    sessions = []
    for j in range(draw(st.integers(0, 6))):
        sessions.append(
            meeting(
                f"s{j}",
                on=RUN + timedelta(days=draw(st.integers(-400, 30))),
                project=draw(st.sampled_from(["a", "b"])),
                decision=draw(st.booleans()),
                what=draw(st.sampled_from([None, "the budget"])),
            )
        )
    pairs = []
    if people and sessions:
        pairs = draw(
            st.lists(st.tuples(st.sampled_from(people), st.sampled_from(sessions)), max_size=120).map(
                lambda xs: [(p.id, s.id) for p, s in xs]
            )
        )
    groups = [
        tuple(draw(st.lists(st.sampled_from([p.id for p in people] + ["ghost"]), max_size=6))) for _ in "ab"
    ]
    return Dataset(
        people=tuple(people),
        projects=(
            Project(id="a", name="Alpha", decision_group=groups[0]),
            Project(id="b", name="Beta", decision_group=groups[1]),
        ),
        sessions=tuple(sessions),
        attendance=tuple(Attendance(person_id=p, session_id=s) for p, s in pairs),
        baseline={"ethnicity": ETHNICITY},
    )


def _keys(flags: list[Flag]) -> list[tuple[str, str, str]]:
    return sorted((f.fingerprint, f.facts_digest, f.message) for f in flags)


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets(), data=st.data())
def test_flags_do_not_depend_on_row_order(ds: Dataset, data: st.DataObject) -> None:
    shuffled = ds.model_copy(
        update={
            "people": tuple(data.draw(st.permutations(ds.people))),
            "projects": tuple(
                p.model_copy(update={"decision_group": tuple(data.draw(st.permutations(p.decision_group)))})
                for p in data.draw(st.permutations(ds.projects))
            ),
            "sessions": tuple(data.draw(st.permutations(ds.sessions))),
            "attendance": tuple(data.draw(st.permutations(ds.attendance))),
        }
    )
    assert _keys(run(ds)) == _keys(run(shuffled))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_rewording_changes_messages_but_not_fingerprints_or_facts(ds: Dataset) -> None:
    reworded_baseline = ETHNICITY.model_copy(
        update={"labels": {"asian": "people of South Asian or East Asian heritage"}, "source": "our records"}
    )
    reworded = ds.model_copy(
        update={
            "projects": tuple(p.model_copy(update={"name": p.name + " (phase 2)"}) for p in ds.projects),
            "sessions": tuple(s.model_copy(update={"title": "Big meeting"}) for s in ds.sessions),
            "baseline": {"ethnicity": reworded_baseline},
        }
    )
    before, after = run(ds), run(reworded)
    assert sorted((f.fingerprint, f.facts_digest) for f in before) == sorted(
        (f.fingerprint, f.facts_digest) for f in after
    )
    if before:
        assert {f.message for f in before}.isdisjoint({f.message for f in after})


def test_a_bigger_group_is_the_same_problem_with_the_same_facts() -> None:
    # Someone joining who is not from the missing group must not lift a staff acknowledgement.
    small = crowd("w", 24, LE, ethnicity="white")
    big = crowd("w", 30, LE, ethnicity="white")
    one, two = under(run(build(small)))["asian"], under(run(build(big)))["asian"]
    assert one.fingerprint == two.fingerprint
    assert one.facts_digest == two.facts_digest
    assert one.evidence["n"] == 24 and two.evidence["n"] == 30


def test_someone_from_the_missing_group_joining_changes_the_facts() -> None:
    before = crowd("w", 40, LE, ethnicity="white")
    after = before + crowd("a", 1, LE, ethnicity="asian")
    one, two = under(run(build(before)))["asian"], under(run(build(after)))["asian"]
    assert one.fingerprint == two.fingerprint
    assert one.facts_digest != two.facts_digest


def test_a_member_listed_twice_in_the_decision_group_counts_once() -> None:
    people = [person("l1", LE)] + crowd("s", 2, STAFF)
    ds = build(people, group=("l1", "s0", "l1"), baseline={})
    (flag,) = of_rule(run(ds), "decision_group")
    assert (flag.evidence["group_size"], flag.evidence["voice_members"]) == (2, 1)
