"""Every route of the webhook app and every bad input the issue names, through Flask's test client."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from coprod.webhook_app import create_app
from fakes.webhooks import (
    CIVI_NOTICE,
    KOBO_ONLY_SECRET,
    KOBO_SECRET_HEADER,
    NOT_A_SIGNING_SECRET,
    PERSON,
    SECRET,
    SECRET_ENV,
    SHEETS_NOTICE,
    SUBMISSION,
    Delivery,
    assert_every_line_is_a_log_line,
    checked,
    delivery,
    logs_show_no_secret,  # noqa: F401 - the fixture every test here uses
    make_app,
    signed_headers,
    wait_until_answering,
    write_recipe,
)

pytestmark = pytest.mark.usefixtures("logs_show_no_secret")


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_signed(client: FlaskClient, platform: str, payload: object, **kw: object) -> object:
    body = json.dumps(payload).encode()
    return client.post(
        f"/hooks/{platform}/youth-panel",
        data=body,
        content_type="application/json",
        headers=signed_headers(body, **kw),
    )


def backlog(client: FlaskClient) -> int:
    return client.get("/readyz").json["backlog"]


# health ----------------------------------------------------------------------------------------


def test_healthz_answers_while_the_process_is_alive(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok"}


def test_readyz_reports_the_inbox_backlog_and_the_age_of_the_oldest_event(client: FlaskClient) -> None:
    empty = client.get("/readyz")
    assert empty.status_code == 200
    assert empty.json == {"status": "ready", "backlog": 0, "retrying": 0, "oldest_pending_age_seconds": None}
    client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
    ready = client.get("/readyz").json
    assert ready["backlog"] == 1 and ready["oldest_pending_age_seconds"] >= 0


def test_readyz_is_503_when_the_state_store_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    client = make_app(tmp_path, state_path=blocker / "state.sqlite").test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json == {"status": "unavailable", "reason": "state store unreachable"}


# KoboToolbox -----------------------------------------------------------------------------------


def test_kobo_delivery_with_the_secret_header_is_accepted_with_202(client: FlaskClient) -> None:
    answer = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
    assert answer.status_code == 202 and answer.json["status"] == "accepted"
    assert backlog(client) == 1


def test_kobo_delivery_with_basic_auth_is_accepted(client: FlaskClient) -> None:
    token = base64.b64encode(f"coprod:{SECRET}".encode()).decode()
    answer = client.post(
        "/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers={"Authorization": f"Basic {token}"}
    )
    assert answer.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Coprod-Secret": "wrong"},
        {"X-Coprod-Secret": SECRET[:-1]},
        {"Authorization": "Basic " + base64.b64encode(b"coprod:wrong").decode()},
    ],
    ids=["missing", "wrong", "truncated", "wrong-basic-password"],
)
def test_kobo_delivery_without_the_right_secret_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    answer = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=headers)
    assert answer.status_code == 401
    assert backlog(client) == 0


def test_kobo_resend_of_the_same_submission_is_200_and_recorded_once(client: FlaskClient) -> None:
    first = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
    again = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json == {"status": "duplicate"}
    assert backlog(client) == 1


def test_kobo_submission_without_root_uuid_is_400_naming_the_field(client: FlaskClient) -> None:
    body = {k: v for k, v in SUBMISSION.items() if k != "meta/rootUuid"}
    answer = client.post("/hooks/kobotoolbox/youth-panel", json=body, headers=KOBO_SECRET_HEADER)
    assert answer.status_code == 400 and "meta/rootUuid" in answer.json["error"]


@pytest.mark.parametrize(
    ("platform", "payload", "reason"),
    [
        ("kobotoolbox", {k: v for k, v in SUBMISSION.items() if k != "meta/rootUuid"}, "meta/rootUuid"),
        ("sheets", {**SHEETS_NOTICE, "row": 0}, "row"),
        ("civicrm", {"entity": "Contact", "id": 1}, "action"),
    ],
)
def test_an_authenticated_delivery_coprod_cannot_use_is_logged_as_refused_saying_why(
    client: FlaskClient, platform: str, payload: dict, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # recipes/deploy: journalctl shows coprod.webhook_app's lines "for deliveries accepted and
    # refused". A KoboToolbox REST Service sending a subset of fields (or a custom wrapper) was
    # answered 400 with no line of coprod's: only the access log's "400".
    with caplog.at_level(logging.INFO, logger="coprod.webhook_app"):
        if platform == "kobotoolbox":
            answer = client.post("/hooks/kobotoolbox/youth-panel", json=payload, headers=KOBO_SECRET_HEADER)
        else:
            answer = post_signed(client, platform, payload)

    assert answer.status_code == 400
    (line,) = [r.getMessage() for r in caplog.records if r.name == "coprod.webhook_app"]
    assert line == f"{platform} delivery for recipe youth-panel refused: {answer.json['error']}"
    assert reason in line and PERSON not in caplog.text


def test_an_unauthenticated_malformed_delivery_adds_no_line_of_its_own(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="coprod.webhook_app"):
        answer = client.post(
            "/hooks/sheets/youth-panel", data=b"{", content_type="application/json", headers={"x": "y"}
        )
    assert answer.status_code == 401
    assert [r.getMessage() for r in caplog.records if r.name == "coprod.webhook_app"] == [
        "sheets delivery for recipe youth-panel refused: bad signature"
    ]


@pytest.mark.parametrize(
    "body",
    [f'{{"participant/name": "{PERSON}",'.encode(), f'["{PERSON}"]'.encode(), b"\xff\xfe" + PERSON.encode()],
    ids=["broken", "array", "not-utf8"],
)
def test_kobo_malformed_json_is_400_with_a_short_reason(client: FlaskClient, body: bytes) -> None:
    answer = client.post(
        "/hooks/kobotoolbox/youth-panel",
        data=body,
        content_type="application/json",
        headers=KOBO_SECRET_HEADER,
    )
    assert answer.status_code == 400
    assert answer.json["error"] in ("the body is not valid JSON", "the body must be a JSON object")


NESTED_100000_DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
"""600 KB, under the size limit: Python's JSON parser recurses once per level and gives up."""


@pytest.mark.parametrize("platform", ["kobotoolbox", "sheets", "civicrm"])
def test_an_authenticated_body_nested_100000_deep_is_400_not_a_server_error(
    client: FlaskClient, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = NESTED_100000_DEEP
    headers = KOBO_SECRET_HEADER if platform == "kobotoolbox" else signed_headers(body)
    answer = client.post(
        f"/hooks/{platform}/youth-panel", data=body, content_type="application/json", headers=headers
    )
    assert answer.status_code == 400 and answer.json == {"error": "the body is nested too deeply"}
    assert "RecursionError" not in caplog.text and "unexpected" not in caplog.text
    assert backlog(client) == 0


def test_a_body_that_is_not_json_is_415(client: FlaskClient) -> None:
    answer = client.post(
        "/hooks/kobotoolbox/youth-panel", data=f"name={PERSON}", content_type="application/x-www-form-urlencoded",
        headers=KOBO_SECRET_HEADER,
    )  # fmt: skip
    assert answer.status_code == 415


MiB = 1024 * 1024
PLATFORMS = ["kobotoolbox", "sheets", "civicrm"]


def post(client: FlaskClient, sent: Delivery, encoding: str) -> TestResponse:
    """POST with a Content-Length, or chunked: without one, the body de-chunked by the server, which
    says so with ``wsgi.input_terminated`` (as gunicorn and werkzeug's own server do)."""
    if encoding == "content-length":
        return client.post(sent.path, data=sent.body, headers=sent.headers)
    return client.post(
        sent.path,
        input_stream=io.BytesIO(sent.body),
        headers={**sent.headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("encoding", ["content-length", "chunked"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_over_one_mebibyte_is_413_before_its_signature_or_secret_is_checked(
    client: FlaskClient, platform: str, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = post(client, delivery(platform, size=MiB + 1), encoding)
    assert answer.status_code == 413 and answer.json == {"error": "the body is larger than 1 MiB"}
    assert "refused" not in caplog.text, "the limit comes before authentication"
    assert backlog(client) == 0


@pytest.mark.parametrize("encoding", ["content-length", "chunked"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_of_exactly_one_mebibyte_is_accepted(
    client: FlaskClient, platform: str, encoding: str
) -> None:
    answer = post(client, delivery(platform, size=MiB), encoding)
    assert answer.status_code == 202 and backlog(client) == 1


class ClientWentAway(io.BytesIO):
    """A request body that breaks off, as gunicorn's reader does (NoMoreData, an OSError)."""

    def read(self, size: int | None = -1) -> bytes:
        raise OSError("no more data")


def test_a_chunked_body_cut_short_is_400_without_a_traceback(client: FlaskClient) -> None:
    sent = delivery("sheets")
    answer = client.post(
        sent.path,
        input_stream=ClientWentAway(),
        headers={**sent.headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert answer.status_code == 400 and answer.json == {"error": "the body could not be read"}


def test_a_chunked_body_the_server_did_not_decode_is_411_not_a_bad_signature(client: FlaskClient) -> None:
    sent = delivery("sheets")
    answer = client.post(
        sent.path,
        input_stream=io.BytesIO(sent.body),
        headers={**sent.headers, "Transfer-Encoding": "chunked"},
    )
    assert answer.status_code == 411 and answer.json == {"error": "send the body with a Content-Length"}


def test_an_unknown_recipe_is_404(client: FlaskClient) -> None:
    for platform in ("kobotoolbox", "sheets", "civicrm"):
        answer = client.post(f"/hooks/{platform}/no-such-recipe", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
        assert answer.status_code == 404 and answer.json == {"error": "unknown recipe"}


def test_a_recipe_whose_secret_variable_is_unset_refuses_deliveries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(tmp_path, env={}).test_client()
    caplog.set_level(logging.WARNING, logger="coprod")
    answer = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers={"X-Coprod-Secret": ""})
    assert answer.status_code == 404 and "not set up" in answer.json["error"]
    # the operator's log names the variable to set (a name, never a value)
    assert f"refused: its secret variable {SECRET_ENV} is not set" in caplog.text


def test_a_recipe_with_no_webhook_section_says_so_in_the_log_when_it_refuses_a_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The CiviCRM README says to delete [webhook] unless the webhook app is set up; a delivery to such
    # a recipe was logged "its secret variable is not set", naming no variable the recipe has.
    recipe = write_recipe(tmp_path / "r")
    text = recipe.read_text(encoding="utf-8")
    recipe.write_text(re.sub(r"\[webhook\]\n[^\[]*", "", text), encoding="utf-8")
    assert "[webhook]" not in recipe.read_text(encoding="utf-8")
    app = make_app(tmp_path, recipes={"youth-panel": recipe})
    caplog.set_level(logging.WARNING, logger="coprod")
    answer = post_signed(app.test_client(), "civicrm", CIVI_NOTICE)
    assert answer.status_code == 404 and answer.json == {"error": "webhooks are not set up for this recipe"}  # type: ignore[attr-defined]
    assert "refused: the recipe has no [webhook] section (secret_env)" in caplog.text


def test_a_recipe_can_name_its_own_secret_header(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "r")
    recipe.write_text(recipe.read_text() + 'header = "X-Kobo-Hook-Key"\n')
    app = checked(
        create_app(
            {
                "recipes": [recipe],
                "state_path": tmp_path / "s.sqlite",
                "env": {SECRET_ENV: SECRET},
                "worker_thread": False,
            }
        )
    )
    client = app.test_client()
    assert (
        client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER).status_code
        == 401
    )
    ok = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers={"X-Kobo-Hook-Key": SECRET})
    assert ok.status_code == 202


def test_get_on_a_hook_is_405_as_json(client: FlaskClient) -> None:
    answer = client.get("/hooks/kobotoolbox/youth-panel")
    assert answer.status_code == 405 and answer.json == {"error": "method not allowed"}


# Standard Webhooks: Sheets and CiviCRM ---------------------------------------------------------


@pytest.mark.parametrize(("platform", "payload"), [("sheets", SHEETS_NOTICE), ("civicrm", CIVI_NOTICE)])
def test_signed_delivery_is_accepted_and_a_resend_is_200(
    client: FlaskClient, platform: str, payload: dict
) -> None:
    first = post_signed(client, platform, payload, msg_id="msg_1")
    again = post_signed(client, platform, payload, msg_id="msg_1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert backlog(client) == 1


@pytest.mark.parametrize("platform", ["sheets", "civicrm"])
def test_unsigned_or_wrongly_signed_delivery_is_401(client: FlaskClient, platform: str) -> None:
    body = json.dumps(CIVI_NOTICE if platform == "civicrm" else SHEETS_NOTICE).encode()
    url = f"/hooks/{platform}/youth-panel"
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    attempts = [
        {},
        signed_headers(body, secret=other),
        {**signed_headers(body), "webhook-signature": "v1,not-base64!"},
        {**signed_headers(body), "webhook-signature": "garbage"},
        {**signed_headers(body), "webhook-id": "msg_other"},
        KOBO_SECRET_HEADER,
    ]
    for headers in attempts:
        answer = client.post(url, data=body, content_type="application/json", headers=headers)
        assert answer.status_code == 401, headers
    tampered = client.post(
        url, data=body + b" ", content_type="application/json", headers=signed_headers(body)
    )
    assert tampered.status_code == 401
    assert backlog(client) == 0


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_timestamp_outside_five_minutes_is_401(client: FlaskClient, minutes: int) -> None:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    answer = post_signed(client, "sheets", SHEETS_NOTICE, at=at)
    assert answer.status_code == 401 and "5-minute" in answer.json["error"]


def test_a_timestamp_four_minutes_old_is_still_accepted(client: FlaskClient) -> None:
    at = datetime.now(UTC) - timedelta(minutes=4)
    assert post_signed(client, "sheets", SHEETS_NOTICE, at=at).status_code == 202


def test_signed_but_malformed_json_is_400(client: FlaskClient) -> None:
    body = f'{{"entity": "Contact", "display_name": "{PERSON}",'.encode()
    answer = client.post(
        "/hooks/civicrm/youth-panel", data=body, content_type="application/json", headers=signed_headers(body)
    )
    assert answer.status_code == 400 and answer.json == {"error": "the body is not valid JSON"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"entity": "Contact", "id": "forty-two", "action": "edit"}, "id"),
        ({"entity": "Contact; DROP", "id": 1, "action": "edit"}, "entity"),
        ({"entity": "Contact", "id": 1}, "action"),
    ],
)
def test_civicrm_notice_is_validated_field_by_field(client: FlaskClient, payload: dict, field: str) -> None:
    answer = post_signed(client, "civicrm", payload)
    assert answer.status_code == 400 and field in answer.json["error"]
    assert "forty-two" not in answer.json["error"] and "DROP" not in answer.json["error"]


def test_sheets_notice_needs_a_row_number(client: FlaskClient) -> None:
    answer = post_signed(client, "sheets", {**SHEETS_NOTICE, "row": 0})
    assert answer.status_code == 400 and "row" in answer.json["error"]


def test_signed_delivery_with_the_wrong_content_type_is_415(client: FlaskClient) -> None:
    body = json.dumps(CIVI_NOTICE).encode()
    answer = client.post(
        "/hooks/civicrm/youth-panel", data=body, content_type="text/plain", headers=signed_headers(body)
    )
    assert answer.status_code == 415


def test_a_secret_that_is_not_a_signing_secret_is_a_server_error_without_the_secret(tmp_path: Path) -> None:
    client = make_app(tmp_path, env={SECRET_ENV: NOT_A_SIGNING_SECRET}).test_client()
    answer = post_signed(client, "sheets", SHEETS_NOTICE)
    assert answer.status_code == 500 and "%%%" not in answer.text


# nothing leaks ---------------------------------------------------------------------------------


def test_no_secret_or_personal_data_in_answers_logs_or_the_inbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path)
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        answers = [
            client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER),
            client.post(
                "/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers={"X-Coprod-Secret": PERSON}
            ),
            client.post(
                "/hooks/kobotoolbox/youth-panel",
                json={"participant/name": PERSON},
                headers=KOBO_SECRET_HEADER,
            ),
        ]
    assert [a.status_code for a in answers] == [202, 401, 400]
    text = " ".join(a.text for a in answers) + caplog.text
    assert SECRET not in text and PERSON not in text and "Traceback" not in text
    files = sorted(tmp_path.glob("state*"))  # the inbox, its WAL and shared memory
    assert tmp_path / "state-inbox.sqlite" in files
    stored = b"".join(p.read_bytes() for p in files)
    assert SUBMISSION["meta/rootUuid"].encode() in stored, "the identifier itself is kept"
    assert PERSON.encode() not in stored and b"asian" not in stored
    [event] = app.extensions["coprod_webhook"].inbox.events()
    assert event["delivery_id"] == SUBMISSION["meta/rootUuid"] and event["subject"] == "submission 345"
    assert len(event["body_sha256"]) == 64


def test_an_unexpected_error_is_a_short_500_without_traceback(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{PERSON} could not be stored")

    monkeypatch.setattr(app.extensions["coprod_webhook"].inbox, "record", broken)
    with caplog.at_level(logging.DEBUG):
        answer = client.post("/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER)
    assert answer.status_code == 500 and answer.json == {"error": "server error"}
    assert PERSON not in caplog.text and "Traceback" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_the_app_never_runs_with_debug_even_when_asked_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = make_app(tmp_path)
    assert app.debug is False and app.config["DEBUG"] is False


# settings --------------------------------------------------------------------------------------


def test_settings_come_from_the_environment_when_none_are_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(tmp_path / "recipes" / "youth")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_RECIPES", str(tmp_path / "recipes"))
    monkeypatch.setenv("COPROD_STATE", str(tmp_path / "inbox.sqlite"))
    monkeypatch.setenv("COPROD_WEBHOOK_WORKER", "off")
    (tmp_path / ".env").write_text(f"{SECRET_ENV}={SECRET}\n")
    app = checked(create_app())
    settings = app.extensions["coprod_webhook"].settings
    assert list(settings.recipes) == ["youth-panel"] and settings.worker_thread is False
    assert settings.state_path == tmp_path / "inbox.sqlite"
    assert SECRET not in repr(settings)
    answer = app.test_client().post(
        "/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER
    )
    assert answer.status_code == 202


def app_on_folder(recipes: Path, state: Path) -> Flask:
    """The app for a folder of recipes (the test recipe's secret set), its worker thread off."""
    settings = {"recipes": recipes, "state_path": state, "env": {SECRET_ENV: SECRET}, "worker_thread": False}
    return checked(create_app(settings))


def test_a_broken_recipe_in_the_folder_is_skipped_and_the_others_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_recipe(tmp_path / "recipes" / "good")
    (tmp_path / "recipes" / "bad").mkdir()
    (tmp_path / "recipes" / "bad" / "recipe.toml").write_text("name = [broken")
    app = app_on_folder(tmp_path / "recipes", tmp_path / "s.sqlite")
    assert list(app.extensions["coprod_webhook"].settings.recipes) == ["youth-panel"]
    assert "bad" in caplog.text and "webhooks are off" in caplog.text


def test_a_recipe_whose_dotenv_cannot_be_read_has_its_hooks_off_said_by_line_never_by_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_recipe(tmp_path / "recipes" / "good")
    write_recipe(tmp_path / "recipes" / "other", name="other-panel")
    (tmp_path / "recipes" / "other" / ".env").write_text('OTHER_SECRET="s3cr3t-value\n')
    app = app_on_folder(tmp_path / "recipes", tmp_path / "s.sqlite")
    assert list(app.extensions["coprod_webhook"].settings.recipes) == ["youth-panel"]
    assert "other/.env: line 1: not read as NAME=value" in caplog.text and "webhooks are off" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_settings_from_a_working_folder_dotenv_that_cannot_be_read_are_refused_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coprod.webhook_app.settings import SettingsError, WebhookSettings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"COPROD_RECIPES=recipes\nCOPROD_STATE=\xff\xfes3cr3t\n")
    with pytest.raises(SettingsError) as error:
        WebhookSettings.from_env({})
    assert ".env: line 2: not UTF-8 text" in str(error.value) and "s3cr3t" not in str(error.value)


def test_settings_from_a_working_folder_dotenv_that_is_a_folder_are_refused_naming_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COPROD_STATE or COPROD_RECIPES put "in .env" must not be passed over because .env is a folder:
    the app would then run on the defaults (another state store) without a word."""
    from coprod.webhook_app.settings import SettingsError, WebhookSettings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").mkdir()
    (tmp_path / ".env" / "COPROD_STATE").write_text("postgresql://coprod:s3cr3t@db/coprod\n")
    for settings in (
        lambda: WebhookSettings.from_env({}),
        lambda: WebhookSettings.from_mapping({"recipes": [], "env": {}}),  # COPROD_STATE looked up there
    ):
        with pytest.raises(SettingsError) as error:
            settings()
        assert f"{tmp_path / '.env'}: a folder, not a file" in str(error.value)
        assert "s3cr3t" not in str(error.value)


def test_kobo_deliveries_use_the_secret_and_header_the_kobotoolbox_source_installed(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "r")
    text = recipe.read_text().replace(
        'connector = "files"',
        'connector = "kobotoolbox"\nhook_endpoint = "https://coprod.ourcharity.org.uk/hooks/kobotoolbox/youth-panel"\n'
        'hook_secret_env = "KOBO_HOOK"\nhook_header = "X-Kobo-Hook"',
    )
    recipe.write_text(text)
    env = {SECRET_ENV: SECRET, "KOBO_HOOK": KOBO_ONLY_SECRET}
    app = checked(
        create_app(
            {"recipes": [recipe], "state_path": tmp_path / "s.sqlite", "env": env, "worker_thread": False}
        )
    )
    client = app.test_client()
    url = "/hooks/kobotoolbox/youth-panel"
    assert client.post(url, json=SUBMISSION, headers=KOBO_SECRET_HEADER).status_code == 401
    assert client.post(url, json=SUBMISSION, headers={"X-Kobo-Hook": KOBO_ONLY_SECRET}).status_code == 202
    assert post_signed(client, "sheets", SHEETS_NOTICE).status_code == 202, (
        "signed routes keep [webhook]'s secret"
    )


# coprod serve ----------------------------------------------------------------------------------

COPROD_SERVE = """
import sys
from coprod.webhook_app.cli import serve
sys.exit(serve(port=int(sys.argv[1])))
"""


def test_coprod_serve_answers_on_the_local_port_and_records_deliveries(tmp_path: Path) -> None:
    write_recipe(tmp_path / "recipes" / "youth")
    env = {
        **os.environ,
        "COPROD_RECIPES": str(tmp_path / "recipes"),
        "COPROD_STATE": str(tmp_path / "state.sqlite"),
        SECRET_ENV: SECRET,
    }
    # Port 0: the system gives the server a free port as it binds, and werkzeug logs which one. A
    # port found free by the test and let go could be taken by anything else before the server
    # bound it.
    proc = subprocess.Popen(
        [sys.executable, "-c", COPROD_SERVE, "0"], cwd=tmp_path, env=env, stderr=subprocess.PIPE
    )
    head: list[str] = []
    try:
        for line in iter(proc.stderr.readline, b""):
            head.append(line.decode())
            if found := re.search(r"Running on (http://127\.0\.0\.1:\d+)", head[-1]):
                url = found[1]
                break
        else:
            raise AssertionError(f"coprod serve ended before serving: {''.join(head)}")
        wait_until_answering(url, proc)
        answer = requests.post(
            f"{url}/hooks/kobotoolbox/youth-panel", json=SUBMISSION, headers=KOBO_SECRET_HEADER, timeout=5
        )
        assert answer.status_code == 202
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert (tmp_path / "state-inbox.sqlite").exists()
    log = "".join(head) + stderr.decode()
    assert_every_line_is_a_log_line(log)
    assert "] INFO coprod.webhook_app: kobotoolbox delivery for recipe youth-panel accepted as event 1" in log
    assert SECRET not in log and PERSON not in log and "Traceback" not in log
    assert "<U+001B>" not in log and "\x1b" not in log, "werkzeug's lines written plain, not coloured"
    # its banner's lines are its own, each with the prefix: not one line with "\n" written in it
    assert re.search(r"\] INFO werkzeug: +\* Running on http://127\.0\.0\.1:\d+$", log, re.MULTILINE), log
    assert "\\n" not in log


def test_coprod_serve_without_recipes_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from coprod.webhook_app.cli import serve

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPROD_RECIPES", str(tmp_path))
    assert serve() == 2
    assert "COPROD_RECIPES" in capsys.readouterr().err


def test_COPROD_RECIPES_typed_with_spaces_after_its_separators_gives_the_app_every_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`alpha/recipe.toml: beta` (a space after the ':', as in a list) with a ':' left at the end: the
    app took ' beta', a path that is not there, and served alpha alone, while coprod status, reading
    the same variable, stripped the spaces and gave both (config.path_list now serves both)."""
    from coprod.webhook_app.settings import WebhookSettings
    from fakes import demo_copy

    monkeypatch.chdir(tmp_path)
    alpha = demo_copy(tmp_path / "alpha", "alpha") / "recipe.toml"
    beta = demo_copy(tmp_path / "beta", "beta")
    env = {
        "COPROD_RECIPES": f"{alpha}{os.pathsep} {beta} {os.pathsep}",
        "COPROD_STATE": str(tmp_path / "state.sqlite"),
    }

    assert sorted(WebhookSettings.from_env(env).recipes) == ["alpha", "beta"]

    missing = tmp_path / "gamma"  # a folder named wrongly: the app says so by its path, and goes on
    with caplog.at_level(logging.WARNING):
        settings = WebhookSettings.from_env({**env, "COPROD_RECIPES": f"{alpha}{os.pathsep}{missing}"})
    assert sorted(settings.recipes) == ["alpha"]
    assert f"no recipe at {missing} (COPROD_RECIPES names a recipe file, its folder" in caplog.text
    assert "FileNotFoundError" not in caplog.text


@pytest.mark.parametrize(
    ("value", "waits"), [("1", True), ("yes", True), ("0", False), ("", False), ("off", False)]
)
def test_COPROD_WEBHOOK_FSYNC_is_read_as_on_or_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, waits: bool
) -> None:
    from coprod.webhook_app.settings import WebhookSettings

    monkeypatch.chdir(tmp_path)
    env = {"COPROD_RECIPES": str(tmp_path), "COPROD_STATE": str(tmp_path / "state.sqlite")}
    assert WebhookSettings.from_env({**env, "COPROD_WEBHOOK_FSYNC": value}).fsync_each_receipt is waits
