"""Reverse mode as the critical point of a Lagrangian, on a small graph of
NumPy operations.

A computation is a directed acyclic graph: node :math:`a` computes :math:`x_a =
f_a(x_{I(a)}, \\xi_a)` from the outputs of its input nodes :math:`I(a)` and its
own parameters :math:`\\xi_a`, and the objective :math:`J` is the scalar output
of one node. With one multiplier :math:`\\lambda_a` per node, the Lagrangian
:math:numref:`eq-lagrangian` is stationary in :math:`\\lambda` on the forward
pass :math:numref:`eq-forward-pass`, stationary in :math:`x` on the reverse
pass :math:numref:`eq-reverse-pass`, and its derivative in :math:`\\xi_a` is
the gradient :math:`g_a` :math:numref:`eq-parameter-gradient`.

Each operation is a class whose forward rule and vector-Jacobian product (VJP)
sit side by side; :data:`OPS` names them. NumPy only: no TensorFlow and no
automatic differentiation in here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from sciml_nn.checks import check_int

Arrays = list[np.ndarray]
Shapes = list[tuple[int, ...]]


class Op:
    """A node function :math:`f_a`: ``shape`` checks what it is fed and gives
    the shape of :math:`x_a`, ``forward`` computes :math:`x_a`, and ``vjp``
    maps :math:`\\lambda_a` to :math:`\\lambda_a \\partial f_a / \\partial x_i`
    for each input :math:`i` and to :math:`g_a = \\lambda_a \\partial f_a /
    \\partial \\xi_a`."""

    arity, n_xi = 1, 0  # how many input nodes and how many parameter arrays

    def shape(self, inputs: Shapes, xi: Shapes) -> tuple[int, ...]:
        return inputs[0]  # elementwise ops keep their input's shape


class Source(Op):
    """:math:`x_a = \\xi_a`: data entering the graph; its :math:`g_a =
    \\lambda_a` is :math:`\\partial J / \\partial x_a`."""

    arity, n_xi = 0, 1

    def shape(self, inputs: Shapes, xi: Shapes) -> tuple[int, ...]:
        return xi[0]

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        return xi[0]

    def vjp(
        self, lam: np.ndarray, inputs: Arrays, xi: Arrays, out: np.ndarray
    ) -> tuple:
        return [], [lam]


class Affine(Op):
    """:math:`x_a = x W + b` for a batch :math:`x` of rows, as in
    :math:numref:`eq-mlp`."""

    arity, n_xi = 1, 2

    def shape(self, inputs: Shapes, xi: Shapes) -> tuple[int, ...]:
        (x,), (W, b) = inputs, xi
        if len(x) != 2 or len(W) != 2 or x[1] != W[0] or b != (W[1],):
            raise ValueError(
                f"needs x (n, p), W (p, q), b (q,); got x {x}, W {W}, b {b}"
            )
        return (x[0], W[1])

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        (x,), (W, b) = inputs, xi
        return x @ W + b

    def vjp(
        self, lam: np.ndarray, inputs: Arrays, xi: Arrays, out: np.ndarray
    ) -> tuple:
        (x,), (W, _) = inputs, xi
        # One matmul forward, two back: lambda W^T for the input, x^T lambda
        # for W.
        return [lam @ W.T], [x.T @ lam, lam.sum(axis=0)]


def _one_shape(inputs: Shapes) -> tuple[int, ...]:
    if inputs[0] != inputs[1]:
        raise ValueError(
            f"needs two inputs of one shape; got {inputs[0]} and {inputs[1]}"
        )
    return inputs[0]


class Add(Op):
    """:math:`x_a = u + v`; the VJP hands :math:`\\lambda_a` unchanged to both
    inputs."""

    arity = 2

    def shape(self, inputs: Shapes, xi: Shapes) -> tuple[int, ...]:
        return _one_shape(inputs)

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        return inputs[0] + inputs[1]

    def vjp(
        self, lam: np.ndarray, inputs: Arrays, xi: Arrays, out: np.ndarray
    ) -> tuple:
        return [lam, lam], []


class Activation(Op):
    """:math:`x_a = \\sigma(z)` entry by entry; ``slope`` gives
    :math:`\\sigma'(z)` from the output :math:`\\sigma(z)`, so the VJP reuses
    what the forward rule computed."""

    def __init__(self, sigma: Callable, slope: Callable) -> None:
        self.sigma, self.slope = sigma, slope

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        return self.sigma(inputs[0])

    def vjp(
        self, lam: np.ndarray, inputs: Arrays, xi: Arrays, out: np.ndarray
    ) -> tuple:
        return [lam * self.slope(out)], []


class SquaredError(Op):
    """:math:`J = \\sum (p - y)^2` over all entries of a prediction :math:`p`
    and a target :math:`y`: a sum over samples, not a mean."""

    arity = 2

    def shape(self, inputs: Shapes, xi: Shapes) -> tuple[int, ...]:
        _one_shape(inputs)
        return ()  # J is a scalar

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        p, y = inputs
        return np.sum((p - y) ** 2)

    def vjp(
        self, lam: np.ndarray, inputs: Arrays, xi: Arrays, out: np.ndarray
    ) -> tuple:
        p, y = inputs
        residual = 2.0 * lam * (p - y)
        return [residual, -residual], []


#: The node functions :math:`f_a` the engine knows, by name.
OPS: dict[str, Op] = {
    "source": Source(),
    "affine": Affine(),
    "add": Add(),
    "tanh": Activation(np.tanh, lambda s: 1.0 - s**2),
    "relu": Activation(
        lambda z: np.maximum(z, 0.0), lambda s: (s > 0).astype(s.dtype)
    ),
    # exp(-log(1 + e^{-z})) never overflows, unlike 1 / (1 + e^{-z}) for z <<
    # 0.
    "sigmoid": Activation(
        lambda z: np.exp(-np.logaddexp(0.0, -z)), lambda s: s * (1.0 - s)
    ),
    "squared_error": SquaredError(),
}


class Node(NamedTuple):
    """Node :math:`a`: ``op`` names :math:`f_a` in :data:`OPS`, ``inputs``
    names the nodes :math:`I(a)` it reads, ``xi`` holds its parameter arrays
    :math:`\\xi_a`."""

    op: str
    inputs: tuple[str, ...] = ()
    xi: tuple[Any, ...] = ()


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
        if node.op not in OPS:
            raise ValueError(
                f"node {name!r}: op must be one of {tuple(OPS)}; got "
                f"{node.op!r}"
            )
        op = OPS[node.op]
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
    """Solve :math:`\\partial L / \\partial \\lambda_a = 0` node by node in
    topological order: :math:`x_a = f_a(x_{I(a)}, \\xi_a)`
    :math:numref:`eq-forward-pass`."""
    x: dict[str, np.ndarray] = {}
    for a in topological_order(graph):
        node, op = graph[a], OPS[graph[a].op]
        inputs, xi = (
            [x[i] for i in node.inputs],
            [np.asarray(p) for p in node.xi],
        )
        try:
            op.shape([v.shape for v in inputs], [p.shape for p in xi])
        except ValueError as error:
            raise ValueError(f"node {a!r} ({node.op}) {error}") from None
        x[a] = np.asarray(op.forward(inputs, xi))
    return x


def reverse_sweep(
    graph: Graph, x: dict[str, np.ndarray], objective: str = "J"
) -> tuple[dict[str, np.ndarray], dict[str, Arrays]]:
    """Solve :math:`\\partial L / \\partial x_a = 0` backwards from
    :math:`\\lambda_J = 1`: :math:`\\lambda_a = \\sum_{c} \\lambda_c \\partial
    f_c / \\partial x_a` :math:numref:`eq-reverse-pass`. Returns the
    multipliers :math:`\\lambda` and, per node, the gradients :math:`g_a =
    \\lambda_a \\partial f_a / \\partial \\xi_a`
    :math:numref:`eq-parameter-gradient`, one array per entry of ``xi``."""
    order = topological_order(graph)
    if (
        objective not in graph
        or objective not in x
        or np.shape(x[objective]) != ()
    ):
        raise ValueError(
            "objective must name a node with a scalar output; got "
            f"{objective!r}"
        )
    lam = {objective: np.ones_like(x[objective])}  # lambda_J = dJ/dx_J = 1
    g: dict[str, Arrays] = {}
    for a in reversed(order):  # every consumer of x_a comes before a
        node = graph[a]
        if a not in lam:  # J does not depend on x_a
            lam[a] = np.zeros_like(x[a])
        inputs, xi = (
            [x[i] for i in node.inputs],
            [np.asarray(p) for p in node.xi],
        )
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
    """:math:`L = J - \\sum_a \\langle \\lambda_a, x_a - f_a(x_{I(a)}, \\xi_a)
    \\rangle` :math:numref:`eq-lagrangian` at any :math:`x` and
    :math:`\\lambda`, with :math:`J = x_J`."""
    L = float(x[objective])
    for a, node in graph.items():
        f_a = OPS[node.op].forward(
            [x[i] for i in node.inputs], [np.asarray(p) for p in node.xi]
        )
        L -= float(np.sum(lam[a] * (x[a] - f_a)))
    return L


#: The activations :math:`\sigma` an MLP built by :func:`mlp_graph` may use.
MLP_ACTIVATIONS = ("tanh", "relu", "sigmoid")


def _float_array(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if not (
        np.issubdtype(array.dtype, np.floating)
        or np.issubdtype(array.dtype, np.integer)
    ):
        raise TypeError(
            f"{name} must hold real numbers; got dtype {array.dtype}"
        )
    return array.astype(np.float64)


def _check_mlp(
    weights: Any, biases: Any, x: Any, y: Any, activation: Any
) -> tuple:
    for name, value, kind in (
        ("weights", weights, list),
        ("biases", biases, list),
        ("activation", activation, str),
    ):
        if not isinstance(value, (kind, tuple) if kind is list else kind):
            raise TypeError(
                f"{name} must be a {kind.__name__}; got {type(value).__name__}"
            )
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"weights and biases must be non-empty lists of one length; "
            f"got {len(weights)} and {len(biases)}"
        )
    if activation not in MLP_ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {MLP_ACTIVATIONS}; got {activation!r}"
        )
    Ws = [_float_array(f"weights[{k}]", W) for k, W in enumerate(weights)]
    bs = [_float_array(f"biases[{k}]", b) for k, b in enumerate(biases)]
    for k, (W, b) in enumerate(zip(Ws, bs)):
        # layer k must read layer k - 1
        rows = f"n_{k}" if k == 0 else Ws[k - 1].shape[1]
        if W.ndim != 2 or (k > 0 and W.shape[0] != rows):
            raise ValueError(
                f"weights[{k}] must have shape ({rows}, n_{k + 1}); got "
                f"{W.shape}"
            )
        if b.shape != (W.shape[1],):
            raise ValueError(
                f"biases[{k}] must have shape ({W.shape[1]},); got {b.shape}"
            )
    x, y = _float_array("x", x), _float_array("y", y)
    n_in = Ws[0].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}); got {x.shape}")
    if y.shape != (x.shape[0], Ws[-1].shape[1]):
        raise ValueError(
            f"y must have shape ({x.shape[0]}, {Ws[-1].shape[1]}); got "
            f"{y.shape}"
        )
    return Ws, bs, x, y


def mlp_graph(
    weights: Sequence[Any],
    biases: Sequence[Any],
    x: Any,
    y: Any,
    activation: str = "tanh",
) -> Graph:
    """The graph of :math:`J = \\sum_i \\|N(x_i) - y_i\\|^2` for the MLP
    :math:numref:`eq-mlp`: ``x0`` → ``z1`` (affine) → ``x1`` (σ) → … → ``zL``
    (affine) → ``J`` ← ``y``. ``weights[k]`` has shape :math:`(n_k, n_{k+1})`;
    arrays are computed in float64."""
    weights, biases, x, y = _check_mlp(weights, biases, x, y, activation)
    graph = {"x0": Node("source", xi=(x,)), "y": Node("source", xi=(y,))}
    previous = "x0"
    for k, (W, b) in enumerate(zip(weights, biases), start=1):
        graph[f"z{k}"] = Node("affine", (previous,), (W, b))
        previous = f"z{k}"
        if k < len(weights):  # no activation after the last layer
            graph[f"x{k}"] = Node(activation, (previous,))
            previous = f"x{k}"
    graph["J"] = Node("squared_error", (previous, "y"))
    return graph


def mlp_gradients(
    weights: Sequence[Any],
    biases: Sequence[Any],
    x: Any,
    y: Any,
    activation: str = "tanh",
) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    """Loss :math:`J = \\sum_i \\|N(x_i) - y_i\\|^2` and its gradient
    :math:`[(\\partial J/\\partial W_k, \\partial J/\\partial b_k)]_k` from one
    forward sweep and one reverse sweep over :func:`mlp_graph`
    :math:numref:`eq-parameter-gradient`."""
    graph = mlp_graph(weights, biases, x, y, activation)
    x_all = forward_sweep(graph)
    _, g = reverse_sweep(graph, x_all, "J")
    layers = range(1, len(weights) + 1)
    return float(x_all["J"]), [(g[f"z{k}"][0], g[f"z{k}"][1]) for k in layers]


def sweep_times(
    layer_sizes: Sequence[int],
    batch: int = 256,
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Seconds of :func:`forward_sweep` and :func:`reverse_sweep` on a tanh MLP
    of ``layer_sizes`` with random float64 weights and a batch of ``batch``
    samples, each the fastest of ``repeats`` alternating runs: ``{"forward":
    ..., "reverse": ...}``."""
    # timing imports TensorFlow (to wait for GPU results); the engine itself
    # never does.
    from sciml_nn.timing import time_callable

    if not isinstance(layer_sizes, (list, tuple)) or len(layer_sizes) < 2:
        raise ValueError(
            f"layer_sizes must list at least two sizes; got {layer_sizes!r}"
        )
    sizes = [check_int("layer sizes", n, 1) for n in layer_sizes]
    batch, repeats = (
        check_int("batch", batch, 1),
        check_int("repeats", repeats, 1),
    )
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal((m, n)) / np.sqrt(m) for m, n in pairwise(sizes)
    ]
    biases = [np.zeros(n) for n in sizes[1:]]
    x0, y = (
        rng.standard_normal((batch, sizes[0])),
        rng.standard_normal((batch, sizes[-1])),
    )
    graph = mlp_graph(weights, biases, x0, y, "tanh")
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
