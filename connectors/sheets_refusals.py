"""What coprod can say of a request Google Sheets refused with a 400, without repeating Google's words.

Google's message for a refused request may quote what was sent: "Invalid values[454][9]:
list_value { string_value: ... }" holds a cell's value, and a cell may hold a name or an answer
(personal data, which never reaches a log). So the message is never repeated. What is safe to say,
and enough for staff to act on, is Google's error ``status`` (INVALID_ARGUMENT, FAILED_PRECONDITION:
words from a fixed list) and where in the request Google points: the paths of the ``fieldViolations``
in the error's ``details``, and the request paths (``requests[3].updateCells``, ``data[2].range``)
found in the message; each path is then said as what coprod sent there (the tab it wrote to), read
from coprod's own request, never from Google's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_STATUS = re.compile(r"[A-Z][A-Z_]{2,40}")
_PATH = re.compile(
    r"\b(?:requests|data|values|ranges|valueRanges)(?:\[\d{1,7}\])+(?:\.[A-Za-z_]\w{0,40}(?:\[\d{1,7}\])*){0,6}"
)
_FIELD = re.compile(r"[A-Za-z_][\w.\[\]]{0,120}")
_PROTECTED = ("protected cell", "protected range", "protected sheet")


@dataclass(frozen=True)
class Refusal:
    """A 400 from Google, in words that hold nothing of the request's values."""

    status: str
    """Google's error status (INVALID_ARGUMENT...), or "" when the answer had none."""
    locations: tuple[str, ...]
    """Where in the request Google points, each with what coprod sent there (its tab)."""
    protected: bool
    """Google says a protected cell, range or tab was in the way."""

    def said(self) -> str:
        """Google's answer in short: "400, INVALID_ARGUMENT, at requests[3].updateCells: updateCells
        on the tab 'Flags'"."""
        text = "400" + (f", {self.status}" if self.status else "")
        if self.locations:
            text += ", at " + "; ".join(self.locations)
        return text

    def advice(self, reading: bool) -> str:
        """What staff can do, by what Google said was wrong."""
        if self.protected:
            return (
                "a cell or tab coprod writes to is protected: in the spreadsheet, Data > Protect sheets "
                "and ranges, let the service account edit it (or remove the protection), then run again"
            )
        if self.status == "FAILED_PRECONDITION":
            return (
                "Google cannot do this to the file as it is: if it is an Excel file (.xlsx) opened in "
                "Google Sheets, save it as a Google Sheet (File > Save as Google Sheets) and give the new "
                "sheet's address as 'spreadsheet' in the recipe; then run again"
            )
        if reading:
            return (
                "check that the recipe's tab names (location = ...) match the spreadsheet's tabs, then run "
                "again; if it happens again, run with -v and report it with the log (it holds no cell values)"
            )
        return (
            "nothing of this request was written (Google applies a request whole or not at all); check "
            "that coprod's tabs and columns were not changed by hand (a tab renamed or deleted, cells "
            "merged), then run again; if it happens again, run with -v and report it with the log (it "
            "holds no cell values)"
        )


def refusal(error: Mapping[str, Any], sent: Mapping[str, Any] | None, tabs: Mapping[int, str]) -> Refusal:
    """Read Google's error object (the answer's ``error``) against what was sent (``sent``, the
    request's JSON body, or None for a read) and the spreadsheet's tabs by ``sheetId``."""
    status = str(error.get("status") or "")
    status = status if _STATUS.fullmatch(status) else ""
    message = str(error.get("message") or "")
    paths: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, Mapping) or not str(detail.get("@type", "")).endswith("rpc.BadRequest"):
            continue
        for violation in detail.get("fieldViolations") or []:
            path = str(violation.get("field", "")) if isinstance(violation, Mapping) else ""
            if _FIELD.fullmatch(path) and path not in paths:
                paths.append(path)
    for path in _PATH.findall(message):
        if not any(p.startswith(path) or path.startswith(p) for p in paths):
            paths.append(path)
    folded = message.casefold()
    return Refusal(
        status=status,
        locations=tuple(_located(p, sent, tabs) for p in paths[:3]),
        protected=any(p in folded for p in _PROTECTED),
    )


def _located(path: str, sent: Mapping[str, Any] | None, tabs: Mapping[int, str]) -> str:
    """``path`` with what coprod sent there: "requests[3].updateCells: updateCells on the tab 'Flags'"."""
    m = re.match(r"(requests|data)\[(\d+)\]", path)
    items = (sent or {}).get(m[1]) if m else None
    if m is None or not isinstance(items, Sequence) or int(m[2]) >= len(items):
        return path
    item = items[int(m[2])]
    if m[1] == "data":
        return f"{path}: the cells {item.get('range', '?')}" if isinstance(item, Mapping) else path
    kind = next(iter(item), "") if isinstance(item, Mapping) else ""
    body = item.get(kind) if isinstance(item, Mapping) else None
    if not isinstance(body, Mapping):
        return path
    if kind == "addSheet":
        return f"{path}: adding the tab '{body.get('properties', {}).get('title', '?')}'"
    sheet_id = body.get("sheetId")
    for part in ("range", "start"):
        if sheet_id is None and isinstance(body.get(part), Mapping):
            sheet_id = body[part].get("sheetId")
    title = tabs.get(sheet_id) if isinstance(sheet_id, int) else None
    return f"{path}: {kind} on the tab '{title}'" if title is not None else path


__all__ = ["Refusal", "refusal"]
