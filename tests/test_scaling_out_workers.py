"""Tests of sciml_nn.scaling_out_workers: two worker processes train the network one process
trains, and no worker outlives the call."""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn import scaling_out_workers
from sciml_nn.core.data import squared_norm
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.scaling_out import fit_mirrored
from sciml_nn.scaling_out_workers import free_ports, tf_config, train_workers

LAYERS, BATCH, STEPS = [2, 8, 8, 1], 16, 20


def _problem(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(4).uniform(-1, 1, (n, 2))
    return x, squared_norm(x)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every process train_workers starts, to check afterwards that none still runs."""
    processes: list = []
    start = scaling_out_workers.start_workers

    def recording_start(*args: object) -> list:
        processes.extend(start(*args))
        return processes

    monkeypatch.setattr(scaling_out_workers, "start_workers", recording_start)
    return processes


@pytest.fixture
def fake_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that import no TensorFlow: worker 1 fails at once, saying its index and threads;
    worker 0 waits for a peer that never answers, as a real one would."""
    script = (
        "import json, os, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "if index == 1:\n"
        "    print('worker', index, 'broke, threads', os.environ['OMP_NUM_THREADS'])\n"
        "    sys.exit(3)\n"
        "time.sleep(120)\n"
    )
    monkeypatch.setattr(
        scaling_out_workers, "worker_command", lambda folder: [sys.executable, "-c", script]
    )


def test_two_workers_give_the_weights_of_one_process(started: list) -> None:
    """The bar: two processes under MultiWorkerMirroredStrategy end with the weights that Keras'
    own fit gives in one process, to 1e-5, and with each other's weights exactly."""
    x, y = _problem()
    results = train_workers(x, y, LAYERS, BATCH, STEPS, workers=2, seed=5)
    reference, _ = fit_mirrored(None, x, y, LAYERS, BATCH, STEPS, seed=5)
    assert len(results) == 2 and len(started) == 2
    for result in results:
        assert len(result["weights"]) == len(reference)
        for ours, theirs in zip(result["weights"], reference):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        np.testing.assert_array_equal(a, b)  # mirrored copies never drift apart
    losses = results[0]["losses"]
    np.testing.assert_array_equal(losses, results[1]["losses"])
    assert losses.shape == (STEPS,) and losses[-1] < 0.8 * losses[0]  # the steps were real
    # the first all-reduced loss is Keras' MSE of the untrained network on the first batch
    model = keras_mlp(LAYERS, seed=5)
    model.compile(loss="mse")
    first = model.evaluate(x[:BATCH], y[:BATCH], verbose=0)
    assert losses[0] == pytest.approx(first, rel=1e-5)
    for result in results:
        assert result["step_seconds"] > 0 and result["one_process_step_seconds"] > 0
        if result["fit_error"]:  # Keras' fit failed under the strategy: no weights to compare
            assert np.isnan(result["fit_difference"])
        else:  # a Keras whose fit works under the strategy must train the same network
            assert result["fit_difference"] <= 1e-5
    assert all(process.poll() is not None for process in started)


@pytest.mark.usefixtures("fake_workers")
def test_a_failing_worker_is_named_and_no_worker_is_left(started: list) -> None:
    x, y = _problem()
    with pytest.raises(RuntimeError, match="worker 1 exited with status 3: worker 1 broke"):
        train_workers(x, y, LAYERS, BATCH, STEPS, timeout=60)
    assert len(started) == 2
    assert all(process.poll() is not None for process in started)
    assert started[0].returncode != 0  # the waiting worker was stopped, not left waiting


@pytest.mark.usefixtures("fake_workers")
def test_the_failing_worker_ran_on_one_thread(started: list) -> None:
    x, y = _problem()
    with pytest.raises(RuntimeError, match="threads 1$"):
        train_workers(x, y, LAYERS, BATCH, STEPS, timeout=60)


def test_a_timeout_stops_every_worker(started: list, monkeypatch: pytest.MonkeyPatch) -> None:
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    monkeypatch.setattr(scaling_out_workers, "worker_command", lambda folder: sleep)
    x, y = _problem()
    with pytest.raises(RuntimeError, match="did not finish within 0.5 s"):
        train_workers(x, y, LAYERS, BATCH, STEPS, timeout=0.5)
    assert len(started) == 2
    assert all(process.poll() is not None for process in started)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_tf_config_is_read_by_tensorflow(monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    """TensorFlow's own resolver finds the cluster and the task in what tf_config writes."""
    ports = [2001, 2002, 2003]
    monkeypatch.setenv("TF_CONFIG", tf_config(ports, index))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert resolver.cluster_spec().as_dict() == {
        "worker": ["127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"]
    }
    assert (resolver.task_type, resolver.task_id) == ("worker", index)
    assert json.loads(tf_config(ports, index))["task"] == {"type": "worker", "index": index}


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises OSError if taken


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"workers": 0}, ValueError, "workers must be a positive int; got 0"),
        ({"workers": 3}, ValueError, "global_batch must be divisible by replicas; got 16 and 3"),
        ({"workers": 2.0}, TypeError, "workers must be an int; got float"),
        ({"global_batch": 24}, ValueError, "samples must be divisible by global_batch"),
        ({"steps": 0}, ValueError, "steps must be a positive int; got 0"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate must be a finite number > 0"),
        ({"timeout": 0.0}, ValueError, "timeout must be a finite number > 0"),
        ({"layer_sizes": [3, 8, 1]}, ValueError, "x and y must have 3 and 1 columns"),
        (
            {"x": np.zeros((64, 2, 1))},
            ValueError,
            r"x and y must be 2-D \(n, d\) arrays; got shapes \(64, 2, 1\)",
        ),
        ({"x": np.full((64, 2), np.nan)}, ValueError, "x must be finite; got NaN or inf entries"),
    ],
)
def test_bad_arguments_are_clear_errors_before_any_worker_starts(
    started: list, kwargs: dict, error: type, match: str
) -> None:
    x, y = _problem()
    arguments = {"x": x, "y": y, "layer_sizes": LAYERS, "global_batch": BATCH, "steps": STEPS}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        train_workers(**arguments)
    assert started == []


def test_tf_config_index_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"index must be below the number of workers \(2\); got 2"):
        tf_config([2001, 2002], 2)
