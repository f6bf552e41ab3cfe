"""How the webhook app's processes log: one line per event, each with a time, the process id, a
level and the logger's name, for gunicorn's own lines and the app's alike.

Under gunicorn the app's loggers had no handler, so Python's last-resort handler printed their
warnings as bare messages and dropped their INFO lines ("accepted as event 12"). ``LOGGING`` is a
``logging.config.dictConfig`` dictionary: gunicorn applies it as ``logconfig_dict``
(``gunicorn_conf``), and ``coprod serve`` and ``coprod worker`` apply it through ``configure()``.
The format is gunicorn's own (time with its offset, ``[pid]``, level) with the logger's name added.

coprod's loggers (``coprod.*``) log from INFO; other libraries only their warnings and errors.
Access lines (``gunicorn.access``) hold the request line, status, size and duration: not the
client's address or user agent, which are personal data (nor does gunicorn's warning about a
request it could not parse: ``WithoutClientAddress``). No line ever holds a secret, a name or
an answer: the app logs ids, counts and the kinds of errors. Nor can a value in a line (a URL's
path, a recipe's file name, an error a platform sent) start a line of its own or send the terminal
an escape sequence: its unseen characters are shown (``coprod.log_lines``).
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

from coprod.log_lines import Lines, VisibleFormatter

PREFIX = "%(asctime)s [%(process)d] %(levelname)s %(name)s: "
FORMAT = PREFIX + "%(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
ACCESS_FORMAT = '"%(r)s" %(s)s %(B)s bytes %(D)s us'
"""gunicorn's access-log atoms: request line, status, response size, time taken in microseconds."""


class EveryLineFormatter(VisibleFormatter):
    """``FORMAT``, with the prefix repeated on every line of a message that has several (a
    traceback gunicorn logs, a format string of several lines), so that no line reaches the log
    without its time, level and logger, and a search for one line finds whose it is. A line break
    in a value (a URL, a file name) is shown as ``\\n`` (``VisibleFormatter``): it never makes a line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)  # sets record.asctime
        if "\n" not in text:
            return text
        first, *rest = text.split("\n")
        prefix = PREFIX % record.__dict__
        return "\n".join([first, *(prefix + line for line in rest)])


class WerkzeugLines(logging.Filter):
    """werkzeug's server (``coprod serve``) writes its own lines: a start-up banner of several lines
    (the development-server warning, " * Running on http://127.0.0.1:8080") as one message without
    arguments, and request lines, coloured with terminal escape sequences. The formatter shows every
    unseen character of a message without arguments, which made the banner one line with ``\\n``
    in it and the colours ``<U+001B>[33m``. Here the colours are taken out, with logging's own
    means rather than werkzeug's private ``_log_add_style`` (a library's private name can go in any
    release), and the banner's line breaks, which are werkzeug's and not a value's, are kept
    (:class:`~coprod.log_lines.Lines`: each line then gets the prefix)."""

    _SGR = re.compile("\x1b\\[[0-9;]*m")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        plain = self._SGR.sub("", text) if "\x1b" in text else text
        if not record.args:  # werkzeug's own text (the banner), with no value from a request
            record.msg, record.args = "%s", (Lines(plain),)
        elif plain is not text:  # a request line coloured: its values are still all shown
            record.msg, record.args = plain, None
        return True


class WithoutClientAddress(logging.Filter):
    """gunicorn writes the client's address into its warning about a request it could not parse
    ("Invalid request from ip=203.0.113.7: ..."), where coprod's access lines leave it out: an
    address is personal data. The warning stays (a malformed request is worth knowing about), with
    the address left out."""

    _ADDRESS = re.compile(r"^(Invalid request from ip=).*?(: )")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Invalid request from ip="):
            record.msg = self._ADDRESS.sub(r"\1(not logged)\2", record.getMessage(), count=1)
            record.args = None
        return True


LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "lines": {"class": f"{__name__}.EveryLineFormatter", "format": FORMAT, "datefmt": DATE_FORMAT}
    },
    "filters": {
        "werkzeug_lines": {"()": f"{__name__}.WerkzeugLines"},
        "without_client_address": {"()": f"{__name__}.WithoutClientAddress"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "lines", "stream": "ext://sys.stderr"}
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "coprod": {"level": "INFO"},
        # gunicorn sets their levels (--log-level) and would give them handlers of its own
        "gunicorn.error": {"handlers": ["stderr"], "propagate": False, "filters": ["without_client_address"]},
        "gunicorn.access": {"handlers": ["stderr"], "propagate": False},
        "werkzeug": {"filters": ["werkzeug_lines"]},  # coprod serve's server
    },
}


def configure() -> None:
    """Log as the app does under gunicorn (for ``coprod serve`` and ``coprod worker``)."""
    logging.config.dictConfig(LOGGING)
    logging.captureWarnings(True)  # a library's warning is a log line too, not a bare print
