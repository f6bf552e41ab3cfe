"""Starting the webhook app under gunicorn: a state store that cannot be reached (or settings that
cannot be used) is said in one log line, never with a traceback or a password, and gunicorn
stops with a non-zero code, so that systemd (``Restart=on-failure``) starts it again until the
database answers.

gunicorn builds the app in each of its processes, after forking them (no preload: each process
opens its own connections). A process whose app raised while being built had its whole traceback
logged by gunicorn's arbiter ("Exception in worker process"), then the message printed bare,
once per process, beside coprod's own clear line. So the problems ``coprod serve`` and ``coprod
worker`` say in words (``STORE_PROBLEMS``, ``SettingsError``) are caught in two places:

- ``on_starting``, gunicorn's hook in the arbiter before it listens or forks: the settings are
  read and the inbox opened (its schema upgraded, as each process would) and closed again, so a
  problem is said once and gunicorn exits with coprod's own code (3 for a PostgreSQL server that
  cannot be reached, 2 for settings, no recipe found or a store a newer coprod wrote), as ``coprod
  serve`` does.
  Nothing is left open across the fork: the PostgreSQL inbox makes its pool on first use, and the
  SQLite inbox's connection is closed here.
- ``create_app_or_exit``, the app gunicorn builds in each process (``wsgi_app``): the same problem
  met later, when a process is replaced while the database is away, ends that process with
  gunicorn's "worker failed to boot" code (3) after the line; the arbiter then stops (exit 3)
  rather than start processes that cannot answer. Another code would make it start a new process
  in a loop, and an exception would bring the traceback back.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any, NoReturn

from flask import Flask

from coprod.state import STORE_PROBLEMS
from coprod.webhook_app.settings import SettingsError

log = logging.getLogger("coprod.webhook_app")

APP = "coprod.webhook_app.gunicorn_start:create_app_or_exit()"
"""The app gunicorn_conf names; another app given on gunicorn's command line is not checked here."""

WORKER_BOOT_ERROR = 3
"""gunicorn's code for a process that could not start (``Arbiter.WORKER_BOOT_ERROR``): the arbiter
stops on it instead of starting another process."""

PROBLEMS = (*STORE_PROBLEMS, SettingsError)


def _stop(exc: Exception, code: int) -> NoReturn:
    """One log line (gunicorn's format, so the journal's lines all look alike), then exit ``code``."""
    log.error("%s; the webhook app is not started (exit %d)", exc, code)
    for handler in logging.getLogger().handlers + log.handlers:
        handler.flush()
    sys.exit(code)


def on_starting(server: Any) -> None:
    """gunicorn's hook in the arbiter, before it listens or forks: can the app be built here?"""
    if getattr(server.app, "app_uri", APP) != APP:
        return  # an app of the operator's own choosing, with its own settings
    from coprod.webhook_app.inbox import Inbox
    from coprod.webhook_app.settings import NO_RECIPES, WebhookSettings

    try:
        settings = WebhookSettings.from_env()
        if not settings.recipes:
            raise SettingsError(NO_RECIPES)
        Inbox.open(settings.inbox_location, settings.fsync_each_receipt, for_receipts=True).close()
    except PROBLEMS as exc:
        _stop(exc, int(getattr(exc, "exit_code", 2)))


def create_app_or_exit() -> Flask:
    """``create_app()`` from the environment and ``.env``; a process that cannot build it says why in
    one line and exits with gunicorn's "worker failed to boot" code."""
    from coprod.webhook_app import create_app

    try:
        app = create_app()
    except PROBLEMS as exc:
        _stop(exc, WORKER_BOOT_ERROR)
    set_aside_what_lasts()
    return app


def set_aside_what_lasts() -> None:
    """Move everything the process has made so far (modules, classes, the app and its pools) out of
    the cycle collector's sight for good (``gc.freeze``), as the ``coprod`` command does after its
    imports (:mod:`coprod.command`).

    What a process has built before its first request lives as long as it does, yet each full
    collection walked all of it, about 60,000 objects, with every request thread of the process
    stopped meanwhile. In ``benchmarks/bench_postgres.py`` each app process made two full
    collections in 10,000 deliveries, each taking 100 to 300 ms on the shared machine: the
    deliveries in flight on that process waited that long. Frozen, the same collections took under
    1 ms (the benchmark's ack p99, set by two CPUs shared with the sender, the database and the
    workers, moved less than from one run to the next). Objects made later (one
    request's) are collected as before; frozen objects are still freed by reference counting.
    With ``COPROD_WEBHOOK_WORKER=thread`` the first re-check's collector pause
    (``coprod_core.collector``) puts them back in view: the deployment runs its workers apart.
    """
    gc.collect()  # what building the app left as garbage is freed now, not kept frozen
    gc.freeze()
