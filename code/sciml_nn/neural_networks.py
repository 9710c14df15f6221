"""The graph of a multilayer perceptron, computed from its layer sizes and
drawn with matplotlib.

Code of the chapter *What is a neural network*
(``book/foundations/neural-networks.md``).

Layer :math:`k` of a network with sizes :math:`(n_0, \\dots, n_L)` is a column
of :math:`n_k` nodes at horizontal position :math:`k`; every node of layer
:math:`k-1` is joined to every node of layer :math:`k`, one edge per entry of
:math:`W_k` (the book's equation :math:numref:`eq-mlp`). Layers wider than
``max_nodes`` show their first and last nodes and a vertical ellipsis between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from sciml_nn.core.checks import check_float, check_int
from sciml_nn.core.mlp import check_layer_sizes, count_parameters
from sciml_nn.core.plotting import COLORS


class NetworkGraph(NamedTuple):
    """Nodes and edges of a drawn network.

    ``positions[k]`` is an ``(m_k, 2)`` array of the drawn nodes of layer ``k``
    (``m_k <= n_k``); ``neurons[k]`` says which of the ``n_k`` neurons each
    drawn node is; ``edges`` holds ``(k, i, j)``: drawn node ``i`` of layer ``k
    - 1`` feeds drawn node ``j`` of layer ``k``; ``ellipses[k]`` is the ``(x,
    y)`` of the elision mark of layer ``k``, or ``None``.
    """

    positions: list[np.ndarray]
    edges: list[tuple[int, int, int]]
    neurons: list[np.ndarray]
    ellipses: list[tuple[float, float] | None]


def network_graph(
    layer_sizes: Sequence[int],
    max_nodes: int | None = 10,
    layer_gap: float = 3.0,
) -> NetworkGraph:
    """Node positions and edges of the network with ``layer_sizes``
    :math:`(n_0, \\dots, n_L)`.

    Nodes sit one unit apart, each layer centred on :math:`y = 0`, layer
    :math:`k` at :math:`x = k \\cdot` ``layer_gap``. A layer with more than
    ``max_nodes`` neurons keeps ``max_nodes - 1`` of them and gives the last
    slot to an ellipsis; ``max_nodes=None`` draws every neuron, and then there
    are :math:`\\sum_k n_{k-1} n_k` edges, one per weight
    (:func:`~sciml_nn.core.mlp.count_weights`).
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    if max_nodes is not None:  # two nodes and the ellipsis at least
        max_nodes = check_int("max_nodes", max_nodes, 3)
    layer_gap = check_float("layer_gap", layer_gap, 0.0, low_open=True)
    positions, neurons, ellipses = [], [], []
    for k, n in enumerate(layer_sizes):
        if max_nodes is None or n <= max_nodes:
            shown, slots, gap = np.arange(n), n, None
        else:
            # nodes above the ellipsis; the rest go below it
            top = max_nodes // 2
            bottom = max_nodes - 1 - top
            shown = np.concatenate([np.arange(top), np.arange(n - bottom, n)])
            slots, gap = max_nodes, top
        y = (slots - 1) / 2 - np.arange(slots, dtype=float)
        if gap is not None:
            ellipses.append((k * layer_gap, float(y[gap])))
            y = np.delete(y, gap)
        else:
            ellipses.append(None)
        positions.append(
            np.column_stack([np.full(len(shown), k * layer_gap), y])
        )
        neurons.append(shown)
    edges = [
        (k, i, j)
        for k in range(1, len(layer_sizes))
        for i in range(len(positions[k - 1]))
        for j in range(len(positions[k]))
    ]
    return NetworkGraph(positions, edges, neurons, ellipses)


def draw_network(
    layer_sizes: Sequence[int],
    ax: plt.Axes | None = None,
    max_nodes: int | None = 10,
    activation: str = r"\sigma",
    colors: Sequence[str] = (
        COLORS["data"],
        COLORS["network"],
        COLORS["reference"],
    ),
) -> plt.Axes:
    """Draw the graph of :func:`network_graph` and label it with :math:`x_k`,
    :math:`W_k, b_k`.

    Input, hidden and output nodes take ``colors[0]``, ``colors[1]`` and
    ``colors[2]``; under each layer stand its name and width, above each set of
    edges the number of parameters they carry, :math:`(n_{k-1} + 1)\\, n_k`.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    if len(colors) != 3:
        raise ValueError(
            "colors must hold 3 colours (input, hidden, output); got "
            f"{len(colors)}"
        )
    gap = 3.5
    graph = network_graph(layer_sizes, max_nodes, layer_gap=gap)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.5 * len(layer_sizes) + 1.0, 4.5))
    L = len(layer_sizes) - 1
    for k, i, j in graph.edges:
        (x0, y0), (x1, y1) = graph.positions[k - 1][i], graph.positions[k][j]
        ax.plot([x0, x1], [y0, y1], color="0.65", lw=0.6, zorder=1)
    slots = [
        len(p) + (e is not None)
        for p, e in zip(graph.positions, graph.ellipses)
    ]
    half = max(max(slots), 2) / 2
    for k, xy in enumerate(graph.positions):
        color = colors[0] if k == 0 else colors[2] if k == L else colors[1]
        ax.scatter(
            xy[:, 0], xy[:, 1], s=200, color=color, edgecolor="black", zorder=3
        )
        if graph.ellipses[k] is not None:
            ax.text(
                *graph.ellipses[k],
                r"$\vdots$",
                ha="center",
                va="center",
                fontsize=16,
            )
        role = (
            "input"
            if k == 0
            else "output"
            if k == L
            else f"hidden, ${activation}$"
        )
        label = f"$x_{{{k}}}$, $n_{{{k}}} = {layer_sizes[k]}$\n{role}"
        ax.text(k * gap, -half - 0.2, label, ha="center", va="top", fontsize=9)
        if k > 0:
            count = count_parameters(layer_sizes[k - 1 : k + 1])
            label = f"$W_{{{k}}}, b_{{{k}}}$\n{count} parameters"
            ax.text(
                (k - 0.5) * gap,
                half + 0.2,
                label,
                ha="center",
                va="bottom",
                fontsize=9,
            )
    ax.set_xlim(-1.2, L * gap + 1.2)
    ax.set_ylim(-half - 1.8, half + 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
