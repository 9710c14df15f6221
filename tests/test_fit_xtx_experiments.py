"""Tests of sciml_nn.fit_xtx_experiments: the naive baseline against the error of the best
constant, the recorded history against the trained recipe, the Gauss-Newton spectrum against
NumPy with TensorFlow's own Jacobian, and the argument checks."""

import numpy as np
import pytest
import tensorflow as tf
from test_second_order_training import tape_jacobian

from sciml_nn.core.data import fresh_test_points, sample_unit_box
from sciml_nn.core.metrics import relative_l2_error
from sciml_nn.fit_xtx import LowLevelMLP, exercise_setup, fit_xtx, training_step
from sciml_nn.fit_xtx_experiments import (
    fit_xtx_naive,
    gauss_newton_spectrum,
    optimizer_history,
)
from sciml_nn.optimizers import full_batch_history

X_TEST, Y_TEST = fresh_test_points(2048)


def test_naive_baseline_is_a_relu_network_that_beats_the_mean():
    model = fit_xtx_naive(seed=0, epochs=5)
    assert [layer.activation.__name__ for layer in model.layers] == ["relu", "relu", "linear"]
    # Predicting the mean 2/3 of f gives sqrt(Var f / E f^2) = sqrt((8/45) / (28/45)) = 0.53.
    mean_error = relative_l2_error(np.full_like(Y_TEST, 2 / 3), X_TEST, Y_TEST)
    assert mean_error == pytest.approx(np.sqrt(8 / 28), rel=0.05)
    assert relative_l2_error(model, X_TEST, Y_TEST) < 0.5 * mean_error


def test_optimizer_history_records_every_step_asked():
    history = optimizer_history("levenberg-marquardt", steps=25, record_every=10)
    assert history["step"] == [10, 20, 25]
    assert len(history["error"]) == len(history["seconds"]) == len(history["loss"]) == 3
    assert history["error"][-1] < 0.1 * history["error"][0]
    assert history["seconds"] == sorted(history["seconds"])
    model = fit_xtx("lowlevel", seed=0, steps=25)
    assert history["error"][-1] == pytest.approx(relative_l2_error(model, *fresh_test_points()))


def test_naive_baseline_is_seeded():
    errors = [
        relative_l2_error(fit_xtx_naive(seed, epochs=2), X_TEST, Y_TEST) for seed in (0, 0, 1)
    ]
    assert errors[0] == errors[1] != errors[2]


def test_optimizer_history_in_compiled_chunks_takes_the_steps_of_one_call_per_step():
    """The steps between two records run in one call: the same losses and errors as
    full_batch_history, which calls the same training step once per step."""
    chunked = optimizer_history("adam", steps=7, record_every=3)
    layer_sizes, x, y = exercise_setup()
    model = LowLevelMLP(layer_sizes, "tanh", seed=0)
    x_test, y_test = fresh_test_points()
    per_step = full_batch_history(
        training_step(model, "adam", 7),
        tf.constant(x),
        tf.constant(y),
        7,
        3,
        evaluate=lambda: relative_l2_error(model, x_test, y_test),
    )
    assert chunked["step"] == per_step["step"] == [3, 6, 7]
    np.testing.assert_allclose(chunked["loss"], per_step["loss"], rtol=1e-6)
    np.testing.assert_allclose(chunked["error"], per_step["error"], rtol=1e-6)
    assert chunked["seconds"] == sorted(chunked["seconds"])
    assert optimizer_history("sgd", steps=1, record_every=5)["step"] == [1]
    assert optimizer_history("sgd", steps=3, record_every=1)["step"] == [1, 2, 3]


def test_gauss_newton_spectrum_matches_numpy():
    model = LowLevelMLP([2, 4, 1], "tanh", seed=11)
    x = sample_unit_box(50, 2, seed=12)
    D = tape_jacobian(model, x)
    expected = np.sort(np.linalg.eigvalsh(D.astype(np.float64).T @ D / 50))[::-1]
    spectrum = gauss_newton_spectrum(model, x)
    np.testing.assert_allclose(spectrum, expected, rtol=1e-4, atol=1e-9)
    assert spectrum.shape == (2 * 4 + 4 + 4 + 1,)


def test_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optimizer_history("rmsprop", steps=3)
    with pytest.raises(ValueError, match="record_every must be a positive int"):
        optimizer_history("sgd", steps=3, record_every=0)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit_xtx_naive(epochs=0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        gauss_newton_spectrum(LowLevelMLP([2, 3, 1]), np.zeros((4, 3)))
