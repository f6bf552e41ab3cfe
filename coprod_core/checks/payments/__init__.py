"""Participation payments owed: are people paid for their time, in full and on time?

**What it checks**
From the project's payment policy (rate per hour for each kind of session, minimum paid time,
whether preparation counts, who is eligible, expenses, how soon people are paid) it works out what
each person is owed for every session they attended up to the run date, applies the payments
recorded (a payment naming a session pays that session first; the rest pays the oldest unpaid
session first) and flags. Where the policy changes from a date (``[[policy.changes]]``), each session
is judged by the policy in force on its date (:meth:`~coprod_core.model.PaymentPolicy.at`): its
rate, minimum paid time, preparation, eligible roles, expenses, pay-within days and whether its
kind is covered; a recipe without changes looks nothing up. It flags:

- ``payments.owed``: money still owed but within the time the policy allows (info);
- ``payments.overdue``: money unpaid for longer than the policy allows, naming the oldest session
  (warning; critical after twice the allowed time);
- ``payments.overpaid``: more paid than owed, with payments that look like duplicates (warning);
- ``payments.paid_though_declined``: fees paid to someone who said they did not want paying;
- ``payments.unresourced``: people with lived experience or carers took part in a kind of session
  the policy has no rate for; ``payments.no_policy`` when there is no policy at all;
- ``payments.benefits_threshold``: for people who asked, fees in one calendar month above the
  amount the policy sets (info);
- ``data_quality.hours_over_session`` (a data-quality rule, found here in the pass over the register
  that works out the fees, or without a policy in the one that finds who took part for
  ``payments.no_policy``): register rows giving people more hours at a session than the session
  lasted, whoever's they are; the fees stay as recorded.

**Why it matters**
Reciprocity is one of SCIE's co-production principles, and NIHR and NHS England payment guidance
say people who give their time and expertise should be paid for it, promptly, at a fair rate, with
expenses reimbursed. Late or missing payments fall hardest on the people with least money, and
quietly turn partners back into volunteers. Payment can also affect benefits (Universal Credit has
a monthly work allowance), which is why some people decline and others ask to be warned.

**What staff can do**
Pay what is owed, or record a payment already made; check a possible duplicate with finance; talk
with anyone paid though they declined, or whose monthly fees may affect their benefits; add missing
session kinds to the policy, or add a policy to the recipe. When rates change, add a
``[[policy.changes]]`` from the date they change rather than editing the rates in place (which would
re-price every past session) or moving ``effective`` (which would drop older sessions, unpaid or not).

Money is ``Decimal`` throughout (evidence carries amounts as strings), never float.

The modules: ``rules`` (the seven rules), ``ledger`` (what is owed and what paid it), ``wording``
(the words flags share), and one module per kind of flag: ``unpaid`` (owed and overdue),
``overpaid`` (overpaid and paid though declined), ``benefits``, ``unresourced`` (unresourced
and no policy) and ``session_length`` (hours above a session's length).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import NamedTuple

from coprod_core.alongside import Alongside, in_turn
from coprod_core.checks.payments.benefits import benefits_flags, wants_benefits_warning
from coprod_core.checks.payments.ledger import (
    AMOUNT,
    ZERO,
    Due,
    Owed,
    PolicyLess,
    Scan,
    added_up,
    counted_payments,
    payment_order,
    scan_attendance,
    scan_without_policy,
)
from coprod_core.checks.payments.overpaid import declined_flag, overpaid_flag
from coprod_core.checks.payments.rules import (
    BENEFITS_THRESHOLD,
    NO_POLICY,
    OVERDUE,
    OVERPAID,
    OWED,
    PAID_THOUGH_DECLINED,
    UNRESOURCED,
)
from coprod_core.checks.payments.session_length import hours_over_session_flags
from coprod_core.checks.payments.unpaid import unpaid_flags
from coprod_core.checks.payments.unresourced import no_policy_flags, unresourced_flags
from coprod_core.checks.payments.wording import Words
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag
from coprod_core.model import (
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    Session,
)
from coprod_core.settings import CheckSettings

__all__ = [
    "BENEFITS_THRESHOLD",
    "CHECK_ID",
    "NO_POLICY",
    "OVERDUE",
    "OVERPAID",
    "OWED",
    "PAID_THOUGH_DECLINED",
    "UNRESOURCED",
    "Register",
    "flags_from",
    "flags_started",
    "read_register",
    "run",
    "session_flags",
]

CHECK_ID = "payments"


class Register(NamedTuple):
    """What the one pass over the attendance register found (:func:`read_register`), with the
    people and sessions it was read against: what the payment flags are raised from, and what
    every other check reads of the register (:meth:`~coprod_core.checks.attendance.VoiceAttendance.
    of_register`)."""

    found: Scan | PolicyLess
    """With a payment policy, what everyone is owed (:class:`Scan`); without one, who took part
    (:class:`PolicyLess`)."""
    people: dict[str, Person]
    sessions: dict[str, Session]


def read_register(dataset: Dataset, settings: CheckSettings, run_date: date) -> Register:
    """The one pass over the register: with the project's policy (:func:`scan_attendance`), or
    without one (:func:`scan_without_policy`). What the whole check, :func:`~coprod_core.checks.
    check_all` and the webhook's re-check of a project all work from."""
    people = dataset.people_by_id()
    sessions = dataset.sessions_by_id()
    allowed = settings.data_quality.hours_over_session_allowed
    roles = settings.voice_roles
    with collector_paused():
        if dataset.policy is None:
            found: Scan | PolicyLess = scan_without_policy(
                dataset, roles, run_date, people, sessions, allowed
            )
        else:
            found = scan_attendance(dataset, dataset.policy, roles, run_date, people, sessions, allowed)
    return Register(found, people, sessions)


def session_flags(dataset: Dataset, settings: CheckSettings, register: Register) -> list[Flag]:
    """The payment flags about sessions and projects, not people: ``payments.unresourced`` (or
    ``payments.no_policy`` where there is no policy) and ``data_quality.hours_over_session``. Without
    a policy these are all the check raises."""
    found, people, sessions = register
    policy = dataset.policy
    if isinstance(found, PolicyLess) or policy is None:
        return [
            *no_policy_flags(found.voice_hours, dataset, settings),
            *hours_over_session_flags(found.too_long, sessions, people, settings, None),
        ]
    return [
        *unresourced_flags(found.unresourced, sessions, policy, settings),
        *hours_over_session_flags(found.too_long, sessions, people, settings, policy),
    ]


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """All payment flags for the dataset as of ``run_date``, in a stable order."""
    return flags_from(dataset, settings, run_date, read_register(dataset, settings, run_date))


def flags_from(dataset: Dataset, settings: CheckSettings, run_date: date, register: Register) -> list[Flag]:
    """All payment flags, from the pass over the register already made (:func:`read_register`)."""
    return flags_started(dataset, settings, run_date, register, in_turn)()


ALONGSIDE_PIECES = 64
"""The people owed or paid are handed to the work alongside in this many pieces (in id order), when
there are enough of them: small enough that the caller, which takes pieces only once its other
checks are done, and the work alongside end within a piece of each other."""
ALONGSIDE_AT_LEAST = 2_000
"""Fewer people owed or paid than this and their flags are all worked out in turn: starting work
alongside costs a few milliseconds, and a small project's flags take fewer than that."""


def flags_started(
    dataset: Dataset, settings: CheckSettings, run_date: date, register: Register, alongside: Alongside
) -> Callable[[], list[Flag]]:
    """:func:`flags_from`, begun: the flags about the people owed or paid are handed to
    ``alongside`` (:mod:`coprod_core.alongside`) in pieces of people (in id order) when there are
    enough of them; what is returned gives all the payment flags, in :func:`flags_from`'s order,
    finishing what is left when it is called. Each person's flags depend on nothing but their own
    dues and payments, so the pieces are worked out apart and joined in id order."""
    scanned, people, _ = register
    policy = dataset.policy
    if isinstance(scanned, PolicyLess) or policy is None:
        return lambda: session_flags(dataset, settings, register)
    with collector_paused():
        owing = _Owing.of(scanned, register, policy, dataset, settings, run_date)
    ordered = owing.person_ids
    if len(ordered) >= ALONGSIDE_AT_LEAST:
        size = -(-len(ordered) // ALONGSIDE_PIECES)
        pieces = [partial(owing.flags, ordered[i : i + size]) for i in range(0, len(ordered), size)]
        finish = alongside(pieces)
    else:
        finish = in_turn([partial(owing.flags, ordered)])

    def joined() -> list[Flag]:
        # Paused for the pieces' results too: the flags a child sends come back as hundreds of
        # thousands of new objects at once, and at 5x the collector walked the whole dataset
        # while they were read (1.0 s of a 7 MB read).
        with collector_paused():
            rest = _declined_flags(dataset, run_date, people, owing.declined_ids, scanned.projects, policy)
            rest.extend(session_flags(dataset, settings, register))
            return [*chain.from_iterable(finish()), *rest]

    return joined


class _Owing(NamedTuple):
    """What every person's flags are worked out from: what the register found they are owed, the
    payments made to them, and who declined payment or asked about their benefits."""

    scanned: Scan
    policy: PaymentPolicy
    people: dict[str, Person]
    payments: dict[tuple[str, PaymentKind], list[Payment]]
    tolerance: Decimal
    declined_ids: set[str]
    warn_ids: set[str]
    person_ids: list[str]
    """Everyone owed or paid anything, in id order."""
    words: Words
    """The words messages repeat, remembered across the pieces a process takes."""

    @classmethod
    def of(
        cls,
        scanned: Scan,
        register: Register,
        policy: PaymentPolicy,
        dataset: Dataset,
        settings: CheckSettings,
        run_date: date,
    ) -> _Owing:
        """From the register's pass (``scanned``: its :class:`Scan`, with a policy) and the payments
        made by the run date."""
        _, people, sessions = register
        payments = counted_payments(dataset, policy, run_date, sessions)
        person_ids = {person_id for person_id, _ in scanned.dues}
        person_ids.update(person_id for person_id, _ in payments)
        # Who declined payment, and who asked to hear about their benefits: read from each person
        # once, not for each of the 17,000 people and kinds (most of whom need neither).
        declined = {pid for pid, p in people.items() if p.payment_preference is PaymentPreference.DECLINED}
        warn = {pid for pid, p in people.items() if wants_benefits_warning(p, policy)}
        tolerance = settings.payments.overpaid_tolerance
        words = Words(policy.currency)
        return cls(scanned, policy, people, payments, tolerance, declined, warn, sorted(person_ids), words)

    def flags(self, person_ids: Sequence[str]) -> list[Flag]:
        """The flags about these people's money, owed, overdue, overpaid and near their benefits
        threshold, in the order of ``person_ids``, each person's kinds in key order."""
        with collector_paused():
            return self._flags(person_ids)

    def _flags(self, person_ids: Sequence[str]) -> list[Flag]:
        scanned, policy, people, payments, tolerance, declined_ids, warn_ids, _, words = self
        projects = scanned.projects
        flags: list[Flag] = []
        for person_id, kind, mine, paid in _in_order(person_ids, scanned.dues, payments):
            pays: Sequence[Payment] = paid or ()
            due = added_up(mine)
            given = sum(map(AMOUNT, pays), ZERO) if pays else ZERO
            project_id = projects.get(person_id)
            if given >= due:
                # Paid in full: every session is paid whichever payment paid it, and nothing is owed
                # (most people: no entitlement is made for them).
                surplus = given - due
            else:
                # Paid less than owed: entitlements for the sessions left unpaid, which these flags name.
                settled = scanned.settle(person_id, kind, policy, pays)
                surplus = settled.surplus
                flags.extend(unpaid_flags(person_id, kind, settled.ents, policy, people, project_id, words))
            owed: Sequence[Owed] | None = None
            """Every session owed for, with its amount: made only when a flag below lists them."""
            # A fee paid to someone who declined is raised as paid though declined, not as overpaid.
            if surplus > tolerance and not (kind is PaymentKind.FEE and person_id in declined_ids):
                if owed is None:
                    owed = scanned.owed(person_id, kind)
                flags.append(
                    overpaid_flag(person_id, kind, owed, pays, surplus, policy, people, project_id, words)
                )
            if kind is PaymentKind.FEE and person_id in warn_ids:
                if owed is None:
                    owed = scanned.owed(person_id, kind)
                flags.extend(benefits_flags(people[person_id], owed, policy, project_id, words))
        return flags


def _declined_flags(
    dataset: Dataset,
    run_date: date,
    people: dict[str, Person],
    declined_ids: set[str],
    projects: dict[str, str | None],
    policy: PaymentPolicy,
) -> list[Flag]:
    """``payments.paid_though_declined``: a flag for each person who declined payment and was paid
    a fee by the run date (most organisations: nobody declined)."""
    flags: list[Flag] = []
    if not declined_ids:
        return flags
    fees_paid: dict[str, list[Payment]] = defaultdict(list)
    for p in dataset.payments:
        if p.person_id in declined_ids and p.kind is PaymentKind.FEE and p.amount > 0 and p.date <= run_date:
            fees_paid[p.person_id].append(p)
    for person_id in sorted(declined_ids):
        person = people[person_id]
        paid = sorted(fees_paid.get(person_id, []), key=payment_order)
        if paid:
            flags.append(declined_flag(person, paid, policy.currency, projects.get(person.id)))
    return flags


_KINDS_IN_ORDER = sorted(PaymentKind)
"""The kinds as a (person id, kind) key sorts them: by their text (``expenses`` before ``fee``)."""


def _in_order(
    person_ids: Sequence[str],
    dues: dict[tuple[str, PaymentKind], dict[int, Due]],
    payments: dict[tuple[str, PaymentKind], list[Payment]],
) -> Iterator[tuple[str, PaymentKind, dict[int, Due] | None, list[Payment] | None]]:
    """Every (person id, kind) key of either table for these people, in their order, with what
    each table holds for it (looked up once here, not again by the loop). The person ids come
    sorted (:func:`flags_started`), not the keys: sorting the 85,000 keys of a 5x check compared
    two tuples, and so two person ids held anywhere in memory, 1.4 million times (10 times the 1x
    time for 5 times the keys); the half as many ids sort in a third of that time, into the same
    order."""
    dues_of, payments_of = dues.get, payments.get
    for person_id in person_ids:
        for kind in _KINDS_IN_ORDER:
            key = (person_id, kind)
            mine, paid = dues_of(key), payments_of(key)
            if mine is not None or paid is not None:
                yield person_id, kind, mine, paid
