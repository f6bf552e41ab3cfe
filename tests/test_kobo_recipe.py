"""The KoboToolbox recipe folder: forms pyxform accepts, a recipe that validates and fits the forms."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import responses
from openpyxl import load_workbook
from pyxform.xls2xform import convert

from coprod.cli import main
from coprod.connectors.base import ConnectorContext
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions
from coprod_core.mapping import map_dataset
from coprod_core.recipe import Entity, parse_recipe
from fakes import load_script
from fakes.kobo import TOKEN, FakeKobo, submission
from fakes.replay import exchanges

make_forms = load_script("recipes/kobotoolbox/make_forms.py")
FORMS, write_forms = make_forms.FORMS, make_forms.write_forms
FOLDER = Path(__file__).resolve().parent.parent / "recipes" / "kobotoolbox"


def survey_rows(xlsx: Path) -> list[dict[str, Any]]:
    """The form's survey rows as KPI's ``content.survey`` holds them."""
    ws = load_workbook(xlsx, read_only=True)["survey"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [{k: v for k, v in zip(header, r, strict=False) if v is not None} for r in rows[1:]]


def choice_names(xlsx: Path, list_name: str) -> list[str]:
    ws = load_workbook(xlsx, read_only=True)["choices"]
    return [r[1] for r in ws.iter_rows(min_row=2, values_only=True) if r[0] == list_name]


@pytest.mark.parametrize("filename", sorted(FORMS))
def test_pyxform_converts_the_template_without_warnings(filename: str) -> None:
    result = convert(xlsform=str(FOLDER / filename))
    assert "<h:html" in result.xform and result.warnings == []


SHIPPED_XLSFORMS = sorted(
    p.relative_to(FOLDER.parent)
    for p in FOLDER.parent.rglob("*.xlsx")
    if "survey" in load_workbook(p, read_only=True).sheetnames
)


def test_every_form_the_recipes_ship_is_checked() -> None:
    assert {str(p) for p in SHIPPED_XLSFORMS} >= {
        "kobotoolbox/registration.xlsx",
        "kobotoolbox/session_record.xlsx",
    }


@pytest.mark.parametrize("relative", SHIPPED_XLSFORMS, ids=str)
def test_every_shipped_xlsform_uses_each_name_once_across_the_whole_form(relative: Path) -> None:
    """KoboToolbox refuses a form naming two questions alike, even in different groups or repeats
    ("Duplicate node name: hours"); pyxform does not, so this is checked here."""
    names = [str(row["name"]) for row in survey_rows(FOLDER.parent / relative) if row.get("name")]
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert repeated == [], f"{relative}: each question, group and repeat needs its own name: {repeated}"


def test_templates_are_regenerated_byte_for_byte(tmp_path: Path) -> None:
    for path in write_forms(tmp_path):
        assert path.read_bytes() == (FOLDER / path.name).read_bytes(), (
            f"run make_forms.py: {path.name} is stale"
        )


@pytest.mark.parametrize("list_name", ["ethnicity", "age_band", "sex", "disability"])
def test_every_equality_question_offers_prefer_not_to_say(list_name: str) -> None:
    assert "prefer_not_to_say" in choice_names(FOLDER / "registration.xlsx", list_name)


def test_ethnicity_uses_the_census_2021_high_level_groups() -> None:
    assert choice_names(FOLDER / "registration.xlsx", "ethnicity") == [
        "asian",
        "black",
        "mixed",
        "white",
        "other_ethnic_group",
        "prefer_not_to_say",
    ]


def load() -> Any:
    data = tomllib.loads((FOLDER / "recipe.toml").read_text(encoding="utf-8"))
    recipe, problems = parse_recipe(data, "recipes/kobotoolbox/recipe.toml")
    assert recipe is not None, problems
    return recipe


def test_the_recipe_validates_with_its_connector_options() -> None:
    recipe = load()
    options = KoboOptions.model_validate(recipe.sources["kobo"].options)
    assert options.hook_endpoint and options.hook_endpoint.endswith("/hooks/kobotoolbox/kobotoolbox-example")
    assert recipe.entities[Entity.ATTENDANCE].options == {"repeat": "attendees"}


def test_the_recipe_fits_the_forms_and_maps_their_submissions_without_problems() -> None:
    recipe = load()
    people_uid = recipe.entities[Entity.PEOPLE].location
    sessions_uid = recipe.entities[Entity.SESSIONS].location
    env = {"KOBO_TOKEN": TOKEN, "COPROD_KOBO_HOOK_SECRET": "x" * 32}
    options = KoboOptions.model_validate({**recipe.sources["kobo"].options, "retries": 0})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.content = {
            people_uid: {"survey": survey_rows(FOLDER / "registration.xlsx")},
            sessions_uid: {"survey": survey_rows(FOLDER / "session_record.xlsx")},
        }
        fake.assets[people_uid] = [
            submission(
                1,
                **{
                    "about/person_id": "P1",
                    "about/name": "Sam",
                    "about/roles": "lived_experience other",
                    "about/roles_other": "carer",
                    "equality/ethnicity": "other_ethnic_group",
                    "equality/age_band": "25_34",
                    "equality/sex": "prefer_not_to_say",
                    "equality/disability": "yes_a_little",
                    "payment/payment_preference": "paid",
                    "payment/benefits_opt_in": "yes",
                },
            )
        ]
        fake.assets[sessions_uid] = [
            submission(
                5,
                **{
                    "session/project": "day_service",
                    "session/session_date": "2026-03-03",
                    "session/hours": "2",
                    "session/kind": "decision_meeting",
                    "session/stage": "planning",
                    "session/decision_taken": "yes",
                    "session/decision": "the budget",
                },
                attendees=[
                    {
                        "attendees/person_id": "P1",
                        "attendees/hours_attended": "1.5",
                        "attendees/prep_hours": "1",
                        "attendees/expenses": "4.50",
                    }
                ],
            )
        ]
        kobo = KoboConnector("kobo", options, ConnectorContext(recipe=recipe, recipe_dir=FOLDER, env=env))
        lines = kobo.install()
        assert any("created the REST Service" in line for line in lines)
        rows = {
            entity: [r for page in kobo.read(entity, spec) for r in page.rows]
            for entity, spec in recipe.entities.items()
        }
    mapped = map_dataset(recipe, rows)
    assert [f.title for f in mapped.problems] == []
    person = mapped.dataset.people[0]
    assert {r.value for r in person.roles} == {"lived_experience", "carer"}
    assert person.demographics["ethnicity"] == "other" and person.demographics["disability"] == "disabled"
    assert person.payment_preference is not None and person.benefits_opt_in is True
    session = mapped.dataset.sessions[0]
    assert session.id == "5" and session.project_id == "day_service" and session.decision_taken
    attendance = mapped.dataset.attendance[0]
    assert (attendance.person_id, attendance.session_id, str(attendance.expenses_claimed)) == (
        "P1",
        "5",
        "4.50",
    )
    assert str(attendance.hours) == "1.5"  # the repeat's own question, not the session's length


def test_the_readme_steps_work_from_a_fresh_copy_of_the_folder(tmp_path: Path, monkeypatch: Any) -> None:
    """README steps 2 to 7 as a data officer types them: copy the folder, fill in the recipe and
    .env, then validate, install, check and sync from a terminal opened in that folder."""
    folder = tmp_path / "our-project"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace('name = "kobotoolbox-example"', 'name = "riverside-forum"')
    text = text.replace("aRegistrationFormUid", "aRiversideRegistration")
    text = text.replace("aSessionRecordFormUid", "aRiversideSessions")
    without_hook = "\n".join(line for line in text.splitlines() if not line.startswith("hook_endpoint"))
    (folder / "recipe.toml").write_text(without_hook, encoding="utf-8")
    (folder / ".env").write_text(f"KOBO_TOKEN={TOKEN}\n", encoding="utf-8")
    for variable in ("KOBO_TOKEN", "COPROD_KOBO_HOOK_SECRET", "COPROD_STATE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(folder)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.content = {
            "aRiversideRegistration": {"survey": survey_rows(FOLDER / "registration.xlsx")},
            "aRiversideSessions": {"survey": survey_rows(FOLDER / "session_record.xlsx")},
        }
        fake.assets["aRiversideRegistration"] = [
            submission(1, **{"about/person_id": "P1", "about/roles": "lived_experience"}),
            submission(2, **{"about/person_id": "P2", "about/roles": "carer"}),
        ]
        fake.assets["aRiversideSessions"] = [
            submission(
                5,
                **{
                    "session/project": "day_service",
                    "session/session_date": "2026-01-10",
                    "session/hours": "2",
                    "session/kind": "decision_meeting",
                    "session/decision_taken": "yes",
                },
                attendees=[{"attendees/person_id": p, "attendees/hours_attended": "2"} for p in ("P1", "P2")],
            )
        ]
        assert main(["validate", "recipe.toml"]) == 0
        assert main(["install", "recipe.toml"]) == 0
        assert main(["check", "recipe.toml"]) == 0
        assert not fake.calls("PATCH"), "check writes nothing"
        assert main(["sync", "recipe.toml"]) == 0
        assert fake.by_id("aRiversideRegistration", 1)["coprod_flags"].startswith("Critical: Payment overdue")
        assert (folder / ".coprod" / "state.sqlite").is_file()

        # Step 7: a secret in .env, the address with the recipe's name, install again.
        with (folder / ".env").open("a", encoding="utf-8") as env:
            env.write("COPROD_KOBO_HOOK_SECRET=a-long-random-secret-for-the-test\n")
        endpoint = "https://coprod.ourcharity.org.uk/hooks/kobotoolbox/riverside-forum"
        (folder / "recipe.toml").write_text(
            text.replace("https://coprod.example.org/hooks/kobotoolbox/kobotoolbox-example", endpoint),
            encoding="utf-8",
        )
        assert main(["install", "recipe.toml"]) == 0
        hook = fake.hooks["aRiversideSessions"][0]
        assert hook["endpoint"] == endpoint and hook["name"] == "coprod riverside-forum"
        assert hook["settings"]["custom_headers"] == {"X-Coprod-Secret": "a-long-random-secret-for-the-test"}


def test_validate_refuses_a_hold_status_and_a_flags_field_kobotoolbox_would_not_take(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """kpi answers "updated" to the status uid ``on_hold`` and sets nothing; a question name has no
    space, so ``coprod flags`` (the label) would be written as a stray field."""
    folder = tmp_path / "recipe"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace(
        'flags_field = "coprod_flags"', 'flags_field = "coprod flags"\nhold_status = "on_hold"'
    )
    (folder / "recipe.toml").write_text(text, encoding="utf-8")
    (folder / ".env").write_text("KOBO_TOKEN=x\nCOPROD_KOBO_HOOK_SECRET=y\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    assert main(["validate", "recipe.toml"]) == 2
    out = capsys.readouterr().out
    assert "[sources.kobo] hold_status: 'on_hold' is not a KoboToolbox validation status" in out
    assert "[sources.kobo] flags_field: 'coprod flags' cannot be a KoboToolbox question name" in out


def test_validate_refuses_a_forms_whole_address_as_its_uid_naming_the_uid(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """README step 2.2: the uid is the part after /forms/. The whole address pasted was valid, and
    every request then asked KoboToolbox for a form of that name (newcomer walkthrough)."""
    folder = tmp_path / "recipe"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace("aRegistrationFormUid", "https://kf.kobotoolbox.org/#/forms/aBcD123xyz/summary")
    (folder / "recipe.toml").write_text(text, encoding="utf-8")
    (folder / ".env").write_text("KOBO_TOKEN=x\nCOPROD_KOBO_HOOK_SECRET=y\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    assert main(["validate", "recipe.toml"]) == 2
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "The recipe has 1 problem(s):",
        "  - recipe.toml: [entities.people] location: give the form's uid alone, the part after /forms/ in "
        "the form's address: here, aBcD123xyz",
    ]


@pytest.mark.parametrize("pasted", [" aBcD123xyz", "aBcD123xyz ", "aBcD123xyz\t"])
def test_a_form_uid_pasted_with_a_space_around_it_is_refused_before_any_request(
    pasted: str, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """A uid copied from the form's address with a space before or after it was valid, and every
    request then asked KoboToolbox for the form '%20aBcD123xyz' (answered "not found": this account
    cannot see this form), sending staff to the form's sharing settings."""
    folder = tmp_path / "recipe"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace('"aRegistrationFormUid"', f'"{pasted}"'.replace("\t", "\\t"))
    text = text.replace("aSessionRecordFormUid", "aSess456uvw")
    without_hook = "\n".join(line for line in text.splitlines() if not line.startswith("hook_endpoint"))
    (folder / "recipe.toml").write_text(without_hook, encoding="utf-8")
    (folder / ".env").write_text(f"KOBO_TOKEN={TOKEN}\n", encoding="utf-8")
    monkeypatch.delenv("KOBO_TOKEN", raising=False)
    monkeypatch.chdir(folder)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeKobo(rsps)
        assert main(["install", "recipe.toml"]) == 2
        assert len(rsps.calls) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "The recipe has 1 problem(s):",
        "  - recipe.toml: [entities.people] location: the form's uid has a space before or after it: "
        'write it as "aBcD123xyz", with nothing around it (KoboToolbox would look for a form named '
        "with the space, and find none)",
    ]


def rows_of(survey: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(str(r["type"]).split()[0], r.get("name")) for r in survey]


def in_order(part: list[Any], whole: list[Any]) -> bool:
    """Whether ``part`` is in ``whole``, in the same order (other rows may come between)."""
    rest = iter(whole)
    return all(any(row == other for other in rest) for row in part)


def test_the_shipped_session_form_keeps_every_row_of_the_one_kpi_imported() -> None:
    """kpi refused the old form ("Duplicate node name: hours"); the copy it imported renamed the
    attendee's hours ``hours_attended``. Questions added since then may come between its rows."""
    refused = exchanges("kobotoolbox", "import_session_record")[-1]["response"]["body"]["messages"]["error"]
    assert refused == "Duplicate node name: hours"
    deployed = exchanges("kobotoolbox", "asset_detail")[0]["response"]["body"]["content"]["survey"]
    shipped = rows_of(survey_rows(FOLDER / "session_record.xlsx"))
    assert in_order(rows_of(deployed), shipped)
    assert [name for _, name in shipped].count("hours") == 1 and ("decimal", "hours_attended") in shipped


def test_the_shipped_registration_form_keeps_every_row_of_the_one_kpi_deployed() -> None:
    deployed = exchanges("kobotoolbox", "asset_detail_undeployed_edit")[1]["response"]["body"]["content"]
    assert in_order(rows_of(deployed["survey"]), rows_of(survey_rows(FOLDER / "registration.xlsx")))


def test_step_7s_try_out_with_coprod_serve_says_how_to_tell_it_where_the_recipe_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 7 said only that `coprod serve` runs the app for a try-out. Typed so in the recipe's
    folder, where steps 4 to 6 are typed, it finds no recipe (it looks for COPROD_RECIPES, else a
    `recipes` folder there) and stops with "no recipes found"; the line the README now gives finds it."""
    from coprod.webhook_app.settings import NO_RECIPES, WebhookSettings

    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    step = readme[readme.index("## 7. ") : readme.index("## Where you will see flags")]
    typed = 'COPROD_RECIPES="/home/coprod/our-project/recipe.toml" /home/coprod/venv/bin/coprod serve'
    assert f"`{typed}`" in step
    assert f"`{NO_RECIPES.split(':')[0]}`" in step

    folder = tmp_path / "our-project"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    for old, new in (
        ("kobotoolbox-example", "riverside-forum"),
        ("aRegistrationFormUid", "aRiversideRegistration"),
        ("aSessionRecordFormUid", "aRiversideSessions"),
        ("coprod.example.org", "coprod.ourcharity.org.uk"),
    ):
        text = text.replace(old, new)
    (folder / "recipe.toml").write_text(text, encoding="utf-8")
    (folder / ".env").write_text(
        f"KOBO_TOKEN={TOKEN}\nCOPROD_KOBO_HOOK_SECRET=a-long-secret\n", encoding="utf-8"
    )
    for variable in ("COPROD_RECIPES", "COPROD_STATE", "KOBO_TOKEN", "COPROD_KOBO_HOOK_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(folder)
    assert not WebhookSettings.from_env().recipes  # typed alone: `coprod serve` says NO_RECIPES

    monkeypatch.setenv("COPROD_RECIPES", str(folder / "recipe.toml"))
    assert list(WebhookSettings.from_env().recipes) == ["riverside-forum"]


def our_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recipe folder copied and filled in as README steps 2 to 4 have it (the forms' uids, the
    token in .env, no webhook), the working folder: the terminal is opened there."""
    folder = tmp_path / "our-project"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace("aRegistrationFormUid", "aRiversideRegistration")
    text = text.replace("aSessionRecordFormUid", "aRiversideSessions")
    without_hook = "\n".join(line for line in text.splitlines() if not line.startswith("hook_endpoint"))
    (folder / "recipe.toml").write_text(without_hook, encoding="utf-8")
    (folder / ".env").write_text(f"KOBO_TOKEN={TOKEN}\n", encoding="utf-8")
    for variable in ("KOBO_TOKEN", "COPROD_STATE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(folder)
    return folder


def test_the_report_of_a_kobotoolbox_recipe_says_the_full_messages_are_in_coprod_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staff report said "Each flag's full message is in your tool" and that each data-quality
    flag says in it which row and column: KoboToolbox's coprod flags column shows a flag's short
    line only (README "Where you will see flags"), so staff looked there for what `coprod check`
    alone prints."""
    folder = our_project(tmp_path, monkeypatch)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.assets["aRiversideRegistration"] = [submission(1, person_id="P1", roles="lived_experience")]
        fake.assets["aRiversideSessions"] = [
            submission(
                5,
                **{"session/project": "day_service", "session/session_date": "2026-01-10"},
                kind="decision_meeting",
                attendees=[{"attendees/person_id": "P9"}],
            )
        ]
        assert main(["report", "recipe.toml", "--out", "report.html", "--date", "2026-03-01"]) == 0
        assert not fake.calls("PATCH") and not fake.calls("POST"), "a report writes nothing to the forms"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Unknown person" in page  # a data-quality flag (P9), listed among the open flags
    assert (
        "KoboToolbox shows each flag&#39;s short line only: &#39;coprod check&#39; prints its full message."
        in page
    )
    assert "KoboToolbox shows its short line only, and &#39;coprod check&#39; the whole message" in page
    assert "in your tool." not in page and "in your tool saying" not in page


def test_a_sync_stopped_for_far_fewer_usable_records_says_what_to_look_at_in_kobotoolbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Step 1 lets staff rename a question in the form builder. Renamed there and not in the
    recipe, every registration reads with no Participant ID, and the sync stops (exit 5) as it
    should, saying: "If an export is broken or a sheet was emptied by mistake, fix it": neither
    is a thing KoboToolbox has, and the forms still held every record."""
    our_project(tmp_path, monkeypatch)
    people = [submission(i, person_id=f"P{i}", roles="lived_experience") for i in range(1, 21)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.assets["aRiversideRegistration"] = people
        fake.assets["aRiversideSessions"] = []
        assert main(["sync", "recipe.toml", "--date", "2026-03-01"]) == 0
    capsys.readouterr()
    renamed = [{("participant" if k == "person_id" else k): v for k, v in p.items()} for p in people]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fake.assets["aRiversideRegistration"] = renamed
        fake.assets["aRiversideSessions"] = []
        assert main(["sync", "recipe.toml", "--date", "2026-03-02"]) == 5
        assert not fake.calls("PATCH") and not fake.calls("POST") and not fake.calls("DELETE")
    out = capsys.readouterr().out
    assert "people: 0 usable rows now (20 of 20 read could not be used), 20 last time" in out
    assert (
        "If submissions were deleted by mistake, or a question the recipe names was renamed or removed in "
        "a form (coprod install says which; coprod check says why each row could not be used), put it "
        "right and run again; if the submissions really were deleted, run again with --allow-shrink."
    ) in out
    assert "export" not in out and "sheet" not in out
    # no flag was checked, let alone written: the summary does not send staff looking for them
    assert "people      20 rows read, 0 used, 20 rejected (coprod check says why)" in out
    assert "see data-quality flags" not in out
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| 5 |")]
    assert "a question the recipe names renamed in a form" in row and "--allow-shrink" in row
