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
    # for the checks' second process (coprod.alongside), loaded when it is forked: signal alone took
    # 1.3 ms of every start
    "signal",
    "select",
    "pickle",
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
