"""Shared test helpers: a central finite-difference gradient, the outside reference that derivative
tests compare against, and quiet TensorFlow for every test module."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from hypothesis import settings

import sciml_nn  # noqa: F401  (imports TensorFlow without its log lines before any test does)

# On CI (the variable CI is set, as GitHub Actions does) hypothesis draws the same examples every
# run, so a red build always reproduces; locally it keeps exploring new random examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def finite_difference_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h in float64, error O(h^2)."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad
