"""Nothing leaked: an audit of every way a user can make coprod fail, with a marked value in every
secret it reads and in the personal data of every connector.

Each secret the product reads (``.env.example`` lists them: the Google key file, the KoboToolbox
token and hook secret, the CiviCRM API and site keys, each webhook signing secret, a PostgreSQL
password in ``COPROD_STATE``) holds a value with ``SENTINEL`` in it; each failure a user can meet is
driven through the real entry point (``coprod.cli.main`` in this process, the webhook app through
Flask's test client and its worker's re-check), with ``-v`` and every logger at DEBUG; then
everything the run left is searched: what it printed, every log record (with any traceback), the
files it wrote (the state store's and the inbox's bytes, the report, the flags file), the bodies
of the requests it sent and the app's answers. A secret must appear in none of them. Names and
free-text answers (``NAMEMARK``) must appear in no log and not in the state store or the inbox,
while the flags name the person (that is what staff read them for).

Each path is one parameter: add a failure to ``FAILURES``, a command to ``COMMANDS``, a store
address to ``STORE_ADDRESSES``, a platform to ``PLATFORMS``. Elsewhere: the webhook app's every
refusal (``LeakCheckingClient``, ``logs_show_no_secret`` in ``test_webhook_app.py``), gunicorn's own
log (``test_webhook_serving.py``), the shared reports (``test_report_leaks.py``).
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
import requests
import responses
from google.auth import _exponential_backoff
from openpyxl import Workbook, load_workbook
from urllib3.util.retry import Retry

from coprod.cli import main
from coprod.state import StateStore
from coprod.webhook_app import create_app
from coprod.webhook_app.settings import live_recheck
from coprod.webhook_app.worker import Worker
from fakes import ROOT
from fakes.civicrm import FakeCiviCRM, seed_panel
from fakes.kobo import FakeKobo
from fakes.kobo import submission as kobo_submission
from fakes.sheets import API as SHEETS_API
from fakes.sheets import TOKEN_URL, FakeSpreadsheet, service_account_key
from fakes.webhooks import signed_headers

MARK = "SENTINEL"
"""In every secret and every name below: a leak of any of them shows as this text."""


def _formatted(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")  # tracebacks included
    return "\n".join(formatter.format(r) for r in records)


@dataclass
class Seen:
    """Everything a run left that a person could read."""

    out: str
    err: str
    log: str
    files: dict[str, bytes]
    sent: str

    def where(self, value: str) -> list[str]:
        """Where ``value`` shows (as text, or as bytes in a file)."""
        places = [name for name in ("out", "err", "log", "sent") if value in getattr(self, name)]
        raw = value.encode()
        return places + [f"file {name}" for name, data in self.files.items() if raw in data]


class Runner:
    """Runs ``coprod`` in this process with DEBUG logging on every logger, and gathers what it left."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: Any) -> None:
        self.tmp_path, self.capsys, self.caplog = tmp_path, capsys, caplog

    def __call__(self, *argv: str, sent: Callable[[], str] = lambda: "") -> tuple[int, Seen]:
        self.caplog.clear()
        self.caplog.set_level(logging.DEBUG)
        code = main(list(argv))
        captured = self.capsys.readouterr()
        files = {
            str(p.relative_to(self.tmp_path)): p.read_bytes()
            for p in sorted(self.tmp_path.rglob("*"))
            if p.is_file() and p.name != ".env" and "secrets" not in p.relative_to(self.tmp_path).parts
        }
        return code, Seen(captured.out, captured.err, _formatted(self.caplog.records), files, sent())


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: Any) -> Runner:
    return Runner(tmp_path, capsys, caplog)


@pytest.fixture(autouse=True)
def _no_waiting_between_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are made (and logged) as in production, without the seconds of back-off."""
    monkeypatch.setattr(Retry, "sleep", lambda self, response=None: None)
    monkeypatch.setattr(_exponential_backoff, "time", SimpleNamespace(sleep=lambda seconds: None))


ENVIRONMENT = (
    "COPROD_STATE",
    "COPROD_DATA_DIRS",
    "COPROD_RECIPES",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "KOBO_TOKEN",
    "COPROD_KOBO_HOOK_SECRET",
    "CIVICRM_API_KEY",
    "CIVICRM_SITE_KEY",
    "COPROD_WEBHOOK_SECRET",
    "CIVICRM_WEBHOOK_SECRET",
)
"""What .env.example lists: each test's own .env sets them, nothing of the machine's comes in."""


@pytest.fixture(autouse=True)
def _only_this_tests_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


# -- the state store's address: a PostgreSQL password -------------------------------------------

PG_PASSWORD = f"Pw-{MARK}-pg"


class StoreAddress(NamedTuple):
    name: str
    url: str


STORE_ADDRESSES = [
    StoreAddress("refused", f"postgresql://coprod:{PG_PASSWORD}@127.0.0.1:1/coprod"),
    StoreAddress("postgres-scheme", f"postgres://coprod:{PG_PASSWORD}@127.0.0.1:1/coprod"),
    StoreAddress("port-not-a-number", f"postgresql://coprod:{PG_PASSWORD}@127.0.0.1:port/coprod"),
    StoreAddress("bad-sslmode", f"postgresql://coprod:{PG_PASSWORD}@127.0.0.1:1/coprod?sslmode=bogus"),
    # a '%' typed into a password that is not %-encoded: libpq quoted the token back
    StoreAddress("bad-percent-in-password", f"postgresql://coprod:{PG_PASSWORD}%zz@127.0.0.1:1/coprod"),
    StoreAddress("percent-encoded-password", f"postgresql://coprod:{PG_PASSWORD}%40x@127.0.0.1:1/coprod"),
    StoreAddress(
        "password-in-the-query", f"postgresql://coprod@127.0.0.1:1/coprod?password={PG_PASSWORD}%zz"
    ),
    StoreAddress("unclosed-ipv6-bracket", f"postgresql://coprod:{PG_PASSWORD}@[::1/coprod"),
]


def _demo(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(
        ROOT / "recipes" / "demo", folder, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv")
    )
    return folder


STORE_COMMANDS: dict[str, Callable[[Path, str], list[str]]] = {
    "state copy FROM": lambda tmp, url: ["-v", "state", "copy", url, str(tmp / "copy.sqlite")],
    "state copy TO": lambda tmp, url: ["state", "copy", str(tmp / "demo" / "x.sqlite"), url, "-v"],
    "migrate --state": lambda tmp, url: ["-v", "migrate", "--state", url],
    "COPROD_STATE in .env, sync --json": lambda tmp, url: ["-v", "sync", "demo", "--json"],
    "COPROD_STATE in .env, migrate": lambda tmp, url: ["-v", "migrate"],
    "COPROD_STATE in .env, worker": lambda tmp, url: ["-v", "worker"],
    "COPROD_STATE in .env, serve": lambda tmp, url: ["-v", "serve", "--port", "0"],
}


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=str)
@pytest.mark.parametrize("address", STORE_ADDRESSES, ids=lambda a: a.name)
def test_a_state_store_address_that_cannot_be_used_never_shows_its_password(
    tmp_path: Path, run: Runner, command: str, address: StoreAddress
) -> None:
    demo = _demo(tmp_path)
    # a state store to copy from: a file with no state in it is refused before the target is tried
    StateStore.open(demo / "x.sqlite").close()
    if "COPROD_STATE" in command:
        (tmp_path / ".env").write_text(f"COPROD_STATE={address.url}\nCOPROD_RECIPES=demo\n", encoding="utf-8")
        (demo / ".env").write_text(f"COPROD_STATE={address.url}\n", encoding="utf-8")
    code, seen = run(*STORE_COMMANDS[command](tmp_path, address.url))
    said = seen.out + seen.err  # the webhook app's commands say it on stderr
    assert code in (2, 3), said
    assert "postgres" in said and "coprod@" in said, "the address is named, without its password"
    assert "something unexpected" not in said
    assert seen.where(MARK) == [], said


WORKING_STORE_COMMANDS: dict[str, list[str]] = {
    "sync --json": ["-v", "sync", "demo", "--json", "--date", "2026-11-20"],
    "sync again": ["-v", "sync", "demo", "--date", "2026-11-20"],
    "migrate": ["-v", "migrate"],
    "migrate --state": ["-v", "migrate", "--state", "{url}"],
    "state copy": ["-v", "state", "copy", "{url}", "{tmp}/copy.sqlite"],
    "report": ["-v", "report", "demo", "--out", "report.html", "--date", "2026-11-20"],
}


def test_a_working_postgresql_store_is_named_in_every_output_without_its_password(
    tmp_path: Path, run: Runner, postgres_url: str
) -> None:
    """The store reached (the test server trusts the socket, so any password is let in): every
    command that names it, and psycopg's and its pool's own DEBUG records, leave the password out;
    so does the webhook app's readiness answer."""
    url = postgres_url.replace("postgresql://coprod@", f"postgresql://coprod:{PG_PASSWORD}@")
    _demo(tmp_path)
    (tmp_path / ".env").write_text(f"COPROD_STATE={url}\nCOPROD_RECIPES=demo\n", encoding="utf-8")
    said = {}
    for name, args in WORKING_STORE_COMMANDS.items():
        code, seen = run(*(a.replace("{url}", url).replace("{tmp}", str(tmp_path)) for a in args))
        assert code == 0, f"{name}: {seen.out}"
        assert seen.where(MARK) == [], f"{name}: {seen.where(MARK)}"
        said[name] = seen.out
    assert "state store at postgresql://coprod@/" in said["migrate"], "named, without the password"
    run.caplog.clear()
    app = create_app({"recipes": {"demo": tmp_path / "demo" / "recipe.toml"}, "state_path": url,
                      "worker_thread": False, "env": {}})  # fmt: skip
    answer = app.test_client().get("/readyz")
    app.extensions["coprod_webhook"].inbox.close()
    assert answer.status_code == 200 and MARK not in answer.get_data(as_text=True)
    assert MARK not in _formatted(run.caplog.records)


# -- the platforms: every secret marked, every failure a user can meet -------------------------

KOBO_TOKEN = f"kobo-token-{MARK}-1"
KOBO_HOOK_SECRET = f"kobo-hook-{MARK}-2"
CIVI_KEY = f"civi-key-{MARK}-3"
CIVI_SITE_KEY = f"civi-site-key-{MARK}-4"
GOOGLE_TOKEN = f"ya29.google-access-token-{MARK}-5"
GOOGLE_KEY_ID = f"google-key-id-{MARK}-6"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(f"webhook-secret-{MARK}-7-and-more-".encode()).decode()
CIVI_WEBHOOK_SECRET = "whsec_" + base64.b64encode(f"civi-webhook-{MARK}-8-and-more-".encode()).decode()
SIGNING_SECRETS = (WEBHOOK_SECRET, CIVI_WEBHOOK_SECRET)
"""The whsec_ secrets hold the mark only once decoded: searched for as typed, and without the prefix."""

NAME = "NAMEMARK"
"""In every name and free-text answer of the platforms' data: personal data, never in a log."""


class Platform(NamedTuple):
    """A recipe of ``recipes/`` filled in with marked secrets, and its platform's fake serving it."""

    recipe: Path
    api: re.Pattern[str] | None
    """The URLs of the platform's API (every method), served by ``answer`` unless a failure says
    (None: files, no platform)."""
    answer: Callable[[requests.PreparedRequest], Any] | None
    writes: Callable[[requests.PreparedRequest], bool]
    """Whether a request writes (a flag, a status, an install) rather than reads."""
    key_file: str | None = None
    """The Google key's private key (PEM), whose every line must stay out of sight."""


def _copy_recipe(tmp_path: Path, folder: str, replace: dict[str, str], env: dict[str, str]) -> Path:
    recipe = tmp_path / folder
    shutil.copytree(ROOT / "recipes" / folder, recipe, ignore=shutil.ignore_patterns("__pycache__"))
    text = (recipe / "recipe.toml").read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (recipe / "recipe.toml").write_text(text, encoding="utf-8")
    (recipe / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    return recipe


def _survey(xlsx: Path) -> list[dict[str, Any]]:
    rows = list(load_workbook(xlsx, read_only=True)["survey"].iter_rows(values_only=True))
    return [{k: v for k, v in zip(rows[0], r, strict=False) if v is not None} for r in rows[1:]]


def kobo_delivered() -> dict[str, Any]:
    """A session record with names, free text and marked text where a number and an ID go (both
    flagged, quoting the cell): in the form's data, and the body of a REST Service delivery."""
    return kobo_submission(
        7,
        **{
            "session/project": "day_service",
            "session/session_date": "2026-02-10",
            "session/kind": "decision_meeting",
            "session/title": f"{NAME} typed a title",
            "session/decision_taken": "yes",
            "session/decision": f"{NAME} said",
            "session/hours": f"{NAME} two hours",  # not a number
        },
        attendees=[{"attendees/person_id": f"{NAME} Jo"}, {"attendees/person_id": "P1"}],  # one unknown
    )


def kobotoolbox(tmp_path: Path, server: str = "https://kf.kobotoolbox.org") -> Platform:
    recipe = _copy_recipe(
        tmp_path,
        "kobotoolbox",
        {
            "aRegistrationFormUid": "aPeopleForm",
            "aSessionRecordFormUid": "aSessionForm",
            'server = "https://kf.kobotoolbox.org"': f'server = "{server}"',
            "https://coprod.example.org/": "https://coprod.ourcharity.org.uk/",  # the example's is refused
        },
        {
            "KOBO_TOKEN": KOBO_TOKEN,
            "COPROD_KOBO_HOOK_SECRET": KOBO_HOOK_SECRET,
            "COPROD_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    fake = FakeKobo(None, server=server, tokens={KOBO_TOKEN: "alice"})
    fake.content = {
        "aPeopleForm": {"survey": _survey(recipe / "registration.xlsx")},
        "aSessionForm": {"survey": _survey(recipe / "session_record.xlsx")},
    }
    people = [
        kobo_submission(i, **{"about/person_id": f"P{i}", "about/name": f"{NAME} Kobo person {i}",
                              "about/roles": "lived_experience", "about/payment_preference": "paid"})
        for i in (1, 2, 3)
    ]  # fmt: skip
    fake.assets["aPeopleForm"] = people
    fake.assets["aSessionForm"] = [
        kobo_submission(
            5,
            **{
                "session/project": "day_service",
                "session/session_date": "2026-01-10",
                "session/hours": "2",
                "session/kind": "decision_meeting",
                "session/title": f"{NAME} the budget meeting",
                "session/decision_taken": "yes",
                "session/decision": f"{NAME} close the day centre",
            },
            attendees=[{"attendees/person_id": p, "attendees/hours_attended": "2"} for p in ("P1", "P2")],
        ),
        kobo_delivered(),
    ]
    return Platform(recipe, re.compile(f"^{re.escape(server)}/"), fake.answer, lambda r: r.method != "GET")


def civicrm(tmp_path: Path, server: str = "https://crm.ourcharity.org.uk") -> Platform:
    recipe = _copy_recipe(
        tmp_path,
        "civicrm",
        {"https://crm.example.org/civicrm/ajax/api4": f"{server}/civicrm/ajax/api4"},
        {"CIVICRM_API_KEY": CIVI_KEY, "CIVICRM_SITE_KEY": CIVI_SITE_KEY, "CIVICRM_WEBHOOK_SECRET": CIVI_WEBHOOK_SECRET},
    )  # fmt: skip
    fake = FakeCiviCRM(endpoint=f"{server}/civicrm/ajax/api4", api_key=CIVI_KEY)
    fake.site_key = CIVI_SITE_KEY
    seed_panel(fake, contacts=8, events=3, participants=12, campaigns=1, unpaid_every=2)
    for contact in fake.records["Contact"]:
        contact["display_name"] = f"{NAME} CiviCRM person {contact['id']}"
    for event in fake.records["Event"]:
        event["title"] = f"{NAME} event {event['id']}"
        event["Coprod_Session.Decision"] = f"{NAME} what was decided"
    return Platform(
        recipe,
        re.compile(f"^{re.escape(server)}/"),
        fake.handle,
        lambda r: not (r.url or "").split("?")[0].endswith(("/get", "/getFields", "/checkAccess")),
    )


SHEET_KEY = "1SheetKeyOfTheAuditXXXXXXXXXXXXXXXXXXXXXXXX"


def _csv_rows(name: str) -> list[list[str]]:
    with (ROOT / "recipes" / "google-sheets" / "templates" / name).open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def google_sheets(tmp_path: Path) -> Platform:
    key = {**service_account_key(), "private_key_id": GOOGLE_KEY_ID}
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "key.json").write_text(json.dumps(key), encoding="utf-8")
    recipe = _copy_recipe(
        tmp_path,
        "google-sheets",
        {"PASTE-YOUR-SHEET-KEY-HERE": SHEET_KEY, 'flags_tab = "Flags"': 'flags_tab = "Flags"\nbackoff = 0'},
        {
            "GOOGLE_APPLICATION_CREDENTIALS": str(secrets / "key.json"),
            "COPROD_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    sheet = FakeSpreadsheet(SHEET_KEY)
    people = _csv_rows("people-form-responses.csv")[0]
    rows = [people]
    for pid in ("1", "2", "3"):
        answer = {
            "Timestamp": "03/02/2026 10:00:00",
            "Your name": f"{NAME} Sheets person {pid}",
            "Which of these describe you?": "I use or have used the service",
            "How would you like to be thanked for your time?": "Payment",
            "Participant ID": pid,
        }
        rows.append([answer.get(h, "") for h in people])
    sheet.add_tab("Form responses 1", rows)
    sessions = [*_csv_rows("sessions.csv")[:1], ["S1", "03/03/2026", "2", "Decision meeting", "Planning",
                f"{NAME} budget meeting", "Yes", f"{NAME} what was decided", ""]]  # fmt: skip
    sheet.add_tab("Sessions", sessions)
    sheet.add_tab(
        "Attendance", [_csv_rows("attendance.csv")[0], ["1", "S1", "", "1", ""], ["2", "S1", "", "", ""]]
    )
    sheet.add_tab("Payments", _csv_rows("payments.csv")[:1])
    base = f"{SHEETS_API}/{SHEET_KEY}"
    routes = {
        ("GET", base): ("meta", sheet._meta),
        ("GET", f"{base}/values:batchGet"): ("batchGet", sheet._batch_get),
        ("POST", f"{base}/values:batchUpdate"): ("values:batchUpdate", sheet._values_update),
        ("POST", f"{base}:batchUpdate"): ("batchUpdate", sheet._structure),
    }

    def answer(request: requests.PreparedRequest) -> Any:
        if (request.url or "").startswith(TOKEN_URL):
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({"access_token": GOOGLE_TOKEN, "expires_in": 3600, "token_type": "Bearer"}),
            )
        kind, handler = routes[(request.method or "", (request.url or "").split("?")[0])]
        return sheet._on(kind, handler)(request)

    return Platform(
        recipe,
        re.compile(r"^https://(sheets|oauth2)\.googleapis\.com/"),
        answer,
        lambda r: r.method == "POST" and not (r.url or "").startswith(TOKEN_URL),
        key["private_key"],
    )


PLATFORMS: dict[str, Callable[[Path], Platform]] = {
    "kobotoolbox": kobotoolbox,
    "civicrm": civicrm,
    "google-sheets": google_sheets,
}


def secrets_of(platform: Platform) -> list[str]:
    """Every secret value this run could show: the marked ones, and each line of the Google key."""
    pem = [line for line in (platform.key_file or "").splitlines() if len(line) > 20]
    return [MARK, *(s.removeprefix("whsec_") for s in SIGNING_SECRETS), *pem]


def echo(request: requests.PreparedRequest) -> str:
    """The request as a server that echoes it puts it in its error: every header first (where a
    message cut short still holds them), then the URL and the body."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    return f"{dict(request.headers)} {request.method} {request.url} {body}"


def json_error(status: int) -> Callable[[requests.PreparedRequest], Any]:
    def answer(request: requests.PreparedRequest) -> Any:
        said = echo(request)
        body = {  # each platform's error shape at once: kpi's detail, APIv4's error_message, Google's error
            "detail": said,
            "error_message": said,
            "error_code": 0,
            "error": {"code": status, "message": said, "status": "FAILED"},
        }
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    return answer


def html_error(request: requests.PreparedRequest) -> Any:
    return 500, {"Content-Type": "text/html"}, f"<html><body><pre>{echo(request)}</pre></body></html>"


def raised(kind: type[Exception]) -> Callable[[requests.PreparedRequest], Any]:
    return lambda request: kind(f"failed: {echo(request)}")


FAILURES: dict[str, Callable[[requests.PreparedRequest], Any]] = {
    "400-echoing-the-request": json_error(400),
    "401-wrong-key": json_error(401),
    "403-no-permission": json_error(403),
    "500-echoing-the-request": json_error(500),
    "500-html-page-echoing-the-request": html_error,
    "connection-refused": raised(requests.ConnectionError),
    "timeout": raised(requests.ReadTimeout),
}


def serve(rsps: responses.RequestsMock, platform: Platform, fail: Callable[[requests.PreparedRequest], Any] | None,
          when: Callable[[requests.PreparedRequest], bool] = lambda r: True) -> None:  # fmt: skip
    def callback(request: requests.PreparedRequest) -> Any:
        if fail is not None and when(request):
            return fail(request)
        assert platform.answer is not None
        return platform.answer(request)

    assert platform.api is not None
    for method in (responses.GET, responses.POST, responses.PATCH, responses.DELETE, responses.PUT):
        rsps.add_callback(method, platform.api, callback=callback)


def sent(rsps: responses.RequestsMock) -> Callable[[], str]:
    """The bodies of the requests sent (the flags written back), not their headers (which carry the
    credentials, as they must)."""

    def bodies() -> str:
        out = []
        for call in rsps.calls:
            body = call.request.body
            out.append(body.decode(errors="replace") if isinstance(body, bytes) else str(body or ""))
        return "\n".join(out)

    return bodies


COMMANDS: dict[str, list[str]] = {
    "check": ["-v", "check", "{recipe}", "--date", "2026-11-20"],
    "sync --json": ["-v", "sync", "{recipe}", "--json", "--date", "2026-11-20"],
    "install": ["-v", "install", "{recipe}"],
    "report": ["-v", "report", "{recipe}", "--out", "report.html", "--date", "2026-11-20"],
    "validate": ["-v", "validate", "{recipe}"],
}


def argv(command: str, platform: Platform) -> list[str]:
    return [a.replace("{recipe}", str(platform.recipe)) for a in COMMANDS[command]]


def assert_no_secret(seen: Seen, platform: Platform) -> None:
    for secret in secrets_of(platform):
        assert seen.where(secret) == [], f"{secret[:30]} shows in {seen.where(secret)}:\n{seen.out}"


def failing_run(
    run: Runner,
    platform: Platform,
    failure: str,
    when: Callable[[requests.PreparedRequest], bool] = lambda r: True,
    command: str = "sync --json",
) -> list[requests.PreparedRequest]:
    """Run ``command`` against the platform failing as ``failure`` says where ``when`` holds; it
    must fail (``validate`` aside: it reaches no platform) and show no secret. The requests sent."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps, platform, FAILURES[failure], when)
        code, seen = run(*argv(command, platform), sent=sent(rsps))
        asked = [c.request for c in rsps.calls]
    assert code != 0 or command == "validate", seen.out
    assert_no_secret(seen, platform)
    return asked


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("name", PLATFORMS)
def test_a_platform_refusing_or_failing_every_request_shows_no_secret(
    tmp_path: Path, run: Runner, name: str, failure: str
) -> None:
    assert failing_run(run, PLATFORMS[name](tmp_path), failure), "the platform was asked"


@pytest.mark.parametrize("command", ["check", "install", "report", "validate"])
@pytest.mark.parametrize("name", PLATFORMS)
def test_every_command_meeting_a_server_that_echoes_the_request_shows_no_secret(
    tmp_path: Path, run: Runner, name: str, command: str
) -> None:
    failing_run(run, PLATFORMS[name](tmp_path), "500-echoing-the-request", command=command)


@pytest.mark.parametrize("name", PLATFORMS)
def test_writes_refused_by_a_server_echoing_the_request_leave_no_secret_in_the_output_or_the_state(
    tmp_path: Path, run: Runner, name: str
) -> None:
    """The reads succeed and every write is a 500 echoing the request: the run ends partial, each
    failed write said (and remembered in the state store) without the key it was sent with."""
    platform = PLATFORMS[name](tmp_path)
    asked = failing_run(run, platform, "500-echoing-the-request", when=platform.writes)
    assert any(platform.writes(r) for r in asked), "a write was tried"


@pytest.mark.parametrize("failure", FAILURES)
def test_google_sheets_failing_after_sign_in_shows_neither_the_key_nor_the_access_token(
    tmp_path: Path, run: Runner, failure: str
) -> None:
    """Signed in (the token endpoint answers a marked access token), then every Sheets API request
    fails: the bearer token a server echoes stays out of sight too."""
    asked = failing_run(
        run, google_sheets(tmp_path), failure, lambda r: not (r.url or "").startswith(TOKEN_URL)
    )
    assert any(GOOGLE_TOKEN in str(r.headers) for r in asked), "signed in"


# -- personal data: names and free text reach the flags, never a log or the state store -----------


def _demo_with_names(tmp_path: Path, xlsx: bool) -> Platform:
    """The demo, every name and free-text answer marked, and marked text where IDs and choices go
    (a bad value and an unknown person are flagged quoting the cell); as CSV, or as XLSX files."""
    recipe = _demo(tmp_path)
    data = recipe / "data"
    with (data / "people.csv").open(encoding="utf-8", newline="") as f:
        people = list(csv.reader(f))
    for i, row in enumerate(people[1:], start=1):
        row[1] = f"{NAME} Demo person {i}"
    people[2][6] = f"{NAME} typed a preference"  # Payment preference: not one coprod reads
    with (data / "sessions.csv").open(encoding="utf-8", newline="") as f:
        sessions = list(csv.reader(f))
    for row in sessions[1:]:
        row[6], row[8] = f"{NAME} {row[6]}", f"{NAME} {row[8]}" if row[8] else ""
    with (data / "attendance.csv").open(encoding="utf-8", newline="") as f:
        attendance = list(csv.reader(f))
    attendance.append([f"{NAME} Jo typed in the ID column", "S01", "2", "0", ""])
    tables = {"people": people, "sessions": sessions, "attendance": attendance}
    text = (recipe / "recipe.toml").read_text(encoding="utf-8")
    for name, rows in tables.items():
        (data / f"{name}.csv").unlink()
        if xlsx:
            book = Workbook()
            sheet = book.active
            assert sheet is not None
            for row in rows:
                sheet.append(row)
            book.save(data / f"{name}.xlsx")
            text = text.replace(f'location = "{name}.csv"', f'location = "{name}.xlsx"')
        else:
            with (data / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows(rows)
    (recipe / "recipe.toml").write_text(text, encoding="utf-8")
    return Platform(recipe, None, None, lambda r: False)


PERSONAL: dict[str, Callable[[Path], Platform]] = {
    "files-csv": lambda tmp: _demo_with_names(tmp, xlsx=False),
    "files-xlsx": lambda tmp: _demo_with_names(tmp, xlsx=True),
    **PLATFORMS,
}


def state_files(seen: Seen) -> dict[str, bytes]:
    return {name: data for name, data in seen.files.items() if ".coprod" in name or "sqlite" in name}


@pytest.mark.parametrize("name", PERSONAL)
def test_names_and_answers_reach_the_flags_but_no_log_and_not_the_state_store(
    tmp_path: Path, run: Runner, name: str
) -> None:
    platform = PERSONAL[name](tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if platform.api is not None:
            serve(rsps, platform, None)
        checked, check = run(*argv("check", platform))
        synced, sync = run(*argv("sync --json", platform), sent=sent(rsps))
        again, second = run(*argv("sync --json", platform), sent=sent(rsps))
        reported, report = run(*argv("report", platform))
    assert (checked, synced, again, reported) == (0, 0, 0, 0), check.out + sync.out + report.out
    assert NAME in check.out, (
        check.out + "a flag names the person it is about: that is what staff read it for"
    )
    assert (tmp_path / "report.html").read_text(encoding="utf-8").count(NAME), "the staff report names"
    for seen in (check, sync, second, report):
        assert NAME not in seen.log and NAME not in seen.err, "a log shows personal data"
        assert seen is check or state_files(seen), "the run kept its state"
        assert [n for n, data in state_files(seen).items() if NAME.encode() in data] == []
        assert_no_secret(seen, platform)


# -- through a real socket: what urllib3 and requests log at DEBUG ----------------------------


@contextmanager
def real_server(answer: Callable[[requests.PreparedRequest], Any]) -> Iterator[str]:
    """A server on 127.0.0.1 answering each request as ``answer`` says (a fake's own answer, or a
    failure), so urllib3 makes real connections and logs them (``Starting new HTTP connection``,
    each request line with its path and query) as it does in production."""
    base: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            request = requests.Request(
                self.command, base[0] + self.path, headers=dict(self.headers), data=body
            )
            status, headers, text = answer(request.prepare())
            data = text.encode() if isinstance(text, str) else text
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = answer

        def log_message(self, format: str, *args: Any) -> None:  # the test reads coprod's log only
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base.append(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


REAL_PLATFORMS: dict[str, Callable[[Path, str], Platform]] = {"kobotoolbox": kobotoolbox, "civicrm": civicrm}


@pytest.mark.parametrize("failure", [None, "500-echoing-the-request"], ids=str)
@pytest.mark.parametrize("name", REAL_PLATFORMS)
def test_urllib3s_debug_log_of_real_requests_shows_no_secret_and_no_name(
    tmp_path: Path, run: Runner, name: str, failure: str | None
) -> None:
    holder: list[Platform] = []

    def answer(request: requests.PreparedRequest) -> Any:
        if failure is not None:
            return FAILURES[failure](request)
        assert holder[0].answer is not None
        return holder[0].answer(request)

    with real_server(answer) as base:
        platform = REAL_PLATFORMS[name](tmp_path, base)
        holder.append(platform)
        code, seen = run(*argv("sync --json", platform))
    assert (code == 0) == (failure is None), seen.out
    assert "urllib3.connectionpool" in seen.log and base.removeprefix("http://").split(":")[0] in seen.log
    assert_no_secret(seen, platform)
    assert NAME not in seen.log and NAME not in seen.err


# -- the webhook app and its worker: deliveries carrying names, secrets each platform's ---------


class Deliveries(NamedTuple):
    path: str
    body: bytes
    good: dict[str, str]
    """Headers that authenticate it."""
    bad: dict[str, dict[str, str]]
    """Headers that do not, by what is wrong."""


def _deliveries(name: str, platform: Platform) -> Deliveries:
    recipe_name = tomllib.loads((platform.recipe / "recipe.toml").read_text(encoding="utf-8"))["name"]
    json_type = {"Content-Type": "application/json"}
    if name == "kobotoolbox":
        sub = kobo_delivered()
        sub["_xform_id_string"] = "aSessionForm"
        body = json.dumps(sub).encode()
        wrong = base64.b64encode(f"coprod:{KOBO_HOOK_SECRET}-not".encode()).decode()
        return Deliveries(f"/hooks/kobotoolbox/{recipe_name}", body, {**json_type, "X-Coprod-Secret": KOBO_HOOK_SECRET},
                          {"wrong secret header": {**json_type, "X-Coprod-Secret": f"{KOBO_HOOK_SECRET}-not"},
                           "wrong basic auth": {**json_type, "Authorization": f"Basic {wrong}"},
                           "no secret": json_type})  # fmt: skip
    if name == "civicrm":
        body, secret = (
            json.dumps({"entity": "Participant", "id": 1, "action": "create"}).encode(),
            CIVI_WEBHOOK_SECRET,
        )
        path = f"/hooks/civicrm/{recipe_name}"
    else:
        notice = {
            "type": "sheets.form_submit",
            "spreadsheet_id": SHEET_KEY,
            "sheet": "Form responses 1",
            "row": 2,
        }
        body, secret, path = json.dumps(notice).encode(), WEBHOOK_SECRET, f"/hooks/sheets/{recipe_name}"
    other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    unsigned = {k: v for k, v in signed_headers(body, secret=secret).items() if k != "webhook-signature"}
    return Deliveries(path, body, {**json_type, **signed_headers(body, secret=secret)},
                      {"signed with another secret": {**json_type, **signed_headers(body, secret=other)},
                       "unsigned": {**json_type, **unsigned}})  # fmt: skip


def _env_of(recipe: Path) -> dict[str, str]:
    lines = (recipe / ".env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.mark.parametrize(
    ("secret_set", "failure"),
    [(True, None), (True, "500-echoing-the-request"), (False, None)],  # refused: no re-check to fail
    ids=["served", "platform-echoing-the-request", "secret-missing"],
)
@pytest.mark.parametrize("name", PLATFORMS)
def test_webhook_deliveries_and_the_workers_recheck_show_no_secret_and_keep_no_name(
    tmp_path: Path, caplog: Any, name: str, secret_set: bool, failure: str | None
) -> None:
    """Good and bad deliveries through the app (Flask's test client), then the worker's re-check
    against the platform (served, or failing and echoing the request): the answers, every log
    record and the inbox and state files show no secret, and keep no name the delivery carried."""
    platform = PLATFORMS[name](tmp_path)
    if name == "google-sheets":  # README step 7: the [webhook] section switched on
        toml = platform.recipe / "recipe.toml"
        text = toml.read_text(encoding="utf-8").replace("# [webhook]", "[webhook]")
        toml.write_text(text.replace("# secret_env", "secret_env"), encoding="utf-8")
    env = _env_of(platform.recipe)
    if not secret_set:
        for variable in ("COPROD_KOBO_HOOK_SECRET", "CIVICRM_WEBHOOK_SECRET", "COPROD_WEBHOOK_SECRET"):
            env.pop(variable, None)
        (platform.recipe / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    sent = _deliveries(name, platform)
    app = create_app(
        {
            "recipes": {sent.path.rsplit("/", 1)[1]: platform.recipe / "recipe.toml"},
            "state_path": tmp_path / "inbox" / "state.sqlite",
            "env": env,
            "worker_thread": False,
            "recheck": live_recheck,
        }
    )
    client = app.test_client()
    answers = [client.post(sent.path, data=sent.body, headers=h) for h in sent.bad.values()]
    answers.append(client.post(sent.path, data=sent.body, headers=sent.good))
    assert [a.status_code for a in answers[:-1]] == [401 if secret_set else 404] * len(sent.bad)
    assert answers[-1].status_code == (202 if secret_set else 404), answers[-1].get_data(as_text=True)
    runtime = app.extensions["coprod_webhook"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps, platform, None if failure is None else FAILURES[failure])
        rechecks = Worker(runtime.settings, runtime.inbox, runtime.bodies).run_once()
    runtime.shutdown()
    runtime.inbox.close()
    assert rechecks == (1 if secret_set else 0)
    files = {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "sqlite" in p.name}
    assert any("inbox" in f for f in files), "the inbox was kept"
    seen = Seen(
        "\n".join(a.get_data(as_text=True) for a in answers), "", _formatted(caplog.records), files, ""
    )
    assert_no_secret(seen, platform)
    assert NAME not in seen.out and NAME not in seen.log
    assert [f for f, data in files.items() if NAME.encode() in data] == []


# -- a secret pasted into the recipe where the NAME of its variable goes -------------------------

PASTED: dict[str, tuple[str, str, str]] = {
    "kobo token_env": ("kobotoolbox", 'token_env = "KOBO_TOKEN"', KOBO_TOKEN),
    "kobo hook_secret_env": ("kobotoolbox", 'hook_secret_env = "COPROD_KOBO_HOOK_SECRET"', KOBO_HOOK_SECRET),
    "civicrm api_key_env": ("civicrm", 'api_key_env = "CIVICRM_API_KEY"', CIVI_KEY),
    "civicrm site_key_env": ("civicrm", 'site_key_env = "CIVICRM_SITE_KEY"', CIVI_SITE_KEY),
    "civicrm [webhook] secret_env": ("civicrm", 'secret_env = "CIVICRM_WEBHOOK_SECRET"', CIVI_WEBHOOK_SECRET),
    "sheets credentials_file_env": (
        "google-sheets",
        'credentials_file_env = "GOOGLE_APPLICATION_CREDENTIALS"',
        GOOGLE_KEY_ID,
    ),
}


@pytest.mark.parametrize("command", ["validate", "check"])
@pytest.mark.parametrize("pasted", PASTED)
def test_a_secret_pasted_where_its_variables_name_goes_is_refused_without_showing_it(
    tmp_path: Path, run: Runner, pasted: str, command: str
) -> None:
    folder, line, secret = PASTED[pasted]
    platform = PLATFORMS[folder](tmp_path)
    toml = platform.recipe / "recipe.toml"
    text = toml.read_text(encoding="utf-8")
    assert line in text
    toml.write_text(text.replace(line, f'{line.split(" = ")[0]} = "{secret}"'), encoding="utf-8")
    code, seen = run(*argv(command, platform))
    assert code == 2, seen.out
    assert "the secret itself goes in .env" in seen.out
    seen.files = {name: data for name, data in seen.files.items() if not name.endswith("recipe.toml")}
    assert_no_secret(seen, platform)  # nowhere but where it was pasted


def after_the_first_request() -> Callable[[requests.PreparedRequest], bool]:
    """True for every request to the platform's API after the first (Google's sign-in aside): the
    platform is reached, then fails while reading, where the connectors explain other answers."""
    seen: list[str] = []

    def when(request: requests.PreparedRequest) -> bool:
        if (request.url or "").startswith(TOKEN_URL):
            return False
        seen.append(request.url or "")
        return len(seen) > 1

    return when


@pytest.mark.parametrize(
    "failure", ["400-echoing-the-request", "403-no-permission", "500-echoing-the-request"]
)
@pytest.mark.parametrize("name", PLATFORMS)
def test_a_platform_failing_part_way_through_reading_shows_no_secret(
    tmp_path: Path, run: Runner, name: str, failure: str
) -> None:
    asked = failing_run(run, PLATFORMS[name](tmp_path), failure, after_the_first_request())
    assert len([r for r in asked if not (r.url or "").startswith(TOKEN_URL)]) > 1


def test_the_coprod_command_with_verbose_prints_no_secret_on_its_own_stderr(tmp_path: Path) -> None:
    """The command as cron runs it, in a process of its own with its own logging set-up (-v: INFO
    on stderr), against a real server failing with an echo of each request (KoboToolbox, retried
    once without waiting, so that the retry is logged)."""
    with real_server(FAILURES["500-echoing-the-request"]) as base:
        platform = kobotoolbox(tmp_path, base)
        toml = platform.recipe / "recipe.toml"
        text = toml.read_text(encoding="utf-8")
        once = 'token_env = "KOBO_TOKEN"\nretries = 1\nbackoff_factor = 0'
        toml.write_text(text.replace('token_env = "KOBO_TOKEN"', once), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", "import sys, coprod.cli; sys.exit(coprod.cli.main())", *argv("sync --json", platform)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k not in ENVIRONMENT},
        )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert " INFO coprod.connectors.http: GET 127.0.0.1: HTTP 500; try 2 of 2" in done.stderr, "the -v log"
    assert_no_secret(Seen(done.stdout, done.stderr, "", {}, ""), platform)


# -- the Google key itself where the path of its file goes --------------------------------------


@pytest.mark.parametrize("form", ["json", "base64"])
@pytest.mark.parametrize("command", ["validate", "check", "install", "sync --json"])
def test_the_google_key_pasted_where_its_files_path_goes_is_refused_without_showing_it(
    tmp_path: Path, run: Runner, command: str, form: str
) -> None:
    """GOOGLE_APPLICATION_CREDENTIALS holding the JSON key itself (on one line, as .env takes it)
    or base64 of it, rather than the path of the file: the key must not be printed as the path
    that was not found (cron mails it; the webhook app logs the recipe's problems)."""
    platform = google_sheets(tmp_path)
    key = (tmp_path / "secrets" / "key.json").read_text(encoding="utf-8")
    value = key if form == "json" else base64.b64encode(key.encode()).decode()
    (platform.recipe / ".env").write_text(f"GOOGLE_APPLICATION_CREDENTIALS={value}\n", encoding="utf-8")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps, platform, None)
        code, seen = run(*argv(command, platform))
    assert code == 2, seen.out
    assert "GOOGLE_APPLICATION_CREDENTIALS holds the key itself" in seen.out, seen.out
    assert_no_secret(seen, platform)
    assert value[:40] not in seen.out + seen.log


# -- a password written into an address in the recipe ---------------------------------------------

BASIC_PASSWORD = f"basic-auth-{MARK}-9"
ADDRESSES: dict[str, tuple[str, str, str]] = {
    "kobo server": ("kobotoolbox", "https://kf.kobotoolbox.org", "[sources] kobo: 'server'"),
    "kobo hook_endpoint": (
        "kobotoolbox",
        "https://coprod.ourcharity.org.uk/hooks/",
        "[sources] kobo: 'hook_endpoint'",
    ),
    "civicrm endpoint": (
        "civicrm",
        "https://crm.ourcharity.org.uk/civicrm/ajax/api4",
        "[sources] crm: 'endpoint'",
    ),
}


@pytest.mark.parametrize("command", ["validate", "check"])
@pytest.mark.parametrize("address", ADDRESSES)
def test_a_password_written_into_an_address_in_the_recipe_is_refused_without_showing_it(
    tmp_path: Path, run: Runner, address: str, command: str
) -> None:
    """A site behind a login of its own, its user and password typed into the address
    (https://user:password@host/...): a secret in the recipe, which was accepted and then shown in
    every error naming the host ('could not reach staff:<password>@crm.example.org')."""
    folder, url, where = ADDRESSES[address]
    platform = PLATFORMS[folder](tmp_path)
    toml = platform.recipe / "recipe.toml"
    text = toml.read_text(encoding="utf-8")
    assert url in text
    toml.write_text(text.replace(url, url.replace("://", f"://staff:{BASIC_PASSWORD}@"), 1), encoding="utf-8")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps, platform, FAILURES["connection-refused"])
        code, seen = run(*argv(command, platform))
    assert code == 2, seen.out
    assert f"{where} holds a password in its address" in seen.out, seen.out
    seen.files = {name: data for name, data in seen.files.items() if not name.endswith("recipe.toml")}
    assert_no_secret(seen, platform)  # nowhere but where it was typed
