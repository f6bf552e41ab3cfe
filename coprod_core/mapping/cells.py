"""Reading one cell: dates, amounts, hours, yes/no answers and words from a fixed list.

Every connector hands over cells as the source holds them (text, mostly); these parsers are the
one place that reads them, so a spreadsheet, a KoboToolbox form and a CiviCRM export are
understood the same way. Each takes a non-empty raw value and returns the canonical value, or
raises :class:`Bad` with the words for what was expected (which the data-quality flag quotes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from coprod_core.model import (
    KIND_WORDS,
    NO_PLAN_BEFORE,
    ROLE_WORDS,
    PaymentKind,
    PaymentPreference,
    Role,
    Rung,
    SessionKind,
    Stage,
    category_key,
)
from coprod_core.text import plain


class Bad(Exception):
    """A value not understood: ``expected`` says what was expected, in words."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class TooManyHours(Bad):
    """Hours read, but more than one session can take (``most``): a typo, not a value to use."""

    def __init__(self, found: Decimal, most: Decimal) -> None:
        super().__init__(f"at most {plain(most)} hours for one session")
        self.found = found
        self.most = most


key = category_key
"""Case-, space- and hyphen-insensitive key: 'Co-design  Workshop' -> 'co_design_workshop'. The same
function keys baseline categories, so a mapped answer and the baseline always meet."""


def loose_heading(text: str) -> str:
    """A heading in any capitals, its spaces of any kind and number as one (a non-breaking space
    pasted from a web page or a doubled space look the same as a space in a spreadsheet)."""
    return " ".join(text.casefold().split())


def as_text(raw: Any) -> str | None:
    """A cell as stripped text; None when blank. Whole floats lose their '.0' (an id 7.0 is '7')."""
    if raw is None:
        return None
    if isinstance(raw, str):
        stripped = raw.strip()
        return stripped or None
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, (list, tuple)):
        parts = [t for t in (as_text(v) for v in raw) if t]
        return ", ".join(parts) or None
    if isinstance(raw, (date, datetime)):
        return raw.isoformat()
    shown = str(raw).strip()
    return shown or None


def is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple)):
        return all(is_empty(v) for v in raw)
    return False


def shown(raw: Any) -> str:
    """A value as a message quotes it: its text, cut to 60 characters."""
    words = as_text(raw) or ""
    return words if len(words) <= 60 else words[:57] + "..."


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
        text = as_text(raw) or ""
        try:
            if len(text) == 10 and text[4] == "-":
                return date.fromisoformat(text)
            if len(text) > 10 and text[4] == "-":
                return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            raise Bad(_DATE_EXPECTED) from None
        try:
            if m := _ISH_DATE.fullmatch(text):
                return date(int(m[1]), int(m[2]), int(m[3]))
            if m := _NUMERIC_DATE.fullmatch(text):
                a, b, y = int(m[1]), int(m[2]), _year(m[3])
                if day_first and b > 12 >= a:
                    raise Bad(_MONTH_FIRST_HINT.format(b))
                return date(y, b, a) if day_first else date(y, a, b)
            lowered = text.casefold()
            if (m := _DAY_MONTH_YEAR.fullmatch(lowered)) and m[2] in _MONTHS:
                return date(int(m[3]), _MONTHS[m[2]], int(m[1]))
            if (m := _MONTH_DAY_YEAR.fullmatch(lowered)) and m[1] in _MONTHS:
                return date(int(m[3]), _MONTHS[m[1]], int(m[2]))
        except ValueError:
            pass  # 31/02/2026 and the like
        if m := _EXCEL_SERIAL.fullmatch(text):
            return _EXCEL_EPOCH + timedelta(days=int(m[1]))
        raise Bad(_DATE_EXPECTED)

    return parse


_EXCEL_SERIAL = re.compile(r"([2-7]\d{4})(?:\.\d+)?")
"""A date as Excel counts days (46126 is 14 April 2026), shown when a date column is formatted as a
number or exported unformatted: five digits, 1954 to 2119, which no other date people type is."""
_EXCEL_EPOCH = date(1899, 12, 30)
"""Day 0 of Excel's count, for every day after its phantom 29 February 1900."""
_MONTH_FIRST_HINT = (
    _DATE_EXPECTED + ", day first: there is no month {}. If this file writes the month first "
    "(US dates, 12/31/2026), set day_first = false in the entity's section of the recipe"
)


_NO_PLAN_SPELLINGS = frozenset(
    key(words)
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
        if isinstance(raw, str) and key(raw) in _NO_PLAN_SPELLINGS:
            return NO_PLAN_BEFORE
        try:
            return read_date(raw)
        except Bad:
            raise Bad(
                f"{_DATE_EXPECTED}, or 'no plan before' if no plan existed before people took part"
            ) from None

    return parse


_NUMBER = re.compile(r"([+-]?)\s*[£$€]?\s*([+-]?)\s*(\d[\d,]*(?:\.\d*)?|\.\d+)")


_DECIMAL_COMMA = re.compile(r"\D*\d[\d.]*,\d{1,2}\D*")
"""A number written with a decimal comma (1,5, £6,40, 1.234,56), as Excel writes one where it saves
CSV with semicolons: never read as 15 or 640, and said so, since its cell looks right in Excel."""
DECIMAL_COMMA_HINT = ", with a full stop before the decimals (a decimal comma, as in 1,5, is not read)"


def _decimal(raw: Any, expected: str) -> Decimal:
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))
    text = as_text(raw) or ""
    if _DECIMAL_COMMA.fullmatch(text):
        raise Bad(expected + DECIMAL_COMMA_HINT)  # "1,5" is a European decimal, not 15: do not guess
    m = _NUMBER.fullmatch(text)
    if not m or (m[1] and m[2]):
        raise Bad(expected)
    digits = m[3]
    if "," in digits and not re.fullmatch(r"\d{1,3}(?:,\d{3})*(?:\.\d*)?", digits):
        raise Bad(expected)
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        raise Bad(expected) from None
    return -value if "-" in (m[1], m[2]) else value


_MONEY_EXPECTED = "an amount such as 25, 25.00 or £1,250.50"


def _money(raw: Any) -> Decimal:
    """Amounts may be negative here: the payments mapping flags a negative amount on its own."""
    return _decimal(raw, _MONEY_EXPECTED)


def _non_negative_money(raw: Any) -> Decimal:
    value = _decimal(raw, _MONEY_EXPECTED + " (not below zero)")
    if value < 0:
        raise Bad(_MONEY_EXPECTED + " (not below zero)")
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
    except Bad:
        text = (as_text(raw) or "").casefold()
        if m := _CLOCK.fullmatch(text):
            value = Decimal(m[1]) + Decimal(m[2]) / 60
        elif (m := _DURATION.fullmatch(text)) and (m["h"] or m["m"]):
            value = Decimal(m["h"] or 0) + Decimal(m["m"] or 0) / 60
        else:
            raise
        value = plain(value.quantize(Decimal("0.01")))
    if value < 0:
        raise Bad(_HOURS_EXPECTED + " (not below zero)")
    return value


def _hours_up_to(most: Decimal) -> Callable[[Any], Decimal]:
    """:func:`_hours`, refusing more than ``most`` (:class:`TooManyHours`). The mapping reads each
    distinct cell text once, so this is one comparison per distinct text, not per row."""

    def parse(raw: Any) -> Decimal:
        value = _hours(raw)
        if value > most:
            raise TooManyHours(value, most)
        return value

    return parse


_TRUE = frozenset({"yes", "y", "true", "t", "1", "x", "ticked", "tick", "checked", "on", "✓", "✔", "☑"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "unticked", "unchecked", "off", "☐"})


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = (as_text(raw) or "").casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Bad("yes or no (or a tick)")


def _enum_lookup(enum: type[StrEnum], words: Mapping[Any, str] | None = None) -> dict[str, StrEnum]:
    """Every spelling of an enum coprod accepts without a values map, keyed by :func:`key`."""
    out: dict[str, StrEnum] = {}
    for member in enum:
        out[key(member.value)] = member
        if words and member in words:
            out[key(words[member])] = member
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
        member = spellings.get(key(as_text(raw) or ""))
        if member is None:
            raise Bad(expected)
        return member

    return parse


def parser_for(
    kind: str, detail: Any, day_first: bool, most_hours: Decimal | None = None
) -> Callable[[Any], Any]:
    """The parser for a canonical field's kind (``recipe.CANONICAL_FIELDS``); ``detail`` is its enum;
    ``most_hours``: the most hours one session can take (none: any number of hours)."""
    if kind == "text":
        return as_text
    if kind in ("enum", "multi") and detail is not None:
        return _enum_parser(detail)
    if kind == "multi":
        return as_text
    if kind == "date":
        return _date_parser(day_first)
    if kind == "plan_date":
        return _plan_date_parser(day_first)
    if kind == "hours":
        return _hours if most_hours is None else _hours_up_to(most_hours)
    if kind == "money":
        return _money
    if kind == "money+":
        return _non_negative_money
    if kind == "bool":
        return _bool
    raise AssertionError(kind)
