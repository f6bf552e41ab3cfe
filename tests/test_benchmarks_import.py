"""Every benchmark script still imports: the benchmarks are not run by the suite (they print
figures, they are not tests), so a name moved in the package would otherwise only show when
someone next measures, as a traceback."""

from __future__ import annotations

import subprocess
import sys

from fakes import ROOT

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


def test_bench_commands_on_a_small_size_prints_its_table_and_keeps_its_folder_where_asked(tmp_path) -> None:
    """The whole-command benchmark run end to end at a hundredth of 1x (seconds): each command it
    times still runs, and ``--keep`` names a folder that need not exist yet (it stopped with a
    traceback after a first measurement had been waited for)."""
    keep = tmp_path / "runs" / "tonight"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_commands.py"), "--sizes", "0.01", "--repeat", "1",
         "--keep", str(keep)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for run in ("floor (read the files)", "coprod check", "coprod sync, unchanged"):
        assert f"| 0.01x | {run} |" in done.stdout, done.stdout
    [folder] = keep.iterdir()
    assert (folder / "recipe.toml").is_file() and (folder / "data" / "attendance.csv").is_file()
