"""The Fourier neural operator: the spectral convolution with ``tf.signal``,
its Keras layer, and the network built from it.

Code of the chapter *Learning solution operators*
(``book/equations/solution-operators.md``); the problem family, the DeepONet
and the training loop are in :mod:`sciml_nn.solution_operators`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_float, check_int


def check_spectral_inputs(v: object, R: object) -> tuple[tf.Tensor, tf.Tensor]:
    """Return ``v`` as a real tensor (batch, n, c_in) and ``R`` as a complex
    tensor (modes, c_in, c_out) of the matching precision, after checking
    their shapes, ``modes <= n // 2 + 1`` and, outside a traced graph, that
    their entries are finite."""
    if not tf.is_tensor(v):
        single = getattr(v, "dtype", None) == np.float32  # else float64
        v = check_array(
            "v", v, ("batch", "n", "c_in"), "float32" if single else "float64"
        )
    v = tf.convert_to_tensor(v)
    if not v.dtype.is_floating or v.shape.rank != 3:
        raise TypeError(
            "v must be a real float array of shape (batch, n, c_in); got "
            f"{v.dtype.name} of shape {tuple(v.shape)}"
        )
    if not tf.is_tensor(R):
        R = check_array("R", R, ("modes", v.shape[2], "c_out"), np.complex128)
    complex_dtype = tf.complex128 if v.dtype == tf.float64 else tf.complex64
    R = tf.cast(R, complex_dtype)
    if R.shape.rank != 3 or R.shape[1] != v.shape[2]:
        raise ValueError(
            f"R must have shape (modes, c_in = {v.shape[2]}, c_out); got "
            f"{tuple(R.shape)}"
        )
    n, modes = v.shape[1], R.shape[0]
    if modes < 1 or (n is not None and modes > n // 2 + 1):
        raise ValueError(
            "R must have between 1 and n // 2 + 1 modes (the real FFT's "
            f"frequencies) for v of n = {n} points; got {modes}"
        )
    if tf.executing_eagerly():
        for name, tensor in (("v", v), ("R", R)):
            if not np.all(np.isfinite(tensor.numpy())):
                raise ValueError(f"{name} must be finite; got NaN or inf")
    return v, R


def spectral_convolution(v: tf.Tensor, R: tf.Tensor) -> tf.Tensor:
    """:math:`(\\mathcal{K} v)_j = \\mathcal{F}^{-1}_n\\big[\\hat w\\big]_j`
    with :math:`\\hat w_{k,o} = \\sum_i \\hat v_{k,i} R_{k,i,o}` for the first
    ``modes`` frequencies :math:`k` and :math:`\\hat w_k = 0` above
    (:math:numref:`eq-spectral-convolution`); :math:`\\hat v` is the real
    FFT of ``v`` (batch, n, c_in) along its n points, ``R`` is complex
    (modes, c_in, c_out). Returns real (batch, n, c_out)."""
    v, R = check_spectral_inputs(v, R)
    modes, n = R.shape[0], tf.shape(v)[1]
    v_hat = tf.signal.rfft(tf.transpose(v, [0, 2, 1]))  # (batch, c_in, k)
    w_hat = tf.einsum("bik,kio->bok", v_hat[:, :, :modes], R)
    # irfft pads the coefficients above `modes` with zeros to length n/2 + 1
    w = tf.signal.irfft(w_hat, fft_length=[n])  # (batch, c_out, n)
    return tf.transpose(w, [0, 2, 1])


@keras.saving.register_keras_serializable(package="sciml_nn")
class SpectralConvolution(keras.layers.Layer):
    """The spectral convolution :func:`spectral_convolution` with trained
    weights :math:`R` (modes, c_in, ``channels``), stored as its real and
    imaginary parts, each drawn uniformly from :math:`[0, 1/(c_\\mathrm{in}
    \\cdot \\mathrm{channels}))` as in Li et al. Works on any number of grid
    points n with ``modes <= n // 2 + 1``."""

    def __init__(
        self, channels: int, modes: int, seed: int = 0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.channels = check_int("channels", channels, 1)
        self.modes = check_int("modes", modes, 1)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: tuple) -> None:
        c_in = input_shape[-1]
        scale = 1 / (c_in * self.channels)
        for part, seed in (("real", self.seed), ("imag", self.seed + 1)):
            weight = self.add_weight(
                shape=(self.modes, c_in, self.channels),
                initializer=keras.initializers.RandomUniform(0, scale, seed),
                name=f"R_{part}",
            )
            setattr(self, f"R_{part}", weight)

    def call(self, v: tf.Tensor) -> tf.Tensor:
        R = tf.complex(
            tf.convert_to_tensor(self.R_real),
            tf.convert_to_tensor(self.R_imag),
        )
        return spectral_convolution(v, R)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.channels)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "channels": self.channels,
            "modes": self.modes,
            "seed": self.seed,
        }


def fourier_neural_operator(
    width: int = 32,
    modes: int = 12,
    layers: int = 4,
    output_scale: float = 1.0,
    seed: int = 0,
) -> keras.Model:
    """A Fourier neural operator on inputs (batch, n, 2), the channels being
    :math:`a(x_j)` and :math:`x_j`, for any n: a pointwise lift to ``width``
    channels, ``layers`` Fourier layers :math:`v \\leftarrow \\sigma(W v +
    \\mathcal{K} v)` (:math:numref:`eq-fourier-layer`, :math:`\\sigma` the
    GELU, none after the last) and a pointwise projection to one channel,
    times ``output_scale``. Returns (batch, n, 1)."""
    width, layers = (
        check_int("width", width, 1),
        check_int("layers", layers, 1),
    )
    output_scale = check_float("output_scale", output_scale)
    seeds = iter(range(seed, seed + 2 * layers + 3))

    def dense(units: int, activation: str | None = None) -> keras.layers.Dense:
        init = keras.initializers.GlorotUniform(next(seeds))
        return keras.layers.Dense(units, activation, kernel_initializer=init)

    inputs = keras.Input((None, 2))
    v = dense(width)(inputs)
    for layer in range(layers):
        K_v = SpectralConvolution(width, modes, seed + 100 + 2 * layer)(v)
        v = keras.layers.Add()([dense(width)(v), K_v])  # W v + K v
        if layer < layers - 1:
            v = keras.layers.Activation("gelu")(v)
    u = dense(1)(dense(4 * width, "gelu")(v))
    return keras.Model(inputs, keras.layers.Rescaling(output_scale)(u))
