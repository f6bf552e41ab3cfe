"""Who in a voice role took part in each session held so far: one pass over the attendance rows,
shared by every check that needs it.

The attendance register is the largest table (200,000 rows in the benchmark); the representation,
consultation, feedback, support and recruitment checks all ask the same question of it, so
:func:`check_all` reads it once and hands the answer to each. A check run on its own builds it
itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from coprod_core.model import Dataset, Role


@dataclass(frozen=True)
class VoiceAttendance:
    run_date: date
    voice_roles: frozenset[Role]
    voice_ids: frozenset[str]
    """Everyone in the people list holding a voice role."""
    hours: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> hours they gave it, for sessions held by the run date with
    any of them (a person recorded twice at one session counts once, at the longer time)."""

    @classmethod
    def build(cls, dataset: Dataset, run_date: date, voice_roles: frozenset[Role]) -> VoiceAttendance:
        held: dict[str, Decimal] = {s.id: s.hours for s in dataset.sessions if s.date <= run_date}
        voice_ids = frozenset(p.id for p in dataset.people if p.has_any_role(voice_roles))
        found: dict[str, dict[str, Decimal]] = defaultdict(dict)
        get_held = held.get
        # Attendance's fields unpacked, not read by name: this loop runs once per register row.
        for pid, sid, hours, _, _ in dataset.attendance:
            if pid not in voice_ids:
                continue
            h = get_held(sid)
            if h is None:
                continue  # not a session, or not held yet
            if hours is not None:
                h = hours
            mine = found[sid]
            old = mine.setdefault(pid, h)
            if old is not h and h > old:
                mine[pid] = h
        return cls(run_date=run_date, voice_roles=voice_roles, voice_ids=voice_ids, hours=dict(found))

    def fits(self, run_date: date, voice_roles: frozenset[Role]) -> bool:
        """Built for this run date and these voice roles (a caller's index is only used if so)."""
        return self.run_date == run_date and self.voice_roles == voice_roles

    def people_at(self, session_id: str) -> dict[str, Decimal]:
        """The voice-role people at a held session, with their hours (empty when none)."""
        return self.hours.get(session_id, {})


def voice_attendance(
    dataset: Dataset, run_date: date, voice_roles: frozenset[Role], given: VoiceAttendance | None
) -> VoiceAttendance:
    """``given`` when it was built for this run, else a new one."""
    if given is not None and given.fits(run_date, voice_roles):
        return given
    return VoiceAttendance.build(dataset, run_date, voice_roles)
