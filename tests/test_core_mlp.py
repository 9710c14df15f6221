"""Tests of sciml_nn.core.mlp against outside references: Keras' Dense layers, initializers,
activations and parameter counts, SciPy's sigmoid, hand computations and the tape."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.mlp import (
    ACTIVATIONS,
    check_activation,
    check_layer_sizes,
    count_parameters,
    count_weights,
    dense_layers,
    init_mlp,
    keras_mlp,
    layer_sizes_of,
    mlp_numpy,
    mlp_tensorflow,
    params_of,
    sigma,
    sigma_tensorflow,
    stable_sigmoid,
)

layer_sizes_strategy = st.lists(st.integers(1, 12), min_size=2, max_size=5)


@settings(max_examples=8, deadline=None)
@given(
    layer_sizes=layer_sizes_strategy,
    activation=st.sampled_from(ACTIVATIONS),
    n=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_numpy_tensorflow_keras_agree(layer_sizes, activation, n, seed):
    model = keras_mlp(layer_sizes, activation, seed=seed)
    xi = params_of(model)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n, layer_sizes[0])).astype(np.float32)
    reference = np.asarray(model(x))
    y_numpy = mlp_numpy(x, xi, activation)
    y_tf = mlp_tensorflow(x, xi, activation).numpy()
    assert y_numpy.shape == y_tf.shape == (n, layer_sizes[-1])
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
    xi = [(W1, b1), (W2, b2)]
    np.testing.assert_allclose(mlp_numpy(x, xi, "relu"), expected, rtol=1e-7)
    np.testing.assert_allclose(mlp_tensorflow(x, xi, "relu").numpy(), expected, rtol=1e-7)


def test_tensorflow_version_is_differentiable_like_keras():
    model = keras_mlp([3, 5, 2], "tanh", seed=1)
    variables = model.trainable_variables
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        J_ours = tf.reduce_sum(mlp_tensorflow(x, list(zip(variables[::2], variables[1::2]))) ** 2)
        J_keras = tf.reduce_sum(model(x) ** 2)
    for g_ours, g_keras in zip(tape.gradient(J_ours, variables), tape.gradient(J_keras, variables)):
        np.testing.assert_allclose(g_ours.numpy(), g_keras.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layer_sizes", [[1, 1], [2, 8, 8, 1], [1, 32, 1], [3, 50, 50, 50, 1], [784, 128, 10]]
)
def test_counts_match_keras(layer_sizes):
    model = keras_mlp(layer_sizes)
    assert count_parameters(layer_sizes) == model.count_params()
    kernels = sum(int(np.prod(layer.kernel.shape)) for layer in model.layers)
    assert count_weights(layer_sizes) == kernels


def test_count_parameters_by_hand():
    assert count_parameters([3, 50, 50, 50, 1]) == 5351
    assert count_parameters([3, 150, 1]) == 751
    assert count_weights([3, 50, 50, 50, 1]) == 5351 - 151  # 151 biases


def test_init_mlp_draws_what_keras_glorot_uniform_draws():
    """Each W_k is distributed as keras.initializers.GlorotUniform draws a kernel of its shape
    (two-sample Kolmogorov-Smirnov test), with the variance 2 / (n_in + n_out) of Glorot and
    Bengio (2010); biases are zero; the draw is seeded."""
    layer_sizes = [400, 300, 30]
    xi = init_mlp(layer_sizes, seed=0)
    assert [W.shape for W, _ in xi] == [(400, 300), (300, 30)]
    for k, (W, b) in enumerate(xi, start=1):
        n_in, n_out = W.shape
        keras_kernel = np.asarray(keras.initializers.GlorotUniform(seed=k)((n_in, n_out)))
        assert W.dtype == b.dtype == np.float32
        assert scipy.stats.ks_2samp(W.ravel(), keras_kernel.ravel()).pvalue > 0.01
        assert np.max(np.abs(W)) <= np.max(np.abs(keras_kernel)) * (1 + 1e-3)
        assert np.var(W) == pytest.approx(2.0 / (n_in + n_out), rel=0.05)
        np.testing.assert_array_equal(b, 0.0)
    np.testing.assert_array_equal(xi[0][0], init_mlp(layer_sizes, seed=0)[0][0])
    assert not np.array_equal(xi[0][0], init_mlp(layer_sizes, seed=1)[0][0])


def test_keras_mlp_has_a_linear_output_and_glorot_kernels():
    model = keras_mlp([20, 300, 4], "relu", seed=0)
    (W1, b1), (W2, _) = params_of(model)
    assert W1.shape == (20, 300) and b1.shape == (300,) and W2.shape == (300, 4)
    numpy_draw = init_mlp([20, 300, 4], seed=0)[0][0]
    assert scipy.stats.ks_2samp(W1.ravel(), numpy_draw.ravel()).pvalue > 0.01
    assert model.layers[-1].activation is keras.activations.linear
    # A linear output layer can be negative even with relu hidden layers.
    x = np.random.default_rng(0).normal(size=(100, 20)).astype(np.float32)
    assert np.min(np.asarray(model(x))) < 0


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_keras_mlp_is_float64_throughout(activation):
    """With dtype="float64" the inputs are not rounded to float32 on the way in: the model
    agrees with the float64 NumPy network to float64 rounding."""
    model = keras_mlp([3, 8, 8, 2], activation, seed=4, dtype="float64")
    x = np.random.default_rng(1).normal(size=(50, 3))
    y = np.asarray(model(x))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, mlp_numpy(x, params_of(model), activation), rtol=0, atol=1e-13)
    mixed = keras_mlp([3, 2], dtype="mixed_bfloat16")
    assert mixed.inputs[0].dtype == "float32"  # the variables' dtype under a mixed policy


def test_keras_mlp_saves_and_loads(tmp_path):
    model = keras_mlp([3, 8, 2], "softplus", seed=2, kernel_regularizer=keras.regularizers.L2(0.1))
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert [layer.name for layer in dense_layers(loaded)] == ["hidden_1", "output"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_match_keras(activation):
    """NumPy's sigma and the TensorFlow sigma both agree with Keras' activation of that name."""
    z = np.linspace(-30.0, 30.0, 601)
    reference = keras.activations.get(activation)(tf.constant(z)).numpy()
    np.testing.assert_allclose(sigma(z, activation), reference, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        sigma_tensorflow(activation)(tf.constant(z)).numpy(), reference, rtol=1e-12, atol=1e-300
    )


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


def test_stable_sigmoid_matches_scipy_without_overflow():
    """Far beyond where 1 / (1 + exp(-z)) overflows, in float64 and float32."""
    for dtype in (np.float64, np.float32):
        z = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], dtype=dtype)
        with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow is fine
            s = stable_sigmoid(z)
        assert s.dtype == dtype
        # float32 subnormals (exp(-100) ~ 4e-44) may be flushed to 0 by one of the two
        np.testing.assert_allclose(s, scipy.special.expit(z), rtol=1e-5, atol=1e-40)
    assert sigma(np.float32(-1000.0), "sigmoid") == 0.0


def test_check_layer_sizes_accepts_numpy_ints():
    assert check_layer_sizes(np.array([2, 3, 1])) == [2, 3, 1]
    assert check_activation("relu") == "relu"


def test_layer_sizes_of_keras_weights():
    model = keras_mlp([3, 7, 5, 2])
    assert layer_sizes_of(params_of(model)) == [3, 7, 5, 2]
    variables = model.trainable_variables
    assert layer_sizes_of(list(zip(variables[::2], variables[1::2]))) == [3, 7, 5, 2]


@pytest.mark.parametrize(
    "layer_sizes, error, match",
    [
        ([3], ValueError, "at least an input and an output"),
        ([], ValueError, "at least an input and an output"),
        ([2, 0, 1], ValueError, "layer sizes must be a positive int; got 0"),
        ([2, -3, 1], ValueError, "layer sizes must be a positive int; got -3"),
        ([2, 3.0, 1], TypeError, "layer sizes must be an int; got float"),
        ([2, True, 1], TypeError, "layer sizes must be an int; got bool"),
    ],
)
def test_bad_layer_sizes(layer_sizes, error, match):
    with pytest.raises(error, match=match):
        count_parameters(layer_sizes)
    with pytest.raises(error, match=match):
        count_weights(layer_sizes)
    with pytest.raises(error, match=match):
        init_mlp(layer_sizes)
    with pytest.raises(error, match=match):
        keras_mlp(layer_sizes)


def test_bad_activation():
    xi = init_mlp([2, 3, 1])
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"activation must be one of .*'swish'"):
        mlp_numpy(x, xi, "swish")
    with pytest.raises(ValueError, match=r"activation must be one of .*'swish'"):
        mlp_numpy(x, xi[-1:], "swish")  # no hidden layer, still checked
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_tensorflow(x, xi, "Relu")
    with pytest.raises(ValueError, match="activation must be one of"):
        keras_mlp([2, 3, 1], "elu")
    with pytest.raises(ValueError, match="activation must be one of"):
        sigma_tensorflow("swish")
    with pytest.raises(TypeError, match="activation must be a str"):
        sigma(x, None)


def test_bad_inputs():
    xi = init_mlp([2, 3, 1])
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(5, 3\)"):
        mlp_numpy(np.zeros((5, 3)), xi)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(2,\)"):
        mlp_numpy(np.zeros(2), xi)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        mlp_tensorflow(np.zeros((5, 3), np.float32), xi)
    with pytest.raises(ValueError, match="xi must hold at least one"):
        mlp_numpy(np.zeros((5, 2)), [])
    with pytest.raises(ValueError, match="xi must hold at least one"):
        mlp_tensorflow(np.zeros((5, 2)), [])
    (W1, b1), (W2, b2) = xi
    with pytest.raises(ValueError, match=r"W_2 must have shape \(3, n_2\)"):
        mlp_numpy(np.zeros((5, 2)), [(W1, b1), (W2.T, b2)])
    with pytest.raises(ValueError, match=r"b_1 shape \(n_1,\)"):
        mlp_tensorflow(np.zeros((5, 2), np.float32), [(W1, b1[:2]), (W2, b2)])
    with pytest.raises(ValueError, match=r"W_1 must have shape \(n_0, n_1\)"):
        layer_sizes_of([(W1.ravel(), b1)])


def test_dense_layers_and_params_of_need_dense_layers():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Activation("relu")])
    with pytest.raises(ValueError, match="no Dense layers"):
        params_of(model)
    with pytest.raises(ValueError, match="no Dense layers"):
        dense_layers(model)
