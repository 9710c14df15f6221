"""Training a network two ways: a loop written by hand and Keras' ``fit``.

Code of the chapter *TensorFlow two ways*
(``book/foundations/tensorflow-two-ways.md``).

The low-level loop (``tf.Variable``, ``tf.GradientTape``, ``tf.function``) and
Keras' ``Model.fit`` minimise the same mean squared error (the book's equation
:math:numref:`eq-mse`); started from the same weights, with the same optimizer
and the same batches in the same order, they take the same steps. The loss and
the training step they share live in :mod:`sciml_nn.core.training`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_float, check_int
from sciml_nn.core.data import check_xy, minibatches
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.core.training import (
    Forward,
    make_train_step,
    mean_squared_error,
)


def shuffled_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0
) -> tf.data.Dataset:
    """The pairs :math:`(x_i, y_i)` in batches of ``batch_size`` rows, in an
    order reshuffled at every pass (every epoch of ``fit``), as a
    ``tf.data.Dataset`` built once.

    The shuffle draws from the whole set, so each epoch is a permutation of
    all samples, and the sequence of permutations is fixed by ``seed``. Pass
    it to ``fit`` with ``shuffle=False``: the dataset does the shuffling.
    """
    x, y = check_xy(x, y, dtype=None)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed)
    samples = tf.data.Dataset.from_tensor_slices((x, y))
    return samples.shuffle(len(x), seed=seed).batch(batch_size)


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
    batch losses :math:`J` averaged with the batch sizes as weights (what
    ``fit`` reports), and, when ``validation`` is given,
    :math:numref:`eq-mse` on it after each epoch.
    """
    epochs = check_int("epochs", epochs, 1)
    x, y = check_xy(x, y)
    if validation is not None:
        x_val, y_val = check_xy(*validation, name="validation x and y")
    train_step = make_train_step(forward, variables, optimizer)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for epoch in range(epochs):
        batches = minibatches(x, y, batch_size, seed + epoch, shuffle)
        J_sum = 0.0
        for x_batch, y_batch in batches:
            J_sum += float(train_step(x_batch, y_batch)) * len(x_batch)
        history["loss"].append(J_sum / len(x))
        if validation is not None:
            J_val = mean_squared_error(forward(x_val), y_val)
            history["val_loss"].append(float(J_val))
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

    The layers are those of :func:`sciml_nn.core.mlp.keras_mlp` with the same
    ``seed``. With ``l2 > 0`` each kernel adds :math:`\\lambda \\|W_k\\|_F^2`
    to the loss, :math:`\\lambda` = ``l2``. The loss is :math:numref:`eq-mse`;
    the mean absolute error is tracked as a metric.
    """
    l2 = check_float("l2", l2, 0.0)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    model = keras_mlp(
        layer_sizes, activation, seed, kernel_regularizer=regularizer
    )
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
