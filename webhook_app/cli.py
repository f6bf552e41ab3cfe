"""What ``coprod serve`` and ``coprod worker`` call: settings from the environment, clean stops.

Both return an exit code for the CLI: 0 after a clean stop, 2 when the settings are unusable (the
message says which variable or file to fix), and the state store's own code when it cannot be
opened (3: a PostgreSQL server that cannot be reached; 2: a store a newer coprod wrote), with its
message, as ``coprod sync`` and ``coprod migrate`` say it: never "something unexpected" and a
stack trace for a database that is down.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from coprod.webhook_app.settings import NO_RECIPES, SettingsError, WebhookSettings

log = logging.getLogger("coprod.webhook_app")


def _settings() -> WebhookSettings | None:
    try:
        settings = WebhookSettings.from_env()
    except SettingsError as exc:
        print(f"coprod: {exc}", file=sys.stderr)
        return None
    if not settings.recipes:
        print(f"coprod: {NO_RECIPES}", file=sys.stderr)
        return None
    return settings


def _logging() -> None:
    from coprod.webhook_app import logs

    logs.configure()  # the lines look as they do under gunicorn


def _store_refused(exc: Exception) -> int:
    print(f"coprod: {exc}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 2))


def serve(host: str = "127.0.0.1", port: int = 8080) -> int:
    """Run the app on werkzeug's threaded server for local use, with its worker thread."""
    from coprod.state_commands import PROBLEMS
    from coprod.webhook_app import serve as run_server

    _logging()
    settings = _settings()
    if settings is None:
        return 2
    try:
        run_server(settings, host=host, port=port)
    except PROBLEMS as exc:
        return _store_refused(exc)
    return 0


def worker() -> int:
    """Process the inbox until SIGTERM or Ctrl-C; a re-check in progress finishes first."""
    from coprod.state_commands import PROBLEMS
    from coprod.webhook_app.worker import run_worker

    _logging()
    settings = _settings()
    if settings is None:
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        log.info("stopping after the current re-check")
        stop.set()

    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_worker(settings, stop)
    except PROBLEMS as exc:
        return _store_refused(exc)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
