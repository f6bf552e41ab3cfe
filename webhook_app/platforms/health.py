"""``GET /healthz`` (the process answers) and ``GET /readyz`` (the inbox can be used, and its backlog)."""

from __future__ import annotations

import logging
import sqlite3

from flask import Blueprint, Response, jsonify

from coprod.state import StoreUnavailable
from coprod.webhook_app.receipt import runtime

log = logging.getLogger("coprod.webhook_app")

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        backlog = runtime().inbox.backlog()
    except (sqlite3.Error, OSError, StoreUnavailable) as exc:
        log.error("state store unreachable (%s)", type(exc).__name__)
        return jsonify(status="unavailable", reason="state store unreachable"), 503
    return (
        jsonify(
            status="ready",
            backlog=backlog.pending,
            retrying=backlog.retrying,
            oldest_pending_age_seconds=backlog.oldest_pending_age,
        ),
        200,
    )
