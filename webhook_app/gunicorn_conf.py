"""gunicorn settings for the webhook app, the same for README, the systemd unit, the tests and the
benchmark::

    gunicorn -c python:coprod.webhook_app.gunicorn_conf

Options given on the command line win over these (``--bind 127.0.0.1:9000``, ``--workers 4``), and
an app given after the options replaces ``wsgi_app``.

Slow clients. Each process has a pool of threads, each taking a connection only when it is free
(``gunicorn_worker``), so a slow client holds one thread, never a process, and a connection
waiting in the queue is taken by whichever process has a thread free.
A client has ``REQUEST_SECONDS`` (10 s) to send its request (``gunicorn_worker``): two processes of
16 threads keep answering while 31 clients stall them, and more than that delay answers by 10 s at
most, not for as long as the clients like. In front, the TLS proxy (recipes/deploy/README.md) has
its own timeouts and absorbs the rest.

Start. The app is built by ``gunicorn_start.create_app_or_exit`` in each process, after
``gunicorn_start.on_starting`` checked in the arbiter that it can be: a state store that cannot be
reached is said in one line (no traceback, no password) and gunicorn exits 3 (README's code for
it), which systemd's ``Restart=on-failure`` restarts.

Logs. Every line, gunicorn's and the app's, goes to stderr (the journal, under systemd) with a
time, the process, a level and the logger's name, and the app's INFO lines show (``logs``). This
replaces ``--error-logfile`` and ``--access-logfile``: to keep a file, redirect stderr.

Plugins. pydantic would hand every value it validates to the plugins any installed package
registers, and the app validates every delivery (people's answers). Under gunicorn the ``coprod``
command, which turns them off (:mod:`coprod.command`), does not run: this file sets the same switch,
``PYDANTIC_DISABLE_PLUGINS=__all__`` unless it is already set, in the arbiter before any delivery
model is built (the app builds them in each process it forks, which inherits it).
"""

import logging
import os

from coprod.command import keep_pydantic_plugins_out

keep_pydantic_plugins_out(os.environ)

from coprod.webhook_app import gunicorn_start  # noqa: E402 (after the switch: see above)
from coprod.webhook_app.logs import ACCESS_FORMAT, LOGGING  # noqa: E402

wsgi_app = gunicorn_start.APP
on_starting = gunicorn_start.on_starting
"""Before listening or forking: the app's settings and state store can be used, or one line says why."""
bind = ["127.0.0.1:8000"]  # TLS and the public address are the proxy's job
workers = 2
worker_class = "coprod.webhook_app.gunicorn_worker.ThreadWorker"
threads = 16
keepalive = 0
"""Each connection carries one request: the platforms open one per delivery anyway (the worker
class answers one request per connection whatever this says)."""
timeout = 30
"""A process whose main loop is silent this long is restarted (requests have their own deadline)."""
graceful_timeout = 10
"""On stop or reload, requests in flight get this long to finish (a delivery takes milliseconds)."""
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
preload_app = False
"""Each process builds its own app: its own connection to the inbox, its own worker thread."""
control_socket_disable = True
"""gunicorn 24+ would otherwise open a control socket in the service user's home folder."""
logconfig_dict = LOGGING
access_log_format = ACCESS_FORMAT
logger_class = "coprod.webhook_app.access_log.AccessLogger"
"""gunicorn's logger, building only the values the access lines show (``access_log``)."""
logging.captureWarnings(True)  # a library's warning is a log line too, not a bare print
