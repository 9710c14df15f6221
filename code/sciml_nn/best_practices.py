"""Best practices for training: minibatches and epochs, early stopping,
learning curves.

This is the code of the chapter *Best practices*. An epoch takes :math:`\\lceil
N / B \\rceil` steps (:math:numref:`eq-steps-per-epoch`); the minibatch
gradient is an unbiased estimate of the full gradient
(:math:numref:`eq-minibatch-gradient`) whose spread shrinks like :math:`1/B`
(:math:numref:`eq-minibatch-variance`); early stopping keeps the weights of the
epoch with the lowest validation loss (:math:numref:`eq-early-stopping`); and a
learning curve is fitted with a power law (:math:numref:`eq-power-law`).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int
from sciml_nn.data import minibatches
from sciml_nn.networks import (
    check_layer_sizes,
    keras_mlp,
    mlp_tensorflow,
    params_of,
)
from sciml_nn.training import (
    Forward,
    as_variables,
    check_xy,
    flat_variables,
    make_train_step,
    mean_squared_error,
)


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
        [tf.reshape(J, (x.shape[0], -1)).numpy() for J in jacobians], axis=1
    ).astype(np.float64)


def minibatch_gradient_variance(g: np.ndarray, batch_size: int) -> float:
    """:math:`\\mathbb E \\|g_{\\mathcal B} - g\\|^2` for a batch of :math:`B`
    of the :math:`N` rows of ``g`` drawn without replacement
    (:math:numref:`eq-minibatch-variance`): :math:`\\frac{N - B}{N - 1}
    \\frac{1}{B} \\frac{1}{N}\\sum_i \\|g_i - g\\|^2`.
    """
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(
            f"g must have shape (N, P) with N >= 2 rows; got shape {g.shape}"
        )
    N = g.shape[0]
    B = check_int("batch_size", batch_size, 1)
    if B > N:
        raise ValueError(f"batch_size must be at most N = {N}; got {B}")
    spread = np.mean(np.sum((g - g.mean(axis=0)) ** 2, axis=1))
    return float((N - B) / (N - 1) * spread / B)


def early_stopping(
    val_loss: Sequence[float], patience: int, min_delta: float = 0.0
) -> tuple[int, int]:
    """Keras' early-stopping rule on a sequence of validation losses, epochs
    counted from 1.

    Epoch :math:`e` improves if :math:`L_e + \\delta < L_{b}`, the loss of the
    best epoch :math:`b` so far (the first epoch always does). Training stops
    at the first epoch that does not improve and lies at least ``patience``
    epochs after :math:`b` (:math:numref:`eq-early-stopping`). Returns
    ``(best_epoch, stopped_epoch)``, with ``stopped_epoch = 0`` if the rule
    never fires.
    """
    val_loss = np.asarray(val_loss, dtype=np.float64)
    if val_loss.ndim != 1 or val_loss.size == 0:
        raise ValueError(
            "val_loss must be a non-empty 1-D sequence; got shape "
            f"{val_loss.shape}"
        )
    patience = check_int("patience", patience, 0)
    if (
        not isinstance(min_delta, (int, float))
        or isinstance(min_delta, bool)
        or min_delta < 0
    ):
        raise ValueError(f"min_delta must be a float >= 0; got {min_delta!r}")
    best_epoch, best = 1, val_loss[0]
    for epoch, loss in enumerate(val_loss[1:], start=2):
        if loss + min_delta < best:  # False for NaN, as in Keras
            best_epoch, best = epoch, loss
        elif epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, 0


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
    :func:`sciml_nn.training.train_lowlevel`.

    With ``patience``, training stops by :func:`early_stopping` and ends with
    the weights of the best epoch, as
    ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` does.
    ``"best_epoch"`` and ``"stopped_epoch"`` are 1-based, 0 when not used or
    not fired.
    """
    epochs, batch_size = (
        check_int("epochs", epochs, 1),
        check_int("batch_size", batch_size, 1),
    )
    (x, y), (x_val, y_val) = (
        check_xy(*train),
        check_xy(*validation, "validation x and y"),
    )
    patience = None if patience is None else check_int("patience", patience, 0)
    variables = flat_variables(variables)
    train_step = _traced_train_step(forward, variables, optimizer, x, y)
    evaluate = tf.function(lambda x, y: mean_squared_error(forward(x), y))
    history = {
        "loss": [],
        "val_loss": [],
        "seconds": [],
        "best_epoch": 0,
        "stopped_epoch": 0,
    }
    best_weights, elapsed = None, 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        for x_batch, y_batch in _batches(
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
        for v, w in zip(variables, best_weights):
            v.assign(w)
    return history


def _traced_train_step(
    forward: Forward,
    variables: list[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
):
    # One trace for every batch size (the last batch may be shorter), and one
    # step taken and undone, so that the clock later measures steps, not the
    # one-off costs of a graph's first run.
    train_step = make_train_step(forward, variables, optimizer)
    train_step.get_concrete_function(
        tf.TensorSpec((None, x.shape[1])), tf.TensorSpec((None, y.shape[1]))
    )
    state = variables + list(optimizer.variables)
    saved = [v.numpy() for v in state]
    float(train_step(x[:1], y[:1]))
    for v, value in zip(state, saved):
        v.assign(value)
    return train_step


def _batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool
):
    if shuffle:
        return minibatches(x, y, batch_size, seed)
    return (
        (x[i : i + batch_size], y[i : i + batch_size])
        for i in range(0, len(x), batch_size)
    )


def fit_power_law(
    n: Sequence[float], errors: Sequence[float]
) -> tuple[float, float]:
    """Least-squares fit of :math:`E(n) = C n^{p}` on logarithms
    (:math:numref:`eq-power-law`): :math:`\\log E = \\log C + p \\log n` is a
    straight line of slope :math:`p` on log-log axes.

    Returns ``(p, C)``.
    """
    n = np.asarray(n, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if n.ndim != 1 or errors.ndim != 1 or n.shape != errors.shape:
        raise ValueError(
            "n and errors must be 1-D of the same length; got shapes "
            f"{n.shape} "
            f"and {errors.shape}"
        )
    if n.size < 2 or np.unique(n).size < 2:
        raise ValueError(
            f"need at least two distinct values of n; got {n.tolist()}"
        )
    if not (np.all(n > 0) and np.all(errors > 0)):
        raise ValueError("n and errors must be positive to take logarithms")
    A = np.stack([np.log(n), np.ones_like(n)], axis=1)
    (p, log_C), *_ = np.linalg.lstsq(A, np.log(errors), rcond=None)
    return float(p), float(np.exp(log_C))


def learning_curve(
    layer_sizes: Sequence[int],
    train: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    sizes: Sequence[int],
    epochs: int,
    learning_rate: float = 3e-2,
    seeds: Sequence[int] = (0,),
) -> np.ndarray:
    """Held-out error :math:numref:`eq-mse` against training-set size, the data
    of a learning curve :math:numref:`eq-power-law`.

    For each seed and each ``n`` in ``sizes``, a fresh ``tanh`` network
    (weights drawn with the seed) is trained on the first ``n`` training
    samples with ``epochs`` full-batch Adam steps, the learning rate decaying
    exponentially from ``learning_rate`` to a hundredth of it, and is evaluated
    on ``evaluation``. Returns the errors, shape ``(len(seeds), len(sizes))``.
    """
    sizes = [check_int("each size", n, 1) for n in sizes]
    seeds = [check_int("each seed", seed) for seed in seeds]
    x_train, y_train = check_xy(*train)
    if not sizes or not seeds or max(sizes) > len(x_train):
        raise ValueError(
            "sizes and seeds must be non-empty and sizes at most "
            f"{len(x_train)}; "
            f"got sizes {sizes} and seeds {seeds}"
        )
    x_eval, y_eval = check_xy(*evaluation, "evaluation x and y")
    layer_sizes, epochs = (
        check_layer_sizes(layer_sizes),
        check_int("epochs", epochs, 1),
    )
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or not (learning_rate > 0)
    ):
        raise ValueError(
            f"learning_rate must be a float > 0; got {learning_rate!r}"
        )
    errors = np.zeros((len(seeds), len(sizes)))
    for (k, seed), (j, n) in itertools.product(
        enumerate(seeds), enumerate(sizes)
    ):
        xi = as_variables(params_of(keras_mlp(layer_sizes, "tanh", seed)))
        variables = flat_variables(xi)
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, epochs, 0.01
        )
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(variables)  # its state exists before the loop
        x_n, y_n = tf.constant(x_train[:n]), tf.constant(y_train[:n])

        def run(xi=xi, variables=variables, optimizer=optimizer, x=x_n, y=y_n):
            # every step in one compiled loop: no Python between steps
            for _ in tf.range(epochs):
                with tf.GradientTape() as tape:
                    N = mlp_tensorflow(x, xi, activation="tanh")
                    loss = mean_squared_error(N, y)
                gradients = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(gradients, variables))

        # a partial is a new function per run, so the runs are not reported
        # as retracing (TensorFlow counts traces per code object)
        tf.function(functools.partial(run))()
        errors[k, j] = float(
            mean_squared_error(
                mlp_tensorflow(x_eval, xi, activation="tanh"), y_eval
            )
        )
    return errors
