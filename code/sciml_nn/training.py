"""Training two ways: by hand (``tf.Variable``, ``tf.GradientTape``,
``tf.function``) and Keras.

This is the code of the chapter *TensorFlow two ways*. The low-level loop and
Keras' ``Model.fit`` minimise the same mean squared error :math:`J(\\xi) =
\\frac{1}{n} \\sum_i \\| N(x_i, \\xi) - y_i \\|_2^2` (the book's equation
:math:numref:`eq-mse`); started from the same weights, with the same optimizer
and the same batches in the same order, they take the same steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int
from sciml_nn.data import minibatches
from sciml_nn.networks import (
    Params,
    check_activation,
    check_layer_sizes,
    keras_mlp,
)

Forward = Callable[[tf.Tensor], tf.Tensor]


def mean_squared_error(y_pred: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The loss :math:numref:`eq-mse`: the mean of :math:`(\\hat y_i - y_i)^2`
    over all entries.

    With one output per sample this is :math:`\\frac{1}{n}\\sum_i
    \\|N(x_i,\\xi) - y_i\\|^2`.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y = tf.convert_to_tensor(y, dtype=y_pred.dtype)
    if not y_pred.shape.is_compatible_with(y.shape):
        raise ValueError(
            f"y_pred and y must have the same shape; got {y_pred.shape} and "
            f"{y.shape}"
        )
    return tf.reduce_mean(tf.square(y_pred - y))


def as_variables(params: Params) -> list[tuple[tf.Variable, tf.Variable]]:
    """Wrap each ``(W, b)`` of :math:`\\xi` in ``tf.Variable``, the mutable
    state a tape watches."""
    if len(params) == 0:
        raise ValueError("params must hold at least one (W, b) pair")
    return [
        (tf.Variable(W, name=f"W_{k}"), tf.Variable(b, name=f"b_{k}"))
        for k, (W, b) in enumerate(params, start=1)
    ]


def flat_variables(variables: Any) -> list[tf.Variable]:
    """Flatten any nesting of ``tf.Variable`` (e.g. a list of ``(W, b)`` pairs)
    into a list."""
    flat = tf.nest.flatten(variables)
    if not flat:
        raise ValueError("variables must hold at least one tf.Variable")
    for v in flat:
        if not isinstance(v, tf.Variable):
            raise TypeError(
                "variables must be tf.Variable objects; got "
                f"{type(v).__name__}"
            )
    return flat


def make_train_step(
    forward: Forward,
    variables: Sequence[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
    use_tf_function: bool = True,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One optimizer step on a minibatch; returns the batch loss
    :math:numref:`eq-mse`.

    The tape records the forward pass; ``tape.gradient`` runs it in reverse to
    give :math:`\\nabla_\\xi J`; the optimizer turns the gradient into an
    update of ``variables`` (any nesting of ``tf.Variable``, e.g. a list of
    ``(W, b)`` pairs). With ``use_tf_function`` the step is traced once into a
    graph; without it every operation runs eagerly from Python.
    """
    variables = flat_variables(variables)

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = mean_squared_error(forward(x), y)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    return (
        tf.function(train_step, reduce_retracing=True)
        if use_tf_function
        else train_step
    )


def check_xy(
    x: np.ndarray, y: np.ndarray, name: str = "x and y"
) -> tuple[np.ndarray, ...]:
    """Return samples ``x`` (n, d_in) and targets ``y`` (n, d_out) as float32
    after checking them."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n, d) arrays; got shapes {x.shape} and "
            f"{y.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} must have the same number of rows; got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    return x, y


def train_lowlevel(
    forward: Forward,
    variables: Sequence[tf.Variable],
    x: np.ndarray,
    y: np.ndarray,
    optimizer: keras.optimizers.Optimizer,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    shuffle: bool = True,
) -> dict[str, list[float]]:
    """Train ``variables`` of ``forward`` on ``(x, y)`` for ``epochs`` passes
    of minibatches.

    Each epoch reshuffles with seed ``seed + epoch`` (or keeps the data's order
    if ``shuffle`` is false, as ``fit(shuffle=False)`` does). Returns
    ``{"loss": [...], "val_loss": [...]}``: each epoch's training loss, the
    batch losses averaged with the batch sizes as weights (what ``fit``
    reports), and, when ``validation`` is given, :math:numref:`eq-mse` on it
    after each epoch.
    """
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    x, y = check_xy(x, y)
    if validation is not None:
        validation = check_xy(*validation, name="validation x and y")
    train_step = make_train_step(forward, variables, optimizer)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for epoch in range(epochs):
        if shuffle:
            batches = minibatches(x, y, batch_size, seed + epoch)
        else:
            starts = range(0, len(x), batch_size)
            batches = (
                (x[i : i + batch_size], y[i : i + batch_size]) for i in starts
            )
        loss_sum = 0.0
        for x_batch, y_batch in batches:
            loss_sum += float(train_step(x_batch, y_batch)) * len(x_batch)
        history["loss"].append(loss_sum / len(x))
        if validation is not None:
            x_val, y_val = validation
            history["val_loss"].append(
                float(mean_squared_error(forward(x_val), y_val))
            )
    return history


def keras_regressor(
    layer_sizes: Sequence[int],
    activation: str = "tanh",
    l2: float = 0.0,
    optimizer: keras.optimizers.Optimizer | None = None,
    seed: int = 0,
) -> keras.Sequential:
    """A compiled Keras model of the network :math:numref:`eq-mlp` for
    regression.

    The layers are those of :func:`sciml_nn.networks.keras_mlp` with the same
    ``seed``. With ``l2 > 0`` each kernel adds :math:`\\lambda \\|W_k\\|_F^2`
    to the loss, :math:`\\lambda` = ``l2``. The loss is :math:numref:`eq-mse`;
    the mean absolute error is tracked as a metric.
    """
    sizes = check_layer_sizes(layer_sizes)
    check_activation(activation)
    if not isinstance(l2, (int, float)) or isinstance(l2, bool) or l2 < 0:
        raise ValueError(f"l2 must be a float >= 0; got {l2!r}")
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    model = keras_mlp(sizes, activation, seed, kernel_regularizer=regularizer)
    model.compile(
        optimizer=optimizer
        if optimizer is not None
        else keras.optimizers.Adam(1e-2),
        loss=keras.losses.MeanSquaredError(),
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
        # the same graph ops as our tf.function; XLA is a later chapter's topic
        jit_compile=False,
    )
    return model


class BatchTimer(keras.callbacks.Callback):
    """A callback that records the wall-clock seconds of every training batch
    and every epoch.

    ``batch_seconds[e]`` lists the batches of epoch ``e``; ``epoch_seconds[e]``
    is the whole epoch, validation and callbacks included. Reading the loss at
    a batch's end waits for the device, so asynchronous GPU work is counted
    where it ran.
    """

    def __init__(self) -> None:
        super().__init__()
        self.batch_seconds: list[list[float]] = []
        self.epoch_seconds: list[float] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.batch_seconds, self.epoch_seconds = [], []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.batch_seconds.append([])
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(
        self, batch: int, logs: dict | None = None
    ) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if logs and "loss" in logs:
            np.asarray(logs["loss"])
        self.batch_seconds[-1].append(time.perf_counter() - self._batch_start)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
