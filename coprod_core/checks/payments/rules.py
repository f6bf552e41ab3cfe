"""The rules the payments check raises (declared in the order `coprod rules` lists them)."""

from __future__ import annotations

from coprod_core.flags import Severity
from coprod_core.rules import declare

PAYMENT_SOURCE = "NIHR payment guidance for public involvement; NHS England 2022 guidance; SCIE (reciprocity)"

OWED = declare(
    "payments.owed",
    "Payment due",
    Severity.INFO,
    what="""Someone eligible is owed a fee (the policy's rate for the kind of session x the larger of
    the minimum paid time and hours + preparation) or an expenses claim for sessions held by the
    run date, still within the policy's pay-within days; payments are applied to a named session
    first, then oldest first. Where the policy changes from a date ([[policy.changes]]), each
    session is judged by the policy in force on its date: its rate, minimum, preparation, who is
    eligible, expenses and pay-within days.""",
    why="""People who give their time and expertise should be paid for it, promptly and at a fair
    rate; paying on time is part of treating them as partners.""",
    source=PAYMENT_SOURCE,
    action="Pay by the date the message gives, or record the payment if it has been made.",
)
OVERDUE = declare(
    "payments.overdue",
    "Payment overdue",
    Severity.WARNING,
    what="""Money owed (as for payments.owed) has been unpaid for longer than the policy's pay-within
    days (those of the policy in force on each session's date); the flag names the oldest unpaid
    session.""",
    why="""Late payments fall hardest on the people with least money, and quietly turn partners back
    into volunteers.""",
    source=PAYMENT_SOURCE,
    action="Pay what is owed, or record the payment here if it has already been made.",
    severity_note="critical after twice the pay-within days",
)
OVERPAID = declare(
    "payments.overpaid",
    "Paid more than owed",
    Severity.WARNING,
    what="""A person was paid more in fees (or in expenses) than the policy says they are owed, beyond
    the tolerance setting; payments of the same amount within 7 days are named as a possible
    duplicate.""",
    why="""An overpayment may have to be paid back, and can affect someone's benefits; a duplicate is
    easier to put right soon.""",
    source=PAYMENT_SOURCE,
    action="""Check with finance whether a payment was made twice or was for a session or hours not
    recorded here, and put it right with the person.""",
)
PAID_THOUGH_DECLINED = declare(
    "payments.paid_though_declined",
    "Paid though payment declined",
    Severity.WARNING,
    what="A fee was paid to someone whose payment preference is declined.",
    why="""People often decline payment because it could affect their benefits; paying them anyway can
    cost them more than it gives.""",
    source=PAYMENT_SOURCE,
    action="Check with them: stop the payments, or update their preference if it has changed.",
)
BENEFITS_THRESHOLD = declare(
    "payments.benefits_threshold",
    "Monthly fees above benefits threshold",
    Severity.INFO,
    what="""For a person who asked to be told, the fees they are owed for sessions in one calendar month
    come to more than the policy's benefits threshold.""",
    why="""Earnings above a benefit's limit (such as the Universal Credit work allowance) can reduce
    what someone receives.""",
    source=PAYMENT_SOURCE,
    action="""Talk it through with them before paying, and offer to put them in touch with a benefits
    adviser.""",
    needs="The policy's benefits_monthly_threshold and each person's opt-in; silent without them.",
)
UNRESOURCED = declare(
    "payments.unresourced",
    "Session kind not in payment policy",
    Severity.WARNING,
    what="""People in a voice role who are willing to be paid took part in a session whose kind has no
    rate in the payment policy in force on the session's date.""",
    why="""Nobody can tell what they are owed for it, so their time there goes unpaid by default.""",
    source=PAYMENT_SOURCE,
    action="Add a rate for the kind of session to the policy, or record how their time was recognised.",
)
NO_POLICY = declare(
    "payments.no_policy",
    "No payment policy",
    Severity.WARNING,
    what="People in a voice role took part in a project, and the recipe has no payment policy.",
    why="""Without a policy nobody can tell whether people were paid for their time, as the guidance
    expects.""",
    source=PAYMENT_SOURCE,
    action="""Add the project's payment policy to its recipe: a rate per hour for each kind of session,
    any minimum paid time, and how soon people are paid.""",
)
