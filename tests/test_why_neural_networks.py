"""Tests of the grid interpolant and the parameter-matched MLP of *Why neural networks*."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.interpolate
from hypothesis import given, settings
from hypothesis import strategies as st

import sciml_nn  # noqa: F401  (quiet TensorFlow import first)
from sciml_nn.core.data import make_dataset, minibatches, sample_unit_box
from sciml_nn.core.metrics import rms
from sciml_nn.core.mlp import init_mlp, keras_mlp, mlp_numpy, mlp_tensorflow
from sciml_nn.core.training import as_variables, make_train_step
from sciml_nn.why_neural_networks import (
    bump,
    compare_at_dimension,
    fold_scaling,
    grid_interpolant,
    grid_nodes,
    minibatch_rows,
    mlp_layer_sizes,
    multilinear_interpolate,
    points_per_axis,
    train_mlp,
)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(2, 5), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_reproduces_multilinear_functions_exactly(shape, seed):
    d = len(shape)
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=d), rng.normal(size=d), rng.normal(size=d)

    def f(x):
        return np.prod(a + b * x, axis=1, keepdims=True) + x @ c[:, None] + 0.5

    x = rng.uniform(size=(50, d))
    x[0] = 1.0  # the far corner, which falls in the last cell
    np.testing.assert_allclose(grid_interpolant(f, d, shape)(x), f(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d, m", [(1, 7), (2, 4), (3, 3), (5, 2)])
def test_equals_f_at_nodes(d, m):
    nodes = grid_nodes(d, m)
    assert nodes.shape == (m**d, d)
    np.testing.assert_allclose(grid_interpolant(bump, d, m)(nodes), bump(nodes), rtol=1e-14)


@pytest.mark.parametrize("shape", [(5,), (4, 7), (3, 5, 4), (2, 3, 2, 3)])
def test_matches_scipy_regular_grid_interpolator(shape):
    """SciPy's RegularGridInterpolator with method="linear" is multilinear interpolation."""
    rng = np.random.default_rng(len(shape))
    values = rng.normal(size=shape)
    x = rng.uniform(size=(300, len(shape)))
    x[:3] = [[0.0] * len(shape), [1.0] * len(shape), [1.0] + [0.5] * (len(shape) - 1)]
    axes = [np.linspace(0.0, 1.0, m) for m in shape]
    expected = scipy.interpolate.RegularGridInterpolator(axes, values, method="linear")(x)
    np.testing.assert_allclose(multilinear_interpolate(values, x)[:, 0], expected, rtol=1e-12)


def test_matches_numpy_interp_in_one_dimension():
    values = np.cos(3.0 * np.linspace(0.0, 1.0, 11))
    x = np.random.default_rng(1).uniform(size=(200, 1))
    expected = np.interp(x[:, 0], np.linspace(0.0, 1.0, 11), values)
    np.testing.assert_allclose(multilinear_interpolate(values, x)[:, 0], expected, rtol=1e-13)


@pytest.mark.parametrize("d", [1, 2])
def test_error_decays_like_h_squared(d):
    x = sample_unit_box(2000, d, seed=3).astype(np.float64)
    ms = [9, 17, 33, 65]
    errors = [rms(grid_interpolant(bump, d, m)(x) - bump(x)) for m in ms]
    h = 1.0 / (np.array(ms) - 1.0)
    order = np.polyfit(np.log(h), np.log(errors), 1)[0]
    assert abs(order - 2.0) < 0.2


def test_bump_closed_form():
    x = np.array([[0.3, 0.3, 0.3], [0.0, 0.0, 0.0], [1.0, 0.3, 0.3]])
    np.testing.assert_allclose(bump(x)[:, 0], [1.0, 1.0 / 1.27, 1.0 / 1.49])


@pytest.mark.parametrize(
    "d, budget, m",
    [(1, 1000, 1000), (2, 1000, 31), (3, 1000, 10), (4, 625, 5), (8, 1000, 2), (7, 2187, 3)],
)
def test_points_per_axis(d, budget, m):
    assert points_per_axis(d, budget) == m
    assert m**d <= budget < (m + 1) ** d


@pytest.mark.parametrize(
    "d, budget, depth", [(1, 1000, 2), (5, 1000, 2), (8, 500, 1), (3, 2000, 3)]
)
def test_mlp_layer_sizes_match_keras_count(d, budget, depth):
    layer_sizes = mlp_layer_sizes(d, budget, depth)
    assert len(layer_sizes) == depth + 2 and layer_sizes[0] == d and layer_sizes[-1] == 1
    assert keras_mlp(layer_sizes).count_params() <= budget
    wider = [d] + [layer_sizes[1] + 1] * depth + [1]
    assert keras_mlp(wider).count_params() > budget


def test_fold_scaling_equals_scaled_network():
    xi = init_mlp([3, 5, 5, 1], seed=2)
    x = sample_unit_box(40, 3, seed=4)
    folded = fold_scaling(xi, y_mean=0.7, y_std=0.2)
    expected = 0.2 * mlp_numpy(2.0 * x - 1.0, xi) + 0.7
    np.testing.assert_allclose(mlp_numpy(x, folded), expected, rtol=1e-5, atol=1e-6)


def test_compare_at_dimension_counts_and_errors():
    """The grid's error against SciPy's multilinear interpolant of the bump on the 14 x 14
    grid, on the same test points; the counts against Keras."""
    result = compare_at_dimension(2, budget=200, n_train=400, n_test=500, steps=300, seed=0)
    assert result.m == 14 and result.grid_parameters == 196
    assert result.mlp_parameters == keras_mlp(mlp_layer_sizes(2, 200)).count_params() <= 200
    x_test = sample_unit_box(500, 2, seed=1).astype(np.float64)
    axis = np.linspace(0.0, 1.0, 14)
    X1, X2 = np.meshgrid(axis, axis, indexing="ij")
    values = 1.0 / (1.0 + (X1 - 0.3) ** 2 + (X2 - 0.3) ** 2)
    scipy_grid = scipy.interpolate.RegularGridInterpolator((axis, axis), values)
    truth = 1.0 / (1.0 + np.sum((x_test - 0.3) ** 2, axis=1))
    expected = np.sqrt(np.mean((scipy_grid(x_test) - truth) ** 2))
    assert result.grid_error == pytest.approx(expected, rel=1e-10)
    assert result.target_std == pytest.approx(np.std(truth), rel=1e-12)
    # A short training already beats the best constant by a wide margin.
    assert result.mlp_error < 0.3 * result.target_std


def test_train_mlp_fits_a_line_on_raw_inputs():
    # The returned xi acts on raw x (scalings folded in) and beats the best constant tenfold.
    x = np.linspace(0.0, 1.0, 64)[:, None]
    y = 3.0 * x - 1.0
    xi = train_mlp(x, y, [1, 4, 1], steps=1000, batch_size=64, learning_rate=3e-2)
    assert rms(mlp_numpy(x, xi) - y) < 0.1 * np.std(y)


@pytest.mark.parametrize("n, batch_size, steps", [(10, 4, 7), (12, 4, 3), (5, 5, 4)])
def test_minibatch_rows_follow_minibatches(n, batch_size, steps):
    # The rows of each step are those that core's minibatches draws, epoch after epoch with
    # seeds seed, seed + 1, ...: the remainder batch included.
    x = np.arange(n, dtype=np.float32)[:, None]
    expected = [b[:, 0] for e in range(steps) for b, _ in minibatches(x, x, batch_size, 3 + e)]
    rows, starts, sizes = (t.numpy() for t in minibatch_rows(n, batch_size, steps, seed=3))
    assert len(starts) == len(sizes) == steps
    for k in range(steps):
        np.testing.assert_array_equal(rows[starts[k] : starts[k] + sizes[k]], expected[k])


def test_train_mlp_takes_the_steps_of_a_python_loop():
    # The graph loop of train_mlp takes the same Adam steps, bit for bit, as a Python loop
    # over make_train_step on the minibatches of the core (remainder batches included).
    x, y = make_dataset(bump, 70, 2, seed=5)
    xi = train_mlp(x, y, [2, 6, 1], steps=23, batch_size=16, seed=2)
    y_mean, y_std = float(np.mean(y)), float(np.std(y))
    variables = as_variables(init_mlp([2, 6, 1], 2))
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 23, 0.01)
    step = make_train_step(
        lambda x_batch: mlp_tensorflow(x_batch, variables, "tanh"),
        variables,
        keras.optimizers.Adam(schedule),
    )
    batches = [b for e in range(5) for b in minibatches(2 * x - 1, (y - y_mean) / y_std, 16, 2 + e)]
    for x_batch, y_batch in batches[:23]:
        step(x_batch, y_batch)
    expected = fold_scaling([(W.numpy(), b.numpy()) for W, b in variables], y_mean, y_std)
    for (W, b), (W_ref, b_ref) in zip(xi, expected):
        np.testing.assert_array_equal(W, W_ref)
        np.testing.assert_array_equal(b, b_ref)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="d must be a positive int"):
        grid_nodes(0, 3)
    with pytest.raises(ValueError, match="m must be >= 2"):
        grid_interpolant(bump, 2, 1)
    with pytest.raises(ValueError, match="m must be an int or 3 ints"):
        grid_nodes(3, [2, 3])
    with pytest.raises(TypeError, match="m must be an int"):
        grid_nodes(2, [2.5, 3])
    with pytest.raises(TypeError, match="m must be an int or a sequence of 2 ints; got float"):
        grid_nodes(2, 2.5)
    values = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(4, 3\)"):
        multilinear_interpolate(values, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        multilinear_interpolate(values, np.zeros(2))
    with pytest.raises(ValueError, match="unit box"):
        multilinear_interpolate(values, np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match="at least 2 nodes per axis"):
        multilinear_interpolate(np.zeros((3, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="budget must be >= 256"):
        points_per_axis(8, 200)
    with pytest.raises(ValueError, match="budget must be >= "):
        mlp_layer_sizes(4, 5)
    with pytest.raises(ValueError, match=r"f must map shape \(n, d\) to \(n, 1\)"):
        grid_interpolant(lambda x: x, 2, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\)"):
        bump(np.zeros(3))
    with pytest.raises(ValueError, match="x must be finite"):
        multilinear_interpolate(values, np.array([[0.5, np.nan]]))
    with pytest.raises(ValueError, match="same number of rows; got 4 and 3"):
        train_mlp(np.zeros((4, 1)), np.ones((3, 1)), [1, 2, 1], steps=1)
    with pytest.raises(ValueError, match="y must not be constant"):
        train_mlp(np.zeros((4, 1)), np.ones((4, 1)), [1, 2, 1], steps=1)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\)"):
        train_mlp(np.zeros((4, 2)), np.arange(4.0)[:, None], [1, 2, 1], steps=1)


@pytest.mark.parametrize("d, m", [(1, 5), (2, 4), (3, 3), (4, 2)])
def test_error_within_proven_bound(d, m):
    # |f - I f| <= h^2 / 8 * sum_k max|d_k^2 f|, and max|d_k^2 f| = 2 for the bump (at x = c).
    x = sample_unit_box(3000, d, seed=5).astype(np.float64)
    error = np.max(np.abs(grid_interpolant(bump, d, m)(x) - bump(x)))
    h = 1.0 / (m - 1)
    assert 0.1 * d * h**2 / 4 < error <= d * h**2 / 4


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ((0, 4, 3), ValueError, "n must be a positive int; got 0"),
        ((8, 0, 3), ValueError, "batch_size must be a positive int; got 0"),
        ((8, 4, 0), ValueError, "steps must be a positive int; got 0"),
        ((8, 4.0, 3), TypeError, "batch_size must be an int; got float"),
    ],
)
def test_minibatch_rows_rejects_bad_arguments(arguments, error, match) -> None:
    with pytest.raises(error, match=match):
        minibatch_rows(*arguments)
