"""The CiviCRM connector against what a real CiviCRM 6.17.2 site answered (tests/fixtures/platforms/civicrm).

Each test replays recorded exchanges through ``responses``, matched by request (not by order), so
the connector meets the real answers: its own `coprod install` and `coprod sync` runs, and the
permission and error probes. RECORDED.md numbers the places where the real site differed from what
the code expected; each test says which number it pins.

Where the code now sends a request the recording lacks, the test names it: either it is in
``replay.unmatched`` (answered 599, and asserted), or it is served by an exchange this file *derives*
from a recorded one (``derive``) or *assumes* (``assume``), each with the reason, and asserted to have
been used. Recorded answers are never edited.
"""

from __future__ import annotations

import copy
import html
import json
import re
import tomllib
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from coprod.config import LoadedRecipe
from coprod.connectors.base import ConnectorContext, SourceUnavailable
from coprod.connectors.civicrm import CiviCRMConnector, CiviCRMOptions
from coprod.connectors.civicrm_api import CiviClient, CiviCRMError
from coprod.connectors.http import make_retry
from coprod.state import StateStore
from coprod.sync import run
from coprod_core.flags import Flag, Severity, Subject, SubjectKind
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, KnownFlag
from coprod_core.recipe import Entity, Recipe, parse_recipe
from fakes import ROOT
from fakes.replay import Replay, exchanges, recording

ENDPOINT = "http://civicrm.test/civicrm/ajax/api4"
KEY = "<CIVI_API_KEY>"
"""The recordings keep the key as this placeholder, so the connector sends it as the key."""
RECIPE_DIR = ROOT / "recipes" / "civicrm"
RUN_DATE = date(2026, 12, 3)


# ------------------------------------------------------------------------------------ helpers
def recorded_recipe() -> Recipe:
    """The recipe as the recordings ran it: the shipped recipe with page_size = 10."""
    data = tomllib.loads((RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8"))
    data["sources"]["crm"]["endpoint"] = ENDPOINT
    data["sources"]["crm"]["page_size"] = 10
    parsed, problems = parse_recipe(data, "recipe.toml")
    assert parsed is not None, problems
    return parsed


def connector(the_recipe: Recipe | None = None) -> CiviCRMConnector:
    r = the_recipe or recorded_recipe()
    ctx = ConnectorContext(recipe=r, recipe_dir=RECIPE_DIR, env={"CIVICRM_API_KEY": KEY})
    opts = CiviCRMOptions.model_validate(r.sources["crm"].options)
    return CiviCRMConnector("crm", opts, ctx, retry=make_retry(total=0))


def client() -> CiviClient:
    return CiviClient(ENDPOINT, KEY, retry=make_retry(total=0))


def site(*names: str, extra: Iterable[dict[str, Any]] = ()) -> Replay:
    """Recorded exchanges of these files (and any derived or assumed ones) served for ENDPOINT."""
    return Replay(ENDPOINT, exchanges("civicrm", *names) + list(extra), civicrm=True).register(responses.mock)


def exchange(name: str, index: int) -> dict[str, Any]:
    return recording("civicrm", name)["exchanges"][index]


def derive(
    source: Iterable[dict[str, Any]], change: Callable[[dict[str, Any]], dict[str, Any] | None], why: str
) -> list[dict[str, Any]]:
    """Recorded exchanges whose request ``change`` rewrites (None: left out), with the same answer.

    For a request the code now sends a little differently, where the difference cannot change what
    the site answered then (``why`` says why)."""
    out = []
    for e in source:
        params = change(copy.deepcopy(e["request"].get("params") or {}))
        if params is not None:
            out.append({**e, "request": {**e["request"], "params": params}, "derived": why})
    return out


def assume(
    entity: str, action: str, params: dict[str, Any], body: dict[str, Any], why: str
) -> dict[str, Any]:
    """An exchange the recordings lack, answered as ``why`` explains: named, never silent."""
    return {
        "request": {
            "method": "POST",
            "path": f"/civicrm/ajax/api4/{entity}/{action}",
            "headers": {"X-Requested-With": "XMLHttpRequest", "X-Civi-Auth": f"Bearer {KEY}"},
            "params": params,
        },
        "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": body},
        "assumed": why,
    }


def credential_proof(user: int, role: str) -> dict[str, Any]:
    """The proof's answer for a role whose recording has none: its API user's contact id."""
    return assume(
        "Contact",
        "get",
        {"select": ["id"], "where": [["id", "=", "user_contact_id"]], "limit": 1},
        {"values": [{"id": user}], "entity": "Contact", "action": "get", "count": 1, "countFetched": 1},
        f"{role}'s API user is contact {user} (the source_contact_id of its recorded saves)",
    )


def served_extras(replay: Replay) -> list[str]:
    """What the derived and assumed exchanges stood in for, in the order they were used."""
    return [
        f"{e['request']['path'].rsplit('/', 2)[-2]}.{e['request']['path'].rsplit('/', 1)[-1]}"
        for e in replay.served
        if "derived" in e or "assumed" in e
    ]


def with_live_contacts(params: dict[str, Any]) -> dict[str, Any] | None:
    """A Participant or Contribution read as the connector now sends it: trashed contacts left out."""
    where = params.get("where")
    if where is None:
        return None
    at = sum(1 for c in where if c[0].endswith(("groups:name", "tags:name")))
    where.insert(at, ["contact_id.is_deleted", "=", False])
    return params


def reads_of(entities: tuple[str, ...], *names: str) -> list[dict[str, Any]]:
    return [e for e in exchanges("civicrm", *names) if e["request"]["path"].split("/")[-2] in entities]


LIVE_CONTACTS = (
    "recorded before the connector asked for contact_id.is_deleted = false (RECORDED.md 8); no panel "
    "member was in the trash then (probe_deletions_contact.json trashed one later), so the site answered "
    "this request as it answered the recorded one"
)


def flag_from_record(record: dict[str, Any]) -> Flag:
    """The flag a recorded Activity.save record was written from, rebuilt from its details.

    The connector writes a flag's message, evidence, check and severity into the details; parsing
    them back gives a flag that, written again, must produce the recorded record byte for byte."""
    details = record["details"]
    message = html.unescape(re.match(r"<p>(.*?)</p>", details, re.DOTALL).group(1))  # type: ignore[union-attr]
    evidence: dict[str, Any] = {}
    for key, raw in re.findall(r"<li>(.*?): (.*?)</li>", details, re.DOTALL):
        text = html.unescape(raw)
        try:
            value = json.loads(text)
            evidence[html.unescape(key)] = value if json.dumps(value, ensure_ascii=False) == text else text
        except ValueError:
            evidence[html.unescape(key)] = text
    check_id, severity = re.search(r"Raised by coprod \(([^,]+), (\w+)\)", details).groups()  # type: ignore[union-attr]
    targets = record.get("target_contact_id")
    subject = (
        Subject(kind=SubjectKind.PERSON, id=str(targets[0]))
        if targets
        else Subject(kind=SubjectKind.PROJECT, id=str(record["campaign_id"]))
    )
    return Flag(
        check_id=check_id,
        severity=Severity(severity),
        subject=subject,
        title=record["subject"],
        message=message,
        evidence=evidence,
        fingerprint=record["Coprod_Flags.Fingerprint"],
        facts_digest="recorded",
        project_id=str(record["campaign_id"]),
    )


def change(f: Flag, kind: ChangeKind = ChangeKind.NEW) -> FlagChange:
    return FlagChange(kind, KnownFlag.from_flag(f, FlagStatus.OPEN, RUN_DATE, RUN_DATE), f)


def resolved(fingerprint: str) -> FlagChange:
    f = Flag(
        check_id="x",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PROJECT, id="1"),
        title="x",
        message="x",
        fingerprint=fingerprint,
        facts_digest="x",
    )
    return FlagChange(
        ChangeKind.RESOLVED, KnownFlag.from_flag(f, FlagStatus.RESOLVED, RUN_DATE, RUN_DATE), None
    )


def sent(entity: str, action: str) -> list[dict[str, Any]]:
    """The params of each request of this kind the connector sent (from responses' call log)."""
    out = []
    for call in responses.calls:
        if call.request.url and call.request.url.endswith(f"/{entity}/{action}"):
            body = call.request.body
            form = parse_qs(body.decode() if isinstance(body, bytes) else str(body))
            out.append(json.loads(form["params"][0]))
    return out


# ------------------------------------------------------------------------------------ install
PANEL_SEEN = assume(
    "Contact",
    "get",
    {
        "select": ["id", "Coprod_Panel.Roles:name"],
        "where": [["groups:name", "IN", ["Coproduction_Panel"]]],
        "limit": 2,
    },
    {
        "values": [
            {"id": 5, "Coprod_Panel.Roles:name": ["lived_experience", "carer"]},
            {"id": 6, "Coprod_Panel.Roles:name": ["carer"]},
        ],
        "entity": "Contact",
        "action": "get",
        "debug": None,
        "version": 4,
        "count": 2,
        "countFetched": 2,
    },
    "install now checks that the key sees the panel and its custom fields (RECORDED.md 6, 7); the "
    "answer is contacts 5 and 6 as sync_reads.json recorded them, with the admin key",
)


@responses.activate
def test_install_on_a_fresh_site_sends_the_recorded_requests_and_creates_the_three_things() -> None:
    replay = site("install_first_run", extra=[PANEL_SEEN])

    lines = connector().install()

    assert replay.unmatched == []
    assert replay.never_served() == []  # every recorded request is still sent, none twice too many
    assert served_extras(replay) == ["Contact.get"]  # the one check the recording lacks
    assert any("activity type 'Co-production flag' created" in line for line in lines)
    assert any("custom field group 'Coprod_Flags' created" in line for line in lines)
    assert any("fingerprint field 'Coprod_Flags.Fingerprint' created" in line for line in lines)
    assert any("sees the panel's contacts and their custom fields" in line for line in lines)
    # The custom group extends the new activity type by the value the real OptionValue.save answered.
    assert sent("CustomGroup", "save")[0]["records"][0]["extends_entity_column_value"] == ["56"]


@responses.activate
def test_install_run_again_finds_everything_and_saves_nothing() -> None:
    replay = site("install_second_run", extra=[PANEL_SEEN])

    lines = connector().install()

    assert replay.unmatched == [] and replay.never_served() == []
    assert sent("OptionValue", "save") == sent("CustomGroup", "save") == sent("CustomField", "save") == []
    assert sum("already there" in line for line in lines) == 3


# ------------------------------------------------------------------------------------ sync reads
def loaded(the_recipe: Recipe) -> LoadedRecipe:
    return LoadedRecipe(recipe=the_recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})


def later_pages(replay: Replay) -> list[str]:
    """The exchanges never served, as 'Entity <last where clause> (recorded or derived)'."""
    used = {id(e) for e in replay.served}
    out = []
    for e in replay.recorded:
        if id(e) not in used:
            request = e["request"]
            last = " ".join(map(str, request["params"]["where"][-1]))
            out.append(
                f"{request['path'].split('/')[-2]} {last} ({'derived' if 'derived' in e else 'recorded'})"
            )
    return out


@responses.activate
def test_a_dry_run_reads_the_recorded_site_matched_by_request() -> None:
    reads = reads_of(("Participant", "Contribution"), "sync_reads")
    replay = site("sync_reads", extra=derive(reads, with_live_contacts, LIVE_CONTACTS))
    the_recipe = recorded_recipe()

    result = run(
        loaded(the_recipe),
        state=StateStore.open(":memory:"),
        connectors={"crm": connector(the_recipe)},
        run_date=RUN_DATE,
        dry_run=True,
    )

    assert result.exit_code == 0, result.messages
    assert replay.unmatched == []
    # The requests the recording lacks: the participant and contribution reads now leave trashed
    # contacts out (RECORDED.md 8); the site answered them as it answered the recorded reads.
    assert served_extras(replay) == ["Participant.get", "Contribution.get"]
    # Never sent: the recorded originals of those two, and the pages after a trimmed page (the
    # recording kept 5 of a full page's 10 records, so the connector sees a short page and stops).
    assert later_pages(replay) == [
        "Contact id > 14 (recorded)",
        "Contact id > 24 (recorded)",
        "Participant status_id:name IN ['Attended'] (recorded)",
        "Participant id > 16 (recorded)",
        "Contribution financial_type_id:name IN ['Participation_payment'] (recorded)",
        "Participant id > 16 (derived)",
    ]
    counts = {entity: count.read for entity, count in result.counts.items()}
    assert counts == {"people": 5, "projects": 1, "sessions": 4, "attendance": 5, "payments": 5}
    assert result.flags  # the checks ran on what the real site answered


@responses.activate
def test_staff_statuses_are_read_from_the_recorded_flag_activities() -> None:
    replay = site("sync_reads_flag_activities")

    statuses = connector().read_staff_statuses()

    assert replay.unmatched == []
    # Page 1 of the recorded flag read (5 kept of 10, so the read stops there): all Scheduled.
    assert statuses == dict.fromkeys(
        [
            "356c86d9ff8165d7cffa",
            "97e0ecb6c75936d8c7a1",
            "0b6b5c2b992110d58737",
            "331ed35672fe005a82bd",
            "6f327bc52b7b3758b29d",
        ],
        FlagStatus.OPEN,
    )


# ------------------------------------------------------------------------------------ writes
NEW_FLAGS = [flag_from_record(r) for r in exchange("sync_writes", 0)["request"]["params"]["records"]]


@responses.activate
def test_new_flags_are_created_in_the_recorded_save_after_the_write_permission_is_proven() -> None:
    # The first sync: no flag activities yet (sync_reads.json's flag read), then the recorded save.
    replay = site("sync_reads", "install_first_run", "sync_writes")
    c = connector()
    c.read_staff_statuses()

    report = c.write_flags([change(f) for f in NEW_FLAGS])

    assert replay.unmatched == []
    assert sorted(report.written) == sorted(f.fingerprint for f in NEW_FLAGS) and report.failed == {}
    # The permission is asked once, before the first write, in the request install also sends.
    assert sent("Activity", "checkAccess") == [{"action": "create", "values": {"source_contact_id": 2}}]
    assert sent("Activity", "save") == [exchange("sync_writes", 0)["request"]["params"]]
    # The answer holds one record per input, in input order (RECORDED.md 11): the ids are remembered,
    # so the same flags written again in this run are updated by id, not matched and re-created.
    replay.unmatched.clear()
    c.write_flags([change(f, ChangeKind.CHANGED) for f in NEW_FLAGS[:1]])
    assert sent("Activity", "save")[-1]["records"][0]["id"] == 46
    assert len(replay.unmatched) == 1  # that update's answer was not recorded (see the next test)


BY_ID = exchange("sync_writes", 2)
CHANGED = flag_from_record(BY_ID["request"]["params"]["records"][0])
WITHOUT_CONTACTS = {
    "records": [
        {k: v for k, v in r.items() if k != "target_contact_id"}
        for r in BY_ID["request"]["params"]["records"]
    ],
    "reload": False,
}


@responses.activate
def test_a_changed_flag_is_updated_by_id_without_its_contacts_and_resolved_flags_are_completed() -> None:
    """RECORDED.md 1 and 2: re-sending a known flag's contacts makes CiviCRM delete and re-create its
    ActivityContact rows ('delete activities'), and without that permission the save answers 403
    after writing the subject and details. The update now leaves the contacts out."""
    update = assume(
        "Activity",
        "save",
        WITHOUT_CONTACTS,
        BY_ID["response"]["body"],
        "the recorded by-id save named the flag's contacts; the connector no longer sends them, and the "
        "answer, which echoes neither, is the recorded one",
    )
    replay = site("sync_reads_flag_activities", "install_first_run", "sync_writes", extra=[update])
    c = connector()
    c.read_staff_statuses()  # learns that 331ed35672fe005a82bd is activity 49

    gone = ["8d7342c6401c42007f46", "97e0ecb6c75936d8c7a1", "c72dc085fc692c8853e0", "d9e801602d97fc3b6b84"]
    report = c.write_flags([change(CHANGED, ChangeKind.CHANGED), *(resolved(fp) for fp in gone)])

    assert replay.unmatched == [] and report.failed == {}
    assert served_extras(replay) == ["Activity.save"]
    saved = sent("Activity", "save")
    assert saved == [WITHOUT_CONTACTS]
    assert saved[0]["records"][0]["id"] == 49
    assert "defaults" not in saved[0] and "match" not in saved[0]  # no source_contact_id either
    assert sent("Activity", "update") == [exchange("sync_writes", 1)["request"]["params"]]
    assert sorted(report.written) == sorted([CHANGED.fingerprint, *gone])


# ------------------------------------------------------------------------------------ permissions
def call_recorded(name: str, index: int, c: CiviClient | None = None) -> CiviCRMError | dict[str, Any]:
    """Send one recorded request as the connector's client sends it, answered by that exchange alone
    (several recorded exchanges share a request: the same read with and without a permission);
    returns the answer or the explanation."""
    recorded = exchange(name, index)
    responses.mock.reset()
    replay = Replay(ENDPOINT, [recorded], civicrm=True).register(responses.mock)
    entity, action = recorded["request"]["path"].split("/")[-2:]
    try:
        answer: CiviCRMError | dict[str, Any] = (c or client()).call(
            entity, action, recorded["request"]["params"]
        )
    except CiviCRMError as exc:
        answer = exc
    assert replay.unmatched == [] and replay.served == [recorded]
    return answer


@responses.activate
def test_a_refused_flag_update_for_want_of_delete_activities_is_named_as_a_permission_problem() -> None:
    """RECORDED.md 1 and 2: the real 403 (with and without 'view debug output'), and the status-only
    update that the same role may do."""
    detailed = call_recorded("flags_no_delete_activities", 4)
    hidden = call_recorded("flags_no_delete_activities", 1)

    assert isinstance(detailed, CiviCRMError) and detailed.status == 403
    assert "a permission problem" in str(detailed) and "'delete activities'" in str(detailed)
    assert "subject and details" in str(detailed)  # it may have half-landed: said, not hidden
    assert isinstance(hidden, CiviCRMError) and "a permission problem" in str(hidden)
    assert "'view all activities'" in str(hidden) and "Error ID uMfk-Ncjr-ZsUN" in str(hidden)


@responses.activate
def test_resolving_is_a_status_only_update_that_a_role_without_delete_activities_may_make() -> None:
    allowed = assume(
        "Activity",
        "checkAccess",
        {"action": "create", "values": {"source_contact_id": 3}},
        {"values": [{"access": True, "id": None}], "entity": "Activity", "action": "checkAccess", "count": 1},
        "the no-delete role may create activities (flags_no_delete_activities.json, exchange 1, created one); "
        "the shape is install_first_run.json's",
    )
    proof = credential_proof(3, "the no-delete role")
    replay = site("flags_no_delete_activities", extra=[allowed, proof])

    report = connector().write_flags([resolved("fixture00000nodelete")])

    assert replay.unmatched == [] and report.failed == {} and report.written == ["fixture00000nodelete"]
    assert sent("Activity", "update") == [exchange("flags_no_delete_activities", 7)["request"]["params"]]
    assert served_extras(replay) == ["Contact.get", "Activity.checkAccess"]


@responses.activate
def test_every_activity_write_refused_for_want_of_view_all_activities_names_it() -> None:
    """RECORDED.md 1: without 'view all activities' even a new flag's save is a 403, though the flag
    read still works (contact access is enough to read them)."""
    new_flag = call_recorded("flags_no_view_activities", 4)
    update = call_recorded("flags_no_view_activities", 1)

    assert isinstance(new_flag, CiviCRMError) and isinstance(update, CiviCRMError)
    for refusal in (new_flag, update):
        assert refusal.status == 403 and "a permission problem" in str(refusal)
        assert "'view all activities'" in str(refusal) and "Activity::save" in str(refusal)


@responses.activate
def test_the_flag_read_of_a_role_without_view_all_activities_still_returns_the_flags() -> None:
    proof = credential_proof(35, "the no-view-activities role")
    replay = site("flags_no_view_activities", extra=[proof])

    statuses = connector().read_staff_statuses()

    assert replay.unmatched == []
    assert statuses["97e0ecb6c75936d8c7a1"] is FlagStatus.ACKNOWLEDGED and len(statuses) == 5


@responses.activate
def test_a_key_that_may_log_in_but_not_see_contacts_stops_the_run_before_anything_is_written() -> None:
    """RECORDED.md 6: the minimal role's own `coprod sync --dry-run`: the credential proof passes,
    the people read answers 200 with no rows. The group's member count tells a key that may not see
    contacts from an empty panel; the run stops naming the permission, before any other read."""
    count = assume(
        "Group",
        "get",
        {"select": ["name", "contact_count"], "where": [["name", "IN", ["Coproduction_Panel"]]], "limit": 1},
        {
            "values": [{"id": 2, "name": "Coproduction_Panel", "contact_count": 28}],
            "entity": "Group",
            "action": "get",
            "count": 1,
            "countFetched": 1,
        },
        "Group's contact_count is not recorded; the seeded site had 28 contacts in the group (RECORDED.md). "
        "Whether the minimal role may read Group is not recorded either: if it may not, the run stops "
        "with the same advice (test_a_group_the_key_cannot_see_stops_the_run_too)",
    )
    replay = site("flags_minimal_role", extra=[count])
    the_recipe = recorded_recipe()
    state = StateStore.open(":memory:")

    result = run(
        loaded(the_recipe), state=state, connectors={"crm": connector(the_recipe)}, run_date=RUN_DATE
    )

    assert result.exit_code == 3
    text = " ".join(result.messages)
    assert "a permission problem" in text and "holds 28 contact(s)" in text and "'view all contacts'" in text
    assert replay.unmatched == []
    assert served_extras(replay) == ["Group.get"]
    assert [e["request"]["path"].split("/")[-2] for e in replay.served] == ["Contact", "Contact", "Group"]
    assert sent("Activity", "save") == [] and state.known_flags(the_recipe.name) == {}


@responses.activate
def test_custom_fields_left_out_of_an_answer_are_reported_as_a_permission_problem() -> None:
    """RECORDED.md 7: without 'access all custom data' Campaign.get answered only id and title; and a
    custom field in where is a 500 'Invalid field'."""
    replay = site("flags_minimal_role")
    c = connector()
    c._me = 4  # proven: flags_minimal_role.json, exchange 4

    with pytest.raises(SourceUnavailable) as raised:
        list(c.read(Entity.PROJECTS, c.context.recipe.entities[Entity.PROJECTS]))
    assert replay.unmatched == []
    invalid = call_recorded("flags_minimal_role", 14)

    text = str(raised.value)
    assert "a permission problem" in text and "'access all custom data'" in text
    assert "'Coprod_Project.Label:name'" in text
    assert isinstance(invalid, CiviCRMError)
    assert "'access all custom data'" in str(invalid) and "Coprod_Flags.Fingerprint" in str(invalid)


@responses.activate
def test_the_minimal_roles_refusals_name_the_permissions_each_read_needs() -> None:
    participants = call_recorded("flags_minimal_role", 15)
    events = call_recorded("flags_minimal_role", 16)
    hidden = call_recorded("flags_minimal_role", 6)

    assert isinstance(participants, CiviCRMError) and "'view event participants'" in str(participants)
    assert isinstance(events, CiviCRMError) and "'view event info'" in str(events)
    assert isinstance(hidden, CiviCRMError) and "'view event participants'" in str(hidden)
    assert "Error ID i4Vm-f5vu-LTpv" in str(hidden) and "'view debug output'" in str(hidden)


def test_reading_campaigns_needs_no_manage_campaign() -> None:
    """RECORDED.md 9: the minimal role (no 'manage campaign') read the campaign."""
    from coprod.connectors import civicrm_permissions as perms

    answer = exchange("flags_minimal_role", 11)["response"]
    assert answer["status"] == 200 and answer["body"]["values"][0]["id"] == 1
    everything = perms.names(perms.TO_READ + perms.TO_WRITE_BACK + perms.TO_INSTALL)
    assert "manage campaign" not in everything and "delete activities" not in everything
    assert perms.for_call("Campaign", "get") == ("access CiviCRM",)
    readme = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    assert "`manage campaign`" not in readme.split("Not needed")[0]


# ------------------------------------------------------------------------------------ errors
@responses.activate
def test_security_alert_means_no_accepted_credential_arrived() -> None:
    """RECORDED.md 3: with a valid X-Civi-Auth key, no X-Requested-With is accepted; the 400 comes
    when no credential it accepts arrived."""
    c = client()
    del c.session.headers["X-Requested-With"]
    accepted = call_recorded("error_no_x_requested_with", 0, c)
    del c.session.headers["X-Civi-Auth"]
    refused = call_recorded("error_no_x_requested_with", 1, c)

    assert isinstance(accepted, dict) and accepted["values"] == [{"id": 2}]
    assert isinstance(refused, CiviCRMError) and refused.status == 400
    assert "no credential it accepts arrived" in str(refused) and "X-Civi-Auth" in str(refused)


@responses.activate
def test_an_unknown_entity_is_a_500_explained_as_a_misspelt_entity_or_disabled_extension() -> None:
    """RECORDED.md 4: a 500 'does not exist', not a 404."""
    shown = call_recorded("error_unknown_entity", 0)
    hidden = call_recorded("error_unknown_entity_no_debug", 0)

    assert isinstance(shown, CiviCRMError) and shown.status == 500
    assert "no API NoSuchEntity.get" in str(shown) and "extension" in str(shown)
    assert isinstance(hidden, CiviCRMError) and "'view debug output'" in str(hidden)


@responses.activate
def test_a_disabled_civicampaign_is_named_only_when_civicrm_says_so() -> None:
    """RECORDED.md 4 and 5: the real 'does not exist' names CiviCampaign; a 'Sorry' 500 is not proof."""
    shown = call_recorded("campaign_component_disabled", 1)
    hidden = call_recorded("campaign_component_disabled", 2)

    assert isinstance(shown, CiviCRMError) and "CiviCampaign is not enabled" in str(shown)
    assert isinstance(hidden, CiviCRMError)
    assert "CiviCampaign is not enabled" not in str(hidden)  # not claimed: any 500 reads "Sorry"
    assert "If CiviCampaign is disabled" in str(hidden) and "Error ID 4n6b-KPWO-odYc" in str(hidden)


def test_events_without_their_campaign_stop_the_read_instead_of_losing_every_project() -> None:
    """RECORDED.md 10: with CiviCampaign off, Event.get answered {"id": 1} for select [id, campaign_id]."""
    record = exchange("campaign_component_disabled", 3)["response"]["body"]["values"][0]
    assert record == {"id": 1}
    c = connector()
    with pytest.raises(CiviCRMError) as raised:
        c._check_fields_answered(Entity.SESSIONS, "Event", ["id", "campaign_id"], record)
    assert "CiviCampaign is disabled" in str(raised.value) and "lose its project" in str(raised.value)


def test_a_field_left_out_of_an_answer_is_refused_not_read_as_empty() -> None:
    """error_unknown_select_field.json: an unknown field in select is left out silently (HTTP 200)."""
    record = exchange("error_unknown_select_field", 0)["response"]["body"]["values"][0]
    with pytest.raises(CiviCRMError) as raised:
        connector()._check_fields_answered(Entity.PEOPLE, "Contact", ["id", "no_such_field"], record)
    assert "'no_such_field'" in str(raised.value) and "does not have" in str(raised.value)


@responses.activate
def test_maintenance_mode_and_a_wrong_key_are_explained_from_the_real_answers() -> None:
    down = call_recorded("maintenance_mode", 0)
    assert isinstance(down, CiviCRMError) and "maintenance mode" in str(down)
    wrong = call_recorded("error_wrong_key", 0)
    assert isinstance(wrong, CiviCRMError) and "does not accept the API key" in str(wrong)
    assert KEY not in str(wrong)


@responses.activate
def test_participations_of_a_trashed_contact_are_left_out_by_the_clause_the_connector_adds() -> None:
    """RECORDED.md 8: the trashed contact 27's participation came back through the group filter,
    and not once contact_id.is_deleted = false was added, where the connector adds it."""
    with_trashed = call_recorded("probe_deletions_contact", 7)
    without = call_recorded("probe_deletions_contact", 8)
    assert isinstance(with_trashed, dict) and [v["id"] for v in with_trashed["values"]] == [32]
    assert isinstance(without, dict) and without["values"] == []

    c = connector()
    spec = c.context.recipe.entities[Entity.ATTENDANCE]
    where = c._where("Participant", c._entity_options(Entity.ATTENDANCE, spec))
    assert where[:2] == exchange("probe_deletions_contact", 8)["request"]["params"]["where"][:2]


def test_the_small_answer_shapes_the_connector_meets_are_the_ones_it_handles() -> None:
    """RECORDED.md 11: what the code relies on in the real answers, checked on them."""
    created = exchange("sync_writes", 0)
    records, values = created["request"]["params"]["records"], created["response"]["body"]["values"]
    assert [v["id"] for v in values] == [46, 47, 48, 49, 50] and len(records) == len(values)
    assert values[0]["Coprod_Flags.Fingerprint"] is None  # input order is all that ties them: zip
    update = exchange("sync_writes", 1)["response"]["body"]["values"]
    assert set(update[0]) >= {"id", "status_id"}  # an update answers ids, nothing the code reads
    assert exchange("install_first_run", 20)["response"]["body"]["values"] == [{"access": True, "id": None}]
    hidden, shown = exchange("flags_minimal_role", 0)["response"]["body"], exchange("flags_minimal_role", 13)
    assert hidden["error_code"] == "1" and shown["response"]["body"]["error_code"] == 0
    repeated = exchange("install_saves_repeated", 1)["response"]["body"]
    assert repeated["countMatched"] == 1 and repeated["values"][0]["name"] is None  # never read back
    unlimited = exchange("limit0_default", 0)
    assert unlimited["request"]["params"]["limit"] == 0 and unlimited["response"]["body"]["count"] == 34
    with pytest.raises(ValueError):  # so a read can never ask for "limit: 0", which means everything
        CiviCRMOptions.model_validate({"endpoint": ENDPOINT, "page_size": 0})
