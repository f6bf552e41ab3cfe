"""What starting ``coprod`` costs: every command pays it (cron, ``status``, a webhook worker's start).

Each test runs a fresh Python, as the command is: this process has imported far more already.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo"

NOT_AT_START = (
    # connectors' libraries, loaded with the connector a recipe names
    "requests",
    "urllib3",
    "gspread",
    "google.auth",
    "google.oauth2",
    "python_calamine",
    "openpyxl",
    # the state store on PostgreSQL, the webhook app, the report, progress bars, .env files
    "psycopg",
    "psycopg_pool",
    "flask",
    "werkzeug",
    "gunicorn",
    "standardwebhooks",
    "jinja2",
    "coprod.report",
    "coprod.webhook_app",
    "rich",
    "dotenv",
    # for a mistyped rule name only (``coprod explain``); for workbooks only
    "difflib",
    "xml.etree",
    # package metadata, for ``--version`` and a sync's "same coprod" mark (with email, zipfile and
    # socket); the packaged demo, for ``coprod demo``
    "importlib.metadata",
    "email",
    "zipfile",
    "socket",
    "importlib.resources",
)

LOOK = """
import json, sys
import coprod.command
from pydantic import BaseModel

coprod.command.import_cli()
for name in sys.argv[1:]:
    __import__(name)


def every(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from every(sub)


built = {
    f"{m.__module__}.{m.__qualname__}"
    for m in every(BaseModel)
    if m.__module__.startswith("coprod") and m.__pydantic_complete__
}
print(json.dumps({"modules": sorted(sys.modules), "built": sorted(built)}))
"""


def _started(*also: str) -> dict[str, list[str]]:
    """The modules loaded and the pydantic models built by importing what the command imports
    (and ``also``), in a fresh Python."""
    done = subprocess.run(
        [sys.executable, "-c", LOOK, *also], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_starting_the_command_loads_no_library_a_command_may_not_need_and_builds_no_model():
    started = _started()
    assert _loaded(started["modules"], NOT_AT_START) == []
    # Each model's validator is built when something first validates one (defer_build), so
    # --version, status and rules build none: a default made at import (``= CheckSettings()``)
    # would build it again at every start.
    assert started["built"] == []


def test_starting_the_command_loads_no_sqlite_until_a_state_file_is_opened():
    started = _started()
    assert "sqlite3" not in started["modules"], (
        "sqlite3 is imported at start again: coprod check of a recipe with no state file never opens "
        "one, and the import cost every start of coprod about 5 million instructions (coprod.state, "
        "coprod.sync and coprod.state_sqlite import it where a state file is opened)"
    )


def test_the_files_connector_loads_no_workbook_reader_until_it_reads_a_workbook():
    started = _started("coprod.connectors.files")
    assert _loaded(started["modules"], ("python_calamine", "openpyxl", "xml.etree")) == []


SPY = """
import os


class Spy:
    def new_schema_validator(self, schema, schema_type, schema_type_path, schema_kind, config, plugin_settings):
        with open(os.environ["SPY_SAW"], "a", encoding="utf-8") as saw:
            saw.write(getattr(schema_type, "__qualname__", str(schema_type)) + "\\n")
        return None, None, None


plugin = Spy()
"""


def _installed_spy(site: Path) -> None:
    """A pydantic plugin installed as any package would install one (an entry point in its
    metadata), which writes down each model whose validator it is offered."""
    site.mkdir()
    (site / "coprod_test_spy.py").write_text(SPY, encoding="utf-8")
    meta = site / "coprod_test_spy-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: coprod-test-spy\nVersion: 1.0\n", encoding="utf-8"
    )
    (meta / "entry_points.txt").write_text("[pydantic]\nspy = coprod_test_spy:plugin\n", encoding="utf-8")


def test_the_command_lets_no_pydantic_plugin_see_what_it_validates_unless_the_variable_is_set(tmp_path):
    _installed_spy(tmp_path / "site")
    recipe = tmp_path / "demo"
    shutil.copytree(DEMO, recipe, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    saw = tmp_path / "saw.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env |= {"PYTHONPATH": str(tmp_path / "site"), "SPY_SAW": str(saw)}
    command = "import sys; from coprod.command import main; sys.exit(main())"

    def validate(**more: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", command, "validate", str(recipe)],
            capture_output=True,
            text=True,
            env=env | more,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    validate()
    assert not saw.exists()
    # Whoever sets pydantic's variable chooses: here every plugin but one named "other" may run,
    # and the spy is offered the recipe's validator (so the run above would have shown it too).
    validate(PYDANTIC_DISABLE_PLUGINS="other")
    assert "Recipe" in saw.read_text(encoding="utf-8").split()


def test_the_webhook_app_under_gunicorn_lets_no_pydantic_plugin_see_a_delivery(tmp_path):
    """Under gunicorn (recipes/deploy's coprod-webhook.service) the ``coprod`` command does not run,
    and the app validates every delivery (people's answers) with the models it builds in each
    process: its configuration sets the same switch before any is built."""
    _installed_spy(tmp_path / "site")
    saw = tmp_path / "saw.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env |= {"PYTHONPATH": str(tmp_path / "site"), "SPY_SAW": str(saw)}
    # what gunicorn does: load its configuration in the arbiter, then build the app in each process
    # (create_app imports the platforms' delivery models)
    load = (
        "import coprod.webhook_app.gunicorn_conf\n"
        "from coprod.webhook_app.platforms import civicrm, kobotoolbox, sheets\n"
        "kobotoolbox.KoboSubmission.model_json_schema()\n"
    )

    def started(**more: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", load], capture_output=True, text=True, env=env | more, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr

    started()
    assert not saw.exists()
    started(PYDANTIC_DISABLE_PLUGINS="other")  # whoever set it chose: the spy may run, and sees them
    assert {"CiviNotice", "KoboSubmission", "SheetsNotice"} <= set(saw.read_text(encoding="utf-8").split())


def test_the_pydantic_required_is_one_that_reads_the_variable_turning_plugins_off():
    """pydantic first reads ``PYDANTIC_DISABLE_PLUGINS`` in 2.7.0 (pydantic's HISTORY.md, v2.7.0:
    "Add environment variable to disable plugins", #8767): with an older one the command's switch
    does nothing, and a plugin sees what coprod validates."""
    with (DEMO.parent.parent / "pyproject.toml").open("rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    [pydantic] = [d for d in dependencies if re.match(r"pydantic\b", d)]
    lowest = re.search(r">=\s*([\d.]+)", pydantic)
    assert lowest is not None, pydantic
    assert tuple(int(n) for n in lowest.group(1).split(".")) >= (2, 7)


def test_no_model_takes_a_built_in_read_from_its_text_as_a_default_factory():
    import importlib

    from pydantic import BaseModel

    for name in ("coprod.cli", "coprod.connectors.civicrm", "coprod.connectors.kobo_rows"):
        importlib.import_module(name)

    def every(cls: type) -> list[type]:
        return [m for sub in cls.__subclasses__() for m in (sub, *every(sub))]

    read_from_text = [
        f"{model.__module__}.{model.__qualname__}.{field}: {info.default_factory.__qualname__}"
        for model in every(BaseModel)
        if model.__module__.startswith("coprod")
        for field, info in model.model_fields.items()
        if getattr(info.default_factory, "__text_signature__", None) is not None
    ]
    assert read_from_text == [], (
        "pydantic asks every default factory for its signature as it builds a validator, and Python "
        "reads a built-in's (list's) from its text with tokenize, whose first use compiles a pattern "
        "of thousands of characters: about 10 million instructions at every coprod check and sync. "
        "Use coprod_core.defaults.new_list instead of list"
    )


CHECK = """
import json, os, sys
from coprod.command import import_cli, keep_pydantic_plugins_out

keep_pydantic_plugins_out(os.environ)
import_cli()
import coprod.cli

code = coprod.cli.main(sys.argv[1:])
with open(os.environ["MODULES_SAW"], "w", encoding="utf-8") as saw:
    json.dump({"code": code, "modules": sorted(sys.modules)}, saw)
"""


def test_a_check_with_a_state_file_reads_no_package_metadata_and_imports_no_socket(tmp_path):
    """pydantic imports its plugin loader (and so :mod:`importlib.metadata`: about 33 million
    instructions) to build the first validator, even with every plugin off, unless the command's
    stand-in is there; the state file's run lock named its holder through ``socket`` (about 10
    million)."""
    recipe = tmp_path / "demo"
    shutil.copytree(DEMO, recipe, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    saw = tmp_path / "saw.json"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env |= {"MODULES_SAW": str(saw), "COPROD_STATE": str(tmp_path / "state.sqlite")}
    for command in ("sync", "check"):  # the sync leaves the state file the check then opens
        done = subprocess.run(
            [sys.executable, "-c", CHECK, command, str(recipe / "recipe.toml"), "--date", "2026-11-20"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    checked = json.loads(saw.read_text(encoding="utf-8"))
    assert "sqlite3" in checked["modules"]  # the state file was opened
    assert _loaded(checked["modules"], ("importlib.metadata", "socket")) == []


STAND_IN = """
import os, sys
from coprod.command import skip_plugin_search

skip_plugin_search()
from pydantic import BaseModel


class WhileAllOff(BaseModel):
    x: int


WhileAllOff(x=1)
assert "importlib.metadata" not in sys.modules
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "other"


class OnceTurnedOn(BaseModel):
    y: int


OnceTurnedOn(y=1)
"""


def test_the_stand_in_for_pydantics_plugin_loader_answers_as_pydantics_own(tmp_path):
    """No plugin while every one is off, and pydantic's own loader's answer once the switch says
    otherwise: the spy is offered the validator built after the switch changed, not the one before."""
    _installed_spy(tmp_path / "site")
    saw = tmp_path / "saw.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env |= {"PYTHONPATH": str(tmp_path / "site"), "SPY_SAW": str(saw), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    done = subprocess.run(
        [sys.executable, "-c", STAND_IN], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert saw.read_text(encoding="utf-8").split() == ["OnceTurnedOn"]


def test_pydantic_asks_its_plugin_loader_for_nothing_but_get_plugins():
    """The command's stand-in (:func:`coprod.command.skip_plugin_search`) has only ``get_plugins``:
    a pydantic that imports anything else from its loader needs the stand-in to grow with it."""
    import pydantic

    package = Path(pydantic.__file__).parent
    asked = sorted(
        line.strip()
        for path in package.rglob("*.py")
        if path != package / "plugin" / "_loader.py"
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\b_loader\b", line)
    )
    assert asked == ["from ._loader import get_plugins"]


def test_a_lock_files_holder_is_named_as_socket_names_this_machine():
    import socket

    from coprod.locking import host_name

    assert host_name() == socket.gethostname()


def test_the_models_modules_make_their_fields_annotations_as_objects_not_text():
    """pydantic compiles and evaluates a field's annotation given as text (``from __future__ import
    annotations``) as the model class is made, and typing a named tuple field's, at every start of
    coprod: these modules, whose classes are made at every start, give the objects themselves
    (starting coprod: about 10 million instructions fewer). A class named before it is made stays
    in quotes."""
    import typing

    from coprod_core import flags, model, recipe, settings

    as_text = [
        f"{module.__name__}.{name}.{field}"
        for module in (flags, model, recipe, settings)
        for name, made in vars(module).items()
        if isinstance(made, type) and made.__module__ == module.__name__
        for field, annotation in made.__dict__.get("__annotations__", {}).items()
        if isinstance(annotation, str | typing.ForwardRef)
    ]
    assert as_text == ["coprod_core.model.PolicyPeriod.policy"]


SHARED = """
import json, sys, typing
import coprod.command

coprod.command.import_cli()
codes = {}
for module in list(sys.modules.values()):
    for made in list(vars(module).values()) if module is not None else ():
        annotations = made.__dict__.get("__annotations__") if isinstance(made, type) else None
        if isinstance(annotations, dict):
            for annotation in annotations.values():
                if isinstance(annotation, typing.ForwardRef):
                    codes.setdefault(annotation.__forward_arg__, set()).add(id(annotation.__forward_code__))
print(json.dumps({"compiled": {text: len(ids) for text, ids in codes.items()}, "left": hasattr(typing, "compile")}))
"""


def test_starting_the_command_compiles_each_annotation_text_once():
    """937 annotations written as text became ForwardRefs at every start, each compiling its text
    (255 different texts): about 29 million instructions more than compiling each once."""
    done = subprocess.run(
        [sys.executable, "-c", SHARED], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["compiled"]["str"] == 1  # pydantic-core's schema types alone hold "str" over a hundred times
    assert {text for text, codes in seen["compiled"].items() if codes > 1} == set()
    assert seen["left"] is False  # typing's own compile is the built-in again once coprod is imported


def test_a_text_compiled_once_makes_the_same_forward_ref_and_refuses_what_typing_refuses():
    import typing

    import pytest

    from coprod.command import texts_compiled_once

    with texts_compiled_once():
        first, second = typing.ForwardRef("dict[str, int] | None"), typing.ForwardRef("dict[str, int] | None")
        with pytest.raises(SyntaxError, match=re.escape("must be an expression -- got 'not valid('")):
            typing.ForwardRef("not valid(")
    assert first == second == typing.ForwardRef("dict[str, int] | None")
    assert first.__forward_code__ is second.__forward_code__
    assert eval(first.__forward_code__, {}, {}) == (dict[str, int] | None)
    assert not hasattr(typing, "compile")
