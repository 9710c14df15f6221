"""Floating-point precision: unit roundoff, the error that rounding adds to a
trained network, the error floor of the xᵀx exercise trained in each precision,
and the time of a training step.

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

from sciml_nn.checks import check_choice, check_int
from sciml_nn.data import make_dataset, squared_norm
from sciml_nn.exercise import make_levenberg_marquardt_step
from sciml_nn.networks import (
    check_activation,
    check_layer_sizes,
    init_mlp,
    sigma_tensorflow,
)
from sciml_nn.timing import dense_step_flops, time_callable

PRECISIONS = ("float64", "float32", "mixed_bfloat16", "mixed_float16")
#: :math:`u = 2^{-p}` for a format with :math:`p` significand bits (the
#: hidden bit included).
UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "bfloat16": 2.0**-8,
    "float16": 2.0**-11,
}


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
    if not isinstance(dtype, str):
        raise TypeError(f"dtype must be a str; got {type(dtype).__name__}")
    if dtype not in UNIT_ROUNDOFF:
        raise ValueError(
            f"dtype must be one of {tuple(UNIT_ROUNDOFF)}; got {dtype!r}"
        )
    return UNIT_ROUNDOFF[dtype]


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
    unit_roundoff(dtype)
    kind = tf.as_dtype(dtype).as_numpy_dtype
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


def relative_rounding_error(x: np.ndarray, dtype: str) -> np.ndarray:
    """:math:`|\\mathrm{fl}(x) - x| / |x|` for rounding float64 values ``x``
    (nonzero) to ``dtype``; eq. :math:numref:`eq-rounding` bounds it by
    :math:`u`."""
    unit_roundoff(dtype)
    x = np.asarray(x, dtype=np.float64)
    if np.any(x == 0) or not np.all(np.isfinite(x)):
        raise ValueError("x must be finite and nonzero")
    rounded = tf.cast(tf.cast(tf.constant(x), dtype), tf.float64).numpy()
    return np.abs(rounded - x) / np.abs(x)


class PrecisionMLP(tf.Module):
    """The exercise's network :math:numref:`eq-mlp` (inputs mapped from [0, 1]
    to [-1, 1]) with variables in the policy's variable dtype and arithmetic in
    its compute dtype."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        precision: str = "float32",
        activation: str = "tanh",
        seed: int = 0,
    ):
        super().__init__(name="precision_mlp")
        self.compute_dtype, self.variable_dtype = policy_dtypes(precision)
        self.activation = check_activation(activation)
        self.params = [
            (
                tf.Variable(W.astype(self.variable_dtype)),
                tf.Variable(b.astype(self.variable_dtype)),
            )
            for W, b in init_mlp(check_layer_sizes(layer_sizes), seed)
        ]
        self.xi = [v for pair in self.params for v in pair]

    def forward(self, x: tf.Tensor, dtype: str | None = None) -> tf.Tensor:
        """:math:`N(2x - 1, \\xi)` with weights and arithmetic rounded to
        ``dtype`` (default: the compute dtype); the output comes back in the
        variable dtype."""
        dtype = self.compute_dtype if dtype is None else dtype
        unit_roundoff(dtype)
        sigma = sigma_tensorflow(self.activation)
        h = 2.0 * tf.cast(x, dtype) - 1.0
        *hidden, (W_out, b_out) = [
            (tf.cast(W, dtype), tf.cast(b, dtype)) for W, b in self.params
        ]
        for W, b in hidden:
            h = sigma(tf.matmul(h, W) + b)
        return tf.cast(tf.matmul(h, W_out) + b_out, self.variable_dtype)

    def __call__(self, x, dtype: str | None = None) -> np.ndarray:
        """Evaluate on an array of shape ``(n, 2)``; returns float64 values of
        shape ``(n, 1)``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2); got {x.shape}")
        x = tf.constant(x.astype(self.variable_dtype))
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
    layer_sizes = (
        [2]
        + [check_int("width", width, 1)] * check_int("depth", depth, 1)
        + [1]
    )
    keras.utils.set_random_seed(check_int("seed", seed))
    x, y = make_dataset(
        squared_norm, check_int("n_train", n_train, 1), 2, seed
    )
    model = PrecisionMLP(layer_sizes, precision, seed=seed)
    step = make_levenberg_marquardt_step(model.forward, model.xi)
    x, y = (
        tf.constant(x, model.variable_dtype),
        tf.constant(y, model.variable_dtype),
    )
    for _ in range(steps):
        step(x, y)
    return model


def keras_precision_mlp(
    widths: Sequence[int], precision: str, seed: int = 0
) -> keras.Model:
    """A tanh MLP of ``Dense`` layers under the Keras dtype policy
    ``precision``, compiled with Adam and the mean squared error; a
    mixed_float16 model gets a ``LossScaleOptimizer``."""
    sizes = check_layer_sizes(widths)
    check_precision(precision)
    layers: list = [keras.Input(shape=(sizes[0],))]
    for k, n_out in enumerate(sizes[1:], start=1):
        last = k == len(sizes) - 1
        layers.append(
            keras.layers.Dense(
                n_out,
                activation=None if last else "tanh",
                dtype=precision,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=seed + k
                ),
            )
        )
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
    widths: Sequence[int],
    batch: int,
    precision: str,
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Median seconds of one ``train_on_batch`` step (warm-up excluded) of
    :func:`keras_precision_mlp` on a random batch, from
    :func:`~sciml_nn.timing.time_callable`, with the step's matrix-product
    FLOPs :math:numref:`eq-step-flops` and their rate, as
    :func:`~sciml_nn.timing.time_training_step` reports them."""
    sizes = check_layer_sizes(widths)
    batch = check_int("batch", batch, 1)
    model = keras_precision_mlp(sizes, precision, seed)
    rng = np.random.default_rng(seed)
    dtype = policy_dtypes(precision)[1]
    x = rng.uniform(-1, 1, (batch, sizes[0])).astype(dtype)
    y = rng.uniform(-1, 1, (batch, sizes[-1])).astype(dtype)
    seconds = time_callable(
        lambda: model.train_on_batch(x, y), repeats=repeats, warmup=2
    )["median"]
    flops = dense_step_flops(sizes, batch)
    return {
        "seconds_per_step": seconds,
        "precision": precision,
        "batch": batch,
        "flops": flops,
        "flops_per_second": flops / seconds,
    }
