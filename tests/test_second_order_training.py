"""Tests of sciml_nn.second_order_training: the Jacobian against TensorFlow's own
``tape.jacobian``, the damped Gauss-Newton step against NumPy's least squares and a solve of the
damped normal equations, the Levenberg-Marquardt step and its monotone loss, a Keras save and load
of the Levenberg-Marquardt model, the flattened loss and gradient against finite differences, and
the argument checks. L-BFGS is tested in ``test_second_order_training_lbfgs.py``."""

from itertools import pairwise

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.data import fresh_test_points, sample_unit_box, squared_norm
from sciml_nn.core.mlp import keras_mlp, mlp_numpy, mlp_tensorflow
from sciml_nn.core.training import as_variables, flat_variables, mean_squared_error
from sciml_nn.fit_xtx import LowLevelMLP, exercise_setup, fit_xtx, keras_network
from sciml_nn.second_order_training import (
    LevenbergMarquardtModel,
    damped_gauss_newton_step,
    data_residuals,
    flat_value_and_gradient,
    make_levenberg_marquardt_step,
    residual_jacobian,
    xtx_problem,
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
    loss = float(make_levenberg_marquardt_step(data_residuals(model.forward), model.xi, mu)(x, y))
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
    step = make_levenberg_marquardt_step(data_residuals(model.forward), model.xi)
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


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 30),
    columns=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    mu=st.floats(1e-6, 1e3),
)
def test_damped_gauss_newton_step_solves_the_damped_normal_equations(n, columns, seed, mu):
    rng = np.random.default_rng(seed)
    D, r = rng.normal(size=(n, columns)), rng.normal(size=n)
    expected = np.linalg.solve(D.T @ D + mu * np.eye(columns), -D.T @ r)
    delta = damped_gauss_newton_step(tf.constant(D), tf.constant(r), mu).numpy()
    np.testing.assert_allclose(delta, expected, rtol=1e-8, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(columns=st.integers(1, 8), extra=st.integers(0, 20), seed=st.integers(0, 2**32 - 1))
def test_gauss_newton_step_is_the_least_squares_solution(columns, extra, seed):
    """mu -> 0 on a full-column-rank D: delta minimizes ||r + D delta|| (eq-gauss-newton)."""
    rng = np.random.default_rng(seed)
    n = columns + extra
    # singular values in [1, 2]: full column rank, well conditioned
    U, _ = np.linalg.qr(rng.normal(size=(n, columns)))
    V, _ = np.linalg.qr(rng.normal(size=(columns, columns)))
    D = U @ np.diag(rng.uniform(1, 2, columns)) @ V.T
    r = rng.normal(size=n)
    expected = np.linalg.lstsq(D, -r, rcond=None)[0]
    delta = damped_gauss_newton_step(D, r, 1e-12).numpy()
    np.testing.assert_allclose(delta, expected, rtol=1e-9, atol=1e-10)


def test_gauss_newton_step_is_invariant_to_rescaling_the_parameters():
    """With xi = S z the Jacobian in z is D S, and the step in z is S^{-1} times the step in xi;
    a gradient step is not (it becomes S S^T times the gradient in xi)."""
    rng = np.random.default_rng(3)
    D, r = rng.normal(size=(40, 6)), rng.normal(size=40)
    S = np.diag(10.0 ** rng.uniform(-2, 2, 6))
    delta = damped_gauss_newton_step(D, r, 1e-14).numpy()
    delta_z = damped_gauss_newton_step(D @ S, r, 1e-14).numpy()
    np.testing.assert_allclose(S @ delta_z, delta, rtol=1e-8)
    gradient, gradient_z = D.T @ r, (D @ S).T @ r
    assert not np.allclose(S @ gradient_z, gradient, rtol=0.1)


def test_flat_value_and_gradient_matches_finite_differences():
    xi0, x, y = xtx_problem(n=32, width=4, seed=2)
    xi = as_variables(xi0)  # nested: a list of (W, b) pairs
    value_and_gradient, x0 = flat_value_and_gradient(
        lambda: mean_squared_error(mlp_tensorflow(x, xi, "tanh"), y), xi
    )
    assert x0.dtype == np.float64 and x0.shape == (2 * 4 + 4 + 4 * 4 + 4 + 4 + 1,)

    def loss_numpy(flat):
        pieces, start = [], 0
        for W, b in xi0:
            for a in (W, b):
                pieces.append(flat[start : start + a.size].reshape(a.shape))
                start += a.size
        return float(np.mean((mlp_numpy(x, list(zip(pieces[::2], pieces[1::2]))) - y) ** 2))

    point = x0 + 0.1 * np.random.default_rng(0).normal(size=x0.shape)
    value, gradient = value_and_gradient(point)
    assert value == pytest.approx(loss_numpy(point), rel=1e-12)
    np.testing.assert_allclose(
        gradient, finite_difference_gradient(loss_numpy, point), rtol=1e-6, atol=1e-9
    )
    # the variables now hold the point evaluated
    np.testing.assert_array_equal(
        np.concatenate([v.numpy().ravel() for v in flat_variables(xi)]), point
    )


def test_flat_value_and_gradient_of_a_keras_model():
    model = keras_mlp([2, 5, 1], "tanh", seed=4, dtype="float64")
    x = 2.0 * sample_unit_box(16, 2, seed=5).astype(np.float64) - 1.0
    y = squared_norm(x)
    value_and_gradient, x0 = flat_value_and_gradient(
        lambda: mean_squared_error(model(x), y), model.trainable_variables
    )

    def loss_at(flat):
        return value_and_gradient(flat)[0]

    gradient = value_and_gradient(x0)[1]
    np.testing.assert_allclose(
        gradient, finite_difference_gradient(loss_at, x0), rtol=1e-6, atol=1e-9
    )
    assert loss_at(x0) == pytest.approx(float(np.mean((np.asarray(model(x)) - y) ** 2)))


def test_xtx_problem_is_the_exercise_in_float64():
    xi, x, y = xtx_problem(n=50, width=7, seed=3)
    assert [W.shape for W, _ in xi] == [(2, 7), (7, 7), (7, 1)]
    assert all(W.dtype == np.float64 and b.dtype == np.float64 for W, b in xi)
    assert x.shape == (50, 2) and x.dtype == np.float64 and np.all(np.abs(x) <= 1)
    np.testing.assert_allclose(y[:, 0], np.sum(((x + 1) / 2) ** 2, axis=1), rtol=1e-12)


def test_bad_arguments_of_the_flat_loss_raise():
    v = tf.Variable([1.0, 2.0], dtype=tf.float64)
    with pytest.raises(TypeError, match="loss must be callable; got float"):
        flat_value_and_gradient(1.0, [v])
    with pytest.raises(ValueError, match="variables must hold at least one tf.Variable"):
        flat_value_and_gradient(lambda: tf.reduce_sum(v), [])
    with pytest.raises(TypeError, match="variables must be tf.Variable or keras.Variable"):
        flat_value_and_gradient(lambda: tf.reduce_sum(v), [np.ones(2)])
    value_and_gradient, _ = flat_value_and_gradient(lambda: tf.reduce_sum(v**2), [v])
    with pytest.raises(ValueError, match=r"x must have shape \(2,\); got \(3,\)"):
        value_and_gradient(np.ones(3))
    with pytest.raises(ValueError, match="x must be finite"):
        value_and_gradient(np.array([1.0, np.nan]))
    vector_loss, _ = flat_value_and_gradient(lambda: v**2, [v])
    with pytest.raises(ValueError, match=r"loss must return a scalar; got shape \(2,\)"):
        vector_loss(np.ones(2))
    with pytest.raises(ValueError, match="width must be a positive int; got 0"):
        xtx_problem(width=0)


def test_levenberg_marquardt_reuses_the_products_after_an_undone_step_only_for_the_same_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against the method written out in NumPy (finite-difference Jacobian, the damped normal
    equations solved anew in every step, mu divided by 3 or doubled): the same losses, also when
    the samples change between calls; and the compiled step forms the Jacobian again only when xi
    moved or the samples changed."""
    import sciml_nn.second_order_training as sot

    jacobians = tf.Variable(0)

    def counted_jacobian(*args):
        jacobians.assign_add(1)  # runs whenever the compiled step forms D
        return residual_jacobian(*args)

    monkeypatch.setattr(sot, "residual_jacobian", counted_jacobian)
    model = LowLevelMLP([2, 5, 1], "tanh", seed=3, dtype="float64")
    sizes = [(W.shape, b.shape) for W, b in model.xi]
    xi = np.concatenate([np.concatenate([W.numpy().ravel(), b.numpy()]) for W, b in model.xi])
    batches = [(x, squared_norm(x)) for x in (sample_unit_box(40, 2, seed=s).astype(np.float64) for s in (1, 2))]
    step = sot.make_levenberg_marquardt_step(data_residuals(model.forward), model.xi, 1e-3)

    def residuals(vector, x, y):
        pairs, k = [], 0
        for (m, n), _ in sizes:
            pairs.append((vector[k : k + m * n].reshape(m, n), vector[k + m * n : k + m * n + n]))
            k += m * n + n
        return mlp_numpy(2 * x - 1, pairs, "tanh").ravel() - y.ravel()

    def jacobian(vector, x, y, h=1e-6):
        return np.stack([(residuals(vector + h * e, x, y) - residuals(vector - h * e, x, y)) / (2 * h)
                         for e in np.eye(len(vector))], axis=1)

    mu, accepted, expected_jacobians, undone, previous = 1e-3, True, 0, 0, None
    # 30 steps on one batch, some of them undone, then 10 alternating between two batches
    for k in range(40):
        batch = 0 if k < 30 or k % 2 == 0 else 1
        x, y = batches[batch]
        loss = float(step(x, y))
        # formed unless the last step was undone on these same samples
        expected_jacobians += accepted or batch != previous
        previous = batch
        r = residuals(xi, x, y)
        D = jacobian(xi, x, y)
        trial = xi + np.linalg.solve(D.T @ D + mu * np.eye(len(xi)), -D.T @ r)
        old_loss, new_loss = np.mean(r**2), np.mean(residuals(trial, x, y) ** 2)
        accepted = new_loss < old_loss
        xi, mu = (trial, mu / 3) if accepted else (xi, mu * 2)
        undone += not accepted
        assert loss == pytest.approx(min(old_loss, new_loss), rel=1e-6)
    assert undone > 3  # the reuse was exercised
    assert int(jacobians.numpy()) == expected_jacobians


def test_gauss_newton_products_and_solve_reject_bad_input_with_a_clear_error() -> None:
    from sciml_nn.second_order_training import gauss_newton_products, solve_damped

    D, r = np.ones((4, 3)), np.ones(4)
    with pytest.raises(ValueError, match="D must be a matrix"):
        gauss_newton_products(np.ones(4), r)
    with pytest.raises(TypeError, match="D must be floating-point"):
        gauss_newton_products(np.ones((4, 3), dtype=int), r)
    with pytest.raises(ValueError, match="must have 4 rows"):
        gauss_newton_products(D, np.ones(5))
    DtD, Dtr = gauss_newton_products(D, r)
    with pytest.raises(ValueError, match="DtD must have 3 columns"):
        solve_damped(np.ones((3, 2)), Dtr, 1.0)
    with pytest.raises(ValueError, match="Dtr must have 3 rows"):
        solve_damped(DtD, np.ones((2, 1)), 1.0)
    with pytest.raises(ValueError, match="mu must be a finite number > 0"):
        solve_damped(DtD, Dtr, 0.0)
    with pytest.raises(TypeError, match="mu must be a float"):
        solve_damped(DtD, Dtr, "1")
