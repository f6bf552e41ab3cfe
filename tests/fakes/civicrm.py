"""A small fake of CiviCRM's APIv4 over HTTP, for ``responses``, answering as the real site answered.

The fake keeps records per entity, keyed the way the API selects them (``status_id:name``,
``Group.Field``), and implements the parts of APIv4 coprod relies on, with the shapes recorded from
a CiviCRM 6.17.2 site (tests/fixtures/platforms/civicrm/RECORDED.md; ``tests/test_civicrm_fake.py``
checks the fake against those recordings):

- form-encoded ``params`` (a JSON body is ignored, so a ``get`` returns everything); ``where`` /
  ``orderBy id`` / ``limit`` (0 = no limit); another ``orderBy``, an ``offset``, or a get parameter it
  does not implement (``GET_PARAMS``) is a NotImplementedError in the test, never ignored; ``select: ["row_count"]`` counts; ``save`` with
  ``records`` + ``defaults`` + ``match`` (update only when exactly one record matches, else create);
  ``update`` by where; ``getFields``; ``checkAccess``; Group's calculated ``contact_count``;
- AuthX: a valid ``X-Civi-Auth`` key is accepted with or without ``X-Requested-With``; a wrong key is
  a text/plain 401, and so is a right key whose role lacks 'authenticate with api key' without the
  site key in ``X-Civi-Key`` (AuthX's default guards, site_key and perm); no credential with ``X-Requested-With`` is an anonymous visitor (200, no rows);
  no credential and no ``X-Requested-With`` is a 400 JSON "SECURITY ALERT";
- a field the recorded site does not have (core: ``CORE_FIELDS``; custom: ``CUSTOM_FIELDS`` and the
  fake's own CustomField records) is a 500 "Invalid field" in ``where`` (and so in a save's
  ``match``), left out of ``select`` silently, and dropped silently from the ``records`` /
  ``values`` of a write, as APIv4 drops it;
- an unknown entity, or one whose component is disabled, is a **500** "API (X, get) does not exist
  ...", not a 404; with CiviCampaign off, Event.get leaves ``campaign_id`` out silently;
- permissions (``permissions``, a role's set): a refused call is a 403 "Authorization failed:
  CiviCRM APIv4 (X::action)"; without 'view debug output' every error reads "Sorry an error
  occurred ... (Error ID: ...)" with ``error_code`` "1"; without 'view all contacts' only the API
  user's own contact is visible (200, no error), and so are only the activities and joined records
  it can see; without 'access all custom data' custom fields are left out of ``select`` silently and
  are an "Invalid field" 500 in ``where``; every Activity write needs 'view all activities'; an
  update that names an activity's contacts needs 'delete activities' and, without it, writes the
  rest of the activity first and then answers 403 (the real partial write);
- trashed contacts (``is_deleted``) are hidden from Contact.get unless ``id =`` is in ``where``, while
  their participations are still returned unless ``contact_id.is_deleted = false`` is asked for;
  so are test participations and payments (``is_test``) and event templates (``is_template``)
  (``HIDDEN_UNLESS_ASKED``, APIv4's default where);
- maintenance mode: a JSON 503 for every role but an administrator;
- a write refused as APIv4 refuses it (a 500, nothing written): ``update`` with no ``where`` and no
  ``id`` in its values, a new record without its required fields (``REQUIRED``); a ``get`` may come
  as an HTTP GET (``params`` in the query string), any other action by GET is the recorded 405.

The benchmark seeds it with a panel and drives a real sync against it.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests
import responses

ENDPOINT = "https://crm.example.org/civicrm/ajax/api4"
API_KEY = "k3y-Th4t-Must-N0t-Leak-0123456789"
USER_CONTACT_ID = 2

_URL = re.compile(r"/(\w+)/(\w+)$")

# The roles the recordings were made with (RECORDED.md): what each may do is what the fake allows.
ADMIN = frozenset(
    {
        "access CiviCRM",
        "authenticate with api key",
        "view my contact",
        "view all contacts",
        "edit all contacts",
        "access all custom data",
        "access CiviEvent",
        "view event info",
        "view event participants",
        "access CiviContribute",
        "manage campaign",
        "view all activities",
        "delete activities",
        "administer CiviCRM",
        "view debug output",
    }
)
MINIMAL = frozenset({"access CiviCRM", "authenticate with api key", "view my contact"})
NO_DELETE = ADMIN - {"administer CiviCRM", "view debug output", "delete activities"}
"""The recipe README's list when the recordings were made: no 'delete activities'."""
NO_VIEW_ACTIVITIES = NO_DELETE - {"view all activities"} | {"delete activities"}

ENTITIES = frozenset(
    {
        "Contact",
        "Event",
        "Participant",
        "Contribution",
        "Campaign",
        "Activity",
        "ActivityContact",
        "OptionValue",
        "CustomGroup",
        "CustomField",
        "Group",
        "GroupContact",
        "Tag",
        "Domain",
    }
)
NEEDS: dict[tuple[str, str], frozenset[str]] = {
    ("Event", "get"): frozenset({"access CiviCRM", "access CiviEvent", "view event info"}),
    ("Participant", "get"): frozenset({"access CiviCRM", "access CiviEvent", "view event participants"}),
    ("Contribution", "get"): frozenset({"access CiviCRM", "access CiviContribute"}),
    ("Activity", "save"): frozenset({"access CiviCRM", "view all activities"}),
    ("Activity", "create"): frozenset({"access CiviCRM", "view all activities"}),
    ("Activity", "update"): frozenset({"access CiviCRM", "view all activities"}),
    ("Activity", "delete"): frozenset({"access CiviCRM", "delete activities"}),
    ("ActivityContact", "save"): frozenset({"access CiviCRM", "view all activities"}),
    ("ActivityContact", "delete"): frozenset({"access CiviCRM", "delete activities"}),
    ("OptionValue", "save"): frozenset({"administer CiviCRM"}),
    ("CustomGroup", "save"): frozenset({"administer CiviCRM"}),
    ("CustomField", "save"): frozenset({"administer CiviCRM"}),
}
"""The API's own permission check ("gatekeeper") per call; anything else needs 'access CiviCRM'."""
GET_PARAMS = frozenset({"select", "where", "orderBy", "limit", "offset", "checkPermissions"})
"""The ``get`` parameters the fake answers as APIv4 does (``orderBy`` only as ``{"id": "ASC"}``,
``offset`` only as 0); any other (``join``, ``groupBy``, ``having``, ``chain``...) is a test-time
NotImplementedError naming it, never silently ignored: a connector relying on it would pass here
and fail on a real site."""
CONTACT_FIELDS = ("source_contact_id", "target_contact_id", "assignee_contact_id")
REQUIRED: dict[str, tuple[str, ...]] = {
    "Activity": ("activity_type_id", "source_contact_id"),
    "Participant": ("contact_id", "event_id"),
    "Contribution": ("contact_id", "financial_type_id", "total_amount"),
    "OptionValue": ("option_group_id", "label"),
    "CustomGroup": ("title", "extends"),
    "CustomField": ("custom_group_id", "label"),
}
"""Fields a new record must have (APIv4 "Mandatory values missing"); ``x:name`` gives ``x`` too."""


def _recorded_core_fields() -> dict[str, frozenset[str]]:
    """Entity -> its core field names on the recorded site (install_first_run.json getFields)."""
    fixture = (
        Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "civicrm" / "install_first_run.json"
    )
    out: dict[str, frozenset[str]] = {}
    for exchange in json.loads(fixture.read_text(encoding="utf-8"))["exchanges"]:
        path = exchange.get("request", {}).get("path", "")
        if path.endswith("/getFields"):
            names = {v["name"] for v in exchange["response"]["body"]["values"]}
            out[path.split("/")[-2]] = frozenset(n for n in names if "." not in n)
    return out


def _recorded_custom_fields() -> dict[str, frozenset[str]]:
    """Entity -> its custom fields (``Group.Field``) on the recorded site: those its getFields listed,
    and the flags' fingerprint field the recorded ``coprod install`` created on Activity."""
    fixture = (
        Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "civicrm" / "install_first_run.json"
    )
    out: dict[str, frozenset[str]] = {"Activity": frozenset({"Coprod_Flags.Fingerprint"})}
    for exchange in json.loads(fixture.read_text(encoding="utf-8"))["exchanges"]:
        path = exchange.get("request", {}).get("path", "")
        if path.endswith("/getFields"):
            names = {v["name"] for v in exchange["response"]["body"]["values"]}
            out[path.split("/")[-2]] = frozenset(n for n in names if is_custom(n))
    return out


CORE_FIELDS = {
    **_recorded_core_fields(),
    # civicrm-core schema/Activity/Activity.entityType.php, and the contact fields APIv4 adds to it
    # (ActivitySpecProvider); the recordings have no Activity getFields.
    "Activity": frozenset(
        [
            "id",
            "source_record_id",
            "activity_type_id",
            "subject",
            "activity_date_time",
            "duration",
            "location",
            "phone_id",
            "phone_number",
            "details",
            "status_id",
            "priority_id",
            "parent_id",
            "is_test",
            "medium_id",
            "is_auto",
            "relationship_id",
            "is_current_revision",
            "original_id",
            "result",
            "is_deleted",
            "campaign_id",
            "engagement_level",
            "weight",
            "is_star",
            "created_date",
            "modified_date",
            "source_contact_id",
            "target_contact_id",
            "assignee_contact_id",
        ]
    ),
}
"""Core fields of Contact, Campaign, Event, Participant and Contribution as CiviCRM 6.17.2 listed
them, and of Activity as its schema has them: another name in ``where`` is a 500 "Invalid field", in
``select`` left out silently, in a write's values dropped silently."""
HIDDEN_UNLESS_ASKED: dict[str, tuple[str, ...]] = {
    "Contact": ("is_deleted",),
    "Participant": ("is_test",),
    "Contribution": ("is_test", "is_template"),
    "Event": ("is_template",),
    "Activity": ("is_test", "is_deleted"),
}
"""Fields whose default (false) APIv4 adds to a get's where: trashed contacts, test participations
and payments, event templates are left out unless the where names the field or fetches by id
(civicrm-core GetActionDefaultsProvider: is_deleted, is_test and is_template default to false)."""
_CUSTOM = re.compile(r"[A-Z][A-Za-z0-9_]*\.[A-Za-z0-9_]+(:\w+)?")
"""``Group_Name.Field_Name``: custom groups start with a capital, implicit joins (``contact_id.x``) do not."""


@dataclass
class Call:
    entity: str
    action: str
    params: dict[str, Any]
    headers: dict[str, str]
    content_type: str


@dataclass
class _Counted:
    """A get answered with a count only (``select: ["row_count"]``)."""

    count: int


class _Refused(Exception):
    """An API exception: answered as CiviCRM answers it (detailed or "Sorry", by permission)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)


def _field(record: dict[str, Any], name: str) -> Any:
    """A match field's value: CiviCRM matches ``option_group_id`` given as ``option_group_id:name`` too."""
    return record.get(name, record.get(f"{name}:name"))


def is_custom(field: str) -> bool:
    return _CUSTOM.fullmatch(field) is not None


CUSTOM_FIELDS = _recorded_custom_fields()
"""Custom fields the recorded site has, by entity; a fake's own CustomField records add to them."""


def _matches(record: dict[str, Any], clause: list[Any], user: int | None) -> bool:
    return _holds(record.get(clause[0]), clause, user)


def _holds(have: Any, clause: list[Any], user: int | None) -> bool:
    """Whether a record's value ``have`` meets the where clause [field, op, value]."""
    op = clause[1]
    value = clause[2] if len(clause) > 2 else None
    if value == "user_contact_id":
        value = user
        if value is None:
            return False
    if op == "IS NOT EMPTY":
        return have not in (None, "", [])
    if op == "IS EMPTY":
        return have in (None, "", [])
    if op in ("IN", "NOT IN"):
        wanted = set(value or [])
        got = set(have) if isinstance(have, list) else {have}
        hit = bool(got & wanted)
        return hit if op == "IN" else not hit
    if have is None:
        return False
    if op == "=":
        return have == value
    if op in ("!=", "<>"):
        return have != value
    if op == ">":
        return have > value
    if op == ">=":
        return have >= value
    if op == "<":
        return have < value
    if op == "<=":
        return have <= value
    if op == "CONTAINS":
        return value in have if isinstance(have, list) else str(value) in str(have)
    raise AssertionError(f"fake does not know operator {op}")


class FakeCiviCRM:
    def __init__(
        self, endpoint: str = ENDPOINT, api_key: str = API_KEY, user_contact_id: int = USER_CONTACT_ID
    ):
        self.endpoint = endpoint
        self.api_key = api_key
        self.user_contact_id = user_contact_id
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.fields: dict[str, dict[str, str | None]] = {}
        self.calls: list[Call] = []
        self.permissions: set[str] = set(ADMIN)
        """The API user's role. Default: an administrator (every permission)."""
        self.campaign_enabled = True
        self.access = True
        """False: every checkAccess answers no (a site-specific rule, whatever the permissions)."""
        self.forbidden: set[tuple[str, str]] = set()
        """(entity, action) refused with a 403 whatever the permissions."""
        self.maintenance = False
        self.site_key: str | None = None
        """The site key (CIVICRM_SITE_KEY): sent as X-Civi-Key, it satisfies AuthX's guard for a
        role without 'authenticate with api key'."""
        self.ignore_auth_header = False
        """Serve every request as an anonymous visitor, as when a proxy strips X-Civi-Auth."""
        self.canned: dict[tuple[str, str], tuple[int, Any]] = {}
        """(entity, action) -> (status, JSON payload) answered instead of the action."""
        self.timeout_after_save = 0
        """Perform this many saves and then raise ReadTimeout, as when the answer is lost on the way."""
        self.gateway_timeout_after_save = 0
        """Perform this many saves and then answer 504, as a proxy does when CiviCRM is slow to finish."""
        self._next_id: Counter[str] = Counter()
        self._errors = 0
        self._contact_index: dict[Any, dict[str, Any]] = {}

    @property
    def debug_permission(self) -> bool:
        return "view debug output" in self.permissions

    @debug_permission.setter
    def debug_permission(self, on: bool) -> None:
        (self.permissions.add if on else self.permissions.discard)("view debug output")

    # -------------------------------------------------------------------- set-up
    def register(self, rsps: responses.RequestsMock) -> FakeCiviCRM:
        route = re.compile(re.escape(self.endpoint) + r"/\w+/\w+(\?.*)?$")
        rsps.add_callback(responses.POST, route, callback=self.handle)
        rsps.add_callback(responses.GET, route, callback=self.handle)
        return self

    def add(self, entity: str, **values: Any) -> dict[str, Any]:
        if "id" not in values:
            self._next_id[entity] += 1
            values["id"] = self._next_id[entity]
        else:
            self._next_id[entity] = max(self._next_id[entity], int(values["id"]))
        self.records[entity].append(values)
        return values

    def count(self, entity: str | None = None, action: str | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (entity is None or c.entity == entity) and (action is None or c.action == action)
        )

    def reads(self) -> int:
        return sum(1 for c in self.calls if c.action in ("get", "getFields", "checkAccess"))

    def writes(self) -> int:
        return len(self.calls) - self.reads()

    def contact(self, contact_id: Any) -> dict[str, Any] | None:
        contacts = self.records["Contact"]
        if len(self._contact_index) != len(contacts):  # rebuilt when contacts were added
            self._contact_index = {c["id"]: c for c in contacts}
        return self._contact_index.get(contact_id)

    # -------------------------------------------------------------------- HTTP
    def handle(self, request: requests.PreparedRequest) -> Any:
        url, _, query = (request.url or "").partition("?")
        match = _URL.search(url)
        assert match, request.url
        entity, action = match.group(1), match.group(2)
        ctype = request.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        if request.method == "GET":
            if action != "get":
                return _json(
                    405,
                    {
                        "error_code": 405,
                        "error_message": "SECURITY: All requests that modify the database must be http "
                        "POST, not GET.",
                    },
                )
            form = parse_qs(query)
            if "params" in form:
                params = json.loads(form["params"][0])
        elif ctype.startswith("application/x-www-form-urlencoded"):
            body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
            form = parse_qs(body)
            if "params" in form:
                params = json.loads(form["params"][0])
        self.calls.append(Call(entity, action, params, dict(request.headers), ctype))
        auth = None if self.ignore_auth_header else request.headers.get("X-Civi-Auth")
        user: int | None = None
        if auth:
            if auth != f"Bearer {self.api_key}":
                return 401, {"Content-Type": "text/plain;charset=UTF-8"}, "HTTP 401 Invalid credential"
            site_key_ok = self.site_key is not None and request.headers.get("X-Civi-Key") == self.site_key
            if "authenticate with api key" not in self.permissions and not site_key_ok:
                # AuthX's guards (site_key, perm): the key is right but may not be used to log in
                return (
                    401,
                    {"Content-Type": "text/plain;charset=UTF-8"},
                    "HTTP 401 Login not permitted. Must satisfy guard (site_key, perm).",
                )
            user = self.user_contact_id
        if request.headers.get("X-Requested-With") != "XMLHttpRequest" and user is None:
            # AuthX's header flow counts as a web-service request; without it, this is an ajax check.
            return _json(
                400,
                {
                    "error_code": 400,
                    "error_message": "SECURITY ALERT: Ajax requests can only be issued by javascript "
                    "clients, eg. CRM.api4().",
                },
            )
        if self.maintenance and "administer CiviCRM" not in self.permissions:
            return _json(
                503, {"status_code": 503, "status_message": "Temporarily unavailable for maintenance."}
            )
        try:
            return self._serve(entity, action, params, user)
        except _Refused as refused:
            return self._error(refused.status, refused.message)

    def _error(self, status: int, message: str) -> tuple[int, dict[str, str], str]:
        self._errors += 1
        error_id = f"Fake-Err{self._errors:02d}-Id"
        if self.debug_permission:
            return _json(
                status, {"error_id": error_id, "error_code": 0, "error_message": message, "status": status}
            )
        sorry = f"Sorry an error occurred and your request was not completed. (Error ID: {error_id})"
        return _json(status, {"error_code": "1", "error_message": sorry, "status": status})

    def _serve(self, entity: str, action: str, params: dict[str, Any], user: int | None) -> Any:
        if entity not in ENTITIES or (entity == "Campaign" and not self.campaign_enabled):
            raise _Refused(
                500,
                f"API ({entity}, {action}) does not exist (or the extension it belongs to is not enabled).",
            )
        if (entity, action) in self.canned:
            return _json(*self.canned[(entity, action)])
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            raise _Refused(
                500,
                f"API ({entity}, {action}) does not exist (or the extension it belongs to is not enabled).",
            )
        if (entity, action) in self.forbidden or (user is not None and not self._allowed(entity, action)):
            raise _Refused(403, f"Authorization failed: CiviCRM APIv4 ({entity}::{action})")
        if user is None and action not in ("get", "getFields", "checkAccess"):
            raise _Refused(403, f"Authorization failed: CiviCRM APIv4 ({entity}::{action})")
        values = handler(entity, params, user)
        if isinstance(values, (Exception, tuple)):
            return values  # a lost answer: an exception raised, or a (status, headers, body) response
        count = values.count if isinstance(values, _Counted) else len(values)
        rows = [] if isinstance(values, _Counted) else values
        return _json(
            200,
            {
                "values": rows,
                "entity": entity,
                "action": action,
                "version": 4,
                "count": count,
                "countFetched": len(rows),
            },
        )

    def _allowed(self, entity: str, action: str) -> bool:
        return NEEDS.get((entity, action), frozenset({"access CiviCRM"})) <= self.permissions

    # -------------------------------------------------------------------- what the user may see
    def _sees_contact(self, contact: dict[str, Any] | None, user: int | None) -> bool:
        if contact is None or user is None:
            return False
        return "view all contacts" in self.permissions or contact["id"] == user

    def _value(self, entity: str, record: dict[str, Any], field: str, user: int | None) -> Any:
        """A field of a record, implicit ``contact_id.x`` joins resolved through the Contact, if visible."""
        if field in record:
            return record[field]
        if field in HIDDEN_UNLESS_ASKED.get(entity, ()):
            return False  # every record has it: false until trashed (a test record, a template)
        if field.startswith("contact_id.") and entity != "Contact":
            contact = self.contact(record.get("contact_id"))
            if contact is None:
                return None
            if not self._sees_contact(contact, user):
                return None
            rest = field.removeprefix("contact_id.")
            return contact.get(rest, False if rest == "is_deleted" else None)
        return None

    def _visible(self, entity: str, record: dict[str, Any], where: list[list[Any]], user: int | None) -> bool:
        for hidden in HIDDEN_UNLESS_ASKED.get(entity, ()):
            # APIv4's default where (AbstractGetAction::setDefaultWhereClause): the field's default,
            # unless the where names it or fetches by id (``=`` or ``IN``)
            by_id = any(c[0] == "id" and c[1] in ("=", "IN") for c in where)
            if record.get(hidden) and not by_id and not any(c[0] == hidden for c in where):
                return False
        if entity == "Contact":
            return self._sees_contact(record, user)
        if entity == "Activity" and "view all contacts" not in self.permissions:
            people = [record.get("source_contact_id"), *(record.get("target_contact_id") or [])]
            return user in people
        if entity in ("Participant", "Contribution") and "view all contacts" not in self.permissions:
            return record.get("contact_id") == user
        return True

    def _unknown(self, entity: str, name: str) -> bool:
        """Whether CiviCRM would not know this field of ``entity``: not among ``fields`` when a test
        set them, else a core field (no dot: not custom, not a join) the recorded site lacks."""
        base = name.split(":")[0]
        known = self.fields.get(entity)
        if known is not None:
            return not base.startswith("contact_id.") and base not in known and name not in known
        if is_custom(base):
            return not self._kept_on_write(entity, base)
        core = CORE_FIELDS.get(entity)
        return core is not None and "." not in base and base not in core

    def _kept_on_write(self, entity: str, name: str) -> bool:
        """Whether a write's key reaches the record. APIv4 drops a key that is not a field of the
        entity without a word (civicrm-core: DAOActionTrait::formatCustomParams skips a
        ``Group.Field`` no custom group has, the BAO copies only its own fields; the answer still
        echoes the key, as null): a custom field written by a name the site does not know is lost."""
        base = name.split(":")[0]
        known = self.fields.get(entity)
        if known is not None:
            return base in known or name in known
        if is_custom(base):
            group, _, field_name = base.partition(".")
            held = any(
                f.get("name") == field_name and f.get("custom_group_id:name", f.get("custom_group")) == group
                for f in self.records["CustomField"]
            )
            return held or entity not in CUSTOM_FIELDS or base in CUSTOM_FIELDS[entity]
        core = CORE_FIELDS.get(entity)
        return core is None or "." in base or base in core

    def _written(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` as the site stores them: keys it does not know dropped (``_kept_on_write``)."""
        return {k: v for k, v in values.items() if self._kept_on_write(entity, k)}

    def _check_custom_where(self, where: list[list[Any]]) -> None:
        if "access all custom data" in self.permissions:
            return
        for clause in where:
            if isinstance(clause[0], str) and is_custom(clause[0]):
                raise _Refused(500, f"Invalid field '{clause[0]}'")

    # -------------------------------------------------------------------- actions
    def _candidates(self, entity: str, where: list[list[Any]]) -> list[dict[str, Any]]:
        """Records in id order, starting after ``id > x`` when the query pages (keeps the fake fast)."""
        rows = self.records[entity]
        if any(rows[i]["id"] > rows[i + 1]["id"] for i in range(len(rows) - 1)):
            rows.sort(key=lambda r: r["id"])
        after = next((c[2] for c in where if c[:2] == ["id", ">"]), None)
        if after is None:
            return rows
        return rows[bisect.bisect_right([r["id"] for r in rows], after) :]

    def _get(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]] | _Counted:
        unsupported = sorted(set(params) - GET_PARAMS)
        if unsupported or params.get("offset"):
            raise NotImplementedError(
                f"FakeCiviCRM does not implement {entity}.get's {', '.join(unsupported) or 'offset'}: "
                "implement it as APIv4 does before a connector or a test relies on it"
            )
        if (params.get("orderBy") or {"id": "ASC"}) != {"id": "ASC"}:
            raise NotImplementedError(
                f"FakeCiviCRM orders {entity}.get by id only (its rows are held in id order), not by "
                f"orderBy {params['orderBy']}: implement it as APIv4 does before relying on it"
            )
        if user is None:
            return []  # an anonymous visitor sees nothing, and is told nothing
        where = params.get("where", [])
        self._check_custom_where(where)
        select = list(params.get("select") or [])
        limit = params.get("limit") or 0
        for clause in where:
            if self._unknown(entity, clause[0]):
                raise _Refused(500, f"Invalid field '{clause[0]}'")
        rows = []
        for r in self._candidates(entity, where):
            if not self._visible(entity, r, where, user):
                continue
            if all(_holds(self._value(entity, r, c[0], user), c, user) for c in where):
                rows.append(r)
                if limit and len(rows) == limit and select != ["row_count"]:
                    break
        if select == ["row_count"]:
            return _Counted(len(rows))
        if not select:
            return [dict(r) for r in rows]
        out = []
        for r in rows:
            one: dict[str, Any] = {"id": r["id"]}
            for name in select:
                if self._unknown(entity, name):
                    continue  # an unknown field in select is left out, without an error
                if is_custom(name) and "access all custom data" not in self.permissions:
                    continue  # so is a custom field the user may not see
                if name == "campaign_id" and entity == "Event" and not self.campaign_enabled:
                    continue  # and, with CiviCampaign off, an event's campaign
                if name == "contact_count" and entity == "Group":
                    one[name] = sum(
                        1 for c in self.records["Contact"] if r.get("name") in (c.get("groups:name") or [])
                    )
                    continue
                one[name] = self._value(entity, r, name, user)
            out.append(one)
        return out

    def _save(self, entity: str, params: dict[str, Any], user: int | None) -> Any:
        match = params.get("match") or []
        index: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        if match:
            for r in self.records[entity]:
                if self._visible(entity, r, [], user):
                    index[tuple(_field(r, f) for f in match)].append(r)
        records = [{**params.get("defaults", {}), **given} for given in params.get("records", [])]
        for name in match:
            if not self._kept_on_write(entity, name) and any("id" not in r for r in records):
                raise _Refused(500, f"Invalid field '{name}'")  # match looks records up by a get
        records = [self._written(entity, r) for r in records]
        missing = sorted(
            {
                name
                for record in records
                if "id" not in record
                for name in REQUIRED.get(entity, ())
                if record.get(name) in (None, "") and record.get(f"{name}:name") in (None, "")
            }
        )
        if missing:
            raise _Refused(500, f"Mandatory values missing from Api4 {entity}::save: {', '.join(missing)}")
        out = []
        for record in records:
            existing = None
            if "id" in record:  # an id wins over match, as in APIv4 (matchExisting skips it)
                existing = next(r for r in self.records[entity] if r["id"] == record["id"])
            elif match and all(_field(record, f) is not None for f in match):
                found = index[tuple(_field(record, f) for f in match)]
                existing = found[0] if len(found) == 1 else None
            if existing is not None:
                self._update_one(entity, existing, record)
                out.append({"id": existing["id"]})
            else:
                created = self.add(entity, **record)
                if match:
                    index[tuple(_field(created, f) for f in match)].append(created)
                out.append({"id": created["id"]})
        if self.timeout_after_save:
            self.timeout_after_save -= 1
            return requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
        if self.gateway_timeout_after_save:
            self.gateway_timeout_after_save -= 1
            return 504, {"Content-Type": "text/html"}, "<html><body>504 Gateway Time-out</body></html>"
        return out

    def _update_one(self, entity: str, existing: dict[str, Any], values: dict[str, Any]) -> None:
        """Write a record; an activity's contacts are rewritten last, and need 'delete activities'."""
        contacts = {k: v for k, v in values.items() if entity == "Activity" and k in CONTACT_FIELDS}
        existing.update({k: v for k, v in values.items() if k not in contacts})
        if contacts and not self._allowed("ActivityContact", "delete"):
            raise _Refused(403, "Authorization failed: CiviCRM APIv4 (ActivityContact::delete)")
        existing.update(contacts)

    def _update(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        where = list(params.get("where") or [])
        values = params.get("values") or {}
        if values.get("id") and not any(c[0] == "id" for c in where):
            where.append(["id", "=", values["id"]])
        if not where:
            raise _Refused(500, 'Parameter "where" is required unless an id is supplied in values.')
        self._check_custom_where(where)
        rows = [
            r
            for r in self.records[entity]
            if self._visible(entity, r, where, user) and all(_matches(r, c, user) for c in where)
        ]
        for r in rows:
            self._update_one(entity, r, self._written(entity, values))
        return [{"id": r["id"]} for r in rows]

    def _getFields(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        return [{"name": n, "fk_entity": fk} for n, fk in self.fields.get(entity, {}).items()]

    def _checkAccess(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        allowed = user is not None and self.access and self._allowed(entity, str(params.get("action")))
        return [{"access": allowed, "id": None}]


# ------------------------------------------------------------------------ a seeded panel
ROLES = ["Lived_experience", "Carer", "Frontline_staff", "Manager"]
ETHNICITY = ["Asian", "Black", "Mixed", "White", "Other_ethnic_group", "Prefer_not_to_say"]
KINDS = ["Co_design_workshop", "Decision_meeting", "Focus_group", "Feedback_on_draft", "Steering_group"]
STAGES = ["Design", "Planning", "Delivery", "Evaluation"]


RATES = {"Co_design_workshop": 25, "Decision_meeting": 25, "Steering_group": 25, "Focus_group": 20}
RATES["Feedback_on_draft"] = 20


def seed_panel(
    fake: FakeCiviCRM,
    *,
    contacts: int = 5000,
    events: int = 300,
    participants: int = 20000,
    campaigns: int = 10,
    unpaid_every: int = 0,
    seed: int = 7,
) -> None:
    """A CiviEvent co-production panel shaped as recipes/civicrm/recipe.toml maps it.

    Half the panel has a voice role (lived experience or carer). With ``unpaid_every`` = N, every
    attendance of a voice member who wants paying is paid in full a week later (a Contribution of
    the exact amount the recipe's policy gives), except for every N-th member: those are owed, which
    is what raises payment flags. 0 leaves everyone unpaid.
    """
    rnd = random.Random(seed)
    fake.add("Contact", id=USER_CONTACT_ID - 1, display_name="Admin")
    fake.add("Contact", id=USER_CONTACT_ID, display_name="coprod API user")
    panel = ["Coproduction_Panel"]
    if not any(g.get("name") == panel[0] for g in fake.records["Group"]):
        fake.add("Group", name=panel[0])
    first = USER_CONTACT_ID + 1
    paid_people: set[int] = set()
    for i in range(contacts):
        roles = [ROLES[i % 4]] if i % 7 else ["Lived_experience", "Carer"]
        declined = i % 23 == 0
        if (
            {"Lived_experience", "Carer"} & set(roles)
            and not declined
            and (not unpaid_every or i % unpaid_every)
        ):
            paid_people.add(first + i)
        fake.add(
            "Contact",
            id=first + i,
            display_name=f"Member {i}",
            **{
                "groups:name": panel,
                "Coprod_Panel.Roles:name": roles,
                "Coprod_Panel.Payment_Preference:name": "Declined" if declined else "Paid",
                "Coprod_Panel.Benefits_Check": i % 11 == 0,
                "Equalities.Ethnicity:name": ETHNICITY[rnd.randrange(len(ETHNICITY))],
                "Equalities.Age_Band:name": rnd.choice(["18_24", "25_44", "45_64", "65_plus"]),
                "Equalities.Disability:name": rnd.choice(["Yes", "No", "Prefer_not_to_say"]),
                "gender_id:name": rnd.choice(["Female", "Male", "Other"]),
            },
        )
    for c in range(1, campaigns + 1):
        fake.add(
            "Campaign",
            id=c,
            title=f"Service redesign {c}",
            **{
                "Coprod_Project.Label:name": "Co_production",
                "Coprod_Project.Stages_Reached:name": STAGES[: 1 + c % 4],
                "Coprod_Project.Plan_Drafted": "2026-01-15",
            },
        )
    start = datetime(2026, 1, 5, 10, 0, 0)
    event_day: dict[int, datetime] = {}
    for e in range(1, events + 1):
        begins = start + timedelta(days=e % 120, hours=e % 3)
        event_day[e] = begins
        fake.add(
            "Event",
            id=e,
            title=f"Session {e}",
            start_date=begins.strftime("%Y-%m-%d %H:%M:%S"),
            end_date=(begins + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S"),
            campaign_id=1 + e % campaigns if campaigns else None,
            **{
                "event_type_id:name": KINDS[e % len(KINDS)],
                "Coprod_Session.Stage:name": STAGES[e % 4],
                "Coprod_Session.Decision_Taken": e % 10 == 0,
                "Coprod_Session.Decision": "the budget" if e % 10 == 0 else None,
            },
        )
    seen: set[tuple[int, int]] = set()
    p = 0
    while p < participants and events:
        contact, event = first + rnd.randrange(contacts), 1 + rnd.randrange(events)
        if (contact, event) in seen:
            continue
        seen.add((contact, event))
        attended, prep = p % 9 != 0, p % 3 == 0
        p += 1
        fake.add(
            "Participant",
            contact_id=contact,
            event_id=event,
            **{
                "status_id:name": "Attended" if attended else "No-show",
                "role_id:name": ["Attendee"],
                "contact_id.groups:name": panel,
                "Coprod_Attendance.Prep_Hours": 1 if prep else None,
                "Coprod_Attendance.Expenses_Claimed": None,
            },
        )
        if attended and contact in paid_people:
            kind = KINDS[event % len(KINDS)]
            fake.add(
                "Contribution",
                contact_id=contact,
                total_amount=float(RATES[kind] * (3 if prep else 2)),
                receive_date=(event_day[event] + timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S"),
                **{
                    "financial_type_id:name": "Participation_payment",
                    "contribution_status_id:name": "Completed",
                    "Coprod_Payment.Kind:name": "Fee",
                    "Coprod_Payment.Session": None,
                },
            )


# ------------------------------------------------------------------------ tests of the fake itself
