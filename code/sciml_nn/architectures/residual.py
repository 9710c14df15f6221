"""Residual networks as forward Euler.

A residual block adds a correction to its input, :math:`x_{k+1} = x_k +
F(x_k)`. With :math:`F = \\Delta t\\, f` and :math:`L` blocks of step
:math:`\\Delta t = T/L`, the network is the forward Euler method for
:math:`\\mathrm{d}u/\\mathrm{d}t = f(u)` on :math:`[0, T]` (the book's
:math:numref:`eq-resnet-euler`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from scipy.integrate import solve_ivp

from sciml_nn.checks import check_int
from sciml_nn.networks import check_activation
from sciml_nn.training import make_train_step


def pendulum(u: tf.Tensor) -> tf.Tensor:
    """The pendulum's vector field :math:`f(\\theta, \\omega) = (\\omega,
    -\\sin\\theta)`, rows of ``u`` being states :math:`(\\theta, \\omega)`;
    works on NumPy arrays and tensors alike."""
    return ops.stack([u[:, 1], -ops.sin(u[:, 0])], axis=1)


def pendulum_jacobian_field(u: np.ndarray) -> np.ndarray:
    """:math:`f'(u)\\, f(u) = (-\\sin\\theta, -\\omega\\cos\\theta)` for the
    pendulum's vector field :func:`pendulum`, :math:`f'` being its Jacobian.

    It is the second term of the Taylor expansion of the exact flow,
    :math:`u(t + \\Delta t) = u + \\Delta t\\, f + \\tfrac{\\Delta t^2}{2} f' f
    + O(\\Delta t^3)`. Rows of ``u`` are states :math:`(\\theta, \\omega)`;
    returns float64 (n, 2).
    """
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != 2:
        raise ValueError(f"u must have shape (n, 2); got {u.shape}")
    theta, omega = u[:, 0], u[:, 1]
    return np.column_stack([-np.sin(theta), -omega * np.cos(theta)])


class EulerResNet(keras.Model):
    """:math:`L` residual blocks :math:`x_{k+1} = x_k + \\Delta t\\, f(x_k)`,
    :math:`\\Delta t = T/L` (:math:numref:`eq-resnet-euler`), every block
    sharing the vector field ``field``.

    ``field`` maps a batch of states (n, d) to (n, d): a known vector field
    such as :func:`pendulum`, or a Keras network whose weights are trained.
    Inputs are cast to the model's dtype, float32 unless ``dtype="float64"`` is
    passed, as for any Keras model.
    """

    def __init__(
        self,
        field: Callable[[tf.Tensor], tf.Tensor],
        T: float,
        L: int,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(field):
            raise TypeError(
                f"field must be callable; got {type(field).__name__}"
            )
        if not np.isfinite(T) or T <= 0:
            raise ValueError(f"T must be a positive number; got {T}")
        self.field, self.T, self.L = field, float(T), check_int("L", L, 1)
        self.dt = self.T / self.L

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for _ in range(self.L):
            x = x + self.dt * self.field(x)
        return x


def reference_solution(
    field: Callable[[np.ndarray], np.ndarray],
    u0: np.ndarray,
    times: np.ndarray,
) -> np.ndarray:
    """States :math:`u(t)` at ``times`` (shape (n_times, n, d)) for each row of
    ``u0`` (n, d), from SciPy's DOP853 at tolerances of 1e-12: the outside
    reference the networks are checked against."""
    u0 = np.asarray(u0, dtype=np.float64)
    if u0.ndim != 2:
        raise ValueError(f"u0 must have shape (n, d); got {u0.shape}")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times[0] != 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be increasing and start at 0")
    n, d = u0.shape

    def rhs(_t: float, flat: np.ndarray) -> np.ndarray:
        return np.asarray(field(flat.reshape(n, d))).ravel()

    sol = solve_ivp(
        rhs,
        (0.0, times[-1]),
        u0.ravel(),
        method="DOP853",
        t_eval=times,
        rtol=1e-12,
        atol=1e-12,
    )
    return sol.y.T.reshape(len(times), n, d)


def deep_network(
    depth: int,
    width: int,
    residual: bool,
    activation: str = "tanh",
    seed: int = 0,
) -> list[keras.layers.Dense]:
    """``depth`` Dense layers of ``width`` units (Glorot init, float64), used
    as a plain chain :math:`x_{k+1} = \\sigma(x_k W_k + b_k)` or a residual one
    (see :func:`layer_gradient_norms`)."""
    depth, width = check_int("depth", depth, 1), check_int("width", width, 1)
    check_activation(activation)
    return [
        keras.layers.Dense(
            width,
            activation=activation,
            dtype="float64",
            kernel_initializer=keras.initializers.GlorotUniform(seed + k),
        )
        for k in range(depth)
    ]


def layer_gradient_norms(
    layers: list[keras.layers.Dense],
    x: np.ndarray,
    y: np.ndarray,
    residual: bool,
) -> np.ndarray:
    """:math:`\\|\\partial J / \\partial W_k\\|` for every layer :math:`k`,
    with :math:`J` the mean squared error of the chain's output against ``y``.

    Plain: :math:`x_{k+1} = \\sigma(x_k W_k + b_k)`; residual: :math:`x_{k+1} =
    x_k + \\tfrac1L \\sigma(x_k W_k + b_k)` (:math:numref:`eq-residual-block`
    with :math:`\\Delta t = 1/L`).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(
            f"x and y must be 2-D of one shape; got {x.shape} and {y.shape}"
        )
    if residual and x.shape[1] != layers[0].units:
        raise ValueError(
            f"a residual chain keeps the width: x must have {layers[0].units} "
            f"columns; got {x.shape[1]}"
        )
    dt = 1.0 / len(layers)
    with tf.GradientTape() as tape:
        h = tf.constant(x)
        for layer in layers:
            h = h + dt * layer(h) if residual else layer(h)
        loss = tf.reduce_mean((h - y) ** 2)
    grads = tape.gradient(loss, [layer.kernel for layer in layers])
    return np.array([float(tf.norm(g)) for g in grads])


def fit_flow_map(
    u_now: np.ndarray,
    u_next: np.ndarray,
    dt: float,
    width: int = 32,
    steps: int = 2000,
    seed: int = 0,
) -> tuple[EulerResNet, np.ndarray]:
    """Train a one-block :class:`EulerResNet` :math:`u_{n+1} \\approx u_n +
    \\Delta t\\, F_\\xi(u_n)` on pairs of states a time ``dt`` apart, with
    :math:`F_\\xi` a tanh MLP of two hidden layers.

    Full-batch Adam with a cosine-decaying step, in a ``tf.function``; returns
    the model and the loss :math:numref:`eq-mse` at every step. Rolling the
    model out :math:`N` times is a ResNet of :math:`N` blocks sharing one set
    of weights.
    """
    u_now, u_next = (
        np.asarray(u_now, np.float32),
        np.asarray(u_next, np.float32),
    )
    if u_now.ndim != 2 or u_now.shape != u_next.shape:
        raise ValueError(
            f"u_now and u_next must be 2-D of one shape; got {u_now.shape} "
            "and "
            f"{u_next.shape}"
        )
    steps, width = check_int("steps", steps, 1), check_int("width", width, 1)
    d = u_now.shape[1]
    init = keras.initializers.GlorotUniform
    field = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(width, "tanh", kernel_initializer=init(seed)),
            keras.layers.Dense(
                width, "tanh", kernel_initializer=init(seed + 1)
            ),
            keras.layers.Dense(d, kernel_initializer=init(seed + 2)),
        ]
    )
    model = EulerResNet(field, dt, 1)
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, steps)
    # The tf.Variable behind each Keras variable, which is what the tape and
    # the step watch.
    variables = [v.value for v in field.trainable_variables]
    step = make_train_step(model, variables, keras.optimizers.Adam(schedule))
    x, y = tf.constant(u_now), tf.constant(u_next)
    losses = np.array([float(step(x, y)) for _ in range(steps)])
    return model, losses
