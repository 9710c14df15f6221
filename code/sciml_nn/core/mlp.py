"""Multilayer perceptrons three ways: NumPy, TensorFlow operations, and Keras
layers.

Part of the shared core, taught in the chapter *What is a neural network*
(``book/foundations/neural-networks.md``). A network with layer sizes
:math:`(n_0, n_1, \\dots, n_L)` maps :math:`x_0 \\in \\mathbb{R}^{n_0}` through
:math:`x_k = \\sigma(x_{k-1} W_k + b_k)` for :math:`k < L` and :math:`x_L =
x_{L-1} W_L + b_L` (the book's equation :math:numref:`eq-mlp`). Rows are
samples, so :math:`W_k` has shape :math:`(n_{k-1}, n_k)`, the layout of a Keras
``Dense`` kernel. The parameters :math:`\\xi = \\{W_1, b_1, \\dots, W_L,
b_L\\}` are a list ``xi`` of ``(W, b)`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import keras
import numpy as np

from sciml_nn.core.checks import check_choice, check_int

if TYPE_CHECKING:  # TensorFlow is imported where it is used, so that the
    # Keras parts load on Keras' JAX backend, where TensorFlow may be absent
    import tensorflow as tf

Params = list[tuple[np.ndarray, np.ndarray]]


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """The sigmoid :math:`s(z) = 1 / (1 + e^{-z})` of
    :math:numref:`eq-activations`, evaluated as :math:`\\exp(-\\log(1 +
    e^{-z}))` so that it never overflows.

    ``1 / (1 + np.exp(-z))`` overflows in :math:`e^{-z}` for :math:`z \\ll 0`;
    ``np.logaddexp(0, -z)`` computes :math:`\\log(1 + e^{-z})` without forming
    :math:`e^{-z}`. Any shape; the dtype of ``z`` is kept.
    """
    z = np.asarray(z)
    return np.exp(-np.logaddexp(0.0, -z))


_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": stable_sigmoid,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "linear": lambda z: z,
}


#: The names of the activations :math:`\\sigma` the networks accept.
ACTIVATIONS = tuple(_NUMPY_ACTIVATIONS)


def check_activation(activation: str) -> str:
    """Return ``activation`` if it is one of :data:`ACTIVATIONS`, else raise
    ``ValueError``."""
    return check_choice("activation", activation, ACTIVATIONS)


def sigma(z: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Apply the activation :math:`\\sigma` of :math:numref:`eq-activations`
    elementwise to ``z`` with NumPy (any shape)."""
    return _NUMPY_ACTIVATIONS[check_activation(activation)](np.asarray(z))


def sigma_tensorflow(
    activation: str = "tanh",
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation :math:`\\sigma` named ``activation`` as a TensorFlow
    function."""
    import tensorflow as tf

    return {
        "relu": tf.nn.relu,
        "tanh": tf.tanh,
        "sigmoid": tf.sigmoid,
        "softplus": tf.nn.softplus,
        "linear": tf.identity,
    }[check_activation(activation)]


def check_layer_sizes(layer_sizes: Sequence[int]) -> list[int]:
    """Return the layer sizes :math:`(n_0, \\dots, n_L)` as a list of positive
    ints, :math:`L \\ge 1`."""
    layer_sizes = list(layer_sizes)
    if len(layer_sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output size; got "
            f"{layer_sizes}"
        )
    return [check_int("layer sizes", n, 1) for n in layer_sizes]


def count_parameters(layer_sizes: Sequence[int]) -> int:
    """Number of entries of :math:`\\xi`: :math:`\\sum_k (n_{k-1} + 1)\\,
    n_k` (:math:numref:`eq-xi`)."""
    layer_sizes = check_layer_sizes(layer_sizes)
    return sum((n_in + 1) * n_out for n_in, n_out in pairwise(layer_sizes))


def count_weights(layer_sizes: Sequence[int]) -> int:
    """Number of weights, the entries of the :math:`W_k` without the biases:
    :math:`\\sum_k n_{k-1} n_k`.

    It is the number of edges of the network's graph, and of multiply-adds of
    one sample's forward pass :math:numref:`eq-mlp`.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    return sum(n_in * n_out for n_in, n_out in pairwise(layer_sizes))


def init_mlp(layer_sizes: Sequence[int], seed: int = 0) -> Params:
    """:math:`\\xi` with Glorot-uniform weights :math:`(W_k)_{ij} \\sim U(-a_k,
    a_k)`, :math:`a_k = \\sqrt{6 / (n_{k-1} + n_k)}`, and zero biases, float32,
    as Keras initialises a ``Dense`` layer."""
    layer_sizes = check_layer_sizes(layer_sizes)
    rng = np.random.default_rng(seed)
    xi = []
    for n_in, n_out in pairwise(layer_sizes):
        a = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-a, a, size=(n_in, n_out)).astype(np.float32)
        xi.append((W, np.zeros(n_out, dtype=np.float32)))
    return xi


def layer_sizes_of(xi: Params) -> list[int]:
    """The layer sizes :math:`(n_0, \\dots, n_L)` of :math:`\\xi`, after
    checking that each :math:`W_k` has shape :math:`(n_{k-1}, n_k)` and each
    :math:`b_k` shape :math:`(n_k,)`.

    ``xi`` may hold NumPy arrays, tensors or variables. A mismatch deep inside
    a network would surface as an opaque matmul error; this names the layer.
    """
    if len(xi) == 0:
        raise ValueError("xi must hold at least one (W, b) pair")
    first = tuple(xi[0][0].shape)
    layer_sizes = [first[0] if len(first) == 2 else "n_0"]
    for k, (W, b) in enumerate(xi, start=1):
        n = layer_sizes[-1]
        W_shape, b_shape = tuple(W.shape), tuple(b.shape)
        if len(W_shape) != 2 or W_shape[0] != n or b_shape != W_shape[1:]:
            raise ValueError(
                f"W_{k} must have shape ({n}, n_{k}) and b_{k} shape "
                f"(n_{k},); got {W_shape} and {b_shape}"
            )
        layer_sizes.append(W_shape[1])
    return layer_sizes


def check_mlp_input(x: np.ndarray | tf.Tensor, xi: Params) -> None:
    """Check :math:`\\xi` with :func:`layer_sizes_of` and that ``x`` (an array
    or a tensor, also a symbolic one) has shape :math:`(n, n_0)`."""
    n_0 = layer_sizes_of(xi)[0]
    if len(x.shape) != 2 or x.shape[1] != n_0:
        raise ValueError(f"x must have shape (n, {n_0}); got {tuple(x.shape)}")


def mlp_numpy(
    x: np.ndarray, xi: Params, activation: str = "tanh"
) -> np.ndarray:
    """Evaluate the network :math:numref:`eq-mlp` with NumPy; ``x`` has shape
    ``(n, n_0)``."""
    check_activation(activation)
    x = np.asarray(x)
    check_mlp_input(x, xi)
    *hidden, (W_L, b_L) = xi
    for W, b in hidden:
        x = sigma(x @ W + b, activation)
    return x @ W_L + b_L


def mlp_tensorflow(
    x: tf.Tensor, xi: Params, activation: str = "tanh"
) -> tf.Tensor:
    """The same network with TensorFlow operations, so ``tf.GradientTape`` can
    differentiate it."""
    import tensorflow as tf

    sigma_tf = sigma_tensorflow(activation)
    x = tf.convert_to_tensor(x)
    check_mlp_input(x, xi)
    *hidden, (W_L, b_L) = xi
    for W, b in hidden:
        x = sigma_tf(tf.matmul(x, W) + b)
    return tf.matmul(x, W_L) + b_L


def keras_mlp(
    layer_sizes: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    kernel_regularizer: keras.regularizers.Regularizer | None = None,
    dtype: str | keras.DTypePolicy | None = None,
) -> keras.Sequential:
    """The network :math:numref:`eq-mlp` as Keras ``Dense`` layers, with
    Glorot-uniform weights drawn with ``seed``.

    A ``kernel_regularizer`` (e.g. ``keras.regularizers.L2``) adds its penalty
    on every :math:`W_k` to the training loss; ``dtype`` is the layers' dtype
    or dtype policy (``"float64"``, ``"mixed_bfloat16"``; Keras' global policy
    if ``None``), and the inputs take the dtype of its weights.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    check_activation(activation)
    L = len(layer_sizes) - 1
    # inputs in the weights' dtype, so that float64 layers see float64 inputs
    policy = None if dtype is None else keras.dtype_policies.get(dtype)
    layers = [
        keras.Input(
            shape=(layer_sizes[0],),
            dtype=None if policy is None else policy.variable_dtype,
        )
    ]
    for k, n_k in enumerate(layer_sizes[1:], start=1):
        layers.append(
            keras.layers.Dense(
                n_k,
                activation="linear" if k == L else activation,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=seed + k
                ),
                kernel_regularizer=kernel_regularizer,
                dtype=dtype,
                name="output" if k == L else f"hidden_{k}",
            )
        )
    return keras.Sequential(layers, name="mlp")


def dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    """The ``Dense`` layers of ``model``, in order; ``ValueError`` if it has
    none."""
    found = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    if not found:
        raise ValueError("model has no Dense layers")
    return found


def params_of(model: keras.Model) -> Params:
    """:math:`\\xi` of a model: the ``(W, b)`` pairs of its ``Dense`` layers,
    as NumPy arrays."""
    return [
        (np.asarray(layer.kernel), np.asarray(layer.bias))
        for layer in dense_layers(model)
    ]
