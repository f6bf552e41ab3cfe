"""Default factories for the fields of coprod's pydantic models.

A field that starts as a new empty list takes :func:`new_list`, not ``list``. Each does the same for
the model, but pydantic asks for the signature of every default factory as it builds a model's
validator (whether the factory takes the data validated so far), and Python reads a built-in's
signature from its text with ``tokenize``, whose first use compiles a pattern thousands of
characters long: about 10 million instructions, paid by every ``coprod check`` and ``coprod sync``
as the recipe is validated (and by a KoboToolbox or CiviCRM run's options, 1% of a check of the
demo). A function of ours has its signature at hand. (``dict`` has no text signature, and
``inspect`` refuses it at once: ``default_factory=dict`` costs nothing of the kind.)
"""

from __future__ import annotations

from typing import Any


def new_list() -> list[Any]:
    """A new empty list, for ``Field(default_factory=new_list)``."""
    return []
