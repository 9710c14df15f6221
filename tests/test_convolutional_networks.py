"""Convolutions as stencils: Keras' Conv2D against the NumPy finite-difference Laplacian and the
from-scratch multichannel formula, the sine modes' eigenvalues, stencil recovery by least squares
and by training, and the argument checks."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.convolutional_networks import (
    conv2d_multichannel,
    finite_difference_laplacian,
    fit_stencil,
    heat_pairs,
    laplacian_conv,
    laplacian_kernel,
    shifted_copies,
    sine_fields,
    stencil_least_squares,
)

HEAT_KERNEL = np.array([[0, 0.1, 0], [0.1, 0.6, 0.1], [0, 0.1, 0]])  # delta + r * stencil, r=0.1


def test_sine_mode_is_an_eigenvector_of_the_fd_laplacian():
    n, h, k, l = 20, 1 / 21, 3, 5
    x = np.arange(1, n + 1) * h
    u = np.outer(np.sin(k * np.pi * x), np.sin(l * np.pi * x))
    eigenvalue = -4 / h**2 * (np.sin(k * np.pi * h / 2) ** 2 + np.sin(l * np.pi * h / 2) ** 2)
    np.testing.assert_allclose(finite_difference_laplacian(u, h), eigenvalue * u, atol=1e-10)


def test_laplacian_conv_equals_finite_differences():
    u = sine_fields(3, 17, modes=17, seed=1)
    h = 1 / 18
    by_conv = np.asarray(laplacian_conv(h)(u[..., None]))[..., 0]
    reference = finite_difference_laplacian(u, h)
    assert np.abs(by_conv - reference).max() <= 1e-12 * np.abs(reference).max()


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    ny=st.integers(1, 7),
    nx=st.integers(1, 7),
    k=st.sampled_from([1, 3, 5]),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_multichannel_formula_equals_conv2d(n, ny, nx, k, c_in, c_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, ny, nx, c_in))
    K, b = rng.normal(size=(k, k, c_in, c_out)), rng.normal(size=c_out)
    conv = keras.layers.Conv2D(c_out, k, padding="same", dtype="float64")
    conv.build(x.shape)
    conv.kernel.assign(K)
    conv.bias.assign(b)
    np.testing.assert_allclose(conv2d_multichannel(x, K, b), np.asarray(conv(x)), atol=1e-12)


def test_heat_pairs_follow_the_scheme():
    u0 = sine_fields(2, 6, seed=3)
    x, y = heat_pairs(u0, 0.2, 3)
    assert x.shape == y.shape == (6, 6, 6, 1)
    np.testing.assert_allclose(x[2:4], y[0:2])  # step 2 starts where step 1 ended
    i, j = 2, 3
    u = u0[0]
    expected = u[i, j] + 0.2 * (u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4 * u[i, j])
    assert y[0, i, j, 0] == pytest.approx(expected, rel=1e-14)


def test_least_squares_and_adam_recover_the_heat_kernel():
    x, y = heat_pairs(sine_fields(4, 16, modes=16, seed=2), 0.1, 2)
    K_ls = stencil_least_squares(x, y)
    assert np.linalg.norm(K_ls - HEAT_KERNEL) / np.linalg.norm(HEAT_KERNEL) < 1e-10
    K, losses = fit_stencil(x, y, steps=600)
    assert np.linalg.norm(K - HEAT_KERNEL) / np.linalg.norm(HEAT_KERNEL) < 1e-3
    assert losses[-1] < 1e-8 * losses[0]


def test_shifted_copies_times_the_kernel_is_conv2d():
    rng = np.random.default_rng(5)
    u, K = rng.normal(size=(2, 6, 5, 1)), rng.normal(size=(3, 3))
    conv = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, dtype="float64")
    conv.build(u.shape)
    conv.kernel.assign(K[:, :, None, None])
    np.testing.assert_allclose(shifted_copies(u) @ K.ravel(), np.ravel(conv(u)), atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"h must be a finite number > 0.0; got 0"):
        laplacian_kernel(0)
    with pytest.raises(ValueError, match=r"h must be a finite number > 0.0; got -1"):
        laplacian_conv(-1.0)
    with pytest.raises(
        ValueError, match=r"u must have shape \(ny, nx\) or \(n, ny, nx\); got \(4,\)"
    ):
        finite_difference_laplacian(np.zeros(4), 0.1)
    x = np.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match=r"k odd; got shape \(2, 2, 2, 1\)"):
        conv2d_multichannel(x, np.zeros((2, 2, 2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"k odd; got shape \(3, 1, 2, 1\)"):
        conv2d_multichannel(x, np.zeros((3, 1, 2, 1)), np.zeros(1))
    with pytest.raises(
        ValueError, match=r"K must have shape \(k, k, 2, c_out\); got \(3, 3, 3, 1\)"
    ):
        conv2d_multichannel(x, np.zeros((3, 3, 3, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"b must have shape \(1,\); got \(2,\)"):
        conv2d_multichannel(x, np.zeros((3, 3, 2, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"x must have shape \(n, ny, nx, c_in\)"):
        conv2d_multichannel(np.zeros((4, 4)), np.zeros((3, 3, 1, 1)), np.zeros(1))
    with pytest.raises(ValueError, match=r"r must lie in \(0.0, 0.25\]; got 0.3"):
        heat_pairs(np.zeros((1, 4, 4)), 0.3, 1)
    with pytest.raises(TypeError, match="steps must be an int; got float"):
        heat_pairs(np.zeros((1, 4, 4)), 0.1, 2.0)
    with pytest.raises(ValueError, match=r"u_next must have shape \(2, 4, 4, 1\); got"):
        fit_stencil(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 5, 1)))
    with pytest.raises(ValueError, match=r"u_now must have shape \(n, ny, nx, 1\); got"):
        stencil_least_squares(np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4, 2)))
    with pytest.raises(TypeError, match="n must be an int"):
        sine_fields(1.5, 4)
