"""The problem family and the DeepONet: the Thomas solve against SciPy's banded solver, the sine
transform and a closed form; nested grids; the DeepONet against its formula in NumPy, saved and
loaded; the training loop against least squares; the break-even count; the argument checks."""

import math

import keras
import numpy as np
import pytest
from scipy.linalg import solve_banded

from sciml_nn.convolutional_networks_poisson import poisson_solve_1d
from sciml_nn.core.mlp import mlp_numpy, params_of
from sciml_nn.solution_operators import (
    DeepONet,
    break_even_queries,
    coefficient,
    darcy_pairs,
    darcy_solve,
    deeponet,
    fit_operator,
    operator_grid,
    random_log_coefficients,
    sensor_values,
)


def test_darcy_solve_matches_a_banded_solve():
    n = 12
    a = coefficient(random_log_coefficients(3, seed=4), operator_grid(n) + 0.5 / n)
    f = np.random.default_rng(1).normal(size=(3, n - 1))
    u = darcy_solve(a, f)
    for a_row, f_row, u_row in zip(a, f, u):
        off = -a_row[1:-1] * n**2
        bands = np.array([np.r_[0, off], (a_row[:-1] + a_row[1:]) * n**2, np.r_[off, 0]])
        np.testing.assert_allclose(u_row, solve_banded((1, 1), bands, f_row), atol=1e-14)


def test_constant_coefficient_is_the_poisson_solve_by_sine_transform():
    n = 16
    f = np.random.default_rng(2).normal(size=(2, n - 1))
    np.testing.assert_allclose(darcy_solve(np.ones((2, n)), f), poisson_solve_1d(f, 1 / n), atol=1e-14)


def test_darcy_solve_converges_at_second_order_to_the_closed_form():
    # -((1 + x) u')' = 1, u(0) = u(1) = 0: u = log(1 + x) / log 2 - x.
    errors = []
    for n in (16, 32, 64):
        x = operator_grid(n)
        u = darcy_solve((1 + x + 0.5 / n)[None, :])[0]
        exact = np.log1p(x[1:]) / np.log(2) - x[1:]
        errors.append(np.abs(u - exact).max())
    assert errors[-1] < 3e-6
    np.testing.assert_allclose(np.array(errors[:-1]) / errors[1:], 4.0, rtol=0.02)


def test_darcy_pairs_on_nested_grids():
    c = random_log_coefficients(4, seed=0)
    a, u = darcy_pairs(c, 32)
    a_fine, u_fine = darcy_pairs(c, 128)
    k = np.arange(1, 9)
    expected = np.exp((c * np.cos(k * np.pi * 0.25)).sum(axis=1))  # x_8 = 1/4
    np.testing.assert_allclose(a[:, 8], expected, rtol=1e-14)
    np.testing.assert_array_equal(a_fine[:, ::4], a)  # the same points, the same values
    np.testing.assert_array_equal(sensor_values(a_fine, 32), a)
    assert np.all(u[:, 0] == 0) and np.all(u_fine[:, 0] == 0)
    # the discretisations converge at second order: halving h divides the change by 4
    u_middle = darcy_pairs(c, 64)[1]
    change = np.abs(u_middle[:, ::2] - u).max(), np.abs(u_fine[:, ::2] - u_middle).max()
    assert change[0] / change[1] == pytest.approx(4, rel=0.15)


def test_deeponet_is_branch_dot_trunk_plus_bias(tmp_path):
    model = deeponet(8, width=6, depth=2, p=5, output_scale=0.5, seed=3)
    model.b0.assign(0.25)
    rng = np.random.default_rng(0)
    a, y = rng.normal(size=(4, 8)), rng.uniform(size=(7, 1))
    branch = mlp_numpy(a, params_of(model.branch))
    trunk = mlp_numpy(y, params_of(model.trunk))
    expected = 0.5 * (branch @ trunk.T + 0.25)
    G = np.asarray(model((a.astype(np.float32), y.astype(np.float32))))
    assert G.shape == (4, 7)
    np.testing.assert_allclose(G, expected, rtol=1e-5, atol=1e-6)
    keras.saving.save_model(model, tmp_path / "deeponet.keras")
    loaded = keras.saving.load_model(tmp_path / "deeponet.keras")
    assert isinstance(loaded, DeepONet) and loaded.output_scale == 0.5
    inputs = (a.astype(np.float32), y.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(loaded(inputs)), G)


def test_fit_operator_reaches_the_least_squares_solution():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(120, 1))
    layer = keras.layers.Dense(1, use_bias=False)
    layer.build((None, 3))
    losses = fit_operator(layer, layer.trainable_variables, x, y, 600, 30, 0.05)
    w_lstsq = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(layer.kernel), w_lstsq, atol=2e-3)
    assert losses.shape == (600,) and losses[-1] < 0.1 * losses[0]


def test_break_even_queries():
    Q = break_even_queries(10.0, 3e-4, 1e-4)
    # after Q queries the surrogate, training included, has cost as much as the solver
    assert 10.0 + Q * 1e-4 == pytest.approx(Q * 3e-4, rel=1e-12)
    assert break_even_queries(10.0, 1e-4, 3e-4) == math.inf
    assert break_even_queries(10.0, 1e-4, 1e-4) == math.inf


def test_bad_arguments():
    with pytest.raises(ValueError, match="a_half must be positive"):
        darcy_solve(np.array([[1.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="a_half must be finite"):
        darcy_solve(np.array([[1.0, np.inf, 1.0]]))
    with pytest.raises(ValueError, match=r"f must have shape \(1, 2\)"):
        darcy_solve(np.ones((1, 3)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"a must have a multiple of sensors = 3"):
        sensor_values(np.ones((2, 8)), 3)
    with pytest.raises(ValueError, match=r"x must have shape \(m,\)"):
        coefficient(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="n must be >= 2"):
        operator_grid(1)
    with pytest.raises(TypeError, match="forward must be callable"):
        fit_operator("model", [], np.ones((4, 2)), np.ones((4, 1)), 1)
    dense = keras.layers.Dense(1)
    dense.build((None, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        fit_operator(dense, dense.trainable_variables, np.ones((4, 2)), np.ones((3, 1)), 1)
    with pytest.raises(ValueError, match="branch and trunk must have the same number"):
        DeepONet(deeponet(4, p=3).branch, deeponet(4, p=5).trunk)
    with pytest.raises(ValueError, match="solver_seconds must be a finite number >= 0"):
        break_even_queries(1.0, -1.0, 1.0)
