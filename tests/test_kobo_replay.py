"""The KoboToolbox connector against what a real kpi answered (``tests/fixtures/platforms/kobotoolbox``).

Each test serves the connector the recorded answers, matched by request (``fakes.replay``), and
checks the requests it sends: a request the recording lacks is named in ``Replay.unmatched``. The
recorded server is ``http://127.0.0.1:8000``; ``<KOBO_TOKEN>`` is the owner's key, ``<KOBO_TOKEN_VIEWER>``
a view-only account's, ``<HOOK_SECRET>`` the REST Service secret (see RECORDED.md).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import responses

from coprod.connectors.base import ConfigError, ConnectorContext, SourceUnavailable
from coprod.connectors.kobotoolbox import NO_STATUS, ON_HOLD, KoboConnector, KoboOptions
from coprod.webhook_app import create_app
from coprod_core.flags import Severity, SubjectKind
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes import ROOT
from fakes.kobo import FakeKobo, flag_for, new
from fakes.replay import Replay, exchanges, recording, replay

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
    assert any(f"can open form {SESSION_FORM} (sessions, attendance)" in line for line in lines)


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


# -- refusals (RECORDED.md 2, 3) -------------------------------------------------------------------

VIEWER = {**ENV, "KOBO_TOKEN": "<KOBO_TOKEN_VIEWER>"}


def test_a_wrong_key_is_named_as_one(mock: Any) -> None:
    r = played(mock, "errors")
    with pytest.raises(SourceUnavailable) as err:
        kobo(shipped_recipe(sessions_only=True), {**ENV, "KOBO_TOKEN": "<WRONG_TOKEN>"}).install()
    assert r.unmatched == [] and paths(r) == [f"GET /api/v2/assets/{SESSION_FORM}/"]
    assert "HTTP 401" in str(err.value) and "KOBO_TOKEN does not hold a current API key" in str(err.value)


def test_a_request_without_the_key_is_explained_as_an_unseen_form_or_a_missing_token(mock: Any) -> None:
    """kpi answers a request without a key 404, as it answers for a form the account cannot see."""
    r = played(mock, "errors")
    c = kobo(shipped_recipe(sessions_only=True))
    del c.session.headers["Authorization"]  # as a proxy dropping the header would
    with pytest.raises(SourceUnavailable) as err:
        c.install()
    assert r.unmatched == [] and [e["response"]["status"] for e in r.served] == [404]
    text = str(err.value)
    assert "HTTP 404" in text and "this account cannot see this form, or the token is missing" in text
    assert "share the form with the account whose API key is in KOBO_TOKEN" in text
    assert "Authorization header" in text


def test_a_form_not_shared_with_the_account_is_explained_the_same_way(mock: Any) -> None:
    r = played(mock, "errors")
    c = kobo(shipped_recipe(sessions_only=True), VIEWER)
    with pytest.raises(SourceUnavailable) as err:  # the listing kpi refused bob before the form was shared
        c._request(
            "GET",
            f"/api/v2/assets/{SESSION_FORM}/data/",
            what="reading submissions",
            asset=SESSION_FORM,
            params={"format": "json", "limit": 1},
        )
    assert r.unmatched == [] and [e["response"]["status"] for e in r.served] == [404]
    assert "this account cannot see this form, or the token is missing" in str(err.value)


def test_install_with_a_view_only_account_names_the_permissions_to_give(mock: Any) -> None:
    """RECORDED.md 3: the asset answers 200 to a viewer; its effective_permissions say what is missing."""
    r = played(mock, "errors")
    with pytest.raises(SourceUnavailable) as err:
        kobo(shipped_recipe(sessions_only=True), VIEWER).install()
    assert r.unmatched == [] and paths(r) == [f"GET /api/v2/assets/{SESSION_FORM}/"]
    text = str(err.value)
    assert f"form {SESSION_FORM}: Edit submissions (to write the flags field)" in text
    assert "Validate submissions (to put records on hold)" in text
    assert "Edit form (to install the REST Service)" in text
    assert "View submissions" not in text and "form's uid" not in text and "not deployed" not in text


def test_a_hooks_list_refused_to_a_viewer_says_installing_needs_edit_rights(mock: Any) -> None:
    """Where a server does not say its permissions, the hooks list's 404 is still explained."""
    r = played(mock, "errors")
    with pytest.raises(SourceUnavailable) as err:
        kobo(shipped_recipe(sessions_only=True), VIEWER)._ensure_hook(SESSION_FORM, "<HOOK_SECRET>")
    assert r.unmatched == [] and paths(r) == [f"GET /api/v2/assets/{SESSION_FORM}/hooks/"]
    text = str(err.value)
    assert "HTTP 404" in text and "needs edit rights on the form (Edit form" in text
    assert "form's uid" not in text


def test_a_viewers_writes_are_refused_with_the_permissions_to_give(mock: Any) -> None:
    r = played(mock, "errors")
    c = kobo(shipped_recipe(sessions_only=True), VIEWER)
    failed = c._bulk_edit(SESSION_FORM, "coprod_flags", "Warning: x", [20])
    assert list(failed) == [20] and "HTTP 403" in failed[20] and "Edit submissions" in failed[20]
    for target in (ON_HOLD, NO_STATUS):
        with pytest.raises(SourceUnavailable, match="HTTP 403.*Validate submissions"):
            c._set_statuses(SESSION_FORM, target, [20])
    assert r.unmatched == [] and [e["response"]["status"] for e in r.served] == [403, 403, 403]


# -- writing (RECORDED.md 4, 5, 6) -----------------------------------------------------------------

VALUE = "Warning: Payment overdue\nNote: No decision recorded"


def results(name: str, index: int) -> list[dict[str, Any]]:
    return exchanges("kobotoolbox", name)[index]["response"]["body"]["results"]


def test_a_sync_reads_on_the_cursor_and_writes_one_bulk_edit_for_records_sharing_their_flags(
    mock: Any,
) -> None:
    """The recorded install-and-sync requests serve the connector: the ``_id``-cursor read (mapped
    with the recipe's ``attendees/hours_attended``), then for sessions 7, 8 and 9, not read in this
    run, the facts read (``$in`` and ``fields``), the deployed form (the flags field is in it) and
    one bulk edit. Putting them on hold is the one request the recording lacks."""
    r = played(mock, "data_listing", "edits_bulk", "asset_detail")
    recipe = shipped_recipe(sessions_only=True)
    c = kobo(recipe)
    pages = list(c.read(Entity.ATTENDANCE, recipe.entities[Entity.ATTENDANCE], cursor="24"))
    rows = [row for page in pages for row in page.rows]
    assert pages[-1].cursor == "29" and [row.ref for row in rows][:2] == [
        "submission 25 attendee 1",
        "submission 25 attendee 2",
    ]
    assert [row.values["attendees/hours_attended"] for row in rows][:2] == ["1", "2"]

    flags = [
        flag_for(SubjectKind.RECORD, f"sessions:{sid}", title, severity)
        for sid in (7, 8, 9)
        for title, severity in (
            ("Payment overdue", Severity.WARNING),
            ("No decision recorded", Severity.INFO),
        )
    ]
    report = c.write_flags([new(f) for f in flags])
    data = f"/api/v2/assets/{SESSION_FORM}/data/"
    assert paths(r) == [
        f"GET {data}",
        f"GET {data}",
        f"GET /api/v2/assets/{SESSION_FORM}/",
        f"PATCH {data}bulk/",
    ]
    assert r.served[3]["response"]["body"]["successes"] == 3
    on_hold = {"payload": {"submission_ids": [7, 8, 9], "validation_status.uid": ON_HOLD}}
    assert r.unmatched == [f"PATCH {KOBO}{data}validation_statuses/ {json.dumps(on_hold, sort_keys=True)}"]
    assert set(report.failed) == {f.fingerprint for f in flags}  # the hold was not set: tried again
    assert all("HTTP 599" in why for why in report.failed.values())


def test_a_bulk_edit_without_a_row_for_a_missing_id_leaves_only_that_id_unsaved(mock: Any) -> None:
    """RECORDED.md 4: no failure row for a missing id; every id missing is a 400 with a JSON list."""
    r = played(mock, "edits_bulk")
    c = kobo(shipped_recipe(sessions_only=True))
    c._remember_facts(SESSION_FORM, [row for row in results("edits_bulk", 5) if row["_id"] == 10])
    assert list(c._bulk_edit(SESSION_FORM, "coprod_flags", VALUE, [10, 99999])) == [99999]
    every_missing = c._bulk_edit(SESSION_FORM, "coprod_flags", VALUE, [99999])
    assert list(every_missing) == [99999] and "(HTTP 400)" in every_missing[99999]
    assert r.unmatched == [] and [e["response"]["status"] for e in r.served] == [200, 400]


def test_install_refuses_a_flags_field_the_deployed_form_lacks(mock: Any) -> None:
    """RECORDED.md 5: kpi stores a field the form lacks (edits_bulk: ``not_in_form`` on 11 is kept),
    so a misspelt flags_field would add a stray field to every flagged record."""
    r = played(mock, "asset_detail")
    with pytest.raises(ConfigError) as err:
        kobo(shipped_recipe(sessions_only=True), flags_field="coprod_flag", hook_endpoint=None).install()
    assert r.unmatched == []
    assert f"form {SESSION_FORM} has no question 'coprod_flag' (flags_field)" in str(err.value)
    assert "stray field" in str(err.value)


def test_one_deleted_submission_does_not_stop_the_statuses_of_the_others(mock: Any) -> None:
    """RECORDED.md 6: one missing id fails a whole bulk status request (400): the ids still there are
    found and sent again alone. The mixed request and the look-up are answered by the fake, which
    answers as kpi did (test_kobo_fake.py); the retry and the lone missing id by the recording."""
    fake = FakeKobo(None, server=KOBO, tokens={"<KOBO_TOKEN>": "alice"})
    fake.assets[SESSION_FORM] = [
        {**row, "_validation_status": {}} for row in results("edits_validation_status", 5)
    ]  # 13 and 14, as recorded
    r = Replay(KOBO, exchanges("kobotoolbox", "edits_validation_status"), fallback=fake.answer).register(mock)
    c = kobo(shipped_recipe(sessions_only=True))
    assert c._set_statuses(SESSION_FORM, ON_HOLD, [13, 14, 99999]) == {99999}
    assert c._set_statuses(SESSION_FORM, ON_HOLD, [99999]) == {99999}
    statuses = f"{KOBO}/api/v2/assets/{SESSION_FORM}/data/validation_statuses/"
    mixed = {"payload": {"submission_ids": [13, 14, 99999], "validation_status.uid": ON_HOLD}}
    assert [u.split(" ")[0] + " " + u.split(" ")[1].split("?")[0] for u in r.unmatched] == [
        f"PATCH {statuses}",
        f"GET {KOBO}/api/v2/assets/{SESSION_FORM}/data/",
        f"GET {KOBO}/api/v2/assets/{SESSION_FORM}/data/",
    ]
    assert json.dumps(mixed, sort_keys=True) in r.unmatched[0]
    assert [
        (e["request"]["body"]["payload"]["submission_ids"], e["response"]["status"]) for e in r.served
    ] == [
        ([13, 14], 200),
        ([99999], 400),
    ]


# -- REST Services (RECORDED.md 7, 8) ------------------------------------------------------------


def hooks_answer(index: int) -> Any:
    """A recorded answer to a hook creation, served to whatever the connector sends instead."""
    recorded = exchanges("kobotoolbox", "hooks")[index]["response"]
    return lambda request: (recorded["status"], recorded["headers"], json.dumps(recorded["body"]))


def test_a_refused_rest_service_quotes_kpi_and_blames_no_private_address(mock: Any) -> None:
    """The only 400 kpi gave a hook was ``{"endpoint": ["Invalid scheme"]}`` (ftp)."""
    r = Replay(KOBO, exchanges("kobotoolbox", "asset_detail", "hooks"), fallback=hooks_answer(8)).register(
        mock
    )
    endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobotoolbox-example"
    with pytest.raises(ConfigError) as err:
        kobo(shipped_recipe(sessions_only=True), hook_endpoint=endpoint).install()
    assert [u.split(" ")[0] for u in r.unmatched] == ["POST"] and endpoint in r.unmatched[0]
    text = str(err.value)
    assert "HTTP 400, endpoint: Invalid scheme" in text and "private" not in text


def test_a_private_hook_address_is_created_as_kpi_did_and_install_warns_it_is_never_sent_to(
    mock: Any,
) -> None:
    """kpi created a REST Service for ``https://10.1.2.3/hook`` (201): it drops such sends later."""
    r = Replay(KOBO, exchanges("kobotoolbox", "asset_detail", "hooks"), fallback=hooks_answer(6)).register(
        mock
    )
    lines = kobo(shipped_recipe(sessions_only=True), hook_endpoint="https://10.1.2.3/hook").install()
    assert [u.split(" ")[0] for u in r.unmatched] == ["POST"]
    assert any("created the REST Service" in line for line in lines)
    assert any("private address" in line and "never sends" in line for line in lines)


def test_the_delivery_kpi_sent_is_accepted_once_and_a_resend_is_recognised(tmp_path: Path) -> None:
    """RECORDED.md 8: kpi sends new submissions only (an edit and a status change sent nothing), with
    the secret header verbatim and the submission as listed; a re-send has the same ``meta/rootUuid``."""
    hooks = recording("kobotoolbox", "hooks")
    assert hooks["received_after_edit_and_validation_change"] == []
    delivery = next(d for d in hooks["received"] if d["path"].startswith("/hooks/kobotoolbox/"))
    recipe = tmp_path / "recipe.toml"  # the shipped recipe filled in: the app leaves out the example's
    text = (ROOT / "recipes" / "kobotoolbox" / "recipe.toml").read_text(encoding="utf-8")
    for example, own in [
        ("aRegistrationFormUid", REGISTRATION_FORM),
        ("aSessionRecordFormUid", SESSION_FORM),
        ("https://coprod.example.org/", "https://coprod.ourcharity.org.uk/"),
    ]:
        text = text.replace(example, own)
    recipe.write_text(text, encoding="utf-8")
    app = create_app(
        {
            "recipes": {"kobotoolbox-example": recipe},
            "state_path": tmp_path / "state.sqlite",
            "env": {"COPROD_KOBO_HOOK_SECRET": "<HOOK_SECRET>"},
            "worker_thread": False,
            "recheck": lambda name, path: 0,
        }
    )
    sent = {k: v for k, v in delivery["headers"].items() if k not in ("Host", "Content-Length", "Connection")}
    client = app.test_client()
    first = client.post(delivery["path"], data=json.dumps(delivery["body"]), headers=sent)
    again = client.post(delivery["path"], data=json.dumps(delivery["body"]), headers=sent)
    assert (first.status_code, again.status_code) == (202, 200)
    wrong = client.post(
        delivery["path"], data=json.dumps(delivery["body"]), headers={**sent, "X-Coprod-Secret": "x"}
    )
    assert wrong.status_code == 401
