"""The files connector: CSV and XLSX rows as the file shows them, and the flags CSV staff can edit."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from coprod.connectors.base import ConfigError, ConnectorContext, SourceUnavailable, SourceUnreadable
from coprod.connectors.files import FLAG_HEADINGS, FilesConnector, neutralise
from coprod_core.flags import Flag, Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, KnownFlag
from coprod_core.recipe import Entity, EntitySpec, Recipe
from coprod_core.rows import RowBlock

RUN = date(2026, 5, 1)


def make_recipe(people_location: str = "people.csv", **people: Any) -> Recipe:
    people_spec = {
        "source": "files",
        "location": people_location,
        "fields": {"id": "ID", "name": "Name", "roles": "Role"},
        **people,
    }
    return Recipe.model_validate(
        {
            "name": "files-test",
            "sources": {"files": {"connector": "files", "directory": "data"}},
            "projects": [{"id": "P1", "name": "Day service redesign"}],
            "entities": {
                "people": people_spec,
                "sessions": {
                    "source": "files",
                    "location": "sessions.csv",
                    "fields": {"id": "ID", "date": "Date", "hours": "Hours", "kind": "Kind"},
                },
                "attendance": {
                    "source": "files",
                    "location": "attendance.csv",
                    "fields": {"person_id": "Person", "session_id": "Session"},
                },
            },
        }
    )


def connector(tmp_path: Path, recipe: Recipe | None = None, **options: Any) -> FilesConnector:
    recipe = recipe or make_recipe()
    (tmp_path / "data").mkdir(exist_ok=True)
    context = ConnectorContext(recipe=recipe, recipe_dir=tmp_path, env={})
    return FilesConnector("files", FilesConnector.Options(directory="data", **options), context)


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)


def people_spec(recipe: Recipe) -> EntitySpec:
    return recipe.entities[Entity.PEOPLE]


def read_all(conn: FilesConnector, spec: EntitySpec, cursor: str | None = None) -> list[Any]:
    return list(conn.read(Entity.PEOPLE, spec, cursor))


def flag(n: int, message: str = "Sam (ID 17) is owed £75.00.", facts: int = 1) -> Flag:
    return make_flag(
        check_id="payments.owed",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id=str(n)),
        title="Payment owed",
        message=message,
        evidence={"owed": str(75 * facts)},
    )


def change(f: Flag, kind: ChangeKind = ChangeKind.NEW, status: FlagStatus = FlagStatus.OPEN) -> FlagChange:
    known = KnownFlag.from_flag(f, status, RUN, RUN)
    return FlagChange(kind, known, None if kind is ChangeKind.RESOLVED else f)


def flags_rows(conn: FilesConnector) -> list[dict[str, str]]:
    with conn.flags_path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------------
# Reading CSV


def test_csv_rows_are_text_as_in_the_file_with_refs_counting_the_header_as_row_one(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    write_csv(
        tmp_path / "data" / "people.csv",
        [["ID", "Name", "Role"], ["007", "Sam", "Carer"], ["", "", " "], ["8", " Ali ", "Lived experience"]],
    )
    pages = read_all(conn, people_spec(conn.context.recipe))
    assert len(pages) == 1
    rows = pages[0].rows
    assert [r.ref for r in rows] == ["people.csv row 2", "people.csv row 4"]  # the blank row 3 is skipped
    assert [r.key for r in rows] == ["2", "4"]
    assert rows[0].values == {"ID": "007", "Name": "Sam", "Role": "Carer"}
    assert rows[1].values["Name"] == " Ali "
    assert pages[0].cursor == "4"


def test_csv_with_a_byte_order_mark_and_short_rows_is_read(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    write_csv(tmp_path / "data" / "people.csv", [["ID", "Name", "Role"], ["1", "Sam"]], encoding="utf-8-sig")
    rows = read_all(conn, people_spec(conn.context.recipe))[0].rows
    assert rows[0].values == {"ID": "1", "Name": "Sam", "Role": ""}


def test_rows_come_in_pages_and_a_cursor_resumes_after_the_last_row_read(tmp_path: Path) -> None:
    conn = connector(tmp_path, page_size=2)
    write_csv(
        tmp_path / "data" / "people.csv", [["ID", "Name", "Role"]] + [[str(i), "", "carer"] for i in range(5)]
    )
    spec = people_spec(conn.context.recipe)
    pages = read_all(conn, spec)
    assert [[r.values["ID"] for r in p.rows] for p in pages] == [["0", "1"], ["2", "3"], ["4"]]
    assert [p.cursor for p in pages] == ["3", "5", "6"]
    resumed = read_all(conn, spec, cursor=pages[0].cursor)
    assert [r.values["ID"] for p in resumed for r in p.rows] == ["2", "3", "4"]
    assert read_all(conn, spec, cursor="6") == []


CSV_WITH_GAPS = [
    ["ID", "Name", "Role"],
    ["0", "Sam", "carer"],
    ["1", "Ali", "carer"],
    [],  # an empty line
    ["2", "Jo"],  # short: padded
    ["", "", ""],  # blank cells: skipped
    [" ", " ", "  "],  # spaces only: skipped
    ["3", "Kim", "carer", "", ""],  # wide with nothing beyond the header: cut
    ["", "Lee", "carer"],  # no id, but not blank: kept
    *[[str(i), f"P{i}", "carer"] for i in range(4, 14)],
    ["", "", "", ""],
    ["14", "Max", "carer"],
]


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 5, 7, 16, 5000])
def test_pages_hold_every_row_the_file_has_each_full_but_the_last_whatever_the_page_size(
    tmp_path: Path, page_size: int
) -> None:
    """Pages are read in chunks (a chunk without gaps is kept as the csv module made it); blank
    rows fall between chunks anywhere, and every page still holds page_size rows but the last."""
    conn = connector(tmp_path, page_size=page_size)
    write_csv(tmp_path / "data" / "people.csv", CSV_WITH_GAPS)
    expected = [
        (f"people.csv row {n}", {"ID": cells[0], "Name": cells[1], "Role": (cells + ["", ""])[2]}, str(n))
        for n, cells in enumerate(CSV_WITH_GAPS[1:], 2)
        if "".join(cells).strip()
    ]
    spec = people_spec(conn.context.recipe)
    pages = read_all(conn, spec)
    assert [(r.ref, r.values, r.key) for p in pages for r in p.rows] == expected
    assert [len(p.rows) for p in pages[:-1]] == [page_size] * (len(pages) - 1)
    assert [p.cursor for p in pages] == [p.rows[-1].key for p in pages]
    resumed = read_all(conn, spec, cursor="9")
    assert [r.key for p in resumed for r in p.rows] == [key for _, _, key in expected if int(key) > 9]


def test_missing_file_is_source_unavailable_naming_the_path(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    with pytest.raises(SourceUnavailable, match=r"file not found: .*data/people\.csv"):
        read_all(conn, people_spec(conn.context.recipe))


def test_missing_file_says_what_to_do_and_names_files_there_that_are_probably_it(tmp_path: Path) -> None:
    """It said only "file not found: .../data/people.csv" beside a People.csv (a folder copied from
    Windows, where the name matched) or a people.xlsx: nothing said what to do, nor that the file was there."""
    conn = connector(tmp_path)
    data = tmp_path / "data"
    for name in ("People.csv", "people.xlsx", "people (1).csv", "sessions.csv"):
        (data / name).write_text("ID,Name,Role\n", encoding="utf-8")
    with pytest.raises(SourceUnavailable) as error:
        read_all(conn, people_spec(conn.context.recipe))
    assert str(error.value) == (
        f"[entities.people]: file not found: {data / 'people.csv'}. Save the export there under that name, or "
        "set location in [entities.people] of the recipe to the name it has (the folder has 'People.csv', "
        "'people (1).csv', 'people.xlsx': the name must match exactly, capitals and ending too)"
    )


@pytest.mark.parametrize(
    ("header", "words", "kind"),
    [
        (["ID", "Name", "Role", "ID"], "the header 'ID' appears twice", SourceUnreadable),
        (["ID", "", "Name", "Role"], "column 2 has no header", SourceUnreadable),
        (["ID", "Name", "Roles"], "maps column 'Role'", ConfigError),
        (["ID", "Name", "role"], "did you mean 'role'", ConfigError),
    ],
)
def test_header_problems_name_file_column_and_columns_found(
    tmp_path: Path, header: list[str], words: str, kind: type[Exception]
) -> None:
    """A broken header row is the file's problem (exit 3); a mapped column it lacks, the recipe's (2)."""
    conn = connector(tmp_path)
    write_csv(tmp_path / "data" / "people.csv", [header, ["1"] * len(header)])
    with pytest.raises(kind) as error:
        read_all(conn, people_spec(conn.context.recipe))
    text = str(error.value)
    assert "people.csv" in text and words in text
    assert "columns found: 'ID'" in text


@pytest.mark.parametrize(
    ("first_row", "kind", "words"),
    [
        ("17,Sam Jones,Carer,,White", ConfigError, "people.csv: row 1 names none of the columns"),
        (
            "17;Sam Jones;Carer;;White",
            SourceUnreadable,
            "its row 1 reads as one column, 5 cells by semicolons",
        ),
    ],
    ids=["commas", "semicolons"],
)
def test_a_file_without_its_header_row_is_said_without_quoting_the_first_row(
    tmp_path: Path, first_row: str, kind: type[Exception], words: str
) -> None:
    """Row 1 naming none of the mapped columns is someone's data (a name, an answer): the message
    is printed under cron and logged by the webhook worker, so it does not quote it."""
    conn = connector(tmp_path)
    (tmp_path / "data" / "people.csv").write_text(f"{first_row}\n18,Ali Khan,Carer,,Asian\n")
    with pytest.raises(kind) as error:
        read_all(conn, people_spec(conn.context.recipe))
    text = str(error.value)
    assert words in text
    for private in ("Sam", "Jones", "Carer", "White", "17"):
        assert private not in text


@pytest.mark.parametrize(
    ("heading", "shown"), [("Full\xa0name", "'Full\\xa0name'"), ("full  Name", "'full  Name'")]
)
def test_a_heading_that_differs_only_in_its_spaces_is_hinted_with_the_odd_space_made_visible(
    tmp_path: Path, heading: str, shown: str
) -> None:
    """A non-breaking space pasted from a web page looks like a space: 'Full name' was "not in row 1"
    beside a 'Full name' in the columns found, with no hint."""
    recipe = make_recipe(fields={"id": "ID", "name": "Full name", "roles": "Role"})
    conn = connector(tmp_path, recipe)
    write_csv(tmp_path / "data" / "people.csv", [["ID", heading, "Role"], ["1", "Sam", "carer"]])
    with pytest.raises(ConfigError) as error:
        read_all(conn, people_spec(recipe))
    assert f"maps column 'Full name' (did you mean {shown}?)" in str(error.value)


def test_a_value_under_no_header_is_a_source_error_naming_the_row(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    write_csv(tmp_path / "data" / "people.csv", [["ID", "Name", "Role", ""], ["1", "Sam", "carer", "oops"]])
    with pytest.raises(SourceUnreadable, match=r"people\.csv row 2 has a value in column 4"):
        read_all(conn, people_spec(conn.context.recipe))


def test_trailing_empty_header_cells_are_ignored(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    write_csv(
        tmp_path / "data" / "people.csv", [["ID", "Name", "Role", "", ""], ["1", "Sam", "carer", "", ""]]
    )
    rows = read_all(conn, people_spec(conn.context.recipe))[0].rows
    assert rows[0].values == {"ID": "1", "Name": "Sam", "Role": "carer"}


def test_a_column_with_a_default_may_be_absent_from_the_header(tmp_path: Path) -> None:
    recipe = make_recipe(defaults={"roles": "lived_experience"})
    conn = connector(tmp_path, recipe)
    write_csv(tmp_path / "data" / "people.csv", [["ID", "Name"], ["1", "Sam"]])
    assert read_all(conn, people_spec(recipe))[0].rows[0].values == {"ID": "1", "Name": "Sam"}


def test_wrong_encoding_is_a_source_error_saying_how_to_fix_it(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    (tmp_path / "data" / "people.csv").write_bytes("ID,Name,Role\n1,Zo\xeb,carer\n".encode("latin-1"))
    with pytest.raises(SourceUnreadable, match="CSV UTF-8"):
        read_all(conn, people_spec(conn.context.recipe))
    latin = connector(tmp_path, encoding="cp1252")
    assert read_all(latin, people_spec(conn.context.recipe))[0].rows[0].values["Name"] == "Zoë"


@pytest.mark.parametrize("name", ["people.csv", "people.xlsx"])
def test_an_export_locked_by_a_spreadsheet_says_to_close_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """On Windows a file open in Excel cannot be read ("Permission denied"): the nightly run said
    only that, where the flags file's write already said to close it (newcomer walkthrough)."""
    recipe = make_recipe(name)
    conn = connector(tmp_path, recipe)
    path = tmp_path / "data" / name
    if name.endswith(".csv"):
        write_csv(path, [["ID", "Name", "Role"], ["1", "Sam", "carer"]])
        real_open = Path.open

        def locked(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == path and "b" not in (args[0] if args else kwargs.get("mode", "r")):
                raise PermissionError(13, "Permission denied")
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", locked)
    else:
        path.write_bytes(b"PK")
        from python_calamine import CalamineWorkbook

        def refuse(cls: Any, where: str) -> Any:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(CalamineWorkbook, "from_path", classmethod(refuse))
    with pytest.raises(SourceUnavailable) as error:
        read_all(conn, people_spec(recipe))
    assert str(error.value) == (
        f"{path} could not be read (Permission denied): if it is open in a spreadsheet, close it and run "
        "again; otherwise the user coprod runs as may not read it"
    )


def test_an_older_excel_csv_with_semicolons_is_told_both_settings_at_once(tmp_path: Path) -> None:
    """Excel's older "CSV" in much of Europe is cp1252 with semicolons. The encoding was said alone,
    naming the whole header as one column ("column 'ID;Name;Role'"); once it was set, a second run
    refused the delimiter (newcomer walkthrough)."""
    conn = connector(tmp_path)
    (tmp_path / "data" / "people.csv").write_bytes("ID;Name;Role\r\n1;Zo\xeb;carer\r\n".encode("cp1252"))
    with pytest.raises(SourceUnreadable) as error:
        read_all(conn, people_spec(conn.context.recipe))
    assert str(error.value) == (
        "people.csv is not in the UTF-8 encoding (first at row 2, column 'Name'): save it as 'CSV UTF-8' in "
        'Excel, or set encoding = "cp1252" in [sources.files]; its row 1 is separated by semicolons (;), so '
        'set delimiter = ";" there too'
    )
    both = connector(tmp_path, encoding="cp1252", delimiter=";")
    assert read_all(both, people_spec(conn.context.recipe))[0].rows[0].values == {
        "ID": "1",
        "Name": "Zoë",
        "Role": "carer",
    }


def test_a_wrong_encoding_is_placed_by_row_and_column_counting_a_cell_with_a_line_break_as_one_row(
    tmp_path: Path,
) -> None:
    conn = connector(tmp_path)
    text = 'ID,Name,Role\n1,"Sam\nJones",carer\n2,Zo\xeb,carer\n'
    (tmp_path / "data" / "people.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(SourceUnreadable) as error:
        read_all(conn, people_spec(conn.context.recipe))
    assert "people.csv is not in the UTF-8 encoding (first at row 3, column 'Name')" in str(error.value)


def test_a_csv_saved_as_utf16_with_its_byte_order_mark_is_read_without_setting_the_encoding(
    tmp_path: Path,
) -> None:
    """Excel's "Unicode Text" and some exports are UTF-16: the mark at the start says so beyond doubt."""
    conn = connector(tmp_path)
    write_csv(tmp_path / "data" / "people.csv", [["ID", "Name", "Role"], ["1", "Zoë", "carer"]], "utf-16")
    assert (tmp_path / "data" / "people.csv").read_bytes()[:2] == b"\xff\xfe"
    rows = read_all(conn, people_spec(conn.context.recipe))[0].rows
    assert rows[0].values == {"ID": "1", "Name": "Zoë", "Role": "carer"}


def test_a_csv_utf8_export_is_read_as_utf8_even_where_the_recipe_sets_cp1252_for_older_exports(
    tmp_path: Path,
) -> None:
    conn = connector(tmp_path, encoding="cp1252")
    write_csv(tmp_path / "data" / "people.csv", [["ID", "Name", "Role"], ["1", "Zoë", "carer"]], "utf-8-sig")
    (tmp_path / "data" / "old.csv").write_bytes("ID,Name,Role\n1,Zoë,carer\n".encode("cp1252"))
    assert read_all(conn, people_spec(conn.context.recipe))[0].rows[0].values == {
        "ID": "1",
        "Name": "Zoë",
        "Role": "carer",
    }
    old = make_recipe("old.csv")
    assert (
        read_all(connector(tmp_path, old, encoding="cp1252"), people_spec(old))[0].rows[0].values["Name"]
        == "Zoë"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'ID,Name,Role\n1,Sam,carer\n2,"Ali,carer\n3,Jo,carer\n',
            "row 3 (from line 3 of the file): a cell starts with a quote",
        ),
        (
            'ID,Name,Role\n1,"Sam,carer\n2,Ali,carer\n3,"Jo" Smith,carer\n',
            "row 2 (from line 2 of the file): a cell in quotes has more text after its closing quote",
        ),
    ],
    ids=["never-closed", "closed-mid-cell"],
)
def test_a_quote_left_open_is_refused_naming_the_row_instead_of_taking_the_rows_after_it_into_one_cell(
    tmp_path: Path, text: str, words: str
) -> None:
    conn = connector(tmp_path)
    (tmp_path / "data" / "people.csv").write_text(text, encoding="utf-8")
    with pytest.raises(SourceUnreadable) as error:
        read_all(conn, people_spec(conn.context.recipe))
    assert f"people.csv {words}" in str(error.value)


def test_a_cell_of_five_megabytes_is_read_whole(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    long = "notes " * 900_000
    write_csv(
        tmp_path / "data" / "people.csv",
        [["ID", "Name", "Role"], ["1", long, "carer"], ["2", "Ali", "carer"]],
    )
    rows = read_all(conn, people_spec(conn.context.recipe))[0].rows
    assert [len(r.values["Name"]) for r in rows] == [len(long), 3]


def test_a_directory_option_naming_a_file_is_said_so_not_as_a_missing_data_file(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    (tmp_path / "data").rmdir()
    (tmp_path / "data").write_text("ID,Name,Role\n")
    with pytest.raises(
        SourceUnavailable, match=r"data is a file, not a folder: set directory in \[sources\.files\]"
    ):
        read_all(conn, people_spec(conn.context.recipe))


def test_a_folder_where_the_file_should_be_is_named_as_a_folder(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    (tmp_path / "data" / "people.csv").mkdir()
    with pytest.raises(SourceUnavailable, match=r"people\.csv is a folder, not a file"):
        read_all(conn, people_spec(conn.context.recipe))


# ---------------------------------------------------------------------------------------------
# Reading XLSX


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)


def test_xlsx_cells_come_as_text_dates_as_dates_and_whole_numbers_without_point_zero(tmp_path: Path) -> None:
    recipe = make_recipe(
        "people.xlsx", demographics={"joined": "Joined", "score": "Score"}, options={"sheet": "People"}
    )
    conn = connector(tmp_path, recipe)
    write_xlsx(
        tmp_path / "data" / "people.xlsx",
        {
            "Notes": [["nothing here"]],
            "People": [
                ["ID", "Name", "Role", "Joined", "Score"],
                ["007", "Sam", "Carer", datetime(2026, 3, 3), 2.5],
                [None, None, None, None, None],
                [8, "Ali", "carer", datetime(2026, 3, 3, 14, 30), 3.0],
            ],
        },
    )
    pages = read_all(conn, people_spec(recipe))
    first, second = pages[0].rows
    assert first.ref == "people.xlsx row 2" and second.ref == "people.xlsx row 4"
    assert first.values == {
        "ID": "007",
        "Name": "Sam",
        "Role": "Carer",
        "Joined": date(2026, 3, 3),
        "Score": "2.5",
    }
    assert second.values["ID"] == "8"
    assert second.values["Score"] == "3"
    assert second.values["Joined"] == datetime(2026, 3, 3, 14, 30)


def _trimmed(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows without their trailing blank cells, and without trailing blank rows: what the two
    readers may differ in (a formatted but empty cell widens openpyxl's grid, not calamine's)."""
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] in ("", None):
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


def test_xlsx_is_read_with_the_same_cells_as_openpyxl_reads_them(tmp_path: Path) -> None:
    """python-calamine replaced openpyxl as the reader (15 times faster); a cell must not change:
    text as typed ("007", "03/03/2026", spaces kept), numbers, dates and times, yes/no, blanks,
    rows and columns numbered as the spreadsheet shows them (an empty first row and column A)."""
    from openpyxl import load_workbook

    from coprod.connectors.files import _cell_text

    path = tmp_path / "data" / "cells.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "People"
    rows = [
        ["ID", "Name", "Amount", "Joined", "At", "Paid", "Note", "Share", "Start", "Big", "Owed"],
        [
            "007",
            "Zoë",
            25,
            date(2026, 3, 3),
            datetime(2026, 3, 3, 10, 30),
            True,
            None,
            0.5,
            time(10, 30),
            12345678901234,
            -3.25,
        ],
        [7, "  spaced ", 1.5, "03/03/2026", datetime(2026, 3, 3), False, "", 1.0, None, 1e20, 0],
        [None] * 11,
        [
            "0042",
            "=not a formula",
            Decimal("19.99"),
            date(1999, 12, 31),
            None,
            None,
            "£1,250.50",
            2 / 3,
            None,
            -0.0,
            100,
        ],
    ]
    for r, cells in enumerate(rows, start=2):  # the first row and column A left empty
        for c, value in enumerate(cells, start=2):
            sheet.cell(row=r, column=c, value=value)
    workbook.create_sheet("Other").append(["not read"])
    workbook.save(path)

    recipe = make_recipe("cells.xlsx")
    conn = connector(tmp_path, recipe)
    fast = list(conn._xlsx_records(path, None))
    opened = load_workbook(path, read_only=True, data_only=True)
    slow = [[_cell_text(c) for c in row] for row in opened.worksheets[0].iter_rows(values_only=True)]
    opened.close()
    assert _trimmed(fast) == _trimmed(slow)
    assert fast[2][1] == "007" and fast[3][1] == "7" and fast[3][4] == "03/03/2026"  # row 3, column B
    assert fast[2][4] == date(2026, 3, 3) and fast[2][5] == datetime(2026, 3, 3, 10, 30)
    assert list(conn._xlsx_records(path, "Other")) == [["not read"]]


def test_xlsx_unknown_sheet_is_a_config_error_listing_the_sheets(tmp_path: Path) -> None:
    recipe = make_recipe("people.xlsx", options={"sheet": "Peeple"})
    conn = connector(tmp_path, recipe)
    write_xlsx(tmp_path / "data" / "people.xlsx", {"People": [["ID", "Name", "Role"]]})
    with pytest.raises(ConfigError, match="no sheet 'Peeple'; sheets found: 'People'") as refused:
        read_all(conn, people_spec(recipe))
    # it said only that: not where the recipe names the sheet, nor what to do (newcomer walkthrough)
    assert str(refused.value).endswith(
        "sheets found: 'People'. Set sheet in the options of [entities.people] in the recipe to one of "
        "them, exactly as written there (or rename the sheet)"
    )


def test_xlsx_error_cells_come_as_the_error_excel_shows_not_as_empty_cells(tmp_path: Path) -> None:
    """A VLOOKUP that found nothing shows #N/A: read as empty it passed as "no value" silently."""
    recipe = make_recipe("people.xlsx", demographics={"score": "Score"}, options={"sheet": "People"})
    conn = connector(tmp_path, recipe)
    workbook = Workbook()
    other = workbook.active
    other.title = "Lookups"
    other.append(["#REF!"])
    other["A1"].data_type = "e"
    people = workbook.create_sheet("People")
    people.append(["ID", "Name", "Role", "Score"])
    people.append(["1", "Sam", "carer", 3])
    people.append(["2", "Ali", "#N/A", "#DIV/0!"])
    for ref in ("C3", "D3"):
        people[ref].data_type = "e"
    workbook.save(tmp_path / "data" / "people.xlsx")
    rows = read_all(conn, people_spec(recipe))[0].rows
    assert [r.values for r in rows] == [
        {"ID": "1", "Name": "Sam", "Role": "carer", "Score": "3"},
        {"ID": "2", "Name": "Ali", "Role": "#N/A", "Score": "#DIV/0!"},
    ]


def test_xlsx_header_cells_merged_are_named_as_the_likely_cause_of_a_blank_header(tmp_path: Path) -> None:
    recipe = make_recipe("people.xlsx")
    conn = connector(tmp_path, recipe)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["ID", "Name", "", "Role"])
    sheet.append(["1", "Sam", "Jones", "carer"])
    sheet.merge_cells("B1:C1")
    workbook.save(tmp_path / "data" / "people.xlsx")
    with pytest.raises(SourceUnreadable) as error:
        read_all(conn, people_spec(recipe))
    assert "people.xlsx: column 3 has no header in row 1; name it or delete the column (cells merged" in str(
        error.value
    )


def test_xlsx_without_a_sheet_named_reads_the_first_sheet_staff_can_see_not_a_hidden_one(
    tmp_path: Path,
) -> None:
    recipe = make_recipe("people.xlsx")
    conn = connector(tmp_path, recipe)
    workbook = Workbook()
    hidden = workbook.active
    hidden.title = "Lookups"
    hidden.append(["Old notes"])
    hidden.sheet_state = "hidden"
    shown = workbook.create_sheet("People")
    shown.append(["ID", "Name", "Role"])
    shown.append(["1", "Sam", "carer"])
    workbook.save(tmp_path / "data" / "people.xlsx")
    rows = read_all(conn, people_spec(recipe))[0].rows
    assert [r.values for r in rows] == [{"ID": "1", "Name": "Sam", "Role": "carer"}]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            b"ID,Name,Role\n1,Sam,carer\n",
            "people.xlsx is text, not an Excel workbook: it looks like a CSV file",
        ),
        (b"", "people.xlsx is empty (0 bytes)"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
            "an old Excel (.xls) file or a workbook saved with a password",
        ),
        (b"PK\x03\x04 damaged", "people.xlsx could not be opened as an Excel workbook"),
    ],
    ids=["csv-named-xlsx", "zero-bytes", "xls-or-password", "damaged-zip"],
)
def test_a_file_named_xlsx_that_is_not_a_workbook_says_what_it_is(
    tmp_path: Path, content: bytes, words: str
) -> None:
    recipe = make_recipe("people.xlsx")
    conn = connector(tmp_path, recipe)
    (tmp_path / "data" / "people.xlsx").write_bytes(content)
    with pytest.raises(SourceUnreadable) as error:
        read_all(conn, people_spec(recipe))
    assert words in str(error.value)


def test_xlsx_missing_mapped_column_is_a_config_error_too(tmp_path: Path) -> None:
    recipe = make_recipe("people.xlsx")
    conn = connector(tmp_path, recipe)
    write_xlsx(tmp_path / "data" / "people.xlsx", {"People": [["ID", "Name"], ["1", "Sam"]]})
    with pytest.raises(ConfigError, match=r"people\.xlsx.*'Role'.*columns found: 'ID', 'Name'"):
        read_all(conn, people_spec(recipe))


# ---------------------------------------------------------------------------------------------
# The flags file


def test_written_flags_land_in_the_flags_csv_with_every_column(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    f = flag(1)
    report = conn.write_flags([change(f)])
    assert report.written == [f.fingerprint] and report.failed == {} and report.requests == 1
    (row,) = flags_rows(conn)
    assert list(row) == list(FLAG_HEADINGS)
    assert row["Fingerprint"] == f.fingerprint
    assert row["Status"] == "open"
    assert row["Severity"] == "warning"
    assert row["Check"] == "payments.owed"
    assert row["About"] == "person 1"  # a flag the run gave no words for keeps its subject
    assert row["Message"] == "Sam (ID 17) is owed £75.00."
    assert row["Evidence"] == f.evidence_json
    assert row["First seen"] == row["Last seen"] == "2026-05-01"


def test_writing_the_same_change_twice_gives_one_row(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    changes = [change(flag(1)), change(flag(2))]
    conn.write_flags(changes)
    first = conn.flags_path.read_bytes()
    conn.write_flags(changes)
    assert conn.flags_path.read_bytes() == first
    assert len(flags_rows(conn)) == 2


def test_formula_like_text_is_written_with_a_leading_apostrophe(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    evil = make_flag(
        check_id='=HYPERLINK("http://x")',
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.SESSION, id="1"),
        title="+SUM(A1)",
        message="-2 hours were recorded",
        evidence={},
    )
    tabbed = flag(3, message="\t=cmd")
    conn.write_flags([change(evil), change(tabbed)])
    content = conn.flags_path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in content and "'+SUM(A1)" in content and "'-2 hours" in content
    assert "\\t=cmd" in content  # the tab shown, not sent: no cell starts with it
    for row in flags_rows(conn):
        for column in ("Check", "Title", "Message"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert neutralise("@x") == "'@x" and neutralise("fine") == "fine"
    assert neutralise("\t=cmd") == "'\t=cmd"


def test_changed_flag_rewrites_its_row_and_resolved_flag_keeps_its_text(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    f = flag(1)
    conn.write_flags([change(f), change(flag(2))])
    changed = flag(1, message="Sam (ID 17) is owed £150.00.", facts=2)
    later = KnownFlag.from_flag(changed, FlagStatus.OPEN, RUN, date(2026, 6, 1))
    resolved = KnownFlag.from_flag(flag(2), FlagStatus.RESOLVED, RUN, date(2026, 6, 1))
    report = conn.write_flags(
        [FlagChange(ChangeKind.CHANGED, later, changed), FlagChange(ChangeKind.RESOLVED, resolved, None)]
    )
    assert sorted(report.written) == sorted([f.fingerprint, flag(2).fingerprint])
    first, second = flags_rows(conn)
    assert first["Message"] == "Sam (ID 17) is owed £150.00." and first["Last seen"] == "2026-06-01"
    assert first["First seen"] == "2026-05-01"
    assert second["Status"] == "resolved" and second["Message"] == "Sam (ID 17) is owed £75.00."


def test_staff_statuses_rows_and_columns_survive_a_write_and_are_read_back(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    a, b, c, d = flag(1), flag(2), flag(3), flag(4)
    conn.write_flags([change(a), change(b), change(c), change(d)])
    # Staff open it in a spreadsheet: add a notes column, re-order, set statuses, add their own row.
    rows = flags_rows(conn)
    rows.reverse()
    statuses = {a.fingerprint: "Acknowledged", b.fingerprint: "Won't fix", c.fingerprint: "WONT_FIX"}
    for row in rows:
        row["Status"] = statuses.get(row["Fingerprint"], "done?")
        row["notes"] = f"called {row['About']}"
    rows.append({"Fingerprint": "", "Status": "", "Title": "Ring the carers' forum", "notes": "staff row"})
    with conn.flags_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["notes", *FLAG_HEADINGS], restval="")
        writer.writeheader()
        writer.writerows(rows)

    assert conn.read_staff_statuses() == {
        a.fingerprint: FlagStatus.ACKNOWLEDGED,
        b.fingerprint: FlagStatus.WONT_FIX,
        c.fingerprint: FlagStatus.WONT_FIX,
    }
    new = flag(5)
    conn.write_flags([change(new)])
    after = flags_rows(conn)
    assert [r["Fingerprint"] for r in after] == [
        d.fingerprint,
        c.fingerprint,
        b.fingerprint,
        a.fingerprint,
        "",
        new.fingerprint,
    ]
    assert after[4]["Title"] == "Ring the carers' forum" and after[4]["notes"] == "staff row"
    assert after[3]["Status"] == "Acknowledged" and after[3]["notes"] == "called person 1"
    assert list(after[0])[0] == "notes"  # staff moved their column first: it stays there


def test_staff_setting_a_flag_back_to_open_is_read_so_the_acknowledgement_can_be_lifted(
    tmp_path: Path,
) -> None:
    conn = connector(tmp_path)
    conn.write_flags([change(flag(1))])
    assert conn.read_staff_statuses() == {flag(1).fingerprint: FlagStatus.OPEN}


@pytest.mark.parametrize("breaker", ["\v", "\f", "\u2028", "\x1c", "\x85"])
def test_a_line_breaking_character_inside_a_cell_keeps_the_flags_row_whole_and_its_status(
    tmp_path: Path, breaker: str
) -> None:
    """A vertical tab is Word's Shift+Enter, pasted into a session title or a note: csv writes it
    unquoted, and a reader splitting on it made a first name a row of its own and lost the rest's
    About. coprod's own cells show it (``<U+000B>``); a note staff typed in a column of their own
    keeps it, and the row stays whole."""
    conn = connector(tmp_path)
    named = flag(1, message=f"Sam{breaker}Jones (ID 17) is owed £75.00.")
    assert named.message == f"Sam<U+{ord(breaker):04X}>Jones (ID 17) is owed £75.00."
    conn.write_flags([change(named)])
    rows = flags_rows(conn)
    rows[0]["Status"] = "acknowledged"
    rows[0]["Notes"] = f"Phoned Sam{breaker}Jones"
    with conn.flags_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert conn.read_staff_statuses() == {named.fingerprint: FlagStatus.ACKNOWLEDGED}
    conn.write_flags([change(flag(2))])
    after = flags_rows(conn)
    assert [r["Message"] for r in after] == [named.message, flag(2).message]
    assert [r["Notes"] for r in after] == [f"Phoned Sam{breaker}Jones", ""]
    assert after[0]["Status"] == "acknowledged"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_flags_file_resaved_with_semicolons_or_tabs_keeps_staffs_statuses_and_columns_and_its_delimiter(
    tmp_path: Path, delimiter: str
) -> None:
    """Excel saves "CSV" with semicolons in much of Europe. Read with commas the file was one column:
    every status staff set was passed over and the next write cut each row into pieces."""
    conn = connector(tmp_path)
    a, b = flag(1, message="Sam, Ali and Jo are owed £75.00."), flag(2)
    conn.write_flags([change(a), change(b)])
    rows = flags_rows(conn)
    for row in rows:
        row["Status"], row["Notes"] = "acknowledged", "rang them, left a message"
    with conn.flags_path.open("w", encoding="cp1252", newline="") as handle:  # as Excel saves it
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)

    assert conn.read_staff_statuses() == dict.fromkeys(
        [a.fingerprint, b.fingerprint], FlagStatus.ACKNOWLEDGED
    )
    resolved = FlagChange(
        ChangeKind.RESOLVED, KnownFlag.from_flag(b, FlagStatus.ACKNOWLEDGED, RUN, RUN), None
    )
    assert conn.write_flags([resolved]).written == [b.fingerprint]
    with conn.flags_path.open(encoding="utf-8-sig", newline="") as handle:
        after = list(csv.DictReader(handle, delimiter=delimiter))
    assert [(r["Fingerprint"], r["Status"], r["Notes"]) for r in after] == [
        (a.fingerprint, "acknowledged", "rang them, left a message"),
        (b.fingerprint, "resolved", "rang them, left a message"),
    ]
    assert after[0]["Message"] == "Sam, Ali and Jo are owed £75.00."


def test_a_flags_file_whose_fingerprint_column_was_deleted_is_refused_and_left_as_it_is(
    tmp_path: Path,
) -> None:
    conn = connector(tmp_path)
    conn.write_flags([change(flag(1))])
    rows = flags_rows(conn)
    for row in rows:
        row["Status"] = "acknowledged"
        del row["Fingerprint"]
    with conn.flags_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = conn.flags_path.read_bytes()
    with pytest.raises(SourceUnreadable, match="coprod-flags.csv has no Fingerprint column"):
        conn.read_staff_statuses()
    report = conn.write_flags([change(flag(2))])
    assert report.written == [] and "no Fingerprint column" in report.failed[flag(2).fingerprint]
    assert conn.flags_path.read_bytes() == before


def test_a_flags_file_with_a_cell_over_csvs_limit_is_read(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    notes = "x" * 200_000
    conn.flags_path.write_text(f"Status,Fingerprint,notes\nacknowledged,{flag(1).fingerprint},{notes}\n")
    assert conn.read_staff_statuses() == {flag(1).fingerprint: FlagStatus.ACKNOWLEDGED}
    assert conn.write_flags([change(flag(2))]).written == [flag(2).fingerprint]
    assert [r["notes"] for r in flags_rows(conn)] == [notes, ""]


def test_no_flags_file_means_no_staff_statuses(tmp_path: Path) -> None:
    assert connector(tmp_path).read_staff_statuses() == {}


def test_write_that_cannot_replace_the_file_reports_every_change_as_failed(tmp_path: Path) -> None:
    conn = connector(tmp_path, flags_file="locked/coprod-flags.csv")  # a folder that does not exist
    f = flag(1)
    report = conn.write_flags([change(f)])
    assert report.written == []
    assert "could not be written" in report.failed[f.fingerprint]


def test_no_changes_write_nothing(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    assert conn.write_flags([]).requests == 0
    assert not conn.flags_path.exists()


# ---------------------------------------------------------------------------------------------
# Install


def write_all_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    write_csv(data / "people.csv", [["ID", "Name", "Role"]])
    write_csv(data / "sessions.csv", [["ID", "Date", "Hours", "Kind"]])
    write_csv(data / "attendance.csv", [["Person", "Session"]])


def test_install_creates_the_flags_file_and_checks_each_mapped_file_idempotently(tmp_path: Path) -> None:
    write_all_files(tmp_path)
    conn = connector(tmp_path)
    lines = conn.install()
    assert any("created coprod-flags.csv" in line for line in lines)
    assert sum("mapped columns found" in line for line in lines) == 3
    assert conn.flags_path.read_text(encoding="utf-8-sig").strip() == ",".join(FLAG_HEADINGS)
    conn.write_flags([change(flag(1))])
    again = conn.install()
    assert any("already exists" in line for line in again)
    assert len(flags_rows(conn)) == 1  # install never overwrites flags


def test_install_names_a_missing_folder_or_file(tmp_path: Path) -> None:
    recipe = make_recipe()
    context = ConnectorContext(recipe=recipe, recipe_dir=tmp_path, env={})
    missing_dir = FilesConnector("files", FilesConnector.Options(directory="nowhere"), context)
    with pytest.raises(SourceUnavailable, match="folder not found: .*nowhere"):
        missing_dir.install()
    write_all_files(tmp_path)
    (tmp_path / "data" / "sessions.csv").unlink()
    with pytest.raises(SourceUnavailable, match=r"sessions\.csv"):
        connector(tmp_path).install()


def test_rows_read_from_csv_map_onto_the_model_and_a_bad_cell_is_named_by_file_row_and_column(
    tmp_path: Path,
) -> None:
    from coprod_core.mapping import map_dataset

    write_all_files(tmp_path)
    data = tmp_path / "data"
    write_csv(
        data / "people.csv", [["ID", "Name", "Role"], ["007", "Sam", "Carer"], ["8", "Ali", "astronaut"]]
    )
    write_csv(
        data / "sessions.csv",
        [["ID", "Date", "Hours", "Kind"], ["S1", "03/03/2026", "2", "Co-design workshop"]],
    )
    write_csv(data / "attendance.csv", [["Person", "Session"], ["007", "S1"]])
    conn = connector(tmp_path)
    recipe = conn.context.recipe
    rows = {
        entity: [row for page in conn.read(entity, spec) for row in page.rows]
        for entity, spec in recipe.entities.items()
    }
    mapped = map_dataset(recipe, rows)
    assert [p.id for p in mapped.dataset.people] == ["007", "8"]  # 8 kept, with the role unknown
    assert mapped.dataset.people[1].roles == frozenset()
    assert mapped.dataset.attendance[0].person_id == "007"
    (problem,) = mapped.problems
    assert problem.message.startswith("people.csv row 3, column 'Role': 'astronaut' is not understood")


def _recipe_of(suffix: str) -> Recipe:
    """``make_recipe`` with every file of the given kind (``.csv`` or ``.xlsx``)."""
    data = make_recipe().model_dump(mode="json")
    for spec in data["entities"].values():
        spec["location"] = spec["location"].replace(".csv", suffix)
    return Recipe.model_validate(data)


def write_files(tmp_path: Path, suffix: str, files: dict[str, list[list[str]]]) -> None:
    """Each entity's rows as ``data/<name><suffix>``: a CSV file, or an XLSX file of one sheet."""
    for name, rows in files.items():
        if suffix == ".csv":
            write_csv(tmp_path / "data" / f"{name}.csv", rows)
        else:
            write_xlsx(tmp_path / "data" / f"{name}.xlsx", {"Sheet1": rows})


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_heading_row_repeated_in_the_middle_of_a_file_is_one_problem_and_the_other_rows_are_read(
    tmp_path: Path, suffix: str
) -> None:
    """Two exports pasted together: the second one's heading row is one problem, said as such, not
    a value not understood in each of its columns (or an unknown person and session)."""
    from coprod_core.mapping import EntityCount, map_dataset

    recipe = _recipe_of(suffix)
    conn = connector(tmp_path, recipe)
    files = {
        "people": [
            ["ID", "Name", "Role"],
            ["7", "Sam", "Carer"],
            ["ID", "Name", "Role"],
            ["8", "Ali", "Carer"],
        ],
        "sessions": [
            ["ID", "Date", "Hours", "Kind"],
            ["S1", "03/03/2026", "2", "Co-design workshop"],
            [" ID", "Date ", "Hours", "Kind"],  # as pasted: stray spaces do not hide it
            ["S2", "04/03/2026", "2", "Co-design workshop"],
        ],
        "attendance": [["Person", "Session"], ["7", "S1"], ["Person", "Session"], ["8", "S2"]],
    }
    write_files(tmp_path, suffix, files)
    rows_read = {
        entity: [row for page in conn.read(entity, spec) for row in page.rows]
        for entity, spec in recipe.entities.items()
    }
    mapped = map_dataset(recipe, rows_read)

    assert [p.check_id for p in mapped.problems] == ["data_quality.repeated_headings"] * 3, [
        p.message for p in mapped.problems
    ]
    assert [p.message for p in mapped.problems] == [
        f"{name}{suffix} row 3 repeats the column headings: two exports pasted together? The row was "
        "skipped; delete it."
        for name in ("people", "sessions", "attendance")
    ]
    assert [p.id for p in mapped.dataset.people] == ["7", "8"]
    assert [s.id for s in mapped.dataset.sessions] == ["S1", "S2"]
    assert [(a.person_id, a.session_id) for a in mapped.dataset.attendance] == [("7", "S1"), ("8", "S2")]
    for entity in (Entity.PEOPLE, Entity.SESSIONS, Entity.ATTENDANCE):
        assert mapped.counts[entity] == EntityCount(read=3, used=2, rejected=1)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_heading_row_repeated_in_a_file_of_only_ids_and_names_is_one_problem_not_a_record(
    tmp_path: Path, suffix: str
) -> None:
    """People read only from an id and a name (their roles a default), projects from a code and a
    name: a pasted heading row holds nothing that is not understood, yet it is one problem, not a
    person 'ID' called 'Name' or a project 'Code'. Read as `coprod sync` hands the pages over (each
    a block of the file's rows), and a person whose id is 'ID' but whose name is their own is kept."""
    from coprod_core.mapping import EntityCount, map_dataset

    data = _recipe_of(suffix).model_dump(mode="json")
    data["projects"] = []
    entities = data["entities"]
    entities["people"]["fields"] = {"id": "ID", "name": "Name"}
    entities["people"]["defaults"] = {"roles": "carer"}
    entities["projects"] = {
        "source": "files",
        "location": f"projects{suffix}",
        "fields": {"id": "Code", "name": "Project"},
    }
    entities["sessions"]["fields"]["project_id"] = "Project"
    recipe = Recipe.model_validate(data)
    conn = connector(tmp_path, recipe)
    files = {
        "people": [["ID", "Name"], ["7", "Sam"], ["ID", "Name"], ["8", "Ali"], ["id", "Idris"]],
        "projects": [["Code", "Project"], ["P1", "Day service"], ["CODE ", " project"], ["P2", "Name"]],
        "sessions": [
            ["ID", "Project", "Date", "Hours", "Kind"],
            ["S1", "P1", "03/03/2026", "2", "Co-design workshop"],
        ],
        "attendance": [["Person", "Session"], ["7", "S1"], ["id", "S1"]],
    }
    write_files(tmp_path, suffix, files)
    pages = {
        entity: [page.rows for page in conn.read(entity, spec)] for entity, spec in recipe.entities.items()
    }
    assert all(isinstance(rows, RowBlock) for got in pages.values() for rows in got)
    mapped = map_dataset(recipe, pages)

    assert [(p.check_id, p.evidence["row"]) for p in mapped.problems] == [
        ("data_quality.repeated_headings", f"people{suffix} row 3"),
        ("data_quality.repeated_headings", f"projects{suffix} row 3"),
    ]
    assert [(p.id, p.name) for p in mapped.dataset.people] == [("7", "Sam"), ("8", "Ali"), ("id", "Idris")]
    assert [(p.id, p.name) for p in mapped.dataset.projects] == [("P1", "Day service"), ("P2", "Name")]
    assert [(a.person_id, a.session_id) for a in mapped.dataset.attendance] == [("7", "S1"), ("id", "S1")]
    assert mapped.counts[Entity.PEOPLE] == EntityCount(read=4, used=3, rejected=1)
    assert mapped.counts[Entity.PROJECTS] == EntityCount(read=3, used=2, rejected=1)


def test_invisible_characters_in_an_id_or_name_are_written_to_the_flags_file_visibly_as_text(
    tmp_path: Path,
) -> None:
    """A tab, a zero-width space or a right-to-left override in an id or a name is written as
    \\t or <U+200B>, in the About and Message cells, never as a formula; the fingerprint is the one
    of the id as it is, so a flag staff acknowledged stays acknowledged."""
    from coprod_core.about import with_about
    from coprod_core.model import Dataset, Person

    person = Person(id="7\u200b", name="=cmd\t\u202e", roles=frozenset())
    dataset = Dataset(people=(person,), projects=(), sessions=(), attendance=(), payments=())
    raw = make_flag(
        check_id="payments.owed",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PERSON, id="7\u200b"),
        title="Payment due",
        message="=cmd\t\u202e (ID 7\u200b) is owed £75.00.",
        evidence={"person": "7\u200b"},
    )
    (shown,) = with_about([raw], dataset)
    conn = connector(tmp_path)
    conn.write_flags([change(shown)])
    (row,) = flags_rows(conn)
    assert row["About"] == "'=cmd\\t<U+202E> (ID 7<U+200B>)"
    assert row["Message"] == "'=cmd\\t<U+202E> (ID 7<U+200B>) is owed £75.00."
    assert row["Fingerprint"] == shown.fingerprint == raw.fingerprint
    assert json.loads(row["Evidence"]) == {"person": "7\u200b"}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_reading_a_large_flags_file_holds_about_its_records_not_copies_of_its_text(
    tmp_path: Path, encoding: str
) -> None:
    """A sync reads the whole flags file to honour what staff set in it (5 MB at the benchmark's 1x).
    Handed to csv through ``io.StringIO``, its text was copied at four bytes a character (a "£"
    makes Python keep the string at two): 19 MiB more at the top of a 1x sync, 92 MiB at 5x. Read
    a block at a time, what reading holds at its peak is the file's bytes and the records made of
    them, in either encoding a spreadsheet saves it in."""
    import tracemalloc

    conn = connector(tmp_path)
    conn.write_flags(
        [change(flag(n, message=f"Person {n} is owed £{n}.00 " + "for a session. " * 8)) for n in range(3000)]
    )
    text = conn.flags_path.read_text(encoding="utf-8-sig")
    conn.flags_path.write_text(text, encoding=encoding, newline="")
    size = conn.flags_path.stat().st_size
    assert size > 500_000

    tracemalloc.start()
    try:
        statuses = conn.read_staff_statuses()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(statuses) == 3000
    # About 5.8 times the file's size here (its bytes, and the many small cells as Python strings in
    # lists); through io.StringIO 9.6 times: the text again at four bytes a character.
    assert peak < 7 * size, f"reading a {size:,}-byte flags file peaked at {peak:,} bytes"


def test_install_where_the_flags_file_cannot_be_made_says_which_folder_coprod_must_write_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipe copied into /srv/coprod/recipes as root, then installed as the coprod user (as the
    deploy README says): the data folder is root's, and install said only "something unexpected
    went wrong (PermissionError)", exit 1. (Tests run as root, who may write anywhere: the refusal is
    the operating system's, made here as mkstemp meets it.)"""
    import tempfile

    write_all_files(tmp_path)
    conn = connector(tmp_path)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(SourceUnavailable) as info:
        conn.install()
    said = str(info.value)
    assert f"coprod-flags.csv could not be created in {tmp_path / 'data'} (Permission denied)" in said
    assert "the user coprod runs as must be able to write in that folder" in said
    assert not conn.flags_path.exists()
