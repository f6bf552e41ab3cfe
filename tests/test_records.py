"""The immutable records passed between steps (a rule, a page of rows, a check's findings, a
store's location...) stay what callers rely on, whatever class they are built with (named tuples
since start-up was cut: a dataclass compiles its methods at import): no field can be changed after
they are made, two with the same values compare and hash the same, and they print as they always
did (``Upgrade(component='state', before=1, after=2)``), in messages and logs alike."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from coprod.connectors.base import Page, Summary
from coprod.schema import Migration, Upgrade
from coprod.state import RUNS_KEPT, RunsKept, StoreLocation
from coprod_core.checks import Checked
from coprod_core.checks.attendance import VoiceAttendance
from coprod_core.checks.consultation import Assessment, Criterion, Result
from coprod_core.checks.representation import (
    Answers,
    CategoryShare,
    DimensionProfile,
    Judged,
    ProjectProfile,
)
from coprod_core.flags import Severity
from coprod_core.lifecycle import ChangeKind, FlagChange, UnreadStatus
from coprod_core.mapping.references import NearIds, Refs
from coprod_core.model import Role, Rung
from coprod_core.recipe import CANONICAL_FIELDS, Entity, FieldSpec
from coprod_core.removed import PeopleRead
from coprod_core.rules import Rule, all_rules
from coprod_core.voice import ROLE_WORDS, RoleWords

ANY: Any = None
"""A field these tests never read (the records check no types)."""

ANSWERS = Answers(4, 1, 0, 1, {"asian": 2})

RECORDS = [
    Rule("x.y", "Title", Severity.WARNING, "what", "why", "source", "action"),
    RoleWords("carers", "carers", "is a carer", "are carers", "who is a carer", "a carer"),
    FieldSpec(True, "enum", Role),
    PeopleRead(frozenset({"1"}), 0),
    Refs({"1"}, set(), {"s"}, set(), NearIds({"1"}), NearIds({"s"})),
    UnreadStatus("Flags tab row 5", "maybe"),
    FlagChange(ChangeKind.RESOLVED, ANY),
    Criterion("from_the_start", Result.PASS, {"judged_on": "first_session"}),
    Assessment("p1", "Project", Rung.CO_PRODUCTION, Rung.CONSULTATION, {}, 2),
    ANSWERS,
    CategoryShare("asian", "people of Asian heritage", 2, 4, 0.3, 0.25, 0.15, 0.85, False),
    DimensionProfile("ethnicity", ANY, ANSWERS, (), False),
    ProjectProfile("p1", ("1", "2"), None, date(2026, 5, 1), ()),
    Judged([], []),
    VoiceAttendance(date(2026, 5, 1), frozenset({Role.CARER}), frozenset({"1"}), {}, Decimal(0), {}),
    Checked([], [], []),
    Migration(1, "why", "CREATE TABLE a (b TEXT)", "CREATE TABLE a (b TEXT)"),
    Upgrade("state", 1, 2),
    StoreLocation("sqlite", path=Path("state.sqlite")),
    RunsKept(),
    Page(rows=[], cursor="7"),
    Summary(rows=(), mark="coprod summary"),
]


def fields(record: Any) -> dict[str, Any]:
    """Its fields by name, in order (a record's annotations are its fields, and nothing else)."""
    return {name: getattr(record, name) for name in type(record).__annotations__}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_record_cannot_be_changed_once_made(record: Any) -> None:
    name = next(iter(fields(record)))
    with pytest.raises(AttributeError):
        setattr(record, name, "changed")
    with pytest.raises(AttributeError):
        record.not_a_field = "added"  # nothing can be hung on it either


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_record_equals_another_of_its_kind_with_the_same_values_and_prints_as_it_always_did(
    record: Any,
) -> None:
    values = fields(record)
    twin = type(record)(**values)
    assert twin == record and twin is not record
    assert type(record)(**(values | {next(iter(values)): "other"})) != record
    shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
    assert repr(record) == f"{type(record).__name__}({shown})"


def test_records_of_hashable_values_hash_alike_and_serve_as_keys() -> None:
    """A store is kept per location (the webhook app's ``_STORES``), rules and role words by value."""
    a, b = (
        StoreLocation("postgresql", url="postgresql://db/coprod"),
        StoreLocation("postgresql", url="postgresql://db/coprod"),
    )
    assert hash(a) == hash(b) and {(1, a): "store"}[(1, b)] == "store"
    assert len({rule: rule.id for rule in all_rules() + all_rules()}) == len(all_rules())
    assert len(set(ROLE_WORDS.values())) == len(ROLE_WORDS)
    assert FieldSpec(True, "text") == CANONICAL_FIELDS[Entity.PEOPLE]["id"]


def test_records_say_themselves_in_words_where_they_did() -> None:
    assert str(Upgrade("state", 1, 3)) == "state: schema upgraded from version 1 to 3"
    assert str(Upgrade("inbox", 2, 2)) == "inbox: schema version 2, up to date"
    assert str(StoreLocation("sqlite", path=Path("state.sqlite"))) == "state.sqlite"
    assert f"{StoreLocation('postgresql', url='postgresql://me:secret@db/coprod')}".count("secret") == 0


def test_defaults_are_shared_by_every_record_and_cannot_be_changed_through_one() -> None:
    """The one default that was a fresh dictionary per record (a reference check's advice for a
    removed person's rows) is an empty mapping nothing can add to: it was never added to."""
    refs = Refs(set(), set(), set(), set(), NearIds(set()), NearIds(set()))
    assert refs.deleted_advice == {} and refs.former_people == frozenset()
    assert isinstance(refs.deleted_advice, MappingProxyType)
    with pytest.raises(TypeError):
        refs.deleted_advice[Entity.ATTENDANCE] = "delete them"  # type: ignore[index]
    assert RunsKept() == RUNS_KEPT and (RUNS_KEPT.days, RUNS_KEPT.at_least) == (90, 50)
    assert UnreadStatus("row 2", "done").accepted == UnreadStatus("row 3", "done").accepted
