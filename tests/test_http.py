"""The shared HTTP session: bounded retries that honour (a capped) Retry-After."""

import responses
from urllib3 import HTTPResponse

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
