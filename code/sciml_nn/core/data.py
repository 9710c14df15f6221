"""Data for the book's experiments: samples of the unit box, a seeded 60/20/20
split, minibatches.

Part of the shared core. Every function takes a seed, so the same build gives
the same numbers. Samples are rows: ``x`` has shape ``(n, d_in)`` and the
targets ``y`` shape ``(n, d_out)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import DTypeLike

from sciml_nn.core.checks import check_array, check_int


def check_xy(
    x: np.ndarray,
    y: np.ndarray,
    name: str = "x and y",
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Return samples ``x`` (n, d_in) and targets ``y`` (n, d_out) as arrays
    of ``dtype`` (float32; with ``None`` their own) after checking that both
    are 2-D with the same number of rows."""
    x, y = np.asarray(x, dtype=dtype), np.asarray(y, dtype=dtype)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n, d) arrays; got shapes {x.shape} and "
            f"{y.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} must have the same number of rows; got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    return x, y


def sample_unit_box(n: int, d: int = 2, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points uniformly from the unit box :math:`[0, 1]^d` as
    float32, shape ``(n, d)``."""
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, size=(n, d)).astype(np.float32)


def squared_norm(x: np.ndarray) -> np.ndarray:
    """The exercise's target :math:`f(x) = x^T x`, row by row: shape ``(n, d)``
    to ``(n, 1)``, in the dtype of ``x``."""
    x = np.asarray(x)
    check_array("x", x, shape=("n", "d"), dtype=x.dtype)
    return np.sum(x * x, axis=1, keepdims=True)


def evaluate_target(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """The values :math:`f(x_i)` at the rows of ``x`` as an ``(n, 1)`` array of
    ``dtype``, after checking that ``f`` maps shape ``(n, d)`` to ``(n,
    1)``."""
    y = np.asarray(f(x), dtype=dtype)
    if y.shape != (x.shape[0], 1):
        raise ValueError(
            f"f must map shape (n, d) to (n, 1); got {y.shape} for "
            f"n={x.shape[0]}"
        )
    return y


def make_dataset(
    f: Callable[[np.ndarray], np.ndarray], n: int, d: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Samples :math:`(x_i, f(x_i))` with :math:`x_i` uniform in :math:`[0,
    1]^d`, both float32."""
    x = sample_unit_box(n, d, seed)
    return x, evaluate_target(f, x)


def split_60_20_20(
    x: np.ndarray, y: np.ndarray, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Shuffle with ``seed`` and cut into 60% train, 20% validation, 20% test.

    Returns ``{"train": (x, y), "validation": (x, y), "test": (x, y)}``; the
    three parts are disjoint and together hold every sample once. Validation
    and test get ``n // 5`` samples each, training the rest.
    """
    x, y = check_xy(x, y, dtype=None)
    n = check_int("the number of samples", len(x), 5)
    order = np.random.default_rng(seed).permutation(n)
    n_validation = n_test = n // 5
    n_train = n - n_validation - n_test
    parts = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_validation],
        "test": order[n_train + n_validation :],
    }
    return {name: (x[rows], y[rows]) for name, rows in parts.items()}


def minibatches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of minibatches: shuffle the rows with ``seed``, then yield
    consecutive slices of ``batch_size`` rows.

    With ``shuffle=False`` the rows keep their order, as in Keras'
    ``fit(shuffle=False)``. The last batch holds the remainder when
    ``batch_size`` does not divide ``n``.
    """
    x, y = check_xy(x, y, dtype=None)
    batch_size = check_int("batch_size", batch_size, 1)
    n = len(x)
    order = (
        np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    )
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        yield x[rows], y[rows]


TEST_SEED = 1_000_003


def fresh_test_points(n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Fresh test points, drawn with a seed (``TEST_SEED``) no training set
    here uses."""
    return make_dataset(squared_norm, check_int("n", n, 1), 2, TEST_SEED)
