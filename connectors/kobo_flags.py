"""The ``coprod_flags`` text written into a submission: one short line per open flag.

A line is the flag's severity and title ("Warning: Payment overdue"), nothing about the
submission itself, so submissions with the same open problems get the same text and share one
bulk edit request. Which flags are open on a submission is remembered in the state store as
fingerprint -> line (titles are generic words, never names or answers), so a run that resolves one
flag can rewrite the field without needing the text of the flags that stay open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from coprod_core.flags import Flag, Severity

TITLE_LIMIT = 90
SEVERITY_WORDS: dict[Severity, str] = {
    Severity.CRITICAL: "Critical",
    Severity.WARNING: "Warning",
    Severity.INFO: "Note",
}
_WORD_SEVERITY = {w: s for s, w in SEVERITY_WORDS.items()}


def _short(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"


def line_for(flag: Flag) -> str:
    """``Warning: Payment overdue``: severity and title, short enough for a table cell."""
    return f"{SEVERITY_WORDS[flag.severity]}: {_short(flag.title)}"


def severity_of(line: str) -> Severity | None:
    return _WORD_SEVERITY.get(line.split(":", 1)[0])


FlagsText = Literal["lines", "worst", "severity"]
"""What the field holds (the recipe's ``flags_text``): every open flag's line, a repeated one
counted (``lines``, the default); the most serious line alone, with "and more" when others are open
(``worst``); or only the most serious severity (``severity``). A bulk edit sets one value for many
records, so the fewer distinct values, the fewer requests; the full messages are in coprod's report
(``coprod check``) whichever is chosen."""


def _order(line: str) -> tuple[int, str]:
    sev = severity_of(line)
    return (-(sev.rank if sev else -1), line)


def compose(lines: Iterable[str], text: FlagsText = "lines") -> str:
    """The field's value: most severe first, then alphabetical; see ``FlagsText``."""
    counts = Counter(lines)
    ordered = sorted(counts, key=_order)
    if not ordered:
        return ""
    if text == "severity":
        worst = severity_of(ordered[0])
        return SEVERITY_WORDS[worst] if worst else ""
    if text == "worst":
        return ordered[0] + (", and more" if len(ordered) > 1 or counts[ordered[0]] > 1 else "")
    return "\n".join(line if counts[line] == 1 else f"{line} ({counts[line]})" for line in ordered)


def is_serious(lines: Iterable[str]) -> bool:
    """Whether a submission has an open warning or critical flag (it is then put on hold)."""
    return any(severity_of(line) in (Severity.WARNING, Severity.CRITICAL) for line in lines)
