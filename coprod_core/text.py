"""Words for flag messages: dates, money, shares and lists as a project worker writes them."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
_ONE = Decimal(1)


@lru_cache(maxsize=4096)
def day(d: date) -> str:
    """``3 March 2026``: no leading zero, month in words, so nobody misreads 03/04.

    Remembered (the last 4,096): thousands of messages name the same few hundred dates, and
    ``strftime`` is slow."""
    return f"{d.day} {d:%B %Y}"


def money(amount: Decimal, currency: str = "GBP") -> str:
    """``£75.00``; currencies without a symbol are written ``75.00 CHF``."""
    q = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{q:,.2f}" if symbol else f"{q:,.2f} {currency.upper()}"


def percent(share: float) -> str:
    """A whole-number percentage: ``4%``; below 1% but above 0 it says ``under 1%``."""
    if 0 < share < 0.005:
        return "under 1%"
    return f"{round(share * 100):.0f}%"


def plain(d: Decimal) -> Decimal:
    """``d`` without trailing zeros or an exponent: 7.50 -> 7.5 and 10.0 -> 10 (``normalize`` gives 1E+1)."""
    n = d.normalize()
    exponent = n.as_tuple().exponent
    return n.quantize(_ONE) if isinstance(exponent, int) and exponent > 0 else n


def hours(h: Decimal) -> str:
    """``2 hours``, ``1 hour``, ``1.5 hours``."""
    n = h.normalize()
    text = format(n, "f")
    return f"{text} hour" if n == 1 else f"{text} hours"


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 session``, ``3 sessions``."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def join(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSEEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories of characters nobody can see in a cell: controls (a tab, a vertical tab, an
escape that starts a terminal's colour or clear-screen sequence), format characters (a zero-width
space, a right-to-left override that shows text backwards) and line or paragraph separators."""


def visible(text: str) -> str:
    """``text`` with each character nobody can see shown as ``\\t``, ``\\n``, ``\\r`` or
    ``<U+200B>``. "7" followed by a zero-width space looks like "7" in a cell: a flag saying
    "person ID 7 is not in the people list" while 7 is in it would send staff looking for nothing;
    "person ID 7<U+200B>" says what to fix. A terminal never receives an escape sequence, and
    nothing is shown backwards. For words only: ids, evidence and fingerprints keep the text as
    it is (a fingerprint that changed would re-open every flag staff acknowledged).

    Most text has none (checked in one C-level pass: every one of them is unprintable). A
    zero-width joiner or non-joiner between two letters of a script that uses them (Persian,
    Devanagari and other Indic scripts) or inside an emoji sequence is part of how a name is
    written, not a stray character, and is kept (:func:`_joining`)."""
    if text.isprintable():
        return text
    return "".join(
        _ESCAPES.get(c)
        or (
            f"<U+{ord(c):04X}>"
            if unicodedata.category(c) in _UNSEEN and not (c in _JOINERS and _joining(text, i))
            else c
        )
        for i, c in enumerate(text)
    )


_JOINERS = frozenset("\u200c\u200d")
"""Zero-width non-joiner and joiner: "Nima" in Persian, or a Hindi name, may need one to be spelt
right, and a family emoji is emoji joined by them."""


def _joining(text: str, i: int) -> bool:
    """Whether the joiner at ``text[i]`` stands between two characters it can join: letters, marks
    or symbols beyond ASCII (never in an id like "7", nor between Latin letters, where it only hides)."""
    if i == 0 or i == len(text) - 1:
        return False
    return all(ord(c) > 127 and unicodedata.category(c)[0] in "LMS" for c in (text[i - 1], text[i + 1]))


def without_unseen(text: str) -> str:
    """``text`` without the characters :func:`visible` shows (for comparing what people see)."""
    if text.isprintable():
        return text
    return "".join(c for c in text if unicodedata.category(c) not in _UNSEEN)


FSI = "\u2068"
"""FIRST STRONG ISOLATE: opens a piece of the charity's own words in a sentence (:func:`isolated`)."""
PDI = "\u2069"
"""POP DIRECTIONAL ISOLATE: closes it."""


def isolated(text: str) -> str:
    """``text`` as the charity typed it, its invisible characters shown (:func:`visible`), marked as
    one piece of the charity's words in a sentence of coprod's: between FIRST STRONG ISOLATE and
    POP DIRECTIONAL ISOLATE, Unicode's isolation for plain text, so that a right-to-left name
    cannot reorder the words around it. For a report's words only (each page says the marks its own
    way: :mod:`coprod.report.isolate`); never in a flag's message, an id or a fingerprint. The marks
    cannot be forged: the same characters typed in a name are shown by ``visible`` as ``<U+2068>``."""
    return f"{FSI}{visible(text)}{PDI}"


def visible_lines(text: str) -> str:
    """:func:`visible` for each line of ``text``, its line breaks kept."""
    if text.isprintable():
        return text
    return "\n".join(map(visible, text.split("\n")))
