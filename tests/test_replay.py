"""The replay harness serves what the real servers answered, matched by request, not by order."""

from __future__ import annotations

import json

import requests
import responses

from fakes.replay import recording, replay

KOBO = "http://127.0.0.1:8000"
ASSET = "ai5m376DRLqCktdRoqUysb"
CIVI = "http://civicrm.test/civicrm/ajax/api4"


@responses.activate
def test_kobotoolbox_answers_are_matched_by_credentials_and_json_query_not_order() -> None:
    r = replay(responses.mock, "kobotoolbox", ["errors", "data_listing"], KOBO)
    url = f"{KOBO}/api/v2/assets/{ASSET}/data/"
    # no token first, though the recording has the wrong token first: 404, as kpi answers
    no_token = requests.get(url, params={"format": "json", "limit": "1"})
    wrong = requests.get(
        url, params={"format": "json", "limit": "1"}, headers={"Authorization": "Token <WRONG_TOKEN>"}
    )
    assert (no_token.status_code, no_token.json()) == (404, {"detail": "Not found."})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    assert r.unmatched == []


@responses.activate
def test_a_request_the_recording_lacks_is_named_and_answered_599() -> None:
    r = replay(responses.mock, "kobotoolbox", ["errors"], KOBO)
    answer = requests.get(f"{KOBO}/api/v2/assets/nowhere/", headers={"Authorization": "Token x"})
    assert answer.status_code == 599
    assert r.unmatched == [f"GET {KOBO}/api/v2/assets/nowhere/"]


@responses.activate
def test_civicrm_params_are_compared_as_json_and_x_requested_with_counts() -> None:
    r = replay(responses.mock, "civicrm", ["error_no_x_requested_with"], CIVI)
    proof = recording("civicrm", "error_no_x_requested_with")["exchanges"][0]["request"]
    reordered = json.dumps(dict(reversed(list(proof["params"].items()))))
    answer = requests.post(
        f"{CIVI}/Contact/get",
        data={"params": reordered},
        headers={k: v for k, v in proof["headers"].items() if k != "Content-Type"},
    )
    assert answer.status_code == 200  # a valid X-Civi-Auth key without X-Requested-With is accepted
    assert answer.json()["values"] == [{"id": 2}]
    assert r.unmatched == []
    assert r.served[0]["request"] == proof
