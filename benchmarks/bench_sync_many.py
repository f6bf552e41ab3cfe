"""Many recipes in one `coprod sync`: peak memory of one run of N recipes beside one recipe's.

A server with dozens of recipes syncs them from one cron line (`coprod sync /srv/coprod/recipes`):
they run one after another in one process, each recipe's data freed before the next is read. What
that must give: the run's peak memory is about one recipe's, not N times it (N cron lines started
in the same minute held N datasets at once), and its time about the sum of the recipes' times.

The data: `bench_commands.py`'s synthetic organisation as CSV exports (1x = 10,000 people, 2,000
sessions, 200,000 attendances, 50,000 payments), written once and copied into N recipe folders of a
`recipes/` folder (each with a name of its own). Each run is a whole `coprod` process from a fresh
state (so every recipe reads, checks and writes all its flags: the heaviest night), timed from
start to exit with its peak resident memory (from wait4, as `bench_commands.py` measures):

- `coprod sync recipes/r1`: one recipe;
- `coprod sync recipes`: all N, one after another;
- the same N with each recipe's result kept to the end of the process (as the `coprod` command
  keeps one recipe's, coprod/command.py): what the run would hold if the recipes' data were not
  freed, for comparison.

The machine may be shared: peak memory moves little with the load, wall time a lot (CPU time is
shown beside it).

Usage: python benchmarks/bench_sync_many.py [--size 1] [--recipes 4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_commands import RUN_DATE, Timing, as_installed, timed  # noqa: E402

KEPT = """
import os, sys
from coprod.command import import_cli
import_cli()
import coprod.cli as cli
run = cli._run
def kept(*args, **kwargs):
    kwargs["keep"] = True  # as for one recipe: its result left to the end of the process
    return run(*args, **kwargs)
cli._run = kept
cli.KEPT_TO_THE_END = []
code = cli.main(sys.argv[1:])
sys.stdout.flush()
os._exit(code)
"""
"""`coprod` with every recipe's result kept to the end of the process (the comparison)."""


def write_recipes(folder: Path, size: float, count: int) -> Path:
    """``count`` copies of the synthetic recipe and its data in ``folder/recipes``, named r1, r2..."""
    one = folder / "written"
    subprocess.run(
        [sys.executable, str(HERE / "bench_commands.py"), "--write", str(one), "--sizes", f"{size:g}"],
        check=True,
    )
    recipes = folder / "recipes"
    for n in range(1, count + 1):
        target = recipes / f"r{n}"
        shutil.copytree(one, target, ignore=shutil.ignore_patterns("rows.txt"))
        recipe = target / "recipe.toml"
        text = recipe.read_text(encoding="utf-8").replace('name = "bench"', f'name = "r{n}"', 1)
        recipe.write_text(text, encoding="utf-8")
    shutil.rmtree(one)
    return recipes


def fresh(folder: Path, recipes: Path, label: str) -> dict[str, str]:
    """An environment with a state store of its own and no flags file left: a first sync."""
    for flags in recipes.glob("*/data/coprod-flags.csv"):
        flags.unlink()
    return as_installed({**os.environ, "COPROD_STATE": str(folder / f"state-{label}.sqlite")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1.0, help="a multiple of 1x (default 1)")
    parser.add_argument("--recipes", type=int, default=4, help="how many recipes (default 4)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated folder under DIR")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"coprod-bench-many-{args.size:g}x-", dir=args.keep))
    coprod = Path(sys.executable).with_name("coprod")
    date = ["--date", RUN_DATE]
    try:
        recipes = write_recipes(folder, args.size, args.recipes)
        runs: list[tuple[str, Timing]] = []
        for label, command in (
            ("one recipe", [coprod, "sync", recipes / "r1", *date]),
            (f"{args.recipes} recipes", [coprod, "sync", recipes, *date]),
            (f"{args.recipes} recipes, each kept", [sys.executable, "-c", KEPT, "sync", recipes, *date]),
        ):
            runs.append((label, timed(command, folder, fresh(folder, recipes, label.split()[0]))))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    one = runs[0][1]
    print(
        f"First syncs of {args.size:g}x recipes, one process each ({os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print()
    print("| run | wall | CPU | peak | peak vs one recipe |")
    print("|---|---|---|---|---|")
    for label, t in runs:
        print(f"| {label} | {t.wall:.2f} s | {t.cpu:.2f} s | {t.peak:.0f} MiB | {t.peak / one.peak:.2f}x |")
    print()
    print(
        f"{args.recipes} cron lines started together would hold about {args.recipes} x {one.peak:.0f} = "
        f"{args.recipes * one.peak:.0f} MiB at once."
    )


if __name__ == "__main__":
    main()
