"""The spectral convolution against NumPy's FFT and an explicit einsum, a closed form and
its symmetries; the Keras layer and the Fourier neural operator, saved and loaded and run at
other resolutions; the argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.solution_operators_fourier import (
    SpectralConvolution,
    fourier_neural_operator,
    spectral_convolution,
)


def numpy_reference(v, R):
    """The spectral convolution by np.fft.rfft / irfft and an explicit einsum."""
    n, modes = v.shape[1], R.shape[0]
    v_hat = np.fft.rfft(v, axis=1)  # (batch, n // 2 + 1, c_in)
    w_hat = np.zeros((v.shape[0], n // 2 + 1, R.shape[2]), dtype=complex)
    w_hat[:, :modes] = np.einsum("bki,kio->bko", v_hat[:, :modes], R)
    return np.fft.irfft(w_hat, n=n, axis=1)


def random_inputs(rng, batch, n, c_in, c_out, modes):
    v = rng.normal(size=(batch, n, c_in))
    R = rng.normal(size=(modes, c_in, c_out)) + 1j * rng.normal(size=(modes, c_in, c_out))
    return v, R


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    n=st.integers(2, 40),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    data=st.data(),
)
def test_spectral_convolution_equals_numpy_fft_reference(batch, n, c_in, c_out, data):
    modes = data.draw(st.integers(1, n // 2 + 1), label="modes")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    v, R = random_inputs(np.random.default_rng(seed), batch, n, c_in, c_out, modes)
    out = spectral_convolution(v, R)
    assert out.dtype == tf.float64 and out.shape == (batch, n, c_out)
    np.testing.assert_allclose(out.numpy(), numpy_reference(v, R), rtol=0, atol=1e-12)


def test_float32_agrees_with_float64():
    v, R = random_inputs(np.random.default_rng(1), 2, 32, 3, 2, 9)
    out32 = spectral_convolution(v.astype(np.float32), R)
    assert out32.dtype == tf.float32
    np.testing.assert_allclose(out32.numpy(), numpy_reference(v, R), atol=2e-5)


def test_one_mode_closed_form():
    # v = cos(2 pi k x) and R = r at mode k: K v = Re(r e^{2 pi i k x}) = Re r cos - Im r sin
    n, k, r = 16, 3, 0.7 - 0.4j
    x = np.arange(n) / n
    v = np.cos(2 * np.pi * k * x)[None, :, None]
    R = np.zeros((5, 1, 1), dtype=complex)
    R[k] = r
    expected = r.real * np.cos(2 * np.pi * k * x) - r.imag * np.sin(2 * np.pi * k * x)
    np.testing.assert_allclose(spectral_convolution(v, R).numpy()[0, :, 0], expected, atol=1e-14)


def test_shift_equivariance_and_resolution_independence():
    rng = np.random.default_rng(2)
    v, R = random_inputs(rng, 2, 24, 3, 2, 6)
    out = spectral_convolution(v, R).numpy()
    shifted = spectral_convolution(np.roll(v, 5, axis=1), R).numpy()
    np.testing.assert_allclose(shifted, np.roll(out, 5, axis=1), atol=1e-12)
    # a function with frequencies below `modes`, sampled at n and 2n points
    x_coarse, x_fine = np.arange(12) / 12, np.arange(24) / 24
    c = rng.normal(size=(4, 3))

    def band_limited(x):
        return sum(np.cos(2 * np.pi * k * x[:, None] + c[k]) for k in range(4))[None]

    coarse = spectral_convolution(band_limited(x_coarse), R).numpy()
    fine = spectral_convolution(band_limited(x_fine), R).numpy()
    np.testing.assert_allclose(fine[:, ::2], coarse, atol=1e-12)


def test_layer_applies_its_weights_and_is_saved_and_loaded(tmp_path):
    layer = SpectralConvolution(3, 4, seed=1, dtype="float64")
    v = np.random.default_rng(3).normal(size=(2, 10, 2))
    out = np.asarray(layer(v))
    R = np.asarray(layer.R_real) + 1j * np.asarray(layer.R_imag)
    assert R.shape == (4, 2, 3) and 0 <= R.real.min() and R.real.max() < 1 / 6
    np.testing.assert_allclose(out, numpy_reference(v, R), atol=1e-12)
    model = fourier_neural_operator(width=6, modes=4, layers=2, output_scale=0.1, seed=2)
    x = np.random.default_rng(4).normal(size=(3, 16, 2)).astype(np.float32)
    expected = np.asarray(model(x))
    keras.saving.save_model(model, tmp_path / "fno.keras")
    loaded = keras.saving.load_model(tmp_path / "fno.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x)), expected)
    assert np.asarray(loaded(np.concatenate([x, x], axis=1))).shape == (3, 32, 1)
    assert SpectralConvolution.from_config(layer.get_config()).modes == 4


def test_bad_arguments():
    v, R = random_inputs(np.random.default_rng(0), 1, 8, 2, 2, 5)
    with pytest.raises(ValueError, match=r"between 1 and n // 2 \+ 1 modes .* n = 8 points; got 6"):
        spectral_convolution(v, np.concatenate([R, R[:1]]))
    with pytest.raises(ValueError, match=r"R must have shape \(modes, 2, c_out\); got \(5, 1, 2\)"):
        spectral_convolution(v, R[:, :1])
    with pytest.raises(ValueError, match=r"v must have shape \(batch, n, c_in\)"):
        spectral_convolution(v[0], R)
    with pytest.raises(ValueError, match="v must be finite"):
        spectral_convolution(np.where(v > 1, np.nan, v), R)
    with pytest.raises(ValueError, match="R must be finite"):
        spectral_convolution(v, R * np.inf)
    with pytest.raises(TypeError, match="v must be a real float array"):
        spectral_convolution(tf.ones((1, 8, 2), tf.int32), R)
    with pytest.raises(TypeError, match="R must be an array of complex128"):
        spectral_convolution(v, "R")
    with pytest.raises(ValueError, match="channels must be a positive int"):
        SpectralConvolution(0, 3)
    with pytest.raises(ValueError, match="between 1 and n // 2 \\+ 1 modes"):
        SpectralConvolution(2, 6)(v)
