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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.util.retry import Retry

from coprod.connectors.base import SourceUnavailable
from coprod.connectors.http import make_retry, make_session, redact

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 502, 503, 504)
"""Not 500: APIv4 answers 500 for a deterministic API exception (a bad field, a disabled
component), so retrying it only delays the explanation."""

READ_ACTIONS = frozenset({"get", "getFields", "checkAccess", "getActions", "autocomplete"})

PERMISSIONS_TO_READ: dict[str, tuple[str, ...]] = {
    "Contact": ("access CiviCRM", "view all contacts"),
    "Event": ("access CiviCRM", "access CiviEvent", "view event info"),
    "Participant": ("access CiviCRM", "access CiviEvent", "view event participants"),
    "Contribution": ("access CiviCRM", "access CiviContribute"),
    "Activity": ("access CiviCRM", "view all activities"),
    "Campaign": ("access CiviCRM", "manage campaign"),
    "Group": ("access CiviCRM",),
    "Tag": ("access CiviCRM",),
}
PERMISSIONS_TO_WRITE_FLAGS = ("access CiviCRM", "edit all contacts", "access all custom data")
PERMISSIONS_TO_INSTALL = ("administer CiviCRM",)


def permissions_for(entity: str, action: str) -> tuple[str, ...]:
    """The CiviCRM permissions an API user typically needs for this call, for error messages."""
    if action in READ_ACTIONS:
        return PERMISSIONS_TO_READ.get(entity, ("access CiviCRM",)) + ("access all custom data",)
    if entity in ("OptionValue", "CustomGroup", "CustomField"):
        return PERMISSIONS_TO_INSTALL
    return PERMISSIONS_TO_WRITE_FLAGS


def quoted(names: Iterable[str]) -> str:
    items = [f"'{n}'" for n in names]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


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


_ERROR_ID = re.compile(r"Error ID:?\s*([0-9a-fA-F]+)")


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
                f"could not reach {self.host} ({type(exc).__name__}). Check the endpoint in the recipe "
                "and that this machine can reach the site.",
                where=where,
            ) from None
        log.debug("%s -> HTTP %s", where, response.status_code)
        return self._answer(response, entity, action)

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
    def _answer(self, response: requests.Response, entity: str, action: str) -> dict[str, Any]:
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
        raise self.explain(response, data, entity, action)

    def explain(self, response: requests.Response, data: Any, entity: str, action: str) -> CiviCRMError:
        """Turn a failed answer into words a data officer can act on."""
        status = response.status_code
        where = f"CiviCRM {entity}.{action}"
        text = self.clean((response.text or "").strip())
        first_line = text.splitlines()[0][:300] if text else ""
        message = ""
        if isinstance(data, dict):
            message = self.clean(str(data.get("error_message") or ""))
        perms = quoted(permissions_for(entity, action))

        def err(words: str) -> CiviCRMError:
            return CiviCRMError(words, where=where, status=status)

        if status == 401:
            return err(self._authx_refusal(text, first_line))
        if status == 400 and "security alert" in text.lower():
            return err(
                "CiviCRM answered 'SECURITY ALERT': the X-Requested-With header did not arrive. A proxy "
                "or firewall in front of the site may be removing headers."
            )
        if status == 404:
            return err(
                f"nothing at {self.host} answers this address (HTTP 404). Check the endpoint in the recipe: "
                f"copy it from the APIv4 Explorer's REST tab; check that the entity {entity} exists on "
                "this site (its component may be disabled)."
            )
        if status == 405:
            return err("CiviCRM refused the method (HTTP 405): writes must be POST requests.")
        if status == 503:
            return err(
                "CiviCRM is in maintenance mode or temporarily unavailable (HTTP 503). Nothing was changed; "
                "run again when the site is back."
            )
        if status == 403:
            return err(
                f"the API user may not do {action} on {entity} ({message or 'permission denied'}). "
                f"Grant its role {perms} (or an ACL covering these records)."
            )
        if entity == "Campaign" and status >= 500 and "field" not in message.lower():
            return err(
                "CiviCampaign is not enabled, so projects cannot be read from Campaign. Enable it in "
                "Administer > System Settings > Components, or take projects from the recipe instead "
                f"({message or first_line or 'HTTP ' + str(status)})."
            )
        if "sorry" in (message or text).lower() and "error" in (message or text).lower():
            found = _ERROR_ID.search(message or text)
            error_id = f" (Error ID {found.group(1)})" if found else ""
            return err(
                f"CiviCRM hid the real error{error_id} because the API user lacks the permission "
                "'view debug output'. Grant it to see the reason here, or ask your CiviCRM administrator "
                "to look the Error ID up in CiviCRM's log (the ConfigAndLog folder)."
            )
        if message:
            return err(f"CiviCRM answered HTTP {status}: {message}")
        if status == 200:
            return err(
                "CiviCRM answered with a web page instead of APIv4 JSON. Check the endpoint: copy it from "
                "the APIv4 Explorer's REST tab."
            )
        return err(f"CiviCRM answered HTTP {status}: {first_line or 'no details given'}")

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
