"""Values a shipped example recipe holds until staff put in their own.

A recipe copied from ``recipes/`` is valid as it stands: its spreadsheet key, form uids and
addresses have the right shape, and its baseline and payment policy are believable figures. So
``coprod validate`` would call it valid, and the first sync would fail on a sheet that does not
exist, or worse, judge representation against someone else's figures. ``validate`` therefore lists
every value still as the example wrote it, so a charity worker following a recipe README sees what
is left to fill in before anything is sent anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from coprod_core.recipe import section_name

MARKERS = ("PASTE-YOUR", "(replace with")
"""Text the example recipes put in a value that staff must replace (case is ignored)."""

EXAMPLE_VALUES = frozenset({"aRegistrationFormUid", "aSessionRecordFormUid"})
"""The KoboToolbox recipe's stand-ins for a form's uid (a real uid has the same shape)."""

EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net", "example")
"""Names reserved for examples (RFC 2606): no real server has them."""


class ExampleValue(NamedTuple):
    """A value still as the example recipe wrote it: where it is, and the value."""

    where: str
    """Where it is, as ``validate`` names every place: ``[sources.sheet] spreadsheet``."""
    value: str


def example_values(data: dict[str, Any]) -> list[ExampleValue]:
    """Every string in a parsed recipe that is still an example's stand-in, in file order."""
    return list(_walk(data, ()))


def _walk(node: Any, path: tuple[str | int, ...]) -> Iterator[ExampleValue]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))
    elif isinstance(node, str) and is_example(node):
        yield ExampleValue(section_name(path), node)


def is_example(value: str) -> bool:
    """Whether a value is one of the examples' stand-ins (see the module's docstring)."""
    text = value.strip()
    if text in EXAMPLE_VALUES:
        return True
    lowered = text.lower()
    if any(marker.lower() in lowered for marker in MARKERS):
        return True
    if "://" in text:
        host = (urlsplit(text).hostname or "").rstrip(".")
        return any(host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS)
    return False
