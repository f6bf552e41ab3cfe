"""`coprod sync` and `coprod check` given several recipes, or a folder of recipe folders.

A charity (or a council for voluntary service) with dozens of recipes on one server runs them all
from one cron line: `coprod sync /srv/coprod/recipes`, the folder the webhook app serves. The
recipes run one after another in one process; one that is invalid, cannot read its source, is
locked or fails part-way is reported under its name and the others still run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

import coprod.sync
from coprod.cli import main
from coprod.state import StateStore
from coprod.state_sqlite import SQLiteStateStore
from fakes import ROOT, demo_copy, demo_recipes

DEMO = ROOT / "recipes" / "demo"
DATE = ["--date", "2026-11-20"]
COMMAND = "import sys; from coprod.command import main; sys.exit(main())"
"""The ``coprod`` console script as pip writes it."""


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/srv/coprod/recipes in small: three copies of the demo, sharing one state store."""
    return demo_recipes(tmp_path, monkeypatch)


def flags_file(recipe: Path) -> Path:
    return recipe / "data" / "coprod-flags.csv"


def headings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("== ")]


def test_several_recipes_named_are_synced_in_one_run_each_with_its_flags_and_state(recipes, tmp_path, capsys):
    code = main(["sync", str(recipes / "gamma"), str(recipes / "alpha" / "recipe.toml"), *DATE])

    assert code == 0
    out = capsys.readouterr().out
    # in the order named, each under a heading with its name and where it is
    assert headings(out) == [f"== gamma ({recipes / 'gamma'})", f"== alpha ({recipes / 'alpha'})"]
    assert "Synced 'gamma'" in out and "Synced 'alpha'" in out
    assert out.index("Synced 'gamma'") < out.index("== alpha")
    assert flags_file(recipes / "gamma").is_file() and flags_file(recipes / "alpha").is_file()
    assert not flags_file(recipes / "beta").exists()
    store = StateStore.open(tmp_path / "state" / "state.sqlite")
    try:
        known = {name: len(store.known_flags(name)) for name in ("alpha", "beta", "gamma")}
    finally:
        store.close()
    assert known == {"alpha": 27, "beta": 0, "gamma": 27}


def test_a_folder_of_recipe_folders_syncs_every_recipe_in_it_in_the_order_of_their_paths(recipes, capsys):
    # The cron line for the whole server: coprod sync /srv/coprod/recipes.
    assert main(["sync", str(recipes), *DATE]) == 0

    out = capsys.readouterr().out
    assert [h.split()[1] for h in headings(out)] == ["alpha", "beta", "gamma"]
    assert all(flags_file(recipes / name).is_file() for name in ("alpha", "beta", "gamma"))


def test_a_folder_holding_a_single_recipe_still_heads_its_words_with_its_name(tmp_path, monkeypatch, capsys):
    # What is printed follows what was typed, not how many recipes the folder holds today: a script
    # reading `coprod sync FOLDER --json` gets JSON Lines whether it holds one recipe or fifty.
    monkeypatch.chdir(tmp_path)
    demo_copy(tmp_path / "recipes" / "only", "only")

    assert main(["sync", str(tmp_path / "recipes"), "--json", *DATE]) == 0

    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["recipe"] == "only"


def test_sync_runs_the_recipes_the_webhook_app_serves_from_the_same_folder(recipes, capsys):
    # One rule for "the recipes in a folder" (coprod.config.recipe_files): a recipe file directly in
    # the folder (recipes/delta.toml) is served by the app, so the nightly sync reads it too.
    from coprod.webhook_app.settings import load_hooks

    shutil.copytree(DEMO / "data", recipes / "delta-data")
    text = (recipes / "alpha" / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace('name = "alpha"', 'name = "delta"').replace(
        'directory = "data"', 'directory = "delta-data"'
    )
    (recipes / "delta.toml").write_text(text, encoding="utf-8")

    served = list(load_hooks(str(recipes), env={}))
    assert main(["sync", str(recipes), "--json", *DATE]) == 0

    synced = [json.loads(line)["recipe"] for line in capsys.readouterr().out.splitlines()]
    assert synced == served == ["alpha", "beta", "delta", "gamma"]  # by path: delta.toml, gamma/
    assert (recipes / "delta-data" / "coprod-flags.csv").is_file()


def test_a_broken_recipe_between_two_good_ones_is_named_and_the_others_still_run(recipes, capsys):
    (recipes / "beta" / "recipe.toml").write_text('name = "beta"\nnot toml at all\n', encoding="utf-8")

    code = main(["sync", str(recipes), *DATE])

    assert code == 2  # the first (and only) recipe that did not end 0
    out = capsys.readouterr().out
    assert flags_file(recipes / "alpha").is_file() and flags_file(recipes / "gamma").is_file()
    assert headings(out) == [
        f"== alpha ({recipes / 'alpha'})",
        f"== {recipes / 'beta'}",
        f"== gamma ({recipes / 'gamma'})",
    ]
    broken = out[out.index(f"== {recipes / 'beta'}") : out.index("== gamma")]
    assert "The recipe has 1 problem(s):" in broken and "not valid TOML" in broken
    assert out.rstrip().splitlines()[-1] == (
        f"coprod: 1 of 3 recipes ended with a problem (above): {recipes / 'beta'} (exit 2); "
        "the exit code is 2, the first one's"
    )


def test_a_recipe_whose_source_is_missing_does_not_stop_the_next_and_the_first_problem_gives_the_code(
    recipes, capsys
):
    (recipes / "alpha" / "data" / "sessions.csv").unlink()  # exit 3
    (recipes / "gamma" / "recipe.toml").write_text("", encoding="utf-8")  # exit 2

    assert main(["sync", str(recipes), *DATE]) == 3  # alpha's, the first in the order run

    out = capsys.readouterr().out
    assert flags_file(recipes / "beta").is_file()
    assert "sessions.csv" in out
    assert "2 of 3 recipes ended with a problem (above): alpha (exit 3)," in out
    assert "the exit code is 3, the first one's" in out


HOLD_LOCK = """
import sys, time
from pathlib import Path
from coprod.state import StateStore

with StateStore.open(sys.argv[1]).lock(sys.argv[2], timeout=5):
    Path(sys.argv[3]).write_text("held")
    time.sleep(600)
"""
"""Another run (a webhook worker's re-check, a sync started by hand) holding a recipe's lock."""


def test_a_recipe_locked_by_another_run_is_skipped_and_the_others_run(recipes, tmp_path, monkeypatch, capsys):
    # Put off at first, tried again after the others, still locked: reported locked at the end.
    monkeypatch.setattr(coprod.sync, "LOCK_WAIT", 0.3)  # not the 10 seconds a real run waits
    held = tmp_path / "held"
    state = tmp_path / "state" / "state.sqlite"
    state.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(state), "beta", str(held)])
    try:
        deadline = time.monotonic() + 60
        while not held.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the other run never took the lock"
            time.sleep(0.02)
        code = main(["sync", str(recipes), *DATE])
        out = capsys.readouterr().out
        json_code = main(["sync", str(recipes), "--json", *DATE])  # still held
        json_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        holder.kill()
        holder.wait(10)

    assert code == 6
    assert flags_file(recipes / "alpha").is_file() and flags_file(recipes / "gamma").is_file()
    assert not flags_file(recipes / "beta").exists()
    assert headings(out) == [
        f"== alpha ({recipes / 'alpha'})",
        f"== gamma ({recipes / 'gamma'})",
        f"== beta ({recipes / 'beta'}); run after the others: another run held it at first",
    ]
    beta = out[out.index("== beta") :]
    # the message of the last try, which waited as one recipe's sync waits
    assert f"another run of recipe 'beta' is still going (process {holder.pid} " in beta
    assert "this run waited 0.3 seconds" in beta
    assert "1 of 3 recipes ended with a problem (above): beta (exit 6)" in out
    # --json: one line per recipe, the put-off one last, with the last try's exit code and message
    assert json_code == 6
    assert [(line["recipe"], line["exit_code"]) for line in json_lines] == [
        ("alpha", 0),
        ("gamma", 0),
        ("beta", 6),
    ]
    assert "this run waited 0.3 seconds" in json_lines[2]["messages"][0]

    # the next night, with the lock free, beta is synced and the others have nothing to say
    assert main(["sync", str(recipes), *DATE]) == 0
    out = capsys.readouterr().out
    assert headings(out) == [f"== beta ({recipes / 'beta'})"]
    assert flags_file(recipes / "beta").is_file()


def test_with_v_a_recipe_put_off_for_its_lock_is_headed_once_where_it_runs(
    recipes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """-v's log lines bring the heading of the recipe they are about: one logged on beta's first try,
    before it was put off for its lock, would head beta twice (there, and where it runs after the
    others). Nothing logs before a run holds its lock (the store's opening and the connectors' making
    log nothing; psycopg keeps its pool's lines at WARNING): beta is headed once, where it runs."""
    monkeypatch.setattr(coprod.sync, "LOCK_WAIT", 0.3)
    # main's own log handler, as in a real run (pytest's on the root logger would stop basicConfig)
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    (tmp_path / "state").mkdir()
    other = StateStore.open(tmp_path / "state" / "state.sqlite")
    try:
        with other.lock("beta", timeout=5):  # another run's, held till the end: beta ends locked (6)
            code = main(["-v", "sync", str(recipes), *DATE])
    finally:
        other.close()
    said = capsys.readouterr()

    assert code == 6
    assert "INFO coprod.sync: read people: 40 rows" in said.err  # -v's lines were written
    assert headings(said.out) == [
        f"== alpha ({recipes / 'alpha'})",
        f"== gamma ({recipes / 'gamma'})",
        f"== beta ({recipes / 'beta'}); run after the others: another run held it at first",
    ]


class Terminal(io.StringIO):
    """A terminal: stdout and stderr on one screen, as a person watching a sync sees them."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_each_recipes_progress_bar_comes_under_its_heading(
    recipes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar started with the run, on stderr, while the heading waited for the recipe's first line:
    on a terminal, a recipe's bar showed under the recipe before it (the first one's at the top)."""
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)

    assert main(["sync", str(recipes), *DATE]) == 0

    before, *parts = re.split(r"^== ", screen.getvalue(), flags=re.MULTILINE)
    assert "reading " not in before
    assert [part.split(" ", 1)[0] for part in parts] == ["alpha", "beta", "gamma"]
    for part in parts:
        assert "reading people: 40 rows" in part and part.index("reading ") < part.index("Synced '")


def test_a_locked_recipe_does_not_hold_up_the_others_and_is_synced_at_the_end_once_free(
    recipes, tmp_path, monkeypatch, capsys
):
    # The webhook worker re-checking beta holds its lock until gamma, named after beta, is synced.
    # Waiting for beta's lock before gamma (as each recipe did) would wait the whole LOCK_WAIT and
    # give up on beta; trying it once, going on with gamma and coming back to beta at the end syncs
    # all three, in the order alpha, gamma, beta.
    monkeypatch.setattr(coprod.sync, "LOCK_WAIT", 30.0)
    state = tmp_path / "state" / "state.sqlite"
    state.parent.mkdir()
    held = threading.Event()
    let_go: list[bool] = []

    def worker() -> None:
        store = StateStore.open(state)
        try:
            with store.lock("beta", timeout=5):
                held.set()
                deadline = time.monotonic() + 60
                while not flags_file(recipes / "gamma").is_file() and time.monotonic() < deadline:
                    time.sleep(0.02)
                let_go.append(flags_file(recipes / "gamma").is_file())
        finally:
            store.close()

    tried: list[str] = []
    lock = SQLiteStateStore.lock

    def counted(self, recipe, timeout=10.0):  # every time a run asks for a recipe's lock
        tried.append(f"{recipe} {timeout:g}")
        return lock(self, recipe, timeout)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert held.wait(30), "the other run never took the lock"
        monkeypatch.setattr(SQLiteStateStore, "lock", counted)
        code = main(["sync", str(recipes), *DATE])
    finally:
        thread.join(90)

    assert code == 0
    assert let_go == [True]  # held until gamma, named after beta, was synced
    # each tried once without waiting; beta, locked, once more at the end, waiting as a sync does
    assert tried == ["alpha 0", "beta 0", "gamma 0", "beta 30"]
    assert all(flags_file(recipes / name).is_file() for name in ("alpha", "beta", "gamma"))
    out = capsys.readouterr().out
    assert [h.split()[1] for h in headings(out)] == ["alpha", "gamma", "beta"]
    assert "ended with a problem" not in out and "another run" not in out.replace(
        "another run held it at first", ""
    )


def test_nothing_is_printed_when_nothing_changed_in_any_recipe(recipes, capsys):
    assert main(["sync", str(recipes), *DATE]) == 0
    capsys.readouterr()

    assert main(["sync", str(recipes), *DATE]) == 0

    assert capsys.readouterr() == ("", "")  # cron mails nothing


def test_only_the_recipe_with_something_to_say_is_printed_under_its_heading(recipes, capsys):
    assert main(["sync", str(recipes), *DATE]) == 0
    capsys.readouterr()
    attendance = recipes / "beta" / "data" / "attendance.csv"
    lines = attendance.read_text(encoding="utf-8").splitlines(keepends=True)
    attendance.write_text("".join(lines[:-1]), encoding="utf-8")  # one row fewer: a change

    assert main(["sync", str(recipes), *DATE]) == 0

    out, err = capsys.readouterr()
    assert headings(out) == [f"== beta ({recipes / 'beta'})"]
    assert out.startswith(f"== beta ({recipes / 'beta'})\n")  # the heading comes first
    assert "Synced 'beta'" in out and "alpha" not in out + err and "gamma" not in out + err
    assert "read people" not in err  # its summary says the rows read (test_cli)


def test_what_each_recipe_prints_comes_under_its_heading_in_a_cron_mail(recipes, tmp_path):
    # cron mails stdout and stderr as one: progress (stderr) went out at once while the summary
    # (stdout, buffered to a pipe) waited, so one recipe's lines could land under the next's heading.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    # beta stops before its summary, so its progress (stderr) says how far it got (test_cli)
    (recipes / "beta" / "data" / "payments.csv").unlink()
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, "sync", str(recipes), *DATE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stdout
    assert done.stdout.startswith("== alpha (")
    sections = done.stdout.split("\n\n== ")
    assert [s.removeprefix("== ").split(" (")[0] for s in sections[:3]] == ["alpha", "beta", "gamma"]
    for name, section in zip(("alpha", "gamma"), (sections[0], sections[2]), strict=True):
        lines = section.splitlines()
        assert lines[1] == f"Synced '{name}'" and "27 new" in section  # its summary, right under its heading
    lines = sections[1].splitlines()
    assert lines[1:3] == ["read people: 40 rows", "read projects: 2 rows"]  # its progress, under its heading
    assert "file not found" in sections[1] and "Synced" not in sections[1]


def test_json_with_several_recipes_prints_one_object_per_line_with_each_recipes_name_and_path(
    recipes, capsys
):
    (recipes / "beta" / "recipe.toml").write_text("", encoding="utf-8")
    assert main(["sync", str(recipes / "alpha"), "--json", *DATE]) == 0
    one = json.loads(capsys.readouterr().out)  # one recipe: one indented object, as ever
    assert "recipe" not in one

    assert main(["sync", str(recipes), "--json", *DATE]) == 2

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # JSON Lines: nothing else on stdout, no heading, no closing line
    runs = [json.loads(line) for line in lines]
    assert [(r["recipe"], r["path"], r["exit_code"]) for r in runs] == [
        ("alpha", str(recipes / "alpha" / "recipe.toml"), 0),
        (None, str(recipes / "beta" / "recipe.toml"), 2),
        ("gamma", str(recipes / "gamma" / "recipe.toml"), 0),
    ]
    for r in runs:
        assert set(r) == {"recipe", "path", *one}  # the keys of one recipe's JSON, every time
    assert runs[0]["changes"]["still_open"] == 27 and runs[2]["changes"]["new"] == 27
    assert runs[1]["messages"] and "beta" in runs[1]["messages"][0] and runs[1]["flags"] == []


def test_a_recipe_named_twice_runs_once(recipes, capsys):
    # by its folder, by the folder holding it and by its own file: once, where it is first named
    code = main(
        ["sync", str(recipes / "beta"), str(recipes), str(recipes / "beta" / "recipe.toml"), "--json", *DATE]
    )

    assert code == 0
    assert [json.loads(line)["recipe"] for line in capsys.readouterr().out.splitlines()] == [
        "beta",
        "alpha",
        "gamma",
    ]


def test_two_recipes_with_the_same_name_run_the_first_only(recipes, capsys):
    # Same name, same flags and lock in the state store: the second would resolve the first's flags.
    recipe = recipes / "gamma" / "recipe.toml"
    recipe.write_text(recipe.read_text(encoding="utf-8").replace('name = "gamma"', 'name = "alpha"'), "utf-8")

    assert main(["sync", str(recipes), *DATE]) == 2

    out = capsys.readouterr().out
    assert flags_file(recipes / "alpha").is_file() and not flags_file(recipes / "gamma").exists()
    assert (
        f"recipe 'alpha' in {recipes / 'gamma'} has the same name as {recipes / 'alpha'}, named before it"
        in out
    )


def test_allow_shrink_is_refused_with_several_recipes_and_the_shrink_stop_names_the_recipe_alone(
    recipes, capsys
):
    assert main(["sync", str(recipes), *DATE]) == 0
    people = recipes / "gamma" / "data" / "people.csv"
    people.write_text("".join(people.read_text(encoding="utf-8").splitlines(keepends=True)[:15]), "utf-8")
    capsys.readouterr()
    before = flags_file(recipes / "alpha").read_bytes()

    # left on a cron line it would switch the guard off for every recipe, tonight's and new ones
    assert main(["sync", str(recipes), "--allow-shrink", *DATE]) == 2
    out = capsys.readouterr().out
    assert "--allow-shrink is taken with one recipe only" in out and "nothing was run" in out
    assert flags_file(recipes / "alpha").read_bytes() == before

    assert main(["sync", str(recipes), *DATE]) == 5
    out = capsys.readouterr().out
    gamma = out[out.index("== gamma") :]
    assert f"run that recipe alone with `coprod sync {recipes / 'gamma'} --allow-shrink`" in gamma

    assert main(["sync", str(recipes / "gamma"), "--allow-shrink", *DATE]) == 0  # alone, as it says
    assert "people      14 rows read, 14 used" in capsys.readouterr().out


def test_a_fault_inside_coprod_in_one_recipe_ends_that_recipe_only(recipes, monkeypatch, capsys):
    real = coprod.cli.run

    def run(loaded, **kwargs):
        if loaded.recipe.name == "alpha":
            raise KeyError("a bug")
        return real(loaded, **kwargs)

    monkeypatch.setattr(coprod.cli, "run", run)

    assert main(["sync", str(recipes), *DATE]) == 1

    out = capsys.readouterr().out
    assert "something unexpected went wrong (KeyError)" in out[: out.index("== beta")]
    assert "a bug" not in out
    assert flags_file(recipes / "beta").is_file() and flags_file(recipes / "gamma").is_file()


def test_check_takes_several_recipes_and_prints_each_ones_flags_under_its_name(recipes, capsys):
    assert main(["check", str(recipes / "alpha"), str(recipes / "beta"), *DATE]) == 0

    out = capsys.readouterr().out
    alpha, beta = out.split("\n\n== beta")
    assert "Checked 'alpha' (nothing written)" in alpha and "Payment overdue" in alpha
    assert "Checked 'beta' (nothing written)" in beta and "Payment overdue" in beta
    assert not flags_file(recipes / "alpha").exists()


def test_dry_run_full_and_date_apply_to_every_recipe_named(recipes, capsys):
    assert main(["sync", str(recipes), "--dry-run", "--full", "--date", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert out.count("(dry run: nothing written)") == 3
    assert out.count("none (dry run: 27 change(s) would be written)") == 3

    assert main(["sync", str(recipes), "--dry-run", "--json", "--date", "2026-11-21"]) == 0
    runs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["run_date"], r["dry_run"], r["written"]) for r in runs] == [("2026-11-21", True, 0)] * 3
    assert not any(flags_file(recipes / n).exists() for n in ("alpha", "beta", "gamma"))


def test_each_recipes_data_is_freed_before_the_next_recipe_is_read(recipes, monkeypatch, capsys):
    # 50 recipes in one process: the one before must be gone (freed as its last reference goes, not
    # left to the cycle collector) when the next is read, even in the `coprod` command, which keeps
    # one recipe's result to the end of the process rather than free it (coprod.command).
    monkeypatch.setattr(coprod.cli, "KEPT_TO_THE_END", [])
    real = coprod.cli.run
    earlier: list[weakref.ref[object]] = []
    alive_at_start: list[int] = []

    def run(loaded, **kwargs):
        alive_at_start.append(sum(ref() is not None for ref in earlier))
        result = real(loaded, **kwargs)
        earlier.extend(weakref.ref(o) for o in (result, result.dataset, result.flags[0], result.diff))
        return result

    monkeypatch.setattr(coprod.cli, "run", run)

    assert main(["sync", str(recipes), *DATE]) == 0

    assert alive_at_start == [0, 0, 0]
    assert coprod.cli.KEPT_TO_THE_END == []


def test_validate_checks_every_recipe_of_a_folder_naming_each_and_the_broken_one(
    recipes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server's recipes are checked before the cron line that syncs them all: one command."""
    broken = recipes / "beta" / "recipe.toml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("pay_within_days = 30", "pay_within_days = -1")
    )
    assert main(["validate", str(recipes)]) == 2
    out = capsys.readouterr().out
    assert headings(out) == [
        f"== alpha ({recipes / 'alpha'})",
        f"== {recipes / 'beta'}",
        f"== gamma ({recipes / 'gamma'})",
    ]
    assert f"{recipes / 'alpha' / 'recipe.toml'}: recipe 'alpha' is valid" in out
    assert "[policy] pay_within_days" in out
    assert "1 of 3 recipes ended with a problem" in out
    assert main(["validate", str(recipes / "alpha"), str(recipes / "gamma")]) == 0
    assert "recipe 'gamma' is valid" in capsys.readouterr().out
    # one recipe: exactly as before, no heading
    assert main(["validate", str(recipes / "alpha")]) == 0
    assert headings(capsys.readouterr().out) == []


def test_a_recipe_whose_run_lock_was_lost_part_way_is_run_again_after_the_others_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    postgres_url: str,
) -> None:
    """PostgreSQL: the connection holding beta's run lock is cut after its first run wrote its flags
    to the tools. That run saves nothing to the state (LockLost, exit 6) and beta was put off and run
    again at the end without a word, under a heading saying another run had held it. It is run
    again all the same; a warning says what became of the first run and how the second ended."""
    import psycopg

    folder = demo_recipes(tmp_path, monkeypatch, ("alpha", "beta"))
    monkeypatch.setenv("COPROD_STATE", postgres_url)
    real_write_back = coprod.sync.write_back
    cut: list[str] = []

    def write_back_then_cut(recipe, conns, changes, result):  # type: ignore[no-untyped-def]
        failed = real_write_back(recipe, conns, changes, result)
        if recipe.name == "beta" and not cut:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                cut.extend(
                    str(row[0])
                    for row in admin.execute(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                        "WHERE application_name LIKE 'coprod run %' AND datname = current_database()"
                    ).fetchall()
                )
        return failed

    monkeypatch.setattr(coprod.sync, "write_back", write_back_then_cut)
    with caplog.at_level(logging.WARNING, logger="coprod"):
        assert main(["sync", str(folder), *DATE]) == 0
    assert cut == ["True"]
    out = capsys.readouterr().out
    assert headings(out) == [
        f"== alpha ({folder / 'alpha'})",
        f"== beta ({folder / 'beta'}); run again after the others: its first run lost its run lock part-way",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "recipe beta: its first run lost its run lock on the state database part-way (the connection holding "
        "it was cut), after writing its flags to the tools and before saving them in the state, so it saved "
        "nothing there; it was run again after the other recipes, reading, checking and writing again "
        "(writes are matched by fingerprint, so the ones sent twice changed nothing the second time), and "
        "that run finished (exit 0): its flags are written and saved"
    ]
    store = StateStore.open(postgres_url)
    try:
        assert [(r["mode"], r["exit_code"]) for r in store.runs("beta")] == [("sync", 0), ("sync", 6)]
        known = store.known_flags("beta")
    finally:
        store.close()
    assert len(known) == 27
    with flags_file(folder / "beta").open(encoding="utf-8-sig", newline="") as file:  # each flag once
        assert sorted(row["Fingerprint"] for row in csv.DictReader(file)) == sorted(known)


def test_one_recipe_typed_twice_is_one_recipe_and_takes_allow_shrink(recipes, capsys):
    """`coprod sync R --allow-shrink R` (the recipe by its folder and its file) was refused as
    several recipes, and printed JSON Lines with headings as for several."""
    beta = recipes / "beta"
    assert main(["sync", str(beta), "--json", *DATE]) == 0
    capsys.readouterr()
    code = main(["sync", str(beta), "--allow-shrink", str(beta / "recipe.toml"), "--json", *DATE])
    out = capsys.readouterr().out
    assert code == 0
    assert "taken with one recipe only" not in out
    one = json.loads(out)  # one recipe's JSON object, as for `coprod sync R --json`
    assert "recipe" not in one and one["exit_code"] == 0
