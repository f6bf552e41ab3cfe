"""A flag: one problem found by a check, said so a member of staff can act on it.

The fingerprint is the flag's identity. It hashes the check, the subject and the *identity facts*
(what makes it the same problem: the dimension and category, the session owed for), never the
message, so rewording a message or re-running a check never creates a second flag. The *facts
digest* hashes the material facts (the amount owed, the counts), so the sync can tell a flag that
is still open from one whose facts changed, and re-open an acknowledged flag only then.
"""

# Annotations evaluated as the classes are made: see coprod_core.model.

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from coprod_core.text import visible


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, up to 2 for critical (looked up: a sort asks it twice per flag)."""
        return _SEVERITY_RANKS[self]


_SEVERITY_RANKS: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}


class SubjectKind(StrEnum):
    PERSON = "person"
    SESSION = "session"
    PROJECT = "project"
    RECORD = "record"
    """A row that could not be used (data-quality flags); id is ``entity:row``."""


class Subject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # see Flag

    kind: SubjectKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id}"


_SCALARS: frozenset[type] = frozenset({str, int, bool, type(None)})
"""Types that are already canonical: returned as they are, without a call per value."""


def _canonical(value: Any) -> Any:
    """JSON-able, order-independent form of evidence, so a digest never depends on dict order.

    Dict keys become strings but are not sorted here: both users of this form encode with
    ``sort_keys``, which orders them the same way (and a later key that turns into the same string
    still wins, as it did when keys were sorted here first). Plain values inside dicts and lists are
    taken as they are, because evidence is mostly strings and numbers and this runs for every flag.
    """
    t = type(value)
    if t in _SCALARS:
        return value
    if t is dict:
        return _canonical_dict(value)
    if t is list or t is tuple:
        return [v if type(v) in _SCALARS else _canonical(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return _canonical_dict(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def jsonable(value: Any) -> Any:
    """Evidence as the tools receive it: JSON types only, amounts and hours as plain digits ("10",
    never "1E+1"), dates as ISO text, sets sorted."""
    return json.loads(_EVIDENCE_JSON.encode(_canonical(value)))


def _canonical_dict(value: dict[Any, Any]) -> dict[str, Any]:
    return {
        (k if type(k) is str else str(k)): (v if type(v) in _SCALARS else _canonical(v))
        for k, v in value.items()
    }


_DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, check_circular=False)
"""What ``json.dumps(..., sort_keys=True, separators=(",", ":"), default=str)`` builds each call, made
once (a digest is taken twice for each flag). Without the check for circular references, which a
canonical form never has, it encodes as fast as the C encoder alone; the text is the same."""
_EVIDENCE_JSON = json.JSONEncoder(sort_keys=True, default=str)


def digest(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (Decimal, dates, sets and dicts allowed)."""
    text = _DIGEST_JSON.encode(_canonical(list(parts)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


_IDENTITY_TEXTS: dict[tuple[tuple[str, type, Any], ...], str] = {}
"""An identity of plain values (each key, its value's type and the value) -> its JSON text: a few
dozen distinct identities ({"kind": "fee"}, {"dimension": ..., "category": ...}) recur across the
thousands of flags of a run."""
_IDENTITIES_KEPT = 4096
"""At most this many are kept: a webhook worker runs for months, and some identities name a
session, a project or a column."""


def fingerprint(check_id: str, subject_kind: str, subject_id: str, identity: dict[str, Any]) -> str:
    """``digest(check_id, subject_kind, subject_id, identity)``: the same text hashed, built from
    its parts. The encoder writes a list as its items' texts between brackets, separated by commas,
    and a string alone without building an encoder per call (about a third of a digest's time); an
    identity of plain values is encoded once (:data:`_IDENTITY_TEXTS`), any other goes through
    :func:`digest`. The golden fingerprints (tests/test_rule_fingerprints.py) pin the result."""
    if type(check_id) is not str or type(subject_kind) is not str or type(subject_id) is not str:
        return digest(check_id, subject_kind, subject_id, identity)
    encode = _DIGEST_JSON.encode
    if identity:
        key = tuple([(k, type(v), v) for k, v in identity.items()])  # True and 1: equal, not one text
        try:
            text = _IDENTITY_TEXTS.get(key)
        except TypeError:  # a list or a dict in it
            return digest(check_id, subject_kind, subject_id, identity)
        if text is None:
            if not all(type(k) is str and type(v) in _SCALARS for k, v in identity.items()):
                return digest(check_id, subject_kind, subject_id, identity)
            text = encode(identity)
            if len(_IDENTITY_TEXTS) < _IDENTITIES_KEPT:
                _IDENTITY_TEXTS[key] = text
    else:
        text = "{}"
    whole = f"[{encode(check_id)},{encode(subject_kind)},{encode(subject_id)},{text}]"
    return hashlib.sha256(whole.encode("utf-8")).hexdigest()[:20]


class Flag(BaseModel):
    """One finding. Build it with :func:`make_flag` so the fingerprint is computed one way.

    Its validator is built when the first flag is made (``defer_build``), not when this module is
    imported: a ``coprod`` command that raises no flag (``--version``, ``status``, ``rules``) does not
    pay for it, and one that does pays the same, once."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    check_id: str
    """Stable id of the rule that raised it, e.g. ``payments.overdue``."""
    severity: Severity
    subject: Subject
    title: str
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str
    facts_digest: str
    project_id: str | None = None
    """The project the flag belongs to, when there is one (for grouping and write-back)."""
    about: str = ""
    """Who or what it is about, in words ("Sam Carter (ID 17)"): filled in by the run from its
    dataset (:mod:`coprod_core.about`) for people reading the flags; not part of the fingerprint."""
    named: tuple[str, ...] = ()
    """The IDs of people its words name besides its subject (the people a session's hours flag
    lists), so that its words go once one of them leaves the people list (:mod:`coprod_core.removed`);
    not part of the fingerprint."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def evidence_json(self) -> str:
        return _EVIDENCE_JSON.encode(_canonical(self.evidence))


def make_flag(
    *,
    check_id: str,
    severity: Severity,
    subject: Subject,
    title: str,
    message: str,
    evidence: dict[str, Any],
    identity: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    project_id: str | None = None,
    named: Sequence[str] = (),
) -> Flag:
    """Build a flag with its fingerprint and facts digest.

    ``identity``: what makes it the same problem on every run (default: nothing beyond check and
    subject). ``facts``: what, when it changes, makes it a changed flag (default: all evidence).
    The title and message show characters nobody can see (a tab or a zero-width space in an id)
    as ``\\t`` or ``<U+200B>`` (:func:`~coprod_core.text.visible`); the subject and evidence, and so
    the fingerprint and the facts digest, keep them as they are. ``named``: the people the words
    name besides the subject (:attr:`Flag.named`).
    """
    return Flag(
        check_id=check_id,
        severity=severity,
        subject=subject,
        title=visible(title),
        message=visible(message),
        evidence=evidence,
        fingerprint=fingerprint(check_id, subject.kind.value, subject.id, identity or {}),
        facts_digest=digest(facts if facts is not None else evidence),
        project_id=project_id,
        named=tuple(sorted(set(named))),
    )


def sort_flags(flags: list[Flag]) -> list[Flag]:
    """Most severe first, then by check and subject: a stable order for output and write-back."""
    return sorted(flags, key=_flag_order)


def _flag_order(f: Flag) -> tuple[int, str, str, str, str]:
    subject = f.subject
    return (-_SEVERITY_RANKS[f.severity], f.check_id, subject.kind, subject.id, f.fingerprint)
