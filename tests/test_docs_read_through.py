"""What a new user meets first: README.md and each recipe's README, followed from the top.

A read-through of the installed wheel, as someone who knows nothing would follow the documents,
found steps the code or the platform did not bear out. Each test pins one such claim to the code,
so the documents cannot drift from it again: the commands they show exist, the paths they copy
from are where an installed coprod keeps them, a cron line that promises mail sends it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from coprod.cli import parser
from fakes import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "recipes").glob("*/README.md"))]
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def code_lines(path: Path) -> list[str]:
    """Every line of every fenced code block of a document."""
    text = path.read_text(encoding="utf-8")
    return [line.strip() for block in CODE_BLOCK.findall(text) for line in block.splitlines() if line.strip()]


def readme_section(path: Path, title: str) -> str:
    (section,) = [
        p for p in re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M) if p.startswith(title)
    ]
    return section


def test_no_document_installs_coprod_from_pypi_where_it_is_not_published() -> None:
    # `pip install coprod` answered "No matching distribution found for coprod" (and one day could
    # install somebody else's package of that name): every install names coprod's own files.
    for doc in DOCS:
        for line in code_lines(doc):
            if "pip install" in line:
                target = shlex.split(line.split("#")[0])[-1]
                assert "/" in target, f"{doc.relative_to(ROOT)}: {line}"


def test_the_readme_shows_every_command_coprod_has() -> None:
    (action,) = [a for a in parser()._subparsers._group_actions]  # type: ignore[union-attr]
    commands = set(action.choices)  # type: ignore[arg-type]
    block = CODE_BLOCK.findall(readme_section(ROOT / "README.md", "Using it"))[0]
    shown = {line.split()[1] for line in block.splitlines() if line.startswith("coprod ")}

    assert shown == commands
