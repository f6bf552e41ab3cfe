"""A PostgreSQL state store that cannot be reached, in words a data officer can act on.

libpq says what went wrong in its own words ('connection failed: connection to server at
"10.0.0.5", port 5432 failed: Connection refused'): true, but it names neither what to check nor
where the address is set. The common failures (nothing listening, a host name not found, a
password refused or missing, a database or user that does not exist, no answer) are said here in
plain words, and libpq's reason is kept after them as a short detail.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class InWords(NamedTuple):
    words: str
    """What happened and what to check, in words a data officer uses."""
    detail: str
    """libpq's own reason, short (without 'connection to server at ... failed')."""


_SERVER_AT = re.compile(
    r'connection to server (?:at "([^"]*)"(?: \([^)]*\))?, port (\d+)|on socket "([^"]*)") failed: (.*)'
)
_NOT_RESOLVED = re.compile(r"failed to resolve host '([^']*)': (.*)")
_QUOTED = re.compile(r'"([^"]*)"')

ADDRESS_WHERE = "COPROD_STATE in .env or the environment, the recipe's [state] path, or --state"
"""Where the address is set, to say where to correct it (a recipe's ``[state] path`` may hold an
address, but never its password: that is refused)."""


PGPASS = "the .pgpass file of the user coprod runs as (recipes/deploy/README.md)"
"""Where else a password may be: PostgreSQL's client reads it from the home folder's ``.pgpass``
when the address has none (recipes/deploy/README.md keeps it there, out of ``.env``)."""


def connect_failure_in_words(first_line: str) -> InWords | None:
    """libpq's first line for a connection that failed, in plain words, or None for one not
    recognised (said as libpq says it). libpq names the server it tried ("127.0.0.1", port 5432, or
    the socket of a server on this machine) and a reason; its server-side reasons ('FATAL:
    password authentication failed for user "coprod"') are in English unless the server's
    lc_messages says otherwise, and then they are shown as they came."""
    resolved = _NOT_RESOLVED.search(first_line)
    if resolved is not None:
        host, reason = resolved.groups()
        return InWords(
            f"the host name {host} could not be found: check how it is spelt in the address "
            f"({ADDRESS_WHERE}), and that this machine is on a network that knows it",
            reason,
        )
    found = _SERVER_AT.search(first_line)
    if found is None:
        return None
    host, port, socket, reason = found.groups()
    reason = " ".join(reason.split()).removeprefix("FATAL: ")
    where = f"{host}:{port}" if socket is None else f"the socket {socket} on this machine"
    quoted = _QUOTED.search(reason)
    name = quoted[1] if quoted else ""
    lowered = reason.lower()
    if "connection refused" in lowered or (socket is not None and "no such file or directory" in lowered):
        words = (
            f"the PostgreSQL server at {where} is not accepting connections: is PostgreSQL running there, "
            f"and is the address right (host and port, in {ADDRESS_WHERE})?"
        )
    elif "password authentication failed" in lowered:
        words = (
            f"the PostgreSQL server at {where} did not accept the password for the user {name}: check the "
            f"user and password in the address ({ADDRESS_WHERE}) or in {PGPASS}, or set that user's "
            "password in PostgreSQL"
        )
    elif "no password supplied" in lowered:
        words = (
            f"the PostgreSQL server at {where} asks for a password, and none was given: put it in the "
            f"address, postgresql://user:password@host:port/database ({ADDRESS_WHERE}), or in {PGPASS}"
        )
    elif lowered.startswith("database ") and "does not exist" in lowered:
        words = (
            f"the PostgreSQL server at {where} has no database named {name}: create it (recipes/deploy/README.md, "
            "'Several hosts on one PostgreSQL', step 1), or correct the name at the end of the address "
            f"({ADDRESS_WHERE})"
        )
    elif lowered.startswith("role ") and "does not exist" in lowered:
        words = (
            f"the PostgreSQL server at {where} has no user named {name}: create it (recipes/deploy/README.md, "
            f"'Several hosts on one PostgreSQL', step 1), or correct the user in the address ({ADDRESS_WHERE})"
        )
    elif "timeout expired" in lowered or "timed out" in lowered:
        words = (
            f"no answer from {where}: is the address right ({ADDRESS_WHERE}), is the machine up, and "
            "does a firewall let this one through to that port?"
        )
    else:
        return None
    return InWords(words, reason)
