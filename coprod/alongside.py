"""A share of the checks worked out in a second process, where the machine has a processor to spare.

The core hands over work it can split (:mod:`coprod_core.alongside`): at 1x, about 60% of the
people's payment flags, which would otherwise take about a quarter of a whole ``coprod check``.
:func:`forked` runs it in a child made with ``os.fork``: the child already holds the dataset (nothing
is copied or pickled to start it), works while this process does the other checks, and sends back
only its flags, pickled, through a pipe. It leaves with ``os._exit``, so none of this process's
exit handlers, buffered output or open connections (the state store's among them) are touched
twice.

Where this cannot be done, the work is done here instead, in turn, and the flags are the same:

- a platform without ``os.fork`` (Windows), or one processor for this process to use;
- ``COPROD_PROCESSES=1`` in the environment or ``.env`` (a shared server where each run should keep
  to one processor; ``2``, the default, lets it use a second);
- the child failing in any way (an error, killed, out of memory): its share is worked out again
  here, where an error is reported as any other error is.

Only the command line uses it. The webhook's app and worker run threads and live for days; they
re-check one project at a time and never split their work.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from coprod_core.alongside import Alongside, in_turn

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


def forked(work: Callable[[], T], /) -> Callable[[], T]:
    """Start ``work`` in a forked child and return how to wait for its result; or, where there is no
    ``os.fork`` or no child can be made, return ``work`` itself to be done in turn."""
    if not hasattr(os, "fork"):
        return in_turn(work)
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no memory or processes left for a child: do the work here
        os.close(read_end)
        os.close(write_end)
        return in_turn(work)
    if pid == 0:  # the child
        _work_and_leave(work, read_end, write_end)
    os.close(write_end)
    return _Child(pid, read_end, work)


def _processors_to_spare() -> bool:
    return hasattr(os, "fork") and usable_processors() > 1


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


def _work_and_leave(work: Callable[[], object], read_end: int, write_end: int) -> None:
    """In the child: do the work, write its result, and leave without running anything of the
    parent's on the way out. Nothing is written on failure; the parent then does the work itself."""
    status = 1
    try:
        import pickle

        os.close(read_end)
        # Ctrl-C reaches the whole process group: the parent stops the run and says so; the child
        # only leaves (quietly, its pipe then closed), rather than printing an interruption too.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with open(write_end, "wb", closefd=False) as out:
            out.write(payload)
        status = 0
    except BaseException:  # noqa: BLE001 - the parent does the work again and reports any error itself
        status = 1
    finally:
        os._exit(status)


class _Child(Generic[T]):
    """A forked child's work, waited for when its result is wanted: at most once."""

    def __init__(self, pid: int, read_end: int, work: Callable[[], T]) -> None:
        self.pid: int | None = pid
        self.read_end = read_end
        self.work = work

    def __call__(self) -> T:
        if self.pid is None:  # asked again: the pipe is gone
            return self.work()
        try:
            with open(self.read_end, "rb", closefd=False) as pipe:
                payload = pipe.read()
        except BaseException:  # interrupted while waiting: the child's result is not wanted now
            self._reap(kill=True)
            raise
        ended_well = self._reap(kill=False)
        if ended_well and payload:
            import pickle

            result: T = pickle.loads(payload)
            return result
        return self.work()

    def _reap(self, *, kill: bool) -> bool:
        """Close the pipe and wait for the child (killing it first if its result is not wanted):
        True when it ended as it should, with its result written."""
        pid, self.pid = self.pid, None
        if pid is None:
            return False
        os.close(self.read_end)
        if kill:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def __del__(self) -> None:
        # A run that stopped with an error before asking for the result: the child is not left
        # waiting on a pipe nobody reads, nor as a zombie.
        if self.pid is not None:
            self._reap(kill=True)
