"""What a new user meets first: README.md and each recipe's README, followed from the top.

A read-through of the installed wheel, as someone who knows nothing would follow the documents,
found steps the code or the platform did not bear out. Each test pins one such claim to the code,
so the documents cannot drift from it again: the commands they show exist, the paths they copy
from are where an installed coprod keeps them, a cron line that promises mail sends it.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coprod.cli import DEFAULT_MAX_AGE, main, parser
from coprod.status import InboxSeen, RecipeStatus, RunSeen, parse_max_age
from coprod_core.flags import Severity
from coprod_core.lifecycle import FlagStatus
from coprod_core.model import Role
from coprod_core.recipe import Entity, parse_recipe
from coprod_core.rules import all_rules
from fakes import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "recipes").glob("*/README.md"))]
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def code_lines(path: Path) -> list[str]:
    """Every line of every fenced code block of a document."""
    text = path.read_text(encoding="utf-8")
    return [line.strip() for block in CODE_BLOCK.findall(text) for line in block.splitlines() if line.strip()]


def readme_section(path: Path, title: str) -> str:
    (section,) = [
        p for p in re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M) if p.startswith(title)
    ]
    return section


def test_no_document_installs_coprod_from_pypi_where_it_is_not_published() -> None:
    # `pip install coprod` answered "No matching distribution found for coprod" (and one day could
    # install somebody else's package of that name): every install names coprod's own files.
    for doc in DOCS:
        for line in code_lines(doc):
            if "pip install" in line:
                target = shlex.split(line.split("#")[0])[-1]
                assert "/" in target, f"{doc.relative_to(ROOT)}: {line}"


def test_the_readme_shows_every_command_coprod_has() -> None:
    (action,) = [a for a in parser()._subparsers._group_actions]  # type: ignore[union-attr]
    commands = set(action.choices)  # type: ignore[arg-type]
    block = CODE_BLOCK.findall(readme_section(ROOT / "README.md", "Using it"))[0]
    shown = {line.split()[1] for line in block.splitlines() if line.startswith("coprod ")}

    assert shown == commands


def test_the_readme_shows_every_option_of_every_command() -> None:
    # "Using it" listed `coprod status [--max-age 26h] [--quiet] [--json]` after --max-wait was added:
    # a newcomer reading the list never learnt of it. An option hidden from --help is left out.
    (action,) = [a for a in parser()._subparsers._group_actions]  # type: ignore[union-attr]
    block = CODE_BLOCK.findall(readme_section(ROOT / "README.md", "Using it"))[0]
    for name, command in action.choices.items():  # type: ignore[union-attr]
        options = {
            option
            for a in command._actions
            if a.help != argparse.SUPPRESS
            for option in a.option_strings
            if option.startswith("--") and option not in ("--help", "--verbose")
        }
        lines = [line.split("#")[0] for line in block.splitlines() if line.startswith(f"coprod {name} ")]
        shown = set(re.findall(r"--[a-z-]+", " ".join(lines)))
        assert options <= shown, f"coprod {name}: {sorted(options - shown)} not in README 'Using it'"


def test_the_removed_line_the_documents_quote_counts_people_as_the_summary_does() -> None:
    # The summary came to say how many people it took as removed ('2 flag(s) about 1 person no longer
    # in the people list'), while README went on quoting the line without them.
    quoted = [
        (doc.name, m[0])
        for doc in DOCS
        for m in re.finditer(r"removed +\d+ flag\(s\) about[^`]*", doc.read_text(encoding="utf-8"))
    ]
    assert quoted
    for doc, line in quoted:
        line = " ".join(line.split())
        said = r"removed \d+ flag\(s\) about (1 person|\d+ people) no longer in the people list"
        assert re.match(said, line), f"{doc}: {line}"


def test_the_changes_line_the_documents_quote_counts_the_flags_closed_for_a_removed_person() -> None:
    # The summary said "0 resolved" of a run that closed a removed person's flags; README quoted only
    # the removed line. What it quotes of both is what print_summary says (tests/test_run_output.py).
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    changes = re.findall(
        r"`changes (\d+) new, (\d+) changed, (\d+) reopened, (\d+) resolved, (\d+) closed as their person was removed; ",
        readme,
    )
    removed = re.findall(
        r"`removed (\d+) flag\(s\) about 1 person no longer in the people list \((\d+) of them resolved before\): ",
        readme,
    )
    assert len(changes) == len(removed) == 1
    (closed, earlier), total = (changes[0][4], removed[0][1]), removed[0][0]
    assert int(closed) + int(earlier) == int(total)
    assert '`"closed_as_removed"`' in readme


def test_what_the_recipe_pages_quote_of_a_removed_persons_row_is_what_their_tools_flag_says() -> None:
    # The KoboToolbox page said its tool has no "won't fix" while the flag told staff to mark one.
    from coprod.connectors.civicrm import CiviCRMConnector
    from coprod.connectors.kobotoolbox import KoboConnector

    kobo = " ".join((ROOT / "recipes" / "kobotoolbox" / "README.md").read_text(encoding="utf-8").split())
    quoted = re.search(r'as the flag\'s message says \("([^"]+)"\)', kobo)
    assert quoted and KoboConnector.removed_rows_advice.startswith(quoted[1])
    civicrm = " ".join((ROOT / "recipes" / "civicrm" / "README.md").read_text(encoding="utf-8").split())
    assert "mark that flag's activity Cancelled if the charity must keep the payment record" in civicrm
    assert (
        "mark this flag's activity Cancelled if the charity must keep" in CiviCRMConnector.removed_rows_advice
    )


def test_what_the_documents_quote_of_a_recipes_own_projects_flag_is_what_it_says() -> None:
    # A [[projects]] decision group naming an unknown ID was never flagged; both READMEs now quote
    # the flag, which names the recipe's entry (it has no row).
    from coprod_core.mapping import INLINE_PROJECT_AT
    from coprod_core.mapping.entities import unknown_members_words

    def flag(project: str) -> str:
        words = unknown_members_words(["P017"], [], "decision_group", lambda _: "")
        return f"{INLINE_PROJECT_AT.format(id=project, recipe_file='recipe.toml')}, decision_group: {words}"

    for doc, project in (("recipes/kobotoolbox/README.md", "day_service"), ("README.md", "DSR")):
        text = " ".join((ROOT / doc).read_text(encoding="utf-8").split())
        quoted = re.findall(r"`(the \[\[projects\]\] with id [^`]+?) \.\.\.`", text)
        assert quoted and all(flag(project).startswith(q) for q in quoted), (doc, quoted)


CRON_LINE = re.compile(r"^[\d*/,-]+ [\d*/,-]+ \S+ \S+ \S+ ")


def cron_lines() -> list[tuple[str, str]]:
    """(where, line) for every cron line a document or the deploy folder gives to copy."""
    found = [(str(doc.relative_to(ROOT)), line) for doc in DOCS for line in code_lines(doc)]
    cron = ROOT / "recipes" / "deploy" / "coprod-sync.cron"
    found += [(str(cron.relative_to(ROOT)), line) for line in cron.read_text(encoding="utf-8").splitlines()]
    return [(where, line) for where, line in found if CRON_LINE.match(line)]


def test_every_cron_line_is_locked_with_flock_and_mails_what_coprod_prints() -> None:
    # The KoboToolbox and CiviCRM READMEs (and the deploy cron file) said cron mails what coprod
    # prints, under a line that sent all of it to a log file (>> file 2>&1): no mail, ever.
    lines = cron_lines()
    assert len(lines) >= 4
    for where, line in lines:
        sends_to_a_file = re.search(r">>?\s*\S+", line) and "| tee" not in line
        assert not sends_to_a_file, f"{where}: cron would mail nothing: {line}"
        if "coprod status " in line:
            continue  # it only reads, taking no lock: two at once (or one beside a sync) are harmless
        assert "flock -n " in line, f"{where}: {line}"


def test_every_cron_lines_lock_is_its_own_recipes_so_a_second_recipe_copied_in_is_not_skipped() -> None:
    # The deploy cron file locked with /srv/coprod/state/nightly.lock: a second recipe's line
    # copied from it, at the same time, found the lock taken and was skipped every night, silently.
    syncs = [(where, line) for where, line in cron_lines() if "coprod sync " in line]
    assert len(syncs) >= 4
    for where, line in syncs:
        lock = re.search(r"flock -n (\S+)", line)
        recipe = re.search(r"coprod sync (\S+)", line)
        assert lock is not None and recipe is not None, f"{where}: {line}"
        folder = re.search(r"cd (\S+) &&", line)
        name = Path(recipe[1]).name if recipe[1] != "recipe.toml" or folder is None else Path(folder[1]).name
        assert name in lock[1], f"{where}: the lock {lock[1]} is not the recipe {name}'s"
    # ... and no two lines a document gives share a lock (the Google Sheets README's nightly report
    # was "a second line in cron, like the sync": copied, it would be skipped while the sync ran)
    for doc in DOCS:
        locks = [
            re.findall(r"flock -n (\S+)", line)
            for where, line in cron_lines()
            if where == str(doc.relative_to(ROOT)) and "coprod status " not in line
        ]
        assert len({lock for found in locks for lock in found}) == len(locks), doc


def test_every_cron_line_piped_into_tee_exits_with_coprods_code() -> None:
    # The deploy cron line ended `| tee -a nightly.log`: a pipe's exit code is its last command's,
    # tee's, so a night whose recipes failed ended 0, whatever the exit codes documented above it.
    piped = [(where, line) for where, line in cron_lines() if "| tee" in line]
    assert piped
    for where, line in piped:
        command = line.split(None, 6)[6]  # after the five times and the user
        assert command.startswith("set -o pipefail;"), f"{where}: {line}"
        shell = [text for text in _cron_file_lines(where) if text.startswith("SHELL=")]
        assert shell == ["SHELL=/bin/bash"], f"{where}: pipefail needs bash; cron's default is /bin/sh"


def _cron_file_lines(where: str) -> list[str]:
    """The lines of the cron file, or of the code blocks of the document, that ``where`` names."""
    path = ROOT / where
    return path.read_text(encoding="utf-8").splitlines() if path.suffix == ".cron" else code_lines(path)


CRON_SETTING = re.compile(r"^([A-Z_]+)=(.*)$")


@pytest.mark.skipif(
    shutil.which("flock") is None or shutil.which("bash") is None, reason="needs flock and bash"
)
@pytest.mark.parametrize("code", [0, 5])
def test_the_deploy_cron_line_run_as_cron_runs_it_exits_with_coprods_code_and_logs_its_words(
    tmp_path: Path, code: int
) -> None:
    # The line run as cron runs it: with the file's SHELL, `-c`, and the file's settings in the
    # environment; /srv/coprod is a temporary folder and coprod a script that prints and exits.
    lines = (ROOT / "recipes" / "deploy" / "coprod-sync.cron").read_text(encoding="utf-8").splitlines()
    settings = dict(m.groups() for text in lines if (m := CRON_SETTING.match(text)))
    (job,) = [text for text in lines if CRON_LINE.match(text)]
    srv = tmp_path / "srv"
    (srv / "state").mkdir(parents=True)
    (srv / "venv" / "bin").mkdir(parents=True)
    fake = srv / "venv" / "bin" / "coprod"
    fake.write_text(f'#!/bin/sh\necho "== youth-panel (recipes/youth-panel) $*"\nexit {code}\n')
    fake.chmod(0o755)
    command = job.split(None, 6)[6].replace("/srv/coprod", str(srv))

    ran = subprocess.run(
        [settings.get("SHELL", "/bin/sh"), "-c", command],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **settings},
        timeout=30,
    )

    assert ran.returncode == code
    assert ran.stdout == "== youth-panel (recipes/youth-panel) sync recipes\n"  # what cron mails
    assert (srv / "state" / "nightly.log").read_text() == ran.stdout


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices  # type: ignore[return-value]


def coprod_invocations(path: Path) -> list[tuple[bool, list[str]]]:
    """(shown whole, arguments) for every coprod command a document shows: each line of its code
    blocks (a command shown whole) and each inline code span (often a fragment, such as `coprod
    report --share`). Optional parts in brackets become their first choice; a line continued with
    a backslash is joined; `sudo -u coprod` and cron's user field are not the command."""
    text = path.read_text(encoding="utf-8")
    spans = [
        (True, line) for block in CODE_BLOCK.findall(text) for line in block.replace("\\\n", " ").splitlines()
    ]
    spans += [(False, span) for span in re.findall(r"`([^`\n]+)`", CODE_BLOCK.sub("", text))]
    commands = set(_subcommands(parser()))
    found = []
    for whole, span in spans:
        span = re.sub(r"\[([^\]|]*?)(?:\s*\|[^\]]*)?\]", r"\1", span.split(" #")[0])
        for segment in re.split(r"&&|[|;]|\$\(", span):
            try:
                words = shlex.split(segment)
            except ValueError:
                words = segment.split()
            for i, word in enumerate(words):
                if word != "coprod" and not word.endswith("/coprod"):
                    continue
                argv = words[i + 1 :]
                named = [a for a in argv if a != "-v"][:1]
                if named and named[0] in commands:
                    found.append((whole, argv))
    return found


def test_every_coprod_command_the_documents_show_takes_the_options_they_give_it() -> None:
    # A read-through follows each command as written; an option a command does not take would stop
    # a data officer at the first step. Fragments in prose name real options; whole lines parse.
    shown = [(doc, whole, argv) for doc in DOCS for whole, argv in coprod_invocations(doc)]
    assert len(shown) > 50
    for doc, whole, argv in shown:
        command = _subcommands(parser())
        words = [a for a in argv if a != "-v"]
        sub, rest = command[words[0]], words[1:]
        if rest and any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            sub, rest = _subcommands(sub)[rest[0]], rest[1:]
        unknown = [o for o in rest if o.startswith("-") and o.split("=")[0] not in sub._option_string_actions]
        assert unknown == [], f"{doc.relative_to(ROOT)}: coprod {' '.join(argv)}"
        if whole:
            try:
                parser().parse_args([a.replace("YYYY-MM-DD", "2026-11-20") for a in argv])
            except SystemExit:
                pytest.fail(f"{doc.relative_to(ROOT)}: coprod {' '.join(argv)} does not parse")


def test_each_recipe_readme_copies_its_folder_from_where_an_installed_coprod_keeps_it(tmp_path: Path) -> None:
    # The CiviCRM README copied `recipes/civicrm` "from the folder holding coprod's files", which a
    # pip-installed coprod does not have; the KoboToolbox one only printed where the folder was.
    for folder in ("google-sheets", "kobotoolbox", "civicrm", "files"):
        readme = ROOT / "recipes" / folder / "README.md"
        (command,) = [line for line in code_lines(readme) if line.startswith("cp -r ")]
        found = re.fullmatch(r"""cp -r "\$\((\S+/python) -P -c '([^']+)'\)/([\w-]+)" (\S+)""", command)
        assert found is not None, f"{folder}: {command}"
        where = subprocess.run([sys.executable, "-c", found[2]], capture_output=True, text=True, check=True)
        assert found[3] == folder, command
        assert (Path(where.stdout.strip()) / folder / "recipe.toml").is_file(), command


SECTION_NAMED = re.compile(r"(main )?README(?:\.md)?,? \"([^\"]+)\"")


@pytest.mark.parametrize(
    "folder",
    [
        "civicrm",
        "google-sheets",
        "files",
        "kobotoolbox",
    ],
)
def test_each_readme_section_a_recipes_comments_name_is_in_the_readme_they_point_to(folder: str) -> None:
    # The CiviCRM and Google Sheets recipes said "see README.md, 'The payment policy, and when its
    # rates change'": the README.md beside a copied recipe is the recipe's own, which has no such
    # section (it is in coprod's main README).
    recipe = ROOT / "recipes" / folder / "recipe.toml"
    comments = " ".join(
        line.split("#", 1)[1].strip()
        for line in recipe.read_text(encoding="utf-8").splitlines()
        if "#" in line
    )
    headings = {
        name: {h.strip() for h in re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)}
        for name, path in (("main", ROOT / "README.md"), ("beside", recipe.parent / "README.md"))
    }
    named = SECTION_NAMED.findall(comments)
    for main_readme, title in named:
        assert title in headings["main" if main_readme else "beside"], f"{folder}: README section {title!r}"


def test_the_readme_says_which_python_copies_a_recipe_out_for_each_way_of_installing_it_offers() -> None:
    # README's "Installing" offers `pipx install` beside a virtualenv of coprod's own; the recipe
    # READMEs copy their folder out with that virtualenv's python, which a pipx install has
    # elsewhere, and nothing said where.
    installing = " ".join(readme_section(ROOT / "README.md", "Installing").split())
    pythons = {
        re.search(r"\$\((\S+/python) ", line)[1]  # type: ignore[index]
        for folder in ("google-sheets", "kobotoolbox", "civicrm", "files")
        for line in code_lines(ROOT / "recipes" / folder / "README.md")
        if line.startswith("cp -r ")
    }
    assert pythons == {"/home/coprod/venv/bin/python", "/srv/coprod/venv/bin/python"}
    assert (
        "python3 -m venv /home/coprod/venv" in installing and "`/home/coprod/venv/bin/python`" in installing
    )
    if "pipx install" in installing:
        assert "`$(pipx environment --value PIPX_LOCAL_VENVS)/coprod/bin/python`" in installing


def test_the_server_units_can_read_the_recipe_folders_the_recipe_readmes_point_the_app_at() -> None:
    # The Google Sheets and KoboToolbox READMEs set COPROD_RECIPES to a folder in /home/coprod,
    # which ProtectHome=true hid from the units in recipes/deploy/.
    at_home = [
        readme for readme in DOCS if re.search(r"COPROD_RECIPES=/home/", readme.read_text(encoding="utf-8"))
    ]
    assert at_home
    for unit in sorted((ROOT / "recipes" / "deploy").glob("*.service")):
        settings = dict(
            line.split("=", 1)
            for line in unit.read_text(encoding="utf-8").splitlines()
            if "=" in line and not line.startswith("#")
        )
        assert settings.get("ProtectHome", "no") in ("no", "false", "read-only"), unit.name
    for readme in at_home:
        text = readme.read_text(encoding="utf-8")
        # ... and the nightly sync of that folder keeps the app's state (one state, one lock)
        step = text[text.index("COPROD_RECIPES=/home/") :][:1200]
        assert "COPROD_STATE" in step and "nightly sync" in step and ".env" in step, readme


def test_the_demo_raises_every_rule_but_those_the_readme_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README said "every rule of the checks fires at least once"; six never did.
    text = readme_section(ROOT / "README.md", "The demo")
    said = " ".join(text.split())
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--json"]) == 0
    raised = {f["check_id"] for f in json.loads(capsys.readouterr().out)["flags"]}
    silent = {r.id for r in all_rules()} - raised

    assert "every rule fires at least once except `payments.no_policy`" in said
    assert "other than a value not understood and an unknown person" in said
    assert silent == {"payments.no_policy"} | {
        r.id for r in all_rules() if r.check == "data_quality" and r.id not in raised
    }
    assert {"data_quality.bad_value", "data_quality.unknown_person"} <= raised


def test_the_kobotoolbox_readmes_other_role_lines_added_at_the_end_map_the_answer() -> None:
    # "add a line under [entities.people.values.roles]": the recipe had no such section to add under.
    folder = ROOT / "recipes" / "kobotoolbox"
    tip = " ".join(readme_section(folder / "README.md", "Good to know").split())
    header, line = re.findall(r"`(\[entities\.people\.values\.roles\]|\"peer supporter\" = \"\w+\")`", tip)
    words = re.search(r"the words on the right: ((?:`\w+`(?:, )?)+)", tip)
    assert words is not None and re.findall(r"`(\w+)`", words[1]) == [r.value for r in Role]

    text = (folder / "recipe.toml").read_text(encoding="utf-8") + f"\n{header}\n{line}\n"
    recipe, problems = parse_recipe(tomllib.loads(text), "recipe.toml")

    assert recipe is not None, [str(p) for p in problems]
    assert recipe.entities[Entity.PEOPLE].values["roles"] == {"peer supporter": "lived_experience"}


def test_the_deploy_readme_copies_the_units_and_the_cron_file_from_an_installed_coprod(
    tmp_path: Path,
) -> None:
    # The deploy README listed its units and cron file but never said where an installed coprod
    # keeps them (inside the package) nor where each goes; and a cron file copied into /etc/cron.d
    # under its own name, coprod-sync.cron, is skipped by Debian's cron (a name with a dot in it),
    # so the nightly sync would never run and nothing would say so.
    readme = ROOT / "recipes" / "deploy" / "README.md"
    lines = code_lines(readme)
    (finder,) = [line for line in lines if line.startswith('deploy="$(')]
    found = re.fullmatch(r"""deploy="\$\((\S+/python) -P -c '([^']+)'\)/deploy\"""", finder)
    assert found is not None, finder
    assert found[1] == "/srv/coprod/venv/bin/python"  # where these units expect coprod
    where = subprocess.run([sys.executable, "-c", found[2]], capture_output=True, text=True, check=True)
    package = Path(where.stdout.strip()) / "deploy"
    copies = [shlex.split(line) for line in lines if line.startswith('cp "$deploy"/')]
    copied: dict[str, str] = {}
    for argv in copies:
        *sources, target = argv[1:]
        for source in sources:
            name = source.removeprefix("$deploy/")
            assert (package / name).is_file(), name
            copied[name] = target.rstrip("/") + "/" + name if target.endswith("/") else target
    shipped = {p.name for p in (ROOT / "recipes" / "deploy").iterdir() if p.suffix in (".service", ".cron")}
    assert set(copied) == shipped
    for name, target in copied.items():
        if name.endswith(".service"):
            assert target == f"/etc/systemd/system/{name}"
        else:
            assert target.startswith("/etc/cron.d/") and re.fullmatch(
                r"[A-Za-z0-9_-]+", target.split("/")[-1]
            )
    cron_file = (ROOT / "recipes" / "deploy" / "coprod-sync.cron").read_text(encoding="utf-8")
    assert cron_file.startswith(f"# {copied['coprod-sync.cron']}:")


def test_env_example_lists_every_variable_the_documents_name() -> None:
    # README: ".env.example in coprod's source folder lists them all, with where each value is
    # found"; it stopped at the Google, KoboToolbox and CiviCRM keys and COPROD_WEBHOOK_SECRET, while
    # the documents set COPROD_RECIPES, COPROD_WORKER_HOLD, COPROD_WEBHOOK_FSYNC, the CiviCRM
    # recipe's CIVICRM_WEBHOOK_SECRET ...
    named = re.compile(r"\b(?:COPROD|KOBO|CIVICRM|GOOGLE)_[A-Z_]*[A-Z]\b")
    documents = [
        *DOCS,
        *sorted((ROOT / "recipes").glob("*/recipe.toml")),
        *(ROOT / "recipes" / "deploy").iterdir(),
    ]
    in_documents = {
        name for doc in documents if doc.is_file() for name in named.findall(doc.read_text(encoding="utf-8"))
    }
    # the Apps Script's and the CiviCRM extension's own settings (a script property, a PHP constant)
    in_documents -= {"COPROD_WEBHOOK_URL"}
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))
    assert sorted(in_documents - listed) == []


def test_a_step_that_uploads_a_recipes_files_says_how_to_get_them_out_of_an_installed_coprod() -> None:
    # Step 1 of the Google Sheets and KoboToolbox READMEs uploads the templates and the XLSForms in a
    # browser, but only a later step copied the recipe folder out of the package: a data officer with
    # the wheel installed had no such files to hand when step 1 asked for them.
    for folder, step, copy in (
        ("google-sheets", "1. Set out the sheet", "step 4.1"),
        ("kobotoolbox", "1. Put", "step 2"),
    ):
        text = " ".join(readme_section(ROOT / "recipes" / folder / "README.md", step).split())
        assert f"do {copy} first" in text or f"do the copy of {copy} first" in text, folder


def test_the_readmes_daily_check_example_is_what_coprod_status_prints_for_the_state_it_describes() -> None:
    """A data officer compares the example with what their server prints: each line of it must be
    the line coprod prints for the runs, flags and inbox it describes. Its flags line once read
    "19 open ...; staff acknowledged 7", where only 11 were open in the flags file's Status column
    (the 19 counted every flag not resolved), which the sync's own summary put otherwise."""
    section = readme_section(ROOT / "README.md", "Using it")
    daily = section.split("### The daily check", 1)[1]
    (example,) = re.findall(r"```text\n(.*?)```", daily, re.S)[:1]
    at = datetime(2026, 12, 7, tzinfo=UTC)
    sync = RunSeen("sync", at.replace(hour=2, minute=31), at.replace(hour=2, minute=31, second=2), 0)
    recheck = RunSeen("webhook", at.replace(hour=7), at.replace(hour=7, second=2), 0)
    flags = {
        (Severity.CRITICAL, FlagStatus.OPEN): 2,
        (Severity.WARNING, FlagStatus.OPEN): 4,
        (Severity.WARNING, FlagStatus.ACKNOWLEDGED): 7,
        (Severity.WARNING, FlagStatus.WONT_FIX): 1,
        (Severity.INFO, FlagStatus.OPEN): 5,
        (Severity.INFO, FlagStatus.RESOLVED): 3,
    }
    printed = RecipeStatus(
        recipe="youth-panel",
        path="recipes/youth-panel/recipe.toml",
        state="state.sqlite",
        now=at.replace(hour=8, minute=20),
        max_age=timedelta(hours=36),
        zone=ZoneInfo("Europe/London"),
        last_run=recheck,
        last_sync=sync,
        last_full_read=sync,
        flags=flags,
        inbox=InboxSeen(open=0, retrying=0, oldest_seconds=None),
    ).lines()
    assert example.splitlines() == printed


def test_a_readme_whose_exit_codes_name_7_shows_the_coprod_status_command_that_gives_it() -> None:
    """The Google Sheets README's table said exit 7 came from `coprod status` only, and nowhere said
    to run it: a data officer without cron mail never learnt the nightly sync had stopped."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        if not re.search(r"^\| 7 \|", text, re.M):
            continue
        shown = [line for line in code_lines(doc) if re.search(r"\bcoprod status \S", line)]
        inline = re.findall(r"`[^`]*\bcoprod\s+status\s+[^`]+`", text)
        assert shown or inline, f"{doc.relative_to(ROOT)}: exit code 7, but no `coprod status ...` to run"


def test_the_deploy_morning_check_at_its_cron_time_sees_a_night_whose_sync_did_not_succeed() -> None:
    """The deploy cron file syncs at 02:30 and its README checks at 08:00: a night missed leaves the
    last success a day and 5.5 hours old at the check. With the default limit at 36 hours that was
    within it, so the morning check said nothing until the second morning."""

    def at(line: str) -> timedelta:
        minute, hour = line.split()[:2]
        return timedelta(hours=int(hour), minutes=int(minute))

    def cron(lines: list[str], command: str) -> list[str]:
        return [line for line in lines if line[:1].isdigit() and command in line]

    (sync,) = cron(_cron_file_lines("recipes/deploy/coprod-sync.cron"), " sync recipes")
    checks = cron(code_lines(ROOT / "recipes/deploy/README.md"), " status recipes")
    assert checks
    for check in checks:
        given = re.search(r"--max-age[ =](\S+)", check)
        limit = parse_max_age(given[1] if given else DEFAULT_MAX_AGE)
        after = (at(check) - at(sync)) % timedelta(days=1)  # from the night's sync to the check
        assert after < limit, f"{check}: a good night's sync would read as too old"
        assert timedelta(days=1) + after > limit, f"{check}: a night missed would still read as OK"


def test_every_key_coprod_status_json_gives_is_named_where_readme_lists_them() -> None:
    """README lists the keys of `coprod status --json` "for a dashboard"; keys the code gives that
    the list left out (`has_state`, which a dashboard needs to tell "no state yet" from "no sync",
    the run's `mode`, `recipe`, `state`) were found only by reading the code."""
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    run = RunSeen(mode="sync", started=at - timedelta(hours=6), finished=at - timedelta(hours=5), exit_code=0)
    given = RecipeStatus(
        recipe="demo",
        path="recipe.toml",
        state="state.sqlite",
        now=at,
        max_age=timedelta(hours=26),
        zone=None,
        last_run=run,
        inbox=InboxSeen(open=0, retrying=0, oldest_seconds=None),
    ).as_json()
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    listed = re.search(r"`--json` gives the same as one object(.*?)for a dashboard", readme)
    assert listed, "README no longer lists coprod status --json's keys"
    named = set(re.findall(r"`([a-z_]+)`", listed[1]))
    keys = set(given)
    for part in ("last_run", "flags", "inbox"):  # the keys of a run, the flags and the inbox
        inner = given[part]
        assert isinstance(inner, dict)
        keys |= set(inner)
    assert keys <= named, sorted(keys - named)


def test_every_deploy_command_run_from_srv_coprod_runs_the_installed_coprod_as_the_coprod_user() -> None:
    """The deploy README said `cd /srv/coprod && coprod validate recipes` (and `coprod install
    recipes`) where root reads it: `coprod` is not on root's PATH (command not found), and typed with
    its path as root, install made a CSV recipe's flags file root's alone, so the `coprod` user's
    nightly sync stopped on it (exit 3). Every such command names the venv's coprod and runs as coprod
    (sudo -u coprod, or a cron line's user field)."""
    readme = (ROOT / "recipes" / "deploy" / "README.md").read_text(encoding="utf-8")
    inline = re.findall(r"`([^`\n]+)`", CODE_BLOCK.sub("", readme))
    commands = [
        line
        for line in [*code_lines(ROOT / "recipes" / "deploy" / "README.md"), *inline]
        if "cd /srv/coprod &&" in line
        and re.search(r"\bcoprod (validate|install|sync|status|migrate)\b", line)
    ]
    assert len(commands) >= 6
    for line in commands:
        assert not re.search(r"(^|[\s&;'])coprod (validate|install|sync|status|migrate)\b", line), line
        as_coprod = line.startswith("sudo -u coprod ") or "&& sudo -u coprod " in line
        assert as_coprod or (CRON_LINE.match(line) and line.split()[5] == "coprod"), line


def test_every_recipe_readme_that_puts_a_secret_in_dotenv_says_to_keep_that_dotenv_private() -> None:
    """The Google Sheets README's step 7 added COPROD_WEBHOOK_SECRET=whsec_... to a .env made with
    nano, which every user of the computer could read (0644 under the usual umask: walkthrough), and
    never said chmod 600, as the KoboToolbox and CiviCRM READMEs do for theirs."""
    for doc in sorted((ROOT / "recipes").glob("*/README.md")):
        secrets = [line for line in code_lines(doc) if re.match(r"[A-Z_]*(SECRET|TOKEN|API_KEY)=", line)]
        if secrets:
            text = doc.read_text(encoding="utf-8")
            assert re.search(r"chmod 600 \S*\.env\b", text), f"{doc.relative_to(ROOT)}: {secrets}"


def _as_systemd_starts(unit: Path, server: Path) -> dict[str, str]:
    """The environment a unit gives its command, as systemd makes it: its ``Environment=`` lines, and
    each ``EnvironmentFile=`` read systemd's way (a line's value is the rest of the line after ``=``,
    a note after it included; only a line starting with # or ; is a comment), with /srv/coprod
    standing for ``server``."""
    env: dict[str, str] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = setting
        elif key == "EnvironmentFile":
            path = Path(value.lstrip("-").replace("/srv/coprod", str(server)))
            for setting in path.read_text(encoding="utf-8").splitlines():
                if setting.strip() and not setting.lstrip().startswith(("#", ";")):
                    name, _, said = setting.partition("=")
                    env[name.strip()] = said.strip()
    return env


@pytest.mark.parametrize(
    "unit", ["coprod-webhook.service", "coprod-worker.service", "coprod-worker@.service"]
)
def test_a_unit_reads_srv_coprod_env_as_a_command_typed_in_srv_coprod_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    """The units read /srv/coprod/.env with EnvironmentFile=, which systemd reads its own way: a note
    after a value (`COPROD_WORKER_HOLD=2   # a small server`) became part of it, so the worker that
    started when typed by hand was refused under systemd ('must be a whole number ... not "2   # a
    small server"'); and its values became the environment, which wins over a recipe's own .env,
    while a command typed in /srv/coprod takes the recipe's: the app checked a recipe's deliveries
    with /srv/coprod/.env's secret, and `coprod install` (KoboToolbox's REST Service) used the
    recipe's. Now coprod reads the file itself, the unit only asking that it be there."""
    from coprod.config import load_recipe
    from coprod.webhook_app.settings import WebhookSettings

    server = tmp_path / "srv"
    recipe = server / "recipes" / "youth-panel"
    shutil.copytree(ROOT / "recipes" / "demo", recipe)
    with (recipe / "recipe.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[webhook]\nsecret_env = "COPROD_WEBHOOK_SECRET"\n')
    (recipe / ".env").write_text("COPROD_WEBHOOK_SECRET=whsec_dGhlLXJlY2lwZXMtb3du\n", encoding="utf-8")
    (server / ".env").write_text(
        "COPROD_RECIPES=recipes\n"
        "COPROD_STATE=state/state.sqlite\n"
        "COPROD_WORKER_HOLD=2   # a small server\n"
        "COPROD_WEBHOOK_SECRET=whsec_dGhlLXNlcnZlcnMtb2xkLW9uZQ==\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(server)
    for name in ("COPROD_RECIPES", "COPROD_STATE", "COPROD_WORKER_HOLD", "COPROD_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    typed = WebhookSettings.from_env({})
    by_unit = WebhookSettings.from_env(_as_systemd_starts(ROOT / "recipes" / "deploy" / unit, server))
    assert by_unit.worker_hold == typed.worker_hold == 2
    sync_reads = load_recipe(recipe, env={}).env["COPROD_WEBHOOK_SECRET"]
    assert by_unit.recipes["demo"].secret == typed.recipes["demo"].secret == sync_reads
    text = (ROOT / "recipes" / "deploy" / unit).read_text(encoding="utf-8")
    assert "AssertPathExists=/srv/coprod/.env" in text and "WorkingDirectory=/srv/coprod" in text


def test_what_the_deploy_readme_says_a_command_without_the_password_stops_with_is_what_coprod_says() -> None:
    """The deploy README quoted libpq's `no password supplied`, which coprod now says in its own
    words (coprod/postgres_words.py): the quote must be what a reader sees."""
    from coprod.postgres_words import connect_failure_in_words

    said = connect_failure_in_words(
        'connection to server at "10.0.0.5", port 5432 failed: fe_sendauth: no password supplied'
    )
    assert said is not None
    readme = (ROOT / "recipes" / "deploy" / "README.md").read_text(encoding="utf-8")
    quoted = re.findall(r"stop(?:ping|s)? with `([^`]+)`", " ".join(readme.split()))
    about_passwords = [q for q in quoted if "password" in q]
    assert len(about_passwords) >= 2
    for quote in about_passwords:
        assert quote in said.words, quote
