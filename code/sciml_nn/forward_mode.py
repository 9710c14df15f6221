"""Forward mode in TensorFlow: full Jacobians from JVPs or VJPs, and
Hessian-vector products from forward over reverse.

Code of the chapter *Forward mode* (``book/differentiation/forward-mode.md``);
the chapter's dual-number engine is in :mod:`sciml_nn.forward_mode_duals`.

A Jacobian :math:`f'(x) \\in \\mathbb{R}^{m \\times n}` costs n
Jacobian-vector products (JVPs, :math:numref:`eq-jvp`) or m vector-Jacobian
products (VJPs) :math:numref:`eq-jacobian-cost`; a JVP of the reverse-mode
gradient is a Hessian-vector product :math:numref:`eq-hessian-vector`, which
:func:`~sciml_nn.core.linalg.largest_eigenvalue` turns into the sharpness of a
loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from sciml_nn.adjoint import as_vector
from sciml_nn.core.checks import check_array, check_choice, check_int
from sciml_nn.core.device import time_callable
from sciml_nn.core.linalg import check_vector
from sciml_nn.core.mlp import (
    Params,
    check_activation,
    init_mlp,
    mlp_tensorflow,
)
from sciml_nn.reverse_mode import float64_xi


def jacobian_forward(f: Callable[[tf.Tensor], tf.Tensor], x: Any) -> tf.Tensor:
    """The Jacobian :math:`f'(x) \\in \\mathbb{R}^{m \\times n}` of ``f`` at
    ``x`` column by column: :math:`f'(x) e_j` for the n unit vectors
    :math:`e_j`, n JVPs :math:numref:`eq-jacobian-cost`, run as one batch by
    ``tf.vectorized_map``."""
    x = check_vector("x", x)

    def column(e_j: tf.Tensor) -> tf.Tensor:
        with tf.autodiff.ForwardAccumulator(
            primals=x, tangents=e_j
        ) as accumulator:
            y = f(x)
        return accumulator.jvp(y)

    columns = tf.vectorized_map(column, tf.eye(x.shape[0], dtype=x.dtype))
    return tf.transpose(columns)


def jacobian_reverse(f: Callable[[tf.Tensor], tf.Tensor], x: Any) -> tf.Tensor:
    """The same Jacobian row by row: :math:`e_i^\\top f'(x)` for the m unit
    vectors :math:`e_i`, m VJPs :math:numref:`eq-jacobian-cost`, run as one
    batch by ``tf.vectorized_map``."""
    x = check_vector("x", x)
    m = check_vector("f(x)", f(x)).shape[0]

    def row(e_i: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.gradient(y, x, output_gradients=e_i)

    return tf.vectorized_map(row, tf.eye(m, dtype=x.dtype))


def hessian_vector_product(
    f: Callable[[tf.Tensor], tf.Tensor], x: Any, v: Any
) -> tf.Tensor:
    """:math:`H v = \\frac{d}{dt} \\nabla f(x + t v)|_{t=0}`
    :math:numref:`eq-hessian-vector`: a forward-mode JVP of the reverse-mode
    gradient of the scalar ``f``."""
    x, v = check_vector("x", x), check_vector("v", v)
    if v.shape != x.shape or v.dtype != x.dtype:
        raise ValueError(
            f"v must match x: {x.dtype.name} {x.shape}; got {v.dtype.name} "
            f"{v.shape}"
        )
    with tf.autodiff.ForwardAccumulator(primals=x, tangents=v) as accumulator:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        if y.shape.rank != 0:
            raise ValueError(
                f"f must return a scalar; got shape {tuple(y.shape)}"
            )
        gradient = tape.gradient(y, x)
    return accumulator.jvp(gradient)


def flat_mlp_loss(
    xi: Params,
    x: Any,
    y: Any,
    activation: str = "tanh",
    reduction: str = "mean",
) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.Tensor]:
    """The squared error of the network :math:numref:`eq-mlp` as a function
    of one flat parameter vector.

    Returns ``(loss, flat_xi)``: ``flat_xi`` holds the entries of every ``W``
    and ``b`` of the pairs ``xi``, in order, as one float64 vector, and
    ``loss(flat_xi)`` is the ``"mean"`` (:math:numref:`eq-mse`) or the
    ``"sum"`` over all entries of :math:`(N(x) - y)^2` for the network with
    those parameters, in TensorFlow, so that its Hessian is an :math:`n
    \\times n` matrix.
    """
    reduce = {"mean": tf.reduce_mean, "sum": tf.reduce_sum}[
        check_choice("reduction", reduction, ("mean", "sum"))
    ]
    check_activation(activation)
    xi = float64_xi(xi)
    x = check_array("x", x, ("n", xi[0][0].shape[0]))
    y = check_array("y", y, (x.shape[0], xi[-1][1].shape[0]))
    shapes = [a.shape for a in tf.nest.flatten(xi)]

    def loss(flat_xi: tf.Tensor) -> tf.Tensor:
        pieces = tf.split(flat_xi, [int(np.prod(s)) for s in shapes])
        tensors = [tf.reshape(a, s) for a, s in zip(pieces, shapes)]
        layers = list(zip(tensors[::2], tensors[1::2]))
        return reduce((mlp_tensorflow(x, layers, activation) - y) ** 2)

    return loss, tf.constant(as_vector(xi))


def mlp_map(
    n: int, m: int, hidden: int, seed: int = 0, dtype: str = "float32"
) -> Callable:
    """A map :math:`\\mathbb{R}^n \\to \\mathbb{R}^m`: an MLP with two tanh
    layers of width ``hidden``, random (nonzero) biases, acting on one input
    vector ``x`` of shape ``(n,)``."""
    n, m = check_int("n", n, 1), check_int("m", m, 1)
    hidden = check_int("hidden", hidden, 1)
    dtype = check_choice("dtype", dtype, ("float32", "float64"))
    rng = np.random.default_rng(seed)
    xi = [
        (
            tf.constant(W, dtype=dtype),
            tf.constant(rng.normal(0.0, 0.1, b.shape), dtype=dtype),
        )
        for W, b in init_mlp([n, hidden, hidden, m], seed=seed)
    ]

    def f(x: tf.Tensor) -> tf.Tensor:
        return mlp_tensorflow(x[tf.newaxis, :], xi, "tanh")[0]

    return f


def jacobian_costs(
    n: int,
    m: int,
    hidden: int = 64,
    repeats: int = 5,
    seed: int = 0,
    dtype: str = "float32",
) -> dict[str, float]:
    """Time the Jacobian of :func:`mlp_map` by n JVPs and by m VJPs, both as
    ``tf.function``.

    Returns the seconds ``"forward"`` and ``"reverse"``, each the fastest of
    ``repeats`` calls (the one least disturbed by other work on the machine;
    one untimed warm-up call traces each), and the largest difference
    ``"difference"`` between the two Jacobians.
    """
    repeats = check_int("repeats", repeats, 1)
    f = mlp_map(n, m, hidden, seed=seed, dtype=dtype)
    x = tf.constant(
        np.random.default_rng(seed + 1).normal(size=n), dtype=dtype
    )
    forward = tf.function(lambda x: jacobian_forward(f, x))
    reverse = tf.function(lambda x: jacobian_reverse(f, x))
    difference = float(tf.reduce_max(tf.abs(forward(x) - reverse(x))))
    return {
        "n": n,
        "m": m,
        "hidden": hidden,
        "forward": time_callable(lambda: forward(x), repeats=repeats)["min"],
        "reverse": time_callable(lambda: reverse(x), repeats=repeats)["min"],
        "difference": difference,
    }
