"""Tests of sciml_nn.best_practices against outside references: the batches ``minibatches`` yields,
closed-form gradients and the tape, exact expectations by enumerating every minibatch, Keras'
own ``EarlyStopping`` and ``fit``, and exact power laws."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.best_practices import (
    learning_curve,
    loss_gradient,
    minibatch_gradient_variance,
    per_sample_gradients,
    steps_per_epoch,
    train_with_history,
)
from sciml_nn.core.data import minibatches
from sciml_nn.core.mlp import keras_mlp, mlp_tensorflow, params_of
from sciml_nn.core.training import as_variables, mean_squared_error
from sciml_nn.tensorflow_two_ways import train_lowlevel


def _data(n: int, seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
    y = np.sin(2 * np.pi * x) + noise * rng.standard_normal((n, 1))
    return x, y.astype(np.float32)


def _network(layer_sizes=(1, 8, 1), seed: int = 0):
    xi = as_variables(params_of(keras_mlp(list(layer_sizes), "tanh", seed)))
    return (lambda x: mlp_tensorflow(x, xi, activation="tanh")), xi


# --- steps per epoch --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 250))
def test_steps_per_epoch_counts_the_batches_of_an_epoch(n: int, batch_size: int) -> None:
    x, y = np.zeros((n, 1)), np.zeros((n, 1))
    batches = list(minibatches(x, y, batch_size, seed=0))
    assert steps_per_epoch(n, batch_size) == len(batches)
    assert sum(len(xb) for xb, _ in batches) == n


def test_steps_per_epoch_rejects_bad_arguments() -> None:
    assert steps_per_epoch(600, 8) == 75
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        steps_per_epoch(10, 0)
    with pytest.raises(TypeError, match="n must be an int; got float"):
        steps_per_epoch(10.0, 2)


# --- minibatch gradients ------------------------------------------------------------------------


def test_loss_gradient_of_a_linear_model_matches_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 3)).astype(np.float32)
    y = rng.normal(size=(9, 1)).astype(np.float32)
    W = tf.Variable(rng.normal(size=(3, 1)).astype(np.float32))
    b = tf.Variable(np.array([0.5], dtype=np.float32))
    gradient = loss_gradient(lambda x: x @ W + b, [W, b], x, y)
    residual = x.astype(np.float64) @ W.numpy() + b.numpy() - y  # J = mean(residual^2)
    expected = np.concatenate([(2 / 9 * x.T @ residual).ravel(), [2 * residual.mean()]])
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-6)


def test_minibatch_gradient_is_unbiased_over_every_minibatch() -> None:
    # The mean over all C(N, B) equally likely minibatches is the exact expectation.
    forward, xi = _network()
    x, y = _data(7)
    full = loss_gradient(forward, xi, x, y)
    for B in (1, 2, 3):
        subsets = list(itertools.combinations(range(7), B))
        mean = np.mean([loss_gradient(forward, xi, x[list(s)], y[list(s)]) for s in subsets], 0)
        np.testing.assert_allclose(mean, full, rtol=1e-5, atol=1e-6)
        assert np.linalg.norm(mean - full) < 1e-5 * np.linalg.norm(full)


def test_one_epoch_of_weighted_batch_gradients_is_the_full_gradient() -> None:
    forward, xi = _network()
    x, y = _data(23)
    total = sum(
        len(xb) / 23 * loss_gradient(forward, xi, xb, yb) for xb, yb in minibatches(x, y, 5, 1)
    )
    np.testing.assert_allclose(total, loss_gradient(forward, xi, x, y), rtol=1e-5, atol=1e-6)


def test_per_sample_gradients_are_the_gradients_of_single_samples() -> None:
    forward, xi = _network()
    x, y = _data(6)
    G = per_sample_gradients(forward, xi, x, y)
    singles = np.stack([loss_gradient(forward, xi, x[i : i + 1], y[i : i + 1]) for i in range(6)])
    assert G.shape == (6, 8 + 8 + 8 + 1)
    np.testing.assert_allclose(G, singles, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        G.mean(axis=0), loss_gradient(forward, xi, x, y), rtol=1e-5, atol=1e-6
    )


def test_gradient_functions_reject_bad_arguments() -> None:
    forward, xi = _network()
    x, y = _data(5)
    with pytest.raises(ValueError, match="same number of rows; got 5 and 4"):
        loss_gradient(forward, xi, x, y[:4])
    with pytest.raises(ValueError, match="must be 2-D"):
        per_sample_gradients(forward, xi, x[:, 0], y)
    with pytest.raises(TypeError, match="must be tf.Variable"):
        loss_gradient(forward, [np.zeros(3)], x, y)


@settings(max_examples=20, deadline=None)
@given(N=st.integers(2, 8), P=st.integers(1, 4), seed=st.integers(0, 1000))
def test_minibatch_gradient_variance_matches_enumeration(N: int, P: int, seed: int) -> None:
    G = np.random.default_rng(seed).normal(size=(N, P))
    g = G.mean(axis=0)
    for B in range(1, N + 1):
        exact = np.mean(
            [
                np.sum((G[list(s)].mean(axis=0) - g) ** 2)
                for s in itertools.combinations(range(N), B)
            ]
        )
        assert minibatch_gradient_variance(G, B) == pytest.approx(exact, rel=1e-10, abs=1e-14)


def test_minibatch_gradient_variance_rejects_bad_arguments() -> None:
    G = np.ones((4, 2))
    assert minibatch_gradient_variance(G, 4) == 0.0
    with pytest.raises(ValueError, match=r"batch_size must be at most N = 4; got 5"):
        minibatch_gradient_variance(G, 5)
    with pytest.raises(ValueError, match=r"g must have shape \(N, P\); got \(4,\)"):
        minibatch_gradient_variance(np.ones(4), 1)
    with pytest.raises(ValueError, match="g needs at least N = 2 rows; got 1"):
        minibatch_gradient_variance(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        minibatch_gradient_variance(G, 0)


# --- early stopping -----------------------------------------------------------------------------


def test_train_with_history_stops_and_restores_like_keras_early_stopping() -> None:
    x, y = _data(48, seed=5, noise=0.3)
    (x_val, y_val), (x_train, y_train) = (x[:16], y[:16]), (x[16:], y[16:])
    layer_sizes, learning_rate, patience, epochs = [1, 16, 16, 1], 0.05, 3, 60

    model = keras_mlp(layer_sizes, "tanh", seed=2)
    forward, xi = _network(layer_sizes, seed=2)
    ours = train_with_history(
        forward,
        xi,
        (x_train, y_train),
        (x_val, y_val),
        keras.optimizers.Adam(learning_rate),
        epochs,
        batch_size=16,
        patience=patience,
        shuffle=False,
    )

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=False)
    callback = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    theirs = model.fit(
        x_train,
        y_train,
        batch_size=16,
        epochs=epochs,
        shuffle=False,
        validation_data=(x_val, y_val),
        callbacks=[callback],
        verbose=0,
    ).history

    assert 0 < ours["stopped_epoch"] < epochs  # the rule fired, so the comparison means something
    assert ours["stopped_epoch"] == callback.stopped_epoch + 1 == len(theirs["val_loss"])
    assert ours["best_epoch"] == callback.best_epoch + 1
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=1e-4, atol=1e-6)
    for v, w in zip(tf.nest.flatten(xi), model.get_weights()):
        np.testing.assert_allclose(v.numpy(), w, atol=1e-5)
    best = ours["best_epoch"] - 1
    assert float(mean_squared_error(forward(x_val), y_val)) == pytest.approx(
        ours["val_loss"][best], rel=1e-5
    )


def test_train_with_history_takes_the_steps_of_train_lowlevel() -> None:
    x, y = _data(30, seed=1)
    forward, xi = _network(seed=4)
    reference_forward, reference_xi = _network(seed=4)
    history = train_with_history(
        forward, xi, (x, y), (x[:10], y[:10]), keras.optimizers.Adam(0.01), 5, batch_size=8, seed=3
    )
    train_lowlevel(reference_forward, reference_xi, x, y, keras.optimizers.Adam(0.01), 5, 8, seed=3)
    for v, w in zip(tf.nest.flatten(xi), tf.nest.flatten(reference_xi)):
        np.testing.assert_allclose(v.numpy(), w.numpy(), atol=1e-6)
    assert len(history["loss"]) == len(history["seconds"]) == 5
    assert history["loss"][-1] == pytest.approx(float(mean_squared_error(forward(x), y)), rel=1e-5)
    assert history["val_loss"][-1] == pytest.approx(
        float(mean_squared_error(forward(x[:10]), y[:10])), rel=1e-5
    )
    assert np.all(np.diff(history["seconds"]) > 0)
    assert history["best_epoch"] == history["stopped_epoch"] == 0


def test_train_with_history_rejects_bad_arguments() -> None:
    forward, xi = _network()
    x, y = _data(10)
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="patience must be >= 0; got -2"):
        train_with_history(forward, xi, (x, y), (x, y), optimizer, 2, 4, patience=-2)
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        train_with_history(forward, xi, (x, y), (x, y), optimizer, 0, 4)
    with pytest.raises(ValueError, match="validation x and y must have the same number of rows"):
        train_with_history(forward, xi, (x, y), (x, y[:3]), optimizer, 1, 4)


# --- learning curves ----------------------------------------------------------------------------


def test_learning_curve_matches_keras_fit_with_the_same_schedule() -> None:
    x, y = _data(40, seed=2)
    x_eval, y_eval = _data(25, seed=3, noise=0.0)
    layer_sizes, epochs, learning_rate = [1, 8, 8, 1], 30, 0.03
    errors = learning_curve(
        layer_sizes, (x, y), (x_eval, y_eval), [10, 40], epochs, learning_rate, seeds=(0, 1)
    )
    assert errors.shape == (2, 2)
    for k, seed in enumerate((0, 1)):
        for j, n in enumerate((10, 40)):
            model = keras_mlp(layer_sizes, "tanh", seed)
            schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, epochs, 0.01)
            model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse", jit_compile=False)
            model.fit(x[:n], y[:n], batch_size=n, epochs=epochs, shuffle=False, verbose=0)
            expected = float(mean_squared_error(model(x_eval), y_eval))
            assert errors[k, j] == pytest.approx(expected, rel=1e-3)


def test_learning_curve_rejects_bad_arguments() -> None:
    x, y = _data(10)
    with pytest.raises(ValueError, match="train_sizes at most 10"):
        learning_curve([1, 4, 1], (x, y), (x, y), [5, 11], 2)
    with pytest.raises(ValueError, match=r"learning_rate must be .*> 0.*; got 0.0"):
        learning_curve([1, 4, 1], (x, y), (x, y), [5], 2, learning_rate=0.0)
    with pytest.raises(ValueError, match="each size must be a positive int; got 0"):
        learning_curve([1, 4, 1], (x, y), (x, y), [0], 2)
    with pytest.raises(ValueError, match="evaluation x and y must be 2-D"):
        learning_curve([1, 4, 1], (x, y), (x[:, 0], y), [5], 2)
