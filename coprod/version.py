"""Which coprod this is: the version of the installed package, which names the commit it was built
from (``0.1.1.dev412+gc7c5678``: setuptools-scm, see pyproject.toml).

Read from the installed package's metadata, when asked: ``coprod --version`` after an upgrade shows
whether the new wheel is the one running.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path


@cache
def installed_version() -> str:
    """The metadata installed beside the coprod that is running, first: another coprod's metadata
    earlier on the path (a PYTHONPATH lending another environment's packages) is not this one's."""
    beside = str(Path(__file__).resolve().parents[1])
    for dist in distributions(name="coprod", path=[beside]):
        return str(dist.version)
    try:
        return version("coprod")  # an editable install: its metadata is not beside the source
    except PackageNotFoundError:  # imported from a source folder that was never installed
        return "unknown (not installed)"
