"""The webhook app under gunicorn on 127.0.0.1: acknowledgement latency, throughput, delivery to flag.

gunicorn runs with the settings README and the systemd unit use (``-c
python:coprod.webhook_app.gunicorn_conf``: threaded workers, a deadline per request), serving the
benchmark's app.

Sends a bounded load of Standard Webhooks-signed Sheets deliveries (default 2,000, 20 at a time).
Before each delivery a new row is added to a fake platform (a session where a decision was taken
with only staff present), so each delivery should end as one flag written back. The re-check is the
real ``coprod.sync.run`` over a fake connector (``BenchConnector``) that reads that platform and
records when each flag is written; delivery-to-flag is that moment minus the moment of sending.

Targets: ack p99 under 50 ms; median delivery-to-flag under 2 s.

Usage: python benchmarks/bench_webhook.py [--deliveries 2000] [--concurrency 20]
                                          [--app-workers 2] [--worker process|thread] [--fsync]

``--worker process`` runs the worker apart (``run_worker``, as ``coprod worker`` does) with
``COPROD_WEBHOOK_WORKER=off`` in the app; ``thread`` runs it inside each gunicorn process.
``BENCH_GUNICORN_EXTRA`` adds gunicorn options, which win over the shipped settings (e.g.
``--threads 4``). Each delivery
opens its own connection, as KoboToolbox and Apps Script do; the client is one thread on
non-blocking sockets, with every request made and signed beforehand, and an answer's arrival is
the kernel's receive time (``webhook_load.send_load``), so no time spent waiting for its own GIL
or CPU is counted as the app's. Everything listens on 127.0.0.1
only and is stopped at the end. On a small machine the load generator, gunicorn and the re-checks
share the CPU: "in the app" (gunicorn's own request time) shows how much of the latency is the
app's, and the same load on ``GET /healthz`` shows the floor the machine sets. The load average
is printed beside the figures, because other work on the machine moves them.
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
from typing import Any

from webhook_load import (
    CONF,
    HERE,
    SECRET_ENV,
    app_times,
    bench_recheck,
    free_port,
    health_request,
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

EXTRA = [a for a in os.environ.get("BENCH_GUNICORN_EXTRA", "").split(" ") if a]


def _settings() -> dict[str, Any]:
    folder = Path(os.environ["BENCH_DIR"])
    return {
        "recipes": {"bench": folder / "recipe.toml"},
        "state_path": folder / ".coprod" / "state.sqlite",  # the sync's; the inbox is beside it
        "env": {SECRET_ENV: os.environ[SECRET_ENV]},
        "recheck": bench_recheck,
        "worker_thread": os.environ.get("COPROD_WEBHOOK_WORKER", "thread") == "thread",
        "poll_interval": 0.1,
        "fsync_each_receipt": os.environ.get("COPROD_WEBHOOK_FSYNC") == "1",
    }


def make_app() -> Any:
    """The gunicorn entry point: ``gunicorn 'bench_webhook:make_app()'`` with BENCH_DIR set."""
    register()
    from coprod.webhook_app import create_app

    return create_app(_settings())


def worker_main() -> None:
    """The separate worker process (as ``coprod worker``), stopped by SIGTERM.

    It runs at a lower CPU priority, as the systemd unit in recipes/deploy/ sets it: a re-check
    can wait a few milliseconds, an acknowledgement should not.
    """
    os.nice(10)
    register()
    from coprod.webhook_app import run_worker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_worker(_settings(), stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--app-workers", type=int, default=2)
    parser.add_argument("--worker", choices=("process", "thread", "none"), default="process")
    parser.add_argument("--fsync", action="store_true", help="fsync the inbox on every receipt")
    parser.add_argument("--run-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_worker:
        worker_main()
        return

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="coprod-bench-") as tmp:
        folder = Path(tmp)
        (folder / "recipe.toml").write_text(recipe_text("bench"), encoding="utf-8")
        platform = platform_db(folder, "bench")
        port = free_port()
        env = {
            **os.environ,
            "BENCH_DIR": str(folder),
            SECRET_ENV: secret,
            "COPROD_WEBHOOK_WORKER": "thread" if args.worker == "thread" else "off",
            "COPROD_WEBHOOK_FSYNC": "1" if args.fsync else "0",
            "PYTHONPATH": str(HERE),
        }
        env.pop("COPROD_STATE", None)
        command = [sys.executable, "-m", "gunicorn", "-c", CONF, "--workers", str(args.app_workers),
                   "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--access-logformat", "%(U)s %(D)s",
                   *EXTRA, "bench_webhook:make_app()"]  # fmt: skip
        with (folder / "gunicorn.log").open("wb") as log:  # the app's log, access lines included
            procs = [subprocess.Popen(command, env=env, cwd=folder, stderr=log)]
        if args.worker == "process":
            procs.append(subprocess.Popen([sys.executable, __file__, "--run-worker"], env=env, cwd=folder))

        def add_row(n: int) -> None:
            platform.execute("INSERT INTO sessions VALUES (?)", (n,))  # the new row exists before its hook

        health = health_request()
        load_before = os.getloadavg()[0]
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            send_load([port], [health] * 10 * args.concurrency, args.concurrency)  # warm up the workers
            floor = send_load([port], [health] * args.deliveries, args.concurrency).latencies
            deliveries = [signed_request(secret, "bench", n) for n in range(args.deliveries)]
            cpu = time.process_time()
            latencies, _, sent_at, statuses, elapsed = send_load(
                [port], deliveries, args.concurrency, add_row
            )
            cpu = time.process_time() - cpu
            refused = sorted({code for code in statuses.values() if code != 202})
            if refused:
                raise SystemExit(f"some deliveries were not answered 202: {refused}")
            written = wait_for_flags(folder, ["bench"], len(sent_at)).first if args.worker != "none" else {}
        finally:
            for proc in reversed(procs):
                stop(proc)
        load_after = os.getloadavg()[0]
        lags = [written[n] - sent_at[n] for n in sent_at if n in written]
        server = app_times([folder / "gunicorn.log"])
        ms = [x * 1000 for x in latencies]
        base = [x * 1000 for x in floor]
        print(f"webhook app: {args.deliveries} signed deliveries, {args.concurrency} concurrent, "
              f"gunicorn -c {CONF} --workers {args.app_workers}{' ' + ' '.join(EXTRA) if EXTRA else ''}, "
              f"worker as a {args.worker}, "
              f"{'fsync on every receipt' if args.fsync else 'WAL synchronous=NORMAL'}")  # fmt: skip
        print(f"  load average  {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)")
        print(f"  ack latency   p50 {percentile(ms, 0.50):6.1f} ms   p99 {percentile(ms, 0.99):6.1f} ms   "
              f"max {max(ms):6.1f} ms   (target p99 < 50 ms)")  # fmt: skip
        print(f"  in the app    p50 {percentile(server, 0.50):6.1f} ms   p99 {percentile(server, 0.99):6.1f} ms   "
              "(gunicorn's own request time: the rest is queueing for the CPU)")  # fmt: skip
        print(f"  GET /healthz  p50 {percentile(base, 0.50):6.1f} ms   p99 {percentile(base, 0.99):6.1f} ms   "
              "(the same load on a route that does nothing: the floor on this machine)")  # fmt: skip
        print(f"  throughput    {args.deliveries / elapsed:6.0f} deliveries/s "
              f"(the load generator used {cpu:.2f} CPU-s of {elapsed:.2f} s)")  # fmt: skip
        if lags:
            print(f"  delivery->flag median {statistics.median(lags):5.2f} s   p99 {percentile(lags, 0.99):5.2f} s   "
                  f"max {max(lags):5.2f} s   (target median < 2 s)")  # fmt: skip
        print(f"  flags written {len(written)} of {len(sent_at)}")
        if len(written) < len(sent_at) and args.worker != "none":
            raise SystemExit("some deliveries never became a flag")


if __name__ == "__main__":
    main()
