"""Forward-mode automatic differentiation with dual numbers: tangents that
travel forward with the values.

Code of the chapter *Forward mode* (``book/differentiation/forward-mode.md``),
its engine; TensorFlow's forward mode, Jacobians and Hessian-vector products
are in :mod:`sciml_nn.forward_mode`.

A :class:`Dual` holds a value :math:`a` (the *primal*) and a tangent
:math:`\\dot a` of the same shape, the dual number :math:`a + \\dot
a\\,\\varepsilon` with :math:`\\varepsilon^2 = 0`. Each operation computes its
primal and, beside it, its tangent by the chain rule
:math:numref:`eq-tangent-propagation`, so a function evaluated on ``Dual(x,
v)`` returns the Jacobian-vector product :math:numref:`eq-jvp` along with its
value. NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sciml_nn.core.checks import check_callable, check_choice
from sciml_nn.core.mlp import Params, layer_sizes_of, stable_sigmoid


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
    y = stable_sigmoid(x.primal)
    return Dual(y, y * (1.0 - y) * x.tangent)


def relu(x: Any) -> Dual:
    """:math:`\\max(a, 0) + [a > 0]\\,\\dot a\\,\\varepsilon`; at the kink
    :math:`a = 0` the tangent is 0, as in TensorFlow."""
    x = lift(x)
    return Dual(
        np.maximum(x.primal, 0.0), np.where(x.primal > 0, x.tangent, 0.0)
    )


def dual_sum(x: Any, axis: int | None = None) -> Dual:
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


#: The activations :math:`\sigma` of :math:numref:`eq-activations` on duals.
DUAL_ACTIVATIONS: dict[str, Callable[[Any], Dual]] = {
    "tanh": tanh,
    "relu": relu,
    "sigmoid": sigmoid,
    "linear": lift,
}


def jvp(
    f: Callable[[Dual], Any], x: Any, v: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Return :math:`f(x)` and the Jacobian-vector product :math:`f'(x)\\,v`
    :math:numref:`eq-jvp`.

    One evaluation of ``f`` on the dual number :math:`x + v\\,\\varepsilon`;
    ``f`` must be written with :class:`Dual` arithmetic and this module's
    elementary functions.
    """
    f = check_callable("f", f)
    x, v = _float_array("x", x), _float_array("v", v)
    if v.shape != x.shape:
        raise ValueError(
            f"v must have the shape of x {x.shape}; got {v.shape}"
        )
    y = lift(f(Dual(x, v)), like=Dual(x, v))
    return y.primal, y.tangent


def mlp_dual(x: Any, xi: Params, activation: str = "tanh") -> Dual:
    """The network :math:numref:`eq-mlp` on duals: ``x`` and any ``W`` or ``b``
    of the pairs ``xi`` may be a Dual."""
    sigma_dual = DUAL_ACTIVATIONS[
        check_choice("activation", activation, DUAL_ACTIVATIONS)
    ]
    layer_sizes_of(xi)  # checks the shapes of the pairs
    *hidden, (W_L, b_L) = xi
    for W, b in hidden:
        x = sigma_dual(x @ W + b)
    return lift(x) @ W_L + b_L
