"""``coprod validate``: every problem of a recipe at once, before anything runs, and ``check`` and
``sync`` refusing exactly the same things with the same words (issue 15, "Validate")."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.config import RecipeInvalid, load_recipe
from coprod.connectors.base import ConfigError, ConnectorContext, ConnectorEntityOptions
from coprod.connectors.files import FilesConnector
from coprod.connectors.registry import CONNECTORS, connector_class
from coprod.placeholders import is_example
from coprod.sync import run
from coprod_core.recipe import Entity
from fakes import ROOT

DEMO = ROOT / "recipes" / "demo"

KOBO_SOURCE = """
[sources.kobo]
connector = "kobotoolbox"
token_env = "KOBO_TOKEN"
"""


def copy_recipe(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv", "*.py"))
    return target


def edit(recipe_dir: Path, *replacements: tuple[str, str], append: str = "") -> Path:
    file = recipe_dir / "recipe.toml"
    text = file.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    file.write_text(text + append, encoding="utf-8")
    return file


@pytest.fixture
def three_mistakes(tmp_path: Path, quiet_env: Path) -> Path:
    """The issue's recipe: a wrong type, an unknown option, and KOBO_TOKEN unset (payments come
    from a KoboToolbox form)."""
    recipe = copy_recipe(DEMO, tmp_path / "three")
    edit(
        recipe,
        ("pay_within_days = 30", 'pay_within_days = "thirty"'),
        ('flags_file = "coprod-flags.csv"', 'flags_file = "coprod-flags.csv"\nflag_colour = "red"'),
        (
            '[entities.payments]\nsource = "exports"\nlocation = "payments.csv"',
            '[entities.payments]\nsource = "kobo"\nlocation = "aPaymentsForm"',
        ),
        append=KOBO_SOURCE,
    )
    return recipe


def problem_lines(out: str) -> list[str]:
    return [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("- ")]


def test_validate_reports_a_wrong_type_an_unknown_option_and_an_unset_variable_in_one_run(
    three_mistakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(three_mistakes)]) == 2
    out = capsys.readouterr().out
    file = str(three_mistakes / "recipe.toml")
    lines = problem_lines(out)
    assert "The recipe has 3 problem(s):" in out
    assert len(lines) == 3
    assert all(line.startswith(f"{file}: ") for line in lines)
    text = "\n".join(lines)
    assert f"{file}: [policy] pay_within_days: " in text
    assert f"{file}: [sources.exports] flag_colour: unknown key" in text
    assert (
        f"{file}: [sources.kobo] token_env: The KoboToolbox API token is not set: add KOBO_TOKEN=..." in text
    )


@pytest.mark.parametrize("command", ["check", "sync", "install"])
def test_check_sync_and_install_refuse_what_validate_refuses_with_the_same_words(
    three_mistakes: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main(["validate", str(three_mistakes)]) == 2
    said_by_validate = problem_lines(capsys.readouterr().out)
    assert main([command, str(three_mistakes)]) == 2
    assert problem_lines(capsys.readouterr().out) == said_by_validate
    assert not (three_mistakes / ".coprod").exists()  # refused before anything ran: no state opened


def test_a_recipe_whose_variables_are_set_in_dotenv_is_valid(three_mistakes: Path) -> None:
    edit(
        three_mistakes,
        ('pay_within_days = "thirty"', "pay_within_days = 30"),
        ('\nflag_colour = "red"', ""),
    )
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(three_mistakes)
    assert [p.section for p in raised.value.problems] == ["[sources.kobo] token_env"]
    (three_mistakes / ".env").write_text("KOBO_TOKEN=abc123\n")
    assert load_recipe(three_mistakes).env["KOBO_TOKEN"] == "abc123"


SHIPPED_VARIABLES = {
    "kobotoolbox": {
        "[sources.kobo] token_env": "KOBO_TOKEN",
        # hook_endpoint is set: `coprod install` sets up the REST Service with this secret
        "[sources.kobo] hook_secret_env": "COPROD_KOBO_HOOK_SECRET",
    },
    "civicrm": {
        "[sources.crm] api_key_env": "CIVICRM_API_KEY",  # CIVICRM_SITE_KEY is optional
        "[webhook] secret_env": "CIVICRM_WEBHOOK_SECRET",
    },
    "google-sheets": {
        # [webhook] ships commented out: README step 7 switches it on with its secret
        "[sources.sheet] credentials_file_env": "GOOGLE_APPLICATION_CREDENTIALS",
    },
}


@pytest.mark.parametrize("platform", sorted(SHIPPED_VARIABLES))
def test_each_variable_a_shipped_recipe_names_is_required_by_validate_and_then_enough(
    platform: str, tmp_path: Path, quiet_env: Path
) -> None:
    recipe = copy_recipe(ROOT / "recipes" / platform, tmp_path / platform)
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe, env={})
    missing = {p.section: p.message for p in raised.value.problems}
    assert set(missing) == set(SHIPPED_VARIABLES[platform])
    for section, variable in SHIPPED_VARIABLES[platform].items():
        assert f"add {variable}=... to .env" in missing[section]
    key_file = tmp_path / "service-account.json"
    key_file.write_text("{}")
    env = {variable: str(key_file) for variable in SHIPPED_VARIABLES[platform].values()}
    assert load_recipe(recipe, env=env).recipe.name


def test_a_service_account_key_file_that_is_not_there_is_named(tmp_path: Path, quiet_env: Path) -> None:
    recipe = copy_recipe(ROOT / "recipes" / "google-sheets", tmp_path / "sheets")
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "keys/missing.json", "COPROD_WEBHOOK_SECRET": "whsec_x"}
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe, env=env)
    # It said only "the file named by GOOGLE_APPLICATION_CREDENTIALS was not found: PATH": not
    # what the file is, nor what to do (newcomer walkthrough of recipes/google-sheets/README.md).
    assert [str(p) for p in raised.value.problems] == [
        f"{recipe / 'recipe.toml'}: [sources.sheet] credentials_file_env: the Google service-account key "
        "file (the JSON key made for coprod's service account in Google Cloud: Keys, Add key, JSON, as the "
        "Google Sheets recipe's README says in step 2) was not found: GOOGLE_APPLICATION_CREDENTIALS (in "
        f".env or the environment) gives its path as {recipe / 'keys' / 'missing.json'}, and there is no "
        "file there. Put the file there, or change GOOGLE_APPLICATION_CREDENTIALS to the path where it is: "
        "in .env, or in the environment where it is set there (the environment wins over .env)"
    ]


def test_a_token_pasted_where_its_variable_name_belongs_is_refused_without_repeating_it(
    tmp_path: Path, quiet_env: Path
) -> None:
    recipe = copy_recipe(ROOT / "recipes" / "kobotoolbox", tmp_path / "kobo")
    token = "3f2a9c41d0e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4"
    edit(recipe, ('token_env = "KOBO_TOKEN"', f'token_env = "{token}"'))
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe, env={"COPROD_KOBO_HOOK_SECRET": "s"})
    assert token not in str(raised.value)
    assert "[sources.kobo] token_env: must be the NAME of an environment variable" in str(raised.value)


@pytest.mark.parametrize("key", ["A8F3K2L9Q0W7E6R5T4Y3", "SITE_7F3A9C41D0E8B7A6C5D4"])
def test_a_key_made_only_of_capitals_and_digits_in_a_names_place_is_refused_without_repeating_it(
    tmp_path: Path, quiet_env: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """It passed as a variable name, and the run then said "add <the key>=... to .env"."""
    recipe = copy_recipe(ROOT / "recipes" / "kobotoolbox", tmp_path / "kobo")
    edit(recipe, ('token_env = "KOBO_TOKEN"', f'token_env = "{key}"'))
    assert main(["validate", str(recipe)]) == 2
    out = capsys.readouterr().out
    assert key not in out
    assert "[sources.kobo] token_env: looks like a key itself (not shown)" in out


@pytest.mark.parametrize(
    "name",
    ["KOBO_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "COPROD_KOBO_HOOK_SECRET", "CIVICRM_API_KEY_2024"],
)
def test_names_people_give_variables_are_taken_as_names(name: str) -> None:
    from coprod_core.recipe import WebhookSpec

    assert WebhookSpec(secret_env=name).secret_env == name


# ------------------------------------------------------------------------ entity options

ENTITY_OPTION_TYPOS = {
    # platform: (entity, the shipped recipe's line, the same line with a typo, the unknown key)
    "google-sheets": (
        "people",
        'options = { flags_column = "coprod flags" }',
        'options = { flags_colum = "coprod flags" }',
        "flags_colum",
    ),
    "kobotoolbox": (
        "attendance",
        'options = { repeat = "attendees" }',
        'options = { repeats = "attendees" }',
        "repeats",
    ),
    "civicrm": (
        "people",
        'options = { group = "Coproduction_Panel" }',
        'options = { groupz = "Coproduction_Panel" }',
        "groupz",
    ),
}


def platform_env(tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "service-account.json"
    key_file.write_text("{}")
    names = [v for variables in SHIPPED_VARIABLES.values() for v in variables.values()]
    return {name: str(key_file) for name in names}


@pytest.mark.parametrize("platform", sorted(ENTITY_OPTION_TYPOS))
def test_a_typo_in_an_entitys_connector_options_fails_validate_and_the_connector_says_the_same(
    platform: str, tmp_path: Path, quiet_env: Path
) -> None:
    entity, line, typo, key = ENTITY_OPTION_TYPOS[platform]
    recipe_dir = copy_recipe(ROOT / "recipes" / platform, tmp_path / platform)
    env = platform_env(tmp_path)
    good = load_recipe(recipe_dir, env=env)
    edit(recipe_dir, (line, typo))
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe_dir, env=env)
    [problem] = raised.value.problems
    assert problem.section == f"[entities.{entity}.options] {key}"
    assert problem.message.startswith("unknown key")

    # The connector reads its entity options with the very model validate used (one path): given
    # the typo without validation (a recipe changed since it was loaded), it refuses in the same words.
    source = good.recipe.entities[Entity(entity)].source
    cls = connector_class(good.recipe.sources[source].connector)
    spec = good.recipe.entities[Entity(entity)].model_copy(update={"options": {key: "x"}})
    with pytest.raises(ConfigError) as refused:
        cls.EntityOptions.of(Entity(entity), spec)
    assert str(refused.value) == f"{problem.section}: {problem.message}"


def test_every_connector_declares_its_source_and_entity_options_as_strict_models() -> None:
    for kind in CONNECTORS:
        cls = connector_class(kind)
        assert issubclass(cls.EntityOptions, ConnectorEntityOptions)
        assert cls.EntityOptions is not ConnectorEntityOptions, kind  # each declares its own
        for model in (cls.Options, cls.EntityOptions):
            assert model.model_config.get("extra") == "forbid", (kind, model)


def test_a_civicrm_option_that_cannot_apply_to_the_api_entity_read_fails_validate(
    tmp_path: Path, quiet_env: Path
) -> None:
    recipe_dir = copy_recipe(ROOT / "recipes" / "civicrm", tmp_path / "civicrm")
    edit(
        recipe_dir,
        (
            'options = { hours_from = ["start_date", "end_date"] }',
            'options = { hours_from = ["start_date", "end_date"], financial_types = ["Fees"] }',
        ),
    )
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe_dir, env=platform_env(tmp_path))
    assert [str(p).split(": ", 1)[1] for p in raised.value.problems] == [
        "[entities.sessions.options]: 'financial_types' applies to Contribution only, not Event"
    ]


def test_an_unknown_option_of_a_file_entity_fails_validate(tmp_path: Path, quiet_env: Path) -> None:
    recipe_dir = copy_recipe(DEMO, tmp_path / "demo")
    edit(recipe_dir, ('location = "people.csv"', 'location = "people.csv"\noptions = { sheeet = "People" }'))
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe_dir)
    assert [p.section for p in raised.value.problems] == ["[entities.people.options] sheeet"]


@pytest.mark.parametrize(
    ("option", "key", "words"),
    [
        ('encoding = "klingon"', "encoding", "'klingon' is not an encoding coprod knows"),
        ("delimiter = '\"'", "delimiter", "a quote or a line break cannot separate columns"),
        ('delimiter = "\\n"', "delimiter", "a quote or a line break cannot separate columns"),
        ("page_size = 99999999999999999999", "page_size", "Input should be less than or equal to 1000000"),
        ('flags_file = "people.csv"', "flags_file", "'people.csv' is a file coprod reads"),
    ],
    ids=["encoding", "quote", "line-break", "page-size", "flags-file-is-data"],
)
def test_a_files_source_option_that_cannot_work_fails_validate_naming_the_key(
    tmp_path: Path, quiet_env: Path, capsys: pytest.CaptureFixture[str], option: str, key: str, words: str
) -> None:
    """Each ended in "something unexpected went wrong" (exit 1) at the first read, or, for a flags
    file that is a data file, in coprod rewriting the people's file with flags."""
    recipe_dir = copy_recipe(DEMO, tmp_path / "demo")
    edit(recipe_dir, ('flags_file = "coprod-flags.csv"', option))
    before = (recipe_dir / "data" / "people.csv").read_bytes()
    for command in ("validate", "check", "sync"):
        assert main([command, str(recipe_dir)]) == 2
        out = capsys.readouterr().out
        assert f"[sources.exports] {key}: {words}" in out and "unexpected" not in out
    assert (recipe_dir / "data" / "people.csv").read_bytes() == before


# ------------------------------------------------------------------------ paths


@pytest.fixture
def two_recipes(tmp_path: Path, quiet_env: Path) -> tuple[Path, Path]:
    """Two recipes side by side, as on a server: ``mine`` must not reach ``other``'s data."""
    mine = copy_recipe(DEMO, tmp_path / "recipes" / "mine")
    other = copy_recipe(DEMO, tmp_path / "recipes" / "other")
    return mine, other


OUTSIDE = "leads outside the recipe's folder"


@pytest.mark.parametrize(
    ("old", "new", "section"),
    [
        ('location = "people.csv"', 'location = "../../other/data/people.csv"', "[entities.people] location"),
        ('directory = "data"', 'directory = "/etc"', "[sources.exports] directory"),
        (
            'flags_file = "coprod-flags.csv"',
            'flags_file = "../../escaped.csv"',
            "[sources.exports] flags_file",
        ),
    ],
)
def test_a_path_leading_out_of_the_recipes_folder_is_refused_by_validate(
    two_recipes: tuple[Path, Path], capsys: pytest.CaptureFixture[str], old: str, new: str, section: str
) -> None:
    mine, _ = two_recipes
    edit(mine, (old, new))
    assert main(["validate", str(mine)]) == 2
    [line] = problem_lines(capsys.readouterr().out)
    assert line.startswith(f"{mine / 'recipe.toml'}: {section}: ")
    assert OUTSIDE in line and "COPROD_DATA_DIRS" in line
    # where the operator may list it: the README says the working folder's .env does it too
    assert (
        "(in the environment, or the .env of the folder coprod runs in; not the .env beside the recipe"
        in line
    )
    assert main(["sync", str(mine)]) == 2
    assert problem_lines(capsys.readouterr().out) == [line]
    assert not (mine.parent.parent / "escaped.csv").exists()


@pytest.mark.parametrize("link", ["data/people.csv", "data"])
def test_a_symbolic_link_that_leads_back_to_itself_is_refused_naming_the_key(
    tmp_path: Path, quiet_env: Path, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    """Python answers resolving a loop with RuntimeError: it was 'something unexpected' (exit 1)."""
    recipe_dir = copy_recipe(DEMO, tmp_path / "demo")
    looped = recipe_dir / link
    shutil.rmtree(looped) if looped.is_dir() else looped.unlink()
    looped.symlink_to(looped.name)
    key = "[entities.people] location" if link.endswith(".csv") else "[sources.exports] directory"
    for command in ("validate", "check"):
        assert main([command, str(recipe_dir)]) == 2
        out = capsys.readouterr().out
        assert f"{key}: " in out and "is a symbolic link that leads back to itself" in out


def test_a_symbolic_link_inside_the_folder_that_points_out_of_it_is_refused(
    two_recipes: tuple[Path, Path],
) -> None:
    mine, other = two_recipes
    (mine / "data" / "people.csv").unlink()
    (mine / "data" / "people.csv").symlink_to(other / "data" / "people.csv")
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(mine)
    [problem] = raised.value.problems
    assert problem.section == "[entities.people] location" and OUTSIDE in problem.message
    (mine / "data").rename(mine / "elsewhere")
    shutil.rmtree(mine / "elsewhere")
    (mine / "data").symlink_to(other / "data", target_is_directory=True)
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(mine)
    assert "[sources.exports] directory" in [p.section for p in raised.value.problems]


def test_a_folder_the_operator_lists_in_coprod_data_dirs_may_be_used(
    tmp_path: Path, quiet_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared-drive" / "forum"
    shutil.copytree(DEMO / "data", shared, ignore=shutil.ignore_patterns("coprod-flags.csv"))
    recipe = copy_recipe(DEMO, tmp_path / "recipes" / "demo")
    edit(recipe, ('directory = "data"', f'directory = "{shared}"'))
    with pytest.raises(RecipeInvalid):
        load_recipe(recipe)
    # A recipe's own .env cannot widen its reach ...
    (recipe / ".env").write_text(f"COPROD_DATA_DIRS={shared.parent}\n")
    with pytest.raises(RecipeInvalid):
        load_recipe(recipe)
    # ... the .env of the folder coprod runs in can ...
    (quiet_env / ".env").write_text(f"COPROD_DATA_DIRS={shared.parent}\n")
    assert load_recipe(recipe).recipe.name == "demo"
    (quiet_env / ".env").unlink()
    # ... and so can the operator's environment.
    monkeypatch.setenv("COPROD_DATA_DIRS", os.pathsep.join(["/nonexistent", str(shared.parent)]))
    assert main(["check", str(recipe), "--date", "2026-11-20"]) == 0
    assert "40 rows read" in capsys.readouterr().out


def test_run_in_the_recipes_own_folder_the_refusal_does_not_send_the_operator_to_its_env(
    tmp_path: Path, quiet_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run in the recipe's own folder (`coprod check .`), 'the .env of the folder coprod runs in' is
    the .env beside the recipe, which never widens its reach: an operator who did as the refusal
    said was refused again, in the same words."""
    shared = tmp_path / "shared-drive" / "forum"
    shutil.copytree(DEMO / "data", shared, ignore=shutil.ignore_patterns("coprod-flags.csv"))
    recipe = copy_recipe(DEMO, tmp_path / "recipes" / "demo")
    edit(recipe, ('directory = "data"', f'directory = "{shared}"'))
    (recipe / ".env").write_text(f"COPROD_DATA_DIRS={shared.parent}\n")
    monkeypatch.chdir(recipe)
    assert main(["check", "."]) == 2
    [line] = problem_lines(capsys.readouterr().out)
    assert OUTSIDE in line
    assert "not the .env beside the recipe, which cannot widen its own reach" in line


def test_a_state_path_leading_out_of_the_recipes_folder_is_refused(two_recipes: tuple[Path, Path]) -> None:
    mine, _ = two_recipes
    edit(mine, ("[settings]", '[state]\npath = "../other/.coprod/state.sqlite"\n\n[settings]'))
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(mine)
    assert [p.section for p in raised.value.problems] == ["[state] path"]


@pytest.mark.parametrize(
    "address",
    [
        "postgresql://coprod:pw-SENTINEL-7@db.example.org:5432/coprod",
        "postgres://coprod@db.example.org/coprod?sslmode=require&password=pw-SENTINEL-7",
    ],
)
def test_a_state_address_in_the_recipe_holding_a_password_is_refused_without_showing_it(
    two_recipes: tuple[Path, Path], address: str, capsys
) -> None:
    """Secrets come only from the environment or .env: a PostgreSQL password written into the
    recipe's [state] path (user:password@ or libpq's password=) is refused, naming the setting and
    where the address goes instead, never the password (the recipe is copied, mailed, versioned)."""
    mine, _ = two_recipes
    edit(mine, ("[settings]", f'[state]\npath = "{address}"\n\n[settings]'))
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(mine)
    [problem] = raised.value.problems
    assert problem.section.startswith("[state]"), problem
    assert "holds a password in its address" in problem.message and "COPROD_STATE" in problem.message
    assert main(["validate", str(mine)]) == 2
    assert "pw-SENTINEL-7" not in capsys.readouterr().out + str(raised.value)


def test_a_state_address_in_the_recipe_without_a_password_is_taken(two_recipes: tuple[Path, Path]) -> None:
    """The password can live in .env's COPROD_STATE or libpq's own files; the address alone is no secret."""
    mine, _ = two_recipes
    edit(
        mine, ("[settings]", '[state]\npath = "postgresql://coprod@db.example.org:5432/coprod"\n\n[settings]')
    )
    assert load_recipe(mine).recipe.state.path == "postgresql://coprod@db.example.org:5432/coprod"


def test_the_files_connector_refuses_a_path_out_of_the_folder_when_it_opens_it(
    two_recipes: tuple[Path, Path],
) -> None:
    """A recipe changed after it was validated cannot escape either: the check is made again
    where the connector opens the file, and nothing is read or written outside."""
    mine, _ = two_recipes
    loaded = load_recipe(mine)
    context = ConnectorContext(loaded.recipe, loaded.dir, {})
    escaping = FilesConnector(
        "exports", FilesConnector.Options(directory="data", flags_file="../../escaped.csv"), context
    )
    with pytest.raises(ConfigError, match=OUTSIDE):
        escaping.read_staff_statuses()
    with pytest.raises(ConfigError, match=OUTSIDE):
        escaping.install()  # it would create the flags file
    assert not (mine.parent.parent / "escaped.csv").exists()
    people = loaded.recipe.entities[Entity.PEOPLE].model_copy(
        update={"location": "../../other/data/people.csv"}
    )
    reader = FilesConnector("exports", FilesConnector.Options(directory="data"), context)
    with pytest.raises(ConfigError, match=OUTSIDE):
        next(reader.read(Entity.PEOPLE, people))


def test_a_run_of_a_recipe_changed_since_it_was_loaded_refuses_before_reading(
    two_recipes: tuple[Path, Path],
) -> None:
    mine, _ = two_recipes
    loaded = load_recipe(mine)
    escaping = loaded.recipe.model_copy(
        update={
            "entities": loaded.recipe.entities
            | {
                Entity.PEOPLE: loaded.recipe.entities[Entity.PEOPLE].model_copy(
                    update={"location": "/etc/passwd"}
                )
            }
        }
    )
    result = run(type(loaded)(escaping, loaded.path, loaded.dir, loaded.env), mode="check")
    assert int(result.exit_code) == 2
    assert any("[entities.people] location" in m and OUTSIDE in m for m in result.messages)
    assert result.counts == {}


SHIPPED_EXAMPLE_VALUES = {
    "kobotoolbox": {
        "[sources.kobo] hook_endpoint",
        "[entities.people] location",
        "[entities.sessions] location",
        "[entities.attendance] location",
        "[baseline.ethnicity] source",
        "[baseline.disability] source",
        "[policy] source",
    },
    "civicrm": {
        "[sources.crm] endpoint",
        "[baseline.ethnicity] source",
        "[baseline.disability] source",
        "[policy] source",
    },
    "google-sheets": {
        "[sources.sheet] spreadsheet",
        "[baseline.ethnicity] source",
        "[baseline.age_band] source",
        "[baseline.disability] source",
        "[policy] source",
    },
}


@pytest.mark.parametrize("platform", sorted(SHIPPED_EXAMPLE_VALUES))
def test_validate_lists_each_value_a_shipped_recipe_leaves_for_staff_to_fill_in(
    platform: str, tmp_path: Path, quiet_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A copied recipe is valid as it stands, so validate must say what is still the example's:
    otherwise the first sync fails on a sheet that does not exist, or judges against another
    group's figures."""
    recipe = copy_recipe(ROOT / "recipes" / platform, tmp_path / platform)
    key_file = tmp_path / "service-account.json"
    key_file.write_text("{}")
    for variable in SHIPPED_VARIABLES[platform].values():
        monkeypatch.setenv(variable, str(key_file))
    assert main(["validate", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    expected = SHIPPED_EXAMPLE_VALUES[platform]
    assert f"but {len(expected)} value(s) are still the example's" in out
    listed = {line.split(": ", 1)[1].split(" = ", 1)[0] for line in problem_lines(out)}
    assert listed == expected


def test_validate_lists_nothing_once_the_example_values_are_replaced(
    tmp_path: Path, quiet_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    recipe = copy_recipe(ROOT / "recipes" / "civicrm", tmp_path / "civicrm")
    edit(
        recipe,
        ("https://crm.example.org/civicrm", "https://crm.ourcharity.org.uk/civicrm"),
        ("Service records 2025/26 (replace with yours)", "Panel service records 2025/26"),
        ("Service records 2025/26 (replace with yours)", "Panel service records 2025/26"),
        ("policy 2026 (replace with its name and version)", "policy 2026, version 2"),
    )
    for variable in SHIPPED_VARIABLES["civicrm"].values():
        monkeypatch.setenv(variable, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert main(["validate", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "still the example's" not in out and problem_lines(out) == []


@pytest.mark.parametrize("platform", sorted(SHIPPED_EXAMPLE_VALUES))
def test_a_shipped_recipe_marks_its_payment_policy_and_every_baseline_as_an_example(
    platform: str,
) -> None:
    # The CiviCRM recipe's baseline ("Service records 2025/26") and policy were an example's
    # figures, unmarked: validate called the copied recipe done, its README never said to change
    # them, and a panel would have been judged against another group's service users. The
    # KoboToolbox recipe's baseline, national Census 2021 figures, was let through as a public
    # statistic: but the baseline is who uses the service (DESIGN.md), which the population of
    # England and Wales rarely is, and the recipe itself says to replace it. A charity that does
    # judge against the Census writes its own area's figures and source, which validate accepts.
    data = tomllib.loads((ROOT / "recipes" / platform / "recipe.toml").read_text(encoding="utf-8"))
    assert is_example(data["policy"]["source"]), platform
    assert data.get("baseline"), platform
    for dimension, baseline in data["baseline"].items():
        assert is_example(baseline["source"]), (platform, dimension)
    readme = " ".join((ROOT / "recipes" / platform / "README.md").read_text(encoding="utf-8").split())
    assert "`[baseline...]`" in readme and "`[policy]`" in readme, platform


@pytest.mark.parametrize(
    ("value", "example"),
    [
        ("https://docs.google.com/spreadsheets/d/PASTE-YOUR-SHEET-KEY-HERE/edit", True),
        ("service records (Replace with yours)", True),
        ("https://crm.example.org/civicrm/ajax/api4", True),
        ("https://hooks.example/kobotoolbox/x", True),
        ("aRegistrationFormUid", True),
        ("https://example.org.uk/civicrm/ajax/api4", False),  # a real domain that only starts so
        ("https://notexample.org/api", False),
        ("aXb7kQ2mN9pL4rT6sV8wY3", False),
        ("Service records 2025/26", False),
        ("Census 2021, Leeds (ONS)", False),  # a charity's own choice of a public statistic
        ("Census 2021, England and Wales (ONS) (replace with yours)", True),
    ],
)
def test_an_example_value_is_told_from_a_real_one(value: str, example: bool) -> None:
    assert is_example(value) is example


def renamed_kobo_recipe(tmp_path: Path, endpoint: str) -> Path:
    """The KoboToolbox recipe copied out and renamed riverside-forum (README step 2), with this
    ``hook_endpoint``."""
    recipe = copy_recipe(ROOT / "recipes" / "kobotoolbox", tmp_path / "our-project")
    edit(
        recipe,
        ('name = "kobotoolbox-example"', 'name = "riverside-forum"'),
        (
            'hook_endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobotoolbox-example"',
            f'hook_endpoint = "{endpoint}"',
        ),
    )
    return recipe


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://coprod.ourcharity.org.uk/hooks/kobotoolbox/kobotoolbox-example",  # the example's name kept
        "https://coprod.ourcharity.org.uk/hooks/kobotoolbox/riverside-forum/",  # a slash after it: Flask's 404
        "https://coprod.ourcharity.org.uk/hooks/sheets/riverside-forum",  # another platform's route
        "https://coprod.ourcharity.org.uk/hooks/kobotoolbox",  # the name left off
    ],
)
def test_a_kobotoolbox_hook_endpoint_that_is_not_this_recipes_route_is_refused(
    endpoint: str, tmp_path: Path, quiet_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README step 2 renames the recipe (riverside-forum); the shipped hook_endpoint ends in the
    # example's name. Validated as it was, `coprod install` made a REST Service at an address the
    # webhook app answers 404 ("unknown recipe") for every record, and nothing said so.
    recipe = renamed_kobo_recipe(tmp_path, endpoint)
    (recipe / ".env").write_text("KOBO_TOKEN=abc\nCOPROD_KOBO_HOOK_SECRET=s3cret-s3cret\n", encoding="utf-8")

    assert main(["validate", str(recipe)]) == 2

    out = capsys.readouterr().out
    assert "[sources.kobo] hook_endpoint:" in out
    assert "/hooks/kobotoolbox/riverside-forum" in out and "404" in out


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://coprod.ourcharity.org.uk/hooks/kobotoolbox/riverside-forum",
        "https://ourcharity.org.uk/coprod/hooks/kobotoolbox/riverside-forum",  # behind a path prefix
        "https://ourcharity.org.uk/kobo-in",  # a proxy that rewrites the path: coprod cannot tell
    ],
)
def test_a_kobotoolbox_hook_endpoint_on_this_recipes_route_or_rewritten_by_a_proxy_is_valid(
    endpoint: str, tmp_path: Path, quiet_env: Path
) -> None:
    recipe = renamed_kobo_recipe(tmp_path, endpoint)
    env = {"KOBO_TOKEN": "abc", "COPROD_KOBO_HOOK_SECRET": "s3cret-s3cret"}
    assert load_recipe(recipe, env=env).recipe.name == "riverside-forum"


@pytest.mark.parametrize("name", ["hooks", "kobotoolbox"])
def test_a_recipe_named_like_a_part_of_the_route_has_its_own_route_accepted(
    name: str, tmp_path: Path, quiet_env: Path
) -> None:
    """A recipe called 'hooks' is a valid name, and its route /hooks/kobotoolbox/hooks the app's:
    it was refused, the name read as the route's start."""
    recipe = renamed_kobo_recipe(tmp_path, f"https://coprod.ourcharity.org.uk/hooks/kobotoolbox/{name}")
    edit(recipe, ('name = "riverside-forum"', f'name = "{name}"'))
    env = {"KOBO_TOKEN": "abc", "COPROD_KOBO_HOOK_SECRET": "s3cret-s3cret"}
    assert load_recipe(recipe, env=env).recipe.name == name


@pytest.mark.parametrize(
    ("platform", "section", "way_out"),
    [
        ("kobotoolbox", "[sources.kobo] hook_secret_env", "or delete hook_endpoint from the recipe"),
        ("civicrm", "[webhook] secret_env", "or delete the [webhook] section from the recipe"),
    ],
)
def test_a_missing_webhook_secret_says_the_webhook_can_be_left_out_instead(
    platform: str, section: str, way_out: str, tmp_path: Path, quiet_env: Path
) -> None:
    # The KoboToolbox and CiviCRM recipes ship with their webhook on; their READMEs say to delete it
    # unless the webhook app is set up. A data officer who did not (README step 2.5 / 3.4) was told
    # only to add a secret for a webhook app they never meant to run.
    recipe = copy_recipe(ROOT / "recipes" / platform, tmp_path / platform)
    env = {"KOBO_TOKEN": "abc", "CIVICRM_API_KEY": "abc"}
    with pytest.raises(RecipeInvalid) as raised:
        load_recipe(recipe, env=env)
    [problem] = raised.value.problems
    assert problem.section == section
    assert "is not set: add " in problem.message
    assert way_out in problem.message and "nightly sync" in problem.message


@pytest.mark.parametrize("typed", ["kobotoolbox", "kobotoolbox/", "kobotoolbox/recipe.toml"])
def test_the_example_values_left_name_the_recipe_as_the_problems_name_it(
    typed: str, tmp_path: Path, quiet_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The list of values still the example's named the file `recipe.toml:` where the problem
    lines (and the first line) name it as typed, `kobotoolbox/recipe.toml:` (newcomer walkthrough):
    with several recipes, `recipe.toml` said nothing of which."""
    copy_recipe(ROOT / "recipes" / "kobotoolbox", quiet_env / "kobotoolbox")
    assert main(["validate", typed]) == 2  # no KOBO_TOKEN yet: a problem line
    problems = problem_lines(capsys.readouterr().out)
    for variable in SHIPPED_VARIABLES["kobotoolbox"].values():
        monkeypatch.setenv(variable, "x")
    assert main(["validate", typed]) == 0
    out = capsys.readouterr().out
    left = problem_lines(out)
    assert out.startswith("kobotoolbox/recipe.toml: recipe 'kobotoolbox-example' is valid")
    assert problems and left
    assert {line.split(": ", 1)[0] for line in problems + left} == {"kobotoolbox/recipe.toml"}


@pytest.mark.parametrize(
    ("setting", "where", "words"),
    [
        (
            {"COPROD_STATE": "mysql://coprod:hunter2@db/coprod"},
            "COPROD_STATE",
            "'mysql://...' is not something",
        ),
        ({"COPROD_STATE": "{folder}"}, "COPROD_STATE", "is a folder, not a file: name a file in it"),
        ({}, "[state] path", "is a folder, not a file: name a file in it"),
    ],
    ids=["an-unknown-address", "a-folder", "the-recipes-own-path-a-folder"],
)
def test_validate_refuses_a_state_store_coprod_cannot_use_as_a_sync_does(
    tmp_path: Path,
    quiet_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: dict[str, str],
    where: str,
    words: str,
) -> None:
    """The deploy README has staff run validate before the first sync; it said the recipe was valid
    while the sync then refused the state setting (exit 2)."""
    recipe = copy_recipe(DEMO, tmp_path / "demo")
    folder = recipe / "state"
    folder.mkdir()
    for name, value in setting.items():
        monkeypatch.setenv(name, value.format(folder=folder))
    if not setting:
        edit(recipe, append='\n[state]\npath = "state"\n')

    assert main(["validate", str(recipe)]) == 2
    said = capsys.readouterr().out
    assert f"recipe.toml: {where}: " in said and words in said, said
    assert "is valid" not in said and "hunter2" not in said
    assert main(["sync", str(recipe), "--date", "2026-11-20"]) == 2  # as a sync refuses it
