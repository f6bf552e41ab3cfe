"""A mapped dataset kept up to date one changed record at a time, and the checks re-run only for
what a change can touch.

The webhook worker holds each recipe's dataset in memory (never on disk: it holds personal data).
A delivery names one changed record (a KoboToolbox submission, a CiviCRM record, a Sheets row):
its rows are mapped on top of the mapping of the whole dataset (:class:`LiveDataset`), exactly as
a whole run maps them after the others; then the checks run on a part of the dataset
(:func:`scoped_check`) that holds all a project's sessions and attendance and all a person's
attendance and payments, for the projects and people the change concerns (:class:`Scope`), and
only the flags about those are taken from it.

What cannot be mapped this way raises :class:`NeedsWholeRead` (the worker then reads and maps
everything): a row other rows refer to removed or given another id, a person or session that
earlier rows named before it existed, a row that other rows repeat, an edited row that now
repeats another's key. Whatever the change, the result is the same flags as a whole run on the
same data would raise (``tests/test_live.py`` compares the two on random changes).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from coprod_core.checks import (
    check_all,
    consultation,
    feedback,
    payments,
    recruitment,
    representation,
    support,
    values,
)
from coprod_core.checks.attendance import VoiceAttendance
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, SubjectKind
from coprod_core.mapping import MAPPING_ORDER, DatasetMapper, Mapped
from coprod_core.mapping.entities import SessionRecords, map_rows
from coprod_core.model import Dataset, SessionKind
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row, RowBlock
from coprod_core.settings import CheckSettings

ROW_PROBLEMS_NAMING_IDS = frozenset(
    {"data_quality.unknown_person", "data_quality.unknown_session", "data_quality.unknown_project"}
)
"""Flags whose ``found`` names an id no row gave: a row adding that id changes other rows' fate."""
OWN_ID = (Entity.PEOPLE, Entity.SESSIONS, Entity.PROJECTS)
"""Entities other rows refer to by id."""


class NeedsWholeRead(Exception):
    """The change cannot be mapped on its own: read and map everything again (the reason in words)."""


class UnitChange(NamedTuple):
    """What one source record is now: the rows it gives an entity (none: gone, or no longer one
    the recipe reads). ``unit`` is the record's own id, the rows' ``key`` or its part before
    ``/`` (a KoboToolbox submission ``12`` gives attendance rows ``12/1``, ``12/2``...)."""

    entity: Entity
    unit: str
    rows: tuple[Row, ...]
    brings_others: bool = False
    """Rows of other entities come and go with this record's (a CiviCRM contact's participations
    and contributions are read only while it is out of the trash): if it comes into what the recipe
    reads where it was not, those rows were never read, so everything is read."""


class Scope(NamedTuple):
    """What a change can touch: these projects (their sessions, attendance and project flags), these
    people (their attendance, payments and person flags), and sessions that moved or went."""

    projects: frozenset[str] = frozenset()
    people: frozenset[str] = frozenset()
    sessions: frozenset[str] = frozenset()
    whole: bool = False
    """Re-check everything (a setting every check reads changed: no read is needed, only time)."""

    def __or__(self, other: tuple[Any, ...]) -> Scope:
        assert isinstance(other, Scope)
        return Scope(
            self.projects | other.projects,
            self.people | other.people,
            self.sessions | other.sessions,
            self.whole or other.whole,
        )


class _Slot(NamedTuple):
    """One row as the mapping took it: its ref, and the key of the record it made (None: rejected)."""

    ref: str
    key: Hashable | None


def unit_of(row: Row) -> str:
    return (row.key or row.ref).split("/", 1)[0]


def record_key(entity: Entity, record: Any) -> Hashable:
    """The key a record claims in the mapping (``Records.admit``)."""
    if entity is Entity.ATTENDANCE:
        return (record.person_id, record.session_id)
    key: Hashable = record.id
    return key


AttendanceKey = tuple[str, str]
"""(person id, session id): what an attendance claims."""


@dataclass
class _Index:
    """Who attended what and who was paid, kept as the records change."""

    attendance_of_person: dict[str, set[AttendanceKey]] = field(default_factory=lambda: defaultdict(set))
    attendance_of_session: dict[str, set[AttendanceKey]] = field(default_factory=lambda: defaultdict(set))
    payments_of_person: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    payments_of_session: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    sessions_of_project: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, entity: Entity, record: Any) -> None:
        self._change(entity, record, add=True)

    def remove(self, entity: Entity, record: Any) -> None:
        self._change(entity, record, add=False)

    def _change(self, entity: Entity, record: Any, *, add: bool) -> None:
        if entity is Entity.ATTENDANCE:
            key = (record.person_id, record.session_id)
            for where in (
                self.attendance_of_person[record.person_id],
                self.attendance_of_session[record.session_id],
            ):
                (where.add if add else where.discard)(key)
        elif entity is Entity.SESSIONS:
            sessions = self.sessions_of_project[record.project_id]
            (sessions.add if add else sessions.discard)(record.id)
        elif entity is Entity.PAYMENTS:
            places = [self.payments_of_person[record.person_id]]
            if record.session_id is not None:
                places.append(self.payments_of_session[record.session_id])
            for place in places:
                (place.add if add else place.discard)(record.id)


class LiveDataset(DatasetMapper):
    """The mapping of a whole read, kept so that one record's change is mapped on its own."""

    def __init__(self, recipe: Recipe) -> None:
        super().__init__(recipe)
        self.by_key: dict[Entity, dict[Hashable, Any]] = {}
        """Entity -> record key -> record, in the order a whole run builds them."""
        self.units: dict[Entity, dict[str, list[_Slot]]] = {}
        self.index = _Index()
        self.problems_of: dict[str, list[Flag]] = defaultdict(list)
        """Row ref -> the data-quality flags about it."""
        self.named: Counter[str] = Counter()
        """Ids that rows named and no row gave (``unknown_person`` and the like): one that arrives
        changes those rows."""
        self.repeated: Counter[str] = Counter()
        """Refs of rows that later rows repeat (``duplicate_id`` names them as ``first``)."""
        self.current: Dataset | None = None
        self.gates: tuple[Any, ...] = ()
        self.witnesses: tuple[set[str], set[str]] = (set(), set())
        self.problems_changed: tuple[list[Flag], list[Flag]] = ([], [])
        """The data-quality flags the last change added and took away."""
        self.seq: dict[Entity, dict[Hashable, int]] = {}
        """Entity -> record key -> its place in the order a whole run builds them (a record added
        later comes after the others, one replaced keeps its place)."""

    # -- the whole mapping -----------------------------------------------------------------------

    def map(self, rows: Mapping[Entity, Iterable[Row | RowBlock]]) -> Mapped:
        seen: dict[Entity, list[Row]] = {}

        def noted(entity: Entity, source: Iterable[Row | RowBlock]) -> Iterator[Row]:
            kept = seen.setdefault(entity, [])
            for item in source:  # a table's block goes row by row: each row's ref is kept
                for row in item if isinstance(item, RowBlock) else (item,):
                    kept.append(Row(row.ref, {}, row.key))  # the ref and key only: no answer is kept
                    yield row

        mapped = super().map({entity: noted(entity, source) for entity, source in rows.items()})
        for entity, records in self.built.items():
            self.by_key[entity] = {record_key(entity, r): r for r in records}
            self.seq[entity] = {key: n for n, key in enumerate(self.by_key[entity])}
            for r in records:
                self.index.add(entity, r)
        for entity, kept in seen.items():
            used = (
                {ref: key for key, ref in self.claimed[entity].at.items()} if entity in self.claimed else {}
            )
            units = self.units.setdefault(entity, {})
            for row in kept:
                units.setdefault(unit_of(row), []).append(_Slot(row.ref, used.get(row.ref)))
        for flag in self.problems.flags:
            self._note(flag, +1)
        self.current = mapped.dataset
        self.gates = _gates(mapped.dataset, self.recipe.settings)
        self.witnesses = self._find_witnesses(mapped.dataset)
        return mapped

    def _note(self, flag: Flag, n: int) -> None:
        evidence = flag.evidence
        ref = str(evidence.get("row", ""))
        if n > 0:
            self.problems_of[ref].append(flag)
        if flag.check_id in ROW_PROBLEMS_NAMING_IDS:
            found = evidence.get("found")
            for rid in found if isinstance(found, list) else [found]:
                self.named[str(rid)] += n
        if flag.check_id == "data_quality.duplicate_id":
            self.repeated[str(evidence.get("first", ""))] += n

    # -- one record changed ----------------------------------------------------------------------

    def apply(self, changes: Sequence[UnitChange]) -> Scope:
        """Map the changed records on top of the rest; return what the change can touch.

        Raises NeedsWholeRead when the change cannot be mapped on its own (see the module's words).
        """
        assert self.current is not None, "map the whole dataset first"
        before = self.current
        problems_before = list(self.problems.flags)
        scope = Scope()
        order = {e: n for n, e in enumerate(MAPPING_ORDER)}
        changed: set[Entity] = set()
        for change in sorted(changes, key=lambda c: order[c.entity]):
            if change.entity not in self.records:
                continue  # an entity the recipe does not read from here
            scope = scope | self._replace(change)
            changed.add(change.entity)
        fields = {Entity.PEOPLE: "people", Entity.PROJECTS: "projects", Entity.SESSIONS: "sessions",
                  Entity.ATTENDANCE: "attendance", Entity.PAYMENTS: "payments"}  # fmt: skip
        self.current = before.model_copy(update={fields[e]: tuple(self.by_key[e].values()) for e in changed})
        scope = self._widen(scope, self.current)
        if changed & set(OWN_ID):
            gates = _gates(self.current, self.recipe.settings)
            if gates != self.gates:
                scope = scope | Scope(whole=True)
            self.gates = gates
            self.witnesses = self._find_witnesses(self.current, changed)
        now = {id(f) for f in self.problems.flags}
        was = {id(f) for f in problems_before}
        self.problems_changed = (
            [f for f in self.problems.flags if id(f) not in was],
            [f for f in problems_before if id(f) not in now],
        )
        return scope

    def _replace(self, change: UnitChange) -> Scope:
        entity, unit = change.entity, change.unit
        units = self.units.setdefault(entity, {})
        old = units.pop(unit, [])
        if change.brings_others and change.rows and not old:
            raise NeedsWholeRead(f"{entity.value} {unit} came back into what the recipe reads")
        records = self.records[entity]
        reader = records.reader
        claimed = self.claimed[entity]
        by_key = self.by_key[entity]
        scope = Scope()
        gone: dict[Hashable, Any] = {}
        for slot in old:
            if self.repeated[slot.ref]:
                raise NeedsWholeRead(f"{slot.ref} is repeated by other rows")
            for flag in self.problems_of.pop(slot.ref, []):
                self._note(flag, -1)
                self.problems.flags.remove(flag)
            reader.count.read -= 1
            if slot.key is None:
                reader.count.rejected -= 1
                continue
            reader.count.used -= 1
            record = by_key[slot.key]  # taken out below, unless a new row keeps the key (and its place)
            claimed.at.pop(slot.key, None)
            self.index.remove(entity, record)
            gone[slot.key] = record
            scope = scope | self._scope_of(entity, record)
        if old and self._gives_ids(entity, old):
            raise NeedsWholeRead(f"rows of {entity.value} named an id of {unit} that it no longer gives")

        problems_before = len(self.problems.flags)
        made = map_rows(records, change.rows, claimed)
        fresh = self.problems.flags[problems_before:]
        if old and any(f.check_id == "data_quality.duplicate_id" for f in fresh):
            raise NeedsWholeRead(f"{unit} of {entity.value} now repeats another row's id")
        for flag in fresh:
            self._note(flag, +1)
        made_by_key = {record_key(entity, r): r for r in made}
        used = {claimed.at[key]: key for key in made_by_key}
        if change.rows:
            units[unit] = [_Slot(row.ref, used.get(row.ref)) for row in change.rows]
        seq = self.seq[entity]
        for key in gone.keys() - made_by_key.keys():
            del by_key[key]
            del seq[key]
        for key, record in made_by_key.items():
            if entity in OWN_ID and key not in gone and self.named[str(key)]:
                raise NeedsWholeRead(f"earlier rows named {entity.value} {key} before it was read")
            if key not in by_key:
                seq[key] = self._next(entity)
            by_key[key] = record  # a record kept under its key keeps its place
            self.index.add(entity, record)
            scope = scope | self._scope_of(entity, record)
        for key in gone:
            if entity in OWN_ID and key not in made_by_key and self._referenced(entity, str(key)):
                raise NeedsWholeRead(f"{entity.value} {key} is gone but other rows refer to it")
        self._known_ids(entity, gone, made_by_key)
        return scope

    def _next(self, entity: Entity) -> int:
        """A place after every record of ``entity``: the last one's, plus one."""
        seq = self.seq[entity]
        return seq[next(reversed(self.by_key[entity]))] + 1 if self.by_key[entity] else 0

    def _gives_ids(self, entity: Entity, old: list[_Slot]) -> bool:
        """Whether rows that were not used named an id ``old`` rows held (a rejected person
        explained to the rows naming it): their words change with it."""
        if entity not in OWN_ID:
            return False
        rejected = self.records[entity].rejected
        return any(slot.key is None for slot in old) and any(self.named[rid] for rid in rejected)

    def _known_ids(self, entity: Entity, gone: Mapping[Hashable, Any], made: Mapping[Hashable, Any]) -> None:
        """The ids other entities' rows are checked against, after a change."""
        refs = self.refs
        if refs is None or entity not in OWN_ID:
            return
        if entity is Entity.PROJECTS:
            after = len(self.by_key[Entity.PROJECTS])
            before = after - len(set(made) - set(gone)) + len(set(gone) - set(made))
            if before != after and 1 in (before, after):
                raise NeedsWholeRead("the number of projects changed from or to one")
            sessions = self.records.get(Entity.SESSIONS)
            if isinstance(sessions, SessionRecords):
                sessions.project_ids = {str(k) for k in self.by_key[Entity.PROJECTS]}
            return
        people = entity is Entity.PEOPLE
        known = refs.person_ids if people else refs.session_ids
        for key in gone:
            known.discard(str(key))
        for key in made:
            known.add(str(key))
        (refs.near_people if people else refs.near_sessions).forget()

    def _referenced(self, entity: Entity, rid: str) -> bool:
        index = self.index
        if entity is Entity.PEOPLE:
            listed = any(
                rid in p.decision_group or rid in p.co_chairs
                for p in self.by_key.get(Entity.PROJECTS, {}).values()
            )
            return bool(index.attendance_of_person.get(rid) or index.payments_of_person.get(rid)) or listed
        if entity is Entity.SESSIONS:
            return bool(index.attendance_of_session.get(rid) or index.payments_of_session.get(rid))
        return any(s.project_id == rid for s in self.by_key.get(Entity.SESSIONS, {}).values())

    # -- what a change can touch -----------------------------------------------------------------

    def _scope_of(self, entity: Entity, record: Any) -> Scope:
        sessions = self.by_key.get(Entity.SESSIONS, {})
        index = self.index

        def projects_of(person: str) -> set[str]:
            keys = index.attendance_of_person.get(person, ())
            return {sessions[k[1]].project_id for k in keys if k[1] in sessions}

        if entity is Entity.PEOPLE:
            return Scope(frozenset(projects_of(record.id)), frozenset({record.id}))
        if entity is Entity.PROJECTS:  # its members, before and after: their flags about it
            return Scope(frozenset({record.id}), frozenset({*record.decision_group, *record.co_chairs}))
        if entity is Entity.SESSIONS:
            people = {k[0] for k in index.attendance_of_session.get(record.id, ())}
            payments = self.by_key.get(Entity.PAYMENTS, {})
            people |= {
                payments[k].person_id for k in index.payments_of_session.get(record.id, ()) if k in payments
            }
            return Scope(frozenset({record.project_id}), frozenset(people), frozenset({record.id}))
        if entity is Entity.ATTENDANCE:
            session = sessions.get(record.session_id)
            projects = {session.project_id} if session is not None else set()
            return Scope(frozenset(projects), frozenset({record.person_id}))
        return Scope(frozenset(projects_of(record.person_id)), frozenset({record.person_id}))

    def _widen(self, scope: Scope, dataset: Dataset) -> Scope:
        """A project's decision group and co-chairs are judged on its sessions (support), and a
        person's flags about the projects they lead are theirs: add those people and projects."""
        people = set(scope.people)
        projects = set(scope.projects)
        for p in dataset.projects:
            members = {*p.decision_group, *p.co_chairs}
            if p.id in scope.projects:
                people |= members
            elif members & scope.people:
                projects.add(p.id)
        for p in dataset.projects:
            if p.id in projects:
                people |= {*p.decision_group, *p.co_chairs}
        return Scope(frozenset(projects), frozenset(people), scope.sessions, scope.whole)

    def _in_order(self, entity: Entity, keys: Iterable[Hashable]) -> tuple[Any, ...]:
        seq, by_key = self.seq.get(entity, {}), self.by_key.get(entity, {})
        return tuple(by_key[k] for k in sorted(keys, key=seq.__getitem__))

    def _find_witnesses(
        self, dataset: Dataset, changed: set[Entity] | None = None
    ) -> tuple[set[str], set[str]]:
        """A person and sessions that keep a part's answer to what the checks ask of the whole
        dataset (:func:`_gates`): someone with support recorded, a session of a support kind, one
        that fed back. Without attendance, they raise nothing about the part's subjects. Looked for
        again only among the entities that ``changed`` (None: all)."""
        person, sessions = self.witnesses
        if changed is None or Entity.PEOPLE in changed:
            found = next((p.id for p in dataset.people if p.supported is not None), None)
            person = {found} if found else set()
        if changed is None or Entity.SESSIONS in changed:
            kinds = self.recipe.settings.support.support_kinds
            support = next((s.id for s in dataset.sessions if s.kind in kinds), None)
            fed_back = next(
                (
                    s.id
                    for s in dataset.sessions
                    if s.kind is SessionKind.FEEDBACK_TO_PARTICIPANTS or s.fed_back is not None
                ),
                None,
            )
            sessions = {sid for sid in (support, fed_back) if sid}
        return person, sessions

    def _part(
        self, attended: set[AttendanceKey], paid: set[str], people: set[str], sessions: set[str]
    ) -> Dataset:
        dataset = self.current
        assert dataset is not None
        person, witness_sessions = self.witnesses
        people |= person | {k[0] for k in attended}
        sessions |= witness_sessions | {k[1] for k in attended}
        payments = self._in_order(Entity.PAYMENTS, paid)
        sessions |= {p.session_id for p in payments if p.session_id is not None}
        return dataset.model_copy(
            update={
                "people": self._in_order(Entity.PEOPLE, people & self.by_key.get(Entity.PEOPLE, {}).keys()),
                "sessions": self._in_order(
                    Entity.SESSIONS, sessions & self.by_key.get(Entity.SESSIONS, {}).keys()
                ),
                "attendance": self._in_order(Entity.ATTENDANCE, attended),
                "payments": payments,
            }
        )

    def projects_part(self, scope: Scope) -> Dataset:
        """What the scope's projects and sessions are judged on: their sessions and attendance, their
        members, and one payment of each attendee who was ever paid (a project asks only whether
        they were)."""
        dataset = self.current
        assert dataset is not None
        index = self.index
        sessions = {sid for pid in scope.projects for sid in index.sessions_of_project.get(pid, ())}
        sessions |= scope.sessions
        attended: set[AttendanceKey] = set()
        for sid in sessions:
            attended |= index.attendance_of_session.get(sid, set())
        seq = self.seq.get(Entity.PAYMENTS, {})
        marks = {
            min(paid, key=seq.__getitem__)
            for pid in {k[0] for k in attended}
            if (paid := index.payments_of_person.get(pid))
        }
        members = {
            m for p in dataset.projects if p.id in scope.projects for m in (*p.decision_group, *p.co_chairs)
        }
        return self._part(attended, marks, members, sessions)

    def people_part(self, scope: Scope) -> Dataset:
        """What the scope's people are judged on: all their attendance and all their payments, and
        every session of the projects they are members of."""
        dataset = self.current
        assert dataset is not None
        index = self.index
        attended: set[AttendanceKey] = set()
        paid: set[str] = set()
        for pid in scope.people:
            attended |= index.attendance_of_person.get(pid, set())
            paid |= index.payments_of_person.get(pid, set())
        led = {p.id for p in dataset.projects if scope.people & {*p.decision_group, *p.co_chairs}}
        sessions = {sid for pid in led for sid in index.sessions_of_project.get(pid, ())}
        return self._part(attended, paid, set(scope.people), sessions)


def project_flags(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """The flags the checks raise about projects and sessions (``check_all``'s, as it runs them,
    without the checks that judge only people: the payments ledger, support; the ledger's session
    flags, unresourced and hours over a session's length, are raised here)."""
    register = payments.read_register(dataset, settings, run_date)
    with collector_paused():
        voice = VoiceAttendance.of_register(register, settings, run_date)
        flags = consultation.flags_for(consultation.assess_all(dataset, settings, run_date, voice))
        flags += representation.judge(dataset, settings, run_date, voice).flags
        flags += feedback.run(dataset, settings, run_date, voice)
        flags += recruitment.run(dataset, settings, run_date, voice)
        flags += values.run(dataset, settings, run_date)
        flags += payments.session_flags(dataset, settings, register)
    return flags


def person_flags(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """The flags the checks raise about people (payments and support, as ``check_all`` runs them)."""
    register = payments.read_register(dataset, settings, run_date)
    with collector_paused():
        voice = VoiceAttendance.of_register(register, settings, run_date)
    return [
        *payments.flags_from(dataset, settings, run_date, register),
        *support.run(dataset, settings, run_date, voice),
    ]


class CheckFlags:
    """The checks' flags, found by what they are about, so a change takes out only its scope's."""

    def __init__(self, flags: Iterable[Flag] = ()) -> None:
        self.of: dict[tuple[SubjectKind, str], list[Flag]] = defaultdict(list)
        self.sessions_of_project: dict[str, set[str]] = defaultdict(set)
        """Sessions with flags, by the project the flags name (a session moved or gone since)."""
        self.put(flags)

    def put(self, flags: Iterable[Flag]) -> None:
        for f in flags:
            subject = f.subject
            self.of[(subject.kind, subject.id)].append(f)
            if subject.kind is SubjectKind.SESSION and f.project_id:
                self.sessions_of_project[f.project_id].add(subject.id)

    def all(self) -> list[Flag]:
        return [f for flags in self.of.values() for f in flags]

    def take(self, scope: Scope, live: LiveDataset) -> list[Flag]:
        """Take out the flags about what the scope covers: its people, its projects, and the
        sessions of its projects (as they are now, and as their flags were raised) and its own."""
        if scope.whole:
            out = self.all()
            self.of.clear()
            self.sessions_of_project.clear()
            return out
        keys = {(SubjectKind.PERSON, p) for p in scope.people}
        keys |= {(SubjectKind.PROJECT, p) for p in scope.projects}
        sessions = set(scope.sessions)
        now = live.by_key.get(Entity.SESSIONS, {})
        for pid in scope.projects:
            sessions |= live.index.sessions_of_project.get(pid, set())
            flagged = self.sessions_of_project.get(pid, set())
            sessions |= {sid for sid in flagged if sid not in now}  # gone: their flags' project is theirs
        keys |= {(SubjectKind.SESSION, sid) for sid in sessions}
        return [f for key in keys for f in self.of.pop(key, [])]


def in_scope(flag: Flag, scope: Scope, project_of_session: Mapping[str, str]) -> bool:
    """Whether a check's flag is about what the scope re-checks (a data-quality flag never is: it
    comes from the mapping)."""
    subject = flag.subject
    if scope.whole:
        return subject.kind is not SubjectKind.RECORD
    if subject.kind is SubjectKind.PERSON:
        return subject.id in scope.people
    if subject.kind is SubjectKind.PROJECT:
        return subject.id in scope.projects
    if subject.kind is SubjectKind.SESSION:
        return subject.id in scope.sessions or project_of_session.get(subject.id) in scope.projects
    return False


class Rechecked(NamedTuple):
    """What a change made the checks say again."""

    fresh: list[Flag]
    """The flags the scope covers, worked out now."""
    replaced: list[Flag]
    """The flags the scope covered before: those of them not raised again are resolved."""


def scoped_check(
    live: LiveDataset, previous: CheckFlags, scope: Scope, settings: CheckSettings, run_date: date
) -> Rechecked:
    """Take the flags the scope covers out of ``previous`` (the checks' flags before the change)
    and work them out again: a project's and its sessions' on :meth:`LiveDataset.projects_part`, a
    person's on :meth:`LiveDataset.people_part`. The caller puts the fresh ones in."""
    dataset = live.current
    assert dataset is not None
    replaced = previous.take(scope, live)
    if scope.whole:
        return Rechecked(check_all(dataset, settings, run_date).flags, replaced)
    project_of = {sid: pid for pid in scope.projects for sid in live.index.sessions_of_project.get(pid, ())}
    fresh: list[Flag] = []
    if scope.projects or scope.sessions:
        about = project_flags(live.projects_part(scope), settings, run_date)
        fresh += [
            f for f in about if f.subject.kind is not SubjectKind.PERSON and in_scope(f, scope, project_of)
        ]
    if scope.people:
        about = person_flags(live.people_part(scope), settings, run_date)
        fresh += [f for f in about if f.subject.kind is SubjectKind.PERSON and f.subject.id in scope.people]
    return Rechecked(fresh, replaced)


def _gates(dataset: Dataset, settings: CheckSettings) -> tuple[Any, ...]:
    """What some checks ask of the whole dataset before judging any project: whether it records
    feedback, support, values agreed or reviewed, or any decision group. A change that flips one
    changes flags everywhere, so everything is checked again."""
    kinds = settings.support.support_kinds
    return (
        bool(feedback._records_feedback(dataset)),
        bool(support._records_support(dataset, kinds)),
        any(p.decision_group or p.co_chairs for p in dataset.projects),
        any(p.values_agreed for p in dataset.projects),
        any(p.values_reviewed for p in dataset.projects),
    )


__all__ = [
    "CheckFlags",
    "LiveDataset",
    "NeedsWholeRead",
    "Scope",
    "UnitChange",
    "in_scope",
    "Rechecked",
    "scoped_check",
    "unit_of",
]
