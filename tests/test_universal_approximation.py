"""Tests of sciml_nn.universal_approximation: each constructed network against its closed form (np.interp,
the proven error 2^(-2m-2) of Yarotsky's construction, attained at the cell midpoints), and the
argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.data import squared_norm
from sciml_nn.core.mlp import init_mlp, keras_mlp, mlp_numpy, params_of
from sciml_nn.universal_approximation import (
    as_keras_model,
    max_error,
    relu_interpolant,
    relu_interpolant_weights,
    sawtooth,
    shallow_network,
    tent,
    train_full_batch,
    train_shallow,
    yarotsky_bound,
    yarotsky_parameter_count,
    yarotsky_square,
    yarotsky_weights,
    yarotsky_xtx,
)

EPS32 = float(np.finfo(np.float32).eps)  # 2^-23: one unit in the last place of 1.0 in float32
DYADIC_GRID = (np.arange(2**10 + 1) / 2**10)[:, None]  # holds every cell midpoint for m <= 9


def smooth(x: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * x)


def assert_only_dense_relu_or_linear(model: keras.Model) -> None:
    assert len(model.layers) >= 2
    for layer in model.layers:
        assert type(layer) is keras.layers.Dense
    activations = [keras.activations.serialize(layer.activation) for layer in model.layers]
    assert all(a in ("relu", "linear") for a in activations)
    assert activations[-1] == "linear" and all(a == "relu" for a in activations[:-1])
    assert all(w.dtype == "float32" for w in model.weights)


@pytest.mark.parametrize("m", range(1, 8))
def test_yarotsky_square_attains_its_bound(m: int) -> None:
    model = yarotsky_square(m)
    assert_only_dense_relu_or_linear(model)
    bound = yarotsky_bound(m)
    # the sup error of the interpolant of x^2 on the knots k / 2^m, by np.interp in float64
    knots = np.arange(2**m + 1) / 2**m
    fine = DYADIC_GRID[:, 0]
    assert np.max(np.interp(fine, knots, knots**2) - fine**2) == pytest.approx(bound, rel=1e-12)
    # attained: neither below nor above the proven sup error by more than float32 rounding
    assert max_error(model, squared_norm, DYADIC_GRID) == pytest.approx(bound, abs=4 * EPS32)
    midpoints = ((np.arange(2**m) + 0.5) / 2**m)[:, None]
    error = np.asarray(model(midpoints.astype(np.float32)))[:, 0] - midpoints[:, 0] ** 2
    np.testing.assert_allclose(error, bound, atol=4 * EPS32)
    x_random = np.random.default_rng(m).uniform(0.0, 1.0, (4000, 1))
    assert max_error(model, squared_norm, x_random) <= bound + 4 * EPS32


@pytest.mark.parametrize("m", [1, 3, 6])
def test_yarotsky_square_is_the_interpolant_of_x_squared(m: int) -> None:
    knots = np.arange(2**m + 1) / 2**m
    x = np.random.default_rng(0).uniform(-0.5, 1.5, (500, 1))
    inside = (x[:, 0] >= 0) & (x[:, 0] <= 1)
    interpolant = np.interp(x[:, 0], knots, knots**2)
    network = np.asarray(yarotsky_square(m)(x.astype(np.float32)))[:, 0]
    np.testing.assert_allclose(network[inside], interpolant[inside], atol=4 * EPS32)


def test_yarotsky_weights_in_float64_are_the_interpolant_of_x_squared() -> None:
    # mlp_numpy evaluates the weights in float64, without Keras' float32 rounding
    x = np.random.default_rng(1).uniform(0.0, 1.0, 2000)
    for m in (1, 2, 5, 9):
        knots = np.arange(2**m + 1) / 2**m
        network = mlp_numpy(x[:, None], yarotsky_weights(m), "relu")[:, 0]
        np.testing.assert_allclose(network, np.interp(x, knots, knots**2), rtol=0, atol=1e-14)


def test_sawtooth_is_twice_the_distance_to_the_nearest_integer() -> None:
    # the closed form g_s(x) = 2 dist(2^(s-1) x, Z) on [0, 1]: 2^(s-1) teeth of height 1
    x = np.random.default_rng(2).uniform(0.0, 1.0, 1000)
    for s in (1, 2, 3, 6):
        scaled = 2.0 ** (s - 1) * x
        np.testing.assert_allclose(
            sawtooth(x, s), 2 * np.abs(scaled - np.round(scaled)), rtol=0, atol=1e-12
        )
    np.testing.assert_array_equal(sawtooth(x, 0), x)
    # the tent map is zero outside [0, 1]
    np.testing.assert_array_equal(tent(np.array([-2.0, -0.5, 1.5, 3.0])), 0.0)


@pytest.mark.parametrize(("d", "m"), [(1, 2), (2, 3), (3, 5), (5, 4)])
def test_yarotsky_xtx_bound_and_where_it_is_attained(d: int, m: int) -> None:
    model = yarotsky_xtx(d, m)
    assert_only_dense_relu_or_linear(model)
    bound = yarotsky_bound(m, d)
    x = np.random.default_rng(d + 10 * m).uniform(0.0, 1.0, (3000, d))
    assert max_error(model, squared_norm, x) <= bound + 8 * d * EPS32
    corner_midpoint = np.full((1, d), 0.5 / 2**m)
    inner_midpoint = np.full((1, d), 1.0 - 0.5 / 2**m)
    for point in (corner_midpoint, inner_midpoint):
        error = float(model(point.astype(np.float32))[0, 0]) - np.sum(point**2)
        # each coordinate at a midpoint contributes the 1-D error 2^(-2m-2), proven above
        assert error == pytest.approx(d * 2.0 ** (-2 * m - 2), abs=8 * d * EPS32)
    assert model.count_params() == yarotsky_parameter_count(m, d)


def test_parameter_count_formula() -> None:
    for m in (1, 2, 7):
        assert yarotsky_parameter_count(m) == 20 * m - 7 == yarotsky_square(m).count_params()


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=2, max_value=33),
    st.floats(min_value=0.0, max_value=np.pi),
    st.integers(min_value=0, max_value=10**6),
)
def test_relu_interpolant_equals_np_interp(n: int, omega: float, seed: int) -> None:
    # float32 weights: the bar 1e-6 holds for values of a function with |f'| <= pi sampled on
    # knots in [0, 1] at least 1/(4n) apart; wild slopes would lose more digits to rounding.
    rng = np.random.default_rng(seed)
    knots = np.cumsum(rng.uniform(1.0, 4.0, n))
    knots = (knots - knots[0]) / (knots[-1] - knots[0])
    values = np.sin(omega * knots + rng.uniform(0.0, 2 * np.pi))
    x = np.concatenate([rng.uniform(-0.25, 1.25, 400), knots]).astype(np.float32)
    model = relu_interpolant(knots, values)
    assert_only_dense_relu_or_linear(model)
    assert model.layers[0].units == n
    network = np.asarray(model(x[:, None]))[:, 0]
    np.testing.assert_allclose(network, np.interp(x.astype(np.float64), knots, values), atol=1e-6)
    x64 = np.concatenate([rng.uniform(-0.25, 1.25, 400), knots])  # not rounded to float32
    exact = np.asarray(relu_interpolant(knots, values, "float64")(x64[:, None]))
    np.testing.assert_allclose(exact[:, 0], np.interp(x64, knots, values), atol=1e-12)


def test_relu_interpolant_weights_are_the_construction() -> None:
    knots, values = np.array([0.0, 1.0, 3.0]), np.array([1.0, 3.0, 2.0])
    (W1, b1), (W2, b2) = relu_interpolant_weights(knots, values)
    np.testing.assert_array_equal(W1, [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(b1, [0.0, -1.0, -3.0])
    # slopes 2 and -1/2: changes of slope 2, -5/2, +1/2; output bias y_0
    np.testing.assert_array_equal(W2[:, 0], [2.0, -2.5, 0.5])
    np.testing.assert_array_equal(b2, [1.0])


def test_relu_interpolant_error_is_second_order() -> None:
    ns = np.array([17, 33, 65, 129])
    x = np.linspace(0.0, 1.0, 4097)[:, None]
    errors = []
    for n in ns:
        knots = np.linspace(0.0, 1.0, n)
        errors.append(max_error(relu_interpolant(knots, smooth(knots)), smooth, x))
    h = 1.0 / (ns - 1)
    order = np.polyfit(np.log(h), np.log(errors), 1)[0]
    assert order == pytest.approx(2.0, abs=0.1)
    # and below the classical bound h^2/8 max|f''| = h^2 pi^2 / 2 (plus float32 rounding)
    assert np.all(np.array(errors) <= h**2 * np.pi**2 / 2 + 1e-6)


def test_as_keras_model_computes_the_network_of_its_weights() -> None:
    params = init_mlp([3, 5, 4, 2], seed=7)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (20, 3))
    for activation in ("relu", "tanh"):
        model = as_keras_model(params, activation)
        np.testing.assert_allclose(
            model(x.astype(np.float32)), mlp_numpy(x, params, activation), rtol=1e-5, atol=1e-6
        )
        for (W, b), (V, c) in zip(params_of(model), params):
            np.testing.assert_array_equal(W, V)
            np.testing.assert_array_equal(b, c)
    model64 = as_keras_model(params, "tanh", "float64")
    assert model64.inputs[0].dtype == "float64"
    np.testing.assert_allclose(model64(x), mlp_numpy(x, params, "tanh"), rtol=1e-13, atol=1e-14)


def test_train_full_batch_takes_the_steps_of_keras_fit() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0.0, 1.0, (40, 2)).astype(np.float32)
    y = np.sin(3 * x[:, :1]) + x[:, 1:] ** 2
    ours, theirs = keras_mlp([2, 8, 1], "tanh", seed=3), keras_mlp([2, 8, 1], "tanh", seed=3)
    train_full_batch(ours, ours.trainable_variables, keras.optimizers.Adam(0.02), x, y, 25)
    theirs.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", jit_compile=False)
    theirs.fit(x, y, batch_size=len(x), epochs=25, shuffle=False, verbose=0)
    for W, V in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(W, V, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours.get_weights()[0], keras_mlp([2, 8, 1], "tanh", 3).get_weights()[0])


def test_trained_shallow_network_learns() -> None:
    x = np.linspace(0.0, 1.0, 1001)[:, None]
    untrained = max_error(shallow_network(16, seed=0), smooth, x)
    trained = train_shallow(smooth, 16, steps=1500, seed=0)
    assert [type(layer) for layer in trained.layers] == [keras.layers.Dense] * 2
    assert trained.layers[0].units == 16
    assert max_error(trained, smooth, x) < 0.2 < untrained


def test_shallow_network_kinks_lie_in_the_unit_interval() -> None:
    W, b = shallow_network(50, seed=3).layers[0].get_weights()
    kinks = -b / W[0]
    assert np.all((kinks >= 0) & (kinks <= 1))
    assert np.all(np.abs(W) >= 0.5 - 1e-7)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: train_full_batch(
                keras_mlp([1, 2, 1]), [], keras.optimizers.Adam(), np.zeros((3, 1)), np.zeros(3), 5
            ),
            ValueError,
            "x and y must be 2-D",
        ),
        (lambda: yarotsky_square(0), ValueError, "m must be a positive int; got 0"),
        (lambda: yarotsky_square(2.0), TypeError, "m must be an int; got float"),
        (lambda: yarotsky_square(True), TypeError, "m must be an int; got bool"),
        (lambda: yarotsky_xtx(0, 3), ValueError, "d must be a positive int; got 0"),
        (lambda: yarotsky_xtx(2, -1), ValueError, "m must be a positive int; got -1"),
        (lambda: yarotsky_xtx(1.5, 3), TypeError, "d must be an int; got float"),
        (lambda: yarotsky_xtx(2, "3"), TypeError, "m must be an int; got str"),
        (lambda: yarotsky_bound(0), ValueError, "m must be a positive int"),
        (lambda: yarotsky_parameter_count(2, 0), ValueError, "d must be a positive int"),
        (lambda: sawtooth(np.zeros(3), -1), ValueError, "s must be >= 0; got -1"),
        (
            lambda: relu_interpolant([0.0, 1.0], [0.0, 1.0], "float16"),
            ValueError,
            r"dtype must be one of \('float32', 'float64'\); got 'float16'",
        ),
        (
            lambda: relu_interpolant([0.0, 2.0, 1.0], [0.0, 1.0, 2.0]),
            ValueError,
            "knots must be strictly increasing",
        ),
        (
            lambda: relu_interpolant([0.0, 1.0, 1.0], [0.0, 1.0, 2.0]),
            ValueError,
            r"strictly increasing \(sorted, no duplicates\)",
        ),
        (
            lambda: relu_interpolant([0.0, 1.0, 2.0], [0.0, 1.0]),
            ValueError,
            r"values must have shape \(3,\); got \(2,\)",
        ),
        (lambda: relu_interpolant([0.0], [1.0]), ValueError, "knots needs at least 2 entries"),
        (lambda: relu_interpolant([0.0, 1.0], [1.0, np.nan]), ValueError, "values must be finite"),
        (lambda: relu_interpolant([0.0, np.inf], [1.0, 2.0]), ValueError, "knots must be finite"),
        (
            lambda: relu_interpolant(np.zeros((2, 2)), np.zeros(2)),
            ValueError,
            r"knots must have shape \(n,\); got \(2, 2\)",
        ),
        (
            lambda: relu_interpolant([0.0, 1.0], [[1.0, 2.0]]),
            ValueError,
            r"values must have shape \(2,\); got \(1, 2\)",
        ),
        (
            lambda: relu_interpolant(3.0, [1.0]),
            ValueError,
            r"knots must have shape \(n,\); got \(\)",
        ),
        (
            lambda: relu_interpolant(["a", "b"], [1.0, 2.0]),
            TypeError,
            "knots must be an array of float64; got list",
        ),
        (
            lambda: max_error(yarotsky_square(1), squared_norm, np.zeros(3)),
            ValueError,
            r"x must have shape \(n, m\); got \(3,\)",
        ),
        (lambda: shallow_network(0), ValueError, "width must be a positive int; got 0"),
        (lambda: train_shallow(smooth, 4, steps=0), ValueError, "steps must be a positive int"),
        (
            lambda: train_shallow(smooth, 4, learning_rate=-1.0),
            ValueError,
            r"learning_rate must be .*> 0.*; got -1.0",
        ),
        (lambda: train_shallow("sin", 4), TypeError, "f must be callable; got str"),
    ],
)
def test_bad_arguments_raise(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
