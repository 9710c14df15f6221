"""Tests of sciml_nn.forward_mode against TensorFlow's own forward and reverse modes.

The Dual engine must equal ``tf.autodiff.ForwardAccumulator`` to 1e-12 in float64 on random
inputs; Jacobians from JVPs must equal Jacobians from VJPs and ``tape.jacobian``; the
Hessian-vector product must equal the full Hessian times v. Timings are never asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sciml_nn import forward_mode as fm
from sciml_nn.networks import init_mlp, mlp_tensorflow

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
    "sum": (lambda a: fm.sum(a * a), lambda a: tf.reduce_sum(a * a)),
    "sum_axis": (lambda a: fm.sum(a, axis=0), lambda a: tf.reduce_sum(a, axis=0)),
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
    return fm.stack([
        fm.sin(x0 * x1) + fm.exp(x2) / (1.0 + x0 * x0),
        fm.log(1.0 + x1 * x1) * fm.tanh(x2) - fm.cos(x0) ** 2,
        fm.sigmoid(x0 - x2) * fm.relu(x1) + fm.sum(x * x) ** 0.5,
    ])


def vector_function_tf(x):
    x0, x1, x2 = x[0], x[1], x[2]
    return tf.stack([
        tf.sin(x0 * x1) + tf.exp(x2) / (1.0 + x0 * x0),
        tf.math.log(1.0 + x1 * x1) * tf.tanh(x2) - tf.cos(x0) ** 2,
        tf.sigmoid(x0 - x2) * tf.nn.relu(x1) + tf.reduce_sum(x * x) ** 0.5,
    ])


@settings(deadline=None, max_examples=25)
@given(x=arrays(np.float64, 3, elements=values), v=arrays(np.float64, 3, elements=values))
def test_vector_function_equals_forward_accumulator(x: np.ndarray, v: np.ndarray) -> None:
    if np.sum(x * x) < 1e-6:
        x = x + 0.5  # keep the square root away from its kink at 0
    y, ydot = fm.jvp(vector_function_dual, x, v)
    y_ref, ydot_ref = tf_jvp(vector_function_tf, [x], [v])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)


def float64_params(sizes, seed):
    rng = np.random.default_rng(seed)
    return [(W.astype(np.float64), rng.normal(size=b.shape)) for W, b in init_mlp(sizes, seed)]


@settings(deadline=None, max_examples=20)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    batch=st.integers(1, 5),
    activation=st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
    seed=st.integers(0, 999),
)
def test_mlp_jvp_equals_forward_accumulator(sizes, batch, activation, seed) -> None:
    """Tangents along the input and along the parameters xi, as in the chapter."""
    rng = np.random.default_rng(seed)
    params = float64_params(sizes, seed)
    x, v = rng.normal(size=(2, batch, sizes[0]))
    y, ydot = fm.jvp(lambda z: fm.mlp_dual(z, params, activation), x, v)
    y_ref, ydot_ref = tf_jvp(lambda z: mlp_tensorflow(z, params, activation), [x], [v])
    np.testing.assert_allclose(y, y_ref, **TIGHT)
    np.testing.assert_allclose(ydot, ydot_ref, **TIGHT)

    flat = [array for pair in params for array in pair]
    directions = [rng.normal(size=array.shape) for array in flat]
    duals = [fm.Dual(p, t) for p, t in zip(flat, directions, strict=True)]
    out = fm.mlp_dual(x, list(zip(duals[::2], duals[1::2], strict=True)), activation)

    def network(*arrays):
        return mlp_tensorflow(x, list(zip(arrays[::2], arrays[1::2], strict=True)), activation)

    _, ydot_ref = tf_jvp(network, flat, directions)
    np.testing.assert_allclose(out.tangent, ydot_ref, **TIGHT)


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
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = loss_function(x)
        gradient = inner.gradient(y, x)
    H = outer.jacobian(gradient, x).numpy()
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


def test_flat_mlp_loss_equals_the_loss_of_the_network() -> None:
    """The flat vector holds W and b in order; the loss matches mlp_tensorflow."""
    rng = np.random.default_rng(4)
    params = float64_params([2, 5, 3], seed=4)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    for reduction, reduce in (("mean", np.mean), ("sum", np.sum)):
        loss, xi = fm.flat_mlp_loss(params, x, y, "tanh", reduction)
        flat = np.concatenate([a.ravel() for pair in params for a in pair])
        np.testing.assert_array_equal(xi.numpy(), flat)
        expected = reduce((mlp_tensorflow(x, params).numpy() - y) ** 2)
        np.testing.assert_allclose(float(loss(xi)), expected, **TIGHT)
    # a change of one entry of xi changes the matching entry of W_2
    loss, xi = fm.flat_mlp_loss(params, x, y, "relu", "sum")
    shifted = [(W.copy(), b.copy()) for W, b in params]
    shifted[1][0][4, 2] += 0.5
    k = params[0][0].size + params[0][1].size + 4 * 3 + 2
    xi_shifted = xi.numpy().copy()
    xi_shifted[k] += 0.5
    expected = np.sum((mlp_tensorflow(x, shifted, "relu").numpy() - y) ** 2)
    np.testing.assert_allclose(float(loss(tf.constant(xi_shifted))), expected, **TIGHT)


def symmetric_matrix(eigenvalues: list[float], seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return Q @ np.diag(eigenvalues) @ Q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_power_iteration_finds_the_dominant_eigenvalue(seed: int) -> None:
    """Against numpy's eigvalsh: the eigenvalue of largest magnitude, its eigenvector, and a
    residual that bounds the distance to an eigenvalue (Krylov-Weinstein)."""
    eigenvalues = [5.0, 2.0, -1.0, 0.5, 3.0, -2.5]
    A = symmetric_matrix(eigenvalues, seed)
    matvec = lambda v: tf.linalg.matvec(tf.constant(A), v)
    v0 = np.random.default_rng(seed + 10).normal(size=6)
    rho, v, residual = fm.power_iteration(matvec, v0, iterations=60)
    assert rho == pytest.approx(5.0, rel=1e-12)
    top = np.linalg.eigh(A)[1][:, -1]
    assert abs(abs(float(np.dot(v.numpy(), top))) - 1.0) < 1e-10
    assert residual < 1e-8
    # few iterations: rho is still off, but within the residual of some eigenvalue
    rho, v, residual = fm.power_iteration(matvec, v0, iterations=3)
    assert min(abs(rho - np.array(eigenvalues))) <= residual * (1 + 1e-12)
    assert np.linalg.norm(A @ v.numpy() - rho * v.numpy()) == pytest.approx(residual, rel=1e-10)
    # the error of the Rayleigh quotient falls like (3/5)^(2k)
    errors = [abs(fm.power_iteration(matvec, v0, iterations=k)[0] - 5.0) for k in (10, 20)]
    assert errors[1] / errors[0] < 10 * (3.0 / 5.0) ** 20


def test_shifted_power_iteration_and_largest_eigenvalue() -> None:
    """With a dominant negative eigenvalue the plain iteration finds it, the shifted one and
    largest_eigenvalue find lambda_max."""
    eigenvalues = [-9.0, 4.0, 1.0, -3.0, -5.0]  # shifted by 9: ratio 10/13
    A = symmetric_matrix(eigenvalues, 7)
    matvec = lambda v: tf.linalg.matvec(tf.constant(A), v)
    v0 = np.ones(5)
    assert fm.power_iteration(matvec, v0, 80)[0] == pytest.approx(-9.0, rel=1e-12)
    assert fm.power_iteration(matvec, v0, 80, shift=-9.0)[0] == pytest.approx(4.0, rel=1e-10)
    top, residual = fm.largest_eigenvalue(matvec, v0, 80)
    assert top == pytest.approx(4.0, rel=1e-10) and residual < 1e-6
    positive = symmetric_matrix([1.0, 6.0, -2.0], 3)
    top, _ = fm.largest_eigenvalue(lambda v: tf.linalg.matvec(tf.constant(positive), v),
                                   np.ones(3), 80)
    assert top == pytest.approx(6.0, rel=1e-12)


def test_power_iteration_on_hessian_vector_products_matches_the_hessian() -> None:
    rng = np.random.default_rng(5)
    params = float64_params([1, 6, 1], seed=5)
    x = rng.uniform(0.0, 1.0, size=(10, 1))
    loss, xi = fm.flat_mlp_loss(params, x, np.sin(2 * np.pi * x), "tanh", "sum")
    with tf.GradientTape() as outer:
        outer.watch(xi)
        with tf.GradientTape() as inner:
            inner.watch(xi)
            y = loss(xi)
        gradient = inner.gradient(y, xi)
    H = outer.jacobian(gradient, xi).numpy()
    top, _ = fm.largest_eigenvalue(
        lambda v: fm.hessian_vector_product(loss, xi, v), rng.normal(size=xi.shape[0]), 200
    )
    assert top == pytest.approx(np.linalg.eigvalsh(H).max(), rel=1e-8)


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
        (lambda: fm.jacobian_forward(tf.sin, np.zeros((2, 2))), ValueError, r"shape \(n,\)"),
        (lambda: fm.jacobian_reverse(tf.sin, np.arange(3)), TypeError, "x must have a float"),
        (lambda: fm.jacobian_reverse(lambda x: x[0], np.zeros(3)), ValueError, r"f\(x\) must"),
        (lambda: fm.hessian_vector_product(tf.sin, np.zeros(3), np.zeros(3)), ValueError,
         "f must return a scalar"),
        (lambda: fm.hessian_vector_product(tf.reduce_sum, np.zeros(3), np.zeros(2)), ValueError,
         "v must match x"),
        (lambda: fm.jacobian_costs(0, 3), ValueError, "n must be a positive int"),
        (lambda: fm.jacobian_costs(3, -1), ValueError, "m must be a positive int"),
        (lambda: fm.jacobian_costs(3, 3, hidden=2.5), TypeError, "hidden must be an int"),
        (lambda: fm.jacobian_costs(3, 3, repeats=0), ValueError, "repeats must be a positive"),
        (lambda: fm.jacobian_costs(3, 3, dtype="int32"), ValueError, "dtype must be"),
        (lambda: fm.power_iteration("A", np.ones(3)), TypeError, "matvec must be callable"),
        (lambda: fm.power_iteration(lambda v: v, np.zeros(3)), ValueError, "must not be the zero"),
        (lambda: fm.power_iteration(lambda v: v, np.ones((2, 2))), ValueError,
         r"v0 must have shape \(n,\)"),
        (lambda: fm.power_iteration(lambda v: v, np.arange(3)), TypeError, "v0 must have a float"),
        (lambda: fm.power_iteration(lambda v: v, np.ones(3), 0), ValueError,
         "iterations must be a positive int"),
        (lambda: fm.power_iteration(lambda v: v[:2], np.ones(3)), ValueError,
         r"matvec must return the shape of v, \(3,\)"),
        (lambda: fm.largest_eigenvalue(lambda v: v, np.ones(3), 1.5), TypeError,
         "iterations must be an int"),
        (lambda: fm.flat_mlp_loss([], np.zeros((2, 1)), np.zeros((2, 1))), ValueError,
         "at least one"),
        (lambda: fm.flat_mlp_loss(float64_params([1, 2], 0), np.zeros((2, 1)), np.zeros((2, 1)),
                                  reduction="max"), ValueError, "reduction must be one of"),
        (lambda: fm.flat_mlp_loss(float64_params([1, 2], 0), np.zeros((2, 1)), np.zeros((2, 1)),
                                  activation="cube"), ValueError, "activation"),
        (lambda: fm.flat_mlp_loss(float64_params([1, 2], 0), np.zeros((2, 1)), np.zeros((3, 2))),
         ValueError, r"y must have shape \(2, 2\)"),
        (lambda: fm.flat_mlp_loss(float64_params([1, 2], 0), np.zeros((2, 3)), np.zeros((2, 2))),
         ValueError, "x"),
        (lambda: fm.flat_mlp_loss(float64_params([1, 2], 0), np.zeros((2, 1), dtype=int),
                                  np.zeros((2, 2))), TypeError, "x must have a float dtype"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
