"""Statuses staff type on flags: one reading for every tool, and a warning naming the rows coprod
could not understand (or could not honour), once per run."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from coprod.cli import main
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import (
    STAFF_STATUS_WORDS,
    FlagStatus,
    StaffStatuses,
    UnreadStatus,
    diff_flags,
    read_status,
    status_warnings,
)

DAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("typed", "status"),
    [
        ("acknowledged", FlagStatus.ACKNOWLEDGED),
        (" Acknowledged ", FlagStatus.ACKNOWLEDGED),
        ("ACK", FlagStatus.ACKNOWLEDGED),
        ("won’t fix", FlagStatus.WONT_FIX),
        ("WONT-FIX", FlagStatus.WONT_FIX),
        ("wont_fix", FlagStatus.WONT_FIX),
        ("open", FlagStatus.OPEN),
        ("resolved", FlagStatus.RESOLVED),
        ("done", None),
        ("", None),
    ],
)
def test_status_words_read_the_same_in_every_tool(typed: str, status: FlagStatus | None) -> None:
    assert read_status(typed) is status


def test_a_word_not_understood_is_kept_with_its_place_and_the_words_that_would_work() -> None:
    staff = StaffStatuses()
    assert staff.read("f1", "done", "coprod-flags.csv row 2") is None
    assert staff.read("f2", "ACK", "coprod-flags.csv row 3") is FlagStatus.ACKNOWLEDGED
    assert staff.read("f3", "  ", "coprod-flags.csv row 4") is None  # blank: nothing to say
    assert staff == {"f2": FlagStatus.ACKNOWLEDGED}
    assert staff.unread == [UnreadStatus("coprod-flags.csv row 2", "done", STAFF_STATUS_WORDS)]
    [warning] = status_warnings(staff)
    assert "coprod-flags.csv row 2 says 'done'" in warning
    assert "acknowledged, won't fix" in warning


def test_resolved_typed_on_a_flag_still_raised_is_reported_and_left_open() -> None:
    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PERSON, id="17"),
        title="Payment owed",
        message="owed",
        evidence={"amount": "75.00"},
    )
    known = diff_flags({}, [flag], {}, DAY).next_state
    staff = StaffStatuses()
    staff.read(flag.fingerprint, "Resolved", "Flags tab row 9")
    diff = diff_flags(known, [flag], staff, DAY)
    assert diff.resolved_by_staff == [flag.fingerprint]
    assert diff.next_state[flag.fingerprint].status is FlagStatus.OPEN
    [warning] = status_warnings(staff, diff)
    assert "Flags tab row 9" in warning and "acknowledged or won't fix" in warning
    # once coprod itself resolved it, the word 'resolved' in the row is its own, not staff's
    gone = diff_flags(known, [], {}, DAY)
    assert diff_flags(gone.next_state, [], staff, DAY).resolved_by_staff == []


def set_statuses(flags_file: Path, statuses: dict[int, str]) -> None:
    """Type statuses into rows of the flags CSV (by spreadsheet row number), as staff would."""
    with flags_file.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index(next(h for h in rows[0] if h.casefold() == "status"))
    for number, word in statuses.items():
        rows[number - 1][column] = word
    with flags_file.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_status_words_not_understood_in_the_flags_file_are_named_once_per_run(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync = ["sync", str(demo), "--date", "2026-11-20"]
    assert main(sync) == 0
    set_statuses(demo / "data" / "coprod-flags.csv", {2: "done", 3: "Done", 4: "ACK", 5: "resolved"})
    capsys.readouterr()
    for _ in range(2):  # every run says it again (cron mails it), once, until staff change the word
        assert main(sync) == 0
        out = capsys.readouterr().out
        [unknown] = [line for line in out.splitlines() if "not understood" in line]
        assert unknown.startswith("coprod: warning: 2 flag status(es) not understood")
        assert "coprod-flags.csv row 2 says 'done'; coprod-flags.csv row 3 says 'Done'" in unknown
        assert "acknowledged, won't fix" in unknown
        [resolved] = [line for line in out.splitlines() if "marked 'resolved'" in line]
        assert "coprod-flags.csv row 5" in resolved
        assert "1 kept as staff marked them" in out  # ACK is understood


def _edit_csv(path: Path, change: Callable[[list[dict[str, str]]], None]) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    change(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)


def _cell(person: str, session: str, column: str, value: str) -> Callable[[list[dict[str, str]]], None]:
    def change(rows: list[dict[str, str]]) -> None:
        for row in rows:
            if (row["Person ID"], row["Session ID"]) == (person, session):
                row[column] = value

    return change


def test_an_acknowledged_hours_flag_stays_so_when_other_cells_of_its_rows_or_session_change(
    demo: Path,
) -> None:
    """The hours flag about S01 lists who gave it more hours than it lasted (person 33: 5 hours,
    person 34: 4, at a 2-hour session). Staff acknowledge it. Another cell of those rows, another
    row of the session that stays within its length, the session's own other cells, or the same
    hours typed another way change nothing it says: it stays acknowledged and nothing is written.
    A listed row's hours changing (34: 4 to 4.5) changes its Evidence (each row's hours), so it
    is shown again, open, with the new hours."""
    data = demo / "data"
    attendance, flags_file = data / "attendance.csv", data / "coprod-flags.csv"
    _edit_csv(attendance, _cell("33", "S01", "Hours", "5"))
    _edit_csv(attendance, _cell("34", "S01", "Hours", "4"))
    date_ = ["--date", DAY.isoformat()]
    assert main(["sync", str(demo), *date_]) == 0

    def hours_row() -> dict[str, str]:
        with flags_file.open(encoding="utf-8-sig", newline="") as handle:
            (row,) = [r for r in csv.DictReader(handle) if r["Check"] == "data_quality.hours_over_session"]
        return row

    def acknowledge(rows: list[dict[str, str]]) -> None:
        for row in rows:
            if row["Check"] == "data_quality.hours_over_session":
                row["Status"] = "acknowledged"

    _edit_csv(flags_file, acknowledge)
    assert main(["sync", str(demo), *date_]) == 0
    marked = hours_row()
    assert marked["Status"] == "acknowledged" and '"hours": "4"' in marked["Evidence"]

    def session_title(rows: list[dict[str, str]]) -> None:
        for row in rows:
            if row["Session ID"] == "S01":
                row["Title"], row["Hours"] = "Budget meeting (room 2)", "2.0"

    unrelated = [
        (attendance, _cell("33", "S01", "Prep hours", "1")),
        (attendance, _cell("34", "S01", "Expenses", "3.20")),
        (attendance, _cell("35", "S01", "Prep hours", "1")),
        (attendance, _cell("35", "S01", "Hours", "1.5")),
        (attendance, _cell("33", "S01", "Hours", "5.0")),
        (data / "sessions.csv", session_title),
    ]
    for path, change in unrelated:
        _edit_csv(path, change)
        assert main(["sync", str(demo), *date_]) == 0
        assert hours_row() == marked, change

    _edit_csv(attendance, _cell("34", "S01", "Hours", "4.5"))
    assert main(["sync", str(demo), *date_]) == 0
    shown = hours_row()
    assert shown["Status"] == "open" and shown["Fingerprint"] == marked["Fingerprint"]
    assert '"hours": "4.5"' in shown["Evidence"]
