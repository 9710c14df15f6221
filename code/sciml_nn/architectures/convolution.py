"""Convolutional networks as finite-difference stencils on a grid.

A 3x3 convolution with zero padding (the book's :math:numref:`eq-conv2d`)
applies one stencil at every grid point; with the right weights it *is* the
5-point Laplacian :math:numref:`eq-laplacian-5` of a field that vanishes on the
boundary. Grid fields are arrays (ny, nx) or batches (n, ny, nx[, channels]) of
interior values; the zero boundary values are implied by the padding.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from scipy.fft import dstn, idstn

from sciml_nn.checks import check_int
from sciml_nn.training import make_train_step


def _check_h(h: float) -> float:
    if not np.isscalar(h) or not np.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a positive number; got {h}")
    return float(h)


def laplacian_kernel(h: float) -> np.ndarray:
    """The 3x3 kernel of the 5-point Laplacian :math:numref:`eq-laplacian-5`
    with spacing ``h``."""
    h = _check_h(h)
    return (
        np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / h**2
    )


def finite_difference_laplacian(u: np.ndarray, h: float) -> np.ndarray:
    """:math:`(u_{i+1,j} + u_{i-1,j} + u_{i,j+1} + u_{i,j-1} - 4u_{i,j})/h^2`
    (:math:numref:`eq-laplacian-5`) at every point of ``u`` (ny, nx) or (n, ny,
    nx), with the values outside the grid taken as zero (a homogeneous
    Dirichlet boundary)."""
    h = _check_h(h)
    u = np.asarray(u, dtype=np.float64)
    if u.ndim not in (2, 3):
        raise ValueError(
            f"u must have shape (ny, nx) or (n, ny, nx); got {u.shape}"
        )
    p = np.pad(u, [(0, 0)] * (u.ndim - 2) + [(1, 1), (1, 1)])
    centre = p[..., 1:-1, 1:-1]
    return (
        p[..., 2:, 1:-1]
        + p[..., :-2, 1:-1]
        + p[..., 1:-1, 2:]
        + p[..., 1:-1, :-2]
        - 4 * centre
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
    x, K, b = (np.asarray(a, dtype=np.float64) for a in (x, K, b))
    if x.ndim != 4:
        raise ValueError(f"x must have shape (n, ny, nx, c_in); got {x.shape}")
    if K.ndim != 4 or K.shape[0] != K.shape[1] or K.shape[0] % 2 == 0:
        raise ValueError(
            f"K must have shape (k, k, c_in, c_out) with k odd; got {K.shape}"
        )
    if K.shape[2] != x.shape[3]:
        raise ValueError(
            f"K has {K.shape[2]} input channels but x has {x.shape[3]}"
        )
    if b.shape != (K.shape[3],):
        raise ValueError(f"b must have shape ({K.shape[3]},); got {b.shape}")
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
    field of ``u0`` (n, ny, nx); returned as (n * steps, ny, nx, 1)."""
    u = np.asarray(u0, dtype=np.float64)
    if u.ndim != 3:
        raise ValueError(f"u0 must have shape (n, ny, nx); got {u.shape}")
    if not 0 < r <= 0.25:
        raise ValueError(
            f"r must be in (0, 1/4] for a stable explicit scheme; got {r}"
        )
    now, nxt = [], []
    for _ in range(check_int("steps", steps, 1)):
        now.append(u)
        # h^2 Delta_h u is the stencil sum
        u = u + r * finite_difference_laplacian(u, 1.0)
        nxt.append(u)
    return np.concatenate(now)[..., None], np.concatenate(nxt)[..., None]


def _check_pairs(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 4 or x.shape[3] != 1 or x.shape != y.shape:
        raise ValueError(
            "inputs and targets must both have shape (n, ny, nx, 1); got "
            f"{x.shape} and {y.shape}"
        )
    return x, y


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
    x, y = _check_pairs(u_now, u_next)
    conv = keras.layers.Conv2D(
        1,
        3,
        padding="same",
        use_bias=False,
        dtype="float64",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
    )
    conv.build(x.shape)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, check_int("steps", steps, 1)
    )
    step = make_train_step(
        conv, [conv.kernel.value], keras.optimizers.Adam(schedule)
    )
    x, y = tf.constant(x), tf.constant(y)
    losses = np.array([float(step(x, y)) for _ in range(steps)])
    return conv.kernel.numpy()[:, :, 0, 0], losses


def stencil_least_squares(u_now: np.ndarray, u_next: np.ndarray) -> np.ndarray:
    """The 3x3 kernel minimising :math:`\\|K * u^n - u^{n+1}\\|^2` in closed
    form: the output is linear in the 9 weights, each multiplying a shifted
    copy of :math:`u^n`."""
    x, y = _check_pairs(u_now, u_next)
    columns = [
        conv2d_multichannel(
            x, np.eye(9)[k].reshape(3, 3, 1, 1), np.zeros(1)
        ).ravel()
        for k in range(9)
    ]
    K, *_ = np.linalg.lstsq(np.stack(columns, axis=1), y.ravel(), rcond=None)
    return K.reshape(3, 3)


def poisson_solve(f: np.ndarray, h: float) -> np.ndarray:
    """Solve the 5-point system :math:`-\\Delta_h u = f`
    (:math:numref:`eq-poisson`) with :math:`u = 0` outside the grid, for ``f``
    (ny, nx) or (n, ny, nx). The sine transform (DST-I) diagonalises
    :math:`-\\Delta_h`, with eigenvalues
    :math:`\\tfrac{4}{h^2}(\\sin^2\\tfrac{k\\pi}{2(n_y+1)} +
    \\sin^2\\tfrac{l\\pi}{2(n_x+1)})`."""
    h = _check_h(h)
    f = np.asarray(f, dtype=np.float64)
    if f.ndim not in (2, 3):
        raise ValueError(
            f"f must have shape (ny, nx) or (n, ny, nx); got {f.shape}"
        )
    ny, nx = f.shape[-2:]
    sy = np.sin(np.arange(1, ny + 1) * np.pi / (2 * (ny + 1))) ** 2
    sx = np.sin(np.arange(1, nx + 1) * np.pi / (2 * (nx + 1))) ** 2
    eigenvalues = 4 / h**2 * (sy[:, None] + sx[None, :])
    axes = (-2, -1)
    return idstn(dstn(f, type=1, axes=axes) / eigenvalues, type=1, axes=axes)


def poisson_pairs(
    n: int, size: int = 32, bumps: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random sources :math:`f` (sums of ``bumps`` Gaussian bumps of
    random sign, centre and width) on a size x size grid of the unit square,
    and the solutions :math:`u` of :math:numref:`eq-poisson`; both returned as
    (n, size, size, 1)."""
    n, size, bumps = (
        check_int("n", n, 1),
        check_int("size", size, 1),
        check_int("bumps", bumps, 1),
    )
    rng = np.random.default_rng(seed)
    x = np.arange(1, size + 1) / (size + 1)
    X, Y = np.meshgrid(x, x, indexing="ij")
    centre = rng.uniform(0.2, 0.8, size=(n, bumps, 2, 1, 1))
    width = rng.uniform(0.05, 0.15, size=(n, bumps, 1, 1))
    amplitude = rng.choice([-1.0, 1.0], size=(n, bumps, 1, 1)) * rng.uniform(
        0.5, 1, (n, bumps, 1, 1)
    )
    r2 = (X - centre[:, :, 0]) ** 2 + (Y - centre[:, :, 1]) ** 2
    f = (amplitude * np.exp(-r2 / (2 * width**2))).sum(axis=1)
    return f[..., None], poisson_solve(f, 1 / (size + 1))[..., None]


def convnet_surrogate(
    size: int = 32,
    width: int = 16,
    output_scale: float = 1.0,
    activation: str | None = None,
    seed: int = 0,
) -> keras.Model:
    """A small encoder-decoder ConvNet :math:`f \\mapsto u` for a size x size
    grid: two 3x3 layers, three stride-2 3x3 layers down to size/8, and back up
    by bilinear upsampling, each level joined with the matching encoder output
    (a U-Net) so that the receptive field spans the whole grid, as the Green's
    function of :math:numref:`eq-poisson` does. Without an ``activation`` the
    network is affine (linear but for the constant its biases add), like the
    linear solution operator it learns."""
    size, width = check_int("size", size, 8), check_int("width", width, 1)
    if size % 8:
        raise ValueError(
            f"size must be a multiple of 8 (three halvings); got {size}"
        )
    init = keras.initializers.GlorotUniform
    count = iter(range(seed, seed + 100))

    def conv(
        filters: int, strides: int = 1, last: bool = False
    ) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            activation=None if last else activation,
            kernel_initializer=init(next(count)),
        )

    f = keras.Input((size, size, 1))
    skips = [conv(width)(conv(width)(f))]
    for _ in range(3):
        skips.append(conv(2 * width, strides=2)(skips[-1]))
    # at size/8 a 3x3 layer spans the grid
    x = conv(2 * width)(conv(2 * width)(skips.pop()))
    while skips:
        x = keras.layers.UpSampling2D(interpolation="bilinear")(x)
        x = conv(width)(keras.layers.Concatenate()([x, skips.pop()]))
    u = keras.layers.Rescaling(output_scale)(conv(1, last=True)(x))
    return keras.Model(f, u)


def fit_surrogate(
    model: keras.Model,
    f: np.ndarray,
    u: np.ndarray,
    epochs: int = 40,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    seed: int = 0,
) -> np.ndarray:
    """Train ``model`` on pairs (f, u) by minibatch Adam (cosine-decaying step)
    in a ``tf.function`` step; returns the mean loss :math:numref:`eq-mse` of
    every epoch."""
    f, u = np.asarray(f, np.float32), np.asarray(u, np.float32)
    if f.ndim != 4 or f.shape != u.shape:
        raise ValueError(
            f"f and u must both have shape (n, ny, nx, 1); got {f.shape} and "
            f"{u.shape}"
        )
    epochs, batch_size = (
        check_int("epochs", epochs, 1),
        check_int("batch_size", batch_size, 1),
    )
    if len(f) % batch_size:
        raise ValueError(
            f"batch_size must divide the number of pairs {len(f)}; got "
            f"{batch_size}"
        )
    batches = len(f) // batch_size
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, epochs * batches
    )
    step = make_train_step(
        model,
        [v.value for v in model.trainable_variables],
        keras.optimizers.Adam(schedule),
    )
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(f)).reshape(batches, batch_size)
        losses.append(np.mean([float(step(f[idx], u[idx])) for idx in order]))
    return np.array(losses)


def relative_l2_errors(u_pred: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:math:`\\|\\hat u - u\\|_2 / \\|u\\|_2` for each field of a batch (n,
    ...), the relative error of :math:numref:`eq-relative-l2` taken over the
    grid points of one field."""
    u_pred, u = np.asarray(u_pred, np.float64), np.asarray(u, np.float64)
    if u_pred.shape != u.shape or u.ndim < 2:
        raise ValueError(
            f"u_pred and u must be batches of one shape; got {u_pred.shape} "
            "and "
            f"{u.shape}"
        )
    axes = tuple(range(1, u.ndim))
    return np.sqrt(
        np.sum((u_pred - u) ** 2, axis=axes) / np.sum(u**2, axis=axes)
    )
