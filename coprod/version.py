"""Which coprod this is: the version of the installed package, which names the commit it was built
from (``0.1.1.dev412+gc7c5678``: setuptools-scm, see pyproject.toml).

Read from the installed package's metadata, when asked: ``coprod --version`` after an upgrade shows
whether the new wheel is the one running.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def installed_version() -> str:
    try:
        return version("coprod")
    except PackageNotFoundError:  # imported from a source folder that was never installed
        return "unknown (not installed)"
