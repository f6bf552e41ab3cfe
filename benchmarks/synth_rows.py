"""The synthetic dataset as the text rows a connector hands over, and a recipe that maps them.

Lets the core benchmark time the mapping (text -> model, with its checks on every cell) on the
same organisation the checks are timed on.
"""

from __future__ import annotations

from coprod_core.model import Dataset
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row

RECIPE = {
    "name": "bench",
    "sources": {"exports": {"connector": "files"}},
    "entities": {
        "people": {
            "source": "exports",
            "location": "people.csv",
            "fields": {
                "id": "ID",
                "roles": "Role",
                "payment_preference": "Payment",
                "benefits_opt_in": "Benefits",
            },
            "demographics": {"ethnicity": "Ethnic group", "age_band": "Age band"},
        },
        "projects": {
            "source": "exports",
            "location": "projects.csv",
            "fields": {"id": "ID", "name": "Name", "label": "Label", "plan_drafted": "Plan drafted"},
        },
        "sessions": {
            "source": "exports",
            "location": "sessions.csv",
            "fields": {
                "id": "ID",
                "project_id": "Project",
                "date": "Date",
                "hours": "Hours",
                "kind": "Kind",
                "stage": "Stage",
                "decision_taken": "Decision",
            },
        },
        "attendance": {
            "source": "exports",
            "location": "attendance.csv",
            "fields": {
                "person_id": "Person",
                "session_id": "Session",
                "prep_hours": "Prep",
                "expenses_claimed": "Expenses",
            },
        },
        "payments": {
            "source": "exports",
            "location": "payments.csv",
            "fields": {"id": "ID", "person_id": "Person", "amount": "Amount", "date": "Date", "kind": "Type"},
        },
    },
}


def recipe() -> Recipe:
    return Recipe.model_validate(RECIPE)


def rows(data: Dataset) -> dict[Entity, list[Row]]:
    """Each record as a spreadsheet row of text (UK dates, amounts with £), row 1 the header."""

    def uk(d) -> str:  # noqa: ANN001
        return d.strftime("%d/%m/%Y")

    people = [
        Row(
            f"people.csv row {i + 2}",
            {
                "ID": p.id,
                "Role": "; ".join(sorted(r.value for r in p.roles)),
                "Payment": p.payment_preference.value if p.payment_preference else "",
                "Benefits": "yes" if p.benefits_opt_in else "no",
                "Ethnic group": p.demographics.get("ethnicity", ""),
                "Age band": p.demographics.get("age_band", ""),
            },
            str(i + 2),
        )
        for i, p in enumerate(data.people)
    ]
    projects = [
        Row(
            f"projects.csv row {i + 2}",
            {
                "ID": p.id,
                "Name": p.name,
                "Label": p.label.value,
                "Plan drafted": uk(p.plan_drafted) if p.plan_drafted else "",
            },
            str(i + 2),
        )
        for i, p in enumerate(data.projects)
    ]
    sessions = [
        Row(
            f"sessions.csv row {i + 2}",
            {
                "ID": s.id,
                "Project": s.project_id,
                "Date": uk(s.date),
                "Hours": str(s.hours),
                "Kind": s.kind.value.replace("_", " "),
                "Stage": s.stage.value if s.stage else "",
                "Decision": "yes" if s.decision_taken else "",
            },
            str(i + 2),
        )
        for i, s in enumerate(data.sessions)
    ]
    attendance = [
        Row(
            f"attendance.csv row {i + 2}",
            {
                "Person": a.person_id,
                "Session": a.session_id,
                "Prep": str(a.prep_hours) if a.prep_hours else "",
                "Expenses": f"£{a.expenses_claimed:.2f}" if a.expenses_claimed else "",
            },
            str(i + 2),
        )
        for i, a in enumerate(data.attendance)
    ]
    payments = [
        Row(
            f"payments.csv row {i + 2}",
            {
                "ID": p.id,
                "Person": p.person_id,
                "Amount": f"£{p.amount:,.2f}",
                "Date": uk(p.date),
                "Type": p.kind.value,
            },
            str(i + 2),
        )
        for i, p in enumerate(data.payments)
    ]
    return {
        Entity.PEOPLE: people,
        Entity.PROJECTS: projects,
        Entity.SESSIONS: sessions,
        Entity.ATTENDANCE: attendance,
        Entity.PAYMENTS: payments,
    }
