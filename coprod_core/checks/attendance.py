"""Who in a voice role took part in each session held so far: one pass over the attendance rows,
shared by every check that needs it.

The attendance register is the largest table (200,000 rows in the benchmark); the representation,
consultation, feedback, support and recruitment checks all ask the same question of it, and the
payments check reads every row of it too, so :func:`check_all` reads it once, in the payments
check's pass (:func:`~coprod_core.checks.payments.read_register`), which gathers the answer as it
goes (:meth:`VoiceAttendance.of_register`), and hands it to each. A check run on its own builds it
itself (:meth:`VoiceAttendance.build`).

The hours are the consultation check's (the share of their time people spent in consultation): a
row giving more than its session lasted (``data_quality.hours_over_session``, a typo such as 10 for
1.0) counts only what the session's length and the allowance allow, compared as the payments check
compares them (:class:`~coprod_core.checks.payments.ledger.Length`), and is kept in ``over`` so the
check can say which rows it counted so. The other checks read only who attended.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import NamedTuple

from coprod_core.checks.payments import Register
from coprod_core.checks.payments.ledger import Length, PolicyLess, Scan, scan_without_policy
from coprod_core.model import Dataset, Role, Session
from coprod_core.settings import CheckSettings

ZERO = Decimal(0)


class VoiceAttendance(NamedTuple):
    """Who in a voice role took part in which session, and for how long, read once for every check
    that asks."""

    run_date: date
    voice_roles: frozenset[Role]
    voice_ids: frozenset[str]
    """Everyone in the people list holding a voice role."""
    hours: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> hours they gave it, for sessions held by the run date with
    any of them (a person recorded twice at one session counts once, at the longer time), capped:
    where that time is more than the session's length allows, the length and allowance."""
    hours_over_allowed: Decimal
    """The allowance over a session's length the hours were capped with (``[settings.data_quality]
    hours_over_session_allowed``)."""
    over: dict[str, dict[str, Decimal]]
    """Session id -> voice-role person -> the hours their register row gave (the larger of their
    rows), where that was more than the session's length allows: ``hours`` counts less."""

    @classmethod
    def build(
        cls, dataset: Dataset, run_date: date, voice_roles: frozenset[Role], *, hours_over_allowed: Decimal
    ) -> VoiceAttendance:
        """A pass of its own over the register, for a check run on its own: the one the payments
        check makes where there is no policy (:func:`~coprod_core.checks.payments.ledger.
        scan_without_policy`: who in a voice role attended each held session, with their hours, and
        the rows over a session's length), taken as :meth:`of_register` takes the payments pass."""
        sessions = dataset.sessions_by_id()
        found = scan_without_policy(
            dataset, voice_roles, run_date, dataset.people_by_id(), sessions, hours_over_allowed
        )
        return cls._of(found, sessions, run_date, voice_roles, hours_over_allowed)

    @classmethod
    def of_register(cls, register: Register, settings: CheckSettings, run_date: date) -> VoiceAttendance:
        """What :meth:`for_run` builds, from the payments check's pass over the register
        (:func:`~coprod_core.checks.payments.read_register`), which gathers the voice-role people's
        hours as it goes: a run of all the checks reads the register once."""
        found, _, sessions = register
        allowed = settings.data_quality.hours_over_session_allowed
        return cls._of(found, sessions, run_date, settings.voice_roles, allowed)

    @classmethod
    def _of(
        cls,
        found: Scan | PolicyLess,
        sessions: dict[str, Session],
        run_date: date,
        voice_roles: frozenset[Role],
        allowed: Decimal,
    ) -> VoiceAttendance:
        """The voice-role hours a pass over the register found, capped where it found a row over
        the session's length (nobody's hours are above it anywhere else)."""
        hours = found.voice_hours
        lengths = {
            sid: sessions[sid].hours
            for sid in found.too_long
            if sid in hours and not sessions[sid].length_unknown
        }
        over: dict[str, dict[str, Decimal]] = {}
        if lengths:  # capped in copies: the pass keeps the hours as recorded
            hours = {**hours, **{sid: dict(hours[sid]) for sid in lengths}}
            over = _capped(hours, lengths, allowed)
        return cls(run_date, voice_roles, found.voice_ids, hours, allowed, over)

    @classmethod
    def for_run(cls, dataset: Dataset, settings: CheckSettings, run_date: date) -> VoiceAttendance:
        """Built with the settings' voice roles and allowance over a session's length, as one run
        of the checks shares it."""
        return cls.build(
            dataset,
            run_date,
            settings.voice_roles,
            hours_over_allowed=settings.data_quality.hours_over_session_allowed,
        )

    def fits(self, run_date: date, voice_roles: frozenset[Role]) -> bool:
        """Built for this run date and these voice roles (a caller's index is only used if so)."""
        return self.run_date == run_date and self.voice_roles == voice_roles

    def people_at(self, session_id: str) -> dict[str, Decimal]:
        """The voice-role people at a held session, with their hours (empty when none)."""
        return self.hours.get(session_id, {})


def _capped(
    found: dict[str, dict[str, Decimal]], lengths: dict[str, Decimal], allowed: Decimal
) -> dict[str, dict[str, Decimal]]:
    """Each person's hours at a session (``found``, the larger of their rows) above what its length
    (``lengths``: the sessions to look at, their length known) and the allowance allow, compared as
    ``data_quality.hours_over_session`` compares the same larger row (:class:`Length`), replaced by
    the length and allowance; returns the hours as recorded of those replaced, by session. Per
    session, not per row: one ``max`` of its hours (in C) finds the few sessions with any to look
    at. A length of 0 is not compared."""
    over: dict[str, dict[str, Decimal]] = {}
    for sid, length in lengths.items():
        mine = found.get(sid)
        if not length or not mine:
            continue
        most = length + allowed
        if max(mine.values()) <= most:
            continue
        compared = Length.of(length, allowed)
        for pid, hours in mine.items():
            if compared.exceeded_by(hours):
                over.setdefault(sid, {})[pid] = hours
        for pid in over.get(sid, ()):
            mine[pid] = most
    return over


def voice_attendance(
    dataset: Dataset,
    run_date: date,
    voice_roles: frozenset[Role],
    given: VoiceAttendance | None,
    hours_over_allowed: Decimal | None = None,
) -> VoiceAttendance:
    """``given`` when it was built for this run, else a new one. ``hours_over_allowed``: the
    allowance the hours must be capped with, for a check that reads them (the consultation check);
    None for one that reads only who attended."""
    if (
        given is not None
        and given.fits(run_date, voice_roles)
        and hours_over_allowed in (None, given.hours_over_allowed)
    ):
        return given
    allowed = ZERO if hours_over_allowed is None else hours_over_allowed
    return VoiceAttendance.build(dataset, run_date, voice_roles, hours_over_allowed=allowed)
