"""Tests of sciml_nn.regularization: the penalties against Keras' regularizers, the soft threshold
against a brute-force minimisation and hand-computed values, the proximal step against the
lasso's closed form, the training loop against Keras ``fit`` and the early stopping rule against
Keras' ``EarlyStopping``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn import regularization
from sciml_nn.core.data import make_dataset
from sciml_nn.core.mlp import keras_mlp
from sciml_nn.regularization import (
    count_exact_zeros,
    kernels,
    l1_penalty,
    l2_penalty,
    soft_threshold,
    train_regularized,
)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), lam=st.floats(0.0, 10.0))
def test_penalties_match_keras_regularizers(seed: int, lam: float) -> None:
    model = keras_mlp([2, 5, 3, 1], seed=seed)
    W = kernels(model)
    keras_l2 = sum(float(keras.regularizers.L2(lam)(W_k)) for W_k in W)
    keras_l1 = sum(float(keras.regularizers.L1(lam)(W_k)) for W_k in W)
    assert float(l2_penalty(W, lam)) == pytest.approx(keras_l2, rel=1e-5, abs=1e-7)
    assert float(l1_penalty(W, lam)) == pytest.approx(keras_l1, rel=1e-5, abs=1e-7)


def test_penalty_equals_the_loss_keras_adds_for_kernel_regularizer() -> None:
    lam = 0.03
    model = keras_mlp([1, 4, 4, 1], seed=3, kernel_regularizer=keras.regularizers.L2(lam))
    model(np.zeros((2, 1), np.float32))
    assert float(l2_penalty(kernels(model), lam)) == pytest.approx(
        float(tf.add_n(model.losses)), rel=1e-6
    )
    # NumPy arrays work too, and the penalty is lam * sum of squares by hand
    arrays = [np.asarray(W_k) for W_k in kernels(model)]
    by_hand = lam * sum(float(np.sum(A.astype(np.float64) ** 2)) for A in arrays)
    assert float(l2_penalty(arrays, lam)) == pytest.approx(by_hand, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(w=st.floats(-3.0, 3.0), t=st.floats(0.0, 2.0))
def test_soft_threshold_minimises_the_proximal_objective(w: float, t: float) -> None:
    u = np.linspace(-5.0, 5.0, 200_001)  # grid spacing 5e-5
    brute_force = u[np.argmin(0.5 * (u - w) ** 2 + t * np.abs(u))]
    prox = soft_threshold(np.array([w]), t)[0]
    assert prox == pytest.approx(brute_force, abs=1e-4)


def test_soft_threshold_exact_zeros_and_tensorflow_agrees() -> None:
    w = np.array([-2.0, -0.5, -0.3, 0.0, 0.1, 0.3, 0.31, 1.0], dtype=np.float32)
    expected = np.array([-1.7, -0.2, 0.0, 0.0, 0.0, 0.0, 0.01, 0.7], dtype=np.float32)
    out_numpy = soft_threshold(w, 0.3)
    out_tf = soft_threshold(tf.constant(w), 0.3)
    assert isinstance(out_numpy, np.ndarray) and isinstance(out_tf, tf.Tensor)
    np.testing.assert_allclose(out_numpy, expected, atol=1e-6)
    np.testing.assert_array_equal(out_tf.numpy(), out_numpy)
    assert np.count_nonzero(out_numpy == 0.0) == 4  # exactly the entries with |w| <= 0.3
    assert count_exact_zeros([out_numpy]) == 4


def _orthonormal_lasso(n: int = 32, d: int = 8, seed: int = 0):
    """Zero-mean columns with X^T X / n = I, so J(w) = |w - w_true|^2 and the lasso minimiser of
    J + lam |w|_1 is soft_threshold(w_true, lam / 2)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(np.column_stack([np.ones(n), rng.standard_normal((n, d))]))
    X = np.sqrt(n) * Q[:, 1:]
    w_true = np.linspace(-1.0, 1.0, d)
    return X.astype(np.float32), (X @ w_true)[:, None].astype(np.float32), w_true


def test_proximal_l1_reaches_the_lasso_solution_with_exact_zeros() -> None:
    X, y, w_true = _orthonormal_lasso()
    lam = 1.0
    lasso = soft_threshold(w_true, lam / 2)
    n_zeros = int(np.sum(lasso == 0))
    assert n_zeros == 4  # |w_true| <= 0.5 for four of the eight entries
    model = keras_mlp([8, 1], seed=0)
    lr = 0.05
    # The proximal gradient method converges for a step lr <= 1/L, with L the Lipschitz
    # constant of the gradient of J (Beck and Teboulle 2009): here the largest eigenvalue of
    # J's Hessian in (kernel, bias), 2 Z^T Z / n.
    Z = np.column_stack([X, np.ones(len(X))]).astype(np.float64)
    L = 2 * np.linalg.eigvalsh(Z.T @ Z / len(X))[-1]
    assert L == pytest.approx(2.0) and lr <= 1 / L
    train_regularized(model, X, y, keras.optimizers.SGD(lr), 400, "l1", lam, proximal=True)
    W = kernels(model)[0].numpy()[:, 0]
    np.testing.assert_allclose(W, lasso, atol=1e-5)
    assert count_exact_zeros(kernels(model)) == n_zeros
    # the subgradient method on the same problem hovers around zero without reaching it
    model = keras_mlp([8, 1], seed=0)
    train_regularized(model, X, y, keras.optimizers.SGD(lr), 400, "l1", lam)
    W = kernels(model)[0].numpy()[:, 0]
    assert count_exact_zeros(kernels(model)) < n_zeros
    assert np.max(np.abs(W[lasso == 0])) < 2 * lr * lam  # near zero: within two steps lr * lam


def test_l2_training_matches_keras_fit_with_kernel_regularizer() -> None:
    x, y = make_dataset(lambda x: np.sin(2 * np.pi * x), 16, d=1, seed=0)
    lam = 0.01
    ours = keras_mlp([1, 8, 8, 1], seed=1)
    train_regularized(ours, x, y, keras.optimizers.SGD(0.1), 20, "l2", lam)
    reference = keras_mlp([1, 8, 8, 1], seed=1, kernel_regularizer=keras.regularizers.L2(lam))
    reference.compile(keras.optimizers.SGD(0.1), "mse")
    reference.fit(x, y, batch_size=16, epochs=20, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_early_stopping_matches_keras_early_stopping() -> None:
    # an over-parameterised linear model on few noisy samples
    rng = np.random.default_rng(2)
    d = 30
    w = rng.standard_normal(d) / np.sqrt(d)
    x, x_val = rng.standard_normal((2, 12, d)).astype(np.float32)
    y = (x @ w + 0.5 * rng.standard_normal(12))[:, None].astype(np.float32)
    y_val = (x_val @ w)[:, None].astype(np.float32)
    model = keras_mlp([d, 1], seed=4)
    history = train_regularized(
        model,
        x,
        y,
        keras.optimizers.SGD(0.1),
        400,
        validation=(x_val, y_val),
        record_every=1,
        patience=10,
    )
    # Keras' callback, shown the same validation losses one epoch at a time, stops at the same
    # epoch and picks the same best epoch
    stop = keras.callbacks.EarlyStopping(patience=10)
    stop.set_model(keras_mlp([d, 1], seed=4))
    stop.model.stop_training = False  # what fit sets before the first epoch
    stop.on_train_begin()
    for epoch, val_loss in enumerate(history["val_loss"]):
        stop.on_epoch_end(epoch, {"val_loss": val_loss})
        if stop.model.stop_training:
            break
    assert len(history["step"]) < 400  # it did stop early
    assert stop.model.stop_training and stop.stopped_epoch == len(history["step"]) - 1
    assert int(np.argmin(history["val_loss"])) == stop.best_epoch
    # the restored weights are those after the best epoch's steps
    best_steps = history["step"][stop.best_epoch]
    again = keras_mlp([d, 1], seed=4)
    train_regularized(again, x, y, keras.optimizers.SGD(0.1), best_steps, record_every=1)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_errors() -> None:
    W = [np.ones((2, 2), np.float32)]
    with pytest.raises(ValueError, match="lam must be a finite number >= 0; got -1"):
        l2_penalty(W, -1.0)
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0; got -0.5"):
        soft_threshold(np.ones(3), -0.5)
    with pytest.raises(ValueError, match="weights must hold at least one array"):
        l1_penalty([], 0.1)
    with pytest.raises(TypeError, match="weights must be a list of arrays"):
        l1_penalty(np.ones((2, 2)), 0.1)
    with pytest.raises(TypeError, match=r"weights\[0\] must be a floating-point array"):
        l2_penalty([np.ones((2, 2), dtype=np.int32)], 0.1)
    with pytest.raises(TypeError, match="w must be a floating-point array"):
        soft_threshold(np.arange(3), 0.1)
    with pytest.raises(TypeError, match="w must be a floating-point array; got dtype int32"):
        soft_threshold(tf.constant([1, 2]), 0.1)
    model = keras_mlp([1, 2, 1])
    x = np.zeros((4, 1), np.float32)
    opt = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"penalty must be one of \('none', 'l2', 'l1'\)"):
        train_regularized(model, x, x, opt, 1, penalty="l3")
    with pytest.raises(ValueError, match="proximal=True needs penalty='l1'"):
        train_regularized(model, x, x, opt, 1, penalty="l2", proximal=True)
    with pytest.raises(ValueError, match="patience needs validation data"):
        train_regularized(model, x, x, opt, 1, patience=3)
    with pytest.raises(ValueError, match="x and y must have the same number of rows; got 4 and 3"):
        train_regularized(model, x, x[:3], opt, 1)
    with pytest.raises(ValueError, match=r"validation x and y must be 2-D \(n, d\) arrays"):
        train_regularized(model, x, x, opt, 1, validation=(x[:, 0], x))
    with pytest.raises(ValueError, match="model has no Dense layers"):
        kernels(keras.Sequential([keras.Input((1,)), keras.layers.Dropout(0.1)]))


@pytest.mark.parametrize(("penalty", "proximal"), [("l2", False), ("l1", True)])
def test_a_network_reset_and_trained_again_reuses_its_steps_with_fresh_results(
    penalty: str, proximal: bool
) -> None:
    x, y = make_dataset(lambda x: np.sin(3 * x), n=16, d=1, seed=2)
    model, optimizer = keras_mlp([1, 8, 1], seed=0), keras.optimizers.Adam(0.01)
    optimizer.build(model.trainable_variables)
    start, optimizer_start = model.get_weights(), {}
    optimizer.save_own_variables(optimizer_start)
    lams, swept = [1e-3, 1e-2], []
    for lam in lams:  # a sweep: reset, train again
        model.set_weights(start)
        optimizer.load_own_variables(optimizer_start)
        history = train_regularized(model, x, y, optimizer, 50, penalty, lam, proximal, record_every=25)
        swept.append((history, model.get_weights()))
    run, _ = regularization._compiled(model, optimizer, penalty, proximal, 1, 1)
    assert run.experimental_get_tracing_count() == 1  # one trace for both lambdas
    for lam, (history, weights) in zip(lams, swept):
        # the reference: a new network and a new optimizer, traced anew
        fresh = keras_mlp([1, 8, 1], seed=0)
        fresh_history = train_regularized(
            fresh, x, y, keras.optimizers.Adam(0.01), 50, penalty, lam, proximal, record_every=25
        )
        assert history == fresh_history
        for W, W_fresh in zip(weights, fresh.get_weights()):
            np.testing.assert_array_equal(W, W_fresh)
