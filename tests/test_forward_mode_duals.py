"""Tests of sciml_nn.forward_mode_duals against TensorFlow's forward mode.

The Dual engine must equal ``tf.autodiff.ForwardAccumulator`` to 1e-12 in float64 on random
inputs, operation by operation, on a vector function that uses them all, and on networks with
tangents along the input and along the parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sciml_nn import forward_mode_duals as fm
from sciml_nn.core.mlp import init_mlp, mlp_tensorflow

TIGHT = {"rtol": 1e-12, "atol": 1e-12}


# No subnormals: TensorFlow's CPU kernels flush them to zero, so relu(5e-324) would be 0 there
# and its derivative 0, while NumPy (and the engine) keep the exact value.
values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False, width=64)


def tf_jvp(f, primals, tangents):
    """The reference: value and JVP of f by TensorFlow's ForwardAccumulator."""
    primals = [tf.constant(p) for p in primals]
    tangents = [tf.constant(t) for t in tangents]
    with tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
        y = f(*primals)
    return y.numpy(), accumulator.jvp(y, unconnected_gradients="zero").numpy()


def dual_jvp(f, primals, tangents):
    y = f(*[fm.Dual(p, t) for p, t in zip(primals, tangents, strict=True)])
    return y.primal, y.tangent


# Each entry: (function on the Dual engine, the same function in TensorFlow).
UNARY = {
    "sin": (fm.sin, tf.sin),
    "cos": (fm.cos, tf.cos),
    "exp": (fm.exp, tf.exp),
    "tanh": (fm.tanh, tf.tanh),
    "sigmoid": (fm.sigmoid, tf.sigmoid),
    "relu": (fm.relu, tf.nn.relu),
    "log": (lambda a: fm.log(1.0 + a * a), lambda a: tf.math.log(1.0 + a * a)),
    "neg": (lambda a: -a, lambda a: -a),
    "pow": (lambda a: (1.0 + a * a) ** 1.5 + a**3, lambda a: (1.0 + a * a) ** 1.5 + a**3),
    "sum": (lambda a: fm.dual_sum(a * a), lambda a: tf.reduce_sum(a * a)),
    "sum_axis": (lambda a: fm.dual_sum(a, axis=0), lambda a: tf.reduce_sum(a, axis=0)),
    "constants": (lambda a: 2.0 - 3.0 * a + 1.0 / (2.0 + a * a), None),
}


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.5 + b * b),
    "mixed": lambda a, b: (a * b - b) / (2.0 + a * a) + 0.5 * b * b,
}


@pytest.mark.parametrize("name", UNARY)
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_unary_ops_equal_forward_accumulator(name: str, data: st.DataObject) -> None:
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=4))
    a, t = (data.draw(arrays(np.float64, shape, elements=values)) for _ in range(2))
    dual_fn, tf_fn = UNARY[name]
    y, ydot = dual_jvp(dual_fn, [a], [t])
    y_ref, ydot_ref = tf_jvp(tf_fn or dual_fn, [a], [t])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)


@pytest.mark.parametrize("name", BINARY)
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_binary_ops_equal_forward_accumulator(name: str, data: st.DataObject) -> None:
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=4))
    a, b, ta, tb = (data.draw(arrays(np.float64, shape, elements=values)) for _ in range(4))
    y, ydot = dual_jvp(BINARY[name], [a, b], [ta, tb])
    y_ref, ydot_ref = tf_jvp(BINARY[name], [a, b], [ta, tb])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)


@settings(deadline=None, max_examples=20)
@given(p=st.integers(1, 4), q=st.integers(1, 4), r=st.integers(1, 4), seed=st.integers(0, 999))
def test_matmul_and_transpose_equal_forward_accumulator(p: int, q: int, r: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, ta = rng.normal(size=(2, p, q))
    b, tb = rng.normal(size=(2, q, r))
    C = rng.normal(size=(3, r))  # a constant on the left exercises __rmatmul__
    y, ydot = dual_jvp(lambda a, b: C @ (a @ b).T, [a, b], [ta, tb])
    y_ref, ydot_ref = tf_jvp(lambda a, b: C @ tf.transpose(a @ b), [a, b], [ta, tb])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)


def test_dual_number_closed_form() -> None:
    """(3 + eps)^2 = 9 + 6 eps and sin(x) exp(x) has derivative (cos x + sin x) exp(x)."""
    y = fm.Dual(3.0, 1.0) ** 2
    assert (float(y.primal), float(y.tangent)) == (9.0, 6.0)
    x = np.linspace(-2.0, 2.0, 7)
    value, slope = fm.jvp(lambda z: fm.sin(z) * fm.exp(z), x, np.ones_like(x))
    np.testing.assert_allclose(value, np.sin(x) * np.exp(x), **TIGHT)
    np.testing.assert_allclose(slope, (np.cos(x) + np.sin(x)) * np.exp(x), **TIGHT)


def vector_function_dual(x):
    """A map R^3 -> R^3 with products, quotients and every elementary function."""
    x0, x1, x2 = x[0], x[1], x[2]
    return fm.stack(
        [
            fm.sin(x0 * x1) + fm.exp(x2) / (1.0 + x0 * x0),
            fm.log(1.0 + x1 * x1) * fm.tanh(x2) - fm.cos(x0) ** 2,
            fm.sigmoid(x0 - x2) * fm.relu(x1) + fm.dual_sum(x * x) ** 0.5,
        ]
    )


def vector_function_tf(x):
    x0, x1, x2 = x[0], x[1], x[2]
    return tf.stack(
        [
            tf.sin(x0 * x1) + tf.exp(x2) / (1.0 + x0 * x0),
            tf.math.log(1.0 + x1 * x1) * tf.tanh(x2) - tf.cos(x0) ** 2,
            tf.sigmoid(x0 - x2) * tf.nn.relu(x1) + tf.reduce_sum(x * x) ** 0.5,
        ]
    )


@settings(deadline=None, max_examples=25)
@given(x=arrays(np.float64, 3, elements=values), v=arrays(np.float64, 3, elements=values))
def test_vector_function_equals_forward_accumulator(x: np.ndarray, v: np.ndarray) -> None:
    if np.sum(x * x) < 1e-6:
        x = x + 0.5  # keep the square root away from its kink at 0
    y, ydot = fm.jvp(vector_function_dual, x, v)
    y_ref, ydot_ref = tf_jvp(vector_function_tf, [x], [v])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)


def float64_xi(layer_sizes, seed):
    """Random parameters xi in float64: Glorot weights and normal biases."""
    rng = np.random.default_rng(seed)
    return [
        (W.astype(np.float64), rng.normal(size=b.shape)) for W, b in init_mlp(layer_sizes, seed)
    ]


@settings(deadline=None, max_examples=20)
@given(
    layer_sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    batch=st.integers(1, 5),
    activation=st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
    seed=st.integers(0, 999),
)
def test_mlp_jvp_equals_forward_accumulator(layer_sizes, batch, activation, seed) -> None:
    """Tangents along the input and along the parameters xi, as in the chapter."""
    rng = np.random.default_rng(seed)
    xi = float64_xi(layer_sizes, seed)
    x, v = rng.normal(size=(2, batch, layer_sizes[0]))
    y, ydot = fm.jvp(lambda z: fm.mlp_dual(z, xi, activation), x, v)
    y_ref, ydot_ref = tf_jvp(lambda z: mlp_tensorflow(z, xi, activation), [x], [v])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)

    arrays = [array for pair in xi for array in pair]
    directions = [rng.normal(size=array.shape) for array in arrays]
    duals = [fm.Dual(p, t) for p, t in zip(arrays, directions, strict=True)]
    out = fm.mlp_dual(x, list(zip(duals[::2], duals[1::2], strict=True)), activation)

    def network(*arrays):
        return mlp_tensorflow(x, list(zip(arrays[::2], arrays[1::2], strict=True)), activation)

    _, ydot_ref = tf_jvp(network, arrays, directions)
    np.testing.assert_allclose(out.tangent, ydot_ref, **TIGHT)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: fm.Dual(np.zeros(3), np.zeros(2)), ValueError, r"tangent must have .*\(3,\)"),
        (lambda: fm.Dual(np.arange(3), np.zeros(3)), TypeError, "primal must have a float dtype"),
        (lambda: fm.Dual(np.zeros(3), [1, 2, 3]), TypeError, "tangent must have a float dtype"),
        (lambda: fm.Dual(1.0, 1.0) ** fm.Dual(2.0, 0.0), TypeError, "exponent must be a number"),
        (lambda: fm.sin(np.arange(3)), TypeError, "a constant must have a float dtype"),
        (lambda: fm.jvp(fm.sin, np.zeros(3), np.zeros(4)), ValueError, r"v must have .*\(3,\)"),
        (lambda: fm.jvp(fm.sin, np.arange(3), np.zeros(3)), TypeError, "x must have a float"),
        (lambda: fm.jvp("sin", np.zeros(3), np.zeros(3)), TypeError, "f must be callable"),
        (lambda: fm.mlp_dual(np.zeros((1, 1)), [], "tanh"), ValueError, "at least one"),
        (lambda: fm.mlp_dual(np.zeros((1, 1)), [], "softplus"), ValueError, "activation must"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
