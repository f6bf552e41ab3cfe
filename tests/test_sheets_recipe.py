"""The google-sheets recipe: it validates, its templates fit it, and a whole sync runs on it.

The sync test drives ``coprod.sync.run`` against a fake spreadsheet built from the templates, so
what staff are told to set up is exactly what coprod reads.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
import responses
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials
from gspread.utils import rowcol_to_a1

from coprod.cli import main
from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext
from coprod.connectors.registry import build_connector
from coprod.connectors.sheets import SheetsConnector, SheetsOptions
from coprod.connectors.sheets_flags import FLAG_HEADINGS
from coprod.state import StateStore
from coprod.sync import ExitCode, RunResult, run
from coprod_core.lifecycle import ChangeKind, FlagStatus
from coprod_core.mapping import map_dataset
from coprod_core.recipe import Entity, Recipe, parse_recipe
from coprod_core.removed import NAMED_ROW_MESSAGE, ROW_MESSAGE
from coprod_core.rows import Row
from fakes.sheets import FakeSpreadsheet, service_account_key

ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = ROOT / "recipes" / "google-sheets"
TEMPLATES = {
    Entity.PEOPLE: "people-form-responses.csv",
    Entity.SESSIONS: "sessions.csv",
    Entity.ATTENDANCE: "attendance.csv",
    Entity.PAYMENTS: "payments.csv",
}


def load() -> Recipe:
    data = tomllib.loads((RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8"))
    recipe, problems = parse_recipe(data, str(RECIPE_DIR / "recipe.toml"))
    assert not problems, [str(p) for p in problems]
    assert recipe is not None
    return recipe


def header(name: str) -> list[str]:
    with (RECIPE_DIR / "templates" / name).open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def test_recipe_validates_and_builds_its_sheets_connector() -> None:
    recipe = load()

    conn = build_connector("sheet", recipe.sources["sheet"], ConnectorContext(recipe, RECIPE_DIR, env={}))

    assert isinstance(conn, SheetsConnector)
    assert conn.options.flags_tab == "Flags"
    assert all(spec.source == "sheet" for spec in recipe.entities.values())


@pytest.mark.parametrize("entity", list(TEMPLATES))
def test_each_template_has_every_column_the_recipe_maps(entity: Entity) -> None:
    spec = load().entities[entity]
    columns = header(TEMPLATES[entity])

    mapped = set(spec.fields.values()) | set(spec.demographics.values())

    assert mapped <= set(columns), mapped - set(columns)
    assert len(columns) == len(set(columns))


def test_flags_template_matches_the_tab_coprod_creates() -> None:
    assert header("flags.csv") == FLAG_HEADINGS


def fake_sheet_from_templates(recipe: Recipe) -> FakeSpreadsheet:
    key = SheetsConnector("sheet", build_options(recipe), ConnectorContext(recipe, RECIPE_DIR, env={})).key
    sheet = FakeSpreadsheet(key)
    people = header(TEMPLATES[Entity.PEOPLE])
    answers = [
        (
            "1",
            "Amira Khan",
            "I use or have used the service",
            "Payment",
            "No",
            "Asian or Asian British",
            "25 to 49",
            "No",
        ),
        (
            "2",
            "Ben Okafor",
            "I care for someone who uses the service",
            "A voucher",
            "No",
            "White",
            "50 to 64",
            "Yes",
        ),
        ("3", "Priya Shah", "I work for the service", "", "", "White", "25 to 49", "No"),
        (
            "4",
            "=1+1 Sam",
            "I use or have used the service, I volunteer",
            "Payment",
            "Yes",
            "White",
            "65 or over",
            "Yes",
        ),
    ]
    rows = [people]
    for pid, name, roles, pay, benefits, ethnic, age, disabled in answers:
        by_heading = {
            "Timestamp": "03/02/2026 10:00:00",
            "Your name": name,
            "Which of these describe you?": roles,
            "How would you like to be thanked for your time?": pay,
            "Would you like us to warn you if payments might affect your benefits?": benefits,
            "What is your ethnic group?": ethnic,
            "What is your age?": age,
            "Do you consider yourself to be disabled?": disabled,
            "Participant ID": pid,
        }
        rows.append([by_heading.get(h, "") for h in people])
    sheet.add_tab("Form responses 1", rows)
    sheet.add_tab(
        "Sessions",
        [
            header("sessions.csv"),
            ["S1", "03/03/2026", "2", "Decision meeting", "Planning", "Budget meeting", "Yes", "the budget"],
            ["S2", "01/04/2026", "2", "Co-design workshop", "Design", "Workshop", "No", ""],
        ],
    )
    sheet.add_tab(
        "Attendance",
        [
            header("attendance.csv"),
            ["3", "S1", "", "", ""],
            ["1", "S2", "", "1", ""],
            ["4", "S2", "", "1", "4.50"],
        ],
    )
    sheet.add_tab("Payments", [header("payments.csv"), ["PAY1", "1", "75.00", "10/04/2026", "Fee", "S2"]])
    sheet.register()
    return sheet


def build_options(recipe: Recipe) -> SheetsOptions:
    return SheetsOptions.model_validate({**recipe.sources["sheet"].options, "backoff": 0})


@responses.activate
def test_a_sync_of_the_recipe_reads_twice_writes_once_then_nothing_and_keeps_acknowledgements() -> None:
    recipe, sheet, state, sync = installed_sheet()
    before = len(sheet.calls)
    first = sync()
    first_calls = [kind for kind, _ in sheet.calls[before:]]

    assert not [f for f in first.flags if f.check_id.startswith("data_quality")], [
        f.message for f in first.flags if f.check_id.startswith("data_quality")
    ]
    assert first.flags
    assert first_calls == ["meta", "batchGet", "values:batchUpdate"]
    flags_tab = sheet.tabs["Flags"]
    assert len(flags_tab.trimmed()) == 1 + len(first.flags)
    messages = [row[6] for row in flags_tab.trimmed()[1:]]
    assert any(m.startswith("=1+1 Sam") or "=1+1 Sam" in m for m in messages), messages
    assert write_option(sheet) == {"RAW"}

    before = len(sheet.calls)
    sync()
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]

    flags_tab.values[1][1] = "acknowledged"  # a member of staff answers the first flag
    acked = flags_tab.values[1][0]
    before = len(sheet.calls)
    sync()
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]
    assert state.known_flags(recipe.name)[acked].status is FlagStatus.ACKNOWLEDGED
    assert flags_tab.values[1][1] == "acknowledged"


@pytest.mark.parametrize("how", ["rows deleted", "tab deleted"])
@responses.activate
def test_a_flags_tab_emptied_or_deleted_is_written_again_with_every_flag_and_its_status(how: str) -> None:
    # A sync writes only what changed: with the Flags tab's rows deleted, or the tab deleted and made
    # again by `coprod install`, each sync printed nothing and wrote nothing, and the flags still
    # raised never came back.
    recipe, sheet, state, sync = installed_sheet()
    first = sync()
    flags_tab = sheet.tabs["Flags"]
    flags_tab.values[1][1] = "acknowledged"
    acked = flags_tab.values[1][0]
    sync()
    if how == "rows deleted":
        del flags_tab.values[1:]
    else:
        del sheet.tabs["Flags"]
        sync_connector(recipe).install()

    again = sync()

    assert again.diff is not None and again.diff.changes == []
    assert again.warnings == [
        f"the Flags tab held none of coprod's flags (deleted or emptied?): {len(first.flags)} of the "
        f"{len(first.flags)} flag(s) still raised written to it again"
    ]
    rows = {row[0]: row for row in sheet.tabs["Flags"].trimmed()[1:]}
    assert set(rows) == {f.fingerprint for f in first.flags}
    assert rows[acked][1] == "acknowledged"
    before = len(sheet.calls)
    assert sync().warnings == []
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"], "written once"
    readme = " ".join((RECIPE_DIR / "README.md").read_text(encoding="utf-8").split())
    assert "`coprod: warning: " + again.warnings[0].split(": ")[0] + ": ...`" in readme


class Syncing(NamedTuple):
    """A sheet made from the templates, installed, and how to sync it (each sync must succeed)."""

    recipe: Recipe
    sheet: FakeSpreadsheet
    state: StateStore
    sync: Callable[[], RunResult]


def installed_sheet() -> Syncing:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:")
    sync_connector(recipe).install()

    def sync() -> RunResult:
        result = run(
            loaded, run_date=date(2026, 6, 1), state=state, connectors={"sheet": sync_connector(recipe)}
        )
        assert result.exit_code == ExitCode.OK, result.messages
        return result

    return Syncing(recipe, sheet, state, sync)


def write_option(sheet: FakeSpreadsheet) -> set[str]:
    return {b["valueInputOption"] for b in sheet.bodies if "valueInputOption" in b}


def sync_connector(recipe: Recipe) -> SheetsConnector:
    context = ConnectorContext(recipe, RECIPE_DIR, env={})
    return SheetsConnector(
        "sheet", build_options(recipe), context, session=AuthorizedSession(Credentials("x"))
    )


@responses.activate
def test_a_write_google_refuses_past_the_retries_is_recorded_as_not_written_and_retried_next_run() -> None:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)  # no install: the first sync also creates the Flags tab
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:")
    sheet.fail("batchUpdate", 429, times=5)  # every try of the run: retries = 4

    failed = run(loaded, run_date=date(2026, 6, 1), state=state, connectors={"sheet": sync_connector(recipe)})

    assert failed.exit_code == ExitCode.PARTIAL_WRITE
    assert failed.flags and failed.diff is not None
    assert sheet.count("batchUpdate") == 5  # the new tab and its flags: one request, tried 5 times
    assert any(
        "writing flags to source 'sheet' failed" in m and "Google Sheets answered 429" in m
        for m in failed.messages
    ), failed.messages
    assert failed.write.written == [] and state.known_flags(recipe.name) == {}
    assert state.runs(recipe.name)[0]["exit_code"] == ExitCode.PARTIAL_WRITE
    assert "Flags" not in sheet.tabs  # refused whole: no tab without its flags

    before = len(sheet.calls)
    second = run(loaded, run_date=date(2026, 6, 1), state=state, connectors={"sheet": sync_connector(recipe)})

    assert second.exit_code == ExitCode.OK, second.messages
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet", "batchUpdate"]
    assert second.diff is not None and len(second.diff.changes) == len(failed.diff.changes)
    assert sorted(second.write.written) == sorted(state.known_flags(recipe.name))
    assert len(sheet.tabs["Flags"].trimmed()) == 1 + len(second.flags)


@responses.activate
def test_day_first_and_iso_dates_in_the_sheet_are_read_as_the_dates_staff_meant() -> None:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)
    sessions = sheet.tabs["Sessions"].values
    sessions[1][1] = "13/03/2026"  # the sheet's own (UK) formatting
    sessions[2][1] = "2026-04-01"
    sheet.tabs["Payments"].values[1][3] = "10/04/2026"
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})

    result = run(
        loaded, mode="check", run_date=date(2026, 6, 1), connectors={"sheet": sync_connector(recipe)}
    )

    assert result.exit_code == 0, result.messages
    assert result.dataset is not None
    assert {s.id: s.date for s in result.dataset.sessions} == {
        "S1": date(2026, 3, 13),
        "S2": date(2026, 4, 1),
    }
    assert [p.date for p in result.dataset.payments] == [date(2026, 4, 10)]
    assert sheet.writes == 0


def readme_projects_snippet() -> dict:
    text = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    block = text.split("## Several projects in one sheet", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    return tomllib.loads(block)


@responses.activate
def test_the_readmes_projects_tab_steps_give_a_recipe_that_reads_each_project() -> None:
    data = tomllib.loads((RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8"))
    del data["projects"]  # step 3, as the README says
    sessions = data["entities"]["sessions"]
    del sessions["defaults"]
    sessions["fields"]["project_id"] = "Project ID"
    data["entities"].update(readme_projects_snippet()["entities"])
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, [str(p) for p in problems]
    sheet = fake_sheet_from_templates(recipe)
    tab = sheet.tabs["Sessions"].values
    for short in tab[1:]:  # the template's optional columns at the end are left empty
        short.extend([""] * (len(tab[0]) - len(short)))
    tab[0].append("Project ID")
    tab[1].append("P1")
    tab[2].append("P2")
    sheet.add_tab(
        "Projects",
        [
            header("projects.csv"),
            ["P1", "Day service redesign", "Co-production", "Design, Planning", "12/02/2026", "", ""],
            ["P2", "Carers' café", "Consultation", "Delivery", "", "", "1, 2"],
        ],
    )
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})

    result = run(
        loaded, mode="check", run_date=date(2026, 6, 1), connectors={"sheet": sync_connector(recipe)}
    )

    assert result.exit_code == 0, result.messages
    assert result.dataset is not None
    assert not [f.message for f in result.flags if f.check_id.startswith("data_quality")]
    projects = {p.id: p for p in result.dataset.projects}
    assert projects["P1"].plan_drafted == date(2026, 2, 12)
    assert {s.value for s in projects["P1"].stages_reached} == {"design", "planning"}
    assert projects["P2"].decision_group == ("1", "2")
    assert {s.id: s.project_id for s in result.dataset.sessions} == {"S1": "P1", "S2": "P2"}


@responses.activate
def test_an_attendance_id_typed_with_leading_zeros_is_flagged_with_a_hint_and_not_matched() -> None:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)
    sheet.tabs["Attendance"].values[2][0] = "001"  # person "1", typed as the sheet's own "001"
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})

    result = run(
        loaded, mode="check", run_date=date(2026, 6, 1), connectors={"sheet": sync_connector(recipe)}
    )

    (unknown,) = [f for f in result.flags if f.check_id == "data_quality.unknown_person"]
    assert unknown.message.startswith(
        "tab 'Attendance' row 3, column 'Participant ID': person ID 001 is not in the people list "
        "(did you mean 1?). The attendance was not used."
    )
    assert result.dataset is not None and [a.person_id for a in result.dataset.attendance] == ["3", "4"]


@responses.activate
def test_a_persons_flags_column_shows_only_the_flags_staff_have_not_answered() -> None:
    _, sheet, _, sync = installed_sheet()
    sync()
    people, flags_tab = sheet.tabs["Form responses 1"], sheet.tabs["Flags"]
    column = people.values[0].index("coprod flags") + 1
    person_rows = [row for row in flags_tab.values[1:] if row[4].startswith("person ")]
    person = person_rows[0][4].removeprefix("person ")
    id_column = people.values[0].index("Participant ID")
    row = next(n for n, r in enumerate(people.values, start=1) if r[id_column] == person)
    assert people.cell(row, column)  # the person's open flags are shown

    for flag_row in person_rows:
        if flag_row[4] == f"person {person}":
            flag_row[1] = "acknowledged"  # staff answer every flag about that person
    before = len(sheet.calls)
    second = sync()

    assert second.diff is not None and second.diff.changes == []
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet", "values:batchUpdate"]
    (body,) = [b for b in sheet.bodies[-1:] if "valueInputOption" in b]
    assert [vr["range"] for vr in body["data"]] == [f"'Form responses 1'!{rowcol_to_a1(row, column)}"]
    assert people.cell(row, column) == ""

    before = len(sheet.calls)
    sync()
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]  # nothing left to write


# ------------------------------------------------------------------ the staff README follows the code
# A new user tripped seven times on the README: each test below pins one of those steps to the
# recipe, the templates or the code, so the README cannot drift from them again.

README = RECIPE_DIR / "README.md"
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)
COPROD = "/home/coprod/venv/bin/coprod"
FOLDER = "/home/coprod/our-group"


def readme_section(number_or_title: str) -> str:
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    (section,) = [p for p in parts if p.startswith(number_or_title)]
    return section


def test_the_people_template_has_the_flags_column_the_recipe_names_and_the_readme_says_so() -> None:
    spec = load().entities[Entity.PEOPLE]
    columns = header(TEMPLATES[Entity.PEOPLE])
    flags_column = spec.options["flags_column"]

    assert columns[-2:] == [spec.fields["id"], flags_column]  # both at the right-hand end
    step = readme_section("1. ")
    added = re.findall(r"^- `([^`]+)`:", step.split("**The form responses tab.**")[1], flags=re.M)
    assert added == columns[-2:]
    assert "leave it empty" in step


@responses.activate
def test_install_on_a_sheet_made_from_the_templates_adds_no_column() -> None:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)

    lines = sync_connector(recipe).install()

    assert not [line for line in lines if "added the column" in line], lines
    cells = [r for b in sheet.bodies for r in b.get("requests", []) if "updateCells" in r]
    assert {c["updateCells"]["start"]["sheetId"] for c in cells} == {sheet.tabs["Flags"].sheet_id}


def test_the_forms_answers_in_the_readme_are_the_ones_the_recipe_reads() -> None:
    recipe = load()
    people = recipe.entities[Entity.PEOPLE]
    rows = {
        cells[0]: [a.strip() for a in cells[2].split(";") if a.strip()]
        for line in readme_section("1. ").splitlines()
        if line.startswith("| ") and not line.startswith("| Question")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    by_column = {**{c: f for f, c in people.fields.items()}, **{c: d for d, c in people.demographics.items()}}
    form_columns = [
        h for h in header(TEMPLATES[Entity.PEOPLE]) if h in by_column and h != people.fields["id"]
    ]

    assert list(rows) == form_columns  # every question the recipe reads, in the template's order
    for question, answers in rows.items():
        field = by_column[question]
        if field in people.values:
            offered = [a for a in answers if a != "Prefer not to say"]
            assert offered == list(people.values[field]), question
    assert rows["Would you like us to warn you if payments might affect your benefits?"] == ["Yes", "No"]


def test_every_type_of_session_the_readme_lists_is_understood_and_none_is_missing() -> None:
    from coprod_core.model import SessionKind

    line = readme_section("1. ").split("**Type of session** is one of:")[1].split(". A drop-down")[0]
    words = [w.strip() for w in " ".join(line.split()).split(",")]
    sessions = [
        Row(
            ref=f"row {i}",
            values={"Session ID": f"S{i}", "Date": "03/03/2026", "Hours": "1", "Type of session": w},
        )
        for i, w in enumerate(words)
    ]
    recipe = load()
    mapped = map_dataset(recipe, {Entity.SESSIONS: sessions})

    assert not mapped.problems, [p.message for p in mapped.problems]
    assert sorted(s.kind for s in mapped.dataset.sessions) == sorted(SessionKind)


def test_the_day_first_line_the_readme_names_is_in_the_recipe_for_every_tab_with_dates() -> None:
    text = (RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8")
    step = readme_section("4. ")
    assert "`# day_first = false`" in step and "[entities.sessions]" in step and "[entities.payments]" in step

    uncommented = text.replace("# day_first = false", "day_first = false")
    recipe, problems = parse_recipe(tomllib.loads(uncommented), "recipe.toml")

    assert recipe is not None, [str(p) for p in problems]
    with_dates = {
        e for e, spec in recipe.entities.items() if "date" in spec.fields or "plan_drafted" in spec.fields
    }
    assert with_dates == {Entity.SESSIONS, Entity.PAYMENTS}
    assert all(not recipe.entities[e].day_first for e in with_dates)
    assert all(load().entities[e].day_first for e in with_dates)  # as shipped: day first (UK)


def test_every_command_in_the_readme_names_coprod_and_the_recipe_folder_in_full() -> None:
    text = README.read_text(encoding="utf-8")
    commands = [
        line.strip()
        for block in CODE_BLOCK.findall(text)
        for line in block.splitlines()
        if re.search(r"\bcoprod (validate|install|check|sync|serve)\b", line)
    ]

    assert len(commands) >= 5
    for command in commands:
        assert f"{COPROD} " in command, command  # cron and a fresh shell know no PATH shortcuts
        assert command.rstrip().endswith(FOLDER) or f"{FOLDER} " in command, command
    assert not re.search(r"`coprod [a-z]+ recipe\.toml`", text)


def test_the_readmes_copy_command_finds_the_recipe_folder_that_ships_with_coprod() -> None:
    (command,) = [
        line
        for block in CODE_BLOCK.findall(readme_section("4. "))
        for line in block.splitlines()
        if "cp -r" in line
    ]
    python = re.search(r"\$\(\S+/python -P -c '([^']+)'\)", command)
    assert python is not None, command

    where = subprocess.run([sys.executable, "-c", python[1]], capture_output=True, text=True, check=True)

    assert (Path(where.stdout.strip()) / "google-sheets" / "recipe.toml").is_file()


def test_the_cron_line_locks_with_flock_and_names_everything_in_full() -> None:
    (line,) = [
        line
        for block in CODE_BLOCK.findall(readme_section("6. "))
        for line in block.splitlines()
        if line.startswith("0 2 ")
    ]

    assert re.fullmatch(rf"0 2 \* \* \* flock -n {FOLDER}/\S+ {COPROD} sync {FOLDER}", line), line
    deploy = (ROOT / "recipes" / "deploy" / "coprod-sync.cron").read_text(encoding="utf-8")
    assert "flock -n" in deploy  # the same guard as the server set-up


def test_the_readmes_exit_codes_are_codes_coprod_exits_with() -> None:
    table = readme_section("What the exit codes mean")
    codes = [int(m) for m in re.findall(r"^\| (\d) \|", table, flags=re.M)]

    assert codes == [int(code) for code in ExitCode]


def test_the_readmes_webhook_secret_command_makes_a_secret_the_webhook_library_accepts() -> None:
    from standardwebhooks.webhooks import Webhook

    step = readme_section("7. ")
    (command,) = [
        line.strip()
        for block in CODE_BLOCK.findall(step)
        for line in block.splitlines()
        if "whsec_" in line and "-c" in line
    ]
    code = re.search(r'-c "(.+)"$', command)
    assert code is not None, command

    made = subprocess.run(
        [sys.executable, "-c", code[1]], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert made.startswith("whsec_") and len(made) > 40
    Webhook(made)  # raises on a secret the app could not use
    assert (
        made != subprocess.run([sys.executable, "-c", code[1]], capture_output=True, text=True).stdout.strip()
    )


def test_the_readmes_webhook_steps_match_the_recipe_and_the_app() -> None:
    text = (RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8")
    step = readme_section("7. ")
    switched_on = text.replace("# [webhook]", "[webhook]").replace("# secret_env", "secret_env")
    recipe, problems = parse_recipe(tomllib.loads(switched_on), "recipe.toml")
    assert recipe is not None, [str(p) for p in problems]

    assert load().webhook.secret_env is None  # shipped off: a run needs no secret until step 7
    assert f"{recipe.webhook.secret_env}=whsec_" in step
    assert f"https://coprod.example.org/hooks/sheets/{recipe.name}" in step  # the URL holds the name
    assert "COPROD_RECIPES=/home/coprod/our-group" in step
    assert "recipes/deploy/README.md" in step and "coprod serve" in step
    script = (RECIPE_DIR / "coprod_trigger.gs").read_text(encoding="utf-8")
    for reason in re.findall(r"^   - \*([^*]+)\*", step, flags=re.M):
        assert reason.rstrip(":") in script, reason  # each message staff may see is the script's own


def test_install_that_cannot_reach_google_names_the_source_once_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Step 5 followed on a machine without the internet printed "[sheet] [sources.sheet]: could not
    # reach Google ...": the source named twice.
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed: a real refused connection
    folder = tmp_path / "our-group"
    shutil.copytree(RECIPE_DIR, folder)
    key = {**service_account_key(), "token_uri": f"http://127.0.0.1:{port}/token"}
    (tmp_path / "key.json").write_text(json.dumps(key), encoding="utf-8")
    text = (folder / "recipe.toml").read_text(encoding="utf-8")
    (folder / "recipe.toml").write_text(
        text.replace('flags_tab = "Flags"', 'flags_tab = "Flags"\nretries = 0').replace(
            "PASTE-YOUR-SHEET-KEY-HERE", "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
        )  # the example's key stops install before any request
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    monkeypatch.chdir(tmp_path)

    assert main(["install", str(folder)]) == 3

    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("[sources.sheet]: could not reach Google to sign in"), line
    assert "after 1 try;" in line  # retries = 0 ("after 1 tries" before)


@responses.activate
@pytest.mark.parametrize("mode", ["check", "sync"])
def test_check_and_sync_name_every_missing_column_and_tab_of_the_sheet_at_once(mode: str) -> None:
    """The newcomer walkthrough renamed a heading and a tab after install: check and sync said the
    first only, so staff fixed it, ran again, and met the second. Now they say both, one to a line as
    install does, from the one read they always made, and the run stops with exit 2 as before."""
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)
    sync_connector(recipe).install()
    people = sheet.tabs["Form responses 1"]
    people.values[0][people.values[0].index("Participant ID")] = "ID"
    payments = sheet.tabs.pop("Payments")
    payments.title = "Payments 2026"
    sheet.tabs[payments.title] = payments
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:") if mode == "sync" else None
    before = len(sheet.calls)

    result = run(
        loaded,
        mode=mode,
        run_date=date(2026, 6, 1),
        state=state,
        connectors={"sheet": sync_connector(recipe)},
    )

    assert result.exit_code == ExitCode.CONFIG
    (message,) = result.messages
    lines = message.splitlines()
    assert lines[0] == "[sources.sheet]: the sheet needs attention before coprod can use it:"
    assert lines[1].startswith(
        "  - tab 'Form responses 1': column 'Participant ID' (id) is not in the header row"
    )
    assert lines[2].startswith("  - [entities.payments]: tab 'Payments' is not in the spreadsheet")
    assert "'Payments 2026'" in lines[2] and len(lines) == 3
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]  # one read, nothing written


@responses.activate
def test_install_on_a_us_sheet_says_which_line_to_add_where() -> None:
    recipe = load()
    sheet = fake_sheet_from_templates(recipe)
    sheet.locale = "en_US"

    lines = sync_connector(recipe).install()

    notes = [line for line in lines if "locale" in line]
    assert [n.split(": if dates show as 04/30/2026, ")[1] for n in notes] == [
        "put the line day_first = false under [entities.sessions] in the recipe",
        "put the line day_first = false under [entities.payments] in the recipe",
    ]


@responses.activate
def test_an_edit_a_staff_status_and_a_delete_between_two_syncs_are_seen_and_coprods_own_writes_are_not() -> (
    None
):
    """Sheets has no change feed to trust, and needs none: every sync reads every tab in one
    ``values:batchGet`` (issue 19: "Sheets stays as it is"). So whatever staff did between two syncs
    is seen by the second, and what coprod itself wrote (the Flags tab, the people tab's flags
    column) is never taken for a staff edit: a sync after it reads and writes nothing new."""
    recipe, sheet, state, sync = installed_sheet()

    def subjects(result: RunResult, check_id: str) -> set[str]:
        return {f.subject.id for f in result.flags if f.check_id == check_id}

    first = sync()
    assert subjects(first, "representation.decision_without_voice") == {"S1"}
    assert subjects(first, "payments.overdue") == {"4"}
    flags_tab = sheet.tabs["Flags"]
    row_of = {row[0]: i for i, row in enumerate(flags_tab.values) if i}
    no_voice = next(
        f.fingerprint for f in first.flags if f.check_id == "representation.decision_without_voice"
    )

    # Between the two syncs: an edit (the workshop lasted 3 hours, not 2), a staff status (the
    # budget meeting's flag acknowledged), and a delete (person 1's attendance at the workshop
    # removed: they were paid for it but were not there).
    sessions, attendance = sheet.tabs["Sessions"].values, sheet.tabs["Attendance"].values
    assert sessions[2][:3] == ["S2", "01/04/2026", "2"] and attendance[2][:2] == ["1", "S2"]
    sessions[2][2] = "3"
    del attendance[2]
    flags_tab.values[row_of[no_voice]][1] = "acknowledged"

    before = len(sheet.calls)
    second = sync()
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet", "values:batchUpdate"]
    assert state.known_flags(recipe.name)[no_voice].status is FlagStatus.ACKNOWLEDGED  # the status
    assert flags_tab.values[row_of[no_voice]][1] == "acknowledged"
    assert second.diff is not None
    changed = {c.known.check_id: c for c in second.diff.changes}
    assert {c.kind for c in second.diff.changes} == {ChangeKind.CHANGED, ChangeKind.NEW}
    fee = changed["payments.overdue"].flag  # the edit: 3 hours at the workshop
    assert fee is not None and fee.subject.id == "4" and '"hours": "3"' in fee.evidence_json
    assert subjects(second, "payments.overpaid") == {"1"}  # the delete: paid, no longer there
    assert changed["payments.overpaid"].kind is ChangeKind.NEW
    assert second.diff.kept_by_staff == 1
    before = len(sheet.calls)
    third = sync()
    assert [kind for kind, _ in sheet.calls[before:]] == ["meta", "batchGet"]
    assert third.diff is not None and third.diff.changes == []
    assert state.known_flags(recipe.name) == second.diff.next_state


@responses.activate
def test_a_person_deleted_from_the_form_responses_leaves_their_flags_closed_without_their_name() -> None:
    """UK GDPR erasure: once a person's row is gone from the people tab, the Flags tab keeps their
    flags as closed rows (fingerprint, check, severity, title, dates) with nothing that says who;
    the notes staff typed beside them stay theirs. Written once: the next sync writes nothing."""
    _, sheet, _, sync = installed_sheet()

    first = sync()
    theirs = {
        f.fingerprint: f for f in first.flags if f.subject.kind.value == "person" and f.subject.id == "4"
    }
    assert theirs and all("Sam" in f.message for f in theirs.values())
    flags_tab, people = sheet.tabs["Flags"], sheet.tabs["Form responses 1"].values
    row_of = {row[0]: i for i, row in enumerate(flags_tab.values) if i}
    flags_tab.values[0].append("Our notes")  # staff's own column, after coprod's
    for fp in theirs:
        flags_tab.values[row_of[fp]] += ["rang Sam on Tuesday"]
    before = [list(row) for row in flags_tab.values]
    (sam,) = [i for i, row in enumerate(people) if "=1+1 Sam" in row]
    del people[sam]  # deleted at their request

    calls = len(sheet.calls)
    second = sync()

    assert [kind for kind, _ in sheet.calls[calls:]] == ["meta", "batchGet", "values:batchUpdate"]
    assert second.diff is not None
    assert {c.fingerprint for c in second.diff.changes if c.kind is ChangeKind.REMOVED} == set(theirs)
    body = sheet.bodies[-1]
    assert body["valueInputOption"] == "RAW" and "Sam" not in str(body["data"])
    for fp in theirs:
        now, was = flags_tab.values[row_of[fp]], before[row_of[fp]]
        assert now[4:8] == ["person", was[5], ROW_MESSAGE, ""]  # subject, title kept, message, evidence
        assert now[1] == "resolved" and now[9] == "2026-06-01"
        assert now[0] == was[0] and now[2:4] == was[2:4] and now[8] == was[8]
        assert now[10] == "rang Sam on Tuesday"
    assert not [c for fp in theirs for c in flags_tab.values[row_of[fp]][:10] if "Sam" in c]

    calls = len(sheet.calls)
    third = sync()
    assert [kind for kind, _ in sheet.calls[calls:]] == ["meta", "batchGet"]
    assert third.diff is not None and third.diff.changes == []


@responses.activate
def test_a_sessions_hours_flag_that_named_a_deleted_person_keeps_the_session_and_loses_their_name() -> None:
    """The hours flag is about a session but names who gave it more hours than it lasted: once that
    person's form response is deleted (their register row kept), its Flags tab row keeps its subject
    (the session) and title, and the message and evidence that named them are replaced, in the one
    RAW write of the run."""
    _, sheet, _, sync = installed_sheet()
    attendance = sheet.tabs["Attendance"].values
    (sams,) = [row for row in attendance if row[:2] == ["4", "S2"]]
    sams[2] = "5"  # 5 hours at a 2-hour workshop
    first = sync()
    (hours,) = [f for f in first.flags if f.check_id == "data_quality.hours_over_session"]
    assert "Sam" in hours.message and hours.subject.id == "S2" and hours.named == ("4",)
    flags_tab, people = sheet.tabs["Flags"], sheet.tabs["Form responses 1"].values
    (row,) = [i for i, r in enumerate(flags_tab.values) if r[0] == hours.fingerprint]
    was = list(flags_tab.values[row])
    (sam,) = [i for i, r in enumerate(people) if "=1+1 Sam" in r]
    del people[sam]

    calls = len(sheet.calls)
    second = sync()

    assert [kind for kind, _ in sheet.calls[calls:]] == ["meta", "batchGet", "values:batchUpdate"]
    assert second.diff is not None
    assert [c.kind for c in second.diff.changes if c.fingerprint == hours.fingerprint] == [ChangeKind.REMOVED]
    body = sheet.bodies[-1]
    assert body["valueInputOption"] == "RAW" and "Sam" not in str(body["data"])
    assert NAMED_ROW_MESSAGE in str(body["data"])
    now = flags_tab.values[row]
    assert now[4:8] == [was[4], was[5], NAMED_ROW_MESSAGE, ""]  # subject and title kept
    assert was[4] == "session S2" and now[1] == "resolved"
    assert not [c for r in flags_tab.values for c in r if "Sam" in c]
