"""The facts a report shows, gathered from one check run: exact numbers, nothing hidden yet.

Nothing is judged here. Who is under-represented, where a project sits on the ladder, who is owed
and which decisions were taken without people with lived experience all come from the checks
(their flags, ``representation.profiles`` and ``consultation.assess_all``); this module only
arranges them per section and counts what the checks counted. Disclosure control is applied
later (``views``), so the staff and the shared report are built from the same facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from coprod_core.checks import consultation, representation
from coprod_core.checks.consultation import Assessment
from coprod_core.checks.representation import ProjectProfile
from coprod_core.flags import Flag, SubjectKind
from coprod_core.lifecycle import FlagStatus, KnownFlag
from coprod_core.mapping import EntityCount
from coprod_core.model import KIND_WORDS, Dataset, PaymentKind, PolicyPeriod, Project
from coprod_core.rules import find as find_rule
from coprod_core.settings import CheckSettings
from coprod_core.text import day
from coprod_core.voice import say

WITHOUT_VOICE = "representation.decision_without_voice"
UNDER_REPRESENTED = "representation.under_represented"
DATA_GAP = "representation.data_gap"
OWED = "payments.owed"
OVERDUE = "payments.overdue"
OVERPAID = "payments.overpaid"
DECLINED = "payments.paid_though_declined"
NO_POLICY = "payments.no_policy"
MISLABELLED = "consultation.mislabelled"

_ZERO = Decimal(0)


@dataclass(frozen=True)
class ProjectFacts:
    project: Project
    profile: ProjectProfile | None
    """None when no voice role is configured (nothing to compare)."""
    assessment: Assessment
    flagged_categories: frozenset[tuple[str, str]]
    """(dimension, category) of the project's under-represented flags."""
    gap_dimensions: frozenset[str]
    """Dimensions of the project's data-gap flags."""


@dataclass(frozen=True)
class Decision:
    """One session where a decision was taken, held by the run date."""

    session_id: str
    project_id: str
    date: date
    kind: str
    """The kind of session in words ('decision meeting')."""
    title: str | None
    decision: str | None
    attendees: int
    voice_attendees: int
    without_voice: bool
    """Raised as ``representation.decision_without_voice`` by the check."""


@dataclass(frozen=True)
class Unpaid:
    """What one person is owed (staff report only: it names them)."""

    person_id: str
    name: str | None
    """Their name, None when the people list has none (the report names them by ID)."""
    kind: PaymentKind
    owed: Decimal
    overdue: Decimal
    oldest_date: date
    oldest_session: str
    """Its title, else its kind in words, else its ID when the session is not in the data."""
    days_unpaid: int


@dataclass(frozen=True)
class MoneyTotal:
    """A sum of money and the number of distinct people it is about."""

    amount: Decimal = _ZERO
    people: int = 0


@dataclass(frozen=True)
class PayWithin:
    """The days the policy allows to pay for the sessions of one stretch of time."""

    days: int
    start: date | None = None
    """Its first day; None for the first stretch the report shows (from its first session)."""
    until: date | None = None
    """The day the next stretch starts (this one's last day is the day before); None for the
    latest, still in force on the run date."""

    def when(self) -> str:
        """``from 1 April 2026``, ``before 1 April 2026``, ``from 1 October 2025 to 31 March
        2026``: the sessions it is for, in words (nothing for the only one)."""
        if self.start and self.until:
            return f"from {day(self.start)} to {day(self.until - timedelta(days=1))}"
        if self.start:
            return f"from {day(self.start)}"
        return f"before {day(self.until)}" if self.until else ""


@dataclass(frozen=True)
class Payments:
    has_policy: bool
    currency: str
    policy_source: str
    pay_within_days: int | None
    paid_fees: MoneyTotal
    paid_expenses: MoneyTotal
    owed: MoneyTotal
    """Owed and still within the time the policy allows (``payments.owed``)."""
    overdue: MoneyTotal
    """Unpaid past the time the policy allows (``payments.overdue``)."""
    overpaid: MoneyTotal
    declined: MoneyTotal
    """Fees paid to people who declined payment (``payments.paid_though_declined``)."""
    oldest_unpaid: Unpaid | None
    unpaid: tuple[Unpaid, ...]
    """Everyone owed, oldest unpaid first."""
    policy_since: date | None = None
    """When the policy in force on the run date replaced an earlier one (``[[policy.changes]]``);
    None when it is the recipe's first (``policy_source`` and ``pay_within_days`` are the one in
    force on the run date)."""
    earlier_policies: int = 0
    """How many policies were in force before it: sessions then are judged by their own rates."""
    pay_within: tuple[PayWithin, ...] = ()
    """The days to pay over the sessions the report covers, oldest first, one entry for each
    stretch of days with the same number (a change of rates alone starts none). One entry when
    the days never changed there; more, and saying only ``pay_within_days`` (the latest) would be
    untrue for the sessions before it, each due within the days of its own policy."""


@dataclass(frozen=True)
class Reason:
    """Why rows were not used, or values not understood: one kind of problem in one column."""

    entity: str
    title: str
    column: str | None
    rows: int
    examples: tuple[str, ...]
    """Where to look (``people.csv row 12``), a few of them."""


@dataclass(frozen=True)
class RuleCounts:
    check_id: str
    title: str
    open: int = 0
    acknowledged: int = 0
    resolved: int = 0


@dataclass(frozen=True)
class FlagHistory:
    """Flags now, and as the state store remembers them (statuses staff set, resolutions)."""

    synced: bool
    """A state store with this recipe's flags exists (a sync has run)."""
    last_report: date | None
    rules: tuple[RuleCounts, ...]
    open: tuple[Flag, ...]
    """Raised now and not marked by staff, most severe first."""
    new_since_report: int


@dataclass(frozen=True)
class ReportFacts:
    recipe_name: str
    description: str
    run_date: date
    voice_words: str
    """'people with lived experience or carers'."""
    projects: tuple[ProjectFacts, ...]
    decisions: tuple[Decision, ...]
    payments: Payments
    rows: dict[str, EntityCount]
    reasons: tuple[Reason, ...]
    history: FlagHistory
    flags: tuple[Flag, ...] = field(default=())
    short_lines_in_kobotoolbox: bool = False
    """The recipe reads (and writes its flags back to) KoboToolbox, whose flags column holds each
    flag's short line only: the report says its full message is in ``coprod check``, not "in your
    tool", where KoboToolbox staff looked and found one line."""


# ------------------------------------------------------------------------------------------------


def _of(flags: Iterable[Flag], check_id: str) -> list[Flag]:
    return [f for f in flags if f.check_id == check_id]


def gather(
    dataset: Dataset,
    flags: Sequence[Flag],
    counts: Mapping[str, EntityCount],
    settings: CheckSettings,
    run_date: date,
    *,
    recipe_name: str,
    description: str = "",
    known: Mapping[str, KnownFlag] | None = None,
    last_report: date | None = None,
    assessments: Sequence[Assessment] | None = None,
    profiles: Sequence[ProjectProfile] | None = None,
    short_lines_in_kobotoolbox: bool = False,
) -> ReportFacts:
    """Arrange one run's dataset and flags for a report.

    ``known``: the flags the state store remembers (None: no sync has run). ``assessments`` and
    ``profiles``: the ladder placements and representation profiles the run's checks made, when it
    kept them; otherwise they are made here by the same functions the checks use.
    """
    flags = list(flags)
    placed = (
        list(assessments) if assessments is not None else consultation.assess_all(dataset, settings, run_date)
    )
    by_project = {a.project_id: a for a in placed}
    if profiles is None:
        profiles = representation.profiles(dataset, settings, run_date)
    profile_of = {p.project_id: p for p in profiles}
    under: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in _of(flags, UNDER_REPRESENTED):
        under[f.subject.id].add((f.evidence["dimension"], f.evidence["category"]))
    gaps: dict[str, set[str]] = defaultdict(set)
    for f in _of(flags, DATA_GAP):
        gaps[f.subject.id].add(f.evidence["dimension"])
    projects = tuple(
        ProjectFacts(
            project=p,
            profile=profile_of.get(p.id),
            assessment=by_project[p.id],
            flagged_categories=frozenset(under.get(p.id, ())),
            gap_dimensions=frozenset(gaps.get(p.id, ())),
        )
        for p in sorted(dataset.projects, key=lambda p: p.id)
        if p.id in by_project
    )
    return ReportFacts(
        recipe_name=recipe_name,
        description=description,
        run_date=run_date,
        voice_words=say(settings.voice_roles, "people") or "people in a voice role",
        projects=projects,
        decisions=tuple(_decisions(dataset, settings, run_date, flags)),
        payments=_payments(dataset, flags, run_date),
        rows=dict(counts),
        reasons=tuple(_reasons(flags)),
        history=_history(flags, known, last_report),
        flags=tuple(flags),
        short_lines_in_kobotoolbox=short_lines_in_kobotoolbox,
    )


def _decisions(
    dataset: Dataset, settings: CheckSettings, run_date: date, flags: list[Flag]
) -> list[Decision]:
    """Every decision held by the run date, with who was there; "without" is the check's flag."""
    without = {f.subject.id for f in _of(flags, WITHOUT_VOICE)}
    taken = {s.id: s for s in dataset.sessions if s.decision_taken and s.date <= run_date}
    if not taken:
        return []
    people = dataset.people_by_id()
    roles = settings.voice_roles
    voice = {pid for pid, p in people.items() if p.has_any_role(roles)}
    present: dict[str, set[str]] = defaultdict(set)
    for a in dataset.attendance:
        if a.session_id in taken:
            present[a.session_id].add(a.person_id)
    out = []
    for s in sorted(taken.values(), key=lambda s: (s.date, s.id)):
        here = present.get(s.id, set())
        out.append(
            Decision(
                session_id=s.id,
                project_id=s.project_id,
                date=s.date,
                kind=KIND_WORDS[s.kind],
                title=s.title,
                decision=s.decision,
                attendees=len(here),
                voice_attendees=len(here & voice),
                without_voice=s.id in without,
            )
        )
    return out


def _payments(dataset: Dataset, flags: list[Flag], run_date: date) -> Payments:
    """Totals as the payments check found them (owed, overdue, overpaid, declined) and as recorded (paid)."""
    policy = dataset.policy
    currency = policy.currency if policy else "GBP"
    since: date | None = None
    earlier = 0
    within: tuple[PayWithin, ...] = (PayWithin(policy.pay_within_days),) if policy is not None else ()
    if policy is not None and policy.changes:
        # The policy in force now, and how many came before it (a change not yet in force is not).
        # The first is kept whatever its date: a run date before ``effective`` shows the policy as
        # written, as a policy without changes is shown, not none at all.
        first, *changed = policy.periods()
        periods = [first, *(p for p in changed if p.start is not None and p.start <= run_date)]
        earlier = len(periods) - 1
        if earlier:
            since = periods[-1].start
            policy = periods[-1].policy
            within = _pay_within(periods, dataset, run_date)
    paid: dict[PaymentKind, tuple[Decimal, set[str]]] = {k: (_ZERO, set()) for k in PaymentKind}
    for p in dataset.payments:
        if p.date <= run_date and p.amount > 0:
            amount, who = paid[p.kind]
            who.add(p.person_id)
            paid[p.kind] = (amount + p.amount, who)

    def total(check_id: str, key: str) -> MoneyTotal:
        found = _of(flags, check_id)
        return MoneyTotal(
            sum((Decimal(f.evidence[key]) for f in found), _ZERO), len({f.subject.id for f in found})
        )

    people = dataset.people_by_id()
    owed: dict[tuple[str, PaymentKind], dict[str, Flag]] = defaultdict(dict)
    for f in flags:
        if f.check_id in (OWED, OVERDUE) and f.subject.kind is SubjectKind.PERSON:
            owed[(f.subject.id, PaymentKind(f.evidence["kind"]))][f.check_id] = f
    sessions = dataset.sessions_by_id()
    unpaid: list[Unpaid] = []
    for (pid, kind), found in owed.items():
        oldest = found.get(OVERDUE) or found[OWED]
        session = sessions.get(oldest.evidence["oldest_session_id"])
        person = people.get(pid)
        unpaid.append(
            Unpaid(
                person_id=pid,
                name=person.name if person else None,
                kind=kind,
                owed=Decimal(found[OWED].evidence["total_owed"]) if OWED in found else _ZERO,
                overdue=Decimal(found[OVERDUE].evidence["total_owed"]) if OVERDUE in found else _ZERO,
                oldest_date=date.fromisoformat(oldest.evidence["oldest_session_date"]),
                oldest_session=(session.title or KIND_WORDS[session.kind])
                if session
                else str(oldest.evidence["oldest_session_id"]),
                days_unpaid=int(oldest.evidence["days_unpaid"]),
            )
        )
    unpaid.sort(key=lambda u: (-u.days_unpaid, u.person_id, u.kind.value))
    return Payments(
        has_policy=policy is not None,
        currency=currency,
        policy_source=policy.source if policy else "",
        pay_within_days=policy.pay_within_days if policy else None,
        paid_fees=MoneyTotal(paid[PaymentKind.FEE][0], len(paid[PaymentKind.FEE][1])),
        paid_expenses=MoneyTotal(paid[PaymentKind.EXPENSES][0], len(paid[PaymentKind.EXPENSES][1])),
        owed=total(OWED, "total_owed"),
        overdue=total(OVERDUE, "total_owed"),
        overpaid=total(OVERPAID, "overpaid"),
        declined=total(DECLINED, "total_paid"),
        oldest_unpaid=unpaid[0] if unpaid else None,
        unpaid=tuple(unpaid),
        policy_since=since,
        earlier_policies=earlier,
        pay_within=within,
    )


def _pay_within(periods: Sequence[PolicyPeriod], dataset: Dataset, run_date: date) -> tuple[PayWithin, ...]:
    """The days to pay of ``periods`` (those in force by the run date, oldest first) over the
    sessions held by then: a period that ended before the first of them is left out (nobody took
    part under it, so its days would only puzzle), and periods in a row with the same days are one."""
    held = [s.date for s in dataset.sessions if s.date <= run_date]
    first = min(held) if held else run_date
    ends = [p.start for p in periods[1:]] + [None]
    out: list[PayWithin] = []
    for period, end in zip(periods, ends, strict=True):
        if end is not None and end <= first:
            continue
        days = period.policy.pay_within_days
        if out and out[-1].days == days:
            out[-1] = PayWithin(days, out[-1].start, end)  # the same days: one stretch
        else:
            out.append(PayWithin(days, period.start if out else None, end))
    return tuple(out)


EXAMPLES = 5


def _reasons(flags: list[Flag]) -> list[Reason]:
    """Data-quality flags grouped by entity, problem and column: how many rows, and where to look.

    Only the flags about one row (a value not understood, a row not used): a flag about a session
    whose rows were used as recorded (hours above its length) is in the flags section instead."""
    grouped: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for f in flags:
        if not f.check_id.startswith("data_quality.") or f.subject.kind is not SubjectKind.RECORD:
            continue
        ev = f.evidence
        grouped[(str(ev.get("entity", "")), f.title, ev.get("column"))].append(str(ev.get("row", "")))
    return [
        Reason(entity, title, column, len(rows), tuple(rows[:EXAMPLES]))
        for (entity, title, column), rows in sorted(
            grouped.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
        )
    ]


def rule_title(check_id: str, flags: Iterable[Flag] = ()) -> str:
    """A rule's name for a table: its title in the rule registry, else its flags' title when they share
    one, else its id in words."""
    rule = find_rule(check_id)
    if rule is not None:
        return rule.title
    titles = {f.title for f in flags if f.check_id == check_id}
    if len(titles) == 1:
        return titles.pop()
    check, _, name = check_id.partition(".")
    return f"{check.replace('_', ' ').capitalize()}: {name.replace('_', ' ')}" if name else check


def _history(
    flags: list[Flag], known: Mapping[str, KnownFlag] | None, last_report: date | None
) -> FlagHistory:
    """Open, acknowledged (by staff, as at the last sync) and resolved since the last report, per rule.

    Resolved: recorded as resolved by a sync after the last report, or open at the last sync and
    not raised any more (the next sync will resolve it).
    """
    synced = known is not None
    known = known or {}
    now = {f.fingerprint: f for f in flags}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"open": 0, "acknowledged": 0, "resolved": 0})
    open_flags: list[Flag] = []
    new = 0
    for fp, f in now.items():
        before = known.get(fp)
        if before is not None and before.status.is_staff_decision:
            counts[f.check_id]["acknowledged"] += 1
        else:
            counts[f.check_id]["open"] += 1
            open_flags.append(f)
        if before is None or last_report is None or before.first_seen > last_report:
            new += 1
    for fp, k in known.items():
        if fp in now:
            continue
        resolved_recently = k.status is FlagStatus.RESOLVED and (
            last_report is None or k.last_seen > last_report
        )
        if resolved_recently or k.status is not FlagStatus.RESOLVED:
            counts[k.check_id]["resolved"] += 1
    rules = tuple(
        RuleCounts(cid, rule_title(cid, flags), c["open"], c["acknowledged"], c["resolved"])
        for cid, c in sorted(counts.items())
    )
    return FlagHistory(
        synced=synced, last_report=last_report, rules=rules, open=tuple(open_flags), new_since_report=new
    )
