r"""Linear algebra that several chapters share: the largest eigenvalue of a
symmetric operator given only by its products with vectors.

Part of the shared core. Power iteration needs nothing but ``v -> A v``, so it
finds the sharpness :math:`\lambda_{\max}` of a loss from Hessian-vector
products without ever forming the Hessian.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from sciml_nn.core.checks import check_int, check_same_shape


def check_vector(name: str, x: Any) -> tf.Tensor:
    """``x`` as a 1-D float tensor; TypeError or ValueError naming ``name``."""
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"{name} must have a float dtype; got {x.dtype.name}")
    if x.shape.rank != 1:
        raise ValueError(f"{name} must have shape (n,); got {tuple(x.shape)}")
    return x


def power_iteration(
    matvec: Callable[[tf.Tensor], tf.Tensor],
    v0: Any,
    iterations: int = 50,
    shift: float = 0.0,
) -> tuple[float, tf.Tensor, float]:
    """The eigenvalue of largest magnitude of a symmetric matrix :math:`A`
    that is known only through ``matvec``, :math:`v \\mapsto A v`.

    Repeats :math:`v \\leftarrow (A - \\sigma I) v / \\|(A - \\sigma I)
    v\\|` from ``v0`` with the shift :math:`\\sigma` = ``shift``, using
    ``iterations`` products :math:`A v` in all. Returns the Rayleigh quotient
    :math:`\\rho = v^T A v` of the last unit vector :math:`v`, that vector,
    and the residual :math:`\\|A v - \\rho v\\|`: for a symmetric
    :math:`A`, some eigenvalue lies within the residual of :math:`\\rho`.
    The iteration converges to the eigenvalue of :math:`A` farthest from
    :math:`\\sigma` if it is unique and ``v0`` is not orthogonal to its
    eigenvector; the error of :math:`\\rho` falls like :math:`|\\mu_2 /
    \\mu_1|^{2k}`, with :math:`\\mu_1, \\mu_2` the two eigenvalues of
    :math:`A - \\sigma I` of largest magnitude.
    """
    if not callable(matvec):
        raise TypeError(
            f"matvec must be callable; got {type(matvec).__name__}"
        )
    iterations = check_int("iterations", iterations, 1)
    v = check_vector("v0", v0)
    norm = tf.norm(v)
    if float(norm) == 0.0:
        raise ValueError("v0 must not be the zero vector")
    v = v / norm
    for k in range(iterations):
        Av = tf.convert_to_tensor(matvec(v))
        check_same_shape("matvec(v)", Av, "v", v)
        rho = tf.reduce_sum(v * Av)
        if k < iterations - 1:
            w = Av - shift * v
            norm = tf.norm(w)
            if float(norm) == 0.0:  # v is an eigenvector for the shift
                break
            v = w / norm
    return float(rho), v, float(tf.norm(Av - rho * v))


def largest_eigenvalue(
    matvec: Callable[[tf.Tensor], tf.Tensor],
    v0: Any,
    iterations: int = 50,
) -> tuple[float, float]:
    """The largest eigenvalue :math:`\\lambda_{\\max}` of a symmetric
    :math:`A` by :func:`power_iteration`, and the residual bound of its error.

    The power iteration finds the eigenvalue of largest magnitude,
    :math:`\\mu`. If :math:`\\mu \\ge 0` it is :math:`\\lambda_{\\max}`;
    otherwise a second run with the shift :math:`\\sigma = \\mu` converges
    to the eigenvalue farthest from :math:`\\mu`, which is
    :math:`\\lambda_{\\max}`. Each run uses ``iterations`` products.
    """
    mu, _, residual = power_iteration(matvec, v0, iterations)
    if mu >= 0:
        return mu, residual
    top, _, residual = power_iteration(matvec, v0, iterations, shift=mu)
    return top, residual
