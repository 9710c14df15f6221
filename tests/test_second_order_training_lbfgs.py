"""Tests of sciml_nn.second_order_training_lbfgs: L-BFGS against SciPy's L-BFGS-B on Rosenbrock's
function (SciPy's own ``rosen`` and ``rosen_der``) and on the exercise network's loss, the strong
Wolfe conditions checked outside the line search, the two-loop recursion against the dense BFGS
update of the inverse Hessian, the cubic step against the minimizer of a cubic, and the argument
checks."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import rosen, rosen_der

from sciml_nn.core.mlp import mlp_tensorflow
from sciml_nn.core.training import as_variables, mean_squared_error
from sciml_nn.second_order_training import flat_value_and_gradient, xtx_problem
from sciml_nn.second_order_training_lbfgs import (
    Trial,
    cubic_step,
    lbfgs,
    scipy_lbfgs,
    two_loop_direction,
    wolfe_line_search,
)


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    return float(rosen(x)), rosen_der(x)


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [2.0, -1.5], [0.0] * 10, [0.5] * 5])
def test_lbfgs_reaches_the_minimum_of_rosenbrock_as_scipy_does(x0):
    ours = lbfgs(rosenbrock, np.array(x0), gradient_tolerance=1e-10)
    theirs = scipy_lbfgs(rosenbrock, np.array(x0), gradient_tolerance=1e-10)
    assert ours.message == "gradient below tolerance"
    assert np.max(np.abs(rosen_der(ours.x))) <= 1e-10
    np.testing.assert_allclose(ours.x, np.ones(len(x0)), atol=1e-8)
    np.testing.assert_allclose(theirs.x, np.ones(len(x0)), atol=1e-8)
    # both end at rounding level, f ~ |x - 1|^2 < 1e-16; and ours costs about what SciPy's does
    assert ours.value < 1e-16 and theirs.fun < 1e-16
    assert ours.evaluations <= 1.25 * theirs.nfev
    assert ours.values[0] == rosen(np.array(x0)) and ours.values[-1] == ours.value
    assert len(ours.values) == ours.iterations + 1
    assert all(b < a for a, b in zip(ours.values, ours.values[1:]))  # every step decreases f


def test_lbfgs_finds_the_local_minimum_that_scipy_finds():
    """From this start both end at the other minimum of Rosenbrock's function in four variables,
    f = 3.70, where rounding stops both line searches before the gradient tolerance."""
    x0 = np.array([-1.0, 2.0, 0.5, 1.5])
    ours = lbfgs(rosenbrock, x0)
    theirs = scipy_lbfgs(rosenbrock, x0)
    assert ours.value == pytest.approx(theirs.fun, rel=1e-14) and ours.value > 3.7
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-7)
    assert np.max(np.abs(ours.gradient)) < 1e-7


def network_loss(seed: int) -> tuple:
    xi0, x, y = xtx_problem(n=64, width=8, seed=seed)
    xi = as_variables(xi0)
    return flat_value_and_gradient(lambda: mean_squared_error(mlp_tensorflow(x, xi, "tanh"), y), xi)


def test_lbfgs_on_the_network_loss_does_as_well_as_scipy():
    """Same loss, same start, same budget of 200 iterations. The loss is badly conditioned and
    neither converges, so the two paths part and the end values differ by a seed-dependent
    factor: ours must be within a factor 1.5 of SciPy's on each seed, no worse on their
    geometric mean, and far below the start."""
    ratios = []
    for seed in range(3):
        value_and_gradient, x0 = network_loss(seed)
        ours = lbfgs(value_and_gradient, x0, iterations=200)
        theirs = scipy_lbfgs(value_and_gradient, x0, iterations=200)
        assert ours.iterations == theirs.nit == 200
        assert ours.value < 1e-3 * ours.values[0]
        assert ours.value == pytest.approx(value_and_gradient(ours.x)[0], rel=1e-12)
        assert ours.evaluations <= 1.25 * theirs.nfev
        ratios.append(ours.value / theirs.fun)
    assert max(ratios) < 1.5
    assert np.prod(ratios) ** (1 / len(ratios)) <= 1.0


def test_lbfgs_converges_to_scipys_minimum_of_the_network_loss():
    """Started by 40 Levenberg-Marquardt steps close to a minimum (seed 1), both converge to the
    gradient tolerance, at the same point."""
    from sciml_nn.second_order_training import data_residuals, make_levenberg_marquardt_step

    xi0, x, y = xtx_problem(n=64, width=8, seed=1)
    xi = as_variables(xi0)

    def forward(inputs):
        return mlp_tensorflow(inputs, xi, "tanh")

    step = make_levenberg_marquardt_step(data_residuals(forward), xi)
    for _ in range(40):
        step(x, y)
    value_and_gradient, x0 = flat_value_and_gradient(lambda: mean_squared_error(forward(x), y), xi)
    ours = lbfgs(value_and_gradient, x0, iterations=1000, gradient_tolerance=1e-10)
    theirs = scipy_lbfgs(value_and_gradient, x0, iterations=1000, gradient_tolerance=1e-10)
    assert ours.message == "gradient below tolerance"
    assert theirs.success
    assert ours.value == pytest.approx(theirs.fun, rel=1e-5)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    point=st.lists(st.floats(-2, 2), min_size=2, max_size=6),
    log_step=st.floats(-4, 3),
    random_direction=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_accepted_step_satisfies_the_strong_wolfe_conditions(
    point, log_step, random_direction, seed
):
    x = np.array(point)
    value, gradient = rosenbrock(x)
    if np.linalg.norm(gradient) < 1e-8:
        return
    p = -gradient
    if random_direction:  # any descent direction
        p = np.random.default_rng(seed).normal(size=x.shape)
        p = p if p @ gradient < 0 else -p
        if p @ gradient > -1e-8 * np.linalg.norm(p) * np.linalg.norm(gradient):
            return
    c1, c2 = 1e-4, 0.9
    trial, evaluations = wolfe_line_search(
        rosenbrock, x, p, value, gradient, step=10.0**log_step, c1=c1, c2=c2, max_evaluations=60
    )
    assert trial is not None and 1 <= evaluations <= 60
    # the conditions, evaluated here with SciPy's Rosenbrock
    alpha = trial.step
    new_value, new_gradient = rosen(x + alpha * p), rosen_der(x + alpha * p)
    assert alpha > 0
    assert new_value <= value + c1 * alpha * (gradient @ p)
    assert abs(new_gradient @ p) <= c2 * abs(gradient @ p)
    assert trial.value == new_value
    np.testing.assert_array_equal(trial.gradient, new_gradient)


@settings(max_examples=40, deadline=None)
@given(
    minimizer=st.floats(-3, 3),
    other=st.floats(0.5, 3),
    a_offset=st.floats(-2, -0.3),
    b_offset=st.floats(0.3, 2),
)
def test_cubic_step_finds_the_minimizer_of_a_cubic(minimizer, other, a_offset, b_offset):
    """phi' = 3 (alpha - m)(alpha - m + other): a cubic with its local minimum at m."""
    m, q = minimizer, minimizer - other

    def phi(alpha):
        value = alpha**3 - 1.5 * (m + q) * alpha**2 + 3 * m * q * alpha
        return Trial(alpha, value, 3 * (alpha - m) * (alpha - q), np.zeros(1))

    a, b = phi(m + a_offset * other / 2), phi(m + b_offset * other / 2)
    step = cubic_step(a, b)
    low, high = sorted((a.step, b.step))
    if low + 0.1 * (high - low) <= m <= high - 0.1 * (high - low):
        assert step == pytest.approx(m, abs=1e-9 * (1 + abs(m)))
    else:  # kept 10% away from the ends
        assert low + 0.1 * (high - low) - 1e-12 <= step <= high - 0.1 * (high - low) + 1e-12


def test_two_loop_direction_is_the_dense_bfgs_inverse_update():
    """H_{k+1} = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T from H_0 = gamma I (Nocedal and
    Wright eq. 6.17, 7.20), applied to g with the matrices formed."""
    rng = np.random.default_rng(7)
    n = 6
    A = rng.normal(size=(n, n))
    A = A @ A.T + n * np.eye(n)  # a positive definite Hessian: s^T y > 0
    pairs = deque()
    for _ in range(4):
        s = rng.normal(size=n)
        pairs.append((s, A @ s))
    g = rng.normal(size=n)
    s_new, y_new = pairs[-1]
    H = (s_new @ y_new) / (y_new @ y_new) * np.eye(n)
    for s, y in pairs:
        rho = 1 / (y @ s)
        H = (np.eye(n) - rho * np.outer(s, y)) @ H @ (np.eye(n) - rho * np.outer(y, s))
        H += rho * np.outer(s, s)
    np.testing.assert_allclose(two_loop_direction(g, pairs), -H @ g, rtol=1e-10)
    np.testing.assert_array_equal(two_loop_direction(g, deque()), -g)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="value_and_gradient must be callable; got int"):
        lbfgs(3, np.zeros(2))
    with pytest.raises(ValueError, match=r"x0 must have shape \(n,\); got \(2, 2\)"):
        lbfgs(rosenbrock, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x0 must be finite"):
        lbfgs(rosenbrock, np.array([0.0, np.inf]))
    with pytest.raises(TypeError, match="x0 must be an array of float64"):
        lbfgs(rosenbrock, ["a", "b"])
    with pytest.raises(ValueError, match="memory must be a positive int; got 0"):
        lbfgs(rosenbrock, np.zeros(2), memory=0)
    with pytest.raises(TypeError, match="iterations must be an int; got float"):
        lbfgs(rosenbrock, np.zeros(2), iterations=10.0)
    with pytest.raises(ValueError, match="gradient_tolerance must be a finite number >= 0"):
        lbfgs(rosenbrock, np.zeros(2), gradient_tolerance=-1.0)
    with pytest.raises(ValueError, match=r"must return a gradient of shape \(2,\); got \(3,\)"):
        lbfgs(lambda x: (0.0, np.zeros(3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"value_and_gradient\(x0\) must be finite"):
        lbfgs(lambda x: (np.nan, np.zeros(2)), np.zeros(2))
    value, gradient = rosenbrock(np.zeros(2))
    with pytest.raises(ValueError, match="p must be a descent direction"):
        wolfe_line_search(rosenbrock, np.zeros(2), gradient, value, gradient)
    with pytest.raises(ValueError, match=r"c2 must lie in \(0.5, 1\); got 0.2"):
        wolfe_line_search(rosenbrock, np.zeros(2), -gradient, value, gradient, c1=0.5, c2=0.2)
    with pytest.raises(ValueError, match=r"p must have shape \(2,\); got \(3,\)"):
        wolfe_line_search(rosenbrock, np.zeros(2), np.ones(3), value, gradient)
    with pytest.raises(ValueError, match="step must be a finite number > 0"):
        wolfe_line_search(rosenbrock, np.zeros(2), -gradient, value, gradient, step=0.0)
    with pytest.raises(ValueError, match="memory must be a positive int; got 0"):
        scipy_lbfgs(rosenbrock, np.zeros(2), memory=0)
