"""The ledger: what each person is owed for the sessions they attended, and what paid it.

From the policy (rate per hour for each kind of session, minimum paid time, whether preparation
counts, who is eligible, expenses) one pass over the attendance rows works out every due; the
payments recorded are then applied: a payment naming a session pays that session first, the rest
pays the oldest unpaid session first. Money is ``Decimal`` throughout, never float.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import compress
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple, cast

from coprod_core.model import (
    Attendance,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Role,
    Session,
)
from coprod_core.tuples import as_named

CENT = Decimal("0.01")
ZERO = Decimal(0)
NOT_PAID_PREFERENCES = frozenset({PaymentPreference.DECLINED, PaymentPreference.NOT_ELIGIBLE})
DUPLICATE_WINDOW_DAYS = 7
"""Two payments of the same amount to the same person this close together look like a duplicate."""
AMOUNT = attrgetter("amount")
"""A payment's amount: summed for every person, with ``map`` (no generator per sum)."""
HUNDREDTHS = attrgetter("hundredths")
SESSION_ID = itemgetter(1)
"""An attendance's session id (its second field), read in C."""


def num(d: Decimal) -> str:
    """A Decimal as plain digits for evidence: ``2``, ``1.5``, never ``2E+1``."""
    return format(d.normalize(), "f") if d else "0"


def cash(d: Decimal) -> str:
    """An amount as evidence gives it: whole pence as ``25.00``; a finer amount as written."""
    return str(d.quantize(CENT, rounding=ROUND_HALF_UP)) if d == d.quantize(CENT) else str(d)


class SessionFacts(NamedTuple):
    """What evidence says of a held session, worked out once per session."""

    date: str
    """Its date as ISO text."""
    kind: str
    """Its kind's value (``decision_meeting``)."""
    days: int
    """Its age in days on the run date."""


class DueTexts(NamedTuple):
    """A due's evidence as text, worked out once per distinct due. Expenses have only
    ``entitled``; a fee has all of them."""

    entitled: str
    rate: str = ""
    hours: str = ""
    prep_hours: str = ""
    minimum_hours: str = ""
    paid_hours: str = ""


class Due(NamedTuple):
    """What one attendance entitles someone to, of one kind (for expenses: the amount, zeros).

    One is shared by every attendance with the same kind of session, hours and preparation (or
    the same claim), so a scan of 200,000 rows builds a few hundred of them, and an
    :class:`Entitlement` is only made for the people whose sessions a message or evidence names.
    Compared as a tuple, the larger amount wins when a row was recorded twice."""

    amount: Decimal
    worked: Decimal
    prep: Decimal
    """Preparation hours counted (0 when the policy does not count preparation)."""
    paid_hours: Decimal
    texts: DueTexts
    hundredths: int
    """The amount in hundredths (every due is rounded to the penny or cent): what a person's dues
    are added up in (:meth:`Scan.total`)."""


class Ranked(NamedTuple):
    """A due and the rank of its session among the held sessions, oldest first."""

    order: int
    due: Due


class Applied(NamedTuple):
    """A payment, or the part of one, that paid an entitlement."""

    payment_id: str
    amount: Decimal


@dataclass(slots=True)
class Entitlement:
    """What one person is owed for one session, of one kind (fee or expenses), and what paid it."""

    person_id: str
    kind: PaymentKind
    session: Session
    amount: Decimal
    rate: Decimal | None
    due: Due
    minimum: Decimal
    on: SessionFacts
    paid: Decimal = ZERO
    applied: tuple[Applied, ...] = ()
    """Each payment that paid some of it (a tuple: most are never paid)."""

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.paid

    @property
    def minimum_applied(self) -> bool:
        return self.minimum > self.due.worked + self.due.prep

    def pay(self, payment_id: str, available: Decimal) -> Decimal:
        """Take what this entitlement still needs from ``available``; return what is left."""
        take = min(available, self.remaining)
        if take > 0:
            self.paid += take
            self.applied += (Applied(payment_id, take),)
        return available - take


class Owed(NamedTuple):
    """A session someone is owed for, and the amount (before any payment): what a flag that names
    sessions needs when no payment is applied to them (lighter than an entitlement)."""

    session: Session
    amount: Decimal


class FeeFrom(StrEnum):
    """What a register row's fee is worked out from, as a flag about its hours says it."""

    HOURS = "hours"
    """The row's own hours (and any preparation): hours too many are paid for."""
    MINIMUM = "minimum"
    """The policy's minimum paid time, at least the row's hours and preparation: the fee is the
    same whatever hours the row gives up to it."""
    NONE = "none"
    """No fee is worked out from the row: someone not paid for their time (declined, not eligible,
    not in an eligible role), a session outside the policy's time or of a kind without a rate (or a
    rate of 0), or no payment policy at all. The register row is wrong all the same (the
    consultation check counts it only up to the session's length)."""


class LongRow(NamedTuple):
    """A register row whose own hours are more than its session lasted (beyond the setting)."""

    person_id: str
    hours: Decimal
    fee: FeeFrom


def minutes(hours: Decimal) -> int:
    """``hours`` in whole minutes, to the nearest (half a minute up): 1.33 and 1.34 hours are both 80
    minutes. Hours typed as 1:20 or 1h20 are read to two decimals (1.33: :func:`coprod_core.mapping.
    cells.parser_for`), a third of a hundredth at most from the time (20 seconds); the same time typed
    as a number may be rounded up or down (1.34), two thirds of a hundredth at most (40 seconds). Either
    way it is the same minute, so lengths compared in minutes never differ for how they were written."""
    return int((hours * 60).to_integral_value(ROUND_HALF_UP))


class Length(NamedTuple):
    """A session's length as register rows' hours are compared with it
    (``data_quality.hours_over_session``). A row is over it when its hours are more than the length
    and allowance, and still more in whole minutes (:func:`minutes`): a session of 1:20 (1.33 hours)
    and a row of 1.34 hours are the same length, while a row one minute longer or more is over it."""

    most: int
    """The most minutes a row may give: the length and the allowance, each in whole minutes."""
    hours: Decimal
    """The length and the allowance in hours: a row at or below it is never over (most rows give the
    session's length: one comparison, no multiplication)."""

    @classmethod
    def of(cls, length: Decimal | None, allowed: Decimal) -> Length:
        """The length to compare rows with; :data:`UNCOMPARED` for a length unknown (None) or 0."""
        if not length:
            return UNCOMPARED
        return cls(minutes(length) + minutes(allowed), length + allowed)

    def exceeded_by(self, hours: Decimal) -> bool:
        """``hours`` are more than the session's length allows, and still more in whole minutes."""
        return hours > self.hours and minutes(hours) > self.most


UNCOMPARED = Length(0, Decimal("Infinity"))
"""A session no row is compared with: its length unknown, or 0 (a survey done at home, a length
nobody entered). No hours are above its ``hours``, so the scan's test needs no test for None."""


class Held(NamedTuple):
    """A session held by the run date, as the scan reads it for each attendance row."""

    order: int
    """Its rank among the held sessions, oldest first."""
    project_id: str
    rate: Decimal | None
    """The rate when a fee is due for it (in the policy's time, of a kind with a rate), else None."""
    unrated: bool
    """In the policy's time, of a kind the policy has no rate for."""
    kind: str
    hours: Decimal | None
    """Its length; None when the length given was more than one session can take (flagged by the
    mapping): no fee is worked out from it until it is corrected."""
    length: Length
    """What a row's own hours are compared with (:data:`UNCOMPARED` when the length is unknown or
    0)."""
    fees: dict[Any, Due | None]
    """The fee due for attending it, by the row's preparation (whole session) or its hours and
    preparation, as found so far (None: nothing due)."""
    stated: Decimal
    """Its hours as the session record gives them (0 when unknown): what a row giving no hours of its
    own counts for in :attr:`Scan.voice_hours`."""
    voice_plain: list[str]
    """The people in a voice role whose rows at it give no hours of their own, as the rows come
    (repeated when a row is): :func:`voice_hours_at` makes :attr:`Scan.voice_hours` of them."""
    voice_timed: list[tuple[str, Decimal]]
    """The people in a voice role whose rows at it give hours of their own, with those hours."""


_HeldFields = tuple[
    int,
    str,
    Decimal | None,
    bool,
    str,
    Decimal | None,
    Length,
    dict[Any, Due | None],
    Decimal,
    list[str],
    list[tuple[str, Decimal]],
]
"""A :class:`Held`'s fields, in its order, as a plain tuple (:func:`_scan_rows`)."""


@dataclass
class Scan:
    """What one pass over the attendance rows finds (200,000 rows at the benchmark's size)."""

    dues: dict[tuple[str, PaymentKind], dict[int, Due]]
    """Everything owed, per person and kind: by the rank of the session it is owed for."""
    held: list[tuple[Session, SessionFacts]]
    """The sessions held by the run date, oldest first: a due's rank indexes this list."""
    projects: dict[str, str | None]
    """The project each person's flags belong to: the one project all the sessions they attended
    by the run date are in, else None."""
    unresourced: dict[str, set[str]]
    """Session id -> willing voice-role people who attended it, for held sessions in the policy's
    time whose kind has no rate."""
    too_long: dict[str, list[LongRow]]
    """Session id -> the rows whose own hours are more than the session's length allows
    (``data_quality.hours_over_session``), whoever's they are, by person id: empty for most
    datasets."""
    voice_ids: frozenset[str]
    """Everyone in the people list holding a voice role."""
    voice_hours: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> the hours they gave it (the larger of their rows; a row
    giving none counts the session's hours), for held sessions with any of them, as recorded (not
    capped at the session's length): what every other check reads of the register
    (:meth:`coprod_core.checks.attendance.VoiceAttendance.of_register`), found in this same pass."""

    def total(self, person_id: str, kind: PaymentKind) -> Decimal:
        """Everything the person is owed of one kind: the dues' amounts added up, as the sum of
        the Decimals would give it (to the hundredth: ``250.00``; ``0`` when nothing is owed), but
        added as whole numbers of hundredths, for the 17,000 people and kinds of a 1x check (a
        Decimal addition per due made a new Decimal each time: 1% of the whole check)."""
        return added_up(self.dues.get((person_id, kind)))

    def ranked(self, person_id: str, kind: PaymentKind) -> list[Ranked]:
        """The person's dues of one kind, oldest session first (sorted when a flag needs them)."""
        return as_named(Ranked, sorted(self.dues.get((person_id, kind), {}).items()))

    def owed(self, person_id: str, kind: PaymentKind) -> list[Owed]:
        """The person's dues of one kind as sessions and amounts, oldest first."""
        held = self.held
        return as_named(
            Owed,
            [
                (held[order][0], due.amount)
                for order, due in sorted(self.dues.get((person_id, kind), {}).items())
            ],
        )

    def settle(
        self, person_id: str, kind: PaymentKind, policy: PaymentPolicy, pays: Sequence[Payment]
    ) -> Settled:
        """The payments applied (:func:`apply`) to the person's dues of one kind, as entitlements
        that show what paid them, for someone paid less than they are owed.

        Where no payment names a session, the payments pay the oldest sessions first, so the
        sessions they pay in full are passed over by adding up what those are owed: entitlements
        are made only from the first session left unpaid in full or in part on (the ones the
        flags name), not for every session someone was ever owed for."""
        ranked = self.ranked(person_id, kind)
        paid_in_full = 0
        spent = ZERO
        if not any(p.session_id for p in pays):
            pool = sum((p.amount for p in pays if p.amount > 0), ZERO)
            for r in ranked:
                if spent + r.due.amount > pool:
                    break
                spent += r.due.amount
                paid_in_full += 1
        ents = self._entitlements(person_id, kind, policy, ranked[paid_in_full:])
        return Settled(ents, apply(ents, pays, spent))

    def _entitlements(
        self, person_id: str, kind: PaymentKind, policy: PaymentPolicy, ranked: list[Ranked]
    ) -> list[Entitlement]:
        """These dues of the person's as entitlements a payment can be applied to, in their order."""
        ents: list[Entitlement] = []
        fee = kind is PaymentKind.FEE
        changes = policy.changes
        for order, due in ranked:
            session, on = self.held[order]
            rate, minimum = None, ZERO
            if fee:
                # The policy in force on the session's date (a fee is due only in the policy's time).
                its = policy.terms_on(session.date) if changes else policy
                rate, minimum = its.rates[session.kind], its.minimum_hours
            ents.append(Entitlement(person_id, kind, session, due.amount, rate, due, minimum, on))
        return ents


def added_up(dues: dict[int, Due] | None) -> Decimal:
    """What these dues come to (:meth:`Scan.total`): 0 for none."""
    return Decimal(sum(map(HUNDREDTHS, dues.values()))).scaleb(-2) if dues else ZERO


class Settled(NamedTuple):
    """What payments leave of what someone is owed of one kind (:meth:`Scan.settle`)."""

    ents: list[Entitlement]
    """The entitlements made, oldest first, each with what paid it: every session where a payment
    names one; otherwise from the oldest session left unpaid in full or in part on."""
    surplus: Decimal
    """What the payments come to beyond everything owed."""


def fee_eligible(person: Person | None, policy: PaymentPolicy) -> bool:
    """Paid for their time: an eligible role, and not declined or marked not eligible.

    No preference recorded counts as eligible; a voucher is a payment.
    """
    if person is None or not person.has_any_role(policy.eligible_roles):
        return False
    return person.payment_preference not in NOT_PAID_PREFERENCES


def in_fee_window(session: Session, policy: PaymentPolicy, run_date: date) -> bool:
    return session.date <= run_date and (policy.effective is None or session.date >= policy.effective)


_MISSING: Any = object()


def scan_attendance(
    dataset: Dataset,
    policy: PaymentPolicy,
    voice_roles: frozenset[Role],
    run_date: date,
    people: dict[str, Person],
    sessions: dict[str, Session],
    hours_over_allowed: Decimal = ZERO,
) -> Scan:
    """What everyone is owed, each person's project and unresourced attendance, in one pass; and,
    from the same rows, the hours of the people in a voice role at each held session
    (:attr:`Scan.voice_hours`, as recorded), which the other checks read
    (:meth:`~coprod_core.checks.attendance.VoiceAttendance.of_register`).

    A repeated attendance row (same person, same session) counts once, the larger, so a row
    copied twice in a sheet does not double what someone is owed. Everything that depends only on
    the person or the session is worked out once per person or session, and each fee once per
    distinct session kind, hours and preparation (and looked up by the session and the row's
    preparation); the loop itself only looks things up.

    Rows whose own hours are more than their session's length by more than ``hours_over_allowed``
    (counted in whole minutes: :class:`Length`) are found at every held session, whoever's they are
    (the register is wrong even where no fee is worked out from them): a row a
    fee is worked out from where its fee is first worked out, once per session and distinct hours
    and preparation, so that path does nothing more per row; any other row by one comparison of its
    hours (a 1x register has tens of thousands of them: someone not paid for their time, a kind
    without a rate). Only when some session has any is the register read again for those sessions'
    rows (:attr:`Scan.too_long`). A session of 0 hours (a survey done at home, a length nobody
    entered) gives nothing to compare them with.
    """
    held = sorted((s for s in sessions.values() if s.date <= run_date), key=lambda s: (s.date, s.id))
    periods = policy.periods()
    starts = [change.from_ for change in policy.changes]
    # One table of held sessions per period of the policy (one without changes): each session is
    # judged by the policy in force on its date, and every row is read once, with its session's.
    infos: list[dict[str, Held]] = [{} for _ in periods]
    # One object per project id, so the project test below is mostly an identity test.
    project_ids: dict[str, str] = {}
    ranked: list[tuple[Session, SessionFacts]] = []
    for order, s in enumerate(held):
        at = bisect_right(starts, s.date) if starts else 0
        in_window = in_fee_window(s, policy, run_date)
        rates = periods[at].policy.rates
        rate = rates.get(s.kind) if in_window else None
        unrated = in_window and s.kind not in rates
        project_id = project_ids.setdefault(s.project_id, s.project_id)
        length = None if s.length_unknown else s.hours
        compared = Length.of(length, hours_over_allowed)
        infos[at][s.id] = Held(
            order, project_id, rate, unrated, s.kind.value, length, compared, {}, s.hours, [], []
        )
        ranked.append((s, SessionFacts(s.date.isoformat(), s.kind.value, (run_date - s.date).days)))
    voice_ids = frozenset(pid for pid, p in people.items() if p.has_any_role(voice_roles))
    voice_willing = {pid for pid in voice_ids if people[pid].payment_preference not in NOT_PAID_PREFERENCES}
    found_rows = _Found()
    register = dataset.attendance
    terms: list[_Terms] = []
    for period, info in zip(periods, infos, strict=True):
        rows = (
            register
            if len(infos) == 1
            else compress(register, map(info.__contains__, map(SESSION_ID, register)))
        )
        terms.append(_Terms.of(period.policy, people))
        if info:
            _scan_rows(rows, info, terms[-1], voice_ids, voice_willing, found_rows)

    dues: dict[tuple[str, PaymentKind], dict[int, Due]] = {}
    for kind in (PaymentKind.FEE, PaymentKind.EXPENSES):
        for pid, by_order in found_rows.dues(kind).items():
            dues[(pid, kind)] = by_order
    too_long: dict[str, list[LongRow]] = {}
    if found_rows.long_sessions:
        held_by_id = {sid: (h, t) for info, t in zip(infos, terms, strict=True) for sid, h in info.items()}
        lengths = {sid: held_by_id[sid][0].length for sid in found_rows.long_sessions}

        def fee_from(sid: str, pid: str, hours: Decimal, prep: Decimal) -> FeeFrom:
            session_info, its = held_by_id[sid]
            if not session_info.rate or pid not in its.eligible:
                return FeeFrom.NONE
            counted = prep if its.prep_counts else ZERO
            return FeeFrom.MINIMUM if its.minimum >= hours + counted else FeeFrom.HOURS

        too_long = _long_rows(dataset, lengths, fee_from)
    voice_hours = {
        sid: voice_hours_at(h.stated, h.voice_plain, h.voice_timed)
        for info in infos
        for sid, h in info.items()
        if h.voice_plain or h.voice_timed
    }
    return Scan(dues, ranked, found_rows.projects(), found_rows.unresourced, too_long, voice_ids, voice_hours)


@dataclass(slots=True)
class _Terms:
    """What one period of the policy gives the rows of its sessions (:func:`_scan_rows`)."""

    eligible: set[str]
    """The people paid for their time under it (:func:`fee_eligible`)."""
    rate_texts: dict[str, str]
    minimum: Decimal
    minimum_text: str
    prep_counts: bool
    expenses: bool

    @classmethod
    def of(cls, policy: PaymentPolicy, people: dict[str, Person]) -> _Terms:
        return cls(
            {pid for pid, p in people.items() if fee_eligible(p, policy)},
            {kind.value: cash(rate) for kind, rate in policy.rates.items()},
            policy.minimum_hours,
            num(policy.minimum_hours),
            policy.prep_counts,
            policy.expenses_reimbursed,
        )


@dataclass(slots=True)
class _Attendee:
    """One person as the pass over the register finds them: all that a row of theirs reads or adds
    to, in one object found by one look-up per row (:func:`_scan_rows`).

    Why one object: the register's rows come in no order of person, so each table keyed by person
    that a row looks in is a look-up somewhere in memory no earlier row left in the cache. Five such
    tables (the project seen, eligible, willing voice, fees, expenses) cost five of them per row; at
    five times the benchmark's size (50,000 people) each such miss also costs more, so the pass grew
    faster than the register. One object holds what the five held for the person."""

    project: str | None
    """The project of every session they attended, or None once there are two."""
    voice: bool
    """In a voice role and willing to be paid (their attendance at an unrated kind is unresourced)."""
    in_voice_role: bool
    """In a voice role, willing to be paid or not (their rows go to :attr:`Held.voice_plain` or
    :attr:`Held.voice_timed`)."""
    terms: _Terms
    """The period of the policy whose ``eligible`` was last read for them."""
    eligible: bool
    """Paid for their time under ``terms`` (:func:`fee_eligible`)."""
    fees: dict[int, Due] = field(default_factory=dict)
    """Session rank -> fee due: the larger of repeated rows is kept."""
    expenses: dict[int, Due] = field(default_factory=dict)


@dataclass(slots=True)
class _Found:
    """What the pass over the register gathers, across the periods of the policy."""

    attendees: dict[str, _Attendee] = field(default_factory=dict)
    """Person -> what their rows found, for everyone with a row at a held session, in the order of
    their first such row."""
    unresourced: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    long_sessions: set[str] = field(default_factory=set)
    """Sessions where some row's own hours are above the session's length."""
    claims: dict[Decimal, Due | None] = field(default_factory=dict)

    def dues(self, kind: PaymentKind) -> dict[str, dict[int, Due]]:
        """Person -> session rank -> due, of one kind, for the people owed any."""
        if kind is PaymentKind.FEE:
            return {pid: a.fees for pid, a in self.attendees.items() if a.fees}
        return {pid: a.expenses for pid, a in self.attendees.items() if a.expenses}

    def projects(self) -> dict[str, str | None]:
        """Person -> the project of every session they attended, or None once there are two."""
        return {pid: a.project for pid, a in self.attendees.items()}


def _scan_rows(
    rows: Iterable[Attendance],
    info: dict[str, Held],
    terms: _Terms,
    voice_ids: frozenset[str],
    voice_willing: set[str],
    out: _Found,
) -> None:
    """The rows of the sessions in ``info`` (those of one period of the policy), read once each
    (:func:`scan_attendance`), with that period's ``terms``; rows of other sessions are passed over.

    The voice-role people's rows at each session (:attr:`Held.voice_plain`, :attr:`Held.voice_timed`)
    are gathered here too, for the other checks: a row is read once for all of them, as the person's
    one look-up serves both. A pass of its own over the register for them cost a twelfth of the 1x
    check and grew nine times at 5x (each row's look-up of its person misses the cache once the
    people no longer fit in it)."""
    minimum, minimum_text, rate_texts = terms.minimum, terms.minimum_text, terms.rate_texts
    eligible, prep_counts, expenses = terms.eligible, terms.prep_counts, terms.expenses
    fees: dict[tuple[str, Decimal, Decimal], Due | None] = {}
    long_sessions = out.long_sessions

    def fee(kind: str, rate: Decimal, worked: Decimal | None, prep: Decimal) -> Due | None:
        """The fee for ``worked`` hours and ``prep`` at a session of this kind and rate (None:
        nothing due, or ``worked`` unknown). Everything here depends only on the kind's rate and the
        values of the hours, not on how they are written (2 or 2.0): evidence and messages normalise
        them."""
        if worked is None:
            return None
        key = (kind, worked, prep)
        due = fees.get(key, _MISSING)
        if due is _MISSING:
            paid_hours = max(minimum, worked + prep)
            amount = (rate * paid_hours).quantize(CENT, rounding=ROUND_HALF_UP)
            due = None
            if amount > 0:
                texts = DueTexts(
                    cash(amount),
                    rate_texts[kind],
                    num(worked),
                    num(prep),
                    minimum_text,
                    num(paid_hours),
                )
                due = Due(amount, worked, prep, paid_hours, texts, int(amount.scaleb(2)))
            fees[key] = due
        return due

    claims = out.claims
    attendees = out.attendees
    unresourced = out.unresourced
    # Each session's Held as a plain tuple, for the loop to unpack: CPython unpacks a named tuple
    # (a subclass of tuple) the slow, general way, three times as long as a tuple, once per row.
    # The tuples hold the same tables and lists as the Held ones, so what the loop adds is there.
    as_tuples: dict[str, _HeldFields] = {sid: cast(_HeldFields, tuple(held)) for sid, held in info.items()}
    get_info, attendee = as_tuples.get, attendees.get

    # Attendance's five fields in their declared order: unpacked, not read by name, as this loop runs
    # once per register row. What depends on the person is read from their one _Attendee.
    for pid, sid, hours, prep, claimed in rows:
        session_info = get_info(sid)
        if session_info is None:
            continue
        order, project_id, rate, unrated, kind, session_hours, limit, session_fees, _, plain, timed = (
            session_info
        )
        me = attendee(pid)
        if me is None:
            me = attendees[pid] = _Attendee(
                project_id, pid in voice_willing, pid in voice_ids, terms, pid in eligible
            )
        else:
            seen = me.project
            if seen is not project_id and seen is not None and seen != project_id:
                me.project = None
            if me.terms is not terms:  # a row of another period of the policy than their last
                me.terms, me.eligible = terms, pid in eligible
        if me.in_voice_role:
            if hours is None:
                plain.append(pid)
            else:
                timed.append((pid, hours))
            if unrated and me.voice:
                unresourced[sid].add(pid)
        if rate is not None and me.eligible:
            if not prep_counts:
                prep = ZERO
            key = prep if hours is None else (hours, prep)
            due = session_fees.get(key, _MISSING)
            if due is _MISSING:
                due = session_fees[key] = fee(kind, rate, session_hours if hours is None else hours, prep)
                if hours is not None and limit.exceeded_by(hours):
                    long_sessions.add(sid)
            if due is not None:
                mine = me.fees
                old = mine.setdefault(order, due)
                if old is not due and due > old:
                    mine[order] = due
        elif hours is not None and hours > limit.hours and limit.exceeded_by(hours):
            long_sessions.add(sid)  # a row no fee is worked out from: its hours count elsewhere
        if expenses and claimed:  # most rows claim nothing (zero): no look-up for them
            due = claims.get(claimed, _MISSING)
            if due is _MISSING:
                due = None
                if claimed > ZERO:
                    quantized = claimed.quantize(CENT, rounding=ROUND_HALF_UP)
                    due = Due(
                        quantized, ZERO, ZERO, ZERO, DueTexts(cash(quantized)), int(quantized.scaleb(2))
                    )
                claims[claimed] = due
            if due is not None:
                mine = me.expenses
                old = mine.setdefault(order, due)
                if old is not due and due > old:
                    mine[order] = due


def voice_hours_at(stated: Decimal, plain: list[str], timed: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """The hours each voice-role person gave a session: ``stated`` (the session's) for those whose
    rows give none (``plain``), else the hours their row gives (``timed``), the larger of a person's
    rows. The rows' pass only appends each row's person to a list: the session's table is made here,
    in one go per session, where adding each row to it as the rows came (in no order of session)
    reached into a table anywhere in memory for each, a third of that pass's time at 1x."""
    mine = dict.fromkeys(plain, stated)
    for pid, hours in timed:
        kept = mine.get(pid)
        if kept is None or hours > kept:
            mine[pid] = hours
    return mine


class PolicyLess(NamedTuple):
    """What one pass over the register finds where there is no payment policy
    (:func:`scan_without_policy`): what :class:`Scan` gives the payment flags that need no policy."""

    voice_hours: dict[str, dict[str, Decimal]]
    """Session id -> the people in a voice role who attended it, with their hours, for sessions held
    by the run date (``payments.no_policy``; for the other checks, as :attr:`Scan.voice_hours`)."""
    too_long: dict[str, list[LongRow]]
    """As :attr:`Scan.too_long` (no fee is worked out from any row)."""
    voice_ids: frozenset[str]
    """As :attr:`Scan.voice_ids`."""


def scan_without_policy(
    dataset: Dataset,
    voice_roles: frozenset[Role],
    run_date: date,
    people: dict[str, Person],
    sessions: dict[str, Session],
    hours_over_allowed: Decimal = ZERO,
) -> PolicyLess:
    """Who in a voice role attended each held session, and the rows whose own hours are more than
    their session's length allows, in one pass over the register: without a policy there is no
    pass that works out fees to find them in. Per row, one look-up of the session and one of the
    person, and for a row giving hours one comparison with the session's length (most give it
    exactly); the rows of a session some row is over are read again (:func:`_long_rows`). The
    voice-role people's hours are gathered in the same pass, as :func:`scan_attendance` gathers them."""
    lengths: dict[str, tuple[Length, list[str], list[tuple[str, Decimal]]]] = {
        s.id: (Length.of(None if s.length_unknown else s.hours, hours_over_allowed), [], [])
        for s in sessions.values()
        if s.date <= run_date
    }
    voice_ids = frozenset(pid for pid, p in people.items() if p.has_any_role(voice_roles))
    long_sessions: dict[str, Length] = {}
    get_length = lengths.get
    for pid, sid, hours, _, _ in dataset.attendance:
        held = get_length(sid)
        if held is None:
            continue
        length, plain, timed = held
        if pid in voice_ids:
            if hours is None:
                plain.append(pid)
            else:
                timed.append((pid, hours))
        if hours is not None and hours > length.hours and length.exceeded_by(hours):
            long_sessions[sid] = length
    too_long: dict[str, list[LongRow]] = {}
    if long_sessions:
        too_long = _long_rows(dataset, long_sessions, lambda sid, pid, hours, prep: FeeFrom.NONE)
    voice = {
        sid: voice_hours_at(sessions[sid].hours, plain, timed)
        for sid, (_, plain, timed) in lengths.items()
        if plain or timed
    }
    return PolicyLess(voice, too_long, voice_ids)


def _long_rows(
    dataset: Dataset,
    lengths: dict[str, Length],
    fee_from: Callable[[str, str, Decimal, Decimal], FeeFrom],
) -> dict[str, list[LongRow]]:
    """The rows of these sessions (``lengths``) whose own hours are above the session's length and
    allowance (:class:`Length`), by person id: one per person, the larger hours (and preparation), as
    the fee counts a row repeated (same person, same session) once; each with what its fee is worked
    out from (``fee_from(session id, person id, hours, preparation)``).

    In :func:`scan_attendance`, a second read of the register, made only when some session has such
    a row (the scan found the sessions, not the rows); so too in :func:`scan_without_policy`.
    The rows of other sessions are passed over in C (``compress``), so only these sessions' rows come
    into Python."""
    found: dict[str, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
    register = dataset.attendance
    theirs = compress(register, map(lengths.__contains__, map(SESSION_ID, register)))
    for pid, sid, hours, prep, _ in theirs:
        if hours is not None:
            length = lengths[sid]
            if hours > length.hours and length.exceeded_by(hours):
                mine = found[sid]
                row = (hours, prep)
                if pid not in mine or row > mine[pid]:
                    mine[pid] = row
    return {
        sid: sorted(
            LongRow(pid, hours, fee_from(sid, pid, hours, prep)) for pid, (hours, prep) in rows.items()
        )
        for sid, rows in found.items()
    }


def payment_order(p: Payment) -> tuple[date, str, Decimal, str]:
    return (p.date, p.id, p.amount, p.session_id or "")


_PAYMENT_FIELDS_IN_ORDER = attrgetter("date", "id", "amount", "session_id")
""":func:`payment_order` read in C: the same order wherever it can compare two payments, which is
everywhere but two of the same date, id and amount, one naming a session and one not."""


def in_payment_order(pays: list[Payment]) -> list[Payment]:
    """``pays`` sorted by :func:`payment_order`, without a Python call per payment (50,000 at 1x)
    where :data:`_PAYMENT_FIELDS_IN_ORDER` can compare them all."""
    try:
        return sorted(pays, key=_PAYMENT_FIELDS_IN_ORDER)
    except TypeError:  # None against a session id: only payment_order's "" compares them
        return sorted(pays, key=payment_order)


def counted_payments(
    dataset: Dataset, policy: PaymentPolicy, run_date: date, sessions: dict[str, Session]
) -> dict[tuple[str, PaymentKind], list[Payment]]:
    """Payments made by the run date, per person and kind, in date order.

    A payment naming a session the policy does not cover (not yet held, before the policy took
    effect, or a kind without a rate in the policy in force on the session's date) is left aside: it is not for anything this check works out,
    so it neither pays another session nor counts as an overpayment.
    """
    grouped: dict[tuple[str, PaymentKind], list[Payment]] = defaultdict(list)
    for p in dataset.payments:
        if p.date > run_date:
            continue
        named = sessions.get(p.session_id) if p.session_id else None
        if named is not None:
            if named.date > run_date:
                continue
            its = policy.at(named.date)
            uncovered_fee = its is None or named.kind not in its.rates
            if p.kind is PaymentKind.FEE and uncovered_fee:
                continue
        grouped[(p.person_id, p.kind)].append(p)
    return {group: in_payment_order(pays) for group, pays in grouped.items()}


def apply(ents: Sequence[Entitlement], pays: Sequence[Payment], spent: Decimal = ZERO) -> Decimal:
    """Apply payments to entitlements; return what is left over (paid beyond what is owed).

    A payment naming a session pays that session first. Everything else, and any remainder, pays
    the oldest unpaid session first, payments taken in date order. ``spent``: what the payments
    paid to older sessions they paid in full, left out of ``ents`` (:meth:`Scan.settle`, where no
    payment names a session): taken from the payments first, in the same order.
    """
    named = any(p.session_id for p in pays)
    by_session = {e.session.id: e for e in ents} if named else {}
    pool: list[Applied] = []
    for p in pays:
        rest = p.amount
        target = by_session.get(p.session_id) if p.session_id else None
        if target is not None:
            rest = target.pay(p.id, rest)
        if rest > 0:
            pool.append(Applied(p.id, rest))
    surplus = ZERO
    first_unpaid = 0
    """Every entitlement before this one is fully paid: a payment only ever stops part-way into one."""
    for payment_id, rest in pool:
        if spent:
            taken = min(spent, rest)
            spent -= taken
            rest -= taken
        for i in range(first_unpaid, len(ents)):
            if rest <= 0:
                break
            ent = ents[i]
            if ent.amount > ent.paid:
                rest = ent.pay(payment_id, rest)
            first_unpaid = i
        surplus += rest
    return surplus


def duplicates(pays: Sequence[Payment]) -> list[list[Payment]]:
    """Groups of payments with the same amount made within a few days of each other."""
    by_amount: dict[Decimal, list[Payment]] = defaultdict(list)
    for p in pays:
        by_amount[p.amount].append(p)
    groups: list[list[Payment]] = []
    for amount in sorted(by_amount):
        run: list[Payment] = []
        for p in sorted(by_amount[amount], key=payment_order):
            if run and (p.date - run[-1].date).days > DUPLICATE_WINDOW_DAYS:
                if len(run) > 1:
                    groups.append(run)
                run = []
            run.append(p)
        if len(run) > 1:
            groups.append(run)
    groups.sort(key=lambda g: payment_order(g[0]))
    return groups
