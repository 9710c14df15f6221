"""The exercise's experiments: a naive baseline, the test error along the
training of each optimizer, and the spectrum of the Gauss-Newton matrix.

Code of the chapter *Exercise: fit f(x) = xᵀx in the unit box*
(``book/exercise/fit-xtx.md``), its second module: the measurements that
explain why the recipe of :mod:`sciml_nn.fit_xtx` works.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_choice, check_int
from sciml_nn.core.data import fresh_test_points
from sciml_nn.core.metrics import relative_l2_error
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.fit_xtx import (
    OPTIMIZERS,
    LowLevelMLP,
    exercise_setup,
    training_step,
)
from sciml_nn.second_order_training import residual_jacobian


def fit_xtx_naive(
    seed: int = 0, epochs: int = 40, n_train: int = 1024
) -> keras.Model:
    """The baseline most first attempts look like: ReLU, raw inputs, Adam's
    default learning rate, minibatches of 32 and a few epochs."""
    layer_sizes, x, y = exercise_setup(20, 2, n_train, seed)
    model = keras_mlp(layer_sizes, "relu", seed)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    # The samples in a new seeded order every epoch, as fit(x, y) shuffles,
    # in a pipeline built once (fit on arrays rebuilds it every epoch).
    minibatches = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(32)
    )
    model.fit(
        minibatches,
        epochs=check_int("epochs", epochs, 1),
        shuffle=False,
        verbose=0,
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

    Returns what :func:`~sciml_nn.optimizers.full_batch_history` records:
    ``"step"``, ``"loss"``, ``"seconds"`` (the time spent in steps so far,
    without the first, compiling step and without the error evaluations) and
    ``"error"``. The steps between two records run in one compiled call,
    which on a small network costs less than a call per step.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    steps = check_int("steps", steps, 1)
    record_every = check_int("record_every", record_every, 1)
    layer_sizes, x, y = exercise_setup(20, 2, n_train, seed)
    x, y = tf.constant(x), tf.constant(y)
    x_test, y_test = fresh_test_points()
    model = LowLevelMLP(layer_sizes, "tanh", seed)
    step = training_step(model, optimizer, steps)

    @tf.function
    def take_steps(n: tf.Tensor) -> tf.Tensor:
        loss = step(x, y)
        for _ in tf.range(n - 1):
            loss = step(x, y)
        return loss

    history: dict[str, list[float]] = {
        "step": [],
        "loss": [],
        "seconds": [],
        "error": [],
    }

    def record(loss: float) -> None:
        history["step"].append(done)
        history["loss"].append(loss)
        history["seconds"].append(seconds)
        history["error"].append(relative_l2_error(model, x_test, y_test))

    loss = float(take_steps(tf.constant(1)))  # compiles: not timed
    done, seconds = 1, 0.0
    if record_every == 1 or steps == 1:
        record(loss)
    while done < steps:  # on to the next record
        n = min(record_every - done % record_every, steps - done)
        start = time.perf_counter()
        loss = float(take_steps(tf.constant(n)))
        seconds += time.perf_counter() - start
        done += n
        record(loss)
    return history


def gauss_newton_spectrum(model: LowLevelMLP, x: np.ndarray) -> np.ndarray:
    """Eigenvalues of :math:`G = D^T D / n`, the Gauss-Newton matrix
    :math:numref:`eq-gauss-newton-matrix` of the loss, in descending
    order."""
    x = check_array("x", x, (None, 2), model.dtype)
    D = residual_jacobian(model.forward, model.xi, x).numpy()
    D = D.astype(np.float64)
    return np.linalg.eigvalsh(D.T @ D / len(D))[::-1]
