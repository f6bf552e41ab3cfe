"""``POST /hooks/kobotoolbox/<recipe>``: a KoboToolbox REST Service delivery.

KoboToolbox cannot sign a request, so the REST Service sends the recipe's secret in a custom
header (or as the Basic auth password). It re-sends on 502/503/504 and re-queues stalled sends,
so the same submission can arrive more than once: ``meta/rootUuid`` (stable across edits) is the
delivery id. Only a new submission is sent: an edit or a validation-status change sends nothing,
so those reach coprod at the next sync. The body is the whole submission: the inbox keeps only its
identifiers, and the worker thread of this process gets the submission in memory, so its re-check
reads nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from coprod.webhook_app.receipt import (
    accept,
    check_shared_secret,
    json_body,
    parse_json,
    recipe_hook,
    validate,
)

PLATFORM = "kobotoolbox"

bp = Blueprint(PLATFORM, __name__, url_prefix="/hooks/kobotoolbox")


class KoboSubmission(BaseModel):
    """The identifiers of a submission; the answers are left unread."""

    model_config = ConfigDict(extra="ignore")

    root_uuid: str = Field(alias="meta/rootUuid", min_length=1, max_length=255)
    id: int | str | None = Field(default=None, alias="_id")


@bp.post("/<recipe>")
def delivery(recipe: str) -> tuple[Response, int]:
    hook = recipe_hook(recipe, PLATFORM)
    body = json_body()
    check_shared_secret(hook, PLATFORM)
    parsed = parse_json(body)
    submission: KoboSubmission = validate(KoboSubmission, parsed)
    subject = f"submission {submission.id}" if submission.id is not None else ""
    return accept(PLATFORM, hook, submission.root_uuid, body, subject, parsed)
