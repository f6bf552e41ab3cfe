"""Shared pieces for the webhook app tests (no tests here): a recipe, signed headers, an app."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from standardwebhooks.webhooks import Webhook

from webhook_app import create_app

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SECRET_ENV = "YOUTH_PANEL_WEBHOOK_SECRET"

RECIPE = """
name = "{name}"

[sources.platform]
connector = "{connector}"

[entities.people]
source = "platform"
fields = {{ id = "ID", roles = "Role" }}

[entities.sessions]
source = "platform"
fields = {{ id = "ID", project_id = "Project", date = "Date", hours = "Hours", kind = "Kind", decision_taken = "Decision taken", decision = "Decision" }}

[entities.attendance]
source = "platform"
fields = {{ person_id = "Person", session_id = "Session" }}

[[projects]]
id = "P1"
name = "Youth panel"
label = "consultation"

[webhook]
secret_env = "{secret_env}"
"""


def write_recipe(folder: Path, name: str = "youth-panel", connector: str = "files") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(RECIPE.format(name=name, connector=connector, secret_env=SECRET_ENV), encoding="utf-8")
    return path


def signed_headers(
    body: bytes, *, msg_id: str | None = None, at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed as a sender would."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


def make_app(
    tmp_path: Path,
    recheck: Callable[[str, Path], int | None] | None = None,
    connector: str = "files",
    **options: Any,
) -> Flask:
    recipe = write_recipe(tmp_path / "recipe", connector=connector)
    settings: dict[str, Any] = {
        "recipes": {"youth-panel": recipe},
        "state_path": tmp_path / "state.sqlite",
        "env": {SECRET_ENV: SECRET},
        "worker_thread": False,
        "recheck": recheck or (lambda name, path: 0),
    }
    settings.update(options)
    return create_app(settings)
