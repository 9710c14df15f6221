"""Tests of sciml_nn.scaling_out: two replicas train the network one device trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import squared_norm
from sciml_nn.core.device import time_callable
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.scaling_out import (
    fit_mirrored,
    local_batch_size,
    replica_devices,
    scaled_learning_rate,
    split_cpu,
    time_mirrored_step,
    train_mirrored,
)

# pytest's process has run TensorFlow operations already, which fixes its logical devices, so the
# two-replica runs happen in a fresh interpreter, where split_cpu comes before any operation.
TWO_REPLICAS = """
import sciml_nn
from sciml_nn.scaling_out import (
    split_cpu,
    mirrored_strategy,
    train_mirrored,
    fit_mirrored,
)
from sciml_nn.core.data import squared_norm
import json
import numpy as np
split_cpu(2)
x = np.random.default_rng(0).uniform(-1, 1, (320, 2))
y = squared_norm(x)
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


def _fresh_python(code: str) -> list[str]:
    """The lines a fresh interpreter prints running ``code``, where no TensorFlow operation has
    fixed the logical devices yet."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def two_replicas() -> dict:
    return json.loads(_fresh_python(TWO_REPLICAS)[-1])


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
        "from sciml_nn.scaling_out import split_cpu\n"
        "print(split_cpu(1))\n"  # the same number as TensorFlow's default: harmless
        "tf.constant(1.0) + 1.0\n"
        "try:\n"
        "    split_cpu(2)\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    first, message = _fresh_python(code)[-2:]
    assert first == "['/device:CPU:0']"
    assert "split_cpu(2) must run before TensorFlow's first operation" in message
    assert "already fixed 1 logical CPU(s)" in message


def _problem(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(1).uniform(-1, 1, (n, 2))
    return x, squared_norm(x)


def test_custom_loop_matches_keras_fit_on_one_device() -> None:
    """The hand-written step (strategy.run + strategy.reduce) is Keras' own SGD step."""
    x, y = _problem()
    w_loop, _ = train_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=8, seed=2)
    w_fit, _ = fit_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=8, seed=2)
    for a, b in zip(w_loop, w_fit):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_first_reduced_loss_is_the_global_mean_squared_error() -> None:
    """The SUM-reduced per-replica losses are Keras' own MSE of the untrained network on the
    first global batch, eq-global-loss."""
    x, y = _problem()
    _, losses = train_mirrored(None, x, y, [2, 8, 1], global_batch=16, steps=1, seed=2)
    model = keras_mlp([2, 8, 1], seed=2)
    model.compile(loss="mse")
    assert losses[0] == pytest.approx(model.evaluate(x[:16], y[:16], verbose=0), rel=1e-5)


def test_a_step_takes_the_time_of_keras_own_step() -> None:
    """On one device the timed step and Keras' train_on_batch do the same work: within 10x."""
    x, y = _problem(256)
    ours = time_mirrored_step(None, x, y, [2, 64, 64, 1], repeats=10)
    model = keras_mlp([2, 64, 64, 1])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    keras_seconds = time_callable(lambda: model.train_on_batch(x, y), repeats=10, warmup=2)
    assert 0.1 < keras_seconds["median"] / ours < 10


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
        (lambda: scaled_learning_rate(-0.1, 32, 64), ValueError, r"base_rate must be a finite number > 0"),
        (lambda: scaled_learning_rate("0.1", 32, 64), TypeError, "base_rate must be a float"),
        (lambda: scaled_learning_rate(0.1, 0, 64), ValueError, "base_batch must be a positive"),
        (
            lambda: train_mirrored("gpu", *_problem(), [2, 8, 1], 16, 4),
            TypeError,
            "strategy must be a tf.distribute.Strategy",
        ),
        (
            lambda: train_mirrored(None, *_problem(), [3, 8, 1], 16, 4),
            ValueError,
            "x and y must have 3 and 1 columns",
        ),
        (
            lambda: train_mirrored(None, *_problem(60), [2, 8, 1], 16, 4),
            ValueError,
            "number of samples must be divisible by global_batch",
        ),
        (
            lambda: train_mirrored(None, *_problem(), [2, 8, 1], 16, 0),
            ValueError,
            "steps must be a positive int",
        ),
        (
            lambda: fit_mirrored(None, *_problem(), [2, 8, 1], 16, 6),
            ValueError,
            "steps must be a multiple of len",
        ),
        (
            lambda: time_mirrored_step(None, *_problem(), [2, 0, 1]),
            ValueError,
            "layer sizes must be a positive int",
        ),
    ],
)
def test_bad_input_is_named(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
