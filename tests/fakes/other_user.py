"""Running a coprod command as a user whom the files' permissions really bind.

Tests run as root in CI, where permissions do not bind: a state file made read-only is written all
the same, so a test pretending with ``os.access`` passes whether or not SQLite could open it. Here,
run as root, the command runs in a forked child that has become ``nobody``; run as any other user,
the folder is made read-only for that user while the command runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from coprod.cli import main

NOBODY = 65534


@contextlib.contextmanager
def shared_folder() -> Iterator[Path]:
    """A folder anyone may enter and read (pytest's own ``tmp_path`` is its user's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="coprod-shared-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def readable_by_all(folder: Path) -> None:
    """Every file below ``folder`` readable, every folder enterable, by any user (a umask of 022)."""
    for path in (folder, *folder.rglob("*")):
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


def run_as_other_user(folder: Path, command: list[str]) -> tuple[int, str]:
    """``coprod COMMAND`` run by a user who may read ``folder`` but not write in it or its files:
    (exit code, what it printed). The files below ``folder`` must be readable by all
    (:func:`readable_by_all`), in a :func:`shared_folder`."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in (folder, *folder.iterdir())}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return _captured(command)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: becomes nobody, runs the command, says how it went, and leaves
        os.close(reading)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code, said = _captured(command)
        except BaseException as exc:  # said to the parent, which fails the test with it
            code, said = -1, f"{type(exc).__name__}: {exc}"
        with os.fdopen(writing, "w", encoding="utf-8") as out:
            json.dump([code, said], out)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, encoding="utf-8") as answer:
        code, said = json.load(answer)
    os.waitpid(pid, 0)
    return int(code), str(said)


def _captured(command: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(command)
    return code, out.getvalue()


def warm_up(command: list[str]) -> None:
    """Run the command once as this user first, so that every module it loads is loaded before a
    child that may not read them runs it (root's own Python may be in a folder only root reads)."""
    _captured(command)
