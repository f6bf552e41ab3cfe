"""The command line on the systems staff have: Windows and macOS laptops as well as Linux.

These tests run on Linux (Windows cannot be run here), so they show what can be shown on Linux: the
command line with what Windows lacks taken away (``fcntl``, ``resource``, ``select.epoll`` and
``poll``, the signals and ``os`` functions Windows has not), with output in cp1252 (what Windows
gives a file or pipe), and the Windows ways of the files connector (close a file before renaming
or removing it) taken on Linux, where a test can see which files are open. Whether Windows itself
does as expected is not tested here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from coprod.config import load_recipe
from coprod.state import RunLocked, StateStore
from coprod.sync import ExitCode, run
from fakes import ROOT

DAY = date(2026, 11, 20)

COMMAND = "import sys; from coprod.command import main; sys.exit(main())"
"""The ``coprod`` console script as pip writes it (``coprod = "coprod.command:main"``)."""

WITHOUT_LINUX_ONLY = '''
"""Run before anything else (sitecustomize): take away what Windows lacks."""
import os, select, signal, sys

# The file lock is filelock's, which uses LockFileEx on Windows and flock elsewhere: it is imported
# first, with fcntl, as it would be with its Windows lock. Nothing imported after it finds fcntl.
import filelock

for name in ("fcntl", "resource", "termios", "tty", "pty", "pwd", "grp"):
    sys.modules[name] = None  # import fails, as on Windows
for module, names in (
    (select, ("epoll", "poll", "devpoll", "kqueue")),
    (signal, ("SIGHUP", "SIGKILL", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE")),
    (os, ("pread", "pwrite", "fchmod", "fchown", "chown", "lchown", "O_CLOEXEC", "O_NOFOLLOW",
          "O_NONBLOCK", "nice", "fork", "forkpty", "getuid", "geteuid", "getgid", "getegid", "setsid",
          "getpgid", "setpgid", "killpg", "uname", "sync", "fdatasync", "statvfs", "fstatvfs",
          "mkfifo", "getloadavg", "sched_getaffinity", "posix_fadvise", "posix_fallocate", "lockf",
          "sendfile", "pipe2", "wait3", "wait4", "getpriority", "setpriority", "sysconf")),
):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
'''

WEBHOOK_DEPLOYMENT = {
    "coprod.webhook_app.access_log",
    "coprod.webhook_app.gunicorn_conf",
    "coprod.webhook_app.gunicorn_start",
    "coprod.webhook_app.gunicorn_worker",
}
"""Modules of the webhook app's deployment under gunicorn, which is Linux only (gunicorn needs fcntl)."""

IMPORT_EACH = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def windows_like(tmp_path: Path, encoding: str | None = None) -> dict[str, str]:
    """The environment of a subprocess that runs without what Windows lacks (and, given an
    ``encoding``, writes its output in it, as Windows does to a file or pipe)."""
    site = tmp_path / "windows-like"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(WITHOUT_LINUX_ONLY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("COPROD_STATE", "PYTHONIOENCODING")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    if encoding:
        env["PYTHONIOENCODING"] = encoding
    return env


def installed_modules() -> list[str]:
    """Every module the package installs, by the packages and folders ``pyproject.toml`` names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders: dict[str, str] = config["package-dir"]
    names = []
    for package in config["packages"]:
        mapped = next((p for p in sorted(folders, key=len, reverse=True) if package.startswith(p)), None)
        if mapped is None:
            folder = ROOT / package.replace(".", "/")
        else:
            folder = ROOT / folders[mapped] / package[len(mapped) + 1 :].replace(".", "/")
        for file in sorted(folder.glob("*.py")):
            names.append(package if file.stem == "__init__" else f"{package}.{file.stem}")
    return names


def test_every_module_imports_without_what_windows_lacks_but_the_webhook_deployment(tmp_path):
    modules = installed_modules()
    assert {"coprod.cli", "coprod.locking", "coprod.state_sqlite", "coprod.connectors.files"} <= set(modules)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, *modules],
        capture_output=True,
        text=True,
        env=windows_like(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout)
    # what Windows lacks was taken away: gunicorn's worker, which needs fcntl, cannot be imported
    assert "fcntl" in failed.get("coprod.webhook_app.gunicorn_worker", ""), failed
    assert set(failed) <= WEBHOOK_DEPLOYMENT, failed


def test_coprod_demo_runs_from_an_empty_folder_without_what_windows_lacks(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = windows_like(tmp_path)
    first, again = (
        subprocess.run(
            [sys.executable, "-c", COMMAND, "demo"],
            capture_output=True,
            text=True,
            env=env,
            cwd=empty,
            timeout=240,
        )
        for _ in range(2)
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "coprod demo: 'Riverside Forum (fictional)" in first.stdout
    assert "Payment overdue" in first.stdout
    flags = empty / "coprod-demo" / "data" / "coprod-flags.csv"
    assert f"Flags written to {flags.relative_to(empty)}" in first.stdout
    assert "Day service redesign" in flags.read_text(encoding="utf-8-sig")
    # the runs held the recipe's lock (the lock file says who) and left no temporary file
    lock = empty / "coprod-demo" / ".coprod" / "state.sqlite.demo.lock"
    assert lock.read_text(encoding="utf-8").split()[0] == socket.gethostname()
    assert list(flags.parent.glob("*.tmp")) == []
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing changed since the last run, so nothing was written." in again.stdout


def renamed_person(demo: Path, name: str) -> None:
    """Give person 10 of the demo (owed expenses: named in a flag) another name."""
    people = demo / "data" / "people.csv"
    text = people.read_text(encoding="utf-8")
    assert "10,Jade Thompson," in text
    people.write_text(text.replace("10,Jade Thompson,", f"10,{name},"), encoding="utf-8")


def printed_to_a_cp1252_file(tmp_path: Path, *command: str) -> bytes:
    """What ``coprod COMMAND`` wrote to a file, its output in cp1252 as Windows writes a file or pipe
    (and without what Windows lacks); the command must end with exit code 0."""
    with (tmp_path / "out").open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-c", COMMAND, *command],
            stdout=out,
            stderr=subprocess.PIPE,
            env=windows_like(tmp_path, encoding="cp1252"),
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    return (tmp_path / "out").read_bytes()


def test_check_printing_to_a_cp1252_file_shows_what_it_cannot_encode_as_a_question_mark(demo, tmp_path):
    """cp1252 has é but not Ł or →: the check printed every flag up to the first name with one,
    then stopped with 'something unexpected went wrong' (exit 1)."""
    renamed_person(demo, "Jadé Łukasz → Thompson")
    printed = printed_to_a_cp1252_file(tmp_path, "check", str(demo), "--date", "2026-11-20").decode("cp1252")
    assert "Jadé ?ukasz ? Thompson (ID 10) is owed £4.50 in expenses" in printed
    [count] = re.findall(r"^  flags +(\d+):", printed, flags=re.MULTILINE)
    assert len(re.findall(r"^(!!|! |i ) \[", printed, flags=re.MULTILINE)) == int(count) > 0  # every flag
    assert "something unexpected" not in printed


def test_a_report_printed_to_a_cp1252_file_is_the_utf8_page_it_says_it_is(demo, tmp_path):
    renamed_person(demo, "Jadé Łukasz → Thompson")
    page = printed_to_a_cp1252_file(tmp_path, "report", str(demo), "--date", "2026-11-20").decode("utf-8")
    assert '<meta charset="utf-8">' in page and "Jadé Łukasz → Thompson" in page


def test_a_waiting_run_names_the_lock_holder_from_after_the_byte_windows_locks(tmp_path):
    """Windows locks byte 0 of the lock file, and no other process can read a locked byte: the
    holder's words start after it, and a waiting run reads them from there."""
    first, second = (StateStore.open(tmp_path / "state.sqlite") for _ in range(2))
    try:
        with first.lock("demo", timeout=1):
            held = first.lock_path("demo").read_bytes()
            assert held[:1] == b" " and held[1:].startswith(socket.gethostname().encode())
            with (
                pytest.raises(RunLocked, match=f"process {os.getpid()} on {socket.gethostname()}"),
                second.lock("demo", timeout=0.2),
            ):
                pass
    finally:
        first.close()
        second.close()


def open_in_this_process() -> set[Path]:
    """The files this process holds open (Linux shows them in /proc/self/fd)."""
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(Path(os.readlink(fd)))
        except OSError:
            continue
    return found


def spying(real: Callable[..., None], seen: list[tuple[Path, bool]]) -> Callable[..., None]:
    def call(src: str | os.PathLike[str], *rest: object) -> None:
        seen.append((Path(src), Path(src) in open_in_this_process()))
        real(src, *rest)

    return call


@pytest.mark.parametrize("renames_open_files", [True, False], ids=["linux", "windows"])
def test_the_flags_file_is_swapped_in_while_locked_where_the_system_allows_else_once_closed(
    demo, monkeypatch, renames_open_files
):
    """Linux and macOS rename a file that is open: the temporary file is swapped in still locked.
    Windows does not: there it is closed first, and a rename of an open file would fail."""
    from coprod.connectors import files

    monkeypatch.setattr(files, "RENAMES_OPEN_FILES", renames_open_files)
    replaced: list[tuple[Path, bool]] = []
    monkeypatch.setattr(files.os, "replace", spying(os.replace, replaced))
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.OK and result.write.written, result.messages
    [(temp, was_open)] = [(src, was_open) for src, was_open in replaced if src.suffix == ".tmp"]
    assert was_open is renames_open_files
    flags = demo / "data" / "coprod-flags.csv"
    assert "Day service redesign" in flags.read_text(encoding="utf-8-sig")
    assert oct(flags.stat().st_mode & 0o777) == "0o600"
    assert not temp.exists() and list(flags.parent.glob("*.tmp")) == []


def test_a_killed_runs_temporary_file_is_removed_once_closed_as_windows_needs(demo, monkeypatch):
    from coprod.connectors import files

    left = demo / "data" / ".coprod-flags.csv.dead.tmp"
    left.write_text("Participant, names\n", encoding="utf-8")  # nobody holds its lock: its run was killed
    removed: list[tuple[Path, bool]] = []
    monkeypatch.setattr(files.os, "unlink", spying(os.unlink, removed))
    result = run(load_recipe(demo, env={}), run_date=DAY)
    assert result.exit_code == ExitCode.OK, result.messages
    assert [was_open for src, was_open in removed if src == left] == [False] and not left.exists()
