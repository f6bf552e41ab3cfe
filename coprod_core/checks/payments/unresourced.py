"""``payments.unresourced`` and ``payments.no_policy``: time given where the policy says nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import date

from coprod_core.checks.payments.rules import NO_POLICY, UNRESOURCED
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.model import KIND_WORDS, Dataset, PaymentPolicy, Session
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day
from coprod_core.voice import say


def unresourced_flags(
    voice: dict[str, set[str]], sessions: dict[str, Session], policy: PaymentPolicy, settings: CheckSettings
) -> list[Flag]:
    """``voice``: willing voice-role attenders of held sessions, in the policy's time, of kinds without a
    rate in the policy in force on the session's date."""
    flags: list[Flag] = []
    for session_id in sorted(voice):
        session = sessions[session_id]
        people_ids = sorted(voice[session_id])
        kind_words = KIND_WORDS[session.kind]
        its = policy.terms_on(session.date)  # the policy in force on the session's date
        source = f" ({its.source})" if its.source else ""
        later = _covered_later(policy, session)
        then = f" on its date (a later change covers it from {day(later)})" if later else ""
        message = (
            f"{say(settings.voice_roles, 'people').capitalize()} took part in the {session.label()} "
            f"({count(len(people_ids), 'person', 'people')}), but your payment policy{source} has no rate "
            f"for a {kind_words}{then}, so nobody can tell what they are owed for it. Add a rate for this "
            "kind of session to the policy, or record how their time was recognised."
        )
        flags.append(
            UNRESOURCED.flag(
                subject=Subject(kind=SubjectKind.SESSION, id=session.id),
                title="Session kind not in payment policy",
                message=message,
                evidence={
                    "session_id": session.id,
                    "session_date": session.date.isoformat(),
                    "session_kind": session.kind.value,
                    "person_ids": people_ids,
                    "policy_source": its.source,
                    "rated_kinds": sorted(k.value for k in its.rates),
                    **({"covered_from": later.isoformat()} if later else {}),
                },
                identity={},
                facts={"session_kind": session.kind.value, "person_ids": people_ids},
                project_id=session.project_id,
            )
        )
    return flags


def _covered_later(policy: PaymentPolicy, session: Session) -> date | None:
    """The first date after the session from which a change gives its kind a rate (None: none
    does, or the policy never changes): staff reading "no rate for a survey" beside a policy that
    has one now are told it came later."""
    if not policy.changes:
        return None
    for period in policy.periods():
        if period.start is not None and period.start > session.date and session.kind in period.policy.rates:
            return period.start
    return None


def no_policy_flags(
    voice: Mapping[str, Collection[str]], dataset: Dataset, settings: CheckSettings
) -> list[Flag]:
    """``voice``: the people in a voice role at each session held by the run date
    (:func:`~coprod_core.checks.payments.ledger.scan_without_policy`)."""
    sessions = dataset.sessions_by_id()
    projects = dataset.projects_by_id()
    by_project: dict[str, dict[str, Collection[str]]] = defaultdict(dict)
    for session_id, people_ids in voice.items():
        by_project[sessions[session_id].project_id][session_id] = people_ids
    flags: list[Flag] = []
    for project_id in sorted(by_project):
        held = by_project[project_id]
        attenders = sorted(set().union(*held.values()))
        dates = sorted(sessions[s].date for s in held)
        project = projects.get(project_id)
        name = f"'{project.name}'" if project else f"Project {project_id}"
        message = (
            f"{name} has no payment policy in coprod, but {say(settings.voice_roles, 'people')} have taken "
            f"part: {count(len(attenders), 'person', 'people')} in {count(len(held), 'session')} since "
            f"{day(dates[0])}. Without one nobody can tell whether they have been paid for their time, "
            "as NIHR and NHS England guidance expect. Add the project's payment policy to its recipe: "
            "a rate per hour for each kind of session, any minimum paid time, and how soon people are paid."
        )
        flags.append(
            NO_POLICY.flag(
                subject=Subject(kind=SubjectKind.PROJECT, id=project_id),
                title="No payment policy",
                message=message,
                evidence={
                    "session_ids": sorted(held),
                    "person_ids": attenders,
                    "first_session_date": dates[0].isoformat(),
                    "latest_session_date": dates[-1].isoformat(),
                },
                identity={},
                facts={"has_voice_attendance": True},
                project_id=project_id,
            )
        )
    return flags
