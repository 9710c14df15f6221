"""Learning solution operators: the family of problems
:math:`-(a u')' = 1` on (0, 1) with :math:`u(0) = u(1) = 0`, its direct
solver, random coefficients :math:`a`, a DeepONet for the map :math:`a \\mapsto
u`, the training loop and the cost of a query.

Code of the chapter *Learning solution operators*
(``book/equations/solution-operators.md``); the Fourier neural operator is in
:mod:`sciml_nn.solution_operators_fourier`.

Functions live on the grid :math:`x_j = j/n`, :math:`j = 0, \\dots, n-1`, of
:math:`n` points with spacing :math:`h = 1/n`: it holds :math:`x = 0` and
leaves out :math:`x = 1`, its periodic image, so that the grids of :math:`n`,
:math:`2n` and :math:`4n` points are nested and sample the same period.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_float,
    check_int,
)
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.core.training import flat_variables, make_train_step


def operator_grid(n: int) -> np.ndarray:
    """The grid :math:`x_j = j/n`, :math:`j = 0, \\dots, n-1`, of (0, 1)."""
    return np.arange(check_int("n", n, 2)) / n


def random_log_coefficients(
    count: int, modes: int = 8, seed: int = 0
) -> np.ndarray:
    """``count`` random smooth functions :math:`g(x) = \\sum_{k=1}^{K} c_k
    \\cos(k\\pi x)` with :math:`c_k = \\zeta_k / (k + 1)`, :math:`\\zeta_k
    \\sim N(0, 1)`, :math:`K` = ``modes``; returns the coefficients :math:`c`
    as (count, modes). :func:`coefficient` evaluates :math:`a = e^g` at any
    points."""
    count, modes = check_int("count", count, 1), check_int("modes", modes, 1)
    zeta = np.random.default_rng(seed).normal(size=(count, modes))
    return zeta / np.arange(2, modes + 2)


def coefficient(c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:math:`a(x) = \\exp \\sum_k c_k \\cos(k\\pi x) > 0` for each row of
    ``c`` (count, modes) at the points ``x`` (m,); returns (count, m)."""
    c = check_array("c", c, shape=("count", "modes"))
    x = check_array("x", x, shape=("m",))
    k = np.arange(1, c.shape[1] + 1)
    return np.exp(c @ np.cos(np.pi * np.outer(k, x)))


def darcy_solve(a_half: np.ndarray, f: float | np.ndarray = 1.0) -> np.ndarray:
    """Solve the finite-volume scheme :math:numref:`eq-darcy-fv`,
    :math:`(a_{j-1/2}(u_j - u_{j-1}) - a_{j+1/2}(u_{j+1} - u_j))/h^2 = f_j`,
    :math:`j = 1, \\dots, n-1`, :math:`u_0 = u_n = 0`, for each row of
    ``a_half`` (count, n), the coefficient at the midpoints
    :math:`x_{j+1/2}`; :math:`h = 1/n`. ``f`` is a number or (count, n-1).
    The tridiagonal system is solved by the Thomas algorithm, :math:`O(n)`
    operations, vectorised over the rows. Returns :math:`u_1, \\dots,
    u_{n-1}` as (count, n-1)."""
    a = check_array("a_half", a_half, shape=("count", "n"))
    if a.shape[1] < 2 or np.any(a <= 0):
        raise ValueError("a_half must be positive, with n >= 2 columns")
    count, n = a.shape
    f = check_array("f", f, shape=None)
    f = check_array(
        "f",
        np.broadcast_to(f, (count, n - 1)) if f.ndim == 0 else f,
        (count, n - 1),
    )
    # Row i (unknown u_{i+1}) reads below * u_i + diagonal * u_{i+1}
    # + above * u_{i+2} = h^2 f_{i+1}.
    diagonal, off = a[:, :-1] + a[:, 1:], -a[:, 1:-1]
    below = np.pad(off, ((0, 0), (1, 0)))  # 0 in the first row
    above = np.pad(off, ((0, 0), (0, 1)))  # 0 in the last row
    rhs = f / n**2
    # Forward sweep: row i becomes u_{i+1} + gamma_i u_{i+2} = rho_i.
    gamma, rho = np.zeros_like(rhs), np.zeros_like(rhs)
    g, r = 0.0, 0.0
    for i in range(n - 1):
        pivot = diagonal[:, i] - below[:, i] * g
        g, r = above[:, i] / pivot, (rhs[:, i] - below[:, i] * r) / pivot
        gamma[:, i], rho[:, i] = g, r
    # Back substitution, from the last unknown to the first.
    u, u_next = np.zeros_like(rhs), 0.0
    for i in reversed(range(n - 1)):
        u[:, i] = u_next = rho[:, i] - gamma[:, i] * u_next
    return u


def darcy_pairs(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients :math:`a = e^g` of ``c`` (from
    :func:`random_log_coefficients`) on the grid :func:`operator_grid` of
    ``n`` points, and the solutions :math:`u` of :math:numref:`eq-darcy-fv`
    with :math:`f = 1` there (:math:`u_0 = 0` included); both (count, n)."""
    n = check_int("n", n, 2)
    x = operator_grid(n)
    u = darcy_solve(coefficient(c, x + 0.5 / n))
    return coefficient(c, x), np.pad(u, ((0, 0), (1, 0)))


def sensor_values(a: np.ndarray, sensors: int) -> np.ndarray:
    """The columns of ``a`` (count, n) at the ``sensors`` points
    :math:`x_j = j/\\mathrm{sensors}` of the coarser nested grid: every
    (n / sensors)-th column. A finer grid adds no values at the sensors."""
    a = check_array("a", a, shape=("count", "n"))
    sensors = check_int("sensors", sensors, 1)
    if a.shape[1] % sensors:
        raise ValueError(
            f"a must have a multiple of sensors = {sensors} columns; got "
            f"{a.shape[1]}"
        )
    return a[:, :: a.shape[1] // sensors]


@keras.saving.register_keras_serializable(package="sciml_nn")
class DeepONet(keras.Model):
    """:math:`G(a)(y) = \\sum_{k=1}^{p} b_k(a)\\, t_k(y) + b_0`
    (:math:numref:`eq-deeponet`), times ``output_scale``: the ``branch``
    network maps the input at the m sensors, (batch, m), to :math:`b \\in
    \\mathbb{R}^p`; the ``trunk`` network maps query points :math:`y`,
    (points, 1), to :math:`t(y) \\in \\mathbb{R}^p`. Called on ``(a, y)``, it
    returns (batch, points)."""

    def __init__(
        self,
        branch: keras.Model,
        trunk: keras.Model,
        output_scale: float = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if branch.output_shape[-1] != trunk.output_shape[-1]:
            raise ValueError(
                "branch and trunk must have the same number of outputs p; "
                f"got {branch.output_shape[-1]} and {trunk.output_shape[-1]}"
            )
        self.branch, self.trunk = branch, trunk
        self.output_scale = check_float("output_scale", output_scale)
        self.b0 = self.add_weight(shape=(), initializer="zeros", name="b0")

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        a, y = inputs
        G = ops.matmul(self.branch(a), ops.transpose(self.trunk(y)))
        return self.output_scale * (G + self.b0)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "branch": keras.saving.serialize_keras_object(self.branch),
            "trunk": keras.saving.serialize_keras_object(self.trunk),
            "output_scale": self.output_scale,
        }

    @classmethod
    def from_config(cls, config: dict) -> DeepONet:
        """The network that :meth:`get_config` describes, its branch and
        trunk rebuilt from their own configurations."""
        branch = keras.saving.deserialize_keras_object(config.pop("branch"))
        trunk = keras.saving.deserialize_keras_object(config.pop("trunk"))
        return cls(branch, trunk, **config)


def deeponet(
    sensors: int,
    width: int = 64,
    depth: int = 3,
    p: int = 32,
    output_scale: float = 1.0,
    seed: int = 0,
) -> DeepONet:
    """A :class:`DeepONet` whose branch and trunk are tanh MLPs
    (:func:`~sciml_nn.core.mlp.keras_mlp`) of ``depth`` hidden layers of
    ``width`` units and ``p`` linear outputs."""
    hidden = [check_int("width", width, 1)] * check_int("depth", depth, 1)
    p = check_int("p", p, 1)
    branch = keras_mlp(
        [check_int("sensors", sensors, 1), *hidden, p], seed=seed
    )
    trunk = keras_mlp([1, *hidden, p], seed=seed + 100)
    return DeepONet(branch, trunk, output_scale)


def fit_operator(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Sequence[tf.Variable],
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    batch_size: int = 50,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """Minimise the mean squared error :math:numref:`eq-mse` of
    ``forward(x)`` against ``y`` (samples along the first axis) by ``steps``
    Adam steps on minibatches of about ``batch_size`` samples, a new order
    every epoch, the step decaying along a cosine
    (:math:numref:`eq-cosine-decay`); each step is
    :func:`~sciml_nn.core.training.make_train_step` in a ``tf.function``.
    Returns the loss of every step."""
    forward = check_callable("forward", forward)
    x = check_array("x", x, dtype=np.float32)
    y = check_array("y", y, dtype=np.float32)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            "x and y must hold the same number of samples along their first "
            f"axis; got shapes {x.shape} and {y.shape}"
        )
    steps = check_int("steps", steps, 1)
    batches = max(1, len(x) // check_int("batch_size", batch_size, 1))
    learning_rate = check_float(
        "learning_rate", learning_rate, 0.0, low_open=True
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    adam = keras.optimizers.Adam(schedule)
    # Adam's moments made now, not in the first step: one trace, not two
    adam.build(flat_variables(variables))
    step = make_train_step(forward, variables, adam)
    rng, losses = np.random.default_rng(seed), []
    while len(losses) < steps:
        for rows in np.array_split(rng.permutation(len(x)), batches):
            if len(losses) < steps:
                losses.append(float(step(x[rows], y[rows])))
    return np.array(losses)


def break_even_queries(
    training_seconds: float,
    solver_seconds: float,
    surrogate_seconds: float,
) -> float:
    """The number of queries :math:`Q^* = T / (t_\\mathrm{solver} -
    t_\\mathrm{surrogate})` (:math:numref:`eq-break-even`) after which a
    surrogate that cost :math:`T` seconds to make (data and training) has
    saved more than it cost, each query costing :math:`t` seconds; ``inf``
    when the surrogate is not cheaper per query."""
    T = check_float("training_seconds", training_seconds, 0.0)
    solver = check_float("solver_seconds", solver_seconds, 0.0)
    surrogate = check_float("surrogate_seconds", surrogate_seconds, 0.0)
    return T / (solver - surrogate) if solver > surrogate else math.inf
