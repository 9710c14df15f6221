"""A ConvNet surrogate for the Poisson equation :math:`-\\Delta u = f` on the
unit square with zero boundary values: reference solutions by the sine
transform, random sources, the network and its training.

Code of the chapter *Convolutional networks*
(``book/architectures/convolutional-networks.md``), its last section; the
stencils it builds on are in :mod:`sciml_nn.convolutional_networks`.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy.fft import dst, dstn, idst, idstn

from sciml_nn.convolutional_networks import check_grid_fields
from sciml_nn.core.checks import check_array, check_float, check_int
from sciml_nn.core.data import minibatches
from sciml_nn.core.training import make_train_step


def dirichlet_laplacian_eigenvalues(n: int, h: float) -> np.ndarray:
    """The eigenvalues :math:`\\tfrac{4}{h^2}\\sin^2\\tfrac{k\\pi}{2(n+1)}`,
    :math:`k = 1, \\dots, n`, of the second difference :math:`-(u_{i+1} - 2u_i
    + u_{i-1})/h^2` on ``n`` points with :math:`u = 0` outside (the
    one-dimensional :math:numref:`eq-laplacian-5`); the sine modes
    :math:`\\sin(k\\pi i/(n+1))` are its eigenvectors."""
    n = check_int("n", n, 1)
    h = check_float("h", h, 0.0, low_open=True)
    sine = np.sin(np.arange(1, n + 1) * np.pi / (2 * (n + 1)))
    return 4 / h**2 * sine**2


def poisson_solve_1d(f: np.ndarray, h: float) -> np.ndarray:
    """Solve :math:`-(u_{i+1} - 2u_i + u_{i-1})/h^2 = f_i` with :math:`u = 0`
    outside the grid, for ``f`` (n,) or a batch (m, n): the one-dimensional
    sibling of :func:`poisson_solve` and the case :math:`a \\equiv 1` of
    :math:numref:`eq-darcy-fv`, by the sine transform (DST-I) and the
    eigenvalues :func:`dirichlet_laplacian_eigenvalues`."""
    f = check_array("f", f, shape=None)
    if f.ndim not in (1, 2):
        raise ValueError(f"f must have shape (n,) or (m, n); got {f.shape}")
    eigenvalues = dirichlet_laplacian_eigenvalues(f.shape[-1], h)
    return idst(dst(f, type=1, axis=-1) / eigenvalues, type=1, axis=-1)


def poisson_solve(f: np.ndarray, h: float) -> np.ndarray:
    """Solve the 5-point system :math:`-\\Delta_h u = f`
    (:math:numref:`eq-poisson`) with :math:`u = 0` outside the grid, for ``f``
    (ny, nx) or (n, ny, nx). The sine transform (DST-I) diagonalises
    :math:`-\\Delta_h`; its eigenvalues are sums of those of the second
    differences along y and x, :func:`dirichlet_laplacian_eigenvalues`."""
    h = check_float("h", h, 0.0, low_open=True)
    f = check_grid_fields("f", f)
    ny, nx = f.shape[-2:]
    eigenvalues = (
        dirichlet_laplacian_eigenvalues(ny, h)[:, None]
        + dirichlet_laplacian_eigenvalues(nx, h)[None, :]
    )
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
    distance2 = (X - centre[:, :, 0]) ** 2 + (Y - centre[:, :, 1]) ** 2
    f = (amplitude * np.exp(-distance2 / (2 * width**2))).sum(axis=1)
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
    f = check_array("f", f, ("n", "ny", "nx", 1), np.float32)
    u = check_array("u", u, f.shape, np.float32)
    epochs = check_int("epochs", epochs, 1)
    batches = -(-len(f) // check_int("batch_size", batch_size, 1))
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, epochs * batches
    )
    step = make_train_step(
        model, model.trainable_variables, keras.optimizers.Adam(schedule)
    )
    # One generator for all epochs: each epoch draws a new order. minibatches
    # takes (n, d) arrays: one row per field.
    rng, shape = np.random.default_rng(seed), f.shape[1:]
    losses = []
    for _ in range(epochs):
        epoch = minibatches(
            f.reshape(len(f), -1), u.reshape(len(u), -1), batch_size, rng
        )
        J = [
            float(step(*(fields.reshape(-1, *shape) for fields in batch)))
            for batch in epoch
        ]
        losses.append(np.mean(J))
    return np.array(losses)
