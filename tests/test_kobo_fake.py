"""The hand-written fake KPI (``fakes.kobo``) answers as the recorded kpi did.

Each scenario sends the requests of a recording (``tests/fixtures/platforms/kobotoolbox``), in
recorded order, once to the replay of that recording and once to a fake seeded with the same
submissions, and compares the answers: status, content type and body, with only what changes from
run to run left out (the uuid of a new version, times, REST Service uids). The fake's old answers
failed here: a ``fields`` listing without ``_uuid``, ``meta/rootUuid`` and ``_validation_status``;
a 400 dict for a bulk edit whose ids were all missing; 403 for a wrong token; 200 for a form not
shared with the account.

The form's history (``probe_incremental.json``) is compared the same way, on a fake holding the
recorded entries: the time quoted or not, by day, each action, and a view-only account's 403.

Left out, because coprod never sends them: the single-submission validation-status endpoint,
``/token/``, permission assignments, hook logs, imports and deployment.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import responses

from fakes.kobo import FakeKobo
from fakes.replay import exchanges, replay

KOBO = "http://127.0.0.1:8000"
SESSION_FORM = "ai5m376DRLqCktdRoqUysb"
REGISTRATION_FORM = "aWe97VZFCPvq6WBpYfRSLW"
BIG_FORM = "a7sJP7W8XG23s247SxdAQb"
TOKENS = {"<KOBO_TOKEN>": "alice", "<KOBO_TOKEN_VIEWER>": "bob"}
NEW_VERSION = ("_uuid", "meta/instanceID")
"""A bulk edit gives these new random values (the edited row has ``meta/deprecatedID``)."""
ALWAYS_NEW = ("uuid", "timestamp", "date_modified")


def results(name: str, index: int) -> list[dict[str, Any]]:
    return exchanges("kobotoolbox", name)[index]["response"]["body"]["results"]


def unedited(row: dict[str, Any]) -> dict[str, Any]:
    """A bulk-edited submission as it was before: the fields written gone, the old version's ids back."""
    old = {k: v for k, v in row.items() if k not in ("coprod_flags", "not_in_form", "meta/deprecatedID")}
    old["meta/instanceID"] = row["meta/deprecatedID"]
    old["_uuid"] = row["meta/deprecatedID"].removeprefix("uuid:")
    return old


def placeholder(sid: int, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """A submission whose answers no recording shows in full: its ids as recorded, when they are."""
    row = {"_id": sid, "_validation_status": {}, **(known or {})}
    row.setdefault("_uuid", f"00000000-0000-0000-0000-{sid:012d}")
    row.setdefault("meta/rootUuid", f"uuid:{row['_uuid']}")
    row.setdefault("meta/instanceID", f"uuid:{row['_uuid']}")
    return row


def session_form(extra: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """The session form's 25 submissions before any edit, as full as the recordings show them."""
    rows: dict[int, dict[str, Any]] = {}
    for index in (0, 1, 6):  # 5-9, 15-19, 25-29
        rows.update({r["_id"]: r for r in results("data_listing", index)})
    rows.update({r["_id"]: unedited(r) for r in results("edits_bulk", 5) if r["_id"] in (10, 11)})
    known = {r["_id"]: r for r in results("edits_validation_status", 5)}  # 13, 14: ids only
    root_20 = results("hooks", 12)[0]["root_uuid"]  # edited in hooks.json
    known[20] = {"_uuid": root_20, "meta/rootUuid": f"uuid:{root_20}"}
    for sid in (*range(5, 30), *extra):
        rows.setdefault(
            sid, placeholder(sid, {k: v for k, v in known.get(sid, {}).items() if k != "_validation_status"})
        )
    return [copy.deepcopy(rows[sid]) for sid in sorted(rows)]


def recorded_history() -> list[dict[str, Any]]:
    """The session form's history as the probe recorded it, oldest first: 14 modify-submission
    entries (the newest 5 as recorded, 9 older ones of that day in their shape) and the delete."""
    newest = results("probe_incremental", 10)  # newest first
    older = []
    for n in range(len(newest), 14):
        entry = copy.deepcopy(newest[-1])
        entry["metadata"]["submission"] = {
            "root_uuid": f"00000000-0000-4000-8000-{n:012d}",
            "submitted_by": "alice",
        }
        entry["date_created"] = f"2026-12-03T16:01:{n:02d}Z"
        older.append(entry)
    return [*older, *reversed(newest), *results("probe_incremental", 16)]


def seeded(
    rsps: responses.RequestsMock | None,
    *,
    viewer: bool = False,
    extra: tuple[int, ...] = (),
    history: bool = False,
) -> FakeKobo:
    fake = FakeKobo(rsps, server=KOBO, tokens=dict(TOKENS))
    fake.assets[SESSION_FORM] = session_form(extra)
    fake.content[SESSION_FORM] = exchanges("kobotoolbox", "asset_detail")[0]["response"]["body"]["content"]
    registration = results("data_listing", 8)
    fake.assets[REGISTRATION_FORM] = copy.deepcopy(registration) + [placeholder(sid) for sid in (32, 33, 34)]
    first = {r["_id"]: r for r in results("data_listing", 9)}
    fake.assets[BIG_FORM] = [placeholder(sid, first.get(sid)) for sid in range(35, 1036)]
    if viewer:
        fake.viewers[SESSION_FORM] = {"bob"}
    if history:
        fake.history[SESSION_FORM] = recorded_history()
    return fake


def send(exchange: dict[str, Any], rename: Callable[[str], str] = str) -> requests.Response:
    request = exchange["request"]
    query = f"?{urlencode(request['query'])}" if request.get("query") else ""
    body = request.get("body")
    return requests.request(
        request["method"],
        rename(f"{KOBO}{request['path']}{query}"),
        headers=request.get("headers") or {},
        data=json.dumps(body) if body is not None else None,
    )


def comparable(value: Any, trimmed: dict[str, Any] | None = None) -> Any:
    """The answer with what changes from run to run replaced by its type."""
    if isinstance(value, list):
        items = [comparable(v) for v in value]
        return (
            sorted(items, key=json.dumps)
            if all(isinstance(v, dict) and "codename" in v for v in value)
            else items
        )
    if not isinstance(value, dict):
        return value
    out = {}
    edited = "meta/deprecatedID" in value
    for key, v in value.items():
        if key in ALWAYS_NEW or (edited and key in NEW_VERSION) or (key == "asset" and isinstance(v, int)):
            out[key] = f"<{type(v).__name__}>"
        elif key not in ("results_trimmed", "permissions"):
            out[key] = comparable(v)
    return out


def answer(response: requests.Response) -> dict[str, Any]:
    kind = response.headers.get("Content-Type", "").split(";")[0] if response.text else ""  # 204: none
    body: Any = response.json() if kind == "application/json" and response.text else response.text
    return {
        "status": response.status_code,
        "type": kind,
        "body": body,
        "location": "Location" in response.headers,
    }


def fit(recorded: dict[str, Any], fake: dict[str, Any], exchange: dict[str, Any]) -> dict[str, Any]:
    """The fake's answer cut to what the recording kept (trimmed listings and bodies)."""
    rec_body, fake_body = recorded["body"], fake["body"]
    if isinstance(rec_body, dict) and isinstance(fake_body, dict):
        if "results_trimmed" in rec_body:
            fake_body = {**fake_body, "results": fake_body["results"][: len(rec_body["results"])]}
        if exchange["response"].get("body_trimmed"):
            fake_body = {k: v for k, v in fake_body.items() if k in rec_body}
    if isinstance(rec_body, str) and rec_body.startswith("<HTML page"):
        fake_body = rec_body if fake_body.lstrip().lower().startswith("<!doctype html") else fake_body
    return {**fake, "body": fake_body}


SCENARIOS: dict[str, tuple[str, tuple[int, ...], dict[str, Any]]] = {
    "listings: default page, start/limit, cap at 1000, limit=0, fields, sort, the connector's queries": (
        "data_listing",
        tuple(range(10)),
        {},
    ),
    "bulk edit: success, every id missing, one id missing, a field not in the form, the result": (
        "edits_bulk",
        tuple(range(6)),
        {},
    ),
    "bulk validation statuses: set, read, approve, clear, a missing id, an unknown uid, no uid": (
        "edits_validation_status",
        (4, 5, 6, 7, 8, 9, 10, 11, 13),
        {},
    ),
    "refusals: wrong token, no token, unknown form, a form not shared with the account": (
        "errors",
        tuple(range(8)),
        {},
    ),
    "a view-only account: reads, may not write, sees no REST Services nor the history": (
        "errors",
        (9, 10, 11, 12, 13, 15, 16),
        {"viewer": True, "extra": (1037,)},
    ),
    "history: every edit, one unquoted time (nothing), quoted (with or without Z), by day, deletes": (
        "probe_incremental",
        (10, 11, 16, 18, 19, 20, 21),
        {"history": True},
    ),
    "REST Services: list, create, update, read, a private and a non-http address, delete": (
        "hooks",
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13),
        {},
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_fake_answers_the_recorded_requests_as_kpi_did(scenario: str) -> None:
    name, indexes, setup = SCENARIOS[scenario]
    chosen = [exchanges("kobotoolbox", name)[i] for i in indexes]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        r = replay(mock, "kobotoolbox", [name], KOBO)
        recorded = [answer(send(e)) for e in chosen]
        assert r.unmatched == [], "the requests were not sent as recorded"

    uids: dict[str, str] = {}  # the recording's REST Service uid -> the fake's

    def rename(text: str) -> str:
        for theirs, ours in uids.items():
            text = text.replace(theirs, ours)
        return text

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        seeded(mock, **setup)
        for exchange, expected in zip(chosen, recorded, strict=True):
            got = answer(send(exchange, rename))
            if got["status"] == 201 and isinstance(got["body"], dict) and "uid" in got["body"]:
                uids[expected["body"]["uid"]] = got["body"]["uid"]
            got = fit(expected, json.loads(_unrename(json.dumps(got), uids)), exchange)
            request = exchange["request"]
            where = f"{request['method']} {request['path']} {json.dumps(request.get('query') or request.get('body'))}"
            assert {**got, "body": comparable(got["body"])} == {
                **expected,
                "body": comparable(expected["body"]),
            }, where


def _unrename(text: str, uids: dict[str, str]) -> str:
    for theirs, ours in uids.items():
        text = text.replace(ours, theirs)
    return text


def test_the_fake_serves_as_the_replays_fallback_and_the_gap_is_still_named() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = seeded(None)
        r = replay(mock, "kobotoolbox", ["edits_bulk"], KOBO)
        r.fallback = fake.answer
        url = f"{KOBO}/api/v2/assets/{SESSION_FORM}/data/bulk/"
        body = {"payload": {"submission_ids": [12], "data": {"coprod_flags": "Note: x"}}}
        got = requests.patch(url, json=body, headers={"Authorization": "Token <KOBO_TOKEN>"})
    assert got.status_code == 200 and got.json()["results"][0]["status_code"] == 201
    assert r.unmatched == [f"PATCH {url} {json.dumps(body, sort_keys=True)}"]


# ------------------------------------------------------------------------- kpi's own rules
HOOKS = f"{KOBO}/api/v2/assets/{SESSION_FORM}/hooks/"
OWNER = {"Authorization": "Token <KOBO_TOKEN>"}


def recorded_hook_body() -> dict[str, Any]:
    """The connector's REST Service body, as recorded (hooks.json, exchange 1)."""
    return copy.deepcopy(exchanges("kobotoolbox", "hooks")[1]["request"]["body"])


def test_a_rest_service_kpi_would_refuse_is_a_400_naming_the_field_and_unknown_keys_are_not_kept() -> None:
    """Old fake: it stored any body (no name, an export type kpi lacks) and echoed back keys kpi's
    HookSerializer ignores (``uid``, an unknown name), so a connector comparing on those passed."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = seeded(mock)
        body = recorded_hook_body()
        for key, value, said in (
            ("name", None, {"name": ["This field is required."]}),
            ("name", "", {"name": ["This field may not be blank."]}),
            ("export_type", "csv", {"export_type": ['"csv" is not a valid choice.']}),
            ("auth_level", "token", {"auth_level": ['"token" is not a valid choice.']}),
        ):
            wrong = {k: v for k, v in body.items() if k != key} if value is None else {**body, key: value}
            got = requests.post(HOOKS, json=wrong, headers=OWNER)
            assert (got.status_code, got.json()) == (400, said)
        assert fake.hooks[SESSION_FORM] == []
        made = requests.post(HOOKS, json={**body, "uid": "hMine", "secret_sauce": 1}, headers=OWNER).json()
        assert made["uid"] != "hMine" and "secret_sauce" not in made
        patched = requests.patch(f"{HOOKS}{made['uid']}/", json={"auth_level": "oauth"}, headers=OWNER)
        assert (patched.status_code, patched.json()) == (
            400,
            {"auth_level": ['"oauth" is not a valid choice.']},
        )
        kept = requests.patch(f"{HOOKS}{made['uid']}/", json={"active": False, "count": 9}, headers=OWNER)
        assert kept.json()["active"] is False and "count" not in kept.json()


@pytest.mark.parametrize(
    ("header", "status", "detail"),
    [
        ("Bearer <KOBO_TOKEN>", 404, "Not found."),
        ("Basic YWxpY2U6d3Jvbmc=", 401, "Invalid username/password."),
        ("token <KOBO_TOKEN>", 200, None),
        ("Token", 401, "Invalid token header. No credentials provided."),
        ("Token a b", 401, "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_the_authorization_header_is_read_as_django_rest_framework_reads_it(
    header: str, status: int, detail: str | None
) -> None:
    """Old fake: any header not starting "Token " exactly was a 401 "Invalid token."; kpi treats
    another scheme as no credential at all (a private form: 404) and the word Token in any case."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        seeded(mock)
        got = requests.get(f"{KOBO}/api/v2/assets/{SESSION_FORM}/", headers={"Authorization": header})
    assert got.status_code == status
    if detail is not None:
        assert got.json() == {"detail": detail}


def test_a_listing_parameter_kpi_cannot_read_is_a_400_naming_it() -> None:
    """Old fake: a query, sort or fields that is not JSON, or a negative start, raised inside the
    fake (or was taken) instead of kpi's 400 (validate_submission_list_params)."""
    data = f"{KOBO}/api/v2/assets/{SESSION_FORM}/data/"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        seeded(mock)
        for params, said in (
            ({"query": '{"_id": {"$gt": 5}'}, {"query": "Value must be valid JSON."}),
            ({"sort": "_id"}, {"sort": "Value must be valid JSON."}),
            ({"fields": "_id,_uuid"}, {"fields": "Value must be valid JSON."}),
            ({"start": "-5"}, {"start": "A positive integer is required."}),
        ):
            got = requests.get(data, params={"format": "json", **params}, headers=OWNER)
            assert (got.status_code, got.json()) == (400, said), params


def test_a_bulk_payload_kpi_refuses_is_a_400_and_changes_nothing_while_ids_as_text_are_read_as_numbers() -> (
    None
):
    """Old fake: an empty ``data`` made a new version of every submission named, and a payload
    without ids raised inside the fake; kpi's DataBulkActionsValidator refuses both, and reads
    ``"7"`` as 7."""
    bulk = f"{KOBO}/api/v2/assets/{SESSION_FORM}/data/bulk/"
    statuses = f"{KOBO}/api/v2/assets/{SESSION_FORM}/data/validation_statuses/"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = seeded(mock)
        before = copy.deepcopy(fake.assets[SESSION_FORM])
        for url, body, said in (
            (bulk, {"submission_ids": [7], "data": {}}, "`data` is required"),
            (
                bulk,
                {"submission_ids": [], "data": {"coprod_flags": "x"}},
                "`submission_ids` must contain at least one value",
            ),
            (
                bulk,
                {"submission_ids": ["seven"], "data": {"coprod_flags": "x"}},
                "`submission_ids` must only contain integer values",
            ),
            (bulk, {"data": {"coprod_flags": "x"}}, "Confirmation is required"),
            (statuses, {"submission_ids": []}, "`submission_ids` must contain at least one value"),
        ):
            got = requests.patch(url, json={"payload": body}, headers=OWNER)
            assert (got.status_code, got.json()) == (400, {"payload": [said]}), body
        assert fake.assets[SESSION_FORM] == before
        as_text = {"submission_ids": ["7"], "data": {"coprod_flags": "x"}}
        got = requests.patch(bulk, json={"payload": as_text}, headers=OWNER)
        assert got.status_code == 200 and got.json()["successes"] == 1
        assert fake.by_id(SESSION_FORM, 7)["coprod_flags"] == "x"
