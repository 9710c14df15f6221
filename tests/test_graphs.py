"""Graph convolutions: grid graph layout, equality with Conv2D, equivariance, argument checks."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.architectures import GraphConv, graph_conv, grid_graph


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
