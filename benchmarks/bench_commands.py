"""What a user waits for: `coprod check` and `coprod sync` as whole processes, beside a floor.

The synthetic organisation of the core benchmark (`synth.py`; 1x = 10,000 people, 2,000 sessions,
200,000 attendances, 50,000 payments) is written as the exports a charity would keep: CSV files
(and, with --xlsx, the same as .xlsx workbooks) in a folder with a recipe. Each command then runs
as its own process, exactly as a data officer types it, and is timed from start to exit, with the
process's peak memory (its own maximum resident set, from wait4) and its CPU time (user + system).

The floor, measured in the same run on the same files: a process that only reads every file with
Python's `csv` module (python-calamine, the fastest reader, for .xlsx) and keeps the rows, which is the least
any tool must do with them. This machine is shared and its speed drifts from minute to minute, so
the figure that holds is the ratio to the floor: the commands take turns (floor, check, sync,
floor, ...) --repeat times (default 3) and the medians are shown, of wall time and of CPU time
(CPU time is what the process itself used, so it moves less with the load). The sizes take turns
too (1x floor, check, sync, 5x floor, check, sync, 1x floor, ...; every size's data is written
first), so the growth from one size to the next compares runs made in the same minutes: run one
size after the other, a change of the machine's speed between the two (the floor has measured
from 5.7 to 8.8 times its 1x time at 5x, run so) went straight into the ratio. The growth is shown
as the ratio of the medians and as the median of each turn's own ratio, each beside the floor's.

What is timed: the whole command, start-up (imports) and output included; `coprod sync` first runs
once to write the flags file and state (not timed), then "sync, unchanged" is a re-run with
nothing to write. Printing goes to a file (a terminal would add its own time). coprod runs as a
user has it: installed from its wheel, built from the working tree when the script starts, into a
throwaway environment (``installed.wheel_environment``: a development environment's editable
install makes every Python there, the floor's too, import a finder at start), with its bytecode
compiled at install, and printing is buffered, as it is for a user writing to a file: see
``as_installed``. ``--editable`` runs the development environment's own coprod and Python instead,
as this script did until 7 December (the floor then about 1.5% slower than a user's).

Targets (issue "Fast where a user waits"): at 1x `coprod check` at most 6x the floor and under
400 MB; time at 5x no more than 5.5 times that at 1x; a 745,000-row CSV under 1 GB: size 3.725
writes an attendance.csv of 745,000 rows (with 37,250 people, 7,450 sessions, 186,250 payments).

Usage: python benchmarks/bench_commands.py [--sizes 1,2,5] [--repeat 3] [--xlsx] [--keep DIR]
           [--editable]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from installed import wheel_environment  # noqa: E402 - benchmarks/ is on the path only now

RUN_DATE = "2026-11-20"
"""synth.RUN_DATE: the day the synthetic data is judged as of."""

BASE = {"people": 10_000, "sessions": 2_000, "attendances": 200_000, "payments": 50_000}


def recipe_tail() -> str:
    """The recipe's baseline and payment policy: the synthetic organisation's own (``synth``), so
    the files are checked against the same promises as the core benchmark's dataset. (An earlier
    version wrote rates for 9 of the 11 kinds the organisation pays for, so every payment for the
    other two was "paid more than owed": 6,195 flags at 1x where the dataset has 262.)"""
    synth, _, _ = _synth()
    policy = synth.policy()
    lines = []
    for name, shares in (("ethnicity", synth.ETHNICITY), ("age_band", synth.AGES)):
        lines += [
            f"[baseline.{name}]",
            'source = "synthetic"',
            'as_of = "2026-03-31"',
            "shares = { " + ", ".join(f'"{k}" = {v}' for k, v in shares.items()) + " }",
            "",
        ]
    lines += [
        "[policy]",
        f'currency = "{policy.currency}"',
        f'source = "{policy.source}"',
        f"minimum_hours = {policy.minimum_hours}",
        f"prep_counts = {str(policy.prep_counts).lower()}",
        f"expenses_reimbursed = {str(policy.expenses_reimbursed).lower()}",
        f"pay_within_days = {policy.pay_within_days}",
        f"benefits_monthly_threshold = {policy.benefits_monthly_threshold}",
        "",
        "[policy.rates]",
        *(f"{kind.value} = {rate}" for kind, rate in policy.rates.items()),
    ]
    return "\n".join(lines) + "\n"


FLOOR_CSV = """
import csv, sys
kept = []
for name in sys.argv[1:]:
    with open(name, encoding="utf-8-sig", newline="") as f:
        kept.append(list(csv.reader(f)))
"""

FLOOR_XLSX = """
import sys
from python_calamine import CalamineWorkbook
kept = []
for name in sys.argv[1:]:
    kept.append(CalamineWorkbook.from_path(name).get_sheet_by_index(0).to_python())
"""


def _synth():  # noqa: ANN202
    """The generator, imported only in the process that writes the data (see ``main``)."""
    import synth
    import synth_rows

    from coprod_core.recipe import Entity

    return synth, synth_rows, Entity


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in value.items()) + " }"
    return f'"{value}"'


def write_recipe(folder: Path, suffix: str) -> Path:
    """The synthetic recipe as a staff member would write it, reading files in ./data."""
    _, synth_rows, _ = _synth()
    lines = [
        'name = "bench"',
        "",
        "[sources.exports]",
        'connector = "files"',
        'directory = "data"',
        'flags_file = "coprod-flags.csv"',
    ]
    for entity, spec in synth_rows.RECIPE["entities"].items():
        lines += ["", f"[entities.{entity}]"]
        for key, value in spec.items():
            if key == "location":
                value = str(value).replace(".csv", suffix)
            lines.append(f"{key} = {_toml_value(value)}")
    path = folder / "recipe.toml"
    path.write_text("\n".join(lines) + "\n\n" + recipe_tail(), encoding="utf-8")
    return path


def write_data(folder: Path, scale: float, xlsx: bool) -> int:
    """The scale's dataset as one file per entity; returns the number of data rows written."""
    synth, synth_rows, Entity = _synth()
    data = synth.dataset(**{k: round(v * scale) for k, v in BASE.items()})
    tables = synth_rows.rows(data)
    out = folder / "data"
    out.mkdir(parents=True)
    written = 0
    for entity in Entity:
        table = tables.get(entity)
        if not table:
            continue
        header = list(table[0].values)
        location = synth_rows.RECIPE["entities"][entity.value]["location"]
        if xlsx:
            from openpyxl import Workbook

            path = out / location.replace(".csv", ".xlsx")
            wb = Workbook(write_only=True)
            ws = wb.create_sheet(entity.value)
            ws.append(header)
            for row in table:
                ws.append([row.values[h] for h in header])
            wb.save(path)
        else:
            path = out / location
            with path.open("w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows([row.values[h] for h in header] for row in table)
        written += len(table)
    return written


class Timing(NamedTuple):
    """One process, start to exit: wall seconds, CPU seconds (user + system) and peak MiB."""

    wall: float
    cpu: float
    peak: float


def timed(command: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> Timing:
    """How long one process took, start to exit, and its peak memory."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [str(c) for c in command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            out.seek(0)
            text = out.read().decode(errors="replace").strip()
            raise SystemExit(f"{' '.join(str(c) for c in command[:3])} exited {code}:\n{text[-2000:]}")
    return Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class Measured(NamedTuple):
    """One command's figures at one size: the medians of its runs and its largest peak."""

    name: str
    wall: float
    cpu: float
    peak: float


class Prepared(NamedTuple):
    """One size's folder, written and synced once, with the commands to time in it."""

    scale: float
    folder: Path
    env: dict[str, str]
    commands: dict[str, list[str | Path]]


FLOOR, CHECK, SYNC = "floor (read the files)", "coprod check", "coprod sync, unchanged"


def interleaved(prepared: list[Prepared], repeat: int) -> tuple[dict[float, list[Measured]], list[dict]]:
    """Each command at each size run ``repeat`` times, taking turns (1x floor, check, sync, 5x floor,
    check, sync, 1x floor, ...), so that a change in the machine's speed falls on every command and
    every size alike: the sizes are compared in the same minutes, not one after the other. Returns
    the medians of wall and CPU time per size, and each turn's own timings (for ratios per turn)."""
    runs: dict[tuple[float, str], list[Timing]] = {
        (p.scale, name): [] for p in prepared for name in p.commands
    }
    turns: list[dict[tuple[float, str], Timing]] = []
    for _ in range(repeat):
        turn: dict[tuple[float, str], Timing] = {}
        for p in prepared:
            for name, command in p.commands.items():
                turn[(p.scale, name)] = got = timed(command, p.folder, p.env)
                runs[(p.scale, name)].append(got)
        turns.append(turn)
    table = {
        p.scale: [
            Measured(
                name,
                statistics.median(r.wall for r in runs[(p.scale, name)]),
                statistics.median(r.cpu for r in runs[(p.scale, name)]),
                max(r.peak for r in runs[(p.scale, name)]),
            )
            for name in p.commands
        ]
        for p in prepared
    }
    return table, turns


def as_installed(env: dict[str, str]) -> dict[str, str]:
    """The environment an installed coprod runs in for a user, not the one a development shell sets.

    A development shell often sets ``PYTHONDONTWRITEBYTECODE``; the commands inherit it and every
    timed run would then compile coprod's sources again at start-up (about 0.05 s of CPU, a sixth
    of the 1x floor), which nobody running an installed coprod pays (the floor reads with the
    standard library, whose bytecode is always there). It often sets ``PYTHONUNBUFFERED`` too,
    which makes every line printed its own system call (about 6,600 for the 3,300 flags at 1x),
    where output to a file is buffered for a user."""
    return {k: v for k, v in env.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}


def prepare(scale: float, xlsx: bool, keep: Path | None, bin_dir: Path) -> Prepared:
    """The size's folder: its data and recipe written, and one ``coprod sync`` run (not timed) to
    write the flags file and the state, so that the timed sync is a re-run with nothing to write."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)  # a folder named for the run, made if need be
    folder = Path(tempfile.mkdtemp(prefix=f"coprod-bench-{scale:g}x-", dir=keep))
    t = time.perf_counter()
    # Written by a separate process: a child's peak memory (ru_maxrss) counts the pages it
    # shares with its parent at fork, so the parent that times the commands stays small.
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--write",
            str(folder),
            "--sizes",
            f"{scale:g}",
            *(["--xlsx"] if xlsx else []),
        ],
        check=True,
    )
    suffix = ".xlsx" if xlsx else ".csv"
    files = sorted((folder / "data").glob(f"*{suffix}"))
    recipe = folder / "recipe.toml"
    size = sum(f.stat().st_size for f in files) / 2**20
    rows = _rows_written(folder)
    print(
        f"  {scale:g}x: {rows:,} rows ({size:,.1f} MiB) of {'.xlsx' if xlsx else 'CSV'} written in "
        f"{time.perf_counter() - t:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    coprod, python = bin_dir / "coprod", bin_dir / "python"
    env = as_installed({**os.environ, "COPROD_STATE": str(folder / "state.sqlite")})
    timed([coprod, "sync", recipe, "--date", RUN_DATE], folder, env)  # writes the flags file and the state
    commands: dict[str, list[str | Path]] = {
        FLOOR: [python, "-c", FLOOR_XLSX if xlsx else FLOOR_CSV, *files],
        CHECK: [coprod, "check", recipe, "--date", RUN_DATE],
        SYNC: [coprod, "sync", recipe, "--date", RUN_DATE],
    }
    return Prepared(scale, folder, env, commands)


def _rows_written(folder: Path) -> int:
    """Data rows in the written files (not headers), as counted by the child that wrote them."""
    return int((folder / "rows.txt").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,5", help="multiples of 1x, e.g. 1,2,5 or 3.725")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--xlsx", action="store_true", help="the same data as .xlsx workbooks")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated folders under DIR")
    parser.add_argument(
        "--editable", action="store_true", help="this environment's coprod, not one installed from its wheel"
    )
    parser.add_argument("--write", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    if args.write is not None:  # the data-writing child
        rows = write_data(args.write, sizes[0], args.xlsx)
        (args.write / "rows.txt").write_text(str(rows))
        write_recipe(args.write, ".xlsx" if args.xlsx else ".csv")
        return
    print(
        f"Whole commands on {'.xlsx' if args.xlsx else 'CSV'} exports (median of {args.repeat}, taking turns; "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start)"
    )
    prepared: list[Prepared] = []
    environment = Path(tempfile.mkdtemp(prefix="coprod-bench-wheel-"))
    try:
        if args.editable:
            bin_dir = Path(sys.executable).parent
            print("  coprod and the floor's Python: this environment's (--editable)")
        else:
            t = time.perf_counter()
            bin_dir = wheel_environment(environment)
            print(f"  coprod installed from its wheel in {time.perf_counter() - t:.0f} s: {bin_dir}")
        for scale in sizes:
            prepared.append(prepare(scale, args.xlsx, args.keep, bin_dir))
        table, turns = interleaved(prepared, args.repeat)
    finally:
        shutil.rmtree(environment, ignore_errors=True)
        if args.keep is None:
            for p in prepared:
                shutil.rmtree(p.folder, ignore_errors=True)
    print()
    print("| size | run | wall | CPU | peak | vs floor (wall) | vs floor (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for scale, results in table.items():
        floor = results[0]
        for r in results:
            ratios = ("", "") if r is floor else (f"{r.wall / floor.wall:.1f}x", f"{r.cpu / floor.cpu:.1f}x")
            print(
                f"| {scale:g}x | {r.name} | {r.wall:.2f} s | {r.cpu:.2f} s | {r.peak:,.0f} MiB | "
                f"{ratios[0]} | {ratios[1]} |"
            )
    first, *larger = sizes
    for scale in larger:
        print(growth(first, scale, table, turns))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def growth(
    base: float,
    scale: float,
    table: dict[float, list[Measured]],
    turns: list[dict[tuple[float, str], Timing]],
) -> str:
    """How many times its time at ``base`` (1x) `coprod check` took at ``scale``: the ratio of the
    medians, and the median of each turn's own ratio (the two sizes run within the same minute or
    so, so a drift of the machine's speed over the run moves this one least), each beside the
    floor's own."""

    def per_turn(name: str, field: str) -> float:
        return statistics.median(
            getattr(t[(scale, name)], field) / getattr(t[(base, name)], field) for t in turns
        )

    check_base, floor_base = table[base][1], table[base][0]
    check, floor = table[scale][1], table[scale][0]
    return (
        f"coprod check at {scale:g}x took {check.wall / check_base.wall:.2f} times its {base:g}x wall time "
        f"({check.cpu / check_base.cpu:.2f} times its CPU time; the floor {floor.wall / floor_base.wall:.2f} "
        f"and {floor.cpu / floor_base.cpu:.2f}); turn by turn, median {per_turn(CHECK, 'wall'):.2f} "
        f"wall, {per_turn(CHECK, 'cpu'):.2f} CPU (the floor {per_turn(FLOOR, 'wall'):.2f} and "
        f"{per_turn(FLOOR, 'cpu'):.2f})"
    )


if __name__ == "__main__":
    main()
