"""The coprod command: two audiences, staff at a terminal and cron."""

import argparse
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import coprod.cli
from coprod.cli import main, typed_command

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    return target


def test_demo_prints_a_summary_and_the_flags_and_writes_the_flags_file(tmp_path, capsys):
    code = main(["demo", "--dir", str(tmp_path / "d")])
    out = capsys.readouterr().out
    assert code == 0
    assert "40 rows read" in out
    assert "'Day service redesign' is called co-production" in out
    assert "evidence says co-production" in out  # the peer support line is fine, and shown as fine
    assert (tmp_path / "d" / "data" / "coprod-flags.csv").is_file()
    assert main(["demo", "--dir", str(tmp_path / "d")]) == 0
    assert "Nothing changed since the last run" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["a-file", "a-file/demo"])
def test_the_demo_into_a_folder_it_cannot_make_says_so_and_exits_2(tmp_path, capsys, where):
    """It ended in "something unexpected went wrong" (FileExistsError, NotADirectoryError: exit 1)."""
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / where
    assert main(["demo", "--dir", str(target)]) == 2
    out = capsys.readouterr().out
    assert f"coprod: could not copy the demo to {target}: " in out and "give a folder" in out
    assert "unexpected" not in out


def test_the_demo_says_how_to_run_it_again_as_this_shell_would_type_it(tmp_path, capsys, monkeypatch):
    # After `make demo` (or with a virtualenv's bin/ not on PATH) "run `coprod demo` again" met
    # "command not found": the demo names the command it was started by unless the shell finds it.
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    started = bindir / "coprod"
    started.write_text("#!/bin/sh\n", encoding="utf-8")
    started.chmod(0o755)
    monkeypatch.setattr("sys.argv", [str(started), "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))

    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    assert f"change them and run `{started} demo` again." in capsys.readouterr().out

    monkeypatch.setenv("PATH", str(bindir))
    assert main(["demo"]) == 0
    assert "change them and run `coprod demo` again." in capsys.readouterr().out


def test_the_demo_in_a_folder_of_its_own_says_to_run_it_again_with_that_folder(tmp_path, capsys, monkeypatch):
    # `coprod demo --dir "my demo"` ended "change them and run `coprod demo` again", which makes and
    # runs ./coprod-demo: the data staff had just changed was never read.
    monkeypatch.setenv("PATH", str(Path(sys.argv[0]).resolve().parent))
    monkeypatch.setattr("sys.argv", [shutil.which("coprod") or "coprod", "demo"])
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--dir", "my demo"]) == 0
    out = capsys.readouterr().out
    (again,) = re.findall(r"change them and run `([^`]+)` again", out)
    assert again.endswith("demo --dir 'my demo'")

    argv = shlex.split(again)[1:]
    assert main(argv) == 0
    assert "Nothing changed since the last run" in capsys.readouterr().out
    assert not (tmp_path / "coprod-demo").exists()


def test_the_demo_with_rows_cut_from_its_data_stops_and_runs_with_the_allow_shrink_it_names(tmp_path, capsys):
    # "The demo's recipe and data are in coprod-demo/: change them and run coprod demo again." Half
    # the people cut, it stopped with "run again with --allow-shrink", which coprod demo refused; in
    # a folder of its own, it now names the whole command, --dir and all.
    folder = tmp_path / "demo"
    assert main(["demo", "--dir", str(folder)]) == 0
    people = folder / "data" / "people.csv"
    people.write_text(
        "\n".join(people.read_text(encoding="utf-8").splitlines()[:15]) + "\n", encoding="utf-8"
    )
    capsys.readouterr()

    assert main(["demo", "--dir", str(folder)]) == 5
    # named with its folder: `coprod demo --allow-shrink` alone would run ./coprod-demo instead
    said = capsys.readouterr().out
    assert (
        f"if the rows really were removed, run `{typed_command()} demo --dir {shlex.quote(str(folder))} --allow-shrink`."
        in said
    )

    assert main(["demo", "--dir", str(folder), "--allow-shrink"]) == 0
    assert "people      14 rows read, 14 used" in capsys.readouterr().out


def test_a_source_of_one_row_reads_1_row_not_1_rows(demo, capsys) -> None:
    # The summary and the progress lines said "1 rows read" and "read payments: 1 rows" of a source
    # with a single row (the walkthrough met it on a new Google Sheet's one payment).
    payments = demo / "data" / "payments.csv"
    payments.write_text(
        "\n".join(payments.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8"
    )
    assert main(["check", str(demo), "--date", "2026-11-20"]) == 0
    said = capsys.readouterr()
    assert "  payments    1 row read, 1 used" in said.out
    assert "  people      40 rows read, 40 used" in said.out
    assert "1 rows" not in said.out + said.err


def test_verbose_is_taken_before_or_after_the_command_as_messages_say_run_again_with_v(demo) -> None:
    # "Run again with -v" was typed at the end, and argparse answered "unrecognized arguments: -v".
    from coprod.cli import parser

    for argv in (["-v", "sync", "R"], ["sync", "R", "-v"], ["sync", "--verbose", "R"], ["-v", "rules"]):
        assert parser().parse_args(argv).verbose is True, argv
    assert parser().parse_args(["sync", "R"]).verbose is False
    assert main(["sync", str(demo), "--date", "2026-11-20", "-v"]) == 0


def test_sync_is_quiet_under_cron_when_nothing_changed(demo, capsys):
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 0
    first = capsys.readouterr()
    assert "Synced 'demo'" in first.out
    assert main(["sync", str(demo), "--date", "2026-11-20"]) == 0
    second = capsys.readouterr()
    assert second.out == "" and second.err == ""


def test_sync_json_gives_counts_and_flags(demo, capsys):
    assert main(["sync", str(demo), "--json", "--dry-run", "--date", "2026-11-20"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dry_run"] is True
    assert payload["changes"]["new"] == len(payload["flags"]) == 27
    assert {"check_id", "severity", "subject", "fingerprint", "message", "evidence"} <= set(
        payload["flags"][0]
    )
    assert payload["written"] == 0 and payload["exit_code"] == 0
    # Evidence is printed as it is written to the tools: numbers never in exponent form.
    assert "E+" not in json.dumps([f["evidence"] for f in payload["flags"]])


def test_validate_lists_every_problem_and_exits_2(demo, capsys):
    text = (demo / "recipe.toml").read_text().replace("pay_within_days = 30", "pay_within_days = -1")
    text = text.replace('[entities.people]\nsource = "exports"', '[entities.people]\nsource = "exportz"')
    (demo / "recipe.toml").write_text(text)
    assert main(["validate", str(demo)]) == 2
    out = capsys.readouterr().out
    assert "[policy] pay_within_days" in out
    assert "source 'exportz' is not one of [sources]" in out


def test_validate_accepts_the_demo(capsys):
    assert main(["validate", str(DEMO)]) == 0
    assert "is valid" in capsys.readouterr().out


def test_check_prints_flags_and_writes_nothing(demo, capsys):
    assert main(["check", str(demo), "--date", "2026-11-20"]) == 0
    out = capsys.readouterr().out
    assert "nothing written" in out and "Payment overdue" in out
    assert not (demo / "data" / "coprod-flags.csv").exists()


COMMAND = "import sys; from coprod.command import main; sys.exit(main())"
"""The ``coprod`` console script as pip writes it (``coprod = "coprod.command:main"``)."""


def test_the_coprod_command_ending_without_freeing_prints_all_that_main_prints(demo, capsys, tmp_path):
    # The command ends with os._exit, keeping the run's result: what it printed to a file (buffered,
    # as for a user) must all be there, as main prints it, with main's exit code.
    assert main(["check", str(demo), "--date", "2026-11-20"]) == 0
    printed = capsys.readouterr().out
    assert coprod.cli.KEPT_TO_THE_END is None  # main called by a program keeps nothing
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with (tmp_path / "out.txt").open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-c", COMMAND, "check", str(demo), "--date", "2026-11-20"],
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    assert done.returncode == 0
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == printed
    missing = subprocess.run(
        [sys.executable, "-c", COMMAND, "check", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such recipe file" in missing.stdout


def test_an_unexpected_error_gives_a_sentence_not_a_traceback(demo, capsys, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("internal detail with a name: Sam Carter")

    monkeypatch.setattr("coprod.cli.run", boom)
    assert main(["sync", str(demo)]) == 1
    out = capsys.readouterr()
    assert "something unexpected went wrong (RuntimeError)" in out.out
    assert "Traceback" not in out.out + out.err and "Sam Carter" not in out.out + out.err


def test_with_verbose_an_unexpected_error_shows_where_but_not_its_message(demo, capsys, monkeypatch, caplog):
    def boom(*a, **k):
        name = "Sam" + " Carter"  # data, not code: the traceback's source lines show code only
        raise RuntimeError(name)

    monkeypatch.setattr("coprod.cli.run", boom)
    with caplog.at_level("INFO", logger="coprod"):
        assert main(["-v", "sync", str(demo)]) == 1
    assert "unexpected RuntimeError at:" in caplog.text and "cli.py" in caplog.text
    assert "Sam Carter" not in caplog.text + capsys.readouterr().out


def test_progress_is_a_bar_on_a_terminal_and_held_plain_lines_otherwise(capsys):
    from rich.progress import Progress

    from coprod.cli import Output, _Bar, _progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Tty()
    bar, on_rows = _progress(Output(out, err))
    assert isinstance(bar, _Bar) and isinstance(bar.bar, Progress)
    with bar:
        assert err.getvalue() == ""  # shown from the first rows, after the heading (test_sync_many)
        on_rows("people", 40)
        bar.bar.refresh()
    assert "reading people: 40 rows" in err.getvalue()
    assert out.getvalue() == ""  # stdout holds results only, so `coprod check > flags.txt` gets no spinner
    plain_out = Output(io.StringIO(), io.StringIO())
    ctx, on_rows = _progress(plain_out)
    with ctx:
        on_rows("people", 10)
        on_rows("people", 40)
        on_rows("payments", 1)
    assert plain_out.buffered == ["read people: 40 rows", "read payments: 1 row"]


def test_missing_recipe_exits_2(tmp_path, capsys):
    assert main(["sync", str(tmp_path / "nope.toml")]) == 2
    assert "no such recipe file" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["validate", "install", "check", "sync", "status"])
def test_recipe_toml_typed_above_the_recipes_folder_names_it_and_not_one_recipe_at_a_time(
    command, tmp_path, capsys, monkeypatch
):
    """The recipe READMEs say: open a terminal in the recipe's folder, then `coprod validate
    recipe.toml`. Typed from the folder above the recipe's, it said "this command takes one recipe
    at a time" (validate and the others take several) and, in the same breath, that they take the
    folder."""
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main([command, "recipe.toml"]) == 2
    said = capsys.readouterr().out
    assert f"recipe.toml: no such recipe file in {elsewhere}, the folder coprod was run from: " in said

    (elsewhere / "our-project").mkdir()
    (elsewhere / "our-project" / "recipe.toml").write_text('name = "x"\n', encoding="utf-8")
    assert main([command, "recipe.toml"]) == 2
    said = capsys.readouterr().out
    assert (
        f"recipe.toml: no such recipe file in {elsewhere}, the folder coprod was run from, which holds "
        "recipe folders (our-project): give one of them in place of recipe.toml (our-project), or go to "
        "it first (cd our-project)"
    ) in said
    assert "one recipe at a time" not in said


def test_a_folder_of_recipe_folders_loaded_as_one_recipe_is_refused_naming_the_recipes_in_it(tmp_path):
    # `coprod install /srv/coprod/recipes` (the folder COPROD_RECIPES names for the app) said only
    # "recipes/recipe.toml: no such recipe file", as if the folder were empty. Every command taking
    # recipes now takes such a folder (tests/test_sync_many.py, test_install_many.py,
    # test_report_many.py); what loads one recipe (`coprod migrate RECIPE`, a program) still says so.
    from coprod.config import RecipeInvalid, load_recipe

    for name in ("youth-panel", "civicrm-panel"):
        (tmp_path / "recipes" / name).mkdir(parents=True)
        (tmp_path / "recipes" / name / "recipe.toml").write_text('name = "x"\n', encoding="utf-8")
    (tmp_path / "recipes" / "small-group.toml").write_text('name = "x"\n', encoding="utf-8")

    with pytest.raises(RecipeInvalid) as refused:
        load_recipe(tmp_path / "recipes")

    said = str(refused.value)
    assert "this folder holds recipes (civicrm-panel, small-group.toml, youth-panel)" in said
    assert (
        f"for example {tmp_path / 'recipes' / 'civicrm-panel'} (validate, check, sync, install and report "
        "take the folder" in said
    )


def test_an_empty_folder_given_to_sync_is_said_as_a_recipe_folder_without_its_recipe(tmp_path, capsys):
    (tmp_path / "recipes").mkdir()

    assert main(["sync", str(tmp_path / "recipes")]) == 2

    assert capsys.readouterr().out == (
        f"The recipe has 1 problem(s):\n  - {tmp_path / 'recipes' / 'recipe.toml'}: no such recipe file: check "
        "the path (a recipe's folder, or its .toml file)\n"
    )


def test_a_recipe_typed_in_another_folder_than_its_own_says_where_coprod_looked_and_what_to_do(
    tmp_path, capsys, monkeypatch
):
    # "recipe.toml: no such recipe file", typed in a new terminal without `cd` to the recipe's folder
    # (the files recipe's README types every command there), said neither where nor what to do.
    monkeypatch.chdir(tmp_path)

    assert main(["check", "recipe.toml"]) == 2

    assert capsys.readouterr().out == (
        f"The recipe has 1 problem(s):\n  - recipe.toml: no such recipe file in {tmp_path}, the folder coprod "
        "was run from: go to the recipe's folder first (cd), or give the recipe's whole path\n"
    )


def test_messages_are_wrapped_between_words_at_100_columns_keeping_hyphenated_words_whole():
    from coprod.cli import wrap

    words = "A co-production project paid £1,250.00 to Person ID 12 for the co-design workshop. " * 6
    lines = wrap(words).split("\n")
    assert len(lines) > 3
    assert all(len(line) <= 100 and line.startswith("     ") and not line.endswith(" ") for line in lines)
    assert " ".join(line.strip() for line in lines) == words.strip()  # nothing lost, nothing split
    long_word = "x" * 120
    assert wrap(long_word) == "     " + "x" * 95 + "\n     " + "x" * 25  # a word longer than a line is cut


@given(
    st.lists(
        st.text(alphabet="ab-£.,é", min_size=1, max_size=30) | st.sampled_from(["x" * 95, "co-production"]),
        max_size=40,
    ),
    st.sampled_from([" ", "  ", "\n", " \t"]),
)
def test_messages_are_filled_as_textwrap_fills_words_that_fit_on_a_line(words: list[str], gap: str) -> None:
    import textwrap

    from coprod.cli import wrap

    text = gap.join(words)
    expected = textwrap.fill(
        " ".join(text.split()),
        width=100,
        initial_indent="     ",
        subsequent_indent="     ",
        break_on_hyphens=False,
        break_long_words=False,
    )
    assert wrap(text) == expected


def test_printed_flags_and_messages_show_control_characters_instead_of_sending_them_to_the_terminal():
    """An id holding an escape sequence (one that clears the screen), a tab or a right-to-left
    override is printed visibly: a terminal never receives the character itself."""
    from coprod.cli import Output, print_flags
    from coprod_core.flags import Severity, Subject, SubjectKind, make_flag

    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PERSON, id="\x1b[2J7\t\u202e"),
        title="Payment due",
        message="Person ID \x1b[2J7\t\u202e is owed £75.00.",
        evidence={},
    )
    out = io.StringIO()
    output = Output(out, io.StringIO())
    print_flags([flag], output)
    output.line("coprod: warning: tab 'Flags' row 3: status 'done\x1b[0m' is not one coprod understands")
    printed = out.getvalue()
    assert "(person <U+001B>[2J7\\t<U+202E>)" in printed
    assert "Person ID <U+001B>[2J7\\t<U+202E> is owed £75.00." in printed
    assert "status 'done<U+001B>[0m'" in printed
    assert all(c == "\n" or c.isprintable() for c in printed), repr(printed)


def _commands(parser: argparse.ArgumentParser, prefix: str = "coprod") -> dict[str, argparse.ArgumentParser]:
    """Every command and sub-command ``coprod --help`` leads to, by how it is typed."""
    found = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, f"{prefix} {name}")
    return found


def test_every_option_and_argument_of_every_command_says_in_its_help_what_it_is() -> None:
    # Followed from the installed wheel, `coprod check --help` showed `recipe` and `--json` with no
    # word about either, and `coprod serve --help` a --host and a --port with no default: a data
    # officer has only --help and the README to go on, and the README says RECIPE may be a folder.
    bare = [
        f"{command}: {'/'.join(action.option_strings) or action.dest}"
        for command, p in _commands(coprod.cli.parser()).items()
        for action in p._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction) and action.help is None
    ]
    assert bare == []
    check = coprod.cli.parser().parse_args(["check", "x"])
    assert check.recipe == ["x"]  # or several (tests/test_sync_many.py)
    texts = {c: " ".join(p.format_help().split()) for c, p in _commands(coprod.cli.parser()).items()}
    assert "recipe.toml file, the folder holding one, or a folder of recipe folders" in texts["coprod check"]
    assert "The options apply to every recipe named" in texts["coprod sync"]
    assert "--allow-shrink is taken with one recipe only" in texts["coprod sync"]
    assert "default 127.0.0.1" in texts["coprod serve"] and "default 8080" in texts["coprod serve"]


def test_every_command_takes_v_at_the_end_as_the_messages_ask() -> None:
    # "run the same command again with -v" is typed at the end as often as after `coprod`:
    # `coprod state copy FROM TO -v` answered "unrecognized arguments: -v".
    commands = _commands(coprod.cli.parser())
    leaves = {
        typed: p
        for typed, p in commands.items()
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    }
    assert "coprod state copy" in leaves
    for typed, p in leaves.items():
        positionals = [a for a in p._actions if not a.option_strings and a.nargs in (None, "+")]
        argv = [*typed.split()[1:], *("x" for _ in positionals), "-v"]
        assert coprod.cli.parser().parse_args(argv).verbose is True, typed


@pytest.mark.parametrize(
    ("version", "shown"),
    [
        ("0.1.1.dev412+g5b2869ccd", "coprod 0.1.1.dev412+g5b2869ccd\n"),
        ("0.1.1.dev1796638679+g3c85c50", "coprod 0.1.1.dev1796638679+g3c85c50\n"),  # from a ZIP
        (
            "0.1.0+unknown",
            "coprod 0.1.0+unknown (built without git history: upgrade checks cannot tell versions apart; "
            "install the next coprod with pip install --force-reinstall (README: Upgrading))\n",
        ),
        (
            "0.1.0",
            "coprod 0.1.0 (built without git history: upgrade checks cannot tell versions apart; "
            "install the next coprod with pip install --force-reinstall (README: Upgrading))\n",
        ),
        ("unknown (not installed)", "coprod unknown (not installed)\n"),
    ],
)
def test_coprod_version_says_when_the_version_cannot_tell_one_build_from_another(
    version: str, shown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version that names no commit is the same for every build made without git history, so
    README's upgrade check ("coprod --version shows the new commit") cannot work with it: it says so,
    and what to do. A source folder never installed is not "built" at all, and says only that."""
    monkeypatch.setattr("coprod.version.installed_version", lambda: version)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == shown


@pytest.mark.parametrize("command", ["validate", "check", "sync", "install", "report"])
def test_a_command_without_its_recipe_says_what_to_type(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said argparse's "the following arguments are required: recipe" (newcomer walkthrough)."""
    with pytest.raises(SystemExit) as exited:
        main([command])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"coprod {command}: error: say which recipe: coprod {command} recipe.toml (a recipe.toml file, the "
        "folder holding one, or a folder of recipe folders)"
    )


# A value each option taking one accepts, by its name (an option with choices takes its last).
OPTION_VALUES = {"--date": "2026-11-20", "--max-age": "2d", "--max-wait": "90m", "--port": "8081"}


@pytest.mark.parametrize(
    "typed",
    sorted(
        typed
        for typed, p in _commands(coprod.cli.parser()).items()
        if any(not a.option_strings and a.nargs in ("+", "*", "?", None) for a in p._actions)
        and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    ),
)
def test_every_option_may_be_typed_among_or_after_the_recipes_meaning_the_same(typed: str) -> None:
    """`coprod sync a --dry-run b` answered "unrecognized arguments: b" (argparse takes the recipes
    up to the first option): people type options anywhere (newcomer walkthrough). Each option of
    each command, typed between its arguments, after them or before them, parses the same."""
    p = _commands(coprod.cli.parser())[typed]
    words = typed.split()[1:]
    positionals = [a for a in p._actions if not a.option_strings]
    args = [f"x{i}" for i, a in enumerate(positionals)] + (
        ["y"] if positionals[-1].nargs in ("+", "*") else []
    )
    for action in p._actions:
        if not action.option_strings or action.dest == "help":
            continue
        option = action.option_strings[-1]
        value = (
            []
            if action.nargs == 0
            else [action.choices and list(action.choices)[-1] or OPTION_VALUES.get(option, "v")]
        )
        before = coprod.cli.parser().parse_args([*words, option, *value, *args])
        among = coprod.cli.parser().parse_args([*words, args[0], option, *value, *args[1:]])
        after = coprod.cli.parser().parse_args([*words, *args, option, *value])
        assert vars(among) == vars(after) == vars(before), f"{typed} {option}"


def test_check_with_an_option_between_two_recipes_checks_both(demo: Path, tmp_path: Path, capsys) -> None:
    """The whole command, as typed: two recipes with --json between them give a line each."""
    other = tmp_path / "other"
    shutil.copytree(demo, other)
    toml = other / "recipe.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('name = "demo"', 'name = "other"', 1), encoding="utf-8"
    )
    assert main(["check", str(demo), "--json", str(other), "--date", "2026-11-20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["path"] for line in lines] == [
        str(demo / "recipe.toml"),
        str(other / "recipe.toml"),
    ]
    assert {json.loads(line)["run_date"] for line in lines} == {"2026-11-20"}


@pytest.mark.parametrize("command", ["check", "sync"])
def test_check_and_sync_print_the_rows_read_once_in_their_summary_not_again_on_stderr(
    command: str, demo: Path, capsys
) -> None:
    """Off a terminal, check printed "read people: 40 rows" (and each entity's) to stderr on every run,
    above its summary's "people 40 rows read, 40 used"; sync printed them only with news (newcomer
    walkthrough). Both print the summary alone, as the recipes' READMEs show it; a run that stops
    before its summary says which rows it had read (how far it got), check and sync alike."""
    assert main([command, str(demo), "--date", "2026-11-20"]) == 0
    said = capsys.readouterr()
    assert "  people      40 rows read, 40 used" in said.out
    assert said.err == ""
    (demo / "data" / "payments.csv").unlink()  # read last: the run stops after reading the rest
    assert main([command, str(demo), "--date", "2026-11-20"]) == 3
    said = capsys.readouterr()
    assert "rows read" not in said.out and "file not found" in said.out
    assert said.err.splitlines() == [
        "read people: 40 rows",
        "read projects: 2 rows",
        "read sessions: 15 rows",
        "read attendance: 127 rows",
    ]
