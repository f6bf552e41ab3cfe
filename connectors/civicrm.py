"""CiviCRM connector: contacts, events, participants (and payments, campaigns) in; flag Activities out.

Larger charities keep their co-production panel in CiviCRM: people as contacts in a group, sessions
as events, attendance as participants, projects as campaigns. This connector reads them over APIv4
and records each flag as an Activity of the type "Co-production flag" that staff see on the contact.

Three decisions worth knowing:
- **The credential is proven before any read is trusted.** CiviCRM serves a request without a
  valid credential as an anonymous visitor: HTTP 200 with an empty list, which looks exactly like
  an empty CRM and would resolve every flag. So the first call of every run reads the API user's
  own contact (``id = 'user_contact_id'``); nothing there means no credential, and the run stops.
- **Writes are upserts.** Activities have no external id, so the flag fingerprint is kept in a
  custom field and every write is ``Activity.save`` with ``match`` on it: a retry after a timeout,
  or a re-run, updates the same Activity instead of creating a second one. A flag whose Activity
  was read this run is saved by its id, so even a duplicate (``match`` creates when two match)
  never breeds more.
- **Only the difference is written**, many records per call; resolving is one ``Activity.update``
  by fingerprint, which can never create anything.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import Field, ValidationInfo, field_validator, model_validator
from urllib3.util.retry import Retry

from coprod.connectors import civicrm_permissions as perms
from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorContext,
    ConnectorEntityOptions,
    ConnectorError,
    ConnectorOptions,
    Delivery,
    EntityContext,
    Page,
    Row,
    SourceUnavailable,
    Variable,
    WriteReport,
)
from coprod.connectors.civicrm_api import CiviClient, CiviCRMError
from coprod.connectors.civicrm_permissions import quoted
from coprod.connectors.http import UNENCRYPTED, unencrypted_to_another_machine
from coprod_core.defaults import new_list
from coprod_core.flags import Flag, SubjectKind
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, StaffStatuses
from coprod_core.live import UnitChange
from coprod_core.recipe import Entity, EntitySpec, EnvName
from coprod_core.removed import REMOVED_MESSAGE, REMOVED_NAMED_MESSAGE

log = logging.getLogger(__name__)

DEFAULT_LOCATION: dict[Entity, str] = {
    Entity.PEOPLE: "Contact",
    Entity.SESSIONS: "Event",
    Entity.ATTENDANCE: "Participant",
    Entity.PAYMENTS: "Contribution",
    Entity.PROJECTS: "Campaign",
}
"""The APIv4 entity each coprod entity comes from when the recipe gives no ``location``."""

DEFAULT_STATUSES: dict[str, list[str]] = {
    "Participant": ["Attended"],
    "Contribution": ["Completed"],
}
"""Only these statuses count unless the recipe says otherwise: a No-show or Cancelled participant
did not take part, and a pending contribution was not paid."""

STATUS_FIELD = {
    "Participant": "status_id:name",
    "Contribution": "contribution_status_id:name",
    "Activity": "status_id:name",
    "Event": None,
}

OPEN_STATUS = "Scheduled"
RESOLVED_STATUS = "Completed"
STAFF_STATUSES: dict[str, FlagStatus] = {
    "Scheduled": FlagStatus.OPEN,
    "Completed": FlagStatus.ACKNOWLEDGED,
    "Cancelled": FlagStatus.WONT_FIX,
    "Not Required": FlagStatus.WONT_FIX,
}
"""What staff mean by an Activity status on a flag: marking it Completed is "seen, dealt with";
Cancelled or Not Required is "won't fix". coprod never reopens either unless the facts change."""
CIVICRM_STATUS_WORDS = "Completed (acknowledged), Cancelled or Not Required (won't fix), Scheduled (open)"
WONT_FIX_STATUSES = [name for name, status in STAFF_STATUSES.items() if status is FlagStatus.WONT_FIX]

REMOVED_DETAILS = f"<p>{html.escape(REMOVED_MESSAGE)}</p>"
"""A flag Activity's details once the person it was about left the people list. A contact deleted
for good takes only its link to the activity with it (CiviCRM deletes the activities a contact
*recorded*, not those about them), and one in the trash keeps everything, so coprod clears them."""

REMOVED_NAMED_DETAILS = f"<p>{html.escape(REMOVED_NAMED_MESSAGE)}</p>"
"""A session's flag Activity's details once someone it named left the people list."""


def removed_details(kind: SubjectKind) -> str:
    """The details that replace a removed flag's (:func:`coprod_core.removed.removed_message`)."""
    return REMOVED_DETAILS if kind is SubjectKind.PERSON else REMOVED_NAMED_DETAILS


DATE_FIELDS = frozenset({"date", "plan_drafted"})
SUBJECT_MAX = 255
_NAME = re.compile(r"[A-Za-z0-9_]+")
_CUSTOM_FIELD = re.compile(r"(?![A-Za-z0-9_]*_id\.)[A-Za-z][A-Za-z0-9_]*\.[A-Za-z0-9_]+(:\w+)?")
"""``Custom_Group.Field`` (optionally ``:name``), not an implicit join (``contact_id.display_name``)."""


class RowLink(NamedTuple):
    """What a row points to, for a data-quality flag about it: its contact, person, session, project
    or campaign (whichever the row has; ids only)."""

    contact: int | None = None
    person: str | None = None
    session: str | None = None
    project: str | None = None
    campaign: int | None = None


_NO_LINK = RowLink()


class Place(NamedTuple):
    """Where a flag's activity goes: the contact it is about (target) and its campaign."""

    contact: int | None
    campaign: int | None


class CiviCRMOptions(ConnectorOptions):
    """``[sources.NAME]`` options for ``connector = "civicrm"``."""

    endpoint: str
    """The full APIv4 REST prefix, copied from the APIv4 Explorer's REST tab, e.g.
    https://example.org/civicrm/ajax/api4 (WordPress and Joomla route through their admin URLs)."""
    api_key_env: EnvName = "CIVICRM_API_KEY"
    site_key_env: EnvName = "CIVICRM_SITE_KEY"
    """Used only when the variable is set (so ``coprod validate`` does not require it)."""
    page_size: int = Field(default=1000, ge=1, le=5000)
    write_chunk: int = Field(default=500, ge=1, le=2000)
    flag_activity_type: str = "Co-production flag"
    fingerprint_field: str = "Coprod_Flags.Fingerprint"
    source_contact_id: int | None = None
    """The contact recorded as author of flag Activities; default: the API user's own contact."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"https?://[^/\s]+", v):
            raise ValueError("must be the full address starting with https://, from the APIv4 Explorer")
        if unencrypted_to_another_machine(v):
            raise ValueError(UNENCRYPTED.format(key="API key"))
        if "#" in v:
            # The Explorer's own page (.../civicrm/api4#/explorer, or #/explorer/Contact/get once an
            # entity and action are chosen) copied from the browser's address bar: nothing after '#'
            # reaches the site, which answered every call with that page. Said before /Entity/action,
            # whose advice would leave the browser's address.
            raise ValueError(
                "is the address of a page in your browser, not the API's: copy the address the APIv4 "
                "Explorer's REST tab shows before /Contact/get (e.g. https://example.org/civicrm/ajax/api4)"
            )
        if re.search(r"/(get|save|create|update|delete)/?$", v):
            raise ValueError(
                "give the prefix only (e.g. https://example.org/civicrm/ajax/api4), without /Entity/action"
            )
        return v.rstrip("/")

    @field_validator("fingerprint_field")
    @classmethod
    def _group_dot_field(cls, v: str) -> str:
        parts = v.split(".")
        if len(parts) != 2 or not all(_NAME.fullmatch(p) for p in parts):
            raise ValueError("must be 'Custom_Group_Name.Field_Name' (letters, digits and _)")
        return v

    def variables(self) -> list[Variable]:
        return [Variable("api_key_env", self.api_key_env, "The CiviCRM API key")]


class CiviEntityOptions(ConnectorEntityOptions):
    """``[entities.X.options]`` for an entity read from CiviCRM."""

    group: list[str] = Field(default_factory=new_list)
    """Only contacts in these groups (names; smart groups included)."""
    tag: list[str] = Field(default_factory=new_list)
    """Only contacts with these tags (names)."""
    event_types: list[str] = Field(default_factory=new_list)
    statuses: list[str] | None = None
    """Participant / Contribution / Activity status names that count (Participant default: Attended)."""
    financial_types: list[str] = Field(default_factory=new_list)
    activity_types: list[str] = Field(default_factory=new_list)
    hours_from: tuple[str, str] | None = None
    """Start and end fields: the column mapped to ``hours`` is computed from them."""
    where: list[list[Any]] = Field(default_factory=new_list)
    """Extra APIv4 where clauses, e.g. [["is_active", "=", true]]."""

    @field_validator("group", "tag", "event_types", "financial_types", "activity_types", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("where")
    @classmethod
    def _clauses(cls, v: list[list[Any]]) -> list[list[Any]]:
        for clause in v:
            if not clause or not isinstance(clause[0], str):
                raise ValueError(f"clause {clause!r} is not [field, operator, value]")
        return v

    @model_validator(mode="after")
    def _fit_the_api_entity(self, info: ValidationInfo) -> CiviEntityOptions:
        """Options that cannot apply to the APIv4 entity read (from the entity's ``location``)."""
        if not isinstance(info.context, EntityContext):
            return self
        api_entity = info.context.location or DEFAULT_LOCATION[info.context.entity]
        wrong: list[str] = []
        if _contact_path(api_entity) is None:
            wrong.extend(
                f"'{option}' cannot limit {api_entity} records (it applies to contacts)"
                for option in ("group", "tag")
                if getattr(self, option)
            )
        if self.event_types and api_entity not in ("Event", "Participant"):
            wrong.append(f"'event_types' applies to Event or Participant, not {api_entity}")
        if self.statuses and not STATUS_FIELD.get(api_entity):
            wrong.append(f"'statuses' has no meaning for {api_entity}")
        if self.financial_types and api_entity != "Contribution":
            wrong.append(f"'financial_types' applies to Contribution only, not {api_entity}")
        if self.activity_types and api_entity != "Activity":
            wrong.append(f"'activity_types' applies to Activity only, not {api_entity}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return self


def _contact_path(api_entity: str) -> str | None:
    """Where the contact is on this entity, for group and tag filters."""
    if api_entity in ("Contact", "Individual", "Organization", "Household"):
        return ""
    if api_entity in ("Participant", "Contribution", "Membership"):
        return "contact_id."
    return None


def _plain(value: Any) -> Any:
    """APIv4 values as a row holds them: ids and numbers as text, lists kept as lists."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _hours_between(start: Any, end: Any) -> str | None:
    try:
        a = datetime.fromisoformat(str(start))
        b = datetime.fromisoformat(str(end))
    except ValueError:
        return None
    seconds = (b - a).total_seconds()
    if seconds < 0:
        return None
    return format((Decimal(int(seconds)) / 3600).quantize(Decimal("0.01")).normalize(), "f")


def _ids(what: str, ids: Sequence[int]) -> str:
    """``flag activity 41``, ``flag activities 41, 42, 43, 44, 45 and 495 more``: ids, never names."""
    if len(ids) == 1:
        return f"{what} {ids[0]}"
    plural = what[:-1] + "ies" if what.endswith("y") else what + "s"
    shown = ", ".join(str(i) for i in ids[:5])
    return f"{plural} {shown}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def _int_or_none(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def _notice_in(subject: str) -> dict[str, Any] | None:
    """The notice a subject the inbox kept says (``Participant 33 edit``), for a worker without it."""
    found = re.fullmatch(r"(\w+) (\d+) (create|edit|delete)", subject.strip())
    return {"entity": found[1], "id": int(found[2]), "action": found[3]} if found else None


class CiviCRMConnector(Connector):
    kind = "civicrm"
    platform = "civicrm"
    Options = CiviCRMOptions
    EntityOptions = CiviEntityOptions
    removed_rows_advice = (
        "delete their attendance and payment records too, or mark this flag's activity Cancelled if the "
        "charity must keep the payment record"
    )
    """CiviCRM's word for won't fix is an activity status (Cancelled, or Not Required: see
    :data:`STAFF_STATUSES`), and its records are not rows."""
    removed_rows_advice_no_write_back = (
        "delete their attendance and payment records too (the recipe's write_back = false keeps coprod's "
        "flags out of this site, so there is no flag activity to mark Cancelled: while a record names them, "
        "this flag stays)"
    )

    def __init__(
        self,
        name: str,
        options: ConnectorOptions,
        context: ConnectorContext,
        *,
        retry: Retry | None = None,
    ) -> None:
        super().__init__(name, options, context)
        assert isinstance(options, CiviCRMOptions)
        self.opts: CiviCRMOptions = options
        self._retry = retry
        self._client: CiviClient | None = None
        self._me: int | None = None
        self._contact_of_person: dict[str, int] = {}
        self._campaign_of_project: dict[str, int] = {}
        self._project_of_session: dict[str, str] = {}
        self._row_links: dict[tuple[str, str], RowLink] = {}
        """(entity, row key) -> what a data-quality flag about that row is filed under."""
        self._activity_of_flag: dict[str, int] | None = None
        """fingerprint -> id of the flag's oldest Activity, as read this run (None: not read yet)."""
        self._may_write = False
        """CiviCRM said the API user may record flag activities (asked once, before the first write)."""

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> CiviClient:
        """Built on first use, so a recipe can be validated without the key being set."""
        if self._client is None:
            key = self.context.secret(self.opts.api_key_env, what="The CiviCRM API key")
            site_key = self.context.env.get(self.opts.site_key_env, "").strip() or None
            self._client = CiviClient(
                self.opts.endpoint,
                key,
                site_key,
                timeout=self.context.timeout,
                retry=self._retry,
                api_key_env=self.opts.api_key_env,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def prove_credential(self) -> int:
        """The API user's own contact id, or SourceUnavailable: an anonymous answer is never trusted.

        APIv4 resolves the value ``user_contact_id`` to the logged-in contact; for an anonymous
        visitor it resolves to nothing and the answer is an empty list.
        """
        if self._me is not None:
            return self._me
        try:
            answer = self.client.call(
                "Contact",
                "get",
                {"select": ["id"], "where": [["id", "=", "user_contact_id"]], "limit": 1},
            )
        except CiviCRMError as exc:
            if exc.status != 403:
                raise
            raise CiviCRMError(
                "CiviCRM would not say who the API user is (HTTP 403): either the API key in "
                f"{self.opts.api_key_env} did not arrive (a proxy may remove the X-Civi-Auth header) and the "
                "request was served as an anonymous visitor, or the API user may not read its own contact: "
                f"grant its role {quoted(perms.for_call('Contact', 'get'))}. Nothing was read or changed.",
                where=f"[sources.{self.name}]",
                status=403,
            ) from None
        values = answer.get("values") or []
        if not values or _int_or_none(values[0].get("id")) is None:
            raise SourceUnavailable(
                "CiviCRM answered as it answers an anonymous visitor: the API key in "
                f"{self.opts.api_key_env} was not sent or not accepted, so an empty answer cannot be "
                "trusted and nothing was read or changed. Check that AuthX accepts API keys in the "
                "X-Civi-Auth header (Administer > System Settings > Authentication), that the key is the "
                "one on the API user's contact, and that no proxy removes the header.",
                where=f"[sources.{self.name}]",
            )
        self._me = int(values[0]["id"])
        log.info("CiviCRM source %s: credential proven", self.name)
        return self._me

    @property
    def requests_made(self) -> tuple[int, int]:
        """(reads, writes) sent so far, for benchmarks and tests."""
        if self._client is None:
            return (0, 0)
        return (self._client.counts.reads, self._client.counts.writes)

    def _entity_options(self, entity: Entity, spec: EntitySpec) -> CiviEntityOptions:
        return CiviEntityOptions.of(entity, spec)

    # ------------------------------------------------------------------ reading
    def _select(self, spec: EntitySpec, opts: CiviEntityOptions) -> tuple[list[str], str | None]:
        """Exactly the mapped fields (and id); the hours column is computed when ``hours_from`` is set."""
        computed = spec.fields.get("hours") if opts.hours_from else None
        wanted = ["id", *spec.fields.values(), *spec.demographics.values(), *(opts.hours_from or ())]
        select: list[str] = []
        for name in wanted:
            if name and name != computed and name not in select:
                select.append(name)
        return select, computed

    def _where(self, api_entity: str, opts: CiviEntityOptions) -> list[list[Any]]:
        """The where clauses the options ask for (that they fit ``api_entity`` was checked when they
        were read, by ``CiviEntityOptions``, as ``coprod validate`` checks them)."""
        where: list[list[Any]] = []
        prefix = _contact_path(api_entity) or ""
        for names, field in ((opts.group, "groups:name"), (opts.tag, "tags:name")):
            if names:
                where.append([prefix + field, "IN", list(names)])
        if prefix:
            # A trashed contact's participations and contributions are still returned (even through
            # the group filter) while the contact itself is not: leave them out as the people read does.
            where.append(["contact_id.is_deleted", "=", False])
        if opts.event_types:
            event_type = "event_type_id:name" if api_entity == "Event" else "event_id.event_type_id:name"
            where.append([event_type, "IN", list(opts.event_types)])
        statuses = opts.statuses if opts.statuses is not None else DEFAULT_STATUSES.get(api_entity)
        status_field = STATUS_FIELD.get(api_entity)
        if statuses and status_field:
            where.append([status_field, "IN", list(statuses)])
        if opts.financial_types:
            where.append(["financial_type_id:name", "IN", list(opts.financial_types)])
        if opts.activity_types:
            where.append(["activity_type_id:name", "IN", list(opts.activity_types)])
        where.extend(list(clause) for clause in opts.where)
        return where

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        opts = self._entity_options(entity, spec)
        api_entity = spec.location or DEFAULT_LOCATION[entity]
        select, computed = self._select(spec, opts)
        where = self._where(api_entity, opts)
        me = self.prove_credential()
        after = _int_or_none(cursor)
        pages = seen = 0
        only_me = True
        for values in self.client.get_pages(
            api_entity, select=select, where=where, page_size=self.opts.page_size, after=after
        ):
            if pages == 0:
                self._check_fields_answered(entity, api_entity, select, values[0])
            only_me = only_me and all(_int_or_none(v.get("id")) == me for v in values)
            rows = [self._row(entity, api_entity, spec, opts, computed, v) for v in values]
            pages += 1
            seen += len(rows)
            yield Page(rows=rows, cursor=str(values[-1]["id"]))
        if _contact_path(api_entity) == "" and after is None and only_me:
            self._prove_contacts_visible(entity, opts, seen)
        if pages == 0:
            yield Page(rows=[], cursor=cursor)

    def entities_of(self, api_entity: str) -> list[Entity]:
        """The recipe's entities this source reads from ``api_entity`` (e.g. ``Participant``)."""
        return [
            entity
            for entity, spec in self.context.recipe.entities.items()
            if spec.source == self.name and (spec.location or DEFAULT_LOCATION[entity]) == api_entity
        ]

    def changes_for(self, delivery: Delivery) -> list[UnitChange] | None:
        """A notice ``{entity, id, action}``: the record it names, read (one request per entity of
        the recipe read from that API entity; none for a delete, the record is gone). A group
        membership's notice names the membership, not the contact: everything is read then."""
        if delivery.platform != self.platform:
            return []
        notice = delivery.notice or _notice_in(delivery.subject)
        if notice is None:
            return None
        api_entity, action = str(notice.get("entity") or ""), str(notice.get("action") or "")
        record_id = _int_or_none(notice.get("id"))
        if api_entity == "GroupContact" or record_id is None:
            return None
        specs = self.context.recipe.entities
        return [
            UnitChange(
                entity,
                str(record_id),
                () if action == "delete" else tuple(self.read_record(entity, specs[entity], record_id)),
                # an edited contact may be one back from the trash, with participations never read
                brings_others=api_entity == "Contact" and action == "edit",
            )
            for entity in self.entities_of(api_entity)
        ]

    def read_record(self, entity: Entity, spec: EntitySpec, record_id: int) -> list[Row]:
        """The one record a notify delivery names (``{entity, id, action}``), read as the whole read
        reads it (the same fields and filters, and ``id =``): one request. No row when the record is
        no longer one the recipe reads (deleted, trashed, no longer Attended, out of the group).

        Used by the webhook worker, which holds the rest of the dataset in memory; a cron sync reads
        everything (CiviCRM moves no modification time when only custom fields change, which is
        every field a recipe maps, so "changed since" would miss most edits)."""
        opts = self._entity_options(entity, spec)
        api_entity = spec.location or DEFAULT_LOCATION[entity]
        select, computed = self._select(spec, opts)
        where = [*self._where(api_entity, opts), ["id", "=", int(record_id)]]
        if _contact_path(api_entity) == "":
            where.append(["is_deleted", "=", False])  # with "id =", CiviCRM returns a trashed contact too
        self.prove_credential()
        values = self.client.call(api_entity, "get", {"select": select, "where": where, "limit": 1}).get(
            "values"
        )
        records = [v for v in values or [] if isinstance(v, Mapping)]
        if records:
            self._check_fields_answered(entity, api_entity, select, records[0])
        return [self._row(entity, api_entity, spec, opts, computed, v) for v in records]

    def _check_fields_answered(
        self, entity: Entity, api_entity: str, select: Sequence[str], record: Mapping[str, Any]
    ) -> None:
        """Refuse an answer that left out fields it was asked for: CiviCRM drops them silently.

        A selected field comes back in every record (as null when empty), except when CiviCRM
        cannot give it: a custom field the API user may not see (no 'access all custom data'), an
        event's campaign while CiviCampaign is off, a field that does not exist. Read on, and every
        value of that column would look empty: a permission problem would pass for missing data.
        """
        missing = [name for name in select if name not in record]
        if not missing:
            return
        here = f"[entities.{entity.value}] {api_entity}.get"
        custom = [name for name in missing if _CUSTOM_FIELD.fullmatch(name)]
        if custom:
            raise CiviCRMError(
                f"a permission problem: CiviCRM left the custom field(s) {quoted(custom)} out of its answer "
                "without an error, which it does when the API user lacks 'access all custom data'. Grant "
                "its role that permission (if it has it, the fields do not exist: `coprod install` checks "
                "them). Nothing was written.",
                where=here,
                status=403,
            )
        if api_entity == "Event" and "campaign_id" in missing:
            raise CiviCRMError(
                "CiviCRM left campaign_id out of the events it sent: it does that silently while "
                "CiviCampaign is disabled, and every session would lose its project. Enable CiviCampaign "
                "in Administer > System Settings > Components (or map project_id to another field). "
                "Nothing was written.",
                where=here,
            )
        raise CiviCRMError(
            f"CiviCRM left {quoted(missing)} out of its answer without an error: it does that for a field "
            f"{api_entity} does not have. Check the names in the recipe against the APIv4 Explorer "
            "(`coprod install` checks them). Nothing was written.",
            where=here,
        )

    def _prove_contacts_visible(self, entity: Entity, opts: CiviEntityOptions, seen: int) -> None:
        """Stop when the people read found no contact but the API user's own (``seen`` of them)
        because the key may not see contacts.

        CiviCRM answers an API user without 'view all contacts' with HTTP 200 and no rows (only its
        own contact is visible to it): read on, and every person would look gone, every flag about
        them would close, and flags already on the site, unseen, would be created again. The
        group's member count does not depend on what the user may see, so it tells the two apart.
        """
        here = f"[entities.{entity.value}]"
        advice = (
            f"Grant its role {quoted(perms.ENTITY_READ['Contact'])} (CiviCRM answers a user who may not "
            "see contacts with no rows, not with an error). Nothing was written."
        )
        if opts.tag or opts.where:
            return  # a filter of the recipe's own may rightly match nobody
        if not opts.group:
            raise CiviCRMError(
                f"a permission problem: the API user sees no contact but its own. {advice}",
                where=here,
                status=403,
            )
        groups = self.client.call(
            "Group",
            "get",
            {
                "select": ["name", "contact_count"],
                "where": [["name", "IN", list(opts.group)]],
                "limit": len(opts.group),
            },
        )["values"]
        members = sum(_int_or_none(g.get("contact_count")) or 0 for g in groups)
        if not groups:
            raise CiviCRMError(
                f"a permission problem, or a misspelt group: the API user sees no contact in "
                f"{quoted(opts.group)} and cannot see the group itself. If the group exists (its name, not "
                f"its title, as the APIv4 Explorer shows it), {advice}",
                where=here,
                status=403,
            )
        if members > seen:
            raise CiviCRMError(
                f"a permission problem: CiviCRM says {quoted(opts.group)} holds {members} contact(s), but the "
                f"API user sees {'only its own' if seen else 'none of them'}. {advice}",
                where=here,
                status=403,
            )

    def _row(
        self,
        entity: Entity,
        api_entity: str,
        spec: EntitySpec,
        opts: CiviEntityOptions,
        computed: str | None,
        record: Mapping[str, Any],
    ) -> Row:
        record_id = record.get("id")
        values: dict[str, Any] = {k: _plain(v) for k, v in record.items()}
        if computed and opts.hours_from:
            start, end = opts.hours_from
            values[computed] = _hours_between(record.get(start), record.get(end))
        for canonical in DATE_FIELDS:
            column = spec.fields.get(canonical)
            value = values.get(column) if column else None
            if column and isinstance(value, str) and len(value) > 10 and value[4] == "-":
                values[column] = value[:10]  # "2026-03-03 10:00:00": the day is what counts
        self._remember(entity, spec, api_entity, values, record_id)
        return Row(ref=f"{api_entity} {record_id}", values=values, key=str(record_id))

    def _remember(
        self, entity: Entity, spec: EntitySpec, api_entity: str, values: Mapping[str, Any], record_id: Any
    ) -> None:
        """Ids needed to put a flag on the right contact or campaign (ids only, no personal data):
        per person, project and session, and per row, for a data-quality flag about that row."""
        own_id = _int_or_none(record_id)
        key_column = spec.fields.get("id")
        key = values.get(key_column) if key_column else None
        key = None if key in (None, "") else str(key)

        def column(name: str) -> str | None:
            field = spec.fields.get(name)
            value = values.get(field) if field else None
            return None if value in (None, "", []) else str(value)

        if entity is Entity.PEOPLE:
            contact = own_id if _contact_path(api_entity) == "" else None
            if contact is not None and key is not None:
                self._contact_of_person[key] = contact
            link = RowLink(contact=contact, person=key)
        elif entity is Entity.PROJECTS:
            campaign = own_id if api_entity == "Campaign" else None
            if campaign is not None and key is not None:
                self._campaign_of_project[key] = campaign
            link = RowLink(campaign=campaign, project=key)
        elif entity is Entity.SESSIONS:
            project = column("project_id")
            if key is not None and project is not None:
                self._project_of_session[key] = project
            link = RowLink(session=key, project=project)
        else:
            link = RowLink(
                person=column("person_id"), session=column("session_id"), project=column("project_id")
            )
        if record_id is not None and link != _NO_LINK:
            self._row_links[(entity.value, str(record_id))] = link

    # ------------------------------------------------------------------ where a flag goes
    def _spec(self, entity: Entity) -> EntitySpec | None:
        spec = self.context.recipe.entities.get(entity)
        return spec if spec is not None and spec.source == self.name else None

    def _ids_are_own(self, entity: Entity) -> bool:
        """True when this entity's canonical id is the CiviCRM id (fields.id = "id")."""
        spec = self._spec(entity)
        return (
            spec is not None
            and spec.fields.get("id") == "id"
            and ((spec.location or DEFAULT_LOCATION[entity]) == DEFAULT_LOCATION[entity])
        )

    def contact_for(self, person_id: str | None) -> int | None:
        if not person_id:
            return None
        if person_id in self._contact_of_person:
            return self._contact_of_person[person_id]
        return _int_or_none(person_id) if self._ids_are_own(Entity.PEOPLE) else None

    def campaign_for_project(self, project_id: str | None) -> int | None:
        if not project_id:
            return None
        if project_id in self._campaign_of_project:
            return self._campaign_of_project[project_id]
        if self._ids_are_own(Entity.PROJECTS):
            return _int_or_none(project_id)
        sessions = self._spec(Entity.SESSIONS)
        if sessions is not None and sessions.fields.get("project_id") == "campaign_id":
            return _int_or_none(project_id)  # projects inline in name only; the event's campaign id
        return None

    def campaign_for_session(self, session_id: str | None) -> int | None:
        return self.campaign_for_project(self._project_of_session.get(session_id or ""))

    def where_flag_goes(self, flag: Flag) -> Place:
        """The contact a flag is about (its activity's target) and the campaign it is filed under.

        Every flag activity can be found from what it is about: a person's flag on their contact,
        and under the campaign of its project; when its sessions belong to several campaigns (a
        payment owed for two projects has no one project), under the campaign of the first session
        it names, the oldest owed; a session's under its event's campaign; a data-quality flag about
        a row on that row's contact (a person, a participant's or a contribution's contact) and under
        its campaign (a campaign, an event's campaign)."""
        kind, subject = flag.subject.kind, flag.subject.id
        if kind is SubjectKind.PERSON:
            campaign = self.campaign_for_project(flag.project_id) or self._campaign_of_sessions(flag.evidence)
            return Place(self.contact_for(subject), campaign)
        if kind is SubjectKind.SESSION:
            return Place(
                None, self.campaign_for_session(subject) or self.campaign_for_project(flag.project_id)
            )
        if kind is SubjectKind.PROJECT:
            return Place(None, self.campaign_for_project(subject))
        entity, _, row = subject.partition(":")
        link = self._row_links.get((entity, row), _NO_LINK)
        contact = link.contact if link.contact is not None else self.contact_for(link.person)
        campaign = (
            link.campaign
            or self.campaign_for_session(link.session)
            or self.campaign_for_project(link.project)
            or self.campaign_for_project(flag.project_id)
        )
        return Place(contact, campaign)

    def _campaign_of_sessions(self, evidence: Mapping[str, Any]) -> int | None:
        """The campaign of the first session a flag's evidence names (the oldest owed first)."""
        named: list[Any] = [evidence.get("oldest_session_id"), *(evidence.get("session_ids") or [])]
        named += [s.get("session_id") for s in evidence.get("sessions") or [] if isinstance(s, Mapping)]
        for session in named:
            campaign = self.campaign_for_session(str(session)) if session is not None else None
            if campaign is not None:
                return campaign
        return None

    # ------------------------------------------------------------------ writing
    def _details(self, flag: Flag) -> str:
        """The Activity's details (rich text): the message, then the evidence to recompute it."""
        parts = [f"<p>{html.escape(flag.message)}</p>"]
        evidence = json.loads(flag.evidence_json)
        if evidence:
            items = "".join(
                f"<li>{html.escape(str(k))}: "
                f"{html.escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</li>"
                for k, v in evidence.items()
            )
            parts.append(f"<p>Evidence:</p><ul>{items}</ul>")
        parts.append(
            f"<p><small>Raised by coprod ({html.escape(flag.check_id)}, {flag.severity.value}). "
            "Mark this activity Completed once dealt with, or Cancelled if it will not be fixed.</small></p>"
        )
        return "".join(parts)

    def _content(self, flag: Flag) -> dict[str, Any]:
        """What a flag's activity says, and the campaign it is filed under: all a known flag's
        update sends (never its contacts, see ``write_flags``)."""
        record: dict[str, Any] = {
            self.opts.fingerprint_field: flag.fingerprint,
            "subject": flag.title[:SUBJECT_MAX],
            "details": self._details(flag),
            "status_id:name": OPEN_STATUS,
        }
        campaign = self.where_flag_goes(flag).campaign
        if campaign is not None:
            record["campaign_id"] = campaign
        return record

    def _record(self, flag: Flag) -> dict[str, Any]:
        """A new flag's activity: its content and the contact it is about (its target)."""
        record = self._content(flag)
        contact = self.where_flag_goes(flag).contact
        if contact is not None:
            record["target_contact_id"] = [contact]
        return record

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        """Create new flags (``save`` + ``match`` on the fingerprint), update known ones by id without
        their contacts, and complete resolved ones (a removed one's details cleared too, whatever its
        status: :func:`removed_details`); nothing is sent before the key is proven able to.

        A known flag's update never names its contacts: CiviCRM rewrites an activity's contacts by
        deleting and re-creating them, which needs 'delete activities' and, without it, answers 403
        after the subject and details were already written (a partial write). Leaving the contacts
        out makes the update one row change that either lands whole or not at all.
        """
        report = WriteReport()
        if not changes:
            return report
        before = self.requests_made[1]
        upserts: list[tuple[str, Flag]] = []
        resolved: list[str] = []
        removed: dict[str, list[str]] = {}
        """The details to write -> the fingerprints of the removed flags that take them."""
        for change in changes:
            if change.kind in (ChangeKind.RESOLVED, ChangeKind.REMOVED):
                resolved.append(change.fingerprint)
                if change.kind is ChangeKind.REMOVED:
                    details = removed_details(change.known.subject_kind)
                    removed.setdefault(details, []).append(change.fingerprint)
            elif change.flag is None:
                report.failed[change.fingerprint] = "the flag's text was missing, so it could not be written"
            else:
                upserts.append((change.fingerprint, change.flag))
        pending = [fp for fp, _ in upserts] + resolved
        try:
            author = self.opts.source_contact_id or self.prove_credential()
            known = self._flag_activity_ids([fp for fp, _ in upserts])
            self._prove_may_write(author)
        except ConnectorError as exc:
            report.failed.update(dict.fromkeys(pending, self._write_reason(exc)))
            return report
        creates = [(fp, self._record(flag)) for fp, flag in upserts if fp not in known]
        updates = [(fp, {"id": known[fp], **self._content(flag)}) for fp, flag in upserts if fp in known]
        chunk = self.opts.write_chunk
        new_defaults = {"activity_type_id:name": self.opts.flag_activity_type, "source_contact_id": author}
        for start in range(0, len(creates), chunk):
            part = creates[start : start + chunk]
            params = {
                "records": [r for _, r in part],
                "defaults": new_defaults,
                "match": [self.opts.fingerprint_field],
                "reload": False,
            }
            contacts = sorted({c for _, r in part for c in r.get("target_contact_id") or ()})
            about = (
                f"new flag activities about {_ids('contact', contacts)}"
                if contacts
                else "new flag activities"
            )
            answer = self._send(report, [fp for fp, _ in part], "save", params, about)
            for (fp, _), saved in zip(part, (answer or {}).get("values") or [], strict=False):
                if _int_or_none(saved.get("id")) is not None:
                    known[fp] = int(saved["id"])  # a retry in this run updates it by id
        for start in range(0, len(updates), chunk):
            part = updates[start : start + chunk]
            self._send(
                report,
                [fp for fp, _ in part],
                "save",
                {"records": [r for _, r in part], "reload": False},
                _ids("flag activity", [r["id"] for _, r in part]),
            )
        for start in range(0, len(resolved), chunk):
            fps = resolved[start : start + chunk]
            where = [
                [self.opts.fingerprint_field, "IN", fps],
                ["activity_type_id:name", "=", self.opts.flag_activity_type],
                ["status_id:name", "NOT IN", WONT_FIX_STATUSES],  # staff's decision stays
            ]
            ids = sorted(known[fp] for fp in fps if fp in known)
            about = f"resolving {_ids('flag activity', ids) if ids else f'{len(fps)} flag(s)'}"
            self._send(
                report, fps, "update", {"where": where, "values": {"status_id:name": RESOLVED_STATUS}}, about
            )
        for details, theirs in removed.items():
            for start in range(0, len(theirs), chunk):
                fps = theirs[start : start + chunk]
                where = [
                    [self.opts.fingerprint_field, "IN", fps],
                    ["activity_type_id:name", "=", self.opts.flag_activity_type],
                ]
                ids = sorted(known[fp] for fp in fps if fp in known)
                about = f"clearing {_ids('flag activity', ids) if ids else f'{len(fps)} flag(s)'}"
                self._send(report, fps, "update", {"where": where, "values": {"details": details}}, about)
        # A removed flag is sent twice (its status, then its words): written once both landed, else
        # failed, and both are sent again next run.
        report.written = [fp for fp in dict.fromkeys(report.written) if fp not in report.failed]
        report.requests = self.requests_made[1] - before
        log.info(
            "CiviCRM source %s: %d flag change(s) written, %d failed, %d request(s)",
            self.name,
            len(report.written),
            len(report.failed),
            report.requests,
        )
        return report

    def _send(
        self, report: WriteReport, fingerprints: list[str], action: str, params: dict[str, Any], about: str
    ) -> dict[str, Any] | None:
        """One Activity write; its fingerprints go to ``written`` or, with the reason, to ``failed``.
        ``about``: the records it wrote, by id (``flag activity 41``), for the reason: CiviCRM's own
        text names no record, and its values are left out of it (``civicrm_api.without_values``)."""
        try:
            answer = self.client.call("Activity", action, params)
        except ConnectorError as exc:
            report.failed.update(dict.fromkeys(fingerprints, f"{self._write_reason(exc)} [{about}]"))
            return None
        report.written.extend(fingerprints)
        return answer

    def _prove_may_write(self, author: int) -> None:
        """Ask CiviCRM, once, whether the API user may record a flag activity, before the first write.

        ``Activity.checkAccess`` runs the same permission check as a save (every Activity write
        needs 'view all activities'), so a key that may not write is stopped before it writes
        anything, with the permissions named, instead of failing chunk by chunk.
        """
        if self._may_write:
            return
        answer = self.client.call(
            "Activity", "checkAccess", {"action": "create", "values": {"source_contact_id": author}}
        )["values"]
        if not (answer and answer[0].get("access")):
            raise CiviCRMError(
                "a permission problem: CiviCRM says the API user may not record flag activities, so nothing "
                f"was written. Grant its role {quoted(perms.ACTIVITY_WRITE)} (every Activity write needs "
                "'view all activities').",
                where=f"[sources.{self.name}]",
                status=403,
            )
        self._may_write = True

    def _write_reason(self, exc: ConnectorError) -> str:
        text = str(exc)
        if "Invalid field" in text or "not a field" in text.lower() or self.opts.fingerprint_field in text:
            text += f" (has `coprod install` been run to create {self.opts.fingerprint_field}?)"
        return text

    def read_staff_statuses(self) -> StaffStatuses:
        """What staff did with each flag Activity: Completed = acknowledged, Cancelled = won't fix.

        The same read remembers each flag's Activity id, so this run's writes update it by id."""
        self.prove_credential()
        found = self._read_flag_activities()
        self._activity_of_flag = {fp: own for fp, (own, _) in found.items()}
        statuses = StaffStatuses()
        for fp, (own, name) in found.items():
            statuses.read(
                fp, name, f"flag Activity {own}", readings=STAFF_STATUSES, accepted=CIVICRM_STATUS_WORDS
            )
        return statuses

    def _flag_activity_ids(self, fingerprints: Sequence[str]) -> dict[str, int]:
        """fingerprint -> Activity id for the flags that already have one.

        ``save`` + ``match`` updates only when exactly one Activity matches: should a duplicate ever
        exist (two saves racing after a timeout), matching alone would add another on every run.
        Saving known flags by id stops that. Read once per run: with the staff statuses when the
        sync asked for them, else here for just these fingerprints."""
        if self._activity_of_flag is None:
            found = self._read_flag_activities(fingerprints) if fingerprints else {}
            self._activity_of_flag = {fp: own for fp, (own, _) in found.items()}
        return self._activity_of_flag

    def _read_flag_activities(self, fingerprints: Sequence[str] | None = None) -> dict[str, tuple[int, str]]:
        """fingerprint -> (id, status name) of its oldest flag Activity; all flags, or these."""
        field = self.opts.fingerprint_field
        if fingerprints is None:
            clauses: list[list[Any]] = [[field, "IS NOT EMPTY"]]
        else:
            step = self.opts.write_chunk
            clauses = [
                [field, "IN", list(fingerprints[i : i + step])] for i in range(0, len(fingerprints), step)
            ]
        found: dict[str, tuple[int, str]] = {}
        try:
            for clause in clauses:
                for values in self.client.get_pages(
                    "Activity",
                    select=["id", field, "status_id:name"],
                    where=[["activity_type_id:name", "=", self.opts.flag_activity_type], clause],
                    page_size=self.opts.page_size,
                ):
                    for record in values:
                        fp, own = record.get(field), _int_or_none(record.get("id"))
                        if fp and own is not None and str(fp) not in found:  # id order: the oldest first
                            found[str(fp)] = (own, str(record.get("status_id:name")))
        except CiviCRMError as exc:
            if exc.status not in (400, 500):
                raise
            raise CiviCRMError(
                f"{exc} If the flag activity type or {field} does not exist yet, run `coprod install` first.",
                status=exc.status,
            ) from None
        return found

    # ------------------------------------------------------------------ install
    def install(self) -> list[str]:
        """Create the activity type, custom group and fingerprint field; check fields and permissions.

        Safe to run twice: each thing is looked up first and saved with ``match`` on its name.
        Problems (a missing field, a missing permission) are all collected, then raised together.
        """
        lines: list[str] = []
        problems: list[str] = []
        me = self.prove_credential()
        lines.append(f"civicrm: the API key works (API user is contact {me})")
        try:
            lines.extend(self._install_activity_type_and_field())
        except CiviCRMError as exc:
            if exc.status == 403:
                problems.append(
                    f"could not create the activity type and fingerprint field: grant the API user "
                    f"{quoted(perms.names(perms.TO_INSTALL))} while installing ({exc})"
                )
            else:
                problems.append(str(exc))
        problems.extend(self._check_fields(lines))
        problems.extend(self._check_permissions(lines, me))
        if problems:
            for line in lines:
                log.info(line)
            raise ConfigError(
                "CiviCRM set-up needs attention:\n  - " + "\n  - ".join(problems),
                where=f"[sources.{self.name}]",
            )
        return lines

    def _install_activity_type_and_field(self) -> list[str]:
        lines: list[str] = []
        c = self.client
        type_name = self.opts.flag_activity_type
        group_name, field_name = self.opts.fingerprint_field.split(".")
        found = c.call(
            "OptionValue",
            "get",
            {
                "select": ["id", "value"],
                "where": [["option_group_id:name", "=", "activity_type"], ["name", "=", type_name]],
                "limit": 1,
            },
        )["values"]
        if found:
            lines.append(f"civicrm: activity type '{type_name}' already there")
        else:
            found = c.call(
                "OptionValue",
                "save",
                {
                    "records": [
                        {
                            "option_group_id:name": "activity_type",
                            "name": type_name,
                            "label": type_name,
                            "description": "A co-production problem found by coprod.",
                            "icon": "fa-flag",
                            "is_active": True,
                        }
                    ],
                    "match": ["option_group_id", "name"],
                    "reload": True,
                },
            )["values"]
            lines.append(f"civicrm: activity type '{type_name}' created")
        type_value = found[0].get("value") if found else None

        group = c.call(
            "CustomGroup", "get", {"select": ["id"], "where": [["name", "=", group_name]], "limit": 1}
        )["values"]
        if group:
            lines.append(f"civicrm: custom field group '{group_name}' already there")
        else:
            record: dict[str, Any] = {
                "name": group_name,
                "title": "Co-production flag",
                "extends": "Activity",
                "style": "Inline",
                "collapse_display": True,
                "is_active": True,
            }
            if type_value is not None:
                record["extends_entity_column_value"] = [type_value]
            c.call("CustomGroup", "save", {"records": [record], "match": ["name"]})
            lines.append(f"civicrm: custom field group '{group_name}' created (on '{type_name}' activities)")

        field = c.call(
            "CustomField",
            "get",
            {
                "select": ["id"],
                "where": [["custom_group_id:name", "=", group_name], ["name", "=", field_name]],
                "limit": 1,
            },
        )["values"]
        if field:
            lines.append(f"civicrm: fingerprint field '{self.opts.fingerprint_field}' already there")
        else:
            c.call(
                "CustomField",
                "save",
                {
                    "records": [
                        {
                            "custom_group_id:name": group_name,
                            "name": field_name,
                            "label": "Fingerprint",
                            "data_type": "String",
                            "html_type": "Text",
                            "text_length": 64,
                            "is_searchable": True,
                            "is_view": True,
                            "is_active": True,
                            "help_post": "Set by coprod to recognise the flag on the next run. Do not edit.",
                        }
                    ],
                    "match": ["custom_group_id", "name"],
                },
            )
            lines.append(f"civicrm: fingerprint field '{self.opts.fingerprint_field}' created")
        return lines

    def _fields_of(self, api_entity: str, cache: dict[str, dict[str, str | None]]) -> dict[str, str | None]:
        """Field name -> entity it points to (fk), from ``getFields``; cached per entity."""
        if api_entity not in cache:
            values = self.client.call(
                api_entity,
                "getFields",
                {"action": "get", "select": ["name", "fk_entity"], "loadOptions": False},
            )["values"]
            cache[api_entity] = {str(v["name"]): v.get("fk_entity") for v in values}
        return cache[api_entity]

    def _field_exists(self, api_entity: str, path: str, cache: dict[str, dict[str, str | None]]) -> bool:
        """Whether ``path`` (a field, ``Group.Field`` or an implicit join ``fk.field``) exists."""
        path = path.split(":", 1)[0]
        fields = self._fields_of(api_entity, cache)
        if path in fields:
            return True
        parts = path.split(".")
        for i in range(1, len(parts)):
            head, rest = ".".join(parts[:i]), ".".join(parts[i:])
            target = fields.get(head)
            if head in fields and target:
                return self._field_exists(str(target), rest, cache)
        return False

    def _check_fields(self, lines: list[str]) -> list[str]:
        problems: list[str] = []
        cache: dict[str, dict[str, str | None]] = {}
        for entity, spec in self.context.recipe.entities.items():
            if spec.source != self.name:
                continue
            api_entity = spec.location or DEFAULT_LOCATION[entity]
            try:
                opts = self._entity_options(entity, spec)
                select, _ = self._select(spec, opts)
                missing = [f for f in select if not self._field_exists(api_entity, f, cache)]
            except ConnectorError as exc:
                problems.append(str(exc))
                continue
            for name in missing:
                hint = (
                    "; if it exists, the API user may lack 'access all custom data', without which "
                    "CiviCRM hides custom fields"
                    if _CUSTOM_FIELD.fullmatch(name)
                    else ""
                )
                problems.append(
                    f"[entities.{entity.value}] '{name}' is not a field of {api_entity} on this site "
                    f"(check the spelling in the APIv4 Explorer; custom fields are 'Group_Name.Field_Name'{hint})"
                )
            if not missing:
                lines.append(
                    f"civicrm: {entity.value}: the {len(select)} fields mapped exist on {api_entity}"
                )
            for option, entity_name in (("group", "Group"), ("tag", "Tag")):
                names = list(getattr(opts, option))
                if not names:
                    continue
                known = self.client.call(
                    entity_name,
                    "get",
                    {"select": ["name"], "where": [["name", "IN", names]], "limit": len(names)},
                )["values"]
                absent = sorted(set(names) - {str(v.get("name")) for v in known})
                for name in absent:
                    problems.append(
                        f"[entities.{entity.value}.options] {option} '{name}' does not exist, or the API user "
                        f"may not see it ('view all contacts'); give its name, not its title, as shown in "
                        f"the APIv4 Explorer's {entity_name}.get"
                    )
        return problems

    def _check_permissions(self, lines: list[str], me: int) -> list[str]:
        """Check, through the API, each permission `coprod sync` will need (civicrm_permissions).

        A refused read names its permissions; a key that may log in but not see the panel is caught
        by comparing what it sees with the group's member count (CiviCRM answers it with no rows,
        not an error); custom fields it may not see are missing from the answer; whether it may
        record flag activities CiviCRM says itself (``Activity.checkAccess``)."""
        problems: list[str] = []
        entities = sorted(
            {
                spec.location or DEFAULT_LOCATION[e]
                for e, spec in self.context.recipe.entities.items()
                if spec.source == self.name
            }
            | {"Activity"}
        )
        for api_entity in entities:
            try:
                self.client.call(api_entity, "get", {"select": ["id"], "limit": 1})
            except CiviCRMError as exc:
                if exc.status == 403:
                    problems.append(
                        f"a permission problem: the API user may not read {api_entity}: grant "
                        f"{quoted(perms.for_call(api_entity, 'get'))}"
                    )
                else:
                    problems.append(str(exc))
        problems.extend(self._check_people_visible(lines, me))
        answer = self.client.call(
            "Activity",
            "checkAccess",
            {
                "action": "create",
                "values": {"source_contact_id": me},
            },
        )["values"]
        if not (answer and answer[0].get("access")):
            problems.append(
                f"a permission problem: the API user may not record flag activities: grant "
                f"{quoted(perms.ACTIVITY_WRITE)} (every Activity write needs 'view all activities')"
            )
        if not problems:
            lines.append("civicrm: the API user has the permissions needed to read and to record flags")
        return problems

    def _check_people_visible(self, lines: list[str], me: int) -> list[str]:
        """Whether the key sees the panel's contacts and their custom fields, from one small read."""
        spec = self._spec(Entity.PEOPLE)
        api_entity = (spec.location or DEFAULT_LOCATION[Entity.PEOPLE]) if spec else ""
        if spec is None or _contact_path(api_entity) != "":
            return []
        try:
            opts = self._entity_options(Entity.PEOPLE, spec)
            select, _ = self._select(spec, opts)
            custom = [name for name in select if _CUSTOM_FIELD.fullmatch(name)][:1]
            rows = self.client.call(
                api_entity,
                "get",
                {
                    "select": ["id", *custom],
                    "where": self._where(api_entity, opts),
                    "limit": 2,
                },
            )["values"]
            if rows and custom and custom[0] not in rows[0]:
                return [
                    f"a permission problem: CiviCRM left the custom field '{custom[0]}' out of its answer, "
                    "which it does when the API user lacks 'access all custom data': grant it"
                ]
            if all(_int_or_none(r.get("id")) == me for r in rows):
                self._prove_contacts_visible(Entity.PEOPLE, opts, len(rows))
        except ConnectorError as exc:
            return [str(exc)]
        lines.append("civicrm: people: the API user sees the panel's contacts and their custom fields")
        return []
