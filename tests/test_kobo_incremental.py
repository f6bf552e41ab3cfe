"""Reading only what changed in a KoboToolbox form, and never missing what did.

kpi has no edit time in its data: an edit changes ``_uuid``, a staff status change not even that,
a delete leaves only a lower count (RECORDED.md, "Probe: incremental reads"). coprod asks the form's
details and its history (edits and status changes since the server time of its last read, quoted)
and, refused the history, compares a listing of ids and versions with its last read. A process
holding the answers (the webhook worker keeps its connectors) then reads only the new and changed
submissions; one holding nothing (a cron run) stops when nothing changed on the same day, and
otherwise reads each form whole.

The first tests serve the recorded answers (``probe_incremental.json``); requests the recording
lacks are answered by the fake (``fakes.kobo``, itself checked against the recordings in
``test_kobo_fake.py``) and named.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext
from coprod.connectors.kobo_changes import Snapshot
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions
from coprod.state import StateStore
from coprod.sync import run
from coprod_core.flags import Severity, SubjectKind
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes.kobo import OWNER, TOKEN, FakeKobo, fill_forms, flag_for, new, query_of, submission, sync_recipe
from fakes.kobo import PEOPLE_FORM as PEOPLE
from fakes.replay import Replay, exchanges

# -- on the recorded answers -----------------------------------------------------------------------

KOBO = "http://127.0.0.1:8000"
SESSION_FORM = "ai5m376DRLqCktdRoqUysb"
T = "2026-12-03T16:03:24"
"""The probe's time: 16 was bulk-edited at 16:03:25, then 29 deleted at 16:03:26."""
ROOT_16 = "0354d7f2-adf9-43cb-8408-713dbfd31c51"
ROOT_29 = "ae5d78af-cdf5-441f-961e-546dec4aedaf"
RECORDED_LAST_SUBMISSION = "2026-12-03T16:00:34.282024Z"


def probe(n: int) -> dict[str, Any]:
    return exchanges("kobotoolbox", "probe_incremental")[n]


def sessions_recipe() -> Recipe:
    data = {
        "name": "probe",
        "sources": {
            "kobo": {"connector": "kobotoolbox", "server": KOBO, "validation_status": False},
            "files": {"connector": "files"},
        },
        "entities": {
            "people": {"source": "files", "location": "people.csv", "fields": {"id": "ID", "roles": "Role"}},
            "attendance": {
                "source": "kobo",
                "location": SESSION_FORM,
                "fields": {"person_id": "person_id", "session_id": "_id"},
                "options": {"repeat": "attendees"},
            },
            "sessions": {
                "source": "kobo",
                "location": SESSION_FORM,
                "fields": {"id": "_id", "date": "session_date", "hours": "hours", "kind": "kind"},
                "defaults": {"project_id": "p1"},
            },
        },
        "projects": [{"id": "p1", "name": "Day service", "label": "consultation"}],
    }
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    return recipe


def session_form_before_the_probe() -> list[dict[str, Any]]:
    """The 25 submissions (5-29) as the last read before T saw them: 16 and 29 with their recorded
    root uuids, 16 not yet edited."""
    subs = []
    for sid in range(5, 30):
        sub = submission(sid, session_date="2026-01-12", hours="3.5", kind="focus_group")
        root = {16: ROOT_16, 29: ROOT_29}.get(sid)
        if root:
            sub.update({"_uuid": root, "meta/instanceID": f"uuid:{root}", "meta/rootUuid": f"uuid:{root}"})
        subs.append(sub)
    return subs


def held_at_t(state: StateStore) -> tuple[KoboConnector, FakeKobo]:
    """A connector holding the session form as read at T (the fake serving that read), and a fake
    of the server after the probe, for the requests the recording lacks."""
    recipe = sessions_recipe()
    env = {"KOBO_TOKEN": "<KOBO_TOKEN>"}
    c = KoboConnector(
        "kobo",
        KoboOptions(server=KOBO, retries=0, validation_status=False),
        ConnectorContext(recipe, Path("."), env),
    )
    c.state = state
    state.set_meta("probe", f"kobo:flags_field:{SESSION_FORM}", "coprod_flags -> coprod_flags")
    before = FakeKobo(None, server=KOBO, tokens={"<KOBO_TOKEN>": OWNER})
    before.assets[SESSION_FORM] = session_form_before_the_probe()
    before.last_submission[SESSION_FORM] = (29, RECORDED_LAST_SUBMISSION)
    before.now = datetime.fromisoformat(T + "+00:00")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "PATCH", "DELETE"):
            mock.add_callback(method, re.compile(KOBO + "/.*"), callback=before.answer)
        c.begin_run()
        list(c.read(Entity.SESSIONS, recipe.entities[Entity.SESSIONS]))
    assert Snapshot.loads(state.get_meta("probe", f"kobo:seen:{SESSION_FORM}")).cursor == T  # type: ignore[union-attr]

    after = FakeKobo(None, server=KOBO, tokens={"<KOBO_TOKEN>": OWNER})
    after.assets[SESSION_FORM] = [s for s in session_form_before_the_probe() if s["_id"] != 29]
    edited = probe(1)["response"]["body"]  # GET .../data/16/ after the edit
    after.assets[SESSION_FORM] = [edited if s["_id"] == 16 else s for s in after.assets[SESSION_FORM]]
    after.history[SESSION_FORM] = [
        *probe(18)["response"]["body"]["results"],
        *probe(16)["response"]["body"]["results"],
    ]
    return c, after


def replayed(mock: responses.RequestsMock, fallback: FakeKobo) -> Replay:
    return Replay(KOBO, exchanges("kobotoolbox", "probe_incremental"), fallback=fallback.answer).register(
        mock
    )


def held_ids(c: KoboConnector) -> dict[int, str]:
    recipe = c.context.recipe
    rows = [r for page in c.read(Entity.SESSIONS, recipe.entities[Entity.SESSIONS]) for r in page.rows]
    return {int(r.key or 0): str(r.values.get("_uuid")) for r in rows}


DELETES_SINCE_T = f"GET {KOBO}/api/v2/assets/{SESSION_FORM}/history/?format=json&q=action%3Adelete-submission+AND+date_created__gte%3A%22{T.replace(':', '%3A')}%22"


def test_an_edit_and_a_delete_kpi_recorded_between_two_reads_are_read_and_nothing_else() -> None:
    state = StateStore.open(":memory:")
    c, after = held_at_t(state)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        r = replayed(mock, after)
        c.begin_run()
        held = held_ids(c)
        sent = [call.request for call in mock.calls]
    assert 29 not in held and len(held) == 24
    assert held[16] == "3ac0ceed-4030-4fba-bbe5-1a209252cac3"  # the edited version, read again
    # the form's details, its edits since T (the time quoted), its deletes, and 16 alone: 4 requests
    assert [q.method for q in sent] == ["GET"] * 4
    assert json.loads(query_of_request(sent[3])["query"]) == {"_id": {"$in": [16]}}
    assert r.unmatched == [DELETES_SINCE_T, sent[3].method + " " + sent[3].url]
    assert probe(17) in r.served and probe(18) in r.served


def test_coprods_own_bulk_edit_in_the_recorded_history_is_not_taken_for_a_staff_edit() -> None:
    """The probe's bulk edit of 16 was the connector's own request: sent by coprod, it is counted as
    coprod's, and the history entry it made is not read as staff changing 16."""
    state = StateStore.open(":memory:")
    c, after = held_at_t(state)
    flag = flag_for(SubjectKind.SESSION, "16", "Unpaid attendee", Severity.CRITICAL)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        r = replayed(mock, after)
        report = c.write_flags([new(flag)])
        assert report.written == [flag.fingerprint] and r.served == [probe(0)]  # the recorded PATCH
        c.begin_run()
        held = held_ids(c)
        sent = [call.request for call in mock.calls][1:]
    assert 29 not in held and len(held) == 24 and 16 in held
    assert [q.url.split("?")[0].removeprefix(KOBO) for q in sent] == [
        f"/api/v2/assets/{SESSION_FORM}/",
        f"/api/v2/assets/{SESSION_FORM}/history/",
        f"/api/v2/assets/{SESSION_FORM}/history/",
    ]  # no read of 16: the one entry for it is coprod's own edit
    assert r.unmatched == [DELETES_SINCE_T]


def query_of_request(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}


# -- on the fake: a 5,000-submission form, held (the webhook worker) or not (cron) -------------------


def connector(lr: LoadedRecipe, state: StateStore | None, token: str = TOKEN) -> KoboConnector:
    c = KoboConnector(
        "kobo", KoboOptions(retries=0), ConnectorContext(lr.recipe, lr.dir, env={"KOBO_TOKEN": token})
    )
    c.state = state
    return c


def people_rows(c: KoboConnector, lr: LoadedRecipe) -> dict[str, dict[str, Any]]:
    c.begin_run()
    pages = c.read(Entity.PEOPLE, lr.recipe.entities[Entity.PEOPLE])
    return {str(r.values["person_id"]): dict(r.values) for page in pages for r in page.rows}


def reads_since(fake: FakeKobo, n: int) -> list[str]:
    """Each read sent since call ``n``, as ``details``, ``history <action>``, or ``data <query>``."""
    assert fake.rsps is not None
    out = []
    for call in fake.rsps.calls[n:]:
        if call.request.method != "GET":
            continue
        path, q = call.request.url.split("?")[0], query_of(call)
        if path.endswith("/history/"):
            out.append("history " + q["q"].split()[0].removeprefix("action:"))
        elif path.endswith("/data/"):
            out.append("data " + q.get("query", "all") + (" ids" if q.get("fields") == '["_id"]' else ""))
        else:
            out.append("details")
    return out


def test_an_unchanged_5000_submission_form_held_in_memory_costs_two_requests() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5000)
        c = connector(lr, state)
        first = people_rows(c, lr)
        pages = [f'data {{"_id":{{"$gt":{i}}}}}' for i in (1000, 2000, 3000, 4000)]
        assert len(first) == 5000 and reads_since(fake, 0) == ["details", "data all", *pages]
        n = len(rsps.calls)
        again = people_rows(c, lr)
        assert reads_since(fake, n) == ["details", "history modify-submission"]
        assert again == first


def test_one_edited_submission_of_5000_costs_three_requests_and_is_read_as_edited() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=5000)
        c = connector(lr, state)
        people_rows(c, lr)
        fake.tick()
        fake.edit(PEOPLE, 2500, roles="carer")
        n = len(rsps.calls)
        rows = people_rows(c, lr)
        sent = reads_since(fake, n)
    assert sent == ["details", "history modify-submission", 'data {"_id":{"$in":[2500]}}']
    assert rows["P2500"]["roles"] == ["carer"] and rows["P2499"]["roles"] == ["lived_experience"]


def test_a_staff_status_change_a_delete_and_a_new_submission_are_read_and_nothing_else() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake, people=2500)
        c = connector(lr, state)
        people_rows(c, lr)
        fake.tick()
        fake.set_status(PEOPLE, 7, "validation_status_not_approved")  # keeps _uuid: only history tells
        fake.delete(PEOPLE, 9)
        fake.submit(PEOPLE, submission(9000, person_id="P9000", roles="carer", payment_preference="paid"))
        n = len(rsps.calls)
        rows = people_rows(c, lr)
        sent = reads_since(fake, n)
    assert sent == [
        "details",
        "history modify-submission",
        "history delete-submission",  # the count stayed 2,500 though one is new: the history names the delete
        'data {"_id":{"$gt":2500}}',
        'data {"_id":{"$in":[7]}}',
    ]
    assert "P9" not in rows and "P9000" in rows and len(rows) == 2500
    assert c._facts[PEOPLE][7].status == "validation_status_not_approved"


def test_history_is_read_from_the_servers_time_quoted_never_this_machines_clock() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        fake.now = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)  # the server's clock, far from this machine's
        c = connector(lr, state)
        people_rows(c, lr)
        n = len(rsps.calls)
        people_rows(c, lr)
        history = [query_of(call)["q"] for call in rsps.calls[n:] if "/history/" in call.request.url]
    assert history == ['action:modify-submission AND date_created__gte:"2031-03-04T05:06:07"']


def test_an_account_refused_the_history_compares_a_listing_of_ids_and_versions() -> None:
    """A view-only (or edit-only) account gets 403 on ``/history/``: a ``fields=["_id"]`` listing still
    carries ``_uuid`` and ``_validation_status``, compared with the last read's (its writes included)."""
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps, tokens={TOKEN: OWNER, "editor-key": "carol"})
        fill_forms(fake, people=1500)
        fake.editors[PEOPLE] = {"carol"}
        c = connector(lr, state, token="editor-key")
        people_rows(c, lr)
        n = len(rsps.calls)
        people_rows(c, lr)  # refused the history: read whole once, keeping each submission's version
        assert reads_since(fake, n) == [
            "details",
            "history modify-submission",
            "data all",
            'data {"_id":{"$gt":1000}}',
        ]
        c.write_flags([new(flag_for(SubjectKind.PERSON, "P3", "Payment overdue", Severity.CRITICAL))])
        n = len(rsps.calls)
        people_rows(c, lr)
        assert reads_since(fake, n) == ["details", "data all ids", 'data {"_id":{"$gt":1000}} ids']
        fake.edit(PEOPLE, 5, roles="carer")
        fake.set_status(PEOPLE, 6, "validation_status_approved")
        fake.delete(PEOPLE, 8)
        n = len(rsps.calls)
        rows = people_rows(c, lr)
        sent = reads_since(fake, n)
    assert sent == ["details", "data all ids", 'data {"_id":{"$gt":1001}} ids', 'data {"_id":{"$in":[5,6]}}']
    assert rows["P5"]["roles"] == ["carer"] and "P8" not in rows and len(rows) == 1499


# -- in the sync ------------------------------------------------------------------------------------


def test_a_cron_sync_of_the_same_day_stops_when_nothing_changed_and_full_or_a_new_day_reads_whole() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        day = date(2026, 6, 1)
        first = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert first.exit_code == 0 and first.write.written
        n = len(rsps.calls)
        second = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert second.unchanged and second.exit_code == 0 and not second.write.written
        assert reads_since(fake, n) == ["details", "history modify-submission"] * 2  # two forms
        for again in (
            {"run_date": day, "full": True},  # coprod sync --full
            {"run_date": date(2026, 6, 2)},  # the next day: the checks judge another date
        ):
            n = len(rsps.calls)
            result = run(lr, state=state, connectors={"kobo": connector(lr, None)}, **again)  # type: ignore[arg-type]
            assert not result.unchanged and result.checked
            assert reads_since(fake, n) == ["details", "data all"] * 2


def test_the_first_sync_after_upgrading_coprod_reads_whole_even_the_same_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new coprod may judge the same data differently (a rule added, a wording changed): the
    flags the old one left are not taken as settled, so `coprod sync` right after `pip install -U`
    shows what the new one finds, not "nothing changed" until the next day."""
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        day = date(2026, 6, 1)
        monkeypatch.setattr("coprod.version.installed_version", lambda: "0.1.1.dev411+g8db07b249")
        assert run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)}).exit_code == 0
        monkeypatch.setattr("coprod.version.installed_version", lambda: "0.1.1.dev430+g0c4e2a1d8")
        fake.tick()  # the upgrade takes a while: the server's clock moves on
        n = len(rsps.calls)
        upgraded = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert not upgraded.unchanged and upgraded.checked and upgraded.exit_code == 0
        assert reads_since(fake, n) == ["details", "data all"] * 2
        fake.tick()
        n = len(rsps.calls)
        again = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert again.unchanged, "the same coprod again, the same day: the shortcut as before"
        assert reads_since(fake, n) == ["details", "history modify-submission"] * 2


@pytest.mark.parametrize("version", ["0.1.0+unknown", "0.1.0", "unknown (not installed)"])
def test_a_coprod_whose_version_names_no_commit_never_takes_the_same_day_shortcut(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """Two builds from copies of the files (no git history) have the same version, so an upgrade
    from one to the other looks like "the same coprod": the shortcut would keep the old one's
    judgement all day. With such a version every sync reads whole, the same day or not."""
    monkeypatch.setattr("coprod.version.installed_version", lambda: version)
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        day = date(2026, 6, 1)
        assert run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)}).exit_code == 0
        for _ in range(2):  # the old build's second run, then the new build's first: alike to coprod
            fake.tick()
            n = len(rsps.calls)
            again = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
            assert not again.unchanged and again.checked and again.exit_code == 0
            assert reads_since(fake, n) == ["details", "data all"] * 2


def test_a_dry_run_or_a_failed_write_means_the_next_run_reads_again() -> None:
    lr, state = sync_recipe(), StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        day = date(2026, 6, 1)
        fake.fail_roots = {fake.by_id(PEOPLE, 2)["meta/rootUuid"].removeprefix("uuid:")}
        failed = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert failed.exit_code == 4
        fake.fail_roots = set()
        retried = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
        assert not retried.unchanged and retried.exit_code == 0 and len(retried.write.written) == 1
        fake.edit(PEOPLE, 3, payment_preference="declined")
        dry = run(lr, run_date=day, state=state, dry_run=True, connectors={"kobo": connector(lr, None)})
        assert dry.diff is not None and dry.diff.changes
        after_dry = run(lr, run_date=day, state=state, connectors={"kobo": connector(lr, None)})
    assert not after_dry.unchanged and after_dry.write.written, "what the dry run saw was never written"


def scenario_between_two_syncs(fake: FakeKobo) -> None:
    """Staff, between two syncs: P2 declines payment (an edit), approve P3's record that coprod
    held (a status change), and delete P1's registration."""
    fake.tick()
    fake.edit(PEOPLE, 2, payment_preference="declined")
    fake.set_status(PEOPLE, 3, "validation_status_approved")
    fake.delete(PEOPLE, 1)


@pytest.mark.parametrize("held", [True, False], ids=["held by the worker", "read again by cron"])
def test_staff_changes_between_two_syncs_are_seen_whether_the_forms_are_held_or_read_again(
    held: bool,
) -> None:
    if True:
        lr, state = sync_recipe(), StateStore.open(":memory:")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake = FakeKobo(rsps)
            fill_forms(fake)
            kept = connector(lr, None)

            def kobo() -> KoboConnector:
                return kept if held else connector(lr, None)

            day = date(2026, 6, 1)
            first = run(lr, run_date=day, state=state, connectors={"kobo": kobo()})
            assert {fake.by_id(PEOPLE, i)["coprod_flags"] for i in (1, 2, 3)} == {"Critical: Payment overdue"}
            assert {fake.by_id(PEOPLE, i)["_validation_status"].get("uid") for i in (1, 2, 3)} == {
                "validation_status_on_hold"
            }
            assert first.exit_code == 0
            n = len(rsps.calls)
            quiet = run(lr, run_date=day, state=state, connectors={"kobo": kobo()})
            assert quiet.unchanged, "coprod's own edits and holds are not staff changes"
            assert reads_since(fake, n) == ["details", "history modify-submission"] * 2
            scenario_between_two_syncs(fake)
            n = len(rsps.calls)
            second = run(lr, run_date=day, state=state, connectors={"kobo": kobo()}, allow_shrink=True)
            sent = reads_since(fake, n)
            writes = [c.request for c in rsps.calls[n:] if c.request.method != "GET"]
        assert second.exit_code == 0 and second.diff is not None
        closed = {
            (c.known.subject_id, c.kind.value)
            for c in second.diff.changes
            if c.known.subject_id in ("P1", "P2")
        }
        # P1's registration deleted: closed, and the words naming them replaced; P2 declined: closed
        assert closed == {("P1", "removed"), ("P2", "resolved")}, held
        assert fake.by_id(PEOPLE, 2)["coprod_flags"] == ""
        assert fake.by_id(PEOPLE, 3)["_validation_status"]["uid"] == "validation_status_approved", (
            "the status staff chose is kept"
        )
        assert all(b'"submission_ids": [3]' not in (w.body or b"") for w in writes)
        if held:
            assert sent == [
                "details", "history modify-submission", "history delete-submission", 'data {"_id":{"$in":[2,3]}}',
                "details", "history modify-submission",
            ]  # fmt: skip
        else:
            assert "data all" in sent
