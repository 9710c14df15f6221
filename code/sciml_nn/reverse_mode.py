"""Reverse mode as the critical point of a Lagrangian, on a small graph of
NumPy operations.

Code of the chapter *Reverse mode is a Lagrangian*
(``book/differentiation/reverse-mode.md``).

A computation is a directed acyclic graph: node :math:`a` computes :math:`x_a =
f_a(x_{I(a)}, \\xi_a)` from the outputs of its input nodes :math:`I(a)` and its
own parameters :math:`\\xi_a`, and the objective :math:`J` is the scalar output
of one node. With one multiplier :math:`\\lambda_a` per node, the Lagrangian
:math:`\\mathcal{L}` of :math:numref:`eq-lagrangian` is stationary in
:math:`\\lambda` on the forward pass :math:numref:`eq-forward-pass`, stationary
in :math:`x` on the reverse pass :math:numref:`eq-reverse-pass`, and its
derivative in :math:`\\xi_a` is the gradient :math:`g_a`
:math:numref:`eq-parameter-gradient`.

The node functions, each with its forward rule and its vector-Jacobian product,
are in :mod:`sciml_nn.reverse_mode_operations`. NumPy only: no TensorFlow and
no automatic differentiation in here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from sciml_nn.core.checks import check_array, check_choice, check_int
from sciml_nn.core.device import time_callable
from sciml_nn.core.mlp import (
    Params,
    check_layer_sizes,
    init_mlp,
    layer_sizes_of,
)
from sciml_nn.reverse_mode_operations import OPS, Arrays


class Node(NamedTuple):
    """Node :math:`a`: ``op`` names :math:`f_a` in
    :data:`~sciml_nn.reverse_mode_operations.OPS`, ``inputs``
    names the nodes :math:`I(a)` it reads, ``xi`` holds its parameter arrays
    :math:`\\xi_a`."""

    op: str
    inputs: tuple[str, ...] = ()
    xi: tuple[Any, ...] = ()

    def arguments(self, x: dict[str, np.ndarray]) -> tuple[Arrays, Arrays]:
        """The inputs :math:`x_{I(a)}`, read from the outputs ``x`` computed
        so far, and the parameters :math:`\\xi_a` as arrays."""
        return [x[i] for i in self.inputs], [np.asarray(p) for p in self.xi]


Graph = dict[str, Node]


def _check_nodes(graph: Graph) -> None:
    if not isinstance(graph, dict):
        raise TypeError(
            f"graph must be a dict of name: Node; got {type(graph).__name__}"
        )
    for name, node in graph.items():
        if not isinstance(node, Node):
            raise TypeError(
                f"graph[{name!r}] must be a Node; got {type(node).__name__}"
            )
        op = OPS[check_choice(f"node {name!r}: op", node.op, tuple(OPS))]
        if len(node.inputs) != op.arity or len(node.xi) != op.n_xi:
            raise ValueError(
                f"node {name!r} ({node.op}) takes {op.arity} inputs and "
                f"{op.n_xi} xi arrays; "
                f"got {len(node.inputs)} and {len(node.xi)}"
            )
        for i in node.inputs:
            if i not in graph:
                raise ValueError(
                    f"node {name!r} reads {i!r}, which is not in the graph"
                )


def topological_order(graph: Graph) -> list[str]:
    """The nodes ordered so that each comes after its inputs (Kahn's
    algorithm).

    Raises ``ValueError`` if the graph has a cycle, names an unknown op or
    input, or gives a node the wrong number of inputs or parameter arrays."""
    _check_nodes(graph)
    waiting = {a: len(node.inputs) for a, node in graph.items()}
    consumers: dict[str, list[str]] = {a: [] for a in graph}
    for a, node in graph.items():
        for i in node.inputs:
            consumers[i].append(a)
    ready = [a for a, count in waiting.items() if count == 0]
    order = []
    while ready:
        a = ready.pop(0)
        order.append(a)
        for c in consumers[a]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    if len(order) < len(graph):
        stuck = sorted(set(graph) - set(order))
        raise ValueError(
            f"the graph has a cycle: nodes {stuck} wait on each other"
        )
    return order


def forward_sweep(graph: Graph) -> dict[str, np.ndarray]:
    """Solve :math:`\\partial \\mathcal{L} / \\partial \\lambda_a = 0` node by
    node in topological order: :math:`x_a = f_a(x_{I(a)}, \\xi_a)`
    :math:numref:`eq-forward-pass`."""
    x: dict[str, np.ndarray] = {}
    for a in topological_order(graph):
        node, op = graph[a], OPS[graph[a].op]
        inputs, xi = node.arguments(x)
        try:
            op.shape([v.shape for v in inputs], [p.shape for p in xi])
        except ValueError as error:
            raise ValueError(f"node {a!r} ({node.op}) {error}") from None
        x[a] = np.asarray(op.forward(inputs, xi))
    return x


def _check_objective(
    graph: Graph, x: dict[str, np.ndarray], objective: str
) -> None:
    if objective not in graph or np.shape(x.get(objective, ())) != ():
        raise ValueError(
            "objective must name a node with a scalar output; got "
            f"{objective!r}"
        )


def reverse_sweep(
    graph: Graph, x: dict[str, np.ndarray], objective: str = "J"
) -> tuple[dict[str, np.ndarray], dict[str, Arrays]]:
    """Solve :math:`\\partial \\mathcal{L} / \\partial x_a = 0` backwards from
    :math:`\\lambda_J = 1`: :math:`\\lambda_a = \\sum_{c} \\lambda_c \\partial
    f_c / \\partial x_a` :math:numref:`eq-reverse-pass`. Returns the
    multipliers :math:`\\lambda` and, per node, the gradients :math:`g_a =
    \\lambda_a \\partial f_a / \\partial \\xi_a`
    :math:numref:`eq-parameter-gradient`, one array per entry of ``xi``."""
    order = topological_order(graph)
    _check_objective(graph, x, objective)
    lam = {objective: np.ones_like(x[objective])}  # lambda_J = dJ/dx_J = 1
    g: dict[str, Arrays] = {}
    for a in reversed(order):  # every consumer of x_a comes before a
        node = graph[a]
        if a not in lam:  # J does not depend on x_a
            lam[a] = np.zeros_like(x[a])
        inputs, xi = node.arguments(x)
        to_inputs, g[a] = OPS[node.op].vjp(lam[a], inputs, xi, x[a])
        for i, lam_from_a in zip(node.inputs, to_inputs):
            # a is one consumer c of x_i; the others add their terms of the sum
            lam[i] = lam[i] + lam_from_a if i in lam else lam_from_a
    return lam, g


def lagrangian(
    graph: Graph,
    x: dict[str, np.ndarray],
    lam: dict[str, np.ndarray],
    objective: str = "J",
) -> float:
    """:math:`\\mathcal{L} = J - \\sum_a \\langle \\lambda_a, x_a -
    f_a(x_{I(a)}, \\xi_a) \\rangle` :math:numref:`eq-lagrangian` at any
    :math:`x` and :math:`\\lambda`, with :math:`J = x_J`."""
    value = float(x[objective])
    for a, node in graph.items():
        f_a = OPS[node.op].forward(*node.arguments(x))
        value -= float(np.sum(lam[a] * (x[a] - f_a)))
    return value


#: The activations :math:`\sigma` an MLP built by :func:`mlp_graph` may use.
MLP_ACTIVATIONS = ("tanh", "relu", "sigmoid")


def float64_xi(xi: Params) -> Params:
    """The pairs ``xi`` as finite float64 arrays, their shapes checked by
    :func:`~sciml_nn.core.mlp.layer_sizes_of`."""
    xi = [
        (check_array(f"W_{k}", W), check_array(f"b_{k}", b))
        for k, (W, b) in enumerate(xi, start=1)
    ]
    layer_sizes_of(xi)
    return xi


def mlp_graph(xi: Params, x: Any, y: Any, activation: str = "tanh") -> Graph:
    """The graph of :math:`J = \\sum_i \\|N(x_i) - y_i\\|^2` for the MLP
    :math:numref:`eq-mlp` with parameters ``xi``, the pairs :math:`(W_k,
    b_k)`: ``x0`` → ``z1`` (affine) → ``x1`` (σ) → … → ``zL`` (affine) →
    ``J`` ← ``y``. Arrays are computed in float64; :func:`float64_xi` checks
    the pairs, the sweeps check ``x`` and ``y`` against them."""
    check_choice("activation", activation, MLP_ACTIVATIONS)
    graph = {
        "x0": Node("source", xi=(check_array("x", x),)),
        "y": Node("source", xi=(check_array("y", y),)),
    }
    xi = float64_xi(xi)
    previous, L = "x0", len(xi)
    for k, (W, b) in enumerate(xi, start=1):
        graph[f"z{k}"] = Node("affine", (previous,), (W, b))
        previous = f"z{k}"
        if k < L:  # no activation after the last layer
            graph[f"x{k}"] = Node(activation, (previous,))
            previous = f"x{k}"
    graph["J"] = Node("squared_error", (previous, "y"))
    return graph


def mlp_gradients(
    xi: Params, x: Any, y: Any, activation: str = "tanh"
) -> tuple[float, Params]:
    """Loss :math:`J = \\sum_i \\|N(x_i) - y_i\\|^2` and its gradient
    :math:`[(\\partial J/\\partial W_k, \\partial J/\\partial b_k)]_k`, shaped
    like ``xi``, from one forward sweep and one reverse sweep over
    :func:`mlp_graph` :math:numref:`eq-parameter-gradient`."""
    graph = mlp_graph(xi, x, y, activation)
    x_all = forward_sweep(graph)
    _, g = reverse_sweep(graph, x_all, "J")
    layers = range(1, len(xi) + 1)
    return float(x_all["J"]), [(g[f"z{k}"][0], g[f"z{k}"][1]) for k in layers]


def sweep_times(
    layer_sizes: Sequence[int],
    batch: int = 256,
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Seconds of :func:`forward_sweep` and :func:`reverse_sweep` on a tanh MLP
    of ``layer_sizes`` with Glorot-uniform weights
    (:func:`~sciml_nn.core.mlp.init_mlp`) in float64 and a batch of ``batch``
    random samples, each the fastest of ``repeats`` alternating runs:
    ``{"forward": ..., "reverse": ...}``."""
    layer_sizes = check_layer_sizes(layer_sizes)
    batch = check_int("batch", batch, 1)
    repeats = check_int("repeats", repeats, 1)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((batch, layer_sizes[0]))
    y = rng.standard_normal((batch, layer_sizes[-1]))
    graph = mlp_graph(init_mlp(layer_sizes, seed), x0, y, "tanh")
    x = forward_sweep(graph)
    forward, reverse = [], []
    # alternate, so that both sweeps meet the same load on the machine
    for _ in range(repeats):
        forward.append(
            time_callable(lambda: forward_sweep(graph), repeats=1)["min"]
        )
        reverse.append(
            time_callable(lambda: reverse_sweep(graph, x), repeats=1)["min"]
        )
    return {"forward": min(forward), "reverse": min(reverse)}
