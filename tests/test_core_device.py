"""The shared core: the device a page ran on, and wall-clock timing."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core import device
from sciml_nn.core.device import device_description, time_callable


@pytest.mark.parametrize(("repeats", "warmup"), [(1, 0), (5, 2), (12, 1)])
def test_time_callable_calls_warmup_plus_repeats(repeats: int, warmup: int) -> None:
    calls = []
    result = time_callable(lambda: calls.append(1), repeats=repeats, warmup=warmup)
    assert len(calls) == warmup + repeats
    assert result["repeats"] == repeats
    assert 0 < result["min"] <= result["median"] <= result["max"]
    assert result["min"] <= result["mean"] <= result["max"]


def test_statistics_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feed perf_counter a known sequence: the durations are 1, 3, 2, 10 seconds."""
    ticks = iter(np.cumsum([0, 1, 0, 3, 0, 2, 0, 10]).tolist())
    monkeypatch.setattr(device.time, "perf_counter", lambda: next(ticks))
    result = time_callable(lambda: None, repeats=4, warmup=0)
    durations = [1, 3, 2, 10]
    assert result["median"] == pytest.approx(np.median(durations))
    assert result["mean"] == pytest.approx(np.mean(durations))
    assert (result["min"], result["max"]) == (1, 10)


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


def _command(*args: str) -> str:
    """What a system command prints; skip the test where it is missing."""
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed")
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_device_description_counts_the_cores_nproc_counts() -> None:
    """``nproc`` (coreutils) counts the cores this process may use, as the description should."""
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: the description names it")
    cores = int(_command("nproc"))
    description = device_description()
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


def test_gpu_names_are_those_nvidia_smi_lists() -> None:
    """``nvidia-smi -L`` lists the NVIDIA GPUs as ``GPU 0: NAME (UUID: ...)``; with no driver
    installed there is none for TensorFlow to see."""
    if tf.test.is_built_with_rocm():
        pytest.skip("AMD GPUs: nvidia-smi does not list them")
    if shutil.which("nvidia-smi") is None:
        assert device.gpu_names() == [] and not device.gpu_present()
        return
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        pytest.skip("CUDA_VISIBLE_DEVICES hides some of the GPUs nvidia-smi lists")
    listed = [
        line.split(": ", 1)[1].rsplit(" (UUID", 1)[0]
        for line in _command("nvidia-smi", "-L").splitlines()
        if line.startswith("GPU ")
    ]
    assert device.gpu_names() == listed


def test_cpu_name_is_the_model_name_lscpu_reports() -> None:
    models = [
        line.split(":", 1)[1].strip()
        for line in _command("lscpu").splitlines()
        if line.startswith("Model name:")
    ]
    if not models:
        pytest.skip("lscpu reports no model name")
    assert device.cpu_name() == models[0]


@pytest.mark.parametrize("package", ["keras", "numpy", "tensorflow"])
def test_environment_names_the_installed_versions(package: str) -> None:
    """The label every timing travels with agrees with the installed distributions' metadata."""
    env = device.environment()
    assert env[package] == importlib.metadata.version(package)
    assert env["backend"] == keras.backend.backend()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert datetime.datetime.fromisoformat(env["date"]).tzinfo is not None


@pytest.mark.parametrize(
    ("size", "expected"), [("48K", 49152), ("307200K", 314572800), ("2M", 2**21), ("512", 512)]
)
def test_cache_sizes_are_read_as_linux_writes_them(size: str, expected: int) -> None:
    assert device._bytes_of(size + "\n") == expected


def test_largest_cache_agrees_with_getconf() -> None:
    largest = device.largest_cache_bytes()
    assert largest is None or largest > 0
    if largest is None:
        pytest.skip("no cache sizes on this system")
    sizes = [
        int(line.split()[1])
        for line in _command("getconf", "-a").splitlines()
        if "CACHE_SIZE" in line and len(line.split()) == 2 and line.split()[1].isdigit()
    ]
    if not sizes:
        pytest.skip("getconf reports no cache sizes")
    assert largest == max(sizes)


@pytest.mark.parametrize(
    ("capability", "enabled", "expected"),
    [((9, 0), True, True), ((8, 0), True, True), ((7, 5), True, False), ((9, 0), False, False)],
)
def test_tf32_follows_the_gpu_and_the_setting(
    monkeypatch: pytest.MonkeyPatch, capability: tuple, enabled: bool, expected: bool
) -> None:
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: {"device_name": "Test GPU", "compute_capability": capability},
    )
    monkeypatch.setattr(
        tf.config.experimental, "tensor_float_32_execution_enabled", lambda: enabled
    )
    assert device.tf32_matmuls() is expected


def test_no_tf32_without_a_gpu() -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    assert device.tf32_matmuls() is False
