"""Graph convolutions: grid graph layout, equality with Conv2D, equivariance, argument checks;
Delaunay meshes, the graph Laplacian and the learned diffusion step."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import laplacian
from scipy.spatial import Delaunay

from sciml_nn.architectures import GraphConv, graph_conv, grid_graph
from sciml_nn.architectures.graphs import batch_graph, fit_graph_step
from sciml_nn.architectures.meshes import (
    graph_laplacian,
    heat_steps,
    mesh_edges,
    mesh_graph,
    unit_square_mesh,
)


def test_grid_graph_layout():
    senders, receivers, edge_type = grid_graph(2, 3)
    # Corner (0, 0) hears itself and three neighbours; the middle (0, 1) hears six nodes.
    assert np.bincount(receivers).tolist() == [4, 6, 4, 4, 6, 4]
    edges = set(zip(senders.tolist(), receivers.tolist(), edge_type.tolist()))
    assert (0, 0, 4) in edges  # itself: offset (0, 0) has type 3*1 + 1
    assert (4, 0, 8) in edges  # (1, 1) -> (0, 0): offset (+1, +1)
    assert (0, 4, 0) in edges  # (0, 0) -> (1, 1): offset (-1, -1)
    assert (2, 1, 5) in edges  # (0, 2) -> (0, 1): offset (0, +1)
    assert senders.dtype == receivers.dtype == edge_type.dtype == np.int32


@settings(max_examples=20, deadline=None)
@given(ny=st.integers(1, 6), nx=st.integers(1, 6), c_in=st.integers(1, 3),
       c_out=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_graph_conv_on_grid_equals_conv2d(ny, nx, c_in, c_out, seed):
    u = np.random.default_rng(seed).normal(size=(1, ny, nx, c_in)).astype(np.float32)
    conv = keras.layers.Conv2D(c_out, 3, padding="same",
                               bias_initializer=keras.initializers.RandomNormal(seed=seed))
    expected = conv(u).numpy().reshape(ny * nx, c_out)
    kernel, bias = (w.numpy() for w in conv.weights)
    W = kernel.reshape(9, c_in, c_out)  # kernel[di + 1, dj + 1] is W[3 (di + 1) + dj + 1]
    out = graph_conv(u.reshape(ny * nx, c_in), *grid_graph(ny, nx), W, bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_relabelling_nodes_relabels_output(seed):
    rng = np.random.default_rng(seed)
    nodes, edges, types = 12, 40, 3
    senders, receivers = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    edge_type = rng.integers(0, types, edges)
    x = rng.normal(size=(nodes, 2))
    W, b = rng.normal(size=(types, 2, 4)), rng.normal(size=4)
    out = graph_conv(x, senders, receivers, edge_type, W, b, "tanh").numpy()
    perm = rng.permutation(nodes)  # new label of old node k is perm[k]
    x_new = np.empty_like(x)
    x_new[perm] = x
    out_new = graph_conv(x_new, perm[senders], perm[receivers], edge_type, W, b, "tanh").numpy()
    np.testing.assert_allclose(out_new[perm], out, atol=1e-12)


def test_graph_conv_sums_messages_by_hand():
    x = np.array([[1.0], [2.0], [3.0]])
    W = np.array([[[10.0]], [[100.0]]])
    # edges 0 -> 2 (type 0), 1 -> 2 (type 1), 2 -> 0 (type 1); node 1 receives nothing
    out = graph_conv(x, [0, 1, 2], [2, 2, 0], [0, 1, 1], W, np.array([0.5])).numpy()
    np.testing.assert_allclose(out[:, 0], [300.5, 0.5, 210.5])


def test_graph_conv_layer_trains_and_serializes():
    senders, receivers, edge_type = grid_graph(3, 3)
    layer = GraphConv(2, senders, receivers, edge_type, activation="tanh")
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    out = layer(x).numpy()
    expected = graph_conv(x, senders, receivers, edge_type, layer.kernel.numpy(),
                          layer.bias.numpy(), "tanh").numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert layer.kernel.shape == (9, 3, 2)
    clone = GraphConv.from_config(layer.get_config())
    assert clone.types == 9 and clone.edges == layer.edges


@pytest.mark.parametrize(
    ("edges", "W_shape", "error", "message"),
    [(([0, 5], [1, 1], [0, 0]), (2, 1, 1), ValueError, r"senders must lie in \[0, 3\)"),
     (([0, 1], [1, -1], [0, 0]), (2, 1, 1), ValueError, r"receivers must lie in \[0, 3\)"),
     (([0, 1], [1, 1], [0, 2]), (2, 1, 1), ValueError, r"edge_type must lie in \[0, 2\)"),
     (([0, 1], [1, 1], [0]), (2, 1, 1), ValueError, "one entry per edge"),
     (([0.0, 1.0], [1, 1], [0, 0]), (2, 1, 1), TypeError, "senders must hold integers"),
     (([[0, 1]], [1, 1], [0, 0]), (2, 1, 1), ValueError, "senders must be 1-D"),
     (([0, 1], [1, 1], [0, 0]), (2, 2, 1), ValueError, "x must have shape"),
     ],
)
def test_bad_graphs(edges, W_shape, error, message):
    with pytest.raises(error, match=message):
        graph_conv(np.zeros((3, 1)), *edges, np.zeros(W_shape))


def test_bad_arguments():
    s, r, t = grid_graph(2, 2)
    x, W = np.zeros((4, 1)), np.zeros((9, 1, 2))
    with pytest.raises(TypeError, match="floating point of one dtype"):
        graph_conv(x.astype(np.float32), s, r, t, W)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        graph_conv(x, s, r, t, W, np.zeros(3))
    with pytest.raises(ValueError, match="activation must be one of"):
        graph_conv(x, s, r, t, W, activation="swish")
    with pytest.raises(ValueError, match="ny must be a positive int"):
        grid_graph(0, 3)
    with pytest.raises(TypeError, match="nx must be an int"):
        grid_graph(3, 2.0)


# ---- unstructured meshes, the graph Laplacian and the learned diffusion step ----------------

@settings(max_examples=15, deadline=None)
@given(n_interior=st.integers(0, 40), n_side=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_unit_square_mesh_tiles_the_square(n_interior, n_side, seed):
    points, triangles = unit_square_mesh(n_interior, n_side, seed)
    assert points.shape == (n_interior + 4 * n_side, 2) and triangles.dtype == np.int32
    assert points.min() >= 0.0 and points.max() <= 1.0
    # The triangles cover the unit square once: their areas add up to 1.
    a, b, c = (points[triangles[:, k]] for k in range(3))
    (x1, y1), (x2, y2) = (b - a).T, (c - a).T
    areas = 0.5 * np.abs(x1 * y2 - y1 * x2)
    assert areas.sum() == pytest.approx(1.0, abs=1e-12)
    # Euler's formula for a triangulation with h = 4 n_side boundary nodes.
    nodes, h = len(points), 4 * n_side
    assert len(triangles) == 2 * nodes - 2 - h
    assert len(mesh_edges(triangles)) == 3 * nodes - 3 - h


def test_mesh_edges_match_scipy_neighbours():
    points, triangles = unit_square_mesh(50, 4, seed=3)
    edges = mesh_edges(triangles)
    assert np.all(edges[:, 0] < edges[:, 1]) and len(np.unique(edges, axis=0)) == len(edges)
    indptr, indices = Delaunay(points).vertex_neighbor_vertices
    scipy_edges = {(p, q) for p in range(len(points)) for q in indices[indptr[p]:indptr[p + 1]]
                   if p < q}
    assert set(map(tuple, edges.tolist())) == scipy_edges


def test_graph_laplacian_matches_scipy_csgraph():
    points, triangles = unit_square_mesh(60, 5, seed=1)
    edges, nodes = mesh_edges(triangles), len(points)
    L = graph_laplacian(edges, nodes)
    A = np.zeros((nodes, nodes))
    A[edges[:, 0], edges[:, 1]] = 1.0
    np.testing.assert_array_equal(L, laplacian(A + A.T))
    np.testing.assert_allclose(L @ np.ones(nodes), 0.0)
    assert np.linalg.eigvalsh(L)[0] > -1e-12  # positive semidefinite


def test_heat_steps_is_a_matrix_power_and_conserves_heat():
    points, triangles = unit_square_mesh(30, 3, seed=2)
    L = graph_laplacian(mesh_edges(triangles), len(points))
    u0 = np.random.default_rng(0).normal(size=len(points))
    u = heat_steps(u0, L, 0.05, 7)
    assert u.shape == (8, len(points))
    expected = np.linalg.matrix_power(np.eye(len(points)) - 0.05 * L, 7) @ u0
    np.testing.assert_allclose(u[-1], expected, atol=1e-12)
    np.testing.assert_allclose(u.sum(axis=1), u0.sum(), atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), tau=st.floats(0.01, 0.1))
def test_receiver_edges_make_graph_conv_the_heat_step(seed, tau):
    points, triangles = unit_square_mesh(25, 3, seed)
    edges, nodes = mesh_edges(triangles), len(points)
    L = graph_laplacian(edges, nodes)
    senders, receivers, edge_type = mesh_graph(edges, nodes)
    # Each node receives deg(i) neighbour edges (type 0) and deg(i) receiver edges (type 1).
    for t in (0, 1):
        np.testing.assert_array_equal(np.bincount(receivers[edge_type == t], minlength=nodes),
                                      np.diag(L))
    u = np.random.default_rng(seed).normal(size=(nodes, 1))
    W = np.array([[[tau]], [[-tau]]])
    step = u + graph_conv(u, senders, receivers, edge_type, W).numpy()
    np.testing.assert_allclose(step[:, 0], heat_steps(u[:, 0], L, tau, 1)[1], atol=1e-12)


def test_self_type_is_one_loop_per_node():
    senders, receivers, edge_type = mesh_graph(np.array([[0, 1], [1, 2]]), 4, "self")
    assert edge_type.tolist().count(0) == 4 and edge_type.tolist().count(1) == 4
    loops = {(s, r) for s, r, t in zip(senders, receivers, edge_type) if t == 1}
    assert loops == {(k, k) for k in range(4)}


def test_batch_graph_applies_the_conv_to_each_copy():
    rng = np.random.default_rng(4)
    senders, receivers, edge_type = grid_graph(3, 4)
    x, W, b = rng.normal(size=(5, 12, 2)), rng.normal(size=(9, 2, 3)), rng.normal(size=3)
    batched = graph_conv(x.reshape(60, 2), *batch_graph(senders, receivers, edge_type, 12, 5),
                         W, b).numpy()
    each = np.concatenate([graph_conv(xk, senders, receivers, edge_type, W, b).numpy()
                           for xk in x])
    np.testing.assert_allclose(batched, each, atol=1e-12)


def test_fit_graph_step_recovers_tau():
    points, triangles = unit_square_mesh(40, 4, seed=0)
    edges, nodes, tau = mesh_edges(triangles), len(points), 0.07
    L = graph_laplacian(edges, nodes)
    u_now = np.random.default_rng(1).normal(size=(4, nodes))
    u_next = np.stack([heat_steps(u, L, tau, 1)[1] for u in u_now])
    layer, losses = fit_graph_step(u_now, u_next, *mesh_graph(edges, nodes), steps=200)
    np.testing.assert_allclose(layer.kernel.numpy().ravel(), [tau, -tau], atol=1e-4)
    assert abs(float(layer.bias.numpy()[0])) < 1e-4 and losses[-1] < 1e-8 * losses[0]


def test_bad_mesh_arguments():
    edges = np.array([[0, 1], [1, 2]])
    L = graph_laplacian(edges, 3)
    with pytest.raises(ValueError, match="n_side must be a positive int"):
        unit_square_mesh(10, 0)
    with pytest.raises(TypeError, match="n_interior must be an int"):
        unit_square_mesh(10.0, 2)
    with pytest.raises(ValueError, match=r"triangles must have shape \(k, 3\)"):
        mesh_edges(np.zeros((4, 2), dtype=int))
    with pytest.raises(TypeError, match="triangles must hold integer"):
        mesh_edges(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"edges must hold node indices in \[0, 3\)"):
        graph_laplacian(np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match="self-loop"):
        graph_laplacian(np.array([[1, 1]]), 3)
    with pytest.raises(ValueError, match="repeated edge"):
        graph_laplacian(np.array([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match=r"u0 must have shape \(3,\)"):
        heat_steps(np.zeros(4), L, 0.1, 1)
    with pytest.raises(ValueError, match="L must be a square"):
        heat_steps(np.zeros(3), np.zeros((3, 2)), 0.1, 1)
    with pytest.raises(ValueError, match="tau must be positive"):
        heat_steps(np.zeros(3), L, -0.1, 1)
    with pytest.raises(TypeError, match="tau must be a real number"):
        heat_steps(np.zeros(3), L, "0.1", 1)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        heat_steps(np.zeros(3), L, 0.1, -1)
    with pytest.raises(ValueError, match="second_type must be 'receiver' or 'self'"):
        mesh_graph(edges, 3, "neighbour")
    with pytest.raises(ValueError, match=r"edges must hold node indices in \[0, 2\)"):
        mesh_graph(edges, 2)


def test_bad_training_arguments():
    s, r, t = mesh_graph(np.array([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match=r"u_now and u_next must both have shape \(pairs, nodes\)"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 4)), s, r, t)
    with pytest.raises(ValueError, match=r"senders must lie in \[0, 2\)"):
        fit_graph_step(np.zeros((2, 2)), np.zeros((2, 2)), s, r, t)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 3)), s, r, t, steps=0)
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 3)), s, r, t, learning_rate=0.0)
    with pytest.raises(ValueError, match="copies must be a positive int"):
        batch_graph(s, r, t, 3, 0)
    with pytest.raises(ValueError, match=r"senders must lie in \[0, 2\)"):
        batch_graph(s, r, t, 2, 3)
