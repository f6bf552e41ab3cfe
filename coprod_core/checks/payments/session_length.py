"""``data_quality.hours_over_session``: register rows giving more hours than the session lasted.

A fee is hours x rate, worked out from the row's own hours when it gives them: 5 hours recorded at
a 2-hour session pays for 3 hours the session did not last. The register is wrong whether or not
anyone is paid for them (the consultation check counts such a row only up to the session's length
and the allowance, so staff see why its hours differ from the register), so every row is compared,
whoever's it is: the ledger finds them in its pass over the register as it works out the fees
(:attr:`~coprod_core.checks.payments.ledger.Scan.too_long`), or without a payment policy in the pass
that finds who took part (:func:`~coprod_core.checks.payments.ledger.scan_without_policy`); this
module says so, once per session (a wrong length would otherwise make a flag for every person at
it). The fees stay as recorded: pay is not held back from someone for a slip staff can correct.
Where the policy's minimum paid time is at least a row's hours and counted preparation, the fee is
that minimum whatever the row says: the message says the fee does not change, not that it is worked
out from the hours; where no fee is worked out from a row, it says nothing of one
(:class:`~coprod_core.checks.payments.ledger.FeeFrom`).

Hours are compared in whole minutes (:class:`~coprod_core.checks.payments.ledger.Length`): 1:20 is
read as 1.33 hours and the same time typed as a number may be 1.34, so comparing the hundredths
would flag someone as "0.01 hours over" when nobody made a mistake; one minute over is flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from coprod_core.checks.data_quality import RULES
from coprod_core.checks.payments.ledger import ZERO, FeeFrom, LongRow, minutes, num
from coprod_core.checks.payments.wording import MAX_LISTED, who
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.model import PaymentPolicy, Person, Session
from coprod_core.settings import CheckSettings
from coprod_core.text import hours, join

HOURS_OVER_SESSION = RULES["hours_over_session"]


def hours_over_session_flags(
    too_long: Mapping[str, list[LongRow]],
    sessions: Mapping[str, Session],
    people: dict[str, Person],
    settings: CheckSettings,
    policy: PaymentPolicy | None,
) -> list[Flag]:
    """One flag for each session with rows above its length, listing the rows (person ID, hours).
    ``policy``: its minimum paid hours in force on the session's date are named where they set a fee
    (none without a policy)."""
    allowed = settings.data_quality.hours_over_session_allowed
    flags: list[Flag] = []
    for session_id in sorted(too_long):
        session = sessions[session_id]
        its = policy.at(session.date) if policy is not None else None
        minimum = its.minimum_hours if its is not None else ZERO
        rows = too_long[session_id]
        length = session.hours
        most = max(rows, key=lambda r: r.hours).hours
        over = most - length
        lasted = (
            f"{hours(length)}, and your settings allow up to {hours(allowed)} more"
            if allowed
            else hours(length)
        )
        fees = _fees(rows, most, minimum)
        if len(rows) == 1:
            message = (
                f"{who(rows[0].person_id, people)} is recorded as attending the {session.label()} for "
                f"{hours(most)}, {excess(over)} more than the session lasted ({lasted}).{fees} Correct the "
                "hours on their register row, or the session's length if that is what is wrong."
            )
        else:
            named = [who(r.person_id, people) for r in rows[:MAX_LISTED]]
            if len(rows) > MAX_LISTED:
                named.append(f"{len(rows) - MAX_LISTED} more")
            message = (
                f"{len(rows)} people are recorded as attending the {session.label()} for more hours than "
                f"the session lasted ({lasted}): {join(named)}. The most is {hours(most)}, "
                f"{excess(over)} more.{fees} Correct the hours on their register rows, or the session's "
                "length if that is what is wrong."
            )
        listed = [
            {
                "person_id": r.person_id,
                "hours": num(r.hours),
                "over": num(r.hours - length),
                "fee": r.fee.value,
            }
            for r in rows
        ]
        flags.append(
            HOURS_OVER_SESSION.flag(
                subject=Subject(kind=SubjectKind.SESSION, id=session.id),
                message=message,
                evidence={
                    "entity": "attendance",
                    "field": "hours",
                    "session_id": session.id,
                    "session_date": session.date.isoformat(),
                    "session_hours": num(length),
                    "hours_over_session_allowed": num(allowed),
                    "minimum_hours": num(minimum),
                    "people": len(rows),
                    "most_hours": num(most),
                    "most_over": num(over),
                    "rows": listed,
                },
                # The same problem while the session is the same: a row added or corrected changes
                # its facts (an acknowledged flag is shown again), never its fingerprint.
                identity={},
                facts={"session_hours": num(length), "rows": [[r["person_id"], r["hours"]] for r in listed]},
                project_id=session.project_id,
                # Whom its words name: its message and evidence go once one of them leaves the
                # people list, as a flag about them would (coprod_core.removed).
                named=[r.person_id for r in rows],
            )
        )
    return flags


def excess(over: Decimal) -> str:
    """How much more than the session a row gives, as people say it: under an hour in whole minutes
    (``20 minutes``, ``1 minute``: a session typed 1.34 hours and a row 1.35 is "1 minute more", not
    "0.01 hours more"), else in hours (``3 hours``). The evidence keeps the hours."""
    if over >= 1:
        return hours(over)
    n = max(1, minutes(over))  # a row is flagged only a whole minute or more over
    return f"{n} minute" if n == 1 else f"{n} minutes"


def _fees(rows: list[LongRow], most: Decimal, minimum: Decimal) -> str:
    """What the rows' hours do to their fees, as a sentence (with a space before it): worked out from
    the hours recorded, or no change where the policy's minimum paid time sets the fee anyway; nothing
    where no fee is worked out from any of the rows (someone not paid for their time, a kind of session
    without a rate, no payment policy)."""
    from_hours = sum(r.fee is FeeFrom.HOURS for r in rows)
    at_minimum = sum(r.fee is FeeFrom.MINIMUM for r in rows)
    unpaid = len(rows) - from_hours - at_minimum
    paid_as_minimum = f"paid as the minimum of {hours(minimum)}"
    if len(rows) == 1:
        if from_hours:
            return f" Their fee is worked out from the {hours(most)} recorded."
        if at_minimum:
            return f" Their fee does not change: it is {paid_as_minimum}."
        return ""
    if from_hours == len(rows):
        return " Their fees are worked out from the hours recorded."
    if at_minimum == len(rows):
        return f" Their fees do not change: each is {paid_as_minimum}."
    if unpaid == len(rows):
        return ""
    groups = (
        (from_hours, "has their fee", "have their fees", "worked out from the hours recorded"),
        (at_minimum, "is", "are", paid_as_minimum),
        (unpaid, "is", "are", "not paid a fee for it"),
    )
    said: list[str] = []
    for n, one, many, what in groups:
        if n:
            counted = str(n) if said else f"{'One' if n == 1 else n} of them"
            said.append(f"{counted} {one if n == 1 else many} {what}")
    return f" {join(said)}."
