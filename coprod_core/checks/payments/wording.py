"""The words payment flags share: who, for which sessions, how an amount was worked out.

Tens of thousands of messages name the same few hundred sessions and amounts, so :class:`Words`
works each out once in a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from coprod_core.checks.payments.ledger import CENT, Due, Entitlement, cash
from coprod_core.model import PaymentKind, Person, Session
from coprod_core.text import count, hours, join, money

MAX_LISTED = 5
"""Sessions named one by one in a message; the rest are counted (the evidence lists them all)."""


def who(person_id: str, people: dict[str, Person]) -> str:
    person = people.get(person_id)
    return person.label() if person else f"Person ID {person_id}"


def details(ent: Entitlement, currency: str) -> str:
    """How the amount was worked out, in brackets: `` (2 hours + 1 hour preparation at £25.00 an hour)``.

    Empty for an expenses claim not yet partly paid: the amount already says it all.
    """
    parts: list[str] = []
    if ent.kind is PaymentKind.FEE and ent.rate is not None:
        time = hours(ent.due.worked)
        if ent.due.prep > 0:
            time += f" + {hours(ent.due.prep)} preparation"
        if ent.minimum_applied:
            time += f", paid as the minimum of {hours(ent.minimum)},"
        parts.append(f"{time} at {money(ent.rate, currency)} an hour")
    if ent.paid > 0:
        parts.append(f"{money(ent.paid, currency)} of {money(ent.amount, currency)} paid so far")
    return f" ({'; '.join(parts)})" if parts else ""


class Words:
    """The words messages repeat, each worked out once in a run: session labels and sums of money."""

    __slots__ = ("currency", "_labels", "_money", "_cash", "_details")

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self._labels: dict[str, str] = {}
        self._money: dict[Decimal, str] = {}
        self._cash: dict[Decimal, str] = {}
        self._details: dict[tuple[PaymentKind, Due, Decimal | None, Decimal], str] = {}

    def details(self, ent: Entitlement) -> str:
        """:func:`details`, remembered for an entitlement nothing has paid yet: its words then
        depend only on its kind, due, rate and minimum, which a few hundred distinct dues share
        across the thousands of sessions the owed and overdue flags name."""
        if ent.paid:
            return details(ent, self.currency)
        key = (ent.kind, ent.due, ent.rate, ent.minimum)
        text = self._details.get(key)
        if text is None:
            text = self._details[key] = details(ent, self.currency)
        return text

    def cash(self, amount: Decimal) -> str:
        """An amount as evidence gives it (:func:`ledger.cash`), remembered for whole pence: any
        amount equal to one of those gives the same text (2.5 and 2.50 are both "2.50"); finer
        ones, whose text depends on how they were written, are worked out each time."""
        text = self._cash.get(amount)
        if text is None:
            text = cash(amount)
            if amount == amount.quantize(CENT):
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


def short(ent: Entitlement, words: Words) -> str:
    return f"the {words.label(ent.session)} ({words.money(ent.amount - ent.paid)})"


def listed(ents: Sequence[Entitlement], words: Words) -> str:
    shown = [short(e, words) for e in ents[:MAX_LISTED]]
    if len(ents) > MAX_LISTED:
        shown.append(count(len(ents) - MAX_LISTED, "more session"))
    return join(shown)


def for_what(kind: PaymentKind) -> str:
    return "in expenses " if kind is PaymentKind.EXPENSES else ""
