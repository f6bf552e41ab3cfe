"""The Flags tab: where staff see coprod's flags in their own sheet, and answer them.

Pure logic, no HTTP: read the tab as it was fetched, read back the statuses staff set, and plan
the cells to write for a batch of flag changes. Rows are found by fingerprint in what was read,
never by position, so rows staff added, sorted or annotated stay as they are; columns are found by
their heading, so staff may reorder them or put their own columns in between (those cells are
never written). A flag staff marked "acknowledged" or "won't fix" is only written again when the
lifecycle says its facts changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from coprod.connectors.sheets_tabs import a1_range, as_text, fit_cell
from coprod_core.flags import Severity
from coprod_core.lifecycle import STATUS_WORDS, ChangeKind, FlagChange, FlagStatus, StaffStatuses
from coprod_core.removed import keeps_about, removed_message

FLAG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fingerprint", "Fingerprint"),
    ("status", "Status"),
    ("severity", "Severity"),
    ("check", "Check"),
    ("subject", "Subject"),
    ("title", "Title"),
    ("message", "Message"),
    ("evidence", "Evidence"),
    ("first_seen", "First seen"),
    ("last_changed", "Last changed"),
)
"""(key, heading) of each column coprod keeps in the Flags tab, in the order it creates them."""

FLAG_HEADINGS: list[str] = [heading for _, heading in FLAG_COLUMNS]


def _norm_heading(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().casefold())


def evidence_text(evidence_json: str) -> str:
    """Evidence as ``n: 24; x: 1; share: 0.04`` so anyone can recompute a flag from the sheet."""
    try:
        data = json.loads(evidence_json)
    except ValueError:
        return evidence_json
    if not isinstance(data, dict):
        return evidence_json
    parts = []
    for key, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def subject_text(kind: str, subject_id: str) -> str:
    return f"{kind} {subject_id}"


def read_subject(text: str) -> tuple[str, str] | None:
    kind, _, subject_id = text.strip().partition(" ")
    return (kind.casefold(), subject_id.strip()) if subject_id.strip() else None


@dataclass(frozen=True)
class CellWrite:
    """One cell to write: sheet row (1-based), column (0-based) and its text."""

    row: int
    col: int
    value: str


@dataclass
class FlagRow:
    """What the Flags tab shows of one flag, enough to fill a subject's flags column."""

    status: FlagStatus | None
    subject: tuple[str, str] | None
    title: str
    severity: str


@dataclass
class FlagsTab:
    """The Flags tab as read: where each column and each fingerprint's row is."""

    title: str
    exists: bool
    header: list[str]
    columns: dict[str, int]
    header_writes: list[CellWrite]
    rows: dict[str, int] = field(default_factory=dict)
    shown: dict[str, FlagRow] = field(default_factory=dict)
    last_row: int = 1
    duplicates: int = 0
    unread: StaffStatuses = field(default_factory=StaffStatuses)
    """Status cells as staff left them, with where; only its unread words are used (the statuses
    themselves come from :attr:`shown`, which a write updates)."""

    @classmethod
    def parse(cls, title: str, values: Sequence[Sequence[Any]] | None, *, exists: bool = True) -> FlagsTab:
        """Read the tab. ``values`` None or empty: the tab is new (or blank) and gets a header row."""
        rows = [[as_text(c) for c in row] for row in (values or [])]
        header = [c.strip() for c in rows[0]] if rows else []
        columns: dict[str, int] = {}
        writes: list[CellWrite] = []
        by_heading = {_norm_heading(h): i for i, h in reversed(list(enumerate(header))) if h}
        next_free = len(header)
        for key, heading in FLAG_COLUMNS:
            i = by_heading.get(_norm_heading(heading), by_heading.get(_norm_heading(key)))
            if i is None:
                i = next_free
                next_free += 1
                writes.append(CellWrite(1, i, heading))
            columns[key] = i
        tab = cls(title=title, exists=exists, header=header, columns=columns, header_writes=writes)
        tab.last_row = max(len(rows), 1)

        def cell(row: list[str], key: str) -> str:
            i = columns[key]
            return row[i] if i < len(row) else ""

        for number, row in enumerate(rows[1:], start=2):
            fp = cell(row, "fingerprint").strip()
            if not fp:
                continue  # a row staff added for their own notes
            if fp in tab.rows:
                tab.duplicates += 1  # a copied row: the first one is coprod's, the copy is left alone
                continue
            tab.rows[fp] = number
            tab.shown[fp] = FlagRow(
                status=tab.unread.read(fp, cell(row, "status"), f"{title} tab row {number}"),
                subject=read_subject(cell(row, "subject")),
                title=cell(row, "title").strip(),
                severity=cell(row, "severity").strip().casefold(),
            )
        return tab

    @property
    def width(self) -> int:
        return max(self.columns.values()) + 1

    def staff_statuses(self) -> StaffStatuses:
        """fingerprint -> the status the tab shows, for every row whose status coprod understands;
        with each row's place, and the status words it did not understand."""
        out = StaffStatuses()
        for fp, row in self.shown.items():
            if row.status is not None:
                out[fp] = row.status
                out.where[fp] = f"{self.title} tab row {self.rows[fp]}"
        out.unread.extend(self.unread.unread)
        return out

    def plan(self, changes: Iterable[FlagChange]) -> list[CellWrite]:
        """The cells to write for these changes, and update :attr:`shown` to what the tab will show.

        A new flag goes on the first row after the last one read; an existing flag is rewritten in
        place; a resolved flag gets only its status and date changed (its words stay, for the
        record), unless its person left the people list (``ChangeKind.REMOVED``): then its subject
        keeps only its kind ("person"), and its message and evidence give way to
        :data:`~coprod_core.removed.ROW_MESSAGE`; its title, the rule's words, stays. A session's
        flag that named the person keeps its subject ("session S3") and says
        :data:`~coprod_core.removed.NAMED_ROW_MESSAGE`. A flag new to
        coprod's memory whose row staff already marked acknowledged or won't fix (the state store
        was lost or moved) keeps the staff's status.
        """
        writes: list[CellWrite] = list(self.header_writes)
        for change in changes:
            known = change.known
            row = self.rows.get(change.fingerprint)
            cells: dict[str, str] = {"last_changed": known.last_seen.isoformat()}
            if change.flag is None:
                if row is None:
                    continue  # resolved and nowhere to be seen: nothing to show
                cells["status"] = STATUS_WORDS[FlagStatus.RESOLVED]
                previous = self.shown[change.fingerprint]
                subject = previous.subject
                if change.kind is ChangeKind.REMOVED:  # its person left the people list: not who
                    kind = known.subject_kind
                    cells.update(message=removed_message(kind, row=True), evidence="")
                    if not keeps_about(kind):
                        cells["subject"] = kind.value
                        subject = None
                self.shown[change.fingerprint] = FlagRow(
                    FlagStatus.RESOLVED, subject, previous.title, previous.severity
                )
            else:
                flag = change.flag
                status = known.status
                existing = self.shown.get(change.fingerprint)
                keep_staff = (
                    change.kind is ChangeKind.NEW
                    and existing is not None
                    and existing.status is not None
                    and existing.status.is_staff_decision
                )
                if keep_staff and existing is not None and existing.status is not None:
                    status = existing.status
                else:
                    cells["status"] = STATUS_WORDS.get(status, status.value)
                subject = (flag.subject.kind.value, flag.subject.id)
                cells.update(
                    fingerprint=flag.fingerprint,
                    severity=flag.severity.value,
                    check=flag.check_id,
                    subject=subject_text(*subject),
                    title=flag.title,
                    message=flag.message,
                    evidence=evidence_text(flag.evidence_json),
                    first_seen=known.first_seen.isoformat(),
                )
                if row is None:
                    self.last_row += 1
                    row = self.last_row
                    self.rows[change.fingerprint] = row
                self.shown[change.fingerprint] = FlagRow(status, subject, flag.title, flag.severity.value)
            writes.extend(CellWrite(row, self.columns[key], fit_cell(text)) for key, text in cells.items())
        return writes

    def open_by_subject(self) -> dict[tuple[str, str], list[FlagRow]]:
        """(subject kind, id) -> the flags the tab shows as still open for it: the status "open",
        or a word coprod does not read (the flag is still open to coprod). Acknowledged, won't fix
        and resolved flags are left out: staff have answered them."""
        out: dict[tuple[str, str], list[FlagRow]] = {}
        for row in self.shown.values():
            if row.subject is not None and row.status in (FlagStatus.OPEN, None):
                out.setdefault(row.subject, []).append(row)
        return out


def column_text(rows: Iterable[FlagRow]) -> str:
    """A subject's flags column: the titles of its open flags, most severe first, one a line."""
    ranks = {s.value: s.rank for s in Severity}
    ordered = sorted(rows, key=lambda r: (-ranks.get(r.severity, -1), r.title))
    return fit_cell("\n".join(r.title for r in ordered))


class CellRun(NamedTuple):
    """Neighbouring cells of one row to write in one go: sheet row (1-based), first column
    (0-based) and their texts."""

    row: int
    col: int
    values: list[str]


def cell_runs(writes: Iterable[CellWrite]) -> list[CellRun]:
    """Group cell writes into the fewest runs that touch no other cell: one per run of
    neighbouring cells in a row, so a column staff inserted between coprod's is never written."""
    by_row: dict[int, dict[int, str]] = {}
    for w in writes:
        by_row.setdefault(w.row, {})[w.col] = w.value
    out: list[CellRun] = []
    for row in sorted(by_row):
        cols = by_row[row]
        ordered = sorted(cols)
        start = prev = ordered[0]
        for col in [*ordered[1:], None]:
            if col is not None and col == prev + 1:
                prev = col
                continue
            out.append(CellRun(row, start, [cols[c] for c in range(start, prev + 1)]))
            if col is not None:
                start = prev = col
    return out


def value_ranges(title: str, writes: Iterable[CellWrite]) -> list[dict[str, Any]]:
    """The ``data`` of a ``values:batchUpdate`` (sent RAW) writing these cells."""
    return [
        {
            "range": a1_range(title, run.row, run.col, run.col + len(run.values) - 1),
            "majorDimension": "ROWS",
            "values": [run.values],
        }
        for run in cell_runs(writes)
    ]


def update_cells_requests(sheet_id: int, writes: Iterable[CellWrite]) -> list[dict[str, Any]]:
    """The same cells as ``updateCells`` requests of a spreadsheet ``:batchUpdate``, for when the
    write must share one request with a change of the tab (a new tab, more rows). A text is a
    ``stringValue``, never parsed (like RAW: "=1+1" stays text); an empty text clears the cell."""
    return [
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": run.row - 1, "columnIndex": run.col},
                "rows": [
                    {"values": [{"userEnteredValue": {"stringValue": v}} if v else {} for v in run.values]}
                ],
                "fields": "userEnteredValue",
            }
        }
        for run in cell_runs(writes)
    ]
