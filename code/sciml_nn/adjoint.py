"""Backprop beyond vectors: the adjoint of a Neural ODE.

Code of the chapter *Backprop beyond vectors: the adjoint method*
(``book/differentiation/adjoint.md``); its first part, gradients and adjoints
in inner-product spaces, is in :mod:`sciml_nn.adjoint_inner_products`.

For the Neural ODE :math:`du/dt = f(u, \\xi)` (:math:numref:`eq-neural-ode`)
the gradient of :math:`J(u(T))` is computed two ways: by ``tf.GradientTape``
through every stage of an RK4 solver (:math:numref:`eq-rk4`), and by solving
the continuous adjoint equations (:math:numref:`eq-adjoint-ode`,
:math:numref:`eq-adjoint-gradient`) backward in time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from sciml_nn.core.checks import (
    check_callable,
    check_choice,
    check_float,
    check_int,
    check_same_shape,
)
from sciml_nn.core.linalg import check_vector
from sciml_nn.core.mlp import (
    check_layer_sizes,
    init_mlp,
    layer_sizes_of,
    mlp_tensorflow,
)
from sciml_nn.core.training import as_variables

Xi = list[tuple[tf.Variable, tf.Variable]]


Nest = Any  # a tensor, or a tuple/list of them, as tf.nest understands it


def init_vector_field(
    layer_sizes: Sequence[int] = (2, 16, 2), seed: int = 0
) -> Xi:
    """Parameters :math:`\\xi` of the vector field :math:`f(u, \\xi)`: float64
    ``tf.Variable`` pairs.

    Weights are Glorot-uniform (:func:`~sciml_nn.core.mlp.init_mlp`); biases
    are drawn from :math:`U(-0.5, 0.5)` instead of zero so that :math:`f(0,
    \\xi) \\ne 0` and every parameter moves the flow from the start.
    """
    layer_sizes = check_layer_sizes(layer_sizes)
    if layer_sizes[0] != layer_sizes[-1]:
        raise ValueError(
            "a vector field maps R^d to R^d: first and last sizes must agree;"
            f" got {layer_sizes}"
        )
    rng = np.random.default_rng(check_int("seed", seed, 0) + 1)
    return as_variables(
        [
            (W.astype(np.float64), rng.uniform(-0.5, 0.5, size=b.shape))
            for W, b in init_mlp(layer_sizes, seed)
        ]
    )


def vector_field(u: tf.Tensor, xi: Xi) -> tf.Tensor:
    """:math:`f(u, \\xi)` of :math:numref:`eq-neural-ode`: the tanh MLP
    :math:numref:`eq-mlp` applied to one state ``u`` of shape ``(d,)``."""
    u = tf.convert_to_tensor(u)
    d = xi[0][0].shape[0]
    if u.shape.rank != 1 or u.shape[0] != d:
        raise ValueError(
            f"u must have shape ({d},) to match the vector field; got "
            f"{tuple(u.shape)}"
        )
    return mlp_tensorflow(u[tf.newaxis, :], xi, activation="tanh")[0]


def terminal_objective(u_T: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """:math:`J(u(T)) = \\tfrac12 \\|u(T) - u^\\star\\|^2`
    (:math:numref:`eq-objective`)."""
    return 0.5 * tf.reduce_sum(tf.square(u_T - target))


def _add_scaled(u: Nest, a: tf.Tensor, k: Nest) -> Nest:
    return tf.nest.map_structure(lambda u_i, k_i: u_i + a * k_i, u, k)


def rk4_step(f: Callable[[Nest], Nest], u: Nest, h: tf.Tensor) -> Nest:
    """One classical Runge-Kutta step :math:numref:`eq-rk4` for :math:`du/dt =
    f(u)`.

    ``u`` may be a tensor or a nest of them (the adjoint's augmented state).
    """
    k1 = f(u)
    k2 = f(_add_scaled(u, h / 2, k1))
    k3 = f(_add_scaled(u, h / 2, k2))
    k4 = f(_add_scaled(u, h, k3))
    return tf.nest.map_structure(
        lambda u_i, a, b, c, d: u_i + h / 6 * (a + 2 * b + 2 * c + d),
        u,
        k1,
        k2,
        k3,
        k4,
    )


def rk4_loop(
    f: Callable[[Nest], Nest], u0: Nest, T: tf.Tensor, steps: tf.Tensor
) -> Nest:
    """:math:`u_N` after ``steps`` RK4 steps :func:`rk4_step` of size
    :math:`h = T/N` from ``u0``, for :math:`du/dt = f(u)`.

    ``T`` and ``steps`` are tensors and nothing is checked: this is the loop
    that the compiled gradients run (:func:`rk4_solve` checks first).
    """
    # tf.range makes the loop a tf.while_loop inside tf.function: one traced
    # step, any steps.
    h = T / tf.cast(steps, T.dtype)
    u = u0
    for _ in tf.range(steps):
        u = rk4_step(f, u, h)
    return u


def rk4_solve(
    f: Callable[[tf.Tensor], tf.Tensor], u0: Any, T: float, steps: int
) -> tf.Tensor:
    """:math:`u_N \\approx u(T)` after ``steps`` RK4 steps
    :math:numref:`eq-rk4` of size :math:`h = T/N` from :math:`u(0) = u_0`, for
    :math:`du/dt = f(u)`; global error :math:`O(h^4)`."""
    f, u0 = check_callable("f", f), check_vector("u0", u0)
    T = check_float("T", T, 0.0, low_open=True)
    steps = check_int("steps", steps, 1)
    check_same_shape("f(u0)", tf.convert_to_tensor(f(u0)), "u0", u0)
    return rk4_loop(f, u0, tf.constant(T, u0.dtype), tf.constant(steps))


def differentiate_through_solver(
    u0: tf.Tensor, xi: Xi, T: tf.Tensor, steps: tf.Tensor, target: tf.Tensor
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`dJ/du_0` by
    ``tf.GradientTape`` through every stage of :func:`rk4_loop`.

    Takes checked tensors; :func:`gradient_through_solver` checks the
    arguments and runs this compiled by ``tf.function``.
    """
    with tf.GradientTape() as tape:
        tape.watch(u0)
        u_T = rk4_loop(lambda u: vector_field(u, xi), u0, T, steps)
        J = terminal_objective(u_T, target)
    dJ_dxi, dJ_du0 = tape.gradient(J, [xi, u0])
    return J, dJ_dxi, dJ_du0


def solve_adjoint(
    u0: tf.Tensor, xi: Xi, T: tf.Tensor, steps: tf.Tensor, target: tf.Tensor
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`\\lambda(0)` from the augmented
    state :math:numref:`eq-augmented`, integrated with :func:`rk4_loop` from
    :math:`s = 0` to :math:`s = T` in reversed time :math:`s = T - t`.

    Takes checked tensors; :func:`adjoint_gradient` checks the arguments and
    runs this compiled by ``tf.function``.
    """
    u_T = rk4_loop(lambda u: vector_field(u, xi), u0, T, steps)  # keep u(T)
    J = terminal_objective(u_T, target)
    lam_T = u_T - target  # dJ/du(T), the final condition of eq-adjoint-ode

    def backward(state: tuple) -> tuple:
        # d/ds of (u, lam, g): the signs of eq-adjoint-ode flip.
        u, lam, _ = state
        with tf.GradientTape() as tape:
            tape.watch(u)
            f = vector_field(u, xi)
        lam_df_du, lam_df_dxi = tape.gradient(f, [u, xi], output_gradients=lam)
        return (-f, lam_df_du, lam_df_dxi)

    g_0 = tf.nest.map_structure(tf.zeros_like, xi)
    _, lam_0, dJ_dxi = rk4_loop(backward, (u_T, lam_T, g_0), T, steps)
    return J, dJ_dxi, lam_0


#: The two gradients of :math:`J(u(T))`, compiled: one traced graph each.
COMPILED = {
    "through solver": tf.function(differentiate_through_solver),
    "adjoint": tf.function(solve_adjoint),
}


def _check_problem(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    d, dtype = layer_sizes_of(xi)[0], xi[0][0].dtype
    T = check_float("T", T, 0.0, low_open=True)
    steps = check_int("steps", steps, 1)
    u0, target = check_vector("u0", u0), check_vector("target", target)
    for name, x in (("u0", u0), ("target", target)):
        if x.shape != (d,):
            raise ValueError(
                f"{name} must have shape ({d},) to match the vector field; "
                f"got {tuple(x.shape)}"
            )
    u0, target = tf.cast(u0, dtype), tf.cast(target, dtype)
    return u0, xi, tf.constant(T, dtype), tf.constant(steps), target


def gradient_through_solver(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`dJ/du_0` by ``tf.GradientTape``
    through ``steps`` RK4 steps :math:numref:`eq-rk4`: the exact gradient of
    the discrete :math:`J(u_N)`.

    The tape keeps every stage of every step for the reverse pass: memory grows
    like ``steps``.
    """
    problem = _check_problem(u0, xi, T, steps, target)
    return COMPILED["through solver"](*problem)


def adjoint_gradient(
    u0: Any, xi: Xi, T: float, steps: int, target: Any
) -> tuple:
    """:math:`J`, :math:`dJ/d\\xi` and :math:`\\lambda(0)` from the continuous
    adjoint.

    After a forward RK4 solve that keeps only :math:`u(T)`, the augmented state
    :math:`(u, \\lambda, g)` is integrated from :math:`T` back to :math:`0`
    with ``steps`` RK4 steps: :math:`u` by :math:numref:`eq-neural-ode` re-run
    backward, :math:`\\lambda` by :math:numref:`eq-adjoint-ode`, :math:`g`
    accumulating :math:numref:`eq-adjoint-gradient`. Memory does not depend on
    ``steps``.
    """
    problem = _check_problem(u0, xi, T, steps, target)
    return COMPILED["adjoint"](*problem)


def as_vector(gradient: Nest) -> np.ndarray:
    """All entries of a gradient (a tensor or a nest of them) as one float64
    vector."""
    return np.concatenate(
        [
            np.ravel(np.asarray(g, dtype=np.float64))
            for g in tf.nest.flatten(gradient)
        ]
    )


def stored_floats_per_step(method: str, xi: Xi) -> int:
    """Floats TensorFlow keeps per RK4 step for the reverse pass, read from the
    traced graph.

    Inside ``tf.function`` the tape turns every value the reverse pass needs
    from a loop step into a tensor list that grows by one element per step; we
    sum the sizes of those elements. ``method`` is ``"through solver"`` or
    ``"adjoint"``.
    """
    check_choice("method", method, tuple(COMPILED))
    d = xi[0][0].shape[0]
    problem = _check_problem(np.zeros(d), xi, 1.0, 1, np.zeros(d))
    graph = COMPILED[method].get_concrete_function(*problem).graph
    return sum(
        # the element shape, [] for a scalar
        int(np.prod(tf.get_static_value(op.inputs[0])))
        for op in graph.get_operations()
        if op.type == "EmptyTensorList"
    )
