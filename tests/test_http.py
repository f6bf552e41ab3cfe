"""The shared HTTP session: bounded retries that honour (a capped) Retry-After."""

import logging
import socket

import pytest
import requests
import responses
from urllib3 import HTTPResponse
from urllib3.util.retry import Retry

from coprod.connectors.http import RETRY_AFTER_CAP, make_retry, make_session, redact


def test_retry_after_is_honoured_but_capped():
    retry = make_retry()
    assert (
        retry.get_retry_after(HTTPResponse(headers={"Retry-After": "86400"}, status=429)) == RETRY_AFTER_CAP
    )
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "3"}, status=429)) == 3


@responses.activate
def test_a_429_then_success_is_retried_and_a_permanent_one_gives_up():
    session = make_session(retry=make_retry(total=2, backoff_factor=0))
    url = "https://platform.example/api"
    responses.get(url, status=429, headers={"Retry-After": "0"})
    responses.get(url, json={"ok": True})
    assert session.get(url).json() == {"ok": True}
    responses.reset()
    responses.get(url, status=503)
    assert session.get(url).status_code == 503  # handed back for the caller to explain
    assert len(responses.calls) == 3  # the first try and two retries


def test_redact_removes_secrets_from_text():
    assert redact("token abcd1234 refused", ["abcd1234", ""]) == "token [redacted] refused"


SHEET_KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"


@responses.activate
def test_a_retried_status_is_logged_by_coprod_at_info_with_the_host_and_never_the_path(caplog):
    caplog.set_level(logging.DEBUG, logger="coprod")
    session = make_session(retry=make_retry(total=2, backoff_factor=0))
    url = f"https://sheets.googleapis.com/v4/spreadsheets/{SHEET_KEY}/values:batchGet?ranges=People"
    responses.get(url, status=503)
    responses.get(url, json={"valueRanges": []})

    assert session.get(url).status_code == 200

    (record,) = [r for r in caplog.records if r.name == "coprod.connectors.http"]
    assert record.levelno == logging.INFO  # hidden under cron, shown with -v
    assert record.getMessage() == "GET sheets.googleapis.com: HTTP 503; try 2 of 3 in 0 s"
    assert not [r for r in caplog.records if SHEET_KEY in r.getMessage()]


def test_a_refused_connection_is_retried_without_urllib3s_warning_or_the_path_on_stderr(caplog):
    # A real connection (nothing listens on the port): urllib3 itself retries and, unfiltered,
    # warns "Retrying (...) after connection broken by ...: /v4/spreadsheets/<key>/...", which the
    # CLI's logging (warnings and up, to stderr) printed into every cron mail.
    caplog.set_level(logging.INFO)
    session = make_session(retry=make_retry(total=2, backoff_factor=0), timeout=5)
    # A port bound and never listened on refuses connections, and nothing else can take it meanwhile
    # (a port found free and let go could be listened on by another process before the request).
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{refusing.getsockname()[1]}/v4/spreadsheets/{SHEET_KEY}/values:batchGet"
        with pytest.raises(requests.ConnectionError):
            session.get(url)

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    ours = [r.getMessage() for r in caplog.records if r.name == "coprod.connectors.http"]
    assert ours == [
        "GET 127.0.0.1: the connection failed (NewConnectionError); try 2 of 3 in 0 s",
        "GET 127.0.0.1: the connection failed (NewConnectionError); try 3 of 3 in 0 s",
        "GET 127.0.0.1: the connection failed (NewConnectionError); no tries left",
    ]
    assert not [r for r in caplog.records if SHEET_KEY in r.getMessage()]


def test_urllib3_warnings_about_other_retries_still_pass():
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.WARNING,
        "",
        0,
        "Retrying (%r) after %r: %s",
        (Retry(2), "x", "/"),
        None,
    )
    assert logging.getLogger("urllib3.connectionpool").filter(record)
