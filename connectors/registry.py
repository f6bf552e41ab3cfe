"""Which connector serves which ``connector = "..."`` name, imported only when a recipe uses it.

:func:`check_source` is the one place a source is checked against its connector: its options,
its entities' options and the paths they name. ``coprod validate`` (through ``load_recipe``) and
:func:`build_connector` both go through it, so a run refuses exactly what validation refuses.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorContext,
    ConnectorOptions,
    SourceContext,
    confine,
)
from coprod_core.recipe import Entity, EntitySpec, RecipeProblem, SourceSpec

CONNECTORS: dict[str, str] = {
    "files": "coprod.connectors.files:FilesConnector",
    "sheets": "coprod.connectors.sheets:SheetsConnector",
    "kobotoolbox": "coprod.connectors.kobotoolbox:KoboConnector",
    "civicrm": "coprod.connectors.civicrm:CiviCRMConnector",
}


def connector_class(kind: str) -> type[Connector]:
    target = CONNECTORS.get(kind)
    if target is None:
        raise ConfigError(f"unknown connector '{kind}'; expected one of {', '.join(CONNECTORS)}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"connector '{kind}' is not available in this install ({exc.name})") from None
    return getattr(module, attr)


class SourceCheck(NamedTuple):
    """What checking one ``[sources.NAME]`` found: its connector and options when they are valid."""

    connector: type[Connector] | None
    options: ConnectorOptions | None
    problems: list[RecipeProblem]


def check_source(
    name: str,
    spec: SourceSpec,
    entities: Mapping[Entity, EntitySpec],
    file: str,
    recipe_dir: Path,
    data_dirs: Sequence[Path] = (),
) -> SourceCheck:
    """Every problem with a source by its connector's own models: unknown or wrong options of the
    source and of each entity read from it, and paths that lead outside the recipe's folder."""
    try:
        cls = connector_class(spec.connector)
    except ConfigError as exc:
        return SourceCheck(
            None, None, [RecipeProblem(file=file, section=f"[sources.{name}] connector", message=exc.message)]
        )
    mine = {entity: s for entity, s in entities.items() if s.source == name}
    where = SourceContext(spec.write_back, tuple(s.location for s in mine.values() if s.location))
    options, problems = cls.Options.check(spec.options, ("sources", name), file, where)
    for entity, entity_spec in mine.items():
        problems.extend(cls.EntityOptions.check_entity(entity, entity_spec, file)[1])
    if options is not None:
        refused: list[tuple[str, ...]] = []
        for path in cls.data_paths(name, options, mine):
            if any(path.parts[: len(r)] == r for r in refused):
                continue  # inside a folder already refused: one problem says it
            try:
                confine(recipe_dir, path, data_dirs)
            except ConfigError as exc:
                refused.append(path.parts)
                problems.append(RecipeProblem(file=file, section=exc.where, message=exc.message))
    return SourceCheck(cls, options, problems)


def build_connector(name: str, spec: SourceSpec, context: ConnectorContext) -> Connector:
    """Build the connector for ``[sources.NAME]``, refusing what ``coprod validate`` refuses."""
    file = str(context.recipe_dir / "recipe.toml")
    check = check_source(name, spec, context.recipe.entities, file, context.recipe_dir, context.data_dirs)
    if check.problems or check.connector is None or check.options is None:
        raise ConfigError("; ".join(f"{p.section}: {p.message}" for p in check.problems))
    return check.connector(name, check.options, context)
