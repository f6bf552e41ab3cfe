"""A fake KPI server (API v2) for the KoboToolbox tests and benchmark, built to platforms.md's shapes.

It honours ``limit`` (cut at 1000), ``sort``, ``query`` with ``$gt`` / ``$in`` on ``_id``, and
``fields``; answers ``{count, next, previous, results}``; applies bulk edits (new ``_uuid``,
``meta/deprecatedID``, same ``_id`` and root uuid) and validation statuses; keeps REST Services.
Every request is recorded by ``responses`` so tests assert on what was sent.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

SERVER = "https://kf.kobotoolbox.org"
TOKEN = "s3cr3t-kobo-token-value"

DATA = re.compile(rf"^{re.escape(SERVER)}/api/v2/assets/(?P<asset>\w+)/data/(\?.*)?$")
BULK = re.compile(rf"^{re.escape(SERVER)}/api/v2/assets/(?P<asset>\w+)/data/bulk/$")
STATUSES = re.compile(rf"^{re.escape(SERVER)}/api/v2/assets/(?P<asset>\w+)/data/validation_statuses/$")
HOOKS = re.compile(rf"^{re.escape(SERVER)}/api/v2/assets/(?P<asset>\w+)/hooks/(?:(?P<hook>\w+)/)?$")
STATUS_UIDS = ("validation_status_approved", "validation_status_not_approved", "validation_status_on_hold")
ASSET = re.compile(rf"^{re.escape(SERVER)}/api/v2/assets/(?P<asset>\w+)/$")


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
        "_attachments": [],
        "_geolocation": [None, None],
        **answers,
    }


class FakeKobo:
    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.assets: dict[str, list[dict[str, Any]]] = {}
        self.content: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.undeployed: set[str] = set()
        """Assets whose form was never deployed (KPI: ``has_deployment`` false)."""
        self.fail_roots: set[str] = set()
        """Root uuids whose bulk edit fails (a per-submission failure in the bulk answer)."""
        self.bulk_roots = True
        """Whether bulk edit results carry ``root_uuid`` (older KPI left it out)."""
        rsps.add_callback(responses.GET, DATA, callback=self._data)
        rsps.add_callback(responses.PATCH, BULK, callback=self._bulk)
        rsps.add_callback(responses.PATCH, STATUSES, callback=self._statuses)
        rsps.add_callback(responses.DELETE, STATUSES, callback=self._statuses)
        rsps.add_callback(responses.GET, HOOKS, callback=self._hooks)
        rsps.add_callback(responses.POST, HOOKS, callback=self._hooks)
        rsps.add_callback(responses.PATCH, HOOKS, callback=self._hooks)
        rsps.add_callback(responses.GET, ASSET, callback=self._asset)

    # -- helpers for tests
    def calls(self, method: str, pattern: str = "") -> list[Any]:
        return [c for c in self.rsps.calls if c.request.method == method and pattern in c.request.url]

    def by_id(self, asset: str, sid: int) -> dict[str, Any]:
        return next(s for s in self.assets[asset] if s["_id"] == sid)

    @staticmethod
    def _auth_ok(request: Any) -> bool:
        return request.headers.get("Authorization") == f"Token {TOKEN}"

    # -- endpoints
    def _data(self, request: Any) -> tuple[int, dict[str, str], str]:
        if not self._auth_ok(request):
            return 401, {}, json.dumps({"detail": "Invalid token."})
        asset = DATA.match(request.url)["asset"]  # type: ignore[index]
        if asset not in self.assets:
            return 404, {}, json.dumps({"detail": "Not found."})
        qs = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        limit = min(int(qs.get("limit", 100)), 1000)
        start = int(qs.get("start", 0))
        rows = sorted(self.assets[asset], key=lambda s: s["_id"])
        cond = json.loads(qs.get("query", "{}")).get("_id", {})
        if "$gt" in cond:
            rows = [r for r in rows if r["_id"] > cond["$gt"]]
        if "$in" in cond:
            rows = [r for r in rows if r["_id"] in cond["$in"]]
        page = rows[start : start + limit]
        if "fields" in qs:
            wanted = json.loads(qs["fields"])
            page = [{k: v for k, v in r.items() if k in wanted} for r in page]
        nxt = (
            f"{SERVER}/api/v2/assets/{asset}/data/?start={start + limit}"
            if start + limit < len(rows)
            else None
        )
        body = {"count": len(rows), "next": nxt, "previous": None, "results": page}
        return 200, {}, json.dumps(body)

    def _bulk(self, request: Any) -> tuple[int, dict[str, str], str]:
        """KPI's bulk edit: in ascending ``_id`` order, one result per submission found.

        A result's ``uuid`` is the new version's (generated before saving, so a failure's was never
        stored); ``root_uuid`` is set on a success only (``None`` on a failure), and left out
        entirely when ``bulk_roots`` is off, as older KPI answered.
        """
        asset = BULK.match(request.url)["asset"]  # type: ignore[index]
        payload = json.loads(request.body)["payload"]
        wanted = set(payload["submission_ids"])
        results = []
        for sub in sorted((s for s in self.assets[asset] if s["_id"] in wanted), key=lambda s: s["_id"]):
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
        return (200 if failures < len(results) else 400), {}, json.dumps(body)

    def _statuses(self, request: Any) -> tuple[int, dict[str, str], str]:
        """Bulk validation statuses: KPI requires ``validation_status.uid`` for PATCH and DELETE alike;
        DELETE, or a uid that is not a status, leaves no status."""
        asset = STATUSES.match(request.url)["asset"]  # type: ignore[index]
        payload = json.loads(request.body)["payload"]
        if "validation_status.uid" not in payload:
            return 400, {}, json.dumps({"payload": ["`validation_status.uid` is required"]})
        uid = payload["validation_status.uid"]
        for sid in payload["submission_ids"]:
            sub = self.by_id(asset, sid)
            if request.method == "DELETE" or uid not in STATUS_UIDS:
                sub["_validation_status"] = {}
            else:
                sub["_validation_status"] = {"uid": uid, "label": uid, "by_whom": "coprod", "timestamp": 1}
        n = len(payload["submission_ids"])
        return 200, {}, json.dumps({"detail": f"{n} submissions have been updated"})

    def _hooks(self, request: Any) -> tuple[int, dict[str, str], str]:
        m = HOOKS.match(request.url)
        asset, hook_uid = m["asset"], m["hook"]  # type: ignore[index]
        hooks = self.hooks.setdefault(asset, [])
        if request.method == "GET":
            return (
                200,
                {},
                json.dumps({"count": len(hooks), "next": None, "previous": None, "results": hooks}),
            )
        body = json.loads(request.body)
        if request.method == "POST":
            hook = {"uid": f"h{len(hooks) + 1}", "success_count": 0, **body}
            hooks.append(hook)
            return 201, {}, json.dumps(hook)
        hook = next(h for h in hooks if h["uid"] == hook_uid)
        hook.update(body)
        return 200, {}, json.dumps(hook)

    def _asset(self, request: Any) -> tuple[int, dict[str, str], str]:
        if not self._auth_ok(request):
            return 403, {}, json.dumps({"detail": "You do not have permission to perform this action."})
        asset = ASSET.match(request.url)["asset"]  # type: ignore[index]
        if asset not in self.content:
            return 404, {}, json.dumps({"detail": "Not found."})
        body = {
            "uid": asset,
            "name": f"Form {asset}",
            "has_deployment": asset not in self.undeployed,
            "deployment__active": asset not in self.undeployed,
            "version_id": "v1",
            "deployed_version_id": "v1",
            "content": self.content[asset],
        }
        return 200, {}, json.dumps(body)


def query_of(call: Any) -> dict[str, str]:
    """The query string of a recorded request, one value per key."""
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}
