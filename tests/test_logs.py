"""Log lines that text from outside coprod cannot forge (coprod.log_lines): a line break in a value
(a source's name, a file's, a URL's path) never starts a line of its own and an escape sequence
never reaches the terminal, in the webhook app's log (gunicorn, ``coprod serve``, ``coprod worker``)
and in the ``-v`` log of every command; a traceback keeps its lines."""

from __future__ import annotations

import io
import logging
import logging.config
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from gunicorn.glogging import SafeAtoms  # type: ignore[import-untyped]

from coprod.webhook_app.logs import LOGGING
from fakes import ROOT
from fakes.webhooks import assert_every_line_is_a_log_line, gunicorn

FORGED_LINE = "2026-01-01 00:00:00 +0000 [1] ERROR coprod.webhook_app: forged"
FORGED = f"\n{FORGED_LINE}\r\x1b[2J"
"""A value as someone who wants to hide what they did would type it: a line break, a line that looks
like the app's own, a carriage return and the escape sequence that clears the terminal."""


def assert_not_forged(log: str) -> None:
    assert "\x1b" not in log and "\r" not in log
    assert "forged" in log, "the value was logged"
    for line in log.split("\n"):
        assert not line.startswith(FORGED_LINE[:20]), f"a forged line: {line!r}"
    assert "\\n" + FORGED_LINE + "\\r<U+001B>[2J" in log, "shown, where it was, as visible characters"


@pytest.fixture
def app_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The webhook app's logging (``LOGGING``, as gunicorn and ``coprod serve`` apply it), writing to
    a string; the loggers it configures are put back afterwards."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # LOGGING's handler is ext://sys.stderr
    loggers = [logging.getLogger(name) for name in ("", "coprod", "gunicorn.error", "gunicorn.access")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    logging.config.dictConfig(LOGGING)
    logging.getLogger("gunicorn.access").setLevel(logging.INFO)  # as gunicorn's Logger.setup does
    try:
        yield stream
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def test_a_value_with_a_line_break_or_an_escape_makes_no_line_of_its_own_in_the_webhook_apps_log(
    app_log: io.StringIO,
) -> None:
    log = logging.getLogger("coprod.webhook_app")
    log.warning("recipe %s cannot be read (%s); its webhooks are off", Path("recipes") / FORGED, "OSError")
    log.warning("sheets delivery for recipe %s refused: %s", "youth-panel", ValueError(FORGED))
    log.warning(f"a message built beforehand: {FORGED}")  # no arguments: the whole message is a value
    logging.getLogger("gunicorn.access").info(
        "%(U)s %(s)s %({x-sheet}i)s",
        SafeAtoms({"U": "/hooks/sheets/" + FORGED, "s": 404, "{x-sheet}i": FORGED}),
    )
    text = app_log.getvalue()
    assert_every_line_is_a_log_line(text)
    assert_not_forged(text)
    assert len(text.splitlines()) == 4, "one line each"
    assert "] INFO gunicorn.access: /hooks/sheets/\\n2026-01-01" in text and " 404 \\n2026" in text


def test_a_traceback_gunicorn_logs_keeps_its_lines_each_with_the_prefix_and_its_values_shown(
    app_log: io.StringIO,
) -> None:
    try:
        raise ValueError(f"a message from a platform{FORGED}")
    except ValueError:
        logging.getLogger("gunicorn.error").exception("Error handling request %s", "/hooks/sheets/" + FORGED)
    text = app_log.getvalue()
    assert_every_line_is_a_log_line(text)
    assert_not_forged(text)
    lines = text.splitlines()
    assert "ERROR gunicorn.error: Error handling request /hooks/sheets/\\n2026" in lines[0]
    assert lines[1].endswith("ERROR gunicorn.error: Traceback (most recent call last):")
    assert any(f'ERROR gunicorn.error:   File "{__file__}", line ' in line for line in lines)
    # the exception's message, a line of the traceback, keeps its break, behind the prefix
    assert lines[-2].endswith("ERROR gunicorn.error: ValueError: a message from a platform")
    assert lines[-1].endswith(f"ERROR gunicorn.error: {FORGED_LINE}\\r<U+001B>[2J")


def test_under_gunicorn_a_file_name_and_a_url_path_with_a_line_break_make_no_line_of_their_own(
    tmp_path: Path,
) -> None:
    """A recipe folder whose name holds the characters (read at start, logged as unreadable), and a
    delivery to /hooks/sheets/<name with %0A and %1B>, with an access format showing the decoded
    path (``%(U)s``): gunicorn's request line (``%(r)s``) holds the path as sent, %-encoded."""
    bad = tmp_path / "recipes" / f"bad{FORGED}"
    bad.mkdir(parents=True)
    (bad / "recipe.toml").write_text("name = [", encoding="utf-8")
    with gunicorn(tmp_path, "--access-logformat", '"%(r)s" %(U)s %(s)s') as server:
        quoted = FORGED_LINE.replace(" ", "%20").replace("[", "%5B").replace("]", "%5D")
        answer = requests.get(f"{server.url}/hooks/sheets/x%0A{quoted}%0D%1B%5B2J", timeout=10)
    log = server.log.read_text(encoding="utf-8")  # when gunicorn has stopped: its access line written
    assert answer.status_code in (404, 405)
    assert_every_line_is_a_log_line(log)
    assert_not_forged(log)
    assert re.search(r"WARNING coprod\.webhook_app: recipe \S*bad\\n2026-01-01 .*cannot be read", log)
    assert f'INFO gunicorn.access: "GET /hooks/sheets/x%0A{quoted}%0D%1B%5B2J HTTP/1.1" ' in log
    assert f"/hooks/sheets/x\\n{FORGED_LINE}\\r<U+001B>[2J {answer.status_code}" in log


BOOM = """
import sys
import coprod.cli

real = coprod.cli.run


def run_then_fail(*args, **kwargs):
    real(*args, **kwargs)
    raise RuntimeError("after the run")


coprod.cli.run = run_then_fail
sys.exit(coprod.cli.main(sys.argv[1:]))
"""
"""The coprod command, failing unexpectedly after the run, so that its -v log shows where."""

CLI_LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)


def test_with_verbose_a_source_name_with_a_line_break_makes_no_line_and_where_it_failed_keeps_its_lines(
    tmp_path: Path,
) -> None:
    recipe = tmp_path / "demo"
    shutil.copytree(
        ROOT / "recipes" / "demo", recipe, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv")
    )
    toml = recipe / "recipe.toml"
    name = FORGED.replace("\n", "\\n").replace("\r", "\\r").replace("\x1b", "\\u001b")  # as TOML writes it
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[sources.exports]", f'[sources."exports{name}"]').replace(
            'source = "exports"', f'source = "exports{name}"'
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", BOOM, "-v", "sync", str(recipe), "--date", "2026-11-20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    log = done.stderr
    assert_not_forged(log)
    assert "INFO coprod.sync: read people: 40 rows from source exports\\n2026-01-01 00:00:00" in log
    lines = log.splitlines()
    where = next(
        i for i, line in enumerate(lines) if line.endswith("INFO coprod: unexpected RuntimeError at:")
    )
    assert all(CLI_LOG_LINE.match(line) for line in lines[: where + 1]), log
    tb = lines[where + 1 :]
    assert tb and tb[0].startswith('  File "') and "cli.py" in tb[0], "where: files and lines, one a line"
    assert any(line.startswith('  File "<string>", line ') for line in tb)
    assert "after the run" not in log, "never the exception's message"


def test_gunicorns_warning_about_a_request_it_cannot_parse_leaves_out_the_clients_address(
    tmp_path: Path,
) -> None:
    """coprod's access lines leave out the client's address (personal data); gunicorn's own warning
    about a malformed request wrote it ("Invalid request from ip=127.0.0.1: ...")."""
    import socket

    with (
        gunicorn(tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
    ):
        raw.sendall(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
        answer = raw.recv(1024)
    log = server.log.read_text(encoding="utf-8")
    assert answer.startswith(b"HTTP/1.1 400"), answer
    warning = [line for line in log.splitlines() if "Invalid request from" in line]
    assert len(warning) == 1, log
    assert "WARNING gunicorn.error: Invalid request from ip=(not logged): " in warning[0]
    assert "127.0.0.1" not in warning[0]  # (gunicorn's "Listening at" line names its own address)
    assert_every_line_is_a_log_line(log)
