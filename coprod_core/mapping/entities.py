"""Each entity's rows -> the model's records, through one loop for every entity.

A row goes through the same steps whatever it holds: its fields are read (a row whose required
fields cannot be read is rejected), it is admitted (checks that reject a row before it claims its
key: an attendance of nobody known), it claims its key (its id; a later row with the same key is
a duplicate, flagged and not used), and its record is built (which may still reject it: a session
of no known project). Every row read is counted as used or rejected, each rejection with a flag.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from itertools import count
from operator import itemgetter
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import BaseModel

from coprod_core.mapping.cells import as_text, shown
from coprod_core.mapping.demographics import dimensions
from coprod_core.mapping.fields import LENGTH_UNKNOWN, FieldReader
from coprod_core.mapping.problems import Problems, where
from coprod_core.mapping.references import REMOVED_MEMBER, NearIds, Refs
from coprod_core.model import (
    NO_PLAN_BEFORE,
    Attendance,
    Payment,
    PaymentKind,
    Person,
    Project,
    Rung,
    Session,
)
from coprod_core.recipe import Entity
from coprod_core.rows import Row, RowBlock
from coprod_core.tuples import named_tuples

T = TypeVar("T")

_ZERO = Decimal(0)


class Records(Generic[T]):
    """What one entity's rows become: how a row is admitted, keyed and built. The defaults suit
    an entity with its own ``id`` column; each entity overrides what differs."""

    noun = "record"
    """How a duplicate's message names the entity's id: ``person ID 7``."""

    keeps_rejected = False
    """Other entities refer to this one's ids: keep the ids of rows that could not be used."""

    fills: ClassVar[Mapping[str, Any]] = {}
    """Field -> what a record of a row that leaves it out is built with, where not None: a block's
    columns are read with it in place (``FieldReader.block``)."""

    def __init__(self, reader: FieldReader) -> None:
        self.reader = reader
        self.rejected: set[str] = set()
        """Ids on rows that could not be used, as written (when ``keeps_rejected``), so a
        reference to one is explained rather than called unknown."""
        self.unidentified = 0
        """Rows that could not be used and have no id (when ``keeps_rejected``): whose they are is
        unknown, so nobody may be taken as gone from the list (:mod:`coprod_core.removed`)."""

    def unreadable(self, row: Row) -> None:
        """A row whose fields could not be read: keep its id as written, if it has one."""
        if not self.keeps_rejected:
            return
        column = self.reader.column("id")
        rid = as_text(row.values.get(column)) if column else None
        if rid:
            self.rejected.add(rid)
        else:
            self.unidentified += 1

    def admit(self, row: Row, f: dict[str, Any]) -> Hashable | None:
        """The key the row claims (what two rows must not share), or None (with the row flagged)
        when it cannot be used whatever other rows hold."""
        key: Hashable = f["id"]
        return key

    def duplicate(self, row: Row, key: Any, first: str) -> None:
        """Flag ``row``, which repeats the key first used on ``first``."""
        reader = self.reader
        reader.problems.duplicate(
            reader.entity, row, first, f"{self.noun} ID {key}", reader.column("id"), "id"
        )

    def build(self, row: Row, f: dict[str, Any], key: Any) -> T | None:
        """The row's record, or None (with the row flagged) when it cannot be used after all."""
        raise NotImplementedError

    def bulk(self, block: RowBlock, first: FirstUse, out: list[T], one: Callable[[Row], bool]) -> int:
        """Map a block's rows in order; return how many were rejected. Each row goes through
        ``one``, the loop of :func:`map_rows`; an entity with many rows reads the block's columns
        at once and builds the records of the rows that need no flag itself (what ``one`` would
        have built), handing ``one`` only the others."""
        return sum(not one(row) for row in block)


class _Placed(NamedTuple):
    """Where a block's rows were placed: the place of its first row, its source and row numbers."""

    start: int
    source: str
    numbers: Sequence[int]


class FirstUse:
    """Where each key was first used, for the message on a row that repeats it: a row's ``ref``,
    or, for a row of a block, its place (made a ref only if a later row repeats the key). The
    blocks themselves are not kept (they hold the raw rows): only their names and row numbers.

    A block whose keys are all new and distinct is claimed whole (:meth:`claim_all`): its keys go
    into a set, and their places are worked out only when a later row repeats one of them
    (:meth:`_whole_places`). A set takes a key in one probe of one table where a dict of places
    takes two (its index and its entries): for the 264,000 keys of a 1x check, 0.06 s where the
    dict took 0.10 s (a fifth of the mapping's time beyond reading), and no repeat, no places."""

    def __init__(self) -> None:
        self.at: dict[Any, str | int] = {}
        """Key -> the ref of a row claimed on its own, or the place of a block's row claimed in the
        block's own row-by-row pass; the keys of blocks claimed whole are not here (:meth:`claimed`)."""
        self._whole: set[Any] = set()
        """The keys of the blocks claimed whole."""
        self._whole_keys: list[tuple[int, Sequence[Any]]] = []
        """Each block claimed whole: the place of its first row, and its keys in order."""
        self._places: dict[Any, int] | None = None
        """The place of each key of the blocks claimed whole, once something asked for one."""
        self._starts: list[int] = []
        self._blocks: list[_Placed] = []
        self._next = 0

    def start(self, block: RowBlock) -> int:
        """The place of the block's first row (the others follow it)."""
        start = self._next
        self._starts.append(start)
        self._blocks.append(_Placed(start, block.source, block.numbers))
        self._next += len(block)
        return start

    def claimed(self, key: Any) -> bool:
        """Whether a row used already claimed ``key``."""
        return key in self.at or key in self._whole

    def claim_all(self, keys: Sequence[Any], start: int) -> bool:
        """Claim every key, for the rows from place ``start`` on, if none is claimed already and
        none repeats; otherwise claim none and say so (the rows must go one by one)."""
        at, whole = self.at, self._whole
        if at and not at.keys().isdisjoint(keys):
            return False
        # One pass that adds every key (a pass fewer than testing first): every key was new and
        # none repeats exactly when the set grew by as many keys as the block has.
        before = len(whole)
        whole.update(keys)
        if len(whole) == before + len(keys):
            self._whole_keys.append((start, keys))
            if self._places is not None:
                self._places.update(zip(keys, range(start, start + len(keys)), strict=True))
            return True
        # Take back what this block added: the keys no earlier block claimed.
        earlier = self._whole_places()
        whole.difference_update(keys)
        whole.update(key for key in keys if key in earlier)
        return False

    def ref(self, key: Any) -> str | None:
        at = self.at.get(key)
        if at is None:
            if key not in self._whole:
                return None
            at = self._whole_places()[key]
        if isinstance(at, str):
            return at
        placed = self._blocks[bisect_right(self._starts, at) - 1]
        return f"{placed.source} row {placed.numbers[at - placed.start]}"

    def _whole_places(self) -> dict[Any, int]:
        """The place of each key of the blocks claimed whole: made the first time a key of theirs is
        repeated, then kept up to date by each block claimed whole after."""
        if self._places is None:
            self._places = {
                key: place for start, keys in self._whole_keys for place, key in enumerate(keys, start)
            }
        return self._places


def map_rows(records: Records[T], rows: Iterable[Row | RowBlock], first: FirstUse | None = None) -> list[T]:
    """Every row read, admitted, claimed by its key and built: the records of the rows used.

    A block of rows goes to the entity's :meth:`Records.bulk`, which builds the records of the rows
    that need no flag and hands every other row to this same loop (``one``), in order. ``first``:
    the keys rows mapped before these claimed (kept and extended), for rows mapped after others."""
    reader = records.reader
    fields, admit, build = reader.fields, records.admit, records.build
    first = FirstUse() if first is None else first
    out: list[T] = []
    read = rejected = 0

    def one(row: Row) -> bool:
        """Map one row; False when it was rejected (with a flag)."""
        f = fields(row)
        if f is None:
            records.unreadable(row)
            return False
        key = admit(row, f)
        if key is None:
            return False
        earlier = first.ref(key)
        if earlier is not None:
            records.duplicate(row, key, earlier)
            return False
        record = build(row, f, key)
        if record is None:
            return False
        first.at[key] = row.ref  # only a row used claims its key: a later row may be the one used
        out.append(record)
        return True

    try:
        for item in rows:
            if isinstance(item, RowBlock):
                read += len(item)
                rejected += records.bulk(item, first, out, one)
            else:
                read += 1
                if not one(item):
                    rejected += 1
    finally:  # counted as the rows went, even when a source fails part-way
        reader.count.read += read
        reader.count.rejected += rejected
        reader.count.used += len(out)
    return out


class PeopleRecords(Records[Person]):
    noun = "person"
    keeps_rejected = True
    fills = {"roles": (), "benefits_opt_in": False}

    def __init__(self, reader: FieldReader) -> None:
        super().__init__(reader)
        self.dimensions = dimensions(reader.spec)

    def build(self, row: Row, f: dict[str, Any], key: Any) -> Person:
        reader = self.reader
        demographics: dict[str, str] = {}
        for dim in self.dimensions:
            answer = dim.read(row.values.get(dim.column))
            demographics[dim.name] = answer.category
            if not answer.understood:
                reader.problems.add(
                    "bad_value",
                    reader.entity,
                    row,
                    column=dim.column,
                    field_name=dim.name,
                    message=f"{row.ref}, column '{dim.column}': the answer is not one of the answers "
                    f"listed in [entities.people.values.{dim.name}] in the recipe, so it is counted as "
                    f"unknown. Add the answer there with the category it belongs to, or fix the cell.",
                )
        return _person(
            key,
            f.get("name"),
            f.get("roles", ()),
            demographics,
            f.get("payment_preference"),
            f.get("benefits_opt_in", False),
            f.get("supported"),
        )

    def bulk(self, block: RowBlock, first: FirstUse, out: list[Person], one: Callable[[Row], bool]) -> int:
        """A block whose every row reads without a flag (its fields and its answers understood, its
        ids new and distinct) is built from its columns, as :meth:`build` would build each row;
        any other block goes row by row through ``one``, which flags what needs it. (People are a
        few thousand rows: the saving is making no Row and no dict of fields per person.)"""
        read = self.reader.block(block, self.fills)
        start = first.start(block)
        ids = read.column("id")
        answers = self._answers(block)
        if read.careful or answers is None or None in ids or not first.claim_all(ids, start):
            return sum(not one(row) for row in block)
        out += _people(
            ids,
            read.column("name"),
            read.column("roles", self.fills["roles"]),
            answers,
            read.column("payment_preference"),
            read.column("benefits_opt_in", self.fills["benefits_opt_in"]),
            read.column("supported"),
        )
        return 0

    def _answers(self, block: RowBlock) -> list[dict[str, str]] | None:
        """Each row's demographic categories, read column by column as :meth:`build` reads each
        row's; None when an answer is not understood (its row is flagged, on the way row by row).

        Each distinct answer is read once (a few answers, thousands of people), and each distinct
        set of answers (a few dozen) is made a dict once, which each person's row copies: a
        ``dict(zip(...))`` for every row took 3 microseconds a person, a copy a twentieth of that."""
        size = len(block.cells)
        if not self.dimensions:
            return [{} for _ in range(size)]
        index = {title: i for i, title in enumerate(block.header)}  # as a Row's dict: the last wins
        columns: list[list[str]] = []
        for dim in self.dimensions:
            at = index.get(dim.column)
            raws = [None] * size if at is None else list(map(itemgetter(at), block.cells))
            try:
                distinct = set(raws)
            except TypeError:  # a cell that is not text (a list): read each on its own
                read = list(map(dim.read, raws))
                if not all(answer.understood for answer in read):
                    return None
                columns.append([answer.category for answer in read])
                continue
            answers = {raw: dim.read(raw) for raw in distinct}
            if not all(answer.understood for answer in answers.values()):
                return None
            categories = {raw: answer.category for raw, answer in answers.items()}
            columns.append(list(map(categories.__getitem__, raws)))
        names = [dim.name for dim in self.dimensions]
        rows = list(zip(*columns, strict=True))
        made = {row: dict(zip(names, row, strict=True)) for row in set(rows)}
        return list(map(dict.copy, map(made.__getitem__, rows)))


def _person(
    key: Any,
    name: str | None,
    roles: Iterable[Any],
    demographics: dict[str, str],
    payment_preference: Any,
    benefits_opt_in: bool,
    supported: Any,
) -> Person:
    """A person as a row reads it (the mapping has checked every value), made as :func:`_people`
    makes those of a block."""
    return _people(
        [key], [name], [roles], [demographics], [payment_preference], [benefits_opt_in], [supported]
    )[0]


def _people(
    ids: Sequence[Any],
    names: Sequence[str | None],
    roles: Sequence[Iterable[Any]],
    demographics: Sequence[dict[str, str]],
    payment_preferences: Sequence[Any],
    benefits_opt_in: Sequence[bool],
    supported: Sequence[Any],
) -> list[Person]:
    """People as a block's columns read them (the mapping has checked every value), each made as
    ``Person.model_construct`` would make it with every field given (not validated, every field
    set): a copy of :data:`_NOBODY` with a dict of its fields written out (:func:`_copies`)."""
    return _copies(
        _NOBODY,
        [
            {
                "id": key,
                "name": name,
                "roles": frozenset(held),
                "demographics": answers,
                "payment_preference": preference,
                "benefits_opt_in": opted_in,
                "supported": support,
            }
            for key, name, held, answers, preference, opted_in, support in zip(
                ids, names, roles, demographics, payment_preferences, benefits_opt_in, supported, strict=True
            )
        ],
    )


M = TypeVar("M", bound=BaseModel)


def _copies(blank: M, fields: Sequence[dict[str, Any]]) -> list[M]:
    """A copy of ``blank`` (a model with every field given) for each dict of ``fields``, with those
    fields: made as ``model_construct`` makes a model with every field given, through pydantic's
    public ``model_copy``, which copies a ready dict of the fields where ``model_construct`` goes
    through the model's fields one by one in Python (2.7 against 3.9 microseconds a person). Setting
    pydantic's own slots directly, with no Python code run for each model, saved about 150 million
    instructions of a 1x check and was taken out (7 December): pydantic's private state is
    pydantic's to change (issue 19)."""
    copy = blank.model_copy
    return [copy(update=given) for given in fields]


_NOBODY = Person.model_construct(
    id="",
    name=None,
    roles=frozenset(),
    demographics={},
    payment_preference=None,
    benefits_opt_in=False,
    supported=None,
)
"""Every field of a person given (so every field is set in each copy :func:`_people` makes)."""


_MEMBERS_WORDS = {
    "decision_group": ("in the decision-making group", "in its group"),
    "co_chairs": ("among the co-chairs", "as a co-chair"),
}
"""How a message names a project's list of people: where they are listed, and what the project
was used without."""


def _ids(members: Sequence[str], hint: Callable[[str], str]) -> str:
    """``person ID 7 (did you mean 007?)`` or ``person IDs 98, 99``."""
    return f"person {'ID' if len(members) == 1 else 'IDs'} " + ", ".join(m + hint(m) for m in members)


def _no_hint(_: str) -> str:
    return ""


def unknown_members_words(
    unknown: Sequence[str], removed: Sequence[str], field_name: str, hint: Callable[[str], str]
) -> str:
    """What a flag on a project's list (decision group, co-chairs) says of the people in it who are
    not in the people list (``unknown``), after the row and column: those of them removed from the
    list (``removed``, known before: most often a deletion they asked for) are said to be, with what
    to do then, as an attendance or payment row of theirs says; the others are any unknown ID, with
    its hint and "fix the ID"."""
    listed, used_without = _MEMBERS_WORDS[field_name]
    others = [m for m in unknown if m not in removed]
    gone = [m for m in unknown if m in removed]
    who = "them" if len(unknown) > 1 else "that person"
    used = f"The project was used without {who} {used_without}."
    fix = "Fix the ID, or add the person to the people list."
    if not gone:
        verb = "is" if len(others) == 1 else "are"
        return f"{_ids(others, hint)} {listed} {verb} not in the people list. {used} {fix}"
    one = len(gone) == 1
    said = (
        f"{_ids(gone, _no_hint)} {listed} "
        + ("belongs to someone who has" if one else "belong to people who have")
        + " been removed from the people list"
    )
    advice = REMOVED_MEMBER.format(ids="their ID" if one else "their IDs")
    if not others:
        return f"{said}. {used} {advice[0].upper()}{advice[1:]}"
    verb = "is" if len(others) == 1 else "are"
    removed_ones = "the person" if one else "the people"
    other_ones = "the other ID" if len(others) == 1 else "the other IDs"
    return (
        f"{said}, and {_ids(others, hint)} {verb} not in it. {used} For {removed_ones} removed: {advice} "
        f"For {other_ones}: {fix[0].lower()}{fix[1:]}"
    )


class ProjectRecords(Records[Project]):
    noun = "project"

    def __init__(self, reader: FieldReader, people: NearIds, removed: frozenset[str] = frozenset()) -> None:
        super().__init__(reader)
        self.people = people
        self.removed = removed
        """The IDs of people removed from the people list (:meth:`Refs.removed_person`): one listed
        in a project's decision group or co-chairs is said to be, not a mistyped ID."""

    def build(self, row: Row, f: dict[str, Any], key: Any) -> Project:
        plan = f.get("plan_drafted")
        return Project.model_construct(
            id=key,
            name=f["name"],
            label=f.get("label", Rung.CO_PRODUCTION),
            stages_reached=frozenset(f.get("stages_reached", ())),
            plan_drafted=plan if isinstance(plan, date) else None,
            no_plan_before=plan == NO_PLAN_BEFORE,
            co_chair_roles=frozenset(f.get("co_chair_roles", ())),
            co_chairs=self._known_members(row, f, "co_chairs", key),
            decision_group=self._known_members(row, f, "decision_group", key),
            recruitment_opened=f.get("recruitment_opened"),
            values_agreed=f.get("values_agreed"),
            values_reviewed=f.get("values_reviewed"),
        )

    def _known_members(
        self, row: Row, f: dict[str, Any], field_name: str, project_id: str
    ) -> tuple[str, ...]:
        """The person ids of a project's list (decision group, co-chairs) that are in the people
        list; the others are flagged, naming the row and column, and left out."""
        reader = self.reader
        column = reader.column(field_name)
        at = where(row, column, reader.entity, field_name)
        members = f.get(field_name, ())
        return known_members(
            reader.problems, row, at, column, field_name, members, project_id, self.people, self.removed
        )


def known_members(
    problems: Problems,
    row: Row,
    at: str,
    column: str | None,
    field_name: str,
    members: Sequence[str],
    project_id: str,
    people: NearIds,
    removed: frozenset[str],
) -> tuple[str, ...]:
    """The person ids of a project's list (decision group, co-chairs) that are in the people list;
    the others are flagged (one flag for the list, ``at`` saying where it is) and left out, so no
    check counts someone who is not there. A project read from a table and one written in the
    recipe as ``[[projects]]`` both come here: the recipe's were counted as members whoever they
    named, someone removed from the people list at their request included."""
    unknown = [member for member in members if member not in people.known]
    if unknown:
        # Its words only: the evidence (so the facts and the fingerprint) is the same whoever
        # is removed, so a flag raised before keeps staff's answer to it.
        words = unknown_members_words(unknown, [m for m in unknown if m in removed], field_name, people.hint)
        problems.add(
            "unknown_person",
            Entity.PROJECTS,
            row,
            column=column,
            field_name=field_name,
            message=f"{at}: {words}",
            evidence={"found": unknown},
            project_id=project_id,
        )
    return tuple(member for member in members if member in people.known)


class SessionRecords(Records[Session]):
    noun = "session"
    keeps_rejected = True
    fills = {"decision_taken": False}

    def __init__(self, reader: FieldReader, projects: Sequence[Project]) -> None:
        super().__init__(reader)
        self.project_ids = {p.id for p in projects}
        self.only_project = projects[0].id if len(projects) == 1 else None
        self.project_column = reader.column("project_id")

    def build(self, row: Row, f: dict[str, Any], key: Any) -> Session | None:
        reader, column = self.reader, self.project_column
        project_id: str | None = f.get("project_id")
        if project_id is None:  # blank: the recipe's one project, if it has only one
            project_id = self.only_project
        if project_id is None:
            at = f"{row.ref}, column '{column}'" if column else row.ref
            reader.problems.add(
                "missing_value",
                reader.entity,
                row,
                column=column,
                field_name="project_id",
                message=f"{at}: the session has no project, and the recipe has "
                f"{len(self.project_ids)} projects, so coprod cannot tell which it belongs to. The row was "
                f"not used. Fill in the project ID"
                + ("." if column else ", or map a project column in [entities.sessions.fields]."),
            )
            self.rejected.add(key)
            return None
        if project_id not in self.project_ids:
            reader.problems.add(
                "unknown_project",
                reader.entity,
                row,
                column=column,
                field_name="project_id",
                message=f"{where(row, column, reader.entity, 'project_id')}: project ID {project_id} "
                f"is not one of the projects ({', '.join(sorted(self.project_ids)) or 'none'}). The row was "
                f"not used. Fix the cell, or add the project to the recipe.",
                evidence={"found": project_id},
            )
            self.rejected.add(key)
            return None
        return _session(
            key,
            project_id,
            f["date"],
            f["hours"],
            f["kind"],
            f.get("stage"),
            f.get("title"),
            f.get("decision_taken", False),
            f.get("decision"),
            f.get("fed_back"),
            LENGTH_UNKNOWN in f,
        )

    def bulk(self, block: RowBlock, first: FirstUse, out: list[Session], one: Callable[[Row], bool]) -> int:
        """A block whose every row reads without a flag (its fields read, its ids new and distinct,
        its projects known, or left blank where the recipe has one project) is built from its
        columns, as :meth:`build` would build each row; any other block goes row by row through
        ``one``, which flags what needs it. (A few thousand sessions: the saving is making no Row
        and no dict of fields per session.)"""
        read = self.reader.block(block, self.fills)
        start = first.start(block)
        ids = read.column("id")
        projects = read.column("project_id")
        if self.only_project is not None and None in projects:
            projects = [self.only_project if p is None else p for p in projects]
        if (
            read.careful
            or None in ids
            or not self.project_ids.issuperset(projects)
            or not first.claim_all(ids, start)
        ):
            return sum(not one(row) for row in block)
        out += _sessions(
            ids,
            projects,
            read.column("date"),
            read.column("hours"),
            read.column("kind"),
            read.column("stage"),
            read.column("title"),
            read.column("decision_taken", self.fills["decision_taken"]),
            read.column("decision"),
            read.column("fed_back"),
            [False] * read.size,
        )
        return 0


def _session(
    key: Any,
    project_id: str,
    day: date,
    hours: Decimal,
    kind: Any,
    stage: Any,
    title: str | None,
    decision_taken: bool,
    decision: str | None,
    fed_back: date | None,
    length_unknown: bool = False,
) -> Session:
    """A session as a row reads it (the mapping has checked every value), made as :func:`_sessions`
    makes those of a block."""
    columns = ([key], [project_id], [day], [hours], [kind], [stage], [title], [decision_taken], [decision])
    return _sessions(*columns, [fed_back], [length_unknown])[0]


def _sessions(
    ids: Sequence[Any],
    projects: Sequence[str],
    days: Sequence[date],
    hours: Sequence[Decimal],
    kinds: Sequence[Any],
    stages: Sequence[Any],
    titles: Sequence[str | None],
    decisions_taken: Sequence[bool],
    decisions: Sequence[str | None],
    fed_back: Sequence[date | None],
    lengths_unknown: Sequence[bool],
) -> list[Session]:
    """Sessions as a block's columns read them (the mapping has checked every value), each made as
    ``Session.model_construct`` would make it with every field given, as :func:`_people` makes
    people (a copy of :data:`_NO_SESSION`): 30,000 instructions a session where ``model_construct``
    took 43,500 (valgrind, 10,000 sessions)."""
    return _copies(
        _NO_SESSION,
        [
            {
                "id": key,
                "project_id": project_id,
                "date": day,
                "hours": length,
                "kind": kind,
                "stage": stage,
                "title": title,
                "decision_taken": decision_taken,
                "decision": decision,
                "fed_back": told,
                "length_unknown": unknown,
            }
            for key, project_id, day, length, kind, stage, title, decision_taken, decision, told, unknown in zip(
                ids,
                projects,
                days,
                hours,
                kinds,
                stages,
                titles,
                decisions_taken,
                decisions,
                fed_back,
                lengths_unknown,
                strict=True,
            )
        ],
    )


_NO_SESSION = Session.model_construct(
    id="",
    project_id="",
    date=date.min,
    hours=_ZERO,
    kind=None,
    stage=None,
    title=None,
    decision_taken=False,
    decision=None,
    fed_back=None,
    length_unknown=False,
)
"""Every field of a session given (so every field is set in each copy :func:`_sessions` makes)."""


class AttendanceRecords(Records[Attendance]):
    """An attendance is one person at one session: the pair is its key."""

    fills = {"prep_hours": _ZERO, "expenses_claimed": _ZERO}

    def __init__(self, reader: FieldReader, refs: Refs) -> None:
        super().__init__(reader)
        self.refs = refs

    def admit(self, row: Row, f: dict[str, Any]) -> Hashable | None:
        refs = self.refs
        person_id, session_id = f["person_id"], f["session_id"]
        unknown = person_id not in refs.person_ids or session_id not in refs.session_ids
        if unknown and self.reader.skip_repeated_headings(row):
            return None
        if person_id not in refs.person_ids:
            refs.flag_unknown(self.reader, row, "person_id", person_id, "The attendance was not used.")
            return None
        if session_id not in refs.session_ids:
            refs.flag_unknown(self.reader, row, "session_id", session_id, "The attendance was not used.")
            return None
        return (person_id, session_id)

    def duplicate(self, row: Row, key: Any, first: str) -> None:
        person_id, session_id = key
        self.reader.problems.duplicate(
            self.reader.entity,
            row,
            first,
            f"the attendance of person ID {person_id} at session ID {session_id}",
            self.reader.column("person_id"),
            "person_id+session_id",
            "Remove the duplicate row, or correct the person or session on one of them.",
        )

    def bulk(
        self, block: RowBlock, first: FirstUse, out: list[Attendance], one: Callable[[Row], bool]
    ) -> int:
        read = self.reader.block(block, self.fills)
        careful = read.careful
        known_people, known_sessions = self.refs.person_ids, self.refs.session_ids
        start = first.start(block)
        people, sessions = read.column("person_id"), read.column("session_id")
        columns = (
            people,
            sessions,
            read.column("hours"),
            read.column("prep_hours", _ZERO),
            read.column("expenses_claimed", _ZERO),
        )
        if (
            not careful
            and known_people.issuperset(people)
            and known_sessions.issuperset(sessions)
            and first.claim_all(list(zip(people, sessions, strict=True)), start)
        ):  # every row known, and none repeats another: all used
            out.extend(named_tuples(Attendance, columns))
            return 0
        at, claimed = first.at, first.claimed
        append = out.append
        rejected = 0
        for i, person_id, session_id, hours, prep, spent in zip(count(), *columns, strict=False):
            key = (person_id, session_id)
            if (
                not (careful and i in careful)
                and person_id in known_people
                and session_id in known_sessions
                and not claimed(key)
            ):
                at[key] = start + i
                append(Attendance(person_id, session_id, hours, prep, spent))
            elif not one(block.row(i)):
                rejected += 1
        return rejected

    def build(self, row: Row, f: dict[str, Any], key: Any) -> Attendance:
        return Attendance(
            f["person_id"],
            f["session_id"],
            f.get("hours"),
            f.get("prep_hours", _ZERO),
            f.get("expenses_claimed", _ZERO),
        )


class PaymentRecords(Records[Payment]):
    """A payment without an id of its own is keyed by its row."""

    noun = "payment"
    fills = {"kind": PaymentKind.FEE}

    def __init__(self, reader: FieldReader, refs: Refs) -> None:
        super().__init__(reader)
        self.refs = refs
        self.amount_column = reader.column("amount")

    def admit(self, row: Row, f: dict[str, Any]) -> Hashable | None:
        reader = self.reader
        if f["person_id"] not in self.refs.person_ids:
            if reader.skip_repeated_headings(row):
                return None
            self.refs.flag_unknown(reader, row, "person_id", f["person_id"], "The payment was not used.")
            return None
        amount: Decimal = f["amount"]
        if amount < 0:
            column = self.amount_column
            reader.problems.add(
                "negative_amount",
                reader.entity,
                row,
                column=column,
                field_name="amount",
                message=f"{where(row, column, reader.entity, 'amount')}: the amount {shown(amount)} "
                f"is below zero. The payment was not used. If it is a refund or a correction, take it off "
                f"the payment it corrects; otherwise fix the cell.",
                evidence={"found": str(amount)},
            )
            return None
        key: Hashable = f.get("id") or f"row-{row.key or row.ref}"
        return key

    def bulk(self, block: RowBlock, first: FirstUse, out: list[Payment], one: Callable[[Row], bool]) -> int:
        read = self.reader.block(block, self.fills)
        careful = read.careful
        known_people, known_sessions = self.refs.person_ids, self.refs.session_ids
        start = first.start(block)
        ids, people, amounts = read.column("id"), read.column("person_id"), read.column("amount")
        sessions = read.column("session_id")
        columns = (ids, people, amounts, read.column("date"), read.column("kind", PaymentKind.FEE), sessions)
        if (
            not careful
            and None not in ids
            and known_people.issuperset(people)
            and known_sessions.issuperset(filter(None, sessions))
            and (not amounts or min(amounts) >= _ZERO)
            and first.claim_all(ids, start)
        ):  # every row with its own id, known, not below zero, and none repeats another: all used
            out.extend(named_tuples(Payment, columns))
            return 0
        at, claimed = first.at, first.claimed
        append = out.append
        rejected = 0
        for i, payment_id, person_id, amount, day, kind, session_id in zip(count(), *columns, strict=False):
            if careful and i in careful:
                if not one(block.row(i)):
                    rejected += 1
                continue
            key = payment_id or f"row-{block.key(i)}"
            if (
                person_id in known_people
                and amount >= _ZERO
                and (session_id is None or session_id in known_sessions)
                and not claimed(key)
            ):
                at[key] = start + i
                append(Payment(key, person_id, amount, day, kind, session_id))
            elif not one(block.row(i)):
                rejected += 1
        return rejected

    def build(self, row: Row, f: dict[str, Any], key: Any) -> Payment:
        session_id = f.get("session_id")
        if session_id is not None and session_id not in self.refs.session_ids:
            self.refs.flag_unknown(
                self.reader, row, "session_id", session_id, "The payment was used without its session."
            )
            session_id = None
        return Payment(
            key, f["person_id"], f["amount"], f["date"], f.get("kind", PaymentKind.FEE), session_id
        )
