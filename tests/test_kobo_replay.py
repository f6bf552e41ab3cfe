"""The KoboToolbox connector against what a real kpi answered (``tests/fixtures/platforms/kobotoolbox``).

Each test serves the connector the recorded answers, matched by request (``fakes.replay``), and
checks the requests it sends: a request the recording lacks is named in ``Replay.unmatched``. The
recorded server is ``http://127.0.0.1:8000``; ``<KOBO_TOKEN>`` is the owner's key, ``<KOBO_TOKEN_VIEWER>``
a view-only account's, ``<HOOK_SECRET>`` the REST Service secret (see RECORDED.md).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import responses

from coprod.connectors.base import ConfigError, ConnectorContext
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes import ROOT
from fakes.replay import Replay, replay

KOBO = "http://127.0.0.1:8000"
SESSION_FORM = "ai5m376DRLqCktdRoqUysb"
"""The session record form, as shipped but with the repeat's question renamed ``hours_attended``."""
REGISTRATION_FORM = "a7sJP7W8XG23s247SxdAQb"
"""A registration form deployed, then edited without redeploying."""
ENDPOINT = "http://127.0.0.1:58080/hooks/kobotoolbox/kobotoolbox-example"
ENV = {"KOBO_TOKEN": "<KOBO_TOKEN>", "COPROD_KOBO_HOOK_SECRET": "<HOOK_SECRET>"}


def shipped_recipe(*, sessions_only: bool = False) -> Recipe:
    """``recipes/kobotoolbox/recipe.toml`` as a user fills it in, pointed at the recorded forms.

    ``sessions_only``: people come from a spreadsheet export, so the connector installs one form.
    """
    data = tomllib.loads((ROOT / "recipes" / "kobotoolbox" / "recipe.toml").read_text(encoding="utf-8"))
    data["sources"]["kobo"]["server"] = KOBO
    data["sources"]["kobo"]["hook_endpoint"] = ENDPOINT
    data["entities"]["people"]["location"] = REGISTRATION_FORM
    data["entities"]["sessions"]["location"] = SESSION_FORM
    data["entities"]["attendance"]["location"] = SESSION_FORM
    if sessions_only:
        data["sources"]["export"] = {"connector": "files"}
        data["entities"]["people"] = {
            "source": "export",
            "location": "people.csv",
            "fields": data["entities"]["people"]["fields"],
        }
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    return recipe


def kobo(recipe: Recipe, env: dict[str, str] | None = None, **options: Any) -> KoboConnector:
    source = {**recipe.sources["kobo"].options, "retries": 0, "backoff_factor": 0, **options}
    context = ConnectorContext(recipe=recipe, recipe_dir=Path("."), env=env or ENV)
    return KoboConnector("kobo", KoboOptions.model_validate(source), context)


@pytest.fixture
def mock() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def played(mock: responses.RequestsMock, *names: str) -> Replay:
    return replay(mock, "kobotoolbox", names, KOBO)


def paths(r: Replay) -> list[str]:
    return [f"{e['request']['method']} {e['request']['path']}" for e in r.served]


# -- install --------------------------------------------------------------------------------------


def test_install_of_the_shipped_recipe_fits_the_real_forms_and_their_deployed_versions(mock: Any) -> None:
    """RECORDED.md 1: the session form as kpi accepts it (``attendees/hours_attended``) fits the recipe,
    and an edited registration form is checked against its deployed version, not the draft."""
    r = played(mock, "asset_detail", "asset_detail_undeployed_edit")
    lines = kobo(shipped_recipe(), hook_endpoint=None).install()
    assert r.unmatched == []
    assert paths(r) == [
        f"GET /api/v2/assets/{REGISTRATION_FORM}/",
        f"GET /api/v2/assets/{REGISTRATION_FORM}/versions/vSLyo7NnNqfuqsubSNTRYo/",
        f"GET /api/v2/assets/{SESSION_FORM}/",
    ]
    assert not any("warning" in line for line in lines), lines
    assert any(f"can open asset {SESSION_FORM} (sessions, attendance)" in line for line in lines)


def test_install_run_twice_creates_the_rest_service_once_on_the_real_server(mock: Any) -> None:
    r = played(mock, "asset_detail", "hooks")
    first = kobo(shipped_recipe(sessions_only=True)).install()
    second = kobo(shipped_recipe(sessions_only=True)).install()
    assert r.unmatched == []
    assert [p for p in paths(r) if "/hooks/" in p] == [
        f"GET /api/v2/assets/{SESSION_FORM}/hooks/",
        f"POST /api/v2/assets/{SESSION_FORM}/hooks/",
        f"GET /api/v2/assets/{SESSION_FORM}/hooks/",
    ]
    assert any("created the REST Service 'coprod kobotoolbox-example'" in line for line in first)
    assert any("already up to date" in line for line in second)
    assert not any("<HOOK_SECRET>" in line or "<KOBO_TOKEN>" in line for line in first + second)


def test_the_old_session_mapping_names_no_question_of_the_form_kpi_accepts(mock: Any) -> None:
    """Why the recipe had to change with the form: ``attendees/hours`` is not in the deployed form."""
    played(mock, "asset_detail")
    recipe = shipped_recipe(sessions_only=True)
    attendance = recipe.entities[Entity.ATTENDANCE]
    old = recipe.model_copy(
        update={
            "entities": {
                **recipe.entities,
                Entity.ATTENDANCE: attendance.model_copy(
                    update={"fields": {**attendance.fields, "hours": "attendees/hours"}}
                ),
            }
        }
    )
    with pytest.raises(ConfigError, match="no question 'attendees/hours'"):
        kobo(old, hook_endpoint=None).install()
