"""The rules: one declaration per kind of flag, with the documentation a member of staff reads.

Like a linter's rules (ruff's registry, clippy's ``declare_clippy_lint!``), every kind of flag
coprod raises is declared once, beside the code that decides it: a stable id, a title, its usual
severity, what it checks, why it matters (naming its source) and what staff can do. The checks
raise their flags through their rule (:meth:`Rule.flag`), so a flag's id and words can never
drift from its documentation; ``coprod rules`` lists them, ``coprod explain RULE`` prints one, and
the README's table is generated from them (a test keeps it in step).

A rule's id is part of every fingerprint it raises: it never changes once released.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Sequence
from typing import Any, NamedTuple

from coprod_core.flags import Flag, Severity, Subject, make_flag


class Rule(NamedTuple):
    """One kind of flag, declared once with the documentation staff read (``coprod explain``): the
    checks raise their flags through it, so a flag's id and words never drift from its page."""

    id: str
    """``check.rule``: stable forever (it is hashed into every fingerprint)."""
    title: str
    """The generic title; a flag may say more ("Payment overdue" / "Expenses overdue")."""
    severity: Severity
    """The usual severity; ``severity_note`` says when a flag is raised at another."""
    what: str
    """What it checks, precisely enough to recompute a flag by hand."""
    why: str
    """Why it matters for co-production."""
    source: str
    """Where the why comes from: a framework, guidance or one of the seed texts."""
    action: str
    """What staff can do about a flag."""
    needs: str = ""
    """The optional data it reads, and what it does when that data is absent."""
    severity_note: str = ""

    @property
    def check(self) -> str:
        return self.id.split(".", 1)[0]

    def flag(
        self,
        *,
        subject: Subject,
        message: str,
        evidence: dict[str, Any],
        title: str | None = None,
        severity: Severity | None = None,
        identity: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        project_id: str | None = None,
        named: Sequence[str] = (),
    ) -> Flag:
        """A flag of this rule (its id, and its title and severity unless the finding says more)."""
        return make_flag(
            check_id=self.id,
            severity=self.severity if severity is None else severity,
            subject=subject,
            title=self.title if title is None else title,
            message=message,
            evidence=evidence,
            identity=identity,
            facts=facts,
            project_id=project_id,
            named=named,
        )

    def page(self, width: int = 100) -> str:
        """The rule's documentation as ``coprod explain`` prints it."""

        def para(label: str, text: str) -> str:
            # break only between words: never "pay-" at a line's end and "within" on the next
            return textwrap.fill(
                f"{label}: {text}", width=width, subsequent_indent="  ", break_on_hyphens=False
            )

        severity = self.severity.value + (f" ({self.severity_note})" if self.severity_note else "")
        parts = [
            f"{self.id}: {self.title}",
            para("Severity", severity),
            para("What it checks", self.what),
            para("Why it matters", f"{self.why} (Source: {self.source}.)"),
            para("What you can do", self.action),
        ]
        if self.needs:
            parts.append(para("Data it reads", self.needs))
        return "\n".join(parts)


_RULES: dict[str, Rule] = {}

CHECK_MODULES = (
    "coprod_core.checks.representation",
    "coprod_core.checks.payments",
    "coprod_core.checks.consultation",
    "coprod_core.checks.feedback",
    "coprod_core.checks.support",
    "coprod_core.checks.recruitment",
    "coprod_core.checks.values",
    "coprod_core.checks.data_quality",
)
"""Every module that declares rules, in the order the rules are listed."""


def declare(
    id: str,
    title: str,
    severity: Severity,
    *,
    what: str,
    why: str,
    source: str,
    action: str,
    needs: str = "",
    severity_note: str = "",
) -> Rule:
    """Declare a rule (once, at import of the module that raises it)."""
    if id in _RULES:
        raise ValueError(f"rule {id!r} is declared twice")
    rule = Rule(
        id=id,
        title=title,
        severity=severity,
        what=" ".join(what.split()),
        why=" ".join(why.split()),
        source=" ".join(source.split()),
        action=" ".join(action.split()),
        needs=" ".join(needs.split()),
        severity_note=severity_note,
    )
    _RULES[id] = rule
    return rule


def all_rules() -> list[Rule]:
    """Every rule, check by check in :data:`CHECK_MODULES` order, then in declaration order."""
    for name in CHECK_MODULES:
        importlib.import_module(name)
    order = {name.rsplit(".", 1)[1]: i for i, name in enumerate(CHECK_MODULES)}
    return sorted(_RULES.values(), key=lambda r: order.get(r.check, len(order)))


def find(rule_id: str) -> Rule | None:
    """The rule with this id, or None."""
    return {r.id: r for r in all_rules()}.get(rule_id.strip())


def markdown_table() -> str:
    """The README's table of rules, generated from the declarations."""
    lines = ["| rule | severity | flags when | source |", "|---|---|---|---|"]
    for r in all_rules():
        cells = [f"`{r.id}`", r.severity.value, r.what, r.source]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
