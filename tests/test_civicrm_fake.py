"""The CiviCRM fake answers as the real server answered (tests/fixtures/platforms/civicrm).

Each test sends a recorded request to the fake, seeded like the recorded site and holding the
recorded role's permissions, and compares the fake's answer with the recorded one. Those marked
"old fake" are where the fake used to be kinder than CiviCRM; they fail on it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

from fakes.civicrm import ADMIN, API_KEY, ENDPOINT, MINIMAL, NO_DELETE, NO_VIEW_ACTIVITIES, FakeCiviCRM
from fakes.replay import recording

KEY = "<CIVI_API_KEY>"


def fake_site(permissions: frozenset[str] = ADMIN, user: int = 2) -> FakeCiviCRM:
    fake = FakeCiviCRM(api_key=KEY, user_contact_id=user).register(responses.mock)
    fake.permissions = set(permissions)
    return fake


def ask(fake: FakeCiviCRM, name: str, index: int) -> tuple[requests.Response, dict[str, Any]]:
    """Send the recorded request of exchange ``index`` to the fake; its answer and the recorded one."""
    exchange = recording("civicrm", name)["exchanges"][index]
    request = exchange["request"]
    headers = {k: v for k, v in request["headers"].items() if k != "Content-Type"}
    answer = requests.post(
        fake.endpoint + request["path"].removeprefix("/civicrm/ajax/api4"),
        data={"params": json.dumps(request["params"])},
        headers=headers,
    )
    return answer, exchange["response"]


def same_error(answer: requests.Response, recorded: dict[str, Any]) -> None:
    """Same status, type and error text (the Error ID differs; the "Sorry" text is the same)."""
    assert answer.status_code == recorded["status"]
    assert answer.headers["Content-Type"] == recorded["headers"]["Content-Type"]
    mine, theirs = answer.json(), recorded["body"]
    assert (
        type(mine["error_code"]) is type(theirs["error_code"]) and mine["error_code"] == theirs["error_code"]
    )
    assert mine["error_message"].split("(Error ID")[0] == theirs["error_message"].split("(Error ID")[0]


def panel_contact(fake: FakeCiviCRM, contact_id: int, **values: Any) -> None:
    fake.add("Contact", id=contact_id, **{"groups:name": ["Coproduction_Panel"], **values})


# ------------------------------------------------------------------------------------ AuthX
@responses.activate
def test_a_valid_key_without_x_requested_with_is_accepted_as_civicrm_does() -> None:
    """Old fake: 400 SECURITY ALERT for every request without X-Requested-With."""
    fake = fake_site()
    fake.add("Contact", id=2)
    answer, recorded = ask(fake, "error_no_x_requested_with", 0)
    assert answer.status_code == 200 == recorded["status"]
    assert answer.json()["values"] == recorded["body"]["values"] == [{"id": 2}]


@responses.activate
def test_no_credential_and_no_x_requested_with_is_a_json_400_security_alert() -> None:
    """Old fake: text/plain."""
    answer, recorded = ask(fake_site(), "error_no_x_requested_with", 1)
    assert answer.status_code == 400 == recorded["status"]
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == recorded["body"]


@responses.activate
def test_a_wrong_key_is_a_text_plain_401_and_no_key_an_anonymous_empty_answer() -> None:
    fake = FakeCiviCRM(api_key="the-real-key").register(responses.mock)
    fake.add("Contact", id=2)
    wrong, recorded = ask(fake, "error_wrong_key", 0)
    assert (wrong.status_code, wrong.text) == (401, recorded["body"])
    assert wrong.headers["Content-Type"] == recorded["headers"]["Content-Type"]
    anonymous, recorded = ask(fake, "error_no_key_anonymous", 0)
    assert anonymous.status_code == 200 and anonymous.json()["values"] == recorded["body"]["values"] == []


# ------------------------------------------------------------------------------------ errors
@responses.activate
def test_an_unknown_entity_is_a_500_with_or_without_the_debug_permission() -> None:
    """Old fake: it served any entity name (200) and said "Api X::y does not exist" otherwise."""
    fake = fake_site()
    same_error(*ask(fake, "error_unknown_entity", 0))
    fake.debug_permission = False
    same_error(*ask(fake, "error_unknown_entity_no_debug", 0))


@responses.activate
def test_with_civicampaign_off_campaign_is_a_500_and_events_lose_their_campaign_silently() -> None:
    """Old fake: events kept campaign_id; the Campaign error read "Api Campaign::get does not exist"."""
    fake = fake_site()
    fake.campaign_enabled = False
    fake.add("Event", id=1, campaign_id=1)
    fake.add("Event", id=2, campaign_id=1)
    same_error(*ask(fake, "campaign_component_disabled", 1))
    events, recorded = ask(fake, "campaign_component_disabled", 3)
    assert events.json()["values"] == recorded["body"]["values"] == [{"id": 1}, {"id": 2}]
    fake.permissions = set(NO_DELETE)  # the recipe role: no 'view debug output'
    same_error(*ask(fake, "campaign_component_disabled", 2))


@responses.activate
def test_maintenance_mode_is_a_json_503_for_the_recipe_role_and_lets_an_administrator_through() -> None:
    """Old fake: an HTML 503 for everyone."""
    fake = fake_site(NO_DELETE)
    fake.add("Contact", id=2)
    fake.maintenance = True
    down, recorded = ask(fake, "maintenance_mode", 0)
    assert (down.status_code, down.json()) == (503, recorded["body"])
    fake.permissions = set(ADMIN)
    up, recorded = ask(fake, "maintenance_mode", 1)
    assert up.json()["values"] == recorded["body"]["values"]


@responses.activate
def test_row_count_counts_and_limit_zero_is_no_limit() -> None:
    fake = fake_site()
    for i in range(34):
        fake.add("Contact", id=2 + i)
    unlimited, recorded = ask(fake, "limit0_default", 0)
    assert len(unlimited.json()["values"]) == recorded["body"]["count"] == 34
    counted, recorded = ask(fake, "limit0_default", 2)
    assert counted.json()["values"] == [] and counted.json()["count"] == recorded["body"]["count"] == 34


# ------------------------------------------------------------------------------------ permissions
@responses.activate
def test_the_minimal_role_sees_only_its_own_contact_and_is_refused_participants_and_events() -> None:
    """Old fake: a key saw every contact whatever its role."""
    fake = fake_site(MINIMAL | {"view debug output"}, user=4)
    fake.add("Contact", id=2)
    fake.add("Contact", id=4, display_name="Coprod Robot (minimal)")
    panel_contact(fake, 5, display_name="Ada Okafor")
    own, recorded = ask(fake, "flags_minimal_role", 5)
    assert own.json()["values"] == recorded["body"]["values"]
    same_error(*ask(fake, "flags_minimal_role", 15))  # Participant 403
    same_error(*ask(fake, "flags_minimal_role", 16))  # Event 403
    people, recorded = ask(fake, "flags_minimal_role", 10)  # the product's people read
    assert people.status_code == 200 and people.json()["values"] == recorded["body"]["values"] == []


@responses.activate
def test_custom_fields_vanish_from_select_and_fail_in_where_without_access_all_custom_data() -> None:
    """Old fake: custom fields came back whatever the role."""
    fake = fake_site(MINIMAL | {"view debug output"}, user=4)
    fake.add(
        "Campaign",
        id=1,
        title="Mental health service redesign",
        **{"Coprod_Project.Label:name": "service_redesign", "Coprod_Project.Plan_Drafted": "2026-02-15"},
    )
    campaigns, recorded = ask(fake, "flags_minimal_role", 11)
    assert (
        campaigns.json()["values"]
        == recorded["body"]["values"]
        == [{"id": 1, "title": "Mental health service redesign"}]
    )
    same_error(*ask(fake, "flags_minimal_role", 14))  # 500 Invalid field 'Coprod_Flags.Fingerprint'


@responses.activate
def test_an_update_naming_an_activitys_contacts_without_delete_activities_half_lands_as_it_really_did() -> (
    None
):
    """Old fake: every save succeeded whole. The real site wrote subject and details, then said 403."""
    fake = fake_site(NO_DELETE | {"view debug output"}, user=3)
    created, recorded = ask(fake, "flags_no_delete_activities", 0)
    assert created.status_code == 200 == recorded["status"]
    activity = fake.records["Activity"][0]
    activity["id"] = recorded["body"]["values"][0]["id"]  # 83, as the later saves by id name it
    same_error(*ask(fake, "flags_no_delete_activities", 4))  # the same save with match: 403
    assert activity["subject"] == "Payment overdue (fixture 1)"  # written before the refusal
    same_error(*ask(fake, "flags_no_delete_activities", 6))  # by id, source_contact_id in defaults
    assert activity["subject"] == "Payment overdue (fixture 4, by id, no target_contact_id)"
    resolved, recorded = ask(fake, "flags_no_delete_activities", 7)  # status only: allowed
    assert resolved.status_code == 200 and activity["status_id:name"] == "Completed"


@responses.activate
def test_every_activity_write_needs_view_all_activities_though_the_flags_can_be_read() -> None:
    """Old fake: only an anonymous visitor was refused a save."""
    fake = fake_site(NO_VIEW_ACTIVITIES | {"view debug output"}, user=35)
    fake.add("Contact", id=2)
    fake.add(
        "Activity",
        id=47,
        source_contact_id=2,
        **{
            "activity_type_id:name": "Co-production flag",
            "Coprod_Flags.Fingerprint": "97e0ecb6c75936d8c7a1",
            "status_id:name": "Completed",
        },
    )
    flags, _ = ask(fake, "flags_no_view_activities", 0)
    assert [v["id"] for v in flags.json()["values"]] == [47]
    same_error(*ask(fake, "flags_no_view_activities", 3))  # update by match: 403 Activity::save
    same_error(*ask(fake, "flags_no_view_activities", 4))  # a new flag: 403 too
    assert len(fake.records["Activity"]) == 1


@responses.activate
def test_a_trashed_contacts_participation_is_returned_unless_contact_is_deleted_is_asked_for() -> None:
    """Old fake: no trash."""
    fake = fake_site()
    panel_contact(fake, 27, is_deleted=True)
    fake.add("Participant", id=32, contact_id=27, event_id=4, **{"status_id:name": "Cancelled"})
    through_group, recorded = ask(fake, "probe_deletions_contact", 7)
    assert through_group.json()["values"] == recorded["body"]["values"]
    live_only, recorded = ask(fake, "probe_deletions_contact", 8)
    assert live_only.json()["values"] == recorded["body"]["values"] == []
    by_id, recorded = ask(fake, "probe_deletions_contact", 5)
    assert by_id.json()["values"] == recorded["body"]["values"] == [{"id": 27}]


# ------------------------------------------------------------------------------------ shapes
@responses.activate
def test_fake_ignores_a_json_body_and_returns_everything_as_civicrm_does() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    for i in range(3):
        fake.add("Contact", display_name=f"C{i}")
    answer = requests.post(
        f"{ENDPOINT}/Contact/get",
        json={"params": {"limit": 1}},
        headers={"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {API_KEY}"},
    ).json()
    assert len(answer["values"]) == 3


@responses.activate
def test_fake_save_with_match_updates_one_and_creates_when_none_match() -> None:
    fake = fake_site()
    created, recorded = ask(fake, "flags_admin", 0)
    assert recorded["body"]["countMatched"] == 0 and created.status_code == 200
    updated, recorded = ask(fake, "flags_admin", 1)
    assert recorded["body"]["countMatched"] == 1
    assert updated.json()["values"][0]["id"] == created.json()["values"][0]["id"]
    assert [a["subject"] for a in fake.records["Activity"]] == ["Payment overdue (fixture 2)"]


@responses.activate
def test_install_saves_sent_again_update_the_same_records() -> None:
    """install_saves_repeated.json: match on option_group_id / custom_group_id given by name finds the
    record (countMatched 1, same ids). Old fake: it matched only fields named exactly, and duplicated."""
    fake = fake_site()
    for index in range(3):
        first, recorded = ask(fake, "install_saves_repeated", index)
        again, recorded = ask(fake, "install_saves_repeated", index)
        assert recorded["body"]["countMatched"] == 1
        assert again.json()["values"][0]["id"] == first.json()["values"][0]["id"]
    assert [len(fake.records[e]) for e in ("OptionValue", "CustomGroup", "CustomField")] == [1, 1, 1]


# ------------------------------------------------------------------------- what APIv4 refuses
def ask_by_get(fake: FakeCiviCRM, name: str) -> tuple[requests.Response, dict[str, Any]]:
    """Send a recorded HTTP GET (``params`` in the query string) to the fake."""
    (exchange,) = recording("civicrm", name)["exchanges"]
    request = exchange["request"]
    answer = requests.get(
        fake.endpoint + request["path"].removeprefix("/civicrm/ajax/api4"),
        params={"params": json.dumps(request["params"])},
        headers=request["headers"],
    )
    return answer, exchange["response"]


@responses.activate
def test_a_get_by_http_get_is_served_and_a_write_by_get_is_the_recorded_405() -> None:
    """Old fake: it had no GET route at all (a connection error, not CiviCRM's answer)."""
    fake = fake_site()
    panel_contact(fake, 2, display_name="coprod API user")
    got, recorded = ask_by_get(fake, "get_by_http_get")
    assert (got.status_code, got.json()["values"]) == (recorded["status"], recorded["body"]["values"])
    refused, recorded = ask_by_get(fake, "error_get_for_write")
    assert (refused.status_code, refused.json()) == (recorded["status"], recorded["body"])
    assert fake.records["Activity"] == []


@responses.activate
def test_an_update_without_where_is_refused_not_applied_to_every_record() -> None:
    """Old fake: ``Activity.update`` with no ``where`` updated every activity; APIv4 refuses it
    (DAOUpdateAction), unless the values carry the id, which then selects the one record."""
    fake = fake_site()
    for subject in ("a", "b"):
        fake.add("Activity", subject=subject, **{"status_id:name": "Scheduled"})
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}

    def update(params: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{ENDPOINT}/Activity/update", data={"params": json.dumps(params)}, headers=headers
        )

    refused = update({"values": {"status_id:name": "Completed"}})
    assert refused.status_code == 500
    assert (
        refused.json()["error_message"] == 'Parameter "where" is required unless an id is supplied in values.'
    )
    assert [a["status_id:name"] for a in fake.records["Activity"]] == ["Scheduled", "Scheduled"]
    assert update({"values": {"id": 2, "status_id:name": "Completed"}}).json()["values"] == [{"id": 2}]
    assert [a["status_id:name"] for a in fake.records["Activity"]] == ["Scheduled", "Completed"]


@responses.activate
def test_a_new_activity_without_its_type_or_source_contact_is_refused_and_nothing_is_saved() -> None:
    """Old fake: it created an activity from any fields. APIv4 checks the whole call's new records
    first ("Mandatory values missing"), so the complete record in the same call is not saved either."""
    fake = fake_site()
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}
    complete = {"subject": "ok", "activity_type_id:name": "Co-production flag", "source_contact_id": 2}
    params = {"records": [complete, {"subject": "no source", "activity_type_id:name": "Meeting"}]}
    refused = requests.post(f"{ENDPOINT}/Activity/save", data={"params": json.dumps(params)}, headers=headers)
    assert refused.status_code == 500
    assert (
        refused.json()["error_message"]
        == "Mandatory values missing from Api4 Activity::save: source_contact_id"
    )
    assert fake.records["Activity"] == []
    params = {
        "records": [{"subject": "s"}],
        "defaults": {k: v for k, v in complete.items() if k != "subject"},
    }
    saved = requests.post(f"{ENDPOINT}/Activity/save", data={"params": json.dumps(params)}, headers=headers)
    assert saved.status_code == 200 and len(fake.records["Activity"]) == 1


@responses.activate
def test_a_right_key_whose_role_may_not_log_in_by_api_key_is_authxs_guard_401_unless_the_site_key_comes() -> (
    None
):
    """Old fake: it let any role in with the right key; AuthX's default guards (site_key, perm) need
    'authenticate with api key' or the site key in X-Civi-Key."""
    fake = fake_site(ADMIN - {"authenticate with api key"})
    fake.site_key = "site-key-1234"
    panel_contact(fake, 2, display_name="coprod API user")
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}
    params = {"params": json.dumps({"select": ["id"], "limit": 1})}
    refused = requests.post(f"{ENDPOINT}/Contact/get", data=params, headers=headers)
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert refused.text == "HTTP 401 Login not permitted. Must satisfy guard (site_key, perm)."
    let_in = requests.post(
        f"{ENDPOINT}/Contact/get", data=params, headers={**headers, "X-Civi-Key": "site-key-1234"}
    )
    assert let_in.status_code == 200 and let_in.json()["values"] == [{"id": 2}]


@responses.activate
def test_test_participations_and_event_templates_are_left_out_unless_asked_for_as_apiv4_does() -> None:
    """Old fake: it returned them; APIv4 adds each such field's default to a get's where, unless the
    where names the field or fetches by id (AbstractGetAction::setDefaultWhereClause)."""
    fake = fake_site()
    fake.add("Event", id=1, title="Workshop")
    fake.add("Event", id=2, title="Workshop template", is_template=True)
    fake.add("Participant", id=1, contact_id=2, event_id=1)
    fake.add("Participant", id=2, contact_id=2, event_id=1, is_test=True)
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}

    def ids(entity: str, where: list[Any]) -> list[int]:
        params = {"params": json.dumps({"select": ["id"], "where": where, "limit": 0})}
        answer = requests.post(f"{ENDPOINT}/{entity}/get", data=params, headers=headers)
        return [v["id"] for v in answer.json()["values"]]

    assert ids("Participant", []) == [1] and ids("Event", []) == [1]
    assert ids("Participant", [["is_test", "=", True]]) == [2]
    assert ids("Participant", [["is_test", "=", False]]) == [1]
    assert ids("Event", [["id", "IN", [1, 2]]]) == [1, 2]


@responses.activate
def test_an_unknown_core_field_fails_in_where_and_vanishes_from_select_without_fields_being_set() -> None:
    """Old fake: without ``fake.fields`` set by the test, a where on a field CiviCRM does not have
    matched nothing, silently, and a select of one answered it as null."""
    fake = fake_site()
    panel_contact(fake, 2, display_name="coprod API user")
    failed, recorded = ask(fake, "error_unknown_where_field", 0)
    same_error(failed, recorded)
    fake.debug_permission = False
    failed, recorded = ask(fake, "error_unknown_where_field_no_debug", 0)
    same_error(failed, recorded)
    fake.debug_permission = True
    answered, recorded = ask(fake, "error_unknown_select_field", 0)
    assert (answered.status_code, answered.json()["values"]) == (200, recorded["body"]["values"])


@responses.activate
def test_a_key_that_is_no_field_of_the_entity_is_dropped_silently_on_save_and_update_as_apiv4_does() -> None:
    """Old fake: ``save`` and ``update`` stored every key given, so a flag written under a custom
    field name the site does not have looked kept. APIv4 drops it without an error
    (civicrm-core DAOActionTrait::formatCustomParams skips a ``Group.Field`` no custom group has; the
    BAO copies only its own columns)."""
    fake = fake_site()
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}

    def call(action: str, params: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{ENDPOINT}/Activity/{action}", data={"params": json.dumps(params)}, headers=headers
        )

    record = {
        "subject": "Payment overdue",
        "Coprod_Flags.Fingerprint": "abc",
        "Coprod_Flags.Status": "open",  # no such custom field on the site
        "flag_status": "open",  # no such core field
    }
    defaults = {"activity_type_id:name": "Co-production flag", "source_contact_id": 2}
    saved = call("save", {"records": [record], "defaults": defaults})
    assert saved.status_code == 200
    (stored,) = fake.records["Activity"]
    assert stored["Coprod_Flags.Fingerprint"] == "abc" and stored["subject"] == "Payment overdue"
    assert "Coprod_Flags.Status" not in stored and "flag_status" not in stored

    updated = call(
        "update",
        {"where": [["id", "=", stored["id"]]], "values": {"Coprod_Flags.Detail": "x", "details": "y"}},
    )
    assert updated.status_code == 200
    assert stored["details"] == "y" and "Coprod_Flags.Detail" not in stored


@responses.activate
def test_a_custom_field_made_through_the_api_is_kept_and_a_match_on_one_the_site_lacks_is_a_500() -> None:
    """A save's ``match`` looks records up with a get, so a field the site does not have there is
    APIv4's 500 "Invalid field", and nothing is written; a field created by CustomField.save is known."""
    fake = fake_site()
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}

    def save(entity: str, params: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{ENDPOINT}/{entity}/save", data={"params": json.dumps(params)}, headers=headers
        )

    defaults = {"activity_type_id:name": "Co-production flag", "source_contact_id": 2}
    record = {"subject": "s", "Coprod_Flags.Flag_Id": "abc"}
    refused = save("Activity", {"records": [record], "defaults": defaults, "match": ["Coprod_Flags.Flag_Id"]})
    assert refused.status_code == 500
    assert refused.json()["error_message"] == "Invalid field 'Coprod_Flags.Flag_Id'"
    assert fake.records["Activity"] == []

    field = {"custom_group_id:name": "Coprod_Flags", "name": "Flag_Id", "label": "Flag ID"}
    assert save("CustomField", {"records": [field]}).status_code == 200
    saved = save("Activity", {"records": [record], "defaults": defaults, "match": ["Coprod_Flags.Flag_Id"]})
    assert saved.status_code == 200 and fake.records["Activity"][0]["Coprod_Flags.Flag_Id"] == "abc"


@responses.activate
def test_a_get_parameter_the_fake_does_not_implement_is_a_loud_test_error_never_ignored() -> None:
    """Old fake: ``offset``, an ``orderBy`` other than id, ``join`` and the like were ignored, so a
    connector paging by offset or sorting by date would have passed here and misread a real site."""
    fake = fake_site()
    for contact_id in (2, 3, 4):
        panel_contact(fake, contact_id)
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"}

    def get(params: dict[str, Any]) -> requests.Response:
        return requests.post(f"{ENDPOINT}/Contact/get", data={"params": json.dumps(params)}, headers=headers)

    paged = get(
        {"select": ["id"], "where": [["id", ">", 2]], "orderBy": {"id": "ASC"}, "limit": 1, "offset": 0}
    )
    assert [r["id"] for r in paged.json()["values"]] == [3]
    for params, named in (
        ({"limit": 1, "offset": 1}, "offset"),
        ({"orderBy": {"display_name": "ASC"}}, "orderBy"),
        ({"orderBy": {"id": "DESC"}}, "orderBy"),
        ({"join": [["Email AS email", "LEFT"]]}, "join"),
    ):
        with pytest.raises(NotImplementedError, match=named):
            get(params)
