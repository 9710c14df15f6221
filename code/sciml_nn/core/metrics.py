"""Measures of error that every chapter uses.

Part of the shared core: the relative :math:`L^2` error of a prediction (the
book's equation :math:numref:`eq-relative-l2`) and the root mean square.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sciml_nn.core.checks import check_array, check_int, check_same_shape


def rms(a: np.ndarray) -> float:
    """Root mean square :math:`\\sqrt{\\frac{1}{n}\\sum_i a_i^2}`."""
    return float(np.sqrt(np.mean(np.square(a))))


def relative_error(
    prediction: np.ndarray, truth: np.ndarray, per_sample: bool = False
) -> float | np.ndarray:
    r"""The relative error :math:`\|p - t\|_2 / \|t\|_2` of a prediction
    :math:`p` of :math:`t`, the book's :math:numref:`eq-relative-l2`.

    Over all entries, or with ``per_sample`` one value per sample, the norms
    taken over every axis but the first.
    """
    prediction = np.asarray(prediction, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    check_same_shape("prediction", prediction, "truth", truth)
    if per_sample:
        if truth.ndim < 2:
            raise ValueError(
                "per_sample needs samples along the first axis of a 2-D or "
                f"higher array; got shape {truth.shape}"
            )
        axes = tuple(range(1, truth.ndim))
        difference = np.sqrt(np.sum((prediction - truth) ** 2, axis=axes))
        return difference / np.sqrt(np.sum(truth**2, axis=axes))
    return float(np.linalg.norm(prediction - truth) / np.linalg.norm(truth))


def relative_l2_error(
    model_or_prediction: Callable[[np.ndarray], object] | np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> float:
    """:math:`\\|N(x) - f(x)\\|_2 / \\|f(x)\\|_2` over the test points, eq.
    :math:numref:`eq-relative-l2`.

    ``model_or_prediction`` is a callable model (called on ``x``) or an array
    of predictions.
    """
    x = check_array("x", x, shape=(None, None), dtype=np.float32)
    y = check_array("y", y, shape=(x.shape[0], 1))
    prediction = (
        model_or_prediction(x)
        if callable(model_or_prediction)
        else model_or_prediction
    )
    return relative_error(prediction, y)


def early_stopping(
    val_loss: Sequence[float], patience: int, min_delta: float = 0.0
) -> tuple[int, int]:
    """Keras' early-stopping rule on a sequence of validation losses, epochs
    counted from 1.

    Epoch :math:`e` improves if :math:`L_e + \\delta < L_{b}`, the loss of the
    best epoch :math:`b` so far (the first epoch always does). Training stops
    at the first epoch that does not improve and lies at least ``patience``
    epochs after :math:`b` (:math:numref:`eq-early-stopping`). Returns
    ``(best_epoch, stopped_epoch)``, with ``stopped_epoch = 0`` if the rule
    never fires.
    """
    val_loss = np.asarray(val_loss, dtype=np.float64)
    if val_loss.ndim != 1 or val_loss.size == 0:
        raise ValueError(
            "val_loss must be a non-empty 1-D sequence; got shape "
            f"{val_loss.shape}"
        )
    patience = check_int("patience", patience, 0)
    if (
        not isinstance(min_delta, (int, float))
        or isinstance(min_delta, bool)
        or min_delta < 0
    ):
        raise ValueError(f"min_delta must be a float >= 0; got {min_delta!r}")
    best_epoch, best = 1, val_loss[0]
    for epoch, loss in enumerate(val_loss[1:], start=2):
        if loss + min_delta < best:  # False for NaN, as in Keras
            best_epoch, best = epoch, loss
        elif epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, 0


def fit_power_law(
    n: Sequence[float], errors: Sequence[float]
) -> tuple[float, float]:
    """Least-squares fit of :math:`E(n) = C n^{p}` on logarithms
    (:math:numref:`eq-power-law`): :math:`\\log E = \\log C + p \\log n` is a
    straight line of slope :math:`p` on log-log axes.

    Returns ``(p, C)``.
    """
    n = np.asarray(n, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if n.ndim != 1 or errors.ndim != 1 or n.shape != errors.shape:
        raise ValueError(
            "n and errors must be 1-D of the same length; got shapes "
            f"{n.shape} "
            f"and {errors.shape}"
        )
    if n.size < 2 or np.unique(n).size < 2:
        raise ValueError(
            f"need at least two distinct values of n; got {n.tolist()}"
        )
    if not (np.all(n > 0) and np.all(errors > 0)):
        raise ValueError("n and errors must be positive to take logarithms")
    A = np.stack([np.log(n), np.ones_like(n)], axis=1)
    (p, log_C), *_ = np.linalg.lstsq(A, np.log(errors), rcond=None)
    return float(p), float(np.exp(log_C))
