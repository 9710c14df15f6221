"""Tests of sciml_nn.exercise: accuracy on fresh points, determinism, the Levenberg-Marquardt step
against a NumPy solve with TensorFlow's own Jacobian, closed forms, and the argument checks."""

from itertools import pairwise

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.data import sample_unit_box, squared_norm
from sciml_nn.exercise import (
    LowLevelMLP,
    first_order_optimizer,
    fit_xtx,
    fit_xtx_naive,
    fresh_test_points,
    gauss_newton_spectrum,
    keras_network,
    make_levenberg_marquardt_step,
    optimizer_history,
    relative_l2_error,
    residual_jacobian,
)
from sciml_nn.networks import keras_mlp, mlp_numpy

X_TEST, Y_TEST = fresh_test_points(2048)


def numpy_params(model: LowLevelMLP) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(W.numpy().astype(np.float64), b.numpy().astype(np.float64)) for W, b in model.params]


def tape_jacobian(model: LowLevelMLP, x: np.ndarray) -> np.ndarray:
    """TensorFlow's own full Jacobian of the outputs, flattened to (n, P): the reference."""
    with tf.GradientTape() as tape:
        output = tf.reshape(model.forward(tf.constant(x)), [-1])
    blocks = tape.jacobian(output, model.xi)
    return np.concatenate([b.numpy().reshape(len(x), -1) for b in blocks], axis=1)


def test_relative_l2_error_closed_form():
    x = sample_unit_box(100, 2, seed=1)
    y = squared_norm(x)
    assert relative_l2_error(1.01 * y, x, y) == pytest.approx(0.01, rel=1e-6)
    # A constant offset c: ||c||_2 / ||f||_2 = c sqrt(n) / ||f||_2.
    expected = 0.5 * np.sqrt(100) / np.linalg.norm(y.astype(np.float64))
    assert relative_l2_error(lambda z: squared_norm(z) + 0.5, x, y) == pytest.approx(expected)
    assert relative_l2_error(y, x, y) == 0.0


def test_fresh_test_points_are_not_training_points():
    x_train = sample_unit_box(4096, 2, seed=0)
    assert X_TEST.shape == (2048, 2) and Y_TEST.shape == (2048, 1)
    np.testing.assert_allclose(Y_TEST, squared_norm(X_TEST))
    shared_rows = {tuple(row) for row in X_TEST} & {tuple(row) for row in x_train}
    assert not shared_rows


def test_lowlevel_and_keras_networks_match_numpy_on_rescaled_inputs():
    x = sample_unit_box(16, 2, seed=3)
    model = LowLevelMLP([2, 7, 5, 1], "tanh", seed=4)
    reference = mlp_numpy(2.0 * x.astype(np.float64) - 1.0, numpy_params(model), "tanh")
    np.testing.assert_allclose(np.asarray(model(x)), reference, rtol=1e-5, atol=1e-6)
    network = keras_network([2, 7, 5, 1], "tanh", seed=4)
    plain = keras_mlp([2, 7, 5, 1], "tanh", seed=4)
    np.testing.assert_allclose(np.asarray(network(x)), np.asarray(plain(2.0 * x - 1.0)), atol=1e-6)


def test_residual_jacobian_matches_tape_jacobian():
    model = LowLevelMLP([2, 6, 4, 1], "tanh", seed=5)
    x = sample_unit_box(12, 2, seed=6)
    J = residual_jacobian(model.forward, model.xi, x).numpy()
    assert J.shape == (12, 2 * 6 + 6 + 6 * 4 + 4 + 4 + 1)
    np.testing.assert_allclose(J, tape_jacobian(model, x), rtol=1e-5, atol=1e-6)


def test_levenberg_marquardt_step_solves_the_damped_normal_equations():
    model = LowLevelMLP([2, 5, 1], "tanh", seed=7)
    x = sample_unit_box(64, 2, seed=8)
    y = squared_norm(x)
    xi_before = np.concatenate([v.numpy().ravel() for v in model.xi]).astype(np.float64)
    J = tape_jacobian(model, x).astype(np.float64)
    r = (np.asarray(model(x)) - y).ravel().astype(np.float64)
    mu = 1e-2
    delta = np.linalg.solve(J.T @ J + mu * np.eye(J.shape[1]), -J.T @ r)
    loss = float(make_levenberg_marquardt_step(model.forward, model.xi, mu)(x, y))
    xi_after = np.concatenate([v.numpy().ravel() for v in model.xi])
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


@pytest.mark.parametrize("interface", ["lowlevel", "keras"])
def test_fit_xtx_reaches_small_error_on_fresh_points(interface):
    # 40 of the default 100 steps; full budget reaches about 2e-6 (see the exercise chapter).
    model = fit_xtx(interface, seed=0, steps=40)
    prediction = np.asarray(model(X_TEST))
    assert prediction.shape == (len(X_TEST), 1)
    assert relative_l2_error(prediction, X_TEST, Y_TEST) < 1e-4


@pytest.mark.parametrize("interface", ["lowlevel", "keras"])
def test_fit_xtx_is_deterministic_and_depends_on_seed(interface):
    first = np.asarray(fit_xtx(interface, seed=1, steps=3)(X_TEST))
    again = np.asarray(fit_xtx(interface, seed=1, steps=3)(X_TEST))
    other = np.asarray(fit_xtx(interface, seed=2, steps=3)(X_TEST))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


@pytest.mark.parametrize("interface", ["lowlevel", "keras"])
def test_adam_recipe_learns(interface):
    model = fit_xtx(interface, seed=0, recipe="adam", steps=1000)
    assert relative_l2_error(model, X_TEST, Y_TEST) < 0.05


def test_naive_baseline_is_a_relu_network_that_beats_the_mean():
    model = fit_xtx_naive(seed=0, epochs=5)
    assert [layer.activation.__name__ for layer in model.layers] == ["relu", "relu", "linear"]
    # Predicting the mean 2/3 of f gives sqrt(Var f / E f^2) = sqrt((8/45) / (28/45)) = 0.53.
    mean_error = relative_l2_error(np.full_like(Y_TEST, 2 / 3), X_TEST, Y_TEST)
    assert mean_error == pytest.approx(np.sqrt(8 / 28), rel=0.05)
    assert relative_l2_error(model, X_TEST, Y_TEST) < 0.5 * mean_error


def test_adam_decay_schedule_ends_at_one_thousandth():
    optimizer = first_order_optimizer("adam-decay", 500)
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(1e-2)
    assert float(schedule(500)) == pytest.approx(1e-5)
    assert first_order_optimizer("momentum", 10).momentum == pytest.approx(0.9)


def test_optimizer_history_records_every_step_asked():
    history = optimizer_history("levenberg-marquardt", steps=25, record_every=10)
    assert history["step"] == [10, 20, 25]
    assert len(history["error"]) == len(history["seconds"]) == 3
    assert history["error"][-1] < 0.1 * history["error"][0]
    assert history["seconds"] == sorted(history["seconds"])
    model = fit_xtx("lowlevel", seed=0, steps=25)
    assert history["error"][-1] == pytest.approx(relative_l2_error(model, *fresh_test_points()))


def test_gauss_newton_spectrum_matches_numpy():
    model = LowLevelMLP([2, 4, 1], "tanh", seed=11)
    x = sample_unit_box(50, 2, seed=12)
    J = tape_jacobian(model, x).astype(np.float64)
    expected = np.sort(np.linalg.eigvalsh(J.T @ J / 50))[::-1]
    spectrum = gauss_newton_spectrum(model, x)
    np.testing.assert_allclose(spectrum, expected, rtol=1e-4, atol=1e-9)
    assert spectrum.shape == (2 * 4 + 4 + 4 + 1,)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"interface": "torch"}, ValueError, "interface must be one of"),
        ({"recipe": "lbfgs"}, ValueError, "recipe must be one of"),
        ({"interface": None}, TypeError, "interface must be a str; got NoneType"),
        ({"steps": 0}, ValueError, "steps must be a positive int"),
        ({"steps": 2.5}, TypeError, "steps must be an int"),
        ({"width": -3}, ValueError, "width must be a positive int"),
        ({"depth": True}, TypeError, "depth must be an int"),
        ({"n_train": "100"}, TypeError, "n_train must be an int"),
        ({"activation": "cube"}, ValueError, "activation must be one of"),
        ({"seed": 0.5}, TypeError, "seed must be an int"),
    ],
)
def test_fit_xtx_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_xtx(**kwargs)


def test_other_functions_reject_bad_arguments():
    x = sample_unit_box(5, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(5, 3\)"):
        relative_l2_error(np.zeros((5, 1)), np.zeros((5, 3)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"y must have shape \(5, 1\)"):
        relative_l2_error(np.zeros((5, 1)), x, np.zeros(5))
    with pytest.raises(ValueError, match=r"prediction must have shape \(5, 1\)"):
        relative_l2_error(np.zeros((5, 2)), x, squared_norm(x))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optimizer_history("rmsprop", steps=3)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        first_order_optimizer("levenberg-marquardt", 3)
    with pytest.raises(ValueError, match="record_every must be a positive int"):
        optimizer_history("sgd", steps=3, record_every=0)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit_xtx_naive(epochs=0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        LowLevelMLP([2, 3, 1])(np.zeros((4, 3)))
