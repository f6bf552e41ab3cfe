"""This checkout's source as a build sees it: its tracked files (uncommitted changes and all) in a
folder of their own, and the wheel pip builds from them. The packaging tests build their wheels so,
and ``benchmarks/installed.py`` builds the one the whole-command benchmark installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from fakes import ROOT


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def tracked_files() -> list[str]:
    return [f for f in git("ls-files", "-z").split("\0") if f]


def copy_of_the_files(folder: Path, leave_out: str = "") -> Path:
    """This checkout's tracked files as they are, copied into ``folder`` (a tracked file deleted
    here and not yet committed is left out, or removed from ``folder``)."""
    for name in tracked_files():
        if name == leave_out:
            continue
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)
    return folder


def clone_with_the_files(checkout: Path) -> Path:
    """A clone at this checkout's commit, so a build sees the history its version is made from, with
    the tracked files as they are here copied over it. Built in a folder of its own, not here:
    setuptools writes ``build/`` into the folder it builds, and a ``build/lib`` left from an earlier
    build would put files since removed or renamed into the wheel."""
    head = git("rev-parse", "HEAD")
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(ROOT), str(checkout)], check=True)
    subprocess.run(["git", "checkout", "-q", "--detach", head], cwd=checkout, check=True)
    return copy_of_the_files(checkout)


def build_wheel(folder: Path, dist: Path) -> Path:
    """The wheel of the source in ``folder``, built as README's "Installing" says (pip wheel)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            ".",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("coprod-*.whl")
    return built
