"""The mapping: raw rows -> canonical model, and every bad value -> a data-quality flag naming where."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprod_core.checks import run_checks
from coprod_core.flags import Flag, Severity, SubjectKind
from coprod_core.mapping import EntityCount, map_dataset
from coprod_core.model import (
    PREFER_NOT_TO_SAY,
    UNKNOWN,
    Dataset,
    PaymentKind,
    PaymentPreference,
    Role,
    Rung,
    SessionKind,
    Stage,
)
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row, RowBlock
from coprod_core.settings import CheckSettings

# ---------------------------------------------------------------------------------------------
# Builders


def recipe(**overrides: Any) -> Recipe:
    """A small files recipe; ``overrides`` replace or extend whole entity sections."""
    entities: dict[str, Any] = {
        "people": {
            "source": "files",
            "location": "people.csv",
            "fields": {
                "id": "ID",
                "name": "Name",
                "roles": "Role",
                "payment_preference": "Payment",
                "benefits_opt_in": "Benefits check",
            },
            "demographics": {"ethnicity": "Ethnicity", "age_band": "Age"},
            "values": {
                "roles": {"Service user": "lived_experience", "Both": "lived_experience;carer"},
                "ethnicity": {"Asian / Asian British": "asian", "White": "white", "Black": "black"},
            },
        },
        "sessions": {
            "source": "files",
            "location": "sessions.csv",
            "fields": {
                "id": "Session",
                "date": "Date",
                "hours": "Hours",
                "kind": "Type",
                "stage": "Stage",
                "title": "Title",
                "decision_taken": "Decision?",
                "decision": "Decided",
            },
            "values": {"kind": {"Workshop": "co_design_workshop", "Board": "decision meeting"}},
        },
        "attendance": {
            "source": "files",
            "location": "attendance.csv",
            "fields": {
                "person_id": "Person",
                "session_id": "Session",
                "hours": "Hours",
                "prep_hours": "Prep",
                "expenses_claimed": "Expenses",
            },
        },
        "payments": {
            "source": "files",
            "location": "payments.csv",
            "fields": {
                "id": "Ref",
                "person_id": "Person",
                "amount": "Amount",
                "date": "Paid on",
                "kind": "Kind",
                "session_id": "Session",
            },
        },
    }
    data: dict[str, Any] = {
        "name": "test",
        "sources": {"files": {"connector": "files"}},
        "entities": entities,
        "projects": [{"id": "P1", "name": "Day service redesign"}],
    }
    for key, value in overrides.items():
        if key in entities:
            entities[key] = value
        elif key == "projects_entity":
            entities["projects"] = value
        else:
            data[key] = value
    return Recipe.model_validate(data)


def person_row(n: int, **values: Any) -> Row:
    base = {
        "ID": str(n),
        "Name": f"Person {n}",
        "Role": "Lived experience",
        "Payment": "",
        "Benefits check": "",
        "Ethnicity": "White",
        "Age": "25-34",
    }
    base.update(values)
    return Row(ref=f"people.csv row {n + 1}", values=base, key=str(n + 1))


def session_row(n: int, **values: Any) -> Row:
    base = {
        "Session": f"S{n}",
        "Date": "03/03/2026",
        "Hours": "2",
        "Type": "Workshop",
        "Stage": "",
        "Title": "",
        "Decision?": "",
        "Decided": "",
    }
    base.update(values)
    return Row(ref=f"sessions.csv row {n + 1}", values=base, key=str(n + 1))


def attendance_row(n: int, person: str, session: str, **values: Any) -> Row:
    base = {"Person": person, "Session": session, "Hours": "", "Prep": "", "Expenses": ""}
    base.update(values)
    return Row(ref=f"attendance.csv row {n + 1}", values=base, key=str(n + 1))


def payment_row(n: int, person: str, **values: Any) -> Row:
    base = {
        "Ref": f"X{n}",
        "Person": person,
        "Amount": "25",
        "Paid on": "2026-04-01",
        "Kind": "",
        "Session": "",
    }
    base.update(values)
    return Row(ref=f"payments.csv row {n + 1}", values=base, key=str(n + 1))


def only(problems: list[Flag], check_id: str) -> Flag:
    found = [p for p in problems if p.check_id == check_id]
    assert len(found) == 1, [p.message for p in problems]
    return found[0]


def basic_rows(**extra: list[Row]) -> dict[Entity, list[Row]]:
    rows = {
        Entity.PEOPLE: [person_row(1), person_row(2, Role="Carer")],
        Entity.SESSIONS: [session_row(1)],
        Entity.ATTENDANCE: [attendance_row(1, "1", "S1")],
        Entity.PAYMENTS: [],
    }
    for key, value in extra.items():
        rows[Entity(key)] = value
    return rows


# ---------------------------------------------------------------------------------------------
# Fields and value maps


def test_people_roles_preferences_and_flags_are_read_through_value_maps_and_canonical_words() -> None:
    rows = basic_rows(
        people=[
            person_row(1, Role="service USER", Payment="Paid", **{"Benefits check": "yes"}),
            person_row(2, Role="Both"),
            person_row(3, Role="Frontline staff; manager", Payment="not eligible"),
            person_row(4, Role=["carer", "Volunteer"], Payment="declined", **{"Benefits check": "x"}),
        ]
    )
    mapped = map_dataset(recipe(), rows)
    people = mapped.dataset.people_by_id()
    assert mapped.problems == []
    assert people["1"].roles == {Role.LIVED_EXPERIENCE}
    assert people["1"].payment_preference is PaymentPreference.PAID
    assert people["1"].benefits_opt_in is True
    assert people["1"].name == "Person 1"
    assert people["2"].roles == {Role.LIVED_EXPERIENCE, Role.CARER}
    assert people["3"].roles == {Role.FRONTLINE_STAFF, Role.MANAGER}
    assert people["3"].payment_preference is PaymentPreference.NOT_ELIGIBLE
    assert people["3"].benefits_opt_in is False
    assert people["4"].roles == {Role.CARER, Role.VOLUNTEER}
    assert people["4"].benefits_opt_in is True


def test_session_fields_accept_canonical_values_with_spaces_hyphens_and_any_case() -> None:
    rows = basic_rows(
        sessions=[
            session_row(
                1, Type="Co-design workshop", Stage="Design", **{"Decision?": "Yes", "Decided": "the budget"}
            ),
            session_row(2, Type="  board ", Stage="planning", Title="Steering 1"),
            session_row(3, Type="feedback on a draft"),
            session_row(4, Type="FOCUS_GROUP"),
        ],
        attendance=[],
    )
    sessions = map_dataset(recipe(), rows).dataset.sessions_by_id()
    assert sessions["S1"].kind is SessionKind.CO_DESIGN_WORKSHOP
    assert sessions["S1"].stage is Stage.DESIGN
    assert sessions["S1"].decision_taken is True
    assert sessions["S1"].decision == "the budget"
    assert sessions["S1"].project_id == "P1"
    assert sessions["S2"].kind is SessionKind.DECISION_MEETING
    assert sessions["S2"].title == "Steering 1"
    assert sessions["S2"].decision_taken is False
    assert sessions["S3"].kind is SessionKind.FEEDBACK_ON_DRAFT
    assert sessions["S4"].kind is SessionKind.FOCUS_GROUP


@pytest.mark.parametrize(
    ("cell", "day_first", "expected"),
    [
        ("2026-03-04", True, date(2026, 3, 4)),
        ("2026-03-04T10:30:00", True, date(2026, 3, 4)),
        ("2026-03-04T10:30:00.000+01:00", True, date(2026, 3, 4)),
        ("2026-03-04 10:30", True, date(2026, 3, 4)),
        ("04/03/2026", True, date(2026, 3, 4)),
        ("04/03/2026", False, date(2026, 4, 3)),
        ("4/3/26", True, date(2026, 3, 4)),
        ("3 March 2026", True, date(2026, 3, 3)),
        ("3 Mar 2026", True, date(2026, 3, 3)),
        ("March 3, 2026", True, date(2026, 3, 3)),
        (date(2026, 3, 3), True, date(2026, 3, 3)),
        (datetime(2026, 3, 3, 14, 0), True, date(2026, 3, 3)),
        ("2026-12-31T00:00", True, date(2026, 12, 31)),
        ("46126", True, date(2026, 4, 14)),  # Excel's day count, from a column formatted as a number
        ("46126.75", True, date(2026, 4, 14)),
    ],
)
def test_dates_are_read_in_the_formats_people_type(cell: Any, day_first: bool, expected: date) -> None:
    sessions_spec = recipe().entities[Entity.SESSIONS].model_dump()
    sessions_spec["day_first"] = day_first
    rows = basic_rows(sessions=[session_row(1, Date=cell)])
    mapped = map_dataset(recipe(sessions=sessions_spec), rows)
    assert mapped.problems == []
    assert mapped.dataset.sessions[0].date == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("25", "25"), ("25.00", "25.00"), ("£1,250.50", "1250.50"), (" 2.5 ", "2.5"), ("£ 40", "40")],
)
def test_amounts_are_read_as_decimals(cell: str, expected: str) -> None:
    rows = basic_rows(payments=[payment_row(1, "1", Amount=cell)])
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == []
    assert mapped.dataset.payments[0].amount == Decimal(expected)
    assert isinstance(mapped.dataset.payments[0].amount, Decimal)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("1.5", "1.5"), ("2", "2"), ("90 min", "1.5"), ("1h30", "1.5"), ("1:30", "1.5"), ("2 hours", "2")]
    + [("600 min", "10"), ("10:00", "10")],
)
def test_hours_are_read_as_decimals_or_durations(cell: str, expected: str) -> None:
    rows = basic_rows(sessions=[session_row(1, Hours=cell)])
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == []
    assert mapped.dataset.sessions[0].hours == Decimal(expected)
    assert str(mapped.dataset.sessions[0].hours) == expected  # "10", never "1E+1"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("yes", True), ("Y", True), ("TRUE", True), ("1", True), ("x", True), ("ticked", True), (True, True)]
    + [("no", False), ("n", False), ("False", False), ("0", False), ("", False), ("   ", False)],
)
def test_yes_no_cells_are_read_as_booleans(cell: Any, expected: bool) -> None:
    rows = basic_rows(sessions=[session_row(1, **{"Decision?": cell})])
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == []
    assert mapped.dataset.sessions[0].decision_taken is expected


def test_attendance_optional_amounts_and_hours_are_read_and_blank_means_none() -> None:
    rows = basic_rows(
        attendance=[
            attendance_row(1, " 1 ", "S1", Hours="1.5", Prep="1", Expenses="£4.50"),
            attendance_row(2, "2", "S1", Hours="  "),
        ]
    )
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == []
    first, second = mapped.dataset.attendance
    assert (first.person_id, first.hours, first.prep_hours, first.expenses_claimed) == (
        "1",
        Decimal("1.5"),
        Decimal("1"),
        Decimal("4.50"),
    )
    assert (second.hours, second.prep_hours, second.expenses_claimed) == (None, Decimal(0), Decimal(0))


def test_defaults_fill_a_column_that_is_absent_or_empty() -> None:
    spec = recipe().entities[Entity.SESSIONS].model_dump()
    spec["defaults"] = {"hours": "2", "kind": "co_design_workshop"}
    del spec["fields"]["kind"]
    rows = basic_rows(sessions=[session_row(1, Hours=""), session_row(2, Hours="3")], attendance=[])
    mapped = map_dataset(recipe(sessions=spec), rows)
    assert mapped.problems == []
    sessions = mapped.dataset.sessions_by_id()
    assert sessions["S1"].hours == Decimal(2)
    assert sessions["S2"].hours == Decimal(3)
    assert sessions["S1"].kind is SessionKind.CO_DESIGN_WORKSHOP


def test_payment_kind_and_session_are_read() -> None:
    rows = basic_rows(payments=[payment_row(1, "1", Kind="Expenses", Session="S1"), payment_row(2, "2")])
    payments = {p.id: p for p in map_dataset(recipe(), rows).dataset.payments}
    assert payments["X1"].kind is PaymentKind.EXPENSES
    assert payments["X1"].session_id == "S1"
    assert payments["X2"].kind is PaymentKind.FEE
    assert payments["X2"].session_id is None


def test_equal_ids_are_one_shared_string_across_entities_however_the_cell_held_them() -> None:
    def fresh(text: str) -> str:
        """A new string object, as a CSV reader makes one per cell."""
        return "".join(list(text))

    rows = {
        Entity.PEOPLE: [person_row(1, ID=fresh("P-101")), person_row(2, ID=fresh("202"))],
        Entity.SESSIONS: [session_row(1, Session=fresh("S-001"))],
        # A trailing space is trimmed; an XLSX cell gives the number 202.
        Entity.ATTENDANCE: [
            attendance_row(1, fresh("P-101 "), fresh("S-001")),
            attendance_row(2, 202, "S-001"),
        ],
        Entity.PAYMENTS: [payment_row(1, fresh("P-101"), Session=fresh("S-001"))],
    }
    data = map_dataset(recipe(), rows).dataset
    people = {p.id: p for p in data.people}
    (session,) = data.sessions
    assert [a.person_id for a in data.attendance] == ["P-101", "202"]
    for a in data.attendance:
        assert a.person_id is people[a.person_id].id and a.session_id is session.id
    (payment,) = data.payments
    assert payment.person_id is people["P-101"].id and payment.session_id is session.id


def test_the_shared_ids_are_kept_per_entity_referred_to_and_a_payments_own_id_is_not_among_them() -> None:
    # One table of ids for each entity others refer to (people, sessions, projects): a look-up of a
    # person's id searches the people's ids only, not every payment's too (nothing refers to a
    # payment, so its ids are never shared). A person and a session may hold the same text as ids.
    from coprod_core.mapping import DatasetMapper

    rows = basic_rows(
        people=[person_row(1, ID="S1")],
        attendance=[attendance_row(1, "S1", "S1")],
        payments=[payment_row(1, "S1", Session="S1")],
    )
    mapper = DatasetMapper(recipe())
    data = mapper.map(rows).dataset
    assert set(mapper.ids) == {Entity.PEOPLE, Entity.SESSIONS, Entity.PROJECTS}
    assert "X1" not in mapper.ids[Entity.PEOPLE] and "X1" not in mapper.ids[Entity.SESSIONS]
    ((person,), (session,), (attended,), (payment,)) = (
        data.people,
        data.sessions,
        data.attendance,
        data.payments,
    )
    assert attended.person_id is person.id and attended.session_id is session.id
    assert payment.person_id is person.id and payment.session_id is session.id
    assert payment.id == "X1"


def test_payment_without_an_id_column_gets_a_stable_id_from_its_row() -> None:
    spec = recipe().entities[Entity.PAYMENTS].model_dump()
    del spec["fields"]["id"]
    rows = basic_rows(payments=[payment_row(1, "1"), payment_row(2, "1")])
    first = map_dataset(recipe(payments=spec), rows).dataset.payments
    second = map_dataset(recipe(payments=spec), rows).dataset.payments
    assert [p.id for p in first] == [p.id for p in second] == ["row-2", "row-3"]


# ---------------------------------------------------------------------------------------------
# Projects, baseline, policy


def test_inline_project_is_given_to_sessions_without_a_project_column() -> None:
    mapped = map_dataset(recipe(), basic_rows())
    assert [p.id for p in mapped.dataset.projects] == ["P1"]
    assert mapped.dataset.sessions[0].project_id == "P1"
    assert mapped.counts[Entity.PROJECTS] == EntityCount(read=1, used=1, rejected=0)


def test_session_without_project_is_rejected_when_the_recipe_has_several_projects() -> None:
    projects = [{"id": "P1", "name": "One"}, {"id": "P2", "name": "Two"}]
    mapped = map_dataset(recipe(projects=projects), basic_rows(attendance=[]))
    problem = only(mapped.problems, "data_quality.missing_value")
    assert "sessions.csv row 2" in problem.message
    assert "2 projects" in problem.message
    assert mapped.dataset.sessions == ()
    assert mapped.counts[Entity.SESSIONS] == EntityCount(read=1, used=0, rejected=1)


def test_projects_entity_reads_labels_stages_co_chairs_and_decision_group() -> None:
    projects_spec = {
        "source": "files",
        "location": "projects.csv",
        "fields": {
            "id": "Code",
            "name": "Project",
            "label": "Called",
            "stages_reached": "Stages",
            "plan_drafted": "Plan drafted",
            "co_chair_roles": "Co-chairs",
            "decision_group": "Board",
        },
    }
    sessions_spec = recipe().entities[Entity.SESSIONS].model_dump()
    sessions_spec["fields"]["project_id"] = "Project"
    r = recipe(projects=[], projects_entity=projects_spec, sessions=sessions_spec)
    project_row = Row(
        ref="projects.csv row 2",
        values={
            "Code": "DAY",
            "Project": "Day service redesign",
            "Called": "Co-design",
            "Stages": "design; Planning",
            "Plan drafted": "12/02/2026",
            "Co-chairs": "lived experience",
            "Board": "1; 2; 99",
        },
        key="2",
    )
    rows = basic_rows(sessions=[session_row(1, Project="DAY"), session_row(2, Project="NOPE")])
    # A second project after the one with an unknown member, and a repeat of the first's code.
    peer = Row(ref="projects.csv row 3", values={"Code": "PEER", "Project": "Peer support"}, key="3")
    again = Row(ref="projects.csv row 4", values={"Code": "DAY", "Project": "Day service (copy)"}, key="4")
    rows[Entity.PROJECTS] = [project_row, peer, again]
    mapped = map_dataset(r, rows)
    assert [p.id for p in mapped.dataset.projects] == ["DAY", "PEER"]
    repeated = only(mapped.problems, "data_quality.duplicate_id")
    assert repeated.message.startswith(
        "projects.csv row 4: project ID DAY appears twice (first on projects.csv row 2)"
    )
    project = mapped.dataset.projects[0]
    assert project.label is Rung.CO_DESIGN
    assert project.stages_reached == {Stage.DESIGN, Stage.PLANNING}
    assert project.plan_drafted == date(2026, 2, 12)
    assert project.co_chair_roles == {Role.LIVED_EXPERIENCE}
    assert project.decision_group == ("1", "2")
    unknown_member = only(mapped.problems, "data_quality.unknown_person")
    assert "projects.csv row 2, column 'Board'" in unknown_member.message and "99" in unknown_member.message
    unknown_project = only(mapped.problems, "data_quality.unknown_project")
    assert "sessions.csv row 3, column 'Project'" in unknown_project.message
    assert "NOPE" in unknown_project.message
    assert [s.id for s in mapped.dataset.sessions] == ["S1"]


def test_a_decision_group_naming_someone_removed_and_a_mistyped_id_says_which_is_which() -> None:
    # A project's list naming someone removed from the people list said "is not in the people list
    # ... Fix the ID" of them too (a deletion request is not a typing mistake). Said of each, in one
    # flag whose evidence is what it always was (the fingerprint and facts do not change).
    from coprod_core.mapping import DatasetMapper

    projects_spec = {
        "source": "files",
        "location": "projects.csv",
        "fields": {"id": "Code", "name": "Project", "decision_group": "Board"},
    }
    sessions_spec = recipe().entities[Entity.SESSIONS].model_dump()
    sessions_spec["fields"]["project_id"] = "Project"
    r = recipe(projects=[], projects_entity=projects_spec, sessions=sessions_spec)

    def board(members: str, former: frozenset[str]) -> Flag:
        rows = basic_rows(sessions=[session_row(1, Project="DAY")])
        values = {"Code": "DAY", "Project": "Day service", "Board": members}
        rows[Entity.PROJECTS] = [Row(ref="projects.csv row 2", values=values, key="2")]
        mapper = DatasetMapper(r)
        mapper.former_people = former
        mapped = mapper.map(rows)
        assert mapped.dataset.projects[0].decision_group == ("1", "2")
        return only(mapped.problems, "data_quality.unknown_person")

    at = "projects.csv row 2, column 'Board': "
    mixed = board("1; 2; 17; 002", frozenset({"17", "1"}))
    assert mixed.message == (
        at + "person ID 17 in the decision-making group belongs to someone who has been removed from the "
        "people list, and person ID 002 (did you mean 2?) is not in it. The project was used without them "
        "in its group. For the person removed: if they asked for their data to be deleted, take their ID "
        "out of this list too; if they were removed by mistake, add them back to the people list. For the "
        "other ID: fix the ID, or add the person to the people list."
    )
    both = board("1; 2; 17; 18", frozenset({"17", "18"}))
    assert both.message == (
        at + "person IDs 17, 18 in the decision-making group belong to people who have been removed from "
        "the people list. The project was used without them in its group. If they asked for their data to "
        "be deleted, take their IDs out of this list too; if they were removed by mistake, add them back "
        "to the people list."
    )
    typed = board("1; 2; 17; 002", frozenset())
    assert typed.message == (
        at + "person IDs 17, 002 (did you mean 2?) in the decision-making group are not in the people list. "
        "The project was used without them in its group. Fix the ID, or add the person to the people list."
    )
    assert mixed.fingerprint == typed.fingerprint and mixed.facts_digest == typed.facts_digest


def test_a_recipes_own_project_naming_someone_removed_or_a_mistyped_id_is_flagged_as_a_tables_is() -> None:
    # A [[projects]] written in the recipe kept every ID of its decision group and co-chairs, with no
    # flag: the checks counted someone not in the people list (or removed from it at their request)
    # as a member. Now the same flags, in the same words, naming the recipe's entry; the IDs left out.
    from coprod_core.mapping import DatasetMapper

    project = {"id": "P1", "name": "Day service redesign", "decision_group": ["1", "2", "17", "002"]}
    r = recipe(projects=[{**project, "co_chairs": ["17"]}])

    def mapped(former: frozenset[str]) -> tuple[Any, dict[str, Flag]]:
        mapper = DatasetMapper(r)
        mapper.former_people = former
        mapper.recipe_file = "recipe.toml"
        out = mapper.map(basic_rows())
        flags = [f for f in out.problems if f.check_id == "data_quality.unknown_person"]
        assert len(flags) == 2, [f.message for f in out.problems]
        return out.dataset.projects[0], {str(f.evidence["field"]): f for f in flags}

    built, lists = mapped(frozenset({"17"}))
    assert built.decision_group == ("1", "2") and built.co_chairs == ()
    at = 'the [[projects]] with id "P1" in recipe.toml, '
    assert lists["decision_group"].message == (
        at + "decision_group: person ID 17 in the decision-making group belongs to someone who has been "
        "removed from the people list, and person ID 002 (did you mean 2?) is not in it. The project was "
        "used without them in its group. For the person removed: if they asked for their data to be "
        "deleted, take their ID out of this list too; if they were removed by mistake, add them back to "
        "the people list. For the other ID: fix the ID, or add the person to the people list."
    )
    assert lists["co_chairs"].message == (
        at + "co_chairs: person ID 17 among the co-chairs belongs to someone who has been removed from the "
        "people list. The project was used without that person as a co-chair. If they asked for their "
        "data to be deleted, take their ID out of this list too; if they were removed by mistake, add them "
        "back to the people list."
    )
    flag = lists["decision_group"]
    assert flag.project_id == "P1" and flag.about == "" and flag.subject.kind is SubjectKind.RECORD
    assert flag.evidence == {
        "entity": "projects",
        "row": 'the [[projects]] with id "P1" in recipe.toml',
        "field": "decision_group",
        "found": ["17", "002"],
    }
    _, typed = mapped(frozenset())  # nobody known before: any unknown ID's words, the same flags
    assert typed["decision_group"].message == (
        at + "decision_group: person IDs 17, 002 (did you mean 2?) in the decision-making group are not in "
        "the people list. The project was used without them in its group. Fix the ID, or add the person to "
        "the people list."
    )
    assert {k: (f.fingerprint, f.facts_digest) for k, f in typed.items()} == {
        k: (f.fingerprint, f.facts_digest) for k, f in lists.items()
    }
    assert not map_dataset(
        recipe(projects=[{**project, "decision_group": ["1", "2"]}]), basic_rows()
    ).problems


def test_baseline_and_policy_come_from_the_recipe() -> None:
    baseline = {
        "ethnicity": {"source": "service records", "as_of": "2025/26", "shares": {"asian": 0.2, "white": 0.8}}
    }
    policy = {"rates": {"co_design_workshop": "25"}}
    mapped = map_dataset(recipe(baseline=baseline, policy=policy), basic_rows())
    assert mapped.dataset.baseline["ethnicity"].shares["asian"] == pytest.approx(0.2)
    assert mapped.dataset.policy is not None
    assert mapped.dataset.policy.rates[SessionKind.CO_DESIGN_WORKSHOP] == Decimal(25)


def test_mapped_dataset_passes_the_models_own_validation() -> None:
    """The mapping builds objects without re-validating; they must be what validation would build."""
    rows = basic_rows(payments=[payment_row(1, "1", Kind="fee", Session="S1")])
    dataset = map_dataset(recipe(), rows).dataset
    assert Dataset.model_validate(dataset.model_dump()) == dataset


# ---------------------------------------------------------------------------------------------
# Demographics


def test_demographic_answers_are_mapped_normalised_and_blank_means_unknown() -> None:
    rows = basic_rows(
        people=[
            person_row(1, Ethnicity="asian / asian british", Age="25-34"),
            person_row(2, Ethnicity="", Age="65 and over"),
            person_row(3, Ethnicity="Prefer not to say", Age="I'd rather not say"),
            person_row(4, Ethnicity="Don't know", Age="not known"),
            person_row(5, Ethnicity="black", Age="Unknown"),
        ]
    )
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == []
    people = mapped.dataset.people_by_id()
    assert people["1"].demographics == {"ethnicity": "asian", "age_band": "25_34"}
    assert people["2"].demographics == {"ethnicity": UNKNOWN, "age_band": "65_and_over"}
    assert people["3"].demographics == {"ethnicity": PREFER_NOT_TO_SAY, "age_band": PREFER_NOT_TO_SAY}
    assert people["4"].demographics == {"ethnicity": UNKNOWN, "age_band": UNKNOWN}
    assert people["5"].demographics == {"ethnicity": "black", "age_band": UNKNOWN}


def test_demographic_answer_off_the_values_map_is_flagged_without_quoting_the_answer() -> None:
    rows = basic_rows(people=[person_row(1, Ethnicity="Mixed Caribbean heritage"), person_row(2)])
    mapped = map_dataset(recipe(), rows)
    problem = only(mapped.problems, "data_quality.bad_value")
    assert "people.csv row 2, column 'Ethnicity'" in problem.message
    assert "[entities.people.values.ethnicity]" in problem.message
    text = (problem.message + problem.title + problem.evidence_json).casefold()
    assert "caribbean" not in text and "mixed" not in text
    assert mapped.dataset.people_by_id()["1"].demographics["ethnicity"] == UNKNOWN
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=2, used=2, rejected=0)


def test_demographic_categories_meet_the_baseline_keys_however_either_is_typed() -> None:
    """A baseline keyed '18-24' must meet answers typed '18 - 24' (no values map) or mapped ones."""
    baseline = {
        "age_band": {
            "source": "service records",
            "as_of": "2025/26",
            "counts": {"18-24": 10, "65 and over": 5},
        },
        "ethnicity": {"source": "Census 2021", "as_of": "2021", "shares": {"Asian": 0.2, "white": 0.8}},
    }
    rows = basic_rows(
        people=[
            person_row(1, Age="18 - 24", Ethnicity="Asian / Asian British"),
            person_row(2, Age="65 and Over"),
        ]
    )
    mapped = map_dataset(recipe(baseline=baseline), rows)
    people = mapped.dataset.people_by_id()
    baseline_keys = {d: set(b.shares) for d, b in mapped.dataset.baseline.items()}
    assert people["1"].demographics["age_band"] in baseline_keys["age_band"]
    assert people["1"].demographics["ethnicity"] in baseline_keys["ethnicity"]
    assert people["2"].demographics["age_band"] in baseline_keys["age_band"]


# ---------------------------------------------------------------------------------------------
# Bad input -> data-quality flags


def test_bad_required_value_rejects_the_row_with_a_message_naming_file_row_column_and_fix() -> None:
    rows = basic_rows(sessions=[session_row(1), session_row(2, Date="31/02/2026")])
    mapped = map_dataset(recipe(), rows)
    problem = only(mapped.problems, "data_quality.bad_value")
    assert problem.severity is Severity.WARNING
    assert problem.subject.kind is SubjectKind.RECORD
    assert problem.subject.id == "sessions:3"
    assert problem.message.startswith("sessions.csv row 3, column 'Date': '31/02/2026' is not understood")
    assert "3 March 2026" in problem.message  # what was expected
    assert "not used" in problem.message and "Fix the cell" in problem.message
    assert problem.evidence["column"] == "Date"
    assert [s.id for s in mapped.dataset.sessions] == ["S1"]
    assert mapped.counts[Entity.SESSIONS] == EntityCount(read=2, used=1, rejected=1)


def test_a_month_first_date_in_a_day_first_file_names_the_setting_that_reads_it() -> None:
    rows = basic_rows(
        sessions=[session_row(1), session_row(2, Date="12/31/2026"), session_row(3, Date="next Tuesday")]
    )
    mapped = map_dataset(recipe(), rows)
    us, words = sorted(
        (p for p in mapped.problems if p.check_id == "data_quality.bad_value"), key=lambda p: p.subject.id
    )
    assert us.message.startswith("sessions.csv row 3, column 'Date': '12/31/2026' is not understood")
    assert "there is no month 31" in us.message and "set day_first = false" in us.message
    assert words.message.startswith("sessions.csv row 4, column 'Date': 'next Tuesday' is not understood")
    assert "day_first" not in words.message
    assert [s.id for s in mapped.dataset.sessions] == ["S1"]


def test_unknown_role_points_to_the_recipe_values_table() -> None:
    rows = basic_rows(people=[person_row(1, Role="Volunteerr")], attendance=[])
    problem = only(map_dataset(recipe(), rows).problems, "data_quality.bad_value")
    assert "people.csv row 2, column 'Role': 'Volunteerr'" in problem.message
    assert "lived experience, carer" in problem.message
    assert "[entities.people.values.roles]" in problem.message


def test_one_bad_role_among_good_ones_keeps_the_person_with_the_roles_understood() -> None:
    rows = basic_rows(people=[person_row(1, Role="carer; astronaut")])
    mapped = map_dataset(recipe(), rows)
    problem = only(mapped.problems, "data_quality.bad_value")
    assert "'astronaut'" in problem.message and "used without it" in problem.message
    assert mapped.dataset.people[0].roles == {Role.CARER}


def test_bad_optional_value_is_dropped_but_flagged_and_the_row_kept() -> None:
    rows = basic_rows(
        people=[person_row(1, Payment="cash please"), person_row(2)],
        sessions=[session_row(1, Stage="someday")],
    )
    mapped = map_dataset(recipe(), rows)
    messages = [p.message for p in mapped.problems]
    assert len(messages) == 2
    assert any(
        "people.csv row 2, column 'Payment'" in m and "used without its payment preference" in m
        for m in messages
    )
    assert any("sessions.csv row 2, column 'Stage'" in m for m in messages)
    assert mapped.dataset.people_by_id()["1"].payment_preference is None
    assert mapped.dataset.sessions[0].stage is None
    assert mapped.counts[Entity.PEOPLE].used == 2


def test_empty_required_value_is_a_missing_value_and_rejects_the_row() -> None:
    rows = basic_rows(sessions=[session_row(1), session_row(2, Date="  ")])
    mapped = map_dataset(recipe(), rows)
    problem = only(mapped.problems, "data_quality.missing_value")
    assert "sessions.csv row 3, column 'Date' is empty" in problem.message
    assert "The row was not used" in problem.message and "[entities.sessions.defaults]" in problem.message
    assert mapped.counts[Entity.SESSIONS] == EntityCount(read=2, used=1, rejected=1)


def test_person_whose_role_is_not_understood_is_kept_with_no_role_and_flagged_once() -> None:
    # Three registrations with an unknown role used to disappear, and each of their attendances
    # then raised its own "Unknown person" flag: five warnings for one problem per person.
    rows = basic_rows(
        people=[person_row(1, Role="Expert by experience"), person_row(2, Role="Carer")],
        sessions=[session_row(1), session_row(2)],
        attendance=[attendance_row(1, "1", "S1"), attendance_row(2, "1", "S2"), attendance_row(3, "2", "S1")],
        payments=[payment_row(1, "1")],
    )
    mapped = map_dataset(recipe(), rows)

    problem = only(mapped.problems, "data_quality.bad_value")
    assert len(mapped.problems) == 1  # no "Unknown person" for their attendances and payment
    assert problem.subject.id == "people:2"  # on their own row
    assert "people.csv row 2, column 'Role': 'Expert by experience' is not understood" in problem.message
    assert (
        "The person was kept with their role unknown: their attendance and payments still count, but "
        "until it is known coprod does not count them among people with lived experience or carers."
    ) in problem.message
    assert "[entities.people.values.roles]" in problem.message
    assert mapped.dataset.people_by_id()["1"].roles == frozenset()
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=2, used=2, rejected=0)
    assert mapped.counts[Entity.ATTENDANCE] == EntityCount(read=3, used=3, rejected=0)
    assert [p.person_id for p in mapped.dataset.payments] == ["1"]


def test_person_with_an_empty_role_is_kept_with_no_role_and_the_flag_names_the_recipes_voice_roles() -> None:
    policy = {"currency": "GBP", "rates": {"co_design_workshop": 20}}
    r = recipe(settings={"voice_roles": ["lived_experience"]}, policy=policy)
    mapped = map_dataset(r, basic_rows(people=[person_row(1, Role="  ")]))

    problem = only(mapped.problems, "data_quality.missing_value")
    assert "people.csv row 2, column 'Role' is empty" in problem.message
    assert (
        "kept with their role unknown: their attendance and payments still count, but until it is known "
        "coprod does not count them among people with lived experience and works out no fee as due to them."
    ) in problem.message
    assert mapped.dataset.people_by_id()["1"].roles == frozenset()
    assert mapped.counts[Entity.ATTENDANCE].used == 1


def test_a_person_of_unknown_role_is_never_counted_as_lived_experience_by_the_checks() -> None:
    rows = basic_rows(
        people=[person_row(1, Role="Expert by experience")],
        sessions=[session_row(1, Type="Board", **{"Decision?": "yes", "Decided": "the budget"})],
    )
    mapped = map_dataset(recipe(), rows)

    flags = run_checks(mapped.dataset, CheckSettings(), date(2026, 6, 1))

    decision = [f for f in flags if f.check_id == "representation.decision_without_voice"]
    assert len(decision) == 1, [f.check_id for f in flags]


@pytest.mark.parametrize(
    ("column", "cell", "expected"),
    [
        ("Hours", "1,5", "a number of hours such as 2 or 1.5"),
        ("Amount", "£6,40", "an amount such as 25, 25.00 or £1,250.50"),
        ("Amount", "1.234,56", "an amount such as 25, 25.00 or £1,250.50"),
    ],
)
def test_a_decimal_comma_is_flagged_saying_a_full_stop_goes_before_the_decimals(
    column: str, cell: str, expected: str
) -> None:
    # Excel where it saves CSV with semicolons (the files README's advice) writes 1,5 and 6,40: each
    # cell was flagged "expected an amount such as 25, 25.00 or £1,250.50", with nothing saying why
    # a cell that looks right in Excel was not understood.
    if column == "Hours":
        rows = basic_rows(sessions=[session_row(1, Hours=cell)], attendance=[])
    else:
        rows = basic_rows(payments=[payment_row(1, "1", Amount=cell)])
    (problem,) = map_dataset(recipe(), rows).problems
    assert f"'{cell}' is not understood; expected {expected}" in problem.message
    assert "with a full stop before the decimals (a decimal comma, as in 1,5, is not read)" in problem.message


def test_an_amount_with_commas_between_thousands_is_still_read_without_a_hint() -> None:
    rows = basic_rows(payments=[payment_row(1, "1", Amount="£1,250")])
    mapped = map_dataset(recipe(), rows)
    assert mapped.problems == [] and mapped.dataset.payments[0].amount == Decimal("1250")


def test_negative_or_malformed_hours_are_flagged() -> None:
    rows = basic_rows(sessions=[session_row(1, Hours="-2"), session_row(2, Hours="all day")], attendance=[])
    mapped = map_dataset(recipe(), rows)
    assert len(mapped.problems) == 2
    assert all("number of hours" in p.message for p in mapped.problems)
    assert mapped.dataset.sessions == ()


def test_attendance_of_unknown_person_or_session_is_flagged_and_rejected() -> None:
    rows = basic_rows(
        sessions=[session_row(1), session_row(2, Date="soon")],
        attendance=[
            attendance_row(1, "1", "S1"),
            attendance_row(2, "42", "S1"),
            attendance_row(3, "1", "S9"),
            attendance_row(4, "2", "S2"),
        ],
    )
    mapped = map_dataset(recipe(), rows)
    person = only(mapped.problems, "data_quality.unknown_person")
    assert "attendance.csv row 3, column 'Person': person ID 42 is not in the people list" in person.message
    sessions = [p for p in mapped.problems if p.check_id == "data_quality.unknown_session"]
    assert len(sessions) == 2
    assert (
        "attendance.csv row 4, column 'Session': session ID S9 is not in the sessions list"
        in sessions[0].message
    )
    assert "could not be used" in sessions[1].message  # S2 was rejected for its date: say so
    assert mapped.counts[Entity.ATTENDANCE] == EntityCount(read=4, used=1, rejected=3)


def test_an_unknown_id_equal_to_a_known_one_but_for_leading_zeros_spaces_or_case_gets_a_hint_not_a_match() -> (
    None
):
    rows = basic_rows(
        people=[person_row(1, ID="007"), person_row(2, ID="7"), person_row(3, ID="12")],
        sessions=[session_row(1)],
        attendance=[
            attendance_row(1, "07", "S1"),
            attendance_row(2, "0 12", "S1"),
            attendance_row(3, "12", "S 1"),
            attendance_row(4, "42", "S1"),
            attendance_row(5, "12", "s1"),
        ],
    )
    mapped = map_dataset(recipe(), rows)

    people = [p for p in mapped.problems if p.check_id == "data_quality.unknown_person"]
    assert [p.message.split(": ", 1)[1].split(". ")[0] for p in people] == [
        "person ID 07 is not in the people list (did you mean 007 or 7?)",
        "person ID 0 12 is not in the people list (did you mean 12?)",
        "person ID 42 is not in the people list",
    ]
    assert [p.evidence.get("did_you_mean") for p in people] == [["007", "7"], ["12"], None]
    spaced, lower = [p for p in mapped.problems if p.check_id == "data_quality.unknown_session"]
    assert "session ID S 1 is not in the sessions list (did you mean S1?). The attendance was not used" in (
        spaced.message
    )
    assert "session ID s1 is not in the sessions list (did you mean S1?)" in lower.message
    assert mapped.dataset.attendance == ()  # a hint only: 07 is never taken to be 007, nor s1 S1
    assert mapped.counts[Entity.ATTENDANCE] == EntityCount(read=5, used=0, rejected=5)


def test_a_decision_group_member_typed_without_leading_zeros_gets_a_hint() -> None:
    projects = {
        "source": "files",
        "location": "projects.csv",
        "fields": {"id": "ID", "name": "Name", "decision_group": "Group"},
    }
    rows = basic_rows(people=[person_row(1, ID="007")], attendance=[])
    rows[Entity.PROJECTS] = [
        Row(ref="projects.csv row 2", values={"ID": "P1", "Name": "Redesign", "Group": "7; 9"}, key="2")
    ]
    mapped = map_dataset(recipe(projects=[], projects_entity=projects), rows)

    problem = only(mapped.problems, "data_quality.unknown_person")
    assert "person IDs 7 (did you mean 007?), 9 in the decision-making group are not in the people list" in (
        problem.message
    )


def test_payments_of_unknown_people_and_negative_amounts_are_flagged_and_rejected() -> None:
    rows = basic_rows(
        payments=[
            payment_row(1, "1"),
            payment_row(2, "77"),
            payment_row(3, "2", Amount="-£25.00"),
            payment_row(4, "2", Session="S404"),
        ]
    )
    mapped = map_dataset(recipe(), rows)
    assert (
        "payments.csv row 3, column 'Person'" in only(mapped.problems, "data_quality.unknown_person").message
    )
    negative = only(mapped.problems, "data_quality.negative_amount")
    assert "payments.csv row 4, column 'Amount'" in negative.message and "-25.00" in negative.message
    dropped_session = only(mapped.problems, "data_quality.unknown_session")
    assert "used without its session" in dropped_session.message
    assert sorted(p.id for p in mapped.dataset.payments) == ["X1", "X4"]
    assert mapped.counts[Entity.PAYMENTS] == EntityCount(read=4, used=2, rejected=2)


@pytest.mark.parametrize(
    ("entity", "rows", "words"),
    [
        (Entity.PEOPLE, [person_row(1), person_row(2, ID="1")], "person ID 1 appears twice"),
        (Entity.SESSIONS, [session_row(1), session_row(2, Session="S1")], "session ID S1 appears twice"),
        (
            Entity.PAYMENTS,
            [payment_row(1, "1"), payment_row(2, "1", Ref="X1")],
            "payment ID X1 appears twice",
        ),
        (
            Entity.ATTENDANCE,
            [attendance_row(1, "1", "S1"), attendance_row(2, "1", "S1")],
            "attendance of person ID 1 at session ID S1 appears twice",
        ),
    ],
)
def test_duplicate_ids_keep_the_first_row_and_reject_the_second(
    entity: Entity, rows: list[Row], words: str
) -> None:
    mapped = map_dataset(recipe(), basic_rows(**{entity.value: rows}))
    problem = only(mapped.problems, "data_quality.duplicate_id")
    assert words in problem.message
    assert f"first on {rows[0].ref}" in problem.message
    assert problem.message.startswith(rows[1].ref)
    assert mapped.counts[entity] == EntityCount(read=2, used=1, rejected=1)


def test_counts_add_up_for_every_entity_so_nothing_is_dropped_silently() -> None:
    rows = basic_rows(
        people=[person_row(1), person_row(2, ID=""), person_row(3, Role="nope")],
        attendance=[attendance_row(1, "1", "S1"), attendance_row(2, "2", "S1")],
        payments=[payment_row(1, "1", Amount="lots")],
    )
    mapped = map_dataset(recipe(), rows)
    assert mapped.counts == {
        Entity.PEOPLE: EntityCount(read=3, used=2, rejected=1),
        Entity.PROJECTS: EntityCount(read=1, used=1, rejected=0),
        Entity.SESSIONS: EntityCount(read=1, used=1, rejected=0),
        Entity.ATTENDANCE: EntityCount(read=2, used=1, rejected=1),
        Entity.PAYMENTS: EntityCount(read=1, used=0, rejected=1),
    }
    assert len(mapped.problems) == 4  # one per rejected row, and one for the role kept unknown


def test_problem_fingerprints_are_stable_across_runs_and_differ_by_column() -> None:
    rows = basic_rows(sessions=[session_row(1, Date="soon", Hours="lots")], attendance=[])
    first = map_dataset(recipe(), rows).problems
    second = map_dataset(recipe(), rows).problems
    assert [p.fingerprint for p in first] == [p.fingerprint for p in second]
    assert len({p.fingerprint for p in first}) == 2


_cells = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "2026-13-45", "-1", "£", "1,5", "yes", "carer", "S1", "1", "prefer not to say"]
    ),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["ID", "Role", "Ethnicity", "Age", "Payment"]), _cells), max_size=4
    )
)
def test_mapping_never_raises_on_garbage_and_counts_still_add_up(cells: list[dict[str, Any]]) -> None:
    people = [Row(ref=f"people.csv row {i + 2}", values=v, key=str(i + 2)) for i, v in enumerate(cells)]
    sessions = [
        Row(
            ref="sessions.csv row 2",
            values={k: c.get(k) for k in ("Session", "Date", "Hours", "Type")},
            key="2",
        )
        for c in cells[:1]
    ]
    mapped = map_dataset(recipe(), {Entity.PEOPLE: people, Entity.SESSIONS: sessions})
    for count in mapped.counts.values():
        assert count.read == count.used + count.rejected
    assert mapped.counts[Entity.PEOPLE].rejected <= len(mapped.problems)


# ---------------------------------------------------------------------------------------------
# Hours beyond what one session can be


def _owed_by_session(flags: list[Flag]) -> dict[tuple[str, str], str]:
    """(person, session) -> the fee owed, from the payments flags (owed or overdue)."""
    return {
        (f.subject.id, line["session_id"]): line["owed"]
        for f in flags
        if f.check_id in ("payments.owed", "payments.overdue")
        for line in f.evidence["sessions"]
    }


@pytest.mark.parametrize("blocks", [False, True], ids=["rows", "block"])
def test_hours_beyond_one_session_are_flagged_naming_the_cell_and_not_counted_towards_payment(
    blocks: bool,
) -> None:
    rows = basic_rows(
        sessions=[session_row(1), session_row(2, Hours="300")],
        attendance=[
            attendance_row(1, "1", "S1", Hours="999999999"),
            attendance_row(2, "2", "S1", Prep="30"),
            attendance_row(3, "1", "S2"),
            attendance_row(4, "2", "S2", Hours="1.5"),
        ],
    )
    if blocks:
        rows = {entity: [_block(entity, entity_rows)] for entity, entity_rows in rows.items() if entity_rows}
    policy = {"currency": "GBP", "rates": {"co_design_workshop": 20}}
    mapped = map_dataset(recipe(policy=policy), rows)

    too_many = [p for p in mapped.problems if p.check_id == "data_quality.too_many_hours"]
    assert len(too_many) == 3, [p.message for p in mapped.problems]
    assert [p.check_id for p in mapped.problems] == ["data_quality.too_many_hours"] * 3
    messages = {p.evidence["row"]: p.message for p in too_many}
    attended = messages["attendance.csv row 2"]
    assert attended.startswith(
        "attendance.csv row 2, column 'Hours': '999999999' hours is more than one session"
    )
    assert "not counted towards payment until it is corrected" in attended
    assert "more than 24 hours" in attended
    assert "counts as the whole session" in attended
    prep = messages["attendance.csv row 3"]
    assert prep.startswith("attendance.csv row 3, column 'Prep': '30' hours is more than")
    assert "not counted towards payment until it is corrected" in prep
    session = messages["sessions.csv row 3"]
    assert session.startswith("sessions.csv row 3, column 'Hours': '300' hours is more than")
    assert "not counted towards payment until it is corrected" in session
    assert {p.evidence["found"] for p in too_many} == {"999999999", "30", "300"}
    assert all(p.evidence["most"] == "24" for p in too_many)

    # Nothing rejected: the sessions and attendance are kept (who was there still counts).
    assert mapped.counts[Entity.SESSIONS] == EntityCount(read=2, used=2, rejected=0)
    assert mapped.counts[Entity.ATTENDANCE] == EntityCount(read=4, used=4, rejected=0)
    sessions = mapped.dataset.sessions_by_id()
    assert (sessions["S2"].hours, sessions["S2"].length_unknown) == (Decimal(0), True)
    assert sessions["S1"].length_unknown is False
    hours = {(a.person_id, a.session_id): (a.hours, a.prep_hours) for a in mapped.dataset.attendance}
    assert hours[("1", "S1")] == (None, Decimal(0))
    assert hours[("2", "S1")] == (None, Decimal(0))
    assert hours[("2", "S2")] == (Decimal("1.5"), Decimal(0))

    # The payments owed: the whole 2-hour session at £20 an hour, never the absurd hours; nothing
    # for a session of unknown length unless the attendance gives its own hours.
    flags = run_checks(mapped.dataset, CheckSettings(), date(2026, 6, 1))
    assert _owed_by_session(flags) == {("1", "S1"): "40.00", ("2", "S1"): "40.00", ("2", "S2"): "30.00"}


def test_the_most_hours_for_one_session_is_a_setting_of_the_recipe() -> None:
    rows = basic_rows(
        sessions=[session_row(1, Hours="30")], attendance=[attendance_row(1, "1", "S1", Hours="30")]
    )
    residential = map_dataset(recipe(settings={"data_quality": {"max_session_hours": 48}}), rows)
    assert residential.problems == []
    assert residential.dataset.sessions[0].hours == Decimal(30)
    strict = map_dataset(recipe(settings={"data_quality": {"max_session_hours": 8}}), basic_rows())
    assert strict.problems == []
    flagged = map_dataset(recipe(settings={"data_quality": {"max_session_hours": 8}}), rows)
    assert len(flagged.problems) == 2
    assert all("more than 8 hours" in p.message for p in flagged.problems)
    assert all("[settings.data_quality] max_session_hours" in p.message for p in flagged.problems)


def _block(entity: Entity, rows: list[Row]) -> Any:
    from coprod_core.rows import RowBlock

    header = list(rows[0].values)
    source = rows[0].ref.rsplit(" row ", 1)[0]
    return RowBlock(
        source, header, [[r.values[h] for h in header] for r in rows], [int(r.key or 0) for r in rows]
    )


def test_a_row_repeating_the_headings_of_a_tab_read_row_by_row_is_one_problem_and_is_skipped() -> None:
    """As a sheet's tab hands its rows over (one by one): a pasted heading row, and a row that only
    looks like one in some columns (a person called 'Name') is read as data."""
    headings = {
        "Ref": "Ref",
        "Person": "Person",
        "Amount": "Amount",
        "Paid on": "Paid on",
        "Kind": "",
        "Session": "",
    }
    rows = basic_rows(
        people=[person_row(1), person_row(2, Name="Name", Role="Role")],
        payments=[payment_row(1, "1"), Row("tab 'Payments' row 3", headings, "3"), payment_row(3, "1")],
    )
    mapped = map_dataset(recipe(), rows)
    assert [p.check_id for p in mapped.problems] == [
        "data_quality.bad_value",
        "data_quality.repeated_headings",
    ]
    assert mapped.problems[1].message == (
        "tab 'Payments' row 3 repeats the column headings: two exports pasted together? The row was skipped; "
        "delete it."
    )
    assert [p.id for p in mapped.dataset.payments] == ["X1", "X3"]
    assert mapped.counts[Entity.PAYMENTS] == EntityCount(read=3, used=2, rejected=1)


def _as_given(entity: Entity, rows: list[Row], as_block: bool) -> list[Any]:
    """The rows as a sheet's tab hands them over (one by one), or as a file's page (a block)."""
    return [_block(entity, rows)] if as_block else rows


@pytest.mark.parametrize("as_block", [False, True], ids=["row by row", "as a block"])
def test_a_repeated_heading_row_of_only_text_and_id_columns_is_one_problem_not_a_record(
    as_block: bool,
) -> None:
    """Projects mapped only to an id and a name, people only to an id and a name (roles a default):
    nothing in a pasted heading row is a value not understood, yet it is flagged once as a heading
    row, not taken for a project 'Ref' called 'Project name' or a person 'ID' called 'Name'."""
    projects = {
        "source": "files",
        "location": "projects.csv",
        "fields": {"id": "Ref", "name": "Project name"},
    }
    people = {
        "source": "files",
        "location": "people.csv",
        "fields": {"id": "ID", "name": "Name"},
        "defaults": {"roles": "lived_experience"},
    }
    sessions = recipe().entities[Entity.SESSIONS].model_dump()
    sessions["fields"]["project_id"] = "Project"

    def project(n: int, ref: str, name: str) -> Row:
        return Row(ref=f"projects.csv row {n}", values={"Ref": ref, "Project name": name}, key=str(n))

    def person(n: int, pid: str, name: str) -> Row:
        return Row(ref=f"people.csv row {n}", values={"ID": pid, "Name": name}, key=str(n))

    rows = basic_rows(
        people=_as_given(
            Entity.PEOPLE,
            [person(2, "1", "Sam"), person(3, " id", "NAME"), person(4, "2", "Ali")],
            as_block,
        ),
        sessions=[session_row(1, Project="P1")],
    )
    rows[Entity.PROJECTS] = _as_given(
        Entity.PROJECTS,
        [project(2, "P1", "Day service"), project(3, "Ref", "Project  Name"), project(4, "P2", "Peer")],
        as_block,
    )
    mapped = map_dataset(
        recipe(projects=[], projects_entity=projects, people=people, sessions=sessions), rows
    )

    assert [(p.check_id, p.evidence["row"]) for p in mapped.problems] == [
        ("data_quality.repeated_headings", "people.csv row 3"),
        ("data_quality.repeated_headings", "projects.csv row 3"),
    ]
    assert [p.id for p in mapped.dataset.people] == ["1", "2"]
    assert [p.id for p in mapped.dataset.projects] == ["P1", "P2"]
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=3, used=2, rejected=1)
    assert mapped.counts[Entity.PROJECTS] == EntityCount(read=3, used=2, rejected=1)


@pytest.mark.parametrize("as_block", [False, True], ids=["row by row", "as a block"])
def test_a_record_whose_id_or_name_reads_as_a_heading_is_still_a_record(as_block: bool) -> None:
    """Only a row whose every mapped cell is its column's heading is a heading row: a project whose
    code is 'REF' (the id column's heading) but whose name is its own, and one called 'Ref' or
    'Project name', are projects, unflagged, read as they are."""
    projects = {
        "source": "files",
        "location": "projects.csv",
        "fields": {"id": "Ref", "name": "Project name"},
    }
    rows = basic_rows(sessions=[session_row(1)], attendance=[])
    rows[Entity.PROJECTS] = _as_given(
        Entity.PROJECTS,
        [
            Row(ref="projects.csv row 2", values={"Ref": "REF", "Project name": "Befriending"}, key="2"),
            Row(ref="projects.csv row 3", values={"Ref": "P2", "Project name": "Project name"}, key="3"),
            Row(ref="projects.csv row 4", values={"Ref": "P3", "Project name": "Ref"}, key="4"),
        ],
        as_block,
    )
    mapped = map_dataset(recipe(projects=[], projects_entity=projects), rows)

    assert [p.check_id for p in mapped.problems if p.evidence["entity"] == "projects"] == []
    assert [(p.id, p.name) for p in mapped.dataset.projects] == [
        ("REF", "Befriending"),
        ("P2", "Project name"),
        ("P3", "Ref"),
    ]
    assert mapped.counts[Entity.PROJECTS] == EntityCount(read=3, used=3, rejected=0)


@pytest.mark.parametrize("as_block", [False, True], ids=["row by row", "as a block"])
def test_a_repeated_heading_row_of_attendance_and_payments_id_columns_is_one_problem(as_block: bool) -> None:
    """Attendance mapped only to its person and session, payments to their ids (and an amount and
    date): the heading row names no known person, and is flagged once as a heading row."""
    attendance = {
        "source": "files",
        "location": "attendance.csv",
        "fields": {"person_id": "Person", "session_id": "Session"},
    }
    rows = basic_rows(
        attendance=_as_given(
            Entity.ATTENDANCE,
            [
                Row("attendance.csv row 2", {"Person": "1", "Session": "S1"}, "2"),
                Row("attendance.csv row 3", {"Person": "PERSON", "Session": "session"}, "3"),
                Row("attendance.csv row 4", {"Person": "2", "Session": "S1"}, "4"),
            ],
            as_block,
        ),
        payments=_as_given(
            Entity.PAYMENTS,
            [payment_row(1, "1"), payment_row(2, "Person", Ref="Ref", Amount="", **{"Paid on": ""})],
            as_block,
        ),
    )
    mapped = map_dataset(recipe(attendance=attendance), rows)

    assert [(p.check_id, p.evidence["row"]) for p in mapped.problems] == [
        ("data_quality.repeated_headings", "attendance.csv row 3"),
        ("data_quality.repeated_headings", "payments.csv row 3"),
    ]
    assert [(a.person_id, a.session_id) for a in mapped.dataset.attendance] == [("1", "S1"), ("2", "S1")]
    assert [p.id for p in mapped.dataset.payments] == ["X1"]


# ---------------------------------------------------------------------------------------------
# Characters nobody can see


INVISIBLE_IDS = {
    "A\tB": "A\\tB",
    "7\u200b": "7<U+200B>",
    "\x1b[31m9": "<U+001B>[31m9",
    "5\x0b6": "5<U+000B>6",
    "\u202e12": "<U+202E>12",
}
"""Ids holding a tab, a zero-width space, an escape sequence, a vertical tab and a right-to-left
override, and how a message shows each."""


def test_control_and_invisible_characters_in_ids_are_shown_in_messages_and_kept_as_they_are_in_evidence() -> (
    None
):
    rows = basic_rows(attendance=[attendance_row(n, pid, "S1") for n, pid in enumerate(INVISIBLE_IDS, 1)])
    mapped = map_dataset(recipe(), rows)
    flags = [p for p in mapped.problems if p.check_id == "data_quality.unknown_person"]
    assert len(flags) == len(INVISIBLE_IDS)
    for flag, (raw, seen) in zip(flags, INVISIBLE_IDS.items(), strict=True):
        assert f"person ID {seen} is not in the people list" in flag.message
        assert flag.message.isprintable(), flag.message
        assert flag.evidence["found"] == raw  # the facts (and so the digests) are the cell's own


def about_person_in(dataset: Any) -> Callable[[str], str]:
    """What a flag about the person with this id says it is about (the About column's words)."""
    from coprod_core.about import SubjectWords
    from coprod_core.flags import Subject, make_flag

    words = SubjectWords(dataset)

    def about(pid: str) -> str:
        subject = Subject(kind=SubjectKind.PERSON, id=pid)
        flag = make_flag(
            check_id="x", severity=Severity.INFO, subject=subject, title="t", message="m", evidence={}
        )
        return words.about(flag)

    return about


def test_who_a_flag_is_about_shows_invisible_characters_in_the_id_and_the_name() -> None:
    people = [person_row(1, ID="7\u200b", Name="Sam\tCarter"), person_row(2, ID="\x1b[2J8", Name="")]
    dataset = map_dataset(recipe(), basic_rows(people=people, attendance=[])).dataset
    about = about_person_in(dataset)

    assert about("7\u200b") == "Sam\\tCarter (ID 7<U+200B>)"
    assert about("\x1b[2J8") == "person ID <U+001B>[2J8"


def test_a_joiner_that_is_part_of_how_a_name_is_written_is_kept_and_a_stray_one_is_shown() -> None:
    """Persian and the Indic scripts write some names with a zero-width non-joiner or joiner between
    two letters, and a family emoji is emoji joined by them: shown as <U+200C> they would mangle a
    person's name in every flag about them. The same character after a digit, between Latin
    letters, or at either end only hides a difference."""
    persian, hindi, family = (
        "\u0646\u06cc\u0645\u0627\u200c\u0631\u0636\u0627",
        "\u0915\u094d\u200d\u0937",
        "\U0001f469\u200d\U0001f467",
    )
    people = [
        person_row(1, ID="P1", Name=persian),
        person_row(2, ID="P2", Name=f"{hindi} {family}"),
        person_row(3, ID="7\u200d", Name="Jo\u200cAnn"),
    ]
    dataset = map_dataset(recipe(), basic_rows(people=people, attendance=[])).dataset
    about = about_person_in(dataset)

    assert about("P1") == f"{persian} (ID P1)"
    assert about("P2") == f"{hindi} {family} (ID P2)"
    assert about("7\u200d") == "Jo<U+200C>Ann (ID 7<U+200D>)"


def test_an_unknown_id_equal_to_a_known_one_but_for_characters_nobody_can_see_gets_a_hint() -> None:
    rows = basic_rows(attendance=[attendance_row(1, "\u200b1", "S1"), attendance_row(2, "2\t", "S\u20601")])
    mapped = map_dataset(recipe(), rows)
    person = only(mapped.problems, "data_quality.unknown_person")
    assert "person ID <U+200B>1 is not in the people list (did you mean 1?)" in person.message
    assert person.evidence["did_you_mean"] == ["1"]
    session = only(mapped.problems, "data_quality.unknown_session")
    assert "session ID S<U+2060>1 is not in the sessions list (did you mean S1?)" in session.message


def test_a_session_length_worked_out_from_an_events_start_and_end_names_them_in_the_fix() -> None:
    """CiviCRM works a session's hours out from its event's start and end (``hours_from``): an end
    typed on the wrong day is the likely cause, and the cell to fix is not the hours."""
    spec = recipe().entities[Entity.SESSIONS].model_dump()
    spec["options"] = {"hours_from": ["start_date", "end_date"]}
    rows = basic_rows(sessions=[session_row(1, Hours="8762.5")])
    (problem,) = map_dataset(recipe(sessions=spec), rows).problems
    assert problem.check_id == "data_quality.too_many_hours"
    assert "'8762.5' hours is more than one session can take" in problem.message
    assert "Fix the start or end (start_date, end_date) it is worked out from" in problem.message
    assert "typed as 30" not in problem.message


# ---------------------------------------------------------------------------------------------
# Whom the people list named (coprod_core.removed)


def test_the_people_read_names_every_id_on_a_people_row_used_or_not() -> None:
    headings = {"ID": "ID", "Name": "Name", "Role": "Role", "Ethnicity": "Ethnicity", "Age": "Age"}
    rows = basic_rows(
        people=[person_row(1), person_row(2, Role="Astronaut"), person_row(3, **headings), person_row(1)]
    )

    mapped = map_dataset(recipe(), rows)

    assert {p.id for p in mapped.dataset.people} == {"1", "2"}  # 2 kept with its role unknown
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=4, used=2, rejected=2)
    assert mapped.people_read is not None
    assert mapped.people_read.ids == frozenset({"1", "2", "ID"})  # the pasted headings' "ID" too
    assert mapped.people_read.unidentified == 0  # neither the headings nor the repeat are anyone's
    assert not mapped.people_read.removed(SubjectKind.PERSON, "2")
    assert mapped.people_read.removed(SubjectKind.PERSON, "4")
    assert not mapped.people_read.removed(SubjectKind.SESSION, "4")


@pytest.mark.parametrize("as_block", [False, True], ids=["rows", "table"])
def test_a_people_row_with_a_blank_id_means_nobody_is_taken_as_removed(as_block: bool) -> None:
    people: list[Row | RowBlock] = [person_row(1), person_row(2, ID="")]
    if as_block:
        header = list(people[0].values)  # type: ignore[union-attr]
        cells = [list(r.values.values()) for r in people]  # type: ignore[union-attr]
        people = [RowBlock("people.csv", header, cells, [2, 3])]

    mapped = map_dataset(recipe(), {**basic_rows(), Entity.PEOPLE: people})

    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=2, used=1, rejected=1)
    assert mapped.people_read is not None and mapped.people_read.unidentified == 1
    assert not mapped.people_read.removed(SubjectKind.PERSON, "17")
