"""Writes the demo's CSV files: a fictional forum with two projects, one real, one not.

Run ``python recipes/demo/make_demo.py`` to regenerate ``recipes/demo/data/``. Everything here is
invented: the people, the names and the service. The data is built so that every check fires at
least once and plenty is fine, as of the demo's date (20 November 2026):

- "Peer support line" is genuinely co-produced (people with lived experience there from the
  start, at every stage, in the decisions, paid): the ladder places it at co-production.
- "Day service redesign" is called co-production but the plan was drafted before anyone with lived
  experience took part, their time was feedback and surveys, and the budget was decided without
  them: the ladder places it at consultation. Its first decision came ten days after recruitment
  opened, its values were agreed only afterwards and never reassessed, the new opening times were
  decided in July with no feedback to the people who gave their views, and its carer co-chair has
  no training or support and takes part in none of the meetings where its decisions are taken.
- "Peer support line" records all of that too: recruitment three months before its first
  decision, values agreed at the first workshop and reassessed in October, each decision fed back,
  and training or peer support for everyone with lived experience on its decision group.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data"

NAMES = [
    "Amira Khan", "Ben Okafor", "Chloe Evans", "Dan Whitfield", "Ella Morris", "Fatima Noor",
    "George Hall", "Hannah Price", "Ian Doyle", "Jade Thompson", "Kofi Mensah", "Lucy Byrne",
    "Mo Farouk", "Nina Kowalski", "Owen Reed", "Priya Shah", "Sam Carter", "Tess Walsh",
    "Umar Hussain", "Vicky Lane", "Will Ashworth", "Xena Petrou", "Yusuf Ali", "Zoe Fletcher",
    "Alan Brooks", "Bev Collins", "Cath Doherty", "Dev Patel", "Eileen Grant", "Frank Oyelaran",
    "Grace Hill", "Harry Stone", "Isla Green", "Jo Martin", "Karen Webb", "Leo Novak",
    "Maya Singh", "Noel Ferris", "Olu Adeyemi", "Pat Quinn",
]  # fmt: skip

ETHNIC = {
    "w": "White",
    "b": "Black, Black British, Caribbean or African",
    "m": "Mixed or multiple ethnic groups",
    "o": "Other ethnic group",
    "a": "Asian or Asian British",
    "x": "Prefer not to say",
}
# People 1-30 have lived experience (25-30 are carers); 31-36 staff; 37-40 volunteers.
ETHNICITY = "wwbwwmwwwowbwwwwwwwwxwwx" + "wawbwm" + "wwaww" + "b" + "wwww"
AGES = ["18-24", "25-49", "25-49", "50-64", "65+", "25-49", "18-24", "50-64", "25-49", "65+"]
DISABILITY = ["Yes", "Prefer not to say", "No", "Yes", "Prefer not to say", "", "Yes", "No"]


def person_rows() -> list[dict[str, str]]:
    rows = []
    for i, name in enumerate(NAMES, start=1):
        if i <= 24:
            role = "Service user"
        elif i <= 30:
            role = "Carer"
        elif i <= 33:
            role = "Staff"
        elif i <= 35:
            role = "Manager"
        elif i == 36:
            role = "Commissioner"
        else:
            role = "Volunteer"
        if i == 26:
            role = "Carer; Service user"
        preference = "Paid" if i <= 30 else "Not eligible"
        if i == 14:
            preference = "Declined"  # declined for benefits reasons, yet paid once: flagged
        if i in (8, 21):
            preference = "Voucher"
        if i == 37:
            preference = "maybe"  # a value the recipe cannot read: a data-quality flag
        if i in (1, 2, 3, 25):
            supported = "Yes"  # the peer support line's decision group: a peer mentor each
        elif i == 26:
            supported = "No"  # the day service's carer co-chair: "very little support"
        else:
            supported = ""
        rows.append(
            {
                "Participant ID": str(i),
                "Name": name,
                "Role": role,
                "Ethnic group": ETHNIC[ETHNICITY[i - 1]],
                "Age band": AGES[i % len(AGES)],
                "Disability": DISABILITY[i % len(DISABILITY)],
                "Payment preference": preference,
                "Benefits check": "Yes" if i == 3 else "No",
                "Training or support": supported,
            }
        )
    return rows


PROJECTS = [
    {
        "Project ID": "DSR",
        "Name": "Day service redesign",
        "Label": "Co-production",
        "Stages reached": "Design; Planning",
        "Plan drafted": "12/02/2026",
        "Co-chair roles": "Carer",
        "Co-chairs": "26",
        "Decision group": "33; 34; 35; 36; 26",
        "Recruitment opened": "10/02/2026",
        "Values agreed": "01/03/2026",
        "Values reviewed": "",
    },
    {
        "Project ID": "PSL",
        "Name": "Peer support line",
        "Label": "Co-production",
        "Stages reached": "Design; Planning; Delivery",
        "Plan drafted": "20/03/2026",
        "Co-chair roles": "Service user",
        "Co-chairs": "1",
        "Decision group": "31; 32; 1; 2; 3; 25",
        "Recruitment opened": "15/01/2026",
        "Values agreed": "05/03/2026",
        "Values reviewed": "08/10/2026",
    },
]

# id, project, date, hours, kind, stage, title, decision taken, what was decided, attendees, prep
# (when the people who gave their views were told what was decided is in FED_BACK)
SESSIONS = [
    ("S01", "DSR", date(2026, 2, 20), "2", "Decision meeting", "Planning", "Budget meeting", "Yes", "The budget", [33, 34, 35, 36], "0"),
    ("S02", "DSR", date(2026, 4, 2), "2", "Feedback on a draft", "Design", "Draft plan feedback", "No", "", [19, 20, 21, 26, 27, 28], "0.5"),
    ("S03", "DSR", date(2026, 4, 23), "1", "Survey", "Design", "Day service survey", "No", "", [19, 20, 21, 22, 23, 24, 26, 27, 28, 29, 30], "0"),
    ("S04", "DSR", date(2026, 5, 14), "2", "Focus group", "Design", "Focus group", "No", "", [21, 22, 26, 29], "0"),
    ("S05", "DSR", date(2026, 6, 4), "2", "Feedback on a draft", "Planning", "Second draft feedback", "No", "", [19, 20, 27], "0.5"),
    ("S06", "DSR", date(2026, 6, 25), "1", "Information event", "Planning", "Plan launch", "No", "", [19, 20, 22, 23, 24, 26, 27, 28, 29, 30, 33], "0"),
    ("S07", "DSR", date(2026, 7, 9), "2", "Steering group", "Planning", "Steering group", "Yes", "The new opening times", [33, 34, 35], "0"),
    ("S08", "PSL", date(2026, 3, 5), "3", "Co-design workshop", "Design", "What a peer line needs", "No", "", [*range(1, 17), 31, 32], "1"),
    ("S09", "PSL", date(2026, 3, 19), "4", "Co-design workshop", "Design", "Designing the line", "No", "", [*range(1, 15), 17, 18, 31], "1"),
    ("S10", "PSL", date(2026, 4, 16), "2", "Decision meeting", "Planning", "Decision meeting", "Yes", "The line's opening hours", [1, 2, 3, 4, 5, 6, 25, 31, 32], "1"),
    ("S11", "PSL", date(2026, 5, 21), "2", "Steering group", "Planning", "Steering group", "Yes", "The training plan", [1, 2, 3, 4, 5, 25, 31], "0.5"),
    ("S12", "PSL", date(2026, 7, 2), "6", "Co-delivery", "Delivery", "Launch day", "No", "", [7, 8, 9, 10, 11, 12, 17, 37, 38, 32], "0"),
    ("S13", "PSL", date(2026, 10, 8), "3", "Co-delivery", "Delivery", "Call handling shift", "No", "", [7, 8, 9, 10, 17, 19, 20, 21, 22], "0"),
    ("S14", "PSL", date(2026, 10, 22), "3", "Training", "Delivery", "Listening skills training", "No", "", [13, 15, 16, 20, 21, 22, 23, 24], "0"),
    ("S15", "PSL", date(2026, 11, 12), "2", "Co-delivery", "Delivery", "Volunteer rota planning", "No", "", [1, 2, 3, 4, 23, 24], "0.5"),
]  # fmt: skip

FED_BACK = {"S10": date(2026, 4, 30), "S11": date(2026, 6, 4)}
"""The peer support line tells people what was decided ("you said, we did"); the day service never does."""

RATES = {
    "Decision meeting": Decimal(25),
    "Steering group": Decimal(25),
    "Co-design workshop": Decimal(25),
    "Co-delivery": Decimal(20),
    "Feedback on a draft": Decimal(20),
    "Focus group": Decimal(20),
    "Survey": Decimal(10),
    "Information event": Decimal(0),
}
ELIGIBLE = set(range(1, 31)) - {14}

PAID_UP_TO = date(2026, 11, 18)
"""The demo's date is 20 November 2026: no payment is dated after the last finance run before it."""

UNPAID = {
    ("17", "S12"),
    ("17", "S13"),
    ("9", "S13"),
    ("1", "S15"),
    ("2", "S15"),
    ("23", "S15"),
    ("24", "S15"),
}
"""Left unpaid on purpose: Sam (17) overdue since July, 9 overdue, S15 owed but still in time."""


def attendance_and_payments() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    attendance, payments = [], []
    n = 0

    def pay(person: str, amount: Decimal, when: date, kind: str, session: str) -> None:
        nonlocal n
        n += 1
        payments.append(
            {
                "Payment ID": f"PAY{n:03d}",
                "Person ID": person,
                "Amount": f"{amount:.2f}",
                "Date": when.strftime("%d/%m/%Y"),
                "Type": kind,
                "Session ID": session,
            }
        )

    for sid, _project, when, hrs, kind, *_rest, people, prep in SESSIONS:
        for p in people:
            expenses = Decimal("4.50") if p in (6, 10, 26) else Decimal(0)
            attendance.append(
                {
                    "Person ID": str(p),
                    "Session ID": sid,
                    "Hours": "all day" if (p, sid) == (8, "S13") else hrs,
                    "Prep hours": prep if kind != "Survey" else "0",
                    "Expenses": f"{expenses:.2f}" if expenses else "",
                }
            )
            if kind not in RATES or (str(p), sid) in UNPAID:
                continue
            if p in ELIGIBLE:
                fee = RATES[kind] * max(Decimal(1), Decimal(hrs) + Decimal(prep if kind != "Survey" else "0"))
                if fee:
                    pay(str(p), fee, min(when + timedelta(days=12), PAID_UP_TO), "Fee", sid)
                    if (p, sid) == (5, "S10"):
                        pay(str(p), fee, when + timedelta(days=14), "Fee", sid)  # paid twice
            if p == 14 and sid == "S08":
                pay("14", Decimal(100), when + timedelta(days=12), "Fee", sid)  # though they declined
            if expenses and not (p == 10 and sid == "S12"):
                pay(str(p), expenses, when + timedelta(days=7), "Expenses", sid)
    attendance.append(
        {"Person ID": "P99", "Session ID": "S10", "Hours": "2", "Prep hours": "1", "Expenses": ""}
    )
    return attendance, payments


def sessions_rows() -> list[dict[str, str]]:
    return [
        {
            "Session ID": sid,
            "Project": project,
            "Date": when.strftime("%d/%m/%Y"),
            "Hours": hrs,
            "Type": kind,
            "Stage": stage,
            "Title": title,
            "Decision taken": decided,
            "What was decided": what,
            "Fed back on": FED_BACK[sid].strftime("%d/%m/%Y") if sid in FED_BACK else "",
        }
        for sid, project, when, hrs, kind, stage, title, decided, what, _people, _prep in SESSIONS
    ]


def write(name: str, rows: list[dict[str, str]]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / name).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    attendance, payments = attendance_and_payments()
    write("people.csv", person_rows())
    write("projects.csv", PROJECTS)
    write("sessions.csv", sessions_rows())
    write("attendance.csv", attendance)
    write("payments.csv", payments)
    print(
        f"wrote {OUT}: 40 people, {len(SESSIONS)} sessions, {len(attendance)} attendances, {len(payments)} payments"
    )


if __name__ == "__main__":
    main()
