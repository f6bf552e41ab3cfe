"""A lock taken without waiting: the one lock primitive the state store and the files connector share.

It is the operating system's own lock on an open file, through ``filelock.lock_descriptor``:
``flock`` on Linux and macOS, ``LockFileEx`` on byte 0 on Windows. Either belongs to the open
file, so the system drops it when its holder's process ends, however it ends. That is what lets a
later run tell a killed run's leftovers (a lock, a half-written file) from a run still going.

Windows differs in two ways that the callers allow for: a locked byte cannot be read through
another open file (so what a lock file says starts after byte 0, :data:`HOLDER_OFFSET`), and a file
that is open cannot be renamed or removed (:data:`RENAMES_OPEN_FILES`).
"""

from __future__ import annotations

import os

HOLDER_OFFSET = 1
"""Where a lock file's words (who holds it) start: after byte 0, the byte Windows locks, which no
other process can read while it is held. Byte 0 is a space, so the whole file reads the same."""

RENAMES_OPEN_FILES = os.name != "nt"
"""Whether a file can be renamed over another, or removed, while it is open. POSIX systems allow it;
Windows refuses (a sharing violation) unless every open handle on it allows it, and Python's
``open`` does not ask to: there a file is closed first, which also lets its lock go."""


def try_flock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` if nobody holds one; False (at once) if somebody does."""
    # Imported when first needed (about 15 ms): check, validate and report take no lock.
    from filelock import lock_descriptor

    return lock_descriptor(fd, blocking=False)
