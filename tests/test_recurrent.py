"""simple_rnn against Keras' SimpleRNN, and its argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.architectures import simple_rnn


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 4), time=st.integers(1, 9), features=st.integers(1, 5),
       units=st.integers(1, 6), activation=st.sampled_from(["tanh", "relu", "sigmoid"]),
       seed=st.integers(0, 2**16))
def test_simple_rnn_equals_keras(batch, time, features, units, activation, seed):
    x = np.random.default_rng(seed).normal(size=(batch, time, features)).astype(np.float32)
    layer = keras.layers.SimpleRNN(units, activation=activation, return_sequences=True,
                                   bias_initializer=keras.initializers.RandomNormal(seed=seed))
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
        lambda M: float(tf.reduce_sum(simple_rnn(x, W, M, b)[:, -1, :] ** 2)), U)
    np.testing.assert_allclose(tape.gradient(loss, U_var).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("x_shape", "W_shape", "U_shape", "b_shape", "message"),
    [((2, 3), (3, 4), (4, 4), (4,), "x must have 3 dimensions"),
     ((2, 5, 3), (2, 4), (4, 4), (4,), "x has 3 features but W expects 2"),
     ((2, 5, 3), (3, 4), (4, 3), (4,), r"U must have shape \(4, 4\)"),
     ((2, 5, 3), (3, 4), (4, 4), (3,), r"b shape \(4,\)"),
     ((2, 0, 3), (3, 4), (4, 4), (4,), "at least one time step")],
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
