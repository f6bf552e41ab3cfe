"""Which connector serves which ``connector = "..."`` name, imported only when a recipe uses it."""

from __future__ import annotations

import importlib

from pydantic import ValidationError

from connectors.base import ConfigError, Connector, ConnectorContext
from coprod_core.recipe import SourceSpec, describe_errors

CONNECTORS: dict[str, str] = {
    "files": "connectors.files:FilesConnector",
    "sheets": "connectors.sheets:SheetsConnector",
    "kobotoolbox": "connectors.kobotoolbox:KoboConnector",
    "civicrm": "connectors.civicrm:CiviCRMConnector",
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


def build_connector(name: str, spec: SourceSpec, context: ConnectorContext) -> Connector:
    """Build the connector for ``[sources.NAME]``, validating its options with its own model."""
    cls = connector_class(spec.connector)
    try:
        options = cls.Options.model_validate(spec.options)
    except ValidationError as error:
        file = str(context.recipe_dir / "recipe.toml")
        problems = describe_errors(error, file)
        raise ConfigError(
            "; ".join(f"[sources.{name}] {p.section} {p.message}".replace("  ", " ") for p in problems)
        ) from None
    return cls(name, options, context)
