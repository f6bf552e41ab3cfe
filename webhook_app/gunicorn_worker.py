"""gunicorn's threaded worker (``gthread``), with a deadline for each client to send its request.

gunicorn's sync workers give each connection the whole process: two clients sending their headers
a byte at a time stalled both workers until gunicorn killed them 30 s later, and ``/healthz``
waited as long. ``gthread`` hands each connection to one of a pool of threads, so one slow client
holds one thread, not the process. But a thread reading a request waits on the socket for as long
as the client keeps trickling bytes: enough slow clients would still hold every thread.

This worker closes a connection whose request has not been read and answered within
``REQUEST_SECONDS``. A delivery is a few kilobytes that the platforms send at once, so a sender
that needs longer is stuck or hostile; a slow client can hold a thread for that long at most. Should
the app itself take that long (the inbox busy), the delivery is still recorded; only the answer is
lost, and the sender's retry is recognised as a re-send.
A connection is closed by the thread that answered it. gunicorn closes in stages (it sends its
end, then waits up to 2 s for the client to hang up, so that a client still sending gets the whole
answer rather than a reset), and it did that on the process's main thread: meanwhile no connection
was accepted and no other finished one closed, so every delivery's answer waited behind the
previous client hanging up, and a client that never hung up stalled the process for 2 s.

Settings (threads, connections, timeouts) are in ``gunicorn_conf``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker  # type: ignore[import-untyped]

REQUEST_SECONDS = 10.0
"""From the moment a thread takes a connection until the answer is sent."""

CHECK_EVERY = 0.25

log = logging.getLogger("gunicorn.error")


class ThreadWorker(GunicornThreadWorker):
    """``gthread`` where a request that takes more than ``REQUEST_SECONDS`` loses its connection."""

    request_seconds = REQUEST_SECONDS

    def init_process(self) -> None:
        self._deadlines: dict[Any, float] = {}
        self._deadlines_lock = threading.Lock()
        # started here, in the worker process: threads do not survive gunicorn's fork
        threading.Thread(target=self._close_late_connections, name="coprod-deadlines", daemon=True).start()
        super().init_process()  # runs the worker's loop until it stops

    def handle(self, conn: Any) -> Any:
        """gunicorn calls this in a pool thread to read one request on ``conn`` and answer it."""
        with self._deadlines_lock:
            self._deadlines[conn] = time.monotonic() + self.request_seconds
        try:
            result = super().handle(conn)
        finally:
            with self._deadlines_lock:
                self._deadlines.pop(conn, None)
        if not result:  # answered and not kept alive: close it here, not on the main thread
            conn.close(graceful=True)
            conn.coprod_closed = True
        return result

    def finish_request(self, conn: Any, fs: Any) -> None:
        """gunicorn calls this on the main thread once ``handle`` has returned."""
        if getattr(conn, "coprod_closed", False):
            self.nr_conns -= 1  # what gunicorn does for a closed connection
            return
        super().finish_request(conn, fs)

    def _close_late_connections(self) -> None:
        while True:
            time.sleep(CHECK_EVERY)
            now = time.monotonic()
            with self._deadlines_lock:  # held, so handle() cannot return and gunicorn close it meanwhile
                late = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
                for conn in late:
                    self._deadlines[conn] = float("inf")  # once; handle() forgets it when it returns
                    # Shutting the socket down wakes the thread blocked reading it (the read returns
                    # nothing, as when a client hangs up), and gunicorn then closes the connection.
                    with contextlib.suppress(OSError):  # the client has gone already
                        conn.sock.shutdown(socket.SHUT_RDWR)
            if late:
                log.warning(
                    "closed %d connection(s) whose request took longer than %g s",
                    len(late),
                    self.request_seconds,
                )
