"""gunicorn's worker for the webhook app: a pool of threads that each accept a connection and
answer it, with a deadline for each client to send its request.

gunicorn's sync workers give each connection the whole process: two clients sending their headers
a byte at a time stalled both workers until gunicorn killed them 30 s later, and ``/healthz``
waited as long. Here each of ``threads`` threads takes connections itself and answers them with
gunicorn's own request handling (``SyncWorker.handle``: parser, limits, WSGI, access line,
graceful close), so one slow client holds one thread, not the process. But a thread reading a
request waits on the socket for as long as the client keeps trickling bytes: enough slow clients
would still hold every thread.

So a connection whose request has not been read and answered within ``REQUEST_SECONDS`` is
closed. A delivery is a few kilobytes that the platforms send at once, so a sender that needs
longer is stuck or hostile; a slow client can hold a thread for that long at most. Should the app
itself take that long (the inbox busy), the delivery is still recorded; only the answer is lost,
and the sender's retry is recognised as a re-send.

Why not gunicorn's ``gthread``, which this worker used to extend: it passes every connection
through its main thread (accept, hand to the pool, then back through a pipe to be closed), and it
closed each connection there, waiting up to 2 s for the client to hang up while it accepted
nothing. That cost about 0.4 ms of CPU per request on top of the ~0.6 ms gunicorn and Flask need,
on the CPUs the database and the re-checks share, and made each answer wait behind the previous
client. Each thread here waits for connections on its own epoll set with ``EPOLLEXCLUSIVE``, so
the kernel wakes one thread per connection, and the main thread only tells the arbiter it is
alive and watches for signals. No keep-alive (``keepalive = 0``: a delivery is one request per
connection) and no HTTP/2 (the TLS proxy in front speaks HTTP/1.1 to the app).

Settings (threads, timeouts) are in ``gunicorn_conf``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import threading
import time

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.workers.sync import SyncWorker  # type: ignore[import-untyped]

REQUEST_SECONDS = 10.0
"""From the moment a thread takes a connection until the answer is sent."""

FIRST_BYTE_SECONDS = 5.0
"""A connection that sends nothing this long is closed (the rest of the request has the deadline)."""

CHECK_EVERY = 0.25

log = logging.getLogger("gunicorn.error")


EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", 0)
"""Linux 4.5+: of the threads waiting on a listener, one is woken per connection (not all)."""

SIGNAL_CHECK = 1.0
"""Seconds between the main thread's reports to the arbiter (its timeout is 30 s)."""


class ThreadWorker(SyncWorker):
    """``threads`` threads, each accepting and answering; a request that takes more than
    ``REQUEST_SECONDS`` loses its connection."""

    request_seconds = REQUEST_SECONDS
    alive: bool  # gunicorn's: False once the worker is told to stop

    def init_process(self) -> None:
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        # started here, in the worker process: threads do not survive gunicorn's fork
        threading.Thread(target=self._close_late_connections, name="coprod-deadlines", daemon=True).start()
        super().init_process()  # loads the app, then runs run() until the worker stops

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        for number in range(max(1, self.cfg.threads)):
            threading.Thread(target=self._serve, name=f"coprod-http-{number}", daemon=True).start()
        while self.alive and self.is_parent_alive():
            self.notify()
            woken, _, _ = select.select([self.PIPE[0]], [], [], SIGNAL_CHECK)  # a signal writes to PIPE
            if woken:
                with contextlib.suppress(OSError):
                    os.read(self.PIPE[0], 64)
        self.alive = False  # the threads take no new connection
        stop_by = time.monotonic() + self.cfg.graceful_timeout
        while self._deadlines and time.monotonic() < stop_by:  # requests in flight finish
            self.notify()
            time.sleep(0.05)

    def _serve(self) -> None:
        """One thread: wait for a connection on any listener, take it, answer it; until told to stop."""
        listeners = {listener.fileno(): listener for listener in self.sockets}
        ready = select.epoll()
        for fd in listeners:
            ready.register(fd, select.EPOLLIN | EXCLUSIVE)
        try:
            while self.alive:
                for fd, _ in ready.poll(SIGNAL_CHECK):
                    if self.alive:
                        self._accept(listeners[fd])
        finally:
            ready.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return  # another thread or process took it, or the client gave up
            raise
        client.setblocking(True)
        util.close_on_exec(client)
        # A second descriptor of the connection, for the deadline thread to shut it down with:
        # handle() closes the client's own, whose number the next connection may then be given.
        watch = client.dup()
        with self._deadlines_lock:
            self._deadlines[watch] = time.monotonic() + self.request_seconds
        try:
            waiting = select.poll()
            waiting.register(client, select.POLLIN)
            if waiting.poll(FIRST_BYTE_SECONDS * 1000):
                self.handle(listener, client, address)  # reads, answers, logs, closes gracefully
            else:
                client.close()  # sent nothing at all: as gunicorn's own workers do, without a word
        finally:
            with self._deadlines_lock:
                self._deadlines.pop(watch, None)
            watch.close()

    def _close_late_connections(self) -> None:
        while True:
            time.sleep(CHECK_EVERY)
            now = time.monotonic()
            with self._deadlines_lock:  # held, so a connection is not forgotten and closed meanwhile
                late = [watch for watch, deadline in self._deadlines.items() if deadline <= now]
                for watch in late:
                    self._deadlines[watch] = float("inf")  # once; _accept forgets it when done
                    # Shutting the socket down wakes the thread blocked reading it (the read returns
                    # nothing, as when a client hangs up), and gunicorn then closes the connection.
                    with contextlib.suppress(OSError):  # the client has gone already
                        watch.shutdown(socket.SHUT_RDWR)
            if late:
                log.warning(
                    "closed %d connection(s) whose request took longer than %g s",
                    len(late),
                    self.request_seconds,
                )
