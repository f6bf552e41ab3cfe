"""``POST /hooks/civicrm/<recipe>``: a signed ``{entity, id, action}`` notice from CiviCRM.

CiviCRM has no outbound webhooks of its own; a CiviRules HTTP action or a small extension on
``hook_civicrm_postCommit`` sends this notice, signed in the Standard Webhooks scheme.
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from webhook_app.receipt import accept, check_signature, json_body, parse_json, recipe_hook, validate

PLATFORM = "civicrm"

bp = Blueprint(PLATFORM, __name__, url_prefix="/hooks/civicrm")


class CiviNotice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    id: int = Field(ge=1)
    action: str = Field(pattern=r"^[a-z][a-z_]{0,31}$")


@bp.post("/<recipe>")
def delivery(recipe: str) -> tuple[Response, int]:
    hook = recipe_hook(recipe, PLATFORM)
    body = json_body()
    msg_id = check_signature(hook, PLATFORM, body)
    notice: CiviNotice = validate(CiviNotice, parse_json(body))
    return accept(PLATFORM, hook, msg_id, body, f"{notice.entity} {notice.id} {notice.action}")
