"""Demographic answers: equality-monitoring cells read as the categories a baseline counts.

Answers are personal data: a flag about one names the column, never the answer. "Prefer not to
say" and "unknown" are read in the many ways people write them, so they count towards a data gap
rather than as categories of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from coprod_core.mapping.cells import as_text, key
from coprod_core.model import PREFER_NOT_TO_SAY, UNKNOWN
from coprod_core.recipe import EntitySpec

_PREFER_NOT = frozenset(
    {
        "prefer not to say",
        "prefer not to answer",
        "prefer not to disclose",
        "prefer not say",
        "rather not say",
        "id rather not say",
        "i would rather not say",
        "i prefer not to say",
        "do not wish to say",
        "dont wish to say",
        "do not want to say",
        "dont want to say",
        "declined",
        "declined to say",
        "declined to answer",
        "not disclosed",
        "withheld",
        "pnts",
    }
)
_UNKNOWN = frozenset(
    {
        "unknown",
        "not known",
        "dont know",
        "do not know",
        "i dont know",
        "not recorded",
        "not stated",
        "not asked",
        "missing",
    }
)


def _words(text: str) -> str:
    """'Don’t know!' -> 'dont know': apostrophes dropped, other punctuation and case ignored."""
    lowered = text.casefold().replace("’", "").replace("'", "")
    return " ".join(re.sub(r"[^\w]+", " ", lowered).split()).replace("_", " ")


def _category(text: str) -> str:
    """A demographic category as the baseline keys it: lowercase, spaces and hyphens -> '_'."""
    words = _words(text)
    if words in _PREFER_NOT:
        return PREFER_NOT_TO_SAY
    if words in _UNKNOWN:
        return UNKNOWN
    return key(text)


class Answer(NamedTuple):
    """A demographic cell as read: its category, and whether the answer was understood (an answer
    not in the recipe's values map is not, and counts as unknown)."""

    category: str
    understood: bool


_BLANK_ANSWER = Answer(UNKNOWN, True)


@dataclass(slots=True)
class Dimension:
    """One demographic question as a recipe maps it: its column and its values map, if any."""

    name: str
    column: str
    value_map: dict[str, str] | None
    targets: frozenset[str]
    """The categories the values map leads to: an answer already written as one is understood."""
    cache: dict[str, Answer]

    def read(self, raw: Any) -> Answer:
        text = as_text(raw)
        if text is None:
            return _BLANK_ANSWER
        hit = self.cache.get(text)
        if hit is not None:
            return hit
        category = _category(text)
        if self.value_map is None or category in (UNKNOWN, PREFER_NOT_TO_SAY):
            result = Answer(category, True)
        elif (target := self.value_map.get(key(text))) is not None:
            result = Answer(_category(target), True)
        elif category in self.targets:
            result = Answer(category, True)
        else:
            result = Answer(UNKNOWN, False)
        if len(self.cache) < 10_000:
            self.cache[text] = result
        return result


def dimensions(spec: EntitySpec) -> list[Dimension]:
    """The recipe's demographic columns for an entity (``[entities.people.demographics]``)."""
    out = []
    for name, column in spec.demographics.items():
        given = spec.values.get(name)
        value_map = {key(k): v for k, v in given.items()} if given else None
        targets = frozenset(_category(v) for v in given.values()) if given else frozenset()
        out.append(Dimension(name, column, value_map, targets, {}))
    return out
