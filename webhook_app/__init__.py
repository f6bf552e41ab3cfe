"""The webhook app: a new response is checked and its flags are back in the tool within seconds.

``create_app(settings)`` builds a Flask app (Flask's factory pattern: no module-level state, tests
build their own). Deliveries are verified, validated, recorded in the inbox and answered 202 at
once; a worker re-checks the recipe afterwards. Served by gunicorn in production, with the
settings in ``gunicorn_conf`` (threads, and a deadline for slow clients)::

    gunicorn -c python:coprod.webhook_app.gunicorn_conf
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from coprod.live import forget_all
from coprod.state import StoreUnavailable
from coprod.webhook_app.inbox import Inbox
from coprod.webhook_app.receipt import Refused, authenticated_sender
from coprod.webhook_app.settings import RecipeHook, WebhookSettings, coerce_settings
from coprod.webhook_app.worker import Bodies, Worker, run_worker

__all__ = ["RecipeHook", "WebhookSettings", "create_app", "run_worker", "serve"]

log = logging.getLogger("coprod.webhook_app")


@dataclass
class Runtime:
    """What the app's routes share, kept on ``app.extensions`` rather than in module globals."""

    settings: WebhookSettings
    inbox: Inbox
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    pid: int = 0
    bodies: Bodies = field(default_factory=Bodies)
    """What deliveries carried, for the worker thread of this process (memory only)."""

    def ensure_worker(self) -> None:
        """Start the worker thread in this process (again after a fork: threads don't survive one)."""
        if not self.settings.worker_thread:
            return
        if self.thread is not None and self.thread.is_alive() and self.pid == os.getpid():
            return
        # its own connection: its checkpoints and claims never hold the receipts' lock
        worker = Worker(
            self.settings,
            Inbox.open(self.settings.inbox_location, self.settings.fsync_each_receipt),
            self.bodies,
        )
        self.thread = threading.Thread(
            target=worker.run, args=(self.stop, self.wake), name="coprod-worker", daemon=True
        )
        self.pid = os.getpid()
        self.thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.wake.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(timeout)
        forget_all()  # the datasets its worker held: nothing of them outlives the app


def _register_error_handlers(app: Flask) -> None:
    """Every error is a short JSON answer: no traceback, no secret, no echo of the body."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        if isinstance(exc, Refused):
            reason = exc.description
            sender = authenticated_sender()
            if sender is not None and code == 400:
                # the reason names fields, never their values (receipt.validate)
                log.warning("%s delivery for recipe %s refused: %s", *sender, reason)
        elif code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 2**10:g} KiB"
            reason = f"the body is larger than {size}"
        else:
            reason = exc.name.lower()  # werkzeug's own long explanations are meant for browsers
        return jsonify(error=reason), code

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> tuple[Response, int]:
        # the database is down or unreachable: the platform sends the delivery again later
        log.error("state store unavailable: %s", exc)
        return jsonify(error="state store unavailable, send again later"), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.error("unexpected %s while answering a request", type(exc).__name__)
        return jsonify(error="server error"), 500


def create_app(settings: WebhookSettings | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``settings``: a WebhookSettings, a mapping (see ``WebhookSettings.from_mapping``),
    or None to read ``COPROD_RECIPES``, ``COPROD_STATE`` and ``COPROD_WEBHOOK_WORKER`` from the
    environment and ``.env``.
    """
    from coprod.webhook_app.platforms import civicrm, health, kobotoolbox, sheets

    resolved = coerce_settings(settings)
    app = Flask(__name__)
    app.config.update(
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=resolved.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    app.debug = False
    inbox = Inbox.open(resolved.inbox_location, resolved.fsync_each_receipt, for_receipts=True)
    runtime = Runtime(settings=resolved, inbox=inbox)
    app.extensions["coprod_webhook"] = runtime
    for bp in (kobotoolbox.bp, sheets.bp, civicrm.bp, health.bp):
        app.register_blueprint(bp)
    _register_error_handlers(app)
    app.before_request(runtime.ensure_worker)
    runtime.ensure_worker()
    log.info(
        "webhook app ready for %d recipe(s): %s", len(resolved.recipes), ", ".join(sorted(resolved.recipes))
    )
    return app


def serve(
    settings: WebhookSettings | Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """``coprod serve``: the app on werkzeug's threaded server, for local use (never with debug).

    In production run gunicorn instead (see README) and put TLS in front (recipes/deploy/).
    """
    from werkzeug.serving import run_simple

    app = create_app(settings)
    try:
        run_simple(host, port, app, use_debugger=False, use_reloader=False, threaded=True)
    finally:
        app.extensions["coprod_webhook"].shutdown()
