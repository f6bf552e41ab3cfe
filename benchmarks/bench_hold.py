"""What a webhook worker's memory holds per recipe, and what dropping one gives back.

In one process, as ``coprod worker`` runs them: the production re-check (``live_recheck``, through
``coprod.live.held``) of recipes whose data is the core benchmark's organisation (``synth.py``: at
1x 10,000 people, 2,000 sessions in 20 projects, 200,000 attendances, 50,000 payments), from two
sources: ``bench``, the fake platform of ``bench_recheck.py`` (``webhook_load.BenchConnector``,
whose rows live in the worker's own memory, made once and handed to every read), and ``files``,
the same organisation as CSV exports (``bench_commands.py``'s recipe), read afresh by every whole
read as a real platform's answers are. Each recipe's first re-check reads, maps and checks
everything and holds the result. The resident memory (``VmRSS``, after a full garbage collection)
is read:

1. at the start: coprod imported (and, for ``bench``, the fake platform's rows made: in production
   they are on the platform, not in the worker, so they are made before and not counted);
2. after the worker holds recipe A, then recipe B too (bound 2): what each held recipe costs;
3. after the bound is set to 1 (A dropped: its connectors closed, its dataset freed): how much of it
   the process gives back to the system;
4. after recipe C's first re-check (B dropped before C reads): whether C is built in the memory A
   and B left, i.e. whether a worker bounded to N stays near N recipes' worth.

Each size and source runs in a fresh process (the CSV files are written by this one, before).
Usage: python benchmarks/bench_hold.py [--sizes 1,0.1] [--sources bench,files]

The figures are memory, not time, so a shared machine changes them little; the load average is
printed all the same.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from webhook_load import HERE, SECRET_ENV, SIZE_ENV, organisation, platform_db, recipe_text, register

MIB = 1024 * 1024


def _status(field: str) -> int:
    """A figure of /proc/self/status in bytes (``VmRSS``: resident now; ``VmHWM``: its peak)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"/proc/self/status has no {field} (Linux only)")


def rss() -> int:
    gc.collect()
    return _status("VmRSS")


class Figures(NamedTuple):
    size: float
    source: str
    imported: int
    """Resident with coprod imported, before the fake platform's rows were made."""
    start: int
    one: int
    """Resident with recipe A held."""
    peak_one: int
    """The peak up to then: A's whole read, mapping and check, at their largest."""
    two: int
    """With A and B held."""
    dropped: int
    """After A was dropped (bound 1)."""
    third: int
    """After C's first re-check (B dropped before it read): C held alone."""
    peak: int


NAMES = ("hold-a", "hold-b", "hold-c")


def write_files(folder: Path, size: float) -> None:
    """Three recipes reading CSV exports of the organisation (each its own copy), in ``folder``."""
    from bench_commands import write_data, write_recipe

    write_data(folder / "data", size, xlsx=False)
    for name in NAMES:
        shutil.copytree(folder / "data", folder / name)
        recipe = write_recipe(folder / name, ".csv")
        recipe.write_text(recipe.read_text(encoding="utf-8").replace('name = "bench"', f'name = "{name}"'))


def measure(size: float, source: str, folder: Path) -> Figures:
    """In a fresh process: the figures of one size and source (``folder``: where the recipes are)."""
    register()
    from coprod.live import forget_all, hold_at_most
    from coprod.webhook_app.settings import live_recheck

    imported = rss()
    os.environ.pop("COPROD_STATE", None)
    files = {name: folder / name / "recipe.toml" for name in NAMES}
    if source == "bench":
        organisation(size)  # the fake platform's rows: made before, not counted
        os.environ.update({"BENCH_DIR": str(folder), SIZE_ENV: str(size), SECRET_ENV: "unused"})
        for name in NAMES:
            (folder / name).mkdir()
            files[name].write_text(recipe_text(name, sized=True), encoding="utf-8")
            platform_db(folder, name).close()

    def recheck(name: str) -> None:
        code = live_recheck(name, files[name], [])
        if code != 0:
            raise SystemExit(f"the re-check of {name} ended with exit code {code}")

    hold_at_most(2)
    start = rss()
    recheck("hold-a")
    one = rss()
    peak_one = _status("VmHWM")
    recheck("hold-b")
    two = rss()
    hold_at_most(1)
    dropped = rss()
    recheck("hold-c")
    third = rss()
    peak = _status("VmHWM")
    forget_all()
    return Figures(size, source, imported, start, one, peak_one, two, dropped, third, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="1,0.1")
    parser.add_argument("--sources", default="bench,files")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        size, source, folder = args.one
        print(json.dumps(measure(float(size), source, Path(folder))._asdict()))
        return
    load_before = os.getloadavg()
    results = []
    for size in [float(s) for s in args.sizes.split(",")]:
        for source in args.sources.split(","):
            with tempfile.TemporaryDirectory(prefix="coprod-hold-") as tmp:
                if source == "files":
                    write_files(Path(tmp), size)
                out = subprocess.run([sys.executable, __file__, "--one", str(size), source, tmp], check=True,
                                     capture_output=True, text=True, cwd=tmp,
                                     env={**os.environ, "PYTHONPATH": str(HERE)})  # fmt: skip
            results.append(Figures(**json.loads(out.stdout.splitlines()[-1])))
    load_after = os.getloadavg()
    print("memory a worker holds per recipe (resident, after a full garbage collection; one process each)")
    print(f"  load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs)")
    for r in results:
        a, b = (r.one - r.start) / MIB, (r.two - r.one) / MIB
        rows = " with the fake platform's rows " if r.source == "bench" else " "
        print(f"  size {r.size:g}, {r.source}: coprod imported {r.imported / MIB:.0f} MiB,{rows}"
              f"{r.start / MIB:.0f} MiB at the start")  # fmt: skip
        print(
            f"    recipe A held: +{a:.0f} MiB (its first read, map and check peaked at "
            f"+{(r.peak_one - r.start) / MIB:.0f} MiB over the start); recipe B held too: +{b:.0f} MiB"
        )
        print(f"    bound set to 1, A dropped: {(r.dropped - r.two) / MIB:+.0f} MiB; C read with B dropped first: "
              f"{(r.third - r.dropped) / MIB:+.0f} MiB (one held: {r.third / MIB:.0f} MiB, two held: "
              f"{r.two / MIB:.0f} MiB); peak of the process {r.peak / MIB:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
