"""A small fake of CiviCRM's APIv4 over HTTP, for ``responses``; and tests that it behaves as CiviCRM does.

The fake keeps records per entity, keyed the way the API selects them (``status_id:name``,
``Group.Field``), and implements the parts of APIv4 coprod relies on, with the shapes in
shared/design/platforms.md: form-encoded ``params`` (a JSON body is ignored, so a ``get`` returns
everything), ``where`` / ``orderBy id`` / ``limit``, ``save`` with ``records`` + ``defaults`` +
``match`` (update only when exactly one record matches, else create), ``update`` by where,
``getFields``, ``checkAccess``; an anonymous visitor (no X-Civi-Auth) gets 200 and empty lists; a
wrong key gets AuthX's text/plain 401; no X-Requested-With gets a 400 "SECURITY ALERT".
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
from typing import Any
from urllib.parse import parse_qs

import requests
import responses

ENDPOINT = "https://crm.example.org/civicrm/ajax/api4"
API_KEY = "k3y-Th4t-Must-N0t-Leak-0123456789"
USER_CONTACT_ID = 2

_URL = re.compile(r"/(\w+)/(\w+)$")


@dataclass
class Call:
    entity: str
    action: str
    params: dict[str, Any]
    headers: dict[str, str]
    content_type: str


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)


def _matches(record: dict[str, Any], clause: list[Any], user: int | None) -> bool:
    field, op = clause[0], clause[1]
    value = clause[2] if len(clause) > 2 else None
    if value == "user_contact_id":
        value = user
        if value is None:
            return False
    have = record.get(field)
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
        self.campaign_enabled = True
        self.access = True
        self.forbidden: set[tuple[str, str]] = set()
        self.debug_permission = True
        self.maintenance = False
        self.ignore_auth_header = False
        """Serve every request as an anonymous visitor, as when a proxy strips X-Civi-Auth."""
        self.canned: dict[tuple[str, str], tuple[int, Any]] = {}
        """(entity, action) -> (status, JSON payload) answered instead of the action."""
        self.timeout_after_save = 0
        """Perform this many saves and then raise ReadTimeout, as when the answer is lost on the way."""
        self.gateway_timeout_after_save = 0
        """Perform this many saves and then answer 504, as a proxy does when CiviCRM is slow to finish."""
        self._next_id: Counter[str] = Counter()

    # -------------------------------------------------------------------- set-up
    def register(self, rsps: responses.RequestsMock) -> FakeCiviCRM:
        rsps.add_callback(
            responses.POST, re.compile(re.escape(self.endpoint) + r"/\w+/\w+$"), callback=self.handle
        )
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

    # -------------------------------------------------------------------- HTTP
    def handle(self, request: requests.PreparedRequest) -> Any:
        match = _URL.search(request.url or "")
        assert match, request.url
        entity, action = match.group(1), match.group(2)
        ctype = request.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        if ctype.startswith("application/x-www-form-urlencoded"):
            body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
            form = parse_qs(body)
            if "params" in form:
                params = json.loads(form["params"][0])
        self.calls.append(Call(entity, action, params, dict(request.headers), ctype))
        if request.headers.get("X-Requested-With") != "XMLHttpRequest":
            return (
                400,
                {"Content-Type": "text/plain"},
                "SECURITY ALERT: Ajax requests can only be issued by javascript clients.",
            )
        if self.maintenance:
            return 503, {"Content-Type": "text/html"}, "<html><body>Site under maintenance</body></html>"
        auth = None if self.ignore_auth_header else request.headers.get("X-Civi-Auth")
        user: int | None = None
        if auth:
            if auth != f"Bearer {self.api_key}":
                return 401, {"Content-Type": "text/plain"}, "HTTP 401 Invalid credential"
            user = self.user_contact_id
        if entity == "Campaign" and not self.campaign_enabled:
            return _json(
                500, {"error_code": 0, "error_message": "Api Campaign::get does not exist.", "status": 500}
            )
        if (entity, action) in self.canned:
            return _json(*self.canned[(entity, action)])
        if (entity, action) in self.forbidden:
            return _json(403, {"error_code": 0, "error_message": "Authorization failed", "status": 403})
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            return _json(
                500,
                {"error_code": 0, "error_message": f"Api {entity}::{action} does not exist.", "status": 500},
            )
        try:
            values = handler(entity, params, user)
        except PermissionError:
            return _json(403, {"error_code": 0, "error_message": "Authorization failed", "status": 403})
        except KeyError as exc:
            msg = (
                f"Invalid field {exc}"
                if self.debug_permission
                else "Sorry an error occurred. (Error ID: 5f3a9c)"
            )
            return _json(500, {"error_code": 0, "error_message": msg, "status": 500})
        if isinstance(values, (Exception, tuple)):
            return values  # a lost answer: an exception raised, or a (status, headers, body) response
        return _json(
            200,
            {
                "values": values,
                "entity": entity,
                "action": action,
                "version": 4,
                "count": len(values),
                "countFetched": len(values),
            },
        )

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

    def _get(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        if user is None:
            return []  # an anonymous visitor sees nothing, and is told nothing
        where = params.get("where", [])
        limit = params.get("limit") or 0
        rows = []
        for r in self._candidates(entity, where):
            if all(_matches(r, c, user) for c in where):
                rows.append(r)
                if limit and len(rows) == limit:
                    break
        select = params.get("select") or []
        if not select:
            return [dict(r) for r in rows]
        known = self.fields.get(entity)
        if known is not None:
            for name in select:
                if name.split(":")[0] not in known and name not in known:
                    raise KeyError(name)
        return [{"id": r["id"], **{k: r.get(k) for k in select}} for r in rows]

    def _save(self, entity: str, params: dict[str, Any], user: int | None) -> Any:
        if user is None:
            raise PermissionError
        match = params.get("match") or []
        index: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        if match:
            for r in self.records[entity]:
                index[tuple(r.get(f) for f in match)].append(r)
        out = []
        for given in params.get("records", []):
            record = {**params.get("defaults", {}), **given}
            existing = None
            if "id" in record:  # an id wins over match, as in APIv4 (matchExisting skips it)
                existing = next(r for r in self.records[entity] if r["id"] == record["id"])
            elif match and all(f in record for f in match):
                found = index[tuple(record[f] for f in match)]
                existing = found[0] if len(found) == 1 else None
            if existing is not None:
                existing.update(record)
                out.append({"id": existing["id"]})
            else:
                created = self.add(entity, **record)
                if match:
                    index[tuple(created.get(f) for f in match)].append(created)
                out.append({"id": created["id"]})
        if self.timeout_after_save:
            self.timeout_after_save -= 1
            return requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
        if self.gateway_timeout_after_save:
            self.gateway_timeout_after_save -= 1
            return 504, {"Content-Type": "text/html"}, "<html><body>504 Gateway Time-out</body></html>"
        return out

    def _update(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        if user is None:
            raise PermissionError
        rows = [r for r in self.records[entity] if all(_matches(r, c, user) for c in params.get("where", []))]
        for r in rows:
            r.update(params.get("values", {}))
        return [{"id": r["id"]} for r in rows]

    def _getFields(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        return [{"name": n, "fk_entity": fk} for n, fk in self.fields.get(entity, {}).items()]

    def _checkAccess(self, entity: str, params: dict[str, Any], user: int | None) -> list[dict[str, Any]]:
        return [{"access": self.access and user is not None}]


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
