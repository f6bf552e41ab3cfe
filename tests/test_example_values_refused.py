"""A recipe still holding the example's platform settings sends nothing to the platform.

A newcomer copying ``recipes/google-sheets`` (or the KoboToolbox or CiviCRM recipe) ran
``coprod install`` with the example spreadsheet key still in it: ``validate`` had listed it as the
example's, but install, check, sync and report went to Google anyway and came back with Google's
404, which sent staff looking at permissions and the network. Each now stops before any request
(exit 2, as for any recipe problem), naming the recipe as typed, the setting and its example
value, and what to put there, in ``validate``'s words; the webhook app leaves such a recipe out at
start, saying why, rather than failing on each delivery. The example's baseline and policy
sources are not sent anywhere: the files recipe and the demo, which need no account, still run.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import responses

from coprod.cli import main
from coprod.webhook_app import create_app
from fakes import ROOT
from fakes.sheets import service_account_key

EXAMPLES = {
    "google-sheets": [
        (
            "[sources.sheet] spreadsheet",
            "https://docs.google.com/spreadsheets/d/PASTE-YOUR-SHEET-KEY-HERE/edit",
        ),
    ],
    "kobotoolbox": [
        ("[sources.kobo] hook_endpoint", "https://coprod.example.org/hooks/kobotoolbox/kobotoolbox-example"),
        ("[entities.people] location", "aRegistrationFormUid"),
        ("[entities.sessions] location", "aSessionRecordFormUid"),
        ("[entities.attendance] location", "aSessionRecordFormUid"),
    ],
    "civicrm": [("[sources.crm] endpoint", "https://crm.example.org/civicrm/ajax/api4")],
}
"""What each shipped recipe holds that would be sent to its platform, as validate lists it."""

PLATFORM = {"google-sheets": "Google Sheets", "kobotoolbox": "KoboToolbox", "civicrm": "CiviCRM"}

LOOKALIKES = {
    "google-sheets": [("PASTE-YOUR-SHEET-KEY-HERE", "1PASTEyourSHEETkeyHERE0123456789abcdefghijkl")],
    "kobotoolbox": [
        ("https://coprod.example.org/", "https://coprod.example.org.uk/"),
        ("aRegistrationFormUid", "aRegistrationFormUid7Q"),
        ("aSessionRecordFormUid", "aSessionRecordFormUid9"),
    ],
    "civicrm": [("https://crm.example.org/", "https://crm.example-charity.org.uk/")],
}
"""Real values that only look like the examples': a real domain starting 'example.', a form uid
starting as the example's, a sheet key with the marker's letters but not 'PASTE-YOUR'."""


@pytest.fixture
def copied(tmp_path: Path, quiet_env: Path):
    """Copy a shipped recipe folder unchanged, with a .env giving every variable it needs (in the
    empty working folder of :func:`quiet_env`)."""
    work = quiet_env
    key = tmp_path / "key.json"
    key.write_text(json.dumps(service_account_key()), encoding="utf-8")

    def copy(platform: str, replace: list[tuple[str, str]] = ()) -> Path:
        folder = work / platform
        shutil.copytree(ROOT / "recipes" / platform, folder, ignore=shutil.ignore_patterns("__pycache__"))
        text = (folder / "recipe.toml").read_text(encoding="utf-8")
        for old, new in replace:
            assert old in text, old
            text = text.replace(old, new)
        (folder / "recipe.toml").write_text(text, encoding="utf-8")
        (folder / ".env").write_text(
            f"GOOGLE_APPLICATION_CREDENTIALS={key}\nKOBO_TOKEN=abc\nCOPROD_KOBO_HOOK_SECRET=s3cret-s3cret\n"
            "CIVICRM_API_KEY=abc\nCIVICRM_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
            encoding="utf-8",
        )
        return folder

    return copy


def every_request_answered_404(rsps: responses.RequestsMock) -> None:
    """Any request at all is answered as the platform answers an unknown sheet, form or site."""
    for method in (responses.GET, responses.POST, responses.PATCH, responses.PUT, responses.DELETE):
        rsps.add(method, re.compile(r".*"), status=404, json={"detail": "Not found."})


COMMANDS = [["install"], ["check"], ["sync"], ["sync", "--dry-run"], ["report", "--out", "report.html"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("platform", sorted(EXAMPLES))
def test_a_platform_recipe_copied_unchanged_sends_no_request_and_says_what_to_put_in(
    platform: str, command: list[str], copied, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copied(platform)
    typed = f"{platform}/"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        every_request_answered_404(rsps)
        code = main([command[0], typed, *command[1:]])
        assert len(rsps.calls) == 0, [c.request.url for c in rsps.calls]
    assert code == 2
    seen = capsys.readouterr()
    said = seen.out + seen.err
    assert f"coprod: {platform}: {len(EXAMPLES[platform])} value(s) are still the example's, " in said
    assert f"so nothing was sent to {PLATFORM[platform]}" in said
    for where, value in EXAMPLES[platform]:
        assert f"  - {platform}/recipe.toml: {where} = {value!r}: put in " in said, said
    assert "404" not in said and "not found" not in said.lower()
    assert not (folder / "report.html").exists() and not (folder.parent / "report.html").exists()
    assert not (folder / ".coprod").exists(), "nothing is written to the state store either"


@pytest.mark.parametrize("platform", sorted(EXAMPLES))
def test_typed_as_recipe_toml_in_its_folder_the_recipe_is_named_as_typed_not_as_a_dot(
    platform: str, copied, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe READMEs have people open a terminal in the recipe's folder and type ``coprod
    install recipe.toml``: the line said ``coprod: .: 4 value(s) ...``, a dot where the recipe was."""
    monkeypatch.chdir(copied(platform))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        every_request_answered_404(rsps)
        assert main(["install", "recipe.toml"]) == 2
        assert len(rsps.calls) == 0
    said = capsys.readouterr().out
    assert f"coprod: recipe.toml: {len(EXAMPLES[platform])} value(s) are still the example's, " in said
    assert "coprod: .:" not in said


@pytest.mark.parametrize("platform", sorted(EXAMPLES))
def test_install_says_each_value_as_validate_lists_it(
    platform: str, copied, capsys: pytest.CaptureFixture[str]
) -> None:
    copied(platform)
    assert main(["validate", platform]) == 0
    listed = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  - ") and ": put in " in line
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        every_request_answered_404(rsps)
        assert main(["install", platform]) == 2
        assert len(rsps.calls) == 0
    refused = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  - ") and ": put in " in line
    ]
    assert listed == refused and len(listed) == len(EXAMPLES[platform])


@pytest.mark.parametrize("platform", sorted(EXAMPLES))
def test_several_recipes_each_example_one_is_named_and_none_is_sent_a_request(
    platform: str, copied, capsys: pytest.CaptureFixture[str]
) -> None:
    copied(platform)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        every_request_answered_404(rsps)
        assert main(["sync", ".", "--json"]) == 2
        assert len(rsps.calls) == 0
    (line,) = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert result["exit_code"] == 2 and result["path"] == f"{platform}/recipe.toml"
    assert "still the example's" in result["messages"][0]


@pytest.mark.parametrize("platform", sorted(LOOKALIKES))
def test_a_real_value_that_only_looks_like_the_examples_is_sent(
    platform: str, copied, capsys: pytest.CaptureFixture[str]
) -> None:
    copied(platform, LOOKALIKES[platform])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        every_request_answered_404(rsps)
        main(["install", platform])
        assert len(rsps.calls) > 0  # it went to the platform, which answered as it does
    assert "still the example's" not in capsys.readouterr().out


@pytest.mark.parametrize("recipe", ["files", "demo"])
def test_the_files_recipe_and_the_demo_need_no_account_and_still_run_with_the_examples_sources(
    recipe: str, copied, capsys: pytest.CaptureFixture[str]
) -> None:
    copied(recipe)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        assert main(["check", recipe, "--date", "2026-04-20"]) == 0
        assert main(["sync", recipe, "--date", "2026-04-20"]) == 0
        assert len(rsps.calls) == 0
    assert "still the example's" not in capsys.readouterr().out


def test_the_webhook_app_leaves_out_a_recipe_still_the_examples_saying_why_at_start(
    copied, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    example = copied("kobotoolbox")
    rechecks: list[str] = []
    with caplog.at_level(logging.WARNING, logger="coprod.webhook_app"):
        app = create_app(
            {
                "recipes": [example],
                "state_path": tmp_path / "s.sqlite",
                "worker_thread": False,
                "recheck": lambda name, path: rechecks.append(name) or 0,
            }
        )
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "recipe kobotoolbox-example: 4 value(s) are still the example's" in said
    assert "[entities.people] location = 'aRegistrationFormUid': put in your form's uid" in said
    assert "its webhooks are off" in said
    client = app.test_client()
    answer = client.post(
        "/hooks/kobotoolbox/kobotoolbox-example",
        json={"_id": 1},
        headers={"X-Coprod-Secret": "s3cret-s3cret"},
    )
    assert answer.status_code == 404 and rechecks == []
    app.extensions["coprod_webhook"].shutdown()


def test_the_workers_recheck_of_a_recipe_still_the_examples_sends_nothing_and_says_why(
    copied, caplog: pytest.LogCaptureFixture
) -> None:
    """Deliveries already in the inbox for such a recipe (the app started before this coprod): the
    re-check stops before any request, in the same words, not with the platform's 404."""
    from coprod.webhook_app.settings import live_recheck

    example = copied("civicrm")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, caplog.at_level(logging.INFO):
        every_request_answered_404(rsps)
        assert live_recheck("civicrm-panel", example / "recipe.toml", []) == 2
        assert len(rsps.calls) == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "1 value(s) are still the example's, so nothing was sent to CiviCRM" in said
    assert "[sources.crm] endpoint = 'https://crm.example.org/civicrm/ajax/api4': put in " in said
