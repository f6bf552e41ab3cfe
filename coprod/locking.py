"""``flock`` without waiting: the one lock primitive the state store and the files connector share.

An flock belongs to an open file description, so the kernel drops it when its holder's process
ends, however it ends. That is what lets a later run tell a killed run's leftovers (a lock, a
half-written file) from a run still going.
"""

from __future__ import annotations

import errno
import fcntl


def try_flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` if nobody holds one; False (at once) if somebody does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True
