"""Tests of sciml_nn.fit_xtx: the samples against f, accuracy on fresh points, determinism, the
networks against NumPy, a first-order step against Keras' SGD by hand, and the argument checks."""

import numpy as np
import pytest
import tensorflow as tf

from sciml_nn.core.data import fresh_test_points, sample_unit_box, squared_norm
from sciml_nn.core.metrics import relative_l2_error
from sciml_nn.core.mlp import mlp_numpy, params_of
from sciml_nn.core.training import flat_variables
from sciml_nn.fit_xtx import (
    LowLevelMLP,
    exercise_setup,
    first_order_optimizer,
    fit_xtx,
    keras_network,
    training_step,
)

X_TEST, Y_TEST = fresh_test_points(2048)


def numpy_xi(model: LowLevelMLP) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(W.numpy().astype(np.float64), b.numpy().astype(np.float64)) for W, b in model.xi]


def test_fresh_test_points_are_not_training_points():
    _, x_train, _ = exercise_setup(n_train=4096, seed=0)
    assert X_TEST.shape == (2048, 2) and Y_TEST.shape == (2048, 1)
    np.testing.assert_allclose(Y_TEST[:, 0], X_TEST[:, 0] ** 2 + X_TEST[:, 1] ** 2, rtol=1e-6)
    shared_rows = {tuple(row) for row in X_TEST} & {tuple(row) for row in x_train}
    assert not shared_rows


def test_exercise_setup_samples_the_unit_box():
    layer_sizes, x, y = exercise_setup(width=7, depth=3, n_train=500, seed=2)
    assert layer_sizes == [2, 7, 7, 7, 1]
    assert x.shape == (500, 2) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and x.min() < 0.01 and x.max() > 0.99
    np.testing.assert_allclose(y[:, 0], x[:, 0] ** 2 + x[:, 1] ** 2, rtol=1e-6)


def test_lowlevel_and_keras_networks_match_numpy_on_rescaled_inputs():
    x = sample_unit_box(16, 2, seed=3)
    model = LowLevelMLP([2, 7, 5, 1], "tanh", seed=4)
    assert [v.name for v in flat_variables(model.xi)][:2] == ["W_1:0", "b_1:0"]
    reference = mlp_numpy(2.0 * x.astype(np.float64) - 1.0, numpy_xi(model), "tanh")
    np.testing.assert_allclose(np.asarray(model(x)), reference, rtol=1e-5, atol=1e-6)
    network = keras_network([2, 7, 5, 1], "tanh", seed=4)
    dense = params_of(network.layers[-1])  # the Dense layers behind the rescaling
    reference = mlp_numpy(2.0 * x.astype(np.float64) - 1.0, dense, "tanh")
    np.testing.assert_allclose(np.asarray(network(x)), reference, rtol=1e-5, atol=1e-6)
    # in float64 the same weights give NumPy's float64 values to rounding
    model64 = LowLevelMLP([2, 7, 5, 1], "tanh", seed=4, dtype="float64")
    assert model64(x).dtype == tf.float64
    reference = mlp_numpy(2.0 * x.astype(np.float64) - 1.0, numpy_xi(model), "tanh")
    np.testing.assert_allclose(np.asarray(model64(x)), reference, rtol=1e-13, atol=1e-15)


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


def test_adam_decay_schedule_ends_at_one_thousandth():
    optimizer = first_order_optimizer("adam-decay", 500)
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(1e-2)
    assert float(schedule(500)) == pytest.approx(1e-5)
    assert first_order_optimizer("momentum", 10).momentum == pytest.approx(0.9)


def test_training_step_of_a_first_order_optimizer_is_its_keras_step():
    """One step of training_step with "sgd" equals one step of Keras' SGD(0.3) by hand."""
    model = LowLevelMLP([2, 4, 1], "tanh", seed=1)
    x = tf.constant(sample_unit_box(32, 2, seed=2))
    y = tf.constant(squared_norm(x.numpy()))
    flat = flat_variables(model.xi)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model.forward(x) - y) ** 2)
    expected = [v.numpy() - 0.3 * g.numpy() for v, g in zip(flat, tape.gradient(loss, flat))]
    training_step(model, "sgd", 1)(x, y)
    for v, e in zip(flat, expected):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-6, atol=1e-7)


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
    with pytest.raises(ValueError, match="optimizer must be one of"):
        first_order_optimizer("levenberg-marquardt", 3)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        training_step(LowLevelMLP([2, 3, 1]), "rmsprop", 3)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(4, 3\)"):
        LowLevelMLP([2, 3, 1])(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dtype must be one of"):
        LowLevelMLP([2, 3, 1], dtype="float16")
