"""Time to recruit people easy to ignore (check id ``recruitment``).

**What it checks.** ``recruitment.rushed``: for a project labelled co-production or co-design, its
first decision (at a session held by the run date) was taken fewer than a set number of days
(default 28) after recruitment opened (a project field; this part says nothing when it is not
recorded), or while fewer people in a voice role than a setting asks for (default 3) had joined:
taken part in a session of the project on or before the day of that decision.

**Why it matters.** Seed "Co-Production - It's about how you do it": "give the project enough time
for a robust recruitment period that allows for all stakeholders to be included and with the
necessary representation"; the people easiest to ignore are the first to be left out of a rushed
start, and "a scramble for bums on seats" (seed "Co Production Week 2020") decides who is heard.

**What staff can do.** Give recruitment time before the first decision, reach the people easy to
ignore where they are, and take early decisions back to the group once it has formed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from coprod_core.checks.attendance import VoiceAttendance, voice_attendance
from coprod_core.checks.decisions import first_decisions, quoted
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import Dataset, Project, Role, Rung, Session
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day
from coprod_core.voice import anyone, say

CHECK_ID = "recruitment"

JUDGED_LABELS: frozenset[Rung] = frozenset({Rung.CO_PRODUCTION, Rung.CO_DESIGN})
"""Labels that claim people shape decisions, and so need them recruited before deciding."""

RUSHED = declare(
    "recruitment.rushed",
    "First decision before recruitment had time",
    Severity.WARNING,
    what="""A project labelled co-production or co-design took its first decision (at a session held by
    the run date) fewer than the set number of days (default 28) after recruitment opened, or while
    fewer people in a voice role than the setting asks for (default 3) had taken part in any of its
    sessions on or before that day.""",
    why="""A rushed start leaves out the people easiest to ignore; a robust recruitment period lets
    everyone be included, with the representation the project needs.""",
    source="""Seed "Co-Production - It's about how you do it" (the ALLIANCE, 2018); seed "Co Production
    Week 2020" (a scramble for bums on seats)""",
    action="""Give recruitment time before the first decision, reach the people easy to ignore where they
    are (community groups, interpreters, another time or place), and take early decisions back to
    the group once it has formed.""",
    needs="""The project's recruitment_opened date for the first part (silent without it); the count of
    people who joined needs only attendance.""",
)


def run(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None = None
) -> list[Flag]:
    projects = [p for p in dataset.projects if p.label in JUDGED_LABELS]
    if not projects:
        return []
    with collector_paused():
        return _run(dataset, projects, settings, run_date, voice)


def _run(
    dataset: Dataset,
    projects: list[Project],
    settings: CheckSettings,
    run_date: date,
    voice: VoiceAttendance | None,
) -> list[Flag]:
    first = first_decisions(dataset, run_date, {p.id for p in projects})
    if not first:
        return []
    at = voice_attendance(dataset, run_date, settings.voice_roles, voice)
    joined: dict[str, set[str]] = {pid: set() for pid in first}
    for s in dataset.sessions:
        decision = first.get(s.project_id)
        if decision is not None and s.date <= decision.date:
            joined[s.project_id].update(at.people_at(s.id))
    flags: list[Flag] = []
    for project in sorted(projects, key=lambda p: p.id):
        decision = first.get(project.id)
        if decision is not None:
            flag = _judge(project, decision, len(joined[project.id]), len(dataset.removed_people), settings)
            if flag is not None:
                flags.append(flag)
    return flags


def _judge(
    project: Project, decision: Session, joined: int, removed: int, settings: CheckSettings
) -> Flag | None:
    """The flag for a project's first decision, if it came too soon or too few had joined.

    ``removed``: people coprod knew who are no longer in the people list. Whether they had joined by
    then, in a voice role, would need their role and attendance, which coprod must not keep (and the
    charity was asked to delete): they are not counted, and the message says so where they could
    have made up the difference (:func:`_removed_words`)."""
    rs = settings.recruitment
    roles = settings.voice_roles
    opened = project.recruitment_opened
    days = (decision.date - opened).days if opened is not None else None
    too_soon = days is not None and days < rs.min_days
    too_few = bool(roles) and joined < rs.min_voice_joined
    if not (too_soon or too_few):
        return None
    findings: list[str] = []
    if too_soon and opened is not None and days is not None:
        if days < 0:
            findings.append(f"Recruitment only opened afterwards, on {day(opened)}.")
        else:
            findings.append(
                f"That was {count(days, 'day')} after recruitment opened on {day(opened)}; your settings "
                f"allow at least {count(rs.min_days, 'day')}."
            )
    if too_few:
        had = (
            anyone(roles, "Nobody")
            if joined == 0
            else f"Only {count(joined, 'person', 'people')} who {say(roles, 'is_one' if joined == 1 else 'is_many')}"
        )
        findings.append(
            f"{had} had taken part by then; your settings ask for at least {rs.min_voice_joined}."
        )
        if removed:
            findings.append(_removed_words(removed, rs.min_voice_joined - joined, roles))
    message = (
        f"'{project.name}' took its first decision at the {decision.label()}{quoted(decision)}. {' '.join(findings)} "
        "People easy to ignore are the first left out of a rushed start. Give recruitment time before "
        "deciding, reach people where they are, and take this decision back to the group once it has "
        "formed."
    )
    evidence: dict[str, Any] = {
        "first_decision_session_id": decision.id,
        "first_decision_date": decision.date.isoformat(),
        "recruitment_opened": opened.isoformat() if opened else None,
        "days_after_opening": days,
        "min_days": rs.min_days,
        "voice_joined": joined,
        "min_voice_joined": rs.min_voice_joined,
        "voice_roles": sorted(r.value for r in roles),
    }
    if too_few and removed:
        # evidence, not facts: a deletion elsewhere must not change what an answered flag says
        evidence["removed_from_people_list"] = removed
    return RUSHED.flag(
        subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
        message=message,
        evidence=evidence,
        facts={
            "first_decision_session_id": decision.id,
            "too_soon": too_soon,
            "too_few": too_few,
            "voice_joined": joined,
        },
        project_id=project.id,
    )


def _removed_words(removed: int, short: int, roles: frozenset[Role]) -> str:
    """What a too-few finding says of the ``removed`` people no longer in the people list, when
    ``short`` more were needed: coprod cannot count them, and whether they could have made it up."""
    who = f"{count(removed, 'person', 'people')} coprod knew {'has' if removed == 1 else 'have'} been removed"
    if removed < short:
        return (
            f"{who} from the people list; coprod keeps nothing about them, but even had "
            f"{'they' if removed == 1 else 'all of them'} taken part by then there would not have been enough."
        )
    they = "that person" if removed == 1 else "one of them" if short == 1 else f"{short} of them"
    # that person has / one of them has, 2 of them have ("they have ... or are carers" of one person)
    are = say(roles, "is_many" if removed > 1 and short > 1 else "is_one")
    return (
        f"{who} from the people list, and coprod keeps nothing about them, not their role nor "
        f"when they took part, so it cannot count them: if {they} took part by then and {are}, there "
        "were enough, and this flag comes from the deletion, not from a rushed start."
    )
