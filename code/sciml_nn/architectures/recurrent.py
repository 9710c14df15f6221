"""A recurrent network written by hand: one set of weights applied at every time step.

The hidden state follows :math:`h_i = \\sigma(x_i W + h_{i-1} U + b)` with :math:`h_0 = 0`, rows
being samples, which is the convention of ``keras.layers.SimpleRNN`` with ``kernel`` :math:`W`,
``recurrent_kernel`` :math:`U` and ``bias`` :math:`b`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from sciml_nn.networks import sigma_tensorflow


def _as_float_tensor(name: str, value: object, ndim: int) -> tf.Tensor:
    tensor = tf.convert_to_tensor(value)
    if not tensor.dtype.is_floating:
        raise TypeError(f"{name} must be a floating-point array; got dtype {tensor.dtype.name}")
    if tensor.shape.rank != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {tuple(tensor.shape)}")
    return tensor


def simple_rnn(
    x: np.ndarray | tf.Tensor,
    W: np.ndarray | tf.Tensor,
    U: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor,
    activation: str = "tanh",
) -> tf.Tensor:
    """Every hidden state :math:`h_i = \\sigma(x_i W + h_{i-1} U + b)`, :math:`h_0 = 0`.

    ``x`` has shape (batch, time, features), ``W`` (features, units), ``U`` (units, units) and
    ``b`` (units,); the result has shape (batch, time, units), like
    ``keras.layers.SimpleRNN(units, return_sequences=True)``. Differentiable with
    ``tf.GradientTape`` (backpropagation through time).
    """
    x = _as_float_tensor("x", x, 3)
    W, U, b = (_as_float_tensor(n, v, k) for n, v, k in (("W", W, 2), ("U", U, 2), ("b", b, 1)))
    features, units = W.shape
    if x.shape[2] != features:
        raise ValueError(f"x has {x.shape[2]} features but W expects {features}: "
                         f"x {tuple(x.shape)}, W {tuple(W.shape)}")
    if tuple(U.shape) != (units, units) or tuple(b.shape) != (units,):
        raise ValueError(f"U must have shape ({units}, {units}) and b shape ({units},); "
                         f"got U {tuple(U.shape)}, b {tuple(b.shape)}")
    if len({x.dtype, W.dtype, U.dtype, b.dtype}) > 1:
        raise TypeError("x, W, U and b must share one dtype; got "
                        f"{x.dtype.name}, {W.dtype.name}, {U.dtype.name}, {b.dtype.name}")
    if x.shape[1] is None or x.shape[1] < 1:
        raise ValueError(f"x needs at least one time step; got shape {tuple(x.shape)}")
    sigma = sigma_tensorflow(activation)
    h = tf.zeros((tf.shape(x)[0], units), dtype=x.dtype)
    states = []
    for i in range(x.shape[1]):  # the same W, U, b at every step
        h = sigma(x[:, i, :] @ W + h @ U + b)
        states.append(h)
    return tf.stack(states, axis=1)
