"""Delivery to flag when the worker holds the dataset: a 1x project beside one a tenth its size.

For each size, gunicorn (the shipped settings, ``gunicorn_conf``) and a separate ``coprod worker``
(``run_worker``, as the systemd units run them) serve a recipe whose data is the core benchmark's
organisation (``synth.py``: at 1x 10,000 people, 2,000 sessions in 20 projects, 200,000
attendances, 50,000 payments) behind a fake platform (``webhook_load.BenchConnector``). The first
delivery makes the worker read, map and check everything (a whole sync, as after a restart); then
deliveries arrive one at a time, each a signed Google Sheets notice for a new decision meeting of
project P0 that only staff attended, which raises one flag. The worker reads that one row, maps it
on top of the dataset it holds, checks again only the project and the people it concerns, and
writes back the difference (``coprod.live``, the production re-check). Delivery to flag is the
moment the flag is written minus the moment the delivery was sent.

Targets (issue 19): median under 0.5 s at 1x, and at most twice the median of the tenth.

The comparison, measured in the same run: the same deliveries with the re-check as it was before
the worker held anything (``sync_recheck``: a whole sync a delivery, reading everything).

Usage: python benchmarks/bench_recheck.py [--deliveries 30] [--whole-deliveries 8] [--gap 0.5]
[--sizes 1,0.1]

Everything listens on 127.0.0.1 and is stopped at the end. The machine may be shared: the load
average is printed beside the figures; the ratio between the sizes, measured in the same run, is
what holds.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from webhook_load import (
    CONF,
    HERE,
    SECRET_ENV,
    SIZE_ENV,
    bench_recheck,
    bench_whole_recheck,
    free_port,
    percentile,
    platform_db,
    recipe_text,
    register,
    send_load,
    signed_request,
    stop,
    wait_for_flags,
    wait_healthy,
)

MODE_ENV = "BENCH_RECHECK"
"""``whole``: the re-check as it was (a whole sync a delivery), the comparison; else the live one."""


def _settings() -> dict[str, Any]:
    folder = Path(os.environ["BENCH_DIR"])
    return {
        "recipes": {"bench": folder / "recipe.toml"},
        "state_path": folder / ".coprod" / "state.sqlite",
        "env": {SECRET_ENV: os.environ[SECRET_ENV]},
        "recheck": bench_whole_recheck if os.environ.get(MODE_ENV) == "whole" else bench_recheck,
        "worker_thread": False,
        "poll_interval": 0.05,
    }


def make_app() -> Any:
    """The gunicorn entry point: ``gunicorn 'bench_recheck:make_app()'`` with BENCH_DIR set."""
    register()
    from coprod.webhook_app import create_app

    return create_app(_settings())


def worker_main() -> None:
    """The separate worker (as ``coprod worker``), stopped by SIGTERM."""
    register()
    from coprod.webhook_app import run_worker

    stop_event = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    run_worker(_settings(), stop_event)


class Measured(NamedTuple):
    size: float
    whole: bool
    """The re-check as it was (a whole sync a delivery), not the dataset held."""
    first: float
    """Seconds from the first delivery to its flag: the worker reads, maps and checks everything."""
    lags: list[float]


def measure(size: float, deliveries: int, gap: float, whole: bool) -> Measured:
    """Deliveries one at a time: each sent ``gap`` seconds after the flag of the one before was
    written (so none waits for another's re-check)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="coprod-recheck-") as tmp:
        folder = Path(tmp)
        (folder / "recipe.toml").write_text(recipe_text("bench", sized=True), encoding="utf-8")
        (folder / ".env").write_text(f"{SIZE_ENV}={size}\nBENCH_DIR={folder}\n", encoding="utf-8")
        platform = platform_db(folder, "bench")
        port = free_port()
        env = {**os.environ, "BENCH_DIR": str(folder), SECRET_ENV: secret, SIZE_ENV: str(size),
               MODE_ENV: "whole" if whole else "live", "COPROD_WEBHOOK_WORKER": "off",
               "PYTHONPATH": str(HERE)}  # fmt: skip
        env.pop("COPROD_STATE", None)
        command = [sys.executable, "-m", "gunicorn", "-c", CONF, "--workers", "1", "--bind", f"127.0.0.1:{port}",
                   "--log-level", "warning", "bench_recheck:make_app()"]  # fmt: skip
        with (folder / "gunicorn.log").open("wb") as log:
            procs = [subprocess.Popen(command, env=env, cwd=folder, stderr=log)]
        procs.append(subprocess.Popen([sys.executable, __file__, "--run-worker"], env=env, cwd=folder))
        sent: dict[int, float] = {}
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            for n in range(deliveries + 1):
                platform.execute("INSERT INTO sessions VALUES (?)", (n,))  # the row exists before its notice
                load = send_load([port], [signed_request(secret, "bench", n)], 1)
                if load.statuses[0] != 202:
                    raise SystemExit(f"delivery {n} was answered {load.statuses[0]}")
                sent[n] = load.sent_at[0]
                wait_for_flags(folder, ["bench"], n + 1, timeout=600, prefix="B")
                time.sleep(gap)
            written = wait_for_flags(folder, ["bench"], len(sent), timeout=60, prefix="B").first
        finally:
            for proc in reversed(procs):
                stop(proc)
        if len(written) < len(sent):
            raise SystemExit(f"{len(sent) - len(written)} deliveries never became a flag at size {size}")
        lags = [written[n] - sent[n] for n in sorted(sent) if n > 0]
        return Measured(size, whole, written[0] - sent[0], lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=30)
    parser.add_argument("--whole-deliveries", type=int, default=8,
                        help="deliveries for the comparison (a whole sync each); 0 to leave it out")  # fmt: skip
    parser.add_argument(
        "--gap", type=float, default=0.5, help="seconds after a flag before the next delivery"
    )
    parser.add_argument("--sizes", default="1,0.1")
    parser.add_argument("--run-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_worker:
        worker_main()
        return
    sizes = [float(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()
    results = [measure(size, args.deliveries, args.gap, whole=False) for size in sizes]
    if args.whole_deliveries:
        results += [measure(size, args.whole_deliveries, args.gap, whole=True) for size in sizes]
    load_after = os.getloadavg()
    print(f"delivery to flag: gunicorn -c {CONF} and a separate worker; each delivery sent {args.gap:g} s "
          f"after the flag of the one before")  # fmt: skip
    print(f"  load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs)")
    for r in results:
        how = "whole sync a delivery (as it was)" if r.whole else "dataset held (live)        "
        print(f"  size {r.size:<4g} {how}: first delivery (reads everything) {r.first:6.2f} s; then "
              f"{len(r.lags)} deliveries: median {statistics.median(r.lags):6.3f} s   "
              f"p90 {percentile(r.lags, 0.9):6.3f} s   max {max(r.lags):6.3f} s")  # fmt: skip
    live = {r.size: statistics.median(r.lags) for r in results if not r.whole}
    whole = {r.size: statistics.median(r.lags) for r in results if r.whole}
    if len(sizes) >= 2:
        big, small = sizes[0], sizes[-1]
        print(f"  live: ratio of medians, size {big:g} to {small:g}: {live[big] / live[small]:.2f} (target at "
              f"most 2); size {big:g} median {live[big]:.3f} s (target under 0.5 s: "
              f"{'met' if live[big] < 0.5 else 'not met'})")  # fmt: skip
    for size in sizes:
        if size in whole:
            print(f"  size {size:g}: the whole sync's median is {whole[size] / live[size]:.1f}x the live one")


if __name__ == "__main__":
    main()
