"""``payments.benefits_threshold``: fees in one month above what may affect someone's benefits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from coprod_core.checks.payments.ledger import ZERO, Entitlement, Owed
from coprod_core.checks.payments.rules import BENEFITS_THRESHOLD
from coprod_core.checks.payments.wording import Words
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.model import PaymentPolicy, Person
from coprod_core.text import count, money


def wants_benefits_warning(person: Person, policy: PaymentPolicy) -> bool:
    """The person asked to hear when their monthly fees pass the policy's benefits threshold."""
    return policy.benefits_monthly_threshold is not None and person.benefits_opt_in


def benefits_flags(
    person: Person,
    ents: Sequence[Owed | Entitlement],
    policy: PaymentPolicy,
    project_id: str | None,
    words: Words,
) -> list[Flag]:
    cash = words.cash
    threshold = policy.benefits_monthly_threshold
    if threshold is None or not wants_benefits_warning(person, policy):
        return []
    cur = policy.currency
    # Grouped by (year, month), and the month's text made only for a month over the threshold: most
    # people who asked are under it every month, and formatting each session's date cost more than
    # the rest of this check for them.
    by_month: dict[tuple[int, int], list[Owed | Entitlement]] = defaultdict(list)
    for e in ents:
        on = e.session.date
        by_month[on.year, on.month].append(e)
    over: dict[str, tuple[list[Owed | Entitlement], Decimal]] = {}
    for month_ents in by_month.values():
        total = sum((e.amount for e in month_ents), ZERO)
        if total > threshold:
            over[month_ents[0].session.date.strftime("%Y-%m")] = (month_ents, total)
    flags: list[Flag] = []
    for month in sorted(over):
        month_ents, total = over[month]
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
