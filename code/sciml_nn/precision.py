"""Floating-point precision: unit roundoff, the error that rounding adds to a
trained network, the error floor of the xᵀx exercise trained in each precision,
and the time of a training step.

Code of the chapter *Precision*
(``book/performance/precision.md``).

Precisions are named like Keras' dtype policies: ``"float64"``, ``"float32"``,
``"mixed_bfloat16"`` and ``"mixed_float16"``. The mixed policies keep the
variables in float32 and compute in the 16-bit type (Micikevicius et al.,
2018). Every rounding obeys :math:numref:`eq-rounding` with the unit roundoff
:math:`u` of the format.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_choice, check_int
from sciml_nn.core.device import time_callable
from sciml_nn.core.mlp import check_layer_sizes, keras_mlp, mlp_tensorflow
from sciml_nn.fit_xtx import LowLevelMLP, exercise_setup, fit_xtx_lowlevel
from sciml_nn.where_the_time_goes_roofline import step_rate

PRECISIONS = ("float64", "float32", "mixed_bfloat16", "mixed_float16")


#: :math:`u = 2^{-p}` for a format with :math:`p` significand bits (the
#: hidden bit included).
UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "bfloat16": 2.0**-8,
    "float16": 2.0**-11,
}


#: The floating-point formats of the chapter.
FORMATS = tuple(UNIT_ROUNDOFF)


def check_precision(precision: object) -> str:
    """Return ``precision`` if it names one of ``PRECISIONS``; raise
    otherwise."""
    return check_choice("precision", precision, PRECISIONS)


def policy_dtypes(precision: str) -> tuple[str, str]:
    """``(compute_dtype, variable_dtype)`` of the Keras dtype policy named
    ``precision``."""
    policy = keras.DTypePolicy(check_precision(precision))
    return policy.compute_dtype, policy.variable_dtype


def unit_roundoff(dtype: str) -> float:
    """Unit roundoff :math:`u` of :math:numref:`eq-rounding` for ``"float64"``,
    ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
    return UNIT_ROUNDOFF[check_choice("dtype", dtype, FORMATS)]


def format_limits(dtype: str) -> dict[str, float]:
    """The numbers that describe the format ``dtype`` (``"float64"``,
    ``"float32"``, ``"bfloat16"`` or ``"float16"``), found from its values:

    ``significand_bits`` :math:`p`, the smallest :math:`k` for which
    :math:`1 + 2^{-k}` rounds to 1 (a tie, rounded to the even neighbour);
    ``epsilon``, the gap between 1 and the next number; ``largest``, the
    largest finite value; ``smallest_normal`` and ``smallest_subnormal``, the
    smallest positive normal and subnormal values, read from their bit
    patterns. NumPy computes (bfloat16 through TensorFlow's NumPy type).
    """
    kind = tf.as_dtype(check_choice("dtype", dtype, FORMATS)).as_numpy_dtype
    size = np.dtype(kind).itemsize
    unsigned = {2: np.uint16, 4: np.uint32, 8: np.uint64}[size]

    def value(bits: int) -> float:
        return float(np.array(bits, unsigned).view(kind).astype(np.float64))

    one = np.array(1.0, kind)
    p = next(
        k for k in range(1, 8 * size) if one + np.array(2.0**-k, kind) == one
    )
    exponent_bits = 8 * size - p  # sign, exponent, p - 1 stored bits
    one_bits = int(one.view(unsigned))
    return {
        "significand_bits": p,
        "epsilon": value(one_bits + 1) - 1.0,
        "largest": value(
            ((2**exponent_bits - 2) << (p - 1)) | (2 ** (p - 1) - 1)
        ),
        "smallest_normal": value(1 << (p - 1)),
        "smallest_subnormal": value(1),
    }


def round_to(x: np.ndarray, dtype: str) -> np.ndarray:
    """:math:`\\mathrm{fl}(x)` of :math:numref:`eq-rounding`: the values ``x``
    rounded to the format ``dtype``, returned as float64 (which holds them
    exactly)."""
    rounded = tf.cast(
        tf.convert_to_tensor(x), check_choice("dtype", dtype, FORMATS)
    )
    return tf.cast(rounded, tf.float64).numpy()


def relative_rounding_error(x: np.ndarray, dtype: str) -> np.ndarray:
    """:math:`|\\mathrm{fl}(x) - x| / |x|` for rounding float64 values ``x``
    (nonzero) to ``dtype``; eq. :math:numref:`eq-rounding` bounds it by
    :math:`u`."""
    x = check_array("x", x, shape=None)
    if np.any(x == 0):
        raise ValueError("x must be nonzero; got a zero entry")
    return np.abs(round_to(x, dtype) - x) / np.abs(x)


class PrecisionMLP(LowLevelMLP):
    """The exercise's network :math:numref:`eq-mlp` (inputs mapped from [0, 1]
    to [-1, 1]) with variables in the policy's variable dtype ``dtype`` and
    arithmetic in its ``compute_dtype``."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        precision: str = "float32",
        activation: str = "tanh",
        seed: int = 0,
    ) -> None:
        compute_dtype, variable_dtype = policy_dtypes(precision)
        super().__init__(layer_sizes, activation, seed, variable_dtype)
        self.compute_dtype = compute_dtype

    def forward(self, x: tf.Tensor, dtype: str | None = None) -> tf.Tensor:
        """:math:`N(2x - 1, \\xi)` with weights and arithmetic rounded to
        ``dtype`` (default: the compute dtype); the output comes back in the
        variable dtype."""
        dtype = check_choice("dtype", dtype or self.compute_dtype, FORMATS)
        xi = [(tf.cast(W, dtype), tf.cast(b, dtype)) for W, b in self.xi]
        y = mlp_tensorflow(2.0 * tf.cast(x, dtype) - 1.0, xi, self.activation)
        return tf.cast(y, self.dtype)

    def __call__(self, x: np.ndarray, dtype: str | None = None) -> np.ndarray:
        """Evaluate on an array of shape ``(n, 2)``, in ``dtype`` (default: the
        compute dtype); returns float64 values of shape ``(n, 1)``."""
        x = tf.constant(check_array("x", x, (None, 2), self.dtype))
        return self.forward(x, dtype).numpy().astype(np.float64)


def fit_xtx_precision(
    precision: str,
    seed: int = 0,
    *,
    steps: int = 100,
    width: int = 20,
    depth: int = 2,
    n_train: int = 1024,
) -> PrecisionMLP:
    """The exercise's recipe (Levenberg-Marquardt,
    :math:numref:`eq-levenberg-marquardt`, full batch) on the same samples,
    with the forward pass and the Jacobian computed in ``precision``.

    The damped normal equations are solved in float64 for every precision, so
    what differs is only the arithmetic of the network and its derivatives.
    """
    check_precision(precision)
    steps = check_int("steps", steps, 1)
    layer_sizes, x, y = exercise_setup(width, depth, n_train, seed)
    model = PrecisionMLP(layer_sizes, precision, seed=seed)
    return fit_xtx_lowlevel(model, x, y, "levenberg-marquardt", steps)


def keras_precision_mlp(
    layer_sizes: Sequence[int], precision: str, seed: int = 0
) -> keras.Model:
    """The tanh MLP :func:`~sciml_nn.core.mlp.keras_mlp` under the Keras dtype
    policy ``precision``, compiled with Adam and the mean squared error; a
    mixed_float16 model gets a ``LossScaleOptimizer``."""
    precision = check_precision(precision)
    network = keras_mlp(layer_sizes, "tanh", seed, dtype=precision)
    layers = [keras.Input(shape=network.input_shape[1:]), network]
    # The output in float32 (float64): a 16-bit loss would round away small
    # residuals.
    layers.append(
        keras.layers.Activation("linear", dtype=policy_dtypes(precision)[1])
    )
    model = keras.Sequential(layers)
    optimizer = keras.optimizers.Adam(1e-3)
    if precision == "mixed_float16":
        # float16 gradients underflow below 6e-8; scaling the loss keeps them
        # representable.
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer, loss="mean_squared_error", jit_compile=False
    )
    return model


def time_keras_step(
    layer_sizes: Sequence[int],
    batch: int,
    precision: str,
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Median seconds of one ``train_on_batch`` step (warm-up excluded) of
    :func:`keras_precision_mlp` on a random batch, from
    :func:`~sciml_nn.core.device.time_callable`, with the step's matrix-product
    FLOPs :math:numref:`eq-step-flops` and their rate, as
    :func:`~sciml_nn.where_the_time_goes.time_training_step` reports them."""
    layer_sizes = check_layer_sizes(layer_sizes)
    batch = check_int("batch", batch, 1)
    model = keras_precision_mlp(layer_sizes, precision, seed)
    rng = np.random.default_rng(seed)
    dtype = policy_dtypes(precision)[1]
    x = rng.uniform(-1, 1, (batch, layer_sizes[0])).astype(dtype)
    y = rng.uniform(-1, 1, (batch, layer_sizes[-1])).astype(dtype)
    seconds = time_callable(
        lambda: model.train_on_batch(x, y), repeats=repeats, warmup=2
    )["median"]
    return {**step_rate(layer_sizes, batch, seconds), "precision": precision}
