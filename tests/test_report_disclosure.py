"""Disclosure control for shared reports: no count from 1 to 7, and none that subtraction can reveal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coprod.report.disclosure import FEWER, SMALL, Disclosure

SHARED = Disclosure(shared=True)
STAFF = Disclosure(shared=False)


def test_counts_from_one_to_seven_are_fewer_than_eight_and_zero_and_eight_are_shown() -> None:
    assert [str(SHARED.count(n)) for n in (0, 1, 7, 8, 1234)] == ["0", FEWER, FEWER, "8", "1,234"]
    assert SHARED.count(3).of("person", "people") == "fewer than 8 people"
    assert SHARED.count(1).hidden and not SHARED.count(0).hidden


def test_staff_report_hides_nothing() -> None:
    assert str(STAFF.count(3)) == "3"
    assert {k: c.value for k, c in STAFF.group({"a": 1, "b": 2, "c": 30}).items()} == {
        "a": 1,
        "b": 2,
        "c": 30,
    }


def test_one_small_cell_beside_a_shown_total_hides_the_next_smallest_too() -> None:
    # 40 people: 20, 17 and 3. Hiding only the 3 would leave it as 40 - 20 - 17.
    shown = SHARED.group({"white": 20, "black": 17, "asian": 3})
    assert shown["asian"].hidden and shown["black"].hidden and not shown["white"].hidden


def test_two_small_cells_adding_up_to_eight_or_more_need_nothing_else_hidden() -> None:
    shown = SHARED.group({"a": 4, "b": 5, "c": 30})
    assert shown["a"].hidden and shown["b"].hidden and shown["c"].value == 30


def test_zero_is_shown_and_never_counts_towards_what_is_hidden() -> None:
    shown = SHARED.group({"a": 0, "b": 2, "c": 30})
    assert shown["a"].value == 0 and shown["b"].hidden and shown["c"].hidden


@given(st.dictionaries(st.sampled_from("abcdefg"), st.integers(0, 40), min_size=1))
def test_no_small_count_can_be_worked_out_from_what_a_group_shows(cells: dict[str, int]) -> None:
    """Whatever is shown (and the total), every sum of hidden cells one can deduce is 0 or at least 8."""
    shown = SHARED.group(cells)
    hidden = [k for k, c in shown.items() if c.hidden]
    assert all(cells[k] == shown[k].value for k in cells if not shown[k].hidden)
    assert all(not 0 < cells[k] < SMALL or shown[k].hidden for k in cells)
    total = sum(cells.values())
    if SHARED.count(total).hidden:
        return  # the total is hidden too: nothing to subtract from
    # The only sum a reader learns is that of all hidden cells together (total minus the rest).
    together = sum(cells[k] for k in hidden)
    assert together == 0 or together >= SMALL


def test_an_amount_of_money_about_a_few_people_is_not_shown() -> None:
    assert not SHARED.amount_for(3) and SHARED.amount_for(0) and SHARED.amount_for(8) and STAFF.amount_for(3)
