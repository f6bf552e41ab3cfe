"""You said, we did (check id ``feedback``): are people told how their input changed decisions?

**What it checks.** ``feedback.not_fed_back``: a session held by the run date where a decision was
taken after people in a voice role gave input to the project (they took part in it, or in an
earlier session of the project that was not only telling them things), with no feedback to them
recorded: no "fed back on" date on the decision's session, and no feedback-to-participants session
of the project held on or after the decision's day. It is raised once the set number of days
(default 30) has passed; before then the feedback is not due yet.

**Why it matters.** NHS England's 2022 guidance on working with people asks services to feed back
how people's input changed decisions, and IAP2's core values say that participants are told how
their input affected the decision. People who never hear what happened to their views stop giving
them, and a project that only takes views is consultation, not co-production.

**What staff can do.** Tell the people who gave input what was decided and how their views counted
("you said, we did"): at a feedback session, in a letter or newsletter. Record it: a date in the
session's "fed back on" field, or a session of the kind "feedback to participants".

**Data it reads.** Sessions' ``fed_back`` date and sessions of the kind
``feedback_to_participants``. When the recipe maps no ``fed_back`` field and there is no feedback
session anywhere in the data, nothing is known about feedback and the check says nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from coprod_core.checks.attendance import VoiceAttendance, voice_attendance
from coprod_core.checks.decisions import quoted
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import LISTENING_KINDS, Dataset, Session, SessionKind
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count
from coprod_core.voice import say

CHECK_ID = "feedback"

NOT_FED_BACK = declare(
    "feedback.not_fed_back",
    "Input not fed back",
    Severity.WARNING,
    what="""A decision was taken (at a session held by the run date) after people in a voice role gave
    input to the project (at that session, or at an earlier one of the project that was not only an
    information event or feedback to them), and more than the set number of days (default 30)
    later there is no feedback to them recorded: no "fed back on" date on the decision's session,
    and no feedback-to-participants session of the project on or after the decision's day.""",
    why="""People who never hear what happened to their views stop giving them; telling them how their
    input changed the decision ("you said, we did") is part of sharing power.""",
    source="NHS England 2022 guidance on working with people and communities; IAP2 core values",
    action="""Tell the people who gave input what was decided and how their views counted, then record it:
    a date in the session's "fed back on" field, or a "feedback to participants" session.""",
    needs="""Sessions' fed_back date, or sessions of the kind feedback_to_participants; silent when the
    recipe maps neither and no such session exists.""",
)


def _records_feedback(dataset: Dataset) -> bool:
    return dataset.records("sessions.fed_back") or any(
        s.kind is SessionKind.FEEDBACK_TO_PARTICIPANTS or s.fed_back is not None for s in dataset.sessions
    )


def run(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None = None
) -> list[Flag]:
    """A flag for every decision whose contributors were not told the outcome in time."""
    if not settings.voice_roles or not _records_feedback(dataset):
        return []
    with collector_paused():
        return _run(dataset, settings, run_date, voice)


def _run(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None
) -> list[Flag]:
    within = settings.feedback.within_days
    held: dict[str, list[Session]] = defaultdict(list)
    for s in dataset.sessions:
        if s.date <= run_date:
            held[s.project_id].append(s)
    # Only projects with a decision past its feedback time need their attendance read.
    due = {
        pid
        for pid, sessions in held.items()
        if any(s.decision_taken and (run_date - s.date).days > within for s in sessions)
    }
    if not due:
        return []
    at = voice_attendance(dataset, run_date, settings.voice_roles, voice)
    gave_input: dict[str, set[str]] = {
        s.id: set(at.people_at(s.id)) for pid in due for s in held[pid] if s.kind not in LISTENING_KINDS
    }
    """Session id -> voice-role people who took part in it (sessions of due projects that ask for input)."""
    flags: list[Flag] = []
    for pid in sorted(due):
        sessions = sorted(held[pid], key=lambda s: (s.date, s.id))
        feedback_days = [s.date for s in sessions if s.kind is SessionKind.FEEDBACK_TO_PARTICIPANTS]
        people: set[str] = set()
        inputs: list[Session] = []
        for s in sessions:
            if gave_input.get(s.id):
                people |= gave_input[s.id]
                inputs.append(s)
            if not s.decision_taken or not people:
                continue
            days = (run_date - s.date).days
            if days <= within or s.fed_back is not None:
                continue
            if any(d >= s.date for d in feedback_days):
                continue
            flags.append(_flag(s, sorted(people), inputs, days, within, settings))
    return flags


def _flag(
    s: Session, people: list[str], inputs: list[Session], days: int, within: int, settings: CheckSettings
) -> Flag:
    roles = settings.voice_roles
    message = (
        f"A decision was taken at the {s.label()}{quoted(s)} after {count(len(people), 'person', 'people')} "
        f"who {say(roles, 'is_one') if len(people) == 1 else say(roles, 'is_many')} gave their views, "
        f"but there is no record of telling them what was decided and how their views counted. "
        f"It is {count(days, 'day')} since; your settings ask for feedback within {count(within, 'day')}. "
        'Tell them ("you said, we did"), then record it: a date in the session\'s "fed back on" field, '
        "or a feedback session."
    )
    evidence: dict[str, Any] = {
        "session_id": s.id,
        "session_date": s.date.isoformat(),
        "decision": s.decision,
        "people_with_input": len(people),
        "input_session_ids": [i.id for i in inputs],
        "days_since_decision": days,
        "within_days": within,
        "fed_back": None,
        "feedback_sessions_after": 0,
    }
    return NOT_FED_BACK.flag(
        subject=Subject(kind=SubjectKind.SESSION, id=s.id),
        message=message,
        evidence=evidence,
        facts={"session_date": s.date.isoformat(), "within_days": within},
        project_id=s.project_id,
    )
