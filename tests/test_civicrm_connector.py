"""The CiviCRM connector against a faked APIv4 (``responses``): what it sends, reads, writes and says."""

from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NameResolutionError

from coprod.connectors.base import ConfigError, ConnectorContext, SourceUnavailable
from coprod.connectors.civicrm import CIVICRM_STATUS_WORDS, CiviCRMConnector, CiviCRMOptions
from coprod.connectors.registry import build_connector
from coprod_core.flags import Flag, Severity, Subject, SubjectKind, make_flag
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, KnownFlag, UnreadStatus
from coprod_core.mapping import map_dataset
from coprod_core.model import Role
from coprod_core.recipe import Entity, Recipe, parse_recipe
from coprod_core.removed import REMOVED_DIGEST
from fakes.civicrm import (
    API_KEY,
    ENDPOINT,
    MINIMAL,
    NO_DELETE,
    NO_VIEW_ACTIVITIES,
    USER_CONTACT_ID,
    FakeCiviCRM,
    seed_panel,
)

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes" / "civicrm"
RUN_DATE = date(2026, 6, 1)


def load_recipe_data() -> dict[str, Any]:
    return tomllib.loads((RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8"))


def recipe(data: dict[str, Any] | None = None) -> Recipe:
    """The CiviCRM recipe, or ``data`` (an edited copy of it), parsed and valid."""
    parsed, problems = parse_recipe(load_recipe_data() if data is None else data, "recipe.toml")
    assert parsed is not None, problems
    return parsed


def connector(
    env: dict[str, str] | None = None, the_recipe: Recipe | None = None, **options: Any
) -> CiviCRMConnector:
    r = the_recipe or recipe()
    ctx = ConnectorContext(
        recipe=r, recipe_dir=RECIPE_DIR, env={"CIVICRM_API_KEY": API_KEY} if env is None else env
    )
    opts = CiviCRMOptions.model_validate({**r.sources["crm"].options, **options})
    return CiviCRMConnector("crm", opts, ctx)


def api_user_fake() -> FakeCiviCRM:
    """A fake site served through ``responses`` holding only the API user's own contact."""
    fake = FakeCiviCRM().register(responses.mock)
    fake.add("Contact", id=USER_CONTACT_ID)
    return fake


def read_all(c: CiviCRMConnector, entity: Entity) -> list[Any]:
    spec = c.context.recipe.entities[entity]
    return [row for page in c.read(entity, spec) for row in page.rows]


def flag(kind: SubjectKind, subject_id: str, title: str = "A problem", project: str | None = None) -> Flag:
    return make_flag(
        check_id="payments.overdue",
        severity=Severity.WARNING,
        subject=Subject(kind=kind, id=subject_id),
        title=title,
        message=f"Something about {subject_id} <b>needs</b> doing.",
        evidence={"owed": "75.00", "days": 61},
        project_id=project,
    )


def change(f: Flag, kind: ChangeKind = ChangeKind.NEW) -> FlagChange:
    return FlagChange(kind, KnownFlag.from_flag(f, FlagStatus.OPEN, RUN_DATE, RUN_DATE), f)


def resolved(f: Flag) -> FlagChange:
    return FlagChange(
        ChangeKind.RESOLVED, KnownFlag.from_flag(f, FlagStatus.RESOLVED, RUN_DATE, RUN_DATE), None
    )


# ------------------------------------------------------------------------------- reading
@responses.activate
def test_1200_contacts_are_read_in_pages_by_id_with_form_encoded_params_and_auth_headers() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=1200, events=0, participants=0, campaigns=0)
    c = connector()

    rows = read_all(c, Entity.PEOPLE)

    assert len(rows) == 1200  # panel members only, not the admin and API user contacts
    gets = [call for call in fake.calls if call.entity == "Contact"]
    assert len(gets) == 3  # the credential proof, then 1000 + 200
    proof, first, second = gets
    assert proof.params["where"] == [["id", "=", "user_contact_id"]]
    assert first.params["limit"] == 1000 and first.params["orderBy"] == {"id": "ASC"}
    assert first.params["where"] == [["groups:name", "IN", ["Coproduction_Panel"]]]
    assert second.params["where"][-1] == ["id", ">", int(rows[999].key)]
    assert first.params["select"] == [
        "id",
        "display_name",
        "Coprod_Panel.Roles:name",
        "Coprod_Panel.Payment_Preference:name",
        "Coprod_Panel.Benefits_Check",
        "Equalities.Ethnicity:name",
        "Equalities.Age_Band:name",
        "Equalities.Disability:name",
        "gender_id:name",
    ]
    for call in fake.calls:
        assert call.content_type.startswith("application/x-www-form-urlencoded")
        assert call.headers["X-Civi-Auth"] == f"Bearer {API_KEY}"
        assert call.headers["X-Requested-With"] == "XMLHttpRequest"
        assert "X-Civi-Key" not in call.headers  # no site key set
    assert rows[0].ref == f"Contact {rows[0].key}" and rows[0].values["id"] == rows[0].key


@responses.activate
def test_the_request_body_is_the_params_form_field_never_json() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=3, events=0, participants=0, campaigns=0)
    read_all(connector(env={"CIVICRM_API_KEY": API_KEY, "CIVICRM_SITE_KEY": "site-key-1234"}), Entity.PEOPLE)
    body = responses.calls[-1].request.body
    form = parse_qs(body if isinstance(body, str) else body.decode())
    assert list(form) == ["params"]
    assert json.loads(form["params"][0])["limit"] == 1000
    assert fake.calls[-1].headers["X-Civi-Key"] == "site-key-1234"


@responses.activate
def test_custom_fields_and_option_names_map_onto_roles_and_demographics() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    fake.add("Contact", id=USER_CONTACT_ID, display_name="API")
    fake.add(
        "Contact",
        id=17,
        display_name="Sam",
        **{
            "groups:name": ["Coproduction_Panel"],
            "Coprod_Panel.Roles:name": ["Lived_experience", "Carer"],
            "Coprod_Panel.Payment_Preference:name": "Declined",
            "Coprod_Panel.Benefits_Check": True,
            "Equalities.Ethnicity:name": "Asian",
            "Equalities.Age_Band:name": "25_44",
            "Equalities.Disability:name": "Yes",
            "gender_id:name": "Female",
        },
    )
    c = connector()
    rows = read_all(c, Entity.PEOPLE)

    assert rows[0].values["Coprod_Panel.Roles:name"] == ["Lived_experience", "Carer"]  # a list stays a list
    mapped = map_dataset(c.context.recipe, {Entity.PEOPLE: rows})
    person = mapped.dataset.people[0]
    assert person.id == "17" and person.name == "Sam"
    assert person.roles == frozenset({Role.LIVED_EXPERIENCE, Role.CARER})
    assert person.payment_preference == "declined" and person.benefits_opt_in is True
    assert person.demographics["ethnicity"] == "asian"
    assert person.demographics["disability"] == "disabled"
    assert person.demographics["sex"] == "female"


@responses.activate
def test_label_option_fields_are_selected_as_named_and_mapped_through_the_value_map() -> None:
    data = load_recipe_data()
    data["entities"]["people"]["demographics"]["ethnicity"] = "Equalities.Ethnicity:label"
    data["entities"]["people"]["values"]["ethnicity"] = {"Asian or Asian British": "asian"}
    parsed = recipe(data)
    fake = api_user_fake()
    fake.add(
        "Contact",
        id=17,
        display_name="Sam",
        **{
            "groups:name": ["Coproduction_Panel"],
            "Coprod_Panel.Roles:name": ["Carer"],
            "Equalities.Ethnicity:label": "Asian or Asian British",
        },
    )
    c = connector(the_recipe=parsed)

    rows = read_all(c, Entity.PEOPLE)

    assert "Equalities.Ethnicity:label" in fake.calls[-1].params["select"]
    person = map_dataset(parsed, {Entity.PEOPLE: rows}).dataset.people[0]
    assert person.demographics["ethnicity"] == "asian"


@responses.activate
def test_payments_are_contributions_of_the_named_financial_type_that_completed() -> None:
    fake = api_user_fake()
    for contact in (5, 6):
        fake.add("Contact", id=contact, **{"groups:name": ["Coproduction_Panel"]})
    paid = {"contribution_status_id:name": "Completed", "contact_id.groups:name": ["Coproduction_Panel"]}
    fake.add(
        "Contribution",
        contact_id=5,
        total_amount=75.0,
        **paid,
        **{"financial_type_id:name": "Participation_payment"},
    )
    fake.add(
        "Contribution", contact_id=5, total_amount=20.0, **paid, **{"financial_type_id:name": "Donation"}
    )
    fake.add(
        "Contribution",
        contact_id=6,
        total_amount=75.0,
        **{"financial_type_id:name": "Participation_payment", "contribution_status_id:name": "Pending"},
    )

    rows = read_all(connector(), Entity.PAYMENTS)

    assert [(r.values["contact_id"], r.values["total_amount"]) for r in rows] == [("5", "75")]
    where = fake.calls[-1].params["where"]
    assert ["financial_type_id:name", "IN", ["Participation_payment"]] in where
    assert ["contribution_status_id:name", "IN", ["Completed"]] in where


@responses.activate
def test_payments_can_be_activities_of_a_named_type_and_contribution_options_are_refused_there() -> None:
    data = load_recipe_data()
    data["entities"]["payments"]["location"] = "Activity"
    data["entities"]["payments"]["options"] = {
        "activity_types": "Participation payment",
        "statuses": ["Completed"],
    }
    parsed = recipe(data)
    fake = api_user_fake()

    read_all(connector(the_recipe=parsed), Entity.PAYMENTS)

    where = fake.calls[-1].params["where"]
    assert fake.calls[-1].entity == "Activity"
    assert where[:2] == [
        ["status_id:name", "IN", ["Completed"]],
        ["activity_type_id:name", "IN", ["Participation payment"]],
    ]
    data["entities"]["payments"]["options"] = {"financial_types": ["Participation_payment"]}
    parsed = recipe(data)
    with pytest.raises(ConfigError) as raised:
        read_all(connector(the_recipe=parsed), Entity.PAYMENTS)
    assert "[entities.payments.options]" in str(raised.value) and "Contribution only" in str(raised.value)


@responses.activate
def test_projects_are_campaigns_with_their_label_and_the_day_the_plan_was_drafted() -> None:
    fake = api_user_fake()
    fake.add(
        "Campaign",
        id=4,
        title="Day service redesign",
        **{
            "Coprod_Project.Label:name": "Co_production",
            "Coprod_Project.Stages_Reached:name": ["Design", "Planning"],
            "Coprod_Project.Plan_Drafted": "2026-02-12 00:00:00",
        },
    )
    c = connector()

    rows = read_all(c, Entity.PROJECTS)

    assert fake.calls[-1].entity == "Campaign" and fake.calls[-1].params["limit"] == 1000
    assert rows[0].values["Coprod_Project.Plan_Drafted"] == "2026-02-12"
    assert rows[0].values["Coprod_Project.Stages_Reached:name"] == ["Design", "Planning"]
    assert c.campaign_for_project("4") == 4


@responses.activate
def test_attendance_counts_only_attended_participants_of_the_panel_group() -> None:
    fake = api_user_fake()
    for contact in (5, 6, 7):
        fake.add("Contact", id=contact, **{"groups:name": ["Coproduction_Panel"]})
    panel = {"contact_id.groups:name": ["Coproduction_Panel"], "role_id:name": ["Attendee", "Speaker"]}
    fake.add("Participant", contact_id=5, event_id=1, **{"status_id:name": "Attended"}, **panel)
    fake.add("Participant", contact_id=6, event_id=1, **{"status_id:name": "No-show"}, **panel)
    fake.add("Participant", contact_id=7, event_id=1, **{"status_id:name": "Cancelled"}, **panel)
    c = connector()

    rows = read_all(c, Entity.ATTENDANCE)

    assert [r.values["contact_id"] for r in rows] == ["5"]
    where = fake.calls[-1].params["where"]
    assert ["contact_id.groups:name", "IN", ["Coproduction_Panel"]] in where
    assert ["status_id:name", "IN", ["Attended"]] in where


@responses.activate
def test_event_hours_come_from_start_and_end_and_the_date_is_the_day() -> None:
    fake = api_user_fake()
    fake.add(
        "Event",
        id=3,
        title="Budget meeting",
        start_date="2026-03-03 10:00:00",
        end_date="2026-03-03 12:30:00",
        campaign_id=4,
        **{"event_type_id:name": "Meeting", "Coprod_Session.Decision_Taken": True},
    )
    c = connector()

    rows = read_all(c, Entity.SESSIONS)

    assert rows[0].values["hours"] == "2.5"
    assert rows[0].values["start_date"] == "2026-03-03"
    assert "hours" not in fake.calls[-1].params["select"]  # computed, not asked for
    assert {"start_date", "end_date", "campaign_id"} <= set(fake.calls[-1].params["select"])
    assert c.campaign_for_session("3") == 4


@responses.activate
def test_an_anonymous_empty_answer_is_refused_before_anything_is_read() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=10, events=0, participants=0, campaigns=0)
    fake.ignore_auth_header = True  # as when a proxy strips X-Civi-Auth
    c = connector()

    with pytest.raises(SourceUnavailable) as raised:
        read_all(c, Entity.PEOPLE)

    assert "anonymous visitor" in str(raised.value) and "CIVICRM_API_KEY" in str(raised.value)
    assert [(call.entity, call.action) for call in fake.calls] == [("Contact", "get")]  # only the proof


@responses.activate
def test_a_sync_with_an_unproven_credential_stops_and_resolves_nothing(tmp_path: Path) -> None:
    from coprod.config import LoadedRecipe
    from coprod.state import StateStore
    from coprod.sync import run

    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=20, events=5, participants=40, campaigns=2)
    loaded = LoadedRecipe(recipe=recipe(), path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:")
    first = run(loaded, state=state, connectors={"crm": connector()}, run_date=RUN_DATE)
    assert first.exit_code == 0, first.messages
    known = len(state.known_flags(loaded.recipe.name))

    fake.user_contact_id = None  # type: ignore[assignment]  # the key now logs in nobody
    writes_before = fake.writes()
    second = run(loaded, state=state, connectors={"crm": connector()}, run_date=RUN_DATE)

    assert second.exit_code == 3
    assert "anonymous visitor" in " ".join(second.messages)
    assert fake.writes() == writes_before
    assert len(state.known_flags(loaded.recipe.name)) == known
    assert all(k.status is not FlagStatus.RESOLVED for k in state.known_flags(loaded.recipe.name).values())


# ------------------------------------------------------------------------------- writing
@responses.activate
def test_flags_are_written_in_one_save_with_match_on_the_fingerprint() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=5, events=4, participants=0, campaigns=2)
    c = connector()
    for entity in (Entity.PEOPLE, Entity.PROJECTS, Entity.SESSIONS):
        read_all(c, entity)
    person, session, project = (
        flag(SubjectKind.PERSON, "4", "Sam is owed £75.00", project="2"),
        flag(SubjectKind.SESSION, "3", "Decision without lived experience"),
        flag(SubjectKind.PROJECT, "1", "Called co-production, evidence says consultation"),
    )
    c.read_staff_statuses()  # as the sync does before writing: it also learns the flags' Activity ids
    before = len(fake.calls)

    report = c.write_flags([change(person), change(session), change(project, ChangeKind.CHANGED)])

    calls = fake.calls[before:]
    assert [(s.entity, s.action) for s in calls] == [("Activity", "checkAccess"), ("Activity", "save")]
    saves = calls[1:]  # the permission is proven first, once, then one save creates all three
    assert saves[0].content_type.startswith("application/x-www-form-urlencoded")  # never a JSON body
    assert saves[0].headers["X-Civi-Auth"] == f"Bearer {API_KEY}"
    assert saves[0].headers["X-Requested-With"] == "XMLHttpRequest"
    params = saves[0].params
    assert params["match"] == ["Coprod_Flags.Fingerprint"]
    assert params["defaults"] == {
        "activity_type_id:name": "Co-production flag",
        "source_contact_id": USER_CONTACT_ID,
    }
    by_fp = {r["Coprod_Flags.Fingerprint"]: r for r in params["records"]}
    assert by_fp[person.fingerprint]["target_contact_id"] == [4]
    assert by_fp[person.fingerprint]["campaign_id"] == 2
    assert by_fp[session.fingerprint]["campaign_id"] == 1 + 3 % 2  # the event's campaign
    assert by_fp[project.fingerprint]["campaign_id"] == 1
    assert by_fp[person.fingerprint]["subject"] == "Sam is owed £75.00"
    assert by_fp[person.fingerprint]["status_id:name"] == "Scheduled"
    details = by_fp[person.fingerprint]["details"]
    assert "&lt;b&gt;needs&lt;/b&gt;" in details and "owed: 75.00" in details
    assert sorted(report.written) == sorted(f.fingerprint for f in (person, session, project))
    assert report.failed == {} and report.requests == 1
    assert len(fake.records["Activity"]) == 3


@responses.activate
def test_resolved_flags_are_completed_by_fingerprint_and_never_created() -> None:
    fake = api_user_fake()
    f, wont_fix = flag(SubjectKind.PERSON, "9"), flag(SubjectKind.PERSON, "11")
    c = connector()
    c.write_flags([change(f), change(wont_fix)])
    fake.records["Activity"][1]["status_id:name"] = "Cancelled"  # staff: won't fix

    report = c.write_flags([resolved(f), resolved(wont_fix), resolved(flag(SubjectKind.PERSON, "10"))])

    update = fake.calls[-1]
    assert (update.entity, update.action) == ("Activity", "update")
    assert update.params["values"] == {"status_id:name": "Completed"}
    assert update.params["where"][0][0:2] == ["Coprod_Flags.Fingerprint", "IN"]
    assert [a["status_id:name"] for a in fake.records["Activity"]] == ["Completed", "Cancelled"]
    assert len(report.written) == 3 and report.requests == 1


@responses.activate
def test_a_create_retried_after_a_timeout_is_not_duplicated() -> None:
    fake = api_user_fake()
    fake.timeout_after_save = 1  # the activities are saved, but the answer never arrives
    changes = [change(flag(SubjectKind.PERSON, str(i))) for i in range(3)]
    c = connector()

    first = c.write_flags(changes)
    assert set(first.failed) == {ch.fingerprint for ch in changes}
    assert "did not answer in time" in next(iter(first.failed.values()))
    assert len(fake.records["Activity"]) == 3  # it did reach CiviCRM

    second = c.write_flags(changes)  # the next run tries the same changes again

    saves = [call for call in fake.calls if call.action == "save"]
    assert len(saves) == 2
    assert saves[1].params["records"] == saves[0].params["records"]
    assert saves[1].params["match"] == ["Coprod_Flags.Fingerprint"]
    assert len(fake.records["Activity"]) == 3  # updated in place, not duplicated
    assert sorted(second.written) == sorted(ch.fingerprint for ch in changes)


@responses.activate
def test_a_save_retried_by_the_transport_after_a_gateway_timeout_updates_instead_of_duplicating() -> None:
    fake = api_user_fake()
    fake.gateway_timeout_after_save = 1  # CiviCRM saved them, but the proxy gave up and answered 504
    changes = [change(flag(SubjectKind.PERSON, str(i))) for i in range(3)]

    report = connector().write_flags(changes)

    saves = [call for call in fake.calls if call.action == "save"]
    assert len(saves) == 2  # urllib3's Retry sent the same POST again
    assert saves[1].params == saves[0].params
    assert saves[0].params["match"] == ["Coprod_Flags.Fingerprint"]
    assert len(fake.records["Activity"]) == 3
    assert sorted(report.written) == sorted(ch.fingerprint for ch in changes) and report.failed == {}


@responses.activate
def test_a_flag_with_a_duplicate_activity_is_saved_by_id_so_duplicates_do_not_breed() -> None:
    fake = api_user_fake()
    f = flag(SubjectKind.PERSON, "9")
    for status in ("Completed", "Scheduled"):  # two Activities for one flag, as after a race
        fake.add(
            "Activity",
            **{
                "activity_type_id:name": "Co-production flag",
                "Coprod_Flags.Fingerprint": f.fingerprint,
                "status_id:name": status,
            },
        )
    oldest = fake.records["Activity"][0]["id"]
    c = connector()

    statuses = c.read_staff_statuses()
    c.write_flags([change(f, ChangeKind.CHANGED)])
    c.write_flags([change(f, ChangeKind.CHANGED)])

    assert statuses == {f.fingerprint: FlagStatus.ACKNOWLEDGED}  # what staff set on the oldest
    saves = [call for call in fake.calls if call.action == "save"]
    assert [s.params["records"][0]["id"] for s in saves] == [oldest, oldest]
    assert len(fake.records["Activity"]) == 2  # match alone would have created one per save
    assert fake.count("Activity", "get") == 1  # the ids came with the staff statuses


@responses.activate
def test_writing_without_a_staff_status_read_looks_the_ids_up_by_fingerprint_once() -> None:
    fake = api_user_fake()
    first, second = flag(SubjectKind.PERSON, "9"), flag(SubjectKind.PERSON, "10")
    known = fake.add(
        "Activity",
        **{"activity_type_id:name": "Co-production flag", "Coprod_Flags.Fingerprint": first.fingerprint},
    )
    c = connector()

    c.write_flags([change(first), change(second)])

    lookup = next(call for call in fake.calls if call.entity == "Activity" and call.action == "get")
    assert ["Coprod_Flags.Fingerprint", "IN", [first.fingerprint, second.fingerprint]] in lookup.params[
        "where"
    ]
    create, update = (call.params for call in fake.calls if call.action == "save")
    assert [r["Coprod_Flags.Fingerprint"] for r in create["records"]] == [second.fingerprint]
    assert "id" not in create["records"][0] and create["match"] == ["Coprod_Flags.Fingerprint"]
    assert [r["id"] for r in update["records"]] == [known["id"]]
    assert "defaults" not in update and "match" not in update
    assert "target_contact_id" not in update["records"][0]  # a known flag's contacts are never re-sent
    assert len(fake.records["Activity"]) == 2


@responses.activate
def test_many_flags_go_in_chunks_of_500_per_save() -> None:
    fake = api_user_fake()
    changes = [change(flag(SubjectKind.PROJECT, str(i))) for i in range(1100)]

    report = connector().write_flags(changes)

    assert [len(c.params["records"]) for c in fake.calls if c.action == "save"] == [500, 500, 100]
    assert len(report.written) == 1100


@responses.activate
def test_staff_statuses_on_flag_activities_are_read_back() -> None:
    fake = api_user_fake()
    for fp, status in (("a", "Completed"), ("b", "Cancelled"), ("c", "Scheduled"), ("d", "Left Message")):
        fake.add(
            "Activity",
            **{
                "activity_type_id:name": "Co-production flag",
                "Coprod_Flags.Fingerprint": fp,
                "status_id:name": status,
            },
        )
    fake.add("Activity", **{"activity_type_id:name": "Meeting", "status_id:name": "Completed"})

    statuses = connector().read_staff_statuses()

    assert statuses == {"a": FlagStatus.ACKNOWLEDGED, "b": FlagStatus.WONT_FIX, "c": FlagStatus.OPEN}
    [left_message] = [
        a["id"] for a in fake.records["Activity"] if a["status_id:name"] == "Left Message"
    ]  # a status coprod does not use: named for staff
    assert statuses.unread == [
        UnreadStatus(f"flag Activity {left_message}", "Left Message", CIVICRM_STATUS_WORDS)
    ]


@responses.activate
def test_a_second_sync_with_nothing_changed_writes_nothing() -> None:
    from coprod.config import LoadedRecipe
    from coprod.state import StateStore
    from coprod.sync import run

    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=60, events=12, participants=200, campaigns=3)
    loaded = LoadedRecipe(recipe=recipe(), path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:")

    first = run(loaded, state=state, connectors={"crm": connector()}, run_date=RUN_DATE)
    assert first.exit_code == 0, first.messages
    assert first.write.written and fake.count("Activity", "save") >= 1
    writes = fake.writes()

    second = run(loaded, state=state, connectors={"crm": connector()}, run_date=RUN_DATE)

    assert second.exit_code == 0, second.messages
    assert fake.writes() == writes


# ------------------------------------------------------------------------------- errors explained
@responses.activate
def test_a_text_plain_401_invalid_credential_is_explained_without_the_key() -> None:
    fake = FakeCiviCRM(api_key="the-right-key-5678").register(responses.mock)
    fake.add("Contact", id=USER_CONTACT_ID)

    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)

    text = str(raised.value)
    assert "does not accept the API key in CIVICRM_API_KEY" in text and "Invalid credential" in text
    assert API_KEY not in text


@pytest.mark.parametrize(
    ("authx_says", "advice"),
    [
        ("Login not permitted. Must satisfy guard (site_key, perm).", "'authenticate with api key'"),
        (
            'Authentication type "api_key" with flow "xheader" is not allowed for this principal.',
            "tick 'API Key' under the acceptable credentials for 'X-Header'",
        ),
        ("Cannot login. No matching user is available.", "needs an active CMS user account"),
    ],
)
@responses.activate
def test_each_authx_text_plain_401_says_what_to_change(authx_says: str, advice: str) -> None:
    responses.add(
        responses.POST,
        f"{ENDPOINT}/Contact/get",
        status=401,
        content_type="text/plain",
        body=f"HTTP 401 {authx_says}",
    )
    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)
    assert advice in str(raised.value) and authx_says in str(raised.value)
    assert len(responses.calls) == 1  # a refusal is not retried


@responses.activate
def test_a_role_that_may_not_log_in_by_api_key_is_told_to_grant_it_or_send_the_site_key() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=3, events=0, participants=0, campaigns=0)
    fake.permissions.discard("authenticate with api key")
    fake.site_key = "site-key-1234"

    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)

    assert "'authenticate with api key'" in str(raised.value) and "CIVICRM_SITE_KEY" in str(raised.value)
    assert fake.count() == 1  # a refusal is not retried
    rows = read_all(
        connector(env={"CIVICRM_API_KEY": API_KEY, "CIVICRM_SITE_KEY": "site-key-1234"}), Entity.PEOPLE
    )
    assert len(rows) == 3 and fake.calls[-1].headers["X-Civi-Key"] == "site-key-1234"


@responses.activate
def test_a_403_on_the_credential_proof_names_both_likely_causes() -> None:
    fake = api_user_fake()
    fake.forbidden.add(("Contact", "get"))
    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)
    text = str(raised.value)
    assert "anonymous visitor" in text and "'view all contacts'" in text and API_KEY not in text


@responses.activate
def test_the_generic_sorry_error_says_the_debug_permission_is_missing() -> None:
    fake = api_user_fake()
    fake.fields["Contact"] = {"id": None}  # every mapped custom field is unknown here
    fake.debug_permission = False

    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)

    assert "'view debug output'" in str(raised.value) and "Error ID Fake-Err01-Id" in str(raised.value)


@responses.activate
def test_campaign_failing_because_civicampaign_is_disabled_says_enable_it() -> None:
    fake = api_user_fake()
    fake.campaign_enabled = False
    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PROJECTS)
    assert "Enable it in Administer > System Settings > Components" in str(raised.value)


@responses.activate
def test_maintenance_mode_and_json_403_are_explained() -> None:
    fake = api_user_fake()
    fake.permissions = set(NO_DELETE)  # the recipe's role: an administrator's key passes maintenance mode
    fake.forbidden.add(("Participant", "get"))
    c = connector()
    with pytest.raises(SourceUnavailable) as forbidden:
        read_all(c, Entity.ATTENDANCE)
    assert "'view event participants'" in str(forbidden.value)

    fake.maintenance = True
    with pytest.raises(SourceUnavailable) as down:
        read_all(c, Entity.SESSIONS)
    assert "maintenance mode" in str(down.value)


@responses.activate
def test_no_key_reaches_logs_or_messages_even_when_the_server_echoes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=3, events=0, participants=0, campaigns=0)
    c = connector(env={"CIVICRM_API_KEY": API_KEY, "CIVICRM_SITE_KEY": "s1te-key-secret"})
    read_all(c, Entity.PEOPLE)
    echo = {"error_code": 0, "error_message": f"bad header Bearer {API_KEY} / s1te-key-secret", "status": 500}
    fake.canned[("Activity", "save")] = (500, echo)
    report = c.write_flags([change(flag(SubjectKind.PERSON, "4"))])

    reasons = " ".join(report.failed.values())
    assert "[redacted]" in reasons
    for secret in (API_KEY, "s1te-key-secret"):
        assert secret not in reasons
        assert secret not in caplog.text


def test_a_missing_key_is_a_config_error_naming_the_variable_only() -> None:
    c = connector(env={})
    with pytest.raises(ConfigError) as raised:
        c.prove_credential()
    assert "CIVICRM_API_KEY" in str(raised.value)


# ------------------------------------------------------------------------------- options and recipe
def test_the_recipe_validates_and_builds_the_connector_through_the_registry() -> None:
    r = recipe()
    ctx = ConnectorContext(recipe=r, recipe_dir=RECIPE_DIR, env={"CIVICRM_API_KEY": API_KEY})
    built = build_connector("crm", r.sources["crm"], ctx)
    assert isinstance(built, CiviCRMConnector) and built.kind == "civicrm"
    for entity, spec in r.entities.items():
        built._entity_options(entity, spec)  # every entity's options are valid for CiviCRM


def test_an_endpoint_with_entity_and_action_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="prefix only"):
        CiviCRMOptions.model_validate({"endpoint": "https://x.org/civicrm/ajax/api4/Contact/get"})


@pytest.mark.parametrize(
    "pasted",
    [
        "https://crm.example.org/civicrm/api4#/explorer",
        "https://crm.example.org/civicrm/a/#/explorer",
        "https://crm.example.org/civicrm/api4#/explorer/Contact/get",
    ],
)
def test_the_explorers_page_address_is_refused_saying_which_address_to_copy(pasted: str) -> None:
    """It was valid: nothing after '#' reaches the site, so every call got the Explorer's page back
    and the run stopped only then, at "answered with a web page" (newcomer walkthrough). With Contact
    and get chosen in the Explorer (as step 2 has it), its address ends in /Contact/get, and was
    refused as "without /Entity/action": taking that off left the browser's address, refused next."""
    with pytest.raises(
        ValueError, match="a page in your browser, not the API's: copy the address the APIv4 Explorer"
    ):
        CiviCRMOptions.model_validate({"endpoint": pasted})


@pytest.mark.parametrize(
    ("endpoint", "refused"),
    [
        ("http://crm.ourcharity.org.uk/civicrm/ajax/api4", True),
        ("http://192.168.1.20/civicrm/ajax/api4", True),
        ("http://localhost:8080/civicrm/ajax/api4", False),
        ("http://127.0.0.1/civicrm/ajax/api4", False),
        ("http://civicrm.test/civicrm/ajax/api4", False),  # a copy on a developer's machine
        ("https://crm.ourcharity.org.uk/civicrm/ajax/api4", False),
    ],
)
def test_an_http_endpoint_on_another_machine_is_refused_as_sending_the_key_in_clear(
    endpoint: str, refused: bool
) -> None:
    """Every request carries the API key (X-Civi-Key): over http:// to another machine, anyone on the
    way could read it and act as the API user. It was accepted, though the message asked for https://."""
    if refused:
        with pytest.raises(ValueError, match="the API key would cross the network unencrypted"):
            CiviCRMOptions.model_validate({"endpoint": endpoint})
    else:
        assert CiviCRMOptions.model_validate({"endpoint": endpoint}).endpoint == endpoint


def test_a_site_whose_name_cannot_be_looked_up_says_so_not_only_connectionerror() -> None:
    """It said "could not reach crm.example.org (ConnectionError)", the same for a mistyped endpoint,
    a site that is down and anything else (newcomer walkthrough)."""
    reason = NameResolutionError("crm.example.org", None, OSError("Name or service not known"))  # type: ignore[arg-type]
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST, re.compile(r".*"), body=requests.ConnectionError(MaxRetryError(None, "/", reason))
        )  # type: ignore[arg-type]
        with pytest.raises(SourceUnavailable) as err:
            read_all(connector(), Entity.PEOPLE)
        assert len(rsps.calls) == 1
    assert (
        "could not reach crm.example.org (its name could not be looked up: NameResolutionError). Check the "
        "endpoint in the recipe" in str(err.value)
    )


def test_an_unknown_entity_option_names_the_section() -> None:
    data = load_recipe_data()
    data["entities"]["people"]["options"] = {"groupz": "Panel"}
    parsed = recipe(data)
    c = connector(the_recipe=parsed)
    with pytest.raises(ConfigError) as raised:
        read_all(c, Entity.PEOPLE)
    assert "[entities.people.options]" in str(raised.value) and "groupz" in str(raised.value)


# ------------------------------------------------------------------------------- install
def _site_fields(fake: FakeCiviCRM) -> None:
    panel = ["Coprod_Panel.Roles", "Coprod_Panel.Payment_Preference", "Coprod_Panel.Benefits_Check"]
    equal = ["Equalities.Ethnicity", "Equalities.Age_Band", "Equalities.Disability"]
    fake.fields["Contact"] = dict.fromkeys(["id", "display_name", "gender_id", "groups", *panel, *equal])
    fake.fields["Campaign"] = dict.fromkeys(
        [
            "id",
            "title",
            "Coprod_Project.Label",
            "Coprod_Project.Stages_Reached",
            "Coprod_Project.Plan_Drafted",
        ]
    )
    fake.fields["Event"] = dict.fromkeys(
        ["id", "title", "start_date", "end_date", "event_type_id", "Coprod_Session.Stage"]
        + ["Coprod_Session.Decision_Taken", "Coprod_Session.Decision"]
    )
    fake.fields["Event"]["campaign_id"] = "Campaign"
    fake.fields["Participant"] = dict.fromkeys(
        ["id", "status_id", "Coprod_Attendance.Prep_Hours", "Coprod_Attendance.Expenses_Claimed"]
    )
    fake.fields["Participant"].update(contact_id="Contact", event_id="Event")
    fake.fields["Contribution"] = dict.fromkeys(
        ["id", "total_amount", "receive_date", "Coprod_Payment.Kind", "Coprod_Payment.Session"]
    )
    fake.fields["Contribution"]["contact_id"] = "Contact"
    fake.add("Contact", id=USER_CONTACT_ID)
    fake.add("Group", name="Coproduction_Panel")


@responses.activate
def test_install_creates_the_activity_type_group_and_field_and_is_safe_twice() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    _site_fields(fake)
    fake.add("OptionValue", **{"option_group_id:name": "activity_type", "name": "Meeting", "value": "1"})

    first = connector().install()
    saves_after_first = fake.count(action="save")
    second = connector().install()

    assert saves_after_first == 3 and fake.count(action="save") == 3
    assert any("activity type 'Co-production flag' created" in line for line in first)
    assert any("fingerprint field 'Coprod_Flags.Fingerprint' created" in line for line in first)
    assert any("already there" in line for line in second)
    option_save = next(c for c in fake.calls if c.entity == "OptionValue" and c.action == "save")
    assert option_save.params["match"] == ["option_group_id", "name"]
    assert option_save.params["records"][0]["option_group_id:name"] == "activity_type"
    field_save = next(c for c in fake.calls if c.entity == "CustomField" and c.action == "save")
    assert field_save.params["match"] == ["custom_group_id", "name"]
    assert field_save.params["records"][0]["custom_group_id:name"] == "Coprod_Flags"
    assert len(fake.records["CustomGroup"]) == 1 and len(fake.records["CustomField"]) == 1


@responses.activate
def test_install_without_the_admin_permission_names_it_and_creates_nothing() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    _site_fields(fake)
    fake.forbidden.add(("OptionValue", "save"))

    with pytest.raises(ConfigError) as raised:
        connector().install()

    assert "grant the API user 'administer CiviCRM' while installing" in str(raised.value)
    assert fake.records["OptionValue"] == [] and fake.records["CustomField"] == []


@responses.activate
def test_install_names_each_missing_field_and_permission() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    _site_fields(fake)
    del fake.fields["Contact"]["Equalities.Ethnicity"]
    fake.forbidden.add(("Participant", "get"))
    fake.access = False

    with pytest.raises(ConfigError) as raised:
        connector().install()

    text = str(raised.value)
    assert "'Equalities.Ethnicity:name' is not a field of Contact" in text
    assert "may not read Participant" in text and "'view event participants'" in text
    assert "may not record flag activities" in text and "'edit all contacts'" in text


def test_the_readme_lists_each_permission_under_the_command_that_needs_it_and_none_more() -> None:
    from coprod.connectors import civicrm_permissions as perms

    readme = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    steps = readme.split("To read and check", 1)[1].split("Not needed", 1)
    needed, not_needed = steps[0], steps[1].split("\n\n", 1)[0]
    sections = needed.split("To write flags back")
    read, rest = sections[0], sections[1]
    write, install = rest.split("To install")
    for section, listed in ((read, perms.TO_READ), (write, perms.TO_WRITE_BACK), (install, perms.TO_INSTALL)):
        for p in listed:
            assert f"`{p.name}`" in section, p.name
    named = set(re.findall(r"`([a-z][a-zA-Z ]+)`", needed))
    expected = set(perms.names(perms.TO_READ + perms.TO_WRITE_BACK + perms.TO_INSTALL + perms.OPTIONAL))
    assert named - {"coprod check", "coprod sync", "coprod install"} - expected == set()
    for name in perms.NOT_NEEDED:
        assert f"`{name}`" in not_needed and f"`{name}`" not in needed


# ------------------------------------------------------------------------------------ reachable flags
def _two_campaign_site() -> FakeCiviCRM:
    """Contact 24 with a payment preference nobody understands; contact 30, owed for sessions of two
    campaigns (so the payment flag has no one project); a participation of 30 at an unknown event."""
    fake = api_user_fake()
    panel = {"groups:name": ["Coproduction_Panel"], "Coprod_Panel.Roles:name": ["lived_experience"]}
    fake.add(
        "Contact", id=24, display_name="Kim", **panel, **{"Coprod_Panel.Payment_Preference:name": "pigeon"}
    )
    fake.add(
        "Contact",
        id=30,
        display_name="Sam",
        **panel,
        **{"Coprod_Panel.Payment_Preference:name": "paid"},
    )
    for campaign in (1, 2):
        fake.add(
            "Campaign",
            id=campaign,
            title=f"Project {campaign}",
            **{"Coprod_Project.Label:name": "co_production"},
        )
    for event, campaign, day in ((1, 1, "2026-01-14"), (2, 2, "2026-02-11")):
        fake.add(
            "Event",
            id=event,
            title=f"Workshop {event}",
            campaign_id=campaign,
            start_date=f"{day} 10:00:00",
            end_date=f"{day} 12:00:00",
            **{"event_type_id:name": "Workshop"},
        )
    attended = {"status_id:name": "Attended", "contact_id.groups:name": ["Coproduction_Panel"]}
    for pid, event in ((1, 1), (2, 2), (3, 99)):
        fake.add("Participant", id=pid, contact_id=30, event_id=event, **attended)
    return fake


@responses.activate
def test_every_flag_activity_is_filed_where_staff_look_for_what_it_is_about(tmp_path: Path) -> None:
    """Issue 10: a payment flag for someone owed for two campaigns' sessions carried no campaign, and
    a data-quality flag about a contact ("Value not understood: Contact 24") no target contact."""
    from coprod.config import LoadedRecipe
    from coprod.state import StateStore
    from coprod.sync import run

    fake = _two_campaign_site()
    loaded = LoadedRecipe(recipe=recipe(), path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})

    result = run(
        loaded, state=StateStore.open(":memory:"), connectors={"crm": connector()}, run_date=RUN_DATE
    )

    assert result.exit_code == 0, result.messages
    by_check = {f.check_id: f for f in result.flags}
    saved = {
        r["Coprod_Flags.Fingerprint"]: r
        for c in fake.calls
        if c.action == "save"
        for r in c.params["records"]
    }
    owed = next(f for f in result.flags if f.check_id == "payments.overdue" and f.subject.id == "30")
    assert owed.project_id is None  # sessions of two projects: the check names no one project
    assert saved[owed.fingerprint]["target_contact_id"] == [30]
    assert saved[owed.fingerprint]["campaign_id"] == 1  # the campaign of the oldest owed session
    not_understood = by_check["data_quality.bad_value"]
    assert not_understood.subject.id == "people:24"
    assert saved[not_understood.fingerprint]["target_contact_id"] == [24]
    unknown_session = by_check["data_quality.unknown_session"]
    assert unknown_session.subject.id == "attendance:3"
    assert saved[unknown_session.fingerprint]["target_contact_id"] == [30]  # the participant's contact
    for flag_ in result.flags:  # each is on a contact or under a campaign
        record = saved[flag_.fingerprint]
        assert record.get("target_contact_id") or record.get("campaign_id"), flag_.check_id


# ------------------------------------------------------------------------------------ permissions
def _sync(fake: FakeCiviCRM, state: Any, **run_options: Any) -> Any:
    from coprod.config import LoadedRecipe
    from coprod.sync import run

    loaded = LoadedRecipe(recipe=recipe(), path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    return run(loaded, state=state, connectors={"crm": connector()}, run_date=RUN_DATE, **run_options)


@responses.activate
def test_a_changed_flag_updates_whole_for_a_role_without_delete_activities() -> None:
    """Issue 10: an amount owed rose, the update re-sent the flag's contacts, CiviCRM answered 403
    after writing the subject (exit 4, every night). The update now leaves the contacts out."""
    from coprod.state import StateStore

    fake = _two_campaign_site()
    fake.add("Group", name="Coproduction_Panel")
    fake.permissions = set(NO_DELETE)  # the recipe's role as it was: no 'delete activities'
    state = StateStore.open(":memory:")
    first = _sync(fake, state)
    assert first.exit_code == 0, first.messages
    payment = next(a for a in fake.records["Activity"] if a["subject"] == "Payment overdue")
    before = payment["details"]
    fake.records["Event"][0]["end_date"] = "2026-01-14 13:00:00"  # a longer session: more owed

    second = _sync(fake, state)

    assert second.exit_code == 0, second.messages
    updates = [r for c in fake.calls if c.action == "save" for r in c.params["records"] if "id" in r]
    assert updates and all("target_contact_id" not in r and "source_contact_id" not in r for r in updates)
    assert all(
        "defaults" not in c.params
        for c in fake.calls
        if c.action == "save" and "id" in c.params["records"][0]
    )
    assert payment["details"] != before and "£125.00" in payment["details"]  # landed whole
    assert payment["target_contact_id"] == [30] and payment["status_id:name"] == "Scheduled"
    assert second.write.failed == {} and second.write.written


ERROR_ID = "Xk3d-7fQa-9LmB"


@responses.activate
@pytest.mark.parametrize(
    "said",
    [
        "DB Error: already exists (Duplicate entry 'Sam Carter-2026-01-14' for key 'UI_subject_date')",
        "Data too long for column 'details' at row 1: 'Sam Carter (ID 30) is owed \u00a3125.00'",
        "Could not save: contact sam.carter@example.org is on hold",
        'Expected one Contact but found 2 named "Sam Carter"',
    ],
    ids=["duplicate-value", "value-beside-a-field", "email", "double-quoted-name"],
)
def test_civicrms_own_error_text_is_logged_without_the_values_it_quotes(
    said: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A CiviCRM error can quote what the request carried (a duplicate value, an email, a name from a
    flag's details), and it was logged as it came, for every flag of the chunk. The values are left
    out of the message (so of the log, the terminal and cron's mail); the entity, the action, the
    record's id, the field names CiviCRM quoted that the request sent, error_code and CiviCRM's Error
    ID (which finds the whole text in CiviCRM's own log) stay."""
    from coprod.state import StateStore

    fake = _two_campaign_site()
    fake.add("Group", name="Coproduction_Panel")
    next(c for c in fake.records["Contact"] if c["id"] == 30)["display_name"] = "Sam Carter"
    state = StateStore.open(":memory:")
    assert _sync(fake, state).exit_code == 0
    payment = next(a for a in fake.records["Activity"] if a["subject"] == "Payment overdue")
    fake.records["Event"][0]["end_date"] = "2026-01-14 13:00:00"  # more owed: the flag is updated by id
    error = {"error_id": ERROR_ID, "error_code": 0, "error_message": said, "status": 500}  # as recorded
    fake.canned[("Activity", "save")] = (500, error)
    caplog.set_level(logging.INFO)

    second = _sync(fake, state)

    assert second.exit_code == 4
    [line] = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert "Activity.save" in line and f"flag activity {payment['id']}" in line
    assert "error_code 0" in line and ERROR_ID in line
    shown = caplog.text + " ".join(second.messages) + " ".join(second.write.failed.values())
    for value in ("Sam", "Carter", "sam.carter@example.org", "125.00", "2026-01-14", "UI_subject_date"):
        assert value not in shown
    if "column" in said:
        assert "column 'details'" in line  # a field the request sent is named as CiviCRM named it


@responses.activate
def test_a_fresh_state_and_a_key_that_cannot_see_contacts_creates_no_duplicate_flags() -> None:
    """Issue 10: with a fresh state file such a key created 11 flag activities, 10 duplicating
    fingerprints already on the server. The run now stops before writing, naming the permission."""
    from coprod.state import StateStore

    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=40, events=6, participants=80, campaigns=2)
    assert _sync(fake, StateStore.open(":memory:")).exit_code == 0
    flags_before = len(fake.records["Activity"])
    fake.permissions -= {"view all contacts"}  # may log in, read events and write, not see contacts
    writes_before = fake.writes()

    result = _sync(fake, StateStore.open(":memory:"))  # a fresh state file

    assert result.exit_code == 3
    text = " ".join(result.messages)
    assert "a permission problem" in text and "holds 40 contact(s)" in text and "'view all contacts'" in text
    assert fake.writes() == writes_before and len(fake.records["Activity"]) == flags_before


@responses.activate
def test_a_key_that_may_not_write_activities_is_stopped_before_its_first_write() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=20, events=4, participants=40, campaigns=2)
    fake.permissions = set(NO_VIEW_ACTIVITIES)
    from coprod.state import StateStore

    result = _sync(fake, StateStore.open(":memory:"))

    assert result.exit_code == 4
    reasons = set(result.write.failed.values())
    assert len(reasons) == 1 and "'view all activities'" in reasons.pop()
    assert fake.count("Activity", "save") == fake.count("Activity", "update") == 0
    assert fake.count("Activity", "checkAccess") == 1


@responses.activate
def test_custom_fields_the_key_may_not_see_stop_the_read_instead_of_reading_as_empty() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=5, events=0, participants=0, campaigns=0)
    fake.permissions -= {"access all custom data"}

    with pytest.raises(SourceUnavailable) as raised:
        read_all(connector(), Entity.PEOPLE)

    assert "a permission problem" in str(raised.value) and "'access all custom data'" in str(raised.value)


@responses.activate
def test_install_names_the_permissions_a_minimal_key_lacks() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    _site_fields(fake)
    seed_panel(fake, contacts=5, events=0, participants=0, campaigns=0)
    fake.permissions = set(MINIMAL)

    with pytest.raises(ConfigError) as raised:
        connector().install()

    text = str(raised.value)
    assert "'administer CiviCRM' while installing" in text
    assert "may not read Participant" in text and "'view event participants'" in text
    assert "holds 5 contact(s)" in text and "'view all contacts'" in text
    assert "may not record flag activities" in text and "'view all activities'" in text


@responses.activate
def test_a_flag_read_that_fails_stops_the_sync_with_its_explanation_not_a_crash() -> None:
    """Before `coprod install` the fingerprint field does not exist: the flag read is a 500 'Invalid
    field'. The run stops before writing, with the advice, as any source failure does (exit 3)."""
    from coprod.state import StateStore

    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=10, events=2, participants=10, campaigns=1)
    fake.fields["Activity"] = {"id": None, "activity_type_id": None, "status_id": None}  # no Coprod_Flags

    result = _sync(fake, StateStore.open(":memory:"))

    assert result.exit_code == 3
    assert "run `coprod install` first" in " ".join(result.messages)
    assert fake.count("Activity", "save") == 0


@responses.activate
def test_a_fingerprint_field_the_site_lacks_fails_the_write_loudly_and_creates_no_flag_that_would_lose_it() -> (
    None
):
    """CiviCRM drops a key that is no field of the entity without a word (the fake does too), so a
    flag saved under a fingerprint field the site lacks would be created without it, and created
    again every run. The connector looks the flags up by that field first: CiviCRM's 500 "Invalid
    field" stops the write, and the reason names the field and `coprod install`."""
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=5, events=0, participants=0, campaigns=0)
    c = connector(fingerprint_field="Coprod_Flags.Flag_Id")
    read_all(c, Entity.PEOPLE)
    person = flag(SubjectKind.PERSON, "4", "Sam is owed £75.00")

    report = c.write_flags([change(person)])

    assert report.written == [] and person.fingerprint in report.failed
    reason = report.failed[person.fingerprint]
    assert "Invalid field 'Coprod_Flags.Flag_Id'" in reason and "coprod install" in reason
    assert fake.records["Activity"] == []
    assert not [call for call in fake.calls if call.action == "save"]


# ------------------------------------------------------------------------------------ erasure
def _sams_flags_synced() -> tuple[FakeCiviCRM, Any, set[str]]:
    """The two-campaign site with Alex on the panel too (so a sync without Sam is no emptied
    export), synced once by a role without 'delete activities': the site, its state and the
    fingerprints of the flags about Sam (contact 30)."""
    from coprod.state import StateStore

    fake = _two_campaign_site()
    fake.add("Contact", id=31, display_name="Alex", **{"groups:name": ["Coproduction_Panel"]})
    fake.add(
        "Participant",
        id=4,
        contact_id=31,
        event_id=1,
        **{"status_id:name": "Attended", "contact_id.groups:name": ["Coproduction_Panel"]},
    )
    fake.permissions = set(NO_DELETE)
    state = StateStore.open(":memory:")
    first = _sync(fake, state)
    assert first.exit_code == 0, first.messages
    theirs = {
        f.fingerprint for f in first.flags if f.subject.kind is SubjectKind.PERSON and f.subject.id == "30"
    }
    return fake, state, theirs


@responses.activate
@pytest.mark.parametrize("how", ["trashed", "deleted for good"])
def test_a_contact_gone_from_the_panel_has_its_flag_activities_closed_and_their_details_cleared(
    how: str,
) -> None:
    """UK GDPR erasure. CiviCRM keeps a trashed contact's activities whole, and deleting a contact for
    good deletes only the activities it *recorded* (``CRM_Activity_BAO_Activity::cleanupActivity``)
    and its links to others (``civicrm_activity_contact`` cascades): a flag Activity, recorded by
    the API user about the contact, stays with its subject and details naming them. So coprod
    completes it and clears its details, in updates that name no contacts (a role without 'delete
    activities' may send them), once."""
    from coprod.connectors.civicrm import REMOVED_DETAILS

    fake, state, theirs = _sams_flags_synced()
    activities = {a["Coprod_Flags.Fingerprint"]: a for a in fake.records["Activity"]}
    assert theirs and all("Sam (ID 30)" in activities[fp]["details"] for fp in theirs)
    subjects = {fp: activities[fp]["subject"] for fp in theirs}
    if how == "trashed":
        fake.contact(30)["is_deleted"] = True  # type: ignore[index]
    else:  # what CiviCRM's own hard delete leaves: the activities about 30, without their link to 30
        fake.records["Contact"].remove(fake.contact(30))
        fake.records["Participant"] = [p for p in fake.records["Participant"] if p["contact_id"] != 30]
        for activity in fake.records["Activity"]:
            activity["target_contact_id"] = [c for c in activity.get("target_contact_id") or [] if c != 30]
    calls = len(fake.calls)

    second = _sync(fake, state)

    assert second.exit_code == 0, second.messages
    assert second.write.failed == {}
    updates = [c for c in fake.calls[calls:] if (c.entity, c.action) == ("Activity", "update")]
    cleared = [c for c in updates if c.params["values"] == {"details": REMOVED_DETAILS}]
    assert len(cleared) == 1
    field, op, fingerprints = cleared[0].params["where"][0]
    assert (field, op, sorted(fingerprints)) == ("Coprod_Flags.Fingerprint", "IN", sorted(theirs))
    assert all(not set(c.params["values"]) & {"target_contact_id", "source_contact_id"} for c in updates)
    for fp in theirs:
        activity = activities[fp]
        assert activity["details"] == REMOVED_DETAILS and "Sam" not in activity["details"]
        assert activity["status_id:name"] == "Completed" and activity["subject"] == subjects[fp]
        assert activity["target_contact_id"] == ([30] if how == "trashed" else [])  # as CiviCRM left it
    assert not [
        a for a in fake.records["Activity"] if "Sam" in a.get("details", "") or "Sam" in a.get("subject", "")
    ]
    writes = fake.writes()
    third = _sync(fake, state)
    assert third.exit_code == 0, third.messages
    assert fake.writes() == writes  # once: the next sync sends nothing


@responses.activate
def test_removed_flags_have_their_details_cleared_with_words_for_a_person_and_for_a_session_naming_them() -> (
    None
):
    """A flag about a person who left the people list says its person is no longer there; a session's
    flag that named them (the hours flag) says someone it named is no longer there: one update for
    each, by fingerprint, naming no contacts."""
    from coprod.connectors.civicrm import REMOVED_DETAILS, REMOVED_NAMED_DETAILS

    fake = api_user_fake()
    person, session = flag(SubjectKind.PERSON, "30"), flag(SubjectKind.SESSION, "7")
    c = connector()
    c.write_flags([change(person), change(session)])

    def removed(f: Flag) -> FlagChange:
        known = KnownFlag.from_flag(f, FlagStatus.RESOLVED, RUN_DATE, RUN_DATE)
        return FlagChange(ChangeKind.REMOVED, replace(known, facts_digest=REMOVED_DIGEST), None)

    calls = len(fake.calls)
    report = c.write_flags([removed(person), removed(session)])

    updates = [call for call in fake.calls[calls:] if (call.entity, call.action) == ("Activity", "update")]
    cleared = {
        call.params["values"]["details"]: call.params["where"][0][2]
        for call in updates
        if "details" in call.params["values"]
    }
    assert cleared == {REMOVED_DETAILS: [person.fingerprint], REMOVED_NAMED_DETAILS: [session.fingerprint]}
    assert "someone this flag named" in REMOVED_NAMED_DETAILS
    assert all(set(call.params["values"]) <= {"details", "status_id:name"} for call in updates)
    details = {a["Coprod_Flags.Fingerprint"]: a["details"] for a in fake.records["Activity"]}
    assert details == {person.fingerprint: REMOVED_DETAILS, session.fingerprint: REMOVED_NAMED_DETAILS}
    assert sorted(report.written) == sorted([person.fingerprint, session.fingerprint]) and not report.failed


@responses.activate
def test_a_contact_the_key_can_no_longer_see_is_counted_as_removed_and_gets_its_flags_back_once_seen() -> (
    None
):
    """A key whose role lost sight of some contacts (an ACL, a group permission) gets them left out
    of its answers, as CiviCRM does, with no error: coprod cannot tell that from their deletion, so
    it clears their flags' details as for a deletion request. The run counts the people it took as
    removed, so staff notice a number they did not expect; once the contact is seen again its flags
    are raised again and their details written back, naming them, in an update by id that names no
    contacts."""

    fake, state, theirs = _sams_flags_synced()
    assert theirs
    hidden_contact = fake.contact(30)
    hidden_participants = [p for p in fake.records["Participant"] if p["contact_id"] == 30]
    fake.records["Contact"].remove(hidden_contact)  # what the key sees now: no row, no error
    fake.records["Participant"] = [p for p in fake.records["Participant"] if p["contact_id"] != 30]

    unseen = _sync(fake, state)

    assert unseen.exit_code == 0, unseen.messages
    assert unseen.summary()["removed_people"] == 1 and unseen.diff.removed_people == {"30"}
    activities = {a["Coprod_Flags.Fingerprint"]: a for a in fake.records["Activity"]}
    assert all("Sam" not in activities[fp]["details"] for fp in theirs)

    fake.records["Contact"].append(hidden_contact)  # the role's permission given back
    fake.records["Participant"].extend(hidden_participants)
    calls = len(fake.calls)

    seen = _sync(fake, state)

    assert seen.exit_code == 0, seen.messages
    assert {c.fingerprint: c.kind for c in seen.diff.changes if c.fingerprint in theirs} == dict.fromkeys(
        theirs, ChangeKind.REOPENED
    )
    assert seen.summary()["removed_people"] == 0
    saves = [c for c in fake.calls[calls:] if (c.entity, c.action) == ("Activity", "save")]
    records = {r["id"]: r for c in saves for r in c.params["records"] if "id" in r}
    created = [r for c in saves for r in c.params["records"] if "id" not in r]
    assert not [r for r in created if r["Coprod_Flags.Fingerprint"] in theirs]  # none created twice
    for fp in theirs:  # updated by id, naming them again, without their contacts
        record = records[activities[fp]["id"]]
        assert "Sam (ID 30)" in record["details"] and "target_contact_id" not in record
    assert all("Sam (ID 30)" in activities[fp]["details"] for fp in theirs)


@responses.activate
def test_a_participation_of_a_contact_taken_out_of_the_panel_says_cancelled_not_wont_fix() -> None:
    """A recipe whose attendance is every Attended participation (no group of its own) still reads
    those of a contact taken out of the panel group (as when they asked to be deleted from it): each
    is flagged as belonging to someone removed from the people list, and told what to do in
    CiviCRM's words: its flag is an activity, whose "won't fix" is Cancelled. It said "mark this
    flag won't fix", a status CiviCRM has not."""
    from coprod.config import LoadedRecipe
    from coprod.sync import run

    fake, state, theirs = _sams_flags_synced()
    assert theirs
    data = load_recipe_data()
    data["entities"]["attendance"]["options"].pop("group")
    without_group = recipe(data)
    loaded = LoadedRecipe(recipe=without_group, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    fake.contact(30)["groups:name"] = []  # out of the panel, their participations kept
    for p in fake.records["Participant"]:
        p.pop("contact_id.groups:name", None)  # the group is the contact's: read through it

    result = run(
        loaded, state=state, connectors={"crm": connector(the_recipe=without_group)}, run_date=RUN_DATE
    )

    assert result.exit_code == 0, result.messages
    rows = [
        f for f in result.flags if f.check_id == "data_quality.unknown_person" and f.evidence["found"] == "30"
    ]
    assert rows
    for f in rows:
        assert "belongs to someone who has been removed from the people list" in f.message
        assert (
            "If they asked for their data to be deleted, delete their attendance and payment records too, or "
            "mark this flag's activity Cancelled if the charity must keep the payment record; if they were "
            "removed by mistake" in f.message
        )
        assert "won't fix" not in f.message
    details = {a["Coprod_Flags.Fingerprint"]: a["details"] for a in fake.records["Activity"]}
    assert all("mark this flag&#x27;s activity Cancelled" in details[f.fingerprint] for f in rows)
