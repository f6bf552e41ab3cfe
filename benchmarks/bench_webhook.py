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
opens its own connection, as KoboToolbox and Apps Script do; the client is one asyncio loop, so
no time spent waiting for its own GIL is counted as the app's. Everything listens on 127.0.0.1
only and is stopped at the end. On a small machine the load generator, gunicorn and the re-checks
share the CPU: "in the app" (gunicorn's own request time) shows how much of the latency is the
app's, and the same load on ``GET /healthz`` shows the floor the machine sets. The load average
is printed beside the figures, because other work on the machine moves them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

from coprod.connectors.base import Connector, Page, WriteReport  # noqa: E402
from coprod_core.lifecycle import FlagChange  # noqa: E402
from coprod_core.recipe import Entity, EntitySpec  # noqa: E402
from coprod_core.rows import Row  # noqa: E402

EXTRA = [a for a in os.environ.get("BENCH_GUNICORN_EXTRA", "").split(" ") if a]
CONF = "python:coprod.webhook_app.gunicorn_conf"
ACCESS = " gunicorn.access: "
SECRET_ENV = "BENCH_WEBHOOK_SECRET"
RECIPE = """
name = "bench"

[sources.platform]
connector = "bench"

[entities.people]
source = "platform"
fields = { id = "ID", roles = "Role" }

[entities.sessions]
source = "platform"
fields = { id = "ID", project_id = "Project", date = "Date", hours = "Hours", kind = "Kind", decision_taken = "Decision taken", decision = "Decision" }

[entities.attendance]
source = "platform"
fields = { person_id = "Person", session_id = "Session" }

[[projects]]
id = "P1"
name = "Benchmark panel"
label = "consultation"

[webhook]
secret_env = "BENCH_WEBHOOK_SECRET"
"""

PLATFORM_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (n INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS writes (subject_id TEXT, fingerprint TEXT, kind TEXT, written_at REAL);
"""


def platform_db(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        folder / "platform.sqlite", timeout=30, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a fake platform: its durability is not what is measured
    conn.executescript(PLATFORM_SCHEMA)
    return conn


class BenchConnector(Connector):
    """A platform held in ``platform.sqlite``: sessions to read, and a log of flags written back."""

    kind = "bench"

    def _db(self) -> sqlite3.Connection:
        return platform_db(Path(self.context.env["BENCH_DIR"]))

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        if entity is Entity.PEOPLE:
            yield Page([Row("people row 2", {"ID": "1", "Role": "frontline_staff"})])
            return
        conn = self._db()
        ns = [r[0] for r in conn.execute("SELECT n FROM sessions ORDER BY n")]
        conn.close()
        if entity is Entity.SESSIONS:
            rows = [
                {"ID": f"S{n}", "Project": "P1", "Date": f"{1 + n % 28:02d}/03/2026", "Hours": "2",
                 "Kind": "decision_meeting", "Decision taken": "Yes", "Decision": f"budget line {n}"}
                for n in ns
            ]  # fmt: skip
        else:
            rows = [{"Person": "1", "Session": f"S{n}"} for n in ns]
        yield Page([Row(f"{entity.value} row {i + 2}", v) for i, v in enumerate(rows)])

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        now = time.time()
        conn = self._db()
        conn.executemany(
            "INSERT INTO writes VALUES (?,?,?,?)",
            [(c.known.subject_id, c.fingerprint, c.kind.value, now) for c in changes],
        )
        conn.close()
        return WriteReport(written=[c.fingerprint for c in changes], requests=1)


def _register() -> None:
    from coprod.connectors import registry

    registry.CONNECTORS["bench"] = "bench_webhook:BenchConnector"


def bench_recheck(name: str, path: Path) -> int:
    from coprod.config import load_recipe
    from coprod.sync import run

    try:
        return int(run(load_recipe(path), mode="sync").exit_code)
    except Exception:
        traceback.print_exc()  # the app logs only the error's kind; the benchmark wants to see it all
        raise


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
    _register()
    from coprod.webhook_app import create_app

    return create_app(_settings())


def worker_main() -> None:
    """The separate worker process (as ``coprod worker``), stopped by SIGTERM.

    It runs at a lower CPU priority, as the systemd unit in recipes/deploy/ sets it: a re-check
    can wait a few milliseconds, an acknowledgement should not.
    """
    os.nice(10)
    _register()
    from coprod.webhook_app import run_worker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_worker(_settings(), stop)


# the load ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit("gunicorn did not come up")


def raw_requests(port: int, secret: str, deliveries: int) -> list[bytes]:
    """Every delivery as the bytes of one HTTP request, signed before the clock starts."""
    from standardwebhooks.webhooks import Webhook

    signer = Webhook(secret)
    prepared = []
    for n in range(deliveries):
        body = json.dumps({"type": "sheets.form_submit", "spreadsheet_id": "bench", "sheet": "Form responses 1",
                           "row": n + 2})  # fmt: skip
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        head = (
            f"POST /hooks/sheets/bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
            f"webhook-signature: {signer.sign(msg_id, now, body)}\r\n\r\n"
        )
        prepared.append(head.encode() + body.encode())
    return prepared


def send_load(
    port: int, requests: Sequence[bytes], concurrency: int, expect: int, before_send: Any = None
) -> tuple[list[float], dict[int, float], float]:
    """Send the requests, ``concurrency`` at a time, each on its own connection (as KoboToolbox and
    Apps Script do), timing each from connecting to the last byte of the answer.

    One asyncio loop rather than 20 threads: threads in one Python process wait for the GIL (5 ms
    turns) after their answer has arrived, and that wait would be counted as the app's latency.
    """
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    failures: list[int] = []
    todo = iter(range(len(requests)))

    async def client() -> None:
        for n in todo:
            if before_send is not None:
                before_send(n)
            sent_at[n] = time.time()
            started = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(requests[n])
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - started)
            writer.close()
            status = int(head.split(b" ", 2)[1])
            if status != expect:
                failures.append(status)

    async def all_clients() -> None:
        await asyncio.gather(*(client() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(all_clients())
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests were not answered {expect}: {sorted(set(failures))}")
    return latencies, sent_at, elapsed


def wait_for_flags(folder: Path, sent_at: dict[int, float], timeout: float = 180.0) -> dict[int, float]:
    db = platform_db(folder)
    deadline = time.monotonic() + timeout
    while True:
        written = {
            int(subject[1:]): at
            for subject, at in db.execute(
                "SELECT subject_id, MIN(written_at) FROM writes GROUP BY subject_id"
            )
            if subject.startswith("S") and subject[1:].isdigit()
        }
        if len(written) >= len(sent_at) or time.monotonic() > deadline:
            return written
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        (folder / "recipe.toml").write_text(RECIPE, encoding="utf-8")
        platform_db(folder).close()
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
        platform = platform_db(folder)

        def add_row(n: int) -> None:
            platform.execute("INSERT INTO sessions VALUES (?)", (n,))  # the new row exists before its hook

        health = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        load_before = os.getloadavg()[0]
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            send_load(port, [health] * 10 * args.concurrency, args.concurrency, 200)  # warm up the workers
            floor, _, _ = send_load(port, [health] * args.deliveries, args.concurrency, 200)
            deliveries = raw_requests(port, secret, args.deliveries)
            cpu = time.process_time()
            latencies, sent_at, elapsed = send_load(port, deliveries, args.concurrency, 202, add_row)
            cpu = time.process_time() - cpu
            written = wait_for_flags(folder, sent_at) if args.worker != "none" else {}
        finally:
            for proc in reversed(procs):
                stop(proc)
        load_after = os.getloadavg()[0]
        lags = [written[n] - sent_at[n] for n in sent_at if n in written]
        access = [line.split(ACCESS, 1)[1].split() for line in (folder / "gunicorn.log").read_text().splitlines()
                  if ACCESS in line]  # fmt: skip
        server = [int(us) / 1000 for path, us in access if path.startswith("/hooks/")]
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
