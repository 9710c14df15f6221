"""Timing that says what it measured and where: a dense training step in
eager, graph and XLA mode, and sweeps of it placed against the device's
roofline (:ref:`where-the-time-goes`).

Code of the chapter *Where the time goes*
(``book/performance/where-the-time-goes.md``); the step's counts and the
device's roofs are in :mod:`sciml_nn.where_the_time_goes_roofline`.

A timing means little without the machine behind it, so every timing the book
prints comes with :func:`~sciml_nn.core.device.device_description`. The code
uses ``keras`` and ``keras.ops`` only, compiling with TensorFlow or JAX
depending on Keras' backend, and imports TensorFlow only when that backend is
``tensorflow``. ``python -m sciml_nn.where_the_time_goes --out FILE.json``
runs the sweep and writes its figures; a file committed as
``code/sciml_nn/sweeps/timing-<device>.json`` ships with the package (package
data) and :func:`committed_sweeps` reads it back.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
from keras import ops

from sciml_nn.core.checks import check_choice, check_float, check_int
from sciml_nn.core.device import (
    environment,
    gpu_present,
    keras_backend,
    tf32_matmuls,
    time_callable,
)
from sciml_nn.core.mlp import check_layer_sizes, keras_mlp
from sciml_nn.where_the_time_goes_roofline import (
    DTYPES,
    MODES,
    compile_for,
    matmul_peak,
    memory_bandwidth,
    step_rate,
)

#: The package's folder of committed sweeps, ``code/sciml_nn/sweeps`` in the
#: repository; its ``timing-*.json`` files are package data.
SWEEPS = "sweeps"


def sgd_step(
    model: keras.Model, mode: str, learning_rate: float
) -> Callable[[Any, Any], Any]:
    """One SGD step :math:`\\xi \\leftarrow \\xi - \\eta \\nabla_\\xi J` on the
    mean squared error :math:numref:`eq-mse`, as ``step(x, y)`` run as
    ``mode`` says (:func:`~sciml_nn.where_the_time_goes_roofline.compile_for`).

    Under TensorFlow it is :func:`~sciml_nn.core.training.make_train_step`
    with Keras' SGD; under JAX, which differentiates functions of arrays, it
    differentiates the model's ``stateless_call`` and returns the new weights.
    """
    learning_rate = check_float(
        "learning_rate", learning_rate, 0, low_open=True
    )
    if keras_backend() != "jax":
        from sciml_nn.core.training import make_train_step

        optimizer = keras.optimizers.SGD(learning_rate)
        step = make_train_step(
            model, model.trainable_variables, optimizer, use_tf_function=False
        )
        return compile_for(step, mode)
    import jax

    def loss(values: list, x: Any, y: Any) -> Any:
        prediction, _ = model.stateless_call(values, [], x)
        return ops.mean(ops.square(prediction - y))

    def step(values: list, x: Any, y: Any) -> list:
        gradients = jax.grad(loss)(values, x, y)
        return [v - learning_rate * g for v, g in zip(values, gradients)]

    compiled = compile_for(step, mode)
    values = [v.value for v in model.trainable_variables]  # arrays for jax

    def run(x: Any, y: Any) -> list:
        values[:] = compiled(values, x, y)
        return values

    return run


def time_training_step(
    layer_sizes: Sequence[int],
    batch: int,
    mode: str = "eager",
    dtype: str = "float32",
    repeats: int = 10,
    warmup: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Time :func:`sgd_step` for the network
    :func:`~sciml_nn.core.mlp.keras_mlp` builds, on a batch of ``batch``
    samples in ``dtype``.

    Returns :func:`~sciml_nn.where_the_time_goes_roofline.step_rate`'s figures
    for the median time of ``repeats`` steps, taken after ``warmup`` untimed
    ones (they include tracing and compiling), with the ``mode`` and
    ``dtype``.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    batch = check_int("batch", batch, 1)
    mode = check_choice("mode", mode, MODES)
    dtype = check_choice("dtype", dtype, DTYPES)
    model = keras_mlp(layer_sizes, seed=seed, dtype=dtype)
    step = sgd_step(model, mode, learning_rate=1e-3)
    x = keras.random.normal((batch, layer_sizes[0]), seed=seed, dtype=dtype)
    y = keras.random.normal(
        (batch, layer_sizes[-1]), seed=seed + 1, dtype=dtype
    )
    warmup = check_int("warmup", warmup, 1)
    run = lambda: step(x, y)
    seconds = time_callable(run, repeats=repeats, warmup=warmup)["median"]
    return {
        **step_rate(layer_sizes, batch, seconds),
        "mode": mode,
        "dtype": dtype,
    }


def run_sweep(quick: bool | None = None) -> dict[str, Any]:
    """The roofline (peak FLOP/s, bandwidth) and step throughput over width,
    batch and mode; ``"tf32"`` records whether float32 products ran in
    TensorFloat-32 (:func:`~sciml_nn.core.device.tf32_matmuls`)."""
    quick = not gpu_present() if quick is None else quick
    hidden_widths = (32, 128, 512) if quick else (32, 128, 512, 2048, 8192)
    batches = (64, 512) if quick else (64, 512, 4096)
    dtypes = ("float32",) if quick else ("float32", "bfloat16")
    peaks = {dtype: matmul_peak(dtype) for dtype in dtypes}
    steps = [
        time_training_step(
            [n, n, n, 1], batch, mode, dtype, repeats=5 if quick else 20
        )
        for dtype in dtypes
        for n in hidden_widths
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
            "sciml_nn.where_the_time_goes --out"
        )
    return figures


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Read the JSON that ``python -m sciml_nn.where_the_time_goes --out``
    wrote, checking its label and figures are there (a sweep without its device
    is no figure at all)."""
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
        milliseconds = 1e3 * step["seconds_per_step"]
        percent = 100 * step["flops_per_second"] / peak
        row = cells.setdefault((step["layer_sizes"][1], step["batch"]), {})
        row[step["mode"]] = f"{milliseconds:.3g} ms ({percent:.3g} %)"
    lines = [
        "| width n | batch | " + " | ".join(MODES) + " |",
        "|---|---|" + "---|" * len(MODES),
    ]
    for (width, batch), row in sorted(cells.items()):
        modes = " | ".join(row.get(mode, "–") for mode in MODES)
        lines.append(f"| {width} | {batch} | {modes} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """The command ``python -m sciml_nn.where_the_time_goes --out FILE.json
    [--quick]``: run :func:`run_sweep` and write its figures as JSON."""
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
