"""Tests of sciml_nn.loss_landscape: the unit symmetries against the network's own outputs, the
filter norms against the model's weights, the loss grid against Keras' loss on weights set by
hand, and the difference Hessians against exact and analytic Hessians."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.mlp import init_mlp, keras_mlp, mlp_numpy
from sciml_nn.loss_landscape import (
    loss_grid,
    loss_on_segment,
    point_on_segment,
    random_direction,
    slice_hessians,
    transform_hidden_units,
)
from sciml_nn.loss_landscape_seeds import member, train_seeds
from sciml_nn.universal_approximation import as_keras_model

keras_mse = keras.losses.MeanSquaredError()


def _data(n: int = 32, d: int = 1, m: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, d)).astype(np.float32)
    y = np.sin(2 * np.pi * x[:, :1]) * np.ones((1, m))
    return x, y.astype(np.float32)


def _model(layer_sizes=(2, 5, 4, 3), seed: int = 0) -> keras.Model:
    model = keras_mlp(list(layer_sizes), "tanh", seed)
    rng = np.random.default_rng(seed)
    # Non-zero biases, so that a bias direction of zero is a real choice and not an accident.
    model.set_weights(
        [w + 0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def _directions(model: keras.Model) -> list[list[np.ndarray]]:
    return [random_direction(model, 1), random_direction(model, 2)]


# --- symmetries --------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), layer=st.integers(1, 2))
def test_permutation_and_sign_flip_leave_a_tanh_network_unchanged(seed: int, layer: int) -> None:
    params = init_mlp([2, 6, 5, 1], seed)
    rng = np.random.default_rng(seed)
    n = params[layer - 1][0].shape[1]
    moved = transform_hidden_units(
        params, layer, rng.permutation(n), rng.choice([-1.0, 1.0], n), "tanh"
    )
    x = rng.uniform(size=(20, 2))
    np.testing.assert_allclose(
        mlp_numpy(x, moved, "tanh"), mlp_numpy(x, params, "tanh"), rtol=1e-5, atol=1e-6
    )
    assert max(np.max(np.abs(a[0] - b[0])) for a, b in zip(moved, params)) > 1e-3


def test_positive_rescaling_leaves_a_relu_network_unchanged() -> None:
    params = init_mlp([2, 6, 1], 3)
    moved = transform_hidden_units(params, 1, np.arange(6), np.linspace(0.2, 5.0, 6), "relu")
    x = np.random.default_rng(0).uniform(-1, 1, size=(30, 2))
    np.testing.assert_allclose(
        mlp_numpy(x, moved, "relu"), mlp_numpy(x, params, "relu"), rtol=1e-5, atol=1e-6
    )
    # The same scaling breaks a tanh network: tanh is not positively homogeneous.
    with pytest.raises(ValueError, match="does not leave a tanh network unchanged"):
        transform_hidden_units(params, 1, np.arange(6), np.linspace(0.2, 5.0, 6), "tanh")


def test_transform_rejects_bad_arguments() -> None:
    params = init_mlp([2, 3, 1], 0)
    with pytest.raises(ValueError, match=r"layer must be a hidden layer, 1 to 1; got 2"):
        transform_hidden_units(params, 2, [0])
    with pytest.raises(ValueError, match=r"layer must be a hidden layer, 1 to 1; got 0"):
        transform_hidden_units(params, 0, [0, 1, 2])
    with pytest.raises(TypeError, match="layer must be an int; got float"):
        transform_hidden_units(params, 1.0, [0, 1, 2])
    with pytest.raises(ValueError, match=r"permutation must be a permutation of 0..2"):
        transform_hidden_units(params, 1, [0, 0, 1])
    with pytest.raises(ValueError, match="does not leave a relu network unchanged"):
        transform_hidden_units(params, 1, [0, 1, 2], [1.0, -1.0, 1.0], "relu")
    with pytest.raises(ValueError, match="activation must be one of"):
        transform_hidden_units(params, 1, [0, 1, 2], None, "cosine")


def test_loss_on_segment_matches_keras_and_shows_a_barrier() -> None:
    x, y = _data(64)
    xi = member(train_seeds([1, 4, 1], x, y, [0], steps=2000, records=2)["params"], 0)
    flipped = transform_hidden_units(xi, 1, np.arange(4), [-1.0, 1.0, 1.0, 1.0])
    losses = loss_on_segment(x, y, xi, flipped, [0.0, 0.5, 1.0])
    reference = float(keras_mse(y, as_keras_model(xi)(x)))
    assert losses[0] == pytest.approx(reference, rel=1e-5)
    assert losses[2] == pytest.approx(reference, rel=1e-5)
    # At the midpoint the flipped unit is switched off: a convex J could not exceed the chord.
    assert losses[1] > 2 * reference
    with pytest.raises(
        ValueError, match=r"same layer sizes; got \[1, 4, 1\] and \[1, 5, 1\]"
    ):
        loss_on_segment(x, y, xi, init_mlp([1, 5, 1]), [0.5])
    with pytest.raises(ValueError, match=r"t must have shape \(n,\); got \(1, 2\)"):
        loss_on_segment(x, y, xi, flipped, [[0.0, 1.0]])


def test_midpoint_of_a_relu_rescaling_inflates_the_output_by_the_closed_form_factor() -> None:
    # Scaling every unit by c and back by 1/c, the midpoint network has hidden part
    # (1 + c)/2 * (1 + 1/c)/2 = (2 + c + 1/c)/4 times that of the original (chapter exercise).
    params = init_mlp([2, 6, 1], 5)
    x = np.random.default_rng(3).uniform(-1, 1, size=(25, 2))
    c = 4.0
    scaled = transform_hidden_units(params, 1, np.arange(6), [c] * 6, "relu")
    midpoint = point_on_segment(params, scaled, 0.5)
    b_out = params[-1][1]
    expected = b_out + (2 + c + 1 / c) / 4 * (mlp_numpy(x, params, "relu") - b_out)
    np.testing.assert_allclose(mlp_numpy(x, midpoint, "relu"), expected, rtol=1e-5, atol=1e-6)
    for t, end in ((0.0, params), (1.0, scaled)):
        np.testing.assert_allclose(
            mlp_numpy(x, point_on_segment(params, scaled, t), "relu"), mlp_numpy(x, end, "relu")
        )


# --- filter-normalized directions --------------------------------------------------------------


def test_filter_norms_equal_the_models() -> None:
    model = _model()
    direction = random_direction(model, seed=7)
    for theta, d in zip(model.get_weights(), direction):
        assert d.shape == theta.shape and d.dtype == theta.dtype
        if theta.ndim == 1:
            assert np.all(d == 0.0)  # biases: zero directions, as documented
        else:
            np.testing.assert_allclose(
                np.linalg.norm(d, axis=0), np.linalg.norm(theta, axis=0), rtol=1e-6
            )
    assert all(np.array_equal(a, b) for a, b in zip(direction, random_direction(model, 7)))
    assert not np.array_equal(direction[0], random_direction(model, 8)[0])


def test_filter_norms_of_a_convolution_kernel() -> None:
    model = keras.Sequential([keras.Input((10, 2)), keras.layers.Conv1D(4, 3)])
    kernel = model.get_weights()[0]  # shape (3, 2, 4): the filter is the last axis
    d = random_direction(model, 0)[0]
    np.testing.assert_allclose(
        np.sqrt(np.sum(d**2, axis=(0, 1))), np.sqrt(np.sum(kernel**2, axis=(0, 1))), rtol=1e-6
    )


# --- the loss grid ------------------------------------------------------------------------------


def test_grid_origin_is_the_models_loss() -> None:
    model = _model()
    x, y = _data(40, d=2, m=3)
    grid = loss_grid(model, x, y, _directions(model), [-0.5, 0.0, 0.5], [0.0, 0.25])
    assert grid.shape == (3, 2)
    assert grid[1, 0] == pytest.approx(float(keras_mse(y, model(x))), rel=1e-6)
    evaluated = model.compile(loss="mse") or model.evaluate(x, y, verbose=0)
    assert grid[1, 0] == pytest.approx(evaluated, rel=1e-6)


def test_grid_matches_weights_set_by_hand_and_restores_them() -> None:
    model = _model()
    x, y = _data(40, d=2, m=3)
    d1, d2 = _directions(model)
    before = model.get_weights()
    alphas, betas = np.array([-0.3, 0.7], np.float32), np.array([0.2, -1.1, 0.4], np.float32)
    grid = loss_grid(model, x, y, [d1, d2], alphas, betas)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    by_hand = keras.models.clone_model(model)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            by_hand.set_weights([w + a * u + b * v for w, u, v in zip(before, d1, d2)])
            assert grid[i, j] == pytest.approx(float(keras_mse(y, by_hand(x))), rel=1e-5)
    assert np.ptp(grid) > 0.05  # the directions move the loss, so the comparison has teeth


def test_grid_with_another_loss() -> None:
    model = _model()
    x, y = _data(40, d=2, m=3)
    mae = keras.losses.MeanAbsoluteError()
    grid = loss_grid(
        model,
        x,
        y,
        _directions(model),
        [0.0],
        [0.0],
        loss=lambda y_pred, y_true: mae(y_true, y_pred),
    )
    assert grid[0, 0] == pytest.approx(float(mae(y, model(x))), rel=1e-6)


def test_grid_restores_weights_after_an_error() -> None:
    model = _model()
    x, y = _data(40, d=2, m=3)
    before = model.get_weights()

    def loss_that_fails_far_out(y_pred: tf.Tensor, y_true: tf.Tensor) -> tf.Tensor:
        value = tf.reduce_mean(tf.square(y_pred - y_true))
        tf.debugging.assert_less(value, 10.0, message="loss too large")
        return value

    with pytest.raises(tf.errors.InvalidArgumentError, match="loss too large"):
        loss_grid(model, x, y, _directions(model), [0.0, 100.0], [0.0], loss_that_fails_far_out)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_grid_rejects_bad_input() -> None:
    model = _model()
    x, y = _data(10, d=2, m=3)
    d1, d2 = _directions(model)
    with pytest.raises(TypeError, match="model must be a keras.Model; got list"):
        loss_grid([], x, y, [d1, d2], [0.0], [0.0])
    no_weights = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: 2 * t)])
    with pytest.raises(ValueError, match="model has no weights"):
        random_direction(no_weights)
    with pytest.raises(ValueError, match="model has no weights"):
        loss_grid(keras.Sequential([keras.layers.Dense(3)]), x, y, [d1, d2], [0.0], [0.0])
    with pytest.raises(ValueError, match="two directions"):
        loss_grid(model, x, y, [d1], [0.0], [0.0])
    with pytest.raises(ValueError, match="d2 must hold one array per weight"):
        loss_grid(model, x, y, [d1, d2[:-1]], [0.0], [0.0])
    with pytest.raises(ValueError, match=r"d1 must hold one array per weight, of shapes \[\(2, 5\)"):
        loss_grid(model, x, y, [[a.T for a in d1], d2], [0.0], [0.0])
    with pytest.raises(ValueError, match=r"alphas must have shape \(n,\); got \(1, 2\)"):
        loss_grid(model, x, y, [d1, d2], [[0.0, 1.0]], [0.0])
    with pytest.raises(TypeError, match="betas must be an array of float32; got list"):
        loss_grid(model, x, y, [d1, d2], [0.0], ["a"])
    assert loss_grid(model, x, y, [d1, d2], [0.0, 1.0], []).shape == (2, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\); got \(10, 3\)"):
        loss_grid(model, np.zeros((10, 3)), y, [d1, d2], [0.0], [0.0])
    with pytest.raises(ValueError, match=r"y must have shape \(10, 3\); got \(10, 1\)"):
        loss_grid(model, x, y[:, :1], [d1, d2], [0.0], [0.0])


# --- curvature of a slice -----------------------------------------------------------------------


def test_slice_hessians_are_exact_for_a_quadratic() -> None:
    alphas, betas = np.linspace(-1.0, 1.0, 9), np.linspace(-0.5, 1.0, 7)
    A, B = np.meshgrid(alphas, betas, indexing="ij")
    grid = 3.0 * A**2 - 1.5 * A * B + 0.5 * B**2 + A - 2.0 * B + 7.0
    H = slice_hessians(grid, alphas, betas)
    assert H.shape == (7, 5, 2, 2)
    np.testing.assert_allclose(H, np.broadcast_to([[6.0, -1.5], [-1.5, 1.0]], H.shape), atol=1e-9)
    # a saddle is convex nowhere, a bowl everywhere
    saddle = slice_hessians(A**2 - B**2, alphas, betas)
    assert np.all(np.linalg.eigvalsh(saddle)[..., 0] < 0)
    assert np.all(np.linalg.eigvalsh(H)[..., 0] > 0)


def test_slice_hessians_converge_at_second_order_to_the_analytic_hessian() -> None:
    def exact(a, b):  # Hessian of phi = sin(a) exp(a b) + cos(b), by hand
        e = np.exp(a * b)
        return np.array(
            [
                [
                    -np.sin(a) * e + 2 * b * np.cos(a) * e + b**2 * np.sin(a) * e,
                    np.cos(a) * a * e + np.sin(a) * e + a * b * np.sin(a) * e,
                ],
                [
                    np.cos(a) * a * e + np.sin(a) * e + a * b * np.sin(a) * e,
                    a**2 * np.sin(a) * e - np.cos(b),
                ],
            ]
        )

    errors = []
    for h in (0.1, 0.05, 0.025):
        alphas, betas = 0.3 + h * np.arange(-1, 2), -0.7 + h * np.arange(-1, 2)
        A, B = np.meshgrid(alphas, betas, indexing="ij")
        grid = np.sin(A) * np.exp(A * B) + np.cos(B)
        errors.append(np.max(np.abs(slice_hessians(grid, alphas, betas)[0, 0] - exact(0.3, -0.7))))
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)
    assert errors[1] / errors[2] == pytest.approx(4.0, rel=0.05)


def test_slice_hessians_reject_bad_input() -> None:
    axis = np.linspace(0.0, 1.0, 5)
    with pytest.raises(ValueError, match="alphas needs at least 3 points; got 2"):
        slice_hessians(np.zeros((2, 5)), [0.0, 1.0], axis)
    with pytest.raises(ValueError, match="betas must be increasing and equally spaced"):
        slice_hessians(np.zeros((5, 3)), axis, [0.0, 0.1, 0.3])
    with pytest.raises(ValueError, match="alphas must be increasing and equally spaced"):
        slice_hessians(np.zeros((5, 5)), axis[::-1], axis)
    with pytest.raises(ValueError, match=r"grid must have shape \(5, 5\); got \(5, 4\)"):
        slice_hessians(np.zeros((5, 4)), axis, axis)
