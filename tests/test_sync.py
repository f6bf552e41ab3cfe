"""A whole run on the demo: read, map, check, diff, write back only the difference."""

import csv
import shutil
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from coprod.config import load_recipe
from coprod.connectors.base import Connector, ConnectorContext, Page, SourceUnavailable, WriteReport
from coprod.state import StateStore
from coprod.sync import ExitCode, run
from coprod_core.lifecycle import ChangeKind, FlagChange
from coprod_core.recipe import Entity, EntitySpec

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo"
DAY = date(2026, 11, 20)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    return target


def flags_rows(demo: Path) -> list[dict[str, str]]:
    with (demo / "data" / "coprod-flags.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_sync_on_the_demo_twice_writes_nothing_the_second_time(demo):
    loaded = load_recipe(demo, env={})
    first = run(loaded, run_date=DAY)
    assert first.exit_code == ExitCode.OK, first.messages
    assert first.diff is not None and first.diff.counts()["new"] == len(first.flags) > 0
    written = flags_rows(demo)
    assert len(written) == len(first.flags)
    mtime = (demo / "data" / "coprod-flags.csv").stat().st_mtime_ns

    second = run(loaded, run_date=DAY)
    assert second.exit_code == ExitCode.OK
    assert second.diff is not None and second.diff.changes == []
    assert second.write.written == [] and second.write.requests == 0
    assert (demo / "data" / "coprod-flags.csv").stat().st_mtime_ns == mtime


def test_every_check_fires_on_the_demo_and_the_real_project_is_not_called_out(demo):
    result = run(load_recipe(demo, env={}), mode="check", run_date=DAY)
    ids = {f.check_id for f in result.flags}
    for expected in (
        "representation.under_represented",
        "representation.data_gap",
        "representation.decision_without_voice",
        "representation.decision_group",
        "payments.owed",
        "payments.overdue",
        "payments.overpaid",
        "payments.paid_though_declined",
        "payments.unresourced",
        "payments.benefits_threshold",
        "consultation.mislabelled",
    ):
        assert expected in ids, expected
    assert any(i.startswith("data_quality.") for i in ids)
    mislabelled = [f for f in result.flags if f.check_id == "consultation.mislabelled"]
    assert [f.subject.id for f in mislabelled] == ["DSR"]
    assert result.counts["attendance"].rejected == 1  # the attendance of an unknown person


def test_check_mode_writes_nothing_and_keeps_no_state(demo):
    result = run(load_recipe(demo, env={}), mode="check", run_date=DAY)
    assert result.diff is None
    assert not (demo / "data" / "coprod-flags.csv").exists()
    assert not (demo / ".coprod").exists()


def test_dry_run_reports_the_difference_without_writing(demo):
    result = run(load_recipe(demo, env={}), dry_run=True, run_date=DAY)
    assert result.diff is not None and result.diff.counts()["new"] > 0
    assert not (demo / "data" / "coprod-flags.csv").exists()
    again = run(load_recipe(demo, env={}), run_date=DAY)
    assert again.diff is not None and again.diff.counts()["new"] == len(again.flags)


def test_a_payment_made_resolves_its_flag_and_only_that_is_written(demo):
    loaded = load_recipe(demo, env={})
    run(loaded, run_date=DAY)
    with (demo / "data" / "payments.csv").open("a", encoding="utf-8") as f:
        f.write("PAY900,9,60.00,19/11/2026,Fee,S13\n")
    result = run(loaded, run_date=DAY)
    assert result.exit_code == ExitCode.OK
    kinds = [c.kind for c in result.diff.changes]
    assert kinds == [ChangeKind.RESOLVED]
    rows = {r["Fingerprint"]: r for r in flags_rows(demo)}
    assert rows[result.diff.changes[0].fingerprint]["Status"] == "resolved"


def test_staff_acknowledgement_in_the_flags_file_is_kept(demo):
    loaded = load_recipe(demo, env={})
    run(loaded, run_date=DAY)
    rows = flags_rows(demo)
    rows[0]["Status"] = "acknowledged"
    path = demo / "data" / "coprod-flags.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    result = run(loaded, run_date=DAY)
    assert result.diff.changes == [] and result.diff.kept_by_staff == 1
    assert flags_rows(demo)[0]["Status"] == "acknowledged"


def test_a_source_that_suddenly_shrinks_stops_the_run_unless_allowed(demo):
    loaded = load_recipe(demo, env={})
    run(loaded, run_date=DAY)
    people = demo / "data" / "people.csv"
    header = people.read_text(encoding="utf-8").splitlines()[0]
    people.write_text(header + "\n", encoding="utf-8")
    stopped = run(loaded, run_date=DAY)
    assert stopped.exit_code == ExitCode.SHRINK_REFUSED
    assert "people: 0 usable rows now, 40 last time" in stopped.messages[0]
    assert stopped.diff is None
    allowed = run(loaded, run_date=DAY, allow_shrink=True)
    assert allowed.exit_code == ExitCode.OK
    assert allowed.diff.counts()["resolved"] > 0


def test_an_export_whose_rows_all_became_unreadable_does_not_resolve_their_flags(demo):
    loaded = load_recipe(demo, env={})
    first = run(loaded, run_date=DAY)
    sessions = demo / "data" / "sessions.csv"
    lines = sessions.read_text(encoding="utf-8").splitlines()
    # Somebody re-exported with the dates as words the recipe cannot read.
    broken = [lines[0]] + [
        ",".join("someday" if i == 2 else c for i, c in enumerate(line.split(","))) for line in lines[1:]
    ]
    sessions.write_text("\n".join(broken) + "\n", encoding="utf-8")
    stopped = run(loaded, run_date=DAY)
    assert stopped.exit_code == ExitCode.SHRINK_REFUSED
    assert (
        "sessions: 0 usable rows now (15 of 15 read could not be used), 15 last time" in stopped.messages[0]
    )
    assert load_state_flags(demo) == {f.fingerprint for f in first.flags}


def load_state_flags(demo: Path) -> set[str]:
    store = StateStore.open(demo / ".coprod" / "state.sqlite")
    try:
        return {fp for fp, k in store.known_flags("demo").items() if k.status.value == "open"}
    finally:
        store.close()


class Flaky(Connector):
    """Wraps a real connector; fails the writes of some fingerprints, or the whole write."""

    kind = "flaky"

    def __init__(self, inner: Connector, fail: set[str] | None = None, down: bool = False) -> None:
        super().__init__(inner.name, inner.options, inner.context)
        self.inner, self.fail, self.down, self.calls = inner, fail or set(), down, 0

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        return self.inner.read(entity, spec, cursor)

    def read_staff_statuses(self):
        return self.inner.read_staff_statuses()

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        self.calls += 1
        if self.down:
            raise SourceUnavailable("the sheet answered 503 five times")
        ok = [c for c in changes if c.fingerprint not in self.fail]
        report = self.inner.write_flags(ok)
        report.failed.update({c.fingerprint: "refused" for c in changes if c.fingerprint in self.fail})
        return report


def files_connector(loaded) -> Connector:
    from coprod.connectors.files import FilesConnector

    spec = loaded.recipe.sources["exports"]
    context = ConnectorContext(recipe=loaded.recipe, recipe_dir=loaded.dir, env={})
    return FilesConnector("exports", FilesConnector.Options.model_validate(spec.options), context)


def test_a_failed_write_is_not_recorded_and_is_retried_next_run(demo, tmp_path):
    loaded = load_recipe(demo, env={})
    state = StateStore.open(tmp_path / "state.sqlite")
    probe = run(loaded, mode="check", run_date=DAY)
    victim = probe.flags[0].fingerprint
    flaky = Flaky(files_connector(loaded), fail={victim})
    first = run(loaded, run_date=DAY, state=state, connectors={"exports": flaky})
    assert first.exit_code == ExitCode.PARTIAL_WRITE
    assert victim in first.write.failed
    assert victim not in state.known_flags("demo")
    second = run(loaded, run_date=DAY, state=state, connectors={"exports": Flaky(files_connector(loaded))})
    assert second.exit_code == ExitCode.OK
    assert [c.fingerprint for c in second.diff.changes] == [victim]


def test_an_unreachable_source_during_write_back_records_nothing(demo, tmp_path):
    loaded = load_recipe(demo, env={})
    state = StateStore.open(tmp_path / "state.sqlite")
    result = run(
        loaded, run_date=DAY, state=state, connectors={"exports": Flaky(files_connector(loaded), down=True)}
    )
    assert result.exit_code == ExitCode.PARTIAL_WRITE
    assert "503" in result.messages[0]
    assert state.known_flags("demo") == {}


def test_a_missing_data_file_is_a_source_error_naming_the_file(demo):
    (demo / "data" / "sessions.csv").unlink()
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.SOURCE_UNAVAILABLE
    assert "sessions.csv" in result.messages[0]


def test_a_second_run_at_the_same_time_exits_locked_without_writing(demo, tmp_path):
    loaded = load_recipe(demo, env={})
    state = StateStore.open(tmp_path / "state.sqlite")
    with state.lock("demo", timeout=1):
        other = StateStore.open(tmp_path / "state.sqlite")
        result = run(loaded, run_date=DAY, state=other, lock_timeout=0.3)
    assert result.exit_code == ExitCode.LOCKED
    assert not (demo / "data" / "coprod-flags.csv").exists()


@pytest.mark.parametrize("mode", ["check", "sync"])
def test_the_mapper_a_run_makes_is_let_go_before_the_checks(
    demo: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The mapper's table of record keys holds a tuple for each attendance row: kept through the
    checks (as a local of the run, since 7235080), ``coprod check`` took 30 MB more at the
    benchmark's 1x and 150 MB more at 5x (bench_commands.py's peak)."""
    import weakref

    import coprod.sync
    from coprod_core.mapping import DatasetMapper

    made: list[weakref.ref[DatasetMapper]] = []
    alive_at_checks: list[int] = []

    class Watched(DatasetMapper):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(weakref.ref(self))

    checks = coprod.sync.check_all

    def watching(*args: object, **kwargs: object) -> object:
        alive_at_checks.append(sum(ref() is not None for ref in made))
        return checks(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(coprod.sync, "DatasetMapper", Watched)
    monkeypatch.setattr(coprod.sync, "check_all", watching)
    result = run(load_recipe(demo, env={}), mode=mode, run_date=date(2026, 6, 1))
    assert result.exit_code == ExitCode.OK, result.messages
    assert len(made) == 1 and alive_at_checks == [0]
