"""The co-production checks. Each module is one check with a stable id and a ``run`` function.

A check is a pure function ``run(dataset, settings, run_date) -> list[Flag]``: no I/O, no clock.
Each declares its rules (``coprod_core.rules``) and raises its flags through them. Two modules are
not checks run here: ``data_quality`` declares the rules the mapping raises (and one the payments
check raises, hours above a session's length), and ``decisions`` holds what several checks read
about decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import NamedTuple

from coprod_core.alongside import Alongside, in_turn
from coprod_core.checks import consultation, feedback, payments, recruitment, representation, support, values
from coprod_core.checks.attendance import VoiceAttendance
from coprod_core.checks.consultation import Assessment
from coprod_core.checks.representation import ProjectProfile
from coprod_core.collector import collector_paused
from coprod_core.flags import Flag, sort_flags
from coprod_core.model import Dataset
from coprod_core.settings import CheckSettings

Check = Callable[[Dataset, CheckSettings, date], list[Flag]]

CHECKS: dict[str, Check] = {
    representation.CHECK_ID: representation.run,
    payments.CHECK_ID: payments.run,
    consultation.CHECK_ID: consultation.run,
    feedback.CHECK_ID: feedback.run,
    support.CHECK_ID: support.run,
    recruitment.CHECK_ID: recruitment.run,
    values.CHECK_ID: values.run,
}


class Checked(NamedTuple):
    """What one run of the checks found: the flags, and where every project stands on the ladder."""

    flags: list[Flag]
    placements: list[Assessment]
    """Every project's placement, flagged or not, by project id (from one pass over the attendance)."""
    profiles: list[ProjectProfile]
    """Every project's representation profile (who took part, against the baseline), by project id."""


def check_all(
    dataset: Dataset, settings: CheckSettings, run_date: date, alongside: Alongside = in_turn
) -> Checked:
    """Run every check once. The attendance register is read once, by the payments check's pass
    (:func:`payments.read_register`), which gathers the voice-role people's hours as it goes for the
    checks that need them (representation too); the consultation check's placements are kept for
    the caller too.

    The payment flags, most of the checks' time, are begun first (:func:`payments.flags_started`),
    so that pieces of them can be worked out ``alongside`` the other checks (:mod:`coprod_core.
    alongside`); the flags are the same either way."""
    register = payments.read_register(dataset, settings, run_date)
    payment_flags = payments.flags_started(dataset, settings, run_date, register, alongside)
    with collector_paused():
        voice = VoiceAttendance.of_register(register, settings, run_date)
    placements = consultation.assess_all(dataset, settings, run_date, voice)
    shared: dict[str, Callable[..., list[Flag]]] = {
        feedback.CHECK_ID: feedback.run,
        support.CHECK_ID: support.run,
        recruitment.CHECK_ID: recruitment.run,
    }
    found: dict[str, list[Flag]] = {}
    profiles: list[ProjectProfile] = []
    for check_id, check in CHECKS.items():
        if check_id == consultation.CHECK_ID:
            found[check_id] = consultation.flags_for(placements)
        elif check_id == representation.CHECK_ID:
            judged = representation.judge(dataset, settings, run_date, voice)
            found[check_id] = judged.flags
            profiles = judged.profiles
        elif check_id == payments.CHECK_ID:
            continue  # last, below: its pieces alongside have had the other checks' time
        elif check_id in shared:
            found[check_id] = shared[check_id](dataset, settings, run_date, voice)
        else:
            found[check_id] = check(dataset, settings, run_date)
    found[payments.CHECK_ID] = payment_flags()
    flags = [flag for check_id in CHECKS for flag in found[check_id]]
    return Checked(flags=sort_flags(flags), placements=placements, profiles=profiles)


def run_checks(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """Run every check and return their flags in a stable order (most severe first)."""
    return check_all(dataset, settings, run_date).flags
