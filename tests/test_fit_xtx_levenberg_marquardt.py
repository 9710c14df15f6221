"""Tests of sciml_nn.fit_xtx_levenberg_marquardt: the Jacobian against TensorFlow's own
``tape.jacobian``, the step against a NumPy solve of the damped normal equations, its monotone
loss, a Keras save and load of the Levenberg-Marquardt model, and the argument checks."""

from itertools import pairwise

import keras
import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import fresh_test_points, sample_unit_box, squared_norm
from sciml_nn.core.training import flat_variables
from sciml_nn.fit_xtx import LowLevelMLP, exercise_setup, fit_xtx, keras_network
from sciml_nn.fit_xtx_levenberg_marquardt import (
    LevenbergMarquardtModel,
    make_levenberg_marquardt_step,
    residual_jacobian,
)

X_TEST, _ = fresh_test_points(2048)


def tape_jacobian(model: LowLevelMLP, x: np.ndarray) -> np.ndarray:
    """TensorFlow's own full Jacobian of the outputs, flattened to (n, P): the reference."""
    with tf.GradientTape() as tape:
        output = tf.reshape(model.forward(tf.constant(x)), [-1])
    blocks = tape.jacobian(output, flat_variables(model.xi))
    return np.concatenate([b.numpy().reshape(len(x), -1) for b in blocks], axis=1)


def test_residual_jacobian_matches_tape_jacobian():
    model = LowLevelMLP([2, 6, 4, 1], "tanh", seed=5)
    x = sample_unit_box(12, 2, seed=6)
    D = residual_jacobian(model.forward, model.xi, x).numpy()
    assert D.shape == (12, 2 * 6 + 6 + 6 * 4 + 4 + 4 + 1)
    np.testing.assert_allclose(D, tape_jacobian(model, x), rtol=1e-5, atol=1e-6)


def test_levenberg_marquardt_step_solves_the_damped_normal_equations():
    model = LowLevelMLP([2, 5, 1], "tanh", seed=7)
    x = sample_unit_box(64, 2, seed=8)
    y = squared_norm(x)
    flat = flat_variables(model.xi)
    xi_before = np.concatenate([v.numpy().ravel() for v in flat]).astype(np.float64)
    D = tape_jacobian(model, x).astype(np.float64)
    r = (np.asarray(model(x)) - y).ravel().astype(np.float64)
    mu = 1e-2
    delta = np.linalg.solve(D.T @ D + mu * np.eye(D.shape[1]), -D.T @ r)
    loss = float(make_levenberg_marquardt_step(model.forward, model.xi, mu)(x, y))
    xi_after = np.concatenate([v.numpy().ravel() for v in flat])
    # The step returns the loss after an accepted step, which is below the loss before.
    loss_after = np.mean((np.asarray(model(x), dtype=np.float64) - y) ** 2)
    assert loss == pytest.approx(loss_after, rel=1e-4)
    assert loss < np.mean(r**2)
    np.testing.assert_allclose(xi_after - xi_before, delta, rtol=1e-3, atol=1e-5)


def test_levenberg_marquardt_loss_never_increases():
    model = LowLevelMLP([2, 8, 8, 1], "tanh", seed=9)
    x = tf.constant(sample_unit_box(256, 2, seed=10))
    y = tf.constant(squared_norm(x.numpy()))
    step = make_levenberg_marquardt_step(model.forward, model.xi)
    losses = [float(step(x, y)) for _ in range(25)]
    assert all(b <= a for a, b in pairwise(losses))
    assert losses[-1] < 1e-3 * losses[0]


def test_levenberg_marquardt_model_saves_and_loads(tmp_path):
    model = fit_xtx("keras", seed=0, steps=5)
    assert isinstance(model, LevenbergMarquardtModel)
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, LevenbergMarquardtModel) and loaded.mu == model.mu
    np.testing.assert_array_equal(np.asarray(loaded(X_TEST)), np.asarray(model(X_TEST)))
    # the loaded model trains on: one more step lowers its loss, and fit reports that loss
    x, y = exercise_setup(seed=0)[1:]
    before = float(np.mean((np.asarray(loaded(x), np.float64) - y) ** 2))
    reported = loaded.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history["loss"]
    after = float(np.mean((np.asarray(loaded(x), np.float64) - y) ** 2))
    assert after < before
    assert reported[0] == pytest.approx(after, rel=1e-4)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mu must be a finite number > 0; got 0.0"):
        make_levenberg_marquardt_step(lambda x: x, [tf.Variable(1.0)], mu=0.0)
    with pytest.raises(ValueError, match="mu must be a finite number > 0; got -1.0"):
        LevenbergMarquardtModel(keras_network([2, 3, 1]), mu=-1.0)
    with pytest.raises(TypeError, match="variables must be tf.Variable or keras.Variable"):
        residual_jacobian(lambda x: x, [np.ones(2)], np.ones((3, 2)))
