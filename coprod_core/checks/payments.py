"""Participation payments owed: are people paid for their time, in full and on time?

**What it checks**
From the project's payment policy (rate per hour for each kind of session, minimum paid time,
whether preparation counts, who is eligible, expenses, how soon people are paid) it works out what
each person is owed for every session they attended up to the run date, applies the payments
recorded (a payment naming a session pays that session first; the rest pays the oldest unpaid
session first) and flags:

- ``payments.owed``: money still owed but within the time the policy allows (info);
- ``payments.overdue``: money unpaid for longer than the policy allows, naming the oldest session
  (warning; critical after twice the allowed time);
- ``payments.overpaid``: more paid than owed, with payments that look like duplicates (warning);
- ``payments.paid_though_declined``: fees paid to someone who said they did not want paying;
- ``payments.unresourced``: people with lived experience or carers took part in a kind of session
  the policy has no rate for; ``payments.no_policy`` when there is no policy at all;
- ``payments.benefits_threshold``: for people who asked, fees in one calendar month above the
  amount the policy sets (info).

**Why it matters**
Reciprocity is one of SCIE's co-production principles, and NIHR and NHS England payment guidance
say people who give their time and expertise should be paid for it, promptly, at a fair rate, with
expenses reimbursed. Late or missing payments fall hardest on the people with least money, and
quietly turn partners back into volunteers. Payment can also affect benefits (Universal Credit has
a monthly work allowance), which is why some people decline and others ask to be warned.

**What staff can do**
Pay what is owed, or record a payment already made; check a possible duplicate with finance; talk
with anyone paid though they declined, or whose monthly fees may affect their benefits; add missing
session kinds to the policy, or add a policy to the recipe.

Money is ``Decimal`` throughout (evidence carries amounts as strings), never float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import (
    KIND_WORDS,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Session,
)
from coprod_core.rules import declare
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day, hours, join, money
from coprod_core.voice import say

CHECK_ID = "payments"

_PAYMENT_SOURCE = (
    "NIHR payment guidance for public involvement; NHS England 2022 guidance; SCIE (reciprocity)"
)

OWED = declare(
    "payments.owed",
    "Payment due",
    Severity.INFO,
    what="""Someone eligible is owed a fee (the policy's rate for the kind of session x the larger of
    the minimum paid time and hours + preparation) or an expenses claim for sessions held by the
    run date, still within the policy's pay-within days; payments are applied to a named session
    first, then oldest first.""",
    why="""People who give their time and expertise should be paid for it, promptly and at a fair
    rate; paying on time is part of treating them as partners.""",
    source=_PAYMENT_SOURCE,
    action="Pay by the date the message gives, or record the payment if it has been made.",
)
OVERDUE = declare(
    "payments.overdue",
    "Payment overdue",
    Severity.WARNING,
    what="""Money owed (as for payments.owed) has been unpaid for longer than the policy's pay-within
    days; the flag names the oldest unpaid session.""",
    why="""Late payments fall hardest on the people with least money, and quietly turn partners back
    into volunteers.""",
    source=_PAYMENT_SOURCE,
    action="Pay what is owed, or record the payment here if it has already been made.",
    severity_note="critical after twice the pay-within days",
)
OVERPAID = declare(
    "payments.overpaid",
    "Paid more than owed",
    Severity.WARNING,
    what="""A person was paid more in fees (or in expenses) than the policy says they are owed, beyond
    the tolerance setting; payments of the same amount within 7 days are named as a possible
    duplicate.""",
    why="""An overpayment may have to be paid back, and can affect someone's benefits; a duplicate is
    easier to put right soon.""",
    source=_PAYMENT_SOURCE,
    action="""Check with finance whether a payment was made twice or was for a session or hours not
    recorded here, and put it right with the person.""",
)
PAID_THOUGH_DECLINED = declare(
    "payments.paid_though_declined",
    "Paid though payment declined",
    Severity.WARNING,
    what="A fee was paid to someone whose payment preference is declined.",
    why="""People often decline payment because it could affect their benefits; paying them anyway can
    cost them more than it gives.""",
    source=_PAYMENT_SOURCE,
    action="Check with them: stop the payments, or update their preference if it has changed.",
)
BENEFITS_THRESHOLD = declare(
    "payments.benefits_threshold",
    "Monthly fees above benefits threshold",
    Severity.INFO,
    what="""For a person who asked to be told, the fees they are owed for sessions in one calendar month
    come to more than the policy's benefits threshold.""",
    why="""Earnings above a benefit's limit (such as the Universal Credit work allowance) can reduce
    what someone receives.""",
    source=_PAYMENT_SOURCE,
    action="""Talk it through with them before paying, and offer to put them in touch with a benefits
    adviser.""",
    needs="The policy's benefits_monthly_threshold and each person's opt-in; silent without them.",
)
UNRESOURCED = declare(
    "payments.unresourced",
    "Session kind not in payment policy",
    Severity.WARNING,
    what="""People in a voice role who are willing to be paid took part in a session whose kind has no
    rate in the payment policy.""",
    why="""Nobody can tell what they are owed for it, so their time there goes unpaid by default.""",
    source=_PAYMENT_SOURCE,
    action="Add a rate for the kind of session to the policy, or record how their time was recognised.",
)
NO_POLICY = declare(
    "payments.no_policy",
    "No payment policy",
    Severity.WARNING,
    what="People in a voice role took part in a project, and the recipe has no payment policy.",
    why="""Without a policy nobody can tell whether people were paid for their time, as the guidance
    expects.""",
    source=_PAYMENT_SOURCE,
    action="""Add the project's payment policy to its recipe: a rate per hour for each kind of session,
    any minimum paid time, and how soon people are paid.""",
)

DUPLICATE_WINDOW_DAYS = 7
"""Two payments of the same amount to the same person this close together look like a duplicate."""

MAX_LISTED = 5
"""Sessions named one by one in a message; the rest are counted (the evidence lists them all)."""

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_NOT_PAID_PREFERENCES = frozenset({PaymentPreference.DECLINED, PaymentPreference.NOT_ELIGIBLE})


# --------------------------------------------------------------------------------------------
# What is owed, and what paid it


_SessionFacts = tuple[str, str, int]
"""A session's date as ISO text, its kind's value and its days since the session, on the run date."""


@dataclass(slots=True)
class _Entitlement:
    """What one person is owed for one session, of one kind (fee or expenses), and what paid it."""

    person_id: str
    kind: PaymentKind
    session: Session
    amount: Decimal
    rate: Decimal | None = None
    worked: Decimal = _ZERO
    prep: Decimal = _ZERO
    """Preparation hours counted (0 when the policy does not count preparation)."""
    minimum: Decimal = _ZERO
    paid_hours: Decimal = _ZERO
    paid: Decimal = _ZERO
    applied: tuple[tuple[str, Decimal], ...] = ()
    """(payment id, amount) of each payment that paid some of it (a tuple: most are never paid)."""
    texts: tuple[str, ...] = ()
    """The amount's evidence as text, worked out once per distinct (kind, hours, preparation):
    entitled, then for a fee rate, hours, prep_hours, minimum_hours and paid_hours."""
    on: _SessionFacts = ("", "", 0)
    """The session's date as ISO text, its kind's value, and its age in days on the run date."""

    @property
    def age(self) -> int:
        return self.on[2]

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.paid

    @property
    def minimum_applied(self) -> bool:
        return self.minimum > self.worked + self.prep

    def pay(self, payment_id: str, available: Decimal) -> Decimal:
        """Take what this entitlement still needs from ``available``; return what is left."""
        take = min(available, self.remaining)
        if take > 0:
            self.paid += take
            self.applied += ((payment_id, take),)
        return available - take


def _num(d: Decimal) -> str:
    """A Decimal as plain digits for evidence: ``2``, ``1.5``, never ``2E+1``."""
    return format(d.normalize(), "f") if d else "0"


def _cash(d: Decimal) -> str:
    return str(d.quantize(_CENT, rounding=ROUND_HALF_UP)) if d == d.quantize(_CENT) else str(d)


def _fee_eligible(person: Person | None, policy: PaymentPolicy) -> bool:
    """Paid for their time: an eligible role, and not declined or marked not eligible.

    No preference recorded counts as eligible; a voucher is a payment.
    """
    if person is None or not person.has_any_role(policy.eligible_roles):
        return False
    return person.payment_preference not in _NOT_PAID_PREFERENCES


def _in_fee_window(session: Session, policy: PaymentPolicy, run_date: date) -> bool:
    return session.date <= run_date and (policy.effective is None or session.date >= policy.effective)


_Due = tuple[Decimal, Decimal, Decimal, Decimal, tuple[str, ...]]
"""What one attendance entitles someone to, compactly: amount, hours worked, preparation hours
counted, hours paid and the amount's evidence as text (for expenses: amount, 0, 0, 0, texts).

One tuple is shared by every attendance with the same kind of session, hours and preparation (or
the same claim), so a scan of 200,000 rows builds a few hundred of them, and an ``_Entitlement``
is only made for the people whose sessions a message or evidence will name."""


class _Owed(NamedTuple):
    """A session someone is owed for, and the amount (before any payment)."""

    session: Session
    amount: Decimal


@dataclass
class _Attendance:
    """What one pass over the attendance rows finds (200,000 rows at the benchmark's size)."""

    dues: dict[tuple[str, PaymentKind], list[tuple[int, _Due]]]
    """Everything owed, per person and kind: (the session's rank, oldest first; what is due)."""
    held: list[tuple[Session, _SessionFacts]]
    """The sessions held by the run date, oldest first: a due's rank indexes this list."""
    projects: dict[str, str | None]
    """The project each person's flags belong to: the one project all the sessions they attended
    by the run date are in, else None."""
    unresourced: dict[str, set[str]]
    """Session id -> willing voice-role people who attended it, for held sessions in the policy's
    time whose kind has no rate."""

    def owed(self, person_id: str, kind: PaymentKind) -> list[_Owed]:
        """The person's dues of one kind as sessions and amounts, oldest first: what a flag that
        names them needs when no payment is applied to them (lighter than entitlements)."""
        held = self.held
        return [_Owed(held[order][0], due[0]) for order, due in self.dues.get((person_id, kind), ())]

    def entitlements(self, person_id: str, kind: PaymentKind, policy: PaymentPolicy) -> list[_Entitlement]:
        """The person's dues of one kind as entitlements a payment can be applied to, oldest first."""
        ents: list[_Entitlement] = []
        for order, (amount, worked, prep, paid_hours, texts) in self.dues.get((person_id, kind), ()):
            session, on = self.held[order]
            if kind is PaymentKind.FEE:
                rate = policy.rates[session.kind]
                ents.append(
                    _Entitlement(
                        person_id,
                        kind,
                        session,
                        amount,
                        rate,
                        worked,
                        prep,
                        policy.minimum_hours,
                        paid_hours,
                        texts=texts,
                        on=on,
                    )
                )
            else:
                ents.append(_Entitlement(person_id, kind, session, amount, texts=texts, on=on))
        return ents


_MISSING: Any = object()


def _scan_attendance(
    dataset: Dataset,
    policy: PaymentPolicy,
    settings: CheckSettings,
    run_date: date,
    people: dict[str, Person],
    sessions: dict[str, Session],
) -> _Attendance:
    """What everyone is owed, each person's project and unresourced attendance, in one pass.

    A repeated attendance row (same person, same session) counts once, the larger, so a row
    copied twice in a sheet does not double what someone is owed. Everything that depends only on
    the person or the session is worked out once per person or session, and each fee once per
    distinct session kind, hours and preparation; the loop itself only looks things up.
    """
    held = sorted((s for s in sessions.values() if s.date <= run_date), key=lambda s: (s.date, s.id))
    rate_texts = {kind: _cash(rate) for kind, rate in policy.rates.items()}
    # One object per project id, so the project test below is mostly an identity test.
    project_ids: dict[str, str] = {}
    # Per session: (rank, project, rate when a fee is due for it, unrated, the kind's value, hours).
    info: dict[str, tuple[int, str, Decimal | None, bool, str, Decimal]] = {}
    ranked: list[tuple[Session, _SessionFacts]] = []
    for order, s in enumerate(held):
        in_window = _in_fee_window(s, policy, run_date)
        rate = policy.rates.get(s.kind) if in_window else None
        unrated = in_window and s.kind not in policy.rates
        project_id = project_ids.setdefault(s.project_id, s.project_id)
        info[s.id] = (order, project_id, rate, unrated, s.kind.value, s.hours)
        ranked.append((s, (s.date.isoformat(), s.kind.value, (run_date - s.date).days)))
    eligible = {pid for pid, p in people.items() if _fee_eligible(p, policy)}
    voice_willing = {
        pid
        for pid, p in people.items()
        if p.has_any_role(settings.voice_roles) and p.payment_preference not in _NOT_PAID_PREFERENCES
    }
    minimum = policy.minimum_hours
    prep_counts = policy.prep_counts
    expenses = policy.expenses_reimbursed
    fees: dict[tuple[str, Decimal, Decimal], _Due | None] = {}
    claims: dict[Decimal, _Due] = {}
    # Person -> session rank -> due: the larger of repeated rows is kept.
    best_fee: dict[str, dict[int, _Due]] = defaultdict(dict)
    best_expenses: dict[str, dict[int, _Due]] = defaultdict(dict)
    # Person -> the project of every session they attended, or None once there are two.
    found: dict[str, str | None] = {}
    unresourced: dict[str, set[str]] = defaultdict(set)

    for row in dataset.attendance:
        sid = row.session_id
        session_info = info.get(sid)
        if session_info is None:
            continue
        order, project_id, rate, unrated, kind, session_hours = session_info
        pid = row.person_id
        seen = found.get(pid, _MISSING)
        if seen is not project_id and seen is not None:
            found[pid] = project_id if seen is _MISSING or seen == project_id else None
        if unrated and pid in voice_willing:
            unresourced[sid].add(pid)
        if rate is not None and pid in eligible:
            worked = row.hours
            if worked is None:
                worked = session_hours
            prep = row.prep_hours if prep_counts else _ZERO
            due = fees.get((kind, worked, prep), _MISSING)
            if due is _MISSING:
                # Everything below depends only on the kind's rate and the values of the hours, not
                # on how they are written (2 or 2.0): evidence and messages normalise them.
                paid_hours = max(minimum, worked + prep)
                amount = (rate * paid_hours).quantize(_CENT, rounding=ROUND_HALF_UP)
                due = None
                if amount > 0:
                    session_kind = ranked[order][0].kind
                    texts = (_cash(amount), rate_texts[session_kind], _num(worked), _num(prep))
                    due = (amount, worked, prep, paid_hours, (*texts, _num(minimum), _num(paid_hours)))
                fees[(kind, worked, prep)] = due
            if due is not None:
                mine = best_fee[pid]
                old = mine.get(order)
                if old is None or due > old:
                    mine[order] = due
        if expenses:
            claimed = row.expenses_claimed
            if claimed > _ZERO:
                due = claims.get(claimed)
                if due is None:
                    quantized = claimed.quantize(_CENT, rounding=ROUND_HALF_UP)
                    due = claims[claimed] = (quantized, _ZERO, _ZERO, _ZERO, (_cash(quantized),))
                mine = best_expenses[pid]
                old = mine.get(order)
                if old is None or due > old:
                    mine[order] = due

    dues: dict[tuple[str, PaymentKind], list[tuple[int, _Due]]] = {}
    for kind, best in ((PaymentKind.FEE, best_fee), (PaymentKind.EXPENSES, best_expenses)):
        for pid, by_order in best.items():
            dues[(pid, kind)] = sorted(by_order.items())
    return _Attendance(dues, ranked, found, unresourced)


def _payment_order(p: Payment) -> tuple[date, str, Decimal, str]:
    return (p.date, p.id, p.amount, p.session_id or "")


def _counted_payments(
    dataset: Dataset, policy: PaymentPolicy, run_date: date, sessions: dict[str, Session]
) -> dict[tuple[str, PaymentKind], list[Payment]]:
    """Payments made by the run date, per person and kind, in date order.

    A payment naming a session the policy does not cover (not yet held, before the policy took
    effect, or a kind without a rate) is left aside: it is not for anything this check works out,
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
            uncovered_fee = not _in_fee_window(named, policy, run_date) or named.kind not in policy.rates
            if p.kind is PaymentKind.FEE and uncovered_fee:
                continue
        grouped[(p.person_id, p.kind)].append(p)
    for pays in grouped.values():
        pays.sort(key=_payment_order)
    return grouped


def _apply(ents: Sequence[_Entitlement], pays: Sequence[Payment]) -> Decimal:
    """Apply payments to entitlements; return what is left over (paid beyond what is owed).

    A payment naming a session pays that session first. Everything else, and any remainder, pays
    the oldest unpaid session first, payments taken in date order.
    """
    named = any(p.session_id for p in pays)
    by_session = {e.session.id: e for e in ents} if named else {}
    pool: list[tuple[str, Decimal]] = []
    for p in pays:
        rest = p.amount
        target = by_session.get(p.session_id) if p.session_id else None
        if target is not None:
            rest = target.pay(p.id, rest)
        if rest > 0:
            pool.append((p.id, rest))
    surplus = _ZERO
    first_unpaid = 0
    """Every entitlement before this one is fully paid: a payment only ever stops part-way into one."""
    for payment_id, rest in pool:
        for i in range(first_unpaid, len(ents)):
            if rest <= 0:
                break
            ent = ents[i]
            if ent.amount > ent.paid:
                rest = ent.pay(payment_id, rest)
            first_unpaid = i
        surplus += rest
    return surplus


def _duplicates(pays: Sequence[Payment]) -> list[list[Payment]]:
    """Groups of payments with the same amount made within a few days of each other."""
    by_amount: dict[Decimal, list[Payment]] = defaultdict(list)
    for p in pays:
        by_amount[p.amount].append(p)
    groups: list[list[Payment]] = []
    for amount in sorted(by_amount):
        run: list[Payment] = []
        for p in sorted(by_amount[amount], key=_payment_order):
            if run and (p.date - run[-1].date).days > DUPLICATE_WINDOW_DAYS:
                if len(run) > 1:
                    groups.append(run)
                run = []
            run.append(p)
        if len(run) > 1:
            groups.append(run)
    groups.sort(key=lambda g: _payment_order(g[0]))
    return groups


# --------------------------------------------------------------------------------------------
# Words


def _who(person_id: str, people: dict[str, Person]) -> str:
    person = people.get(person_id)
    return person.label() if person else f"Person ID {person_id}"


def _details(ent: _Entitlement, currency: str) -> str:
    """How the amount was worked out, in brackets: `` (2 hours + 1 hour preparation at £25.00 an hour)``.

    Empty for an expenses claim not yet partly paid: the amount already says it all.
    """
    parts: list[str] = []
    if ent.kind is PaymentKind.FEE and ent.rate is not None:
        time = hours(ent.worked)
        if ent.prep > 0:
            time += f" + {hours(ent.prep)} preparation"
        if ent.minimum_applied:
            time += f", paid as the minimum of {hours(ent.minimum)},"
        parts.append(f"{time} at {money(ent.rate, currency)} an hour")
    if ent.paid > 0:
        parts.append(f"{money(ent.paid, currency)} of {money(ent.amount, currency)} paid so far")
    return f" ({'; '.join(parts)})" if parts else ""


class _Words:
    """The words messages repeat, each worked out once in a run: session labels and sums of money.

    Tens of thousands of messages name the same few hundred sessions and amounts.
    """

    __slots__ = ("currency", "_labels", "_money", "_cash")

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self._labels: dict[str, str] = {}
        self._money: dict[Decimal, str] = {}
        self._cash: dict[Decimal, str] = {}

    def cash(self, amount: Decimal) -> str:
        """An amount as evidence gives it (:func:`_cash`), remembered for whole pence: any amount
        equal to one of those gives the same text (2.5 and 2.50 are both "2.50"); finer ones, whose
        text depends on how they were written, are worked out each time."""
        text = self._cash.get(amount)
        if text is None:
            text = _cash(amount)
            if amount == amount.quantize(_CENT):
                self._cash[amount] = text
        return text

    def label(self, session: Session) -> str:
        """``workshop on 1 May 2026``."""
        text = self._labels.get(session.id)
        if text is None:
            text = self._labels[session.id] = session.label()
        return text

    def money(self, amount: Decimal) -> str:
        """``£25.00``: it depends only on the amount's value (2.5 and 2.50 read the same), except
        for a zero's sign, so zero is not remembered."""
        if not amount:
            return money(amount, self.currency)
        text = self._money.get(amount)
        if text is None:
            text = self._money[amount] = money(amount, self.currency)
        return text


def _short(ent: _Entitlement, words: _Words) -> str:
    return f"the {words.label(ent.session)} ({words.money(ent.amount - ent.paid)})"


def _listed(ents: Sequence[_Entitlement], words: _Words) -> str:
    shown = [_short(e, words) for e in ents[:MAX_LISTED]]
    if len(ents) > MAX_LISTED:
        shown.append(count(len(ents) - MAX_LISTED, "more session"))
    return join(shown)


def _for_what(kind: PaymentKind) -> str:
    return "in expenses " if kind is PaymentKind.EXPENSES else ""


# --------------------------------------------------------------------------------------------
# Evidence


def _ent_evidence(ent: _Entitlement) -> dict[str, Any]:
    """One session's line in an owed or overdue flag's evidence.

    The amounts' text was worked out once per distinct fee (``ent.texts``); an entitlement nothing
    has paid yet has paid ``0.00`` and owes what it is entitled to.
    """
    entitled = ent.texts[0]
    facts = ent.on
    if ent.applied:
        paid, owed = _cash(ent.paid), _cash(ent.remaining)
        applied = [{"payment_id": pid, "amount": _cash(a)} for pid, a in ent.applied]
    else:
        paid, owed, applied = "0.00", entitled, []
    ev: dict[str, Any] = {
        "session_id": ent.session.id,
        "session_date": facts[0],
        "session_kind": facts[1],
        "entitled": entitled,
        "paid": paid,
        "owed": owed,
        "days_unpaid": facts[2],
        "payments_applied": applied,
    }
    if ent.kind is PaymentKind.FEE:
        texts = ent.texts
        ev["rate"] = texts[1]
        ev["hours"] = texts[2]
        ev["prep_hours"] = texts[3]
        ev["minimum_hours"] = texts[4]
        ev["paid_hours"] = texts[5]
    else:
        ev["claimed"] = entitled
    return ev


# --------------------------------------------------------------------------------------------
# Rules


def _unpaid_flags(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[_Entitlement],
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
    words: _Words,
) -> list[Flag]:
    days_allowed = policy.pay_within_days
    in_time: list[_Entitlement] = []
    late: list[_Entitlement] = []
    for e in ents:
        if e.amount > e.paid:
            (late if e.on[2] > days_allowed else in_time).append(e)
    if not in_time and not late:
        return []
    who = _who(person_id, people)
    cur = policy.currency
    what_for = _for_what(kind)
    kind_value = kind.value
    subject = Subject(kind=SubjectKind.PERSON, id=person_id)
    flags: list[Flag] = []

    def evidence_and_facts(
        group: Sequence[_Entitlement], **more: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        total = _cash(sum((e.amount - e.paid for e in group), _ZERO))
        oldest = group[0]
        lines = [_ent_evidence(e) for e in group]
        evidence = {
            "kind": kind_value,
            "currency": cur,
            "total_owed": total,
            "oldest_session_id": oldest.session.id,
            "oldest_session_date": lines[0]["session_date"],
            "days_unpaid": lines[0]["days_unpaid"],
            "pay_within_days": days_allowed,
            "policy_source": policy.source,
            "sessions": lines,
        }
        facts = {
            "total_owed": total,
            "owed_by_session": {line["session_id"]: line["owed"] for line in lines},
            "oldest_session_id": oldest.session.id,
            **more,
        }
        return evidence, facts

    if in_time:
        ev, facts = evidence_and_facts(in_time)
        first_due = in_time[0].session.date + timedelta(days=days_allowed)
        if len(in_time) == 1:
            e = in_time[0]
            what = f"for the {words.label(e.session)}{_details(e, cur)}"
        else:
            what = f"for {count(len(in_time), 'session')}: {_listed(in_time, words)}"
        message = (
            f"{who} is owed {money(Decimal(ev['total_owed']), cur)} {what_for}{what}. "
            f"Your policy promises payment within {count(days_allowed, 'day')}, "
            f"so please pay by {day(first_due)}."
        )
        flags.append(
            OWED.flag(
                subject=subject,
                title="Expenses due" if kind is PaymentKind.EXPENSES else "Payment due",
                message=message,
                evidence=ev,
                identity={"kind": kind_value},
                facts=facts,
                project_id=project_id,
            )
        )

    if late:
        oldest = late[0]
        age = oldest.age
        severity = Severity.CRITICAL if age > 2 * days_allowed else Severity.WARNING
        ev, facts = evidence_and_facts(late, severity=severity.value)
        total = money(Decimal(ev["total_owed"]), cur)
        within = count(days_allowed, "day")
        if len(late) == 1:
            message = (
                f"{who} is owed {total} {what_for}for the {words.label(oldest.session)}"
                f"{_details(oldest, cur)}. It has been unpaid for {count(age, 'day')}; "
                f"your policy promises payment within {within}."
            )
        else:
            message = (
                f"{who} is owed {total} {what_for}for {count(len(late), 'session')}, all unpaid for longer "
                f"than the {within} your policy allows. The oldest is the "
                f"{words.label(oldest.session)}{_details(oldest, cur)}, "
                f"unpaid for {count(age, 'day')}. Also unpaid: {_listed(late[1:], words)}."
            )
        message += " Please pay them, or record the payment here if it has already been made."
        flags.append(
            OVERDUE.flag(
                severity=severity,
                subject=subject,
                title="Expenses overdue" if kind is PaymentKind.EXPENSES else "Payment overdue",
                message=message,
                evidence=ev,
                identity={"kind": kind_value},
                facts=facts,
                project_id=project_id,
            )
        )
    return flags


def _overpaid_flag(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[_Owed | _Entitlement],
    pays: Sequence[Payment],
    surplus: Decimal,
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
    words: _Words,
) -> Flag:
    cur = policy.currency
    cash = words.cash
    entitled = sum((e.amount for e in ents), _ZERO)
    paid = sum((p.amount for p in pays), _ZERO)
    dupes = _duplicates(pays)
    what = "expenses" if kind is PaymentKind.EXPENSES else "fees"
    who = _who(person_id, people)
    if ents:
        due = f"by your policy {money(entitled, cur)} is due for {count(len(ents), 'session')}"
    elif kind is PaymentKind.FEE:
        due = "by your policy no fee is due to them (their role or preference means they are not paid)"
    else:
        due = "no expenses claim is recorded for them"
    message = f"{who} has been paid {money(paid, cur)} in {what}, but {due}: {money(surplus, cur)} more."
    if dupes:
        described = [
            join([f"{p.id} on {day(p.date)}" for p in group]) + f" (each {money(group[0].amount, cur)})"
            for group in dupes
        ]
        message += (
            f" This is a possible duplicate: payments {join(described, 'and, separately,')}. "
            "Check with finance whether one was paid twice, and if so agree with them how to put it right."
        )
    else:
        message += (
            " It may be a duplicate, or a payment for a session or hours not recorded here: check the "
            "finance records, and add the missing attendance if that is what it paid for."
        )
    evidence = {
        "kind": kind.value,
        "currency": cur,
        "entitled": cash(entitled),
        "paid": cash(paid),
        "overpaid": cash(surplus),
        "payments": [
            {
                "payment_id": p.id,
                "date": p.date.isoformat(),
                "amount": cash(p.amount),
                "session_id": p.session_id,
            }
            for p in pays
        ],
        "possible_duplicates": [[p.id for p in group] for group in dupes],
        "duplicate_window_days": DUPLICATE_WINDOW_DAYS,
        "session_ids": [e.session.id for e in ents],
        "policy_source": policy.source,
    }
    return OVERPAID.flag(
        subject=Subject(kind=SubjectKind.PERSON, id=person_id),
        title="Possible duplicate payment" if dupes else "Paid more than owed",
        message=message,
        evidence=evidence,
        identity={"kind": kind.value},
        facts={"entitled": cash(entitled), "paid": cash(paid), "overpaid": cash(surplus)},
        project_id=project_id,
    )


def _declined_flag(person: Person, pays: Sequence[Payment], currency: str, project_id: str | None) -> Flag:
    total = sum((p.amount for p in pays), _ZERO)
    listed = join([f"{money(p.amount, currency)} on {day(p.date)} ({p.id})" for p in pays])
    message = (
        f"{person.label()} said they did not want to be paid for their time, but "
        f"{count(len(pays), 'fee payment')} {'was' if len(pays) == 1 else 'were'} made: {listed}. "
        "People often decline because payment could affect their benefits. Please check with them: "
        "they may want payments to stop, or their preference may have changed and their record needs updating."
    )
    return PAID_THOUGH_DECLINED.flag(
        subject=Subject(kind=SubjectKind.PERSON, id=person.id),
        title="Paid though payment declined",
        message=message,
        evidence={
            "currency": currency,
            "total_paid": _cash(total),
            "payments": [
                {"payment_id": p.id, "date": p.date.isoformat(), "amount": _cash(p.amount)} for p in pays
            ],
        },
        identity={},
        facts={"total_paid": _cash(total), "payment_ids": sorted(p.id for p in pays)},
        project_id=project_id,
    )


def _wants_benefits_warning(person: Person, policy: PaymentPolicy) -> bool:
    """The person asked to hear when their monthly fees pass the policy's benefits threshold."""
    return policy.benefits_monthly_threshold is not None and person.benefits_opt_in


def _benefits_flags(
    person: Person,
    ents: Sequence[_Owed | _Entitlement],
    policy: PaymentPolicy,
    project_id: str | None,
    words: _Words,
) -> list[Flag]:
    cash = words.cash
    threshold = policy.benefits_monthly_threshold
    if threshold is None or not _wants_benefits_warning(person, policy):
        return []
    cur = policy.currency
    by_month: dict[str, list[_Owed | _Entitlement]] = defaultdict(list)
    for e in ents:
        by_month[e.session.date.strftime("%Y-%m")].append(e)
    flags: list[Flag] = []
    for month in sorted(by_month):
        month_ents = by_month[month]
        total = sum((e.amount for e in month_ents), _ZERO)
        if total <= threshold:
            continue
        month_words = f"{month_ents[0].session.date:%B %Y}"
        message = (
            f"{person.label()} asked to be told when their fees in a month might affect their benefits. "
            f"Their fees for {month_words} come to {money(total, cur)} for "
            f"{count(len(month_ents), 'session')}, above the {money(threshold, cur)} your policy sets. "
            "Earnings above a benefit's limit, such as the Universal Credit work allowance, can reduce "
            "what someone receives. It may help to talk it through with them before paying, and offer "
            "to put them in touch with a benefits adviser if they would like."
        )
        flags.append(
            BENEFITS_THRESHOLD.flag(
                subject=Subject(kind=SubjectKind.PERSON, id=person.id),
                title="Monthly fees above benefits threshold",
                message=message,
                evidence={
                    "month": month,
                    "currency": cur,
                    "total_fees": cash(total),
                    "threshold": cash(threshold),
                    "sessions": [
                        {
                            "session_id": e.session.id,
                            "session_date": e.session.date.isoformat(),
                            "entitled": cash(e.amount),
                        }
                        for e in month_ents
                    ],
                    "policy_source": policy.source,
                },
                identity={"month": month},
                facts={"total_fees": cash(total), "session_ids": [e.session.id for e in month_ents]},
                project_id=project_id,
            )
        )
    return flags


def _voice_attenders(dataset: Dataset, settings: CheckSettings, run_date: date) -> dict[str, set[str]]:
    """Session id -> ids of voice-role people who attended it (by the run date)."""
    people = dataset.people_by_id()
    sessions = dataset.sessions_by_id()
    found: dict[str, set[str]] = defaultdict(set)
    for a in dataset.attendance:
        person, session = people.get(a.person_id), sessions.get(a.session_id)
        if person is None or session is None or session.date > run_date:
            continue
        if not person.has_any_role(settings.voice_roles):
            continue
        found[session.id].add(person.id)
    return found


def _unresourced_flags(
    voice: dict[str, set[str]], sessions: dict[str, Session], policy: PaymentPolicy, settings: CheckSettings
) -> list[Flag]:
    """``voice``: willing voice-role attenders of held sessions, in the policy's time, of unrated kinds."""
    flags: list[Flag] = []
    for session_id in sorted(voice):
        session = sessions[session_id]
        people_ids = sorted(voice[session_id])
        kind_words = KIND_WORDS[session.kind]
        source = f" ({policy.source})" if policy.source else ""
        message = (
            f"{say(settings.voice_roles, 'people').capitalize()} took part in the {session.label()} "
            f"({count(len(people_ids), 'person', 'people')}), but your payment policy{source} has no rate "
            f"for a {kind_words}, so nobody can tell what they are owed for it. Add a rate for this kind "
            "of session to the policy, or record how their time was recognised."
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
                    "policy_source": policy.source,
                    "rated_kinds": sorted(k.value for k in policy.rates),
                },
                identity={},
                facts={"session_kind": session.kind.value, "person_ids": people_ids},
                project_id=session.project_id,
            )
        )
    return flags


def _no_policy_flags(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    sessions = dataset.sessions_by_id()
    projects = dataset.projects_by_id()
    voice = _voice_attenders(dataset, settings, run_date)
    by_project: dict[str, dict[str, set[str]]] = defaultdict(dict)
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


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """All payment flags for the dataset as of ``run_date``, in a stable order."""
    with collector_paused():
        return _run(dataset, settings, run_date)


def _run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    policy = dataset.policy
    if policy is None:
        return _no_policy_flags(dataset, settings, run_date)

    people = dataset.people_by_id()
    sessions = dataset.sessions_by_id()
    scanned = _scan_attendance(dataset, policy, settings, run_date, people, sessions)
    projects = scanned.projects
    payments = _counted_payments(dataset, policy, run_date, sessions)
    words = _Words(policy.currency)
    tolerance = settings.payments.overpaid_tolerance
    flags: list[Flag] = []

    fees_paid: dict[str, list[Payment]] = defaultdict(list)
    for p in dataset.payments:
        if p.kind is PaymentKind.FEE and p.amount > 0 and p.date <= run_date:
            fees_paid[p.person_id].append(p)

    for person_id, kind in sorted(set(scanned.dues) | set(payments)):
        pays = payments.get((person_id, kind), [])
        due = sum((d[0] for _, d in scanned.dues.get((person_id, kind), ())), _ZERO)
        given = sum((p.amount for p in pays), _ZERO)
        project_id = projects.get(person_id)
        person = people.get(person_id)
        ents: list[_Entitlement] | None = None
        if given >= due:
            # Paid in full: every session is paid whichever payment paid it, and nothing is owed
            # (most people; their entitlements are only made if a flag below names sessions).
            surplus = given - due
        else:
            ents = scanned.entitlements(person_id, kind, policy)
            surplus = _apply(ents, pays)
            flags.extend(_unpaid_flags(person_id, kind, ents, policy, people, project_id, words))
        declined = person is not None and person.payment_preference is PaymentPreference.DECLINED
        owed: Sequence[_Owed | _Entitlement] | None = ents
        # A fee paid to someone who declined is raised as paid though declined, not as overpaid.
        if surplus > tolerance and not (kind is PaymentKind.FEE and declined):
            if owed is None:
                owed = scanned.owed(person_id, kind)
            flags.append(
                _overpaid_flag(person_id, kind, owed, pays, surplus, policy, people, project_id, words)
            )
        if kind is PaymentKind.FEE and person is not None and _wants_benefits_warning(person, policy):
            if owed is None:
                owed = scanned.owed(person_id, kind)
            flags.extend(_benefits_flags(person, owed, policy, project_id, words))

    declined_people = [p for p in people.values() if p.payment_preference is PaymentPreference.DECLINED]
    for person in sorted(declined_people, key=lambda p: p.id):
        paid = sorted(fees_paid.get(person.id, []), key=_payment_order)
        if paid:
            flags.append(_declined_flag(person, paid, policy.currency, projects.get(person.id)))

    flags.extend(_unresourced_flags(scanned.unresourced, sessions, policy, settings))
    return flags
