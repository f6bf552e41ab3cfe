"""Rows handed over in blocks (a table's cells under one header) map exactly as the same rows one by one.

The files connector hands the mapping each page of a CSV or XLSX file as a ``RowBlock``, and the
mapping reads a block column by column, building the records of the rows that need no flag at once
and sending every other row through the one row-by-row loop. These pin that nothing of what a run
finds depends on that: the same records in the same order, the same data-quality flags (messages,
evidence, fingerprints) and the same counts, whatever the rows hold and wherever the blocks split.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from coprod_core.mapping import Mapped, fields, map_dataset
from coprod_core.mapping.fields import FieldReader
from coprod_core.mapping.problems import Problems
from coprod_core.model import Role
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row, RowBlock


def recipe(payment_ids: bool = True, people: dict[str, Any] | None = None) -> Recipe:
    payments = {
        "person_id": "Person",
        "amount": "Amount",
        "date": "Date",
        "kind": "Kind",
        "session_id": "Session",
    }
    if payment_ids:
        payments["id"] = "Ref"
    return Recipe.model_validate(
        {
            "name": "blocks",
            "sources": {"files": {"connector": "files"}},
            "projects": [{"id": "P1", "name": "Day service redesign"}],
            "entities": {
                "people": people
                or {"source": "files", "location": "people.csv", "fields": {"id": "ID", "roles": "Role"}},
                "sessions": {
                    "source": "files",
                    "location": "sessions.csv",
                    "fields": {"id": "ID", "date": "Date", "hours": "Hours", "kind": "Kind"},
                },
                "attendance": {
                    "source": "files",
                    "location": "attendance.csv",
                    "fields": {
                        "person_id": "Person",
                        "session_id": "Session",
                        "hours": "Hours",
                        "prep_hours": "Prep",
                        "expenses_claimed": "Expenses",
                    },
                },
                "payments": {"source": "files", "location": "payments.csv", "fields": payments},
            },
        }
    )


PEOPLE = RowBlock(
    "people.csv",
    ["ID", "Role"],
    [["1", "carer"], ["2", "lived experience"], ["3", "nobody knows"], ["", "carer"], ["1", "carer"]],
    [2, 3, 4, 5, 6],
)
SESSIONS = RowBlock(
    "sessions.csv",
    ["ID", "Date", "Hours", "Kind"],
    [
        ["S1", "01/03/2026", "2", "survey"],
        ["S2", "02/03/2026", "3", "steering group"],
        ["S3", "soon", "2", "survey"],
    ],
    [2, 3, 4],
)

ATTENDANCE_HEADER = ("Person", "Session", "Hours", "Prep", "Expenses")
PAYMENTS_HEADER = ("Ref", "Person", "Amount", "Date", "Kind", "Session")

# Cells as a register holds them: mostly good, some repeated, some not understood, some naming
# nobody known, some blank where a value is needed, some not text (an XLSX date, a KoboToolbox list).
person = st.sampled_from(["1", "2", "1", "2", " 2 ", "02", "3", "9", "", "  "])
session = st.sampled_from(["S1", "S2", "S1", "S2", " S1", "S3", "S9", ""])
hours = st.sampled_from(["", "", "2", "1.5", "bad", "-1"])
money = st.sampled_from(["", "", "", "£5.00", "5", "abc", "-3"])
attendance_row = st.tuples(person, session, hours, hours, money)
payment_row = st.tuples(
    st.sampled_from(["X1", "X2", "X3", "X4", " X1 ", ""]),
    person,
    st.sampled_from(["25", "£10.50", "25", "-5", "", "abc"]),
    st.one_of(st.sampled_from(["2026-04-01", "01/04/2026", "", "nope"]), st.just(date(2026, 4, 2))),
    st.sampled_from(["", "fee", "expenses", "bogus"]),
    st.one_of(st.sampled_from(["", "", "S1", "S9", "S3"]), st.just(["S1"])),
)


def blocks(
    source: str, header: tuple[str, ...], rows: list[tuple[Any, ...]], cuts: list[int]
) -> list[RowBlock]:
    """The rows in blocks cut at ``cuts``, numbered from row 2 with a blank row skipped now and then."""
    numbers = [2 + i + i // 3 for i in range(len(rows))]
    edges = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    return [
        RowBlock(source, header, [list(r) for r in rows[a:b]], numbers[a:b])
        for a, b in zip(edges, edges[1:], strict=False)
        if b > a
    ]


def one_by_one(items: list[RowBlock]) -> list[Row]:
    return [row for block in items for row in block]


def seen(mapped: Mapped) -> dict[str, Any]:
    """Everything a run takes from the mapping."""
    return {
        "dataset": mapped.dataset.model_dump(),
        "flags": [
            (f.fingerprint, f.check_id, f.subject, f.message, f.evidence_json) for f in mapped.problems
        ],
        "counts": {entity: vars(count) for entity, count in mapped.counts.items()},
    }


@settings(max_examples=150, deadline=None)
@given(
    st.lists(attendance_row, max_size=30),
    st.lists(payment_row, max_size=20),
    st.lists(st.integers(0, 60), max_size=6),
    st.booleans(),
)
def test_rows_mapped_in_blocks_give_what_they_give_one_by_one(
    attendance: list[tuple[Any, ...]], payments: list[tuple[Any, ...]], cuts: list[int], payment_ids: bool
) -> None:
    made = recipe(payment_ids)
    attendance_blocks = blocks("attendance.csv", ATTENDANCE_HEADER, attendance, cuts)
    payment_blocks = blocks("payments.csv", PAYMENTS_HEADER, payments, cuts[::-1])
    in_blocks = map_dataset(
        made,
        {
            Entity.PEOPLE: [PEOPLE],
            Entity.SESSIONS: [SESSIONS],
            Entity.ATTENDANCE: attendance_blocks,
            Entity.PAYMENTS: payment_blocks,
        },
    )
    in_rows = map_dataset(
        made,
        {
            Entity.PEOPLE: list(PEOPLE),
            Entity.SESSIONS: list(SESSIONS),
            Entity.ATTENDANCE: one_by_one(attendance_blocks),
            Entity.PAYMENTS: one_by_one(payment_blocks),
        },
    )
    assert seen(in_blocks) == seen(in_rows)


def test_a_row_repeating_one_used_in_an_earlier_block_names_that_row() -> None:
    register = [
        ("1", "S1", "", "", ""),
        ("2", "S1", "", "", ""),
        ("1", "S2", "", "", ""),
        ("2", "S1", "", "1", ""),
    ]
    mapped = map_dataset(
        recipe(),
        {
            Entity.PEOPLE: [PEOPLE],
            Entity.SESSIONS: [SESSIONS],
            Entity.ATTENDANCE: blocks("attendance.csv", ATTENDANCE_HEADER, register, [2]),
        },
    )
    assert [(a.person_id, a.session_id) for a in mapped.dataset.attendance] == [
        ("1", "S1"),
        ("2", "S1"),
        ("1", "S2"),
    ]
    repeated = [
        f for f in mapped.problems if f.check_id == "data_quality.duplicate_id" and "attendance" in f.message
    ]
    assert [f.message.split(":")[0] for f in repeated] == ["attendance.csv row 6"]
    assert "(first on attendance.csv row 3)" in repeated[0].message
    assert vars(mapped.counts[Entity.ATTENDANCE]) == {"read": 4, "used": 3, "rejected": 1}


def test_repeats_name_the_row_first_used_whichever_block_claimed_it_whole() -> None:
    # Blocks whose keys are new and distinct are claimed whole, their places worked out only once a
    # later row repeats one: here the second block repeats a row of the first, and the fourth one of
    # the third, claimed whole after the places were first worked out.
    register = [
        ("1", "S1", "", "", ""),
        ("2", "S1", "", "", ""),
        ("2", "S2", "", "", ""),
        ("1", "S1", "", "1", ""),
        ("1", "S2", "", "", ""),
        ("1", "S2", "", "2", ""),
    ]
    mapped = map_dataset(
        recipe(),
        {
            Entity.PEOPLE: [PEOPLE],
            Entity.SESSIONS: [SESSIONS],
            Entity.ATTENDANCE: blocks("attendance.csv", ATTENDANCE_HEADER, register, [2, 4, 5]),
        },
    )
    assert [(a.person_id, a.session_id) for a in mapped.dataset.attendance] == [
        ("1", "S1"),
        ("2", "S1"),
        ("2", "S2"),
        ("1", "S2"),
    ]
    repeated = [
        f.message
        for f in mapped.problems
        if f.check_id == "data_quality.duplicate_id" and "attendance" in f.message
    ]
    assert [m.split(":")[0] for m in repeated] == ["attendance.csv row 6", "attendance.csv row 8"]
    assert "(first on attendance.csv row 2)" in repeated[0]
    assert "(first on attendance.csv row 7)" in repeated[1]
    assert vars(mapped.counts[Entity.ATTENDANCE]) == {"read": 6, "used": 4, "rejected": 2}


def test_a_block_of_clean_rows_shares_one_string_per_id_with_the_people_read() -> None:
    mapped = map_dataset(
        recipe(),
        {
            Entity.PEOPLE: [PEOPLE],
            Entity.SESSIONS: [SESSIONS],
            Entity.ATTENDANCE: blocks("attendance.csv", ATTENDANCE_HEADER, [(" 1", "S1", "", "", "")], []),
        },
    )
    (row,) = mapped.dataset.attendance
    assert row.person_id is next(p.id for p in mapped.dataset.people if p.id == "1")


PEOPLE_HEADER = ("ID", "Name", "Role", "Payment", "Benefits", "Ethnicity", "Age")


def people_recipe(ages: bool) -> Recipe:
    """People with every field a block reads by column, and answers mapped through a values map
    (an answer it does not list is not understood and is flagged)."""
    return recipe(
        people={
            "source": "files",
            "location": "people.csv",
            "fields": {
                "id": "ID",
                "name": "Name",
                "roles": "Role",
                "payment_preference": "Payment",
                "benefits_opt_in": "Benefits",
            },
            "demographics": {"ethnicity": "Ethnicity", **({"age_band": "Age"} if ages else {})},
            "values": {"ethnicity": {"White British": "white", "Asian / Asian British": "asian"}},
        }
    )


# Mostly clean, distinct people (so that some blocks take the path by columns), with now and then
# an id repeated or blank, a role or a preference not understood, an answer not in the values map.
person_cells = st.tuples(
    st.sampled_from([None, None, None, None, "1", " 1 ", "", "id"]),  # None: a new id of its own
    st.sampled_from(["Sam", "", "  ", "Name"]),
    st.sampled_from(["carer", "lived experience", "", "carer; volunteer", "astronaut"]),
    st.sampled_from(["paid", "declined", "", "voucher", "sometimes"]),
    st.sampled_from(["yes", "no", "", "maybe"]),
    st.sampled_from(["White British", "asian", "", "Prefer not to say", "Martian"]),
    st.sampled_from(["18-24", "65+", "", "unknown"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(person_cells, max_size=30), st.lists(st.integers(0, 40), max_size=5), st.booleans())
def test_people_mapped_in_blocks_give_what_they_give_one_by_one(
    people: list[tuple[Any, ...]], cuts: list[int], ages: bool
) -> None:
    rows = [(f"P{i}" if cells[0] is None else cells[0], *cells[1:]) for i, cells in enumerate(people)]
    people_blocks = blocks("people.csv", PEOPLE_HEADER, rows, cuts)
    made = people_recipe(ages)
    in_blocks = map_dataset(made, {Entity.PEOPLE: people_blocks})
    in_rows = map_dataset(made, {Entity.PEOPLE: one_by_one(people_blocks)})
    assert seen(in_blocks) == seen(in_rows)


def test_a_block_of_clean_people_is_built_whole_with_each_answer_and_a_dict_of_its_own() -> None:
    rows = [
        ("P1", "Sam", "carer", "paid", "yes", "White British", "18-24"),
        ("P2", "", "lived experience", "", "no", "", "65+"),
    ]
    mapped = map_dataset(
        people_recipe(ages=True), {Entity.PEOPLE: blocks("people.csv", PEOPLE_HEADER, rows, [])}
    )
    first, second = mapped.dataset.people
    assert (first.id, first.name, first.demographics) == (
        "P1",
        "Sam",
        {"ethnicity": "white", "age_band": "18_24"},
    )
    assert (second.id, second.name, second.demographics) == (
        "P2",
        None,
        {"ethnicity": "unknown", "age_band": "65+"},
    )
    assert first.demographics is not second.demographics
    assert mapped.problems == [] and vars(mapped.counts[Entity.PEOPLE]) == {
        "read": 2,
        "used": 2,
        "rejected": 0,
    }


SESSIONS_HEADER = ("ID", "Project", "Date", "Hours", "Kind", "Stage", "Title", "Decided", "Decision", "Told")


def sessions_recipe(projects: int) -> Recipe:
    """Sessions with every field a block reads by column, in a recipe of one project (where a
    session may leave its project blank) or of two (where it may not)."""
    made = recipe().model_dump()
    made["projects"] = [{"id": f"P{i}", "name": f"Project {i}"} for i in range(1, projects + 1)]
    made["entities"]["sessions"]["fields"] = {
        "id": "ID",
        "project_id": "Project",
        "date": "Date",
        "hours": "Hours",
        "kind": "Kind",
        "stage": "Stage",
        "title": "Title",
        "decision_taken": "Decided",
        "decision": "Decision",
        "fed_back": "Told",
    }
    return Recipe.model_validate(made)


# Mostly clean, distinct sessions of known projects, with now and then an id repeated or blank, a
# project unknown or left blank, a value not understood or blank where one is needed.
session_cells = st.tuples(
    st.sampled_from([None, None, None, None, "S1", " S1 ", "", "ID"]),  # None: a new id of its own
    st.sampled_from(["P1", "P1", "P2", " P1", "", "P9"]),
    st.sampled_from(["01/03/2026", "2026-03-02", "2026-03-02", "", "soon"]),
    st.sampled_from(["2", "1.5", "2", "", "-1", "lots"]),
    st.sampled_from(["survey", "steering group", "survey", "", "picnic"]),
    st.sampled_from(["", "", "design", "delivery", "someday"]),
    st.sampled_from(["", "", "Budget day", "  "]),
    st.sampled_from(["", "", "yes", "no", "perhaps"]),
    st.sampled_from(["", "", "the budget"]),
    st.sampled_from(["", "", "2026-04-01", "later"]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(session_cells, max_size=30), st.lists(st.integers(0, 40), max_size=5), st.sampled_from([1, 2])
)
def test_sessions_mapped_in_blocks_give_what_they_give_one_by_one(
    sessions: list[tuple[Any, ...]], cuts: list[int], projects: int
) -> None:
    rows = [(f"S{i}0" if cells[0] is None else cells[0], *cells[1:]) for i, cells in enumerate(sessions)]
    session_blocks = blocks("sessions.csv", SESSIONS_HEADER, rows, cuts)
    made = sessions_recipe(projects)
    in_blocks = map_dataset(made, {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: session_blocks})
    in_rows = map_dataset(made, {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: one_by_one(session_blocks)})
    assert seen(in_blocks) == seen(in_rows)


def test_a_block_of_clean_sessions_is_built_whole_with_the_only_project_where_it_is_blank() -> None:
    rows = [
        ("S1", "", "01/03/2026", "2", "survey", "design", "Budget day", "yes", "the budget", "2026-04-01"),
        ("S2", "P1", "2026-03-02", "1.5", "steering group", "", "", "", "", ""),
    ]
    mapped = map_dataset(
        sessions_recipe(projects=1),
        {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: blocks("sessions.csv", SESSIONS_HEADER, rows, [])},
    )
    first, second = mapped.dataset.sessions
    assert (first.id, first.project_id, first.date, first.title, first.decision_taken, first.fed_back) == (
        "S1",
        "P1",
        date(2026, 3, 1),
        "Budget day",
        True,
        date(2026, 4, 1),
    )
    assert (second.project_id, second.stage, second.title, second.decision_taken) == ("P1", None, None, False)
    assert not [p for p in mapped.problems if p.subject.id.startswith("sessions")]
    assert vars(mapped.counts[Entity.SESSIONS]) == {"read": 2, "used": 2, "rejected": 0}


TEXT_PEOPLE_HEADER = ("ID", "Name")

# People read only from an id and a name (their roles a default): nothing a heading row holds is a
# value not understood. Now and then a heading row pasted in (in any capitals and spacing), a real
# person whose id or name reads as a heading, an id repeated.
text_person_cells = st.tuples(
    st.sampled_from([None, None, None, "ID", " id ", "I D", "7"]),  # None: a new id of its own
    st.sampled_from(["Sam", "Name", "  NAME", "", "ID"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(text_person_cells, max_size=30), st.lists(st.integers(0, 40), max_size=5))
def test_a_heading_row_among_text_only_columns_is_found_in_blocks_as_one_by_one(
    people: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    rows = [(f"P{i}" if cells[0] is None else cells[0], *cells[1:]) for i, cells in enumerate(people)]
    people_blocks = blocks("people.csv", TEXT_PEOPLE_HEADER, rows, cuts)
    made = recipe(
        people={
            "source": "files",
            "location": "people.csv",
            "fields": {"id": "ID", "name": "Name"},
            "defaults": {"roles": "carer"},
        }
    )
    in_blocks = map_dataset(made, {Entity.PEOPLE: people_blocks})
    in_rows = map_dataset(made, {Entity.PEOPLE: one_by_one(people_blocks)})
    assert seen(in_blocks) == seen(in_rows)
    heading_rows = [
        row
        for block in people_blocks
        for row in block
        if row.values["ID"].strip().lower() == "id" and row.values["Name"].strip().lower() == "name"
    ]
    assert [f.evidence["row"] for f in in_blocks.problems if f.check_id.endswith("repeated_headings")] == [
        row.ref for row in heading_rows
    ]
    assert not any(
        p.name is not None and p.name.lower() == "name" and p.id.lower() == "id"
        for p in in_blocks.dataset.people
    )


def test_a_heading_row_among_ids_all_read_before_is_found_in_a_block_as_one_by_one() -> None:
    """A block whose every person is an id read before is read with one look-up per cell (no
    trimming first): a heading row pasted in again, its text already in the table of ids since an
    earlier block, is still found and flagged once, as row by row; a known id with spaces round it
    still reads as that id."""
    heading = ("Person", "Session", "Hours", "Prep", "Expenses")
    register = [
        ("1", "S1", "", "", ""),
        heading,
        ("2", "S1", "", "", ""),  # a block of ids all in the table, "Person" too
        heading,
        ("1", "S2", "", "", ""),
        (" 2 ", "S2", "", "", ""),
        (" person ", "SESSION", "hours", "prep", "expenses"),
    ]
    attendance = blocks("attendance.csv", ATTENDANCE_HEADER, register, [2, 5])
    rows = {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: [SESSIONS]}
    in_blocks = map_dataset(recipe(), {**rows, Entity.ATTENDANCE: attendance})
    in_rows = map_dataset(recipe(), {**rows, Entity.ATTENDANCE: one_by_one(attendance)})
    assert seen(in_blocks) == seen(in_rows)
    assert [(a.person_id, a.session_id) for a in in_blocks.dataset.attendance] == [
        ("1", "S1"),
        ("2", "S1"),
        ("1", "S2"),
        ("2", "S2"),
    ]
    headings = [f for f in in_blocks.problems if f.check_id == "data_quality.repeated_headings"]
    assert [f.message.split(" ")[2] for f in headings] == ["3", "6", "10"]


def made_as_constructed(made: BaseModel) -> None:
    """``made`` is what ``model_construct`` makes of its fields: the same state (fields in the
    model's order, every field given, no extra, no private attributes)."""
    kind = type(made)
    constructed = kind.model_construct(**made.model_dump())
    assert made.__getstate__() == constructed.__getstate__()
    assert list(vars(made)) == list(kind.model_fields) == list(vars(constructed))
    assert made.model_fields_set == set(kind.model_fields)
    assert made.__pydantic_extra__ is None and made.__pydantic_private__ is None


def test_a_session_is_made_as_model_construct_makes_it_with_every_field_given() -> None:
    """Sessions are made as ``Session.model_construct`` makes them with every field given, in a
    block or row by row: the same values, every field set, each with fields of its own."""
    rows = [
        ("S1", "", "01/03/2026", "2", "survey", "design", "Budget day", "yes", "the budget", "2026-04-01"),
        ("S2", "P1", "2026-03-02", "1.5", "steering group", "", "", "", "", ""),
    ]
    session_blocks = blocks("sessions.csv", SESSIONS_HEADER, rows, [])
    for given_as in (session_blocks, one_by_one(session_blocks)):
        mapped = map_dataset(
            sessions_recipe(projects=1), {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: given_as}
        )
        first, second = mapped.dataset.sessions
        for made in (first, second):
            made_as_constructed(made)
        assert (first.hours, second.hours) == (Decimal(2), Decimal("1.5"))
        assert vars(first) is not vars(second)
        assert first.model_fields_set is not second.model_fields_set


def test_a_person_is_made_as_model_construct_makes_it_with_every_field_given() -> None:
    """People are made as ``Person.model_construct`` makes them with every field given, in a block
    or row by row, each with fields, answers and a set of fields given of its own."""
    rows = [
        ("P1", "Sam", "carer; volunteer", "paid", "yes", "White British", "18-24"),
        ("P2", "", "lived experience", "", "no", "White British", "18-24"),
    ]
    people_blocks = blocks("people.csv", PEOPLE_HEADER, rows, [])
    for given_as in (people_blocks, one_by_one(people_blocks)):
        first, second = map_dataset(people_recipe(ages=True), {Entity.PEOPLE: given_as}).dataset.people
        for made in (first, second):
            made_as_constructed(made)
        assert first.roles == frozenset({Role.CARER, Role.VOLUNTEER})
        assert (first.benefits_opt_in, second.benefits_opt_in, second.name) == (True, False, None)
        assert first.demographics == second.demographics == {"ethnicity": "white", "age_band": "18_24"}
        assert first.demographics is not second.demographics
        assert vars(first) is not vars(second)
        assert first.model_fields_set is not second.model_fields_set


UNREAD = tuple(f"Note {i}" for i in range(12))
"""Columns the recipe does not read: with them, a block's columns are taken from each row by their
positions, rather than as the rows are (:meth:`FieldReader._columns`)."""


def widened(items: list[RowBlock]) -> list[RowBlock]:
    """The same blocks with columns the recipe does not read, before and after those it reads."""
    return [
        RowBlock(
            b.source,
            (*UNREAD[:6], *b.header, *UNREAD[6:]),
            [["x"] * 6 + list(cells) + ["y"] * 6 for cells in b.cells],
            b.numbers,
        )
        for b in items
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(attendance_row, max_size=30),
    st.lists(payment_row, max_size=20),
    st.lists(st.integers(0, 60), max_size=6),
)
def test_a_block_reads_the_same_by_columns_at_once_as_by_position(
    attendance: list[tuple[Any, ...]], payments: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    """A block whose columns the recipe mostly reads is cut into columns as its rows are; one with
    many columns it does not read, by the positions of those it reads: the same columns, and the
    same records, flags and counts either way, and as row by row."""
    attendance_blocks = blocks("attendance.csv", ATTENDANCE_HEADER, attendance, cuts)
    payment_blocks = blocks("payments.csv", PAYMENTS_HEADER, payments, cuts[::-1])
    reader = FieldReader(Entity.ATTENDANCE, recipe().entities[Entity.ATTENDANCE], Problems(), {})
    for narrow, wide in zip(attendance_blocks, widened(attendance_blocks), strict=True):
        for made in (narrow, wide):
            index = {title: i for i, title in enumerate(made.header)}
            columns = reader._columns(made, index)
            assert {made.header[p]: list(cells) for p, cells in columns.items()} == {
                title: [row[index[title]] for row in made.cells] for title in ATTENDANCE_HEADER
            }

    def mapped(given: dict[Entity, Any]) -> dict[str, Any]:
        return seen(map_dataset(recipe(), {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: [SESSIONS], **given}))

    at_once = mapped({Entity.ATTENDANCE: attendance_blocks, Entity.PAYMENTS: payment_blocks})
    by_position = mapped(
        {Entity.ATTENDANCE: widened(attendance_blocks), Entity.PAYMENTS: widened(payment_blocks)}
    )
    in_rows = mapped(
        {Entity.ATTENDANCE: one_by_one(attendance_blocks), Entity.PAYMENTS: one_by_one(payment_blocks)}
    )
    assert at_once == by_position == in_rows


@settings(max_examples=100, deadline=None)
@given(
    st.lists(attendance_row, max_size=30),
    st.lists(payment_row, max_size=20),
    st.lists(st.integers(0, 60), max_size=6),
    st.sampled_from([0, 3, 1_000]),
)
def test_left_out_cells_are_read_as_their_fill_as_the_block_is_read(
    attendance: list[tuple[Any, ...]], payments: list[tuple[Any, ...]], cuts: list[int], most: int
) -> None:
    """A block's blank hours, preparation, expenses and payment kinds are read as what their record
    is built with as the cells are looked up (through the texts seen, each blank one read as the
    fill), or replaced one by one where a field has more than ``FILLED_TEXTS`` distinct texts: the
    same records, flags and counts either way, and as row by row."""
    attendance_blocks = blocks("attendance.csv", ATTENDANCE_HEADER, attendance, cuts)
    payment_blocks = blocks("payments.csv", PAYMENTS_HEADER, payments, cuts[::-1])
    known = {Entity.PEOPLE: [PEOPLE], Entity.SESSIONS: [SESSIONS]}
    with patch.object(fields, "FILLED_TEXTS", most):
        in_blocks = map_dataset(
            recipe(), {**known, Entity.ATTENDANCE: attendance_blocks, Entity.PAYMENTS: payment_blocks}
        )
    in_rows = map_dataset(
        recipe(),
        {
            **known,
            Entity.ATTENDANCE: one_by_one(attendance_blocks),
            Entity.PAYMENTS: one_by_one(payment_blocks),
        },
    )
    assert seen(in_blocks) == seen(in_rows)


def test_a_block_read_with_its_fill_holds_it_where_a_cell_is_blank() -> None:
    register = [("1", "S1", "", "", "£5"), ("2", "S1", "2", "1", ""), ("1", "S2", "", "", "")]
    reader = FieldReader(Entity.ATTENDANCE, recipe().entities[Entity.ATTENDANCE], Problems(), {})
    zero = Decimal(0)
    first, second = (
        reader.block(b, {"prep_hours": zero, "expenses_claimed": zero})
        for b in blocks("attendance.csv", ATTENDANCE_HEADER, register, [1])
    )
    assert first.column("prep_hours", zero) == [zero]
    assert second.column("prep_hours", zero) == [Decimal(1), zero]  # through the texts filled
    assert second.column("expenses_claimed", zero) == [zero, zero]
    assert second.column("hours") == [Decimal(2), None]  # no fill: None
    with pytest.raises(ValueError, match="another value for a row without its prep_hours"):
        second.column("prep_hours", None)
