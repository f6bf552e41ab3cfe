"""Data quality (check id ``data_quality``): rows and values the mapping could not use.

These flags are raised by the mapping (``coprod_core.mapping``), not by a check over the dataset:
a value that cannot be read is found where it is read. They are declared here, beside the other
rules, so that ``coprod rules`` and ``coprod explain`` document them the same way. One is raised
where two values meet rather than where one is read: ``hours_over_session`` (someone's hours
above the session's own length), by the payments ledger's pass over the register
(``coprod_core.checks.payments.ledger``), which has both at hand as it works out each fee.

**Why it matters.** A row coprod cannot read is a person, a session or a payment the other checks
cannot see: a payment owed looks paid, a decision looks unattended. Saying where (file or tab,
row, column) and what was expected lets staff fix it at the source, and nothing is dropped
silently.
"""

from __future__ import annotations

from coprod_core.flags import Severity
from coprod_core.rules import Rule, declare

CHECK_ID = "data_quality"

_WHY = """A row or value coprod cannot read is invisible to every other check: a payment owed looks
paid, a decision looks unattended. Nothing is dropped silently."""
_SOURCE = "coprod's own rule: every row is accounted for (read, used or rejected with a flag)"

RULES: dict[str, Rule] = {
    "bad_value": declare(
        "data_quality.bad_value",
        "Value not understood",
        Severity.WARNING,
        what="""A cell's value is not one coprod can read for its field (a date, a number of hours, an
        amount, yes or no, one of a list of values); the row is used without it, or not used when the
        field is required.""",
        why=_WHY,
        source=_SOURCE,
        action="""Fix the cell, or add the value to the recipe's values map for the field (for example
        "Service user" = "lived_experience").""",
    ),
    "too_many_hours": declare(
        "data_quality.too_many_hours",
        "Hours too many for one session",
        Severity.WARNING,
        what="""A number of hours (a session's length, someone's hours at it, or their preparation for
        it) is more than one session can take (default more than 24: [settings.data_quality]
        max_session_hours). It is not counted towards payment until it is corrected: an attendance
        counts as the whole session, without that preparation; a session is kept with its length
        unknown, and no fee is worked out from it.""",
        why="""A typo in hours (30 for 3.0, minutes typed as hours) would make the charity owe
        someone thousands: a payment owed that is not owed hides the ones that are.""",
        source=_SOURCE,
        action="""Fix the cell (write minutes as 90 min); for residential sessions longer than a day,
        raise max_session_hours in the recipe's [settings.data_quality].""",
    ),
    "hours_over_session": declare(
        "data_quality.hours_over_session",
        "Hours more than the session lasted",
        Severity.WARNING,
        what="""Register rows give people more hours at a session held by the run date than the
        session itself lasted (its length in the sessions list), by more than [settings.data_quality]
        hours_over_session_allowed (default 0), whoever's rows they are: a fee may be worked out from
        them; the consultation check counts such a row only up to the session's length and that
        allowance in the share of time people in a voice role spent in consultation (paid or not,
        with or without a payment policy), and its evidence lists the sessions it did so for.
        Hours are compared in whole minutes (each rounded to the nearest minute): 1:20 is read as
        1.33 hours, and a row typing the same time as 1.34 is not over it, while a row one minute
        longer is. One flag for the session, however many rows: it says how many people and the
        largest difference (in minutes when under an hour), and its evidence lists each person's ID and
        hours. Only where both are recorded: a row with no hours of its own counts as the whole
        session, and a session whose length is unknown, or recorded as 0 hours, is not compared. Preparation hours are separate and
        never compared. The fees stay as recorded; the flag says which are worked out from the hours
        recorded, which do not change because the policy's minimum paid time is at least the hours
        recorded (with any preparation counted), and which people are not paid a fee for the
        session.""",
        why="""A fee is hours x rate, so 5 hours recorded at a 2-hour session pays for 3 hours the
        session did not last, and nobody is told; counted as recorded, the same hours, paid or not,
        would tip the share of people's time spent in consultation. Either the row or the session's length is wrong; pay is
        not held back for a data entry slip staff can fix.""",
        source="coprod's own rule: the hours someone gave a session are hours the session lasted",
        action="""Correct the hours on the register rows the flag lists, or the session's length if
        that is what is wrong (a session that ran late); if people routinely stay on a little,
        raise hours_over_session_allowed in the recipe's [settings.data_quality].""",
        needs="""Hours on the register rows (an hours column) and the sessions' lengths; without them
        there is nothing to compare.""",
    ),
    "repeated_headings": declare(
        "data_quality.repeated_headings",
        "Column headings repeated",
        Severity.WARNING,
        what="""A row below the first repeats the column headings (as happens when two exports are
        pasted together, headings and all); the row is skipped, and the rows around it are read.""",
        why=_WHY,
        source=_SOURCE,
        action="Delete the repeated headings row from the file or tab.",
    ),
    "missing_value": declare(
        "data_quality.missing_value",
        "Value missing",
        Severity.WARNING,
        what="A required field is empty on a row (or a session has no project when there are several).",
        why=_WHY,
        source=_SOURCE,
        action="Fill in the cell, or give a default for the field in the recipe.",
    ),
    "unknown_person": declare(
        "data_quality.unknown_person",
        "Unknown person",
        Severity.WARNING,
        what="""A row (attendance, payment, a project's decision group or co-chairs, in a projects list
        or a [[projects]] of the recipe) names a person ID that is not in the people list. A row naming someone coprod knew in the list before (it
        flagged them, or named them in a session's flag) says it belongs to someone removed from the
        list, as when a person asks for their data to be deleted.""",
        why=_WHY,
        source=_SOURCE,
        action="""Fix the ID, or add the person to the people list. For someone removed at their request,
        delete their attendance and payment rows, or mark the flag won't fix where the charity must
        keep a payment record (in CiviCRM, mark its activity Cancelled; KoboToolbox has no won't fix:
        edit the submission and remove them from it, or delete it where the submission is the row
        itself, such as a payment; with write_back = false coprod writes no flag to mark, so delete
        the rows), and take their ID out of a project's decision group and co-chairs.""",
    ),
    "unknown_session": declare(
        "data_quality.unknown_session",
        "Unknown session",
        Severity.WARNING,
        what="An attendance or payment row names a session ID that is not in the sessions list.",
        why=_WHY,
        source=_SOURCE,
        action="Fix the ID, or add the session to the sessions list.",
    ),
    "unknown_project": declare(
        "data_quality.unknown_project",
        "Unknown project",
        Severity.WARNING,
        what="A session names a project ID that is not one of the projects.",
        why=_WHY,
        source=_SOURCE,
        action="Fix the cell, or add the project to the recipe or the projects list.",
    ),
    "duplicate_id": declare(
        "data_quality.duplicate_id",
        "Duplicate ID",
        Severity.WARNING,
        what="""Two rows share an ID (person, project, session, payment) or an attendance is recorded
        twice; the first row is used and the repeat is not.""",
        why=_WHY,
        source=_SOURCE,
        action="Remove the duplicate row, or give one of them its own ID.",
    ),
    "negative_amount": declare(
        "data_quality.negative_amount",
        "Negative payment",
        Severity.WARNING,
        what="A payment's amount is below zero; the payment is not used.",
        why=_WHY,
        source=_SOURCE,
        action="""If it is a refund or a correction, take it off the payment it corrects; otherwise fix
        the cell.""",
    ),
}
"""The mapping's problems by name, each a rule."""
