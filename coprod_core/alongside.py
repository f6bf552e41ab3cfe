"""Work that may run alongside the rest of a run, on another processor.

The core does no I/O, so it cannot start a process; but it knows which of its work can be done
apart and joined after. Where it can, it hands a piece of that work (a function without arguments)
to an :data:`Alongside` given by its caller, carries on with the rest, and calls what it got back
when it needs the piece's result. The command line gives one that runs the piece in a forked
process (:mod:`coprod.alongside`); :func:`in_turn`, the default, runs it when its result is asked
for, so a caller that gives none gets exactly what it always did, in one process.

The result must be the same either way: the core splits only work whose parts are independent and
joins them in the order a run in turn would have produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Alongside(Protocol):
    """Starts ``work`` (or not yet) and returns how to wait for its result."""

    def __call__(self, work: Callable[[], T], /) -> Callable[[], T]: ...


def in_turn(work: Callable[[], T], /) -> Callable[[], T]:
    """Runs nothing alongside: the work is done when its result is asked for."""
    return work
