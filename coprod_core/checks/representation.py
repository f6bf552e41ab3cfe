"""Representation gaps: are the people with a voice in a project like the people who use the service?

**What it checks**

Per project, the *voice participants* are the distinct people holding a voice role (by default
lived experience or carer) who attended at least one of the project's sessions in the period.

- ``representation.under_represented``: for each dimension of the baseline (ethnicity, age band,
  disability, sex...) and each category in it, ``n`` voice participants gave an answer and ``x`` of
  them are in the category. The category is flagged when the observed share ``x/n`` is below
  four-fifths of the baseline share ``b`` *and* the upper bound of the Wilson score interval of
  ``x/n`` is below ``b``: the group is both clearly short of the category and too short for chance
  to explain.
- ``representation.data_gap``: more of the voice participants than the setting allows (default
  30%) left the question blank or said unknown / prefer not to say, so the gap cannot be judged.
- ``representation.decision_without_voice``: a session where a decision was taken that nobody in a
  voice role attended.
- ``representation.decision_group``: a project's decision-making group has fewer voice-role
  members than the setting asks for.

**Why it matters**

Co-production shares power with the people who use a service (TLAP ladder of co-production; SCIE
principles of equality and diversity); a group that leaves out whole communities co-produces a
service for somebody else. The four-fifths ratio is the long-standing adverse-impact rule of thumb
(US EEOC Uniform Guidelines, 1978): a share below 80% of what it should be is a material gap. The
Wilson score interval (Newcombe 1998; the interval English public-health statistics use for small
counts) guards against reading too much into small groups: with three people, nobody from a group
that is 19% of service users is well within chance, and is not flagged. Decisions taken with no
lived experience in the room sit on the consultation rung of the ladder at best (NHS England 2022:
involve people in decisions, not only in views).

**What staff can do**

Reach the missing communities where they are (community groups, interpreters, another meeting
time or place, paid travel); ask the equality questions again, saying why they are asked and that
"prefer not to say" is always an answer; take decisions made without the group back to the group,
and plan decision meetings so that people with lived experience can attend; invite more of them
into the decision-making group, with support and payment for their time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from coprod_core.checks.attendance import VoiceAttendance, voice_attendance
from coprod_core.checks.decisions import quoted
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import (
    NOT_STATED,
    BaselineDimension,
    Dataset,
    Person,
    Project,
    Session,
    category_key,
)
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings, RepresentationSettings
from coprod_core.stats import wilson_interval
from coprod_core.text import count, day, join, percent
from coprod_core.voice import say

CHECK_ID = "representation"

UNDER_REPRESENTED = declare(
    "representation.under_represented",
    "Group under-represented",
    Severity.WARNING,
    what="""Among the people in a voice role who took part in a project in the period, a category of a
    baseline dimension (ethnicity, age band, disability...) has an observed share below four-fifths
    of its share among people who use the service, and the upper bound of the 95% Wilson score
    interval of that share is below the baseline share too.""",
    why="""A group that leaves out whole communities co-produces a service for somebody else. The
    four-fifths ratio is the long-standing rule of thumb for a material gap; the Wilson interval
    keeps small groups from being flagged for what chance explains.""",
    source="""SCIE co-production principles (equality and diversity); US EEOC Uniform Guidelines
    (1978) four-fifths ratio; Wilson score interval (Newcombe 1998)""",
    action="""Reach the missing communities where they are: community groups, interpreters, another
    meeting time or place, paid travel.""",
    needs="A baseline for the dimension in the recipe, and each person's answer.",
)
DATA_GAP = declare(
    "representation.data_gap",
    "Too many unknown answers",
    Severity.WARNING,
    what="""More of a project's voice-role participants than the setting allows (default 30%) left an
    equality question blank, or answered unknown or prefer not to say, so representation cannot be
    judged on that dimension.""",
    why="""A gap nobody can see is a gap nobody closes.""",
    source="SCIE co-production principles (equality and diversity)",
    action="""Ask the question again, say why it is asked (to check nobody is left out) and that
    "prefer not to say" is always an answer, and offer help to fill it in.""",
)
DECISION_WITHOUT_VOICE = declare(
    "representation.decision_without_voice",
    "Decision taken without lived experience",
    Severity.CRITICAL,
    what="""A session held by the run date where a decision was recorded, and nobody in a voice role
    (default: lived experience, carer) attended it.""",
    why="""Decisions taken without people with lived experience in the room sit at consultation on the
    ladder at best: co-production shares decisions, not only views.""",
    source="TLAP ladder of co-production; NHS England 2022 guidance on working with people",
    action="""Take the decision back to the group and revisit it with them; plan the next decision
    meeting with people with lived experience (time, place, support and payment that suit them).""",
)
DECISION_GROUP = declare(
    "representation.decision_group",
    "Decision group short of lived experience",
    Severity.WARNING,
    what="""A project's decision-making group (board, steering group) has fewer members in a voice role
    than the setting asks for (default 2).""",
    why="""One person with lived experience on a board is easy to outvote and easy to ignore; sharing
    power needs enough of them to be heard.""",
    source="TLAP ladder of co-production; SCIE co-production principles (equality)",
    action="""Invite more people with lived experience or carers into the group, with support, training
    and payment for their time, or to co-chair it.""",
    needs="The decision-making group's members (a project field); silent when it is not recorded.",
)


@lru_cache(maxsize=4096)
def _norm(value: str | None) -> str:
    """Compare answers the way the model keys categories: "Prefer not to say" is ``prefer_not_to_say``.

    Remembered: thousands of people give the same few answers, and keying one runs a regex.
    """
    return category_key(value) if value else ""


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dimension_words(dimension: str) -> str:
    return dimension.replace("_", " ").strip()


def citation(baseline: BaselineDimension, quote: Callable[[str], str] | None = None) -> str:
    """``service records, as of 31 March 2026``: where the baseline came from, as a reader cites it.
    ``quote``: what the recipe's own words (its source, a date given as words) are passed through,
    for a report that isolates them."""
    source, as_of = baseline.source.strip(), baseline.as_of.strip()
    as_written = True
    with suppress(ValueError):  # "2025/26", "Census 2021" are already words.
        as_of = f"as of {day(date.fromisoformat(as_of))}"
        as_written = False
    if as_of in source:
        as_of = ""
    if quote is not None:
        source = quote(source) if source else ""
        as_of = quote(as_of) if as_of and as_written else as_of
    return f"{source}, {as_of}" if source and as_of else source or as_of


def _period_words(start: date | None, end: date) -> str:
    return f" between {day(start)} and {day(end)}" if start else ""


class Answers(NamedTuple):
    """One dimension's answers among a project's voice participants."""

    total: int
    missing: int
    unknown: int
    prefer_not_to_say: int
    by_category: dict[str, int]
    """Normalised category -> people, for the stated answers only."""

    @property
    def not_stated(self) -> int:
        return self.missing + self.unknown + self.prefer_not_to_say

    @property
    def n(self) -> int:
        return self.total - self.not_stated


def _answers(given: Sequence[str | None]) -> Answers:
    """The answers of a project's people to one question counted: each answer as written is
    counted first (thousands of people, a few answers), then each of those is keyed once;
    categories in the order people gave them."""
    missing = unknown = prefer_not = 0
    by_category: dict[str, int] = {}
    for answer, n in Counter(given).items():
        value = _norm(answer)
        if not value:
            missing += n
        elif value == "unknown":
            unknown += n
        elif value in NOT_STATED:
            prefer_not += n
        else:
            by_category[value] = by_category.get(value, 0) + n
    return Answers(len(given), missing, unknown, prefer_not, by_category)


def _stated_baseline(baseline: BaselineDimension) -> dict[str, tuple[str, float]]:
    """Normalised category -> (category as the recipe wrote it, share among stated answers).

    Service records often count "unknown" too. The group's share is taken among people who
    answered, so the baseline share must be as well: unknowns are removed and the rest rescaled.
    """
    stated = {k: s for k, s in baseline.shares.items() if _norm(k) not in NOT_STATED}
    unstated = sum(s for k, s in baseline.shares.items() if _norm(k) in NOT_STATED)
    scale = 1.0 - unstated if unstated < 1.0 else 1.0
    result: dict[str, tuple[str, float]] = {}
    for category in sorted(stated):
        key = _norm(category)
        if key and key not in result:
            result[key] = (category, stated[category] / scale)
    return result


class CategoryShare(NamedTuple):
    """One baseline category among a project's voice participants: what the flag and the report read.

    The judgement is made here, once: the check raises ``under_represented`` from this and the
    report marks the same bar, so the two can never disagree.
    """

    category: str
    """As the recipe wrote it (normalised key)."""
    words: str
    """How a message names the people in it: 'people of Asian heritage'."""
    x: int
    n: int
    baseline_share: float
    """Among people who use the service and stated an answer (see ``_stated_baseline``)."""
    baseline_share_as_given: float
    lower: float
    upper: float
    under_represented: bool

    @property
    def observed(self) -> float:
        return self.x / self.n


class DimensionProfile(NamedTuple):
    """One dimension of the baseline among one project's voice participants."""

    dimension: str
    baseline: BaselineDimension
    answers: Answers
    categories: tuple[CategoryShare, ...]
    """Empty when nobody gave a usable answer (``answers.n == 0``)."""
    data_gap: bool

    @property
    def outside_baseline(self) -> int:
        """Stated answers in none of the baseline's categories (an answer the baseline does not count)."""
        return self.answers.n - sum(c.x for c in self.categories)


class ProjectProfile(NamedTuple):
    """Who of a project's voice participants took part in the period, dimension by dimension."""

    project_id: str
    participants: tuple[str, ...]
    """Ids of the voice participants, sorted (empty: nothing to judge, and no dimensions)."""
    period_start: date | None
    period_end: date
    dimensions: tuple[DimensionProfile, ...]


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """Representation and voice flags for every project, in a stable order."""
    return judge(dataset, settings, run_date).flags


class Judged(NamedTuple):
    """The check's flags and the profiles they were judged from (a report draws the same numbers)."""

    flags: list[Flag]
    profiles: list[ProjectProfile]
    """Every project's profile, by project id (empty when no voice role is configured)."""


def judge(
    dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None = None
) -> Judged:
    """The flags, and every project's profile, from one pass. ``voice``: who in a voice role
    attended each held session, when the caller has read it already (:func:`check_all` has)."""
    with collector_paused():
        return _run(dataset, settings, run_date, voice)


def profiles(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[ProjectProfile]:
    """Every project's representation profile, by project id: the numbers behind the flags, for a report."""
    return judge(dataset, settings, run_date).profiles


@dataclass(frozen=True, eq=False)  # never compared: its __eq__ would only cost start-up
class _Index:
    """The dataset arranged once per run for every project and session."""

    people: dict[str, Person]
    voice: VoiceAttendance
    """Who in a voice role took part in each held session (shared with the other checks)."""
    decision_attendees: dict[str, set[str]]
    """Each held session where a decision was taken with nobody in a voice role there -> ids of
    everyone who attended it (none recorded: empty). Only these sessions' registers are needed whole
    (their flag counts who was in the room), so the register is read again only when there is one."""
    sessions_of: dict[str, list[Session]]
    projects: list[Project]
    """By id."""
    _answers_to: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def answers_to(self, dimension: str) -> dict[str, str | None]:
        """Person id -> their answer to one question (None: no answer), read from every person once
        per run, not from each of a project's people for each project."""
        found = self._answers_to.get(dimension)
        if found is None:
            found = self._answers_to[dimension] = {
                pid: person.demographics.get(dimension) for pid, person in self.people.items()
            }
        return found

    @classmethod
    def build(
        cls, dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None
    ) -> _Index | None:
        """None when no voice role is configured: nobody is a voice, there is nothing to compare."""
        voice_roles = frozenset(settings.voice_roles)
        if not voice_roles:
            return None
        voice = voice_attendance(dataset, run_date, voice_roles, voice)
        without_voice = {
            s.id
            for s in dataset.sessions
            if s.decision_taken and s.date <= run_date and not voice.people_at(s.id)
        }
        decision_attendees: dict[str, set[str]] = {sid: set() for sid in without_voice}
        if without_voice:
            for a in dataset.attendance:
                if a.session_id in without_voice:
                    decision_attendees[a.session_id].add(a.person_id)
        sessions_of: dict[str, list[Session]] = defaultdict(list)
        for session in dataset.sessions:
            sessions_of[session.project_id].append(session)
        return cls(
            people=dataset.people_by_id(),
            voice=voice,
            decision_attendees=decision_attendees,
            sessions_of=sessions_of,
            projects=sorted(dataset.projects, key=lambda p: p.id),
        )


def _run(dataset: Dataset, settings: CheckSettings, run_date: date, voice: VoiceAttendance | None) -> Judged:
    index = _Index.build(dataset, settings, run_date, voice)
    if index is None:
        return Judged([], [])
    flags: list[Flag] = []
    found: list[ProjectProfile] = []
    for project in index.projects:
        profile = _profile(dataset, settings, run_date, project, index)
        found.append(profile)
        flags.extend(_representation(settings, project, profile))
        flags.extend(_decision_group(settings, project, index.people))
    for session in sorted(dataset.sessions, key=lambda s: (s.date, s.id)):
        here = index.decision_attendees.get(session.id)
        if here is not None:
            flags.extend(
                _decision_without_voice(settings, session, index.people, here, index.voice.voice_ids)
            )
    return Judged(flags, found)


def _profile(
    dataset: Dataset, settings: CheckSettings, run_date: date, project: Project, index: _Index
) -> ProjectProfile:
    """The project's voice participants in the period, and their answers on each baseline dimension."""
    rs = settings.representation
    start = rs.period_start
    end = min(rs.period_end, run_date) if rs.period_end else run_date
    took_part: set[str] = set()
    for session in index.sessions_of.get(project.id, []):
        if session.date > end or (start and session.date < start):
            continue
        took_part.update(index.voice.people_at(session.id))
    if not took_part:
        return ProjectProfile(project.id, (), start, end, ())
    ids = tuple(sorted(took_part))
    dimensions: list[DimensionProfile] = []
    for dimension in sorted(dataset.baseline):
        baseline = dataset.baseline[dimension]
        answers = _answers(list(map(index.answers_to(dimension).__getitem__, ids)))
        categories: list[CategoryShare] = []
        if answers.n:
            for key, (category, b) in _stated_baseline(baseline).items():
                x = answers.by_category.get(key, 0)
                categories.append(_category_share(rs, baseline, category, b, x, answers.n))
        gap = answers.not_stated / answers.total > rs.data_gap_share
        dimensions.append(DimensionProfile(dimension, baseline, answers, tuple(categories), gap))
    return ProjectProfile(project.id, ids, start, end, tuple(dimensions))


def _category_share(
    rs: RepresentationSettings, baseline: BaselineDimension, category: str, b: float, x: int, n: int
) -> CategoryShare:
    """The four-fifths ratio *and* the Wilson bound below the baseline: both, or it is not flagged."""
    lower, upper = wilson_interval(x, n, rs.confidence)
    under = b > 0 and x / n < rs.four_fifths * b and upper < b  # b == 0: nobody to miss
    return CategoryShare(
        category=category,
        words=baseline.category_words(category),
        x=x,
        n=n,
        baseline_share=b,
        baseline_share_as_given=baseline.shares[category],
        lower=lower,
        upper=upper,
        under_represented=under,
    )


def _representation(settings: CheckSettings, project: Project, profile: ProjectProfile) -> list[Flag]:
    if not profile.participants:
        return []
    who = say(settings.voice_roles, "people")
    start, end = profile.period_start, profile.period_end
    period = {"period_start": start.isoformat() if start else None, "period_end": end.isoformat()}
    flags: list[Flag] = []
    for dim in profile.dimensions:
        if dim.data_gap:
            flags.append(_data_gap(settings, project, dim.dimension, dim.answers, who, start, end, period))
        for share in dim.categories:
            if share.under_represented:
                flags.append(
                    _under_represented(
                        settings, project, dim.dimension, dim.baseline, share, who, start, end, period
                    )
                )
    return flags


def _data_gap(
    settings: CheckSettings,
    project: Project,
    dimension: str,
    answers: Answers,
    who: str,
    start: date | None,
    end: date,
    period: dict[str, str | None],
) -> Flag:
    rs = settings.representation
    share = answers.not_stated / answers.total
    parts = []
    if answers.missing:
        parts.append(f"{answers.missing} left it blank")
    if answers.unknown:
        parts.append(f"{answers.unknown} are recorded as unknown")
    if answers.prefer_not_to_say:
        parts.append(f"{answers.prefer_not_to_say} preferred not to say")
    dim = _dimension_words(dimension)
    message = (
        f"We can't tell whether '{project.name}' reflects the people who use the service by {dim}: "
        f"of the {answers.total} {who} who took part{_period_words(start, end)}, "
        f"{answers.not_stated} ({percent(share)}) gave no answer we can use ({join(parts)}), more than the "
        f"{percent(rs.data_gap_share)} your settings allow. Ask the question again, say why it is asked "
        "(to check nobody is being left out) and that 'prefer not to say' is always fine, and offer help "
        "to fill it in."
    )
    evidence = {
        "dimension": dimension,
        "participants": answers.total,
        "not_stated": answers.not_stated,
        "missing": answers.missing,
        "unknown": answers.unknown,
        "prefer_not_to_say": answers.prefer_not_to_say,
        "not_stated_share": round(share, 6),
        "data_gap_share_setting": rs.data_gap_share,
        **period,
    }
    return DATA_GAP.flag(
        subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
        title=f"Too many unknown answers ({dim})",
        message=message,
        evidence=evidence,
        identity={"dimension": dimension},
        facts={"dimension": dimension, "not_stated": answers.not_stated, "participants": answers.total},
        project_id=project.id,
    )


def _under_represented(
    settings: CheckSettings,
    project: Project,
    dimension: str,
    baseline: BaselineDimension,
    share: CategoryShare,
    who: str,
    start: date | None,
    end: date,
    period: dict[str, str | None],
) -> Flag:
    rs = settings.representation
    category, x, n, b = share.category, share.x, share.n, share.baseline_share
    observed, lower, upper = share.observed, share.lower, share.upper
    words = _capitalise(baseline.category_words(category))
    took_part = f"who took part{_period_words(start, end)}"
    if x == 0:
        head = f"{words} are missing from '{project.name}': none of the {n} {who} {took_part}"
    else:
        head = (
            f"{words} are under-represented in '{project.name}': "
            f"{x} of {n} {who} {took_part} ({percent(observed)})"
        )
    message = (
        f"{head}, against {percent(b)} of people who use the service ({citation(baseline)}). "
        "In a group this size that is fewer than chance explains. Who could reach them: community groups, "
        "interpreters, another meeting time or place?"
    )
    evidence = {
        "dimension": dimension,
        "category": category,
        "n": n,
        "x": x,
        "observed_share": round(observed, 6),
        "baseline_share": round(b, 6),
        "baseline_share_as_given": round(baseline.shares[category], 6),
        "ratio": round(observed / b, 6),
        "four_fifths": rs.four_fifths,
        "wilson_lower": round(lower, 6),
        "wilson_upper": round(upper, 6),
        "confidence": rs.confidence,
        "baseline_source": baseline.source,
        "baseline_as_of": baseline.as_of,
        **period,
    }
    return UNDER_REPRESENTED.flag(
        subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
        title=f"Group under-represented ({_dimension_words(dimension)})",
        message=message,
        evidence=evidence,
        identity={"dimension": dimension, "category": category},
        # Not n: a group that grows by one person is the same problem, and an acknowledgement
        # should not be lifted every time someone joins. A change in x (someone from the group
        # joined, or left) is news.
        facts={"dimension": dimension, "category": category, "x": x},
        project_id=project.id,
    )


def _decision_without_voice(
    settings: CheckSettings,
    session: Session,
    people: dict[str, Person],
    attendee_ids: set[str],
    voice_ids: frozenset[str],
) -> list[Flag]:
    if not voice_ids.isdisjoint(attendee_ids):
        return []
    unrecorded = sum(1 for i in attendee_ids if i not in people)
    roles = settings.voice_roles
    # What was decided is quoted as staff wrote it: "the budget", "the new opening hours" or "Close
    # on Tuesdays" all read correctly, where "... was decided" fits only a singular noun.
    what = f"A decision was taken at the {session.label()}{quoted(session)}"
    if not attendee_ids:
        register = (
            " No attendance is recorded for it; if anyone who "
            f"{say(roles, 'is_one')} was there, add them to the register."
        )
    else:
        register = ""
    message = (
        f"{what} with nobody in the room who {say(roles, 'is_one')}.{register} Take the decision back to "
        f"the group and revisit it with them, and plan the next decision meeting with {say(roles, 'people')} "
        "(a time, place and support that suit them, paid for their time) so they are there when it counts."
    )
    evidence = {
        "session_id": session.id,
        "session_date": session.date.isoformat(),
        "decision": session.decision,
        "attendees": len(attendee_ids),
        "voice_attendees": 0,
        "attendees_not_in_people_list": unrecorded,
        "voice_roles": sorted(r.value for r in roles),
    }
    return [
        DECISION_WITHOUT_VOICE.flag(
            subject=Subject(kind=SubjectKind.SESSION, id=session.id),
            title=f"Decision taken without {say(roles, 'short')}",
            message=message,
            evidence=evidence,
            facts={"session_date": session.date.isoformat(), "decision": session.decision},
            project_id=session.project_id,
        )
    ]


def _decision_group(settings: CheckSettings, project: Project, people: dict[str, Person]) -> list[Flag]:
    """The decision group's members are people read: the mapping leaves out (and flags where it is
    listed) any ID not in the people list, for a projects table and a ``[[projects]]`` alike
    (``mapping.entities.known_members``), and the webhook worker reads everything again when a
    person listed goes. ``m in people`` still guards a part of the dataset (the webhook's re-check of
    one project holds only its own members; other projects' flags are dropped)."""
    members = sorted(set(project.decision_group))
    if not members:
        return []  # Not recorded: nothing to judge.
    minimum = settings.representation.min_voice_in_decision_group
    roles = settings.voice_roles
    voice = [m for m in members if m in people and people[m].has_any_role(roles)]
    if len(voice) >= minimum:
        return []
    k = len(voice)
    if k == 0:
        have = f"none of them {say(roles, 'is_many')}"
    elif k == 1:
        have = f"only 1 {say(roles, 'is_one')}"
    else:
        have = f"only {k} {say(roles, 'is_many')}"
    message = (
        f"Of the {count(len(members), 'member')} of the decision-making group of '{project.name}', {have}; "
        f"your settings ask for at least {minimum}. Invite more {say(roles, 'people')} to "
        "join it, with support, training and payment for their time, or to co-chair it."
    )
    evidence = {
        "group_size": len(members),
        "voice_members": k,
        "minimum": minimum,
        "voice_roles": sorted(r.value for r in roles),
    }
    return [
        DECISION_GROUP.flag(
            subject=Subject(kind=SubjectKind.PROJECT, id=project.id),
            title=f"Decision group short of {say(roles, 'short')}",
            message=message,
            evidence=evidence,
            facts={"group_size": len(members), "voice_members": k, "minimum": minimum},
            project_id=project.id,
        )
    ]
