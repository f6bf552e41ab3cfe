"""What every delivery route does before its platform-specific part: find the recipe, check the
content type, authenticate, parse, and finally record in the inbox and answer.

Refusals are raised as ``Refused`` (an HTTP status and a short reason) and answered as JSON by the
error handlers; a reason never contains a secret, a header value or a piece of the body.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flask import Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from coprod.webhook_app.inbox import Inbox
from coprod.webhook_app.settings import RecipeHook, WebhookSettings

log = logging.getLogger("coprod.webhook_app")

Notice = TypeVar("Notice", bound=BaseModel)


class Refused(HTTPException):
    """A delivery turned away, with a reason safe to show the sender."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(description=reason)
        self.code = code


def runtime() -> Any:
    return current_app.extensions["coprod_webhook"]


def settings() -> WebhookSettings:
    return runtime().settings


def recipe_hook(name: str, platform: str) -> RecipeHook:
    hook = settings().recipes.get(name)
    if hook is None:
        raise Refused(404, "unknown recipe")
    if not hook.enabled(platform):
        # the operator's log says what to set: the variable's name (never a value), or that the
        # recipe sets up no webhook at all (its README said to delete [webhook] without the app)
        variable = hook.kobo_secret_env if platform == "kobotoolbox" else hook.secret_env
        why = (
            f"its secret variable {variable} is not set"
            if variable
            else "the recipe has no [webhook] section (secret_env)"
        )
        log.warning("%s delivery for recipe %s refused: %s", platform, name, why)
        raise Refused(404, "webhooks are not set up for this recipe")
    return hook


def json_body() -> bytes:
    """The raw body, after checking its type (415) and its size (413), before anything uses it."""
    if request.mimetype != "application/json":
        raise Refused(415, "send the body as application/json")
    return read_body(current_app.config["MAX_CONTENT_LENGTH"])


READ_SIZE = 64 * 1024


def read_body(limit: int) -> bytes:
    """The body, or 413 when it is larger than ``limit`` bytes, whatever the transfer encoding.

    werkzeug refuses a Content-Length over the limit before reading, but a chunked body (no
    Content-Length, de-chunked by the server, which then sets ``wsgi.input_terminated``) it cuts
    silently at the limit: the signature of the cut body failed and the sender heard 401 "bad
    signature". Here at most ``limit + 1`` bytes are read, and a byte over the limit is a 413.
    """
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
        return request.get_data(cache=True)  # werkzeug reads exactly Content-Length bytes
    if not request.environ.get("wsgi.input_terminated"):
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            # the server passed the chunks on undecoded: where the body ends cannot be known
            raise Refused(411, "send the body with a Content-Length")
        return b""
    stream = request.environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            part = stream.read(min(READ_SIZE, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except Exception as exc:  # the server's reader: a malformed chunk, or the client went away
        log.warning("a request body could not be read (%s)", type(exc).__name__)
        raise Refused(400, "the body could not be read") from None
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(parts)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying why not.

    Python's parser recurses once per level of nesting: a small body of 100,000 opening brackets
    exhausts the stack and raises RecursionError, which is the sender's fault, not the server's.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "the body is not valid JSON") from None
    except RecursionError:
        raise Refused(400, "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate with pydantic; the reason names the fields at fault, never their values."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = sorted(
            {".".join(str(p) for p in e["loc"]) or "body" for e in error.errors(include_url=False)}
        )
        raise Refused(400, f"missing or invalid: {', '.join(fields)[:200]}") from None


def check_shared_secret(hook: RecipeHook, platform: str) -> None:
    """KoboToolbox cannot sign: accept its secret custom header, or Basic auth with the secret as password."""
    assert hook.kobo_secret is not None
    expected = hook.kobo_secret.encode()
    given = request.headers.get(hook.kobo_header)
    if given is None and request.authorization is not None and request.authorization.type == "basic":
        given = request.authorization.password or ""
    if given is None:
        _unauthorised(hook, platform, "no secret")
    if not hmac.compare_digest(given.encode(), expected):
        _unauthorised(hook, platform, "wrong secret")
    _authenticated(hook, platform)


SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
"""The headers Standard Webhooks verification reads, looked up by name (walking every header of the
request to find them cost more than the HMAC itself)."""


def check_signature(hook: RecipeHook, platform: str, body: bytes) -> str:
    """Verify a Standard Webhooks signature (5-minute window). Returns the webhook-id."""
    assert hook.secret is not None
    try:
        verifier = Webhook(hook.secret)
    except (binascii.Error, ValueError, RuntimeError):
        log.error("recipe %s: %s does not hold a whsec_ signing secret", hook.name, hook.secret_env)
        raise Refused(500, "the signing secret is not set up correctly on this server") from None
    headers = {name: value for name in SIGNATURE_HEADERS if (value := request.headers.get(name)) is not None}
    try:
        verifier.verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        stale = "too old" in str(exc) or "too new" in str(exc)
        _unauthorised(hook, platform, "timestamp outside the 5-minute window" if stale else "bad signature")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        # a malformed signature header (no "v1," part, not base64) or a body that is not UTF-8
        _unauthorised(hook, platform, "bad signature")
    _authenticated(hook, platform)
    msg_id = headers["webhook-id"]
    if len(msg_id) > 255:
        raise Refused(400, "webhook-id is too long")
    return msg_id


def _authenticated(hook: RecipeHook, platform: str) -> None:
    """Remember who sent this request, now that it is proven: a delivery refused after this point
    (400: not JSON, a field missing or invalid) comes from a platform set up wrongly (a KoboToolbox
    REST Service sending a subset of fields or a custom wrapper), so the refusal is logged (see
    :func:`authenticated_sender`), where an unauthenticated one is only the access log's line."""
    g.coprod_sender = (platform, hook.name)


def authenticated_sender() -> tuple[str, str] | None:
    """(platform, recipe) of this request's sender once its secret or signature was checked."""
    sender: tuple[str, str] | None = g.get("coprod_sender")
    return sender


def _unauthorised(hook: RecipeHook, platform: str, why: str) -> NoReturn:
    log.warning("%s delivery for recipe %s refused: %s", platform, hook.name, why)
    raise Refused(401, why)


def signed_delivery(
    platform: str, recipe: str, model: type[Notice], subject: Callable[[Notice], str]
) -> tuple[Response, int]:
    """A Standard Webhooks delivery, start to end: the signature is checked before the body is parsed."""
    hook = recipe_hook(recipe, platform)
    body = json_body()
    msg_id = check_signature(hook, platform, body)
    parsed = parse_json(body)
    notice: Notice = validate(model, parsed)
    return accept(platform, hook, msg_id, body, subject(notice), parsed)


def accept(
    platform: str,
    hook: RecipeHook,
    delivery_id: str,
    body: bytes,
    subject: str,
    content: dict[str, Any] | None = None,
) -> tuple[Response, int]:
    """Record the delivery durably (ids and a digest only), hand what it carried to this process's
    worker thread in memory, wake it, answer 202 (or 200 for a re-send)."""
    inbox: Inbox = runtime().inbox
    digest = hashlib.sha256(body).hexdigest()
    event = inbox.record(platform, hook.name, delivery_id, digest, subject)
    if event is None:
        log.info("%s delivery for recipe %s is a re-send; already in the inbox", platform, hook.name)
        return jsonify(status="duplicate"), 200
    if content is not None and settings().worker_thread:
        runtime().bodies.put(event, content)
    runtime().wake.set()
    log.info("%s delivery for recipe %s accepted as event %d", platform, hook.name, event)
    return jsonify(status="accepted", event=event), 202
