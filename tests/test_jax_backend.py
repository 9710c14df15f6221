"""The timing code on Keras' JAX backend, in an environment without TensorFlow.

The GPU sweep of *Where the time goes* runs where TensorFlow may be absent: Keras on JAX
(``KERAS_BACKEND=jax``). This test makes a small virtual environment with Keras, JAX on the CPU
and NumPy at the book's pinned versions, and the package without its TensorFlow dependency; then
it runs the sweep's command there and reads the file it wrote here, where TensorFlow is.
Needs the package index (pip).
"""

from __future__ import annotations

import json
import os
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from fresh_venv import fresh_venv

from sciml_nn.where_the_time_goes import load_sweep, sweep_table

ROOT = Path(__file__).resolve().parents[1]
JAX = ["jax==0.10.2", "jaxlib==0.10.2"]  # CPU wheels; the versions the GPU sweep was tried with


@pytest.fixture(scope="module")
def jax_python(tmp_path_factory) -> Path:
    """A Python with Keras and JAX but no TensorFlow, and the package installed without it."""
    home = tmp_path_factory.mktemp("jax-backend")
    python, constraints, source = fresh_venv(home)
    pip = [python, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "keras", "numpy", *JAX, "-c", constraints], check=True)
    subprocess.run([*pip, "--no-deps", str(source)], check=True)
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["KERAS_BACKEND"] = "jax"
    return subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_environment_has_jax_and_no_tensorflow(jax_python, tmp_path):
    probe = (
        "import importlib.util as u, keras, sciml_nn\n"
        "print(keras.backend.backend(), u.find_spec('tensorflow') is None)\n"
    )
    result = _run(jax_python, "-c", probe, cwd=tmp_path)
    assert result.stdout.split() == ["jax", "True"], result.stderr


def test_the_sweep_runs_on_jax_and_counts_as_the_formula_says(jax_python, tmp_path):
    out = tmp_path / "timing-jax-cpu.json"
    result = _run(
        jax_python, "-m", "sciml_nn.where_the_time_goes", "--quick", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = load_sweep(out)
    assert figures["backend"] == "jax"
    assert figures["tf32"] is None  # a property of TensorFlow on NVIDIA GPUs only
    assert {step["mode"] for step in figures["steps"]} == {"eager", "graph", "xla"}
    for step in figures["steps"]:
        layer_sizes, batch = step["layer_sizes"], step["batch"]
        # forward 2B n_{k-1} n_k per layer, backward twice that (eq-step-flops)
        products = sum(a * b for a, b in pairwise(layer_sizes))
        assert step["flops"] == 6 * batch * products
        assert step["seconds_per_step"] > 0
    assert figures["matmul_peak"]["float32"] > 0 and figures["memory_bandwidth"] > 0
    rows = sweep_table(figures, "float32").splitlines()[2:]  # one per width and batch
    assert len(rows) == len({(s["layer_sizes"][0], s["batch"]) for s in figures["steps"]})
    json.dumps(figures)  # the file is plain JSON, as committed sweeps are
