"""Graph convolutions: grid graph layout, equality with Keras' Conv2D (function and layer),
equivariance, saving and loading, argument checks, and a learned heat step on the grid."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml_nn.graph_networks import GraphConv, batch_graph, fit_graph_step, graph_conv, grid_graph


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
@given(
    ny=st.integers(1, 6),
    nx=st.integers(1, 6),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_graph_conv_on_grid_equals_conv2d(ny, nx, c_in, c_out, seed):
    u = np.random.default_rng(seed).normal(size=(1, ny, nx, c_in)).astype(np.float32)
    conv = keras.layers.Conv2D(
        c_out, 3, padding="same", bias_initializer=keras.initializers.RandomNormal(seed=seed)
    )
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


def test_graph_conv_layer_on_the_grid_is_conv2d():
    ny, nx, c_in, c_out = 4, 5, 3, 2
    image = np.random.default_rng(0).normal(size=(1, ny, nx, c_in)).astype(np.float32)
    conv = keras.layers.Conv2D(
        c_out,
        3,
        padding="same",
        activation="tanh",
        bias_initializer=keras.initializers.RandomNormal(seed=1),
    )
    expected = conv(image).numpy().reshape(ny * nx, c_out)
    layer = GraphConv(c_out, *grid_graph(ny, nx), activation="tanh")
    layer.build((None, c_in))
    assert layer.kernel.shape == (9, c_in, c_out)
    layer.set_weights([conv.kernel.numpy().reshape(9, c_in, c_out), conv.bias.numpy()])
    np.testing.assert_allclose(layer(image.reshape(ny * nx, c_in)), expected, atol=1e-5)


def test_graph_conv_layer_saves_and_loads(tmp_path):
    edges = grid_graph(3, 3)
    model = keras.Sequential(
        [keras.Input((3,)), GraphConv(2, *edges, activation="tanh", name="graph_conv")]
    )
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    expected = model(x).numpy()
    keras.saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("graph_conv")
    assert isinstance(layer, GraphConv) and (layer.types, layer.activation) == (9, "tanh")
    for saved, original in zip(layer.edges, edges):
        np.testing.assert_array_equal(saved, original)
    np.testing.assert_array_equal(loaded(x).numpy(), expected)


@pytest.mark.parametrize(
    ("edges", "W_shape", "error", "message"),
    [
        (([0, 5], [1, 1], [0, 0]), (2, 1, 1), ValueError, r"senders must lie in \[0, 3\)"),
        (([0, 1], [1, -1], [0, 0]), (2, 1, 1), ValueError, r"receivers must lie in \[0, 3\)"),
        (([0, 1], [1, 1], [0, 2]), (2, 1, 1), ValueError, r"edge_type must lie in \[0, 2\)"),
        (([0, 1], [1, 1], [0]), (2, 1, 1), ValueError, "one entry per edge"),
        (([0.0, 1.0], [1, 1], [0, 0]), (2, 1, 1), TypeError, "senders must hold integers"),
        (([[0, 1]], [1, 1], [0, 0]), (2, 1, 1), ValueError, r"senders must have shape \(edges,\)"),
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


def test_batch_graph_applies_the_conv_to_each_copy():
    rng = np.random.default_rng(4)
    senders, receivers, edge_type = grid_graph(3, 4)
    x, W, b = rng.normal(size=(5, 12, 2)), rng.normal(size=(9, 2, 3)), rng.normal(size=3)
    batched = graph_conv(
        x.reshape(60, 2), *batch_graph(senders, receivers, edge_type, 12, 5), W, b
    ).numpy()
    each = np.concatenate([graph_conv(xk, senders, receivers, edge_type, W, b).numpy() for xk in x])
    np.testing.assert_allclose(batched, each, atol=1e-12)


def test_fit_graph_step_learns_the_explicit_heat_scheme_on_the_grid():
    # u^{n+1} = u^n + r (u_{i+1,j} + u_{i-1,j} + u_{i,j+1} + u_{i,j-1} - 4 u_{i,j}), zero outside:
    # on the grid graph the increment has the kernel r (0, 1, 0, 1, -4, 1, 0, 1, 0).
    ny, nx, r = 5, 6, 0.1
    u_now = np.random.default_rng(1).normal(size=(4, ny, nx))
    padded = np.pad(u_now, [(0, 0), (1, 1), (1, 1)])
    neighbours = (
        padded[:, 2:, 1:-1] + padded[:, :-2, 1:-1] + padded[:, 1:-1, 2:] + padded[:, 1:-1, :-2]
    )
    u_next = u_now + r * (neighbours - 4 * u_now)
    layer, losses = fit_graph_step(
        u_now.reshape(4, -1),
        u_next.reshape(4, -1),
        *grid_graph(ny, nx),
        steps=400,
        learning_rate=0.02,
    )
    expected = r * np.array([0, 1, 0, 1, -4, 1, 0, 1, 0])
    np.testing.assert_allclose(layer.kernel.numpy().ravel(), expected, atol=1e-4)
    assert abs(float(layer.bias.numpy()[0])) < 1e-4 and losses[-1] < 1e-7 * losses[0]


def test_bad_training_arguments():
    # the path 0 - 1 - 2, one edge type
    s, r, t = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]), np.zeros(4, int)
    with pytest.raises(ValueError, match=r"u_next must have shape \(2, 3\); got \(2, 4\)"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 4)), s, r, t)
    with pytest.raises(ValueError, match=r"senders must lie in \[0, 2\)"):
        fit_graph_step(np.zeros((2, 2)), np.zeros((2, 2)), s, r, t)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 3)), s, r, t, steps=0)
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number > 0.0"):
        fit_graph_step(np.zeros((2, 3)), np.zeros((2, 3)), s, r, t, learning_rate=0.0)
    with pytest.raises(ValueError, match="copies must be a positive int"):
        batch_graph(s, r, t, 3, 0)
    with pytest.raises(ValueError, match=r"senders must lie in \[0, 2\)"):
        batch_graph(s, r, t, 2, 3)
