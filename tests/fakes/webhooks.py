"""Shared pieces for the webhook app tests (no tests here): a recipe, signed headers, an app whose
test client fails on any answer that shows a secret, personal data or a traceback, a fixture that
does the same for every log line, and the app served by a real gunicorn on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook
from werkzeug.test import TestResponse

from coprod.webhook_app import create_app

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SECRET_ENV = "YOUTH_PANEL_WEBHOOK_SECRET"
KOBO_ONLY_SECRET = "kobo-only-secret-4f1c"
NOT_A_SIGNING_SECRET = "whsec_%%%not base64%%%"
PERSON = "Sam Jones"
"""A name the tests put in bodies (and in exceptions): it must never come back in an answer or a log."""

NEVER_SHOWN = (
    SECRET,
    SECRET.removeprefix("whsec_"),
    KOBO_ONLY_SECRET,
    NOT_A_SIGNING_SECRET,
    PERSON,
    "Traceback",
)


LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \[\d+\] (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)
"""A line as the app's processes log it (coprod.webhook_app.logs): time, [pid], level, logger: message."""


def assert_every_line_is_a_log_line(text: str) -> None:
    lines = text.splitlines()
    assert lines, "nothing was logged"
    for line in lines:
        assert LOG_LINE.match(line), f"a line without time, level or logger: {line[:120]!r}"


def assert_nothing_leaked(text: str, where: str) -> None:
    for secret in NEVER_SHOWN:
        assert secret not in text, f"{where} shows {secret[:12]}..."


class LeakCheckingClient(FlaskClient):
    """Flask's test client, failing the test when an answer shows a secret, a name or a traceback."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        answer = super().open(*args, **kwargs)
        assert_nothing_leaked(answer.get_data(as_text=True), f"the {answer.status_code} answer")
        return answer


@pytest.fixture
def logs_show_no_secret(caplog: pytest.LogCaptureFixture) -> Any:
    """Every log line a test produced, at every level, is free of secrets, names and tracebacks."""
    caplog.set_level("DEBUG")
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")  # with any traceback attached
    assert_nothing_leaked("\n".join(formatter.format(r) for r in records), "the log")


RECIPE = """
name = "{name}"

[sources.platform]
connector = "{connector}"

[entities.people]
source = "platform"
fields = {{ id = "ID", roles = "Role" }}

[entities.sessions]
source = "platform"
fields = {{ id = "ID", project_id = "Project", date = "Date", hours = "Hours", kind = "Kind", decision_taken = "Decision taken", decision = "Decision" }}

[entities.attendance]
source = "platform"
fields = {{ person_id = "Person", session_id = "Session" }}

[[projects]]
id = "P1"
name = "Youth panel"
label = "consultation"

[webhook]
secret_env = "{secret_env}"
"""


def write_recipe(folder: Path, name: str = "youth-panel", connector: str = "files") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(RECIPE.format(name=name, connector=connector, secret_env=SECRET_ENV), encoding="utf-8")
    return path


def signed_headers(
    body: bytes, *, msg_id: str | None = None, at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed as a sender would."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


KOBO_SECRET_HEADER = {"X-Coprod-Secret": SECRET}
KOBO_HOOK_UID = "h6zATPhRrtKKqxJiC9pDGV"
KOBO_SENT_HEADERS = {"User-Agent": f"KoboToolbox external service #{KOBO_HOOK_UID}", "Accept": "*/*"}
"""What kpi puts on every REST Service request besides the custom headers (hooks.json ``received``):
no signature, no delivery id."""
SUBMISSION = {
    "_id": 345,
    "formhub/uuid": "3f1a6f0c2b7e4c1e9a550f1b2c3d4e5f",
    "__version__": "vRkJpXWr2p6hV4wq3Yg3Jb",
    "meta/instanceID": "uuid:6d1c7f0a-2b7e-4c1e-9a55-0f1b2c3d4e5f",
    "meta/rootUuid": "uuid:6d1c7f0a-2b7e-4c1e-9a55-0f1b2c3d4e5f",
    "_xform_id_string": "aYouthPanelRegistration",
    "_uuid": "6d1c7f0a-2b7e-4c1e-9a55-0f1b2c3d4e5f",
    "_attachments": [],
    "_status": "submitted_via_web",
    "_geolocation": [None, None],
    "_submission_time": "2026-12-03T16:47:38",
    "_validation_status": {},
    "_submitted_by": "alice",
    "participant/name": PERSON,
    "participant/ethnicity": "asian",
}
"""A KoboToolbox REST Service delivery: the whole submission as a listing shows it (system keys as
kpi sent them in hooks.json ``received``: ``_uuid``, ``_submission_time`` without a zone...),
answers included, under flat ``group/question`` keys."""
CIVI_NOTICE = {"entity": "Participant", "id": 42, "action": "create"}
SHEETS_NOTICE = {
    "type": "sheets.form_submit",
    "spreadsheet_id": "abc123",
    "sheet": "Form responses 1",
    "row": 12,
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "kobotoolbox": SUBMISSION,
    "sheets": SHEETS_NOTICE,
    "civicrm": CIVI_NOTICE,
}


class Delivery(NamedTuple):
    path: str
    body: bytes
    headers: dict[str, str]
    """What authenticates it: the secret header for KoboToolbox, a valid signature for the others."""


def delivery(platform: str, size: int | None = None) -> Delivery:
    """A valid delivery for ``platform``'s route, its body padded to exactly ``size`` bytes if given."""
    body = json.dumps(PAYLOADS[platform]).encode()
    if size is not None:
        body = body[:-1] + b', "padding": ""}'
        body = body[:-2] + b"x" * (size - len(body)) + body[-2:]
        assert len(body) == size
    headers = (
        {**KOBO_SENT_HEADERS, **KOBO_SECRET_HEADER} if platform == "kobotoolbox" else signed_headers(body)
    )
    return Delivery(f"/hooks/{platform}/youth-panel", body, {"Content-Type": "application/json", **headers})


def make_app(
    tmp_path: Path,
    recheck: Callable[[str, Path], int | None] | None = None,
    connector: str = "files",
    **options: Any,
) -> Flask:
    recipe = write_recipe(tmp_path / "recipe", connector=connector)
    settings: dict[str, Any] = {
        "recipes": {"youth-panel": recipe},
        "state_path": tmp_path / "state.sqlite",
        "env": {SECRET_ENV: SECRET},
        "worker_thread": False,
        "recheck": recheck or (lambda name, path: 0),
    }
    settings.update(options)
    return checked(create_app(settings))


def checked(app: Flask) -> Flask:
    app.test_client_class = LeakCheckingClient
    return app


# a real server ---------------------------------------------------------------------------------


def wait_until_answering(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``/healthz`` until the server started in ``proc`` answers (it fails if ``proc`` dies)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=1).json() == {"status": "ok"}:
                return
        except requests.RequestException:
            pass
        assert proc.poll() is None, f"the server exited with {proc.returncode} before answering"
        assert time.monotonic() < deadline, f"the server did not answer within {timeout:g} s"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it is still running after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server(NamedTuple):
    url: str
    port: int
    log: Path
    """Everything the server wrote, stdout and stderr."""


class Started(NamedTuple):
    proc: subprocess.Popen[bytes]
    port: int


def start_gunicorn(
    tmp_path: Path,
    *options: str,
    state: str | None = None,
    recipes: Path | None = None,
    stdout: IO[bytes],
    stderr: IO[bytes] | int,
) -> Started:
    """``gunicorn -c python:coprod.webhook_app.gunicorn_conf`` started as README and recipes/deploy/
    run it, with the test recipe (or ``COPROD_RECIPES=recipes``), on a free port of 127.0.0.1, its
    state store ``state`` (default a SQLite file in ``tmp_path``); not waited for.

    The port is bound here and the socket handed to gunicorn (``--bind fd://N``, as systemd's socket
    activation does): a port found free and closed again can be taken by anything else on the
    machine before gunicorn binds it."""
    if recipes is None:
        recipes = tmp_path / "recipes"
        write_recipe(recipes / "youth")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "COPROD_RECIPES": str(recipes),
        "COPROD_STATE": state or str(tmp_path / "state.sqlite"),
        "COPROD_WEBHOOK_WORKER": "off",  # as the unit runs it; deliveries stay in the inbox
        SECRET_ENV: SECRET,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # tests/: a worker class from fakes
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:coprod.webhook_app.gunicorn_conf",
               "--bind", f"fd://{listener.fileno()}", *options]  # fmt: skip
    with listener:
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr, pass_fds=[listener.fileno()]
        )
    return Started(proc, port)


@contextmanager
def gunicorn(tmp_path: Path, *options: str, state: str | None = None) -> Iterator[Server]:
    """The app under gunicorn (``start_gunicorn``), answering; stopped (SIGTERM) when the block ends."""
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc, port = start_gunicorn(tmp_path, *options, state=state, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, proc)
        yield Server(url=url, port=port, log=log)
    finally:
        stop(proc)
