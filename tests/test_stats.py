"""The Wilson interval against scipy (an independent implementation) and published values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from coprod_core.stats import wilson_interval, z_for


def _scipy_wilson(x: int, n: int, confidence: float) -> tuple[float, float]:
    ci = binomtest(x, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


PAIRS = [(0, 1), (1, 1), (0, 2), (1, 2), (2, 2), (0, 3), (1, 3), (3, 3), (0, 10), (10, 10)]
PAIRS += [
    (x, n) for n in (5, 12, 24, 37, 100, 250, 1000) for x in sorted({0, 1, 2, n // 3, n // 2, n - 1, n})
]


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("x", "n"), PAIRS)
def test_wilson_interval_matches_scipy(x: int, n: int, confidence: float) -> None:
    lower, upper = wilson_interval(x, n, confidence)
    expected_lower, expected_upper = _scipy_wilson(x, n, confidence)
    assert lower == pytest.approx(expected_lower, abs=1e-12)
    assert upper == pytest.approx(expected_upper, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5000),
    share=st.floats(min_value=0, max_value=1),
    confidence=st.floats(min_value=0.5, max_value=0.999),
)
def test_wilson_interval_matches_scipy_for_any_count(n: int, share: float, confidence: float) -> None:
    x = round(share * n)
    lower, upper = wilson_interval(x, n, confidence)
    expected_lower, expected_upper = _scipy_wilson(x, n, confidence)
    assert lower == pytest.approx(expected_lower, abs=1e-10)
    assert upper == pytest.approx(expected_upper, abs=1e-10)
    assert 0.0 <= lower <= x / n <= upper <= 1.0


# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of
# seven methods", Statistics in Medicine 17:857-872, Table II, method 3 (Wilson score, no
# continuity correction), 95% intervals given to 4 decimal places.
@pytest.mark.parametrize(
    ("x", "n", "lower", "upper"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998_published_values(
    x: int, n: int, lower: float, upper: float
) -> None:
    got_lower, got_upper = wilson_interval(x, n, 0.95)
    assert round(got_lower, 4) == lower
    assert round(got_upper, 4) == upper


def test_nobody_in_the_category_gives_lower_bound_zero_and_an_honest_upper_bound() -> None:
    lower, upper = wilson_interval(0, 3)
    assert lower == 0.0
    # z^2 / (n + z^2): with three people, anything up to 56% is still consistent with nobody.
    assert upper == pytest.approx(z_for(0.95) ** 2 / (3 + z_for(0.95) ** 2))
    assert upper > 0.5


def test_everybody_in_the_category_gives_upper_bound_exactly_one() -> None:
    lower, upper = wilson_interval(7, 7)
    assert upper == 1.0
    assert 0.6 < lower < 1.0


def test_higher_confidence_gives_a_wider_interval() -> None:
    narrow = wilson_interval(5, 40, 0.9)
    wide = wilson_interval(5, 40, 0.99)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


def test_z_for_95_percent_is_the_familiar_1_96() -> None:
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(("x", "n"), [(0, 0), (1, 0), (0, -1), (-1, 5), (6, 5)])
def test_impossible_counts_are_refused(x: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(x, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5])
def test_impossible_confidence_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(1, 5, confidence)
