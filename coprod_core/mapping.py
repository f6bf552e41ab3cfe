"""Mapping: raw rows from any connector -> the canonical model, and bad values -> data-quality flags.

Every connector hands over rows as the source holds them (column -> text); this module is the one
place that reads dates, amounts, yes/no answers and roles, so a spreadsheet, a KoboToolbox form and
a CiviCRM export are understood the same way. It is pure (no I/O, no clock) and never raises on bad
data: a value it cannot read becomes a ``data_quality.*`` flag naming the row, the column, what was
found and what was expected, and the row is either kept without that value (optional field) or
rejected (required field, unknown reference, duplicate id). Counts of rows read, used and rejected
per entity make sure nothing is dropped silently.

Demographic answers are personal data: a flag about one names the column, never the answer.

Speed: the benchmark maps 200,000 attendance rows, so the per-row work is dictionary look-ups.
Every value parser is memoised per field (the same "2026-03-03" or "Lived experience" is read once)
and the model objects are built with ``model_construct`` after this module has checked them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from coprod_core.checks.data_quality import RULES as PROBLEMS
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.model import (
    KIND_WORDS,
    NO_PLAN_BEFORE,
    PREFER_NOT_TO_SAY,
    ROLE_WORDS,
    UNKNOWN,
    Attendance,
    Dataset,
    Payment,
    PaymentKind,
    PaymentPreference,
    Person,
    Project,
    Role,
    Rung,
    Session,
    SessionKind,
    Stage,
    category_key,
)
from coprod_core.recipe import CANONICAL_FIELDS, Entity, EntitySpec, InlineProject, Recipe
from coprod_core.rows import Row
from coprod_core.text import plain
from coprod_core.voice import say

__all__ = ["EntityCount", "Mapped", "map_dataset"]


@dataclass
class EntityCount:
    """Rows of one entity: read from the source, used in the dataset, rejected (each with a flag)."""

    read: int = 0
    used: int = 0
    rejected: int = 0


@dataclass
class Mapped:
    dataset: Dataset
    problems: list[Flag] = field(default_factory=list)
    counts: dict[Entity, EntityCount] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Reading single values. Each parser takes a non-empty raw value and returns the canonical value,
# or raises _Bad with the words for what was expected.


class _Bad(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


_key = category_key
"""Case-, space- and hyphen-insensitive key: 'Co-design  Workshop' -> 'co_design_workshop'. The same
function keys baseline categories, so a mapped answer and the baseline always meet."""


def _text(raw: Any) -> str | None:
    """A cell as stripped text; None when blank. Whole floats lose their '.0' (an id 7.0 is '7')."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        return text or None
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, (list, tuple)):
        parts = [t for t in (_text(v) for v in raw) if t]
        return ", ".join(parts) or None
    if isinstance(raw, (date, datetime)):
        return raw.isoformat()
    text = str(raw).strip()
    return text or None


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple)):
        return all(_is_empty(v) for v in raw)
    return False


_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_ISH_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?:[ T].*)?")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_DATE_EXPECTED = "a date such as 3 March 2026, 2026-03-03 or 03/03/2026"


def _year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y


def _date_parser(day_first: bool) -> Callable[[Any], date]:
    def parse(raw: Any) -> date:
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        text = _text(raw) or ""
        try:
            if len(text) == 10 and text[4] == "-":
                return date.fromisoformat(text)
            if len(text) > 10 and text[4] == "-":
                return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            raise _Bad(_DATE_EXPECTED) from None
        try:
            if m := _ISH_DATE.fullmatch(text):
                return date(int(m[1]), int(m[2]), int(m[3]))
            if m := _NUMERIC_DATE.fullmatch(text):
                a, b, y = int(m[1]), int(m[2]), _year(m[3])
                return date(y, b, a) if day_first else date(y, a, b)
            lowered = text.casefold()
            if (m := _DAY_MONTH_YEAR.fullmatch(lowered)) and m[2] in _MONTHS:
                return date(int(m[3]), _MONTHS[m[2]], int(m[1]))
            if (m := _MONTH_DAY_YEAR.fullmatch(lowered)) and m[1] in _MONTHS:
                return date(int(m[3]), _MONTHS[m[1]], int(m[2]))
        except ValueError:
            pass  # 31/02/2026 and the like
        raise _Bad(_DATE_EXPECTED)

    return parse


_NO_PLAN_SPELLINGS = frozenset(
    _key(words)
    for words in (
        NO_PLAN_BEFORE,
        "no plan before",
        "no plan before people",
        "no plan before people took part",
        "no plan before they took part",
        "no plan beforehand",
    )
)
"""How a plan-drafted cell says that no plan existed before people took part, without a values map
(a recipe can map its own words: ``"Started with people" = "no_plan_before"``)."""


def _plan_date_parser(day_first: bool) -> Callable[[Any], date | str]:
    """The day the plan was drafted, or ``NO_PLAN_BEFORE``: no plan came before the people."""
    read_date = _date_parser(day_first)

    def parse(raw: Any) -> date | str:
        if isinstance(raw, str) and _key(raw) in _NO_PLAN_SPELLINGS:
            return NO_PLAN_BEFORE
        try:
            return read_date(raw)
        except _Bad:
            raise _Bad(
                f"{_DATE_EXPECTED}, or 'no plan before' if no plan existed before people took part"
            ) from None

    return parse


_NUMBER = re.compile(r"([+-]?)\s*[£$€]?\s*([+-]?)\s*(\d[\d,]*(?:\.\d*)?|\.\d+)")


def _decimal(raw: Any, expected: str) -> Decimal:
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))
    text = _text(raw) or ""
    m = _NUMBER.fullmatch(text)
    if not m or (m[1] and m[2]):
        raise _Bad(expected)
    digits = m[3]
    if "," in digits and not re.fullmatch(r"\d{1,3}(?:,\d{3})*(?:\.\d*)?", digits):
        raise _Bad(expected)  # "1,5" is a European decimal, not 15: do not guess
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        raise _Bad(expected) from None
    return -value if "-" in (m[1], m[2]) else value


_MONEY_EXPECTED = "an amount such as 25, 25.00 or £1,250.50"


def _money(raw: Any) -> Decimal:
    """Amounts may be negative here: the payments mapping flags a negative amount on its own."""
    return _decimal(raw, _MONEY_EXPECTED)


def _non_negative_money(raw: Any) -> Decimal:
    value = _decimal(raw, _MONEY_EXPECTED + " (not below zero)")
    if value < 0:
        raise _Bad(_MONEY_EXPECTED + " (not below zero)")
    return value


_HOURS_EXPECTED = "a number of hours such as 2 or 1.5 (or minutes, such as 90 min)"
_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)\s*(?:h|hrs?|hours?)\.?)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*(?:m|mins?|minutes?)?\.?)?"
)
_CLOCK = re.compile(r"(\d+):([0-5]\d)")


def _hours(raw: Any) -> Decimal:
    """Hours as a number ("1.5"), or a duration people type: "90 min", "1h30", "1 hour 30", "1:30"."""
    try:
        value = _decimal(raw, _HOURS_EXPECTED)
    except _Bad:
        text = (_text(raw) or "").casefold()
        if m := _CLOCK.fullmatch(text):
            value = Decimal(m[1]) + Decimal(m[2]) / 60
        elif (m := _DURATION.fullmatch(text)) and (m["h"] or m["m"]):
            value = Decimal(m["h"] or 0) + Decimal(m["m"] or 0) / 60
        else:
            raise
        value = plain(value.quantize(Decimal("0.01")))
    if value < 0:
        raise _Bad(_HOURS_EXPECTED + " (not below zero)")
    return value


_TRUE = frozenset({"yes", "y", "true", "t", "1", "x", "ticked", "tick", "checked", "on", "✓", "✔", "☑"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "unticked", "unchecked", "off", "☐"})


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = (_text(raw) or "").casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad("yes or no (or a tick)")


def _enum_lookup(enum: type[StrEnum], words: Mapping[Any, str] | None = None) -> dict[str, StrEnum]:
    """Every spelling of an enum coprod accepts without a values map, keyed by :func:`_key`."""
    out: dict[str, StrEnum] = {}
    for member in enum:
        out[_key(member.value)] = member
        if words and member in words:
            out[_key(words[member])] = member
    return out


_ENUM_SPELLINGS: dict[type[StrEnum], dict[str, StrEnum]] = {
    Role: _enum_lookup(Role, ROLE_WORDS),
    Stage: _enum_lookup(Stage),
    SessionKind: _enum_lookup(SessionKind, KIND_WORDS),
    Rung: _enum_lookup(Rung),
    PaymentPreference: _enum_lookup(PaymentPreference),
    PaymentKind: _enum_lookup(PaymentKind),
}


def _enum_words(enum: type[StrEnum]) -> str:
    return ", ".join(member.value.replace("_", " ") for member in enum)


def _enum_parser(enum: type[StrEnum]) -> Callable[[Any], StrEnum]:
    spellings = _ENUM_SPELLINGS[enum]
    expected = f"one of: {_enum_words(enum)}"

    def parse(raw: Any) -> StrEnum:
        member = spellings.get(_key(_text(raw) or ""))
        if member is None:
            raise _Bad(expected)
        return member

    return parse


# --------------------------------------------------------------------------------------------
# Field rules: how each canonical field is read, precomputed once per entity.

_FieldType = tuple[str, Any]  # (kind, enum or None)

_TYPES: dict[Entity, dict[str, _FieldType]] = {
    entity: {name: (f.kind, f.enum) for name, f in fields.items()}
    for entity, fields in CANONICAL_FIELDS.items()
}
_REQUIRED: dict[Entity, frozenset[str]] = {
    entity: frozenset(name for name, f in fields.items() if f.required)
    for entity, fields in CANONICAL_FIELDS.items()
}


@dataclass(slots=True)
class _Rule:
    field: str
    column: str | None
    default: Any
    required: bool
    multi: bool
    parse: Callable[[Any], Any]
    """Single: raw -> value (raises _Bad). Multi: one item -> tuple of values (raises _Bad)."""
    mapped: bool
    """The recipe gives a values map for this field, so a fix can be made there."""
    plain_text: bool
    """Text kept as it is (trimmed): no parser, no values map."""
    is_id: bool
    """An id or a reference to one (``id``, ``person_id``...): equal ids become one shared object."""
    kept_unknown: str | None = None
    """For a required field whose row is kept when its value is missing or not understood: what
    became of the row, for the flag (a person's roles: kept with the role unknown)."""


_MISSING = object()


def _memo(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Remember each distinct text's result (or its _Bad), so repeated values cost one look-up."""
    cache: dict[str, Any] = {}

    def cached(raw: Any) -> Any:
        if type(raw) is not str:
            return parse(raw)
        hit = cache.get(raw, _MISSING)
        if hit is _MISSING:
            try:
                hit = parse(raw)
            except _Bad as bad:
                hit = bad
            if len(cache) < 100_000:
                cache[raw] = hit
        if isinstance(hit, _Bad):
            raise hit
        return hit

    return cached


def _base_parser(kind: str, detail: Any, day_first: bool) -> Callable[[Any], Any]:
    if kind == "text":
        return lambda raw: _text(raw)
    if kind in ("enum", "multi") and detail is not None:
        return _enum_parser(detail)
    if kind == "multi":
        return lambda raw: _text(raw)
    if kind == "date":
        return _date_parser(day_first)
    if kind == "plan_date":
        return _plan_date_parser(day_first)
    if kind == "hours":
        return _hours
    if kind == "money":
        return _money
    if kind == "money+":
        return _non_negative_money
    if kind == "bool":
        return _bool
    raise AssertionError(kind)


def _rules(entity: Entity, spec: EntitySpec, kept_unknown: Mapping[str, str]) -> list[_Rule]:
    rules: list[_Rule] = []
    types = _TYPES[entity]
    for name in types:
        column = spec.fields.get(name)
        default = spec.defaults.get(name)
        if column is None and default is None:
            continue
        kind, detail = types[name]
        base = _base_parser(kind, detail, spec.day_first)
        value_map = {_key(k): v for k, v in spec.values.get(name, {}).items()}
        multi = kind == "multi"
        if multi:
            parse = _multi_item_parser(base, value_map, spec.separator)
        else:
            parse = _mapped_parser(base, value_map)
        rules.append(
            _Rule(
                field=name,
                column=column,
                default=default,
                required=name in _REQUIRED[entity],
                multi=multi,
                parse=_memo(parse),
                mapped=bool(value_map),
                plain_text=kind == "text" and not value_map,
                is_id=name == "id" or name.endswith("_id"),
                kept_unknown=kept_unknown.get(name),
            )
        )
    return rules


def _mapped_parser(base: Callable[[Any], Any], value_map: dict[str, str]) -> Callable[[Any], Any]:
    if not value_map:
        return base

    def parse(raw: Any) -> Any:
        text = _text(raw)
        target = value_map.get(_key(text)) if text is not None else None
        return base(target if target is not None else raw)

    return parse


def _multi_item_parser(
    base: Callable[[Any], Any], value_map: dict[str, str], separator: str
) -> Callable[[Any], tuple[Any, ...]]:
    """One item of a multi-valued cell -> its canonical values (a map may turn 'Both' into two)."""

    def parse(raw: Any) -> tuple[Any, ...]:
        text = _text(raw)
        target = value_map.get(_key(text)) if text is not None and value_map else None
        if target is None:
            return (base(raw),)
        parts = [p for p in re.split(rf"{re.escape(separator)}|,", target) if p.strip()] or [target]
        return tuple(base(p) for p in parts)

    return parse


def _items(raw: Any, separator: str) -> list[Any]:
    if isinstance(raw, (list, tuple, set, frozenset)):
        return [v for v in raw if not _is_empty(v)]
    text = _text(raw)
    if text is None:
        return []
    if separator.strip() == "":
        return text.split()
    return [p for p in (s.strip() for s in text.split(separator)) if p]


# --------------------------------------------------------------------------------------------
# Demographic answers.

_PREFER_NOT = frozenset(
    {
        "prefer not to say",
        "prefer not to answer",
        "prefer not to disclose",
        "prefer not say",
        "rather not say",
        "id rather not say",
        "i would rather not say",
        "i prefer not to say",
        "do not wish to say",
        "dont wish to say",
        "do not want to say",
        "dont want to say",
        "declined",
        "declined to say",
        "declined to answer",
        "not disclosed",
        "withheld",
        "pnts",
    }
)
_UNKNOWN = frozenset(
    {
        "unknown",
        "not known",
        "dont know",
        "do not know",
        "i dont know",
        "not recorded",
        "not stated",
        "not asked",
        "missing",
    }
)


def _words(text: str) -> str:
    """'Don’t know!' -> 'dont know': apostrophes dropped, other punctuation and case ignored."""
    lowered = text.casefold().replace("’", "").replace("'", "")
    return " ".join(re.sub(r"[^\w]+", " ", lowered).split()).replace("_", " ")


def _category(text: str) -> str:
    """A demographic category as the baseline keys it: lowercase, spaces and hyphens -> '_'."""
    words = _words(text)
    if words in _PREFER_NOT:
        return PREFER_NOT_TO_SAY
    if words in _UNKNOWN:
        return UNKNOWN
    return _key(text)


@dataclass(slots=True)
class _Dimension:
    name: str
    column: str
    value_map: dict[str, str] | None
    targets: frozenset[str]
    cache: dict[str, tuple[str, bool]]

    def read(self, raw: Any) -> tuple[str, bool]:
        """The category and whether the answer was understood (an answer off the map is not)."""
        text = _text(raw)
        if text is None:
            return UNKNOWN, True
        hit = self.cache.get(text)
        if hit is not None:
            return hit
        category = _category(text)
        if self.value_map is None or category in (UNKNOWN, PREFER_NOT_TO_SAY):
            result = (category, True)
        elif (target := self.value_map.get(_key(text))) is not None:
            result = (_category(target), True)
        elif category in self.targets:
            result = (category, True)
        else:
            result = (UNKNOWN, False)
        if len(self.cache) < 10_000:
            self.cache[text] = result
        return result


def _dimensions(spec: EntitySpec) -> list[_Dimension]:
    out = []
    for name, column in spec.demographics.items():
        given = spec.values.get(name)
        value_map = {_key(k): v for k, v in given.items()} if given else None
        targets = frozenset(_category(v) for v in given.values()) if given else frozenset()
        out.append(_Dimension(name, column, value_map, targets, {}))
    return out


# --------------------------------------------------------------------------------------------
# Problems (data-quality flags).


class _Problems:
    """Collects data-quality flags; each names the row and column and says how to fix it."""

    def __init__(self) -> None:
        self.flags: list[Flag] = []

    def add(
        self,
        problem: str,
        entity: Entity,
        row: Row,
        *,
        column: str | None,
        field_name: str,
        message: str,
        evidence: dict[str, Any] | None = None,
        project_id: str | None = None,
    ) -> None:
        ev: dict[str, Any] = {"entity": entity.value, "row": row.ref, "field": field_name}
        if column is not None:
            ev["column"] = column
        if evidence:
            ev.update(evidence)
        self.flags.append(
            PROBLEMS[problem].flag(
                subject=Subject(kind=SubjectKind.RECORD, id=f"{entity.value}:{row.key or row.ref}"),
                message=message,
                evidence=ev,
                identity={"field": field_name, "column": column},
                project_id=project_id,
            )
        )


def _where(row: Row, column: str | None, entity: Entity, field_name: str) -> str:
    if column is None:
        return f"{row.ref}, the default for {field_name} in [entities.{entity.value}.defaults]"
    return f"{row.ref}, column '{column}'"


def _show(raw: Any) -> str:
    text = _text(raw) or ""
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------
# Building model objects without validating twice.


def _builder(cls: type[BaseModel]) -> Callable[..., Any]:
    """A constructor for values this module has already checked, for the 200,000-row case.

    ``model_construct`` walks aliases and defaults on every call (about half the mapping time for
    attendance). Given *every* field, this does what it does for a plain model (no aliases, no
    post-init, no extras) directly. It is checked against ``model_construct`` once at import and
    falls back to it if a pydantic upgrade ever makes the two differ.
    """
    names = tuple(cls.model_fields)
    fields_set = frozenset(names)
    new = cls.__new__
    set_attr = object.__setattr__

    def build(**values: Any) -> Any:
        obj = new(cls)
        set_attr(obj, "__dict__", values)
        set_attr(obj, "__pydantic_fields_set__", set(fields_set))
        set_attr(obj, "__pydantic_extra__", None)
        set_attr(obj, "__pydantic_private__", None)
        return obj

    plain = (
        not cls.__pydantic_root_model__
        and not cls.__pydantic_post_init__
        and cls.model_config.get("extra") != "allow"
        and all(f.alias is None and f.validation_alias is None for f in cls.model_fields.values())
    )
    if plain:
        sample = {name: None for name in names}
        a, b = build(**sample), cls.model_construct(**sample)
        if a == b and a.__dict__ == b.__dict__ and a.model_fields_set == b.model_fields_set:
            return build
    return cls.model_construct


_NEW_ATTENDANCE = _builder(Attendance)
_NEW_PAYMENT = _builder(Payment)
_NEW_SESSION = _builder(Session)


# --------------------------------------------------------------------------------------------
# The mapping.


class _EntityMapper:
    """Reads the fields of one entity's rows with precomputed rules, flagging what it cannot read."""

    def __init__(
        self,
        entity: Entity,
        spec: EntitySpec,
        problems: _Problems,
        ids: dict[str, str],
        kept_unknown: Mapping[str, str] | None = None,
    ) -> None:
        self.entity = entity
        self.spec = spec
        self.rules = _rules(entity, spec, kept_unknown or {})
        self.plan = [(r, r.field, r.column, r.plain_text, r.is_id, r.parse) for r in self.rules]
        self.problems = problems
        self.ids = ids
        """Every id read in this mapping, by itself: a person's id in 30 attendance rows and 10
        payments is one string, not 41, so the checks' look-ups by id find it by identity, and a
        200,000-row register holds one string per person and session, not two per row."""
        self.count = EntityCount()

    def fields(self, row: Row) -> dict[str, Any] | None:
        """The row's canonical fields, or None when a required one is bad or missing (flagged)."""
        values = row.values
        out: dict[str, Any] = {}
        ok = True
        ids = self.ids
        for rule, name, column, plain_text, is_id, parse in self.plan:
            raw = values.get(column) if column is not None else None
            if type(raw) is str:
                if plain_text:
                    # The hot path (ids): no parsing beyond trimming.
                    text = raw.strip()
                    if text:
                        out[name] = ids.setdefault(text, text) if is_id else text
                        continue
                    raw = None
                elif not raw or raw.isspace():
                    raw = None
            elif raw is not None and _is_empty(raw):
                raw = None
            if raw is None:
                if rule.default is None:
                    if rule.required:
                        self._missing(row, rule)
                        ok = ok and rule.kept_unknown is not None
                    continue
                raw, column = rule.default, None
            if rule.multi:
                value = self._multi(row, rule, raw, column)
                if value is None:
                    ok = ok and (not rule.required or rule.kept_unknown is not None)
                    continue
                out[name] = value
                continue
            try:
                value = parse(raw)
            except _Bad as bad:
                self._bad(row, rule, column, raw, bad.expected)
                if rule.required and rule.kept_unknown is None:
                    ok = False
                continue
            # An id from a number cell (XLSX) or a default is shared like one read as text.
            out[name] = ids.setdefault(value, value) if is_id and type(value) is str else value
        return out if ok else None

    def _multi(self, row: Row, rule: _Rule, raw: Any, column: str | None) -> tuple[Any, ...] | None:
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
            except _Bad as bad:
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

    def _fix(self, rule: _Rule, raw: Any) -> str:
        table = f"[entities.{self.entity.value}.values.{rule.field}]"
        kind, detail = _TYPES[self.entity][rule.field]
        if (kind in ("enum", "multi") and detail is not None) or rule.mapped:
            return f'Fix the cell, or add it to {table} in the recipe (e.g. "{raw}" = "...").'
        return "Fix the cell."

    def _bad(
        self,
        row: Row,
        rule: _Rule,
        column: str | None,
        raw: Any,
        expected: str,
        consequence: str | None = None,
        *,
        items: bool = False,
    ) -> None:
        """Flag a value not understood. ``items``: ``raw`` is the list of bad items of one cell."""
        where = _where(row, column, self.entity, rule.field)
        shown = [_show(item) for item in raw] if items else [_show(raw)]
        found = " and ".join(f"'{s}'" for s in shown)
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
            message=f"{where}: {found} {'are' if len(shown) > 1 else 'is'} not understood; "
            f"expected {expected}. {consequence} {self._fix(rule, shown[0])}",
            evidence={"found": shown if items else shown[0], "expected": expected},
        )

    def _missing(self, row: Row, rule: _Rule) -> None:
        where = _where(row, rule.column, self.entity, rule.field)
        self.problems.add(
            "missing_value",
            self.entity,
            row,
            column=rule.column,
            field_name=rule.field,
            message=f"{where} is empty, but every row needs its {rule.field.replace('_', ' ')}. "
            f"{rule.kept_unknown or 'The row was not used.'} Fill in the cell, or set a default in "
            f"[entities.{self.entity.value}.defaults].",
        )

    def reject(self) -> None:
        self.count.rejected += 1

    def use(self) -> None:
        self.count.used += 1


def _column(spec: EntitySpec, name: str) -> str | None:
    return spec.fields.get(name)


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


def _duplicate(
    problems: _Problems,
    entity: Entity,
    row: Row,
    first: str,
    what: str,
    column: str | None,
    field_name: str,
    fix: str = "Remove the duplicate, or give it its own ID.",
) -> None:
    problems.add(
        "duplicate_id",
        entity,
        row,
        column=column,
        field_name=field_name,
        message=f"{row.ref}: {what} appears twice (first on {first}). This row was not used. {fix}",
        evidence={"first": first},
    )


class _FirstRows:
    """The row each id was first used on, so a later row with the same id is flagged, not used."""

    def __init__(self, m: _EntityMapper, problems: _Problems, noun: str) -> None:
        self.m = m
        self.problems = problems
        self.noun = noun
        self.column = _column(m.spec, "id")
        self.first: dict[str, str] = {}

    def repeated(self, row: Row, rid: str) -> bool:
        """True, with the row flagged and rejected, when an earlier row used ``rid``."""
        first = self.first.get(rid)
        if first is None:
            return False
        _duplicate(self.problems, self.m.entity, row, first, f"{self.noun} ID {rid}", self.column, "id")
        self.m.reject()
        return True

    def use(self, row: Row, rid: str) -> None:
        self.first[rid] = row.ref

    def unreadable(self, row: Row, rejected_ids: set[str] | None = None) -> None:
        """Reject a row whose fields could not be read, adding its id as written to
        ``rejected_ids`` so a reference to it is explained rather than called unknown."""
        if rejected_ids is not None and self.column:
            rid = _text(row.values.get(self.column))
            if rid:
                rejected_ids.add(rid)
        self.m.reject()


def map_dataset(recipe: Recipe, rows: Mapping[Entity, Sequence[Row]]) -> Mapped:
    """Map every entity's rows onto a Dataset. Never raises on bad data: problems come back as flags."""
    with collector_paused():
        return _map_dataset(recipe, rows)


def _map_dataset(recipe: Recipe, rows: Mapping[Entity, Sequence[Row]]) -> Mapped:
    problems = _Problems()
    counts: dict[Entity, EntityCount] = {}
    ids: dict[str, str] = {}

    def mapper(entity: Entity) -> _EntityMapper | None:
        spec = recipe.entities.get(entity)
        if spec is None:
            if rows.get(entity):
                counts[entity] = EntityCount(read=len(rows[entity]), rejected=len(rows[entity]))
            return None
        kept = {"roles": _role_unknown_words(recipe)} if entity is Entity.PEOPLE else None
        m = _EntityMapper(entity, spec, problems, ids, kept)
        m.count.read = len(rows.get(entity, ()))
        counts[entity] = m.count
        return m

    people, rejected_people = _map_people(mapper(Entity.PEOPLE), rows.get(Entity.PEOPLE, ()), problems)
    person_ids = {p.id for p in people}
    near_people = _NearIds(person_ids)

    projects_mapper = mapper(Entity.PROJECTS)
    if projects_mapper is None:
        projects = [_inline_project(p) for p in recipe.projects]
        counts[Entity.PROJECTS] = EntityCount(read=len(projects), used=len(projects))
    else:
        projects = _map_projects(projects_mapper, rows.get(Entity.PROJECTS, ()), near_people, problems)

    sessions, rejected_sessions = _map_sessions(
        mapper(Entity.SESSIONS), rows.get(Entity.SESSIONS, ()), projects, problems
    )
    session_ids = {s.id for s in sessions}
    refs = _Refs(
        person_ids, rejected_people, session_ids, rejected_sessions, near_people, _NearIds(session_ids)
    )

    attendance = _map_attendance(mapper(Entity.ATTENDANCE), rows.get(Entity.ATTENDANCE, ()), refs, problems)
    payments = _map_payments(mapper(Entity.PAYMENTS), rows.get(Entity.PAYMENTS, ()), refs, problems)

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


def _loose_id(rid: str) -> str:
    """An id without its spaces and leading zeros: '007', '0 07' and '7' are all '7'."""
    squeezed = "".join(rid.split())
    return squeezed.lstrip("0") or squeezed[:1]


class _NearIds:
    """The known ids an unknown one may have been meant as: equal but for leading zeros or spaces
    (a spreadsheet turning "007" into 7). Only ever a hint in a message: the match is never made,
    since 7 and 007 may well be two people. Built on the first unknown id, as most runs have none."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self._by_loose: dict[str, list[str]] | None = None

    def near(self, found: str) -> list[str]:
        if self._by_loose is None:
            self._by_loose = {}
            for rid in sorted(self.known):
                self._by_loose.setdefault(_loose_id(rid), []).append(rid)
        return [rid for rid in self._by_loose.get(_loose_id(found), ()) if rid != found]

    def hint(self, found: str) -> str:
        """' (did you mean 007?)', or '' when no known id is that close."""
        near = self.near(found)
        return f" (did you mean {' or '.join(near)}?)" if near else ""


@dataclass(frozen=True)
class _Refs:
    person_ids: set[str]
    rejected_people: set[str]
    session_ids: set[str]
    rejected_sessions: set[str]
    near_people: _NearIds
    near_sessions: _NearIds

    def person_reason(self, pid: str) -> str:
        if pid in self.rejected_people:
            return f"person ID {pid} is on a people row that could not be used (see the flag on that row)"
        return f"person ID {pid} is not in the people list{self.near_people.hint(pid)}"

    def session_reason(self, sid: str) -> str:
        if sid in self.rejected_sessions:
            return f"session ID {sid} is on a sessions row that could not be used (see the flag on that row)"
        return f"session ID {sid} is not in the sessions list{self.near_sessions.hint(sid)}"

    def flag_unknown(
        self, m: _EntityMapper, problems: _Problems, row: Row, field_name: str, found: str, outcome: str
    ) -> None:
        """Flag ``found``, a ``person_id`` or ``session_id`` naming nobody read, saying why it is
        unknown and ``outcome``: what became of the row."""
        if field_name == "person_id":
            problem, reason, fix, near = (
                "unknown_person",
                self.person_reason(found),
                "the person to the people list",
                self.near_people,
            )
        else:
            problem, reason, fix, near = (
                "unknown_session",
                self.session_reason(found),
                "the session to the sessions list",
                self.near_sessions,
            )
        column = _column(m.spec, field_name)
        evidence: dict[str, Any] = {"found": found}
        if close := near.near(found):
            evidence["did_you_mean"] = close
        problems.add(
            problem,
            m.entity,
            row,
            column=column,
            field_name=field_name,
            message=f"{_where(row, column, m.entity, field_name)}: {reason}. {outcome} Fix the ID, or add {fix}.",
            evidence=evidence,
        )


def _map_people(
    m: _EntityMapper | None, rows: Iterable[Row], problems: _Problems
) -> tuple[list[Person], set[str]]:
    people: list[Person] = []
    rejected_ids: set[str] = set()
    if m is None:
        return people, rejected_ids
    dims = _dimensions(m.spec)
    by_id = _FirstRows(m, problems, "person")
    for row in rows:
        f = m.fields(row)
        if f is None:
            by_id.unreadable(row, rejected_ids)
            continue
        pid = f["id"]
        if by_id.repeated(row, pid):
            continue
        by_id.use(row, pid)
        demographics: dict[str, str] = {}
        for dim in dims:
            category, understood = dim.read(row.values.get(dim.column))
            demographics[dim.name] = category
            if not understood:
                problems.add(
                    "bad_value",
                    m.entity,
                    row,
                    column=dim.column,
                    field_name=dim.name,
                    message=f"{row.ref}, column '{dim.column}': the answer is not one of the answers "
                    f"listed in [entities.people.values.{dim.name}] in the recipe, so it is counted as "
                    f"unknown. Add the answer there with the category it belongs to, or fix the cell.",
                )
        people.append(
            Person.model_construct(
                id=pid,
                name=f.get("name"),
                roles=frozenset(f.get("roles", ())),
                demographics=demographics,
                payment_preference=f.get("payment_preference"),
                benefits_opt_in=f.get("benefits_opt_in", False),
                supported=f.get("supported"),
            )
        )
        m.use()
    return people, rejected_ids


def _map_projects(
    m: _EntityMapper, rows: Iterable[Row], people: _NearIds, problems: _Problems
) -> list[Project]:
    projects: list[Project] = []
    by_id = _FirstRows(m, problems, "project")
    for row in rows:
        f = m.fields(row)
        if f is None:
            by_id.unreadable(row)
            continue
        pid = f["id"]
        if by_id.repeated(row, pid):
            continue
        by_id.use(row, pid)
        group = _known_members(m, row, f, "decision_group", people, problems, pid)
        co_chairs = _known_members(m, row, f, "co_chairs", people, problems, pid)
        plan = f.get("plan_drafted")
        projects.append(
            Project.model_construct(
                id=pid,
                name=f["name"],
                label=f.get("label", Rung.CO_PRODUCTION),
                stages_reached=frozenset(f.get("stages_reached", ())),
                plan_drafted=plan if isinstance(plan, date) else None,
                no_plan_before=plan == NO_PLAN_BEFORE,
                co_chair_roles=frozenset(f.get("co_chair_roles", ())),
                co_chairs=co_chairs,
                decision_group=group,
                recruitment_opened=f.get("recruitment_opened"),
                values_agreed=f.get("values_agreed"),
                values_reviewed=f.get("values_reviewed"),
            )
        )
        m.use()
    return projects


_MEMBERS_WORDS = {
    "decision_group": ("in the decision-making group", "in its group"),
    "co_chairs": ("among the co-chairs", "as a co-chair"),
}
"""How a message names a project's list of people: where they are listed, and what the project
was used without."""


def _known_members(
    m: _EntityMapper,
    row: Row,
    f: dict[str, Any],
    field_name: str,
    people: _NearIds,
    problems: _Problems,
    project_id: str,
) -> tuple[str, ...]:
    """The person ids of a project's list (decision group, co-chairs) that are in the people list;
    the others are flagged, naming the row and column, and left out."""
    members = f.get(field_name, ())
    unknown = [member for member in members if member not in people.known]
    if unknown:
        listed, used_without = _MEMBERS_WORDS[field_name]
        column = _column(m.spec, field_name)
        ids = ", ".join(member + people.hint(member) for member in unknown)
        problems.add(
            "unknown_person",
            m.entity,
            row,
            column=column,
            field_name=field_name,
            message=f"{_where(row, column, m.entity, field_name)}: person "
            f"{'ID' if len(unknown) == 1 else 'IDs'} {ids} {listed} "
            f"{'is' if len(unknown) == 1 else 'are'} not in the people list. The project was used "
            f"without {'them' if len(unknown) > 1 else 'that person'} {used_without}. Fix the ID, or add "
            f"the person to the people list.",
            evidence={"found": unknown},
            project_id=project_id,
        )
    return tuple(member for member in members if member in people.known)


def _map_sessions(
    m: _EntityMapper | None, rows: Iterable[Row], projects: Sequence[Project], problems: _Problems
) -> tuple[list[Session], set[str]]:
    sessions: list[Session] = []
    rejected_ids: set[str] = set()
    if m is None:
        return sessions, rejected_ids
    project_ids = {p.id for p in projects}
    only_project = projects[0].id if len(projects) == 1 else None
    by_id = _FirstRows(m, problems, "session")
    project_column = _column(m.spec, "project_id")
    for row in rows:
        f = m.fields(row)
        if f is None:
            by_id.unreadable(row, rejected_ids)
            continue
        sid = f["id"]
        if by_id.repeated(row, sid):
            continue
        project_id = f.get("project_id")
        if project_id is None:
            if only_project is None:
                where = f"{row.ref}, column '{project_column}'" if project_column else row.ref
                problems.add(
                    "missing_value",
                    m.entity,
                    row,
                    column=project_column,
                    field_name="project_id",
                    message=f"{where}: the session has no project, and the recipe has "
                    f"{len(projects)} projects, so coprod cannot tell which it belongs to. The row was "
                    f"not used. Fill in the project ID"
                    + ("." if project_column else ", or map a project column in [entities.sessions.fields]."),
                )
                rejected_ids.add(sid)
                m.reject()
                continue
            project_id = only_project
        elif project_id not in project_ids:
            problems.add(
                "unknown_project",
                m.entity,
                row,
                column=project_column,
                field_name="project_id",
                message=f"{_where(row, project_column, m.entity, 'project_id')}: project ID {project_id} "
                f"is not one of the projects ({', '.join(sorted(project_ids)) or 'none'}). The row was not "
                f"used. Fix the cell, or add the project to the recipe.",
                evidence={"found": project_id},
            )
            rejected_ids.add(sid)
            m.reject()
            continue
        by_id.use(row, sid)  # only a row used claims its id: a later row may then be the one used
        sessions.append(
            _NEW_SESSION(
                id=sid,
                project_id=project_id,
                date=f["date"],
                hours=f["hours"],
                kind=f["kind"],
                stage=f.get("stage"),
                title=f.get("title"),
                decision_taken=f.get("decision_taken", False),
                decision=f.get("decision"),
                fed_back=f.get("fed_back"),
            )
        )
        m.use()
    return sessions, rejected_ids


def _map_attendance(
    m: _EntityMapper | None, rows: Iterable[Row], refs: _Refs, problems: _Problems
) -> list[Attendance]:
    out: list[Attendance] = []
    if m is None:
        return out
    person_column = _column(m.spec, "person_id")
    seen: dict[tuple[str, str], str] = {}
    zero = Decimal(0)
    construct = _NEW_ATTENDANCE
    for row in rows:
        f = m.fields(row)
        if f is None:
            m.reject()
            continue
        pid, sid = f["person_id"], f["session_id"]
        if pid not in refs.person_ids:
            refs.flag_unknown(m, problems, row, "person_id", pid, "The attendance was not used.")
            m.reject()
            continue
        if sid not in refs.session_ids:
            refs.flag_unknown(m, problems, row, "session_id", sid, "The attendance was not used.")
            m.reject()
            continue
        key = (pid, sid)
        first = seen.get(key)
        if first is not None:
            _duplicate(
                problems,
                m.entity,
                row,
                first,
                f"the attendance of person ID {pid} at session ID {sid}",
                person_column,
                "person_id+session_id",
                "Remove the duplicate row, or correct the person or session on one of them.",
            )
            m.reject()
            continue
        seen[key] = row.ref
        out.append(
            construct(
                person_id=pid,
                session_id=sid,
                hours=f.get("hours"),
                prep_hours=f.get("prep_hours", zero),
                expenses_claimed=f.get("expenses_claimed", zero),
            )
        )
        m.use()
    return out


def _map_payments(
    m: _EntityMapper | None, rows: Iterable[Row], refs: _Refs, problems: _Problems
) -> list[Payment]:
    out: list[Payment] = []
    if m is None:
        return out
    amount_column = _column(m.spec, "amount")
    by_id = _FirstRows(m, problems, "payment")
    for row in rows:
        f = m.fields(row)
        if f is None:
            m.reject()
            continue
        pid = f["person_id"]
        if pid not in refs.person_ids:
            refs.flag_unknown(m, problems, row, "person_id", pid, "The payment was not used.")
            m.reject()
            continue
        amount: Decimal = f["amount"]
        if amount < 0:
            problems.add(
                "negative_amount",
                m.entity,
                row,
                column=amount_column,
                field_name="amount",
                message=f"{_where(row, amount_column, m.entity, 'amount')}: the amount {_show(amount)} "
                f"is below zero. The payment was not used. If it is a refund or a correction, take it off "
                f"the payment it corrects; otherwise fix the cell.",
                evidence={"found": str(amount)},
            )
            m.reject()
            continue
        payment_id = f.get("id") or f"row-{row.key or row.ref}"
        if by_id.repeated(row, payment_id):
            continue
        session_id = f.get("session_id")
        if session_id is not None and session_id not in refs.session_ids:
            refs.flag_unknown(
                m, problems, row, "session_id", session_id, "The payment was used without its session."
            )
            session_id = None
        by_id.use(row, payment_id)
        out.append(
            _NEW_PAYMENT(
                id=payment_id,
                person_id=pid,
                amount=amount,
                date=f["date"],
                kind=f.get("kind", PaymentKind.FEE),
                session_id=session_id,
            )
        )
        m.use()
    return out
