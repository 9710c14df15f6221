"""Data-parallel training with ``tf.distribute``: one model copied onto several
replicas.

Code of the chapter *Scaling out*
(``book/performance/scaling-out.md``).

Each replica computes the gradient of its share of the global batch, the shares
are summed across replicas (an all-reduce), and every copy takes the same step,
so ``R`` replicas train exactly the network one device trains, up to the order
of floating-point sums. On a CPU the replicas are *logical* devices carved out
of the one physical CPU (:func:`split_cpu`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_float, check_int
from sciml_nn.core.device import time_callable
from sciml_nn.core.mlp import check_layer_sizes, keras_mlp
from sciml_nn.core.training import check_xy

# MirroredStrategy logs every device choice and all-reduce at INFO level, which
# would land on the book's pages; warnings still show.
tf.get_logger().setLevel(logging.WARNING)


def split_cpu(replicas: int) -> list[str]:
    """Make the first CPU appear as ``replicas`` logical devices; return their
    names.

    TensorFlow fixes its logical devices when the first operation runs, so call
    this before any tensor or model exists (``import sciml_nn`` runs no
    operation). Calling it again with the same number is harmless; a different
    number after the devices are fixed raises ``RuntimeError``.
    """
    replicas = check_int("replicas", replicas, 1)
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if len(current or [None]) != replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu,
                [
                    tf.config.LogicalDeviceConfiguration()
                    for _ in range(replicas)
                ],
            )
        except RuntimeError as error:
            fixed = len(tf.config.list_logical_devices("CPU"))
            raise RuntimeError(
                f"split_cpu({replicas}) must run before TensorFlow's first "
                f"operation, which has already fixed {fixed} logical CPU(s): "
                "call it first, in a fresh Python process or kernel"
            ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def replica_devices(replicas: int) -> list[str]:
    """The first ``replicas`` logical GPUs if there are that many, else the
    first logical CPUs."""
    replicas = check_int("replicas", replicas, 1)
    for kind in ("GPU", "CPU"):
        devices = [
            device.name for device in tf.config.list_logical_devices(kind)
        ]
        if len(devices) >= replicas:
            return devices[:replicas]
    raise ValueError(
        "replicas must be at most the number of logical devices "
        f"({len(devices)} CPUs); got {replicas}: call split_cpu({replicas}) "
        "first"
    )


def mirrored_strategy(replicas: int) -> tf.distribute.MirroredStrategy:
    """A ``MirroredStrategy`` over ``replicas`` devices of one machine
    (:func:`replica_devices`)."""
    return tf.distribute.MirroredStrategy(replica_devices(replicas))


def local_batch_size(global_batch: int, replicas: int) -> int:
    """The batch each replica computes, :math:`b = B/R` in
    :math:numref:`eq-global-batch`."""
    global_batch = check_int("global_batch", global_batch, 1)
    replicas = check_int("replicas", replicas, 1)
    if global_batch % replicas:
        raise ValueError(
            f"global_batch must be divisible by replicas; got {global_batch} "
            f"and {replicas}"
        )
    return global_batch // replicas


def scaled_learning_rate(
    base_rate: float, base_batch: int, global_batch: int
) -> float:
    """The linear scaling rule :math:numref:`eq-linear-scaling`: :math:`\\eta =
    \\eta_0 B/B_0`."""
    base_rate = check_float("base_rate", base_rate, 0, low_open=True)
    base_batch = check_int("base_batch", base_batch, 1)
    global_batch = check_int("global_batch", global_batch, 1)
    return base_rate * global_batch / base_batch


def _batches(
    x: np.ndarray, y: np.ndarray, global_batch: int, steps: int
) -> tf.data.Dataset:
    # No shuffling: every run must see the same batches in the same order.
    if len(x) % global_batch:
        raise ValueError(
            "the number of samples must be divisible by global_batch; got "
            f"{len(x)} and {global_batch}"
        )
    data = tf.data.Dataset.from_tensor_slices(
        (x.astype("float32"), y.astype("float32"))
    )
    return data.repeat().batch(global_batch, drop_remainder=True).take(steps)


def _check_problem(
    strategy: tf.distribute.Strategy | None,
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    global_batch: int,
    steps: int,
) -> tuple[tf.distribute.Strategy, np.ndarray, np.ndarray, int]:
    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            "strategy must be a tf.distribute.Strategy; got "
            f"{type(strategy).__name__}"
        )
    local_batch_size(global_batch, strategy.num_replicas_in_sync)
    steps = check_int("steps", steps, 1)
    x, y = check_xy(x, y)
    layer_sizes = check_layer_sizes(layer_sizes)
    if (x.shape[1], y.shape[1]) != (layer_sizes[0], layer_sizes[-1]):
        raise ValueError(
            f"x and y must have {layer_sizes[0]} and {layer_sizes[-1]} "
            f"columns (layer_sizes); got {x.shape[1]} and {y.shape[1]}"
        )
    return strategy, x, y, steps


def make_mirrored_step(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    global_batch: int,
) -> Callable[[tuple[tf.Tensor, tf.Tensor]], tf.Tensor]:
    """One SGD step of ``model`` on a distributed global batch; returns
    :math:`J_{\\mathcal{B}}`.

    Each replica's loss :math:`J_r` is its squared errors divided by the
    *global* batch size, :math:numref:`eq-global-loss`, so the all-reduced
    gradients are :math:numref:`eq-all-reduce`. ``model`` and ``optimizer``
    must have been created under ``strategy.scope()``.
    """
    global_batch = check_int("global_batch", global_batch, 1)

    def replica_step(x_r: tf.Tensor, y_r: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            squared = tf.reduce_mean(
                tf.square(model(x_r, training=True) - y_r), axis=1
            )
            loss_r = tf.reduce_sum(squared) / global_batch
        grads = tape.gradient(loss_r, model.trainable_variables)
        # all-reduces the gradients first
        optimizer.apply(grads, model.trainable_variables)
        return loss_r

    @tf.function
    def step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(
            tf.distribute.ReduceOp.SUM, per_replica, axis=None
        )

    return step


def train_mirrored(
    strategy: tf.distribute.Strategy | None,
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    global_batch: int,
    steps: int,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Train an MLP with SGD for ``steps`` steps on the replicas of
    ``strategy``, by hand.

    Every step is :math:numref:`eq-data-parallel-step`
    (:func:`make_mirrored_step`); ``strategy=None`` trains on one device.
    Returns the weights and the loss of each step.
    """
    strategy, x, y, steps = _check_problem(
        strategy, x, y, layer_sizes, global_batch, steps
    )
    with strategy.scope():
        model = keras_mlp(layer_sizes, seed=seed)
        optimizer = keras.optimizers.SGD(learning_rate)
    step = make_mirrored_step(strategy, model, optimizer, global_batch)
    batches = strategy.experimental_distribute_dataset(
        _batches(x, y, global_batch, steps)
    )
    losses = [float(step(batch)) for batch in batches]
    return model.get_weights(), np.array(losses)


def fit_mirrored(
    strategy: tf.distribute.Strategy | None,
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    global_batch: int,
    steps: int,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The same training as :func:`train_mirrored` with Keras ``fit`` under
    ``strategy.scope()``.

    Keras splits each global batch across the replicas and all-reduces the
    gradients itself. Returns the weights and the loss after each epoch of
    ``len(x) / global_batch`` steps.
    """
    strategy, x, y, steps = _check_problem(
        strategy, x, y, layer_sizes, global_batch, steps
    )
    steps_per_epoch = len(x) // global_batch
    if len(x) % global_batch or steps % steps_per_epoch:
        raise ValueError(
            "steps must be a multiple of len(x) / global_batch; got "
            f"steps={steps}, len(x)={len(x)}, global_batch={global_batch}"
        )
    with strategy.scope():
        model = keras_mlp(layer_sizes, seed=seed)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate), loss="mse"
        )
    history = model.fit(
        _batches(x, y, global_batch, steps),
        epochs=steps // steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,
        verbose=0,
    )
    return model.get_weights(), np.array(history.history["loss"])


def time_mirrored_step(
    strategy: tf.distribute.Strategy | None,
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    repeats: int = 30,
) -> float:
    """Median seconds of one :func:`make_mirrored_step` of an MLP on the
    global batch ``(x, y)``, split across the replicas of ``strategy``;
    two untimed warm-up steps absorb the tracing."""
    strategy, x, y, _ = _check_problem(strategy, x, y, layer_sizes, len(x), 1)
    with strategy.scope():
        model = keras_mlp(layer_sizes)
        optimizer = keras.optimizers.SGD(0.01)
    step = make_mirrored_step(strategy, model, optimizer, len(x))
    data = strategy.experimental_distribute_dataset(_batches(x, y, len(x), 1))
    batch = next(iter(data))
    run = lambda: step(batch)
    return time_callable(run, repeats=repeats, warmup=2)["median"]
