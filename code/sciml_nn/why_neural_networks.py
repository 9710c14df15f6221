"""A grid interpolant and a small MLP at the same parameter count, in
dimensions d = 1, 2, ...

Code of the chapter *Why neural networks*
(``book/foundations/why-neural-networks.md``).

The grid side stores :math:`f` at the :math:`m^d` nodes of a uniform tensor
grid of :math:`[0, 1]^d` and interpolates multilinearly; its error is
:math:`O(h^2) = O(P^{-2/d})` for :math:`P = m^d` stored values (the book's
equation :math:numref:`eq-grid-error`). The network side trains an MLP with
about :math:`P` parameters on random samples :math:`(x_i, f(x_i))`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_int
from sciml_nn.core.data import (
    check_xy,
    evaluate_target,
    make_dataset,
    minibatches,
    sample_unit_box,
)
from sciml_nn.core.metrics import rms
from sciml_nn.core.mlp import (
    Params,
    count_parameters,
    init_mlp,
    mlp_numpy,
    mlp_tensorflow,
)
from sciml_nn.core.training import (
    as_variables,
    flat_variables,
    make_train_step,
)


def bump(x: np.ndarray) -> np.ndarray:
    """The chapter's target :math:`f(x) = 1 / (1 + \\|x - c\\|_2^2)` with
    :math:`c = (0.3, \\dots, 0.3)`.

    Smooth, radial about an off-centre point: neither a sum of 1-D functions
    nor a ridge function :math:`g(a^T x)`. Shape ``(n, d)`` to ``(n, 1)``.
    """
    x = np.asarray(x)
    check_array("x", x, shape=("n", "d"), dtype=x.dtype)
    return 1.0 / (1.0 + np.sum((x - 0.3) ** 2, axis=1, keepdims=True))


def _nodes_per_axis(d: int, m: int | Sequence[int]) -> tuple[int, ...]:
    d = check_int("d", d, 1)
    if isinstance(m, (int, np.integer)) and not isinstance(m, bool):
        return (check_int("m", m, 2),) * d
    if not isinstance(m, (Sequence, np.ndarray)):
        raise TypeError(
            f"m must be an int or a sequence of {d} ints; got "
            f"{type(m).__name__}"
        )
    shape = tuple(check_int("m", m_k, 2) for m_k in m)
    if len(shape) != d:
        raise ValueError(
            f"m must be an int or {d} ints, one per axis; got {len(shape)}"
        )
    return shape


def grid_nodes(d: int, m: int | Sequence[int]) -> np.ndarray:
    """The nodes of the uniform grid of :math:`[0, 1]^d` with ``m`` points per
    axis (an int, or one int per axis), shape ``(m**d, d)``. Row order is
    NumPy's C order, so ``f(nodes).reshape((m,) * d)`` is indexed ``[i_1, ...,
    i_d]``."""
    shape = _nodes_per_axis(d, m)
    axes = np.meshgrid(
        *[np.linspace(0.0, 1.0, m_k) for m_k in shape], indexing="ij"
    )
    return np.stack([a.ravel() for a in axes], axis=1)


def check_grid_values(values: np.ndarray) -> np.ndarray:
    """Return grid ``values`` as a float64 array of shape ``(m_1, ..., m_d)``,
    :math:`d \\ge 1`, after checking that every :math:`m_k \\ge 2`."""
    values = check_array("values", values)
    if values.ndim < 1 or min(values.shape) < 2:
        raise ValueError(
            "values must have at least 2 nodes per axis; got shape "
            f"{values.shape}"
        )
    return values


def check_unit_box_points(x: np.ndarray, d: int) -> np.ndarray:
    """Return ``x`` as a float64 array of shape ``(n, d)`` after checking that
    its rows lie in the unit box :math:`[0, 1]^d`."""
    x = check_array("x", x, shape=(None, d))
    if np.any(x < 0.0) or np.any(x > 1.0):
        raise ValueError("x must lie in the unit box [0, 1]^d")
    return x


def multilinear_interpolate(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Multilinear interpolation of grid ``values`` (shape ``(m_1, ..., m_d)``)
    at ``x`` (n, d).

    Node :math:`(i_1, \\dots, i_d)` sits at :math:`(i_1 h_1, \\dots, i_d h_d)`,
    :math:`h_k = 1/(m_k - 1)`. A point in the cell with lower corner :math:`i`
    and local coordinates :math:`t \\in [0, 1]^d` gets the weighted sum over
    the :math:`2^d` corners :math:`i + e`, :math:`e \\in \\{0, 1\\}^d`, of
    equation :math:numref:`eq-multilinear`.
    """
    values = check_grid_values(values)
    d = values.ndim
    x = check_unit_box_points(x, d)
    m = np.array(values.shape)
    s = x * (m - 1)  # position in units of h_k
    # x_k = 1 falls in the last cell
    lower = np.clip(np.floor(s).astype(int), 0, m - 2)
    t = s - lower
    # node i is entry i @ strides of the flat values (C order)
    strides = np.cumprod([1, *m[:0:-1]])[::-1]
    flat, base = values.ravel(), lower @ strides
    result = np.zeros(x.shape[0])
    for corner in itertools.product((0, 1), repeat=d):
        e = np.array(corner)
        weight = np.prod(np.where(e == 1, t, 1.0 - t), axis=1)
        result += weight * flat[base + e @ strides]
    return result[:, None]


def grid_interpolant(
    f: Callable[[np.ndarray], np.ndarray], d: int, m: int | Sequence[int]
) -> Callable[[np.ndarray], np.ndarray]:
    """Sample ``f`` at the grid nodes (``m`` per axis) and return :math:`x
    \\mapsto` their multilinear interpolant. It stores :math:`m^d` values: the
    grid's parameters."""
    shape = _nodes_per_axis(d, m)
    nodes = grid_nodes(d, shape)
    values = evaluate_target(f, nodes, np.float64).reshape(shape)
    return lambda x: multilinear_interpolate(values, x)


def points_per_axis(d: int, budget: int) -> int:
    """The largest :math:`m \\ge 2` with :math:`m^d \\le` ``budget`` (integer
    arithmetic)."""
    d = check_int("d", d, 1)
    budget = check_int("budget", budget, 2**d)
    m = 2
    while (m + 1) ** d <= budget:
        m += 1
    return m


def mlp_layer_sizes(d: int, budget: int, depth: int = 2) -> list[int]:
    """Layer sizes ``[d, w, ..., w, 1]`` (``depth`` hidden layers) with the
    largest width ``w`` whose parameter count :math:`\\sum_k (n_{k-1} + 1) n_k`
    does not exceed ``budget``."""
    d = check_int("d", d, 1)
    depth = check_int("depth", depth, 1)

    def layer_sizes(width: int) -> list[int]:
        return [d] + [width] * depth + [1]

    budget = check_int("budget", budget, count_parameters(layer_sizes(1)))
    width = 1
    while count_parameters(layer_sizes(width + 1)) <= budget:
        width += 1
    return layer_sizes(width)


def fold_scaling(xi: Params, y_mean: float, y_std: float) -> Params:
    """Fold the maps :math:`x \\mapsto 2x - 1` (inputs) and :math:`y \\mapsto
    \\bar y + s y` (outputs) into the first and last layer, so the network
    takes raw :math:`x \\in [0, 1]^d`: :math:`W_1 \\to 2 W_1`, :math:`b_1 \\to
    b_1 - \\mathbf{1}^T W_1`, :math:`W_L \\to s W_L`, :math:`b_L \\to s b_L +
    \\bar y`. The parameter count is unchanged."""
    xi = [(np.array(W), np.array(b)) for W, b in xi]
    W, b = xi[0]
    xi[0] = (2.0 * W, b - W.sum(axis=0))
    W, b = xi[-1]
    xi[-1] = (y_std * W, y_std * b + y_mean)
    return xi


def minibatch_rows(
    n: int, batch_size: int, steps: int, seed: int = 0
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The rows of the first ``steps`` minibatches of
    :func:`~sciml_nn.core.data.minibatches` over epochs reshuffled with
    ``seed``, ``seed + 1``, ...: all rows in step order, and where each
    step's rows start and how many there are."""
    n, steps = check_int("n", n, 1), check_int("steps", steps, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    index = np.arange(n)[:, None]
    epochs = (  # reshuffled with seed + epoch, as many as the steps need
        minibatches(index, index, batch_size, seed + epoch)
        for epoch in itertools.count()
    )
    batches = itertools.chain.from_iterable(epochs)
    chosen = [r[:, 0] for r, _ in itertools.islice(batches, steps)]
    sizes = np.array([len(r) for r in chosen])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return tuple(
        tf.constant(a, tf.int64)
        for a in (np.concatenate(chosen), starts, sizes)
    )


def train_mlp(
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: list[int],
    steps: int = 2000,
    batch_size: int = 500,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> Params:
    """Fit a tanh MLP :math:numref:`eq-mlp` to samples ``(x, y)``, ``x`` in
    :math:`[0, 1]^d`.

    Standard practice: it trains on inputs scaled to :math:`[-1, 1]^d` and
    outputs scaled to mean 0 and standard deviation 1, with Adam whose learning
    rate decays exponentially from ``learning_rate`` to a hundredth of it over
    ``steps`` minibatch steps (:func:`minibatch_rows`), all run in one
    ``tf.function`` call; :func:`fold_scaling` then returns :math:`\\xi`
    (``(W, b)`` NumPy pairs) of a network on raw ``x``.
    """
    steps = check_int("steps", steps, 1)
    x, y = check_xy(x, y)
    y_mean, y_std = float(np.mean(y)), float(np.std(y))
    if not y_std > 0.0:
        raise ValueError(
            "y must not be constant: its standard deviation scales the outputs"
        )
    xi = as_variables(init_mlp(layer_sizes, seed))
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, steps, 0.01
    )
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(flat_variables(xi))  # its state, before the loop
    train_step = make_train_step(
        lambda x_batch: mlp_tensorflow(x_batch, xi, "tanh"),
        xi,
        optimizer,
        use_tf_function=False,  # traced below, in the loop
    )
    rows, starts, sizes = minibatch_rows(len(x), batch_size, steps, seed)
    x, y = tf.constant(2 * x - 1), tf.constant((y - y_mean) / y_std)

    def run_steps() -> None:
        # tf.range: a tf.while_loop, all steps in one graph call
        for i in tf.range(steps):
            batch = tf.slice(rows, [starts[i]], [sizes[i]])
            train_step(tf.gather(x, batch), tf.gather(y, batch))

    # A partial is a new function per call: training several networks in a
    # row is not reported as retracing (TensorFlow counts traces per code).
    tf.function(functools.partial(run_steps))()
    return fold_scaling([(W.numpy(), b.numpy()) for W, b in xi], y_mean, y_std)


@dataclass
class Comparison:
    """RMS errors on fresh test points of the grid interpolant and the MLP at
    dimension ``d`` (and the MLP's on its training samples); ``target_std`` is
    the error of the best constant."""

    d: int
    m: int
    grid_parameters: int
    mlp_parameters: int
    grid_error: float
    mlp_error: float
    mlp_train_error: float
    target_std: float


def compare_at_dimension(
    d: int,
    budget: int = 1000,
    f: Callable[[np.ndarray], np.ndarray] = bump,
    n_train: int = 3000,
    n_test: int = 4000,
    steps: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Grid interpolant and MLP, both with at most ``budget`` parameters, on
    ``f`` in :math:`[0, 1]^d`; RMS errors on ``n_test`` fresh uniform
    points."""
    m = points_per_axis(d, budget)
    layer_sizes = mlp_layer_sizes(d, budget)
    x_train, y_train = make_dataset(f, n_train, d, seed)
    x_test = sample_unit_box(n_test, d, seed + 1).astype(np.float64)
    y_test = evaluate_target(f, x_test, np.float64)
    xi = train_mlp(x_train, y_train, layer_sizes, steps=steps, seed=seed)
    return Comparison(
        d=d,
        m=m,
        grid_parameters=m**d,
        mlp_parameters=count_parameters(layer_sizes),
        grid_error=rms(grid_interpolant(f, d, m)(x_test) - y_test),
        mlp_error=rms(mlp_numpy(x_test, xi, "tanh") - y_test),
        mlp_train_error=rms(mlp_numpy(x_train, xi, "tanh") - y_train),
        target_std=float(np.std(y_test)),
    )
