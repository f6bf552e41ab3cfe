"""A synthetic co-production dataset of any size, deterministic for a seed.

Used by the core benchmark. The make-up is realistic enough to make every check work: most people
have lived experience or are carers, each mostly in one project's group; sessions of every kind
across stages; and fees paid the way a finance team pays them: a person's sessions batched into
one payment, most of them on time, some late, some never, a few twice.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from coprod_core.model import (
    Attendance,
    BaselineDimension,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Person,
    PolicyChange,
    Project,
    Role,
    Rung,
    Session,
    SessionKind,
    Stage,
)

START = date(2025, 1, 1)
RUN_DATE = date(2026, 11, 20)
ETHNICITY = {"white": 0.62, "asian": 0.19, "black": 0.11, "mixed": 0.05, "other": 0.03}
AGES = {"18_24": 0.14, "25_49": 0.42, "50_64": 0.26, "65": 0.18}


def policy() -> PaymentPolicy:
    return PaymentPolicy(
        rates={k: Decimal(25) for k in SessionKind if k not in (SessionKind.TRAINING, SessionKind.OTHER)},
        minimum_hours=Decimal(1),
        benefits_monthly_threshold=Decimal(400),
        source="synthetic",
    )


def policy_with_change() -> PaymentPolicy:
    """The same policy with one ``[[policy.changes]]`` halfway through the sessions' dates that
    pays the same (a new source only), so the checks find the same flags and the time added is the
    look-up of the policy in force on each session's date, nothing else."""
    return policy().model_copy(
        update={
            "changes": (PolicyChange.model_validate({"from": date(2025, 12, 10), "source": "synthetic v2"}),)
        }
    )


def dataset(people: int, sessions: int, attendances: int, payments: int, seed: int = 7) -> Dataset:
    """Build a Dataset without re-validating each row (the mapping has done that in real runs).

    Equal values share one Decimal object, as they do after the mapping (which memoises parsed
    cells), and equal ids one string (the mapping shares them too), so memory and time figures
    match a real run rather than a worst case.
    """
    rng = random.Random(seed)
    shared: dict[str, str] = {}

    def ids(text: str) -> str:
        return shared.setdefault(text, text)

    dec = {n: Decimal(n) for n in (0, 1, 2, 3, 5, 25, 50, 75)}
    roles = [Role.LIVED_EXPERIENCE] * 6 + [Role.CARER] * 2 + [Role.FRONTLINE_STAFF, Role.MANAGER]
    eth = list(ETHNICITY) + ["prefer_not_to_say"]
    eth_w = [0.70, 0.08, 0.10, 0.05, 0.03, 0.04]
    projects = max(1, sessions // 100)
    project_list = tuple(
        Project.model_construct(
            id=ids(f"P{i}"),
            name=f"Project {i}",
            label=Rung.CO_PRODUCTION,
            stages_reached=frozenset({Stage.DESIGN, Stage.PLANNING}),
            plan_drafted=START + timedelta(days=rng.randint(0, 200)),
            co_chair_roles=frozenset(),
            decision_group=tuple(ids(str(rng.randrange(people))) for _ in range(6)),
        )
        for i in range(projects)
    )
    people_list = tuple(
        Person.model_construct(
            id=ids(str(i)),
            name=None,
            roles=frozenset({rng.choice(roles)}),
            demographics={
                "ethnicity": rng.choices(eth, eth_w)[0],
                "age_band": rng.choices(list(AGES), list(AGES.values()))[0],
            },
            payment_preference=rng.choice(
                [PaymentPreference.PAID] * 8 + [PaymentPreference.DECLINED, PaymentPreference.VOUCHER]
            ),
            benefits_opt_in=rng.random() < 0.05,
        )
        for i in range(people)
    )
    kinds = list(SessionKind)
    stages = list(Stage)
    session_list = tuple(
        Session.model_construct(
            id=ids(f"S{i}"),
            project_id=ids(f"P{i % projects}"),
            date=START + timedelta(days=rng.randint(0, 680)),
            hours=dec[rng.choice([1, 2, 3])],
            kind=rng.choice(kinds),
            stage=rng.choice(stages),
            title=None,
            decision_taken=rng.random() < 0.2,
            decision=None,
        )
        for i in range(sessions)
    )
    per_project = max(1, people // projects)

    def attendee(session: int) -> str:
        """Mostly someone from the session's own project group, sometimes anyone: a project's
        group stays the same size as the organisation grows, as real groups do."""
        if rng.random() < 0.9:
            return str(min(people - 1, session % projects + projects * rng.randrange(per_project)))
        return str(rng.randrange(people))

    seen: set[tuple[str, int]] = set()
    rows: list[Attendance] = []
    while len(rows) < attendances:  # one row per person and session, as a register has
        i = rng.randrange(sessions)
        pid = attendee(i)
        if (pid, i) in seen:
            continue
        seen.add((pid, i))
        rows.append(
            Attendance(
                person_id=ids(pid),
                session_id=ids(f"S{i}"),
                hours=None,
                prep_hours=dec[rng.choice([0, 0, 1])],
                expenses_claimed=dec[rng.choice([0, 0, 0, 5])],
            )
        )
    del seen
    attendance_list = tuple(rows)
    payment_list = _payments(rng, people_list, session_list, attendance_list, payments)
    baseline = {
        "ethnicity": BaselineDimension(source="synthetic", as_of="2026", shares=ETHNICITY),
        "age_band": BaselineDimension(source="synthetic", as_of="2026", shares=AGES),
    }
    return Dataset.model_construct(
        people=people_list,
        projects=project_list,
        sessions=session_list,
        attendance=attendance_list,
        payments=payment_list,
        baseline=baseline,
        policy=policy(),
    )


def _payments(
    rng: random.Random,
    people: tuple[Person, ...],
    sessions: tuple[Session, ...],
    attendance: tuple[Attendance, ...],
    target: int,
) -> tuple[Payment, ...]:
    """About ``target`` fee payments, each covering a few of one person's sessions.

    Fees follow the synthetic policy (25 an hour, at least an hour, preparation counted) for people
    the policy pays, expenses for everyone who claimed; 4% of batches are never paid, 1% of fees
    are paid twice.
    """
    rates = policy().rates
    person = {p.id: p for p in people}
    session = {s.id: s for s in sessions}
    owed: dict[str, list[tuple[date, Decimal, Decimal]]] = {}
    for a in attendance:
        p, s = person[a.person_id], session[a.session_id]
        if s.date > RUN_DATE:
            continue
        fee = Decimal(0)
        if (
            s.kind in rates
            and p.payment_preference is not PaymentPreference.DECLINED
            and not p.roles.isdisjoint({Role.LIVED_EXPERIENCE, Role.CARER})
        ):
            fee = rates[s.kind] * max(Decimal(1), s.hours + a.prep_hours)
        if fee or a.expenses_claimed:
            owed.setdefault(p.id, []).append((s.date, fee, a.expenses_claimed))
    total = sum(len(v) for v in owed.values())
    # A batch makes a fee payment and, most of the time, an expenses payment: ~1.8 payments.
    batch = max(1, round(total * 1.8 / max(1, target)))
    out: list[Payment] = []
    for pid in sorted(owed, key=int):
        items = sorted(owed[pid])
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            roll = rng.random()
            if roll < 0.04:
                continue
            when = min(chunk[-1][0] + timedelta(days=rng.randint(3, 25)), RUN_DATE)
            fees = sum((f for _, f, _ in chunk), Decimal(0))
            expenses = sum((e for _, _, e in chunk), Decimal(0))
            for kind, amount in ((PaymentKind.FEE, fees), (PaymentKind.EXPENSES, expenses)):
                if not amount:
                    continue
                for _ in range(2 if roll > 0.99 and kind is PaymentKind.FEE else 1):
                    out.append(
                        Payment(
                            id=f"PAY{len(out)}",
                            person_id=pid,
                            amount=amount,
                            date=when,
                            kind=kind,
                            session_id=None,
                        )
                    )
    return tuple(out)
