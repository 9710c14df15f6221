"""Timing that says what it measured and where: repeated wall-clock runs and the device's name.

A timing means little without the machine behind it, so every timing the book prints comes with
:func:`device_description`. Tests check that these functions count and report correctly, never how
fast anything is.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_int


def _wait_for(result: Any) -> None:
    # TensorFlow may return before a GPU has finished; reading the values waits for it.
    for item in tf.nest.flatten(result):
        if isinstance(item, (tf.Tensor, tf.Variable)):
            np.asarray(item)


def time_callable(fn: Callable[[], Any], repeats: int = 20, warmup: int = 1) -> dict[str, float]:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times, each timed alone.

    Warm-up calls absorb one-off costs (tracing a ``tf.function``, allocating memory). Each timed
    call ends when its tensors are ready on the host. Returns seconds per call:
    ``{"median", "min", "mean", "max", "repeats"}``; the median resists outliers from other work
    on the machine.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    repeats, warmup = check_int("repeats", repeats, 1), check_int("warmup", warmup, 0)
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


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_description() -> str:
    """Name the device TensorFlow computes on: the first GPU's name, else the CPU model and cores.

    For example ``"GPU: NVIDIA H100 80GB HBM3"`` or ``"CPU: AMD EPYC 7763 64-Core Processor,
    2 cores"``; the cores are those this process may use.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
        extra = f" (and {len(gpus) - 1} more)" if len(gpus) > 1 else ""
        return f"GPU: {name}{extra}"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return f"CPU: {_cpu_name()}, {cores} core{'s' if cores != 1 else ''}"
