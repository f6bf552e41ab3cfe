"""coprod installed from its wheel, as a user installs it, for the benchmarks that time whole commands.

A development environment installs coprod in editable mode (``pip install -e``): a ``.pth`` file in
its site-packages imports setuptools' finder at the start of *every* Python there, coprod or not
(pathlib, fnmatch, urllib.parse and more, about 50 million instructions of a bare ``python -c
pass``'s 88 million). The floor, a Python that only reads the files, paid that too, which no user's
Python does: measured from the development environment, the floor of a 1x check came out about 23
million instructions (1.5%) slower than a user's, and so the check's ratio to it better than a
user's by as much.

So the whole commands run from a throwaway environment made here: the wheel built from the working
tree (``pip wheel``, the same command as "Installing" in the README) and installed into a new venv,
whose site-packages also lists the development environment's own (by a path in a ``.pth`` file,
which adds the folder without running the ``.pth`` files in it), so that coprod's dependencies come
from there, as installed, and nothing is downloaded. coprod itself and its console script are the
wheel's.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from fakes.source import build_wheel, clone_with_the_files  # noqa: E402 - the packaging tests' own build


def wheel_environment(where: Path) -> Path:
    """A venv under ``where`` with coprod installed from a wheel of the working tree; returns its
    ``bin`` folder (its ``python`` and ``coprod``). Takes a few seconds to build the wheel."""
    wheel = build_wheel(clone_with_the_files(where / "source"), where / "wheel")
    venv = where / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # One folder per line: added to the path, its own .pth files (the editable finder) not run.
    (site / "coprod_bench_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        check=True,
    )  # fmt: skip
    found = subprocess.run(
        [python, "-P", "-c", "import coprod; print(coprod.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(found).is_relative_to(venv):
        raise SystemExit(f"the benchmark's environment imports coprod from {found}, not from its wheel")
    return python.parent
