"""Levenberg-Marquardt steps for any network: the Jacobian of the residuals,
the damped Gauss-Newton step, and a Keras model whose ``fit`` takes them.

Code of the chapter *Exercise: fit f(x) = xᵀx in the unit box*
(``book/exercise/fit-xtx.md``), the optimizer of its recipe
(:math:numref:`eq-levenberg-marquardt`), used by :mod:`sciml_nn.fit_xtx`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_float
from sciml_nn.core.training import flat_variables


def residual_jacobian(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Any,
    x: tf.Tensor,
) -> tf.Tensor:
    """:math:`D_{ij} = \\partial N(x_i, \\xi) / \\partial \\xi_j`, shape ``(n,
    P)``: one reverse pass per sample, vectorized over the samples with
    ``tf.vectorized_map``.

    ``variables`` is :math:`\\xi` in any nesting (the ``(W, b)`` pairs, a Keras
    model's ``trainable_variables``); the columns follow its flattened order.
    """
    variables = flat_variables(variables)

    def row(x_i: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            output = forward(x_i[None])[0, 0]
        return tf.concat(
            [tf.reshape(g, [-1]) for g in tape.gradient(output, variables)], 0
        )

    return tf.vectorized_map(row, tf.convert_to_tensor(x))


def make_levenberg_marquardt_step(
    forward: Callable[[tf.Tensor], tf.Tensor],
    variables: Any,
    mu: float = 1e-3,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One Levenberg-Marquardt step :math:numref:`eq-levenberg-marquardt`,
    compiled.

    :math:`r_i = N(x_i, \\xi) - y_i` are the residuals and :math:`D = \\partial
    r / \\partial \\xi`. A step that lowers the loss is kept and :math:`\\mu`
    shrinks; otherwise it is undone and :math:`\\mu` grows, so the update moves
    between Gauss-Newton and small gradient steps.
    """
    variables = flat_variables(variables)
    entries = [int(np.prod(v.shape)) for v in variables]
    mu = check_float("mu", mu, 0, low_open=True)
    damping = tf.Variable(mu, dtype=tf.float64, trainable=False)

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        r = tf.cast(tf.reshape(forward(x) - y, [-1]), tf.float64)
        loss = tf.reduce_mean(r**2)
        # float64 because D^T D squares the condition number of D.
        D = tf.cast(residual_jacobian(forward, variables, x), tf.float64)
        A = tf.matmul(D, D, transpose_a=True) + damping * tf.eye(
            sum(entries), dtype=tf.float64
        )
        rhs = -tf.linalg.matvec(D, r, transpose_a=True)[:, None]
        delta = tf.split(
            tf.linalg.cholesky_solve(tf.linalg.cholesky(A), rhs)[:, 0], entries
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
            network, network.trainable_variables, self.mu
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
