"""Training two ways: by hand (``tf.Variable``, ``tf.GradientTape``,
``tf.function``) and Keras.

Part of the shared core, taught in the chapter *TensorFlow two ways*
(``book/foundations/tensorflow-two-ways.md``). The low-level loop and
Keras' ``Model.fit`` minimise the same mean squared error :math:`J(\\xi) =
\\frac{1}{n} \\sum_i \\| N(x_i, \\xi) - y_i \\|_2^2` (the book's equation
:math:numref:`eq-mse`); started from the same weights, with the same optimizer
and the same batches in the same order, they take the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

# check_xy lives with the data it checks; training code imports it from here.
from sciml_nn.core.checks import check_int, check_same_shape
from sciml_nn.core.data import check_xy
from sciml_nn.core.mlp import Params, layer_sizes_of

Forward = Callable[[tf.Tensor], tf.Tensor]


def mean_squared_error(y_pred: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The loss :math:numref:`eq-mse`: the mean of :math:`(\\hat y_i - y_i)^2`
    over all entries.

    With one output per sample this is :math:`\\frac{1}{n}\\sum_i
    \\|N(x_i,\\xi) - y_i\\|^2`.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    y = tf.convert_to_tensor(y, dtype=y_pred.dtype)
    check_same_shape("y_pred", y_pred, "y", y)
    return tf.reduce_mean(tf.square(y_pred - y))


def as_variables(xi: Params) -> list[tuple[tf.Variable, tf.Variable]]:
    """Wrap each ``(W, b)`` of :math:`\\xi` in ``tf.Variable``, the mutable
    state a tape watches."""
    layer_sizes_of(xi)  # checks the shapes of the pairs
    return [
        (tf.Variable(W, name=f"W_{k}"), tf.Variable(b, name=f"b_{k}"))
        for k, (W, b) in enumerate(xi, start=1)
    ]


def flat_variables(variables: Any) -> list[tf.Variable]:
    """Flatten any nesting of variables (a list of ``(W, b)`` pairs, a Keras
    model's ``trainable_variables``) into a list of ``tf.Variable``.

    A ``keras.Variable`` is replaced by the ``tf.Variable`` it holds, so
    ``tf.GradientTape`` and a Keras optimizer see the same object.
    """
    flat = [
        v.value if isinstance(v, keras.Variable) else v
        for v in tf.nest.flatten(variables)
    ]
    if not flat:
        raise ValueError("variables must hold at least one tf.Variable")
    for v in flat:
        if not isinstance(v, tf.Variable):
            raise TypeError(
                "variables must be tf.Variable or keras.Variable objects; got "
                f"{type(v).__name__}"
            )
    return flat


def make_train_step(
    forward: Forward,
    variables: Sequence[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
    use_tf_function: bool = True,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One optimizer step on a minibatch; returns the batch loss :math:`J`
    :math:numref:`eq-mse`.

    The tape records the forward pass; ``tape.gradient`` runs it in reverse to
    give :math:`\\nabla_\\xi J`; the optimizer turns the gradient into an
    update of ``variables`` (any nesting of ``tf.Variable``, e.g. a list of
    ``(W, b)`` pairs, or a Keras model's ``trainable_variables``). With
    ``use_tf_function`` the step is traced once into a graph; without it every
    operation runs eagerly from Python.
    """
    variables = flat_variables(variables)
    if (
        use_tf_function
        and isinstance(optimizer, keras.optimizers.Optimizer)
        and not optimizer.built
    ):
        # Keras creates its optimizer's state at the first step; inside a
        # tf.function that step would then be traced twice.
        optimizer.build(variables)

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            J = mean_squared_error(forward(x), y)
        gradients = tape.gradient(J, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return J

    return (
        tf.function(train_step, reduce_retracing=True)
        if use_tf_function
        else train_step
    )


def batched_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int
) -> tf.data.Dataset:
    """The pairs :math:`(x_i, y_i)` in consecutive batches of ``batch_size``
    rows, in order (the last batch holds the remainder), as a
    ``tf.data.Dataset`` built once.

    ``fit(dataset, shuffle=False)`` takes the same steps as ``fit(x, y,
    batch_size=batch_size, shuffle=False)`` (Keras warns if ``shuffle`` is
    left at its default with a dataset); with arrays, ``fit`` rebuilds its
    input pipeline every epoch (and so does the validation pass), which on
    small data costs more than the steps.
    """
    x, y = check_xy(x, y, dtype=None)
    batch_size = check_int("batch_size", batch_size, 1)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
