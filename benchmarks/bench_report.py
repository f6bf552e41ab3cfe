"""What a user waits for a report: `coprod report` as a whole process, beside `coprod check` on the same data.

The data is bench_commands.py's: the core benchmark's synthetic organisation (1x = 10,000 people,
2,000 sessions, 200,000 attendances, 50,000 payments) written as CSV exports with a recipe. A sync
runs first (not timed), so the report reads a state store with every flag in it, as it would
after a nightly sync. Then, in turn and --repeat times each (the machine's speed drifts, so the
runs are interleaved and the median shown, with each process's CPU time beside its wall time):

- the floor: a process that only reads the files with Python's csv module;
- `coprod check` (reads, maps, checks, prints the flags);
- `coprod report --out report.html`, and the same with --share, --easy-read and --format md.

A report is a check plus the report's own work, so the figure that matters is the report's time
beyond `coprod check` measured in the same run (target: under 3 s at 1x) and the HTML's size
(target: under 5 MB). An in-process breakdown follows: the check, gathering the facts (the
representation profiles, the ladder placement, the decision register, the state store), and
rendering each kind of report.

Usage: python benchmarks/bench_report.py [--sizes 1] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_commands  # noqa: E402  (benchmarks/ is not a package)

RUN_DATE = bench_commands.RUN_DATE

KINDS: dict[str, list[str]] = {
    "coprod report (staff, HTML)": [],
    "coprod report --share": ["--share"],
    "coprod report --easy-read": ["--easy-read"],
    "coprod report --format md": ["--format", "md"],
}


def breakdown(recipe: Path) -> list[tuple[str, float]]:
    """In one process: the check, then each step of the report, timed alone."""
    from datetime import date

    from coprod.config import load_recipe
    from coprod.report.command import read_history
    from coprod.report.facts import gather
    from coprod.report.render import ReportKind, render
    from coprod.sync import run

    loaded = load_recipe(recipe)
    run_date = date.fromisoformat(RUN_DATE)
    out: list[tuple[str, float]] = []
    t = time.perf_counter()
    result = run(loaded, mode="check", run_date=run_date)
    out.append(("check (read, map, check)", time.perf_counter() - t))
    assert result.dataset is not None
    t = time.perf_counter()
    history = read_history(loaded, "staff")
    out.append(("state store (flags as at the last sync)", time.perf_counter() - t))
    t = time.perf_counter()
    facts = gather(
        result.dataset,
        result.flags,
        result.counts,
        loaded.recipe.settings,
        run_date,
        recipe_name=loaded.recipe.name,
        known=history.known,
        last_report=history.last_report,
        assessments=result.placements,
        profiles=result.profiles,
    )
    out.append(("gather the facts (decisions, payments, reasons, flag history)", time.perf_counter() - t))
    for name, kind in (
        ("render staff HTML", ReportKind()),
        ("render shared HTML", ReportKind(share=True)),
        ("render Easy Read", ReportKind(easy_read=True)),
        ("render Markdown", ReportKind(format="md")),
    ):
        t = time.perf_counter()
        render(facts, kind)
        out.append((name, time.perf_counter() - t))
    return out


def one(scale: int, repeat: int, keep: Path | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"coprod-bench-report-{scale}x-", dir=keep))
    try:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(HERE / "bench_commands.py"), "--write", str(folder), "--sizes", str(scale)],
            check=True,
        )
        files = sorted((folder / "data").glob("*.csv"))
        recipe = folder / "recipe.toml"
        print(
            f"{scale}x: {sum(f.stat().st_size for f in files) / 2**20:,.1f} MiB of CSV written in "
            f"{time.perf_counter() - t:.0f} s"
        )
        os.environ["COPROD_STATE"] = str(folder / "state.sqlite")
        coprod = Path(sys.executable).with_name("coprod")
        bench_commands.timed([coprod, "sync", recipe, "--date", RUN_DATE], folder)  # state for the report
        commands: dict[str, list[str | Path]] = {
            "floor (read the files)": [sys.executable, "-c", bench_commands.FLOOR_CSV, *files],
            "coprod check": [coprod, "check", recipe, "--date", RUN_DATE],
        }
        outputs: dict[str, Path] = {}
        for name, extra in KINDS.items():
            target = folder / f"report-{len(outputs)}.{'md' if 'md' in extra else 'html'}"
            outputs[name] = target
            commands[name] = [coprod, "report", recipe, "--date", RUN_DATE, "--out", target, *extra]
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, command in commands.items():
                timing = bench_commands.timed(command, folder)
                runs[name].append((timing.wall, timing.cpu, timing.peak))
        wall = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
        cpu = {name: statistics.median(r[1] for r in rs) for name, rs in runs.items()}
        peak = {name: max(r[2] for r in rs) for name, rs in runs.items()}
        check, check_cpu, floor = wall["coprod check"], cpu["coprod check"], wall["floor (read the files)"]
        print()
        print(
            f"| {scale}x, median of {repeat} | wall | beyond check | vs check | CPU | CPU beyond check "
            "| vs floor | peak | output |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name in commands:
            mine = name in outputs
            size = f"{outputs[name].stat().st_size / 2**20:.2f} MiB" if mine else ""
            beyond = f"{wall[name] - check:+.2f} s" if mine else ""
            ratio = f"{wall[name] / check:.2f}x" if mine else ""
            cpu_beyond = f"{cpu[name] - check_cpu:+.2f} s" if mine else ""
            print(
                f"| {name} | {wall[name]:.2f} s | {beyond} | {ratio} | {cpu[name]:.2f} s | {cpu_beyond} | "
                f"{wall[name] / floor:.1f}x | {peak[name]:,.0f} MiB | {size} |"
            )
        print()
        print("In one process (one run):")
        for name, seconds in breakdown(recipe):
            print(f"  {name:<60} {seconds:6.2f} s")
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated folders under DIR")
    args = parser.parse_args()
    print(f"coprod report on CSV exports; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for scale in (int(s) for s in args.sizes.split(",")):
        one(scale, args.repeat, args.keep)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
