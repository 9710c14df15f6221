"""Tests of sciml_nn.drawing: the graph's nodes and edges against the layer sizes that define it."""

from itertools import pairwise

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.drawing import draw_network, network_graph
from sciml_nn.networks import init_mlp


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 15), min_size=2, max_size=6))
def test_full_graph_has_a_node_per_neuron_and_an_edge_per_weight(sizes):
    graph = network_graph(sizes, max_nodes=None)
    assert [len(p) for p in graph.positions] == sizes
    assert all(e is None for e in graph.ellipses)
    n_weights = sum(W.size for W, _ in init_mlp(sizes))
    assert len(graph.edges) == n_weights == sum(a * b for a, b in pairwise(sizes))
    assert len(set(graph.edges)) == len(graph.edges)
    for k, i, j in graph.edges:
        assert 1 <= k < len(sizes) and 0 <= i < sizes[k - 1] and 0 <= j < sizes[k]
    for n, neurons in zip(sizes, graph.neurons):
        np.testing.assert_array_equal(neurons, np.arange(n))


def test_positions_are_columns_one_unit_apart_and_centred():
    graph = network_graph([2, 3, 1], max_nodes=None, layer_gap=2.5)
    np.testing.assert_array_equal(graph.positions[0], [[0.0, 0.5], [0.0, -0.5]])
    np.testing.assert_array_equal(graph.positions[1], [[2.5, 1.0], [2.5, 0.0], [2.5, -1.0]])
    np.testing.assert_array_equal(graph.positions[2], [[5.0, 0.0]])
    assert graph.edges[:3] == [(1, 0, 0), (1, 0, 1), (1, 0, 2)]


def test_wide_layers_are_elided():
    graph = network_graph([1, 32, 1], max_nodes=10)
    assert [len(p) for p in graph.positions] == [1, 9, 1]
    np.testing.assert_array_equal(graph.neurons[1], [0, 1, 2, 3, 4, 28, 29, 30, 31])
    assert graph.ellipses[0] is None and graph.ellipses[2] is None
    x, y = graph.ellipses[1]
    ys = graph.positions[1][:, 1]
    # Ten slots one unit apart, centred; the ellipsis takes slot 5, between neurons 4 and 28.
    assert x == 3.0 and y == -0.5
    np.testing.assert_array_equal(ys, [4.5, 3.5, 2.5, 1.5, 0.5, -1.5, -2.5, -3.5, -4.5])
    assert len(graph.edges) == 9 + 9


def test_elision_threshold():
    assert graph_sizes([3, 10, 11], max_nodes=10) == [3, 10, 9]
    assert graph_sizes([3, 10, 11], max_nodes=3) == [3, 2, 2]
    assert graph_sizes([3, 10, 11], max_nodes=None) == [3, 10, 11]


def graph_sizes(sizes, max_nodes):
    return [len(p) for p in network_graph(sizes, max_nodes=max_nodes).positions]


def test_draw_network_draws_every_edge_and_labels():
    fig, ax = plt.subplots()
    returned = draw_network([2, 8, 8, 1], ax=ax)
    assert returned is ax
    assert len(ax.lines) == 2 * 8 + 8 * 8 + 8 * 1
    texts = [t.get_text() for t in ax.texts]
    for k in range(4):
        assert any(t.startswith(f"$x_{{{k}}}$") for t in texts)
    assert any("$W_{2}, b_{2}$\n72 parameters" == t for t in texts)
    assert not any("vdots" in t for t in texts)
    plt.close(fig)


def test_draw_network_marks_elided_layers():
    ax = draw_network([1, 32, 1])
    assert sum("vdots" in t.get_text() for t in ax.texts) == 1
    assert len(ax.lines) == 18
    assert any("$W_{1}, b_{1}$\n64 parameters" == t.get_text() for t in ax.texts)
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_sizes": [3]}, ValueError, "at least an input and an output"),
        ({"layer_sizes": [3, 0, 1]}, ValueError, "must be positive"),
        ({"layer_sizes": [3, 2.0]}, TypeError, "must be ints"),
        ({"layer_sizes": [3, 2], "max_nodes": 2}, ValueError, "max_nodes must be at least 3"),
        ({"layer_sizes": [3, 2], "max_nodes": 4.0}, TypeError, "max_nodes must be an int or None"),
        ({"layer_sizes": [3, 2], "layer_gap": 0.0}, ValueError, "layer_gap must be a positive"),
        ({"layer_sizes": [3, 2], "layer_gap": np.nan}, ValueError, "layer_gap must be a positive"),
    ],
)
def test_network_graph_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        network_graph(**kwargs)


def test_draw_network_bad_arguments():
    with pytest.raises(ValueError, match="colors must hold 3 colours"):
        draw_network([2, 1], colors=("red", "blue"))
    with pytest.raises(ValueError, match="max_nodes must be at least 3"):
        draw_network([2, 1], max_nodes=1)
