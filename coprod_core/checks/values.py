"""Values agreed at the start, and reassessed (check id ``values``).

**What it checks.** For a project labelled co-production:

- ``values.not_agreed``: there is no record that it agreed the values co-production requires (a
  charter, ground rules, principles) before its first decision (at a session held by the run date),
  or it agreed them only after that decision. Said only when the recipe maps the project's
  ``values_agreed`` field (or the project records a date): otherwise nothing is known.
- ``values.not_reviewed``: the values were last agreed or reassessed longer ago than a set number
  of days (default 180). Said only when the recipe maps ``values_reviewed`` (or the project records
  a review), and only once they were agreed.

**Why it matters.** Seed "Co-Production - It's about how you do it": "a commitment needs to be made
to adhere to the values that co-production requires, and then consistently reassess that they are
being honoured throughout the process"; without that, "a co-produced project can very quickly
descend into becoming another public service ... except this time there is a label attached to it
that makes it sound nice".

**What staff can do.** Agree the values together with the people in the voice roles before the next
decision, record the date, and set a date to reassess them together.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from coprod_core.checks.decisions import first_decisions, quoted
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import Dataset, Project, Rung, Session
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day

CHECK_ID = "values"

_SOURCE = """Seed "Co-Production - It's about how you do it" (the ALLIANCE, 2018); SCIE co-production
principles"""

NOT_AGREED = declare(
    "values.not_agreed",
    "Values not agreed before the first decision",
    Severity.WARNING,
    what="""A project labelled co-production has no record of agreeing its co-production values before
    its first decision (at a session held by the run date), or agreed them only after it.""",
    why="""Without a commitment to the values co-production requires, made at the start, a project slides
    back into an ordinary service with a nicer label.""",
    source=_SOURCE,
    action="""Agree the values (a charter, ground rules) together with the people in the voice roles
    before the next decision, and record the date.""",
    needs="The project's values_agreed date; silent when the recipe does not map it.",
)
NOT_REVIEWED = declare(
    "values.not_reviewed",
    "Values not reassessed",
    Severity.INFO,
    what="""A project labelled co-production last agreed or reassessed its values longer ago than the set
    number of days (default 180).""",
    why="""Values are honoured only if they are "consistently reassessed" together as the work goes
    on.""",
    source=_SOURCE,
    action="Reassess the values together with the people in the voice roles, and record the date.",
    needs="The project's values_reviewed date; silent when the recipe does not map it.",
)


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    projects = [p for p in dataset.projects if p.label is Rung.CO_PRODUCTION]
    agreed_kept = dataset.records("projects.values_agreed") or any(p.values_agreed for p in projects)
    reviews_kept = dataset.records("projects.values_reviewed") or any(p.values_reviewed for p in projects)
    if not projects or not (agreed_kept or reviews_kept):
        return []
    with collector_paused():
        first = first_decisions(dataset, run_date)
        flags: list[Flag] = []
        for project in sorted(projects, key=lambda p: p.id):
            if agreed_kept:
                flags.extend(_not_agreed(project, first.get(project.id), run_date))
            if reviews_kept:
                flags.extend(_not_reviewed(project, settings.values.review_within_days, run_date))
        return flags


def _seen(d: date | None, run_date: date) -> date | None:
    """A date that has happened by the run date (a date still to come is not a record yet)."""
    return d if d is not None and d <= run_date else None


def _not_agreed(project: Project, decision: Session | None, run_date: date) -> list[Flag]:
    if decision is None:
        return []  # no decision yet: there is still time
    agreed = _seen(project.values_agreed, run_date)
    if agreed is not None and agreed <= decision.date:
        return []
    if agreed is None:
        finding = "there is no record that it agreed the values co-production requires before then"
    else:
        finding = f"it agreed its co-production values only afterwards, on {day(agreed)}"
    message = (
        f"'{project.name}' is called co-production and took its first decision at the "
        f"{decision.label()}{quoted(decision)}, but {finding}. Agree the values (a charter, ground rules) together "
        "with the people taking part before the next decision, and record the date."
    )
    evidence: dict[str, Any] = {
        "values_agreed": agreed.isoformat() if agreed else None,
        "first_decision_session_id": decision.id,
        "first_decision_date": decision.date.isoformat(),
    }
    return [
        NOT_AGREED.flag(
            subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
            message=message,
            evidence=evidence,
            facts={"values_agreed": evidence["values_agreed"], "first_decision_session_id": decision.id},
            project_id=project.id,
        )
    ]


def _not_reviewed(project: Project, within: int, run_date: date) -> list[Flag]:
    agreed = _seen(project.values_agreed, run_date)
    reviewed = _seen(project.values_reviewed, run_date)
    last = max((d for d in (agreed, reviewed) if d is not None), default=None)
    if last is None:
        return []  # never agreed: values.not_agreed says so once there is a decision
    days = (run_date - last).days
    if days <= within:
        return []
    what = "reassessed" if reviewed is not None and reviewed == last else "agreed"
    message = (
        f"'{project.name}' last {what} its co-production values on {day(last)}, {count(days, 'day')} ago; "
        f"your settings ask for a reassessment every {count(within, 'day')}. Reassess them together with "
        "the people taking part: are they being honoured? Then record the date."
    )
    evidence: dict[str, Any] = {
        "values_agreed": agreed.isoformat() if agreed else None,
        "values_reviewed": reviewed.isoformat() if reviewed else None,
        "days_since": days,
        "review_within_days": within,
    }
    return [
        NOT_REVIEWED.flag(
            subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
            message=message,
            evidence=evidence,
            facts={"last": last.isoformat(), "review_within_days": within},
            project_id=project.id,
        )
    ]
