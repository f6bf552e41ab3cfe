"""The flag lifecycle: only the difference is written, staff decisions are kept."""

from datetime import date

from coprod_core.flags import Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import ChangeKind, FlagStatus, diff_flags
from coprod_core.removed import PeopleRead

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def flag(subject: str = "17", amount: str = "75.00", message: str = "Sam is owed £75.00"):
    return make_flag(
        check_id="payments.overdue",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PERSON, id=subject),
        title="Payment overdue",
        message=message,
        evidence={"amount": amount},
        identity={"kind": "fee"},
        facts={"amount": amount},
    )


def test_a_new_flag_is_written_and_remembered():
    diff = diff_flags({}, [flag()], {}, D1)
    assert [c.kind for c in diff.changes] == [ChangeKind.NEW]
    assert diff.next_state[flag().fingerprint].status is FlagStatus.OPEN


def test_a_flag_raised_again_with_the_same_facts_writes_nothing():
    first = diff_flags({}, [flag()], {}, D1)
    second = diff_flags(first.next_state, [flag(message="reworded: Sam is owed £75.00")], {}, D2)
    assert second.changes == []
    assert second.still_open == 1
    assert second.next_state[flag().fingerprint].last_seen == D2


def test_changed_facts_make_a_changed_flag_with_the_same_fingerprint():
    first = diff_flags({}, [flag()], {}, D1)
    second = diff_flags(first.next_state, [flag(amount="100.00")], {}, D2)
    assert [c.kind for c in second.changes] == [ChangeKind.CHANGED]
    assert second.changes[0].fingerprint == flag().fingerprint
    assert second.next_state[flag().fingerprint].first_seen == D1


def test_a_flag_no_longer_raised_is_resolved_once():
    first = diff_flags({}, [flag()], {}, D1)
    second = diff_flags(first.next_state, [], {}, D2)
    assert [c.kind for c in second.changes] == [ChangeKind.RESOLVED]
    assert second.changes[0].flag is None
    third = diff_flags(second.next_state, [], {}, D2)
    assert third.changes == []


def test_a_resolved_flag_raised_again_is_reopened():
    state = diff_flags(diff_flags({}, [flag()], {}, D1).next_state, [], {}, D1).next_state
    again = diff_flags(state, [flag()], {}, D2)
    assert [c.kind for c in again.changes] == [ChangeKind.REOPENED]


def test_an_acknowledged_flag_is_kept_and_not_rewritten():
    first = diff_flags({}, [flag()], {}, D1)
    staff = {flag().fingerprint: FlagStatus.ACKNOWLEDGED}
    second = diff_flags(first.next_state, [flag()], staff, D2)
    assert second.changes == []
    assert second.kept_by_staff == 1
    assert second.next_state[flag().fingerprint].status is FlagStatus.ACKNOWLEDGED
    # The tool still says acknowledged next time, or the tool forgot: the state remembers it.
    third = diff_flags(second.next_state, [flag()], {}, D2)
    assert third.changes == [] and third.kept_by_staff == 1


def test_an_acknowledged_flag_is_reopened_only_when_its_facts_change():
    first = diff_flags({}, [flag()], {}, D1)
    staff = {flag().fingerprint: FlagStatus.WONT_FIX}
    acked = diff_flags(first.next_state, [flag()], staff, D2).next_state
    changed = diff_flags(acked, [flag(amount="125.00")], staff, D2)
    assert [c.kind for c in changed.changes] == [ChangeKind.CHANGED]
    assert changed.next_state[flag().fingerprint].status is FlagStatus.OPEN


def test_a_failed_write_keeps_the_previous_state_so_it_is_tried_again():
    first = diff_flags({}, [flag(), flag(subject="18")], {}, D1)
    failed = {flag(subject="18").fingerprint}
    saved = first.state_after({}, failed)
    assert flag(subject="18").fingerprint not in saved
    retry = diff_flags(saved, [flag(), flag(subject="18")], {}, D2)
    assert [(c.kind, c.fingerprint) for c in retry.changes] == [
        (ChangeKind.NEW, flag(subject="18").fingerprint)
    ]


def test_the_same_problem_raised_twice_in_one_run_is_one_flag():
    diff = diff_flags({}, [flag(), flag(message="other words")], {}, D1)
    assert len(diff.changes) == 1


# ---------------------------------------------------------------------------------------------
# A person no longer in the people list (coprod_core.removed)


def people(*ids: str, unidentified: int = 0) -> PeopleRead:
    return PeopleRead(frozenset(ids), unidentified)


def session_flag():
    return make_flag(
        check_id="representation.decision_without_voice",
        severity=Severity.CRITICAL,
        subject=Subject(kind=SubjectKind.SESSION, id="S1"),
        title="Decision taken without anyone with lived experience",
        message="The budget was decided with nobody with lived experience in the room.",
        evidence={"session_id": "S1"},
    )


def test_a_flag_about_a_person_gone_from_the_people_list_is_removed_once_and_keeps_its_dates():
    first = diff_flags({}, [flag("17"), flag("18")], {}, D1, people("17", "18"))
    second = diff_flags(first.next_state, [flag("18")], {}, D2, people("18"))

    assert [c.kind for c in second.changes] == [ChangeKind.REMOVED]
    change = second.changes[0]
    assert change.flag is None and change.fingerprint == flag("17").fingerprint
    assert change.known.status is FlagStatus.RESOLVED and change.known.words_removed
    assert (change.known.first_seen, change.known.last_seen) == (D1, D2)
    assert second.counts()["removed"] == 1 and second.counts()["resolved"] == 0
    assert second.counts()["closed_as_removed"] == 1  # it was open: closed by this run
    third = diff_flags(second.next_state, [flag("18")], {}, D2, people("18"))
    assert third.changes == []  # written once: a re-sync writes nothing more


def test_a_flag_resolved_before_its_person_left_the_list_is_removed_later_once():
    first = diff_flags({}, [flag("17")], {}, D1, people("17"))
    paid = diff_flags(first.next_state, [], {}, D1, people("17"))  # paid: resolved, person still there
    assert [c.kind for c in paid.changes] == [ChangeKind.RESOLVED]
    assert diff_flags(paid.next_state, [], {}, D2, people("17")).changes == []

    gone = diff_flags(paid.next_state, [], {}, D2, people())

    assert [c.kind for c in gone.changes] == [ChangeKind.REMOVED]
    assert gone.counts()["closed_as_removed"] == 0  # closed before: only its words go now
    assert gone.changes[0].known.last_seen == D1  # the day it was resolved stays
    assert diff_flags(gone.next_state, [], {}, D2, people()).changes == []


def test_a_person_whose_row_could_not_be_used_or_a_row_with_no_id_removes_nobody():
    first = diff_flags({}, [flag("17"), flag("18")], {}, D1, people("17", "18"))

    unreadable = diff_flags(first.next_state, [flag("18")], {}, D2, people("17", "18"))  # 17's row rejected
    blank_id = diff_flags(first.next_state, [flag("18")], {}, D2, people("18", unidentified=1))
    webhook = diff_flags(first.next_state, [flag("18")], {}, D2)  # a re-check of a part: no people read

    for diff in (unreadable, blank_id, webhook):
        assert [c.kind for c in diff.changes] == [ChangeKind.RESOLVED]
        assert not diff.changes[0].known.words_removed
    later = diff_flags(blank_id.next_state, [flag("18")], {}, D2, people("18"))  # the blank ID fixed
    assert [c.kind for c in later.changes] == [ChangeKind.REMOVED]


def test_only_flags_about_a_person_are_removed_and_a_removed_person_back_reopens_in_full():
    first = diff_flags({}, [flag("17"), session_flag()], {}, D1, people("17"))
    gone = diff_flags(first.next_state, [], {}, D2, people("18"))
    kinds = {c.fingerprint: c.kind for c in gone.changes}
    assert kinds == {
        flag("17").fingerprint: ChangeKind.REMOVED,
        session_flag().fingerprint: ChangeKind.RESOLVED,
    }

    back = diff_flags(gone.next_state, [flag("17")], {}, D2, people("17"))

    assert [c.kind for c in back.changes] == [ChangeKind.REOPENED]
    assert back.changes[0].flag == flag("17")  # its words written again
    assert back.next_state[flag("17").fingerprint].facts_digest == flag("17").facts_digest
