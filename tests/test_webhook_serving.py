"""The webhook app as production serves it: a real gunicorn on 127.0.0.1, started with the shipped
settings (``coprod.webhook_app.gunicorn_conf``), against clients that misbehave."""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from coprod.webhook_app.gunicorn_worker import FIRST_BYTE_SECONDS, REQUEST_SECONDS
from coprod.webhook_app.logs import DATE_FORMAT, FORMAT, EveryLineFormatter
from coprod.webhook_app.settings import MAX_BODY_BYTES
from fakes import ROOT
from fakes.quick_deadline import QuickDeadlineWorker
from fakes.webhooks import (
    PERSON,
    SECRET,
    SECRET_ENV,
    Delivery,
    assert_every_line_is_a_log_line,
    assert_nothing_leaked,
    delivery,
    gunicorn,
    start_gunicorn,
    stop,
    wait_until_answering,
    write_recipe,
)

pytestmark = pytest.mark.timeout(90)


@dataclass
class SlowClient:
    """One connection sending its request a byte at a time (or nothing), as a slow-loris attack does.

    ``kind``: ``silent`` connects and sends nothing; ``headers`` sends a request line, then a
    header byte every ``every`` seconds; ``body`` sends complete headers announcing 10,000 bytes,
    then a byte of body every ``every`` seconds. ``closed_after`` is when the server hung up.
    """

    port: int
    kind: str
    every: float = 0.2
    started: float = 0.0
    closed_after: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)
    """Set once connected: the connection is in gunicorn's queue, ahead of any made after it."""

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as conn:
            self.started = time.monotonic()
            self.connected.set()
            if self.kind == "headers":
                conn.sendall(b"POST /hooks/kobotoolbox/youth-panel HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            elif self.kind == "body":
                conn.sendall(
                    b"POST /hooks/kobotoolbox/youth-panel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"
                )
            while not self.stop.wait(self.every):
                readable, _, _ = select.select([conn], [], [], 0)
                if readable:  # an answer or the end of the connection: the server gave up on us
                    self.closed_after = time.monotonic() - self.started
                    return
                if self.kind != "silent":
                    try:
                        conn.sendall(b"a")
                    except OSError:
                        self.closed_after = time.monotonic() - self.started
                        return


def test_healthz_answers_within_a_second_while_ten_slow_clients_hold_connections(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as server:
        clients = [SlowClient(server.port, kind) for kind in ["headers"] * 4 + ["body"] * 3 + ["silent"] * 3]
        threads = [threading.Thread(target=c.run) for c in clients]
        for t in threads:
            t.start()
        try:
            assert all(c.connected.wait(10) for c in clients)
            waits = []
            until = time.monotonic() + REQUEST_SECONDS + 3
            while any(t.is_alive() for t in threads) and time.monotonic() < until:  # till all are cut off
                started = time.monotonic()
                answer = requests.get(f"{server.url}/healthz", timeout=5)
                waits.append(time.monotonic() - started)
                assert answer.status_code == 200
                time.sleep(0.2)
        finally:
            for c in clients:
                c.stop.set()
            for t in threads:
                t.join()
    assert len(waits) > 20 and max(waits) < 1.0, f"/healthz waited up to {max(waits):.2f} s"
    for c in clients:  # silent ones are closed after 5 s, the others by the deadline
        assert c.closed_after is not None, f"a {c.kind} slow client was never cut off"
        assert c.closed_after <= REQUEST_SECONDS + 2.5, c
        assert c.kind == "silent" or c.closed_after >= REQUEST_SECONDS - 0.5, c
        assert c.kind != "silent" or c.closed_after <= FIRST_BYTE_SECONDS + 1.5, c


def test_a_slow_client_is_cut_off_and_the_next_request_on_a_free_thread_is_answered(
    tmp_path: Path,
) -> None:
    """More slow clients than the app has threads: answers wait for the deadline, not for ever.

    With the shipped worker's deadline shortened to 3 s (fakes.quick_deadline): what this proves is
    that the deadline frees the threads, and the test waits one deadline; the test above holds the
    shipped settings to their 10 s."""
    deadline = QuickDeadlineWorker.request_seconds
    worker = "fakes.quick_deadline.QuickDeadlineWorker"
    with gunicorn(tmp_path, "--workers", "1", "--threads", "2", "--worker-class", worker) as server:
        clients = [SlowClient(server.port, "headers") for _ in range(2)]
        threads = [threading.Thread(target=c.run) for c in clients]
        for t in threads:
            t.start()
        try:
            # Both connected before /healthz connects: gunicorn takes them first, one per thread.
            assert all(c.connected.wait(10) for c in clients)
            started = time.monotonic()
            answer = requests.get(f"{server.url}/healthz", timeout=deadline + 10)
            waited = time.monotonic() - started
            for t in threads:
                t.join(timeout=3)  # each client notices its connection was closed
        finally:
            for c in clients:
                c.stop.set()
            for t in threads:
                t.join()
        log = server.log.read_text()
    assert answer.status_code == 200
    assert waited >= deadline - 1, f"/healthz was answered after {waited:.1f} s: the threads were not held"
    assert waited <= deadline + 2, f"/healthz waited {waited:.1f} s behind two stalled requests"
    assert all(c.closed_after is not None for c in clients)
    assert f"whose request took longer than {deadline:g} s" in log


def test_clients_that_do_not_hang_up_after_their_answer_do_not_hold_up_the_next_one(tmp_path: Path) -> None:
    """gunicorn closes a connection in stages, waiting up to 2 s for the client to hang up, and did
    that on the process's main thread, which also accepts connections: three clients that read
    their answer and keep the connection open held the next request up for 2 s. Now the
    thread that answered waits, and the next request is answered at once."""
    with gunicorn(tmp_path, "--workers", "1") as server:
        idle = []
        for _ in range(3):
            conn = socket.create_connection(("127.0.0.1", server.port))
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            idle.append(conn)
        try:
            for conn in idle:
                conn.settimeout(10)
                assert conn.recv(1024).startswith(b"HTTP/1.1 200 ")  # answered; not hanging up
            started = time.monotonic()
            answer = requests.get(f"{server.url}/healthz", timeout=10)
            waited = time.monotonic() - started
        finally:
            for conn in idle:
                conn.close()
    assert answer.status_code == 200
    assert waited < 1.0, f"/healthz waited {waited:.1f} s behind clients that had their answers"


def send(url: str, sent: Delivery, chunked: bool) -> tuple[int, object]:
    """POST as the platforms' senders do (requests, as KoboToolbox sends), with a Content-Length or
    in 64 KiB chunks (none).

    A server refusing a body too large may answer before the body is all sent and close the
    connection (RFC 9110, 15.5.14); the sender then gets a broken pipe while still sending, and
    reads the answer after it (urllib3 does exactly this). A client that gives up on the broken
    pipe (``http.client`` alone) made this test fail whenever the machine was slow enough for
    gunicorn to answer before the client had handed the whole body to the kernel.
    """
    body = (sent.body[i : i + 65536] for i in range(0, len(sent.body), 65536)) if chunked else sent.body
    answer = requests.post(url + sent.path, data=body, headers=sent.headers, timeout=30)
    assert ("chunked" in answer.request.headers.get("Transfer-Encoding", "")) == chunked
    return answer.status_code, answer.json()


@pytest.mark.parametrize("platform", ["kobotoolbox", "sheets"])
def test_under_gunicorn_a_body_over_one_mebibyte_is_413_whatever_the_transfer_encoding(
    tmp_path: Path, platform: str
) -> None:
    too_large = (413, {"error": "the body is larger than 1 MiB"})
    with gunicorn(tmp_path) as server:
        big = delivery(platform, size=MAX_BODY_BYTES + 1)
        assert send(server.url, big, chunked=False) == too_large
        assert send(server.url, big, chunked=True) == too_large
        assert send(server.url, delivery(platform), chunked=True) == (
            202,
            {"status": "accepted", "event": 1},
        )
        log = server.log.read_text()
    assert "refused" not in log, "the size is checked before the secret or the signature"


def test_under_gunicorn_a_sender_still_sending_a_body_too_large_when_the_413_comes_can_read_it(
    tmp_path: Path,
) -> None:
    """The race behind the flake above, made certain: the 413 is answered from the headers alone,
    and the sender only starts its body once the answer is there. gunicorn closes in stages (sends
    its end, reads a little, then closes): the body may meet a closed connection, and the whole
    answer is still there to read."""
    big = delivery("kobotoolbox", size=MAX_BODY_BYTES + 1)
    head = [f"POST {big.path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(big.body)}"]
    head += [f"{name}: {value}" for name, value in big.headers.items()]
    with gunicorn(tmp_path) as server, socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall("\r\n".join(head).encode() + b"\r\n\r\n")
        readable, _, _ = select.select([conn], [], [], 10)
        assert readable, "no answer before the body was sent"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # gunicorn may have closed
            conn.sendall(big.body)
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        assert answer.status == 413
        assert json.loads(answer.read()) == {"error": "the body is larger than 1 MiB"}


def test_under_gunicorn_every_log_line_has_a_time_a_level_and_a_logger_and_the_app_info_lines_show(
    tmp_path: Path,
) -> None:
    with gunicorn(tmp_path) as server:
        kobo, sheets = delivery("kobotoolbox"), delivery("sheets")
        answers = [
            requests.post(server.url + kobo.path, data=kobo.body, headers=kobo.headers, timeout=10),
            requests.post(server.url + kobo.path, data=kobo.body, headers={**kobo.headers, "X-Coprod-Secret": PERSON},
                          timeout=10),
            requests.post(server.url + kobo.path, data=f'{{"name": "{PERSON}"'.encode(), headers=kobo.headers,
                          timeout=10),
            requests.post(server.url + sheets.path, data=sheets.body + b" ", headers=sheets.headers, timeout=10),
        ]  # fmt: skip
        log = server.log.read_text()
    assert [a.status_code for a in answers] == [202, 401, 400, 401]
    assert_every_line_is_a_log_line(log)
    assert (
        "] INFO coprod.webhook_app: kobotoolbox delivery for recipe youth-panel accepted as event 1\n" in log
    )
    assert (
        "] WARNING coprod.webhook_app: kobotoolbox delivery for recipe youth-panel refused: wrong secret"
        in log
    )
    assert (
        "] WARNING coprod.webhook_app: sheets delivery for recipe youth-panel refused: bad signature" in log
    )
    assert '] INFO gunicorn.access: "POST /hooks/kobotoolbox/youth-panel HTTP/1.1" 202 ' in log
    assert "] INFO gunicorn.error: Booting worker with pid" in log
    assert_nothing_leaked(log, "gunicorn's log")
    access = [line for line in log.splitlines() if " gunicorn.access: " in line]
    assert len(access) >= 4 and not any("127.0.0.1" in line for line in access), "no client address"


def test_a_message_of_several_lines_has_the_time_level_and_logger_on_every_line() -> None:
    formatter = EveryLineFormatter(FORMAT, DATE_FORMAT)
    try:
        raise ValueError("a traceback, as gunicorn logs one")
    except ValueError:
        record = logging.LogRecord(
            "gunicorn.error", logging.ERROR, __file__, 1, "Error", None, sys.exc_info()
        )
    text = formatter.format(record)
    assert text.count("\n") >= 3
    assert_every_line_is_a_log_line(text)


def test_readme_and_the_systemd_unit_run_gunicorn_with_the_settings_the_tests_use() -> None:
    command = "gunicorn -c python:coprod.webhook_app.gunicorn_conf"
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
    unit = (ROOT / "recipes" / "deploy" / "coprod-webhook.service").read_text(encoding="utf-8")
    start = unit[unit.index("\nExecStart=") + 1 :].split("\n")[0]
    assert start.startswith(f"ExecStart=/srv/coprod/venv/bin/{command}")
    assert not {"--preload", "--workers", "--threads", "--worker-class"} & set(start.split())


# a state store that cannot be reached ------------------------------------------------------------

DB_PASSWORD = "Pa55word-of-the-db"


def _refused_port() -> int:
    """A port of 127.0.0.1 nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _assert_said_in_one_line_without_a_traceback(err: str, address: str) -> None:
    said = [line for line in err.splitlines() if "cannot reach the PostgreSQL state store" in line]
    assert len(said) == 1, err
    assert f"cannot reach the PostgreSQL state store at {address}" in said[0]
    for noise in ("Traceback", 'File "', "Exception in worker process", "StoreUnavailable", DB_PASSWORD):
        assert noise not in err, f"{noise!r} in gunicorn's stderr:\n{err}"
    assert_every_line_is_a_log_line(err)


def test_gunicorn_started_while_the_postgresql_store_is_down_says_so_in_one_line_and_exits_3(
    tmp_path: Path,
) -> None:
    """recipes/deploy followed with PostgreSQL down (or a wrong address in .env): gunicorn logged each
    process's traceback beside coprod's line. Now the line alone, before any process is started, and
    exit 3 (the state store's code in README's table), which systemd's Restart=on-failure restarts."""
    port = _refused_port()
    state = f"postgresql://coprod:{DB_PASSWORD}@127.0.0.1:{port}/coprod"
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        proc, _ = start_gunicorn(tmp_path, state=state, stdout=out, stderr=err)
        assert proc.wait(timeout=60) == 3
    assert (tmp_path / "out").read_bytes() == b""
    text = (tmp_path / "err").read_text(encoding="utf-8")
    _assert_said_in_one_line_without_a_traceback(text, f"postgresql://coprod@127.0.0.1:{port}/coprod")
    assert "Booting worker" not in text  # said by the arbiter, before it forks a process


def test_gunicorn_started_with_no_recipe_found_says_so_and_exits_2_as_coprod_serve_does(
    tmp_path: Path,
) -> None:
    """COPROD_RECIPES naming an empty folder (or a wrong one): gunicorn started and answered 404 to
    every delivery, while ``coprod serve`` and ``coprod worker`` refuse it. Now the same line and
    exit 2, before gunicorn listens."""
    (tmp_path / "none").mkdir()
    with (tmp_path / "err").open("wb") as err:
        proc, _ = start_gunicorn(tmp_path, recipes=tmp_path / "none", stdout=subprocess.DEVNULL, stderr=err)
        assert proc.wait(timeout=60) == 2
    text = (tmp_path / "err").read_text(encoding="utf-8")
    said = [line for line in text.splitlines() if "no recipes found: set COPROD_RECIPES" in line]
    assert len(said) == 1, text
    assert "Booting worker" not in text and "Traceback" not in text
    assert_every_line_is_a_log_line(text)


def _processes_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8").split()]


def test_a_gunicorn_process_replaced_while_the_postgresql_store_is_gone_says_so_in_one_line_and_stops_it(
    tmp_path: Path, postgres_server
) -> None:
    """The database goes away while the app runs, and gunicorn replaces one of its processes (it
    died, or hit its request limit): the new process cannot build the app. It says why in one line
    and gunicorn stops with exit 3 (its "worker failed to boot"), for systemd to restart."""
    name = postgres_server.create_database()
    with (tmp_path / "log").open("wb") as log:
        proc, port = start_gunicorn(  # one process: once it answers, none is still starting
            tmp_path, "--workers", "1", state=postgres_server.url(name), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_answering(f"http://127.0.0.1:{port}", proc)
            postgres_server.drop_database(name)
            [process] = _processes_of(proc.pid)
            os.kill(process, signal.SIGKILL)
            assert proc.wait(timeout=60) == 3
        finally:
            stop(proc)
            postgres_server.drop_database(name)
    text = (tmp_path / "log").read_text(encoding="utf-8")
    _assert_said_in_one_line_without_a_traceback(text, f"postgresql://coprod@/{name}")


def test_an_app_process_sets_what_it_built_aside_from_the_cycle_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a gunicorn process builds before its first request lives as long as the process, yet
    each full collection walked it all (about 60,000 objects) with every request thread stopped:
    100 to 300 ms, twice per process in bench_postgres's 10,000 deliveries.
    The app gunicorn builds is frozen out of the collector's sight; a request's objects are not."""
    from coprod.webhook_app.gunicorn_start import create_app_or_exit

    write_recipe(tmp_path / "recipes" / "youth")
    for name, value in {
        "COPROD_RECIPES": str(tmp_path / "recipes"),
        "COPROD_STATE": str(tmp_path / "state.sqlite"),
        "COPROD_WEBHOOK_WORKER": "off",
        SECRET_ENV: SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    gc.unfreeze()  # what an earlier test or the test runner froze is not counted below
    try:
        app = create_app_or_exit()
        assert gc.get_freeze_count() > 10_000
        assert not any(seen is app for seen in gc.get_objects())  # a full collection skips it
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert any(seen is response for seen in gc.get_objects())  # made later: collected as usual
    finally:
        gc.unfreeze()
