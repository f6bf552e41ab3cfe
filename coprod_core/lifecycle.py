"""The flag lifecycle: what changed since the last run, so only the difference is written back.

Pure: it takes what the state store remembers (ids, fingerprints, digests, statuses, dates; never
names or answers), the flags raised now and the statuses staff set in their tool, and returns the
changes to write and the state to remember once they are written.

Rules (DESIGN.md, "A flag"):
- raised now, never seen or resolved before: *new* (or *reopened*) -> written;
- raised now, open before with the same facts: *still open* -> nothing written;
- raised now with different facts: *changed* -> written, and an acknowledgement is lifted;
- acknowledged or "won't fix" by staff with the same facts: kept, never overwritten;
- not raised any more but open or acknowledged before: *resolved* -> written;
- not raised any more and about a person no longer in the people list, or naming one (a session's
  hours flag lists people), resolved now or before: *removed* -> written once, replacing the words
  that say who (:mod:`coprod_core.removed`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from coprod_core.flags import Flag, Severity, SubjectKind
from coprod_core.removed import REMOVED_DIGEST, PeopleRead
from coprod_core.spreadsheet_numbers import looks_like_a_number, number_made_of


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    WONT_FIX = "wont_fix"
    RESOLVED = "resolved"

    @property
    def is_staff_decision(self) -> bool:
        return self in (FlagStatus.ACKNOWLEDGED, FlagStatus.WONT_FIX)


STATUS_WORDS: dict[FlagStatus, str] = {
    FlagStatus.OPEN: "open",
    FlagStatus.ACKNOWLEDGED: "acknowledged",
    FlagStatus.WONT_FIX: "won't fix",
    FlagStatus.RESOLVED: "resolved",
}
"""How coprod writes each status where staff read it (the flags file, the Flags tab)."""

_STATUS_READINGS: dict[str, FlagStatus] = {
    "open": FlagStatus.OPEN,
    "reopen": FlagStatus.OPEN,
    "reopened": FlagStatus.OPEN,
    "acknowledged": FlagStatus.ACKNOWLEDGED,
    "acknowledge": FlagStatus.ACKNOWLEDGED,
    "ack": FlagStatus.ACKNOWLEDGED,
    "acked": FlagStatus.ACKNOWLEDGED,
    "seen": FlagStatus.ACKNOWLEDGED,
    "wont fix": FlagStatus.WONT_FIX,
    "wontfix": FlagStatus.WONT_FIX,
    "will not fix": FlagStatus.WONT_FIX,
    "not fixing": FlagStatus.WONT_FIX,
    "resolved": FlagStatus.RESOLVED,
}
"""Every word coprod reads in a status cell, after :func:`_status_key`. ``open`` is how staff take
an acknowledgement back; ``resolved`` is what coprod writes when the data no longer shows a problem
(staff typing it on a flag still raised is reported, see :func:`status_warnings`)."""

STAFF_STATUS_WORDS = "acknowledged, won't fix (ack, seen and wontfix too) or open"
"""The words to offer staff when theirs was not understood."""


def _status_key(text: str) -> str:
    lowered = text.strip().casefold().replace("’", "").replace("'", "")
    return " ".join(re.sub(r"[_\-]+", " ", lowered).split())


def read_status(text: str) -> FlagStatus | None:
    """What a status cell means, forgiving capitals, apostrophes, dashes and spaces; None if not
    a status coprod knows (or blank)."""
    return _STATUS_READINGS.get(_status_key(text))


class UnreadStatus(NamedTuple):
    """A status staff set that coprod does not understand, and where (never the flag's text)."""

    where: str
    """The row or record: "coprod-flags.csv row 5", "Flags tab row 7", "flag Activity 123"."""
    word: str
    """What it says, as typed."""
    accepted: str = STAFF_STATUS_WORDS
    """What would have been understood there."""


class StaffStatuses(dict[str, FlagStatus]):
    """fingerprint -> the status staff set, as connectors read it back; with where each was read
    and the words that were not understood, so a run can say which rows it ignored and why.

    Every connector reads staff statuses through :meth:`read`, so the words mean the same in a
    CSV file, a Google Sheet and CiviCRM."""

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, str] = {}
        self.unread: list[UnreadStatus] = []
        self.numbers: list[str] = []
        """Places whose Fingerprint a spreadsheet turned into a number, found for their flags."""
        self.numbers_unmatched: list[str] = []
        """Places whose Fingerprint a spreadsheet turned into a number, matching no one flag."""

    def read(
        self,
        fingerprint: str,
        text: str,
        where: str,
        *,
        readings: Mapping[str, FlagStatus] | None = None,
        accepted: str = STAFF_STATUS_WORDS,
    ) -> FlagStatus | None:
        """Read one status as typed. ``readings`` replaces the word list where the tool has its own
        fixed names (CiviCRM's activity statuses); they are then matched exactly."""
        word = text.strip()
        if not fingerprint or not word:
            return None
        status = readings.get(word) if readings is not None else read_status(word)
        if status is None:
            self.unread.append(UnreadStatus(where, word, accepted))
            return None
        self[fingerprint] = status
        self.where[fingerprint] = where
        return status

    def restore_numbers(self, known: Collection[str]) -> set[str]:
        """Statuses read under a Fingerprint a spreadsheet turned into a number, taken for the flag
        it was, among those ``known`` (:mod:`coprod_core.spreadsheet_numbers`); a status read under
        the flag's own fingerprint wins. Returns the fingerprints found so (their rows are written
        again with the fingerprint as it was)."""
        found: set[str] = set()
        for cell in [fp for fp in self if fp not in known]:
            was = number_made_of(cell, known)
            if was is None:
                if looks_like_a_number(cell):
                    self.numbers_unmatched.append(f"{self.where.get(cell, cell)} says '{cell[:30]}'")
                continue
            status, where = self.pop(cell), self.where.pop(cell, cell)
            self.numbers.append(f"{where} says '{cell[:30]}'")
            found.add(was)
            if was not in self:
                self[was] = status
                self.where[was] = where
        return found

    def merge(self, other: Mapping[str, FlagStatus]) -> None:
        """Add another source's statuses (a plain mapping, or StaffStatuses with its places)."""
        self.update(other)
        if isinstance(other, StaffStatuses):
            self.where.update(other.where)
            self.unread.extend(other.unread)
            self.numbers.extend(other.numbers)
            self.numbers_unmatched.extend(other.numbers_unmatched)


class ChangeKind(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    REMOVED = "removed"
    """Resolved (now, or on an earlier run) because the person it was about is no longer in the
    people list: written once more, with the words that said who replaced (``coprod_core.removed``)."""


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
    """The flag's facts digest; :data:`~coprod_core.removed.REMOVED_DIGEST` once a resolved flag's
    words were replaced because its person left the people list (see :attr:`words_removed`)."""
    status: FlagStatus
    first_seen: date
    last_seen: date
    named: frozenset[str] = frozenset()
    """The IDs of people its words name besides its subject (:attr:`Flag.named`): ids, never names,
    so a run can tell that a session's flag naming someone who left the people list must lose its
    words, even once the flag itself is no longer raised."""

    @property
    def words_removed(self) -> bool:
        """The words that said who this flag was about were replaced (it is resolved)."""
        return self.status is FlagStatus.RESOLVED and self.facts_digest == REMOVED_DIGEST

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
            named=frozenset(flag.named),
        )


class FlagChange(NamedTuple):
    """One flag to write back. ``flag`` is None only for a resolved or removed flag (its text is
    gone)."""

    kind: ChangeKind
    known: KnownFlag
    """The state after this change is written (status, first and last seen)."""
    flag: Flag | None = None

    @property
    def fingerprint(self) -> str:
        return self.known.fingerprint


@dataclass
class Diff:
    """What a run changes in the flags staff see (written back, then remembered), and the counts its
    summary gives."""

    changes: list[FlagChange] = field(default_factory=list)
    still_open: int = 0
    kept_by_staff: int = 0
    closed_as_removed: int = 0
    """Of the :attr:`ChangeKind.REMOVED` changes, the flags about a person open until this run: closed
    because their person left the people list, not because the data resolved them (those of flags
    resolved before only lose their words). The run's summary counts them beside the resolved ones,
    which read "0 resolved" of a run that had just closed a removed person's flags."""
    closed_as_named_removed: int = 0
    """The same for flags about a session (the hours flag), open until this run and closed because
    someone their words named left the people list: not about a person, so not counted as "closed as
    their person was removed" but on their own ("closed as someone they named was removed")."""
    removed_people: set[str] = field(default_factory=set)
    """The IDs of the people whose flags' words this run replaces because they are no longer in the
    people list: their number is in the run's summary, so staff notice one they did not expect (a
    CiviCRM key that lost sight of some contacts looks the same as their deletion)."""
    resolved_by_staff: list[str] = field(default_factory=list)
    """Fingerprints staff marked resolved though the flag is still raised (left open, reported)."""
    next_state: dict[str, KnownFlag] = field(default_factory=dict)
    """Everything to remember once all changes are written; see :meth:`state_after`."""

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in ChangeKind}
        for c in self.changes:
            out[c.kind.value] += 1
        out["closed_as_removed"] = self.closed_as_removed
        out["closed_as_named_removed"] = self.closed_as_named_removed
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
    people: PeopleRead | None = None,
) -> Diff:
    """Compare the flags raised now with what was known, taking staff decisions into account.

    ``people``: whom the people list named, read whole (a sync's full read). A flag no longer raised
    whose person is not in it is *removed*: resolved, its words that say who replaced, once. Without
    it (a webhook's re-check of a part) flags only resolve, and the next sync removes the words."""
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
            if staff is FlagStatus.RESOLVED:
                result.resolved_by_staff.append(fp)  # only the data resolves a flag
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
        gone = people.gone(before.subject_kind, before.subject_id, before.named) if people else set()
        removed = bool(gone)
        if before.status is FlagStatus.RESOLVED:
            if removed and not before.words_removed:  # resolved before the person left the list
                known = replace(before, facts_digest=REMOVED_DIGEST)
                result.changes.append(FlagChange(ChangeKind.REMOVED, known, None))
                result.removed_people |= gone
            else:
                known = before
            result.next_state[fp] = known
            continue
        known = replace(before, status=FlagStatus.RESOLVED, last_seen=run_date)
        if removed:
            known = replace(known, facts_digest=REMOVED_DIGEST)
            result.removed_people |= gone
            if before.subject_kind is SubjectKind.PERSON:
                result.closed_as_removed += 1
            else:
                result.closed_as_named_removed += 1
        result.changes.append(FlagChange(ChangeKind.REMOVED if removed else ChangeKind.RESOLVED, known, None))
        result.next_state[fp] = known
    return result


def people_known(previous: Mapping[str, KnownFlag]) -> frozenset[str]:
    """The IDs of people coprod knew in the people list, as its state remembers them: each person a
    flag was about, and each a session's flag named (:attr:`KnownFlag.named`). Whoever of them a
    row names but the list no longer holds was removed from it (:class:`~coprod_core.mapping.Refs`)."""
    out: set[str] = set()
    for known in previous.values():
        if known.subject_kind is SubjectKind.PERSON:
            out.add(known.subject_id)
        out.update(known.named)
    return frozenset(out)


def status_warnings(staff: StaffStatuses, diff: Diff | None = None, *, shown: int = 5) -> list[str]:
    """One warning per kind of status staff set that the run could not honour, naming the rows
    (at most ``shown`` of them) and the words that would work. Never a flag's own text."""

    def rows(places: Sequence[str]) -> str:
        more = f" and {len(places) - shown} more" if len(places) > shown else ""
        return "; ".join(places[:shown]) + more

    out = []
    by_accepted: dict[str, list[UnreadStatus]] = {}
    for unread in staff.unread:
        by_accepted.setdefault(unread.accepted, []).append(unread)
    for accepted, group in by_accepted.items():
        places = [f"{u.where} says '{u.word[:40]}'" for u in group]
        out.append(
            f"{len(group)} flag status(es) not understood, so those flags stay as they were (open "
            f"unless marked before): {rows(places)}. The statuses coprod understands: {accepted}."
        )
    if staff.numbers:
        out.append(
            f"{len(staff.numbers)} Fingerprint(s) turned into a number by a spreadsheet program, which "
            f"reads a fingerprint made of digits as one: {rows(staff.numbers)}. coprod found the flag "
            "each was and took the status set there, and writes the fingerprint back as it was. To keep "
            "them as written, open the file with that column as text (in Excel: Data > From Text/CSV, "
            "then set the Fingerprint column to Text)."
        )
    if staff.numbers_unmatched:
        out.append(
            f"{len(staff.numbers_unmatched)} Fingerprint(s) turned into a number by a spreadsheet "
            f"program match no one flag coprod knows, so the status set there was not read: "
            f"{rows(staff.numbers_unmatched)}. Set it again on the flag's row once a run writes it."
        )
    if diff is not None and diff.resolved_by_staff:
        places = [staff.where.get(fp, f"flag {fp}") for fp in diff.resolved_by_staff]
        out.append(
            f"{len(places)} flag(s) marked 'resolved' though the problem is still there, so they stay "
            f"open: {rows(places)}. coprod marks a flag resolved itself once the data no longer "
            "shows the problem; to close one yourself, set it to acknowledged or won't fix."
        )
    return out
