"""``POST /hooks/civicrm/<recipe>``: a signed ``{entity, id, action}`` notice from CiviCRM.

CiviCRM has no outbound webhooks of its own; a CiviRules HTTP action or a small extension on
``hook_civicrm_postCommit`` sends this notice, signed in the Standard Webhooks scheme.
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from coprod.webhook_app.receipt import signed_delivery

PLATFORM = "civicrm"

bp = Blueprint(PLATFORM, __name__, url_prefix="/hooks/civicrm")


class CiviNotice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    id: int = Field(ge=1)
    action: str = Field(pattern=r"^[a-z][a-z_]{0,31}$")


@bp.post("/<recipe>")
def delivery(recipe: str) -> tuple[Response, int]:
    return signed_delivery(PLATFORM, recipe, CiviNotice, lambda n: f"{n.entity} {n.id} {n.action}")
