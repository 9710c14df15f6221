"""L-BFGS with a strong-Wolfe line search, written from scratch, and SciPy's
L-BFGS-B with the same settings, to compare with.

Code of the chapter *Second-order training*
(``book/optimization/second-order-training.md``); its Gauss-Newton and
Levenberg-Marquardt steps, and
:func:`~sciml_nn.second_order_training.flat_value_and_gradient`, which turns
a TensorFlow loss into the function of one NumPy vector that both minimize,
are in :mod:`sciml_nn.second_order_training`. The algorithms are those of
Nocedal and Wright, *Numerical Optimization* (2006): the two-loop recursion
(their Algorithm 7.4) and the line search (Algorithms 3.5 and 3.6).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.optimize

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_float,
    check_int,
)
from sciml_nn.second_order_training import ValueAndGradient


@dataclass
class LBFGSResult:
    """What :func:`lbfgs` returns: the last iterate ``x`` and its ``value``
    and ``gradient``; ``values[k]`` and ``seconds[k]`` after iteration k
    (``values[0]`` at ``x0``); the counts of ``iterations`` and of
    ``evaluations`` of the function; and why it stopped (``message``)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray
    iterations: int
    evaluations: int
    message: str
    values: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


class Trial(NamedTuple):
    """One point of a line search: the step :math:`\\alpha`,
    :math:`\\varphi(\\alpha) = f(x + \\alpha p)`, the slope
    :math:`\\varphi'(\\alpha) = \\nabla f(x + \\alpha p)^T p` and the
    gradient there."""

    step: float
    value: float
    slope: float
    gradient: np.ndarray


def evaluate(
    value_and_gradient: ValueAndGradient, x: np.ndarray
) -> tuple[float, np.ndarray]:
    """``value_and_gradient(x)`` as a float and a float64 vector of the shape
    of ``x``; ``ValueError`` if the gradient has another shape."""
    value, gradient = value_and_gradient(x)
    gradient = check_array("the gradient", gradient, finite=False)
    if gradient.shape != x.shape:
        raise ValueError(
            f"value_and_gradient must return a gradient of shape {x.shape}; "
            f"got {gradient.shape}"
        )
    return float(value), gradient


class Line:
    """:math:`\\varphi(\\alpha) = f(x + \\alpha p)` with its slope, as a
    :class:`Trial`, counting the evaluations of ``value_and_gradient``."""

    def __init__(
        self,
        value_and_gradient: ValueAndGradient,
        x: np.ndarray,
        p: np.ndarray,
    ) -> None:
        self.value_and_gradient, self.x, self.p = value_and_gradient, x, p
        self.evaluations = 0

    def __call__(self, step: float) -> Trial:
        self.evaluations += 1
        value, gradient = evaluate(
            self.value_and_gradient, self.x + step * self.p
        )
        return Trial(step, value, float(gradient @ self.p), gradient)


def cubic_step(a: Trial, b: Trial) -> float:
    """The minimizer of the cubic through :math:`\\varphi` and
    :math:`\\varphi'` at the steps of ``a`` and ``b`` (Nocedal and Wright,
    eq. 3.59), kept 10% away from either end; the midpoint if the cubic has
    no minimizer there."""
    low, high = sorted((a.step, b.step))
    midpoint, margin = 0.5 * (low + high), 0.1 * (high - low)
    d1 = a.slope + b.slope - 3 * (a.value - b.value) / (a.step - b.step)
    root = d1**2 - a.slope * b.slope
    if not root >= 0:  # no real critical point (or NaN)
        return midpoint
    d2 = np.sign(b.step - a.step) * np.sqrt(root)
    denominator = b.slope - a.slope + 2 * d2
    if not abs(denominator) > 0:
        return midpoint
    step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / denominator
    if not np.isfinite(step):
        return midpoint
    return float(np.clip(step, low + margin, high - margin))


def zoom(
    phi: Line,
    start: Trial,
    low: Trial,
    high: Trial,
    c1: float,
    c2: float,
    max_evaluations: int,
) -> Trial | None:
    """Algorithm 3.6 of Nocedal and Wright: shrink the interval between
    ``low`` (sufficient decrease, the lower value) and ``high`` until a step
    satisfies the strong Wolfe conditions :math:numref:`eq-wolfe`."""
    while phi.evaluations < max_evaluations:
        trial = phi(cubic_step(low, high))
        decrease = start.value + c1 * trial.step * start.slope
        if not (trial.value <= decrease and trial.value < low.value):
            high = trial
        elif abs(trial.slope) <= -c2 * start.slope:
            return trial
        else:
            if trial.slope * (high.step - low.step) >= 0:
                high = low
            low = trial
    return None


def wolfe_line_search(
    value_and_gradient: ValueAndGradient,
    x: np.ndarray,
    p: np.ndarray,
    value: float,
    gradient: np.ndarray,
    *,
    step: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evaluations: int = 30,
) -> tuple[Trial | None, int]:
    """A step :math:`\\alpha` along the descent direction ``p`` from ``x``
    (where ``f`` has ``value`` and ``gradient``) that satisfies the strong
    Wolfe conditions :math:numref:`eq-wolfe`: Algorithm 3.5 of Nocedal and
    Wright, doubling the trial ``step`` until it brackets one, then
    :func:`zoom`. Returns the accepted :class:`Trial` (``None`` if
    ``max_evaluations`` found none) and the number of evaluations."""
    check_callable("value_and_gradient", value_and_gradient)
    x = check_array("x", x, shape=("n",))
    p = check_array("p", p, shape=x.shape)
    c1 = check_float("c1", c1, 0, 1, low_open=True, high_open=True)
    c2 = check_float("c2", c2, c1, 1, low_open=True, high_open=True)
    gradient = check_array("gradient", gradient, shape=x.shape)
    start = Trial(0.0, float(value), float(gradient @ p), gradient)
    if not start.slope < 0:
        raise ValueError(
            "p must be a descent direction, gradient @ p < 0; got "
            f"{start.slope}"
        )
    max_evaluations = check_int("max_evaluations", max_evaluations, 1)
    phi = Line(value_and_gradient, x, p)
    previous, trial = start, phi(check_float("step", step, 0, low_open=True))
    while True:
        decrease = start.value + c1 * trial.step * start.slope
        if not (trial.value <= decrease and trial.value < previous.value):
            low, high = previous, trial  # too long: Wolfe steps lie between
            break
        if abs(trial.slope) <= -c2 * start.slope:
            return trial, phi.evaluations
        if trial.slope >= 0:  # past a minimum of phi: Wolfe steps between
            low, high = trial, previous
            break
        if phi.evaluations >= max_evaluations:
            return None, phi.evaluations
        previous, trial = trial, phi(2 * trial.step)
    accepted = zoom(phi, start, low, high, c1, c2, max_evaluations)
    return accepted, phi.evaluations


def two_loop_direction(
    g: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """:math:`p = -H g`, with :math:`H` the L-BFGS inverse Hessian of the
    stored pairs :math:`(s_i, y_i)`, oldest first (Nocedal and Wright,
    Algorithm 7.4; :math:numref:`eq-lbfgs`), from :math:`H_0 =
    \\gamma I`, :math:`\\gamma = s^T y / y^T y` of the newest pair."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        q -= alpha * y
        alphas.append(alpha)
    gamma = 1.0
    if pairs:
        s, y = pairs[-1]
        gamma = (s @ y) / (y @ y)
    r = gamma * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        beta = (y @ r) / (y @ s)
        r += s * (alpha - beta)
    return -r


def lbfgs(
    value_and_gradient: ValueAndGradient,
    x0: Any,
    *,
    memory: int = 10,
    iterations: int = 500,
    gradient_tolerance: float = 1e-10,
) -> LBFGSResult:
    """Minimize :math:`f` by L-BFGS :math:numref:`eq-lbfgs` with
    the ``memory`` newest pairs :math:`(s_k, y_k)` and a strong-Wolfe line
    search, from ``x0``; ``value_and_gradient(x)`` returns :math:`f(x)` and
    :math:`\\nabla f(x)` for a float64 vector ``x``. Stops after
    ``iterations`` or when :math:`\\max_i |\\nabla f_i| \\le`
    ``gradient_tolerance`` (SciPy's ``gtol``) or the line search fails. A
    pair with :math:`s^T y \\le 0` is skipped."""
    check_callable("value_and_gradient", value_and_gradient)
    x = check_array("x0", x0, shape=("n",)).copy()
    pairs = deque(maxlen=check_int("memory", memory, 1))
    iterations = check_int("iterations", iterations, 0)
    tolerance = check_float("gradient_tolerance", gradient_tolerance, 0)
    value, gradient = evaluate(value_and_gradient, x)
    if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
        raise ValueError("value_and_gradient(x0) must be finite")
    start, values, seconds = time.perf_counter(), [value], [0.0]
    evaluations, message = 1, f"{iterations} iterations done"
    for _ in range(iterations):
        if np.max(np.abs(gradient)) <= tolerance:
            message = "gradient below tolerance"
            break
        p = two_loop_direction(gradient, pairs)
        # before any pair, a first step of length at most 1
        step = 1.0 if pairs else min(1.0, 1.0 / np.linalg.norm(p))
        trial, used = wolfe_line_search(
            value_and_gradient, x, p, value, gradient, step=step
        )
        evaluations += used
        if trial is None:
            message = "the line search found no Wolfe step"
            break
        s, y = trial.step * p, trial.gradient - gradient
        if s @ y > 0:
            pairs.append((s, y))
        x, value, gradient = x + s, trial.value, trial.gradient
        values.append(value)
        seconds.append(time.perf_counter() - start)
    done = len(values) - 1
    return LBFGSResult(
        x, value, gradient, done, evaluations, message, values, seconds
    )


def scipy_lbfgs(
    value_and_gradient: ValueAndGradient,
    x0: Any,
    *,
    memory: int = 10,
    iterations: int = 500,
    gradient_tolerance: float = 1e-10,
) -> dict[str, Any]:
    """SciPy's L-BFGS-B (no bounds) with the settings of :func:`lbfgs`, as
    the ``OptimizeResult`` of ``scipy.optimize.minimize`` (a dict):
    ``memory`` pairs (``maxcor``), at most ``iterations`` (``maxiter``),
    and the same stopping test (``gtol``; ``ftol=0`` turns off its other
    one, on the relative decrease of :math:`f`)."""
    check_callable("value_and_gradient", value_and_gradient)
    options = {
        "maxcor": check_int("memory", memory, 1),
        "maxiter": check_int("iterations", iterations, 0),
        "gtol": check_float("gradient_tolerance", gradient_tolerance, 0),
        "ftol": 0.0,
    }
    x0 = check_array("x0", x0, shape=("n",))
    return scipy.optimize.minimize(
        value_and_gradient, x0, jac=True, method="L-BFGS-B", options=options
    )
