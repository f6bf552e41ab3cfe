"""KoboToolbox connector against a fake KPI API: reads, mapping helpers, write-back, install, secrets."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from coprod.connectors.base import ConfigError, ConnectorContext, SourceUnavailable
from coprod.connectors.kobo_flags import compose
from coprod.connectors.kobotoolbox import KoboConnector, KoboOptions, private_address, unsaved
from coprod.state import StateStore
from coprod_core.flags import Severity, SubjectKind
from coprod_core.mapping import map_dataset
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes.kobo import DATA, SERVER, TOKEN, FakeKobo, flag_for, new, query_of, resolved, submission

PEOPLE, SESSIONS = "aPeopleForm", "aSessionForm"


def recipe(**source_options: Any) -> Recipe:
    data = {
        "name": "kobo-test",
        "sources": {"kobo": {"connector": "kobotoolbox", **source_options}},
        "entities": {
            "people": {
                "source": "kobo",
                "location": PEOPLE,
                "fields": {"id": "person_id", "name": "about/name", "roles": "roles"},
                "demographics": {"ethnicity": "ethnicity"},
            },
            "sessions": {
                "source": "kobo",
                "location": SESSIONS,
                "fields": {"id": "_id", "date": "session_date", "hours": "details/hours", "kind": "kind"},
                "defaults": {"project_id": "p1"},
            },
            "attendance": {
                "source": "kobo",
                "location": SESSIONS,
                "fields": {
                    "person_id": "attendee_id",
                    "session_id": "_id",
                    "hours": "attendees/hours_attended",
                },
                "options": {"repeat": "attendees"},
            },
        },
        "projects": [{"id": "p1", "name": "Day service redesign"}],
    }
    parsed, problems = parse_recipe(data, "recipe.toml")
    assert parsed is not None, problems
    return parsed


def connector(rec: Recipe | None = None, state: StateStore | None = None, **options: Any) -> KoboConnector:
    rec = rec or recipe()
    env = {"KOBO_TOKEN": TOKEN, "COPROD_KOBO_HOOK_SECRET": "hook-shared-secret"}
    opts = KoboOptions.model_validate({"retries": 1, "backoff_factor": 0, **options})
    c = KoboConnector("kobo", opts, ConnectorContext(recipe=rec, recipe_dir=Path("."), env=env))
    c.state = state
    return c


def read_all(c: KoboConnector, entity: Entity, cursor: str | None = None) -> tuple[list[Any], str | None]:
    spec = c.context.recipe.entities[entity]
    rows, last = [], None
    for page in c.read(entity, spec, cursor):
        rows.extend(page.rows)
        last = page.cursor
    return rows, last


def person(sid: int, pid: str, **extra: Any) -> dict[str, Any]:
    return submission(
        sid, person_id=pid, **{"about/name": f"Person {pid}", "roles": "lived_experience"}, **extra
    )


@pytest.fixture
def fake() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeKobo(rsps)


# -- reading ------------------------------------------------------------------------------------


def test_2500_submissions_are_read_in_three_requests_on_the_id_cursor(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in range(1, 2501)]
    rows, last = read_all(connector(), Entity.PEOPLE)
    assert len(rows) == 2500 and last == "2500"
    gets = fake.calls("GET", "/data/")
    assert len(gets) == 3
    queries = [query_of(c) for c in gets]
    assert all(q["limit"] == "1000" and q["sort"] == '{"_id":1}' and q["format"] == "json" for q in queries)
    assert all("start" not in q for q in queries)
    assert "query" not in queries[0]
    assert json.loads(queries[1]["query"]) == {"_id": {"$gt": 1000}}
    assert json.loads(queries[2]["query"]) == {"_id": {"$gt": 2000}}
    assert all(c.request.headers["Authorization"] == f"Token {TOKEN}" for c in gets)


def test_groups_select_multiple_and_other_are_mapped(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [
        submission(
            1,
            **{
                "about/person_id": "P1",
                "about/name": "Sam",
                "about/roles": "lived_experience carer",
                "equality/ethnicity": "other",
                "equality/ethnicity_other": "Asian",
            },
        ),
        submission(
            2, **{"about/person_id": "P2", "about/roles": "carer other", "about/roles_other": "volunteer"}
        ),
    ]
    rows, _ = read_all(connector(), Entity.PEOPLE)
    assert rows[0].ref == "submission 1" and rows[0].key == "1"
    assert rows[0].values["person_id"] == "P1"
    assert rows[0].values["roles"] == ["lived_experience", "carer"]
    assert rows[0].values["ethnicity"] == "Asian"
    assert rows[1].values["roles"] == ["carer", "volunteer"]
    mapped = map_dataset(connector().context.recipe, {Entity.PEOPLE: rows})
    people = mapped.dataset.people_by_id()
    assert {r.value for r in people["P1"].roles} == {"lived_experience", "carer"}
    assert people["P1"].name == "Sam" and people["P1"].demographics["ethnicity"] == "asian"
    assert {r.value for r in people["P2"].roles} == {"carer", "volunteer"}


def test_repeat_gives_one_attendance_per_entry_with_the_parent_session_id(fake: FakeKobo) -> None:
    fake.assets[SESSIONS] = [
        submission(
            7,
            session_date="2026-03-03",
            kind="decision_meeting",
            **{"details/hours": "2"},
            attendees=[
                {"attendees/attendee_id": "P1", "attendees/hours_attended": "1.5"},
                {"attendees/attendee_id": "P2", "attendees/hours_attended": "2"},
            ],
        )
    ]
    fake.assets[PEOPLE] = [person(1, "P1"), person(2, "P2")]
    c = connector()
    people, _ = read_all(c, Entity.PEOPLE)
    sessions, _ = read_all(c, Entity.SESSIONS)
    attendance, _ = read_all(c, Entity.ATTENDANCE)
    assert len(fake.calls("GET", SESSIONS)) == 1, "an asset serving two entities is read once"
    assert [r.ref for r in attendance] == ["submission 7 attendee 1", "submission 7 attendee 2"]
    assert attendance[0].values["_id"] == "7" and attendance[0].values["attendees/hours_attended"] == "1.5"
    mapped = map_dataset(
        c.context.recipe, {Entity.PEOPLE: people, Entity.SESSIONS: sessions, Entity.ATTENDANCE: attendance}
    )
    assert mapped.dataset.sessions[0].hours == Decimal(2)
    assert [(a.person_id, a.session_id, a.hours) for a in mapped.dataset.attendance] == [
        ("P1", "7", Decimal("1.5")),
        ("P2", "7", Decimal(2)),
    ]


def test_the_same_entity_read_again_means_a_new_run_and_reads_afresh(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(1, "P1")]
    c = connector()
    read_all(c, Entity.PEOPLE)
    fake.assets[PEOPLE].append(person(2, "P2"))
    rows, _ = read_all(c, Entity.PEOPLE)
    assert len(rows) == 2 and len(fake.calls("GET", PEOPLE)) == 2


def test_an_edited_submission_is_not_duplicated_and_the_latest_version_wins(fake: FakeKobo) -> None:
    old = person(3, "P3")
    new = dict(
        old,
        **{"_uuid": "edited", "meta/instanceID": "uuid:edited", "meta/deprecatedID": old["meta/instanceID"]},
    )
    new["about/name"] = "Person P3 (edited)"
    fake.assets[PEOPLE] = [new, old, person(4, "P4")]  # both versions come back, newest first
    rows, _ = read_all(connector(), Entity.PEOPLE)
    assert [r.key for r in rows] == ["3", "4"]
    assert rows[0].values["about/name"] == "Person P3 (edited)"


def test_an_ambiguous_short_name_is_a_config_error_naming_the_paths(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [submission(1, **{"a/person_id": "P1", "b/person_id": "P1", "roles": "carer"})]
    with pytest.raises(ConfigError, match="a/person_id, b/person_id"):
        read_all(connector(), Entity.PEOPLE)


# -- errors and secrets -------------------------------------------------------------------------


def test_a_refused_token_names_server_and_asset_never_the_token(fake: FakeKobo, caplog: Any) -> None:
    fake.assets[PEOPLE] = [person(1, "P1")]
    caplog.set_level(logging.DEBUG)
    rec = recipe()
    env = {"KOBO_TOKEN": "wrong-token-value-123"}
    c = KoboConnector(
        "kobo", KoboOptions(retries=0), ConnectorContext(recipe=rec, recipe_dir=Path("."), env=env)
    )
    with pytest.raises(SourceUnavailable) as err:
        read_all(c, Entity.PEOPLE)
    text = str(err.value)
    assert SERVER in text and PEOPLE in text and "KOBO_TOKEN" in text and "401" in text
    assert "wrong-token-value-123" not in text and "wrong-token-value-123" not in caplog.text
    assert TOKEN not in caplog.text


def test_a_form_not_found_names_sharing_the_token_and_the_uid(fake: FakeKobo) -> None:
    with pytest.raises(SourceUnavailable) as err:
        read_all(connector(), Entity.PEOPLE)
    text = str(err.value)
    assert "HTTP 404" in text and "this account cannot see this form, or the token is missing" in text
    assert "the form's uid in the recipe" in text and "KOBO_TOKEN" in text


def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DATA, status=503, json={"detail": "down"})
        with pytest.raises(SourceUnavailable, match="HTTP 503") as err:
            read_all(connector(retries=2), Entity.PEOPLE)
        assert len(rsps.calls) == 3
    assert TOKEN not in str(err.value)


def test_a_missing_token_variable_is_named_without_a_value() -> None:
    rec = recipe()
    c = KoboConnector("kobo", KoboOptions(), ConnectorContext(recipe=rec, recipe_dir=Path("."), env={}))
    with pytest.raises(ConfigError, match="KOBO_TOKEN"):
        read_all(c, Entity.PEOPLE)


@pytest.mark.parametrize(
    ("server", "refused"),
    [
        ("http://kf.kobotoolbox.org", True),
        ("http://kobo.ourcharity.org.uk", True),
        ("http://localhost:8000", False),
        ("https://eu.kobotoolbox.org", False),
    ],
)
def test_an_http_server_on_another_machine_is_refused_as_sending_the_token_in_clear(
    server: str, refused: bool
) -> None:
    """Every request carries the API token: over http:// anyone on the way could read it."""
    if refused:
        with pytest.raises(ValueError, match="the API token would cross the network unencrypted"):
            KoboOptions(server=server)
    else:
        assert KoboOptions(server=server).server == server


def test_old_kc_server_address_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match="kc. API is gone"):
        KoboOptions(server="https://kc.kobotoolbox.org")


@pytest.mark.parametrize(
    "pasted",
    [
        "https://kf.kobotoolbox.org/#/forms/aBcD123xyz/summary",
        "https://eu.kobotoolbox.org/#/forms",
        "https://kf.kobotoolbox.org/?lang=en",
        "https://kf.kobotoolbox.org/api/v2",
    ],
)
def test_a_server_address_with_more_than_the_server_is_refused_saying_which_part_to_keep(pasted: str) -> None:
    """A form's page pasted whole as the server was valid: everything after '#' never reaches the
    server, so every request got KoboToolbox's home page and the run stopped at "something that is
    not JSON" (newcomer walkthrough)."""
    with pytest.raises(ValueError, match=r"the part before /#/ in a form's address\); the form's uid goes"):
        KoboOptions(server=pasted)
    assert KoboOptions(server="https://kobo.example.org/kobo/").server == "https://kobo.example.org/kobo"


def test_a_web_page_instead_of_data_names_the_form_and_the_server_setting_to_check() -> None:
    """It said only "KoboToolbox answered a read of submissions with something that is not JSON":
    not which server or form, nor what to do."""
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            DATA,
            status=200,
            body="<html><body>Sign in</body></html>",
            content_type="text/html",
        )
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(retries=0), Entity.PEOPLE)
        assert len(rsps.calls) == 1
    text = str(err.value)
    assert f"KoboToolbox at {SERVER}, form {PEOPLE} answered a read of submissions with a web page" in text
    assert "check server in [sources.kobo] of the recipe" in text and "JSON" not in text
    assert TOKEN not in text


def test_an_answer_that_is_neither_data_nor_a_web_page_is_not_called_a_web_page() -> None:
    """A body cut short (JSON that stops part-way, the connection dropped as it came) was said to be
    "a web page", which sent staff looking at their proxy or sign-in page for what was not one."""
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            DATA,
            status=200,
            body='{"count": 3, "results": [{"_id": 1',
            content_type="application/json",
        )
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(retries=0), Entity.PEOPLE)
        assert len(rsps.calls) == 1
    text = str(err.value)
    assert (
        f"KoboToolbox at {SERVER}, form {PEOPLE} answered a read of submissions with something that is not "
        "KoboToolbox's data (not a web page either: an answer cut short, or another program answering)"
    ) in text
    assert "web page," not in text and "check server in [sources.kobo] of the recipe" in text


# -- write-back ---------------------------------------------------------------------------------


def bodies(calls: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(c.request.body)["payload"] for c in calls]


def test_bulk_edit_groups_submissions_with_the_same_value_into_one_request(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in range(1, 7)]
    fake.assets[SESSIONS] = []
    state = StateStore.open(":memory:")
    c = connector(state=state)
    read_all(c, Entity.PEOPLE)
    owed = [flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue") for i in (1, 2, 3)]
    gap = [flag_for(SubjectKind.PERSON, f"P{i}", "Equality answers missing", Severity.INFO) for i in (4, 5)]
    report = c.write_flags([new(f) for f in owed + gap])
    assert sorted(report.written) == sorted(f.fingerprint for f in owed + gap) and not report.failed
    edits = bodies(fake.calls("PATCH", "/data/bulk/"))
    assert len(edits) == 2
    by_ids = {tuple(b["submission_ids"]): b["data"]["coprod_flags"] for b in edits}
    assert set(by_ids) == {(1, 2, 3), (4, 5)}
    assert by_ids[(1, 2, 3)] == "Warning: Payment overdue"
    assert by_ids[(4, 5)] == "Note: Equality answers missing"
    statuses = bodies(fake.calls("PATCH", "/validation_statuses/"))
    assert statuses == [{"submission_ids": [1, 2, 3], "validation_status.uid": "validation_status_on_hold"}]
    assert report.requests == 3
    assert fake.by_id(PEOPLE, 1)["_id"] == 1  # edited in place: same _id, new version

    # The same changes again (e.g. a retried run): nothing differs, so nothing is written.
    again = connector(state=state)
    read_all(again, Entity.PEOPLE)
    before = len(fake.rsps.calls)
    assert sorted(again.write_flags([new(f) for f in owed]).written) == sorted(f.fingerprint for f in owed)
    assert [c.request.method for c in fake.rsps.calls[before:]] == []


def test_resolved_flags_are_removed_and_the_previous_status_restored(fake: FakeKobo) -> None:
    approved = {"uid": "validation_status_approved", "label": "Approved"}
    fake.assets[PEOPLE] = [person(1, "P1", _validation_status=approved), person(2, "P2")]
    fake.assets[SESSIONS] = []
    state = StateStore.open(":memory:")
    f1 = flag_for(SubjectKind.PERSON, "P1", "Payment overdue")
    f2 = flag_for(SubjectKind.PERSON, "P2", "Payment overdue")
    info = flag_for(SubjectKind.PERSON, "P1", "Benefits check", Severity.INFO)
    c = connector(state=state)
    read_all(c, Entity.PEOPLE)
    c.write_flags([new(f1), new(f2), new(info)])
    assert fake.by_id(PEOPLE, 1)["_validation_status"]["uid"] == "validation_status_on_hold"

    later = connector(state=state)
    read_all(later, Entity.PEOPLE)
    n = len(fake.rsps.calls)
    report = later.write_flags([resolved(f1), resolved(f2)])
    assert sorted(report.written) == sorted([f1.fingerprint, f2.fingerprint])
    sent = fake.rsps.calls[n:]
    assert [(c.request.method, c.request.url.rsplit("/data/", 1)[1]) for c in sent] == [
        ("PATCH", "bulk/"),
        ("PATCH", "bulk/"),
        ("DELETE", "validation_statuses/"),
        ("PATCH", "validation_statuses/"),
    ]
    # KPI's validator wants validation_status.uid even to clear; None is what its own tests send.
    assert bodies(sent[2:]) == [
        {"submission_ids": [2], "validation_status.uid": None},
        {"submission_ids": [1], "validation_status.uid": "validation_status_approved"},
    ]
    assert fake.by_id(PEOPLE, 1)["coprod_flags"] == "Note: Benefits check"
    assert fake.by_id(PEOPLE, 2)["coprod_flags"] == ""
    assert fake.by_id(PEOPLE, 1)["_validation_status"]["uid"] == "validation_status_approved"
    assert fake.by_id(PEOPLE, 2)["_validation_status"] == {}


def test_validation_status_can_be_switched_off(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(1, "P1")]
    fake.assets[SESSIONS] = []
    c = connector(validation_status=False)
    c.write_flags([new(flag_for(SubjectKind.PERSON, "P1", "Payment overdue"))])
    assert not fake.calls("PATCH", "/validation_statuses/") and len(fake.calls("PATCH", "/data/bulk/")) == 1


def test_a_partial_failure_in_the_bulk_answer_is_retried_next_run(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in (1, 2, 3)]
    fake.assets[SESSIONS] = []
    fake.fail_roots = {fake.by_id(PEOPLE, 2)["meta/rootUuid"].removeprefix("uuid:")}
    state = StateStore.open(":memory:")
    flags = [flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue") for i in (1, 2, 3)]
    c = connector(state=state, validation_status=False)
    read_all(c, Entity.PEOPLE)
    report = c.write_flags([new(f) for f in flags])
    assert set(report.failed) == {flags[1].fingerprint}
    assert "submission 2" in report.failed[flags[1].fingerprint]
    assert sorted(report.written) == sorted([flags[0].fingerprint, flags[2].fingerprint])

    fake.fail_roots = set()
    retry = connector(state=state, validation_status=False)
    read_all(retry, Entity.PEOPLE)
    report = retry.write_flags([new(flags[1])])  # the sync hands the failed change over again
    assert report.written == [flags[1].fingerprint] and not report.failed
    assert bodies(fake.calls("PATCH", "/data/bulk/"))[-1]["submission_ids"] == [2]


def test_an_older_server_without_root_uuids_is_matched_by_position(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in (1, 2, 3)]
    fake.assets[SESSIONS] = []
    fake.bulk_roots = False
    fake.fail_roots = {fake.by_id(PEOPLE, 3)["meta/rootUuid"].removeprefix("uuid:")}
    flags = [flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue") for i in (1, 2, 3)]
    c = connector(validation_status=False)
    read_all(c, Entity.PEOPLE)
    report = c.write_flags([new(f) for f in flags])
    assert set(report.failed) == {flags[2].fingerprint}
    assert sorted(report.written) == sorted([flags[0].fingerprint, flags[1].fingerprint])


def test_a_bulk_answer_that_cannot_be_matched_fails_every_submission_in_it() -> None:
    roots = {1: "r1", 2: "r2", 3: "r3"}
    ok = {"uuid": "new", "status_code": 201, "message": "Successful submission"}
    failure = {"uuid": "new", "root_uuid": None, "status_code": 400, "message": "Something went wrong"}
    with_roots = {"results": [{**ok, "root_uuid": "r1"}, failure, {**ok, "root_uuid": "uuid:r3"}]}
    assert unsaved(with_roots, [1, 2, 3], roots) == [2]
    assert unsaved({"results": [ok, failure, ok]}, [3, 1, 2], roots) == [2]  # by position, _id order
    assert unsaved({"results": [ok, ok]}, [1, 2, 3], roots) == [1, 2, 3]  # one missing: which?
    assert unsaved({"detail": "Could not updated submissions"}, [1, 2], roots) == [1, 2]


def test_a_server_that_does_not_answer_names_server_and_asset_without_the_token() -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DATA, body=requests.exceptions.ConnectTimeout(f"Token {TOKEN} timed out"))
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(retries=0), Entity.PEOPLE)
    text = str(err.value)
    assert "no answer while reading submissions" in text and SERVER in text and PEOPLE in text
    assert TOKEN not in text


def _no_connection(reason: Exception) -> requests.ConnectionError:
    """What requests raises once urllib3's retries are spent on a connection that never opened."""
    return requests.ConnectionError(MaxRetryError(None, "/api/v2/", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raised", "words"),
    [
        (
            _no_connection(
                NameResolutionError("kf.kobotoolbx.org", None, OSError("Name or service not known"))
            ),  # type: ignore[arg-type]
            "its name could not be looked up: NameResolutionError",
        ),
        (
            _no_connection(
                NewConnectionError(
                    None, "Failed to establish a new connection: [Errno 111] Connection refused"
                )
            ),  # type: ignore[arg-type]
            "the connection was refused: nothing answers at that address: ConnectionError",
        ),
        (
            requests.exceptions.SSLError("certificate verify failed"),
            "the secure (https) connection failed: SSLError",
        ),
    ],
)
def test_a_server_not_reached_says_why_in_words(raised: Exception, words: str) -> None:
    """It said only "(ConnectionError)", the same for a mistyped address, a server that is off and
    anything else (newcomer walkthrough)."""
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DATA, body=raised)
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(retries=0), Entity.PEOPLE)
        assert len(rsps.calls) == 1
    assert str(err.value) == (
        f"KoboToolbox at {SERVER}, form {PEOPLE}: no answer while reading submissions after 1 try ({words}); "
        "check the server address and the network, then run again"
    )


def test_record_and_session_flags_go_to_their_submissions(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = []
    fake.assets[SESSIONS] = [submission(7, session_date="2026-03-03", attendees=[]), submission(9)]
    c = connector(validation_status=False)
    read_all(c, Entity.SESSIONS)
    session_flag = flag_for(SubjectKind.SESSION, "7", "Decision without lived experience")
    record_flag = flag_for(SubjectKind.RECORD, "attendance:9/2", "Unknown person")
    c.write_flags([new(session_flag), new(record_flag)])
    assert sorted(b["submission_ids"][0] for b in bodies(fake.calls("PATCH", "/data/bulk/"))) == [7, 9]


def test_write_without_a_prior_read_fetches_only_what_it_needs(fake: FakeKobo) -> None:
    fake.assets[SESSIONS] = [submission(i) for i in range(1, 30)]
    fake.assets[PEOPLE] = []
    c = connector(validation_status=False)
    c.write_flags([new(flag_for(SubjectKind.RECORD, "sessions:12", "Date not understood"))])
    get = fake.calls("GET", "/data/")[-1]
    assert json.loads(query_of(get)["query"]) == {"_id": {"$in": [12]}}
    assert "coprod_flags" in json.loads(query_of(get)["fields"])


# -- install ------------------------------------------------------------------------------------

CONTENT = {
    "survey": [
        {"type": "begin_group", "name": "about"},
        {"type": "text", "name": "person_id"},
        {"type": "text", "name": "name"},
        {"type": "select_multiple roles", "name": "roles"},
        {"type": "end_group"},
        {"type": "select_one ethnicity", "name": "ethnicity"},
        {"type": "hidden", "name": "coprod_flags"},
    ]
}
SESSION_CONTENT = {
    "survey": [
        {"type": "date", "name": "session_date"},
        {"type": "select_one kinds", "name": "kind"},
        {"type": "begin_group", "name": "details"},
        {"type": "decimal", "name": "hours"},
        {"type": "end_group"},
        {"type": "begin_repeat", "name": "attendees"},
        {"type": "text", "name": "attendee_id"},
        {"type": "decimal", "name": "hours_attended"},
        {"type": "end_repeat"},
        {"type": "hidden", "name": "coprod_flags"},
    ]
}


def test_install_twice_creates_one_hook_with_the_secret_header(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobo-test"
    first = connector(hook_endpoint=endpoint).install()
    second = connector(hook_endpoint=endpoint).install()
    assert len(fake.hooks[PEOPLE]) == 1 and len(fake.hooks[SESSIONS]) == 1
    hook = fake.hooks[PEOPLE][0]
    assert hook["endpoint"] == endpoint and hook["export_type"] == "json" and hook["active"] is True
    assert hook["settings"]["custom_headers"] == {"X-Coprod-Secret": "hook-shared-secret"}
    assert len(fake.calls("POST", "/hooks/")) == 2 and not fake.calls("PATCH", "/hooks/")
    assert any("created" in line for line in first) and any("up to date" in line for line in second)
    assert not any("hook-shared-secret" in line or TOKEN in line for line in first + second)


def test_install_updates_a_hook_whose_secret_changed(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobo-test"
    connector(hook_endpoint=endpoint).install()
    c = connector(hook_endpoint=endpoint)
    c.context.env["COPROD_KOBO_HOOK_SECRET"] = "rotated-secret"  # type: ignore[index]
    lines = c.install()
    assert len(fake.hooks[PEOPLE]) == 1 and len(fake.calls("PATCH", "/hooks/")) == 2
    assert fake.hooks[PEOPLE][0]["settings"]["custom_headers"]["X-Coprod-Secret"] == "rotated-secret"
    assert any("updated" in line for line in lines)


def test_install_sets_a_hook_sending_chosen_fields_or_a_template_back_to_whole_submissions(
    fake: FakeKobo,
) -> None:
    """Someone chose fields (``subset_fields``) or a template (``payload_template``) in the REST
    Service's settings: the webhook app would get part of each submission, so install resets both
    (kpi's serializer takes an empty list and a null template) and says so, once."""
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobo-test"
    connector(hook_endpoint=endpoint).install()
    fake.hooks[PEOPLE][0]["subset_fields"] = ["_id", "person_id"]
    fake.hooks[SESSIONS][0]["payload_template"] = '{"form": %SUBMISSION%}'
    lines = connector(hook_endpoint=endpoint).install()
    patches = fake.calls("PATCH", "/hooks/")
    assert len(patches) == 2
    for call in patches:
        body = json.loads(call.request.body)
        assert (body["subset_fields"], body["payload_template"]) == ([], None)
        assert body["settings"]["custom_headers"]["X-Coprod-Secret"] == "hook-shared-secret"
    assert [h["subset_fields"] for h in fake.hooks[PEOPLE] + fake.hooks[SESSIONS]] == [[], []]
    assert [h["payload_template"] for h in fake.hooks[PEOPLE] + fake.hooks[SESSIONS]] == [None, None]
    assert sum("now the whole submission" in line for line in lines) == 2
    again = connector(hook_endpoint=endpoint).install()
    assert len(fake.calls("PATCH", "/hooks/")) == 2 and sum("up to date" in line for line in again) == 2


def test_install_names_mapped_questions_missing_from_the_form(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: {"survey": [{"type": "text", "name": "person_id"}]}, SESSIONS: SESSION_CONTENT}
    with pytest.raises(ConfigError) as err:
        connector(hook_endpoint="https://coprod.example.org/h").install()
    assert "no question 'about/name'" in str(err.value) and "no question 'roles'" in str(err.value)
    assert not fake.calls("POST", "/hooks/")


def test_install_with_a_refused_token_says_what_to_check(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT}
    rec = recipe()
    env = {"KOBO_TOKEN": "not-the-right-one"}
    c = KoboConnector(
        "kobo", KoboOptions(retries=0), ConnectorContext(recipe=rec, recipe_dir=Path("."), env=env)
    )
    with pytest.raises(SourceUnavailable, match="HTTP 401") as err:
        c.install()
    assert "not-the-right-one" not in str(err.value) and PEOPLE in str(err.value)
    assert "KOBO_TOKEN does not hold a current API key" in str(err.value)


def test_install_warns_that_a_private_hook_address_is_accepted_but_never_sent_to(fake: FakeKobo) -> None:
    """kpi created a REST Service for https://10.1.2.3/hook (201): it is refused at send time, not here."""
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    lines = connector(hook_endpoint="https://10.1.2.3/hooks/kobotoolbox/kobo-test").install()
    assert len(fake.hooks[PEOPLE]) == 1 and len(fake.hooks[SESSIONS]) == 1
    warning = [line for line in lines if "warning" in line]
    assert len(warning) == 1 and "private address" in warning[0] and "never sends" in warning[0]
    assert not any("refuses private" in line for line in lines)


def test_a_server_refusing_http_rest_services_is_named_with_the_address_and_what_to_do(
    fake: FakeKobo,
) -> None:
    """kpi's ALLOW_UNSECURED_HOOK_ENDPOINTS off (it is on by default): an http:// REST Service is a
    400 {"endpoint": ["Unsecured endpoint is not allowed"]}. Install says which address, that the
    server takes https only, and both ways out, naming the recipe setting; never a secret."""
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    fake.allow_unsecured_hooks = False
    endpoint = "http://user:pa55word@coprod.example.org:8080/hooks/kobotoolbox/kobo-test?key=s3cr3t"

    with pytest.raises(ConfigError) as err:
        connector(hook_endpoint=endpoint).install()

    (post,) = fake.calls("POST", "/hooks/")
    assert json.loads(post.request.body)["endpoint"] == endpoint  # the address was sent as given
    assert fake.hooks.get(PEOPLE, []) == [] and fake.hooks.get(SESSIONS, []) == []
    text = str(err.value)
    assert (
        "refused the REST Service address http://coprod.example.org:8080/hooks/kobotoolbox/kobo-test " in text
    )
    assert "'Unsecured endpoint is not allowed'" in text and "only https://" in text
    assert "as hook_endpoint under [sources.kobo]" in text and "ask the server's administrator" in text
    assert "ALLOW_UNSECURED_HOOK_ENDPOINTS" in text
    for secret in (TOKEN, "hook-shared-secret", "pa55word", "s3cr3t"):
        assert secret not in text


def test_the_same_http_address_is_accepted_by_a_server_left_at_kpis_default(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    endpoint = "http://coprod.example.org/hooks/kobotoolbox/kobo-test"
    connector(hook_endpoint=endpoint).install()
    assert [h["endpoint"] for h in fake.hooks[PEOPLE] + fake.hooks[SESSIONS]] == [endpoint, endpoint]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8000/h", "local"),
        ("https://localhost/h", "local"),
        ("https://192.168.1.5/h", "private"),
        ("https://coprod.example.org/h", ""),
        ("https://8.8.8.8/h", ""),
    ],
)
def test_private_and_local_hook_addresses_are_told_apart_from_public_ones(url: str, kind: str) -> None:
    assert private_address(url) == kind


CLASHING_CONTENT = {
    "survey": [
        *SESSION_CONTENT["survey"][:2],
        {"type": "begin_group", "name": "details"},
        {"type": "decimal", "name": "hours"},
        {"type": "end_group"},
        {"type": "begin_repeat", "name": "attendees"},
        {"type": "text", "name": "attendee_id"},
        {"type": "decimal", "name": "hours"},
        {"type": "end_repeat"},
        {"type": "hidden", "name": "coprod_flags"},
    ]
}
"""A form deployed before kpi refused one name used twice (the session form coprod used to ship)."""


def test_install_names_a_question_name_a_deployed_form_uses_twice(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: CLASHING_CONTENT}
    rec = recipe()
    attendance = rec.entities[Entity.ATTENDANCE]
    fields = {**attendance.fields, "hours": "attendees/hours"}
    rec = rec.model_copy(
        update={
            "entities": {**rec.entities, Entity.ATTENDANCE: attendance.model_copy(update={"fields": fields})}
        }
    )
    lines = connector(rec).install()
    warning = [line for line in lines if "warning" in line]
    assert len(warning) == 1 and SESSIONS in warning[0]
    assert "'hours' is used by details/hours and attendees/hours" in warning[0]
    assert "Duplicate node name: hours" in warning[0] and "deploy it again" in warning[0]


def test_install_stops_at_an_undeployed_form_naming_the_question_used_twice(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: CLASHING_CONTENT}
    fake.undeployed = {SESSIONS}
    with pytest.raises(ConfigError) as err:
        connector().install()
    text = str(err.value)
    assert f"form {SESSIONS} is not deployed" in text
    assert "'hours' is used by details/hours and attendees/hours" in text and "will not deploy it" in text


# -- flags field and validation statuses, as kpi answers them -------------------------------------


def form_reads(fake: FakeKobo) -> int:
    return sum(c.request.url.endswith(f"/assets/{PEOPLE}/") for c in fake.calls("GET"))


def test_a_flags_field_the_deployed_form_lacks_is_never_written(fake: FakeKobo) -> None:
    """kpi would store it as a stray field in every flagged record (a new version each)."""
    fake.assets[PEOPLE] = [person(1, "P1"), person(2, "P2")]
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    flags = [flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue") for i in (1, 2)]
    c = connector(flags_field="coprod_flag")
    read_all(c, Entity.PEOPLE)
    report = c.write_flags([new(f) for f in flags])
    assert not fake.calls("PATCH") and form_reads(fake) == 1
    assert set(report.failed) == {f.fingerprint for f in flags} and not report.written
    why = report.failed[flags[0].fingerprint]
    assert "no question 'coprod_flag' (flags_field)" in why and "stray field" in why
    assert "coprod_flag" not in fake.by_id(PEOPLE, 1) and "coprod_flags" not in fake.by_id(PEOPLE, 1)


def test_the_flags_field_is_checked_against_the_form_once_then_remembered(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(1, "P1"), person(2, "P2")]
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    state = StateStore.open(":memory:")
    for i in (1, 2):
        c = connector(state=state, validation_status=False)
        read_all(c, Entity.PEOPLE)
        c.write_flags([new(flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue"))])
    # one read of the form a run: its details serve the change check and the flags field's check
    assert form_reads(fake) == 2 and len(fake.calls("PATCH", "/bulk/")) == 2
    assert state.get_meta("kobo-test", f"kobo:flags_field:{PEOPLE}") == "coprod_flags -> coprod_flags"
    moved = connector(state=state, validation_status=False, flags_field="about/coprod_flags")
    read_all(moved, Entity.PEOPLE)
    report = moved.write_flags([new(flag_for(SubjectKind.PERSON, "P1", "Benefits check"))])
    assert form_reads(fake) == 3, "a changed flags_field is checked again"
    assert report.failed and len(fake.calls("PATCH", "/bulk/")) == 2


@pytest.mark.parametrize("uid", ["on_hold", "validation_status_approved", "Validation_status_on_hold"])
def test_a_hold_status_kobotoolbox_would_not_set_is_refused_when_the_recipe_is_validated(uid: str) -> None:
    """kpi answers "1 submissions have been updated" to ``on_hold`` and sets nothing."""
    with pytest.raises(ValueError, match="hold_status") as err:
        KoboOptions.model_validate({"hold_status": uid})
    assert "validation_status_on_hold" in str(err.value)


def test_a_chosen_hold_status_is_set_and_lifted(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(1, "P1")]
    state = StateStore.open(":memory:")
    overdue = flag_for(SubjectKind.PERSON, "P1", "Payment overdue")
    c = connector(state=state, hold_status="validation_status_not_approved")
    read_all(c, Entity.PEOPLE)
    c.write_flags([new(overdue)])
    assert fake.by_id(PEOPLE, 1)["_validation_status"]["uid"] == "validation_status_not_approved"
    later = connector(state=state, hold_status="validation_status_not_approved")
    read_all(later, Entity.PEOPLE)
    later.write_flags([resolved(overdue)])
    assert fake.by_id(PEOPLE, 1)["_validation_status"] == {}
    assert [c.request.method for c in fake.calls("DELETE", "/validation_statuses/")] == ["DELETE"]


def test_a_status_that_is_not_kobotoolbox_s_is_cleared_not_restored(fake: FakeKobo) -> None:
    """Restoring an uid kpi does not know would answer "updated" and leave the record on hold."""
    fake.assets[PEOPLE] = [person(1, "P1", _validation_status={"uid": "validation_status_custom"})]
    state = StateStore.open(":memory:")
    overdue = flag_for(SubjectKind.PERSON, "P1", "Payment overdue")
    c = connector(state=state)
    read_all(c, Entity.PEOPLE)
    c.write_flags([new(overdue)])
    later = connector(state=state)
    read_all(later, Entity.PEOPLE)
    later.write_flags([resolved(overdue)])
    assert bodies(fake.calls("DELETE", "/validation_statuses/")) == [
        {"submission_ids": [1], "validation_status.uid": None}
    ]
    assert fake.by_id(PEOPLE, 1)["_validation_status"] == {}


def test_a_submission_deleted_before_its_status_is_set_does_not_hold_back_the_others(fake: FakeKobo) -> None:
    """Statuses switched on after the flags were written: only statuses change; one record was deleted
    between the read and the write, which fails kpi's whole bulk request (400)."""
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in (1, 2, 3)]
    state = StateStore.open(":memory:")
    flags = [flag_for(SubjectKind.PERSON, f"P{i}", "Payment overdue") for i in (1, 2, 3)]
    first = connector(state=state, validation_status=False)
    read_all(first, Entity.PEOPLE)
    first.write_flags([new(f) for f in flags])
    c = connector(state=state)
    read_all(c, Entity.PEOPLE)
    fake.assets[PEOPLE] = [s for s in fake.assets[PEOPLE] if s["_id"] != 2]
    report = c.write_flags([new(f) for f in flags])
    assert not report.failed and sorted(report.written) == sorted(f.fingerprint for f in flags)
    assert [b["submission_ids"] for b in bodies(fake.calls("PATCH", "/validation_statuses/"))] == [
        [1, 2, 3],
        [1, 3],
    ]
    assert fake.by_id(PEOPLE, 1)["_validation_status"]["uid"] == "validation_status_on_hold"
    assert fake.by_id(PEOPLE, 3)["_validation_status"]["uid"] == "validation_status_on_hold"


# -- what the flags field holds (flags_text) ------------------------------------------------------

LINES = ["Critical: Payment overdue", "Note: Payment due", "Warning: Value not understood"] + [
    "Warning: Value not understood"
]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("lines", "Critical: Payment overdue\nWarning: Value not understood (2)\nNote: Payment due"),
        ("worst", "Critical: Payment overdue, and more"),
        ("severity", "Critical"),
    ],
)
def test_flags_text_chooses_how_much_of_the_open_flags_the_field_holds(text: str, value: str) -> None:
    assert compose(LINES, text) == value
    assert compose([], text) == ""


def test_worst_says_more_only_when_more_is_open() -> None:
    assert compose(["Note: Payment due"], "worst") == "Note: Payment due"
    assert compose(["Note: Payment due"] * 2, "worst") == "Note: Payment due, and more"


def test_a_shorter_flags_text_makes_fewer_bulk_edits_for_the_same_flags(fake: FakeKobo) -> None:
    fake.assets[PEOPLE] = [person(i, f"P{i}") for i in range(1, 5)]
    titles = {1: ["Payment overdue"], 2: ["Payment overdue", "Expenses overdue"], 3: ["Expenses overdue"]}
    titles[4] = ["Payment overdue", "Value not understood"]
    changes = [new(flag_for(SubjectKind.PERSON, f"P{i}", t)) for i, ts in titles.items() for t in ts]
    c = connector(validation_status=False)
    read_all(c, Entity.PEOPLE)
    c.write_flags(changes)
    lines_edits = len(fake.calls("PATCH", "/bulk/"))
    short = connector(validation_status=False, flags_text="severity")
    read_all(short, Entity.PEOPLE)
    short.write_flags(changes)
    edits = bodies(fake.calls("PATCH", "/bulk/"))[lines_edits:]
    assert lines_edits == 4 and edits == [
        {"submission_ids": [1, 2, 3, 4], "data": {"coprod_flags": "Warning"}}
    ]


def test_an_unknown_flags_text_is_refused_when_the_recipe_is_validated() -> None:
    with pytest.raises(ValueError, match="flags_text"):
        KoboOptions.model_validate({"flags_text": "messages"})


def test_a_sync_of_a_form_never_deployed_says_to_deploy_it(fake: FakeKobo) -> None:
    """kpi answers the data of a form never deployed with a 400 (ObjectDeploymentDoesNotExist)."""
    fake.assets[PEOPLE] = [person(1, "P1")]
    fake.undeployed = {PEOPLE}
    with pytest.raises(SourceUnavailable) as err:
        read_all(connector(), Entity.PEOPLE)
    assert "the form is not deployed, so KoboToolbox refused reading submissions" in str(err.value)
    assert "Deploy" in str(err.value)
    assert len(fake.calls("GET", f"/assets/{PEOPLE}/data/")) == 1  # a refusal is not retried


@pytest.mark.parametrize("status", [401, 403, 404, 418, 500])
def test_what_staff_read_calls_a_form_a_form_not_an_asset(status: int) -> None:
    """KoboToolbox's API calls a form an asset; recipes/kobotoolbox/README.md, which is what staff
    have, says the form and its uid. Messages said "KoboToolbox at ..., asset aPeopleForm" and
    "Check too the asset uid in the recipe" (newcomer walkthrough)."""
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DATA, status=status, json={"detail": "no"})
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(retries=0), Entity.PEOPLE)
        assert len(rsps.calls) == 1
    text = str(err.value)
    assert text.startswith(f"KoboToolbox at {SERVER}, form {PEOPLE}") and "asset" not in text.lower()


def test_install_and_its_refusals_call_a_form_a_form_not_an_asset(fake: FakeKobo) -> None:
    fake.content = {PEOPLE: CONTENT, SESSIONS: SESSION_CONTENT}
    endpoint = "https://coprod.example.org/hooks/kobotoolbox/kobo-test"
    lines = connector(hook_endpoint=endpoint).install() + connector(hook_endpoint=endpoint).install()
    assert any(f"the token can open form {SESSIONS} (sessions, attendance)" in line for line in lines)
    assert any(f"created the REST Service 'coprod kobo-test' on form {SESSIONS}" in line for line in lines)
    assert any(
        f"REST Service 'coprod kobo-test' on form {SESSIONS} is already up to date" in line for line in lines
    )
    assert len(fake.calls("POST", "/hooks/")) == 2
    fake.undeployed = {SESSIONS}
    with pytest.raises(ConfigError) as err:
        connector().install()
    said = [*lines, str(err.value)]
    assert f"form {SESSIONS} is not deployed" in said[-1]
    assert not [line for line in said if "asset" in line.lower()]
    no_location = recipe()
    no_location.entities[Entity.PEOPLE] = no_location.entities[Entity.PEOPLE].model_copy(
        update={"location": None}
    )
    with pytest.raises(ConfigError) as err:
        read_all(connector(no_location), Entity.PEOPLE)
    assert str(err.value).startswith("[entities.people] location must be the form's uid in KoboToolbox")
