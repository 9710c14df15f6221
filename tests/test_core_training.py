"""Tests of sciml_nn.core.training against outside references: Keras' loss and its own training
step, central finite differences, a gradient derived by hand, and the tape."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.mlp import (
    init_mlp,
    keras_mlp,
    mlp_numpy,
    mlp_tensorflow,
)
from sciml_nn.core.training import (
    as_variables,
    batched_dataset,
    flat_variables,
    make_train_step,
    mean_squared_error,
)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 20), m=st.integers(1, 3), seed=st.integers(0, 1000))
def test_mean_squared_error_matches_keras(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_pred, y = rng.normal(size=(2, n, m)).astype(np.float32)
    keras_mse = float(keras.losses.MeanSquaredError()(y, y_pred))
    assert float(mean_squared_error(y_pred, y)) == pytest.approx(keras_mse, rel=1e-6)


def test_mean_squared_error_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"y_pred must have the shape of y, \(3, 1\); got \(4, 1\)"):
        mean_squared_error(np.zeros((4, 1)), np.zeros((3, 1)))


def test_as_variables_are_watched_by_the_tape() -> None:
    """The tape watches tf.Variables on its own: the gradient of sum_k sum(W_k) + sum(b_k) is
    all ones, with the variables' shapes, and the values are those of xi."""
    xi_arrays = init_mlp([2, 3, 1], seed=1)
    xi = as_variables(xi_arrays)
    assert [v.name.split(":")[0] for v in tf.nest.flatten(xi)] == ["W_1", "b_1", "W_2", "b_2"]
    with tf.GradientTape() as tape:
        total = sum(tf.reduce_sum(v) for v in tf.nest.flatten(xi))
    gradients = tape.gradient(total, tf.nest.flatten(xi))
    for g, v, a in zip(gradients, tf.nest.flatten(xi), tf.nest.flatten(xi_arrays), strict=True):
        np.testing.assert_array_equal(g.numpy(), np.ones_like(a))
        np.testing.assert_array_equal(v.numpy(), a)
    with pytest.raises(ValueError, match="xi must hold at least one"):
        as_variables([])
    with pytest.raises(ValueError, match=r"W_2 must have shape \(3, n_2\)"):
        as_variables([xi_arrays[0], (xi_arrays[1][0].T, xi_arrays[1][1])])


def test_step_gradient_equals_finite_differences() -> None:
    """An SGD step with rate lr moves xi by -lr * grad, so (xi - xi_new) / lr is the step's
    gradient; compare it in float64 with central differences of the NumPy network's loss."""
    x = np.linspace(0.0, 1.0, 12)[:, None]
    y = np.sin(2 * np.pi * x)
    xi_arrays = [(W.astype(np.float64), b.astype(np.float64)) for W, b in init_mlp([1, 4, 1], 3)]
    lr = 0.5
    xi = as_variables(xi_arrays)
    step = make_train_step(lambda x: mlp_tensorflow(x, xi), xi, keras.optimizers.SGD(lr))
    step(tf.constant(x), tf.constant(y))
    flat = [a for pair in xi_arrays for a in pair]
    for k, (before, after) in enumerate(zip(flat, tf.nest.flatten(xi))):

        def J_of(value: np.ndarray, k: int = k) -> float:
            values = list(flat)
            values[k] = value
            pairs = list(zip(values[::2], values[1::2]))
            return float(np.mean((mlp_numpy(x, pairs) - y) ** 2))

        step_gradient = (before - after.numpy()) / lr
        np.testing.assert_allclose(
            step_gradient, finite_difference_gradient(J_of, before), rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize("use_tf_function", [True, False])
def test_one_sgd_step_equals_hand_derived_gradient(use_tf_function: bool) -> None:
    """For N(x) = x W + b the gradient of (eq-mse), derived by hand, is 2/n x^T r and 2/n sum r,
    r = N(x) - y."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.normal(size=(10, 1)).astype(np.float32)
    W, b = rng.normal(size=(3, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32)
    lr = 0.1
    xi = as_variables([(W, b)])
    step = make_train_step(
        lambda x: mlp_tensorflow(x, xi), xi, keras.optimizers.SGD(lr), use_tf_function
    )
    J = step(x, y)
    r = x @ W + b - y
    assert float(J) == pytest.approx(float(np.mean(r**2)), rel=1e-6)
    np.testing.assert_allclose(xi[0][0].numpy(), W - lr * 2 / 10 * x.T @ r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xi[0][1].numpy(), b - lr * 2 / 10 * r.sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("use_tf_function", [True, False])
def test_train_step_equals_keras_train_on_batch(use_tf_function: bool) -> None:
    """Three Adam steps of make_train_step on a Keras model's own variables land where Keras'
    compiled training step (train_on_batch) takes a twin of the model, and report its losses."""
    x = np.random.default_rng(0).uniform(size=(16, 2)).astype(np.float32)
    y = np.sum(x**2, axis=1, keepdims=True)
    ours, twin = keras_mlp([2, 8, 1], seed=3), keras_mlp([2, 8, 1], seed=3)
    twin.compile(keras.optimizers.Adam(1e-2), loss="mean_squared_error", jit_compile=False)
    step = make_train_step(
        ours, ours.trainable_variables, keras.optimizers.Adam(1e-2), use_tf_function
    )
    for _ in range(3):
        J_keras = twin.test_on_batch(x, y)  # the loss before the step, as ours returns
        J_ours = float(step(x, y))
        twin.train_on_batch(x, y)
        assert J_ours == pytest.approx(J_keras, rel=1e-6)
    for v_ours, v_keras in zip(ours.trainable_variables, twin.trainable_variables):
        np.testing.assert_allclose(v_ours.numpy(), v_keras.numpy(), rtol=1e-5, atol=1e-7)


def test_flat_variables_unwraps_keras_variables() -> None:
    model = keras_mlp([2, 3, 1])
    flat = flat_variables(model.trainable_variables)
    assert all(isinstance(v, tf.Variable) for v in flat)
    assert [tuple(v.shape) for v in flat] == [(2, 3), (3,), (3, 1), (1,)]
    xi = as_variables(init_mlp([2, 3, 1]))
    assert all(a is b for a, b in zip(flat_variables(xi), tf.nest.flatten(xi), strict=True))


def test_make_train_step_rejects_non_variables() -> None:
    with pytest.raises(TypeError, match="tf.Variable or keras.Variable objects; got ndarray"):
        make_train_step(lambda x: x, [np.zeros(3)], keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="at least one tf.Variable"):
        make_train_step(lambda x: x, [], keras.optimizers.SGD(0.1))
    model = keras_mlp([2, 3, 1])
    with pytest.raises(TypeError, match="tf.Variable or keras.Variable objects; got ndarray"):
        make_train_step(model, [np.zeros(3)], keras.optimizers.SGD(0.1))


@pytest.mark.parametrize("batch_size", [7, 32, 64])
def test_fit_on_batched_dataset_takes_the_steps_of_fit_on_arrays(batch_size: int) -> None:
    # The outside reference is Keras' own fit on the arrays, unshuffled; 50 rows leave a
    # remainder batch for 7 and 32, and one batch for 64.
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(50, 2)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True))
    x_val, y_val = x[:10] + 0.5, y[:10]
    runs = []
    for data in ("arrays", "dataset"):
        model = keras_mlp([2, 8, 1], "tanh", seed=3)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mean_squared_error")
        if data == "arrays":
            history = model.fit(x, y, batch_size=batch_size, epochs=3, shuffle=False,
                                validation_data=(x_val, y_val), verbose=0).history
        else:
            history = model.fit(batched_dataset(x, y, batch_size), epochs=3, shuffle=False,
                                validation_data=batched_dataset(x_val, y_val, batch_size),
                                verbose=0).history
        runs.append((model.get_weights(), history))
    (weights_a, history_a), (weights_d, history_d) = runs
    for a, d in zip(weights_a, weights_d):
        np.testing.assert_array_equal(a, d)
    assert history_a == history_d


def test_batched_dataset_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        batched_dataset(np.zeros((4, 1)), np.zeros((4, 1)), 0)
    with pytest.raises(ValueError):
        batched_dataset(np.zeros((4, 1)), np.zeros((3, 1)), 2)


def test_compiled_step_is_traced_once_and_matches_the_lazily_built_optimizer() -> None:
    """An optimizer whose state is created inside the first traced call makes tf.function trace
    twice; make_train_step builds it first. The steps equal those of an optimizer left to build
    itself at its first step, outside any tf.function (TensorFlow's and Keras' own path)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 2)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True))
    compiled_model, eager_model = (keras_mlp([2, 8, 1], "tanh", seed=1) for _ in range(2))
    step = make_train_step(compiled_model, compiled_model.trainable_variables,
                           keras.optimizers.Adam(1e-2))
    eager_step = make_train_step(eager_model, eager_model.trainable_variables,
                                 keras.optimizers.Adam(1e-2), use_tf_function=False)
    for _ in range(3):
        step(x, y)
        eager_step(x, y)
    assert step.experimental_get_tracing_count() == 1
    for a, b in zip(compiled_model.get_weights(), eager_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
