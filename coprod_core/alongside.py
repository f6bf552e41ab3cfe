"""Work that may be shared with another processor.

The core does no I/O, so it cannot start a process; but it knows which of its work can be done
in pieces, apart, and joined after. Where it can, it hands the pieces (functions without
arguments) to an :data:`Alongside` given by its caller, carries on with the rest of its work, and
then calls what it got back for the pieces' results, in the order it gave them. The command line
gives one that forks a child to take pieces while this process does the rest, then both take
pieces until none is left (:mod:`coprod.alongside`); :func:`in_turn`, the default, does every piece
when the results are asked for, so a caller that gives none gets exactly what it always did, in one
process.

The results must be the same either way: the core splits only work whose pieces depend on nothing
the others do, and joins them in the order it gave them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Alongside(Protocol):
    """Starts work on ``pieces`` (or not yet) and returns how to finish them: what is returned does
    whatever pieces are left and gives every piece's result, in the pieces' order."""

    def __call__(self, pieces: Sequence[Callable[[], T]], /) -> Callable[[], list[T]]: ...


def in_turn(pieces: Sequence[Callable[[], T]], /) -> Callable[[], list[T]]:
    """Shares nothing: every piece is done, in order, when the results are asked for."""
    return lambda: [piece() for piece in pieces]
