"""Data-parallel training across processes: ``MultiWorkerMirroredStrategy``
with worker processes on one machine.

Code of the chapter *Scaling out* (``book/performance/scaling-out.md``).

:func:`train_workers` starts one fresh Python process per worker, each with its
own ``TF_CONFIG``, on free ports of ``127.0.0.1``; every worker runs
:func:`train_on_worker`, the custom loop of :mod:`sciml_nn.scaling_out` under
``tf.distribute.MultiWorkerMirroredStrategy``, whose all-reduce now travels
between processes over gRPC. The launcher waits with a timeout and stops every
worker on any error, so no process outlives the call.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_float, check_int
from sciml_nn.scaling_out import (
    _batches,
    _check_problem,
    fit_mirrored,
    local_batch_size,
    time_mirrored_step,
    train_mirrored,
)

# One thread per worker for the arithmetic, so that two workers on two cores
# do not oversubscribe them; GPUs hidden, so that workers never share one.
WORKER_SETTINGS = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "CUDA_VISIBLE_DEVICES": "-1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports of ``127.0.0.1`` that were free just now
    (each bound to port 0, which lets the system choose)."""
    count = check_int("count", count, 1)
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports: Sequence[int], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers on
    ``127.0.0.1:ports[i]``."""
    ports = [check_int("port", port, 1) for port in ports]
    index = check_int("index", index, 0)
    if index >= len(ports):
        raise ValueError(
            f"index must be below the number of workers ({len(ports)}); "
            f"got {index}"
        )
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def worker_command(folder: Path) -> list[str]:
    """The command line of a worker process, which reads its problem from
    ``folder`` and writes its result there."""
    return [sys.executable, "-m", "sciml_nn.scaling_out_workers", str(folder)]


def wait_for_workers(
    workers: Sequence[subprocess.Popen], logs: Sequence[Path], timeout: float
) -> None:
    """Wait until every worker has exited with status 0; raise
    ``RuntimeError`` naming the first that failed, or the timeout.

    Whatever happens, no worker is still running when this returns or raises.
    """
    timeout = check_float("timeout", timeout, 0, low_open=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            statuses = [worker.poll() for worker in workers]
            failed = [i for i, status in enumerate(statuses) if status]
            if failed:  # a worker exited with a nonzero status
                lines = logs[failed[0]].read_text().strip().splitlines()
                raise RuntimeError(
                    f"worker {failed[0]} exited with status "
                    f"{statuses[failed[0]]}: "
                    f"{lines[-1] if lines else '(no output)'}"
                )
            if None not in statuses:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the workers did not finish within {timeout:g} s"
                )
            time.sleep(0.05)
    finally:
        stop_workers(workers)


def stop_workers(workers: Sequence[subprocess.Popen]) -> None:
    """Kill every worker still running and wait until it is gone."""
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


def start_workers(folder: Path, workers: int) -> list[subprocess.Popen]:
    """Start ``workers`` processes running :func:`train_on_worker` on
    ``folder``, each with its ``TF_CONFIG`` and ``WORKER_SETTINGS`` in its
    environment before TensorFlow starts; output goes to
    ``folder/worker<i>.log``."""
    ports = free_ports(workers)
    processes = []
    try:
        for index in range(workers):
            environment = {**os.environ, **WORKER_SETTINGS}
            environment["TF_CONFIG"] = tf_config(ports, index)
            with open(folder / f"worker{index}.log", "w") as log:
                process = subprocess.Popen(
                    worker_command(folder),
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
    except BaseException:  # stop the workers started before the failure
        stop_workers(processes)
        raise
    return processes


def train_workers(
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    global_batch: int,
    steps: int,
    workers: int = 2,
    learning_rate: float = 0.05,
    seed: int = 0,
    timeout: float = 180.0,
) -> list[dict]:
    """Train an MLP with SGD on ``workers`` processes of this machine, one
    replica each, under ``MultiWorkerMirroredStrategy``.

    Every step is :math:numref:`eq-data-parallel-step`, with the gradients
    all-reduced between the processes, :math:numref:`eq-worker-average`.
    Returns, per worker,
    its ``weights``, the ``losses`` of the steps, the median seconds of a
    distributed step (``step_seconds``) and of a one-process step on the
    global batch (``one_process_step_seconds``), and the error Keras' ``fit``
    raised under the strategy (``fit_error``, ``""`` if none; else
    ``fit_difference``, the largest difference between its weights and the
    custom loop's).
    """
    x, y, settings = _check_settings(
        x, y, layer_sizes, global_batch, steps, workers, learning_rate, seed
    )
    timeout = check_float("timeout", timeout, 0, low_open=True)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        np.savez(folder / "problem.npz", x=x, y=y)
        (folder / "settings.json").write_text(json.dumps(settings))
        processes = start_workers(folder, workers)
        logs = [folder / f"worker{i}.log" for i in range(workers)]
        wait_for_workers(processes, logs, timeout)
        return [_read_result(folder, index) for index in range(workers)]


def train_on_worker(folder: Path) -> None:
    """What every worker process runs: the custom loop of
    :func:`~sciml_nn.scaling_out.train_mirrored` under
    ``MultiWorkerMirroredStrategy``, then the timings and Keras' ``fit``.

    The strategy reads the cluster and this worker's index from
    ``TF_CONFIG``; it gives each worker its share of every global batch and
    all-reduces the gradients. The result goes to ``folder/worker<i>.npz``.
    """
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    problem = np.load(folder / "problem.npz")
    x, y = problem["x"], problem["y"]
    settings = json.loads((folder / "settings.json").read_text())
    sizes, batch = settings["layer_sizes"], settings["global_batch"]
    args = [settings[key] for key in ("steps", "learning_rate", "seed")]
    weights, losses = train_mirrored(strategy, x, y, sizes, batch, *args)
    step_seconds, one_process_step_seconds = (
        time_mirrored_step(s, x[:batch], y[:batch], sizes, repeats=20)
        for s in (strategy, None)
    )
    fit_error, fit_difference = "", np.nan
    try:
        fit_weights, _ = fit_mirrored(strategy, x, y, sizes, batch, *args)
        fit_difference = max(
            np.max(np.abs(a - b)) for a, b in zip(weights, fit_weights)
        )
    except Exception as error:  # noqa: BLE001 -- reported, not hidden
        first_line = (str(error).splitlines() or [""])[0]
        fit_error = f"{type(error).__name__}: {first_line}"
    index = strategy.cluster_resolver.task_id
    np.savez(
        folder / f"worker{index}.npz",
        *weights,
        losses=losses,
        step_seconds=step_seconds,
        one_process_step_seconds=one_process_step_seconds,
        fit_error=fit_error,
        fit_difference=fit_difference,
    )


def _check_settings(
    x: np.ndarray,
    y: np.ndarray,
    layer_sizes: Sequence[int],
    global_batch: int,
    steps: int,
    workers: int,
    learning_rate: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict]:
    _, x, y, steps = _check_problem(
        None, x, y, layer_sizes, global_batch, steps
    )
    _batches(x, y, global_batch, steps)  # len(x) divisible by global_batch
    x, y = (
        check_array(n, a, dtype=np.float32) for n, a in (("x", x), ("y", y))
    )
    local_batch_size(global_batch, check_int("workers", workers, 1))
    return (
        x,
        y,
        {
            "layer_sizes": [int(size) for size in layer_sizes],
            "global_batch": int(global_batch),
            "steps": steps,
            "learning_rate": check_float(
                "learning_rate", learning_rate, 0, low_open=True
            ),
            "seed": check_int("seed", seed),
        },
    )


def _read_result(folder: Path, index: int) -> dict:
    with np.load(folder / f"worker{index}.npz") as saved:
        count = sum(name.startswith("arr_") for name in saved.files)
        result = {name: saved[name] for name in saved.files}
    weights = [result.pop(f"arr_{i}") for i in range(count)]
    return {
        "weights": weights,
        "losses": result.pop("losses"),
        "fit_error": str(result.pop("fit_error")),
        **{name: float(value) for name, value in result.items()},
    }


if __name__ == "__main__":
    train_on_worker(Path(sys.argv[1]))
