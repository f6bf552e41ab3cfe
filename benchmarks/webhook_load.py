"""What the webhook benchmarks share (``bench_webhook.py``, ``bench_postgres.py``): a fake platform
per recipe, the real re-check over it, signed deliveries as raw HTTP requests, and the load.

The platform of recipe R is ``$BENCH_DIR/platform/R.sqlite``: sessions to read (each one a decision
taken with only staff present, so each becomes one flag) and a log of the flags written back, with
the moment each was written. A benchmark adds a session just before sending its delivery, so the
time from sending to the flag's write is what a charity would see. The re-check is the real
``coprod.sync.run`` through ``BenchConnector``; the connector is registered under ``bench`` in each
process that runs re-checks (``register()``), with this folder on ``PYTHONPATH``.

Deliveries are Standard Webhooks-signed Google Sheets notices, each on its own connection (as
KoboToolbox and Apps Script send them), made and signed before the timed part, and sent by one
thread on non-blocking sockets (``send_load``).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from coprod.connectors.base import Connector, Delivery, Page, WriteReport
from coprod_core.lifecycle import FlagChange
from coprod_core.live import UnitChange
from coprod_core.recipe import Entity, EntitySpec
from coprod_core.rows import Row

HERE = Path(__file__).resolve().parent
CONF = "python:coprod.webhook_app.gunicorn_conf"
ACCESS = " gunicorn.access: "
SECRET_ENV = "BENCH_WEBHOOK_SECRET"
RECIPE = """
name = "NAME"

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


SIZED_RECIPE = """
name = "NAME"

[sources.platform]
connector = "bench"

[entities.people]
source = "platform"
fields = { id = "ID", roles = "Role", payment_preference = "Payment", benefits_opt_in = "Benefits" }
demographics = { ethnicity = "Ethnic group", age_band = "Age band" }

[entities.projects]
source = "platform"
fields = { id = "ID", name = "Name", label = "Label", plan_drafted = "Plan drafted" }

[entities.sessions]
source = "platform"
fields = { id = "ID", project_id = "Project", date = "Date", hours = "Hours", kind = "Kind", stage = "Stage", decision_taken = "Decision" }

[entities.attendance]
source = "platform"
fields = { person_id = "Person", session_id = "Session", prep_hours = "Prep", expenses_claimed = "Expenses" }

[entities.payments]
source = "platform"
fields = { id = "ID", person_id = "Person", amount = "Amount", date = "Date", kind = "Type" }

[policy]
pay_within_days = 30
minimum_hours = 1
eligible_roles = ["lived_experience", "carer"]

[policy.rates]
decision_meeting = 25
steering_group = 25
co_design_workshop = 25
focus_group = 20

[baseline.ethnicity]
source = "synthetic"
as_of = "2026-03-31"
shares = { white = 0.62, asian = 0.19, black = 0.11, mixed = 0.05, other = 0.03 }

[webhook]
secret_env = "BENCH_WEBHOOK_SECRET"
"""
"""The core benchmark's organisation (``synth.py``, as rows: ``synth_rows.py``) behind the bench
connector, at the size ``BENCH_SIZE`` gives (1: 10,000 people, 2,000 sessions, 200,000
attendances, 50,000 payments); each delivery adds a decision meeting of project P0 that only staff
attended, which raises one flag (``representation.decision_without_voice``) about session ``B<n>``."""
SIZE_ENV = "BENCH_SIZE"
STAFF = "STAFF-1"


def recipe_text(name: str, sized: bool = False) -> str:
    return (SIZED_RECIPE if sized else RECIPE).replace('name = "NAME"', f'name = "{name}"')


_ORGANISATIONS: dict[float, dict[Entity, list[Row]]] = {}


def organisation(size: float) -> dict[Entity, list[Row]]:
    """The synthetic organisation at ``size`` as rows, made once per process (deterministic)."""
    if size not in _ORGANISATIONS:
        import synth
        import synth_rows

        data = synth.dataset(
            int(10_000 * size), int(2_000 * size), int(200_000 * size), int(50_000 * size), seed=7
        )
        rows = synth_rows.rows(data)
        rows[Entity.PEOPLE].append(Row("people row staff", {"ID": STAFF, "Role": "frontline_staff"}, "staff"))
        _ORGANISATIONS[size] = rows
    return _ORGANISATIONS[size]


def bench_session(n: int, sized: bool) -> tuple[Row, Row]:
    """Delivery ``n``'s session (a decision taken with only staff present) and its attendance row."""
    if not sized:
        session = {"ID": f"S{n}", "Project": "P1", "Date": f"{1 + n % 28:02d}/03/2026", "Hours": "2",
                   "Kind": "decision_meeting", "Decision taken": "Yes", "Decision": f"budget line {n}"}  # fmt: skip
        return Row(f"sessions row {n + 2}", session, f"b{n}"), Row(
            f"attendance row {n + 2}", {"Person": "1", "Session": f"S{n}"}, f"b{n}"
        )
    session = {"ID": f"B{n}", "Project": "P0", "Date": f"{1 + n % 28:02d}/03/2026", "Hours": "2",
               "Kind": "decision meeting", "Stage": "design", "Decision": "yes"}  # fmt: skip
    return Row(f"sessions row b{n}", session, f"b{n}"), Row(
        f"attendance row b{n}", {"Person": STAFF, "Session": f"B{n}"}, f"b{n}"
    )


def platform_db(folder: Path, recipe: str) -> sqlite3.Connection:
    """The fake platform of one recipe (its own file, so recipes' re-checks never wait for each other)."""
    (folder / "platform").mkdir(exist_ok=True)
    conn = sqlite3.connect(
        folder / "platform" / f"{recipe}.sqlite", timeout=30, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a fake platform: its durability is not what is measured
    conn.executescript(PLATFORM_SCHEMA)
    return conn


class BenchConnector(Connector):
    """A platform held in ``platform/RECIPE.sqlite``: sessions to read, and a log of flags written back.

    It understands the benchmark's deliveries (Google Sheets notices naming row ``n + 2`` for session
    ``n``): the webhook worker reads that one session (:meth:`changes_for`), as it reads one row of
    a real sheet. With ``BENCH_SIZE`` set, the synthetic organisation is read too."""

    kind = "bench"
    platform = "sheets"

    def _db(self) -> sqlite3.Connection:
        return platform_db(Path(self.context.env["BENCH_DIR"]), self.context.recipe.name)

    def _size(self) -> float | None:
        size = self.context.env.get(SIZE_ENV)
        return float(size) if size else None

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        size = self._size()
        if size is not None:
            yield Page(list(organisation(size).get(entity, [])))
        elif entity is Entity.PEOPLE:
            yield Page([Row("people row 2", {"ID": "1", "Role": "frontline_staff"})])
            return
        if entity not in (Entity.SESSIONS, Entity.ATTENDANCE):
            return
        conn = self._db()
        ns = [r[0] for r in conn.execute("SELECT n FROM sessions ORDER BY n")]
        conn.close()
        pick = 0 if entity is Entity.SESSIONS else 1
        yield Page([bench_session(n, size is not None)[pick] for n in ns])

    def changes_for_all(self, deliveries: Sequence[Delivery]) -> list[UnitChange] | None:
        """All the sessions a claim's deliveries name, in one query of one connection, as the Sheets
        connector reads every row a claim names in one request (a connection and a query per
        delivery made the fake, not coprod, the slow part of a burst's re-check)."""
        ns = [int((d.notice or {"row": int(d.subject.split()[1])})["row"]) - 2 for d in deliveries]
        conn = self._db()
        found: set[int] = set()
        for start in range(0, len(ns), 500):  # SQLite's limit on a statement's parameters
            chunk = ns[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in conn.execute(f"SELECT n FROM sessions WHERE n IN ({marks})", chunk))
        conn.close()
        sized = self._size() is not None
        out: list[UnitChange] = []
        for n in ns:
            session, attendance = bench_session(n, sized)
            there = n in found
            out.append(UnitChange(Entity.SESSIONS, f"b{n}", (session,) if there else ()))
            out.append(UnitChange(Entity.ATTENDANCE, f"b{n}", (attendance,) if there else ()))
        return out

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        now = time.time()
        conn = self._db()
        conn.executemany(
            "INSERT INTO writes VALUES (?,?,?,?)",
            [(c.known.subject_id, c.fingerprint, c.kind.value, now) for c in changes],
        )
        conn.close()
        return WriteReport(written=[c.fingerprint for c in changes], requests=1)


def register() -> None:
    from coprod.connectors import registry

    registry.CONNECTORS["bench"] = "webhook_load:BenchConnector"


class BenchRecheck:
    """The production re-check (``live_recheck``: the dataset held in memory, the change taken in),
    or with ``whole`` the re-check as it was before it (``sync_recheck``: a whole sync a delivery),
    with any traceback shown."""

    takes_deliveries = True

    def __init__(self, whole: bool = False) -> None:
        self.whole = whole

    def __call__(self, name: str, path: Path, deliveries: Sequence[Delivery] = ()) -> int:
        from coprod.webhook_app.settings import live_recheck, sync_recheck

        try:
            return sync_recheck(name, path) if self.whole else live_recheck(name, path, deliveries)
        except Exception:
            traceback.print_exc()  # the app logs only the error's kind; the benchmark wants to see it all
            raise


bench_recheck = BenchRecheck()
bench_whole_recheck = BenchRecheck(whole=True)


class Written(NamedTuple):
    first: dict[int, float]
    """Session number -> when its flag was first written."""
    again: int
    """Flags written as new more than once (a re-check's write-back repeated: matched by
    fingerprint on a real platform, so nothing is duplicated there, but work done twice)."""


def flags_written(folder: Path, recipes: Sequence[str], prefix: str = "S") -> Written:
    first: dict[int, float] = {}
    again = 0
    for recipe in recipes:
        db = platform_db(folder, recipe)
        rows = db.execute(
            "SELECT subject_id, MIN(written_at), SUM(kind = 'new') FROM writes GROUP BY subject_id"
        ).fetchall()
        db.close()
        for subject, at, new in rows:
            if subject.startswith(prefix) and subject[len(prefix) :].isdigit():
                first[int(subject[len(prefix) :])] = at
                again += max(0, int(new or 0) - 1)
    return Written(first, again)


def wait_for_flags(
    folder: Path, recipes: Sequence[str], expected: int, timeout: float = 180.0, prefix: str = "S"
) -> Written:
    deadline = time.monotonic() + timeout
    while True:
        written = flags_written(folder, recipes, prefix)
        if len(written.first) >= expected or time.monotonic() > deadline:
            return written
        time.sleep(0.5)


# the load ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float:
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


def signed_request(secret: str, recipe: str, n: int) -> bytes:
    """Delivery ``n`` (a new form row for session ``n``) as the bytes of one HTTP request, signed now
    (send it within 5 minutes). Its ``webhook-id`` is the same each time it is made: a re-send."""
    from standardwebhooks.webhooks import Webhook

    body = json.dumps({"type": "sheets.form_submit", "spreadsheet_id": "bench", "sheet": "Form responses 1",
                       "row": n + 2})  # fmt: skip
    msg_id = f"msg_{recipe}_{n}"
    now = datetime.now(UTC)
    head = (
        f"POST /hooks/sheets/{recipe} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
        f"webhook-id: {msg_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
        f"webhook-signature: {Webhook(secret).sign(msg_id, now, body)}\r\n\r\n"
    )
    return head.encode() + body.encode()


def health_request() -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


class Load(NamedTuple):
    latencies: list[float]
    """Seconds from connecting to the arrival of the answer's last byte (the kernel's receive
    time), in the order answers came: what a sender on its own machine waits."""
    read_latencies: list[float]
    """The same, until the load generator read that byte: adds the generator's own waits for the
    CPU it shares with the app."""
    sent_at: dict[int, float]
    """Request number -> wall-clock time it was sent."""
    statuses: dict[int, int]
    elapsed: float


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux: each read also gives the time the kernel received the data (not in Python's socket module)."""
TIMESPEC = struct.Struct("qq")


class _Exchange:
    """One request on its own connection, from connecting to the end of the answer."""

    def __init__(self, n: int, port: int, request: bytes) -> None:
        self.n = n
        self.request = request
        self.answer = bytearray()
        self.head_length = 0
        self.length: int | None = None
        self.arrived = 0.0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.started = time.time()  # the kernel's receive times are wall-clock times too
        self.sock.connect_ex(("127.0.0.1", port))

    def send(self) -> bool:
        """Send what is left of the request; True once it has all gone."""
        self.request = self.request[self.sock.send(self.request) :]
        return not self.request

    def receive(self) -> bool:
        """Read what has arrived; True once the answer is complete (or the server hung up)."""
        data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(TIMESPEC.size))
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = TIMESPEC.unpack(value[: TIMESPEC.size])
                self.arrived = seconds + nanos / 1e9
        if not data:
            return True
        self.answer += data
        if self.length is None and (end := self.answer.find(b"\r\n\r\n")) >= 0:
            self.head_length = end + 4
            found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.answer[:end])
            self.length = int(found.group(1)) if found else 0
        return self.length is not None and len(self.answer) >= self.head_length + self.length


def send_load(
    ports: Sequence[int],
    requests: Sequence[bytes],
    concurrency: int,
    before_send: Callable[[int], Any] | None = None,
) -> Load:
    """Send the requests, ``concurrency`` at a time, each on its own connection, request ``n`` to
    ``ports[n % len(ports)]`` (a load balancer taking turns), timing each from connecting to the
    last byte of the answer. ``before_send(n)`` runs just before request ``n`` is sent. The
    requests are made (and signed) beforehand, so none of that is timed.

    One thread with non-blocking sockets: threads in one Python process wait for the GIL (5 ms
    turns) after their answer has arrived, and that wait would be counted as the app's latency.
    asyncio did the same job at about twice the CPU, taken from the app on the same machine. An
    answer's arrival is the kernel's receive time (``SO_TIMESTAMPNS``): when the generator itself
    waits for a CPU, the answer has arrived all the same, as it would at a sender's own machine;
    the time until the generator read it is kept too (``read_latencies``).
    """
    sent_at: dict[int, float] = {}
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    read_latencies: list[float] = []
    todo = iter(range(len(requests)))
    selector = selectors.DefaultSelector()

    def start_next() -> None:
        n = next(todo, None)
        if n is None:
            return
        if before_send is not None:
            before_send(n)
        sent_at[n] = time.time()
        exchange = _Exchange(n, ports[n % len(ports)], requests[n])
        selector.register(exchange.sock, selectors.EVENT_WRITE, exchange)

    def finish(exchange: _Exchange) -> None:
        read = time.time()
        selector.unregister(exchange.sock)
        exchange.sock.close()
        latencies.append((exchange.arrived or read) - exchange.started)
        read_latencies.append(read - exchange.started)
        statuses[exchange.n] = int(bytes(exchange.answer).split(b" ", 2)[1])
        start_next()

    started = time.perf_counter()
    for _ in range(concurrency):
        start_next()
    while selector.get_map():
        for key, events in selector.select():
            exchange: _Exchange = key.data
            if events & selectors.EVENT_WRITE:
                error = exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, f"request {exchange.n}: {os.strerror(error)}")
                if exchange.send():
                    selector.modify(exchange.sock, selectors.EVENT_READ, exchange)
            elif exchange.receive():
                finish(exchange)
    selector.close()
    return Load(latencies, read_latencies, sent_at, statuses, time.perf_counter() - started)


def app_times(logs: Sequence[Path]) -> list[float]:
    """Milliseconds gunicorn itself spent on each delivery, from access lines logged with
    ``--access-logformat '%(U)s %(D)s'``: the rest of the latency is queueing for the CPU."""
    times = []
    for log in logs:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if ACCESS in line:
                path, micros = line.split(ACCESS, 1)[1].split()[:2]
                if path.startswith("/hooks/"):
                    times.append(int(micros) / 1000)
    return times


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# CPU accounting ------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used so far) of a live process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_group(groups: dict[str, Sequence[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each group of process trees (each root with its descendants, but
    not those that are another group's roots), per process: compare two samples to know what a
    stretch of the run cost each part."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    every_root = {pid for roots in groups.values() for pid in roots}
    found: dict[str, dict[int, float]] = {}
    for name, roots in groups.items():
        todo, seen = list(roots), dict[int, float]()
        while todo:
            pid = todo.pop()
            if pid in stats and pid not in seen:
                seen[pid] = stats[pid][1]
                todo.extend(c for c in children.get(pid, []) if c not in every_root)
        found[name] = seen
    return found


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each group used between two samples (a process that died meanwhile counts for
    what it had used by the first sample only)."""
    return {
        name: sum(seconds - before[name].get(pid, 0.0) for pid, seconds in after[name].items())
        for name in after
    }
