"""Regularization: weight decay (L2), the lasso (L1) with its proximal step,
and a training loop with early stopping.

Code of the chapter *Regularization*
(``book/optimization/regularization.md``); dropout is in its second module,
:mod:`sciml_nn.regularization_dropout`.

The penalties act on the
kernels :math:`W_k` of the ``Dense`` layers only, never on the biases
:math:`b_k`, exactly as Keras' ``kernel_regularizer`` does; training minimises
:math:`J(\\xi) + \\lambda R(W)` with the mean squared error
:math:numref:`eq-mse` and :math:`R` one of :math:numref:`eq-l2-penalty` and
:math:numref:`eq-l1-penalty`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_choice, check_float, check_int
from sciml_nn.core.metrics import early_stopping
from sciml_nn.core.mlp import dense_layers
from sciml_nn.core.training import check_xy, mean_squared_error


def check_float_tensor(name: str, value: object) -> tf.Tensor:
    """Return ``value`` (an array, tensor or variable) as a tensor if its dtype
    is a floating-point one."""
    tensor = tf.convert_to_tensor(value)
    if not tensor.dtype.is_floating:
        raise TypeError(
            f"{name} must be a floating-point array; got dtype "
            f"{tensor.dtype.name}"
        )
    return tensor


def check_weights(
    weights: Sequence[np.ndarray | tf.Tensor],
) -> list[tf.Tensor]:
    """Return a non-empty list of floating-point arrays ``weights`` (the
    kernels :math:`W_k`) as tensors."""
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
    return [
        check_float_tensor(f"weights[{k}]", W) for k, W in enumerate(weights)
    ]


def kernel_penalty(
    weights: Sequence[np.ndarray | tf.Tensor],
    lam: float,
    elementwise: Callable[[tf.Tensor], tf.Tensor],
) -> tf.Tensor:
    """The penalty :math:`\\lambda R(W) = \\lambda \\sum_k \\sum_{ij}
    \\phi((W_k)_{ij})` of :math:numref:`eq-regularized-loss`, with the
    function :math:`\\phi` = ``elementwise`` applied entry by entry to the
    kernels :math:`W_k` in ``weights``."""
    lam = check_float("lam", lam, 0)
    return lam * tf.add_n(
        [tf.reduce_sum(elementwise(W)) for W in check_weights(weights)]
    )


def l2_penalty(
    weights: Sequence[np.ndarray | tf.Tensor], lam: float
) -> tf.Tensor:
    """Weight decay :math:numref:`eq-l2-penalty`: :math:`\\lambda \\sum_k
    \\sum_{ij} (W_k)_{ij}^2`.

    ``weights`` is the list of kernels :math:`W_k`; the result equals the sum
    over the kernels of ``keras.regularizers.L2(lam)``.
    """
    return kernel_penalty(weights, lam, tf.square)


def l1_penalty(
    weights: Sequence[np.ndarray | tf.Tensor], lam: float
) -> tf.Tensor:
    """The lasso :math:numref:`eq-l1-penalty`: :math:`\\lambda \\sum_k
    \\sum_{ij} |(W_k)_{ij}|`.

    ``weights`` is the list of kernels :math:`W_k`; the result equals the sum
    over the kernels of ``keras.regularizers.L1(lam)``.
    """
    return kernel_penalty(weights, lam, tf.abs)


def soft_threshold(
    w: np.ndarray | tf.Tensor, threshold: float | tf.Tensor
) -> np.ndarray | tf.Tensor:
    """The proximal operator of :math:`t|\\cdot|`, entry by entry
    :math:numref:`eq-soft-threshold`.

    :math:`\\operatorname{prox}_{t|\\cdot|}(w) =
    \\operatorname{sign}(w)\\max(|w| - t, 0)`, the minimiser over :math:`u` of
    :math:`\\tfrac12 (u - w)^2 + t|u|`. Entries with :math:`|w| \\le t` become
    exactly zero. NumPy in, NumPy out; TensorFlow in, TensorFlow out.
    ``threshold`` is a number :math:`t \\ge 0` or, inside a compiled
    function, a scalar tensor.
    """
    t = (
        threshold
        if tf.is_tensor(threshold)
        else check_float("threshold", threshold, 0)
    )
    w_tensor = check_float_tensor("w", w)
    prox = tf.sign(w_tensor) * tf.maximum(
        tf.abs(w_tensor) - tf.cast(t, w_tensor.dtype), 0
    )
    return prox if isinstance(w, (tf.Tensor, tf.Variable)) else prox.numpy()


def kernels(model: keras.Model) -> list[tf.Variable]:
    """The kernels :math:`W_k` of a model's ``Dense`` layers: the weights the
    penalties act on."""
    return [layer.kernel for layer in dense_layers(model)]


def count_exact_zeros(weights: Sequence[np.ndarray | tf.Tensor]) -> int:
    """How many entries of ``weights`` are exactly ``0.0``."""
    return int(
        sum(
            int(tf.reduce_sum(tf.cast(W == 0, tf.int32)))
            for W in check_weights(weights)
        )
    )


_PENALTIES = {"none": None, "l2": l2_penalty, "l1": l1_penalty}


def make_regularized_steps(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    penalty: str = "none",
    proximal: bool = False,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """``run(x, y, steps, lam)``: ``steps`` full-batch steps on
    :math:numref:`eq-regularized-loss`.

    With ``penalty`` ``"l2"`` or ``"l1"`` the tape differentiates :math:`J +
    \\lambda R`; for ``"l1"`` that is the subgradient
    :math:`\\lambda\\,\\mathrm{sign}(W)`. With ``proximal`` (L1 only) the tape
    sees :math:`J` alone and every step ends with the proximal step
    :math:numref:`eq-proximal-step`, :math:`W \\leftarrow
    \\mathrm{prox}_{\\eta\\lambda}(W)` with :math:`\\eta` the optimizer's
    constant learning rate. Dropout layers in ``model`` are active
    (``training=True``). :math:`\\lambda` is an argument, not a constant of
    the graph: one trace serves every :math:`\\lambda` of a sweep.
    """
    check_choice("penalty", penalty, tuple(_PENALTIES))
    if proximal and penalty != "l1":
        raise ValueError(
            f"proximal=True needs penalty='l1'; got penalty={penalty!r}"
        )
    W = kernels(model)
    penalize = None if proximal else _PENALTIES[penalty]
    eta = float(optimizer.learning_rate)
    if not optimizer.built:  # its slots now: run would be traced twice
        optimizer.build(model.trainable_variables)

    @tf.function
    def run(
        x: tf.Tensor, y: tf.Tensor, steps: tf.Tensor, lam: tf.Tensor
    ) -> tf.Tensor:  # lam: a float64 scalar, like eta
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = mean_squared_error(model(x, training=True), y)
                if penalize is not None:  # lambda R(W), R at lambda = 1
                    loss += tf.cast(lam, loss.dtype) * penalize(W, 1.0)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(
                zip(gradients, model.trainable_variables)
            )
            if proximal:
                for W_k in W:
                    W_k.assign(soft_threshold(W_k.value, eta * lam))
        return loss

    return run


def _make_data_loss(
    model: keras.Model, d_in: int, d_out: int
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The data loss :math:numref:`eq-mse` at inference, compiled once for any
    number of samples (a call costs far less than an eager one)."""

    def data_loss(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return mean_squared_error(model(x), y)

    signature = [tf.TensorSpec([None, d_in]), tf.TensorSpec([None, d_out])]
    return tf.function(data_loss, input_signature=signature, autograph=False)


# The compiled steps and data loss of the last (model, optimizer, penalty,
# proximal) trained: the same model trained again with the same optimizer
# (both reset, say, for the next lambda of a sweep) reuses them instead of
# being traced again. One entry only: the steps hold the model and optimizer.
_LAST_COMPILED: dict[tuple, tuple] = {}


def _compiled(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    penalty: str,
    proximal: bool,
    d_in: int,
    d_out: int,
) -> tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]:
    """:func:`make_regularized_steps` and :func:`_make_data_loss` for
    ``model``, built again only when something differs from the last call."""
    key = (id(model), id(optimizer), penalty, proximal, d_in, d_out)
    if key not in _LAST_COMPILED:
        _LAST_COMPILED.clear()
        _LAST_COMPILED[key] = (
            (model, optimizer),  # alive while cached: their ids stay theirs
            make_regularized_steps(model, optimizer, penalty, proximal),
            _make_data_loss(model, d_in, d_out),
        )
    return _LAST_COMPILED[key][1:]


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
    epoch). A model trained again with the same optimizer (both reset, say, for
    the next :math:`\\lambda` of a sweep) reuses its compiled steps instead of
    tracing them again.
    """
    steps = check_int("steps", steps, 1)
    record_every = check_int("record_every", record_every, 1)
    if patience is not None:
        patience = check_int("patience", patience, 1)
        if validation is None:
            raise ValueError(
                "patience needs validation data; got validation=None"
            )
    x, y = (tf.constant(a) for a in check_xy(x, y))
    if validation is not None:
        x_val, y_val = (
            tf.constant(a) for a in check_xy(*validation, "validation x and y")
        )
    lam = tf.constant(check_float("lam", lam, 0), tf.float64)
    run, data_loss = _compiled(
        model, optimizer, penalty, proximal, x.shape[1], y.shape[1]
    )
    history: dict[str, list[float]] = {"step": [], "loss": [], "val_loss": []}
    best_weights, stopped = model.get_weights(), 0
    while (
        done := len(history["step"]) * record_every
    ) < steps and not stopped:
        run(x, y, tf.constant(min(record_every, steps - done)), lam)
        history["step"].append(min(done + record_every, steps))
        history["loss"].append(float(data_loss(x, y)))
        if validation is not None:
            history["val_loss"].append(float(data_loss(x_val, y_val)))
        if patience is not None:
            best, stopped = early_stopping(history["val_loss"], patience)
            if best == len(history["val_loss"]):
                best_weights = model.get_weights()
    if patience is not None:
        model.set_weights(best_weights)
    return history
