"""Where things go in each chart's SVG: coordinates worked out here, drawn by ``templates/charts.html.j2``.

Kept apart from the template so the arithmetic is plain Python (tested, typed) and the template
only places shapes and escapes text. Every chart is drawn for a page 180 mm wide and scales with
its ``viewBox``; meaning never rests on colour alone (hatching, shapes and words carry it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from coprod.report.blocks import LadderChart, MoneyChart, ShareRow, SharesChart

WIDTH = 680
LABEL_W = 220
"""Left column for the group's name."""
VALUE_W = 150
"""Right column for the value written beside the bar."""
ROW_H = 36
TOP = 44
"""Room for the legend and the axis labels."""


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class ShareBar:
    row: ShareRow
    y: float
    """Top of the row."""
    bar_w: float | None
    lo_x: float | None
    hi_x: float | None
    base_x: float
    label_lines: tuple[str, ...]


@dataclass(frozen=True)
class SharesLayout:
    width: int
    height: int
    x0: float
    plot_w: float
    ticks: tuple[Tick, ...]
    bars: tuple[ShareBar, ...]
    value_x: float


def _wrap(text: str, width: int = 28, lines: int = 2) -> tuple[str, ...]:
    """Split a label over up to two lines of about ``width`` characters (the table has it whole)."""
    words, out, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    out.append(line)
    if len(out) > lines:
        out = out[: lines - 1] + [" ".join(out[lines - 1 :])]
        if len(out[-1]) > width:
            out[-1] = out[-1][: width - 1] + "…"
    return tuple(out)


def _axis(chart: SharesChart) -> tuple[float, float]:
    """The axis's end and step: round steps (5%, 10%, 20%) up past every share, bound and baseline drawn."""
    top = max(
        [r.baseline for r in chart.rows]
        + [v for r in chart.rows for v in (r.observed, r.upper) if v is not None]
        + [0.05]
    )
    step = 0.05 if top <= 0.2 else 0.1 if top <= 0.5 else 0.2
    return min(1.0, math.ceil(top / step - 1e-9) * step), step


def shares(chart: SharesChart) -> SharesLayout:
    x0 = float(LABEL_W)
    plot_w = float(WIDTH - LABEL_W - VALUE_W)
    top, step = _axis(chart)

    def at(share: float) -> float:
        return x0 + plot_w * min(share, top) / top

    steps = round(top / step)
    ticks = tuple(Tick(at(step * i), f"{round(step * i * 100)}%") for i in range(steps + 1))
    bars = []
    for i, row in enumerate(chart.rows):
        y = TOP + i * ROW_H
        bars.append(
            ShareBar(
                row=row,
                y=y,
                bar_w=None if row.observed is None else at(row.observed) - x0,
                lo_x=None if row.lower is None else at(row.lower),
                hi_x=None if row.upper is None else at(row.upper),
                base_x=at(row.baseline),
                label_lines=_wrap(row.label),
            )
        )
    height = TOP + ROW_H * len(chart.rows) + 8
    return SharesLayout(WIDTH, height, x0, plot_w, ticks, tuple(bars), x0 + plot_w + 10)


@dataclass(frozen=True)
class Rung:
    y: float
    words: str
    is_label: bool
    is_evidence: bool


@dataclass(frozen=True)
class LadderLayout:
    width: int
    height: int
    rail_left: float
    rail_right: float
    top: float
    bottom: float
    rungs: tuple[Rung, ...]
    label_y: float
    evidence_y: float
    label_words: str
    evidence_words: str


LADDER_GAP = 40


def ladder(chart: LadderChart) -> LadderLayout:
    """Rungs from the bottom (none) to the top (co-production); labels for 'called' and 'evidence' at the left."""
    n = len(chart.rungs)
    top = 36.0
    bottom = top + LADDER_GAP * (n - 1)
    rungs = tuple(
        Rung(bottom - i * LADDER_GAP, words, i == chart.label, i == chart.evidence)
        for i, words in enumerate(chart.rungs)
    )
    label_y = rungs[chart.label].y
    evidence_y = rungs[chart.evidence].y
    if chart.label == chart.evidence:
        label_y -= 13
        evidence_y += 13
    return LadderLayout(
        width=WIDTH,
        height=int(bottom + 24),
        rail_left=300,
        rail_right=380,
        top=top - 14,
        bottom=bottom + 14,
        rungs=rungs,
        label_y=label_y,
        evidence_y=evidence_y,
        label_words=chart.rungs[chart.label],
        evidence_words=chart.rungs[chart.evidence],
    )


@dataclass(frozen=True)
class MoneyBar:
    label: str
    y: float
    bar_w: float | None
    value: str
    data: dict[str, str]


@dataclass(frozen=True)
class MoneyLayout:
    width: int
    height: int
    x0: float
    bars: tuple[MoneyBar, ...]
    value_x: float


def money(chart: MoneyChart) -> MoneyLayout:
    x0 = float(LABEL_W + 60)
    plot_w = float(WIDTH - x0 - VALUE_W)
    top = max([r.amount for r in chart.rows if r.amount is not None] + [0.0])
    bars = tuple(
        MoneyBar(
            label=r.label,
            y=12 + i * ROW_H,
            bar_w=None if r.amount is None else (plot_w * r.amount / top if top else 0.0),
            value=r.value,
            data=r.data,
        )
        for i, r in enumerate(chart.rows)
    )
    return MoneyLayout(WIDTH, int(12 + ROW_H * len(bars) + 4), x0, bars, x0 + plot_w + 10)
