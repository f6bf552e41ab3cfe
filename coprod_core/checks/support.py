"""Support to take part as an equal (check id ``support``).

**What it checks.**

- ``support.no_training``: a person in a voice role who is on a project's decision-making group, or
  co-chairs it, with no training or support recorded: they attended no session of a support kind
  (default: training, peer support) held by the run date, and their record does not say they have
  support. Said only when the data records support at all (the recipe maps the person's
  ``supported`` field, or there is a session of a support kind): otherwise nothing is known.
- ``support.co_chair_isolated``: a co-chair in a voice role who takes part in none of the other
  meetings where the project's decisions are taken. The meetings are told apart by their kind
  (decision meeting, steering group...): the co-chair took part in at most one kind of the
  project's decision-taking meetings, and decisions were also taken in kinds they never attended.

**Why it matters.** Seed "The real reasons we still don't co-produce": people with lived
experience need "the support, training and networks that anyone else needs to be an effective
decision maker"; and the carer who co-chairs a strategic group but is "not networked in to other
strategic groups ... always reliant on the professionals ... very little support". A seat at the
table without support or a way into the other rooms leaves the power where it was.

**What staff can do.** Offer training, a peer support network or a mentor, and record it; invite
the co-chair into the other meetings where decisions are taken, or bring those decisions to the
group they co-chair.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from coprod_core.checks.attendance import VoiceAttendance, voice_attendance
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import KIND_WORDS, Dataset, Person, Project, Session, SessionKind
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day, join
from coprod_core.voice import say

CHECK_ID = "support"

_SOURCE = 'Seed "The real reasons we still don\'t co-produce" (support, training and networks); SCIE'

NO_TRAINING = declare(
    "support.no_training",
    "No training or support recorded",
    Severity.WARNING,
    what="""A person in a voice role on a project's decision-making group, or one of its co-chairs, has no
    training or support recorded: they attended no session of a support kind (default training or
    peer support) by the run date, and their record does not say they have support.""",
    why="""People with lived experience need the support, training and networks that anyone needs to be
    an effective decision maker; a seat at the table without them is a seat, not a share of power.""",
    source=_SOURCE,
    action="""Offer training, a peer support network or a mentor for their part in decisions, and record
    it: a training or peer support session they attend, or "supported" on their record.""",
    needs="""The decision group or co-chairs (project fields), and people's supported field or sessions
    of a support kind; silent when the data records support nowhere.""",
)
CO_CHAIR_ISOLATED = declare(
    "support.co_chair_isolated",
    "Co-chair outside the other decision meetings",
    Severity.WARNING,
    what="""A co-chair in a voice role takes part in at most one kind of the project's decision-taking
    meetings (decision meeting, steering group...), while its decisions are also taken in kinds of
    meeting they never attended.""",
    why="""A co-chair who is "not networked in to other strategic groups" relies on professionals to take
    things forward: the title is shared, the power is not.""",
    source=_SOURCE,
    action="""Invite them into the other meetings where the project's decisions are taken, or bring those
    decisions to the group they co-chair, with support to take part.""",
    needs="The project's co-chairs (person IDs); silent when they are not recorded.",
)


_PLURALS = {
    SessionKind.FEEDBACK_ON_DRAFT: "sessions of feedback on drafts",
    SessionKind.FEEDBACK_TO_PARTICIPANTS: "feedback sessions",
}


def _plural(kind: SessionKind) -> str:
    return _PLURALS.get(kind) or f"{KIND_WORDS[kind]}s"


def _records_support(dataset: Dataset, kinds: frozenset[SessionKind]) -> bool:
    return (
        dataset.records("people.supported")
        or any(p.supported is not None for p in dataset.people)
        or any(s.kind in kinds for s in dataset.sessions)
    )


def run(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None = None
) -> list[Flag]:
    roles = settings.voice_roles
    if not roles or not any(p.decision_group or p.co_chairs for p in dataset.projects):
        return []
    with collector_paused():
        return _run(dataset, settings, run_date, voice)


def _run(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None
) -> list[Flag]:
    roles = settings.voice_roles
    kinds = settings.support.support_kinds
    people = dataset.people_by_id()
    at = voice_attendance(dataset, run_date, roles, voice)
    in_voice = set(at.voice_ids)
    watched = {m for p in dataset.projects for m in (*p.decision_group, *p.co_chairs) if m in in_voice}
    held = {s.id: s for s in dataset.sessions if s.date <= run_date}
    attended: dict[str, set[str]] = defaultdict(set)
    """Person id -> held sessions they attended (watched people only)."""
    for sid in held:
        for pid in watched.intersection(at.people_at(sid)):
            attended[pid].add(sid)
    sessions_of: dict[str, list[Session]] = defaultdict(list)
    for s in held.values():
        sessions_of[s.project_id].append(s)

    check_support = _records_support(dataset, kinds)
    flags: list[Flag] = []
    for project in sorted(dataset.projects, key=lambda p: p.id):
        if check_support:
            flags.extend(_no_training(project, people, in_voice, attended, held, kinds, roles))
        flags.extend(_isolated(project, people, in_voice, attended, sessions_of[project.id], roles))
    return flags


def _no_training(
    project: Project,
    people: dict[str, Person],
    voice: set[str],
    attended: dict[str, set[str]],
    held: dict[str, Session],
    kinds: frozenset[SessionKind],
    roles: frozenset[Any],
) -> list[Flag]:
    group, chairs = set(project.decision_group), set(project.co_chairs)
    flags: list[Flag] = []
    for pid in sorted((group | chairs) & voice):
        person = people[pid]
        support_sessions = sorted(sid for sid in attended.get(pid, ()) if held[sid].kind in kinds)
        if person.supported or support_sessions:
            continue
        parts = []
        if pid in group:
            parts.append(f"on the decision-making group of '{project.name}'")
        if pid in chairs:
            parts.append(f"a co-chair of '{project.name}'" if not parts else "co-chairs it")
        where = join(parts)
        recorded = (
            "their record says they have none"
            if person.supported is False
            else f"they have attended no {join([KIND_WORDS[k] for k in SessionKind if k in kinds], 'or')}"
        )
        message = (
            f"{person.label()} is {where}, but no training or support for that part is recorded: "
            f"{recorded}. {say(roles, 'people').capitalize()} need the support, training and networks "
            "anyone needs to be an effective decision maker. Offer training, peer support or a mentor, "
            'and record it (a training or peer support session they attend, or "supported" on their '
            "record)."
        )
        in_project = sorted(
            ({"decision_group"} if pid in group else set()) | ({"co_chair"} if pid in chairs else set())
        )
        flags.append(
            NO_TRAINING.flag(
                subject=Subject(kind=SubjectKind.PERSON, id=pid),
                message=message,
                evidence={
                    "project_id": project.id,
                    "in_project": in_project,
                    "supported": person.supported,
                    "support_sessions_attended": 0,
                    "support_kinds": sorted(k.value for k in kinds),
                },
                identity={"project_id": project.id},
                facts={"project_id": project.id, "in_project": in_project},
                project_id=project.id,
            )
        )
    return flags


def _isolated(
    project: Project,
    people: dict[str, Person],
    voice: set[str],
    attended: dict[str, set[str]],
    sessions: list[Session],
    roles: frozenset[Any],
) -> list[Flag]:
    chairs = [pid for pid in dict.fromkeys(project.co_chairs) if pid in voice]
    decisions: dict[SessionKind, list[Session]] = defaultdict(list)
    for s in sorted(sessions, key=lambda s: (s.date, s.id)):
        if s.decision_taken:
            decisions[s.kind].append(s)
    if not chairs or not decisions:
        return []
    kinds_of = {s.id: s.kind for s in sessions}
    flags: list[Flag] = []
    for pid in sorted(chairs):
        theirs = {kinds_of[sid] for sid in attended.get(pid, ()) if sid in kinds_of}
        joined = theirs & set(decisions)
        others = sorted((k for k in decisions if k not in theirs), key=lambda k: k.value)
        if not others or len(joined) > 1:
            continue
        described = []
        for k in others:
            held = decisions[k]
            latest = held[-1].date
            when = f"on {day(latest)}" if len(held) == 1 else f"the latest on {day(latest)}"
            described.append(f"the {_plural(k)} ({count(len(held), 'decision')}, {when})")
        none_or_other = "none of the meetings" if not joined else "none of the other meetings"
        message = (
            f"{people[pid].label()} co-chairs '{project.name}', but takes part in {none_or_other} where its "
            f"decisions are taken: {join(described)}. A co-chair who is not part of those meetings relies "
            "on staff to take things forward. Invite them in, or bring those decisions to the group they "
            "co-chair, with the support to take part."
        )
        flags.append(
            CO_CHAIR_ISOLATED.flag(
                subject=Subject(kind=SubjectKind.PERSON, id=pid),
                message=message,
                evidence={
                    "project_id": project.id,
                    "their_decision_meetings": sorted(k.value for k in joined),
                    "other_decision_meetings": {
                        k.value: {
                            "decisions": len(decisions[k]),
                            "session_ids": [s.id for s in decisions[k]],
                            "latest": decisions[k][-1].date.isoformat(),
                        }
                        for k in others
                    },
                    "voice_roles": sorted(r.value for r in roles),
                },
                identity={"project_id": project.id},
                facts={"project_id": project.id, "other_decision_meetings": [k.value for k in others]},
                project_id=project.id,
            )
        )
    return flags
