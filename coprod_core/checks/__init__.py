"""The co-production checks. Each module is one check with a stable id and a ``run`` function.

A check is a pure function ``run(dataset, settings, run_date) -> list[Flag]``: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from coprod_core.checks import consultation, payments, representation
from coprod_core.flags import Flag, sort_flags
from coprod_core.model import Dataset
from coprod_core.settings import CheckSettings

Check = Callable[[Dataset, CheckSettings, date], list[Flag]]

CHECKS: dict[str, Check] = {
    representation.CHECK_ID: representation.run,
    payments.CHECK_ID: payments.run,
    consultation.CHECK_ID: consultation.run,
}


def run_checks(dataset: Dataset, settings: CheckSettings, run_date: date) -> list[Flag]:
    """Run every check and return their flags in a stable order (most severe first)."""
    flags: list[Flag] = []
    for check in CHECKS.values():
        flags.extend(check(dataset, settings, run_date))
    return sort_flags(flags)
