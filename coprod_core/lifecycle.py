"""The flag lifecycle: what changed since the last run, so only the difference is written back.

Pure: it takes what the state store remembers (ids, fingerprints, digests, statuses, dates; never
names or answers), the flags raised now and the statuses staff set in their tool, and returns the
changes to write and the state to remember once they are written.

Rules (DESIGN.md, "A flag"):
- raised now, never seen or resolved before: *new* (or *reopened*) -> written;
- raised now, open before with the same facts: *still open* -> nothing written;
- raised now with different facts: *changed* -> written, and an acknowledgement is lifted;
- acknowledged or "won't fix" by staff with the same facts: kept, never overwritten;
- not raised any more but open or acknowledged before: *resolved* -> written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from coprod_core.flags import Flag, Severity, SubjectKind


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    WONT_FIX = "wont_fix"
    RESOLVED = "resolved"

    @property
    def is_staff_decision(self) -> bool:
        return self in (FlagStatus.ACKNOWLEDGED, FlagStatus.WONT_FIX)


class ChangeKind(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    REOPENED = "reopened"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class KnownFlag:
    """What the state store keeps of a flag: identifiers and digests only, no text."""

    fingerprint: str
    check_id: str
    severity: Severity
    subject_kind: SubjectKind
    subject_id: str
    project_id: str | None
    facts_digest: str
    status: FlagStatus
    first_seen: date
    last_seen: date

    @classmethod
    def from_flag(cls, flag: Flag, status: FlagStatus, first_seen: date, last_seen: date) -> KnownFlag:
        return cls(
            fingerprint=flag.fingerprint,
            check_id=flag.check_id,
            severity=flag.severity,
            subject_kind=flag.subject.kind,
            subject_id=flag.subject.id,
            project_id=flag.project_id,
            facts_digest=flag.facts_digest,
            status=status,
            first_seen=first_seen,
            last_seen=last_seen,
        )


@dataclass(frozen=True)
class FlagChange:
    """One flag to write back. ``flag`` is None only for a resolved flag (its text is gone)."""

    kind: ChangeKind
    known: KnownFlag
    """The state after this change is written (status, first and last seen)."""
    flag: Flag | None = None

    @property
    def fingerprint(self) -> str:
        return self.known.fingerprint


@dataclass
class Diff:
    changes: list[FlagChange] = field(default_factory=list)
    still_open: int = 0
    kept_by_staff: int = 0
    next_state: dict[str, KnownFlag] = field(default_factory=dict)
    """Everything to remember once all changes are written; see :meth:`state_after`."""

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in ChangeKind}
        for c in self.changes:
            out[c.kind.value] += 1
        out["still_open"] = self.still_open
        out["kept_by_staff"] = self.kept_by_staff
        return out

    def state_after(self, previous: Mapping[str, KnownFlag], failed: set[str]) -> dict[str, KnownFlag]:
        """The state to save when the writes of ``failed`` fingerprints did not happen.

        A failed write keeps its previous state, so the next run finds the same difference and
        tries again; nothing is recorded as written that was not.
        """
        out = dict(self.next_state)
        for fp in failed:
            if fp in previous:
                out[fp] = previous[fp]
            else:
                out.pop(fp, None)
        return out


def diff_flags(
    previous: Mapping[str, KnownFlag],
    current: Sequence[Flag],
    staff_statuses: Mapping[str, FlagStatus],
    run_date: date,
) -> Diff:
    """Compare the flags raised now with what was known, taking staff decisions into account."""
    result = Diff()
    seen: set[str] = set()
    for flag in current:
        fp = flag.fingerprint
        if fp in seen:
            continue  # the same problem raised twice in one run is one flag
        seen.add(fp)
        before = previous.get(fp)
        staff = staff_statuses.get(fp)
        if before is None or before.status is FlagStatus.RESOLVED:
            kind = ChangeKind.NEW if before is None else ChangeKind.REOPENED
            first = run_date if before is None else before.first_seen
            known = KnownFlag.from_flag(flag, FlagStatus.OPEN, first, run_date)
            result.changes.append(FlagChange(kind, known, flag))
        elif before.facts_digest != flag.facts_digest:
            known = KnownFlag.from_flag(flag, FlagStatus.OPEN, before.first_seen, run_date)
            result.changes.append(FlagChange(ChangeKind.CHANGED, known, flag))
        else:
            status = staff if staff is not None and staff.is_staff_decision else before.status
            if staff is FlagStatus.OPEN and before.status.is_staff_decision:
                status = FlagStatus.OPEN  # staff took their acknowledgement back in the tool
            known = KnownFlag.from_flag(flag, status, before.first_seen, run_date)
            if status.is_staff_decision:
                result.kept_by_staff += 1
            else:
                result.still_open += 1
            result.next_state[fp] = known
            continue
        result.next_state[fp] = known
    for fp, before in previous.items():
        if fp in seen:
            continue
        if before.status is FlagStatus.RESOLVED:
            result.next_state[fp] = before
            continue
        known = replace(before, status=FlagStatus.RESOLVED, last_seen=run_date)
        result.changes.append(FlagChange(ChangeKind.RESOLVED, known, None))
        result.next_state[fp] = known
    return result
