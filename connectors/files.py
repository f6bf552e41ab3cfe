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

import contextlib
import csv
import glob
import logging
import os
import stat
import tempfile
import time as clock
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field

from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorEntityOptions,
    ConnectorOptions,
    DataPath,
    Page,
    SourceUnavailable,
    SourceUnreadable,
    WriteReport,
)
from coprod.locking import try_flock
from coprod_core.lifecycle import FlagChange, FlagStatus, StaffStatuses
from coprod_core.recipe import Entity, EntitySpec
from coprod_core.rows import Row

FLAG_COLUMNS = (
    "fingerprint",
    "status",
    "severity",
    "check",
    "subject",
    "title",
    "message",
    "evidence",
    "first_seen",
    "last_seen",
)
"""Columns coprod owns in the flags file. Staff may add others; they are kept."""

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
    page_size: int = Field(default=5000, ge=1)


class FilesEntityOptions(ConnectorEntityOptions):
    """``[entities.X.options]`` for an entity read from a file."""

    sheet: str | None = None
    """The worksheet of an Excel file to read (default: the first)."""


def _directory(name: str, options: FilesOptions) -> DataPath:
    return DataPath(f"[sources.{name}] directory", (options.directory,))


def _flags_file(name: str, options: FilesOptions) -> DataPath:
    return DataPath(f"[sources.{name}] flags_file", (options.directory, options.flags_file))


def _location(options: FilesOptions, entity: Entity, location: str) -> DataPath:
    return DataPath(f"[entities.{entity.value}] location", (options.directory, location))


class FlagsFileRows(NamedTuple):
    """The flags file as read: its columns, its non-blank rows, and each row's number as a
    spreadsheet shows it (the header is row 1), to name a row in a warning."""

    columns: list[str]
    rows: list[dict[str, str]]
    numbers: list[int]


class FilesConnector(Connector):
    """Reads CSV and XLSX files from a folder; writes flags to a CSV in the same folder."""

    kind = "files"
    Options = FilesOptions
    EntityOptions = FilesEntityOptions
    options: FilesOptions

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
        after = self._cursor(cursor, path)
        page: list[Row] = []
        last = after
        for number, row in self._rows(entity, spec, path):
            if number <= after:
                continue
            page.append(row)
            last = number
            if len(page) >= self.options.page_size:
                yield Page(rows=page, cursor=str(last))
                page = []
        if page:
            yield Page(rows=page, cursor=str(last))

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

    def _rows(self, entity: Entity, spec: EntitySpec, path: Path) -> Generator[tuple[int, Row], None, None]:
        """(row number, Row) for every non-blank data row; the header is row 1."""
        options = FilesEntityOptions.of(entity, spec)
        if not path.is_file():
            raise SourceUnavailable(f"file not found: {path}", where=f"[entities.{entity.value}]")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            records = self._csv_records(path)
        elif suffix in (".xlsx", ".xlsm"):
            records = self._xlsx_records(path, options.sheet)
        elif suffix == ".xls":
            raise SourceUnreadable(f"{path.name} is an old Excel (.xls) file: save it as .xlsx or .csv")
        else:
            raise SourceUnreadable(
                f"{path.name}: coprod reads .csv and .xlsx files, not '{suffix or 'no extension'}'"
            )
        header: list[str] | None = None
        name = path.name
        for number, cells in records:
            if header is None:
                if suffix == ".csv":
                    self._check_delimiter(name, cells)
                header = self._header(name, cells, entity, spec)
                continue
            if all(_blank(c) for c in cells):
                continue
            width = len(header)
            if len(cells) > width and any(not _blank(c) for c in cells[width:]):
                column = width + 1 + next(i for i, c in enumerate(cells[width:]) if not _blank(c))
                raise SourceUnreadable(
                    f"{name} row {number} has a value in column {column}, which has no header: "
                    f"give that column a name in row 1, or delete the stray value"
                )
            if len(cells) < width:
                cells = [*cells, *([""] * (width - len(cells)))]
            values = dict(zip(header, cells, strict=False))
            yield number, Row(ref=f"{name} row {number}", values=values, key=str(number))
        if header is None:
            raise SourceUnreadable(f"{name} is empty: it needs a header row naming its columns")

    def _check_delimiter(self, name: str, cells: Sequence[Any]) -> None:
        """A header read as one column that another delimiter would split: say which, and how to
        set it, instead of reporting one column named 'Participant ID;Name;Role'."""
        titles = [str(c) for c in cells if not _blank(c)]
        if len(titles) != 1:
            return
        for delimiter, words in _OTHER_DELIMITERS.items():
            if delimiter != self.options.delimiter and len(titles[0].split(delimiter)) > 1:
                shown = "\\t" if delimiter == "\t" else delimiter
                raise SourceUnreadable(
                    f"{name} looks separated by {words}, not by '{self.options.delimiter}': its row 1 reads "
                    f"as one column, '{titles[0][:60]}'. Set delimiter = \"{shown}\" in [sources.{self.name}] "
                    "of the recipe"
                )

    def _header(self, name: str, cells: Sequence[Any], entity: Entity, spec: EntitySpec) -> list[str]:
        header = [str(c).strip() if c is not None else "" for c in cells]
        while header and not header[-1]:
            header.pop()  # trailing empty cells are not columns (Excel exports often have them)
        found = ", ".join(f"'{h}'" for h in header if h) or "none"
        for position, title in enumerate(header, start=1):
            if not title:
                raise SourceUnreadable(
                    f"{name}: column {position} has no header in row 1; name it or delete the column "
                    f"(columns found: {found})"
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
            lowered = {h.casefold(): h for h in header}
            hints = [
                f"'{c}' (did you mean '{lowered[c.casefold()]}'?)" if c.casefold() in lowered else f"'{c}'"
                for c in missing
            ]
            raise ConfigError(
                f"{name}: the recipe's [entities.{entity.value}] maps column "
                f"{', '.join(hints)}, which {'is' if len(missing) == 1 else 'are'} not in row 1 "
                f"(columns found: {found}). Fix the recipe or the header."
            )
        return header

    def _csv_records(self, path: Path) -> Iterator[tuple[int, list[str]]]:
        try:
            with path.open(encoding=self.options.encoding, newline="") as handle:
                yield from enumerate(csv.reader(handle, delimiter=self.options.delimiter), start=1)
        except UnicodeDecodeError:
            raise SourceUnreadable(
                f"{path.name} is not in the {self.options.encoding} encoding: save it as "
                f"'CSV UTF-8' in Excel, or set encoding = \"cp1252\" in [sources.{self.name}]"
            ) from None
        except csv.Error as exc:
            raise SourceUnreadable(f"{path.name} could not be read as CSV: {exc}") from None
        except OSError as exc:
            raise SourceUnavailable(f"{path} could not be read: {exc.strerror}") from None

    def _xlsx_records(self, path: Path, sheet: str | None) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook  # imported here: only recipes with .xlsx files need it

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except OSError as exc:
            raise SourceUnavailable(f"{path} could not be read: {exc.strerror or exc}") from None
        except Exception:  # openpyxl raises zipfile and KeyError varieties on a damaged file
            raise SourceUnreadable(f"{path.name} could not be opened as an Excel workbook (.xlsx)") from None
        try:
            if sheet is None:
                worksheet = workbook.worksheets[0]
            elif sheet in workbook.sheetnames:
                worksheet = workbook[sheet]
            else:
                raise ConfigError(
                    f"{path.name} has no sheet '{sheet}'; sheets found: "
                    f"{', '.join(repr(s) for s in workbook.sheetnames)}"
                )
            for number, cells in enumerate(worksheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(c) for c in cells]
        finally:
            workbook.close()

    # ---------------------------------------------------------------------------------------
    # The flags file

    def _read_flags(self) -> FlagsFileRows:
        """Header and rows of the flags file as staff left it (extra columns and all)."""
        path = self.flags_path
        if not path.is_file():
            return FlagsFileRows(list(FLAG_COLUMNS), [], [])
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SourceUnavailable(f"{path} could not be read: {exc.strerror}") from None
        try:
            decoded = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            decoded = text.decode("cp1252", errors="replace")  # re-saved by Excel as plain "CSV"
        reader = csv.reader(decoded.splitlines())
        header = [h.strip() for h in next(reader, [])]
        if not header or not any(header):
            return FlagsFileRows(list(FLAG_COLUMNS), [], [])
        rows = []
        numbers = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            numbers.append(number)
            row = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h}
            # Cells beyond the header are staff's too: keep them under a made-up column name.
            for i in range(len(header), len(cells)):
                if cells[i].strip():
                    row[f"column {i + 1}"] = cells[i]
            rows.append(row)
        columns = [h for h in header if h]
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        columns.extend(c for c in FLAG_COLUMNS if c not in columns)
        return FlagsFileRows(columns, rows, numbers)

    def _write_flags_file(self, columns: list[str], rows: Iterable[dict[str, str]]) -> None:
        """Write the whole file to a private temporary file beside it, then swap it in.

        The temporary file is created 0600 (it holds names) and flock-ed until it is swapped in,
        so :meth:`_remove_stale_temp_files` knows a live write from a killed one's leftovers. The
        flags file keeps the permissions it had (staff may have shared it); a new one stays 0600.
        """
        path = self.flags_path
        fd, tmp = tempfile.mkstemp(prefix=self._temp_prefix, suffix=".tmp", dir=path.parent)
        try:
            try_flock(fd)  # a file mkstemp just made: nobody else can hold it
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([row.get(c, "") for c in columns])
                handle.flush()
                with contextlib.suppress(FileNotFoundError):  # a new flags file stays 0600
                    os.fchmod(handle.fileno(), stat.S_IMODE(path.stat().st_mode))
                os.replace(tmp, path)  # still locked: the lock goes when the file is closed
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
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not try_flock(fd):
                    continue  # another run is writing it right now
                info = os.fstat(fd)
                if info.st_size == 0 and clock.time() - info.st_mtime < TEMP_GRACE_SECONDS:
                    continue
                os.unlink(name)
                removed += 1
            except OSError:
                continue
            finally:
                os.close(fd)
        if removed:
            log.info("removed %d temporary flags file(s) left by a run that was stopped", removed)

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        report = WriteReport()
        if not changes:
            return report
        fingerprints = [c.fingerprint for c in changes]
        self._remove_stale_temp_files()
        try:
            columns, rows, _ = self._read_flags()
        except SourceUnavailable as exc:
            report.failed.update({fp: str(exc) for fp in fingerprints})
            return report
        by_fingerprint = {
            r.get("fingerprint", "").strip(): r for r in rows if r.get("fingerprint", "").strip()
        }
        for change in changes:
            known = change.known
            row = by_fingerprint.get(change.fingerprint)
            if change.flag is None:  # resolved: keep the text staff saw, mark it resolved
                if row is None:
                    continue  # staff deleted the row: nothing left to mark
                row["status"] = FlagStatus.RESOLVED.value
                row["last_seen"] = known.last_seen.isoformat()
                continue
            flag = change.flag
            new = {
                "fingerprint": flag.fingerprint,
                "status": known.status.value,
                "severity": flag.severity.value,
                "check": flag.check_id,
                "subject": str(flag.subject),
                "title": flag.title,
                "message": flag.message,
                "evidence": flag.evidence_json,
                "first_seen": known.first_seen.isoformat(),
                "last_seen": known.last_seen.isoformat(),
            }
            new = {k: neutralise(v) for k, v in new.items()}
            if row is None:
                rows.append(new)
                by_fingerprint[flag.fingerprint] = new
            else:
                row.update(new)
        report.requests = 1
        try:
            self._write_flags_file(columns, rows)
        except OSError as exc:
            reason = (
                f"{self.flags_path.name} could not be written ({exc.strerror or exc}); "
                f"if it is open in a spreadsheet, close it and run again"
            )
            report.failed.update({fp: reason for fp in fingerprints})
            return report
        report.written.extend(fingerprints)
        return report

    def read_staff_statuses(self) -> StaffStatuses:
        self._remove_stale_temp_files()  # every sync reads these first, even with nothing to write
        flags = self._read_flags()
        out = StaffStatuses()
        for row, number in zip(flags.rows, flags.numbers, strict=True):
            out.read(
                row.get("fingerprint", "").strip(),
                row.get("status", ""),
                f"{self.flags_path.name} row {number}",
            )
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
            rows = self._rows(entity, spec, path)
            next(rows, None)  # reads and checks the header (and the first row)
            rows.close()
            lines.append(f"files: {entity.value} from {path.name}: file and mapped columns found")
        if self.flags_path.is_file():
            columns = self._read_flags().columns
            missing = [c for c in FLAG_COLUMNS if c not in columns]
            if missing:
                lines.append(
                    f"files: {self.flags_path.name} exists; missing columns "
                    f"{', '.join(missing)} will be added on the next write"
                )
            else:
                lines.append(f"files: {self.flags_path.name} already exists")
        else:
            self._write_flags_file(list(FLAG_COLUMNS), [])
            lines.append(f"files: created {self.flags_path.name} for flags")
        return lines
