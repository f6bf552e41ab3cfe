"""Log lines that text from outside coprod cannot forge: the formatter of every log coprod writes.

Ids typed in a sheet, a recipe's source or file name, a KoboToolbox form's name, a CiviCRM error,
a URL path segment or a header reach log lines as the arguments of a message. Python's logging
writes them as they are: a line break in one starts a second line that looks like a log line of
its own (any time, level and logger it likes), and an escape sequence reaches the terminal of the
operator reading the log (clearing it, or hiding the lines before). ``VisibleFormatter`` shows
each such character as ``coprod_core.text.visible`` does (``\\n``, ``<U+001B>``) in the message's
arguments, and in a message that has none, before formatting: only coprod's own format strings,
a traceback (``exc_info``) and a stack (``stack_info``) make a message of several lines, and those
lines keep their breaks with any other unseen character in them shown.

It runs for every line (gunicorn's access line on every request), so the common case costs one
C-level ``str.isprintable`` pass over the message as logging made it: only a message with an
unseen character in it is made again with its arguments shown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from coprod_core.text import visible, visible_lines


class Lines(str):
    """An argument whose line breaks are meant, as a traceback's "File ..., line ..." lines the CLI
    logs with ``-v``: they stay line breaks; any other unseen character in it is still shown."""


class _Shown:
    """An argument that is neither text nor a number (an exception, a path), shown visibly by
    ``%s`` and ``%r`` alike."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return visible(str(self.value))

    def __repr__(self) -> str:
        return visible(repr(self.value))


def shown(value: object) -> object:
    """``value`` as a log line may hold it: text with its unseen characters shown, anything else
    as it is when its text has none."""
    if type(value) is str:
        return value if value.isprintable() else visible(value)
    if value is None or isinstance(value, int | float):  # bool is an int; %d needs the number
        return value
    if isinstance(value, Lines):
        return visible_lines(value)
    return value if str(value).isprintable() else _Shown(value)


class _ShownAtoms:
    """A mapping's values shown as they are looked up: gunicorn's access line passes a dictionary
    of every header and WSGI variable and the format reads a few (``%(r)s``), and a lookup of a
    missing key answers as the mapping does (gunicorn's ``SafeAtoms`` answers ``-``)."""

    __slots__ = ("atoms",)

    def __init__(self, atoms: Mapping[str, Any]) -> None:
        self.atoms = atoms

    def __getitem__(self, key: str) -> object:
        return shown(self.atoms[key])


class VisibleFormatter(logging.Formatter):
    """``logging.Formatter`` whose lines hold no unseen character: none from a message's arguments
    (or a message without arguments) at all, so no line break from them starts a new line, and
    from a traceback or a stack only their line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # record.message is the message as logging made it; most have nothing unseen (one C pass)
        if not record.message.isprintable():
            record.message = shown_message(record)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return visible_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return visible_lines(super().formatStack(stack_info))


def shown_message(record: logging.LogRecord) -> str:
    """The record's message made again from its format string and its arguments shown
    (:func:`shown`); a message without arguments is all shown."""
    msg, args = str(record.msg), record.args
    if isinstance(args, tuple) and args:
        return msg % tuple(map(shown, args))
    if isinstance(args, Mapping) and args:
        return msg % _ShownAtoms(args)
    return visible(record.getMessage())
