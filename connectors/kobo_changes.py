"""What changed in a KoboToolbox form since coprod last read it, told by the server, not guessed.

KoboToolbox keeps no edit time in its data (an edit changes only ``_uuid``; a staff change of the
validation status not even that), and a delete leaves no trace but a lower submission count
(``tests/fixtures/platforms/kobotoolbox/RECORDED.md``, "Probe: incremental reads"). So a read of
"what changed since" is put together from three answers:

- the form's details: ``deployment__submission_count`` and ``deployment__last_submission_time``
  (a new submission moves both; an edit moves neither; a delete lowers the count only);
- the form's history (``/history/``) of ``modify-submission`` entries (edits and validation-status
  changes) and ``delete-submission`` entries since a time, by root uuid (without the ``uuid:``
  prefix that ``meta/rootUuid`` has). The time must be quoted in the query: unquoted, kpi
  silently answers nothing. A view-only account is refused (403);
- for such an account, a listing of every submission with ``fields=["_id"]``, which still brings
  each one's ``_uuid`` and ``_validation_status``, compared with what the last read saw.

The time is always the server's own (the ``Date`` of its answer, else the newest history entry or
submission time), never this machine's clock. coprod's own bulk edits and status changes are in
the history too: each write it makes is counted per root uuid (one history entry each), so a root
with no more entries than coprod's own writes was not changed by staff. Only ids, counts and
digests are kept (in the state store): never an answer.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

MODIFIED = "modify-submission"
DELETED = "delete-submission"


def history_query(action: str, since: str) -> str:
    """The ``q`` of a history read: entries of one action since a server time, the time quoted."""
    return f'action:{action} AND date_created__gte:"{since}"'


def server_time(date_header: str | None) -> str | None:
    """``Thu, 03 Dec 2026 16:03:24 GMT`` -> ``2026-12-03T16:03:24`` (UTC, as history compares)."""
    if not date_header:
        return None
    try:
        when = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _second(text: Any) -> str:
    """A server time cut to the second, without its zone: ``2026-12-03T16:03:25Z`` -> ``...:25``."""
    return str(text or "").replace(" ", "T")[:19]


class Entry(NamedTuple):
    """One history entry: the submission's root uuid, when (to the second), a digest of the whole
    entry (to know it again when a later read returns it once more), and its action."""

    root: str
    when: str
    digest: str
    action: str


class History(NamedTuple):
    """A read of the history: the entries read, how many the server counts, and whether they are
    all of them (a read may stop at the first page when the count alone says enough)."""

    entries: list[Entry]
    total: int
    complete: bool


def entries(results: Iterable[Any]) -> list[Entry]:
    """The entries of a history answer that name a submission (ids and times only)."""
    out = []
    for item in results:
        if not isinstance(item, Mapping):
            continue
        meta = item.get("metadata") or {}
        submission = meta.get("submission") if isinstance(meta, Mapping) else None
        root = str((submission or {}).get("root_uuid") or "").removeprefix("uuid:")
        if not root:
            continue
        shown = json.dumps(
            [item.get("action"), root, item.get("date_created"), (submission or {}).get("status"),
             item.get("user_uid") or item.get("username")],
            separators=(",", ":"),
        )  # fmt: skip
        digest = hashlib.sha256(shown.encode()).hexdigest()[:16]
        out.append(Entry(root, _second(item.get("date_created")), digest, str(item.get("action") or "")))
    return out


def version_digest(submission: Mapping[str, Any]) -> str:
    """What tells one version of a submission from the next: ``_uuid`` (an edit) and the validation
    status (a staff decision that keeps ``_uuid``). A short digest: the map of a 5,000-submission
    form stays small."""
    status = submission.get("_validation_status") or {}
    uid = status.get("uid") if isinstance(status, Mapping) else None
    text = f"{submission.get('_uuid') or ''}|{uid or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class Snapshot:
    """What the last read of a form saw, kept in the state store between runs (ids and counts only).

    ``count`` and ``last_time`` are the form's details as read; ``last_id`` the highest ``_id`` read;
    ``cursor`` the server time from which history is read next; ``seen`` the history entries at or
    after the cursor already taken into account (a later read returns them again); ``own`` how many
    history entries coprod's own writes since then made, per root uuid; ``history`` False once the
    account was refused the history (then listings are compared with ``versions``, ``_id`` ->
    :func:`version_digest`).
    """

    count: int
    last_time: str
    last_id: int | None
    cursor: str | None
    seen: dict[str, int] = field(default_factory=dict)
    own: dict[str, int] = field(default_factory=dict)
    history: bool = True
    versions: dict[str, str] = field(default_factory=dict)
    seen_actions: dict[str, int] = field(default_factory=dict)
    """How many of ``seen`` are of each action (a read of one action returns only those again)."""

    def dumps(self) -> str:
        return json.dumps(vars(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Snapshot | None:
        """The snapshot stored, or None when there is none or it cannot be read (a full read then)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                count=int(data["count"]),
                last_time=str(data["last_time"]),
                last_id=None if data.get("last_id") is None else int(data["last_id"]),
                cursor=data.get("cursor"),
                seen={str(k): int(v) for k, v in (data.get("seen") or {}).items()},
                own={str(k): int(v) for k, v in (data.get("own") or {}).items()},
                history=bool(data.get("history", True)),
                versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
                seen_actions={str(k): int(v) for k, v in (data.get("seen_actions") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def expected(self, action: str) -> int:
        """How many entries of ``action`` a read from the cursor returns if nobody but coprod changed
        anything: those seen already, and one per write of coprod's since (``own``, edits and status
        changes: ``modify-submission``). When the server counts exactly that, its entries need not
        be read: after a sync that wrote to 3,000 submissions, one request still tells "unchanged"."""
        own = sum(self.own.values()) if action == MODIFIED else 0
        return own + self.seen_actions.get(action, 0)

    def fresh(self, found: Iterable[Entry]) -> list[Entry]:
        """The entries not already taken into account by the read that made this snapshot."""
        left = Counter(self.seen)
        out = []
        for entry in found:
            if left[entry.digest] > 0:
                left[entry.digest] -= 1
                continue
            out.append(entry)
        return out

    def staff_roots(self, found: Iterable[Entry]) -> set[str]:
        """Root uuids with more new history entries than coprod's own writes made: someone else
        changed them (an edit, or a validation status set by staff)."""
        per_root = Counter(e.root for e in self.fresh(found))
        return {root for root, n in per_root.items() if n > self.own.get(root, 0)}

    def advance(self, now: str | None, found: Iterable[Entry]) -> None:
        """Move the cursor to the server time ``now`` (or the newest entry's time when the server
        did not say), remember the entries at or after it (a read from it returns them again), and
        start counting coprod's own writes afresh: they come after this read."""
        found = list(found)
        newest = max((e.when for e in found), default=None)
        candidates = [t for t in (self.cursor, now or newest) if t]
        self.cursor = max(candidates) if candidates else None
        cursor = self.cursor or ""
        kept = [e for e in found if e.when >= cursor]
        self.seen = dict(Counter(e.digest for e in kept))
        self.seen_actions = dict(Counter(e.action for e in kept))
        self.own = {}

    def hold(self, counted: Mapping[str, int], found: Iterable[Entry]) -> None:
        """Keep the cursor where it is: the server counted every entry since it as coprod's own or
        seen before, but they ran to more than one page and only the first was read (after a sync
        that wrote to many submissions). The next read from the same cursor expects as many again,
        plus coprod's writes to come; the entries read are remembered as seen."""
        for action, n in counted.items():
            self.seen_actions[action] = n
        for digest, n in Counter(e.digest for e in found).items():
            self.seen[digest] = max(self.seen.get(digest, 0), n)
        self.own = {}

    def wrote(self, roots: Iterable[str]) -> None:
        """coprod changed these submissions (one history entry each)."""
        for root in roots:
            self.own[root] = self.own.get(root, 0) + 1


class Changes(NamedTuple):
    """What a form's change check found since the last read."""

    unchanged: bool
    """Nothing new, edited, re-validated or deleted: the form is as the last read left it."""
    new: bool = False
    """Submissions were added (read them by ``_id`` above the last one read)."""
    changed_roots: frozenset[str] = frozenset()
    """Root uuids edited or given a status by someone other than coprod."""
    changed_ids: frozenset[int] = frozenset()
    """``_id`` of submissions found changed by comparing a listing (no history)."""
    deleted_roots: frozenset[str] = frozenset()
    deleted_ids: frozenset[int] = frozenset()
    whole: bool = False
    """The checks do not add up (a count that the history does not explain): read the form whole."""
