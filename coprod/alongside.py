"""The checks' pieces shared with a second process, where the machine has a processor to spare.

The core hands over work it can do in pieces (:mod:`coprod_core.alongside`): the people's payment
flags, in 64 pieces of people, which in one process take about a quarter of a whole ``coprod
check``. :func:`forked` makes a child with ``os.fork`` that starts on the pieces at once, while this
process does the other checks; then this process takes pieces too, until none is left. Each takes
the next piece from a queue that is a pipe holding every piece's number (a read of two bytes from a
pipe is never split between two readers), so the two end within a piece of each other however fast
each one goes. The child already holds the dataset (nothing is copied or pickled to start it); it
sends back only its pieces' flags, pickled, through a second pipe, and leaves with ``os._exit``, so
none of this process's exit handlers, buffered output or open connections (the state store's among
them) are touched twice.

Where this cannot be done, the pieces are done here, in turn, and the flags are the same:

- a system other than Linux (Windows has no ``os.fork``; on macOS the system's libraries are not
  safe to use in a forked child), or one processor for this process to use (its affinity, and a
  container's CPU quota);
- ``COPROD_PROCESSES=1`` in the environment or ``.env`` (a shared server where each run should keep
  to one processor; ``2``, the default, lets it use a second);
- the child failing in any way (an error, killed, out of memory, or stuck: not done within
  :data:`CHILD_WAIT_AT_LEAST` seconds of the last piece being taken): every piece it took is done
  again here, where an error is reported as any other error is.

Only the command line uses it. The webhook's app and worker run threads and live for days; they
re-check one project at a time and never split their work.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from coprod_core.alongside import Alongside, in_turn

# signal, select, time and pickle are imported where a child is forked: every coprod command imports
# this module at start (signal alone took 1.3 ms), and most never fork.

T = TypeVar("T")

PROCESSES_VARIABLE = "COPROD_PROCESSES"
"""How many processes one run may use: ``1``, or ``2`` (the default)."""


def processes_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with ``COPROD_PROCESSES``, if it is set to anything but 1 or 2."""
    value = env.get(PROCESSES_VARIABLE, "").strip()
    if value in ("", "1", "2"):
        return None
    return (
        f"{value!r} is not a number of processes coprod can use: write 1 to keep each run to one "
        "process, or 2 (the default) to let the checks use a second processor where the machine has one"
    )


def alongside_for(env: Mapping[str, str]) -> Alongside:
    """How a run with this environment works out the checks' share alongside: :func:`forked`, unless
    ``COPROD_PROCESSES`` is 1 or this process has one processor to use (then :func:`~coprod_core.
    alongside.in_turn`). A value :func:`processes_problem` refuses is refused with the recipe,
    before a run starts."""
    if env.get(PROCESSES_VARIABLE, "").strip() == "1" or not _processors_to_spare():
        return in_turn
    return forked


MOST_PIECES = 2_048
"""The queue holds every piece's number (two bytes) at once: 4 KiB at most, which a pipe takes in one
write without waiting for a reader (PIPE_BUF on Linux; a pipe's buffer is larger everywhere)."""


def forked(pieces: Sequence[Callable[[], T]], /) -> Callable[[], list[T]]:
    """Start a forked child on ``pieces`` and return how to finish them here with it; or, where
    there is no ``os.fork``, no child can be made, or there is one piece or more than
    :data:`MOST_PIECES`, do them all here, in turn, when asked."""
    if not hasattr(os, "fork") or not 1 < len(pieces) <= MOST_PIECES:
        return in_turn(pieces)
    queue_out, queue_in = os.pipe()
    numbers = b"".join(n.to_bytes(2, "little") for n in range(len(pieces)))
    try:
        written = os.write(queue_in, numbers)
    finally:
        os.close(queue_in)  # so the queue ends (a read gives b"") once every number is taken
    if written != len(numbers):
        os.close(queue_out)
        return in_turn(pieces)
    results_out, results_in = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no memory or processes left for a child: do the work here
        for fd in (queue_out, results_out, results_in):
            os.close(fd)
        return in_turn(pieces)
    if pid == 0:  # the child
        _work_and_leave(pieces, queue_out, results_out, results_in)
    os.close(results_in)
    return _Shared(pieces, pid, queue_out, results_out)


CHILD_WAIT_AT_LEAST = 30.0
CHILD_WAIT_PIECES = 20
"""Once every piece is taken, the child's results are waited for this many seconds, and this many
times the longest piece this process took, before the child is taken to be stuck."""


def _read_within(fd: int, seconds: float) -> bytes | None:
    """Everything written to the pipe until its other end closes, or None if that takes longer."""
    import select
    import time

    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _next_piece(queue: int) -> int | None:
    """The number of the next piece nobody has taken, taking it; None when every piece is taken."""
    taken = os.read(queue, 2)
    return int.from_bytes(taken, "little") if len(taken) == 2 else None


def _processors_to_spare() -> bool:
    # Linux only: on macOS the system's own libraries may hold locks or threads a forked child
    # cannot use (Python's multiprocessing stopped forking there for that), and coprod is not tested
    # there; Windows has no fork.
    return sys.platform == "linux" and hasattr(os, "fork") and usable_processors() > 1


def usable_processors() -> int:
    """The processors this process may use: those it may run on (its affinity), at most what a
    container's CPU quota allows. A container limited to 2 CPUs on a 64-core host sees 64 otherwise,
    and a child working beside its parent on one CPU's quota only slows both."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _cpu_quota()
    return cpus if quota is None else min(cpus, max(1, int(quota)))


def _cpu_quota() -> float | None:
    """The CPUs a container's quota allows (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), or None
    without one."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", encoding="ascii") as f:
            v1_quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us", encoding="ascii") as f:
            v1_period = int(f.read())
    except (OSError, ValueError):
        return None
    return v1_quota / v1_period if v1_quota > 0 and v1_period > 0 else None


def _work_and_leave(
    pieces: Sequence[Callable[[], object]], queue: int, results_out: int, results_in: int
) -> None:
    """In the child: take pieces until none is left, write their results with their numbers, and
    leave without running anything of the parent's on the way out. Nothing is written on failure:
    the parent then does every piece the child took."""
    status = 1
    try:
        import pickle
        import signal

        os.close(results_out)
        # Ctrl-C reaches the whole process group: the parent stops the run and says so; the child
        # only leaves (quietly, its pipe then closed), rather than printing an interruption too.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Each piece's result is pickled as soon as it is done, while the parent still has pieces of
        # its own, so that only the last piece's is left when the queue runs out: pickled all at the
        # end, the results kept the parent waiting 0.04 s at 1x (about 0.15 s at 5x).
        done: list[bytes] = []
        while (n := _next_piece(queue)) is not None:
            done.append(pickle.dumps((n, pieces[n]()), protocol=pickle.HIGHEST_PROTOCOL))
        with open(results_in, "wb", closefd=False) as out:
            out.write(b"".join(done))
        status = 0
    except BaseException:  # noqa: BLE001 - the parent does the work again and reports any error itself
        status = 1
    finally:
        os._exit(status)


class _Shared(Generic[T]):
    """Pieces shared with a forked child: finished, here and by the child, when their results are
    wanted (once)."""

    def __init__(self, pieces: Sequence[Callable[[], T]], pid: int, queue: int, results: int) -> None:
        self.pieces = pieces
        self.pid: int | None = pid
        self.queue = queue
        self.results = results

    def __call__(self) -> list[T]:
        if self.pid is None:  # asked again: the child and its pipes are gone
            return [piece() for piece in self.pieces]
        import time

        done: dict[int, T] = {}
        slowest = 0.0
        try:
            while (n := _next_piece(self.queue)) is not None:
                started = time.monotonic()
                done[n] = self.pieces[n]()
                slowest = max(slowest, time.monotonic() - started)
            # The child has one piece left at most, and its results to write: a child that takes far
            # longer is stuck (a lock its parent held when it was forked), and its pieces are done here.
            payload = _read_within(self.results, CHILD_WAIT_AT_LEAST + CHILD_WAIT_PIECES * slowest)
        except BaseException:  # stopped (an error, Ctrl-C): the child's pieces are not wanted now
            self._reap(kill=True)
            raise
        if self._reap(kill=payload is None) and payload:
            import io
            import pickle

            results = io.BytesIO(payload)
            while results.tell() < len(payload):
                n, result = pickle.load(results)
                done[n] = result
        # Whatever the child took and did not send back (it failed or was stuck) is done here.
        return [done[n] if n in done else piece() for n, piece in enumerate(self.pieces)]

    def _reap(self, *, kill: bool) -> bool:
        """Close the pipes and wait for the child (killing it first if its pieces are not wanted):
        True when it ended as it should, with its results written."""
        pid, self.pid = self.pid, None
        if pid is None:
            return False
        os.close(self.queue)
        os.close(self.results)
        if kill:
            import signal

            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def __del__(self) -> None:
        # A run that stopped with an error before asking for the results: the child is not left
        # working for nobody, or waiting on a pipe nobody reads, nor as a zombie.
        if self.pid is not None:
            self._reap(kill=True)
