"""The connector interface: what every adapter (files, Sheets, KoboToolbox, CiviCRM) provides.

A connector is built from one ``[sources.NAME]`` section of a recipe. It reads rows of an entity
(paged, with an optional cursor), writes a batch of flag changes back, and says exactly which
changes could not be written so the sync never records as written what was not. It may read the
statuses staff set on flags in their tool (acknowledged, won't fix).

Connectors do not map rows onto the model: they hand over raw rows (column -> value) and the
mapping in ``coprod_core.mapping`` does the rest, the same way for every platform.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from coprod_core.lifecycle import FlagChange, FlagStatus
from coprod_core.recipe import Entity, EntitySpec, Recipe
from coprod_core.rows import Row

__all__ = ["Row"]  # re-exported: connectors build rows


class ConnectorError(Exception):
    """A problem a person must fix, said without secrets. ``exit_code`` tells cron what kind."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.where = where

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{self.where}: {msg}" if self.where else msg


class ConfigError(ConnectorError):
    """The recipe or the environment is wrong (a missing variable, an unknown option)."""

    exit_code = 2


class SourceUnavailable(ConnectorError):
    """The source could not be reached or refused us (network, 401/403/404, 5xx after retries)."""

    exit_code = 3


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    cursor: str | None = None
    """Where to resume after this page (an ``_id``, an id); None when the source has no cursor."""


@dataclass
class WriteReport:
    """What a write-back did. Every change passed in is in ``written`` or ``failed``."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """fingerprint -> reason, in words without secrets or personal data."""
    requests: int = 0

    def merge(self, other: WriteReport) -> None:
        self.written.extend(other.written)
        self.failed.update(other.failed)
        self.requests += other.requests


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may use from outside: the recipe, its folder and the environment."""

    recipe: Recipe
    recipe_dir: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout: float = 30.0

    def secret(self, variable: str, *, what: str) -> str:
        """The value of a secret variable, or a ConfigError naming the variable (never a value)."""
        value = self.env.get(variable, "").strip()
        if not value:
            raise ConfigError(
                f"{what} is not set: add {variable}=... to .env (or the environment) and try again"
            )
        return value

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.recipe_dir / p


class ConnectorOptions(BaseModel):
    """Base of each connector's options model: unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Connector(ABC):
    """Subclass per platform; register it in ``connectors.registry``."""

    kind: ClassVar[str]
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init__(self, name: str, options: ConnectorOptions, context: ConnectorContext) -> None:
        self.name = name
        self.options = options
        self.context = context
        self.state: Any = None
        """The run's StateStore, set by the sync before reading, for small non-personal memory
        (what value was last written to a submission); None outside a sync."""
        self.recipe_name: str = context.recipe.name

    @abstractmethod
    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        """Yield the entity's rows page by page, from ``cursor`` on (None: from the start)."""

    @abstractmethod
    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        """Write these changes back, batched. Idempotent: writing the same change twice is safe."""

    def read_staff_statuses(self) -> dict[str, FlagStatus]:
        """Statuses staff set on flags in the tool (fingerprint -> status). Default: none."""
        return {}

    def install(self) -> list[str]:
        """Prepare the tool (tabs, fields, hooks), idempotently. Returns what was done or checked."""
        return [f"{self.kind}: nothing to install"]

    def close(self) -> None:  # noqa: B027 - optional hook: most connectors hold nothing to release
        """Release sessions and files."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
