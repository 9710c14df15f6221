"""Forward-mode automatic differentiation: tangents that travel forward with
the values.

A :class:`Dual` holds a value :math:`a` (the *primal*) and a tangent
:math:`\\dot a` of the same shape, the dual number :math:`a + \\dot
a\\,\\varepsilon` with :math:`\\varepsilon^2 = 0`. Each operation computes its
primal and, beside it, its tangent by the chain rule
:math:numref:`eq-tangent-propagation`, so a function evaluated on ``Dual(x,
v)`` returns the Jacobian-vector product :math:numref:`eq-jvp` along with its
value. The TensorFlow functions below build full Jacobians from JVPs or VJPs
and Hessian-vector products from forward over reverse, and the power iteration
turns Hessian-vector products into the largest eigenvalue of a Hessian.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from sciml_nn.checks import check_choice, check_int
from sciml_nn.networks import (
    Params,
    check_activation,
    init_mlp,
    mlp_tensorflow,
)
from sciml_nn.timing import time_callable


def _float_array(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must have a float dtype; got {array.dtype}")
    return array


class Dual:
    """The dual number :math:`a + \\dot a\\,\\varepsilon`,
    :math:`\\varepsilon^2 = 0`, of arrays.

    ``primal`` is the value :math:`a`, ``tangent`` its derivative :math:`\\dot
    a` along one input direction; both are float arrays of one shape. Constants
    in an expression are duals with a zero tangent.
    """

    __array_ufunc__ = (
        None  # makes ndarray (op) Dual call Dual's reflected method
    )

    def __init__(self, primal: Any, tangent: Any) -> None:
        self.primal = _float_array("primal", primal)
        self.tangent = _float_array("tangent", tangent)
        if self.primal.shape != self.tangent.shape:
            raise ValueError(
                f"tangent must have the primal's shape {self.primal.shape}; "
                f"got {self.tangent.shape}"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.primal.shape

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"

    def __add__(self, other: Any) -> Dual:
        other = lift(other, like=self)
        return Dual(self.primal + other.primal, self.tangent + other.tangent)

    def __mul__(self, other: Any) -> Dual:
        other = lift(other, like=self)
        return Dual(
            self.primal * other.primal,
            self.tangent * other.primal
            + self.primal * other.tangent,  # product rule
        )

    def __truediv__(self, other: Any) -> Dual:
        other = lift(other, like=self)
        quotient = self.primal / other.primal
        return Dual(
            quotient, (self.tangent - quotient * other.tangent) / other.primal
        )

    def __matmul__(self, other: Any) -> Dual:
        other = lift(other, like=self)
        return Dual(
            self.primal @ other.primal,
            self.tangent @ other.primal + self.primal @ other.tangent,
        )

    def __pow__(self, p: float) -> Dual:
        if isinstance(p, Dual) or not np.isscalar(p):
            raise TypeError(
                f"the exponent must be a number; got {type(p).__name__}"
            )
        return Dual(self.primal**p, p * self.primal ** (p - 1) * self.tangent)

    def __neg__(self) -> Dual:
        return Dual(-self.primal, -self.tangent)

    def __sub__(self, other: Any) -> Dual:
        return self + (-lift(other, like=self))

    def __rsub__(self, other: Any) -> Dual:
        return lift(other, like=self) - self

    def __rtruediv__(self, other: Any) -> Dual:
        return lift(other, like=self) / self

    def __rmatmul__(self, other: Any) -> Dual:
        return lift(other, like=self) @ self

    __radd__ = __add__
    __rmul__ = __mul__

    def __getitem__(self, index: Any) -> Dual:
        return Dual(self.primal[index], self.tangent[index])

    @property
    def T(self) -> Dual:
        return Dual(self.primal.T, self.tangent.T)


def lift(value: Any, like: Dual | None = None) -> Dual:
    """Return ``value`` if it is a :class:`Dual`, else the constant ``value + 0
    ε``.

    A constant takes the float dtype of ``like`` (so ``2 * x`` keeps ``x``'s
    precision).
    """
    if isinstance(value, Dual):
        return value
    dtype = like.primal.dtype if like is not None else None
    array = np.asarray(value, dtype=dtype)
    if dtype is None:
        array = _float_array("a constant", array)
    return Dual(array, np.zeros_like(array))


# Elementary functions: primal rule, then tangent rule f'(a) * tangent
# (eq-dual-function).


def sin(x: Any) -> Dual:
    """:math:`\\sin(a + \\dot a\\varepsilon) = \\sin a + \\cos a\\, \\dot
    a\\,\\varepsilon`."""
    x = lift(x)
    return Dual(np.sin(x.primal), np.cos(x.primal) * x.tangent)


def cos(x: Any) -> Dual:
    """:math:`\\cos(a + \\dot a\\varepsilon) = \\cos a - \\sin a\\, \\dot
    a\\,\\varepsilon`."""
    x = lift(x)
    return Dual(np.cos(x.primal), -np.sin(x.primal) * x.tangent)


def exp(x: Any) -> Dual:
    """:math:`e^{a + \\dot a\\varepsilon} = e^a + e^a \\dot
    a\\,\\varepsilon`."""
    x = lift(x)
    y = np.exp(x.primal)
    return Dual(y, y * x.tangent)


def log(x: Any) -> Dual:
    """:math:`\\log(a + \\dot a\\varepsilon) = \\log a + (\\dot a /
    a)\\,\\varepsilon`."""
    x = lift(x)
    return Dual(np.log(x.primal), x.tangent / x.primal)


def tanh(x: Any) -> Dual:
    """:math:`\\tanh(a + \\dot a\\varepsilon) = y + (1 - y^2)\\,\\dot
    a\\,\\varepsilon`, :math:`y = \\tanh a`."""
    x = lift(x)
    y = np.tanh(x.primal)
    return Dual(y, (1.0 - y**2) * x.tangent)


def sigmoid(x: Any) -> Dual:
    """:math:`s(a + \\dot a\\varepsilon) = y + y(1 - y)\\,\\dot
    a\\,\\varepsilon`, :math:`y = s(a) = 1/(1 + e^{-a})`."""
    x = lift(x)
    # 1 / (1 + e^-a) without overflow
    y = np.exp(-np.logaddexp(0.0, -x.primal))
    return Dual(y, y * (1.0 - y) * x.tangent)


def relu(x: Any) -> Dual:
    """:math:`\\max(a, 0) + [a > 0]\\,\\dot a\\,\\varepsilon`; at the kink
    :math:`a = 0` the tangent is 0, as in TensorFlow."""
    x = lift(x)
    return Dual(
        np.maximum(x.primal, 0.0), np.where(x.primal > 0, x.tangent, 0.0)
    )


def sum(x: Any, axis: int | None = None) -> Dual:
    """Sum over ``axis`` (all entries if ``None``): the tangent is the sum of
    the tangents."""
    x = lift(x)
    return Dual(np.sum(x.primal, axis=axis), np.sum(x.tangent, axis=axis))


def stack(xs: list[Any], axis: int = 0) -> Dual:
    """Stack duals (or constants) along a new ``axis``: primals and tangents
    alike."""
    xs = [lift(x) for x in xs]
    return Dual(
        np.stack([x.primal for x in xs], axis),
        np.stack([x.tangent for x in xs], axis),
    )


_DUAL_ACTIVATIONS: dict[str, Callable[[Any], Dual]] = {
    "tanh": tanh,
    "relu": relu,
    "sigmoid": sigmoid,
    "linear": lift,
}


def jvp(
    f: Callable[[Dual], Any], x: Any, v: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Return :math:`f(x)` and the Jacobian-vector product :math:`J_f(x)\\,v`
    :math:numref:`eq-jvp`.

    One evaluation of ``f`` on the dual number :math:`x + v\\,\\varepsilon`;
    ``f`` must be written with :class:`Dual` arithmetic and this module's
    elementary functions.
    """
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    x, v = _float_array("x", x), _float_array("v", v)
    if v.shape != x.shape:
        raise ValueError(
            f"v must have the shape of x {x.shape}; got {v.shape}"
        )
    y = lift(f(Dual(x, v)), like=Dual(x, v))
    return y.primal, y.tangent


def mlp_dual(x: Any, params: Params, activation: str = "tanh") -> Dual:
    """The network :math:numref:`eq-mlp` on duals: ``x`` and any ``W`` or ``b``
    may be a Dual."""
    sigma = _DUAL_ACTIVATIONS.get(check_activation(activation))
    if sigma is None:
        names = tuple(_DUAL_ACTIVATIONS)
        raise ValueError(
            f"activation must be one of {names}; got {activation!r}"
        )
    if len(params) == 0:
        raise ValueError("params must hold at least one (W, b) pair")
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        x = sigma(x @ W + b)
    return lift(x) @ W_out + b_out


# TensorFlow: full Jacobians from n JVPs or m VJPs, Hessian-vector products.


def _check_vector(name: str, x: Any) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"{name} must have a float dtype; got {x.dtype.name}")
    if x.shape.rank != 1:
        raise ValueError(f"{name} must have shape (n,); got {tuple(x.shape)}")
    return x


def jacobian_forward(f: Callable[[tf.Tensor], tf.Tensor], x: Any) -> tf.Tensor:
    """The Jacobian :math:`J \\in \\mathbb{R}^{m \\times n}` of ``f`` at ``x``
    column by column: :math:`J e_j` for the n unit vectors :math:`e_j`, n JVPs
    :math:numref:`eq-jacobian-cost`, run as one batch by
    ``tf.vectorized_map``."""
    x = _check_vector("x", x)

    def column(e_j: tf.Tensor) -> tf.Tensor:
        with tf.autodiff.ForwardAccumulator(
            primals=x, tangents=e_j
        ) as accumulator:
            y = f(x)
        return accumulator.jvp(y)

    columns = tf.vectorized_map(column, tf.eye(x.shape[0], dtype=x.dtype))
    return tf.transpose(columns)


def jacobian_reverse(f: Callable[[tf.Tensor], tf.Tensor], x: Any) -> tf.Tensor:
    """The same Jacobian row by row: :math:`e_i^\\top J` for the m unit vectors
    :math:`e_i`, m VJPs :math:numref:`eq-jacobian-cost`, run as one batch by
    ``tf.vectorized_map``."""
    x = _check_vector("x", x)
    m = _check_vector("f(x)", f(x)).shape[0]

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
    x, v = _check_vector("x", x), _check_vector("v", v)
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
    params: Params,
    x: Any,
    y: Any,
    activation: str = "tanh",
    reduction: str = "mean",
) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.Tensor]:
    """The squared error of the network :math:numref:`eq-mlp` as a function
    of one flat parameter vector :math:`\\xi`.

    Returns ``(loss, xi)``: ``xi`` holds the entries of every ``W`` and ``b``
    of ``params``, in order, as one float64 vector, and ``loss(xi)`` is the
    ``"mean"`` (:math:numref:`eq-mse`) or the ``"sum"`` over all entries of
    :math:`(N(x) - y)^2` for the network with those parameters, in
    TensorFlow, so that its Hessian is an :math:`n \\times n` matrix.
    """
    check_choice("reduction", reduction, ("mean", "sum"))
    check_activation(activation)
    if not isinstance(params, (list, tuple)) or not params:
        raise ValueError("params must hold at least one (W, b) pair")
    arrays = [np.asarray(a, dtype=np.float64) for pair in params for a in pair]
    shapes = [a.shape for a in arrays]
    x = tf.constant(_float_array("x", x), dtype=tf.float64)
    y = tf.constant(_float_array("y", y), dtype=tf.float64)
    if y.shape != (x.shape[0], shapes[-1][0]):
        raise ValueError(
            f"y must have shape ({x.shape[0]}, {shapes[-1][0]}); "
            f"got {tuple(y.shape)}"
        )
    pairs = list(zip(arrays[::2], arrays[1::2]))
    mlp_tensorflow(x, pairs, activation)  # checks x against the shapes
    sizes = [int(np.prod(shape)) for shape in shapes]
    reduce = tf.reduce_mean if reduction == "mean" else tf.reduce_sum

    def loss(xi: tf.Tensor) -> tf.Tensor:
        pieces = tf.split(xi, sizes)
        tensors = [tf.reshape(a, s) for a, s in zip(pieces, shapes)]
        layers = list(zip(tensors[::2], tensors[1::2]))
        return reduce((mlp_tensorflow(x, layers, activation) - y) ** 2)

    return loss, tf.constant(np.concatenate([a.ravel() for a in arrays]))


def power_iteration(
    matvec: Callable[[tf.Tensor], tf.Tensor],
    v0: Any,
    iterations: int = 50,
    shift: float = 0.0,
) -> tuple[float, tf.Tensor, float]:
    """The eigenvalue of largest magnitude of a symmetric matrix :math:`A`
    that is known only through ``matvec``, :math:`v \\mapsto A v`.

    Repeats :math:`v \\leftarrow (A - \\sigma I) v / \\|(A - \\sigma I)
    v\\|` from ``v0`` with the shift :math:`\\sigma` = ``shift``, using
    ``iterations`` products :math:`A v` in all. Returns the Rayleigh quotient
    :math:`\\rho = v^T A v` of the last unit vector :math:`v`, that vector,
    and the residual :math:`\\|A v - \\rho v\\|`: for a symmetric
    :math:`A`, some eigenvalue lies within the residual of :math:`\\rho`.
    The iteration converges to the eigenvalue of :math:`A` farthest from
    :math:`\\sigma` if it is unique and ``v0`` is not orthogonal to its
    eigenvector; the error of :math:`\\rho` falls like :math:`|\\mu_2 /
    \\mu_1|^{2k}`, with :math:`\\mu_1, \\mu_2` the two eigenvalues of
    :math:`A - \\sigma I` of largest magnitude.
    """
    if not callable(matvec):
        raise TypeError(
            f"matvec must be callable; got {type(matvec).__name__}"
        )
    iterations = check_int("iterations", iterations, 1)
    v = _check_vector("v0", v0)
    norm = tf.norm(v)
    if float(norm) == 0.0:
        raise ValueError("v0 must not be the zero vector")
    v = v / norm
    for k in range(iterations):
        Av = tf.convert_to_tensor(matvec(v))
        if Av.shape != v.shape:
            raise ValueError(
                f"matvec must return the shape of v, {tuple(v.shape)}; "
                f"got {tuple(Av.shape)}"
            )
        rho = tf.reduce_sum(v * Av)
        if k < iterations - 1:
            w = Av - shift * v
            norm = tf.norm(w)
            if float(norm) == 0.0:  # v is an eigenvector for the shift
                break
            v = w / norm
    return float(rho), v, float(tf.norm(Av - rho * v))


def largest_eigenvalue(
    matvec: Callable[[tf.Tensor], tf.Tensor],
    v0: Any,
    iterations: int = 50,
) -> tuple[float, float]:
    """The largest eigenvalue :math:`\\lambda_{\\max}` of a symmetric
    :math:`A` by :func:`power_iteration`, and the residual bound of its error.

    The power iteration finds the eigenvalue of largest magnitude,
    :math:`\\mu`. If :math:`\\mu \\ge 0` it is :math:`\\lambda_{\\max}`;
    otherwise a second run with the shift :math:`\\sigma = \\mu` converges
    to the eigenvalue farthest from :math:`\\mu`, which is
    :math:`\\lambda_{\\max}`. Each run uses ``iterations`` products.
    """
    mu, _, residual = power_iteration(matvec, v0, iterations)
    if mu >= 0:
        return mu, residual
    top, _, residual = power_iteration(matvec, v0, iterations, shift=mu)
    return top, residual


def mlp_map(
    n: int, m: int, hidden: int, seed: int = 0, dtype: str = "float32"
) -> Callable:
    """A map :math:`\\mathbb{R}^n \\to \\mathbb{R}^m`: an MLP with two tanh
    layers of width ``hidden``, random (nonzero) biases, acting on one input
    vector ``x`` of shape ``(n,)``."""
    n, m = check_int("n", n, 1), check_int("m", m, 1)
    hidden = check_int("hidden", hidden, 1)
    if dtype not in ("float32", "float64"):
        raise ValueError(
            f"dtype must be 'float32' or 'float64'; got {dtype!r}"
        )
    rng = np.random.default_rng(seed)
    params = [
        (
            tf.constant(W, dtype=dtype),
            tf.constant(rng.normal(0.0, 0.1, b.shape), dtype=dtype),
        )
        for W, b in init_mlp([n, hidden, hidden, m], seed=seed)
    ]

    def f(x: tf.Tensor) -> tf.Tensor:
        z = x[None, :]
        for W, b in params[:-1]:
            z = tf.tanh(z @ W + b)
        return (z @ params[-1][0] + params[-1][1])[0]

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
