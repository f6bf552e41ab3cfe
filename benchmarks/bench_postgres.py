"""Several hosts on one PostgreSQL: two app hosts and three workers, one worker killed part-way.

Two gunicorn app hosts (each ``gunicorn -c python:coprod.webhook_app.gunicorn_conf``, as the unit
runs it, with ``--workers 1``: two app processes in all) and three worker processes (``coprod
worker``'s loop, ``run_worker``'s settings from the environment) share one PostgreSQL, a throwaway
server started here as the tests start theirs (``tests/fakes/postgres.py``), but durable (fsync
on) and reached over TCP on 127.0.0.1, as app hosts reach a real one. 50 recipes; 10,000
Standard Webhooks-signed Google Sheets deliveries, 40 at a time, taking turns between the two hosts
as a load balancer does; 20% of them re-sends of an earlier delivery (same ``webhook-id``). Each
first delivery adds a session to its recipe's fake platform just before it is sent
(``webhook_load.py``), so it should end as exactly one flag written back by the real sync.

Part-way (after 40% of the deliveries) the first worker is killed with SIGKILL in the middle of a
re-check. The claim's lease is 10 seconds here (30 by default), so its events are re-checked by
another worker within the run.

The load generator makes and signs every request before the timed part and sends them from one
thread on non-blocking sockets (``webhook_load.send_load``: asyncio cost it twice the CPU, taken
from the app on the same two CPUs). An acknowledgement is timed from connecting to the arrival of
the 202's last byte, the kernel's receive time, as a sender on its own machine would have it; the
time until the generator itself read it (it waits for the same CPUs) is printed beside it. So is
the CPU each part used per delivery (load generator, app processes, workers, database server),
read from /proc before and after the deliveries, and the same for the floor: the latency of 40
clients at a time is about 40 times the CPU a delivery costs, divided by the CPUs there are.

Printed: acknowledgement p50/p99, throughput, delivery to flag, events lost (a first delivery whose
flag was never written, or an inbox event not done at the end: must be 0), events processed twice
(an event completed by two claims, or a delivery accepted twice: must be 0), flags written as new
twice (a re-check repeated after the kill; matched by fingerprint on a real platform), the peak
number of connections to the database, and the load average. Then the same run on SQLite with one
host (one gunicorn of two processes, the same three workers and the same kill).

Usage: python benchmarks/bench_postgres.py [--deliveries 10000] [--concurrency 40] [--recipes 50]
           [--duplicates 0.2] [--workers 3] [--kill-at 0.4] [--lease 10] [--engines postgresql,sqlite]

Everything listens on 127.0.0.1 only and is stopped at the end. Targets: ack p99 under 50 ms, nothing
lost, nothing twice.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from coprod.connectors.base import Delivery

from webhook_load import (
    CONF,
    HERE,
    SECRET_ENV,
    app_times,
    bench_recheck,
    cpu_by_group,
    cpu_used,
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

sys.path.insert(0, str(HERE.parent / "tests"))
from fakes.postgres import PostgresServer  # noqa: E402 - the tests' throwaway server

# a worker ----------------------------------------------------------------------------------------


def worker_main(number: int) -> None:
    """One worker process: ``coprod worker``'s loop with the settings from the environment, the
    benchmark's connector registered, and two things written down for the benchmark: whether it is
    in a re-check (``worker-N.state``, so it can be killed mid re-check) and which events each
    completed claim held (``completed-N.jsonl``, to count events processed twice)."""
    os.nice(10)  # as the unit sets it: a re-check can wait a few milliseconds, an acknowledgement should not
    register()
    from coprod.webhook_app.inbox import Claim, Inbox
    from coprod.webhook_app.settings import WebhookSettings
    from coprod.webhook_app.worker import Worker

    folder = Path(os.environ["BENCH_DIR"])
    state = folder / f"worker-{number}.state"
    completed = (folder / f"completed-{number}.jsonl").open("a", encoding="utf-8")

    took = [0.0]

    def recheck(name: str, path: Path, deliveries: Sequence[Delivery] = ()) -> int:
        state.write_text("busy")
        started = time.monotonic()
        try:
            return bench_recheck(name, path, deliveries)
        finally:
            took[0] = time.monotonic() - started
            state.write_text("idle")

    recheck.takes_deliveries = True  # type: ignore[attr-defined]

    settings = dataclasses.replace(
        WebhookSettings.from_env(), recheck=recheck, lease_seconds=float(os.environ["BENCH_LEASE"])
    )
    inbox = Inbox.open(settings.inbox_location)
    state.write_text("idle")  # started: the benchmark waits for every worker before sending
    complete = inbox.complete

    def logged_complete(claim: Claim, now: float | None = None) -> int:
        done = complete(claim, now)
        completed.write(json.dumps({"ids": claim.event_ids, "done": done, "seconds": took[0]}) + "\n")
        completed.flush()
        return done

    inbox.complete = logged_complete  # type: ignore[method-assign]
    stop_event = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    try:
        Worker(settings, inbox).run(stop_event)
    finally:
        inbox.close()


# one run ---------------------------------------------------------------------------------------------


class Plan(NamedTuple):
    """What is sent, in order: ``sends[i]`` is the first delivery number sent at position ``i``
    (a number seen before is a re-send of that delivery)."""

    sends: list[int]
    recipe_of: dict[int, str]


def plan(deliveries: int, recipes: Sequence[str], duplicates: float, seed: int = 14) -> Plan:
    rng = random.Random(seed)
    firsts = round(deliveries * (1 - duplicates))
    sends = list(range(firsts))
    for _ in range(deliveries - firsts):
        original = rng.randrange(firsts)
        at = min(len(sends), sends.index(original) + rng.randint(40, 2000))  # sent again a little later
        sends.insert(at, original)
    return Plan(sends, {n: recipes[rng.randrange(len(recipes))] for n in range(firsts)})


class Killed(NamedTuple):
    pid: int
    mid_recheck: bool
    at: float
    claimed: list[int]
    """Events claimed (by any worker) the moment it was killed."""


class Outcome(NamedTuple):
    engine: str
    hosts: int
    ms: list[float]
    read_ms: list[float]
    app_ms: list[float]
    floor_ms: list[float]
    elapsed: float
    statuses: Counter[int]
    lags: list[float]
    lost_flags: int
    not_done: int
    accepted_twice: int
    completed_twice: int
    flags_again: int
    rechecks: int
    recheck_seconds: list[float]
    killed: Killed | None
    recovered: float | None
    peak_connections: int | None
    load: tuple[float, float]
    cpu: dict[str, float]
    """CPU seconds each part used while the deliveries were sent."""
    floor_cpu: dict[str, float]


def run(engine: str, args: argparse.Namespace) -> Outcome:
    from coprod.state import parse_location
    from coprod.webhook_app.inbox import Inbox, inbox_location

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    recipes = [f"group-{i:02d}" for i in range(args.recipes)]
    the_plan = plan(args.deliveries, recipes, args.duplicates)
    server = PostgresServer(durable=True, tcp=True) if engine == "postgresql" else None
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="coprod-bench-pg-") as tmp:
        folder = Path(tmp)
        try:
            for name in recipes:
                (folder / "recipes" / name).mkdir(parents=True)
                (folder / "recipes" / name / "recipe.toml").write_text(recipe_text(name), encoding="utf-8")
                platform_db(folder, name).close()
            database = server.create_database() if server else ""
            state = server.url(database) if server else str(folder / "state" / "state.sqlite")
            env = {
                **os.environ,
                "BENCH_DIR": str(folder),
                "BENCH_LEASE": str(args.lease),
                SECRET_ENV: secret,
                "COPROD_RECIPES": str(folder / "recipes"),
                "COPROD_STATE": state,
                "COPROD_WEBHOOK_WORKER": "off",
                "PYTHONPATH": str(HERE),
            }
            hosts = 2 if server else 1
            ports = [free_port() for _ in range(hosts)]
            for host, port in enumerate(ports):
                command = [sys.executable, "-m", "gunicorn", "-c", CONF, "--workers", str(2 // hosts),
                           "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                           "--access-logformat", "%(U)s %(D)s"]  # fmt: skip
                with (folder / f"gunicorn-{host}.log").open("wb") as log:
                    procs.append(subprocess.Popen(command, env=env, cwd=folder, stderr=log))
            workers = [
                subprocess.Popen([sys.executable, __file__, "--run-worker", str(i)], env=env, cwd=folder)
                for i in range(args.workers)
            ]
            procs.extend(workers)
            for port in ports:
                wait_healthy(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 60
            while not all((folder / f"worker-{i}.state").exists() for i in range(args.workers)):
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise SystemExit("the workers did not start")
                time.sleep(0.1)
            groups = {"load generator": [os.getpid()], "app": [p.pid for p in procs[:hosts]],
                      "workers": [w.pid for w in workers]}  # fmt: skip
            if server is not None:
                groups["database"] = [server.pid()]
            send_load(ports, [health_request()] * 10 * args.concurrency, args.concurrency)  # warm up
            cpu_before = cpu_by_group(groups)
            floor = send_load(ports, [health_request()] * min(2000, args.deliveries), args.concurrency)
            floor_cpu = cpu_used(cpu_before, cpu_by_group(groups))

            platforms = {name: platform_db(folder, name) for name in recipes}
            requests = [signed_request(secret, the_plan.recipe_of[n], n) for n in the_plan.sends]
            kill_position = int(len(requests) * args.kill_at)
            killed: list[Killed] = []
            seen: set[int] = set()

            def kill_mid_recheck() -> None:
                busy = folder / "worker-0.state"
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not (busy.exists() and busy.read_text() == "busy"):
                    time.sleep(0.005)
                mid = busy.read_text() == "busy"
                os.kill(workers[0].pid, signal.SIGKILL)
                at = time.time()
                inbox = Inbox.open(inbox_location(parse_location(state)))
                claimed = [e["id"] for e in inbox.events() if e["status"] == "claimed"]
                inbox.close()
                killed.append(Killed(workers[0].pid, mid, at, claimed))

            def before_send(position: int) -> None:
                n = the_plan.sends[position]
                if n not in seen:  # the new row exists on the platform before its delivery is sent
                    seen.add(n)
                    platforms[the_plan.recipe_of[n]].execute("INSERT INTO sessions VALUES (?)", (n,))
                if position == kill_position and args.workers > 1:
                    threading.Thread(target=kill_mid_recheck, daemon=True).start()

            peak = [0]
            sampling = threading.Event()

            def sample_connections() -> None:
                import psycopg

                assert server is not None
                with psycopg.connect(server.url(), autocommit=True) as admin:
                    while not sampling.wait(0.2):
                        row = admin.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
                        ).fetchone()
                        peak[0] = max(peak[0], int(row[0]) if row else 0)

            sampler = threading.Thread(target=sample_connections, daemon=True) if server else None
            if sampler:
                sampler.start()
            load_before = os.getloadavg()[0]
            cpu_before = cpu_by_group(groups)
            load = send_load(ports, requests, args.concurrency, before_send)
            cpu = cpu_used(cpu_before, cpu_by_group(groups))
            firsts = len(seen)
            written = wait_for_flags(folder, recipes, firsts, timeout=120 + args.lease)
            inbox = Inbox.open(inbox_location(parse_location(state)))
            deadline = time.monotonic() + 60
            while inbox.backlog().pending and time.monotonic() < deadline:
                time.sleep(0.5)
            events = inbox.events()
            inbox.close()
            load_after = os.getloadavg()[0]
            sampling.set()
        finally:
            for proc in reversed(procs):
                stop(proc)
            if server is not None:
                server.stop()

        first_sent: dict[int, float] = {}
        accepted: Counter[int] = Counter()
        for position, n in enumerate(the_plan.sends):
            first_sent.setdefault(n, load.sent_at[position])
            accepted[n] += load.statuses[position] == 202
        completions: Counter[int] = Counter()
        rechecks = 0
        durations: list[float] = []
        for log in folder.glob("completed-*.jsonl"):
            for line in log.read_text(encoding="utf-8").splitlines():
                claim = json.loads(line)
                if claim["done"]:
                    rechecks += 1
                    durations.append(claim["seconds"])
                    completions.update(claim["ids"] if claim["done"] == len(claim["ids"]) else [])
        kill = killed[0] if killed else None
        held = set(kill.claimed) if kill else set()
        late = [float(e["done_at"]) for e in events if e["id"] in held and e["done_at"]]
        return Outcome(
            engine=engine,
            hosts=hosts,
            ms=[x * 1000 for x in load.latencies],
            read_ms=[x * 1000 for x in load.read_latencies],
            app_ms=app_times(sorted(folder.glob("gunicorn-*.log"))),
            floor_ms=[x * 1000 for x in floor.latencies],
            elapsed=load.elapsed,
            statuses=Counter(load.statuses.values()),
            lags=[written.first[n] - first_sent[n] for n in first_sent if n in written.first],
            lost_flags=sum(1 for n in first_sent if n not in written.first),
            not_done=sum(1 for e in events if e["status"] != "done") + (firsts - len(events)),
            accepted_twice=sum(1 for n in first_sent if accepted[n] > 1),
            completed_twice=sum(1 for count in completions.values() if count > 1),
            flags_again=written.again,
            rechecks=rechecks,
            recheck_seconds=durations,
            killed=kill,
            recovered=(max(late) - kill.at) if late and kill else None,
            peak_connections=peak[0] if server else None,
            load=(load_before, load_after),
            cpu=cpu,
            floor_cpu=floor_cpu,
        )


def report(o: Outcome, args: argparse.Namespace) -> None:
    store = "one PostgreSQL (durable, TCP)" if o.engine == "postgresql" else "SQLite (WAL, one host)"
    print(f"{store}: {o.hosts} app host(s), 2 app processes, {args.workers} workers, {args.recipes} recipes, "
          f"{args.deliveries} signed deliveries {args.concurrency} at a time, {args.duplicates:.0%} re-sends")  # fmt: skip
    print(f"  load average   {o.load[0]:.2f} before, {o.load[1]:.2f} after ({os.cpu_count()} CPUs, shared)")
    print(f"  ack latency    p50 {percentile(o.ms, 0.50):6.1f} ms   p99 {percentile(o.ms, 0.99):6.1f} ms   "
          f"max {max(o.ms):6.1f} ms   (target p99 < 50 ms; connect to the 202's arrival)")  # fmt: skip
    print(f"  as read        p50 {percentile(o.read_ms, 0.50):6.1f} ms   p99 {percentile(o.read_ms, 0.99):6.1f} ms   "
          "(until the load generator, on the same CPUs, had read it)")  # fmt: skip
    print(f"  in the app     p50 {percentile(o.app_ms, 0.50):6.1f} ms   p99 {percentile(o.app_ms, 0.99):6.1f} ms   "
          "(gunicorn's own time per delivery: the rest is queueing for the CPU)")  # fmt: skip
    print(f"  GET /healthz   p50 {percentile(o.floor_ms, 0.50):6.1f} ms   p99 {percentile(o.floor_ms, 0.99):6.1f} ms   "
          "(the same concurrency on a route that does nothing, workers idle: this machine's floor)")  # fmt: skip
    print(f"  CPU per request {cpu_line(o.cpu, len(o.ms), o.elapsed)}")
    print(f"    GET /healthz  {cpu_line(o.floor_cpu, len(o.floor_ms), None)}")
    answers = ", ".join(f"{n} x {code}" for code, n in sorted(o.statuses.items()))
    print(f"  throughput     {len(o.ms) / o.elapsed:6.0f} deliveries/s ({answers})")
    if o.lags:
        print(f"  delivery->flag median {statistics.median(o.lags):5.2f} s   p99 {percentile(o.lags, 0.99):5.2f} s   "
              f"max {max(o.lags):5.2f} s")  # fmt: skip
    took = o.recheck_seconds or [0.0]
    print(f"  re-checks      {o.rechecks} for {len(o.lags) + o.lost_flags} first deliveries, each "
          f"median {statistics.median(took):.2f} s, p90 {percentile(took, 0.9):.2f} s (the real sync, at nice 10)")  # fmt: skip
    if o.killed:
        k = o.killed
        print(f"  killed         a worker (pid {k.pid}) {'mid re-check' if k.mid_recheck else 'while idle'}, "
              f"{len(k.claimed)} events claimed then, all done {o.recovered or 0:.1f} s after the kill "
              f"(lease {args.lease:g} s)")  # fmt: skip
    print(f"  events lost    {o.lost_flags + o.not_done}   (flags never written {o.lost_flags}, "
          f"inbox events not done {o.not_done}; must be 0)")  # fmt: skip
    print(f"  processed twice {o.accepted_twice + o.completed_twice}  (deliveries accepted twice "
          f"{o.accepted_twice}, events completed by two claims {o.completed_twice}; must be 0)")  # fmt: skip
    print(
        f"  flags written as new again {o.flags_again} (a re-check repeated after the kill; "
        "matched by fingerprint on a real platform)"
    )
    if o.peak_connections is not None:
        print(f"  connections    {o.peak_connections} at most to the database")


def cpu_line(cpu: dict[str, float], requests: int, elapsed: float | None) -> str:
    """Each part's CPU time per request, in ms, and (over the deliveries) the share of the machine used."""
    parts = "  ".join(f"{name} {seconds / requests * 1000:.2f}" for name, seconds in cpu.items())
    total = sum(cpu.values())
    line = f"{parts}  = {total / requests * 1000:.2f} ms"
    if elapsed:
        line += f" ({total / (elapsed * (os.cpu_count() or 1)):.0%} of {os.cpu_count()} CPUs meanwhile)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--recipes", type=int, default=50)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-at", type=float, default=0.4, help="kill a worker after this share was sent")
    parser.add_argument("--lease", type=float, default=10.0, help="seconds a dead worker's claim is kept")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--run-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_worker is not None:
        worker_main(args.run_worker)
        return
    failed: list[str] = []
    for engine in args.engines.split(","):
        outcome = run(engine, args)
        report(outcome, args)
        if outcome.lost_flags + outcome.not_done or outcome.accepted_twice + outcome.completed_twice:
            failed.append(engine)
    if failed:
        raise SystemExit(f"events lost or processed twice on: {', '.join(failed)}")


if __name__ == "__main__":
    main()
