"""Where and how long: the device a page ran on, and wall-clock timing.

Part of the shared core. Every timing the book prints comes with
:func:`device_description`, because a timing means little without the machine
behind it. The functions work with Keras on its TensorFlow or JAX backend and
import TensorFlow only when that is the backend.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from sciml_nn.core.checks import check_callable, check_int


def keras_backend() -> str:
    """The name of the backend Keras runs on: "tensorflow", "jax", ..."""
    return keras.backend.backend()


def _wait_for(result: Any) -> None:
    # Devices compute asynchronously; reading the values (or blocking on them)
    # waits for them.
    for item in keras.tree.flatten(result):
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
    fn = check_callable("fn", fn)
    repeats = check_int("repeats", repeats, 1)
    warmup = check_int("warmup", warmup, 0)
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
        "repeats": repeats,
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


def gpu_names() -> list[str]:
    """The names of the GPUs Keras' backend computes on, in order, e.g.
    ``["NVIDIA H100 80GB HBM3"]``; ``[]`` where it sees none."""
    if keras_backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    import tensorflow as tf

    details = tf.config.experimental.get_device_details
    return [
        details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def device_description() -> str:
    """Name the device Keras' backend computes on: the first GPU's name, else
    CPU model and cores.

    For example ``"GPU: NVIDIA H100 80GB HBM3"`` or ``"CPU: AMD EPYC 7763
    64-Core Processor, 2 cores"``; the cores are those this process may use.
    """
    gpus = gpu_names()
    if gpus:
        more = f" (and {len(gpus) - 1} more)" if len(gpus) > 1 else ""
        return f"GPU: {gpus[0]}{more}"
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
    if keras_backend() == "jax":
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


def gpu_present() -> bool:
    """Whether Keras' backend sees a GPU: it decides between the full sweep and
    the CPU one."""
    return bool(gpu_names())


def environment() -> dict[str, str]:
    """Device, Keras backend, versions and date: the label every timing travels
    with."""
    backend = keras_backend()
    module = importlib.import_module(
        "jax" if backend == "jax" else "tensorflow"
    )
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
