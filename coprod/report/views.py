"""The report's sections as words, tables and charts, with disclosure control applied once, here.

Every number that reaches a page passes through :class:`~coprod.report.disclosure.Disclosure`:
the staff report shows them all; the shared one hides small counts and whatever could reveal
them (shares of a hidden group, its interval, its bar, a difference). Free text the charity wrote
(session titles, the wording of decisions, criterion findings that quote them) and anything naming
a person appear only in the staff report, and people are named only in its payments section.
Each piece of that text goes into a sentence through :func:`~coprod.report.isolate.isolated`: shown
as typed, invisible characters made visible, and kept from changing the direction of the words
around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from coprod.report.blocks import (
    Block,
    Bullets,
    Figure,
    Heading,
    LadderChart,
    MoneyChart,
    MoneyRow,
    Notice,
    Page,
    Paragraph,
    Section,
    ShareRow,
    SharesChart,
    Table,
)
from coprod.report.disclosure import FEWER, Count, Disclosure
from coprod.report.facts import Decision, MoneyTotal, Payments, ProjectFacts, ReportFacts, Unpaid
from coprod.report.isolate import isolated
from coprod_core.checks.consultation import (
    ACROSS_STAGES,
    BEYOND_FEEDBACK,
    CRITERIA,
    FROM_THE_START,
    RECIPROCITY,
    SHARED_DECISIONS,
    Assessment,
    Result,
)
from coprod_core.checks.representation import CategoryShare, DimensionProfile, citation
from coprod_core.flags import Flag
from coprod_core.mapping import declared_in_recipe
from coprod_core.model import PaymentKind, Rung
from coprod_core.recipe import Entity
from coprod_core.text import day, join, money, percent, visible

LISTED = 100
"""Rows of a long staff table (people owed, open flags) shown; the rest are counted."""

CRITERION_WORDS: dict[str, str] = {
    FROM_THE_START: "From the start",
    BEYOND_FEEDBACK: "Beyond feedback",
    SHARED_DECISIONS: "Shared decisions",
    ACROSS_STAGES: "Across stages",
    RECIPROCITY: "Reciprocity (payment offered)",
}
CRITERION_MEANS: dict[str, str] = {
    FROM_THE_START: "they took part before the plan was drafted and before any decision without them",
    BEYOND_FEEDBACK: "most of their time was not spent giving feedback or answering surveys",
    SHARED_DECISIONS: "decisions were taken in sessions they attended, or one of them co-chairs",
    ACROSS_STAGES: "they took part in every stage the project has reached",
    RECIPROCITY: "there is a payment policy and everyone eligible was offered payment",
}
RESULT_WORDS: dict[Result, str] = {
    Result.PASS: "Met",
    Result.FAIL: "Not met",
    Result.UNKNOWN: "Unknown (evidence missing)",
    Result.NOT_REACHED: "Not reached yet",
}
RUNG_MEANS: dict[Rung, str] = {
    Rung.NONE: "no evidence of anyone with lived experience taking part",
    Rung.INFORMING: "people are told about decisions already made",
    Rung.CONSULTATION: "people are asked for their views, without power to influence what happens",
    Rung.ENGAGEMENT: "people's views go beyond feedback, but decisions are not shared",
    Rung.CO_DESIGN: "people share the design, but not every stage or the strategic decisions",
    Rung.CO_PRODUCTION: "an equal relationship from the start, across every stage, with decisions shared",
}
_DATE_KEYS: dict[str, str] = {
    "plan_drafted": "plan drafted",
    "first_session": "first session",
    "first_voice_session": "first took part",
    "latest_decision": "latest decision",
}


def dimension_words(dimension: str) -> str:
    return dimension.replace("_", " ").strip().capitalize()


def category_label(share: CategoryShare) -> str:
    """'People of Asian heritage' when the recipe gives words; else the category: '18-24', 'Other'
    (isolated: the recipe's words, or an answer people gave)."""
    labels = share.words
    if not labels.startswith("people in the '"):
        return isolated(labels[:1].upper() + labels[1:])
    text = re.sub(r"(?<=\d)_(?=\d)", "-", share.category).replace("_", " ")
    return isolated(text[:1].upper() + text[1:])


def sentence(text: str) -> str:
    """Starts with a capital: 'Fewer than 8 of the 40...'."""
    return text[:1].upper() + text[1:]


def _pct(share: float) -> str:
    return percent(share)


def _num(value: float) -> str:
    return f"{value:.6f}"


class _Builder:
    def __init__(self, facts: ReportFacts, disclosure: Disclosure) -> None:
        self.facts = facts
        self.d = disclosure
        self.shared = disclosure.shared
        self.names = {p.project.id: isolated(p.project.name) for p in facts.projects}

    def project_name(self, project_id: str) -> str:
        return self.names.get(project_id) or f"Project {isolated(project_id)}"

    def cash(self, amount: Decimal) -> str:
        return money(amount, self.facts.payments.currency)

    # --- the page --------------------------------------------------------------------------------

    def page(self) -> Page:
        f = self.facts
        name = isolated(f.description or f.recipe_name)
        if self.shared:
            notice = Notice(
                "Small numbers are hidden",
                f"This report is for sharing. Any number of people from one to seven is shown as '{FEWER}', and so "
                "is any number, share or difference from which one could be worked out, so that nobody can be "
                "recognised from it. Nobody is named, no answer anyone gave is shown, and neither are the "
                "titles of sessions or the wording of decisions, because staff may have written names in them.",
            )
        else:
            notice = Notice(
                "For staff only",
                "This report shows every number and names people in the Payments section. Do not share it "
                "beyond staff: make the version for sharing with the command 'coprod report --share', which hides small "
                "numbers and names nobody.",
            )
        sections = (
            self.summary(),
            self.representation(),
            self.decisions(),
            self.ladder(),
            self.payments(),
            self.data_quality(),
            self.flags(),
        )
        return Page(
            title=f"Co-production report: {name}",
            subtitle=f"As of {day(f.run_date)}",
            notice=notice,
            sections=sections,
            shared=self.shared,
        )

    # --- summary ---------------------------------------------------------------------------------

    def summary(self) -> Section:
        f = self.facts
        items: list[str] = []
        for p in f.projects:
            a = p.assessment
            called = f"called {a.label.words}, the evidence places it at {a.rung.words}"
            took = self.d.count(len(p.profile.participants)) if p.profile else Count(0)
            items.append(
                f"{self.project_name(p.project.id)}: {called}; {took.of('person', 'people')} among the "
                f"{f.voice_words} took part."
            )
        without = sum(1 for x in f.decisions if x.without_voice)
        if f.decisions:
            cells = self.d.group({"with": len(f.decisions) - without, "without": without})
            items.append(
                f"Decisions taken with nobody who has lived experience or is a carer present: {cells['without']} "
                f"of {self.d.count(len(f.decisions))}."
            )
        pay = f.payments
        if pay.has_policy:
            items.append(f"Overdue payments: {self._money_about(pay.overdue)}.")
        return Section("summary", "Summary", (Bullets(tuple(items)),) if items else ())

    def _money_about(self, total: MoneyTotal) -> str:
        people = self.d.count(total.people)
        if not self.d.amount_for(total.people):
            return (
                f"owed to {people.of('person', 'people')} (the amount is hidden, as it could identify them)"
            )
        if total.people == 0:
            return "none"
        return f"{self.cash(total.amount)} to {people.of('person', 'people')}"

    # --- representation --------------------------------------------------------------------------

    def representation(self) -> Section:
        f = self.facts
        who = f.voice_words
        blocks: list[Block] = [
            Paragraph(
                f"For each project: the {who} who took part, compared with the people who use the service. "
                "Each bar is a group's share among those who answered the question; the line across it is "
                "the 95% Wilson interval, the range the share could take by chance in a group this size; the "
                "diamond is the group's share among people who use the service. A group is marked "
                "under-represented (hatched, and said in words) when its share is below four-fifths of the "
                "service's and the whole interval lies below the service's share: fewer than chance explains."
            )
        ]
        if not any(p.profile and p.profile.dimensions for p in f.projects):
            blocks.append(
                Paragraph(
                    "There is nothing to compare yet: either nobody with a voice has taken part, or the recipe "
                    "gives no [baseline] (who uses the service).",
                    strong="No comparison.",
                )
            )
        for p in f.projects:
            blocks.extend(self._project_representation(p))
        return Section("representation", "Representation", tuple(blocks))

    def _project_representation(self, p: ProjectFacts) -> list[Block]:
        out: list[Block] = [Heading(3, self.project_name(p.project.id), f"rep-{_slug(p.project.id)}")]
        profile = p.profile
        who = self.facts.voice_words
        if profile is None or not profile.participants:
            out.append(
                Paragraph(f"Nobody among the {who} took part in the period: there is nothing to compare.")
            )
            return out
        took = self.d.count(len(profile.participants))
        period = (
            f"between {day(profile.period_start)} and {day(profile.period_end)}"
            if profile.period_start
            else f"up to {day(profile.period_end)}"
        )
        out.append(Paragraph(sentence(f"{took.of('person', 'people')} among the {who} took part {period}.")))
        if not profile.dimensions:
            out.append(
                Paragraph(
                    "The recipe gives no baseline (who uses the service), so there is nothing to compare with."
                )
            )
        for dim in profile.dimensions:
            out.extend(self._dimension(p, dim, took))
        return out

    def _dimension(self, p: ProjectFacts, dim: DimensionProfile, took: Count) -> list[Block]:
        words = dimension_words(dim.dimension)
        named, lower = isolated(words), isolated(words.lower())  # the recipe's name for the dimension
        answers = dim.answers
        cells = self.d.group(
            {
                **{c.category: c.x for c in dim.categories},
                "~outside": dim.outside_baseline,
                "~not_stated": answers.not_stated,
            }
        )
        # Shares are over the people who answered: shown only when that number can be shown.
        n_public = not cells["~not_stated"].hidden and not took.hidden
        out: list[Block] = [Heading(4, named)]
        flagged = {c for d, c in p.flagged_categories if d == dim.dimension}
        gap = dim.dimension in p.gap_dimensions
        not_stated = cells["~not_stated"]
        if gap:
            share = (
                f" ({_pct(answers.not_stated / answers.total)})"
                if not not_stated.hidden and not took.hidden
                else ""
            )
            out.append(
                Paragraph(
                    f"{sentence(str(not_stated))} of the {took} who took part{share} gave no answer we can use (left blank, "
                    f"unknown or prefer not to say), more than your settings allow. The comparison below may "
                    "not reflect the group: ask the question again, saying why it is asked.",
                    strong="Data gap.",
                )
            )
        if not dim.categories:
            out.append(Paragraph(f"Nobody who took part gave a usable answer about {lower}."))
            return out
        cite = citation(dim.baseline, isolated)
        rows: list[ShareRow] = []
        table_rows: list[tuple[str, ...]] = []
        n_text = str(self.d.count(answers.n)) if n_public else "hidden"
        for c in dim.categories:
            label = category_label(c)
            x = cells[c.category]
            marked = c.category in flagged
            shown = not x.hidden and n_public
            data = {"dimension": dim.dimension, "category": c.category, "baseline": _num(c.baseline_share)}
            if shown:
                data |= {
                    "x": str(c.x),
                    "n": str(c.n),
                    "observed": _num(c.observed),
                    "lower": _num(c.lower),
                    "upper": _num(c.upper),
                }
            data["under-represented"] = "yes" if marked else "no"
            share_text = _pct(c.observed) if shown else "hidden"
            rows.append(
                ShareRow(
                    label=label,
                    baseline=c.baseline_share,
                    observed=c.observed if shown else None,
                    lower=c.lower if shown else None,
                    upper=c.upper if shown else None,
                    value=share_text if shown else f"hidden: {FEWER}" if x.hidden else "hidden",
                    marked=marked,
                    data=data,
                )
            )
            table_rows.append(
                (
                    label,
                    f"{x} of {n_text}" if n_public else str(x),
                    share_text,
                    f"{_pct(c.lower)} to {_pct(c.upper)}" if shown else "hidden",
                    _pct(c.baseline_share),
                    "Yes: fewer than chance explains" if marked else "No",
                )
            )
        outside, missing = cells["~outside"], cells["~not_stated"]
        if dim.outside_baseline:
            table_rows.append(("Other answers (not in the baseline)", str(outside), "", "", "", ""))
        if answers.not_stated:
            table_rows.append(("No usable answer", str(missing), "", "", "", ""))
        under = [category_label(c) for c in dim.categories if c.category in flagged]
        summary = (
            f"Shares of {lower} among the {self.facts.voice_words} who took part in "
            f"{self.project_name(p.project.id)}, against people who use the service ({cite}). "
            + (f"Under-represented: {', '.join(under)}." if under else "No group is under-represented.")
        )
        if not n_public and self.shared:
            summary += " Shares are hidden because showing them would tell how many people gave no answer."
        table = Table(
            caption=f"{named}: {self.project_name(p.project.id)}",
            head=(
                "Group",
                "Participants",
                "Share",
                "95% interval",
                "People who use the service",
                "Under-represented",
            ),
            rows=tuple(table_rows),
            numeric=frozenset({1, 2, 4}),
            note=f"People who use the service: {cite}; shares among those who stated an answer.",
        )
        out.append(
            Figure(
                id=f"rep-{_slug(p.project.id)}-{_slug(dim.dimension)}",
                title=f"{named}: who took part against who uses the service",
                summary=summary,
                chart=SharesChart("shares", tuple(rows)),
                table=table,
            )
        )
        return out

    # --- decisions -------------------------------------------------------------------------------

    def decisions(self) -> Section:
        f = self.facts
        blocks: list[Block] = [
            Paragraph(
                f"Every session where a decision was recorded, up to {day(f.run_date)}, and whether anyone "
                f"among the {f.voice_words} was in the room. NHS England (2022) asks for people with lived "
                "experience to be involved in decisions, not only asked for their views."
            )
        ]
        if not f.decisions:
            blocks.append(Paragraph("No decisions are recorded yet. Record which sessions took decisions."))
            return Section("decisions", "Decisions", tuple(blocks))
        without = sum(1 for x in f.decisions if x.without_voice)
        cells = self.d.group({"with": len(f.decisions) - without, "without": without})
        blocks.append(
            Paragraph(
                f"{sentence(str(cells['without']))} of {self.d.count(len(f.decisions))} decisions were taken with nobody "
                f"among the {f.voice_words} present."
            )
        )
        head: tuple[str, ...] = ("Date", "Project", "Session")
        if not self.shared:
            head += ("Decision",)
        head += ("People present", "Of them, with a voice", "With a voice present?")
        rows = [self._decision_row(x) for x in f.decisions]
        numeric = frozenset({len(head) - 3, len(head) - 2})
        blocks.append(Table("Decisions taken, oldest first", head, tuple(rows), numeric))
        return Section("decisions", "Decisions", tuple(blocks))

    def _decision_row(self, x: Decision) -> tuple[str, ...]:
        present = self.d.count(x.attendees)
        cells = self.d.group({"voice": x.voice_attendees, "others": x.attendees - x.voice_attendees})
        row: tuple[str, ...] = (day(x.date), self.project_name(x.project_id))
        if self.shared:
            row += (x.kind[:1].upper() + x.kind[1:],)
        else:
            row += (isolated(x.title) if x.title else x.kind[:1].upper() + x.kind[1:], _own(x.decision))
        answer = "No: flagged" if x.without_voice else "Yes"
        return (*row, str(present), str(cells["voice"]), answer)

    # --- ladder ----------------------------------------------------------------------------------

    def ladder(self) -> Section:
        rungs = list(Rung)
        blocks: list[Block] = [
            Paragraph(
                "Think Local Act Personal's ladder of co-production, from the bottom: "
                + "; ".join(f"{r.words} ({RUNG_MEANS[r]})" for r in rungs)
                + ". coprod places each project from its evidence alone: each rung needs the criteria of the "
                "rungs below it. Evidence that is missing is said as unknown and never lifts a project."
            )
        ]
        if not self.facts.projects:
            blocks.append(Paragraph("No projects are recorded."))
        for p in self.facts.projects:
            blocks.extend(self._project_ladder(p.assessment))
        return Section("ladder", "The ladder", tuple(blocks))

    def _project_ladder(self, a: Assessment) -> list[Block]:
        rungs = list(Rung)
        verdict = f"It is called {a.label.words}; the evidence places it at {a.rung.words}." + (
            " This is flagged: the label claims more than the evidence shows." if a.mislabelled else ""
        )
        rows = []
        for name in CRITERIA:
            c = a.criteria[name]
            row: tuple[str, ...] = (
                CRITERION_WORDS[name],
                RESULT_WORDS[c.result],
                _criterion_dates(c.numbers),
            )
            if not self.shared:
                # The charity's words in a finding are isolated (invisible characters shown in them);
                # the rest of it is coprod's own.
                said = c.finding_isolated or visible(c.finding)
                row += (said or CRITERION_MEANS[name],)
            rows.append(row)
        head: tuple[str, ...] = ("Criterion", "Result", "Dates")
        if not self.shared:
            head += ("What the evidence says",)
        project = isolated(a.project_name)
        table = Table(f"Criteria: {project}", head, tuple(rows))
        chart = LadderChart(
            "ladder",
            tuple(r.words for r in rungs),
            label=rungs.index(a.label),
            evidence=rungs.index(a.rung),
            data={"project": a.project_id, "label": a.label.value, "rung": a.rung.value},
        )
        return [
            Heading(3, project, f"ladder-{_slug(a.project_id)}"),
            Paragraph(verdict),
            Figure(
                id=f"ladder-{_slug(a.project_id)}",
                title=f"Where {project} sits on the ladder",
                summary=f"{project}: called {a.label.words}, evidence places it at {a.rung.words}.",
                chart=chart,
                table=table,
            ),
        ]

    # --- payments --------------------------------------------------------------------------------

    def payments(self) -> Section:
        pay = self.facts.payments
        if not pay.has_policy:
            return Section(
                "payments",
                "Payments",
                (
                    Paragraph(
                        "There is no payment policy in the recipe, so nobody can tell what people are owed. "
                        "Add the project's payment policy ([policy]: a rate per hour for each kind of session).",
                        strong="No payment policy.",
                    ),
                ),
            )
        source = f" ({isolated(pay.policy_source)})" if pay.policy_source else ""
        blocks: list[Block] = [
            Paragraph(
                f"What the payment policy{source} says people are owed for their time, what has been paid, and "
                f"what is late. The policy promises payment {_within(pay)}.{_earlier(pay)} "
                f"Amounts in {pay.currency}."
            )
        ]
        lines = (
            ("Fees paid", pay.paid_fees, "paid-fees"),
            ("Expenses paid", pay.paid_expenses, "paid-expenses"),
            ("Owed, still within the time allowed", pay.owed, "owed"),
            ("Overdue", pay.overdue, "overdue"),
            ("Paid more than owed (possible duplicates)", pay.overpaid, "overpaid"),
            ("Paid though they declined payment", pay.declined, "declined"),
        )
        rows: list[MoneyRow] = []
        table_rows: list[tuple[str, ...]] = []
        for label, total, key in lines:
            people = self.d.count(total.people)
            shown = self.d.amount_for(total.people)
            value = self.cash(total.amount) if shown else "hidden"
            data = {"line": key}
            if shown:
                data |= {"amount": str(total.amount), "people": str(total.people)}
            rows.append(MoneyRow(label, float(total.amount) if shown else None, value, data))
            table_rows.append((label, value, str(people)))
        blocks.append(
            Figure(
                id="payments-totals",
                title="Payments: paid, owed and overdue",
                summary=f"Fees paid {rows[0].value}; owed within time {rows[2].value}; overdue {rows[3].value}.",
                chart=MoneyChart("money", tuple(rows)),
                table=Table(
                    "Payment totals", ("What", "Amount", "People"), tuple(table_rows), frozenset({1, 2})
                ),
            )
        )
        blocks.extend(self._oldest(pay))
        if not self.shared:
            blocks.extend(self._people_owed(pay))
        return Section("payments", "Payments", tuple(blocks))

    def _oldest(self, pay: Payments) -> list[Block]:
        u = pay.oldest_unpaid
        if u is None:
            return [Paragraph("Nobody is owed anything: every fee and expense due has been paid.")]
        if self.shared:
            return [
                Paragraph(
                    f"The oldest unpaid session was held on {day(u.oldest_date)}.", strong="Oldest unpaid."
                )
            ]
        return [
            Paragraph(
                f"{_person(u)} for the {_session(u)}, unpaid for {u.days_unpaid} days.",
                strong="Oldest unpaid.",
            )
        ]

    def _people_owed(self, pay: Payments) -> list[Block]:
        rows = tuple(
            (
                _person(u),
                "Expenses" if u.kind is PaymentKind.EXPENSES else "Fees",
                self.cash(u.owed) if u.owed else "",
                self.cash(u.overdue) if u.overdue else "",
                _session(u),
                str(u.days_unpaid),
            )
            for u in pay.unpaid[:LISTED]
        )
        if not rows:
            return []
        more = len(pay.unpaid) - len(rows)
        return [
            Table(
                "People owed, longest unpaid first",
                ("Person", "For", "Owed (in time)", "Overdue", "Oldest unpaid session", "Days unpaid"),
                rows,
                frozenset({2, 3, 5}),
                note=f"{more:,} more are in the flags in your tool." if more > 0 else "",
            )
        ]

    # --- data quality ----------------------------------------------------------------------------

    def data_quality(self) -> Section:
        f = self.facts
        rows = []
        for entity, c in f.rows.items():
            read = self.d.count(c.read)
            cells = self.d.group({"used": c.used, "rejected": c.rejected})
            rows.append((entity.capitalize(), str(read), str(cells["used"]), str(cells["rejected"])))
        blocks: list[Block] = [
            Paragraph(
                "Rows read from each source, used in the checks, and not used (each with a data-quality flag "
                + (
                    "saying which row and column, and how to fix it: KoboToolbox shows its short line "
                    "only, and 'coprod check' the whole message)."
                    if f.short_lines_in_kobotoolbox
                    else "in your tool saying which row and column, and how to fix it)."
                )
            ),
            Table(
                "Rows read and used",
                ("Data", "Rows read", "Used", "Not used"),
                tuple(rows),
                frozenset({1, 2, 3}),
            ),
        ]
        if f.reasons:
            head: tuple[str, ...] = ("Data", "Problem", "Column", "Rows")
            if not self.shared:
                head += ("Where to look",)
            reason_rows = []
            for r in f.reasons:
                row: tuple[str, ...] = (
                    r.entity.capitalize(),
                    isolated(r.title),
                    _own(r.column),
                    str(self.d.count(r.rows)),
                )
                if not self.shared:
                    row += (
                        "; ".join(map(isolated, r.examples)) + ("; ..." if r.rows > len(r.examples) else ""),
                    )
                reason_rows.append(row)
            blocks.append(
                Table(
                    "Why: values not understood and rows not used", head, tuple(reason_rows), frozenset({3})
                )
            )
        else:
            blocks.append(Paragraph("Every row was read and understood."))
        return Section("data-quality", "Data quality", tuple(blocks))

    # --- flags -----------------------------------------------------------------------------------

    def flags(self) -> Section:
        h = self.facts.history
        since = f"since the last report ({day(h.last_report)})" if h.last_report else "(no earlier report)"
        blocks: list[Block] = []
        if not h.synced:
            blocks.append(
                Paragraph(
                    "No sync of this recipe is recorded, so nothing is known yet of what staff marked or what "
                    "was resolved: these are the flags this check raises. Run 'coprod sync' to write them to "
                    "your tools."
                )
            )
        else:
            blocks.append(
                Paragraph(
                    "Open: raised now and not marked by staff. Acknowledged: marked by staff in their tool "
                    f"(acknowledged or won't fix), as at the last sync. Resolved {since}: no longer raised."
                )
            )
        rows = []
        for r in h.rules:
            # Open and acknowledged add up to the rule's flags now, which other sections may show.
            now = self.d.group({"open": r.open, "acknowledged": r.acknowledged})
            rows.append(
                (isolated(r.title), str(now["open"]), str(now["acknowledged"]), str(self.d.count(r.resolved)))
            )
        if h.synced and h.last_report:
            blocks.append(
                Paragraph(
                    sentence(f"{self.d.count(h.new_since_report).of('flag')} raised since the last report.")
                )
            )
        if rows:
            blocks.append(
                Table(
                    "Flags by rule",
                    ("Rule", "Open", "Acknowledged", f"Resolved {since}"),
                    tuple(rows),
                    frozenset({1, 2, 3}),
                )
            )
        else:
            blocks.append(Paragraph("No flags: nothing to act on."))
        if not self.shared and h.open:
            listed = h.open[:LISTED]
            more = len(h.open) - len(listed)
            blocks.append(
                Table(
                    "Open flags, most severe first",
                    ("Severity", "Flag", "About"),
                    tuple(
                        (
                            fl.severity.value.capitalize(),
                            isolated(fl.title),
                            _subject(fl),
                        )
                        for fl in listed
                    ),
                    note=(f"{more:,} more open flags are in your tool. " if more > 0 else "")
                    + (
                        "KoboToolbox shows each flag's short line only: 'coprod check' prints its full message."
                        if self.facts.short_lines_in_kobotoolbox
                        else "Each flag's full message is in your tool."
                    ),
                )
            )
        return Section("flags", "Flags", tuple(blocks))


def _subject(flag: Flag) -> str:
    """What a flag is about, in the flags table's few words: ``project DSR``, ``attendance row 128``.
    A ``[[projects]]`` written in the recipe has no row: its flag's subject is ``projects:DSR`` (the
    project's ID where a table's row has its number), said as the project, in the recipe."""
    kind, subject_id = flag.subject.kind.value, flag.subject.id
    if kind == "record":
        entity, _, row = subject_id.partition(":")
        if entity == Entity.PROJECTS.value and declared_in_recipe(str(flag.evidence.get("row", "")), row):
            return f"project {isolated(row)}, in the recipe"
        return f"{isolated(entity)} row {isolated(row)}"
    return f"{kind} {isolated(subject_id)}"


def _own(text: str | None) -> str:
    """The charity's text isolated, or nothing when there is none (an empty cell stays empty)."""
    return isolated(text) if text else ""


def _person(u: Unpaid) -> str:
    """The person as flags name them (:meth:`~coprod_core.model.Person.label`), name and id isolated."""
    return (
        f"{isolated(u.name)} (ID {isolated(u.person_id)})" if u.name else f"Person ID {isolated(u.person_id)}"
    )


def _session(u: Unpaid) -> str:
    """The oldest unpaid session as flags name it (:meth:`~coprod_core.model.Session.label`), its title isolated."""
    return f"{isolated(u.oldest_session)} on {day(u.oldest_date)}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _criterion_dates(numbers: dict[str, object]) -> str:
    parts = []
    for key, words in _DATE_KEYS.items():
        value = numbers.get(key)
        if isinstance(value, date):
            parts.append(f"{words} {day(value)}")
    if numbers.get("no_plan_before"):
        parts.insert(0, "no plan before they took part")
    before = numbers.get("decisions_before_them")
    if isinstance(before, Sequence) and before:
        dates = [d["date"] for d in before if isinstance(d, dict) and isinstance(d.get("date"), date)]
        if dates:
            parts.append(
                "decided without them "
                + ", ".join(day(x) for x in dates[:3])
                + (" ..." if len(dates) > 3 else "")
            )
    return "; ".join(parts)


def build_page(facts: ReportFacts, disclosure: Disclosure) -> Page:
    """The report's page: every section, with ``disclosure`` applied to every number."""
    return _Builder(facts, disclosure).page()


def _within(pay: Payments) -> str:
    """``within 30 days``; where the days changed over the sessions the report covers, the days for
    each stretch of them, latest first: ``within 14 days for sessions from 1 April 2026 and within
    30 days for sessions before 1 April 2026``. The latest days alone would be untrue for earlier
    sessions, each due within the days of the policy in force on its date."""
    if len(pay.pay_within) < 2:
        return f"within {pay.pay_within_days} days"
    parts = [f"within {w.days} days for sessions {w.when()}" for w in reversed(pay.pay_within)]
    return join(parts)


def _earlier(pay: Payments) -> str:
    """That the policy shown replaced earlier rates, and that sessions before it are judged by the
    policy in force on their day (with a space before it); nothing for a policy never changed."""
    if pay.policy_since is None:
        return ""
    before = "an earlier policy" if pay.earlier_policies == 1 else f"{pay.earlier_policies} earlier policies"
    return (
        f" This is the policy in force since {day(pay.policy_since)}; it replaced {before}, and sessions "
        "before then are judged by the rates and terms in force on their day."
    )
