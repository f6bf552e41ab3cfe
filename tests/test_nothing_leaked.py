"""Nothing leaked: an audit of every way a user can make coprod fail, with a marked value in every
secret it reads and in the personal data of every connector.

Each secret the product reads (``.env.example`` lists them) holds a value with ``SENTINEL`` in it;
each failure a user can meet is driven through the real entry point (``coprod.cli.main``, in this
process), with ``-v`` and every logger at DEBUG; then everything the run left is searched: what it
printed (stdout, stderr), every log record (with any traceback attached), the files it wrote (the
state store's bytes, the report, the flags file) and the requests it sent. A secret must appear in
none of them. Personal data (names, free text) must appear in no log and not in the state store,
while the flags name the person (that is what staff read them for).

The webhook app's answers, logs and inbox are audited in ``test_webhook_app.py``
(``LeakCheckingClient``, ``logs_show_no_secret``); a server echoing a key in ``test_civicrm_connector``.
Here each path is one parameter: add a failure, a command or a store address to a list.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from urllib3.util.retry import Retry

from coprod.cli import main
from fakes import ROOT

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
            if p.is_file() and p.name != ".env" and not p.name.endswith(".json.key")
        }
        return code, Seen(captured.out, captured.err, _formatted(self.caplog.records), files, sent())


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: Any) -> Runner:
    return Runner(tmp_path, capsys, caplog)


@pytest.fixture(autouse=True)
def _no_waiting_between_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are made (and logged) as in production, without the seconds of back-off."""
    monkeypatch.setattr(Retry, "sleep", lambda self, response=None: None)


@pytest.fixture(autouse=True)
def _only_this_tests_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "COPROD_STATE",
        "COPROD_DATA_DIRS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "KOBO_TOKEN",
        "COPROD_KOBO_HOOK_SECRET",
        "CIVICRM_API_KEY",
        "CIVICRM_SITE_KEY",
        "COPROD_WEBHOOK_SECRET",
        "CIVICRM_WEBHOOK_SECRET",
    ):
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
}


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=str)
@pytest.mark.parametrize("address", STORE_ADDRESSES, ids=lambda a: a.name)
def test_a_state_store_address_that_cannot_be_used_never_shows_its_password(
    tmp_path: Path, run: Runner, command: str, address: StoreAddress
) -> None:
    demo = _demo(tmp_path)
    (demo / "x.sqlite").write_bytes(b"")
    if "COPROD_STATE" in command:
        (tmp_path / ".env").write_text(f"COPROD_STATE={address.url}\n", encoding="utf-8")
        (demo / ".env").write_text(f"COPROD_STATE={address.url}\n", encoding="utf-8")
    code, seen = run(*STORE_COMMANDS[command](tmp_path, address.url))
    assert code in (2, 3), seen.out + seen.err
    assert "postgres" in seen.out and "coprod@" in seen.out, "the address is named, without its password"
    assert "something unexpected" not in seen.out
    assert seen.where(MARK) == [], seen.out
