"""simple_rnn against Keras' SimpleRNN; windows, forecasters and rollouts against hand-written
loops; gradient norms through time against the closed form and the full Jacobian; the forecaster
saved and loaded by Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.recurrent_networks import (
    Forecaster,
    fit_forecaster,
    lorenz63,
    rollout,
    scaled_orthogonal,
    simple_rnn,
    sliding_windows,
    state_input_jacobian_norms,
)


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 4),
    time=st.integers(1, 9),
    features=st.integers(1, 5),
    units=st.integers(1, 6),
    activation=st.sampled_from(["tanh", "relu", "sigmoid"]),
    seed=st.integers(0, 2**16),
)
def test_simple_rnn_equals_keras(batch, time, features, units, activation, seed):
    x = np.random.default_rng(seed).normal(size=(batch, time, features)).astype(np.float32)
    layer = keras.layers.SimpleRNN(
        units,
        activation=activation,
        return_sequences=True,
        bias_initializer=keras.initializers.RandomNormal(seed=seed),
    )
    expected = layer(x).numpy()
    W, U, b = (w.numpy() for w in layer.weights)
    np.testing.assert_allclose(simple_rnn(x, W, U, b, activation), expected, atol=1e-5)


def test_last_state_is_keras_final_state():
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype(np.float32)
    layer = keras.layers.SimpleRNN(4)
    final = layer(x).numpy()
    states = simple_rnn(x, *(w.numpy() for w in layer.weights))
    np.testing.assert_allclose(states[:, -1, :], final, atol=1e-6)


def test_gradient_through_time_matches_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 3))
    W, U, b = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4)
    U_var = tf.Variable(U)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(simple_rnn(x, W, U_var, b)[:, -1, :] ** 2)
    expected = finite_difference_gradient(
        lambda M: float(tf.reduce_sum(simple_rnn(x, W, M, b)[:, -1, :] ** 2)), U
    )
    np.testing.assert_allclose(tape.gradient(loss, U_var).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("x_shape", "W_shape", "U_shape", "b_shape", "message"),
    [
        ((2, 3), (3, 4), (4, 4), (4,), "x must have 3 dimensions"),
        ((2, 5, 3), (2, 4), (4, 4), (4,), "x has 3 features but W expects 2"),
        ((2, 5, 3), (3, 4), (4, 3), (4,), r"U must have shape \(4, 4\)"),
        ((2, 5, 3), (3, 4), (4, 4), (3,), r"b shape \(4,\)"),
        ((2, 0, 3), (3, 4), (4, 4), (4,), "at least one time step"),
    ],
)
def test_bad_shapes(x_shape, W_shape, U_shape, b_shape, message):
    arrays = [np.zeros(s, np.float32) for s in (x_shape, W_shape, U_shape, b_shape)]
    with pytest.raises(ValueError, match=message):
        simple_rnn(*arrays)


def test_bad_types_and_activation():
    x, W, U, b = (np.zeros(s, np.float32) for s in ((1, 2, 3), (3, 4), (4, 4), (4,)))
    with pytest.raises(TypeError, match="x must be a floating-point array; got dtype int64"):
        simple_rnn(np.zeros((1, 2, 3), np.int64), W, U, b)
    with pytest.raises(TypeError, match="share one dtype"):
        simple_rnn(x.astype(np.float64), W, U, b)
    with pytest.raises(ValueError, match="activation must be one of"):
        simple_rnn(x, W, U, b, activation="gelu")


# --- forecasting a dynamical system and gradients through time --------------------------------


def test_lorenz63_by_hand():
    u = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 30.0]])
    expected = [[10.0, 1.0 * 25.0 - 2.0, 2.0 - 8.0], [-10.0, 1.0, -80.0]]
    np.testing.assert_allclose(lorenz63(u), expected, rtol=1e-15)
    with pytest.raises(ValueError, match=r"u must have shape \(n, 3\); got \(3,\)"):
        lorenz63(np.zeros(3))


def test_sliding_windows_by_hand():
    series = np.arange(10.0).reshape(5, 2)  # u_n = (2n, 2n + 1)
    x, y = sliding_windows(series, 2)
    np.testing.assert_array_equal(x, [[[0, 1], [2, 3]], [[2, 3], [4, 5]], [[4, 5], [6, 7]]])
    np.testing.assert_array_equal(y, [[4, 5], [6, 7], [8, 9]])
    two = np.stack([series, -series], axis=1)  # (n_times, 2 series, d)
    x2, y2 = sliding_windows(two, 4)
    np.testing.assert_array_equal(x2, [series[:4], -series[:4]])
    np.testing.assert_array_equal(y2, [series[4], -series[4]])


def test_sliding_windows_errors():
    with pytest.raises(ValueError, match="more than window = 5 times; got 5"):
        sliding_windows(np.zeros((5, 2)), 5)
    with pytest.raises(ValueError, match=r"series must have shape \(n_times, d\)"):
        sliding_windows(np.zeros(5), 2)
    with pytest.raises(TypeError, match="window must be an int"):
        sliding_windows(np.zeros((5, 2)), 2.0)
    with pytest.raises(ValueError, match="window must be a positive int"):
        sliding_windows(np.zeros((5, 2)), 0)


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_untrained_forecaster_is_persistence(kind):
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
    model = Forecaster(kind, 5, np.zeros(3), np.ones(3))
    np.testing.assert_array_equal(model(x), x[:, -1, :])


def test_forecaster_is_simple_rnn_and_readout():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    mean, scale = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])
    model = Forecaster("simple", 5, mean, scale, seed=3)
    model(x)
    V, c = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model.readout.set_weights([V, c])
    W, U, b = (w.numpy() for w in model.rnn.weights)
    z = ((x - mean) / scale).astype(np.float32)
    expected = x[:, -1] + scale * (simple_rnn(z, W, U, b).numpy()[:, -1] @ V + c)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_forecaster_saves_and_loads(tmp_path, kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    model = Forecaster(kind, 5, [1.0, -2.0, 0.5], [2.0, 0.5, 3.0], seed=3)
    model(x)
    model.readout.set_weights([rng.normal(size=(5, 3)), rng.normal(size=3)])
    expected = np.asarray(model(x))
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, Forecaster) and loaded.kind == kind
    np.testing.assert_array_equal(np.asarray(loaded(x)), expected)


def test_forecaster_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        Forecaster("transformer", 4, np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="scale must be > 0"):
        Forecaster("lstm", 4, np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"scale must have shape \(2,\); got \(3,\)"):
        Forecaster("gru", 4, np.zeros(2), np.ones(3))
    with pytest.raises(TypeError, match="units must be an int"):
        Forecaster("gru", 4.0, np.zeros(2), np.ones(2))


def test_fit_forecaster_starts_at_persistence_and_learns_a_rotation():
    angle = 0.3 * np.arange(60)
    series = np.column_stack([np.cos(angle), np.sin(angle)])
    x, y = sliding_windows(series, 4)
    model = Forecaster("simple", 8, np.zeros(2), np.ones(2), seed=0)
    losses = fit_forecaster(model, x, y, steps=300, learning_rate=1e-2)
    persistence = np.mean((x[:, -1] - y) ** 2)
    np.testing.assert_allclose(losses[0], persistence, rtol=1e-5)
    assert losses[-1] < 1e-2 * persistence
    with pytest.raises(ValueError, match=r"y must have shape \(56, 2\); got \(56, 1\)"):
        fit_forecaster(model, x, y[:, :1])
    with pytest.raises(TypeError, match="steps must be an int"):
        fit_forecaster(model, x, y, steps=1.5)


def test_rollout_equals_a_hand_written_loop():
    def model(window):
        return 0.5 * window[:, -1] - 0.25 * window[:, 0] + 0.1

    history = np.random.default_rng(2).normal(size=(3, 4, 2)).astype(np.float32)
    window, expected = history.copy(), []
    for _ in range(7):
        u_next = 0.5 * window[:, -1] - 0.25 * window[:, 0] + 0.1
        expected.append(u_next)
        window = np.concatenate([window[:, 1:], u_next[:, None]], axis=1)
    np.testing.assert_allclose(rollout(model, history, 7), np.stack(expected, 1), rtol=1e-6)


def test_rollout_of_a_forecaster_starts_with_its_one_step_forecast():
    history = np.random.default_rng(3).normal(size=(5, 6, 3)).astype(np.float32)
    model = Forecaster("gru", 4, np.zeros(3), np.ones(3), seed=1)
    model(history)
    model.readout.set_weights([np.full((4, 3), 0.1, np.float32), np.zeros(3, np.float32)])
    forecasts = rollout(model, history, 3)
    np.testing.assert_allclose(forecasts[:, 0], model(history), rtol=1e-6)
    shifted = np.concatenate([history[:, 1:], forecasts[:, :1]], axis=1)
    np.testing.assert_allclose(forecasts[:, 1], model(shifted), rtol=1e-6)


def test_rollout_errors():
    with pytest.raises(ValueError, match=r"history must have shape \(batch, w, d\)"):
        rollout(lambda w: w[:, -1], np.zeros((4, 2)), 3)
    with pytest.raises(ValueError, match=r"model must map \(batch, w, d\) to \(batch, d\)"):
        rollout(lambda w: w, np.zeros((4, 3, 2)), 3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        rollout(lambda w: w[:, -1], np.zeros((4, 3, 2)), 0)


def test_scaled_orthogonal():
    U = scaled_orthogonal(6, 1.3, seed=4)
    np.testing.assert_allclose(U.T @ U, 1.3**2 * np.eye(6), atol=1e-12)
    with pytest.raises(ValueError, match=r"rho must be a finite number > 0.0; got -1"):
        scaled_orthogonal(3, -1.0)


@pytest.mark.parametrize("rho", [0.7, 1.0, 1.25])
def test_linear_gradient_norms_are_rho_to_the_power(rho):
    # Linear RNN with U = rho Q: dh_T/dx_t = W U^(T - t), whose Frobenius norm is
    # rho^(T - t) ||W||_F because Q is orthogonal.
    rng = np.random.default_rng(5)
    n, T = 6, 12
    x, W = rng.normal(size=(3, T, 4)), rng.normal(size=(4, n))
    U = scaled_orthogonal(n, rho, seed=6)
    norms = state_input_jacobian_norms(x, W, U, np.zeros(n), activation="linear")
    expected = rho ** (T - np.arange(1, T + 1)) * np.linalg.norm(W)
    np.testing.assert_allclose(norms, expected, rtol=1e-12)


def test_tanh_gradient_norms_match_the_full_jacobian():
    rng = np.random.default_rng(7)
    x = tf.constant(rng.normal(size=(2, 5, 3)))
    W, U, b = rng.normal(size=(3, 4)), scaled_orthogonal(4, 1.1, seed=8), rng.normal(size=4)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h_T = simple_rnn(x, W, U, b)[:, -1, :]
    jacobian = tape.batch_jacobian(h_T, x).numpy()  # (batch, units, T, features)
    expected = np.sqrt(np.mean(np.sum(jacobian**2, axis=(1, 3)), axis=0))
    np.testing.assert_allclose(state_input_jacobian_norms(x, W, U, b), expected, rtol=1e-12)
