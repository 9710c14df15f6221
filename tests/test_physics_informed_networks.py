"""Tests of sciml_nn.physics_informed_networks and its second module
physics_informed_networks_problems: the Laplacian by nested tapes against closed forms (hypothesis)
and TensorFlow's own Hessian; its use inside the Levenberg-Marquardt Jacobian against
``tape.jacobian``; the boundary values of the ansatz; the Fourier features against NumPy and a
Keras save and load; the solvers against exact solutions whose sources are derived by hand; the
finite-difference error against its O(h^2) bound; the inverse problem against the true
coefficient; and the argument checks."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.training import flat_variables
from sciml_nn.physics_informed_networks import (
    FourierFeatures,
    PINNSolution,
    dirichlet_ansatz,
    laplacian,
    pinn_network,
    pinn_residuals,
    solve_poisson_pinn,
    train_pinn,
)
from sciml_nn.physics_informed_networks_problems import (
    finite_difference_refinement,
    fit_diffusivity_least_squares,
    fit_diffusivity_pinn,
    grid_points,
    solve_poisson_square_pinn,
)
from sciml_nn.second_order_training import residual_jacobian

PI = np.pi
X_TEST = np.linspace(0, 1, 1001)[:, None]


def relative_l2(prediction: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(prediction - truth) / np.linalg.norm(truth))


# --- the Laplacian -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 3),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    c=st.floats(-2, 2),
)
def test_laplacian_equals_closed_form_in_one_two_three_variables(d, n, seed, c):
    # u = exp(a.x) sin(b.x) + c prod_j x_j^2, whose Laplacian, derived by hand, is
    # exp(a.x) [(|a|^2 - |b|^2) sin(b.x) + 2 a.b cos(b.x)] + c sum_j 2 prod_{i != j} x_i^2.
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-2, 2, size=(2, d))
    x = rng.uniform(-1, 1, size=(n, d))

    def u(x):
        return (
            tf.exp(x @ a[:, None]) * tf.sin(x @ b[:, None])
            + c * tf.reduce_prod(x**2, axis=1, keepdims=True)
        )

    ax, bx = x @ a, x @ b
    exact = np.exp(ax) * ((a @ a - b @ b) * np.sin(bx) + 2 * (a @ b) * np.cos(bx))
    exact += c * sum(2 * np.prod(np.delete(x, j, axis=1) ** 2, axis=1) for j in range(d))
    computed = laplacian(u, x).numpy()
    assert computed.shape == (n, 1) and computed.dtype == np.float64
    np.testing.assert_array_less(np.abs(computed[:, 0] - exact), 1e-10 * np.maximum(1, abs(exact)))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_laplacian_of_a_network_is_the_trace_of_tensorflows_hessian(d):
    network = pinn_network(d, 8, seed=d)
    x = tf.constant(np.random.default_rng(d).uniform(size=(6, d)))
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            value = network(x)
        gradient = inner.gradient(value, x)
    hessian = outer.batch_jacobian(gradient, x).numpy()  # (n, d, d)
    np.testing.assert_allclose(
        laplacian(network, x).numpy()[:, 0], np.trace(hessian, axis1=1, axis2=2), rtol=1e-12,
        atol=1e-12,
    )


def test_residual_jacobian_through_the_laplacian_matches_tape_jacobian():
    # The Levenberg-Marquardt step differentiates the residuals row by row inside
    # tf.vectorized_map; the reference is TensorFlow's own full Jacobian.
    network = pinn_network(1, 5, seed=3)
    u = dirichlet_ansatz(network, lambda x: 1 - x)
    residuals = pinn_residuals(u, weight=4.0, scale=2.0)
    x = tf.constant(np.linspace(0, 1, 7)[:, None])
    t = tf.sin(x)
    on_data = tf.constant((np.arange(7) % 3 == 0)[:, None])
    D = residual_jacobian(residuals, network.trainable_variables, x, t, on_data).numpy()
    with tf.GradientTape() as tape:
        r = tf.reshape(residuals(x, t, on_data), [-1])
    blocks = tape.jacobian(r, flat_variables(network.trainable_variables))
    reference = np.concatenate([b.numpy().reshape(7, -1) for b in blocks], axis=1)
    np.testing.assert_allclose(D, reference, rtol=1e-10, atol=1e-12)


def test_pinn_residuals_are_the_equation_and_the_weighted_misfit():
    u = lambda x: x**3  # u'' = 6x
    x = tf.constant([[0.5], [0.25]], tf.float64)
    t = tf.constant([[1.0], [2.0]], tf.float64)
    on_data = tf.constant([[False], [True]])
    r = pinn_residuals(u, kappa=2.0, weight=9.0, scale=4.0)(x, t, on_data).numpy()
    np.testing.assert_allclose(r[:, 0], [(-2 * 6 * 0.5 - 1) / 4, 3 * (0.25**3 - 2)], rtol=1e-12)


# --- boundary conditions, features, training -----------------------------------------------------


def test_dirichlet_ansatz_takes_the_boundary_values_whatever_the_network():
    lift = lambda x: 0.3 * (1 - x) - 2 * x
    u = dirichlet_ansatz(pinn_network(1, 6, seed=1), lift)
    np.testing.assert_array_equal(u(tf.constant([[0.0], [1.0]], tf.float64)).numpy()[:, 0], [0.3, -2])
    square = dirichlet_ansatz(pinn_network(2, 6, seed=2))
    edges = np.array([[0, 0.3], [1, 0.7], [0.2, 0], [0.9, 1]])
    np.testing.assert_array_equal(square(tf.constant(edges)).numpy(), 0)
    assert np.all(square(tf.constant(grid_points(4))).numpy() != 0)


def test_fourier_features_are_cosines_and_sines_of_the_random_projection():
    layer = FourierFeatures(5, sigma=3.0, seed=4, dtype="float64")
    x = np.random.default_rng(0).uniform(size=(7, 2))
    output = layer(x).numpy()
    B = layer.B.numpy()
    assert B.shape == (2, 5) and 1 < B.std() < 6  # N(0, 3^2) entries
    np.testing.assert_allclose(output, np.c_[np.cos(2 * PI * x @ B), np.sin(2 * PI * x @ B)], rtol=1e-12)
    assert not layer.trainable_weights


def test_pinn_network_with_fourier_features_saves_and_loads(tmp_path):
    network = pinn_network(1, 6, features=4, sigma=2.0, seed=5)
    keras.saving.save_model(network, tmp_path / "pinn.keras")
    loaded = keras.saving.load_model(tmp_path / "pinn.keras")
    features = [layer for layer in loaded.layers if isinstance(layer, FourierFeatures)]
    assert len(features) == 1 and (features[0].features, features[0].sigma) == (4, 2.0)
    np.testing.assert_array_equal(loaded(X_TEST).numpy(), network(X_TEST).numpy())


def test_first_adam_step_is_the_learning_rate_times_the_gradient_sign():
    # Keras' Adam (Kingma & Ba's form, epsilon outside the bias correction) takes the first step
    # -lr sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps), m = (1 - b1) g, v = (1 - b2) g^2, that
    # is -lr g / (|g| + eps / sqrt(1 - b2)); g is the gradient of the mean squared residual,
    # here from TensorFlow's tape.
    network = pinn_network(1, 4, seed=6)
    variables = flat_variables(network.trainable_variables)
    x = tf.constant(np.linspace(0.1, 0.9, 9)[:, None])
    args = (x, tf.ones_like(x), tf.zeros(x.shape, tf.bool))
    residuals = pinn_residuals(network)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(residuals(*args) ** 2)
    g = [gradient.numpy() for gradient in tape.gradient(loss, variables)]
    before = [v.numpy().copy() for v in variables]
    train_pinn(residuals, variables, args, 1, "adam", learning_rate=1e-2)
    for v, v_before, g_v in zip(variables, before, g):
        expected = -1e-2 * g_v / (np.abs(g_v) + 1e-7 / np.sqrt(1 - 0.999))
        # rtol: Keras keeps lr and b2 in float32 (0.999 is 0.99900001 there)
        np.testing.assert_allclose(v.numpy() - v_before, expected, rtol=2e-5, atol=1e-12)


# --- the solvers against exact solutions ---------------------------------------------------------


def page_solution(x):
    return np.exp(x) * np.sin(2 * PI * x) + np.cos(x)


def page_source(x):
    # -u'' for u = e^x sin(2 pi x) + cos x, derived by hand
    return tf.cos(x) - tf.exp(x) * ((1 - 4 * PI**2) * tf.sin(2 * PI * x) + 4 * PI * tf.cos(2 * PI * x))


@pytest.mark.parametrize(
    ("f", "u0", "u1", "exact"),
    [
        (lambda x: PI**2 * tf.sin(PI * x), 0.0, 0.0, lambda x: np.sin(PI * x)),
        (page_source, 1.0, float(np.cos(1.0)), page_solution),
    ],
    ids=["sine", "page"],
)
def test_solve_poisson_pinn_reaches_1e_4(f, u0, u1, exact):
    start = time.perf_counter()
    solution = solve_poisson_pinn(f, u0, u1, seed=0)
    seconds = time.perf_counter() - start
    prediction = solution(X_TEST)
    assert prediction.shape == (1001, 1) and isinstance(prediction, np.ndarray)
    error = relative_l2(prediction, exact(X_TEST))
    print(f"relative L2 error {error:.1e} in {seconds:.1f} s")
    assert error <= 1e-4 and seconds <= 60


def test_the_penalty_approach_also_converges_and_matches_the_boundary_values():
    solution = solve_poisson_pinn(page_source, 1.0, float(np.cos(1.0)), boundary="penalty")
    assert relative_l2(solution(X_TEST), page_solution(X_TEST)) <= 1e-3
    np.testing.assert_allclose(solution(np.array([[0.0], [1.0]]))[:, 0], [1, np.cos(1)], atol=1e-3)


def square_solution(x, y):
    return np.sin(PI * x) * np.sin(PI * y) * np.exp(x * y)


def square_source(points):
    # -Laplace u for u = s g, s = sin(pi x) sin(pi y), g = exp(xy), derived by hand:
    # Laplace u = g Laplace s + 2 grad s . grad g + s Laplace g
    #           = g [-2 pi^2 s + 2 pi (y cos(pi x) sin(pi y) + x sin(pi x) cos(pi y))
    #                + (x^2 + y^2) s]
    x, y = points[:, :1], points[:, 1:]
    s = tf.sin(PI * x) * tf.sin(PI * y)
    cross = y * tf.cos(PI * x) * tf.sin(PI * y) + x * tf.sin(PI * x) * tf.cos(PI * y)
    return -tf.exp(x * y) * (-2 * PI**2 * s + 2 * PI * cross + (x**2 + y**2) * s)


def test_solve_poisson_square_pinn_reaches_1e_4_on_the_manufactured_solution():
    start = time.perf_counter()
    solution = solve_poisson_square_pinn(square_source, seed=0, points=16, width=12, steps=60)
    seconds = time.perf_counter() - start
    points = grid_points(60)
    error = relative_l2(solution(points), square_solution(points[:, :1], points[:, 1:]))
    print(f"relative L2 error {error:.1e} in {seconds:.1f} s")
    assert error <= 1e-4 and seconds <= 60


def test_finite_difference_error_falls_like_h_squared_until_the_target():
    def exact(points):
        return square_solution(points[:, :1], points[:, 1:])

    rows = finite_difference_refinement(square_source, exact, target=1e-4)
    errors = np.array([row["error"] for row in rows])
    assert errors[-1] <= 1e-4 < errors[-2]
    # second order: halving h divides the error by about 4 (h = 1/(n + 1), n = 8, 16, ...)
    h = 1 / (np.array([row["n"] for row in rows]) + 1)
    np.testing.assert_allclose(errors[1:] / errors[:-1], (h[1:] / h[:-1]) ** 2, rtol=0.1)
    assert [row["unknowns"] for row in rows] == [row["n"] ** 2 for row in rows]


def test_both_inverse_fits_recover_the_diffusivity_from_exact_data():
    kappa = 2.5
    x = np.linspace(0.05, 0.95, 10)[:, None]
    y = np.sin(PI * x) / kappa  # -kappa u'' = pi^2 sin(pi x)
    f = lambda x: PI**2 * tf.sin(PI * x)
    assert fit_diffusivity_least_squares(f, x, y) == pytest.approx(kappa, rel=1e-4)
    estimate, solution = fit_diffusivity_pinn(f, x, y)
    assert estimate == pytest.approx(kappa, rel=1e-4)
    assert relative_l2(solution(X_TEST), np.sin(PI * X_TEST) / kappa) <= 1e-4


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_message():
    network = pinn_network(1, 4)
    with pytest.raises(TypeError, match="u must be callable"):
        laplacian(3.0, np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\); got \(5,\)"):
        laplacian(network, np.zeros(5))
    with pytest.raises(ValueError, match="x must be finite"):
        laplacian(network, np.array([[0.5], [np.nan]]))
    with pytest.raises(ValueError, match=r"x must be finite"):
        laplacian(network, tf.constant([[np.inf]]))
    with pytest.raises(ValueError, match=r"u must return shape \(n, 1\); got \(3, 2\)"):
        laplacian(lambda x: tf.concat([x, x], 1), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="f must be callable"):
        solve_poisson_pinn("sin", 0.0, 0.0)
    with pytest.raises(ValueError, match="u0 must be finite"):
        solve_poisson_pinn(tf.sin, np.nan, 0.0)
    with pytest.raises(ValueError, match="boundary must be one of"):
        solve_poisson_pinn(tf.sin, 0.0, 0.0, boundary="dirichlet")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        solve_poisson_pinn(tf.sin, 0.0, 0.0, optimizer="sgd")
    with pytest.raises(ValueError, match=r"f\(x\) must have shape \(64, 1\)"):
        solve_poisson_pinn(lambda x: x[:, 0], 0.0, 0.0)
    with pytest.raises(ValueError, match=r"f\(x\) must be finite"):
        solve_poisson_pinn(lambda x: x / 0, 0.0, 0.0)
    solution = PINNSolution(network, network, {})
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\); got \(4, 2\)"):
        solution(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"u_observed must have shape \(3, 1\)"):
        fit_diffusivity_pinn(tf.sin, np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        FourierFeatures(4, sigma=0.0)
