"""Regularization: weight decay (L2), the lasso (L1) with its proximal step,
dropout.

This is the code of the chapter *Regularization*. The penalties act on the
kernels :math:`W_k` of the ``Dense`` layers only, never on the biases
:math:`b_k`, exactly as Keras' ``kernel_regularizer`` does; training minimises
:math:`J(\\xi) + \\lambda R(W)` with the mean squared error
:math:numref:`eq-mse` and :math:`R` one of :math:numref:`eq-l2-penalty` and
:math:numref:`eq-l1-penalty`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int
from sciml_nn.networks import keras_mlp


def _check_nonnegative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{name} must be a real number; got {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def _float_tensors(
    weights: Sequence[np.ndarray | tf.Tensor],
) -> list[tf.Tensor]:
    if isinstance(
        weights, (np.ndarray, tf.Tensor, tf.Variable)
    ) or not isinstance(weights, Sequence):
        raise TypeError(
            f"weights must be a list of arrays; got {type(weights).__name__}"
        )
    if len(weights) == 0:
        raise ValueError(
            "weights must hold at least one array; got an empty list"
        )
    tensors = [tf.convert_to_tensor(W) for W in weights]
    for k, W in enumerate(tensors):
        if not W.dtype.is_floating:
            raise TypeError(
                f"weights[{k}] must be a floating-point array; got dtype "
                f"{W.dtype.name}"
            )
    return tensors


def l2_penalty(
    weights: Sequence[np.ndarray | tf.Tensor], lam: float
) -> tf.Tensor:
    """Weight decay :math:numref:`eq-l2-penalty`: :math:`\\lambda \\sum_k
    \\sum_{ij} (W_k)_{ij}^2`.

    ``weights`` is the list of kernels :math:`W_k`; the result equals the sum
    over the kernels of ``keras.regularizers.L2(lam)``.
    """
    lam = _check_nonnegative("lam", lam)
    return lam * tf.add_n(
        [tf.reduce_sum(tf.square(W)) for W in _float_tensors(weights)]
    )


def l1_penalty(
    weights: Sequence[np.ndarray | tf.Tensor], lam: float
) -> tf.Tensor:
    """The lasso :math:numref:`eq-l1-penalty`: :math:`\\lambda \\sum_k
    \\sum_{ij} |(W_k)_{ij}|`.

    ``weights`` is the list of kernels :math:`W_k`; the result equals the sum
    over the kernels of ``keras.regularizers.L1(lam)``.
    """
    lam = _check_nonnegative("lam", lam)
    return lam * tf.add_n(
        [tf.reduce_sum(tf.abs(W)) for W in _float_tensors(weights)]
    )


def soft_threshold(
    w: np.ndarray | tf.Tensor, threshold: float
) -> np.ndarray | tf.Tensor:
    """The proximal operator of :math:`t|\\cdot|`, entry by entry
    :math:numref:`eq-soft-threshold`.

    :math:`\\operatorname{prox}_{t|\\cdot|}(w) =
    \\operatorname{sign}(w)\\max(|w| - t, 0)`, the minimiser over :math:`u` of
    :math:`\\tfrac12 (u - w)^2 + t|u|`. Entries with :math:`|w| \\le t` become
    exactly zero. NumPy in, NumPy out; TensorFlow in, TensorFlow out.
    """
    t = _check_nonnegative("threshold", threshold)
    if isinstance(w, (tf.Tensor, tf.Variable)):
        if not w.dtype.is_floating:
            raise TypeError(
                f"w must be a floating-point tensor; got dtype {w.dtype.name}"
            )
        return tf.sign(w) * tf.maximum(tf.abs(w) - tf.cast(t, w.dtype), 0)
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        raise TypeError(
            f"w must be a floating-point array; got dtype {w.dtype}"
        )
    return np.sign(w) * np.maximum(np.abs(w) - w.dtype.type(t), 0)


@keras.saving.register_keras_serializable(package="sciml_nn")
class Dropout(keras.layers.Layer):
    """Inverted dropout :math:numref:`eq-dropout`, written from scratch.

    In training each entry is kept with probability :math:`1 - p` (:math:`p` =
    ``rate``) and scaled by :math:`1/(1-p)`, so its expected value is
    unchanged; at inference the layer is the identity. Same behaviour as
    ``keras.layers.Dropout``.
    """

    def __init__(
        self, rate: float, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        rate = _check_nonnegative("rate", rate)
        if rate >= 1:
            raise ValueError(f"rate must be in [0, 1); got {rate}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(
        self, inputs: tf.Tensor, training: bool | None = None
    ) -> tf.Tensor:
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        u = keras.random.uniform(
            keras.ops.shape(inputs), seed=self.seed_generator
        )
        return keras.ops.where(
            u < keep, inputs / keep, keras.ops.zeros_like(inputs)
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def mlp_with_dropout(
    layer_sizes: Sequence[int],
    rate: float,
    activation: str = "tanh",
    seed: int = 0,
    dropout: type[keras.layers.Layer] = Dropout,
) -> keras.Sequential:
    """:func:`sciml_nn.networks.keras_mlp` with a ``dropout(rate)`` layer after
    each hidden layer.

    The ``Dense`` layers get the same initial weights as
    ``keras_mlp(layer_sizes, activation, seed)``, so at inference the two
    networks are the same function until training starts. ``dropout`` is this
    module's :class:`Dropout` or ``keras.layers.Dropout``.
    """
    base = keras_mlp(layer_sizes, activation, seed)
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=(base.input_shape[1],))
    ]
    for k, dense in enumerate(base.layers, start=1):
        layers.append(dense)
        if dense is not base.layers[-1]:
            layers.append(dropout(rate, seed=seed + k, name=f"dropout_{k}"))
    return keras.Sequential(layers, name="mlp_dropout")


def kernels(model: keras.Model) -> list[tf.Variable]:
    """The kernels :math:`W_k` of a model's ``Dense`` layers: the weights the
    penalties act on."""
    found = [
        layer.kernel
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    if not found:
        raise ValueError("model has no Dense layers")
    return found


def count_exact_zeros(weights: Sequence[np.ndarray | tf.Tensor]) -> int:
    """How many entries of ``weights`` are exactly ``0.0``."""
    return int(
        sum(
            int(tf.reduce_sum(tf.cast(W == 0, tf.int32)))
            for W in _float_tensors(weights)
        )
    )


_PENALTIES = {"none": None, "l2": l2_penalty, "l1": l1_penalty}


def make_regularized_steps(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    penalty: str = "none",
    lam: float = 0.0,
    proximal: bool = False,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """``run(x, y, steps)``: ``steps`` full-batch steps on
    :math:numref:`eq-regularized-loss`.

    With ``penalty`` ``"l2"`` or ``"l1"`` the tape differentiates :math:`J +
    \\lambda R`; for ``"l1"`` that is the subgradient
    :math:`\\lambda\\,\\mathrm{sign}(W)`. With ``proximal`` (L1 only) the tape
    sees :math:`J` alone and every step ends with the proximal step
    :math:numref:`eq-proximal-step`, :math:`W \\leftarrow
    \\mathrm{prox}_{\\eta\\lambda}(W)` with :math:`\\eta` the optimizer's
    constant learning rate. Dropout layers in ``model`` are active
    (``training=True``).
    """
    if penalty not in _PENALTIES:
        raise ValueError(
            f"penalty must be one of {sorted(_PENALTIES)}; got {penalty!r}"
        )
    lam = _check_nonnegative("lam", lam)
    if proximal and penalty != "l1":
        raise ValueError(
            f"proximal=True needs penalty='l1'; got penalty={penalty!r}"
        )
    W = kernels(model)
    penalize = (
        _PENALTIES[penalty] if penalty != "none" and not proximal else None
    )
    threshold = float(optimizer.learning_rate) * lam

    @tf.function
    def run(x: tf.Tensor, y: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
                if penalize is not None:
                    loss += penalize(W, lam)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(
                zip(gradients, model.trainable_variables)
            )
            if proximal:
                for W_k in W:
                    W_k.assign(soft_threshold(W_k.value, threshold))
        return loss

    return run


def _make_data_loss(
    model: keras.Model, d_in: int, d_out: int
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The data loss :math:numref:`eq-mse` at inference, compiled once for any
    number of samples (a call costs far less than an eager one)."""

    def data_loss(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(model(x) - y))

    signature = [tf.TensorSpec([None, d_in]), tf.TensorSpec([None, d_out])]
    return tf.function(data_loss, input_signature=signature, autograph=False)


def train_regularized(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    optimizer: keras.optimizers.Optimizer,
    steps: int,
    penalty: str = "none",
    lam: float = 0.0,
    proximal: bool = False,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    record_every: int = 10,
    patience: int | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` full batch for ``steps`` steps with a penalty or a
    proximal step.

    See :func:`make_regularized_steps`. Every ``record_every`` steps the data
    loss :math:numref:`eq-mse` is recorded at inference (dropout off) on the
    training set (``"loss"``) and on ``validation`` (``"val_loss"``);
    ``"step"`` lists the step counts. With ``patience``, training stops early
    once the validation loss has not improved for ``patience`` records in a
    row, and the weights of the best record are restored (Keras'
    ``EarlyStopping`` with ``restore_best_weights=True``, one record per
    epoch).
    """
    steps = check_int("steps", steps, 1)
    record_every = check_int("record_every", record_every, 1)
    if patience is not None:
        patience = check_int("patience", patience, 1)
        if validation is None:
            raise ValueError(
                "patience needs validation data; got validation=None"
            )
    x, y = _as_xy(x, y, "x and y")
    x_val, y_val = (
        _as_xy(*validation, "validation x and y")
        if validation
        else (None, None)
    )
    run = make_regularized_steps(model, optimizer, penalty, lam, proximal)
    data_loss = _make_data_loss(model, x.shape[1], y.shape[1])
    history: dict[str, list[float]] = {"step": [], "loss": [], "val_loss": []}
    best, best_weights, wait = math.inf, model.get_weights(), 0
    while (
        done := len(history["step"]) * record_every
    ) < steps and wait != patience:
        run(x, y, tf.constant(min(record_every, steps - done)))
        history["step"].append(min(done + record_every, steps))
        history["loss"].append(float(data_loss(x, y)))
        if x_val is not None:
            history["val_loss"].append(float(data_loss(x_val, y_val)))
            if history["val_loss"][-1] < best:
                best, best_weights, wait = (
                    history["val_loss"][-1],
                    model.get_weights(),
                    0,
                )
            else:
                wait += 1
    if patience is not None:
        model.set_weights(best_weights)
    return history


def _as_xy(
    x: np.ndarray, y: np.ndarray, name: str
) -> tuple[tf.Tensor, tf.Tensor]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} must be (n, d) and (n, m) arrays; got {x.shape} and "
            f"{y.shape}"
        )
    return tf.constant(x, dtype=tf.float32), tf.constant(y, dtype=tf.float32)
