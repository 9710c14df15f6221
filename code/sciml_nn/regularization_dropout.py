"""Dropout written from scratch as a Keras layer, and a network with dropout
after each hidden layer.

Code of the chapter *Regularization*
(``book/optimization/regularization.md``), its second module. Dropout
(:math:numref:`eq-dropout`) regularizes without touching the loss; the
training loop of :mod:`sciml_nn.regularization` trains its networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from sciml_nn.core.checks import check_float
from sciml_nn.core.mlp import keras_mlp


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
        self.rate = check_float("rate", rate, 0, 1, high_open=True)
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
    """:func:`sciml_nn.core.mlp.keras_mlp` with a ``dropout(rate)`` layer after
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
