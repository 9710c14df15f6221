"""The loss landscape of a network: symmetries of :math:`\\xi` and 2-D slices.

Code of the chapter *Training as regression and the loss landscape*
(``book/approximation/loss-landscape.md``); its many-seeds ensemble is in
:mod:`sciml_nn.loss_landscape_seeds`.

Training minimises :math:`J(\\xi)` of :math:numref:`eq-mse` over the parameters
:math:`\\xi` of :math:numref:`eq-xi`. This module maps hidden units onto each
other without changing the network (:math:numref:`eq-unit-symmetry`), draws
filter-normalized random directions (:math:numref:`eq-filter-normalization`, Li
et al. 2018), evaluates :math:`J` on a 2-D slice through a trained
:math:`\\xi^*` (:math:numref:`eq-loss-slice`) and measures the curvature of a
slice by central differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_int
from sciml_nn.core.mlp import (
    Params,
    check_activation,
    layer_sizes_of,
    mlp_numpy,
)
from sciml_nn.core.training import mean_squared_error


def check_unit_symmetry(
    params: Params,
    layer: int,
    permutation: Sequence[int],
    scale: Sequence[float] | None,
    activation: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the permutation and the scales :math:`c` of
    :func:`transform_hidden_units` as arrays, after checking that ``layer`` is
    a hidden layer, that ``permutation`` permutes its :math:`n_k` units, and
    that :math:`\\sigma(c_j t) = c_j \\sigma(t)` for the ``activation``:
    :math:`c_j = \\pm 1` for tanh (odd), :math:`c_j > 0` for relu (positively
    homogeneous), :math:`c_j \\ne 0` for linear, :math:`c_j = 1` otherwise."""
    check_activation(activation)
    layer_sizes = layer_sizes_of(params)
    if not 1 <= check_int("layer", layer) < len(params):
        raise ValueError(
            f"layer must be a hidden layer, 1 to {len(params) - 1}; got "
            f"{layer}"
        )
    n = layer_sizes[layer]
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
    return order, c


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
    :math:`N(x; \\xi)` unchanged when :math:`\\sigma(c\\,t) = c\\,\\sigma(t)`
    for every :math:`c_j` (:func:`check_unit_symmetry`).
    """
    order, c = check_unit_symmetry(
        params, layer, permutation, scale, activation
    )
    new = [(np.asarray(W), np.asarray(b)) for W, b in params]
    (W, b), (W_next, b_next) = new[layer - 1], new[layer]
    c = c.astype(W.dtype)
    new[layer - 1] = (W[:, order] * c, b[order] * c)
    new[layer] = (W_next[order, :] / c[:, None], b_next)
    return new


def point_on_segment(xi_a: Params, xi_b: Params, t: float) -> Params:
    """The parameters :math:`(1 - t)\\,\\xi_a + t\\,\\xi_b` on the line
    through :math:`\\xi_a` (:math:`t = 0`) and :math:`\\xi_b` (:math:`t =
    1`), layer by layer."""
    if layer_sizes_of(xi_a) != layer_sizes_of(xi_b):
        raise ValueError(
            "xi_a and xi_b must have the same layer sizes; got "
            f"{layer_sizes_of(xi_a)} and {layer_sizes_of(xi_b)}"
        )
    return [
        ((1 - t) * W_a + t * W_b, (1 - t) * b_a + t * b_b)
        for (W_a, b_a), (W_b, b_b) in zip(xi_a, xi_b)
    ]


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
    losses = []
    for s in check_array("t", t, shape=(None,), dtype=np.float32):
        N = mlp_numpy(x, point_on_segment(xi_a, xi_b, s), activation)
        losses.append(float(mean_squared_error(N, y)))
    return np.array(losses)


def check_model_weights(model: keras.Model) -> list[np.ndarray]:
    """Return ``model.get_weights()`` if ``model`` is a Keras model that has
    weights."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model must be a keras.Model; got {type(model).__name__}"
        )
    if not model.built or not model.weights:
        raise ValueError(
            "model has no weights; give it an Input or call it on data first"
        )
    return model.get_weights()


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
    weights = check_model_weights(model)
    rng = np.random.default_rng(check_int("seed", seed))
    direction = []
    for theta in weights:
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


def check_directions(
    weights: list[np.ndarray], directions: Sequence
) -> list[list[np.ndarray]]:
    """Return two directions :math:`d_1, d_2`, each a list of arrays with the
    shapes and dtypes of ``weights``."""
    if len(directions) != 2:
        raise ValueError(
            "directions must hold two directions (d1, d2); got "
            f"{len(directions)}"
        )
    checked = []
    for name, d in zip(("d1", "d2"), directions):
        shapes = [np.shape(part) for part in d]
        if shapes != [theta.shape for theta in weights]:
            raise ValueError(
                f"{name} must hold one array per weight, of shapes "
                f"{[theta.shape for theta in weights]}; got {shapes}"
            )
        checked.append(
            [np.asarray(p, theta.dtype) for theta, p in zip(weights, d)]
        )
    return checked


def check_model_data(
    model: keras.Model, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return samples ``x`` and targets ``y`` as float32 after checking their
    shapes against the model's input and output."""
    inputs = getattr(model, "inputs", None)
    n_in = inputs[0].shape[-1] if inputs else None
    x = check_array("x", x, shape=(None, n_in), dtype=np.float32)
    n_out = model(x[:1]).shape[-1]
    y = check_array("y", y, shape=(len(x), n_out), dtype=np.float32)
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

    One compiled call per row sets the weights and evaluates :math:`J` at
    every :math:`\\beta_j` of the row; the model gets :math:`\\xi^*` back
    afterwards, also when an evaluation raises.
    """
    weights = check_model_weights(model)
    d1, d2 = check_directions(weights, directions)
    alphas = check_array("alphas", alphas, shape=(None,), dtype=np.float32)
    betas = check_array("betas", betas, shape=(None,), dtype=np.float32)
    x, y = check_model_data(model, x, y)

    @tf.function
    def loss_row(alpha: tf.Tensor, betas: tf.Tensor) -> tf.Tensor:
        row = tf.TensorArray(tf.float64, size=tf.size(betas))
        for j in tf.range(tf.size(betas)):  # a graph loop, no Python
            for variable, theta, u, v in zip(model.weights, weights, d1, d2):
                variable.assign(theta + alpha * u + betas[j] * v)
            J = loss(model(x, training=False), y)
            row = row.write(j, tf.cast(J, tf.float64))
        return row.stack()

    grid = np.empty((len(alphas), len(betas)))
    try:
        for i, alpha in enumerate(alphas):
            grid[i] = loss_row(tf.constant(alpha), tf.constant(betas)).numpy()
    finally:
        model.set_weights(weights)
    return grid


def grid_step(name: str, axis: Sequence[float]) -> float:
    """The spacing :math:`h` of an increasing, equally spaced grid axis of at
    least three points."""
    axis = check_array(name, axis, shape=(None,))
    if len(axis) < 3:
        raise ValueError(f"{name} needs at least 3 points; got {len(axis)}")
    h = np.diff(axis)
    if not (h[0] > 0 and np.allclose(h, h[0], rtol=1e-5, atol=0)):
        raise ValueError(f"{name} must be increasing and equally spaced")
    return float(h[0])


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
    h_a, h_b = grid_step("alphas", alphas), grid_step("betas", betas)
    grid = check_array("grid", grid, shape=(len(alphas), len(betas)))
    centre = grid[1:-1, 1:-1]
    d_aa = (grid[2:, 1:-1] - 2 * centre + grid[:-2, 1:-1]) / h_a**2
    d_bb = (grid[1:-1, 2:] - 2 * centre + grid[1:-1, :-2]) / h_b**2
    d_ab = (grid[2:, 2:] - grid[2:, :-2] - grid[:-2, 2:] + grid[:-2, :-2]) / (
        4 * h_a * h_b
    )
    return np.stack(
        [np.stack([d_aa, d_ab], -1), np.stack([d_ab, d_bb], -1)], -2
    )
