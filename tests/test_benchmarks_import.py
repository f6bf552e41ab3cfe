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
