"""Physics-informed networks: the Laplacian of a network in its inputs by
nested tapes, residual losses of the Poisson equation with the boundary
conditions built into an ansatz or added as a penalty, random Fourier
features, and a solver :func:`solve_poisson_pinn` trained by
Levenberg-Marquardt.

Code of the chapter *Physics-informed networks*
(``book/equations/physics-informed-networks.md``); the two-dimensional
problem and the inverse problem of the chapter are in
:mod:`sciml_nn.physics_informed_networks_problems`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_choice,
    check_float,
    check_int,
)
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.core.training import make_train_step
from sciml_nn.second_order_training import make_levenberg_marquardt_step

Function = Callable[[tf.Tensor], tf.Tensor]


def as_points(name: str, x: Any) -> tf.Tensor:
    """``x`` as a float tensor of shape (n, d): NumPy input is checked
    (shape, finite) and becomes float64; a tensor keeps its dtype."""
    if not isinstance(x, tf.Tensor | tf.Variable):
        return tf.constant(check_array(name, x, shape=("n", "d")))
    if x.shape.rank != 2 or not x.dtype.is_floating:
        raise ValueError(
            f"{name} must be a float tensor of shape (n, d); got "
            f"{x.dtype.name} of shape {tuple(x.shape)}"
        )
    if tf.executing_eagerly() and not np.all(np.isfinite(x.numpy())):
        raise ValueError(f"{name} must be finite; got NaN or inf entries")
    return x


def laplacian(u: Function, x: Any) -> tf.Tensor:
    """:math:`\\Delta u(x_i) = \\sum_j \\partial^2 u / \\partial x_j^2`
    (:math:numref:`eq-laplacian-tape`) at the rows of ``x`` (n, d), shape
    (n, 1), by a tape inside a tape: the inner one gives :math:`\\nabla u`,
    the outer one differentiates each component :math:`\\partial_j u` once
    more. ``u`` maps (n, d) to (n, 1), row ``i`` depending on row ``i`` only
    (a network evaluated point by point)."""
    check_callable("u", u)
    x = as_points("x", x)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            value = u(x)
        if value.shape.rank != 2 or value.shape[1] != 1:
            raise ValueError(
                f"u must return shape (n, 1); got {tuple(value.shape)}"
            )
        gradient = inner.gradient(value, x)  # (n, d): row i is grad u(x_i)
        components = tf.unstack(gradient, axis=1)
    second = [outer.gradient(g_j, x)[:, j] for j, g_j in enumerate(components)]
    return tf.add_n(second)[:, None]


def dirichlet_ansatz(
    network: Function, lift: Function | None = None
) -> Function:
    """:math:`u(x) = g(x) + \\prod_j x_j (1 - x_j)\\, N(x)`
    (:math:numref:`eq-ansatz`): equal to the lift :math:`g` (zero if
    ``None``) on the boundary of the unit box whatever the network
    :math:`N` is."""
    check_callable("network", network)

    def u(x: tf.Tensor) -> tf.Tensor:
        distance = tf.reduce_prod(x * (1 - x), axis=1, keepdims=True)
        value = distance * network(x)
        return value if lift is None else value + lift(x)

    return u


def pinn_residuals(
    u: Function,
    kappa: float | tf.Variable = 1.0,
    weight: float = 1.0,
    scale: float = 1.0,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """The residuals of :math:numref:`eq-pinn-loss` as a function of
    ``(x, t, on_data)``, one row per point: :math:`(-\\kappa \\Delta u(x_i) -
    t_i) / s` where the equation holds (:math:`t_i = f(x_i)`, :math:`s` the
    ``scale`` of :math:`f`), and :math:`\\sqrt{w}\\,(u(x_i) - t_i)` where
    ``on_data`` (boundary values or observations :math:`t_i`)."""
    check_callable("u", u)
    root_weight = check_float("weight", weight, 0, low_open=True) ** 0.5
    scale = check_float("scale", scale, 0, low_open=True)

    def residuals(x: tf.Tensor, t: tf.Tensor, on_data: tf.Tensor) -> tf.Tensor:
        equation = (-kappa * laplacian(u, x) - t) / scale
        return tf.where(on_data, root_weight * (u(x) - t), equation)

    return residuals


@keras.saving.register_keras_serializable(package="sciml_nn")
class FourierFeatures(keras.layers.Layer):
    """:math:`x \\mapsto [\\cos(2\\pi x B), \\sin(2\\pi x B)]`
    (:math:numref:`eq-fourier-features`) with a fixed random matrix
    :math:`B` (d, m) of :math:`N(0, \\sigma^2)` entries drawn with
    ``seed``."""

    def __init__(
        self, features: int, sigma: float = 1.0, seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.features = check_int("features", features, 1)
        self.sigma = check_float("sigma", sigma, 0, low_open=True)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.B = self.add_weight(
            shape=(input_shape[-1], self.features),
            initializer=keras.initializers.RandomNormal(
                stddev=self.sigma, seed=self.seed
            ),
            trainable=False,
            name="B",
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        angle = 2 * np.pi * keras.ops.matmul(x, self.B)
        return keras.ops.concatenate(
            [keras.ops.cos(angle), keras.ops.sin(angle)], axis=-1
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "features": self.features,
            "sigma": self.sigma,
            "seed": self.seed,
        }


def pinn_network(
    inputs: int = 1,
    width: int = 10,
    depth: int = 2,
    features: int = 0,
    sigma: float = 1.0,
    seed: int = 0,
) -> keras.Model:
    """A float64 tanh network :math:`N` with ``depth`` hidden layers of
    ``width`` and one output, on the ``inputs`` coordinates, or with
    ``features`` > 0 on their random Fourier features."""
    sizes = [inputs] + [width] * check_int("depth", depth, 1) + [1]
    if check_int("features", features, 0) == 0:
        return keras_mlp(sizes, "tanh", seed, dtype="float64")
    sizes[0] = 2 * features
    embedding = FourierFeatures(features, sigma, seed, dtype="float64")
    return keras.Sequential(
        [
            keras.Input((inputs,), dtype="float64"),
            embedding,
            keras_mlp(sizes, "tanh", seed, dtype="float64"),
        ]
    )


def train_pinn(
    residuals: Callable[..., tf.Tensor],
    variables: Any,
    args: tuple[tf.Tensor, ...],
    steps: int = 100,
    optimizer: str = "levenberg-marquardt",
    learning_rate: float = 1e-3,
    monitor: Callable[[], float] | None = None,
) -> dict[str, np.ndarray]:
    """Minimise :math:`\\frac1n \\sum_i r_i^2` over ``variables`` by
    ``steps`` Levenberg-Marquardt steps (:math:numref:`eq-levenberg-marquardt`)
    or Adam steps; returns the loss and, if a ``monitor`` is given, its value
    after every step, and the training time in seconds."""
    steps = check_int("steps", steps, 1)
    check_choice("optimizer", optimizer, ("levenberg-marquardt", "adam"))
    if optimizer == "levenberg-marquardt":
        step = make_levenberg_marquardt_step(residuals, variables)
    else:  # the mean squared error of the residuals against zero
        learning_rate = check_float("learning_rate", learning_rate, 0)
        adam = keras.optimizers.Adam(learning_rate)
        train_step = make_train_step(lambda a: residuals(*a), variables, adam)
        zeros = tf.zeros_like(args[1])

        def step(*args: tf.Tensor) -> tf.Tensor:
            return train_step(args, zeros)

    losses, monitored = [], []
    start = time.perf_counter()
    for _ in range(steps):
        losses.append(float(step(*args)))
        if monitor is not None:
            monitored.append(monitor())
    seconds = time.perf_counter() - start
    return {
        "loss": np.array(losses),
        "monitor": np.array(monitored),
        "seconds": seconds,
    }


def size_of(f_x: np.ndarray) -> float:
    """The root mean square of the values ``f_x`` (1 if they are all zero):
    dividing the equation's residuals by it makes them of size one."""
    return float(np.sqrt(np.mean(np.square(f_x)))) or 1.0


class PINNSolution:
    """A trained solution :math:`u`: called on NumPy points (n, d) it returns
    NumPy values (n, 1). ``history`` holds the training record of
    :func:`train_pinn`, ``network`` the network :math:`N`."""

    def __init__(
        self, u: Function, network: keras.Model, history: dict[str, Any]
    ) -> None:
        self.u, self.network, self.history = u, network, history
        self.inputs = int(network.inputs[0].shape[-1])
        self.compiled = tf.function(u, reduce_retracing=True)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = check_array("x", x, shape=("n", self.inputs))
        return np.asarray(self.compiled(tf.constant(x)))


def solve_poisson_pinn(
    f: Function,
    u0: float,
    u1: float,
    *,
    seed: int = 0,
    points: int = 64,
    width: int = 16,
    steps: int = 100,
    boundary: str = "ansatz",
    weight: float = 1.0,
    features: int = 0,
    sigma: float = 1.0,
    optimizer: str = "levenberg-marquardt",
    monitor: Callable[[PINNSolution], float] | None = None,
) -> PINNSolution:
    """Solve :math:`-u'' = f` on (0, 1), :math:`u(0) = u_0`, :math:`u(1) =
    u_1` (:math:numref:`eq-poisson-1d`) by training :func:`pinn_network` on
    the residuals :func:`pinn_residuals` at ``points`` equispaced interior
    points. ``boundary="ansatz"`` builds the boundary values in
    (:func:`dirichlet_ansatz`, lift :math:`u_0 (1 - x) + u_1 x`);
    ``"penalty"`` adds the rows :math:`\\sqrt{w}(u - u_{0,1})` at 0 and 1.
    ``f`` maps a float64 tensor (n, 1) to (n, 1); ``monitor(solution)`` is
    recorded after every step."""
    check_callable("f", f)
    u0, u1 = check_float("u0", u0), check_float("u1", u1)
    points = check_int("points", points, 1)
    boundary = check_choice("boundary", boundary, ("ansatz", "penalty"))
    network = pinn_network(1, width, 2, features, sigma, seed)
    x = np.linspace(0, 1, points + 2)[:, None]  # the ends: boundary rows
    if boundary == "ansatz":
        u = dirichlet_ansatz(network, lambda x: u0 * (1 - x) + u1 * x)
        x = x[1:-1]
    else:
        u = network
    f_x = check_array("f(x)", f(tf.constant(x)), shape=(len(x), 1))
    on_data = (x == 0) | (x == 1)
    t = np.where(x == 0, u0, np.where(x == 1, u1, f_x))
    solution = PINNSolution(u, network, {})
    solution.history = train_pinn(
        pinn_residuals(u, 1.0, weight, size_of(f_x)),
        network.trainable_variables,
        (tf.constant(x), tf.constant(t), tf.constant(on_data)),
        steps,
        optimizer,
        monitor=None if monitor is None else lambda: monitor(solution),
    )
    return solution
