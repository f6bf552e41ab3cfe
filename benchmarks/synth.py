"""A synthetic co-production dataset of any size, deterministic for a seed.

Used by the core benchmark and by the connector benchmarks. The make-up is realistic enough to
make every check work: three quarters of people have lived experience or are carers, sessions of
every kind across stages, most attendances paid on time, some not.
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


def dataset(people: int, sessions: int, attendances: int, payments: int, seed: int = 7) -> Dataset:
    """Build a Dataset without re-validating each row (the mapping has done that in real runs).

    Equal values share one Decimal object, as they do after the mapping (which memoises parsed
    cells), so memory figures match a real run rather than a worst case.
    """
    rng = random.Random(seed)
    dec = {n: Decimal(n) for n in (0, 1, 2, 3, 5, 25, 50, 75)}
    roles = [Role.LIVED_EXPERIENCE] * 6 + [Role.CARER] * 2 + [Role.FRONTLINE_STAFF, Role.MANAGER]
    eth = list(ETHNICITY) + ["prefer_not_to_say"]
    eth_w = [0.70, 0.08, 0.10, 0.05, 0.03, 0.04]
    projects = max(1, sessions // 100)
    project_list = tuple(
        Project.model_construct(
            id=f"P{i}",
            name=f"Project {i}",
            label=Rung.CO_PRODUCTION,
            stages_reached=frozenset({Stage.DESIGN, Stage.PLANNING}),
            plan_drafted=START + timedelta(days=rng.randint(0, 200)),
            co_chair_roles=frozenset(),
            decision_group=tuple(str(rng.randrange(people)) for _ in range(6)),
        )
        for i in range(projects)
    )
    people_list = tuple(
        Person.model_construct(
            id=str(i),
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
            id=f"S{i}",
            project_id=f"P{i % projects}",
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
    attendance_list = tuple(
        Attendance.model_construct(
            person_id=str(rng.randrange(people)),
            session_id=f"S{rng.randrange(sessions)}",
            hours=None,
            prep_hours=dec[rng.choice([0, 0, 1])],
            expenses_claimed=dec[rng.choice([0, 0, 0, 5])],
        )
        for _ in range(attendances)
    )
    payment_list = tuple(
        Payment.model_construct(
            id=f"PAY{i}",
            person_id=str(rng.randrange(people)),
            amount=dec[rng.choice([25, 50, 75])],
            date=START + timedelta(days=rng.randint(0, 700)),
            kind=PaymentKind.FEE,
            session_id=None,
        )
        for i in range(payments)
    )
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
