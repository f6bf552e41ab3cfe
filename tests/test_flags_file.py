"""The flags CSV reads like a list for a project worker: who or what, the flag, its status first;
the fingerprint, check id and evidence (for recomputing) last. Older files still read."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from coprod.config import load_recipe
from coprod.connectors.files import FLAG_HEADINGS
from coprod.sync import ExitCode, run
from coprod_core.flags import SubjectKind
from coprod_core.text import day

DAY = date(2026, 11, 20)
OLD_HEADER = [
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
]
"""The first layout of coprod-flags.csv, as files written before this change have it."""


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def table(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {r[next(iter(r))]: r for r in csv.DictReader(handle)}


def test_readable_columns_come_first_naming_who_or_what_each_flag_is_about(demo: Path) -> None:
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.OK, result.messages
    header, rows = read(demo / "data" / "coprod-flags.csv")
    assert header == list(FLAG_HEADINGS)
    assert header[:4] == ["About", "Title", "Message", "Status"]
    assert header[-3:] == ["Fingerprint", "Check", "Evidence"]
    people = table(demo / "data" / "people.csv")
    sessions = table(demo / "data" / "sessions.csv")
    about = {r["Fingerprint"]: r["About"] for r in rows}
    kinds = set()
    for flag in result.flags:
        kind, subject_id = flag.subject.kind, flag.subject.id
        kinds.add(kind)
        if kind is SubjectKind.PERSON:
            assert about[flag.fingerprint] == f"{people[subject_id]['Name']} (ID {subject_id})"
        elif kind is SubjectKind.SESSION:
            session = sessions[subject_id]
            on = day(datetime.strptime(session["Date"], "%d/%m/%Y").date())
            assert about[flag.fingerprint] == f"{session['Title']}, {on} (ID {subject_id})"
        elif kind is SubjectKind.PROJECT:
            assert about[flag.fingerprint] in ("Day service redesign (ID DSR)", "Peer support line (ID PSL)")
        else:
            assert about[flag.fingerprint] == flag.evidence["row"]  # "attendance.csv row 12"
    assert kinds == set(SubjectKind)


def test_a_flags_file_in_the_old_layout_keeps_staff_marks_columns_and_rows_and_turns_readable(
    demo: Path,
) -> None:
    loaded = load_recipe(demo, env={})
    first = run(loaded, run_date=DAY)
    flags_file = demo / "data" / "coprod-flags.csv"
    _, rows = read(flags_file)
    subject = {f.fingerprint: str(f.subject) for f in first.flags}
    # The same flags as the first layout wrote them, then marked up by staff in a spreadsheet.
    acknowledged = rows[0]["Fingerprint"]
    with flags_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*OLD_HEADER, "notes"])
        for r in rows:
            status = "acknowledged" if r["Fingerprint"] == acknowledged else "open"
            writer.writerow(
                [r["Fingerprint"], status, r["Severity"], r["Check"], subject[r["Fingerprint"]], r["Title"]]
                + [r["Message"], r["Evidence"], r["First seen"], r["Last seen"], "rang them"]
            )
        writer.writerow(["", "", "", "", "", "Ring the carers' forum", "", "", "", "", "staff row"])

    with (demo / "data" / "payments.csv").open("a", encoding="utf-8") as handle:
        handle.write("PAY900,9,60.00,19/11/2026,Fee,S13\n")  # resolves one flag: the file is rewritten
    second = run(loaded, run_date=DAY)

    assert second.exit_code == ExitCode.OK, second.messages
    assert second.diff is not None and second.diff.kept_by_staff == 1
    assert [c.kind.value for c in second.diff.changes] == ["resolved"]
    header, after = read(flags_file)
    assert header == [*FLAG_HEADINGS[:7], "notes", *FLAG_HEADINGS[7:]]  # staff's column before the machine's
    by_fp = {r["Fingerprint"]: r for r in after}
    assert by_fp[acknowledged]["Status"] == "acknowledged"
    assert by_fp[acknowledged]["About"] == subject[acknowledged]  # the old subject, until rewritten
    assert by_fp[second.diff.changes[0].fingerprint]["Status"] == "resolved"
    assert all(r["notes"] == "rang them" for r in after if r["Fingerprint"])
    assert after[-1]["Title"] == "Ring the carers' forum" and after[-1]["notes"] == "staff row"
    assert len(after) == len(rows) + 1
    third = run(loaded, run_date=DAY)  # and it reads back: nothing to change
    assert third.diff is not None and third.diff.changes == [] and third.diff.kept_by_staff == 1
