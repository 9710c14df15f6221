"""Tests of sciml_nn.modes_on_the_device: crossings of a time ratio with 1, found against a power
law's closed-form crossing and SciPy's root finder."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from sciml_nn.modes_on_the_device import crossings, time_ratios


def timings(aspects: list[float], ratios: list[float], product: int = 1024) -> list[dict]:
    """Timings as jacobian_costs returns them, n m = product, with forward/reverse = ratios."""
    return [
        {"n": np.sqrt(product * a), "m": np.sqrt(product / a), "forward": 1e-3 * r, "reverse": 1e-3}
        for a, r in zip(aspects, ratios)
    ]


@pytest.mark.parametrize(("constant", "power"), [(4.0, 1.0), (0.3, 0.6), (17.0, 0.25)])
def test_a_power_law_crosses_one_where_its_closed_form_says(constant: float, power: float) -> None:
    """r = (a / c)^p crosses 1 at a = c; in log-log coordinates it is straight, so the
    interpolation between any two bracketing timings is exact."""
    aspects = [4.0**k / 64 for k in range(7)]
    ratios = [(a / constant) ** power for a in aspects]
    assert crossings(timings(aspects, ratios)) == [pytest.approx(constant, rel=1e-12)]


def test_crossings_are_the_roots_of_the_log_log_interpolant() -> None:
    """A ratio that crosses 1 three times: each crossing is the root SciPy's brentq finds of the
    piecewise-linear interpolant of log r against log a."""
    aspects = [0.01, 0.1, 1.0, 10.0, 100.0]
    ratios = [0.5, 2.0, 0.8, 1.5, 3.0]
    log_a, log_r = np.log(aspects), np.log(ratios)
    roots = [
        np.exp(brentq(lambda t: np.interp(t, log_a, log_r), log_a[i], log_a[i + 1]))
        for i in range(3)
    ]
    assert crossings(timings(aspects, ratios)) == pytest.approx(roots, rel=1e-9)


def test_no_crossing_and_an_exact_one() -> None:
    assert crossings(timings([0.1, 1.0, 10.0], [0.2, 0.5, 0.9])) == []
    exact = crossings(timings([0.1, 1.0, 10.0], [0.5, 1.0, 2.0]))
    assert exact == [pytest.approx(1.0)]  # once, not once per neighbouring pair


def test_time_ratios_read_the_timings() -> None:
    aspects, ratios = time_ratios([{"n": 2, "m": 8, "forward": 3.0, "reverse": 6.0}] * 2)
    np.testing.assert_array_equal(aspects, [0.25, 0.25])
    np.testing.assert_array_equal(ratios, [0.5, 0.5])


@pytest.mark.parametrize(
    ("costs", "error", "match"),
    [
        ([{"n": 1, "m": 1, "forward": 1.0, "reverse": 1.0}], ValueError, "at least two timings"),
        ({"n": 1}, ValueError, "must be a sequence of at least two"),
        (
            [{"n": 1, "m": 1, "forward": 1.0}] * 2,
            ValueError,
            r"costs\[0\] must be a dict with keys",
        ),
        (
            [{"n": 1, "m": 1, "forward": 0.0, "reverse": 1.0}] * 2,
            ValueError,
            r"'forward'\] must be a finite number > 0",
        ),
        ([{"n": 1, "m": 1, "forward": "1", "reverse": 1.0}] * 2, TypeError, "must be a float"),
    ],
)
def test_bad_timings_are_named(costs: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        crossings(costs)
