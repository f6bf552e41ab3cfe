"""Reading an entity's fields from a row: the recipe's columns, defaults and values maps.

How each canonical field is read (its column, its parser, its values map, whether a row needs it)
is worked out once per entity (:class:`FieldRule`), and each distinct cell text is read once per
field: a 200,000-row attendance register repeats the same few thousand ids, amounts and dates,
so most cells cost one dictionary look-up. A value that is blank, not understood or not text takes
the careful path, which flags it naming the row and the column.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from operator import itemgetter
from typing import Any, NamedTuple

from coprod_core.mapping.cells import (
    Bad,
    TooManyHours,
    as_text,
    is_empty,
    key,
    loose_heading,
    parser_for,
    shown,
)
from coprod_core.mapping.problems import Problems, where
from coprod_core.recipe import CANONICAL_FIELDS, Entity, EntitySpec
from coprod_core.rows import Row, RowBlock
from coprod_core.text import plain


@dataclass
class EntityCount:
    """Rows of one entity: read from the source, used in the dataset, rejected (each with a flag)."""

    read: int = 0
    used: int = 0
    rejected: int = 0


class FieldType(NamedTuple):
    """How a canonical field is read: its kind (``recipe.CANONICAL_FIELDS``) and its enum, if any."""

    kind: str
    enum: Any


TYPES: dict[Entity, dict[str, FieldType]] = {
    entity: {name: FieldType(f.kind, f.enum) for name, f in fields.items()}
    for entity, fields in CANONICAL_FIELDS.items()
}
_REQUIRED: dict[Entity, frozenset[str]] = {
    entity: frozenset(name for name, f in fields.items() if f.required)
    for entity, fields in CANONICAL_FIELDS.items()
}

_NO_HOURS = Decimal(0)


CACHED_TEXTS = 100_000
"""Distinct cell texts remembered per field; past this (a column of unique ids) cells are read
each time, so memory stays bounded."""

FILLED_TEXTS = 1_000
"""Distinct texts of a field up to which a block reads its left-out cells as its fill through a
copy of the texts seen (:meth:`FieldReader._filled`), made again whenever a text is added; past
this (a column of many distinct texts, some blank) each of its values is replaced one by one."""

_CAREFUL: Any = object()
"""A cell text the fast path cannot take (not understood, or blank where a value is required):
read it carefully, every time, and flag it."""
_ABSENT: Any = object()
"""A blank cell of an optional field without a default: the field is left out."""
_MISSING: Any = object()
"""Not among the texts seen yet."""


@dataclass(slots=True)
class FieldRule:
    """One canonical field of an entity as the recipe maps it."""

    field: str
    column: str | None
    default: Any
    required: bool
    multi: bool
    parse: Callable[[Any], Any]
    """Single: raw -> value (raises Bad). Multi: one item -> tuple of values (raises Bad)."""
    mapped: bool
    """The recipe gives a values map for this field, so a fix can be made there."""
    plain_text: bool
    """Text kept as it is (trimmed): no parser, no values map."""
    ids: dict[str, str] | None
    """For an id or a reference to one (``id``, ``person_id``...): the ids of what it names, read
    so far in this mapping, each by itself (equal ids become one shared object); None for any other
    field, and for an id nothing refers to (a payment's)."""
    kept_unknown: str | None = None
    """For a required field whose row is kept when its value is missing or not understood: what
    became of the row, for the flag (a person's roles: kept with the role unknown)."""
    texts: dict[str | None, Any] = dataclasses.field(default_factory=dict)
    """Cell text (None: no cell) -> the value it reads as (ids shared), ``_ABSENT`` or ``_CAREFUL``."""
    careful_seen: bool = False
    """Some cell of this field has read as ``_CAREFUL``: a block's column must be searched for it."""
    absent_seen: bool = False
    """Some cell of this field has read as ``_ABSENT``."""
    filled: tuple[Any, int, dict[str | None, Any]] | None = None
    """:attr:`texts` with each text read as ``_ABSENT`` read as a block's fill instead, as
    (the fill, how many texts it was made from, the table): :meth:`FieldReader._filled`."""


NAMES = {"person_id": Entity.PEOPLE, "session_id": Entity.SESSIONS, "project_id": Entity.PROJECTS}
"""The entity each reference field names by its id."""

SHARED_IDS = frozenset(NAMES.values())
"""The entities whose ids another entity's rows refer to (nothing refers to a payment)."""


LENGTH_UNKNOWN = "length_unknown"
"""Set in a row's fields when a required number of hours (a session's) was more than one session
can take: the row is kept with 0 hours, and its record says its length is unknown."""

_TOO_MANY_MEANWHILE = {
    "hours": "meanwhile the attendance counts as the whole session, as when the cell is empty.",
    "prep_hours": "meanwhile the attendance counts without preparation.",
}
"""What becomes of a row of an optional number of hours that was more than one session can take."""
_TOO_MANY_SESSION = (
    "meanwhile the session is kept with its length unknown (who attended it and what it decided still "
    "count), and no fee is worked out for anyone at it whose attendance gives no hours of its own."
)


def field_rules(
    entity: Entity,
    spec: EntitySpec,
    kept_unknown: Mapping[str, str],
    ids: Mapping[Entity, dict[str, str]],
    most_hours: Decimal | None = None,
) -> list[FieldRule]:
    """The rules for the fields the recipe maps (by column or default), in canonical order.
    ``ids``: the ids read so far of each entity that others refer to, shared by the fields that
    hold them (see :attr:`FieldRule.ids`). ``most_hours``: the most hours one session can take."""
    rules: list[FieldRule] = []
    types = TYPES[entity]
    for name in types:
        column = spec.fields.get(name)
        default = spec.defaults.get(name)
        if column is None and default is None:
            continue
        kind = types[name][0]
        parse, value_map = _field_parser(entity, spec, name, most_hours)
        multi = kind == "multi"
        rules.append(
            FieldRule(
                field=name,
                column=column,
                default=default,
                required=name in _REQUIRED[entity],
                multi=multi,
                parse=parse,
                mapped=bool(value_map),
                plain_text=kind == "text" and not value_map,
                ids=_ids_of(entity, name, ids),
                kept_unknown=kept_unknown.get(name),
            )
        )
    return rules


def _field_parser(
    entity: Entity, spec: EntitySpec, name: str, most_hours: Decimal | None
) -> tuple[Callable[[Any], Any], dict[str, str]]:
    """How a cell of the field is read (an item of a cell, for a multi-valued field), through the
    recipe's values map for it, and that map (its keys as cells are looked up in it)."""
    kind, detail = TYPES[entity][name]
    base = parser_for(kind, detail, spec.day_first, most_hours)
    value_map = {key(k): v for k, v in spec.values.get(name, {}).items()}
    if kind == "multi":
        return _multi_item_parser(base, value_map, spec.separator), value_map
    return _mapped_parser(base, value_map), value_map


def unreadable_default(
    entity: Entity, spec: EntitySpec, name: str, most_hours: Decimal | None = None
) -> str | None:
    """What a recipe's default for the field is not, in words, when a blank cell could not read as
    it (``hours = "two"``, or more hours than ``most_hours``, the recipe's most for one session);
    None when it reads. Said once with the recipe rather than as every row whose cell is blank
    being not understood, with advice to fix the cell."""
    default = spec.defaults[name]
    parse = _field_parser(entity, spec, name, most_hours)[0]
    multi = TYPES[entity][name][0] == "multi"
    items = _items(default, spec.separator) if multi else [default]
    if not items:  # only separators: a cell so is read carefully and flagged
        return "a list of values"
    try:
        for item in items:
            parse(item)
    except TooManyHours as many:
        return (
            f"a number of hours up to {plain(many.most)}, the most one session can take "
            "([settings.data_quality] max_session_hours)"
        )
    except Bad as bad:
        return bad.expected
    return None


def _key_rule(rules: list[FieldRule]) -> FieldRule | None:
    """The rule whose cell a heading row is first known by: the first column read of ids kept as
    read (:attr:`FieldRule.ids`): a person's, project's or session's own id; the person's, for an
    attendance or a payment (a payment's own id is kept by nobody). Its new texts are known as they
    come (the table of ids grows), so a block of ids seen before costs no look at all. Else the
    first column read."""
    columns = [rule for rule in rules if rule.column is not None]
    return next((rule for rule in columns if rule.ids is not None), columns[0] if columns else None)


def _ids_of(entity: Entity, name: str, ids: Mapping[Entity, dict[str, str]]) -> dict[str, str] | None:
    named = entity if name == "id" else NAMES.get(name)
    return None if named is None else ids.get(named)


def _mapped_parser(base: Callable[[Any], Any], value_map: dict[str, str]) -> Callable[[Any], Any]:
    if not value_map:
        return base

    def parse(raw: Any) -> Any:
        text = as_text(raw)
        target = value_map.get(key(text)) if text is not None else None
        return base(target if target is not None else raw)

    return parse


def _multi_item_parser(
    base: Callable[[Any], Any], value_map: dict[str, str], separator: str
) -> Callable[[Any], tuple[Any, ...]]:
    """One item of a multi-valued cell -> its canonical values (a map may turn 'Both' into two)."""

    def parse(raw: Any) -> tuple[Any, ...]:
        text = as_text(raw)
        target = value_map.get(key(text)) if text is not None and value_map else None
        if target is None:
            return (base(raw),)
        parts = [p for p in re.split(rf"{re.escape(separator)}|,", target) if p.strip()] or [target]
        return tuple(base(p) for p in parts)

    return parse


def _items(raw: Any, separator: str) -> list[Any]:
    if isinstance(raw, (list, tuple, set, frozenset)):
        return [v for v in raw if not is_empty(v)]
    text = as_text(raw)
    if text is None:
        return []
    if separator.strip() == "":
        return text.split()
    return [p for p in (s.strip() for s in text.split(separator)) if p]


class _Step(NamedTuple):
    column: Any
    """The column, or None for a field read from its default (a row's ``get(None)`` is None)."""
    texts: dict[str | None, Any]
    field: str
    rule: FieldRule


class BlockFields(NamedTuple):
    """A :class:`RowBlock`'s fields read column by column (:meth:`FieldReader.block`)."""

    size: int
    values: dict[str, list[Any]]
    """Field -> its value on each row of the block: what :meth:`FieldReader.fields` would have read,
    the field's fill where it would have left the field out, ``_CAREFUL`` where it needs the careful
    path."""
    careful: set[int]
    """The rows with a value to read carefully (not understood, or blank where one is needed):
    only :meth:`FieldReader.fields`, which flags it, may read them."""
    fills: Mapping[str, Any]
    """Field -> what a row that leaves it out holds in its place (None for a field not in it)."""

    def column(self, name: str, absent: Any = None) -> list[Any]:
        """Each row's value of ``name``, ``absent`` where the row has none (a field the recipe does
        not map has none on any row). ``absent`` is the block's fill for the field, read in place
        as the block was read (:meth:`FieldReader.block`)."""
        values = self.values.get(name)
        if values is None:
            return [absent] * self.size
        if absent is not self.fills.get(name):
            raise ValueError(f"the block was read with another value for a row without its {name}")
        return values


class FieldReader:
    """Reads the fields of one entity's rows with precomputed rules, flagging what it cannot read."""

    def __init__(
        self,
        entity: Entity,
        spec: EntitySpec,
        problems: Problems,
        ids: Mapping[Entity, dict[str, str]],
        kept_unknown: Mapping[str, str] | None = None,
        most_hours: Decimal | None = None,
    ) -> None:
        self.entity = entity
        self.spec = spec
        self.rules = field_rules(entity, spec, kept_unknown or {}, ids, most_hours)
        self.steps = [_Step(r.column, r.texts, r.field, r) for r in self.rules]
        """What :meth:`fields` reads each rule by, unpacked in its loop."""
        self.problems = problems
        self.count = EntityCount()
        self.headings = {
            column: loose_heading(column) for column in (*spec.fields.values(), *spec.demographics.values())
        }
        """The columns the recipe reads, each as :func:`loose_heading` writes it: a row that holds them
        as its cells repeats the heading row (:meth:`skip_repeated_headings`)."""
        self.key = _key_rule(self.rules)
        """The rule a heading row is first known by (:meth:`_reads_as_heading`): the id's column (for
        attendance and payments, the person's); None when no field is read from a column."""
        self.key_heading = loose_heading(self.key.column) if self.key and self.key.column else ""
        self.key_word = max(self.key_heading.split(), key=len, default="")
        """The key column heading's longest word: a cell that reads as the heading holds it."""
        self.heading_texts: set[str] = set()
        """The key column's cell texts (trimmed) found to read as its heading so far."""

    def column(self, name: str) -> str | None:
        """The column the recipe reads ``name`` from (None when it is not mapped, or a default)."""
        return self.spec.fields.get(name)

    def fields(self, row: Row) -> dict[str, Any] | None:
        """The row's canonical fields, or None when a required one is bad or missing (flagged), or
        when the row repeats the column headings (flagged once for the row)."""
        values = row.values
        out: dict[str, Any] = {}
        ok = True
        looked = False
        for column, texts, name, rule in self.steps:
            raw = values.get(column)
            try:
                value = texts[raw]
            except (KeyError, TypeError):  # not seen yet, or not text (a list, an Excel date)
                value = self._first_look(rule, raw)
            if value is _CAREFUL:
                if not looked:  # a row to flag: first, is it a heading row pasted in?
                    if self.skip_repeated_headings(row):
                        return None
                    looked = True
                if not self._read_carefully(row, rule, raw, out):
                    ok = False
            elif value is not _ABSENT:
                out[name] = value
        return out if ok else None

    def skip_repeated_headings(self, row: Row) -> bool:
        """Whether ``row`` repeats the column headings (two exports pasted together, the second's
        heading row and all): every column the recipe reads that the row holds is its own heading
        (in any capitals and spacing), two of them at least (or the one, if only one is read). Such
        a row is flagged once, as that, rather than as a value not understood in each column, and
        is not used. Asked only of a row with something to flag: a row whose key column's cell (the
        id's: :attr:`key`) reads as its own heading is one (:meth:`_reads_as_heading`), so a heading row is caught
        when every column is plain text too, at the cost of a look when a text is first seen."""
        values = row.values
        matched = 0
        for column, heading in self.headings.items():
            raw = values.get(column)
            if raw is None or (type(raw) is str and not raw.strip()):
                continue
            if type(raw) is not str or loose_heading(raw) != heading:
                return False
            matched += 1
        if matched < min(2, len(self.headings)):
            return False
        self.problems.repeated_headings(self.entity, row)
        return True

    def block(self, block: RowBlock, fills: Mapping[str, Any] | None = None) -> BlockFields:
        """The block's fields, read column by column: each cell is looked up in the texts seen
        before, as :meth:`fields` looks it up, without making each row a dict. The rows it cannot
        read without a flag are in ``careful``, for :meth:`fields`. ``fills``: what a row that leaves
        a field out is built with (None for a field not in it), put in its place as the cells are
        looked up (:meth:`_filled`), not in a second pass over the column."""
        fills = fills or {}
        cells = block.cells
        size = len(cells)
        index = {title: i for i, title in enumerate(block.header)}
        columns = self._columns(block, index)
        values: dict[str, list[Any]] = {}
        careful: set[int] = set()
        for column, texts, name, rule in self.steps:
            fill = fills.get(name)
            filled = False  # whether the left-out cells hold the fill already
            position = index.get(column) if column is not None else None
            if position is None:  # not in the table (or a default): every row reads no cell
                value = self._look(rule, texts, None)
                got, filled = [fill if value is _ABSENT else value] * size, True
            else:
                raws = columns[position]
                found = self._plain_texts(rule, raws) if rule.plain_text else None
                if found is not None:
                    got, filled = found, True  # never left out: a blank cell is not plain text
                else:
                    table = self._filled(rule, fill) if rule.absent_seen else texts
                    try:
                        got = list(map(table.__getitem__, raws))
                    except (KeyError, TypeError):  # texts not seen yet, or not text
                        got = self._first_looks(rule, texts, raws)
                    else:
                        filled = table is not texts
            if rule.careful_seen:
                careful.update(i for i, value in enumerate(got) if value is _CAREFUL)
            if rule.absent_seen and not filled:
                got = [fill if value is _ABSENT else value for value in got]
            values[name] = got
        return BlockFields(size, values, careful, fills)

    def _filled(self, rule: FieldRule, fill: Any) -> dict[str | None, Any]:
        """The texts seen of ``rule``, each that reads as left out (``_ABSENT``) read as ``fill``:
        made once for each text added, kept while no other is (a register's hours and expenses have
        a few dozen texts, and 200,000 cells, most of them blank); ``rule.texts`` itself, whose
        left-out values are then replaced one by one, when it holds more than :data:`FILLED_TEXTS`."""
        texts = rule.texts
        made = rule.filled
        if made is not None and made[0] is fill and made[1] == len(texts):  # texts are only added
            return made[2]
        if len(texts) > FILLED_TEXTS:
            return texts
        table = {text: fill if value is _ABSENT else value for text, value in texts.items()}
        rule.filled = (fill, len(texts), table)
        return table

    def _columns(self, block: RowBlock, index: Mapping[str, int]) -> dict[int, Sequence[Any]]:
        """The cells of each column the recipe reads, by the column's position, all taken in one
        pass over the rows: ``zip`` of the rows (when most columns are read) or of each row's cells
        read (one ``itemgetter`` call a row) hands them over column by column, in C, each column a
        tuple of its exact size. Taking each cell from its row by position was a call a cell, twice
        what an iterator's step costs (a block of 5,000 rows of 4 columns: 164 against 77 ns a row);
        and no column is a list grown as it is made (copied each time it grows)."""
        cells = block.cells
        positions = sorted({index[column] for column, _, _, _ in self.steps if column in index})
        if not cells:
            return dict.fromkeys(positions, ())
        if len(positions) == 1:
            return {positions[0]: tuple(map(itemgetter(positions[0]), cells))}
        if 2 * len(positions) >= len(block.header):  # most columns read: the rows as they are
            return dict(enumerate(zip(*cells, strict=True)))
        return dict(zip(positions, zip(*map(itemgetter(*positions), cells), strict=True), strict=True))

    def _plain_texts(self, rule: FieldRule, raws: Sequence[Any]) -> list[Any] | None:
        """A column of text kept as it is (trimmed; ids shared), read at once when every cell
        (``raws``) is text and none is blank, as :meth:`_read_text` reads each (a column of distinct
        ids would only fill the texts seen); None otherwise."""
        ids = rule.ids
        if ids is not None and rule.field != "id":
            # A reference (an attendance's person): nearly every cell is an id read before, as it
            # is, which one look-up finds (an id in the table is trimmed and not blank), with
            # nothing to trim, test or add first. Any other cell (new, untrimmed, blank) sends the
            # column the long way.
            try:
                got = list(map(ids.__getitem__, raws))
            except KeyError:
                pass
            except TypeError:  # a cell that is not text (a list) cannot be an id
                return None
            else:
                if rule is self.key and self.heading_texts:
                    return self._headings_marked(rule, got, got, [])
                return got
        try:
            texts = list(map(str.strip, raws))
        except TypeError:  # a cell that is not text
            return None
        if "" in texts:
            return None
        if ids is None:
            return self._headings_marked(rule, texts, texts, texts) if rule is self.key else texts
        known = len(ids)
        shared = ids.setdefault
        got = list(map(shared, texts, texts))  # in C: two id columns of every register row
        if rule is not self.key or (len(ids) == known and not self.heading_texts):
            return got
        # Only a text not seen before can be a heading not found yet: the ids this block added, the
        # last ones in the table (the key column's own ids are read before anything refers to them).
        return self._headings_marked(rule, texts, got, list(islice(reversed(ids), len(ids) - known)))

    def _headings_marked(
        self, rule: FieldRule, texts: list[str], got: list[Any], new: list[str]
    ) -> list[Any]:
        """``got`` (the values of the key column's ``texts``), each cell that reads as the column's
        heading made ``_CAREFUL``, for :meth:`fields` to ask whether its row is a heading row. Of the
        ``new`` texts, only those holding the heading's longest word (one look at them all joined)
        are compared with the heading."""
        headings = self.heading_texts
        if new and self.key_word in "\n".join(new).casefold():
            headings.update(text for text in new if self._reads_as_heading(text))
        if not headings or headings.isdisjoint(texts):
            return got
        rule.careful_seen = True
        return [_CAREFUL if text in headings else value for text, value in zip(texts, got, strict=True)]

    def _reads_as_heading(self, text: str) -> bool:
        """Whether a cell of the key column reads as that column's own heading (in any capitals and
        spacing): its row may repeat the heading row, and is read carefully to find out."""
        return loose_heading(text) == self.key_heading

    def _first_looks(self, rule: FieldRule, texts: dict[str | None, Any], raws: Sequence[Any]) -> list[Any]:
        """Each cell's value, where some are not in ``texts`` yet: those are read (and remembered)."""
        get = texts.get
        try:
            got = [get(raw, _MISSING) for raw in raws]
        except TypeError:  # a cell that is not text (a list): read every cell on its own
            return [self._look(rule, texts, raw) for raw in raws]
        for i in [i for i, value in enumerate(got) if value is _MISSING]:
            # As :meth:`_look`, without a call per cell: a block's first look at a column misses
            # on every cell, and most of those hold a text an earlier cell of it has just read.
            raw = raws[i]
            value = get(raw, _MISSING)
            got[i] = self._first_look(rule, raw) if value is _MISSING else value
        return got

    def _look(self, rule: FieldRule, texts: dict[str | None, Any], raw: Any) -> Any:
        """What one cell reads as, as :meth:`fields` reads it."""
        try:
            return texts[raw]
        except (KeyError, TypeError):
            return self._first_look(rule, raw)

    def _first_look(self, rule: FieldRule, raw: Any) -> Any:
        """What a text (or an empty cell) reads as, remembered for the next row that holds it;
        any other value is read carefully each time."""
        if raw is None:
            value = self._read_text(rule, "")
        elif type(raw) is str:
            if rule is self.key and self._reads_as_heading(raw):
                self.heading_texts.add(raw.strip())
                value = _CAREFUL
            else:
                value = self._read_text(rule, raw)
        else:
            value = _CAREFUL
        if value is _CAREFUL:
            rule.careful_seen = True
            if raw is not None and type(raw) is not str:
                return value
        elif value is _ABSENT:
            rule.absent_seen = True
        if len(rule.texts) < CACHED_TEXTS:
            rule.texts[raw] = value
        return value

    def _read_text(self, rule: FieldRule, raw: str) -> Any:
        """What a cell's text reads as when it needs no flag: its value, the default's for a blank
        (``_ABSENT`` without one), else ``_CAREFUL``."""
        if not raw or raw.isspace():
            if rule.default is None:
                return _CAREFUL if rule.required else _ABSENT
            if type(rule.default) is not str or rule.default.isspace():
                return _CAREFUL
            return self._read_text(rule, rule.default)
        if rule.plain_text:
            text = raw.strip()
            return text if rule.ids is None else rule.ids.setdefault(text, text)
        if rule.multi:
            found: list[Any] = []
            try:
                for item in _items(raw, self.spec.separator):
                    for v in rule.parse(item):
                        if v not in found:
                            found.append(v)
            except Bad:
                return _CAREFUL
            return tuple(found) if found else _CAREFUL
        try:
            value = rule.parse(raw)
        except Bad:
            return _CAREFUL
        return rule.ids.setdefault(value, value) if rule.ids is not None and type(value) is str else value

    def _read_carefully(self, row: Row, rule: FieldRule, raw: Any, out: dict[str, Any]) -> bool:
        """Read a cell the fast path cannot take, flagging what is wrong with it; False when the
        row cannot be used without it."""
        if raw is not None and is_empty(raw):
            raw = None
        column = rule.column
        if raw is None:
            if rule.default is None:
                if rule.required:
                    self._missing(row, rule)
                    return rule.kept_unknown is not None
                return True
            raw, column = rule.default, None
        if rule.multi:
            items = self._multi(row, rule, raw, column)
            if items is None:
                return not rule.required or rule.kept_unknown is not None
            out[rule.field] = items
            return True
        try:
            value = rule.parse(raw)
        except TooManyHours as many:
            self._too_many(row, rule, column, raw, many)
            if rule.required:
                out[rule.field] = _NO_HOURS
                out[LENGTH_UNKNOWN] = True
            return True
        except Bad as bad:
            self._bad(row, rule, column, raw, bad.expected)
            return not rule.required or rule.kept_unknown is not None
        # An id from a number cell (XLSX) or a default is shared like one read as text.
        out[rule.field] = (
            rule.ids.setdefault(value, value) if rule.ids is not None and type(value) is str else value
        )
        return True

    def _multi(self, row: Row, rule: FieldRule, raw: Any, column: str | None) -> tuple[Any, ...] | None:
        """Items of a multi-valued cell; items not understood are left out and flagged in one flag."""
        values: list[Any] = []
        bad_items: list[Any] = []
        expected = ""
        items = _items(raw, self.spec.separator)
        for item in items:
            try:
                for v in rule.parse(item):
                    if v not in values:
                        values.append(v)
            except Bad as bad:
                bad_items.append(item)
                expected = bad.expected
        if bad_items:
            if values:
                consequence = f"The row was used without {'it' if len(bad_items) == 1 else 'them'}."
            elif rule.kept_unknown is not None:
                consequence = rule.kept_unknown
            elif rule.required:
                consequence = "The row was not used."
            else:
                consequence = f"The row was used without its {rule.field.replace('_', ' ')}."
            self._bad(row, rule, column, bad_items, expected, consequence, items=True)
        elif not items and rule.required:
            self._missing(row, rule)
        return tuple(values) if values else None

    def _fix(self, rule: FieldRule, raw: Any) -> str:
        table = f"[entities.{self.entity.value}.values.{rule.field}]"
        kind, detail = TYPES[self.entity][rule.field]
        if (kind in ("enum", "multi") and detail is not None) or rule.mapped:
            return f'Fix the cell, or add it to {table} in the recipe (e.g. "{raw}" = "...").'
        return "Fix the cell."

    def _bad(
        self,
        row: Row,
        rule: FieldRule,
        column: str | None,
        raw: Any,
        expected: str,
        consequence: str | None = None,
        *,
        items: bool = False,
    ) -> None:
        """Flag a value not understood. ``items``: ``raw`` is the list of bad items of one cell."""
        at = where(row, column, self.entity, rule.field)
        quoted = [shown(item) for item in raw] if items else [shown(raw)]
        found = " and ".join(f"'{s}'" for s in quoted)
        if consequence is None:
            consequence = (
                rule.kept_unknown
                or ("The row was not used." if rule.required else None)
                or f"The row was used without its {rule.field.replace('_', ' ')}."
            )
        self.problems.add(
            "bad_value",
            self.entity,
            row,
            column=column,
            field_name=rule.field,
            message=f"{at}: {found} {'are' if len(quoted) > 1 else 'is'} not understood; "
            f"expected {expected}. {consequence} {self._fix(rule, quoted[0])}",
            evidence={"found": quoted if items else quoted[0], "expected": expected},
        )

    def _too_many(self, row: Row, rule: FieldRule, column: str | None, raw: Any, many: TooManyHours) -> None:
        """Flag a number of hours more than one session can take (a typo: 30 for 3.0, minutes typed
        as hours), which is not counted towards payment."""
        at = where(row, column, self.entity, rule.field)
        found, most = shown(raw), str(plain(many.most))
        said = (
            f"'{found}' hours"
            if found == str(plain(many.found))
            else f"'{found}' ({str(plain(many.found))} hours)"
        )
        meanwhile = _TOO_MANY_SESSION if rule.required else _TOO_MANY_MEANWHILE.get(rule.field, "")
        worked_out = self.spec.options.get("hours_from") if rule.field == "hours" else None
        if isinstance(worked_out, (list, tuple)) and len(worked_out) == 2:  # CiviCRM: an event's times
            fix = (
                f"Fix the start or end ({worked_out[0]}, {worked_out[1]}) it is worked out from: is the end "
                "on the wrong day? A session over several days is best recorded one day at a time."
            )
        else:
            fix = "Fix the cell: was 3.0 typed as 30, or minutes typed as hours (write 90 min)?"
        self.problems.add(
            "too_many_hours",
            self.entity,
            row,
            column=column,
            field_name=rule.field,
            message=f"{at}: {said} is more than one session can take: more than {most} hours, the most "
            f"[settings.data_quality] max_session_hours allows. It is not counted towards "
            f"payment until it is corrected: {meanwhile} {fix}",
            evidence={"found": found, "most": most},
        )

    def _missing(self, row: Row, rule: FieldRule) -> None:
        at = where(row, rule.column, self.entity, rule.field)
        self.problems.add(
            "missing_value",
            self.entity,
            row,
            column=rule.column,
            field_name=rule.field,
            message=f"{at} is empty, but every row needs its {rule.field.replace('_', ' ')}. "
            f"{rule.kept_unknown or 'The row was not used.'} Fill in the cell, or set a default in "
            f"[entities.{self.entity.value}.defaults].",
        )
