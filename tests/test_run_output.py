"""What a run prints agrees with what it did: no summary of checks that never ran, no "written"
for what was not written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.connectors.base import SourceUnavailable
from coprod.connectors.files import FilesConnector

DATE = ["--date", "2026-11-20"]


def pay_one_owed_fee(demo: Path) -> None:
    """A payment that resolves exactly one flag (person 9's owed fee for S13)."""
    with (demo / "data" / "payments.csv").open("a", encoding="utf-8") as handle:
        handle.write("PAY900,9,60.00,19/11/2026,Fee,S13\n")


def test_a_run_stopped_by_the_shrink_guard_shows_no_sync_summary_and_no_flag_count(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(demo), *DATE]) == 0
    people = demo / "data" / "people.csv"
    people.write_text("\n".join(people.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["sync", str(demo), *DATE]) == 5
    out = capsys.readouterr().out
    assert "far fewer usable rows" in out
    assert "Stopped 'demo': nothing was written" in out
    assert "Synced" not in out and "flags       0" not in out
    assert "not checked: the run stopped before the checks" in out


def test_a_second_demo_run_does_not_say_flags_were_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "d"
    assert main(["demo", "--dir", str(folder)]) == 0
    first = capsys.readouterr().out
    assert f"Flags written to {folder / 'data' / 'coprod-flags.csv'}" in first
    assert "Nothing changed" not in first
    assert main(["demo", "--dir", str(folder)]) == 0
    second = capsys.readouterr().out
    assert "Nothing changed since the last run, so nothing was written." in second
    assert "Flags written" not in second
    assert f"The flags are in {folder / 'data' / 'coprod-flags.csv'}, as the last run left them" in second


def test_a_failed_write_is_counted_as_not_written(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", str(demo), *DATE]) == 0
    pay_one_owed_fee(demo)
    flags = demo / "data" / "coprod-flags.csv"
    flags.unlink()
    flags.mkdir()  # the flags file cannot be replaced: the write fails whoever runs it (root too)
    capsys.readouterr()
    assert main(["sync", str(demo), *DATE]) == 4
    out = capsys.readouterr().out
    assert "coprod-flags.csv could not be written" in out
    assert "1 resolved;" in out and "resolved (written back)" not in out
    assert "written     0 of 1 change(s)" in out
    assert "not written 1 (tried again next run)" in out


def test_a_write_refused_by_the_source_is_counted_as_not_written(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["sync", str(demo), *DATE]) == 0
    pay_one_owed_fee(demo)

    def down(self: FilesConnector, changes: object) -> None:
        raise SourceUnavailable("the server kept failing (HTTP 503) after 5 tries")

    monkeypatch.setattr(FilesConnector, "write_flags", down)
    capsys.readouterr()
    assert main(["sync", str(demo), *DATE]) == 4
    out = capsys.readouterr().out
    assert "writing flags to source 'exports' failed: the server kept failing" in out
    assert "written     0 of 1 change(s)" in out
    assert "not written 1 (tried again next run)" in out
    assert main(["sync", str(demo), "--json", *DATE]) == 4  # and --json counts it the same way
    assert '"failed": 1' in capsys.readouterr().out


def coprod(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """The installed ``coprod`` command in a new process, its output into a pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from coprod.cli import main; sys.exit(main())", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )


@pytest.mark.parametrize("stop_after", [0, 1], ids=["reads-nothing", "reads-one-line"])
def test_check_into_a_reader_that_stops_early_ends_quietly_with_no_traceback(
    demo: Path, stop_after: int
) -> None:
    proc = coprod("check", str(demo), *DATE, cwd=demo.parent)
    assert proc.stdout is not None and proc.stderr is not None
    if stop_after:
        assert proc.stdout.readline().startswith(b"Checked 'demo'")
    proc.stdout.close()  # the reader goes away, as `head` does, with most of the output unread
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_a_sync_whose_reader_stopped_early_still_writes_back_and_exits_0(demo: Path) -> None:
    proc = coprod("sync", str(demo), *DATE, cwd=demo.parent)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert (demo / "data" / "coprod-flags.csv").is_file()


def test_a_sync_after_a_person_is_deleted_says_their_flags_were_removed_and_a_dry_run_says_would(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(demo), *DATE]) == 0
    people = demo / "data" / "people.csv"
    lines = people.read_text(encoding="utf-8").splitlines()
    (nine,) = [i for i, line in enumerate(lines) if line.startswith("9,")]
    people.write_text("\n".join(lines[:nine] + lines[nine + 1 :]) + "\n", encoding="utf-8")
    capsys.readouterr()

    assert main(["sync", str(demo), *DATE, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert main(["sync", str(demo), *DATE]) == 0
    out = capsys.readouterr().out
    assert main(["sync", str(demo), *DATE]) == 0
    again = capsys.readouterr().out

    said = "flag(s) about 1 person no longer in the people list: their names and details"
    assert f"{said} would be replaced where coprod wrote them" in dry
    assert f"{said} are replaced where coprod wrote them" in out
    assert "  removed     " in out and said not in again
    # how many people, so staff notice a number they did not expect (a key that sees fewer contacts)
    assert "not expected? Check the people list's source" in out and "not expected?" not in again
    assert main(["sync", str(demo), *DATE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_people"] == 0


def test_the_changes_line_counts_the_flags_closed_because_their_person_was_removed_as_its_json_does(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data officer read "0 resolved" of a run that had just closed a removed person's flags (they
    were only on the "removed" line, which counts words replaced, those of flags resolved before
    too). The changes line says how many it closed, beside those the data resolved, and the removed
    line how many of its flags were resolved before; --json gives the same numbers."""
    from coprod.state import StateStore
    from coprod_core.lifecycle import FlagStatus

    assert main(["sync", str(demo), *DATE]) == 0
    pay_one_owed_fee(demo)  # person 9's one flag resolved; person 26's two stay open
    assert main(["sync", str(demo), *DATE]) == 0
    store = StateStore.open(demo / ".coprod" / "state.sqlite")
    known = store.known_flags("demo").values()
    store.close()
    theirs = {pid: [k.status for k in known if k.subject_id == pid] for pid in ("9", "26")}
    assert theirs == {"9": [FlagStatus.RESOLVED], "26": [FlagStatus.OPEN, FlagStatus.OPEN]}
    people = demo / "data" / "people.csv"
    lines = people.read_text(encoding="utf-8").splitlines()
    kept = [x for x in lines if x.split(",", 1)[0] not in theirs]
    people.write_text("\n".join(kept) + "\n", encoding="utf-8")
    capsys.readouterr()

    assert main(["sync", str(demo), *DATE, "--dry-run", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert main(["sync", str(demo), *DATE]) == 0
    out = capsys.readouterr().out

    assert changes["closed_as_removed"] == 2 and changes["removed"] == 3
    assert (
        f"{changes['resolved']} resolved, 2 closed as their person was removed; "
        f"{changes['still_open']} still open" in out
    )
    assert (
        "removed     3 flag(s) about 2 people no longer in the people list (1 of them resolved before): "
        "their names and details are replaced" in out
    )
    assert main(["sync", str(demo), *DATE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"]["closed_as_removed"] == 0
    pay_one_owed_fee(demo)  # nothing else changes: the line says nothing of people removed
    assert main(["sync", str(demo), *DATE]) == 0
    assert "closed as their person" not in capsys.readouterr().out


def test_a_sync_that_takes_several_people_as_removed_counts_them_in_the_summary_and_its_json(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(demo), *DATE]) == 0
    flags = list(csv.DictReader((demo / "data" / "coprod-flags.csv").open(encoding="utf-8-sig")))
    people = demo / "data" / "people.csv"
    lines = people.read_text(encoding="utf-8").splitlines()
    ids = [line.split(",", 1)[0] for line in lines[1:]]
    flagged = [pid for pid in ids if any(f"(ID {pid})" in f["About"] for f in flags)][:3]
    assert len(flagged) == 3
    people.write_text(
        "\n".join(line for line in lines if line.split(",", 1)[0] not in flagged) + "\n", encoding="utf-8"
    )
    capsys.readouterr()

    assert main(["sync", str(demo), *DATE, "--json"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["removed_people"] == 3 and summary["changes"]["removed"] >= 3


def test_a_sessions_hours_flag_closed_as_someone_it_named_was_removed_is_not_counted_as_about_a_person(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hours flag is about a session; it names who gave it more hours than it lasted. Deleting
    that person (a member of staff coprod flagged nothing else about) closes it, and the changes line
    said '1 closed as their person was removed', of a flag about no person."""
    path = demo / "data" / "attendance.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if (row["Person ID"], row["Session ID"]) == ("33", "S01"):
            row["Hours"] = "5"  # S01 lasted 2 hours
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    assert main(["sync", str(demo), *DATE]) == 0
    people = demo / "data" / "people.csv"
    lines = people.read_text(encoding="utf-8").splitlines()
    people.write_text("\n".join(x for x in lines if not x.startswith("33,")) + "\n", encoding="utf-8")
    capsys.readouterr()

    assert main(["sync", str(demo), *DATE, "--dry-run", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert main(["sync", str(demo), *DATE]) == 0
    out = capsys.readouterr().out

    assert changes["closed_as_removed"] == 0 and changes["closed_as_named_removed"] == 1
    assert changes["removed"] == 1
    assert "closed as their person was removed" not in out
    assert f"{changes['resolved']} resolved, 1 closed as someone they named was removed; " in out
    assert (
        "removed     1 flag(s) about or naming 1 person no longer in the people list: their names and "
        "details are replaced" in out
    )
