"""Tests of sciml_nn.adjoint: the Riesz gradient and adjoint identities against finite differences
and inner products, RK4 against the matrix exponential (order 4), the adjoint and
through-the-solver gradients against each other and against finite differences of a fine solve,
the stored-float count against its formula, and the error messages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from sciml_nn.adjoint import (
    adjoint_gradient,
    adjoint_operator,
    as_vector,
    cumulative_integral_matrix,
    gradient_through_solver,
    init_vector_field,
    observed_order,
    riesz_gradient,
    rk4_solve,
    stored_floats_per_step,
    trapezoid_weights,
    vector_field,
)

U0, TARGET, T = np.array([1.0, 0.0]), np.array([0.0, 1.0]), 2.0


def _spd(n: int, rng: np.random.Generator) -> np.ndarray:
    B = rng.normal(size=(n, n))
    return B @ B.T + n * np.eye(n)


# ---------------------------------------------------------------- inner products


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_riesz_gradient_represents_the_derivative(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M, c, v, u = _spd(n, rng), rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)

    def J(u: np.ndarray) -> float:
        return float(np.sum(np.sin(u) * c))

    g = riesz_gradient(np.cos(u) * c, M)
    directional = finite_difference_gradient(lambda s: J(u + s[0] * v), np.zeros(1))[0]
    assert g @ M @ v == pytest.approx(directional, rel=1e-7, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 5), n=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_adjoint_operator_satisfies_its_definition(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, M_in, M_out = rng.normal(size=(m, n)), _spd(n, rng), _spd(m, rng)
    lam, v = rng.normal(size=m), rng.normal(size=n)
    A_star = adjoint_operator(A, M_in, M_out)
    assert lam @ M_out @ (A @ v) == pytest.approx((A_star @ lam) @ M_in @ v, rel=1e-10)


def test_adjoint_with_euclidean_products_is_the_transpose() -> None:
    A = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(adjoint_operator(A, np.eye(3), np.eye(2)), A.T, atol=1e-14)


def test_trapezoid_rules_are_exact_for_linear_functions() -> None:
    x = np.sort(np.random.default_rng(0).uniform(0, 1, 9))
    assert trapezoid_weights(x) @ (3 * x + 1) == pytest.approx(
        1.5 * (x[-1] ** 2 - x[0] ** 2) + (x[-1] - x[0]), rel=1e-13
    )
    np.testing.assert_allclose(cumulative_integral_matrix(x) @ x, (x**2 - x[0] ** 2) / 2,
                               atol=1e-14)


def test_adjoint_of_integration_is_backward_integration() -> None:
    x = np.linspace(0, 1, 401) ** 2
    M = np.diag(trapezoid_weights(x))
    A_star = adjoint_operator(cumulative_integral_matrix(x), M, M)
    # (A* lam)(x) = int_x^1 lam ds; for lam = 1 that is 1 - x, up to the quadrature error.
    assert np.max(np.abs(A_star @ np.ones_like(x) - (1 - x))[1:-1]) < 1e-2


# ---------------------------------------------------------------- RK4


def test_rk4_matches_matrix_exponential_with_order_four() -> None:
    A = np.array([[-0.5, 2.0], [-2.0, -0.1]])
    u0 = np.array([1.0, -0.5])
    exact = expm(A * 3.0) @ u0
    steps = [8, 16, 32, 64]
    errors = [
        np.linalg.norm(rk4_solve(lambda u: tf.linalg.matvec(A, u), u0, 3.0, n).numpy() - exact)
        for n in steps
    ]
    assert errors[-1] < 1e-5
    assert observed_order(steps, errors) == pytest.approx(4.0, abs=0.15)


def test_rk4_one_step_is_the_fourth_order_taylor_polynomial() -> None:
    h, a = 0.3, -1.7  # du/dt = a u: one step multiplies by 1 + z + z^2/2 + z^3/6 + z^4/24
    z = a * h
    u1 = rk4_solve(lambda u: a * u, np.array([2.0]), h, 1).numpy()[0]
    assert u1 == pytest.approx(2.0 * (1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24), rel=1e-14)


def test_observed_order_recovers_a_power_law() -> None:
    steps = np.array([4, 8, 16, 32])
    assert observed_order(steps, 3.0 * steps**-2.5) == pytest.approx(2.5, abs=1e-12)


# ---------------------------------------------------------------- the two gradients


@pytest.fixture(scope="module")
def xi() -> list:
    return init_vector_field((2, 8, 2), seed=3)


def test_gradients_agree_with_order_four(xi: list) -> None:
    steps = [4, 8, 16, 32]
    differences = []
    for n in steps:
        J_solver, g_solver, _ = gradient_through_solver(U0, xi, T, n, TARGET)
        J_adjoint, g_adjoint, _ = adjoint_gradient(U0, xi, T, n, TARGET)
        assert float(J_solver) == pytest.approx(float(J_adjoint), rel=1e-14)
        differences.append(np.linalg.norm(as_vector(g_solver) - as_vector(g_adjoint)))
    assert observed_order(steps, differences) == pytest.approx(4.0, abs=0.25)
    assert differences[-1] < 1e-7 * np.linalg.norm(as_vector(g_solver))


def _fine_objective(xi: list, steps: int = 400) -> Callable[..., float]:
    """J(theta, u0) from a fine solve, with theta the flat parameters; the fine solve makes the
    discretisation error (~1e-11) far below the finite-difference error."""
    copy = [(tf.Variable(W), tf.Variable(b)) for W, b in xi]

    def J(theta: np.ndarray, u0: np.ndarray = U0) -> float:
        start = 0
        for v in tf.nest.flatten(copy):
            size = int(np.prod(v.shape))
            v.assign(theta[start:start + size].reshape(v.shape))
            start += size
        # Only J is used here; the graph is compiled, so the fine solve is quick.
        return float(gradient_through_solver(u0, copy, T, steps, TARGET)[0])

    return J


def test_both_gradients_match_finite_differences_of_a_fine_solve(xi: list) -> None:
    flat = as_vector(xi)
    reference = finite_difference_gradient(_fine_objective(xi), flat, h=1e-6)
    for method in (gradient_through_solver, adjoint_gradient):
        g = as_vector(method(U0, xi, T, 64, TARGET)[1])
        assert np.max(np.abs(g - reference)) < 1e-7 * np.max(np.abs(reference))


def test_lambda_0_is_the_gradient_with_respect_to_u0(xi: list) -> None:
    du0 = gradient_through_solver(U0, xi, T, 64, TARGET)[2].numpy()
    lam_0 = adjoint_gradient(U0, xi, T, 64, TARGET)[2].numpy()
    J = _fine_objective(xi)
    flat = as_vector(xi)
    reference = finite_difference_gradient(lambda u0: J(flat, u0), U0)
    np.testing.assert_allclose(du0, reference, rtol=1e-7)
    np.testing.assert_allclose(lam_0, reference, rtol=1e-7)


def test_stored_floats_per_step_follows_the_stages() -> None:
    small, large = init_vector_field((2, 16, 2)), init_vector_field((2, 32, 2))
    # Four stages, each keeping W_1 (2 x n), W_2 (n x 2) and the hidden activation (n).
    growth = stored_floats_per_step("through solver", large) - stored_floats_per_step(
        "through solver", small)
    assert growth == 4 * (2 * 16 + 16 * 2 + 16)
    assert stored_floats_per_step("adjoint", large) == 0


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem(xi: list) -> None:
    with pytest.raises(ValueError, match="steps must be a positive int; got 0"):
        gradient_through_solver(U0, xi, T, 0, TARGET)
    with pytest.raises(TypeError, match="steps must be an int; got float"):
        adjoint_gradient(U0, xi, T, 4.0, TARGET)
    with pytest.raises(ValueError, match="T must be a positive, finite time; got -1.0"):
        adjoint_gradient(U0, xi, -1.0, 4, TARGET)
    with pytest.raises(TypeError, match="T must be a real number; got str"):
        rk4_solve(lambda u: u, U0, "1", 4)
    with pytest.raises(ValueError, match=r"u0 must have shape \(2,\) to match the vector field; "
                                         r"got \(3,\)"):
        adjoint_gradient(np.zeros(3), xi, T, 4, TARGET)
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        gradient_through_solver(U0, xi, T, 4, np.zeros((1, 2)))
    with pytest.raises(TypeError, match="u0 must hold floats .*; got int64"):
        gradient_through_solver(np.array([1, 0]), xi, T, 4, TARGET)
    with pytest.raises(ValueError, match=r"f\(u0\) must have the shape of u0, \(3,\); got \(2,\)"):
        rk4_solve(lambda u: u[:2], np.zeros(3), 1.0, 4)
    with pytest.raises(TypeError, match="f must be callable"):
        rk4_solve(3.0, U0, 1.0, 4)
    with pytest.raises(ValueError, match=r"u must have shape \(2,\)"):
        vector_field(np.zeros((1, 2)), xi)
    with pytest.raises(TypeError, match="xi must be a list of"):
        adjoint_gradient(U0, [1.0], T, 4, TARGET)
    with pytest.raises(ValueError, match="first and last sizes must agree"):
        init_vector_field((2, 16, 3))
    with pytest.raises(ValueError, match="method must be one of"):
        stored_floats_per_step("forward", xi)


def test_inner_product_errors() -> None:
    with pytest.raises(ValueError, match=r"M must have shape \(3, 3\); got \(2, 2\)"):
        riesz_gradient(np.ones(3), np.eye(2))
    with pytest.raises(ValueError, match="M must be symmetric"):
        riesz_gradient(np.ones(2), np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"M_out must have shape \(2, 2\)"):
        adjoint_operator(np.ones((2, 3)), np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="x must be an increasing 1-D grid"):
        trapezoid_weights(np.array([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="steps and errors must be positive"):
        observed_order([1, 2], [1.0, 0.0])
