"""The roofline of a dense training step: the work and the memory traffic of
the step, and the device's two roofs, its peak matrix-product rate and its
memory bandwidth, measured rather than read from a data sheet.

Code of the chapter *Where the time goes*
(``book/performance/where-the-time-goes.md``), beside
:mod:`sciml_nn.where_the_time_goes`, which times the steps themselves.

The code uses ``keras`` and ``keras.ops`` only, compiling with TensorFlow or
JAX depending on Keras' backend, and imports TensorFlow only when that backend
is ``tensorflow``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from sciml_nn.core.checks import check_choice, check_float, check_int
from sciml_nn.core.device import gpu_present, keras_backend, time_callable
from sciml_nn.core.mlp import check_layer_sizes, count_weights

#: Bytes per number of each floating-point type the timing code runs in.
BYTES_PER_NUMBER = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}

#: The floating-point types the timing code runs in.
DTYPES = tuple(BYTES_PER_NUMBER)

#: The ways a step is run (from Python operation by operation, as a traced
#: graph, or compiled by XLA).
MODES = ("eager", "graph", "xla")


def dense_step_flops(layer_sizes: Sequence[int], batch: int) -> int:
    """FLOPs of the matrix products in one training step,
    :math:numref:`eq-step-flops`.

    The forward pass costs :math:`2 B \\sum_k n_{k-1} n_k` (a multiply-add is
    2 FLOPs); the backward pass twice that (one product for the input's
    gradient, one for the weights').
    """
    batch = check_int("batch", batch, 1)
    return 6 * batch * count_weights(layer_sizes)


def dense_step_bytes(
    layer_sizes: Sequence[int], batch: int, dtype: str = "float32"
) -> int:
    """A model of the bytes one training step moves,
    :math:numref:`eq-step-bytes`.

    Each weight entry moves 4 times (read forward, read backward, gradient
    written, weight rewritten by the update), each activation 3 times (written
    forward, read twice backward); the update's reads, the forward pass's read
    of each activation, the biases and whatever a cache serves are left out.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    batch = check_int("batch", batch, 1)
    size = BYTES_PER_NUMBER[check_choice("dtype", dtype, DTYPES)]
    weights = count_weights(layer_sizes)
    return size * (4 * weights + 3 * batch * sum(layer_sizes))


def step_rate(
    layer_sizes: Sequence[int], batch: int, seconds: float
) -> dict[str, Any]:
    """The figures of a step timed at ``seconds``: its layer sizes, batch,
    ``seconds_per_step``, ``flops`` (:func:`dense_step_flops`) and the
    attained rate ``flops_per_second`` :math:`F/t`, the point that
    :math:numref:`eq-roofline` bounds."""
    layer_sizes = check_layer_sizes(layer_sizes)
    batch = check_int("batch", batch, 1)
    seconds = check_float("seconds", seconds, 0, low_open=True)
    flops = dense_step_flops(layer_sizes, batch)
    return {
        "layer_sizes": layer_sizes,
        "batch": batch,
        "seconds_per_step": seconds,
        "flops": flops,
        "flops_per_second": flops / seconds,
    }


def compile_for(fn: Callable, mode: str) -> Callable:
    """``fn`` as the ``mode`` runs it: ``"eager"`` returns it unchanged,
    ``"graph"`` traces it into a ``tf.function``, ``"xla"`` also compiles that
    with XLA (``jit_compile=True``); under Keras' JAX backend both compiled
    modes are ``jax.jit``."""
    mode = check_choice("mode", mode, MODES)
    if mode == "eager":
        return fn
    if keras_backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=mode == "xla")


def matmul_peak(
    dtype: str = "float32",
    matrix_sizes: Sequence[int] | None = None,
    repeats: int = 5,
    max_seconds: float = 0.25,
) -> float:
    """Peak matrix-product rate in FLOP/s, the roof :math:`P` of
    :math:numref:`eq-roofline`: the best :math:`2n^3/t` over square matrices
    of the sizes :math:`n` in ``matrix_sizes``, eager and compiled by XLA, in
    ``dtype``.

    The sizes are taken in increasing order, and a size whose product would
    take longer than ``max_seconds`` at the best rate so far is skipped: a
    product that long already hides any fixed cost per call, so a larger one
    would only cost time."""
    dtype = check_choice("dtype", dtype, DTYPES)
    max_seconds = check_float("max_seconds", max_seconds, 0, low_open=True)
    if matrix_sizes is None:
        matrix_sizes = (
            (1024, 2048, 4096, 8192)
            if gpu_present()
            else (256, 512, 1024, 2048)
        )
    best = 0.0
    for n in sorted(check_int("matrix size", n, 1) for n in matrix_sizes):
        if best > 0 and 2 * n**3 / best > max_seconds:
            break
        a = keras.random.normal((n, n), seed=0, dtype=dtype)
        b = keras.random.normal((n, n), seed=1, dtype=dtype)
        for mode in ("eager", "xla"):
            product = compile_for(ops.matmul, mode)
            run = lambda f=product, a=a, b=b: f(a, b)
            seconds = time_callable(run, repeats=repeats, warmup=1)["min"]
            best = max(best, 2 * n**3 / seconds)
    return best


def copy_megabytes() -> int:
    """The size in MiB of the array :func:`memory_bandwidth` copies by
    default: 1024 on a GPU, 64 on a CPU."""
    return 1024 if gpu_present() else 64


def memory_bandwidth(megabytes: int | None = None, repeats: int = 5) -> float:
    """Bytes per second of a scaled copy :math:`y = 2x` of ``megabytes`` MiB
    (:func:`copy_megabytes` by default), the roof :math:`\\beta` of
    :math:numref:`eq-roofline`: it reads :math:`x` and writes :math:`y` once
    each, into a new array, as the framework's own elementwise operations
    do."""
    megabytes = copy_megabytes() if megabytes is None else megabytes
    n = check_int("megabytes", megabytes, 1) * 2**20 // 4
    x = keras.random.normal((n,), seed=0, dtype="float32")
    best = 0.0
    for mode in ("eager", "xla"):
        copy = compile_for(lambda x: x * 2.0, mode)
        run = lambda f=copy: f(x)
        seconds = time_callable(run, repeats=repeats, warmup=1)["min"]
        best = max(best, 2 * 4 * n / seconds)
    return best
