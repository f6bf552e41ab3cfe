"""The Apps Script in recipes/google-sheets signs exactly as the webhook app verifies.

The script runs under node with small stand-ins for the Apps Script services it uses. The stand-ins
keep Apps Script's Java semantics where signing could go wrong: byte arrays hold signed bytes
(-128..127) and a value outside that range is refused, as Java's byte[] conversion would. The
captured request is then verified in Python with the ``standardwebhooks`` library and by the app.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from coprod.connectors.sheets_notice import notice_in
from coprod.webhook_app import create_app

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "google-sheets" / "coprod_trigger.gs"

HARNESS = r"""
const crypto = require('crypto');
const fs = require('fs');
const vm = require('vm');
const input = JSON.parse(process.argv[process.argv.length - 1]);

const toJava = (buf) => Array.from(buf, (b) => (b > 127 ? b - 256 : b));
const fromJava = (arr, what) => {
  if (!Array.isArray(arr) || arr.some((b) => !Number.isInteger(b) || b < -128 || b > 127)) {
    throw new Error(what + ' is not a Java byte[]');
  }
  return Buffer.from(arr.map((b) => b & 0xff));
};
const requests = [];
const logs = [];
const codes = input.codes.slice();
const bodies = (input.bodies || []).slice();
const Utilities = {
  Charset: { UTF_8: 'UTF_8' },
  base64Decode: (s) => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error('Could not decode string.');
    return toJava(Buffer.from(s, 'base64'));
  },
  base64Encode: (data) => fromJava(data, 'base64Encode data').toString('base64'),
  computeHmacSha256Signature: (value, key) => {
    if (typeof value === 'string' && typeof key === 'string') {
      return toJava(crypto.createHmac('sha256', Buffer.from(key)).update(Buffer.from(value)).digest());
    }
    const k = fromJava(key, 'key');
    return toJava(crypto.createHmac('sha256', k).update(fromJava(value, 'value')).digest());
  },
  newBlob: (text) => ({ getBytes: () => toJava(Buffer.from(text, 'utf8')) }),
  getUuid: () => crypto.randomUUID(),
  sleep: () => {},
};
const PropertiesService = {
  getScriptProperties: () => ({ getProperty: (k) => (k in input.properties ? input.properties[k] : null) }),
};
const UrlFetchApp = {
  fetch: (url, options) => {
    requests.push({
      url,
      method: options.method,
      contentType: options.contentType,
      headers: options.headers,
      payload: fromJava(options.payload, 'payload').toString('base64'),
    });
    const code = codes.length ? codes.shift() : 202;
    const text = bodies.length ? bodies.shift() : '{}';
    return { getResponseCode: () => code, getContentText: () => text };
  },
};
const consoleStub = { warn: (m) => logs.push(String(m)), log: (m) => logs.push(String(m)) };
const context = vm.createContext({ Utilities, PropertiesService, UrlFetchApp, console: consoleStub, JSON, Math, Date, String, Error });
vm.runInContext(fs.readFileSync(input.script, 'utf8'), context, { filename: 'coprod_trigger.gs' });
const event = {
  namedValues: { 'Your name': ['Sam'] },
  range: {
    getRow: () => input.row,
    getSheet: () => ({ getName: () => input.sheet, getParent: () => ({ getId: () => 'sheet-123' }) }),
  },
};
let result = null;
let error = null;
try {
  result = context.coprodOnFormSubmit(event);
} catch (e) {
  error = e.message;
}
process.stdout.write(JSON.stringify({ requests, result, error, logs }));
"""

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
URL = "https://coprod.example.org/hooks/sheets/youth-panel"

# Skipped on a developer's machine without node; never in CI (CI=true), where a missing node must fail
# loudly rather than leave the Apps Script's signing unproven.
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None and not os.environ.get("CI"), reason="node is not installed"
)


def run_script(
    *,
    properties: dict[str, str] | None = None,
    codes: list[int] | None = None,
    bodies: list[str] | None = None,
    sheet: str = "Form responses 1",
) -> dict[str, Any]:
    """Run the trigger on a form submission; the webhook app answers ``codes`` with ``bodies``."""
    props = {"COPROD_WEBHOOK_URL": URL, "COPROD_WEBHOOK_SECRET": SECRET} if properties is None else properties
    payload = {
        "script": str(SCRIPT),
        "properties": props,
        "codes": codes or [],
        "bodies": bodies or [],
        "row": 12,
        "sheet": sheet,
    }
    done = subprocess.run(
        ["node", "-e", HARNESS, json.dumps(payload)], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def test_the_scripts_signature_is_verified_by_standardwebhooks() -> None:
    out = run_script()
    assert out["error"] is None and out["result"] == 202
    [request] = out["requests"]
    assert (
        request["url"] == URL and request["method"] == "post" and request["contentType"] == "application/json"
    )
    assert request["headers"]["webhook-id"].startswith("msg_")
    assert request["headers"]["webhook-signature"].startswith("v1,")
    body = base64.b64decode(request["payload"])
    parsed = Webhook(SECRET).verify(body, request["headers"])
    assert parsed == {
        "type": "sheets.form_submit",
        "spreadsheet_id": "sheet-123",
        "sheet": "Form responses 1",
        "row": 12,
    }


def test_the_script_sends_where_the_row_is_but_never_the_answers() -> None:
    body = base64.b64decode(run_script()["requests"][0]["payload"])
    assert b"Sam" not in body and b"Your name" not in body


def test_a_non_ascii_tab_name_is_sent_as_ascii_escapes_and_arrives_unchanged() -> None:
    name = "Réponses — été 2026 🙂"
    request = run_script(sheet=name)["requests"][0]
    body = base64.b64decode(request["payload"])
    assert body.isascii(), "the signed bytes must not depend on how Apps Script encodes text"
    assert Webhook(SECRET).verify(body, request["headers"])["sheet"] == name


def test_a_changed_body_or_another_secret_fails_verification() -> None:
    request = run_script()["requests"][0]
    body = base64.b64decode(request["payload"])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"12", b"13"), request["headers"])
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, request["headers"])


def youth_panel_app(tmp_path: Path) -> Any:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        'name = "youth-panel"\n[sources.main]\nconnector = "files"\n'
        '[entities.people]\nsource = "main"\nfields = { id = "ID", roles = "Role" }\n'
        '[entities.sessions]\nsource = "main"\nfields = { id = "ID", date = "D", hours = "H", kind = "K" }\n'
        '[entities.attendance]\nsource = "main"\nfields = { person_id = "P", session_id = "S" }\n'
        '[[projects]]\nid = "p1"\nname = "Youth panel"\n[webhook]\nsecret_env = "YP_SECRET"\n',
        encoding="utf-8",
    )
    return create_app(
        {
            "recipes": {"youth-panel": recipe},
            "state_path": tmp_path / "state.sqlite",
            "env": {"YP_SECRET": SECRET},
            "worker_thread": False,
        }
    )


def test_the_app_accepts_the_scripts_request(tmp_path: Path) -> None:
    app = youth_panel_app(tmp_path)
    request = run_script()["requests"][0]
    client = app.test_client()
    sent = {"data": base64.b64decode(request["payload"]), "headers": request["headers"]}
    answer = client.post("/hooks/sheets/youth-panel", content_type=request["contentType"], **sent)
    assert answer.status_code == 202
    again = client.post("/hooks/sheets/youth-panel", content_type=request["contentType"], **sent)
    assert again.status_code == 200 and again.json == {"status": "duplicate"}
    # what a worker running apart gets back from the inbox: the row and the tab, not the sheet's id
    [event] = app.extensions["coprod_webhook"].inbox.events()
    assert "sheet-123" not in event["subject"]
    assert notice_in(event["subject"], "sheet-123") == {
        "type": "sheets.form_submit",
        "spreadsheet_id": "sheet-123",
        "sheet": "Form responses 1",
        "row": 12,
    }


def test_a_busy_server_is_retried_with_the_same_webhook_id() -> None:
    out = run_script(codes=[503, 202])
    first, second = out["requests"]
    assert out["result"] == 202
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]


def test_a_refusal_is_not_retried_and_is_logged_without_the_secret() -> None:
    out = run_script(codes=[401])
    assert len(out["requests"]) == 1 and out["result"] == 401
    assert any("HTTP 401" in line for line in out["logs"])
    assert not any(SECRET in line for line in out["logs"])


def test_missing_script_properties_stop_with_a_clear_message() -> None:
    out = run_script(properties={})
    assert out["requests"] == []
    assert "COPROD_WEBHOOK_URL" in out["error"] and "Script Properties" in out["error"]


def app_refusal(tmp_path: Path, *, age: int = 0, secret: str = SECRET, recipe: str = "youth-panel") -> str:
    """What the real app answers to a notice sent ``age`` seconds ago, signed with ``secret``."""
    body = json.dumps({"type": "sheets.form_submit", "spreadsheet_id": "s", "sheet": "Form", "row": 2})
    sent = datetime.now(tz=UTC) - timedelta(seconds=age)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", sent, body),
    }
    answer = (
        youth_panel_app(tmp_path)
        .test_client()
        .post(f"/hooks/sheets/{recipe}", data=body, headers=headers, content_type="application/json")
    )
    assert answer.status_code in (401, 404), answer.status_code
    return answer.get_data(as_text=True)


def test_a_stale_timestamp_is_put_down_to_the_servers_clock_not_the_url_or_secret(tmp_path: Path) -> None:
    # The script stamps each notice with Google's clock, which is right: a notice the app calls
    # stale means the server's clock is off. "Check the URL and secret" sent staff the wrong way.
    refusal = app_refusal(tmp_path, age=600)

    out = run_script(codes=[401], bodies=[refusal])

    (line,) = out["logs"]
    assert "HTTP 401" in line and "clock" in line and "timedatectl set-ntp true" in line
    assert "The URL and secret are fine" in line
    assert SECRET not in line


def test_a_bad_signature_points_to_the_secret_in_both_places(tmp_path: Path) -> None:
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    refusal = app_refusal(tmp_path, secret=other)

    (line,) = run_script(codes=[401], bodies=[refusal])["logs"]

    assert "the signature does not match" in line and "COPROD_WEBHOOK_SECRET" in line and "clock" not in line
    assert SECRET not in line and other not in line


def test_an_unknown_recipe_points_to_the_url_and_the_recipes_name(tmp_path: Path) -> None:
    refusal = app_refusal(tmp_path, recipe="youth-panl")

    (line,) = run_script(codes=[404], bodies=[refusal])["logs"]

    assert "no recipe of that name on the server" in line and "name = line of recipe.toml" in line


INSTALL_HARNESS = r"""
const fs = require('fs');
const vm = require('vm');
const input = JSON.parse(process.argv[process.argv.length - 1]);
const logs = [];
const triggers = input.handlers.map((h) => ({ getHandlerFunction: () => h }));
const created = [];
const builder = (handler) => ({
  forSpreadsheet: () => ({ onFormSubmit: () => ({ create: () => created.push(handler) }) }),
});
const context = vm.createContext({
  PropertiesService: {
    getScriptProperties: () => ({ getProperty: (k) => (k in input.properties ? input.properties[k] : null) }),
  },
  SpreadsheetApp: { getActiveSpreadsheet: () => ({}) },
  ScriptApp: { getProjectTriggers: () => triggers, newTrigger: builder },
  console: { log: (m) => logs.push(String(m)), warn: (m) => logs.push(String(m)) },
  JSON, Math, Date, String, Error,
});
vm.runInContext(fs.readFileSync(input.script, 'utf8'), context, { filename: 'coprod_trigger.gs' });
context.installCoprodTrigger();
process.stdout.write(JSON.stringify({ logs, created }));
"""


def run_install(handlers: list[str]) -> dict[str, Any]:
    """``installCoprodTrigger`` run from the editor, with these triggers already in the project."""
    payload = {
        "script": str(SCRIPT),
        "properties": {"COPROD_WEBHOOK_URL": URL, "COPROD_WEBHOOK_SECRET": SECRET},
        "handlers": handlers,
    }
    done = subprocess.run(
        ["node", "-e", INSTALL_HARNESS, json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def test_installing_the_trigger_says_so_in_the_editors_log_as_the_readme_promises() -> None:
    # The editor's execution log shows what a script logs, never what it returns: the README's
    # "The log says ..." was true only of the return value, so the log stayed silent.
    readme = (SCRIPT.parent / "README.md").read_text(encoding="utf-8")
    promised = readme.split('The log says "')[1].split('"')[0]

    first = run_install([])
    again = run_install(["coprodOnFormSubmit"])

    assert first == {"logs": [promised], "created": ["coprodOnFormSubmit"]}
    assert again == {"logs": ["coprod trigger was already installed"], "created": []}
