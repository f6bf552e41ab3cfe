"""Golden fingerprints: the identity of every flag the first rules raise, pinned.

A flag's fingerprint is how a charity's tools know it is the same problem as last time: a changed
fingerprint closes every open flag and opens a new one, so everything staff acknowledged comes
back. Its facts digest decides whether an acknowledged flag is re-opened. These values were taken
from the code before the rule registry existed; a refactor that changes one of them is a bug, not
a test to update.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from coprod_core.checks import consultation, payments, representation
from coprod_core.flags import Flag
from coprod_core.mapping import map_dataset
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
from coprod_core.recipe import Recipe
from coprod_core.rows import Row
from coprod_core.settings import CheckSettings

RUN = date(2026, 7, 1)
LE = Role.LIVED_EXPERIENCE
K = SessionKind


def _people() -> tuple[Person, ...]:
    people = [
        Person(
            id=f"u{i}",
            name=f"Person {i}",
            roles=frozenset({LE}),
            demographics={"ethnicity": "white" if i < 8 else "prefer_not_to_say"},
            payment_preference=PaymentPreference.PAID,
        )
        for i in range(12)
    ]
    people[1] = people[1].model_copy(update={"benefits_opt_in": True})
    people[2] = people[2].model_copy(update={"payment_preference": PaymentPreference.DECLINED})
    people.append(Person(id="m1", name="Manager", roles=frozenset({Role.MANAGER})))
    return tuple(people)


def _dataset(policy: PaymentPolicy | None) -> Dataset:
    project = Project(
        id="p1",
        name="Day service redesign",
        label=Rung.CO_PRODUCTION,
        stages_reached=frozenset({Stage.DESIGN, Stage.PLANNING}),
        plan_drafted=date(2026, 1, 10),
        decision_group=("m1", "u0"),
    )
    sessions = (
        Session(
            id="s0",
            project_id="p1",
            date=date(2026, 1, 20),
            hours=Decimal(2),
            kind=K.DECISION_MEETING,
            stage=Stage.PLANNING,
            decision_taken=True,
            decision="The budget",
        ),
        Session(id="s1", project_id="p1", date=date(2026, 2, 1), hours=Decimal(2), kind=K.FEEDBACK_ON_DRAFT),
        Session(id="s2", project_id="p1", date=date(2026, 6, 20), hours=Decimal(3), kind=K.SURVEY),
        Session(id="s3", project_id="p1", date=date(2026, 3, 1), hours=Decimal(2), kind=K.TRAINING),
    )
    attendance = [Attendance(person_id="m1", session_id="s0")]
    attendance += [Attendance(person_id=f"u{i}", session_id="s1") for i in range(12)]
    attendance += [
        Attendance(person_id="u1", session_id="s2"),
        Attendance(person_id="u3", session_id="s3"),
        Attendance(person_id="u4", session_id="s1", expenses_claimed=Decimal("4.50")),
    ]
    attendance = [a for a in attendance if not (a.person_id == "u4" and a.expenses_claimed == 0)]
    pays = [
        Payment(id=f"pay{i}", person_id=f"u{i}", amount=Decimal(50), date=date(2026, 2, 10)) for i in (5, 6)
    ]
    pays += [
        Payment(id="dup", person_id="u6", amount=Decimal(50), date=date(2026, 2, 12)),
        Payment(id="dec", person_id="u2", amount=Decimal(50), date=date(2026, 2, 10)),
        Payment(
            id="exp", person_id="u7", amount=Decimal(9), date=date(2026, 2, 10), kind=PaymentKind.EXPENSES
        ),
    ]
    return Dataset(
        people=_people(),
        projects=(project,),
        sessions=sessions,
        attendance=tuple(attendance),
        payments=tuple(pays),
        baseline={
            "ethnicity": BaselineDimension(
                source="service records", as_of="2026-03-31", shares={"white": 0.4, "asian": 0.6}
            )
        },
        policy=policy,
    )


POLICY = PaymentPolicy(
    rates={K.FEEDBACK_ON_DRAFT: Decimal(25), K.SURVEY: Decimal(10), K.DECISION_MEETING: Decimal(25)},
    benefits_monthly_threshold=Decimal(20),
    source="policy v1",
)


def _quality() -> list[Flag]:
    """One of each data-quality problem, through the mapping as a sync meets them."""
    recipe = Recipe.model_validate(
        {
            "name": "golden",
            "sources": {"files": {"connector": "files"}},
            "entities": {
                "people": {
                    "source": "files",
                    "fields": {"id": "ID", "roles": "Role", "payment_preference": "Pay"},
                },
                "projects": {"source": "files", "fields": {"id": "ID", "name": "Name"}},
                "sessions": {
                    "source": "files",
                    "fields": {
                        "id": "ID",
                        "project_id": "Project",
                        "date": "Date",
                        "hours": "Hours",
                        "kind": "Kind",
                    },
                },
                "attendance": {"source": "files", "fields": {"person_id": "Person", "session_id": "Session"}},
                "payments": {
                    "source": "files",
                    "fields": {"id": "ID", "person_id": "Person", "amount": "Amount", "date": "Date"},
                },
            },
        }
    )

    def rows(entity: str, *values: dict[str, str]) -> list[Row]:
        return [Row(ref=f"{entity}.csv row {i}", values=v) for i, v in enumerate(values, start=2)]

    mapped = map_dataset(
        recipe,
        {
            "people": rows(
                "people",
                {"ID": "1", "Role": "lived experience", "Pay": "maybe"},
                {"ID": "1", "Role": "carer"},
                {"ID": "2", "Role": ""},
            ),
            "projects": rows("projects", {"ID": "p1", "Name": "Project"}),
            "sessions": rows(
                "sessions",
                {"ID": "s1", "Project": "p1", "Date": "2026-03-01", "Hours": "2", "Kind": "survey"},
                {"ID": "s2", "Project": "p9", "Date": "2026-03-01", "Hours": "2", "Kind": "survey"},
            ),
            "attendance": rows(
                "attendance", {"Person": "9", "Session": "s1"}, {"Person": "1", "Session": "s9"}
            ),
            "payments": rows("payments", {"ID": "x1", "Person": "1", "Amount": "-5", "Date": "2026-03-02"}),
        },
    )
    return mapped.problems


def _keys(flags: list[Flag]) -> set[tuple[str, str, str, str, str]]:
    return {(f.check_id, f.subject.kind.value, f.subject.id, f.fingerprint, f.facts_digest) for f in flags}


def test_representation_fingerprints_are_unchanged() -> None:
    flags = representation.run(_dataset(POLICY), CheckSettings(), RUN)
    assert _keys(flags) == {
        ("representation.data_gap", "project", "p1", "1bf6874952349b86e5a8", "95f2218f68bb5dd31c12"),
        ("representation.decision_group", "project", "p1", "415dbf7bc1b9e66af253", "c0634816b001575598eb"),
        (
            "representation.decision_without_voice",
            "session",
            "s0",
            "6db86cc1015f93712365",
            "2a165c1d6b0426ca06a2",
        ),
        ("representation.under_represented", "project", "p1", "16627e31eb0f3493c9bf", "faeb5e38daf76b160ab7"),
    }


def test_payments_fingerprints_are_unchanged() -> None:
    flags = payments.run(_dataset(POLICY), CheckSettings(), RUN)
    overdue = "d691d37d91d02c7f0895"
    assert _keys(flags) == {
        ("payments.benefits_threshold", "person", "u1", "9cf25055b2447a016a0e", "076f1052b34fecf2393d"),
        ("payments.benefits_threshold", "person", "u1", "cd9adb50159899fa60b4", "6ca43f73969f86a32d91"),
        ("payments.overdue", "person", "u0", "0cb3353fbadc6a82fac4", overdue),
        ("payments.overdue", "person", "u1", "a2b215d92bf2c1b2f569", overdue),
        ("payments.overdue", "person", "u10", "4de8b2126c1a2b0deb24", overdue),
        ("payments.overdue", "person", "u11", "9a41f2623c8edcbaca58", overdue),
        ("payments.overdue", "person", "u3", "b1a862395fda1ebae667", overdue),
        ("payments.overdue", "person", "u4", "08923784f6b76bb3d473", "1946485334247730a170"),
        ("payments.overdue", "person", "u4", "e43659a02d76779881cf", overdue),
        ("payments.overdue", "person", "u7", "f22a0ba03da1ee161c76", overdue),
        ("payments.overdue", "person", "u8", "b157082104cb0015d83c", overdue),
        ("payments.overdue", "person", "u9", "bfec9383b9f8c7089fbb", overdue),
        ("payments.overpaid", "person", "u6", "bae312a2f6d4c775538e", "e92b3e94fa0b277b48cb"),
        ("payments.overpaid", "person", "u7", "63cdd00e33a789900238", "4d8651cb5f9a78c1bf4f"),
        ("payments.owed", "person", "u1", "8c145a9c9e8b0bece4ae", "3b1a28bcbfb75f82740b"),
        ("payments.paid_though_declined", "person", "u2", "1bc2dfb6e6ef9d6e9663", "c14eff3eae40bb6d1f65"),
        ("payments.unresourced", "session", "s3", "40c3f05f37bdb0a20765", "b3c3e21ee2b3e3f2a040"),
    }
    no_policy = payments.run(_dataset(None), CheckSettings(), RUN)
    assert _keys(no_policy) == {
        ("payments.no_policy", "project", "p1", "696d010dae2780187290", "d9a53a4c1760e4117004"),
    }


def test_consultation_fingerprint_is_unchanged() -> None:
    flags = consultation.run(_dataset(POLICY), CheckSettings(), RUN)
    assert _keys(flags) == {
        ("consultation.mislabelled", "project", "p1", "68bf0a42f4c2f01e176e", "c5ecce5e2827ec16c960"),
    }


def test_data_quality_fingerprints_are_unchanged() -> None:
    assert _keys(_quality()) == {
        (
            "data_quality.bad_value",
            "record",
            "people:people.csv row 2",
            "e43b88f5c06bca43b755",
            "14fcc66b8271fe7c8ab2",
        ),
        (
            "data_quality.duplicate_id",
            "record",
            "people:people.csv row 3",
            "5f9b0a74ed8a70cabbe7",
            "1a3b08a470369e738362",
        ),
        (
            "data_quality.missing_value",
            "record",
            "people:people.csv row 4",
            "7b7a52f93cad6fced1a4",
            "e6aa1279767382330da7",
        ),
        (
            "data_quality.negative_amount",
            "record",
            "payments:payments.csv row 2",
            "0e148a048f132933cd90",
            "f02732886d3f314cb490",
        ),
        (
            "data_quality.unknown_person",
            "record",
            "attendance:attendance.csv row 2",
            "1c8ecbc9d081af1a5be3",
            "c5f9ccaba232dcb5a01a",
        ),
        (
            "data_quality.unknown_project",
            "record",
            "sessions:sessions.csv row 3",
            "0f5b99344b7bebc81525",
            "3bcade9ae0b5c5e53528",
        ),
        (
            "data_quality.unknown_session",
            "record",
            "attendance:attendance.csv row 3",
            "d08a22eed4eb68123baf",
            "73bcc65257efbc389537",
        ),
    }
