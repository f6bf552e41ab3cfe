"""Talking to CiviCRM's APIv4 over HTTP: one session, form-encoded ``params``, errors explained.

Why a module of its own: every CiviCRM answer that is not a success has to be turned into words a
data officer can act on (AuthX's text/plain 401s, the generic "Sorry an error occurred" shown to a
user without the debug permission, maintenance mode, a disabled component), and the key must never
reach one of those words. Keeping the wire here leaves ``connectors.civicrm`` about coprod.

Facts relied on (shared/design/platforms.md, CiviCRM core ``Civi/Api4``):
- ``POST {endpoint}/{Entity}/{action}`` with a form field ``params`` holding JSON; a JSON body is
  ignored silently (a ``get`` then returns everything), so it is never sent.
- A ``get`` without ``limit`` is unlimited: every read here is paged by ``id > last`` ordered by id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.util.retry import Retry

from coprod.connectors.base import SourceUnavailable
from coprod.connectors.civicrm_permissions import READ_ACTIONS, for_call, quoted
from coprod.connectors.http import make_retry, make_session, redact, unreached

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 502, 503, 504)
"""Not 500: APIv4 answers 500 for a deterministic API exception (a bad field, a disabled
component), so retrying it only delays the explanation."""


class CiviCRMError(SourceUnavailable):
    """CiviCRM refused or failed a call; the message says what to do, without secrets."""

    def __init__(self, message: str, *, where: str = "", status: int | None = None) -> None:
        super().__init__(message, where=where)
        self.status = status


@dataclass
class CallCounts:
    """Requests sent, split as the benchmark targets are: reads and writes."""

    reads: int = 0
    writes: int = 0
    by_call: dict[str, int] = field(default_factory=dict)

    def add(self, entity: str, action: str) -> None:
        if action in READ_ACTIONS:
            self.reads += 1
        else:
            self.writes += 1
        key = f"{entity}.{action}"
        self.by_call[key] = self.by_call.get(key, 0) + 1


_ERROR_ID = re.compile(r"Error ID:?\s*([0-9A-Za-z-]+)")
_QUOTED = re.compile(
    r"""'([^'\n]*)'|"([^"\n]*)"|`([^`\n]*)`|\u2018([^\u2019\n]*)\u2019|\u201c([^\u201d\n]*)\u201d"""
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LEFT_OUT = "..."
"""What a value CiviCRM quoted is replaced by."""
_SORRY = re.compile(r"sorry,? an error occurred", re.IGNORECASE)
_NO_SUCH_API = re.compile(
    r"\bAPI \([^)]*\) does not exist|\bApi \S+ \S+ version \d+ does not exist", re.IGNORECASE
)
_INVALID_FIELD = re.compile(r"Invalid field '([^']+)'")
_CUSTOM_FIELD = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+")

COMPONENT_OF = {
    "Campaign": "CiviCampaign",
    "Event": "CiviEvent",
    "Participant": "CiviEvent",
    "Contribution": "CiviContribute",
    "Membership": "CiviMember",
}
"""The component an entity belongs to: with the component off, its API "does not exist" (HTTP 500)."""


def request_names(entity: str, action: str, params: dict[str, Any]) -> frozenset[str]:
    """The names a request carried, not its values: the entity, the action and every field it
    selected, matched, filtered, ordered or wrote (``status_id:name`` also as ``status_id``)."""
    names = {entity, action}

    def field_name(name: Any) -> None:
        if isinstance(name, str):
            names.update((name, name.split(":", 1)[0]))

    def clauses(items: Any) -> None:
        for clause in items if isinstance(items, list) else []:
            if isinstance(clause, list) and clause:
                if clause[0] in ("OR", "AND", "NOT") and len(clause) > 1 and isinstance(clause[1], list):
                    clauses(clause[1])
                else:
                    field_name(clause[0])

    for key in ("select", "match", "groupBy", "orderBy", "values", "defaults"):
        for name in params.get(key) or ():
            field_name(name)
    for record in params.get("records") or ():
        for name in record if isinstance(record, dict) else ():
            field_name(name)
    clauses(params.get("where"))
    return frozenset(names)


def without_values(text: str, names: frozenset[str]) -> tuple[str, bool]:
    """CiviCRM's text with the values it quotes left out, and whether any was.

    A CiviCRM error may quote what the request or the database held: a duplicate entry, a value
    "not a valid option", an email, a line of a flag's details (which names the person it is
    about). Personal data never goes in a log, and this text goes to several: each flag's "not
    written" line, the webhook worker's log, cron's mail of the run's messages. So it is cleaned
    once here, where it enters coprod, rather than kept whole for a terminal and cut for the logs
    (the same message reaches both, and a terminal under cron is a mailbox). What staff act on
    stays: the entity and action, ids and counts (unquoted numbers), and the field names CiviCRM
    quotes that the request itself sent (``Invalid field 'Coprod_Flags.Fingerprint'``, ``column
    'details'``). Anything else quoted becomes ``'...'``, whatever it looks like: a name and an
    index name cannot be told apart. The whole text stays in CiviCRM's own log, found by the Error
    ID the message gives."""
    left_out = False

    def quoted(match: re.Match[str]) -> str:
        nonlocal left_out
        inner = next(g for g in match.groups() if g is not None)
        if inner in names:
            return match.group(0)
        left_out = True
        opening, closing = match.group(0)[0], match.group(0)[-1]
        return f"{opening}{LEFT_OUT}{closing}"

    def email(match: re.Match[str]) -> str:
        nonlocal left_out
        left_out = True
        return LEFT_OUT

    cleaned = _EMAIL.sub(email, _QUOTED.sub(quoted, text))
    return cleaned, left_out


class CiviClient:
    """An APIv4 client bound to one site and one API key."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        site_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: Retry | None = None,
        api_key_env: str = "CIVICRM_API_KEY",
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(endpoint).netloc or endpoint
        self.api_key_env = api_key_env
        self._secrets = [s for s in (api_key, site_key) if s]
        headers = {
            "X-Civi-Auth": f"Bearer {api_key}",
            "X-Requested-With": "XMLHttpRequest",
            "Accept": "application/json",
        }
        if site_key:
            headers["X-Civi-Key"] = site_key
        self.session = make_session(
            timeout=timeout, retry=retry or make_retry(statuses=RETRY_STATUSES), headers=headers
        )
        self.counts = CallCounts()

    def close(self) -> None:
        self.session.close()

    def clean(self, text: str) -> str:
        """Text safe for a message or a log line: no key, no site key."""
        return redact(text, self._secrets)

    # ---------------------------------------------------------------------------------------
    def call(self, entity: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """One APIv4 call. Returns the decoded answer or raises CiviCRMError with an explanation."""
        url = f"{self.endpoint}/{entity}/{action}"
        body = {"params": json.dumps(params, separators=(",", ":"), default=str)}
        self.counts.add(entity, action)
        where = f"CiviCRM {entity}.{action}"
        try:
            response = self.session.post(url, data=body)
        except requests.Timeout:
            raise CiviCRMError(
                f"{self.host} did not answer in time (after retries). The site may be overloaded or "
                "down; the run stops and nothing is treated as deleted. Try again later.",
                where=where,
            ) from None
        except requests.RequestException as exc:
            raise CiviCRMError(
                f"could not reach {self.host} ({unreached(exc)}). Check the endpoint in the recipe "
                "and that this machine can reach the site.",
                where=where,
            ) from None
        log.debug("%s -> HTTP %s", where, response.status_code)
        return self._answer(response, entity, action, request_names(entity, action, params))

    def get_pages(
        self,
        entity: str,
        *,
        select: Sequence[str],
        where: Sequence[Sequence[Any]] = (),
        page_size: int = 1000,
        after: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every matching record, a page at a time, by ``id > last`` ordered by id (stable while
        records are added or deleted, unlike an offset). A short page ends the read."""
        last = after
        while True:
            clauses = [list(c) for c in where]
            if last is not None:
                clauses.append(["id", ">", last])
            params = {"select": list(select), "where": clauses, "orderBy": {"id": "ASC"}, "limit": page_size}
            values = self.call(entity, "get", params).get("values") or []
            if values:
                yield values
            if len(values) < page_size:
                return
            last = int(values[-1]["id"])

    # ---------------------------------------------------------------------------------------
    def _answer(
        self, response: requests.Response, entity: str, action: str, names: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        data: Any = None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict) and "error_code" not in data:
            if "values" not in data:
                raise CiviCRMError(
                    "the answer is JSON but not an APIv4 answer. Check the endpoint: copy it from the "
                    "APIv4 Explorer's REST tab (it ends in /civicrm/ajax/api4 on Drupal and Standalone).",
                    where=f"CiviCRM {entity}.{action}",
                    status=200,
                )
            return data
        raise self.explain(response, data, entity, action, names)

    def explain(
        self,
        response: requests.Response,
        data: Any,
        entity: str,
        action: str,
        names: frozenset[str] = frozenset(),
    ) -> CiviCRMError:
        """Turn a failed answer into words a data officer can act on.

        What each answer means was checked on a real site (tests/fixtures/platforms/civicrm): an
        unknown entity or a disabled component is a 500 "does not exist", not a 404; a 400
        "SECURITY ALERT" comes only when no accepted credential arrived; without the permission
        'view debug output' every error reads "Sorry an error occurred", which proves nothing.
        CiviCRM's own text is used without the values it quotes (``without_values``; ``names``: the
        request's field names, kept), with its error_code and Error ID.
        """
        status = response.status_code
        where = f"CiviCRM {entity}.{action}"
        text = self.clean((response.text or "").strip())  # matched against, never shown whole
        raw_first_line = text.splitlines()[0][:300] if text else ""
        first_line, text_cut = without_values(raw_first_line, names)
        message, cut = "", False
        if isinstance(data, dict):
            raw = self.clean(str(data.get("error_message") or data.get("status_message") or ""))
            message, cut = without_values(raw, names)
        said = message or first_line
        reference = _reference(data, cut or (text_cut and not message))
        hidden = _SORRY.search(said) is not None
        found = _ERROR_ID.search(said) if hidden else None
        error_id = f" (Error ID {found.group(1)})" if found else ""
        hidden_note = (
            f"CiviCRM hid the details{error_id} because the API user lacks 'view debug output'; its log "
            "(ConfigAndLog folder) has them."
            if hidden
            else ""
        )

        def err(words: str) -> CiviCRMError:
            return CiviCRMError(words, where=where, status=status)

        if status == 401:  # AuthX's own words, about the credential: no value of the request is in them
            return err(self._authx_refusal(text, raw_first_line))
        if status == 400 and "security alert" in text.lower():
            return err(
                "CiviCRM answered 'SECURITY ALERT': no credential it accepts arrived with the request, so it "
                "was treated as an anonymous web request. coprod sends the API key in the X-Civi-Auth "
                "header: a proxy or firewall in front of the site is probably removing it (and "
                "X-Requested-With). Ask whoever runs the server to pass both headers through."
            )
        if status == 404:
            return err(
                f"nothing at {self.host} answers this address (HTTP 404). Check the endpoint in the recipe: "
                "copy it from the APIv4 Explorer's REST tab (Support > Developer > APIv4 Explorer)."
            )
        if status == 405:
            return err("CiviCRM refused the method (HTTP 405): writes must be POST requests.")
        if status == 503:
            return err(
                "CiviCRM is in maintenance mode or temporarily unavailable (HTTP 503). Nothing was changed; "
                "run again when the site is back."
            )
        if status == 403:
            return err(self._refusal(entity, action, message, hidden_note))
        if _NO_SUCH_API.search(message):
            component = COMPONENT_OF.get(entity)
            if component:
                return err(
                    f"{component} is not enabled on this site, so {entity} cannot be read ({message}). Enable "
                    "it in Administer > System Settings > Components"
                    + (", or take projects from the recipe instead." if entity == "Campaign" else ".")
                )
            return err(
                f"CiviCRM has no API {entity}.{action} ({message}): the entity is misspelt in the recipe's "
                "`location`, or the extension it belongs to is not enabled."
            )
        if hidden:
            advice = f"CiviCRM failed {entity}.{action} with HTTP {status}. {hidden_note} Grant it to see the reason here."
            component = COMPONENT_OF.get(entity)
            if component:
                advice += (
                    f" (If {component} is disabled, {entity} fails this way too: check Administer > System "
                    "Settings > Components.)"
                )
            return err(advice)
        invalid = _INVALID_FIELD.search(message)
        if invalid and _CUSTOM_FIELD.fullmatch(invalid.group(1).split(":", 1)[0]):
            return err(
                f"CiviCRM answered HTTP {status}{reference}: {message}. '{invalid.group(1)}' is a custom field: either it "
                "does not exist (check `coprod install`, and its name in the APIv4 Explorer) or the API user "
                "lacks 'access all custom data', without which CiviCRM treats every custom field as unknown."
            )
        if message:
            return err(f"CiviCRM answered HTTP {status}{reference}: {message}")
        if status == 200:
            return err(
                "CiviCRM answered with a web page instead of APIv4 JSON. Check the endpoint: copy it from "
                "the APIv4 Explorer's REST tab."
            )
        return err(f"CiviCRM answered HTTP {status}{reference}: {first_line or 'no details given'}")

    def _refusal(self, entity: str, action: str, message: str, hidden_note: str) -> str:
        """A 403, said as the permission problem it is, naming the permissions the call needs."""
        if "ActivityContact::delete" in message:
            return (
                "a permission problem: CiviCRM would not rewrite a flag activity's contacts ("
                f"{message}), which needs 'delete activities'. coprod updates known flags without "
                "their contacts, so this only happens when a save met an activity this run had not read; "
                "the next run updates it by its id. CiviCRM may have written the activity's subject and "
                "details before refusing."
            )
        perms = for_call(entity, action)
        words = (
            f"a permission problem: the API user may not do {action} on {entity} "
            f"({message or 'HTTP 403'}). Grant its role {quoted(perms)}"
        )
        if entity == "Activity" and action not in READ_ACTIONS:
            words += " (every Activity write needs 'view all activities', even for a new flag)"
        elif action in READ_ACTIONS:
            words += " (or an ACL covering these records)"
        words += "."
        if hidden_note:
            words += " " + hidden_note
        return words

    def _authx_refusal(self, text: str, first_line: str) -> str:
        """AuthX's text/plain 401s, one per policy it checks (ext/authx Authenticator::checkPolicy)."""
        lower = text.lower()
        said = f'(AuthX said "{first_line}")' if first_line else ""
        if "invalid credential" in lower:
            return (
                f"CiviCRM does not accept the API key in {self.api_key_env} {said}. Copy the key again from "
                "the API user's contact record (API Key tab) into .env, without quotes or spaces."
            )
        if "is not allowed" in lower:
            return (
                f"CiviCRM does not allow API keys sent in the X-Civi-Auth header {said}. In Administer > "
                "System Settings > Authentication, tick 'API Key' under the acceptable credentials for "
                "'X-Header'."
            )
        if "guard" in lower:
            return (
                f"CiviCRM's AuthX refused to log the API user in {said}. Give the API user's role the "
                "permission 'authenticate with api key', or set the site key in CIVICRM_SITE_KEY."
            )
        if "no matching user" in lower or "blocked" in lower:
            return (
                f"CiviCRM found the API key but will not log its contact in {said}. The contact needs an "
                "active CMS user account, or 'User account' for X-Header set to optional in Administer > "
                "System Settings > Authentication."
            )
        return f"CiviCRM refused the credential (HTTP 401: {first_line or 'no reason given'})."


def _reference(data: Any, left_out: bool) -> str:
    """`` (error_code 0, Error ID j5zF-sJLD-QVlZ)`` from an APIv4 error answer, saying when values
    were left out of the text: the Error ID finds the whole text in CiviCRM's log (ConfigAndLog)."""
    parts: list[str] = []
    if isinstance(data, dict):
        if data.get("error_code") not in (None, ""):
            parts.append(f"error_code {data['error_code']}")
        if isinstance(data.get("error_id"), str) and re.fullmatch(r"[0-9A-Za-z-]{1,40}", data["error_id"]):
            parts.append(f"Error ID {data['error_id']}")
    said = ", ".join(parts)
    if left_out:
        where = "under that Error ID" if any(p.startswith("Error ID") for p in parts) else "(ConfigAndLog)"
        note = f"values in its text left out here; CiviCRM's log has the whole text {where}"
        said = f"{said}; {note}" if said else note
    return f" ({said})" if said else ""
