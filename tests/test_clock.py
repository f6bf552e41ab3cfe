"""The run date is today where the organisation is: a recipe's ``timezone``, else the machine's zone."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import coprod.clock
from coprod import clock
from coprod.cli import main
from coprod_core.recipe import Recipe

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo"
LATE_EVENING_UTC = datetime(2026, 7, 2, 23, 30, tzinfo=UTC)
"""Half past midnight on 3 July in London (summer time), still 2 July in UTC."""


@pytest.fixture
def stood_still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coprod.clock, "now", lambda: LATE_EVENING_UTC)


@pytest.fixture
def machine_in_utc(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The machine's own zone set to UTC, as most hosted servers are (and put back after)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def demo_with(tmp_path: Path, zone: str | None) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    if zone is not None:
        recipe = target / "recipe.toml"
        text = recipe.read_text(encoding="utf-8")
        # A top-level key goes before the first table.
        recipe.write_text(text.replace("\n[", f'\ntimezone = "{zone}"\n\n[', 1), encoding="utf-8")
    return target


def test_today_is_the_date_in_the_recipes_time_zone(stood_still: None) -> None:
    assert clock.today("Europe/London") == date(2026, 7, 3)
    assert clock.today("UTC") == date(2026, 7, 2)
    assert clock.today("America/New_York") == date(2026, 7, 2)


def test_without_a_time_zone_today_is_the_machines_date(stood_still: None, machine_in_utc: None) -> None:
    assert clock.today(None) == date(2026, 7, 2)


def test_a_check_judges_as_of_the_organisations_date_not_the_servers(
    tmp_path: Path, stood_still: None, machine_in_utc: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(demo_with(tmp_path / "london", "Europe/London")), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_date"] == "2026-07-03"
    assert main(["check", str(demo_with(tmp_path / "machine", None)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_date"] == "2026-07-02"
    # --date still wins.
    assert main(["check", str(tmp_path / "london" / "demo"), "--json", "--date", "2026-11-20"]) == 0
    assert json.loads(capsys.readouterr().out)["run_date"] == "2026-11-20"


def test_a_sync_records_the_organisations_date_in_the_run_history(
    tmp_path: Path, stood_still: None, machine_in_utc: None, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = demo_with(tmp_path, "Europe/London")
    assert main(["sync", str(demo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_date"] == "2026-07-03"


def test_the_webhook_workers_recheck_uses_the_recipes_time_zone(
    tmp_path: Path, stood_still: None, machine_in_utc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coprod.live import LiveRecipe
    from coprod.webhook_app.settings import live_recheck

    seen: list[date] = []
    real = LiveRecipe.recheck

    def recheck(self: LiveRecipe, store: Any, deliveries: Any, today: date) -> Any:
        seen.append(today)
        return real(self, store, deliveries, today)

    monkeypatch.setattr(LiveRecipe, "recheck", recheck)
    demo = demo_with(tmp_path, "Europe/London")
    assert live_recheck("demo", demo / "recipe.toml") == 0
    assert seen == [date(2026, 7, 3)]


@pytest.mark.parametrize(
    "zone", ["Europe/Londn", "europe/london ", "../../etc/passwd", "/usr/share/zoneinfo/UTC", ""]
)
def test_a_time_zone_the_machine_does_not_know_is_refused_by_validate_naming_the_setting(
    tmp_path: Path, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = demo_with(tmp_path, zone)
    assert main(["validate", str(demo)]) == 2
    out = capsys.readouterr().out
    assert "timezone" in out and '"Europe/London"' in out
    assert "Traceback" not in out
    assert main(["check", str(demo)]) == 2  # the same validation before a run


def test_a_known_time_zone_is_accepted_and_kept_by_the_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = demo_with(tmp_path, "Europe/London")
    assert main(["validate", str(demo)]) == 0
    from coprod.config import load_recipe

    assert load_recipe(demo).recipe.timezone == "Europe/London"
    assert Recipe.model_fields["timezone"].default is None  # the machine's zone unless a recipe says


def test_the_time_zone_names_are_known_without_the_systems_tz_database() -> None:
    """Windows and slim containers have no /usr/share/zoneinfo: the tzdata package gives the names."""
    import importlib.resources

    assert importlib.resources.files("tzdata").joinpath("zoneinfo", "Europe", "London").is_file()


@pytest.mark.parametrize("zone", ["GMT", "UTC", "Etc/GMT"])
def test_validate_notes_a_zone_that_never_moves_for_summer_time_and_still_accepts_it(
    tmp_path: Path, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Written by someone in the UK, GMT brings back the hour behind the setting removes."""
    demo = demo_with(tmp_path, zone)
    assert main(["validate", str(demo)]) == 0
    out = capsys.readouterr().out
    assert f"note: timezone '{zone}' keeps the same time all year" in out and '"Europe/London"' in out


@pytest.mark.parametrize("zone", ["Europe/London", "Africa/Accra", "Asia/Kolkata"])
def test_validate_says_nothing_of_a_places_zone(
    tmp_path: Path, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accra keeps GMT all year and means it; Kolkata has no summer time and is no mistake."""
    assert main(["validate", str(demo_with(tmp_path, zone))]) == 0
    assert "note: timezone" not in capsys.readouterr().out
