"""A raw row as a connector hands it over, before mapping onto the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Row(NamedTuple):
    """One raw row as the source holds it. ``ref`` says where it is, for error messages.

    A named tuple: a 200,000-row export makes 200,000 of them, each read once by the mapping.
    """

    ref: str
    """Where a person finds the row: ``people.csv row 12``, ``tab 'People' row 12``, ``submission 345``."""
    values: Mapping[str, Any]
    """Column or field name -> value: text as the source shows it (lists for multi-valued fields)."""
    key: str | None = None
    """The source's own stable id for the row (a sheet row number, a KoboToolbox ``_id``)."""
