"""Tests of sciml_nn.distributed: two replicas train the network one device trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.distributed import (
    fit_mirrored,
    local_batch_size,
    replica_devices,
    scaled_learning_rate,
    split_cpu,
    train_mirrored,
)

# pytest's process has run TensorFlow operations already, which fixes its logical devices, so the
# two-replica runs happen in a fresh interpreter, where split_cpu comes before any operation.
TWO_REPLICAS = """
import sciml_nn
from sciml_nn.distributed import split_cpu, mirrored_strategy, train_mirrored, fit_mirrored
import json
import numpy as np
split_cpu(2)
x = np.random.default_rng(0).uniform(-1, 1, (320, 2))
y = np.sum(x**2, axis=1, keepdims=True)
result = {}
for name, train in [("loop", train_mirrored), ("fit", fit_mirrored)]:
    w1, loss1 = train(None, x, y, [2, 16, 16, 1], 32, 50, seed=3)
    w2, loss2 = train(mirrored_strategy(2), x, y, [2, 16, 16, 1], 32, 50, seed=3)
    result[name] = {
        "weights": max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)),
        "loss": float(np.max(np.abs(loss1 - loss2))), "last_loss": float(loss1[-1]),
        "first_loss": float(loss1[0]),
    }
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def two_replicas() -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, env=env,
        timeout=300, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["loop", "fit"])
def test_two_replicas_give_the_weights_of_one_device(two_replicas: dict, how: str) -> None:
    """The bar: MirroredStrategy over 2 logical CPUs matches 1 device to 1e-5 after 50 steps."""
    result = two_replicas[how]
    assert result["weights"] < 1e-5
    assert result["loss"] < 1e-5
    assert result["last_loss"] < 0.8 * result["first_loss"]  # it trained: the steps were real


def test_split_cpu_after_the_first_operation_is_a_clear_error() -> None:
    code = (
        "import sciml_nn, tensorflow as tf\n"
        "from sciml_nn.distributed import split_cpu\n"
        "print(split_cpu(1))\n"  # the same number as TensorFlow's default: harmless
        "tf.constant(1.0) + 1.0\n"
        "try:\n"
        "    split_cpu(2)\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
        check=True,
    )
    first, message = done.stdout.strip().splitlines()[-2:]
    assert first == "['/device:CPU:0']"
    assert "split_cpu(2) must run before TensorFlow's first operation" in message
    assert "already fixed 1 logical CPU(s)" in message


def _problem(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(1).uniform(-1, 1, (n, 2))
    return x, np.sum(x**2, axis=1, keepdims=True)


def test_custom_loop_matches_keras_fit_on_one_device() -> None:
    """The hand-written step (strategy.run + strategy.reduce) is Keras' own SGD step."""
    x, y = _problem()
    w_loop, _ = train_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=8, seed=2)
    w_fit, _ = fit_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=8, seed=2)
    for a, b in zip(w_loop, w_fit):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_first_reduced_loss_is_the_global_mean_squared_error() -> None:
    """The SUM-reduced per-replica losses are the MSE of the untrained network, eq-global-loss."""
    x, y = _problem()
    _, losses = train_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=1, seed=2)
    from sciml_nn.networks import keras_mlp

    model = keras_mlp([2, 8, 1], seed=2)
    expected = np.mean((np.asarray(model(x[:16].astype("float32"))) - y[:16]) ** 2)
    assert losses[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("global_batch", "replicas", "expected"), [(32, 1, 32), (32, 2, 16), (96, 8, 12)]
)
def test_local_batch_size(global_batch: int, replicas: int, expected: int) -> None:
    assert local_batch_size(global_batch, replicas) == expected


def test_linear_scaling_rule() -> None:
    assert scaled_learning_rate(0.1, 256, 8192) == pytest.approx(3.2)  # Goyal et al.'s k = 32
    assert scaled_learning_rate(0.05, 32, 32) == pytest.approx(0.05)


def test_replica_devices_on_one_cpu() -> None:
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present: replicas are GPUs")
    assert replica_devices(1) == [tf.config.list_logical_devices("CPU")[0].name]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: local_batch_size(30, 4), ValueError, "global_batch must be divisible by replicas"),
        (lambda: local_batch_size(32, 0), ValueError, "replicas must be a positive int"),
        (lambda: local_batch_size(32.0, 2), TypeError, "global_batch must be an int"),
        (lambda: split_cpu(0), ValueError, "replicas must be a positive int"),
        (lambda: split_cpu(True), TypeError, "replicas must be an int"),
        (lambda: replica_devices(10_000), ValueError, "call split_cpu"),
        (lambda: scaled_learning_rate(-0.1, 32, 64), ValueError, "base_rate must be positive"),
        (lambda: scaled_learning_rate("0.1", 32, 64), TypeError, "base_rate must be a float"),
        (lambda: scaled_learning_rate(0.1, 0, 64), ValueError, "base_batch must be a positive"),
        (lambda: train_mirrored("gpu", *_problem(), [2, 8, 1], 16, 4), TypeError,
         "strategy must be a tf.distribute.Strategy"),
        (lambda: train_mirrored(None, *_problem(), [3, 8, 1], 16, 4), ValueError,
         "x and y must have 3 and 1 columns"),
        (lambda: train_mirrored(None, *_problem(60), [2, 8, 1], 16, 4), ValueError,
         "number of samples must be divisible by global_batch"),
        (lambda: train_mirrored(None, *_problem(), [2, 8, 1], 16, 0), ValueError,
         "steps must be a positive int"),
        (lambda: fit_mirrored(None, *_problem(), [2, 8, 1], 16, 6), ValueError,
         "steps must be a multiple of len"),
    ],
)
def test_bad_input_is_named(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
