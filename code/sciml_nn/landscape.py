"""The loss landscape of a network: symmetries of :math:`\\xi`, 2-D slices,
many seeds.

Training minimises :math:`J(\\xi)` of :math:numref:`eq-mse` over the parameters
:math:`\\xi` of :math:numref:`eq-xi`. This module (the chapter *Training as
regression and the loss landscape*) maps hidden units onto each other without
changing the network (:math:numref:`eq-unit-symmetry`), draws filter-normalized
random directions (:math:numref:`eq-filter-normalization`, Li et al. 2018),
evaluates :math:`J` on a 2-D slice through a trained :math:`\\xi^*`
(:math:numref:`eq-loss-slice`), and trains one network from many seeds at once,
as a vectorized ensemble with stacked weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int
from sciml_nn.networks import (
    Params,
    check_activation,
    check_layer_sizes,
    init_mlp,
    keras_mlp,
    mlp_numpy,
)
from sciml_nn.training import mean_squared_error


def transform_hidden_units(
    params: Params,
    layer: int,
    permutation: Sequence[int],
    scale: Sequence[float] | None = None,
    activation: str = "tanh",
) -> Params:
    """Permute and rescale the units of hidden layer ``layer`` without changing
    the network.

    With a permutation matrix :math:`P` and :math:`D = \\mathrm{diag}(c)`, this
    is :math:numref:`eq-unit-symmetry`: :math:`W_k \\to W_k P D`, :math:`b_k
    \\to b_k P D`, :math:`W_{k+1} \\to D^{-1} P^T W_{k+1}`. It leaves
    :math:`N(x; \\xi)` unchanged when :math:`\\sigma(c\\,t) = c\\,\\sigma(t)`:
    :math:`c = \\pm 1` for tanh (odd), :math:`c > 0` for relu (positively
    homogeneous), :math:`c \\ne 0` for linear, :math:`c = 1` otherwise.
    """
    check_activation(activation)
    layer = check_int("layer", layer, 1)
    if layer >= len(params):
        raise ValueError(
            f"layer must be a hidden layer, 1 to {len(params) - 1}; got "
            f"{layer}"
        )
    W, b = (np.asarray(a) for a in params[layer - 1])
    W_next, b_next = (np.asarray(a) for a in params[layer])
    n = W.shape[1]
    order = np.asarray(permutation)
    if order.shape != (n,) or sorted(order.tolist()) != list(range(n)):
        raise ValueError(
            f"permutation must be a permutation of 0..{n - 1}; got "
            f"{permutation}"
        )
    c = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
    allowed = {"tanh": np.abs(c) == 1, "relu": c > 0, "linear": c != 0}.get(
        activation, c == 1
    )
    if c.shape != (n,) or not np.all(allowed):
        raise ValueError(
            f"scale {c.tolist()} does not leave a {activation} network "
            "unchanged"
        )
    c = c.astype(W.dtype)
    new = [(np.asarray(V), np.asarray(v)) for V, v in params]
    new[layer - 1] = (W[:, order] * c, b[order] * c)
    new[layer] = (W_next[order, :] / c[:, None], b_next)
    return new


def loss_on_segment(
    x: np.ndarray,
    y: np.ndarray,
    xi_a: Params,
    xi_b: Params,
    t: Sequence[float],
    activation: str = "tanh",
) -> np.ndarray:
    """:math:`J((1 - t)\\,\\xi_a + t\\,\\xi_b)` of :math:numref:`eq-mse` for
    each ``t``.

    A convex :math:`J` would stay below the chord :math:`(1 - t) J(\\xi_a) + t
    J(\\xi_b)` for :math:`0 \\le t \\le 1`; two minima of equal loss would
    bound a flat or lower segment.
    """
    if len(xi_a) != len(xi_b) or any(
        np.shape(A) != np.shape(B)
        for pa, pb in zip(xi_a, xi_b)
        for A, B in zip(pa, pb)
    ):
        raise ValueError("xi_a and xi_b must have the same layer shapes")
    t = _check_1d("t", t)
    losses = []
    for s in t:
        xi = [
            ((1 - s) * Wa + s * Wb, (1 - s) * ba + s * bb)
            for (Wa, ba), (Wb, bb) in zip(xi_a, xi_b)
        ]
        losses.append(
            float(mean_squared_error(mlp_numpy(x, xi, activation), y))
        )
    return np.array(losses)


def _check_model(model: keras.Model) -> list[np.ndarray]:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model must be a keras.Model; got {type(model).__name__}"
        )
    if not model.built or not model.weights:
        raise ValueError(
            "model has no weights; give it an Input or call it on data first"
        )
    return model.get_weights()


def _check_1d(name: str, values: Sequence[float]) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array; got shape {values.shape}"
        )
    return values


def random_direction(model: keras.Model, seed: int = 0) -> list[np.ndarray]:
    """A filter-normalized Gaussian direction :math:`d` in the space of
    ``model.get_weights()``.

    Each filter :math:`j` of a kernel (for a ``Dense`` kernel of shape ``(n_in,
    n_out)``, the column of output unit :math:`j`; in general the slice along
    the last axis) is rescaled as in :math:numref:`eq-filter-normalization`,
    :math:`d_j \\leftarrow d_j \\|\\theta_j\\| / \\|d_j\\|`, so a step along
    :math:`d` changes every unit by the same fraction of its own weights.
    Biases (1-D weights) get zero directions, as in Li et al.: a bias is one
    number per filter, so normalizing it would only copy :math:`|b_j|` with a
    random sign; the slice moves the kernels.
    """
    xi = _check_model(model)
    rng = np.random.default_rng(seed)
    direction = []
    for theta in xi:
        if theta.ndim < 2:
            direction.append(np.zeros_like(theta))
            continue
        d = rng.standard_normal(theta.shape)
        axes = tuple(range(theta.ndim - 1))
        norm_theta = np.sqrt(
            np.sum(np.square(theta, dtype=np.float64), axis=axes)
        )
        norm_d = np.sqrt(np.sum(d * d, axis=axes))
        direction.append((d * (norm_theta / norm_d)).astype(theta.dtype))
    return direction


def _check_directions(
    xi: list[np.ndarray], directions: Sequence
) -> list[list[np.ndarray]]:
    if len(directions) != 2:
        raise ValueError(
            "directions must hold two directions (d1, d2); got "
            f"{len(directions)}"
        )
    checked = []
    for name, d in zip(("d1", "d2"), directions):
        if len(d) != len(xi):
            raise ValueError(
                f"{name} must hold {len(xi)} arrays, one per weight; got "
                f"{len(d)}"
            )
        for theta, part in zip(xi, d):
            if np.shape(part) != theta.shape:
                raise ValueError(
                    f"{name} arrays must have the weights' shapes "
                    f"{[w.shape for w in xi]}; "
                    f"got {[np.shape(p) for p in d]}"
                )
        checked.append(
            [np.asarray(p, dtype=theta.dtype) for theta, p in zip(xi, d)]
        )
    return checked


def _check_data(
    model: keras.Model, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, ...]:
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    n_in = (
        model.inputs[0].shape[-1]
        if getattr(model, "inputs", None)
        else x.shape[-1]
    )
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (n, {n_in}); got {x.shape}")
    n_out = model(x[:1]).shape[-1]
    if y.shape != (x.shape[0], n_out):
        raise ValueError(
            f"y must have shape ({x.shape[0]}, {n_out}); got {y.shape}"
        )
    return x, y


def loss_grid(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    directions: Sequence,
    alphas: Sequence[float],
    betas: Sequence[float],
    loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] = mean_squared_error,
) -> np.ndarray:
    """The slice :math:numref:`eq-loss-slice`: ``grid[i, j]`` = :math:`J(\\xi^*
    + \\alpha_i d_1 + \\beta_j d_2)`, with :math:`\\xi^*` the model's weights
    and :math:`J` = ``loss(model(x), y)``, by default the mean squared error
    :math:numref:`eq-mse`.

    One compiled function sets the weights and evaluates :math:`J` per grid
    point; the model gets :math:`\\xi^*` back afterwards, also when an
    evaluation raises.
    """
    xi = _check_model(model)
    d1, d2 = _check_directions(xi, directions)
    alphas, betas = _check_1d("alphas", alphas), _check_1d("betas", betas)
    x, y = _check_data(model, x, y)

    @tf.function
    def loss_at(alpha: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        for variable, theta, u, v in zip(model.weights, xi, d1, d2):
            variable.assign(theta + alpha * u + beta * v)
        return loss(model(x, training=False), y)

    grid = np.empty((len(alphas), len(betas)))
    try:
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                grid[i, j] = float(
                    loss_at(tf.constant(alpha), tf.constant(beta))
                )
    finally:
        model.set_weights(xi)
    return grid


def slice_hessians(
    grid: np.ndarray, alphas: Sequence[float], betas: Sequence[float]
) -> np.ndarray:
    """Central-difference Hessians of a slice :math:numref:`eq-loss-slice` at
    the interior points of its grid, shape ``(len(alphas) - 2, len(betas) -
    2, 2, 2)``.

    With spacings :math:`h_\\alpha`, :math:`h_\\beta` of the (uniform) grid,
    :math:`\\partial_{\\alpha\\alpha} \\phi \\approx (\\phi_{i+1,j} - 2
    \\phi_{i,j} + \\phi_{i-1,j}) / h_\\alpha^2`, likewise in :math:`\\beta`,
    and :math:`\\partial_{\\alpha\\beta} \\phi \\approx (\\phi_{i+1,j+1} -
    \\phi_{i+1,j-1} - \\phi_{i-1,j+1} + \\phi_{i-1,j-1}) / (4 h_\\alpha
    h_\\beta)`: exact for quadratics, error :math:`O(h^2)` for smooth
    :math:`\\phi`. A convex, twice differentiable :math:`\\phi` has positive
    semidefinite Hessians everywhere; a negative eigenvalue of a difference
    Hessian, larger than its :math:`O(h^2)` error, shows that :math:`\\phi` is
    not convex there.
    """
    grid = np.asarray(grid, dtype=np.float64)
    steps = []
    for name, axis in (("alphas", alphas), ("betas", betas)):
        axis = np.asarray(axis, dtype=np.float64)
        if axis.ndim != 1 or axis.size < 3:
            raise ValueError(f"{name} must be 1-D with at least 3 points")
        h = np.diff(axis)
        if not (h[0] > 0 and np.allclose(h, h[0], rtol=1e-5, atol=0)):
            raise ValueError(f"{name} must be increasing and equally spaced")
        steps.append(h[0])
    if grid.shape != (len(alphas), len(betas)):
        raise ValueError(
            f"grid must have shape ({len(alphas)}, {len(betas)}); got "
            f"{grid.shape}"
        )
    h_a, h_b = steps
    centre = grid[1:-1, 1:-1]
    d_aa = (grid[2:, 1:-1] - 2 * centre + grid[:-2, 1:-1]) / h_a**2
    d_bb = (grid[1:-1, 2:] - 2 * centre + grid[1:-1, :-2]) / h_b**2
    d_ab = (grid[2:, 2:] - grid[2:, :-2] - grid[:-2, 2:] + grid[:-2, :-2]) / (
        4 * h_a * h_b
    )
    return np.stack(
        [np.stack([d_aa, d_ab], -1), np.stack([d_ab, d_bb], -1)], -2
    )


def init_ensemble(layer_sizes: Sequence[int], seeds: Sequence[int]) -> Params:
    """Stack the weights :func:`~sciml_nn.networks.init_mlp` draws for each
    seed.

    Layer :math:`k` becomes :math:`W_k` of shape ``(S, n_{k-1}, n_k)`` and
    :math:`b_k` of shape ``(S, n_k)``, ``S = len(seeds)``: member :math:`s` is
    the network seed ``seeds[s]`` gives.
    """
    seeds = [check_int("seed", s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    members = [init_mlp(layer_sizes, s) for s in seeds]
    return [
        (
            np.stack([m[k][0] for m in members]),
            np.stack([m[k][1] for m in members]),
        )
        for k in range(len(members[0]))
    ]


def ensemble_forward(
    x: tf.Tensor, params: Params, activation: str = "tanh"
) -> tf.Tensor:
    """All members of the network :math:numref:`eq-mlp` at once: ``(n, n_0)``
    to ``(S, n, n_L)``.

    Member :math:`s` computes :math:`x_k = \\sigma(x_{k-1} W_k[s] + b_k[s])` as
    one batched matmul.
    """
    sigma = keras.activations.get(check_activation(activation))
    h = tf.convert_to_tensor(x)[
        None
    ]  # one copy of the data broadcasts to all members
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        h = sigma(tf.matmul(h, W) + b[:, None, :])
    return tf.matmul(h, W_out) + b_out[:, None, :]


def member_losses(
    x: tf.Tensor, y: tf.Tensor, params: Params, activation: str
) -> tf.Tensor:
    """:math:numref:`eq-mse` of each member, shape ``(S,)``."""
    return tf.reduce_mean(
        tf.square(ensemble_forward(x, params, activation) - y), axis=(1, 2)
    )


def train_seeds(
    layer_sizes: Sequence[int],
    x: np.ndarray,
    y: np.ndarray,
    seeds: Sequence[int],
    steps: int,
    learning_rate: float
    | keras.optimizers.schedules.LearningRateSchedule = 1e-2,
    activation: str = "tanh",
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    records: int = 20,
) -> dict[str, np.ndarray | Params]:
    """Train one network per seed with full-batch Adam, all seeds as one
    vectorized ensemble.

    The sum of the members' losses :math:numref:`eq-mse` has, for member
    :math:`s`, the gradient of its own loss, and Adam works entry by entry, so
    each member takes exactly the steps it would take alone. Returns the final
    ``train_loss`` and ``test_loss`` (shape ``(S,)``), ``history`` (the
    training losses after each of ``records`` equal stretches of steps, shape
    ``(records, S)``) and the trained ``params``.
    """
    sizes, steps = check_layer_sizes(layer_sizes), check_int("steps", steps, 1)
    records = check_int("records", records, 1)
    x, y = _check_xy(sizes, x, y)
    xi = [
        (tf.Variable(W), tf.Variable(b))
        for W, b in init_ensemble(sizes, seeds)
    ]
    variables = tf.nest.flatten(xi)
    optimizer = keras.optimizers.Adam(learning_rate)
    # its moments exist before the graph loop updates them
    optimizer.build(variables)

    @tf.function
    def train(stretch: tf.Tensor) -> tf.Tensor:
        # the loop runs as one graph, no Python per step
        for _ in tf.range(stretch):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(member_losses(x, y, xi, activation))
            optimizer.apply_gradients(
                zip(tape.gradient(total, variables), variables)
            )
        return member_losses(x, y, xi, activation)

    stretches = np.diff(
        np.linspace(0, steps, min(records, steps) + 1).astype(int)
    )
    history = np.stack(
        [train(tf.constant(stretch)).numpy() for stretch in stretches]
    )
    result = {"train_loss": history[-1], "history": history}
    if x_test is not None or y_test is not None:
        x_test, y_test = _check_xy(sizes, x_test, y_test, "x_test and y_test")
        result["test_loss"] = member_losses(
            x_test, y_test, xi, activation
        ).numpy()
    result["params"] = [(W.numpy(), b.numpy()) for W, b in xi]
    return result


def _check_xy(
    sizes: list[int], x: np.ndarray, y: np.ndarray, name: str = "x and y"
) -> tuple:
    x, y = (np.asarray(a, dtype=np.float32) for a in (x, y))
    if (
        x.ndim != 2
        or x.shape[1] != sizes[0]
        or y.shape != (x.shape[0], sizes[-1])
    ):
        raise ValueError(
            f"{name} must have shapes (n, {sizes[0]}) and (n, {sizes[-1]}); "
            f"got {x.shape} and {y.shape}"
        )
    return x, y


def member(params: Params, index: int) -> Params:
    """The ``(W, b)`` pairs of member ``index`` of a stacked ensemble (see
    :func:`init_ensemble`)."""
    index = check_int("index", index, 0)
    if index >= len(params[0][0]):
        raise ValueError(
            f"index must be below the ensemble size {len(params[0][0])}; got "
            f"{index}"
        )
    return [(W[index], b[index]) for W, b in params]


def as_keras_model(
    params: Params, activation: str = "tanh"
) -> keras.Sequential:
    """A :func:`~sciml_nn.networks.keras_mlp` holding the weights ``params`` of
    one network."""
    sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
    model = keras_mlp(sizes, activation)
    model.set_weights([a for pair in params for a in pair])
    return model
