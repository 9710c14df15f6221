"""The shared core's power iteration, against numpy.linalg.eigvalsh."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core import linalg


def symmetric_matrix(eigenvalues: list[float], seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return Q @ np.diag(eigenvalues) @ Q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_power_iteration_finds_the_dominant_eigenvalue(seed: int) -> None:
    """Against numpy's eigvalsh: the eigenvalue of largest magnitude, its eigenvector, and a
    residual that bounds the distance to an eigenvalue (Krylov-Weinstein)."""
    eigenvalues = [5.0, 2.0, -1.0, 0.5, 3.0, -2.5]
    A = symmetric_matrix(eigenvalues, seed)
    matvec = lambda v: tf.linalg.matvec(tf.constant(A), v)
    v0 = np.random.default_rng(seed + 10).normal(size=6)
    rho, v, residual = linalg.power_iteration(matvec, v0, iterations=60)
    assert rho == pytest.approx(5.0, rel=1e-12)
    top = np.linalg.eigh(A)[1][:, -1]
    assert abs(abs(float(np.dot(v.numpy(), top))) - 1.0) < 1e-10
    assert residual < 1e-8
    # few iterations: rho is still off, but within the residual of some eigenvalue
    rho, v, residual = linalg.power_iteration(matvec, v0, iterations=3)
    assert min(abs(rho - np.array(eigenvalues))) <= residual * (1 + 1e-12)
    assert np.linalg.norm(A @ v.numpy() - rho * v.numpy()) == pytest.approx(residual, rel=1e-10)
    # the error of the Rayleigh quotient falls like (3/5)^(2k)
    errors = [abs(linalg.power_iteration(matvec, v0, iterations=k)[0] - 5.0) for k in (10, 20)]
    assert errors[1] / errors[0] < 10 * (3.0 / 5.0) ** 20


def test_shifted_power_iteration_and_largest_eigenvalue() -> None:
    """With a dominant negative eigenvalue the plain iteration finds it, the shifted one and
    largest_eigenvalue find lambda_max."""
    eigenvalues = [-9.0, 4.0, 1.0, -3.0, -5.0]  # shifted by 9: ratio 10/13
    A = symmetric_matrix(eigenvalues, 7)
    matvec = lambda v: tf.linalg.matvec(tf.constant(A), v)
    v0 = np.ones(5)
    assert linalg.power_iteration(matvec, v0, 80)[0] == pytest.approx(-9.0, rel=1e-12)
    assert linalg.power_iteration(matvec, v0, 80, shift=-9.0)[0] == pytest.approx(4.0, rel=1e-10)
    top, residual = linalg.largest_eigenvalue(matvec, v0, 80)
    assert top == pytest.approx(4.0, rel=1e-10) and residual < 1e-6
    positive = symmetric_matrix([1.0, 6.0, -2.0], 3)
    top, _ = linalg.largest_eigenvalue(
        lambda v: tf.linalg.matvec(tf.constant(positive), v), np.ones(3), 80
    )
    assert top == pytest.approx(6.0, rel=1e-12)
