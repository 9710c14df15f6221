"""The exercise: fit :math:`f(x) = x^T x` on the unit box :math:`[0, 1]^2` with
both interfaces.

Accuracy is the relative :math:`L^2` error on fresh test points (the book's
equation :math:numref:`eq-relative-l2`). The recipe trains a small tanh network
on samples :math:`(x_i, f(x_i))` with Levenberg-Marquardt steps; the
first-order alternatives (SGD, momentum, Adam, Adam with a decaying learning
rate) and a naive Keras baseline are here for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_choice, check_int
from sciml_nn.data import make_dataset, squared_norm
from sciml_nn.networks import (
    check_activation,
    init_mlp,
    keras_mlp,
    mlp_tensorflow,
)
from sciml_nn.training import make_train_step

INTERFACES = ("keras", "lowlevel")
RECIPES = ("levenberg-marquardt", "adam")
OPTIMIZERS = ("sgd", "momentum", "adam", "adam-decay", "levenberg-marquardt")
TEST_SEED = 1_000_003
DEFAULT_STEPS = {"levenberg-marquardt": 100, "adam": 3000}


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
    x, y = _check_points(x), np.asarray(y, dtype=np.float64)
    if y.shape != (x.shape[0], 1):
        raise ValueError(f"y must have shape ({x.shape[0]}, 1); got {y.shape}")
    prediction = (
        model_or_prediction(x)
        if callable(model_or_prediction)
        else model_or_prediction
    )
    prediction = np.asarray(prediction, dtype=np.float64)
    if prediction.shape != y.shape:
        raise ValueError(
            f"prediction must have shape {y.shape}; got {prediction.shape}"
        )
    return float(np.linalg.norm(prediction - y) / np.linalg.norm(y))


def residual_jacobian(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Sequence[tf.Variable],
    x: tf.Tensor,
) -> tf.Tensor:
    """:math:`J_{ij} = \\partial N(x_i, \\xi) / \\partial \\xi_j`, shape ``(n,
    P)``: one reverse pass per sample, vectorized over the samples with
    ``tf.vectorized_map``."""
    variables = list(variables)

    def row(x_i: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            output = forward(x_i[None])[0, 0]
        return tf.concat(
            [tf.reshape(g, [-1]) for g in tape.gradient(output, variables)], 0
        )

    return tf.vectorized_map(row, tf.convert_to_tensor(x))


def make_levenberg_marquardt_step(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Sequence[tf.Variable],
    mu: float = 1e-3,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One Levenberg-Marquardt step :math:numref:`eq-levenberg-marquardt`,
    compiled.

    :math:`r_i = N(x_i, \\xi) - y_i` are the residuals and :math:`J = \\partial
    r / \\partial \\xi`. A step that lowers the loss is kept and :math:`\\mu`
    shrinks; otherwise it is undone and :math:`\\mu` grows, so the update moves
    between Gauss-Newton and small gradient steps.
    """
    variables = list(variables)
    sizes = [int(np.prod(v.shape)) for v in variables]
    damping = tf.Variable(mu, dtype=tf.float64, trainable=False)

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        r = tf.cast(tf.reshape(forward(x) - y, [-1]), tf.float64)
        loss = tf.reduce_mean(r**2)
        # float64 because J^T J squares the condition number of J.
        J = tf.cast(residual_jacobian(forward, variables, x), tf.float64)
        A = tf.matmul(J, J, transpose_a=True) + damping * tf.eye(
            sum(sizes), dtype=tf.float64
        )
        rhs = -tf.linalg.matvec(J, r, transpose_a=True)[:, None]
        delta = tf.split(
            tf.linalg.cholesky_solve(tf.linalg.cholesky(A), rhs)[:, 0], sizes
        )
        old = [tf.identity(v) for v in variables]
        for v, d in zip(variables, delta):
            v.assign_add(tf.reshape(tf.cast(d, v.dtype), v.shape))
        new_loss = tf.reduce_mean(tf.cast(forward(x) - y, tf.float64) ** 2)
        accept = new_loss < loss
        for v, v_old in zip(variables, old):
            v.assign(tf.where(accept, v, v_old))
        damping.assign(
            tf.clip_by_value(
                tf.where(accept, damping / 3, damping * 2), 1e-12, 1e12
            )
        )
        return tf.cast(tf.minimum(loss, new_loss), tf.float32)

    return step


class LowLevelMLP(tf.Module):
    """The network :math:numref:`eq-mlp` on ``tf.Variable`` s, inputs mapped
    from [0, 1] to [-1, 1]."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "tanh",
        seed: int = 0,
    ):
        super().__init__(name="lowlevel_mlp")
        self.activation = check_activation(activation)
        self.params = [
            (tf.Variable(W, name=f"W_{k}"), tf.Variable(b, name=f"b_{k}"))
            for k, (W, b) in enumerate(init_mlp(layer_sizes, seed), start=1)
        ]
        self.xi = [v for pair in self.params for v in pair]

    def forward(self, x: tf.Tensor) -> tf.Tensor:
        """:math:`N(2x - 1, \\xi)` on a float32 tensor, differentiable by
        ``tf.GradientTape``."""
        return mlp_tensorflow(2.0 * x - 1.0, self.params, self.activation)

    def __call__(self, x) -> tf.Tensor:
        """Evaluate on an array of shape ``(n, 2)``; returns shape ``(n,
        1)``."""
        return self.forward(tf.convert_to_tensor(_check_points(x)))


def keras_network(
    layer_sizes: Sequence[int], activation: str = "tanh", seed: int = 0
):
    """:func:`~sciml_nn.networks.keras_mlp` behind a layer that maps [0, 1] to
    [-1, 1]."""
    return keras.Sequential(
        [
            keras.Input(shape=(layer_sizes[0],)),
            keras.layers.Rescaling(scale=2.0, offset=-1.0),
            keras_mlp(layer_sizes, activation, seed),
        ]
    )


class LevenbergMarquardtModel(keras.Model):
    """A Keras model whose ``fit`` takes Levenberg-Marquardt steps (a custom
    ``train_step``)."""

    def __init__(self, network: keras.Model, mu: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.lm_step = make_levenberg_marquardt_step(
            network, network.trainable_variables, mu
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.network(x)

    def train_step(self, data) -> dict[str, tf.Tensor]:
        x, y = data
        return {"loss": self.lm_step(x, y)}


def fit_xtx(
    interface: str = "keras",
    seed: int = 0,
    *,
    recipe: str = "levenberg-marquardt",
    steps: int | None = None,
    width: int = 20,
    depth: int = 2,
    activation: str = "tanh",
    n_train: int = 1024,
) -> LowLevelMLP | keras.Model:
    """Train a network with ``depth`` hidden layers of ``width`` units on
    ``n_train`` samples :math:`(x_i, x_i^T x_i)`, :math:`x_i` uniform in
    :math:`[0, 1]^2`, and return it.

    Every step uses all samples (full batch). ``recipe`` is
    ``"levenberg-marquardt"`` (default, 100 steps) or ``"adam"`` (3000 steps,
    learning rate :math:`10^{-2}` cosine-decayed to :math:`10^{-5}`). The
    returned model maps a float32 ``(n, 2)`` array to shape ``(n, 1)``.
    """
    check_choice("interface", interface, INTERFACES)
    check_choice("recipe", recipe, RECIPES)
    steps = (
        DEFAULT_STEPS[recipe]
        if steps is None
        else check_int("steps", steps, 1)
    )
    layer_sizes = (
        [2]
        + [check_int("width", width, 1)] * check_int("depth", depth, 1)
        + [1]
    )
    check_activation(activation)
    keras.utils.set_random_seed(check_int("seed", seed))
    x, y = make_dataset(
        squared_norm, check_int("n_train", n_train, 1), 2, seed
    )
    train = fit_xtx_lowlevel if interface == "lowlevel" else fit_xtx_keras
    return train(x, y, layer_sizes, activation, recipe, steps, seed)


def fit_xtx_lowlevel(
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: list[int],
    activation: str,
    recipe: str,
    steps: int,
    seed: int,
) -> LowLevelMLP:
    """Low-level solution: ``tf.Variable`` s, a compiled step, a plain Python
    loop.

    :func:`fit_xtx` checks the arguments and draws the samples ``(x, y)``
    first.
    """
    model = LowLevelMLP(layer_sizes, activation, seed)
    if recipe == "levenberg-marquardt":
        step = make_levenberg_marquardt_step(model.forward, model.xi)
    else:
        step = make_train_step(
            model.forward, model.xi, first_order_optimizer("adam-decay", steps)
        )
    x, y = tf.constant(x), tf.constant(y)
    for _ in range(steps):
        step(x, y)
    return model


def fit_xtx_keras(
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: list[int],
    activation: str,
    recipe: str,
    steps: int,
    seed: int,
) -> keras.Model:
    """Keras solution: ``compile`` and ``fit`` on full batches.

    :func:`fit_xtx` checks the arguments and draws the samples ``(x, y)``
    first.
    """
    network = keras_network(layer_sizes, activation, seed)
    if recipe == "levenberg-marquardt":
        model = LevenbergMarquardtModel(network)
        model.compile(loss="mean_squared_error", jit_compile=False)
    else:
        model = network
        model.compile(
            optimizer=first_order_optimizer("adam-decay", steps),
            loss="mean_squared_error",
        )
    # One epoch of `steps` full batches: Keras' per-epoch bookkeeping would
    # cost more than a step.
    full_batches = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    model.fit(full_batches, epochs=1, shuffle=False, verbose=0)
    return model


def fit_xtx_naive(
    seed: int = 0, epochs: int = 40, n_train: int = 1024
) -> keras.Model:
    """The baseline most first attempts look like: ReLU, raw inputs, Adam's
    default learning rate, minibatches of 32 and a few epochs."""
    keras.utils.set_random_seed(check_int("seed", seed))
    x, y = make_dataset(
        squared_norm, check_int("n_train", n_train, 1), 2, seed
    )
    model = keras_mlp([2, 20, 20, 1], "relu", seed)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    model.fit(
        x, y, batch_size=32, epochs=check_int("epochs", epochs, 1), verbose=0
    )
    return model


def optimizer_history(
    optimizer: str,
    steps: int,
    record_every: int = 10,
    seed: int = 0,
    n_train: int = 1024,
) -> dict[str, list[float]]:
    """Train the low-level 2-20-20-1 tanh network with ``optimizer`` (one of
    ``OPTIMIZERS``) and record the test error of eq.
    :math:numref:`eq-relative-l2` every ``record_every`` steps.

    Returns ``{"step": [...], "error": [...], "seconds": [...]}``; ``seconds``
    is the time spent in steps so far, without the first (compiling) step and
    without the error evaluations.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    steps, record_every = (
        check_int("steps", steps, 1),
        check_int("record_every", record_every, 1),
    )
    keras.utils.set_random_seed(check_int("seed", seed))
    x, y = (
        tf.constant(a)
        for a in make_dataset(
            squared_norm, check_int("n_train", n_train, 1), 2, seed
        )
    )
    x_test, y_test = fresh_test_points()
    model = LowLevelMLP([2, 20, 20, 1], "tanh", seed)
    if optimizer == "levenberg-marquardt":
        step = make_levenberg_marquardt_step(model.forward, model.xi)
    else:
        step = make_train_step(
            model.forward, model.xi, first_order_optimizer(optimizer, steps)
        )
    history: dict[str, list[float]] = {"step": [], "error": [], "seconds": []}
    seconds = 0.0
    for k in range(1, steps + 1):
        start = time.perf_counter()
        float(step(x, y))
        seconds += time.perf_counter() - start if k > 1 else 0.0
        if k % record_every == 0 or k == steps:
            history["step"].append(k)
            history["error"].append(relative_l2_error(model, x_test, y_test))
            history["seconds"].append(seconds)
    return history


def fresh_test_points(n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Fresh test points, drawn with a seed (``TEST_SEED``) no training set
    here uses."""
    return make_dataset(squared_norm, check_int("n", n, 1), 2, TEST_SEED)


def gauss_newton_spectrum(model: LowLevelMLP, x: np.ndarray) -> np.ndarray:
    """Eigenvalues of :math:`J^T J / n`, the Gauss-Newton matrix of the loss,
    in descending order."""
    J = (
        residual_jacobian(model.forward, model.xi, _check_points(x))
        .numpy()
        .astype(np.float64)
    )
    return np.linalg.eigvalsh(J.T @ J / len(J))[::-1]


def first_order_optimizer(name: str, steps: int) -> keras.optimizers.Optimizer:
    """The Keras optimizers of the comparison, with learning rates tuned for
    this problem."""
    check_choice("optimizer", name, OPTIMIZERS[:-1])
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=0.3)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=1e-2)
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-2, decay_steps=steps, alpha=1e-3
    )
    return keras.optimizers.Adam(learning_rate=schedule)


def _check_points(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2); got {x.shape}")
    return x
