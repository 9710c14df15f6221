"""Residual networks as forward Euler: against a hand-written Euler loop, a closed-form ODE
solution, the observed order 1, finite-difference gradients, and the argument checks."""

import keras
import numpy as np
import pytest
from conftest import finite_difference_gradient

from sciml_nn.architectures.residual import (
    EulerResNet,
    deep_network,
    fit_flow_map,
    layer_gradient_norms,
    pendulum,
    pendulum_jacobian_field,
    reference_solution,
)


def test_euler_resnet_is_forward_euler():
    u0 = np.array([[1.0, 0.0], [-0.5, 2.0]])
    u = u0.copy()
    for _ in range(25):  # forward Euler written out, step 2/25
        u = u + 2.0 / 25 * np.column_stack([u[:, 1], -np.sin(u[:, 0])])
    np.testing.assert_allclose(EulerResNet(pendulum, 2.0, 25, dtype="float64")(u0), u, rtol=1e-14)


def test_reference_solution_against_closed_form():
    # du/dt = (v, -u) is a rotation: u(t) = u0 cos t + v0 sin t.
    u0 = np.array([[1.0, 0.0], [0.3, -0.7]])
    times = np.linspace(0.0, 3.0, 7)
    rotation = lambda u: np.column_stack([u[:, 1], -u[:, 0]])
    states = reference_solution(rotation, u0, times)
    expected = (u0[None, :, 0] * np.cos(times)[:, None] + u0[None, :, 1] * np.sin(times)[:, None])
    np.testing.assert_allclose(states[:, :, 0], expected, atol=1e-10)


def test_global_error_has_order_one():
    u0 = np.array([[1.0, 0.0], [2.0, 0.5]])
    exact = reference_solution(pendulum, u0, np.array([0.0, 2.0]))[-1]
    Ls = np.array([32, 64, 128, 256])
    errors = [np.abs(np.asarray(EulerResNet(pendulum, 2.0, L, dtype="float64")(u0)) - exact).max()
              for L in Ls]
    order = -np.polyfit(np.log(Ls), np.log(errors), 1)[0]
    assert order == pytest.approx(1.0, abs=0.1)


def test_layer_gradient_norms_match_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    for residual in (False, True):
        layers = deep_network(3, 3, residual=residual, activation="tanh", seed=4)
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
    f, ff = np.asarray(pendulum(u)), pendulum_jacobian_field(u)
    remainders = []
    for h in (0.2, 0.1, 0.05):
        increment = (reference_solution(pendulum, u, np.array([0.0, h]))[-1] - u) / h
        remainders.append(np.abs(increment - f - h / 2 * ff).max())
    ratios = np.array(remainders[:-1]) / np.array(remainders[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.1)
    # Backward error analysis: Euler's own modified field f - h/2 f'f is not it.
    h = 0.05
    increment = (reference_solution(pendulum, u, np.array([0.0, h]))[-1] - u) / h
    assert np.abs(increment - f + h / 2 * ff).max() > 100 * remainders[-1]


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
    with pytest.raises(ValueError, match="T must be a positive number; got -1"):
        EulerResNet(pendulum, -1.0, 4)
    with pytest.raises(ValueError, match="L must be a positive int; got 0"):
        EulerResNet(pendulum, 1.0, 0)
    with pytest.raises(TypeError, match="field must be callable"):
        EulerResNet("pendulum", 1.0, 4)
    with pytest.raises(ValueError, match=r"u0 must have shape \(n, d\)"):
        reference_solution(pendulum, np.zeros(2), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="times must be increasing and start at 0"):
        reference_solution(pendulum, np.zeros((1, 2)), np.array([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="u_now and u_next must be 2-D of one shape"):
        fit_flow_map(np.zeros((4, 2)), np.zeros((4, 3)), dt=0.1)
    with pytest.raises(ValueError, match="depth must be a positive int"):
        deep_network(0, 4, residual=True)
    with pytest.raises(ValueError, match="activation must be one of"):
        deep_network(2, 4, residual=True, activation="gelu")
    layers = deep_network(2, 4, residual=True)
    with pytest.raises(ValueError, match="x must have 4 columns; got 3"):
        layer_gradient_norms(layers, np.zeros((2, 3)), np.zeros((2, 3)), residual=True)
    with pytest.raises(ValueError, match="x and y must be 2-D of one shape"):
        layer_gradient_norms(layers, np.zeros((2, 4)), np.zeros((3, 4)), residual=True)
    keras.backend.clear_session()
