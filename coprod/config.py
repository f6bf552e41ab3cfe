"""Loading a recipe: read the TOML, bring in ``.env``, validate everything before any request.

Every problem is collected and reported at once, each naming the file, the section and the field,
so a member of staff fixes the recipe in one go rather than one error per run.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from coprod.connectors.registry import option_problems
from coprod_core.recipe import Recipe, RecipeProblem, parse_recipe


class RecipeInvalid(Exception):
    """The recipe cannot be used; ``problems`` says everything that is wrong with it."""

    exit_code = 2

    def __init__(self, problems: list[RecipeProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path
    dir: Path
    env: dict[str, str]


def resolve_recipe_path(path: str | Path) -> Path:
    """Accept a recipe file, or a folder holding ``recipe.toml``."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "recipe.toml"
    return p


def load_env(recipe_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment, completed by ``.env`` beside the recipe and in the working folder.

    Real environment variables always win over ``.env`` (so cron and systemd settings hold).
    """
    merged: dict[str, str] = {}
    for candidate in (Path.cwd() / ".env", recipe_dir / ".env"):
        if candidate.is_file():
            merged.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def load_recipe(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedRecipe:
    """Read and validate a recipe and its sources' options. Raises RecipeInvalid with every problem."""
    file = resolve_recipe_path(path)
    shown = str(file)
    if not file.is_file():
        raise RecipeInvalid([RecipeProblem(file=shown, section="", message="no such recipe file")])
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeInvalid(
            [RecipeProblem(file=shown, section="", message=f"not valid TOML: {exc}")]
        ) from None
    except UnicodeDecodeError:
        raise RecipeInvalid([RecipeProblem(file=shown, section="", message="not UTF-8 text")]) from None
    recipe, problems = parse_recipe(data, shown)
    if recipe is not None:
        problems = check_sources(recipe, shown)
    if problems or recipe is None:
        raise RecipeInvalid(problems)
    return LoadedRecipe(recipe=recipe, path=file, dir=file.parent, env=load_env(file.parent, env))


def check_sources(recipe: Recipe, file: str) -> list[RecipeProblem]:
    """Validate each source's options with its connector's own model (unknown option = error)."""
    return [p for name, spec in recipe.sources.items() for p in option_problems(name, spec, file)]
