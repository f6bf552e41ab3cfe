"""``payments.owed`` and ``payments.overdue``: money still owed, within the policy's time or past it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from coprod_core.checks.payments.ledger import ZERO, Entitlement, cash
from coprod_core.checks.payments.rules import OVERDUE, OWED
from coprod_core.checks.payments.wording import Words, for_what, listed, who
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.model import PaymentKind, PaymentPolicy, Person
from coprod_core.text import count, day


def session_evidence(ent: Entitlement) -> dict[str, Any]:
    """One session's line in an owed or overdue flag's evidence.

    The amounts' text was worked out once per distinct due (``ent.due.texts``); an entitlement
    nothing has paid yet has paid ``0.00`` and owes what it is entitled to.
    """
    texts = ent.due.texts
    entitled = texts.entitled
    if ent.applied:
        paid, owed = cash(ent.paid), cash(ent.remaining)
        applied = [{"payment_id": a.payment_id, "amount": cash(a.amount)} for a in ent.applied]
    else:
        paid, owed, applied = "0.00", entitled, []
    ev: dict[str, Any] = {
        "session_id": ent.session.id,
        "session_date": ent.on.date,
        "session_kind": ent.on.kind,
        "entitled": entitled,
        "paid": paid,
        "owed": owed,
        "days_unpaid": ent.on.days,
        "payments_applied": applied,
    }
    if ent.kind is PaymentKind.FEE:
        ev["rate"] = texts.rate
        ev["hours"] = texts.hours
        ev["prep_hours"] = texts.prep_hours
        ev["minimum_hours"] = texts.minimum_hours
        ev["paid_hours"] = texts.paid_hours
    else:
        ev["claimed"] = entitled
    return ev


class _Told(NamedTuple):
    """What a flag about unpaid sessions shows (evidence) and what, when it changes, changes it."""

    evidence: dict[str, Any]
    facts: dict[str, Any]
    total: Decimal
    """What the group's sessions are still owed, added up (the evidence's ``total_owed``)."""


def unpaid_flags(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[Entitlement],
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
    words: Words,
) -> list[Flag]:
    days_allowed = policy.pay_within_days
    in_time: list[Entitlement] = []
    late: list[Entitlement] = []
    within = _pay_within(policy)
    changes = policy.changes
    for e in ents:
        if e.amount > e.paid:
            (late if e.on.days > (within(e) if changes else days_allowed) else in_time).append(e)
    if not in_time and not late:
        return []
    person = who(person_id, people)
    cur = policy.currency
    what_for = for_what(kind)
    kind_value = kind.value
    subject = Subject(kind=SubjectKind.PERSON, id=person_id)
    flags: list[Flag] = []

    def told(group: Sequence[Entitlement], **more: Any) -> _Told:
        days_allowed = within(group[0])
        owed = sum((e.amount - e.paid for e in group), ZERO)
        total = cash(owed)
        oldest = group[0]
        lines = [session_evidence(e) for e in group]
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
        if policy.changes:  # each session judged by the policy in force on its date
            evidence["policy_source"] = policy.terms_on(oldest.session.date).source
            for e, line in zip(group, lines, strict=True):
                line["policy_source"] = policy.terms_on(e.session.date).source
                line["pay_within_days"] = within(e)
        facts = {
            "total_owed": total,
            "owed_by_session": {line["session_id"]: line["owed"] for line in lines},
            "oldest_session_id": oldest.session.id,
            **more,
        }
        return _Told(evidence, facts, owed)

    if in_time:
        shown = told(in_time)
        # The date to pay by is the first session's to fall due, and the days named are its own: with
        # policy changes a later session may be due first (14 days from April, 30 before).
        # (Without changes every session has the same days: the oldest, first in ``ents``, is due first.)
        first = (
            min(in_time, key=lambda e: e.session.date + timedelta(days=within(e))) if changes else in_time[0]
        )
        days_allowed = within(first)
        first_due = first.session.date + timedelta(days=days_allowed)
        promise = f"within {count(days_allowed, 'day')}"
        if changes and any(within(e) != days_allowed for e in in_time):
            promise += f" for the {words.label(first.session)}"
        if len(in_time) == 1:
            e = in_time[0]
            what = f"for the {words.label(e.session)}{words.details(e)}"
        else:
            what = f"for {count(len(in_time), 'session')}: {listed(in_time, words)}"
        message = (
            f"{person} is owed {words.money(shown.total)} {what_for}{what}. "
            f"Your policy promises payment {promise}, so please pay by {day(first_due)}."
        )
        flags.append(
            OWED.flag(
                subject=subject,
                title="Expenses due" if kind is PaymentKind.EXPENSES else "Payment due",
                message=message,
                evidence=shown.evidence,
                identity={"kind": kind_value},
                facts=shown.facts,
                project_id=project_id,
            )
        )

    if late:
        oldest = late[0]
        age = oldest.on.days
        days_allowed = within(oldest)
        severity = Severity.CRITICAL if age > 2 * days_allowed else Severity.WARNING
        shown = told(late, severity=severity.value)
        total = words.money(shown.total)
        days = count(days_allowed, "day")
        allows = (
            f"the {days} your policy allows"
            if not changes or all(within(e) == days_allowed for e in late)
            else "your policy allowed for each"
        )
        if len(late) == 1:
            message = (
                f"{person} is owed {total} {what_for}for the {words.label(oldest.session)}"
                f"{words.details(oldest)}. It has been unpaid for {count(age, 'day')}; "
                f"your policy promises payment within {days}."
            )
        else:
            message = (
                f"{person} is owed {total} {what_for}for {count(len(late), 'session')}, all unpaid for "
                f"longer than {allows}. The oldest is the "
                f"{words.label(oldest.session)}{words.details(oldest)}, "
                f"unpaid for {count(age, 'day')}. Also unpaid: {listed(late[1:], words)}."
            )
        message += " Please pay them, or record the payment here if it has already been made."
        flags.append(
            OVERDUE.flag(
                severity=severity,
                subject=subject,
                title="Expenses overdue" if kind is PaymentKind.EXPENSES else "Payment overdue",
                message=message,
                evidence=shown.evidence,
                identity={"kind": kind_value},
                facts=shown.facts,
                project_id=project_id,
            )
        )
    return flags


def _pay_within(policy: PaymentPolicy) -> Callable[[Entitlement], int]:
    """The days the policy in force on an entitlement's session date allows for paying it: the
    policy's own without changes (no look-up), else the one in force on that date."""
    if not policy.changes:
        days = policy.pay_within_days
        return lambda _: days

    def within(e: Entitlement) -> int:
        return policy.terms_on(e.session.date).pay_within_days

    return within
