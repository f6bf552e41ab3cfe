"""The webhook worker's re-check: the dataset held in memory takes what a delivery changed.

A KoboToolbox delivery is the whole submission (nothing is read); a CiviCRM notice names one record
(one read); a Google Sheets notice names one row (``test_webhook_live_sheets.py``); without the body (a worker running apart) the form is asked what changed. After each
re-check the flags the state store holds are those a whole check of the same data raises, and only
the difference was written back. Another run saving flags (the nightly sync) makes the next
re-check read everything again. A worker holds at most ``COPROD_WORKER_HOLD`` recipes: the least
recently re-checked is dropped (never one being re-checked) and read whole at its next delivery.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import sqlite3
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import responses

from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext, Delivery
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions
from coprod.live import LiveRecipe, Outcome
from coprod.state import StateStore
from coprod.sync import run
from coprod_core.flags import Flag
from coprod_core.lifecycle import FlagStatus
from coprod_core.recipe import parse_recipe
from fakes import ROOT
from fakes.civicrm import API_KEY, FakeCiviCRM, seed_panel
from fakes.kobo import PEOPLE_FORM, SESSION_FORM, FakeKobo, fill_forms, submission, sync_recipe
from fakes.webhooks import KOBO_SECRET_HEADER, SECRET, SECRET_ENV, make_app

DAY = date(2026, 6, 1)


def open_flags(state: StateStore, recipe: str) -> set[tuple[str, str]]:
    return {
        (k.fingerprint, k.facts_digest)
        for k in state.known_flags(recipe).values()
        if k.status is FlagStatus.OPEN
    }


def judged(flags: list[Flag]) -> set[tuple[str, str]]:
    return {(f.fingerprint, f.facts_digest) for f in flags}


def whole_check(lr: LoadedRecipe) -> set[tuple[str, str]]:
    """What a whole check of the platform's data now raises (a connector of its own)."""
    c = KoboConnector("kobo", KoboOptions(retries=0), ConnectorContext(lr.recipe, lr.dir, env=lr.env))
    return judged(run(lr, mode="check", run_date=DAY, connectors={"kobo": c}).flags)


def new_session(sid: int, *people: str) -> dict[str, Any]:
    sub = submission(sid, date="2026-03-10", kind="co_design_workshop", **{"session/hours": "3"},
                     attendees=[{"attendees/person_id": p} for p in people])  # fmt: skip
    sub["_xform_id_string"] = SESSION_FORM
    return sub


def gets(rsps: responses.RequestsMock, since: int) -> list[str]:
    return [c.request.url.split("?")[0].rsplit("/api/v2/assets/", 1)[1] for c in rsps.calls[since:]
            if c.request.method == "GET"]  # fmt: skip


class HeldKobo(NamedTuple):
    lr: LoadedRecipe
    state: StateStore
    rsps: responses.RequestsMock
    fake: FakeKobo
    held: LiveRecipe
    first: Outcome
    """The first re-check, which held nothing yet and so read everything."""


@contextmanager
def held_kobo() -> Iterator[HeldKobo]:
    """The live-kobo recipe over a fake KoboToolbox of 5 people, held after a first re-check."""
    lr, state = sync_recipe("live-kobo"), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5)
        held = LiveRecipe(lr)
        yield HeldKobo(lr, state, rsps, fake, held, held.recheck(state, [], DAY))


def test_a_kobotoolbox_submission_is_taken_from_the_delivery_without_a_read() -> None:
    with held_kobo() as (lr, state, rsps, fake, held, first):  # nothing held yet: read everything
        assert first.whole and first.exit_code == 0 and gets(rsps, 0)
        sub = new_session(11, "P4", "P5")  # P4 and P5 attend for the first time: owed
        fake.submit(SESSION_FORM, sub)
        n = len(rsps.calls)
        second = held.recheck(state, [Delivery("kobotoolbox", "submission 11", sub)], DAY)
        assert second.exit_code == 0 and not second.whole
        assert gets(rsps, n) == [], "the delivery is the submission: nothing is read"
        written = [c.request for c in rsps.calls[n:]]
        assert written and all(r.method == "PATCH" for r in written)
        assert {fake.by_id(PEOPLE_FORM, i)["coprod_flags"] for i in (4, 5)} == {"Critical: Payment overdue"}
        assert open_flags(state, "live-kobo") == whole_check(lr)


def test_a_delivery_of_chosen_fields_only_is_not_taken_for_the_whole_submission(caplog: Any) -> None:
    """A REST Service set to send chosen fields sends ``_id`` and the form but not the rest: taken
    as whole, the answers it left out would read as unanswered. The forms are read instead."""
    with held_kobo() as (lr, state, rsps, fake, held, _):
        sub = new_session(11, "P4", "P5")
        fake.submit(SESSION_FORM, sub)
        chosen = {k: sub[k] for k in ("_id", "_xform_id_string", "meta/rootUuid", "date", "attendees")}
        n = len(rsps.calls)
        with caplog.at_level(logging.WARNING, logger="coprod"):
            out = held.recheck(state, [Delivery("kobotoolbox", "submission 11", chosen)], DAY)
        assert out.exit_code == 0
        assert f"{SESSION_FORM}/data/" in gets(rsps, n), "the forms were read, not the partial body taken"
        assert {fake.by_id(PEOPLE_FORM, i)["coprod_flags"] for i in (4, 5)} == {"Critical: Payment overdue"}
        assert open_flags(state, "live-kobo") == whole_check(lr)
    warned = [r.getMessage() for r in caplog.records if "part of a submission" in r.getMessage()]
    assert len(warned) == 1 and "_uuid, _submission_time" in warned[0] and "coprod install" in warned[0]
    assert "P4" not in warned[0] and "2026-03-10" not in warned[0]


def test_without_the_body_a_worker_asks_the_forms_what_changed() -> None:
    """``coprod worker`` running apart from the app gets ids only from the inbox."""
    with held_kobo() as (lr, state, rsps, fake, held, _):
        fake.tick(60)
        fake.submit(SESSION_FORM, new_session(11, "P4"))
        fake.edit(PEOPLE_FORM, 2, payment_preference="declined")  # no hook for an edit: found anyway
        n = len(rsps.calls)
        out = held.recheck(state, [Delivery("kobotoolbox", "submission 11")], DAY)
        sent = gets(rsps, n)
        assert open_flags(state, "live-kobo") == whole_check(lr)
    assert out.exit_code == 0 and not out.whole
    assert sent == [
        f"{PEOPLE_FORM}/", f"{PEOPLE_FORM}/history/", f"{PEOPLE_FORM}/data/",  # the edited one, by $in
        f"{SESSION_FORM}/", f"{SESSION_FORM}/history/", f"{SESSION_FORM}/data/",  # the new one, _id > last
    ]  # fmt: skip
    assert fake.by_id(PEOPLE_FORM, 2)["coprod_flags"] == ""


def test_another_run_saving_flags_makes_the_next_recheck_read_everything() -> None:
    with held_kobo() as (lr, state, rsps, fake, held, _):
        fake.edit(PEOPLE_FORM, 3, payment_preference="declined")
        c = KoboConnector("kobo", KoboOptions(retries=0), ConnectorContext(lr.recipe, lr.dir, env=lr.env))
        assert run(lr, run_date=DAY, state=state, connectors={"kobo": c}).exit_code == 0  # the nightly sync
        sub = new_session(12, "P4")
        fake.submit(SESSION_FORM, sub)
        out = held.recheck(state, [Delivery("kobotoolbox", "submission 12", sub)], DAY)
        assert out.whole and out.exit_code == 0
        assert open_flags(state, "live-kobo") == whole_check(lr)


def test_an_edit_made_before_the_nightly_sync_is_in_the_next_recheck_which_reads_the_form_whole() -> None:
    """The store keeps one snapshot a form, and the nightly sync's replaced the worker's. The
    worker's next re-check brought the submissions it held up to date from the sync's read, so an
    edit made between the worker's read and the sync's (in the afternoon) was in neither, and the
    re-check wrote back flags from the afternoon's data over the sync's. The test above failed so
    now and then in the suite: when the edit and the sync fell in different seconds."""
    with held_kobo() as (lr, state, rsps, fake, held, _):
        fake.edit(PEOPLE_FORM, 3, payment_preference="declined")  # the afternoon after the worker's read
        fake.tick(6 * 3600)
        c = KoboConnector("kobo", KoboOptions(retries=0), ConnectorContext(lr.recipe, lr.dir, env=lr.env))
        assert run(lr, run_date=DAY, state=state, connectors={"kobo": c}).exit_code == 0  # the nightly sync
        assert open_flags(state, "live-kobo") == whole_check(lr)
        fake.tick(9 * 3600)
        sub = new_session(12, "P4")
        fake.submit(SESSION_FORM, sub)
        n = len(rsps.calls)
        out = held.recheck(state, [Delivery("kobotoolbox", "submission 12", sub)], DAY)
        people = [r.request.url for r in rsps.calls[n:] if f"/{PEOPLE_FORM}/data/" in (r.request.url or "")]
        assert out.whole and out.exit_code == 0
        assert people and not any("query=" in url for url in people), people  # whole, not "what changed"
        assert open_flags(state, "live-kobo") == whole_check(lr)


CIVICRM = "https://crm.ourcharity.org.uk/civicrm/ajax/api4"
"""The site's API: the example recipe's crm.example.org stops every run before any request."""


def civicrm() -> LoadedRecipe:
    data = tomllib.loads((ROOT / "recipes" / "civicrm" / "recipe.toml").read_text(encoding="utf-8"))
    data["sources"]["crm"]["endpoint"] = CIVICRM
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    return LoadedRecipe(
        recipe=recipe, path=Path("recipe.toml"), dir=Path("."), env={"CIVICRM_API_KEY": API_KEY}
    )


@responses.activate
def test_a_civicrm_notice_costs_one_read_of_the_record_it_names_and_a_delete_none() -> None:
    fake = FakeCiviCRM(endpoint=CIVICRM).register(responses.mock)
    seed_panel(fake, contacts=60, events=8, participants=200, campaigns=2)
    lr, state = civicrm(), StateStore.open(":memory:")
    held = LiveRecipe(lr)
    assert held.recheck(state, [], DAY).whole

    def data_reads(since: int) -> list[str]:
        return [
            f"{c.entity}.{c.action}"
            for c in fake.calls[since:]
            if c.action == "get" and c.entity != "Activity"
        ]

    member = next(c["id"] for c in fake.records["Contact"] if c["id"] > 2)
    made = fake.add("Participant", contact_id=member, event_id=3, **{
        "status_id:name": "Attended", "role_id:name": ["Attendee"],
        "contact_id.groups:name": ["Coproduction_Panel"], "Coprod_Attendance.Prep_Hours": None,
    })  # fmt: skip
    n = len(fake.calls)
    out = held.recheck(state, [Delivery("civicrm", f"Participant {made['id']} create")], DAY)
    assert out.exit_code == 0 and not out.whole
    assert data_reads(n) == ["Participant.get"]

    gone = fake.records["Participant"][5]
    fake.records["Participant"].remove(gone)
    n = len(fake.calls)
    notice = {"entity": "Participant", "id": gone["id"], "action": "delete"}
    out = held.recheck(state, [Delivery("civicrm", f"Participant {gone['id']} delete", notice)], DAY)
    assert out.exit_code == 0 and not out.whole and data_reads(n) == []

    fresh = StateStore.open(":memory:")
    expected = run(lr, mode="check", run_date=DAY, state=fresh).flags
    assert open_flags(state, "civicrm-panel") == judged(expected)

    n = len(fake.calls)
    out = held.recheck(state, [Delivery("civicrm", "GroupContact membership 31 create")], DAY)
    assert out.whole, "a membership names no contact: everything is read"


def test_through_the_app_the_submission_reaches_the_worker_in_memory_only(tmp_path: Path) -> None:
    lr = sync_recipe("youth-panel")
    folder = tmp_path / "kobo-recipe"
    folder.mkdir()
    recipe_file = folder / "recipe.toml"
    recipe_file.write_text(
        '\n'.join([
            'name = "youth-panel"',
            '[sources.kobo]', 'connector = "kobotoolbox"', 'hook_secret_env = "YOUTH_PANEL_WEBHOOK_SECRET"',
            *[line for line in _recipe_toml(lr).splitlines()],
            '[webhook]', 'secret_env = "YOUTH_PANEL_WEBHOOK_SECRET"',
        ]), encoding="utf-8",
    )  # fmt: skip
    (folder / ".env").write_text(
        f"KOBO_TOKEN={lr.env['KOBO_TOKEN']}\n{SECRET_ENV}={SECRET}\n", encoding="utf-8"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://localhost")
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5)
        app = make_app(
            tmp_path, _live(), recipes={"youth-panel": recipe_file}, worker_thread=True, poll_interval=0.05
        )
        runtime = app.extensions["coprod_webhook"]
        client = app.test_client()

        def deliver(sub: dict[str, Any]) -> int:
            fake.submit(SESSION_FORM, sub)
            answer = client.post("/hooks/kobotoolbox/youth-panel", data=json.dumps(sub),
                                 headers={"Content-Type": "application/json", **KOBO_SECRET_HEADER})  # fmt: skip
            assert answer.status_code == 202
            n = len(rsps.calls)
            deadline = time.monotonic() + 60
            while {e["status"] for e in runtime.inbox.events()} != {"done"}:
                assert time.monotonic() < deadline, runtime.inbox.events()
                time.sleep(0.05)
            return n

        try:
            deliver(new_session(11, "P1"))  # the first re-check reads everything
            n = deliver(new_session(12, "P4", "P5"))
            assert gets(rsps, n) == []  # the submission came with the delivery, in memory
        finally:
            runtime.shutdown()
    inbox = sqlite3.connect(tmp_path / "state-inbox.sqlite")
    dump = "\n".join(inbox.iterdump())
    assert "P4" not in dump and "co_design_workshop" not in dump  # the answers never reached the disk
    assert {fake.by_id(PEOPLE_FORM, i)["coprod_flags"] for i in (4, 5)} == {"Critical: Payment overdue"}


def _live() -> Any:
    from coprod.webhook_app.settings import live_recheck

    return live_recheck


def _recipe_toml(lr: LoadedRecipe) -> str:
    """The test recipe's entities, policy and projects as TOML (the sources and webhook added by the caller)."""
    r = lr.recipe
    lines = []
    for entity, spec in r.entities.items():
        lines += [f"[entities.{entity.value}]", f'source = "{spec.source}"', f'location = "{spec.location}"']
        lines.append("fields = { " + ", ".join(f'{k} = "{v}"' for k, v in spec.fields.items()) + " }")
        if spec.defaults:
            lines.append("defaults = { " + ", ".join(f'{k} = "{v}"' for k, v in spec.defaults.items()) + " }")
        if spec.options:
            lines.append("options = { " + ", ".join(f'{k} = "{v}"' for k, v in spec.options.items()) + " }")
    lines += ["[[projects]]", 'id = "p1"', 'name = "Project"', 'label = "consultation"']
    lines += ["[policy]", "pay_within_days = 30", "[policy.rates]", "co_design_workshop = 25"]
    return "\n".join(lines)


def test_a_recheck_that_fails_part_way_makes_the_next_one_read_everything(monkeypatch: Any) -> None:
    """The change was taken into the dataset held but its flags were not saved: holding on to it
    would leave those flags unwritten until the nightly sync."""
    import coprod.live

    with held_kobo() as (lr, state, rsps, fake, held, _):
        sub = new_session(11, "P4", "P5")
        fake.submit(SESSION_FORM, sub)

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the checks failed")

        with monkeypatch.context() as m:
            m.setattr(coprod.live, "scoped_check", broken)
            try:
                held.recheck(state, [Delivery("kobotoolbox", "submission 11", sub)], DAY)
            except RuntimeError:
                pass
            else:
                raise AssertionError("the re-check's error reaches the worker, which retries it")
        n = len(rsps.calls)
        again = held.recheck(state, [Delivery("kobotoolbox", "submission 11")], DAY)
        assert again.whole and again.exit_code == 0 and gets(rsps, n)
        assert open_flags(state, "live-kobo") == whole_check(lr)


@responses.activate
def test_a_civicrm_contact_back_from_the_trash_makes_the_recheck_read_everything() -> None:
    """Its participations were left out while it was trashed (the reads ask for contacts not in the
    trash), so reading the contact alone would leave them out: everything is read."""
    fake = FakeCiviCRM(endpoint=CIVICRM).register(responses.mock)
    seed_panel(fake, contacts=60, events=8, participants=200, campaigns=2)
    attended = {p["contact_id"] for p in fake.records["Participant"]}
    contact = next(c for c in fake.records["Contact"] if c["id"] in attended and c["id"] > 2)
    contact["is_deleted"] = True
    lr, state = civicrm(), StateStore.open(":memory:")
    held = LiveRecipe(lr)
    assert held.recheck(state, [], DAY).whole

    contact["is_deleted"] = False  # restored by staff: CiviCRM sends an edit
    out = held.recheck(state, [Delivery("civicrm", f"Contact {contact['id']} edit")], DAY)
    assert out.whole and out.exit_code == 0
    expected = run(lr, mode="check", run_date=DAY, state=StateStore.open(":memory:")).flags
    assert open_flags(state, "civicrm-panel") == judged(expected)

    n = len(fake.calls)
    out = held.recheck(state, [Delivery("civicrm", f"Contact {contact['id']} edit")], DAY)
    assert not out.whole and [c.entity for c in fake.calls[n:] if c.action == "get"][:1] == ["Contact"]


def test_a_token_replaced_in_env_gives_the_recipe_fresh_connectors() -> None:
    from coprod.live import forget_all, held

    lr = sync_recipe("live-kobo")
    try:
        with held(lr) as first:
            pass
        with held(dataclasses.replace(lr)) as same:
            assert same is first
        with held(dataclasses.replace(lr, env={**lr.env, "KOBO_TOKEN": "a new token"})) as renewed:
            assert renewed is not first and first.connectors is None and first.live is None
    finally:
        forget_all()


# a bounded worker --------------------------------------------------------------------------------


@pytest.fixture
def bound() -> Iterator[Callable[[int], None]]:
    """``bound(n)``: this process holds at most n recipes. Before and after, nothing is held (other
    tests' recipes would count) and the bound is the default again."""
    from coprod.live import HOLD, forget_all, hold_at_most

    forget_all()
    yield hold_at_most
    forget_all()
    hold_at_most(HOLD)


class Panel(NamedTuple):
    """One of several recipes over the same KoboToolbox, each with its own file and state store."""

    lr: LoadedRecipe
    state: StateStore


def panels(tmp_path: Path, *names: str) -> dict[str, Panel]:
    return {
        name: Panel(
            dataclasses.replace(sync_recipe(name), path=tmp_path / name / "recipe.toml"),
            StateStore.open(":memory:"),
        )  # fmt: skip
        for name in names
    }


def recheck(panel: Panel, *deliveries: Delivery) -> tuple[LiveRecipe, Outcome]:
    """A re-check as the worker runs one (``LiveRecheck``): the recipe held for its duration."""
    from coprod.live import held

    with held(panel.lr) as live:
        return live, live.recheck(panel.state, deliveries, DAY)


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[KoboConnector]:
    """The KoboToolbox connectors closed, in order."""
    out: list[KoboConnector] = []
    real = KoboConnector.close

    def close(self: KoboConnector) -> None:
        out.append(self)
        real(self)

    monkeypatch.setattr(KoboConnector, "close", close)
    return out


def test_a_worker_bounded_to_two_drops_the_least_recently_rechecked_and_reads_it_whole_next_time(
    tmp_path: Path,
    bound: Callable[[int], None],
    closed: list[KoboConnector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from coprod.live import held

    bound(2)
    caplog.set_level("INFO", logger="coprod.live")
    p = panels(tmp_path, "panel-a", "panel-b", "panel-c")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5)
        first: dict[str, LiveRecipe] = {}
        for name in p:
            n = len(rsps.calls)
            first[name], out = recheck(p[name])
            assert out.whole and out.exit_code == 0
        whole_read = gets(rsps, n)  # panel-c's first re-check: a whole read
        a, b, c = first.values()
        assert a.connectors is None and a.live is None, "panel-a, re-checked least recently, was dropped"
        assert [k.context.recipe.name for k in closed] == ["panel-a"]
        assert b.live is not None and c.live is not None and b.connectors and c.connectors
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert dropped == [
            "recipe panel-a: dropped from memory (this worker holds at most 2 recipe(s), COPROD_WORKER_HOLD); "
            "its next re-check reads everything"
        ]
        before = open_flags(p["panel-a"].state, "panel-a")

        sub = new_session(11, "P4", "P5")  # P4 and P5 attend for the first time: owed
        fake.submit(SESSION_FORM, sub)
        delivery = Delivery("kobotoolbox", "submission 11", sub)
        n = len(rsps.calls)
        again, out = recheck(p["panel-b"], delivery)  # held: the delivery is taken without a read
        assert again is b and not out.whole and out.exit_code == 0 and gets(rsps, n) == []

        n = len(rsps.calls)
        again, out = recheck(p["panel-a"], delivery)  # dropped: read whole, as after a restart
        assert again is not a and out.whole and out.exit_code == 0 and not out.messages
        assert gets(rsps, n) == whole_read
        assert "dropped from memory earlier" in out.why
        assert c.connectors is None and [k.context.recipe.name for k in closed] == ["panel-a", "panel-c"]

        assert open_flags(p["panel-a"].state, "panel-a") == open_flags(p["panel-b"].state, "panel-b")
        assert open_flags(p["panel-a"].state, "panel-a") == whole_check(p["panel-a"].lr) != before
        with held(p["panel-a"].lr) as live:
            assert live is again  # held again, within the bound
    assert "P4" not in caplog.text and "P5" not in caplog.text


def test_a_recipe_being_rechecked_is_never_closed_under_its_recheck(
    tmp_path: Path, bound: Callable[[int], None], closed: list[KoboConnector]
) -> None:
    """Not to make room for another (bound 1, a second recipe re-checked meanwhile), nor when its
    recipe changes or the worker stops: it is closed when its re-check ends."""
    from coprod.live import forget_all, held

    bound(1)
    p = panels(tmp_path, "panel-a", "panel-b")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5)
        with held(p["panel-a"].lr) as a:
            assert a.recheck(p["panel-a"].state, [], DAY).whole
            other, out = recheck(p["panel-b"])  # meanwhile: over the bound, but panel-a is in use
            assert out.whole and out.exit_code == 0
            # panel-b, not in use, went as soon as its re-check ended: panel-a could not
            assert [k.context.recipe.name for k in closed] == ["panel-b"]
            assert a.live is not None and a.connectors is not None
            sub = new_session(11, "P4", "P5")
            fake.submit(SESSION_FORM, sub)
            n = len(rsps.calls)
            out = a.recheck(p["panel-a"].state, [Delivery("kobotoolbox", "submission 11", sub)], DAY)
            assert not out.whole and out.exit_code == 0 and gets(rsps, n) == []  # what it held, intact
        assert [k.context.recipe.name for k in closed] == ["panel-b"]
        assert other.connectors is None and a.live is not None  # panel-a alone: within the bound

        closed.clear()
        with held(p["panel-a"].lr) as a:
            changed = dataclasses.replace(p["panel-a"].lr, env={**p["panel-a"].lr.env, "KOBO_TOKEN": "new"})
            with held(changed) as renewed:
                assert renewed is not a
            forget_all()  # the worker stopping
            assert closed == [] and a.live is not None and a.connectors is not None
            assert not a.recheck(p["panel-a"].state, [], DAY).whole
        assert [k.context.recipe.name for k in closed] == ["panel-a"] and a.connectors is None


def test_the_bound_is_read_from_COPROD_WORKER_HOLD_and_a_worker_keeps_to_it(
    tmp_path: Path, bound: Callable[[int], None], closed: list[KoboConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coprod.live import HOLD
    from coprod.webhook_app.inbox import Inbox
    from coprod.webhook_app.settings import WebhookSettings
    from coprod.webhook_app.worker import Worker

    monkeypatch.chdir(tmp_path)
    env = {"COPROD_RECIPES": str(tmp_path), "COPROD_STATE": str(tmp_path / "state.sqlite")}
    assert WebhookSettings.from_env(env).worker_hold == HOLD == 4
    assert WebhookSettings.from_env({**env, "COPROD_WORKER_HOLD": ""}).worker_hold == HOLD
    (tmp_path / ".env").write_text("COPROD_WORKER_HOLD=1\n", encoding="utf-8")
    settings = WebhookSettings.from_env(env)
    assert settings.worker_hold == 1
    assert WebhookSettings.from_env({**env, "COPROD_WORKER_HOLD": " 0 "}).worker_hold == 0

    inbox = Inbox.open(settings.inbox_location)
    try:
        Worker(settings, inbox)
    finally:
        inbox.close()
    p = panels(tmp_path, "panel-a", "panel-b")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fill_forms(FakeKobo(rsps), people=5)
        a, _ = recheck(p["panel-a"])
        b, _ = recheck(p["panel-b"])
    assert a.connectors is None and b.connectors is not None
    assert [k.context.recipe.name for k in closed] == ["panel-a"]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        *(
            ("COPROD_WORKER_HOLD", v, "must be a whole number of recipes")
            for v in ["many", "-1", "2.5", "1e3", "\u0663"]
        ),
        # README sets it with COPROD_WEBHOOK_FSYNC=1; a word but 1/true/yes/on was taken silently as off,
        # so a typo ("ture") dropped the promise that every receipt reached the disk
        *(
            ("COPROD_WEBHOOK_FSYNC", v, "must be 1 (every receipt waits for the disk) or 0")
            for v in ["ture", "2", "always"]
        ),
    ],
)
def test_a_worker_setting_that_cannot_be_read_is_refused_naming_the_variable_and_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    from coprod.webhook_app.settings import SettingsError, WebhookSettings

    monkeypatch.chdir(tmp_path)
    env = {"COPROD_RECIPES": str(tmp_path), "COPROD_STATE": str(tmp_path / "state.sqlite")}
    with pytest.raises(SettingsError) as error:
        WebhookSettings.from_env({**env, variable: value})
    assert str(error.value).startswith(f"{variable} {said}") and repr(value) in str(error.value)
    with pytest.raises(SettingsError, match=r"worker_hold \(COPROD_WORKER_HOLD\) must be a whole number"):
        WebhookSettings.from_mapping({"recipes": {}, "state_path": tmp_path / "s.sqlite", "worker_hold": -1})


def test_the_worker_log_says_a_recipe_was_dropped_and_why_its_next_recheck_read_everything(
    demo: Path, bound: Callable[[int], None], caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reading ``journalctl -u coprod-worker`` sees why a re-check read everything,
    with the recipe's name and nothing about the people in it."""
    from coprod.webhook_app.settings import live_recheck

    bound(1)
    copies = {}
    for name in ("demo-a", "demo-b"):
        shutil.copytree(demo, demo.parent / name)
        copies[name] = demo.parent / name / "recipe.toml"
        text = copies[name].read_text(encoding="utf-8").replace('name = "demo"', f'name = "{name}"')
        copies[name].write_text(text, encoding="utf-8")
    caplog.set_level("INFO")
    assert live_recheck("demo-a", copies["demo-a"]) == 0
    assert live_recheck("demo-b", copies["demo-b"]) == 0
    caplog.clear()
    assert live_recheck("demo-a", copies["demo-a"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("coprod")]
    assert lines[0] == (
        "recipe demo-b: dropped from memory (this worker holds at most 1 recipe(s), COPROD_WORKER_HOLD); "
        "its next re-check reads everything"
    )
    (read,) = [line for line in lines if "read everything (" in line]
    assert re.fullmatch(
        r"recipe demo-a: read everything \(it was dropped from memory earlier, to stay within "
        r"COPROD_WORKER_HOLD; \d+ change\(s\) written\)",
        read,
    ), read
    people = (demo / "data" / "people.csv").read_text(encoding="utf-8").splitlines()[1:]
    names = [line.split(",")[1] for line in people]
    assert names and not any(name in caplog.text for name in names)
