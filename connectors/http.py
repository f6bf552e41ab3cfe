"""One way to talk HTTP to a platform: a requests Session with bounded, Retry-After-aware retries.

urllib3's ``Retry`` does the back-off (we do not write our own loop), and every request gets a
timeout. POSTs are retried too, which is only safe because every coprod write is idempotent
(upsert by fingerprint, bulk edits that set a value).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "coprod/0.1 (+https://github.com/coprod)"


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that puts a default timeout on every request sent through it."""

    def __init__(self, *args: Any, timeout: float = 30.0, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


RETRY_AFTER_CAP = 120.0
"""The longest a Retry-After header may hold a run (urllib3 honours any value, however long)."""


class CappedRetry(Retry):
    """urllib3's Retry, with a server's Retry-After capped so a cron run is never held for hours."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP)


def make_retry(
    total: int = 4,
    backoff_factor: float = 1.0,
    statuses: Iterable[int] = RETRY_STATUSES,
    backoff_max: float = 60.0,
) -> Retry:
    """Bounded retries on connection errors, read timeouts and the given statuses, honouring Retry-After."""
    return CappedRetry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=tuple(statuses),
        allowed_methods=None,  # every method: our writes are idempotent by design
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last response back so the caller can explain it
    )


def make_session(
    *,
    timeout: float = 30.0,
    retry: Retry | None = None,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Session:
    """A Session with retries and a default timeout mounted for http and https."""
    s = session or requests.Session()
    adapter = TimeoutHTTPAdapter(max_retries=retry or make_retry(), timeout=timeout)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    if headers:
        s.headers.update(headers)
    return s


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret value from a text before it reaches a log or an error message."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
