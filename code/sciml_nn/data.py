"""Data for the book's experiments: samples of the unit box, a seeded 60/20/20
split, minibatches.

Every function takes a seed, so the same build gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from sciml_nn.checks import check_int


def sample_unit_box(n: int, d: int = 2, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points uniformly from the unit box :math:`[0, 1]^d` as
    float32, shape ``(n, d)``."""
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, size=(n, d)).astype(np.float32)


def squared_norm(x: np.ndarray) -> np.ndarray:
    """The exercise's target :math:`f(x) = x^T x`, row by row: shape ``(n, d)``
    to ``(n, 1)``."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d); got shape {x.shape}")
    return np.sum(x * x, axis=1, keepdims=True)


def make_dataset(
    f: Callable[[np.ndarray], np.ndarray], n: int, d: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Samples :math:`(x_i, f(x_i))` with :math:`x_i` uniform in :math:`[0,
    1]^d`, both float32."""
    x = sample_unit_box(n, d, seed)
    y = np.asarray(f(x), dtype=np.float32)
    if y.shape != (x.shape[0], 1):
        raise ValueError(
            f"f must map shape (n, d) to (n, 1); got {y.shape} for "
            f"n={x.shape[0]}"
        )
    return x, y


def split_60_20_20(
    x: np.ndarray, y: np.ndarray, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Shuffle with ``seed`` and cut into 60% train, 20% validation, 20% test.

    Returns ``{"train": (x, y), "validation": (x, y), "test": (x, y)}``; the
    three parts are disjoint and together hold every sample once. Validation
    and test get ``n // 5`` samples each, training the rest.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"x and y must be 2-D (n, d) arrays; got shapes {x.shape} and "
            f"{y.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of rows; got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    n = x.shape[0]
    if n < 5:
        raise ValueError(f"need at least 5 samples to split 60/20/20; got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = n_test = n // 5
    n_train = n - n_val - n_test
    parts = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: (x[idx], y[idx]) for name, idx in parts.items()}


def minibatches(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of minibatches: shuffle with ``seed``, then yield slices of
    ``batch_size`` rows.

    The last batch holds the remainder when ``batch_size`` does not divide
    ``n``.
    """
    x, y = np.asarray(x), np.asarray(y)
    batch_size = check_int("batch_size", batch_size, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of rows; got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    order = np.random.default_rng(seed).permutation(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]
