"""Backprop beyond vectors: gradients and adjoints in inner-product spaces.

Code of the chapter *Backprop beyond vectors: the adjoint method*
(``book/differentiation/adjoint.md``), its first part; the adjoint of a Neural
ODE is in :mod:`sciml_nn.adjoint`.

The gradient of :math:`J` is the Riesz representer of its derivative in the
chosen inner product (:math:numref:`eq-riesz`), and the reverse pass applies
adjoints (:math:numref:`eq-adjoint-map`); on :math:`\\mathbb{R}^n` with a Gram
matrix :math:`M` both are one linear solve (:math:numref:`eq-gram`). The
trapezoid rule gives the Gram matrix of the :math:`L^2` inner product of grid
functions (:math:numref:`eq-weighted-inner-product`).
"""

from __future__ import annotations

import numpy as np

from sciml_nn.core.checks import check_array


def _check_gram(name: str, M: np.ndarray, n: int) -> np.ndarray:
    M = check_array(name, M, (n, n))
    if not np.allclose(M, M.T):
        raise ValueError(
            f"{name} must be symmetric, the Gram matrix of an inner product"
        )
    return M


def riesz_gradient(partials: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The gradient in the inner product :math:`\\langle a, b \\rangle_M = a^T
    M b`.

    ``partials`` holds :math:`\\partial J / \\partial u_i`, so :math:`DJ[v] =
    \\sum_i (\\partial J/\\partial u_i) v_i`; the representer :math:`g` with
    :math:`\\langle g, v \\rangle_M = DJ[v]` for every :math:`v`
    (:math:numref:`eq-riesz`) solves :math:`M g = \\partial J/\\partial u`.
    """
    partials = check_array("partials", partials, ("n",))
    M = _check_gram("M", M, partials.shape[0])
    return np.linalg.solve(M, partials)


def adjoint_operator(
    A: np.ndarray, M_in: np.ndarray, M_out: np.ndarray
) -> np.ndarray:
    """The adjoint :math:`A^* = M_{in}^{-1} A^T M_{out}` of :math:`A`
    (:math:numref:`eq-adjoint-map`).

    :math:`A` maps a space with Gram matrix ``M_in`` to one with ``M_out``, and
    :math:`A^*` is the map with :math:`\\langle \\lambda, A v \\rangle_{out} =
    \\langle A^* \\lambda, v \\rangle_{in}` for all :math:`v, \\lambda`.
    """
    A = check_array("A", A, ("m", "n"))
    M_in = _check_gram("M_in", M_in, A.shape[1])
    M_out = _check_gram("M_out", M_out, A.shape[0])
    return np.linalg.solve(M_in, A.T @ M_out)


def trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights :math:`w_i` of the trapezoid rule on nodes ``x``: :math:`\\int
    u\\,dx \\approx \\sum_i w_i u_i`, so :math:`M = \\mathrm{diag}(w)` is the
    Gram matrix of the :math:`L^2` inner product of grid functions
    (:math:numref:`eq-weighted-inner-product`)."""
    x = _check_grid(x)
    dx = np.diff(x)
    return np.concatenate([[0.0], dx]) / 2 + np.concatenate([dx, [0.0]]) / 2


def cumulative_integral_matrix(x: np.ndarray) -> np.ndarray:
    """The matrix :math:`A` of :math:`(Av)_i = \\int_{x_0}^{x_i} v\\,dx` by the
    trapezoid rule."""
    x = _check_grid(x)
    A = np.zeros((x.size, x.size))
    for i in range(1, x.size):
        A[i] = A[i - 1]
        A[i, i - 1 : i + 1] += (x[i] - x[i - 1]) / 2
    return A


def _check_grid(x: np.ndarray) -> np.ndarray:
    x = check_array("x", x, ("n",))
    if x.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError(
            "x must be an increasing grid of at least 2 nodes; got "
            f"{x.size} nodes, {np.sum(np.diff(x) <= 0)} steps <= 0"
        )
    return x
