"""Fake platforms and shared test helpers (no tests here). Tests import them as ``fakes.*``:
``tests/`` is on pytest's path (pyproject), the repository root is not, so ``coprod`` is always
the installed package."""

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root: recipes/ and benchmarks/ are read from here, as files."""


def load_script(relative: str) -> ModuleType:
    """Import a repository script that is not part of the package (``recipes/kobotoolbox/make_forms.py``)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_copy(folder: Path, name: str) -> Path:
    """A copy of the demo recipe in ``folder``, named ``name`` (a recipe's name keys its flags and its
    lock): one of the recipes of a server's folder of recipe folders."""
    demo = ROOT / "recipes" / "demo"
    shutil.copytree(demo, folder, ignore=shutil.ignore_patterns(".coprod", "coprod-*", "*.py"))
    recipe = folder / "recipe.toml"
    text = recipe.read_text(encoding="utf-8")
    assert 'name = "demo"\n' in text
    recipe.write_text(text.replace('name = "demo"\n', f'name = "{name}"\n', 1), encoding="utf-8")
    return folder


def demo_recipes(
    tmp_path: Path, monkeypatch: Any, names: tuple[str, ...] = ("alpha", "beta", "gamma")
) -> Path:
    """/srv/coprod/recipes in small: a folder of copies of the demo (:func:`demo_copy`), one per name,
    sharing one state store (``COPROD_STATE``), run from ``tmp_path`` (no ``.env`` of the machine's
    in the way). ``monkeypatch``: pytest's, which undoes both after the test."""
    monkeypatch.setenv("COPROD_STATE", str(tmp_path / "state" / "state.sqlite"))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "recipes"
    for name in names:
        demo_copy(folder / name, name)
    return folder
