"""Draw a computation graph of :mod:`sciml_nn.reverse_mode` from the graph
itself, with matplotlib.

Code of the chapter *Reverse mode is a Lagrangian*
(``book/differentiation/reverse-mode.md``).

Each node sits in a column given by its depth, the length of the longest path
from a source to it, so every arrow points to the right; a source sits just
left of its first consumer. The forward drawing labels node :math:`a` with its
function and its output :math:`x_a`; the reverse drawing turns every arrow
around and labels the node with its multiplier :math:`\\lambda_a`.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt

from sciml_nn.core.plotting import COLORS
from sciml_nn.reverse_mode import Graph, topological_order

_OP_LABELS = {"squared_error": "sq. error"}  # fits the box


def graph_depths(graph: Graph) -> dict[str, int]:
    """Column of each node: 1 + the largest column of its inputs; a source (no
    inputs) goes one column left of its first consumer, or to column 0 if
    nothing reads it."""
    order = topological_order(graph)
    depth: dict[str, int] = {}
    for a in order:
        inputs = graph[a].inputs
        depth[a] = 1 + max((depth[i] for i in inputs), default=-1)
    for a in order:
        if not graph[a].inputs:
            consumers = [depth[c] for c in order if a in graph[c].inputs]
            depth[a] = max(min(consumers, default=1) - 1, 0)
    return depth


def graph_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Position ``(column, row)`` of each node: within a column, nodes that
    compute something come first (row 0, then -1, -2, ...) and sources last,
    each group in topological order."""
    depth, order = graph_depths(graph), topological_order(graph)
    columns: dict[int, list[str]] = {}
    for a in sorted(
        order, key=lambda a: (not graph[a].inputs, order.index(a))
    ):
        columns.setdefault(depth[a], []).append(a)
    return {
        a: (float(d), -float(row))
        for d, names in columns.items()
        for row, a in enumerate(names)
    }


def _symbol(name: str) -> str:
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
    return f"{match[1]}_{{{match[2]}}}" if match else name


def draw_graph(
    graph: Graph, ax: plt.Axes | None = None, reverse: bool = False
) -> plt.Axes:
    """Draw ``graph`` at :func:`graph_layout`: one box per node (its op and
    :math:`x_a`, or :math:`\\lambda_a` if ``reverse``), one arrow per input
    edge, pointing the way the sweep runs. Edges that skip columns are drawn as
    arcs so they clear the nodes in between."""
    position = graph_layout(graph)
    if ax is None:
        width = max(x for x, _ in position.values()) + 1
        _, ax = plt.subplots(figsize=(1.1 * width + 0.6, 2.2))
    color = COLORS["reference"] if reverse else COLORS["network"]
    for a, node in graph.items():
        for i in node.inputs:
            start, end = (
                (position[a], position[i])
                if reverse
                else (position[i], position[a])
            )
            skip = (
                abs(position[a][0] - position[i][0]) > 1
                and position[a][1] == position[i][1]
            )
            bend = (0.35 if reverse else -0.35) if skip else 0.0
            ax.annotate(
                "",
                xy=end,
                xytext=start,
                zorder=1,
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color,
                    "lw": 1.4,
                    "shrinkA": 20,
                    "shrinkB": 20,
                    "connectionstyle": f"arc3,rad={bend}",
                },
            )
        symbol = _symbol(a)
        value = f"$\\lambda_{{{symbol}}}$" if reverse else f"${symbol}$"
        label = f"{_OP_LABELS.get(node.op, node.op)}\n{value}"
        ax.text(
            *position[a],
            label,
            ha="center",
            va="center",
            fontsize=8,
            zorder=2,
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": "white",
                "edgecolor": color,
            },
        )
    xs = [x for x, _ in position.values()]
    ys = [y for _, y in position.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.9)
    ax.axis("off")
    return ax
