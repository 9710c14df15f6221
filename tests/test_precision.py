"""Tests of sciml_nn.precision: unit roundoff against NumPy/ml_dtypes' machine epsilon, rounding
against ml_dtypes and its bound on random data, Keras' dtype policies, the precision-aware network
against NumPy, the error floors of training, the timed Keras step against Keras' own weights and
``train_on_batch``, and the argument checks."""

import time

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import fresh_test_points
from sciml_nn.core.metrics import relative_l2_error
from sciml_nn.core.mlp import mlp_numpy
from sciml_nn.core.training import flat_variables
from sciml_nn.precision import (
    PRECISIONS,
    PrecisionMLP,
    check_precision,
    fit_xtx_precision,
    format_limits,
    keras_precision_mlp,
    policy_dtypes,
    relative_rounding_error,
    round_to,
    time_keras_step,
    unit_roundoff,
)

NUMPY_TYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
}


@pytest.mark.parametrize("dtype", list(NUMPY_TYPES))
def test_unit_roundoff_is_half_the_machine_epsilon(dtype):
    eps = float(ml_dtypes.finfo(NUMPY_TYPES[dtype]).eps)
    assert unit_roundoff(dtype) == eps / 2


@pytest.mark.parametrize("dtype", list(NUMPY_TYPES))
def test_format_limits_match_numpy_and_ml_dtypes(dtype):
    """Found from the format's values, checked against the libraries' tables."""
    info = ml_dtypes.finfo(NUMPY_TYPES[dtype])
    limits = format_limits(dtype)
    assert limits["significand_bits"] == info.nmant + 1
    assert 2.0 ** -limits["significand_bits"] == unit_roundoff(dtype)
    assert limits["epsilon"] == float(info.eps)
    assert limits["largest"] == float(info.max)
    assert limits["smallest_normal"] == float(info.smallest_normal)
    assert limits["smallest_subnormal"] == float(info.smallest_subnormal)


def test_float16_limits_are_the_ieee_half_precision_ones():
    limits = format_limits("float16")
    assert (limits["largest"], limits["smallest_normal"], limits["smallest_subnormal"]) == (
        65504.0,
        2.0**-14,
        2.0**-24,
    )
    with pytest.raises(ValueError, match="dtype must be one of"):
        format_limits("float8")


@pytest.mark.parametrize("dtype", list(NUMPY_TYPES))
def test_one_plus_u_rounds_to_one_and_one_plus_two_u_does_not(dtype):
    t, u = NUMPY_TYPES[dtype], unit_roundoff(dtype)
    assert t(1.0) + t(u) == t(1.0)  # a tie, rounded to the even neighbour 1
    assert t(1.0) + t(2 * u) > t(1.0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_round_to_rounds_as_ml_dtypes(dtype):
    # float32 values, so that TensorFlow's cast rounds once, as NumPy's does
    rng = np.random.default_rng(4)
    x = (rng.uniform(1e-3, 1e3, 5000) * rng.choice([-1.0, 1.0], 5000)).astype(np.float32)
    expected = x.astype(NUMPY_TYPES[dtype]).astype(np.float64)
    np.testing.assert_array_equal(round_to(x, dtype), expected)
    assert round_to(x, dtype).dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rounding_obeys_the_bound_and_nearly_attains_it(dtype):
    rng = np.random.default_rng(0)
    # Magnitudes well inside every format's normal range (float16 has max 65504, min normal 6e-5).
    x = rng.uniform(1e-3, 1e3, 20_000) * rng.choice([-1.0, 1.0], 20_000)
    error = relative_rounding_error(x, dtype)
    u = unit_roundoff(dtype)
    assert error.max() <= u
    assert error.max() > 0.9 * u  # the bound is sharp: some values land near a midpoint
    # The same rounding done by NumPy / ml_dtypes.
    reference = np.abs(x.astype(NUMPY_TYPES[dtype]).astype(np.float64) - x) / np.abs(x)
    # TensorFlow may round float64 -> float32 -> float16 (double rounding): a rare value differs
    # from a single rounding, still within the bound.
    assert np.mean(error != reference) < 1e-3
    np.testing.assert_allclose(error, reference, rtol=0, atol=1e-3 * u)


def test_policy_dtypes_match_keras():
    assert policy_dtypes("mixed_float16") == ("float16", "float32")
    assert policy_dtypes("mixed_bfloat16") == ("bfloat16", "float32")
    assert policy_dtypes("float64") == ("float64", "float64")


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_keras_mixed_layer_computes_in_16_bits_with_float32_variables(precision):
    compute = policy_dtypes(precision)[0]
    layer = keras.layers.Dense(3, dtype=precision)
    x = np.random.default_rng(1).uniform(-1, 1, (5, 4)).astype(np.float32)
    y = layer(x)
    assert layer.kernel.dtype == "float32"
    assert y.dtype == compute
    # Reference: round kernel and input to the 16-bit type, multiply exactly, round the result.
    t = NUMPY_TYPES[compute]
    W = layer.kernel.numpy().astype(t).astype(np.float64)
    exact = x.astype(t).astype(np.float64) @ W
    u = unit_roundoff(compute)
    bound = 4 * u * (np.abs(x.astype(t).astype(np.float64)) @ np.abs(W)) + 1e-12
    assert np.all(np.abs(np.asarray(y, dtype=np.float64) - exact) <= bound)


def test_keras_precision_mlp_policies_and_loss_scaling():
    model = keras_precision_mlp([2, 8, 1], "mixed_float16")
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    out = model(np.zeros((4, 2), np.float32))
    assert out.dtype == "float32" and out.shape == (4, 1)
    assert not isinstance(
        keras_precision_mlp([2, 8, 1], "float32").optimizer,
        keras.mixed_precision.LossScaleOptimizer,
    )


def test_time_keras_step_times_train_on_batch_and_counts_the_kernels():
    layer_sizes, batch = [2, 64, 64, 1], 256
    result = time_keras_step(layer_sizes, batch, "float32", repeats=5)
    assert (result["precision"], result["batch"]) == ("float32", batch)
    # Reference: Keras' own kernels; each entry costs 2 FLOPs per sample forward, 4 backward.
    model = keras_precision_mlp(layer_sizes, "float32")
    kernels = sum(int(np.prod(v.shape)) for v in model.trainable_variables if len(v.shape) == 2)
    assert result["flops"] == 6 * batch * kernels
    # Reference: train_on_batch timed here by the clock; the same work within a factor of 10.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, 2)).astype(np.float32)
    y = rng.uniform(-1, 1, (batch, 1)).astype(np.float32)
    times = []
    for k in range(7):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    assert 0.1 < result["seconds_per_step"] / np.median(times[2:]) < 10


def test_precision_mlp_matches_numpy_in_float64_and_rounds_within_bounds():
    model = PrecisionMLP([2, 7, 5, 1], "float64", seed=3)
    x = np.random.default_rng(2).uniform(0, 1, (50, 2))
    xi = [(W.numpy(), b.numpy()) for W, b in model.xi]
    reference = mlp_numpy(2 * x - 1, xi, "tanh")
    np.testing.assert_allclose(model(x), reference, rtol=1e-13, atol=1e-14)
    for dtype in ("float32", "bfloat16", "float16"):
        error = np.abs(model(x, dtype) - reference).max()
        # Rounding a few dot products of O(1) terms moves the output by a small multiple of u.
        assert error <= 20 * unit_roundoff(dtype) * np.abs(reference).max() + 1e-6
        assert error > 0


def test_error_floors_follow_the_unit_roundoff():
    x_test, y_test = fresh_test_points(2048)
    errors = {
        p: relative_l2_error(fit_xtx_precision(p, steps=60)(x_test), x_test, y_test)
        for p in PRECISIONS
    }
    assert errors["float64"] < 1e-4 and errors["float32"] < 1e-4  # the exercise's bar
    # 16-bit arithmetic cannot beat its own rounding: the floor is within a few u of u.
    for p, u in (("mixed_float16", 2.0**-11), ("mixed_bfloat16", 2.0**-8)):
        assert 0.1 * u < errors[p] < 10 * u
    assert errors["mixed_float16"] < errors["mixed_bfloat16"]


def test_mixed_training_keeps_float32_variables():
    model = fit_xtx_precision("mixed_bfloat16", steps=2, width=4, depth=1, n_train=32)
    assert all(v.dtype == tf.float32 for v in flat_variables(model.xi))
    assert model.compute_dtype == "bfloat16"


def test_argument_checks():
    with pytest.raises(ValueError, match="precision must be one of"):
        check_precision("float8")
    with pytest.raises(TypeError, match="precision must be a str"):
        check_precision(16)
    with pytest.raises(ValueError, match="dtype must be one of"):
        unit_roundoff("int8")
    with pytest.raises(TypeError, match="dtype must be a str"):
        unit_roundoff(np.float32)
    with pytest.raises(ValueError, match="x must be nonzero; got a zero entry"):
        relative_rounding_error(np.array([0.0, 1.0]), "float32")
    with pytest.raises(ValueError, match="precision must be one of"):
        fit_xtx_precision("half")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit_xtx_precision("float32", steps=0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        PrecisionMLP([2, 3, 1])(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dtype must be one of"):
        PrecisionMLP([2, 3, 1])(np.zeros((4, 2)), "float8")
    with pytest.raises(ValueError, match="x must be finite"):
        relative_rounding_error(np.array([np.inf, 1.0]), "float32")
    with pytest.raises(ValueError, match="dtype must be one of"):
        round_to(np.ones(2), "float8")
    with pytest.raises(ValueError, match="batch must be a positive int"):
        time_keras_step([2, 3, 1], 0, "float32")
    with pytest.raises(ValueError, match="precision must be one of"):
        keras_precision_mlp([2, 3, 1], "float8")
