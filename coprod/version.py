"""Which coprod this is: the version of the installed package, which names the commit it was built
from (``0.1.1.dev412+gc7c5678``: setuptools-scm, see pyproject.toml).

Read from the installed package's metadata, when asked: ``coprod --version`` after an upgrade shows
whether the new wheel is the one running.

A wheel built where git could not say which commit it is (a copy of the files without the ``.git``
folder, not a git archive or GitHub ZIP) has ``0.1.0+unknown``, or ``0.1.0`` where even
``.git_archival.txt`` was left out (pyproject.toml says how): every such build the same version.
:func:`names_a_commit` tells those apart from a version that says which code it is.
"""

from __future__ import annotations

import re
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
        return NOT_INSTALLED


NOT_INSTALLED = "unknown (not installed)"


COMMIT = re.compile(r"\+g[0-9a-f]{7,}(?:\.|$)")
"""A version's local part naming the commit (``+g5b2869ccd``; ``.d20261207`` after it when built
from a checkout with uncommitted changes): what every build from a git checkout or archive has."""

NO_COMMIT = (
    "built without git history: upgrade checks cannot tell versions apart; install the next coprod "
    "with pip install --force-reinstall (README: Upgrading)"
)
"""What ``coprod --version`` adds after a version that does not name a commit."""


def names_a_commit(version: str) -> bool:
    """Whether two installs with this version are the same code: a version that names its commit
    is; ``0.1.0+unknown``, ``0.1.0`` (every wheel before versions named commits, and a copy of the
    files without ``.git_archival.txt``) and a source folder never installed are not."""
    return COMMIT.search(version) is not None


def shown_version() -> str:
    """``coprod --version``'s words: the version, and what it cannot tell when it names no commit."""
    installed = installed_version()
    if names_a_commit(installed) or installed == NOT_INSTALLED:
        return installed
    return f"{installed} ({NO_COMMIT})"
