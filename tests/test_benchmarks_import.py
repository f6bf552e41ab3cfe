"""Every benchmark script still imports: the benchmarks are not run by the suite (they print
figures, they are not tests), so a name moved in the package would otherwise only show when
someone next measures, as a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from fakes import ROOT, load_script

SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))


def test_there_are_benchmarks_to_import() -> None:
    assert {"bench_commands", "bench_core", "bench_postgres", "bench_recheck", "webhook_load"} <= set(SCRIPTS)


def test_every_benchmark_script_imports_without_running() -> None:
    """One fresh interpreter imports them all (each runs its measurement only as ``__main__``), with
    ``benchmarks/`` on the path as when a script is run from there."""
    code = "import importlib, sys\nsys.path[:0] = [sys.argv[1], sys.argv[2]]\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in SCRIPTS
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "benchmarks"), str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_bench_commands_on_small_sizes_prints_its_table_and_growth_and_keeps_its_folders_where_asked(
    tmp_path,
) -> None:
    """The whole-command benchmark run end to end at a hundredth and two hundredths of 1x
    (seconds): each command it times still runs at each size, the growth from the first size to
    the next is printed (of the medians and turn by turn, beside the floor's), and ``--keep`` names
    a folder that need not exist yet (it stopped with a traceback after a first measurement had
    been waited for). One turn (``--repeat 1``): the order of several turns is pinned in this
    process by the test below, without each command run here a second time at each size."""
    keep = tmp_path / "runs" / "tonight"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_commands.py"), "--sizes", "0.01,0.02", "--repeat", "1",
         "--keep", str(keep)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "coprod installed from its wheel in" in done.stdout, done.stdout
    for size in ("0.01x", "0.02x"):
        for run in ("floor (read the files)", "coprod check", "coprod sync, unchanged"):
            assert f"| {size} | {run} |" in done.stdout, done.stdout
    assert re.search(
        r"coprod check at 0.02x took [0-9.]+ times its 0.01x wall time .*; turn by turn, median [0-9.]+ wall",
        done.stdout,
    ), done.stdout
    folders = sorted(keep.iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert (folder / "recipe.toml").is_file() and (folder / "data" / "attendance.csv").is_file()


def test_bench_commands_runs_the_sizes_taking_turns_not_one_after_the_other(monkeypatch, tmp_path) -> None:
    """The sizes are compared in the same minutes: every turn runs each size's floor, check and sync
    before the next turn starts, so a change of the machine's speed falls on both sizes alike."""
    bench = load_script("benchmarks/bench_commands.py")
    order: list[tuple[str, str]] = []

    def fake_timed(command, cwd, env):  # noqa: ANN001, ANN202
        order.append((cwd.name, str(command[1])))
        return bench.Timing(1.0, 1.0, 10.0)

    monkeypatch.setattr(bench, "timed", fake_timed)
    prepared = [
        bench.Prepared(
            scale, tmp_path / f"{scale:g}x", {}, {bench.FLOOR: ["py", "floor"], bench.CHECK: ["c", "check"]}
        )
        for scale in (1.0, 5.0)
    ]
    table, turns = bench.interleaved(prepared, 2)
    assert order == [("1x", "floor"), ("1x", "check"), ("5x", "floor"), ("5x", "check")] * 2
    assert len(turns) == 2 and set(table) == {1.0, 5.0}


def test_the_whole_commands_run_coprod_installed_from_its_wheel_in_a_python_with_no_editable_finder(
    tmp_path,
) -> None:
    """bench_commands times coprod as a user has it. This environment installs coprod in editable
    mode, whose ``.pth`` file makes every Python here import setuptools' finder at start (the
    floor's too, about 1.5% of it at 1x): the benchmark's environment runs neither that file nor
    this checkout's coprod, only the wheel's, with the dependencies installed here."""
    installed = load_script("benchmarks/installed.py")
    bin_dir = installed.wheel_environment(tmp_path)
    # built in a copy of the tracked files: setuptools' build/ (a stale build/lib would ship) is there
    assert (tmp_path / "source" / "build").is_dir()
    look = (
        "import json, sys; import coprod, pydantic; "
        "print(json.dumps([coprod.__file__, sorted(m for m in sys.modules if 'editable' in m)]))"
    )
    done = subprocess.run(
        [bin_dir / "python", "-c", look], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True
    )
    where, finders = json.loads(done.stdout)
    assert Path(where).is_relative_to(tmp_path / "venv") and finders == []
    version = subprocess.run(
        [bin_dir / "coprod", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("coprod 0.1.1")
