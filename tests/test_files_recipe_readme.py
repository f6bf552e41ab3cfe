"""recipes/files/: the step-by-step page for a charity whose records are CSV or Excel exports.

A charity worker follows the page from nothing, comparing what their terminal prints with what the
page quotes. Each test runs the recipe as the page says, from a copy of the folder outside the
repository, and compares: the recipe valid as it stands, every commented-out line of it valid once
its `#` is removed, each output and each error the page quotes the one coprod prints for it, and
each exit code the page gives the one coprod ends with. So the page cannot drift from the code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.connectors.files import _could_not_read
from fakes import ROOT

RECIPE = ROOT / "recipes" / "files"
README = RECIPE / "README.md"
BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def block_starting(start: str) -> str:
    (found,) = [b for b in blocks() if b.startswith(start)]
    return found


def prose() -> str:
    """The page's words outside its code blocks, on one line (quotes may wrap)."""
    return " ".join(BLOCK.sub("", README.read_text(encoding="utf-8")).split())


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder copied out as step 1 does, with the terminal standing in it (step 1's `cd`)."""
    folder = tmp_path / "our-project"
    shutil.copytree(RECIPE, folder, ignore=shutil.ignore_patterns("coprod-flags.csv", ".coprod"))
    monkeypatch.chdir(folder)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_example_recipe_is_valid_as_it_stands_and_validate_prints_what_step_2_quotes(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "validate", "recipe.toml")
    assert code == 0
    assert out.strip() == block_starting("recipe.toml: recipe 'our-coproduction-group' is valid").strip()


@pytest.mark.parametrize(
    "line",
    [
        'delimiter = ";"',
        'encoding = "cp1252"',
        "day_first = false",
        'options = { sheet = "People" }',
        'plan_drafted = "no plan before"',
        'decision_group = ["1", "2", "5"]',
        "values_reviewed = 2026-10-08",
    ],
)
def test_each_line_the_recipe_comments_out_is_a_key_coprod_takes_once_its_hash_is_removed(
    copy: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    recipe = copy / "recipe.toml"
    text = recipe.read_text(encoding="utf-8")
    commented = re.compile(rf"^# {re.escape(line)}(?=\s|$)", re.M)
    assert commented.search(text), f"recipe.toml has no '# {line}'"
    if line.startswith("options"):  # a sheet is for an Excel file: the page's people.xlsx
        text = text.replace('location = "people.csv"', 'location = "people.xlsx"')
    recipe.write_text(commented.sub(line, text, count=1), encoding="utf-8")

    code, out, err = run(capsys, "validate", "recipe.toml")

    assert code == 0, out + err
    if line in ('delimiter = ";"', 'encoding = "cp1252"', "day_first = false"):
        assert f"`# {line}`" in prose(), "the page names the line to uncomment"


def test_every_key_the_recipe_shows_is_one_the_recipe_takes(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Uncomment every `# key = value` line at once (but the second of two for one key, and the
    sheet of an Excel file): the recipe, as a worker might end with, is still valid."""
    text = (copy / "recipe.toml").read_text(encoding="utf-8")
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        found = re.match(r"# ([a-z_]+) = (.*)$", line)
        if (
            found
            and found[1] not in seen
            and found[1] not in ("options", "from", "source", "rates", "minimum_hours")
        ):
            seen.add(found[1])
            line = line[2:]
        lines.append(line)
    (copy / "recipe.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert {"delimiter", "encoding", "day_first", "decision_group", "co_chairs"} <= seen

    code, out, err = run(capsys, "validate", "recipe.toml")

    assert code == 0, out + err


def test_check_on_the_example_files_prints_what_step_5_quotes(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "`coprod check --date 2026-04-20 recipe.toml`" in README.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "check", "--date", "2026-04-20", "recipe.toml")
    assert code == 0
    assert out.strip() == block_starting("Checked 'our-coproduction-group' (nothing written)").strip()


def test_sync_writes_the_flags_file_step_7_describes_keeps_a_staff_mark_and_warns_of_a_word_it_does_not_know(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sync", "recipe.toml")
    assert code == 0
    for line in block_starting("  changes").splitlines():
        assert line in out.splitlines()
    flags = copy / "example-data" / "coprod-flags.csv"
    header = flags.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    table = [row.split("|")[1].strip() for row in readme_table("| Column |")]
    assert header == [name for cell in table for name in cell.split(", ")]

    code, out, _ = run(capsys, "sync", "recipe.toml")
    assert (code, out) == (0, ""), "step 6: nothing changed, nothing printed"

    for word in ("acknowledged", "won't fix", "ack", "seen", "wontfix"):
        assert f"`{word}`" in prose()
    flags.write_text(flags.read_text(encoding="utf-8-sig").replace(",open,", ",won't fix,"), encoding="utf-8")
    code, out, _ = run(capsys, "sync", "recipe.toml")
    assert code == 0
    code, out, _ = run(capsys, "status", "recipe.toml")
    assert code == 0 and "marked 1 won't fix" in out

    flags.write_text(flags.read_text(encoding="utf-8-sig").replace(",won't fix,", ",done,"), encoding="utf-8")
    code, out, err = run(capsys, "sync", "recipe.toml")
    (warning,) = [b.strip() for b in blocks() if b.startswith("coprod: warning:") and "not understood" in b]
    assert code == 0 and warning in (out + err).splitlines()


def test_a_flags_file_moved_away_is_written_again_with_every_flag_still_raised_and_its_status(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sync writes only what changed: moved away (as the "no Fingerprint column" refusal advises,
    # "to have every flag written afresh") or deleted, the flags file was never written again, and
    # each run printed nothing. Moving from the example files to your own (step 4) lost the flags
    # already raised the same way.
    flags = copy / "example-data" / "coprod-flags.csv"
    assert run(capsys, "sync", "--date", "2026-04-20", "recipe.toml")[0] == 0
    flags.write_text(
        flags.read_text(encoding="utf-8-sig").replace(",open,", ",acknowledged,"), encoding="utf-8"
    )
    assert run(capsys, "sync", "--date", "2026-04-20", "recipe.toml")[:2] == (0, "")
    flags.rename(copy / "old-flags.csv")

    code, out, err = run(capsys, "sync", "--date", "2026-04-20", "recipe.toml")

    assert code == 0
    warning = (
        "coprod: warning: coprod-flags.csv held none of coprod's flags (deleted or moved away?): 1 of the 1 "
        "flag(s) still raised written to it again"
    )
    assert warning in (out + err).splitlines() and warning.split(": ", 1)[1] in prose()
    assert "nothing changed since the last run" not in out  # it said so, having written the file anew
    rows = flags.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 2 and ",acknowledged,info," in rows[1] and "Cal Example (ID 3)" in rows[1]
    assert run(capsys, "sync", "--date", "2026-04-20", "recipe.toml")[:2] == (0, ""), "written once"
    assert len(flags.read_text(encoding="utf-8-sig").splitlines()) == 2


def readme_table(first: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(first)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def break_file(copy: Path, name: str, change: str) -> None:
    path = copy / "example-data" / name
    if change == "semicolons":
        path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")
    elif change == "cp1252":
        with path.open("ab") as handle:
            handle.write("P8,5,£30.00,09/04/2026,Fee,S3\n".encode("cp1252"))
    elif change == "rename":
        path.write_text(path.read_text(encoding="utf-8").replace("Date paid", "Paid on", 1), encoding="utf-8")
    elif change == "capitals":
        path.rename(path.with_name("People.csv"))


@pytest.mark.parametrize(
    ("name", "change", "quoted", "code"),
    [
        ("sessions.csv", "semicolons", "coprod: sessions.csv looks separated by semicolons", 3),
        ("payments.csv", "cp1252", "coprod: payments.csv is not in the UTF-8 encoding", 3),
        ("payments.csv", "rename", "coprod: payments.csv: the recipe's [entities.payments] maps", 2),
        ("people.csv", "capitals", "coprod: [entities.people]: file not found", 3),
    ],
)
def test_each_error_step_10_quotes_is_what_coprod_says_with_the_exit_code_it_gives(
    copy: Path, capsys: pytest.CaptureFixture[str], name: str, change: str, quoted: str, code: int
) -> None:
    break_file(copy, name, change)
    (expected,) = [b.strip() for b in blocks() if b.startswith(quoted)]
    # the page shows the folder of step 1 with the data folder of step 3
    expected = expected.replace("/home/coprod/our-project/data/", f"{copy}/example-data/")

    ended, out, err = run(capsys, "check", "recipe.toml")

    assert expected in (out + err).splitlines()
    assert ended == code
    assert f"(exit {code} until then)" in prose() or code == 3 and change == "capitals"


def test_the_month_first_date_step_10_quotes_is_the_flag_coprod_gives_it(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = copy / "example-data" / "sessions.csv"
    sessions.write_text(
        sessions.read_text(encoding="utf-8").replace("02/04/2026", "04/30/2026"), encoding="utf-8"
    )
    quoted = " ".join(block_starting("sessions.csv row 4, column 'Date'").split())

    code, out, _ = run(capsys, "check", "recipe.toml")

    assert code == 0
    assert quoted in " ".join(out.split())


def test_the_file_open_in_excel_words_are_coprods() -> None:
    said = _could_not_read(Path("people.csv"), PermissionError(13, "Permission denied"))
    assert (
        '"could not be read (Permission denied): if it is open in a spreadsheet, close it and run again"'
        in prose()
    )
    assert (
        "could not be read (Permission denied): if it is open in a spreadsheet, close it and run again"
        in said
    )


def test_the_decimal_comma_words_step_10_quotes_are_the_flags_on_a_semicolon_files_cells(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Step 10 sends a file saved with semicolons to `delimiter = ";"`; the same Excel writes 1,5 and
    # £6,40, and each such cell is flagged: the page says what the flag says, and what to do.
    data = copy / "example-data"
    for name in ("people", "sessions", "attendance", "payments"):
        text = (data / f"{name}.csv").read_text(encoding="utf-8")
        text = text.replace('"Black, Black British, Caribbean or African"', "Black")
        (data / f"{name}.csv").write_text(text.replace(",", ";"), encoding="utf-8")
    sessions = data / "sessions.csv"
    sessions.write_text(sessions.read_text(encoding="utf-8").replace(";1.5;", ";1,5;"), encoding="utf-8")
    recipe = copy / "recipe.toml"
    recipe.write_text(
        recipe.read_text(encoding="utf-8").replace('# delimiter = ";"', 'delimiter = ";"'), encoding="utf-8"
    )

    code, out, _ = run(capsys, "check", "--date", "2026-04-20", "recipe.toml")

    assert code == 0
    flagged = " ".join(out.split())
    assert "'1,5' is not understood; expected a number of hours such as 2 or 1.5" in flagged
    quoted = '"with a full stop before the decimals"'
    assert quoted in prose() and quoted.strip('"') + " (a decimal comma, as in 1,5, is not read)" in flagged
    assert "coprod does not read a decimal comma" in prose()


def test_the_exit_code_table_gives_each_code_the_main_readme_gives_it() -> None:
    main_codes = {
        line.split("|")[1].strip()
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if re.match(r"^\| \d \|", line)
    }
    page_codes = [row.split("|")[1].strip() for row in readme_table("| Code |")]
    assert page_codes == sorted(page_codes)
    assert set(page_codes) <= main_codes
    assert "`coprod status recipe.toml`" in README.read_text(encoding="utf-8")
    assert "`coprod sync recipe.toml --allow-shrink`" in README.read_text(encoding="utf-8")


def test_the_main_readme_links_the_page_where_it_lists_the_recipes_and_in_its_files_section() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listing = re.search(
        r"Recipes for each platform, with a\s+README for staff, are in `recipes/`: (.*?)\n\n", text, re.S
    )
    assert listing is not None and "`files/`" in listing[1]
    files = text.split("### Files (CSV and Excel exports)", 1)[1].split("\n### ", 1)[0]
    assert "recipes/files/README.md" in files
