"""Convolutional networks as finite-difference stencils on a grid.

Code of the chapter *Convolutional networks*
(``book/architectures/convolutional-networks.md``).

A 3x3 convolution with zero padding (the book's :math:numref:`eq-conv2d`)
applies one stencil at every grid point; with the right weights it *is* the
5-point Laplacian :math:numref:`eq-laplacian-5` of a field that vanishes on the
boundary. Grid fields are arrays (ny, nx) or batches (n, ny, nx[, channels]) of
interior values; the zero boundary values are implied by the padding. The
chapter's ConvNet surrogate for the Poisson equation is in
:mod:`sciml_nn.convolutional_networks_poisson`.
"""

from __future__ import annotations

import keras
import numpy as np

from sciml_nn.core.checks import check_array, check_float, check_int
from sciml_nn.residual_networks import train_adam_cosine


def check_grid_fields(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a float64 grid field (ny, nx) or batch of fields
    (n, ny, nx)."""
    array = check_array(name, value, shape=None)
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (ny, nx) or (n, ny, nx); got "
            f"{array.shape}"
        )
    return array


def laplacian_kernel(h: float) -> np.ndarray:
    """The 3x3 kernel of the 5-point Laplacian :math:numref:`eq-laplacian-5`
    with spacing ``h``."""
    h = check_float("h", h, 0.0, low_open=True)
    return (
        np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / h**2
    )


def finite_difference_laplacian(u: np.ndarray, h: float) -> np.ndarray:
    """:math:`(u_{i+1,j} + u_{i-1,j} + u_{i,j+1} + u_{i,j-1} - 4u_{i,j})/h^2`
    (:math:numref:`eq-laplacian-5`) at every point of ``u`` (ny, nx) or (n, ny,
    nx), with the values outside the grid taken as zero (a homogeneous
    Dirichlet boundary)."""
    h = check_float("h", h, 0.0, low_open=True)
    u = check_grid_fields("u", u)
    padded = np.pad(u, [(0, 0)] * (u.ndim - 2) + [(1, 1), (1, 1)])
    return (
        padded[..., 2:, 1:-1]
        + padded[..., :-2, 1:-1]
        + padded[..., 1:-1, 2:]
        + padded[..., 1:-1, :-2]
        - 4 * u
    ) / h**2


def laplacian_conv(h: float, dtype: str = "float64") -> keras.layers.Conv2D:
    """A Keras ``Conv2D`` (one channel in and out, zero padding, no bias) whose
    kernel is the 5-point Laplacian: :math:numref:`eq-conv2d` with :math:`K`
    from :func:`laplacian_kernel`."""
    conv = keras.layers.Conv2D(
        1, 3, padding="same", use_bias=False, dtype=dtype
    )
    conv.build((None, None, None, 1))
    conv.kernel.assign(laplacian_kernel(h)[:, :, None, None])
    return conv


def conv2d_multichannel(
    x: np.ndarray, K: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """From scratch, :math:numref:`eq-conv-multichannel`:
    :math:`\\mathrm{out}[i,j,c'] = \\sum_{p,q,c} x[i+p, j+q, c]\\, K[p+r, q+r,
    c, c'] + b[c']`, summed over :math:`-r \\le p, q \\le r` with zeros outside
    the grid; ``x`` is (n, ny, nx, c_in), ``K`` is (2r+1, 2r+1, c_in, c_out)
    like a Keras kernel, ``b`` is (c_out,)."""
    x = check_array("x", x, shape=("n", "ny", "nx", "c_in"))
    K = check_array("K", K, shape=("k", "k", x.shape[3], "c_out"))
    b = check_array("b", b, shape=(K.shape[3],))
    if K.shape[0] != K.shape[1] or K.shape[0] % 2 == 0:
        raise ValueError(f"K must be k x k with k odd; got shape {K.shape}")
    r = K.shape[0] // 2
    ny, nx = x.shape[1:3]
    padded = np.pad(x, [(0, 0), (r, r), (r, r), (0, 0)])
    out = np.zeros(x.shape[:3] + (K.shape[3],)) + b
    for p in range(-r, r + 1):
        for q in range(-r, r + 1):
            shifted = padded[
                :, r + p : r + p + ny, r + q : r + q + nx, :
            ]  # x[i+p, j+q, :]
            out += shifted @ K[p + r, q + r]
    return out


def sine_fields(
    n: int, size: int, modes: int = 6, seed: int = 0
) -> np.ndarray:
    """``n`` random smooth fields (n, size, size) on the interior points
    :math:`x_i = ih`, :math:`h = 1/(\\mathrm{size}+1)`: sums :math:`\\sum_{k,l
    \\le \\mathrm{modes}} a_{kl} \\sin(k\\pi x)\\sin(l\\pi y)` with
    :math:`a_{kl} \\sim N(0, 1)/(k + l)`, zero on the boundary."""
    n, size, modes = (
        check_int("n", n, 1),
        check_int("size", size, 1),
        check_int("modes", modes, 1),
    )
    x = np.arange(1, size + 1) / (size + 1)
    k = np.arange(1, modes + 1)
    S = np.sin(np.pi * np.outer(k, x))  # S[k, i] = sin(k pi x_i)
    a = np.random.default_rng(seed).normal(size=(n, modes, modes)) / (
        k[:, None] + k[None, :]
    )
    return np.einsum("nkl,ki,lj->nij", a, S, S)


def heat_pairs(
    u0: np.ndarray, r: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs :math:`(u^n, u^{n+1})` of the explicit heat scheme
    :math:numref:`eq-heat-explicit`, :math:`u^{n+1} = u^n + r\\, h^2 \\Delta_h
    u^n` with :math:`r = \\kappa\\Delta t/h^2`, for ``steps`` steps from each
    field of ``u0`` (n, ny, nx); returned as (n * steps, ny, nx, 1). The
    scheme is stable for :math:`0 < r \\le 1/4`."""
    u = check_array("u0", u0, shape=("n", "ny", "nx"))
    r = check_float("r", r, 0.0, 0.25, low_open=True)
    before, after = [], []
    for _ in range(check_int("steps", steps, 1)):
        before.append(u)
        # h^2 Delta_h u is the stencil sum
        u = u + r * finite_difference_laplacian(u, 1.0)
        after.append(u)
    return np.concatenate(before)[..., None], np.concatenate(after)[..., None]


def check_field_pairs(
    u_now: np.ndarray, u_next: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return one-channel fields ``u_now`` (n, ny, nx, 1) and ``u_next`` of
    the same shape as float64 arrays."""
    u_now = check_array("u_now", u_now, shape=("n", "ny", "nx", 1))
    return u_now, check_array("u_next", u_next, shape=u_now.shape)


def shifted_copies(u: np.ndarray) -> np.ndarray:
    """The nine copies of the fields ``u`` (n, ny, nx, 1) shifted by
    :math:`-1 \\le p, q \\le 1` (zeros shifted in), as the columns of an
    (n ny nx, 9) matrix :math:`A`: a 3x3 convolution :math:numref:`eq-conv2d`
    with kernel :math:`K` is :math:`A\\,\\mathrm{vec}(K)`, the output for each
    unit kernel one column."""
    unit_kernels = np.eye(9).reshape(9, 3, 3, 1, 1)
    return np.stack(
        [conv2d_multichannel(u, e, np.zeros(1)).ravel() for e in unit_kernels],
        axis=1,
    )


def fit_stencil(
    u_now: np.ndarray,
    u_next: np.ndarray,
    steps: int = 800,
    learning_rate: float = 5e-2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Train one linear 3x3 ``Conv2D`` (no bias, float64) :math:`u^{n+1}
    \\approx K * u^n` by full-batch Adam in a ``tf.function`` step; returns the
    learned kernel (3, 3) and the loss :math:numref:`eq-mse` at every step."""
    x, y = check_field_pairs(u_now, u_next)
    conv = keras.layers.Conv2D(
        1,
        3,
        padding="same",
        use_bias=False,
        dtype="float64",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
    )
    conv.build(x.shape)
    losses = train_adam_cosine(
        conv, conv.trainable_variables, x, y, steps, learning_rate
    )
    return conv.kernel.numpy()[:, :, 0, 0], losses


def stencil_least_squares(u_now: np.ndarray, u_next: np.ndarray) -> np.ndarray:
    """The 3x3 kernel minimising :math:`\\|K * u^n - u^{n+1}\\|^2` in closed
    form: the output is linear in the 9 weights, each multiplying a shifted
    copy of :math:`u^n` (:func:`shifted_copies`)."""
    x, y = check_field_pairs(u_now, u_next)
    K, *_ = np.linalg.lstsq(shifted_copies(x), y.ravel(), rcond=None)
    return K.reshape(3, 3)
