"""Writes the two XLSForm templates of the KoboToolbox recipe, the same bytes every time.

Run ``python recipes/kobotoolbox/make_forms.py`` after changing a question here; commit the .xlsx
files it writes. The choice names are coprod's own words (``lived_experience``,
``decision_meeting``...), so the recipe needs no value maps for them; the labels are what people
see, and can be reworded freely in KoboToolbox's form builder.

Every question ``name`` is used once in a whole form, groups and repeats included: KoboToolbox
(since July 2026) refuses a form that repeats one ("Duplicate node name"), so the session's length
is ``session/hours`` and each attendee's ``attendees/hours_attended``.

Equality monitoring uses the standard UK categories: ethnic group as the ONS Census 2021 high-level
groups (England and Wales), sex as asked in Census 2021, disability as the Government Statistical
Service harmonised question (day-to-day activities limited). Every question can be answered
"Prefer not to say", and none is required.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
FIXED_TIME = datetime(2026, 1, 1)
SURVEY_COLUMNS = ["type", "name", "label", "hint", "required", "relevant", "constraint", "constraint_message"]
PREFER_NOT = ("prefer_not_to_say", "Prefer not to say")

Row = dict[str, str]


def q(type_: str, name: str, label: str = "", **extra: str) -> Row:
    return {"type": type_, "name": name, "label": label, **extra}


def choices(list_name: str, *items: tuple[str, str]) -> list[Row]:
    return [{"list_name": list_name, "name": name, "label": label} for name, label in items]


FLAGS_FIELD = q(
    "hidden",
    "coprod_flags",
    "coprod flags",
    hint="Written by coprod: the open co-production flags on this record. Do not edit.",
)

REGISTRATION_SURVEY: list[Row] = [
    q("begin_group", "about", "About you"),
    q("text", "person_id", "Participant ID", hint="Given by the project team, e.g. P017", required="yes"),
    q("text", "name", "Name", hint="The name you would like us to use"),
    q(
        "select_multiple roles",
        "roles",
        "How are you involved?",
        hint="Choose all that apply",
        required="yes",
    ),
    q(
        "text",
        "roles_other",
        "Please describe how you are involved",
        relevant="selected(${roles}, 'other')",
    ),
    q("end_group", ""),
    q("begin_group", "equality", "Equality monitoring"),
    q(
        "note",
        "equality_note",
        "These questions help us check that the people shaping our services reflect the people who "
        "use them. Every question is optional, and you can choose 'Prefer not to say'.",
    ),
    q("select_one ethnicity", "ethnicity", "What is your ethnic group?"),
    q(
        "text",
        "ethnicity_describe",
        "If you like, describe your ethnic group",
        relevant="${ethnicity} = 'other_ethnic_group'",
    ),
    q("select_one age_band", "age_band", "What is your age?"),
    q("select_one sex", "sex", "What is your sex?"),
    q(
        "select_one disability",
        "disability",
        "Are your day-to-day activities limited because of a health problem or disability which has "
        "lasted, or is expected to last, at least 12 months?",
    ),
    q("end_group", ""),
    q("begin_group", "payment", "Being paid for your time"),
    q("select_one payment", "payment_preference", "How would you like to be paid for taking part?"),
    q(
        "select_one yes_no",
        "benefits_opt_in",
        "If you receive benefits: would you like us to tell you when payments in a month might "
        "affect them, so we can talk it through first?",
        relevant="${payment_preference} = 'paid' or ${payment_preference} = 'voucher'",
    ),
    q("end_group", ""),
    q("begin_group", "support", "Support to take part"),
    q(
        "select_one yes_no",
        "supported",
        "Have you had training, a mentor or peer support for your part in the project's decisions?",
        hint="Asked so that we can offer it to anyone who would like it",
    ),
    q("end_group", ""),
    FLAGS_FIELD,
]

REGISTRATION_CHOICES: list[Row] = [
    *choices(
        "roles",
        ("lived_experience", "I use or have used the service (lived experience)"),
        ("carer", "I am a carer or family member"),
        ("frontline_staff", "Frontline staff"),
        ("manager", "Manager"),
        ("commissioner", "Commissioner"),
        ("volunteer", "Volunteer"),
        ("other", "Other"),
    ),
    *choices(
        "ethnicity",
        ("asian", "Asian, Asian British or Asian Welsh"),
        ("black", "Black, Black British, Black Welsh, Caribbean or African"),
        ("mixed", "Mixed or Multiple ethnic groups"),
        ("white", "White"),
        ("other_ethnic_group", "Other ethnic group"),
        PREFER_NOT,
    ),
    *choices(
        "age_band",
        ("under_18", "Under 18"),
        ("18_24", "18 to 24"),
        ("25_34", "25 to 34"),
        ("35_49", "35 to 49"),
        ("50_64", "50 to 64"),
        ("65_plus", "65 or over"),
        PREFER_NOT,
    ),
    *choices("sex", ("female", "Female"), ("male", "Male"), PREFER_NOT),
    *choices(
        "disability",
        ("yes_a_lot", "Yes, limited a lot"),
        ("yes_a_little", "Yes, limited a little"),
        ("no", "No"),
        PREFER_NOT,
    ),
    *choices(
        "payment",
        ("paid", "Payment to my bank account"),
        ("voucher", "Vouchers"),
        ("declined", "I do not want to be paid"),
        ("not_eligible", "Not eligible (I take part as part of my job)"),
    ),
    *choices("yes_no", ("yes", "Yes"), ("no", "No")),
]

SESSION_SURVEY: list[Row] = [
    q("begin_group", "session", "About the session"),
    q("select_one projects", "project", "Which project was it for?", required="yes"),
    q("text", "title", "Name of the session", hint="e.g. Budget meeting"),
    q("date", "session_date", "Date", required="yes"),
    q(
        "decimal",
        "hours",
        "How long was it (hours)?",
        required="yes",
        constraint=". > 0 and . <= 24",
        constraint_message="Between 0 and 24 hours",
    ),
    q("select_one kinds", "kind", "What kind of session was it?", required="yes"),
    q("select_one stages", "stage", "Which stage of the work was it part of?"),
    q("select_one yes_no", "decision_taken", "Was a decision taken?", required="yes"),
    q("text", "decision", "What was decided?", hint="e.g. the budget", relevant="${decision_taken} = 'yes'"),
    q(
        "date",
        "fed_back",
        "When were the people who gave their views told what was decided?",
        hint='Leave empty until you have told them ("you said, we did")',
        relevant="${decision_taken} = 'yes'",
    ),
    q("end_group", ""),
    q("begin_repeat", "attendees", "Who attended?"),
    q("text", "person_id", "Participant ID", hint="As on their registration, e.g. P017", required="yes"),
    q(
        "decimal",
        "hours_attended",
        "Hours they attended",
        hint="Leave empty if they were there for the whole session",
        constraint=". >= 0 and . <= 24",
        constraint_message="Between 0 and 24 hours",
    ),
    q("decimal", "prep_hours", "Hours of preparation", constraint=". >= 0", constraint_message="Not below 0"),
    q("decimal", "expenses", "Expenses claimed (£)", constraint=". >= 0", constraint_message="Not below 0"),
    q("end_repeat", ""),
    FLAGS_FIELD,
]

SESSION_CHOICES: list[Row] = [
    *choices("projects", ("day_service", "Day service redesign"), ("peer_support", "Peer support line")),
    *choices(
        "kinds",
        ("co_design_workshop", "Co-design workshop"),
        ("decision_meeting", "Decision meeting"),
        ("steering_group", "Steering group"),
        ("co_delivery", "Delivering the service together"),
        ("co_evaluation", "Evaluating together"),
        ("training", "Training"),
        ("survey", "Survey"),
        ("feedback_on_draft", "Feedback on a draft"),
        ("focus_group", "Focus group"),
        ("information_event", "Information event"),
        ("feedback_to_participants", "Telling people what was decided (you said, we did)"),
        ("peer_support", "Peer support"),
        ("other", "Other"),
    ),
    *choices(
        "stages",
        ("design", "Design"),
        ("planning", "Planning"),
        ("delivery", "Delivery"),
        ("evaluation", "Evaluation"),
    ),
    *choices("yes_no", ("yes", "Yes"), ("no", "No")),
]

FORMS = {
    "registration.xlsx": (
        REGISTRATION_SURVEY,
        REGISTRATION_CHOICES,
        "coprod registration",
        "coprod_registration",
    ),
    "session_record.xlsx": (
        SESSION_SURVEY,
        SESSION_CHOICES,
        "coprod session record",
        "coprod_session_record",
    ),
}


def workbook(survey: list[Row], choice_rows: list[Row], title: str, form_id: str) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "survey"
    ws.append(SURVEY_COLUMNS)
    for row in survey:
        ws.append([row.get(c, "") or None for c in SURVEY_COLUMNS])
    cs = wb.create_sheet("choices")
    cs.append(["list_name", "name", "label"])
    for row in choice_rows:
        cs.append([row["list_name"], row["name"], row["label"]])
    st = wb.create_sheet("settings")
    st.append(["form_title", "form_id", "version"])
    st.append([title, form_id, "1"])
    wb.properties.creator = "coprod"
    wb.properties.created = FIXED_TIME
    return wb


def stable_bytes(wb: Workbook) -> bytes:
    """Save, then rewrite the zip with fixed times so the file only changes when a question does."""
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                start = text.find("<dcterms:modified")
                end = text.find("</dcterms:modified>")
                if start != -1 and end != -1:
                    text = (
                        text[:start]
                        + '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z'
                        + text[end:]
                    )
                data = text.encode("utf-8")
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)
    return out.getvalue()


def write_forms(directory: Path = HERE) -> list[Path]:
    written = []
    for filename, (survey, choice_rows, title, form_id) in FORMS.items():
        path = directory / filename
        path.write_bytes(stable_bytes(workbook(survey, choice_rows, title, form_id)))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_forms():
        print(f"wrote {path}")
