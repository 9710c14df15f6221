"""Graph convolutions: the stencil of a ConvNet, generalized to the edges of
any graph.

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

from sciml_nn.checks import check_int
from sciml_nn.networks import check_activation, sigma_tensorflow
from sciml_nn.training import make_train_step


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


def check_edges(
    senders: object,
    receivers: object,
    edge_type: object,
    nodes: int | None,
    types: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the edge arrays as int32 after checking they are 1-D integers,
    equally long and in range: node indices in ``[0, nodes)``, edge types in
    ``[0, types)``."""
    arrays = []
    for name, value in (
        ("senders", senders),
        ("receivers", receivers),
        ("edge_type", edge_type),
    ):
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(
                f"{name} must be 1-D (one entry per edge); got shape "
                f"{array.shape}"
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(
                f"{name} must hold integers; got dtype {array.dtype}"
            )
        arrays.append(array.astype(np.int32))
    if not len(arrays[0]) == len(arrays[1]) == len(arrays[2]):
        raise ValueError(
            "senders, receivers and edge_type must have one entry per edge; "
            "got "
            f"lengths {len(arrays[0])}, {len(arrays[1])}, {len(arrays[2])}"
        )
    for name, array, limit, what in (
        ("senders", arrays[0], nodes, "nodes"),
        ("receivers", arrays[1], nodes, "nodes"),
        ("edge_type", arrays[2], types, "kernels in W"),
    ):
        # With an unknown node count (a symbolic Keras input) only the lower
        # bound is checked.
        if array.size and (
            array.min() < 0 or (limit is not None and array.max() >= limit)
        ):
            raise ValueError(
                f"{name} must lie in [0, {limit}) ({limit} {what}); "
                f"got values from {array.min()} to {array.max()}"
            )
    return arrays[0], arrays[1], arrays[2]


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
    identity.
    """
    x, W = tf.convert_to_tensor(x), tf.convert_to_tensor(W)
    if not x.dtype.is_floating or x.dtype != W.dtype:
        raise TypeError(
            f"x and W must be floating point of one dtype; got {x.dtype.name} "
            f"and {W.dtype.name}"
        )
    if x.shape.rank != 2 or W.shape.rank != 3 or W.shape[1] != x.shape[1]:
        raise ValueError(
            "x must have shape (nodes, c_in) and W shape (types, c_in, "
            "c_out); "
            f"got x {tuple(x.shape)}, W {tuple(W.shape)}"
        )
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
    out = tf.math.unsorted_segment_sum(
        messages, receivers, num_segments=tf.shape(x)[0]
    )
    if b is not None:
        b = tf.convert_to_tensor(b, dtype=x.dtype)
        if tuple(b.shape) != (W.shape[2],):
            raise ValueError(
                f"b must have shape ({W.shape[2]},); got {tuple(b.shape)}"
            )
        out = out + b
    return sigma(out)


class GraphConv(keras.layers.Layer):
    """A trainable :func:`graph_conv` on a fixed graph: kernel (types, c_in,
    c_out), bias (c_out,).

    Inputs have shape (nodes, c_in): one graph, its nodes as the rows.
    """

    def __init__(
        self,
        units: int,
        senders: np.ndarray,
        receivers: np.ndarray,
        edge_type: np.ndarray,
        types: int | None = None,
        activation: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_int("units", units, 1)
        self.edges = tuple(
            np.asarray(a).tolist() for a in (senders, receivers, edge_type)
        )
        self.types = (
            int(np.max(edge_type)) + 1
            if types is None
            else check_int("types", types, 1)
        )
        self.activation = (
            None if activation is None else check_activation(activation)
        )

    def build(self, input_shape: tuple[int, ...]) -> None:
        c_in = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.types, c_in, self.units),
            initializer="glorot_uniform",
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
        senders, receivers, edge_type = self.edges
        return {
            **super().get_config(),
            "units": self.units,
            "senders": senders,
            "receivers": receivers,
            "edge_type": edge_type,
            "types": self.types,
            "activation": self.activation,
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
    nodes, copies = (
        check_int("nodes", nodes, 1),
        check_int("copies", copies, 1),
    )
    types = int(np.max(edge_type)) + 1 if len(edge_type) else 1
    senders, receivers, edge_type = check_edges(
        senders, receivers, edge_type, nodes, types
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
    cosine-decaying step runs in a ``tf.function``, starting from :math:`F = 0`
    (the identity step). Returns :math:`F` as a layer on the single graph and
    the loss :math:numref:`eq-mse` at every step.
    """
    u_now, u_next = (
        np.asarray(u_now, np.float32),
        np.asarray(u_next, np.float32),
    )
    if u_now.ndim != 2 or u_now.shape != u_next.shape:
        raise ValueError(
            "u_now and u_next must both have shape (pairs, nodes); got "
            f"{u_now.shape} and {u_next.shape}"
        )
    pairs, nodes = u_now.shape
    types = int(np.max(edge_type)) + 1 if len(edge_type) else 1
    edges = check_edges(senders, receivers, edge_type, nodes, types)
    steps = check_int("steps", steps, 1)
    if not learning_rate > 0:
        raise ValueError(
            f"learning_rate must be positive; got {learning_rate}"
        )
    batch = GraphConv(1, *batch_graph(*edges, nodes, pairs), types=types)
    batch.build((None, 1))
    batch.kernel.assign(tf.zeros((types, 1, 1)))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    # The tf.Variable behind each Keras variable, which is what the tape and
    # the step watch. A residual block (eq-residual-block): the identity
    # carries u^n, F learns the increment.
    step = make_train_step(
        lambda u: u + batch(u),
        [v.value for v in batch.trainable_variables],
        keras.optimizers.Adam(schedule),
    )
    x, y = (
        tf.constant(u_now.reshape(-1, 1)),
        tf.constant(u_next.reshape(-1, 1)),
    )
    losses = np.array([float(step(x, y)) for _ in range(steps)])
    layer = GraphConv(1, *edges, types=types)
    layer.build((None, 1))
    layer.set_weights(batch.get_weights())
    return layer, losses
