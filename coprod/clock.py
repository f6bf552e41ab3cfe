"""What date it is for the organisation a recipe belongs to.

Everything coprod judges is judged "as of" a date: how many days a payment has been unpaid, which
sessions have been held, whether feedback is late. That date is today where the organisation is,
not where the server is. A server kept in UTC, as most hosted machines are, is an hour behind a UK
charity all summer: a cron run or a webhook re-check between 23:00 and midnight UTC would judge as
of yesterday, and a payment due "within 30 days" would become overdue a day late or a flag come
back for a day. So a recipe may name its time zone (``timezone = "Europe/London"``); without one,
the machine's own clock and zone decide, as before.

The zone names are IANA's (``Europe/London``, ``Africa/Nairobi``), read by :mod:`zoneinfo` from the
system's tz database or, where the system has none (Windows, slim containers), from the ``tzdata``
package coprod depends on. ``coprod_core`` never reads a clock: the date is worked out here and
handed to it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINTER, SUMMER = datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12)
"""Two days half a year apart: a zone whose offset is the same on both keeps no summer time."""


def now() -> datetime:
    """The current instant, in UTC (one place, so tests can stand the clock still)."""
    return datetime.now(UTC)


def today(timezone: str | None) -> date:
    """Today's date in ``timezone`` (an IANA name a recipe gave, already checked by
    :func:`zone_problem`), or in the machine's own zone when it is None."""
    instant = now()
    if timezone is None:
        return instant.astimezone().date()
    return instant.astimezone(ZoneInfo(timezone)).date()


def zone_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a recipe's ``timezone``, in words for staff; None if it names
    a time zone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: not a zone's name at all (an absolute path, '..'), which zoneinfo refuses
        # before looking it up.
        return (
            f"'{name}' is not a time zone name this machine knows; use a name from the IANA time "
            'zone list, such as "Europe/London" (England, Scotland, Wales and Northern Ireland) or '
            '"Europe/Dublin", with the capitals as written there'
        )
    return None


def zone_note(name: str) -> str | None:
    """A word for staff about a known zone that is likely not what they meant, or None.

    ``GMT`` and ``UTC`` are valid names, but they never move for summer time: written by someone in
    the UK, they bring back the hour behind that the setting is there to remove. Only names of no
    place (no ``/``, or ``Etc/...``) are named; ``Africa/Accra`` keeps GMT all year and means it."""
    if "/" in name and not name.startswith("Etc/"):
        return None
    zone = ZoneInfo(name)
    winter, summer = WINTER.replace(tzinfo=zone), SUMMER.replace(tzinfo=zone)
    if winter.utcoffset() != summer.utcoffset():
        return None
    return (
        f"timezone '{name}' keeps the same time all year; if you work in the UK, "
        '"Europe/London" moves to summer time as the clocks do (or name your own area\'s zone)'
    )
