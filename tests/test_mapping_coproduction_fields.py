"""Mapping the optional fields the newer rules read: no plan before people, co-chairs, support,
recruitment and values dates, feedback dates, and which of them a recipe keeps at all."""

from __future__ import annotations

from datetime import date
from typing import Any

from coprod_core.mapping import map_dataset
from coprod_core.model import SessionKind
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row


def recipe(projects: dict[str, Any] | None = None, inline: list[dict[str, Any]] | None = None) -> Recipe:
    data: dict[str, Any] = {
        "name": "fields",
        "sources": {"files": {"connector": "files"}},
        "entities": {
            "people": {"source": "files", "fields": {"id": "ID", "roles": "Role", "supported": "Support"}},
            "sessions": {
                "source": "files",
                "fields": {
                    "id": "ID",
                    "project_id": "Project",
                    "date": "Date",
                    "hours": "Hours",
                    "kind": "Kind",
                    "fed_back": "Fed back on",
                },
                "values": {"kind": {"You said, we did": "feedback_to_participants"}},
            },
            "attendance": {"source": "files", "fields": {"person_id": "Person", "session_id": "Session"}},
        },
    }
    if projects is not None:
        data["entities"]["projects"] = projects
    if inline is not None:
        data["projects"] = inline
    return Recipe.model_validate(data)


PROJECTS = {
    "source": "files",
    "fields": {
        "id": "ID",
        "name": "Name",
        "plan_drafted": "Plan drafted",
        "co_chairs": "Co-chairs",
        "recruitment_opened": "Recruitment opened",
        "values_agreed": "Values agreed",
        "values_reviewed": "Values reviewed",
    },
    "values": {"plan_drafted": {"Started with people": "no_plan_before"}},
}


def rows(entity: str, *values: dict[str, str]) -> list[Row]:
    return [Row(ref=f"{entity}.csv row {i}", values=v) for i, v in enumerate(values, start=2)]


PEOPLE = rows(
    "people",
    {"ID": "1", "Role": "lived experience", "Support": "Yes"},
    {"ID": "2", "Role": "carer", "Support": "No"},
    {"ID": "3", "Role": "carer", "Support": ""},
)


def mapped(projects: list[Row], r: Recipe | None = None) -> Any:
    return map_dataset(
        r or recipe(PROJECTS),
        {
            Entity.PEOPLE: PEOPLE,
            Entity.PROJECTS: projects,
            Entity.SESSIONS: rows(
                "sessions",
                {
                    "ID": "s1",
                    "Project": "p1",
                    "Date": "3/3/2026",
                    "Hours": "2",
                    "Kind": "You said, we did",
                    "Fed back on": "",
                },
                {
                    "ID": "s2",
                    "Project": "p1",
                    "Date": "4/3/2026",
                    "Hours": "2",
                    "Kind": "peer support",
                    "Fed back on": "20 March 2026",
                },
            ),
        },
    )


def project_row(plan: str, co_chairs: str = "1") -> dict[str, str]:
    return {
        "ID": "p1",
        "Name": "Peer support line",
        "Plan drafted": plan,
        "Co-chairs": co_chairs,
        "Recruitment opened": "15/01/2026",
        "Values agreed": "2026-03-05",
        "Values reviewed": "8 October 2026",
    }


def test_new_project_fields_are_read_and_a_plan_date_stays_a_date() -> None:
    m = mapped(rows("projects", project_row("20/03/2026")))
    assert m.problems == []
    [p] = m.dataset.projects
    assert (p.plan_drafted, p.no_plan_before) == (date(2026, 3, 20), False)
    assert p.co_chairs == ("1",)
    assert (p.recruitment_opened, p.values_agreed, p.values_reviewed) == (
        date(2026, 1, 15),
        date(2026, 3, 5),
        date(2026, 10, 8),
    )


def test_no_plan_before_people_is_a_value_of_the_plan_drafted_field_in_words_or_mapped() -> None:
    for written in (
        "no plan before",
        "No plan before people took part",
        "no_plan_before",
        "Started with people",
    ):
        m = mapped(rows("projects", project_row(written)))
        assert m.problems == [], written
        [p] = m.dataset.projects
        assert (p.plan_drafted, p.no_plan_before) == (None, True), written


def test_a_plan_drafted_cell_neither_date_nor_no_plan_is_flagged_saying_both_answers() -> None:
    m = mapped(rows("projects", project_row("soon")))
    [problem] = m.problems
    assert problem.check_id == "data_quality.bad_value"
    assert "'soon' is not understood" in problem.message and "or 'no plan before'" in problem.message
    [p] = m.dataset.projects
    assert (p.plan_drafted, p.no_plan_before) == (None, False)


def test_a_co_chair_not_in_the_people_list_is_flagged_and_left_out() -> None:
    m = mapped(rows("projects", project_row("20/03/2026", co_chairs="1; 9")))
    [problem] = m.problems
    assert problem.check_id == "data_quality.unknown_person"
    assert problem.evidence["field"] == "co_chairs" and problem.evidence["found"] == ["9"]
    assert "person ID 9 among the co-chairs is not in the people list" in problem.message
    assert "used without that person as a co-chair" in problem.message
    assert m.dataset.projects[0].co_chairs == ("1",)


def test_support_feedback_dates_and_the_new_session_kinds_are_read() -> None:
    m = mapped(rows("projects", project_row("20/03/2026")))
    assert [p.supported for p in m.dataset.people] == [True, False, None]
    s1, s2 = m.dataset.sessions
    assert (s1.kind, s1.fed_back) == (SessionKind.FEEDBACK_TO_PARTICIPANTS, None)
    assert (s2.kind, s2.fed_back) == (SessionKind.PEER_SUPPORT, date(2026, 3, 20))


def test_the_dataset_says_which_optional_fields_the_recipe_keeps() -> None:
    ds = mapped(rows("projects", project_row("20/03/2026"))).dataset
    for kept in ("people.supported", "sessions.fed_back", "projects.values_agreed", "projects.co_chairs"):
        assert ds.records(kept), kept
    assert not ds.records("people.benefits_opt_in")
    without = recipe({"source": "files", "fields": {"id": "ID", "name": "Name"}})
    bare = mapped(rows("projects", {"ID": "p1", "Name": "P"}), without).dataset
    assert not bare.records("projects.values_agreed")


def test_inline_projects_take_the_new_fields_and_no_plan_before() -> None:
    r = recipe(
        inline=[
            {
                "id": "p1",
                "name": "Group homes standards",
                "plan_drafted": "no_plan_before",
                "co_chairs": ["1"],
                "values_agreed": date(1996, 2, 1),
            }
        ]
    )
    ds = mapped([], r).dataset
    [p] = ds.projects
    assert (p.plan_drafted, p.no_plan_before, p.co_chairs, p.values_agreed) == (
        None,
        True,
        ("1",),
        date(1996, 2, 1),
    )
    assert ds.records("projects.values_agreed") and not ds.records("projects.values_reviewed")
