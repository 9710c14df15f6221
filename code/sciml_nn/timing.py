"""Timing that says what it measured and where: wall-clock runs, the device's
roofline, and the cost of a dense training step as a fraction of it
(:ref:`where-the-time-goes`).

A timing means little without the machine behind it, so every timing the book
prints comes with :func:`device_description`. The code uses ``keras`` and
``keras.ops`` only, compiling with TensorFlow or JAX depending on Keras'
backend, and imports TensorFlow only when that backend is ``tensorflow``. Tests
check counts and consistency, never how fast anything is. ``python -m
sciml_nn.timing --out FILE.json`` runs the sweep and writes its figures; a
file committed as ``code/sciml_nn/sweeps/timing-<device>.json`` ships with the
package (package data) and :func:`committed_sweeps` reads it back.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.resources
import itertools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from sciml_nn.checks import check_choice, check_int

MODES = ("eager", "graph", "xla")
DTYPES = ("float16", "bfloat16", "float32", "float64")
#: The package's folder of committed sweeps, ``code/sciml_nn/sweeps`` in the
#: repository; its ``timing-*.json`` files are package data.
SWEEPS = "sweeps"


def _backend() -> str:
    return keras.backend.backend()


def _leaves(result: Any) -> list[Any]:
    if isinstance(result, (list, tuple)):
        return [leaf for item in result for leaf in _leaves(item)]
    if isinstance(result, dict):
        return [leaf for item in result.values() for leaf in _leaves(item)]
    return [result]


def _wait_for(result: Any) -> None:
    # Devices compute asynchronously; reading the values (or blocking on them)
    # waits for them.
    for item in _leaves(result):
        if hasattr(item, "block_until_ready"):
            item.block_until_ready()
        elif type(item).__module__.startswith(
            ("tensorflow", "keras")
        ) and hasattr(item, "numpy"):
            item.numpy()  # np.asarray would fail on bfloat16


def time_callable(
    fn: Callable[[], Any], repeats: int = 20, warmup: int = 1
) -> dict[str, float]:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times, each
    timed alone.

    Warm-up calls absorb one-off costs (tracing a ``tf.function``, allocating
    memory). Each timed call ends when its tensors are ready on the host.
    Returns seconds per call: ``{"median", "min", "mean", "max", "repeats"}``;
    the median resists outliers from other work on the machine.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    repeats, warmup = (
        check_int("repeats", repeats, 1),
        check_int("warmup", warmup, 0),
    )
    for _ in range(warmup):
        _wait_for(fn())
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        _wait_for(fn())
        seconds.append(time.perf_counter() - start)
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "mean": statistics.fmean(seconds),
        "max": max(seconds),
        "repeats": int(repeats),
    }


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what Python's
    ``platform`` reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _gpu_name() -> str | None:
    if _backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        names = [getattr(d, "device_kind", str(d)) for d in gpus]
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        names = [
            tf.config.experimental.get_device_details(g).get(
                "device_name", g.name
            )
            for g in gpus
        ]
    if not names:
        return None
    return names[0] + (
        f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    )


def device_description() -> str:
    """Name the device Keras' backend computes on: the first GPU's name, else
    CPU model and cores.

    For example ``"GPU: NVIDIA H100 80GB HBM3"`` or ``"CPU: AMD EPYC 7763
    64-Core Processor, 2 cores"``; the cores are those this process may use.
    """
    gpu = _gpu_name()
    if gpu:
        return f"GPU: {gpu}"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return f"CPU: {cpu_name()}, {cores} core{'s' if cores != 1 else ''}"


def _bytes_of(size: str) -> int:
    """``"48K"``, ``"2048K"``, ``"300M"`` or ``"1G"`` (as Linux writes cache
    sizes) in bytes."""
    size = size.strip()
    factor = {"K": 2**10, "M": 2**20, "G": 2**30}.get(size[-1:].upper(), 1)
    digits = size[:-1] if factor > 1 else size
    if not digits.isdigit():
        raise ValueError(f"size must look like 48K, 300M or 512; got {size!r}")
    return int(digits) * factor


def largest_cache_bytes() -> int | None:
    """The size of the CPU's largest cache (usually the last level) in bytes,
    from Linux's ``/sys/devices/system/cpu/cpu0/cache``; ``None`` where that
    is not available."""
    folder = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        sizes = [
            _bytes_of((index / "size").read_text())
            for index in folder.glob("index*")
            if (index / "size").exists()
        ]
    except (OSError, ValueError):
        return None
    return max(sizes) if sizes else None


def tf32_matmuls() -> bool | None:
    """Whether TensorFlow runs float32 matrix products in TensorFloat-32 on
    the first GPU (inputs rounded to 11 significand bits, as in float16): it
    does by default on NVIDIA GPUs of compute capability 8.0 (Ampere) and
    later.

    ``False`` without a GPU; ``None`` under Keras' JAX backend, which this
    does not check."""
    if _backend() == "jax":
        return None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False
    details = tf.config.experimental.get_device_details(gpus[0])
    capability = details.get("compute_capability") or (0, 0)
    return bool(
        tuple(capability) >= (8, 0)
        and tf.config.experimental.tensor_float_32_execution_enabled()
    )


def _check_widths(widths: Sequence[int]) -> list[int]:
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(
            "widths must list at least an input and an output width; got "
            f"{widths}"
        )
    return [check_int(f"widths[{i}]", n, 1) for i, n in enumerate(widths)]


def dense_step_flops(widths: Sequence[int], batch: int) -> int:
    """FLOPs of the matrix products in one training step,
    :math:numref:`eq-step-flops`.

    The forward pass costs :math:`2 B \\sum_i n_i n_{i+1}` (a multiply-add is 2
    FLOPs); the backward pass twice that (one product for the input's gradient,
    one for the weights').
    """
    widths, batch = _check_widths(widths), check_int("batch", batch, 1)
    return 6 * batch * sum(n * m for n, m in itertools.pairwise(widths))


def dense_step_bytes(
    widths: Sequence[int], batch: int, dtype: str = "float32"
) -> int:
    """A model of the bytes one training step moves,
    :math:numref:`eq-step-bytes`.

    Each weight entry moves 4 times (read forward, read backward, gradient
    written, weight rewritten by the update), each activation 3 times (written
    forward, read twice backward); the update's reads, the forward pass's read
    of each activation, the biases and whatever a cache serves are left out.
    """
    widths, batch = _check_widths(widths), check_int("batch", batch, 1)
    size = (
        2
        if check_choice("dtype", dtype, DTYPES) in ("float16", "bfloat16")
        else 4
    )
    size = 8 if dtype == "float64" else size
    weights = sum(n * m for n, m in itertools.pairwise(widths))
    return size * (4 * weights + 3 * batch * sum(widths))


def _compile(fn: Callable, mode: str) -> Callable:
    """eager: plain Python calls; graph: a traced graph; xla: compiled by XLA
    (jax.jit for both)."""
    mode = check_choice("mode", mode, MODES)
    if mode == "eager":
        return fn
    if _backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=mode == "xla")


def gpu_present() -> bool:
    """Whether Keras' backend sees a GPU: it decides between the full sweep and
    the CPU one."""
    return _gpu_name() is not None


def matmul_peak(
    dtype: str = "float32",
    sizes: Sequence[int] | None = None,
    repeats: int = 5,
) -> float:
    """Peak matrix-product rate in FLOP/s: the best :math:`2n^3/t` over square
    sizes ``n`` and the eager and compiled modes, in ``dtype``; the roof of
    :math:numref:`eq-roofline`."""
    dtype = check_choice("dtype", dtype, DTYPES)
    if sizes is None:
        sizes = (
            (1024, 2048, 4096, 8192)
            if gpu_present()
            else (256, 512, 1024, 2048)
        )
    best = 0.0
    for n in [check_int("size", n, 1) for n in sizes]:
        a = keras.random.normal((n, n), seed=0, dtype=dtype)
        b = keras.random.normal((n, n), seed=1, dtype=dtype)
        for mode in ("eager", "xla"):
            product = _compile(ops.matmul, mode)
            run = lambda f=product, a=a, b=b: f(a, b)
            seconds = time_callable(run, repeats=repeats, warmup=1)["min"]
            best = max(best, 2 * n**3 / seconds)
    return best


def memory_bandwidth(megabytes: int | None = None, repeats: int = 5) -> float:
    """Bytes per second of a scaled copy ``y = 2x`` of ``megabytes`` MiB (64
    on a CPU, 1024 on a GPU): it reads ``x`` and writes ``y`` once each, into
    a new array, as the framework's own elementwise operations do."""
    if megabytes is None:
        megabytes = 1024 if gpu_present() else 64
    n = check_int("megabytes", megabytes, 1) * 2**20 // 4
    x = keras.random.normal((n,), seed=0, dtype="float32")
    best = 0.0
    for mode in ("eager", "xla"):
        copy = _compile(lambda x: x * 2.0, mode)
        seconds = time_callable(
            lambda f=copy: f(x), repeats=repeats, warmup=1
        )["min"]
        best = max(best, 2 * 4 * n / seconds)
    return best


def dense_model(
    widths: Sequence[int], dtype: str = "float32", seed: int = 0
) -> keras.Model:
    """The timed network: tanh hidden layers and a linear output, widths ``n_0,
    ..., n_L``."""
    widths, dtype = _check_widths(widths), check_choice("dtype", dtype, DTYPES)
    layers = [
        keras.layers.Dense(
            n,
            activation="tanh" if i < len(widths) - 1 else None,
            dtype=dtype,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
        )
        for i, n in enumerate(widths[1:], start=1)
    ]
    return keras.Sequential([keras.Input((widths[0],), dtype=dtype), *layers])


def sgd_step(model: keras.Model, mode: str, learning_rate: float) -> Callable:
    """One SGD step :math:`\\xi \\leftarrow \\xi - \\eta \\nabla_\\xi J` on the
    mean squared error, as a callable ``step(x, y)`` compiled for ``mode``
    (eager, graph or XLA; see :func:`time_training_step`). Under JAX the step
    returns the new weights instead of assigning.
    """
    trainable = model.trainable_variables
    if _backend() == "jax":
        import jax

        def loss(values, x, y):
            prediction, _ = model.stateless_call(values, [], x)
            return ops.mean(ops.square(prediction - y))

        def step(values, x, y):
            grads = jax.grad(loss)(values, x, y)
            return [v - learning_rate * g for v, g in zip(values, grads)]

        compiled, state = _compile(step, mode), [[v.value for v in trainable]]
        return lambda x, y: (
            state.__setitem__(0, compiled(state[0], x, y)) or state[0]
        )
    import tensorflow as tf

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(model(x) - y))
        for v, g in zip(trainable, tape.gradient(loss, trainable)):
            v.assign_sub(learning_rate * g)
        return loss

    return _compile(step, mode)


def time_training_step(
    widths: Sequence[int],
    batch: int,
    mode: str = "eager",
    dtype: str = "float32",
    repeats: int = 10,
    warmup: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Time one SGD step of :func:`dense_model` on a batch of ``batch`` samples
    (MSE loss).

    Returns ``seconds_per_step`` (median over ``repeats`` steps after
    ``warmup`` untimed ones, which include tracing and compiling), ``flops``
    from :func:`dense_step_flops`, and ``flops_per_second = flops /
    seconds_per_step``.
    """
    widths, batch = _check_widths(widths), check_int("batch", batch, 1)
    mode, dtype = (
        check_choice("mode", mode, MODES),
        check_choice("dtype", dtype, DTYPES),
    )
    step = sgd_step(dense_model(widths, dtype, seed), mode, learning_rate=1e-3)
    x = keras.random.normal((batch, widths[0]), seed=seed, dtype=dtype)
    y = keras.random.normal((batch, widths[-1]), seed=seed + 1, dtype=dtype)
    seconds = time_callable(
        lambda: step(x, y), repeats=repeats, warmup=max(warmup, 1)
    )["median"]
    flops = dense_step_flops(widths, batch)
    return {
        "widths": widths,
        "batch": batch,
        "mode": mode,
        "dtype": dtype,
        "seconds_per_step": seconds,
        "flops": flops,
        "flops_per_second": flops / seconds,
    }


def environment() -> dict[str, str]:
    """Device, Keras backend, versions and date: the label every timing travels
    with."""
    backend = _backend()
    module = __import__("jax" if backend == "jax" else "tensorflow")
    return {
        "device": device_description(),
        "backend": backend,
        "keras": keras.__version__,
        backend: module.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
    }


def run_sweep(quick: bool | None = None) -> dict[str, Any]:
    """The roofline (peak FLOP/s, bandwidth) and step throughput over width,
    batch and mode; ``"tf32"`` records whether float32 products ran in
    TensorFloat-32 (:func:`tf32_matmuls`)."""
    quick = not gpu_present() if quick is None else quick
    widths_list = (32, 128, 512) if quick else (32, 128, 512, 2048, 8192)
    batches = (64, 512) if quick else (64, 512, 4096)
    dtypes = ("float32",) if quick else ("float32", "bfloat16")
    peaks = {dtype: matmul_peak(dtype) for dtype in dtypes}
    steps = [
        time_training_step(
            [w, w, w, 1], batch, mode, dtype, repeats=5 if quick else 20
        )
        for dtype in dtypes
        for w in widths_list
        for batch in batches
        for mode in MODES
    ]
    for step in steps:
        step["fraction_of_peak"] = (
            step["flops_per_second"] / peaks[step["dtype"]]
        )
    return {
        **environment(),
        "matmul_peak": peaks,
        "tf32": tf32_matmuls(),
        "memory_bandwidth": memory_bandwidth(),
        "steps": steps,
    }


SWEEP_KEYS = (
    "device",
    "backend",
    "keras",
    "date",
    "matmul_peak",
    "memory_bandwidth",
    "steps",
)


def _checked_sweep(figures: Any, name: str) -> dict[str, Any]:
    missing = (
        [k for k in SWEEP_KEYS if k not in figures]
        if isinstance(figures, dict)
        else SWEEP_KEYS
    )
    if missing:
        raise ValueError(
            f"{name} lacks {list(missing)}: expected the JSON of python -m "
            "sciml_nn.timing --out"
        )
    return figures


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Read the JSON that ``python -m sciml_nn.timing --out`` wrote, checking
    its label and figures are there (a sweep without its device is no figure at
    all)."""
    with open(path, encoding="utf-8") as file:
        return _checked_sweep(json.load(file), str(path))


def committed_sweeps(
    folder: str | os.PathLike | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The sweeps shipped with the package: ``(file name, figures)`` for every
    ``timing-*.json`` in ``folder``, sorted by name, each checked as
    :func:`load_sweep` checks it.

    ``folder`` defaults to the package's own ``sweeps`` folder (package data,
    ``code/sciml_nn/sweeps`` in the repository), read with
    ``importlib.resources`` so that it works wherever the package is
    installed. An empty or missing folder gives ``[]``.
    """
    if folder is None:
        where = importlib.resources.files("sciml_nn") / SWEEPS
    elif isinstance(folder, (str, os.PathLike)):
        where = Path(folder)
    else:
        raise TypeError(
            f"folder must be a path or None; got {type(folder).__name__}"
        )
    if not where.is_dir():
        return []
    files = sorted(
        (
            entry
            for entry in where.iterdir()
            if entry.name.startswith("timing-")
            and entry.name.endswith(".json")
        ),
        key=lambda entry: entry.name,
    )
    return [
        (
            entry.name,
            _checked_sweep(
                json.loads(entry.read_text(encoding="utf-8")), entry.name
            ),
        )
        for entry in files
    ]


def sweep_table(figures: dict[str, Any], dtype: str = "float32") -> str:
    """A Markdown table of a sweep's ``dtype`` steps: for each width and batch,
    the time per step and, in brackets, the percentage of the sweep's own
    ``dtype`` matmul peak, in every mode."""
    dtype = check_choice("dtype", dtype, DTYPES)
    if dtype not in figures["matmul_peak"]:
        raise ValueError(
            f"the sweep has no {dtype} peak; it has "
            f"{list(figures['matmul_peak'])}"
        )
    peak = figures["matmul_peak"][dtype]
    cells: dict[tuple[int, int], dict[str, str]] = {}
    for step in (step for step in figures["steps"] if step["dtype"] == dtype):
        seconds = step["flops"] / step["flops_per_second"]
        percent = 100 * step["flops_per_second"] / peak
        row = cells.setdefault((step["widths"][1], step["batch"]), {})
        row[step["mode"]] = f"{1e3 * seconds:.3g} ms ({percent:.3g} %)"
    lines = [
        "| width n | batch | " + " | ".join(MODES) + " |",
        "|---|---|" + "---|" * len(MODES),
    ]
    for (width, batch), row in sorted(cells.items()):
        modes = " | ".join(row.get(mode, "–") for mode in MODES)
        lines.append(f"| {width} | {batch} | {modes} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Time dense training steps against the roofline.",
        epilog="Commit the file as code/sciml_nn/sweeps/timing-<device>.json "
        "(package data): the chapter 'Where the time goes' shows every "
        "sweep found there.",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="JSON file to write the figures to, e.g. "
        "code/sciml_nn/sweeps/timing-<device>.json",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sweep sized for a CPU"
    )
    args = parser.parse_args(argv)
    figures = run_sweep(quick=True if args.quick else None)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(figures, out, indent=1)


if __name__ == "__main__":
    main()
