"""Named tuples made many at a time, without a Python-level call for each.

A ``typing.NamedTuple``'s ``__new__`` is a Python function (it takes the fields by name, with
their defaults), so making a named tuple costs a Python call: a fraction of a microsecond, paid
200,000 times for an attendance register, and tens of thousands of times for the payments
ledger's dues. These make each one as the named tuple's own ``_make`` does (``tuple.__new__``
on the class and a tuple of every field in order), in C: the caller gives every field, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, TypeVar

R = TypeVar("R", bound=tuple[Any, ...])


def named_tuples(kind: type[R], columns: Sequence[Iterable[Any]]) -> Iterator[R]:
    """Named tuples of ``kind`` from columns, one for each field in order (all of the same length)."""
    return map(tuple.__new__, repeat(kind), zip(*columns, strict=True))


def as_named(kind: type[R], rows: Iterable[tuple[Any, ...]]) -> list[R]:
    """Each plain tuple of ``rows`` (every field, in order) as a named tuple of ``kind``."""
    return list(map(tuple.__new__, repeat(kind), rows))
