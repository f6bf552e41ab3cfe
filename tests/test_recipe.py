"""Recipes are validated before anything runs, and every problem names where it is."""

import os
import tomllib
from datetime import date
from pathlib import Path

import pytest

from coprod.cli import main
from coprod.config import RecipeInvalid, dotenv_values, load_recipe
from coprod_core.recipe import parse_recipe

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo" / "recipe.toml"


def demo_data() -> dict:
    return tomllib.loads(DEMO.read_text())


def test_the_demo_recipe_is_valid():
    loaded = load_recipe(DEMO, env={})
    assert loaded.recipe.name == "demo"
    assert loaded.recipe.baseline["age_band"].shares["18_24"] == pytest.approx(0.14)


def test_every_problem_is_reported_at_once_with_its_section(tmp_path):
    data = demo_data()
    data["entities"]["people"]["fields"]["rolez"] = "Role"
    del data["entities"]["people"]["fields"]["roles"]
    data["policy"]["pay_within_days"] = -3
    data["settings"]["representation"]["four_fith"] = 0.8
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is None
    text = "\n".join(str(p) for p in problems)
    assert "[settings.representation] four_fith: unknown key" in text
    assert "[policy] pay_within_days" in text
    assert len(problems) >= 3


def test_a_values_map_entry_its_field_cannot_take_is_refused_naming_the_entry():
    """It was accepted, and every row holding the answer then said "'Carer' is not understood ... add
    it to [entities.people.values.roles]", where it already was."""
    data = demo_data()
    data["entities"]["people"]["values"]["roles"]["Carer"] = "wizard"
    data["entities"]["sessions"]["values"]["kind"]["Co-delivery"] = "co_delivery; tea party"
    data["entities"]["people"]["values"]["roles"]["Both"] = "carer, lived experience"  # a list: fine
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is None
    assert sorted(str(p) for p in problems) == [
        'recipe.toml: [entities.people.values.roles] "Carer" = "wizard": \'wizard\' is not one of: lived '
        "experience, carer, frontline staff, manager, commissioner, volunteer, other",
        'recipe.toml: [entities.sessions.values.kind] "Co-delivery" = "co_delivery; tea party": '
        "'co_delivery; tea party' is not one of: " + problems[-1].message.split("is not one of: ")[1],
    ]


def _inline_projects(*plans: object) -> dict:
    data = demo_data()
    del data["entities"]["projects"]
    data["projects"] = [
        {"id": f"P{n}", "name": f"Project {n}", "plan_drafted": plan} for n, plan in enumerate(plans, 1)
    ]
    return data


@pytest.mark.parametrize(
    "written", ["no plan before", "No plan before", " no_plan_before ", "No-plan-before"]
)
def test_a_project_in_the_recipe_may_say_no_plan_before_as_the_readme_writes_it(written):
    """README: a project can record that no plan existed before people took part (``plan_drafted = "no
    plan before"``); the recipe refused those words, taking only ``no_plan_before``."""
    recipe, problems = parse_recipe(_inline_projects(date(2026, 2, 12), written, "2026-03-01"), "recipe.toml")
    assert problems == []
    assert recipe is not None
    assert [p.plan_drafted for p in recipe.projects] == [
        date(2026, 2, 12),
        "no_plan_before",
        date(2026, 3, 1),
    ]


def test_a_project_plan_date_that_is_neither_is_one_problem_naming_the_project():
    """It was two problems per project, one per member of pydantic's union, in code words
    (``[projects.plan_drafted] literal['no_plan_before']: Input should be ...``), naming no project."""
    recipe, problems = parse_recipe(_inline_projects("no plan before", "before the plan"), "recipe.toml")
    assert recipe is None
    assert [str(p) for p in problems] == [
        "recipe.toml: [projects[2]] plan_drafted: 'before the plan' is neither a date (such as 2026-02-12) "
        'nor "no plan before" (no plan existed before people with lived experience took part)'
    ]


def test_an_unknown_field_and_a_missing_required_field_are_named():
    data = demo_data()
    data["entities"]["people"]["fields"]["rolez"] = "Role"
    del data["entities"]["people"]["fields"]["roles"]
    _, problems = parse_recipe(data, "r.toml")
    text = "\n".join(str(p) for p in problems)
    assert "[entities.people] field 'rolez' is unknown" in text
    assert "[entities.people] required field 'roles' is not mapped" in text


def test_a_misspelt_table_key_is_named_as_an_unknown_key_with_the_ones_coprod_takes():
    """A typo in a key coprod reads as a name (a kind of session under [policy.rates], an entity)
    said "[policy.rates.decison_meeting] [key]: Input should be ...": pydantic's words, naming
    neither the key as a key nor what to do."""
    data = demo_data()
    data["policy"]["rates"]["decison_meeting"] = 25
    data["entities"]["session"] = data["entities"].pop("sessions")
    _, problems = parse_recipe(data, "recipe.toml")
    text = "\n".join(str(p) for p in problems)
    assert "[key]" not in text and "Input should be" not in text
    assert (
        "recipe.toml: [policy.rates] decison_meeting: unknown key (check the spelling): use one of "
        "'co_design_workshop', 'decision_meeting', " in text
    )
    assert (
        "recipe.toml: [entities] session: unknown key (check the spelling): use one of 'people', "
        "'projects', 'sessions', 'attendance' or 'payments'" in text
    )


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_default_is_refused_naming_the_entity_and_field(blank):
    """A blank cell reads as the field's default: an empty default was read in its place again and
    again until Python gave up (RecursionError, "something unexpected went wrong")."""
    data = demo_data()
    data["entities"]["sessions"].setdefault("defaults", {})["stage"] = blank
    recipe, problems = parse_recipe(data, "r.toml")
    assert recipe is None
    assert [str(p) for p in problems if "default" in str(p)] == [
        "r.toml: [entities.sessions] default for 'stage' is empty: write the value a row without one should "
        "take, or remove the default"
    ]


def test_a_default_a_blank_cell_could_not_read_as_is_refused_with_the_recipe():
    """It was flagged on every row whose cell was blank, each saying to fix the cell."""
    data = demo_data()
    data["entities"]["sessions"]["defaults"] = {"hours": "two", "date": "2026-02-30"}
    data["entities"]["people"]["defaults"] = {"roles": " ; "}
    _, problems = parse_recipe(data, "r.toml")
    said = [str(p) for p in problems if "default" in str(p)]
    assert said == [
        "r.toml: [entities.people] default for 'roles': ';' is not a list of values",
        "r.toml: [entities.sessions] default for 'hours': 'two' is not a number of hours such as 2 or "
        "1.5 (or minutes, such as 90 min)",
        "r.toml: [entities.sessions] default for 'date': '2026-02-30' is not a date such as 3 March "
        "2026, 2026-03-03 or 03/03/2026",
    ]


def test_a_default_over_the_most_hours_a_session_can_take_is_refused_with_the_recipe():
    """It was flagged on every row whose hours cell was blank, each saying "Fix the cell" where the fix
    was in the recipe. The most is the recipe's own setting: raised, the same default reads."""
    data = demo_data()
    data["entities"]["sessions"]["defaults"] = {"hours": "30"}
    _, problems = parse_recipe(data, "r.toml")
    assert [str(p) for p in problems if "default" in str(p)] == [
        "r.toml: [entities.sessions] default for 'hours': '30' is not a number of hours up to 24, the most "
        "one session can take ([settings.data_quality] max_session_hours)"
    ]
    data["settings"] = {"data_quality": {"max_session_hours": 36}}
    recipe, problems = parse_recipe(data, "r.toml")
    assert problems == [] and recipe is not None
    data["entities"]["sessions"]["defaults"] = {"hours": "2400 min"}  # 40 hours, in minutes
    _, problems = parse_recipe(data, "r.toml")
    assert [str(p) for p in problems if "default" in str(p)] == [
        "r.toml: [entities.sessions] default for 'hours': '2400 min' is not a number of hours up to 36, "
        "the most one session can take ([settings.data_quality] max_session_hours)"
    ]


def test_a_default_over_the_most_hours_is_refused_beside_the_recipes_other_problems():
    """With another problem in the recipe its wiring is checked apart (``parse_recipe``): the
    default is still judged by the recipe's setting, and not at all while the settings are wrong."""
    data = demo_data()
    data["entities"]["sessions"]["defaults"] = {"hours": "30"}
    data["name"] = "not a name!"
    _, problems = parse_recipe(data, "r.toml")
    assert any("default for 'hours': '30' is not a number of hours up to 24" in str(p) for p in problems)
    data["settings"] = {"data_quality": {"max_session_hours": "many"}}
    _, problems = parse_recipe(data, "r.toml")
    assert not any("default for 'hours'" in str(p) for p in problems)
    assert any("max_session_hours" in str(p) for p in problems)


def test_a_default_is_read_as_a_cell_is_through_the_values_map_and_item_by_item():
    """A default in the source's own words ("Carer", mapped by the recipe's values), several roles
    in one, a kind in canonical words and a date day first are all read as cells are: no problem."""
    data = demo_data()
    people, sessions = data["entities"]["people"], data["entities"]["sessions"]
    people["defaults"] = {"roles": "Carer; Service user", "payment_preference": "declined"}
    sessions["defaults"] = {"kind": "co_design_workshop", "date": "03/04/2026", "hours": "90 min"}
    recipe, problems = parse_recipe(data, "r.toml")
    assert problems == [] and recipe is not None


def test_a_recipe_with_an_empty_default_stops_with_its_words_not_a_crash(tmp_path, capsys):
    text = DEMO.read_text()
    assert "[entities.sessions]" in text
    text = text.replace("[entities.sessions]\n", '[entities.sessions]\ndefaults = { title = "" }\n', 1)
    (tmp_path / "recipe.toml").write_text(text)
    for name in ("data",):
        (tmp_path / name).symlink_to(DEMO.parent / name)
    code = main(["check", str(tmp_path / "recipe.toml"), "--date", "2026-11-20"])
    said = capsys.readouterr()
    assert code != 0
    assert "default for 'title' is empty" in said.err + said.out
    assert "unexpected" not in said.err + said.out


def test_a_secret_written_in_the_recipe_is_refused_without_echoing_it():
    data = demo_data()
    data["sources"]["exports"]["api_key"] = "sk-very-secret-value"
    _, problems = parse_recipe(data, "r.toml")
    text = "\n".join(str(p) for p in problems)
    assert "api_key_env" in text
    assert "sk-very-secret-value" not in text


def test_an_unknown_connector_option_is_an_error_naming_the_source(tmp_path):
    text = DEMO.read_text().replace('flags_file = "coprod-flags.csv"', 'flags_fiel = "x.csv"')
    (tmp_path / "recipe.toml").write_text(text)
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(tmp_path, env={})
    assert "[sources.exports] flags_fiel: unknown key" in str(info.value)


def test_a_source_that_does_not_exist_is_named():
    data = demo_data()
    data["entities"]["payments"]["source"] = "finance"
    _, problems = parse_recipe(data, "r.toml")
    assert any("source 'finance' is not one of [sources]: exports" in str(p) for p in problems)


def test_broken_toml_names_the_file_and_line(tmp_path):
    (tmp_path / "recipe.toml").write_text('name = "x"\n[sources\n')
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(tmp_path / "recipe.toml", env={})
    assert "recipe.toml: not valid TOML" in str(info.value)
    assert "line 2" in str(info.value)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            'location = "people.xlsx", options = { sheet = "People" }',
            "not valid TOML at line 2, column 25: something follows a setting on the same line: put each "
            "setting on a line of its own (TOML says: Expected newline or end of document after a statement)",
        ),
        (
            "location = \u201cpeople.csv\u201d",
            "not valid TOML at line 2, column 12: a value coprod cannot read: text goes between straight "
            'double quotes ("people.csv"; a word processor\'s curly quotes do not count), a date is written '
            "2026-03-03, a number without £ or commas (TOML says: Invalid value)",
        ),
        (
            'directory = "C:\\Users\\tom\\exports"',
            "not valid TOML at line 2, column 18: a \\ between double quotes (a Windows path): write the path "
            "between single quotes ('C:\\Users\\you\\data') or with / in place of \\ (TOML says: Invalid hex value)",
        ),
        (
            'Service user = "lived_experience"',
            "not valid TOML at line 2, column 9: a line is not a setting (name = value): a name with spaces "
            'goes between double quotes ("Service user" = "lived_experience"), and a note starts with # (TOML '
            "says: Expected '=' after a key in a key/value pair)",
        ),
    ],
)
def test_a_recipe_that_is_not_toml_says_what_to_change_at_its_line_never_quoting_it(tmp_path, line, said):
    """The TOML reader's words alone ("Expected newline or end of document after a statement (at line
    13, column 25)") for README's `location = "people.xlsx"`, with `options = { sheet = "People" }`
    typed on one line, told a project worker nothing (newcomer walkthrough)."""
    (tmp_path / "recipe.toml").write_text(f'name = "x"\n{line}\n', encoding="utf-8")
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(tmp_path / "recipe.toml", env={})
    assert [p.message for p in info.value.problems] == [said]


def test_env_file_fills_variables_but_the_real_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "recipe.toml").write_text(DEMO.read_text())
    (tmp_path / ".env").write_text("KOBO_TOKEN=from-dotenv\nOTHER=x\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe(tmp_path, env={"KOBO_TOKEN": "from-env"})
    assert loaded.env["KOBO_TOKEN"] == "from-env"
    assert loaded.env["OTHER"] == "x"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_dotenv_saved_by_notepad_with_a_byte_order_mark_sets_its_first_variable(
    tmp_path, monkeypatch, encoding
):
    (tmp_path / "recipe.toml").write_text(DEMO.read_text())
    (tmp_path / ".env").write_bytes("KOBO_TOKEN=from-dotenv\nOTHER=x\n".encode(encoding))
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe(tmp_path, env={})
    assert loaded.env["KOBO_TOKEN"] == "from-dotenv" and loaded.env["OTHER"] == "x"


@pytest.mark.parametrize(
    ("content", "lines", "message"),
    [
        (b'SECRET_ONE="s3cr3t-1\nSECRET_TWO=s3cr3t-2\nOTHER=x\n', [1], "not read as NAME=value"),
        (b"SECRET_ONE=s3cr3t-1\nMY SECRET=s3cr3t-2\n=s3cr3t-3\n", [2, 3], "not read as NAME=value"),
        (b"SECRET_ONE=s3cr3t-1\nSECRET_TWO=s3cr3t-\xe9\n", [2], "not UTF-8 text"),
        (
            b"# the Kobo key\nKOBO_TOKEN\ns3cr3t0123456789abcdef\nOTHER=x\n",
            [2, 3],
            "one word alone, with no '='",
        ),
        (b"export KOBO_TOKEN\n", [1], "one word alone, with no '='"),
    ],
    ids=["quote-left-open", "space-in-name-and-no-name", "not-utf8", "name-or-key-alone", "export-alone"],
)
def test_a_dotenv_line_that_cannot_be_read_is_named_by_file_and_line_without_its_content(
    tmp_path, monkeypatch, capsys, content, lines, message
):
    """python-dotenv only logs such a line (not even where), and the variable was then said to be
    "not set" although it is in the file; a quote left open took the lines after it too."""
    (tmp_path / "recipe.toml").write_text(DEMO.read_text())
    (tmp_path / ".env").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeInvalid) as error:
        load_recipe(tmp_path, env={})
    assert [(p.file, p.section) for p in error.value.problems] == [
        (str(tmp_path / ".env"), f"line {n}") for n in lines
    ]
    assert all(message in p.message for p in error.value.problems)
    assert main(["validate", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert f".env: line {lines[0]}: {message}" in out
    assert "s3cr3t" not in out


RECIPES = DEMO.parent.parent


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('K="C:\\Users\\tom\\keys\\new.json"', "C:\\Users\\tom\\keys\\new.json"),
        ("K='\\\\server\\share\\nadia\\key.json'", "\\\\server\\share\\nadia\\key.json"),
        ('K = "D:\\data\\reports" # the shared drive', "D:\\data\\reports"),
        ('K="a\\tb"', "a\tb"),  # not a path: python-dotenv's escapes, as before
        ('K="C:\\new.json"\nK="x\\ty"', "x\ty"),  # the last line of a name wins, as before
    ],
    ids=["drive", "shared-folder-single-quotes", "comment-after", "not-a-path", "later-line-wins"],
)
def test_a_windows_path_in_quotes_in_dotenv_is_read_as_typed(tmp_path, line, value):
    """Explorer's "Copy as path" gives a path in double quotes, and python-dotenv read its \\t and
    \\n as a tab and a line break: C:\\Users\\tom named a file that was not there."""
    (tmp_path / ".env").write_text(line + "\n", encoding="utf-8")
    assert dotenv_values(tmp_path / ".env")["K"] == value


def test_a_key_file_named_by_a_quoted_windows_path_in_dotenv_is_found(tmp_path, monkeypatch, capsys):
    """The Google Sheets README's .env line as a Windows user pastes it (Copy as path): the key
    file was "not found", shown with a \\t where the path had one, or, for a folder starting with n,
    taken for the key itself. On Linux the relative name with backslashes is one file."""
    (tmp_path / "recipe.toml").write_text(
        (RECIPES / "google-sheets" / "recipe.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for name in ("C:\\Users\\tom\\keys\\coprod.json", "C:\\Users\\nadia\\keys\\coprod.json"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
        (tmp_path / ".env").write_text(f'GOOGLE_APPLICATION_CREDENTIALS="{name}"\r\n', encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        assert load_recipe(tmp_path, env={}).env["GOOGLE_APPLICATION_CREDENTIALS"] == name
        assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("name", [".env.txt", "env.txt", ".env.example"])
def test_a_variable_not_set_names_the_file_beside_the_recipe_meant_to_be_dotenv(
    tmp_path, monkeypatch, capsys, name
):
    """Notepad saves ".env" as ".env.txt" unless "All files" is chosen, and Explorer hides the
    ".txt": validate said "add KOBO_TOKEN=... to .env" with the line in a file that looks like .env."""
    recipe_dir, work = tmp_path / "recipe", tmp_path / "work"
    recipe_dir.mkdir()
    work.mkdir()
    (recipe_dir / "recipe.toml").write_text(
        (RECIPES / "kobotoolbox" / "recipe.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (recipe_dir / name).write_text("KOBO_TOKEN=s3cr3t0123456789abcdef\n", encoding="utf-8")
    monkeypatch.chdir(work)
    assert main(["validate", str(recipe_dir)]) == 2
    out = capsys.readouterr().out
    said = f"There is a file {recipe_dir / name}, but coprod reads only a file named exactly .env: rename it"
    assert out.count(said) == 2  # KOBO_TOKEN and the hook secret
    assert ("Notepad adds" in out) == name.endswith(".txt")
    assert "s3cr3t" not in out
    # With a .env there, the other file is not taken for it: the variable is simply not in .env.
    (recipe_dir / ".env").write_text("OTHER=x\n", encoding="utf-8")
    assert main(["validate", str(recipe_dir)]) == 2
    out = capsys.readouterr().out
    assert "add KOBO_TOKEN=... to .env" in out and "There is a file" not in out


def test_the_file_meant_to_be_dotenv_is_named_once_when_the_recipe_is_in_the_working_folder(
    tmp_path, monkeypatch, capsys
):
    """`coprod validate .` named the folder twice (as "." and as the working folder), and a backup
    of an old .env before Notepad's .env.txt: "a file .env.bak (and 3 more like it)"."""
    (tmp_path / "recipe.toml").write_text(
        (RECIPES / "kobotoolbox" / "recipe.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / ".env.bak").write_text("OLD=x\n", encoding="utf-8")
    (tmp_path / ".env.txt").write_text("KOBO_TOKEN=s3cr3t0123456789abcdef\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "."]) == 2
    out = capsys.readouterr().out
    assert (
        out.count(f"There is a file {tmp_path / '.env.txt'}, but coprod reads only a file named exactly") == 2
    )
    assert ".env.bak" not in out and "more like it" not in out


def _dotenv_folder(path: Path) -> None:
    path.mkdir()
    (path / "KOBO_TOKEN").write_text("s3cr3t-inside\n")


def _dotenv_dangling_link(path: Path) -> None:
    path.symlink_to(path.parent / "env-file-that-was-moved")


def _dotenv_pipe(path: Path) -> None:
    os.mkfifo(path)  # reading it would wait for a writer for ever


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (_dotenv_folder, "a folder, not a file"),
        (_dotenv_dangling_link, "a link to a file that is not there"),
        (_dotenv_pipe, "not a plain file"),
    ],
    ids=["folder", "dangling-link", "pipe"],
)
@pytest.mark.parametrize("where", ["beside-the-recipe", "working-folder"])
def test_a_dotenv_that_is_not_a_readable_file_is_refused_naming_its_path_never_its_contents(
    tmp_path, monkeypatch, capsys, make, what, where
):
    """A .env that is a folder (or a link to nothing, or a pipe) was passed over without a word: the
    variables staff put "in .env" were then said to be not set, or the run went on without them.
    It is refused as a .env that cannot be read is (exit 2, configuration), naming the path."""
    recipe_dir, work = tmp_path / "recipe", tmp_path / "work"
    recipe_dir.mkdir()
    work.mkdir()
    (recipe_dir / "recipe.toml").write_text(DEMO.read_text())
    dotenv = (recipe_dir if where == "beside-the-recipe" else work) / ".env"
    make(dotenv)
    monkeypatch.chdir(work)
    with pytest.raises(RecipeInvalid) as error:
        load_recipe(recipe_dir, env={})
    assert [(p.file, p.section) for p in error.value.problems] == [(str(dotenv), "")]
    assert what in error.value.problems[0].message
    for command in ("validate", "check"):
        assert main([command, str(recipe_dir)]) == 2
        captured = capsys.readouterr()
        shown = captured.out + captured.err
        assert f"{dotenv}: {what}" in shown
        assert "s3cr3t" not in shown and "KOBO_TOKEN" not in shown and "Traceback" not in shown


def test_baseline_counts_and_shares_are_exclusive():
    data = demo_data()
    data["baseline"]["age_band"]["shares"] = {"18-24": 0.5}
    _, problems = parse_recipe(data, "r.toml")
    assert any("either shares or counts" in str(p) for p in problems)


def _server_and_recipe(tmp_path: Path, server_state: str, recipe_state: str) -> tuple[Path, Path]:
    """A server folder whose .env names a state store, holding a recipe whose own .env names one too
    (as the Google Sheets README's step 7 copies the server's line beside the recipe)."""
    import shutil

    server = tmp_path / "srv"
    recipe = server / "recipes" / "our-group"
    shutil.copytree(DEMO.parent, recipe)
    (server / ".env").write_text(f"COPROD_STATE={server_state}\n", encoding="utf-8")
    (recipe / ".env").write_text(f"COPROD_STATE={recipe_state}\n", encoding="utf-8")
    return server, recipe


def test_a_recipes_dotenv_naming_another_state_store_than_the_working_folders_is_refused_naming_both(
    tmp_path, monkeypatch
):
    """Walkthrough of recipes/deploy (moving to PostgreSQL): the Sheets recipe's .env kept the
    server's old SQLite line, and was read over /srv/coprod/.env's new database, while the webhook
    app and worker used the database: two states for one recipe, silently."""
    old = tmp_path / "old" / "state.sqlite"
    server, recipe = _server_and_recipe(
        tmp_path, "postgresql://coprod:s3cr3t-pw@10.0.0.5:5432/coprod", str(old)
    )
    monkeypatch.chdir(server)
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(recipe, env={})
    (problem,) = info.value.problems
    assert problem.file == str(recipe / ".env")
    assert f"COPROD_STATE here is {old}, but {server / '.env'}" in problem.message
    assert "postgresql://coprod@10.0.0.5:5432/coprod" in problem.message
    assert "take the COPROD_STATE line out of this file" in problem.message
    assert "s3cr3t-pw" not in str(problem)


@pytest.mark.parametrize(
    ("server_state", "recipe_state", "env"),
    [
        ("state/state.sqlite", "state/state.sqlite", {}),  # the same file
        (
            "postgresql://coprod:pw@db/coprod?sslmode=require",
            "postgresql://coprod@db/coprod",
            {},
        ),  # same database
        (
            "postgresql://coprod@db/coprod",
            "/old/state.sqlite",
            {"COPROD_STATE": "/x.sqlite"},
        ),  # env wins for all
        (
            "postgresql://coprod@db/coprod",
            "/old/state.sqlite",
            {"COPROD_STATE": ""},
        ),  # set empty in the environment, it wins too: neither file's store is used
    ],
)
def test_a_recipes_dotenv_naming_the_same_state_store_or_one_the_environment_overrides_is_not_refused(
    tmp_path, monkeypatch, server_state, recipe_state, env
):
    from coprod.state import state_location

    server, recipe = _server_and_recipe(tmp_path, server_state, recipe_state)
    monkeypatch.chdir(server)
    loaded = load_recipe(recipe, env=env)
    assert loaded.recipe.name == "demo"
    if env.get("COPROD_STATE") == "":
        assert state_location(loaded).path == recipe / ".coprod" / "state.sqlite"  # the recipe's own


def test_a_sync_whose_recipe_dotenv_names_another_state_store_stops_before_making_it(
    tmp_path, monkeypatch, capsys
):
    old = tmp_path / "old" / "state.sqlite"
    server, recipe = _server_and_recipe(tmp_path, str(tmp_path / "new.sqlite"), str(old))
    monkeypatch.chdir(server)
    monkeypatch.delenv("COPROD_STATE", raising=False)
    assert main(["sync", str(recipe)]) == 2
    said = capsys.readouterr()
    assert "flags and run lock would be in" in said.out + said.err
    assert not old.exists() and not (tmp_path / "new.sqlite").exists()
    assert not (recipe / "data" / "coprod-flags.csv").exists()


def test_the_worker_refusing_a_recipe_whose_dotenv_names_another_state_store_says_what_it_reads(
    tmp_path, monkeypatch, caplog
):
    """The deploy units read /srv/coprod/.env as a command typed there does (no EnvironmentFile=),
    so the worker's re-check of a recipe reads the COPROD_STATE beside it, as a sync does: it is
    refused there too, and its log line must not say that a worker never reads that line (the
    words said so while the worker logging them had just read it). What the app alone keeps in the
    working folder's store is the deliveries it receives."""
    import logging

    from coprod.webhook_app.settings import sync_recheck

    old = tmp_path / "old" / "state.sqlite"
    server, recipe = _server_and_recipe(tmp_path, str(tmp_path / "new.sqlite"), str(old))
    monkeypatch.chdir(server)
    monkeypatch.delenv("COPROD_STATE", raising=False)
    with caplog.at_level(logging.WARNING):
        assert sync_recheck("demo", recipe / "recipe.toml") == 2
    (said,) = [r.getMessage() for r in caplog.records if "COPROD_STATE" in r.getMessage()]
    assert f"COPROD_STATE here is {old}, but {server / '.env'}" in said
    assert "or worker" not in said and "never reads" not in said
    assert f"keeps the deliveries it receives in {tmp_path / 'new.sqlite'}" in said
    assert f"this recipe's flags and run lock would be in {old}" in said
    assert not old.exists() and not (tmp_path / "new.sqlite").exists()
