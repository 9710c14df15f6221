"""Multilayer perceptrons three ways: NumPy, TensorFlow operations, and Keras
layers.

A network with layer sizes :math:`(n_0, n_1, \\dots, n_L)` maps :math:`x_0 \\in
\\mathbb{R}^{n_0}` through :math:`x_k = \\sigma(x_{k-1} W_k + b_k)` for
:math:`k < L` and :math:`x_L = x_{L-1} W_L + b_L` (the book's equation
:math:numref:`eq-mlp`). Rows are samples, so :math:`W_k` has shape
:math:`(n_{k-1}, n_k)`, the layout of a Keras ``Dense`` kernel. The parameters
:math:`\\xi = \\{W_1, b_1, \\dots, W_L, b_L\\}` are a list of ``(W, b)`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_choice

Params = list[tuple[np.ndarray, np.ndarray]]

_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    # exp(-log(1 + e^{-z})) never overflows, unlike 1 / (1 + e^{-z}) for z <<
    # 0.
    "sigmoid": lambda z: np.exp(-np.logaddexp(0.0, -z)),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "linear": lambda z: z,
}
_TF_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "softplus": tf.nn.softplus,
    "linear": tf.identity,
}
#: The names of the activations :math:`\\sigma` the networks accept.
ACTIVATIONS = tuple(_NUMPY_ACTIVATIONS)


def check_activation(activation: str) -> str:
    """Return ``activation`` if it is one of :data:`ACTIVATIONS`, else raise
    ``ValueError``."""
    return check_choice("activation", activation, ACTIVATIONS)


def sigma(z: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Apply the activation :math:`\\sigma` elementwise to ``z`` with NumPy
    (any shape)."""
    return _NUMPY_ACTIVATIONS[check_activation(activation)](np.asarray(z))


def sigma_tensorflow(
    activation: str = "tanh",
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation :math:`\\sigma` named ``activation`` as a TensorFlow
    function."""
    return _TF_ACTIVATIONS[check_activation(activation)]


def check_layer_sizes(layer_sizes: Sequence[int]) -> list[int]:
    """Return ``layer_sizes`` as a list of positive ints with at least two
    entries."""
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output size; got "
            f"{sizes}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"layer sizes must be ints; got {sizes}")
        if size <= 0:
            raise ValueError(f"layer sizes must be positive; got {sizes}")
    return [int(s) for s in sizes]


def count_parameters(layer_sizes: Sequence[int]) -> int:
    """Number of entries of :math:`\\xi`: :math:`\\sum_k (n_{k-1} + 1)\\,
    n_k`."""
    sizes = check_layer_sizes(layer_sizes)
    return sum((n_in + 1) * n_out for n_in, n_out in pairwise(sizes))


def init_mlp(layer_sizes: Sequence[int], seed: int = 0) -> Params:
    """Glorot-uniform weights and zero biases, float32, as Keras initialises a
    ``Dense`` layer."""
    sizes = check_layer_sizes(layer_sizes)
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in pairwise(sizes):
        limit = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)
        params.append((W, np.zeros(n_out, dtype=np.float32)))
    return params


def _check_input(x_shape: Sequence[int], params: Params) -> None:
    if len(params) == 0:
        raise ValueError("params must hold at least one (W, b) pair")
    n_in = params[0][0].shape[0]
    # A mismatch deep inside the loop would surface as an opaque matmul error;
    # name the layer.
    n_prev = n_in
    for k, (W, b) in enumerate(params, start=1):
        if (
            len(W.shape) != 2
            or W.shape[0] != n_prev
            or tuple(b.shape) != (W.shape[1],)
        ):
            raise ValueError(
                f"W_{k} must have shape ({n_prev}, n_{k}) and b_{k} shape "
                f"(n_{k},); "
                f"got {tuple(W.shape)} and {tuple(b.shape)}"
            )
        n_prev = W.shape[1]
    if len(x_shape) != 2 or x_shape[1] != n_in:
        raise ValueError(
            f"x must have shape (n, {n_in}); got {tuple(x_shape)}"
        )


def mlp_numpy(
    x: np.ndarray, params: Params, activation: str = "tanh"
) -> np.ndarray:
    """Evaluate the network :math:numref:`eq-mlp` with NumPy; ``x`` has shape
    ``(n, n_0)``."""
    sigma = _NUMPY_ACTIVATIONS[check_activation(activation)]
    x = np.asarray(x)
    _check_input(x.shape, params)
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        x = sigma(x @ W + b)
    return x @ W_out + b_out


def mlp_tensorflow(
    x: tf.Tensor, params: Params, activation: str = "tanh"
) -> tf.Tensor:
    """The same network with TensorFlow operations, so ``tf.GradientTape`` can
    differentiate it."""
    sigma = sigma_tensorflow(activation)
    x = tf.convert_to_tensor(x)
    _check_input(x.shape, params)
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        x = sigma(tf.matmul(x, W) + b)
    return tf.matmul(x, W_out) + b_out


def keras_mlp(
    layer_sizes: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
) -> keras.Sequential:
    """The same network as Keras ``Dense`` layers, Glorot-uniform weights drawn
    with ``seed``.

    A ``kernel_regularizer`` (e.g. ``keras.regularizers.L2``) adds its penalty
    on every :math:`W_k` to the training loss.
    """
    sizes = check_layer_sizes(layer_sizes)
    check_activation(activation)
    layers = [keras.Input(shape=(sizes[0],))]
    for k, n_out in enumerate(sizes[1:], start=1):
        last = k == len(sizes) - 1
        layers.append(
            keras.layers.Dense(
                n_out,
                activation="linear" if last else activation,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=seed + k
                ),
                kernel_regularizer=kernel_regularizer,
                name="output" if last else f"hidden_{k}",
            )
        )
    return keras.Sequential(layers, name="mlp")


def params_of(model: keras.Model) -> Params:
    """The ``(W, b)`` pairs of a model's ``Dense`` layers, as NumPy arrays."""
    dense = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    if not dense:
        raise ValueError("model has no Dense layers")
    return [
        (np.asarray(layer.kernel), np.asarray(layer.bias)) for layer in dense
    ]
