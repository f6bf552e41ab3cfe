"""A fake KPI server (API v2) for the KoboToolbox tests and benchmark, answering as a real kpi did.

Its answers follow the recordings in ``tests/fixtures/platforms/kobotoolbox`` (``test_kobo_fake.py``
sends the recorded requests to this fake and to the replay, and compares the answers):

- a wrong token is 401 ``{"detail": "Invalid token."}``; no token, a form not shared with the
  account, and an unknown form are 404 (an unknown form's ``/data/`` as an HTML page, its
  ``/hooks/`` as ``text/html``); a view-only account reads, gets 403 on every write and 404 on
  ``/hooks/``;
- listings honour ``limit`` (100 by default, cut at 1000, 0 is a 400), ``start`` (not a whole number
  of 0 or more: 400), ``sort``, ``fields`` and a Mongo-style ``query`` (``$gt $gte $lt $lte $in
  $nin $exists`` and plain equality; each of the three JSON, else a 400 naming it, as kpi's
  ``validate_submission_list_params`` says), answer
  ``{count, next, previous, results}`` with offset links, and with ``fields`` still return
  ``_id``, ``_uuid``, ``meta/rootUuid`` and ``_validation_status``;
- a bulk edit makes a new version (new ``_uuid`` and ``meta/instanceID``, ``meta/deprecatedID``
  set, ``_id`` and root uuid kept), stores a field that is not in the form, has no row for a
  missing id, and is a 400 with a JSON list when no id exists;
- bulk validation statuses need ``validation_status.uid`` (even to clear), fail whole (400) when
  one id is missing, and set nothing for a uid that is not a status;
- the data endpoints of a form never deployed (``undeployed``) answer 400 ``{"detail": "The
  specified asset has not been deployed"}``, after the access checks;
- both bulk actions check their ``payload`` as kpi does (``bulk_payload``): ids as whole numbers,
  at least one, a non-empty ``data`` for an edit;
- REST Services: POST 201 with ``Location``, PATCH 200, DELETE 204, a list ordered by name; an
  endpoint that is not http(s) is 400 ``{"endpoint": ["Invalid scheme"]}``, a private one is
  accepted, an ``http:`` one too unless ``allow_unsecured_hooks`` is off (kpi's
  ALLOW_UNSECURED_HOOK_ENDPOINTS): then 400 ``{"endpoint": ["Unsecured endpoint is not allowed"]}``; as kpi's HookSerializer, a POST without ``name`` or ``endpoint``, or an ``export_type``
  / ``auth_level`` that is not one of kpi's, is a 400 naming the field, and keys it does not take
  (``uid``, ``asset``, counts, unknown names) are left out of what is stored and answered;
- an ``Authorization`` header of another scheme than ``Token`` (``Bearer ...``) authenticates
  nobody: the request is anonymous (404), as Django REST framework's TokenAuthentication reads it.

- the form's history (``/history/``): ``modify-submission`` entries for every bulk edit and
  validation-status change (coprod's and those a test makes as staff with ``edit`` and
  ``set_status``) and ``delete-submission`` entries (``delete``), newest first, by root uuid without
  the ``uuid:`` prefix; ``q`` takes ``action:X``, ``AND`` and ``date_created__gte:"<time>"``, the
  time quoted (unquoted, a full time matches nothing, silently; a date alone compares by day);
  403 for a view-only account;
- every answer carries a ``Date`` header (the fake's clock, ``now``), and the form's details
  ``deployment__submission_count`` and ``deployment__last_submission_time`` (moved by a new
  submission only).

Not recorded, so shaped after kpi's code: a bulk edit row for a submission kpi failed to save
(``fail_roots``) and older servers' rows without ``root_uuid`` (``bulk_roots``); history pages of
100 entries with offset ``next`` links; the permission history needs (``manage_asset``).
Every request is recorded by ``responses`` so tests assert on what was sent.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import responses

from coprod.config import LoadedRecipe
from coprod_core.flags import Flag, Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, KnownFlag
from coprod_core.recipe import parse_recipe

SERVER = "https://kf.kobotoolbox.org"
TOKEN = "s3cr3t-kobo-token-value"
OWNER = "alice"

_ASSET = r"/api/v2/assets/(?P<asset>\w+)"
DATA = re.compile(rf"^{re.escape(SERVER)}{_ASSET}/data/(\?.*)?$")
"""Submission listings on the default server, for tests that answer them by hand (a 503)."""

STATUS_LABELS = {
    "validation_status_approved": "Approved",
    "validation_status_not_approved": "Not Approved",
    "validation_status_on_hold": "On Hold",
}
STATUS_UIDS = tuple(STATUS_LABELS)
ALWAYS_LISTED = ("_id", "_uuid", "meta/rootUuid", "_validation_status")
"""Keys every listing returns, whatever ``fields`` asks for."""
OWNER_PERMISSIONS = (
    "view_submissions",
    "validate_submissions",
    "delete_submissions",
    "manage_asset",
    "view_asset",
    "delete_asset",
    "add_submissions",
    "change_asset",
    "change_submissions",
)
VIEWER_PERMISSIONS = ("view_submissions", "view_asset")
EDITOR_PERMISSIONS = (*VIEWER_PERMISSIONS, "change_submissions", "validate_submissions")
"""An account that may edit and validate submissions but not manage the form (nor read its history)."""
NOT_FOUND = {"detail": "Not found."}
NOT_DEPLOYED = {"detail": "The specified asset has not been deployed"}
"""kpi's ObjectDeploymentDoesNotExist (HTTP 400): the data endpoints of a form never deployed."""
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
HTML_404 = "<!DOCTYPE html><html><head><title>KoboToolbox</title></head><body>Not found</body></html>"

Answer = tuple[int, dict[str, str], str]

HOOK_WRITABLE = (
    "name",
    "endpoint",
    "active",
    "export_type",
    "auth_level",
    "settings",
    "email_notification",
    "subset_fields",
    "payload_template",
)
"""What kpi's HookSerializer takes from a request; any other key (``uid``, ``asset``, counts, an
unknown name) is left out, as Django REST framework does."""
HOOK_CHOICES = {"export_type": ("json", "xml"), "auth_level": ("no_auth", "basic_auth")}


def hook_problems(body: Any, partial: bool, allow_unsecured: bool = True) -> dict[str, list[str]]:
    """What kpi's HookSerializer says of a REST Service body (``partial``: a PATCH, where a field left
    out keeps its value), as ``{field: [messages]}``; empty when it is valid. ``allow_unsecured``:
    kpi's ALLOW_UNSECURED_HOOK_ENDPOINTS (constance, True by default); off, an ``http:`` endpoint is
    refused with "Unsecured endpoint is not allowed" (HookSerializer.validate_endpoint)."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    problems: dict[str, list[str]] = {}
    for name in ("name", "endpoint"):
        if name not in body:
            if not partial:
                problems[name] = ["This field is required."]
        elif not str(body[name] or "").strip():
            problems[name] = ["This field may not be blank."]
    if "endpoint" in body and "endpoint" not in problems and not str(body["endpoint"]).startswith("http"):
        problems["endpoint"] = ["Invalid scheme"]
    elif "endpoint" in body and not allow_unsecured and str(body["endpoint"]).startswith("http:"):
        problems["endpoint"] = ["Unsecured endpoint is not allowed"]
    for name, allowed in HOOK_CHOICES.items():
        if name in body and body[name] not in allowed:
            problems[name] = [f'"{body[name]}" is not a valid choice.']
    return problems


def submission(sid: int, **answers: Any) -> dict[str, Any]:
    root = str(uuid.UUID(int=sid))
    return {
        "_id": sid,
        "_uuid": root,
        "meta/instanceID": f"uuid:{root}",
        "meta/rootUuid": f"uuid:{root}",
        "formhub/uuid": "f" * 32,
        "__version__": "vAbc",
        "_submission_time": "2026-03-03T10:00:00",
        "_validation_status": {},
        "_status": "submitted_via_web",
        "_submitted_by": OWNER,
        "_attachments": [],
        "_geolocation": [None, None],
        **answers,
    }


def _json(status: int, body: Any, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body)


def _matches(value: Any, condition: Any) -> bool:
    """One Mongo-style condition on one value (what kpi's ``query`` accepts that coprod may send)."""
    if not isinstance(condition, dict):
        return value == condition
    tests: dict[str, Callable[[Any], bool]] = {
        "$gt": lambda c: value is not None and value > c,
        "$gte": lambda c: value is not None and value >= c,
        "$lt": lambda c: value is not None and value < c,
        "$lte": lambda c: value is not None and value <= c,
        "$in": lambda c: value in c,
        "$nin": lambda c: value not in c,
        "$exists": lambda c: (value is not None) == bool(c),
    }
    return all(tests[op](arg) for op, arg in condition.items())


def _history_term(entry: dict[str, Any], term: str) -> bool:
    """One ``field:value`` term of a history ``q``. A time must be quoted: unquoted, its own colons
    split it and kpi matches nothing (silently); a date alone compares by day."""
    name, _, value = term.partition(":")
    if name == "action":
        return entry["action"] == value
    if name == "date_created__gte":
        if value.startswith('"') and value.endswith('"'):
            since = value.strip('"').removesuffix("Z")
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            since = f"{value}T00:00:00"
        else:
            return False
        return str(entry["date_created"]).removesuffix("Z") >= since
    return False


def bulk_payload(body: Any, edit: bool) -> tuple[dict[str, Any], Answer | None]:
    """The ``payload`` of a bulk edit (``edit``) or a bulk validation-status change, checked as kpi's
    DataBulkActionsValidator checks it: ids made whole numbers (``"7"`` is 7), at least one, a
    non-empty ``data`` for an edit, ``validation_status.uid`` for a status (even to clear); each
    refusal a 400 ``{"payload": [...]}``. Without ids the action needs a ``query`` (or ``confirm``:
    every submission), which coprod never sends, so the fake refuses it rather than guess."""
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        return {}, _json(400, {"payload": ["This field is required."]})

    def refused(words: str) -> tuple[dict[str, Any], Answer]:
        return {}, _json(400, {"payload": [words]})

    if "submission_ids" not in payload:
        return refused("Confirmation is required" if "query" not in payload else "the fake takes ids only")
    try:
        ids = sorted({int(i) for i in payload["submission_ids"]})
    except (TypeError, ValueError):
        return refused("`submission_ids` must only contain integer values")
    if not ids:
        return refused("`submission_ids` must contain at least one value")
    if edit and not payload.get("data"):
        return refused("`data` is required")
    if not edit and "validation_status.uid" not in payload:
        return refused("`validation_status.uid` is required")
    return {**payload, "submission_ids": ids}, None


class FakeKobo:
    def __init__(
        self,
        rsps: responses.RequestsMock | None,
        *,
        server: str = SERVER,
        tokens: dict[str, str] | None = None,
    ) -> None:
        """Serve ``server`` on ``rsps``; with ``rsps=None`` nothing is registered and ``answer`` serves
        (e.g. as a ``fakes.replay.Replay`` fallback)."""
        self.rsps = rsps
        self.server = server.rstrip("/")
        self.tokens: dict[str, str] = tokens if tokens is not None else {TOKEN: OWNER}
        """API key -> account name; every asset is owned by ``OWNER``."""
        self.viewers: dict[str, set[str]] = {}
        """Asset -> accounts it is shared with for viewing only (view form, view submissions)."""
        self.editors: dict[str, set[str]] = {}
        """Asset -> accounts that may also edit and validate submissions (``EDITOR_PERMISSIONS``)."""
        self.assets: dict[str, list[dict[str, Any]]] = {}
        self.content: dict[str, dict[str, Any]] = {}
        """Asset -> the form's ``content`` (``survey`` rows); without it, one made from the answers."""
        self.deployed_content: dict[str, dict[str, Any]] = {}
        """Asset -> the deployed version's content, when the form was edited without redeploying."""
        self.undeployed: set[str] = set()
        """Assets whose form was never deployed (KPI: ``has_deployment`` false)."""
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.allow_unsecured_hooks = True
        """kpi's ALLOW_UNSECURED_HOOK_ENDPOINTS (on by default); False: an http:// REST Service
        address is a 400 ``{"endpoint": ["Unsecured endpoint is not allowed"]}``."""
        self.fail_roots: set[str] = set()
        """Root uuids whose bulk edit fails (a per-submission failure in the bulk answer)."""
        self.bulk_roots = True
        """Whether bulk edit results carry ``root_uuid`` (older KPI left it out)."""
        self.history: dict[str, list[dict[str, Any]]] = {}
        """Asset -> its history entries, oldest first (answered newest first)."""
        self.now: datetime | None = None
        """The fake server's clock (UTC); None: the real time. ``tick`` moves a set clock on."""
        self.last_submission: dict[str, tuple[int, str]] = {}
        """Asset -> (highest ``_id`` seen, when it was first seen): ``deployment__last_submission_time``
        (a test may set it, e.g. to the recorded value)."""
        base = re.escape(self.server) + _ASSET
        routes: list[tuple[str, str, Callable[[Any, re.Match[str]], Answer]]] = [
            (responses.GET, rf"{base}/$", self._asset),
            (responses.GET, rf"{base}/versions/(?P<version>\w+)/$", self._version),
            (responses.GET, rf"{base}/data/(\?.*)?$", self._data),
            (responses.PATCH, rf"{base}/data/bulk/$", self._bulk),
            (responses.PATCH, rf"{base}/data/validation_statuses/$", self._statuses),
            (responses.DELETE, rf"{base}/data/validation_statuses/$", self._statuses),
            (responses.GET, rf"{base}/history/(\?.*)?$", self._history),
        ]
        for method in (responses.GET, responses.POST, responses.PATCH, responses.DELETE):
            routes.append((method, rf"{base}/hooks/(?:(?P<hook>\w+)/)?$", self._hooks))
        self._routes = [(method, re.compile(f"^{pattern}"), handler) for method, pattern, handler in routes]
        if rsps is not None:
            for method, pattern, _ in self._routes:
                rsps.add_callback(method, pattern, callback=self.answer)

    def answer(self, request: Any) -> Answer:
        """What the fake answers this request (a request it has no route for: 599 naming it)."""
        for method, pattern, handler in self._routes:
            match = pattern.match(request.url or "")
            if method == request.method and match is not None:
                status, headers, body = handler(request, match)
                return status, {**headers, "Date": format_datetime(self.clock(), usegmt=True)}, body
        return (
            599,
            {"Content-Type": "text/plain"},
            f"the fake has no route for {request.method} {request.url}",
        )

    # -- helpers for tests
    def calls(self, method: str, pattern: str = "") -> list[Any]:
        assert self.rsps is not None
        return [c for c in self.rsps.calls if c.request.method == method and pattern in c.request.url]

    def by_id(self, asset: str, sid: int) -> dict[str, Any]:
        return next(s for s in self.assets[asset] if s["_id"] == sid)

    def clock(self) -> datetime:
        return self.now if self.now is not None else datetime.now(UTC)

    def tick(self, seconds: float = 1.0) -> None:
        """Set the fake's clock ``seconds`` on from its time now (a server's clock never goes back)."""
        self.now = self.clock() + timedelta(seconds=seconds)

    def log(
        self, asset: str, action: str, sub: dict[str, Any], account: str = OWNER, status: str | None = None
    ) -> None:
        """Add a history entry as kpi writes one (``status``: the label of a validation status set)."""
        submission: dict[str, Any] = {
            "root_uuid": sub["meta/rootUuid"].removeprefix("uuid:"),
            "submitted_by": OWNER,
        }
        if status is not None:
            submission["status"] = status
        self.history.setdefault(asset, []).append(
            {
                "user": f"{self.server}/api/v2/users/{account}/?format=json",
                "user_uid": f"u{account}",
                "username": account,
                "action": action,
                "metadata": {
                    "source": "Python Requests (Other)",
                    "asset_uid": asset,
                    "ip_address": "127.0.0.1",
                    "submission": submission,
                    "log_subtype": "project",
                    "project_owner": OWNER,
                },
                "date_created": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    def submit(self, asset: str, sub: dict[str, Any]) -> None:
        """A new submission arrives (as from a phone or the web form)."""
        self.assets.setdefault(asset, []).append(sub)
        self._details(asset)

    def edit(self, asset: str, sid: int, account: str = OWNER, **answers: Any) -> None:
        """Staff edit a submission in KoboToolbox: a new version (new ``_uuid``), logged in history."""
        sub = self.by_id(asset, sid)
        new = str(uuid.uuid4())
        sub.update(answers)
        sub.update(
            {"meta/deprecatedID": sub["meta/instanceID"], "meta/instanceID": f"uuid:{new}", "_uuid": new}
        )
        self.log(asset, "modify-submission", sub, account)

    def set_status(self, asset: str, sid: int, uid: str | None, account: str = OWNER) -> None:
        """Staff set (or clear, ``None``) a validation status: ``_uuid`` kept, logged in history."""
        sub = self.by_id(asset, sid)
        label = STATUS_LABELS.get(uid or "", "None")
        sub["_validation_status"] = (
            {"timestamp": int(self.clock().timestamp()), "uid": uid, "by_whom": account, "label": label}
            if uid
            else {}
        )
        self.log(asset, "modify-submission", sub, account, status=label)

    def delete(self, asset: str, sid: int, account: str = OWNER) -> None:
        """Staff delete a submission: gone from the data, the count drops, logged in history."""
        sub = self.by_id(asset, sid)
        self._details(asset)
        self.assets[asset].remove(sub)
        self.log(asset, "delete-submission", sub, account)

    # -- access, as kpi decides it
    def _account(self, request: Any) -> tuple[str | None, Answer | None]:
        """(account, None), (None, None) with no token, or (None, 401) for a key kpi does not know.

        As Django REST framework's TokenAuthentication reads the header: the word ``Token`` in any
        case, then one key; another scheme (``Bearer``, kpi's OAuth2, with a key it did not issue)
        authenticates nobody, so the request is anonymous (404 on a private form), not a 401; Basic
        auth is checked by kpi's BasicAuthentication, and the fake knows no password (401, as
        errors.json recorded for a wrong one)."""
        scheme, _, key = str(request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() == "basic":  # kpi's BasicAuthentication: the fake knows no password
            return None, _json(
                401, {"detail": "Invalid username/password."}, **{"WWW-Authenticate": "Session"}
            )
        if scheme.lower() != "token":
            return None, None
        key = key.strip()
        if not key or " " in key:
            words = "No credentials provided." if not key else "Token string should not contain spaces."
            return None, _json(
                401, {"detail": f"Invalid token header. {words}"}, **{"WWW-Authenticate": "Session"}
            )
        account = self.tokens.get(key)
        if account is None:
            return None, _json(401, {"detail": "Invalid token."}, **{"WWW-Authenticate": "Session"})
        return account, None

    def _exists(self, asset: str) -> bool:
        return asset in self.assets or asset in self.content

    def _permissions(self, account: str | None, asset: str) -> tuple[str, ...]:
        if account == OWNER:
            return OWNER_PERMISSIONS
        if account is not None and account in self.editors.get(asset, set()):
            return EDITOR_PERMISSIONS
        if account is not None and account in self.viewers.get(asset, set()):
            return VIEWER_PERMISSIONS
        return ()

    def _access(self, request: Any, asset: str, need: str, unknown: Answer) -> tuple[str, Answer | None]:
        """The account, or the answer kpi gives: 401, ``unknown`` for a form that does not exist, 404
        for a form the account cannot see (or no token), 403 for a write it may not make."""
        account, refused = self._account(request)
        if refused is not None:
            return "", refused
        if not self._exists(asset):
            return "", unknown
        have = self._permissions(account, asset)
        if "view_asset" not in have:
            return "", _json(404, NOT_FOUND)
        if need not in have:
            return "", _json(404, NOT_FOUND) if need == "change_asset" else _json(403, FORBIDDEN)
        return account or "", None

    # -- endpoints
    def _data(self, request: Any, match: re.Match[str]) -> Answer:
        asset = match["asset"]
        _, refused = self._access(
            request, asset, "view_submissions", (404, {"Content-Type": "text/html"}, HTML_404)
        )
        if refused is not None:
            return refused
        if asset in self.undeployed:
            return _json(400, NOT_DEPLOYED)
        qs = {k: v[-1] for k, v in parse_qs(urlparse(request.url).query, keep_blank_values=True).items()}
        try:
            limit = int(qs.get("limit", 100))
        except ValueError:
            limit = 0
        if limit <= 0:
            return _json(400, {"limit": "A positive integer is required"})
        limit = min(limit, 1000)
        parsed: dict[str, Any] = {}
        for name, default in (("query", "{}"), ("sort", '{"_id": 1}'), ("fields", "[]")):
            try:
                parsed[name] = json.loads(qs.get(name) or default)
            except ValueError:
                return _json(400, {name: "Value must be valid JSON."})
        try:
            start = int(qs.get("start", 0))
        except ValueError:
            start = -1
        if start < 0:
            return _json(400, {"start": "A positive integer is required."})
        sort, condition = parsed["sort"], parsed["query"]
        reverse = sort.get("_id", 1) == -1
        rows = [
            r
            for r in sorted(self.assets.get(asset, []), key=lambda s: s["_id"], reverse=reverse)
            if all(_matches(r.get(k), c) for k, c in condition.items())
        ]
        page = rows[start : start + limit]
        if "fields" in qs:
            wanted = set(parsed["fields"]) | set(ALWAYS_LISTED)
            page = [{k: v for k, v in r.items() if k in wanted} for r in page]
        path = urlparse(request.url).path
        links = {k: v for k, v in qs.items() if k != "start"} | {"limit": str(limit)}

        def link(offset: int | None) -> str:
            params = links if offset is None else links | {"start": str(offset)}
            return f"{self.server}{path}?{urlencode(sorted(params.items()))}"

        nxt = link(start + limit) if start + limit < len(rows) else None
        prev = None if start <= 0 else link(start - limit if start - limit > 0 else None)
        return _json(200, {"count": len(rows), "next": nxt, "previous": prev, "results": page})

    def _bulk(self, request: Any, match: re.Match[str]) -> Answer:
        """KPI's bulk edit: in ascending ``_id`` order, one result per submission found.

        A result's ``uuid`` is the new version's (generated before saving, so a failure's was never
        stored); ``root_uuid`` is set on a success only (``None`` on a failure), and left out
        entirely when ``bulk_roots`` is off, as older KPI answered.
        """
        asset = match["asset"]
        _, refused = self._access(request, asset, "change_submissions", _json(404, NOT_FOUND))
        if refused is not None:
            return refused
        if asset in self.undeployed:
            return _json(400, NOT_DEPLOYED)
        payload, wrong = bulk_payload(json.loads(request.body), edit=True)
        if wrong is not None:
            return wrong
        wanted = set(payload["submission_ids"])
        found = sorted((s for s in self.assets.get(asset, []) if s["_id"] in wanted), key=lambda s: s["_id"])
        if not found:
            return _json(400, ["No submissions match the given `submission_ids`"])
        results = []
        for sub in found:
            root = sub["meta/rootUuid"].removeprefix("uuid:")
            new = str(uuid.uuid4())
            if root in self.fail_roots:
                result = {
                    "uuid": new,
                    "root_uuid": None,
                    "status_code": 400,
                    "message": "Something went wrong",
                }
            else:
                sub["meta/deprecatedID"] = sub["meta/instanceID"]
                sub["meta/instanceID"] = f"uuid:{new}"
                sub["_uuid"] = new
                sub.update(payload["data"])
                self.log(asset, "modify-submission", sub)
                result = {
                    "uuid": new,
                    "root_uuid": root,
                    "status_code": 201,
                    "message": "Successful submission",
                }
            if not self.bulk_roots:
                del result["root_uuid"]
            results.append(result)
        failures = sum(r["status_code"] >= 400 for r in results)
        body = {
            "count": len(results),
            "successes": len(results) - failures,
            "failures": failures,
            "results": results,
        }
        return _json(200 if failures < len(results) else 400, body)

    def _statuses(self, request: Any, match: re.Match[str]) -> Answer:
        """Bulk validation statuses: ``validation_status.uid`` is required for PATCH and DELETE alike;
        one unknown id fails the whole request; a uid that is not a status sets nothing."""
        asset = match["asset"]
        account, refused = self._access(request, asset, "validate_submissions", _json(404, NOT_FOUND))
        if refused is not None:
            return refused
        if asset in self.undeployed:
            return _json(400, NOT_DEPLOYED)
        payload, wrong = bulk_payload(json.loads(request.body), edit=False)
        if wrong is not None:
            return wrong
        subs = {s["_id"]: s for s in self.assets.get(asset, [])}
        ids = payload["submission_ids"]
        if any(sid not in subs for sid in ids):
            return _json(400, {"detail": "One or more submission ids are invalid"})
        uid = payload["validation_status.uid"]
        for sid in ids:
            if request.method == "DELETE" or uid not in STATUS_LABELS:
                subs[sid]["_validation_status"] = {}
            else:
                subs[sid]["_validation_status"] = {
                    "timestamp": int(time.time()),
                    "uid": uid,
                    "by_whom": account,
                    "label": STATUS_LABELS[uid],
                }
            if request.method == "DELETE" or uid in STATUS_LABELS:  # an unknown uid changes nothing
                label = "None" if request.method == "DELETE" else STATUS_LABELS[uid]
                self.log(asset, "modify-submission", subs[sid], account, status=label)
        return _json(200, {"detail": f"{len(ids)} submissions have been updated"})

    def _hooks(self, request: Any, match: re.Match[str]) -> Answer:
        asset, hook_uid = match["asset"], match["hook"]
        unknown = (404, {"Content-Type": "text/html; charset=utf-8"}, "Resource not found (404)")
        _, refused = self._access(request, asset, "change_asset", unknown)
        if refused is not None:
            return refused
        hooks = self.hooks.setdefault(asset, [])
        if request.method == "GET" and hook_uid is None:
            listed = sorted(hooks, key=lambda h: h["name"])
            return _json(200, {"count": len(listed), "next": None, "previous": None, "results": listed})
        if request.method == "POST" and hook_uid is None:
            given = json.loads(request.body)
            problems = hook_problems(given, partial=False, allow_unsecured=self.allow_unsecured_hooks)
            if problems:
                return _json(400, problems)
            body = {k: v for k, v in given.items() if k in HOOK_WRITABLE}
            uid = f"h{uuid.uuid4().hex[:21]}"
            url = f"{self.server}/api/v2/assets/{asset}/hooks/{uid}/"
            hook = {
                "active": True,
                "asset": sorted(self.assets).index(asset) + 1 if asset in self.assets else 1,
                "auth_level": "no_auth",
                "date_modified": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                "email_notification": True,
                "export_type": "json",
                "failed_count": 0,
                "logs_url": f"{url}logs/",
                "payload_template": None,
                "pending_count": 0,
                "settings": {},
                "subset_fields": [],
                "success_count": 0,
                "uid": uid,
                "url": url,
                **body,
            }
            hooks.append(hook)
            return _json(201, hook, Location=url)
        hook = next((h for h in hooks if h["uid"] == hook_uid), None)
        if hook is None:
            return _json(404, NOT_FOUND)
        if request.method == "DELETE":
            hooks.remove(hook)
            return 204, {}, ""
        if request.method == "PATCH":
            given = json.loads(request.body)
            problems = hook_problems(given, partial=True, allow_unsecured=self.allow_unsecured_hooks)
            if problems:
                return _json(400, problems)
            hook.update({k: v for k, v in given.items() if k in HOOK_WRITABLE})
        return _json(200, hook)

    def _asset(self, request: Any, match: re.Match[str]) -> Answer:
        asset = match["asset"]
        account, refused = self._access(request, asset, "view_asset", _json(404, NOT_FOUND))
        if refused is not None:
            return refused
        deployed = asset not in self.undeployed
        edited = asset in self.deployed_content
        body = {
            "uid": asset,
            "name": f"Form {asset}",
            "has_deployment": deployed,
            "deployment__active": deployed,
            "deployment__submission_count": len(self.assets.get(asset, [])),
            "deployment__last_submission_time": self._details(asset),
            "version_id": "v2" if edited else "v1",
            "deployed_version_id": "v1" if deployed else None,
            "content": self._content(asset),
            "hooks_link": f"{self.server}/api/v2/assets/{asset}/hooks/",
            "effective_permissions": [{"codename": p} for p in self._permissions(account, asset)],
        }
        return _json(200, body)

    def _details(self, asset: str) -> str | None:
        """``deployment__last_submission_time``: when the highest ``_id`` was first seen (a new
        submission moves it; an edit or a delete does not)."""
        highest = max((s["_id"] for s in self.assets.get(asset, [])), default=None)
        seen = self.last_submission.get(asset)
        if highest is not None and (seen is None or highest > seen[0]):
            seen = self.last_submission[asset] = (highest, self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        return seen[1] if seen else None

    def _history(self, request: Any, match: re.Match[str]) -> Answer:
        """The form's history, newest first, filtered by ``q`` as kpi's search reads it."""
        asset = match["asset"]
        _, refused = self._access(request, asset, "view_asset", _json(404, NOT_FOUND))
        if refused is not None:
            return refused
        account, _ = self._account(request)
        if "manage_asset" not in self._permissions(account, asset):
            return _json(403, FORBIDDEN)
        qs = {k: v[-1] for k, v in parse_qs(urlparse(request.url).query, keep_blank_values=True).items()}
        terms = [t.strip() for t in re.split(r"\s+AND\s+", qs.get("q", "")) if t.strip()]
        found = [e for e in reversed(self.history.get(asset, [])) if all(_history_term(e, t) for t in terms)]
        start, limit = int(qs.get("start", 0)), int(qs.get("limit", 100))
        page = found[start : start + limit]
        path = urlparse(request.url).path
        rest = {k: v for k, v in qs.items() if k != "start"} | {"limit": str(limit)}
        nxt = f"{self.server}{path}?{urlencode(sorted((rest | {'start': str(start + limit)}).items()))}"
        return _json(
            200,
            {
                "count": len(found),
                "next": nxt if start + limit < len(found) else None,
                "previous": None,
                "results": page,
            },
        )

    def _version(self, request: Any, match: re.Match[str]) -> Answer:
        asset = match["asset"]
        _, refused = self._access(request, asset, "view_asset", _json(404, NOT_FOUND))
        if refused is not None:
            return refused
        content = self.deployed_content.get(asset) or self._content(asset)
        return _json(200, {"uid": match["version"], "content": content})

    def _content(self, asset: str) -> dict[str, Any]:
        """The form's content, or one whose questions are the keys its submissions use (and a
        hidden ``coprod_flags``), for tests that only care about the answers."""
        if asset in self.content:
            return self.content[asset]
        keys: set[str] = {"coprod_flags"}
        for sub in self.assets.get(asset, []):
            for key, value in sub.items():
                if key.startswith(("_", "meta/", "formhub/")):
                    continue
                keys.add(key)
                if isinstance(value, list):
                    keys.update(k for entry in value if isinstance(entry, dict) for k in entry)
        survey: list[dict[str, Any]] = []
        repeats = {k for s in self.assets.get(asset, []) for k, v in s.items() if isinstance(v, list)}
        opened: list[str] = []
        for key in sorted(keys):
            *groups, name = key.split("/")
            while opened and opened != groups[: len(opened)]:
                kind = "end_repeat" if "/".join(opened) in repeats else "end_group"
                survey.append({"type": kind})
                opened.pop()
            while len(opened) < len(groups):
                opened.append(groups[len(opened)])
                kind = "begin_repeat" if "/".join(opened) in repeats else "begin_group"
                survey.append({"type": kind, "name": opened[-1]})
            if key not in repeats:
                survey.append({"type": "text", "name": name})
        return {"survey": survey}


def flag_for(kind: SubjectKind, subject_id: str, title: str, severity: Severity = Severity.WARNING) -> Flag:
    """A flag for write-back tests: its title is its message, its evidence and its identity."""
    return make_flag(
        check_id="test.check",
        severity=severity,
        subject=Subject(kind=kind, id=subject_id),
        title=title,
        message=title,
        evidence={"title": title},
        identity={"title": title},
    )


def new(flag: Flag) -> FlagChange:
    known = KnownFlag.from_flag(flag, FlagStatus.OPEN, date(2026, 5, 1), date(2026, 5, 1))
    return FlagChange(ChangeKind.NEW, known, flag)


def resolved(flag: Flag) -> FlagChange:
    known = KnownFlag.from_flag(flag, FlagStatus.RESOLVED, date(2026, 5, 1), date(2026, 5, 2))
    return FlagChange(ChangeKind.RESOLVED, known, None)


def query_of(call: Any) -> dict[str, str]:
    """The query string of a recorded request, one value per key."""
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


PEOPLE_FORM, SESSION_FORM = "aPeople", "aSessions"


def sync_recipe(recipe_name: str = "kobo-sync", **people_fields: str) -> LoadedRecipe:
    """A recipe reading people from one form and sessions with their attendees (a repeat) from
    another, one project, a payment policy: three paid attendees of a past workshop are owed."""
    data = {
        "name": recipe_name,
        "sources": {"kobo": {"connector": "kobotoolbox"}},
        "entities": {
            "people": {
                "source": "kobo",
                "location": PEOPLE_FORM,
                "fields": {
                    "id": "person_id",
                    "roles": "roles",
                    "payment_preference": "payment_preference",
                    **people_fields,
                },
            },
            "sessions": {
                "source": "kobo",
                "location": SESSION_FORM,
                "fields": {"id": "_id", "date": "date", "hours": "session/hours", "kind": "kind"},
                "defaults": {"project_id": "p1"},
            },
            "attendance": {
                "source": "kobo",
                "location": SESSION_FORM,
                "fields": {"person_id": "person_id", "session_id": "_id"},
                "options": {"repeat": "attendees"},
            },
        },
        "projects": [{"id": "p1", "name": "Project", "label": "consultation"}],
        "policy": {"rates": {"co_design_workshop": "25"}, "pay_within_days": 30},
    }
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    return LoadedRecipe(recipe=recipe, path=Path("recipe.toml"), dir=Path("."), env={"KOBO_TOKEN": TOKEN})


def fill_forms(fake: FakeKobo, people: int = 3) -> None:
    """``people`` registrations (P1, P2...: lived experience, paid) and one workshop session record
    (``_id`` 10, on 3 March 2026) attended by P1, P2 and P3."""
    fake.assets[PEOPLE_FORM] = [
        submission(i, person_id=f"P{i}", roles="lived_experience", payment_preference="paid")
        for i in range(1, people + 1)
    ]
    fake.assets[SESSION_FORM] = [
        submission(
            10,
            date="2026-03-03",
            kind="co_design_workshop",
            **{"session/hours": "2"},
            attendees=[{"attendees/person_id": f"P{i}"} for i in (1, 2, 3)],
        )
    ]
