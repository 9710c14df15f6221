"""Graph convolutions: the stencil of a ConvNet, generalized to the edges of
any graph.

Code of the chapter *Graph neural networks*
(``book/architectures/graph-networks.md``).

A graph is given by three integer arrays of one entry per edge: ``senders``,
``receivers`` and ``edge_type``. A graph convolution with one weight matrix per
edge type computes

.. math::

\\mathrm{out}_i
    = \\sigma\\Big(\\sum_{e:\\, r_e = i} x_{s_e} W_{t_e} + b\\Big).

On the grid graph of :func:`grid_graph`, with one edge type per stencil offset,
it is a 3 x 3 ``Conv2D`` with zero padding.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import check_array, check_int
from sciml_nn.core.mlp import check_activation, sigma_tensorflow
from sciml_nn.residual_networks import train_adam_cosine


def grid_graph(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the ``ny`` x ``nx`` grid graph with one edge type per 3 x 3
    stencil offset.

    Node :math:`(i, j)` is numbered :math:`i\\,n_x + j` (row-major). Each node
    receives one edge from every in-grid node :math:`(i + d_i, j + d_j)`,
    :math:`d_i, d_j \\in \\{-1, 0, 1\\}`, itself included, with type
    :math:`3(d_i + 1) + (d_j + 1)`; off-grid neighbours are left out, which is
    zero padding, as in :math:numref:`eq-graph-grid`. Returns ``(senders,
    receivers, edge_type)``, int32 arrays of equal length.
    """
    ny, nx = check_int("ny", ny, 1), check_int("nx", nx, 1)
    i, j = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    senders, receivers, types = [], [], []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            inside = (
                (0 <= i + di) & (i + di < ny) & (0 <= j + dj) & (j + dj < nx)
            )
            receivers.append((i * nx + j)[inside])
            senders.append(((i + di) * nx + (j + dj))[inside])
            types.append(np.full(inside.sum(), 3 * (di + 1) + (dj + 1)))
    order = np.lexsort((np.concatenate(senders), np.concatenate(receivers)))
    return tuple(
        np.concatenate(a)[order].astype(np.int32)
        for a in (senders, receivers, types)
    )


def check_indices(
    name: str,
    value: object,
    shape: tuple[int | str | None, ...],
    limit: int | None = None,
    what: str = "node indices",
) -> np.ndarray:
    """Return ``value`` as an int32 array of ``shape`` (as in
    :func:`~sciml_nn.core.checks.check_array`) after checking it holds
    integers in ``[0, limit)``, or integers >= 0 if ``limit`` is ``None``."""
    array = np.asarray(value)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers; got dtype {array.dtype}")
    array = check_array(name, array, shape, dtype=array.dtype)
    upper = np.inf if limit is None else limit
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper}) ({what}); got values from "
            f"{array.min()} to {array.max()}"
        )
    return array.astype(np.int32)


def check_edges(
    senders: object,
    receivers: object,
    edge_type: object,
    nodes: int | None = None,
    types: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the edge arrays as int32 after checking they are 1-D integers,
    equally long and in range: node indices in ``[0, nodes)``, edge types in
    ``[0, types)`` (only >= 0 where the bound is ``None``)."""
    senders, receivers = (
        check_indices(name, value, ("edges",), nodes)
        for name, value in (("senders", senders), ("receivers", receivers))
    )
    edge_type = check_indices(
        "edge_type", edge_type, ("edges",), types, "edge types"
    )
    if not len(senders) == len(receivers) == len(edge_type):
        raise ValueError(
            "senders, receivers and edge_type must have one entry per edge; "
            f"got lengths {len(senders)}, {len(receivers)}, {len(edge_type)}"
        )
    return senders, receivers, edge_type


def check_node_features(
    x: np.ndarray | tf.Tensor,
    W: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor | None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Return node features ``x`` (nodes, c_in), kernels ``W`` (types, c_in,
    c_out) and bias ``b`` (c_out,; zeros if ``None``) as tensors of one
    floating-point dtype."""
    x, W = tf.convert_to_tensor(x), tf.convert_to_tensor(W)
    if not x.dtype.is_floating or x.dtype != W.dtype:
        raise TypeError(
            f"x and W must be floating point of one dtype; got {x.dtype.name} "
            f"and {W.dtype.name}"
        )
    if x.shape.rank != 2 or W.shape.rank != 3 or W.shape[1] != x.shape[1]:
        raise ValueError(
            "x must have shape (nodes, c_in) and W shape (types, c_in, "
            f"c_out); got x {tuple(x.shape)}, W {tuple(W.shape)}"
        )
    b = tf.zeros(W.shape[2], x.dtype) if b is None else b
    b = tf.convert_to_tensor(b, dtype=x.dtype)
    if tuple(b.shape) != (W.shape[2],):
        raise ValueError(
            f"b must have shape ({W.shape[2]},); got {tuple(b.shape)}"
        )
    return x, W, b


def graph_conv(
    x: np.ndarray | tf.Tensor,
    senders: np.ndarray,
    receivers: np.ndarray,
    edge_type: np.ndarray,
    W: np.ndarray | tf.Tensor,
    b: np.ndarray | tf.Tensor | None = None,
    activation: str | None = None,
) -> tf.Tensor:
    """:math:`\\mathrm{out}_i = \\sigma(\\sum_{e:\\, r_e = i} x_{s_e} W_{t_e} +
    b)`, :math:numref:`eq-graph-conv`.

    ``x`` has shape (nodes, c_in), ``W`` (types, c_in, c_out), ``b`` (c_out,);
    the result has shape (nodes, c_out). No activation (``None``) means the
    identity, no bias (``None``) zero.
    """
    x, W, b = check_node_features(x, W, b)
    senders, receivers, edge_type = check_edges(
        senders, receivers, edge_type, x.shape[0], W.shape[0]
    )
    sigma = sigma_tensorflow("linear" if activation is None else activation)
    # Transform every node by every kernel once, then pick the (sender, type)
    # pair of each edge.
    transformed = tf.einsum("nc,tcd->ntd", x, W)
    messages = tf.gather_nd(
        transformed, np.stack([senders, edge_type], axis=1)
    )
    summed = tf.math.unsorted_segment_sum(
        messages, receivers, num_segments=tf.shape(x)[0]
    )
    return sigma(summed + b)


@keras.saving.register_keras_serializable(package="sciml_nn")
class GraphConv(keras.layers.Layer):
    """A trainable :func:`graph_conv` on a fixed graph: kernel (types, c_in,
    c_out), bias (c_out,).

    Inputs have shape (nodes, c_in): one graph, its nodes as the rows.
    ``types`` defaults to one more than the largest edge type.
    """

    def __init__(
        self,
        units: int,
        senders: np.ndarray,
        receivers: np.ndarray,
        edge_type: np.ndarray,
        types: int | None = None,
        activation: str | None = None,
        kernel_initializer: str | dict = "glorot_uniform",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_int("units", units, 1)
        if types is None:
            types = int(np.max(edge_type, initial=0)) + 1
        self.types = check_int("types", types, 1)
        self.edges = check_edges(
            senders, receivers, edge_type, None, self.types
        )
        self.activation = (
            None if activation is None else check_activation(activation)
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight(
            shape=(self.types, input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer="zeros", name="bias"
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return graph_conv(
            x, *self.edges, self.kernel, self.bias, self.activation
        )

    def compute_output_shape(
        self, input_shape: tuple[int, ...]
    ) -> tuple[int, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        senders, receivers, edge_type = (a.tolist() for a in self.edges)
        return {
            **super().get_config(),
            "units": self.units,
            "senders": senders,
            "receivers": receivers,
            "edge_type": edge_type,
            "types": self.types,
            "activation": self.activation,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
        }


def batch_graph(
    senders: np.ndarray,
    receivers: np.ndarray,
    edge_type: np.ndarray,
    nodes: int,
    copies: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of ``copies`` disjoint copies of a graph of ``nodes`` nodes: node
    :math:`k` of copy :math:`c` is numbered :math:`c \\cdot \\mathrm{nodes} +
    k`. A graph convolution on the copies applies one set of weights to a batch
    of fields at once, one field per copy."""
    nodes = check_int("nodes", nodes, 1)
    copies = check_int("copies", copies, 1)
    senders, receivers, edge_type = check_edges(
        senders, receivers, edge_type, nodes
    )
    offset = nodes * np.arange(copies, dtype=np.int32)[:, None]
    return (
        (senders + offset).ravel(),
        (receivers + offset).ravel(),
        np.tile(edge_type, copies),
    )


def fit_graph_step(
    u_now: np.ndarray,
    u_next: np.ndarray,
    senders: np.ndarray,
    receivers: np.ndarray,
    edge_type: np.ndarray,
    steps: int = 500,
    learning_rate: float = 0.01,
) -> tuple[GraphConv, np.ndarray]:
    """Train a residual graph convolution step :math:`u^{n+1} \\approx u^n +
    F(u^n)` on pairs of fields ``u_now``, ``u_next`` of shape (pairs, nodes),
    with :math:`F` a linear one-channel :class:`GraphConv`
    :math:numref:`eq-graph-conv`.

    All pairs form one full batch on :func:`batch_graph` copies; Adam with a
    cosine-decaying step
    (:func:`~sciml_nn.residual_networks.train_adam_cosine`) starts from
    :math:`F = 0`, the identity step. Returns :math:`F` as a layer on the
    single graph and the loss :math:numref:`eq-mse` at every step.
    """
    u_now = check_array("u_now", u_now, ("pairs", "nodes"), np.float32)
    u_next = check_array("u_next", u_next, u_now.shape, np.float32)
    pairs, nodes = u_now.shape
    edges = check_edges(senders, receivers, edge_type, nodes)
    F = GraphConv(
        1, *batch_graph(*edges, nodes, pairs), kernel_initializer="zeros"
    )
    F.build((None, 1))
    # A residual block (eq-residual-block): the identity carries u^n, F
    # learns the increment.
    losses = train_adam_cosine(
        lambda u: u + F(u),
        F.trainable_variables,
        u_now.reshape(-1, 1),
        u_next.reshape(-1, 1),
        steps,
        learning_rate,
    )
    layer = GraphConv(1, *edges, types=F.types)
    layer.build((None, 1))
    layer.set_weights(F.get_weights())
    return layer, losses
