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
from collections.abc import Iterator, Sequence
from datetime import date

from coprod_core.checks.payments.benefits import benefits_flags, wants_benefits_warning
from coprod_core.checks.payments.ledger import (
    AMOUNT,
    ZERO,
    Due,
    Owed,
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
    "run",
    "scan",
]

CHECK_ID = "payments"


def scan(
    dataset: Dataset,
    policy: PaymentPolicy,
    settings: CheckSettings,
    run_date: date,
    people: dict[str, Person],
    sessions: dict[str, Session],
) -> Scan:
    """The pass over the register (:func:`scan_attendance`) with the settings it reads: what the
    whole check and the webhook's re-check of a project both work from."""
    return scan_attendance(
        dataset,
        policy,
        settings.voice_roles,
        run_date,
        people,
        sessions,
        settings.data_quality.hours_over_session_allowed,
    )


def without_policy(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """The flags where there is no payment policy: ``payments.no_policy``, and
    ``data_quality.hours_over_session`` (the register's hours count elsewhere all the same: the
    consultation check), from one pass over the register (:func:`scan_without_policy`): what the whole
    check and the webhook's re-check of a project both raise."""
    sessions = dataset.sessions_by_id()
    people = dataset.people_by_id()
    allowed = settings.data_quality.hours_over_session_allowed
    found = scan_without_policy(dataset, settings.voice_roles, run_date, people, sessions, allowed)
    return [
        *no_policy_flags(found.voice, dataset, settings),
        *hours_over_session_flags(found.too_long, sessions, people, settings, None),
    ]


def run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """All payment flags for the dataset as of ``run_date``, in a stable order."""
    with collector_paused():
        return _run(dataset, settings, run_date)


def _run(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    policy = dataset.policy
    if policy is None:
        return without_policy(dataset, settings, run_date)

    people = dataset.people_by_id()
    sessions = dataset.sessions_by_id()
    scanned = scan(dataset, policy, settings, run_date, people, sessions)
    projects = scanned.projects
    payments = counted_payments(dataset, policy, run_date, sessions)
    words = Words(policy.currency)
    tolerance = settings.payments.overpaid_tolerance
    flags: list[Flag] = []
    # Who declined payment, and who asked to hear about their benefits: read from each person once,
    # not for each of the 17,000 people and kinds below (most of whom need neither).
    declined_ids = {pid for pid, p in people.items() if p.payment_preference is PaymentPreference.DECLINED}
    warn_ids = {pid for pid, p in people.items() if wants_benefits_warning(p, policy)}

    for person_id, kind, mine, paid in _in_order(scanned.dues, payments):
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

    fees_paid: dict[str, list[Payment]] = defaultdict(list)
    if declined_ids:  # the fees paid to people who declined them (most organisations: nobody)
        for p in dataset.payments:
            if (
                p.person_id in declined_ids
                and p.kind is PaymentKind.FEE
                and p.amount > 0
                and p.date <= run_date
            ):
                fees_paid[p.person_id].append(p)
    for person_id in sorted(declined_ids):
        person = people[person_id]
        paid = sorted(fees_paid.get(person_id, []), key=payment_order)
        if paid:
            flags.append(declined_flag(person, paid, policy.currency, projects.get(person.id)))

    flags.extend(unresourced_flags(scanned.unresourced, sessions, policy, settings))
    flags.extend(hours_over_session_flags(scanned.too_long, sessions, people, settings, policy))
    return flags


_KINDS_IN_ORDER = sorted(PaymentKind)
"""The kinds as a (person id, kind) key sorts them: by their text (``expenses`` before ``fee``)."""


def _in_order(
    dues: dict[tuple[str, PaymentKind], dict[int, Due]],
    payments: dict[tuple[str, PaymentKind], list[Payment]],
) -> Iterator[tuple[str, PaymentKind, dict[int, Due] | None, list[Payment] | None]]:
    """Every (person id, kind) key of either table, once, sorted, with what each table holds for it
    (looked up once here, not again by the loop): the person ids are sorted, not the keys. Sorting
    the 85,000 keys of a 5x check compared two tuples, and so two person ids held anywhere in
    memory, 1.4 million times (10 times the 1x time for 5 times the keys); the half as many ids
    sort in a third of that time, into the same order."""
    people = {person_id for person_id, _ in dues}
    people.update(person_id for person_id, _ in payments)
    dues_of, payments_of = dues.get, payments.get
    for person_id in sorted(people):
        for kind in _KINDS_IN_ORDER:
            key = (person_id, kind)
            mine, paid = dues_of(key), payments_of(key)
            if mine is not None or paid is not None:
                yield person_id, kind, mine, paid
