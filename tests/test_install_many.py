"""`coprod install` given several recipes, or a folder of recipe folders.

A server with dozens of recipes (a council for voluntary service, a national charity) keeps them
in one folder, /srv/coprod/recipes. `coprod install /srv/coprod/recipes` prepares every recipe's
tools under the same rules as `coprod sync FOLDER`: each recipe under a heading naming it, one that
fails named and the next still installed, the first failing recipe's exit code. Install looks
before it writes, so running it again over the folder once a recipe is added installs that one and
only reads for the others: the request counts below prove it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import responses
from openpyxl import load_workbook

from coprod.cli import main
from fakes import ROOT
from fakes.kobo import TOKEN, FakeKobo

KOBO = ROOT / "recipes" / "kobotoolbox"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
HOOKS = "https://coprod.ourcharity.org.uk"
"""The webhook app's address (the example's coprod.example.org stops install before any request)."""


def survey_rows(xlsx: Path) -> list[dict[str, Any]]:
    """The form's survey rows as KPI's ``content.survey`` holds them."""
    ws = load_workbook(xlsx, read_only=True)["survey"]
    rows = list(ws.iter_rows(values_only=True))
    return [{k: v for k, v in zip(rows[0], r, strict=False) if v is not None} for r in rows[1:]]


REGISTRATION = {"survey": survey_rows(KOBO / "registration.xlsx")}
SESSIONS = {"survey": survey_rows(KOBO / "session_record.xlsx")}


def assets(name: str) -> tuple[str, str]:
    """The registration and session forms of the recipe ``name`` (a uid of word characters)."""
    word = name.replace("-", "")
    return f"a{word}Registration", f"a{word}Sessions"


def kobo_recipe(folder: Path, name: str, fake: FakeKobo) -> Path:
    """The KoboToolbox recipe as its README has staff fill it in, named ``name``, with its two
    forms deployed on the fake server and a REST Service address of its own."""
    registration, sessions = assets(name)
    text = (KOBO / "recipe.toml").read_text(encoding="utf-8")
    text = text.replace('name = "kobotoolbox-example"', f'name = "{name}"')
    text = text.replace("aRegistrationFormUid", registration).replace("aSessionRecordFormUid", sessions)
    text = text.replace(
        "https://coprod.example.org/hooks/kobotoolbox/kobotoolbox-example",
        f"{HOOKS}/hooks/kobotoolbox/{name}",
    )
    (folder / name).mkdir(parents=True)
    (folder / name / "recipe.toml").write_text(text, encoding="utf-8")
    fake.content[registration] = REGISTRATION
    fake.content[sessions] = SESSIONS
    return folder / name


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)  # no .env of the machine's in the way
    monkeypatch.setenv("KOBO_TOKEN", TOKEN)
    monkeypatch.setenv("COPROD_KOBO_HOOK_SECRET", "a-long-random-secret-for-the-test")
    monkeypatch.setenv("COPROD_STATE", str(tmp_path / "state" / "state.sqlite"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeKobo(rsps)


def writes(fake: FakeKobo) -> list[str]:
    """Every write the fake server received, as 'METHOD asset-path'."""
    return [
        f"{call.request.method} {call.request.url.split('/api/v2/assets/')[1]}"
        for call in fake.rsps.calls  # type: ignore[union-attr]
        if call.request.method in WRITES
    ]


def headings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("== ")]


def test_install_over_a_folder_installs_every_recipe_each_under_its_name(server, tmp_path, capsys):
    recipes = tmp_path / "recipes"
    for name in ("riverside", "meadow"):
        kobo_recipe(recipes, name, server)

    assert main(["install", str(recipes)]) == 0

    out = capsys.readouterr().out
    assert headings(out) == [f"== meadow ({recipes / 'meadow'})", f"== riverside ({recipes / 'riverside'})"]
    meadow = out[out.index("== meadow") : out.index("== riverside")]
    assert "created the REST Service" in meadow and "riverside" not in meadow
    # one REST Service per form, each pointing at its own recipe's address
    assert sorted(writes(server)) == [
        f"POST {asset}/hooks/" for name in ("meadow", "riverside") for asset in sorted(assets(name))
    ]
    for name in ("meadow", "riverside"):
        for asset in assets(name):
            (hook,) = server.hooks[asset]
            assert hook["endpoint"] == f"{HOOKS}/hooks/kobotoolbox/{name}"


def test_install_again_over_the_folder_writes_only_for_a_recipe_added_since(server, tmp_path, capsys):
    # The data officer's routine: a recipe is copied into /srv/coprod/recipes, and the same
    # `coprod install /srv/coprod/recipes` as last time is run again.
    recipes = tmp_path / "recipes"
    for name in ("riverside", "meadow"):
        kobo_recipe(recipes, name, server)
    assert main(["install", str(recipes)]) == 0
    assert len(writes(server)) == 4
    server.rsps.calls.reset()

    assert main(["install", str(recipes)]) == 0  # nothing added: every request a read
    assert writes(server) == []
    assert len(server.rsps.calls) > 0  # it did look
    capsys.readouterr()

    kobo_recipe(recipes, "hillside", server)
    assert main(["install", str(recipes)]) == 0

    assert sorted(writes(server)) == [f"POST {asset}/hooks/" for asset in sorted(assets("hillside"))]
    assert all(len(server.hooks[asset]) == 1 for name in ("riverside", "meadow") for asset in assets(name))
    out = capsys.readouterr().out
    assert [h.split()[1] for h in headings(out)] == ["hillside", "meadow", "riverside"]


def test_a_broken_recipe_is_named_the_next_still_installed_and_the_first_problem_gives_the_code(
    server, tmp_path, capsys
):
    recipes = tmp_path / "recipes"
    kobo_recipe(recipes, "alpha", server)
    gamma = kobo_recipe(recipes, "gamma", server)
    (recipes / "beta").mkdir()
    (recipes / "beta" / "recipe.toml").write_text("name = 'beta'\n[sources\n", encoding="utf-8")
    # gamma's token is not one the server knows: its forms cannot be opened (exit 3)
    text = (gamma / "recipe.toml").read_text(encoding="utf-8")
    (gamma / "recipe.toml").write_text(text.replace('"KOBO_TOKEN"', '"GAMMA_TOKEN"'), encoding="utf-8")
    (gamma / ".env").write_text("GAMMA_TOKEN=not-a-token-the-server-knows\n", encoding="utf-8")

    code = main(["install", str(recipes)])

    out = capsys.readouterr().out
    assert code == 2  # beta's, the first recipe in the order run that did not end 0
    assert headings(out) == [
        f"== alpha ({recipes / 'alpha'})",
        f"== {recipes / 'beta'}",  # could not be read for its name
        f"== gamma ({recipes / 'gamma'})",
    ]
    beta = out[out.index("== " + str(recipes / "beta")) : out.index("== gamma")]
    assert "not valid TOML" in beta
    assert out.splitlines()[-1] == (
        "coprod: 2 of 3 recipes ended with a problem (above): "
        f"{recipes / 'beta'} (exit 2), gamma (exit 3); the exit code is 2, the first one's"
    )
    # alpha was installed; gamma's forms were never written to
    assert sorted(writes(server)) == [f"POST {asset}/hooks/" for asset in sorted(assets("alpha"))]


def test_install_takes_several_recipes_named_in_the_order_named(server, tmp_path, capsys):
    recipes = tmp_path / "recipes"
    for name in ("riverside", "meadow"):
        kobo_recipe(recipes, name, server)

    assert main(["install", str(recipes / "riverside"), str(recipes / "meadow" / "recipe.toml")]) == 0

    assert [h.split()[1] for h in headings(capsys.readouterr().out)] == ["riverside", "meadow"]
    posts = [w.split()[1].split("/")[0] for w in writes(server)]
    assert posts[:2] == list(assets("riverside")) and sorted(posts[2:]) == sorted(assets("meadow"))


def test_install_of_one_recipe_prints_no_heading(server, tmp_path, capsys):
    recipe = kobo_recipe(tmp_path / "recipes", "riverside", server)

    assert main(["install", str(recipe)]) == 0

    out = capsys.readouterr().out
    assert headings(out) == [] and "created the REST Service" in out
    assert len(writes(server)) == 2
