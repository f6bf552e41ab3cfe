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
from typing import Any

from coprod_core.collector import collector_paused
from coprod_core.flags import Flag
from coprod_core.mapping.entities import (
    AttendanceRecords,
    FirstUse,
    PaymentRecords,
    PeopleRecords,
    ProjectRecords,
    Records,
    SessionRecords,
    known_members,
    map_rows,
)
from coprod_core.mapping.fields import SHARED_IDS, EntityCount, FieldReader
from coprod_core.mapping.problems import Problems
from coprod_core.mapping.references import NearIds, Refs
from coprod_core.model import NO_PLAN_BEFORE, Attendance, Dataset, Payment, Person, Project, Session
from coprod_core.recipe import Entity, InlineProject, Recipe
from coprod_core.removed import PeopleRead
from coprod_core.rows import Row, RowBlock
from coprod_core.voice import say

__all__ = ["MAPPING_ORDER", "DatasetMapper", "EntityCount", "Mapped", "map_dataset"]

INLINE_PROJECT_AT = 'the [[projects]] with id "{id}" in {recipe_file}'
"""Where a flag about a project declared in the recipe is: that entry of the file (it has no row)."""


def declared_in_recipe(where: str, project_id: str) -> bool:
    """Whether a projects flag's place (its evidence's ``row``) is the ``[[projects]]`` of the recipe
    with this ID (:data:`INLINE_PROJECT_AT`), not a table's row: its subject, ``projects:DSR``, holds
    the project's ID where a row's holds its number."""
    return where.startswith(INLINE_PROJECT_AT.split("{recipe_file}")[0].format(id=project_id))


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
    people_read: PeopleRead | None = None
    """Whom the people list named, every row counted (None when the recipe reads no people): who
    is no longer in it, for :func:`coprod_core.lifecycle.diff_flags`."""


def map_dataset(recipe: Recipe, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
    """Map every entity's rows onto a Dataset. Never raises on bad data: problems come back as flags.

    ``rows`` are iterated once each, in :data:`MAPPING_ORDER`, so they may be read lazily. Each
    item is a :class:`Row` or a :class:`RowBlock` of a table's rows (read column by column)."""
    return DatasetMapper(recipe).map(rows)


class DatasetMapper:
    """One mapping of a recipe's rows, with what it learnt kept: each entity's reader and records
    (the ids read, and those on rows that could not be used), the key each used row claimed, and
    the records built. :mod:`coprod_core.live` maps rows that change later on top of it, as a whole
    run would have mapped them."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.problems = Problems()
        self.counts: dict[Entity, EntityCount] = {}
        self.ids: dict[Entity, dict[str, str]] = {entity: {} for entity in SHARED_IDS}
        """The ids of each entity that others refer to, read in this mapping, each by itself: a
        person's id in 30 attendance rows and 10 payments is one string, not 41, so the checks'
        look-ups by id find it by identity, and a 200,000-row register holds one string per person
        and session, not two per row. One table per entity, not one for all: a look-up in a table
        of people's ids stays in the processor's cache better than one in a table that also holds
        every payment's own id (five times as many at 5x, and never looked up by anything)."""
        self.records: dict[Entity, Records[Any]] = {}
        """Each mapped entity's records object (its reader, admission and building rules)."""
        self.claimed: dict[Entity, FirstUse] = {}
        """Entity -> where each record key was first used."""
        self.built: dict[Entity, list[Any]] = {}
        self.refs: Refs | None = None
        self.former_people: frozenset[str] = frozenset()
        """IDs of people coprod knew in the people list before (from the state store:
        :func:`coprod_core.lifecycle.people_known`): a row naming one no longer in it is flagged as
        belonging to someone removed from the list, not as a mistyped ID. Set before :meth:`map`."""
        self.removed_rows_advice: dict[Entity, str] = {}
        """What staff do about the rows of someone removed from the people list, by entity, in the
        words of the tool each entity's flags go to (``Connector.removed_rows_advice``: a tool
        without a "won't fix" says what instead); set before :meth:`map` by the run, which knows
        the tools. An entity not in it says :data:`~coprod_core.mapping.references.DELETE_ROWS`."""
        self.recipe_file = "the recipe"
        """The recipe's file name (``recipe.toml``), for the flags on a ``[[projects]]`` it declares
        (there is no row to name): set before :meth:`map` by the run, which read the file."""

    def map(self, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
        with collector_paused():
            return self._map(rows)

    def _reader(self, entity: Entity, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> FieldReader | None:
        recipe, counts = self.recipe, self.counts
        spec = recipe.entities.get(entity)
        if spec is None:
            if entity in rows:
                got = sum(len(item) if isinstance(item, RowBlock) else 1 for item in rows[entity])
                if got:
                    counts[entity] = EntityCount(read=got, rejected=got)
            return None
        kept = {"roles": _role_unknown_words(recipe)} if entity is Entity.PEOPLE else None
        most_hours = recipe.settings.data_quality.max_session_hours
        made = FieldReader(entity, spec, self.problems, self.ids, kept, most_hours)
        counts[entity] = made.count
        return made

    def _rows(self, records: Records[Any], rows: Iterable[Row | RowBlock]) -> list[Any]:
        entity = records.reader.entity
        self.records[entity] = records
        first = self.claimed.setdefault(entity, FirstUse())
        self.built[entity] = map_rows(records, rows, first)
        return self.built[entity]

    def _map(self, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
        recipe = self.recipe

        def entity_rows(entity: Entity) -> Iterable[Row | RowBlock]:
            return rows.get(entity, ())

        people_reader = self._reader(Entity.PEOPLE, rows)
        people_records = PeopleRecords(people_reader) if people_reader else None
        people = self._rows(people_records, entity_rows(Entity.PEOPLE)) if people_records else []
        person_ids = {p.id for p in people}
        near_people = NearIds(person_ids)
        # a row with a blank ID may be anyone's: nobody is taken as removed while it is there
        former = self.former_people if not (people_records and people_records.unidentified) else frozenset()
        rejected_people = people_records.rejected if people_records else set()

        projects_reader = self._reader(Entity.PROJECTS, rows)
        removed = frozenset(former - person_ids - rejected_people)
        if projects_reader is None:
            projects = [self._inline_project(p, near_people, removed) for p in recipe.projects]
            self.counts[Entity.PROJECTS] = EntityCount(read=len(projects), used=len(projects))
            self.built[Entity.PROJECTS] = projects
        else:
            projects = self._rows(
                ProjectRecords(projects_reader, near_people, removed), entity_rows(Entity.PROJECTS)
            )

        sessions_reader = self._reader(Entity.SESSIONS, rows)
        session_records = SessionRecords(sessions_reader, projects) if sessions_reader else None
        sessions = self._rows(session_records, entity_rows(Entity.SESSIONS)) if session_records else []
        session_ids = {s.id for s in sessions}
        refs = self.refs = Refs(
            person_ids,
            rejected_people,
            session_ids,
            session_records.rejected if session_records else set(),
            near_people,
            NearIds(session_ids),
            former,
            dict(self.removed_rows_advice),
        )

        attendance_reader = self._reader(Entity.ATTENDANCE, rows)
        attendance = (
            self._rows(AttendanceRecords(attendance_reader, refs), entity_rows(Entity.ATTENDANCE))
            if attendance_reader
            else []
        )
        payments_reader = self._reader(Entity.PAYMENTS, rows)
        payments = (
            self._rows(PaymentRecords(payments_reader, refs), entity_rows(Entity.PAYMENTS))
            if payments_reader
            else []
        )
        dataset = self.dataset(people, projects, sessions, attendance, payments, removed)
        people_read = (
            PeopleRead(frozenset(person_ids | people_records.rejected), people_records.unidentified)
            if people_records
            else None
        )
        return Mapped(
            dataset=dataset, problems=self.problems.flags, counts=self.counts, people_read=people_read
        )

    def _inline_project(self, p: InlineProject, people: NearIds, removed: frozenset[str]) -> Project:
        """A ``[[projects]]`` of the recipe as a project, its decision group and co-chairs checked
        against the people list as a projects table's are (:func:`known_members`): an ID not in it
        is flagged, where the recipe declares it, and left out."""
        where = INLINE_PROJECT_AT.format(recipe_file=self.recipe_file, id=p.id)
        row = Row(ref=where, values={}, key=p.id)

        def members(field_name: str, listed: list[str]) -> tuple[str, ...]:
            at = f"{where}, {field_name}"
            return known_members(self.problems, row, at, None, field_name, listed, p.id, people, removed)

        plan = p.plan_drafted
        return Project(
            id=p.id,
            name=p.name,
            label=p.label,
            stages_reached=frozenset(p.stages_reached),
            plan_drafted=plan if isinstance(plan, date) else None,
            no_plan_before=plan == NO_PLAN_BEFORE,
            co_chair_roles=frozenset(p.co_chair_roles),
            co_chairs=members("co_chairs", p.co_chairs),
            decision_group=members("decision_group", p.decision_group),
            recruitment_opened=p.recruitment_opened,
            values_agreed=p.values_agreed,
            values_reviewed=p.values_reviewed,
        )

    def dataset(
        self,
        people: Iterable[Person],
        projects: Iterable[Project],
        sessions: Iterable[Session],
        attendance: Iterable[Attendance],
        payments: Iterable[Payment],
        removed: frozenset[str] = frozenset(),
    ) -> Dataset:
        """The dataset of these records, with the recipe's baseline, policy and what it records;
        ``removed``: the IDs of people known before and no longer in the people list."""
        recipe = self.recipe
        return Dataset.model_construct(
            people=tuple(people),
            projects=tuple(projects),
            sessions=tuple(sessions),
            attendance=tuple(attendance),
            payments=tuple(payments),
            baseline=dict(recipe.baseline),
            policy=recipe.policy,
            recorded=_recorded(recipe),
            removed_people=removed,
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
    if recipe.policy is not None and any(p.policy.eligible_roles for p in recipe.policy.periods()):
        not_counted.append("works out no fee as due to them")
    until = f", but until it is known coprod {' and '.join(not_counted)}" if not_counted else ""
    return f"The person was kept with their role unknown: their attendance and payments still count{until}."
