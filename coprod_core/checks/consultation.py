"""Consultation mislabelled as co-production (check id ``consultation``).

**What it checks.** For every project that calls itself co-production or co-design, it judges the
recorded sessions against five criteria and places the project on the TLAP ladder from the
evidence alone:

- *from the start*: people in the voice roles (lived experience, carers) took part on or before the
  day the plan was drafted, and no decision was taken without them before they joined;
- *beyond feedback*: no more than a set share of their time (default half) went on consult-type
  sessions: surveys, feedback on drafts, focus groups, information events;
- *shared decisions*: a decision was taken in a session they attended, or one of them co-chairs;
- *across stages*: they took part in every stage the project has reached (design, planning,
  delivery, evaluation); a stage not reached yet is not a failure;
- *reciprocity*: there is a payment policy and everyone eligible was offered payment.

No voice attendance places it at *none*; information events only at *informing*; failing *beyond
feedback* at *consultation*; failing *shared decisions* at *engagement*; failing any of the other
three at *co-design*; passing all five at *co-production*. Evidence that is missing is *unknown*:
it does not lift the project (nothing is guessed) and the message says it is missing, not failed.
A flag ``consultation.mislabelled`` is raised when the label is higher than the evidence.

**Why it matters.** Think Local Act Personal's ladder of co-production calls consultation without
power to influence tokenistic; co-design shares design but not delivery or strategic decisions;
co-production is an equal relationship from design to delivery. NHS England's 2022 guidance asks
for people to be involved at the start, before plans exist, and SCIE's principles add reciprocity:
people are paid or otherwise recognised for their time (NIHR / NHS England payment guidance).
"If you've already come up with the plans, it's not co-production."

**What staff can do.** Bring people with lived experience in before the next plan or decision,
move their time from giving feedback to designing and deciding, take decisions in meetings they
attend (or invite one of them to co-chair), involve them in every stage reached, record a payment
policy and offer payment; record what is missing (the date the plan was drafted, each session's
stage, payment preferences). Or describe the project by the rung the evidence supports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

from coprod_core.checks.attendance import VoiceAttendance, voice_attendance
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import (
    CONSULT_KINDS,
    LISTENING_KINDS,
    STAGE_ORDER,
    Dataset,
    PaymentPreference,
    Person,
    Project,
    Role,
    Rung,
    Session,
    SessionKind,
    Stage,
)
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day, hours, isolated, join, percent, plain
from coprod_core.voice import anyone, say

_ZERO = Decimal(0)

CHECK_ID = "consultation"
MISLABELLED = declare(
    "consultation.mislabelled",
    "Called co-production, evidence shows less",
    Severity.WARNING,
    what="""A project labelled co-production or co-design whose evidence places it lower on the ladder.
    Five criteria: from the start (people in a voice role took part by the day the plan was drafted,
    or the project records that no plan came before them, or, with neither recorded, they were at its
    first recorded session; and no decision was taken before they joined); beyond feedback (at most
    half their hours in surveys, feedback on drafts, focus groups or information events; a register
    row giving more hours than its session lasted, data_quality.hours_over_session, counts only up to
    the session's length and hours_over_session_allowed, and the evidence lists those sessions with
    the hours recorded and counted); shared
    decisions (a decision taken in a session they attended, or a voice-role co-chair); across stages
    (present in every stage reached); reciprocity (a payment policy, and everyone eligible offered
    payment). Unknown evidence is said as unknown, never guessed.""",
    why="""Consultation without the power to influence is tokenistic; co-design shares design but not
    delivery or strategic decisions; co-production is an equal relationship from the start. "If
    you've already come up with the plans, it's not co-production" (seed text).""",
    source="""TLAP ladder of co-production; NHS England 2022 guidance (involve people at the start,
    before plans exist); SCIE principles (reciprocity); seed "The real reasons we still don't
    co-produce".""",
    action="""Bring people in before the next plan or decision, move their time from feedback to
    designing and deciding, take decisions in meetings they attend, involve them in every stage,
    offer payment; record what is missing (the plan date, or that no plan came first; each
    session's stage; payment preferences). Or describe the project by the rung the evidence
    supports.""",
    severity_note="info when only missing evidence keeps it below its label; critical two or more rungs below",
)

JUDGED_LABELS: frozenset[Rung] = frozenset({Rung.CO_PRODUCTION, Rung.CO_DESIGN})
"""Only these labels claim shared power; a project calling itself consultation claims nothing more."""

FROM_THE_START = "from_the_start"
BEYOND_FEEDBACK = "beyond_feedback"
SHARED_DECISIONS = "shared_decisions"
ACROSS_STAGES = "across_stages"
RECIPROCITY = "reciprocity"

CRITERIA: tuple[str, ...] = (FROM_THE_START, BEYOND_FEEDBACK, SHARED_DECISIONS, ACROSS_STAGES, RECIPROCITY)

RUNG_NEEDS: dict[Rung, tuple[str, ...]] = {
    Rung.ENGAGEMENT: (BEYOND_FEEDBACK,),
    Rung.CO_DESIGN: (SHARED_DECISIONS,),
    Rung.CO_PRODUCTION: (FROM_THE_START, ACROSS_STAGES, RECIPROCITY),
}
"""The criteria a project must pass to reach each rung, on top of those of the rungs below it."""


class Result(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    NOT_REACHED = "not_reached"
    """Nothing to judge yet (a stage the project has not reached): counts as a pass."""

    @property
    def passes(self) -> bool:
        return self in (Result.PASS, Result.NOT_REACHED)


class Criterion(NamedTuple):
    """One criterion's result, the numbers behind it, and the words the flag message uses."""

    name: str
    result: Result
    numbers: dict[str, Any]
    finding: str = ""
    """What failed, or what is missing, in plain English ('' when it passes)."""
    finding_isolated: str = ""
    """``finding`` with each piece of the charity's own words in it (a decision's wording, a
    session's title) marked by :func:`~coprod_core.text.isolated`, for a report, where a
    right-to-left title must not reorder the sentence around it; '' when the finding quotes none.
    A flag's message takes ``finding``, as typed."""
    action: str = ""
    """What staff can do about it ('' when it passes)."""
    basis: str = ""
    """What a pass rests on, in plain English, when that is not plain from the numbers alone."""

    def evidence(self) -> dict[str, Any]:
        return {"result": self.result.value, **self.numbers}


class Assessment(NamedTuple):
    """Where the evidence places one project on the ladder, and why."""

    project_id: str
    project_name: str
    label: Rung
    rung: Rung
    criteria: dict[str, Criterion]
    voice_sessions: int
    """Sessions held so far with at least one person in a voice role."""

    def result(self, name: str) -> Result:
        return self.criteria[name].result

    @property
    def relevant(self) -> tuple[str, ...]:
        """The criteria that stand between the evidence and the project's own label."""
        needed = {n for rung, names in RUNG_NEEDS.items() if rung.rank <= self.label.rank for n in names}
        return tuple(n for n in CRITERIA if n in needed)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(n for n in self.relevant if self.criteria[n].result is Result.FAIL)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(n for n in self.relevant if self.criteria[n].result is Result.UNKNOWN)

    @property
    def rung_if_unknowns_pass(self) -> Rung:
        """The rung if every unknown criterion turned out to pass: what the failures alone allow."""
        return _place(self.voice_sessions, self._only_information, self.criteria, unknown_passes=True)

    @property
    def _only_information(self) -> bool:
        return bool(self.criteria[BEYOND_FEEDBACK].numbers.get("only_information_events"))

    @property
    def mislabelled(self) -> bool:
        return self.label in JUDGED_LABELS and self.label.rank > self.rung.rank

    def evidence(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "label": self.label.value,
            "rung": self.rung.value,
            "voice_sessions": self.voice_sessions,
            "criteria": {name: c.evidence() for name, c in self.criteria.items()},
        }

    def placement(self) -> dict[str, Any]:
        """Where the project stands, for a report or a dashboard: the flag's evidence, plus whether it
        is flagged, which criteria its label needs, and each criterion's words (what failed or is
        missing, or what a pass rests on)."""
        relevant = set(self.relevant)
        criteria: dict[str, Any] = {}
        for name, c in self.criteria.items():
            words = {"finding": c.finding, "action": c.action} if c.finding else {}
            if c.basis:
                words["basis"] = c.basis
            criteria[name] = {**c.evidence(), "needed_for_label": name in relevant, **words}
        return {
            "project_id": self.project_id,
            "project_name": self.project_name,
            "label": self.label.value,
            "rung": self.rung.value,
            "flagged": self.mislabelled,
            "voice_sessions": self.voice_sessions,
            "criteria": criteria,
        }


# --- words -------------------------------------------------------------------------------------

_KIND_ONE: dict[SessionKind, str] = {
    SessionKind.SURVEY: "a survey",
    SessionKind.FEEDBACK_ON_DRAFT: "feedback on a draft",
    SessionKind.FOCUS_GROUP: "a focus group",
    SessionKind.INFORMATION_EVENT: "an information event",
    SessionKind.FEEDBACK_TO_PARTICIPANTS: "feedback to participants",
}
_KIND_MANY: dict[SessionKind, str] = {
    SessionKind.SURVEY: "surveys",
    SessionKind.FEEDBACK_ON_DRAFT: "feedback on drafts",
    SessionKind.FOCUS_GROUP: "focus groups",
    SessionKind.INFORMATION_EVENT: "information events",
    SessionKind.FEEDBACK_TO_PARTICIPANTS: "feedback to participants",
}


def _capital(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}"


def _sentence(text: str) -> str:
    """'the plan was drafted ...' -> 'The plan was drafted ....': one finding, one sentence."""
    return f"{_capital(text)}."


def _num(h: Decimal) -> str:
    return format(h.normalize(), "f")


def _was(n: int) -> str:
    return "was" if n == 1 else "were"


# --- the facts of one project -----------------------------------------------------------------


PERSON_ID = attrgetter("person_id")
"""A payment's person, read in C for each of the 50,000 payments at 1x."""


@dataclass(frozen=True, eq=False)  # never compared: its __eq__ would only cost start-up
class _Index:
    """The dataset arranged for the check, built once per run, so that row order never matters."""

    people: dict[str, Person]
    sessions_by_project: dict[str, list[Session]]
    """Each project's sessions held by the run date, oldest first."""
    voice_hours: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> hours they gave it (held sessions with any), a row above
    its session's length counted only up to the length and allowance (:class:`VoiceAttendance`)."""
    over: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> the hours their row gave where ``voice_hours`` counts less."""
    paid_people: frozenset[str]
    _with_roles: dict[frozenset[Role], frozenset[str]] = field(default_factory=dict)
    _preferring: dict[frozenset[PaymentPreference | None], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        dataset: Dataset,
        run_date: date,
        settings: CheckSettings,
        voice: VoiceAttendance | None = None,
    ) -> _Index:
        """The sessions held by each project, and voice-role attendance (``voice``, or one pass over
        the attendance rows), its hours capped with the same allowance as the payments check's
        ``data_quality.hours_over_session``."""
        sessions: dict[str, list[Session]] = defaultdict(list)
        for s in dataset.sessions:
            if s.date <= run_date:  # a session after the run date has not happened yet
                sessions[s.project_id].append(s)
        for items in sessions.values():
            items.sort(key=lambda s: (s.date, s.id))
        allowed = settings.data_quality.hours_over_session_allowed
        at = voice_attendance(dataset, run_date, settings.voice_roles, voice, allowed)
        return cls(
            people=dataset.people_by_id(),
            sessions_by_project=dict(sessions),
            voice_hours=at.hours,
            over=at.over,
            paid_people=frozenset(map(PERSON_ID, dataset.payments)),
        )

    def with_roles(self, roles: frozenset[Role]) -> frozenset[str]:
        """Ids of the people holding any of ``roles``, worked out once per run."""
        found = self._with_roles.get(roles)
        if found is None:
            found = self._with_roles[roles] = frozenset(
                pid for pid, p in self.people.items() if p.has_any_role(roles)
            )
        return found

    def preferring(self, preferences: frozenset[PaymentPreference | None]) -> frozenset[str]:
        """Ids of the people whose payment preference is one of ``preferences`` (None: none
        recorded), worked out once per run: each project's criterion then takes sets apart rather
        than asking each of its people (thousands, in twenty projects at 1x)."""
        found = self._preferring.get(preferences)
        if found is None:
            found = self._preferring[preferences] = frozenset(
                pid for pid, p in self.people.items() if p.payment_preference in preferences
            )
        return found


class _Over(NamedTuple):
    """A session where voice-role register rows gave more hours than it lasted (and the allowance):
    ``data_quality.hours_over_session`` flags them, and the share of time counts less."""

    session: Session
    people: int
    """People whose rows gave more (a person's repeated rows are one, the larger)."""
    recorded: Decimal
    """Their hours as recorded (the larger of a person's repeated rows)."""
    counted: Decimal
    """Their hours as counted: each the session's length and the allowance."""

    def evidence(self) -> dict[str, Any]:
        return {
            "session_id": self.session.id,
            "session_hours": self.session.hours,
            "people": self.people,
            "hours_recorded": self.recorded,
            "hours_counted": self.counted,
        }


@dataclass(eq=False)  # never compared: its __eq__ would only cost start-up
class _Voice:
    """Voice-role attendance at one project's sessions held so far."""

    sessions: list[Session]
    """Every session of the project held so far, by date."""
    voice_in: dict[str, set[str]]
    """Session id -> ids of voice-role people who attended it (only sessions with any)."""
    voice_hours: dict[str, Decimal]
    """Session id -> voice-role person-hours at it."""
    over: list[_Over] = field(default_factory=list)
    """The sessions, by date, where voice-role rows gave more hours than the session lasted."""

    @property
    def first(self) -> date | None:
        dates = [s.date for s in self.sessions if s.id in self.voice_in]
        return min(dates) if dates else None

    @property
    def attended(self) -> list[Session]:
        return [s for s in self.sessions if s.id in self.voice_in]

    @property
    def people(self) -> set[str]:
        return set().union(*self.voice_in.values()) if self.voice_in else set()


def _voice(project: Project, index: _Index) -> _Voice:
    sessions = index.sessions_by_project.get(project.id, [])
    voice_in: dict[str, set[str]] = {}
    voice_hours: dict[str, Decimal] = {}
    over: list[_Over] = []
    for s in sessions:
        per_person = index.voice_hours.get(s.id)
        if per_person:
            voice_in[s.id] = set(per_person)
            # Plain, so 2 and 2.0 (equal, whichever of a repeated row was kept) read the same.
            voice_hours[s.id] = plain(sum(per_person.values(), _ZERO))
            recorded = index.over.get(s.id) if index.over else None
            if recorded:
                counted = sum((per_person[pid] for pid in recorded), _ZERO)
                over.append(_Over(s, len(recorded), plain(sum(recorded.values(), _ZERO)), plain(counted)))
    return _Voice(sessions=sessions, voice_in=voice_in, voice_hours=voice_hours, over=over)


# --- the five criteria ------------------------------------------------------------------------


def _as_typed(text: str) -> str:
    return text


def _decision_words(s: Session, quote: Callable[[str], str] = _as_typed) -> str:
    """'the budget (budget meeting on 20 February 2026)': mid-sentence, so 'The budget' loses its capital.
    ``quote``: what the charity's words (the decision, the title) are passed through."""
    if not s.decision:
        return s.label(quote)
    what = s.decision
    if what[:2].istitle():  # 'The budget' but not 'NHS contract'
        what = what[0].lower() + what[1:]
    return f"{quote(what)} ({s.label(quote)})"


def _from_the_start(project: Project, v: _Voice, roles: frozenset[Role]) -> Criterion:
    """Judged on the plan date when there is one; else on the record that no plan came first; else
    on the sessions themselves: people in the voice roles at the project's first recorded session,
    with no decision taken before they first took part, were there from the start."""
    first = v.first
    numbers: dict[str, Any] = {
        "plan_drafted": project.plan_drafted,
        "no_plan_before": project.no_plan_before,
        "first_session": v.sessions[0].date if v.sessions else None,
        "first_voice_session": first,
    }
    if first is None:
        numbers["sessions_held"] = len(v.sessions)
        where = f"any of its {count(len(v.sessions), 'session')}" if v.sessions else "any session so far"
        return Criterion(
            FROM_THE_START,
            Result.FAIL,
            numbers,
            finding=f"{anyone(roles, 'nobody')} has taken part in {where}",
            action=f"invite {anyone(roles)} to join before anything more is planned or decided",
        )
    earlier = [s for s in v.sessions if s.decision_taken and s.id not in v.voice_in and s.date < first]
    before = [s for s in v.sessions if s.date < first]
    numbers["decisions_before_them"] = [{"session_id": s.id, "date": s.date} for s in earlier]
    numbers["sessions_before_them"] = len(before)

    def found(quote: Callable[[str], str]) -> str:
        """What came before them, the charity's words in it passed through ``quote``."""
        findings: list[str] = []
        if project.plan_drafted is not None and first > project.plan_drafted:
            findings.append(
                f"the plan was drafted on {day(project.plan_drafted)}, before {anyone(roles)} "
                f"took part (first on {day(first)})"
            )
        if earlier:
            findings.append(
                f"{count(len(earlier), 'decision')} {_was(len(earlier))} taken without them before they "
                f"first took part: {join([_decision_words(s, quote) for s in earlier])}"
            )
        return ". ".join([findings[0], *(_capital(f) for f in findings[1:])]) if findings else ""

    finding = found(_as_typed)
    if finding:
        numbers["judged_on"] = (
            "plan_date" if project.plan_drafted is not None and first > project.plan_drafted else "decisions"
        )
        return Criterion(
            FROM_THE_START,
            Result.FAIL,
            numbers,
            finding=finding,
            finding_isolated=found(isolated) if earlier else "",
            action="involve them before the next plan is drafted and before decisions are taken",
        )
    who = say(roles, "people")
    if project.plan_drafted is not None:
        numbers["judged_on"] = "plan_date"
        return Criterion(
            FROM_THE_START,
            Result.PASS,
            numbers,
            basis=f"{who} first took part on {day(first)}, by the day the plan was drafted "
            f"({day(project.plan_drafted)}), and no decision was taken before then",
        )
    if project.no_plan_before:
        numbers["judged_on"] = "no_plan_before"
        return Criterion(
            FROM_THE_START,
            Result.PASS,
            numbers,
            basis=f"the project records that no plan existed before {who} took part (first on "
            f"{day(first)}), and no decision was taken before then",
        )
    if not before:
        numbers["judged_on"] = "first_session"
        return Criterion(
            FROM_THE_START,
            Result.PASS,
            numbers,
            basis=f"no plan date is recorded; {who} were at the first recorded session, on {day(first)}",
        )
    numbers["judged_on"] = "unknown"
    return Criterion(
        FROM_THE_START,
        Result.UNKNOWN,
        numbers,
        finding=(
            f"the date the plan was drafted is not recorded, and {count(len(before), 'session')} "
            f"{_was(len(before))} held before {who} first took part (on {day(first)})"
        ),
        action="record the date the plan was drafted, or that no plan existed before they took part",
    )


def _beyond_feedback(v: _Voice, max_share: float, allowed: Decimal) -> Criterion:
    """The share of their hours in consult-type sessions. A register row giving more hours than its
    session lasted counts only up to the session's length (and the allowance): 10 hours typed for 1.0
    at a 2-hour workshop would otherwise outweigh four feedback sessions; the evidence lists those
    sessions and the finding says so, so the hours can be matched with the register."""
    attended = v.attended
    consult = [s for s in attended if s.kind in CONSULT_KINDS]
    total_h = sum(v.voice_hours.values(), Decimal(0))
    consult_h = sum((v.voice_hours[s.id] for s in consult), Decimal(0))
    only_info = bool(attended) and all(s.kind in LISTENING_KINDS for s in attended)
    numbers: dict[str, Any] = {
        "voice_sessions": len(attended),
        "consult_sessions": len(consult),
        "voice_hours": total_h,
        "consult_hours": consult_h,
        "consult_share": (consult_h / total_h).quantize(Decimal("0.0001")) if total_h else None,
        "max_consult_share": max_share,
        "consult_kinds": dict(sorted(Counter(s.kind.value for s in consult).items())),
        "only_information_events": only_info,
    }
    capped = ""
    if v.over:
        numbers["hours_over_session"] = [o.evidence() for o in v.over]
        people = sum(o.people for o in v.over)
        allowance = f" and the {hours(allowed)} over it your settings allow" if allowed else ""
        capped = (
            f"{count(people, 'person', 'people')} recorded for more hours than "
            f"{'the session' if len(v.over) == 1 else 'a session'} lasted {'is' if people == 1 else 'are'} "
            f"counted only up to its length{allowance}"
        )
    if not attended:
        return Criterion(
            BEYOND_FEEDBACK,
            Result.FAIL,
            numbers,
            finding="they have spent no time in its sessions",
            action="give them a part in designing and deciding, not only in giving feedback",
        )
    if total_h == 0:
        return Criterion(
            BEYOND_FEEDBACK,
            Result.UNKNOWN,
            numbers,
            finding="no hours are recorded for the sessions they attended",
            action="record how long each session lasted",
        )
    if consult_h <= Decimal(str(max_share)) * total_h:
        return Criterion(BEYOND_FEEDBACK, Result.PASS, numbers, basis=capped)
    kinds = Counter(s.kind for s in consult)
    ordered = sorted(kinds, key=lambda k: (-kinds[k], k.value))
    n, c = len(attended), len(consult)
    if n == 1:
        what = f"their only session was {_KIND_ONE[ordered[0]]}"
    elif c == 1:
        what = f"1 of their {n} sessions was {_KIND_ONE[ordered[0]]}"
    else:
        if c == n:
            lead = "both of their sessions" if n == 2 else f"all {n} of their sessions"
        else:
            lead = f"{c} of their {n} sessions"
        what = f"{lead} were {join([_KIND_MANY[k] for k in ordered], 'or')}"
    share = float(consult_h / total_h)
    return Criterion(
        BEYOND_FEEDBACK,
        Result.FAIL,
        numbers,
        finding=f"{what} ({_num(consult_h)} of {hours(total_h)}, {percent(share)} of their time"
        + (f"; {capped})" if capped else ")"),
        action="give them a part in designing and deciding, not only in giving feedback",
    )


def _shared_decisions(project: Project, v: _Voice, roles: frozenset[Role]) -> Criterion:
    decisions = [s for s in v.sessions if s.decision_taken]
    with_them = [s for s in decisions if s.id in v.voice_in]
    co_chair = sorted(r.value for r in project.co_chair_roles & roles)
    numbers: dict[str, Any] = {
        "decisions": len(decisions),
        "decisions_with_them": len(with_them),
        "decision_sessions_with_them": [s.id for s in with_them],
        "voice_co_chair_roles": co_chair,
    }
    if with_them or co_chair:
        return Criterion(SHARED_DECISIONS, Result.PASS, numbers)
    if decisions:
        numbers["latest_decision"] = decisions[-1].date
        return Criterion(
            SHARED_DECISIONS,
            Result.FAIL,
            numbers,
            finding=(
                f"no decision was taken in a session they attended ({count(len(decisions), 'decision')} "
                f"recorded, the latest on {day(decisions[-1].date)})"
            ),
            action="take decisions in meetings they attend, or invite one of them to co-chair",
        )
    return Criterion(
        SHARED_DECISIONS,
        Result.UNKNOWN,
        numbers,
        finding="no decisions are recorded for this project, and nobody with their experience co-chairs it",
        action="record which sessions took decisions",
    )


def _across_stages(project: Project, v: _Voice) -> Criterion:
    held = Counter(s.stage for s in v.sessions if s.stage is not None)
    with_them = Counter(s.stage for s in v.attended if s.stage is not None)
    # A stage with sessions already held has been reached, whatever the project record says.
    reached = set(project.stages_reached) | set(held)
    numbers: dict[str, Any] = {
        "stages_recorded": sorted(st.value for st in project.stages_reached),
        "stages": {},
    }
    if not reached:
        return Criterion(
            ACROSS_STAGES,
            Result.UNKNOWN,
            numbers,
            finding="which stages the project has reached is not recorded",
            action="record the stages the project has reached and the stage of each session",
        )
    missing: list[Stage] = []
    for stage in STAGE_ORDER:
        if stage not in reached:
            result = Result.NOT_REACHED
        elif with_them[stage]:
            result = Result.PASS
        else:
            result = Result.FAIL
            missing.append(stage)
        numbers["stages"][stage.value] = {
            "result": result.value,
            "sessions_held": held[stage],
            "sessions_with_them": with_them[stage],
        }
    if not missing:
        return Criterion(ACROSS_STAGES, Result.PASS, numbers)
    parts = [
        f"the {st.value} stage ({count(held[st], 'session')} held without them)"
        if held[st]
        else f"the {st.value} stage (no sessions of it recorded)"
        for st in missing
    ]
    return Criterion(
        ACROSS_STAGES,
        Result.FAIL,
        numbers,
        finding=f"they took no part in {join(parts)}",
        action=f"bring them into the {join([st.value for st in missing])} "
        f"{'stage' if len(missing) == 1 else 'stages'}",
    )


_NOT_ELIGIBLE: frozenset[PaymentPreference | None] = frozenset({PaymentPreference.NOT_ELIGIBLE})
_OFFERED: frozenset[PaymentPreference | None] = frozenset(
    {PaymentPreference.PAID, PaymentPreference.VOUCHER, PaymentPreference.DECLINED}
)
"""Preferences that say payment was offered (declining it is an answer to an offer)."""


def _reciprocity(dataset: Dataset, v: _Voice, index: _Index) -> Criterion:
    policy = dataset.policy
    if policy is None:
        return Criterion(
            RECIPROCITY,
            Result.FAIL,
            {"policy": False},
            finding="there is no payment policy, so nobody can tell whether they were offered payment",
            action="record a payment policy and offer payment for their time",
        )
    # Eligible under the policy at some time: a change may have added a role from a date.
    with_roles = index.with_roles(frozenset().union(*(p.policy.eligible_roles for p in policy.periods())))
    eligible_ids = (v.people & with_roles) - index.preferring(_NOT_ELIGIBLE)
    eligible = sorted(eligible_ids)
    # Not known whether offered: no preference that says they were (paid, voucher, declined), no payment.
    unknown = eligible_ids - index.preferring(_OFFERED) - index.paid_people
    not_known = [pid for pid in eligible if pid in unknown]
    numbers: dict[str, Any] = {
        "policy": True,
        "eligible": len(eligible),
        "offered": len(eligible) - len(not_known),
        "not_known": len(not_known),
        "not_known_ids": not_known,
    }
    if not not_known:
        return Criterion(RECIPROCITY, Result.PASS, numbers)
    who = count(len(not_known), "person", "people")
    return Criterion(
        RECIPROCITY,
        Result.UNKNOWN,
        numbers,
        finding=(
            f"{who} eligible for payment {'has' if len(not_known) == 1 else 'have'} no payment preference "
            "and no payment recorded, so it is not known whether they were offered payment"
        ),
        action="record each person's payment preference",
    )


# --- placement --------------------------------------------------------------------------------


def _place(
    voice_sessions: int, only_information: bool, criteria: dict[str, Criterion], *, unknown_passes: bool
) -> Rung:
    """Climb the ladder while the evidence allows; unknown stops the climb unless told otherwise."""
    if voice_sessions == 0:
        return Rung.NONE
    if only_information:
        return Rung.INFORMING
    rung = Rung.CONSULTATION
    for next_rung, names in RUNG_NEEDS.items():
        for name in names:
            result = criteria[name].result
            if not (result.passes or (unknown_passes and result is Result.UNKNOWN)):
                return rung
        rung = next_rung
    return rung


def _assess(project: Project, dataset: Dataset, settings: CheckSettings, index: _Index) -> Assessment:
    roles = settings.voice_roles
    v = _voice(project, index)
    criteria = {
        c.name: c
        for c in (
            _from_the_start(project, v, roles),
            _beyond_feedback(
                v, settings.consultation.max_consult_share, settings.data_quality.hours_over_session_allowed
            ),
            _shared_decisions(project, v, roles),
            _across_stages(project, v),
            _reciprocity(dataset, v, index),
        )
    }
    only_info = bool(criteria[BEYOND_FEEDBACK].numbers["only_information_events"])
    return Assessment(
        project_id=project.id,
        project_name=project.name,
        label=project.label,
        rung=_place(len(v.voice_in), only_info, criteria, unknown_passes=False),
        criteria=criteria,
        voice_sessions=len(v.voice_in),
    )


def assess(project: Project, dataset: Dataset, settings: CheckSettings, run_date: date) -> Assessment:
    """Place one project on the ladder from its evidence (any label), for the CLI and the flag."""
    return _assess(project, dataset, settings, _Index.build(dataset, run_date, settings))


def assess_all(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None = None
) -> list[Assessment]:
    """Every project's placement, by project id (``voice``: the run's voice attendance, if built)."""
    index = _Index.build(dataset, run_date, settings, voice)
    return [_assess(p, dataset, settings, index) for p in sorted(dataset.projects, key=lambda p: p.id)]


# --- the flag ---------------------------------------------------------------------------------


def _severity(a: Assessment) -> Severity:
    if a.rung_if_unknowns_pass.rank >= a.label.rank:
        return Severity.INFO  # only missing evidence keeps it below its label
    if a.label.rank - a.rung.rank >= 2:
        return Severity.CRITICAL
    return Severity.WARNING


def _message(a: Assessment) -> str:
    """Where the evidence places it, then one short sentence per finding, then what to do."""
    name = f"'{a.project_name}' is called {a.label.words}"
    if a.rung is Rung.NONE:
        # Every criterion fails for the one reason that nobody has taken part: say it once.
        start = a.criteria[FROM_THE_START]
        return (
            f"{name}, but there is no evidence yet of anyone taking part: {start.finding}. "
            f"What you can do: {start.action}."
        )
    failed = [a.criteria[n] for n in a.failed]
    unknown = [a.criteria[n] for n in a.unknown]
    parts: list[str] = []
    if failed:
        parts.append(f"{name}, but the evidence places it at {a.rung.words}.")
        parts.extend(_sentence(c.finding) for c in failed)
        if unknown:
            parts.append("Some evidence is missing.")
    else:
        parts.append(
            f"{name}, but the evidence recorded so far only places it at {a.rung.words}, because some of "
            "it is missing."
        )
    parts.extend(_sentence(c.finding) for c in unknown)
    actions = [c.action for c in failed + unknown]
    actions.append(f"or describe it as {a.rung.words} until then")
    parts.append(f"What you can do: {'; '.join(actions)}.")
    return " ".join(parts)


def _flag(a: Assessment) -> Flag:
    return MISLABELLED.flag(
        severity=_severity(a),
        subject=Subject(kind=SubjectKind.PROJECT, id=a.project_id),
        title=f"Called {a.label.words}, evidence shows "
        + ("no involvement" if a.rung is Rung.NONE else a.rung.words),
        message=_message(a),
        evidence=a.evidence(),
        identity={},
        facts={
            "label": a.label.value,
            "rung": a.rung.value,
            "failed": list(a.failed),
            "unknown": list(a.unknown),
        },
        project_id=a.project_id,
    )


def flags_for(assessments: list[Assessment]) -> list[Flag]:
    """The flags for placements already made: a project labelled higher than its evidence."""
    with collector_paused():
        return [_flag(a) for a in assessments if a.mislabelled]


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """Flag every project labelled co-production or co-design whose evidence sits lower."""
    with collector_paused():
        return flags_for(assess_all(dataset, settings, run_date))
