"""One way to talk HTTP to a platform: a requests Session with bounded, Retry-After-aware retries.

urllib3's ``Retry`` does the back-off (we do not write our own loop), and every request gets a
timeout. POSTs are retried too, which is only safe because every coprod write is idempotent
(upsert by fingerprint, bulk edits that set a value).

Retries are logged here, on coprod's own logger ``coprod.connectors.http``, at INFO: hidden under
cron (the CLI logs warnings only, so a run that recovered mails nothing) and shown with ``-v``.
A run that fails after its retries says so in its own error, which cron does mail. The log names
the method, the host and what went wrong, never the path or query: a path holds a spreadsheet's
key or a form's id. urllib3's own "Retrying (...) after connection broken by ...: <url>" warning,
which reached stderr with the whole path, is dropped for the requests made through here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError
from urllib3.util.retry import Retry

log = logging.getLogger("coprod.connectors.http")

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
    """urllib3's Retry, with a server's Retry-After capped so a cron run is never held for hours,
    and each retry logged on coprod's logger without the URL's path (see the module docstring)."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        host = _host(url, _pool)
        cause = f"HTTP {response.status}" if response is not None and not error else _error_words(error)
        try:
            new = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            log.info("%s %s: %s; no tries left", method or "request", host, cause)
            raise
        tries = len(new.history) + 1
        most = f" of {tries + new.total}" if isinstance(new.total, int) else ""
        retry_after = new.get_retry_after(response) if response is not None else None
        wait = retry_after if retry_after is not None else new.get_backoff_time()
        log.info("%s %s: %s; try %d%s in %s s", method or "request", host, cause, tries, most, f"{wait:g}")
        return new


def _host(url: str | None, pool: Any) -> str:
    """The host a request went to, and nothing else of its URL."""
    host = getattr(pool, "host", None) or (urlsplit(url).hostname if url and "://" in url else None)
    return str(host) if host else "the server"


def _error_words(error: Exception | None) -> str:
    if error is None:
        return "no answer"
    name = type(error).__name__
    if "Timeout" in name:
        return f"no answer in time ({name})"
    return f"the connection failed ({name})"


def unreached(exc: requests.RequestException) -> str:
    """Why a request got no answer, in words with the kind of error after them ("its name could not
    be looked up: NameResolutionError"), for the errors that end a run: the kind alone
    ("ConnectionError") is the same for a mistyped address, a server that is off and a proxy, and
    said nothing a project worker could act on. Never the URL: its path holds a form's id."""
    name = type(exc).__name__
    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    if isinstance(reason, NameResolutionError):
        return f"its name could not be looked up: {type(reason).__name__}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"the secure (https) connection failed: {name}"
    if isinstance(exc, requests.exceptions.ProxyError):
        return f"the proxy between this computer and the server failed: {name}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within the time allowed: {name}"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"it stopped answering: {name}"
    if isinstance(exc, requests.ConnectionError) and "refused" in str(reason).lower():
        return f"the connection was refused: nothing answers at that address: {name}"
    return name


class _OurRetryWarnings(logging.Filter):
    """Drops urllib3's retry warning for requests retried by :class:`CappedRetry` (already logged
    by it, without the path); urllib3's other records, and other libraries' retries, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and isinstance(args[0], CappedRetry))


_URLLIB3_POOL_LOG = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _OurRetryWarnings) for f in _URLLIB3_POOL_LOG.filters):
    _URLLIB3_POOL_LOG.addFilter(_OurRetryWarnings())


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


def unencrypted_to_another_machine(url: str) -> bool:
    """Whether requests to ``url`` would carry a key across the network in clear: ``http://`` to a
    host other than this machine. The platforms' keys go in every request's headers, and anyone on
    the way (the charity's Wi-Fi, the hosting provider's network) could read them and act as the
    account. A site on this machine is allowed: ``localhost``, a loopback address, and the names
    kept for testing (``*.localhost``, ``*.test``: a developer's copy of a site, such as the
    CiviCRM site whose answers are recorded in the tests)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".test")):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


UNENCRYPTED = (
    "starts with http://, so the {key} would cross the network unencrypted, where anyone on the way "
    "could read it: use the site's https:// address (http:// is taken only for a site on this machine, "
    "such as http://localhost)"
)
"""Why an ``http://`` address to another machine is refused (``key``: what would be sent)."""
