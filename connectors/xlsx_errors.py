"""Excel's error cells (#N/A, #REF!, #DIV/0!...) of a worksheet, which python-calamine reads as empty.

A formula that failed (a VLOOKUP that found nothing) shows #N/A in Excel. Read as an empty cell it
passed as "no expenses claimed", or as a value missing where Excel shows one: the files connector
hands the error's text over instead, so the mapping says "'#N/A' is not understood" for that row
and column, as it does for any other value it cannot read.

Found in the worksheet's XML: only cells typed ``t="e"`` hold an error, and most workbooks have
none, so the part is searched for that text first (about a tenth of python-calamine's own time for
a 200,000-row sheet) and read cell by cell only where it is found.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"

_MARK = b't="e"'
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*\bt="e"[^>/]*)>(.*?)</(?:\w+:)?c>', re.S)
"""An error-typed cell and what it holds (a self-closing one, with nothing in it, is passed over)."""
_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _sheet_part(book: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding the worksheet named ``sheet``, from the workbook's relationships."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rid = next(
        (s.get(f"{_REL}id") for s in workbook.iter(f"{_MAIN}sheet") if s.get("name") == sheet),
        None,
    )
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    target = next(
        (r.get("Target") for r in rels.iter(f"{_PACKAGE_REL}Relationship") if r.get("Id") == rid), None
    )
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def _holds_an_error(book: zipfile.ZipFile, part: str) -> bool:
    """Whether the part's XML holds an error-typed cell, read in pieces (never whole in memory)."""
    tail = b""
    with book.open(part) as handle:
        while chunk := handle.read(1 << 20):
            if _MARK in tail + chunk[: len(_MARK)] or _MARK in chunk:
                return True
            tail = chunk[-len(_MARK) :]
    return False


def error_cells(path: Path, sheet: str) -> dict[tuple[int, int], str]:
    """(row, column) as the spreadsheet numbers them (from 1) -> the error Excel shows there.

    Empty when the sheet has none, or when the file cannot be read this way (a workbook calamine
    opened is read as it did: nothing is lost by not finding the errors)."""
    try:
        with zipfile.ZipFile(path) as book:
            part = _sheet_part(book, sheet)
            if part is None or not _holds_an_error(book, part):
                return {}
            xml = book.read(part)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, ElementTree.ParseError, EOFError):
        return {}
    found: dict[tuple[int, int], str] = {}
    for cell in _ERROR_CELL.finditer(xml):
        ref = _REF.search(cell[1])
        value = _VALUE.search(cell[2])
        if ref and value and value[1]:
            found[(int(ref[2]), _column_number(ref[1]))] = value[1].decode("utf-8", "replace")
    return found
