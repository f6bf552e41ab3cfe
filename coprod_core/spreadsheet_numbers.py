"""A fingerprint a spreadsheet program turned into a number, and the flag it was.

A fingerprint is 20 hexadecimal characters. About one in ten thousand is made of digits only, or
of digits with one ``e`` near the end (``…5e12``), and a spreadsheet program opening the flags
file (Excel, LibreOffice) reads such a cell as a number. Saved again, the cell says
``1.23457E+19``, or ``12345678901234500000``: the status staff set on that row was read for no
flag, and the run said nothing. In a file of 1,000 flags the chance that one of them is such a
fingerprint is about one in ten.

The number keeps only the fingerprint's first digits, so the flag is found among those a run
knows: the one whose fingerprint, read as a number, shows the same digits. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"(?P<digits>\d+)(?:\.(?P<decimals>\d+))?(?:[eE](?P<exponent>[+-]?\d+))?")
_NUMERIC_FINGERPRINT = re.compile(r"\d+(?:[eE]\d+)?")


def _shown(value: Decimal, digits: int) -> str:
    """``value`` with ``digits`` significant digits, in one form whatever wrote it."""
    return f"{value:.{max(0, digits - 1)}e}"


def _as_number(cell: str) -> tuple[Decimal, int] | None:
    """The number a cell holds and how many significant digits it kept, or None if it is no number."""
    found = _NUMBER.fullmatch(cell.strip())
    if found is None:
        return None
    significant = (found["digits"] + (found["decimals"] or "")).lstrip("0")
    if found["exponent"] is None and found["decimals"] is None:
        significant = significant.rstrip("0")  # 12345678901234500000: the zeros are the lost digits
    try:
        return Decimal(cell.strip()), max(1, len(significant))
    except InvalidOperation:
        return None


def number_made_of(cell: str, fingerprints: Iterable[str]) -> str | None:
    """The one fingerprint of ``fingerprints`` a spreadsheet could have turned into ``cell``; None
    when the cell is no such number, or it fits none or more than one of them."""
    number = _as_number(cell)
    if number is None:
        return None
    value, digits = number
    shown = _shown(value, digits)
    fits = {
        fp
        for fp in fingerprints
        if _NUMERIC_FINGERPRINT.fullmatch(fp) and fp != cell.strip() and _shown(Decimal(fp), digits) == shown
    }
    return fits.pop() if len(fits) == 1 else None


def is_number(cell: str) -> bool:
    """Whether a Fingerprint cell reads as a number (a spreadsheet's, or a fingerprint of digits)."""
    return _as_number(cell) is not None


def looks_like_a_number(cell: str) -> bool:
    """Whether a Fingerprint cell holds a number a spreadsheet wrote (``1.23457E+19``), not a
    fingerprint: one with a point or an exponent sign, or more digits than a fingerprint has."""
    text = cell.strip()
    return _as_number(text) is not None and not re.fullmatch(r"[0-9a-f]{20}", text)
