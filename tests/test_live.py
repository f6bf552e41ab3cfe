"""A dataset kept in memory and changed one record at a time gives the flags a whole run gives.

The webhook worker maps a changed record on top of the whole mapping and re-runs the checks only for
the projects and people it concerns (``coprod_core.live``). These tests make random changes of
every kind a platform can send (new, edited and removed people, projects, sessions, attendance and
payments, good values and bad) to a synthetic organisation held as rows, and after each compare
what the live dataset says with a whole mapping and a whole check of the same rows: the same
flags (fingerprints and facts), the same data-quality flags, the same counts.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from datetime import date
from typing import Any

import pytest

from coprod_core.checks import check_all
from coprod_core.live import CheckFlags, LiveDataset, NeedsWholeRead, Scope, UnitChange, scoped_check
from coprod_core.mapping import map_dataset
from coprod_core.recipe import Entity, Recipe
from coprod_core.rows import Row, RowBlock
from fakes import load_script

synth = load_script("benchmarks/synth.py")
synth_rows = load_script("benchmarks/synth_rows.py")
RUN_DATE = date(2026, 11, 20)


def recipe() -> Recipe:
    data = copy.deepcopy(synth_rows.RECIPE)
    data["entities"]["projects"]["fields"].update({"decision_group": "Group", "co_chairs": "Co-chairs"})
    data["entities"]["people"]["fields"]["supported"] = "Supported"
    data["entities"]["sessions"]["fields"]["fed_back"] = "Fed back"
    data["entities"]["attendance"]["fields"]["hours"] = "Hours"
    data["policy"] = {
        "rates": {"decision_meeting": 25, "steering_group": 25, "co_design_workshop": 25, "focus_group": 20},
        "minimum_hours": 1,
        "pay_within_days": 30,
        "eligible_roles": ["lived_experience", "carer"],
    }
    data["baseline"] = {
        "ethnicity": {"source": "test", "as_of": "2026-03-31", "shares": dict(synth.ETHNICITY)}
    }
    return Recipe.model_validate(data)


class Sheets:
    """The organisation as five lists of rows, each row its own record (``key`` = its row number)."""

    def __init__(self, seed: int, people: int = 90, sessions: int = 300) -> None:
        data = synth.dataset(
            people=people, sessions=sessions, attendances=people * 8, payments=people * 2, seed=seed
        )
        self.rng = random.Random(seed)
        self.rows: dict[Entity, dict[str, Row]] = {}
        for entity, rows in synth_rows.rows(data).items():
            self.rows[entity] = {str(r.key): r for r in rows}
        for n, row in enumerate(self.rows[Entity.PROJECTS].values()):
            project = data.projects[n]
            chairs = list(project.decision_group[:1])
            row.values.update({"Group": "; ".join(project.decision_group), "Co-chairs": "; ".join(chairs)})
        self.next = 100_000

    def as_mapping(self) -> dict[Entity, list[Row]]:
        return {e: list(rows.values()) for e, rows in self.rows.items()}

    def ids(self, entity: Entity, column: str = "ID") -> list[str]:
        return [str(r.values.get(column)) for r in self.rows[entity].values()]

    def put(self, entity: Entity, values: dict[str, Any], key: str | None = None) -> UnitChange:
        if key is None:
            self.next += 1
            key = str(self.next)
        row = Row(f"{entity.value}.csv row {key}", values, key)
        self.rows[entity][key] = row
        return UnitChange(entity, key, (row,))

    def drop(self, entity: Entity, key: str) -> UnitChange:
        del self.rows[entity][key]
        return UnitChange(entity, key, ())

    def edit(self, entity: Entity, **values: Any) -> UnitChange:
        key = self.rng.choice(list(self.rows[entity]))
        return self.put(entity, {**self.rows[entity][key].values, **values}, key)

    def random_change(self) -> list[UnitChange]:
        rng = self.rng
        people, sessions = self.ids(Entity.PEOPLE), self.ids(Entity.SESSIONS)
        kind = rng.choice(
            ["attend", "attend", "session", "pay", "person", "role", "preference", "supported", "kind", "date",
             "decision", "fed back", "move", "prep", "unattend", "unpay", "bad date", "unknown person",
             "duplicate payment", "project", "group", "label", "drop session", "drop person", "repeat session",
             "hours", "length"]
        )  # fmt: skip
        if kind == "attend":
            return [self.put(Entity.ATTENDANCE, {"Person": rng.choice(people), "Session": rng.choice(sessions),
                                                 "Prep": rng.choice(["", "1"]), "Expenses": ""})]  # fmt: skip
        if kind == "session":
            sid = f"S{self.next + 1}"
            project = rng.choice(self.ids(Entity.PROJECTS))
            made = [self.put(Entity.SESSIONS, {"ID": sid, "Project": project, "Date": "02/11/2026", "Hours": "2",
                                               "Kind": rng.choice(["decision meeting", "training", "focus group"]),
                                               "Stage": "design", "Decision": rng.choice(["yes", ""])})]  # fmt: skip
            for pid in rng.sample(people, 3):  # their own hours at times more than the session lasted
                made.append(
                    self.put(
                        Entity.ATTENDANCE,
                        {
                            "Person": pid,
                            "Session": sid,
                            "Prep": "",
                            "Expenses": "",
                            "Hours": rng.choice(["", "2", "5"]),
                        },
                    )  # fmt: skip
                )
            return made
        if kind == "pay":
            return [self.put(Entity.PAYMENTS, {"ID": f"Y{self.next + 1}", "Person": rng.choice(people),
                                               "Amount": "£50.00", "Date": "01/11/2026", "Type": "fee"})]  # fmt: skip
        if kind == "person":
            return [self.put(Entity.PEOPLE, {"ID": f"N{self.next + 1}", "Role": "lived_experience", "Payment": "paid",
                                             "Benefits": "no", "Ethnic group": "white", "Age band": "65"})]  # fmt: skip
        if kind == "role":
            return [
                self.edit(
                    Entity.PEOPLE, Role=rng.choice(["lived_experience", "carer", "manager", "nonsense"])
                )
            ]
        if kind == "preference":
            return [self.edit(Entity.PEOPLE, Payment=rng.choice(["paid", "declined", "voucher"]))]
        if kind == "supported":
            return [self.edit(Entity.PEOPLE, Supported=rng.choice(["yes", "no", ""]))]
        if kind == "kind":
            return [self.edit(Entity.SESSIONS, Kind=rng.choice(["decision meeting", "training", "survey"]))]
        if kind == "date":
            return [self.edit(Entity.SESSIONS, Date=rng.choice(["01/02/2025", "15/10/2026", "31/02/2026"]))]
        if kind == "decision":
            return [self.edit(Entity.SESSIONS, Decision=rng.choice(["yes", ""]))]
        if kind == "fed back":
            return [self.edit(Entity.SESSIONS, **{"Fed back": rng.choice(["10/11/2026", ""])})]
        if kind == "move":
            return [self.edit(Entity.SESSIONS, Project=rng.choice(self.ids(Entity.PROJECTS)))]
        if kind == "hours":  # someone's own hours, at times more than the session lasted
            return [self.edit(Entity.ATTENDANCE, Hours=rng.choice(["", "1", "5", "6"]))]
        if kind == "length":
            return [self.edit(Entity.SESSIONS, Hours=rng.choice(["1", "2", "3"]))]
        if kind == "prep":
            return [self.edit(Entity.ATTENDANCE, Prep=rng.choice(["", "1", "2"]))]
        if kind == "unattend":
            return [self.drop(Entity.ATTENDANCE, rng.choice(list(self.rows[Entity.ATTENDANCE])))]
        if kind == "unpay":
            return [self.drop(Entity.PAYMENTS, rng.choice(list(self.rows[Entity.PAYMENTS])))]
        if kind == "bad date":
            return [self.edit(Entity.PAYMENTS, Date="someday")]
        if kind == "unknown person":
            return [self.put(Entity.ATTENDANCE, {"Person": "X999", "Session": rng.choice(sessions), "Prep": "",
                                                 "Expenses": ""})]  # fmt: skip
        if kind == "duplicate payment":
            first = rng.choice(list(self.rows[Entity.PAYMENTS].values()))
            return [self.put(Entity.PAYMENTS, dict(first.values))]
        if kind == "project":
            return [self.put(Entity.PROJECTS, {"ID": f"Q{self.next + 1}", "Name": "New", "Label": "co_production",
                                               "Plan drafted": "", "Group": "; ".join(rng.sample(people, 3)),
                                               "Co-chairs": ""})]  # fmt: skip
        if kind == "group":
            return [self.edit(Entity.PROJECTS, Group="; ".join(rng.sample(people, 4)))]
        if kind == "label":
            return [
                self.edit(Entity.PROJECTS, Label=rng.choice(["consultation", "co_production", "co_design"]))
            ]
        if kind == "drop session":
            return [self.drop(Entity.SESSIONS, rng.choice(list(self.rows[Entity.SESSIONS])))]
        if kind == "drop person":
            return [self.drop(Entity.PEOPLE, rng.choice(list(self.rows[Entity.PEOPLE])))]
        first = rng.choice(list(self.rows[Entity.SESSIONS].values()))  # a session row written twice
        return [self.put(Entity.SESSIONS, dict(first.values))]


def judged(flags: Iterable[Any]) -> set[tuple[str, str]]:
    return {(f.fingerprint, f.facts_digest) for f in flags}


def build(rec: Recipe, sheets: Sheets) -> tuple[LiveDataset, CheckFlags]:
    live = LiveDataset(rec)
    mapped = live.map(sheets.as_mapping())
    return live, CheckFlags(check_all(mapped.dataset, rec.settings, RUN_DATE).flags)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_changes_give_the_flags_and_counts_a_whole_run_gives(seed: int) -> None:
    rec = recipe()
    sheets = Sheets(seed)
    live, flags = build(rec, sheets)
    rebuilt = scoped = 0
    for _ in range(60):
        changes = sheets.random_change()
        try:
            scope = live.apply(changes)
        except NeedsWholeRead:
            live, flags = build(rec, sheets)
            rebuilt += 1
        else:
            flags.put(scoped_check(live, flags, scope, rec.settings, RUN_DATE).fresh)
            scoped += 1
        whole = map_dataset(rec, sheets.as_mapping())
        expected = check_all(whole.dataset, rec.settings, RUN_DATE).flags
        assert judged(flags.all()) == judged(expected), changes
        assert judged(live.problems.flags) == judged(whole.problems), changes
        assert {e: vars(c) for e, c in live.counts.items()} == {e: vars(c) for e, c in whole.counts.items()}
    assert scoped > 2 * rebuilt, "most changes are taken one record at a time"


def test_a_new_attendance_rechecks_its_project_and_person_not_the_rest() -> None:
    rec = recipe()
    sheets = Sheets(4, people=200, sessions=400)
    live, _ = build(rec, sheets)
    session = next(iter(sheets.rows[Entity.SESSIONS].values())).values
    person = sheets.ids(Entity.PEOPLE)[5]
    scope = live.apply([sheets.put(Entity.ATTENDANCE, {"Person": person, "Session": session["ID"]})])
    assert not scope.whole and session["Project"] in scope.projects and person in scope.people
    assert len(scope.projects) < len(sheets.rows[Entity.PROJECTS])
    assert live.current is not None
    assert len(live.projects_part(scope).attendance) < len(live.current.attendance)
    assert {a.person_id for a in live.people_part(scope).attendance} <= scope.people


def test_a_person_that_earlier_rows_named_before_they_existed_needs_a_whole_read() -> None:
    rec = recipe()
    sheets = Sheets(5)
    session = sheets.ids(Entity.SESSIONS)[0]
    sheets.put(Entity.ATTENDANCE, {"Person": "LATE1", "Session": session})
    live, _ = build(rec, sheets)
    with pytest.raises(NeedsWholeRead, match="before it was read"):
        live.apply([sheets.put(Entity.PEOPLE, {"ID": "LATE1", "Role": "carer", "Payment": "paid"})])


def test_a_table_read_in_blocks_is_mapped_as_the_whole_run_maps_it() -> None:
    """A files source hands its rows over as blocks of cells; the live mapping takes them row by row
    (it keeps each row's place) and ends where ``map_dataset`` ends, and a change applies on top."""
    rec = recipe()
    sheets = Sheets(6)

    def blocks() -> dict[Entity, list[RowBlock]]:
        out = {}
        for entity, rows in sheets.as_mapping().items():
            header = sorted({column for r in rows for column in r.values})
            cells = [[str(r.values.get(c, "")) for c in header] for r in rows]
            out[entity] = [RowBlock(f"{entity.value}.csv", header, cells, [int(r.key or 0) for r in rows])]
        return out

    live = LiveDataset(rec)
    mapped = live.map(blocks())
    whole = map_dataset(rec, blocks())
    assert judged(mapped.problems) == judged(whole.problems) and mapped.dataset == whole.dataset
    session = sheets.ids(Entity.SESSIONS)[0]
    live.apply([sheets.put(Entity.ATTENDANCE, {"Person": sheets.ids(Entity.PEOPLE)[3], "Session": session})])
    after = map_dataset(rec, sheets.as_mapping())
    assert live.current is not None and set(live.current.attendance) == set(after.dataset.attendance)


def test_scope_union_keeps_everything_either_side_touches() -> None:
    a = Scope(frozenset({"P1"}), frozenset({"7"}))
    b = Scope(frozenset({"P2"}), frozenset(), frozenset({"S3"}), whole=True)
    assert a | b == Scope(frozenset({"P1", "P2"}), frozenset({"7"}), frozenset({"S3"}), True)
