"""Unstructured meshes as graphs: a Delaunay mesh of the unit square, its
edges, the combinatorial graph Laplacian, explicit heat diffusion on it, and
the typed edges that let one graph convolution with shared weights take that
diffusion step exactly.

Code of the chapter *Graph neural networks*
(``book/architectures/graph-networks.md``).

The graph Laplacian of an undirected graph with neighbour sets :math:`N(i)` is

.. math::

(L u)_i = \\sum_{p \\in N(i)} (u_i - u_p)
    = \\deg(i)\\, u_i - \\sum_{p \\in N(i)} u_p,

and one explicit diffusion step is :math:`u^{n+1} = u^n - \\tau L u^n`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from sciml_nn.core.checks import (
    check_array,
    check_choice,
    check_float,
    check_int,
)
from sciml_nn.graph_networks import check_indices


def unit_square_mesh(
    n_interior: int, n_side: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay triangulation of ``n_interior`` uniform random points in the
    open unit square plus ``n_side`` equally spaced points along each of its
    four sides (corners included once).

    Returns ``(points, triangles)``: float64 (nodes, 2) coordinates and int32
    (m, 3) node indices.
    """
    n_interior = check_int("n_interior", n_interior, 0)
    n_side = check_int("n_side", n_side, 1)
    seed = check_int("seed", seed, 0)
    # one side's points, its end corner belonging to the next side
    s = np.arange(n_side) / n_side
    boundary = np.concatenate(
        [
            np.column_stack([s, 0 * s]),
            np.column_stack([1 + 0 * s, s]),
            np.column_stack([1 - s, 1 + 0 * s]),
            np.column_stack([0 * s, 1 - s]),
        ]
    )
    interior = np.random.default_rng(seed).uniform(
        0.0, 1.0, size=(n_interior, 2)
    )
    points = np.concatenate([boundary, interior])
    return points, Delaunay(points).simplices.astype(np.int32)


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """The undirected edges of a triangle mesh, each once as a row ``(p, q)``
    with ``p < q``, sorted; int32 (k, 2)."""
    triangles = check_indices("triangles", triangles, ("k", 3))
    pairs = np.concatenate(
        [triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]
    )
    return np.unique(np.sort(pairs, axis=1), axis=0).astype(np.int32)


def graph_laplacian(edges: np.ndarray, nodes: int) -> np.ndarray:
    """The combinatorial graph Laplacian :math:`L = D - A`
    :math:numref:`eq-graph-laplacian` of the undirected graph with ``edges``
    (k, 2) (each edge once), as a dense float64 (nodes, nodes)."""
    nodes = check_int("nodes", nodes, 1)
    edges = check_indices("edges", edges, ("k", 2), nodes)
    if np.any(edges[:, 0] == edges[:, 1]):
        raise ValueError(
            "edges must join two different nodes; got a self-loop"
        )
    if len(np.unique(np.sort(edges, axis=1), axis=0)) != len(edges):
        raise ValueError(
            "edges must list each undirected edge once; got a repeated edge"
        )
    A = np.zeros((nodes, nodes))
    A[edges[:, 0], edges[:, 1]] = A[edges[:, 1], edges[:, 0]] = 1.0
    return np.diag(A.sum(axis=1)) - A


def heat_steps(
    u0: np.ndarray, laplacian: np.ndarray, tau: float, steps: int
) -> np.ndarray:
    """``steps`` explicit diffusion steps :math:`u^{n+1} = u^n - \\tau L u^n`
    :math:numref:`eq-graph-heat-step` from ``u0`` (nodes,), with :math:`L` the
    graph Laplacian ``laplacian`` (nodes, nodes); returns (steps + 1, nodes)
    float64."""
    u0 = check_array("u0", u0, shape=("nodes",))
    laplacian = check_array("laplacian", laplacian, (len(u0), len(u0)))
    tau = check_float("tau", tau, 0.0, low_open=True)
    u = [u0]
    for _ in range(check_int("steps", steps, 0)):
        u.append(u[-1] - tau * (laplacian @ u[-1]))
    return np.stack(u)


def mesh_graph(
    edges: np.ndarray, nodes: int, second_type: str = "receiver"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Typed edges for :func:`~sciml_nn.graph_networks.graph_conv` on an
    undirected graph.

    Type 0: :math:`p \\to i` and :math:`i \\to p` for every edge :math:`\\{p,
    i\\}`. Type 1, with ``second_type="receiver"``: one edge :math:`i \\to i`
    for every type-0 edge into :math:`i`, so that its kernel sums to
    :math:`\\deg(i)\\, x_i W_1` as in :math:numref:`eq-graph-heat-conv`; with
    ``second_type="self"``: a single self-loop :math:`i \\to i` at every node.
    Returns ``(senders, receivers, edge_type)``, int32, sorted by receiver.
    """
    nodes = check_int("nodes", nodes, 1)
    edges = check_indices("edges", edges, ("k", 2), nodes)
    check_choice("second_type", second_type, ("receiver", "self"))
    senders, receivers = [edges[:, 0], edges[:, 1]], [edges[:, 1], edges[:, 0]]
    # A receiver edge starts and ends where its type-0 twin ends.
    second = receivers if second_type == "receiver" else [np.arange(nodes)]
    types = np.repeat([0, 1], [2 * len(edges), sum(len(a) for a in second)])
    senders, receivers = (
        np.concatenate(senders + second),
        np.concatenate(receivers + second),
    )
    order = np.lexsort((types, senders, receivers))
    return tuple(
        a[order].astype(np.int32) for a in (senders, receivers, types)
    )
