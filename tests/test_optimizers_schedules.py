"""Tests of sciml_nn.optimizers_schedules: every schedule against ``keras.optimizers.schedules``
step by step and on a tensor of steps, and the argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn import optimizers_schedules as schedules

SCHEDULES = [
    ("ExponentialDecay", (0.1, 50, 0.5), {}),
    ("ExponentialDecay", (0.1, 50, 0.5), {"staircase": True}),
    ("CosineDecay", (0.1, 300), {}),
    ("CosineDecay", (0.1, 300), {"alpha": 0.01}),
    ("PiecewiseConstantDecay", ([100, 200], [0.1, 0.05, 0.01]), {}),
]


@pytest.mark.parametrize(("name", "arguments", "keywords"), SCHEDULES)
def test_schedule_equals_keras(name: str, arguments: tuple, keywords: dict) -> None:
    ours = getattr(schedules, name)(*arguments, **keywords)
    theirs = getattr(keras.optimizers.schedules, name)(*arguments, **keywords)
    steps = np.arange(0, 600)
    values = np.array([float(ours(tf.constant(k, tf.int64))) for k in steps])
    expected = np.array([float(theirs(tf.constant(k, tf.int64))) for k in steps])
    assert values[0] == pytest.approx(0.1)
    assert values[-1] < 0.05  # it did decay
    assert np.max(np.abs(values - expected)) / 0.1 < 1e-6
    # A tensor of steps gives the values of the steps one by one, up to float32 rounding of the
    # initial rate (vectorized pow and cos round differently).
    at_once = ours(tf.constant(steps, tf.int64)).numpy()
    assert at_once.shape == steps.shape
    assert np.max(np.abs(at_once - values)) / 0.1 < 1e-6


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps must be a posi"),
        (
            lambda: schedules.ExponentialDecay(0.1, 1.5, 0.5),
            TypeError,
            "decay_steps must be an int",
        ),
        (
            lambda: schedules.ExponentialDecay(0.1, 5, 0.0),
            ValueError,
            "decay_rate must be a finite number > 0",
        ),
        (
            lambda: schedules.CosineDecay(-0.1, 3),
            ValueError,
            "initial_learning_rate must be a finite number >= 0",
        ),
        (lambda: schedules.CosineDecay(0.1, -3), ValueError, "decay_steps must be a positive int"),
        (
            lambda: schedules.CosineDecay(0.1, 10, alpha=2.0),
            ValueError,
            r"alpha must lie in \[0, 1\]",
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01]),
            ValueError,
            "one more entry than boundaries; got 2 boundaries and 2 values",
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]),
            ValueError,
            "boundaries must increase strictly",
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([10], [0.1, "fast"]),
            TypeError,
            r"values\[i\] must be a float; got str",
        ),
    ],
)
def test_bad_arguments_raise(make, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()
