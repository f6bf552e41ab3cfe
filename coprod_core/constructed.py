"""Frozen pydantic models made many at a time, as ``model_construct`` makes them, in C-level passes.

The mapping builds a person for each row of the people list (10,000 at the benchmark's 1x) and a
session for each row of the sessions list, from values it has already read and checked, so it never
validates them. ``model_construct`` goes through the model's fields one by one in Python, and a copy
of a blank model with ``model_copy(update=...)`` (what the mapping did before) goes through
``copy.copy`` and four attribute checks. :func:`constructed` sets the four slots ``model_construct``
sets (the fields' dict, the set of fields given, no extra, no private attributes) with ``map`` over
all the models at once, so no Python code runs for each one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


def constructed(kind: type[M], fields: Sequence[dict[str, Any]]) -> list[M]:
    """A model of ``kind`` for each dict of ``fields``, which holds every field of the model in its
    order (each dict is the model's own, not copied), as ``kind.model_construct`` makes it with
    every field given: not validated, each with a set of the fields given of its own."""
    if not _plain_model(kind):
        raise TypeError(f"{kind.__name__} is not a model made from its fields alone")
    count = len(fields)
    given = set(kind.__pydantic_fields__)
    made = list(map(object.__new__, repeat(kind, count)))
    deque(map(_set, made, repeat("__dict__"), fields), 0)
    deque(map(_set, made, repeat("__pydantic_fields_set__"), map(set.copy, repeat(given, count))), 0)
    deque(map(_set, made, repeat("__pydantic_extra__"), repeat(None, count)), 0)
    deque(map(_set, made, repeat("__pydantic_private__"), repeat(None, count)), 0)
    return made


def _plain_model(kind: type[BaseModel]) -> bool:
    """Whether ``model_construct`` makes a ``kind`` from its fields alone: no extra fields kept, no
    hook after construction, no private attributes, not a root model (which has no such slots)."""
    return (
        kind.model_config.get("extra") != "allow"
        and not kind.__pydantic_post_init__
        and not kind.__pydantic_root_model__
        and not kind.__private_attributes__
    )
