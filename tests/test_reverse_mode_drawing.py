"""Drawings of computation graphs follow the graph: depths, layout, arrows."""

from __future__ import annotations

import matplotlib
from test_reverse_mode import residual_arrays, residual_graph

from sciml_nn.reverse_mode_drawing import (
    draw_graph,
    graph_depths,
    graph_layout,
)

matplotlib.use("Agg")


def test_graph_depths_and_drawing_follow_the_graph():
    graph = residual_graph(*residual_arrays())
    depths = graph_depths(graph)
    assert depths == {"x0": 0, "z1": 1, "x1": 2, "z2": 3, "x2": 4, "s": 5, "z3": 6, "J": 7, "y": 6}
    layout = graph_layout(graph)
    assert layout["z3"] == (6.0, 0.0) and layout["y"] == (6.0, -1.0)
    for reverse in (False, True):
        ax = draw_graph(graph, reverse=reverse)
        edges = sum(len(node.inputs) for node in graph.values())
        assert len(ax.texts) == edges + len(graph)  # one arrow and one box each
        matplotlib.pyplot.close(ax.figure)
