"""The KoboToolbox connector inside the real sync: failures retried next run, nothing rewritten, no secrets."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import responses

from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions
from coprod.state import StateStore
from coprod.sync import run
from coprod_core.recipe import Entity, parse_recipe
from fakes.kobo import PEOPLE_FORM as PEOPLE
from fakes.kobo import SESSION_FORM as SESSIONS
from fakes.kobo import TOKEN, FakeKobo, fill_forms, query_of, submission, sync_recipe


def connector(lr: LoadedRecipe) -> KoboConnector:
    opts = KoboOptions(retries=0, backoff_factor=0)
    return KoboConnector("kobo", opts, ConnectorContext(recipe=lr.recipe, recipe_dir=lr.dir, env=lr.env))


def edits_sent(calls: Any, since: int, path: str) -> list[dict[str, Any]]:
    """The payloads of the bulk edits (PATCH) sent to ``path`` from call ``since`` on."""
    return [
        json.loads(c.request.body)["payload"]
        for c in calls[since:]
        if c.request.method == "PATCH" and path in c.request.url
    ]


def test_a_failed_edit_ends_partial_and_the_next_sync_writes_only_it(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    lr = sync_recipe()
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        fake.fail_roots = {fake.by_id(PEOPLE, 2)["meta/rootUuid"].removeprefix("uuid:")}
        kobo = connector(lr)
        first = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        assert first.exit_code == 4 and len(first.write.failed) == 1
        assert fake.by_id(PEOPLE, 1)["coprod_flags"] == "Critical: Payment overdue"
        assert "coprod_flags" not in fake.by_id(PEOPLE, 2)

        fake.fail_roots = set()
        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        assert second.exit_code == 0 and len(second.write.written) == 1
        edits = [c for c in rsps.calls[n:] if "/data/bulk/" in c.request.url]
        assert len(edits) == 1 and b'"submission_ids": [2]' in edits[0].request.body
        assert fake.by_id(PEOPLE, 2)["coprod_flags"] == "Critical: Payment overdue"

        n = len(rsps.calls)
        third = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        sent = [c.request.url.split("?")[0].removeprefix(fake.server) for c in rsps.calls[n:]]
        assert third.exit_code == 0 and third.unchanged  # coprod's own edits are not taken for staff's
        assert sent == [f"/api/v2/assets/{a}/{p}" for a in (PEOPLE, SESSIONS) for p in ("", "history/")]
    assert TOKEN not in caplog.text
    assert all(TOKEN not in m for r in (first, second, third) for m in r.messages)


def test_an_unreachable_server_ends_the_run_as_source_unavailable_without_the_token() -> None:
    lr = sync_recipe()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeKobo(rsps)  # no assets: every read is a 404
        result = run(
            lr,
            run_date=date(2026, 6, 1),
            state=StateStore.open(":memory:"),
            connectors={"kobo": connector(lr)},
        )
    assert result.exit_code == 3
    assert any("kf.kobotoolbox.org" in m and PEOPLE in m for m in result.messages)
    assert all(TOKEN not in m for m in result.messages)


def test_an_incremental_re_read_resumes_from_the_cursor_the_sync_saved() -> None:
    lr = sync_recipe()
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": connector(lr)})
        saved = state.get_cursor(lr.recipe.name, "kobo", Entity.PEOPLE.value)
        assert saved == "3" and state.get_cursor(lr.recipe.name, "kobo", Entity.SESSIONS.value) == "10"

        fake.assets[PEOPLE] += [submission(i, person_id=f"P{i}", roles="carer") for i in (4, 7)]
        n = len(rsps.calls)
        fresh = connector(lr)  # a new process: only the state store remembers where the last read ended
        pages = list(fresh.read(Entity.PEOPLE, lr.recipe.entities[Entity.PEOPLE], saved))
        sent = rsps.calls[n:]
    assert [r.key for page in pages for r in page.rows] == ["4", "7"] and pages[-1].cursor == "7"
    assert len(sent) == 1
    params = query_of(sent[0])
    assert json.loads(params["query"]) == {"_id": {"$gt": 3}}
    assert params["limit"] == "1000" and params["sort"] == '{"_id":1}' and "start" not in params


def test_no_name_or_answer_reaches_the_state_store(tmp_path: Path) -> None:
    """Staff see flag lines in KoboToolbox; the state store keeps ids, fingerprints and generic titles."""
    lr = sync_recipe(name="full_name")
    path = tmp_path / "state.sqlite"
    state = StateStore.open(path)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        for sub in fake.assets[PEOPLE]:
            sub["full_name"] = f"Zebedee Quux {sub['_id']}"
        fake.assets[PEOPLE][0]["payment_preference"] = "Zorblax, as I told Dr Pennywhistle"
        result = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": connector(lr)})
    messages = " ".join(f.message for f in result.flags)
    assert "Zebedee Quux" in messages and "Zorblax" in messages  # the flags do carry them...
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "Zebedee" not in dump and "Zorblax" not in dump and "Pennywhistle" not in dump  # ...the store not
    opened = [
        json.loads(v)
        for (v,) in sqlite3.connect(path).execute("SELECT value FROM meta WHERE key LIKE 'kobo:open:%'")
    ]
    lines = {line for m in opened for line in m.values()}
    assert lines and all(re.fullmatch(r"(Critical|Warning|Note): [^\n]+", line) for line in lines)
    assert {line.split(": ", 1)[1] for line in lines} <= {f.title for f in result.flags}


def test_an_answer_edited_after_a_sync_is_seen_by_the_next_one_which_reads_the_form_whole() -> None:
    """kpi keeps an edited submission's ``_id`` (RECORDED.md 9): a read of ``_id > cursor`` would miss
    the edit. A new process holds no answers, so when the history names an edit it reads each form
    whole (the webhook worker, which holds them, reads only the edited one)."""
    lr = sync_recipe()
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": connector(lr)})
        assert fake.by_id(PEOPLE, 2)["coprod_flags"] == "Critical: Payment overdue"
        fake.edit(PEOPLE, 2, payment_preference="declined")  # staff: P2 declined payment (new version)
        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": connector(lr)})
        reads = [
            query_of(c) for c in rsps.calls[n:] if c.request.method == "GET" and "/data/" in c.request.url
        ]
        history = [query_of(c)["q"] for c in rsps.calls[n:] if "/history/" in c.request.url]
    assert second.exit_code == 0 and second.diff is not None and second.diff.counts()["resolved"] == 1
    assert history and all(q.startswith('action:modify-submission AND date_created__gte:"') for q in history)
    assert all("query" not in q for q in reads) and len(reads) == 2
    assert fake.by_id(PEOPLE, 2)["coprod_flags"] == ""
    assert fake.by_id(PEOPLE, 1)["coprod_flags"] == "Critical: Payment overdue"


def test_a_deleted_registration_takes_its_flag_lines_with_it_and_its_flags_close_without_a_write() -> None:
    """UK GDPR erasure on KoboToolbox: the ``coprod_flags`` lines live in the person's own submission
    (a severity and a rule's title, never a name), so deleting it deletes them. The flags about that
    person close as removed (their words replaced where other tools show them) with no request for
    the submission that is gone, and are not written again."""
    lr = sync_recipe()
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        kobo = connector(lr)
        first = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        assert first.exit_code == 0, first.messages
        theirs = {f.fingerprint for f in first.flags if f.subject.id == "P2"}
        assert theirs and fake.by_id(PEOPLE, 2)["coprod_flags"]
        fake.delete(PEOPLE, 2)

        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo})

        assert second.exit_code == 0, second.messages
        assert second.diff is not None
        assert {c.fingerprint for c in second.diff.changes if c.kind.value == "removed"} == theirs
        assert set(second.write.written) >= theirs and not second.write.failed
        edited = [e["submission_ids"] for e in edits_sent(rsps.calls, n, f"/assets/{PEOPLE}/")]
        assert not [ids for ids in edited if 2 in ids]  # nothing sent for the submission that is gone
        assert all(k.words_removed for fp, k in state.known_flags(lr.recipe.name).items() if fp in theirs)

        n = len(rsps.calls)
        third = run(lr, run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo})
        assert third.exit_code == 0 and not [c for c in rsps.calls[n:] if c.request.method == "PATCH"]


def test_an_attendee_deleted_from_the_registrations_is_told_what_kobotoolbox_can_do_not_wont_fix() -> None:
    """The flag on a session record's attendee whose registration was deleted told staff to "mark this
    flag won't fix" if the charity keeps the record: KoboToolbox has no such status (its flags are
    lines in the record's coprod_flags field). It says what the KoboToolbox README says instead:
    edit the record and remove them from it. `coprod check`, where KoboToolbox staff read the whole
    message, says the same; the record's field carries the rule's title only, as before."""
    lr = sync_recipe()
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        kobo = connector(lr)
        run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        fake.delete(PEOPLE, 2)
        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo})
        edits = edits_sent(rsps.calls, n, f"/assets/{SESSIONS}/")
        checked = run(lr, mode="check", run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo})

    assert second.exit_code == 0, second.messages
    (flag,) = [f for f in second.flags if f.check_id == "data_quality.unknown_person"]
    assert flag.subject.id == "attendance:10/2"
    assert flag.message == (
        "submission 10 attendee 2, column 'person_id': person ID P2 belongs to someone who has "
        "been removed from the people list. The attendance was not used. If they asked for their data to "
        "be deleted, edit that submission and remove them from it too (KoboToolbox has no won't fix: while "
        "it names them, this flag stays); if they were removed by mistake, add them back to the people list."
    )
    assert [f.message for f in checked.flags if f.check_id == "data_quality.unknown_person"] == [flag.message]
    assert edits == [  # the session record: its field and its hold, as for any unknown person
        {"submission_ids": [10], "data": {"coprod_flags": "Warning: Unknown person"}},
        {"submission_ids": [10], "validation_status.uid": "validation_status_on_hold"},
    ]


def test_a_decision_group_in_the_recipe_naming_a_deleted_registration_is_flagged_on_the_projects_session_record() -> (
    None
):
    """A [[projects]] decision group (how the KoboToolbox recipe records one) kept the ID of a
    registration deleted at the person's request, with no flag: the checks counted them in the group.
    Now it is flagged as a projects table's row is, saying where in the recipe, and the flag goes on
    the project's first session record, with the project's other flags."""
    data = sync_recipe().recipe.model_dump(mode="json", exclude_defaults=True)
    sessions = data["entities"]["sessions"]
    sessions["fields"]["project_id"] = "project"
    del sessions["defaults"]
    data["projects"][0]["decision_group"] = ["P1", "P2", "P3"]
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    lr = LoadedRecipe(recipe=recipe, path=Path("kobo/recipe.toml"), dir=Path("."), env={"KOBO_TOKEN": TOKEN})
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        fake.assets[SESSIONS][0]["project"] = "p1"
        kobo = connector(lr)
        first = run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo})
        assert not [f for f in first.flags if f.check_id == "data_quality.unknown_person"]
        fake.delete(PEOPLE, 2)
        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo})
        edits = edits_sent(rsps.calls, n, f"/assets/{SESSIONS}/")

    assert second.exit_code == 0, second.messages
    unknown = [f for f in second.flags if f.check_id == "data_quality.unknown_person"]
    (flag,) = [f for f in unknown if f.evidence["entity"] == "projects"]  # besides P2's attendance
    assert flag.subject.id == "projects:p1" and flag.project_id == "p1"
    assert flag.message == (
        'the [[projects]] with id "p1" in recipe.toml, decision_group: person ID P2 in the decision-making '
        "group belongs to someone who has been removed from the people list. The project was used without "
        "that person in its group. If they asked for their data to be deleted, take their ID out of this "
        "list too; if they were removed by mistake, add them back to the people list."
    )
    assert flag.fingerprint in second.write.written
    assert edits == [  # two lines: P2's attendance, and the project's decision group
        {"submission_ids": [10], "data": {"coprod_flags": "Warning: Unknown person (2)"}},
        {"submission_ids": [10], "validation_status.uid": "validation_status_on_hold"},
    ]


PAYMENTS = "aPaymentsForm"


def _with_payments_form(lr: LoadedRecipe) -> LoadedRecipe:
    """sync_recipe's, with payments read from a form of their own: one submission, one payment."""
    payments = {
        "source": "kobo",
        "location": PAYMENTS,
        "fields": {"person_id": "person_id", "amount": "amount", "date": "paid_on", "session_id": "session"},
    }
    data = lr.recipe.model_dump(mode="json", exclude_none=True)
    data["entities"]["payments"] = payments
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    return LoadedRecipe(recipe=recipe, path=lr.path, dir=lr.dir, env=lr.env)


def test_a_payment_submission_naming_someone_deleted_is_told_to_be_deleted_not_edited() -> None:
    """A payments form's submission is the payment itself: "edit that submission and remove them
    from it" (the session record's advice, where they are one of its attendees) left staff editing a
    payment to name nobody (newcomer walkthrough). It says to delete that submission, unless the
    charity must keep the payment record; the session record's attendee is told as before."""
    lr = _with_payments_form(sync_recipe())
    state = StateStore.open(":memory:")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeKobo(rsps)
        fill_forms(fake)
        fake.assets[PAYMENTS] = [
            submission(20, person_id="P2", amount="10", paid_on="2026-03-10", session="10")
        ]
        kobo = connector(lr)
        assert run(lr, run_date=date(2026, 6, 1), state=state, connectors={"kobo": kobo}).exit_code == 0
        fake.delete(PEOPLE, 2)
        n = len(rsps.calls)
        second = run(lr, run_date=date(2026, 6, 2), state=state, connectors={"kobo": kobo}, allow_shrink=True)
        edits = edits_sent(rsps.calls, n, f"/assets/{PAYMENTS}/data/bulk/")

    assert second.exit_code == 0, second.messages
    said = {f.subject.id: f.message for f in second.flags if f.check_id == "data_quality.unknown_person"}
    assert said["payments:20"] == (
        "submission 20, column 'person_id': person ID P2 belongs to someone who has been removed from the "
        "people list. The payment was not used. If they asked for their data to be deleted, delete that "
        "submission too (it is the payment record), unless the charity must keep it (KoboToolbox has no "
        "won't fix: while it names them, this flag stays); if they were removed by mistake, add them back "
        "to the people list."
    )
    assert "edit that submission and remove them from it too" in said["attendance:10/2"]
    assert edits == [{"submission_ids": [20], "data": {"coprod_flags": "Warning: Unknown person"}}]
