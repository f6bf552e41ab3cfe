"""Time and peak memory of all three checks at 1x and 10x the issue's size.

1x = 10,000 people, 2,000 sessions, 200,000 attendances, 50,000 payments. Each size runs in its
own process so peak memory (ru_maxrss) belongs to that size alone; the figure printed for memory
is the process's peak, which includes building the dataset. Target at 1x on a 2-core machine:
checks under 2 s and under 500 MB, and cost growing no faster than linearly.

"Linearly" is judged against a reference pass over the same rows that does O(1) work per row (two
look-ups by id): on this VM even that loop's time per row roughly triples from 1x to 10x, because
the tables it touches no longer fit the CPU caches. The checks' time per row is compared with it.

Also, at each size, all the checks with the payment policy changing halfway through the sessions'
dates (``[[policy.changes]]`` paying the same, so the same flags), taking turns with the checks
without: the cost of judging each session by the policy in force on its date.

Usage: python benchmarks/bench_core.py [--sizes 1,10]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 3
PAIRS = 5
"""Turns of all the checks without and with a payment policy change, for their ratio."""
"""Each check runs this many times on the same data; the median is reported (this VM is noisy)."""
NEW = ("feedback", "support", "recruitment", "values")
"""The checks the seed texts added (issue 11), summed in one column."""
BASE = {"people": 10_000, "sessions": 2_000, "attendances": 200_000, "payments": 50_000}


def _reference_pass(data: Any) -> float:
    """Seconds for the least any check does per attendance row: find its person and its session.

    The yardstick for "linear": a loop of two dictionary look-ups per row does O(1) work per row,
    yet its time per row grows once the tables and ids it touches outgrow the CPU's caches (about
    2 MB of L2 per core here). A check whose time per row grows no more than this loop's grows
    linearly in the work it does; what is left is the memory hierarchy, not the algorithm.
    """
    people, sessions = data.people_by_id(), data.sessions_by_id()
    gc.disable()
    try:
        t = time.perf_counter()
        found = 0
        for a in data.attendance:
            if people.get(a.person_id) is not None and sessions.get(a.session_id) is not None:
                found += 1
        return time.perf_counter() - t
    finally:
        gc.enable()


def one(scale: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synth import RUN_DATE, dataset, policy_with_change
    from synth_rows import recipe, rows

    from coprod_core.checks import CHECKS, check_all
    from coprod_core.mapping import map_dataset
    from coprod_core.settings import CheckSettings

    sizes = {k: v * scale for k, v in BASE.items()}
    t0 = time.perf_counter()
    data = dataset(**sizes)
    built = time.perf_counter() - t0
    settings = CheckSettings()
    per_check: dict[str, float] = {}
    flags = 0
    for name, check in CHECKS.items():
        times = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            found = len(check(data, settings, RUN_DATE))
            times.append(time.perf_counter() - t)
        flags += found
        per_check[name] = statistics.median(times)
    # What a run waits for: all the checks together, sharing one read of the attendance register.
    together = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        together_flags = len(check_all(data, settings, RUN_DATE).flags)
        together.append(time.perf_counter() - t)
    total = statistics.median(together)
    # The same with the payment policy changing halfway (same rates: the same flags), for the cost of
    # finding the policy in force on each session's date: without and with, taking turns, so a drift
    # of this machine's speed falls on both; the ratio is the median of each turn's.
    changed = data.model_copy(update={"policy": policy_with_change()})
    turns = []
    for _ in range(PAIRS):
        t = time.perf_counter()
        check_all(data, settings, RUN_DATE)
        without = time.perf_counter() - t
        t = time.perf_counter()
        changed_flags = check_all(changed, settings, RUN_DATE).flags
        turns.append((without, time.perf_counter() - t))
    if len(changed_flags) != together_flags:
        raise SystemExit(
            f"a policy change paying the same gave {len(changed_flags)} flags, not {together_flags}"
        )
    del changed
    reference = statistics.median(_reference_pass(data) for _ in range(REPEAT))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Then the mapping of the same organisation from text rows (after the memory figure: the text
    # rows are a second copy that a real run reads entity by entity, not all beside the dataset).
    text, r = rows(data), recipe()
    del data
    t2 = time.perf_counter()
    mapped = map_dataset(r, text)
    mapping = time.perf_counter() - t2
    rejected = sum(c.rejected for c in mapped.counts.values())
    return {
        "scale": scale,
        **sizes,
        "build_s": built,
        "checks_s": total,
        "change_without_s": statistics.median(w for w, _ in turns),
        "change_with_s": statistics.median(c for _, c in turns),
        "change_ratio": statistics.median(c / w for w, c in turns),
        "reference_s": reference,
        "flags": flags,
        "peak_mb": peak_mb,
        "mapping_s": mapping,
        "rejected": rejected,
    } | {f"{k}_s": v for k, v in per_check.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    results = []
    for scale in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(scale)], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"coprod core benchmark: median of {REPEAT} runs on a dataset built in memory of all the checks")
    print(
        "together ('checks s', as a run does them: one read of the attendance register shared), and of each"
    )
    print(
        "check run alone (the newer four, feedback, support, recruitment and values, summed as 'new s'); then,"
    )
    print(
        "separately, the mapping of the same organisation from text rows ('mapping s'; none may be rejected)"
    )
    print(f"{'size':>5} {'people':>8} {'sessions':>9} {'attend.':>9} {'payments':>9} "
          f"{'checks s':>9} {'repr s':>7} {'pay s':>7} {'cons s':>7} {'new s':>7} {'flags':>7} {'peak MB':>8} {'mapping s':>10}")  # fmt: skip
    for r in results:
        print(
            f"{r['scale']:>4}x {r['people']:>8} {r['sessions']:>9} {r['attendances']:>9} {r['payments']:>9} "
            f"{r['checks_s']:>9.2f} {r['representation_s']:>7.2f} {r['payments_s']:>7.2f} "
            f"{r['consultation_s']:>7.2f} {sum(r[k + '_s'] for k in NEW):>7.2f} {r['flags']:>7} "
            f"{r['peak_mb']:>8.0f} {r['mapping_s']:>10.2f}"
        )
    for r in results:
        print(f"{r['scale']:>4}x all the checks with the payment policy changing halfway (same rates, so the "
              f"same flags), {PAIRS} turns each, taking turns: {r['change_with_s']:.2f} s against "
              f"{r['change_without_s']:.2f} s without (median of the turns' ratios {r['change_ratio']:.3f})")  # fmt: skip
    if any(r["rejected"] for r in results):
        print("WARNING: the mapping rejected rows of the synthetic data")
    if len(results) > 1:
        a, b = results[0], results[-1]
        times = b["scale"] / a["scale"]
        checks = (b["checks_s"] / a["checks_s"]) / times
        reference = (b["reference_s"] / a["reference_s"]) / times
        print(f"checks: time grows {b['checks_s'] / a['checks_s']:.1f}x for {times:.0f}x the data, "
              f"time per row {checks:.2f}x")  # fmt: skip
        print(f"reference pass (two look-ups by id per attendance row, O(1) work per row): "
              f"{a['reference_s']:.3f} s -> {b['reference_s']:.3f} s, time per row {reference:.2f}x")  # fmt: skip
        verdict = "no faster than" if checks <= reference * 1.1 else "FASTER than"
        print(f"per-row growth of the checks is {verdict} the reference pass's: "
              f"{checks:.2f}x against {reference:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
