"""Residual networks as forward Euler: against a hand-written Euler loop, a closed-form ODE
solution, the observed order 1, finite-difference gradients, least squares, Keras' own
initializers and saving, and the argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient

from sciml_nn.core.mlp import keras_mlp
from sciml_nn.core.training import make_train_step
from sciml_nn.residual_networks import (
    EulerResNet,
    deep_network,
    fit_flow_map,
    layer_gradient_norms,
    pendulum,
    pendulum_jacobian_field,
    reference_solution,
    train_adam_cosine,
)


def test_euler_resnet_is_forward_euler():
    u0 = np.array([[1.0, 0.0], [-0.5, 2.0]])
    u = u0.copy()
    for _ in range(25):  # forward Euler written out, step 2/25
        u = u + 2.0 / 25 * np.column_stack([u[:, 1], -np.sin(u[:, 0])])
    np.testing.assert_allclose(EulerResNet(pendulum, 2.0, 25, dtype="float64")(u0), u, rtol=1e-14)


@pytest.mark.parametrize("field", ["pendulum", "network"])
def test_euler_resnet_saves_and_loads(tmp_path, field):
    u = np.random.default_rng(1).normal(size=(5, 2))
    if field == "pendulum":
        model = EulerResNet(pendulum, 2.0, 8, dtype="float64")
    else:
        model = EulerResNet(keras_mlp([2, 8, 8, 2], "tanh", seed=3), 0.1, 3)
    expected = np.asarray(model(u))
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, EulerResNet) and (loaded.T, loaded.L) == (model.T, model.L)
    np.testing.assert_array_equal(np.asarray(loaded(u)), expected)


def test_reference_solution_against_closed_form():
    # du/dt = (v, -u) is a rotation: u(t) = u0 cos t + v0 sin t.
    u0 = np.array([[1.0, 0.0], [0.3, -0.7]])
    times = np.linspace(0.0, 3.0, 7)
    rotation = lambda u: np.column_stack([u[:, 1], -u[:, 0]])
    states = reference_solution(rotation, u0, times)
    expected = u0[None, :, 0] * np.cos(times)[:, None] + u0[None, :, 1] * np.sin(times)[:, None]
    np.testing.assert_allclose(states[:, :, 0], expected, atol=1e-10)


def test_global_error_has_order_one():
    u0 = np.array([[1.0, 0.0], [2.0, 0.5]])
    exact = reference_solution(pendulum, u0, np.array([0.0, 2.0]))[-1]
    depths = np.array([32, 64, 128, 256])
    errors = [
        np.abs(np.asarray(EulerResNet(pendulum, 2.0, L, dtype="float64")(u0)) - exact).max()
        for L in depths
    ]
    order = -np.polyfit(np.log(depths), np.log(errors), 1)[0]
    assert order == pytest.approx(1.0, abs=0.1)


def test_layer_gradient_norms_match_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    for residual in (False, True):
        layers = deep_network(3, 3, activation="tanh", seed=4)
        norms = layer_gradient_norms(layers, x, y, residual=residual)
        kernel = layers[1].kernel

        def loss(W, layers=layers, kernel=kernel, residual=residual):
            saved = kernel.numpy()
            kernel.assign(W)
            h = x
            for layer in layers:
                h = h + layer(h).numpy() / 3 if residual else layer(h).numpy()
            kernel.assign(saved)
            return float(np.mean((h - y) ** 2))

        expected = np.linalg.norm(finite_difference_gradient(loss, kernel.numpy()))
        assert norms[1] == pytest.approx(expected, rel=1e-6)


def test_deep_network_is_glorot_initialised_dense_layers():
    # Layer k is x -> sigma(x W_k + b_k), W_k drawn by Keras' GlorotUniform with seed + k
    # (the book's numbers depend on these seeds), b_k = 0.
    layers = deep_network(3, 4, activation="sigmoid", seed=2)
    x = np.random.default_rng(0).normal(size=(6, 4))
    for k, layer in enumerate(layers):
        W = keras.initializers.GlorotUniform(seed=2 + k)((4, 4), dtype="float64")
        np.testing.assert_array_equal(layer.kernel.numpy(), np.asarray(W))
        np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(4))
        np.testing.assert_allclose(
            np.asarray(layer(x)), 1 / (1 + np.exp(-x @ np.asarray(W))), rtol=1e-14
        )


def test_train_full_batch_reaches_least_squares():
    # Linear regression: Adam on the mean squared error approaches the least-squares
    # solution (NumPy's lstsq); its first loss is the error at the starting point.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(64, 1))
    w = tf.Variable(np.zeros((3, 1)))
    losses = train_adam_cosine(lambda x: x @ w, [w], x, y, steps=1500, learning_rate=0.05)
    assert losses.shape == (1500,) and losses[0] == pytest.approx(np.mean(y**2), rel=1e-12)
    expected, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(w.numpy(), expected, atol=1e-4)


def test_train_adam_cosine_takes_the_steps_of_a_python_loop():
    # The graph loop takes the same steps, bit for bit, as calling the step of
    # make_train_step from Python with the same optimizer and schedule.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 2)).astype(np.float32), rng.normal(size=(50, 2)).astype(np.float32)
    models = [keras_mlp([2, 8, 2], "tanh", seed=1) for _ in range(2)]
    losses = train_adam_cosine(models[0], models[0].trainable_variables, x, y, 40, 0.02)
    schedule = keras.optimizers.schedules.CosineDecay(0.02, 40)
    step = make_train_step(
        models[1], models[1].trainable_variables, keras.optimizers.Adam(schedule)
    )
    expected = [float(step(tf.constant(x), tf.constant(y))) for _ in range(40)]
    np.testing.assert_array_equal(losses, expected)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pendulum_jacobian_field_is_the_derivative_along_f():
    # f'(u) f(u) is the derivative of f in the direction f(u): a central
    # difference of the vector field itself.
    u = np.random.default_rng(5).uniform(-2, 2, size=(6, 2))
    f = np.asarray(pendulum(u))
    eps = 1e-6
    central = (np.asarray(pendulum(u + eps * f)) - np.asarray(pendulum(u - eps * f))) / (2 * eps)
    np.testing.assert_allclose(pendulum_jacobian_field(u), central, atol=1e-8)


def test_flow_increment_is_the_inverse_modified_field_to_second_order():
    # (phi_h(u) - u) / h = f + h/2 f'f + O(h^2), phi_h the exact flow (from the
    # reference solver): the remainder falls fourfold when h halves.
    u = np.array([[1.0, 0.0], [2.0, 0.5], [-1.5, 1.0]])
    f, f_prime_f = np.asarray(pendulum(u)), pendulum_jacobian_field(u)
    remainders = []
    for h in (0.2, 0.1, 0.05):
        increment = (reference_solution(pendulum, u, np.array([0.0, h]))[-1] - u) / h
        remainders.append(np.abs(increment - f - h / 2 * f_prime_f).max())
    ratios = np.array(remainders[:-1]) / np.array(remainders[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.1)
    # Backward error analysis: Euler's own modified field f - h/2 f'f is not it.
    h = 0.05
    increment = (reference_solution(pendulum, u, np.array([0.0, h]))[-1] - u) / h
    assert np.abs(increment - f + h / 2 * f_prime_f).max() > 100 * remainders[-1]


def test_fit_flow_map_learns_the_step():
    rng = np.random.default_rng(0)
    u0 = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50)])
    states = reference_solution(pendulum, u0, np.array([0.0, 0.1]))
    model, losses = fit_flow_map(states[0], states[1], dt=0.1, width=16, steps=300)
    predicted = np.asarray(model(states[0].astype(np.float32)))
    assert losses[-1] < 1e-2 * losses[0]
    np.testing.assert_allclose(np.mean((predicted - states[1]) ** 2), losses[-1], rtol=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"u must have shape \(n, 2\); got \(3,\)"):
        pendulum_jacobian_field(np.zeros(3))
    with pytest.raises(ValueError, match=r"T must be a finite number > 0.0; got -1"):
        EulerResNet(pendulum, -1.0, 4)
    with pytest.raises(ValueError, match="L must be a positive int; got 0"):
        EulerResNet(pendulum, 1.0, 0)
    with pytest.raises(TypeError, match="field must be callable"):
        EulerResNet("pendulum", 1.0, 4)
    with pytest.raises(ValueError, match=r"u0 must have shape \(n, d\)"):
        reference_solution(pendulum, np.zeros(2), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="times must be increasing and start at 0"):
        reference_solution(pendulum, np.zeros((1, 2)), np.array([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match=r"u_next must have shape \(4, 2\); got \(4, 3\)"):
        fit_flow_map(np.zeros((4, 2)), np.zeros((4, 3)), dt=0.1)
    with pytest.raises(ValueError, match="depth must be a positive int"):
        deep_network(0, 4)
    with pytest.raises(ValueError, match="activation must be one of"):
        deep_network(2, 4, activation="gelu")
    layers = deep_network(2, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 4\); got \(2, 3\)"):
        layer_gradient_norms(layers, np.zeros((2, 3)), np.zeros((2, 3)), residual=True)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 4\); got \(3, 4\)"):
        layer_gradient_norms(layers, np.zeros((2, 4)), np.zeros((3, 4)), residual=True)
    w = tf.Variable(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        train_adam_cosine(lambda x: x @ w, [w], np.zeros((3, 2)), np.zeros((3, 1)), 5, 0.0)
    with pytest.raises(TypeError, match="steps must be an int"):
        train_adam_cosine(lambda x: x @ w, [w], np.zeros((3, 2)), np.zeros((3, 1)), 5.0)
    keras.backend.clear_session()
