"""Tests of sciml_nn.neural_networks: the graph's nodes and edges against the layer sizes that define it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.core.mlp import init_mlp, keras_mlp
from sciml_nn.neural_networks import draw_network, network_graph


@settings(max_examples=25, deadline=None)
@given(layer_sizes=st.lists(st.integers(1, 15), min_size=2, max_size=6))
def test_full_graph_has_a_node_per_neuron_and_an_edge_per_weight(layer_sizes):
    """Edge (k, i, j) for every entry (W_k)_ij of the weights init_mlp draws, and no other."""
    graph = network_graph(layer_sizes, max_nodes=None)
    assert [len(p) for p in graph.positions] == layer_sizes
    assert all(e is None for e in graph.ellipses)
    weights = {
        (k, i, j)
        for k, (W, _) in enumerate(init_mlp(layer_sizes), start=1)
        for i, j in np.ndindex(W.shape)
    }
    assert set(graph.edges) == weights and len(graph.edges) == len(weights)
    for n, neurons in zip(layer_sizes, graph.neurons):
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
    assert drawn_nodes([3, 10, 11], max_nodes=10) == [3, 10, 9]
    assert drawn_nodes([3, 10, 11], max_nodes=3) == [3, 2, 2]
    assert drawn_nodes([3, 10, 11], max_nodes=None) == [3, 10, 11]


def drawn_nodes(layer_sizes, max_nodes):
    return [len(p) for p in network_graph(layer_sizes, max_nodes=max_nodes).positions]


def test_draw_network_draws_every_edge_and_labels():
    fig, ax = plt.subplots()
    returned = draw_network([2, 8, 8, 1], ax=ax)
    assert returned is ax
    assert len(ax.lines) == 2 * 8 + 8 * 8 + 8 * 1
    texts = [t.get_text() for t in ax.texts]
    for k in range(4):
        assert any(t.startswith(f"$x_{{{k}}}$") for t in texts)
    # the parameters of each layer as Keras counts them
    for k, layer in enumerate(keras_mlp([2, 8, 8, 1]).layers, start=1):
        assert f"$W_{{{k}}}, b_{{{k}}}$\n{layer.count_params()} parameters" in texts
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
        ({"layer_sizes": [3, 0, 1]}, ValueError, "layer sizes must be a positive int; got 0"),
        ({"layer_sizes": [3, 2.0]}, TypeError, "layer sizes must be an int; got float"),
        ({"layer_sizes": [3, 2], "max_nodes": 2}, ValueError, "max_nodes must be >= 3; got 2"),
        ({"layer_sizes": [3, 2], "max_nodes": 4.0}, TypeError, "max_nodes must be an int"),
        (
            {"layer_sizes": [3, 2], "layer_gap": 0.0},
            ValueError,
            "layer_gap must be a finite number > 0.0; got 0.0",
        ),
        ({"layer_sizes": [3, 2], "layer_gap": np.nan}, ValueError, "layer_gap must be a finite"),
        ({"layer_sizes": [3, 2], "layer_gap": "3"}, TypeError, "layer_gap must be a float"),
    ],
)
def test_network_graph_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        network_graph(**kwargs)


def test_draw_network_bad_arguments():
    with pytest.raises(ValueError, match="colors must hold 3 colours"):
        draw_network([2, 1], colors=("red", "blue"))
    with pytest.raises(ValueError, match="max_nodes must be >= 3"):
        draw_network([2, 1], max_nodes=1)
