"""``payments.overpaid`` and ``payments.paid_though_declined``: money paid that nothing recorded is owed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from coprod_core.checks.payments.ledger import (
    DUPLICATE_WINDOW_DAYS,
    ZERO,
    Entitlement,
    Owed,
    cash,
    duplicates,
)
from coprod_core.checks.payments.rules import OVERPAID, PAID_THOUGH_DECLINED
from coprod_core.checks.payments.wording import Words, who
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.model import Payment, PaymentKind, PaymentPolicy, Person
from coprod_core.text import count, day, join, money


def overpaid_flag(
    person_id: str,
    kind: PaymentKind,
    ents: Sequence[Owed | Entitlement],
    pays: Sequence[Payment],
    surplus: Decimal,
    policy: PaymentPolicy,
    people: dict[str, Person],
    project_id: str | None,
    words: Words,
) -> Flag:
    cur = policy.currency
    cash = words.cash
    entitled = sum((e.amount for e in ents), ZERO)
    paid = sum((p.amount for p in pays), ZERO)
    dupes = duplicates(pays)
    what = "expenses" if kind is PaymentKind.EXPENSES else "fees"
    person_words = who(person_id, people)
    if ents:
        due = f"by your policy {money(entitled, cur)} is due for {count(len(ents), 'session')}"
    elif kind is PaymentKind.FEE:
        due = "by your policy no fee is due to them (their role or preference means they are not paid)"
    else:
        due = "no expenses claim is recorded for them"
    message = (
        f"{person_words} has been paid {money(paid, cur)} in {what}, but {due}: {money(surplus, cur)} more."
    )
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


def declined_flag(person: Person, pays: Sequence[Payment], currency: str, project_id: str | None) -> Flag:
    total = sum((p.amount for p in pays), ZERO)
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
            "total_paid": cash(total),
            "payments": [
                {"payment_id": p.id, "date": p.date.isoformat(), "amount": cash(p.amount)} for p in pays
            ],
        },
        identity={},
        facts={"total_paid": cash(total), "payment_ids": sorted(p.id for p in pays)},
        project_id=project_id,
    )
