"""Gradient descent, momentum, Nesterov, learning-rate decay, Adam and AdamW,
written from scratch.

Each optimizer takes the argument names, defaults and update formulas of
``keras.optimizers``, so it drops into a custom training loop:
``apply_gradients(zip(gradients, variables))`` updates the ``tf.Variable`` s in
place, creates its per-variable state (the *slots*) on first use and counts the
steps in ``iterations``, in eager code or inside ``tf.function``. The learning
rate is a float, a schedule of this module, or any callable of the step
:math:`k` (``iterations``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int


def _check_float(
    name: str,
    value: object,
    low: float,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.floating, np.integer)
    ):
        raise TypeError(f"{name} must be a float; got {type(value).__name__}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not np.isfinite(value) or too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        interval = f"{left}{low}, {high}{right}"
        raise ValueError(f"{name} must lie in {interval}; got {value}")
    return float(value)


class ExponentialDecay:
    """:math:`\\eta_k = \\eta_0 \\, r^{k / K}`, or :math:`r^{\\lfloor k / K
    \\rfloor}` with ``staircase`` (eq. :math:numref:`eq-exponential-decay`), as
    Keras' schedule of the same name."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ):
        self.initial_learning_rate = _check_float(
            "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = check_int("decay_steps", decay_steps, 1)
        self.decay_rate = _check_float(
            "decay_rate", decay_rate, 0, low_open=True
        )
        self.staircase = bool(staircase)

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        p = tf.cast(step, tf.float32) / float(self.decay_steps)
        if self.staircase:
            p = tf.floor(p)
        return self.initial_learning_rate * tf.pow(
            tf.constant(self.decay_rate, tf.float32), p
        )


class CosineDecay:
    """:math:`\\eta_k = \\eta_0 \\big((1 - \\alpha) \\tfrac12 (1 + \\cos(\\pi
    \\min(k, K) / K)) + \\alpha\\big)` (eq. :math:numref:`eq-cosine-decay`),
    Keras' schedule without warm-up."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
    ):
        self.initial_learning_rate = _check_float(
            "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = check_int("decay_steps", decay_steps, 1)
        self.alpha = _check_float("alpha", alpha, 0, 1, high_open=False)

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        K = float(self.decay_steps)
        k = tf.minimum(tf.cast(step, tf.float32), K)
        cosine = 0.5 * (1.0 + tf.cos(tf.constant(np.pi, tf.float32) * (k / K)))
        return self.initial_learning_rate * (
            (1 - self.alpha) * cosine + self.alpha
        )


class PiecewiseConstantDecay:
    """Step decay: :math:`\\eta_k` = ``values[i]`` for ``boundaries[i-1]``
    :math:`< k \\le` ``boundaries[i]`` (eq. :math:numref:`eq-step-decay`), as
    Keras' schedule of the same name. Like the other schedules it takes a
    step or a tensor of steps."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "values must have one more entry than boundaries; got "
                f"{len(boundaries)} boundaries and {len(values)} values"
            )
        if any(b >= c for b, c in itertools.pairwise(boundaries)):
            raise ValueError(
                f"boundaries must increase strictly; got {boundaries}"
            )
        self.boundaries = [
            check_int("boundaries[i]", b, 0) for b in boundaries
        ]
        self.values = [_check_float("values[i]", v, 0) for v in values]

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        boundaries = tf.constant(self.boundaries, tf.int64)
        passed = tf.cast(step, tf.int64)[..., None] > boundaries
        interval = tf.reduce_sum(tf.cast(passed, tf.int32), axis=-1)
        return tf.gather(tf.constant(self.values, tf.float32), interval)


class Optimizer:
    """What all optimizers share: the learning rate :math:`\\eta_k`, the step
    counter :math:`k` (``iterations``), lazily created slots and
    ``apply_gradients``. Subclasses define ``update_step(g, w, eta)``, the rule
    for one variable."""

    def __init__(
        self, learning_rate: float | Callable[[tf.Tensor], tf.Tensor]
    ):
        if not callable(learning_rate):
            learning_rate = _check_float("learning_rate", learning_rate, 0)
        self.learning_rate = learning_rate
        self.iterations = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="iterations"
        )
        self._slots: dict[tuple[object, str], tf.Variable] = {}

    def current_learning_rate(self) -> float | tf.Tensor:
        """:math:`\\eta_k`: the float itself, or the schedule evaluated at
        ``iterations``."""
        if callable(self.learning_rate):
            return self.learning_rate(self.iterations)
        return self.learning_rate

    def slot(self, w: tf.Variable, name: str) -> tf.Variable:
        """The state ``name`` of variable ``w`` (zeros at first, created on
        first use)."""
        key = (w.ref(), name)
        if key not in self._slots:
            # create it once, eagerly, even when traced by tf.function
            with tf.init_scope():
                self._slots[key] = tf.Variable(
                    tf.zeros(w.shape, w.dtype),
                    trainable=False,
                    name=f"{w.name.split(':')[0]}_{name}",
                )
        return self._slots[key]

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[tf.Tensor, tf.Variable]]
    ) -> tf.Variable:
        """Update every variable ``w`` with its gradient ``g``, then count the
        step."""
        pairs = list(grads_and_vars)
        for g, w in pairs:
            if not isinstance(w, tf.Variable):
                raise TypeError(
                    "variables must be tf.Variable objects; got "
                    f"{type(w).__name__}"
                )
            if g is None:
                raise ValueError(f"the gradient of variable {w.name} is None")
            if not tf.TensorShape(g.shape).is_compatible_with(w.shape):
                raise ValueError(
                    f"the gradient of variable {w.name} has shape {g.shape}; "
                    f"the variable has shape {w.shape}"
                )
        eta = self.current_learning_rate()
        for g, w in pairs:
            # A float becomes the variable's dtype directly; a schedule's
            # float32 value is cast.
            eta_w = (
                tf.constant(eta, w.dtype)
                if isinstance(eta, float)
                else tf.cast(eta, w.dtype)
            )
            self.update_step(
                tf.cast(tf.convert_to_tensor(g), w.dtype), w, eta_w
            )
        self.iterations.assign_add(1)
        return self.iterations

    def update_step(
        self, g: tf.Tensor, w: tf.Variable, eta: tf.Tensor
    ) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent :math:numref:`eq-gd`; with ``momentum`` :math:`\\mu >
    0` the heavy ball :math:numref:`eq-momentum`, and with ``nesterov``
    Nesterov's step :math:numref:`eq-nesterov`."""

    def __init__(
        self,
        learning_rate: float | Callable[[tf.Tensor], tf.Tensor] = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(learning_rate)
        self.momentum = _check_float("momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)

    def update_step(
        self, g: tf.Tensor, w: tf.Variable, eta: tf.Tensor
    ) -> None:
        mu = self.momentum
        if mu == 0:
            w.assign_sub(g * eta)
            return
        v = self.slot(w, "velocity")
        v.assign(v * mu - g * eta)
        if self.nesterov:
            w.assign_add(v * mu - g * eta)
        else:
            w.assign_add(v)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014) in Keras' form, eq. :math:numref:`eq-adam`:
    moving averages :math:`m, v` of :math:`g` and :math:`g^2`, and a step
    :math:`\\eta_k` corrected for their bias."""

    def __init__(
        self,
        learning_rate: float | Callable[[tf.Tensor], tf.Tensor] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ):
        super().__init__(learning_rate)
        self.beta_1 = _check_float("beta_1", beta_1, 0, 1)
        self.beta_2 = _check_float("beta_2", beta_2, 0, 1)
        self.epsilon = _check_float("epsilon", epsilon, 0, low_open=True)

    def update_step(
        self, g: tf.Tensor, w: tf.Variable, eta: tf.Tensor
    ) -> None:
        t = tf.cast(self.iterations + 1, w.dtype)
        beta_1_power = tf.pow(tf.constant(self.beta_1, w.dtype), t)
        beta_2_power = tf.pow(tf.constant(self.beta_2, w.dtype), t)
        eta_t = eta * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = self.slot(w, "m"), self.slot(w, "v")
        m.assign_add((g - m) * (1 - self.beta_1))
        v.assign_add((tf.square(g) - v) * (1 - self.beta_2))
        w.assign_sub(m * eta_t / (tf.sqrt(v) + self.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), eq.
    :math:numref:`eq-adamw`: :math:`w \\leftarrow w - \\eta_k \\lambda w`, then
    the Adam step with the same gradient."""

    def __init__(
        self,
        learning_rate: float | Callable[[tf.Tensor], tf.Tensor] = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = _check_float("weight_decay", weight_decay, 0)

    def update_step(
        self, g: tf.Tensor, w: tf.Variable, eta: tf.Tensor
    ) -> None:
        w.assign_sub(w * self.weight_decay * eta)
        super().update_step(g, w, eta)


def rosenbrock(x: tf.Tensor) -> tf.Tensor:
    """Rosenbrock's valley :math:`f(x) = (1 - x_1)^2 + 100 (x_2 - x_1^2)^2`,
    minimum at (1, 1)."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def quadratic(A: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    """:math:`f(x) = \\frac12 x^T A x` (eq. :math:numref:`eq-quadratic`) for a
    symmetric positive definite matrix ``A``."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.allclose(A, A.T):
        raise ValueError(
            f"A must be a symmetric square matrix; got shape {A.shape}"
        )
    if np.linalg.eigvalsh(A)[0] <= 0:
        raise ValueError(
            "A must be positive definite; its smallest eigenvalue is <= 0"
        )

    def f(x: tf.Tensor) -> tf.Tensor:
        A_x = tf.linalg.matvec(tf.constant(A, x.dtype), x)
        return 0.5 * tf.reduce_sum(x * A_x)

    return f


def gradient_descent_rate(A: np.ndarray) -> tuple[float, float]:
    """The best fixed step :math:`\\eta^* = 2 / (\\lambda_{\\min} +
    \\lambda_{\\max})` of gradient descent on :math:numref:`eq-quadratic` and
    its rate :math:`(\\kappa - 1)/(\\kappa + 1)`, :math:`\\kappa =
    \\lambda_{\\max} / \\lambda_{\\min}` (eq. :math:numref:`eq-gd-rate`)."""
    quadratic(A)  # checks A
    lam = np.linalg.eigvalsh(np.asarray(A, dtype=np.float64))
    kappa = lam[-1] / lam[0]
    return 2.0 / (lam[0] + lam[-1]), (kappa - 1.0) / (kappa + 1.0)


def optimizer_path(
    f: Callable[[tf.Tensor], tf.Tensor],
    x0: Sequence[float],
    optimizer: Optimizer,
    steps: int,
) -> np.ndarray:
    """Iterates :math:`x_0, \\dots, x_{steps}` of ``optimizer`` minimizing
    ``f`` from ``x0``, in float64, as an array of shape ``(steps + 1, d)``; the
    loop runs in one compiled graph."""
    steps = check_int("steps", steps, 1)
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim != 1:
        raise ValueError(
            f"x0 must be a vector of shape (d,); got shape {x0.shape}"
        )
    x = tf.Variable(x0)

    def run() -> tf.Tensor:
        path = tf.TensorArray(tf.float64, size=steps + 1).write(
            0, x.read_value()
        )
        for k in tf.range(steps):
            with tf.GradientTape() as tape:
                value = f(x)
            optimizer.apply_gradients([(tape.gradient(value, x), x)])
            path = path.write(k + 1, x.read_value())
        return path.stack()

    # TensorFlow counts traces per function code and warns when most calls
    # trace; a fresh partial per path is its own function, so many paths in a
    # row are not taken for retracing.
    return tf.function(functools.partial(run))().numpy()
