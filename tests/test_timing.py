"""Tests of sciml_nn.timing: it counts calls and reports consistent statistics. Never speed."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn import timing
from sciml_nn.timing import device_description, time_callable


@pytest.mark.parametrize(("repeats", "warmup"), [(1, 0), (5, 2), (12, 1)])
def test_time_callable_calls_warmup_plus_repeats(repeats: int, warmup: int) -> None:
    calls = []
    result = time_callable(lambda: calls.append(1), repeats=repeats, warmup=warmup)
    assert len(calls) == warmup + repeats
    assert result["repeats"] == repeats
    assert 0 < result["min"] <= result["median"] <= result["max"]
    assert result["min"] <= result["mean"] <= result["max"]


def test_time_callable_measures_a_known_sleep() -> None:
    """A sleep of 20 ms lasts at least 20 ms; the warm-up call is not timed."""
    durations = iter([0.2] + [0.02] * 3)
    result = time_callable(lambda: time.sleep(next(durations)), repeats=3, warmup=1)
    assert 0.02 <= result["min"] and result["max"] < 0.2


def test_time_callable_waits_for_tensors() -> None:
    x = tf.ones((8, 8))
    result = time_callable(lambda: (tf.matmul(x, x), [tf.Variable(1.0)]), repeats=3)
    assert all(isinstance(result[k], float) and result[k] > 0 for k in ("median", "min", "max"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"repeats": 0}, ValueError, "repeats must be a positive int; got 0"),
        ({"repeats": -3}, ValueError, "repeats must be a positive int; got -3"),
        ({"warmup": -1}, ValueError, "warmup must be >= 0; got -1"),
        ({"repeats": 2.0}, TypeError, "repeats must be an int; got float"),
        ({"warmup": True}, TypeError, "warmup must be an int; got bool"),
        ({"fn": 3}, TypeError, "fn must be callable; got int"),
    ],
)
def test_time_callable_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"fn": lambda: None, "repeats": 2, "warmup": 1}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        time_callable(**arguments)


def test_device_description_names_the_device() -> None:
    description = device_description()
    if tf.config.list_physical_devices("GPU"):
        assert description.startswith("GPU: ")
    else:
        cores = len(os.sched_getaffinity(0))
        assert description.startswith("CPU: ")
        assert description.endswith(f", {cores} core{'s' if cores != 1 else ''}")


def test_device_description_reports_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu, gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: {"device_name": "Test GPU 80GB"},
    )
    assert device_description() == "GPU: Test GPU 80GB (and 1 more)"


def test_cpu_name_reads_cpuinfo() -> None:
    name = timing._cpu_name()
    assert isinstance(name, str) and name
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            lines = cpuinfo.readlines()
        models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        if models:
            assert name == models[0]


def test_statistics_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feed perf_counter a known sequence: the durations are 1, 3, 2, 10 seconds."""
    ticks = iter(np.cumsum([0, 1, 0, 3, 0, 2, 0, 10]).tolist())
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    result = time_callable(lambda: None, repeats=4, warmup=0)
    durations = [1, 3, 2, 10]
    assert result["median"] == pytest.approx(np.median(durations))
    assert result["mean"] == pytest.approx(np.mean(durations))
    assert (result["min"], result["max"]) == (1, 10)
