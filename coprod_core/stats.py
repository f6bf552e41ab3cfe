"""Small, exact statistics the checks need, written with the standard library only.

Kept apart from the checks so that the arithmetic can be tested against an independent
implementation (scipy, published tables) and read by anyone who wants to recompute a flag.
"""

from __future__ import annotations

from math import sqrt
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level: 1.959964 for 95%."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def wilson_interval(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion of ``x`` successes in ``n`` trials.

    Why Wilson and not the textbook ``p +/- z * sqrt(p(1-p)/n)`` (Wald) interval: co-production
    groups are small (a dozen, a few dozen people), and the Wald interval behaves badly there: it
    collapses to the single point 0 when nobody in the group belongs to a category (x = 0), which
    would make "nobody of Asian heritage among 3 people" look like proof of a gap, and it can run
    below 0 or above 1. The Wilson interval keeps good coverage for small counts, stays inside
    [0, 1], and for x = 0 still gives an honest upper bound (about 56% for n = 3, 14% for n = 24).
    It is the interval public-health statistics in England use for proportions (Newcombe 1998,
    method 3; PHE/OHID "Technical guide: confidence intervals").

    Returns ``(lower, upper)``. Raises ``ValueError`` when ``n <= 0`` or ``x`` is not in ``0..n``.
    """
    if n <= 0:
        raise ValueError(f"the number of people must be at least 1, got n={n}")
    if not 0 <= x <= n:
        raise ValueError(f"x must be between 0 and n={n}, got x={x}")
    z = z_for(confidence)
    z2 = z * z
    p = x / n
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = (z / denominator) * sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At the edges the bound is exactly 0 or 1; floating point would otherwise give -1e-17.
    lower = 0.0 if x == 0 else max(0.0, centre - half_width)
    upper = 1.0 if x == n else min(1.0, centre + half_width)
    return lower, upper
