"""The CiviCRM notify extension signs the way the webhook app verifies (Standard Webhooks).

PHP cannot run here, so this pins the extension's recipe for a signature, step by step, against the
``standardwebhooks`` library the webhook app uses: if either side changes scheme, this fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import tomllib
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

NOTIFY = Path(__file__).resolve().parent.parent / "recipes" / "civicrm" / "notify"
SECRET = "whsec_" + base64.b64encode(b"a-test-signing-secret-32-bytes!!").decode()


def sign_like_the_extension(msg_id: str, timestamp: str, body: str, secret: str) -> str:
    """The same steps as coprod_notify.php: strip whsec_, base64-decode, HMAC-SHA256 of id.ts.body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return (
        "v1,"
        + base64.b64encode(
            hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        ).decode()
    )


def test_the_extension_uses_the_standard_webhooks_headers_and_signed_content() -> None:
    php = (NOTIFY / "coprod_notify.php").read_text()
    for needle in (
        "'webhook-id' => $msgId",
        "'webhook-timestamp' => $timestamp",
        "'webhook-signature' => \"v1,$signature\"",
        "hash_hmac('sha256', \"$msgId.$timestamp.$body\", $secret, TRUE)",
        "preg_replace('/^whsec_/', ''",
        "function coprod_notify_civicrm_postCommit(",
    ):
        assert needle in php
    assert "'Activity'" not in php  # coprod's own flag activities must never trigger a notice


def test_a_notice_signed_as_the_extension_does_verifies_and_a_tampered_one_does_not() -> None:
    body = json.dumps({"entity": "Participant", "id": 123, "action": "create"})
    ts = str(int(time.time()))
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": ts,
        "webhook-signature": sign_like_the_extension("msg_1", ts, body, SECRET),
    }
    assert Webhook(SECRET).verify(body, headers) == {"entity": "Participant", "id": 123, "action": "create"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("123", "124"), headers)


def test_the_recipe_names_the_signing_secret_variable_the_readme_tells_staff_to_set() -> None:
    recipe = tomllib.loads((NOTIFY.parent / "recipe.toml").read_text())
    assert recipe["webhook"]["secret_env"] == "CIVICRM_WEBHOOK_SECRET"
    assert "CIVICRM_WEBHOOK_SECRET" in (NOTIFY.parent / "README.md").read_text()


def test_every_notice_the_real_extension_sent_is_accepted_and_an_update_action_is_not() -> None:
    """RECORDED.md 12: the extension sends CiviCRM's op names (create / edit / delete), and a
    GroupContact's id is the membership's, which the inbox says rather than calling it a contact."""
    from pydantic import ValidationError

    from coprod.webhook_app.platforms.civicrm import CiviNotice, describe
    from fakes.replay import recording

    bodies = [
        e["received_by_loopback_receiver"]["body"]
        for name in ("notify_webhook", "notify_webhook_other_entities")
        for e in recording("civicrm", name)["exchanges"]
        if "received_by_loopback_receiver" in e
    ]
    notices = [CiviNotice.model_validate(b) for b in bodies]
    assert {n.action for n in notices} == {"create", "edit", "delete"} and len(notices) == 10
    membership = next(n for n in notices if n.entity == "GroupContact")
    assert describe(membership) == "GroupContact membership 30 create"
    with pytest.raises(ValidationError):
        CiviNotice.model_validate({"entity": "Participant", "id": 33, "action": "update"})
    php = (NOTIFY / "coprod_notify.php").read_text()
    assert "create, edit" in php and "membership's id" in php
