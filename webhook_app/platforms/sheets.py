"""``POST /hooks/sheets/<recipe>``: the Apps Script ``onFormSubmit`` notice, Standard Webhooks signed.

The script (``recipes/google-sheets/coprod_trigger.gs``) sends where the new row is, not what it
says: the re-check reads that row through the connector (one ``values:batchGet``, with the tab's
header row and ID column and the Flags tab; ``SheetsConnector.changes_for_all``). The inbox keeps
the row, the tab and a digest of the spreadsheet's id (``sheets_notice.describe``), so a worker
running apart reads that row too; the notice itself reaches this process's worker in memory.
De-duplicated on ``webhook-id``.
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from coprod.connectors.sheets_notice import describe
from coprod.webhook_app.receipt import signed_delivery

PLATFORM = "sheets"

bp = Blueprint(PLATFORM, __name__, url_prefix="/hooks/sheets")


class SheetsNotice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(default="sheets.form_submit", max_length=64)
    spreadsheet_id: str = Field(min_length=1, max_length=200)
    sheet: str = Field(min_length=1, max_length=200)
    row: int = Field(ge=1)


@bp.post("/<recipe>")
def delivery(recipe: str) -> tuple[Response, int]:
    return signed_delivery(
        PLATFORM, recipe, SheetsNotice, lambda n: describe(n.spreadsheet_id, n.sheet, n.row)
    )
