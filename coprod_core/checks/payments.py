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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from coprod_core.flags import Flag, Severity, Subject, SubjectKind, make_flag
from coprod_core.model import (
    KIND_WORDS,
    ROLE_WORDS,
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
from coprod_core.settings import CheckSettings
from coprod_core.text import count, day, hours, join, money

CHECK_ID = "payments"

DUPLICATE_WINDOW_DAYS = 7
"""Two payments of the same amount to the same person this close together look like a duplicate."""

MAX_LISTED = 5
"""Sessions named one by one in a message; the rest are counted (the evidence lists them all)."""

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_NOT_PAID_PREFERENCES = frozenset({PaymentPreference.DECLINED, PaymentPreference.NOT_ELIGIBLE})


# --------------------------------------------------------------------------------------------
# What is owed, and what paid it


@dataclass
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
    applied: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.paid

    @property
    def order(self) -> tuple[date, str]:
        return (self.session.date, self.session.id)

    @property
    def minimum_applied(self) -> bool:
        return self.minimum > self.worked + self.prep

    def pay(self, payment_id: str, available: Decimal) -> Decimal:
        """Take what this entitlement still needs from ``available``; return what is left."""
        take = min(available, self.remaining)
        if take > 0:
            self.paid += take
            self.applied.append((payment_id, take))
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


def _fee_for(row: Attendance, session: Session, policy: PaymentPolicy) -> _Entitlement | None:
    rate = policy.rates.get(session.kind)
    if rate is None:
        return None
    worked = row.hours if row.hours is not None else session.hours
    prep = row.prep_hours if policy.prep_counts else _ZERO
    paid_hours = max(policy.minimum_hours, worked + prep)
    amount = (rate * paid_hours).quantize(_CENT, rounding=ROUND_HALF_UP)
    if amount <= 0:
        return None
    return _Entitlement(
        person_id=row.person_id,
        kind=PaymentKind.FEE,
        session=session,
        amount=amount,
        rate=rate,
        worked=worked,
        prep=prep,
        minimum=policy.minimum_hours,
        paid_hours=paid_hours,
    )


def _entitlements(
    dataset: Dataset, policy: PaymentPolicy, run_date: date
) -> dict[tuple[str, PaymentKind], list[_Entitlement]]:
    """Everything owed, per person and kind, oldest session first.

    A repeated attendance row (same person, same session) counts once, the larger, so a row
    copied twice in a sheet does not double what someone is owed.
    """
    people = dataset.people_by_id()
    sessions = dataset.sessions_by_id()
    best: dict[tuple[str, str, PaymentKind], _Entitlement] = {}

    def keep(ent: _Entitlement) -> None:
        key = (ent.person_id, ent.session.id, ent.kind)
        old = best.get(key)
        if old is None or (ent.amount, ent.worked, ent.prep) > (old.amount, old.worked, old.prep):
            best[key] = ent

    for row in dataset.attendance:
        session = sessions.get(row.session_id)
        if session is None or session.date > run_date:
            continue
        if _fee_eligible(people.get(row.person_id), policy) and _in_fee_window(session, policy, run_date):
            fee = _fee_for(row, session, policy)
            if fee is not None:
                keep(fee)
        if policy.expenses_reimbursed and row.expenses_claimed > 0:
            claimed = row.expenses_claimed.quantize(_CENT, rounding=ROUND_HALF_UP)
            keep(_Entitlement(row.person_id, PaymentKind.EXPENSES, session, claimed))

    grouped: dict[tuple[str, PaymentKind], list[_Entitlement]] = defaultdict(list)
    for (person_id, _, kind), ent in best.items():
        grouped[(person_id, kind)].append(ent)
    for ents in grouped.values():
        ents.sort(key=lambda e: e.order)
    return grouped


def _payment_order(p: Payment) -> tuple[date, str, Decimal, str]:
    return (p.date, p.id, p.amount, p.session_id or "")


def _counted_payments(
    dataset: Dataset, policy: PaymentPolicy, run_date: date
) -> dict[tuple[str, PaymentKind], list[Payment]]:
    """Payments made by the run date, per person and kind, in date order.

    A payment naming a session the policy does not cover (not yet held, before the policy took
    effect, or a kind without a rate) is left aside: it is not for anything this check works out,
    so it neither pays another session nor counts as an overpayment.
    """
    sessions = dataset.sessions_by_id()
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
    by_session = {e.session.id: e for e in ents}
    pool: list[tuple[str, Decimal]] = []
    for p in pays:
        rest = p.amount
        target = by_session.get(p.session_id) if p.session_id else None
        if target is not None:
            rest = target.pay(p.id, rest)
        if rest > 0:
            pool.append((p.id, rest))
    surplus = _ZERO
    for payment_id, rest in pool:
        for ent in ents:
            if rest <= 0:
                break
            if ent.remaining > 0:
                rest = ent.pay(payment_id, rest)
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


def _voice_words(roles: Iterable[Role]) -> str:
    """``people with lived experience or carers``, in the order roles are listed in the model."""
    phrases = {Role.LIVED_EXPERIENCE: "people with lived experience", Role.CARER: "carers"}
    ordered = sorted(roles, key=list(Role).index)
    return join([phrases.get(r, f"people in a {ROLE_WORDS[r]} role") for r in ordered], "or")


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


def _short(ent: _Entitlement, currency: str) -> str:
    return f"the {ent.session.label()} ({money(ent.remaining, currency)})"


def _listed(ents: Sequence[_Entitlement], currency: str) -> str:
    shown = [_short(e, currency) for e in ents[:MAX_LISTED]]
    if len(ents) > MAX_LISTED:
        shown.append(count(len(ents) - MAX_LISTED, "more session"))
    return join(shown)


def _for_what(kind: PaymentKind) -> str:
    return "in expenses " if kind is PaymentKind.EXPENSES else ""


# --------------------------------------------------------------------------------------------
# Evidence


def _ent_evidence(ent: _Entitlement, run_date: date) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "session_id": ent.session.id,
        "session_date": ent.session.date.isoformat(),
        "session_kind": ent.session.kind.value,
        "entitled": _cash(ent.amount),
        "paid": _cash(ent.paid),
        "owed": _cash(ent.remaining),
        "days_unpaid": (run_date - ent.session.date).days,
        "payments_applied": [{"payment_id": pid, "amount": _cash(a)} for pid, a in ent.applied],
    }
    if ent.kind is PaymentKind.FEE:
        ev |= {
            "rate": _cash(ent.rate or _ZERO),
            "hours": _num(ent.worked),
            "prep_hours": _num(ent.prep),
            "minimum_hours": _num(ent.minimum),
            "paid_hours": _num(ent.paid_hours),
        }
    else:
        ev["claimed"] = _cash(ent.amount)
    return ev


def _projects_by_person(dataset: Dataset, run_date: date) -> dict[str, str | None]:
    """The project each person's flags belong to: the one project all their sessions are in, else None."""
    sessions = dataset.sessions_by_id()
    found: dict[str, set[str]] = defaultdict(set)
    for a in dataset.attendance:
        session = sessions.get(a.session_id)
        if session is not None and session.date <= run_date:
            found[a.person_id].add(session.project_id)
    return {pid: next(iter(ps)) if len(ps) == 1 else None for pid, ps in found.items()}


# --------------------------------------------------------------------------------------------
# Rules


def _unpaid_flags(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[_Entitlement],
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
    run_date: date,
) -> list[Flag]:
    days_allowed = policy.pay_within_days
    unpaid = [e for e in ents if e.remaining > 0]
    in_time = [e for e in unpaid if (run_date - e.session.date).days <= days_allowed]
    late = [e for e in unpaid if (run_date - e.session.date).days > days_allowed]
    who = _who(person_id, people)
    cur = policy.currency
    words = _for_what(kind)
    subject = Subject(kind=SubjectKind.PERSON, id=person_id)
    flags: list[Flag] = []

    def evidence(group: Sequence[_Entitlement]) -> dict[str, Any]:
        total = sum((e.remaining for e in group), _ZERO)
        oldest = group[0]
        return {
            "kind": kind.value,
            "currency": cur,
            "total_owed": _cash(total),
            "oldest_session_id": oldest.session.id,
            "oldest_session_date": oldest.session.date.isoformat(),
            "days_unpaid": (run_date - oldest.session.date).days,
            "pay_within_days": days_allowed,
            "policy_source": policy.source,
            "sessions": [_ent_evidence(e, run_date) for e in group],
        }

    def facts(group: Sequence[_Entitlement], **more: Any) -> dict[str, Any]:
        return {
            "total_owed": _cash(sum((e.remaining for e in group), _ZERO)),
            "owed_by_session": {e.session.id: _cash(e.remaining) for e in group},
            "oldest_session_id": group[0].session.id,
            **more,
        }

    if in_time:
        ev = evidence(in_time)
        first_due = in_time[0].session.date + timedelta(days=days_allowed)
        if len(in_time) == 1:
            e = in_time[0]
            what = f"for the {e.session.label()}{_details(e, cur)}"
        else:
            what = f"for {count(len(in_time), 'session')}: {_listed(in_time, cur)}"
        message = (
            f"{who} is owed {money(Decimal(ev['total_owed']), cur)} {words}{what}. "
            f"Your policy promises payment within {count(days_allowed, 'day')}, "
            f"so please pay by {day(first_due)}."
        )
        flags.append(
            make_flag(
                check_id=f"{CHECK_ID}.owed",
                severity=Severity.INFO,
                subject=subject,
                title="Expenses due" if kind is PaymentKind.EXPENSES else "Payment due",
                message=message,
                evidence=ev,
                identity={"kind": kind.value},
                facts=facts(in_time),
                project_id=project_id,
            )
        )

    if late:
        ev = evidence(late)
        oldest = late[0]
        age = ev["days_unpaid"]
        severity = Severity.CRITICAL if age > 2 * days_allowed else Severity.WARNING
        total = money(Decimal(ev["total_owed"]), cur)
        within = count(days_allowed, "day")
        if len(late) == 1:
            message = (
                f"{who} is owed {total} {words}for the {oldest.session.label()}"
                f"{_details(oldest, cur)}. It has been unpaid for {count(age, 'day')}; "
                f"your policy promises payment within {within}."
            )
        else:
            message = (
                f"{who} is owed {total} {words}for {count(len(late), 'session')}, all unpaid for longer "
                f"than the {within} your policy allows. The oldest is the "
                f"{oldest.session.label()}{_details(oldest, cur)}, "
                f"unpaid for {count(age, 'day')}. Also unpaid: {_listed(late[1:], cur)}."
            )
        message += " Please pay them, or record the payment here if it has already been made."
        flags.append(
            make_flag(
                check_id=f"{CHECK_ID}.overdue",
                severity=severity,
                subject=subject,
                title="Expenses overdue" if kind is PaymentKind.EXPENSES else "Payment overdue",
                message=message,
                evidence=ev,
                identity={"kind": kind.value},
                facts=facts(late, severity=severity.value),
                project_id=project_id,
            )
        )
    return flags


def _overpaid_flag(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[_Entitlement],
    pays: Sequence[Payment],
    surplus: Decimal,
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
) -> Flag:
    cur = policy.currency
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
        "entitled": _cash(entitled),
        "paid": _cash(paid),
        "overpaid": _cash(surplus),
        "payments": [
            {
                "payment_id": p.id,
                "date": p.date.isoformat(),
                "amount": _cash(p.amount),
                "session_id": p.session_id,
            }
            for p in pays
        ],
        "possible_duplicates": [[p.id for p in group] for group in dupes],
        "duplicate_window_days": DUPLICATE_WINDOW_DAYS,
        "session_ids": [e.session.id for e in ents],
        "policy_source": policy.source,
    }
    return make_flag(
        check_id=f"{CHECK_ID}.overpaid",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id=person_id),
        title="Possible duplicate payment" if dupes else "Paid more than owed",
        message=message,
        evidence=evidence,
        identity={"kind": kind.value},
        facts={"entitled": _cash(entitled), "paid": _cash(paid), "overpaid": _cash(surplus)},
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
    return make_flag(
        check_id=f"{CHECK_ID}.paid_though_declined",
        severity=Severity.WARNING,
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


def _benefits_flags(
    person: Person,
    ents: Sequence[_Entitlement],
    policy: PaymentPolicy,
    project_id: str | None,
) -> list[Flag]:
    threshold = policy.benefits_monthly_threshold
    if threshold is None or not person.benefits_opt_in:
        return []
    cur = policy.currency
    by_month: dict[str, list[_Entitlement]] = defaultdict(list)
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
            make_flag(
                check_id=f"{CHECK_ID}.benefits_threshold",
                severity=Severity.INFO,
                subject=Subject(kind=SubjectKind.PERSON, id=person.id),
                title="Monthly fees above benefits threshold",
                message=message,
                evidence={
                    "month": month,
                    "currency": cur,
                    "total_fees": _cash(total),
                    "threshold": _cash(threshold),
                    "sessions": [
                        {
                            "session_id": e.session.id,
                            "session_date": e.session.date.isoformat(),
                            "entitled": _cash(e.amount),
                        }
                        for e in month_ents
                    ],
                    "policy_source": policy.source,
                },
                identity={"month": month},
                facts={"total_fees": _cash(total), "session_ids": [e.session.id for e in month_ents]},
                project_id=project_id,
            )
        )
    return flags


def _voice_attenders(
    dataset: Dataset, settings: CheckSettings, run_date: date, *, willing_only: bool
) -> dict[str, set[str]]:
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
        if willing_only and person.payment_preference in _NOT_PAID_PREFERENCES:
            continue
        found[session.id].add(person.id)
    return found


def _unresourced_flags(
    dataset: Dataset, policy: PaymentPolicy, settings: CheckSettings, run_date: date
) -> list[Flag]:
    sessions = dataset.sessions_by_id()
    flags: list[Flag] = []
    voice = _voice_attenders(dataset, settings, run_date, willing_only=True)
    for session_id in sorted(voice):
        session = sessions[session_id]
        if session.kind in policy.rates or not _in_fee_window(session, policy, run_date):
            continue
        people_ids = sorted(voice[session_id])
        kind_words = KIND_WORDS[session.kind]
        source = f" ({policy.source})" if policy.source else ""
        message = (
            f"{_voice_words(settings.voice_roles).capitalize()} took part in the {session.label()} "
            f"({count(len(people_ids), 'person', 'people')}), but your payment policy{source} has no rate "
            f"for a {kind_words}, so nobody can tell what they are owed for it. Add a rate for this kind "
            "of session to the policy, or record how their time was recognised."
        )
        flags.append(
            make_flag(
                check_id=f"{CHECK_ID}.unresourced",
                severity=Severity.WARNING,
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
    voice = _voice_attenders(dataset, settings, run_date, willing_only=False)
    by_project: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for session_id, people_ids in voice.items():
        by_project[sessions[session_id].project_id][session_id] = people_ids
    flags: list[Flag] = []
    for project_id in sorted(by_project):
        held = by_project[project_id]
        people_ids = sorted(set().union(*held.values()))
        dates = sorted(sessions[s].date for s in held)
        project = projects.get(project_id)
        name = f"'{project.name}'" if project else f"Project {project_id}"
        message = (
            f"{name} has no payment policy in coprod, but {_voice_words(settings.voice_roles)} have taken "
            f"part: {count(len(people_ids), 'person', 'people')} in {count(len(held), 'session')} since "
            f"{day(dates[0])}. Without one nobody can tell whether they have been paid for their time, "
            "as NIHR and NHS England guidance expect. Add the project's payment policy to its recipe: "
            "a rate per hour for each kind of session, any minimum paid time, and how soon people are paid."
        )
        flags.append(
            make_flag(
                check_id=f"{CHECK_ID}.no_policy",
                severity=Severity.WARNING,
                subject=Subject(kind=SubjectKind.PROJECT, id=project_id),
                title="No payment policy",
                message=message,
                evidence={
                    "session_ids": sorted(held),
                    "person_ids": people_ids,
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
    policy = dataset.policy
    if policy is None:
        return _no_policy_flags(dataset, settings, run_date)

    people = dataset.people_by_id()
    projects = _projects_by_person(dataset, run_date)
    entitlements = _entitlements(dataset, policy, run_date)
    payments = _counted_payments(dataset, policy, run_date)
    tolerance = settings.payments.overpaid_tolerance
    flags: list[Flag] = []

    fees_paid: dict[str, list[Payment]] = defaultdict(list)
    for p in dataset.payments:
        if p.kind is PaymentKind.FEE and p.amount > 0 and p.date <= run_date:
            fees_paid[p.person_id].append(p)

    for person_id, kind in sorted(set(entitlements) | set(payments)):
        ents = entitlements.get((person_id, kind), [])
        pays = payments.get((person_id, kind), [])
        surplus = _apply(ents, pays)
        project_id = projects.get(person_id)
        person = people.get(person_id)
        declined = person is not None and person.payment_preference is PaymentPreference.DECLINED

        flags.extend(_unpaid_flags(person_id, kind, ents, policy, people, project_id, run_date))
        # A fee paid to someone who declined is raised as paid though declined, not as overpaid.
        if surplus > tolerance and not (kind is PaymentKind.FEE and declined):
            flags.append(_overpaid_flag(person_id, kind, ents, pays, surplus, policy, people, project_id))
        if kind is PaymentKind.FEE and person is not None:
            flags.extend(_benefits_flags(person, ents, policy, project_id))

    for person in sorted(people.values(), key=lambda p: p.id):
        paid = sorted(fees_paid.get(person.id, []), key=_payment_order)
        if person.payment_preference is PaymentPreference.DECLINED and paid:
            flags.append(_declined_flag(person, paid, policy.currency, projects.get(person.id)))

    flags.extend(_unresourced_flags(dataset, policy, settings, run_date))
    return flags
