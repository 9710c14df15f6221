"""Residual networks as forward Euler.

Code of the chapter *Dense and residual networks*
(``book/architectures/residual-networks.md``).

A residual block adds a correction to its input, :math:`x_{k+1} = x_k +
F(x_k)`. With :math:`F = \\Delta t\\, f` and :math:`L` blocks of step
:math:`\\Delta t = T/L`, the network is the forward Euler method for
:math:`\\mathrm{d}u/\\mathrm{d}t = f(u)` on :math:`[0, T]` (the book's
:math:numref:`eq-resnet-euler`). The module also holds the training loop that
the chapters of this part share, :func:`train_adam_cosine`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from scipy.integrate import solve_ivp

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_float,
    check_int,
)
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.core.training import (
    flat_variables,
    make_train_step,
    mean_squared_error,
)


@keras.saving.register_keras_serializable(package="sciml_nn")
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
    theta, omega = check_array("u", u, shape=("n", 2)).T
    return np.column_stack([-np.sin(theta), -omega * np.cos(theta)])


@keras.saving.register_keras_serializable(package="sciml_nn")
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
        self.field = check_callable("field", field)
        self.T = check_float("T", T, 0.0, low_open=True)
        self.L = check_int("L", L, 1)
        self.dt = self.T / self.L

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for _ in range(self.L):
            x = x + self.dt * self.field(x)
        return x

    def get_config(self) -> dict:
        # A Keras network or a registered function, such as pendulum
        field = keras.saving.serialize_keras_object(self.field)
        return {
            **super().get_config(),
            "field": field,
            "T": self.T,
            "L": self.L,
        }

    @classmethod
    def from_config(cls, config: dict) -> EulerResNet:
        """The network that :meth:`get_config` describes, its field rebuilt
        from its own configuration."""
        field = keras.saving.deserialize_keras_object(config.pop("field"))
        return cls(field, **config)


def reference_solution(
    field: Callable[[np.ndarray], np.ndarray],
    u0: np.ndarray,
    times: np.ndarray,
) -> np.ndarray:
    """States :math:`u(t)` at ``times`` (shape (n_times, n, d)) for each row of
    ``u0`` (n, d), from SciPy's DOP853 at tolerances of 1e-12: the outside
    reference the networks are checked against."""
    u0 = check_array("u0", u0, shape=("n", "d"))
    times = check_array("times", times, shape=("n_times",))
    if times[0] != 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be increasing and start at 0")
    n, d = u0.shape

    def right_hand_side(_t: float, flat: np.ndarray) -> np.ndarray:
        return np.asarray(field(flat.reshape(n, d))).ravel()

    solution = solve_ivp(
        right_hand_side,
        (0.0, times[-1]),
        u0.ravel(),
        method="DOP853",
        t_eval=times,
        rtol=1e-12,
        atol=1e-12,
    )
    return solution.y.T.reshape(len(times), n, d)


def train_adam_cosine(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Sequence[tf.Variable],
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    learning_rate: float = 1e-2,
) -> np.ndarray:
    """Minimise the mean squared error :math:numref:`eq-mse` of ``forward(x)``
    against ``y`` over ``variables`` by full-batch Adam, its step decaying
    from ``learning_rate`` to 0 along a cosine over ``steps`` steps.

    Each step is :func:`~sciml_nn.core.training.make_train_step`, and all
    ``steps`` run in one ``tf.function`` call (a graph loop, the same steps
    as calling the step from Python, without Python between them);
    ``variables``, built, may be a Keras model's ``trainable_variables``.
    Returns the loss at every step, shape (steps,).
    """
    steps = check_int("steps", steps, 1)
    learning_rate = check_float(
        "learning_rate", learning_rate, 0.0, low_open=True
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(flat_variables(variables))  # its state, before the loop
    step = make_train_step(
        forward, variables, optimizer, use_tf_function=False
    )
    x, y = tf.constant(x), tf.constant(y)

    def run_steps() -> tf.Tensor:
        # tf.range: a tf.while_loop, all steps in one graph call
        losses = tf.TensorArray(tf.float64, size=steps)
        for i in tf.range(steps):
            losses = losses.write(i, tf.cast(step(x, y), tf.float64))
        return losses.stack()

    # A partial is a new function per call: training several networks in a
    # row is not reported as retracing (TensorFlow counts traces per code).
    return tf.function(functools.partial(run_steps))().numpy()


def deep_network(
    depth: int, width: int, activation: str = "tanh", seed: int = 0
) -> list[keras.layers.Dense]:
    """``depth`` float64 Dense layers :math:`x \\mapsto \\sigma(x W_k + b_k)`
    of ``width`` units, Glorot-initialised with the seeds ``seed``, ...,
    ``seed + depth - 1``: the hidden layers of
    :func:`~sciml_nn.core.mlp.keras_mlp`, for a plain or a residual chain (see
    :func:`layer_gradient_norms`)."""
    depth = check_int("depth", depth, 1)
    # keras_mlp seeds its layer k with seed + k, k = 1, ..., L; its last
    # layer, linear, is not part of the chain.
    mlp = keras_mlp(
        [width] * (depth + 2), activation, seed - 1, dtype="float64"
    )
    return mlp.layers[:-1]


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
    with :math:`\\Delta t = 1/L`). The layers must be built.
    """
    x = check_array("x", x, shape=("n", layers[0].kernel.shape[0]))
    y = check_array("y", y, shape=(len(x), layers[-1].units))
    dt = 1.0 / len(layers)
    with tf.GradientTape() as tape:
        h = tf.constant(x)
        for layer in layers:
            h = h + dt * layer(h) if residual else layer(h)
        J = mean_squared_error(h, y)
    gradients = tape.gradient(J, [layer.kernel for layer in layers])
    return np.array([float(tf.norm(g)) for g in gradients])


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

    Full-batch Adam with a cosine-decaying step (:func:`train_adam_cosine`);
    returns the model and the loss :math:numref:`eq-mse` at every step.
    Rolling the model out :math:`N` times is a ResNet of :math:`N` blocks
    sharing one set of weights.
    """
    u_now = check_array("u_now", u_now, ("n", "d"), np.float32)
    u_next = check_array("u_next", u_next, u_now.shape, np.float32)
    d = u_now.shape[1]
    # keras_mlp seeds layer k with seed + k: the first gets seed.
    field = keras_mlp([d, width, width, d], "tanh", seed - 1)
    model = EulerResNet(field, dt, 1)
    losses = train_adam_cosine(
        model, field.trainable_variables, u_now, u_next, steps, 1e-2
    )
    return model, losses
