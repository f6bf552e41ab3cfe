"""Mapping: raw rows from any connector -> the canonical model, and bad values -> data-quality flags.

Every connector hands over rows as the source holds them (column -> text); this package is the one
place that reads dates, amounts, yes/no answers and roles, so a spreadsheet, a KoboToolbox form and
a CiviCRM export are understood the same way. It is pure (no I/O, no clock) and never raises on bad
data: a value it cannot read becomes a ``data_quality.*`` flag naming the row, the column, what was
found and what was expected, and the row is either kept without that value (optional field) or
rejected (required field, unknown reference, duplicate id). Counts of rows read, used and rejected
per entity make sure nothing is dropped silently.

Demographic answers are personal data: a flag about one names the column, never the answer.

The modules, in the order a row meets them: ``cells`` (reading one value), ``fields`` (an
entity's fields from a row, as the recipe maps them), ``demographics``, ``references`` (ids of
people and sessions named by other rows), ``entities`` (the one loop every entity's rows go
through) and ``problems`` (the wording of data-quality flags).

Speed: rows may be any iterables, read as the mapping goes (``coprod sync`` hands over each
source's pages as they arrive, so a run never holds every raw row at once), and the per-row work
is dictionary look-ups: each distinct cell text is read once per field. A page of a table comes as
a ``RowBlock`` (the cells under one header): its columns are read at once, and the rows that need
no flag (nearly all) are built together, with no dict per row; every other row goes through the
same row-by-row loop as a single ``Row`` (``entities.map_rows``), so what is found is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from coprod_core.collector import collector_paused
from coprod_core.flags import Flag
from coprod_core.mapping.entities import (
    AttendanceRecords,
    PaymentRecords,
    PeopleRecords,
    ProjectRecords,
    SessionRecords,
    map_rows,
)
from coprod_core.mapping.fields import EntityCount, FieldReader
from coprod_core.mapping.problems import Problems
from coprod_core.mapping.references import NearIds, Refs
from coprod_core.model import NO_PLAN_BEFORE, Dataset, Project
from coprod_core.recipe import Entity, InlineProject, Recipe
from coprod_core.rows import Row, RowBlock
from coprod_core.voice import say

__all__ = ["MAPPING_ORDER", "EntityCount", "Mapped", "map_dataset"]

MAPPING_ORDER: tuple[Entity, ...] = (
    Entity.PEOPLE,
    Entity.PROJECTS,
    Entity.SESSIONS,
    Entity.ATTENDANCE,
    Entity.PAYMENTS,
)
"""The order entities are mapped in (and so read in, when rows arrive as they are read): each
after the ones its rows refer to."""


@dataclass
class Mapped:
    dataset: Dataset
    problems: list[Flag] = field(default_factory=list)
    counts: dict[Entity, EntityCount] = field(default_factory=dict)


def map_dataset(recipe: Recipe, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
    """Map every entity's rows onto a Dataset. Never raises on bad data: problems come back as flags.

    ``rows`` are iterated once each, in :data:`MAPPING_ORDER`, so they may be read lazily. Each
    item is a :class:`Row` or a :class:`RowBlock` of a table's rows (read column by column)."""
    with collector_paused():
        return _map_dataset(recipe, rows)


def _map_dataset(recipe: Recipe, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
    problems = Problems()
    counts: dict[Entity, EntityCount] = {}
    ids: dict[str, str] = {}

    def reader(entity: Entity) -> FieldReader | None:
        spec = recipe.entities.get(entity)
        if spec is None:
            if entity in rows:
                got = sum(len(item) if isinstance(item, RowBlock) else 1 for item in rows[entity])
                if got:
                    counts[entity] = EntityCount(read=got, rejected=got)
            return None
        kept = {"roles": _role_unknown_words(recipe)} if entity is Entity.PEOPLE else None
        made = FieldReader(entity, spec, problems, ids, kept)
        counts[entity] = made.count
        return made

    def entity_rows(entity: Entity) -> Iterable[Row | RowBlock]:
        return rows.get(entity, ())

    people_reader = reader(Entity.PEOPLE)
    people_records = PeopleRecords(people_reader) if people_reader else None
    people = map_rows(people_records, entity_rows(Entity.PEOPLE)) if people_records else []
    person_ids = {p.id for p in people}
    near_people = NearIds(person_ids)

    projects_reader = reader(Entity.PROJECTS)
    if projects_reader is None:
        projects = [_inline_project(p) for p in recipe.projects]
        counts[Entity.PROJECTS] = EntityCount(read=len(projects), used=len(projects))
    else:
        projects = map_rows(ProjectRecords(projects_reader, near_people), entity_rows(Entity.PROJECTS))

    sessions_reader = reader(Entity.SESSIONS)
    session_records = SessionRecords(sessions_reader, projects) if sessions_reader else None
    sessions = map_rows(session_records, entity_rows(Entity.SESSIONS)) if session_records else []
    session_ids = {s.id for s in sessions}
    refs = Refs(
        person_ids,
        people_records.rejected if people_records else set(),
        session_ids,
        session_records.rejected if session_records else set(),
        near_people,
        NearIds(session_ids),
    )

    attendance_reader = reader(Entity.ATTENDANCE)
    attendance = (
        map_rows(AttendanceRecords(attendance_reader, refs), entity_rows(Entity.ATTENDANCE))
        if attendance_reader
        else []
    )
    payments_reader = reader(Entity.PAYMENTS)
    payments = (
        map_rows(PaymentRecords(payments_reader, refs), entity_rows(Entity.PAYMENTS))
        if payments_reader
        else []
    )

    dataset = Dataset.model_construct(
        people=tuple(people),
        projects=tuple(projects),
        sessions=tuple(sessions),
        attendance=tuple(attendance),
        payments=tuple(payments),
        baseline=dict(recipe.baseline),
        policy=recipe.policy,
        recorded=_recorded(recipe),
    )
    return Mapped(dataset=dataset, problems=problems.flags, counts=counts)


def _inline_project(p: InlineProject) -> Project:
    plan = p.plan_drafted
    return Project(
        id=p.id,
        name=p.name,
        label=p.label,
        stages_reached=frozenset(p.stages_reached),
        plan_drafted=plan if isinstance(plan, date) else None,
        no_plan_before=plan == NO_PLAN_BEFORE,
        co_chair_roles=frozenset(p.co_chair_roles),
        co_chairs=tuple(p.co_chairs),
        decision_group=tuple(p.decision_group),
        recruitment_opened=p.recruitment_opened,
        values_agreed=p.values_agreed,
        values_reviewed=p.values_reviewed,
    )


def _recorded(recipe: Recipe) -> frozenset[str]:
    """The fields the recipe maps (``entity.field``), so a rule can tell "none recorded" from "not
    kept": a column mapped, a default given, or a field set on any project declared in the recipe."""
    found = {f"{entity.value}.{name}" for entity, spec in recipe.entities.items() for name in spec.fields}
    found |= {f"{entity.value}.{name}" for entity, spec in recipe.entities.items() for name in spec.defaults}
    if Entity.PROJECTS not in recipe.entities:
        found |= {f"projects.{name}" for p in recipe.projects for name in p.model_fields_set}
    return frozenset(found)


def _role_unknown_words(recipe: Recipe) -> str:
    """What becomes of a person whose role is missing or not understood, for the flag on their row.

    Dropping them would drop their attendance and payments too (each then flagged again as an
    unknown person), so they are kept with no role. No role is no voice role: they are never
    counted as having lived experience (or as a carer) in representation, decisions or
    consultation, and no fee is worked out as due to them, until the role is fixed. The flag says
    so, in the recipe's own voice roles.
    """
    voice = recipe.settings.voice_roles
    not_counted = []
    if voice:
        not_counted.append(f"does not count them among {say(voice, 'people')}")
    if recipe.policy is not None and recipe.policy.eligible_roles:
        not_counted.append("works out no fee as due to them")
    until = f", but until it is known coprod {' and '.join(not_counted)}" if not_counted else ""
    return f"The person was kept with their role unknown: their attendance and payments still count{until}."
