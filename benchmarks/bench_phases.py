"""Where the time of one `coprod check` goes, phase by phase, and how each phase grows with the data.

`bench_commands.py` times whole processes; this script times the phases of the same command inside
one process, to find which of them grows faster than the data: start-up (importing coprod), loading
the recipe, reading the files, mapping the rows, the checks (the one pass over the attendance
register, the payments check's, which gathers the voice-role people's hours for the other checks
too; what they read of it; and each check on its own; the payment flags in two: "begun", the
payments counted before the people's flags are handed, in pieces, to a forked child, and "joined",
after the other checks: the flags about sessions, the pieces the parent takes then, and the wait
for the child's; the CPU columns are the parent's, without the child's pieces), naming the flags'
subjects, the end of the
run (what the run frees when it returns) and printing. Each run is its own process, started as the ``coprod`` command starts
(:mod:`coprod.command`: the cycle collector paused while importing, the result kept to the end),
and runs the command in it with the phases' functions wrapped in timers; the folders take turns
(1x, 5x, 1x, 5x...), and the medians are shown, of wall time and of the process's CPU time (which
moves less with the load), with each phase's ratio of the larger size to the first.

Reading and mapping happen together (the mapping asks for each entity's rows as it goes): "read" is
the time spent inside the reader's iterators, "map" the rest of the mapping.

The folders are those `bench_commands.py --keep DIR` leaves (a ``recipe.toml`` and its ``data/``);
without any, the script writes them first, as `bench_commands.py` does (for ``--scales``), and
removes them at the end.

Wall time on this shared machine drifts by a sixth from one minute to the next, so a change of a few
percent is measured in counts instead, which the load does not move: ``--stop-after PHASE RECIPE``
runs the command once, untimed, as the ``coprod`` command runs it, and ends the process right after
the mapping (``map``), the checks (``checks``) or at the command's own end (``end``), to run under
valgrind's cachegrind (instructions, and cache misses of a simulated cache; a phase's counts are the
difference of two runs)::

    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
        python benchmarks/bench_phases.py --stop-after map FOLDER/recipe.toml

Give the simulated last level (``--LL``) yourself: valgrind 3.19 read this machine's 32 MiB L3 as a
256 MiB direct-mapped cache. 1 MiB 16-way is the processor's per-core L2: what a per-row look-up
misses there goes to the shared L3 or memory. (Four-KiB "lines", ``--D1=262144,64,4096
--LL=8388608,16,4096``, model the TLBs instead: a 64-entry first level, a 2,048-entry second.)

Usage: python benchmarks/bench_phases.py [FOLDER_1X FOLDER_5X] [--repeat 5] [--scales 1,5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RUN_DATE = "2026-11-20"
HERE = Path(__file__).resolve().parent


def counted(stop_after: str, recipe: str) -> None:
    """One untimed `coprod check`, started as :mod:`coprod.command` starts it, ending the process
    (``os._exit``, as the command does) right after ``stop_after``: ``map``, ``checks`` or ``end``."""
    from coprod.command import import_cli

    import_cli()
    import coprod.cli as cli  # imported above: this only names it
    import coprod.sync as sync

    check_all = sync.check_all

    def stop_after_map(*args: Any, **kwargs: Any) -> Any:
        os._exit(0)

    def stop_after_checks(*args: Any, **kwargs: Any) -> Any:
        check_all(*args, **kwargs)
        os._exit(0)

    if stop_after == "map":
        sync.check_all = stop_after_map
    elif stop_after == "checks":
        sync.check_all = stop_after_checks
    cli.KEPT_TO_THE_END = []
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sys.stdout = sys.stderr = sink
        code = cli.main(["check", recipe, "--date", RUN_DATE])
        sink.flush()
    os._exit(code)


def child(recipe: str, report: str) -> None:
    """One timed `coprod check` in this process; the phase times written to ``report`` as JSON."""
    from coprod.command import import_cli

    spent: dict[str, float] = defaultdict(float)
    """Phase -> wall time; ``cpu``: phase -> CPU time of this process."""
    cpu: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    import_cli()
    import coprod.cli as cli  # imported above: this only names it
    import coprod.sync as sync
    import coprod_core.checks as checks
    from coprod_core.checks import consultation, payments
    from coprod_core.checks.attendance import VoiceAttendance

    spent["start-up"] = time.perf_counter() - t0
    cpu["start-up"] = time.process_time()

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
                cpu[name] += time.process_time() - c

        return wrapper

    rows = sync.Reading.rows

    def timed_rows(self: Any, entity: Any, spec: Any) -> Iterator[Any]:
        items = rows(self, entity, spec)
        while True:
            t, c = time.perf_counter(), time.process_time()
            try:
                item = next(items)
            except StopIteration:
                item = None
            spent["read"] += time.perf_counter() - t
            cpu["read"] += time.process_time() - c
            if item is None:
                return
            yield item

    sync.Reading.rows = timed_rows  # type: ignore[method-assign]
    sync.DatasetMapper.map = timed("read+map", sync.DatasetMapper.map)  # type: ignore[method-assign]
    sync.check_all = timed("checks", sync.check_all)
    sync.with_about = timed("about", sync.with_about)
    cli.load_recipe = timed("recipe", cli.load_recipe)
    cli.run = timed("run", cli.run)
    cli.print_summary = timed("print", cli.print_summary)
    cli.print_flags = timed("print", cli.print_flags)
    payments.read_register = timed("checks: register", payments.read_register)
    started = timed("checks: payments, begun", payments.flags_started)

    def flags_started(*args: Any, **kwargs: Any) -> Any:
        return timed("checks: payments, joined", started(*args, **kwargs))

    payments.flags_started = flags_started
    VoiceAttendance.of_register = classmethod(  # type: ignore[method-assign]
        timed("checks: voice attendance", VoiceAttendance.of_register.__func__)
    )
    consultation.assess_all = timed("checks: consultation", consultation.assess_all)
    for check_id in list(checks.CHECKS):
        checks.CHECKS[check_id] = timed(f"checks: {check_id}", checks.CHECKS[check_id])
    for module_name, function in (
        ("feedback", "run"),
        ("support", "run"),
        ("recruitment", "run"),
        ("representation", "judge"),
    ):
        module = getattr(checks, module_name)
        setattr(module, function, timed(f"checks: {module_name}", getattr(module, function)))

    cli.KEPT_TO_THE_END = []
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sys.stdout = sys.stderr = sink  # the flags, and the progress lines
        try:
            code = cli.main(["check", recipe, "--date", RUN_DATE])
            sink.flush()
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    spent["total"] = time.perf_counter() - t0
    cpu["total"] = time.process_time()
    for times in (spent, cpu):
        times["map"] = times.pop("read+map") - times["read"]
        times["end of run"] = times["run"] - times["map"] - times["read"] - times["checks"] - times["about"]
    Path(report).write_text(json.dumps({"code": code, "wall": spent, "cpu": cpu}), encoding="utf-8")
    os._exit(0)


PHASES = [
    "start-up",
    "recipe",
    "read",
    "map",
    "checks",
    "checks: register",
    "checks: voice attendance",
    "checks: consultation",
    "checks: representation",
    "checks: payments, begun",
    "checks: payments, joined",
    "checks: feedback",
    "checks: support",
    "checks: recruitment",
    "checks: values",
    "about",
    "end of run",
    "print",
    "total",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scales", default="1,5", help="the size of each folder, in the same order")
    parser.add_argument("--stop-after", nargs=2, metavar=("PHASE", "RECIPE"), help="map, checks or end")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.stop_after:
        counted(*args.stop_after)
        return
    scales = [float(s) for s in args.scales.split(",")]
    written: Path | None = None
    if not args.folders:
        written = Path(tempfile.mkdtemp(prefix="coprod-phases-"))
        for scale in scales:
            folder = written / f"{scale:g}x"
            folder.mkdir()
            writer = [
                sys.executable,
                str(HERE / "bench_commands.py"),
                "--write",
                str(folder),
                "--sizes",
                f"{scale:g}",
            ]
            subprocess.run(writer, check=True)
            args.folders.append(folder)
    if len(scales) != len(args.folders):
        parser.error("give one scale for each folder")
    try:
        measure(scales, args.folders, args.repeat)
    finally:
        if written is not None:
            shutil.rmtree(written, ignore_errors=True)


def measure(scales: list[float], folders: list[Path], repeat: int) -> None:
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_phases.{os.getpid()}.json"
    found: dict[float, list[dict[str, dict[str, float]]]] = {s: [] for s in scales}
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    for _ in range(repeat):
        for scale, folder in zip(scales, folders, strict=True):
            subprocess.run(
                [sys.executable, __file__, "--child", str(folder / "recipe.toml"), str(report)], check=True
            )
            got = json.loads(report.read_text())
            if got["code"] != 0:
                raise SystemExit(f"coprod check exited {got['code']} on {folder}")
            found[scale].append(got)
    report.unlink(missing_ok=True)
    first = scales[0]
    for clock in ("wall", "cpu"):
        heads = " | ".join(f"{s:g}x" for s in scales)
        ratios = "".join(f" {s:g}x / {first:g}x |" for s in scales[1:])
        print(f"\n| phase ({'wall' if clock == 'wall' else 'CPU'}) | {heads} |{ratios}")
        print("|---|" + "---|" * (2 * len(scales) - 1))
        for phase in PHASES:
            medians = {s: statistics.median(r[clock].get(phase, 0.0) for r in found[s]) for s in scales}
            cells = " | ".join(f"{medians[s]:.3f} s" for s in scales)
            shares = "".join(
                f" {medians[s] / medians[first]:.2f} |" if medians[first] > 0 else " |" for s in scales[1:]
            )
            print(f"| {phase} | {cells} |{shares}")
    print(f"(medians of {repeat} runs each, taking turns; load average at the end: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
