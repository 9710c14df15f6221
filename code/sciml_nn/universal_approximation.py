"""Universal approximation made concrete: ReLU networks whose weights come from
a construction.

Code of the chapter *Universal approximation*
(``book/approximation/universal-approximation.md``).

A one-hidden-layer ReLU network that *is* the piecewise-linear interpolant on
given knots (:math:numref:`eq-relu-interpolant`), Yarotsky's deep ReLU network
for :math:`x^2` on :math:`[0, 1]` (:math:numref:`eq-yarotsky`) and its sum of
copies for :math:`x^T x` on :math:`[0, 1]^d` (:math:numref:`eq-yarotsky-xtx`).
No weight here is trained: each is set from the formula. For contrast,
:func:`train_shallow` trains a generic one-hidden-layer network on samples,
with every step in one compiled loop (:func:`train_full_batch`). All models are
the book's :func:`~sciml_nn.core.mlp.keras_mlp`, ordinary Keras ``Dense``
layers, in float32, Keras' default, unless asked for float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_array,
    check_callable,
    check_choice,
    check_float,
    check_int,
)
from sciml_nn.core.data import check_xy, evaluate_target
from sciml_nn.core.mlp import Params, keras_mlp, layer_sizes_of
from sciml_nn.core.training import Forward, flat_variables, make_train_step

#: Units per copy in every hidden layer of Yarotsky's network (three for the
#: tent map, one carry).
UNITS_PER_COPY = 4


def check_knots(
    knots: object, values: object
) -> tuple[np.ndarray, np.ndarray]:
    """Return knots :math:`t_0 < \\dots < t_{n-1}` and values :math:`y_i` as
    float64 arrays of the same length, at least two."""
    t = check_array("knots", knots, shape=(None,))
    y = check_array("values", values, shape=(len(t),))
    if len(t) < 2:
        raise ValueError(f"knots needs at least 2 entries; got {len(t)}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(
            "knots must be strictly increasing (sorted, no duplicates)"
        )
    return t, y


def as_keras_model(
    params: Params, activation: str = "tanh", dtype: str = "float32"
) -> keras.Sequential:
    """The network :math:numref:`eq-mlp` with the weights ``params`` as a
    :func:`~sciml_nn.core.mlp.keras_mlp`: ``Dense`` layers, ``activation``
    in the hidden ones, computing in ``dtype`` (``"float32"``, Keras'
    default, or ``"float64"``)."""
    dtype = check_choice("dtype", dtype, ("float32", "float64"))
    model = keras_mlp(layer_sizes_of(params), activation, dtype=dtype)
    model.set_weights([array for pair in params for array in pair])
    return model


def relu_interpolant_weights(knots: object, values: object) -> Params:
    """The weights of :math:numref:`eq-relu-interpolant`, one hidden unit per
    knot.

    Unit :math:`i` computes :math:`\\mathrm{relu}(x - t_i)` (:math:`W_1 = 1`,
    :math:`b_1 = -t`); its output weight :math:`c_i = s_i - s_{i-1}` is the
    change of slope at :math:`t_i`, with the cell slopes :math:`s_i = (y_{i+1}
    - y_i) / (t_{i+1} - t_i)` and :math:`s_{-1} = s_{n-1} = 0`
    (:math:numref:`eq-relu-slopes`); the output bias is :math:`y_0`.
    """
    t, y = check_knots(knots, values)
    s = np.diff(y) / np.diff(t)
    # zero slope outside [t_0, t_{n-1}], like np.interp
    c = np.diff(s, prepend=0.0, append=0.0)
    return [(np.ones((1, len(t))), -t), (c[:, None], np.array([y[0]]))]


def relu_interpolant(
    knots: object, values: object, dtype: str = "float32"
) -> keras.Sequential:
    """A one-hidden-layer ReLU network equal to the piecewise-linear
    interpolant of the values.

    Input shape ``(n, 1)``; ``len(knots)`` hidden units, weights from
    :func:`relu_interpolant_weights` (:math:numref:`eq-relu-interpolant`), no
    training. It equals ``np.interp(x, knots, values)`` everywhere, constant
    continuation outside the knots included, to the rounding of ``dtype``.
    """
    return as_keras_model(
        relu_interpolant_weights(knots, values), "relu", dtype
    )


def tent(x: np.ndarray) -> np.ndarray:
    """The tent map :math:`g(x) = 2\\,\\mathrm{relu}(x) - 4\\,\\mathrm{relu}(x
    - 1/2) + 2\\,\\mathrm{relu}(x - 1)` of :math:numref:`eq-tent` (NumPy, any
    shape)."""
    x = np.asarray(x, dtype=np.float64)
    return (
        2 * np.maximum(x, 0)
        - 4 * np.maximum(x - 0.5, 0)
        + 2 * np.maximum(x - 1, 0)
    )


def sawtooth(x: np.ndarray, s: int) -> np.ndarray:
    """The sawtooth :math:`g_s = g \\circ \\dots \\circ g` (:math:`s` times,
    :math:`g_0(x) = x`)."""
    s = check_int("s", s, smallest=0)
    for _ in range(s):
        x = tent(x)
    return np.asarray(x, dtype=np.float64)


def yarotsky_bound(m: int, d: int = 1) -> float:
    """The error :math:`d \\, 2^{-2m-2}` of :math:numref:`eq-yarotsky-error`,
    attained on :math:`[0, 1]^d` where every coordinate is the midpoint of a
    cell of width :math:`2^{-m}`."""
    m, d = check_int("m", m, smallest=1), check_int("d", d, smallest=1)
    return d * 2.0 ** (-2 * m - 2)


def yarotsky_weights(m: int) -> Params:
    """The ``(W_k, b_k)`` of Yarotsky's network :math:numref:`eq-yarotsky` for
    :math:`x^2`.

    Hidden layer :math:`s` holds :math:`(a, b, c, r) = (\\mathrm{relu}(u),
    \\mathrm{relu}(u - 1/2), \\mathrm{relu}(u - 1), \\mathrm{relu}(f_{s-1}))`
    with :math:`u = g_{s-1}(x)`, so that :math:`g_s = 2a - 4b + 2c`
    (:math:numref:`eq-tent`) and :math:`f_s = r - g_s / 4^s`; the carry
    :math:`r` passes ReLU unchanged because :math:`f_{s-1} \\ge x^2 \\ge 0`.
    The output is :math:`f_m`. ``m`` hidden layers of width 4, :math:`20m - 7`
    parameters.
    """
    m = check_int("m", m, smallest=1)
    # reads g_s off the units (a, b, c, r)
    g = np.array([[2.0], [-4.0], [2.0], [0.0]])
    r = np.array([[0.0], [0.0], [0.0], [1.0]])  # reads the carry f_{s-1}
    shifts = np.array([0.0, -0.5, -1.0, 0.0])
    params = [(np.ones((1, 4)), shifts)]  # g_0 = f_0 = x
    for s in range(1, m):
        params.append((np.hstack([g, g, g, r - g / 4**s]), shifts))
    params.append((r - g / 4**m, np.zeros(1)))
    return params


def yarotsky_square(m: int) -> keras.Sequential:
    """Yarotsky's network :math:numref:`eq-yarotsky`: :math:`f_m(x) = x -
    \\sum_{s=1}^m g_s(x) / 4^s`, the interpolant of :math:`x^2` on the knots
    :math:`k / 2^m`, input ``(n, 1)``; :math:`\\sup_{[0,1]} |f_m - x^2| =
    2^{-2m-2}` (:math:numref:`eq-yarotsky-error`)."""
    return as_keras_model(yarotsky_weights(m), "relu")


def yarotsky_xtx(d: int, m: int) -> keras.Sequential:
    """:math:`x^T x` on :math:`[0, 1]^d` as :math:`d` side-by-side copies of
    Yarotsky's network.

    Each hidden kernel is block diagonal, :math:`I_d \\otimes W_k`; the output
    layer adds the :math:`d` copies, :math:numref:`eq-yarotsky-xtx`. Error at
    most :math:`d\\,2^{-2m-2}`.
    """
    d = check_int("d", d, smallest=1)
    *hidden, (W_out, b_out) = yarotsky_weights(m)
    params = [(np.kron(np.eye(d), W), np.tile(b, d)) for W, b in hidden]
    params.append((np.tile(W_out, (d, 1)), d * b_out))
    return as_keras_model(params, "relu")


def yarotsky_parameter_count(m: int, d: int = 1) -> int:
    """Stored parameters of :func:`yarotsky_xtx` (zeros of the block-diagonal
    kernels included): :math:`(d + 1) 4d + (m - 1)(4d + 1) 4d + 4d + 1`, which
    is :math:`20m - 7` for :math:`d = 1`."""
    m, d = check_int("m", m, smallest=1), check_int("d", d, smallest=1)
    w = UNITS_PER_COPY * d
    return (d + 1) * w + (m - 1) * (w + 1) * w + w + 1


def shallow_network(width: int, seed: int = 0) -> keras.Sequential:
    """A generic one-hidden-layer ReLU network
    :math:numref:`eq-one-hidden-layer`, input ``(n, 1)``.

    Hidden unit :math:`j` starts as :math:`\\mathrm{relu}(w_j (x - \\tau_j))`
    with a random sign and size :math:`|w_j| \\in [1/2, 3/2]` and its kink
    :math:`\\tau_j` uniform in :math:`[0, 1]`; the output weights are
    Glorot-uniform, as :func:`~sciml_nn.core.mlp.keras_mlp` draws them. Every
    weight is then free to train.
    """
    width = check_int("width", width, smallest=1)
    model = keras_mlp([1, width, 1], "relu", check_int("seed", seed))
    # Keras' zero biases would put every kink at x = 0; spread them over the
    # interval instead.
    rng = np.random.default_rng(seed)
    w = rng.choice([-1.0, 1.0], width) * rng.uniform(0.5, 1.5, width)
    tau = rng.uniform(0.0, 1.0, width)
    model.layers[0].set_weights([w[None, :], -w * tau])
    # the output kernel of the book's runs: Glorot-uniform drawn with ``seed``
    output = model.layers[1].kernel
    output.assign(keras.initializers.GlorotUniform(seed)(output.shape))
    return model


def train_full_batch(
    forward: Forward,
    variables: Sequence[tf.Variable],
    optimizer: keras.optimizers.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
) -> None:
    """Take ``steps`` optimizer steps on the mean squared error
    :math:numref:`eq-mse` over all of ``(x, y)``, every step the one of
    :func:`~sciml_nn.core.training.make_train_step`, all of them in one
    compiled loop."""
    steps = check_int("steps", steps, 1)
    x, y = check_xy(x, y)
    variables = flat_variables(variables)
    optimizer.build(variables)  # its state exists before the loop
    train_step = make_train_step(
        forward, variables, optimizer, use_tf_function=False
    )

    def run() -> None:
        # tf.range: a tf.while_loop, traced once for all steps
        for _ in tf.range(steps):
            train_step(x, y)

    # A partial is a new function per call, so training several networks in a
    # row is not reported as retracing (TensorFlow counts traces per code
    # object).
    tf.function(functools.partial(run))()


def train_shallow(
    f: Callable[[np.ndarray], np.ndarray],
    width: int,
    n_train: int = 256,
    steps: int = 3000,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> keras.Sequential:
    """Train :func:`shallow_network` on :math:`n` uniform samples :math:`(x_i,
    f(x_i))` in :math:`[0, 1]`: full-batch Adam on the mean squared error,
    learning rate cosine-decayed by a factor 100 over ``steps``, all steps in
    one compiled loop (:func:`train_full_batch`)."""
    f, steps = check_callable("f", f), check_int("steps", steps, 1)
    n_train = check_int("n_train", n_train, 2)
    learning_rate = check_float(
        "learning_rate", learning_rate, 0.0, low_open=True
    )
    model = shallow_network(width, seed)
    x = np.random.default_rng(seed).uniform(0.0, 1.0, (n_train, 1))
    y = evaluate_target(f, x)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, steps, alpha=1e-2
    )
    optimizer = keras.optimizers.Adam(schedule)
    train_full_batch(model, model.trainable_variables, optimizer, x, y, steps)
    return model


def max_error(
    model: keras.Model, f: Callable[[np.ndarray], np.ndarray], x: np.ndarray
) -> float:
    """:math:`\\max_j |N(x_j) - f(x_j)|` over the rows of ``x``, :math:`f` in
    float64."""
    # f sees the same (rounded) points as the model
    x = check_array("x", x, shape=(None, None), dtype=np.float32)
    N = np.asarray(model(x), dtype=np.float64)
    f_x = evaluate_target(f, x.astype(np.float64), np.float64)
    return float(np.max(np.abs(N - f_x)))
