"""KoboToolbox (KPI API v2): read submissions, write flags back, install the REST Service.

Reads page by ``_id`` (``query={"_id": {"$gt": last}}``, sorted by ``_id``), never by offset:
offsets shift when a submission is deleted while paging. An asset that serves several entities
(a session form with a repeat of attendees) is read once per run. A sync reads every form whole:
an edit keeps the submission's ``_id`` (and fires no REST Service) and a deletion leaves no trace,
so ``_id > cursor`` would find new submissions only; the cursor each page carries is not a way to
read what changed.

Writes go where staff look: the validation status (on hold while a submission has an open
warning or critical flag, back to what it was when they resolve) and a ``coprod_flags`` text
field set through the bulk edit endpoint. Every edit makes a new version of a submission, so a
value is written only when it changes, and submissions getting the same value share a request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from pydantic import Field, field_validator

from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorContext,
    ConnectorError,
    ConnectorOptions,
    Delivery,
    Page,
    SourceUnavailable,
    Variable,
    WriteReport,
)
from coprod.connectors.http import (
    UNENCRYPTED,
    make_retry,
    make_session,
    redact,
    unencrypted_to_another_machine,
    unreached,
)
from coprod.connectors.kobo_changes import (
    DELETED,
    MODIFIED,
    Changes,
    Entry,
    History,
    Snapshot,
    entries,
    history_query,
    server_time,
    version_digest,
)
from coprod.connectors.kobo_flags import FlagsText, compose, is_serious, line_for
from coprod.connectors.kobo_rows import (
    KoboEntityOptions,
    build_rows,
    deduplicate,
    entity_options,
    is_system,
    key_union,
    plan_for,
    repeated_names,
    resolve,
    root_uuid,
    scalars,
    submission_id,
    survey_paths,
)
from coprod_core.flags import SubjectKind
from coprod_core.lifecycle import ChangeKind, FlagChange
from coprod_core.live import UnitChange
from coprod_core.recipe import Entity, EntitySpec, EnvName
from coprod_core.text import count

log = logging.getLogger("coprod.kobotoolbox")

ON_HOLD = "validation_status_on_hold"
STATUS_UIDS = ("validation_status_approved", "validation_status_not_approved", ON_HOLD)
"""The validation statuses KoboToolbox knows; to any other uid it answers "updated" and sets nothing."""
NO_STATUS = "none"
"""What the state remembers when a submission had no validation status before we held it."""
HOOK_NAME = "coprod"

WHOLE_SUBMISSION = (
    "_id",
    "_xform_id_string",
    "_uuid",
    "_submission_time",
    "__version__",
    "_validation_status",
)
"""Keys every submission KoboToolbox sends whole carries (RECORDED: each delivery had all of them).
A REST Service set to send chosen fields (``subset_fields``) leaves most of them out, and unanswered
questions are left out of any submission, so a missing answer alone proves nothing."""
PERMISSIONS = {
    "view_asset": "View form",
    "view_submissions": "View submissions",
    "change_submissions": "Edit submissions",
    "validate_submissions": "Validate submissions",
    "change_asset": "Edit form",
}
"""The KoboToolbox permissions coprod may need, by codename (``effective_permissions``), as the
form's Sharing settings name them."""
NEEDED_WORDS = (
    "View submissions, Edit submissions (to write the flags field) and Validate submissions "
    "(to put records on hold); Edit form as well to install the REST Service"
)


def clash_words(clashes: Mapping[str, Sequence[str]], *, redeploy: bool) -> str:
    """Explain question names a form uses twice: KoboToolbox refuses to import or deploy such a form."""
    named = "; ".join(f"'{name}' is used by {' and '.join(paths)}" for name, paths in sorted(clashes.items()))
    first = min(clashes)
    verb = "deploy it again" if redeploy else "deploy it"
    return (
        f"uses a question name more than once ({named}): KoboToolbox will not {verb} "
        f'("Duplicate node name: {first}"). Give one of them another name in the form builder, '
        "deploy the form, and put the new name in the recipe (answers sent before keep the old name)"
    )


class KoboOptions(ConnectorOptions):
    """``[sources.NAME]`` options for ``connector = "kobotoolbox"``."""

    server: str = "https://kf.kobotoolbox.org"
    token_env: EnvName = "KOBO_TOKEN"
    hook_endpoint: str | None = None
    """The webhook app's URL for this recipe; without it no REST Service is installed."""
    hook_secret_env: EnvName = "COPROD_KOBO_HOOK_SECRET"
    hook_header: str = "X-Coprod-Secret"
    validation_status: bool = True
    """Put submissions with open warning or critical flags on hold (and restore them after)."""
    hold_status: str = ON_HOLD
    """The validation status a submission with open warning or critical flags is given."""
    flags_field: str = "coprod_flags"
    flags_text: FlagsText = "lines"
    """What the flags field holds: ``lines`` (each open flag's severity and title, a repeated one
    counted), ``worst`` (the most serious line, "and more") or ``severity`` (the most serious
    severity): the fewer distinct values, the fewer bulk edits."""
    page_size: int = Field(default=1000, ge=1, le=1000)
    retries: int = Field(default=4, ge=0, le=10)
    backoff_factor: float = Field(default=1.0, ge=0, le=30)

    @field_validator("server")
    @classmethod
    def _server_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(
                "give the server's address, e.g. https://kf.kobotoolbox.org or https://eu.kobotoolbox.org"
            )
        if re.match(r"^https?://kc\.", v):
            raise ValueError("the old kc. API is gone: use the kf. address (e.g. https://kf.kobotoolbox.org)")
        if unencrypted_to_another_machine(v):
            raise ValueError(UNENCRYPTED.format(key="API token"))
        if "#" in v or "?" in v or re.search(r"/api(/|$)", v):
            # A form's page (.../#/forms/aBcD123xyz/summary) pasted whole: everything after '#' never
            # reaches the server, which answered every request with its home page, read as "not JSON".
            raise ValueError(
                "give only the start of KoboToolbox's address, such as https://kf.kobotoolbox.org or "
                "https://eu.kobotoolbox.org (the part before /#/ in a form's address); the form's uid goes "
                "in location of [entities.people] and the other entities"
            )
        return v

    @field_validator("hold_status")
    @classmethod
    def _hold_status(cls, v: str) -> str:
        v = v.strip()
        if v == "validation_status_approved":
            raise ValueError("flagged records cannot be marked approved: use validation_status_on_hold")
        if v not in STATUS_UIDS:
            raise ValueError(
                f"'{v}' is not a KoboToolbox validation status (it would answer 'updated' and set "
                "nothing): use validation_status_on_hold or validation_status_not_approved"
            )
        return v

    @field_validator("flags_field")
    @classmethod
    def _flags_question(cls, v: str) -> str:
        v = v.strip()
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", part) for part in v.split("/")):
            raise ValueError(
                f"'{v}' cannot be a KoboToolbox question name (letters, digits and _ only, no spaces): "
                "give the hidden question's name, e.g. coprod_flags, not its label"
            )
        return v

    @field_validator("hook_endpoint")
    @classmethod
    def _endpoint_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v.strip()):
            raise ValueError("give the full address of the webhook app, starting with https://")
        return v.strip() if v else v

    def recipe_problems(self, recipe_name: str) -> list[tuple[str, str]]:
        """A ``hook_endpoint`` on the webhook app's route for another recipe (the example's name kept
        after renaming the recipe, another platform's route, the name left off, a slash after it):
        KoboToolbox would send every record there and the app answer 404 to each, unseen but in the
        REST Service's log. An address with no ``/hooks/`` in its path is left alone: a proxy in front
        of the app may rewrite it."""
        if not self.hook_endpoint:
            return []
        segments = urlsplit(self.hook_endpoint).path.split("/")
        route = f"/hooks/kobotoolbox/{recipe_name}"
        # The route first: a recipe may be called 'hooks', which is not where its route starts.
        if segments[-3:] == ["hooks", "kobotoolbox", recipe_name] or "hooks" not in segments:
            return []
        return [
            (
                "hook_endpoint",
                f"'{self.hook_endpoint}' does not end with {route}, this recipe's address in the webhook "
                f"app (its name = '{recipe_name}'): the app would answer 404 (unknown recipe) to every "
                f"record KoboToolbox sends there. End it with {route}",
            )
        ]

    def variables(self) -> list[Variable]:
        needed = [Variable("token_env", self.token_env, "The KoboToolbox API token")]
        if self.hook_endpoint:  # the REST Service is installed with it, and the webhook app checks it
            needed.append(
                Variable(
                    "hook_secret_env",
                    self.hook_secret_env,
                    "The KoboToolbox REST Service secret",
                    optional_part="hook_endpoint",
                )
            )
        return needed


NOT_DEPLOYED = "has not been deployed"
"""kpi's words (ObjectDeploymentDoesNotExist, HTTP 400) for the data of a form never deployed."""


def _detail(response: requests.Response) -> str:
    """kpi's ``detail`` in an error answer, or "" (its own fixed words, never a submission's)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else ""


def unsaved(answer: Mapping[str, Any], sids: Sequence[int], roots: Mapping[int, str]) -> list[int]:
    """The submissions a bulk edit answer does not show as saved, so they are tried again next run.

    KPI answers one result per submission it found, in ascending ``_id`` order, and none at all for
    an id that no longer exists (``failures`` stays 0; with no id left the answer is a 400 holding a
    JSON list, not a dict). A success names the submission's ``root_uuid``; a row for a submission
    KPI failed to save would not, and its ``uuid`` is that of a version never stored. So: the ids
    sent whose root uuid is not among the successes; from an older server without root uuids, by
    position; and when the answer cannot be matched, every id (a retry is harmless: the next run
    re-reads, and a deleted submission is then known to be gone). The server's own message is not
    kept: it may quote the submission.
    """
    results = [r for r in answer.get("results") or [] if isinstance(r, Mapping)]
    saved = [0 < int(r.get("status_code") or 0) < 400 for r in results]
    successes = [r for r, ok in zip(results, saved, strict=True) if ok]
    if results and all(r.get("root_uuid") for r in successes):
        done = {str(r["root_uuid"]).removeprefix("uuid:") for r in successes}
        return [sid for sid in sids if roots.get(sid) not in done]
    if len(results) == len(sids):
        return [sid for sid, ok in zip(sorted(sids), saved, strict=True) if not ok]
    return list(sids)


@dataclass
class _Facts:
    """What write-back needs to know of a submission: no answers, only ids and our own field."""

    root_uuid: str
    flags_value: str
    status: str
    uuid: str = ""
    """The current version's ``_uuid`` (a bulk edit makes a new one)."""


@dataclass(frozen=True)
class _Form:
    """A form as install and the flags-field check read it: its details and its deployed content."""

    info: Mapping[str, Any]
    content: Mapping[str, Any]


def private_address(url: str) -> str:
    """``"private"``/``"local"`` when a URL's host is one KoboToolbox will not send to, else ``""``."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "local"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return "local"
    return "private" if ip.is_private else ""


def shown_address(url: str) -> str:
    """A REST Service address as a message may show it: scheme, host, port and path, without a
    user name, password or query string, where a secret could have been put."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass
class _Asset:
    """A form's submissions as this process holds them (in memory only: they hold answers)."""

    submissions: list[dict[str, Any]]
    served: set[Entity] = field(default_factory=set)
    stale: bool = False
    """A new run began since they were read: bring them up to date (only what changed) before use."""


class _Details(NamedTuple):
    """The form's details as one read gave them, with the server's time of that answer."""

    submissions: int
    last_time: str
    now: str | None


class KoboConnector(Connector):
    kind = "kobotoolbox"
    platform = "kobotoolbox"
    Options = KoboOptions
    EntityOptions = KoboEntityOptions
    tells_changes = True
    removed_rows_advice = (
        "edit that submission and remove them from it too (KoboToolbox has no won't fix: while it names "
        "them, this flag stays)"
    )
    """KoboToolbox has no status to close a flag with (its flags are lines in a field of the
    submission, and the validation status is the charity's): the flag on a session record's
    attendee goes once the attendee is removed from the record, as recipes/kobotoolbox/README.md says."""
    removed_rows_advice_no_write_back = removed_rows_advice
    """Editing the submission needs no flag written to it: the same words with ``write_back = false``."""

    @classmethod
    def removed_rows_advice_for(cls, entity: Entity, spec: EntitySpec, written: bool) -> str:
        """Per entity, as its rows are read: a row that is an entry of a repeat group (the session
        record's attendees) is taken out of the submission by editing it, as :attr:`removed_rows_advice`
        says; a row that is the whole submission (a payments form, an attendance form with one
        submission per attendance) cannot be edited to leave them out, only deleted, and a payment
        record the charity must keep keeps its flag. The same with ``write_back = false``: neither
        needs a flag written to the submission."""
        repeat = entity_options(entity, spec).repeat
        if entity is Entity.PAYMENTS:
            if repeat:
                return (
                    "edit that submission and remove their payment from it too, unless the charity must keep "
                    "the payment record (KoboToolbox has no won't fix: while it names them, this flag stays)"
                )
            return (
                "delete that submission too (it is the payment record), unless the charity must keep it "
                "(KoboToolbox has no won't fix: while it names them, this flag stays)"
            )
        if entity is Entity.ATTENDANCE and not repeat:
            return (
                "delete that submission too (it is the attendance record; KoboToolbox has no won't fix: "
                "while it names them, this flag stays)"
            )
        return cls.removed_rows_advice

    def __init__(self, name: str, options: KoboOptions, context: ConnectorContext) -> None:
        super().__init__(name, options, context)
        self.options: KoboOptions = options
        self._session: requests.Session | None = None
        self._token: str | None = None
        self._assets: dict[str, _Asset] = {}
        self._facts: dict[str, dict[int, _Facts]] = defaultdict(dict)
        self._info: dict[str, tuple[dict[str, Any], str | None]] = {}
        """The form's details read this run, with the server's time of the answer (asked once a run)."""
        self._checked: dict[str, tuple[Changes, Snapshot]] = {}
        """The change check made this run (before deciding to read), so reading does not ask again."""
        self._full = False
        self._local_meta: dict[str, str] = {}
        """Memory of what was written when no state store is given (standalone use)."""
        self._saved: dict[str, str] = {}
        """The snapshot this connector last kept of each form: what the submissions it holds are
        as of (:meth:`_held_snapshot`)."""
        self.reads = 0
        self.writes = 0

    # -- HTTP -------------------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._token = self.context.secret(self.options.token_env, what="The KoboToolbox API token")
            self._session = make_session(
                timeout=self.context.timeout,
                retry=make_retry(total=self.options.retries, backoff_factor=self.options.backoff_factor),
                headers={"Authorization": f"Token {self._token}", "Accept": "application/json"},
            )
        return self._session

    @property
    def _tries(self) -> str:
        return count(self.options.retries + 1, "try", "tries")

    def _where(self, asset: str | None) -> str:
        return f"KoboToolbox at {self.options.server}" + (f", form {asset}" if asset else "")

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        asset: str | None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: tuple[int, ...] = (),
    ) -> requests.Response:
        """One call; 401/403/404 and exhausted retries become SourceUnavailable saying what to check."""
        session = self.session
        url = f"{self.options.server}{path}"
        if method == "GET":
            self.reads += 1
        else:
            self.writes += 1
        try:
            response = session.request(method, url, params=params, json=body, timeout=self.context.timeout)
        except requests.RequestException as exc:
            reason = redact(unreached(exc), [self._token or ""])
            raise SourceUnavailable(
                f"{self._where(asset)}: no answer while {what} after {self._tries} "
                f"({reason}); check the server address and the network, then run again"
            ) from None
        status = response.status_code
        if status < 400 or status in accept:
            return response
        if status == 401:
            raise SourceUnavailable(
                f"{self._where(asset)} refused the API key while {what} (HTTP 401): "
                f"{self.options.token_env} does not hold a current API key; copy it again from "
                "KoboToolbox (Account settings > Security), as a key stops working when it is regenerated"
            )
        if status == 403:
            raise SourceUnavailable(
                f"{self._where(asset)} refused {what} (HTTP 403): the account whose API key is in "
                f"{self.options.token_env} can see this form but may not change it; share the form with "
                f"that account with {NEEDED_WORDS}"
            )
        if status == 404:
            raise SourceUnavailable(
                f"{self._where(asset)}: not found while {what} (HTTP 404): this account cannot see this "
                "form, or the token is missing. KoboToolbox answers the same for both: share the form "
                f"with the account whose API key is in {self.options.token_env} (at least View form and "
                "View submissions), and check that the key reaches KoboToolbox (a proxy may drop the "
                "Authorization header). Check too the form's uid in the recipe (the part after /forms/ in "
                "the form's address) and that the server is the one holding the form (global "
                "kf.kobotoolbox.org, EU eu.kobotoolbox.org or your own)"
            )
        if status == 429 or status >= 500:
            raise SourceUnavailable(
                f"{self._where(asset)}: the server kept failing while {what} (HTTP {status}) after "
                f"{self._tries}; try again later"
            )
        if status == 400 and NOT_DEPLOYED in _detail(response):
            raise SourceUnavailable(
                f"{self._where(asset)}: the form is not deployed, so KoboToolbox refused {what} (HTTP "
                "400); deploy it in KoboToolbox (the form's Summary page, Deploy), then run again"
            )
        raise SourceUnavailable(f"{self._where(asset)}: the server refused {what} (HTTP {status})")

    def _json(self, response: requests.Response, what: str, asset: str | None) -> Any:
        """The answer's data; a web page instead (a login or sign-in page of a proxy or Wi-Fi, or a
        server address that is not KoboToolbox's) is said as that, with the address to check; an
        answer that is not a page either (cut short) is not called one."""
        try:
            return response.json()
        except ValueError:
            page = (
                "html" in response.headers.get("Content-Type", "").lower()
                or response.text.lstrip()[:1] == "<"
            )
            said = (
                "a web page, not KoboToolbox's data"
                if page
                else "something that is not KoboToolbox's data (not a web page either: an answer cut short, "
                "or another program answering)"
            )
            raise SourceUnavailable(
                f"{self._where(asset)} answered {what} with {said}: check "
                f"server in [sources.{self.name}] of the recipe is KoboToolbox's address and nothing more "
                "(https://kf.kobotoolbox.org, https://eu.kobotoolbox.org or your own server's), and that "
                "nothing between this computer and KoboToolbox (a proxy, a network sign-in page) answers "
                "in its place"
            ) from None

    # -- reading ----------------------------------------------------------------------------------

    def _fetch(
        self,
        asset: str,
        cursor: str | None,
        *,
        query: dict[str, Any] | None = None,
        fields: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every submission after ``cursor``, page by page on the ``_id`` cursor."""
        out: list[dict[str, Any]] = []
        last = int(cursor) if cursor not in (None, "") else None
        while True:
            q: dict[str, Any] = dict(query or {})
            if last is not None:
                q["_id"] = {**q.get("_id", {}), "$gt": last}
            params: dict[str, Any] = {"format": "json", "limit": self.options.page_size, "sort": '{"_id":1}'}
            if q:
                params["query"] = json.dumps(q, separators=(",", ":"))
            if fields:
                params["fields"] = json.dumps(fields, separators=(",", ":"))
            response = self._request(
                "GET", f"/api/v2/assets/{asset}/data/", what="reading submissions", asset=asset, params=params
            )
            data = self._json(response, "a read of submissions", asset)
            results = [r for r in (data.get("results") or []) if isinstance(r, dict) and "_id" in r]
            out.extend(results)
            if not results:
                break
            count = data.get("count")
            more = count > len(results) if isinstance(count, int) else data.get("next") is not None
            if not more:
                break
            last = max(submission_id(r) for r in results)
        return out

    def _remember_facts(
        self,
        asset: str,
        submissions: Sequence[Mapping[str, Any]],
        among: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Ids, our field and the status of these submissions (``among``: the whole form, where the
        flags field's path is found)."""
        flags_key = self._flags_path(asset, among if among is not None else submissions)
        facts = self._facts[asset]
        for sub in submissions:
            status = sub.get("_validation_status") or {}
            facts[submission_id(sub)] = _Facts(
                root_uuid=root_uuid(sub),
                flags_value=str(sub.get(flags_key) or ""),
                status=str(status.get("uid") or "") if isinstance(status, dict) else "",
                uuid=str(sub.get("_uuid") or ""),
            )

    def _flags_path(self, asset: str, submissions: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The full path of the flags field (it may sit in a group in the form)."""
        subs = submissions if submissions is not None else (self._assets.get(asset) or _Asset([])).submissions
        try:
            return resolve(self.options.flags_field, key_union(subs)) or self.options.flags_field
        except ConfigError:
            return self.options.flags_field

    def begin_run(self, *, full: bool = False) -> None:
        """A run begins: forms held from an earlier run in this process (the webhook worker keeps
        its connectors) are brought up to date by reading only what changed; ``full`` drops them,
        so every form is read whole (``coprod sync --full``, and the nightly run)."""
        self._full = full
        self._info.clear()
        self._checked.clear()
        if full:
            self._assets.clear()
        for held in self._assets.values():
            held.served.clear()
            held.stale = True

    def _submissions(self, asset: str, entity: Entity | None) -> list[dict[str, Any]]:
        """The asset's submissions, read once per run however many entities it serves.

        Held from an earlier run (see :meth:`begin_run`), only what changed since is read. An
        entity asking again for an asset it was already served marks a new run too.
        """
        held = self._assets.get(asset)
        if held is not None and not held.stale and (entity is None or entity not in held.served):
            if entity is not None:
                held.served.add(entity)
            return held.submissions
        if held is not None and not self._full:
            subs = self._refresh(asset, held.submissions)
        else:
            subs = self._read_whole(asset)
        self._assets[asset] = _Asset(subs, {entity} if entity is not None else set())
        return subs

    # -- what changed since the last read (connectors/kobo_changes.py) ----------------------------

    def _snapshot_key(self, asset: str) -> str:
        return f"kobo:seen:{asset}"

    def _snapshot(self, asset: str) -> Snapshot | None:
        return Snapshot.loads(self._meta(self._snapshot_key(asset)))

    def _save_snapshot(self, asset: str, snapshot: Snapshot) -> None:
        text = snapshot.dumps()
        self._set_meta(self._snapshot_key(asset), text)
        self._saved[asset] = text

    def _held_snapshot(self, asset: str) -> Snapshot | None:
        """The stored snapshot, for bringing the submissions held here up to date; None when it is
        not the one this connector kept (then the form is read whole).

        The store keeps one snapshot a form, and any run that reads the form replaces it: after the
        nightly sync, it says what changed since the sync's read. The webhook worker's submissions
        are as of its own last read, before the sync's, so what staff changed between the two
        (an edit made in the afternoon) was in neither, and the worker's next re-check wrote back
        flags from the afternoon's data over the sync's."""
        text = self._meta(self._snapshot_key(asset))
        if text is None or text != self._saved.get(asset):
            return None
        return Snapshot.loads(text)

    def _asset_info(self, asset: str, what: str) -> tuple[dict[str, Any], str | None]:
        """The form's details (``GET .../assets/{uid}/``) and the server's time of the answer, read
        once a run whatever asks: the change check, a whole read, the flags field's check."""
        known = self._info.get(asset)
        if known is not None:
            return known
        response = self._request("GET", f"/api/v2/assets/{asset}/", what=what, asset=asset)
        info = self._json(response, "the form's details", asset)
        if not isinstance(info, dict):
            raise SourceUnavailable(
                f"{self._where(asset)}: the form's details are not what KoboToolbox sends"
            )
        self._info[asset] = (info, server_time(response.headers.get("Date")))
        return self._info[asset]

    def _read_details(self, asset: str) -> _Details:
        """The form's submission count and last submission time, and the server's time."""
        info, now = self._asset_info(asset, "reading the form's details")
        return _Details(
            submissions=int(info.get("deployment__submission_count") or 0),
            last_time=str(info.get("deployment__last_submission_time") or ""),
            now=now,
        )

    def _history(self, asset: str, action: str, since: str, expected: int | None = None) -> History | None:
        """History entries of ``action`` since the server time ``since``, newest first; None when the
        account may not read the history (view-only: 403).

        When the server counts ``expected`` entries (coprod's own writes and those already seen),
        the first page is enough. Otherwise every page is read, unless that costs more requests than
        reading the form whole (``complete`` is then False)."""
        path: str | None = f"/api/v2/assets/{asset}/history/"
        params: dict[str, Any] | None = {"format": "json", "q": history_query(action, since)}
        found: list[Entry] = []
        count = 0
        pages = 0
        while path is not None:
            response = self._request(
                "GET", path, what="reading the form's history", asset=asset, params=params, accept=(403,)
            )
            if response.status_code == 403:
                return None
            data = self._json(response, "a read of the form's history", asset)
            if not isinstance(data, dict):
                raise SourceUnavailable(
                    f"{self._where(asset)}: the form's history is not what KoboToolbox sends"
                )
            results = data.get("results") or []
            found.extend(entries(results))
            path, params = self._next_page(data.get("next")), None
            pages += 1
            if pages == 1:
                count = int(data.get("count") or 0)
                if count == expected:
                    return History(found, count, complete=path is None)
                whole = 1 + -(-self._held_count(asset) // self.options.page_size)
                if path is not None and -(-count // max(1, len(results))) - 1 > whole:
                    return History(found, count, complete=False)
        return History(found, count, complete=True)

    def _held_count(self, asset: str) -> int:
        held = self._assets.get(asset)
        return len(held.submissions) if held is not None else 0

    def _next_page(self, link: Any) -> str | None:
        """The path and query of a ``next`` link, sent to the recipe's server whatever host the link
        names (behind a proxy kpi may name itself otherwise): the token never goes elsewhere."""
        if not isinstance(link, str) or not link:
            return None
        parts = urlsplit(link)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _check(self, asset: str, snapshot: Snapshot) -> tuple[Changes, Snapshot]:
        """What changed since ``snapshot`` (asked once a run), and the snapshot to keep once taken in."""
        if asset not in self._checked:
            self._checked[asset] = self._ask_changes(asset, snapshot)
        return self._checked[asset]

    def _ask_changes(self, asset: str, snapshot: Snapshot) -> tuple[Changes, Snapshot]:
        """What changed since ``snapshot``, from the form's details and its history (or, refused the
        history, a listing of ids and versions), and the snapshot to keep once it is taken in.

        Deletes are looked up in the history only when the count says there were some: fewer
        submissions than last time, or new ones without the count growing. New ones with deletes
        among them show only once the new ones are read (:meth:`_refresh` checks the count then).
        """
        details = self._read_details(asset)
        after = Snapshot.loads(snapshot.dumps())
        assert after is not None
        after.count, after.last_time = details.submissions, details.last_time
        new = details.last_time != snapshot.last_time or details.submissions > snapshot.count
        fewer = details.submissions < snapshot.count
        cursor = snapshot.cursor
        edits = None
        if snapshot.history and cursor:
            edits = self._history(asset, MODIFIED, cursor, snapshot.expected(MODIFIED))
        if edits is None or cursor is None:
            if snapshot.history and cursor:
                after.history = False  # refused: compare listings from now on
            return self._compare_listing(asset, snapshot, after, details)
        if edits.total == snapshot.expected(MODIFIED):
            staff: set[str] = set()  # no entry but coprod's own writes and those seen before
        elif edits.complete:
            staff = snapshot.staff_roots(edits.entries)
        else:
            return Changes(unchanged=False, whole=True), after
        found = edits.entries
        counted = {MODIFIED: edits.total}
        deleted: set[str] = set()
        if fewer or (new and details.submissions <= snapshot.count):
            gone = self._history(asset, DELETED, cursor)
            if gone is None or not gone.complete:
                return Changes(unchanged=False, whole=True), after
            deleted = {e.root for e in snapshot.fresh(gone.entries)}
            found = [*found, *gone.entries]
            counted[DELETED] = gone.total
        if edits.complete or (details.now and edits.entries and edits.entries[-1].when < details.now):
            # every entry from the server's time now on is on the page read (newest first)
            after.advance(details.now, found)
        else:
            after.hold(counted, found)
        unchanged = not (new or fewer or staff or deleted)
        return Changes(unchanged, new, frozenset(staff), deleted_roots=frozenset(deleted)), after

    def _compare_listing(
        self, asset: str, snapshot: Snapshot, after: Snapshot, details: _Details
    ) -> tuple[Changes, Snapshot]:
        """Without the history: every ``_id`` with its ``_uuid`` and status, against the last read."""
        if not snapshot.versions:
            return Changes(unchanged=False, whole=True), after
        listed = self._fetch(asset, None, fields=["_id"])
        now = {str(submission_id(s)): version_digest(s) for s in listed}
        before = snapshot.versions
        changed = {int(i) for i, v in now.items() if before.get(i) != v}  # edited, or new
        deleted = {int(i) for i in before if i not in now}
        after.versions = now
        after.advance(details.now, [])
        unchanged = not (changed or deleted)
        return Changes(unchanged, changed_ids=frozenset(changed), deleted_ids=frozenset(deleted)), after

    def _read_whole(self, asset: str, history: bool | None = None) -> list[dict[str, Any]]:
        """Every submission of the form, and a fresh snapshot of it for the next run's change check.

        ``history``: whether the account may read the form's history (None: as the last snapshot
        says); without it the snapshot keeps each submission's version, to compare listings."""
        details = self._read_details(asset) if self.state is not None else None
        subs = deduplicate(self._fetch(asset, None))
        self._remember_facts(asset, subs)
        if details is not None:
            if history is None:
                before = self._snapshot(asset)
                history = before.history if before is not None else True
            newest = max((str(s.get("_submission_time") or "")[:19] for s in subs), default="")
            snapshot = Snapshot(
                count=details.submissions,
                last_time=details.last_time,
                last_id=max((submission_id(s) for s in subs), default=None),
                cursor=details.now or newest or None,
                history=history,
                versions={} if history else {str(submission_id(s)): version_digest(s) for s in subs},
            )
            self._save_snapshot(asset, snapshot)
        log.info("read %d submissions from form %s", len(subs), asset)
        return subs

    def _refresh(self, asset: str, held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The held submissions brought up to date: only the new, edited and deleted ones are read
        (the form's details and its history first: two requests when nothing changed)."""
        snapshot = self._held_snapshot(asset)
        if snapshot is None:
            return self._read_whole(asset)
        changes, after = self._check(asset, snapshot)
        if changes.whole:
            return self._read_whole(asset, after.history)
        if changes.unchanged:
            self._save_snapshot(asset, after)
            log.info("form %s: nothing changed since the last read", asset)
            return held
        by_id = {submission_id(s): s for s in held}
        id_of_root = {root_uuid(s): sid for sid, s in by_id.items()}
        wanted = set(changes.changed_ids) | {id_of_root[r] for r in changes.changed_roots if r in id_of_root}
        gone = set(changes.deleted_ids) | {id_of_root[r] for r in changes.deleted_roots if r in id_of_root}
        fresh: list[dict[str, Any]] = []
        if changes.new:
            fresh = self._fetch(asset, None if snapshot.last_id is None else str(snapshot.last_id))
        if wanted:
            fresh.extend(self._fetch(asset, None, query={"_id": {"$in": sorted(wanted)}}))
        found = {submission_id(s) for s in fresh}
        for sid in gone | (wanted - found):  # asked for and not there: deleted since
            by_id.pop(sid, None)
        by_id.update({submission_id(s): s for s in fresh})
        if after.history and len(by_id) > after.count and not changes.deleted_roots and snapshot.cursor:
            # new submissions came with deletes the count hid: the history names them
            gone_now = self._history(asset, DELETED, snapshot.cursor)
            listed = gone_now.entries if gone_now is not None else []
            for root in {e.root for e in snapshot.fresh(listed)}:
                by_id.pop(id_of_root.get(root, -1), None)
            for e in listed:
                if e.when >= (after.cursor or ""):
                    after.seen[e.digest] = after.seen.get(e.digest, 0) + 1
                    after.seen_actions[DELETED] = after.seen_actions.get(DELETED, 0) + 1
        subs = deduplicate(by_id.values())
        if after.history and len(subs) != after.count:
            return self._read_whole(asset)  # still does not add up (a change while reading): read whole
        self._remember_facts(asset, fresh, among=subs)
        after.last_id = max((submission_id(s) for s in subs), default=snapshot.last_id)
        self._save_snapshot(asset, after)
        log.info("form %s: read %d new or changed submission(s), %d deleted", asset, len(fresh), len(gone))
        return subs

    def changes_for(self, delivery: Delivery) -> list[UnitChange] | None:
        """A REST Service delivery is the whole submission: taken as it is, nothing read. Without it
        (a worker running apart from the app, which keeps no bodies), what changed in each held
        form since the last read, asked of the server (two requests a form when nothing did)."""
        if delivery.platform != self.platform:
            return []
        body = delivery.notice
        if body is not None:
            asset = str(body.get("_xform_id_string") or "")
            held = self._assets.get(asset)
            if held is None:
                return None  # a form this source does not hold (or not a submission): read everything
            missing = [key for key in WHOLE_SUBMISSION if key not in body]
            if missing:
                log.warning(
                    "form %s: a REST Service delivery without %s is part of a submission (fields chosen "
                    "in the REST Service's settings?): the forms are read instead; `coprod install` "
                    "sets the REST Service back to sending whole submissions",
                    asset,
                    ", ".join(missing),
                )
                return None
            sub = dict(body)
            sid = submission_id(sub)
            held.submissions = deduplicate([*(s for s in held.submissions if submission_id(s) != sid), sub])
            self._remember_facts(asset, [sub], among=held.submissions)
            return self._units(asset, {sid}, held.submissions)
        out: list[UnitChange] = []
        for asset, held in list(self._assets.items()):
            before = {submission_id(s): version_digest(s) for s in held.submissions}
            self._info.pop(asset, None)
            self._checked.pop(asset, None)
            held.submissions = self._refresh(asset, held.submissions)
            now = {submission_id(s): version_digest(s) for s in held.submissions}
            changed = {sid for sid in before.keys() | now.keys() if before.get(sid) != now.get(sid)}
            out.extend(self._units(asset, changed, held.submissions))
        return out

    def _units(self, asset: str, sids: set[int], submissions: list[dict[str, Any]]) -> list[UnitChange]:
        """Each entity's rows of these submissions now (none for one that is gone)."""
        by_id = {submission_id(s): s for s in submissions}
        out = []
        for entity, spec in self._my_entities().items():
            if spec.location != asset:
                continue
            plan = plan_for(entity, spec, entity_options(entity, spec))
            for sid in sorted(sids):
                sub = by_id.get(sid)
                rows = build_rows(entity, spec, plan, [sub], among=submissions) if sub is not None else []
                out.append(UnitChange(entity, str(sid), tuple(rows)))
        return out

    def nothing_changed(self) -> bool:
        """Whether every form of this source is as the last read left it (asked before a run that
        holds nothing: two requests a form; an answer of False is followed by a whole read)."""
        assets = sorted({spec.location for spec in self._my_entities().values() if spec.location})
        afters: dict[str, Snapshot] = {}
        for asset in assets:
            snapshot = self._snapshot(asset)
            if snapshot is None:
                return False
            changes, after = self._check(asset, snapshot)
            if not changes.unchanged:
                return False
            afters[asset] = after
        for asset, after in afters.items():
            self._save_snapshot(asset, after)
        return bool(assets)

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        if not spec.location:
            raise ConfigError(
                f"[entities.{entity.value}] location must be the form's uid in KoboToolbox "
                "(the part after /forms/ in its address)"
            )
        options = entity_options(entity, spec)
        plan = plan_for(entity, spec, options)
        asset = spec.location
        if cursor in (None, ""):
            subs = self._submissions(asset, entity)
        else:
            subs = deduplicate(self._fetch(asset, cursor))
            self._remember_facts(asset, subs)
        size = self.options.page_size
        if not subs:
            yield Page(rows=[], cursor=cursor)
            return
        for start in range(0, len(subs), size):
            chunk = subs[start : start + size]
            rows = build_rows(entity, spec, plan, chunk)
            yield Page(rows=rows, cursor=str(submission_id(chunk[-1])))

    # -- where a flag goes ------------------------------------------------------------------------

    def _my_entities(self) -> dict[Entity, EntitySpec]:
        return {e: s for e, s in self.context.recipe.entities.items() if s.source == self.name and s.location}

    def _index(self, entity: Entity, spec: EntitySpec, id_field: str) -> dict[str, int]:
        """Subject id (the value of ``id_field``) -> the submission holding it, lowest _id first."""
        assert spec.location
        subs = self._submissions(spec.location, None)
        name = spec.fields.get(id_field)
        out: dict[str, int] = {}
        if not name:
            return out
        key = resolve(name, key_union(subs))
        if key is None:
            return out
        for s in subs:
            value = scalars(s).get(key)
            if value is not None and value.strip():
                out.setdefault(value.strip(), submission_id(s))
        return out

    def _locate(
        self, kind: SubjectKind, subject_id: str, cache: dict[Any, dict[str, int]]
    ) -> tuple[str, int] | None:
        mine = self._my_entities()

        def by_field(entity: Entity, id_field: str, value: str = subject_id) -> tuple[str, int] | None:
            spec = mine.get(entity)
            if spec is None or entity_options(entity, spec).repeat:
                return None
            if (entity, id_field) not in cache:
                cache[(entity, id_field)] = self._index(entity, spec, id_field)
            sid = cache[(entity, id_field)].get(value)
            return (spec.location, sid) if sid is not None and spec.location else None

        if kind is SubjectKind.PERSON:
            return by_field(Entity.PEOPLE, "id")
        if kind is SubjectKind.SESSION:
            return by_field(Entity.SESSIONS, "id")
        if kind is SubjectKind.PROJECT:
            # A project read from a form has its own submission; an inline project's flags go on
            # its first session record, which does not move as sessions are added.
            return by_field(Entity.PROJECTS, "id") or by_field(Entity.SESSIONS, "project_id")
        entity_name, _, rest = subject_id.partition(":")
        try:
            entity = Entity(entity_name)
        except ValueError:
            return None
        spec = mine.get(entity)
        if entity is Entity.PROJECTS and Entity.PROJECTS not in self.context.recipe.entities:
            # a [[projects]] of the recipe (its decision group naming an unknown ID): on its first
            # session record, with the project's other flags
            return by_field(Entity.SESSIONS, "project_id", rest)
        found = re.search(r"\d+", rest)
        if spec is None or spec.location is None or found is None:
            return None
        return spec.location, int(found.group())

    def _ensure_facts(self, asset: str, sids: set[int]) -> None:
        """Fetch the ids, our field and the status of submissions not read in this run."""
        missing = sorted(sids - set(self._facts[asset]))
        size = self.options.page_size
        for start in range(0, len(missing), size):
            part = missing[start : start + size]
            fields = ["_id", "_uuid", "meta/rootUuid", "_validation_status", self._flags_path(asset)]
            subs = self._fetch(asset, None, query={"_id": {"$in": part}}, fields=fields)
            self._remember_facts(asset, subs)

    # -- writing ----------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        if self.state is None:
            return self._local_meta.get(key)
        return self.state.get_meta(self.recipe_name, key)

    def _set_meta(self, key: str, value: str) -> None:
        if self.state is None:
            self._local_meta[key] = value
        elif self._meta(key) != value:
            self.state.set_meta(self.recipe_name, key, value)

    def _open_lines(self, asset: str, sid: int) -> dict[str, str]:
        """Fingerprint -> line of the flags open on a submission, as last written."""
        try:
            data = json.loads(self._meta(f"kobo:open:{asset}:{sid}") or "{}")
        except ValueError:
            data = {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        report = WriteReport()
        if not changes:
            return report
        writes_before = self.writes
        cache: dict[Any, dict[str, int]] = {}
        targets: dict[tuple[str, int], list[FlagChange]] = defaultdict(list)
        for change in changes:
            known = change.known
            try:
                where = self._locate(known.subject_kind, known.subject_id, cache)
            except SourceUnavailable as exc:
                report.failed[change.fingerprint] = str(exc)
                continue
            if where is None:
                log.info(
                    "flag %s (%s) has no submission to be written to",
                    change.fingerprint,
                    known.subject_kind.value,
                )
                report.written.append(change.fingerprint)
                continue
            targets[where].append(change)

        by_asset: dict[str, set[int]] = defaultdict(set)
        for asset, sid in targets:
            by_asset[asset].add(sid)
        unreachable: set[str] = set()
        for asset, sids in by_asset.items():
            try:
                self._ensure_facts(asset, sids)
            except SourceUnavailable as exc:
                unreachable.add(asset)
                for sid in sids:
                    for c in targets[(asset, sid)]:
                        report.failed[c.fingerprint] = str(exc)

        field_groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        status_groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        new_values: dict[tuple[str, int], str] = {}
        pending: dict[tuple[str, int], dict[str, str]] = {}
        for (asset, sid), cs in sorted(targets.items()):
            if asset in unreachable:
                continue
            facts = self._facts[asset].get(sid)
            if facts is None:
                log.info("submission %s of form %s is gone; its flags are not written", sid, asset)
                report.written.extend(c.fingerprint for c in cs)
                continue
            open_lines = self._open_lines(asset, sid)
            for c in cs:
                if c.kind is ChangeKind.RESOLVED or c.flag is None:
                    open_lines.pop(c.fingerprint, None)
                else:
                    open_lines[c.fingerprint] = line_for(c.flag)
            pending[(asset, sid)] = open_lines
            lines = list(open_lines.values())
            value = compose(lines, self.options.flags_text)
            new_values[(asset, sid)] = value
            if self._needs_write(asset, sid, facts, value):
                field_groups[(asset, value)].append(sid)
            if self.options.validation_status:
                target = self._status_target(asset, sid, facts, is_serious(lines))
                if target is not None:
                    status_groups[(asset, target)].append(sid)

        failed_sids: dict[tuple[str, int], str] = {}
        flags_paths: dict[str, str | ConnectorError] = {}
        written: dict[str, list[int]] = defaultdict(list)
        """Submissions changed by this write-back, once per change (each is a history entry)."""
        for (asset, value), edited in sorted(field_groups.items()):
            if asset not in flags_paths:
                try:
                    flags_paths[asset] = self._checked_flags_path(asset)
                except ConnectorError as exc:
                    flags_paths[asset] = exc
            path = flags_paths[asset]
            failures = (
                dict.fromkeys(edited, str(path))
                if isinstance(path, ConnectorError)
                else self._bulk_edit(asset, path, value, sorted(edited))
            )
            for sid, why in failures.items():
                failed_sids[(asset, sid)] = why
            for sid in edited:
                if (asset, sid) not in failed_sids:
                    self._facts[asset][sid].flags_value = value
                    written[asset].append(sid)
        for (asset, target), grouped in sorted(status_groups.items()):
            to_set = [s for s in sorted(grouped) if (asset, s) not in failed_sids]
            if not to_set:
                continue
            try:
                gone = self._set_statuses(asset, target, to_set)
            except SourceUnavailable as exc:
                for sid in to_set:
                    failed_sids[(asset, sid)] = str(exc)
                continue
            for sid in to_set:
                if sid in gone:
                    log.info("submission %s of form %s is gone; its validation status is not set", sid, asset)
                    continue
                facts = self._facts[asset][sid]
                written[asset].append(sid)
                if target == self.options.hold_status:
                    self._set_meta(f"kobo:status:{asset}:{sid}", facts.status or NO_STATUS)
                    facts.status = target
                else:
                    self._set_meta(f"kobo:status:{asset}:{sid}", "")
                    facts.status = "" if target == NO_STATUS else target

        for asset, changed in written.items():
            self._note_own_writes(asset, changed, flags_paths.get(asset))

        for where, cs in targets.items():
            if where[0] in unreachable or where not in new_values:
                continue
            reason = failed_sids.get(where)
            if reason is None:
                self._set_meta(f"kobo:open:{where[0]}:{where[1]}", json.dumps(pending[where], sort_keys=True))
            for c in cs:
                if reason is None:
                    report.written.append(c.fingerprint)
                else:
                    report.failed[c.fingerprint] = reason
        report.requests = self.writes - writes_before
        return report

    def _note_own_writes(
        self, asset: str, sids: Sequence[int], flags_path: str | ConnectorError | None
    ) -> None:
        """Remember what coprod itself changed, so the next change check does not take it for staff's:
        one history entry per change, by root uuid; without the history, each new version. The
        submissions held in memory get the values written, as the server now has them."""
        facts = self._facts[asset]
        held = self._assets.get(asset)
        by_id = {submission_id(s): s for s in held.submissions} if held is not None else {}
        for sid in set(sids):
            fact, sub = facts.get(sid), by_id.get(sid)
            if fact is None or sub is None:
                continue
            if isinstance(flags_path, str):
                sub[flags_path] = fact.flags_value
            sub["_uuid"] = fact.uuid or sub.get("_uuid")
            sub["_validation_status"] = {"uid": fact.status} if fact.status else {}
        snapshot = self._snapshot(asset)
        if snapshot is None:
            return
        snapshot.wrote(facts[sid].root_uuid for sid in sids if sid in facts)
        if not snapshot.history:
            for sid in set(sids):
                if sid in facts and str(sid) in snapshot.versions:
                    fact = facts[sid]
                    version = {"_uuid": fact.uuid, "_validation_status": {"uid": fact.status}}
                    snapshot.versions[str(sid)] = version_digest(version)
        self._save_snapshot(asset, snapshot)

    def _needs_write(self, asset: str, sid: int, facts: _Facts, value: str) -> bool:
        """Every edit makes a new version of the submission: write only a value that differs from
        the one read (KoboToolbox returns the field whenever it holds a value)."""
        return value != facts.flags_value.strip()

    def _status_target(self, asset: str, sid: int, facts: _Facts, serious: bool) -> str | None:
        """The validation status to set, or None to leave it: hold while serious, then restore."""
        key = f"kobo:status:{asset}:{sid}"
        remembered = self._meta(key) or ""
        hold = self.options.hold_status
        if serious:
            return hold if facts.status != hold else None
        if not remembered:
            return None  # we did not put it on hold: a status staff chose is theirs
        if facts.status != hold:
            self._set_meta(key, "")  # staff changed it since: leave their choice
            return None
        # KoboToolbox answers "updated" to a uid it does not know and sets nothing: restore only
        # a real status, else clear the hold.
        return remembered if remembered in STATUS_UIDS else NO_STATUS

    def _bulk_edit(self, asset: str, path: str, value: str, sids: list[int]) -> dict[int, str]:
        """Set the flags field (``path``) of these submissions to one value; return the ones that failed."""
        body = {"payload": {"submission_ids": sids, "data": {path: value}}}
        try:
            response = self._request(
                "PATCH",
                f"/api/v2/assets/{asset}/data/bulk/",
                what="writing the flags field",
                asset=asset,
                body=body,
                accept=(400,),
            )
        except SourceUnavailable as exc:
            return dict.fromkeys(sids, str(exc))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        facts = self._facts[asset]
        roots = {sid: facts[sid].root_uuid for sid in sids if sid in facts}
        failed = unsaved(answer if isinstance(answer, dict) else {}, sids, roots)
        if isinstance(answer, dict):
            new_uuid = {
                str(r.get("root_uuid") or "").removeprefix("uuid:"): str(r.get("uuid") or "")
                for r in answer.get("results") or []
                if isinstance(r, Mapping) and 0 < int(r.get("status_code") or 0) < 400
            }
            for sid, root in roots.items():
                if sid not in failed and new_uuid.get(root):
                    facts[sid].uuid = new_uuid[root]
        code = f" (HTTP {response.status_code})" if response.status_code >= 400 else ""
        return {sid: f"KoboToolbox did not save the flags field of submission {sid}{code}" for sid in failed}

    def _set_statuses(self, asset: str, target: str, sids: list[int]) -> set[int]:
        """Set (PATCH) or clear (DELETE) the validation status of these submissions in one request;
        return the ids found deleted.

        KPI checks both with the same validator, which requires ``validation_status.uid`` even to
        clear (``None``: no status of that uid, so none is set). One id that no longer exists fails
        the whole request (400), so on a 400 the ids still there are read and sent again alone: one
        deleted submission does not hold back the statuses of all the others.
        """
        method, what = ("DELETE", "clearing") if target == NO_STATUS else ("PATCH", "setting")
        uid = None if target == NO_STATUS else target

        def send(ids: list[int]) -> requests.Response:
            return self._request(
                method,
                f"/api/v2/assets/{asset}/data/validation_statuses/",
                what=f"{what} validation statuses",
                asset=asset,
                body={"payload": {"submission_ids": ids, "validation_status.uid": uid}},
                accept=(400,),
            )

        def refused(response: requests.Response) -> SourceUnavailable:
            try:
                said = str(response.json().get("detail") or "")[:200]
            except (ValueError, AttributeError):
                said = ""
            return SourceUnavailable(
                f"{self._where(asset)}: the server refused {what} validation statuses (HTTP 400"
                + (f": {said}" if said else "")
                + ")"
            )

        response = send(sids)
        if response.status_code != 400:
            return set()
        found = self._fetch(asset, None, query={"_id": {"$in": sids}}, fields=["_id"])
        present = {submission_id(s) for s in found}
        gone = set(sids) - present
        if not gone:
            raise refused(response)
        rest = [sid for sid in sids if sid in present]
        if rest and (response := send(rest)).status_code == 400:
            raise refused(response)
        return gone

    # -- install ----------------------------------------------------------------------------------

    def _form(self, asset: str, what: str) -> _Form:
        """The form's details and the content of its deployed version (a draft may differ)."""
        info, _ = self._asset_info(asset, what)
        content = info.get("content") or {}
        deployed = info.get("deployed_version_id")
        if deployed and deployed != info.get("version_id"):
            response = self._request(
                "GET",
                f"/api/v2/assets/{asset}/versions/{deployed}/",
                what="reading the deployed form",
                asset=asset,
            )
            content = self._json(response, "the deployed form", asset).get("content") or {}
        return _Form(info, content)

    def _missing_permissions(self, form: _Form) -> list[str]:
        """What the account lacks on this form for what the recipe asks, in the words of the Sharing
        dialog; nothing when the server does not say (``effective_permissions`` absent)."""
        given = form.info.get("effective_permissions")
        if not isinstance(given, list):
            return []
        have = {p.get("codename") for p in given if isinstance(p, dict)}
        need = {
            "view_submissions": "to read the answers",
            "change_submissions": "to write the flags field",
            "validate_submissions": "to put records on hold" if self.options.validation_status else "",
            "change_asset": "to install the REST Service" if self.options.hook_endpoint else "",
        }
        return [f"{PERMISSIONS[p]} ({why})" for p, why in need.items() if why and p not in have]

    def _flags_question(self, asset: str, form: _Form) -> str:
        """The flags field's full path in the deployed form, or a ConfigError saying what to do.

        KoboToolbox stores a field the form does not have, so a misspelt ``flags_field`` would add a
        stray field (and a new version) to every flagged record: it is never written unchecked.
        """
        name = self.options.flags_field
        path = resolve(name, survey_paths(form.content)[0])
        if path is None:
            raise ConfigError(
                f"form {asset} has no question '{name}' (flags_field) in its deployed form, and "
                "KoboToolbox would add it to every flagged record as a stray field: add a hidden "
                f"question named '{name}' to the form and deploy it, or correct flags_field in the "
                "recipe (the templates call it coprod_flags)"
            )
        return path

    def _checked_flags_path(self, asset: str) -> str:
        """The flags field's path, checked against the deployed form once and remembered after."""
        key = f"kobo:flags_field:{asset}"
        option, _, path = (self._meta(key) or "").partition(" -> ")
        if path and option == self.options.flags_field:
            return path
        path = self._flags_question(asset, self._form(asset, "checking the flags field"))
        self._set_meta(key, f"{self.options.flags_field} -> {path}")
        return path

    def install(self) -> list[str]:
        lines: list[str] = []
        problems: list[str] = []
        refused: list[str] = []
        assets: dict[str, list[tuple[Entity, EntitySpec]]] = defaultdict(list)
        for entity, spec in self._my_entities().items():
            assets[spec.location or ""].append((entity, spec))
        for asset, uses in assets.items():
            form = self._form(asset, "checking the form")
            used_for = ", ".join(e.value for e, _ in uses)
            lines.append(f"{self.kind}: the token can open form {asset} ({used_for})")
            missing = self._missing_permissions(form)
            if missing:
                refused.append(f"form {asset}: {', '.join(missing)}")
                continue
            info = form.info
            clashes = repeated_names(info.get("content") or {})
            if not info.get("has_deployment") or info.get("deployment__active") is False:
                problems.append(
                    f"form {asset} is not deployed: deploy it in KoboToolbox first"
                    + (f" ({clash_words(clashes, redeploy=False)})" if clashes else "")
                )
                continue
            clashes = {**repeated_names(form.content), **clashes}
            if clashes:
                lines.append(f"{self.kind}: warning: form {asset} {clash_words(clashes, redeploy=True)}")
            paths, repeats = survey_paths(form.content)
            for entity, spec in uses:
                problems.extend(self._check_fields(asset, entity, spec, paths, repeats))
            try:
                path = self._flags_question(asset, form)
                self._set_meta(f"kobo:flags_field:{asset}", f"{self.options.flags_field} -> {path}")
            except ConfigError as exc:
                problems.append(str(exc))
        if refused:
            raise SourceUnavailable(
                f"{self._where(None)}: the account whose API key is in {self.options.token_env} may not "
                "do all the recipe asks. In KoboToolbox, open each form's Settings > Sharing and give "
                "that account: " + "; ".join(refused)
            )
        if problems:
            raise ConfigError("the forms do not fit the recipe: " + "; ".join(problems))
        if not self.options.hook_endpoint:
            lines.append(
                f"{self.kind}: no hook_endpoint in the recipe, so no REST Service (cron sync still works)"
            )
            return lines
        secret = self.context.secret(self.options.hook_secret_env, what="The KoboToolbox REST Service secret")
        private = private_address(self.options.hook_endpoint)
        if private:
            lines.append(
                f"{self.kind}: warning: hook_endpoint is a {private} address. KoboToolbox creates the "
                "REST Service, but a standard server never sends to such an address (it drops the "
                "request to protect its own network) unless its administrator allows it: use the "
                "webhook app's public https address"
            )
        for asset in assets:
            lines.append(self._ensure_hook(asset, secret))
        return lines

    def _check_fields(
        self, asset: str, entity: Entity, spec: EntitySpec, paths: set[str], repeats: set[str]
    ) -> list[str]:
        where = f"[entities.{entity.value}] (form {asset})"
        options = entity_options(entity, spec)
        problems = []
        if options.repeat:
            try:
                if resolve(options.repeat, repeats) is None:
                    problems.append(f"{where}: the form has no repeat group '{options.repeat}'")
            except ConfigError as exc:
                problems.append(f"{where}: {exc}")
        names = [*spec.fields.values(), *spec.demographics.values(), *options.other.values()]
        for name in dict.fromkeys(names):
            if is_system(name):
                continue
            try:
                if resolve(name, paths) is None:
                    problems.append(f"{where}: the deployed form has no question '{name}'")
            except ConfigError as exc:
                problems.append(f"{where}: {exc}")
        return problems

    def _ensure_hook(self, asset: str, secret: str) -> str:
        endpoint = self.options.hook_endpoint
        name = f"{HOOK_NAME} {self.recipe_name}"
        response = self._request(
            "GET", f"/api/v2/assets/{asset}/hooks/", what="listing REST Services", asset=asset, accept=(404,)
        )
        if response.status_code == 404:
            # The form was just read with this key, so it exists and the account can see it.
            raise SourceUnavailable(
                f"{self._where(asset)}: KoboToolbox will not show this form's REST Services to the account "
                f"whose API key is in {self.options.token_env} (HTTP 404): installing the REST Service "
                "needs edit rights on the form (Edit form, with View submissions) in its Settings > "
                "Sharing. Or leave hook_endpoint out of the recipe and rely on the nightly sync"
            )
        data = self._json(response, "the list of REST Services", asset)
        hooks = data.get("results", data) if isinstance(data, dict) else data
        matches = [h for h in hooks or [] if h.get("name") == name or h.get("endpoint") == endpoint]
        existing = matches[0] if matches else None
        headers = dict(((existing or {}).get("settings") or {}).get("custom_headers") or {})
        headers[self.options.hook_header] = secret
        desired: dict[str, Any] = {
            "name": name,
            "endpoint": endpoint,
            "active": True,
            "export_type": "json",
            "auth_level": "no_auth",
            "settings": {"custom_headers": headers},
            "email_notification": True,
        }
        extra = (
            f" ({len(matches) - 1} more with the same name or address: delete them)"
            if len(matches) > 1
            else ""
        )
        if existing is None:
            self._hook_write("POST", f"/api/v2/assets/{asset}/hooks/", asset, desired)
            return f"{self.kind}: created the REST Service '{name}' on form {asset} -> {endpoint}"
        # Fields chosen (subset_fields) or a template (payload_template) would send the webhook app
        # part of each submission, or a wrapper around it, where it needs the whole of it.
        partial = bool(existing.get("subset_fields")) or bool(existing.get("payload_template"))
        same = (
            all(
                existing.get(k) == desired[k]
                for k in ("name", "endpoint", "active", "export_type", "auth_level")
            )
            and ((existing.get("settings") or {}).get("custom_headers") or {}) == headers
            and not partial
        )
        if same:
            return f"{self.kind}: the REST Service '{name}' on form {asset} is already up to date{extra}"
        if partial:
            desired = {**desired, "subset_fields": [], "payload_template": None}
        self._hook_write("PATCH", f"/api/v2/assets/{asset}/hooks/{existing.get('uid')}/", asset, desired)
        whole = " (it sent chosen fields or a template: now the whole submission)" if partial else ""
        return f"{self.kind}: updated the REST Service '{name}' on form {asset} -> {endpoint}{whole}{extra}"

    def _hook_write(self, method: str, path: str, asset: str, body: dict[str, Any]) -> None:
        what = "creating the REST Service" if method == "POST" else "updating the REST Service"
        response = self._request(method, path, what=what, asset=asset, body=body, accept=(400,))
        if response.status_code == 400:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            said = (
                "; ".join(
                    f"{k}: {' '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in answer.items()
                )
                if isinstance(answer, dict)
                else ""
            )
            if "Unsecured endpoint is not allowed" in said:
                raise ConfigError(
                    f"{self._where(asset)} refused the REST Service address {shown_address(body['endpoint'])} "
                    "(HTTP 400, 'Unsecured endpoint is not allowed'): this server takes only https:// "
                    f"addresses for REST Services. Give the webhook app's https:// address as hook_endpoint "
                    f"under [sources.{self.name}] in the recipe, or ask the server's administrator to allow "
                    "http addresses (kpi's setting ALLOW_UNSECURED_HOOK_ENDPOINTS); or leave hook_endpoint "
                    "out and rely on the scheduled sync. No REST Service was created on this form"
                )
            raise ConfigError(
                f"{self._where(asset)} refused the REST Service (HTTP 400"
                + (f", {said[:200]}" if said else "")
                + f"): check hook_endpoint ({self.options.hook_endpoint}); it must be the webhook app's "
                "full address for this recipe, starting with https://"
            )

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self._assets.clear()
        self._facts.clear()
        self._info.clear()
