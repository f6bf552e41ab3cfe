"""Co-production values agreed before the first decision, and reassessed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from coprod_core.checks import values
from coprod_core.flags import Severity, SubjectKind
from coprod_core.model import Dataset, Project, Rung, Session, SessionKind
from coprod_core.settings import CheckSettings, ValuesSettings

SETTINGS = CheckSettings()
DECIDED = date(2026, 3, 1)
RUN = date(2026, 6, 1)
BOTH = frozenset({"projects.values_agreed", "projects.values_reviewed"})


def dataset(
    agreed: date | None = date(2026, 2, 1),
    reviewed: date | None = None,
    *,
    recorded: frozenset[str] = BOTH,
    label: Rung = Rung.CO_PRODUCTION,
    decided: date | None = DECIDED,
) -> Dataset:
    sessions = (
        (
            Session(
                id="d1",
                project_id="p1",
                date=decided,
                hours=Decimal(2),
                kind=SessionKind.DECISION_MEETING,
                decision_taken=True,
                decision="The budget",
            ),
        )
        if decided
        else ()
    )
    project = Project(
        id="p1", name="Peer support line", label=label, values_agreed=agreed, values_reviewed=reviewed
    )
    return Dataset(projects=(project,), sessions=sessions, recorded=recorded)


def ids(ds: Dataset, run_date: date = RUN, settings: CheckSettings = SETTINGS) -> list[str]:
    return [f.check_id for f in values.run(ds, settings, run_date)]


def test_values_agreed_before_the_first_decision_and_reviewed_in_time_is_not_flagged() -> None:
    assert ids(dataset(reviewed=date(2026, 5, 1))) == []
    assert ids(dataset(agreed=DECIDED)) == []  # on the day is before it


def test_no_record_of_agreeing_values_before_the_first_decision_is_flagged() -> None:
    [flag] = values.run(dataset(agreed=None), SETTINGS, RUN)
    assert flag.check_id == "values.not_agreed" and flag.severity is Severity.WARNING
    assert flag.subject.kind is SubjectKind.PROJECT and flag.subject.id == "p1"
    assert flag.evidence == {
        "values_agreed": None,
        "first_decision_session_id": "d1",
        "first_decision_date": "2026-03-01",
    }
    assert flag.message == (
        "'Peer support line' is called co-production and took its first decision at the decision meeting "
        "on 1 March 2026 ('The budget'), but there is no record that it agreed the values co-production "
        "requires before then. Agree the values (a charter, ground rules) together with the people taking "
        "part before the next decision, and record the date."
    )


def test_values_agreed_only_after_the_first_decision_is_flagged() -> None:
    [flag] = values.run(dataset(agreed=DECIDED + timedelta(days=1)), SETTINGS, RUN)
    assert "it agreed its co-production values only afterwards, on 2 March 2026" in flag.message


def test_no_decision_yet_means_there_is_still_time() -> None:
    assert ids(dataset(agreed=None, decided=None)) == []
    assert ids(dataset(agreed=None), run_date=DECIDED - timedelta(days=1)) == []


def test_a_date_after_the_run_date_is_not_a_record_yet() -> None:
    assert ids(dataset(agreed=RUN + timedelta(days=1))) == ["values.not_agreed"]


def test_values_not_reassessed_within_the_set_days_is_info() -> None:
    agreed = date(2025, 12, 1)
    assert ids(dataset(agreed=agreed), run_date=agreed + timedelta(days=180)) == []
    [flag] = values.run(dataset(agreed=agreed), SETTINGS, agreed + timedelta(days=181))
    assert flag.check_id == "values.not_reviewed" and flag.severity is Severity.INFO
    assert flag.evidence == {
        "values_agreed": "2025-12-01",
        "values_reviewed": None,
        "days_since": 181,
        "review_within_days": 180,
    }
    assert flag.message.startswith(
        "'Peer support line' last agreed its co-production values on 1 December 2025, 181 days ago;"
    )


def test_the_latest_review_restarts_the_clock_and_is_named() -> None:
    ds = dataset(agreed=date(2025, 1, 1), reviewed=date(2025, 11, 1))
    assert ids(ds, run_date=date(2026, 4, 30)) == []
    [flag] = values.run(ds, SETTINGS, date(2026, 5, 1))
    assert "last reassessed its co-production values on 1 November 2025" in flag.message
    yearly = CheckSettings(values=ValuesSettings(review_within_days=365))
    assert ids(ds, run_date=date(2026, 5, 1), settings=yearly) == []


def test_each_part_is_silent_when_its_field_is_not_mapped() -> None:
    unmapped = dataset(agreed=None, recorded=frozenset())
    assert ids(unmapped) == []
    only_agreed = dataset(agreed=date(2020, 1, 1), recorded=frozenset({"projects.values_agreed"}))
    assert ids(only_agreed) == []  # reviews are not kept: nothing is known about them
    assert ids(dataset(agreed=None, recorded=frozenset({"projects.values_reviewed"}))) == []


def test_only_projects_labelled_co_production_are_judged() -> None:
    assert ids(dataset(agreed=None, label=Rung.CO_DESIGN)) == []
    assert ids(dataset(agreed=None, label=Rung.CONSULTATION)) == []


def test_fingerprints_do_not_move_as_days_pass() -> None:
    ds = dataset(agreed=date(2025, 1, 1))
    first = values.run(ds, SETTINGS, RUN)
    later = values.run(ds, SETTINGS, RUN + timedelta(days=30))
    assert [(f.fingerprint, f.facts_digest) for f in first] == [
        (f.fingerprint, f.facts_digest) for f in later
    ]
