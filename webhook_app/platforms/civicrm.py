"""``POST /hooks/civicrm/<recipe>``: a signed ``{entity, id, action}`` notice from CiviCRM.

CiviCRM has no outbound webhooks of its own; the recipe's small extension (``recipes/civicrm/notify``,
on ``hook_civicrm_postCommit``) sends this notice, signed in the Standard Webhooks scheme. As
recorded from a real site: ``action`` is CiviCRM's own operation name (``create``, ``edit``,
``delete``; never ``update``), and for ``GroupContact`` the ``id`` is the group membership's id, not
the contact's. The notice only says that something changed: the worker re-checks the recipe.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from coprod.webhook_app.receipt import signed_delivery

PLATFORM = "civicrm"

bp = Blueprint(PLATFORM, __name__, url_prefix="/hooks/civicrm")


class CiviNotice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    id: int = Field(ge=1)
    """The saved record's id; for GroupContact, the membership's (not the contact's)."""
    action: Literal["create", "edit", "delete"]


def describe(notice: CiviNotice) -> str:
    """What the inbox keeps about a notice (ids only)."""
    if notice.entity == "GroupContact":
        return f"GroupContact membership {notice.id} {notice.action}"
    return f"{notice.entity} {notice.id} {notice.action}"


@bp.post("/<recipe>")
def delivery(recipe: str) -> tuple[Response, int]:
    return signed_delivery(PLATFORM, recipe, CiviNotice, describe)
