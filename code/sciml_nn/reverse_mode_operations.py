"""The operations of the reverse-mode engine: each node function's forward
rule and its vector-Jacobian product, side by side.

Code of the chapter *Reverse mode is a Lagrangian*
(``book/differentiation/reverse-mode.md``); :mod:`sciml_nn.reverse_mode`
runs them over a graph.

Node :math:`a` computes :math:`x_a = f_a(x_{I(a)}, \\xi_a)`
(:math:numref:`eq-forward-pass`). On the reverse pass
(:math:numref:`eq-reverse-pass`) it receives its multiplier
:math:`\\lambda_a`, sends :math:`\\lambda_a \\partial f_a / \\partial x_i` to
each input :math:`i`, and keeps the gradient :math:`g_a = \\lambda_a \\partial
f_a / \\partial \\xi_a` (:math:numref:`eq-parameter-gradient`). Each operation
is a class holding both rules; :data:`OPS` names them. NumPy only: no
TensorFlow and no automatic differentiation in here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sciml_nn.core.mlp import check_activation, sigma

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
        """The shape of :math:`x_a`; ``ValueError`` if the inputs do not
        fit."""
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
    """:math:`x_a = \\sigma(z)` entry by entry, for the activation
    :math:`\\sigma` of :math:numref:`eq-activations` named ``activation``;
    ``slope`` gives :math:`\\sigma'(z)` from the output :math:`\\sigma(z)`,
    so the VJP reuses what the forward rule computed."""

    def __init__(
        self, activation: str, slope: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.activation, self.slope = check_activation(activation), slope

    def forward(self, inputs: Arrays, xi: Arrays) -> np.ndarray:
        return sigma(inputs[0], self.activation)

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
    "tanh": Activation("tanh", lambda s: 1.0 - s**2),
    "relu": Activation("relu", lambda s: (s > 0).astype(s.dtype)),
    "sigmoid": Activation("sigmoid", lambda s: s * (1.0 - s)),
    "squared_error": SquaredError(),
}
