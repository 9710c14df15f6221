"""Second-order training: the Jacobian of the residuals of a least-squares
loss, Gauss-Newton and Levenberg-Marquardt steps for any network and any
residuals (data misfits, the residuals of a differential equation), a Keras
model whose ``fit`` takes them, and a TensorFlow loss as a function of one
NumPy vector, for L-BFGS and SciPy.

Code of the chapter *Second-order training*
(``book/optimization/second-order-training.md``); L-BFGS and its line search
are in :mod:`sciml_nn.second_order_training_lbfgs`. The exercise
(:mod:`sciml_nn.fit_xtx`) and the physics-informed networks train with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_float,
    check_int,
)
from sciml_nn.core.data import sample_unit_box, squared_norm
from sciml_nn.core.mlp import Params, init_mlp
from sciml_nn.core.training import flat_variables

#: ``f(x) -> (value, gradient)`` for a float64 vector ``x``.
ValueAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


def residual_jacobian(
    residuals: Callable[..., tf.Tensor], variables: Any, *args: Any
) -> tf.Tensor:
    """:math:`D_{ij} = \\partial r_i / \\partial \\xi_j`, shape ``(n, P)``
    (:math:numref:`eq-gauss-newton`), for residuals :math:`r_i` that depend
    on row ``i`` of each of ``args`` only (one residual per sample).

    ``residuals(*args)`` returns the n residuals, shape ``(n,)`` or
    ``(n, 1)``; a network's ``forward`` is one (then ``args`` is ``(x,)``).
    One reverse pass per sample, vectorized over the samples with
    ``tf.vectorized_map``. ``variables`` is :math:`\\xi` in any nesting (the
    ``(W, b)`` pairs, a Keras model's ``trainable_variables``); the columns
    follow its flattened order.
    """
    variables = flat_variables(variables)

    def row(rows: tuple[tf.Tensor, ...]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            r_i = tf.reshape(residuals(*(a[None] for a in rows)), [])
        gradients = tape.gradient(
            r_i, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return tf.concat([tf.reshape(g, [-1]) for g in gradients], 0)

    return tf.vectorized_map(row, tuple(tf.convert_to_tensor(a) for a in args))


def _float64_matrix(
    name: str, value: Any, rows: int | None = None, columns: int | None = None
) -> tf.Tensor:
    """``value``, a floating-point matrix with ``rows`` and ``columns`` where
    both it and the caller know them, as float64."""
    tensor = tf.convert_to_tensor(value)
    if not tensor.dtype.is_floating:
        raise TypeError(
            f"{name} must be floating-point; got dtype {tensor.dtype.name}"
        )
    if tensor.shape.rank != 2:
        raise ValueError(
            f"{name} must be a matrix (2-D); got shape {tuple(tensor.shape)}"
        )
    for axis, want in enumerate((rows, columns)):
        have, what = tensor.shape[axis], ("rows", "columns")[axis]
        if want is not None and have is not None and have != want:
            raise ValueError(
                f"{name} must have {want} {what}; got shape "
                f"{tuple(tensor.shape)}"
            )
    return tf.cast(tensor, tf.float64)


def gauss_newton_products(
    D: tf.Tensor, r: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """:math:`D^T D` and :math:`D^T r`, the matrix and (up to its sign) the
    right side of :math:numref:`eq-levenberg-marquardt`, in float64.

    ``D`` is the ``(n, P)`` Jacobian of the ``n`` residuals ``r``; the
    products have shapes ``(P, P)`` and ``(P, 1)``.
    """
    D = _float64_matrix("D", D)
    r = _float64_matrix("r as a column", tf.reshape(r, [-1, 1]), D.shape[0])
    # float64 because D^T D squares the condition number of D.
    return tf.matmul(D, D, transpose_a=True), tf.matmul(D, r, transpose_a=True)


def solve_damped(
    DtD: tf.Tensor, Dtr: tf.Tensor, mu: float | tf.Tensor
) -> tf.Tensor:
    """:math:`\\delta = -(D^T D + \\mu I)^{-1} D^T r` by a Cholesky
    factorization, from the products of :func:`gauss_newton_products`;
    :math:`\\mu > 0`."""
    DtD = _float64_matrix("DtD", DtD, columns=DtD.shape[0])
    Dtr = _float64_matrix("Dtr", Dtr, DtD.shape[0], 1)
    if not tf.is_tensor(mu):  # a tensor (the step's damping) is checked by it
        mu = check_float("mu", mu, 0, low_open=True)
    # a Python float straight to float64, not through float32
    mu = tf.cast(tf.convert_to_tensor(mu, dtype_hint=tf.float64), tf.float64)
    A = DtD + mu * tf.eye(tf.shape(DtD)[0], dtype=tf.float64)
    return tf.linalg.cholesky_solve(tf.linalg.cholesky(A), -Dtr)[:, 0]


def damped_gauss_newton_step(
    D: tf.Tensor, r: tf.Tensor, mu: float | tf.Tensor
) -> tf.Tensor:
    """:math:`\\delta = -(D^T D + \\mu I)^{-1} D^T r`
    (:math:numref:`eq-levenberg-marquardt`): the Levenberg-Marquardt step, and
    for :math:`\\mu \\to 0` the Gauss-Newton step, in float64.

    ``D`` is the ``(n, P)`` Jacobian of the ``n`` residuals ``r``.
    """
    return solve_damped(*gauss_newton_products(D, r), mu)


def make_levenberg_marquardt_step(
    residuals: Callable[..., tf.Tensor],
    variables: Any,
    mu: float = 1e-3,
) -> Callable[..., tf.Tensor]:
    """One Levenberg-Marquardt step :math:numref:`eq-levenberg-marquardt` on
    the loss :math:`J(\\xi) = \\frac1n \\sum_i r_i^2`, compiled; the step
    takes the ``args`` of ``residuals`` (see :func:`residual_jacobian`) and
    returns the loss after it.

    A step that lowers the loss is kept and :math:`\\mu` shrinks; otherwise it
    is undone and :math:`\\mu` grows, so the update moves between
    Gauss-Newton and small gradient steps. After an undone step the next one
    starts from the same :math:`\\xi`: if it also sees the same residuals
    (the same samples), it reuses :math:`D^T D` and :math:`D^T r` and only
    solves again with the larger :math:`\\mu`.
    """
    check_callable("residuals", residuals)
    variables = flat_variables(variables)
    entries = [int(np.prod(v.shape)) for v in variables]
    mu = check_float("mu", mu, 0, low_open=True)
    damping = tf.Variable(mu, dtype=tf.float64, trainable=False)
    # the products at the current xi, and the residuals they were formed from
    P = sum(entries)
    DtD = tf.Variable(tf.zeros([P, P], tf.float64), trainable=False)
    Dtr = tf.Variable(tf.zeros([P, 1], tf.float64), trainable=False)
    r_then = tf.Variable(
        tf.zeros([0], tf.float64), shape=[None], trainable=False
    )
    undone = tf.Variable(False, trainable=False)

    def loss_of(*args: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.cast(residuals(*args), tf.float64) ** 2)

    def same_as_then(r: tf.Tensor) -> tf.Tensor:
        same_size = tf.equal(tf.size(r), tf.size(r_then))
        return tf.cond(
            same_size,
            lambda: tf.reduce_all(tf.equal(r, r_then)),
            lambda: tf.constant(False),
        )

    @tf.function(reduce_retracing=True)
    def step(*args: tf.Tensor) -> tf.Tensor:
        loss = loss_of(*args)
        r = tf.reshape(tf.cast(residuals(*args), tf.float64), [-1])
        if not (undone and same_as_then(r)):  # else: D^T D, D^T r still hold
            D = residual_jacobian(residuals, variables, *args)
            products = gauss_newton_products(D, r)
            DtD.assign(products[0])
            Dtr.assign(products[1])
            r_then.assign(r)
        delta = solve_damped(DtD, Dtr, damping)
        old = [tf.identity(v) for v in variables]
        for v, d in zip(variables, tf.split(delta, entries)):
            v.assign_add(tf.reshape(tf.cast(d, v.dtype), v.shape))
        new_loss = loss_of(*args)
        accept = new_loss < loss
        for v, v_old in zip(variables, old):
            v.assign(tf.where(accept, v, v_old))
        undone.assign(tf.logical_not(accept))
        damping.assign(
            tf.clip_by_value(
                tf.where(accept, damping / 3, damping * 2), 1e-12, 1e12
            )
        )
        return tf.minimum(loss, new_loss)

    return step


def data_residuals(
    forward: Callable[[tf.Tensor], tf.Tensor],
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The residuals :math:`r_i = N(x_i, \\xi) - y_i` of fitting data with
    the network ``forward``, as a function of ``(x, y)``."""
    check_callable("forward", forward)

    def residuals(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        prediction = forward(x)
        return prediction - tf.cast(y, prediction.dtype)

    return residuals


@keras.saving.register_keras_serializable(package="sciml_nn")
class LevenbergMarquardtModel(keras.Model):
    """A Keras model whose ``fit`` takes Levenberg-Marquardt steps on
    ``network`` (a custom ``train_step``), starting from the damping
    ``mu``."""

    def __init__(
        self, network: keras.Model, mu: float = 1e-3, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.built = network.built  # its weights are the network's
        self.mu = check_float("mu", mu, 0, low_open=True)
        self.levenberg_marquardt_step = make_levenberg_marquardt_step(
            data_residuals(network), network.trainable_variables, self.mu
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.network(x)

    def train_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict:
        x, y = data
        loss = self.levenberg_marquardt_step(x, y)
        for metric in self.metrics:  # what fit reports: the mean loss
            if metric.name == "loss":
                metric.update_state(loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self) -> dict[str, Any]:
        network = keras.saving.serialize_keras_object(self.network)
        return {**super().get_config(), "network": network, "mu": self.mu}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LevenbergMarquardtModel:
        """The model that :meth:`get_config` describes, its network rebuilt
        from its own configuration."""
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        return cls(network, **config)


def flat_value_and_gradient(
    loss: Callable[[], tf.Tensor], variables: Any
) -> tuple[ValueAndGradient, np.ndarray]:
    """The loss ``loss()`` of ``variables`` (any nesting) as a function of
    one float64 vector, for
    :func:`~sciml_nn.second_order_training_lbfgs.lbfgs` and SciPy's
    ``scipy.optimize.minimize``.

    Returns ``(value_and_gradient, x0)``: ``value_and_gradient(x)`` assigns
    the entries of ``x`` to the variables, in the order of
    :func:`~sciml_nn.core.training.flat_variables`, and returns the loss and
    its gradient (a tape, compiled with ``tf.function``) in float64; ``x0``
    holds the variables' current values. The variables keep the last ``x``
    evaluated: call ``value_and_gradient(result.x)`` to set them to a result.
    """
    check_callable("loss", loss)
    variables = flat_variables(variables)
    sizes = [int(np.prod(v.shape)) for v in variables]

    @tf.function(input_signature=[tf.TensorSpec([sum(sizes)], tf.float64)])
    def evaluate_flat(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        for v, piece in zip(variables, tf.split(x, sizes)):
            v.assign(tf.cast(tf.reshape(piece, v.shape), v.dtype))
        with tf.GradientTape() as tape:
            value = loss()
        if value.shape.rank != 0:
            raise ValueError(
                f"loss must return a scalar; got shape {tuple(value.shape)}"
            )
        gradients = tape.gradient(
            value,
            variables,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        flat = [tf.cast(tf.reshape(g, [-1]), tf.float64) for g in gradients]
        return tf.cast(value, tf.float64), tf.concat(flat, 0)

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        x = check_array("x", x, shape=(sum(sizes),))
        value, gradient = evaluate_flat(tf.constant(x))
        return float(value), gradient.numpy()

    x0 = np.concatenate([np.ravel(v.numpy()) for v in variables])
    return value_and_gradient, x0.astype(np.float64)


def xtx_problem(
    n: int = 256, width: int = 20, seed: int = 0
) -> tuple[Params, np.ndarray, np.ndarray]:
    """The exercise's least-squares problem in float64, built from the core:
    :math:`\\xi` of a ``2-width-width-1`` network (Glorot weights of
    :func:`~sciml_nn.core.mlp.init_mlp` with ``seed``), and ``n`` samples
    ``x`` of :math:`[0, 1]^2` (drawn with ``seed + 1``) mapped to
    :math:`[-1, 1]^2`, with the targets :math:`y = x^T x` of the samples
    before the mapping, shape ``(n, 1)``."""
    width = check_int("width", width, 1)
    xi = init_mlp([2, width, width, 1], seed)
    xi = [(W.astype(np.float64), b.astype(np.float64)) for W, b in xi]
    samples = sample_unit_box(n, 2, seed + 1).astype(np.float64)
    return xi, 2 * samples - 1, squared_norm(samples)
