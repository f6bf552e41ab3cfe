"""Every platform recipe carries the optional data the newer rules read (issue 11): mapped where the
platform's template has a place for it, and shown commented where a site must add it first."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest
from openpyxl import load_workbook

from coprod_core.model import SessionKind
from coprod_core.recipe import Entity, Recipe, parse_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
PROJECT_FIELDS = ("co_chairs", "recruitment_opened", "values_agreed", "values_reviewed")


def recipe_text(name: str) -> str:
    return (RECIPES / name / "recipe.toml").read_text(encoding="utf-8")


def parsed(name: str) -> Recipe:
    recipe, problems = parse_recipe(tomllib.loads(recipe_text(name)), "recipe.toml")
    assert recipe is not None, [str(p) for p in problems]
    return recipe


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


@pytest.mark.parametrize("name", ["demo", "google-sheets"])
def test_people_support_and_session_feedback_are_mapped(name: str) -> None:
    r = parsed(name)
    assert "supported" in r.entities[Entity.PEOPLE].fields
    assert "fed_back" in r.entities[Entity.SESSIONS].fields


def test_kobo_recipe_maps_the_forms_new_questions_once_the_readmes_two_lines_are_uncommented() -> None:
    # Not mapped by default: forms deployed before the questions existed must still fit the recipe.
    # The README said "add the two lines" where the recipe meant entries inside `fields = { ... }`:
    # a line added as told was an unknown key. They are now lines to uncomment, as README says.
    text = recipe_text("kobotoolbox")
    readme = (RECIPES / "kobotoolbox" / "README.md").read_text(encoding="utf-8")
    lines = ['# supported = "supported"', '# fed_back = "fed_back"']
    assert all(f"`{line}`" in " ".join(readme.split()) for line in lines)
    assert all(text.count(f"\n{line}\n") == 1 for line in lines)
    for line in lines:
        text = text.replace(f"\n{line}\n", f"\n{line[2:]}\n")
    recipe, problems = parse_recipe(tomllib.loads(text), "recipe.toml")
    assert recipe is not None, [str(p) for p in problems]
    assert recipe.entities[Entity.PEOPLE].fields["supported"] == "supported"
    assert recipe.entities[Entity.SESSIONS].fields["fed_back"] == "fed_back"


def test_the_demo_maps_every_new_project_field() -> None:
    fields = parsed("demo").entities[Entity.PROJECTS].fields
    assert set(PROJECT_FIELDS) <= set(fields)


@pytest.mark.parametrize("name", ["google-sheets", "kobotoolbox"])
def test_recipes_with_projects_in_the_recipe_show_how_to_record_the_new_project_fields(name: str) -> None:
    text = recipe_text(name)
    for field in (*PROJECT_FIELDS, 'plan_drafted = "no plan before"'):
        assert f"# {field}" in text or f"#   {field}" in text, field


def test_sheets_templates_have_the_new_columns() -> None:
    r = parsed("google-sheets")
    people = header(RECIPES / "google-sheets" / "templates" / "people-form-responses.csv")
    sessions = header(RECIPES / "google-sheets" / "templates" / "sessions.csv")
    assert r.entities[Entity.PEOPLE].fields["supported"] in people
    assert r.entities[Entity.SESSIONS].fields["fed_back"] in sessions
    projects = header(RECIPES / "google-sheets" / "templates" / "projects.csv")
    assert {"Co-chairs", "Recruitment opened", "Values agreed", "Values reviewed"} <= set(projects)


def test_kobo_forms_ask_the_new_questions_and_offer_the_new_kinds() -> None:
    def sheet_rows(form: str, sheet: str) -> list[tuple[object, ...]]:
        wb = load_workbook(RECIPES / "kobotoolbox" / form, read_only=True)
        return list(wb[sheet].iter_rows(values_only=True))

    registration = {row[1] for row in sheet_rows("registration.xlsx", "survey")}
    session = {row[1] for row in sheet_rows("session_record.xlsx", "survey")}
    assert "supported" in registration and "fed_back" in session
    kinds = {row[1] for row in sheet_rows("session_record.xlsx", "choices") if row[0] == "kinds"}
    assert {SessionKind.FEEDBACK_TO_PARTICIPANTS.value, SessionKind.PEER_SUPPORT.value} <= kinds
    assert kinds <= {k.value for k in SessionKind}


def test_civicrm_recipe_shows_each_optional_field_and_its_readme_says_how_to_add_it() -> None:
    text = recipe_text("civicrm")
    readme = (RECIPES / "civicrm" / "README.md").read_text(encoding="utf-8")
    for field, custom in (
        ("supported", "Coprod_Panel.Supported"),
        ("co_chairs", "Coprod_Project.Co_Chairs"),
        ("recruitment_opened", "Coprod_Project.Recruitment_Opened"),
        ("values_agreed", "Coprod_Project.Values_Agreed"),
        ("values_reviewed", "Coprod_Project.Values_Reviewed"),
        ("fed_back", "Coprod_Session.Fed_Back"),
    ):
        assert f'# {field} = "{custom}"' in text, field
        group, name = custom.split(".")
        assert f"`{group}`" in readme and f"`{name}`" in readme, custom
    # Uncommented, they make a valid recipe (once the site has the fields).
    enabled = text
    for field in ("supported", *PROJECT_FIELDS, "fed_back"):
        enabled = enabled.replace(f"# {field} = ", f"{field} = ")
    recipe, problems = parse_recipe(tomllib.loads(enabled), "recipe.toml")
    assert recipe is not None, [str(p) for p in problems]
    assert recipe.entities[Entity.SESSIONS].fields["fed_back"] == "Coprod_Session.Fed_Back"
