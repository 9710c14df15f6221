"""Tests of sciml_nn.where_the_time_goes: the timed step is Keras' own SGD step, its time is of
the order of Keras' own, and the sweep's files carry their label. Never speed."""

from __future__ import annotations

import ast
import importlib.util
import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn import where_the_time_goes
from sciml_nn.core import device
from sciml_nn.core.device import device_description, time_callable
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.where_the_time_goes_roofline import DTYPES, MODES, matmul_peak

SMALL = [8, 32, 32, 1]


@pytest.mark.parametrize("mode", MODES)
def test_training_step_takes_an_sgd_step_on_the_mse(mode: str) -> None:
    """The timed step is SGD on the MSE: one step equals Keras' own SGD train_on_batch."""
    model = keras_mlp(SMALL, seed=3)
    reference = keras_mlp(SMALL, seed=3)
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
    y = np.random.default_rng(2).normal(size=(16, 1)).astype("float32")
    step = where_the_time_goes.sgd_step(model, mode, learning_rate=0.1)
    step(x, y)
    reference.train_on_batch(x, y)
    for ours, theirs in zip(model.trainable_variables, reference.trainable_variables):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_training_step_time_is_the_order_of_train_on_batch() -> None:
    """The graph step and Keras' train_on_batch do the same work: their times agree within 10x."""
    layer_sizes, batch = [128, 256, 256, 1], 256
    ours = where_the_time_goes.time_training_step(layer_sizes, batch, mode="graph", repeats=7)
    model = keras_mlp(layer_sizes)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    x = np.random.default_rng(0).normal(size=(batch, layer_sizes[0])).astype("float32")
    y = np.zeros((batch, 1), "float32")
    keras_seconds = time_callable(lambda: model.train_on_batch(x, y), repeats=7, warmup=2)["median"]
    assert 0.1 < keras_seconds / ours["seconds_per_step"] < 10


def test_no_step_beats_the_measured_peak() -> None:
    """A bound: the step's matrix products cannot run faster than the fastest matmul."""
    peak = matmul_peak()
    assert peak > 0
    for mode in ("graph", "xla"):
        step = where_the_time_goes.time_training_step([128, 256, 256, 1], 256, mode, repeats=5)
        assert step["flops_per_second"] <= 1.5 * peak


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_step_runs_in_every_dtype(dtype: str) -> None:
    """Reading a bfloat16 result back must work too (NumPy has no bfloat16 of its own)."""
    step = where_the_time_goes.time_training_step([4, 8, 1], 16, "graph", dtype, repeats=2)
    assert (step["dtype"], step["mode"], step["layer_sizes"]) == (dtype, "graph", [4, 8, 1])
    assert step["seconds_per_step"] > 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: where_the_time_goes.time_training_step([3, 2], -1),
            ValueError,
            "batch must be a positive int; got -1",
        ),
        (
            lambda: where_the_time_goes.time_training_step([3], 4),
            ValueError,
            "layer_sizes needs at least an input",
        ),
        (
            lambda: where_the_time_goes.time_training_step([3, 2], 4, mode="fast"),
            ValueError,
            "mode must be one of",
        ),
        (
            lambda: where_the_time_goes.time_training_step([3, 2], 4, dtype="int8"),
            ValueError,
            "dtype must be one of",
        ),
        (
            lambda: where_the_time_goes.time_training_step([3, 2], 4, warmup=0),
            ValueError,
            "warmup must be a positive int",
        ),
        (
            lambda: where_the_time_goes.sgd_step(keras_mlp([3, 2]), "graph", learning_rate=0.0),
            ValueError,
            r"learning_rate must be a finite number > 0",
        ),
        (
            lambda: where_the_time_goes.sgd_step(keras_mlp([3, 2]), "graph", learning_rate="1"),
            TypeError,
            "learning_rate must be a float",
        ),
    ],
)
def test_bad_input_is_named(call: Callable, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_main_writes_figures_with_their_label(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's JSON carries device, backend, versions and date beside its figures."""
    monkeypatch.setattr(where_the_time_goes, "matmul_peak", lambda dtype="float32": 1e12)
    monkeypatch.setattr(where_the_time_goes, "memory_bandwidth", lambda: 1e10)
    monkeypatch.setattr(
        where_the_time_goes,
        "time_training_step",
        lambda layer_sizes, batch, mode, dtype, repeats: {
            "layer_sizes": layer_sizes,
            "batch": batch,
            "mode": mode,
            "dtype": dtype,
            "flops_per_second": 1e9,
        },
    )
    out = tmp_path / "figures.json"
    where_the_time_goes.main(["--out", str(out), "--quick"])
    figures = json.loads(out.read_text())
    assert figures["device"] == device_description()
    assert figures["backend"] == keras.backend.backend()
    assert figures["tensorflow"] == tf.__version__ and figures["keras"] == keras.__version__
    assert figures["date"][:4].isdigit()
    assert figures["tf32"] == device.tf32_matmuls()
    assert {step["mode"] for step in figures["steps"]} == set(MODES)
    assert all(step["fraction_of_peak"] == pytest.approx(1e-3) for step in figures["steps"])


def _top_level_imports(module: str) -> set[str]:
    """The modules a package module imports when it is imported (not inside its functions)."""
    path = Path(importlib.util.find_spec(module).origin)
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_importing_the_module_imports_no_tensorflow() -> None:
    """Neither the module nor any package module it imports, however indirectly, imports
    TensorFlow when imported, so it loads under Keras' JAX backend where TensorFlow is absent."""
    seen, todo = set(), ["sciml_nn.where_the_time_goes"]
    while todo:
        module = todo.pop()
        seen.add(module)
        imported = _top_level_imports(module)
        assert not any(name.split(".")[0] == "tensorflow" for name in imported), module
        todo += [m for m in imported if m.startswith("sciml_nn.") and m not in seen]
    assert "sciml_nn.core.device" in seen


def _fake_sweep() -> dict:
    figures = {
        **device.environment(),
        "matmul_peak": {"float32": 1e12, "bfloat16": 4e12},
        "memory_bandwidth": 1e11,
        "steps": [],
    }
    for dtype, rate in [("float32", 5e11), ("bfloat16", 1e12)]:
        for mode in MODES[1:]:  # eager left out: its cells must show a dash
            figures["steps"].append(
                {
                    "layer_sizes": [64, 64, 64, 1],
                    "batch": 32,
                    "mode": mode,
                    "dtype": dtype,
                    "seconds_per_step": 0.0125,
                    "flops_per_second": rate,
                }
            )
    return figures


def test_sweep_table_gives_time_and_percent_of_its_own_peak() -> None:
    figures = _fake_sweep()
    table = where_the_time_goes.sweep_table(figures, "float32").splitlines()
    assert table[0] == "| width n | batch | eager | graph | xla |"
    assert table[2] == "| 64 | 32 | – | 12.5 ms (50 %) | 12.5 ms (50 %) |"
    assert "(25 %)" in where_the_time_goes.sweep_table(figures, "bfloat16")  # 1e12 of a 4e12 peak


def test_load_sweep_reads_what_main_writes_and_rejects_an_unlabelled_file(tmp_path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_fake_sweep()))
    assert where_the_time_goes.load_sweep(good)["matmul_peak"]["bfloat16"] == 4e12
    bad.write_text(json.dumps({k: v for k, v in _fake_sweep().items() if k != "device"}))
    with pytest.raises(ValueError, match=r"lacks \['device'\]"):
        where_the_time_goes.load_sweep(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(
        ValueError, match="expected the JSON of python -m sciml_nn.where_the_time_goes"
    ):
        where_the_time_goes.load_sweep(bad)
    with pytest.raises(ValueError, match="the sweep has no float64 peak"):
        where_the_time_goes.sweep_table(_fake_sweep(), "float64")
    with pytest.raises(ValueError, match="dtype must be one of"):
        where_the_time_goes.sweep_table(_fake_sweep(), "float8")
    with pytest.raises(TypeError, match="dtype must be a str"):
        where_the_time_goes.sweep_table(_fake_sweep(), 32)


def test_committed_sweeps_reads_sorted_timing_files_and_checks_them(tmp_path) -> None:
    (tmp_path / "timing-b-gpu.json").write_text(json.dumps(_fake_sweep()))
    (tmp_path / "timing-a-gpu.json").write_text(json.dumps(_fake_sweep()))
    (tmp_path / "README.md").write_text("not a sweep")
    (tmp_path / "other.json").write_text("[1, 2]")  # not named timing-*: ignored
    sweeps = where_the_time_goes.committed_sweeps(tmp_path)
    assert [name for name, _ in sweeps] == ["timing-a-gpu.json", "timing-b-gpu.json"]
    assert all(figures["matmul_peak"]["bfloat16"] == 4e12 for _, figures in sweeps)
    assert where_the_time_goes.committed_sweeps(str(tmp_path / "missing")) == []
    (tmp_path / "timing-c.json").write_text(json.dumps({"steps": []}))
    with pytest.raises(ValueError, match=r"timing-c.json lacks \['device'"):
        where_the_time_goes.committed_sweeps(tmp_path)
    with pytest.raises(TypeError, match="folder must be a path or None; got int"):
        where_the_time_goes.committed_sweeps(3)


def test_committed_sweeps_default_to_the_package_folder() -> None:
    """The default folder is sciml_nn/sweeps, found by importlib.resources."""
    folder = Path(where_the_time_goes.__file__).parent / where_the_time_goes.SWEEPS
    assert folder.is_dir()
    assert where_the_time_goes.committed_sweeps() == where_the_time_goes.committed_sweeps(folder)


def test_sweeps_are_package_data() -> None:
    """pip install ships sciml_nn/sweeps/*.json (a notebook reads no repository file)."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "sweeps/*.json" in pyproject["tool"]["setuptools"]["package-data"]["sciml_nn"]
