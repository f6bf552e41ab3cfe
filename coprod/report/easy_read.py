"""The Easy Read report: what was found, for the members of the group themselves.

It follows the usual Easy Read conventions: short sentences, one idea a line, large type, a
picture beside each point, hard words explained where they are used and again at the end. It says
who took part, whether people with lived experience were there when decisions were made, whether
people were paid as promised, and what happens next. It always uses the shared report's
disclosure control: a member of a small group must not be able to tell who is who from it. The
project's name and the groups' names are the charity's text, isolated as in the other reports
(:mod:`~coprod.report.isolate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from coprod.report.disclosure import FEWER, Disclosure
from coprod.report.facts import Payments, ProjectFacts, ReportFacts
from coprod.report.isolate import isolated
from coprod.report.views import category_label
from coprod_core.model import Rung
from coprod_core.text import day

MAX_DATES = 5
"""Decisions without the group listed by date; more are counted."""

RUNG_EASY: dict[Rung, tuple[str, ...]] = {
    Rung.NONE: ("We found nobody with lived experience taking part yet.",),
    Rung.INFORMING: ("This means people were told about plans.", "They were not asked what they think."),
    Rung.CONSULTATION: (
        "This means people were asked what they think.",
        "But they did not make decisions together with staff.",
    ),
    Rung.ENGAGEMENT: (
        "This means people did more than give their views.",
        "But they did not make decisions together with staff.",
    ),
    Rung.CO_DESIGN: (
        "This means people helped plan the project.",
        "But not at every step, or not from the start.",
    ),
    Rung.CO_PRODUCTION: (
        "This means people worked with staff as equals.",
        "They did it from the start, at every step.",
    ),
}

HARD_WORDS: dict[str, str] = {
    "co-production": "People who use services and staff work together as equals. They make decisions together, from the start.",
    "lived experience": "Someone who uses the service, or has been through what the service is for.",
    "carer": "Someone who looks after a family member or friend.",
    "decision": "A choice about what will happen. For example, how to spend money.",
    "consultation": "Staff ask people what they think. Staff still make the decisions.",
    "co-design": "People help plan the project with staff. But not every part of it.",
    "engagement": "People share their views and ideas. But staff still make the decisions.",
    "informing": "Staff tell people about plans that are already made.",
}


@dataclass(frozen=True)
class Point:
    picture: str
    """The name of a picture in ``templates/pictures.html.j2``."""
    lines: tuple[str, ...]
    """One idea a line."""


@dataclass(frozen=True)
class EasySection:
    id: str
    title: str
    points: tuple[Point, ...]


WORD_PICTURES: dict[str, str] = {
    "co-production": "people",
    "lived experience": "people",
    "carer": "people",
    "decision": "meeting",
    "consultation": "talk",
    "co-design": "ladder",
    "engagement": "talk",
    "informing": "report",
}


@dataclass(frozen=True)
class Word:
    word: str
    means: tuple[str, ...]
    """One sentence a line."""
    picture: str


@dataclass(frozen=True)
class EasyPage:
    title: str
    subtitle: str
    sections: tuple[EasySection, ...]
    words: tuple[Word, ...]


def _lines(text: str) -> tuple[str, ...]:
    """'One. Two.' -> ('One.', 'Two.'): one sentence a line."""
    return tuple(part if part.endswith(".") else part + "." for part in text.split(". "))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _EasyBuilder:
    def __init__(self, facts: ReportFacts) -> None:
        self.f = facts
        self.d = Disclosure(shared=True)  # always: the Easy Read report is for sharing
        self.used: list[str] = ["co-production", "lived experience", "carer", "decision"]
        self.next: list[str] = []

    def page(self) -> EasyPage:
        f = self.f
        name = isolated(f.description or f.recipe_name)
        sections = [self.about()]
        for p in f.projects:
            sections.append(self.project(p))
        sections.append(self.payments())
        sections.append(self.what_next())
        words = tuple(
            Word(_cap(w), _lines(HARD_WORDS[w]), WORD_PICTURES.get(w, "book"))
            for w in dict.fromkeys(self.used)
        )
        return EasyPage(
            title="What we found about co-production",
            subtitle=f"{name}. Up to {day(f.run_date)}.",
            sections=tuple(sections),
            words=words,
        )

    def about(self) -> EasySection:
        return EasySection(
            "about",
            "About this report",
            (
                Point(
                    "report",
                    (
                        "This report is for the members of the group.",
                        f"It says what we found up to {day(self.f.run_date)}.",
                        "It does not use anyone's name.",
                    ),
                ),
                Point(
                    "private",
                    (
                        f"Sometimes only a few people did something. Then we say {FEWER}.",
                        "This keeps people private.",
                    ),
                ),
                Point("book", ("Hard words are explained at the end.",)),
            ),
        )

    def project(self, p: ProjectFacts) -> EasySection:
        points = [*self.who(p), *self.decisions(p), *self.ladder(p)]
        return EasySection(f"project-{p.project.id}", isolated(p.project.name), tuple(points))

    def who(self, p: ProjectFacts) -> list[Point]:
        profile = p.profile
        took = len(profile.participants) if profile else 0
        if took == 0:
            return [Point("people", ("Nobody with lived experience or a carer took part yet.",))]
        out = [
            Point(
                "people",
                (
                    f"{_cap(self.d.count(took).of('person', 'people'))} with lived experience or carers took part.",
                ),
            )
        ]
        assert profile is not None
        missing = [
            category_label(c)
            for dim in profile.dimensions
            for c in dim.categories
            if (dim.dimension, c.category) in p.flagged_categories
        ]
        if missing:
            out.append(
                Point(
                    "missing",
                    (
                        "Some groups of people were missing, or there were too few of them:",
                        *(f"{m}." for m in missing),
                    ),
                )
            )
            self.next.append("Staff will try to reach the groups who were missing.")
        elif profile.dimensions:
            out.append(Point("people", ("We did not find any group of people missing.",)))
        if p.gap_dimensions:
            out.append(
                Point(
                    "question",
                    (
                        "Many people did not tell us about themselves.",
                        "So we cannot always tell if some groups were missing.",
                    ),
                )
            )
            self.next.append("Staff will ask people about themselves again.\nYou do not have to answer.")
        return out

    def decisions(self, p: ProjectFacts) -> list[Point]:
        mine = [x for x in self.f.decisions if x.project_id == p.project.id]
        if not mine:
            return [Point("meeting", ("No decisions are written down yet.",))]
        without = [x for x in mine if x.without_voice]
        cells = self.d.group({"with": len(mine) - len(without), "without": len(without)})
        lines = [f"{_cap(self.d.count(len(mine)).of('decision'))} were made."]
        if not without:
            lines.append("People with lived experience or carers were there every time.")
            return [Point("meeting", tuple(lines))]
        if cells["without"].hidden:
            lines.append("Some decisions were made without people with lived experience or carers.")
        else:
            lines.append(
                f"{_cap(cells['without'].of('decision'))} were made without people with lived experience or carers."
            )
        lines.append("This should not happen.")
        dates = [f"{day(x.date)}." for x in without[:MAX_DATES]]
        more = ["And some more."] if len(without) > MAX_DATES else []
        self.next.append(
            "Staff will make sure people with lived experience or carers are there when decisions are made."
        )
        return [
            Point("meeting", tuple(lines)),
            Point("calendar", ("Decisions made without them:", *dates, *more)),
        ]

    def ladder(self, p: ProjectFacts) -> list[Point]:
        a = p.assessment
        for rung in (a.label, a.rung):
            if rung.words in HARD_WORDS:
                self.used.append(rung.words)
        lines = [f"The project says it is {a.label.words}.", f"What we found shows it is {a.rung.words}."]
        lines.extend(RUNG_EASY[a.rung])
        if a.mislabelled:
            self.next.append(
                f"Staff will change how {isolated(p.project.name)} works.\nOr they will stop calling it {a.label.words}."
            )
        return [Point("ladder", tuple(lines))]

    def payments(self) -> EasySection:
        pay = self.f.payments
        if not pay.has_policy:
            self.next.append("Staff will write down how people are paid for their time.")
            return EasySection(
                "payments",
                "Were people paid?",
                (
                    Point(
                        "money", ("There are no rules written down yet about paying people for their time.",)
                    ),
                ),
            )
        points = [self.pay_within(pay)]
        late = self.d.count(pay.overdue.people)
        soon = self.d.count(pay.owed.people)
        if pay.overdue.people == 0:
            points.append(Point("tick", ("Nobody has waited too long to be paid.",)))
        else:
            points.append(
                Point(
                    "clock",
                    (
                        f"{_cap(late.of('person', 'people'))} waited too long to be paid.",
                        "They are still waiting.",
                    ),
                )
            )
            self.next.append("Staff will pay the money people are owed, as soon as they can.")
        if pay.owed.people:
            points.append(Point("money", (f"{_cap(soon.of('person', 'people'))} will be paid soon.",)))
        if pay.declined.people:
            points.append(
                Point(
                    "question",
                    (
                        "Some people were paid when they said they did not want to be.",
                        "Staff will talk with them about it.",
                    ),
                )
            )
        return EasySection("payments", "Were people paid?", tuple(points))

    @staticmethod
    def pay_within(pay: Payments) -> Point:
        """How soon the rules say people are paid. Where that changed over the time the report
        covers, one line for each stretch of time, latest first, each naming its dates: "from 1
        April" alone would leave a reader thinking March's sessions are late after 14 days."""
        if len(pay.pay_within) < 2:
            return Point("money", (f"The rules say people are paid within {pay.pay_within_days} days.",))
        return Point(
            "money",
            (
                "The rules about how soon people are paid have changed.",
                *(
                    f"People who took part {w.when()} are paid within {w.days} days."
                    for w in reversed(pay.pay_within)
                ),
            ),
        )

    def what_next(self) -> EasySection:
        steps = list(dict.fromkeys(self.next))
        steps += [
            "Staff will talk about this report with the group.",
            "You can ask questions and say what you think.",
        ]
        points = tuple(
            Point("next" if i < len(steps) - 1 else "talk", tuple(s.split("\n"))) for i, s in enumerate(steps)
        )
        return EasySection("next", "What happens next", points)


def build_easy_read(facts: ReportFacts) -> EasyPage:
    """The Easy Read page for ``facts`` (always with the shared report's disclosure control)."""
    return _EasyBuilder(facts).page()
