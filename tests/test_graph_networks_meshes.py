"""Meshes as graphs, checked against SciPy: edges, graph Laplacian, heat steps; the typed edges
that make a graph convolution the heat step."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csgraph
from scipy.spatial import Delaunay

from sciml_nn.graph_networks import graph_conv
from sciml_nn.graph_networks_meshes import (
    graph_laplacian,
    heat_steps,
    mesh_edges,
    mesh_graph,
    unit_square_mesh,
)


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
    scipy_edges = {
        (p, q) for p in range(len(points)) for q in indices[indptr[p] : indptr[p + 1]] if p < q
    }
    assert set(map(tuple, edges.tolist())) == scipy_edges


def test_graph_laplacian_matches_scipy_csgraph():
    points, triangles = unit_square_mesh(60, 5, seed=1)
    edges, nodes = mesh_edges(triangles), len(points)
    laplacian = graph_laplacian(edges, nodes)
    A = np.zeros((nodes, nodes))
    A[edges[:, 0], edges[:, 1]] = 1.0
    np.testing.assert_array_equal(laplacian, csgraph.laplacian(A + A.T))
    np.testing.assert_allclose(laplacian @ np.ones(nodes), 0.0)
    assert np.linalg.eigvalsh(laplacian)[0] > -1e-12  # positive semidefinite


def test_heat_steps_is_a_matrix_power_and_conserves_heat():
    points, triangles = unit_square_mesh(30, 3, seed=2)
    laplacian = graph_laplacian(mesh_edges(triangles), len(points))
    u0 = np.random.default_rng(0).normal(size=len(points))
    u = heat_steps(u0, laplacian, 0.05, 7)
    assert u.shape == (8, len(points))
    expected = np.linalg.matrix_power(np.eye(len(points)) - 0.05 * laplacian, 7) @ u0
    np.testing.assert_allclose(u[-1], expected, atol=1e-12)
    np.testing.assert_allclose(u.sum(axis=1), u0.sum(), atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), tau=st.floats(0.01, 0.1))
def test_receiver_edges_make_graph_conv_the_heat_step(seed, tau):
    points, triangles = unit_square_mesh(25, 3, seed)
    edges, nodes = mesh_edges(triangles), len(points)
    A = np.zeros((nodes, nodes))
    A[edges[:, 0], edges[:, 1]] = A[edges[:, 1], edges[:, 0]] = 1.0
    senders, receivers, edge_type = mesh_graph(edges, nodes)
    # Each node receives deg(i) neighbour edges (type 0) and deg(i) receiver edges (type 1).
    for t in (0, 1):
        np.testing.assert_array_equal(
            np.bincount(receivers[edge_type == t], minlength=nodes), A.sum(axis=1)
        )
    u = np.random.default_rng(seed).normal(size=(nodes, 1))
    W = np.array([[[tau]], [[-tau]]])
    step = u + graph_conv(u, senders, receivers, edge_type, W).numpy()
    np.testing.assert_allclose(step, u - tau * csgraph.laplacian(A) @ u, atol=1e-12)


def test_self_type_is_one_loop_per_node():
    senders, receivers, edge_type = mesh_graph(np.array([[0, 1], [1, 2]]), 4, "self")
    assert edge_type.tolist().count(0) == 4 and edge_type.tolist().count(1) == 4
    loops = {(s, r) for s, r, t in zip(senders, receivers, edge_type) if t == 1}
    assert loops == {(k, k) for k in range(4)}


def test_bad_mesh_arguments():
    edges = np.array([[0, 1], [1, 2]])
    laplacian = graph_laplacian(edges, 3)
    with pytest.raises(ValueError, match="n_side must be a positive int"):
        unit_square_mesh(10, 0)
    with pytest.raises(TypeError, match="n_interior must be an int"):
        unit_square_mesh(10.0, 2)
    with pytest.raises(ValueError, match=r"triangles must have shape \(k, 3\)"):
        mesh_edges(np.zeros((4, 2), dtype=int))
    with pytest.raises(TypeError, match="triangles must hold integers"):
        mesh_edges(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"edges must lie in \[0, 3\)"):
        graph_laplacian(np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match="self-loop"):
        graph_laplacian(np.array([[1, 1]]), 3)
    with pytest.raises(ValueError, match="repeated edge"):
        graph_laplacian(np.array([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match=r"laplacian must have shape \(4, 4\); got \(3, 3\)"):
        heat_steps(np.zeros(4), laplacian, 0.1, 1)
    with pytest.raises(ValueError, match=r"laplacian must have shape \(3, 3\); got \(3, 2\)"):
        heat_steps(np.zeros(3), np.zeros((3, 2)), 0.1, 1)
    with pytest.raises(ValueError, match=r"tau must be a finite number > 0.0; got -0.1"):
        heat_steps(np.zeros(3), laplacian, -0.1, 1)
    with pytest.raises(TypeError, match="tau must be a float"):
        heat_steps(np.zeros(3), laplacian, "0.1", 1)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        heat_steps(np.zeros(3), laplacian, 0.1, -1)
    with pytest.raises(ValueError, match="second_type must be one of"):
        mesh_graph(edges, 3, "neighbour")
    with pytest.raises(ValueError, match=r"edges must lie in \[0, 2\)"):
        mesh_graph(edges, 2)
