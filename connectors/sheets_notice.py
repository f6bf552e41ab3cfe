"""What the inbox keeps of an Apps Script notice ``{spreadsheet_id, sheet, row}``, and reading it back.

A worker running apart from the app (``coprod worker``, as ``recipes/deploy/`` runs it) gets from
the inbox only what the app recorded, never a body. With the row and the tab in the event's subject
it reads that row (one ``values:batchGet``), as the app's own worker thread does with the notice in
memory, instead of the whole spreadsheet. The spreadsheet is kept as a short digest of its id, not
the id itself: a sheet shared with "anyone with the link" can be opened with its id alone, and the
subject is shown in listings. A digest is enough to tell this recipe's spreadsheet from another.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

FORM_SUBMIT = "sheets.form_submit"
"""The notice's ``type`` for a new form response (the only kind the trigger sends)."""

SUBJECT = re.compile(r'row (\d+) of (".*") in spreadsheet ([0-9a-f]{8})')


def spreadsheet_tag(spreadsheet_id: str) -> str:
    """Eight hex digits of the id's SHA-256: names the spreadsheet without giving its id away."""
    return hashlib.sha256(spreadsheet_id.encode()).hexdigest()[:8]


def describe(spreadsheet_id: str, sheet: str, row: int) -> str:
    """The subject the inbox keeps: ``row 12 of "Form responses 1" in spreadsheet 3f9a01bc``."""
    tab = json.dumps(sheet, ensure_ascii=False)
    return f"row {row} of {tab} in spreadsheet {spreadsheet_tag(spreadsheet_id)}"


def notice_in(subject: str, spreadsheet_id: str) -> dict[str, Any] | None:
    """The notice a subject says, for a worker without it; None for a subject in another form (an
    event recorded before subjects named the tab said only ``row N``). A notice about another
    spreadsheet comes back with an empty ``spreadsheet_id``, which the connector refuses."""
    found = SUBJECT.fullmatch(subject.strip())
    if found is None:
        return None
    try:
        sheet = json.loads(found[2])
    except ValueError:
        return None
    if not isinstance(sheet, str):
        return None
    same = found[3] == spreadsheet_tag(spreadsheet_id)
    return {
        "type": FORM_SUBMIT,
        "spreadsheet_id": spreadsheet_id if same else "",
        "sheet": sheet,
        "row": int(found[1]),
    }
