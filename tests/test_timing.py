"""Tests of sciml_nn.timing: it counts calls and reports consistent statistics. Never speed."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import keras
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
    name = timing.cpu_name()
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


# --- The roofline and the training step (Part 7, "Where the time goes") ---

SMALL = [8, 32, 32, 1]


@pytest.mark.parametrize(
    ("widths", "batch"), [([1, 1], 1), ([2, 3], 5), ([8, 32, 32, 1], 64), ([3, 7, 11, 5, 2], 9)]
)
def test_dense_step_flops_is_six_batch_sum_of_products(widths: list[int], batch: int) -> None:
    expected = 6 * batch * sum(widths[i] * widths[i + 1] for i in range(len(widths) - 1))
    assert timing.dense_step_flops(widths, batch) == expected


def test_dense_step_flops_counts_keras_weights() -> None:
    """The sum of n_i n_{i+1} is the number of kernel entries of the Keras model."""
    model = timing.dense_model([5, 16, 8, 2])
    kernels = sum(int(np.prod(v.shape)) for v in model.trainable_variables if v.ndim == 2)
    assert timing.dense_step_flops([5, 16, 8, 2], 10) == 6 * 10 * kernels


def test_dense_model_matches_its_formula() -> None:
    """tanh hidden layers and a linear output, checked against NumPy."""
    model = timing.dense_model([3, 4, 2], seed=1)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    (W1, b1), (W2, b2) = [(layer.kernel.numpy(), layer.bias.numpy()) for layer in model.layers]
    expected = np.tanh(x @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", timing.MODES)
def test_training_step_figures_are_consistent(mode: str) -> None:
    result = timing.time_training_step(SMALL, 64, mode=mode, repeats=3)
    assert result["flops"] == timing.dense_step_flops(SMALL, 64)
    assert result["seconds_per_step"] > 0
    assert result["flops_per_second"] * result["seconds_per_step"] == pytest.approx(
        result["flops"], rel=1e-12
    )


@pytest.mark.parametrize("mode", timing.MODES)
def test_training_step_takes_an_sgd_step_on_the_mse(mode: str) -> None:
    """The timed step is SGD on the MSE: one step equals Keras' own SGD train_on_batch."""
    model = timing.dense_model(SMALL, seed=3)
    reference = timing.dense_model(SMALL, seed=3)
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
    y = np.random.default_rng(2).normal(size=(16, 1)).astype("float32")
    step = timing.sgd_step(model, mode, learning_rate=0.1)
    step(x, y)
    reference.train_on_batch(x, y)
    for ours, theirs in zip(model.trainable_variables, reference.trainable_variables):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_training_step_time_is_the_order_of_train_on_batch() -> None:
    """The graph step and Keras' train_on_batch do the same work: their times agree within 10x."""
    widths, batch = [128, 256, 256, 1], 256
    ours = timing.time_training_step(widths, batch, mode="graph", repeats=7)["seconds_per_step"]
    model = timing.dense_model(widths)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    x = np.random.default_rng(0).normal(size=(batch, widths[0])).astype("float32")
    y = np.zeros((batch, 1), "float32")
    keras_seconds = time_callable(lambda: model.train_on_batch(x, y), repeats=7, warmup=2)["median"]
    assert 0.1 < keras_seconds / ours < 10


def test_no_step_beats_the_measured_peak() -> None:
    """A bound: the step's matrix products cannot run faster than the fastest matmul."""
    peak = timing.matmul_peak()
    assert peak > 0
    for mode in ("graph", "xla"):
        rate = timing.time_training_step([128, 256, 256, 1], 256, mode=mode, repeats=5)
        assert rate["flops_per_second"] <= 1.5 * peak


def test_matmul_peak_is_the_best_rate_of_its_sizes() -> None:
    """The peak over sizes (64, 128) is at least the rate of one 128 product timed by hand."""
    a = keras.random.normal((128, 128), seed=0)
    seconds = time_callable(lambda: keras.ops.matmul(a, a), repeats=5)["median"]
    peak = timing.matmul_peak(sizes=(64, 128), repeats=5)
    assert peak >= 0.5 * 2 * 128**3 / seconds
    assert peak < 1e16  # no device does 10 PFLOP/s: a wrong FLOP count would show


def test_memory_bandwidth_is_positive_and_finite() -> None:
    bandwidth = timing.memory_bandwidth(megabytes=8, repeats=3)
    assert 1e6 < bandwidth < 1e14


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: timing.dense_step_flops([], 4), "widths must list at least"),
        (lambda: timing.dense_step_flops([3], 4), "widths must list at least"),
        (lambda: timing.dense_step_flops([3, 0], 4), r"widths\[1\] must be a positive int; got 0"),
        (lambda: timing.dense_step_flops([3, 2], 0), "batch must be a positive int; got 0"),
        (lambda: timing.time_training_step([3, 2], -1), "batch must be a positive int; got -1"),
        (lambda: timing.time_training_step([3, 2], 4, mode="fast"), "mode must be one of"),
        (lambda: timing.time_training_step([3, 2], 4, dtype="int8"), "dtype must be one of"),
        (lambda: timing.matmul_peak("float8"), "dtype must be one of"),
        (lambda: timing.matmul_peak(sizes=(0,)), "size must be a positive int; got 0"),
        (lambda: timing.memory_bandwidth(megabytes=0), "megabytes must be a positive int"),
    ],
)
def test_bad_input_raises_value_error(call: Callable, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_main_writes_figures_with_their_label(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's JSON carries device, backend, versions and date beside consistent figures."""
    monkeypatch.setattr(timing, "matmul_peak", lambda dtype="float32": 1e12)
    monkeypatch.setattr(timing, "memory_bandwidth", lambda: 1e10)
    monkeypatch.setattr(
        timing, "time_training_step",
        lambda widths, batch, mode, dtype, repeats: {
            "widths": widths, "batch": batch, "mode": mode, "dtype": dtype,
            "flops": timing.dense_step_flops(widths, batch), "flops_per_second": 1e9,
        },
    )
    out = tmp_path / "figures.json"
    timing.main(["--out", str(out), "--quick"])
    figures = json.loads(out.read_text())
    assert figures["device"] == device_description()
    assert figures["backend"] == keras.backend.backend()
    assert figures["tensorflow"] == tf.__version__ and figures["keras"] == keras.__version__
    assert figures["date"][:4].isdigit()
    assert figures["tf32"] == timing.tf32_matmuls()
    assert len(figures["steps"]) == 3 * 2 * 3
    assert all(step["fraction_of_peak"] == pytest.approx(1e-3) for step in figures["steps"])


def test_package_imports_without_tensorflow() -> None:
    """With TensorFlow missing (as on a JAX-only machine), `import sciml_nn` still works."""
    code = "import sys; sys.modules['tensorflow'] = None; import sciml_nn; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout == "ok\n", result.stderr


def test_timing_imports_tensorflow_only_inside_functions() -> None:
    """No module-level TensorFlow import, so the module loads under Keras' JAX backend."""
    tree = ast.parse(Path(timing.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top for a in n.names] + [getattr(n, 'module', None) or '' for n in top]
    assert names and not any(name.startswith("tensorflow") for name in names)


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed in this environment"
)
def test_timing_runs_under_the_jax_backend() -> None:
    code = (
        "from sciml_nn import timing\n"
        "assert timing.keras.backend.backend() == 'jax'\n"
        "r = timing.time_training_step([8, 32, 1], 16, mode='xla', repeats=2)\n"
        "e = timing.time_training_step([8, 32, 1], 16, mode='eager', repeats=2)\n"
        "print(r['flops'], timing.dense_step_flops([8, 32, 1], 16), e['flops'],\n"
        "      abs(r['flops_per_second'] * r['seconds_per_step'] / r['flops'] - 1) < 1e-9)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    flops = 6 * 16 * (8 * 32 + 32 * 1)
    assert result.stdout.split() == [str(flops)] * 3 + ["True"], result.stderr


@pytest.mark.parametrize(("dtype", "size"), [("float16", 2), ("float32", 4), ("float64", 8)])
def test_dense_step_bytes_is_its_formula(dtype: str, size: int) -> None:
    widths, batch = [3, 5, 2], 7
    expected = size * (4 * (3 * 5 + 5 * 2) + 3 * batch * (3 + 5 + 2))
    assert timing.dense_step_bytes(widths, batch, dtype) == expected
    with pytest.raises(ValueError, match="dtype must be one of"):
        timing.dense_step_bytes(widths, batch, "int4")


@pytest.mark.parametrize("dtype", timing.DTYPES)
def test_training_step_runs_in_every_dtype(dtype: str) -> None:
    """Reading a bfloat16 result back must work too (NumPy has no bfloat16 of its own)."""
    result = timing.time_training_step([4, 8, 1], 16, mode="graph", dtype=dtype, repeats=2)
    assert result["dtype"] == dtype and result["flops"] == 6 * 16 * (4 * 8 + 8)
    assert result["flops_per_second"] * result["seconds_per_step"] == pytest.approx(result["flops"])


def _fake_sweep() -> dict:
    figures = {**timing.environment(), "matmul_peak": {"float32": 1e12, "bfloat16": 4e12},
               "memory_bandwidth": 1e11, "steps": []}
    for dtype, rate in [("float32", 5e11), ("bfloat16", 1e12)]:
        for mode in timing.MODES[1:]:  # eager left out: its cells must show a dash
            flops = timing.dense_step_flops([64, 64, 64, 1], 32)
            figures["steps"].append({"widths": [64, 64, 64, 1], "batch": 32, "mode": mode,
                                     "dtype": dtype, "flops": flops, "flops_per_second": rate})
    return figures


def test_sweep_table_gives_time_and_percent_of_its_own_peak() -> None:
    figures = _fake_sweep()
    seconds = timing.dense_step_flops([64, 64, 64, 1], 32) / 5e11
    table = timing.sweep_table(figures, "float32").splitlines()
    assert table[0] == "| width n | batch | eager | graph | xla |"
    assert table[2] == f"| 64 | 32 | – | {1e3 * seconds:.3g} ms (50 %) | {1e3 * seconds:.3g} ms (50 %) |"
    assert "(25 %)" in timing.sweep_table(figures, "bfloat16")  # 1e12 of a 4e12 peak


def test_load_sweep_reads_what_main_writes_and_rejects_an_unlabelled_file(tmp_path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_fake_sweep()))
    assert timing.load_sweep(good)["matmul_peak"]["bfloat16"] == 4e12
    bad.write_text(json.dumps({k: v for k, v in _fake_sweep().items() if k != "device"}))
    with pytest.raises(ValueError, match=r"lacks \['device'\]"):
        timing.load_sweep(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected the JSON of python -m sciml_nn.timing"):
        timing.load_sweep(bad)
    with pytest.raises(ValueError, match="the sweep has no float64 peak"):
        timing.sweep_table(_fake_sweep(), "float64")
    with pytest.raises(ValueError, match="dtype must be one of"):
        timing.sweep_table(_fake_sweep(), "float8")
    with pytest.raises(TypeError, match="dtype must be a str"):
        timing.sweep_table(_fake_sweep(), 32)


# --- Sweeps committed as package data, and what the roofline's labels need ---


def test_committed_sweeps_reads_sorted_timing_files_and_checks_them(tmp_path) -> None:
    (tmp_path / "timing-b-gpu.json").write_text(json.dumps(_fake_sweep()))
    (tmp_path / "timing-a-gpu.json").write_text(json.dumps(_fake_sweep()))
    (tmp_path / "README.md").write_text("not a sweep")
    (tmp_path / "other.json").write_text("[1, 2]")  # not named timing-*: ignored
    sweeps = timing.committed_sweeps(tmp_path)
    assert [name for name, _ in sweeps] == ["timing-a-gpu.json", "timing-b-gpu.json"]
    assert all(figures["matmul_peak"]["bfloat16"] == 4e12 for _, figures in sweeps)
    assert timing.committed_sweeps(str(tmp_path / "missing")) == []
    (tmp_path / "timing-c.json").write_text(json.dumps({"steps": []}))
    with pytest.raises(ValueError, match=r"timing-c.json lacks \['device'"):
        timing.committed_sweeps(tmp_path)
    with pytest.raises(TypeError, match="folder must be a path or None; got int"):
        timing.committed_sweeps(3)


def test_committed_sweeps_default_to_the_package_folder() -> None:
    """The default folder is sciml_nn/sweeps, found by importlib.resources."""
    folder = Path(timing.__file__).parent / timing.SWEEPS
    assert folder.is_dir()
    assert timing.committed_sweeps() == timing.committed_sweeps(folder)


def test_sweeps_are_package_data() -> None:
    """pip install ships sciml_nn/sweeps/*.json (a notebook reads no repository file)."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "sweeps/*.json" in pyproject["tool"]["setuptools"]["package-data"]["sciml_nn"]


@pytest.mark.parametrize(
    ("size", "expected"), [("48K", 49152), ("307200K", 314572800), ("2M", 2**21), ("512", 512)]
)
def test_cache_sizes_are_read_as_linux_writes_them(size: str, expected: int) -> None:
    assert timing._bytes_of(size + "\n") == expected


def test_largest_cache_agrees_with_getconf() -> None:
    largest = timing.largest_cache_bytes()
    assert largest is None or largest > 0
    if largest is None or shutil.which("getconf") is None:
        pytest.skip("no cache sizes on this system")
    sizes = [
        int(line.split()[1])
        for line in subprocess.run(["getconf", "-a"], capture_output=True, text=True,
                                   check=False).stdout.splitlines()
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
        tf.config.experimental, "get_device_details",
        lambda device: {"device_name": "Test GPU", "compute_capability": capability},
    )
    monkeypatch.setattr(
        tf.config.experimental, "tensor_float_32_execution_enabled", lambda: enabled
    )
    assert timing.tf32_matmuls() is expected


def test_no_tf32_without_a_gpu() -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    assert timing.tf32_matmuls() is False
