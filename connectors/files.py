"""Files connector: CSV and Excel (.xlsx) exports in a folder, with flags written to a CSV beside them.

For a project that keeps its records in spreadsheets on a shared drive, or exports them from a
system coprod does not talk to. Rows are handed over as the file shows them ("007" stays "007"),
and the mapping does the rest. Flags go to ``coprod-flags.csv`` in the same folder: one row per
flag, upserted by fingerprint, so staff can mark a flag "acknowledged" or "won't fix" in a
spreadsheet, sort it, and add their own notes and columns, and the next run keeps all of that.

Text that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return at the start) is
written with a leading apostrophe, and the file is replaced atomically so a reader never sees half
of it. The temporary file it is written to first is private (0600) and locked while written, so a
later run can tell one left by a killed run (names and all) and removes it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import io
import logging
import os
import stat
import tempfile
import time as clock
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field, ValidationInfo, field_validator

from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorEntityOptions,
    ConnectorOptions,
    DataPath,
    Page,
    SourceContext,
    SourceUnavailable,
    SourceUnreadable,
    WriteReport,
    names_a_mapped_column,
)
from coprod.locking import RENAMES_OPEN_FILES, try_flock
from coprod_core.lifecycle import STATUS_WORDS, ChangeKind, FlagChange, FlagStatus, StaffStatuses
from coprod_core.mapping.cells import loose_heading
from coprod_core.recipe import Entity, EntitySpec
from coprod_core.removed import REMOVED_ABOUT, keeps_about, removed_message
from coprod_core.rows import RowBlock
from coprod_core.spreadsheet_numbers import is_number, number_made_of

READABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("about", "About"),
    ("title", "Title"),
    ("message", "Message"),
    ("status", "Status"),
    ("severity", "Severity"),
    ("first_seen", "First seen"),
    ("last_seen", "Last seen"),
)
"""(key, heading) of the columns a project worker reads, first in the flags file: who or what it
is about ("Sam Carter (ID 17)"), the flag in words, and what staff set."""

MACHINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fingerprint", "Fingerprint"),
    ("check", "Check"),
    ("evidence", "Evidence"),
)
"""Last in the file, after any columns staff added: the flag's identity, the rule that raised it,
and its evidence as JSON, for anyone who wants to recompute it."""

FLAG_COLUMNS = READABLE_COLUMNS + MACHINE_COLUMNS
"""Columns coprod owns in the flags file. Staff may add others; they are kept."""

FLAG_HEADINGS: tuple[str, ...] = tuple(heading for _, heading in FLAG_COLUMNS)

_HEADING = dict(FLAG_COLUMNS)
_OLD_SUBJECT = "subject"
"""The first layout's "person 17" column (before About): read into About, then dropped."""


def _heading_key(text: str) -> str:
    return " ".join(text.strip().casefold().replace("_", " ").split())


_KEY_OF_HEADING = {_heading_key(h): k for k, h in FLAG_COLUMNS}
"""A heading as staff may have re-typed it (any case, "first_seen" or "First seen") -> its key."""

log = logging.getLogger("coprod.connectors.files")

TEMP_GRACE_SECONDS = 60.0
"""An empty temporary file younger than this may be one a live run has just created and not yet
locked: it is left for a later run (it holds nothing yet)."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "vertical bars (|)", ",": "commas (,)"}
"""Delimiters a CSV export may use instead, and their name in an error message."""


def neutralise(value: str) -> str:
    """Text a spreadsheet will show, never run: a leading formula character gets an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell_text(value: Any) -> Any:
    """An Excel cell as the mapping wants it: dates as dates, whole numbers without '.0', text as is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date() if value.time() == time(0) else value
    if isinstance(value, (date, str)):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _chunks(rows: Iterator[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    """The first row alone (the header), then the others in lists of ``size``."""
    yield list(islice(rows, 1))
    while chunk := list(islice(rows, size)):
        yield chunk


def _no_space(text: str) -> bool:
    """Whether ``text`` holds no whitespace at all: its first word is the whole of it."""
    if not text:
        return True
    words = text.split(None, 1)
    return len(words) == 1 and len(words[0]) == len(text)


def _plain(chunk: list[list[str]], width: int) -> bool:
    """Every row of a CSV chunk as wide as the header and none blank: nothing to fit or skip.
    A row whose first cell holds something is not blank (most rows: ids come first).

    Each step is one pass in C over the chunk, the cheapest found: the widths counted
    (``list.count`` compares the same small int by identity, where ``width.__eq__`` was a call a
    row), the first cells joined and searched for whitespace once (an id has none), each looked
    at alone only when some has. 107 million instructions fewer for the 264,000 rows of a 1x check."""
    if not width or list(map(len, chunk)).count(width) != len(chunk):
        return False
    firsts = list(map(itemgetter(0), chunk))
    if "" not in firsts and (_no_space("".join(firsts)) or not any(map(str.isspace, firsts))):
        return True
    joined = list(map("".join, chunk))
    return "" not in joined and not any(map(str.isspace, joined))


def _fit(name: str, number: int, cells: list[Any], width: int) -> list[Any] | None:
    """A row of another width than the header's, made that width: None when it is blank, short
    rows padded with blanks; a value beyond the last header is refused (it has no column)."""
    if all(_blank(c) for c in cells):
        return None
    if len(cells) > width:
        stray = next((i for i, c in enumerate(cells[width:]) if not _blank(c)), None)
        if stray is not None:
            raise SourceUnreadable(
                f"{name} row {number} has a value in column {width + 1 + stray}, which has no header: "
                f"give that column a name in row 1, or delete the stray value"
            )
        return cells[:width]
    return [*cells, *([""] * (width - len(cells)))]


def _shown_heading(text: str) -> str:
    """A heading quoted so that a space that is not a plain one, or two of them, can be seen."""
    odd = "  " in text or any(c.isspace() and c != " " for c in text)
    return ascii(text) if odd else f"'{text}'"


def _mapped_columns(spec: EntitySpec) -> list[str]:
    """The columns an entity's recipe section names, fields then demographics."""
    return [*spec.fields.values(), *spec.demographics.values()]


def _not_a_workbook(path: Path) -> str:
    """Why a .xlsx file would not open, from its first bytes: an .xlsx is a zip file; an old .xls or
    a workbook saved with a password is an OLE2 file; a CSV saved under an .xlsx name is text."""
    try:
        with path.open("rb") as handle:
            start = handle.read(512)
    except OSError:
        start = b"PK"
    if not start:
        return f"{path.name} is empty (0 bytes): export it again"
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        return (
            f"{path.name} is not an .xlsx workbook: it is an old Excel (.xls) file or a workbook saved "
            "with a password. Save it as .xlsx without a password, or as .csv"
        )
    if not start.startswith(b"PK") and b"\0" not in start:
        return (
            f"{path.name} is text, not an Excel workbook: it looks like a CSV file named .xlsx. Rename it "
            "to .csv (and its location in the recipe), or open it in Excel and save it as .xlsx"
        )
    return f"{path.name} could not be opened as an Excel workbook (.xlsx)"


def _flags_records(data: bytes) -> tuple[list[list[str]], str]:
    """The flags file's records and the delimiter they are in: commas as coprod writes them, or the
    semicolons or tabs a spreadsheet re-saved it with, told by the header that then holds the
    Fingerprint column. Read with commas, such a file was one column: every status staff set was
    passed over, and the next write cut each row into pieces at its commas.

    The file is UTF-8 as coprod writes it, or cp1252 where Excel re-saved it as plain "CSV". It is
    decoded as csv reads it, a block at a time (``TextIOWrapper`` over the bytes), never as one
    string handed to ``io.StringIO``, which copies it at four bytes a character: with the decoded
    string beside it, that made an unchanged 1x sync (a 5 MB flags file) peak at 149 MiB, not 124.
    Records are split by csv itself, never by ``str.splitlines``, which also breaks a line at a
    vertical tab (Word's Shift+Enter, pasted into a session title), a form feed or U+2028, which
    csv writes unquoted: a flag's row was cut in two."""
    try:
        return _delimited_records(data, "utf-8-sig", "strict")
    except UnicodeDecodeError:
        return _delimited_records(data, "cp1252", "replace")


def _delimited_records(data: bytes, encoding: str, errors: str) -> tuple[list[list[str]], str]:
    def records(delimiter: str) -> list[list[str]]:
        text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors=errors, newline="")
        return list(csv.reader(text, delimiter=delimiter))

    found = records(",")
    if found and len(found[0]) == 1:
        for delimiter in (";", "\t"):
            other = records(delimiter)
            if any(_KEY_OF_HEADING.get(_heading_key(h)) == "fingerprint" for h in other[0]):
                return other, delimiter
    return found, ","


def _allow_long_cells() -> None:
    """csv refuses a cell over 128 KiB; a cell can be as long as the file holding it."""
    if csv.field_size_limit() < _LONGEST_CELL:
        csv.field_size_limit(_LONGEST_CELL)


_LONGEST_CELL = 2**31 - 1
"""The largest limit csv takes on every platform (a C long)."""


def _header_delimiter(path: Path, delimiter: str) -> str | None:
    """Another delimiter row 1 is separated by, where read with ``delimiter`` it is one column. An
    export of Excel's older "CSV" in much of Europe is both cp1252 and separated by semicolons: the
    encoding is found first, and said alone it named the whole header as one column ("column
    'Session ID;Project;Date;...'") and left the delimiter to a second refusal after the first was
    fixed. Row 1 is read whatever its encoding (headings are rarely more than ASCII)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(65536).decode("utf-8", errors="replace").strip("\r\n\ufeff")
    except OSError:
        return None
    if len(next(csv.reader([first], delimiter=delimiter), [])) != 1:
        return None
    for other in _OTHER_DELIMITERS:
        if other != delimiter and other in first:
            return other
    return None


def _could_not_read(path: Path, exc: OSError) -> str:
    """A file that is there but cannot be opened, with what to do where the reason is permission:
    on Windows, a file open in Excel is locked ("Permission denied"), and the nightly run met it
    whenever someone left the export open (the flags file's write already said so)."""
    said = f"{path} could not be read ({exc.strerror or exc})"
    if isinstance(exc, PermissionError):
        return (
            f"{said}: if it is open in a spreadsheet, close it and run again; otherwise the user coprod "
            "runs as may not read it"
        )
    return said


def _near_names(path: Path) -> str:
    """ " (the folder has 'People.csv': ...)": files beside a missing one that are probably it, under
    another name: other capitals (a folder copied from Windows or a Mac, where the name matched), the
    other kind of export (people.xlsx for people.csv), or a name a download or a second Save As
    made ("people (1).csv", "people.csv.csv"). Empty when there is none, or the folder cannot be read."""
    wanted, stem = path.name.casefold(), path.stem.casefold()
    try:
        names = sorted(
            p.name
            for p in path.parent.iterdir()
            if p.is_file() and (p.name.casefold() == wanted or p.name.casefold().startswith(stem))
        )
    except OSError:
        return ""
    if not names:
        return ""
    shown = ", ".join(f"'{name}'" for name in names[:3]) + (" ..." if len(names) > 3 else "")
    return f" (the folder has {shown}: the name must match exactly, capitals and ending too)"


def _encoding_words(encoding: str) -> str:
    """An encoding as Excel's Save As list names it: "utf-8-sig" (UTF-8, with or without the mark
    Excel puts first) is said "UTF-8", a name staff meet, not Python's."""
    return "UTF-8" if encoding.replace("_", "-").lower() in ("utf-8-sig", "utf-8", "utf8") else encoding


def _place_in_text(path: Path, encoding: str, delimiter: str) -> str:
    """ " (first at row N, column 'Name')": where in a CSV file the first byte the encoding cannot read is, as a
    spreadsheet numbers it (the header is row 1), counting records, not lines, so a cell holding a
    line break does not throw the number off. Empty if the file cannot be read again."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    try:
        data.decode(encoding)
        return ""
    except UnicodeDecodeError as found:
        before = data[: found.start].decode(encoding, errors="replace")
    records = list(csv.reader(io.StringIO(before, newline=""), delimiter=delimiter))
    if not records or before.endswith(("\n", "\r")):
        row, column = len(records) + 1, 1
    else:
        row, column = len(records), len(records[-1])
    header = records[0] if row > 1 else []
    named = f"'{header[column - 1].strip()}'" if column <= len(header) and header[column - 1].strip() else ""
    return f" (first at row {row}, column {named or column})"


def _quote_problem(path: Path, encoding: str, delimiter: str, exc: csv.Error) -> str:
    """What a strict CSV reader refused, in words, naming the row (as a spreadsheet numbers it) and
    the line of the file the cell starts on."""
    row, line = 0, 1
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            try:
                for _ in reader:
                    row += 1
                    line = reader.line_num + 1
            except csv.Error:
                pass
    except (OSError, UnicodeDecodeError):
        pass
    where = f"{path.name} row {row + 1} (from line {line} of the file)"
    text = str(exc)
    if "end of data" in text:
        return (
            f'{where}: a cell starts with a quote (") that is never closed, so every row after it '
            "would be read into that one cell. Close the quote, or remove it"
        )
    if "expected after" in text:
        return (
            f"{where}: a cell in quotes has more text after its closing quote, so the rows after it "
            "could be read into it. A cell in quotes must end at its closing quote; a quote inside a "
            'cell is written twice ("")'
        )
    return f"{where} could not be read as CSV: {text}"


class FilesOptions(ConnectorOptions):
    """``[sources.NAME]`` options for ``connector = "files"``."""

    directory: str = "."
    """The folder holding the files, relative to the recipe's folder (and inside it)."""
    flags_file: str = "coprod-flags.csv"
    """Where flags are written, relative to ``directory``."""
    encoding: str = "utf-8-sig"
    """Encoding of the CSV files ("utf-8-sig" also reads plain UTF-8; Excel's "CSV" may be cp1252)."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """What separates the columns of the CSV files: "," or, as Excel saves CSV in much of Europe, ";"
    (a tab is "\\t")."""
    page_size: int = Field(default=5000, ge=1, le=1_000_000)

    @field_validator("encoding")
    @classmethod
    def _an_encoding_python_reads(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"'{value}' is not an encoding coprod knows: use utf-8 (the default), cp1252 (Excel's older "
                "CSV) or utf-16"
            ) from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _a_delimiter_csv_can_use(cls, value: str) -> str:
        if value in ('"', "\r", "\n"):
            raise ValueError('a quote or a line break cannot separate columns: use ",", ";" or "\\t"')
        return value

    @field_validator("flags_file")
    @classmethod
    def _a_file_of_its_own(cls, value: str, info: ValidationInfo) -> str:
        """The flags file is rewritten whole: never a file an entity is read from."""
        where = info.context
        if isinstance(where, SourceContext):
            read = [
                f
                for f in where.locations
                if os.path.normcase(os.path.normpath(f)) == os.path.normcase(os.path.normpath(value))
            ]
            if read:
                raise ValueError(
                    f"'{read[0]}' is a file coprod reads, and the flags file is rewritten whole: give the "
                    'flags a file of their own, such as "coprod-flags.csv"'
                )
        return value


class FilesEntityOptions(ConnectorEntityOptions):
    """``[entities.X.options]`` for an entity read from a file."""

    sheet: str | None = None
    """The worksheet of an Excel file to read (default: the first one not hidden)."""


def _directory(name: str, options: FilesOptions) -> DataPath:
    return DataPath(f"[sources.{name}] directory", (options.directory,))


def _flags_file(name: str, options: FilesOptions) -> DataPath:
    return DataPath(f"[sources.{name}] flags_file", (options.directory, options.flags_file))


def _location(options: FilesOptions, entity: Entity, location: str) -> DataPath:
    return DataPath(f"[entities.{entity.value}] location", (options.directory, location))


class FlagsFileRows(NamedTuple):
    """The flags file as read: its columns in the order to write them back (coprod's under their
    keys, staff's under their headings), its non-blank rows, and each row's number as a
    spreadsheet shows it (the header is row 1), to name a row in a warning."""

    columns: list[str]
    rows: list[dict[str, str]]
    numbers: list[int]
    missing: list[str]
    """Headings of coprod's columns the file lacks (added on the next write)."""
    delimiter: str = ","
    """What separates its columns: a comma as coprod writes it, or what a spreadsheet re-saved it
    with (Excel saves "CSV" with semicolons in much of Europe); it is written back the same way."""


def _column_order(extra: Sequence[str]) -> list[str]:
    """A new file's columns, or an old layout's rearranged: coprod's readable columns, the columns
    staff added, then the machine's."""
    return [k for k, _ in READABLE_COLUMNS] + list(extra) + [k for k, _ in MACHINE_COLUMNS]


class FilesConnector(Connector):
    """Reads CSV and XLSX files from a folder; writes flags to a CSV in the same folder."""

    kind = "files"
    Options = FilesOptions
    EntityOptions = FilesEntityOptions
    options: FilesOptions
    _flags_gone: str | None = None
    """Said when the last read of staff statuses found none of coprod's flags in the flags file."""

    @classmethod
    def data_paths(
        cls, name: str, options: ConnectorOptions, entities: Mapping[Entity, EntitySpec]
    ) -> list[DataPath]:
        assert isinstance(options, FilesOptions)
        paths = [_directory(name, options), _flags_file(name, options)]
        paths.extend(_location(options, e, s.location) for e, s in entities.items() if s.location)
        return paths

    # ---------------------------------------------------------------------------------------
    # Paths: checked each time, as ``coprod validate`` checks them (inside the recipe's folder)

    @property
    def directory(self) -> Path:
        return self.context.data_path(_directory(self.name, self.options))

    @property
    def flags_path(self) -> Path:
        return self.context.data_path(_flags_file(self.name, self.options))

    def _file(self, entity: Entity, spec: EntitySpec) -> Path:
        if not spec.location:
            raise ConfigError(
                f'[entities.{entity.value}] has no location: set location = "{entity.value}.csv" '
                f"(a .csv or .xlsx file in {self.directory})"
            )
        return self.context.data_path(_location(self.options, entity, spec.location))

    def _entities(self) -> list[tuple[Entity, EntitySpec]]:
        return [(e, s) for e, s in self.context.recipe.entities.items() if s.source == self.name]

    # ---------------------------------------------------------------------------------------
    # Reading

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        path = self._file(entity, spec)
        for block in self._blocks(
            entity, spec, path, self.options.page_size, after=self._cursor(cursor, path)
        ):
            yield Page(rows=block, cursor=block.key(-1))

    @staticmethod
    def _cursor(cursor: str | None, path: Path) -> int:
        if cursor is None or cursor == "":
            return 0
        try:
            return int(cursor)
        except ValueError:
            raise ConfigError(
                f"the saved position '{cursor}' for {path.name} is not a row number; "
                f"run a full sync to start again from the top"
            ) from None

    def _blocks(
        self, entity: Entity, spec: EntitySpec, path: Path, size: int, after: int = 0
    ) -> Generator[RowBlock, None, None]:
        """Every non-blank data row after row number ``after`` (the header is row 1), in blocks of
        ``size`` rows, each row's number as its key, each row the list of cells the reader made (a
        :class:`RowBlock` makes it a :class:`Row` only when asked).

        Rows are read in chunks of ``size``. A CSV chunk whose rows all have the header's width and
        none is blank (most of them) is kept as it is, in C-level steps; any other chunk is checked
        row by row for blanks and stray values. This loop is the whole cost of reading a
        200,000-row export beyond the csv module's own."""
        options = FilesEntityOptions.of(entity, spec)
        directory = self.directory
        if not directory.is_dir():
            raise SourceUnavailable(
                f"{directory} is {'a file, not a folder' if directory.exists() else 'not there'}: set "
                f"directory in [sources.{self.name}] to the folder holding the files (relative to the "
                "recipe's folder)"
            )
        if path.is_dir():
            raise SourceUnavailable(
                f"{path} is a folder, not a file: set location to a .csv or .xlsx file",
                where=f"[entities.{entity.value}]",
            )
        if not path.is_file():
            raise SourceUnavailable(
                f"file not found: {path}. Save the export there under that name, or set location in "
                f"[entities.{entity.value}] of the recipe to the name it has{_near_names(path)}",
                where=f"[entities.{entity.value}]",
            )
        suffix = path.suffix.lower()
        if suffix == ".csv":
            chunks = self._csv_chunks(path, size)
        elif suffix in (".xlsx", ".xlsm"):
            chunks = _chunks(self._xlsx_records(path, options.sheet, f"[entities.{entity.value}]"), size)
        elif suffix == ".xls":
            raise SourceUnreadable(f"{path.name} is an old Excel (.xls) file: save it as .xlsx or .csv")
        else:
            raise SourceUnreadable(
                f"{path.name}: coprod reads .csv and .xlsx files, not '{suffix or 'no extension'}'"
            )
        name = path.name
        first = next(chunks, None)
        if not first:
            raise SourceUnreadable(f"{name} is empty: it needs a header row naming its columns")
        header_cells = first[0]
        if suffix == ".csv":
            self._check_delimiter(name, header_cells, _mapped_columns(spec))
        header = self._header(name, header_cells, entity, spec)
        width = len(header)
        text_only = suffix == ".csv"  # every cell a str: blank rows are found by joining them
        kept_cells: list[list[Any]] = []
        kept_numbers: list[int] = []
        start = 2  # the number of the chunk's first row
        for chunk in chunks:
            numbers = range(start, start + len(chunk))
            start += len(chunk)
            if text_only and numbers[0] > after and _plain(chunk, width):
                if kept_numbers:  # complete the block begun by an earlier chunk
                    need = size - len(kept_numbers)
                    kept_cells += chunk[:need]
                    kept_numbers += numbers[:need]
                    if len(kept_numbers) < size:
                        continue
                    yield RowBlock(name, header, kept_cells, kept_numbers)
                    chunk, numbers = chunk[need:], numbers[need:]
                    kept_cells, kept_numbers = [], []
                if len(chunk) == size:
                    yield RowBlock(name, header, chunk, numbers)
                else:
                    kept_cells, kept_numbers = chunk, list(numbers)
                continue
            for number, cells in zip(numbers, chunk, strict=True):
                if len(cells) != width:
                    fitted = _fit(name, number, cells, width)
                    if fitted is None:
                        continue
                    cells = fitted
                elif text_only:
                    joined = "".join(cells)
                    if not joined or joined.isspace():
                        continue
                elif all(_blank(c) for c in cells):
                    continue
                if number > after:
                    kept_cells.append(cells)
                    kept_numbers.append(number)
                    if len(kept_numbers) == size:
                        yield RowBlock(name, header, kept_cells, kept_numbers)
                        kept_cells, kept_numbers = [], []
        if kept_numbers:
            yield RowBlock(name, header, kept_cells, kept_numbers)

    def _check_delimiter(self, name: str, cells: Sequence[Any], mapped: Sequence[str]) -> None:
        """A header read as one column that another delimiter would split: say which, and how to
        set it, instead of reporting one column named 'Participant ID;Name;Role'. Row 1 is quoted
        only when it holds a column the recipe maps: otherwise it is someone's data."""
        titles = [str(c) for c in cells if not _blank(c)]
        if len(titles) != 1:
            return
        for delimiter, words in _OTHER_DELIMITERS.items():
            parts = titles[0].split(delimiter)
            if delimiter != self.options.delimiter and len(parts) > 1:
                shown = "\\t" if delimiter == "\t" else delimiter
                row = (
                    f"'{titles[0][:60]}'"
                    if names_a_mapped_column(parts, mapped)
                    else f"{len(parts)} cells by {words}"
                )
                raise SourceUnreadable(
                    f"{name} looks separated by {words}, not by '{self.options.delimiter}': its row 1 reads "
                    f'as one column, {row}. Set delimiter = "{shown}" in [sources.{self.name}] of the recipe'
                )

    def _header(self, name: str, cells: Sequence[Any], entity: Entity, spec: EntitySpec) -> list[str]:
        header = [str(c).strip() if c is not None else "" for c in cells]
        while header and not header[-1]:
            header.pop()  # trailing empty cells are not columns (Excel exports often have them)
        mapped = _mapped_columns(spec)
        if mapped and not names_a_mapped_column(header, mapped):
            raise ConfigError(
                f"{name}: row 1 names none of the columns the recipe's [entities.{entity.value}] maps "
                f"({', '.join(repr(c) for c in mapped)}); it must be the header row. If the file starts "
                "with data, add the header row above it (row 1 is not shown here: it may be someone's details)"
            )
        found = ", ".join(f"'{h}'" for h in header if h) or "none"
        for position, title in enumerate(header, start=1):
            if not title:
                merged = " (cells merged across row 1 leave all but the first blank: unmerge them)"
                raise SourceUnreadable(
                    f"{name}: column {position} has no header in row 1; name it or delete the column"
                    f"{merged if name.lower().endswith(('.xlsx', '.xlsm')) else ''} (columns found: {found})"
                )
        seen: set[str] = set()
        for title in header:
            if title in seen:
                raise SourceUnreadable(
                    f"{name}: the header '{title}' appears twice in row 1; rename one of them "
                    f"(columns found: {found})"
                )
            seen.add(title)
        missing: list[str] = []
        for field, column in spec.fields.items():
            if column not in seen and field not in spec.defaults:
                missing.append(column)
        missing.extend(c for c in spec.demographics.values() if c not in seen)
        if missing:
            loose = {loose_heading(h): h for h in header}
            hints = [
                f"'{c}' (did you mean {_shown_heading(loose[loose_heading(c)])}?)"
                if loose_heading(c) in loose
                else f"'{c}'"
                for c in missing
            ]
            raise ConfigError(
                f"{name}: the recipe's [entities.{entity.value}] maps column "
                f"{', '.join(hints)}, which {'is' if len(missing) == 1 else 'are'} not in row 1 "
                f"(columns found: {found}). Fix the recipe or the header."
            )
        return header

    def _csv_chunks(self, path: Path, size: int) -> Iterator[list[list[str]]]:
        """The file's rows as cells: the header alone, then chunks of ``size`` rows.

        Read strictly: a quote that opens a cell and does not close where the cell ends would
        otherwise take the rows after it into that one cell, and they would be lost without a word.
        A cell may be as long as the file (a 5 MB note is read, not refused at csv's 128 KiB)."""
        _allow_long_cells()
        encoding = self._encoding(path)
        try:
            with path.open(encoding=encoding, newline="") as handle:
                reader = csv.reader(handle, delimiter=self.options.delimiter, strict=True)
                yield from _chunks(reader, size)
        except UnicodeDecodeError:
            other = _header_delimiter(path, self.options.delimiter)
            where = _place_in_text(path, encoding, other or self.options.delimiter)
            also = ""
            if other:
                shown = "\\t" if other == "\t" else other
                also = f'; its row 1 is separated by {_OTHER_DELIMITERS[other]}, so set delimiter = "{shown}" there too'
            raise SourceUnreadable(
                f"{path.name} is not in the {_encoding_words(encoding)} encoding{where}: save it as "
                f"'CSV UTF-8' in Excel, or set encoding = \"cp1252\" in [sources.{self.name}]{also}"
            ) from None
        except csv.Error as exc:
            raise SourceUnreadable(_quote_problem(path, encoding, self.options.delimiter, exc)) from None
        except OSError as exc:
            raise SourceUnavailable(_could_not_read(path, exc)) from None

    def _encoding(self, path: Path) -> str:
        """The encoding its byte order mark says, else the one set: a file that starts with the
        mark of UTF-16 (Excel's "Unicode Text") or of UTF-8 (Excel's "CSV UTF-8") is in it beyond
        doubt. Without this, "utf-8-sig" refused a UTF-16 file, and encoding = "cp1252", set for an
        older export, read the next one saved as CSV UTF-8 with every accent garbled ("Zoë" as
        "ZoÃ«") and the mark stuck to the first heading."""
        try:
            with path.open("rb") as handle:
                start = handle.read(3)
        except OSError:
            return self.options.encoding  # said when the file is opened to be read
        if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        if start == codecs.BOM_UTF8:
            return "utf-8-sig"
        return self.options.encoding

    def _xlsx_records(
        self, path: Path, sheet: str | None, section: str = "its entity"
    ) -> Iterator[list[Any]]:
        """The sheet's rows as cells, the header first, numbered as the spreadsheet shows them:
        from row 1 and column A, empty rows and columns included.

        Read with python-calamine, which reads the same cells as openpyxl (text as typed, so "007"
        stays "007"; dates as dates; numbers as numbers) at a fifteenth of the time: 1.2 s against
        19 s for a 200,000-row sheet (``tests/test_files_connector.py`` holds both to the same cells).
        """
        from python_calamine import (
            CalamineWorkbook,
            SheetTypeEnum,
            SheetVisibleEnum,
        )  # only .xlsx recipes need it

        try:
            workbook = CalamineWorkbook.from_path(str(path))
        except OSError as exc:
            raise SourceUnavailable(_could_not_read(path, exc)) from None
        except Exception:  # a damaged file or not a workbook: calamine's zip and XML errors
            raise SourceUnreadable(_not_a_workbook(path)) from None
        try:
            sheets = [m for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
            worksheets = [m.name for m in sheets]
            if sheet is None:  # the first sheet staff can see: a hidden one holds what they do not
                shown = [m.name for m in sheets if m.visible == SheetVisibleEnum.Visible]
                chosen = next(iter(shown or worksheets), None)
            elif sheet in worksheets:
                chosen = sheet
            else:
                raise ConfigError(
                    f"{path.name} has no sheet '{sheet}'; sheets found: {', '.join(repr(s) for s in worksheets)}. "
                    f"Set sheet in the options of {section} in the recipe to one of them, exactly as written "
                    "there (or rename the sheet)"
                )
            try:
                rows = workbook.get_sheet_by_name(chosen).to_python(skip_empty_area=False) if chosen else []
            except Exception:
                raise SourceUnreadable(f"{path.name}: the sheet '{chosen}' could not be read") from None
        finally:
            workbook.close()
        # An error cell (#N/A) as Excel shows it, not as the empty cell calamine makes of it. Imported
        # here: its XML parser is for workbooks only, and a run on CSV files need not load it.
        from coprod.connectors.xlsx_errors import error_cells

        for (row, column), error in (error_cells(path, chosen) if chosen else {}).items():
            if row <= len(rows) and column <= len(rows[row - 1]):
                rows[row - 1][column - 1] = error
        for cells in rows:
            yield [_cell_text(c) for c in cells]

    # ---------------------------------------------------------------------------------------
    # The flags file

    def _read_flags(self) -> FlagsFileRows:
        """The flags file as staff left it: their columns and rows too, in either layout.

        A file in coprod's layout keeps the order of its columns (staff may have moved them);
        coprod's missing columns are added at the end. A file written before About existed
        (fingerprint, status, ..., subject, ...) is read the same way, its subject ("person 17")
        standing in for About, and is written back in the readable layout with staff's columns
        between coprod's readable and machine columns."""
        path = self.flags_path
        if not path.is_file():
            return FlagsFileRows(_column_order([]), [], [], list(FLAG_HEADINGS))
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SourceUnavailable(_could_not_read(path, exc)) from None
        _allow_long_cells()
        try:
            records, delimiter = _flags_records(text)
        except csv.Error as exc:
            raise SourceUnreadable(
                f"{path.name} could not be read as CSV ({exc}); nothing was written to it. Fix it, or "
                "move it away (coprod then writes a new one, with every flag still raised and the statuses it last knew)"
            ) from None
        reader = iter(records)
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            return FlagsFileRows(_column_order([]), [], [], list(FLAG_HEADINGS))
        headings = {_heading_key(h) for h in header}
        old_layout = _OLD_SUBJECT in headings and "about" not in headings
        keys: list[str] = []
        for position, heading in enumerate(header, start=1):
            key = _KEY_OF_HEADING.get(_heading_key(heading), heading)
            if old_layout and _heading_key(heading) == _OLD_SUBJECT:
                key = _OLD_SUBJECT
            elif key in keys and key in _HEADING:  # coprod's heading twice: the second is staff's
                key = f"{heading} (column {position})"
            keys.append(key)
        extra = [k for k in dict.fromkeys(keys) if k and k not in _HEADING and k != _OLD_SUBJECT]
        rows = []
        numbers = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            numbers.append(number)
            row = {k: (cells[i] if i < len(cells) else "") for i, k in enumerate(keys) if k}
            # Cells beyond the header are staff's too: keep them under a made-up column name.
            for i in range(len(keys), len(cells)):
                if cells[i].strip():
                    row[f"column {i + 1}"] = cells[i]
                    if f"column {i + 1}" not in extra:
                        extra.append(f"column {i + 1}")
            if old_layout:
                subject = row.pop(_OLD_SUBJECT, "")
                row["about"] = row.get("about") or subject
            rows.append(row)
        missing = [h for k, h in FLAG_COLUMNS if k not in keys]
        if rows and "fingerprint" not in keys:
            # Matching is by fingerprint alone: without it every status staff set would be passed
            # over, and each flag that changed added again as a row of its own.
            raise SourceUnreadable(
                f"{path.name} has no {_HEADING['fingerprint']} column, so the statuses set in it cannot "
                "be matched to their flags; nothing was written to it. Put the column back (undo, or "
                "copy it from a backup), or move the file away to have every flag written afresh"
            )
        if old_layout:
            columns = _column_order(extra)
        else:
            columns = [k for k in dict.fromkeys(keys) if k] + [c for c in extra if c not in keys]
            columns += [k for k, _ in FLAG_COLUMNS if k not in columns]
        return FlagsFileRows(columns, rows, numbers, missing, delimiter)

    def _write_flags_file(
        self, columns: list[str], rows: Iterable[dict[str, str]], delimiter: str = ","
    ) -> None:
        """Write the whole file to a private temporary file beside it, then swap it in.

        The temporary file is created 0600 (it holds names) and locked until it is swapped in
        (:mod:`coprod.locking`), so :meth:`_remove_stale_temp_files` knows a live write from a
        killed one's leftovers. The flags file keeps the permissions it had (staff may have shared
        it); a new one stays 0600. ``columns``: coprod's keys (written as their headings) and
        staff's headings, in order.

        On Windows, which renames no open file, the file is closed (and so unlocked) just before it
        is swapped in; while it is open, Windows itself stops another run removing it.
        """
        path = self.flags_path
        fd, tmp = tempfile.mkstemp(prefix=self._temp_prefix, suffix=".tmp", dir=path.parent)
        try:
            try_flock(fd)  # a file mkstemp just made: nobody else can hold it
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle, delimiter=delimiter)
                writer.writerow([_HEADING.get(c, c) for c in columns])
                for row in rows:
                    writer.writerow([row.get(c, "") for c in columns])
                handle.flush()
                with contextlib.suppress(FileNotFoundError):  # a new flags file stays 0600
                    os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
                if RENAMES_OPEN_FILES:
                    os.replace(tmp, path)  # still locked: the lock goes when the file is closed
            if not RENAMES_OPEN_FILES:
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def _temp_prefix(self) -> str:
        return f".{self.flags_path.name}."

    def _remove_stale_temp_files(self) -> None:
        """Remove temporary flags files a killed run left: unlocked, so their writer is gone."""
        pattern = os.path.join(
            glob.escape(str(self.flags_path.parent)), glob.escape(self._temp_prefix) + "*.tmp"
        )
        removed = 0
        for name in glob.glob(pattern):
            try:
                fd = os.open(name, os.O_RDONLY)  # not inherited by a child (Python's default)
            except OSError:
                continue
            try:
                if not try_flock(fd):
                    continue  # another run is writing it right now
                info = os.fstat(fd)
                if info.st_size == 0 and clock.time() - info.st_mtime < TEMP_GRACE_SECONDS:
                    continue
            except OSError:
                continue
            finally:
                os.close(fd)
            # Unlocked and not just made: its writer is gone, and no run opens it again. Removed once
            # closed: Windows removes no file that is open, this run's own included.
            try:
                os.unlink(name)
            except OSError:
                continue
            removed += 1
        if removed:
            log.info("removed %d temporary flags file(s) left by a run that was stopped", removed)

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        report = WriteReport()
        if not changes:
            return report
        fingerprints = [c.fingerprint for c in changes]
        self._remove_stale_temp_files()
        try:
            flags = self._read_flags()
        except SourceUnavailable as exc:
            report.failed.update({fp: str(exc) for fp in fingerprints})
            return report
        rows = flags.rows
        by_fingerprint = {
            r.get("fingerprint", "").strip(): r for r in rows if r.get("fingerprint", "").strip()
        }
        # Rows whose Fingerprint a spreadsheet program turned into a number (1.23457E+19): each is
        # the row of the flag it was, written back with its fingerprint as it was. Few or none.
        numbers = {cell: r for cell, r in by_fingerprint.items() if is_number(cell)}
        for change in changes:
            known = change.known
            row = by_fingerprint.get(change.fingerprint)
            if row is None and numbers:
                cell = next((c for c in numbers if number_made_of(c, [change.fingerprint])), None)
                row = numbers.pop(cell) if cell is not None else None
            if change.flag is None:  # resolved: keep the text staff saw, mark it resolved
                if row is None:
                    continue  # staff deleted the row: nothing left to mark
                row["status"] = STATUS_WORDS[FlagStatus.RESOLVED]
                row["last_seen"] = known.last_seen.isoformat()
                if change.kind is ChangeKind.REMOVED:  # its person left the people list: not who
                    kind = known.subject_kind
                    row.update(evidence="{}", message=removed_message(kind, row=True))
                    if not keeps_about(kind):
                        row["about"] = REMOVED_ABOUT
                continue
            flag = change.flag
            new = {
                "about": flag.about or str(flag.subject),
                "title": flag.title,
                "message": flag.message,
                "status": STATUS_WORDS[known.status],
                "severity": flag.severity.value,
                "first_seen": known.first_seen.isoformat(),
                "last_seen": known.last_seen.isoformat(),
                "fingerprint": flag.fingerprint,
                "check": flag.check_id,
                "evidence": flag.evidence_json,
            }
            new = {k: neutralise(v) for k, v in new.items()}
            if row is None:
                rows.append(new)
                by_fingerprint[flag.fingerprint] = new
            else:
                row.update(new)
        report.requests = 1
        try:
            self._write_flags_file(flags.columns, rows, flags.delimiter)
        except OSError as exc:
            reason = (
                f"{self.flags_path.name} could not be written ({exc.strerror or exc}); "
                f"if it is open in a spreadsheet, close it and run again"
            )
            report.failed.update({fp: reason for fp in fingerprints})
            return report
        report.written.extend(fingerprints)
        return report

    def flags_gone(self) -> str | None:
        return self._flags_gone

    def read_staff_statuses(self) -> StaffStatuses:
        self._remove_stale_temp_files()  # every sync reads these first, even with nothing to write
        flags = self._read_flags()
        # Named once: flags_path resolves the path afresh (a stat of each folder on the way, to keep it
        # in the recipe's folder), which for every row of a 3,000-row file took longer than the read.
        name = self.flags_path.name
        # None of coprod's flags in it (deleted, moved away, emptied): the sync writes them all again.
        # Not when something else stands at its path (a folder): no write can succeed there.
        held = any(r.get("fingerprint", "").strip() for r in flags.rows)
        elsewhere = self.flags_path.exists() and not self.flags_path.is_file()
        gone = f"{name} held none of coprod's flags (deleted or moved away?)"
        self._flags_gone = None if held or elsewhere else gone
        out = StaffStatuses()
        for row, number in zip(flags.rows, flags.numbers, strict=True):
            out.read(row.get("fingerprint", "").strip(), row.get("status", ""), f"{name} row {number}")
        return out

    # ---------------------------------------------------------------------------------------
    # Install

    def install(self) -> list[str]:
        directory = self.directory
        if not directory.is_dir():
            raise SourceUnavailable(
                f"folder not found: {directory} (set directory in [sources.{self.name}], "
                f"relative to the recipe's folder)"
            )
        lines = [f"files: folder {directory} found"]
        for entity, spec in self._entities():
            path = self._file(entity, spec)
            blocks = self._blocks(entity, spec, path, 1)
            next(blocks, None)  # reads and checks the header (and the first row)
            blocks.close()
            lines.append(f"files: {entity.value} from {path.name}: file and mapped columns found")
        if self.flags_path.is_file():
            missing = self._read_flags().missing
            if missing:
                lines.append(
                    f"files: {self.flags_path.name} exists; the next write adds the columns "
                    f"{', '.join(missing)} and puts coprod's columns in order (yours stay)"
                )
            else:
                lines.append(f"files: {self.flags_path.name} already exists")
        else:
            try:
                self._write_flags_file(_column_order([]), [])
            except OSError as exc:
                # A folder made by root (a recipe copied in as root on a server) met here only as
                # "something unexpected went wrong (PermissionError)", exit 1.
                raise SourceUnavailable(
                    f"{self.flags_path.name} could not be created in {self.flags_path.parent} "
                    f"({exc.strerror or exc}): the user coprod runs as must be able to write in that "
                    "folder, where coprod keeps the flags; let it (or run coprod as the user who may), "
                    "then run again"
                ) from None
            lines.append(f"files: created {self.flags_path.name} for flags")
        return lines
