"""Which connector serves which ``connector = "..."`` name, imported only when a recipe uses it."""

from __future__ import annotations

import importlib

from pydantic import ValidationError

from coprod.connectors.base import ConfigError, Connector, ConnectorContext
from coprod_core.recipe import RecipeProblem, SourceSpec, describe_errors

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


def option_problems(name: str, spec: SourceSpec, file: str) -> list[RecipeProblem]:
    """What is wrong with ``[sources.NAME]``'s options by its connector's own model (unknown = error)."""
    try:
        cls = connector_class(spec.connector)
    except ConfigError as exc:
        return [RecipeProblem(file=file, section=f"[sources.{name}] connector", message=str(exc))]
    try:
        cls.Options.model_validate(spec.options)
    except ValidationError as error:
        return [
            RecipeProblem(file=file, section=f"[sources.{name}] {p.section}".strip(), message=p.message)
            for p in describe_errors(error, file)
        ]
    return []


def build_connector(name: str, spec: SourceSpec, context: ConnectorContext) -> Connector:
    """Build the connector for ``[sources.NAME]``, validating its options with its own model."""
    problems = option_problems(name, spec, str(context.recipe_dir / "recipe.toml"))
    if problems:
        raise ConfigError("; ".join(f"{p.section} {p.message}" for p in problems))
    cls = connector_class(spec.connector)
    return cls(name, cls.Options.model_validate(spec.options), context)
