"""The CiviCRM fake answers as the real server does where our tests lean on it."""

from __future__ import annotations

import json
from typing import Any

import requests
import responses

from fakes.civicrm import API_KEY, ENDPOINT, FakeCiviCRM


def _post(url: str, **kwargs: Any) -> requests.Response:
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {API_KEY}"}
    headers.update(kwargs.pop("headers", {}))
    return requests.post(url, headers=headers, **kwargs)


@responses.activate
def test_fake_ignores_a_json_body_and_returns_everything_as_civicrm_does() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    for i in range(3):
        fake.add("Contact", display_name=f"C{i}")
    answer = _post(f"{ENDPOINT}/Contact/get", json={"params": {"limit": 1}}).json()
    assert len(answer["values"]) == 3


@responses.activate
def test_fake_serves_an_anonymous_visitor_an_empty_list() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    fake.add("Contact", display_name="C")
    r = requests.post(
        f"{ENDPOINT}/Contact/get", headers={"X-Requested-With": "XMLHttpRequest"}, data={"params": "{}"}
    )
    assert r.status_code == 200 and r.json()["values"] == []


@responses.activate
def test_fake_save_with_match_updates_one_and_creates_when_none_match() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    body = {"records": [{"F.fp": "a", "subject": "one"}], "match": ["F.fp"]}
    _post(f"{ENDPOINT}/Activity/save", data={"params": json.dumps(body)})
    body["records"][0]["subject"] = "two"
    _post(f"{ENDPOINT}/Activity/save", data={"params": json.dumps(body)})
    assert [r["subject"] for r in fake.records["Activity"]] == ["two"]
