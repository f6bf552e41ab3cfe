"""A Fingerprint a spreadsheet program turned into a number (``coprod_core.spreadsheet_numbers``).

About one fingerprint in ten thousand is made of digits (or digits and one ``e`` near the end).
Opened in Excel and saved, the flags file says ``1.23457E+19`` in its place: the status staff set
on that row was read for no flag and nothing said so (walkthrough). Now the row is found for the
flag it was, its status honoured, and its fingerprint written back as it was.
"""

from __future__ import annotations

import csv
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import coprod_core.flags
from coprod.cli import main
from coprod.state import StateStore
from coprod_core.lifecycle import FlagStatus, StaffStatuses, status_warnings
from coprod_core.spreadsheet_numbers import looks_like_a_number, number_made_of

DATE = ["--date", "2026-11-20"]
FP = "12345678901234567890"
OTHERS = ["8e240d3603c98302583d", "98765432109876543210", "12345999999999999999", "1234567890123456e789"]


@pytest.mark.parametrize(
    ("cell", "was"),
    [
        ("1.23457E+19", FP),  # Excel's General format, a column of usual width
        ("1.23456789012346E+019", FP),  # LibreOffice
        ("12345678901234600000", FP),  # Excel, a wide column: 15 digits kept (rounded), then zeros
        ("9.87654E+19", "98765432109876543210"),
        ("1.23457E+804", "1234567890123456e789"),  # digits, then an exponent: a number too
        ("1.2346E+19", None),  # FP and 12345999999999999999 both show so: neither is taken
        ("8e240d3603c98302583d", None),  # a fingerprint as written
        ("acknowledged", None),
        ("5.5E+3", None),  # a number no fingerprint became
    ],
)
def test_the_flag_a_number_was_is_found_among_the_fingerprints_known(cell: str, was: str | None) -> None:
    assert number_made_of(cell, [FP, *OTHERS]) == was


def test_a_number_is_told_from_a_fingerprint_of_digits_written_as_it_was() -> None:
    assert looks_like_a_number("1.23457E+19") and looks_like_a_number("123456789012345678901234")
    assert not looks_like_a_number(FP) and not looks_like_a_number("8e240d3603c98302583d")


def test_statuses_read_under_numbers_go_to_their_flags_and_are_said() -> None:
    staff = StaffStatuses()
    staff.read("1.23457E+19", "acknowledged", "coprod-flags.csv row 2")
    staff.read("4.5E+19", "won't fix", "coprod-flags.csv row 3")  # no flag known shows so
    staff.read("98765432109876543210", "wont fix", "coprod-flags.csv row 4")

    assert staff.restore_numbers({FP, *OTHERS}) == {FP}

    assert staff == {
        FP: FlagStatus.ACKNOWLEDGED,
        "98765432109876543210": FlagStatus.WONT_FIX,
        "4.5E+19": FlagStatus.WONT_FIX,
    }
    assert staff.where[FP] == "coprod-flags.csv row 2"
    said = status_warnings(staff)
    assert len(said) == 2
    assert "1 Fingerprint(s) turned into a number" in said[0] and "row 2 says '1.23457E+19'" in said[0]
    assert "Data > From Text/CSV" in said[0]
    assert "match no one flag coprod knows" in said[1] and "row 3 says '4.5E+19'" in said[1]


class _Sha256:
    """hashlib.sha256 whose hex digest has digits for letters: every fingerprint made of digits."""

    def __init__(self, data: bytes) -> None:
        self._hash = hashlib.sha256(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest().translate(str.maketrans("abcdef", "012345"))


class _Hashlib:
    sha256 = _Sha256


def flag_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def as_excel_shows(fingerprint: str) -> str:
    """What Excel writes back for a cell it read as a number: six significant digits."""
    mantissa, exponent = f"{Decimal(fingerprint):.5E}".split("E")
    return f"{mantissa}E+{int(exponent):02d}"


def test_a_status_set_on_a_row_excel_turned_into_a_number_is_kept_and_the_fingerprint_put_back(
    demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(coprod_core.flags, "hashlib", _Hashlib)
    monkeypatch.chdir(demo)
    assert main(["sync", str(demo), *DATE]) == 0
    flags = demo / "data" / "coprod-flags.csv"
    rows = flag_rows(flags)
    assert rows and all(r["Fingerprint"].isdigit() for r in rows)
    mangled = rows[3]
    fingerprint, cell = mangled["Fingerprint"], as_excel_shows(mangled["Fingerprint"])
    mangled.update(Fingerprint=cell, Status="acknowledged")  # staff's answer, saved from Excel
    write_rows(flags, rows)
    capsys.readouterr()

    assert main(["sync", str(demo), *DATE]) == 0

    said = capsys.readouterr()
    assert f"coprod-flags.csv row 5 says '{cell}'" in said.out + said.err
    after = flag_rows(flags)
    assert len(after) == len(rows)  # the row itself, not a second one for the same flag
    assert [r["Fingerprint"] for r in after] == [r["Fingerprint"] for r in flag_rows_with(rows, fingerprint)]
    assert next(r for r in after if r["Fingerprint"] == fingerprint)["Status"] == "acknowledged"
    store = StateStore.open(demo / ".coprod" / "state.sqlite")
    try:
        assert store.known_flags("demo")[fingerprint].status is FlagStatus.ACKNOWLEDGED
    finally:
        store.close()
    assert main(["sync", str(demo), *DATE]) == 0
    again = capsys.readouterr()
    assert "turned into a number" not in again.out + again.err  # put back: said once


def flag_rows_with(rows: list[dict[str, Any]], fingerprint: str) -> list[dict[str, Any]]:
    """The rows as they were before the spreadsheet, with the fingerprint written back."""
    return [{**r, "Fingerprint": fingerprint} if looks_like_a_number(r["Fingerprint"]) else r for r in rows]


def test_the_warning_the_files_readme_shows_is_the_one_a_sync_gives() -> None:
    staff = StaffStatuses()
    staff.read("1.23457E+19", "acknowledged", "coprod-flags.csv row 5")
    staff.restore_numbers({FP})
    (said,) = status_warnings(staff)
    readme = (Path(__file__).resolve().parents[1] / "recipes" / "files" / "README.md").read_text(
        encoding="utf-8"
    )
    assert f"coprod: warning: {said}\n" in readme
