"""Tests of sciml_nn.forward_mode against TensorFlow's own forward and reverse modes and Keras.

Jacobians from JVPs must equal Jacobians from VJPs, ``tape.jacobian`` and finite differences; the
Hessian-vector product must equal the full Hessian times v and a difference of gradients; the flat
loss and its gradient must equal those of the same network built from Keras ``Dense`` layers.
Timings are never asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from test_forward_mode_duals import TIGHT, float64_xi, vector_function_tf

from sciml_nn import forward_mode as fm
from sciml_nn.core import linalg
from sciml_nn.core.mlp import keras_mlp


def hessian_by_tapes(f, x: tf.Tensor) -> np.ndarray:
    """The reference: the full Hessian of the scalar f at x, reverse over reverse."""
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        gradient = inner.gradient(y, x)
    return outer.jacobian(gradient, x).numpy()


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 5), (7, 2), (4, 4), (9, 1)])
def test_jacobian_by_jvps_equals_jacobian_by_vjps(n: int, m: int) -> None:
    f = fm.mlp_map(n, m, hidden=6, seed=n + m, dtype="float64")
    x = tf.constant(np.random.default_rng(n).normal(size=n))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    J = tape.jacobian(y, x).numpy()
    assert J.shape == (m, n) and np.abs(J).max() > 1e-3  # not trivially zero
    np.testing.assert_allclose(fm.jacobian_forward(f, x).numpy(), J, **TIGHT)
    np.testing.assert_allclose(fm.jacobian_reverse(f, x).numpy(), J, **TIGHT)


def test_jacobian_of_vector_function_matches_finite_differences() -> None:
    x = tf.constant([0.3, -0.7, 1.1], dtype=tf.float64)
    J = fm.jacobian_forward(vector_function_tf, x).numpy()
    for i in range(3):
        row = finite_difference_gradient(lambda z, i=i: float(vector_function_tf(z)[i]), x.numpy())
        np.testing.assert_allclose(J[i], row, rtol=1e-7, atol=1e-8)


def test_jacobian_costs_reports_agreeing_jacobians() -> None:
    result = fm.jacobian_costs(5, 3, hidden=8, repeats=1, dtype="float64")
    assert (result["n"], result["m"], result["hidden"]) == (5, 3, 8)
    assert result["difference"] < 1e-12
    assert result["forward"] > 0 and result["reverse"] > 0


def loss_function(x: tf.Tensor) -> tf.Tensor:
    """A non-quadratic scalar function of R^5 with a dense Hessian."""
    f = fm.mlp_map(5, 2, hidden=7, seed=3, dtype="float64")
    return tf.reduce_sum(f(x) ** 2) + tf.reduce_sum(tf.sin(x) * tf.roll(x, 1, axis=0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hessian_vector_product_equals_hessian_times_v(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, v = (tf.constant(a) for a in rng.normal(size=(2, 5)))
    H = hessian_by_tapes(loss_function, x)
    np.testing.assert_allclose(H, H.T, **TIGHT)
    Hv = fm.hessian_vector_product(loss_function, x, v).numpy()
    np.testing.assert_allclose(Hv, H @ v.numpy(), **TIGHT)

    def gradient_along_v(t: float) -> np.ndarray:
        with tf.GradientTape() as tape:
            z = x + t * v
            tape.watch(z)
            y = loss_function(z)
        return tape.gradient(y, z).numpy()

    h = 1e-5
    central = (gradient_along_v(h) - gradient_along_v(-h)) / (2 * h)
    np.testing.assert_allclose(Hv, central, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_flat_mlp_loss_and_its_gradient_equal_keras_dense_layers(activation) -> None:
    """The loss of the flat vector and its gradient, entry by entry, against the same network
    built from Keras Dense layers: the flat vector lists W_1, b_1, W_2, b_2 as Keras does."""
    rng = np.random.default_rng(4)
    xi = float64_xi([2, 5, 3], seed=4)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    model = keras_mlp([2, 5, 3], activation, dtype="float64")
    model.set_weights([array for pair in xi for array in pair])
    for reduction, reduce in (("mean", tf.reduce_mean), ("sum", tf.reduce_sum)):
        loss, flat_xi = fm.flat_mlp_loss(xi, x, y, activation, reduction)
        with tf.GradientTape() as tape:
            prediction = tf.constant(x)
            for layer in model.layers:  # not model(x): its Input layer rounds x to float32
                prediction = layer(prediction)
            expected = reduce((prediction - y) ** 2)
        expected_gradient = tape.gradient(expected, model.trainable_variables)
        with tf.GradientTape() as tape:
            tape.watch(flat_xi)
            value = loss(flat_xi)
        gradient = tape.gradient(value, flat_xi).numpy()
        np.testing.assert_allclose(float(value), float(expected), **TIGHT)
        np.testing.assert_allclose(
            gradient, np.concatenate([g.numpy().ravel() for g in expected_gradient]), **TIGHT
        )


def test_power_iteration_on_hessian_vector_products_matches_the_hessian() -> None:
    rng = np.random.default_rng(5)
    xi = float64_xi([1, 6, 1], seed=5)
    x = rng.uniform(0.0, 1.0, size=(10, 1))
    loss, flat_xi = fm.flat_mlp_loss(xi, x, np.sin(2 * np.pi * x), "tanh", "sum")
    H = hessian_by_tapes(loss, flat_xi)
    top, _ = linalg.largest_eigenvalue(
        lambda v: fm.hessian_vector_product(loss, flat_xi, v),
        rng.normal(size=flat_xi.shape[0]),
        200,
    )
    assert top == pytest.approx(np.linalg.eigvalsh(H).max(), rel=1e-8)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: fm.jacobian_forward(tf.sin, np.zeros((2, 2))), ValueError, r"shape \(n,\)"),
        (lambda: fm.jacobian_reverse(tf.sin, np.arange(3)), TypeError, "x must have a float"),
        (lambda: fm.jacobian_reverse(lambda x: x[0], np.zeros(3)), ValueError, r"f\(x\) must"),
        (
            lambda: fm.hessian_vector_product(tf.sin, np.zeros(3), np.zeros(3)),
            ValueError,
            "f must return a scalar",
        ),
        (
            lambda: fm.hessian_vector_product(tf.reduce_sum, np.zeros(3), np.zeros(2)),
            ValueError,
            "v must match x",
        ),
        (lambda: fm.jacobian_costs(0, 3), ValueError, "n must be a positive int"),
        (lambda: fm.jacobian_costs(3, -1), ValueError, "m must be a positive int"),
        (lambda: fm.jacobian_costs(3, 3, hidden=2.5), TypeError, "hidden must be an int"),
        (lambda: fm.jacobian_costs(3, 3, repeats=0), ValueError, "repeats must be a positive"),
        (lambda: fm.jacobian_costs(3, 3, dtype="int32"), ValueError, "dtype must be"),
        (lambda: linalg.power_iteration("A", np.ones(3)), TypeError, "matvec must be callable"),
        (
            lambda: linalg.power_iteration(lambda v: v, np.zeros(3)),
            ValueError,
            "must not be the zero",
        ),
        (
            lambda: linalg.power_iteration(lambda v: v, np.ones((2, 2))),
            ValueError,
            r"v0 must have shape \(n,\)",
        ),
        (
            lambda: linalg.power_iteration(lambda v: v, np.arange(3)),
            TypeError,
            "v0 must have a float",
        ),
        (
            lambda: linalg.power_iteration(lambda v: v, np.ones(3), 0),
            ValueError,
            "iterations must be a positive int",
        ),
        (
            lambda: linalg.power_iteration(lambda v: v[:2], np.ones(3)),
            ValueError,
            r"matvec\(v\) must have the shape of v, \(3,\)",
        ),
        (
            lambda: linalg.largest_eigenvalue(lambda v: v, np.ones(3), 1.5),
            TypeError,
            "iterations must be an int",
        ),
        (
            lambda: fm.flat_mlp_loss([], np.zeros((2, 1)), np.zeros((2, 1))),
            ValueError,
            "xi must hold at least one",
        ),
        (
            lambda: fm.flat_mlp_loss(
                float64_xi([1, 2], 0), np.zeros((2, 1)), np.zeros((2, 1)), reduction="max"
            ),
            ValueError,
            "reduction must be one of",
        ),
        (
            lambda: fm.flat_mlp_loss(
                float64_xi([1, 2], 0), np.zeros((2, 1)), np.zeros((2, 1)), activation="cube"
            ),
            ValueError,
            "activation",
        ),
        (
            lambda: fm.flat_mlp_loss(float64_xi([1, 2], 0), np.zeros((2, 1)), np.zeros((3, 2))),
            ValueError,
            r"y must have shape \(2, 2\)",
        ),
        (
            lambda: fm.flat_mlp_loss(float64_xi([1, 2], 0), np.zeros((2, 3)), np.zeros((2, 2))),
            ValueError,
            r"x must have shape \(n, 1\); got \(2, 3\)",
        ),
        (
            lambda: fm.flat_mlp_loss(
                float64_xi([1, 2], 0), np.array([["a"], ["b"]]), np.zeros((2, 2))
            ),
            TypeError,
            "x must be an array of float64",
        ),
        (
            lambda: fm.flat_mlp_loss(
                [(np.ones((1, 2)), np.ones(2)), (np.ones((3, 1)), np.ones(1))],
                np.zeros((2, 1)),
                np.zeros((2, 1)),
            ),
            ValueError,
            r"W_2 must have shape \(2, n_2\)",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
