"""Tests of sciml_nn.adjoint: RK4 against the matrix exponential (order 4), the adjoint and
through-the-solver gradients against each other and against finite differences of a fine solve,
the stored-float count against its formula, and the error messages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from scipy.linalg import expm

from sciml_nn.adjoint import (
    adjoint_gradient,
    as_vector,
    gradient_through_solver,
    init_vector_field,
    rk4_solve,
    stored_floats_per_step,
    vector_field,
)
from sciml_nn.core.metrics import fit_power_law

U0, TARGET, T = np.array([1.0, 0.0]), np.array([0.0, 1.0]), 2.0


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
    assert -fit_power_law(steps, errors)[0] == pytest.approx(4.0, abs=0.15)


def test_rk4_one_step_is_the_fourth_order_taylor_polynomial() -> None:
    h, a = 0.3, -1.7  # du/dt = a u: one step multiplies by 1 + z + z^2/2 + z^3/6 + z^4/24
    z = a * h
    u1 = rk4_solve(lambda u: a * u, np.array([2.0]), h, 1).numpy()[0]
    assert u1 == pytest.approx(2.0 * (1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24), rel=1e-14)


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
    assert -fit_power_law(steps, differences)[0] == pytest.approx(4.0, abs=0.25)
    assert differences[-1] < 1e-7 * np.linalg.norm(as_vector(g_solver))


def _fine_objective(xi: list, steps: int = 400) -> Callable[..., float]:
    """J(flat_xi, u0) from a fine solve, with flat_xi all parameters in one vector; the fine
    solve makes the discretisation error (~1e-11) far below the finite-difference error."""
    copy = [(tf.Variable(W), tf.Variable(b)) for W, b in xi]

    def J(flat_xi: np.ndarray, u0: np.ndarray = U0) -> float:
        start = 0
        for v in tf.nest.flatten(copy):
            size = int(np.prod(v.shape))
            v.assign(flat_xi[start : start + size].reshape(v.shape))
            start += size
        # Only J is used here; the graph is compiled, so the fine solve is quick.
        return float(gradient_through_solver(u0, copy, T, steps, TARGET)[0])

    return J


def test_both_gradients_match_finite_differences_of_a_fine_solve(xi: list) -> None:
    flat_xi = as_vector(xi)
    reference = finite_difference_gradient(_fine_objective(xi), flat_xi, h=1e-6)
    for method in (gradient_through_solver, adjoint_gradient):
        g = as_vector(method(U0, xi, T, 64, TARGET)[1])
        assert np.max(np.abs(g - reference)) < 1e-7 * np.max(np.abs(reference))


def test_lambda_0_is_the_gradient_with_respect_to_u0(xi: list) -> None:
    du0 = gradient_through_solver(U0, xi, T, 64, TARGET)[2].numpy()
    lam_0 = adjoint_gradient(U0, xi, T, 64, TARGET)[2].numpy()
    J = _fine_objective(xi)
    flat_xi = as_vector(xi)
    reference = finite_difference_gradient(lambda u0: J(flat_xi, u0), U0)
    np.testing.assert_allclose(du0, reference, rtol=1e-7)
    np.testing.assert_allclose(lam_0, reference, rtol=1e-7)


def test_stored_floats_per_step_follows_the_stages() -> None:
    small, large = init_vector_field((2, 16, 2)), init_vector_field((2, 32, 2))
    # Four stages, each keeping W_1 (2 x n), W_2 (n x 2) and the hidden activation (n).
    growth = stored_floats_per_step("through solver", large) - stored_floats_per_step(
        "through solver", small
    )
    assert growth == 4 * (2 * 16 + 16 * 2 + 16)
    assert stored_floats_per_step("adjoint", large) == 0


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem(xi: list) -> None:
    with pytest.raises(ValueError, match="steps must be a positive int; got 0"):
        gradient_through_solver(U0, xi, T, 0, TARGET)
    with pytest.raises(TypeError, match="steps must be an int; got float"):
        adjoint_gradient(U0, xi, T, 4.0, TARGET)
    with pytest.raises(ValueError, match=r"T must be a finite number > 0.0; got -1.0"):
        adjoint_gradient(U0, xi, -1.0, 4, TARGET)
    with pytest.raises(ValueError, match=r"T must be a finite number > 0.0; got inf"):
        gradient_through_solver(U0, xi, np.inf, 4, TARGET)
    with pytest.raises(TypeError, match="T must be a float; got str"):
        rk4_solve(lambda u: u, U0, "1", 4)
    with pytest.raises(
        ValueError,
        match=r"u0 must have shape \(2,\) to match the vector field; "
        r"got \(3,\)",
    ):
        adjoint_gradient(np.zeros(3), xi, T, 4, TARGET)
    with pytest.raises(ValueError, match=r"target must have shape \(n,\); got \(1, 2\)"):
        gradient_through_solver(U0, xi, T, 4, np.zeros((1, 2)))
    with pytest.raises(TypeError, match="u0 must have a float dtype; got int64"):
        gradient_through_solver(np.array([1, 0]), xi, T, 4, TARGET)
    with pytest.raises(ValueError, match=r"f\(u0\) must have the shape of u0, \(3,\); got \(2,\)"):
        rk4_solve(lambda u: u[:2], np.zeros(3), 1.0, 4)
    with pytest.raises(TypeError, match="f must be callable"):
        rk4_solve(3.0, U0, 1.0, 4)
    with pytest.raises(ValueError, match=r"u must have shape \(2,\)"):
        vector_field(np.zeros((1, 2)), xi)
    with pytest.raises(ValueError, match="xi must hold at least one"):
        adjoint_gradient(U0, [], T, 4, TARGET)
    with pytest.raises(ValueError, match=r"W_2 must have shape \(8, n_2\)"):
        adjoint_gradient(U0, [xi[0], (tf.zeros((3, 2), tf.float64), xi[1][1])], T, 4, TARGET)
    with pytest.raises(ValueError, match="first and last sizes must agree"):
        init_vector_field((2, 16, 3))
    with pytest.raises(ValueError, match=r"method must be one of \('through solver', 'adjoint'\)"):
        stored_floats_per_step("forward", xi)
