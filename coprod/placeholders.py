"""Values a shipped example recipe holds until staff put in their own.

A recipe copied from ``recipes/`` is valid as it stands: its spreadsheet key, form uids and
addresses have the right shape, and its baseline and payment policy are believable figures. So
``coprod validate`` would call it valid, and the first sync would fail on a sheet that does not
exist, or worse, judge representation against someone else's figures. ``validate`` therefore lists
every value still as the example wrote it, so a charity worker following a recipe README sees what
is left to fill in before anything is sent anywhere.

Those that say where a platform is and what to read there (a source's settings, and an entity's
read from it) also stop ``install``, ``check``, ``sync`` and ``report`` before any request
(:func:`platform_examples`): sent as they are, each came back as the platform's own "not found",
which sent staff looking at permissions or the network. The examples' baselines and payment
policies are left to ``validate``'s list: nothing is sent with them, and the files recipe and the
demo, which need no account, run as they stand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from coprod_core.recipe import Recipe, section_name

MARKERS = ("PASTE-YOUR", "(replace with")
"""Text the example recipes put in a value that staff must replace (case is ignored)."""

EXAMPLE_VALUES = frozenset({"aRegistrationFormUid", "aSessionRecordFormUid"})
"""The KoboToolbox recipe's stand-ins for a form's uid (a real uid has the same shape)."""

EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net", "example")
"""Names reserved for examples (RFC 2606): no real server has them."""


PLATFORMS = {"sheets": "Google Sheets", "kobotoolbox": "KoboToolbox", "civicrm": "CiviCRM"}
"""The connectors that send requests to a platform, by the platform's name (``files`` sends none)."""

WHAT_TO_PUT = {
    ("sheets", "spreadsheet"): "your sheet's address, copied from the browser's address bar",
    ("kobotoolbox", "location"): (
        "your form's uid, from its address in KoboToolbox (.../#/forms/<uid>/summary)"
    ),
    ("kobotoolbox", "hook_endpoint"): (
        "the webhook app's address for this recipe, or delete the line to rely on the nightly sync alone"
    ),
    ("civicrm", "endpoint"): "your site's address for the API, copied from the APIv4 Explorer's REST tab",
}
"""What to put in place of an example's value, by connector and setting, where a README step says
where to find it; the recipe's README says it for the others."""


class ExampleValue(NamedTuple):
    """A value still as the example recipe wrote it: where it is, and the value."""

    where: str
    """Where it is, as ``validate`` names every place: ``[sources.sheet] spreadsheet``."""
    value: str
    what_to_put: str = ""
    """What to put there instead, when it is a platform's setting with its own advice."""

    def line(self, file: object) -> str:
        """The line ``validate`` lists it with, and ``install``, ``check``, ``sync`` and ``report``
        refuse it with: ``recipe.toml: [sources.crm] endpoint = '...': put in your site's ...``."""
        put = f": put in {self.what_to_put}" if self.what_to_put else ""
        return f"{file}: {self.where} = {self.value!r}{put}"


def example_values(data: dict[str, Any]) -> list[ExampleValue]:
    """Every string in a parsed recipe that is still an example's stand-in, in file order."""
    return list(_walk(data, ()))


def platform_examples(data: dict[str, Any]) -> list[ExampleValue]:
    """The example values in a parsed recipe that would be sent to a platform: in a ``[sources.X]``
    whose connector is a platform's, or in an ``[entities.Y]`` read from one, each with what to put
    there instead (:data:`WHAT_TO_PUT`). Matched exactly as :func:`example_values` matches."""
    sources = data.get("sources")
    if not isinstance(sources, dict):
        return []
    platform_of: dict[str, str] = {
        name: str(spec["connector"])
        for name, spec in sources.items()
        if isinstance(spec, dict) and spec.get("connector") in PLATFORMS
    }
    found: list[ExampleValue] = []
    for name, connector in platform_of.items():
        found += _advised(_walk(sources[name], ("sources", name)), connector)
    entities = data.get("entities")
    for entity, spec in entities.items() if isinstance(entities, dict) else []:
        if isinstance(spec, dict) and (read_by := platform_of.get(str(spec.get("source")))) is not None:
            found += _advised(_walk(spec, ("entities", entity)), read_by)
    return found


def sent_examples(recipe: Recipe) -> list[ExampleValue]:
    """:func:`platform_examples` of a recipe already read, for the sources its entities read from
    (a source nothing is read from is sent nothing)."""
    used = {spec.source: recipe.sources[spec.source] for spec in recipe.entities.values()}
    return platform_examples(
        {
            "sources": {name: spec.model_dump() for name, spec in used.items()},
            "entities": {str(entity): spec.model_dump() for entity, spec in recipe.entities.items()},
        }
    )


def platforms_read(recipe: Recipe) -> list[str]:
    """The platforms a recipe reads from, by name (``Google Sheets``), in alphabetical order."""
    return sorted({PLATFORMS[s.connector] for s in recipe.sources.values() if s.connector in PLATFORMS})


def _advised(values: Iterator[ExampleValue], connector: str) -> list[ExampleValue]:
    return [
        v._replace(what_to_put=WHAT_TO_PUT.get((connector, v.where.rsplit(" ", 1)[-1]), "")) for v in values
    ]


def examples_refused(
    file: object,
    shown: object,
    platforms: list[str],
    values: list[ExampleValue],
    *,
    stopped: str = "so nothing was sent to",
    then: str = "then run this again",
) -> list[str]:
    """Why a command stopped before any request (or the webhook app left a recipe out): the recipe
    as typed (``shown``), then each value as ``validate`` lists it, a line each."""
    return [
        f"{shown}: {len(values)} value(s) are still the example's, {stopped} {' or '.join(platforms)}: "
        f"put in your own before the first sync (the recipe's README says where to find each), {then}:",
        *(f"  - {v.line(file)}" for v in values),
    ]


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
