"""Best practices for training: minibatches and epochs, early stopping,
learning curves.

Code of the chapter *Best practices*
(``book/approximation/best-practices.md``).

An epoch takes :math:`\\lceil N / B \\rceil` steps
(:math:numref:`eq-steps-per-epoch`); the minibatch gradient is an unbiased
estimate of the full gradient (:math:numref:`eq-minibatch-gradient`) whose
spread shrinks like :math:`1/B` (:math:numref:`eq-minibatch-variance`); early
stopping keeps the weights of the epoch with the lowest validation loss
(:math:numref:`eq-early-stopping`, the rule of
:func:`sciml_nn.core.metrics.early_stopping`); and a learning curve is fitted
with a power law (:math:numref:`eq-power-law`,
:func:`sciml_nn.core.metrics.fit_power_law`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_float, check_int
from sciml_nn.core.data import check_xy, minibatches
from sciml_nn.core.metrics import early_stopping
from sciml_nn.core.mlp import (
    check_layer_sizes,
    keras_mlp,
    params_of,
)
from sciml_nn.core.training import (
    Forward,
    flat_variables,
    make_train_step,
    mean_squared_error,
)
from sciml_nn.loss_landscape_seeds import member_losses


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one epoch, :math:`\\lceil N / B \\rceil`
    (:math:numref:`eq-steps-per-epoch`)."""
    n = check_int("n", n, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    return math.ceil(n / batch_size)


def loss_gradient(
    forward: Forward,
    variables: Sequence[tf.Variable],
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """The gradient :math:`g_{\\mathcal B} = \\nabla_\\xi J_{\\mathcal
    B}(\\xi)` of the mean squared error :math:numref:`eq-mse` over the samples
    ``(x, y)``, flattened into one float64 vector.

    Called on a minibatch it is the estimate of
    :math:numref:`eq-minibatch-gradient`; called on the whole training set it
    is the full gradient :math:`g`.
    """
    variables = flat_variables(variables)
    x, y = check_xy(x, y)
    with tf.GradientTape() as tape:
        J = mean_squared_error(forward(x), y)
    gradients = tape.gradient(J, variables)
    return np.concatenate([np.ravel(g.numpy()) for g in gradients]).astype(
        np.float64
    )


def per_sample_gradients(
    forward: Forward,
    variables: Sequence[tf.Variable],
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """Row :math:`i` is :math:`g_i = \\nabla_\\xi \\|N(x_i, \\xi) - y_i\\|^2`,
    shape ``(N, P)``.

    Their mean over the rows is the full gradient :math:`g` of
    :math:numref:`eq-mse` (for one output per sample), and their spread gives
    :math:numref:`eq-minibatch-variance`.
    """
    variables = flat_variables(variables)
    x, y = check_xy(x, y)
    with tf.GradientTape() as tape:
        losses = tf.reduce_sum(tf.square(forward(x) - y), axis=1)
    jacobians = tape.jacobian(losses, variables)
    return np.concatenate(
        [tf.reshape(jacobian, (len(x), -1)).numpy() for jacobian in jacobians],
        axis=1,
    ).astype(np.float64)


def minibatch_gradient_variance(g: np.ndarray, batch_size: int) -> float:
    """:math:`\\mathbb E \\|g_{\\mathcal B} - g\\|^2` for a batch of :math:`B`
    of the :math:`N` rows of ``g`` drawn without replacement
    (:math:numref:`eq-minibatch-variance`): :math:`\\frac{N - B}{N - 1}
    \\frac{1}{B} \\frac{1}{N}\\sum_i \\|g_i - g\\|^2`.
    """
    g = check_array("g", g, shape=("N", "P"))
    N, B = len(g), check_int("batch_size", batch_size, 1)
    if N < 2:
        raise ValueError(f"g needs at least N = 2 rows; got {N}")
    if B > N:
        raise ValueError(f"batch_size must be at most N = {N}; got {B}")
    spread = np.mean(np.sum((g - g.mean(axis=0)) ** 2, axis=1))
    return float((N - B) / (N - 1) * spread / B)


def train_with_history(
    forward: Forward,
    variables: Sequence[tf.Variable],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    optimizer: keras.optimizers.Optimizer,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    patience: int | None = None,
    shuffle: bool = True,
) -> dict:
    """Minibatch training that records, after every epoch, the loss
    :math:numref:`eq-mse` on the whole training set (``"loss"``), on the
    validation set (``"val_loss"``) and the seconds spent in training steps so
    far (``"seconds"``; tracing and first running the step, and evaluating the
    losses, are not counted). Batches as in
    :func:`sciml_nn.tensorflow_two_ways.train_lowlevel`.

    With ``patience``, training stops by
    :func:`~sciml_nn.core.metrics.early_stopping` and ends with
    the weights of the best epoch, as
    ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` does.
    ``"best_epoch"`` and ``"stopped_epoch"`` are 1-based, 0 when not used or
    not fired.
    """
    epochs = check_int("epochs", epochs, 1)
    x, y = check_xy(*train)
    x_val, y_val = check_xy(*validation, "validation x and y")
    if patience is not None:
        patience = check_int("patience", patience, 0)
    variables = flat_variables(variables)
    train_step = warmed_up_train_step(forward, variables, optimizer, x, y)
    evaluate = tf.function(  # one trace for training and validation sets
        lambda x, y: mean_squared_error(forward(x), y),
        input_signature=[
            tf.TensorSpec((None, x.shape[1])),
            tf.TensorSpec((None, y.shape[1])),
        ],
    )
    history = {"loss": [], "val_loss": [], "seconds": []}
    history["best_epoch"], history["stopped_epoch"] = 0, 0
    best_weights, elapsed = None, 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        for x_batch, y_batch in minibatches(
            x, y, batch_size, seed + epoch, shuffle
        ):
            loss = train_step(x_batch, y_batch)
        float(loss)  # waits for the device before the clock stops
        elapsed += time.perf_counter() - start
        history["seconds"].append(elapsed)
        history["loss"].append(float(evaluate(x, y)))
        history["val_loss"].append(float(evaluate(x_val, y_val)))
        if patience is not None:
            best, stopped = early_stopping(history["val_loss"], patience)
            history["best_epoch"], history["stopped_epoch"] = best, stopped
            if best == epoch + 1:
                best_weights = [v.numpy() for v in variables]
            if stopped:
                break
    if best_weights is not None:  # back to the weights of the best epoch
        assign_all(variables, best_weights)
    return history


def assign_all(
    variables: Sequence[tf.Variable], values: Sequence[np.ndarray]
) -> None:
    """Assign ``values[i]`` to ``variables[i]`` for every ``i``."""
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def warmed_up_train_step(
    forward: Forward,
    variables: list[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The step of :func:`~sciml_nn.core.training.make_train_step`, traced
    once for every batch size (the last batch may be shorter) and run once on
    one sample, then undone, so that a clock started later measures steps, not
    the one-off costs of a graph's first run."""
    train_step = make_train_step(forward, variables, optimizer)
    train_step.get_concrete_function(
        tf.TensorSpec((None, x.shape[1])), tf.TensorSpec((None, y.shape[1]))
    )
    state = list(variables) + list(optimizer.variables)
    saved = [v.numpy() for v in state]
    float(train_step(x[:1], y[:1]))
    assign_all(state, saved)
    return train_step


def learning_curve(
    layer_sizes: Sequence[int],
    train: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    train_sizes: Sequence[int],
    epochs: int,
    learning_rate: float = 3e-2,
    seeds: Sequence[int] = (0,),
) -> np.ndarray:
    """Held-out error :math:numref:`eq-mse` against training-set size, the data
    of a learning curve :math:numref:`eq-power-law`.

    For each seed and each ``n`` in ``train_sizes``, a fresh ``tanh`` network
    (:func:`~sciml_nn.core.mlp.keras_mlp`'s weights for the seed) is trained
    on the first ``n`` training samples with ``epochs`` full-batch Adam steps,
    the learning rate decaying exponentially from ``learning_rate`` to a
    hundredth of it, and is evaluated on ``evaluation``. The networks of all
    seeds train together as one ensemble, as in
    :func:`~sciml_nn.loss_landscape_seeds.train_seeds`, each taking the steps
    it would take alone, in one compiled loop that serves every ``n``: the
    weights and Adam's state go back to their starting values before each.
    Returns the errors, shape ``(len(seeds), len(train_sizes))``.
    """
    x_train, y_train = check_xy(*train)
    x_eval, y_eval = check_xy(*evaluation, "evaluation x and y")
    train_sizes = [check_int("each size", n, 1) for n in train_sizes]
    seeds = [check_int("each seed", seed) for seed in seeds]
    if not train_sizes or not seeds or max(train_sizes) > len(x_train):
        raise ValueError(
            "train_sizes and seeds must be non-empty and train_sizes at most "
            f"{len(x_train)}; got train_sizes {train_sizes} and seeds {seeds}"
        )
    layer_sizes = check_layer_sizes(layer_sizes)
    epochs = check_int("epochs", epochs, 1)
    learning_rate = check_float(
        "learning_rate", learning_rate, 0.0, low_open=True
    )
    members = [params_of(keras_mlp(layer_sizes, "tanh", s)) for s in seeds]
    xi = [
        (tf.Variable(np.stack(Ws)), tf.Variable(np.stack(bs)))
        for Ws, bs in (zip(*layer) for layer in zip(*members))
    ]
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(
            learning_rate, epochs, 0.01
        )
    )
    variables = flat_variables(xi)
    optimizer.build(variables)
    state = variables + list(optimizer.variables)  # with Adam's moments
    fresh = [v.numpy() for v in state]

    @tf.function(  # traced once, for every n
        input_signature=[
            tf.TensorSpec((None, x_train.shape[1])),
            tf.TensorSpec((None, y_train.shape[1])),
        ]
    )
    def train_members(x: tf.Tensor, y: tf.Tensor) -> None:
        for _ in tf.range(epochs):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(member_losses(x, y, xi, "tanh"))
            gradients = tape.gradient(total, variables)
            optimizer.apply_gradients(zip(gradients, variables))

    errors = np.zeros((len(seeds), len(train_sizes)))
    for j, n in enumerate(train_sizes):
        assign_all(state, fresh)  # fresh networks and a fresh optimizer
        train_members(x_train[:n], y_train[:n])
        errors[:, j] = member_losses(x_eval, y_eval, xi, "tanh").numpy()
    return errors
