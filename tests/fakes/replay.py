"""Replay recorded platform answers through ``responses``, matched by request, not by order.

A recording (``tests/fixtures/platforms/<platform>/<name>.json``) is a list of exchanges: the
request coprod (or a probe) sent and what the real server answered. ``Replay`` serves each
request coprod makes now with the answer recorded for the same request:

- the same method and path;
- the same query (KoboToolbox: values holding JSON, such as ``query``, ``fields`` and ``sort``,
  are compared as JSON, so key order and spacing do not matter) or the same CiviCRM ``params``
  (the JSON in the form field, compared as JSON), or the same JSON body;
- the same credentials (``Authorization``, ``X-Civi-Auth``, ``X-Civi-Key``) and, for CiviCRM,
  the same ``X-Requested-With``: absent in the recording means absent in the request.

When several recorded exchanges match one request (a page read before and after a change), they
are served in recorded order and the last one is served again after that. A request no recording
matches gets a 599 answer naming itself, and is kept in ``unmatched``, so a test can say exactly
which requests the code now sends that the recording lacks. With a ``fallback`` (a hand-written
fake's answer function), such a request is still named in ``unmatched`` but answered by the fake,
so a test can go on past it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
AUTH_HEADERS = ("authorization", "x-civi-auth", "x-civi-key")
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def recording(platform: str, name: str) -> dict[str, Any]:
    """One recorded file, e.g. ``recording("kobotoolbox", "errors")``."""
    return json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))


def exchanges(platform: str, *names: str) -> list[dict[str, Any]]:
    """The request/answer exchanges of one or more recordings (notify receipts left out)."""
    return [e for n in names for e in recording(platform, n)["exchanges"] if "request" in e]


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _query(url: str) -> dict[str, Any]:
    return {k: _maybe_json(v[-1]) for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _body(request: requests.PreparedRequest) -> tuple[dict[str, Any] | None, Any]:
    """(CiviCRM params, JSON body) of a request, whichever it carries."""
    raw = request.body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return None, None
    content_type = request.headers.get("Content-Type", "")
    if "x-www-form-urlencoded" in content_type:
        form = parse_qs(raw, keep_blank_values=True)
        return (_maybe_json(form["params"][-1]) if "params" in form else None), None
    if "json" in content_type:
        try:
            return None, json.loads(raw)
        except ValueError:
            return None, raw
    return None, None


@dataclass
class Replay:
    """Serve recorded exchanges for requests to ``base_url`` (the recorded server's address)."""

    base_url: str
    recorded: list[dict[str, Any]]
    civicrm: bool = False
    fallback: Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]] | None = None
    unmatched: list[str] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    _used: dict[int, int] = field(default_factory=dict)

    def register(self, mock: responses.RequestsMock) -> Replay:
        pattern = re.compile(re.escape(self.base_url.rstrip("/")) + r"/.*")
        for method in METHODS:
            mock.add_callback(method, pattern, callback=self._answer)
        return self

    def _headers_match(self, recorded: dict[str, str], sent: requests.structures.CaseInsensitiveDict) -> bool:
        rec = {k.lower(): v for k, v in recorded.items()}
        names = AUTH_HEADERS + (("x-requested-with",) if self.civicrm else ())
        return all(rec.get(n) == sent.get(n) for n in names)

    def _matches(self, exchange: dict[str, Any], request: requests.PreparedRequest) -> bool:
        rec = exchange["request"]
        url = request.url or ""
        if rec["method"] != request.method or urlsplit(url).path != rec["path"]:
            return False
        if not self._headers_match(rec.get("headers", {}), request.headers):
            return False
        params, body = _body(request)
        if self.civicrm:
            if "query_string_fields" in rec:  # a GET carrying params in the query string
                params = _query(url).get("params")
            return params == rec.get("params")
        if {k: _maybe_json(v) for k, v in (rec.get("query") or {}).items()} != _query(url):
            return False
        recorded_body = rec.get("body")
        if isinstance(recorded_body, (dict, list)):
            return body == recorded_body
        return True  # no body, or one recorded only as a description (a multipart upload)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        candidates = [i for i, e in enumerate(self.recorded) if self._matches(e, request)]
        if not candidates:
            what = f"{request.method} {request.url}"
            params, body = _body(request)
            if params is not None or body is not None:
                what += f" {json.dumps(params if params is not None else body, sort_keys=True)}"
            self.unmatched.append(what)
            if self.fallback is not None:
                return self.fallback(request)
            return 599, {"Content-Type": "text/plain"}, f"no recorded answer for {what}"
        fresh = [i for i in candidates if i not in self._used]
        index = fresh[0] if fresh else candidates[-1]
        self._used[index] = self._used.get(index, 0) + 1
        exchange = self.recorded[index]
        self.served.append(exchange)
        answer = exchange["response"]
        headers = dict(answer.get("headers") or {})
        content_type = headers.pop("Content-Type", "application/json")
        body = answer.get("body")
        text = body if isinstance(body, str) else json.dumps(body)
        return answer["status"], {**headers, "Content-Type": content_type}, text

    def never_served(self) -> list[dict[str, Any]]:
        """Recorded requests nobody asked for (to see what a changed connector stopped sending)."""
        return [e["request"] for i, e in enumerate(self.recorded) if i not in self._used]


def replay(mock: responses.RequestsMock, platform: str, names: Iterable[str], base_url: str) -> Replay:
    """Register the recordings ``names`` of ``platform`` on ``mock`` and return the replay."""
    return Replay(base_url, exchanges(platform, *names), civicrm=platform == "civicrm").register(mock)
