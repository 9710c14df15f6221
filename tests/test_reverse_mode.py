"""The Lagrangian reverse sweep of sciml_nn.reverse_mode against TensorFlow's tape, finite
differences and closed forms; the MLP graph's forward sweep against Keras' Dense layers."""

from __future__ import annotations

import ast
import inspect
from itertools import pairwise

import numpy as np
import pytest
import tensorflow as tf
from conftest import finite_difference_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn import reverse_mode, reverse_mode_operations
from sciml_nn.core.mlp import keras_mlp, mlp_tensorflow
from sciml_nn.reverse_mode import (
    Node,
    forward_sweep,
    lagrangian,
    mlp_gradients,
    mlp_graph,
    reverse_sweep,
    sweep_times,
    topological_order,
)


def random_mlp(layer_sizes: list[int], batch: int, seed: int) -> tuple:
    """Random parameters xi, a list of (W, b) pairs, and a batch x, y."""
    rng = np.random.default_rng(seed)
    xi = [(rng.standard_normal((m, n)), rng.standard_normal(n)) for m, n in pairwise(layer_sizes)]
    x = rng.standard_normal((batch, layer_sizes[0]))
    y = rng.standard_normal((batch, layer_sizes[-1]))
    return xi, x, y


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.ravel(a - b)) / max(np.linalg.norm(np.ravel(b)), 1e-300))


@settings(max_examples=25, deadline=None)
@given(
    layer_sizes=st.lists(st.integers(1, 7), min_size=2, max_size=6),
    batch=st.integers(1, 6),
    activation=st.sampled_from(["tanh", "relu", "sigmoid"]),
    seed=st.integers(0, 10_000),
)
def test_mlp_gradients_equal_gradient_tape(layer_sizes, batch, activation, seed):
    xi, x, y = random_mlp(layer_sizes, batch, seed)
    loss, gradients = mlp_gradients(xi, x, y, activation)
    variables = [(tf.Variable(W), tf.Variable(b)) for W, b in xi]
    with tf.GradientTape() as tape:
        J = tf.reduce_sum((mlp_tensorflow(tf.constant(x), variables, activation) - y) ** 2)
    reference = tape.gradient(J, variables)
    assert relative(np.array(loss), J.numpy()) <= 1e-10
    assert len(gradients) == len(xi)
    for (dW, db), (tW, tb), (W, b) in zip(gradients, reference, xi):
        assert dW.shape == W.shape and db.shape == b.shape
        assert relative(dW, tW.numpy()) <= 1e-10
        assert relative(db, tb.numpy()) <= 1e-10


def residual_graph(x0, y, W1, b1, W2, b2, W3, b3) -> dict:
    """x1 feeds both z2 and the skip connection s, so its multiplier is a sum of two terms."""
    return {
        "x0": Node("source", xi=(x0,)),
        "z1": Node("affine", ("x0",), (W1, b1)),
        "x1": Node("tanh", ("z1",)),
        "z2": Node("affine", ("x1",), (W2, b2)),
        "x2": Node("sigmoid", ("z2",)),
        "s": Node("add", ("x1", "x2")),
        "z3": Node("affine", ("s",), (W3, b3)),
        "y": Node("source", xi=(y,)),
        "J": Node("squared_error", ("z3", "y")),
    }


def residual_arrays(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(5, 3), (5, 2), (3, 4), (4,), (4, 4), (4,), (4, 2), (2,)]
    return [rng.standard_normal(shape) for shape in shapes]


def test_reverse_sweep_sums_over_two_consumers_like_finite_differences():
    arrays = residual_arrays()
    graph = residual_graph(*arrays)
    x = forward_sweep(graph)
    _, g = reverse_sweep(graph, x)
    # where each array lives: (node, index into its xi); x0 and y are sources' xi
    places = [("x0", 0), ("y", 0), ("z1", 0), ("z1", 1), ("z2", 0), ("z2", 1), ("z3", 0), ("z3", 1)]
    for k, (node, index) in enumerate(places):

        def J(value, k=k):
            changed = list(arrays)
            changed[k] = value
            return float(forward_sweep(residual_graph(*changed))["J"])

        numeric = finite_difference_gradient(J, arrays[k])
        assert relative(g[node][index], numeric) <= 1e-7, node


def test_the_sum_over_consumers_counts_one_node_read_twice():
    # J = sum (x + x - y)^2, so dJ/dx = 4 (2x - y): the add node is two consumers of x
    rng = np.random.default_rng(1)
    x0, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    graph = {
        "x": Node("source", xi=(x0,)),
        "y": Node("source", xi=(y,)),
        "s": Node("add", ("x", "x")),
        "J": Node("squared_error", ("s", "y")),
    }
    lam, g = reverse_sweep(graph, forward_sweep(graph))
    np.testing.assert_allclose(g["x"][0], 4 * (2 * x0 - y), rtol=1e-14)
    np.testing.assert_allclose(lam["y"], -2 * (2 * x0 - y), rtol=1e-14)


def test_lagrangian_is_stationary_at_the_sweeps_and_its_xi_derivative_is_g():
    arrays = residual_arrays(2)
    graph = residual_graph(*arrays)
    x = forward_sweep(graph)
    lam, g = reverse_sweep(graph, x)
    rng = np.random.default_rng(3)
    # on the forward pass L = J whatever lambda is
    random_lam = {a: rng.standard_normal(np.shape(v)) for a, v in x.items()}
    assert lagrangian(graph, x, random_lam) == pytest.approx(float(x["J"]), rel=1e-14)
    # dL/dx = 0 at (x, lambda) in every direction, while J = x_J itself moves at rate 1 along x_J
    direction = {a: rng.standard_normal(np.shape(v)) for a, v in x.items()}
    h = 1e-5

    def lagrangian_along(t):
        return lagrangian(graph, {a: x[a] + t * direction[a] for a in x}, lam)

    slope = (lagrangian_along(h) - lagrangian_along(-h)) / (2 * h)
    assert abs(slope) <= 1e-6 * sum(np.sum(np.abs(d)) for d in direction.values())
    # dL/dW2 at (x, lambda) is g for z2
    W2 = arrays[4]

    def lagrangian_of_W2(W):
        changed = list(arrays)
        changed[4] = W
        return lagrangian(residual_graph(*changed), x, lam)

    assert relative(g["z2"][0], finite_difference_gradient(lagrangian_of_W2, W2)) <= 1e-8


def test_lagrange_multipliers_are_the_derivatives_of_J_in_the_outputs():
    # lambda_a = dJ/dx_a: check the hidden output x1 by pushing a change through the rest
    xi, x0, y = random_mlp([2, 3, 3, 1], 4, seed=5)
    graph = mlp_graph(xi, x0, y, "tanh")
    lam, _ = reverse_sweep(graph, forward_sweep(graph))

    def J_of_x1(x1):
        (W2, b2), (W3, b3) = xi[1:]
        return float(np.sum((np.tanh(x1 @ W2 + b2) @ W3 + b3 - y) ** 2))

    x1 = np.tanh(x0 @ xi[0][0] + xi[0][1])
    assert relative(lam["x1"], finite_difference_gradient(J_of_x1, x1)) <= 1e-7
    assert lam["J"] == 1.0


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_mlp_graph_follows_eq_mlp_like_keras_dense_layers(activation):
    xi, x, y = random_mlp([2, 4, 4, 1], 3, seed=0)
    graph = mlp_graph(xi, x, y, activation)
    order = topological_order(graph)
    assert [a for a in order if a != "y"] == ["x0", "z1", "x1", "z2", "x2", "z3", "J"]
    assert [graph[a].op for a in ("z1", "x1", "z3", "J")] == [
        "affine",
        activation,
        "affine",
        "squared_error",
    ]
    model = keras_mlp([2, 4, 4, 1], activation, dtype="float64")
    model.set_weights([array for pair in xi for array in pair])
    prediction = x
    for layer in model.layers:  # not model(x): its Input layer rounds x to float32
        prediction = layer(prediction)
    values = forward_sweep(graph)
    np.testing.assert_allclose(values["z3"], prediction.numpy(), rtol=1e-13)
    np.testing.assert_allclose(values["J"], np.sum((prediction.numpy() - y) ** 2), rtol=1e-13)


@pytest.mark.parametrize("module", [reverse_mode, reverse_mode_operations])
def test_the_engine_does_not_import_tensorflow_or_keras(module):
    tree = ast.parse(inspect.getsource(module))
    names = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    roots = {name.split(".")[0] for name in names}
    assert roots.isdisjoint({"tensorflow", "keras", "jax", "torch", "autograd"})


def test_sweep_times_returns_positive_seconds():
    times = sweep_times([3, 4, 1], batch=5, repeats=2)
    assert set(times) == {"forward", "reverse"}
    assert all(isinstance(t, float) and t > 0 for t in times.values())


def cyclic_graph():
    return {"a": Node("tanh", ("b",)), "b": Node("tanh", ("a",)), "x": Node("source", xi=(1.0,))}


@pytest.mark.parametrize(
    ("graph", "error", "match"),
    [
        (cyclic_graph(), ValueError, r"cycle: nodes \['a', 'b'\]"),
        ({"a": Node("tanh", ("nowhere",))}, ValueError, "reads 'nowhere'"),
        ({"a": Node("cosine", ())}, ValueError, "op must be one of"),
        ({"a": Node("affine", ())}, ValueError, r"takes 1 inputs and 2 xi arrays; got 0 and 0"),
        ({"a": ("source", (), (1.0,))}, TypeError, "must be a Node"),
        ([Node("source", xi=(1.0,))], TypeError, "graph must be a dict"),
    ],
)
def test_bad_graphs_raise(graph, error, match):
    with pytest.raises(error, match=match):
        forward_sweep(graph)


def test_a_node_fed_the_wrong_shape_raises():
    arrays = residual_arrays()
    arrays[4] = np.ones((5, 4))  # W2 must have 4 rows to read x1
    with pytest.raises(ValueError, match=r"node 'z2' \(affine\) needs x \(n, p\), W \(p, q\)"):
        forward_sweep(residual_graph(*arrays))
    graph = residual_graph(*residual_arrays())
    graph["J"] = Node("squared_error", ("z3", "x0"))
    with pytest.raises(
        ValueError, match=r"node 'J' \(squared_error\) needs two inputs of one shape"
    ):
        forward_sweep(graph)
    graph = residual_graph(*residual_arrays())
    graph["s"] = Node("add", ("x1", "x0"))
    with pytest.raises(ValueError, match="node 's' .add. needs two inputs of one shape"):
        forward_sweep(graph)


def test_the_objective_must_be_a_scalar_node():
    graph = residual_graph(*residual_arrays())
    x = forward_sweep(graph)
    with pytest.raises(ValueError, match="objective must name a node with a scalar output"):
        reverse_sweep(graph, x, objective="z3")
    with pytest.raises(ValueError, match="got 'loss'"):
        reverse_sweep(graph, x, objective="loss")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            lambda xi, x, y: (xi[:1] + [(np.ones((5, 2)), xi[1][1])] + xi[2:], x, y),
            ValueError,
            r"W_2 must have shape \(4, n_2\) and b_2 shape \(n_2,\); got \(5, 2\) and \(4,\)",
        ),
        (
            lambda xi, x, y: (xi[:1] + [(xi[1][0], np.ones(3))] + xi[2:], x, y),
            ValueError,
            r"W_2 must have shape \(4, n_2\) and b_2 shape \(n_2,\); got \(4, 4\) and \(3,\)",
        ),
        (
            lambda xi, x, y: ([(np.ones(3), xi[0][1])] + xi[1:], x, y),
            ValueError,
            r"W_1 must have shape \(n_0, n_1\) .*; got \(3,\) and \(4,\)",
        ),
        (
            lambda xi, x, y: (xi, x[:, :2], y),
            ValueError,
            r"node 'z1' \(affine\) needs x \(n, p\), W \(p, q\), b \(q,\); got x \(5, 2\)",
        ),
        (
            lambda xi, x, y: (xi, x, y[:, :1]),
            ValueError,
            r"node 'J' \(squared_error\) needs two inputs of one shape; got \(5, 2\) and \(5, 1\)",
        ),
        (lambda xi, x, y: ([], x, y), ValueError, "xi must hold at least one .W, b. pair"),
        (
            lambda xi, x, y: (xi, np.array([["a"]]), y),
            TypeError,
            "x must be an array of float64; got ndarray",
        ),
        (
            lambda xi, x, y: (xi[:1] + [(np.full((4, 4), np.nan), xi[1][1])] + xi[2:], x, y),
            ValueError,
            "W_2 must be finite",
        ),
    ],
)
def test_mismatched_mlp_arguments_raise(change, error, match):
    xi, x, y = random_mlp([3, 4, 4, 2], 5, seed=0)
    with pytest.raises(error, match=match):
        mlp_gradients(*change(xi, x, y))


def test_unknown_activation_raises():
    xi, x, y = random_mlp([3, 4, 2], 5, seed=0)
    with pytest.raises(ValueError, match=r"activation must be one of \('tanh', 'relu', 'sigmoid'"):
        mlp_gradients(xi, x, y, activation="softsign")
    with pytest.raises(TypeError, match="activation must be a str; got int"):
        mlp_gradients(xi, x, y, activation=1)


def test_sweep_times_checks_its_arguments():
    with pytest.raises(ValueError, match="layer_sizes needs at least an input and an output"):
        sweep_times([4])
    with pytest.raises(TypeError, match="batch must be an int; got float"):
        sweep_times([2, 1], batch=2.0)
    with pytest.raises(ValueError, match="layer sizes must be a positive int; got 0"):
        sweep_times([2, 0, 1])
