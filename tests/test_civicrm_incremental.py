"""CiviCRM changes between two syncs: seen by the full read, and by the notify path one record at a time.

The recorded probes (``tests/fixtures/platforms/civicrm``, RECORDED.md "Probe 5") show why coprod
never reads CiviCRM "changed since" a time: a change to custom fields alone (every field a recipe
maps) moves no modification time, and a Participant delete is hard and leaves no trace. So a cron
sync reads everything, and the webhook worker, told ``{entity, id, action}`` by the notify
extension, reads just that record: one request, the same fields and filters as the full read.
coprod's own write-backs are Activities, which the extension does not announce.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import responses

from coprod.connectors.base import ConnectorContext
from coprod.connectors.civicrm import CiviCRMConnector, CiviCRMOptions
from coprod_core.recipe import Entity, parse_recipe
from fakes import ROOT
from fakes.civicrm import API_KEY, FakeCiviCRM, seed_panel
from fakes.replay import exchanges, recording


def connector() -> CiviCRMConnector:
    data = tomllib.loads((ROOT / "recipes" / "civicrm" / "recipe.toml").read_text(encoding="utf-8"))
    recipe, problems = parse_recipe(data, "recipe.toml")
    assert recipe is not None, problems
    ctx = ConnectorContext(recipe=recipe, recipe_dir=Path("."), env={"CIVICRM_API_KEY": API_KEY})
    return CiviCRMConnector("crm", CiviCRMOptions.model_validate(recipe.sources["crm"].options), ctx)


def whole(c: CiviCRMConnector, entity: Entity) -> dict[str, dict[str, Any]]:
    spec = c.context.recipe.entities[entity]
    return {str(r.key): dict(r.values) for page in c.read(entity, spec) for r in page.rows}


def one(c: CiviCRMConnector, entity: Entity, record_id: int) -> dict[str, dict[str, Any]]:
    spec = c.context.recipe.entities[entity]
    return {str(r.key): dict(r.values) for r in c.read_record(entity, spec, record_id)}


def response(name: str, n: int) -> Any:
    return exchanges("civicrm", name)[n]["response"]["body"]


def test_the_probes_show_a_time_would_miss_custom_field_edits_and_deletes() -> None:
    before, after = response("probe_custom_field_change", 0), response("probe_custom_field_change", 2)
    assert before["values"][0]["Coprod_Panel.Payment_Preference:name"] == "bank_transfer"
    assert after["values"][0]["Coprod_Panel.Payment_Preference:name"] == "voucher"
    assert before["values"][0]["modified_date"] == after["values"][0]["modified_date"]
    prep = {v["id"]: v for v in response("probe_participant_change", 5)["values"]}
    assert prep[3]["Coprod_Attendance.Prep_Hours"] == 2.5 and prep[3]["modified_date"] < "2026-12-03 16:04:54"
    assert response("probe_deletions_participant", 3)["values"] == []  # deleted participant 20: gone
    since = response("probe_deletions_participant", 4)["values"]
    assert [v["id"] for v in since] == [2]  # ...and not among the records changed since T


def test_coprods_own_flag_activities_are_not_announced_by_the_notify_extension() -> None:
    sent = recording("civicrm", "notify_webhook")["exchanges"]
    notices = [
        e["received_by_loopback_receiver"]["body"] for e in sent if "received_by_loopback_receiver" in e
    ]
    assert [n["entity"] for n in notices] == ["Participant"] * 4
    assert sent[-1]["request"]["path"].endswith("/Activity/create")  # the last save: no notice after it
    assert connector().entities_of("Activity") == []


@responses.activate
def test_edits_and_deletes_between_two_syncs_are_seen_by_the_full_read_and_by_one_read_each() -> None:
    fake = FakeCiviCRM().register(responses.mock)
    seed_panel(fake, contacts=40, events=6, participants=120, campaigns=2)
    first = connector()
    people, attendance = whole(first, Entity.PEOPLE), whole(first, Entity.ATTENDANCE)
    contact = next(c for c in fake.records["Contact"] if str(c["id"]) in people and c["id"] > 2)
    trashed = next(c for c in fake.records["Contact"] if str(c["id"]) in people and c["id"] > contact["id"])
    attended = [p for p in fake.records["Participant"] if str(p["id"]) in attendance]
    no_show, deleted, edited = attended[0], attended[1], attended[2]

    # As the probes did it: custom fields only (no modification time moves), a status change, a
    # hard delete, a contact to the trash; and a new participant.
    contact["Coprod_Panel.Payment_Preference:name"] = "Declined"
    edited["Coprod_Attendance.Prep_Hours"] = 2.5
    no_show["status_id:name"] = "No-show"
    fake.records["Participant"].remove(deleted)
    trashed["is_deleted"] = True
    new = fake.add("Participant", contact_id=contact["id"], event_id=1, **{
        "status_id:name": "Attended", "role_id:name": ["Attendee"],
        "contact_id.groups:name": ["Coproduction_Panel"], "Coprod_Attendance.Prep_Hours": None,
    })  # fmt: skip

    again = connector()
    people2, attendance2 = whole(again, Entity.PEOPLE), whole(again, Entity.ATTENDANCE)
    assert people2[str(contact["id"])]["Coprod_Panel.Payment_Preference:name"] == "Declined"
    assert str(trashed["id"]) not in people2
    assert str(no_show["id"]) not in attendance2 and str(deleted["id"]) not in attendance2
    assert attendance2[str(edited["id"])]["Coprod_Attendance.Prep_Hours"] == "2.5"
    assert str(new["id"]) in attendance2

    worker = connector()
    worker.prove_credential()  # once, when the worker first reads
    for entity, record, expected in (
        (Entity.PEOPLE, contact["id"], people2),
        (Entity.PEOPLE, trashed["id"], people2),
        (Entity.ATTENDANCE, edited["id"], attendance2),
        (Entity.ATTENDANCE, no_show["id"], attendance2),
        (Entity.ATTENDANCE, new["id"], attendance2),
    ):
        calls = len(fake.calls)
        got = one(worker, entity, record)
        sent = fake.calls[calls:]
        assert len(sent) == 1 and sent[0].action == "get"
        assert ["id", "=", record] in sent[0].params["where"] and sent[0].params["limit"] == 1
        assert got == ({str(record): expected[str(record)]} if str(record) in expected else {}), (
            entity,
            record,
        )
    assert worker.entities_of("Participant") == [Entity.ATTENDANCE]
    assert worker.entities_of("Contact") == [Entity.PEOPLE]
