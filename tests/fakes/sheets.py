"""An in-memory Google Sheet served through ``responses``, for the Sheets tests and benchmark only.

It answers the four Sheets API calls coprod makes, in the shapes the real API uses
(``spreadsheets.get`` metadata, ``values:batchGet``, ``values:batchUpdate``, ``:batchUpdate``), keeps
what is written so a second run sees it, refuses writes outside a tab's grid as Google does (a
``values:batchUpdate`` or an ``updateCells`` past the rows or columns), applies a ``:batchUpdate``'s
requests in order and whole or not at all (an ``updateCells`` over a ``range`` clears what its rows
leave uncovered, as Google documents), and can be told to answer 429 or 5xx a number of times.

What Google refuses, it refuses too, with Google's error shape (``{"error": {code, message,
status}}``): a request without an OAuth bearer token (401 UNAUTHENTICATED); a request body over
10,485,760 bytes ("Request payload size exceeds the limit"); a cell of more than
50,000 characters; a ``values:batchUpdate`` without ``valueInputOption``, or whose values do not fit
the range they are given for; a spreadsheet ``:batchUpdate`` request of a kind the API does not
have, or naming a tab (``sheetId``) the spreadsheet does not hold, or a ``setDataValidation`` range
past the grid (400 INVALID_ARGUMENT); more than 60 read or 60 write requests in a minute
(``quota``: 429 RESOURCE_EXHAUSTED, as Google's per-user quota answers). A USER_ENTERED write is
parsed as Sheets parses typing (``user_entered``: "=..." becomes a formula, "007" the number 7);
only RAW keeps the text as sent. ``refuse`` answers the next request of a kind with a 400 of
Google's shape as a test gives it (status, message, and the ``BadRequest`` details naming a field).
Import it only where ``responses`` is installed.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from gspread.utils import a1_to_rowcol, rowcol_to_a1

API = "https://sheets.googleapis.com/v4/spreadsheets"
TOKEN_URL = "https://oauth2.googleapis.com/token"


@functools.cache
def _private_key_pem() -> str:
    """A real 2048-bit RSA key, made once per test process: made afresh for each test that signs
    in, it took about 0.1 s each time. What the tests prove is that coprod signs in with the key
    and never shows it, which one key proves as well as many."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_key(email: str = "coprod@charity.iam.gserviceaccount.com") -> dict[str, str]:
    """A throw-away service-account JSON key with a real RSA key, for tests that sign in as coprod
    does (answer ``TOKEN_URL`` with ``responses``)."""
    return {
        "type": "service_account",
        "project_id": "charity",
        "private_key_id": "abc123",
        "private_key": _private_key_pem(),
        "client_email": email,
        "client_id": "1",
        "token_uri": TOKEN_URL,
    }


_REASONS = {
    400: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    403: "PERMISSION_DENIED",
}
_MESSAGES = {
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
    "of service 'sheets.googleapis.com' for consumer 'project_number:123456'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
}
_REASONS[401] = "UNAUTHENTICATED"
_MESSAGES[401] = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MAX_REQUEST_BYTES = 10_485_760
"""Google's limit on a request's body: more is a 400, nothing of it applied."""
MAX_CELL_CHARS = 50_000
"""Google's limit on one cell's text: more is a 400, the whole request refused."""
TOO_LONG = f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell."
REQUEST_KINDS = frozenset(
    {
        "addSheet",
        "updateCells",
        "appendDimension",
        "setDataValidation",
        "repeatCell",
        "updateSheetProperties",
        "deleteSheet",
        "insertDimension",
        "deleteDimension",
        "autoResizeDimensions",
        "updateDimensionProperties",
        "addProtectedRange",
    }
)
"""Spreadsheet ``:batchUpdate`` request kinds the API has (a part of its list); any other name is a 400."""


def user_entered(tab: FakeTab, row: int, col: int, text: str) -> str:
    """What a cell shows after a USER_ENTERED write of ``text``, as Sheets parses what is typed: a
    formula (kept in ``tab.formulas``; the fake cannot work it out, so it shows nothing) or a number
    ("007" shows 7, "2.50" shows 2.5). A RAW write shows the text as sent."""
    if text.startswith("="):
        tab.formulas[(row, col)] = text
        return ""
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        number = Decimal(text).normalize()
        return f"{number:f}"
    return text


def invalid(message: str) -> dict[str, Any]:
    """Google's 400 answer body."""
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


@dataclass
class FakeTab:
    title: str
    sheet_id: int
    values: list[list[str]] = field(default_factory=list)
    row_count: int = 1000
    col_count: int = 26
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    """(row, col), 1-based -> a formula a USER_ENTERED write made of text starting with "="."""

    def cell(self, row: int, col: int) -> str:
        """1-based row and column."""
        if row - 1 < len(self.values) and col - 1 < len(self.values[row - 1]):
            return self.values[row - 1][col - 1]
        return ""

    def put(self, row: int, col: int, value: str) -> None:
        while len(self.values) < row:
            self.values.append([])
        line = self.values[row - 1]
        while len(line) < col:
            line.append("")
        line[col - 1] = value

    def trimmed(self) -> list[list[str]]:
        """Values as the API returns them: trailing empty cells and rows left off."""
        rows = [list(r) for r in self.values]
        for r in rows:
            while r and r[-1] == "":
                r.pop()
        while rows and not rows[-1]:
            rows.pop()
        return rows


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def split_range(a1: str) -> tuple[str, str | None]:
    """``'Sam''s tab'!B2:C3`` -> (``Sam's tab``, ``B2:C3``)."""
    m = re.fullmatch(r"'((?:[^']|'')*)'(?:!(.*))?", a1)
    if m:
        return m[1].replace("''", "'"), m[2]
    title, _, cells = a1.partition("!")
    return title, cells or None


def cell_bounds(cells: str | None, rows: int, cols: int) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right), 1-based and inclusive, of the cells part of an A1 range in a tab
    of ``rows`` x ``cols``: none (the whole tab), ``B2:D4``, whole columns ``A:A`` and whole rows
    ``5:5`` (a bound left out is the grid's edge). None when it cannot be parsed."""
    if not cells:
        return 1, 1, rows, cols
    parts = cells.split(":")
    if len(parts) > 2:
        return None
    found = [re.fullmatch(r"([A-Z]*)(\d*)", p) for p in parts]
    if any(m is None or not (m[1] or m[2]) for m in found):
        return None
    start, end = found[0], found[-1]
    assert start is not None and end is not None

    def col(letters: str) -> int:
        return a1_to_rowcol(f"{letters}1")[1]

    top = int(start[2]) if start[2] else 1
    left = col(start[1]) if start[1] else 1
    bottom = int(end[2]) if end[2] else rows
    right = col(end[1]) if end[1] else cols
    if len(parts) == 1:  # one cell
        bottom, right = top, left
    return top, left, bottom, right


@dataclass
class FakeSpreadsheet:
    key: str
    title: str = "Co-production project"
    locale: str = "en_GB"
    tabs: dict[str, FakeTab] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, dict[str, str], str | None]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(kind, detail) of every request answered: kinds meta, batchGet, values:batchUpdate, batchUpdate."""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    """JSON bodies of the write requests, in order."""
    status_on_open: int | None = None
    quota: int | None = 60
    """Read requests, and write requests, Google serves per minute per user (a batch is one); past it
    a 429 RESOURCE_EXHAUSTED, as from Google. None: no quota (a test that means to send more)."""
    clock: Any = time.monotonic
    _served: dict[str, list[float]] = field(default_factory=dict)

    def _over_quota(self, kind: str) -> bool:
        """Whether this request is past the minute's quota for its kind (reads or writes)."""
        if self.quota is None:
            return False
        which = "Read" if kind in ("meta", "batchGet") else "Write"
        now = self.clock()
        recent = [t for t in self._served.get(which, []) if now - t < 60.0]
        self._served[which] = recent
        if len(recent) >= self.quota:
            return True
        recent.append(now)
        return False

    def add_tab(
        self, title: str, values: list[list[str]] | None = None, rows: int = 1000, cols: int = 26
    ) -> FakeTab:
        tab = FakeTab(title, 1000 + len(self.tabs) * 7919, [list(r) for r in values or []], rows, cols)
        tab.row_count = max(rows, len(tab.values))
        tab.col_count = max(cols, max((len(r) for r in tab.values), default=0))
        self.tabs[title] = tab
        return tab

    def fail(self, kind: str, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures.setdefault(kind, []).extend([(status, headers, None)] * times)

    def refuse(
        self, kind: str, message: str, *, status: str = "INVALID_ARGUMENT", field: str | None = None
    ) -> None:
        """Answer the next request of ``kind`` with a 400 in Google's shape: ``{"error": {code,
        message, status}}``, and, when ``field`` is given, the ``details`` Google adds to a request
        it could not take (a ``google.rpc.BadRequest`` whose ``fieldViolations`` name the field,
        e.g. ``requests[3].updateCells``, ``data[2].range``). Google's message may quote what was
        sent, cell values included: a test gives one to prove coprod never repeats it."""
        error: dict[str, Any] = {"code": 400, "message": message, "status": status}
        if field is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message}],
                }
            ]
        self.failures.setdefault(kind, []).append((400, {}, json.dumps({"error": error})))

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)

    @property
    def reads(self) -> int:
        return self.count("meta") + self.count("batchGet")

    @property
    def writes(self) -> int:
        return self.count("values:batchUpdate") + self.count("batchUpdate")

    # ------------------------------------------------------------ serving

    def register(self, rsps: Any = responses) -> None:
        base = f"{API}/{self.key}"
        rsps.add_callback(responses.GET, base, callback=self._on("meta", self._meta))
        rsps.add_callback(
            responses.GET, f"{base}/values:batchGet", callback=self._on("batchGet", self._batch_get)
        )
        rsps.add_callback(
            responses.POST,
            f"{base}/values:batchUpdate",
            callback=self._on("values:batchUpdate", self._values_update),
        )
        rsps.add_callback(
            responses.POST, f"{base}:batchUpdate", callback=self._on("batchUpdate", self._structure)
        )

    def _on(self, kind: str, handler: Any) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            self.calls.append((kind, request.url))
            bearer = str(request.headers.get("Authorization") or "")
            if not bearer.startswith("Bearer ") or not bearer.removeprefix("Bearer ").strip():
                return 401, {"Content-Type": "application/json"}, self._error(401, _MESSAGES[401])
            if self._over_quota(kind):
                which = "Read" if kind in ("meta", "batchGet") else "Write"
                message = _MESSAGES[429].replace("Read", which)
                return 429, {"Content-Type": "application/json"}, self._error(429, message)
            if len(request.body or b"") > MAX_REQUEST_BYTES:
                message = f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
                return 400, {"Content-Type": "application/json"}, self._error(400, message)
            queue = self.failures.get(kind)
            if queue:
                status, headers, refusal = queue.pop(0)
                if refusal is not None:
                    return status, {"Content-Type": "application/json"}, refusal
                return status, headers, self._error(status, _MESSAGES.get(status, "error"))
            if self.status_on_open and kind == "meta":
                return (
                    self.status_on_open,
                    {},
                    self._error(self.status_on_open, _MESSAGES[self.status_on_open]),
                )
            body = json.loads(request.body) if request.body else None
            if body is not None:
                self.bodies.append(body)
            status, payload = handler(request, body)
            return status, {"Content-Type": "application/json"}, json.dumps(payload)

        return callback

    @staticmethod
    def _error(status: int, message: str) -> str:
        return json.dumps(
            {"error": {"code": status, "message": message, "status": _REASONS.get(status, "FAILED")}}
        )

    def _meta(self, request: Any, body: Any) -> tuple[int, dict[str, Any]]:
        return 200, {
            "spreadsheetId": self.key,
            "properties": {"title": self.title, "locale": self.locale, "timeZone": "Europe/London"},
            "sheets": [
                {
                    "properties": {
                        "sheetId": t.sheet_id,
                        "title": t.title,
                        "index": i,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": t.row_count, "columnCount": t.col_count},
                    }
                }
                for i, t in enumerate(self.tabs.values())
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.key}/edit",
        }

    def _batch_get(self, request: Any, body: Any) -> tuple[int, dict[str, Any]]:
        query = parse_qs(urlsplit(request.url).query)
        out = []
        for a1 in query.get("ranges", []):
            title, cells = split_range(a1)
            tab = self.tabs.get(title)
            bounds = None if tab is None else cell_bounds(cells, tab.row_count, tab.col_count)
            if tab is None or bounds is None:
                return 400, {
                    "error": {
                        "code": 400,
                        "message": f"Unable to parse range: {a1}",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            top, left, bottom, right = bounds
            if bottom > tab.row_count or right > tab.col_count:
                return 400, {
                    "error": {
                        "code": 400,
                        "message": f"Range ({a1}) exceeds grid limits. Max rows: {tab.row_count}, "
                        f"max columns: {tab.col_count}",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            values = [line[left - 1 : right] for line in tab.trimmed()[top - 1 : bottom]]
            for line in values:
                while line and line[-1] == "":
                    line.pop()
            while values and not values[-1]:
                values.pop()
            # "For output, this range indicates the entire requested range, even though the values
            # will exclude trailing rows and columns" (ValueRange, Sheets API reference).
            vr: dict[str, Any] = {
                "range": f"{quote_title(title)}!{rowcol_to_a1(top, left)}:{rowcol_to_a1(bottom, right)}",
                "majorDimension": "ROWS",
            }
            if values:
                vr["values"] = values
            out.append(vr)
        return 200, {"spreadsheetId": self.key, "valueRanges": out}

    def _values_update(self, request: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``values:batchUpdate``: every range checked before any cell is written (Google applies the
        request whole or not at all). A range of one cell is where the values start; a range of more
        cells must hold them all."""
        if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return 400, invalid("valueInputOption is required")
        replies = []
        cells: list[tuple[FakeTab, int, int, Any]] = []
        for vr in body.get("data", []):
            title, part = split_range(vr["range"])
            tab = self.tabs.get(title)
            bounds = None if tab is None or not part else cell_bounds(part, tab.row_count, tab.col_count)
            if tab is None or bounds is None:
                return 400, invalid(f"Unable to parse range: {vr['range']}")
            row0, col0, last_row, last_col = bounds
            if ":" not in (part or ""):
                last_row = last_col = 10**9  # one cell: where the values start
            for dr, line in enumerate(vr.get("values", [])):
                for dc, value in enumerate(line):
                    r, c = row0 + dr, col0 + dc
                    if r > last_row or c > last_col:
                        where = f"row [{r}]" if r > last_row else f"column [{rowcol_to_a1(1, c)[:-1]}]"
                        return 400, invalid(
                            f"Requested writing within range [{vr['range']}], but tried writing to {where}"
                        )
                    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                        return 400, invalid(TOO_LONG)
                    if r > tab.row_count or c > tab.col_count:
                        return 400, invalid(
                            f"Range ({quote_title(title)}!{rowcol_to_a1(r, c)}) exceeds grid limits. "
                            f"Max rows: {tab.row_count}, max columns: {tab.col_count}"
                        )
                    cells.append((tab, r, c, value))
            replies.append({"spreadsheetId": self.key, "updatedRange": vr["range"]})
        for tab, r, c, value in cells:
            tab.formulas.pop((r, c), None)
            if body["valueInputOption"] == "USER_ENTERED" and isinstance(value, str):
                value = user_entered(tab, r, c, value)
            tab.put(r, c, value)
        return 200, {
            "spreadsheetId": self.key,
            "totalUpdatedCells": len(cells),
            "totalUpdatedSheets": len({split_range(v["range"])[0] for v in body.get("data", [])}),
            "responses": replies,
        }

    def _structure(self, request: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A spreadsheet batchUpdate: its requests in order, and all or nothing, as Google does
        (an invalid request anywhere leaves the spreadsheet as it was)."""
        before = {
            title: (tab, copy.deepcopy(tab.values), tab.row_count, tab.col_count)
            for title, tab in self.tabs.items()
        }
        status, payload = self._apply_structure(body)
        if status != 200:
            self.tabs.clear()
            for title, (tab, values, rows, cols) in before.items():
                tab.values, tab.row_count, tab.col_count = values, rows, cols
                self.tabs[title] = tab
        return status, payload

    def _apply_structure(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        replies: list[dict[str, Any]] = []
        by_id = {t.sheet_id: t for t in self.tabs.values()}
        for i, req in enumerate(body.get("requests", [])):
            unknown = [k for k in req if k not in REQUEST_KINDS]
            if unknown:
                return 400, invalid(
                    f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'requests[{i}]': "
                    "Cannot find field."
                )
            kind = next(iter(req), "")
            named = req.get(kind, {})
            sheet = named.get("sheetId", named.get("range", named.get("start", {})).get("sheetId"))
            if kind != "addSheet" and isinstance(named, dict) and sheet is not None and sheet not in by_id:
                return 400, invalid(f"Invalid requests[{i}].{kind}: No grid with id: {sheet}")
            too_long = any(
                len(str((cell.get("userEnteredValue") or {}).get("stringValue", ""))) > MAX_CELL_CHARS
                for row in (named.get("rows") or [] if kind == "updateCells" else [])
                for cell in row.get("values", [])
            )
            if too_long:
                return 400, invalid(f"Invalid requests[{i}].updateCells: {TOO_LONG}")
            if kind == "setDataValidation":
                grid = named["range"]
                tab = by_id[grid["sheetId"]]
                if grid.get("endRowIndex", 0) > tab.row_count:
                    return 400, invalid(
                        f"Invalid requests[{i}].setDataValidation: GridRange.endRowIndex[{grid['endRowIndex']}] "
                        f"is after last row in grid[{tab.row_count - 1}]"
                    )
                if grid.get("endColumnIndex", 0) > tab.col_count:
                    return 400, invalid(
                        f"Invalid requests[{i}].setDataValidation: GridRange.endColumnIndex"
                        f"[{grid['endColumnIndex']}] is after last column in grid[{tab.col_count - 1}]"
                    )
            if "addSheet" in req:
                props = req["addSheet"]["properties"]
                if props["title"] in self.tabs:
                    return 400, {
                        "error": {
                            "code": 400,
                            "message": f'Invalid requests[{i}].addSheet: A sheet with the name "{props["title"]}" '
                            "already exists. Please enter another name.",
                            "status": "INVALID_ARGUMENT",
                        }
                    }
                grid = props.get("gridProperties", {})
                tab = FakeTab(
                    props["title"],
                    props.get("sheetId", 5000 + i),
                    [],
                    grid.get("rowCount", 1000),
                    grid.get("columnCount", 26),
                )
                self.tabs[tab.title] = tab
                by_id[tab.sheet_id] = tab
                replies.append({"addSheet": {"properties": {**props, "index": len(self.tabs) - 1}}})
            elif "updateCells" in req:
                uc = req["updateCells"]
                if "range" in uc:
                    refused = self._update_range(i, uc["range"], uc.get("rows", []), uc["fields"], by_id)
                    if refused:
                        return 400, refused
                    replies.append({})
                    continue
                tab = by_id[uc["start"]["sheetId"]]
                start_row, start_col = uc["start"]["rowIndex"], uc["start"]["columnIndex"]
                fields = uc["fields"].split(",")
                for dr, row in enumerate(uc["rows"]):
                    if start_row + dr >= tab.row_count or start_col + len(row["values"]) > tab.col_count:
                        last_row, last_col = start_row + dr, start_col + len(row["values"]) - 1
                        return 400, {
                            "error": {
                                "code": 400,
                                "message": f"Invalid requests[{i}].updateCells: "
                                + (
                                    f"GridCoordinate.rowIndex[{last_row}] is after last row in grid[{tab.row_count - 1}]"
                                    if last_row >= tab.row_count
                                    else f"GridCoordinate.columnIndex[{last_col}] is after last column in grid"
                                    f"[{tab.col_count - 1}]"
                                ),
                                "status": "INVALID_ARGUMENT",
                            }
                        }
                    for dc, cell in enumerate(row["values"]):
                        value = cell.get("userEnteredValue")
                        if value is None and "userEnteredValue" not in fields:
                            continue  # a cell given only for its format
                        if value is not None and set(value) != {"stringValue"}:
                            raise AssertionError(f"coprod writes text only, as stringValue: {value}")
                        # A field named in ``fields`` but absent from the cell is cleared.
                        tab.put(start_row + 1 + dr, start_col + 1 + dc, value["stringValue"] if value else "")
                replies.append({})
            elif "appendDimension" in req:
                ad = req["appendDimension"]
                tab = by_id[ad["sheetId"]]
                if ad["dimension"] == "ROWS":
                    tab.row_count += ad["length"]
                else:
                    tab.col_count += ad["length"]
                replies.append({})
            else:
                replies.append({})
        return 200, {"spreadsheetId": self.key, "replies": replies}

    @staticmethod
    def _update_range(
        i: int, grid_range: dict[str, Any], rows: list[dict[str, Any]], fields: str, by_id: dict[int, FakeTab]
    ) -> dict[str, Any] | None:
        """``updateCells`` with a ``range`` (a GridRange; a bound left out is the grid's edge), as
        Google documents it: the rows are written from the range's first cell, and every cell of the
        range they do not cover has the ``fields`` cleared. A range past the grid, or rows that do
        not fit in the range, are refused. Returns the error, or None when applied."""
        tab = by_id[grid_range["sheetId"]]
        top, left = grid_range.get("startRowIndex", 0), grid_range.get("startColumnIndex", 0)
        bottom = grid_range.get("endRowIndex", tab.row_count)
        right = grid_range.get("endColumnIndex", tab.col_count)

        def error(message: str) -> dict[str, Any]:
            return {
                "error": {
                    "code": 400,
                    "message": f"Invalid requests[{i}].updateCells: {message}",
                    "status": "INVALID_ARGUMENT",
                }
            }

        if bottom > tab.row_count:
            return error(f"GridRange.endRowIndex[{bottom}] is after last row in grid[{tab.row_count - 1}]")
        if right > tab.col_count:
            return error(
                f"GridRange.endColumnIndex[{right}] is after last column in grid[{tab.col_count - 1}]"
            )
        if len(rows) > bottom - top or any(len(r.get("values", [])) > right - left for r in rows):
            return error("the rows do not fit in the range")
        written: dict[tuple[int, int], str] = {}
        for dr, row in enumerate(rows):
            for dc, cell in enumerate(row.get("values", [])):
                value = cell.get("userEnteredValue")
                if value is not None and set(value) != {"stringValue"}:
                    raise AssertionError(f"coprod writes text only, as stringValue: {value}")
                if value is not None or "userEnteredValue" in fields.split(","):
                    written[(top + dr, left + dc)] = value["stringValue"] if value else ""
        if "userEnteredValue" in fields.split(","):
            for r, line in enumerate(tab.values):
                for c in range(len(line)):
                    if top <= r < bottom and left <= c < right and (r, c) not in written:
                        line[c] = ""  # in the range, not covered by the rows: cleared
        for (r, c), text in written.items():
            tab.put(r + 1, c + 1, text)
        return None
