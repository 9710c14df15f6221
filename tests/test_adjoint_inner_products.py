"""Tests of sciml_nn.adjoint_inner_products: the Riesz gradient against finite differences, the
adjoint against its defining identity and against backward integration, the trapezoid rules
against exact integrals, and the error messages."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.adjoint_inner_products import (
    adjoint_operator,
    cumulative_integral_matrix,
    riesz_gradient,
    trapezoid_weights,
)


def _spd(n: int, rng: np.random.Generator) -> np.ndarray:
    B = rng.normal(size=(n, n))
    return B @ B.T + n * np.eye(n)


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
    np.testing.assert_allclose(
        cumulative_integral_matrix(x) @ x, (x**2 - x[0] ** 2) / 2, atol=1e-14
    )


def test_adjoint_of_integration_is_backward_integration() -> None:
    x = np.linspace(0, 1, 401) ** 2
    M = np.diag(trapezoid_weights(x))
    A_star = adjoint_operator(cumulative_integral_matrix(x), M, M)
    # (A* lam)(x) = int_x^1 lam ds; for lam = 1 that is 1 - x, up to the quadrature error.
    assert np.max(np.abs(A_star @ np.ones_like(x) - (1 - x))[1:-1]) < 1e-2


def test_inner_product_errors() -> None:
    with pytest.raises(ValueError, match=r"M must have shape \(3, 3\); got \(2, 2\)"):
        riesz_gradient(np.ones(3), np.eye(2))
    with pytest.raises(ValueError, match="M must be symmetric"):
        riesz_gradient(np.ones(2), np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"M_out must have shape \(2, 2\)"):
        adjoint_operator(np.ones((2, 3)), np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="x must be an increasing grid .*; got 3 nodes, 1 steps"):
        trapezoid_weights(np.array([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match=r"x must have shape \(n,\); got \(2, 2\)"):
        cumulative_integral_matrix(np.eye(2))
    with pytest.raises(ValueError, match=r"partials must have shape \(n,\); got \(1, 3\)"):
        riesz_gradient(np.ones((1, 3)), np.eye(3))
    with pytest.raises(ValueError, match=r"A must have shape \(m, n\); got \(3,\)"):
        adjoint_operator(np.ones(3), np.eye(3), np.eye(3))
