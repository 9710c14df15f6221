"""Tests of sciml_nn.loss_landscape_seeds: the stacked ensemble against each network evaluated
alone (NumPy and Keras), and its training against Keras ``fit`` run for each seed alone."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from sciml_nn.core.mlp import init_mlp, mlp_numpy
from sciml_nn.loss_landscape_seeds import (
    ensemble_forward,
    init_ensemble,
    member,
    train_seeds,
)
from sciml_nn.universal_approximation import as_keras_model

keras_mse = keras.losses.MeanSquaredError()


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
    return x, np.sin(2 * np.pi * x).astype(np.float32)


def test_ensemble_members_are_the_single_networks() -> None:
    layer_sizes, seeds = [2, 5, 4, 1], [3, 0, 11]
    params = init_ensemble(layer_sizes, seeds)
    x = np.random.default_rng(0).uniform(size=(9, 2)).astype(np.float32)
    outputs = ensemble_forward(x, params, "tanh").numpy()
    assert outputs.shape == (3, 9, 1)
    for s, seed in enumerate(seeds):
        single = init_mlp(layer_sizes, seed)
        assert all(np.array_equal(W, V) for (W, _), (V, _) in zip(member(params, s), single))
        np.testing.assert_allclose(outputs[s], mlp_numpy(x, single, "tanh"), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(as_keras_model(single)(x), outputs[s], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_train_seeds_takes_the_steps_keras_fit_takes(jit_compile: bool) -> None:
    """With or without XLA, each member takes the steps Keras' fit takes for its seed alone."""
    layer_sizes, seeds, steps = [1, 6, 1], [0, 5], 25
    x, y = _data(30)
    x_test, y_test = _data(50, seed=1)
    learning_rate = keras.optimizers.schedules.ExponentialDecay(2e-2, steps, 0.5)
    result = train_seeds(
        layer_sizes,
        x,
        y,
        seeds,
        steps,
        learning_rate,
        x_test=x_test,
        y_test=y_test,
        records=5,
        jit_compile=jit_compile,
    )
    assert result["history"].shape == (5, 2)
    assert np.array_equal(result["history"][-1], result["train_loss"])
    assert np.all(result["history"][-1] < result["history"][0])
    for s, seed in enumerate(seeds):
        model = as_keras_model(init_mlp(layer_sizes, seed))
        schedule = keras.optimizers.schedules.ExponentialDecay(2e-2, steps, 0.5)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
        model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0)
        for theta, ours in zip(
            model.get_weights(), [a for p in member(result["params"], s) for a in p]
        ):
            np.testing.assert_allclose(ours, theta, rtol=1e-4, atol=1e-5)
        assert result["train_loss"][s] == pytest.approx(float(keras_mse(y, model(x))), rel=1e-4)
        assert result["test_loss"][s] == pytest.approx(
            float(keras_mse(y_test, model(x_test))), rel=1e-4
        )


def test_train_seeds_rejects_bad_input() -> None:
    x, y = _data(10)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\); got \(10, 2\)"):
        train_seeds([1, 3, 1], np.zeros((10, 2)), y, [0], 5)
    with pytest.raises(ValueError, match=r"y_test must have shape \(10, 1\); got \(5, 1\)"):
        train_seeds([1, 3, 1], x, y, [0], 5, x_test=x, y_test=y[:5])
    with pytest.raises(ValueError, match="layer sizes must be .*0"):
        train_seeds([1, 0, 1], x, y, [0], 5)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train_seeds([1, 3, 1], x, y, [0], 0)
    with pytest.raises(TypeError, match="jit_compile must be a bool; got int"):
        train_seeds([1, 3, 1], x, y, [0], 5, jit_compile=1)
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        train_seeds([1, 3, 1], x, y, [], 5)
    with pytest.raises(TypeError, match="seed must be an int; got float"):
        init_ensemble([1, 3, 1], [0.5])
    with pytest.raises(ValueError, match="index must be below the ensemble size 2; got 2"):
        member(init_ensemble([1, 3, 1], [0, 1]), 2)
