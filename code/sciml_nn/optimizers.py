"""Gradient descent, momentum, Nesterov, learning-rate decay, Adam and AdamW,
written from scratch.

Code of the chapter *Optimizers*
(``book/optimization/optimizers.md``).

Each optimizer takes the argument names, defaults and update formulas of
``keras.optimizers``, so it drops into a custom training loop:
``apply_gradients(zip(gradients, variables))`` updates the ``tf.Variable`` s in
place, creates its per-variable state (the *slots*) on first use and counts the
steps in ``iterations``, in eager code or inside ``tf.function``. The learning
rate is a float, a schedule of :mod:`sciml_nn.optimizers_schedules`, or any
callable of the step :math:`k` (``iterations``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_float,
    check_int,
    check_same_shape,
)
from sciml_nn.core.training import flat_variables


class Optimizer:
    """What all optimizers share: the learning rate :math:`\\eta_k`, the step
    counter :math:`k` (``iterations``), lazily created slots and
    ``apply_gradients``. Subclasses define ``update_step(g, w, eta)``, the rule
    for one variable."""

    def __init__(
        self, learning_rate: float | Callable[[tf.Tensor], tf.Tensor]
    ) -> None:
        if not callable(learning_rate):
            learning_rate = check_float("learning_rate", learning_rate, 0)
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
        pairs = check_grads_and_vars(grads_and_vars)
        eta = self.current_learning_rate()
        for g, w in pairs:
            # A float becomes the variable's dtype directly; a schedule's
            # float32 value is cast.
            eta_w = (
                tf.constant(eta, w.dtype)
                if isinstance(eta, float)
                else tf.cast(eta, w.dtype)
            )
            self.update_step(tf.cast(g, w.dtype), w, eta_w)
        self.iterations.assign_add(1)
        return self.iterations

    def update_step(
        self, g: tf.Tensor, w: tf.Variable, eta: tf.Tensor
    ) -> None:
        """The update of one variable ``w`` with its gradient ``g`` and the
        learning rate ``eta``; each optimizer defines its own."""
        raise NotImplementedError


def check_grads_and_vars(
    grads_and_vars: Iterable[tuple[tf.Tensor, tf.Variable]],
) -> list[tuple[tf.Tensor, tf.Variable]]:
    """Return the ``(gradient, variable)`` pairs as a list, each variable a
    ``tf.Variable`` (a ``keras.Variable`` is unwrapped) and each gradient a
    tensor of its variable's shape."""
    pairs = list(grads_and_vars)
    variables = flat_variables([w for _, w in pairs])
    checked = []
    for (g, _), w in zip(pairs, variables):
        if g is None:
            raise ValueError(f"the gradient of variable {w.name} is None")
        g = tf.convert_to_tensor(g)
        check_same_shape(f"the gradient of {w.name}", g, w.name, w)
        checked.append((g, w))
    return checked


class SGD(Optimizer):
    """Gradient descent :math:numref:`eq-gd`; with ``momentum`` :math:`\\mu >
    0` the heavy ball :math:numref:`eq-momentum`, and with ``nesterov``
    Nesterov's step :math:numref:`eq-nesterov`."""

    def __init__(
        self,
        learning_rate: float | Callable[[tf.Tensor], tf.Tensor] = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_float("momentum", momentum, 0, 1, high_open=True)
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
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_float("beta_1", beta_1, 0, 1, high_open=True)
        self.beta_2 = check_float("beta_2", beta_2, 0, 1, high_open=True)
        self.epsilon = check_float("epsilon", epsilon, 0, low_open=True)

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
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = check_float("weight_decay", weight_decay, 0)

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
    x = tf.Variable(check_array("x0", x0, shape=(None,)))

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


def full_batch_history(
    step: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    x: tf.Tensor,
    y: tf.Tensor,
    steps: int,
    record_every: int = 1,
    evaluate: Callable[[], float] | None = None,
) -> dict[str, list[float]]:
    """Call ``step(x, y)``, a training step that returns its loss, ``steps``
    times on the full batch ``(x, y)``.

    Every ``record_every`` steps, and after the last, records the step count
    (``"step"``), the loss that step returned (``"loss"``), the seconds spent
    in steps so far (``"seconds"``; the first step, which compiles, not
    counted) and, with ``evaluate``, what it returns (``"error"``, not timed).
    """
    steps = check_int("steps", steps, 1)
    record_every = check_int("record_every", record_every, 1)
    history: dict[str, list[float]] = {"step": [], "loss": [], "seconds": []}
    if evaluate is not None:
        history["error"] = []
    seconds = 0.0
    for k in range(1, steps + 1):
        start = time.perf_counter()
        loss = float(step(x, y))
        seconds += time.perf_counter() - start if k > 1 else 0.0
        if k % record_every == 0 or k == steps:
            history["step"].append(k)
            history["loss"].append(loss)
            history["seconds"].append(seconds)
            if evaluate is not None:
                history["error"].append(evaluate())
    return history
