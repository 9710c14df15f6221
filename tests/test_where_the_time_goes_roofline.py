"""Tests of sciml_nn.where_the_time_goes_roofline: the counts against TensorFlow's own graph of a
training step and Keras' own model, the roofs against rates timed here. Never speed."""

from __future__ import annotations

from collections.abc import Callable

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.device import time_callable
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.where_the_time_goes_roofline import (
    DTYPES,
    MODES,
    compile_for,
    dense_step_bytes,
    dense_step_flops,
    matmul_peak,
    memory_bandwidth,
    step_rate,
)

NETWORKS = [([1, 1], 1), ([2, 3], 5), ([8, 32, 32, 1], 64), ([3, 7, 11, 5, 2], 9)]


def matmul_flops(graph: tf.Graph) -> int:
    """2 m n k for every MatMul of a traced graph: TensorFlow's own account of the products."""
    total = 0
    for op in graph.get_operations():
        assert "MatMul" not in op.type or op.type == "MatMul", op.type
        if op.type == "MatMul":
            a = op.inputs[0]
            inner = a.shape[0] if op.get_attr("transpose_a") else a.shape[1]
            rows, columns = op.outputs[0].shape
            total += 2 * rows * columns * inner
    return total


@pytest.mark.parametrize(("layer_sizes", "batch"), NETWORKS)
def test_dense_step_flops_counts_the_products_tensorflow_runs(
    layer_sizes: list[int], batch: int
) -> None:
    """A gradient-tape step traced by TensorFlow runs every product eq-step-flops counts except
    the first layer's input gradient, which training never needs (the chapter's exercise)."""
    model = keras_mlp(layer_sizes)

    @tf.function
    def gradient(x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        return tape.gradient(loss, model.trainable_variables)

    specs = [tf.TensorSpec((batch, layer_sizes[0])), tf.TensorSpec((batch, layer_sizes[-1]))]
    graph = gradient.get_concrete_function(*specs).graph
    input_gradient = 2 * batch * layer_sizes[0] * layer_sizes[1]
    assert matmul_flops(graph) == dense_step_flops(layer_sizes, batch) - input_gradient


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("layer_sizes", "batch"), NETWORKS[1:])
def test_dense_step_bytes_counts_keras_weights_and_activations(
    layer_sizes: list[int], batch: int, dtype: str
) -> None:
    """eq-step-bytes from the Keras model itself: 4 passes over its kernels' entries, 3 over the
    activations (the input and every layer's units), each of NumPy's (ml_dtypes') item size."""
    model = keras_mlp(layer_sizes, dtype=dtype)
    kernels = sum(int(np.prod(v.shape)) for v in model.trainable_variables if len(v.shape) == 2)
    activations = model.inputs[0].shape[1] + sum(layer.units for layer in model.layers)
    size = np.dtype(getattr(ml_dtypes, dtype, dtype)).itemsize
    expected = size * (4 * kernels + 3 * batch * activations)
    assert dense_step_bytes(layer_sizes, batch, dtype) == expected


@pytest.mark.parametrize("mode", MODES)
def test_compile_for_runs_the_same_function(mode: str) -> None:
    a = keras.random.normal((16, 16), seed=0)
    compiled = compile_for(keras.ops.matmul, mode)
    np.testing.assert_allclose(np.asarray(compiled(a, a)), np.asarray(a) @ np.asarray(a), rtol=1e-5)
    assert (compiled is keras.ops.matmul) == (mode == "eager")


def test_matmul_peak_is_the_best_rate_of_its_sizes() -> None:
    """The peak over sizes (64, 128) is at least the rate of one 128 product timed by hand."""
    a = keras.random.normal((128, 128), seed=0)
    seconds = time_callable(lambda: keras.ops.matmul(a, a), repeats=5)["median"]
    peak = matmul_peak(matrix_sizes=(64, 128), repeats=5)
    assert peak >= 0.5 * 2 * 128**3 / seconds
    assert peak < 1e16  # no device does 10 PFLOP/s: a wrong FLOP count would show


def test_matmul_peak_skips_sizes_longer_than_max_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """With products timed at exactly 1 GFLOP/s, a cap of 0.01 s admits n = 128 (4.2 ms) and
    skips n = 256 (34 ms); the sizes are taken in increasing order whatever the given order."""
    import sciml_nn.where_the_time_goes_roofline as roofline

    timed = []

    def fake_time_callable(run, repeats, warmup):
        n = int(run.__defaults__[1].shape[0])
        timed.append(n)
        return {"min": 2 * n**3 / 1e9, "median": 2 * n**3 / 1e9}

    monkeypatch.setattr(roofline, "time_callable", fake_time_callable)
    peak = roofline.matmul_peak(matrix_sizes=(256, 64, 128), max_seconds=0.01)
    assert sorted(set(timed)) == [64, 128]
    assert peak == pytest.approx(1e9)


def test_memory_bandwidth_is_of_the_order_of_a_memory() -> None:
    """Between 1 MB/s and 100 TB/s: a slip of 2**20 or of the bytes per number would leave it."""
    assert 1e6 < memory_bandwidth(megabytes=8, repeats=3) < 1e14


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: dense_step_flops([], 4), ValueError, "layer_sizes needs at least an input"),
        (lambda: dense_step_flops([3], 4), ValueError, "layer_sizes needs at least an input"),
        (lambda: dense_step_flops([3, 0], 4), ValueError, "layer sizes must be a positive int"),
        (lambda: dense_step_flops([3, 2], 0), ValueError, "batch must be a positive int; got 0"),
        (lambda: dense_step_bytes([3, 2], 4, "int4"), ValueError, "dtype must be one of"),
        (lambda: step_rate([3, 2], 4, 0.0), ValueError, r"seconds must be a finite number > 0"),
        (lambda: compile_for(keras.ops.matmul, "fast"), ValueError, "mode must be one of"),
        (lambda: matmul_peak("float8"), ValueError, "dtype must be one of"),
        (lambda: matmul_peak(matrix_sizes=(0,)), ValueError, "matrix size must be a positive int"),
        (lambda: matmul_peak(max_seconds=0), ValueError, "max_seconds must be"),
        (lambda: memory_bandwidth(megabytes=0), ValueError, "megabytes must be a positive int"),
        (lambda: memory_bandwidth(megabytes=1.5), TypeError, "megabytes must be an int"),
    ],
)
def test_bad_input_is_named(call: Callable, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
