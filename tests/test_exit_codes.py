"""Exit codes say whose problem it is, as README's table says: the recipe's (2) or a source's (3).

A data file that cannot be read as it is (another delimiter or encoding, a broken header row, not
CSV or Excel, empty) is a source problem, like an unreachable server: 3. A recipe that maps a
column, tab or sheet the data does not have, a wrong option, or a missing variable: 2.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.config import load_recipe
from coprod.sync import ExitCode, run
from fakes import ROOT

DAY = date(2026, 11, 20)


def people(demo: Path) -> Path:
    return demo / "data" / "people.csv"


def resave(path: Path, delimiter: str = ";") -> None:
    """Save a CSV again with another delimiter, as Excel does in much of Europe."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)


def semicolons(demo: Path) -> None:
    resave(people(demo))


def latin1(demo: Path) -> None:
    text = people(demo).read_text(encoding="utf-8").replace("Amira", "Zoë")
    people(demo).write_bytes(text.encode("latin-1"))


def header(old: str, new: str) -> Callable[[Path], None]:
    def change(demo: Path) -> None:
        lines = people(demo).read_text(encoding="utf-8").splitlines(keepends=True)
        people(demo).write_text(lines[0].replace(old, new) + "".join(lines[1:]), encoding="utf-8")

    return change


def empty(demo: Path) -> None:
    people(demo).write_text("", encoding="utf-8")


def quote_left_open(demo: Path) -> None:
    text = people(demo).read_text(encoding="utf-8")
    people(demo).write_text(text.replace("Amira Khan", '"Amira Khan', 1), encoding="utf-8")


def folder(demo: Path) -> None:
    people(demo).unlink()
    people(demo).mkdir()


def old_excel(demo: Path) -> None:
    people(demo).rename(demo / "data" / "people.xls")
    recipe = demo / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('"people.csv"', '"people.xls"'))


@pytest.mark.parametrize(
    ("damage", "code", "words"),
    [
        (semicolons, ExitCode.SOURCE_UNAVAILABLE, "people.csv looks separated by semicolons (;)"),
        (latin1, ExitCode.SOURCE_UNAVAILABLE, "people.csv is not in the UTF-8 encoding"),
        (header("Name", "Role"), ExitCode.SOURCE_UNAVAILABLE, "the header 'Role' appears twice"),
        (header(",Name,", ",,"), ExitCode.SOURCE_UNAVAILABLE, "column 2 has no header"),
        (empty, ExitCode.SOURCE_UNAVAILABLE, "people.csv is empty"),
        (old_excel, ExitCode.SOURCE_UNAVAILABLE, "people.xls is an old Excel (.xls) file"),
        (
            quote_left_open,
            ExitCode.SOURCE_UNAVAILABLE,
            "people.csv row 2 (from line 2 of the file): a cell in quotes",
        ),
        (folder, ExitCode.SOURCE_UNAVAILABLE, "people.csv is a folder, not a file"),
        (header("Role", "Roles"), ExitCode.CONFIG, "maps column 'Role'"),
    ],
    ids=[
        "semicolons",
        "encoding",
        "twice",
        "no-header",
        "empty",
        "xls",
        "quote",
        "folder",
        "mapped-column-missing",
    ],
)
def test_a_data_file_that_cannot_be_read_is_a_source_problem_and_a_recipe_misfit_a_config_one(
    demo: Path, damage: Callable[[Path], None], code: ExitCode, words: str
) -> None:
    damage(demo)
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == code
    assert words in result.messages[0]


def test_a_semicolon_csv_says_how_to_set_the_delimiter_and_then_reads(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    semicolons(demo)
    assert main(["check", str(demo), "--date", "2026-11-20"]) == 3
    out = capsys.readouterr().out
    assert "looks separated by semicolons (;), not by ','" in out
    assert "'Participant ID;Name;Role;" in out
    assert 'Set delimiter = ";" in [sources.exports]' in out
    recipe = demo / "recipe.toml"
    recipe.write_text(
        recipe.read_text().replace('connector = "files"', 'connector = "files"\ndelimiter = ";"')
    )
    for other in ("projects", "sessions", "attendance", "payments"):  # one delimiter for the folder
        resave(demo / "data" / f"{other}.csv")
    result = run(load_recipe(demo, env={}), mode="check", run_date=DAY)
    assert result.exit_code == ExitCode.OK, result.messages
    assert result.counts["people"].used == 40


def test_validate_refuses_a_delimiter_longer_than_one_character(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = demo / "recipe.toml"
    recipe.write_text(
        recipe.read_text().replace('connector = "files"', 'connector = "files"\ndelimiter = ";;"')
    )
    assert main(["validate", str(demo)]) == ExitCode.CONFIG
    assert "[sources.exports] delimiter" in capsys.readouterr().out


def not_a_folder(demo: Path) -> str:
    (demo / "taken").write_text("a file where the state's folder should be")
    return str(demo / "taken" / "state.sqlite")


def not_a_state_file(demo: Path) -> str:
    (demo / "state.sqlite").write_text("Participant ID,Name\n1,Amira Khan\n")
    return str(demo / "state.sqlite")


@pytest.mark.parametrize(
    ("command", "where", "code", "words"),
    [
        ("sync", not_a_folder, ExitCode.SOURCE_UNAVAILABLE, "state.sqlite could not be opened ("),
        ("sync", not_a_state_file, ExitCode.SOURCE_UNAVAILABLE, "state.sqlite is not a coprod state file"),
        ("report", not_a_state_file, ExitCode.SOURCE_UNAVAILABLE, "state.sqlite is not a coprod state file"),
        ("report", lambda demo: "mysql://coprod:hunter2@db/coprod", ExitCode.CONFIG, "'mysql://...' is not"),
    ],
    ids=["sync-folder-is-a-file", "sync-not-a-database", "report-not-a-database", "report-unknown-address"],
)
def test_a_state_store_that_cannot_be_opened_is_said_with_its_exit_code_by_sync_and_report(
    demo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: Callable[[Path], str],
    code: ExitCode,
    words: str,
) -> None:
    """They ended in "something unexpected went wrong" (exit 1). (A report where no state file
    exists is written without history: it never creates one.)"""
    monkeypatch.setenv("COPROD_STATE", where(demo))
    out = ["--out", str(demo / "report.html")] if command == "report" else []
    assert main([command, str(demo), "--date", "2026-11-20", *out]) == code
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert words in text and "unexpected" not in text
    assert "hunter2" not in text and "Amira" not in text
    assert not (demo / "report.html").exists()


def test_a_sync_stops_before_writing_when_staff_deleted_the_flags_files_fingerprint_column(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == ExitCode.OK
    flags = demo / "data" / "coprod-flags.csv"
    with flags.open(encoding="utf-8-sig", newline="") as handle:
        rows = [{k: v for k, v in r.items() if k != "Fingerprint"} for r in csv.DictReader(handle)]
    with flags.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "Status": "acknowledged"} for r in rows)
    before = flags.read_bytes()
    capsys.readouterr()
    assert main(["sync", str(demo), "--date", "2026-11-21"]) == ExitCode.SOURCE_UNAVAILABLE
    out = capsys.readouterr().out
    assert "coprod-flags.csv has no Fingerprint column" in out and "nothing was written" in out
    assert flags.read_bytes() == before


def readme_exit_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### Exit codes", 1)[1].split("###", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d) \| (.+) \|$", table, re.MULTILINE)}


def test_the_readme_exit_code_table_is_the_codes_coprod_uses() -> None:
    table = readme_exit_codes()
    assert sorted(table) == sorted(int(c) for c in ExitCode)
    assert "does not fit" in table[ExitCode.CONFIG]  # a mapped column missing: 2
    for words in ("cannot be read as it is", "delimiter", "encoding", "header row"):
        assert words in table[ExitCode.SOURCE_UNAVAILABLE]
