"""Recurrent networks: one set of weights applied at every time step.

Code of the chapter *Recurrent networks*
(``book/architectures/recurrent-networks.md``).

The hidden state follows :math:`h_i = \\sigma(x_i W + h_{i-1} U + b)` with
:math:`h_0 = 0`, rows being samples, which is the convention of
``keras.layers.SimpleRNN`` with ``kernel`` :math:`W`, ``recurrent_kernel``
:math:`U` and ``bias`` :math:`b` (the book's :math:numref:`eq-rnn`). The module
also holds what the chapter needs to forecast the Lorenz-63 system with
recurrent networks (windows, a forecaster, its training and rollout) and to
measure gradients through time.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_choice,
    check_float,
    check_int,
)
from sciml_nn.core.mlp import sigma_tensorflow
from sciml_nn.regularization import check_float_tensor
from sciml_nn.residual_networks import train_adam_cosine


def check_rnn_arguments(
    x: np.ndarray | tf.Tensor,
    W: np.ndarray | tf.Tensor,
    U: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return the inputs ``x`` (batch, time, features) and weights ``W``
    (features, units), ``U`` (units, units), ``b`` (units,) of
    :math:numref:`eq-rnn` as tensors of one floating-point dtype, with at least
    one time step. Reading a ``tf.Variable`` into a tensor is recorded by a
    tape, so gradients still reach the variable."""
    tensors = [
        check_float_tensor(name, value)
        for name, value in zip("xWUb", (x, W, U, b))
    ]
    for name, tensor, rank in zip("xWUb", tensors, (3, 2, 2, 1)):
        if tensor.shape.rank != rank:
            raise ValueError(
                f"{name} must have {rank} dimensions; got shape "
                f"{tuple(tensor.shape)}"
            )
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(
            "x, W, U and b must share one dtype; got "
            + ", ".join(t.dtype.name for t in tensors)
        )
    x, W, U, b = tensors
    features, units = W.shape
    if x.shape[2] != features:
        raise ValueError(
            f"x has {x.shape[2]} features but W expects {features}: "
            f"x {tuple(x.shape)}, W {tuple(W.shape)}"
        )
    if tuple(U.shape) != (units, units) or tuple(b.shape) != (units,):
        raise ValueError(
            f"U must have shape ({units}, {units}) and b shape ({units},); "
            f"got U {tuple(U.shape)}, b {tuple(b.shape)}"
        )
    if x.shape[1] is None or x.shape[1] < 1:
        raise ValueError(
            f"x needs at least one time step; got shape {tuple(x.shape)}"
        )
    return x, W, U, b


def simple_rnn(
    x: np.ndarray | tf.Tensor,
    W: np.ndarray | tf.Tensor,
    U: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor,
    activation: str = "tanh",
) -> tf.Tensor:
    """Every hidden state :math:`h_i = \\sigma(x_i W + h_{i-1} U + b)`,
    :math:`h_0 = 0`.

    ``x`` has shape (batch, time, features), ``W`` (features, units), ``U``
    (units, units) and ``b`` (units,); the result has shape (batch, time,
    units), like ``keras.layers.SimpleRNN(units, return_sequences=True)``.
    Differentiable with ``tf.GradientTape`` (backpropagation through time).
    """
    x, W, U, b = check_rnn_arguments(x, W, U, b)
    sigma = sigma_tensorflow(activation)
    h = tf.zeros((tf.shape(x)[0], U.shape[0]), dtype=x.dtype)
    states = []
    for i in range(x.shape[1]):  # the same W, U, b at every step
        h = sigma(x[:, i, :] @ W + h @ U + b)
        states.append(h)
    return tf.stack(states, axis=1)


def lorenz63(u: np.ndarray) -> np.ndarray:
    """The Lorenz-63 vector field :math:`f(u) = (10(u_2 - u_1),\\ u_1(28 - u_3)
    - u_2,\\ u_1 u_2 - \\tfrac83 u_3)`, rows of ``u`` being states
    (:math:numref:`eq-lorenz`)."""
    x, y, z = check_array("u", u, shape=("n", 3)).T
    f = np.empty((len(x), 3))  # column by column: faster than np.stack
    f[:, 0] = 10.0 * (y - x)
    f[:, 1] = x * (28.0 - z) - y
    f[:, 2] = x * y - 8.0 / 3.0 * z
    return f


def sliding_windows(
    series: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs :math:`(u_{n-w+1}, \\dots, u_n)` and targets :math:`u_{n+1}` from
    a series.

    ``series`` has shape (n_times, d), or (n_times, n_series, d) as returned by
    :func:`~sciml_nn.residual_networks.reference_solution`. Returns
    windows of shape (N, window, d) and the state right after each, shape (N,
    d), in time order (series by series).
    """
    series = np.asarray(series)
    if series.ndim == 2:
        series = series[:, None, :]
    if series.ndim != 3:
        raise ValueError(
            f"series must have shape (n_times, d) or (n_times, n, d); "
            f"got {series.shape}"
        )
    window = check_int("window", window, 1)
    n_times = series.shape[0]
    if n_times <= window:
        raise ValueError(
            f"series needs more than window = {window} times; got {n_times}"
        )
    starts = np.arange(n_times - window)
    per_series = np.swapaxes(series, 0, 1)  # (n, n_times, d)
    x = per_series[:, starts[:, None] + np.arange(window)]  # (n, N, window, d)
    y = per_series[:, starts + window]  # (n, N, d)
    return x.reshape(-1, window, series.shape[2]), y.reshape(
        -1, series.shape[2]
    )


_LAYERS = {
    "simple": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


@keras.saving.register_keras_serializable(package="sciml_nn")
class Forecaster(keras.Model):
    """Next state from a window of past states: :math:`\\hat u_{n+1} = u_n + s
    \\odot M(h_w)` (:math:numref:`eq-forecaster`), with :math:`h_w` the last
    hidden state of a recurrent layer (``kind`` "simple" for
    :math:numref:`eq-rnn`, "lstm" or "gru") run on the scaled window
    :math:`(u_i - m) / s`, and :math:`M` a dense read-out.
    """

    def __init__(
        self,
        kind: str,
        units: int,
        mean: np.ndarray,
        scale: np.ndarray,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = check_choice("kind", kind, tuple(_LAYERS))
        self.units = check_int("units", units, 1)
        self.seed = check_int("seed", seed)
        self.mean = check_array("mean", mean, ("d",), np.float32)
        self.scale = check_array("scale", scale, self.mean.shape, np.float32)
        if np.any(self.scale <= 0):
            raise ValueError(f"scale must be > 0; got {self.scale}")
        # Unrolled: for short windows a straight graph beats a while loop on
        # CPU.
        self.rnn = _LAYERS[kind](
            units,
            unroll=True,
            kernel_initializer=keras.initializers.GlorotUniform(seed),
            recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1),
        )
        self.readout = keras.layers.Dense(
            len(self.mean), kernel_initializer="zeros"
        )

    def call(self, window: tf.Tensor) -> tf.Tensor:
        h = self.rnn((window - self.mean) / self.scale)
        return window[:, -1, :] + self.scale * self.readout(h)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kind": self.kind,
            "units": self.units,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "seed": self.seed,
        }


def fit_forecaster(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 1000,
    learning_rate: float = 1e-2,
) -> np.ndarray:
    """Train ``model`` on windows ``x`` (N, w, d) and next states ``y`` (N, d)
    by full-batch Adam with a cosine-decaying step
    (:func:`~sciml_nn.residual_networks.train_adam_cosine`); returns the loss
    :math:numref:`eq-mse` at every step."""
    x = check_array("x", x, ("N", "w", "d"), np.float32)
    y = check_array("y", y, (len(x), x.shape[2]), np.float32)
    model(x[:1])  # build the weights before handing them to the step
    return train_adam_cosine(
        model, model.trainable_variables, x, y, steps, learning_rate
    )


def rollout(
    model: Callable[[tf.Tensor], tf.Tensor], history: np.ndarray, steps: int
) -> np.ndarray:
    """Forecast ``steps`` states ahead by feeding predictions back in:
    :math:`\\hat u_{n+k+1} = N(\\hat u_{n+k-w+1}, \\dots, \\hat u_{n+k})`
    (:math:numref:`eq-rollout`), for a batch of windows ``history`` (batch, w,
    d) at once.

    ``model`` maps (batch, w, d) to (batch, d) with TensorFlow operations (it
    is traced once, with all steps in one graph loop). Returns the
    forecasts, shape (batch, steps, d).
    """
    history = check_array("history", history, ("batch", "w", "d"), np.float32)
    steps = check_int("steps", steps, 1)
    expected = (history.shape[0], history.shape[2])

    @tf.function
    def run(window: tf.Tensor) -> tf.Tensor:
        # tf.range: a tf.while_loop, all steps in one graph call
        forecasts = tf.TensorArray(window.dtype, size=steps)
        for k in tf.range(steps):
            u_next = model(window)
            if tuple(u_next.shape) != expected:  # checked while tracing
                raise ValueError(
                    f"model must map (batch, w, d) to (batch, d); got "
                    f"{tuple(u_next.shape)} from {history.shape}"
                )
            forecasts = forecasts.write(k, u_next)
            window = tf.concat([window[:, 1:], u_next[:, None, :]], axis=1)
        return forecasts.stack()  # (steps, batch, d)

    return np.swapaxes(run(tf.constant(history)).numpy(), 0, 1)


def scaled_orthogonal(n: int, rho: float, seed: int = 0) -> np.ndarray:
    """:math:`U = \\rho Q` with :math:`Q` a random orthogonal :math:`n \\times
    n` matrix (QR of a Gaussian matrix), so every singular value of :math:`U^k`
    is :math:`\\rho^k`."""
    n = check_int("n", n, 1)
    rho = check_float("rho", rho, 0.0, low_open=True)
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return rho * Q * np.sign(np.diag(R))


def state_input_jacobian_norms(
    x: np.ndarray | tf.Tensor,
    W: np.ndarray | tf.Tensor,
    U: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor,
    activation: str = "tanh",
) -> np.ndarray:
    """:math:`\\|\\partial h_T / \\partial x_t\\|_F` for :math:`t = 1, \\dots,
    T`, the Jacobians of the last state of :func:`simple_rnn`
    (:math:numref:`eq-bptt-product`), by ``tf.GradientTape``; root mean square
    over the batch. Shape (T,)."""
    x, W, U, b = check_rnn_arguments(x, W, U, b)
    units = U.shape[0]
    # Row k of every Jacobian is the gradient of the k-th component of h_T:
    # stack one copy of the batch per component, so one backward pass gives all
    # rows.
    copies = tf.repeat(x, units, axis=0)
    seeds = tf.tile(tf.eye(units, dtype=x.dtype), (x.shape[0], 1))
    with tf.GradientTape() as tape:
        tape.watch(copies)
        h_T = simple_rnn(copies, W, U, b, activation)[:, -1, :]
        picked = tf.reduce_sum(h_T * seeds)
    rows = tape.gradient(picked, copies)  # (batch * units, T, features)
    squared = tf.reduce_sum(
        tf.reshape(rows**2, (x.shape[0], units, x.shape[1], -1)), (1, 3)
    )
    return np.sqrt(np.mean(np.asarray(squared), axis=0))
