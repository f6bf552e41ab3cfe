"""Fake platforms and shared test helpers (no tests here). Tests import them as ``fakes.*``:
``tests/`` is on pytest's path (pyproject), the repository root is not, so ``coprod`` is always
the installed package."""

import importlib.util
from pathlib import Path
from types import ModuleType

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
