"""Google Sheets: read a project's tabs, and write flags back where staff already look.

Many small charities run a co-production project from one Google Sheet: a Google Form's responses
for people joining, and tabs for sessions, attendance and payments. This connector reads every
mapped tab (and the Flags tab) in ONE ``values:batchGet`` after one metadata request, serves every
``read()`` and ``read_staff_statuses()`` of the run from that one answer, and writes all of a run's
changes in ONE ``values:batchUpdate`` with ``valueInputOption=RAW`` (text that starts with "=" stays
text, never a formula), or in as few as Google's 10 MB request limit allows when they are many (some
12,000 flags). The quota is 60 reads and 60 writes a minute per user, so this matters.
Held by the webhook worker (``keep_for_rechecks``), it keeps the tabs past the write-back, and a
notice naming a row costs one batchGet of that row (:meth:`SheetsConnector.changes_for_all`).

HTTP goes through gspread 6's client on our own google-auth ``AuthorizedSession`` (a requests
Session), with urllib3's bounded ``Retry`` mounted on it: 429 and 5xx are retried with back-off,
honouring Retry-After, and then the run stops with a plain message. gspread's own
``BackOffHTTPClient`` is not used: it never gives up on a permanent 429.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import quote

import gspread
import requests
from google.auth import exceptions as google_auth_errors
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as GoogleAuthRequest
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.urls import SPREADSHEET_VALUES_BATCH_URL
from gspread.utils import absolute_range_name, extract_id_from_url
from pydantic import Field, ValidationInfo, field_validator

from coprod.connectors.base import (
    ConfigError,
    Connector,
    ConnectorContext,
    ConnectorEntityOptions,
    ConnectorOptions,
    Delivery,
    Page,
    SourceContext,
    SourceUnavailable,
    Summary,
    Variable,
    WriteReport,
    key_file_problem,
)
from coprod.connectors.http import make_retry, make_session
from coprod.connectors.sheets_flags import (
    FLAG_HEADINGS,
    CellWrite,
    FlagsTab,
    column_text,
    update_cells_requests,
    value_ranges,
)
from coprod.connectors.sheets_notice import FORM_SUBMIT, notice_in
from coprod.connectors.sheets_refusals import refusal
from coprod.connectors.sheets_tabs import (
    Table,
    a1_range,
    as_text,
    column_letter,
    fit_cell,
    parse_table,
    tab_ref,
)
from coprod_core.flags import SubjectKind
from coprod_core.lifecycle import STATUS_WORDS, FlagChange, StaffStatuses
from coprod_core.live import NeedsWholeRead, UnitChange
from coprod_core.recipe import Entity, EntitySpec, EnvName
from coprod_core.rows import Row
from coprod_core.text import count

log = logging.getLogger("coprod.connectors.sheets")

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)

KEY_FILE = (
    "the Google service-account key file (the JSON key made for coprod's service account in Google "
    "Cloud: Keys, Add key, JSON, as the Google Sheets recipe's README says in step 2)"
)
"""What GOOGLE_APPLICATION_CREDENTIALS names, said where the file is not there: the path alone
told a newcomer neither what belonged at it nor which setting to change."""
PAGE_SIZE = 1000
FLAGS_TAB_ROWS = 1000
"""Rows a new Flags tab is created with; the grid grows before a write that needs more."""
GRID_MARGIN = 200
MAX_REQUEST_BYTES = 10_485_760
"""Google refuses a request whose body is larger ("Request payload size exceeds the limit: 10485760
bytes", HTTP 400): a first write of some 12,000 flags reaches it."""
REQUEST_BUDGET = 9 * 1024 * 1024
"""The bytes of writes one request carries, under MAX_REQUEST_BYTES with room for the rest of it."""
SUMMARY_TAB_COLUMNS = 26
"""Columns a new summary tab is created with (Google's own default), more if a table is wider."""

_STATUS_REASONS = {
    429: "too many requests: over Google's quota",
    500: "a server error at Google",
    502: "a gateway error at Google",
    503: "Google Sheets is unavailable",
    504: "a gateway timeout at Google",
}

_ENTITY_SUBJECT = {
    Entity.PEOPLE: SubjectKind.PERSON.value,
    Entity.SESSIONS: SubjectKind.SESSION.value,
    Entity.PROJECTS: SubjectKind.PROJECT.value,
}
"""The subject kind of the flags about a row's ID, for each entity that has one."""


def same_tab(a: str, b: str) -> bool:
    """Whether two tab names find the same tab: equal ignoring capitals and outer spaces, as a
    recipe's tab names are matched with the sheet's."""
    return a.strip().casefold() == b.strip().casefold()


def spreadsheet_key(value: str) -> str:
    """The spreadsheet's key, from the key itself or the address copied from the browser."""
    text = value.strip()
    if "/" in text:
        try:
            return extract_id_from_url(text)
        except NoValidUrlKeyFound:
            raise ValueError(
                "is not a Google Sheets address: copy it from the browser's address bar "
                "(https://docs.google.com/spreadsheets/d/.../edit)"
            ) from None
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("is neither a spreadsheet key nor a Google Sheets address")
    return text


class SheetsOptions(ConnectorOptions):
    """``[sources.NAME]`` options for ``connector = "sheets"``."""

    spreadsheet: str
    """The spreadsheet's key, or its address as copied from the browser."""
    credentials_file_env: EnvName = "GOOGLE_APPLICATION_CREDENTIALS"
    """Name of the variable (in .env) holding the path of the service account's JSON key file."""
    flags_tab: str = "Flags"
    summary_tab: str | None = None
    """A tab that ``coprod report`` fills with the report's summary, the version for sharing, each
    time it runs (replacing the last one); off when not given."""
    retries: int = Field(default=4, ge=0, le=10)
    """How many times a request is tried again on 429 and 5xx before the run stops."""
    backoff: float = Field(default=2.0, ge=0, le=60)
    """Back-off factor in seconds (2, 4, 8... between tries); Retry-After wins when Google sends it."""

    @field_validator("spreadsheet")
    @classmethod
    def _key_or_url(cls, value: str) -> str:
        spreadsheet_key(value)
        return value.strip()

    @field_validator("summary_tab")
    @classmethod
    def _a_tab_of_its_own(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The summary replaces everything in its tab, so it must not be a tab coprod reads or the
        Flags tab; and it is a write, which ``write_back = false`` forbids."""
        if value is None:
            return None
        title = value.strip()
        if not title:
            raise ValueError(
                'give the name of the tab for the summary, such as "Summary", or leave the line out'
            )
        flags_tab = info.data.get("flags_tab", "Flags")
        if same_tab(title, flags_tab):
            raise ValueError(
                f"'{title}' is the Flags tab: the summary replaces everything in its tab, so give it a tab of "
                'its own, such as "Summary"'
            )
        where = info.context
        if isinstance(where, SourceContext):
            if not where.write_back:
                raise ValueError(
                    "asks coprod to write a tab, but write_back = false says coprod must not write to this "
                    "sheet: remove one of the two lines"
                )
            read = [t for t in where.locations if same_tab(t, title)]
            if read:
                raise ValueError(
                    f"'{read[0]}' is a tab coprod reads: the summary replaces everything in its tab, so give "
                    'it a tab of its own, such as "Summary"'
                )
        return title

    @property
    def key(self) -> str:
        return spreadsheet_key(self.spreadsheet)

    def variables(self) -> list[Variable]:
        what = "The path of the Google service-account key file"
        return [
            Variable("credentials_file_env", self.credentials_file_env, what, holds_file=True, file=KEY_FILE)
        ]


class SheetsEntityOptions(ConnectorEntityOptions):
    """``[entities.X] options`` for an entity read from a sheet."""

    flags_column: str | None = None
    """Heading of a column in this tab where coprod writes each row's open flags (added if missing)."""


@dataclass
class _TabMeta:
    title: str
    sheet_id: int
    rows: int
    cols: int


@dataclass
class _Snapshot:
    """One read of the spreadsheet: its tabs' metadata and the values of every tab coprod uses."""

    title: str
    locale: str
    tabs: dict[str, _TabMeta]
    values: dict[str, list[list[Any]]]
    served: set[Entity] = field(default_factory=set)
    tables: dict[Entity, Table] = field(default_factory=dict)
    flags: FlagsTab | None = None
    flags_fresh: bool = True
    """The Flags tab was read in this run or re-check (False once written: staff may answer flags
    at any time after, so a snapshot held for the webhook worker reads it again before using it)."""


class _Tables(NamedTuple):
    """The tables of the entities a sheet source reads, and what stops the rest being read (each
    problem naming its tab and column, in the recipe's order of entities)."""

    tables: dict[Entity, Table]
    problems: list[str]


ROW_NUMBER = itemgetter(0)
"""A table record's sheet row number (its records are kept in that order)."""


def _texts(line: Sequence[Any]) -> list[str]:
    """A row's cells as text, without the empty cells at its end (as Google leaves them off)."""
    out = [as_text(c) for c in line]
    while out and not out[-1]:
        out.pop()
    return out


def _cell(column: Sequence[Sequence[str]], row: int) -> str:
    """The text of a one-column list of rows at sheet row ``row`` ("" past its end)."""
    line = column[row - 1] if row - 1 < len(column) else []
    return line[0] if line else ""


def _last_row(a1: Any) -> int | None:
    """The last row of a range Google answered (``'Tab'!A1:A1000``: the whole range asked for,
    bounded by the tab's grid, though the values leave off trailing empty rows)."""
    if not isinstance(a1, str):
        return None
    found = re.search(r"!\$?[A-Z]*\$?\d*:\$?[A-Z]*\$?(\d+)$", a1)
    return int(found[1]) if found else None


def _note_written(snap: _Snapshot, writes_by_tab: dict[str, list[CellWrite]], flags_title: str) -> None:
    """Put what was written into the tabs held, so they stay what the sheet shows (the Flags tab
    is read again with the next notice's rows: only the plan of it is kept)."""
    snap.values.pop(flags_title, None)
    for title, writes in writes_by_tab.items():
        values = snap.values.get(title)
        if title == flags_title or values is None:
            continue
        for w in writes:
            while len(values) < w.row:
                values.append([])
            line = values[w.row - 1] = list(values[w.row - 1])
            while len(line) <= w.col:
                line.append("")
            line[w.col] = w.value


def under_budget(items: Sequence[dict[str, Any]], budget: int = REQUEST_BUDGET) -> list[list[dict[str, Any]]]:
    """``items`` (value ranges, or spreadsheet requests) in order, cut into runs whose JSON, as
    requests sends it, stays within ``budget`` bytes; one run when they fit, none when empty.

    Each run is applied whole by Google; a run written before a later one fails stays written, and
    the next sync finds those rows by fingerprint and updates them in place (nothing twice)."""
    parts: list[list[dict[str, Any]]] = []
    size = budget
    for item in items:
        cost = len(json.dumps(item)) + 2  # as requests encodes it, with the separator
        if parts and size + cost <= budget:
            parts[-1].append(item)
            size += cost
        else:
            parts.append([item])
            size = cost
    return parts


def _status_drop_down(sheet_id: int, col: int, first_row: int, end_row: int) -> dict[str, Any]:
    """The Status column's drop-down (acknowledged, won't fix...) on rows ``first_row`` (0-based)
    up to ``end_row``; not strict, so a word staff type themselves is kept."""
    return {
        "setDataValidation": {
            "range": {
                "sheetId": sheet_id,
                "startRowIndex": first_row,
                "endRowIndex": end_row,
                "startColumnIndex": col,
                "endColumnIndex": col + 1,
            },
            "rule": {
                "condition": {
                    "type": "ONE_OF_LIST",
                    "values": [{"userEnteredValue": w} for w in STATUS_WORDS.values()],
                },
                "strict": False,
                "showCustomUi": True,
            },
        }
    }


def _summary_cell(text: str, heading: bool) -> dict[str, Any]:
    """A cell of the summary: its text as a stringValue (an empty text clears it), bold if a heading."""
    cell: dict[str, Any] = {"userEnteredValue": {"stringValue": fit_cell(text)}} if text else {}
    if heading:
        cell["userEnteredFormat"] = {"textFormat": {"bold": True}}
    return cell


class SheetsConnector(Connector):
    kind = "sheets"
    platform = "sheets"
    Options = SheetsOptions
    EntityOptions = SheetsEntityOptions
    options: SheetsOptions
    _flags_gone: str | None = None
    """Said when the last read of staff statuses found none of coprod's flags in the Flags tab."""

    def __init__(
        self,
        name: str,
        options: SheetsOptions,
        context: ConnectorContext,
        *,
        session: requests.Session | None = None,
    ) -> None:
        """``session``: an authorised requests Session to use instead of the key file (tests pass
        one with ``Credentials(token=...)``); retries and timeouts are mounted on it either way."""
        super().__init__(name, options, context)
        self._session = session
        self._client: gspread.Client | None = None
        self._snapshot: _Snapshot | None = None
        self._keep = False
        self.requests_sent = 0

    # ---------------------------------------------------------------- plumbing

    @property
    def key(self) -> str:
        return self.options.key

    def _where(self) -> str:
        return f"[sources.{self.name}]"

    def _key_file_info(self) -> dict[str, Any] | None:
        """The service-account JSON key, if its path is set and it can be read (never logged)."""
        path_text = self.context.env.get(self.options.credentials_file_env, "").strip()
        if not path_text:
            return None
        path = self.context.path(path_text)
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def service_account_email(self) -> str | None:
        info = self._key_file_info()
        email = info.get("client_email") if info else None
        return email if isinstance(email, str) and email else None

    def _share_hint(self) -> str:
        email = self.service_account_email()
        who = email or "the service account's email address (client_email in the JSON key file)"
        return f"share the spreadsheet with {who} as an Editor (Share button in Google Sheets)"

    def _authorised_session(self) -> requests.Session:
        if self._session is not None:
            return self._session
        var = self.options.credentials_file_env
        value = self.context.secret(var, what="The path of the Google service-account key file")
        problem = key_file_problem(var, value, self.context.path(value), KEY_FILE)
        if problem is not None:
            raise ConfigError(problem)
        info = self._key_file_info()
        if info is None or info.get("type") != "service_account":
            raise ConfigError(
                f"the file named by {var} is not a service-account JSON key: in Google Cloud, open the "
                "service account, Keys, Add key, JSON, and point the variable at the downloaded file"
            )
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        except (ValueError, KeyError):
            raise ConfigError(
                f"the service-account key file named by {var} is incomplete or damaged: download a new JSON key"
            ) from None
        # The token request goes through our own session too: google-auth's default one retries
        # with urllib3's own warnings (the path included) on stderr, which cron mailed every time.
        return AuthorizedSession(credentials, auth_request=GoogleAuthRequest(self._session_with_retries()))

    def _session_with_retries(self, session: requests.Session | None = None) -> requests.Session:
        return make_session(
            session=session,
            timeout=self.context.timeout,
            retry=make_retry(total=self.options.retries, backoff_factor=self.options.backoff),
        )

    def _http(self) -> gspread.http_client.HTTPClient:
        if self._client is None:
            session = self._session_with_retries(self._authorised_session())
            self._client = gspread.Client(auth=None, session=session)  # type: ignore[arg-type]
        return self._client.http_client

    def _tries(self) -> str:
        """How many tries a request had, in words: "5 tries", or "1 try" with ``retries = 0``."""
        return count(self.options.retries + 1, "try", "tries")

    def _call(self, doing: str, method: str, url: str, **kwargs: Any) -> Any:
        """One API request through gspread, its failures said in words a data officer can act on."""
        self.requests_sent += 1
        try:
            return self._http().request(method, url, **kwargs).json()
        except APIError as exc:
            raise self._explain(exc, doing, kwargs.get("json")) from None
        except google_auth_errors.TransportError:
            # A TransportError is a GoogleAuthError too, but the key was never judged: the token
            # request did not get through (no network, no DNS, a proxy), after its retries.
            raise SourceUnavailable(
                f"could not reach Google to sign in with the service-account key while {doing}, after "
                f"{self._tries()}; check the internet connection, then run again",
                where=self._where(),
            ) from None
        except google_auth_errors.GoogleAuthError as exc:
            if exc.retryable:  # the sign-in service kept failing (5xx): the key was not refused
                raise SourceUnavailable(
                    f"Google's sign-in service kept failing while {doing}; nothing more was done: "
                    "the trouble is at Google's end, run again later",
                    where=self._where(),
                ) from None
            raise SourceUnavailable(
                f"Google did not accept the service-account key while {doing}: check that the file named "
                f"by {self.options.credentials_file_env} is a current key of the service account",
                where=self._where(),
            ) from None
        except requests.RequestException as exc:
            raise SourceUnavailable(
                f"could not reach Google Sheets while {doing} ({type(exc).__name__}) after "
                f"{self._tries()}; check the internet connection, then run again",
                where=self._where(),
            ) from None

    def _explain(self, exc: APIError, doing: str, sent: dict[str, Any] | None = None) -> Exception:
        status = exc.response.status_code
        google_says = str(exc.error.get("message", ""))[:300]
        where = self._where()
        if status in _STATUS_REASONS:
            advice = (
                "Google allows 60 reads and 60 writes a minute per user: run again in a few minutes"
                if status == 429
                else "the trouble is at Google's end: run again later"
            )
            return SourceUnavailable(
                f"Google Sheets answered {status} ({_STATUS_REASONS[status]}) while {doing}, "
                f"{self.options.retries + 1} times in a row; nothing more was done. {advice}",
                where=where,
            )
        if status == 401:
            return SourceUnavailable(
                f"Google did not accept the service-account credentials (401) while {doing}: check that "
                f"the file named by {self.options.credentials_file_env} is a current key",
                where=where,
            )
        if status == 403:
            if "has not been used" in google_says or "disabled" in google_says.casefold():
                return SourceUnavailable(
                    f"the Google Sheets API is turned off for the service account's Cloud project (403) while "
                    f"{doing}: in Google Cloud, APIs & Services, enable 'Google Sheets API'",
                    where=where,
                )
            return SourceUnavailable(
                f"Google refused access to the spreadsheet (403) while {doing}: {self._share_hint()}",
                where=where,
            )
        if status == 404:
            return SourceUnavailable(
                f"no spreadsheet found with key {self.key} (404) while {doing}: check 'spreadsheet' in the "
                f"recipe (copy the address from the browser), and {self._share_hint()}",
                where=where,
            )
        if status == 400:
            # Google's message may quote cell values: only its status and the places it points to.
            tabs = {t.sheet_id: t.title for t in self._snapshot.tabs.values()} if self._snapshot else {}
            refused = refusal(exc.error if isinstance(exc.error, dict) else {}, sent, tabs)
            reading = sent is None
            text = f"Google Sheets refused the request while {doing} ({refused.said()}): {refused.advice(reading)}"
            return ConfigError(text, where=where) if reading else SourceUnavailable(text, where=where)
        return SourceUnavailable(f"Google Sheets answered {status} while {doing}", where=where)

    # ---------------------------------------------------------------- reading

    def _entities(self) -> dict[Entity, EntitySpec]:
        return {e: s for e, s in self.context.recipe.entities.items() if s.source == self.name}

    def _entity_options(self, entity: Entity, spec: EntitySpec) -> SheetsEntityOptions:
        return SheetsEntityOptions.of(entity, spec)

    def _resolve_tab(self, snap: _Snapshot, name: str) -> str | None:
        """The tab's real title: exact, else the one tab equal ignoring case and outer spaces."""
        if name in snap.tabs:
            return name
        folded = [t for t in snap.tabs if t.strip().casefold() == name.strip().casefold()]
        return folded[0] if len(folded) == 1 else None

    def _tab_for(self, snap: _Snapshot, entity: Entity, spec: EntitySpec) -> str:
        where = f"[entities.{entity.value}]"
        if not spec.location:
            raise ConfigError('give the tab\'s name as location = "..."', where=where)
        title = self._resolve_tab(snap, spec.location)
        if title is None:
            found = ", ".join(repr(t) for t in snap.tabs) or "none"
            raise ConfigError(
                f"tab '{spec.location}' is not in the spreadsheet '{snap.title}'; its tabs are: {found}",
                where=where,
            )
        return title

    def refresh(self) -> None:
        """Forget what was read, so the next call reads the spreadsheet again."""
        self._snapshot = None

    def _load(self) -> _Snapshot:
        """One metadata request and one batchGet of every tab coprod uses, kept for the run."""
        if self._snapshot is not None:
            return self._snapshot
        meta = self._call(
            "opening the spreadsheet",
            "get",
            f"https://sheets.googleapis.com/v4/spreadsheets/{self.key}",
            params={"includeGridData": "false"},
        )
        tabs: dict[str, _TabMeta] = {}
        for sheet in meta.get("sheets", []):
            props = sheet.get("properties", {})
            grid = props.get("gridProperties", {})
            tabs[props.get("title", "")] = _TabMeta(
                title=props.get("title", ""),
                sheet_id=int(props.get("sheetId", 0)),
                rows=int(grid.get("rowCount", 1000)),
                cols=int(grid.get("columnCount", 26)),
            )
        properties = meta.get("properties", {})
        snap = _Snapshot(
            title=properties.get("title", self.key),
            locale=properties.get("locale", ""),
            tabs=tabs,
            values={},
        )
        wanted: list[str] = []
        for spec in self._entities().values():
            title = self._resolve_tab(snap, spec.location or "")
            if title is not None and title not in wanted:
                wanted.append(title)  # a missing tab is said by _tables(), with the sheet's other problems
        for own in (self.options.flags_tab, self.options.summary_tab):
            title = self._resolve_tab(snap, own) if own else None
            if title is not None and title not in wanted:
                wanted.append(title)  # the summary tab: read to be sure it is coprod's before replacing it
        if wanted:
            doing = "reading the tabs " + ", ".join(f"'{t}'" for t in wanted)
            got = self._batch_get(doing, [absolute_range_name(t) for t in wanted])
            for title, value_range in zip(wanted, got, strict=True):
                snap.values[title] = value_range.get("values", [])  # an empty tab has no "values"
        self._snapshot = snap
        return snap

    def _batch_get(self, doing: str, ranges: Sequence[str]) -> list[dict[str, Any]]:
        """ONE ``values:batchGet`` of these A1 ranges, every cell as the sheet shows it (formatted
        text: "007" stays "007", a date as staff typed it); the value ranges in the order asked."""
        # Ranges percent-encoded with nothing safe: a tab called "Sam's group" must arrive whole.
        query = "&".join(
            [f"ranges={quote(r, safe='')}" for r in ranges]
            + ["valueRenderOption=FORMATTED_VALUE", "majorDimension=ROWS"]
        )
        got = self._call(doing, "get", f"{SPREADSHEET_VALUES_BATCH_URL % self.key}?{query}")
        value_ranges = got.get("valueRanges", [])
        if len(value_ranges) != len(ranges):
            raise SourceUnavailable(
                f"Google returned {len(value_ranges)} ranges for the {len(ranges)} asked for; run again",
                where=self._where(),
            )
        return [vr if isinstance(vr, dict) else {} for vr in value_ranges]

    def _table(self, snap: _Snapshot, entity: Entity, spec: EntitySpec) -> Table:
        if entity in snap.tables:
            return snap.tables[entity]
        title = self._tab_for(snap, entity, spec)
        opts = self._entity_options(entity, spec)
        required = [(col, f"{fld}") for fld, col in spec.fields.items() if fld not in spec.defaults]
        required += [(col, f"{dim}") for dim, col in spec.demographics.items()]
        table = parse_table(
            title,
            snap.values.get(title),
            required=required,
            ignore=[opts.flags_column] if opts.flags_column else [],
        )
        snap.tables[entity] = table
        return table

    def _tables(self, snap: _Snapshot) -> _Tables:
        """Every entity's table, from the tabs already read (no request), and what stops the others
        being read: a tab or column the recipe names that the sheet lacks, a header row that cannot
        be read. Install, check and sync all ask this, so they say the same problems the same way."""
        found = _Tables(tables={}, problems=[])
        for entity, spec in self._entities().items():
            try:
                found.tables[entity] = self._table(snap, entity, spec)
            except ConfigError as exc:
                found.problems.append(str(exc))
        return found

    def _needs_attention(self, problems: Sequence[str]) -> None:
        """Raise ONE ConfigError saying every problem (exit 2), one to a line when there are several,
        as the CiviCRM install lists them: several on one line read as one, and one a run sends staff
        back to the sheet once for each."""
        if len(problems) == 1:
            raise ConfigError(problems[0], where=self._where())
        if problems:
            raise ConfigError(
                "the sheet needs attention before coprod can use it:\n  - " + "\n  - ".join(problems),
                where=self._where(),
            )

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        """The tab's non-blank rows, as text, in pages. ``cursor`` is the last sheet row already read."""
        snap = self._snapshot
        if snap is not None and entity in snap.served:
            self.refresh()  # the same entity again means a new run: read the sheet afresh
        snap = self._load()
        # Every tab and column this source reads, checked before its first row: staff see all that is
        # missing in one run, not one a run (one problem stops the run, as before).
        self._needs_attention(self._tables(snap).problems)
        snap.served.add(entity)
        table = self._table(snap, entity, spec)
        after = int(cursor) if cursor and cursor.isdigit() else 0
        records = [(n, v) for n, v in table.records if n > after]
        for start in range(0, max(len(records), 1), PAGE_SIZE):
            chunk = records[start : start + PAGE_SIZE]
            rows = [Row(ref=f"{tab_ref(table.title)} row {n}", values=v, key=str(n)) for n, v in chunk]
            yield Page(rows=rows, cursor=str(chunk[-1][0]) if chunk else cursor)

    def _flags_tab(self, snap: _Snapshot) -> FlagsTab:
        if snap.flags is None:
            title = self._resolve_tab(snap, self.options.flags_tab)
            if title is None:
                snap.flags = FlagsTab.parse(self.options.flags_tab, None, exists=False)
            else:
                snap.flags = FlagsTab.parse(title, snap.values.get(title), exists=True)
        return snap.flags

    def read_staff_statuses(self) -> StaffStatuses:
        """What staff set in the Flags tab's Status column (acknowledged, won't fix, or open again)."""
        tab = self._flags_tab(self._load())
        self._flags_gone = (
            None if tab.shown else f"the {tab.title} tab held none of coprod's flags (deleted or emptied?)"
        )
        return tab.staff_statuses()

    def flags_gone(self) -> str | None:
        return self._flags_gone

    # ---------------------------------------------------------------- the webhook worker's re-check

    def keep_for_rechecks(self) -> None:
        """Hold what was read after a write-back, kept up to date with what was written, so that a
        notice naming one row is read in one request (:meth:`changes_for_all`). Only the webhook
        worker asks this, and holds the connector in memory; a cron sync lets go after its write."""
        self._keep = True

    def changes_for_all(self, deliveries: Sequence[Delivery]) -> list[UnitChange]:
        """The rows the trigger's notices name (``{spreadsheet_id, sheet, row}``), read in ONE
        ``values:batchGet`` with what tells whether they can be taken alone: each named tab's header
        row and its key column (the ID column, else column A), and the whole Flags tab (what staff
        answered since the last read is honoured, and new flags go below every row staff added, as
        in a sync). The rows go into the tabs held; the changes come back for the dataset held.

        Raises NeedsWholeRead (everything is read, as a sync) when it cannot: nothing held (the
        first delivery, or a write that failed), a subject that names no tab (an event recorded
        before subjects did, when the worker runs apart from the app), another kind of notice,
        another spreadsheet, a tab the recipe does not read (the Flags tab too), the header row
        changed, or the key column differs anywhere but the named rows (rows inserted, deleted,
        moved, or added without a notice)."""
        mine = [d for d in deliveries if d.platform == self.platform]
        snap = self._snapshot
        if not mine:
            return []
        if not self._keep or snap is None:
            raise NeedsWholeRead("no sheet is held")
        named: dict[str, set[int]] = {}
        for delivery in mine:
            notice = delivery.notice or notice_in(delivery.subject, self.key)
            if notice is None:
                raise NeedsWholeRead(f"the notice ({delivery.subject}) came without the tab it names")
            if str(notice.get("type") or FORM_SUBMIT) != FORM_SUBMIT:
                raise NeedsWholeRead(f"a notice of kind '{str(notice.get('type'))[:40]}'")
            if str(notice.get("spreadsheet_id") or "") != self.key:
                raise NeedsWholeRead("a notice about another spreadsheet")
            title = self._resolve_tab(snap, str(notice.get("sheet") or ""))
            given = notice.get("row")
            row = int(given) if isinstance(given, int | str) and str(given).isdigit() else 0
            if title is None or not self._entities_of_tab(snap, title):
                raise NeedsWholeRead("a notice about a tab the recipe does not read")
            if row < 2:
                raise NeedsWholeRead(f"a notice about the header row of tab '{title}'")
            named.setdefault(title, set()).add(row)
        asked: list[str] = []
        for title, rows in named.items():
            key = column_letter(self._key_column(snap, title))
            asked += [absolute_range_name(title, "1:1"), absolute_range_name(title, f"{key}:{key}")]
            asked += [absolute_range_name(title, f"{r}:{r}") for r in sorted(rows)]
        flags_title = self._resolve_tab(snap, self.options.flags_tab)
        if flags_title is not None:
            asked.append(absolute_range_name(flags_title))
        got = iter(self._batch_get("reading the rows a notice named", asked))
        fresh: dict[str, dict[int, list[Any]]] = {}
        for title, rows in named.items():
            held = snap.values.setdefault(title, [])
            header, column = next(got), next(got)
            if _texts(header.get("values", [[]])[0] if header.get("values") else []) != _texts(
                held[0] if held else []
            ):
                raise NeedsWholeRead(f"the header row of tab '{title}' changed")
            col = self._key_column(snap, title)
            now = [_texts(line)[:1] for line in column.get("values", [])]
            was = [_texts(line[col : col + 1]) for line in held]
            for n in range(2, max(len(now), len(was)) + 1):
                if n not in rows and _cell(now, n) != _cell(was, n):
                    raise NeedsWholeRead(
                        f"rows of tab '{title}' were added, removed or moved since it was read"
                    )
            fresh[title] = {}
            table = next(iter(self._entities_of_tab(snap, title).values()))
            for r in sorted(rows):
                line = next(got).get("values", [[]])
                fresh[title][r] = list(line[0]) if line else []
                unheaded = table.unheaded(_texts(fresh[title][r]))
                if unheaded is not None:
                    raise NeedsWholeRead(f"row {r} of tab '{title}' has a value in a column with no heading")
            grid = _last_row(column.get("range"))
            if grid is not None and title in snap.tabs:
                snap.tabs[title].rows = grid
        if flags_title is not None:
            flags_range = next(got)
            snap.values[flags_title] = flags_range.get("values", [])
            snap.flags = FlagsTab.parse(flags_title, snap.values[flags_title], exists=True)
            grid = _last_row(flags_range.get("range"))
            if grid is not None and flags_title in snap.tabs:
                snap.tabs[flags_title].rows = grid
        snap.flags_fresh = True
        changes: list[UnitChange] = []
        for title, rows_read in fresh.items():
            held = snap.values[title]
            for r, line in rows_read.items():
                while len(held) < r:
                    held.append([])
                held[r - 1] = line
                for entity, table in self._entities_of_tab(snap, title).items():
                    record = table.record(_texts(line))
                    at = bisect_left(table.records, r, key=ROW_NUMBER)
                    if at < len(table.records) and table.records[at][0] == r:
                        del table.records[at]
                    if record is not None:
                        table.records.insert(at, (r, record))
                    ref = f"{tab_ref(table.title)} row {r}"
                    found = (Row(ref=ref, values=record, key=str(r)),) if record is not None else ()
                    changes.append(UnitChange(entity, str(r), found))
        log.info(
            "sheets %s: read %d row(s) a notice named in 1 request", self.name, sum(map(len, named.values()))
        )
        return changes

    def changes_for(self, delivery: Delivery) -> list[UnitChange] | None:
        return self.changes_for_all([delivery])

    def statuses_read_with_changes(self) -> StaffStatuses:
        """What staff set in the Flags tab, as read with the notice's rows (none when it was not)."""
        snap = self._snapshot
        if snap is None or not snap.flags_fresh:
            return StaffStatuses()
        return self._flags_tab(snap).staff_statuses()

    def _entities_of_tab(self, snap: _Snapshot, title: str) -> dict[Entity, Table]:
        """The entities read from this tab, with their tables as held."""
        return {
            entity: snap.tables[entity]
            for entity, spec in self._entities().items()
            if entity in snap.tables and self._resolve_tab(snap, spec.location or "") == title
        }

    def _key_column(self, snap: _Snapshot, title: str) -> int:
        """The column whose cells tell the tab's rows apart: the ID column of an entity read from
        it, else column A (a form's Timestamp)."""
        for entity, table in self._entities_of_tab(snap, title).items():
            heading = self.context.recipe.entities[entity].fields.get("id")
            col = table.column_index(heading) if heading else None
            if col is not None:
                return col
        return 0

    # ---------------------------------------------------------------- writing

    def _flags_column_cells(self, snap: _Snapshot, flags: FlagsTab) -> dict[str, list[CellWrite]]:
        """The cells of every subject tab's flags column that do not show what they should, per tab
        title (plus the heading, when the column is new and something goes in it).

        A row's cell lists the open flags of the subject on that row (the person, session or
        project its ID names) and of the row itself (a value not understood), as the Flags tab
        shows them after this run's changes. It is worked out for every row, not only for the
        subjects of this run's changes, and compared with what the cell holds: so a flag staff
        acknowledged or marked won't fix in the Flags tab leaves the column on the next run, though
        coprod itself changed nothing, and a cell someone edited is put right.
        """
        open_flags = flags.open_by_subject()
        out: dict[str, list[CellWrite]] = {}
        for entity, spec in self._entities().items():
            opts = self._entity_options(entity, spec)
            if not opts.flags_column:
                continue
            table = self._table(snap, entity, spec)
            values = snap.values.get(table.title) or []
            col = table.column_index(opts.flags_column)
            kind = _ENTITY_SUBJECT.get(entity)
            id_column = spec.fields.get("id") if kind else None
            cells: list[CellWrite] = []
            for number, record in table.records:
                subject_id = record.get(id_column, "").strip() if id_column else ""
                shown = [
                    *(open_flags.get((kind, subject_id), ()) if kind and subject_id else ()),
                    *open_flags.get((SubjectKind.RECORD.value, f"{entity.value}:{number}"), ()),
                ]
                text = column_text(shown)
                line = values[number - 1] if number - 1 < len(values) else []
                now = as_text(line[col]) if col is not None and col < len(line) else ""
                if text != now:
                    cells.append(CellWrite(number, -1, text))
            if not cells or (col is None and not any(c.value for c in cells)):
                continue
            col, heading = self._flags_column(table, opts.flags_column)
            out[table.title] = [
                *([heading] if heading else []),
                *(CellWrite(c.row, col, c.value) for c in cells),
            ]
        return out

    @staticmethod
    def _flags_column(table: Table, heading: str) -> tuple[int, CellWrite | None]:
        """Where a subject tab's flags column is, and the heading cell to write when it is new
        (after the last column, so no column of the staff's moves)."""
        col = table.column_index(heading)
        if col is not None:
            return col, None
        col = len(table.header)
        table.header.append(heading)
        return col, CellWrite(1, col, heading)

    def _ensure_flags_tab(self, snap: _Snapshot, flags: FlagsTab) -> list[dict[str, Any]]:
        """The requests that create the Flags tab with its header row, when it is not there yet."""
        if flags.exists:
            return []
        flags.header_writes = []  # the addSheet request writes the header row
        flags.exists = True
        return self._add_flags_tab_requests(snap, flags.title)

    def _grid_requests(self, snap: _Snapshot, needs: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
        """appendDimension requests so every cell about to be written is inside its tab's grid."""
        requests_: list[dict[str, Any]] = []
        for title, (max_row, max_col) in needs.items():
            meta = snap.tabs.get(title)
            if meta is None:
                continue
            if max_row > meta.rows:
                extra = max_row - meta.rows + GRID_MARGIN
                requests_.append(
                    {"appendDimension": {"sheetId": meta.sheet_id, "dimension": "ROWS", "length": extra}}
                )
                meta.rows += extra
            if max_col > meta.cols:
                extra = max_col - meta.cols
                requests_.append(
                    {"appendDimension": {"sheetId": meta.sheet_id, "dimension": "COLUMNS", "length": extra}}
                )
                meta.cols += extra
        return requests_

    @staticmethod
    def _add_tab_request(
        snap: _Snapshot, title: str, rows: int, cols: int, frozen: int = 0
    ) -> dict[str, Any]:
        """addSheet for a tab coprod keeps (Flags, the summary), with a sheet ID of its own chosen
        here, so the requests after it in the same batch can name the new tab."""
        taken = {t.sheet_id for t in snap.tabs.values()}
        sheet_id = zlib.crc32(title.encode("utf-8")) & 0x3FFFFFFF
        while sheet_id in taken:
            sheet_id += 1
        snap.tabs[title] = _TabMeta(title=title, sheet_id=sheet_id, rows=rows, cols=cols)
        grid: dict[str, int] = {"rowCount": rows, "columnCount": cols}
        if frozen:
            grid["frozenRowCount"] = frozen
        return {"addSheet": {"properties": {"sheetId": sheet_id, "title": title, "gridProperties": grid}}}

    def _add_flags_tab_requests(self, snap: _Snapshot, title: str) -> list[dict[str, Any]]:
        """addSheet for the Flags tab with its header row (bold, frozen) and a Status drop-down."""
        add = self._add_tab_request(snap, title, FLAGS_TAB_ROWS, len(FLAG_HEADINGS), frozen=1)
        sheet_id = snap.tabs[title].sheet_id
        status_col = FLAG_HEADINGS.index("Status")
        return [
            add,
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                    "rows": [
                        {
                            "values": [
                                {
                                    "userEnteredValue": {"stringValue": h},
                                    "userEnteredFormat": {"textFormat": {"bold": True}},
                                }
                                for h in FLAG_HEADINGS
                            ]
                        }
                    ],
                    "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
                }
            },
            _status_drop_down(sheet_id, status_col, 1, FLAGS_TAB_ROWS),
        ]

    def _structure(self, doing: str, requests_: list[dict[str, Any]]) -> None:
        """A spreadsheet ``:batchUpdate``, in as few requests as Google's size limit allows (one,
        unless the cells are many): the first holds every change of the tabs, which the cell writes
        after it depend on."""
        for part in under_budget(requests_):
            self._call(
                doing,
                "post",
                f"https://sheets.googleapis.com/v4/spreadsheets/{self.key}:batchUpdate",
                json={"requests": part},
            )

    def _write_values(self, doing: str, data: list[dict[str, Any]]) -> None:
        """A ``values:batchUpdate`` (RAW), in as few requests as Google's size limit allows."""
        for part in under_budget(data):
            self._call(
                doing,
                "post",
                f"https://sheets.googleapis.com/v4/spreadsheets/{self.key}/values:batchUpdate",
                json={"valueInputOption": "RAW", "data": part},
            )

    def write_flags(self, changes: Sequence[FlagChange]) -> WriteReport:
        """Upsert the Flags tab by fingerprint and bring the subjects' flags columns up to date.

        The sync calls this every run, with no changes when coprod found nothing new: the flags
        columns still follow what staff answered in the Flags tab. Without a read this run (no
        changes and nothing read) there is nothing to compare, and nothing is sent.

        Raises SourceUnavailable when Google refuses or stays busy past the retries: then nothing of
        this batch is written, and the sync records none of it as written. (A write too large for one
        request goes in several, each whole or not at all: one refused after another was written
        leaves that one's rows, which the next sync finds by fingerprint and updates in place.)
        """
        report = WriteReport()
        if self._keep and self._snapshot is not None and not self._snapshot.flags_fresh:
            self.refresh()  # held since a write: what staff did in the Flags tab since is not known
        if not changes and self._snapshot is None:
            return report
        before = self.requests_sent
        # Read here, the sheet may hold rows the worker's dataset does not: not kept after the write.
        keep = self._keep and self._snapshot is not None
        snap = self._load()
        flags = self._flags_tab(snap)
        snap.flags_fresh = False
        structure = self._ensure_flags_tab(snap, flags) if changes else []
        writes_by_tab: dict[str, list[CellWrite]] = {flags.title: flags.plan(changes)} if changes else {}
        column_cells = self._flags_column_cells(snap, flags)
        for title, cells in column_cells.items():
            writes_by_tab.setdefault(title, []).extend(cells)
        needs = {
            title: (max(w.row for w in cells), max(w.col for w in cells) + 1)
            for title, cells in writes_by_tab.items()
            if cells
        }
        flags_rows = snap.tabs[flags.title].rows if flags.title in snap.tabs else 0
        structure += self._grid_requests(snap, needs)
        if flags.title in snap.tabs and snap.tabs[flags.title].rows > flags_rows > 0:
            meta = snap.tabs[flags.title]  # rows added: give them the Status drop-down too
            structure.append(_status_drop_down(meta.sheet_id, flags.columns["status"], flags_rows, meta.rows))
        if not structure and not any(writes_by_tab.values()):
            if self._keep and not keep:
                self.refresh()
            return report
        written = False
        named = ", ".join(f"'{t}'" for t, cells in writes_by_tab.items() if cells)
        doing = f"writing flags to the tab(s) {named}" if named else "writing flags"
        try:
            if structure:
                # A new Flags tab, or one past its grid (1,000 rows when made): the values cannot go
                # in a values:batchUpdate before the grid grows, so the cells go as updateCells in
                # the same spreadsheet batchUpdate, after the requests that make room. One request
                # either way (more only past Google's size limit), applied whole or not at all.
                cell_requests = [
                    request
                    for title, writes in writes_by_tab.items()
                    if writes
                    for request in update_cells_requests(snap.tabs[title].sheet_id, writes)
                ]
                self._structure(doing, structure + cell_requests)
            else:
                data = [vr for title, writes in writes_by_tab.items() for vr in value_ranges(title, writes)]
                self._write_values(doing, data)
            written = True
        finally:
            if keep and written:
                _note_written(snap, writes_by_tab, flags.title)
            else:
                self.refresh()  # the sheet changed (or may have): the next run reads it afresh
            report.requests = self.requests_sent - before
        report.written.extend(c.fingerprint for c in changes)
        log.info(
            "sheets %s: wrote %d flag change(s) and %d flags-column cell(s) in %d request(s)",
            self.name,
            len(changes),
            sum(len(cells) for cells in column_cells.values()),
            report.requests,
        )
        return report

    # ---------------------------------------------------------------- the report's summary

    def write_summary(self, summary: Summary) -> str | None:
        """Replace the summary tab's contents with ``summary``, in ONE spreadsheet ``:batchUpdate``.

        The request makes the tab when it is not there, or grows its grid when the summary does
        not fit, then writes every row with one ``updateCells`` over the tab's whole grid: its text
        as ``stringValue`` (never a formula, like RAW), and every cell of the grid the rows do not
        cover cleared, so nothing of a longer summary written before is left. (A values:batchUpdate
        cannot clear what it does not write, so it would need the old summary's extent first.)
        Google applies the request whole or not at all. A tab of that name that holds something
        coprod did not write (its first cell does not start with ``summary.mark``) is refused, and
        nothing is written: it is someone's work.
        """
        wanted = self.options.summary_tab
        if not wanted:
            return None
        snap = self._load()
        rows = summary.rows
        width = max((len(r.cells) for r in rows), default=1)
        title = self._resolve_tab(snap, wanted)
        requests_: list[dict[str, Any]] = []
        if title is None:
            title = wanted
            requests_.append(
                self._add_tab_request(snap, title, len(rows) + GRID_MARGIN, max(width, SUMMARY_TAB_COLUMNS))
            )
        else:
            old = snap.values.get(title) or []
            first = as_text(old[0][0]).strip() if old and old[0] else ""
            if any(as_text(c).strip() for line in old for c in line) and not first.startswith(summary.mark):
                raise ConfigError(
                    f"summary_tab: the tab '{title}' holds something coprod did not write (its first cell "
                    f"does not start with '{summary.mark}'), and the summary would replace it all: rename "
                    'that tab, or give summary_tab the name of a new tab, such as "coprod summary"',
                    where=self._where(),
                )
            requests_ += self._grid_requests(snap, {title: (len(rows), width)})
        meta = snap.tabs[title]
        requests_.append(
            {
                "updateCells": {
                    "range": {
                        "sheetId": meta.sheet_id,
                        "startRowIndex": 0,
                        "endRowIndex": meta.rows,
                        "startColumnIndex": 0,
                        "endColumnIndex": meta.cols,
                    },
                    "rows": [{"values": [_summary_cell(v, r.heading) for v in r.cells]} for r in rows],
                    "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
                }
            }
        )
        try:
            self._structure(f"writing the summary to the tab '{title}'", requests_)
        finally:
            self.refresh()
        log.info(
            "sheets %s: wrote the summary (%d rows) to tab '%s' in 1 request", self.name, len(rows), title
        )
        return f"the summary ({len(rows)} rows) is in the tab '{title}' of '{snap.title}'"

    # ---------------------------------------------------------------- install

    def install(self) -> list[str]:
        """Check the sheet opens and every mapped tab and column is there; create the Flags tab.

        Safe to run twice: the second run finds everything in place and writes nothing.
        """
        self.refresh()
        snap = self._load()
        lines = [f"sheets: opened '{snap.title}' ({len(snap.tabs)} tabs)"]
        found = self._tables(snap)
        header_cells: dict[str, list[CellWrite]] = {}
        entities = self._entities()
        for entity, table in found.tables.items():
            spec = entities[entity]
            opts = self._entity_options(entity, spec)  # read once already by _table: cannot fail now
            mapped = len(set(spec.fields.values()) | set(spec.demographics.values()))
            lines.append(
                f"sheets: tab '{table.title}' ({entity.value}): {count(len(table.records), 'row')}, "
                f"all {mapped} mapped columns found"
            )
            heading = self._flags_column(table, opts.flags_column)[1] if opts.flags_column else None
            if heading is not None:
                header_cells.setdefault(table.title, []).append(heading)
                lines.append(
                    f"sheets: added the column '{heading.value}' to tab '{table.title}' (column "
                    f"{column_letter(heading.col)})"
                )
            if spec.day_first and snap.locale.startswith("en_US") and "date" in spec.fields:
                lines.append(
                    f"sheets: note: the spreadsheet's locale is {snap.locale} (month first) but "
                    f"[entities.{entity.value}] reads dates day first: if dates show as 04/30/2026, put "
                    f"the line day_first = false under [entities.{entity.value}] in the recipe"
                )
        flags = self._flags_tab(snap)
        created = not flags.exists
        structure = self._ensure_flags_tab(snap, flags)
        if created:
            lines.append(f"sheets: created the tab '{flags.title}' with its header row")
        elif flags.header_writes:
            header_cells.setdefault(flags.title, []).extend(flags.header_writes)
            added = ", ".join(repr(w.value) for w in flags.header_writes)
            lines.append(f"sheets: added the missing column(s) {added} to the tab '{flags.title}'")
        else:
            lines.append(f"sheets: the tab '{flags.title}' is ready ({len(flags.rows)} flags in it)")
        needs = {t: (1, max(w.col for w in cells) + 1) for t, cells in header_cells.items()}
        structure += self._grid_requests(snap, needs)
        # Headings go in the same request as the tab and grid changes (stringValue: never a formula).
        structure += [
            {
                "updateCells": {
                    "start": {"sheetId": snap.tabs[t].sheet_id, "rowIndex": w.row - 1, "columnIndex": w.col},
                    "rows": [{"values": [{"userEnteredValue": {"stringValue": w.value}}]}],
                    "fields": "userEnteredValue",
                }
            }
            for t, cells in header_cells.items()
            for w in cells
        ]
        try:
            self._structure(f"preparing the sheet (the tab '{flags.title}' and coprod's headings)", structure)
        finally:
            self.refresh()
        self._needs_attention(found.problems)  # after the Flags tab is made: a second install only checks
        return lines

    def close(self) -> None:
        if self._client is not None:
            self._client.http_client.session.close()
        self._client = None
        self._snapshot = None


__all__ = ["SheetsConnector", "SheetsEntityOptions", "SheetsOptions", "a1_range", "spreadsheet_key"]
