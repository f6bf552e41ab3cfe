"""What a user installs: one wheel, everything under the coprod namespace, the demo inside it.

The wheel is built from a copy of the repository in which a demo has run and a state file sits
beside a recipe (what a real checkout looks like after `make demo`), so a working folder that
slipped into the wheel would show. It is then installed into a fresh virtualenv and `coprod demo`
runs from an empty folder, as a user who installed the wheel (README: Installing) would run it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from fakes import ROOT
from fakes.source import build_wheel, clone_with_the_files, copy_of_the_files, git, tracked_files

pytestmark = pytest.mark.timeout(300)

JUNK = (
    "coprod-demo/data/coprod-flags.csv",  # `make demo`'s output, names and all
    "recipes/demo/.coprod/state.sqlite",
    "recipes/demo/output/report.html",
    "recipes/demo/data/coprod-flags.csv",
    "recipes/demo/data/.coprod-flags.csv.1234.tmp",
    "recipes/files/example-data/coprod-flags.csv",  # a try-out of the files recipe in the source
    "connectors/__pycache__/base.cpython-311.pyc",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.fail("the packaging test builds from the git checkout; run it from a clone")
    # A clone at this checkout's commit with the tracked files as they are here (fakes.source).
    checkout = clone_with_the_files(tmp_path_factory.mktemp("checkout"))
    for name in JUNK:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text("Zebedee Leakwell, a name that must never ship\n", encoding="utf-8")
    return build_wheel(checkout, tmp_path_factory.mktemp("dist"))


def test_the_wheel_installs_nothing_outside_the_coprod_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {
        "coprod",
        "coprod_core",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    assert "coprod/connectors/kobotoolbox.py" in names
    assert "coprod/webhook_app/__init__.py" in names
    assert "coprod/recipes/demo/recipe.toml" in names
    assert "coprod/recipes/demo/data/people.csv" in names


def test_the_wheel_holds_nothing_from_a_working_folder(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    leaked = [
        n
        for n in names
        if "coprod-demo" in n
        or "coprod-flags" in n
        or ".coprod" in n
        or n.endswith((".sqlite", ".tmp", ".pyc"))
        or "/output/" in n
    ]
    assert leaked == []
    for n in names:
        if not n.endswith(".dist-info/RECORD"):
            assert b"Zebedee Leakwell" not in zipfile.ZipFile(wheel).read(n), n


def test_the_wheel_ships_every_file_of_the_recipe_folders_but_the_maintainers_scripts(wheel: Path) -> None:
    # The recipe READMEs name the files beside them (templates/, coprod_trigger.gs, the XLSForms,
    # notify/, the systemd units): a file added to a recipe folder but not to pyproject's explicit
    # package-data list would be named by its README and missing from every installed coprod. Only
    # the scripts that rebuild the demo's data and the forms stay in the source, as their READMEs say.
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = [n for n in tracked_files() if n.startswith("recipes/")]
    missing = [n for n in recipes if f"coprod/{n}" not in names]

    assert sorted(missing) == ["recipes/demo/make_demo.py", "recipes/kobotoolbox/make_forms.py"]
    kobo = (ROOT / "recipes" / "kobotoolbox" / "README.md").read_text(encoding="utf-8")
    assert "only in coprod's source, not in the copy that comes with an installed coprod" in kobo


def wheel_version(wheel: Path) -> str:
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    (line,) = [
        x for x in zipfile.ZipFile(wheel).read(meta).decode().splitlines() if x.startswith("Version: ")
    ]
    return line.removeprefix("Version: ")


def test_the_wheel_is_versioned_by_the_commit_it_is_built_from(wheel: Path) -> None:
    """Each commit's wheel has a version of its own, later than an earlier commit's and than the
    0.1.0 every wheel had before: with one version for all, `pip install -U` of a new wheel said
    "coprod is already installed with the same version" and kept the old code (README: Upgrading)."""
    version = wheel_version(wheel)
    found = re.fullmatch(r"0\.1\.1\.dev(\d+)\+g([0-9a-f]{7,})(?:\.d\d{8})?", version)
    assert found, version
    assert int(found[1]) == int(git("rev-list", "--count", "HEAD"))  # one more with each commit
    assert git("rev-parse", "HEAD").startswith(found[2])
    assert wheel.name == f"coprod-{version}-py3-none-any.whl"


@pytest.fixture(scope="module")
def zip_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this commit as GitHub's "Download ZIP" gives it (`git archive`, which
    fills in .git_archival.txt; no .git folder), unzipped: the committed files, not this checkout's
    uncommitted changes."""
    where = tmp_path_factory.mktemp("zip")
    made = subprocess.run(
        ["git", "archive", "--format=zip", "--prefix=coprod-main/", "HEAD"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    zipfile.ZipFile(io.BytesIO(made.stdout)).extractall(where)
    assert not (where / "coprod-main" / ".git").exists()
    return build_wheel(where / "coprod-main", tmp_path_factory.mktemp("dist"))


def test_a_zip_of_a_commit_builds_a_wheel_versioned_by_that_commit(zip_wheel: Path) -> None:
    """Without git history the version could not say which code it is, and a later ZIP's wheel
    installed over an earlier one's with `pip install -U` would be "the same version", the old code
    kept. From the ZIP: 0.1.1.dev<the commit's time>+g<the commit> (.gitattributes says why the
    time), so each commit's wheel has a version of its own and a later commit's is later."""
    version = wheel_version(zip_wheel)
    found = re.fullmatch(r"0\.1\.1\.dev(\d+)\+g([0-9a-f]{7,})", version)
    assert found, version
    committed_at, commit = git("log", "-1", "--format=%ct %H", "HEAD").split()
    assert found[1] == committed_at
    assert commit.startswith(found[2])
    assert zip_wheel.name == f"coprod-{version}-py3-none-any.whl"


def test_a_copy_of_the_files_without_git_history_builds_a_wheel_that_says_it_names_no_commit(
    tmp_path: Path,
) -> None:
    """A copy of a checkout's files without its .git folder: nothing says which commit it is, so its
    version is the same for every such copy, and says so: 0.1.0+unknown (above the 0.1.0 of every
    wheel before versions named commits, so it replaces one of those, and below every build that
    names a commit). `coprod --version` says what that means and what to do (README: Upgrading);
    a copy that left out .git_archival.txt too is 0.1.0, which coprod reads the same way."""
    copy = copy_of_the_files(tmp_path / "coprod")
    wheel = build_wheel(copy, tmp_path / "dist")
    assert wheel_version(wheel) == "0.1.0+unknown"
    shown = subprocess.run(
        [install(wheel, tmp_path / "venv").bindir / "coprod", "--version"],
        env=installed_env(),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout == (
        "coprod 0.1.0+unknown (built without git history: upgrade checks cannot tell versions apart; "
        "install the next coprod with pip install --force-reinstall (README: Upgrading))\n"
    )

    # the version setuptools-scm gives the build there, asked without building (a build is slow)
    bare = copy_of_the_files(tmp_path / "no-dotfiles", leave_out=".git_archival.txt")
    asked = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"], cwd=bare, capture_output=True, text=True, check=True
    )
    assert asked.stdout == "0.1.0\n"


def test_the_wheel_metadata_has_an_spdx_licence(wheel: Path) -> None:
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in text


class Installed(NamedTuple):
    """coprod installed from the wheel into a virtualenv of its own, as README's "Installing" says."""

    venv: Path
    bindir: Path
    env: dict[str, str]
    """The environment to run it in: nothing of this test run's COPROD_ settings or virtualenv."""


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return install(wheel, tmp_path_factory.mktemp("installed") / "venv")


def install(wheel: Path, env_dir: Path) -> Installed:
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    # Only coprod comes from the wheel; its dependencies are lent from this test run's environment
    # (a path entry, not a site dir, so this environment's editable coprod is not seen). This
    # environment's pip installs into the new one (--python): seeding it a pip of its own took
    # longer than everything else here.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            bindir / "python",
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return Installed(env_dir, bindir, installed_env())


def installed_env() -> dict[str, str]:
    """The environment to run an installed coprod in: nothing of this test run's COPROD_ settings
    or virtualenv, and its dependencies lent from this test run's environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COPROD_", "PYTHON", "VIRTUAL_ENV"))} | {
        "PYTHONPATH": sysconfig.get_paths()["purelib"]
    }


def test_coprod_demo_runs_from_an_empty_folder_after_installing_the_wheel(
    installed: Installed, tmp_path: Path
) -> None:
    env_dir, bindir, env = installed
    py = bindir / "python"
    empty = tmp_path / "somewhere-else"
    empty.mkdir()
    where = subprocess.run(
        [py, "-c", "import coprod, coprod.connectors, coprod.webhook_app; print(coprod.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(env_dir) in where
    for generic in ("connectors", "webhook_app", "recipes"):
        probe = subprocess.run([py, "-c", f"import {generic}"], cwd=empty, env=env, capture_output=True)
        assert probe.returncode != 0, f"'{generic}' is importable as a top-level package"
    run = subprocess.run(
        [bindir / "coprod", "demo"], cwd=empty, env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    # the venv's bin/ is not on PATH here, so the demo names coprod by the path it was started by
    assert f"run `{bindir / 'coprod'} demo` again." in run.stdout
    flags = empty / "coprod-demo" / "data" / "coprod-flags.csv"
    with flags.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    checks = {r["Check"].split(".", 1)[0] for r in rows}
    assert {"representation", "payments", "consultation"} <= checks


def test_coprod_version_names_the_wheel_installed(installed: Installed, wheel: Path, tmp_path: Path) -> None:
    """What to look at after `pip install -U` (README: Upgrading): the commit now running, even
    where another coprod's metadata comes first on the path (here: a PYTHONPATH entry, as this
    test's own environment lends its editable install's, which is fixed at the commit it was
    installed at)."""
    other = tmp_path / "other-site" / "coprod-0.0.1.dist-info"
    other.mkdir(parents=True)
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: coprod\nVersion: 0.0.1\n", encoding="utf-8")
    env = installed.env | {"PYTHONPATH": os.pathsep.join([str(other.parent), installed.env["PYTHONPATH"]])}
    shown = subprocess.run(
        [installed.bindir / "coprod", "--version"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout == f"coprod {wheel_version(wheel)}\n"


def test_each_recipe_readmes_copy_command_works_from_inside_coprods_source_folder(
    installed: Installed, tmp_path: Path
) -> None:
    # Installed "from this repository's folder" (README: Installing), a data officer may well still
    # stand in it when a recipe README says to copy the recipe out. There `python -c 'import
    # coprod.recipes'` imported the source folder's coprod/ (the current folder comes first on
    # sys.path), which has no recipes: a traceback, then "cp: cannot stat '/kobotoolbox'".
    for folder in ("google-sheets", "kobotoolbox", "civicrm", "files"):
        text = (ROOT / "recipes" / folder / "README.md").read_text(encoding="utf-8")
        (command,) = [line.strip() for line in text.splitlines() if line.strip().startswith("cp -r ")]
        python, target = re.fullmatch(r"""cp -r "\$\((\S+/python) .*" (\S+)""", command).groups()  # type: ignore[union-attr]
        copy = tmp_path / folder
        command = command.replace(python, str(installed.bindir / "python")).replace(target, str(copy))

        run = subprocess.run(
            ["sh", "-c", command], cwd=ROOT, env=installed.env, capture_output=True, text=True
        )

        assert run.returncode == 0, f"{folder}: {run.stderr}"
        assert (copy / "recipe.toml").is_file() and (copy / "README.md").is_file(), folder
