"""What pruning the run history costs a sync: the one DELETE each sync ends with (``prune_runs``).

A store holding a busy recipe's 90 days of runs (``--per-day`` runs a day: a nightly sync and its
webhook re-checks), plus other recipes' runs beside it, gets a day of new runs and is pruned, day
after day; the figures are the DELETE's time per sync (median and the slowest), on SQLite (a file,
WAL, as coprod opens it) and on PostgreSQL (the tests' throwaway server, ``tests/fakes/postgres.py``,
on this machine). The floor beside it: one ``finish_run``, the write every sync already makes at
its end, timed on the same store.

    .venv/bin/python benchmarks/bench_prune.py [--per-day 200] [--days 20] [--no-postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

START = datetime(2026, 1, 1, 2, 30, tzinfo=UTC)


def day_of_runs(recipe: str, day: datetime, per_day: int) -> list[dict[str, Any]]:
    every = timedelta(days=1) / per_day
    return [
        {
            "recipe": recipe,
            "mode": "webhook",
            "started_at": (day + i * every).isoformat(timespec="seconds"),
            "finished_at": (day + i * every + timedelta(seconds=2)).isoformat(timespec="seconds"),
            "exit_code": 0,
            "summary": '{"flags": 12, "written": 1}',
        }
        for i in range(per_day)
    ]


def measure(location: str, per_day: int, days: int) -> dict[str, float]:
    from coprod.state import StateStore

    store = StateStore.open(location)
    try:
        for day in range(90):  # the 90 days kept, for the busy recipe and three quieter ones
            night = START + timedelta(days=day)
            store.load({"runs": day_of_runs("busy", night, per_day)})
            store.load({"runs": [r for n in range(3) for r in day_of_runs(f"quiet{n}", night, 3)]})
        prune, finish = [], []
        for day in range(90, 90 + days):
            night = START + timedelta(days=day)
            store.load({"runs": day_of_runs("busy", night, per_day)})
            run_id = store.start_run("busy", "sync")
            began = time.perf_counter()
            store.finish_run(run_id, 0, {"flags": 12})
            finish.append(time.perf_counter() - began)
            began = time.perf_counter()
            store.prune_runs("busy", now=night + timedelta(days=1))
            prune.append(time.perf_counter() - began)
        left = len(store.runs("busy", limit=10**7))
    finally:
        store.close()
    return {
        "prune_median_ms": statistics.median(prune) * 1000,
        "prune_max_ms": max(prune) * 1000,
        "finish_run_median_ms": statistics.median(finish) * 1000,
        "runs_kept": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200, help="the busy recipe's runs a day (default 200)")
    parser.add_argument("--days", type=int, default=20, help="nights measured (default 20)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"busy recipe: {args.per_day} runs a day, 90 days kept ({90 * args.per_day} rows); {args.days} syncs"
    )
    with tempfile.TemporaryDirectory() as folder:
        engines = {"sqlite": str(Path(folder) / "state.sqlite")}
        server = None
        if not args.no_postgres:
            from fakes.postgres import PostgresServer

            server = PostgresServer()
            engines["postgresql"] = server.url(server.create_database())
        try:
            for engine, location in engines.items():
                f = measure(location, args.per_day, args.days)
                print(
                    f"{engine:<11} prune {f['prune_median_ms']:.2f} ms median, {f['prune_max_ms']:.2f} ms slowest; "
                    f"finish_run {f['finish_run_median_ms']:.2f} ms median (ratio "
                    f"{f['prune_median_ms'] / f['finish_run_median_ms']:.2f}); runs kept {f['runs_kept']}"
                )
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
