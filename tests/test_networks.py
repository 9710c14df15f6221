"""Tests of sciml_nn.networks against Keras' Dense layers, closed forms and the Glorot bound."""

from itertools import pairwise

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.networks import (
    ACTIVATIONS,
    check_activation,
    check_layer_sizes,
    count_parameters,
    init_mlp,
    keras_mlp,
    mlp_numpy,
    mlp_tensorflow,
    params_of,
    sigma,
    sigma_tensorflow,
)

layer_sizes = st.lists(st.integers(1, 12), min_size=2, max_size=5)


@settings(max_examples=8, deadline=None)
@given(
    sizes=layer_sizes,
    activation=st.sampled_from(ACTIVATIONS),
    n=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_numpy_tensorflow_keras_agree(sizes, activation, n, seed):
    model = keras_mlp(sizes, activation, seed=seed)
    xi = params_of(model)
    x = np.random.default_rng(seed).uniform(-2.0, 2.0, size=(n, sizes[0])).astype(np.float32)
    reference = np.asarray(model(x))
    y_numpy = mlp_numpy(x, xi, activation)
    y_tf = mlp_tensorflow(x, xi, activation).numpy()
    assert y_numpy.shape == y_tf.shape == (n, sizes[-1])
    assert y_numpy.dtype == np.float32
    scale = 1.0 + np.max(np.abs(reference))
    np.testing.assert_allclose(y_numpy, reference, rtol=0, atol=2e-5 * scale)
    np.testing.assert_allclose(y_tf, reference, rtol=0, atol=2e-5 * scale)


def test_numpy_matches_hand_computed_one_hidden_layer():
    W1 = np.array([[1.0, -2.0]], dtype=np.float32)
    b1 = np.array([0.5, 0.25], dtype=np.float32)
    W2 = np.array([[3.0], [4.0]], dtype=np.float32)
    b2 = np.array([-1.0], dtype=np.float32)
    x = np.array([[1.0], [-1.0]], dtype=np.float32)
    # relu(x W1 + b1) by hand: x=1 -> (1.5, 0), x=-1 -> (0, 2.25)
    expected = np.array([[3.0 * 1.5 - 1.0], [4.0 * 2.25 - 1.0]], dtype=np.float32)
    params = [(W1, b1), (W2, b2)]
    np.testing.assert_allclose(mlp_numpy(x, params, "relu"), expected, rtol=1e-7)
    np.testing.assert_allclose(mlp_tensorflow(x, params, "relu").numpy(), expected, rtol=1e-7)


def test_tensorflow_version_is_differentiable_like_keras():
    model = keras_mlp([3, 5, 2], "tanh", seed=1)
    variables = model.trainable_variables
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        loss_ours = tf.reduce_sum(mlp_tensorflow(x, list(zip(variables[::2], variables[1::2]))) ** 2)
        loss_keras = tf.reduce_sum(model(x) ** 2)
    for g_ours, g_keras in zip(tape.gradient(loss_ours, variables), tape.gradient(loss_keras, variables)):
        np.testing.assert_allclose(g_ours.numpy(), g_keras.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "sizes", [[1, 1], [2, 8, 8, 1], [1, 32, 1], [3, 50, 50, 50, 1], [784, 128, 10]]
)
def test_count_parameters_matches_keras(sizes):
    assert count_parameters(sizes) == keras_mlp(sizes).count_params()
    assert count_parameters(sizes) == sum(W.size + b.size for W, b in init_mlp(sizes))


def test_count_parameters_by_hand():
    assert count_parameters([3, 50, 50, 50, 1]) == 5351
    assert count_parameters([3, 150, 1]) == 751


def test_init_mlp_glorot_statistics():
    sizes = [40, 60, 30]
    params = init_mlp(sizes, seed=0)
    assert [W.shape for W, _ in params] == [(40, 60), (60, 30)]
    for (W, b), (n_in, n_out) in zip(params, pairwise(sizes)):
        limit = np.sqrt(6.0 / (n_in + n_out))
        assert W.dtype == b.dtype == np.float32
        assert np.all(np.abs(W) <= limit)
        assert np.max(np.abs(W)) > 0.95 * limit  # the draw fills the interval
        assert abs(W.mean()) < 0.05 * limit
        # U(-a, a) has variance a^2 / 3 = 2 / (n_in + n_out)
        assert np.var(W) == pytest.approx(2.0 / (n_in + n_out), rel=0.1)
        np.testing.assert_array_equal(b, 0.0)
    again = init_mlp(sizes, seed=0)
    np.testing.assert_array_equal(params[0][0], again[0][0])
    assert not np.array_equal(params[0][0], init_mlp(sizes, seed=1)[0][0])


def test_keras_mlp_uses_the_same_glorot_limit_and_linear_output():
    model = keras_mlp([20, 30, 4], "relu", seed=0)
    (W1, b1), (W2, _) = params_of(model)
    assert W1.shape == (20, 30) and b1.shape == (30,) and W2.shape == (30, 4)
    assert np.max(np.abs(W1)) <= np.sqrt(6.0 / 50)
    assert model.layers[-1].activation is keras.activations.linear
    # A linear output layer can be negative even with relu hidden layers.
    x = np.random.default_rng(0).normal(size=(100, 20)).astype(np.float32)
    assert np.min(mlp_numpy(x, params_of(model), "relu")) < 0


def test_activations_match_closed_forms():
    z = np.linspace(-30.0, 30.0, 601)
    closed_forms = {
        "relu": np.where(z > 0, z, 0.0),
        "tanh": (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
        "sigmoid": 1.0 / (1.0 + np.exp(-z)),
        "softplus": np.log1p(np.exp(z)),
        "linear": z,
    }
    assert set(closed_forms) == set(ACTIVATIONS)
    for name, expected in closed_forms.items():
        np.testing.assert_allclose(sigma(z, name), expected, rtol=1e-12, atol=1e-300)


def test_sigmoid_does_not_overflow_in_float32():
    z = np.array([-1000.0, -100.0, 0.0, 100.0], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        s = sigma(z, "sigmoid")
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, [0.0, np.exp(-100.0), 0.5, 1.0], rtol=1e-5, atol=1e-45)


def test_tensorflow_activations_match_numpy():
    z = np.linspace(-6.0, 6.0, 241, dtype=np.float32)
    for name in ACTIVATIONS:
        one_layer = [(np.ones((1, 1), np.float32), np.zeros(1, np.float32))] * 2
        # With W = 1, b = 0 a 1-1-1 network returns sigma(z): the two backends' activations agree.
        y_tf = mlp_tensorflow(z[:, None], one_layer, name).numpy()[:, 0]
        np.testing.assert_allclose(y_tf, sigma(z, name), rtol=1e-6, atol=1e-7)


def test_check_layer_sizes_accepts_numpy_ints():
    assert check_layer_sizes(np.array([2, 3, 1])) == [2, 3, 1]
    assert check_activation("relu") == "relu"


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ([3], ValueError, "at least an input and an output"),
        ([], ValueError, "at least an input and an output"),
        ([2, 0, 1], ValueError, "must be positive"),
        ([2, -3, 1], ValueError, "must be positive"),
        ([2, 3.0, 1], TypeError, "must be ints"),
        ([2, True, 1], TypeError, "must be ints"),
    ],
)
def test_bad_layer_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        count_parameters(sizes)
    with pytest.raises(error, match=match):
        init_mlp(sizes)
    with pytest.raises(error, match=match):
        keras_mlp(sizes)


def test_bad_activation():
    params = init_mlp([2, 3, 1])
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"activation must be one of .*'swish'"):
        mlp_numpy(x, params, "swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_tensorflow(x, params, "Relu")
    with pytest.raises(ValueError, match="activation must be one of"):
        keras_mlp([2, 3, 1], "elu")
    with pytest.raises(TypeError, match="activation must be a str"):
        sigma(x, None)


def test_bad_inputs():
    params = init_mlp([2, 3, 1])
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(5, 3\)"):
        mlp_numpy(np.zeros((5, 3)), params)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(2,\)"):
        mlp_numpy(np.zeros(2), params)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        mlp_tensorflow(np.zeros((5, 3), np.float32), params)
    with pytest.raises(ValueError, match="at least one"):
        mlp_numpy(np.zeros((5, 2)), [])
    with pytest.raises(ValueError, match="at least one"):
        mlp_tensorflow(np.zeros((5, 2)), [])
    W1, b1 = params[0]
    W2, b2 = params[1]
    with pytest.raises(ValueError, match=r"W_2 must have shape \(3, n_2\)"):
        mlp_numpy(np.zeros((5, 2)), [(W1, b1), (W2.T, b2)])
    with pytest.raises(ValueError, match=r"b_1 shape \(n_1,\)"):
        mlp_tensorflow(np.zeros((5, 2), np.float32), [(W1, b1[:2]), (W2, b2)])


def test_params_of_needs_dense_layers():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Activation("relu")])
    with pytest.raises(ValueError, match="no Dense layers"):
        params_of(model)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_sigma_tensorflow_equals_numpy(activation):
    z = np.linspace(-4.0, 4.0, 33)
    np.testing.assert_allclose(sigma_tensorflow(activation)(z).numpy(), sigma(z, activation),
                               rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="activation must be one of"):
        sigma_tensorflow("swish")
