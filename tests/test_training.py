"""Tests of sciml_nn.training: gradients against finite differences and a closed form, the
optimizer step against the SGD rule, the hand-written loop against Keras ``fit``, the callback."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.data import minibatches
from sciml_nn.networks import init_mlp, keras_mlp, mlp_numpy, mlp_tensorflow, params_of
from sciml_nn.training import (
    BatchTimer,
    as_variables,
    keras_regressor,
    make_train_step,
    mean_squared_error,
    train_lowlevel,
)


def _data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
    return x, np.sin(2 * np.pi * x).astype(np.float32)


def _max_difference(variables, arrays) -> float:
    return max(float(np.max(np.abs(v.numpy() - a))) for v, a in zip(variables, arrays))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 20), m=st.integers(1, 3), seed=st.integers(0, 1000))
def test_mean_squared_error_matches_keras(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_pred, y = rng.normal(size=(2, n, m)).astype(np.float32)
    expected = float(np.mean(np.sum((y_pred - y) ** 2, axis=1))) / m
    assert float(mean_squared_error(y_pred, y)) == pytest.approx(expected, rel=1e-5)
    keras_mse = float(keras.losses.MeanSquaredError()(y, y_pred))
    assert float(mean_squared_error(y_pred, y)) == pytest.approx(keras_mse, rel=1e-6)


def test_mean_squared_error_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"same shape; got \(4, 1\) and \(3, 1\)"):
        mean_squared_error(np.zeros((4, 1)), np.zeros((3, 1)))


def test_as_variables_holds_the_values() -> None:
    params = init_mlp([2, 3, 1], seed=1)
    xi = as_variables(params)
    assert all(isinstance(v, tf.Variable) for pair in xi for v in pair)
    assert _max_difference(tf.nest.flatten(xi), [a for pair in params for a in pair]) == 0.0
    with pytest.raises(ValueError, match="at least one"):
        as_variables([])


def test_step_gradient_equals_finite_differences() -> None:
    """An SGD step with rate lr moves xi by -lr * grad, so (xi - xi_new) / lr is the step's
    gradient; compare it in float64 with central differences of the NumPy network's loss."""
    x, y = _data(12)
    x, y = x.astype(np.float64), y.astype(np.float64)
    params = [(W.astype(np.float64), b.astype(np.float64)) for W, b in init_mlp([1, 4, 1], 3)]
    lr = 0.5
    xi = as_variables(params)
    step = make_train_step(lambda x: mlp_tensorflow(x, xi), xi, keras.optimizers.SGD(lr))
    step(tf.constant(x), tf.constant(y))
    flat = [a for pair in params for a in pair]
    for k, (before, after) in enumerate(zip(flat, tf.nest.flatten(xi))):

        def loss_of(value: np.ndarray, k: int = k) -> float:
            values = list(flat)
            values[k] = value
            pairs = list(zip(values[::2], values[1::2]))
            return float(np.mean((mlp_numpy(x, pairs) - y) ** 2))

        step_gradient = (before - after.numpy()) / lr
        np.testing.assert_allclose(
            step_gradient, finite_difference_gradient(loss_of, before), rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize("use_tf_function", [True, False])
def test_one_sgd_step_equals_closed_form(use_tf_function: bool) -> None:
    """For N(x) = x W + b the gradient of (eq-mse) is 2/n x^T r and 2/n sum r, r = N(x) - y."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.normal(size=(10, 1)).astype(np.float32)
    W, b = rng.normal(size=(3, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32)
    lr = 0.1
    xi = as_variables([(W, b)])
    step = make_train_step(
        lambda x: mlp_tensorflow(x, xi), xi, keras.optimizers.SGD(lr), use_tf_function
    )
    loss = step(x, y)
    r = x @ W + b - y
    assert float(loss) == pytest.approx(float(np.mean(r**2)), rel=1e-6)
    np.testing.assert_allclose(xi[0][0].numpy(), W - lr * 2 / 10 * x.T @ r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xi[0][1].numpy(), b - lr * 2 / 10 * r.sum(0), rtol=1e-5, atol=1e-6)


def test_eager_and_graph_steps_agree() -> None:
    x, y = _data(16)
    xis = [as_variables(init_mlp([1, 8, 1], seed=2)) for _ in range(2)]
    for xi, graph in zip(xis, (True, False)):
        step = make_train_step(
            lambda x, xi=xi: mlp_tensorflow(x, xi),
            xi,
            keras.optimizers.Adam(1e-2),
            use_tf_function=graph,
        )
        for _ in range(3):
            step(x, y)
    flat_graph, flat_eager = (tf.nest.flatten(xi) for xi in xis)
    assert _max_difference(flat_graph, [v.numpy() for v in flat_eager]) < 1e-6


def test_make_train_step_rejects_non_variables() -> None:
    with pytest.raises(TypeError, match="tf.Variable objects; got ndarray"):
        make_train_step(lambda x: x, [np.zeros(3)], keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="at least one tf.Variable"):
        make_train_step(lambda x: x, [], keras.optimizers.SGD(0.1))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_lowlevel_equals_keras_fit(optimizer: str) -> None:
    """The chapter's claim: same weights, optimizer and batch order give the same losses. 40
    samples in batches of 16 leave a last batch of 8, so the epoch mean must weight by size."""
    x, y = _data(40)
    x_val, y_val = _data(10, seed=1)

    def new_optimizer() -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(0.1) if optimizer == "sgd" else keras.optimizers.Adam(1e-2)

    model = keras_regressor([1, 8, 8, 1], optimizer=new_optimizer(), seed=4)
    xi = as_variables(params_of(model))
    ours = train_lowlevel(
        lambda x: mlp_tensorflow(x, xi),
        xi,
        x,
        y,
        new_optimizer(),
        4,
        16,
        validation=(x_val, y_val),
        shuffle=False,
    )
    theirs = model.fit(
        x, y, batch_size=16, epochs=4, shuffle=False, validation_data=(x_val, y_val), verbose=0
    ).history
    assert len(ours["loss"]) == len(ours["val_loss"]) == 4
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=1e-5)
    assert _max_difference(tf.nest.flatten(xi), model.get_weights()) < 1e-5


def test_train_lowlevel_shuffles_with_seed_plus_epoch() -> None:
    x, y = _data(30)
    xi, xi_ref = (as_variables(init_mlp([1, 6, 1], seed=7)) for _ in range(2))
    history = train_lowlevel(
        lambda x: mlp_tensorflow(x, xi),
        xi,
        x,
        y,
        keras.optimizers.SGD(0.05),
        epochs=2,
        batch_size=8,
        seed=3,
    )
    step = make_train_step(lambda x: mlp_tensorflow(x, xi_ref), xi_ref, keras.optimizers.SGD(0.05))
    for epoch in range(2):
        losses = [(float(step(xb, yb)), len(xb)) for xb, yb in minibatches(x, y, 8, 3 + epoch)]
        mean = sum(loss * n for loss, n in losses) / len(x)
        assert history["loss"][epoch] == pytest.approx(mean, rel=1e-6)
    assert _max_difference(tf.nest.flatten(xi), [v.numpy() for v in tf.nest.flatten(xi_ref)]) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int; got 0"),
        ({"epochs": 2.5}, TypeError, "epochs must be an int; got float"),
        ({"batch_size": -1}, ValueError, "batch_size must be a positive int; got -1"),
        ({"y": np.zeros((7, 1))}, ValueError, "same number of rows; got 8 and 7"),
        ({"x": np.zeros(8)}, ValueError, r"must be 2-D \(n, d\) arrays; got shapes \(8,\)"),
        ({"validation": (np.zeros((3, 1)), np.zeros((2, 1)))}, ValueError, "validation x and y"),
    ],
)
def test_train_lowlevel_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    xi = as_variables(init_mlp([1, 2, 1]))
    arguments = {"x": np.zeros((8, 1)), "y": np.zeros((8, 1)), "epochs": 1, "batch_size": 4}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        train_lowlevel(
            lambda x: mlp_tensorflow(x, xi), xi, optimizer=keras.optimizers.SGD(0.1), **arguments
        )


def test_keras_regressor_weights_and_penalised_loss() -> None:
    """Its initial weights are keras_mlp's; its loss is (eq-mse) + lam * sum_k ||W_k||_F^2."""
    lam = 1e-2
    model = keras_regressor([1, 5, 1], l2=lam, seed=3)
    reference = params_of(keras_mlp([1, 5, 1], seed=3))
    assert (
        _max_difference(
            tf.nest.flatten(as_variables(params_of(model))), [a for pair in reference for a in pair]
        )
        == 0.0
    )
    x, y = _data(20)
    params = params_of(model)
    expected = np.mean((mlp_numpy(x, params) - y) ** 2) + lam * sum(np.sum(W**2) for W, _ in params)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["mae"] == pytest.approx(np.mean(np.abs(mlp_numpy(x, params) - y)), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"l2": -1.0}, ValueError, "l2 must be a float >= 0; got -1.0"),
        ({"activation": "cube"}, ValueError, "activation must be one of"),
        ({"layer_sizes": [1]}, ValueError, "at least an input and an output size"),
    ],
)
def test_keras_regressor_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"layer_sizes": [1, 4, 1]}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        keras_regressor(**arguments)


def test_batch_timer_records_every_batch_and_epoch() -> None:
    x, y = _data(40)
    timer = BatchTimer()
    keras_regressor([1, 4, 1]).fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[timer])
    assert [len(epoch) for epoch in timer.batch_seconds] == [3, 3, 3]  # ceil(40 / 16) batches
    assert len(timer.epoch_seconds) == 3
    for batches, epoch in zip(timer.batch_seconds, timer.epoch_seconds):
        assert min(batches) > 0 and sum(batches) <= epoch


def test_early_stopping_restores_the_best_epoch() -> None:
    """With min_delta larger than any possible gain only epoch 0 counts as an improvement, so
    training stops after patience more epochs and the weights of epoch 0 come back."""
    x, y = _data(40)
    x_val, y_val = _data(10, seed=1)
    model = keras_regressor([1, 8, 1], optimizer=keras.optimizers.Adam(0.05), seed=2)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=2, min_delta=10.0, restore_best_weights=True
    )
    history = model.fit(
        x, y, batch_size=8, epochs=50, validation_data=(x_val, y_val), callbacks=[stop], verbose=0
    ).history
    assert len(history["val_loss"]) == 3
    restored = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(history["val_loss"][0], rel=1e-6)
    assert restored != pytest.approx(history["val_loss"][-1], rel=1e-3)
